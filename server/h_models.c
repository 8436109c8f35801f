/* h_models.c -- /v1/models: trained models, their weights, and predictions.
 *
 * DESIGN. Predictions must be cheap, so loaded models stay in a small cache: a list of
 * reference-counted entries under one mutex. A request takes a reference, predicts with
 * the network (nn_predict only reads it, so many requests share one), and drops the
 * reference; a deleted model leaves the cache at once and is freed by its last user. */
#include "handlers.h"

#include "store.h"

#include "csv.h"

#include "nn.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_MAX 32
#define PREDICT_MAX_ROWS 100000

struct model {
    char id[32];
    struct nn_net *net;
    float *scaler;             /* mean then std per feature, or NULL */
    char kind[16];             /* the dataset's label kind */
    json_t *classes;
    int refs;                  /* the cache's own reference counts as one */
    struct model *next;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct model *cache;
static int ncache;

static void model_free(struct model *m)
{
    nn_free(m->net);
    free(m->scaler);
    json_decref(m->classes);
    free(m);
}

static void model_put(struct model *m)
{
    pthread_mutex_lock(&cache_lock);
    int last = --m->refs == 0;
    pthread_mutex_unlock(&cache_lock);
    if (last)
        model_free(m);
}

/* Removes id from the cache (its users keep their references). */
static void cache_drop(const char *id)
{
    struct model *gone = NULL;
    pthread_mutex_lock(&cache_lock);
    for (struct model **p = &cache; *p; p = &(*p)->next)
        if (strcmp((*p)->id, id) == 0) {
            gone = *p;
            *p = gone->next;
            ncache--;
            break;
        }
    pthread_mutex_unlock(&cache_lock);
    if (gone)
        model_put(gone);
}

/* A referenced model (model_put when done), NULL with the reply filled. */
static struct model *model_get(const char *id, struct reply *out)
{
    pthread_mutex_lock(&cache_lock);
    for (struct model *m = cache; m; m = m->next)
        if (strcmp(m->id, id) == 0) {
            m->refs++;
            pthread_mutex_unlock(&cache_lock);
            return m;
        }
    pthread_mutex_unlock(&cache_lock);

    struct model_data d;
    int rc = db_model_load(id, &d);
    if (rc != 0) {
        if (rc > 0)
            reply_not_found(out, "model", id);
        else
            reply_problem(out, 500, NULL, "model %s could not be read", id);
        return NULL;
    }
    struct model *m = calloc(1, sizeof *m);
    struct nn_error e;
    if (!m || !(m->net = nn_load(d.net, d.net_len, 0, &e))) {
        reply_problem(out, 500, NULL, "model %s could not be loaded: %s", id,
                      m ? e.msg : "out of memory");
        free(m);
        model_data_free(&d);
        return NULL;
    }
    snprintf(m->id, sizeof m->id, "%s", id);
    snprintf(m->kind, sizeof m->kind, "%s", d.label_kind);
    m->classes = json_incref(d.classes);
    if (d.scaler && d.scaler_len == 2 * sizeof(float) * (size_t)nn_inputs(m->net)) {
        m->scaler = d.scaler;
        d.scaler = NULL;
    }
    model_data_free(&d);
    m->refs = 2;   /* the cache's and the caller's */
    struct model *evict = NULL;
    pthread_mutex_lock(&cache_lock);
    for (struct model *o = cache; o; o = o->next)
        if (strcmp(o->id, id) == 0) {   /* another request loaded it meanwhile */
            o->refs++;
            pthread_mutex_unlock(&cache_lock);
            model_free(m);
            return o;
        }
    m->next = cache;
    cache = m;
    if (++ncache > CACHE_MAX) {   /* drop the oldest */
        struct model **p = &cache;
        while ((*p)->next)
            p = &(*p)->next;
        evict = *p;
        *p = NULL;
        ncache--;
    }
    pthread_mutex_unlock(&cache_lock);
    if (evict)
        model_put(evict);
    return m;
}

int h_models_list(struct req *r, struct reply *out)
{
    int limit;
    if (req_limit(r, out, 1000, &limit) < 0)
        return 0;
    const char *after = req_query(r, "after");
    json_t *known = after && *after ? db_model_get(after) : NULL;
    if (after && *after && !known)
        return reply_param(out, 400, "after", "after: no model with id %.64s (pass the \"next\" "
                           "of the previous page)", after);
    json_decref(known);
    json_t *list = db_model_list(limit, req_query(r, "after"));
    return list ? reply_json(out, 200, list) : -1;
}

int h_models_get(struct req *r, struct reply *out)
{
    json_t *m = db_model_get(r->param[0]);
    return m ? reply_json(out, 200, m) : reply_not_found(out, "model", r->param[0]);
}

int h_models_delete(struct req *r, struct reply *out)
{
    int rc = db_model_delete(r->param[0]);
    if (rc < 0)
        return -1;
    if (rc > 0)
        return reply_not_found(out, "model", r->param[0]);
    cache_drop(r->param[0]);
    out->status = 204;
    return 0;
}

int h_models_weights(struct req *r, struct reply *out)
{
    struct model *m = model_get(r->param[0], out);
    if (!m)
        return 0;
    int n = nn_tensors(m->net, NULL, 0);
    struct nn_tensor *t = calloc((size_t)n + 1, sizeof *t);
    json_t *layers = json_array();
    if (t)
        nn_tensors(m->net, t, n);
    for (int i = 0; t && i < n; i++) {
        /* a matrix as rows of values, a vector flat */
        json_t *values = json_array();
        for (int a = 0; a < t[i].rows; a++) {
            json_t *row = t[i].rows == 1 ? values : json_array();
            for (int b = 0; b < t[i].cols; b++)
                json_array_append_new(row, json_real(t[i].data[(size_t)a * t[i].cols + b]));
            if (row != values)
                json_array_append_new(values, row);
        }
        json_array_append_new(layers, json_pack("{s:s, s:s, s:[i,i], s:o}", "layer",
                                                t[i].where, "name", t[i].name, "shape",
                                                t[i].rows, t[i].cols, "values", values));
    }
    free(t);
    model_put(m);
    return reply_json(out, 200, json_pack("{s:s, s:o}", "model", r->param[0], "tensors",
                                          layers));
}

/* ---- prediction ---- */

/* Rows of numbers from a JSON array of arrays into x (new); -1 with the reply filled. */
static int rows_from_json(const json_t *rows, const char *base, int F, float **x, int *n,
                          struct reply *out)
{
    if (!json_is_array(rows) || json_array_size(rows) == 0)
        return reply_field(out, 422, base, "expected a non-empty array of rows of %d numbers",
                           F), -1;
    size_t N = json_array_size(rows);
    if (N > PREDICT_MAX_ROWS)
        return reply_field(out, 413, base, "%zu rows, over the limit of %d per request", N,
                           PREDICT_MAX_ROWS), -1;
    if (!(*x = malloc(sizeof(float) * N * (size_t)F)))
        return -1;
    char p[96];
    for (size_t i = 0; i < N; i++) {
        const json_t *row = json_array_get(rows, i);
        snprintf(p, sizeof p, "%s/%zu", base, i);
        if (!json_is_array(row) || (int)json_array_size(row) != F) {
            reply_field(out, 422, p, "row %zu has %d values; the model takes %d inputs", i,
                        json_is_array(row) ? (int)json_array_size(row) : 1, F);
            free(*x);
            *x = NULL;
            return -1;
        }
        for (int j = 0; j < F; j++) {
            const json_t *v = json_array_get(row, (size_t)j);
            if (!json_is_number(v)) {
                snprintf(p, sizeof p, "%s/%zu/%d", base, i, j);
                reply_field(out, 422, p, "not a number");
                free(*x);
                *x = NULL;
                return -1;
            }
            double d = json_number_value(v);
            if (!isfinite((float)d)) {   /* rounds past float32 (as a CSV row is read) */
                snprintf(p, sizeof p, "%s/%zu/%d", base, i, j);
                reply_field(out, 422, p, "%g is outside the range of float32 (about 3.4e38)", d);
                free(*x);
                *x = NULL;
                return -1;
            }
            (*x)[i * F + j] = (float)d;
        }
    }
    *n = (int)N;
    return 0;
}

/* Rows of numbers from CSV text, read as a dataset upload reads it (csv.c: quotes, CRLF
 * or CR, a UTF-8 BOM, blank lines skipped, numbers as csv_number reads them); a first
 * record that is not all numbers is a header, skipped. */
struct csv_rows {
    int F;
    float *x;
    int n, cap;
    int header;                /* the first record was a header */
    struct reply *out;
};

/* The index of the first field that is not a finite float32 number, -1 when none. */
static int csv_not_number(char **f, const size_t *lens, int nf)
{
    for (int i = 0; i < nf; i++) {
        double v;
        if (!csv_number(f[i], lens[i], &v) || !isfinite((float)v))
            return i;
    }
    return -1;
}

static int csv_row(void *ctx, char **f, const size_t *lens, int nf, long record, long line,
                   struct csv_error *err)
{
    struct csv_rows *c = ctx;
    int bad = csv_not_number(f, lens, nf);
    if (record == 0 && bad >= 0) {
        c->header = 1;
        return 0;
    }
    memset(err, 0, sizeof *err);   /* a failure here fills the reply instead (or none when
                                      memory runs out) */
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
        csv_number(f[i], lens[i], &v);
        row[i] = (float)v;
    }
    c->n++;
    return 0;
}

static int rows_from_csv(const char *s, size_t len, int F, float **x, int *n, struct reply *out)
{
    struct csv_rows c = {.F = F, .out = out};
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

struct scan {
    const char *p, *end;
};

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

/* A JSON number into *out. Up to 19 significant digits and exponents within ±22 are
 * converted exactly in double (one rounding), then to float; anything else goes to
 * strtod. Returns 0, or -1 when the text is not a number. */
static int number(struct scan *s, float *out)
{
    static const double p10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    ws(s);
    const char *q = s->p, *e = s->end;
    int neg = q < e && *q == '-', digits = 0, exp10 = 0, any = 0;
    uint64_t m = 0;
    q += neg;
    /* JSON's grammar: no leading zeros, no bare '.', digits after a '.' */
    if (q >= e || *q < '0' || *q > '9' || (*q == '0' && q + 1 < e && q[1] >= '0' && q[1] <= '9'))
        return -1;
    {
        const char *d = q;
        while (d < e && *d >= '0' && *d <= '9')
            d++;
        if (d < e && *d == '.' && (d + 1 >= e || d[1] < '0' || d[1] > '9'))
            return -1;
    }
    for (; q < e && *q >= '0' && *q <= '9'; q++, any = 1) {
        if (digits < 19 && (m || *q != '0'))
            m = m * 10 + (uint64_t)(*q - '0'), digits++;
        else if (m)
            exp10++;
    }
    if (q < e && *q == '.') {
        for (q++; q < e && *q >= '0' && *q <= '9'; q++, any = 1) {
            if (digits < 19 && (m || *q != '0'))
                m = m * 10 + (uint64_t)(*q - '0'), digits++, exp10--;
            else if (!m)
                exp10--;
        }
    }
    if (!any)
        return -1;
    if (q < e && (*q == 'e' || *q == 'E')) {
        q++;
        int eneg = q < e && *q == '-', ev = 0, edig = 0;
        q += q < e && (*q == '-' || *q == '+');
        for (; q < e && *q >= '0' && *q <= '9'; q++, edig = 1)
            ev = ev < 10000 ? ev * 10 + (*q - '0') : ev;
        if (!edig)
            return -1;
        exp10 += eneg ? -ev : ev;
    }
    double v;
    if (m < (1ull << 53) && exp10 >= -22 && exp10 <= 22) {
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
 * (new). Returns 0, or -1 for anything else (the caller then parses the body with
 * jansson, which names what is wrong). */
static int fast_rows(const char *body, size_t len, int F, float **x, int *n)
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
        if (rows == PREDICT_MAX_ROWS)
            break;   /* the slow path names the limit */
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
                return 0;
            }
        }
        break;
    }
    free(v);
    return -1;
}

/* What to call output row o: a class name or index, or the values themselves. */
static json_t *prediction(const struct model *m, enum nn_loss loss, const float *o, int K)
{
    int cls = -1;
    if (loss == NN_CCE) {
        cls = 0;
        for (int j = 1; j < K; j++)
            cls = o[j] > o[cls] ? j : cls;
    } else if (loss == NN_BCE && K == 1) {
        cls = o[0] > 0.5f;
    } else if (loss == NN_BCE) {
        json_t *v = json_array();
        for (int j = 0; j < K; j++)
            json_array_append_new(v, json_integer(o[j] > 0.5f));
        return v;
    } else if (K == 1) {
        return json_real(o[0]);
    } else {
        json_t *v = json_array();
        for (int j = 0; j < K; j++)
            json_array_append_new(v, json_real(o[j]));
        return v;
    }
    const json_t *name = json_array_get(m->classes, (size_t)cls);
    if (name && (!strcmp(m->kind, "classes") || !strcmp(m->kind, "numbers")))
        return json_incref((json_t *)name);
    return json_integer(cls);
}

/* The rows of a predict body (text/csv, or JSON {"inputs" | "instances": [[F numbers],
 * ...]}) into x (new) and n. fast: try fast_rows first (the handler does); the slow
 * path alone gives the same rows or names the fault. Returns 0, or -1 with the reply
 * filled (its status 0 when memory ran out). */
static int parse_rows(const char *ctype, const char *body, size_t len, int F, int fast,
                      float **x, int *n, struct reply *out)
{
    *x = NULL;
    *n = 0;
    if (!strcmp(ctype, "text/csv"))
        return rows_from_csv(body, len, F, x, n, out);
    if (fast && fast_rows(body, len, F, x, n) == 0)
        return 0;
    json_error_t err;   /* integers as reals: inputs are floats, past int64 too */
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &err);
    const json_t *in = json_object_get(doc, "inputs");
    const char *base = "/inputs";
    if (!in) {
        in = json_object_get(doc, "instances");
        base = "/instances";
    }
    int rc;
    if (!doc) {
        reply_problem(out, 400, NULL, "malformed JSON at line %d, column %d: %s", err.line,
                      err.column, err.text);
        rc = -1;
    } else if (!json_is_object(doc) || !in) {
        reply_field(out, 422, "/inputs", "expected {\"inputs\": [[%d numbers], ...]} "
                    "(or \"instances\")", F);
        rc = -1;
    } else {
        rc = rows_from_json(in, base, F, x, n, out);
    }
    json_decref(doc);
    return rc;
}

int h_models_predict(struct req *r, struct reply *out)
{
    struct model *m = model_get(r->param[0], out);
    if (!m)
        return 0;
    const int F = nn_inputs(m->net), K = nn_outputs(m->net);
    float *x = NULL, *y = NULL;
    int n = 0;
    int rc = parse_rows(r->content_type, r->body, r->len, F, 1, &x, &n, out);
    if (rc < 0 || !(y = malloc(sizeof(float) * (size_t)n * K))) {
        free(x);
        model_put(m);
        return out->status ? 0 : -1;
    }
    if (m->scaler)
        for (int i = 0; i < n; i++)
            for (int j = 0; j < F; j++)
                x[(size_t)i * F + j] = (x[(size_t)i * F + j] - m->scaler[j]) / m->scaler[F + j];
    struct nn_error e;
    if (nn_predict(m->net, NULL, x, n, y, &e) < 0) {
        free(x), free(y);
        model_put(m);
        return reply_problem(out, 500, NULL, "prediction failed: %s", e.msg);
    }
    enum nn_loss loss = nn_get_spec(m->net)->loss;
    json_t *outputs = json_array(), *preds = json_array();
    for (int i = 0; i < n; i++) {
        const float *o = y + (size_t)i * K;
        json_t *row = json_array();
        for (int j = 0; j < K; j++)
            json_array_append_new(row, isfinite(o[j]) ? json_real(o[j]) : json_null());
        json_array_append_new(outputs, row);
        json_array_append_new(preds, prediction(m, loss, o, K));
    }
    free(x);
    free(y);
    model_put(m);
    return reply_json(out, 200, json_pack("{s:s, s:o, s:o}", "model", r->param[0], "outputs",
                                          outputs, "predictions", preds));
}
