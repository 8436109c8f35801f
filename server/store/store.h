/* store.h -- storage: the datasets, networks, jobs with their epochs and checkpoints,
 * and models, in SQLite or PostgreSQL. The only module that holds SQL or includes
 * sqlite3.h or libpq-fe.h.
 *
 * It answers in typed rows (struct dataset, struct network, struct job, struct model)
 * and enums (job states, label kinds), never in the shapes the API answers in: how a
 * row is shown is the domain's business (domain.h). Documents the service keeps as JSON
 * -- a job's request, an epoch's metrics row, a network's definition -- come and go as
 * jansson values. Results are enum store_rc, so that "absent" and "in use" are names,
 * not numbers.
 *
 * Two backends answer these calls (backend.h), picked by store_open from the --db value.
 * SQLite, for a file: each thread that touches the database gets its own connection on
 * first use (WAL, a busy timeout, synchronous commits: what was answered 201 or 202 is on
 * disk); a thread of its own copies the log into the database file and gives the space of
 * deleted rows back to the disk (db.c). Every write first checks that the file at the
 * path is still the one opened (else STORE_GONE) and, when it adds data, that the disk is
 * not full (else STORE_FULL); deletes run on a full disk, on a reserve kept for them. The
 * schema is migrations/NNNN_*.sql, embedded in the binary and applied in order by
 * store_open, each in one transaction, tracked in PRAGMA user_version.
 *
 * PostgreSQL, for a libpq connection string (pg.c): a connection per thread too; writes
 * serializable transactions, tried again on a conflict, but for the queue's, read
 * committed with row locks; the schema migrations/pg/NNNN_*.sql, tracked in table
 * schema_version. Large values -- a dataset's x and y, a checkpoint's network and best
 * weights, a model's network -- are stored in chunks of 4 MB, rows deleted with their
 * owner's, written from the caller's buffer and read into the one buffer a read returns a
 * chunk at a time: no whole second copy of a value is held on the way in or out. A value
 * whose chunks do not add up to its stored size is refused (STORE_ERROR, logged). Every
 * call whose result is an enum store_rc may also answer STORE_UNAVAILABLE while the
 * database cannot be reached; the connection is made again by itself once it can.
 */
#ifndef STORE_H
#define STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

enum store_rc {
    STORE_ERROR = -1,          /* the database failed (logged) or memory ran out */
    STORE_OK = 0,
    STORE_NOT_FOUND = 1,       /* no such row (or, for a list, no row with the after id) */
    STORE_IN_USE = 2,          /* a queued or running job uses it: nothing was done */
    STORE_TOO_BIG = 3,         /* over the largest BLOB the database holds */
    STORE_CONFLICT = 4,        /* the row is not in the state the change needs */
    STORE_FULL = 5,            /* the disk holding the database is full: nothing was written */
    STORE_GONE = 6,            /* the file at the database's path is no longer the one
                                  opened (deleted or replaced): nothing was written */
    STORE_LIMIT = 7,           /* a limit on how many rows there may be: nothing was done */
    STORE_FENCED = 8,          /* a training node's write for an attempt of a job that is no
                                  longer its own (its lease lapsed and another node claimed
                                  the job, or the job ended): nothing was written */
    STORE_UNAVAILABLE = 9,     /* PostgreSQL cannot be reached now (down, restarting, cut
                                  off): nothing was written; try again later */
};

/* ---- the database (db.c) ---- */

/* 1 when db (--db) names a SQLite file, 0 when it is a PostgreSQL connection string: a
 * URI (postgresql://... or postgres://...) or libpq's keyword=value pairs. */
int store_is_file(const char *db);
/* Opens the database db names (store_is_file): creating a SQLite file, applying pending
 * migrations, refusing a database from a newer schema, and starting the checkpointer. 0,
 * or -1 with a one-line message in err. */
int store_open(const char *path, char *err, size_t errlen);
/* Stops the checkpointer and closes every connection; call after every thread that used
 * the database stopped. */
void store_close(void);
/* The database's condition, for readiness: STORE_OK; STORE_FULL while the disk is full
 * (a write failed for want of space, and the reserve kept for deletes is not whole again
 * with as much free besides); STORE_GONE once the file at the path is found deleted or
 * replaced (every write is refused until a restart). Looks at the path again. On
 * PostgreSQL it tries the database (SELECT 1 on the thread's connection):
 * STORE_UNAVAILABLE when it cannot be reached now. */
int store_condition(void);
/* The schema version of the open database (-1 when it cannot be read) and the newest this
 * build knows. */
int store_schema_version(void);
int store_schema_latest(void);

/* ---- changes between nodes (pg_notify.c) ---- */

/* Several processes ("nodes") may share one PostgreSQL database. What one of them does
 * that the others keep in memory -- followers of a job's events, a cancel flag, loaded
 * models, the names cache -- is announced to them. An announcement only says where to
 * look: the rows stay the truth, and a node that hears of a change reads them. Each kind
 * is the letter that names it in a notification. */
enum store_change {
    CHANGE_EPOCH = 'e',        /* job id's epoch n was committed */
    CHANGE_STATUS = 's',       /* job id's state changed (committed) */
    CHANGE_PROGRESS = 'p',     /* job id's progress inside an epoch: payload */
    CHANGE_CANCEL = 'c',       /* job id was marked to be cancelled */
    CHANGE_MODEL_DELETED = 'd',   /* model id was deleted */
    CHANGE_NAMES = 'n',        /* what a model name, version or alias names moved */
    CHANGE_RESYNC = 'r',       /* announcements may have been lost (the listening
                                  connection broke): look at everything again */
};
/* Tells the other nodes of a change (after it is committed): on PostgreSQL a NOTIFY on
 * the channel "neurond" with kind, id, n and payload (borrowed, may be NULL; a change
 * whose text passes NOTIFY's limit of 8000 bytes is not sent); on SQLite nothing. A
 * failure is logged, never returned: the others lose an event, not a row. */
void store_announce(enum store_change kind, const char *id, int n, const json_t *payload);
/* Receives the other nodes' changes (never this process's own): fn(ctx, kind, id, n,
 * payload) from a thread of the store's (payload borrowed, NULL but for progress),
 * after the store has itself moved the names generation for CHANGE_NAMES and
 * CHANGE_RESYNC. On PostgreSQL a listener thread with a connection of its own, which
 * connects again by itself when it breaks, then calls fn with CHANGE_RESYNC (id "");
 * store_watch returns once it listens (at most 5 s when the database does not answer:
 * then it calls fn with CHANGE_RESYNC once it does). On SQLite nothing. fn NULL stops the listener (call before what fn touches goes away).
 * 0, or -1 when the thread cannot start. */
typedef void (*store_watch_fn)(void *ctx, enum store_change kind, const char *id, int n,
                               const json_t *payload);
int store_watch(store_watch_fn fn, void *ctx);

/* ---- enums ---- */

enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_SUCCEEDED, JOB_FAILED, JOB_CANCELLED,
                 JOB_STATE_COUNT };
/* "queued", ...; NULL out of range. */
const char *job_state_name(int state);
/* The state of a name, -1 for an unknown one. */
int job_state_parse(const char *name);
/* Succeeded, failed or cancelled: the job will not run again. */
int job_state_final(enum job_state state);

/* The labels of a dataset, kept as floats (rows x label_cols):
 *   LABELS_CLASSES  names (strings); y holds the index into the sorted class names
 *   LABELS_NUMBERS  one number per row; classes lists the distinct values when all are
 *                   whole numbers from 0 to 1023 (so they can be class indices), else none
 *   LABELS_ONEHOT   rows of 0/1 with a single 1; classes is [0 .. label_cols-1]
 *   LABELS_VECTORS  rows of numbers (regression with several outputs); no classes */
enum label_kind { LABELS_CLASSES, LABELS_NUMBERS, LABELS_ONEHOT, LABELS_VECTORS,
                  LABEL_KIND_COUNT };
const char *label_kind_name(int kind);
int label_kind_parse(const char *name);

/* ---- datasets (datasets.c) ---- */

#define DATASET_MAX_NAME 256               /* bytes of a name */
#define DATASET_MAX_CLASSES 65536          /* distinct class names */

/* A dataset. Every pointer is new (dataset_free); what a read does not fill is NULL. */
struct dataset {
    char id[32];
    char *name;
    char created_at[32];
    int rows, features, label_cols;
    int timesteps;             /* a row is a sequence of this many steps of features; 0:
                                  a row is not a sequence */
    enum label_kind label_kind;
    json_t *classes;           /* array of names or numbers, or NULL */
    json_t *columns;           /* feature names */
    json_t *label_column;      /* CSV: the label column's name, or its index without a
                                  header; NULL for JSON uploads */
    json_t *stats;             /* per feature {"name","min","mean","max","std"} */
    float *x;                  /* rows x features (rows x timesteps x features, time-major) */
    float *y;                  /* rows x label_cols */
};
/* Frees what d holds and zeroes it; NULL does nothing. */
void dataset_free(struct dataset *d);

/* Stores d (name, shape, labels, columns, stats, x, y; all borrowed) under a new id, which
 * it writes with created_at into d. STORE_OK, STORE_TOO_BIG, STORE_ERROR. */
int store_dataset_insert(struct dataset *d);
/* A dataset without its arrays (stats included). STORE_OK, STORE_NOT_FOUND, STORE_ERROR. */
int store_dataset_get(const char *id, struct dataset *d);
/* A dataset with its arrays, for training (no stats, columns or label_column). */
int store_dataset_load(const char *id, struct dataset *d);
/* The smallest and largest of a dataset's label values (read without x). */
int store_dataset_label_range(const char *id, float *lo, float *hi);
/* Up to limit datasets in order of creation after the one with id `after` (NULL: from
 * the first), without arrays or stats: *items new (free each with dataset_free, then
 * the array), *n of them, *more set when more follow. STORE_NOT_FOUND when `after` names
 * no dataset. */
int store_dataset_list(int limit, const char *after, struct dataset **items, int *n,
                       int *more);
/* STORE_OK, STORE_NOT_FOUND, STORE_IN_USE (a queued or running job uses it), ERROR. */
int store_dataset_delete(const char *id);

/* ---- networks (networks.c) ---- */

/* A stored network definition. Every pointer is new (network_free). */
struct network {
    char id[32];
    char *name;                /* NULL when it has none */
    char created_at[32];
    json_t *definition;        /* every default written out */
    json_t *summary;
    json_t *warnings;
    int inputs, outputs;       /* from the summary, in lists */
    int64_t params;
};
void network_free(struct network *n);

/* Stores n (id, name, created_at, definition, summary, warnings; borrowed). */
int store_network_insert(const struct network *n);
int store_network_get(const char *id, struct network *n);
/* Up to limit networks in the order they were stored, after `after`: id, name,
 * created_at, inputs, outputs, params (no documents). As store_dataset_list. */
int store_network_list(int limit, const char *after, struct network **items, int *n,
                       int *more);
int store_network_delete(const char *id);

/* ---- jobs (jobs.c) ---- */

/* A job as stored. Every pointer is new (job_free); strings "" when absent. */
struct job {
    char id[32];
    enum job_state state;
    json_t *request;           /* the job as accepted, every default written out */
    int epoch, epochs;
    double progress;
    json_t *latest;            /* the last epoch's metrics row, or NULL */
    double eta;                /* seconds, NAN when unknown */
    json_t *error;             /* a problem object, or NULL */
    char model_id[32];         /* "" for none, and for one deleted since */
    int model_deleted;         /* the job made a model, deleted since */
    char created_at[32], started_at[32], finished_at[32];
    char node[128];            /* the node that runs it or ran it last, "" before a claim */
    int attempt;               /* how many times it was claimed */
};
void job_free(struct job *j);

/* A job to queue, and the limits of the queue. */
struct job_new {
    const char *id;
    const json_t *request;     /* borrowed */
    const char *network_id;    /* NULL for a network given whole */
    const char *dataset_id;
    const char *val_dataset_id;   /* NULL for none */
    int epochs;
    const char *owner;         /* the name of the token that queues it; NULL without tokens */
    long max_queued;           /* jobs queued at once, in all ... */
    long max_queued_owner;     /* ... and of one owner (not counted without one) */
    int owner_full;            /* out: STORE_LIMIT came from the owner's limit */
};
/* Stores a new queued job. STORE_NOT_FOUND when a dataset it names no longer exists,
 * STORE_LIMIT when the queue, or the owner's part of it, is full (nothing stored either
 * way). */
int store_job_insert(struct job_new *j);
int store_job_get(const char *id, struct job *j);
/* The job's state only. */
int store_job_state(const char *id, enum job_state *state);
/* Jobs in queue order, of one state (-1: all), after `after`; as store_dataset_list. */
int store_job_list(int state, int limit, const char *after, struct job **items, int *n,
                   int *more);
/* Leases. A worker that claims a job holds it for `lease` seconds, and renews that while
 * it trains; a job whose lease lapsed (its node was killed, frozen or cut off) is claimed
 * again, by any node, as a new attempt. Every claim adds one to the job's attempt, and
 * the trainer's writes (progress, checkpoint, end) carry the attempt they belong to: one
 * whose job has another attempt by now, or is no longer running, is refused with
 * STORE_FENCED, inside the transaction that would have written, so that nothing of it
 * lands. An attempt whose lease lapsed, or whose process died (requeue_running), is a
 * dead attempt; at max_attempts of them the job ends failed rather than be claimed again.
 * The lease's time is the database's clock on PostgreSQL, the process's on SQLite. */
struct claimer {
    const char *node;          /* the claiming node's id */
    int lease;                 /* seconds a claim holds unless renewed */
    int max_attempts;          /* dead attempts after which a job ends failed */
};
/* Takes the oldest job that is queued or running with a lapsed lease (first those marked
 * to be cancelled, so that they end soon): marks it running, held by `by` (NULL: node "",
 * a lease of 30 s, 3 attempts) for its lease, its attempt one more (a lapsed one counts
 * a dead attempt); copies its id into id (32 bytes) and its attempt into *attempt (may be
 * NULL). Lapsed jobs at by->max_attempts dead attempts end failed on the way, their error
 * naming the attempts and the last node. STORE_OK when it took one, STORE_NOT_FOUND when
 * none is there, STORE_ERROR. */
int store_job_claim(const struct claimer *by, char *id, int *attempt);
/* Extends the lease of a job's attempt by `lease` seconds from now; *cancel (may be NULL)
 * says whether the job is marked to be cancelled. STORE_OK; STORE_FENCED when the job no
 * longer runs this attempt; STORE_ERROR. */
int store_job_renew(const char *id, int attempt, int lease, int *cancel);
/* Jobs whose process died while they ran back to queued, each a dead attempt (those at
 * max_attempts end failed instead), for a starting process: on SQLite every running job
 * (one process owns the file); on PostgreSQL only those held by `node` (which happens
 * with an explicit --node-id after a crash: other nodes' jobs are left to their
 * leases). How many were requeued or failed, or -1. */
int store_job_requeue_running(const char *node, int max_attempts);
/* Progress inside an epoch, of the job's attempt (0: whatever attempt runs; STORE_FENCED
 * as store_job_claim says). */
int store_job_progress(const char *id, int attempt, double progress, double eta);
/* Records an epoch's metrics row (borrowed; replacing one of the same epoch) and makes it
 * the job's latest, with the job's epoch, progress and eta. store_checkpoint_save does
 * this in its transaction; alone, it is for tools and tests. */
int store_job_epoch(const char *id, int epoch, const json_t *row, double progress, double eta);
struct model;
/* Ends a job's attempt (0: whatever attempt runs): its state (final, or JOB_QUEUED to
 * resume later, which is no dead attempt), error (a problem object, may be NULL) and the
 * model it made (may be NULL), in one transaction: a job never ends without its model,
 * nor does a model exist for a job that will run again. A job asked to cancel
 * (store_job_cancel) ends cancelled instead of succeeded or failed; *ended (may be NULL)
 * says the state written. A final state drops the job's checkpoint. STORE_FENCED when
 * the attempt is no longer the job's running one: nothing is written. */
int store_job_finish(const char *id, int attempt, enum job_state state, const json_t *error,
                     const struct model *model, enum job_state *ended);
/* Cancels a job. STORE_OK with *was JOB_QUEUED: it was queued and is now cancelled (its
 * checkpoint dropped); with *was JOB_RUNNING: it is marked to be cancelled, and will end
 * cancelled once its worker stops it (a job resuming after a stop counts as running).
 * STORE_CONFLICT when it has ended (*was says how), STORE_NOT_FOUND, STORE_ERROR. */
int store_job_cancel(const char *id, enum job_state *was);
/* 1 when the job is marked to be cancelled, 0 when not, STORE_ERROR. */
int store_job_cancelling(const char *id);
/* At most limit (-1: all) epoch rows of a job after epoch `after`, in order: *rows a new
 * array of the rows as the trainer stored them. STORE_NOT_FOUND when there is no such
 * job (only checked when after is 0). */
int store_job_epochs(const char *id, int after, int limit, json_t **rows);
/* How many jobs are in each state. */
int store_job_counts(long counts[JOB_STATE_COUNT]);

/* ---- checkpoints (jobs.c) ---- */

struct checkpoint {
    int epoch;
    void *net;                 /* nn_save buffer */
    size_t net_len;
    void *rng;                 /* struct nn_rng */
    size_t rng_len;
    void *best;                /* early stopping's best weights, may be NULL */
    size_t best_len;
    int best_changed;          /* saving: best is new since the last save */
    json_t *state;             /* early stopping's counters */
};
/* Replaces a job's checkpoint and stores its epoch row (row; progress and eta of the
 * job), in one transaction; the best weights are written only when best_changed.
 * STORE_FENCED when attempt (not 0) is no longer the job's running one: nothing is
 * written. */
int store_checkpoint_save(const char *id, int attempt, const struct checkpoint *c,
                          const json_t *row, double progress, double eta);
/* STORE_OK with *c filled (all new: checkpoint_free), STORE_NOT_FOUND when the job has
 * none, STORE_ERROR. */
int store_checkpoint_load(const char *id, struct checkpoint *c);
void checkpoint_free(struct checkpoint *c);

/* ---- models (models.c) ---- */

/* A trained model. Every pointer is new (model_free); net only from store_model_load. */
struct model {
    char id[32], job_id[32], dataset_id[32];
    char *job_name;            /* the job's name, or NULL */
    char *name;                /* the model's name (its job's model_name), or NULL */
    int version;               /* its version under name, from 1 (given out by
                                  store_model_insert); 0 without a name */
    json_t *aliases;           /* read: the names of the aliases pointing at it, sorted
                                  (an array, empty for none) */
    char created_at[32];
    json_t *network;           /* the definition */
    enum label_kind label_kind;
    json_t *classes;           /* or NULL */
    json_t *metrics;           /* the final epoch's (or the best epoch's) */
    json_t *columns;           /* the input columns' names, in order, or NULL (a model
                                  from before they were kept, its dataset deleted) */
    float *scaler;             /* per-feature mean then deviation, or NULL */
    size_t scaler_len;         /* bytes */
    int standardized;          /* scaler is not NULL */
    float *label_scaler;       /* per-label-column mean then deviation, or NULL */
    size_t label_scaler_len;   /* bytes */
    void *net;                 /* nn_save buffer */
    size_t net_len;
};
void model_free(struct model *m);

/* Stores a model (for store_job_finish, inside its transaction; all borrowed). A model
 * with a name becomes that name's next version, given out in the same transaction (one
 * more than the last ever given under the name: a deleted version's number is not given
 * again); m->version is not read. */
int store_model_insert(const struct model *m);
/* A model without its network buffer. */
int store_model_get(const char *id, struct model *m);
/* A model with them, for prediction. */
int store_model_load(const char *id, struct model *m);
/* Up to limit models after `after`, as store_dataset_list: with name NULL, every model in
 * the order they were stored; with a name, that name's versions, newest first
 * (STORE_NOT_FOUND also when `after` is not one of them). */
int store_model_list(const char *name, int limit, const char *after, struct model **items,
                     int *n, int *more);
/* Deletes a model. STORE_CONFLICT when an alias points at it: nothing is deleted, and
 * *aliases (may be NULL) is a new array of their names. STORE_OK, STORE_NOT_FOUND,
 * STORE_ERROR. */
int store_model_delete(const char *id, json_t **aliases);

/* ---- model names, versions and aliases (models.c) ---- */

/* The id (32 bytes) of a version of a name: version N (>= 1), the version alias points
 * at (alias not NULL), else the latest version there is. STORE_OK; STORE_NOT_FOUND with
 * *known set when the name was ever given to a model (else 0); STORE_ERROR. */
int store_model_find(const char *name, int version, const char *alias, char *id, int *known);
/* Whether a name was ever given to a model: STORE_OK, STORE_NOT_FOUND, STORE_ERROR. */
int store_model_name_known(const char *name);
/* A number that moves after every committed write that may change what a name,
 * name@version or name@alias names (a model stored or deleted, an alias set, moved or
 * deleted), so that a cache of what they name (model_resolve) knows when to forget. */
unsigned long store_model_names_generation(void);
/* The aliases of a name, sorted: *out a new array of {"alias", "version", "model"}.
 * STORE_NOT_FOUND when the name was never given to a model. */
int store_alias_list(const char *name, json_t **out);
/* Points alias at version of name, creating it (*created 1) or moving it (0); *model
 * (32 bytes) gets that version's id. STORE_NOT_FOUND when the name is unknown, with
 * *known 0, or has no such version, with *known 1; nothing changed. */
int store_alias_set(const char *name, const char *alias, int version, int *created,
                    char *model, int *known);
/* Deletes an alias. STORE_OK, STORE_NOT_FOUND (no such name or alias), STORE_ERROR. */
int store_alias_delete(const char *name, const char *alias);

#endif
