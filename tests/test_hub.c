/* test_hub.c -- the hub (server/events/hub.c) on its own, on a temporary database, with fake
 * connections in place of libmicrohttpd's: what a follower reads after each publish, in
 * order, when it is woken, a follower that lags far behind and catches up from the
 * database, NDJSON, the end of a job, the caps per client and per job, clients that
 * leave, and a stop. */
#include "events/events.h"
#include "srvutil.h"
#include "store/store.h"
#include "testutil.h"

#include "store/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- a fake connection: the glue's pause, wake and peer check ---- */

struct fake {
    int paused, wakes, gone;
};

void http_pause(void *conn) { ((struct fake *)conn)->paused = 1; }

void http_wake(void *conn)
{
    struct fake *f = conn;
    ck_assert_msg(f->paused, "woke a connection that was not paused");
    f->paused = 0;
    f->wakes++;
}

int http_peer_gone(void *conn) { return ((struct fake *)conn)->gone; }

/* Reads a follower until it pauses (returns the text, new) or ends (*ended = 1). */
static char *drain(struct sub *s, struct fake *f, int *ended)
{
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    ck_assert_ptr_nonnull(out);
    *ended = 0;
    for (;;) {
        if (cap - len < 4096) {
            out = realloc(out, cap *= 2);
            ck_assert_ptr_nonnull(out);
        }
        ssize_t n = hub_read(s, out + len, cap - len - 1);
        if (n < 0) {
            *ended = 1;
            break;
        }
        if (n == 0) {
            ck_assert_msg(f->paused, "hub_read returned 0 without pausing");
            break;
        }
        len += (size_t)n;
    }
    out[len] = 0;
    return out;
}

/* Checks that the SSE text holds the epoch ids first..last once each, in order. */
static void epochs_in(const char *text, int first, int last)
{
    int want = first;
    for (const char *p = text; (p = strstr(p, "\nid: ")); p++) {
        int id = atoi(p + 5);
        ck_assert_msg(id == want, "epoch %d where %d was due", id, want);
        want++;
    }
    ck_assert_msg(want == last + 1, "epochs end at %d, not %d", want - 1, last);
}

/* ---- a job in the database ---- */

static const char *const job = "job_hubtest";
static int why;   /* hub_subscribe's reason for a refusal */

static void job_insert(void)
{
    if (su_pg()) {
        su_pg_exec(su_db_pg(), "INSERT INTO jobs (id, state, request, dataset_id, epochs, "
                   "created_at) VALUES ('job_hubtest', 'queued', '{}', 'ds_x', 1000, "
                   "'2026-01-01T00:00:00.000Z')");
        return;
    }
    char *err = NULL;
    int rc = sqlite3_exec(db_conn(),
                          "INSERT INTO jobs (id, state, request, dataset_id, epochs, created_at) "
                          "VALUES ('job_hubtest', 'queued', '{}', 'ds_x', 1000, "
                          "'2026-01-01T00:00:00.000Z')", NULL, NULL, &err);
    ck_assert_msg(rc == SQLITE_OK, "%s", err);
}

/* Stores epoch e (with a field `pad` of that many bytes) and publishes it. */
static void epoch(int e, size_t pad)
{
    char *p = malloc(pad + 1);
    ck_assert_ptr_nonnull(p);
    memset(p, 'x', pad);
    p[pad] = 0;
    json_t *row = json_pack("{s:i, s:f, s:s}", "epoch", e, "loss", 1.0 / e, "pad", p);
    ck_assert_int_eq(store_job_epoch(job, e, row, e / 1000.0, 1), 0);
    hub_epoch(job, e, row);
    json_decref(row);
    free(p);
}

static void state(const char *st)
{
    char id[32];
    if (!strcmp(st, "running")) {
        ck_assert_int_eq(store_job_claim(NULL, id, NULL), STORE_OK);
    } else {
        ck_assert_int_eq(store_job_finish(job, 0, job_state_parse(st), NULL, NULL, NULL), STORE_OK);
    }
    hub_status(job);
}

static void setup(void)
{
    su_db_open();
    job_insert();
}

static void teardown(void) { su_db_close(); }

/* ---- tests ---- */

START_TEST(replay_then_live)
{
    state("running");
    for (int e = 1; e <= 3; e++)
        epoch(e, 10);
    struct fake f = {0};
    struct sub *s = hub_subscribe(job, HUB_SSE, 0, &f, "", &why);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(hub_followers(), 1);
    int ended;
    char *t = drain(s, &f, &ended);
    ck_assert(!ended);
    epochs_in(t, 1, 3);
    ck_assert_int_eq(su_count(t, "event: status\ndata: {"), 1);
    ck_assert(strstr(t, "\"state\":\"running\"") > strstr(t, "id: 3"));
    free(t);

    epoch(4, 10);   /* live: the paused follower is woken and reads it */
    ck_assert_int_eq(f.wakes, 1);
    t = drain(s, &f, &ended);
    ck_assert_str_eq(t, "event: epoch\nid: 4\ndata: {\"epoch\":4,\"loss\":0.25,\"pad\":"
                        "\"xxxxxxxxxx\"}\n\n");
    free(t);
    epoch(4, 10);   /* an epoch it has is not sent again */
    hub_status(job);   /* nor an unchanged state */
    ck_assert_int_eq(f.wakes, 1);

    json_t *p = json_pack("{s:i, s:i}", "epoch", 5, "batch", 3);
    hub_progress(job, p);
    json_decref(p);
    t = drain(s, &f, &ended);
    ck_assert_str_eq(t, "event: progress\ndata: {\"epoch\":5,\"batch\":3}\n\n");
    free(t);

    state("succeeded");   /* the final state ends the stream */
    t = drain(s, &f, &ended);
    ck_assert(ended);
    ck_assert(strncmp(t, "event: status\n", 14) == 0 && strstr(t, "\"state\":\"succeeded\""));
    free(t);
    hub_release(s);
    ck_assert_int_eq(hub_followers(), 0);
}
END_TEST

/* Publishes while a follower has not caught up reach it through the database; one
 * that stops reading falls back to the database instead of buffering without end. */
START_TEST(a_lagging_follower_catches_up)
{
    state("running");
    epoch(1, 10);
    struct fake f = {0};
    struct sub *s = hub_subscribe(job, HUB_SSE, 0, &f, "", &why);
    epoch(2, 10);   /* before its first read: it is not live yet */
    int ended;
    char *t = drain(s, &f, &ended);
    epochs_in(t, 1, 2);
    free(t);
    /* 300 epochs of 10 kB, unread: far over the hub's 1 MB per follower */
    for (int e = 3; e <= 302; e++)
        epoch(e, 10000);
    ck_assert_int_eq(f.wakes, 1);   /* woken once */
    /* an epoch stored but not published: only a follower that reads the database again
     * (because it lagged) can have it */
    json_t *row = json_pack("{s:i}", "epoch", 303);
    ck_assert_int_eq(store_job_epoch(job, 303, row, 0.3, 1), 0);
    json_decref(row);
    t = drain(s, &f, &ended);
    epochs_in(t, 3, 303);
    ck_assert(!ended);
    free(t);
    epoch(304, 10);   /* and live again */
    t = drain(s, &f, &ended);
    epochs_in(t, 304, 304);
    free(t);
    hub_release(s);
}
END_TEST

START_TEST(resume_after_an_epoch_and_ndjson)
{
    state("running");
    for (int e = 1; e <= 5; e++)
        epoch(e, 10);
    struct fake f1 = {0}, f2 = {0};
    struct sub *a = hub_subscribe(job, HUB_SSE, 3, &f1, "", &why),
               *b = hub_subscribe(job, HUB_NDJSON, 0, &f2, "", &why);
    int ended;
    char *t = drain(a, &f1, &ended);
    epochs_in(t, 4, 5);
    free(t);
    t = drain(b, &f2, &ended);
    ck_assert_int_eq(su_count(t, "\n"), 5);   /* five rows; no status in NDJSON */
    ck_assert(strncmp(t, "{\"epoch\":1,", 11) == 0 && !strstr(t, "event:"));
    free(t);
    state("cancelled");
    t = drain(b, &f2, &ended);
    ck_assert(ended);
    ck_assert_str_eq(t, "");
    free(t);
    t = drain(a, &f1, &ended);
    ck_assert(ended && strstr(t, "\"state\":\"cancelled\""));
    free(t);
    hub_release(a);
    hub_release(b);
}
END_TEST

/* The caps on followers: a client (an address) past its number, and a job past its own,
 * are refused with the reason; a follower that leaves makes room. */
START_TEST(caps_per_client_and_per_job)
{
    state("running");
    hub_limits(2, 3);
    struct fake f[5] = {{0}};
    struct sub *a = hub_subscribe(job, HUB_SSE, 0, &f[0], "10.0.0.1", &why);
    struct sub *b = hub_subscribe(job, HUB_NDJSON, 0, &f[1], "10.0.0.1", &why);
    ck_assert(a && b);
    ck_assert_ptr_null(hub_subscribe(job, HUB_SSE, 0, &f[2], "10.0.0.1", &why));
    ck_assert_int_eq(why, HUB_CLIENT_FULL);
    struct sub *c = hub_subscribe(job, HUB_SSE, 0, &f[2], "10.0.0.2", &why);
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_null(hub_subscribe(job, HUB_SSE, 0, &f[3], "10.0.0.3", &why));
    ck_assert_int_eq(why, HUB_JOB_FULL);
    struct sub *d = hub_subscribe("job_other", HUB_SSE, 0, &f[3], "10.0.0.3", &why);
    ck_assert_ptr_nonnull(d);   /* another job has room */
    ck_assert_int_eq(hub_followers(), 4);
    hub_release(a);
    struct sub *e = hub_subscribe(job, HUB_SSE, 0, &f[4], "10.0.0.1", &why);
    ck_assert_ptr_nonnull(e);
    hub_release(b);
    hub_release(c);
    hub_release(d);
    hub_release(e);
    hub_limits(0, 0);
    ck_assert_int_eq(hub_followers(), 0);
}
END_TEST

/* The heartbeat thread: comments on idle streams, and clients that left are ended. */
START_TEST(heartbeat_and_leavers)
{
    ck_assert_int_eq(hub_start(0.2), 0);
    struct fake f1 = {0}, f2 = {0};
    struct sub *a = hub_subscribe(job, HUB_SSE, 0, &f1, "", &why),
               *b = hub_subscribe(job, HUB_SSE, 0, &f2, "", &why);
    int ended;
    free(drain(a, &f1, &ended));
    free(drain(b, &f2, &ended));
    f2.gone = 1;
    for (int i = 0; i < 100 && (!f1.wakes || !f2.wakes); i++)
        usleep(10000);   /* a tick is 0.2 s */
    char *t = drain(a, &f1, &ended);
    ck_assert(!ended);
    ck_assert_msg(strncmp(t, ": heartbeat\n\n", 13) == 0, "%s", t);
    free(t);
    t = drain(b, &f2, &ended);
    ck_assert(ended);
    free(t);
    hub_release(b);
    hub_stop();   /* ends every stream; later subscribes fail */
    t = drain(a, &f1, &ended);
    ck_assert(ended);
    free(t);
    hub_release(a);
    ck_assert_ptr_null(hub_subscribe(job, HUB_SSE, 0, &f1, "", &why));
    ck_assert_int_eq(hub_followers(), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hub");
    TCase *tc = tcase_create("hub");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, replay_then_live);
    tcase_add_test(tc, a_lagging_follower_catches_up);
    tcase_add_test(tc, resume_after_an_epoch_and_ndjson);
    tcase_add_test(tc, caps_per_client_and_per_job);
    tcase_add_test(tc, heartbeat_and_leavers);   /* last: it stops the hub */
    suite_add_tcase(s, tc);
    return tu_run(s) != 0;
}
