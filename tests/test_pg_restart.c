/* test_pg_restart.c -- the service losing its PostgreSQL database and getting it back:
 *  - a pg_ctl restart in the middle of a training job: the job ends succeeded with exactly
 *    one metrics row per epoch;
 *  - a pg_ctl stop: /readyz answers 503 with the reason, /healthz 200, reads and a write
 *    503 with Retry-After and a problem+json body (a prediction protocol's route in its
 *    own error shape), each at once (no hang), while a model already loaded still
 *    predicts; pg_ctl start:
 *    /readyz is 200 again within seconds, what was stored before the stop is there, new
 *    requests work, and the job that trained through the outage ends with one row per
 *    epoch; the log says once that the database was lost and once that it was reached;
 *  - a SIGTERM while training waits for a database that crashed (pg_ctl stop -m
 *    immediate) stops the service at once, and the job resumes after the restart with
 *    every epoch it had committed;
 *  - a job's end tried again after its COMMIT's answer was lost stores nothing twice.
 * The suite runs on a PostgreSQL cluster of its own (tests/pg.sh start), never on the
 * one the other suites share, since it stops and restarts it; on SQLite it is skipped.
 * Run from the top of the repository. */
#include "srvutil.h"
#include "testutil.h"

#include "store/store.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PGCTL "/usr/lib/postgresql/15/bin/pg_ctl"
#define EPOCHS 24              /* of a job: about 0.3 s each */

static char cluster[256];      /* the cluster's directory (pg.sh start), "" without one */
static char pids[300];         /* the file where each test notes the servers it started */

/* The first line a command prints, into out (cap bytes); its exit status. */
static int run_line(const char *cmd, char *out, size_t cap)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    out[0] = 0;
    if (fgets(out, (int)cap, p))
        out[strcspn(out, "\n")] = 0;
    char rest[256];
    while (fgets(rest, sizeof rest, p))
        ;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* pg_ctl on the suite's cluster: "stop -m fast", "start", "restart -m fast" (a start
 * with the options tests/pg.sh gives it: its socket in the cluster's directory only). */
static void pg_ctl(const char *what)
{
    char cmd[1000];
    snprintf(cmd, sizeof cmd, "%s" PGCTL " -D %s/data -l %s/server.log -w -s "
             "-o \"-k %s -c listen_addresses='' -c max_connections=200\" %s 2>&1",
             getuid() == 0 ? "runuser -u postgres -- " : "", cluster, cluster, cluster, what);
    char line[256];
    ck_assert_msg(run_line(cmd, line, sizeof line) == 0, "pg_ctl %s: %s", what, line);
}

static void cluster_start(void)
{
    if (!su_pg())
        return;
    if (run_line("bash tests/pg.sh start", cluster, sizeof cluster) != 0)
        cluster[0] = 0;
    snprintf(pids, sizeof pids, "%s/neurond.pids", cluster);
}

/* Stops the servers a failed test left (by the pids it noted) and the cluster. */
static void cluster_stop(void)
{
    if (!*cluster)
        return;
    FILE *f = fopen(pids, "r");
    int pid;
    while (f && fscanf(f, "%d", &pid) == 1)
        if (pid > 0 && kill(pid, 0) == 0)
            kill(pid, SIGKILL);
    if (f)
        fclose(f);
    char cmd[400], line[256];
    snprintf(cmd, sizeof cmd, "bash tests/pg.sh stop %s", cluster);
    run_line(cmd, line, sizeof line);
}

/* Skips a test on SQLite; fails it when the cluster could not be made. */
static int skipped(void)
{
    if (!su_pg()) {
        fprintf(stderr, "skipped on SQLite: it stops and starts a PostgreSQL server\n");
        return 1;
    }
    ck_assert_msg(*cluster, "tests/pg.sh start failed");
    char cmd[400], line[256];   /* a test that failed may have left it stopped */
    snprintf(cmd, sizeof cmd, "%s" PGCTL " -D %s/data status", getuid() == 0 ?
             "runuser -u postgres -- " : "", cluster);
    if (run_line(cmd, line, sizeof line) != 0)
        pg_ctl("start");
    return 0;
}

/* The libpq URI of database db of the suite's cluster into out (cap bytes). */
static void uri(const char *db, char *out, size_t cap)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "bash tests/pg.sh uri %s %s", cluster, db);
    ck_assert_int_eq(run_line(cmd, out, cap), 0);
}

/* A server on database db of the suite's cluster, made anew when fresh (then with a
 * directory of its own for its log); else the same server started again. */
static void start(struct server *s, const char *db, int fresh)
{
    if (fresh) {
        char admin[400], sql[100];
        uri("postgres", admin, sizeof admin);
        snprintf(sql, sizeof sql, "CREATE DATABASE %s", db);
        su_pg_exec(admin, sql);
        su_tmpdir(s->dir, sizeof s->dir, "pgrestart");
        uri(db, s->db, sizeof s->db);
    }
    su_start(s, NULL);
    FILE *f = fopen(pids, "a");
    if (f) {
        fprintf(f, "%d\n", (int)s->pid);
        fclose(f);
    }
}

/* The server's log (new). */
static char *server_log(const struct server *s)
{
    char path[320];
    snprintf(path, sizeof path, "%s/neurond.log", s->dir);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "no log at %s", path);
    char *text = calloc(1, 1 << 20);
    size_t n = fread(text, 1, (1 << 20) - 1, f);
    text[n] = 0;
    fclose(f);
    return text;
}

/* A job of EPOCHS epochs (about 0.3 s each) on a new dataset and network; its id (new). */
static char *long_job(const struct server *s, char **dataset)
{
    char *net = su_network(s, 64, 256), body[512];
    *dataset = su_dataset(s, 4000, 64, 0);
    snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\", \"epochs\": %d, "
             "\"batch_size\": 16, \"seed\": 1}", net, *dataset, EPOCHS);
    free(net);
    return su_post_id(s, "/v1/jobs", body, 202);
}

/* Polls a job, whatever the answers meanwhile (503 while the database is away), until it
 * ends, up to `seconds`; its state (new). */
static char *job_end(const struct server *s, const char *id, int seconds)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/jobs/%s", id);
    for (double until = su_now() + seconds; su_now() < until; usleep(100000)) {
        struct http_reply h = su_http(s, "GET", path, NULL, 0, NULL);
        json_t *j = h.status == 200 ? json_loadb(h.body, h.len, 0, NULL) : NULL;
        const char *st = json_string_value(json_object_get(j, "state"));
        char *end = st && (!strcmp(st, "succeeded") || !strcmp(st, "failed") ||
                           !strcmp(st, "cancelled")) ? strdup(st) : NULL;
        json_decref(j);
        su_http_free(&h);
        if (end)
            return end;
    }
    ck_abort_msg("job %s did not end within %d s", id, seconds);
    return NULL;
}

/* The job's stored epochs are 1 .. EPOCHS, each once. */
static void one_row_per_epoch(const struct server *s, const char *id)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/jobs/%s/metrics", id);
    json_t *m = su_get_json(s, path), *rows = json_object_get(m, "epochs");
    ck_assert_int_eq((int)json_array_size(rows), EPOCHS);
    for (size_t i = 0; i < json_array_size(rows); i++)
        ck_assert_int_eq(su_int(json_array_get(rows, i), "epoch"), (long)i + 1);
    json_decref(m);
}

/* A request and how long its answer took. */
static struct http_reply timed(const struct server *s, const char *method, const char *path,
                               const char *body, double *seconds)
{
    double t = su_now();
    struct http_reply h = su_http(s, method, path, body, body ? strlen(body) : 0,
                                  body ? "application/json" : NULL);
    *seconds = su_now() - t;
    return h;
}

/* A 503 of a route that needs the database: problem+json saying it cannot be reached,
 * with Retry-After, answered within 3 s. */
static void unavailable(const struct server *s, const char *method, const char *path,
                        const char *body)
{
    double took;
    struct http_reply h = timed(s, method, path, body, &took);
    ck_assert_msg(h.status == 503, "%s %s: %ld %s", method, path, h.status, h.body);
    ck_assert_msg(took < 3, "%s %s took %.2f s", method, path, took);
    ck_assert_str_eq(h.ctype, "application/problem+json");
    ck_assert_msg(atoi(h.retry_after) > 0, "%s %s: Retry-After '%s'", method, path,
                  h.retry_after);
    json_t *p = su_http_json(&h);
    ck_assert_int_eq(su_int(p, "status"), 503);
    ck_assert_msg(strstr(su_str(p, "detail"), "cannot be reached") &&
                  strstr(su_str(p, "detail"), "nothing was stored"), "%s", su_str(p, "detail"));
    fprintf(stderr, "%s %s while the database is stopped: 503 in %.3f s\n", method, path,
            took);
    json_decref(p);
    su_http_free(&h);
}

/* The end of a log, for a failure's message: check refuses a message past a few KiB
 * ("Message string too long") and the test then shows only as an early exit. */
static const char *log_tail(const char *log)
{
    size_t n = strlen(log);
    return n > 3000 ? log + n - 3000 : log;
}

/* The first line of log where the service says something failed ("neurond: WHAT failed:
 * ..."), or NULL. The one line that says the database cannot be reached quotes
 * PostgreSQL's message, which may say "failed" of its own (libpq: 'connection to server
 * on socket "..." failed: No such file or directory'): that line is not one. */
static char *failure_line(const char *log)
{
    for (const char *p = log; *p;) {
        const char *end = strchr(p, '\n');
        int n = end ? (int)(end - p) : (int)strlen(p);
        char *line = strndup(p, (size_t)n);
        if (!strncmp(line, "neurond: ", 9) && strstr(line, " failed: ") &&
            !strstr(line, " cannot be reached: "))
            return line;
        free(line);
        p += n + (end != NULL);
    }
    return NULL;
}

START_TEST(restart_while_training)
{
    if (skipped())
        return;
    struct server s = {0};
    start(&s, "restart_training", 1);
    char *ds, *id = long_job(&s, &ds);
    su_job_wait_epoch(&s, id, 3, 60);
    double t = su_now();
    pg_ctl("restart -m fast");
    fprintf(stderr, "pg_ctl restart -m fast took %.2f s\n", su_now() - t);
    char *end = job_end(&s, id, 120);
    ck_assert_str_eq(end, "succeeded");
    one_row_per_epoch(&s, id);
    char *log = server_log(&s);
    ck_assert_msg(su_count(log, "cannot be reached") >= 1 && su_count(log, "reached again") ==
                  su_count(log, "cannot be reached:"), "%s", log_tail(log));
    su_stop(&s, 0);
    su_rmdir(s.dir);
    free(log), free(end), free(id), free(ds);
}
END_TEST

START_TEST(stop_then_start)
{
    if (skipped())
        return;
    struct server s = {0};
    start(&s, "stop_start", 1);
    /* a model, loaded by a first prediction */
    char *small = su_dataset(&s, 30, 2, 0), *small_net = su_network(&s, 2, 8), body[300];
    snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\", \"epochs\": 2}",
             small_net, small);
    char *short_job = su_post_id(&s, "/v1/jobs", body, 202);
    json_t *done = su_job_wait(&s, short_job, NULL, 60);
    char predict[128];
    snprintf(predict, sizeof predict, "/v1/models/%s/predict", su_str(done, "model"));
    const char *row = "{\"instances\": [[0.5, 0.5]]}";
    struct http_reply h = su_http(&s, "POST", predict, row, strlen(row), "application/json");
    ck_assert_msg(h.status == 200, "%ld %s", h.status, h.body);
    su_http_free(&h);
    char *ds, *id = long_job(&s, &ds);
    su_job_wait_epoch(&s, id, 2, 60);
    pg_ctl("stop -m fast");
    double took;
    h = timed(&s, "GET", "/readyz", NULL, &took);
    ck_assert_msg(h.status == 503 && strstr(h.body, "database unreachable"), "%ld %s", h.status,
                  h.body);
    ck_assert_msg(took < 3, "/readyz took %.2f s", took);
    su_http_free(&h);
    h = timed(&s, "GET", "/healthz", NULL, &took);
    ck_assert_int_eq(h.status, 200);
    su_http_free(&h);
    unavailable(&s, "GET", "/v1/jobs", NULL);
    unavailable(&s, "GET", "/v1/jobs/job_00000000000", NULL);
    unavailable(&s, "GET", "/metrics", NULL);
    char *blobs = su_blobs_json(30, 2, 0);
    unavailable(&s, "POST", "/v1/datasets", blobs);
    char job[300];
    snprintf(job, sizeof job, "{\"network\": {\"inputs\": 2, \"layers\": [{\"type\": "
             "\"dense\", \"units\": 3, \"activation\": \"softmax\"}], \"loss\": "
             "\"categorical_crossentropy\"}, \"dataset\": \"%s\"}", ds);
    unavailable(&s, "POST", "/v1/jobs", job);   /* not 422: its dataset cannot be read */
    /* a prediction protocol: its own error shape */
    h = timed(&s, "GET", "/v2/models/iris", NULL, &took);
    ck_assert_msg(h.status == 503 && took < 3, "%ld in %.2f s", h.status, took);
    ck_assert_msg(atoi(h.retry_after) > 0, "Retry-After '%s'", h.retry_after);
    json_t *e = su_http_json(&h);
    ck_assert_msg(strstr(su_str(e, "error"), "cannot be reached"), "%s", h.body);
    json_decref(e);
    su_http_free(&h);
    /* the loaded model answers all the same */
    h = su_http(&s, "POST", predict, row, strlen(row), "application/json");
    ck_assert_msg(h.status == 200, "%ld %s", h.status, h.body);
    su_http_free(&h);
    sleep(2);   /* the job waits meanwhile */
    unavailable(&s, "GET", "/v1/datasets", NULL);
    pg_ctl("start");
    double t = su_now(), back = 0;
    while (!back && su_now() < t + 10) {
        h = su_http(&s, "GET", "/readyz", NULL, 0, NULL);
        if (h.status == 200)
            back = su_now() - t;
        su_http_free(&h);
        usleep(50000);
    }
    ck_assert_msg(back > 0, "/readyz did not answer 200 within 10 s of the start");
    fprintf(stderr, "/readyz 200 again %.2f s after pg_ctl start returned\n", back);
    /* what was stored before the stop is there, and new requests work */
    char path[128];
    snprintf(path, sizeof path, "/v1/datasets/%s", ds);
    json_decref(su_get_json(&s, path));
    free(su_post_id(&s, "/v1/datasets", blobs, 201));
    char *end = job_end(&s, id, 120);
    ck_assert_str_eq(end, "succeeded");
    one_row_per_epoch(&s, id);
    char *log = server_log(&s);
    ck_assert_msg(su_count(log, "cannot be reached:") == 1, "%s", log_tail(log));
    ck_assert_msg(su_count(log, "reached again") == 1, "%s", log_tail(log));
    ck_assert_msg(su_count(log, "the job pauses") == 1, "%s", log_tail(log));
    ck_assert_msg(su_count(log, "the database is back") == 1, "%s", log_tail(log));
    /* no line per failed call: the claims, the requests and the retries said nothing more */
    char *failure = failure_line(log);
    ck_assert_msg(!failure, "%.2000s", failure);
    su_stop(&s, 0);
    su_rmdir(s.dir);
    free(log), free(end), free(blobs), free(id), free(ds);
    free(small), free(small_net), free(short_job);
    json_decref(done);
}
END_TEST

START_TEST(sigterm_while_waiting)
{
    if (skipped())
        return;
    struct server s = {0};
    start(&s, "sigterm_waiting", 1);
    char *ds, *id = long_job(&s, &ds);
    su_job_wait_epoch(&s, id, 2, 60);
    pg_ctl("stop -m immediate");   /* as a crash: no checkpoint, recovery at the start */
    char *log = NULL;
    for (double until = su_now() + 10; su_now() < until; usleep(100000)) {
        free(log);
        log = server_log(&s);
        if (su_count(log, "the job pauses"))
            break;
    }
    ck_assert_msg(su_count(log, "the job pauses") == 1, "%s", log_tail(log));
    /* each connection's goodbye is not logged: the outage's one line says it */
    ck_assert_msg(su_count(log, "terminating connection") == 0, "%s", log_tail(log));
    double t = su_now();
    kill(s.pid, SIGTERM);
    int status;
    ck_assert_int_eq(waitpid(s.pid, &status, 0), s.pid);
    double took = su_now() - t;
    s.pid = 0;
    fprintf(stderr, "SIGTERM while training waits for the database: stopped in %.2f s\n",
            took);
    ck_assert_msg(took < 3, "the service took %.2f s to stop", took);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    pg_ctl("start");
    start(&s, "sigterm_waiting", 0);   /* the job resumes from its last checkpoint */
    char *end = job_end(&s, id, 120);
    ck_assert_str_eq(end, "succeeded");
    one_row_per_epoch(&s, id);
    su_stop(&s, 0);
    su_rmdir(s.dir);
    free(log), free(end), free(id), free(ds);
}
END_TEST

/* A job's end tried again after the answer to its COMMIT was lost with the connection
 * (the trainer tries it again, not knowing it landed): the second try finds the model
 * stored, answers as the first did and stores nothing twice. */
START_TEST(finish_tried_again)
{
    if (!su_pg()) {
        fprintf(stderr, "skipped on SQLite: its commits are not answered over a network\n");
        return;
    }
    su_db_open();
    su_pg_exec(su_db_pg(), "INSERT INTO jobs (id, state, request, dataset_id, epochs, "
               "created_at) VALUES ('job_f', 'queued', '{}', 'ds_x', 5, "
               "'2026-01-01T00:00:00.000Z')");
    char id[32];
    int attempt = 0;
    const struct claimer me = {"node-f", 30, 3};
    ck_assert_int_eq(store_job_claim(&me, id, &attempt), STORE_OK);
    struct model m = {.id = "mdl_f", .job_id = "job_f", .dataset_id = "ds_x",
                      .label_kind = LABELS_CLASSES, .net = "NRDN", .net_len = 4};
    m.network = json_object();
    m.metrics = json_object();
    enum job_state ended = JOB_QUEUED;
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(store_job_finish("job_f", attempt, JOB_SUCCEEDED, NULL, &m, &ended), STORE_OK);
        ck_assert_int_eq(ended, JOB_SUCCEEDED);
    }
    struct model *items;
    int n, more;
    ck_assert_int_eq(store_model_list(NULL, 10, NULL, &items, &n, &more), STORE_OK);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(items[0].id, "mdl_f");
    model_free(&items[0]);
    free(items);
    json_decref(m.network);
    json_decref(m.metrics);
    su_db_close();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pg_restart");
    TCase *tc = tcase_create("pg_restart");
    tcase_set_timeout(tc, 300);
    tcase_add_unchecked_fixture(tc, cluster_start, cluster_stop);
    tcase_add_test(tc, restart_while_training);
    tcase_add_test(tc, stop_then_start);
    tcase_add_test(tc, sigterm_while_waiting);
    tcase_add_test(tc, finish_tried_again);
    suite_add_tcase(s, tc);
    return tu_run(s) != 0;
}
