/* networks.c -- the SQL of stored networks (table `networks`, migrations/0001_init.sql).
 *
 * Definitions, summaries and warnings are stored as JSON text and handed back as JSON
 * values. Networks list in the order they were stored (rowid order: SQLite gives a new
 * row a rowid above every existing one), and a page starts after a network's rowid.
 */
#include "db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void network_free(struct network *n)
{
    if (!n)
        return;
    free(n->name);
    json_decref(n->definition);
    json_decref(n->summary);
    json_decref(n->warnings);
    memset(n, 0, sizeof *n);
}

static int insert_tx(void *arg)
{
    static const char sql[] =
        "INSERT INTO networks (id, name, created_at, definition, summary, warnings) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
    const struct network *n = arg;
    sqlite3_stmt *st = db_prepare(sql);
    if (!st)
        return STORE_ERROR;
    if (db_bind_text(st, 1, n->id) || db_bind_text(st, 2, n->name) ||
        db_bind_text(st, 3, n->created_at) || db_bind_json(st, 4, n->definition) ||
        db_bind_json(st, 5, n->summary) || db_bind_json(st, 6, n->warnings)) {
        db_done(st);
        return db_failed("storing a network");
    }
    return db_exec(st) == 0 ? STORE_OK : STORE_ERROR;
}

int sqlite_network_insert(const struct network *n)
{
    return db_transaction(DB_GROWS, insert_tx, (void *)n);
}

/* The first columns of both reads: id, name, created_at. 0, or -1 without memory. */
static int head_read(sqlite3_stmt *st, struct network *n)
{
    db_column_copy(st, 0, n->id, sizeof n->id);
    n->name = db_column_dup(st, 1);
    db_column_copy(st, 2, n->created_at, sizeof n->created_at);
    return sqlite3_column_type(st, 1) == SQLITE_NULL || n->name ? 0 : -1;
}

static int network_read(sqlite3_stmt *st, void *item)
{
    struct network *n = item;
    if (head_read(st, n) < 0)
        return -1;
    n->definition = db_column_json(st, 3);
    n->summary = db_column_json(st, 4);
    n->warnings = db_column_json(st, 5);
    return n->definition && n->summary && n->warnings ? 0 : -1;
}

int sqlite_network_get(const char *id, struct network *n)
{
    static const char sql[] =
        "SELECT id, name, created_at, definition, summary, warnings FROM networks WHERE id = ?1";
    memset(n, 0, sizeof *n);
    int rc = db_row(sql, id, network_read, n, "reading a network");
    if (rc != STORE_OK)
        network_free(n);
    return rc;
}

static int rowid_read(sqlite3_stmt *st, void *item)
{
    *(sqlite3_int64 *)item = sqlite3_column_int64(st, 0);
    return 0;
}

static int list_row(sqlite3_stmt *st, void *item)
{
    struct network *n = item;
    n->inputs = sqlite3_column_int(st, 3);
    n->outputs = sqlite3_column_int(st, 4);
    n->params = sqlite3_column_int64(st, 5);
    return head_read(st, n);
}

static void list_free(void *item) { network_free(item); }

int sqlite_network_list(int limit, const char *after, struct network **items, int *n,
                       int *more)
{
    static const char sql[] =
        "SELECT id, name, created_at, json_extract(summary, '$.inputs'), "
        "json_extract(summary, '$.outputs'), json_extract(summary, '$.params') "
        "FROM networks WHERE rowid > ?1 ORDER BY rowid LIMIT ?2";
    *items = NULL;
    *n = *more = 0;
    sqlite3_int64 from = 0;
    if (after) {
        int rc = db_row("SELECT rowid FROM networks WHERE id = ?1", after, rowid_read, &from,
                        "finding a network");
        if (rc != STORE_OK)
            return rc;
    }
    sqlite3_stmt *st = db_prepare(sql);
    if (!st || sqlite3_bind_int64(st, 1, from) != SQLITE_OK ||
        sqlite3_bind_int(st, 2, limit + 1) != SQLITE_OK) {
        db_done(st);
        return STORE_ERROR;
    }
    return db_page(st, limit, sizeof **items, list_row, list_free, (void **)items, n, more);
}

static int delete_tx(void *arg)
{
    static const char sql[] = "DELETE FROM networks WHERE id = ?1";
    sqlite3_stmt *st = db_prepare(sql);
    if (!st)
        return STORE_ERROR;
    if (db_bind_text(st, 1, arg) || db_exec(st) < 0) {
        db_done(st);
        return STORE_ERROR;
    }
    return sqlite3_changes(db_conn()) > 0 ? STORE_OK : STORE_NOT_FOUND;
}

int sqlite_network_delete(const char *id)
{
    return db_transaction(DB_SHRINKS, delete_tx, (void *)id);
}
