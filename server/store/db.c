/* db.c -- SQLite connections (one per thread), the statement cache, migrations, the
 * checkpointer thread that copies the write-ahead log into the database file, the
 * helpers the other store/ files share (db.h), and the names of the stored enums. */
#include "db.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const char *const migrations[];   /* generated from migrations/ by the Makefile */
extern const int nmigrations;

#define CACHE 64

struct thread_db {
    sqlite3 *db;
    struct {
        const char *sql;                     /* the caller's static string */
        sqlite3_stmt *st;
    } cache[CACHE];
    int ncache;
    struct thread_db *next;
};

static char db_path[4096];
static pthread_mutex_t all_lock = PTHREAD_MUTEX_INITIALIZER;
static struct thread_db *all;                /* every thread's connection, for shutdown */
static _Thread_local struct thread_db *mine;

/* SQLite's own automatic checkpoint runs in the thread that committed, after the commit:
 * a training worker that has just stored a 13 MB checkpoint would copy it again into the
 * database file and wait for its fsync before it publishes the epoch. Instead a commit
 * that leaves the log over CKPT_BYTES (SQLite's default threshold, 1000 pages of 4 KiB)
 * wakes this thread, which checkpoints on its own connection (PASSIVE: it never blocks a
 * writer or a reader). */
#define CKPT_BYTES (1000L * 4096)

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    int running, due, stop;
    long runs;   /* checkpoints done, for the tests */
} ckpt = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};
/* commits the hook saw, wake-ups it asked for: for the tests (a small commit costs one
 * atomic add, no lock) */
static _Atomic long hook_commits, hook_wakes;

static int wal_hook(void *page_size, sqlite3 *db, const char *name, int pages)
{
    atomic_fetch_add_explicit(&hook_commits, 1, memory_order_relaxed);
    if ((long)pages * (intptr_t)page_size < CKPT_BYTES)
        return SQLITE_OK;
    pthread_mutex_lock(&ckpt.lock);
    int running = ckpt.running;
    if (running) {
        ckpt.due = 1;
        atomic_fetch_add_explicit(&hook_wakes, 1, memory_order_relaxed);
        pthread_cond_signal(&ckpt.wake);
    }
    pthread_mutex_unlock(&ckpt.lock);
    if (!running)   /* no checkpointer (before db_open's start or after shutdown): inline */
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    return SQLITE_OK;
}

static void *checkpointer(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "neurond-ckpt");
    pthread_mutex_lock(&ckpt.lock);
    for (;;) {
        while (!ckpt.due && !ckpt.stop)
            pthread_cond_wait(&ckpt.wake, &ckpt.lock);
        if (ckpt.stop)
            break;
        ckpt.due = 0;
        pthread_mutex_unlock(&ckpt.lock);
        sqlite3 *db = db_conn();
        int rc = db ? sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL)
                    : SQLITE_CANTOPEN;
        if (rc != SQLITE_OK && rc != SQLITE_BUSY)
            fprintf(stderr, "neurond: checkpoint of the database log failed: %s\n",
                    db ? sqlite3_errmsg(db) : "no connection");
        pthread_mutex_lock(&ckpt.lock);
        ckpt.runs++;
    }
    pthread_mutex_unlock(&ckpt.lock);
    return NULL;
}

/* Starts the checkpointer with every signal blocked, so that signals reach the thread
 * that waits for them. */
static int checkpointer_start(char *err, size_t errlen)
{
    sigset_t all_sigs, old;
    sigfillset(&all_sigs);
    pthread_sigmask(SIG_BLOCK, &all_sigs, &old);
    ckpt.stop = ckpt.due = 0;
    int rc = pthread_create(&ckpt.thread, NULL, checkpointer, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the checkpoint thread");
        return -1;
    }
    pthread_mutex_lock(&ckpt.lock);
    ckpt.running = 1;
    pthread_mutex_unlock(&ckpt.lock);
    return 0;
}

static void checkpointer_stop(void)
{
    pthread_mutex_lock(&ckpt.lock);
    int running = ckpt.running;
    ckpt.running = 0;
    ckpt.stop = 1;
    pthread_cond_signal(&ckpt.wake);
    pthread_mutex_unlock(&ckpt.lock);
    if (running)
        pthread_join(ckpt.thread, NULL);
}

long db_checkpoints(void)
{
    pthread_mutex_lock(&ckpt.lock);
    long n = ckpt.runs;
    pthread_mutex_unlock(&ckpt.lock);
    return n;
}

void db_wal_counts(long *commits, long *wakes)
{
    *commits = atomic_load(&hook_commits);
    *wakes = atomic_load(&hook_wakes);
}

static int page_size(sqlite3 *db)
{
    sqlite3_stmt *st;
    int v = 4096;
    if (sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

static sqlite3 *open_conn(const char *path, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot open database %s: %s", path,
                 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 10000);
    char *msg = NULL;
    if (sqlite3_exec(db, "PRAGMA page_size=65536; PRAGMA journal_mode=WAL; "
                         "PRAGMA synchronous=FULL;", NULL, NULL,
                     &msg) != SQLITE_OK) {
        snprintf(err, errlen, "cannot use database %s: %s", path, msg ? msg : "?");
        sqlite3_free(msg);
        sqlite3_close(db);
        return NULL;
    }
    /* replaces SQLite's automatic checkpoint */
    sqlite3_wal_hook(db, wal_hook, (void *)(intptr_t)page_size(db));
    return db;
}

sqlite3 *db_conn(void)
{
    if (mine)
        return mine->db;
    char err[512];
    struct thread_db *t = calloc(1, sizeof *t);
    if (!t || !(t->db = open_conn(db_path, err, sizeof err))) {
        fprintf(stderr, "neurond: %s\n", t ? err : "out of memory");
        free(t);
        return NULL;
    }
    pthread_mutex_lock(&all_lock);
    t->next = all;
    all = t;
    pthread_mutex_unlock(&all_lock);
    mine = t;
    return t->db;
}

sqlite3_stmt *db_prepare(const char *sql)
{
    sqlite3 *db = db_conn();
    if (!db)
        return NULL;
    for (int i = 0; i < mine->ncache; i++)
        if (mine->cache[i].sql == sql)
            return mine->cache[i].st;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "neurond: SQL error: %s in: %s\n", sqlite3_errmsg(db), sql);
        return NULL;
    }
    if (mine->ncache < CACHE) {
        mine->cache[mine->ncache].sql = sql;
        mine->cache[mine->ncache++].st = st;
    }
    return st;
}

void db_done(sqlite3_stmt *st)
{
    if (!st)
        return;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    for (int i = 0; mine && i < mine->ncache; i++)
        if (mine->cache[i].st == st)
            return;
    sqlite3_finalize(st);   /* not cached: the cache was full */
}

int db_transaction(int (*fn)(void *ctx), void *ctx)
{
    sqlite3 *db = db_conn();
    if (!db || sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return db_failed("starting a transaction");
    int rc = fn(ctx);
    if (rc < 0 || sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        if (rc >= 0)
            db_failed("committing");
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return STORE_ERROR;
    }
    return rc;
}

int db_exec(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    db_done(st);
    return rc == SQLITE_DONE ? 0 : db_failed("a statement");
}

int db_failed(const char *what)
{
    sqlite3 *db = db_conn();
    fprintf(stderr, "neurond: %s failed: %s\n", what, db ? sqlite3_errmsg(db) : "no database");
    return STORE_ERROR;
}

int db_bind_text(sqlite3_stmt *st, int i, const char *s)
{
    return (s ? sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i)) ==
                   SQLITE_OK ? 0 : -1;
}

void db_column_copy(sqlite3_stmt *st, int i, char *out, size_t cap)
{
    const char *s = (const char *)sqlite3_column_text(st, i);
    snprintf(out, cap, "%s", s ? s : "");
}

char *db_column_dup(sqlite3_stmt *st, int i)
{
    const char *s = (const char *)sqlite3_column_text(st, i);
    return s ? strdup(s) : NULL;
}

void *db_column_blob(sqlite3_stmt *st, int i, size_t *len)
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

int db_row(const char *sql, const char *id, int (*row)(sqlite3_stmt *st, void *item),
           void *item, const char *what)
{
    sqlite3_stmt *st = db_prepare(sql);
    if (!st)
        return STORE_ERROR;
    int rc = STORE_ERROR;
    if (db_bind_text(st, 1, id) == 0) {
        int s = sqlite3_step(st);
        if (s == SQLITE_DONE)
            rc = STORE_NOT_FOUND;
        else if (s != SQLITE_ROW)
            db_failed(what);
        else
            rc = !row || row(st, item) == 0 ? STORE_OK : STORE_ERROR;
    }
    db_done(st);
    return rc;
}

int db_page(sqlite3_stmt *st, int limit, size_t size, int (*row)(sqlite3_stmt *st, void *item),
            void (*item_free)(void *item), void **items, int *n, int *more)
{
    *items = NULL;
    *n = *more = 0;
    char *a = calloc((size_t)limit + 1, size);
    int rc = a ? SQLITE_ROW : SQLITE_NOMEM, k = 0;
    while (a && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (k == limit) {   /* one more than asked: there is a next page */
            *more = 1;
            break;
        }
        if (row(st, a + (size_t)k * size) < 0) {
            rc = SQLITE_NOMEM;
            break;
        }
        k++;
    }
    db_done(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        for (int i = 0; a && i <= k && i <= limit; i++)
            item_free(a + (size_t)i * size);
        free(a);
        *more = 0;
        return db_failed("listing");
    }
    *items = a;
    *n = k;
    return STORE_OK;
}

int db_bind_json(sqlite3_stmt *st, int i, const json_t *v)
{
    if (!v)
        return sqlite3_bind_null(st, i) == SQLITE_OK ? 0 : -1;
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
    if (!s)
        return -1;
    return sqlite3_bind_text(st, i, s, -1, free) == SQLITE_OK ? 0 : -1;
}

json_t *db_column_json(sqlite3_stmt *st, int i)
{
    const char *s = (const char *)sqlite3_column_text(st, i);
    if (!s)
        return NULL;
    json_error_t e;
    json_t *v = json_loadb(s, (size_t)sqlite3_column_bytes(st, i), JSON_DECODE_ANY, &e);
    if (!v)
        fprintf(stderr, "neurond: stored JSON unreadable: %s\n", e.text);
    if (json_is_null(v)) {   /* a stored null is no value, as SQL's NULL */
        json_decref(v);
        v = NULL;
    }
    return v;
}

static int user_version(sqlite3 *db)
{
    sqlite3_stmt *st;
    int v = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

int store_schema_version(void)
{
    sqlite3 *db = db_conn();
    return db ? user_version(db) : -1;
}

int store_schema_latest(void) { return nmigrations; }

int store_open(const char *path, char *err, size_t errlen)
{
    snprintf(db_path, sizeof db_path, "%s", path);
    sqlite3 *db = open_conn(path, err, errlen);
    if (!db)
        return -1;
    int v = user_version(db);
    if (v > nmigrations) {
        snprintf(err, errlen, "database %s has schema version %d, newer than this neurond "
                 "knows (%d): use a newer neurond or another --db", path, v, nmigrations);
        sqlite3_close(db);
        return -1;
    }
    for (int m = v; m < nmigrations; m++) {
        char *msg = NULL, pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", m + 1);
        if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(db, migrations[m], NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(db, pragma, NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
            snprintf(err, errlen, "database %s: migration %d failed: %s", path, m + 1,
                     msg ? msg : sqlite3_errmsg(db));
            sqlite3_free(msg);
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            sqlite3_close(db);
            return -1;
        }
    }
    sqlite3_close(db);
    return checkpointer_start(err, errlen);
}

void store_close(void)
{
    checkpointer_stop();
    pthread_mutex_lock(&all_lock);
    while (all) {
        struct thread_db *t = all;
        all = t->next;
        for (int i = 0; i < t->ncache; i++)
            sqlite3_finalize(t->cache[i].st);
        sqlite3_close(t->db);
        free(t);
    }
    mine = NULL;
    pthread_mutex_unlock(&all_lock);
}

/* ---- the names of the stored enums ---- */

static const char *const job_states[JOB_STATE_COUNT] = {"queued", "running", "succeeded",
                                                        "failed", "cancelled"};
static const char *const label_kinds[LABEL_KIND_COUNT] = {"classes", "numbers", "onehot",
                                                          "vectors"};

static int name_index(const char *const *t, int n, const char *s)
{
    for (int i = 0; s && i < n; i++)
        if (strcmp(t[i], s) == 0)
            return i;
    return -1;
}

const char *job_state_name(int s)
{
    return s >= 0 && s < JOB_STATE_COUNT ? job_states[s] : NULL;
}

int job_state_parse(const char *s) { return name_index(job_states, JOB_STATE_COUNT, s); }
int job_state_final(enum job_state s) { return s >= JOB_SUCCEEDED; }

const char *label_kind_name(int k)
{
    return k >= 0 && k < LABEL_KIND_COUNT ? label_kinds[k] : NULL;
}

int label_kind_parse(const char *s) { return name_index(label_kinds, LABEL_KIND_COUNT, s); }
