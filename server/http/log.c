/* log.c -- the access log: one line on stderr per request, once it is done (a stream once
 * it ends), as key=value text or, with --log-format json, one JSON object a line. Every
 * value in it is checked or made by the service (the route's pattern, not the path; a
 * token's name, never the token), so nothing a client sends can break a line. */
#include "guard.h"

#include "format/format.h"

#include <errno.h>
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

void log_request(const struct who *w, const struct req *r, const struct route *rt,
                 const struct reply *rp, int json)
{
    char line[512];
    size_t n = log_line(line, sizeof line, w, r, rt, rp, json);
    /* one write(2), not stdio: its lock on stderr, held over the system call, had the HTTP
     * threads wait for each other. A line under PIPE_BUF goes whole into a pipe, and the
     * kernel keeps writes to a file from overlapping. */
    for (size_t done = 0; done < n;) {
        ssize_t k = write(2, line + done, n - done);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;   /* stderr is gone: the line is lost, the request is not */
        done += (size_t)k;
    }
}
