/* store.c -- the storage calls of store.h, each sent to the backend store_open picked
 * (backend.h): PostgreSQL for a libpq connection string, SQLite for anything else; and
 * the names of the stored enums, which both backends share. */
#include "backend.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

/* SQLite until store_open says otherwise. */
static const struct store_backend *backend = &store_sqlite;

int store_is_file(const char *db)
{
    if (!strncmp(db, "postgresql://", 13) || !strncmp(db, "postgres://", 11))
        return 0;
    /* keyword=value pairs ("host=/run/postgresql dbname=neurond"): libpq parses them; a
     * file's path does not parse (no '=', or a word before it libpq does not know) */
    if (!strchr(db, '='))
        return 1;
    PQconninfoOption *o = PQconninfoParse(db, NULL);
    PQconninfoFree(o);
    return o == NULL;
}

int store_open(const char *path, char *err, size_t errlen)
{
    backend = store_is_file(path) ? &store_sqlite : &store_pg;
    return backend->open(path, err, errlen);
}

void store_close(void) { backend->close(); }
int store_condition(void) { return backend->condition(); }
int store_schema_version(void) { return backend->schema_version(); }
int store_schema_latest(void) { return backend->schema_latest(); }

void store_announce(enum store_change kind, const char *id, int n, const json_t *payload)
{
    backend->announce(kind, id, n, payload);
}

int store_watch(store_watch_fn fn, void *ctx) { return backend->watch(fn, ctx); }

#define STORE_SEND(ret, name, params, args) \
    ret store_##name params { return backend->name args; }
STORE_CALLS(STORE_SEND)
#undef STORE_SEND

json_t *store_dead_error(int attempts, const char *node)
{
    char d[400];
    snprintf(d, sizeof d, "the job died in %d attempts, the last on node %s: the worker "
             "process probably crashed or was killed while it trained (its lease lapsed, or "
             "the process started again with the job running)", attempts,
             node && *node ? node : "(unknown)");
    return json_pack("{s:s, s:s, s:i, s:s}", "type", "about:blank", "title", "Job died",
                     "status", 500, "detail", d);
}

/* ---- the names of the stored enums ---- */

static const char *const job_states[JOB_STATE_COUNT] = {"queued", "running", "succeeded",
                                                        "failed", "cancelled"};
static const char *const label_kinds[LABEL_KIND_COUNT] = {"classes", "numbers", "onehot",
                                                          "vectors"};

static int name_index(const char *const *t, int n, const char *s)
{
    for (int i = 0; s && i < n; i++)
        if (strcmp(t[i], s) == 0)
            return i;
    return -1;
}

const char *job_state_name(int s)
{
    return s >= 0 && s < JOB_STATE_COUNT ? job_states[s] : NULL;
}

int job_state_parse(const char *s) { return name_index(job_states, JOB_STATE_COUNT, s); }
int job_state_final(enum job_state s) { return s >= JOB_SUCCEEDED; }

const char *label_kind_name(int k)
{
    return k >= 0 && k < LABEL_KIND_COUNT ? label_kinds[k] : NULL;
}

int label_kind_parse(const char *s) { return name_index(label_kinds, LABEL_KIND_COUNT, s); }
