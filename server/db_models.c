/* db_models.c -- SQL for trained models. */
#include "db.h"
#include "store.h"

#include "app.h"

#include <stdlib.h>
#include <string.h>

int db_model_insert(const struct model_row *m)
{
    static const char sql[] =
        "INSERT INTO models (id, job_id, name, created_at, network, dataset_id, label_kind, "
        "classes, metrics, scaler, net) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    sqlite3_stmt *st = db_prepare(sql);
    if (!st)
        return -1;
    char now[32];
    now_iso(now);
    sqlite3_bind_text(st, 1, m->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, m->job_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, m->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, now, -1, SQLITE_TRANSIENT);
    db_bind_json(st, 5, m->network);
    sqlite3_bind_text(st, 6, m->dataset_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 7, m->label_kind, -1, SQLITE_TRANSIENT);
    db_bind_json(st, 8, m->classes);
    db_bind_json(st, 9, m->metrics);
    if (m->scaler)
        sqlite3_bind_blob64(st, 10, m->scaler, m->scaler_len, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 10);
    sqlite3_bind_blob64(st, 11, m->net, m->net_len, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    db_done(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

#define MODEL_COLS "id, job_id, name, created_at, network, dataset_id, label_kind, classes, " \
                   "metrics, scaler IS NOT NULL"

static json_t *model_of(sqlite3_stmt *st)
{
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:b}",
                     "id", db_column_string(st, 0), "job", db_column_string(st, 1),
                     "name", db_column_string(st, 2), "created_at", db_column_string(st, 3),
                     "network", db_column_json(st, 4), "dataset", db_column_string(st, 5),
                     "label_kind", db_column_string(st, 6), "classes", db_column_json(st, 7),
                     "metrics", db_column_json(st, 8), "standardize",
                     sqlite3_column_int(st, 9));
}

json_t *db_model_get(const char *id)
{
    static const char sql[] = "SELECT " MODEL_COLS " FROM models WHERE id = ?";
    return db_row_by_id(sql, id, model_of);
}

json_t *db_model_list(int limit, const char *after)
{
    static const char sql[] =
        "SELECT " MODEL_COLS " FROM models WHERE rowid > COALESCE((SELECT rowid FROM models "
        "WHERE id = ?1), 0) ORDER BY rowid LIMIT ?2";
    sqlite3_stmt *st = db_prepare(sql);
    if (!st)
        return NULL;
    sqlite3_bind_text(st, 1, after, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, limit + 1);
    return db_page(st, limit, model_of);
}

int db_model_delete(const char *id)
{
    static const char sql[] = "DELETE FROM models WHERE id = ?";
    sqlite3_stmt *st = db_prepare(sql);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    db_done(st);
    if (rc != SQLITE_DONE)
        return -1;
    return sqlite3_changes(db_conn()) ? 0 : 1;
}

int db_model_load(const char *id, struct model_data *m)
{
    static const char sql[] =
        "SELECT net, scaler, label_kind, classes, network FROM models WHERE id = ?";
    memset(m, 0, sizeof *m);
    sqlite3_stmt *st = db_prepare(sql);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st), out = 1;
    if (rc == SQLITE_ROW) {
        out = -1;
        m->net_len = (size_t)sqlite3_column_bytes(st, 0);
        m->scaler_len = (size_t)sqlite3_column_bytes(st, 1);
        m->net = malloc(m->net_len + 1);
        m->scaler = m->scaler_len ? malloc(m->scaler_len) : NULL;
        if (m->net && (m->scaler || !m->scaler_len)) {
            memcpy(m->net, sqlite3_column_blob(st, 0), m->net_len);
            if (m->scaler_len)
                memcpy(m->scaler, sqlite3_column_blob(st, 1), m->scaler_len);
            snprintf(m->label_kind, sizeof m->label_kind, "%s",
                     (const char *)sqlite3_column_text(st, 2));
            m->classes = db_column_json(st, 3);
            m->network = db_column_json(st, 4);
            out = 0;
        }
    } else if (rc != SQLITE_DONE) {
        out = -1;
    }
    db_done(st);
    if (out < 0)
        model_data_free(m);
    return out;
}

void model_data_free(struct model_data *m)
{
    free(m->net);
    free(m->scaler);
    json_decref(m->classes);
    json_decref(m->network);
    memset(m, 0, sizeof *m);
}
