/* h_metrics.c -- GET /metrics: the service's counters (stats.c) and the jobs by state
 * (db_stats.c) in the Prometheus text exposition format 0.0.4. */
#include "handlers.h"
#include "hub.h"
#include "stats.h"

#include <stdio.h>
#include <stdlib.h>

int h_prometheus(struct req *r, struct reply *out)
{
    (void)r;
    static const char *const states[] = {"queued", "running", "succeeded", "failed",
                                         "cancelled"};
    json_t *counts = db_job_counts();
    if (!counts)
        return -1;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        json_decref(counts);
        return -1;
    }
    stats_write(f);
    fputs("# HELP neurond_jobs Jobs by state.\n# TYPE neurond_jobs gauge\n", f);
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++)
        fprintf(f, "neurond_jobs{state=\"%s\"} %lld\n", states[i],
                (long long)json_integer_value(json_object_get(counts, states[i])));
    fprintf(f, "# HELP neurond_queue_depth Jobs waiting for a worker.\n"
               "# TYPE neurond_queue_depth gauge\nneurond_queue_depth %lld\n",
            (long long)json_integer_value(json_object_get(counts, "queued")));
    fprintf(f, "# HELP neurond_stream_subscribers Clients following a job's events.\n"
               "# TYPE neurond_stream_subscribers gauge\nneurond_stream_subscribers %d\n",
            hub_followers());
    json_decref(counts);
    if (fclose(f) != 0) {
        free(buf);
        return -1;
    }
    int rc = reply_text(out, 200, "text/plain; version=0.0.4; charset=utf-8", buf, len);
    free(buf);
    return rc;
}
