/* fuzz_datasets_json.c -- POST /v1/datasets with a JSON body (h_datasets_create), on a
 * temporary database, then GET and DELETE of what it made.
 *
 * The input is the body; what the glue would refuse as malformed JSON (400) is skipped.
 * The harness works out on its own, from the body and the contract (api/openapi.yaml,
 * datasets.h), whether it is a dataset and which: name, rows, features, columns, label
 * kind, classes, every value as float32 (a number is one when it rounds to a finite
 * float32, as a CSV upload reads it). Then:
 *   - a body that is a dataset answers 201 with a Location, and GET answers the same
 *     description: the rows, features, columns, label kind and classes worked out, and
 *     per feature finite stats whose min and max are the values' and whose mean and std
 *     are theirs; the stored arrays load back bit for bit; DELETE answers 204 and then
 *     GET 404;
 *   - a body that is not answers a 4xx problem+json (never 500) whose errors[] pointers
 *     are RFC 6901 pointers into the request, or name a member missing from one of its
 *     objects (a missing required field).
 * Nothing stays in the database after an input.
 */
#include "fuzzutil.h"

#include "domain/domain.h"
#include "api/api.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fz_db_open();
    return 0;
}

/* ---- what the body should give, worked out independently ---- */

struct want {
    int ok;                    /* the body is a dataset */
    size_t rows, features, cols;
    size_t steps;              /* of a row's sequence; 0: rows are not sequences */
    const char *kind;
    json_t *classes;           /* new; json null when none */
    json_t *columns;           /* new */
    float *x, *y;              /* new */
};

/* A JSON number that is a float32: rounds to a finite one. */
static int as_float(const json_t *v, float *f)
{
    if (!json_is_number(v))
        return 0;
    *f = (float)json_number_value(v);
    return isfinite(*f);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int valid_name(const json_t *name)
{
    if (!json_is_string(name))
        return 0;
    const unsigned char *s = (const unsigned char *)json_string_value(name);
    size_t n = json_string_length(name);
    if (n == 0 || n > 256)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;   /* jansson's strings are UTF-8 without NUL */
}

static void work_out(const json_t *b, struct want *w)
{
    memset(w, 0, sizeof *w);
    if (!json_is_object(b) || !valid_name(json_object_get(b, "name")))
        return;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)b, key, v)   /* a field a dataset does not have: 422 */
        if (strcmp(key, "name") && strcmp(key, "features") && strcmp(key, "labels") &&
            strcmp(key, "columns"))
            return;
    const json_t *f = json_object_get(b, "features"), *l = json_object_get(b, "labels"),
                 *c = json_object_get(b, "columns");
    size_t R = json_array_size(f), F = json_array_size(json_array_get(f, 0)), T = 0;
    if (!json_is_array(f) || R == 0 || !json_is_array(json_array_get(f, 0)) || F == 0)
        return;
    if (json_is_array(json_array_get(json_array_get(f, 0), 0))) {   /* rows of steps */
        T = F;
        F = json_array_size(json_array_get(json_array_get(f, 0), 0));
        if (F == 0 || T > 65536)
            return;
    }
    size_t S = T ? T : 1;
    w->x = malloc(R * S * F * sizeof *w->x);
    CHECK(w->x);
    for (size_t i = 0; i < R; i++) {
        const json_t *row = json_array_get(f, i);
        if (!json_is_array(row) || json_array_size(row) != (T ? T : F))
            return;
        for (size_t t = 0; t < S; t++) {
            const json_t *step = T ? json_array_get(row, t) : row;
            if (!json_is_array(step) || json_array_size(step) != F)
                return;
            for (size_t j = 0; j < F; j++)
                if (!as_float(json_array_get(step, j), &w->x[(i * S + t) * F + j]))
                    return;
        }
    }
    w->steps = T;
    if (c) {
        if (!json_is_array(c) || json_array_size(c) != F)
            return;
        for (size_t j = 0; j < F; j++)
            if (!json_is_string(json_array_get(c, j)))
                return;
        w->columns = json_deep_copy(c);
    } else {
        w->columns = json_array();
        for (size_t j = 0; j < F; j++) {
            char name[32];
            snprintf(name, sizeof name, "x%zu", j);
            json_array_append_new(w->columns, json_string(name));
        }
    }
    if (!json_is_array(l) || json_array_size(l) != R)
        return;
    const json_t *l0 = json_array_get(l, 0);
    size_t K = json_is_array(l0) ? json_array_size(l0) : 1;
    if (K == 0)
        return;
    w->y = malloc(R * K * sizeof *w->y);
    CHECK(w->y);
    if (json_is_string(l0)) {
        const char **names = malloc(R * sizeof *names), **sorted = malloc(R * sizeof *sorted);
        CHECK(names && sorted);
        int ok = 1;
        for (size_t i = 0; i < R && ok; i++) {
            const json_t *v = json_array_get(l, i);
            ok = json_is_string(v) && json_string_length(v) > 0;
            names[i] = ok ? json_string_value(v) : NULL;
        }
        size_t k = 0;
        if (ok) {
            memcpy(sorted, names, R * sizeof *names);
            qsort(sorted, R, sizeof *sorted, cmp_str);
            for (size_t i = 0; i < R; i++)
                if (k == 0 || strcmp(sorted[k - 1], sorted[i]))
                    sorted[k++] = sorted[i];
            ok = k <= DATASET_MAX_CLASSES;
        }
        if (ok) {
            w->classes = json_array();
            for (size_t i = 0; i < k; i++)
                json_array_append_new(w->classes, json_string(sorted[i]));
            for (size_t i = 0; i < R; i++) {
                size_t at = 0;
                while (strcmp(sorted[at], names[i]))
                    at++;
                w->y[i] = (float)at;
            }
            w->kind = "classes";
        }
        free(names);
        free(sorted);
        if (!ok)
            return;
    } else if (json_is_number(l0)) {
        int whole = 1;
        unsigned char seen[1024] = {0};
        for (size_t i = 0; i < R; i++) {
            if (!as_float(json_array_get(l, i), &w->y[i]))
                return;
            float v = w->y[i];
            if (v >= 0 && v <= 1023 && v == floorf(v))
                seen[(int)v] = 1;
            else
                whole = 0;
        }
        w->kind = "numbers";
        if (whole) {
            w->classes = json_array();
            for (int v = 0; v < 1024; v++)
                if (seen[v])
                    json_array_append_new(w->classes, json_integer(v));
        }
    } else if (json_is_array(l0)) {
        int onehot = 1;
        for (size_t i = 0; i < R; i++) {
            const json_t *row = json_array_get(l, i);
            if (!json_is_array(row) || json_array_size(row) != K)
                return;
            int ones = 0;
            for (size_t j = 0; j < K; j++) {
                float *v = &w->y[i * K + j];
                if (!as_float(json_array_get(row, j), v))
                    return;
                ones += *v == 1;
                onehot = onehot && (*v == 0 || *v == 1);
            }
            onehot = onehot && ones == 1;
        }
        w->kind = onehot ? "onehot" : "vectors";
        if (onehot) {
            w->classes = json_array();
            for (size_t j = 0; j < K; j++)
                json_array_append_new(w->classes, json_integer((json_int_t)j));
        }
    } else {
        return;
    }
    if (!w->classes)
        w->classes = json_null();
    w->rows = R;
    w->features = F;
    w->cols = K;
    w->ok = 1;
}

static void want_free(struct want *w)
{
    json_decref(w->classes);
    json_decref(w->columns);
    free(w->x);
    free(w->y);
}

/* ---- checks ---- */

/* The stats of feature j, against the values. */
static void check_stats(const json_t *s, const struct want *w, size_t j)
{
    CHECK(json_is_object(s));
    CHECK(json_equal(json_object_get(s, "name"), json_array_get(w->columns, j)));
    const json_t *jmin = json_object_get(s, "min"), *jmax = json_object_get(s, "max"),
                 *jmean = json_object_get(s, "mean"), *jstd = json_object_get(s, "std");
    CHECK(json_is_number(jmin) && json_is_number(jmax) && json_is_number(jmean) &&
          json_is_number(jstd));
    double mn = json_number_value(jmin), mx = json_number_value(jmax),
           mean = json_number_value(jmean), sd = json_number_value(jstd);
    CHECK(isfinite(mn) && isfinite(mx) && isfinite(mean) && isfinite(sd) && sd >= 0);
    float lo = w->x[j], hi = w->x[j];
    double sum = 0;
    size_t n = w->rows * (w->steps ? w->steps : 1);   /* every step of every row */
    for (size_t i = 0; i < n; i++) {
        float v = w->x[i * w->features + j];
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
        sum += v;
    }
    double m = sum / (double)n, m2 = 0;
    for (size_t i = 0; i < n; i++) {
        double d = w->x[i * w->features + j] - m;
        m2 += d * d;
    }
    double want_sd = sqrt(m2 / (double)n);
    CHECK((float)mn == lo && (float)mx == hi);
    CHECK((float)mn <= (float)mean && (float)mean <= (float)mx);
    CHECK(fabs(mean - m) <= 1e-8 * fabs(m) + 1e-300);
    CHECK(fabs(sd - want_sd) <= 1e-8 * want_sd + 1e-300);
}

/* A description (GET's and 201's) against what was worked out. */
static void check_description(const json_t *d, const json_t *body, const struct want *w)
{
    CHECK(json_is_object(d));
    CHECK(json_is_string(json_object_get(d, "id")));
    CHECK(json_is_string(json_object_get(d, "created_at")));
    CHECK(json_equal(json_object_get(d, "name"), json_object_get(body, "name")));
    CHECK(json_integer_value(json_object_get(d, "rows")) == (json_int_t)w->rows);
    CHECK(json_integer_value(json_object_get(d, "features")) == (json_int_t)w->features);
    CHECK(json_integer_value(json_object_get(d, "timesteps")) == (json_int_t)w->steps);
    CHECK(json_integer_value(json_object_get(d, "label_cols")) == (json_int_t)w->cols);
    CHECK(!strcmp(json_string_value(json_object_get(d, "label_kind")), w->kind));
    CHECK(json_equal(json_object_get(d, "classes"), w->classes));
    CHECK(json_equal(json_object_get(d, "columns"), w->columns));
    CHECK(json_is_null(json_object_get(d, "label_column")));
    const json_t *stats = json_object_get(d, "stats");
    CHECK(json_array_size(stats) == w->features);
    for (size_t j = 0; j < w->features; j++)
        check_stats(json_array_get(stats, j), w, j);
}

static void check_created(const struct reply *rp, const json_t *body, const struct want *w)
{
    CHECK(rp->content_type && !strcmp(rp->content_type, "application/json"));
    json_t *d = fz_json(rp);
    check_description(d, body, w);
    const char *id = json_string_value(json_object_get(d, "id"));
    char loc[128];
    snprintf(loc, sizeof loc, "/v1/datasets/%s", id);
    CHECK(!strcmp(rp->location, loc));

    struct reply g = fz_call(h_datasets_get, "GET", NULL, id, NULL);
    CHECK(g.status == 200);
    json_t *gd = fz_json(&g);
    CHECK(json_equal(gd, d));
    json_decref(gd);
    fz_reply_free(&g);

    struct dataset ds;
    CHECK(store_dataset_load(id, &ds) == 0);
    CHECK(ds.rows == (int)w->rows && ds.features == (int)w->features &&
          ds.label_cols == (int)w->cols && ds.timesteps == (int)w->steps);
    CHECK(!memcmp(ds.x, w->x, w->rows * (w->steps ? w->steps : 1) * w->features *
                                  sizeof(float)));
    CHECK(!memcmp(ds.y, w->y, w->rows * w->cols * sizeof(float)));
    dataset_free(&ds);

    struct reply del = fz_call(h_datasets_delete, "DELETE", NULL, id, NULL);
    CHECK(del.status == 204);
    fz_reply_free(&del);
    g = fz_call(h_datasets_get, "GET", NULL, id, NULL);
    json_decref(fz_problem(&g, 404));
    fz_reply_free(&g);
    CHECK(store_dataset_load(id, &ds) == 1);
    json_decref(d);
}

static void check_refused(const struct reply *rp, const json_t *body)
{
    CHECK(rp->status == 413 || rp->status == 422);
    json_t *p = fz_problem(rp, rp->status);
    const json_t *errors = json_object_get(p, "errors");
    size_t i;
    const json_t *e;
    json_array_foreach(errors, i, e) {
        const char *ptr = json_string_value(json_object_get(e, "pointer"));
        CHECK(ptr);   /* a JSON body's faults are fields, not parameters */
        CHECK(fz_pointer(body, ptr, NULL) != FZ_PTR_BAD);
    }
    json_decref(p);
}

/* Mutations that know JSON (fuzzutil.h), with the names of a dataset. */
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max, unsigned seed)
{
    static const char *const keys[] = {"name", "features", "labels", "columns", "x", NULL};
    static const char *const strings[] = {"a", "b", "setosa", "", "x0", "\xc3\xa9", "a/b~",
                                          "\x7f", NULL};
    return fz_mutate(data, size, max, seed, 0, "{\"name\": \"d\", \"features\": [[1, 2], "
                     "[3, 4]], \"labels\": [0, 1]}", keys, strings);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *body = fz_parse(data, size);
    if (!body)
        return 0;
    struct want w;
    work_out(body, &w);
    struct reply rp = fz_call(h_datasets_create, "POST", body, NULL, NULL);
    if (w.ok) {
        CHECK(rp.status == 201);
        check_created(&rp, body, &w);
    } else {
        check_refused(&rp, body);
    }
    fz_reply_free(&rp);
    want_free(&w);
    json_decref(body);
    return 0;
}
