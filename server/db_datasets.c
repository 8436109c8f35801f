/* db_datasets.c -- the datasets table: store, describe, list, delete, and load the arrays
 * for training. Every SQL statement about datasets is in this file.
 *
 * x and y are float32 BLOBs, little-endian (swapped on a big-endian host); classes,
 * columns, stats and label_column are JSON text. The BLOBs are the table's last columns
 * (migrations/0002), so describing and listing never read through them. They are written
 * and read with SQLite's incremental BLOB I/O, a megabyte at a time, so that storing or
 * loading a large dataset never needs a second copy of its arrays in memory (a bound
 * BLOB would be copied whole into the record, a selected one into the column value).
 */
#include "app.h"
#include "datasets.h"
#include "db.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define HOST_BIG_ENDIAN 1
#else
#define HOST_BIG_ENDIAN 0
#endif

/* Swaps the bytes of n floats in place (little-endian storage on a big-endian host). */
static void swap_floats(float *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &a[i], 4);
        u = __builtin_bswap32(u);
        memcpy(&a[i], &u, 4);
    }
}

/* The columns a description is read from, in this order; stats last (describe only). */
#define DESC_COLUMNS "id, name, created_at, rows, features, label_kind, label_cols, classes, " \
                     "columns, label_column"

static const char sql_insert[] =
    "INSERT INTO datasets (id, name, created_at, rows, features, label_kind, label_cols, "
    "classes, columns, stats, label_column, x, y) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, zeroblob(?12), zeroblob(?13))";
static const char sql_get[] = "SELECT " DESC_COLUMNS ", stats FROM datasets WHERE id = ?1";
static const char sql_list[] =
    "SELECT " DESC_COLUMNS " FROM datasets ORDER BY created_at, id LIMIT ?1";
static const char sql_list_after[] =
    "SELECT " DESC_COLUMNS " FROM datasets "
    "WHERE (created_at, id) > (SELECT created_at, id FROM datasets WHERE id = ?2) "
    "ORDER BY created_at, id LIMIT ?1";
static const char sql_exists[] = "SELECT 1 FROM datasets WHERE id = ?1";
static const char sql_in_use[] =
    "SELECT 1 FROM jobs WHERE (dataset_id = ?1 OR val_dataset_id = ?1) "
    "AND state IN ('queued', 'running') LIMIT 1";
static const char sql_delete[] = "DELETE FROM datasets WHERE id = ?1";
static const char sql_load[] =
    "SELECT rows, features, label_kind, label_cols, classes, rowid, length(x), length(y) "
    "FROM datasets WHERE id = ?1";

#define BLOB_CHUNK (1 << 20)   /* bytes per incremental BLOB read or write */

/* Writes n floats into column col of the row (little-endian). 0, or -1. */
static int write_floats(sqlite3 *db, const char *col, sqlite3_int64 rowid, const float *a,
                        size_t n)
{
    sqlite3_blob *bh = NULL;
    if (sqlite3_blob_open(db, "main", "datasets", col, rowid, 1, &bh) != SQLITE_OK) {
        sqlite3_blob_close(bh);
        return -1;
    }
    float *tmp = HOST_BIG_ENDIAN ? malloc(BLOB_CHUNK) : NULL;
    int rc = HOST_BIG_ENDIAN && !tmp ? -1 : 0;
    size_t per = BLOB_CHUNK / sizeof(float);
    for (size_t i = 0; i < n && rc == 0; i += per) {
        size_t k = n - i < per ? n - i : per;
        const float *src = a + i;
        if (HOST_BIG_ENDIAN) {
            memcpy(tmp, src, k * sizeof(float));
            swap_floats(tmp, k);
            src = tmp;
        }
        if (sqlite3_blob_write(bh, src, (int)(k * sizeof(float)), (int)(i * sizeof(float))) !=
            SQLITE_OK)
            rc = -1;
    }
    free(tmp);
    if (sqlite3_blob_close(bh) != SQLITE_OK)
        rc = -1;
    return rc;
}

struct insert {
    struct dataset_build *b;
    const char *name;
    json_t *stats;
    int toobig;
};

/* The row with zero-filled BLOBs, then the arrays written into them (one transaction). */
static int insert_tx(void *ctx)
{
    struct insert *in = ctx;
    struct dataset_build *b = in->b;
    struct dataset *d = &b->d;
    sqlite3 *db = db_conn();
    sqlite3_stmt *st = db_prepare(sql_insert);
    if (!db || !st)
        return -1;
    size_t nx = (size_t)d->rows * (size_t)d->features, ny = (size_t)d->rows * (size_t)d->label_cols;
    char created[32];
    now_iso(created);
    int rc = -1;
    if (sqlite3_bind_text(st, 1, d->id, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
        sqlite3_bind_text(st, 2, in->name, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
        sqlite3_bind_text(st, 3, created, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
        sqlite3_bind_int(st, 4, d->rows) != SQLITE_OK ||
        sqlite3_bind_int(st, 5, d->features) != SQLITE_OK ||
        sqlite3_bind_text(st, 6, d->label_kind, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
        sqlite3_bind_int(st, 7, d->label_cols) != SQLITE_OK || db_bind_json(st, 8, d->classes) ||
        db_bind_json(st, 9, b->columns) || db_bind_json(st, 10, in->stats) ||
        db_bind_json(st, 11, b->label_column) ||
        sqlite3_bind_int64(st, 12, (sqlite3_int64)(nx * sizeof(float))) != SQLITE_OK ||
        sqlite3_bind_int64(st, 13, (sqlite3_int64)(ny * sizeof(float))) != SQLITE_OK)
        goto done;
    int s = sqlite3_step(st);
    if (s == SQLITE_DONE) {
        sqlite3_int64 rowid = sqlite3_last_insert_rowid(db);
        if (write_floats(db, "x", rowid, d->x, nx) == 0 &&
            write_floats(db, "y", rowid, d->y, ny) == 0)
            rc = 0;
    } else if (s == SQLITE_TOOBIG) {
        in->toobig = 1;
    }
    if (rc < 0 && !in->toobig)
        fprintf(stderr, "neurond: storing dataset %s: %s\n", d->id, sqlite3_errmsg(db));
done:
    db_done(st);
    return rc;
}

int db_dataset_insert(struct dataset_build *b, const char *name, json_t *stats)
{
    struct dataset *d = &b->d;
    sqlite3 *db = db_conn();
    if (!db)
        return -1;
    size_t nx = (size_t)d->rows * (size_t)d->features, ny = (size_t)d->rows * (size_t)d->label_cols;
    sqlite3_int64 limit = sqlite3_limit(db, SQLITE_LIMIT_LENGTH, -1);
    if ((sqlite3_int64)(nx * sizeof(float)) >= limit ||
        (sqlite3_int64)(ny * sizeof(float)) >= limit)
        return -2;
    new_id(d->id, "ds_");
    struct insert in = {b, name, stats, 0};
    int rc = db_transaction(insert_tx, &in);
    if (rc < 0)
        d->id[0] = 0;
    return rc < 0 ? (in.toobig ? -2 : -1) : 0;
}

/* The description of the row st stands on (DESC_COLUMNS, then stats when with_stats).
 * New, NULL when out of memory. */
static json_t *row_json(sqlite3_stmt *st, int with_stats)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:i, s:o, s:s, s:i, s:o, s:o}",
                          "id", (const char *)sqlite3_column_text(st, 0),
                          "name", (const char *)sqlite3_column_text(st, 1),
                          "created_at", (const char *)sqlite3_column_text(st, 2),
                          "rows", sqlite3_column_int(st, 3),
                          "features", sqlite3_column_int(st, 4),
                          "columns", db_column_json(st, 8),
                          "label_kind", (const char *)sqlite3_column_text(st, 5),
                          "label_cols", sqlite3_column_int(st, 6),
                          "label_column", db_column_json(st, 9),
                          "classes", db_column_json(st, 7));
    if (o && with_stats && json_object_set_new(o, "stats", db_column_json(st, 10)) < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *dataset_describe(const char *id)
{
    sqlite3_stmt *st = db_prepare(sql_get);
    if (!st)
        return NULL;
    json_t *o = NULL;
    if (sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        o = row_json(st, 1);
    db_done(st);
    return o;
}

/* Does a dataset with this id exist? 1, 0, or -1 on a storage error. */
static int exists(const char *id)
{
    sqlite3_stmt *st = db_prepare(sql_exists);
    if (!st || sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT) != SQLITE_OK) {
        db_done(st);
        return -1;
    }
    int s = sqlite3_step(st);
    db_done(st);
    return s == SQLITE_ROW ? 1 : s == SQLITE_DONE ? 0 : -1;
}

int db_dataset_list(int limit, const char *after, json_t **items, char *next)
{
    *items = NULL;
    *next = 0;
    if (after) {
        int e = exists(after);
        if (e <= 0)
            return e < 0 ? -1 : 1;
    }
    sqlite3_stmt *st = db_prepare(after ? sql_list_after : sql_list);
    json_t *arr = json_array();
    if (!st || !arr || sqlite3_bind_int(st, 1, limit + 1) != SQLITE_OK ||
        (after && sqlite3_bind_text(st, 2, after, -1, SQLITE_TRANSIENT) != SQLITE_OK))
        goto fail;
    int s, n = 0;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (n++ == limit) {   /* one more than asked: there is a next page */
            json_t *last = json_array_get(arr, json_array_size(arr) - 1);
            snprintf(next, 32, "%s", json_string_value(json_object_get(last, "id")));
            break;
        }
        if (json_array_append_new(arr, row_json(st, 0)) < 0)
            goto fail;
    }
    if (s != SQLITE_ROW && s != SQLITE_DONE)
        goto fail;
    db_done(st);
    *items = arr;
    return 0;
fail:
    db_done(st);
    json_decref(arr);
    *next = 0;
    return -1;
}

static int delete_tx(void *ctx)
{
    const char *id = ctx;
    int e = exists(id);
    if (e <= 0)
        return e < 0 ? -1 : 1;
    sqlite3_stmt *st = db_prepare(sql_in_use);
    if (!st || sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT) != SQLITE_OK) {
        db_done(st);
        return -1;
    }
    int s = sqlite3_step(st);
    db_done(st);
    if (s == SQLITE_ROW)
        return 2;
    if (s != SQLITE_DONE)
        return -1;
    st = db_prepare(sql_delete);
    if (!st || sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT) != SQLITE_OK) {
        db_done(st);
        return -1;
    }
    s = sqlite3_step(st);
    db_done(st);
    return s == SQLITE_DONE ? 0 : -1;
}

int db_dataset_delete(const char *id)
{
    return db_transaction(delete_tx, (void *)id);
}

/* Reads column col of the row: n floats, `bytes` long as stored. New, NULL when the
 * sizes disagree or on an error. */
static float *read_floats(sqlite3 *db, const char *col, sqlite3_int64 rowid, size_t n,
                          sqlite3_int64 bytes)
{
    if (bytes != (sqlite3_int64)(n * sizeof(float)))
        return NULL;
    sqlite3_blob *bh = NULL;
    float *a = malloc(n * sizeof(float));
    if (!a || sqlite3_blob_open(db, "main", "datasets", col, rowid, 0, &bh) != SQLITE_OK) {
        sqlite3_blob_close(bh);
        free(a);
        return NULL;
    }
    size_t per = BLOB_CHUNK / sizeof(float);
    int ok = 1;
    for (size_t i = 0; i < n && ok; i += per) {
        size_t k = n - i < per ? n - i : per;
        ok = sqlite3_blob_read(bh, a + i, (int)(k * sizeof(float)), (int)(i * sizeof(float))) ==
             SQLITE_OK;
    }
    sqlite3_blob_close(bh);
    if (!ok) {
        free(a);
        return NULL;
    }
    if (HOST_BIG_ENDIAN)
        swap_floats(a, n);
    return a;
}

/* The row stays selected while its BLOBs are read: the statement's read transaction keeps
 * them from changing under the reads. */
int dataset_load(const char *id, struct dataset *d)
{
    memset(d, 0, sizeof *d);
    sqlite3 *db = db_conn();
    sqlite3_stmt *st = db_prepare(sql_load);
    if (!db || !st || sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT) != SQLITE_OK) {
        db_done(st);
        return -1;
    }
    int s = sqlite3_step(st), rc = -1;
    if (s == SQLITE_DONE)
        rc = 1;
    if (s != SQLITE_ROW)
        goto done;
    snprintf(d->id, sizeof d->id, "%s", id);
    d->rows = sqlite3_column_int(st, 0);
    d->features = sqlite3_column_int(st, 1);
    snprintf(d->label_kind, sizeof d->label_kind, "%s", (const char *)sqlite3_column_text(st, 2));
    d->label_cols = sqlite3_column_int(st, 3);
    if (sqlite3_column_type(st, 4) != SQLITE_NULL) {
        json_t *c = db_column_json(st, 4);
        d->classes = json_is_array(c) ? c : NULL;
        if (!d->classes)
            json_decref(c);
    }
    sqlite3_int64 rowid = sqlite3_column_int64(st, 5);
    if (d->rows > 0 && d->features > 0 && d->label_cols > 0 &&
        (d->x = read_floats(db, "x", rowid, (size_t)d->rows * (size_t)d->features,
                            sqlite3_column_int64(st, 6))) &&
        (d->y = read_floats(db, "y", rowid, (size_t)d->rows * (size_t)d->label_cols,
                            sqlite3_column_int64(st, 7))))
        rc = 0;
    else
        fprintf(stderr, "neurond: dataset %s: its stored arrays cannot be read, or do not "
                "match its shape\n", id);
done:
    db_done(st);
    if (rc != 0)
        dataset_free(d);
    return rc;
}

int dataset_label_range(const char *id, float *lo, float *hi)
{
    sqlite3 *db = db_conn();
    sqlite3_stmt *st = db_prepare(sql_load);
    if (!db || !st || sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT) != SQLITE_OK) {
        db_done(st);
        return -1;
    }
    int s = sqlite3_step(st), rc = s == SQLITE_DONE ? 1 : -1;
    if (s == SQLITE_ROW) {
        size_t n = (size_t)sqlite3_column_int(st, 0) * (size_t)sqlite3_column_int(st, 3);
        float *y = n ? read_floats(db, "y", sqlite3_column_int64(st, 5), n,
                                   sqlite3_column_int64(st, 7))
                     : NULL;
        if (y) {
            *lo = *hi = y[0];
            for (size_t i = 1; i < n; i++) {
                *lo = y[i] < *lo ? y[i] : *lo;
                *hi = y[i] > *hi ? y[i] : *hi;
            }
            rc = 0;
        }
        free(y);
    }
    db_done(st);
    return rc;
}

void dataset_free(struct dataset *d)
{
    if (!d)
        return;
    free(d->x);
    free(d->y);
    json_decref(d->classes);
    d->x = d->y = NULL;
    d->classes = NULL;
}
