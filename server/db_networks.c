/* db_networks.c -- the SQL of stored networks (table `networks`, migrations/0001_init.sql).
 *
 * Definitions, summaries and warnings are stored as JSON text and handed back as JSON
 * values. Networks list in the order they were stored (rowid order: SQLite gives a new
 * row a rowid above every existing one), and a page starts after a network's rowid.
 */
#include "db.h"
#include "spec_json.h"

#include <stdio.h>
#include <string.h>

/* Binds text, or NULL for a NULL pointer. */
static int bind_text(sqlite3_stmt *st, int i, const char *s)
{
    return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
}

static void sql_error(const char *what)
{
    sqlite3 *db = db_conn();
    fprintf(stderr, "neurond: %s: %s\n", what, db ? sqlite3_errmsg(db) : "no database");
}

int network_insert(const char *id, const char *name, const char *created_at,
                   const char *definition, const char *summary, const char *warnings)
{
    static const char sql[] =
        "INSERT INTO networks (id, name, created_at, definition, summary, warnings) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
    sqlite3_stmt *st = db_prepare(sql);
    if (!st)
        return -1;
    int rc = -1;
    if (bind_text(st, 1, id) == SQLITE_OK && bind_text(st, 2, name) == SQLITE_OK &&
        bind_text(st, 3, created_at) == SQLITE_OK && bind_text(st, 4, definition) == SQLITE_OK &&
        bind_text(st, 5, summary) == SQLITE_OK && bind_text(st, 6, warnings) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_DONE)
        rc = 0;
    else
        sql_error("storing a network");
    db_done(st);
    return rc;
}

int network_get(const char *id, json_t **out)
{
    static const char sql[] =
        "SELECT id, name, created_at, definition, summary, warnings FROM networks WHERE id = ?1";
    *out = NULL;
    sqlite3_stmt *st = db_prepare(sql);
    if (!st)
        return -1;
    int rc = -1;
    if (bind_text(st, 1, id) != SQLITE_OK) {
        sql_error("reading a network");
    } else {
        int step = sqlite3_step(st);
        if (step == SQLITE_DONE) {
            rc = 1;
        } else if (step != SQLITE_ROW) {
            sql_error("reading a network");
        } else {
            json_t *v = json_object();
            if (v && json_object_set_new(v, "id", db_column_string(st, 0)) == 0 &&
                json_object_set_new(v, "name", db_column_string(st, 1)) == 0 &&
                json_object_set_new(v, "created_at", db_column_string(st, 2)) == 0 &&
                json_object_set_new(v, "definition", db_column_json(st, 3)) == 0 &&
                json_object_set_new(v, "summary", db_column_json(st, 4)) == 0 &&
                json_object_set_new(v, "warnings", db_column_json(st, 5)) == 0) {
                *out = v;
                rc = 0;
            } else {
                json_decref(v);
            }
        }
    }
    db_done(st);
    return rc;
}

/* The rowid of a network: 0 with *rowid, 1 when absent, -1 on error. */
static int rowid_of(const char *id, sqlite3_int64 *rowid)
{
    static const char sql[] = "SELECT rowid FROM networks WHERE id = ?1";
    sqlite3_stmt *st = db_prepare(sql);
    if (!st)
        return -1;
    int rc = -1;
    if (bind_text(st, 1, id) == SQLITE_OK) {
        int step = sqlite3_step(st);
        if (step == SQLITE_ROW) {
            *rowid = sqlite3_column_int64(st, 0);
            rc = 0;
        } else if (step == SQLITE_DONE) {
            rc = 1;
        }
    }
    if (rc < 0)
        sql_error("finding a network");
    db_done(st);
    return rc;
}

int network_list(int limit, const char *after, json_t **items, int *more)
{
    static const char sql[] =
        "SELECT id, name, created_at, json_extract(summary, '$.inputs'), "
        "json_extract(summary, '$.outputs'), json_extract(summary, '$.params') "
        "FROM networks WHERE rowid > ?1 ORDER BY rowid LIMIT ?2";
    *items = NULL;
    *more = 0;
    sqlite3_int64 from = 0;
    if (after) {
        int rc = rowid_of(after, &from);
        if (rc != 0)
            return rc;
    }
    sqlite3_stmt *st = db_prepare(sql);
    if (!st)
        return -1;
    json_t *arr = json_array();
    int rc = arr && sqlite3_bind_int64(st, 1, from) == SQLITE_OK &&
                     sqlite3_bind_int(st, 2, limit + 1) == SQLITE_OK ? 0 : -1;
    int step = SQLITE_DONE;
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
        if ((int)json_array_size(arr) == limit) {
            *more = 1;
            break;
        }
        json_t *v = json_object();
        if (!v || json_object_set_new(v, "id", db_column_string(st, 0)) < 0 ||
            json_object_set_new(v, "name", db_column_string(st, 1)) < 0 ||
            json_object_set_new(v, "created_at", db_column_string(st, 2)) < 0 ||
            json_object_set_new(v, "inputs", json_integer(sqlite3_column_int64(st, 3))) < 0 ||
            json_object_set_new(v, "outputs", json_integer(sqlite3_column_int64(st, 4))) < 0 ||
            json_object_set_new(v, "params", json_integer(sqlite3_column_int64(st, 5))) < 0) {
            json_decref(v);
            rc = -1;
        } else if (json_array_append_new(arr, v) < 0) {   /* it frees v */
            rc = -1;
        }
    }
    if (rc == 0 && step != SQLITE_ROW && step != SQLITE_DONE) {
        sql_error("listing networks");
        rc = -1;
    }
    db_done(st);
    if (rc < 0) {
        json_decref(arr);
        return -1;
    }
    *items = arr;
    return 0;
}

int network_delete(const char *id)
{
    static const char sql[] = "DELETE FROM networks WHERE id = ?1";
    sqlite3_stmt *st = db_prepare(sql);
    if (!st)
        return -1;
    int rc = -1;
    if (bind_text(st, 1, id) == SQLITE_OK && sqlite3_step(st) == SQLITE_DONE)
        rc = sqlite3_changes(db_conn()) > 0 ? 0 : 1;
    else
        sql_error("deleting a network");
    db_done(st);
    return rc;
}
