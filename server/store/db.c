/* db.c -- SQLite connections (one per thread), the statement cache, migrations, the
 * checkpointer thread that copies the write-ahead log into the database file, the
 * helpers the other store/ files share (db.h), and the backend's table (backend.h).
 *
 * DESIGN. Every write goes through db_transaction, which first looks at two things.
 *
 * The file: store_open notes the identity (device, inode) of the file at --db, and each
 * write, each new connection and /readyz stat the path again. A file deleted or replaced
 * under the service would otherwise take writes that vanish at the next start (the
 * connections keep writing into the unlinked file); once seen, every write is refused
 * (STORE_GONE) until a restart.
 *
 * The space: a write that fails because the disk is full (SQLITE_FULL, or ENOSPC under
 * another code) marks the store full. Writes that add data are then refused at once
 * (STORE_FULL), while deletes and the changes of state that must not wait (a job ends, is
 * cancelled, goes back to the queue) still run: beside the database a reserve file of
 * RESERVE_BYTES is kept, and such a write that fails for space gives it up and runs again.
 * The space a delete frees comes back to the disk through the checkpointer (incremental
 * vacuum, then a truncating checkpoint); once the reserve is whole again with as much
 * free besides, writes are taken again.
 *
 * The turns: this process's writers take turns on a mutex before they ask SQLite for its
 * write lock (write_turn). SQLite's own wait for that lock, its busy handler, sleeps and
 * looks again 1 to 100 ms apart, and loses every time to writers that commit often:
 * while two jobs trained short epochs, a third worker's claim of a queued job, or a
 * POST, waited seconds for its turn, and would have failed at the busy timeout. The
 * mutex hands the lock to the next writer as the last one commits. SQLite's wait still
 * applies between processes.
 *
 * The log: SQLite's automatic checkpoint is replaced by the checkpointer thread (see
 * CKPT_BYTES), the log is cut back to LOG_LIMIT when it restarts (journal_size_limit), and
 * emptied (a truncating checkpoint) when no commit came for a second.
 */
#include "db.h"

#include "format/format.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

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

static char db_path[4096], db_dir[4096], reserve_path[4200];
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
/* journal_size_limit: a log that grew past this (one large commit) is cut back to it when
 * it restarts from its beginning. And secure_delete=FAST: SQLite built with
 * SQLITE_SECURE_DELETE (Debian's is) overwrites every page a delete frees with zeros, so
 * that deleting a 1 GB dataset wrote 1 GB of zeros into the log -- and on a full disk
 * needed that much room to run at all. FAST zeroes what it can without more writes; the
 * freed pages go back to the filesystem with the incremental vacuum. */
#define LOG_LIMIT CKPT_BYTES
/* The checkpointer looks at the log and the disk this often when nothing wakes it. */
#define TICK_SECONDS 1.0
/* Kept free for deletes on a full disk: a delete and the vacuum after it need log pages. */
#define RESERVE_BYTES (8L << 20)
/* Pages given back per incremental vacuum, each run its own short write transaction. */
#define RECLAIM_PAGES 64
/* How long a connection waits for SQLite's write lock (its busy timeout), and a writer
 * for its turn among this process's writers (write_turn). */
#define BUSY_MS 10000
#define SHRINK_TRIES 100       /* a delete on a full disk: tries, 100 ms apart (10 s: the
                                  checkpointer may hold the log that long on a busy machine) */

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    int running, due, reclaim, stop;
    long runs;   /* checkpoints done on a wake-up, for the tests */
} ckpt = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};
/* commits the hook saw, wake-ups it asked for: for the tests (a small commit costs one
 * atomic add, no lock); the log's frames after the last commit (0 once emptied) */
static _Atomic long hook_commits, hook_wakes, log_frames, truncations;

/* The file store_open opened, and whether the path still leads to it. */
static dev_t opened_dev;
static ino_t opened_ino;
static _Atomic int gone;

/* The disk: full (writes that add data are refused), and the reserve file (under lock). */
static _Atomic int full;
static pthread_mutex_t reserve_lock = PTHREAD_MUTEX_INITIALIZER;
static int reserve_held;
static int reserve_users;   /* writes running on the reserve they gave up */
/* this thread's last failure was for want of space */
static _Thread_local int saw_full;

/* The writers' turns (DESIGN): held from BEGIN IMMEDIATE to COMMIT or ROLLBACK. */
static pthread_mutex_t writers = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local int writing;

/* Waits for this thread's turn to write: 1 when it has it, 0 when it already had it or
 * waited the busy timeout (then SQLite's own wait decides, as without turns). */
static int write_turn(void)
{
    if (writing)
        return 0;
    struct timespec until;
    deadline_in(&until, BUSY_MS / 1000.0);
    if (pthread_mutex_timedlock(&writers, &until) != 0)
        return 0;
    writing = 1;
    return 1;
}

static void write_turn_end(int turn)
{
    if (turn) {
        writing = 0;
        pthread_mutex_unlock(&writers);
    }
}

/* ---- the file and the space ---- */

/* Does the path still lead to the file store_open opened? Once it does not, it never
 * will again for this process (a file put back is another file). */
static int file_gone(void)
{
    if (atomic_load(&gone))
        return 1;
    struct stat sb;
    if (stat(db_path, &sb) == 0 ? sb.st_dev == opened_dev && sb.st_ino == opened_ino
                                : errno != ENOENT && errno != ENOTDIR)
        return 0;
    if (!atomic_exchange(&gone, 1))
        fprintf(stderr, "neurond: the database file %s was deleted or replaced while the "
                "service ran: writes are refused; restart the service\n", db_path);
    return 1;
}

static void note_full(void)
{
    saw_full = 1;
    if (!atomic_exchange(&full, 1))
        fprintf(stderr, "neurond: the disk holding the database %s is full: writes that add "
                "data are refused until space is freed (deletes still run)\n", db_path);
}

/* Was db's last failure for want of space? */
static int out_of_space(sqlite3 *db)
{
    int code = sqlite3_extended_errcode(db);
    if ((code & 0xff) == SQLITE_FULL)
        return 1;
    int e = sqlite3_system_errno(db);
    return (code & 0xff) == SQLITE_IOERR && (e == ENOSPC || e == EDQUOT);
}

/* Bytes free for this user on the disk holding the database, -1 when unknown. */
static long long free_bytes(void)
{
    struct statvfs v;
    return statvfs(db_dir, &v) == 0 ? (long long)v.f_bavail * (long long)v.f_frsize : -1;
}

/* Makes the reserve file whole (not while a write runs on the space it gave up): 0, or
 * -1 (no space, or it cannot be written). */
static int reserve_make(void)
{
    pthread_mutex_lock(&reserve_lock);
    int ok = reserve_held;
    if (!ok && reserve_users == 0) {
        int fd = open(reserve_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        ok = fd >= 0 && posix_fallocate(fd, 0, RESERVE_BYTES) == 0;
        if (fd >= 0 && !ok)
            (void)ftruncate(fd, 0);   /* what was allocated goes back */
        if (fd >= 0)
            close(fd);
        reserve_held = ok;
    }
    pthread_mutex_unlock(&reserve_lock);
    return ok ? 0 : -1;
}

/* Gives the reserve's space back to the disk for a write: 1 when it was held (call
 * reserve_return when the write is done). */
static int reserve_release(void)
{
    pthread_mutex_lock(&reserve_lock);
    int was = reserve_held;
    if (was) {
        reserve_held = 0;
        reserve_users++;
        (void)truncate(reserve_path, 0);
        fprintf(stderr, "neurond: the reserve %s was given up so that a delete can run on "
                "the full disk\n", reserve_path);
    }
    pthread_mutex_unlock(&reserve_lock);
    return was;
}

static void reserve_return(void)
{
    pthread_mutex_lock(&reserve_lock);
    reserve_users--;
    pthread_mutex_unlock(&reserve_lock);
}

/* On a full disk: when the reserve can be made whole again and as much is free besides,
 * writes that add data are taken again. */
static void space_recover(void)
{
    if (!atomic_load(&full) || reserve_make() < 0 || free_bytes() < RESERVE_BYTES)
        return;
    atomic_store(&full, 0);
    fprintf(stderr, "neurond: there is space again on the disk holding the database: "
            "writes are taken again\n");
}

/* ---- the log and the checkpointer ---- */

static void wake_checkpointer(int reclaim)
{
    pthread_mutex_lock(&ckpt.lock);
    if (reclaim)
        ckpt.reclaim = 1;
    else
        ckpt.due = 1;
    pthread_cond_signal(&ckpt.wake);
    pthread_mutex_unlock(&ckpt.lock);
}

static int wal_hook(void *page_size, sqlite3 *db, const char *name, int pages)
{
    atomic_fetch_add_explicit(&hook_commits, 1, memory_order_relaxed);
    atomic_store_explicit(&log_frames, pages, memory_order_relaxed);
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

/* One checkpoint of the log in `mode`; a truncating one waits at most a moment for the
 * readers (it is tried again later). SQLITE_OK, SQLITE_BUSY, or a failure (logged). */
static int checkpoint(sqlite3 *db, int mode)
{
    if (mode != SQLITE_CHECKPOINT_PASSIVE)
        sqlite3_busy_timeout(db, 100);
    int rc = sqlite3_wal_checkpoint_v2(db, NULL, mode, NULL, NULL);
    if (mode != SQLITE_CHECKPOINT_PASSIVE)
        sqlite3_busy_timeout(db, BUSY_MS);
    if (rc == SQLITE_OK && mode == SQLITE_CHECKPOINT_TRUNCATE) {
        atomic_store(&log_frames, 0);
        atomic_fetch_add(&truncations, 1);
    }
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
        if (out_of_space(db))
            note_full();
        else
            fprintf(stderr, "neurond: checkpoint of the database log failed: %s\n",
                    sqlite3_errmsg(db));
    }
    return rc;
}

static long pragma_long(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    long v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int stopping(void)
{
    pthread_mutex_lock(&ckpt.lock);
    int s = ckpt.stop;
    pthread_mutex_unlock(&ckpt.lock);
    return s;
}

/* Gives the pages deleted rows left free back to the disk: incremental vacuum
 * (migrations/0004), RECLAIM_PAGES at a time, each run a short write transaction between
 * which others write; the file shrinks when a checkpoint copies the shorter database.
 * A truncating checkpoint comes first: after a write failed for space the log may hold
 * commits the database file has no room for yet, and until they are copied the log can
 * only grow; the reserve a delete gave up makes that room. On a full disk each run is
 * smaller and followed by a truncating checkpoint, and the runs stop (until the next
 * tick) when the log cannot be emptied, so that the log never takes much of what was
 * freed. */
static void reclaim(sqlite3 *db)
{
    checkpoint(db, SQLITE_CHECKPOINT_TRUNCATE);
    long before = pragma_long(db, "PRAGMA freelist_count");
    while (before > 0 && !stopping()) {
        int tight = atomic_load(&full);
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA incremental_vacuum(%d)",
                 tight ? RECLAIM_PAGES / 8 : RECLAIM_PAGES);
        int turn = write_turn();
        int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
        write_turn_end(turn);
        if (rc != SQLITE_OK) {
            if (out_of_space(db))
                note_full();
            else if (sqlite3_errcode(db) != SQLITE_BUSY)
                fprintf(stderr, "neurond: incremental vacuum failed: %s\n", sqlite3_errmsg(db));
            break;
        }
        long now = pragma_long(db, "PRAGMA freelist_count");
        if (now < 0 || now >= before)   /* no incremental vacuum on this database */
            break;
        before = now;
        if (checkpoint(db, tight ? SQLITE_CHECKPOINT_TRUNCATE : SQLITE_CHECKPOINT_PASSIVE) !=
                SQLITE_OK && tight)
            return;   /* the log could not be emptied: the next run tries again */
    }
    checkpoint(db, SQLITE_CHECKPOINT_TRUNCATE);
}

static void *checkpointer(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "neurond-ckpt");
    long seen = -1;   /* commits at the last look */
    pthread_mutex_lock(&ckpt.lock);
    for (;;) {
        if (!ckpt.due && !ckpt.reclaim && !ckpt.stop) {
            struct timespec until;
            deadline_in(&until, TICK_SECONDS);
            pthread_cond_timedwait(&ckpt.wake, &ckpt.lock, &until);
        }
        if (ckpt.stop)
            break;
        int due = ckpt.due, again = ckpt.reclaim;
        ckpt.due = ckpt.reclaim = 0;
        pthread_mutex_unlock(&ckpt.lock);
        sqlite3 *db = db_conn();
        long commits = atomic_load(&hook_commits);
        if (!db && due)
            fprintf(stderr, "neurond: checkpoint of the database log failed: no connection\n");
        if (db && due)
            checkpoint(db, SQLITE_CHECKPOINT_PASSIVE);
        if (db && (again || atomic_load(&full)))
            reclaim(db);
        else if (db && !due && commits == seen && atomic_load(&log_frames) > 0)
            checkpoint(db, SQLITE_CHECKPOINT_TRUNCATE);   /* idle: empty the log */
        space_recover();
        seen = commits;
        pthread_mutex_lock(&ckpt.lock);
        ckpt.runs += due;
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
    ckpt.stop = ckpt.due = ckpt.reclaim = 0;
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

long db_log_truncations(void) { return atomic_load(&truncations); }

/* ---- connections ---- */

static int page_size(sqlite3 *db)
{
    long v = pragma_long(db, "PRAGMA page_size");
    return v > 0 ? (int)v : 4096;
}

static sqlite3 *open_conn(const char *path, int create, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db,
                             SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) |
                                 SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot open database %s: %s", path,
                 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, BUSY_MS);
    char *msg = NULL, sql[160];
    snprintf(sql, sizeof sql, "PRAGMA page_size=65536; PRAGMA journal_mode=WAL; "
             "PRAGMA synchronous=FULL; PRAGMA journal_size_limit=%ld; "
             "PRAGMA secure_delete=FAST;", LOG_LIMIT);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "cannot use database %s: %s", path, msg ? msg : "?");
        sqlite3_free(msg);
        sqlite3_close(db);
        return NULL;
    }
    /* replaces SQLite's automatic checkpoint */
    sqlite3_wal_hook(db, wal_hook, (void *)(intptr_t)page_size(db));
    return db;
}

/* A connection opened after store_open must be to the same file: never a new empty
 * database where the file was deleted, nor another file put in its place. */
sqlite3 *db_conn(void)
{
    if (mine)
        return mine->db;
    char err[512];
    if (file_gone())
        return NULL;
    struct thread_db *t = calloc(1, sizeof *t);
    if (!t || !(t->db = open_conn(db_path, 0, err, sizeof err)) || file_gone()) {
        if (t && t->db)
            sqlite3_close(t->db);
        else if (!file_gone())
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

/* BEGIN IMMEDIATE, fn, COMMIT (or ROLLBACK when something failed): fn's result, or
 * STORE_ERROR; saw_full says whether the failure was for want of space. */
static int transaction(sqlite3 *db, int (*fn)(void *ctx), void *ctx)
{
    saw_full = 0;
    int turn = write_turn();
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        write_turn_end(turn);
        return db_failed("starting a transaction");
    }
    int rc = fn(ctx);
    if (rc < 0 && out_of_space(db))
        note_full();
    if (rc >= 0 && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = db_failed("committing");
    if (rc < 0)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    write_turn_end(turn);
    return rc;
}

int db_transaction(enum db_write kind, int (*fn)(void *ctx), void *ctx)
{
    if (file_gone())
        return STORE_GONE;
    if (kind == DB_GROWS && atomic_load(&full))
        return STORE_FULL;
    sqlite3 *db = db_conn();
    if (!db)
        return file_gone() ? STORE_GONE : STORE_ERROR;
    int rc = transaction(db, fn, ctx);
    if (rc == STORE_ERROR && saw_full && kind == DB_SHRINKS) {
        /* room for it: the reserve, or else the log's own space once it is emptied. The
         * checkpointer may be moving freed pages meanwhile (its log cannot be emptied
         * while it writes): up to SHRINK_TRIES tries, 100 ms apart. */
        int released = reserve_release();
        for (int try = 0; try < SHRINK_TRIES; try++) {
            if (try > 0) {
                struct timespec pause = {0, 100 * 1000 * 1000};
                nanosleep(&pause, NULL);
            }
            if (!released || try > 0)
                checkpoint(db, SQLITE_CHECKPOINT_TRUNCATE);
            rc = transaction(db, fn, ctx);
            if (!(rc == STORE_ERROR && saw_full))
                break;
        }
        if (released)
            reserve_return();
    }
    if (rc == STORE_ERROR && saw_full)
        return STORE_FULL;
    if (rc == STORE_OK && kind == DB_SHRINKS)
        wake_checkpointer(1);   /* what it freed goes back to the disk */
    return rc;
}

void db_give_back(void) { wake_checkpointer(1); }

int sqlite_condition(void)
{
    if (file_gone())
        return STORE_GONE;
    return atomic_load(&full) ? STORE_FULL : STORE_OK;
}

int db_exec(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    db_done(st);
    return rc == SQLITE_DONE ? 0 : db_failed("a statement");
}

int db_failed(const char *what)
{
    sqlite3 *db = mine ? mine->db : NULL;
    if (db && out_of_space(db))
        note_full();
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

int sqlite_schema_version(void)
{
    sqlite3 *db = db_conn();
    return db ? user_version(db) : -1;
}

int sqlite_schema_latest(void) { return nmigrations; }

/* ---- opening ---- */

/* Why the database at db_path cannot be written, as a sentence naming the cause and what
 * to do, into why; 0 when no cause is found. */
static int why_read_only(char *why, size_t cap)
{
    struct statvfs v;
    if (statvfs(db_dir, &v) == 0 && (v.f_flag & ST_RDONLY))
        return snprintf(why, cap, "the filesystem holding %s is mounted read-only: remount "
                        "it read-write, or give another --db", db_dir) > 0;
    static const char *const suffix[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        char f[4200];
        struct stat sb;
        snprintf(f, sizeof f, "%s%s", db_path, suffix[i]);
        if (stat(f, &sb) < 0 || access(f, W_OK) == 0)
            continue;
        int e = errno;
        return snprintf(why, cap, "%s is not writable by this user (uid %d): %s (it belongs "
                        "to uid %d, mode %04o); make it writable (chown or chmod), or give "
                        "another --db", f, (int)geteuid(), strerror(e), (int)sb.st_uid,
                        (unsigned)(sb.st_mode & 07777)) > 0;
    }
    if (access(db_dir, W_OK | X_OK) < 0) {
        int e = errno;
        return snprintf(why, cap, "the directory %s is not writable by this user (uid %d): "
                        "%s; SQLite makes the database's -wal and -shm files there: make it "
                        "writable, or give another --db", db_dir, (int)geteuid(),
                        strerror(e)) > 0;
    }
    return 0;
}

/* A failure of store_open on db (may be NULL): the cause when the database cannot be
 * written, else what SQLite said after `what`. Returns -1. */
static int open_failed(sqlite3 *db, const char *what, const char *msg, char *err, size_t errlen)
{
    char why[1024];
    int code = db ? sqlite3_errcode(db) & 0xff : SQLITE_CANTOPEN;
    if ((code == SQLITE_READONLY || code == SQLITE_CANTOPEN || code == SQLITE_PERM ||
         code == SQLITE_IOERR || (db && sqlite3_db_readonly(db, "main") == 1)) &&
        why_read_only(why, sizeof why))
        snprintf(err, errlen, "database %s cannot be written: %s", db_path, why);
    else
        snprintf(err, errlen, "database %s: %s: %s", db_path, what,
                 msg ? msg : db ? sqlite3_errmsg(db) : "cannot open it");
    sqlite3_close(db);
    return -1;
}

/* A -shm file left by a process that stopped (nobody holds SQLite's locks on it) and that
 * this user cannot write would stop SQLite from opening the database (it needs to rebuild
 * it): it is only an index of the log, rebuilt from the -wal, so it is removed. One that a
 * running process holds is left alone. 0, or -1 with err filled. */
static int stale_shm(char *err, size_t errlen)
{
    char shm[4200];
    snprintf(shm, sizeof shm, "%s-shm", db_path);
    if (access(shm, F_OK) < 0 || access(shm, W_OK) == 0 || errno == EROFS)
        return 0;
    int fd = open(shm, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    /* SQLite's lock bytes in the -shm file: 120 to 127, and 128, held shared by every
     * connection while it has the file open (the unix VFS's UNIX_SHM_BASE and _DMS) */
    struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 120, .l_len = 9};
    int used = fd < 0 || fcntl(fd, F_GETLK, &l) < 0 || l.l_type != F_UNLCK;
    if (fd >= 0)
        close(fd);
    if (used) {
        snprintf(err, errlen, "database %s cannot be written: %s is not writable by this user "
                 "(uid %d) and another process has the database open; stop it, or give "
                 "another --db", db_path, shm, (int)geteuid());
        return -1;
    }
    if (unlink(shm) < 0) {
        snprintf(err, errlen, "database %s cannot be written: %s, left by a process that "
                 "stopped, is not writable by this user (uid %d) and cannot be removed (%s); "
                 "remove it, or give another --db", db_path, shm, (int)geteuid(),
                 strerror(errno));
        return -1;
    }
    fprintf(stderr, "neurond: removed %s, left read-only by a process that stopped; SQLite "
            "rebuilds it from the log\n", shm);
    return 0;
}

/* A migration that holds a VACUUM statement runs outside a transaction (VACUUM cannot run
 * inside one; it is atomic on its own). */
static int holds_vacuum(const char *sql)
{
    for (const char *line = sql; line; line = strchr(line, '\n')) {
        line += *line == '\n';
        line += strspn(line, " \t");
        if (strncasecmp(line, "VACUUM;", 7) == 0)
            return 1;
    }
    return 0;
}

static int migrate(sqlite3 *db, int from, char *err, size_t errlen)
{
    for (int m = from; m < nmigrations; m++) {
        char *msg = NULL, pragma[64], what[64];
        int outside = holds_vacuum(migrations[m]);
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", m + 1);
        snprintf(what, sizeof what, "migration %d failed", m + 1);
        if ((!outside && sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK) ||
            sqlite3_exec(db, migrations[m], NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(db, pragma, NULL, NULL, &msg) != SQLITE_OK ||
            (!outside && sqlite3_exec(db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK)) {
            if (!outside)
                sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            if (out_of_space(db)) {
                struct stat sb;
                long long mb = stat(db_path, &sb) == 0 ? (long long)sb.st_size >> 20 : 0;
                if (outside)
                    snprintf(err, errlen, "database %s: migration %d rewrites the database "
                             "once (VACUUM) and needs about %lld MiB free beside it, twice "
                             "its size: free space, or give another --db", db_path, m + 1,
                             2 * mb + 1);
                else
                    snprintf(err, errlen, "database %s: migration %d needs more space than "
                             "the disk has free: free space, or give another --db", db_path,
                             m + 1);
                sqlite3_free(msg);
                sqlite3_close(db);
                return -1;
            }
            int rc = open_failed(db, what, msg, err, errlen);
            sqlite3_free(msg);
            return rc;
        }
    }
    return 0;
}

int sqlite_open(const char *path, char *err, size_t errlen)
{
    snprintf(db_path, sizeof db_path, "%s", path);
    snprintf(db_dir, sizeof db_dir, "%s", path);
    char *slash = strrchr(db_dir, '/');
    if (!slash)
        snprintf(db_dir, sizeof db_dir, ".");
    else
        slash[slash == db_dir] = 0;
    snprintf(reserve_path, sizeof reserve_path, "%s-reserve", path);
    atomic_store(&gone, 0);
    atomic_store(&full, 0);
    reserve_held = reserve_users = 0;
    char wal[4200];
    struct stat sb;
    snprintf(wal, sizeof wal, "%s-wal", path);
    if (stat(path, &sb) < 0 && errno == ENOENT && stat(wal, &sb) == 0 && sb.st_size > 0) {
        snprintf(err, errlen, "database %s is missing but its log %s is there: the database "
                 "file was deleted or moved; put it back, or move the log (and %s-shm) away "
                 "to start an empty database", path, wal, path);
        return -1;
    }
    if (stale_shm(err, errlen) < 0)
        return -1;
    sqlite3 *db = open_conn(path, 1, err, errlen);
    char why[1024];
    if (!db && why_read_only(why, sizeof why))
        snprintf(err, errlen, "database %s cannot be written: %s", path, why);
    if (!db)
        return -1;
    if (sqlite3_db_readonly(db, "main") == 1)
        return open_failed(db, "opening it", "it opened read-only", err, errlen);
    int v = user_version(db);
    if (v < 0)
        return open_failed(db, "reading its schema version", NULL, err, errlen);
    if (v > nmigrations) {
        snprintf(err, errlen, "database %s has schema version %d, newer than this neurond "
                 "knows (%d): use a newer neurond or another --db", path, v, nmigrations);
        sqlite3_close(db);
        return -1;
    }
    if (migrate(db, v, err, errlen) < 0)
        return -1;
    /* a write that changes nothing proves the database, its log and its index writable */
    char probe[64];
    snprintf(probe, sizeof probe, "BEGIN IMMEDIATE; PRAGMA user_version = %d; COMMIT;",
             nmigrations);
    if (sqlite3_exec(db, probe, NULL, NULL, NULL) != SQLITE_OK) {
        if (!out_of_space(db))
            return open_failed(db, "writing to it", NULL, err, errlen);
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        note_full();   /* it opens all the same: deletes free space through the API */
    }
    if (stat(path, &sb) < 0) {
        snprintf(err, errlen, "database %s: %s", path, strerror(errno));
        sqlite3_close(db);
        return -1;
    }
    opened_dev = sb.st_dev;
    opened_ino = sb.st_ino;
    sqlite3_close(db);
    if (reserve_make() < 0)
        note_full();
    return checkpointer_start(err, errlen);
}

void sqlite_close(void)
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

/* ---- the backend ---- */

/* One process writes a SQLite file: there are no other nodes to tell or hear. */
static void sqlite_announce(enum store_change kind, const char *id, int n,
                            const json_t *payload)
{
    (void)kind, (void)id, (void)n, (void)payload;
}

static int sqlite_watch(store_watch_fn fn, void *ctx)
{
    (void)fn, (void)ctx;
    return 0;
}

const struct store_backend store_sqlite = {
    .name = "SQLite",
    .open = sqlite_open,
    .close = sqlite_close,
    .condition = sqlite_condition,
    .schema_version = sqlite_schema_version,
    .schema_latest = sqlite_schema_latest,
    .announce = sqlite_announce,
    .watch = sqlite_watch,
#define SQLITE_ENTRY(ret, name, params, args) .name = sqlite_##name,
    STORE_CALLS(SQLITE_ENTRY)
#undef SQLITE_ENTRY
};
