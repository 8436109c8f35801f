/* jobs.c -- SQL for the job queue, its epoch rows and checkpoints. */
#include "db.h"

#include "format/format.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Counts the queue and inserts, in one transaction: two requests cannot both take the
 * last place. The datasets must still exist when the job is stored (a DELETE may have
 * come between the check and the insert). */
static int insert_tx(void *arg)
{
    static const char count[] = "SELECT count(*) >= ?1, ?2 IS NOT NULL AND "
                                "total(owner = ?2) >= ?3 FROM jobs WHERE state = 'queued'";
    static const char sql[] =
        "INSERT INTO jobs (id, state, request, network_id, dataset_id, val_dataset_id, epochs, "
        "created_at, owner) SELECT ?1, 'queued', ?2, ?3, ?4, ?5, ?6, ?7, ?8 WHERE EXISTS "
        "(SELECT 1 FROM datasets WHERE id = ?4) AND (?5 IS NULL OR EXISTS "
        "(SELECT 1 FROM datasets WHERE id = ?5))";
    struct job_new *in = arg;
    sqlite3_stmt *st = db_prepare(count);
    if (!st)
        return STORE_ERROR;
    sqlite3_bind_int64(st, 1, in->max_queued);
    sqlite3_bind_text(st, 2, in->owner, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, in->max_queued_owner);
    if (sqlite3_step(st) != SQLITE_ROW) {
        db_done(st);
        return db_failed("counting the queue");
    }
    int all = sqlite3_column_int(st, 0);
    in->owner_full = sqlite3_column_int(st, 1);
    db_done(st);
    if (all || in->owner_full)
        return STORE_LIMIT;
    if (!(st = db_prepare(sql)))
        return STORE_ERROR;
    char now[32];
    now_iso(now);
    sqlite3_bind_text(st, 1, in->id, -1, SQLITE_TRANSIENT);
    db_bind_json(st, 2, in->request);
    sqlite3_bind_text(st, 3, in->network_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, in->dataset_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, in->val_dataset_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 6, in->epochs);
    sqlite3_bind_text(st, 7, now, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 8, in->owner, -1, SQLITE_TRANSIENT);
    if (db_exec(st) < 0)
        return STORE_ERROR;
    return sqlite3_changes(db_conn()) == 1 ? STORE_OK : STORE_NOT_FOUND;
}

int sqlite_job_insert(struct job_new *j)
{
    j->owner_full = 0;
    return db_transaction(DB_GROWS, insert_tx, j);
}

#define JOB_COLS "id, state, request, epoch, epochs, progress, latest, eta_seconds, error, " \
                 "model_id, created_at, started_at, finished_at, seq, " \
                 "model_id IS NOT NULL AND NOT EXISTS " \
                 "(SELECT 1 FROM models WHERE models.id = jobs.model_id), node, attempt"

void job_free(struct job *j)
{
    if (!j)
        return;
    json_decref(j->request);
    json_decref(j->latest);
    json_decref(j->error);
    memset(j, 0, sizeof *j);
}

/* A job row (JOB_COLS) into item. */
static int job_read(sqlite3_stmt *st, void *item)
{
    struct job *j = item;
    db_column_copy(st, 0, j->id, sizeof j->id);
    int state = job_state_parse((const char *)sqlite3_column_text(st, 1));
    j->state = state >= 0 ? (enum job_state)state : JOB_FAILED;
    j->request = db_column_json(st, 2);
    j->epoch = sqlite3_column_int(st, 3);
    j->epochs = sqlite3_column_int(st, 4);
    j->progress = sqlite3_column_double(st, 5);
    j->latest = db_column_json(st, 6);
    j->eta = sqlite3_column_type(st, 7) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 7);
    j->error = db_column_json(st, 8);
    db_column_copy(st, 9, j->model_id, sizeof j->model_id);
    db_column_copy(st, 10, j->created_at, sizeof j->created_at);
    db_column_copy(st, 11, j->started_at, sizeof j->started_at);
    db_column_copy(st, 12, j->finished_at, sizeof j->finished_at);
    j->model_deleted = sqlite3_column_int(st, 14);
    db_column_copy(st, 15, j->node, sizeof j->node);
    j->attempt = sqlite3_column_int(st, 16);
    if (j->model_deleted)   /* a model deleted since is named by no job */
        j->model_id[0] = 0;
    return j->request ? 0 : -1;
}

static void job_item_free(void *item) { job_free(item); }

int sqlite_job_get(const char *id, struct job *j)
{
    static const char sql[] = "SELECT " JOB_COLS " FROM jobs WHERE id = ?";
    memset(j, 0, sizeof *j);
    int rc = db_row(sql, id, job_read, j, "reading a job");
    if (rc != STORE_OK)
        job_free(j);
    return rc;
}

static int state_read(sqlite3_stmt *st, void *item)
{
    int v = job_state_parse((const char *)sqlite3_column_text(st, 0));
    *(enum job_state *)item = v >= 0 ? (enum job_state)v : JOB_FAILED;
    return 0;
}

int sqlite_job_state(const char *id, enum job_state *state)
{
    return db_row("SELECT state FROM jobs WHERE id = ?", id, state_read, state,
                  "reading a job's state");
}

int sqlite_job_list(int state, int limit, const char *after, struct job **items, int *n,
                   int *more)
{
    /* queue order; `after` is the id of the last item of the previous page */
    static const char sql[] =
        "SELECT " JOB_COLS " FROM jobs WHERE (?1 IS NULL OR state = ?1) AND seq > "
        "COALESCE((SELECT seq FROM jobs WHERE id = ?2), 0) ORDER BY seq LIMIT ?3";
    *items = NULL;
    *n = *more = 0;
    enum job_state was;
    int e = after ? sqlite_job_state(after, &was) : STORE_OK;
    if (e != STORE_OK)
        return e;
    sqlite3_stmt *st = db_prepare(sql);
    if (!st || db_bind_text(st, 1, job_state_name(state)) || db_bind_text(st, 2, after) ||
        sqlite3_bind_int(st, 3, limit + 1) != SQLITE_OK) {
        db_done(st);
        return STORE_ERROR;
    }
    return db_page(st, limit, sizeof **items, job_read, job_item_free, (void **)items, n, more);
}

static int drop_checkpoint(const char *id);

/* Seconds since 1970 on the process's clock: the time of leases on SQLite. */
static double wall_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* Inside a write: STORE_FENCED unless the job runs `attempt` (0: no check), so that a
 * node whose lease lapsed writes nothing over the attempt that took the job over. */
static int fence(const char *id, int attempt)
{
    static const char sql[] =
        "SELECT 1 FROM jobs WHERE id = ? AND attempt = ? AND state = 'running'";
    if (attempt == 0)
        return 0;
    sqlite3_stmt *st = db_prepare(sql);
    if (!st)
        return STORE_ERROR;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, attempt);
    int rc = sqlite3_step(st);
    db_done(st);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? STORE_FENCED : db_failed("reading a job");
}

/* Running jobs whose attempt died -- lapsed ones (lease ended before `now`) when now > 0,
 * else every one -- counted one more dead attempt: those at max ended (failed, or
 * cancelled when a cancel was answered 202) with store_dead_error, their checkpoint
 * dropped; with requeue the others back to queued. *n (may be NULL) counts them both. */
static int bury(double now, int max, int requeue, int *n)
{
    static const char pick[] =
        "SELECT id, dead_attempts + 1, node FROM jobs WHERE state = 'running' AND "
        "(?1 <= 0 OR lease_until IS NULL OR lease_until < ?1) AND "
        "(?3 OR dead_attempts + 1 >= ?2)";
    static const char end[] =
        "UPDATE jobs SET state = CASE WHEN cancel THEN 'cancelled' ELSE 'failed' END, "
        "error = ?1, dead_attempts = dead_attempts + 1, lease_until = NULL, "
        "eta_seconds = NULL, finished_at = ?2 WHERE id = ?3";
    static const char back[] =
        "UPDATE jobs SET state = 'queued', dead_attempts = dead_attempts + 1, "
        "lease_until = NULL WHERE id = ?";
    sqlite3_stmt *st = db_prepare(pick);
    if (!st)
        return STORE_ERROR;
    sqlite3_bind_double(st, 1, now);
    sqlite3_bind_int(st, 2, max);
    sqlite3_bind_int(st, 3, requeue);
    json_t *dead = json_array();   /* [id, dead attempts, node] each */
    int rc;
    while (dead && (rc = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(dead, json_pack("[s, i, s?]", sqlite3_column_text(st, 0),
                                              sqlite3_column_int(st, 1),
                                              sqlite3_column_text(st, 2)));
    db_done(st);
    if (!dead || rc != SQLITE_DONE) {
        json_decref(dead);
        return dead ? db_failed("reading the running jobs") : STORE_ERROR;
    }
    char now_text[32];
    now_iso(now_text);
    size_t i;
    json_t *d;
    json_array_foreach(dead, i, d) {
        const char *id = json_string_value(json_array_get(d, 0));
        const char *last = json_string_value(json_array_get(d, 2));
        int attempts = (int)json_integer_value(json_array_get(d, 1));
        int ends = attempts >= max;
        if (!id || !(st = db_prepare(ends ? end : back))) {
            json_decref(dead);
            return STORE_ERROR;
        }
        if (ends) {
            json_t *e = store_dead_error(attempts, last);
            db_bind_json(st, 1, e);
            json_decref(e);
            sqlite3_bind_text(st, 2, now_text, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(st, 3, id, -1, SQLITE_TRANSIENT);
        } else {
            sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        }
        if (db_exec(st) < 0 || (ends && drop_checkpoint(id) < 0)) {
            json_decref(dead);
            return STORE_ERROR;
        }
        if (ends)
            fprintf(stderr, "neurond: job %s died in %d attempts, the last on node %s: it is "
                    "not claimed again\n", id, attempts, last ? last : "(unknown)");
    }
    if (n)
        *n = (int)json_array_size(dead);
    json_decref(dead);
    return 0;
}

struct claim {
    const struct claimer *by;
    char *id;
    int attempt;
};

/* The claim is a write that adds: on a full disk no job starts, for it could store none
 * of its epochs. Lapsed jobs at their last attempt end first, so that the claim does not
 * take them. */
static int claim_tx(void *arg)
{
    static const char sql[] =
        "UPDATE jobs SET state = 'running', error = NULL, started_at = COALESCE(started_at, ?1), "
        "dead_attempts = dead_attempts + (state = 'running'), attempt = attempt + 1, "
        "node = ?2, lease_until = ?3 + ?4 "
        "WHERE seq = (SELECT seq FROM jobs WHERE state IN ('queued', 'running') AND "
        "(state = 'queued' OR lease_until IS NULL OR lease_until < ?3) "
        "ORDER BY cancel DESC, seq LIMIT 1) RETURNING id, attempt";
    struct claim *c = arg;
    double now = wall_s();
    if (bury(now, c->by->max_attempts, 0, NULL) < 0)
        return STORE_ERROR;
    sqlite3_stmt *st = db_prepare(sql);
    if (!st)
        return STORE_ERROR;
    char now_text[32];
    now_iso(now_text);
    sqlite3_bind_text(st, 1, now_text, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, c->by->node, -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(st, 3, now);
    sqlite3_bind_int(st, 4, c->by->lease);
    int rc = sqlite3_step(st), got = 0;
    if (rc == SQLITE_ROW) {
        snprintf(c->id, 32, "%s", (const char *)sqlite3_column_text(st, 0));
        c->attempt = sqlite3_column_int(st, 1);
        got = 1;
        rc = sqlite3_step(st);
    }
    if (rc != SQLITE_DONE)
        db_failed("claiming a job");
    db_done(st);
    return rc != SQLITE_DONE ? STORE_ERROR : got ? STORE_OK : STORE_NOT_FOUND;
}

static const struct claimer default_claimer = {"", 30, 3};

int sqlite_job_claim(const struct claimer *by, char *id, int *attempt)
{
    struct claim c = {by ? by : &default_claimer, id, 0};
    int rc = db_transaction(DB_GROWS, claim_tx, &c);
    if (rc == STORE_OK && attempt)
        *attempt = c.attempt;
    return rc;
}

struct renew {
    const char *id;
    int attempt, lease, cancel;
};

static int renew_tx(void *arg)
{
    static const char sql[] = "UPDATE jobs SET lease_until = ?1 WHERE id = ?2 AND "
                              "attempt = ?3 AND state = 'running' RETURNING cancel";
    struct renew *r = arg;
    sqlite3_stmt *st = db_prepare(sql);
    if (!st)
        return STORE_ERROR;
    sqlite3_bind_double(st, 1, wall_s() + r->lease);
    sqlite3_bind_text(st, 2, r->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 3, r->attempt);
    int rc = sqlite3_step(st), got = 0;
    if (rc == SQLITE_ROW) {
        r->cancel = sqlite3_column_int(st, 0) != 0;
        got = 1;
        rc = sqlite3_step(st);
    }
    db_done(st);
    if (rc != SQLITE_DONE)
        return db_failed("renewing a job's lease");
    return got ? STORE_OK : STORE_FENCED;
}

/* A renewal changes no size: it runs on a full disk too, where the job waits to resume. */
int sqlite_job_renew(const char *id, int attempt, int lease, int *cancel)
{
    struct renew r = {id, attempt, lease, 0};
    int rc = db_transaction(DB_SHRINKS, renew_tx, &r);
    if (rc == STORE_OK && cancel)
        *cancel = r.cancel;
    return rc;
}

struct requeue {
    int max, n;
};

static int requeue_tx(void *arg)
{
    struct requeue *r = arg;
    return bury(0, r->max, 1, &r->n);
}

/* One process owns a SQLite file: whatever runs at its start died with the previous
 * one, whatever node id it had. */
int sqlite_job_requeue_running(const char *node, int max_attempts)
{
    (void)node;
    struct requeue r = {max_attempts, 0};
    return db_transaction(DB_SHRINKS, requeue_tx, &r) == STORE_OK ? r.n : -1;
}

/* The epoch's row and the job's latest, inside the caller's transaction. */
static int epoch_write(const char *id, int epoch, const json_t *row, double progress,
                       double eta)
{
    static const char ins[] = "INSERT OR REPLACE INTO epochs (job_id, epoch, metrics) "
                              "VALUES (?, ?, ?)";
    static const char upd[] = "UPDATE jobs SET epoch = ?, progress = ?, latest = ?, "
                              "eta_seconds = ? WHERE id = ?";
    sqlite3_stmt *a = db_prepare(ins);
    if (!a)
        return STORE_ERROR;
    sqlite3_bind_text(a, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(a, 2, epoch);
    db_bind_json(a, 3, row);
    if (db_exec(a) < 0)
        return STORE_ERROR;
    sqlite3_stmt *b = db_prepare(upd);
    if (!b)
        return STORE_ERROR;
    sqlite3_bind_int(b, 1, epoch);
    sqlite3_bind_double(b, 2, progress);
    db_bind_json(b, 3, row);
    sqlite3_bind_double(b, 4, eta);
    sqlite3_bind_text(b, 5, id, -1, SQLITE_TRANSIENT);
    return db_exec(b);
}

struct epoch {
    const char *id;
    int attempt;
    int epoch;
    const json_t *row;
    double progress, eta;
};

static int epoch_tx(void *arg)
{
    const struct epoch *e = arg;
    int rc = fence(e->id, e->attempt);
    if (rc)
        return rc;
    if (e->row)
        return epoch_write(e->id, e->epoch, e->row, e->progress, e->eta);
    /* progress only */
    static const char sql[] = "UPDATE jobs SET progress = ?, eta_seconds = ? WHERE id = ?";
    sqlite3_stmt *st = db_prepare(sql);
    if (!st)
        return STORE_ERROR;
    sqlite3_bind_double(st, 1, e->progress);
    sqlite3_bind_double(st, 2, e->eta);
    sqlite3_bind_text(st, 3, e->id, -1, SQLITE_TRANSIENT);
    return db_exec(st);
}

int sqlite_job_epoch(const char *id, int epoch, const json_t *row, double progress, double eta)
{
    struct epoch e = {id, 0, epoch, row, progress, eta};
    return row ? db_transaction(DB_GROWS, epoch_tx, &e) : STORE_ERROR;
}

int sqlite_job_progress(const char *id, int attempt, double progress, double eta)
{
    struct epoch e = {id, attempt, 0, NULL, progress, eta};
    return db_transaction(DB_GROWS, epoch_tx, &e);
}

struct finish {
    const char *id;
    int attempt;
    enum job_state state;
    const json_t *error;
    const struct model *model;
    enum job_state ended;      /* the state written */
};

/* A job that ends drops its checkpoint: the model (if any) holds what it trained. */
static int drop_checkpoint(const char *id)
{
    static const char *const sql[] = {"DELETE FROM checkpoints WHERE job_id = ?",
                                      "DELETE FROM checkpoint_best WHERE job_id = ?"};
    for (int i = 0; i < 2; i++) {
        sqlite3_stmt *st = db_prepare(sql[i]);
        if (!st)
            return STORE_ERROR;
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        if (db_exec(st) < 0)
            return STORE_ERROR;
    }
    return 0;
}

/* A job whose cancel was answered 202 ends cancelled, whatever its training came to. */
static int finish_tx(void *arg)
{
    static const char sql[] =
        "UPDATE jobs SET state = CASE WHEN cancel AND ?1 IN ('succeeded', 'failed') "
        "THEN 'cancelled' ELSE ?1 END, error = ?2, model_id = COALESCE(?3, model_id), "
        "finished_at = CASE WHEN ?1 = 'queued' THEN NULL ELSE ?4 END, "
        "progress = CASE WHEN ?1 = 'succeeded' AND NOT cancel THEN 1 ELSE progress END, "
        "eta_seconds = CASE WHEN ?1 = 'queued' THEN eta_seconds ELSE NULL END, "
        "lease_until = NULL WHERE id = ?5 RETURNING state";
    struct finish *f = arg;
    int fenced = fence(f->id, f->attempt);
    if (fenced)
        return fenced;
    if (f->model && sqlite_model_insert(f->model) != STORE_OK)
        return STORE_ERROR;
    sqlite3_stmt *st = db_prepare(sql);
    if (!st)
        return STORE_ERROR;
    char now[32];
    now_iso(now);
    sqlite3_bind_text(st, 1, job_state_name(f->state), -1, SQLITE_TRANSIENT);
    db_bind_json(st, 2, f->error);
    db_bind_text(st, 3, f->model ? f->model->id : NULL);
    sqlite3_bind_text(st, 4, now, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, f->id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        f->ended = job_state_parse((const char *)sqlite3_column_text(st, 0));
        rc = sqlite3_step(st);
    }
    db_done(st);
    if (rc != SQLITE_DONE)
        return db_failed("ending a job");
    return f->ended == JOB_QUEUED ? 0 : drop_checkpoint(f->id);
}

int sqlite_job_finish(const char *id, int attempt, enum job_state state, const json_t *error,
                      const struct model *model, enum job_state *ended)
{
    struct finish f = {id, attempt, state, error, model, state};
    int rc = db_transaction(model ? DB_GROWS : DB_SHRINKS, finish_tx, &f);
    if (model)
        db_model_names_moved();   /* a new version of its name */
    if (rc == STORE_OK && model)
        db_give_back();   /* the job's checkpoint went */
    if (rc == STORE_OK && ended)
        *ended = f.ended;
    return rc;
}

struct cancel {
    const char *id;
    enum job_state *was;
};

/* One statement of cancel_tx (?1 the id, ?2 if any the time): 1 when it changed the
 * job, 0 when not, STORE_ERROR. */
static int cancel_step(const char *sql, const char *id)
{
    sqlite3_stmt *st = db_prepare(sql);
    if (!st)
        return STORE_ERROR;
    char now[32];
    now_iso(now);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    if (sqlite3_bind_parameter_count(st) > 1)
        sqlite3_bind_text(st, 2, now, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st), changed = 0;
    if (rc == SQLITE_ROW) {
        changed = 1;
        rc = sqlite3_step(st);
    }
    db_done(st);
    return rc != SQLITE_DONE ? db_failed("cancelling a job") : changed;
}

/* A queued job is cancelled at once. A running one (or one queued to resume that was
 * already asked to stop) is marked: its worker stops it, and store_job_finish ends it
 * cancelled whatever it came to. Else its state is read. All in one transaction, so a
 * worker cannot claim or end the job in between (those are writes, and wait). */
static int cancel_tx(void *arg)
{
    static const char now_sql[] =
        "UPDATE jobs SET state = 'cancelled', finished_at = ?2 "
        "WHERE id = ?1 AND state = 'queued' AND NOT cancel RETURNING 1";
    static const char mark_sql[] =
        "UPDATE jobs SET cancel = 1 WHERE id = ?1 AND state IN ('queued', 'running') "
        "RETURNING 1";
    const struct cancel *c = arg;
    int rc = cancel_step(now_sql, c->id);
    if (rc == 1) {
        *c->was = JOB_QUEUED;
        /* queued with a checkpoint: it was running when the service stopped */
        return drop_checkpoint(c->id) < 0 ? STORE_ERROR : STORE_OK;
    }
    if (rc < 0 || (rc = cancel_step(mark_sql, c->id)) < 0)
        return STORE_ERROR;
    if (rc == 1) {
        *c->was = JOB_RUNNING;
        return STORE_OK;
    }
    rc = sqlite_job_state(c->id, c->was);
    return rc == STORE_OK ? STORE_CONFLICT : rc;
}

int sqlite_job_cancel(const char *id, enum job_state *was)
{
    struct cancel c = {id, was};
    return db_transaction(DB_SHRINKS, cancel_tx, &c);
}

int sqlite_job_cancelling(const char *id)
{
    static const char sql[] = "SELECT cancel FROM jobs WHERE id = ?";
    sqlite3_stmt *st = db_prepare(sql);
    if (!st)
        return STORE_ERROR;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st), on = 0;
    if (rc == SQLITE_ROW) {
        on = sqlite3_column_int(st, 0) != 0;
        rc = sqlite3_step(st);
    }
    db_done(st);
    return rc != SQLITE_DONE ? db_failed("reading a job") : on;
}

int sqlite_job_epochs(const char *id, int after, int limit, json_t **out)
{
    static const char sql[] =
        "SELECT metrics FROM epochs WHERE job_id = ? AND epoch > ? ORDER BY epoch LIMIT ?";
    *out = NULL;
    enum job_state state;
    int e = after == 0 ? sqlite_job_state(id, &state) : STORE_OK;
    if (e != STORE_OK)
        return e;
    sqlite3_stmt *st = db_prepare(sql);
    json_t *rows = json_array();
    if (!st || !rows) {
        db_done(st);
        json_decref(rows);
        return STORE_ERROR;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, after);
    sqlite3_bind_int(st, 3, limit);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *r = db_column_json(st, 0);
        if (json_is_object(r))
            json_array_append_new(rows, r);
        else
            json_decref(r);
    }
    db_done(st);
    if (rc != SQLITE_DONE) {
        json_decref(rows);
        return db_failed("reading a job's epochs");
    }
    *out = rows;
    return STORE_OK;
}

int sqlite_job_counts(long counts[JOB_STATE_COUNT])
{
    static const char sql[] = "SELECT state, COUNT(*) FROM jobs GROUP BY state";
    for (int i = 0; i < JOB_STATE_COUNT; i++)
        counts[i] = 0;
    sqlite3_stmt *st = db_prepare(sql);
    if (!st)
        return STORE_ERROR;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int state = job_state_parse((const char *)sqlite3_column_text(st, 0));
        if (state >= 0)
            counts[state] = (long)sqlite3_column_int64(st, 1);
    }
    db_done(st);
    return rc == SQLITE_DONE ? STORE_OK : db_failed("counting jobs");
}

/* ---- checkpoints ---- */

struct cp_write {
    const char *id;
    int attempt;
    const struct checkpoint *c;
    const json_t *row;
    double progress, eta;
};

static int cp_write(void *arg)
{
    static const char sql[] =
        "INSERT OR REPLACE INTO checkpoints (job_id, epoch, net, rng, state) "
        "VALUES (?, ?, ?, ?, ?)";
    static const char best[] = "INSERT OR REPLACE INTO checkpoint_best (job_id, net) "
                               "VALUES (?, ?)";
    static const char no_best[] = "DELETE FROM checkpoint_best WHERE job_id = ?";
    struct cp_write *w = arg;
    int fenced = fence(w->id, w->attempt);
    if (fenced)
        return fenced;
    if (w->row && epoch_write(w->id, w->c->epoch, w->row, w->progress, w->eta) < 0)
        return STORE_ERROR;
    sqlite3_stmt *st = db_prepare(sql);
    if (!st)
        return STORE_ERROR;
    sqlite3_bind_text(st, 1, w->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, w->c->epoch);
    sqlite3_bind_blob64(st, 3, w->c->net, w->c->net_len, SQLITE_STATIC);
    sqlite3_bind_blob64(st, 4, w->c->rng, w->c->rng_len, SQLITE_STATIC);
    db_bind_json(st, 5, w->c->state);
    if (db_exec(st) < 0)
        return STORE_ERROR;
    if (!w->c->best_changed)
        return 0;
    if (!(st = db_prepare(w->c->best ? best : no_best)))
        return STORE_ERROR;
    sqlite3_bind_text(st, 1, w->id, -1, SQLITE_TRANSIENT);
    if (w->c->best)
        sqlite3_bind_blob64(st, 2, w->c->best, w->c->best_len, SQLITE_STATIC);
    return db_exec(st);
}

int sqlite_checkpoint_save(const char *id, int attempt, const struct checkpoint *c,
                           const json_t *row, double progress, double eta)
{
    struct cp_write w = {id, attempt, c, row, progress, eta};
    return db_transaction(DB_GROWS, cp_write, &w);
}

int sqlite_checkpoint_load(const char *id, struct checkpoint *c)
{
    static const char sql[] =
        "SELECT c.epoch, c.net, c.rng, b.net, c.state FROM checkpoints c "
        "LEFT JOIN checkpoint_best b ON b.job_id = c.job_id WHERE c.job_id = ?";
    memset(c, 0, sizeof *c);
    sqlite3_stmt *st = db_prepare(sql);
    if (!st)
        return STORE_ERROR;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        c->epoch = sqlite3_column_int(st, 0);
        c->net = db_column_blob(st, 1, &c->net_len);
        c->rng = db_column_blob(st, 2, &c->rng_len);
        c->best = db_column_blob(st, 3, &c->best_len);
        c->state = db_column_json(st, 4);
    }
    db_done(st);
    if (rc == SQLITE_DONE)
        return STORE_NOT_FOUND;
    if (rc != SQLITE_ROW || !c->net || !c->rng) {
        checkpoint_free(c);
        return STORE_ERROR;
    }
    return STORE_OK;
}

void checkpoint_free(struct checkpoint *c)
{
    free(c->net);
    free(c->rng);
    free(c->best);
    json_decref(c->state);
    memset(c, 0, sizeof *c);
}
