/* test_api_sequences.c -- sequence networks through the service, against the real binary
 * on 127.0.0.1:
 *  - datasets of sequences: JSON features as rows of steps, CSV rows of T x F values with
 *    ?timesteps=T; per-feature statistics over every step of every row (F of them, not
 *    T x F); ragged rows refused naming the row (and the step); a CSV whose rows are not
 *    T steps of one width refused at the parameter;
 *  - jobs: a sequence network against a dataset of other steps or of plain rows, and a
 *    plain network against sequences, are 422 naming both shapes;
 *  - the adding problem (T = 30, 3000 rows, a seeded generator as /work/shared's
 *    adding.py defines it): an lstm of 16 trained on it predicts 500 unseen rows with a
 *    mean squared error under 0.02, where answering 1.0 scores about 0.167; JSON and CSV
 *    rows predict the same; the model and its export carry timesteps;
 *  - in the same budget a gru and a plain rnn learn it over 30 steps, and over 100 steps
 *    the plain rnn does not (test mse over 0.1) where an lstm does;
 *  - many to many: labels as rows of one value per step, a gru returning its steps. */
#include "srvutil.h"
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* xorshift64*: the same numbers for the same seed */
static uint64_t rng_state;
static double uniform(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0;
}

/* rows of the adding problem of T steps: x (rows x T x 2: value, marker), y (rows), new
 * arrays; markers at one step of the first half and one of the second. */
static void adding(int rows, int T, uint64_t seed, float **x, float **y)
{
    rng_state = seed * 0x9E3779B97F4A7C15ull + 1;
    *x = calloc((size_t)rows * T * 2, sizeof **x);
    *y = calloc((size_t)rows, sizeof **y);
    ck_assert(*x && *y);
    for (int i = 0; i < rows; i++) {
        float *r = *x + (size_t)i * T * 2;
        for (int t = 0; t < T; t++)
            r[2 * t] = (float)uniform();
        int a = (int)(uniform() * (T / 2)), b = T / 2 + (int)(uniform() * (T - T / 2));
        r[2 * a + 1] = r[2 * b + 1] = 1;
        (*y)[i] = r[2 * a] + r[2 * b];
    }
}

/* The rows of T steps as CSV with a header t0_value,t0_marker,...,target (without y: the
 * inputs only, no target). New string. */
static char *adding_csv(const float *x, const float *y, int rows, int T)
{
    size_t cap = (size_t)rows * (T * 2 + 1) * 12 + (size_t)T * 40 + 64, n = 0;
    char *s = malloc(cap);
    ck_assert_ptr_nonnull(s);
    for (int t = 0; t < T; t++)
        n += (size_t)snprintf(s + n, cap - n, "t%d_value,t%d_marker,", t, t);
    n += (size_t)snprintf(s + n, cap - n, "target\n");
    if (!y)
        n -= strlen(",target\n") - 1, s[n - 1] = '\n';
    for (int i = 0; i < rows; i++) {
        for (int k = 0; k < T * 2; k++)
            n += (size_t)snprintf(s + n, cap - n, "%.7g,", x[(size_t)i * T * 2 + k]);
        if (y)
            n += (size_t)snprintf(s + n, cap - n, "%.7g\n", y[i]);
        else
            s[n - 1] = '\n';
    }
    s[n] = 0;
    return s;
}

/* POSTs a CSV to path; expects `want`; the reply (caller frees). */
static struct http_reply post_csv(const struct server *s, const char *path, const char *csv,
                                  long want)
{
    struct http_reply h = su_http(s, "POST", path, csv, strlen(csv), "text/csv");
    ck_assert_msg(h.status == want, "POST %s: %ld %s", path, h.status, h.body);
    return h;
}

/* The first error's pointer (or parameter) of a problem reply. */
static const char *where(json_t *j)
{
    json_t *e = json_array_get(json_object_get(j, "errors"), 0);
    const char *p = json_string_value(json_object_get(e, "pointer"));
    return p ? p : json_string_value(json_object_get(e, "parameter"));
}

/* POSTs body (JSON) to path, expects `want` and the first fault at `at`; returns the
 * detail's copy (new) for more checks. */
static char *refused(const struct server *s, const char *path, const char *body, long want,
                     const char *at)
{
    struct http_reply h = su_http(s, "POST", path, body, strlen(body), "application/json");
    ck_assert_msg(h.status == want, "%ld %s", h.status, h.body);
    json_t *j = su_http_json(&h);
    ck_assert_msg(where(j) && !strcmp(where(j), at), "at %s, not %s: %s", where(j), at, h.body);
    char *d = strdup(su_str(j, "detail"));
    json_decref(j);
    su_http_free(&h);
    return d;
}

START_TEST(sequence_datasets)
{
    struct server s = {0};
    su_start(&s, NULL);
    /* JSON: 3 rows of 2 steps of 2 features; feature 0 is 1..6 over every step */
    const char *body = "{\"name\": \"seq\", \"features\": [[[1, 10], [2, 10]], [[3, 10], "
                       "[4, 10]], [[5, 10], [6, 10]]], \"labels\": [0.5, 1.5, 2.5], "
                       "\"columns\": [\"a\", \"b\"]}";
    struct http_reply h = su_http(&s, "POST", "/v1/datasets", body, strlen(body),
                                  "application/json");
    ck_assert_msg(h.status == 201, "%ld %s", h.status, h.body);
    json_t *d = su_http_json(&h);
    ck_assert_int_eq(su_int(d, "timesteps"), 2);
    ck_assert_int_eq(su_int(d, "features"), 2);
    ck_assert_int_eq(su_int(d, "rows"), 3);
    json_t *stats = json_object_get(d, "stats");
    ck_assert_int_eq(json_array_size(stats), 2);   /* per feature, not per step */
    json_t *s0 = json_array_get(stats, 0);
    ck_assert_double_eq_tol(json_number_value(json_object_get(s0, "mean")), 3.5, 1e-9);
    ck_assert_double_eq_tol(json_number_value(json_object_get(s0, "min")), 1, 1e-9);
    ck_assert_double_eq_tol(json_number_value(json_object_get(s0, "max")), 6, 1e-9);
    ck_assert_double_eq_tol(json_number_value(json_object_get(s0, "std")), sqrt(35.0 / 12),
                            1e-6);
    char path[80];
    snprintf(path, sizeof path, "/v1/datasets/%s", su_str(d, "id"));
    json_t *got = su_get_json(&s, path);
    ck_assert_int_eq(su_int(got, "timesteps"), 2);
    json_decref(got);
    json_decref(d);
    su_http_free(&h);

    /* ragged: a row of another number of steps, a step of another width */
    free(refused(&s, "/v1/datasets", "{\"name\": \"r\", \"features\": [[[1, 2], [3, 4]], "
                 "[[1, 2]]], \"labels\": [1, 2]}", 422, "/features/1"));
    free(refused(&s, "/v1/datasets", "{\"name\": \"r\", \"features\": [[[1, 2], [3, 4]], "
                 "[[1, 2], [3, 4]], [[1, 2], [3]]], \"labels\": [1, 2, 3]}", 422,
                 "/features/2/1"));
    free(refused(&s, "/v1/datasets", "{\"name\": \"r\", \"features\": [[[1, 2], [3, 4]], "
                 "[1, 2]], \"labels\": [1, 2]}", 422, "/features/1/0"));

    /* CSV: rows of 3 steps of 2 values, the label last; the first step's names */
    const char *csv = "a0,b0,a1,b1,a2,b2,y\n1,0,2,0,3,0,6\n4,1,5,1,6,1,15\n";
    h = post_csv(&s, "/v1/datasets?name=c&timesteps=3", csv, 201);
    d = su_http_json(&h);
    ck_assert_int_eq(su_int(d, "timesteps"), 3);
    ck_assert_int_eq(su_int(d, "features"), 2);
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(d, "columns"), 1)), "b0");
    s0 = json_array_get(json_object_get(d, "stats"), 0);
    ck_assert_double_eq_tol(json_number_value(json_object_get(s0, "mean")), 3.5, 1e-9);
    json_decref(d);
    su_http_free(&h);
    /* the same CSV without ?timesteps: rows of 6 features, not sequences */
    h = post_csv(&s, "/v1/datasets?name=c", csv, 201);
    d = su_http_json(&h);
    ck_assert_int_eq(su_int(d, "features"), 6);
    ck_assert_ptr_null(json_object_get(d, "timesteps"));
    json_decref(d);
    su_http_free(&h);
    /* 6 values are not 4 steps; 0 steps or a word are no count */
    const char *bad[][2] = {{"4", "422"}, {"0", "400"}, {"three", "400"}};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "/v1/datasets?name=c&timesteps=%s", bad[i][0]);
        h = post_csv(&s, path, csv, atol(bad[i][1]));
        d = su_http_json(&h);
        ck_assert_str_eq(where(d), "timesteps");
        json_decref(d);
        su_http_free(&h);
    }
    su_stop(&s, 0);
    su_cleanup(&s);
}
END_TEST

START_TEST(jobs_match_shapes)
{
    struct server s = {0};
    su_start(&s, NULL);
    const char *csv = "1,0,2,0,3,0,6\n4,1,5,1,6,1,15\n7,0,8,1,9,0,8\n1,1,1,1,1,1,3\n";
    struct http_reply h = post_csv(&s, "/v1/datasets?name=c&timesteps=3", csv, 201);
    json_t *d = su_http_json(&h);
    char seq[32];
    snprintf(seq, sizeof seq, "%s", su_str(d, "id"));
    json_decref(d);
    su_http_free(&h);
    h = post_csv(&s, "/v1/datasets?name=flat", csv, 201);
    d = su_http_json(&h);
    char flat[32];
    snprintf(flat, sizeof flat, "%s", su_str(d, "id"));
    json_decref(d);
    su_http_free(&h);

    char body[1024];
    const char *lstm = "\"layers\": [{\"type\": \"lstm\", \"units\": 4}, {\"type\": \"dense\", "
                       "\"units\": 1}], \"loss\": \"mse\"";
    /* other steps */
    snprintf(body, sizeof body, "{\"network\": {\"inputs\": 2, \"timesteps\": 4, %s}, "
             "\"dataset\": \"%s\"}", lstm, seq);
    char *detail = refused(&s, "/v1/jobs", body, 422, "/dataset");
    ck_assert_msg(strstr(detail, "4 steps") && strstr(detail, "3 steps"), "%s", detail);
    free(detail);
    /* a sequence network on plain rows */
    snprintf(body, sizeof body, "{\"network\": {\"inputs\": 2, \"timesteps\": 3, %s}, "
             "\"dataset\": \"%s\"}", lstm, flat);
    detail = refused(&s, "/v1/jobs", body, 422, "/dataset");
    ck_assert_msg(strstr(detail, "not sequences"), "%s", detail);
    free(detail);
    /* a plain network on sequences, even of the same width */
    snprintf(body, sizeof body, "{\"network\": {\"inputs\": 6, \"layers\": [{\"type\": "
             "\"dense\", \"units\": 1}], \"loss\": \"mse\"}, \"dataset\": \"%s\"}", seq);
    detail = refused(&s, "/v1/jobs", body, 422, "/dataset");
    ck_assert_msg(strstr(detail, "sequences of 3 steps of 2"), "%s", detail);
    free(detail);
    /* a validation dataset of other steps */
    snprintf(body, sizeof body, "{\"network\": {\"inputs\": 2, \"timesteps\": 3, %s}, "
             "\"dataset\": \"%s\", \"validation\": {\"dataset\": \"%s\"}}", lstm, seq, flat);
    free(refused(&s, "/v1/jobs", body, 422, "/validation/dataset"));
    su_stop(&s, 0);
    su_cleanup(&s);
}
END_TEST

/* POSTs a job (JSON), expects 202; the job answered (new). Its id into id (32 bytes). */
static json_t *job_post(const struct server *s, const char *body, char *id)
{
    struct http_reply h = su_http(s, "POST", "/v1/jobs", body, strlen(body),
                                  "application/json");
    ck_assert_msg(h.status == 202, "%ld %s", h.status, h.body);
    json_t *j = su_http_json(&h);
    snprintf(id, 32, "%s", su_str(j, "id"));
    su_http_free(&h);
    return j;
}

/* The detail of the job's warning at `pointer`, or NULL; fails when two are there. */
static const char *warning_at(const json_t *job, const char *pointer)
{
    const char *found = NULL;
    size_t i;
    json_t *w;
    json_array_foreach(json_object_get(job, "warnings"), i, w) {
        const char *p = json_string_value(json_object_get(w, "pointer"));
        if (p && !strcmp(p, pointer)) {
            ck_assert_msg(!found, "two warnings at %s", pointer);
            found = json_string_value(json_object_get(w, "detail"));
            ck_assert_ptr_nonnull(found);
        }
    }
    return found;
}

/* A job of a recurrent network (rnn, lstm or gru) without clip_norm is warned at
 * /clip_norm, in the answer and as stored; none with clip_norm, none for a network
 * without a recurrent layer; with labels past 10 trained as they are, both warnings. */
START_TEST(clip_norm_warned)
{
    struct server s = {0};
    su_start(&s, (const char *const[]){"--threads", "1", NULL});
    /* labels up to 15: past 10 */
    const char *csv = "1,0,2,0,3,0,6\n4,1,5,1,6,1,15\n7,0,8,1,9,0,8\n1,1,1,1,1,1,3\n";
    struct http_reply h = post_csv(&s, "/v1/datasets?name=c&timesteps=3", csv, 201);
    json_t *d = su_http_json(&h);
    char seq[32], flat[32], id[32], body[1024], path[96];
    snprintf(seq, sizeof seq, "%s", su_str(d, "id"));
    json_decref(d);
    su_http_free(&h);
    h = post_csv(&s, "/v1/datasets?name=flat", csv, 201);
    d = su_http_json(&h);
    snprintf(flat, sizeof flat, "%s", su_str(d, "id"));
    json_decref(d);
    su_http_free(&h);

    static const char *const kinds[] = {"rnn", "lstm", "gru"};
    for (int k = 0; k < 3; k++) {
        /* a dense layer first: the recurrent one's path is named */
        snprintf(body, sizeof body, "{\"network\": {\"inputs\": 2, \"timesteps\": 3, "
                 "\"layers\": [{\"type\": \"dense\", \"units\": 3, \"activation\": "
                 "\"tanh\"}, {\"type\": \"%s\", \"units\": 4}, {\"type\": \"dense\", "
                 "\"units\": 1}], \"loss\": \"mse\"}, \"dataset\": \"%s\", "
                 "\"epochs\": 1}", kinds[k], seq);
        json_t *j = job_post(&s, body, id);
        ck_assert_int_eq(json_array_size(json_object_get(j, "warnings")), 1);
        const char *w = warning_at(j, "/clip_norm");
        ck_assert_msg(w && strstr(w, "clip_norm is 0") && strstr(w, "exploding gradients") &&
                      strstr(w, "/network/layers/1") && strstr(w, kinds[k]), "%s", w);
        json_decref(j);
        snprintf(path, sizeof path, "/v1/jobs/%s", id);
        j = su_get_json(&s, path);   /* as stored */
        ck_assert_ptr_nonnull(warning_at(j, "/clip_norm"));
        json_decref(j);
    }

    /* clipped: nothing to say */
    snprintf(body, sizeof body, "{\"network\": {\"inputs\": 2, \"timesteps\": 3, "
             "\"layers\": [{\"type\": \"lstm\", \"units\": 4}, {\"type\": \"dense\", "
             "\"units\": 1}], \"loss\": \"mse\"}, \"dataset\": \"%s\", \"epochs\": 1, "
             "\"clip_norm\": 1}", seq);
    json_t *j = job_post(&s, body, id);
    ck_assert_ptr_null(json_object_get(j, "warnings"));
    json_decref(j);
    /* no recurrent layer, clip_norm 0: nothing either */
    snprintf(body, sizeof body, "{\"network\": {\"inputs\": 6, \"layers\": [{\"type\": "
             "\"dense\", \"units\": 1}], \"loss\": \"mse\"}, \"dataset\": \"%s\", "
             "\"epochs\": 1}", flat);
    j = job_post(&s, body, id);
    ck_assert_ptr_null(json_object_get(j, "warnings"));
    ck_assert_double_eq(json_number_value(json_object_get(j, "clip_norm")), 0);
    json_decref(j);

    /* labels up to 15 trained as they are, 1 step at a learning rate of 0.001, and no
     * clipping: both warnings */
    snprintf(body, sizeof body, "{\"network\": {\"inputs\": 2, \"timesteps\": 3, "
             "\"layers\": [{\"type\": \"gru\", \"units\": 4}, {\"type\": \"dense\", "
             "\"units\": 1}], \"loss\": \"mse\"}, \"dataset\": \"%s\", \"epochs\": 1, "
             "\"standardize_labels\": false, \"optimizer\": {\"type\": \"adam\", "
             "\"learning_rate\": 0.001}}", seq);
    j = job_post(&s, body, id);
    ck_assert_int_eq(json_array_size(json_object_get(j, "warnings")), 2);
    const char *w = warning_at(j, "/standardize_labels");
    ck_assert_msg(w && strstr(w, "labels reach 15"), "%s", w);
    w = warning_at(j, "/clip_norm");
    ck_assert_msg(w && strstr(w, "gru, at /network/layers/0"), "%s", w);
    json_decref(j);
    snprintf(path, sizeof path, "/v1/jobs/%s", id);
    j = su_get_json(&s, path);
    ck_assert_int_eq(json_array_size(json_object_get(j, "warnings")), 2);
    json_decref(j);

    /* the network's own warnings come with the job's: a plain rnn over 40 steps */
    char *long_csv = NULL;
    size_t long_len = 0;
    FILE *f = open_memstream(&long_csv, &long_len);
    ck_assert_ptr_nonnull(f);
    for (int r = 0; r < 4; r++) {
        for (int v = 0; v < 40 * 2; v++)
            fprintf(f, "%d,", (r * 7 + v) % 5);
        fprintf(f, "%d\n", r);
    }
    fclose(f);
    h = post_csv(&s, "/v1/datasets?name=long&timesteps=40", long_csv, 201);
    free(long_csv);
    d = su_http_json(&h);
    char lid[32];
    snprintf(lid, sizeof lid, "%s", su_str(d, "id"));
    json_decref(d);
    su_http_free(&h);
    snprintf(body, sizeof body, "{\"network\": {\"inputs\": 2, \"timesteps\": 40, "
             "\"layers\": [{\"type\": \"rnn\", \"units\": 4}, {\"type\": \"dense\", "
             "\"units\": 1}], \"loss\": \"mse\"}, \"dataset\": \"%s\", \"epochs\": 1, "
             "\"clip_norm\": 1}", lid);
    j = job_post(&s, body, id);
    ck_assert_int_eq(json_array_size(json_object_get(j, "warnings")), 1);
    w = warning_at(j, "/network/layers/0");
    ck_assert_msg(w && strstr(w, "use lstm or gru"), "%s", w);
    json_decref(j);
    su_stop(&s, 0);
    su_cleanup(&s);
}
END_TEST

/* predictions of rows (JSON body) into out; fails on anything but 200 */
static void predict(const struct server *s, const char *model, const char *body,
                    const char *ctype, double *out, int n)
{
    char path[96];
    snprintf(path, sizeof path, "/v1/models/%s/predict", model);
    struct http_reply h = su_http(s, "POST", path, body, strlen(body), ctype);
    ck_assert_msg(h.status == 200, "%ld %.300s", h.status, h.body);
    json_t *j = su_http_json(&h);
    json_t *o = json_object_get(j, "outputs");
    ck_assert_int_eq(json_array_size(o), n);
    for (int i = 0; i < n; i++)
        out[i] = json_number_value(json_array_get(json_array_get(o, (size_t)i), 0));
    json_decref(j);
    su_http_free(&h);
}

/* The adding problem's budget, the same for every cell: ROWS rows (seed 1) to train, 20
 * epochs of batches of 32, adam at 0.01, seed 7, no clipping; TEST unseen rows (seed 2)
 * to score. */
enum { ROWS = 3000, TEST = 500, EPOCHS = 20 };

/* Uploads ROWS rows of the adding problem of T steps as CSV with ?timesteps=T and trains
 * `cell` (rnn, lstm or gru) of 16 units into dense(1) on them, in the budget above. The
 * model's id into model (32 bytes); returns the seconds from queueing to the end. */
static double adding_train(const struct server *s, const char *cell, int T, char *model)
{
    float *x, *y;
    adding(ROWS, T, 1, &x, &y);
    char *csv = adding_csv(x, y, ROWS, T), path[96], body[1024];
    snprintf(path, sizeof path, "/v1/datasets?name=adding&timesteps=%d", T);
    struct http_reply h = post_csv(s, path, csv, 201);
    json_t *d = su_http_json(&h);
    ck_assert_int_eq(su_int(d, "features"), 2);
    ck_assert_int_eq(su_int(d, "timesteps"), T);
    snprintf(body, sizeof body, "{\"network\": {\"inputs\": 2, \"timesteps\": %d, "
             "\"layers\": [{\"type\": \"%s\", \"units\": 16}, {\"type\": \"dense\", "
             "\"units\": 1}], \"loss\": \"mse\"}, \"dataset\": \"%s\", \"epochs\": %d, "
             "\"batch_size\": 32, \"seed\": 7, \"optimizer\": {\"type\": \"adam\", "
             "\"learning_rate\": 0.01}}", T, cell, su_str(d, "id"), EPOCHS);
    json_decref(d);
    su_http_free(&h);
    free(csv), free(x), free(y);
    double t0 = su_now();
    char *job = su_post_id(s, "/v1/jobs", body, 202);
    json_t *j = su_job_wait(s, job, "succeeded", 120);
    ck_assert_str_eq(su_str(j, "state"), "succeeded");
    double took = su_now() - t0;
    snprintf(model, 32, "%s", su_str(j, "model"));
    json_decref(j);
    free(job);
    fprintf(stderr, "adding problem, %s: %d epochs of %d rows of %d steps in %.1f s\n", cell,
            EPOCHS, ROWS, T, took);
    return took;
}

/* Predicts TEST unseen rows of T steps, sent as JSON rows of steps; returns their mean
 * squared error, that of answering 1.0 into *base. The predictions into p (TEST values;
 * may be NULL). */
static double adding_mse(const struct server *s, const char *model, int T, double *base,
                         double *p)
{
    float *tx, *ty;
    adding(TEST, T, 2, &tx, &ty);
    json_t *rows = json_array();
    for (int i = 0; i < TEST; i++) {
        json_t *r = json_array();
        for (int t = 0; t < T; t++)
            json_array_append_new(r, json_pack("[f, f]", tx[(size_t)i * T * 2 + 2 * t],
                                               tx[(size_t)i * T * 2 + 2 * t + 1]));
        json_array_append_new(rows, r);
    }
    json_t *req = json_pack("{s:o}", "inputs", rows);
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    double *own = p ? NULL : calloc(TEST, sizeof *own);
    predict(s, model, body, "application/json", p ? p : own, TEST);
    double mse = 0;
    *base = 0;
    for (int i = 0; i < TEST; i++) {
        double e = (p ? p : own)[i] - ty[i];
        mse += e * e / TEST;
        *base += (1.0 - ty[i]) * (1.0 - ty[i]) / TEST;
    }
    free(body), free(own), free(tx), free(ty);
    return mse;
}

START_TEST(adding_problem)
{
    enum { T = 30 };
    struct server s = {0};
    su_start(&s, (const char *const[]){"--threads", "1", NULL});
    char model[32];
    adding_train(&s, "lstm", T, model);
    double base, *p = calloc(TEST, sizeof *p), *pc = calloc(TEST, sizeof *pc);
    double mse = adding_mse(&s, model, T, &base, p);
    fprintf(stderr, "adding problem, lstm: test mse %.5f, answering 1.0 %.4f\n", mse, base);
    ck_assert_msg(base > 0.12 && base < 0.22, "answering 1.0: %g", base);
    ck_assert_msg(mse < 0.02, "test mse %g", mse);

    /* the same rows as CSV (a header is skipped) predict the same */
    float *tx, *ty;
    adding(TEST, T, 2, &tx, &ty);
    char *csv = adding_csv(tx, NULL, TEST, T);
    predict(&s, model, csv, "text/csv", pc, TEST);
    for (int i = 0; i < TEST; i++)
        ck_assert_double_eq_tol(pc[i], p[i], 1e-6);
    free(csv);

    /* a row of other steps, a step of another width */
    char path[96];
    snprintf(path, sizeof path, "/v1/models/%s/predict", model);
    free(refused(&s, path, "{\"inputs\": [[[0.5, 1], [0.5, 1]]]}", 422, "/inputs/0"));

    /* the model and its export carry timesteps; the scaler is per feature */
    snprintf(path, sizeof path, "/v1/models/%s", model);
    json_t *m = su_get_json(&s, path);
    ck_assert_int_eq(su_int(m, "timesteps"), 30);
    ck_assert_int_eq(json_array_size(json_object_get(json_object_get(m, "scaler"), "mean")), 2);
    json_decref(m);
    snprintf(path, sizeof path, "/v1/models/%s/weights", model);
    m = su_get_json(&s, path);
    ck_assert_int_eq(su_int(m, "timesteps"), 30);
    ck_assert_int_eq(su_int(json_object_get(m, "network"), "timesteps"), 30);
    json_decref(m);

    free(p), free(pc), free(tx), free(ty);
    su_stop(&s, 0);
    su_cleanup(&s);
}
END_TEST

/* What gates are for, in one budget (the adding problem's, above): over 30 steps a gru
 * learns the sum as the lstm does (test mse under 0.02), and so does a plain rnn (tanh);
 * over 100 steps the plain rnn of as many units stays near answering a constant (over
 * 0.1: the gradient from its output fades through the steps back to the first marked
 * value), while an lstm still learns it. */
START_TEST(gates_over_long_sequences)
{
    static const struct {
        const char *cell;
        int T;
        int learns;            /* 1: under 0.02; 0: over 0.1 */
    } runs[] = {{"gru", 30, 1}, {"rnn", 30, 1}, {"rnn", 100, 0}, {"lstm", 100, 1}};
    enum { N = sizeof runs / sizeof *runs };
    struct server s = {0};
    su_start(&s, (const char *const[]){"--threads", "1", NULL});
    double mse[N];
    for (int i = 0; i < N; i++) {
        char model[32];
        double base;
        adding_train(&s, runs[i].cell, runs[i].T, model);
        mse[i] = adding_mse(&s, model, runs[i].T, &base, NULL);
        fprintf(stderr, "adding problem, %s over %d steps: test mse %.5f, answering 1.0 "
                "%.4f\n", runs[i].cell, runs[i].T, mse[i], base);
    }
    for (int i = 0; i < N; i++)
        ck_assert_msg(runs[i].learns ? mse[i] < 0.02 : mse[i] > 0.1, "%s over %d steps: test "
                      "mse %g", runs[i].cell, runs[i].T, mse[i]);
    su_stop(&s, 0);
    su_cleanup(&s);
}
END_TEST

/* Many to many: a gru returning its 5 steps, a dense 1 at every step, labels as rows of
 * 5 values (one per step): the running sum of the values so far. */
START_TEST(label_per_step)
{
    enum { ROWS = 400, S = 5 };
    struct server s = {0};
    su_start(&s, (const char *const[]){"--threads", "1", NULL});
    rng_state = 3;
    json_t *xs = json_array(), *ys = json_array();
    for (int i = 0; i < ROWS; i++) {
        json_t *x = json_array(), *y = json_array();
        double sum = 0;
        for (int t = 0; t < S; t++) {
            double v = uniform();
            sum += v;
            json_array_append_new(x, json_pack("[f]", v));
            json_array_append_new(y, json_real(sum));
        }
        json_array_append_new(xs, x);
        json_array_append_new(ys, y);
    }
    json_t *b = json_pack("{s:s, s:o, s:o}", "name", "running sums", "features", xs, "labels",
                          ys);
    char *body = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    char *ds = su_post_id(&s, "/v1/datasets", body, 201);
    free(body);
    char req[1024];
    snprintf(req, sizeof req, "{\"network\": {\"inputs\": 1, \"timesteps\": 5, \"layers\": "
             "[{\"type\": \"gru\", \"units\": 8, \"return_sequences\": true}, {\"type\": "
             "\"dense\", \"units\": 1}], \"loss\": \"mse\"}, \"dataset\": \"%s\", "
             "\"epochs\": 30, \"batch_size\": 32, \"seed\": 5, \"optimizer\": {\"type\": "
             "\"adam\", \"learning_rate\": 0.01}}", ds);
    char *job = su_post_id(&s, "/v1/jobs", req, 202);
    json_t *j = su_job_wait(&s, job, "succeeded", 120);
    ck_assert_str_eq(su_str(j, "state"), "succeeded");
    char path[96];
    snprintf(path, sizeof path, "/v1/models/%s/predict", su_str(j, "model"));
    const char *in = "{\"inputs\": [[[0.1], [0.2], [0.3], [0.4], [0.5]]]}";
    struct http_reply h = su_http(&s, "POST", path, in, strlen(in), "application/json");
    ck_assert_msg(h.status == 200, "%ld %s", h.status, h.body);
    json_t *p = su_http_json(&h);
    json_t *o = json_array_get(json_object_get(p, "outputs"), 0);
    ck_assert_int_eq(json_array_size(o), S);
    const double want[S] = {0.1, 0.3, 0.6, 1.0, 1.5};
    for (int t = 0; t < S; t++)
        ck_assert_msg(fabs(json_number_value(json_array_get(o, (size_t)t)) - want[t]) < 0.1,
                      "step %d: %s", t, h.body);
    json_decref(p);
    su_http_free(&h);
    json_decref(j);
    free(ds), free(job);
    su_stop(&s, 0);
    su_cleanup(&s);
}
END_TEST

/* A class per step: labels as rows of S class indices, a gru returning every step into a
 * softmax of 3 at each; the class of step t is where the running sum of the values stands
 * (below 1.2, to 2.4, above). Accuracy counts steps. Labels that do not fit are refused
 * at /dataset: class names (one per row), indices past the classes. */
START_TEST(class_per_step)
{
    enum { ROWS = 600, S = 5 };
    struct server s = {0};
    su_start(&s, (const char *const[]){"--threads", "1", NULL});
    rng_state = 11;
    json_t *xs = json_array(), *ys = json_array(), *big = json_array(), *names = json_array();
    for (int i = 0; i < ROWS; i++) {
        json_t *x = json_array(), *y = json_array(), *yb = json_array();
        double sum = 0;
        for (int t = 0; t < S; t++) {
            double v = uniform();
            sum += v;
            int c = sum < 1.2 ? 0 : sum < 2.4 ? 1 : 2;
            json_array_append_new(x, json_pack("[f]", v));
            json_array_append_new(y, json_integer(c));
            json_array_append_new(yb, json_integer(c + 3));
        }
        json_array_append_new(xs, x);
        json_array_append_new(ys, y);
        json_array_append_new(big, yb);
        json_array_append_new(names, json_string(i % 2 ? "odd" : "even"));
    }
    char *ids[3];
    json_t *labels[3] = {ys, big, names};
    for (int k = 0; k < 3; k++) {
        json_t *b = json_pack("{s:s, s:O, s:o}", "name", "steps", "features", xs, "labels",
                              labels[k]);
        char *body = json_dumps(b, JSON_COMPACT);
        json_decref(b);
        ids[k] = su_post_id(&s, "/v1/datasets", body, 201);
        free(body);
    }
    json_decref(xs);
    static const char net[] = "{\"inputs\": 1, \"timesteps\": 5, \"layers\": [{\"type\": "
                              "\"gru\", \"units\": 12, \"return_sequences\": true}, {\"type\": "
                              "\"dense\", \"units\": 3, \"activation\": \"softmax\"}], "
                              "\"loss\": \"categorical_crossentropy\", \"metrics\": "
                              "[\"accuracy\"]}";
    char req[1024];
    snprintf(req, sizeof req, "{\"network\": %s, \"dataset\": \"%s\", \"validation\": "
             "{\"split\": 0.2}, \"epochs\": 25, \"batch_size\": 32, \"seed\": 5, \"clip_norm\": "
             "1, \"optimizer\": {\"type\": \"adam\", \"learning_rate\": 0.01}}", net, ids[0]);
    char *job = su_post_id(&s, "/v1/jobs", req, 202);
    json_t *j = su_job_wait(&s, job, "succeeded", 120);
    ck_assert_str_eq(su_str(j, "state"), "succeeded");
    double acc = json_number_value(json_object_get(json_object_get(j, "val_metrics"),
                                                   "accuracy"));
    fprintf(stderr, "a class per step: validation accuracy %.4f over %d steps a row\n", acc, S);
    ck_assert_msg(acc > 0.9, "validation accuracy %g", acc);

    /* each step's 3 probabilities; the class of the running sum 0.5, 1.0, 1.5, 2.0, 2.5 */
    char path[96];
    snprintf(path, sizeof path, "/v1/models/%s/predict", su_str(j, "model"));
    const char *in = "{\"inputs\": [[[0.5], [0.5], [0.5], [0.5], [0.5]]]}";
    struct http_reply h = su_http(&s, "POST", path, in, strlen(in), "application/json");
    ck_assert_msg(h.status == 200, "%ld %s", h.status, h.body);
    json_t *p = su_http_json(&h);
    json_t *o = json_array_get(json_object_get(p, "outputs"), 0);
    ck_assert_int_eq(json_array_size(o), S * 3);
    const int want[S] = {0, 0, 1, 1, 2};
    for (int t = 0; t < S; t++) {
        double sum = 0;
        int best = 0;
        for (int c = 0; c < 3; c++) {
            double v = json_number_value(json_array_get(o, (size_t)(t * 3 + c)));
            sum += v;
            best = v > json_number_value(json_array_get(o, (size_t)(t * 3 + best))) ? c : best;
        }
        ck_assert_msg(fabs(sum - 1) < 1e-5, "step %d sums to %g", t, sum);
        ck_assert_msg(best == want[t], "step %d: class %d, not %d: %s", t, best, want[t], h.body);
    }
    json_decref(p);
    su_http_free(&h);
    json_decref(j);
    free(job);

    /* indices past the 3 classes; one class name a row */
    static const char *const why[] = {NULL, "class indices go from 0 to 2", "a class per step"};
    for (int k = 1; k < 3; k++) {
        snprintf(req, sizeof req, "{\"network\": %s, \"dataset\": \"%s\"}", net, ids[k]);
        h = su_http(&s, "POST", "/v1/jobs", req, strlen(req), "application/json");
        ck_assert_msg(h.status == 422, "%ld %s", h.status, h.body);
        ck_assert_msg(strstr(h.body, "\"/dataset\"") && strstr(h.body, why[k]), "%s", h.body);
        su_http_free(&h);
    }
    for (int k = 0; k < 3; k++)
        free(ids[k]);
    su_stop(&s, 0);
    su_cleanup(&s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("api_sequences");
    TCase *tc = tcase_create("sequences");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, sequence_datasets);
    tcase_add_test(tc, jobs_match_shapes);
    tcase_add_test(tc, clip_norm_warned);
    tcase_add_test(tc, adding_problem);
    tcase_add_test(tc, gates_over_long_sequences);
    tcase_add_test(tc, label_per_step);
    tcase_add_test(tc, class_per_step);
    suite_add_tcase(s, tc);
    return tu_run(s) != 0;
}
