/* datasets.c -- building datasets: from a JSON upload, their label kinds and classes, the
 * per-feature statistics, and how a dataset is shown (domain.h). The CSV path is
 * csv_dataset.c's.
 *
 * Faults of a JSON upload name their field as a JSON pointer ("/features/12/3",
 * "/labels/5"): 422 for content that cannot be a dataset (missing fields, wrong types,
 * ragged rows, NaN, no rows), 413 for a dataset over what one holds.
 */
#include "domain.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fault_at(struct fault *f, int status, const char *pointer, const char *fmt, ...)
{
    memset(f, 0, sizeof *f);
    f->status = status;
    snprintf(f->pointer, sizeof f->pointer, "%s", pointer);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->detail, sizeof f->detail, fmt, ap);
    va_end(ap);
    return -1;
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

/* Per feature: {"name","min","mean","max","std"} (std: population), over every step of
 * every row of a dataset of sequences. New, NULL when out of memory. */
static json_t *stats_json(const struct dataset *b)
{
    int F = b->features;
    long R = (long)b->rows * (b->timesteps > 0 ? b->timesteps : 1);   /* every step a row */
    double *sum = calloc((size_t)F, sizeof *sum), *m2 = calloc((size_t)F, sizeof *m2);
    float *lo = malloc((size_t)F * sizeof *lo), *hi = malloc((size_t)F * sizeof *hi);
    json_t *a = json_array();
    if (!sum || !m2 || !lo || !hi || !a)
        goto fail;
    memcpy(lo, b->x, (size_t)F * sizeof *lo);
    memcpy(hi, b->x, (size_t)F * sizeof *hi);
    for (long r = 0; r < R; r++) {
        const float *x = b->x + (size_t)r * (size_t)F;
        for (int j = 0; j < F; j++) {
            sum[j] += x[j];
            lo[j] = x[j] < lo[j] ? x[j] : lo[j];
            hi[j] = x[j] > hi[j] ? x[j] : hi[j];
        }
    }
    for (int j = 0; j < F; j++)
        sum[j] /= (double)R;   /* now the mean */
    for (long r = 0; r < R; r++) {
        const float *x = b->x + (size_t)r * (size_t)F;
        for (int j = 0; j < F; j++)
            m2[j] += (x[j] - sum[j]) * (x[j] - sum[j]);
    }
    for (int j = 0; j < F; j++) {
        json_t *s = json_pack("{s:O, s:f, s:f, s:f, s:f}", "name",
                              json_array_get(b->columns, (size_t)j), "min", shortest_double(lo[j]),
                              "mean", sum[j], "max", shortest_double(hi[j]), "std",
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

/* Why a name is not acceptable, or NULL. */
const char *dataset_bad_name(const char *s, size_t n)
{
    if (n == 0)
        return "is empty";
    if (n > DATASET_MAX_NAME)
        return "is longer than 256 bytes";
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return "holds a control character";
    if (!utf8_valid(s, n))
        return "is not valid UTF-8 text";
    return NULL;
}

/* ---- JSON uploads ---- */

/* What a label is, for "all labels must be of one kind": a number is one, written with a
 * fraction or not; otherwise its JSON kind. */
static const char *label_form(const json_t *v)
{
    return json_is_number(v) ? "a number" : json_kind(v);
}

/* A JSON number as a float32, or a fault at pointer. Returns 0 or -1. */
static int json_float(const json_t *v, float *f, const char *pointer, struct fault *out)
{
    if (!json_is_number(v)) {
        fault_at(out, 422, pointer, "must be a number, not %s", json_kind(v));
        return -1;
    }
    /* a number is taken when it rounds to a finite float32, as a CSV upload reads it:
     * 3.40282347e+38, FLT_MAX as the service prints it, is one */
    double d = json_number_value(v);
    if (!isfinite((float)d)) {
        fault_at(out, 422, pointer, "%g is outside the range of float32 (about 3.4e38)", d);
        return -1;
    }
    *f = (float)d;
    return 0;
}

/* Row i of /features (row, at p) into x: F numbers, or with T > 0 T steps of F numbers.
 * 0, or -1 with the fault. */
static int json_row(const json_t *row, size_t i, size_t T, size_t F, float *x,
                    struct fault *out)
{
    char p[96];
    snprintf(p, sizeof p, "/features/%zu", i);
    const char *what = T ? "an array of steps (arrays of numbers)" : "an array of numbers";
    if (!json_is_array(row))
        return fault_at(out, 422, p, "must be %s, not %s", what, json_kind(row));
    if (json_array_size(row) != (T ? T : F))
        return fault_at(out, 422, p, "has %zu %s, but /features/0 has %zu: every row needs "
                        "the same number", json_array_size(row), T ? "steps" : "values",
                        T ? T : F);
    for (size_t t = 0; t < (T ? T : 1); t++) {
        const json_t *step = T ? json_array_get(row, t) : row;
        if (T) {
            snprintf(p, sizeof p, "/features/%zu/%zu", i, t);
            if (!json_is_array(step))
                return fault_at(out, 422, p, "must be a step (an array of numbers), not %s",
                                json_kind(step));
            if (json_array_size(step) != F)
                return fault_at(out, 422, p, "has %zu values, but /features/0/0 has %zu: "
                                "every step of every row needs the same number",
                                json_array_size(step), F);
        }
        for (size_t j = 0; j < F; j++) {
            if (T)
                snprintf(p, sizeof p, "/features/%zu/%zu/%zu", i, t, j);
            else
                snprintf(p, sizeof p, "/features/%zu/%zu", i, j);
            if (json_float(json_array_get(step, j), &x[t * F + j], p, out) < 0)
                return -1;
        }
    }
    return 0;
}

/* /features into b (x, rows, features, timesteps, columns): rows of numbers, or rows of
 * steps of numbers (a dataset of sequences; its features are those of a step). 0, or -1
 * with the fault (none: out of memory). */
static int json_features(const json_t *body, long max, struct dataset *b, struct fault *out)
{
    const json_t *f = json_object_get(body, "features");
    char p[96];
    if (!f)
        return fault_at(out, 422, "/features", "is missing: an array of rows, each an "
                           "array of numbers (or of steps, arrays of numbers)");
    if (!json_is_array(f))
        return fault_at(out, 422, "/features", "must be an array of rows (arrays of "
                           "numbers), not %s", json_kind(f));
    size_t R = json_array_size(f);
    if (R == 0)
        return fault_at(out, 422, "/features", "has no rows");
    const json_t *r0 = json_array_get(f, 0);
    if (!json_is_array(r0))
        return fault_at(out, 422, "/features/0", "must be an array of numbers, not %s",
                           json_kind(r0));
    size_t T = 0, F = json_array_size(r0);
    if (F > 0 && json_is_array(json_array_get(r0, 0))) {   /* rows of steps */
        T = F;
        F = json_array_size(json_array_get(r0, 0));
        if (T > 65536)
            return fault_at(out, 422, "/features/0", "has %zu steps, over the most a "
                            "sequence has, 65536", T);
    }
    if (F == 0)
        return fault_at(out, 422, T ? "/features/0/0" : "/features/0", "is empty: a %s needs "
                        "at least one number", T ? "step" : "row");
    size_t W = F * (T ? T : 1);
    if (F > CSV_MAX_COLUMNS || W > (size_t)max || R * W > (size_t)max)
        return fault_at(out, 413, "/features", "%zu rows of %zu values are over %ld "
                        "values, the most one dataset holds", R, W, max);
    if (!(b->x = malloc(R * W * sizeof *b->x)))
        return -1;
    for (size_t i = 0; i < R; i++)
        if (json_row(json_array_get(f, i), i, T, F, b->x + i * W, out) < 0)
            return -1;
    b->timesteps = (int)T;
    b->rows = (int)R;
    b->features = (int)F;
    const json_t *cols = json_object_get(body, "columns");
    if (cols) {
        if (!json_is_array(cols) || json_array_size(cols) != F)
            return fault_at(out, 422, "/columns", "must be an array of %zu feature names "
                               "(strings), one per value of a row", F);
        for (size_t j = 0; j < F; j++) {
            const json_t *c = json_array_get(cols, j);
            snprintf(p, sizeof p, "/columns/%zu", j);
            if (!json_is_string(c) || strlen(json_string_value(c)) != json_string_length(c))
                return fault_at(out, 422, p, "must be a feature name (a string without "
                                   "NUL characters)");
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

/* String labels: classes sorted, y the index of each. 0, or -1 with the fault. */
static int json_class_labels(const json_t *labels, struct dataset *b, struct fault *out)
{
    size_t R = json_array_size(labels);
    char **names = malloc(R * sizeof *names);
    uint32_t *rank = malloc(R * sizeof *rank);
    int rc = -1;
    if (!names || !rank)
        goto done;
    char p[64];
    for (size_t i = 0; i < R; i++) {
        const json_t *v = json_array_get(labels, i);
        names[i] = (char *)json_string_value(v);
        snprintf(p, sizeof p, "/labels/%zu", i);
        if (!*names[i] || strlen(names[i]) != json_string_length(v)) {
            fault_at(out, 422, p, "%s", *names[i] ? "holds a NUL character"
                                                  : "is an empty class name");
            goto done;
        }
    }
    long k = classes_rank(names, R, DATASET_MAX_CLASSES, rank, &b->classes);
    if (k > DATASET_MAX_CLASSES) {
        fault_at(out, 422, "/labels", "has %ld distinct class names, more than %d", k,
                 DATASET_MAX_CLASSES);
        goto done;
    }
    if (k < 0)
        goto done;
    for (size_t i = 0; i < R; i++)
        b->y[i] = (float)rank[i];
    b->label_kind = LABELS_CLASSES;
    rc = 0;
done:
    free(names);
    free(rank);
    return rc;
}

/* /labels into b (y, label_cols, label_kind, classes); rows known. 0, or -1 with the
 * fault (none: out of memory). */
static int json_labels(const json_t *body, long max, struct dataset *b, struct fault *out)
{
    const json_t *labels = json_object_get(body, "labels");
    size_t R = (size_t)b->rows;
    char p[96];
    if (!labels)
        return fault_at(out, 422, "/labels", "is missing: one label per row (numbers, "
                           "class names, or rows of numbers such as one-hot)");
    if (!json_is_array(labels))
        return fault_at(out, 422, "/labels", "must be an array with one label per row, "
                           "not %s", json_kind(labels));
    if (json_array_size(labels) != R)
        return fault_at(out, 422, "/labels", "has %zu labels, but /features has %zu rows",
                           json_array_size(labels), R);
    const json_t *l0 = json_array_get(labels, 0);
    if (!json_is_number(l0) && !json_is_string(l0) && !json_is_array(l0))
        return fault_at(out, 422, "/labels/0", "must be a number, a class name (string) "
                           "or an array of numbers, not %s", json_kind(l0));
    for (size_t i = 1; i < R; i++) {
        const json_t *v = json_array_get(labels, i);
        if (strcmp(label_form(v), label_form(l0)) != 0) {
            snprintf(p, sizeof p, "/labels/%zu", i);
            return fault_at(out, 422, p, "is %s, but /labels/0 is %s: all labels must be of "
                               "one kind", label_form(v), label_form(l0));
        }
    }
    size_t K = json_is_array(l0) ? json_array_size(l0) : 1;
    if (K == 0)
        return fault_at(out, 422, "/labels/0", "is empty: a label row needs at least one "
                           "number");
    size_t W = (size_t)b->features * (size_t)(b->timesteps > 0 ? b->timesteps : 1);
    if (K > CSV_MAX_COLUMNS || R * (K + W) > (size_t)max)
        return fault_at(out, 413, "/labels", "%zu rows of %zu feature values and %zu label "
                        "values are over %ld values, the most one dataset holds", R, W, K,
                        max);
    if (!(b->y = malloc(R * K * sizeof *b->y)))
        return -1;
    b->label_cols = (int)K;
    if (json_is_string(l0))
        return json_class_labels(labels, b, out);
    if (json_is_number(l0)) {
        for (size_t i = 0; i < R; i++) {
            snprintf(p, sizeof p, "/labels/%zu", i);
            if (json_float(json_array_get(labels, i), &b->y[i], p, out) < 0)
                return -1;
        }
        b->label_kind = LABELS_NUMBERS;
        b->classes = dataset_number_classes(b->y, (long)R);
        return 0;
    }
    int onehot = 1;
    for (size_t i = 0; i < R; i++) {
        const json_t *row = json_array_get(labels, i);
        snprintf(p, sizeof p, "/labels/%zu", i);
        if (json_array_size(row) != K)
            return fault_at(out, 422, p, "has %zu values, but /labels/0 has %zu",
                               json_array_size(row), K);
        int ones = 0;
        for (size_t j = 0; j < K; j++) {
            float *y = &b->y[i * K + j];
            snprintf(p, sizeof p, "/labels/%zu/%zu", i, j);
            if (json_float(json_array_get(row, j), y, p, out) < 0)
                return -1;
            ones += *y == 1;
            onehot = onehot && (*y == 0 || *y == 1);
        }
        onehot = onehot && ones == 1;
    }
    if (onehot) {
        b->label_kind = LABELS_ONEHOT;
        b->classes = json_array();
        for (size_t j = 0; b->classes && j < K; j++)
            if (json_array_append_new(b->classes, json_integer((json_int_t)j)) < 0)
                return -1;
        return b->classes ? 0 : -1;
    }
    b->label_kind = LABELS_VECTORS;
    return 0;
}


static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

long classes_rank(char *const *texts, size_t n, size_t max, uint32_t *rank, json_t **classes)
{
    *classes = NULL;
    char **sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!sorted)
        return -1;
    memcpy(sorted, texts, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_str);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (k == 0 || strcmp(sorted[k - 1], sorted[i]) != 0)
            sorted[k++] = sorted[i];
    if (k > max) {
        free(sorted);
        return (long)k;
    }
    json_t *a = json_array();
    for (size_t i = 0; a && i < k; i++)
        if (json_array_append_new(a, json_string(sorted[i])) < 0) {
            json_decref(a);
            a = NULL;
        }
    for (size_t i = 0; a && i < n; i++) {
        char **at = bsearch(&texts[i], sorted, k, sizeof *sorted, cmp_str);
        rank[i] = (uint32_t)(at - sorted);
    }
    free(sorted);
    *classes = a;
    return a ? (long)k : -1;
}

int dataset_from_json(const json_t *body, long max_values, struct dataset *d,
                      struct fault *f)
{
    memset(d, 0, sizeof *d);
    memset(f, 0, sizeof *f);
    if (!json_is_object(body))
        return fault_at(f, 422, "", "the body must be a JSON object {\"name\", \"features\", "
                        "\"labels\"}, not %s", json_kind(body));
    const char *key;
    size_t keylen;
    json_t *v;
    json_object_keylen_foreach((json_t *)body, key, keylen, v) {
        (void)v;   /* compared with its length: "name\u0000x" is not "name" */
        static const char *const known[] = {"name", "features", "labels", "columns"};
        int k = 0;
        while (k < 4 && !(strlen(known[k]) == keylen && memcmp(known[k], key, keylen) == 0))
            k++;
        if (k < 4)
            continue;
        char ptr[80], e[80];
        size_t n = 0, q = utf8_cut(key, keylen, 32);
        ptr[n++] = '/';   /* RFC 6901: '~' as ~0, '/' as ~1 */
        for (size_t i = 0; i < q; i++)
            if (key[i] == '~' || key[i] == '/')
                ptr[n++] = '~', ptr[n++] = key[i] == '~' ? '0' : '1';
            else
                ptr[n++] = key[i];
        ptr[n] = 0;
        return fault_at(f, 422, ptr, "unknown field \"%s\" in a dataset; its fields are: "
                        "name, features, labels, columns", text_echo(e, sizeof e, key, keylen,
                                                                     40));
    }
    const json_t *name = json_object_get(body, "name");
    if (!name)
        return fault_at(f, 422, "/name", "is missing: a name for the dataset (a string)");
    const char *why = json_is_string(name) ? dataset_bad_name(json_string_value(name),
                                                              json_string_length(name))
                                           : "must be a string";
    if (why)
        return fault_at(f, 422, "/name", "%s", why);
    if (json_features(body, max_values, d, f) == 0 &&
        json_labels(body, max_values, d, f) == 0 && (d->name = strdup(json_string_value(name))))
        return 0;
    dataset_free(d);
    return -1;
}

int dataset_sequences(struct dataset *d, int timesteps, struct fault *f)
{
    memset(f, 0, sizeof *f);
    if (d->features % timesteps != 0) {
        fault_at(f, 422, "", "the rows have %d feature values, which is not %d steps of "
                 "the same number of features", d->features, timesteps);
        return -1;
    }
    int F = d->features / timesteps;
    json_t *cols = json_array();   /* the names of the first step's columns */
    for (int j = 0; cols && j < F; j++)
        if (json_array_append(cols, json_array_get(d->columns, (size_t)j)) < 0) {
            json_decref(cols);
            cols = NULL;
        }
    if (!cols)
        return -1;
    json_decref(d->columns);
    d->columns = cols;
    d->features = F;
    d->timesteps = timesteps;
    return 0;
}

int dataset_create(struct dataset *d)
{
    json_decref(d->stats);
    if (!(d->stats = stats_json(d)))
        return STORE_ERROR;
    return store_dataset_insert(d);
}

json_t *dataset_json(const struct dataset *d)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:i, s:O, s:s, s:i, s:O?, s:O?}",
                          "id", d->id, "name", d->name ? d->name : "",
                          "created_at", d->created_at, "rows", d->rows,
                          "features", d->features, "columns", d->columns,
                          "label_kind", label_kind_name(d->label_kind),
                          "label_cols", d->label_cols, "label_column", d->label_column,
                          "classes", d->classes);
    if (o && d->timesteps > 0 &&
        json_object_set_new(o, "timesteps", json_integer(d->timesteps)) < 0) {
        json_decref(o);
        return NULL;
    }
    if (o && d->stats && json_object_set(o, "stats", d->stats) < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}
