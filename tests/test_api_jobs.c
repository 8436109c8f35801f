/* test_api_jobs.c -- jobs, the queue and models against the real binary on 127.0.0.1:
 * the whole loop (dataset, network, job, metrics, model, predict), cancelling, jobs that
 * cannot run, and a SIGKILL while one job trains and others wait, after which every job
 * finishes and the interrupted one resumes from its checkpoint. What the kill left is
 * read from the database file before the restart, and the resumed job must train
 * exactly as the same job never killed. */
#include "api/api.h"
#include "format/format.h"
#include "srvutil.h"
#include "testutil.h"

#include <math.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The server's database file, read-only, beside the running service (WAL: readers never
 * block its writers) or after it was killed. */
static sqlite3 *db_file(const struct server *s)
{
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open_v2(s->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

/* A query on the database file (with one text parameter when arg is not NULL), stepped
 * to its first row, which must exist. Finish with query_done. */
static sqlite3_stmt *query(sqlite3 *db, const char *sql, const char *arg)
{
    sqlite3_stmt *st;
    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql,
                  sqlite3_errmsg(db));
    if (arg)
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
    ck_assert_msg(sqlite3_step(st) == SQLITE_ROW, "no row for %s in: %s", arg ? arg : "", sql);
    return st;
}

static void query_done(sqlite3 *db, sqlite3_stmt *st)
{
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* On PostgreSQL (su_pg): the rows of a query with one text parameter (the ? of sql when
 * arg is not NULL), in binary when `binary` (BYTEA as its bytes), else as text; at least
 * one. PQclear it. */
static PGresult *pg_query(const struct server *s, const char *sql, const char *arg,
                          int binary)
{
    char q[512];
    size_t n = 0;
    for (const char *p = sql; *p && n + 3 < sizeof q; p++)
        n += *p == '?' ? (size_t)snprintf(q + n, sizeof q - n, "$1") : (q[n] = *p, 1);
    q[n] = 0;
    PGconn *c = PQconnectdb(s->db);
    ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
    PGresult *r = PQexecParams(c, q, arg ? 1 : 0, NULL, &arg, NULL, NULL, binary);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", q, PQresultErrorMessage(r));
    ck_assert_msg(PQntuples(r) > 0, "no row for %s in: %s", arg ? arg : "", sql);
    PQfinish(c);
    return r;
}

/* The first column of the first row of a query (with one text parameter when arg is not
 * NULL) on the server's database file, as an integer. */
static long db_long(const struct server *s, const char *sql, const char *arg)
{
    if (su_pg()) {
        PGresult *r = pg_query(s, sql, arg, 0);
        const char *v = PQgetvalue(r, 0, 0);
        long n = !strcmp(v, "t") ? 1 : !strcmp(v, "f") ? 0 : atol(v);
        PQclear(r);
        return n;
    }
    sqlite3 *db = db_file(s);
    sqlite3_stmt *st = query(db, sql, arg);
    long v = (long)sqlite3_column_int64(st, 0);
    query_done(db, st);
    return v;
}

static void ck_no_checkpoints(const struct server *s)
{
    ck_assert_int_eq(db_long(s, "SELECT count(*) FROM checkpoints", NULL), 0);
    ck_assert_int_eq(db_long(s, "SELECT count(*) FROM checkpoint_best", NULL), 0);
}

START_TEST(whole_loop)
{
    struct server s = {0};
    su_start(&s, NULL);
    char *ds = su_dataset(&s, 300, 4, 1), *net = su_network(&s, 4, 16), body[512];
    snprintf(body, sizeof body,
             "{\"network\": \"%s\", \"dataset\": \"%s\", \"validation\": {\"split\": 0.2}, "
             "\"epochs\": 15, \"batch_size\": 16, \"optimizer\": {\"type\": \"adam\", "
             "\"learning_rate\": 0.01}, \"seed\": 3}", net, ds);
    struct http_reply h = su_http(&s, "POST", "/v1/jobs", body, strlen(body), "application/json");
    ck_assert_msg(h.status == 202, "%ld %s", h.status, h.body);
    ck_assert_str_eq(h.ctype, "application/json");
    ck_assert(strncmp(h.location, "/v1/jobs/job_", 13) == 0);
    json_t *j = su_http_json(&h);
    char *id = strdup(json_string_value(json_object_get(j, "id")));
    ck_assert_str_eq(su_str(j, "state"), "queued");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "epochs")), 15);
    json_decref(j);
    su_http_free(&h);

    j = su_job_wait(&s, id, NULL, 60);
    ck_assert_msg(!strcmp(su_str(j, "state"), "succeeded"), "job ended %s: %s",
                  su_str(j, "state"), json_dumps(json_object_get(j, "error"), 0));
    ck_assert_int_eq(json_integer_value(json_object_get(j, "epoch")), 15);
    ck_assert(json_real_value(json_object_get(j, "progress")) == 1.0);
    double acc = json_number_value(json_object_get(json_object_get(j, "val_metrics"), "accuracy"));
    ck_assert_msg(acc >= 0.9, "validation accuracy %g", acc);
    const char *model = json_string_value(json_object_get(j, "model"));
    ck_assert_ptr_nonnull(model);
    char mid[64], path[160];
    snprintf(mid, sizeof mid, "%s", model);
    json_decref(j);

    /* every epoch's row, as JSON and CSV */
    snprintf(path, sizeof path, "/v1/jobs/%s/metrics", id);
    j = su_get_json(&s, path);
    json_t *epochs = json_object_get(j, "epochs");
    ck_assert_int_eq(json_array_size(epochs), 15);
    for (size_t e = 0; e < 15; e++) {
        json_t *row = json_array_get(epochs, e);
        ck_assert_int_eq(json_integer_value(json_object_get(row, "epoch")), (int)e + 1);
        ck_assert(json_is_number(json_object_get(row, "loss")));
        ck_assert(json_is_number(json_object_get(row, "val_loss")));
        ck_assert(json_object_size(json_object_get(row, "grad_norms")) == 2);
        ck_assert(json_object_size(json_object_get(row, "dead_relu")) == 1);
    }
    double first = json_number_value(json_object_get(json_array_get(epochs, 0), "loss"));
    double last = json_number_value(json_object_get(json_array_get(epochs, 14), "loss"));
    ck_assert_msg(last < first, "loss went from %g to %g", first, last);
    json_decref(j);
    snprintf(path, sizeof path, "/v1/jobs/%s/metrics?format=csv", id);
    h = su_http(&s, "GET", path, NULL, 0, NULL);
    ck_assert_int_eq(h.status, 200);
    ck_assert_str_eq(h.ctype, "text/csv");
    ck_assert_msg(strncmp(h.body, "epoch,loss,val_loss,accuracy,val_accuracy,seconds,"
                                  "grad_norm:/layers/0,", 70) == 0, "%.200s", h.body);
    int lines = 0;
    for (char *p = h.body; *p; p++)
        lines += *p == '\n';
    ck_assert_int_eq(lines, 16);
    su_http_free(&h);

    /* the model predicts class names */
    snprintf(path, sizeof path, "/v1/models/%s", mid);
    j = su_get_json(&s, path);
    ck_assert_str_eq(json_string_value(json_object_get(j, "label_kind")), "classes");
    json_decref(j);
    snprintf(path, sizeof path, "/v1/models/%s/predict", mid);
    const char *in = "{\"inputs\": [[0.5, 0.5, 0.5, 0.5], [2.5, 2.5, 2.5, 2.5], "
                     "[4.5, 4.5, 4.5, 4.5]]}";
    h = su_http(&s, "POST", path, in, strlen(in), "application/json");
    ck_assert_msg(h.status == 200, "%ld %s", h.status, h.body);
    j = su_http_json(&h);
    json_t *pred = json_object_get(j, "predictions");
    ck_assert_str_eq(json_string_value(json_array_get(pred, 0)), "red");
    ck_assert_str_eq(json_string_value(json_array_get(pred, 1)), "green");
    ck_assert_str_eq(json_string_value(json_array_get(pred, 2)), "blue");
    ck_assert_int_eq(json_array_size(json_array_get(json_object_get(j, "outputs"), 0)), 3);
    json_decref(j);
    su_http_free(&h);
    /* TF Serving's shape and CSV rows answer the same */
    const char *inst = "{\"instances\": [[4.5, 4.5, 4.5, 4.5]]}";
    h = su_http(&s, "POST", path, inst, strlen(inst), "application/json");
    ck_assert_int_eq(h.status, 200);
    ck_assert(strstr(h.body, "\"blue\"") != NULL);
    su_http_free(&h);
    const char *csv = "x0,x1,x2,x3\n4.5,4.5,4.5,4.5\n0.5,0.5,0.5,0.5\n";
    h = su_http(&s, "POST", path, csv, strlen(csv), "text/csv");
    ck_assert_msg(h.status == 200, "%ld %s", h.status, h.body);
    ck_assert(strstr(h.body, "[\"blue\",\"red\"]") != NULL);
    su_http_free(&h);
    /* a wrong width is named */
    const char *wrong = "{\"inputs\": [[1, 2, 3]]}";
    h = su_http(&s, "POST", path, wrong, strlen(wrong), "application/json");
    ck_assert_int_eq(h.status, 422);
    ck_assert_str_eq(h.ctype, "application/problem+json");
    ck_assert(strstr(h.body, "\"/inputs/0\"") != NULL);
    su_http_free(&h);
    /* weights: per layer its shape and values */
    snprintf(path, sizeof path, "/v1/models/%s/weights", mid);
    j = su_get_json(&s, path);
    json_t *t = json_object_get(j, "tensors");
    ck_assert_int_eq(json_array_size(t), 4);
    ck_assert_int_eq(json_integer_value(json_array_get(json_object_get(json_array_get(t, 0),
                                                                       "shape"), 0)), 16);
    ck_assert_int_eq(json_array_size(json_object_get(json_array_get(t, 0), "values")), 16);
    json_decref(j);

    /* once its model is deleted, the job names it no more, and says why */
    snprintf(path, sizeof path, "/v1/jobs/%s", id);
    j = su_get_json(&s, path);
    ck_assert(json_is_false(json_object_get(j, "model_deleted")));
    json_decref(j);
    snprintf(path, sizeof path, "/v1/models/%s", mid);
    h = su_http(&s, "DELETE", path, NULL, 0, NULL);
    ck_assert_int_eq(h.status, 204);
    su_http_free(&h);
    snprintf(path, sizeof path, "/v1/jobs/%s", id);
    j = su_get_json(&s, path);
    ck_assert(json_is_null(json_object_get(j, "model")));
    ck_assert(json_is_true(json_object_get(j, "model_deleted")));
    ck_assert_str_eq(su_str(j, "state"), "succeeded");
    json_decref(j);
    j = su_get_json(&s, "/v1/jobs");
    json_t *row = json_array_get(json_object_get(j, "items"), 0);
    ck_assert(json_is_null(json_object_get(row, "model")));
    ck_assert(json_is_true(json_object_get(row, "model_deleted")));
    json_decref(j);

    su_stop(&s, 0);
    su_cleanup(&s);
    free(ds), free(net), free(id);
}
END_TEST

/* A prediction's answer for a body (expects 200): its "outputs" (new). */
static json_t *outputs_for(const struct server *s, const char *path, const char *body,
                           size_t len, const char *ctype)
{
    struct http_reply h = su_http(s, "POST", path, body, len, ctype);
    ck_assert_msg(h.status == 200, "%s body %.200s: %ld %.300s", ctype, body, h.status, h.body);
    json_t *j = su_http_json(&h);
    json_t *o = json_incref(json_object_get(j, "outputs"));
    json_decref(j);
    su_http_free(&h);
    return o;
}

/* A prediction refused with that status and (when not NULL) that errors[].pointer. */
static void refused(const struct server *s, const char *path, const char *body, size_t len,
                    const char *ctype, long status, const char *pointer)
{
    struct http_reply h = su_http(s, "POST", path, body, len, ctype);
    ck_assert_msg(h.status == status, "%s body %.200s: %ld, not %ld: %.300s", ctype, body,
                  h.status, status, h.body);
    ck_assert_str_eq(h.ctype, "application/problem+json");
    if (pointer) {
        json_t *j = su_http_json(&h);
        const char *p = json_string_value(
            json_object_get(json_array_get(json_object_get(j, "errors"), 0), "pointer"));
        ck_assert_msg(p && !strcmp(p, pointer), "%.200s: pointer %s, not %s", body, p, pointer);
        json_decref(j);
    }
    su_http_free(&h);
}

/* Every form of a predict body reads the same numbers: the JSON fast path and jansson's
 * (which refused integers past int64 that the fast path took), and CSV rows read as a
 * dataset upload reads them (a BOM, quotes, CRLF; once a first row behind a BOM was
 * taken for a header, and "1 x" or NUL bytes were read as numbers). */
START_TEST(predict_bodies_agree)
{
    struct server s = {0};
    su_start(&s, NULL);
    char *ds = su_dataset(&s, 60, 4, 1), *net = su_network(&s, 4, 8), body[512], path[160];
    snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\", \"epochs\": 2, "
             "\"batch_size\": 16, \"seed\": 1}", net, ds);
    char *id = su_post_id(&s, "/v1/jobs", body, 202);
    json_t *j = su_job_wait(&s, id, NULL, 60);
    ck_assert_str_eq(su_str(j, "state"), "succeeded");
    snprintf(path, sizeof path, "/v1/models/%s/predict",
             json_string_value(json_object_get(j, "model")));
    json_decref(j);

    const char *fast = "{\"inputs\": [[0.5, -2, 1e3, 12345678901234567890], [4.5, 0, 0, 0]]}";
    json_t *want = outputs_for(&s, path, fast, strlen(fast), "application/json");
    ck_assert_int_eq(json_array_size(want), 2);
    static const char *const same_json[] = {
        "{\"inputs\": [[0.5, -2, 1e3, 12345678901234567890], [4.5, 0, 0, 0]], "
        "\"signature_name\": \"serving_default\"}",
        "{\"instances\": [[0.5, -2.0, 1000, 1.2345678901234567890e19], [4.5, 0, 0, 0]]}",
        "{\"\\u0069nputs\": [[0.5, -2, 1e3, 12345678901234567890], [4.5, -0, 0, 0]]}",
    };
    for (size_t i = 0; i < sizeof same_json / sizeof *same_json; i++) {
        json_t *got = outputs_for(&s, path, same_json[i], strlen(same_json[i]),
                                  "application/json");
        ck_assert_msg(json_equal(got, want), "%s answered otherwise", same_json[i]);
        json_decref(got);
    }
    static const char *const same_csv[] = {
        "0.5,-2,1e3,12345678901234567890\n4.5,0,0,0\n",
        "\xef\xbb\xbf" "0.5,-2,1e3,12345678901234567890\r\n4.5,0,0,0\r\n",
        "x0,x1,x2,x3\n\"0.5\", -2 ,1000,\"1.2345678901234567890e19\"\n\n4.5,0,0,0",
        "\xef\xbb\xbf" "x0,\"x1\",\"x2\",x3\r0.5,-2,1e3,12345678901234567890\r4.5,0,0,0\r",
    };
    for (size_t i = 0; i < sizeof same_csv / sizeof *same_csv; i++) {
        json_t *got = outputs_for(&s, path, same_csv[i], strlen(same_csv[i]), "text/csv");
        ck_assert_msg(json_equal(got, want), "CSV %s answered otherwise", same_csv[i]);
        json_decref(got);
    }
    refused(&s, path, "1,2,3,4\n1 x,2,3,4\n", 18, "text/csv", 422, "/rows/1/columns/0");
    refused(&s, path, "1,2,3,4\n0x10,2,3,4\n", 19, "text/csv", 422, "/rows/1/columns/0");
    refused(&s, path, "1,2,3,4\n\0\0,2,3,4\n", 17, "text/csv", 422, "/rows/1/columns/0");
    refused(&s, path, "1,2,3,4\n5,\"6,7,8\n", 17, "text/csv", 422, "/rows/1");
    /* a number that rounds to FLT_MAX is a float32 in JSON as in CSV (the JSON paths
     * refused it); one past that is refused by both */
    const char *edge = "{\"inputs\": [[3.40282347e+38, -3.4028234663952886e38, 0, 0]]}";
    json_t *ej = outputs_for(&s, path, edge, strlen(edge), "application/json");
    json_t *ec = outputs_for(&s, path, "3.40282347e+38,-3.4028234663952886e38,0,0\n", 42,
                             "text/csv");
    ck_assert(json_equal(ej, ec));
    json_decref(ej);
    json_decref(ec);
    refused(&s, path, "{\"inputs\": [[3.5e38, 0, 0, 0]]}", 31, "application/json", 422,
            "/inputs/0/0");

    /* the fast path keeps the limit of 100,000 rows too */
    size_t cap = 32 + 100001 * 10, len = 0;
    char *big = malloc(cap);
    ck_assert_ptr_nonnull(big);
    len += (size_t)sprintf(big, "{\"inputs\": [");
    for (int i = 0; i < 100001; i++)
        len += (size_t)sprintf(big + len, "%s[0,0,0,0]", i ? "," : "");
    len += (size_t)sprintf(big + len, "]}");
    refused(&s, path, big, len, "application/json", 413, NULL);
    free(big);

    json_decref(want);
    su_stop(&s, 0);
    su_cleanup(&s);
    free(ds), free(net), free(id);
}
END_TEST

START_TEST(cancel_queued_and_running)
{
    struct server s = {0};
    su_start(&s, NULL);
    char *ds = su_dataset(&s, 3000, 32, 0), *net = su_network(&s, 32, 256), body[512];
    snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\", \"epochs\": 100000, "
             "\"batch_size\": 8}", net, ds);
    char *a = su_post_id(&s, "/v1/jobs", body, 202), *b = su_post_id(&s, "/v1/jobs", body, 202);
    char path[160];
    json_t *j = su_job_wait(&s, a, "running", 30);
    ck_assert_str_eq(su_str(j, "state"), "running");
    json_decref(j);
    /* b waits behind a: cancelled at once */
    snprintf(path, sizeof path, "/v1/jobs/%s/cancel", b);
    struct http_reply h = su_http(&s, "POST", path, NULL, 0, NULL);
    ck_assert_msg(h.status == 200, "%ld %s", h.status, h.body);
    j = su_http_json(&h);
    ck_assert_str_eq(su_str(j, "state"), "cancelled");
    json_decref(j);
    su_http_free(&h);
    /* a runs: cancelled at its next batch, keeping a model once an epoch is done */
    su_job_wait_epoch(&s, a, 1, 30);
    snprintf(path, sizeof path, "/v1/jobs/%s/cancel", a);
    h = su_http(&s, "POST", path, NULL, 0, NULL);
    ck_assert_msg(h.status == 202, "%ld %s", h.status, h.body);
    su_http_free(&h);
    j = su_job_wait(&s, a, NULL, 30);
    ck_assert_str_eq(su_str(j, "state"), "cancelled");
    ck_assert(json_is_string(json_object_get(j, "model")));
    json_decref(j);
    /* cancelling an ended job is a conflict */
    h = su_http(&s, "POST", path, NULL, 0, NULL);
    ck_assert_int_eq(h.status, 409);
    su_http_free(&h);
    /* the list filters by state */
    j = su_get_json(&s, "/v1/jobs?state=cancelled");
    ck_assert_int_eq(json_array_size(json_object_get(j, "items")), 2);
    json_decref(j);
    ck_no_checkpoints(&s);
    su_stop(&s, 0);
    su_cleanup(&s);
    free(ds), free(net), free(a), free(b);
}
END_TEST

/* The epochs each of jobs[0..n) has stored. */
static void stored_now(const struct server *s, char *const *jobs, int n, long *epochs)
{
    for (int k = 0; k < n; k++) {
        char path[128];
        snprintf(path, sizeof path, "/v1/jobs/%s", jobs[k]);
        json_t *j = su_get_json(s, path);
        epochs[k] = su_int(j, "epoch");
        json_decref(j);
    }
}

/* Three workers training jobs whose epochs last a millisecond or so, each epoch a
 * commit: every job gets its turn to write. (On SQLite, whose own wait for the write lock
 * sleeps and looks again, the writers that committed often took every turn: a job stored
 * no epoch for seconds while the others stored thousands, a worker waited seconds to
 * claim its job, and so did a POST.) Over a window of about 600 epochs, each job stores
 * at least a quarter of what the fastest stores. */
START_TEST(busy_workers_take_turns)
{
    enum { W = 3, WINDOW = 600 };
    struct server s = {0};
    su_start(&s, (const char *const[]){"--workers", "3", "--threads", "1", NULL});
    char *ds = su_dataset(&s, 60, 4, 1), *net = su_network(&s, 4, 8), body[512], *jobs[W];
    for (int k = 0; k < W; k++) {
        snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\", "
                 "\"epochs\": 100000, \"seed\": %d}", net, ds, k);
        jobs[k] = su_post_id(&s, "/v1/jobs", body, 202);
    }
    for (int k = 0; k < W; k++)
        su_job_wait_epoch(&s, jobs[k], 1, 60);
    long a[W], b[W], sum = 0, lo = 0, hi = 0;
    stored_now(&s, jobs, W, a);
    for (int i = 0; i < 2400 && sum < WINDOW; i++) {   /* at most 60 s */
        usleep(25000);
        stored_now(&s, jobs, W, b);
        sum = 0;
        for (int k = 0; k < W; k++)
            sum += b[k] - a[k];
    }
    ck_assert_msg(sum >= WINDOW, "the jobs stored %ld epochs in 60 s", sum);
    for (int k = 0; k < W; k++) {
        long d = b[k] - a[k];
        lo = k == 0 || d < lo ? d : lo;
        hi = k == 0 || d > hi ? d : hi;
    }
    ck_assert_msg(lo * 4 >= hi, "epochs stored in one window: %ld, %ld, %ld", b[0] - a[0],
                  b[1] - a[1], b[2] - a[2]);
    fprintf(stderr, "busy_workers_take_turns: epochs stored in one window: %ld, %ld, %ld\n",
            b[0] - a[0], b[1] - a[1], b[2] - a[2]);
    su_stop(&s, 0);
    su_cleanup(&s);
    for (int k = 0; k < W; k++)
        free(jobs[k]);
    free(ds), free(net);
}
END_TEST

/* A cancel says how the job ends: 200 when it was queued (now cancelled), 202 when it
 * was running and will end cancelled, 409 naming the state it ended in otherwise, however
 * the cancel meets the job (queued, being claimed, training, saving its model, ended). */
START_TEST(cancel_answers_how_the_job_ends)
{
    struct server s = {0};
    su_start(&s, NULL);
    char *ds = su_dataset(&s, 600, 16, 0), *net = su_network(&s, 16, 64), body[512];
    snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\", \"epochs\": 2, "
             "\"batch_size\": 16}", net, ds);
    /* how long a job takes, from its POST to its end, polled every millisecond */
    double t0 = su_now();
    char *first = su_post_id(&s, "/v1/jobs", body, 202), path[160];
    snprintf(path, sizeof path, "/v1/jobs/%s", first);
    for (int ended = 0; !ended;) {
        json_t *j = su_get_json(&s, path);
        ended = strcmp(su_str(j, "state"), "succeeded") == 0;
        json_decref(j);
        ck_assert_msg(su_now() - t0 < 30, "the job did not end");
        usleep(1000);
    }
    const double took = su_now() - t0;
    free(first);
    int answered[3] = {0};   /* 200, 202, 409 */
    for (int k = 0; k < 60; k++) {
        char *id = su_post_id(&s, "/v1/jobs", body, 202), want[64] = "cancelled";
        usleep((useconds_t)(took * 1.5 * 1e6 * k / 60));   /* from at once to after the end */
        if (k == 59)   /* the last one surely after its end, however slow the machine is */
            json_decref(su_job_wait(&s, id, "succeeded", 30));
        snprintf(path, sizeof path, "/v1/jobs/%s/cancel", id);
        struct http_reply h = su_http(&s, "POST", path, NULL, 0, NULL);
        ck_assert_msg(h.status == 200 || h.status == 202 || h.status == 409, "%ld %s",
                      h.status, h.body);
        answered[h.status == 200 ? 0 : h.status == 202 ? 1 : 2]++;
        if (h.status == 409) {   /* "... has already ended (succeeded)" */
            json_t *p = su_http_json(&h);
            const char *open = strrchr(su_str(p, "detail"), '(');
            ck_assert_ptr_nonnull(open);
            snprintf(want, sizeof want, "%.*s", (int)strcspn(open + 1, ")"), open + 1);
            json_decref(p);
        }
        json_t *j = su_job_wait(&s, id, NULL, 30);
        ck_assert_msg(strcmp(su_str(j, "state"), want) == 0, "job %d: cancel answered %ld, "
                      "the job ended %s", k, h.status, su_str(j, "state"));
        json_decref(j);
        su_http_free(&h);
        free(id);
    }
    /* the delays met the job in more than one way */
    ck_assert_msg(answered[1] > 0 && answered[2] > 0, "200: %d, 202: %d, 409: %d",
                  answered[0], answered[1], answered[2]);
    su_stop(&s, 0);
    su_cleanup(&s);
    free(ds), free(net);
}
END_TEST

/* What one client may ask of the service: --max-queued jobs waiting (then 429 with
 * Retry-After, until one leaves the queue) and --max-epoch-rows a job (422 at /epochs). */
/* Each token has its part of the queue (--max-queued-per-token); jobs queued with one
 * token do not take another's. */
START_TEST(quota_per_token)
{
    char dir[256], file[300];
    su_tmpdir(dir, sizeof dir, "tokens");
    snprintf(file, sizeof file, "%s/tokens", dir);
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fputs("ci-0123456789abcdefghijkl write ci\nnb-0123456789abcdefghijkl write notebook\n", f);
    fclose(f);
    struct server s = {0};
    const char *extra[] = {"--token-file", file, "--max-queued-per-token", "2", "--max-queued",
                           "10", "--workers", "1", "--threads", "1", NULL};
    su_start(&s, extra);
    snprintf(s.token, sizeof s.token, "ci-0123456789abcdefghijkl");
    char *ds = su_dataset(&s, 3000, 8, 0), *net = su_network(&s, 8, 16), body[512];
    snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\", \"epochs\": 100, "
             "\"batch_size\": 1}", net, ds);
    /* ci: one runs, two wait, the next is refused */
    char *ids[5];
    ids[0] = su_post_id(&s, "/v1/jobs", body, 202);
    json_decref(su_job_wait(&s, ids[0], "running", 30));
    ids[1] = su_post_id(&s, "/v1/jobs", body, 202);
    ids[2] = su_post_id(&s, "/v1/jobs", body, 202);
    struct http_reply h = su_http(&s, "POST", "/v1/jobs", body, strlen(body), "application/json");
    ck_assert_msg(h.status == 429, "%ld %s", h.status, h.body);
    ck_assert_str_eq(h.ctype, "application/problem+json");
    ck_assert_int_gt(atoi(h.retry_after), 0);
    json_t *p = su_http_json(&h);
    const char *detail = su_str(p, "detail");
    ck_assert_msg(strstr(detail, "--max-queued-per-token") && strstr(detail, "the token ci "),
                  "%s", detail);
    ck_assert_ptr_null(strstr(detail, "0123456789"));   /* the name, never the token */
    json_decref(p);
    su_http_free(&h);
    /* the notebook's token has its own two places */
    snprintf(s.token, sizeof s.token, "nb-0123456789abcdefghijkl");
    ids[3] = su_post_id(&s, "/v1/jobs", body, 202);
    ids[4] = su_post_id(&s, "/v1/jobs", body, 202);
    h = su_http(&s, "POST", "/v1/jobs", body, strlen(body), "application/json");
    ck_assert_msg(h.status == 429, "%ld %s", h.status, h.body);
    su_http_free(&h);
    /* once one of ci's leaves the queue, ci has a place again */
    char path[160];
    snprintf(path, sizeof path, "/v1/jobs/%s/cancel", ids[1]);
    h = su_http(&s, "POST", path, NULL, 0, NULL);
    ck_assert_int_eq(h.status, 200);
    su_http_free(&h);
    snprintf(s.token, sizeof s.token, "ci-0123456789abcdefghijkl");
    char *again = su_post_id(&s, "/v1/jobs", body, 202);
    for (int i = 0; i < 6; i++) {
        snprintf(path, sizeof path, "/v1/jobs/%s/cancel", i < 5 ? ids[i] : again);
        h = su_http(&s, "POST", path, NULL, 0, NULL);
        su_http_free(&h);
    }
    su_stop(&s, 0);
    su_cleanup(&s);
    for (int i = 0; i < 5; i++)
        free(ids[i]);
    free(again), free(ds), free(net);
    remove(file);
    rmdir(dir);
}
END_TEST

START_TEST(quotas)
{
    struct server s = {0};
    const char *extra[] = {"--max-queued", "2", "--max-epoch-rows", "300k", "--workers", "1",
                           "--threads", "1", NULL};
    su_start(&s, extra);
    char *ds = su_dataset(&s, 3000, 8, 0), *net = su_network(&s, 8, 16), body[512];
    /* 101 epochs of 3000 rows are 303,000 rows to train: over */
    snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\", \"epochs\": 101}",
             net, ds);
    struct http_reply h = su_http(&s, "POST", "/v1/jobs", body, strlen(body), "application/json");
    ck_assert_msg(h.status == 422, "%ld %s", h.status, h.body);
    ck_assert_str_eq(h.ctype, "application/problem+json");
    json_t *p = su_http_json(&h);
    const json_t *e0 = json_array_get(json_object_get(p, "errors"), 0);
    ck_assert_str_eq(su_str(e0, "pointer"), "/epochs");
    ck_assert_ptr_nonnull(strstr(su_str(e0, "detail"), "--max-epoch-rows"));
    json_decref(p);
    su_http_free(&h);

    /* 100 epochs are at the limit: a runs, b and c wait, d finds the queue full */
    snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\", \"epochs\": 100, "
             "\"batch_size\": 1}", net, ds);
    char *a = su_post_id(&s, "/v1/jobs", body, 202);
    json_decref(su_job_wait(&s, a, "running", 30));
    char *b = su_post_id(&s, "/v1/jobs", body, 202), *c = su_post_id(&s, "/v1/jobs", body, 202);
    h = su_http(&s, "POST", "/v1/jobs", body, strlen(body), "application/json");
    ck_assert_msg(h.status == 429, "%ld %s", h.status, h.body);
    ck_assert_str_eq(h.ctype, "application/problem+json");
    ck_assert_int_gt(atoi(h.retry_after), 0);
    p = su_http_json(&h);
    ck_assert_ptr_nonnull(strstr(su_str(p, "detail"), "--max-queued"));
    json_decref(p);
    su_http_free(&h);
    json_t *list = su_get_json(&s, "/v1/jobs?state=queued");
    ck_assert_int_eq(json_array_size(json_object_get(list, "items")), 2);
    json_decref(list);

    /* once b leaves the queue there is a place again */
    char path[160];
    snprintf(path, sizeof path, "/v1/jobs/%s/cancel", b);
    h = su_http(&s, "POST", path, NULL, 0, NULL);
    ck_assert_int_eq(h.status, 200);
    su_http_free(&h);
    char *d = su_post_id(&s, "/v1/jobs", body, 202);
    const char *all[] = {a, c, d};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "/v1/jobs/%s/cancel", all[i]);
        h = su_http(&s, "POST", path, NULL, 0, NULL);
        su_http_free(&h);
    }
    su_stop(&s, 0);
    su_cleanup(&s);
    free(ds), free(net), free(a), free(b), free(c), free(d);
}
END_TEST

START_TEST(jobs_that_cannot_run)
{
    struct server s = {0};
    su_start(&s, NULL);
    char *ds = su_dataset(&s, 30, 4, 1), *net5 = su_network(&s, 5, 8), body[512];
    struct {
        const char *fmt, *pointer;
    } cases[] = {
        {"{\"network\": \"%s\", \"dataset\": \"%s\"}", "/dataset"},          /* 5 inputs, 4 */
        {"{\"network\": \"net_nope\", \"dataset\": \"%s%s\"}", "/network"},
        {"{\"network\": \"%s\", \"dataset\": \"ds_nope%s\"}", "/dataset"},
        {"{\"network\": \"%s\", \"dataset\": \"%s\", \"epochs\": 0}", "/epochs"},
        {"{\"network\": \"%s\", \"dataset\": \"%s\", \"epochs\": 2.5}", "/epochs"},
        {"{\"network\": \"%s\", \"dataset\": \"%s\", \"optimizer\": {\"type\": \"rmsprop\"}}",
         "/optimizer/type"},
        {"{\"network\": \"%s\", \"dataset\": \"%s\", \"optimizer\": {\"learning_rate\": -1}}",
         "/optimizer/learning_rate"},
        {"{\"network\": \"%s\", \"dataset\": \"%s\", \"validation\": {\"split\": 1.5}}",
         "/validation/split"},
        {"{\"network\": \"%s\", \"dataset\": \"%s\", \"early_stopping\": {\"monitor\": "
         "\"val_loss\"}}", "/early_stopping/monitor"},
        {"{\"network\": \"%s\", \"dataset\": \"%s\", \"colour\": 1}", "/colour"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        if (strstr(cases[i].fmt, "net_nope"))
            snprintf(body, sizeof body, cases[i].fmt, ds, "");
        else if (strstr(cases[i].fmt, "ds_nope"))
            snprintf(body, sizeof body, cases[i].fmt, net5, "");
        else
            snprintf(body, sizeof body, cases[i].fmt, net5, ds);
        struct http_reply h = su_http(&s, "POST", "/v1/jobs", body, strlen(body),
                                      "application/json");
        ck_assert_msg(h.status == 422, "case %zu: %ld %s", i, h.status, h.body);
        ck_assert_str_eq(h.ctype, "application/problem+json");
        char want[96];
        snprintf(want, sizeof want, "\"pointer\":\"%s\"", cases[i].pointer);
        ck_assert_msg(strstr(h.body, want) != NULL, "case %zu: no %s in %s", i, want, h.body);
        su_http_free(&h);
    }
    /* labels that do not fit the loss: class names for a regression */
    const char *reg = "{\"inputs\": 4, \"layers\": [{\"type\": \"dense\", \"units\": 1}], "
                      "\"loss\": \"mse\"}";
    snprintf(body, sizeof body, "{\"network\": %s, \"dataset\": \"%s\"}", reg, ds);
    struct http_reply h = su_http(&s, "POST", "/v1/jobs", body, strlen(body), "application/json");
    ck_assert_msg(h.status == 422 && strstr(h.body, "class names"), "%ld %s", h.status, h.body);
    su_http_free(&h);
    /* nothing was queued */
    json_t *j = su_get_json(&s, "/v1/jobs");
    ck_assert_int_eq(json_array_size(json_object_get(j, "items")), 0);
    json_decref(j);
    su_stop(&s, 0);
    su_cleanup(&s);
    free(ds), free(net5);
}
END_TEST

/* Epoch rows of a job: each epoch exactly once, in order. */
static void ck_epochs(const struct server *s, const char *id, int n)
{
    char path[160];
    snprintf(path, sizeof path, "/v1/jobs/%s/metrics", id);
    json_t *j = su_get_json(s, path), *e = json_object_get(j, "epochs");
    ck_assert_int_eq(json_array_size(e), n);
    for (int k = 0; k < n; k++)
        ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(e, (size_t)k),
                                                            "epoch")), k + 1);
    json_decref(j);
}

/* ---- a SIGKILL while a job trains: what the database file shows ---- */

/* Epochs of the jobs killed while they train: long enough that a job cannot end between
 * the poll that sees its second epoch and the SIGKILL (an epoch of these jobs takes tens
 * of milliseconds: a second or more of training is left), which the database file then
 * confirms. */
#define KILLED_EPOCHS 60

/* A job's epoch rows as stored, in order of epoch: the text of each (new array of
 * strings). */
static json_t *stored_epochs(const struct server *s, const char *id)
{
    if (su_pg()) {
        json_t *rows = json_array();
        char sql[] = "SELECT metrics FROM epochs WHERE job_id = $1 ORDER BY epoch";
        PGconn *c = PQconnectdb(s->db);
        PGresult *r = PQexecParams(c, sql, 1, NULL, &id, NULL, NULL, 0);
        ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
        for (int i = 0; i < PQntuples(r); i++)
            json_array_append_new(rows, json_string(PQgetvalue(r, i, 0)));
        PQclear(r);
        PQfinish(c);
        return rows;
    }
    sqlite3 *db = db_file(s);
    sqlite3_stmt *st;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT metrics FROM epochs WHERE job_id = ? "
                                        "ORDER BY epoch", -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    json_t *rows = json_array();
    while (sqlite3_step(st) == SQLITE_ROW)
        json_array_append_new(rows, json_string((const char *)sqlite3_column_text(st, 0)));
    query_done(db, st);
    return rows;
}

/* Row k of stored_epochs parsed (new). */
static json_t *row_at(const json_t *rows, size_t k)
{
    json_error_t e;
    json_t *row = json_loads(json_string_value(json_array_get(rows, k)), 0, &e);
    ck_assert_msg(row != NULL, "stored epoch row %zu is not JSON: %s", k + 1, e.text);
    return row;
}

/* Right after the SIGKILL, before the restart: the database file shows job id running,
 * its checkpoint at an epoch below its `epochs`, and the epoch rows up to that one (they
 * are written in one transaction). Returns the checkpoint's epoch. */
static int killed_while_running(const struct server *s, const char *id, int epochs)
{
    ck_assert_int_eq(db_long(s, "SELECT state = 'running' FROM jobs WHERE id = ?", id), 1);
    int job_epoch = (int)db_long(s, "SELECT epoch FROM jobs WHERE id = ?", id);
    ck_assert_int_eq(db_long(s, "SELECT count(*) FROM checkpoints WHERE job_id = ?", id), 1);
    int at = (int)db_long(s, "SELECT epoch FROM checkpoints WHERE job_id = ?", id);
    ck_assert_msg(at >= 2 && at < epochs, "job %s was killed with a checkpoint at epoch %d "
                  "of %d", id, at, epochs);
    ck_assert_int_eq(job_epoch, at);
    json_t *rows = stored_epochs(s, id);
    ck_assert_int_eq(json_array_size(rows), at);
    json_t *last = row_at(rows, (size_t)at - 1);
    ck_assert_int_eq(su_int(last, "epoch"), at);
    json_decref(last);
    json_decref(rows);
    return at;
}

/* Job id resumed from its checkpoint at epoch `at` rather than from scratch: the rows
 * stored before the kill (`before`) are untouched, byte for byte (a run from scratch
 * rewrites them, with new ended_at times), every row up to `at` ended before the restart
 * (its ended_at, from the same clock, taken just before it) and every later one after
 * it, so the first epoch trained after the restart is at + 1. */
static void ck_resumed(const struct server *s, const char *id, const json_t *before, int at,
                       const char *restart, int epochs)
{
    json_t *after = stored_epochs(s, id);
    ck_assert_int_eq(json_array_size(after), epochs);
    for (size_t k = 0; k < (size_t)at; k++)
        ck_assert_msg(!strcmp(json_string_value(json_array_get(after, k)),
                              json_string_value(json_array_get(before, k))),
                      "epoch %zu was trained again after the restart", k + 1);
    int first = 0;
    for (size_t k = 0; k < (size_t)epochs; k++) {
        json_t *row = row_at(after, k);
        const char *ended = su_str(row, "ended_at");
        int later = strcmp(ended, restart) > 0, epoch = (int)su_int(row, "epoch");
        ck_assert_msg(later == (epoch > at), "epoch %d ended at %s, %s the restart at %s "
                      "(the checkpoint was at epoch %d)", epoch, ended,
                      later ? "after" : "before", restart, at);
        if (later && !first)
            first = epoch;
        json_decref(row);
    }
    ck_assert_int_eq(first, at + 1);
    json_decref(after);
}

/* A job's model as stored: its network buffer (new, length in *len) and its metrics (new
 * JSON). */
static void *model_of(const struct server *s, const char *job, size_t *len, json_t **metrics)
{
    if (su_pg()) {   /* its network is in chunks: put together */
        PGresult *r = pg_query(s, "SELECT string_agg(c.bytes, ''::bytea ORDER BY c.part), "
                                  "m.metrics FROM jobs j JOIN models m ON m.id = j.model_id "
                                  "JOIN model_chunks c ON c.owner = m.id WHERE j.id = ? "
                                  "GROUP BY m.id, m.metrics", job, 1);
        *len = (size_t)PQgetlength(r, 0, 0);
        void *buf = malloc(*len + 1);
        ck_assert_ptr_nonnull(buf);
        memcpy(buf, PQgetvalue(r, 0, 0), *len);
        json_error_t e;
        *metrics = json_loadb(PQgetvalue(r, 0, 1), (size_t)PQgetlength(r, 0, 1), 0, &e);
        ck_assert_msg(*metrics != NULL, "the model's metrics are not JSON: %s", e.text);
        PQclear(r);
        return buf;
    }
    sqlite3 *db = db_file(s);
    sqlite3_stmt *st = query(db, "SELECT m.net, m.metrics FROM jobs j JOIN models m ON "
                                 "m.id = j.model_id WHERE j.id = ?", job);
    *len = (size_t)sqlite3_column_bytes(st, 0);
    void *buf = malloc(*len + 1);
    ck_assert_ptr_nonnull(buf);
    memcpy(buf, sqlite3_column_blob(st, 0), *len);
    json_error_t e;
    *metrics = json_loads((const char *)sqlite3_column_text(st, 1), 0, &e);
    ck_assert_msg(*metrics != NULL, "the model's metrics are not JSON: %s", e.text);
    query_done(db, st);
    return buf;
}

/* Job a (killed and resumed) trained exactly as job b (the same request, never killed):
 * the same seed gives bit-identical training, so every epoch's loss and the other values
 * training decides (all but the timings) are the same as stored (15 significant digits),
 * and so are the two models, byte for byte, and their metrics. */
static void ck_same_training(const struct server *s, const char *a, const char *b, int epochs)
{
    static const char *const decided[] = {"epoch", "loss", "val_loss", "metrics",
                                          "val_metrics", "grad_norms", "dead_relu"};
    json_t *ra = stored_epochs(s, a), *rb = stored_epochs(s, b);
    ck_assert_int_eq(json_array_size(ra), epochs);
    ck_assert_int_eq(json_array_size(rb), epochs);
    for (size_t k = 0; k < (size_t)epochs; k++) {
        json_t *x = row_at(ra, k), *y = row_at(rb, k);
        for (size_t f = 0; f < sizeof decided / sizeof *decided; f++) {
            json_t *vx = json_object_get(x, decided[f]), *vy = json_object_get(y, decided[f]);
            ck_assert_ptr_nonnull(vx);
            if (!json_equal(vx, vy)) {
                char *dx = json_dumps(vx, JSON_ENCODE_ANY | JSON_REAL_PRECISION(17)),
                     *dy = json_dumps(vy, JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
                ck_abort_msg("epoch %zu: %s is %s resumed, %s without the kill", k + 1,
                             decided[f], dx, dy);
            }
        }
        json_decref(x);
        json_decref(y);
    }
    json_decref(ra);
    json_decref(rb);
    size_t la, lb;
    json_t *ma, *mb;
    void *na = model_of(s, a, &la, &ma), *nb = model_of(s, b, &lb, &mb);
    ck_assert_msg(la == lb && memcmp(na, nb, la) == 0, "the resumed job's model (%zu bytes) "
                  "differs from the one trained without the kill (%zu bytes)", la, lb);
    ck_assert_msg(json_equal(ma, mb), "the models' metrics differ");
    free(na);
    free(nb);
    json_decref(ma);
    json_decref(mb);
}

/* A model holds what prediction needs: 4 bytes a parameter, not Adam's two moments
 * besides (12), whether it is the last epoch's network or early stopping's best. */
START_TEST(models_hold_what_prediction_needs)
{
    struct server s = {0};
    su_start(&s, NULL);
    char *ds = su_dataset(&s, 300, 8, 0), *net = su_network(&s, 8, 64), body[512];
    const char *extra[2] = {"", ", \"validation\": {\"split\": 0.2}, \"early_stopping\": "
                                "{\"patience\": 50, \"min_delta\": 1e9}"};
    for (int k = 0; k < 2; k++) {
        snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\", \"epochs\": 3, "
                 "\"optimizer\": {\"type\": \"adam\"}, \"seed\": 4%s}", net, ds, extra[k]);
        char *id = su_post_id(&s, "/v1/jobs", body, 202);
        json_t *j = su_job_wait(&s, id, NULL, 60);
        ck_assert_str_eq(su_str(j, "state"), "succeeded");
        json_decref(j);
        size_t len;
        json_t *metrics;
        void *buf = model_of(&s, id, &len, &metrics);
        struct nn_error e;
        struct nn_net *n = nn_load(buf, len, 0, &e);
        ck_assert_msg(n != NULL, "the model does not load: %s", e.msg);
        size_t params = nn_param_count(n);
        ck_assert_uint_eq(params, 8 * 64 + 64 + 64 * 3 + 3);
        ck_assert_ptr_null(n->m);
        ck_assert_ptr_null(n->v);
        ck_assert_int_eq(nn_epochs_done(n), k ? 1 : 3);   /* the best is epoch 1's */
        ck_assert_msg(len < 4 * params + 256, "a model of %zu parameters takes %zu bytes",
                      params, len);
        nn_free(n);
        free(buf);
        json_decref(metrics);
        free(id);
    }
    su_stop(&s, 0);
    su_cleanup(&s);
    free(ds), free(net);
}
END_TEST

/* A SIGKILL while job a trains and b and c wait. a is checked in the database file to
 * have been running, with a checkpoint, when it was killed; after the restart every job
 * finishes, a resumed from that checkpoint, and trained exactly as b, the same job never
 * killed. */
START_TEST(survives_sigkill)
{
    struct server s = {0};
    su_start(&s, NULL);
    char *ds = su_dataset(&s, 4000, 64, 0), *net = su_network(&s, 64, 256), body[512];
    snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\", \"epochs\": %d, "
             "\"batch_size\": 16, \"seed\": 1}", net, ds, KILLED_EPOCHS);
    char *a = su_post_id(&s, "/v1/jobs", body, 202), *b = su_post_id(&s, "/v1/jobs", body, 202);
    snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\", \"epochs\": 2, "
             "\"batch_size\": 16, \"seed\": 2}", net, ds);
    char *c = su_post_id(&s, "/v1/jobs", body, 202);   /* a short one */
    su_job_wait_epoch(&s, a, 2, 60);
    su_stop(&s, 1);   /* SIGKILL */
    int at = killed_while_running(&s, a, KILLED_EPOCHS);
    json_t *before = stored_epochs(&s, a);
    const char *waiting[2] = {b, c};
    for (int k = 0; k < 2; k++) {
        ck_assert_int_eq(db_long(&s, "SELECT state = 'queued' FROM jobs WHERE id = ?",
                                    waiting[k]), 1);
        ck_assert_int_eq(db_long(&s, "SELECT count(*) FROM epochs WHERE job_id = ?",
                                    waiting[k]), 0);
    }
    char restart[32];
    now_iso(restart);
    su_start(&s, NULL);
    const char *ids[3] = {a, b, c};
    const int epochs[3] = {KILLED_EPOCHS, KILLED_EPOCHS, 2};
    for (int k = 0; k < 3; k++) {
        json_t *j = su_job_wait(&s, ids[k], NULL, 240);
        ck_assert_msg(!strcmp(su_str(j, "state"), "succeeded"), "job %d: %s", k,
                      su_str(j, "state"));
        json_decref(j);
        ck_epochs(&s, ids[k], epochs[k]);
    }
    ck_resumed(&s, a, before, at, restart, KILLED_EPOCHS);
    ck_same_training(&s, a, b, KILLED_EPOCHS);
    json_decref(before);
    ck_no_checkpoints(&s);   /* ended jobs keep their models, not their checkpoints */
    su_stop(&s, 0);
    su_cleanup(&s);
    free(ds), free(net), free(a), free(b), free(c);
}
END_TEST

/* Early stopping with restore_best: the model keeps the best epoch's weights, and its
 * metrics are that epoch's. */
START_TEST(early_stopping_keeps_the_best)
{
    struct server s = {0};
    su_start(&s, NULL);
    char *ds = su_dataset(&s, 300, 4, 1), *net = su_network(&s, 4, 16), body[512], path[160];
    snprintf(body, sizeof body,
             "{\"network\": \"%s\", \"dataset\": \"%s\", \"validation\": {\"split\": 0.3}, "
             "\"epochs\": 500, \"batch_size\": 8, \"optimizer\": {\"learning_rate\": 0.05}, "
             "\"early_stopping\": {\"patience\": 2, \"min_delta\": 0.001}, \"seed\": 5}", net, ds);
    char *id = su_post_id(&s, "/v1/jobs", body, 202);
    json_t *j = su_job_wait(&s, id, NULL, 120);
    ck_assert_str_eq(su_str(j, "state"), "succeeded");
    int ran = (int)json_integer_value(json_object_get(j, "epoch"));
    ck_assert_msg(ran < 500, "early stopping never stopped the job");
    snprintf(path, sizeof path, "/v1/models/%s", json_string_value(json_object_get(j, "model")));
    json_decref(j);
    json_t *m = su_get_json(&s, path), *mm = json_object_get(m, "metrics");
    int best = (int)json_integer_value(json_object_get(mm, "best_epoch"));
    ck_assert(json_is_true(json_object_get(mm, "stopped_early")));
    ck_assert_int_eq(json_integer_value(json_object_get(mm, "epoch")), best);
    ck_assert_int_eq(best, ran - 2);   /* patience 2: two epochs without improvement */
    snprintf(path, sizeof path, "/v1/jobs/%s/metrics", id);
    json_t *rows = su_get_json(&s, path);
    json_t *row = json_array_get(json_object_get(rows, "epochs"), (size_t)best - 1);
    ck_assert(json_equal(json_object_get(row, "val_loss"), json_object_get(mm, "val_loss")));
    json_decref(rows);
    json_decref(m);
    su_stop(&s, 0);
    su_cleanup(&s);
    free(ds), free(net), free(id);
}
END_TEST

/* A dataset of 200 rows of two features in [0, 1) and the label x0 + 2 x1 (new: its id). */
static char *line_dataset(const struct server *s)
{
    json_t *x = json_array(), *y = json_array();
    unsigned r = 7;
    for (int i = 0; i < 200; i++) {
        double v[2];
        for (int k = 0; k < 2; k++) {
            r = r * 1103515245u + 12345u;
            v[k] = ((r >> 16) % 1000) / 1000.0;
        }
        json_array_append_new(x, json_pack("[f, f]", v[0], v[1]));
        json_array_append_new(y, json_real(v[0] + 2 * v[1]));
    }
    json_t *d = json_pack("{s:s, s:o, s:o}", "name", "line", "features", x, "labels", y);
    char *body = json_dumps(d, JSON_COMPACT);
    json_decref(d);
    char *id = su_post_id(s, "/v1/datasets", body, 201);
    free(body);
    return id;
}

/* A job whose loss diverges after some epochs fails, its error saying so, yet keeps what
 * its epochs learned as its model, named in the error with its epoch: with early
 * stopping's restore_best the best epoch's weights (sgd at 1.2 on a linear regression
 * grows the error every step, so epoch 1 is the best by loss, and the loss overflows
 * some 30 epochs later), else the last epoch that ended. The model predicts finite
 * numbers, and the job leaves no checkpoint behind. */
START_TEST(diverged_job_keeps_a_model)
{
    struct server s = {0};
    su_start(&s, NULL);
    char *ds = line_dataset(&s), body[768], path[160];
    for (int es = 1; es >= 0; es--) {
        snprintf(body, sizeof body,
                 "{\"network\": {\"inputs\": 2, \"layers\": [{\"type\": \"dense\", \"units\": 1}], "
                 "\"loss\": \"mse\"}, \"dataset\": \"%s\", \"epochs\": 100, \"batch_size\": 20, "
                 "\"optimizer\": {\"type\": \"sgd\", \"learning_rate\": 1.2}, \"seed\": 3%s}", ds,
                 es ? ", \"early_stopping\": {\"monitor\": \"loss\", \"patience\": 1000}" : "");
        char *id = su_post_id(&s, "/v1/jobs", body, 202);
        json_t *j = su_job_wait(&s, id, NULL, 120);
        ck_assert_str_eq(su_str(j, "state"), "failed");
        int ran = (int)su_int(j, "epoch");
        ck_assert_msg(ran >= 5 && ran < 100, "epochs that ended: %d", ran);
        const char *mid = json_string_value(json_object_get(j, "model"));
        ck_assert_msg(mid != NULL, "a diverged job kept no model");
        const char *detail = su_str(json_object_get(j, "error"), "detail");
        int kept = es ? 1 : ran;
        char want[128];
        snprintf(want, sizeof want, "The job keeps model %s: the weights of epoch %d, the %s",
                 mid, kept, es ? "best by loss" : "last that ended");
        ck_assert_msg(strstr(detail, "diverged") && strstr(detail, want), "%s", detail);

        snprintf(path, sizeof path, "/v1/models/%s", mid);
        json_t *m = su_get_json(&s, path), *mm = json_object_get(m, "metrics");
        ck_assert_str_eq(su_str(m, "job"), id);
        ck_assert_int_eq(su_int(mm, "epoch"), kept);
        ck_assert_int_eq(su_int(mm, "epochs"), ran);
        snprintf(path, sizeof path, "/v1/jobs/%s/metrics", id);
        json_t *rows = su_get_json(&s, path);
        json_t *row = json_array_get(json_object_get(rows, "epochs"), (size_t)kept - 1);
        ck_assert(json_equal(json_object_get(row, "loss"), json_object_get(mm, "loss")));
        json_decref(rows);
        json_decref(m);

        snprintf(path, sizeof path, "/v1/models/%s/predict", mid);
        const char *in = "{\"inputs\": [[0.5, 0.5], [0.1, 0.9]]}";
        json_t *out = outputs_for(&s, path, in, strlen(in), "application/json");
        for (size_t i = 0; i < 2; i++) {
            json_t *v = json_array_get(json_array_get(out, i), 0);
            ck_assert_msg(json_is_number(v) && isfinite(json_number_value(v)),
                          "output %zu is not a finite number", i);
            if (es)   /* the best epoch's weights, not those that blew up */
                ck_assert_msg(fabs(json_number_value(v)) < 1e3, "output %zu: %g", i,
                              json_number_value(v));
        }
        json_decref(out);
        json_decref(j);
        free(id);
    }
    ck_no_checkpoints(&s);
    su_stop(&s, 0);
    su_cleanup(&s);
    free(ds);
}
END_TEST

/* restore_best across a SIGKILL: the best weights are stored once, when they change (a
 * trigger counts the writes of their table), and a resumed job still ends with them.
 * min_delta is out of reach, so epoch 1 stays the best while every epoch runs (patience
 * is longer than the job). Job a is killed while it trains (the database file shows it
 * running, with a checkpoint) and resumes from its checkpoint; b, the same job never
 * killed, trains exactly as a did. */
START_TEST(restore_best_survives_sigkill)
{
    struct server s = {0};
    su_start(&s, NULL);
    if (su_pg()) {   /* an upsert that finds the row updates it: count both */
        su_pg_exec(s.db, "CREATE TABLE best_writes (job_id TEXT); "
                   "CREATE FUNCTION count_best() RETURNS trigger LANGUAGE plpgsql AS "
                   "$$ BEGIN INSERT INTO best_writes VALUES (NEW.job_id); RETURN NEW; END $$; "
                   "CREATE TRIGGER count_best AFTER INSERT OR UPDATE ON checkpoint_best "
                   "FOR EACH ROW EXECUTE FUNCTION count_best()");
    } else {
        sqlite3 *db;
        ck_assert_int_eq(sqlite3_open(s.db, &db), SQLITE_OK);
        sqlite3_busy_timeout(db, 10000);   /* the service may be writing as it starts */
        ck_assert_int_eq(sqlite3_exec(db, "CREATE TABLE best_writes (job_id TEXT); "
                                      "CREATE TRIGGER count_best AFTER INSERT ON "
                                      "checkpoint_best BEGIN INSERT INTO best_writes VALUES "
                                      "(NEW.job_id); END", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
    }
    char *ds = su_dataset(&s, 4000, 64, 0), *net = su_network(&s, 64, 256), body[512];
    snprintf(body, sizeof body,
             "{\"network\": \"%s\", \"dataset\": \"%s\", \"validation\": {\"split\": 0.2}, "
             "\"epochs\": %d, \"batch_size\": 16, \"seed\": 3, \"early_stopping\": "
             "{\"patience\": %d, \"min_delta\": 1e9}}", net, ds, KILLED_EPOCHS,
             2 * KILLED_EPOCHS);
    char *a = su_post_id(&s, "/v1/jobs", body, 202), *b = su_post_id(&s, "/v1/jobs", body, 202);
    su_job_wait_epoch(&s, a, 2, 60);
    su_stop(&s, 1);   /* SIGKILL */
    int at = killed_while_running(&s, a, KILLED_EPOCHS);
    json_t *before = stored_epochs(&s, a);
    ck_assert_int_eq(db_long(&s, "SELECT count(*) FROM checkpoint_best WHERE job_id = ?", a), 1);
    char restart[32];
    now_iso(restart);
    su_start(&s, NULL);
    const char *ids[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        json_t *j = su_job_wait(&s, ids[k], NULL, 240);
        ck_assert_msg(!strcmp(su_str(j, "state"), "succeeded"), "job %d: %s", k,
                      su_str(j, "state"));
        ck_assert_int_eq(su_int(j, "epoch"), KILLED_EPOCHS);
        json_decref(j);
        /* epoch 1's weights were stored once, and never again: not at the restart */
        ck_assert_int_eq(db_long(&s, "SELECT count(*) FROM best_writes WHERE job_id = ?",
                                 ids[k]), 1);
    }
    ck_resumed(&s, a, before, at, restart, KILLED_EPOCHS);
    /* the model is epoch 1's network, not the last one's */
    size_t len;
    json_t *metrics;
    void *buf = model_of(&s, a, &len, &metrics);
    ck_assert_int_eq(su_int(metrics, "epoch"), 1);
    ck_assert_int_eq(su_int(metrics, "best_epoch"), 1);
    struct nn_error e;
    struct nn_net *n = nn_load(buf, len, 0, &e);
    ck_assert_msg(n != NULL, "the model does not load: %s", e.msg);
    ck_assert_int_eq(nn_epochs_done(n), 1);
    nn_free(n);
    free(buf);
    json_decref(metrics);
    ck_same_training(&s, a, b, KILLED_EPOCHS);
    json_decref(before);
    ck_no_checkpoints(&s);
    su_stop(&s, 0);
    su_cleanup(&s);
    free(ds), free(net), free(a), free(b);
}
END_TEST

/* The end of a job and its model are one transaction: when the job's row refuses the
 * final state (a trigger here), no model is left behind, and the job fails saying so. */
START_TEST(no_model_without_its_job)
{
    struct server s = {0};
    su_start(&s, NULL);
    if (su_pg()) {
        su_pg_exec(s.db, "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                   "$$ BEGIN IF NEW.state = 'succeeded' THEN RAISE EXCEPTION 'refused'; "
                   "END IF; RETURN NEW; END $$; "
                   "CREATE TRIGGER refuse BEFORE UPDATE OF state ON jobs "
                   "FOR EACH ROW EXECUTE FUNCTION refuse()");
    } else {
        sqlite3 *db;
        ck_assert_int_eq(sqlite3_open(s.db, &db), SQLITE_OK);
        sqlite3_busy_timeout(db, 10000);   /* the service may be writing as it starts */
        ck_assert_int_eq(sqlite3_exec(db, "CREATE TRIGGER refuse BEFORE UPDATE OF state ON "
                                      "jobs WHEN NEW.state = 'succeeded' BEGIN "
                                      "SELECT RAISE(ABORT, 'refused'); END", NULL, NULL, NULL),
                         SQLITE_OK);
        sqlite3_close(db);
    }
    char *ds = su_dataset(&s, 300, 4, 1), *net = su_network(&s, 4, 16), body[256];
    snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\", \"epochs\": 2}",
             net, ds);
    char *id = su_post_id(&s, "/v1/jobs", body, 202);
    json_t *j = su_job_wait(&s, id, NULL, 60);
    ck_assert_str_eq(su_str(j, "state"), "failed");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "title")),
                     "Model lost");
    ck_assert(json_is_null(json_object_get(j, "model")));
    json_decref(j);
    ck_assert_int_eq(db_long(&s, "SELECT count(*) FROM models", NULL), 0);
    ck_no_checkpoints(&s);
    su_stop(&s, 0);
    su_cleanup(&s);
    free(ds), free(net), free(id);
}
END_TEST

/* ---- POST /v1/jobs called as a handler, on a temporary database ---- */

static char *made(handler_fn fn, const char *body)
{
    struct reply rp = su_call(fn, "POST", body, NULL, NULL);
    ck_assert_msg(rp.status == 201, "%d %.*s", rp.status, (int)rp.len, rp.body);
    json_t *j = su_json(&rp);
    char *id = strdup(json_string_value(json_object_get(j, "id")));
    json_decref(j);
    su_reply_free(&rp);
    return id;
}

/* POSTs a job; expects `status` and, for 422, errors[0].pointer == pointer. The job (new)
 * for 202, else NULL. */
static json_t *job_call(const char *body, int status, const char *pointer)
{
    struct reply rp = su_call(h_jobs_create, "POST", body, NULL, NULL);
    ck_assert_msg(rp.status == status, "%.200s: %d, not %d: %.*s", body, rp.status, status,
                  (int)rp.len, rp.body);
    json_t *j = su_json(&rp);
    su_reply_free(&rp);
    if (status == 202)
        return j;
    const char *p = json_string_value(
        json_object_get(json_array_get(json_object_get(j, "errors"), 0), "pointer"));
    ck_assert_msg(p && !strcmp(p, pointer), "%.200s: pointer %s, not %s", body, p, pointer);
    json_decref(j);
    return NULL;
}

/* n copies of "\u00e9" (2 bytes of UTF-8 each) into a new string. */
static char *accents(int n)
{
    char *s = malloc(2 * (size_t)n + 1);
    ck_assert_ptr_nonnull(s);
    for (int i = 0; i < n; i++)
        memcpy(s + 2 * i, "\xc3\xa9", 2);
    s[2 * n] = 0;
    return s;
}

/* Faults found by fuzz_jobs_request: each is refused and named, none is lost. */
START_TEST(faults_are_named_and_never_lost)
{
    char *ds = made(h_datasets_create, "{\"name\": \"d\", \"features\": [[1], [2]], "
                                       "\"labels\": [\"a\", \"b\"]}");
    char *net = made(h_networks_create, "{\"inputs\": 1, \"layers\": [{\"type\": \"dense\", "
                                        "\"units\": 2, \"activation\": \"softmax\"}], "
                                        "\"loss\": \"categorical_crossentropy\"}");
    char body[2048];
    /* an unknown field's pointer escapes '/' and '~' (RFC 6901) */
    snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\", \"a/b~c\": 1}",
             net, ds);
    job_call(body, 422, "/a~1b~0c");
    /* a long unknown field is named whole, and refused: its detail, cut inside a
     * character, was no UTF-8, so the fault was lost and the job queued */
    char *key = accents(300), ptr[700];
    snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\", \"x%s\": 1}", net,
             ds, key);
    snprintf(ptr, sizeof ptr, "/x%s", key);
    job_call(body, 422, ptr);
    free(key);
    /* a network id of 40 characters: cut to 31 bytes inside one, the fault was lost and
     * the job queued without a network */
    char *id = accents(40);
    snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\"}", id, ds);
    job_call(body, 422, "/network");
    free(id);
    /* a dataset id of 300: its fault was lost the same way, and the job answered 409 */
    id = accents(300);
    snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"x%s\"}", net, id);
    job_call(body, 422, "/dataset");
    free(id);
    free(ds), free(net);
}
END_TEST

/* What the worker would refuse at the start is refused when the job is posted. */
START_TEST(refused_before_it_runs)
{
    char *two = made(h_datasets_create, "{\"name\": \"two\", \"features\": [[1], [2]], "
                                        "\"labels\": [0, 1]}");
    char *big = made(h_datasets_create, "{\"name\": \"big\", \"features\": [[1], [2], [3]], "
                                        "\"labels\": [0, 2, 1]}");
    char *soft = made(h_datasets_create, "{\"name\": \"soft\", \"features\": [[1], [2], [3]], "
                                         "\"labels\": [0, 0.5, 1]}");
    char *neg = made(h_datasets_create, "{\"name\": \"neg\", \"features\": [[1], [2]], "
                                        "\"labels\": [[-2.5], [1]]}");
    char *vec = made(h_datasets_create, "{\"name\": \"vec\", \"features\": [[1], [2]], "
                                        "\"labels\": [[0.5, 2], [1, 1]]}");
    char *bce = made(h_networks_create, "{\"inputs\": 1, \"layers\": [{\"type\": \"dense\", "
                                        "\"units\": 1, \"activation\": \"sigmoid\"}], "
                                        "\"loss\": \"binary_crossentropy\"}");
    char *cce = made(h_networks_create, "{\"inputs\": 1, \"layers\": [{\"type\": \"dense\", "
                                        "\"units\": 3, \"activation\": \"softmax\"}], "
                                        "\"loss\": \"categorical_crossentropy\"}");
    char body[1024];
    /* a split that leaves no rows to train on: ceil(2 x 0.9) = 2 of 2 */
    snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\", \"validation\": "
             "{\"split\": 0.9}}", bce, two);
    job_call(body, 422, "/validation/split");
    snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\", \"validation\": "
             "{\"split\": 0.5}}", bce, two);
    json_decref(job_call(body, 202, NULL));
    /* binary_crossentropy takes labels from 0 to 1: in the dataset, and in the validation
     * dataset */
    snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\"}", bce, big);
    job_call(body, 422, "/dataset");
    snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\", \"validation\": "
             "{\"dataset\": \"%s\"}}", bce, two, neg);
    job_call(body, 422, "/validation/dataset");
    snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\", \"validation\": "
             "{\"dataset\": \"%s\"}}", bce, soft, two);
    json_decref(job_call(body, 202, NULL));   /* soft labels are fine */
    /* the validation dataset's labels fit the loss as the dataset's must */
    snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\", \"validation\": "
             "{\"dataset\": \"%s\"}}", cce, big, vec);
    job_call(body, 422, "/validation/dataset");
    /* a network that could learn nothing: a relu output under categorical_crossentropy */
    snprintf(body, sizeof body, "{\"network\": {\"inputs\": 1, \"layers\": [{\"type\": "
             "\"dense\", \"units\": 3, \"activation\": \"relu\"}], \"loss\": "
             "\"categorical_crossentropy\"}, \"dataset\": \"%s\"}", big);
    job_call(body, 422, "/network/layers/0/activation");
    free(two), free(big), free(soft), free(neg), free(vec), free(bce), free(cce);
}
END_TEST

/* An inline network is answered as a stored one: every default written out. */
START_TEST(inline_network_normalized)
{
    char *ds = made(h_datasets_create, "{\"name\": \"d\", \"features\": [[1], [2]], "
                                       "\"labels\": [\"a\", \"b\"]}");
    const char *def = "{\"inputs\": 1, \"layers\": [{\"type\": \"dense\", \"units\": 2, "
                      "\"activation\": \"softmax\"}], \"loss\": \"categorical_crossentropy\"}";
    char body[1024];
    snprintf(body, sizeof body, "{\"network\": %s, \"dataset\": \"%s\"}", def, ds);
    json_t *job = job_call(body, 202, NULL);
    const char *dry[] = {"dry_run", "true", NULL};
    struct reply rp = su_call(h_networks_create, "POST", def, NULL, dry);
    ck_assert_int_eq(rp.status, 200);
    json_t *net = su_json(&rp);
    su_reply_free(&rp);
    ck_assert(json_equal(json_object_get(job, "network"), json_object_get(net, "definition")));
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(json_object_get(job, "network"), "layers"),
                                        0), "init")), "auto");
    json_decref(job);
    json_decref(net);
    free(ds);
}
END_TEST

/* A whole number written as a real (what Python's json.dumps writes for 60/6) is taken
 * wherever a whole number is: in a dataset, a network, a job and its inline network. */
START_TEST(whole_numbers_written_as_reals)
{
    char *ds = made(h_datasets_create, "{\"name\": \"d\", \"features\": [[1], [2]], "
                                       "\"labels\": [0.0, 1.0]}");
    const char *def = "{\"inputs\": 1.0, \"layers\": [{\"type\": \"dense\", \"units\": 2e0, "
                      "\"activation\": \"softmax\"}], \"loss\": \"categorical_crossentropy\"}";
    char *net = made(h_networks_create, def);
    char body[1024];
    snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\", \"epochs\": 10.0, "
             "\"batch_size\": 8.0, \"seed\": 7.0, \"validation\": {\"split\": 0.5}, "
             "\"early_stopping\": {\"patience\": 3.0}}", net, ds);
    json_t *job = job_call(body, 202, NULL);
    ck_assert(json_is_integer(json_object_get(job, "epochs")));
    ck_assert_int_eq(su_int(job, "epochs"), 10);
    ck_assert_int_eq(su_int(job, "batch_size"), 8);
    ck_assert_int_eq(su_int(job, "seed"), 7);
    ck_assert_int_eq(su_int(json_object_get(job, "early_stopping"), "patience"), 3);
    json_decref(job);
    snprintf(body, sizeof body, "{\"network\": %s, \"dataset\": \"%s\", \"epochs\": 10.0}",
             def, ds);
    json_decref(job_call(body, 202, NULL));
    /* a real that is not whole is still refused */
    snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\", \"epochs\": 10.5}",
             net, ds);
    job_call(body, 422, "/epochs");
    free(ds), free(net);
}
END_TEST

/* A job's problem says its first fault in detail, as every other route's does. */
START_TEST(job_detail_names_the_fault)
{
    char *ds = made(h_datasets_create, "{\"name\": \"d\", \"features\": [[1], [2]], "
                                       "\"labels\": [0, 1]}");
    char body[512];
    snprintf(body, sizeof body, "{\"network\": \"net_nope\", \"dataset\": \"%s\"}", ds);
    struct reply rp = su_call(h_jobs_create, "POST", body, NULL, NULL);
    ck_assert_int_eq(rp.status, 422);
    json_t *j = su_json(&rp);
    su_reply_free(&rp);
    const char *d = su_str(j, "detail");
    ck_assert_msg(strstr(d, "(1 fault); /network: ") && strstr(d, "net_nope"), "%s", d);
    json_decref(j);
    snprintf(body, sizeof body, "{\"network\": \"net_nope\", \"dataset\": \"%s\", "
             "\"epochs\": -1}", ds);
    rp = su_call(h_jobs_create, "POST", body, NULL, NULL);
    j = su_json(&rp);
    su_reply_free(&rp);
    d = su_str(j, "detail");
    ck_assert_msg(strstr(d, "(2 faults); /network: "), "%s", d);
    ck_assert_int_eq(json_array_size(json_object_get(j, "errors")), 2);
    json_decref(j);
    free(ds);
}
END_TEST

/* The first detail of a problem (expects status) for body posted to fn, new. */
static char *first_detail(handler_fn fn, const char *body, const char *param0, int status)
{
    struct reply rp = su_call(fn, body ? "POST" : "GET", body, param0, NULL);
    ck_assert_msg(rp.status == status, "%d, not %d: %.*s", rp.status, status, (int)rp.len,
                  rp.body);
    json_t *j = su_json(&rp);
    json_t *e = json_array_get(json_object_get(j, "errors"), 0);
    char *d = strdup(su_str(e ? e : j, "detail"));
    json_decref(j);
    su_reply_free(&rp);
    return d;
}

/* detail (a new string, freed here) holds hint; detail is evaluated once */
#define CK_HINT(detail, hint) \
    do { \
        char *d_ = (detail); \
        ck_assert_msg(strstr(d_, hint), "\"%s\" lacks \"%s\"", d_, hint); \
        free(d_); \
    } while (0)

/* Where a newcomer goes wrong, the answer says what was meant. */
START_TEST(hints_for_newcomers)
{
    char *ds = made(h_datasets_create, "{\"name\": \"d\", \"features\": [[1], [2]], "
                                       "\"labels\": [0, 1]}");
    char *net = made(h_networks_create, "{\"inputs\": 1, \"layers\": [{\"type\": \"dense\", "
                                        "\"units\": 2, \"activation\": \"softmax\"}], "
                                        "\"loss\": \"categorical_crossentropy\"}");
    char body[1024];
    /* an id of another kind */
    snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\"}", ds, ds);
    CK_HINT(first_detail(h_jobs_create, body, NULL, 422), "that is a dataset id");
    snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\"}", net, net);
    CK_HINT(first_detail(h_jobs_create, body, NULL, 422), "that is a network id");
    CK_HINT(first_detail(h_networks_get, NULL, ds, 404), "that is a dataset id");
    CK_HINT(first_detail(h_models_get, NULL, net, 404), "that is a network id");
    /* the optimizer's settings at the top of a job */
    snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\", \"lr\": 0.1}",
             net, ds);
    CK_HINT(first_detail(h_jobs_create, body, NULL, 422), "did you mean /optimizer/learning_rate?");
    snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\", "
             "\"learning_rate\": 0.1}", net, ds);
    CK_HINT(first_detail(h_jobs_create, body, NULL, 422), "did you mean /optimizer/learning_rate?");
    /* momentum without "type": "sgd" (the type is adam then) */
    snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\", \"optimizer\": "
             "{\"learning_rate\": 0.1, \"momentum\": 0.9}}", net, ds);
    CK_HINT(first_detail(h_jobs_create, body, NULL, 422), "give \"type\": \"sgd\"");
    /* Keras's sparse loss */
    CK_HINT(first_detail(h_networks_create, "{\"inputs\": 1, \"layers\": [{\"type\": "
                                            "\"dense\", \"units\": 2}], \"loss\": "
                                            "\"sparse_categorical_crossentropy\"}", NULL, 422),
            "categorical_crossentropy takes class indices");
    free(ds), free(net);
}
END_TEST

/* A list's limit is digits only, on every list (fuzz_query: "+5" and " 5" passed here). */
START_TEST(list_limits)
{
    handler_fn lists[] = {h_jobs_list, h_models_list};
    const char *bad[] = {"+5", " 5", "\t5", "5 ", "0", "1001", "", "5.5", ".0", "0.0", "1e1"};
    for (size_t i = 0; i < 2; i++)
        for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
            const char *q[] = {"limit", bad[k], NULL};
            struct reply rp = su_call(lists[i], "GET", NULL, NULL, q);
            ck_assert_msg(rp.status == 400, "limit=%s: %d", bad[k], rp.status);
            ck_assert(strstr(rp.body, "\"parameter\":\"limit\""));
            su_reply_free(&rp);
        }
    const char *ok[] = {"limit", "0007", NULL};
    struct reply rp = su_call(h_jobs_list, "GET", NULL, NULL, ok);
    ck_assert_int_eq(rp.status, 200);
    su_reply_free(&rp);
    /* a whole number written as a real, as Python writes 20 / 2 */
    for (int i = 0; i < 3; i++)
        free(made(h_datasets_create, "{\"name\": \"d\", \"features\": [[1]], \"labels\": [0]}"));
    const char *real[] = {"limit", "2.0", NULL};
    rp = su_call(h_datasets_list, "GET", NULL, NULL, real);
    ck_assert_int_eq(rp.status, 200);
    json_t *j = su_json(&rp);
    ck_assert_int_eq(json_array_size(json_object_get(j, "items")), 2);
    json_decref(j);
    su_reply_free(&rp);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("jobs");
    TCase *tc = tcase_create("e2e");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, whole_loop);
    tcase_add_test(tc, predict_bodies_agree);
    tcase_add_test(tc, cancel_queued_and_running);
    tcase_add_test(tc, cancel_answers_how_the_job_ends);
    tcase_add_test(tc, busy_workers_take_turns);
    tcase_add_test(tc, quotas);
    tcase_add_test(tc, quota_per_token);
    tcase_add_test(tc, jobs_that_cannot_run);
    tcase_add_test(tc, models_hold_what_prediction_needs);
    tcase_add_test(tc, survives_sigkill);
    tcase_add_test(tc, early_stopping_keeps_the_best);
    tcase_add_test(tc, diverged_job_keeps_a_model);
    tcase_add_test(tc, restore_best_survives_sigkill);
    tcase_add_test(tc, no_model_without_its_job);
    suite_add_tcase(s, tc);
    TCase *h = tcase_create("handlers");
    tcase_add_checked_fixture(h, su_db_open, su_db_close);
    tcase_add_test(h, faults_are_named_and_never_lost);
    tcase_add_test(h, refused_before_it_runs);
    tcase_add_test(h, inline_network_normalized);
    tcase_add_test(h, list_limits);
    tcase_add_test(h, whole_numbers_written_as_reals);
    tcase_add_test(h, job_detail_names_the_fault);
    tcase_add_test(h, hints_for_newcomers);
    suite_add_tcase(s, h);
    return tu_run(s) != 0;
}
