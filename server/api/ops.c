/* ops.c -- the operator's routes: liveness, readiness, and GET /metrics, the service's
 * counters (ops.h) and the jobs by state in the Prometheus text exposition format 0.0.4. */
#include "api.h"

#include "events/events.h"
#include "ops/ops.h"
#include "queue/queue.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>

int h_health(struct req *r, struct reply *out)
{
    (void)r;
    return reply_json(out, 200, json_pack("{s:s}", "status", "ok"));
}

/* Ready when the database answers with the newest schema, its file is still the one
 * opened, the disk holding it is not full, PostgreSQL can be reached, and the workers
 * run. Otherwise 503, the detail naming every reason. */
int h_ready(struct req *r, struct reply *out)
{
    int cond = store_condition();
    int schema = store_schema_version(), latest = store_schema_latest();
    int workers = queue_alive(r->app->queue);
    int ok = schema == latest && workers && cond == STORE_OK;
    json_t *v = json_pack("{s:s, s:i, s:i, s:b}", "status", ok ? "ready" : "not ready",
                          "schema", schema, "schema_latest", latest, "workers", workers);
    if (ok)
        return reply_json(out, 200, v);
    json_decref(v);
    return reply_problem(out, 503, NULL, "not ready: schema %d of %d, workers %s%s", schema,
                         latest, workers ? "running" : "stopped",
                         cond == STORE_GONE ? "; database file gone: it was deleted or "
                                              "replaced while the service ran (restart it)"
                         : cond == STORE_FULL ? "; disk full: the disk holding the database "
                                                "is full (delete datasets or models, or free "
                                                "space on it)"
                         : cond == STORE_UNAVAILABLE ? "; database unreachable: PostgreSQL "
                                                       "cannot be reached now (the service "
                                                       "reconnects by itself)"
                         : cond != STORE_OK ? "; database failing: see the service's log"
                                            : "");
}

int h_prometheus(struct req *r, struct reply *out)
{
    (void)r;
    long counts[JOB_STATE_COUNT];
    int rc = store_job_counts(counts);
    if (rc != STORE_OK)
        return reply_store_failed(out, rc);
    struct stats_route labels[96];   /* stats.c's MAX_ROUTES */
    int n = nroutes < 96 ? nroutes : 96;
    for (int i = 0; i < n; i++)
        labels[i] = (struct stats_route){routes[i].pattern};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return -1;
    stats_write(f, labels, n);
    fputs("# HELP neurond_jobs Jobs by state.\n# TYPE neurond_jobs gauge\n", f);
    for (int i = 0; i < JOB_STATE_COUNT; i++)
        fprintf(f, "neurond_jobs{state=\"%s\"} %ld\n", job_state_name(i), counts[i]);
    fprintf(f, "# HELP neurond_queue_depth Jobs waiting for a worker.\n"
               "# TYPE neurond_queue_depth gauge\nneurond_queue_depth %ld\n",
            counts[JOB_QUEUED]);
    fprintf(f, "# HELP neurond_stream_subscribers Clients following a job's events.\n"
               "# TYPE neurond_stream_subscribers gauge\nneurond_stream_subscribers %d\n",
            hub_followers());
    if (fclose(f) != 0) {
        free(buf);
        return -1;
    }
    rc = reply_text(out, 200, "text/plain; version=0.0.4; charset=utf-8", buf, len);
    free(buf);
    return rc;
}
