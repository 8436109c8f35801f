/* test_nodes_events.c -- several nodes on one PostgreSQL database, against the real
 * binary: a job training on node 1 followed on node 2 (server-sent events and NDJSON,
 * every epoch once and in order, progress, the final state, a follower that comes back
 * with Last-Event-ID), the same after node 2's listening connection was cut; a cancel
 * sent to node 2 stops the job on node 1; a model trained on node 1 predicts on nodes 2
 * and 3, an alias moved on one node is followed on another, and a model deleted through
 * node 2 stops answering on node 1, which had it loaded. Also prints the median time
 * from an epoch's end on node 1 to a follower on node 2 (and, to compare, on node 1).
 *
 * Only node 1 trains: the others start with --workers 0. On SQLite (one process per file) each test says it is skipped. */
#include "srvutil.h"
#include "testutil.h"

#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define J "application/json"

static const char *const node_args[] = {"--workers", "1", "--threads", "1", "--heartbeat", "1",
                                        NULL};
/* the other nodes train nothing (--workers 0): every job trains on the first */
static const char *const peer_args[] = {"--workers", "0", "--heartbeat", "1", NULL};

/* ---- nodes ---- */

/* Starts another node on first's database, with a directory of its own for its log,
 * with args (peer_args, or node_args for one that trains). */
static void start_node(struct server *s, const struct server *first, const char *const *args)
{
    *s = (struct server){0};
    su_tmpdir(s->dir, sizeof s->dir, "node");
    snprintf(s->db, sizeof s->db, "%s", first->db);
    su_start(s, args);
}

static void start_peer(struct server *s, const struct server *first)
{
    start_node(s, first, peer_args);
}

/* Stops a node started by start_peer and removes its directory (not the database, which
 * goes with the first node's su_cleanup). */
static void stop_peer(struct server *s)
{
    su_stop(s, 0);
    su_rmdir(s->dir);
    *s->dir = 0;
}

static int skipped(void)
{
    if (su_pg())
        return 0;
    printf("skipped on SQLite: one process per database file, no other node to hear\n");
    return 1;
}

/* ---- followers (libcurl transfers driven together by one multi handle) ---- */

#define MAX_CHUNKS 4096

struct follower {
    CURL *c;
    struct curl_slist *hdr;
    char *body;                /* what arrived so far, NUL-terminated */
    size_t len;
    int leave_after;           /* hang up once the event with this id arrived (0: never) */
    int done;
    CURLcode result;
    int nchunks;               /* when each piece arrived: its end in body, the wall clock */
    size_t chunk_end[MAX_CHUNKS];
    double chunk_at[MAX_CHUNKS];
};

static double wall_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static size_t on_data(char *data, size_t size, size_t n, void *ud)
{
    struct follower *f = ud;
    char *p = realloc(f->body, f->len + size * n + 1);
    if (!p)
        return 0;
    memcpy(p + f->len, data, size * n);
    f->body = p;
    f->len += size * n;
    p[f->len] = 0;
    if (f->nchunks < MAX_CHUNKS) {
        f->chunk_end[f->nchunks] = f->len;
        f->chunk_at[f->nchunks++] = wall_s();
    }
    if (f->leave_after > 0) {
        char idline[32];
        snprintf(idline, sizeof idline, "\nid: %d\n", f->leave_after);
        const char *at = strstr(f->body, idline), *end = at ? strstr(at, "\n\n") : NULL;
        if (end) {
            f->len = (size_t)(end + 2 - f->body);
            f->body[f->len] = 0;
            return 0;   /* libcurl ends the transfer */
        }
    }
    return size * n;
}

/* Adds a follower of path on s to m (last_id > 0: with that Last-Event-ID). */
static void follow(CURLM *m, struct follower *f, const struct server *s, const char *path,
                   int last_id)
{
    char url[256], h[64];
    snprintf(url, sizeof url, "%s%s", s->base, path);
    f->c = curl_easy_init();
    ck_assert_ptr_nonnull(f->c);
    if (last_id > 0) {
        snprintf(h, sizeof h, "Last-Event-ID: %d", last_id);
        f->hdr = curl_slist_append(NULL, h);
        curl_easy_setopt(f->c, CURLOPT_HTTPHEADER, f->hdr);
    }
    curl_easy_setopt(f->c, CURLOPT_URL, url);
    curl_easy_setopt(f->c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(f->c, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(f->c, CURLOPT_PRIVATE, f);
    curl_easy_setopt(f->c, CURLOPT_NOSIGNAL, 1L);
    curl_multi_add_handle(m, f->c);
}

/* Runs m's transfers for up to `seconds`, or until all have ended; how many still go. */
static int pump(CURLM *m, double seconds)
{
    double end = su_now() + seconds;
    int running = 1;
    while (running && su_now() < end) {
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left)))
            if (msg->msg == CURLMSG_DONE) {
                struct follower *f;
                curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&f);
                f->done = 1;
                f->result = msg->data.result;
            }
        if (running)
            curl_multi_poll(m, NULL, 0, 5, NULL);
    }
    return running;
}

/* Runs m until follower f has received `text`, up to `seconds`; 1 when it has. */
static int pump_until(CURLM *m, struct follower *f, const char *text, double seconds)
{
    double end = su_now() + seconds;
    while (!(f->body && strstr(f->body, text)) && !f->done && su_now() < end)
        pump(m, 0.02);
    return f->body && strstr(f->body, text) != NULL;
}

static void follower_free(CURLM *m, struct follower *f)
{
    if (f->c) {
        curl_multi_remove_handle(m, f->c);
        curl_easy_cleanup(f->c);
    }
    curl_slist_free_all(f->hdr);
    free(f->body);
    *f = (struct follower){0};
}

/* ---- reading a stream ---- */

/* The events of a text/event-stream body: [{"event", "id" (-1: none), "data", "end" (the
 * offset just past the event in body)}]; comments are left out (new). */
static json_t *events_of(const char *body)
{
    json_t *out = json_array(), *ev = NULL;
    const char *p = body;
    for (const char *nl; (nl = strchr(p, '\n')); p = nl + 1) {
        int n = (int)(nl - p);
        if (n == 0) {
            if (ev) {
                json_object_set_new(ev, "end", json_integer(nl + 1 - body));
                json_array_append_new(out, ev);
            }
            ev = NULL;
        } else if (*p != ':') {
            if (!ev)
                ev = json_pack("{s:s, s:i}", "event", "message", "id", -1);
            if (!strncmp(p, "event: ", 7))
                json_object_set_new(ev, "event", json_stringn(p + 7, (size_t)n - 7));
            else if (!strncmp(p, "id: ", 4))
                json_object_set_new(ev, "id", json_integer(atoi(p + 4)));
            else if (!strncmp(p, "data: ", 6))
                json_object_set_new(ev, "data", json_loadb(p + 6, (size_t)n - 6, 0, NULL));
        }
    }
    json_decref(ev);
    return out;
}

static const char *kind(const json_t *ev)
{
    return json_string_value(json_object_get(ev, "event"));
}

static int count(const json_t *evs, const char *k)
{
    int n = 0;
    size_t i;
    json_t *ev;
    json_array_foreach(evs, i, ev)
        n += !strcmp(kind(ev), k);
    return n;
}

/* The epoch events of evs are exactly first..last, in order, each its stored row. */
static void check_epochs(const json_t *evs, int first, int last, const json_t *rows)
{
    int want = first;
    size_t i;
    json_t *ev;
    json_array_foreach(evs, i, ev) {
        if (strcmp(kind(ev), "epoch") != 0)
            continue;
        const json_t *data = json_object_get(ev, "data");
        int id = (int)json_integer_value(json_object_get(ev, "id"));
        ck_assert_msg(id == want, "epoch event %d where epoch %d was due", id, want);
        ck_assert_int_eq(json_integer_value(json_object_get(data, "epoch")), id);
        ck_assert_msg(json_equal(data, json_array_get(rows, (size_t)id - 1)),
                      "epoch %d's event differs from its stored row", id);
        want++;
    }
    ck_assert_msg(want == last + 1, "the epochs stop at %d, not %d", want - 1, last);
}

/* The last event is a status of state `state`. */
static void check_ends(const json_t *evs, const char *state)
{
    const json_t *last = json_array_get(evs, json_array_size(evs) - 1);
    ck_assert_msg(last && !strcmp(kind(last), "status"), "the stream does not end with a "
                  "status");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(last, "data"), "state")),
                     state);
}

/* An RFC 3339 UTC time with milliseconds ("2026-11-25T22:12:35.478Z") in seconds. */
static double rfc3339_s(const char *t)
{
    struct tm tm = {0};
    int ms = 0;
    if (!t || sscanf(t, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                     &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (double)timegm(&tm) + ms / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* When each epoch event of evs reached follower f (wall clock), into at[epoch] (at most
 * max epochs; 0 where none came). */
static void arrivals(const struct follower *f, const json_t *evs, double *at, int max)
{
    memset(at, 0, sizeof *at * (size_t)max);
    size_t i;
    json_t *ev;
    json_array_foreach(evs, i, ev) {
        int e = (int)json_integer_value(json_object_get(ev, "id"));
        if (strcmp(kind(ev), "epoch") != 0 || e <= 0 || e >= max)
            continue;
        size_t end = (size_t)json_integer_value(json_object_get(ev, "end"));
        for (int k = 0; k < f->nchunks && !at[e]; k++)
            if (f->chunk_end[k] >= end)
                at[e] = f->chunk_at[k];
    }
}

/* The median of n values (sorted in place). */
static double median(double *d, int n)
{
    if (n == 0)
        return NAN;
    qsort(d, (size_t)n, sizeof *d, cmp_double);
    return n % 2 ? d[n / 2] : (d[n / 2 - 1] + d[n / 2]) / 2;
}

/* ---- jobs and models ---- */

static char *job(const struct server *s, const char *ds, const char *net, int epochs,
                 int batch, const char *model_name)
{
    char body[512];
    snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\", \"epochs\": %d, "
             "\"batch_size\": %d, \"seed\": 5%s%s%s}", net, ds, epochs, batch,
             model_name ? ", \"model_name\": \"" : "", model_name ? model_name : "",
             model_name ? "\"" : "");
    return su_post_id(s, "/v1/jobs", body, 202);
}

/* A request with a JSON body (or none) whose status must be want; its answer (new), NULL
 * for none. */
static json_t *call(const struct server *s, const char *method, const char *path,
                    const char *body, long want)
{
    struct http_reply h = su_http(s, method, path, body, body ? strlen(body) : 0,
                                  body ? J : NULL);
    ck_assert_msg(h.status == want, "%s %s on %s: %ld, not %ld: %s", method, path, s->base,
                  h.status, want, h.body);
    json_t *j = h.len ? su_http_json(&h) : NULL;
    su_http_free(&h);
    return j;
}

/* The status of a prediction of one row by model ref on s; its outputs into out (new)
 * when 200. */
static long predict(const struct server *s, const char *ref, json_t **out)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/models/%s/predict", ref);
    static const char body[] = "{\"inputs\": [[0.5, 1.5, 2.5, 3.5]]}";
    struct http_reply h = su_http(s, "POST", path, body, strlen(body), J);
    long st = h.status;
    if (out) {
        json_t *j = st == 200 ? su_http_json(&h) : NULL;
        *out = json_incref(json_object_get(j, "outputs"));
        json_decref(j);
    }
    su_http_free(&h);
    return st;
}

/* Polls until predict answers `want`, up to `seconds`; the seconds it took, or -1. */
static double predict_becomes(const struct server *s, const char *ref, long want,
                              double seconds)
{
    double t0 = su_now();
    while (su_now() - t0 < seconds) {
        if (predict(s, ref, NULL) == want)
            return su_now() - t0;
        usleep(5000);
    }
    return -1;
}

/* ---- the tests ---- */

/* A job queued through node 2 trains on node 1, followed on node 2 from before it starts
 * (SSE and NDJSON), by one that hangs up after epoch 3 and comes back with Last-Event-ID:
 * 3 mid-training, and on node 1 too: every epoch once, in order, equal to its stored row;
 * the states queued, running, succeeded in order, the epochs between running and
 * succeeded; progress seen on node 2; each stream ends with the final state. Prints the
 * median delay of each node's follower. */
START_TEST(follow_on_another_node)
{
    if (skipped())
        return;
    enum { EPOCHS = 30 };
    struct server b = {0}, a;
    su_start(&b, peer_args);
    /* queued through node 2, which trains nothing; node 1, which starts once it is
     * followed, takes it */
    char *ds = su_dataset(&b, 3000, 64, 0), *net = su_network(&b, 64, 512);
    char *id = job(&b, ds, net, EPOCHS, 4, NULL), path[128];

    CURLM *m = curl_multi_init();
    struct follower f[4] = {{0}};   /* on b: SSE, NDJSON, SSE leaving; on a: SSE */
    snprintf(path, sizeof path, "/v1/jobs/%s/events", id);
    follow(m, &f[0], &b, path, 0);
    f[2].leave_after = 3;
    follow(m, &f[2], &b, path, 0);
    snprintf(path, sizeof path, "/v1/jobs/%s/metrics?follow=true", id);
    follow(m, &f[1], &b, path, 0);
    ck_assert(pump_until(m, &f[0], "\"state\":\"queued\"", 20));
    start_node(&a, &b, node_args);
    snprintf(path, sizeof path, "/v1/jobs/%s/events", id);
    follow(m, &f[3], &a, path, 0);
    ck_assert_msg(pump_until(m, &f[2], "\nid: 3\n", 60), "no epoch 3 on node 2");
    follower_free(m, &f[2]);
    snprintf(path, sizeof path, "/v1/jobs/%s", id);
    json_t *mid = su_get_json(&a, path);
    ck_assert_msg(!strcmp(su_str(mid, "state"), "running") && su_int(mid, "epoch") < EPOCHS,
                  "the job is no longer training when the follower comes back");
    json_decref(mid);
    snprintf(path, sizeof path, "/v1/jobs/%s/events", id);
    follow(m, &f[2], &b, path, 3);
    ck_assert_msg(pump(m, 120) == 0, "the streams did not end with the job");

    snprintf(path, sizeof path, "/v1/jobs/%s/metrics", id);
    json_t *metrics = su_get_json(&a, path), *rows = json_object_get(metrics, "epochs");
    ck_assert_int_eq(json_array_size(rows), EPOCHS);
    json_t *evs[4];
    for (int k = 0; k < 4; k++)
        evs[k] = k == 1 ? NULL : events_of(f[k].body);
    check_epochs(evs[0], 1, EPOCHS, rows);
    check_epochs(evs[2], 4, EPOCHS, rows);
    check_epochs(evs[3], 1, EPOCHS, rows);
    for (int k = 0; k < 4; k++)
        if (evs[k]) {
            ck_assert_int_eq(f[k].result, CURLE_OK);
            check_ends(evs[k], "succeeded");
        }
    const char *want[] = {"queued", "running", "succeeded"};
    int st = 0, seen = 0;
    size_t i;
    json_t *ev;
    json_array_foreach(evs[0], i, ev) {
        seen += !strcmp(kind(ev), "epoch");
        if (strcmp(kind(ev), "status") != 0)
            continue;
        const char *state = json_string_value(json_object_get(json_object_get(ev, "data"),
                                                              "state"));
        ck_assert_msg(st < 3 && !strcmp(state, want[st]), "status %s as status number %d",
                      state, st + 1);
        ck_assert_int_eq(seen, st < 2 ? 0 : EPOCHS);
        st++;
    }
    ck_assert_int_eq(st, 3);
    /* progress is written twice a second at most, and a fast machine trains this job's
     * 30 epochs in under a second (26 ms an epoch seen): one relayed event shows the way */
    ck_assert_msg(count(evs[0], "progress") >= 1, "%d progress events on node 2",
                  count(evs[0], "progress"));
    /* NDJSON: one stored row per line */
    int lines = 0;
    for (char *line = f[1].body, *nl; (nl = strchr(line, '\n')); line = nl + 1, lines++) {
        json_t *row = json_loadb(line, (size_t)(nl - line), 0, NULL);
        ck_assert_msg(row && json_equal(row, json_array_get(rows, (size_t)lines)),
                      "NDJSON line %d is not the stored row", lines + 1);
        json_decref(row);
    }
    ck_assert_int_eq(lines, EPOCHS);
    /* the time from an epoch's end (ended_at, before its commit) to its event, on the
     * other node and on the training node; their difference is what the trip through
     * the database's notification and the row's reading adds */
    double on_b[EPOCHS + 1], on_a[EPOCHS + 1], db[EPOCHS], da[EPOCHS], extra[EPOCHS];
    arrivals(&f[0], evs[0], on_b, EPOCHS + 1);
    arrivals(&f[3], evs[3], on_a, EPOCHS + 1);
    int nd = 0;
    for (int e = 1; e <= EPOCHS; e++) {
        double ended = rfc3339_s(json_string_value(
            json_object_get(json_array_get(rows, (size_t)e - 1), "ended_at")));
        if (on_a[e] > 0 && on_b[e] > 0) {
            db[nd] = on_b[e] - ended;
            da[nd] = on_a[e] - ended;
            extra[nd++] = on_b[e] - on_a[e];
        }
    }
    printf("epoch end to event, median of %d epochs of %.0f ms: %.1f ms on another node, "
           "%.1f ms on the training node, %.1f ms more on the other node\n", nd,
           1e3 * json_number_value(json_object_get(json_array_get(rows, 1), "seconds")),
           1e3 * median(db, nd), 1e3 * median(da, nd), 1e3 * median(extra, nd));

    for (int k = 0; k < 4; k++) {
        json_decref(evs[k]);
        follower_free(m, &f[k]);
    }
    curl_multi_cleanup(m);
    json_decref(metrics);
    free(ds), free(net), free(id);
    stop_peer(&a);
    su_stop(&b, 0);
    su_cleanup(&b);
}
END_TEST

/* Node 2's listening connection is cut while it follows a job training on node 1: it
 * connects again and its follower still gets every epoch once, in order. */
START_TEST(follow_across_a_lost_listener)
{
    if (skipped())
        return;
    enum { EPOCHS = 16 };
    struct server a = {0}, b;
    su_start(&a, node_args);
    char *ds = su_dataset(&a, 3000, 64, 0), *net = su_network(&a, 64, 512);
    char *id = job(&a, ds, net, EPOCHS, 4, NULL), path[128];
    json_decref(su_job_wait(&a, id, "running", 60));
    start_peer(&b, &a);
    CURLM *m = curl_multi_init();
    struct follower f = {0};
    snprintf(path, sizeof path, "/v1/jobs/%s/events", id);
    follow(m, &f, &b, path, 0);
    ck_assert(pump_until(m, &f, "\nid: 2\n", 60));
    /* both nodes' listeners: each reconnects, and node 2's follower must not notice */
    su_pg_exec_rows(a.db, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE query = 'LISTEN neurond' AND pid <> pg_backend_pid()");
    ck_assert_msg(pump(m, 120) == 0, "the stream did not end with the job");
    snprintf(path, sizeof path, "/v1/jobs/%s/metrics", id);
    json_t *metrics = su_get_json(&a, path), *rows = json_object_get(metrics, "epochs");
    json_t *evs = events_of(f.body);
    check_epochs(evs, 1, EPOCHS, rows);
    check_ends(evs, "succeeded");
    json_decref(evs);
    json_decref(metrics);
    follower_free(m, &f);
    curl_multi_cleanup(m);
    free(ds), free(net), free(id);
    stop_peer(&b);
    su_stop(&a, 0);
    su_cleanup(&a);
}
END_TEST

/* A cancel sent to node 2 stops the job training on node 1 at its next batch; node 2's
 * follower sees it end cancelled. */
START_TEST(cancel_through_another_node)
{
    if (skipped())
        return;
    struct server a = {0}, b;
    su_start(&a, node_args);
    char *ds = su_dataset(&a, 2000, 4, 0), *net = su_network(&a, 4, 64);
    char *id = job(&a, ds, net, 100000, 8, NULL), path[128];
    json_decref(su_job_wait(&a, id, "running", 60));
    start_peer(&b, &a);
    CURLM *m = curl_multi_init();
    struct follower f = {0};
    snprintf(path, sizeof path, "/v1/jobs/%s/events", id);
    follow(m, &f, &b, path, 0);
    ck_assert(pump_until(m, &f, "\"state\":\"running\"", 20));

    snprintf(path, sizeof path, "/v1/jobs/%s/cancel", id);
    double t0 = su_now();
    json_decref(call(&b, "POST", path, NULL, 202));
    ck_assert_msg(pump(m, 10) == 0, "node 2's stream did not end within 10 s of the cancel");
    double took = su_now() - t0;
    snprintf(path, sizeof path, "/v1/jobs/%s", id);
    json_t *j = su_get_json(&a, path);
    ck_assert_str_eq(su_str(j, "state"), "cancelled");
    json_t *evs = events_of(f.body);
    check_ends(evs, "cancelled");
    ck_assert_msg(took < 2, "the job stopped %.2f s after the cancel", took);
    printf("cancel through another node: the job ended, and its follower there saw it, "
           "%.0f ms after the 202\n", took * 1e3);
    json_decref(evs);
    json_decref(j);
    follower_free(m, &f);
    curl_multi_cleanup(m);
    free(ds), free(net), free(id);
    stop_peer(&b);
    su_stop(&a, 0);
    su_cleanup(&a);
}
END_TEST

/* Models trained on node 1 predict on nodes 2 and 3 (the same outputs); an alias read on
 * node 2 and moved on node 1 is followed on node 2; a model loaded on nodes 1 and 3 and
 * deleted through node 2 answers 404 on both right after. */
START_TEST(models_on_every_node)
{
    if (skipped())
        return;
    struct server n[3];
    n[0] = (struct server){0};
    su_start(&n[0], node_args);
    char *ds = su_dataset(&n[0], 300, 4, 1), *net = su_network(&n[0], 4, 16);
    char *model[2];
    for (int v = 0; v < 2; v++) {
        char *id = job(&n[0], ds, net, 3, 16, "blobs");
        json_t *j = su_job_wait(&n[0], id, NULL, 60);
        ck_assert_str_eq(su_str(j, "state"), "succeeded");
        model[v] = strdup(su_str(j, "model"));
        json_decref(j);
        free(id);
    }
    json_t *out[3];
    ck_assert_int_eq(predict(&n[0], model[0], &out[0]), 200);   /* loaded on node 1 */
    for (int k = 1; k < 3; k++) {
        start_peer(&n[k], &n[0]);
        ck_assert_int_eq(predict(&n[k], model[0], &out[k]), 200);
        ck_assert_msg(json_equal(out[k], out[0]), "node %d predicts otherwise", k + 1);
    }

    /* an alias set on node 1 is resolved on node 2 (and kept in its names cache); moved
     * on node 1, node 2 follows it */
    json_decref(call(&n[0], "PUT", "/v1/models/blobs/aliases/live", "{\"version\": 1}", 201));
    json_t *got = call(&n[1], "GET", "/v1/models/blobs@live", NULL, 200);
    ck_assert_str_eq(su_str(got, "id"), model[0]);
    json_decref(got);
    json_decref(call(&n[0], "PUT", "/v1/models/blobs/aliases/live", "{\"version\": 2}", 200));
    double t0 = su_now();
    int moved = 0;
    while (!moved && su_now() - t0 < 3) {
        got = call(&n[1], "GET", "/v1/models/blobs@live", NULL, 200);
        moved = !strcmp(su_str(got, "id"), model[1]);
        json_decref(got);
        if (!moved)
            usleep(5000);
    }
    ck_assert_msg(moved, "node 2 still resolves blobs@live to version 1 after 3 s");
    printf("an alias moved on node 1 was followed on node 2 after %.0f ms\n",
           (su_now() - t0) * 1e3);

    /* version 1, loaded on nodes 1 and 3, deleted through node 2 */
    ck_assert_int_eq(predict(&n[2], model[0], NULL), 200);
    char path[128];
    snprintf(path, sizeof path, "/v1/models/%s", model[0]);
    json_decref(call(&n[1], "DELETE", path, NULL, 204));
    double gone1 = predict_becomes(&n[0], model[0], 404, 3),
           gone3 = predict_becomes(&n[2], model[0], 404, 3);
    ck_assert_msg(gone1 >= 0 && gone1 < 1, "node 1 still predicted with the deleted model "
                  "(%.2f s)", gone1);
    ck_assert_msg(gone3 >= 0 && gone3 < 1, "node 3 still predicted with the deleted model "
                  "(%.2f s)", gone3);
    /* the other version still answers everywhere */
    for (int k = 0; k < 3; k++)
        ck_assert_int_eq(predict(&n[k], model[1], NULL), 200);

    for (int k = 0; k < 3; k++)
        json_decref(out[k]);
    free(model[0]), free(model[1]), free(ds), free(net);
    for (int k = 1; k < 3; k++)
        stop_peer(&n[k]);
    su_stop(&n[0], 0);
    su_cleanup(&n[0]);
}
END_TEST

/* A node started with --workers 0 is ready, takes jobs into the queue and trains none of
 * them, nor puts back in the queue the job another node trains (on SQLite: a job stays
 * queued; on PostgreSQL a node with a worker then trains it, undisturbed by another
 * node without workers that starts meanwhile). */
START_TEST(a_node_that_trains_nothing)
{
    struct server a = {0}, b;
    su_start(&a, peer_args);
    json_decref(call(&a, "GET", "/readyz", NULL, 200));
    char *ds = su_dataset(&a, 2000, 4, 0), *net = su_network(&a, 4, 64);
    char *id = job(&a, ds, net, 100000, 8, NULL), path[128];
    snprintf(path, sizeof path, "/v1/jobs/%s", id);
    usleep(1500 * 1000);   /* a worker would have taken it (it looks every second) */
    json_t *j = su_get_json(&a, path);
    ck_assert_str_eq(su_str(j, "state"), "queued");
    json_decref(j);
    if (su_pg()) {
        start_node(&b, &a, node_args);   /* the same database, with a worker */
        json_decref(su_job_wait(&a, id, "running", 30));
        struct server c;
        start_peer(&c, &a);   /* another node without workers starts: the job stays */
        usleep(1500 * 1000);
        j = su_get_json(&c, path);
        ck_assert_msg(!strcmp(su_str(j, "state"), "running"), "the job is %s, not running, "
                      "once a node without workers started", su_str(j, "state"));
        json_decref(j);
        snprintf(path, sizeof path, "/v1/jobs/%s/cancel", id);
        json_decref(call(&c, "POST", path, NULL, 202));
        j = su_job_wait(&c, id, NULL, 30);
        ck_assert_str_eq(su_str(j, "state"), "cancelled");
        long epochs = su_int(j, "epoch");
        json_decref(j);
        snprintf(path, sizeof path, "/v1/jobs/%s/metrics", id);
        j = su_get_json(&c, path);
        ck_assert_int_eq((long)json_array_size(json_object_get(j, "epochs")), epochs);
        json_decref(j);
        stop_peer(&c);
        stop_peer(&b);
    }
    free(ds), free(net), free(id);
    su_stop(&a, 0);
    su_cleanup(&a);
}
END_TEST

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    Suite *s = suite_create("nodes_events");
    TCase *tc = tcase_create("nodes_events");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, follow_on_another_node);
    tcase_add_test(tc, follow_across_a_lost_listener);
    tcase_add_test(tc, cancel_through_another_node);
    tcase_add_test(tc, models_on_every_node);
    tcase_add_test(tc, a_node_that_trains_nothing);
    suite_add_tcase(s, tc);
    int failed = tu_run(s);
    curl_global_cleanup();
    return failed != 0;
}
