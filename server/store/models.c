/* models.c -- SQL for trained models. */
#include "db.h"

#include "format/format.h"

#include <stdlib.h>
#include <string.h>

void model_free(struct model *m)
{
    if (!m)
        return;
    free(m->name);
    json_decref(m->network);
    json_decref(m->classes);
    json_decref(m->metrics);
    json_decref(m->columns);
    free(m->scaler);
    free(m->label_scaler);
    free(m->net);
    memset(m, 0, sizeof *m);
}

int store_model_insert(const struct model *m)
{
    static const char sql[] =
        "INSERT INTO models (id, job_id, name, created_at, network, dataset_id, label_kind, "
        "classes, metrics, scaler, net, columns, label_scaler) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    sqlite3_stmt *st = db_prepare(sql);
    if (!st)
        return STORE_ERROR;
    char now[32];
    now_iso(now);
    db_bind_text(st, 1, m->id);
    db_bind_text(st, 2, m->job_id);
    db_bind_text(st, 3, m->name);
    db_bind_text(st, 4, *m->created_at ? m->created_at : now);
    db_bind_json(st, 5, m->network);
    db_bind_text(st, 6, m->dataset_id);
    db_bind_text(st, 7, label_kind_name(m->label_kind));
    db_bind_json(st, 8, m->classes);
    db_bind_json(st, 9, m->metrics);
    if (m->scaler)
        sqlite3_bind_blob64(st, 10, m->scaler, m->scaler_len, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 10);
    sqlite3_bind_blob64(st, 11, m->net, m->net_len, SQLITE_STATIC);
    db_bind_json(st, 12, m->columns);
    if (m->label_scaler)
        sqlite3_bind_blob64(st, 13, m->label_scaler, m->label_scaler_len, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 13);
    return db_exec(st) == 0 ? STORE_OK : STORE_ERROR;
}

#define MODEL_COLS "id, job_id, name, created_at, network, dataset_id, label_kind, classes, " \
                   "metrics, scaler, columns, label_scaler"

/* A row of MODEL_COLS into item. */
static int model_read(sqlite3_stmt *st, void *item)
{
    struct model *m = item;
    db_column_copy(st, 0, m->id, sizeof m->id);
    db_column_copy(st, 1, m->job_id, sizeof m->job_id);
    m->name = db_column_dup(st, 2);
    db_column_copy(st, 3, m->created_at, sizeof m->created_at);
    m->network = db_column_json(st, 4);
    db_column_copy(st, 5, m->dataset_id, sizeof m->dataset_id);
    int kind = label_kind_parse((const char *)sqlite3_column_text(st, 6));
    m->label_kind = kind >= 0 ? (enum label_kind)kind : LABELS_NUMBERS;
    m->classes = db_column_json(st, 7);
    m->metrics = db_column_json(st, 8);
    m->scaler = db_column_blob(st, 9, &m->scaler_len);
    m->standardized = m->scaler != NULL;
    m->columns = sqlite3_column_type(st, 10) == SQLITE_NULL ? NULL : db_column_json(st, 10);
    m->label_scaler = db_column_blob(st, 11, &m->label_scaler_len);
    return m->network && m->metrics && (m->scaler || !m->scaler_len) &&
                   (m->label_scaler || !m->label_scaler_len) &&
                   (m->columns || sqlite3_column_type(st, 10) == SQLITE_NULL)
               ? 0 : -1;
}

static void model_item_free(void *item) { model_free(item); }

/* A row of MODEL_COLS, then the network buffer. */
static int model_read_blobs(sqlite3_stmt *st, void *item)
{
    struct model *m = item;
    if (model_read(st, m) < 0)
        return -1;
    m->net = db_column_blob(st, 12, &m->net_len);
    return m->net ? 0 : -1;
}

/* One model by id, with its blobs when `blobs`. */
static int model_by_id(const char *id, struct model *m, int blobs)
{
    static const char sql[] = "SELECT " MODEL_COLS " FROM models WHERE id = ?";
    static const char sql_blobs[] = "SELECT " MODEL_COLS ", net FROM models WHERE id = ?";
    memset(m, 0, sizeof *m);
    int rc = db_row(blobs ? sql_blobs : sql, id, blobs ? model_read_blobs : model_read, m,
                    "reading a model");
    if (rc != STORE_OK)
        model_free(m);
    return rc;
}

int store_model_get(const char *id, struct model *m) { return model_by_id(id, m, 0); }
int store_model_load(const char *id, struct model *m) { return model_by_id(id, m, 1); }

int store_model_list(int limit, const char *after, struct model **items, int *n, int *more)
{
    static const char sql[] =
        "SELECT " MODEL_COLS " FROM models WHERE rowid > COALESCE((SELECT rowid FROM models "
        "WHERE id = ?1), 0) ORDER BY rowid LIMIT ?2";
    static const char known[] = "SELECT 1 FROM models WHERE id = ?1";
    *items = NULL;
    *n = *more = 0;
    int e = after ? db_row(known, after, NULL, NULL, "finding a model") : STORE_OK;
    if (e != STORE_OK)
        return e;
    sqlite3_stmt *st = db_prepare(sql);
    if (!st || db_bind_text(st, 1, after) || sqlite3_bind_int(st, 2, limit + 1) != SQLITE_OK) {
        db_done(st);
        return STORE_ERROR;
    }
    return db_page(st, limit, sizeof **items, model_read, model_item_free, (void **)items, n,
                   more);
}

static int delete_tx(void *arg)
{
    static const char sql[] = "DELETE FROM models WHERE id = ?";
    sqlite3_stmt *st = db_prepare(sql);
    if (!st || db_bind_text(st, 1, arg) || db_exec(st) < 0) {
        db_done(st);
        return STORE_ERROR;
    }
    return sqlite3_changes(db_conn()) ? STORE_OK : STORE_NOT_FOUND;
}

int store_model_delete(const char *id)
{
    return db_transaction(DB_SHRINKS, delete_tx, (void *)id);
}
