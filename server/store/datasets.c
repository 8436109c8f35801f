/* datasets.c -- the datasets table: store, describe, list, delete, and load the arrays
 * for training. Every SQL statement about datasets is in this file.
 *
 * x and y are float32 BLOBs, little-endian (swapped on a big-endian host); classes,
 * columns, stats and label_column are JSON text. The BLOBs are the table's last columns
 * (migrations/0002), so describing and listing never read through them. They are written
 * and read with SQLite's incremental BLOB I/O, a megabyte at a time, so that storing or
 * loading a large dataset never needs a second copy of its arrays in memory (a bound
 * BLOB would be copied whole into the record, a selected one into the column value).
 */
#include "db.h"

#include "format/format.h"

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

/* The columns a description is read from, in this order; stats last (describe only). A
 * dataset of sequences has its timesteps in dataset_timesteps (migrations/0008). */
#define DESC_COLUMNS "id, name, created_at, rows, features, label_kind, label_cols, classes, " \
                     "columns, label_column, (SELECT timesteps FROM dataset_timesteps " \
                     "WHERE dataset_id = datasets.id)"

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
static const char sql_delete_steps[] = "DELETE FROM dataset_timesteps WHERE dataset_id = ?1";
static const char sql_insert_steps[] =
    "INSERT INTO dataset_timesteps (dataset_id, timesteps) VALUES (?1, ?2)";
static const char sql_load[] =
    "SELECT rows, features, label_kind, label_cols, classes, rowid, length(x), length(y), "
    "(SELECT timesteps FROM dataset_timesteps WHERE dataset_id = datasets.id) "
    "FROM datasets WHERE id = ?1";

/* Values of a row of x: features, times the steps of a sequence. */
static size_t row_values(const struct dataset *d)
{
    return (size_t)d->features * (size_t)(d->timesteps > 0 ? d->timesteps : 1);
}

#define BLOB_CHUNK (1 << 20)   /* bytes per incremental BLOB read or write */

/* Writes n floats into column col of the row (little-endian). 0, or -1. */
static int write_floats(sqlite3 *db, const char *col, sqlite3_int64 rowid, const float *a,
                        size_t n)
{
    sqlite3_blob *bh = NULL;
    if (sqlite3_blob_open(db, "main", "datasets", col, rowid, 1, &bh) != SQLITE_OK) {
        db_failed("storing a dataset's arrays");
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
            rc = db_failed("storing a dataset's arrays");
    }
    free(tmp);
    if (sqlite3_blob_close(bh) != SQLITE_OK && rc == 0)
        rc = db_failed("storing a dataset's arrays");
    return rc;
}

struct insert {
    struct dataset *d;
    int toobig;
};

/* The row with zero-filled BLOBs, then the arrays written into them (one transaction). */
static int insert_tx(void *ctx)
{
    struct insert *in = ctx;
    struct dataset *d = in->d;
    sqlite3 *db = db_conn();
    sqlite3_stmt *st = db_prepare(sql_insert);
    if (!db || !st)
        return STORE_ERROR;
    size_t nx = (size_t)d->rows * row_values(d), ny = (size_t)d->rows * (size_t)d->label_cols;
    int rc = STORE_ERROR;
    if (db_bind_text(st, 1, d->id) || db_bind_text(st, 2, d->name) ||
        db_bind_text(st, 3, d->created_at) || sqlite3_bind_int(st, 4, d->rows) != SQLITE_OK ||
        sqlite3_bind_int(st, 5, d->features) != SQLITE_OK ||
        db_bind_text(st, 6, label_kind_name(d->label_kind)) ||
        sqlite3_bind_int(st, 7, d->label_cols) != SQLITE_OK || db_bind_json(st, 8, d->classes) ||
        db_bind_json(st, 9, d->columns) || db_bind_json(st, 10, d->stats) ||
        db_bind_json(st, 11, d->label_column) ||
        sqlite3_bind_int64(st, 12, (sqlite3_int64)(nx * sizeof(float))) != SQLITE_OK ||
        sqlite3_bind_int64(st, 13, (sqlite3_int64)(ny * sizeof(float))) != SQLITE_OK)
        goto done;
    int s = sqlite3_step(st);
    if (s == SQLITE_DONE) {
        sqlite3_int64 rowid = sqlite3_last_insert_rowid(db);
        if (write_floats(db, "x", rowid, d->x, nx) == 0 &&
            write_floats(db, "y", rowid, d->y, ny) == 0)
            rc = STORE_OK;
        if (rc == STORE_OK && d->timesteps > 0) {
            sqlite3_stmt *ts = db_prepare(sql_insert_steps);
            if (!ts || db_bind_text(ts, 1, d->id) ||
                sqlite3_bind_int(ts, 2, d->timesteps) != SQLITE_OK) {
                db_done(ts);
                rc = STORE_ERROR;
            } else if (db_exec(ts) != 0) {
                rc = STORE_ERROR;
            }
        }
    } else if (s == SQLITE_TOOBIG) {
        in->toobig = 1;
    } else {
        db_failed("storing a dataset");
    }
done:
    db_done(st);
    return rc;
}

int sqlite_dataset_insert(struct dataset *d)
{
    sqlite3 *db = db_conn();
    if (!db)
        return sqlite_condition() == STORE_GONE ? STORE_GONE : STORE_ERROR;
    size_t nx = (size_t)d->rows * row_values(d), ny = (size_t)d->rows * (size_t)d->label_cols;
    sqlite3_int64 limit = sqlite3_limit(db, SQLITE_LIMIT_LENGTH, -1);
    if ((sqlite3_int64)((nx + ny) * sizeof(float)) >= limit)   /* one row holds both */
        return STORE_TOO_BIG;
    new_id(d->id, "ds_");
    now_iso(d->created_at);
    struct insert in = {d, 0};
    int rc = db_transaction(DB_GROWS, insert_tx, &in);
    if (rc != STORE_OK) {
        d->id[0] = d->created_at[0] = 0;
        return in.toobig ? STORE_TOO_BIG : rc;
    }
    return STORE_OK;
}

/* The description of the row st stands on (DESC_COLUMNS, then stats when with_stats)
 * into d. 0, or -1 without memory. */
static int row_read(sqlite3_stmt *st, struct dataset *d, int with_stats)
{
    db_column_copy(st, 0, d->id, sizeof d->id);
    d->name = db_column_dup(st, 1);
    db_column_copy(st, 2, d->created_at, sizeof d->created_at);
    d->rows = sqlite3_column_int(st, 3);
    d->features = sqlite3_column_int(st, 4);
    int kind = label_kind_parse((const char *)sqlite3_column_text(st, 5));
    d->label_kind = kind >= 0 ? (enum label_kind)kind : LABELS_NUMBERS;
    d->label_cols = sqlite3_column_int(st, 6);
    d->classes = db_column_json(st, 7);
    d->columns = db_column_json(st, 8);
    d->label_column = db_column_json(st, 9);
    d->timesteps = sqlite3_column_int(st, 10);   /* NULL: 0, not a sequence */
    if (with_stats)
        d->stats = db_column_json(st, 11);
    return d->name && d->columns && (!with_stats || d->stats) ? 0 : -1;
}

static int list_row(sqlite3_stmt *st, void *item) { return row_read(st, item, 0); }
static void list_free(void *item) { dataset_free(item); }

static int get_row(sqlite3_stmt *st, void *item) { return row_read(st, item, 1); }

int sqlite_dataset_get(const char *id, struct dataset *d)
{
    memset(d, 0, sizeof *d);
    int rc = db_row(sql_get, id, get_row, d, "reading a dataset");
    if (rc != STORE_OK)
        dataset_free(d);
    return rc;
}

/* Does a dataset with this id exist? STORE_OK, STORE_NOT_FOUND or STORE_ERROR. */
static int exists(const char *id)
{
    return db_row(sql_exists, id, NULL, NULL, "finding a dataset");
}

int sqlite_dataset_list(int limit, const char *after, struct dataset **items, int *n,
                       int *more)
{
    *items = NULL;
    *n = *more = 0;
    int e = after ? exists(after) : STORE_OK;
    if (e != STORE_OK)
        return e;
    sqlite3_stmt *st = db_prepare(after ? sql_list_after : sql_list);
    if (!st || sqlite3_bind_int(st, 1, limit + 1) != SQLITE_OK ||
        (after && db_bind_text(st, 2, after))) {
        db_done(st);
        return STORE_ERROR;
    }
    return db_page(st, limit, sizeof **items, list_row, list_free, (void **)items, n, more);
}

static int delete_tx(void *ctx)
{
    const char *id = ctx;
    int e = exists(id);
    if (e != STORE_OK)
        return e;
    sqlite3_stmt *st = db_prepare(sql_in_use);
    if (!st || db_bind_text(st, 1, id)) {
        db_done(st);
        return STORE_ERROR;
    }
    int s = sqlite3_step(st);
    db_done(st);
    if (s == SQLITE_ROW)
        return STORE_IN_USE;
    if (s != SQLITE_DONE)
        return STORE_ERROR;
    st = db_prepare(sql_delete_steps);
    if (!st || db_bind_text(st, 1, id)) {
        db_done(st);
        return STORE_ERROR;
    }
    if (db_exec(st) != 0)
        return STORE_ERROR;
    st = db_prepare(sql_delete);
    if (!st || db_bind_text(st, 1, id)) {
        db_done(st);
        return STORE_ERROR;
    }
    return db_exec(st) == 0 ? STORE_OK : STORE_ERROR;
}

int sqlite_dataset_delete(const char *id)
{
    return db_transaction(DB_SHRINKS, delete_tx, (void *)id);
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
int sqlite_dataset_load(const char *id, struct dataset *d)
{
    memset(d, 0, sizeof *d);
    sqlite3 *db = db_conn();
    sqlite3_stmt *st = db_prepare(sql_load);
    if (!db || !st || db_bind_text(st, 1, id)) {
        db_done(st);
        return STORE_ERROR;
    }
    int s = sqlite3_step(st), rc = STORE_ERROR;
    if (s == SQLITE_DONE)
        rc = STORE_NOT_FOUND;
    if (s != SQLITE_ROW)
        goto done;
    snprintf(d->id, sizeof d->id, "%s", id);
    d->rows = sqlite3_column_int(st, 0);
    d->features = sqlite3_column_int(st, 1);
    int kind = label_kind_parse((const char *)sqlite3_column_text(st, 2));
    d->label_kind = kind >= 0 ? (enum label_kind)kind : LABELS_NUMBERS;
    d->label_cols = sqlite3_column_int(st, 3);
    if (sqlite3_column_type(st, 4) != SQLITE_NULL) {
        json_t *c = db_column_json(st, 4);
        d->classes = json_is_array(c) ? c : NULL;
        if (!d->classes)
            json_decref(c);
    }
    sqlite3_int64 rowid = sqlite3_column_int64(st, 5);
    d->timesteps = sqlite3_column_int(st, 8);
    if (d->rows > 0 && d->features > 0 && d->label_cols > 0 &&
        (d->x = read_floats(db, "x", rowid, (size_t)d->rows * row_values(d),
                            sqlite3_column_int64(st, 6))) &&
        (d->y = read_floats(db, "y", rowid, (size_t)d->rows * (size_t)d->label_cols,
                            sqlite3_column_int64(st, 7))))
        rc = STORE_OK;
    else
        fprintf(stderr, "neurond: dataset %s: its stored arrays cannot be read, or do not "
                "match its shape\n", id);
done:
    db_done(st);
    if (rc != STORE_OK)
        dataset_free(d);
    return rc;
}

int sqlite_dataset_label_range(const char *id, float *lo, float *hi)
{
    sqlite3 *db = db_conn();
    sqlite3_stmt *st = db_prepare(sql_load);
    if (!db || !st || db_bind_text(st, 1, id)) {
        db_done(st);
        return STORE_ERROR;
    }
    int s = sqlite3_step(st), rc = s == SQLITE_DONE ? STORE_NOT_FOUND : STORE_ERROR;
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
            rc = STORE_OK;
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
    free(d->name);
    free(d->x);
    free(d->y);
    json_decref(d->classes);
    json_decref(d->columns);
    json_decref(d->label_column);
    json_decref(d->stats);
    memset(d, 0, sizeof *d);
}
