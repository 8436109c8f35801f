/* h_health.c -- liveness and readiness. */
#include "db.h"
#include "handlers.h"
#include "jobs.h"

int h_health(struct req *r, struct reply *out)
{
    (void)r;
    return reply_json(out, 200, json_pack("{s:s}", "status", "ok"));
}

/* Ready when the database answers with the newest schema and the workers run. */
int h_ready(struct req *r, struct reply *out)
{
    int schema = db_schema_version(), latest = db_schema_latest();
    int workers = jobs_alive(r->app->jobs);
    int ok = schema == latest && workers;
    json_t *v = json_pack("{s:s, s:i, s:i, s:b}", "status", ok ? "ready" : "not ready",
                          "schema", schema, "schema_latest", latest, "workers", workers);
    if (ok)
        return reply_json(out, 200, v);
    json_decref(v);
    return reply_problem(out, 503, NULL, "not ready: schema %d of %d, workers %s", schema,
                         latest, workers ? "running" : "stopped");
}
