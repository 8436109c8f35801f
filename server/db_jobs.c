/* db_jobs.c -- SQL for the job queue, its epoch rows and checkpoints. */
#include "db.h"
#include "store.h"

#include "app.h"

#include <stdlib.h>
#include <string.h>

static int step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    db_done(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int db_job_insert(const char *id, const json_t *request, const char *network_id,
                  const char *dataset_id, const char *val_dataset_id, int epochs)
{
    /* the datasets must still exist when the job is stored (a DELETE may have come
     * between the check and the insert): one statement, so one atomic write */
    static const char sql[] =
        "INSERT INTO jobs (id, state, request, network_id, dataset_id, val_dataset_id, epochs, "
        "created_at) SELECT ?1, 'queued', ?2, ?3, ?4, ?5, ?6, ?7 WHERE EXISTS "
        "(SELECT 1 FROM datasets WHERE id = ?4) AND (?5 IS NULL OR EXISTS "
        "(SELECT 1 FROM datasets WHERE id = ?5))";
    sqlite3_stmt *st = db_prepare(sql);
    if (!st)
        return -1;
    char now[32];
    now_iso(now);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    db_bind_json(st, 2, request);
    sqlite3_bind_text(st, 3, network_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, dataset_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, val_dataset_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 6, epochs);
    sqlite3_bind_text(st, 7, now, -1, SQLITE_TRANSIENT);
    if (step_done(st) < 0)
        return -1;
    return sqlite3_changes(db_conn()) == 1 ? 0 : 1;
}

#define JOB_COLS "id, state, request, epoch, epochs, progress, latest, eta_seconds, error, " \
                 "model_id, created_at, started_at, finished_at, seq"

/* A job row (JOB_COLS) as the API shows it: the request's fields, then the state. */
static json_t *job_of(sqlite3_stmt *st)
{
    json_t *j = db_column_json(st, 2);
    if (!json_is_object(j)) {
        json_decref(j);
        j = json_object();
    }
    json_t *latest = db_column_json(st, 6);
    json_object_set_new(j, "id", db_column_string(st, 0));
    json_object_set_new(j, "state", db_column_string(st, 1));
    json_object_set_new(j, "epoch", json_integer(sqlite3_column_int(st, 3)));
    json_object_set_new(j, "epochs", json_integer(sqlite3_column_int(st, 4)));
    json_object_set_new(j, "progress", json_real(sqlite3_column_double(st, 5)));
    static const char *const from_latest[] = {"loss", "val_loss", "metrics", "val_metrics"};
    for (int k = 0; k < 4; k++) {
        json_t *v = json_object_get(latest, from_latest[k]);
        json_object_set_new(j, from_latest[k], v ? json_incref(v) : json_null());
    }
    json_decref(latest);
    json_object_set_new(j, "eta_seconds", sqlite3_column_type(st, 7) == SQLITE_NULL
                                              ? json_null()
                                              : json_real(sqlite3_column_double(st, 7)));
    json_object_set_new(j, "error", db_column_json(st, 8));
    json_object_set_new(j, "model", db_column_string(st, 9));
    json_object_set_new(j, "created_at", db_column_string(st, 10));
    json_object_set_new(j, "started_at", db_column_string(st, 11));
    json_object_set_new(j, "finished_at", db_column_string(st, 12));
    return j;
}

json_t *db_job_get(const char *id)
{
    static const char sql[] = "SELECT " JOB_COLS " FROM jobs WHERE id = ?";
    return db_row_by_id(sql, id, job_of);
}

static json_t *first_column(sqlite3_stmt *st) { return db_column_json(st, 0); }

json_t *db_job_request(const char *id)
{
    static const char sql[] = "SELECT request FROM jobs WHERE id = ?";
    return db_row_by_id(sql, id, first_column);
}

json_t *db_job_list(const char *state, int limit, const char *after)
{
    /* queue order; `after` is the id of the last item of the previous page */
    static const char sql[] =
        "SELECT " JOB_COLS " FROM jobs WHERE (?1 IS NULL OR state = ?1) AND seq > "
        "COALESCE((SELECT seq FROM jobs WHERE id = ?2), 0) ORDER BY seq LIMIT ?3";
    sqlite3_stmt *st = db_prepare(sql);
    if (!st)
        return NULL;
    sqlite3_bind_text(st, 1, state, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, after, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 3, limit + 1);
    return db_page(st, limit, job_of);
}

int db_job_claim(char *id)
{
    static const char sql[] =
        "UPDATE jobs SET state = 'running', started_at = COALESCE(started_at, ?) "
        "WHERE seq = (SELECT seq FROM jobs WHERE state = 'queued' ORDER BY seq LIMIT 1) "
        "RETURNING id";
    sqlite3_stmt *st = db_prepare(sql);
    if (!st)
        return -1;
    char now[32];
    now_iso(now);
    sqlite3_bind_text(st, 1, now, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st), got = 0;
    if (rc == SQLITE_ROW) {
        snprintf(id, 32, "%s", (const char *)sqlite3_column_text(st, 0));
        got = 1;
        rc = sqlite3_step(st);
    }
    db_done(st);
    return rc == SQLITE_DONE ? got : -1;
}

int db_job_requeue_running(void)
{
    static const char sql[] = "UPDATE jobs SET state = 'queued' WHERE state = 'running'";
    sqlite3_stmt *st = db_prepare(sql);
    if (!st || step_done(st) < 0)
        return -1;
    return sqlite3_changes(db_conn());
}

int db_job_epoch(const char *id, int epoch, const json_t *row, double progress, double eta)
{
    static const char ins[] = "INSERT OR REPLACE INTO epochs (job_id, epoch, metrics) "
                              "VALUES (?, ?, ?)";
    static const char upd[] = "UPDATE jobs SET epoch = ?, progress = ?, latest = ?, "
                              "eta_seconds = ? WHERE id = ?";
    sqlite3_stmt *a = db_prepare(ins);
    if (!a)
        return -1;
    sqlite3_bind_text(a, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(a, 2, epoch);
    db_bind_json(a, 3, row);
    if (step_done(a) < 0)
        return -1;
    sqlite3_stmt *b = db_prepare(upd);
    if (!b)
        return -1;
    sqlite3_bind_int(b, 1, epoch);
    sqlite3_bind_double(b, 2, progress);
    db_bind_json(b, 3, row);
    sqlite3_bind_double(b, 4, eta);
    sqlite3_bind_text(b, 5, id, -1, SQLITE_TRANSIENT);
    return step_done(b);
}

int db_job_progress(const char *id, double progress, double eta)
{
    static const char sql[] = "UPDATE jobs SET progress = ?, eta_seconds = ? WHERE id = ?";
    sqlite3_stmt *st = db_prepare(sql);
    if (!st)
        return -1;
    sqlite3_bind_double(st, 1, progress);
    sqlite3_bind_double(st, 2, eta);
    sqlite3_bind_text(st, 3, id, -1, SQLITE_TRANSIENT);
    return step_done(st);
}

struct finish {
    const char *id, *state;
    const json_t *error;
    const struct model_row *model;
};

/* A job that ends drops its checkpoint: the model (if any) holds what it trained. */
static int drop_checkpoint(const char *id)
{
    static const char *const sql[] = {"DELETE FROM checkpoints WHERE job_id = ?",
                                      "DELETE FROM checkpoint_best WHERE job_id = ?"};
    for (int i = 0; i < 2; i++) {
        sqlite3_stmt *st = db_prepare(sql[i]);
        if (!st)
            return -1;
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        if (step_done(st) < 0)
            return -1;
    }
    return 0;
}

static int finish_tx(void *arg)
{
    static const char sql[] =
        "UPDATE jobs SET state = ?1, error = ?2, model_id = COALESCE(?3, model_id), "
        "finished_at = CASE WHEN ?1 = 'queued' THEN NULL ELSE ?4 END, "
        "progress = CASE WHEN ?1 = 'succeeded' THEN 1 ELSE progress END, "
        "eta_seconds = CASE WHEN ?1 = 'queued' THEN eta_seconds ELSE NULL END WHERE id = ?5";
    const struct finish *f = arg;
    if (f->model && db_model_insert(f->model) < 0)
        return -1;
    sqlite3_stmt *st = db_prepare(sql);
    if (!st)
        return -1;
    char now[32];
    now_iso(now);
    sqlite3_bind_text(st, 1, f->state, -1, SQLITE_TRANSIENT);
    db_bind_json(st, 2, f->error);
    sqlite3_bind_text(st, 3, f->model ? f->model->id : NULL, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, now, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, f->id, -1, SQLITE_TRANSIENT);
    if (step_done(st) < 0)
        return -1;
    return strcmp(f->state, "queued") == 0 ? 0 : drop_checkpoint(f->id);
}

int db_job_finish(const char *id, const char *state, const json_t *error,
                  const struct model_row *model)
{
    struct finish f = {id, state, error, model};
    return db_transaction(finish_tx, &f) < 0 ? -1 : 0;
}

static int cancel_tx(void *id)
{
    static const char upd[] = "UPDATE jobs SET state = 'cancelled', finished_at = ? "
                              "WHERE id = ? AND state = 'queued'";
    sqlite3_stmt *st = db_prepare(upd);
    if (!st)
        return -1;
    char now[32];
    now_iso(now);
    sqlite3_bind_text(st, 1, now, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
    if (step_done(st) < 0)
        return -1;
    if (sqlite3_changes(db_conn()) != 1)
        return 0;
    /* queued with a checkpoint: it was running when the service stopped */
    return drop_checkpoint(id) < 0 ? -1 : 1;
}

int db_job_cancel_queued(const char *id, char *state)
{
    static const char get[] = "SELECT state FROM jobs WHERE id = ?";
    sqlite3_stmt *a = db_prepare(get);
    if (!a)
        return -1;
    sqlite3_bind_text(a, 1, id, -1, SQLITE_TRANSIENT);
    int found = sqlite3_step(a) == SQLITE_ROW;
    if (found)
        snprintf(state, 16, "%s", (const char *)sqlite3_column_text(a, 0));
    db_done(a);
    return found ? db_transaction(cancel_tx, (void *)id) : -1;
}

json_t *db_job_epochs(const char *id)
{
    static const char exists[] = "SELECT 1 FROM jobs WHERE id = ?";
    sqlite3_stmt *a = db_prepare(exists);
    if (!a)
        return NULL;
    sqlite3_bind_text(a, 1, id, -1, SQLITE_TRANSIENT);
    int found = sqlite3_step(a) == SQLITE_ROW;
    db_done(a);
    return found ? db_job_epochs_after(id, 0, -1) : NULL;   /* LIMIT -1: no limit */
}

json_t *db_job_epochs_after(const char *id, int after, int limit)
{
    static const char sql[] =
        "SELECT metrics FROM epochs WHERE job_id = ? AND epoch > ? ORDER BY epoch LIMIT ?";
    sqlite3_stmt *st = db_prepare(sql);
    if (!st)
        return NULL;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, after);
    sqlite3_bind_int(st, 3, limit);
    json_t *rows = json_array();
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
        return NULL;
    }
    return rows;
}

/* ---- checkpoints ---- */

struct cp_write {
    const char *id;
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
    if (w->row && db_job_epoch(w->id, w->c->epoch, w->row, w->progress, w->eta) < 0)
        return -1;
    sqlite3_stmt *st = db_prepare(sql);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, w->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, w->c->epoch);
    sqlite3_bind_blob64(st, 3, w->c->net, w->c->net_len, SQLITE_STATIC);
    sqlite3_bind_blob64(st, 4, w->c->rng, w->c->rng_len, SQLITE_STATIC);
    db_bind_json(st, 5, w->c->state);
    if (step_done(st) < 0)
        return -1;
    if (!w->c->best_changed)
        return 0;
    if (!(st = db_prepare(w->c->best ? best : no_best)))
        return -1;
    sqlite3_bind_text(st, 1, w->id, -1, SQLITE_TRANSIENT);
    if (w->c->best)
        sqlite3_bind_blob64(st, 2, w->c->best, w->c->best_len, SQLITE_STATIC);
    return step_done(st);
}

int db_checkpoint_save(const char *id, const struct checkpoint *c, const json_t *row,
                       double progress, double eta)
{
    struct cp_write w = {id, c, row, progress, eta};
    return db_transaction(cp_write, &w) < 0 ? -1 : 0;
}

static void *col_blob(sqlite3_stmt *st, int i, size_t *len)
{
    *len = (size_t)sqlite3_column_bytes(st, i);
    const void *p = sqlite3_column_blob(st, i);
    if (!p)
        return NULL;
    void *copy = malloc(*len ? *len : 1);
    if (copy)
        memcpy(copy, p, *len);
    return copy;
}

int db_checkpoint_load(const char *id, struct checkpoint *c)
{
    static const char sql[] =
        "SELECT c.epoch, c.net, c.rng, b.net, c.state FROM checkpoints c "
        "LEFT JOIN checkpoint_best b ON b.job_id = c.job_id WHERE c.job_id = ?";
    memset(c, 0, sizeof *c);
    sqlite3_stmt *st = db_prepare(sql);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        c->epoch = sqlite3_column_int(st, 0);
        c->net = col_blob(st, 1, &c->net_len);
        c->rng = col_blob(st, 2, &c->rng_len);
        c->best = col_blob(st, 3, &c->best_len);
        c->state = db_column_json(st, 4);
    }
    db_done(st);
    if (rc == SQLITE_DONE)
        return 1;
    if (rc != SQLITE_ROW || !c->net || !c->rng) {
        checkpoint_free(c);
        return -1;
    }
    return 0;
}

void checkpoint_free(struct checkpoint *c)
{
    free(c->net);
    free(c->rng);
    free(c->best);
    json_decref(c->state);
    memset(c, 0, sizeof *c);
}
