/* log.c -- the access log: one line on stderr per request, once it is done (a stream once
 * it ends), as key=value text or, with --log-format json, one JSON object a line. Every
 * value in it is checked or made by the service (the route's pattern, not the path; a
 * token's name, never the token), so nothing a client sends can break a line. */
#include "guard.h"

#include "format/format.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

size_t log_line(char *buf, size_t cap, const struct who *w, const struct req *r,
                const struct route *rt, const struct reply *rp, int json)
{
    char at[40];
    struct tm tm;
    gmtime_r(&w->at.tv_sec, &tm);
    size_t k = strftime(at, sizeof at, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(at + k, sizeof at - k, ".%03dZ", (int)(w->at.tv_nsec / 1000000));
    int status = w->sent ? rp->status : 0;
    /* a streamed reply has no len, a buffered one streams nothing; HEAD sends no body */
    unsigned long long bytes = !w->sent || !strcmp(w->method, "HEAD")
                                   ? 0
                                   : w->streamed + (unsigned long long)rp->len;
    long long us = (long long)((clock_s() - w->t0) * 1e6);
    const char *route = rt ? rt->pattern : "unmatched";
    int n;
    if (json)
        n = snprintf(buf, cap, "{\"time\":\"%s\",\"request_id\":\"%s\",\"method\":\"%s\","
                     "\"route\":\"%s\",\"status\":%d,\"bytes\":%llu,\"us\":%lld,\"token\":%s%s%s}\n",
                     at, w->id, w->method, route, status, bytes, us, r->token ? "\"" : "",
                     r->token ? r->token : "null", r->token ? "\"" : "");
    else
        n = snprintf(buf, cap, "time=%s request_id=%s method=%s route=%s status=%d bytes=%llu "
                     "us=%lld token=%s\n", at, w->id, w->method, route, status, bytes, us,
                     r->token ? r->token : "-");
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

void log_request(const struct who *w, const struct req *r, const struct route *rt,
                 const struct reply *rp, int json)
{
    char line[512];
    size_t n = log_line(line, sizeof line, w, r, rt, rp, json);
    fwrite(line, 1, n, stderr);   /* one call: stdio's lock keeps lines whole */
}
