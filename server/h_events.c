/* h_events.c -- following a job as it trains: GET /v1/jobs/{id}/events (server-sent
 * events) and GET /v1/jobs/{id}/metrics?follow=true (NDJSON). The hub (hub.c) does the
 * work; these check the request and hand the connection to it. */
#include "handlers.h"

#include "hub.h"
#include "store.h"

#include <stdlib.h>
#include <string.h>

/* A stream of job r->param[0] after epoch `after`. */
static int follow(struct req *r, struct reply *out, enum hub_format fmt, int after)
{
    json_t *job = db_job_get(r->param[0]);
    if (!job)
        return reply_not_found(out, "job", r->param[0]);
    json_decref(job);
    struct sub *s = r->conn ? hub_subscribe(r->param[0], fmt, after, r->conn) : NULL;
    if (!s)
        return reply_problem(out, 503, NULL, "the service is stopping; try again later");
    out->status = 200;
    out->content_type = fmt == HUB_SSE ? "text/event-stream" : "application/x-ndjson";
    out->read = hub_read;
    out->release = hub_release;
    out->ctx = s;
    return 0;
}

int h_jobs_events(struct req *r, struct reply *out)
{
    /* an EventSource that reconnects sends the id of the last event it had: the epoch */
    const char *last = req_header(r, "Last-Event-ID");
    long after = 0;
    if (last && *last) {
        char *end;
        after = strtol(last, &end, 10);
        if (*end || after < 0 || after > 1000000 || strspn(last, "0123456789") != strlen(last))
            return reply_problem(out, 400, json_pack("[{s:s, s:s}]", "header", "Last-Event-ID",
                                                     "detail", "must be an epoch number"),
                                 "the Last-Event-ID header must be an epoch number, not '%.64s'",
                                 last);
    }
    return follow(r, out, HUB_SSE, (int)after);
}

int h_jobs_follow(struct req *r, struct reply *out) { return follow(r, out, HUB_NDJSON, 0); }
