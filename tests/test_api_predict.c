/* test_api_predict.c -- what a trained model exports and how it reads the rows it
 * predicts, against the real binary on 127.0.0.1:
 *  - a model rebuilt from GET /v1/models/{id}/weights alone, by an independent numpy
 *    script (tests/rebuild_model.py), answers what /predict answers, to 1e-6, for a
 *    network with batchnorm, a residual block and dropout trained with a validation split
 *    (the scaler is then the training rows', not the dataset's stats);
 *  - a CSV header is matched to the model's input columns by name: reordered columns
 *    predict the same, unknown or missing ones are refused naming them;
 *  - a JSON body holds inputs or instances, not both, and nothing else but TF Serving's
 *    signature_name; a row that is not an array says what it got;
 *  - labels in the hundreds are standardized for mse: the losses and metrics are told in
 *    their units (the validation loss is /predict's mean squared error), the export
 *    undoes the scaling as /predict does, and without it the same job ends far worse,
 *    as the warning of its POST said.
 * Run from the top of the repository (the script is read from tests/). */
#include "srvutil.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const COLS[] = {"sepal_length", "sepal_width", "petal_length", "petal_width"};
enum { F = 4, ROWS = 240 };

/* A dataset of three classes whose four named columns have very different means and
 * scales, so that a model predicts right only with the scaler it was trained with. */
static char *dataset(const struct server *s)
{
    json_t *x = json_array(), *y = json_array(), *cols = json_array();
    unsigned r = 11;
    for (int i = 0; i < ROWS; i++) {
        int c = i % 3;
        json_t *row = json_array();
        for (int j = 0; j < F; j++) {
            r = r * 1103515245u + 12345u;
            double noise = ((r >> 16) % 1000) / 1000.0;
            json_array_append_new(row, json_real((c * 1.5 + 2 * noise) * (1 + 20 * j) + 100 * j));
        }
        json_array_append_new(x, row);
        json_array_append_new(y, json_string(c == 0 ? "setosa" : c == 1 ? "versicolor"
                                                                        : "virginica"));
    }
    for (int j = 0; j < F; j++)
        json_array_append_new(cols, json_string(COLS[j]));
    json_t *d = json_pack("{s:s, s:o, s:o, s:o}", "name", "flowers", "features", x, "labels",
                          y, "columns", cols);
    char *body = json_dumps(d, JSON_COMPACT);
    json_decref(d);
    char *id = su_post_id(s, "/v1/datasets", body, 201);
    free(body);
    return id;
}

/* Trains the network definition (JSON) on ds with a 20% validation split; the model's id
 * (new). */
static char *train(const struct server *s, const char *ds, const char *network)
{
    char *net = su_post_id(s, "/v1/networks", network, 201), body[512];
    snprintf(body, sizeof body,
             "{\"network\": \"%s\", \"dataset\": \"%s\", \"validation\": {\"split\": 0.2}, "
             "\"epochs\": 8, \"batch_size\": 16, \"optimizer\": {\"type\": \"adam\", "
             "\"learning_rate\": 0.01}, \"seed\": 5}", net, ds);
    char *job = su_post_id(s, "/v1/jobs", body, 202);
    json_t *j = su_job_wait(s, job, NULL, 120);
    ck_assert_msg(!strcmp(su_str(j, "state"), "succeeded"), "job ended %s", su_str(j, "state"));
    char *model = strdup(json_string_value(json_object_get(j, "model")));
    json_decref(j);
    free(job);
    free(net);
    return model;
}

/* n rows of raw values spread over (and past) the dataset's range. */
static json_t *probe_rows(int n)
{
    json_t *rows = json_array();
    unsigned r = 99;
    for (int i = 0; i < n; i++) {
        json_t *row = json_array();
        for (int j = 0; j < F; j++) {
            r = r * 1103515245u + 12345u;
            double u = ((r >> 16) % 10000) / 10000.0;
            json_array_append_new(row, json_real((-0.5 + 6 * u) * (1 + 20 * j) + 100 * j));
        }
        json_array_append_new(rows, row);
    }
    return rows;
}

/* POSTs body to path, expects 200; its "outputs" (new). */
static json_t *outputs(const struct server *s, const char *path, const char *body,
                       const char *ctype)
{
    struct http_reply h = su_http(s, "POST", path, body, strlen(body), ctype);
    ck_assert_msg(h.status == 200, "%.200s: %ld %.300s", body, h.status, h.body);
    json_t *j = su_http_json(&h);
    json_t *o = json_incref(json_object_get(j, "outputs"));
    json_decref(j);
    su_http_free(&h);
    return o;
}

/* Writes a JSON value to a new file in dir; its path in out. */
static void write_json(const char *dir, const char *name, const json_t *v, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", dir, name);
    ck_assert_int_eq(json_dump_file(v, out, JSON_COMPACT | JSON_REAL_PRECISION(17)), 0);
}

/* The outputs of tests/rebuild_model.py on the export and the rows (new). */
static json_t *rebuilt(const struct server *s, const json_t *weights, const json_t *cols,
                       const json_t *rows)
{
    char wpath[400], rpath[400], cmd[1024];
    write_json(s->dir, "weights.json", weights, wpath, sizeof wpath);
    json_t *given = json_pack("{s:O, s:O}", "columns", cols, "rows", rows);
    write_json(s->dir, "rows.json", given, rpath, sizeof rpath);
    json_decref(given);
    /* Debian's python3, which has numpy, before any other on the PATH */
    const char *py = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
    snprintf(cmd, sizeof cmd, "%s tests/rebuild_model.py %s %s", py, wpath, rpath);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    json_error_t e;
    json_t *got = json_loadf(p, 0, &e);
    int rc = pclose(p);
    ck_assert_msg(rc == 0 && got, "%s: exit %d, %s", cmd, rc, e.text);
    json_t *o = json_incref(json_object_get(got, "outputs"));
    json_decref(got);
    return o;
}

/* The largest difference between two equally shaped matrices of numbers. */
static double max_diff(const json_t *a, const json_t *b)
{
    ck_assert_int_eq(json_array_size(a), json_array_size(b));
    double worst = 0;
    for (size_t i = 0; i < json_array_size(a); i++) {
        const json_t *ra = json_array_get(a, i), *rb = json_array_get(b, i);
        ck_assert_int_eq(json_array_size(ra), json_array_size(rb));
        for (size_t j = 0; j < json_array_size(ra); j++) {
            double d = fabs(json_number_value(json_array_get(ra, j)) -
                            json_number_value(json_array_get(rb, j)));
            worst = d > worst ? d : worst;
        }
    }
    return worst;
}

/* A network with batchnorm, a residual block and dropout, trained with a validation
 * split, rebuilt from its export (its rows given in another order of columns) answers
 * as /predict does. */
START_TEST(export_rebuilds_predict)
{
    struct server s = {0};
    su_start(&s, NULL);
    char *ds = dataset(&s);
    static const char def[] =
        "{\"inputs\": 4, \"layers\": [{\"type\": \"dense\", \"units\": 12, \"activation\": "
        "\"relu\"}, {\"type\": \"batchnorm\"}, {\"type\": \"residual\", \"layers\": [{\"type\": "
        "\"dense\", \"units\": 12, \"activation\": \"tanh\"}, {\"type\": \"batchnorm\"}]}, "
        "{\"type\": \"dropout\", \"rate\": 0.1}, {\"type\": \"dense\", \"units\": 3, "
        "\"activation\": \"softmax\"}], \"loss\": \"categorical_crossentropy\"}";
    char *model = train(&s, ds, def), path[160];

    /* the model tells its columns, scaler and output activation */
    snprintf(path, sizeof path, "/v1/models/%s", model);
    json_t *m = su_get_json(&s, path);
    json_t *cols = json_object_get(m, "columns");
    ck_assert_int_eq(json_array_size(cols), F);
    for (int j = 0; j < F; j++)
        ck_assert_str_eq(json_string_value(json_array_get(cols, (size_t)j)), COLS[j]);
    ck_assert_str_eq(su_str(m, "output_activation"), "softmax");
    json_t *scaler = json_object_get(m, "scaler");
    ck_assert_int_eq(json_array_size(json_object_get(scaler, "mean")), F);
    ck_assert_int_eq(json_array_size(json_object_get(scaler, "std")), F);
    /* the training rows' mean, not the dataset's: the split left some rows out */
    snprintf(path, sizeof path, "/v1/datasets/%s", ds);
    json_t *d = su_get_json(&s, path);
    json_t *stats = json_array_get(json_object_get(d, "stats"), 3);
    ck_assert_msg(stats != NULL, "no stats: %s", json_dumps(d, 0));
    double all = json_number_value(json_object_get(stats, "mean"));
    double kept = json_number_value(json_array_get(json_object_get(scaler, "mean"), 3));
    ck_assert_msg(fabs(all - kept) > 1e-3, "scaler mean %g, dataset mean %g", kept, all);
    json_decref(d);

    /* /predict on 50 rows */
    json_t *rows = probe_rows(50);
    json_t *req = json_pack("{s:O}", "inputs", rows);
    char *body = json_dumps(req, JSON_COMPACT | JSON_REAL_PRECISION(17));
    snprintf(path, sizeof path, "/v1/models/%s/predict", model);
    json_t *want = outputs(&s, path, body, "application/json");
    free(body);
    json_decref(req);

    /* the export alone: the same outputs, from the rows in reversed column order */
    snprintf(path, sizeof path, "/v1/models/%s/weights", model);
    json_t *w = su_get_json(&s, path);
    ck_assert(json_equal(json_object_get(w, "scaler"), scaler));
    ck_assert(json_equal(json_object_get(w, "columns"), cols));
    ck_assert_str_eq(su_str(w, "output_activation"), "softmax");
    ck_assert_int_eq(json_array_size(json_object_get(w, "classes")), 3);
    json_t *rcols = json_array(), *rrows = json_array();
    for (int j = F - 1; j >= 0; j--)
        json_array_append_new(rcols, json_string(COLS[j]));
    for (size_t i = 0; i < json_array_size(rows); i++) {
        json_t *row = json_array_get(rows, i), *rev = json_array();
        for (int j = F - 1; j >= 0; j--)
            json_array_append(rev, json_array_get(row, (size_t)j));
        json_array_append_new(rrows, rev);
    }
    json_t *got = rebuilt(&s, w, rcols, rrows);
    double diff = max_diff(got, want);
    ck_assert_msg(diff <= 1e-6, "the rebuilt model differs from /predict by %g", diff);

    json_decref(got);
    json_decref(rcols);
    json_decref(rrows);
    json_decref(w);
    json_decref(want);
    json_decref(rows);
    json_decref(m);
    su_stop(&s, 0);
    su_cleanup(&s);
    free(model);
    free(ds);
}
END_TEST

/* A small model trained on the dataset of named columns; its predict path (new). */
static char *small_model(const struct server *s, char *path, size_t cap)
{
    char *ds = dataset(s);
    char *model = train(s, ds, "{\"inputs\": 4, \"layers\": [{\"type\": \"dense\", \"units\": "
                               "3, \"activation\": \"softmax\"}], \"loss\": "
                               "\"categorical_crossentropy\"}");
    snprintf(path, cap, "/v1/models/%s/predict", model);
    free(ds);
    return model;
}

/* A refusal: its status, its problem's errors (new). */
static json_t *refusal(const struct server *s, const char *path, const char *body,
                       const char *ctype, long status)
{
    struct http_reply h = su_http(s, "POST", path, body, strlen(body), ctype);
    ck_assert_msg(h.status == status, "%s: %ld, not %ld: %.400s", body, h.status, status, h.body);
    ck_assert_str_eq(h.ctype, "application/problem+json");
    json_t *j = su_http_json(&h);
    json_t *errors = json_incref(json_object_get(j, "errors"));
    ck_assert_msg(json_array_size(errors) >= 1, "%s", h.body);
    json_decref(j);
    su_http_free(&h);
    return errors;
}

/* The detail of the error at pointer, or NULL. */
static const char *error_at(const json_t *errors, const char *pointer)
{
    for (size_t i = 0; i < json_array_size(errors); i++) {
        const json_t *e = json_array_get(errors, i);
        const char *p = json_string_value(json_object_get(e, "pointer"));
        if (p && !strcmp(p, pointer))
            return json_string_value(json_object_get(e, "detail"));
    }
    return NULL;
}

/* A CSV header is matched to the model's columns by name: the columns reordered predict
 * what they predict in order (they were read in order, predicting wrong); names the model
 * does not have, repeated or missing are refused, each named. */
START_TEST(csv_header_matched_by_name)
{
    struct server s = {0};
    su_start(&s, NULL);
    char path[160], *model = small_model(&s, path, sizeof path);
    const char *json = "{\"inputs\": [[1.2, 30, 250, 500], [2.9, 70, 300, 590]]}";
    json_t *want = outputs(&s, path, json, "application/json");
    static const char *const same[] = {
        "sepal_length,sepal_width,petal_length,petal_width\n1.2,30,250,500\n2.9,70,300,590\n",
        "petal_width,petal_length,sepal_width,sepal_length\n500,250,30,1.2\n590,300,70,2.9\n",
        "\xef\xbb\xbf\"petal_length\", sepal_length ,petal_width,sepal_width\r\n"
        "250,1.2,500,30\r\n300,2.9,590,70\r\n",
        "1.2,30,250,500\n2.9,70,300,590\n",   /* no header: in the model's order */
    };
    for (size_t i = 0; i < sizeof same / sizeof *same; i++) {
        json_t *got = outputs(&s, path, same[i], "text/csv");
        ck_assert_msg(json_equal(got, want), "CSV %s answered otherwise", same[i]);
        json_decref(got);
    }
    /* reordered, the same numbers predict otherwise: the header is not ignored */
    json_t *other = outputs(&s, path, "petal_width,petal_length,sepal_width,sepal_length\n"
                                      "1.2,30,250,500\n2.9,70,300,590\n", "text/csv");
    ck_assert(!json_equal(other, want));
    json_decref(other);

    json_t *e = refusal(&s, path, "a,b,c,d\n1,2,3,4\n", "text/csv", 422);
    for (int i = 0; i < 4; i++) {
        char ptr[32], name[8];
        snprintf(ptr, sizeof ptr, "/header/columns/%d", i);
        snprintf(name, sizeof name, "\"%c\"", 'a' + i);
        const char *d = error_at(e, ptr);
        ck_assert_msg(d && strstr(d, "unknown column") && strstr(d, name), "%s: %s", ptr, d);
    }
    const char *d = error_at(e, "/header");
    ck_assert_msg(d && strstr(d, "missing columns sepal_length, sepal_width, petal_length, "
                              "petal_width"), "%s", d);
    json_decref(e);
    e = refusal(&s, path, "petal_width,petal_length,sepal_width\n1,2,3\n", "text/csv", 422);
    ck_assert_int_eq(json_array_size(e), 1);
    d = error_at(e, "/header");
    ck_assert_msg(d && strstr(d, "missing column sepal_length;"), "%s", d);
    json_decref(e);
    e = refusal(&s, path, "sepal_length,sepal_width,petal_length,petal_width,sepal_width\n"
                "1,2,3,4,5\n", "text/csv", 422);
    d = error_at(e, "/header/columns/4");
    ck_assert_msg(d && strstr(d, "\"sepal_width\" appears twice"), "%s", d);
    json_decref(e);

    json_decref(want);
    su_stop(&s, 0);
    su_cleanup(&s);
    free(model);
}
END_TEST

/* A JSON body holds inputs or instances, not both, and no field but TF Serving's
 * signature_name (ignored); a row that is not an array is named for what it is. */
START_TEST(json_body_fields)
{
    struct server s = {0};
    su_start(&s, NULL);
    char path[160], *model = small_model(&s, path, sizeof path);
    json_t *want = outputs(&s, path, "{\"inputs\": [[1, 2, 3, 4]]}", "application/json");
    json_t *got = outputs(&s, path, "{\"signature_name\": \"serving_default\", \"instances\": "
                                    "[[1, 2, 3, 4]]}", "application/json");
    ck_assert(json_equal(got, want));
    json_decref(got);

    json_t *e = refusal(&s, path, "{\"inputs\": [[1, 2, 3, 4]], \"instances\": [[5, 6, 7, 8]]}",
                        "application/json", 422);
    const char *d = error_at(e, "/instances");
    ck_assert_msg(d && strstr(d, "not both"), "%s", d);
    json_decref(e);
    e = refusal(&s, path, "{\"inputs\": [[1, 2, 3, 4]], \"note\": 1, \"a/b\": 2}",
                "application/json", 422);
    d = error_at(e, "/note");
    ck_assert_msg(d && strstr(d, "unknown field \"note\""), "%s", d);
    ck_assert_ptr_nonnull(error_at(e, "/a~1b"));
    json_decref(e);
    e = refusal(&s, path, "{\"inputs\": [[1, 2, 3, 4]], \"signature_name\": 3}",
                "application/json", 422);
    ck_assert_ptr_nonnull(error_at(e, "/signature_name"));
    json_decref(e);
    e = refusal(&s, path, "{\"inputs\": [5.1, 3.5, 1.4, 0.2]}", "application/json", 422);
    d = error_at(e, "/inputs/0");
    ck_assert_msg(d && !strcmp(d, "expected a row (an array of 4 numbers), got a number"), "%s",
                  d);
    json_decref(e);
    e = refusal(&s, path, "{\"instances\": [[1, 2, 3, 4], {\"a\": 1}]}", "application/json", 422);
    d = error_at(e, "/instances/1");
    ck_assert_msg(d && !strcmp(d, "expected a row (an array of 4 numbers), got an object"),
                  "%s", d);
    json_decref(e);

    json_decref(want);
    su_stop(&s, 0);
    su_cleanup(&s);
    free(model);
}
END_TEST

/* A regression dataset of n rows: two features in [0, 1), y = 1000 x0 + 300 x1 - 50 plus
 * a little noise, as JSON (new); its rows and labels also into rows and ys (new). */
static char *regression(const struct server *s, int n, unsigned seed, json_t **rows, json_t **ys)
{
    *rows = json_array();
    *ys = json_array();
    for (int i = 0; i < n; i++) {
        double v[3];
        for (int j = 0; j < 3; j++) {
            seed = seed * 1103515245u + 12345u;
            v[j] = ((seed >> 16) % 10000) / 10000.0;
        }
        json_array_append_new(*rows, json_pack("[f, f]", v[0], v[1]));
        json_array_append_new(*ys, json_real(1000 * v[0] + 300 * v[1] - 50 + 4 * (v[2] - 0.5)));
    }
    json_t *d = json_pack("{s:s, s:O, s:O}", "name", "linear", "features", *rows, "labels", *ys);
    char *body = json_dumps(d, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(d);
    char *id = su_post_id(s, "/v1/datasets", body, 201);
    free(body);
    return id;
}

/* Trains an mse regression on ds validated on val, with the extra options (JSON members
 * after a comma, or ""); the job as it ended (new). */
static json_t *train_regression(const struct server *s, const char *ds, const char *val,
                                const char *extra)
{
    static const char def[] =
        "{\"inputs\": 2, \"layers\": [{\"type\": \"dense\", \"units\": 8, \"activation\": "
        "\"relu\"}, {\"type\": \"dense\", \"units\": 1}], \"loss\": \"mse\", "
        "\"metrics\": [\"mae\"]}";
    char *net = su_post_id(s, "/v1/networks", def, 201), body[512];
    snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\", \"validation\": "
             "{\"dataset\": \"%s\"}, \"epochs\": 60, \"batch_size\": 16, \"optimizer\": {\"type\": "
             "\"adam\", \"learning_rate\": 0.01}, \"seed\": 3%s}", net,
             ds, val, extra);
    char *job = su_post_id(s, "/v1/jobs", body, 202);
    json_t *j = su_job_wait(s, job, NULL, 120);
    ck_assert_msg(!strcmp(su_str(j, "state"), "succeeded"), "job ended %s", su_str(j, "state"));
    free(job);
    free(net);
    return j;
}

/* The root of the mean squared difference between a model's predictions for rows and ys. */
static double rmse(const struct server *s, const char *model, const json_t *rows,
                   const json_t *ys, json_t **out)
{
    char path[160];
    snprintf(path, sizeof path, "/v1/models/%s/predict", model);
    json_t *req = json_pack("{s:O}", "inputs", rows);
    char *body = json_dumps(req, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_t *o = outputs(s, path, body, "application/json");
    free(body);
    json_decref(req);
    double sum = 0;
    for (size_t i = 0; i < json_array_size(ys); i++) {
        double d = json_number_value(json_array_get(json_array_get(o, i), 0)) -
                   json_number_value(json_array_get(ys, i));
        sum += d * d;
    }
    *out = o;
    return sqrt(sum / (double)json_array_size(ys));
}

/* Labels in the hundreds train with the defaults: they are standardized, and the losses,
 * the metrics and the predictions are in their own units (the validation loss is the
 * mean squared error of /predict on the validation rows); the export undoes the scaling
 * as /predict does. standardize_labels: false trains on them as they are, and the same
 * network and epochs end far worse. */
START_TEST(labels_standardized)
{
    struct server s = {0};
    su_start(&s, NULL);
    json_t *rows, *ys, *vrows, *vys;
    char *ds = regression(&s, 400, 21, &rows, &ys), *val = regression(&s, 100, 77, &vrows, &vys);
    json_t *job = train_regression(&s, ds, val, "");
    ck_assert(json_is_true(json_object_get(job, "standardize_labels")));
    ck_assert_ptr_null(json_object_get(job, "warnings"));
    char *model = strdup(su_str(job, "model"));
    double val_loss = json_number_value(json_object_get(job, "val_loss"));
    double val_mae = json_number_value(json_object_get(json_object_get(job, "val_metrics"), "mae"));
    json_t *pred;
    double e = rmse(&s, model, vrows, vys, &pred);
    ck_assert_msg(fabs(val_loss - e * e) <= 1e-3 * e * e, "val_loss %g, the MSE of /predict %g",
                  val_loss, e * e);
    double mae = 0;
    for (size_t i = 0; i < json_array_size(vys); i++)
        mae += fabs(json_number_value(json_array_get(json_array_get(pred, i), 0)) -
                    json_number_value(json_array_get(vys, i))) / (double)json_array_size(vys);
    ck_assert_msg(fabs(val_mae - mae) <= 1e-3 * mae, "val mae %g, of /predict %g", val_mae, mae);
    /* the labels' deviation is about 300: predicting their mean would be off by that */
    ck_assert_msg(e < 30, "RMSE %g with standardized labels", e);

    char path[160];
    snprintf(path, sizeof path, "/v1/models/%s/weights", model);
    json_t *w = su_get_json(&s, path);
    json_t *ls = json_object_get(w, "label_scaler");
    ck_assert_int_eq(json_array_size(json_object_get(ls, "mean")), 1);
    double sd = json_number_value(json_array_get(json_object_get(ls, "std"), 0));
    ck_assert_msg(sd > 250 && sd < 350, "label deviation %g", sd);
    json_t *cols = json_pack("[s, s]", "x0", "x1");
    json_t *got = rebuilt(&s, w, cols, vrows);
    double worst = 0;
    for (size_t i = 0; i < json_array_size(got); i++) {
        double a = json_number_value(json_array_get(json_array_get(got, i), 0));
        double b = json_number_value(json_array_get(json_array_get(pred, i), 0));
        double rel = fabs(a - b) / fmax(1, fabs(b));
        worst = rel > worst ? rel : worst;
    }
    /* float32 sums of terms some times larger than the output, scaled up by 300: a few
     * units of the seventh digit */
    ck_assert_msg(worst <= 1e-5, "the rebuilt model differs from /predict by %g (relative)",
                  worst);
    json_decref(got);
    json_decref(cols);
    json_decref(w);
    json_decref(pred);
    json_decref(job);
    free(model);

    job = train_regression(&s, ds, val, ", \"standardize_labels\": false");
    model = strdup(su_str(job, "model"));
    /* labels past 1,200 at a learning rate of 0.01 take some 120,000 steps to reach; the
     * job has 60 epochs of 25 batches */
    const json_t *warn = json_array_get(json_object_get(job, "warnings"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(warn, "pointer")), "/standardize_labels");
    const char *wd = json_string_value(json_object_get(warn, "detail"));
    ck_assert_msg(wd && strstr(wd, "the job has 1500 (epochs times batches)"), "%s", wd);
    double raw = rmse(&s, model, vrows, vys, &pred);
    ck_assert_msg(raw > 3 * e, "RMSE %g on raw labels, %g standardized", raw, e);
    snprintf(path, sizeof path, "/v1/models/%s", model);
    json_t *m = su_get_json(&s, path);
    ck_assert(json_is_null(json_object_get(m, "label_scaler")));
    json_decref(m);
    json_decref(pred);
    json_decref(job);
    free(model);

    json_decref(rows), json_decref(ys), json_decref(vrows), json_decref(vys);
    su_stop(&s, 0);
    su_cleanup(&s);
    free(ds), free(val);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("api_predict");
    TCase *tc = tcase_create("predict");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, export_rebuilds_predict);
    tcase_add_test(tc, csv_header_matched_by_name);
    tcase_add_test(tc, json_body_fields);
    tcase_add_test(tc, labels_standardized);
    suite_add_tcase(s, tc);
    return tu_run(s) != 0;
}
