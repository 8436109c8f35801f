/* backend.h -- the storage backends behind store.h: SQLite (db.c and the files beside it)
 * and PostgreSQL. store.c picks one in store_open, from the --db value, and sends every
 * call of store.h to it. For the files of store/ only.
 *
 * STORE_CALLS lists the calls a backend answers, as X(return type, name, (parameters),
 * (arguments)): store_<name> in store.h, <backend>_<name> in a backend. The calls on the
 * database as a whole (open, close, condition, schema versions) come apart, as fields of
 * struct store_backend of their own.
 */
#ifndef STORE_BACKEND_H
#define STORE_BACKEND_H

#include "store.h"

#define STORE_CALLS(X) \
    X(int, dataset_insert, (struct dataset *d), (d)) \
    X(int, dataset_get, (const char *id, struct dataset *d), (id, d)) \
    X(int, dataset_load, (const char *id, struct dataset *d), (id, d)) \
    X(int, dataset_label_range, (const char *id, float *lo, float *hi), (id, lo, hi)) \
    X(int, dataset_list, (int limit, const char *after, struct dataset **items, int *n, \
                          int *more), (limit, after, items, n, more)) \
    X(int, dataset_delete, (const char *id), (id)) \
    X(int, network_insert, (const struct network *n), (n)) \
    X(int, network_get, (const char *id, struct network *n), (id, n)) \
    X(int, network_list, (int limit, const char *after, struct network **items, int *n, \
                          int *more), (limit, after, items, n, more)) \
    X(int, network_delete, (const char *id), (id)) \
    X(int, job_insert, (struct job_new *j), (j)) \
    X(int, job_get, (const char *id, struct job *j), (id, j)) \
    X(int, job_state, (const char *id, enum job_state *state), (id, state)) \
    X(int, job_list, (int state, int limit, const char *after, struct job **items, int *n, \
                      int *more), (state, limit, after, items, n, more)) \
    X(int, job_claim, (const struct claimer *by, char *id, int *attempt), (by, id, attempt)) \
    X(int, job_renew, (const char *id, int attempt, int lease, int *cancel), \
      (id, attempt, lease, cancel)) \
    X(int, job_requeue_running, (const char *node, int max_attempts), (node, max_attempts)) \
    X(int, job_progress, (const char *id, int attempt, double progress, double eta), \
      (id, attempt, progress, eta)) \
    X(int, job_epoch, (const char *id, int epoch, const json_t *row, double progress, \
                       double eta), (id, epoch, row, progress, eta)) \
    X(int, job_finish, (const char *id, int attempt, enum job_state state, \
                        const json_t *error, const struct model *model, \
                        enum job_state *ended), (id, attempt, state, error, model, ended)) \
    X(int, job_cancel, (const char *id, enum job_state *was), (id, was)) \
    X(int, job_cancelling, (const char *id), (id)) \
    X(int, job_epochs, (const char *id, int after, int limit, json_t **rows), \
      (id, after, limit, rows)) \
    X(int, job_counts, (long counts[JOB_STATE_COUNT]), (counts)) \
    X(int, checkpoint_save, (const char *id, int attempt, const struct checkpoint *c, \
                             const json_t *row, double progress, double eta), \
      (id, attempt, c, row, progress, eta)) \
    X(int, checkpoint_load, (const char *id, struct checkpoint *c), (id, c)) \
    X(int, model_insert, (const struct model *m), (m)) \
    X(int, model_get, (const char *id, struct model *m), (id, m)) \
    X(int, model_load, (const char *id, struct model *m), (id, m)) \
    X(int, model_list, (const char *name, int limit, const char *after, \
                        struct model **items, int *n, int *more), \
      (name, limit, after, items, n, more)) \
    X(int, model_delete, (const char *id, json_t **aliases), (id, aliases)) \
    X(int, model_find, (const char *name, int version, const char *alias, char *id, \
                        int *known), (name, version, alias, id, known)) \
    X(int, model_name_known, (const char *name), (name)) \
    X(int, alias_list, (const char *name, json_t **out), (name, out)) \
    X(int, alias_set, (const char *name, const char *alias, int version, int *created, \
                       char *model, int *known), (name, alias, version, created, model, known)) \
    X(int, alias_delete, (const char *name, const char *alias), (name, alias))

/* A backend: its name, the calls on the database as a whole (as store.h's), then one
 * pointer per call of STORE_CALLS. */
struct store_backend {
    const char *name;
    int (*open)(const char *path, char *err, size_t errlen);
    void (*close)(void);
    int (*condition)(void);
    int (*schema_version)(void);
    int (*schema_latest)(void);
    void (*announce)(enum store_change kind, const char *id, int n, const json_t *payload);
    int (*watch)(store_watch_fn fn, void *ctx);
#define STORE_FIELD(ret, name, params, args) ret (*name) params;
    STORE_CALLS(STORE_FIELD)
#undef STORE_FIELD
};

/* The SQLite backend (db.c), and the PostgreSQL one (pg.c). */
extern const struct store_backend store_sqlite, store_pg;

/* Moves store_model_names_generation: every backend calls it after (never before) a
 * transaction that may have changed what a model reference names has ended (a model
 * stored or deleted, an alias set or deleted); models.c keeps the count. */
void db_model_names_moved(void);

/* The error of a job that died in `attempts` attempts, the last on `node` (a new problem
 * object), which both backends store when they fail it (store.c). */
json_t *store_dead_error(int attempts, const char *node);

/* PostgreSQL's changes between nodes (pg_notify.c): store_announce and store_watch; and
 * pg_names_moved, which pg.c calls where SQLite's backend calls db_model_names_moved
 * (it moves the names generation, then announces it). */
void pg_announce(enum store_change kind, const char *id, int n, const json_t *payload);
int pg_watch(store_watch_fn fn, void *ctx);
void pg_names_moved(void);
/* pg.c's, for pg_notify.c: the connection string store_open was given; and sql with one
 * text parameter, run on this thread's connection outside a transaction (STORE_OK, or
 * STORE_ERROR, logged). */
const char *pg_conninfo(void);
int pg_exec_text(const char *sql, const char *arg, const char *what);
/* pg.c's notice receiver, for every connection: the server's warnings to the log, but not
 * each connection's goodbye as the server shuts down (the outage is logged once); and
 * libpq's message msg on one line into out (cap bytes). */
struct pg_result;   /* libpq's PGresult */
void pg_notice(void *arg, const struct pg_result *r);
void pg_one_line(const char *msg, char *out, size_t cap);

#endif
