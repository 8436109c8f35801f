/* mlflow.c -- MLflow's scoring server (what `mlflow models serve` answers) on the
 * service's port: POST /invocations with a pandas DataFrame (dataframe_split,
 * dataframe_records), tensors (instances, inputs) or CSV (text/csv), answered
 * {"predictions": [[outputs], ...]}; GET /ping and /health (200 when up) and /version.
 * Errors are MLflow's {"error_code": "BAD_REQUEST" | "RESOURCE_DOES_NOT_EXIST" | ...,
 * "message": "..."}.
 *
 * A scoring server serves one model; this one serves them all, so a request names its
 * model with ?model=REF or the header X-Model: REF (any reference model_resolve takes:
 * an id, a name, name@version, name@alias), else the service's --default-model. A
 * DataFrame's columns are matched to the model's input columns by name when it has
 * them (a model of sequences takes its T x F values in order, time-major, as a CSV row
 * does); tensors and CSV are read as POST /v1/models/{id}/predict reads them
 * (api_predict_rows), and every row runs as there (api_predict_go), so the numbers are
 * the same. */
#include "api.h"

#include "domain/domain.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Replies MLflow's error, {"error_code": code, "message": msg}. */
static int mlflow_error(struct reply *out, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int mlflow_error(struct reply *out, int status, const char *code, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    utf8_clean(msg);   /* a cut inside a character, or bytes a client sent */
    if (status == 503)
        out->retry_after = STORE_RETRY_AFTER;
    return reply_json(out, status, json_pack("{s:s, s:s}", "error_code", code, "message", msg));
}

/* The error code MLflow gives an HTTP status. */
static const char *mlflow_code(int status)
{
    return status == 404   ? "RESOURCE_DOES_NOT_EXIST"
           : status == 500 ? "INTERNAL_ERROR"
           : status == 503 ? "TEMPORARILY_UNAVAILABLE"
                           : "BAD_REQUEST";
}

int h_mlflow_ping(struct req *r, struct reply *out)
{
    (void)r;
    return reply_text(out, 200, "text/plain", "\n", 1);
}

int h_mlflow_version(struct req *r, struct reply *out)
{
    (void)r;
    return reply_text(out, 200, "text/plain", NEUROND_VERSION, strlen(NEUROND_VERSION));
}

/* One value of a DataFrame (at `where`) into *f. 0, or -1 with the fault in msg. */
static int df_value(const json_t *v, const char *where, float *f, char *msg, size_t cap)
{
    if (!json_is_number(v))
        return snprintf(msg, cap, "%s is %s, not a number", where, json_kind(v)), -1;
    double d = json_number_value(v);
    if (!isfinite((float)d))
        return snprintf(msg, cap, "%s is %g, outside the range of float32", where, d), -1;
    *f = (float)d;
    return 0;
}

/* Where each of W DataFrame columns goes among the model's inputs: by name when the
 * model has names and takes rows (not sequences), else in order. cols: the names (an
 * array of strings) or NULL. at gets W indices. 0, or -1 with the fault in msg. */
static int df_columns(const struct predictor *p, const json_t *cols, int W, int *at, char *msg,
                      size_t cap)
{
    const int named = p->columns && nn_get_spec(p->net)->timesteps == 0;
    if (cols && (int)json_array_size(cols) != W)
        return snprintf(msg, cap, "%zu columns for rows of %d values",
                        json_array_size(cols), W), -1;
    for (int j = 0; j < W; j++)
        at[j] = j;
    if (!cols || !named)
        return 0;
    char e[80];
    for (int j = 0; j < W; j++) {
        const char *c = json_string_value(json_array_get(cols, (size_t)j));
        if (!c)
            return snprintf(msg, cap, "columns[%d] is not a string", j), -1;
        at[j] = -1;
        for (int k = 0; k < W && at[j] < 0; k++)
            if (!strcmp(json_string_value(json_array_get(p->columns, (size_t)k)), c))
                at[j] = k;
        for (int k = 0; k < j && at[j] >= 0; k++)
            if (at[k] == at[j])
                return snprintf(msg, cap, "column \"%s\" appears twice",
                                text_echo(e, sizeof e, c, strlen(c), 64)), -1;
        if (at[j] < 0)
            return snprintf(msg, cap, "unknown column \"%s\"; the model's columns are its "
                            "inputs' names (GET /v1/models/{id}: columns)",
                            text_echo(e, sizeof e, c, strlen(c), 64)), -1;
    }
    return 0;
}

/* The rows of {"dataframe_split": {"columns"?, "index"?, "data": [[...], ...]}} or
 * {"dataframe_records": [{"column": value, ...}, ...]} into x (new) and n. W is the
 * values of a row (T x F). 0, or -1 with the fault in msg. */
static int df_rows(const struct predictor *p, const json_t *doc, int W, float **x, int *n,
                   char *msg, size_t cap)
{
    const json_t *split = json_object_get(doc, "dataframe_split");
    const json_t *records = json_object_get(doc, "dataframe_records");
    const json_t *rows = split ? json_object_get(split, "data") : records;
    const json_t *cols = split ? json_object_get(split, "columns") : NULL;
    int *at = malloc(sizeof *at * (size_t)W);
    char where[96];
    if (!at)
        return snprintf(msg, cap, "out of memory"), -1;
    *x = NULL;
    if (split && !json_is_object(split))
        snprintf(msg, cap, "dataframe_split is {\"columns\": [...], \"data\": [[...], ...]}");
    else if (!json_is_array(rows) || json_array_size(rows) == 0)
        snprintf(msg, cap, "%s must be a non-empty array of rows", split ? "dataframe_split.data"
                 : "dataframe_records");
    else if (json_array_size(rows) > 100000)
        snprintf(msg, cap, "more than 100000 rows, the limit per request");
    else if (cols && !json_is_array(cols))
        snprintf(msg, cap, "dataframe_split.columns must be an array of names");
    else if (split ? df_columns(p, cols, W, at, msg, cap) == 0 : 1)
        *x = malloc(sizeof(float) * json_array_size(rows) * (size_t)W);
    const size_t N = json_array_size(rows);
    int ok = *x != NULL;
    for (size_t i = 0; ok && i < N; i++) {
        const json_t *row = json_array_get(rows, i);
        float *xi = *x + i * (size_t)W;
        if (split) {
            ok = json_is_array(row) && (int)json_array_size(row) == W;
            if (!ok)
                snprintf(msg, cap, "dataframe_split.data[%zu] must be an array of %d numbers",
                         i, W);
            for (int j = 0; ok && j < W; j++) {
                snprintf(where, sizeof where, "dataframe_split.data[%zu][%d]", i, j);
                ok = df_value(json_array_get(row, (size_t)j), where, &xi[at[j]], msg, cap) == 0;
            }
            continue;
        }
        /* a record: every one of the model's columns by name, or W values in order */
        ok = json_is_object(row) && (int)json_object_size(row) == W;
        if (!ok)
            snprintf(msg, cap, "dataframe_records[%zu] must be an object of %d columns", i, W);
        const int named = p->columns && nn_get_spec(p->net)->timesteps == 0;
        const char *key;
        const json_t *v;
        int j = 0;
        if (ok && named)
            for (j = 0; ok && j < W; j++) {
                const char *c = json_string_value(json_array_get(p->columns, (size_t)j));
                snprintf(where, sizeof where, "dataframe_records[%zu].%.40s", i, c);
                v = json_object_get(row, c);
                ok = v ? df_value(v, where, &xi[j], msg, cap) == 0
                       : (snprintf(msg, cap, "dataframe_records[%zu] has no column \"%s\"",
                                   i, c), 0);
            }
        else if (ok)
            json_object_foreach((json_t *)row, key, v) {
                snprintf(where, sizeof where, "dataframe_records[%zu][%d]", i, j);
                if (!(ok = df_value(v, where, &xi[j++], msg, cap) == 0))
                    break;
            }
    }
    free(at);
    if (!ok) {
        free(*x);
        *x = NULL;
        return -1;
    }
    *n = (int)N;
    return 0;
}

/* Whether a JSON body's first member is "inputs" or "instances". */
static int opens_with_tensors(const char *b, size_t len)
{
    const char *e = b + len;
    while (b < e && (*b == ' ' || *b == '\t' || *b == '\r' || *b == '\n'))
        b++;
    if (b == e || *b++ != '{')
        return 0;
    while (b < e && (*b == ' ' || *b == '\t' || *b == '\r' || *b == '\n'))
        b++;
    return (e - b >= 8 && !memcmp(b, "\"inputs\"", 8)) ||
           (e - b >= 11 && !memcmp(b, "\"instances\"", 11));
}

/* The common DataFrame, {"dataframe_split": {"columns"?: [...], "index"?: ..., "data":
 * [[W numbers], ...]}} whose columns, if any, are the model's in its order (or a model
 * without names, or of sequences, which takes them in order), read without jansson into
 * x (new) and n. 0; or -1 for anything else, which df_rows then reads (and names what
 * is wrong). The rows are those df_rows would read. */
static int df_fast(const struct predictor *p, const char *body, size_t len, int W, float **x,
                   int *n)
{
    struct scan s = {body, body + len};
    const char *k;
    size_t kl, rows = 0, cap = 0;
    int seen = 0, ok = 1;
    const int named = p->columns && nn_get_spec(p->net)->timesteps == 0;
    *x = NULL;
    if (!scan_eat(&s, '{') || scan_string(&s, &k, &kl) < 0 || kl != 15 ||
        memcmp(k, "dataframe_split", 15) || !scan_eat(&s, ':') || !scan_eat(&s, '{'))
        return -1;
    do {
        ok = scan_string(&s, &k, &kl) == 0 && scan_eat(&s, ':');
        int bit = !ok ? 0 : kl == 7 && !memcmp(k, "columns", 7) ? 1
                  : kl == 5 && !memcmp(k, "index", 5) ? 2 : kl == 4 && !memcmp(k, "data", 4) ? 4
                  : 0;
        ok = bit && !(seen & bit);
        seen |= bit;
        if (ok && bit == 2)
            ok = scan_skip(&s, 0) == 0;
        if (ok && bit == 1) {   /* the model's columns, in its order */
            ok = scan_eat(&s, '[');
            for (int j = 0; ok && j < W; j++) {
                const char *c;
                size_t cl;
                const json_t *want = json_array_get(p->columns, (size_t)j);
                ok = (!j || scan_eat(&s, ',')) && scan_string(&s, &c, &cl) == 0 &&
                     (!named || (json_string_length(want) == cl &&
                                 !memcmp(json_string_value(want), c, cl)));
            }
            ok = ok && scan_eat(&s, ']');
        }
        if (ok && bit == 4) {
            ok = scan_eat(&s, '[');
            do {
                if (rows == cap) {
                    float *g = realloc(*x, sizeof(float) * (size_t)W * (cap = cap ? 2 * cap : 16));
                    if (!(ok = g != NULL))
                        break;
                    *x = g;
                }
                ok = rows < 100000 && scan_eat(&s, '[');
                for (int j = 0; ok && j < W; j++)
                    ok = (!j || scan_eat(&s, ',')) &&
                         scan_number(&s, &(*x)[rows * (size_t)W + (size_t)j]) == 0;
                ok = ok && scan_eat(&s, ']');
                rows++;
            } while (ok && scan_eat(&s, ','));
            ok = ok && scan_eat(&s, ']');
        }
    } while (ok && scan_eat(&s, ','));
    if (!ok || !(seen & 4) || !scan_eat(&s, '}') || !scan_eat(&s, '}') || !scan_end(&s)) {
        free(*x);
        *x = NULL;
        return -1;
    }
    *n = (int)rows;
    return 0;
}

/* The reference of the model a request names: ?model=, X-Model, --default-model; NULL
 * when none does. */
static const char *mlflow_ref(const struct req *r)
{
    const char *ref = req_query(r, "model");
    if (!ref || !*ref)
        ref = req_header(r, "X-Model");
    if (!ref || !*ref)
        ref = r->app->cfg.default_model;
    return ref && *ref ? ref : NULL;
}

/* MLflow's answer: {"predictions": rows}. */
static int mlflow_answer(struct api_predict *a, struct reply *out)
{
    if (a->call.rc < 0)
        return mlflow_error(out, 500, mlflow_code(500), "%s", a->call.msg);
    return reply_json(out, 200, json_pack("{s:o}", "predictions",
                                          api_outputs(a->call.y, a->call.n, a->K)));
}

int h_mlflow_invocations(struct req *r, struct reply *out)
{
    const char *ref = mlflow_ref(r);
    if (!ref)
        return mlflow_error(out, 400, "BAD_REQUEST", "no model: name one with ?model=REF "
                            "or the header X-Model: REF (an id, a name, name@version or "
                            "name@alias), or start the service with --default-model");
    struct predictor *p;
    char id[32], msg[600];
    int status = api_model_get(ref, id, &p, msg, sizeof msg);
    if (status)
        return mlflow_error(out, status, mlflow_code(status), "%s", msg);
    const struct nn_spec *spec = nn_get_spec(p->net);
    const int W = spec->inputs * (spec->timesteps > 0 ? spec->timesteps : 1);
    float *x = NULL;
    int n = 0, columnar, rc = -1;
    json_t *doc = NULL;
    msg[0] = 0;
    status = 400;
    /* the common DataFrame without jansson (df_fast); CSV, and a body that opens with
     * "inputs" or "instances", as they are to the native route's reader (its fast path);
     * anything else, or one of those that it refuses (perhaps for MLflow's "params"
     * beside the tensors), is read here with jansson */
    if (strcmp(r->content_type, "text/csv") != 0 && df_fast(p, r->body, r->len, W, &x, &n) == 0) {
        rc = 0;
    } else if (!strcmp(r->content_type, "text/csv") || opens_with_tensors(r->body, r->len)) {
        rc = api_predict_rows(p, r->content_type, r->body, r->len, &x, &n, &columnar, out);
        if (rc < 0 && !out->status)
            status = 500, snprintf(msg, sizeof msg, "out of memory");
        else if (rc < 0)
            status = api_problem_text(out, msg, sizeof msg);
    }
    if (rc < 0 && status != 500 && strcmp(r->content_type, "text/csv") != 0) {
        msg[0] = 0;
        if (!(doc = req_json_load(r->body, r->len, JSON_DECODE_INT_AS_REAL, out))) {
            status = api_problem_text(out, msg, sizeof msg);
        } else if (!json_is_object(doc)) {
            status = 400;
            snprintf(msg, sizeof msg, "the body is a JSON object with one of dataframe_split, "
                     "dataframe_records, instances or inputs");
        } else if (json_object_get(doc, "dataframe_split") ||
                   json_object_get(doc, "dataframe_records")) {
            const char *key;
            json_t *v;
            json_object_foreach(doc, key, v)
                if (strcmp(key, "dataframe_split") && strcmp(key, "dataframe_records") &&
                    strcmp(key, "params") && !*msg) {
                    char e[80];
                    snprintf(msg, sizeof msg, "unknown field \"%s\" beside a DataFrame; the "
                             "body holds one of dataframe_split, dataframe_records, instances "
                             "or inputs, and params",
                             text_echo(e, sizeof e, key, strlen(key), 64));
                }
            if (json_object_get(doc, "dataframe_split") &&
                json_object_get(doc, "dataframe_records"))
                snprintf(msg, sizeof msg, "give dataframe_split or dataframe_records, not both");
            rc = *msg ? -1 : df_rows(p, doc, W, &x, &n, msg, sizeof msg);
            status = 400;
        } else {
            /* tensors: MLflow's "params" (for models that take them) are ignored */
            json_object_del(doc, "params");
            char *text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(17));
            rc = text ? api_predict_rows(p, "application/json", text, strlen(text), &x, &n,
                                         &columnar, out) : -1;
            free(text);
            if (rc < 0 && out->status)
                status = api_problem_text(out, msg, sizeof msg);
            else if (rc < 0)
                status = 500, snprintf(msg, sizeof msg, "out of memory");
        }
        json_decref(doc);
    }
    if (rc == 0) {
        struct api_predict *a = api_predict_new(p, id, x, n, mlflow_answer);
        return a ? api_predict_go(a, r, out) : -1;
    }
    free(x);
    predictor_put(p);
    if (status == 422)
        status = 400;   /* MLflow answers a request it cannot read with 400 */
    return mlflow_error(out, status, mlflow_code(status), "%s", msg);
}
