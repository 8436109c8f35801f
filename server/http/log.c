/* log.c -- the access log: one line on stderr per request, once it is done (a stream once
 * it ends), as key=value text or, with --log-format json, one JSON object a line, written
 * in batches at least every 0.1 s. Every value in it is checked or made by the service
 * (the route's pattern, not the path; a token's name, never the token), so nothing a
 * client sends can break a line. */
#include "guard.h"

#include "format/format.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A streamed body, counted as it goes. The count lives in the request's struct who,
 * which outlives every read; release may come later, and touches only this. */
struct counted {
    ssize_t (*read)(void *ctx, char *buf, size_t max);
    void (*release)(void *ctx);
    void *ctx;
    uint64_t *n;
};

static ssize_t counted_read(void *ctx, char *buf, size_t max)
{
    struct counted *c = ctx;
    ssize_t k = c->read(c->ctx, buf, max);
    if (k > 0)
        *c->n += (uint64_t)k;
    return k;
}

static void counted_release(void *ctx)
{
    struct counted *c = ctx;
    c->release(c->ctx);
    free(c);
}

void log_reply(struct who *w, struct reply *rp)
{
    w->sent = 1;
    if (!rp->read)
        return;
    struct counted *c = malloc(sizeof *c);
    if (!c)
        return;   /* sent uncounted */
    *c = (struct counted){rp->read, rp->release, rp->ctx, &w->streamed};
    rp->read = counted_read;
    rp->release = counted_release;
    rp->ctx = c;
}

/* A line being written: put() copies what fits. (snprintf's general path cost more than
 * the rest of a small request; this is a few copies.) */
struct line {
    char *p, *end;
};

static void put_n(struct line *l, const char *s, size_t n)
{
    if (n > (size_t)(l->end - l->p))
        n = (size_t)(l->end - l->p);
    memcpy(l->p, s, n);
    l->p += n;
}

static void put(struct line *l, const char *s) { put_n(l, s, strlen(s)); }

static void put_num(struct line *l, unsigned long long v)
{
    char b[24];
    int i = (int)sizeof b;
    do
        b[--i] = (char)('0' + v % 10);
    while (v /= 10);
    put_n(l, b + i, sizeof b - (size_t)i);
}

/* The arrival time, RFC 3339 in UTC with milliseconds: the seconds' part is worked out
 * once a second per thread. */
static void put_time(struct line *l, const struct timespec *at)
{
    static _Thread_local time_t sec = -1;
    static _Thread_local char text[24];
    if (at->tv_sec != sec) {
        struct tm tm;
        gmtime_r(&at->tv_sec, &tm);
        strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
        sec = at->tv_sec;
    }
    int ms = (int)(at->tv_nsec / 1000000);
    char frac[6] = {'.', (char)('0' + ms / 100), (char)('0' + ms / 10 % 10),
                    (char)('0' + ms % 10), 'Z', 0};
    put(l, text);
    put(l, frac);
}

size_t log_line(char *buf, size_t cap, const struct who *w, const struct req *r,
                const struct route *rt, const struct reply *rp, int json)
{
    int status = w->sent ? rp->status : 0;
    /* a streamed reply has no len, a buffered one streams nothing; HEAD sends no body */
    unsigned long long bytes = !w->sent || !strcmp(w->method, "HEAD")
                                   ? 0
                                   : w->streamed + (unsigned long long)rp->len;
    double us = (clock_s() - w->t0) * 1e6;
    const char *route = rt ? rt->pattern : "unmatched";
    /* the keys of each value, text then JSON */
    static const char *const keys[2][9] = {
        {"time=", " request_id=", " method=", " route=", " status=", " bytes=", " us=",
         " token=", "\n"},
        {"{\"time\":\"", "\",\"request_id\":\"", "\",\"method\":\"", "\",\"route\":\"",
         "\",\"status\":", ",\"bytes\":", ",\"us\":", ",\"token\":", "}\n"}};
    const char *const *k = keys[json != 0];
    struct line l = {buf, buf + cap - 1};
    put(&l, k[0]);
    put_time(&l, &w->at);
    put(&l, k[1]);
    put(&l, w->id);
    put(&l, k[2]);
    put(&l, w->method);
    put(&l, k[3]);
    put(&l, route);
    put(&l, k[4]);
    put_num(&l, (unsigned long long)(status > 0 ? status : 0));
    put(&l, k[5]);
    put_num(&l, bytes);
    put(&l, k[6]);
    put_num(&l, us > 0 ? (unsigned long long)us : 0);
    put(&l, k[7]);
    if (!r->token) {
        put(&l, json ? "null" : "-");
    } else {
        put(&l, json ? "\"" : "");
        put(&l, r->token);
        put(&l, json ? "\"" : "");
    }
    put(&l, k[8]);
    *l.p = 0;
    return (size_t)(l.p - buf);
}

/* ---- lines out: into a buffer that a thread writes to stderr at least every
 * LOG_FLUSH_MS, or sooner once it is half full, so that a request costs a copy and not a
 * write(2) of its own (that was 5% of a small prediction's time). http_stop writes what
 * is left; a SIGKILL loses at most the last LOG_FLUSH_MS of lines. ---- */

#define LOG_FLUSH_MS 100
#define LOG_BUFFER (256 << 10)

static struct {
    pthread_mutex_t mu;
    pthread_cond_t more;
    char *buf, *spare;   /* lines go into buf; the writer swaps it for spare */
    size_t n;
    int running, stop;
    pthread_t thread;
} out = {.mu = PTHREAD_MUTEX_INITIALIZER, .more = PTHREAD_COND_INITIALIZER};

static void write_all(const char *p, size_t n)
{
    for (size_t done = 0; done < n;) {
        ssize_t k = write(2, p + done, n - done);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return;   /* stderr is gone: the lines are lost, the requests are not */
        done += (size_t)k;
    }
}

/* Takes the buffer's lines (out.mu held) and writes them (out.mu released meanwhile). The
 * writes keep the lines' order: only the writer thread, or http_stop after it, writes. */
static void write_out(void)
{
    char *full = out.buf;
    size_t n = out.n;
    out.buf = out.spare;
    out.spare = NULL;
    out.n = 0;
    pthread_mutex_unlock(&out.mu);
    write_all(full, n);
    pthread_mutex_lock(&out.mu);
    out.spare = full;
}

static void *writer(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "neurond-log");
    pthread_mutex_lock(&out.mu);
    while (!out.stop) {
        struct timespec t;
        deadline_in(&t, LOG_FLUSH_MS / 1000.0);
        while (!out.stop && out.n < LOG_BUFFER / 2 &&
               pthread_cond_timedwait(&out.more, &out.mu, &t) == 0)
            ;
        if (out.n)
            write_out();
    }
    pthread_mutex_unlock(&out.mu);
    return NULL;
}

void log_request(const struct who *w, const struct req *r, const struct route *rt,
                 const struct reply *rp, int json)
{
    char line[512];
    size_t n = log_line(line, sizeof line, w, r, rt, rp, json);
    pthread_mutex_lock(&out.mu);
    if (!out.running && !out.stop) {   /* the first line starts the writer */
        out.buf = malloc(LOG_BUFFER);
        out.spare = malloc(LOG_BUFFER);
        if (out.buf && out.spare && pthread_create(&out.thread, NULL, writer, NULL) == 0) {
            out.running = 1;
        } else {
            free(out.buf), free(out.spare);
            out.buf = out.spare = NULL;
        }
    }
    if (!out.running || out.n + n > LOG_BUFFER) {
        /* no writer, or it is behind: this line goes at once. A line under PIPE_BUF goes
         * whole into a pipe, and the kernel keeps writes to a file from overlapping. */
        pthread_mutex_unlock(&out.mu);
        write_all(line, n);
        return;
    }
    memcpy(out.buf + out.n, line, n);
    out.n += n;
    if (out.n >= LOG_BUFFER / 2 && out.n - n < LOG_BUFFER / 2)
        pthread_cond_signal(&out.more);
    pthread_mutex_unlock(&out.mu);
}

void log_flush(void)
{
    pthread_mutex_lock(&out.mu);
    int running = out.running;
    out.stop = 1;
    pthread_cond_signal(&out.more);
    pthread_mutex_unlock(&out.mu);
    if (running)
        pthread_join(out.thread, NULL);
    /* the writer is gone: what came after its last write goes now, and every later
     * line at once */
    pthread_mutex_lock(&out.mu);
    write_all(out.buf, out.n);
    free(out.buf);
    free(out.spare);
    out.buf = out.spare = NULL;
    out.n = 0;
    out.running = 0;
    pthread_mutex_unlock(&out.mu);
}
