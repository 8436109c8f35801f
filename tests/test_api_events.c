/* test_api_events.c -- following jobs against the real binary: GET /v1/jobs/{id}/events
 * (replay, live events of a job queued then run, Last-Event-ID, heartbeats, many
 * followers at once, followers that leave, a stop while followed) and
 * GET /v1/jobs/{id}/metrics?follow=true. Followers are libcurl transfers driven together
 * by one multi handle. */
#include "srvutil.h"
#include "testutil.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- followers ---- */

struct follower {
    CURL *c;
    struct curl_slist *hdr;
    char *body;                /* what arrived so far, NUL-terminated */
    size_t len;
    int leave_after;           /* hang up once the event with this id arrived (0: never) */
    int done;                  /* the transfer ended */
    CURLcode result;
};

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
    if (f->leave_after > 0) {   /* the whole event: its id line, then the blank line after */
        char idline[32];
        snprintf(idline, sizeof idline, "\nid: %d\n", f->leave_after);
        const char *at = strstr(f->body, idline), *end = at ? strstr(at, "\n\n") : NULL;
        if (end) {   /* what came after it in the same read is dropped, unread */
            f->len = (size_t)(end + 2 - f->body);
            f->body[f->len] = 0;
            return 0;   /* libcurl ends the transfer and closes the connection */
        }
    }
    return size * n;
}

/* Adds a follower of path to m, with Last-Event-ID: last_id when last_id >= 0. */
static void follow_from(CURLM *m, struct follower *f, const struct server *s,
                        const char *path, int last_id)
{
    char url[256], h[64];
    snprintf(url, sizeof url, "%s%s", s->base, path);
    f->c = curl_easy_init();
    ck_assert_ptr_nonnull(f->c);
    if (last_id >= 0) {
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

/* Adds a follower of path (last_id > 0: with that Last-Event-ID) to m. */
static void follow(CURLM *m, struct follower *f, const struct server *s, const char *path,
                   int last_id)
{
    follow_from(m, f, s, path, last_id > 0 ? last_id : -1);
}

/* Runs m's transfers for up to `seconds`, or until all have ended. Returns how many are
 * still going. */
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
            curl_multi_poll(m, NULL, 0, 20, NULL);
    }
    return running;
}

/* Runs m's transfers until each of the n followers f has received `text`, up to
 * `seconds`. Returns how many have. */
static int pump_until(CURLM *m, struct follower *f, int n, const char *text, double seconds)
{
    double end = su_now() + seconds;
    int ready = 0;
    for (;;) {
        ready = 0;
        for (int k = 0; k < n; k++)
            ready += f[k].body && strstr(f[k].body, text) != NULL;
        if (ready == n || su_now() >= end)
            return ready;
        pump(m, 0.05);
    }
}

/* Hangs up (the connection is closed) and frees the follower's transfer. */
static void hang_up(CURLM *m, struct follower *f)
{
    if (!f->c)
        return;
    curl_multi_remove_handle(m, f->c);
    curl_easy_cleanup(f->c);
    curl_slist_free_all(f->hdr);
    f->c = NULL;
    f->hdr = NULL;
}

static void follower_free(CURLM *m, struct follower *f)
{
    hang_up(m, f);
    free(f->body);
    *f = (struct follower){0};
}

static long status_of(const struct follower *f)
{
    long st = 0;
    curl_easy_getinfo(f->c, CURLINFO_RESPONSE_CODE, &st);
    return st;
}

static const char *ctype_of(const struct follower *f)
{
    char *ct = NULL;
    curl_easy_getinfo(f->c, CURLINFO_CONTENT_TYPE, &ct);
    return ct ? ct : "";
}

/* ---- reading a stream ---- */

/* The events of a text/event-stream body, as [{"event", "id" (-1: none), "data" (parsed
 * JSON)}] and comments as {"comment": text} (new). An event the stream did not finish is
 * left out. */
static json_t *events_of(const char *body)
{
    json_t *out = json_array(), *ev = NULL;
    const char *p = body;
    for (;;) {
        const char *nl = strchr(p, '\n');
        if (!nl)
            break;   /* an unfinished line */
        int n = (int)(nl - p);
        if (n == 0) {   /* a blank line ends an event */
            if (ev)
                json_array_append_new(out, ev);
            ev = NULL;
        } else if (*p == ':') {
            json_array_append_new(out, json_pack("{s:s#}", "comment", p + 1 + (p[1] == ' '),
                                                 n - 1 - (p[1] == ' ')));
        } else {
            if (!ev)
                ev = json_pack("{s:s, s:i}", "event", "message", "id", -1);
            if (!strncmp(p, "event: ", 7))
                json_object_set_new(ev, "event", json_stringn(p + 7, (size_t)n - 7));
            else if (!strncmp(p, "id: ", 4))
                json_object_set_new(ev, "id", json_integer(atoi(p + 4)));
            else if (!strncmp(p, "data: ", 6))
                json_object_set_new(ev, "data", json_loadb(p + 6, (size_t)n - 6, 0, NULL));
        }
        p = nl + 1;
    }
    json_decref(ev);
    return out;
}

static const char *kind(const json_t *ev)
{
    const char *k = json_string_value(json_object_get(ev, "event"));
    return k ? k : "comment";
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

/* The state of a status event. */
static const char *state_in(const json_t *ev)
{
    return json_string_value(json_object_get(json_object_get(ev, "data"), "state"));
}

/* Checks the epoch events of evs: exactly epochs first..last, in order, each with its
 * id, each equal to the stored row rows[epoch - 1]. */
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
        if (rows)
            ck_assert_msg(json_equal(data, json_array_get(rows, (size_t)id - 1)),
                          "epoch %d's event differs from its stored row", id);
        want++;
    }
    ck_assert_msg(want == last + 1, "the epochs stop at %d, not %d", want - 1, last);
}

/* ---- a server and its jobs ---- */

static char *job(const struct server *s, const char *ds, const char *net, int epochs,
                 int batch)
{
    char body[256];
    snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\", \"epochs\": %d, "
             "\"batch_size\": %d, \"seed\": 5}", net, ds, epochs, batch);
    return su_post_id(s, "/v1/jobs", body, 202);
}

static int followers_metric(const struct server *s)
{
    struct http_reply h = su_http(s, "GET", "/metrics", NULL, 0, NULL);
    const char *at = strstr(h.body ? h.body : "", "\nneurond_stream_subscribers ");
    int n = at ? atoi(at + 28) : -1;
    su_http_free(&h);
    return n;
}

/* Polls /metrics until it counts `want` followers, up to `seconds`; the last count. */
static int followers_become(const struct server *s, int want, double seconds)
{
    double end = su_now() + seconds;
    int n;
    while ((n = followers_metric(s)) != want && su_now() < end)
        usleep(50000);
    return n;
}

static void cancel(const struct server *s, const char *id)
{
    char path[96];
    snprintf(path, sizeof path, "/v1/jobs/%s/cancel", id);
    struct http_reply h = su_http(s, "POST", path, NULL, 0, NULL);
    ck_assert_msg(h.status == 200 || h.status == 202, "cancel: %ld %s", h.status, h.body);
    su_http_free(&h);
}

static const char *const one_worker[] = {"--workers", "1", "--threads", "1", "--heartbeat", "1",
                                         NULL};

/* A job that trains until cancelled, running on s. */
static char *long_job(const struct server *s)
{
    char *ds = su_dataset(s, 2000, 16, 0), *net = su_network(s, 16, 64);
    char *id = job(s, ds, net, 100000, 8);
    json_decref(su_job_wait(s, id, "running", 60));
    free(ds);
    free(net);
    return id;
}

/* ---- the tests ---- */

START_TEST(replay_of_an_ended_job)
{
    struct server s = {0};
    su_start(&s, one_worker);
    char *ds = su_dataset(&s, 300, 4, 1), *net = su_network(&s, 4, 16);
    char *id = job(&s, ds, net, 6, 16), path[128];
    json_decref(su_job_wait(&s, id, NULL, 60));
    snprintf(path, sizeof path, "/v1/jobs/%s/metrics", id);
    json_t *metrics = su_get_json(&s, path), *rows = json_object_get(metrics, "epochs");
    ck_assert_int_eq(json_array_size(rows), 6);

    /* from the start, with Last-Event-ID 0 (the same), after epoch 4; then NDJSON */
    static const int after[] = {-1, 0, 4};
    CURLM *m = curl_multi_init();
    struct follower f[4] = {{0}};
    snprintf(path, sizeof path, "/v1/jobs/%s/events", id);
    for (int k = 0; k < 3; k++)
        follow_from(m, &f[k], &s, path, after[k]);
    snprintf(path, sizeof path, "/v1/jobs/%s/metrics?follow=true", id);
    follow(m, &f[3], &s, path, 0);
    ck_assert_msg(pump(m, 20) == 0, "a stream of an ended job did not end");
    for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(f[k].result, CURLE_OK);
        ck_assert_int_eq(status_of(&f[k]), 200);
        ck_assert_str_eq(ctype_of(&f[k]), "text/event-stream");
        json_t *evs = events_of(f[k].body);
        check_epochs(evs, (after[k] > 0 ? after[k] : 0) + 1, 6, rows);
        ck_assert_int_eq(count(evs, "status"), 1);
        ck_assert_int_eq(count(evs, "progress"), 0);
        const json_t *last = json_array_get(evs, json_array_size(evs) - 1);
        ck_assert_str_eq(kind(last), "status");
        ck_assert_str_eq(state_in(last), "succeeded");
        /* the final status carries the last epoch's id, for the reconnect below */
        ck_assert_int_eq(json_integer_value(json_object_get(last, "id")), 6);
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(last, "data"),
                                                           "id")), id);
        json_decref(evs);
    }
    /* NDJSON: one stored row per line */
    ck_assert_int_eq(f[3].result, CURLE_OK);
    ck_assert_str_eq(ctype_of(&f[3]), "application/x-ndjson");
    int lines = 0;
    for (char *line = f[3].body, *nl; (nl = strchr(line, '\n')); line = nl + 1, lines++) {
        json_t *row = json_loadb(line, (size_t)(nl - line), 0, NULL);
        ck_assert_msg(row && json_equal(row, json_array_get(rows, (size_t)lines)),
                      "NDJSON line %d is not the stored row", lines + 1);
        json_decref(row);
    }
    ck_assert_int_eq(lines, 6);
    for (int k = 0; k < 4; k++)
        follower_free(m, &f[k]);
    curl_multi_cleanup(m);
    ck_assert_int_eq(followers_become(&s, 0, 5), 0);
    json_decref(metrics);
    free(ds), free(net), free(id);
    su_stop(&s, 0);
    su_cleanup(&s);
}
END_TEST

/* Followers of a job queued behind a long one see it wait (heartbeats), start, train and
 * end; one hangs up after epoch 2 and comes back with Last-Event-ID: 2. A follower of
 * the long job sees progress, a few a second at most, and its cancellation. */
START_TEST(live_events_of_a_queued_job)
{
    enum { N = 20, EPOCHS = 5 };
    struct server s = {0};
    su_start(&s, one_worker);
    char *blocker = long_job(&s);
    char *ds = su_dataset(&s, 600, 4, 1), *net = su_network(&s, 4, 16);
    char *id = job(&s, ds, net, EPOCHS, 8), path[128];

    CURLM *m = curl_multi_init();
    struct follower f[N + 1] = {{0}}, b = {0};
    snprintf(path, sizeof path, "/v1/jobs/%s/events", id);
    for (int k = 0; k <= N; k++) {
        f[k].leave_after = k == N ? 2 : 0;
        follow(m, &f[k], &s, path, 0);
    }
    snprintf(path, sizeof path, "/v1/jobs/%s/events", blocker);
    follow(m, &b, &s, path, 0);   /* read as often as the others: it must not lag */
    double t0 = su_now();
    /* the job waits: its state, then heartbeats only (--heartbeat 1); until each follower
     * has one, the job still queued with no epoch stored (so none to send) */
    ck_assert_int_eq(pump_until(m, f, N + 1, "\n: heartbeat", 20), N + 1);
    snprintf(path, sizeof path, "/v1/jobs/%s", id);
    json_t *waiting = su_get_json(&s, path);
    ck_assert_str_eq(su_str(waiting, "state"), "queued");
    ck_assert_int_eq(su_int(waiting, "epoch"), 0);
    json_decref(waiting);
    for (int k = 0; k <= N; k++) {
        json_t *evs = events_of(f[k].body);
        ck_assert_msg(count(evs, "status") == 1 && !strcmp(state_in(json_array_get(evs, 0)),
                                                           "queued"),
                      "follower %d: %s", k, f[k].body);
        ck_assert_int_eq(count(evs, "epoch") + count(evs, "progress"), 0);
        ck_assert_msg(count(evs, "comment") >= 1, "follower %d has no heartbeat", k);
        json_decref(evs);
    }
    ck_assert_int_eq(followers_metric(&s), N + 2);

    cancel(&s, blocker);   /* the queued job starts */
    double seconds = su_now() - t0;   /* the long job's stream ends with it */
    ck_assert_msg(pump(m, 60) == 0, "the followers' streams did not end with the job");
    snprintf(path, sizeof path, "/v1/jobs/%s/metrics", id);
    json_t *metrics = su_get_json(&s, path), *rows = json_object_get(metrics, "epochs");
    ck_assert_int_eq(json_array_size(rows), EPOCHS);
    for (int k = 0; k < N; k++) {
        ck_assert_int_eq(f[k].result, CURLE_OK);
        json_t *evs = events_of(f[k].body);
        check_epochs(evs, 1, EPOCHS, rows);
        /* queued, running, succeeded: in that order, the last event last */
        const char *want[] = {"queued", "running", "succeeded"};
        int st = 0, epochs_seen = 0;
        size_t i;
        json_t *ev;
        json_array_foreach(evs, i, ev) {
            epochs_seen += !strcmp(kind(ev), "epoch");
            if (strcmp(kind(ev), "status") != 0)
                continue;
            ck_assert_msg(st < 3 && !strcmp(state_in(ev), want[st]), "follower %d: status %s "
                          "as status number %d", k, state_in(ev), st + 1);
            ck_assert_int_eq(epochs_seen, st < 2 ? 0 : EPOCHS);   /* running, then epochs */
            st++;
        }
        ck_assert_int_eq(st, 3);
        ck_assert_str_eq(state_in(json_array_get(evs, json_array_size(evs) - 1)), "succeeded");
        json_decref(evs);
    }
    /* the one that hung up after epoch 2 comes back: epochs 3 to 5, no gap, no repeat */
    json_t *first = events_of(f[N].body);
    check_epochs(first, 1, 2, rows);
    json_decref(first);
    follower_free(m, &f[N]);
    snprintf(path, sizeof path, "/v1/jobs/%s/events", id);
    follow(m, &f[N], &s, path, 2);
    ck_assert_int_eq(pump(m, 20), 0);
    json_t *again = events_of(f[N].body);
    check_epochs(again, 3, EPOCHS, rows);
    json_decref(again);

    /* the long job's follower: progress events with sane fields, at most ~2 a second */
    ck_assert_msg(b.done && b.result == CURLE_OK, "the long job's stream did not end");
    json_t *evs = events_of(b.body);
    int np = count(evs, "progress");
    ck_assert_msg(np >= 2 && np <= 2 * seconds + 2, "%d progress events in %.1f s", np, seconds);
    size_t i;
    json_t *ev;
    json_array_foreach(evs, i, ev) {
        if (strcmp(kind(ev), "progress") != 0)
            continue;
        const json_t *d = json_object_get(ev, "data");
        long batch = json_integer_value(json_object_get(d, "batch")),
             batches = json_integer_value(json_object_get(d, "batches"));
        ck_assert_msg(batch >= 1 && batch <= batches && batches == 250, "batch %ld of %ld",
                      batch, batches);
        ck_assert_int_ge(json_integer_value(json_object_get(d, "epoch")), 1);
        ck_assert(json_is_number(json_object_get(d, "loss")));
        double p = json_number_value(json_object_get(d, "progress"));
        ck_assert(p > 0 && p < 1);
    }
    ck_assert_str_eq(state_in(json_array_get(evs, json_array_size(evs) - 1)), "cancelled");
    json_decref(evs);

    for (int k = 0; k <= N; k++)
        follower_free(m, &f[k]);
    follower_free(m, &b);
    curl_multi_cleanup(m);
    ck_assert_int_eq(followers_become(&s, 0, 5), 0);
    json_decref(metrics);
    free(blocker), free(ds), free(net), free(id);
    su_stop(&s, 0);
    su_cleanup(&s);
}
END_TEST

/* Clients that hang up while their stream is idle are noticed and freed; the service
 * goes on serving. */
START_TEST(followers_that_leave_are_freed)
{
    enum { N = 50 };
    static const char *const args[] = {"--workers", "1", "--threads", "1", "--heartbeat", "1",
                                       "--max-streams-per-client", "64", NULL};
    struct server s = {0};
    su_start(&s, args);
    char *blocker = long_job(&s);
    char *ds = su_dataset(&s, 30, 4, 1), *net = su_network(&s, 4, 8);
    char *id = job(&s, ds, net, 3, 8), path[128];   /* queued behind: an idle stream */
    CURLM *m = curl_multi_init();
    struct follower f[N] = {{0}};
    snprintf(path, sizeof path, "/v1/jobs/%s/events", id);
    for (int k = 0; k < N; k++)
        follow(m, &f[k], &s, path, 0);
    ck_assert_int_eq(pump_until(m, f, N, "event: status", 10), N);   /* each its first status */
    ck_assert_int_eq(followers_metric(&s), N);
    for (int k = 0; k < N; k++)
        follower_free(m, &f[k]);
    ck_assert_int_eq(followers_become(&s, 0, 5), 0);
    json_t *h = su_get_json(&s, "/healthz");
    json_decref(h);
    /* the queued job first: cancelled once the blocker is, it could be starting while
     * its own cancel comes, which the service then refuses (409, "already ended
     * (queued)") */
    cancel(&s, id);
    cancel(&s, blocker);
    curl_multi_cleanup(m);
    free(blocker), free(ds), free(net), free(id);
    su_stop(&s, 0);
    su_cleanup(&s);
}
END_TEST

/* SIGTERM while followers wait on idle streams: their streams end and the service stops
 * cleanly and soon. */
START_TEST(stop_while_followed)
{
    enum { N = 10 };
    struct server s = {0};
    su_start(&s, one_worker);
    char *blocker = long_job(&s), path[128];
    CURLM *m = curl_multi_init();
    struct follower f[N] = {{0}};
    snprintf(path, sizeof path, "/v1/jobs/%s/events", blocker);
    for (int k = 0; k < N; k++)
        follow(m, &f[k], &s, path, 0);
    ck_assert_int_eq(pump_until(m, f, N, "event: status", 10), N);   /* each its first status */
    ck_assert_int_eq(followers_metric(&s), N);
    double t0 = su_now();
    kill(s.pid, SIGTERM);
    ck_assert_msg(pump(m, 10) == 0, "streams still open 10 s after SIGTERM");
    int status = -1;
    pid_t done = 0;
    while (!(done = waitpid(s.pid, &status, WNOHANG)) && su_now() - t0 < 10)
        usleep(20000);
    ck_assert_msg(done == s.pid, "neurond did not stop within 10 s of SIGTERM");
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "neurond ended with %d",
                  status);
    s.pid = 0;
    for (int k = 0; k < N; k++) {
        ck_assert(f[k].done);
        ck_assert(strstr(f[k].body, "event: status") != NULL);
        follower_free(m, &f[k]);
    }
    curl_multi_cleanup(m);
    free(blocker);
    su_cleanup(&s);
}
END_TEST

/* What an EventSource does after the final status: it reconnects with the id it last
 * had. With every epoch (the last one's id, or beyond) the answer is 204 and no body, the
 * one answer that stops it; with fewer, the epochs it lacks and the final status again.
 * A job that ended with no epoch: its final status has id 0, and Last-Event-ID: 0 gets
 * 204 too, while a first connection (no header) still gets the status. A running job is
 * followed as before whatever the id. */
START_TEST(reconnecting_to_an_ended_job)
{
    struct server s = {0};
    su_start(&s, one_worker);
    char *blocker = long_job(&s);
    char *ds = su_dataset(&s, 300, 4, 1), *net = su_network(&s, 4, 16), path[128];
    char *none = job(&s, ds, net, 3, 16);   /* queued behind the blocker, then cancelled */
    cancel(&s, none);
    /* the running blocker, with Last-Event-ID past its epochs: a live stream */
    CURLM *m = curl_multi_init();
    struct follower live = {0};
    snprintf(path, sizeof path, "/v1/jobs/%s/events", blocker);
    follow_from(m, &live, &s, path, 999999);
    ck_assert_int_eq(pump_until(m, &live, 1, "event: status", 10), 1);
    ck_assert_int_eq(status_of(&live), 200);
    ck_assert_msg(!live.done, "the stream of a running job ended");
    follower_free(m, &live);
    cancel(&s, blocker);
    json_decref(su_job_wait(&s, blocker, "cancelled", 60));

    char *id = job(&s, ds, net, 6, 16);
    json_decref(su_job_wait(&s, id, "succeeded", 60));
    const struct {
        char **job;
        int last;              /* Last-Event-ID; -1: none */
        long status;
        int epochs;            /* epoch events due */
    } cases[] = {
        {&id, -1, 200, 6}, {&id, 5, 200, 1},
        {&id, 6, 204, 0}, {&id, 40, 204, 0},
        {&none, -1, 200, 0}, {&none, 0, 204, 0},
        {&none, 2, 204, 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        struct follower f = {0};
        snprintf(path, sizeof path, "/v1/jobs/%s/events", *cases[k].job);
        follow_from(m, &f, &s, path, cases[k].last);
        ck_assert_msg(pump(m, 20) == 0, "case %zu: the answer did not end", k);
        ck_assert_int_eq(f.result, CURLE_OK);
        ck_assert_msg(status_of(&f) == cases[k].status, "case %zu (%s, Last-Event-ID %d): %ld",
                      k, *cases[k].job, cases[k].last, status_of(&f));
        json_t *evs = events_of(f.body ? f.body : "");
        ck_assert_int_eq(count(evs, "epoch"), cases[k].epochs);
        if (cases[k].status == 204) {
            ck_assert_msg(f.len == 0, "case %zu: a 204 with a body: %s", k, f.body);
        } else {
            const json_t *last = json_array_get(evs, json_array_size(evs) - 1);
            ck_assert_str_eq(kind(last), "status");
            ck_assert_str_eq(state_in(last), *cases[k].job == id ? "succeeded" : "cancelled");
            ck_assert_int_eq(json_integer_value(json_object_get(last, "id")),
                             *cases[k].job == id ? 6 : 0);
        }
        json_decref(evs);
        follower_free(m, &f);
    }
    curl_multi_cleanup(m);
    ck_assert_int_eq(followers_become(&s, 0, 5), 0);
    free(blocker), free(ds), free(net), free(none), free(id);
    su_stop(&s, 0);
    su_cleanup(&s);
}
END_TEST

START_TEST(bad_follow_requests)
{
    struct server s = {0};
    su_start(&s, one_worker);
    char *ds = su_dataset(&s, 30, 4, 1), *net = su_network(&s, 4, 8);
    char *id = job(&s, ds, net, 1, 8), path[128];
    json_decref(su_job_wait(&s, id, NULL, 60));
    static const char *const bad_ids[] = {"x", "-1", "1.5", "99999999999", "3 4",
                                          "\xc0\x80" /* quoted in the problem as '??' */};
    snprintf(path, sizeof path, "/v1/jobs/%s/events", id);
    for (size_t k = 0; k < sizeof bad_ids / sizeof *bad_ids; k++) {
        CURL *c = curl_easy_init();
        char url[256], hdr[64];
        struct follower f = {0};
        snprintf(url, sizeof url, "%s%s", s.base, path);
        snprintf(hdr, sizeof hdr, "Last-Event-ID: %s", bad_ids[k]);
        struct curl_slist *hl = curl_slist_append(NULL, hdr);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &f);
        ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
        f.c = c;
        ck_assert_msg(status_of(&f) == 400, "Last-Event-ID '%s': %ld", bad_ids[k],
                      status_of(&f));
        ck_assert_str_eq(ctype_of(&f), "application/problem+json");
        json_t *p = json_loads(f.body, 0, NULL);
        ck_assert_str_eq(json_string_value(json_object_get(
                             json_array_get(json_object_get(p, "errors"), 0), "header")),
                         "Last-Event-ID");
        json_decref(p);
        curl_slist_free_all(hl);
        curl_easy_cleanup(c);
        free(f.body);
    }
    struct http_reply h = su_http(&s, "GET", "/v1/jobs/job_nope/events", NULL, 0, NULL);
    ck_assert_int_eq(h.status, 404);
    su_http_free(&h);
    h = su_http(&s, "GET", "/v1/jobs/job_nope/metrics?follow=true", NULL, 0, NULL);
    ck_assert_int_eq(h.status, 404);
    su_http_free(&h);
    ck_assert_int_eq(followers_metric(&s), 0);
    free(ds), free(net), free(id);
    su_stop(&s, 0);
    su_cleanup(&s);
}
END_TEST

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    Suite *s = suite_create("events");
    TCase *tc = tcase_create("events");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, replay_of_an_ended_job);
    tcase_add_test(tc, live_events_of_a_queued_job);
    tcase_add_test(tc, followers_that_leave_are_freed);
    tcase_add_test(tc, stop_while_followed);
    tcase_add_test(tc, reconnecting_to_an_ended_job);
    tcase_add_test(tc, bad_follow_requests);
    suite_add_tcase(s, tc);
    int failed = tu_run(s);
    curl_global_cleanup();
    return failed != 0;
}
