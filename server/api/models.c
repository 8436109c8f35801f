/* models.c -- /v1/models: trained models, their weights, and predictions; the versions
 * and aliases of a model's name. A model is found by any reference model_resolve takes
 * (an id, a name, name@version, name@alias). Loading a
 * model and running it is the domain's (models.c there); this file reads the rows to
 * predict from a request -- JSON {"inputs"} or TF Serving's {"instances"}, with a fast
 * path for the common body, or CSV rows, a header matched to the model's columns by
 * name -- and answers the outputs. */
#include "api.h"

#include "domain/domain.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREDICT_MAX_ROWS 100000

/* The id (32 bytes) of the model a reference names (model_resolve), or -1 after
 * replying 404 naming what is missing (500 when the database failed). */
static int model_ref(const char *ref, char *id, struct reply *out)
{
    char msg[400];
    int rc = model_resolve(ref, id, msg, sizeof msg);
    if (rc == STORE_OK)
        return 0;
    if (rc == STORE_NOT_FOUND)
        reply_problem(out, 404, NULL, "%s", msg);
    else
        reply_store_failed(out, rc);
    return -1;
}

/* 404 for a reference whose id the store did not have (or no longer has). */
static int reply_no_model(struct reply *out, const char *ref)
{
    if (id_kind(ref) || model_name_check(ref, strlen(ref), 0, NULL, 0) < 0)
        return reply_not_found(out, "model", ref);   /* an id: of a model, or of another kind */
    char e[100];
    return reply_problem(out, 404, NULL, "no model %s: no model has that name or id",
                         text_echo(e, sizeof e, ref, strlen(ref), 64));
}

/* The predictor of the model ref names (predictor_put when done), its id into id; or -1
 * after replying. */
static int predictor_or_reply(const char *ref, char *id, struct predictor **p,
                              struct reply *out)
{
    char msg[300];
    if (model_ref(ref, id, out) < 0)
        return -1;
    int rc = predictor_get(id, p, msg, sizeof msg);
    if (rc == STORE_OK)
        return 0;
    if (rc == STORE_NOT_FOUND)
        reply_no_model(out, ref);
    else if (rc == STORE_UNAVAILABLE)
        reply_store_failed(out, rc);
    else
        reply_problem(out, 500, NULL, "%s", msg);
    return -1;
}

/* GET /v1/models lists every model in the order they were stored; with ?name=, that
 * name's versions, newest first; GET /v1/models/{name}/versions the same (param 0). */
static int model_page(struct req *r, int limit, const char *after, void **rows, int *n,
                      int *more)
{
    const char *name = r->nparam ? r->param[0] : req_query(r, "name");
    return store_model_list(name, limit, after, (struct model **)rows, n, more);
}
static json_t *model_row(const void *row) { return model_json(row); }
static void model_row_free(void *row) { model_free(row); }
static const struct lister models = {"model", sizeof(struct model), model_page, model_row,
                                     model_row_free};

int h_models_list(struct req *r, struct reply *out)
{
    const char *name = req_query(r, "name");
    char why[256];
    if (name && model_name_check(name, strlen(name), 0, why, sizeof why) < 0)
        return reply_param(out, 400, "name", "name: %s", why);
    return api_list(r, out, &models);
}

/* 0 when name (a path's {name}) was ever given to a model, else -1 after replying 404
 * (500 when the database failed). */
static int name_known(const char *name, struct reply *out)
{
    int rc = model_name_check(name, strlen(name), 0, NULL, 0) < 0 ? STORE_NOT_FOUND
                                                                  : store_model_name_known(name);
    if (rc == STORE_OK)
        return 0;
    char e[100];
    if (rc == STORE_NOT_FOUND)
        reply_problem(out, 404, NULL, "no model named %s",
                      text_echo(e, sizeof e, name, strlen(name), 64));
    else
        reply_store_failed(out, rc);
    return -1;
}

int h_models_versions(struct req *r, struct reply *out)
{
    if (name_known(r->param[0], out) < 0)
        return 0;
    return api_list(r, out, &models);
}

int h_models_get(struct req *r, struct reply *out)
{
    char id[32];
    if (model_ref(r->param[0], id, out) < 0)
        return tfs_error_member(out), 0;   /* TF Serving's GET /v1/models/{name} too */
    struct model m;
    int rc = store_model_get(id, &m);
    if (rc == STORE_NOT_FOUND)
        return reply_no_model(out, r->param[0]), tfs_error_member(out), 0;
    json_t *o = rc == STORE_OK ? model_json(&m) : NULL;
    /* TF Serving's GET /v1/models/{name} reads this too */
    if (o && json_object_set_new(o, "model_version_status", tfs_version_status(&m)) < 0) {
        json_decref(o);
        o = NULL;
    }
    rc = reply_row(out, rc, "model", id, o);
    model_free(&m);
    return rc;
}

int h_models_delete(struct req *r, struct reply *out)
{
    char id[32];
    if (model_ref(r->param[0], id, out) < 0)
        return 0;
    json_t *aliases = NULL;
    int rc = store_model_delete(id, &aliases);
    if (rc == STORE_OK) {
        predictor_drop(id);
        store_announce(CHANGE_MODEL_DELETED, id, 0, NULL);   /* other nodes may have it */
    }
    if (rc == STORE_NOT_FOUND)
        return reply_no_model(out, r->param[0]);
    if (rc == STORE_CONFLICT) {
        /* "production" or "production, staging", and the model's name */
        char list[512] = "";
        size_t i;
        json_t *a;
        json_array_foreach(aliases, i, a)
            if (strlen(list) + json_string_length(a) + 3 < sizeof list)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                         json_string_value(a));
        struct model m;
        char what[160] = "", where[100] = "{name}";
        int got = store_model_get(id, &m) == STORE_OK;
        if (got && m.name) {
            snprintf(what, sizeof what, " (%s@%d)", m.name, m.version);
            snprintf(where, sizeof where, "%s", m.name);
        }
        if (got)
            model_free(&m);
        size_t k = json_array_size(aliases);
        rc = reply_problem(out, 409, NULL, "model %s%s is what the alias%s %s point%s at: "
                           "nothing was deleted; move %s to another version (PUT "
                           "/v1/models/%s/aliases/{alias}) or delete %s first", id, what,
                           k > 1 ? "es" : "", list, k > 1 ? "" : "s", k > 1 ? "them" : "it",
                           where, k > 1 ? "them" : "it");
        json_decref(aliases);
        return rc;
    }
    return reply_deleted(out, rc, "model", id);
}

int h_models_weights(struct req *r, struct reply *out)
{
    struct predictor *p;
    char id[32];
    if (predictor_or_reply(r->param[0], id, &p, out) < 0)
        return 0;
    json_t *w = predictor_weights(p);
    predictor_put(p);
    return w ? reply_json(out, 200, w) : -1;
}

/* ---- aliases ---- */

/* An alias as answered: {"name", "alias", "version", "model"}. New. */
static json_t *alias_json(const char *name, const char *alias, int version, const char *id)
{
    return json_pack("{s:s, s:s, s:i, s:s}", "name", name, "alias", alias, "version",
                     version, "model", id);
}

int h_models_aliases(struct req *r, struct reply *out)
{
    const char *name = r->param[0];
    json_t *a = NULL;
    if (name_known(name, out) < 0)
        return 0;
    int rc = store_alias_list(name, &a);
    if (rc != STORE_OK)
        return reply_store_failed(out, rc);
    return reply_json(out, 200, json_pack("{s:s, s:o}", "name", name, "aliases", a));
}

int h_models_alias_get(struct req *r, struct reply *out)
{
    const char *name = r->param[0], *alias = r->param[1];
    json_t *a = NULL;
    if (name_known(name, out) < 0)
        return 0;
    int rc = store_alias_list(name, &a);
    if (rc != STORE_OK)
        return reply_store_failed(out, rc);
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
        if (strcmp(json_string_value(json_object_get(v, "alias")), alias) == 0) {
            json_t *o = alias_json(name, alias, (int)json_integer_value(json_object_get(v,
                                   "version")), json_string_value(json_object_get(v, "model")));
            json_decref(a);
            return reply_json(out, 200, o);
        }
    json_decref(a);
    char e[100];
    return reply_problem(out, 404, NULL, "%s has no alias %s", name,
                         text_echo(e, sizeof e, alias, strlen(alias), 64));
}

int h_models_alias_put(struct req *r, struct reply *out)
{
    const char *name = r->param[0], *alias = r->param[1];
    char why[256], e[100];
    if (name_known(name, out) < 0)
        return 0;
    if (model_name_check(alias, strlen(alias), 1, why, sizeof why) < 0)
        return reply_param(out, 422, "alias", "alias: %s", why);
    const json_t *b = r->json, *v = json_object_get(b, "version");
    if (!json_is_object(b))
        return reply_field(out, 422, "", "the body is {\"version\": N}, the version the alias "
                           "points at");
    const char *key;
    json_t *x;
    json_object_foreach((json_t *)b, key, x)
        if (strcmp(key, "version") != 0) {
            char at[200] = "/";   /* its JSON pointer: '~' as ~0, '/' as ~1 */
            for (const char *c = key; *c && strlen(at) + 3 < sizeof at; c++)
                snprintf(at + strlen(at), sizeof at - strlen(at), "%s",
                         *c == '~' ? "~0" : *c == '/' ? "~1" : (char[2]){*c, 0});
            return reply_field(out, 422, at, "unknown field %s: the body is {\"version\": N}",
                               text_echo(e, sizeof e, key, strlen(key), 64));
        }
    if (!v)
        return reply_field(out, 422, "/version", "version is required: the version of %s "
                           "the alias points at", name);
    double d = json_number_value(v);
    if (!json_is_number(v) || !(d >= 1 && d <= 999999999) || d != floor(d))
        return reply_field(out, 422, "/version", "version must be a whole number from 1, "
                           "a version of %s", name);
    int version = (int)d, created = 0, known = 0;
    char id[32];
    int rc = store_alias_set(name, alias, version, &created, id, &known);
    if (rc == STORE_NOT_FOUND && known)
        return reply_field(out, 422, "/version", "%s has no version %d", name, version);
    if (rc == STORE_NOT_FOUND)
        return name_known(name, out), 0;   /* its last version went meanwhile */
    if (rc != STORE_OK)
        return reply_store_failed(out, rc);
    if (created)
        snprintf(out->location, sizeof out->location, "/v1/models/%s/aliases/%s", name, alias);
    return reply_json(out, created ? 201 : 200, alias_json(name, alias, version, id));
}

int h_models_alias_delete(struct req *r, struct reply *out)
{
    const char *name = r->param[0], *alias = r->param[1];
    if (name_known(name, out) < 0)
        return 0;
    int rc = model_name_check(alias, strlen(alias), 1, NULL, 0) < 0
                 ? STORE_NOT_FOUND : store_alias_delete(name, alias);
    char e[100];
    if (rc == STORE_NOT_FOUND)
        return reply_problem(out, 404, NULL, "%s has no alias %s", name,
                             text_echo(e, sizeof e, alias, strlen(alias), 64));
    if (rc != STORE_OK)
        return reply_store_failed(out, rc);
    return reply_no_content(out);
}

/* The model as an ONNX file (domain/onnx.c), to download: application/octet-stream, as
 * ONNX has no registered media type, named "<id>.onnx". */
int h_models_onnx(struct req *r, struct reply *out)
{
    struct predictor *p;
    char id[32];
    if (predictor_or_reply(r->param[0], id, &p, out) < 0)
        return 0;
    char msg[300];
    size_t len;
    unsigned char *bytes = onnx_export(p, NEUROND_VERSION, &len, msg, sizeof msg);
    int rc = 0;
    if (!bytes)
        reply_problem(out, 500, NULL, "%s", msg);
    else if ((rc = reply_text(out, 200, "application/octet-stream", (const char *)bytes, len)) == 0)
        snprintf(out->disposition, sizeof out->disposition, "attachment; filename=\"%s.onnx\"",
                 p->id);
    free(bytes);
    predictor_put(p);
    return rc;
}

/* ---- prediction ---- */

/* One JSON value (at p) into *f: a number that rounds to a finite float32. 0, or -1 with
 * the reply filled. */
static int json_input(const json_t *v, const char *p, float *f, struct reply *out)
{
    if (!json_is_number(v))
        return reply_field(out, 422, p, "not a number"), -1;
    double d = json_number_value(v);
    if (!isfinite((float)d))   /* rounds past float32 (as a CSV row is read) */
        return reply_field(out, 422, p, "%g is outside the range of float32 (about 3.4e38)",
                           d), -1;
    *f = (float)d;
    return 0;
}

/* Row i of a JSON array (row, at p) into x: F numbers, or with T > 0 T steps (arrays) of
 * F numbers. 0, or -1 with the reply filled. */
static int json_input_row(const json_t *row, const char *p, size_t i, int T, int F, float *x,
                          struct reply *out)
{
    char q[128];
    if (!json_is_array(row)) {
        if (T)
            return reply_field(out, 422, p, "expected a row (an array of %d steps of %d "
                               "numbers), got %s", T, F, json_kind(row)), -1;
        return reply_field(out, 422, p, "expected a row (an array of %d numbers), got %s", F,
                           json_is_number(row) ? "a number" : json_kind(row)), -1;
    }
    if (T && (int)json_array_size(row) != T)
        return reply_field(out, 422, p, "row %zu has %d steps; the model takes sequences of "
                           "%d steps of %d inputs", i, (int)json_array_size(row), T, F), -1;
    if (!T && (int)json_array_size(row) != F)
        return reply_field(out, 422, p, "row %zu has %d values; the model takes %d inputs", i,
                           (int)json_array_size(row), F), -1;
    for (int t = 0; t < (T ? T : 1); t++) {
        const json_t *step = T ? json_array_get(row, (size_t)t) : row;
        if (T) {
            snprintf(q, sizeof q, "%s/%d", p, t);
            if (!json_is_array(step) || (int)json_array_size(step) != F)
                return reply_field(out, 422, q, "step %d of row %zu: expected an array of %d "
                                   "numbers, got %s", t, i, F, json_is_array(step) ?
                                   "one of a different length" : json_kind(step)), -1;
        }
        for (int j = 0; j < F; j++) {
            if (T)
                snprintf(q, sizeof q, "%s/%d/%d", p, t, j);
            else
                snprintf(q, sizeof q, "%s/%d", p, j);
            if (json_input(json_array_get(step, (size_t)j), q, &x[t * F + j], out) < 0)
                return -1;
        }
    }
    return 0;
}

/* Rows of numbers from a JSON array of arrays (of steps, arrays of F numbers, when T > 0)
 * into x (new); -1 with the reply filled. */
static int rows_from_json(const json_t *rows, const char *base, int T, int F, float **x,
                          int *n, struct reply *out)
{
    if (!json_is_array(rows) || json_array_size(rows) == 0) {
        if (T)
            return reply_field(out, 422, base, "expected a non-empty array of rows, each %d "
                               "steps of %d numbers", T, F), -1;
        return reply_field(out, 422, base, "expected a non-empty array of rows of %d numbers",
                           F), -1;
    }
    size_t N = json_array_size(rows), W = (size_t)F * (size_t)(T ? T : 1);
    if (N > PREDICT_MAX_ROWS)
        return reply_field(out, 413, base, "more than %d rows, the limit per request",
                           PREDICT_MAX_ROWS), -1;
    if (!(*x = malloc(sizeof(float) * N * W)))
        return -1;
    char p[96];
    for (size_t i = 0; i < N; i++) {
        snprintf(p, sizeof p, "%s/%zu", base, i);
        if (json_input_row(json_array_get(rows, i), p, i, T, F, *x + i * W, out) < 0) {
            free(*x);
            *x = NULL;
            return -1;
        }
    }
    *n = (int)N;
    return 0;
}

/* Rows of numbers from CSV text, read as a dataset upload reads it (csv.c: quotes, CRLF
 * or CR, a UTF-8 BOM, blank lines skipped, numbers as csv_number reads them); a first
 * record that is not all numbers is a header, whose names are matched to the model's
 * input columns: the columns may come in any order, but each of the model's must be
 * there, once, and no other. */
struct csv_rows {
    int F;
    const json_t *columns;     /* the model's input columns' names, or NULL (a header is
                                  then skipped and the rows read in order) */
    int *at;                   /* per CSV field, the input it fills (after a header), or NULL */
    float *x;
    int n, cap;
    int header;                /* the first record was a header */
    struct reply *out;
};

/* The model's columns as "a, b, c" into buf, for messages. */
static const char *column_list(const json_t *columns, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = 0;
    for (size_t k = 0; k < json_array_size(columns) && len < cap; k++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", k ? ", " : "",
                                json_string_value(json_array_get(columns, k)));
    return buf;
}

/* Matches a header's names (spaces and tabs around them ignored) to the model's columns
 * into c->at. 0, or -1 with the reply filled: an error per unknown or repeated name
 * (/header/columns/{i}) and one naming the columns missing (/header). */
static int csv_header(struct csv_rows *c, char **f, const size_t *lens, int nf)
{
    const int F = c->F;
    char names[512], q[80], detail[600];
    int *seen = calloc((size_t)F, sizeof *seen);
    struct faults fs;
    c->at = malloc(sizeof *c->at * (size_t)(nf ? nf : 1));
    if (!seen || !c->at || faults_init(&fs) < 0) {
        free(seen);
        return -1;   /* no reply: out of memory */
    }
    column_list(c->columns, names, sizeof names);
    int unknown = 0, twice = 0, missing = 0;
    for (int i = 0; i < nf; i++) {
        const char *name = f[i];
        size_t len = lens[i];
        while (len && (*name == ' ' || *name == '\t'))
            name++, len--;
        while (len && (name[len - 1] == ' ' || name[len - 1] == '\t'))
            len--;
        int k = -1, again = 0;   /* the first column of that name not yet matched */
        for (int j = 0; j < F && k < 0; j++) {
            const json_t *col = json_array_get(c->columns, (size_t)j);
            if (json_string_length(col) != len || memcmp(json_string_value(col), name, len))
                continue;
            if (seen[j])
                again = 1;
            else
                k = j;
        }
        char ptr[64];
        snprintf(ptr, sizeof ptr, "/header/columns/%d", i);
        text_echo(q, sizeof q, name, len, 64);
        if (k < 0 && again) {
            fault_add(&fs, ptr, "column \"%s\" appears twice", q);
            twice++;
        } else if (k < 0) {
            fault_add(&fs, ptr, "unknown column \"%s\"; the model's columns are: %s", q, names);
            unknown++;
        } else {
            seen[k] = 1;
            c->at[i] = k;
        }
    }
    size_t len = 0;
    detail[0] = 0;
    for (int j = 0; j < F && len < sizeof detail; j++)
        if (!seen[j])
            len += (size_t)snprintf(detail + len, sizeof detail - len, "%s%s", missing++ ? ", "
                                    : "", json_string_value(json_array_get(c->columns, (size_t)j)));
    if (missing)
        fault_add(&fs, "/header", "missing column%s %s; the model's columns are: %s",
                  missing == 1 ? "" : "s", detail, names);
    free(seen);
    if (!unknown && !twice && !missing) {
        faults_free(&fs);
        return 0;
    }
    reply_problem(c->out, 422, faults_take(&fs, "/header"), "the CSV header does not name the "
                  "model's columns (%d unknown, %d repeated, %d missing); they are: %s",
                  unknown, twice, missing, names);
    return -1;
}

/* The index of the first field that is not a finite float32 number, -1 when none. */
static int csv_not_number(char **f, const size_t *lens, int nf)
{
    for (int i = 0; i < nf; i++) {
        double v;
        if (!text_number(f[i], lens[i], &v) || !isfinite((float)v))
            return i;
    }
    return -1;
}

static int csv_row(void *ctx, char **f, const size_t *lens, int nf, long record, long line,
                   struct csv_error *err)
{
    struct csv_rows *c = ctx;
    int bad = csv_not_number(f, lens, nf);
    memset(err, 0, sizeof *err);   /* a failure here fills the reply instead (or none when
                                      memory runs out) */
    if (record == 0 && bad >= 0) {
        c->header = 1;
        return c->columns ? csv_header(c, f, lens, nf) : 0;
    }
    if (bad >= 0 || nf != c->F) {
        char ptr[64];
        if (bad >= 0 && bad < c->F)
            snprintf(ptr, sizeof ptr, "/rows/%d/columns/%d", c->n, bad);
        else
            snprintf(ptr, sizeof ptr, "/rows/%d", c->n);
        reply_field(c->out, 422, ptr, "line %ld: expected %d numbers separated by commas",
                    line, c->F);
        return -1;
    }
    if (c->n == PREDICT_MAX_ROWS) {
        reply_problem(c->out, 413, NULL, "over %d rows per request", PREDICT_MAX_ROWS);
        return -1;
    }
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 64;
        float *g = realloc(c->x, sizeof(float) * (size_t)cap * (size_t)c->F);
        if (!g)
            return -1;   /* no reply: out of memory */
        c->x = g;
        c->cap = cap;
    }
    float *row = c->x + (size_t)c->n * (size_t)c->F;
    for (int i = 0; i < nf; i++) {
        double v;
        text_number(f[i], lens[i], &v);
        row[c->at ? c->at[i] : i] = (float)v;
    }
    c->n++;
    return 0;
}

static int rows_from_csv(const char *s, size_t len, int F, const json_t *columns, float **x,
                         int *n, struct reply *out)
{
    struct csv_rows c = {.F = F, .columns = columns, .out = out};
    struct csv_reader *rd = csv_reader_new(csv_row, &c);
    struct csv_error err = {0};
    int rc = -1;
    if (rd && csv_reader_feed(rd, s, len, &err) == 0 && csv_reader_end(rd, &err) == 0)
        rc = 0;
    if (rc < 0 && err.status) {   /* the reader's own error: a broken quote, a long field */
        char ptr[64];
        snprintf(ptr, sizeof ptr, "/rows/%ld", err.row - c.header);
        reply_field(out, err.status == 413 ? 413 : 422, ptr, "line %ld: %s", err.line,
                    err.detail);
    }
    csv_reader_free(rd);
    free(c.at);
    if (rc == 0 && c.n == 0) {
        reply_field(out, 422, "/rows", "no rows to predict");
        rc = -1;
    }
    if (rc < 0) {
        free(c.x);
        return -1;
    }
    *x = c.x;
    *n = c.n;
    return 0;
}

/* ---- a fast path for the common body {"inputs": [[numbers...], ...]} ---- */


static void ws(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
        s->p++;
}

static int eat(struct scan *s, char c)
{
    ws(s);
    if (s->p < s->end && *s->p == c) {
        s->p++;
        return 1;
    }
    return 0;
}

static int is_digit(char c) { return (unsigned char)(c - '0') < 10; }

/* The digits in a row at q, when there are 1 to 7 of them and 8 bytes to read at q, into
 * *v (their value); 0 otherwise. The 8 bytes are read as one word, first byte lowest:
 * less '0', a digit's byte is 0..9, and any other byte sets its top bit or, with 0x76
 * added, carries into it; what borrows or carries past such a byte changes only later
 * bytes. The digits, moved up to the word's top with zeros before them, are then paired
 * into 2, 4 and 8 digit numbers by three multiplies. */
static int digits7(const char *q, const char *e, uint64_t *v)
{
    if (e - q < 8)
        return 0;
    uint64_t x;
    memcpy(&x, q, sizeof x);
    x -= 0x3030303030303030ull;
    uint64_t not_digit = (x | (x + 0x7676767676767676ull)) & 0x8080808080808080ull;
    int n = not_digit ? __builtin_ctzll(not_digit) >> 3 : 8;
    if (n == 0 || n == 8)
        return 0;
    x <<= 8 * (8 - n);
    x = (x * 10 + (x >> 8)) & 0x00ff00ff00ff00ffull;
    x = (x * 100 + (x >> 16)) & 0x0000ffff0000ffffull;
    *v = (x * 10000 + (x >> 32)) & 0xffffffffull;
    return n;
}

/* A JSON number into *out: the float that the correctly rounded double rounds to, as
 * jansson's reading then a cast gives. Up to 19 significant digits and exponents within
 * ±22 are converted exactly in double (one rounding), then to float; anything else goes
 * to strtod. Returns 0, or -1 when the text is not a number. */
static int number(struct scan *s, float *out)
{
    static const double p10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    static const uint64_t tens[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000};
    static const double inv10[] = {1e0, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7};
    ws(s);
    const char *q = s->p, *e = s->end;
    int neg = q < e && *q == '-', digits = 0, exp10 = 0, n;
    uint64_t m = 0, frac;
    q += neg;
    /* the common "0.059": one digit, a point, 1-7 digits, no exponent; m < 10^8, read at
     * once, then converted as every number is */
    if (e - q >= 10 && is_digit(q[0]) && q[1] == '.' && (n = digits7(q + 2, e, &frac)) > 0 &&
        (q[2 + n] | 0x20) != 'e') {
        m = (uint64_t)(q[0] - '0') * tens[n] + frac;
        exp10 = -n;
        q += 2 + n;
        goto convert;
    }
    /* one pass, as JSON's grammar reads: no leading zeros, no bare '.', digits after a
     * '.'; the first 19 significant digits go into m */
    if (q >= e || !is_digit(*q))
        return -1;
    if (*q == '0') {
        if (++q < e && is_digit(*q))
            return -1;
    } else {
        for (; q < e && is_digit(*q); q++) {
            if (digits < 19)
                m = m * 10 + (uint64_t)(*q - '0'), digits++;
            else
                exp10++;
        }
    }
    if (q < e && *q == '.') {
        if (++q >= e || !is_digit(*q))
            return -1;
        if (digits <= 11 && (n = digits7(q, e, &frac)) > 0) {
            /* the loop below would take each of these (at most 18 digits in all), zeros
             * before the first significant one only moving exp10 */
            m = m * tens[n] + frac;
            exp10 -= n;
            q += n;
        }
        for (; q < e && is_digit(*q); q++) {
            if (digits < 19 && (m || *q != '0'))
                m = m * 10 + (uint64_t)(*q - '0'), digits++, exp10--;
            else if (!m)
                exp10--;
        }
    }
    if (q < e && (*q == 'e' || *q == 'E')) {
        q++;
        int eneg = q < e && *q == '-', ev = 0, edig = 0;
        q += q < e && (*q == '-' || *q == '+');
        for (; q < e && is_digit(*q); q++, edig = 1)
            ev = ev < 10000 ? ev * 10 + (*q - '0') : ev;
        if (!edig)
            return -1;
        exp10 += eneg ? -ev : ev;
    }
    /* m / 10^k for k <= 7 and m < 2^24 (the common "0.059") by a multiply: the exact
     * quotient is no float's midpoint (it has at most 24 significant bits when it is
     * dyadic) and lies at least 2^-48 (relative) from every one (|m 2^q - p 10^k| >= 1
     * with p < 2^25), while the product errs by at most 2^-52: it rounds to the float
     * that the correctly rounded quotient does, without a division's wait */
convert:;
    double v;
    if (exp10 < 0 && exp10 >= -7 && m < (1u << 24)) {
        v = (double)m * inv10[-exp10];
    } else if (m < (1ull << 53) && exp10 >= -22 && exp10 <= 22) {
        v = exp10 >= 0 ? (double)m * p10[exp10] : (double)m / p10[-exp10];
    } else {
        char tmp[128];
        size_t n = (size_t)(q - s->p);
        if (n >= sizeof tmp)
            return -1;
        memcpy(tmp, s->p, n);
        tmp[n] = 0;
        v = fabs(strtod(tmp, NULL));
    }
    if (!isfinite((float)v))   /* rounds past float32: the slow path names it */
        return -1;
    *out = (float)(neg ? -v : v);
    s->p = q;
    return 0;
}

/* Parses {"inputs" or "instances": [[F numbers], ...]} with nothing else in it into x
 * (new). Returns 0; -2 when a row past PREDICT_MAX_ROWS begins, so that such a body is
 * refused without reading the rest; or -1 for anything else (the caller then parses the
 * body with jansson, which names what is wrong). */
static int fast_rows(const char *body, size_t len, int F, float **x, int *n, int *columnar)
{
    struct scan s = {body, body + len};
    static const char *const keys[] = {"\"inputs\"", "\"instances\""};
    if (!eat(&s, '{'))
        return -1;
    ws(&s);
    int key = -1;
    for (int k = 0; k < 2 && key < 0; k++)
        if ((size_t)(s.end - s.p) >= strlen(keys[k]) && !memcmp(s.p, keys[k], strlen(keys[k])))
            key = k;
    if (key < 0)
        return -1;
    s.p += strlen(keys[key]);
    if (!eat(&s, ':') || !eat(&s, '['))
        return -1;
    size_t cap = 16, rows = 0;
    float *v = malloc(sizeof(float) * cap * (size_t)F);
    while (v) {
        if (!eat(&s, '['))
            break;
        if (rows == PREDICT_MAX_ROWS) {
            free(v);
            return -2;
        }
        if ((size_t)rows == cap) {
            float *g = realloc(v, sizeof(float) * (cap *= 2) * (size_t)F);
            if (!g)
                break;
            v = g;
        }
        int j = 0;
        for (; j < F; j++)
            if ((j && !eat(&s, ',')) || number(&s, &v[rows * F + j]) < 0)
                break;
        if (j < F || !eat(&s, ']'))
            break;
        rows++;
        if (eat(&s, ','))
            continue;
        if (eat(&s, ']') && eat(&s, '}')) {
            ws(&s);
            if (s.p == s.end && rows > 0) {
                *x = v;
                *n = (int)rows;
                *columnar = key == 0;
                return 0;
            }
        }
        break;
    }
    free(v);
    return -1;
}

/* The rows of a predict body (text/csv, or JSON {"inputs" | "instances": [[F numbers],
 * ...]}; "inputs" may also be TF Serving's {"<name>": rows}, a model's one named input)
 * into x (new) and n; *columnar is 1 when they came as "inputs". fast: try fast_rows
 * first (the handler does); the slow path alone gives the same rows or names the fault.
 * Returns 0, or -1 with the reply filled (its status 0 when memory ran out). */
static int parse_rows(const char *ctype, const char *body, size_t len, int T, int F,
                      const json_t *columns, int fast, float **x, int *n, int *columnar,
                      struct reply *out)
{
    *x = NULL;
    *n = 0;
    *columnar = 0;
    if (!strcmp(ctype, "text/csv"))   /* a sequence's row: its T x F values, time-major */
        return rows_from_csv(body, len, F * (T ? T : 1), T ? NULL : columns, x, n, out);
    int fr = fast && !T ? fast_rows(body, len, F, x, n, columnar) : -1;
    if (fr == 0)
        return 0;
    if (fr == -2) {   /* fast_rows read the key: the body opens with it */
        struct scan sc = {body, body + len};
        eat(&sc, '{');
        ws(&sc);
        int instances = sc.end - sc.p >= 11 && !memcmp(sc.p, "\"instances\"", 11);
        return reply_field(out, 413, instances ? "/instances" : "/inputs", "more than %d "
                           "rows, the limit per request", PREDICT_MAX_ROWS), -1;
    }
    /* integers as reals: inputs are floats, past int64 too */
    json_t *doc = req_json_load(body, len, JSON_DECODE_INT_AS_REAL, out);
    if (!doc)
        return -1;   /* replied: 400 or 413 */
    if (!json_is_object(doc)) {
        reply_field(out, 422, "", "expected {\"inputs\": [[%d numbers], ...]} (or "
                    "\"instances\"), got %s", F, json_kind(doc));
        json_decref(doc);   /* after json_kind: it reads doc */
        return -1;
    }
    /* inputs or instances, not both; nothing else but TF Serving's signature_name, which
     * names the only signature a model has and is otherwise ignored */
    const json_t *in = json_object_get(doc, "inputs"), *inst = json_object_get(doc, "instances");
    struct faults fs;
    if (faults_init(&fs) < 0) {
        json_decref(doc);
        return -1;
    }
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)doc, key, v) {
        if (!strcmp(key, "inputs") || !strcmp(key, "instances"))
            continue;
        if (!strcmp(key, "signature_name")) {
            if (!json_is_string(v))
                fault_add(&fs, "/signature_name", "signature_name must be a string (it is "
                          "ignored), not %s", json_kind(v));
            continue;
        }
        char q[80];
        fault_key(&fs, "", key, strlen(key), "unknown field \"%s\" in a prediction request; "
                  "its fields are: inputs, instances, signature_name",
                  text_echo(q, sizeof q, key, strlen(key), 64));
    }
    if (in && inst)
        fault_add(&fs, "/instances", "give the rows as inputs or as instances, not both");
    else if (!in && !inst)
        fault_add(&fs, "/inputs", "expected {\"inputs\": [[%d numbers], ...]} (or "
                  "\"instances\")", F);
    int rc;
    if (fs.n) {
        json_t *errors = faults_take(&fs, "");
        const char *first = json_string_value(json_object_get(json_array_get(errors, 0),
                                                              "detail"));
        reply_problem(out, 422, errors, "%s%s", first ? first : "not a prediction request",
                      json_array_size(errors) > 1 ? " (and more: see errors)" : "");
        rc = -1;
    } else if (json_is_object(in) && json_object_size(in) == 1) {
        /* {"inputs": {"x": rows}}: the one input, by whatever name */
        char base[160] = "/inputs/";
        const char *name = json_object_iter_key(json_object_iter((json_t *)in));
        for (const char *c = name; *c && strlen(base) + 3 < sizeof base; c++)
            snprintf(base + strlen(base), sizeof base - strlen(base), "%s",
                     *c == '~' ? "~0" : *c == '/' ? "~1" : (char[2]){*c, 0});
        rc = rows_from_json(json_object_get(in, name), base, T, F, x, n, out);
        *columnar = 1;
    } else {
        rc = rows_from_json(in ? in : inst, in ? "/inputs" : "/instances", T, F, x, n, out);
        *columnar = in != NULL;
    }
    faults_free(&fs);
    json_decref(doc);
    return rc;
}

/* ---- a prediction under way (api.h) ---- */

static void conn_pause(void *conn) { http_pause(conn); }
static void conn_wake(void *conn) { http_wake(conn); }

struct api_predict *api_predict_new(struct predictor *p, const char *id, float *x, int n,
                                    int (*answer)(struct api_predict *a, struct reply *out))
{
    const int K = nn_outputs(p->net);
    struct api_predict *a = calloc(1, sizeof *a);
    float *y = malloc(sizeof(float) * ((size_t)n * K + 1));
    if (!a || !y) {
        free(a), free(y), free(x);
        predictor_put(p);
        return NULL;
    }
    a->call = (struct predict_call){.p = p, .x = x, .y = y, .n = n, .pause = conn_pause,
                                    .done = conn_wake};
    a->answer = answer;
    a->K = K;
    snprintf(a->id, sizeof a->id, "%s", id);
    return a;
}

void api_predict_free(void *ctx)
{
    struct api_predict *a = ctx;
    predictor_forget(&a->call);   /* a request that ended before its rows ran */
    free(a->rid);
    free(a->call.x);
    free(a->call.y);
    predictor_put((struct predictor *)a->call.p);
    free(a);
}

static int answer_later(struct req *r, struct reply *out)
{
    struct api_predict *a = r->later_ctx;
    predictor_settle(&a->call);   /* this thread's turn has come: its rows run now */
    return a->answer(a, out);
}

int api_predict_go(struct api_predict *a, struct req *r, struct reply *out)
{
    a->call.ctx = r->conn;
    if (predictor_submit(&a->call, r->later_ok && r->conn) > 0) {
        r->later = answer_later;
        r->later_ctx = a;
        r->later_free = api_predict_free;
        return HTTP_LATER;
    }
    int rc = a->answer(a, out);
    api_predict_free(a);
    return rc;
}

/* The native answer: the model, the outputs and what each row predicts. */
static int native_answer(struct api_predict *a, struct reply *out)
{
    const struct predict_call *c = &a->call;
    if (c->rc < 0)
        return reply_problem(out, 500, NULL, "%s", c->msg);
    json_t *outputs = api_outputs(c->y, c->n, a->K), *preds = json_array();
    for (int i = 0; i < c->n; i++)
        json_array_append_new(preds, predictor_label(c->p, c->y + (size_t)i * a->K, a->K));
    return reply_json(out, 200, json_pack("{s:s, s:o, s:o}", "model", a->id, "outputs",
                                          outputs, "predictions", preds));
}

int h_models_predict(struct req *r, struct reply *out)
{
    struct predictor *m;
    char id[32];
    if (predictor_or_reply(r->param[0], id, &m, out) < 0)
        return 0;
    const struct nn_spec *spec = nn_get_spec(m->net);
    const int T = spec->timesteps, F = spec->inputs;
    float *x = NULL;
    int n = 0, columnar;
    if (parse_rows(r->content_type, r->body, r->len, T, F, m->columns, 1, &x, &n, &columnar,
                   out) < 0) {
        free(x);
        predictor_put(m);
        return out->status ? 0 : -1;
    }
    struct api_predict *a = api_predict_new(m, id, x, n, native_answer);
    return a ? api_predict_go(a, r, out) : -1;
}

/* ---- what the prediction protocols share (tfserving.c, kserve.c, mlflow.c) ---- */

int scan_eat(struct scan *s, char c) { return eat(s, c); }
int scan_number(struct scan *s, float *out) { return number(s, out); }

int scan_string(struct scan *s, const char **str, size_t *len)
{
    ws(s);
    if (s->p >= s->end || *s->p != '"')
        return -1;
    const char *a = s->p + 1, *b = a;
    while (b < s->end && *b != '"' && *b != '\\' && (unsigned char)*b >= 0x20)
        b++;
    if (b >= s->end || *b != '"' || !utf8_valid(a, (size_t)(b - a)))
        return -1;   /* an escape, a control character, no end, or not UTF-8 */
    *str = a;
    *len = (size_t)(b - a);
    s->p = b + 1;
    return 0;
}

int scan_skip(struct scan *s, int depth)
{
    const char *str;
    size_t len;
    float f;
    ws(s);
    if (s->p >= s->end || depth > 16)
        return -1;
    char c = *s->p, close = c == '[' ? ']' : '}';
    if (c == '"')
        return scan_string(s, &str, &len);
    if (c != '[' && c != '{') {
        for (const char *w = "true\0false\0null\0"; *w; w += strlen(w) + 1)
            if ((size_t)(s->end - s->p) >= strlen(w) && !memcmp(s->p, w, strlen(w))) {
                s->p += strlen(w);
                return 0;
            }
        return number(s, &f);
    }
    s->p++;
    if (eat(s, close))
        return 0;
    do {
        if (c == '{' && (scan_string(s, &str, &len) < 0 || !eat(s, ':')))
            return -1;
        if (scan_skip(s, depth + 1) < 0)
            return -1;
    } while (eat(s, ','));
    return eat(s, close) ? 0 : -1;
}

int scan_end(struct scan *s)
{
    ws(s);
    return s->p == s->end;
}

int api_error_json(struct reply *out, int status, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    utf8_clean(msg);
    if (status == 503)
        out->retry_after = STORE_RETRY_AFTER;
    return reply_json(out, status, json_pack("{s:s}", "error", msg));
}

int api_model_get(const char *ref, char *id, struct predictor **p, char *msg, size_t cap)
{
    char e[100];
    int rc = model_resolve(ref, id, msg, cap);
    if (rc == STORE_OK)
        rc = predictor_get(id, p, msg, cap);
    if (rc == STORE_OK)
        return 0;
    if (rc == STORE_UNAVAILABLE || (rc == STORE_ERROR && store_condition() == STORE_UNAVAILABLE)) {
        snprintf(msg, cap, "the database cannot be reached now; try again in a few seconds");
        return 503;
    }
    if (rc != STORE_NOT_FOUND)
        return 500;
    if (!strchr(ref, '@'))   /* model_resolve passed it on as an id; the store had none */
        snprintf(msg, cap, "no model %s: no model has that name or id",
                 text_echo(e, sizeof e, ref, strlen(ref), 64));
    return 404;
}

int api_predict_rows(const struct predictor *p, const char *ctype, const char *body,
                     size_t len, float **x, int *n, int *columnar, struct reply *out)
{
    const struct nn_spec *spec = nn_get_spec(p->net);
    return parse_rows(ctype, body, len, spec->timesteps, spec->inputs, p->columns, 1, x, n,
                      columnar, out);
}

json_t *api_outputs(const float *y, int n, int K)
{
    json_t *outputs = json_array();
    for (int i = 0; i < n && outputs; i++) {
        const float *o = y + (size_t)i * K;
        json_t *row = json_array();
        for (int j = 0; j < K; j++)
            json_array_append_new(row, isfinite(o[j]) ? json_real(o[j]) : json_null());
        if (json_array_append_new(outputs, row) < 0) {
            json_decref(outputs);
            outputs = NULL;
        }
    }
    return outputs;
}

int api_problem_text(struct reply *out, char *msg, size_t cap)
{
    json_error_t jerr;
    json_t *p = out->body ? json_loadb(out->body, out->len, 0, &jerr) : NULL;
    const char *detail = json_string_value(json_object_get(p, "detail"));
    const json_t *e = json_array_get(json_object_get(p, "errors"), 0);
    const char *at = json_string_value(json_object_get(e, "pointer"));
    if (!at)
        at = json_string_value(json_object_get(e, "parameter"));
    snprintf(msg, cap, "%s", detail ? detail : "the request failed");
    if (at && *at && strlen(msg) + strlen(at) + 8 < cap && !strstr(msg, at))
        snprintf(msg + strlen(msg), cap - strlen(msg), " (at %s)", at);
    json_decref(p);
    int status = out->status;
    free(out->body);
    out->body = NULL;
    out->len = 0;
    out->status = 0;
    return status;
}
