/* db_stats.c -- the SQL behind GET /metrics: jobs counted by state. */
#include "db.h"
#include "stats.h"

json_t *db_job_counts(void)
{
    static const char sql[] = "SELECT state, COUNT(*) FROM jobs GROUP BY state";
    sqlite3_stmt *st = db_prepare(sql);
    if (!st)
        return NULL;
    json_t *o = json_object();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *state = (const char *)sqlite3_column_text(st, 0);
        if (state)
            json_object_set_new(o, state, json_integer(sqlite3_column_int64(st, 1)));
    }
    db_done(st);
    if (rc != SQLITE_DONE) {
        json_decref(o);
        return NULL;
    }
    return o;
}
