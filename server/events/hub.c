/* hub.c -- live job events for followers (events.h).
 *
 * DESIGN. A follower is a buffer and a cursor into its job's history: the highest epoch
 * it was given and the last state it saw. It starts "catching up": its connection's
 * reads page through the stored epochs after its cursor, then send the job's state, and
 * the follower turns "live". Publishers append to live followers only; a follower still
 * catching up is just told that it missed something, and reads the database once more
 * before it turns live. Publishers publish after their write is committed, so whatever
 * a follower missed is in the database: nothing is lost and, as epochs only grow,
 * nothing is sent twice. A follower whose client reads too slowly goes back to catching
 * up instead of growing its buffer, so a follower costs at most about BACKLOG_MAX.
 *
 * Several nodes may share a PostgreSQL database, a job training on one and followed on
 * another. Each publisher also announces what it publishes (store_announce); a node
 * hears the others' announcements (hub_remote) and treats them as its own publishers'
 * with the same rule: the rows stay the truth, and an announcement only says where to
 * look. An epoch is read once from the database and given to the live followers that
 * have every epoch before it; any other follower (one catching up, one that lacks an
 * epoch because an announcement was lost or is late) reads the database itself. A state
 * sends the job's followers back to the database: they read the epochs they lack, then
 * the state, so that the final state never comes before the last epoch. As epochs only
 * grow and a follower's cursor only moves forward, nothing is sent twice; as every
 * announcement comes after its commit and a lost one (the listening connection broke)
 * sends every follower back to the database, nothing is missed.
 *
 * A live follower with an empty buffer pauses its connection (http_pause) under the
 * hub's lock, and a publisher wakes it under the same lock, so no wake-up is lost.
 *
 * The caps (hub_limits) are counted when a follower comes, under the lock, over the
 * followers there are: of the same client (its address) and of the same job.
 */
#include "events.h"

#include "domain/domain.h"
#include "format/format.h"
#include "http/http.h"
#include "store/store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BACKLOG_MAX (1u << 20)     /* bytes a live follower may lag behind */
#define PROGRESS_MAX (64u << 10)   /* past this, progress events are dropped */
#define REPLAY_PAGE 64             /* stored epochs read at a time */

struct sub {
    struct sub *next, *prev;
    char job[32];
    char client[64];           /* the follower's address */
    enum hub_format fmt;
    void *conn;
    char *buf;                 /* bytes not yet read: buf[off, len) */
    size_t off, len, cap;
    int last_epoch;            /* the highest epoch in the stream so far */
    int state;                 /* the last state sent (enum job_state), -1 before the first */
    int live;                  /* caught up: publishers append to buf */
    int missed;                /* a publish came while catching up */
    int done;                  /* the job ended: the stream ends when buf is read */
    int gone;                  /* the client left, or the hub stops: end now */
    int paused;                /* its connection is paused, waiting for bytes */
    double written;            /* when bytes were last appended (for the heartbeat) */
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t tick;
    struct sub *head;
    atomic_int n;
    int stopping, started;
    double heartbeat;
    int per_client, per_job;   /* caps on followers at once; 0: none */
    pthread_t th;
} hub = {.lock = PTHREAD_MUTEX_INITIALIZER, .tick = PTHREAD_COND_INITIALIZER};

/* The job as GET shows it (new) and its state; NULL when it cannot be read. */
static json_t *job_now(const char *id, enum job_state *state)
{
    struct job j;
    if (store_job_get(id, &j) != STORE_OK)
        return NULL;
    json_t *v = job_json(&j);
    *state = j.state;
    job_free(&j);
    return v;
}

/* Under the lock: wakes a paused follower. */
static void wake(struct sub *s)
{
    if (s->paused) {
        s->paused = 0;
        http_wake(s->conn);
    }
}

/* Under the lock: appends n bytes to s's buffer. A follower that cannot grow its buffer
 * is ended. */
static void put(struct sub *s, const char *p, size_t n)
{
    if (s->off > 0 && s->off == s->len)
        s->off = s->len = 0;
    if (s->len + n > s->cap) {
        if (s->off > 0) {   /* reclaim what was read first */
            memmove(s->buf, s->buf + s->off, s->len - s->off);
            s->len -= s->off;
            s->off = 0;
        }
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + n)
            cap *= 2;
        char *b = cap > s->cap ? realloc(s->buf, cap) : s->buf;
        if (!b) {
            s->gone = 1;
            return;
        }
        s->buf = b;
        s->cap = cap > s->cap ? cap : s->cap;
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    s->written = clock_s();
}

/* An event as each format writes it, made once for all the followers: NDJSON carries
 * the epochs' rows only (nd is NULL for other events). */
struct text {
    char *sse, *nd;
    size_t sse_len, nd_len;
};

/* The event of JSON value v (may be NULL), on one line, numbers as the other replies
 * print them. id > 0: an epoch's row; 0: an event without an id. -1 when there is no
 * value or no memory. */
static int text_make(struct text *t, const char *event, int id, const json_t *v)
{
    int a, b = 0;
    *t = (struct text){0};
    char *data = v ? json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
    if (!data)
        return -1;
    if (id > 0) {
        a = asprintf(&t->sse, "event: %s\nid: %d\ndata: %s\n\n", event, id, data);
        b = asprintf(&t->nd, "%s\n", data);
    } else {
        a = asprintf(&t->sse, "event: %s\ndata: %s\n\n", event, data);
    }
    free(data);
    if (a < 0 || b < 0) {   /* asprintf leaves the pointer undefined when it fails */
        t->sse = a < 0 ? NULL : t->sse;
        t->nd = b < 0 ? NULL : t->nd;
        free(t->sse);
        free(t->nd);
        *t = (struct text){0};
        return -1;
    }
    t->sse_len = (size_t)a;
    t->nd_len = (size_t)b;
    return 0;
}

static void text_free(struct text *t)
{
    free(t->sse);
    free(t->nd);
}

/* Under the lock: an event into s's stream, as its format writes it. */
static void put_text(struct sub *s, const struct text *t)
{
    if (s->fmt == HUB_SSE)
        put(s, t->sse, t->sse_len);
    else if (t->nd)
        put(s, t->nd, t->nd_len);
}

/* Under the lock: the job's state (its event in t); the stream ends after a final one.
 * A final state comes, in SSE, with the id of the last epoch in the stream (0 for none):
 * an EventSource reconnects after the stream ends, and with that id in Last-Event-ID the
 * service can tell it has had everything and answer 204, which stops it, even for a job
 * that ended without an epoch. */
static void put_status(struct sub *s, enum job_state state, const struct text *t)
{
    static const char head[] = "event: status\n";
    if (job_state_final(state) && s->fmt == HUB_SSE && t->sse_len > sizeof head - 1) {
        char id[48];
        int n = snprintf(id, sizeof id, "%sid: %d\n", head, s->last_epoch);
        put(s, id, (size_t)n);
        put(s, t->sse + sizeof head - 1, t->sse_len - (sizeof head - 1));
    } else {
        put_text(s, t);
    }
    s->state = (int)state;
    if (job_state_final(state))
        s->done = 1;
}


/* One step of catching up, outside the lock: the next page of stored epochs, or when
 * there are none left, the job's state (then the follower is live, or done). */
static int catch_up(struct sub *s, int after)
{
    json_t *rows;
    if (store_job_epochs(s->job, after, REPLAY_PAGE, &rows) != STORE_OK)
        return -1;
    size_t i;
    json_t *row;
    if (json_array_size(rows) > 0) {
        struct text t[REPLAY_PAGE] = {{0}};
        json_array_foreach(rows, i, row) {
            int e = (int)json_integer_value(json_object_get(row, "epoch"));
            if (e > 0)
                text_make(&t[i], "epoch", e, row);
        }
        pthread_mutex_lock(&hub.lock);
        json_array_foreach(rows, i, row) {
            int e = (int)json_integer_value(json_object_get(row, "epoch"));
            if (e > s->last_epoch && t[i].sse) {
                put_text(s, &t[i]);
                s->last_epoch = e;
            }
        }
        pthread_mutex_unlock(&hub.lock);
        for (i = 0; i < REPLAY_PAGE; i++)
            text_free(&t[i]);
        json_decref(rows);
        return 0;
    }
    json_decref(rows);
    enum job_state state;
    json_t *job = job_now(s->job, &state);
    struct text t;
    if (!job || text_make(&t, "status", 0, job) < 0) {
        json_decref(job);
        return -1;
    }
    pthread_mutex_lock(&hub.lock);
    if (!s->missed) {   /* else read again: something came in meanwhile */
        if ((int)state != s->state)
            put_status(s, state, &t);
        s->done |= job_state_final(state);
        s->live = !s->done;
    }
    pthread_mutex_unlock(&hub.lock);
    text_free(&t);
    json_decref(job);
    return 0;
}

ssize_t hub_read(void *p, char *buf, size_t max)
{
    struct sub *s = p;
    for (;;) {
        pthread_mutex_lock(&hub.lock);
        if (s->len > s->off) {
            size_t n = s->len - s->off < max ? s->len - s->off : max;
            memcpy(buf, s->buf + s->off, n);
            s->off += n;
            pthread_mutex_unlock(&hub.lock);
            return (ssize_t)n;
        }
        if (s->gone || s->done) {
            pthread_mutex_unlock(&hub.lock);
            return -1;
        }
        if (s->live) {
            s->paused = 1;
            http_pause(s->conn);
            pthread_mutex_unlock(&hub.lock);
            return 0;
        }
        int after = s->last_epoch;
        s->missed = 0;
        pthread_mutex_unlock(&hub.lock);
        if (catch_up(s, after) < 0)
            return -1;
    }
}

void hub_limits(int per_client, int per_job)
{
    pthread_mutex_lock(&hub.lock);
    hub.per_client = per_client;
    hub.per_job = per_job;
    pthread_mutex_unlock(&hub.lock);
}

struct sub *hub_subscribe(const char *id, enum hub_format fmt, int after, void *conn,
                          const char *client, int *why)
{
    struct sub *s = calloc(1, sizeof *s);
    *why = HUB_STOPPED;
    if (!s)
        return NULL;
    snprintf(s->job, sizeof s->job, "%s", id);
    snprintf(s->client, sizeof s->client, "%s", client);
    s->fmt = fmt;
    s->conn = conn;
    s->last_epoch = after;
    s->state = -1;
    s->written = clock_s();
    pthread_mutex_lock(&hub.lock);
    int of_client = 0, of_job = 0;
    for (struct sub *o = hub.head; o; o = o->next) {
        of_client += strcmp(o->client, s->client) == 0;
        of_job += strcmp(o->job, s->job) == 0;
    }
    *why = hub.stopping                                    ? HUB_STOPPED
           : hub.per_client && of_client >= hub.per_client ? HUB_CLIENT_FULL
           : hub.per_job && of_job >= hub.per_job          ? HUB_JOB_FULL
                                                           : 0;
    if (*why) {
        pthread_mutex_unlock(&hub.lock);
        free(s);
        return NULL;
    }
    s->next = hub.head;
    if (hub.head)
        hub.head->prev = s;
    hub.head = s;
    atomic_fetch_add(&hub.n, 1);
    pthread_mutex_unlock(&hub.lock);
    return s;
}

void hub_release(void *p)
{
    struct sub *s = p;
    if (!s)
        return;
    pthread_mutex_lock(&hub.lock);
    if (s->prev)
        s->prev->next = s->next;
    else
        hub.head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    atomic_fetch_sub(&hub.n, 1);
    pthread_mutex_unlock(&hub.lock);
    free(s->buf);
    free(s);
}

int hub_followers(void) { return atomic_load(&hub.n); }

/* ---- publishing ---- */

/* An event could not be made (out of memory): the followers of job id read the database
 * again instead, so they lose nothing. */
static void resync(const char *id)
{
    pthread_mutex_lock(&hub.lock);
    for (struct sub *s = hub.head; s; s = s->next)
        if (strcmp(s->job, id) == 0 && !s->done) {
            s->live = 0;
            s->missed = 1;
            wake(s);
        }
    pthread_mutex_unlock(&hub.lock);
}

/* An epoch's row to the live followers of job id on this node. */
static void epoch_local(const char *id, int epoch, const json_t *row)
{
    if (atomic_load(&hub.n) == 0)
        return;
    /* through the text the database keeps, so that a live row reads exactly as the same
     * row replayed from the database */
    char *stored = json_dumps(row, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_t *back = stored ? json_loads(stored, 0, NULL) : NULL;
    struct text t;
    int ok = text_make(&t, "epoch", epoch, back) == 0;
    free(stored);
    json_decref(back);
    if (!ok) {
        resync(id);
        return;
    }
    pthread_mutex_lock(&hub.lock);
    for (struct sub *s = hub.head; s; s = s->next) {
        if (strcmp(s->job, id) != 0 || s->done)
            continue;
        if (!s->live) {
            s->missed = 1;
        } else if (epoch > s->last_epoch) {
            if (s->len - s->off > BACKLOG_MAX) {
                s->live = 0;   /* it catches up from the database */
                s->missed = 1;
            } else {
                put_text(s, &t);
                s->last_epoch = epoch;
            }
            wake(s);
        }
    }
    pthread_mutex_unlock(&hub.lock);
    text_free(&t);
}

static void progress_local(const char *id, const json_t *progress)
{
    if (atomic_load(&hub.n) == 0)
        return;
    struct text t;
    if (text_make(&t, "progress", 0, progress) < 0)
        return;
    pthread_mutex_lock(&hub.lock);
    for (struct sub *s = hub.head; s; s = s->next)
        if (s->fmt == HUB_SSE && s->live && !s->done && strcmp(s->job, id) == 0 &&
            s->len - s->off < PROGRESS_MAX) {
            put_text(s, &t);
            wake(s);
        }
    pthread_mutex_unlock(&hub.lock);
    text_free(&t);
}

static int watched(const char *id)
{
    int any = 0;
    pthread_mutex_lock(&hub.lock);
    for (struct sub *s = hub.head; s && !any; s = s->next)
        any = strcmp(s->job, id) == 0;
    pthread_mutex_unlock(&hub.lock);
    return any;
}

static void status_local(const char *id)
{
    if (atomic_load(&hub.n) == 0 || !watched(id))
        return;
    enum job_state state;
    json_t *job = job_now(id, &state);
    struct text t;
    if (!job || text_make(&t, "status", 0, job) < 0) {
        json_decref(job);
        resync(id);
        return;
    }
    pthread_mutex_lock(&hub.lock);
    for (struct sub *s = hub.head; s; s = s->next) {
        if (strcmp(s->job, id) != 0 || s->done)
            continue;
        if (!s->live) {
            s->missed = 1;   /* it reads the state itself */
        } else if ((int)state != s->state) {
            put_status(s, state, &t);
            wake(s);
        }
    }
    pthread_mutex_unlock(&hub.lock);
    text_free(&t);
    json_decref(job);
}

void hub_epoch(const char *id, int epoch, const json_t *row)
{
    epoch_local(id, epoch, row);
    store_announce(CHANGE_EPOCH, id, epoch, NULL);
}

void hub_progress(const char *id, const json_t *progress)
{
    progress_local(id, progress);
    store_announce(CHANGE_PROGRESS, id, 0, progress);
}

void hub_status(const char *id)
{
    status_local(id);
    store_announce(CHANGE_STATUS, id, 0, NULL);
}

/* ---- what other nodes publish ---- */

/* Job id's epoch was committed on another node: its row, read once from the database,
 * to the live followers that have every epoch before it. A follower that lacks one (an
 * announcement lost, or not yet come) reads the database again instead, as one that is
 * catching up does, so that no epoch is skipped. */
static void epoch_remote(const char *id, int epoch)
{
    if (atomic_load(&hub.n) == 0 || !watched(id))
        return;
    json_t *rows = NULL;
    struct text t;
    if (store_job_epochs(id, epoch - 1, 1, &rows) != STORE_OK || json_array_size(rows) != 1 ||
        json_integer_value(json_object_get(json_array_get(rows, 0), "epoch")) != epoch ||
        text_make(&t, "epoch", epoch, json_array_get(rows, 0)) < 0) {
        json_decref(rows);
        resync(id);
        return;
    }
    json_decref(rows);
    pthread_mutex_lock(&hub.lock);
    for (struct sub *s = hub.head; s; s = s->next) {
        if (strcmp(s->job, id) != 0 || s->done || s->last_epoch >= epoch)
            continue;
        if (s->live && s->last_epoch == epoch - 1 && s->len - s->off <= BACKLOG_MAX) {
            put_text(s, &t);
            s->last_epoch = epoch;
        } else {
            s->live = 0;   /* it reads the database */
            s->missed = 1;
        }
        wake(s);
    }
    pthread_mutex_unlock(&hub.lock);
    text_free(&t);
}

/* Every follower not yet done reads the database again. */
static void resync_all(void)
{
    pthread_mutex_lock(&hub.lock);
    for (struct sub *s = hub.head; s; s = s->next)
        if (!s->done) {
            s->live = 0;
            s->missed = 1;
            wake(s);
        }
    pthread_mutex_unlock(&hub.lock);
}

void hub_remote(enum store_change kind, const char *id, int n, const json_t *payload)
{
    if (kind == CHANGE_EPOCH)
        epoch_remote(id, n);
    else if (kind == CHANGE_PROGRESS && payload)
        progress_local(id, payload);
    else if (kind == CHANGE_STATUS)
        resync(id);   /* its followers read the epochs they lack, then the state */
    else if (kind == CHANGE_RESYNC)
        resync_all();
}

/* ---- the heartbeat ---- */

static void *beat(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "neurond-hub");
    double tick = hub.heartbeat < 1 ? hub.heartbeat : 1;
    pthread_mutex_lock(&hub.lock);
    while (!hub.stopping) {
        struct timespec until;
        deadline_in(&until, tick);
        pthread_cond_timedwait(&hub.tick, &hub.lock, &until);
        double now = clock_s();
        for (struct sub *s = hub.head; s && !hub.stopping; s = s->next) {
            if (s->paused && http_peer_gone(s->conn)) {
                s->gone = 1;   /* while paused, nothing else would notice */
                wake(s);
            } else if (s->fmt == HUB_SSE && s->live && !s->done &&
                       now - s->written >= hub.heartbeat) {
                put(s, ": heartbeat\n\n", 13);
                wake(s);
            }
        }
    }
    pthread_mutex_unlock(&hub.lock);
    return NULL;
}

int hub_start(double heartbeat)
{
    hub.heartbeat = heartbeat;
    if (pthread_create(&hub.th, NULL, beat, NULL) != 0)
        return -1;
    hub.started = 1;
    return 0;
}

void hub_stop(void)
{
    pthread_mutex_lock(&hub.lock);
    hub.stopping = 1;
    for (struct sub *s = hub.head; s; s = s->next) {
        s->gone = 1;
        wake(s);
    }
    pthread_cond_broadcast(&hub.tick);
    pthread_mutex_unlock(&hub.lock);
    if (hub.started)
        pthread_join(hub.th, NULL);
    hub.started = 0;
}
