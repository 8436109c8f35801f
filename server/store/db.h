/* db.h -- what the SQLite backend's files share and store.h does not show: this thread's
 * connection, cached prepared statements, JSON columns, transactions, and typed pages of
 * rows. For the files of store/ (and tests that look at the database itself). */
#ifndef STORE_DB_H
#define STORE_DB_H

#include "backend.h"
#include "store.h"

#include <sqlite3.h>

/* The backend's calls (backend.h): sqlite_open, ..., sqlite_dataset_insert, ..., each
 * with the contract of its store_ namesake in store.h. */
int sqlite_open(const char *path, char *err, size_t errlen);
void sqlite_close(void);
int sqlite_condition(void);
int sqlite_schema_version(void);
int sqlite_schema_latest(void);
#define SQLITE_CALL(ret, name, params, args) ret sqlite_##name params;
STORE_CALLS(SQLITE_CALL)
#undef SQLITE_CALL

/* This thread's connection, opened on first use (NULL when it cannot be opened). */
sqlite3 *db_conn(void);
/* How many checkpoints the checkpointer thread has run since the process started. */
long db_checkpoints(void);
/* For the tests: the commits the log's hook has seen since the process started, and the
 * wake-ups of the checkpointer it asked for (commits that left the log over the
 * threshold while the checkpointer runs). */
void db_wal_counts(long *commits, long *wakes);
/* For the tests: how many times the log was emptied (a truncating checkpoint). */
long db_log_truncations(void);

/* A statement prepared once per thread and SQL text (sql: a static string), NULL on an
 * error (logged). db_done resets it and clears its bindings. */
sqlite3_stmt *db_prepare(const char *sql);
void db_done(sqlite3_stmt *st);
/* Steps a statement that returns no rows and finishes it: 0, or -1 (logged). */
int db_exec(sqlite3_stmt *st);
/* Binds text, or NULL for a NULL pointer. */
int db_bind_text(sqlite3_stmt *st, int i, const char *s);
/* A JSON value bound as its compact text (NULL binds NULL); 0 or -1. */
int db_bind_json(sqlite3_stmt *st, int i, const json_t *v);
/* A text column parsed as JSON: new; NULL for SQL NULL or text that is not JSON. */
json_t *db_column_json(sqlite3_stmt *st, int i);
/* A text column copied into out (cap bytes), "" for NULL; a new copy (NULL for NULL). */
void db_column_copy(sqlite3_stmt *st, int i, char *out, size_t cap);
char *db_column_dup(sqlite3_stmt *st, int i);
/* A BLOB column copied: new, NULL for NULL (or without memory); *len its size. */
void *db_column_blob(sqlite3_stmt *st, int i, size_t *len);
/* Logs what failed and SQLite's message (a failure for want of space marks the disk
 * full); returns STORE_ERROR. Call it right after the call that failed. */
int db_failed(const char *what);

/* The row of a one-parameter query (sql, a static string, bound with id), read with
 * row(st, item) when row is not NULL (which returns 0, or -1 without memory).
 * STORE_OK, STORE_NOT_FOUND when there is no row, STORE_ERROR (logged as `what`). */
int db_row(const char *sql, const char *id, int (*row)(sqlite3_stmt *st, void *item),
           void *item, const char *what);

/* What a write does to the space the database takes. DB_GROWS may add pages: it is
 * refused at once while the disk is full. DB_SHRINKS -- a delete, or a change of state
 * that must not wait for space (a job ends, is cancelled, goes back to the queue) -- runs
 * on a full disk too, on the reserve kept beside the database for it, and has the space
 * it freed given back to the disk afterwards (db.c). */
enum db_write { DB_GROWS, DB_SHRINKS };
/* The one way to write: runs fn(ctx) inside BEGIN IMMEDIATE ... COMMIT, rolling back when
 * it returns < 0 (fn may run twice: it binds its statements itself). Returns fn's result;
 * STORE_FULL when the disk is full (nothing written); STORE_GONE when the file at the
 * database's path is not the one store_open opened (nothing written); STORE_ERROR when
 * the transaction failed otherwise. */
int db_transaction(enum db_write kind, int (*fn)(void *ctx), void *ctx);
/* Has the space of rows a committed write dropped given back to the disk soon (the
 * checkpointer's incremental vacuum); DB_SHRINKS writes ask for it themselves. */
void db_give_back(void);

/* A page of a list: steps st (bound with a LIMIT of limit + 1) and turns each row into an
 * item of `size` bytes with row() (which returns 0, or -1 without memory), into *items
 * (new; zeroed first), *n of them, *more when there was one more row; finishes st. The
 * caller frees the items (with their own free) on success; on failure they are freed
 * with item_free. STORE_OK or STORE_ERROR. */
int db_page(sqlite3_stmt *st, int limit, size_t size, int (*row)(sqlite3_stmt *st, void *item),
            void (*item_free)(void *item), void **items, int *n, int *more);

#endif
