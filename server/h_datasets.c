/* h_datasets.c -- /v1/datasets: upload (a JSON body, or text/csv parsed as it streams in by
 * csv.c), describe, list, delete; and what building a dataset needs besides the CSV
 * parser: label kinds, per-feature stats.
 *
 * Errors: a JSON upload's fault names its field as a JSON pointer ("/features/12/3",
 * "/labels/5"); a CSV's names its place as csv.h says ("/rows/12/columns/3"); a query
 * parameter's fault is {"parameter": "limit", "detail": ...}. 400 for a malformed CSV or
 * parameter, 413 for a dataset over what one holds, 422 for content that cannot be a
 * dataset (missing fields, wrong types, ragged rows, non-numbers, NaN, no rows).
 */
#include "csv.h"
#include "datasets.h"
#include "handlers.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- shared by the JSON and CSV paths ---- */

void dataset_build_free(struct dataset_build *b)
{
    if (!b)
        return;
    free(b->d.x);
    free(b->d.y);
    json_decref(b->d.classes);
    json_decref(b->columns);
    json_decref(b->label_column);
    memset(b, 0, sizeof *b);
}

json_t *dataset_number_classes(const float *y, long rows)
{
    unsigned char seen[1024] = {0};
    for (long i = 0; i < rows; i++) {
        float v = y[i];
        if (!(v >= 0 && v <= 1023 && v == floorf(v)))
            return NULL;
        seen[(int)v] = 1;
    }
    json_t *a = json_array();
    for (int k = 0; a && k < 1024; k++)
        if (seen[k] && json_array_append_new(a, json_integer(k)) < 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* The double with the fewest digits that is the same float as f: 4.3f answers 4.3, not
 * 4.30000019. */
static double shortest(float f)
{
    char buf[32];
    for (int p = 6; p < 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)f);
        double d = strtod(buf, NULL);
        if ((float)d == f)
            return d;
    }
    return (double)f;
}

/* Per feature: {"name","min","mean","max","std"} (std: population). New, NULL when out of
 * memory. */
static json_t *stats_json(const struct dataset_build *b)
{
    int F = b->d.features;
    long R = b->d.rows;
    double *sum = calloc((size_t)F, sizeof *sum), *m2 = calloc((size_t)F, sizeof *m2);
    float *lo = malloc((size_t)F * sizeof *lo), *hi = malloc((size_t)F * sizeof *hi);
    json_t *a = json_array();
    if (!sum || !m2 || !lo || !hi || !a)
        goto fail;
    memcpy(lo, b->d.x, (size_t)F * sizeof *lo);
    memcpy(hi, b->d.x, (size_t)F * sizeof *hi);
    for (long r = 0; r < R; r++) {
        const float *x = b->d.x + (size_t)r * (size_t)F;
        for (int j = 0; j < F; j++) {
            sum[j] += x[j];
            lo[j] = x[j] < lo[j] ? x[j] : lo[j];
            hi[j] = x[j] > hi[j] ? x[j] : hi[j];
        }
    }
    for (int j = 0; j < F; j++)
        sum[j] /= (double)R;   /* now the mean */
    for (long r = 0; r < R; r++) {
        const float *x = b->d.x + (size_t)r * (size_t)F;
        for (int j = 0; j < F; j++)
            m2[j] += (x[j] - sum[j]) * (x[j] - sum[j]);
    }
    for (int j = 0; j < F; j++) {
        json_t *s = json_pack("{s:O, s:f, s:f, s:f, s:f}", "name",
                              json_array_get(b->columns, (size_t)j), "min", shortest(lo[j]),
                              "mean", sum[j], "max", shortest(hi[j]), "std",
                              sqrt(m2[j] / (double)R));
        if (json_array_append_new(a, s) < 0)
            goto fail;
    }
    free(sum);
    free(m2);
    free(lo);
    free(hi);
    return a;
fail:
    free(sum);
    free(m2);
    free(lo);
    free(hi);
    json_decref(a);
    return NULL;
}

/* Stores b under name and answers 201 with its description and Location. Returns 0, or -1
 * (500) on a storage error. b stays the caller's. */
static int store_and_reply(struct dataset_build *b, const char *name, struct reply *out)
{
    json_t *stats = stats_json(b);
    if (!stats)
        return -1;
    int rc = db_dataset_insert(b, name, stats);
    json_decref(stats);
    if (rc == -2)
        return reply_problem(out, 413, NULL, "the dataset (%d rows of %d features) is over the "
                             "largest the storage holds", b->d.rows, b->d.features);
    if (rc < 0)
        return -1;
    json_t *desc = dataset_describe(b->d.id);
    if (!desc)
        return -1;
    snprintf(out->location, sizeof out->location, "/v1/datasets/%s", b->d.id);
    return reply_json(out, 201, desc);
}

/* Why a name is not acceptable, or NULL. */
static const char *bad_name(const char *s, size_t n)
{
    if (n == 0)
        return "is empty";
    if (n > DATASET_MAX_NAME)
        return "is longer than 256 bytes";
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return "holds a control character";
    if (!csv_utf8(s, n))
        return "is not valid UTF-8 text";
    return NULL;
}

/* An id from the path, safe to quote in a message. */
static const char *echo_id(const char *id, char *buf, size_t cap)
{
    csv_echo(buf, cap, id, strlen(id), 64);
    return buf;
}

/* ---- JSON uploads ---- */

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

/* A JSON number as a float32, or an error reply at pointer. Returns 0 or -1 (replied). */
static int json_float(const json_t *v, float *f, const char *pointer, struct reply *out)
{
    if (!json_is_number(v)) {
        reply_field(out, 422, pointer, "must be a number, not %s", type_name(v));
        return -1;
    }
    /* a number is taken when it rounds to a finite float32, as a CSV upload reads it:
     * 3.40282347e+38, FLT_MAX as the service prints it, is one */
    double d = json_number_value(v);
    if (!isfinite((float)d)) {
        reply_field(out, 422, pointer, "%g is outside the range of float32 (about 3.4e38)", d);
        return -1;
    }
    *f = (float)d;
    return 0;
}

/* /features into b (x, rows, features, columns). 0, or -1 after replying. */
static int json_features(const json_t *body, struct dataset_build *b, struct reply *out)
{
    const json_t *f = json_object_get(body, "features");
    char p[96];
    if (!f)
        return reply_field(out, 422, "/features", "is missing: an array of rows, each an "
                           "array of numbers"), -1;
    if (!json_is_array(f))
        return reply_field(out, 422, "/features", "must be an array of rows (arrays of "
                           "numbers), not %s", type_name(f)), -1;
    size_t R = json_array_size(f);
    if (R == 0)
        return reply_field(out, 422, "/features", "has no rows"), -1;
    const json_t *r0 = json_array_get(f, 0);
    if (!json_is_array(r0))
        return reply_field(out, 422, "/features/0", "must be an array of numbers, not %s",
                           type_name(r0)), -1;
    size_t F = json_array_size(r0);
    if (F == 0)
        return reply_field(out, 422, "/features/0", "is empty: a row needs at least one "
                           "number"), -1;
    if (F > CSV_MAX_COLUMNS || R * F > (size_t)DATASET_MAX_VALUES)
        return reply_field(out, 413, "/features", "%zu rows of %zu features are over %ld "
                           "values, the most one dataset holds", R, F, DATASET_MAX_VALUES), -1;
    if (!(b->d.x = malloc(R * F * sizeof *b->d.x)))
        return -1;
    for (size_t i = 0; i < R; i++) {
        const json_t *row = json_array_get(f, i);
        snprintf(p, sizeof p, "/features/%zu", i);
        if (!json_is_array(row))
            return reply_field(out, 422, p, "must be an array of numbers, not %s",
                               type_name(row)), -1;
        if (json_array_size(row) != F)
            return reply_field(out, 422, p, "has %zu values, but /features/0 has %zu: every "
                               "row needs the same number", json_array_size(row), F), -1;
        for (size_t j = 0; j < F; j++) {
            snprintf(p, sizeof p, "/features/%zu/%zu", i, j);
            if (json_float(json_array_get(row, j), &b->d.x[i * F + j], p, out) < 0)
                return -1;
        }
    }
    b->d.rows = (int)R;
    b->d.features = (int)F;
    const json_t *cols = json_object_get(body, "columns");
    if (cols) {
        if (!json_is_array(cols) || json_array_size(cols) != F)
            return reply_field(out, 422, "/columns", "must be an array of %zu feature names "
                               "(strings), one per value of a row", F), -1;
        for (size_t j = 0; j < F; j++) {
            const json_t *c = json_array_get(cols, j);
            snprintf(p, sizeof p, "/columns/%zu", j);
            if (!json_is_string(c) || strlen(json_string_value(c)) != json_string_length(c))
                return reply_field(out, 422, p, "must be a feature name (a string without "
                                   "NUL characters)"), -1;
        }
        b->columns = json_deep_copy(cols);
    } else {
        b->columns = json_array();
        for (size_t j = 0; b->columns && j < F; j++) {
            snprintf(p, sizeof p, "x%zu", j);
            if (json_array_append_new(b->columns, json_string(p)) < 0)
                return -1;
        }
    }
    return b->columns ? 0 : -1;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* String labels: classes sorted, y the index of each. 0, or -1 after replying. */
static int json_class_labels(const json_t *labels, struct dataset_build *b, struct reply *out)
{
    size_t R = json_array_size(labels), k = 0;
    const char **names = malloc(R * sizeof *names);
    if (!names)
        return -1;
    char p[64];
    for (size_t i = 0; i < R; i++) {
        const json_t *v = json_array_get(labels, i);
        names[i] = json_string_value(v);
        snprintf(p, sizeof p, "/labels/%zu", i);
        if (!*names[i] || strlen(names[i]) != json_string_length(v)) {
            const char *why = *names[i] ? "holds a NUL character" : "is an empty class name";
            free(names);
            return reply_field(out, 422, p, "%s", why), -1;
        }
    }
    const char **sorted = malloc(R * sizeof *sorted);
    if (!sorted) {
        free(names);
        return -1;
    }
    memcpy(sorted, names, R * sizeof *sorted);
    qsort(sorted, R, sizeof *sorted, cmp_str);
    for (size_t i = 0; i < R; i++)
        if (k == 0 || strcmp(sorted[k - 1], sorted[i]) != 0)
            sorted[k++] = sorted[i];
    int rc = -1;
    if (k > DATASET_MAX_CLASSES) {
        reply_field(out, 422, "/labels", "has %zu distinct class names, more than %d", k,
                    DATASET_MAX_CLASSES);
        goto done;
    }
    b->d.classes = json_array();
    for (size_t i = 0; b->d.classes && i < k; i++)
        if (json_array_append_new(b->d.classes, json_string(sorted[i])) < 0)
            goto done;
    for (size_t i = 0; i < R; i++) {
        const char **at = bsearch(&names[i], sorted, k, sizeof *sorted, cmp_str);
        b->d.y[i] = (float)(at - sorted);
    }
    snprintf(b->d.label_kind, sizeof b->d.label_kind, "classes");
    rc = b->d.classes ? 0 : -1;
done:
    free(names);
    free(sorted);
    return rc;
}

/* /labels into b (y, label_cols, label_kind, classes); rows known. 0, or -1 after
 * replying. */
static int json_labels(const json_t *body, struct dataset_build *b, struct reply *out)
{
    const json_t *labels = json_object_get(body, "labels");
    size_t R = (size_t)b->d.rows;
    char p[96];
    if (!labels)
        return reply_field(out, 422, "/labels", "is missing: one label per row (numbers, "
                           "class names, or rows of numbers such as one-hot)"), -1;
    if (!json_is_array(labels))
        return reply_field(out, 422, "/labels", "must be an array with one label per row, "
                           "not %s", type_name(labels)), -1;
    if (json_array_size(labels) != R)
        return reply_field(out, 422, "/labels", "has %zu labels, but /features has %zu rows",
                           json_array_size(labels), R), -1;
    const json_t *l0 = json_array_get(labels, 0);
    if (!json_is_number(l0) && !json_is_string(l0) && !json_is_array(l0))
        return reply_field(out, 422, "/labels/0", "must be a number, a class name (string) "
                           "or an array of numbers, not %s", type_name(l0)), -1;
    for (size_t i = 1; i < R; i++) {
        const json_t *v = json_array_get(labels, i);
        if (strcmp(type_name(v), type_name(l0)) != 0) {
            snprintf(p, sizeof p, "/labels/%zu", i);
            return reply_field(out, 422, p, "is %s, but /labels/0 is %s: all labels must be of "
                               "one kind", type_name(v), type_name(l0)), -1;
        }
    }
    size_t K = json_is_array(l0) ? json_array_size(l0) : 1;
    if (K == 0)
        return reply_field(out, 422, "/labels/0", "is empty: a label row needs at least one "
                           "number"), -1;
    if (K > CSV_MAX_COLUMNS || R * K > (size_t)DATASET_MAX_VALUES)
        return reply_field(out, 413, "/labels", "%zu rows of %zu values are too many", R, K),
               -1;
    if (!(b->d.y = malloc(R * K * sizeof *b->d.y)))
        return -1;
    b->d.label_cols = (int)K;
    if (json_is_string(l0))
        return json_class_labels(labels, b, out);
    if (json_is_number(l0)) {
        for (size_t i = 0; i < R; i++) {
            snprintf(p, sizeof p, "/labels/%zu", i);
            if (json_float(json_array_get(labels, i), &b->d.y[i], p, out) < 0)
                return -1;
        }
        snprintf(b->d.label_kind, sizeof b->d.label_kind, "numbers");
        b->d.classes = dataset_number_classes(b->d.y, (long)R);
        return 0;
    }
    int onehot = 1;
    for (size_t i = 0; i < R; i++) {
        const json_t *row = json_array_get(labels, i);
        snprintf(p, sizeof p, "/labels/%zu", i);
        if (json_array_size(row) != K)
            return reply_field(out, 422, p, "has %zu values, but /labels/0 has %zu",
                               json_array_size(row), K), -1;
        int ones = 0;
        for (size_t j = 0; j < K; j++) {
            float *y = &b->d.y[i * K + j];
            snprintf(p, sizeof p, "/labels/%zu/%zu", i, j);
            if (json_float(json_array_get(row, j), y, p, out) < 0)
                return -1;
            ones += *y == 1;
            onehot = onehot && (*y == 0 || *y == 1);
        }
        onehot = onehot && ones == 1;
    }
    if (onehot) {
        snprintf(b->d.label_kind, sizeof b->d.label_kind, "onehot");
        b->d.classes = json_array();
        for (size_t j = 0; b->d.classes && j < K; j++)
            if (json_array_append_new(b->d.classes, json_integer((json_int_t)j)) < 0)
                return -1;
        return b->d.classes ? 0 : -1;
    }
    snprintf(b->d.label_kind, sizeof b->d.label_kind, "vectors");
    return 0;
}

/* POST /v1/datasets with {"name", "features", "labels"} (and optional "columns"). */
int h_datasets_create(struct req *r, struct reply *out)
{
    const json_t *body = r->json;
    if (!body)
        return reply_problem(out, 400, NULL, "the body is empty: send JSON {\"name\", "
                             "\"features\", \"labels\"}, or a CSV as text/csv");
    if (!json_is_object(body))
        return reply_field(out, 422, "", "the body must be a JSON object {\"name\", "
                           "\"features\", \"labels\"}, not %s", type_name(body));
    const json_t *name = json_object_get(body, "name");
    if (!name)
        return reply_field(out, 422, "/name", "is missing: a name for the dataset (a string)");
    const char *why = json_is_string(name) ? bad_name(json_string_value(name),
                                                      json_string_length(name))
                                           : "must be a string";
    if (why)
        return reply_field(out, 422, "/name", "%s", why);
    struct dataset_build b;
    memset(&b, 0, sizeof b);
    int rc = -1;
    if (json_features(body, &b, out) == 0 && json_labels(body, &b, out) == 0)
        rc = store_and_reply(&b, json_string_value(name), out);
    else if (out->status)
        rc = 0;   /* replied with the fault */
    dataset_build_free(&b);
    return rc;
}

/* ---- CSV uploads, streamed ---- */

struct csv_upload {
    struct csv_dataset *csv;
    char name[DATASET_MAX_NAME + 1];
};

static int reply_csv_error(struct reply *out, const struct csv_error *e)
{
    json_t *errors = NULL;
    if (e->parameter[0])
        errors = json_pack("[{s:s, s:s}]", "parameter", e->parameter, "detail", e->detail);
    else if (e->pointer[0])
        errors = json_pack("[{s:s, s:s}]", "pointer", e->pointer, "detail", e->detail);
    return reply_problem(out, e->status, errors, "%s", e->detail);
}

/* ?name= (default "unnamed"), ?label=, ?header=auto|true|false. */
static void *csv_begin(struct req *r, struct reply *out)
{
    const char *name = req_query(r, "name"), *label = req_query(r, "label");
    const char *header = req_query(r, "header");
    if (!name)
        name = "unnamed";
    const char *why = bad_name(name, strlen(name));
    if (why) {
        reply_param(out, 400, "name", "?name= %s", why);
        return NULL;
    }
    enum csv_header mode = CSV_HEADER_AUTO;
    if (header && (!strcmp(header, "true") || !strcmp(header, "1") || !strcmp(header, "yes")))
        mode = CSV_HEADER_YES;
    else if (header && (!strcmp(header, "false") || !strcmp(header, "0") ||
                        !strcmp(header, "no")))
        mode = CSV_HEADER_NO;
    else if (header && *header && strcmp(header, "auto") != 0) {
        char e[80];
        csv_echo(e, sizeof e, header, strlen(header), 40);
        reply_param(out, 400, "header", "?header=%s: say true (the first row names the "
                    "columns), false (it is data) or auto (the default: detected)", e);
        return NULL;
    }
    struct csv_error err;
    struct csv_upload *u = calloc(1, sizeof *u);
    if (!u) {
        reply_problem(out, 500, NULL, "out of memory");
        return NULL;
    }
    if (!(u->csv = csv_dataset_new(label, mode, &err))) {
        free(u);
        reply_csv_error(out, &err);
        return NULL;
    }
    snprintf(u->name, sizeof u->name, "%s", name);
    return u;
}

static int csv_chunk(void *ctx, const char *data, size_t len, struct reply *out)
{
    struct csv_upload *u = ctx;
    struct csv_error err;
    if (csv_dataset_feed(u->csv, data, len, &err) == 0)
        return 0;
    reply_csv_error(out, &err);
    return -1;
}

static int csv_end(void *ctx, struct req *r, struct reply *out)
{
    (void)r;
    struct csv_upload *u = ctx;
    int rc = 0;
    if (out) {
        struct dataset_build b;
        struct csv_error err;
        if (csv_dataset_end(u->csv, &b, &err) < 0) {
            rc = reply_csv_error(out, &err);
        } else {
            rc = store_and_reply(&b, u->name, out);
            dataset_build_free(&b);
        }
    }
    csv_dataset_free(u->csv);
    free(u);
    return rc;
}

const struct stream datasets_csv_stream = {csv_begin, csv_chunk, csv_end};

/* ---- describe, list, delete ---- */

int h_datasets_get(struct req *r, struct reply *out)
{
    json_t *d = dataset_describe(r->param[0]);
    char e[100];
    if (!d)
        return reply_not_found(out, "dataset", echo_id(r->param[0], e, sizeof e));
    return reply_json(out, 200, d);
}

/* ?limit= (1..1000, default 50) &after= (the "next" of the previous page). */
int h_datasets_list(struct req *r, struct reply *out)
{
    const char *after = req_query(r, "after");
    int limit;
    if (req_limit(r, out, 1000, &limit) < 0)
        return 0;
    if (after && !*after)
        after = NULL;
    json_t *items;
    char next[32];
    int rc = db_dataset_list(limit, after, &items, next);
    if (rc == 1) {
        char e[100];
        return reply_param(out, 400, "after", "?after=%s: no dataset has that id; pass the "
                           "\"next\" of the previous page", echo_id(after, e, sizeof e));
    }
    if (rc < 0)
        return -1;
    return reply_json(out, 200, json_pack("{s:o, s:o}", "items", items, "next",
                                          *next ? json_string(next) : json_null()));
}

int h_datasets_delete(struct req *r, struct reply *out)
{
    char e[100];
    int rc = db_dataset_delete(r->param[0]);
    if (rc == 1)
        return reply_not_found(out, "dataset", echo_id(r->param[0], e, sizeof e));
    if (rc == 2)
        return reply_problem(out, 409, NULL, "dataset %s is used by a queued or running job: "
                             "cancel the job, or wait until it ends", r->param[0]);
    if (rc < 0)
        return -1;
    free(out->body);
    out->body = NULL;
    out->len = 0;
    out->status = 204;
    out->content_type = NULL;
    return 0;
}
