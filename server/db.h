/* db.h -- the storage module: every SQL statement of the service lives in db*.c.
 *
 * Each thread that touches the database gets its own SQLite connection on first use
 * (db_conn), in WAL mode with a busy timeout, so HTTP threads and training workers never
 * share one. Commits are synchronous (FULL): what was answered 201 or 202 is on disk. A
 * thread of its own copies the log into the database file (checkpoints), so that a
 * commit costs its writer only its own pages and one fsync. The schema is migrations/NNNN_*.sql, embedded in the binary and applied in
 * order by db_open, each in one transaction, tracked in PRAGMA user_version. The
 * interface is narrow on purpose: a second backend (PostgreSQL) would sit behind it.
 */
#ifndef DB_H
#define DB_H

#include <jansson.h>
#include <sqlite3.h>
#include <stddef.h>

/* Opens (creating) the database file, applies pending migrations and refuses a database
 * from a newer schema. Returns 0, or -1 with a one-line message in err. */
int db_open(const char *path, char *err, size_t errlen);
/* Stops the checkpointer and closes every connection; call after all threads that used
 * the database stopped. */
void db_shutdown(void);
/* How many checkpoints the checkpointer thread has run since the process started. */
long db_checkpoints(void);
/* For the tests: the commits the log's hook has seen since the process started, and the
 * wake-ups of the checkpointer it asked for (commits that left the log over the
 * threshold while the checkpointer runs). */
void db_wal_counts(long *commits, long *wakes);
/* This thread's connection (NULL when it cannot be opened). For db*.c only. */
sqlite3 *db_conn(void);
/* The schema version of the open database and the newest this build knows. */
int db_schema_version(void);
int db_schema_latest(void);

/* Statement helpers for db*.c: prepare (cached per thread and SQL text), and finish
 * (reset and clear bindings). db_prepare returns NULL on error (logged). */
sqlite3_stmt *db_prepare(const char *sql);
void db_done(sqlite3_stmt *st);
/* JSON in and out of columns: a value bound as its compact text (NULL binds NULL; 0 or
 * -1); a text column parsed (new; json null for SQL NULL or text that is not JSON); a
 * text column as a JSON string (new; json null for SQL NULL). */
int db_bind_json(sqlite3_stmt *st, int i, const json_t *v);
json_t *db_column_json(sqlite3_stmt *st, int i);
json_t *db_column_string(sqlite3_stmt *st, int i);
/* The row of a one-parameter query (sql, a static string, bound with id) through row();
 * new, NULL when there is no such row or on error. */
json_t *db_row_by_id(const char *sql, const char *id, json_t *(*row)(sqlite3_stmt *st));
/* A page of a list: steps st (bound with a LIMIT of limit + 1), turning rows into items
 * with row(), and finishes it. Returns {"items", "next"}, next being the last item's "id"
 * when there are more rows (else null); new, NULL on error. */
json_t *db_page(sqlite3_stmt *st, int limit, json_t *(*row)(sqlite3_stmt *st));
/* Runs fn(ctx) inside BEGIN IMMEDIATE ... COMMIT, rolling back when it returns < 0. */
int db_transaction(int (*fn)(void *ctx), void *ctx);

#endif
