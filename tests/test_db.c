/* test_db.c -- server/store/db.c on temporary databases.
 *
 * Connections and the log: a new database gets 64 KiB pages, one made before keeps its
 * own; the checkpointer thread (not the committing thread) copies the log into the
 * database file, so that the log stays about one large commit long while large commits
 * follow each other; the log is cut back to its limit when it restarts, and emptied once
 * nothing was committed for a while. Migrations: 3 moves early stopping's best weights to
 * their own table; 4 switches an existing database to incremental vacuum, after which a
 * delete gives its space back to the disk.
 *
 * The database file: deleted or replaced under the service, every write is refused (and
 * no empty database is made where it was); a database that cannot be written is refused
 * at start with its cause named (its mode, its directory's, a read-only filesystem); a
 * -shm file left read-only by a process that stopped does not stop the next start.
 *
 * A full disk (a small tmpfs): writes that add data are refused, deletes run and give
 * their space back, after which writes are taken again; a job whose last writes find the
 * disk full keeps its checkpoint, waits in the queue, and ends once there is space; the
 * same through HTTP (507, /readyz). Mounting needs root: main says when they are left
 * out. Tests that need another user run the service as nobody when they run as root.
 *
 * A cancel kept by the job's row: a running job marked to be cancelled ends cancelled
 * whatever its training came to.
 *
 * On PostgreSQL (NEUROND_TEST_DB, srvutil.h) the checks of SQLite's file, log and disk
 * have no meaning and are skipped; instead: processes that open one new database at once
 * apply its migrations once, a database of a newer schema is refused, and connections the
 * server cuts are opened again. */
#include "domain/domain.h"
#include "srvutil.h"
#include "testutil.h"

#include "store/db.h"
#include "store/store.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { MIB = 1 << 20, LOG_LIMIT = 1000 * 4096, RESERVE = 8 * MIB };

static long pragma(const char *name)
{
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA %s", name);
    sqlite3_stmt *st;
    ck_assert_int_eq(sqlite3_prepare_v2(db_conn(), sql, -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    long v = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int quick_check_ok(void)
{
    sqlite3_stmt *st;
    ck_assert_int_eq(sqlite3_prepare_v2(db_conn(), "PRAGMA quick_check", -1, &st, NULL),
                     SQLITE_OK);
    int ok = sqlite3_step(st) == SQLITE_ROW &&
             strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
    sqlite3_finalize(st);
    return ok;
}

static void exec(const char *sql)
{
    char *msg = NULL;
    ck_assert_msg(sqlite3_exec(db_conn(), sql, NULL, NULL, &msg) == SQLITE_OK, "%s: %s", sql,
                  msg ? msg : "?");
}

/* A statement on su_db_open's database, whichever backend. */
static void exec_any(const char *sql)
{
    if (su_pg())
        su_pg_exec(su_db_pg(), sql);
    else
        exec(sql);
}

static long file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : 0;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* --db picks the backend: a libpq connection string is PostgreSQL, anything else a file */
START_TEST(db_value_picks_the_backend)
{
    ck_assert_int_eq(store_is_file("var/neurond.db"), 1);
    ck_assert_int_eq(store_is_file("/tmp/a=b.db"), 1);            /* '=' in a path */
    ck_assert_int_eq(store_is_file("data/port=5432"), 1);
    ck_assert_int_eq(store_is_file("postgresql:///neurond?host=/tmp"), 0);
    ck_assert_int_eq(store_is_file("postgres://u@db.example:5432/neurond"), 0);
    ck_assert_int_eq(store_is_file("host=/run/postgresql dbname=neurond"), 0);
    ck_assert_int_eq(store_is_file("dbname = neurond"), 0);
}
END_TEST

START_TEST(new_database_pages)
{
    su_db_open();
    ck_assert_int_eq(pragma("page_size"), 65536);
    ck_assert_int_eq(pragma("synchronous"), 2);   /* FULL */
    su_db_close();
}
END_TEST

START_TEST(old_database_keeps_its_pages)
{
    char dir[64], path[80], err[512];
    su_tmpdir(dir, sizeof dir, "test");
    snprintf(path, sizeof path, "%s/old.db", dir);
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "PRAGMA page_size=4096; PRAGMA journal_mode=WAL; "
                                  "CREATE TABLE kept (x INTEGER); INSERT INTO kept VALUES (7)",
                                  NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    ck_assert_msg(store_open(path, err, sizeof err) == 0, "db_open: %s", err);
    ck_assert_int_eq(pragma("page_size"), 4096);
    ck_assert_int_eq(pragma("user_version"), store_schema_latest());   /* migrated */
    exec("INSERT INTO kept VALUES (8)");
    store_close();
    su_rmdir(dir);
}
END_TEST

enum { BLOB = 4 << 20, COMMITS = 12 };

START_TEST(checkpointer_keeps_the_log_short)
{
    su_db_open();
    char path[300], wal[320];
    snprintf(path, sizeof path, "%s", sqlite3_db_filename(db_conn(), "main"));
    snprintf(wal, sizeof wal, "%s-wal", path);
    exec("CREATE TABLE big (id INTEGER PRIMARY KEY, data BLOB)");
    unsigned char *blob = malloc(BLOB);
    ck_assert_ptr_nonnull(blob);
    long before = db_checkpoints(), max_wal = 0, commits, wakes, commits1, wakes1;
    db_wal_counts(&commits, &wakes);
    for (int i = 0; i < COMMITS; i++) {
        memset(blob, i, BLOB);
        sqlite3_stmt *st;
        ck_assert_int_eq(sqlite3_prepare_v2(db_conn(),
                                            "INSERT OR REPLACE INTO big VALUES (1, ?)", -1, &st,
                                            NULL), SQLITE_OK);
        sqlite3_bind_blob(st, 1, blob, BLOB, SQLITE_STATIC);
        long at = db_checkpoints();
        ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
        sqlite3_finalize(st);
        /* the commit returned without checkpointing here: the thread does it, soon */
        for (int k = 0; k < 500 && db_checkpoints() == at; k++)
            sleep_ms(10);
        ck_assert_msg(db_checkpoints() > at, "no checkpoint after commit %d", i);
        long w = file_size(wal);
        max_wal = w > max_wal ? w : max_wal;
    }
    ck_assert_int_ge(db_checkpoints() - before, COMMITS);
    db_wal_counts(&commits1, &wakes1);   /* each large commit asked for a checkpoint */
    ck_assert_int_eq(commits1 - commits, COMMITS);
    ck_assert_int_eq(wakes1 - wakes, COMMITS);
    /* without checkpoints the log would hold all twelve blobs (48 MiB); with them it is
     * reused from its start, so about one commit (two while a checkpoint races one) */
    ck_assert_msg(max_wal < 3L * BLOB, "the log grew to %ld bytes", max_wal);
    ck_assert_msg(max_wal > BLOB, "the log never held a blob: %ld bytes", max_wal);
    /* every page made it into the database file, which is whole */
    ck_assert_int_ge(file_size(path), BLOB);
    sqlite3_stmt *st;
    ck_assert_int_eq(sqlite3_prepare_v2(db_conn(), "SELECT data FROM big WHERE id = 1", -1, &st,
                                        NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_bytes(st, 0), BLOB);
    const unsigned char *got = sqlite3_column_blob(st, 0);
    ck_assert_int_eq(got[0], COMMITS - 1);
    ck_assert_int_eq(got[BLOB - 1], COMMITS - 1);
    sqlite3_finalize(st);
    ck_assert(quick_check_ok());
    free(blob);
    su_db_close();
}
END_TEST

/* Small commits stay under the threshold and wake nobody: the hook saw each of them (it
 * runs in the committing thread, before the commit returns) and asked for no wake-up. */
START_TEST(small_commits_wake_nobody)
{
    su_db_open();
    exec("CREATE TABLE small (x INTEGER)");
    long at = db_checkpoints(), commits, wakes, commits1, wakes1;
    db_wal_counts(&commits, &wakes);
    for (int i = 0; i < 20; i++)
        exec("INSERT INTO small VALUES (1)");
    db_wal_counts(&commits1, &wakes1);
    ck_assert_int_eq(commits1 - commits, 20);
    ck_assert_int_eq(wakes1 - wakes, 0);
    ck_assert_int_eq(db_checkpoints(), at);
    su_db_close();
}
END_TEST

extern const char *const migrations[];

START_TEST(migration_3_moves_the_best_weights)
{
    char dir[64], path[80], err[512];
    su_tmpdir(dir, sizeof dir, "test");
    snprintf(path, sizeof path, "%s/v2.db", dir);
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    for (int m = 0; m < 2; m++)
        ck_assert_int_eq(sqlite3_exec(db, migrations[m], NULL, NULL, NULL), SQLITE_OK);
    const char *rows =
        "PRAGMA user_version = 2;"
        "INSERT INTO jobs (id, state, request, dataset_id, epochs, created_at) VALUES "
        "  ('job_run', 'running', '{}', 'ds', 9, 'now'),"
        "  ('job_que', 'queued', '{}', 'ds', 9, 'now'),"
        "  ('job_won', 'succeeded', '{}', 'ds', 9, 'now'),"
        "  ('job_off', 'cancelled', '{}', 'ds', 9, 'now');"
        "INSERT INTO checkpoints (job_id, epoch, net, rng, best, state) VALUES "
        "  ('job_run', 4, x'0102', x'03', x'aabbcc', '{\"best_epoch\": 2}'),"
        "  ('job_que', 3, x'0405', x'06', NULL, '{}'),"
        "  ('job_won', 9, x'0708', x'09', x'ddeeff', '{}'),"
        "  ('job_off', 5, x'0a0b', x'0c', NULL, '{}');";
    ck_assert_int_eq(sqlite3_exec(db, rows, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    ck_assert_msg(store_open(path, err, sizeof err) == 0, "db_open: %s", err);
    ck_assert_int_eq(pragma("user_version"), store_schema_latest());
    struct checkpoint c;
    ck_assert_int_eq(store_checkpoint_load("job_run", &c), 0);
    ck_assert_int_eq(c.epoch, 4);
    ck_assert_uint_eq(c.net_len, 2);
    ck_assert_uint_eq(c.best_len, 3);
    ck_assert_mem_eq(c.best, "\xaa\xbb\xcc", 3);
    checkpoint_free(&c);
    ck_assert_int_eq(store_checkpoint_load("job_que", &c), 0);
    ck_assert_ptr_null(c.best);
    checkpoint_free(&c);
    ck_assert_int_eq(store_checkpoint_load("job_won", &c), 1);   /* ended: gone */
    ck_assert_int_eq(store_checkpoint_load("job_off", &c), 1);
    ck_assert(quick_check_ok());
    store_close();
    su_rmdir(dir);
}
END_TEST

/* A cancel is kept by the job's row: a running job marked to be cancelled ends cancelled
 * whatever its training came to (succeeded or failed), and one stopped with the service
 * stays marked, is claimed first when the service starts again, and stops then. */
static void job_row(const char *id)
{
    char sql[256];
    snprintf(sql, sizeof sql, "INSERT INTO jobs (id, state, request, dataset_id, epochs, "
             "created_at) VALUES ('%s', 'queued', '{}', 'ds_x', 5, '2026-01-01T00:00:00.000Z')",
             id);
    exec_any(sql);
}

static enum job_state state_of(const char *id)
{
    enum job_state st;
    ck_assert_int_eq(store_job_state(id, &st), STORE_OK);
    return st;
}

static void claim(const char *want)
{
    char id[32];
    ck_assert_int_eq(store_job_claim(NULL, id, NULL), STORE_OK);
    ck_assert_str_eq(id, want);
}

START_TEST(a_cancel_is_kept_by_the_row)
{
    su_db_open();
    const char *ids[] = {"job_c", "job_a", "job_b", "job_d", "job_e"};
    for (int i = 0; i < 5; i++)
        job_row(ids[i]);
    enum job_state was, ended;

    /* c: cancelled while running, then the service stops: it waits to resume, still
     * marked, and a second cancel is answered as for a running job */
    claim("job_c");
    ck_assert_int_eq(store_job_cancel("job_c", &was), STORE_OK);
    ck_assert_int_eq(store_job_finish("job_c", 0, JOB_QUEUED, NULL, NULL, &ended), STORE_OK);
    ck_assert_int_eq(ended, JOB_QUEUED);
    ck_assert_int_eq(store_job_cancel("job_c", &was), STORE_OK);
    ck_assert_int_eq(was, JOB_RUNNING);
    ck_assert_int_eq(state_of("job_c"), JOB_QUEUED);

    /* the marked job is claimed first, even behind jobs queued before it */
    exec("UPDATE jobs SET seq = 100 WHERE id = 'job_c'");
    claim("job_c");
    ck_assert_int_eq(store_job_cancelling("job_c"), 1);
    ck_assert_int_eq(store_job_finish("job_c", 0, JOB_SUCCEEDED, NULL, NULL, &ended), STORE_OK);
    ck_assert_int_eq(ended, JOB_CANCELLED);

    /* a: cancelled while running, then its training succeeds: it ends cancelled */
    claim("job_a");
    ck_assert_int_eq(store_job_cancelling("job_a"), 0);
    ck_assert_int_eq(store_job_cancel("job_a", &was), STORE_OK);
    ck_assert_int_eq(was, JOB_RUNNING);
    ck_assert_int_eq(store_job_cancelling("job_a"), 1);
    ck_assert_int_eq(store_job_finish("job_a", 0, JOB_SUCCEEDED, NULL, NULL, &ended), STORE_OK);
    ck_assert_int_eq(ended, JOB_CANCELLED);
    ck_assert_int_eq(state_of("job_a"), JOB_CANCELLED);
    ck_assert_int_eq(store_job_cancel("job_a", &was), STORE_CONFLICT);
    ck_assert_int_eq(was, JOB_CANCELLED);

    /* b: cancelled while running, then it fails: cancelled too */
    claim("job_b");
    ck_assert_int_eq(store_job_cancel("job_b", &was), STORE_OK);
    json_t *err = json_pack("{s:s}", "title", "Training failed");
    ck_assert_int_eq(store_job_finish("job_b", 0, JOB_FAILED, err, NULL, &ended), STORE_OK);
    json_decref(err);
    ck_assert_int_eq(ended, JOB_CANCELLED);

    /* e: queued and not marked, cancelled at once */
    ck_assert_int_eq(store_job_cancel("job_e", &was), STORE_OK);
    ck_assert_int_eq(was, JOB_QUEUED);
    ck_assert_int_eq(state_of("job_e"), JOB_CANCELLED);

    claim("job_d");
    ck_assert_int_eq(store_job_cancelling("job_d"), 0);
    ck_assert_int_eq(store_job_finish("job_d", 0, JOB_SUCCEEDED, NULL, NULL, &ended), STORE_OK);
    ck_assert_int_eq(ended, JOB_SUCCEEDED);
    ck_assert_int_eq(store_job_cancel("job_d", &was), STORE_CONFLICT);
    ck_assert_int_eq(was, JOB_SUCCEEDED);
    ck_assert_int_eq(store_job_cancel("job_zz", &was), STORE_NOT_FOUND);
    su_db_close();
}
END_TEST

/* Waits (up to `seconds`) until cond() holds; fails the test naming `what` if it never
 * does. The checkpointer acts once a second: these are generous bounds, not timings. */
static void wait_for(int (*cond)(void *), void *arg, int seconds, const char *what)
{
    for (int i = 0; i < seconds * 20; i++) {
        if (cond(arg))
            return;
        sleep_ms(50);
    }
    ck_abort_msg("%s: not within %d s", what, seconds);
}

/* A dataset of rows x features whose values say where they are (seed, row, column),
 * stored through the domain as an upload is; its id into id (32 bytes). The store's
 * answer. */
static int put_dataset(int rows, int features, int seed, char *id)
{
    struct dataset d = {.rows = rows, .features = features, .label_cols = 1,
                        .label_kind = LABELS_NUMBERS};
    d.name = strdup("data");
    d.columns = json_array();
    d.x = malloc(sizeof(float) * (size_t)rows * features);
    d.y = malloc(sizeof(float) * (size_t)rows);
    ck_assert(d.name && d.columns && d.x && d.y);
    for (int j = 0; j < features; j++)
        json_array_append_new(d.columns, json_sprintf("f%d", j));
    for (size_t i = 0; i < (size_t)rows * features; i++)
        d.x[i] = (float)(seed * 1000003 + (long)i % 1000003);
    for (int i = 0; i < rows; i++)
        d.y[i] = (float)(i % 3);
    int rc = dataset_create(&d);
    snprintf(id, 32, "%s", d.id);
    dataset_free(&d);
    return rc;
}

/* The dataset put_dataset stored, read back whole. */
static void ck_dataset(const char *id, int rows, int features, int seed)
{
    struct dataset d;
    ck_assert_int_eq(store_dataset_load(id, &d), STORE_OK);
    ck_assert_int_eq(d.rows, rows);
    ck_assert_int_eq(d.features, features);
    for (size_t i = 0; i < (size_t)rows * features; i++)
        if (d.x[i] != (float)(seed * 1000003 + (long)i % 1000003))
            ck_abort_msg("dataset %s: value %zu is %g", id, i, d.x[i]);
    dataset_free(&d);
}

static long long disk_free(const char *dir)
{
    struct statvfs v;
    ck_assert_int_eq(statvfs(dir, &v), 0);
    return (long long)v.f_bavail * (long long)v.f_frsize;
}

static int store_ok(void *arg)
{
    (void)arg;
    return store_condition() == STORE_OK;
}

/* More than the reserve free on the disk holding the directory arg. */
static int reserve_free(void *arg) { return disk_free(arg) > RESERVE; }

static const char *db_path(void) { return sqlite3_db_filename(db_conn(), "main"); }

/* ---- the queue's limits ---- */

/* Queues a job of owner (NULL: none) under the limits; the store's answer, and whether
 * the owner's limit was the one met. */
static int queue(const char *ds, const char *owner, long all, long per_owner, int *owner_full)
{
    static int n;
    char id[32];
    snprintf(id, sizeof id, "job_%d", n++);
    json_t *req = json_object();
    struct job_new j = {.id = id, .request = req, .dataset_id = ds, .epochs = 1,
                        .owner = owner, .max_queued = all, .max_queued_owner = per_owner};
    int rc = store_job_insert(&j);
    json_decref(req);
    *owner_full = j.owner_full;
    return rc;
}

/* Leases, on both backends: a claimed job is held from other nodes until its lease
 * lapses; then another node takes it as the next attempt, and every write of the
 * attempt before is refused (STORE_FENCED) with nothing of it stored; at max_attempts
 * dead attempts the next claim ends the job failed, saying why. */
START_TEST(leases_fence_writes_and_count_dead_attempts)
{
    su_db_open();
    char ds[32], id[32], other[32];
    int of, attempt = 0, cancel = -1;
    ck_assert_int_eq(put_dataset(2, 2, 0, ds), STORE_OK);
    ck_assert_int_eq(queue(ds, NULL, 10, 10, &of), STORE_OK);
    const struct claimer a = {"node-a", 1, 2}, b = {"node-b", 1, 2};
    ck_assert_int_eq(store_job_claim(&a, id, &attempt), STORE_OK);
    ck_assert_int_eq(attempt, 1);
    ck_assert_int_eq(store_job_claim(&b, other, NULL), STORE_NOT_FOUND);   /* held */
    ck_assert_int_eq(store_job_renew(id, 1, 1, &cancel), STORE_OK);
    ck_assert_int_eq(cancel, 0);
    ck_assert_int_eq(store_job_progress(id, 1, 0.5, 1), STORE_OK);
    sleep_ms(1500);   /* a's lease lapses: b takes the job */
    ck_assert_int_eq(store_job_claim(&b, other, &attempt), STORE_OK);
    ck_assert_str_eq(other, id);
    ck_assert_int_eq(attempt, 2);
    struct job j;
    ck_assert_int_eq(store_job_get(id, &j), STORE_OK);
    ck_assert_str_eq(j.node, "node-b");
    ck_assert_int_eq(j.attempt, 2);
    ck_assert_int_eq(j.state, JOB_RUNNING);
    job_free(&j);

    json_t *row = json_pack("{s:i}", "epoch", 1), *es = json_object(), *rows = NULL;
    struct checkpoint cp = {.epoch = 1, .net = "net", .net_len = 3, .rng = "rng", .rng_len = 3,
                            .state = es}, got;
    ck_assert_int_eq(store_checkpoint_save(id, 1, &cp, row, 0.2, 1), STORE_FENCED);
    ck_assert_int_eq(store_job_progress(id, 1, 0.9, 1), STORE_FENCED);
    ck_assert_int_eq(store_job_renew(id, 1, 1, NULL), STORE_FENCED);
    ck_assert_int_eq(store_job_finish(id, 1, JOB_SUCCEEDED, NULL, NULL, NULL), STORE_FENCED);
    ck_assert_int_eq(store_job_epochs(id, 0, -1, &rows), STORE_OK);
    ck_assert_uint_eq(json_array_size(rows), 0);
    json_decref(rows);
    ck_assert_int_eq(store_checkpoint_load(id, &got), STORE_NOT_FOUND);
    ck_assert_int_eq(state_of(id), JOB_RUNNING);
    ck_assert_int_eq(store_checkpoint_save(id, 2, &cp, row, 0.2, 1), STORE_OK);   /* b's */
    ck_assert_int_eq(store_checkpoint_load(id, &got), STORE_OK);
    checkpoint_free(&got);

    /* a cancel marked through any node is read by the renewal */
    enum job_state was;
    ck_assert_int_eq(store_job_cancel(id, &was), STORE_OK);
    ck_assert_int_eq(was, JOB_RUNNING);
    ck_assert_int_eq(store_job_renew(id, 2, 1, &cancel), STORE_OK);
    ck_assert_int_eq(cancel, 1);

    sleep_ms(1500);   /* b's lapses too: 2 dead attempts of 2, the job ends */
    ck_assert_int_eq(store_job_claim(&a, other, NULL), STORE_NOT_FOUND);
    ck_assert_int_eq(store_job_get(id, &j), STORE_OK);
    ck_assert_int_eq(j.state, JOB_CANCELLED);   /* its cancel was answered 202 */
    ck_assert_str_eq(json_string_value(json_object_get(j.error, "title")), "Job died");
    const char *d = json_string_value(json_object_get(j.error, "detail"));
    ck_assert_msg(d && strstr(d, "died in 2 attempts, the last on node node-b"), "%s", d);
    job_free(&j);
    ck_assert_int_eq(store_checkpoint_load(id, &got), STORE_NOT_FOUND);

    /* a process that starts again: a stop requeued without a dead attempt, a death with
     * one; on PostgreSQL only the node's own */
    ck_assert_int_eq(queue(ds, NULL, 10, 10, &of), STORE_OK);
    ck_assert_int_eq(store_job_claim(&a, id, &attempt), STORE_OK);
    ck_assert_int_eq(store_job_finish(id, attempt, JOB_QUEUED, NULL, NULL, NULL), STORE_OK);
    ck_assert_int_eq(store_job_claim(&a, other, &attempt), STORE_OK);
    ck_assert_int_eq(attempt, 2);
    ck_assert_int_eq(store_job_requeue_running("node-z", 2), su_pg() ? 0 : 1);
    if (su_pg()) {
        ck_assert_int_eq(state_of(id), JOB_RUNNING);   /* node-z's are not a's */
        ck_assert_int_eq(store_job_requeue_running("node-a", 2), 1);
    }
    ck_assert_int_eq(state_of(id), JOB_QUEUED);   /* 1 dead attempt */
    ck_assert_int_eq(store_job_claim(&a, other, &attempt), STORE_OK);
    ck_assert_int_eq(store_job_requeue_running("node-a", 2), 1);
    ck_assert_int_eq(state_of(id), JOB_FAILED);   /* 2 */
    json_decref(row);
    json_decref(es);
    su_db_close();
}
END_TEST

/* The queue takes max_queued jobs in all and max_queued_owner of each owner; jobs of no
 * owner (no tokens) count in all only; a job that leaves the queue frees its place. */
START_TEST(the_queue_counts_each_owner)
{
    su_db_open();
    char ds[32], claimed[32];
    int of;
    ck_assert_int_eq(put_dataset(2, 2, 0, ds), STORE_OK);
    ck_assert_int_eq(queue(ds, "ci", 5, 2, &of), STORE_OK);
    ck_assert_int_eq(queue(ds, "ci", 5, 2, &of), STORE_OK);
    ck_assert_int_eq(queue(ds, "ci", 5, 2, &of), STORE_LIMIT);
    ck_assert_int_eq(of, 1);
    ck_assert_int_eq(queue(ds, "nb", 5, 2, &of), STORE_OK);
    ck_assert_int_eq(queue(ds, NULL, 5, 2, &of), STORE_OK);
    ck_assert_int_eq(queue(ds, NULL, 5, 2, &of), STORE_OK);   /* 5 queued */
    ck_assert_int_eq(queue(ds, NULL, 5, 2, &of), STORE_LIMIT);
    ck_assert_int_eq(of, 0);
    ck_assert_int_eq(queue(ds, "nb", 5, 2, &of), STORE_LIMIT);
    ck_assert_int_eq(of, 0);
    /* ci's first job runs: ci may queue one more, and the queue has a place for it */
    ck_assert_int_eq(store_job_claim(NULL, claimed, NULL), STORE_OK);
    ck_assert_str_eq(claimed, "job_0");
    ck_assert_int_eq(queue(ds, "ci", 5, 2, &of), STORE_OK);
    ck_assert_int_eq(queue(ds, "ci", 6, 2, &of), STORE_LIMIT);
    ck_assert_int_eq(of, 1);
    sqlite3_stmt *st;
    ck_assert_int_eq(sqlite3_prepare_v2(db_conn(), "SELECT owner, count(*) FROM jobs GROUP BY "
                                        "owner ORDER BY owner", -1, &st, NULL), SQLITE_OK);
    const char *want[][2] = {{NULL, "2"}, {"ci", "3"}, {"nb", "1"}};
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
        ck_assert_pstr_eq((const char *)sqlite3_column_text(st, 0), want[i][0]);
        ck_assert_str_eq((const char *)sqlite3_column_text(st, 1), want[i][1]);
    }
    ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    store_close();
}
END_TEST

/* ---- jobs queued while workers take them ---- */

struct busy_queue {
    const char *ds;
    _Atomic int inserted, refused, taken, unfinished, stop;
};

/* Queues 60 jobs, one after another, as requests do; counts what the store refused. */
static void *queue_jobs(void *arg)
{
    struct busy_queue *b = arg;
    for (int i = 0; i < 60; i++) {
        char id[32];
        snprintf(id, sizeof id, "job_%lx_%d", (unsigned long)pthread_self() & 0xffffff, i);
        json_t *req = json_object();
        struct job_new j = {.id = id, .request = req, .dataset_id = b->ds, .epochs = 1,
                            .max_queued = 1000, .max_queued_owner = 100};
        atomic_fetch_add(store_job_insert(&j) == STORE_OK ? &b->inserted : &b->refused, 1);
        json_decref(req);
    }
    return NULL;
}

/* Takes jobs and ends them at once, as a worker does with tiny jobs, until told to stop
 * and the queue is empty; looks again every millisecond while none is queued. */
static void *take_jobs(void *arg)
{
    struct busy_queue *b = arg;
    const struct claimer me = {"node-busy", 30, 3};
    char id[32];
    for (;;) {
        int attempt = 0;
        if (store_job_claim(&me, id, &attempt) == STORE_OK) {
            enum job_state ended;
            if (store_job_finish(id, attempt, JOB_SUCCEEDED, NULL, NULL, &ended) != STORE_OK)
                atomic_fetch_add(&b->unfinished, 1);
            atomic_fetch_add(&b->taken, 1);
        } else if (atomic_load(&b->stop)) {
            return NULL;
        } else {
            sleep_ms(1);
        }
    }
}

/* Three threads queue jobs while two take and end them: no job is refused (on
 * PostgreSQL, counting the queue must not fail for the claims and ends around it), and
 * every one is taken and ended once. */
START_TEST(jobs_queue_while_workers_take_them)
{
    su_db_open();
    char ds[32];
    ck_assert_int_eq(put_dataset(2, 2, 0, ds), STORE_OK);
    struct busy_queue b = {.ds = ds};
    pthread_t q[3], w[2];
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&w[i], NULL, take_jobs, &b), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(pthread_create(&q[i], NULL, queue_jobs, &b), 0);
    for (int i = 0; i < 3; i++)
        pthread_join(q[i], NULL);
    atomic_store(&b.stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(w[i], NULL);
    ck_assert_msg(atomic_load(&b.refused) == 0, "%d of 180 jobs refused",
                  atomic_load(&b.refused));
    ck_assert_int_eq(atomic_load(&b.inserted), 180);
    ck_assert_int_eq(atomic_load(&b.taken), 180);
    ck_assert_int_eq(atomic_load(&b.unfinished), 0);
    su_db_close();
}
END_TEST

/* ---- the log ---- */

struct file_at_most {
    const char *path;
    long bytes;
};

static int file_at_most(void *arg)
{
    const struct file_at_most *f = arg;
    return file_size(f->path) <= f->bytes;
}

/* Once nothing was committed for a second, the checkpointer empties the log (a
 * truncating checkpoint): a service at rest keeps no log. */
START_TEST(idle_log_is_emptied)
{
    su_db_open();
    char wal[320];
    snprintf(wal, sizeof wal, "%s-wal", db_path());
    exec("CREATE TABLE big (id INTEGER PRIMARY KEY, data BLOB)");
    exec("INSERT INTO big VALUES (1, zeroblob(6000000))");
    ck_assert_int_gt(file_size(wal), 6000000);
    long at = db_log_truncations();
    struct file_at_most empty = {wal, 0};
    wait_for(file_at_most, &empty, 30, "the log emptied");
    for (int k = 0; k < 200 && db_log_truncations() == at; k++)   /* counted just after */
        sleep_ms(10);
    ck_assert_int_gt(db_log_truncations(), at);
    ck_assert(quick_check_ok());
    su_db_close();
}
END_TEST

/* journal_size_limit: a log that one large commit grew is cut back to the limit when it
 * restarts (after the checkpointer copied it), not kept at its largest. */
START_TEST(log_is_cut_back_when_it_restarts)
{
    su_db_open();
    ck_assert_int_eq(pragma("journal_size_limit"), LOG_LIMIT);
    char wal[320];
    snprintf(wal, sizeof wal, "%s-wal", db_path());
    exec("CREATE TABLE big (id INTEGER PRIMARY KEY, data BLOB)");
    long at = db_checkpoints();
    exec("INSERT INTO big VALUES (1, zeroblob(12000000))");
    ck_assert_int_gt(file_size(wal), 12000000);
    for (int k = 0; k < 600 && db_checkpoints() == at; k++)
        sleep_ms(50);
    ck_assert_int_gt(db_checkpoints(), at);
    exec("INSERT INTO big VALUES (2, x'01')");   /* restarts the log from its start */
    ck_assert_msg(file_size(wal) <= LOG_LIMIT, "the log is %ld bytes", file_size(wal));
    su_db_close();
}
END_TEST

/* ---- space given back ---- */

struct shrunk {
    const char *path;
    long below;
};

/* The file is under the size, and no page is left free in it. */
static int shrunk(void *arg)
{
    const struct shrunk *s = arg;
    return file_size(s->path) < s->below && pragma("freelist_count") == 0;
}

/* Deleting a large dataset shrinks the database file by about its size: the
 * checkpointer runs the incremental vacuum after the delete, then a truncating
 * checkpoint. */
START_TEST(deleted_data_gives_its_space_back)
{
    su_db_open();
    ck_assert_int_eq(pragma("auto_vacuum"), 2);   /* incremental */
    char path[300], id[32], keep[32];
    snprintf(path, sizeof path, "%s", db_path());
    ck_assert_int_eq(put_dataset(100, 10, 1, keep), STORE_OK);
    ck_assert_int_eq(put_dataset(4096, 1024, 2, id), STORE_OK);   /* 16 MiB */
    /* the checkpointer copies the commit (over its threshold) into the file */
    struct file_at_most small = {path, 16 * MIB};
    for (int k = 0; k < 600 && file_at_most(&small); k++)
        sleep_ms(50);
    long size = file_size(path);
    ck_assert_int_gt(size, 16 * MIB);
    struct shrunk settled = {path, 0};
    ck_assert_int_eq(store_dataset_delete(id), STORE_OK);
    settled.below = size - 15 * MIB;
    wait_for(shrunk, &settled, 30, "the database file shrunk by the dataset's size");
    ck_dataset(keep, 100, 10, 1);
    ck_assert(quick_check_ok());
    su_db_close();
}
END_TEST

/* Migration 4 rewrites a database made before it (auto_vacuum off) with incremental
 * vacuum, keeping what it holds. */
START_TEST(migration_4_switches_to_incremental_vacuum)
{
    char dir[64], path[80], err[512];
    su_tmpdir(dir, sizeof dir, "test");
    snprintf(path, sizeof path, "%s/v3.db", dir);
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL), SQLITE_OK);
    for (int m = 0; m < 3; m++)
        ck_assert_int_eq(sqlite3_exec(db, migrations[m], NULL, NULL, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "PRAGMA user_version = 3; INSERT INTO networks (id, "
                                  "created_at, definition, summary, warnings) VALUES ('net_a', "
                                  "'now', '{}', '{}', '[]')", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    ck_assert_msg(store_open(path, err, sizeof err) == 0, "store_open: %s", err);
    ck_assert_int_eq(pragma("user_version"), store_schema_latest());
    ck_assert_int_eq(pragma("auto_vacuum"), 2);
    struct network n;
    ck_assert_int_eq(store_network_get("net_a", &n), STORE_OK);
    network_free(&n);
    ck_assert(quick_check_ok());
    store_close();
    su_rmdir(dir);
}
END_TEST

/* ---- the database file ---- */

struct other_thread {
    int rc;
};

static void *insert_elsewhere(void *arg)
{
    struct other_thread *t = arg;
    char id[32];
    t->rc = put_dataset(10, 2, 7, id);
    return NULL;
}

/* A database file deleted under the store: every write is refused (nothing is lost
 * silently into the unlinked file), also from a thread that opens its first connection
 * then, which makes no new empty database where the file was; what was open still reads. */
START_TEST(deleted_database_refuses_writes)
{
    su_db_open();
    char path[300], id[32], id2[32];
    snprintf(path, sizeof path, "%s", db_path());
    ck_assert_int_eq(put_dataset(10, 2, 1, id), STORE_OK);
    ck_assert_int_eq(store_condition(), STORE_OK);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(put_dataset(10, 2, 2, id2), STORE_GONE);
    ck_assert_int_eq(store_dataset_delete(id), STORE_GONE);
    ck_assert_int_eq(store_condition(), STORE_GONE);
    pthread_t th;
    struct other_thread t = {0};
    ck_assert_int_eq(pthread_create(&th, NULL, insert_elsewhere, &t), 0);
    pthread_join(th, NULL);
    ck_assert_int_eq(t.rc, STORE_GONE);
    ck_assert_msg(access(path, F_OK) < 0 && errno == ENOENT, "a database was made at %s", path);
    struct dataset d;
    ck_assert_int_eq(store_dataset_get(id, &d), STORE_OK);
    dataset_free(&d);
    su_db_close();
}
END_TEST

/* Another file moved to the database's path is not the database: writes are refused. */
START_TEST(replaced_database_refuses_writes)
{
    su_db_open();
    char path[300], other[320], id[32];
    snprintf(path, sizeof path, "%s", db_path());
    snprintf(other, sizeof other, "%s.other", path);
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(other, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "CREATE TABLE t (x)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    ck_assert_int_eq(put_dataset(10, 2, 1, id), STORE_OK);
    ck_assert_int_eq(rename(other, path), 0);
    ck_assert_int_eq(put_dataset(10, 2, 2, id), STORE_GONE);
    ck_assert_int_eq(store_condition(), STORE_GONE);
    su_db_close();
}
END_TEST

/* The service the same way: a write after the file was deleted answers 503 and stores
 * nothing, /readyz says why. */
START_TEST(deleted_database_through_http)
{
    struct server s = {0};
    su_start(&s, NULL);
    char *ds = su_dataset(&s, 30, 4, 0);
    ck_assert_int_eq(unlink(s.db), 0);
    char *body = su_blobs_json(30, 4, 0);
    struct http_reply h = su_http(&s, "POST", "/v1/datasets", body, strlen(body),
                                  "application/json");
    ck_assert_msg(h.status == 503, "%ld %s", h.status, h.body);
    ck_assert_str_eq(h.ctype, "application/problem+json");
    ck_assert(strstr(h.body, "deleted or replaced") != NULL);
    su_http_free(&h);
    h = su_http(&s, "GET", "/readyz", NULL, 0, NULL);
    ck_assert_int_eq(h.status, 503);
    ck_assert_msg(strstr(h.body, "database file gone") != NULL, "%s", h.body);
    su_http_free(&h);
    /* reads answer from the file still open, or 503 on a thread whose first connection
     * comes after the deletion: never 500 */
    for (int k = 0; k < 4; k++) {
        h = su_http(&s, "GET", "/v1/datasets", NULL, 0, NULL);
        ck_assert_msg(h.status == 200 || h.status == 503, "%ld %s", h.status, h.body);
        if (h.status == 200)
            ck_assert(strstr(h.body, ds) != NULL);
        su_http_free(&h);
    }
    ck_assert_msg(access(s.db, F_OK) < 0, "a database was made at %s", s.db);
    su_stop(&s, 0);
    su_cleanup(&s);
    free(ds);
    free(body);
}
END_TEST

/* ---- starting on a database that cannot be written ---- */

/* Who runs the service in these tests: as root, nobody (root writes whatever the modes
 * say); otherwise the user the tests run as (0: unchanged). */
static uid_t service_uid(void) { return geteuid() == 0 ? 65534 : 0; }

/* A temporary directory the service's user owns. */
static void user_dir(char *dir, size_t cap)
{
    su_tmpdir(dir, cap, "ro");
    if (service_uid())
        ck_assert_int_eq(chown(dir, service_uid(), service_uid()), 0);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* Runs the service on db as service_uid() and expects it to refuse to start: its exit
 * status is 1 and what it wrote goes into out. Fails the test when it is still running
 * after 30 s (it started). */
static void refused_start(const char *db, char *out, size_t cap)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    char port[16];
    snprintf(port, sizeof port, "%d", free_port());
    const char *bin = getenv("NEUROND_BIN") ? getenv("NEUROND_BIN") : "build/neurond";
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(p[1], 1);
        dup2(p[1], 2);
        close(p[0]);
        uid_t u = service_uid();
        if (u && (setgroups(0, NULL) < 0 || setgid(u) < 0 || setuid(u) < 0))
            _exit(126);
        execl(bin, bin, "--port", port, "--db", db, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    size_t n = 0;
    ssize_t k;
    int status = 0, done = 0;
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    for (int i = 0; i < 600 && !done; i++) {
        while (n + 1 < cap && (k = read(p[0], out + n, cap - 1 - n)) > 0)
            n += (size_t)k;
        done = waitpid(pid, &status, WNOHANG) == pid;
        if (!done)
            sleep_ms(50);
    }
    while (n + 1 < cap && (k = read(p[0], out + n, cap - 1 - n)) > 0)
        n += (size_t)k;
    out[n] = 0;
    close(p[0]);
    if (!done) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        ck_abort_msg("the service started on %s: %s", db, out);
    }
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status %d: %s", status, out);
}

/* Makes a database in dir as the service's user: started, given a dataset, stopped (by
 * SIGKILL when kill, leaving its -wal and -shm). The server's directory is dir. */
static void made_by_the_service(struct server *s, const char *dir, int kill)
{
    memset(s, 0, sizeof *s);
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    snprintf(s->db, sizeof s->db, "%s/neurond.db", dir);
    s->uid = service_uid();
    su_start(s, NULL);
    free(su_dataset(s, 30, 4, 0));
    su_stop(s, kill);
}

START_TEST(read_only_database_is_named)
{
    char dir[64], out[2048];
    struct server s;
    user_dir(dir, sizeof dir);
    made_by_the_service(&s, dir, 0);
    ck_assert_int_eq(chmod(s.db, 0444), 0);
    refused_start(s.db, out, sizeof out);
    ck_assert_msg(strstr(out, s.db) && strstr(out, "is not writable by this user") &&
                  strstr(out, "mode 0444"), "%s", out);
    ck_assert_int_eq(su_count(out, "\n"), 1);   /* one line */
    su_rmdir(dir);
}
END_TEST

START_TEST(read_only_directory_is_named)
{
    char dir[64], out[2048];
    struct server s;
    user_dir(dir, sizeof dir);
    made_by_the_service(&s, dir, 0);   /* a clean stop: no -wal, no -shm */
    ck_assert_int_eq(chmod(dir, 0555), 0);
    refused_start(s.db, out, sizeof out);
    ck_assert_int_eq(chmod(dir, 0755), 0);
    ck_assert_msg(strstr(out, "the directory") && strstr(out, dir) &&
                  strstr(out, "is not writable"), "%s", out);
    su_rmdir(dir);
}
END_TEST

/* A -shm left read-only by a process that was killed: the next start removes it (SQLite
 * rebuilds it from the log) and finds everything stored; while another process has the
 * database open, it is left alone and the start is refused, naming why. */
START_TEST(stale_read_only_shm_does_not_block)
{
    char dir[64], shm[1100], out[2048];
    struct server s;
    user_dir(dir, sizeof dir);
    made_by_the_service(&s, dir, 1);
    snprintf(shm, sizeof shm, "%s-shm", s.db);
    ck_assert_int_eq(chmod(shm, 0444), 0);
    su_start(&s, NULL);
    json_t *list = su_get_json(&s, "/v1/datasets");
    ck_assert_int_eq(json_array_size(json_object_get(list, "items")), 1);
    json_decref(list);
    free(su_dataset(&s, 30, 4, 0));   /* and it writes */
    struct http_reply h = su_http(&s, "GET", "/readyz", NULL, 0, NULL);
    ck_assert_int_eq(h.status, 200);
    su_http_free(&h);
    /* in use: refused */
    ck_assert_int_eq(chmod(shm, 0444), 0);
    refused_start(s.db, out, sizeof out);
    ck_assert_msg(strstr(out, shm) && strstr(out, "another process has the database open"),
                  "%s", out);
    ck_assert_int_eq(chmod(shm, 0644), 0);
    su_stop(&s, 0);
    su_rmdir(dir);
}
END_TEST

/* The database's file is missing but its log is there: the database was deleted or
 * moved, and starting would put that log into a new empty database. */
START_TEST(log_without_its_database_is_refused)
{
    char dir[64], db[96], wal[100], out[2048];
    user_dir(dir, sizeof dir);
    snprintf(db, sizeof db, "%s/neurond.db", dir);
    snprintf(wal, sizeof wal, "%s-wal", db);
    FILE *f = fopen(wal, "w");
    ck_assert_ptr_nonnull(f);
    fputs("a log", f);
    fclose(f);
    ck_assert_int_eq(chmod(wal, 0666), 0);
    refused_start(db, out, sizeof out);
    ck_assert_msg(strstr(out, "is missing but its log") != NULL, "%s", out);
    ck_assert_msg(access(db, F_OK) < 0, "a database was made at %s", db);
    su_rmdir(dir);
}
END_TEST

/* ---- a full disk (tmpfs) ---- */

/* A new directory with a tmpfs of mb MiB on it, in this process's mount namespace. */
static void tmpfs_make(char *dir, size_t cap, int mb)
{
    char opt[32];
    su_tmpdir(dir, cap, "tmpfs");
    snprintf(opt, sizeof opt, "size=%dm", mb);
    ck_assert_msg(mount("tmpfs", dir, "tmpfs", 0, opt) == 0, "mount %s: %s", dir,
                  strerror(errno));
}

static void tmpfs_drop(const char *dir)
{
    ck_assert_msg(umount(dir) == 0, "umount %s: %s", dir, strerror(errno));
    su_rmdir(dir);
}

/* Writes dir/filler until not one more byte fits on the disk. */
static void fill(const char *dir)
{
    char path[300];
    static char chunk[1 << 16];
    snprintf(path, sizeof path, "%s/filler", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    ck_assert_int_ge(fd, 0);
    for (size_t n = sizeof chunk; n >= 1; n /= 2)
        while (write(fd, chunk, n) == (ssize_t)n)
            ;
    close(fd);
    ck_assert_int_lt(disk_free(dir), 4096);
}

/* Datasets until the disk is full: then writes that add data are refused at once, the
 * store reports it, and the disk has no room left; deletes run all the same (the first
 * on the reserve) and, once the checkpointer gave their space back, writes are taken
 * again. What was stored and not deleted is whole. */
START_TEST(full_disk_takes_deletes_then_writes_again)
{
    enum { ROWS = 1024, FEATURES = 256, MAX = 64 };   /* 1 MiB a dataset */
    char dir[64], path[96], err[512], ids[MAX][32], spare[32];
    tmpfs_make(dir, sizeof dir, 24);
    snprintf(path, sizeof path, "%s/test.db", dir);
    ck_assert_msg(store_open(path, err, sizeof err) == 0, "store_open: %s", err);
    ck_assert_int_eq(store_condition(), STORE_OK);
    char reserve[120];
    snprintf(reserve, sizeof reserve, "%s-reserve", path);
    ck_assert_int_eq(file_size(reserve), RESERVE);
    int n = 0, rc;
    while ((rc = put_dataset(ROWS, FEATURES, n, ids[n])) == STORE_OK)
        ck_assert_int_lt(++n, MAX);
    ck_assert_int_eq(rc, STORE_FULL);
    ck_assert_int_ge(n, 4);
    ck_assert_int_eq(store_condition(), STORE_FULL);
    ck_assert_msg(disk_free(dir) < MIB, "%lld bytes free", disk_free(dir));
    /* refused at once, nothing stored */
    ck_assert_int_eq(put_dataset(2, 2, 99, spare), STORE_FULL);
    struct network net = {.id = "net_x", .created_at = "now", .definition = json_object(),
                          .summary = json_object(), .warnings = json_array()};
    ck_assert_int_eq(store_network_insert(&net), STORE_FULL);
    json_t *req = json_object();
    struct job_new job = {.id = "job_x", .request = req, .dataset_id = ids[0], .epochs = 1,
                          .max_queued = 10, .max_queued_owner = 10};
    ck_assert_int_eq(store_job_insert(&job), STORE_FULL);
    char claimed[32];
    ck_assert_int_eq(store_job_claim(NULL, claimed, NULL), STORE_FULL);
    json_decref(req);
    /* deletes run */
    for (int k = 0; k < n - 2; k++)
        ck_assert_int_eq(store_dataset_delete(ids[k]), STORE_OK);
    char wal[120];
    snprintf(wal, sizeof wal, "%s-wal", path);
    for (int i = 0; i < 60 * 20 && !store_ok(NULL); i++)
        sleep_ms(50);
    ck_assert_msg(store_ok(NULL), "writes not taken again within 60 s: %lld bytes free, the "
                  "database %ld bytes, its log %ld, the reserve %ld", disk_free(dir),
                  file_size(path), file_size(wal), file_size(reserve));
    ck_assert_int_eq(file_size(reserve), RESERVE);
    /* the freed pages go back to the disk; the log of that work takes some meanwhile */
    wait_for(reserve_free, dir, 30, "more than the reserve free");
    ck_assert_int_eq(store_network_insert(&net), STORE_OK);
    ck_assert_int_eq(put_dataset(ROWS, FEATURES, 500, spare), STORE_OK);
    ck_dataset(ids[n - 2], ROWS, FEATURES, n - 2);
    ck_dataset(ids[n - 1], ROWS, FEATURES, n - 1);
    ck_dataset(spare, ROWS, FEATURES, 500);
    ck_assert(quick_check_ok());
    json_decref(net.definition);
    json_decref(net.summary);
    json_decref(net.warnings);
    store_close();
    tmpfs_drop(dir);
}
END_TEST

/* The trainer's events: at epoch `at`, the log is emptied (so that the next commit must
 * grow it) and the disk filled. */
struct filler {
    const char *dir;
    int at;
};

static void fill_at_epoch(void *ctx, const char *id, int epoch, const json_t *row)
{
    (void)id, (void)row;
    const struct filler *f = ctx;
    if (epoch != f->at)
        return;
    ck_assert_int_eq(sqlite3_wal_checkpoint_v2(db_conn(), NULL, SQLITE_CHECKPOINT_TRUNCATE,
                                               NULL, NULL), SQLITE_OK);
    fill(f->dir);
}

/* A job stored with its request as POST /v1/jobs would (body: its options after the
 * network and the dataset); its id into id. */
static void queue_job(const char *dataset, const char *options, char *id)
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"network\": {\"inputs\": 4, \"layers\": [{\"type\": \"dense\", \"units\": 8, "
             "\"activation\": \"relu\"}, {\"type\": \"dense\", \"units\": 3, \"activation\": "
             "\"softmax\"}], \"loss\": \"categorical_crossentropy\"}, \"dataset\": \"%s\"%s}",
             dataset, options);
    json_error_t e;
    json_t *b = json_loads(body, 0, &e);
    ck_assert_ptr_nonnull(b);
    struct faults fs;
    struct job_plan plan;
    ck_assert_int_eq(faults_init(&fs), 0);
    const struct job_limits lim = {su_app.cfg.max_params, su_app.cfg.max_epoch_rows};
    json_t *n = job_check(b, &lim, &fs, &plan);
    ck_assert_msg(n != NULL, "job refused: %s", json_dumps(faults_take(&fs, ""), 0));
    faults_free(&fs);
    new_id(id, "job_");
    struct job_new job = {.id = id, .request = n, .dataset_id = dataset,
                          .epochs = (int)json_integer_value(json_object_get(n, "epochs")),
                          .max_queued = su_app.cfg.max_queued,
                          .max_queued_owner = su_app.cfg.max_queued_per_token};
    ck_assert_int_eq(store_job_insert(&job), STORE_OK);
    json_decref(n);
    json_decref(b);
}

/* A job whose last writes find the disk full: the model cannot be stored, so the job
 * keeps its checkpoint (every epoch it trained) and waits in the queue, saying why; no
 * job is claimed while the disk is full; once space is freed it is claimed again and
 * stores its model without training again. Twice: a job that trains all its epochs, and
 * one that early stopping ends (at epoch 2: epoch 1 stays the best), which must not
 * train on when it resumes. */
START_TEST(job_keeps_its_checkpoint_on_a_full_disk)
{
    static const struct {
        const char *options;
        int epochs;            /* trained when it ends */
        int stopped_early;
    } cases[] = {
        {", \"epochs\": 3, \"seed\": 1", 3, 0},
        {", \"epochs\": 20, \"seed\": 1, \"validation\": {\"split\": 0.2}, "
         "\"early_stopping\": {\"patience\": 1, \"min_delta\": 1e9}", 2, 1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        char dir[64], path[96], err[512], filler[120], ds[32], id[32], claimed[32];
        tmpfs_make(dir, sizeof dir, 24);
        snprintf(path, sizeof path, "%s/test.db", dir);
        snprintf(filler, sizeof filler, "%s/filler", dir);
        config_defaults(&su_app.cfg);
        ck_assert_msg(store_open(path, err, sizeof err) == 0, "store_open: %s", err);
        char *blobs = su_blobs_json(300, 4, 0);
        json_t *body = json_loads(blobs, 0, NULL);
        struct dataset d;
        struct fault f;
        ck_assert_int_eq(dataset_from_json(body, DATASET_MAX_VALUES, &d, &f), 0);
        ck_assert_int_eq(dataset_create(&d), STORE_OK);
        snprintf(ds, sizeof ds, "%s", d.id);
        dataset_free(&d);
        json_decref(body);
        free(blobs);
        queue_job(ds, cases[c].options, id);

        struct nn_pool *pool = nn_pool_new(1);
        _Atomic int cancel = 0, stopping = 0;
        struct filler fl = {dir, cases[c].epochs};
        struct trainer_events ev = {fill_at_epoch, NULL, &fl};
        ck_assert_int_eq(store_job_claim(NULL, claimed, NULL), STORE_OK);
        ck_assert_str_eq(claimed, id);
        ck_assert_int_eq(trainer_run(id, 0, su_app.cfg.max_params, pool, &cancel, &stopping, &ev),
                         JOB_QUEUED);
        struct job j;
        ck_assert_int_eq(store_job_get(id, &j), STORE_OK);
        ck_assert_int_eq(j.state, JOB_QUEUED);
        ck_assert_int_eq(j.epoch, cases[c].epochs);
        ck_assert_int_eq(json_integer_value(json_object_get(j.error, "status")), 507);
        ck_assert_str_eq(j.model_id, "");
        job_free(&j);
        struct checkpoint cp;
        ck_assert_int_eq(store_checkpoint_load(id, &cp), STORE_OK);
        ck_assert_int_eq(cp.epoch, cases[c].epochs);
        checkpoint_free(&cp);
        ck_assert_int_eq(store_job_claim(NULL, claimed, NULL), STORE_FULL);   /* none starts */

        ck_assert_int_eq(unlink(filler), 0);
        wait_for(store_ok, NULL, 30, "writes taken again");
        ck_assert_int_eq(store_job_claim(NULL, claimed, NULL), STORE_OK);
        ck_assert_str_eq(claimed, id);
        ck_assert_int_eq(trainer_run(id, 0, su_app.cfg.max_params, pool, &cancel, &stopping, NULL),
                         JOB_SUCCEEDED);
        ck_assert_int_eq(store_job_get(id, &j), STORE_OK);
        ck_assert_int_eq(j.state, JOB_SUCCEEDED);
        ck_assert_int_eq(j.epoch, cases[c].epochs);
        ck_assert_ptr_null(j.error);
        struct model m;
        ck_assert_int_eq(store_model_get(j.model_id, &m), STORE_OK);
        ck_assert_int_eq(json_integer_value(json_object_get(m.metrics, "epochs")),
                         cases[c].epochs);
        ck_assert_int_eq(json_is_true(json_object_get(m.metrics, "stopped_early")),
                         cases[c].stopped_early);
        model_free(&m);
        job_free(&j);
        json_t *rows;
        ck_assert_int_eq(store_job_epochs(id, 0, -1, &rows), STORE_OK);
        ck_assert_int_eq(json_array_size(rows), cases[c].epochs);
        json_decref(rows);
        ck_assert_int_eq(store_checkpoint_load(id, &cp), STORE_NOT_FOUND);
        ck_assert(quick_check_ok());
        nn_pool_free(pool);
        store_close();
        tmpfs_drop(dir);
    }
}
END_TEST

/* A 507 from the service: a problem naming the full disk. */
static void ck_507(const struct http_reply *h)
{
    ck_assert_msg(h->status == 507, "%ld %s", h->status, h->body);
    ck_assert_str_eq(h->ctype, "application/problem+json");
    json_t *p = su_http_json(h);
    ck_assert_str_eq(su_str(p, "title"), "Insufficient Storage");
    ck_assert_int_eq(su_int(p, "status"), 507);
    ck_assert(strstr(su_str(p, "detail"), "disk holding the database is full") != NULL);
    json_decref(p);
}

static int ready(void *arg)
{
    struct http_reply h = su_http(arg, "GET", "/readyz", NULL, 0, NULL);
    long st = h.status;
    su_http_free(&h);
    return st == 200;
}

/* The service on a full disk: uploads, networks and jobs answer 507 (a CSV before its
 * body is read), /readyz 503 saying why; deletes answer 204, and once their space is
 * back, /readyz 200 and uploads 201. After a restart the database is whole and holds
 * what was answered 201 and not deleted. */
START_TEST(full_disk_through_http)
{
    enum { MAX = 80 };
    struct server s = {0};
    tmpfs_make(s.dir, sizeof s.dir, 24);
    snprintf(s.db, sizeof s.db, "%s/neurond.db", s.dir);
    su_start(&s, NULL);
    char *net = su_network(&s, 64, 8), *ids[MAX], body[512];
    char *data = su_blobs_json(2000, 64, 0);   /* 500 KiB of floats */
    int n = 0;
    struct http_reply h;
    for (;;) {
        h = su_http(&s, "POST", "/v1/datasets", data, strlen(data), "application/json");
        if (h.status != 201)
            break;
        json_t *j = su_http_json(&h);
        ids[n++] = strdup(su_str(j, "id"));
        json_decref(j);
        su_http_free(&h);
        ck_assert_int_lt(n, MAX);
    }
    ck_507(&h);
    su_http_free(&h);
    ck_assert_int_ge(n, 4);
    h = su_http(&s, "GET", "/readyz", NULL, 0, NULL);
    ck_assert_int_eq(h.status, 503);
    ck_assert_msg(strstr(h.body, "disk full") != NULL, "%s", h.body);
    su_http_free(&h);
    h = su_http(&s, "POST", "/v1/datasets?name=x", "a,b\n1,2\n", 8, "text/csv");
    ck_507(&h);
    su_http_free(&h);
    const char *def = "{\"inputs\": 4, \"layers\": [{\"type\": \"dense\", \"units\": 3}], "
                      "\"loss\": \"mse\"}";
    h = su_http(&s, "POST", "/v1/networks", def, strlen(def), "application/json");
    ck_507(&h);
    su_http_free(&h);
    snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\"}", net, ids[0]);
    h = su_http(&s, "POST", "/v1/jobs", body, strlen(body), "application/json");
    ck_507(&h);
    su_http_free(&h);
    /* deletes free the space */
    char path[128];
    for (int k = 0; k < n - 2; k++) {
        snprintf(path, sizeof path, "/v1/datasets/%s", ids[k]);
        h = su_http(&s, "DELETE", path, NULL, 0, NULL);
        ck_assert_msg(h.status == 204, "DELETE %d of %d: %ld %s", k, n, h.status, h.body);
        su_http_free(&h);
    }
    wait_for(ready, &s, 30, "/readyz 200 again");
    char *again = su_dataset(&s, 30, 4, 0);
    su_stop(&s, 0);
    su_start(&s, NULL);
    json_t *list = su_get_json(&s, "/v1/datasets");
    ck_assert_int_eq(json_array_size(json_object_get(list, "items")), 3);
    json_decref(list);
    su_stop(&s, 0);
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open_v2(s.db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    sqlite3_close(db);
    tmpfs_drop(s.dir);
    for (int k = 0; k < n; k++)
        free(ids[k]);
    free(net), free(data), free(again);
}
END_TEST

/* A read-only filesystem is named as the cause. */
START_TEST(read_only_filesystem_is_named)
{
    char dir[64], db[96], err[512], out[2048];
    tmpfs_make(dir, sizeof dir, 8);
    snprintf(db, sizeof db, "%s/neurond.db", dir);
    ck_assert_msg(store_open(db, err, sizeof err) == 0, "store_open: %s", err);
    store_close();
    ck_assert_int_eq(chmod(dir, 0777), 0);
    ck_assert_int_eq(chmod(db, 0666), 0);
    ck_assert_msg(mount(NULL, dir, NULL, MS_REMOUNT | MS_RDONLY, NULL) == 0, "remount: %s",
                  strerror(errno));
    refused_start(db, out, sizeof out);
    ck_assert_msg(strstr(out, "is mounted read-only") && strstr(out, dir), "%s", out);
    tmpfs_drop(dir);
}
END_TEST

/* ---- large values ---- */

enum { CHUNK = 4 * MIB };   /* the PostgreSQL backend's chunk (server/store/pg.c) */

/* The one number a query answers, on su_db_open's PostgreSQL database. */
static long pg_count(const char *sql)
{
    PGconn *c = PQconnectdb(su_db_pg());
    ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1, "%s: %s", sql,
                  PQresultErrorMessage(r));
    long n = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(c);
    return n;
}

/* How many chunks of owner a chunk table holds (owner NULL: all of them). */
static long chunks(const char *table, const char *owner)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s%s%s%s", table,
             owner ? " WHERE owner = '" : "", owner ? owner : "", owner ? "'" : "");
    return pg_count(sql);
}

/* n bytes that say where they are, and which value they belong to (seed): a chunk out
 * of place, or another value's, reads differently. New. */
static unsigned char *pattern(size_t n, unsigned seed)
{
    unsigned char *p = malloc(n);
    ck_assert(p != NULL);
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)((i * 2654435761u + seed * 40503u) >> 13);
    return p;
}

static void ck_bytes(const void *got, size_t got_len, const void *want, size_t want_len,
                     const char *what)
{
    ck_assert_msg(got_len == want_len, "%s: %zu bytes, not %zu", what, got_len, want_len);
    ck_assert_msg(memcmp(got, want, want_len) == 0, "%s: the bytes differ", what);
}

/* A checkpoint of epoch with a network of net_len bytes (pattern seed) and, when
 * best_len, best weights of best_len bytes (seed + 1). */
static int put_checkpoint(const char *job, int epoch, size_t net_len, size_t best_len,
                          unsigned seed)
{
    unsigned char rng[64];
    memset(rng, epoch, sizeof rng);
    struct checkpoint c = {.epoch = epoch, .net = pattern(net_len, seed), .net_len = net_len,
                           .rng = rng, .rng_len = sizeof rng, .best_changed = 1,
                           .state = json_pack("{s:i}", "wait", epoch)};
    if (best_len) {
        c.best = pattern(best_len, seed + 1);
        c.best_len = best_len;
    }
    json_t *row = json_pack("{s:i}", "epoch", epoch);
    int rc = store_checkpoint_save(job, 0, &c, row, 0.5, 1.0);
    json_decref(row);
    json_decref(c.state);
    free(c.net);
    free(c.best);
    return rc;
}

static void ck_checkpoint(const char *job, int epoch, size_t net_len, size_t best_len,
                          unsigned seed)
{
    struct checkpoint c;
    ck_assert_int_eq(store_checkpoint_load(job, &c), STORE_OK);
    ck_assert_int_eq(c.epoch, epoch);
    unsigned char *net = pattern(net_len, seed);
    ck_bytes(c.net, c.net_len, net, net_len, "the checkpoint's network");
    free(net);
    if (best_len) {
        unsigned char *best = pattern(best_len, seed + 1);
        ck_bytes(c.best, c.best_len, best, best_len, "the best weights");
        free(best);
    } else {
        ck_assert_ptr_null(c.best);
    }
    ck_assert_int_eq(c.rng_len, 64);
    ck_assert_int_eq(((unsigned char *)c.rng)[63], epoch);
    ck_assert_int_eq(json_integer_value(json_object_get(c.state, "wait")), epoch);
    checkpoint_free(&c);
}

/* A dataset of more than two chunks, a checkpoint and best weights of more than one, and
 * a model of more than one, each read back exactly; a checkpoint replaced by a shorter one
 * reads as the shorter one; a dataset deleted, a job ended (its checkpoint dropped) and a
 * model deleted leave no chunk behind. The counts are PostgreSQL's (SQLite keeps each value whole in
 * its row). */
START_TEST(large_values_round_trip)
{
    su_db_open();
    enum { ROWS = 25000, FEATURES = 100 };   /* x: 10 MB, 3 chunks; y: one */
    char ds[32];
    ck_assert_int_eq(put_dataset(ROWS, FEATURES, 7, ds), STORE_OK);
    ck_dataset(ds, ROWS, FEATURES, 7);
    struct dataset d;
    ck_assert_int_eq(store_dataset_load(ds, &d), STORE_OK);
    for (int i = 0; i < ROWS; i++)
        if (d.y[i] != (float)(i % 3))
            ck_abort_msg("label %d is %g", i, d.y[i]);
    dataset_free(&d);
    float lo, hi;
    ck_assert_int_eq(store_dataset_label_range(ds, &lo, &hi), STORE_OK);
    ck_assert(lo == 0 && hi == 2);
    if (su_pg()) {
        char sql[160];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM dataset_chunks WHERE owner = '%s' "
                 "AND col = 'x'", ds);
        ck_assert_int_eq(pg_count(sql), (ROWS * FEATURES * 4 + CHUNK - 1) / CHUNK);
        ck_assert_int_eq(chunks("dataset_chunks", ds), 4);
    }

    /* a checkpoint of 2 chunks with best weights of 3, then one of 1 chunk without */
    job_row("job_big");
    const size_t NET = CHUNK + 3, BEST = 2 * CHUNK + 5;
    ck_assert_int_eq(put_checkpoint("job_big", 1, NET, BEST, 11), STORE_OK);
    ck_checkpoint("job_big", 1, NET, BEST, 11);
    if (su_pg()) {
        ck_assert_int_eq(chunks("checkpoint_chunks", "job_big"), 2);
        ck_assert_int_eq(chunks("checkpoint_best_chunks", "job_big"), 3);
    }
    ck_assert_int_eq(put_checkpoint("job_big", 2, 1000, 0, 13), STORE_OK);
    ck_checkpoint("job_big", 2, 1000, 0, 13);
    if (su_pg()) {   /* chunk 0 overwritten; the longer network's chunk 1 stays, unread */
        ck_assert_int_eq(chunks("checkpoint_chunks", "job_big"), 2);
        ck_assert_int_eq(chunks("checkpoint_best_chunks", "job_big"), 0);
    }
    ck_assert_int_eq(put_checkpoint("job_big", 3, NET, CHUNK, 17), STORE_OK);
    ck_checkpoint("job_big", 3, NET, CHUNK, 17);

    /* the job ends with a model of 2 chunks: its checkpoint goes, chunks and all */
    const size_t MODEL = CHUNK + CHUNK / 2;
    struct model m = {.id = "mdl_big", .job_id = "job_big", .dataset_id = "ds_x",
                      .label_kind = LABELS_NUMBERS, .net_len = MODEL};
    m.network = json_object();
    m.metrics = json_object();
    m.net = pattern(MODEL, 19);
    enum job_state ended;
    ck_assert_int_eq(store_job_finish("job_big", 0, JOB_SUCCEEDED, NULL, &m, &ended), STORE_OK);
    struct checkpoint c;
    ck_assert_int_eq(store_checkpoint_load("job_big", &c), STORE_NOT_FOUND);
    struct model got;
    ck_assert_int_eq(store_model_load("mdl_big", &got), STORE_OK);
    ck_bytes(got.net, got.net_len, m.net, MODEL, "the model's network");
    model_free(&got);
    json_decref(m.network);
    json_decref(m.metrics);
    free(m.net);
    if (su_pg()) {
        ck_assert_int_eq(chunks("checkpoint_chunks", NULL), 0);
        ck_assert_int_eq(chunks("checkpoint_best_chunks", NULL), 0);
        ck_assert_int_eq(chunks("model_chunks", "mdl_big"), 2);
    }

    ck_assert_int_eq(store_model_delete("mdl_big", NULL), STORE_OK);
    ck_assert_int_eq(store_dataset_delete(ds), STORE_OK);
    ck_assert_int_eq(store_dataset_load(ds, &d), STORE_NOT_FOUND);
    if (su_pg()) {
        ck_assert_int_eq(chunks("model_chunks", NULL), 0);
        ck_assert_int_eq(chunks("dataset_chunks", NULL), 0);
    }
    su_db_close();
}
END_TEST

/* Stored values that do not add up to their size are refused as errors, not read past:
 * on PostgreSQL, a chunk deleted from the middle of a dataset's x, one made longer than its
 * place (the value would overrun its buffer), a checkpoint's and a model's chunk deleted;
 * on SQLite, a dataset's x cut short. The rest still reads. */
START_TEST(damaged_values_are_refused)
{
    su_db_open();
    enum { ROWS = 25000, FEATURES = 100 };
    char a[32], b[32], sql[256];
    ck_assert_int_eq(put_dataset(ROWS, FEATURES, 1, a), STORE_OK);
    ck_assert_int_eq(put_dataset(ROWS, FEATURES, 2, b), STORE_OK);
    struct dataset d;
    if (su_pg()) {
        snprintf(sql, sizeof sql, "DELETE FROM dataset_chunks WHERE owner = '%s' AND "
                 "col = 'x' AND part = 1", a);
        exec_any(sql);
        snprintf(sql, sizeof sql, "UPDATE dataset_chunks SET bytes = bytes || "
                 "'\\x0000803f'::bytea WHERE owner = '%s' AND col = 'x' AND part = 0", b);
        exec_any(sql);
    } else {
        snprintf(sql, sizeof sql, "UPDATE datasets SET x = substr(x, 1, 1000) WHERE id = '%s'",
                 a);
        exec_any(sql);
        snprintf(sql, sizeof sql, "UPDATE datasets SET x = x || x'0000803f' WHERE id = '%s'",
                 b);
        exec_any(sql);
    }
    ck_assert_int_eq(store_dataset_load(a, &d), STORE_ERROR);
    ck_assert_ptr_null(d.x);
    ck_assert_int_eq(store_dataset_load(b, &d), STORE_ERROR);
    ck_assert_ptr_null(d.x);
    float lo, hi;   /* y alone is whole */
    ck_assert_int_eq(store_dataset_label_range(a, &lo, &hi), STORE_OK);
    ck_assert(lo == 0 && hi == 2);

    job_row("job_cut");
    ck_assert_int_eq(put_checkpoint("job_cut", 1, CHUNK + 10, 0, 3), STORE_OK);
    struct model m = {.id = "mdl_cut", .job_id = "job_cut", .dataset_id = "ds_x",
                      .label_kind = LABELS_NUMBERS, .net_len = CHUNK + 10};
    m.network = json_object();
    m.metrics = json_object();
    m.net = pattern(m.net_len, 5);
    ck_assert_int_eq(store_model_insert(&m), STORE_OK);
    json_decref(m.network);
    json_decref(m.metrics);
    free(m.net);
    if (su_pg()) {
        exec_any("DELETE FROM checkpoint_chunks WHERE owner = 'job_cut' AND part = 1");
        exec_any("DELETE FROM model_chunks WHERE owner = 'mdl_cut' AND part = 0");
        struct checkpoint c;
        ck_assert_int_eq(store_checkpoint_load("job_cut", &c), STORE_ERROR);
        ck_assert_ptr_null(c.net);
        struct model got;
        ck_assert_int_eq(store_model_load("mdl_cut", &got), STORE_ERROR);
        ck_assert_int_eq(store_model_get("mdl_cut", &got), STORE_OK);   /* its row reads */
        model_free(&got);
    }
    su_db_close();
}
END_TEST

extern const char *const pg_migrations[];
extern const int pg_nmigrations;

/* The migration that makes the chunk tables (migrations/pg/NNNN_chunks.sql), on a
 * PostgreSQL database of the schema before it with values in their rows: each becomes
 * its value's chunk 0 (whatever its size), and reads back as it was. */
START_TEST(pg_chunks_migration_moves_values)
{
    int before = 0;   /* the migrations before it */
    while (before < pg_nmigrations &&
           !strstr(pg_migrations[before], "CREATE TABLE dataset_chunks"))
        before++;
    ck_assert_int_lt(before, pg_nmigrations);
    char db[1024], err[512], sql[64];
    su_pg_create(db, sizeof db);
    PGconn *c = PQconnectdb(db);
    ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
    for (int i = 0; i < before; i++) {
        PGresult *r = PQexec(c, pg_migrations[i]);
        ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK ||
                      PQresultStatus(r) == PGRES_TUPLES_OK, "migration %d: %s", i + 1,
                      PQresultErrorMessage(r));
        PQclear(r);
    }
    /* x: 2 rows of 3 floats 1..6, y: 0 and 2 (little-endian); a network of 5 MB (more
     * than a chunk, moved whole) */
    PGresult *r = PQexec(c,
        "CREATE TABLE schema_version (version INTEGER NOT NULL);"
        "INSERT INTO datasets (id, name, created_at, rows, features, label_kind, label_cols, "
        "  columns, stats, x, y) VALUES ('ds_old', 'old', '2026-01-01T00:00:00.000Z', 2, 3, "
        "  'numbers', 1, '[\"a\",\"b\",\"c\"]', '[]', "
        "  '\\x0000803f0000004000004040000080400000a0400000c040', '\\x0000000000000040');"
        "INSERT INTO checkpoints (job_id, epoch, net, rng, state) VALUES "
        "  ('job_old', 4, decode(repeat('ab', 5 * 1024 * 1024), 'hex'), '\\x01', '{}');"
        "INSERT INTO checkpoint_best (job_id, net) VALUES ('job_old', '\\x0102');"
        "INSERT INTO models (id, job_id, created_at, network, dataset_id, label_kind, "
        "  metrics, net) VALUES ('mdl_old', 'job_old', 'now', '{}', 'ds_old', 'numbers', "
        "  '{}', '\\x070809');");
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
    snprintf(sql, sizeof sql, "INSERT INTO schema_version VALUES (%d)", before);
    su_pg_exec(db, sql);

    ck_assert_msg(store_open(db, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(store_schema_version(), store_schema_latest());
    struct dataset d;
    ck_assert_int_eq(store_dataset_load("ds_old", &d), STORE_OK);
    for (int i = 0; i < 6; i++)
        ck_assert(d.x[i] == (float)(i + 1));
    ck_assert(d.y[0] == 0 && d.y[1] == 2);
    dataset_free(&d);
    struct checkpoint cp;
    ck_assert_int_eq(store_checkpoint_load("job_old", &cp), STORE_OK);
    ck_assert_int_eq(cp.epoch, 4);
    ck_assert_int_eq(cp.net_len, 5 * MIB);
    for (size_t i = 0; i < cp.net_len; i++)
        if (((unsigned char *)cp.net)[i] != 0xab)
            ck_abort_msg("checkpoint byte %zu", i);
    ck_assert_int_eq(cp.best_len, 2);
    ck_assert_int_eq(((unsigned char *)cp.best)[1], 2);
    checkpoint_free(&cp);
    struct model m;
    ck_assert_int_eq(store_model_load("mdl_old", &m), STORE_OK);
    ck_bytes(m.net, m.net_len, "\x07\x08\x09", 3, "the model's network");
    model_free(&m);
    store_close();
    su_pg_drop(db);
}
END_TEST

/* ---- PostgreSQL ---- */

/* Four processes open one new database at the same moment: each gets it at the newest
 * schema (the advisory lock makes them take turns; a migration applied twice would fail
 * on its CREATE TABLE). */
START_TEST(pg_migrations_apply_once)
{
    char db[1024];
    su_pg_create(db, sizeof db);
    enum { N = 4 };
    pid_t kids[N];
    for (int i = 0; i < N; i++) {
        kids[i] = fork();
        ck_assert_int_ge(kids[i], 0);
        if (kids[i] == 0) {
            char err[512];
            int rc = store_open(db, err, sizeof err);
            if (rc < 0)
                fprintf(stderr, "store_open: %s\n", err);
            int ok = rc == 0 && store_schema_version() == store_schema_latest();
            store_close();
            _exit(ok ? 0 : 1);
        }
    }
    for (int i = 0; i < N; i++) {
        int status;
        ck_assert_int_eq(waitpid(kids[i], &status, 0), kids[i]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "process %d failed", i);
    }
    char err[512];
    ck_assert_msg(store_open(db, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(store_schema_version(), store_schema_latest());
    ck_assert_int_eq(store_schema_latest(), 11);
    store_close();
    su_pg_drop(db);
}
END_TEST

START_TEST(pg_newer_schema_is_refused)
{
    char db[1024], err[512], sql[128];
    su_pg_create(db, sizeof db);
    ck_assert_msg(store_open(db, err, sizeof err) == 0, "%s", err);
    store_close();
    snprintf(sql, sizeof sql, "UPDATE schema_version SET version = %d",
             store_schema_latest() + 3);
    su_pg_exec(db, sql);
    ck_assert_int_eq(store_open(db, err, sizeof err), -1);
    char want[160];
    snprintf(want, sizeof want, "has schema version %d, newer than this neurond knows (%d): "
             "use a newer neurond or another --db", store_schema_latest() + 3,
             store_schema_latest());
    ck_assert_msg(strstr(err, want), "%s", err);
    su_pg_drop(db);
}
END_TEST

/* The service's connections cut by the server (pg_terminate_backend): a request may fail
 * on one, after which each is opened again, and the service answers as before, /readyz
 * included, without a restart. */
START_TEST(pg_lost_connections_come_back)
{
    struct server s = {0};
    su_start(&s, NULL);
    char *ds = su_dataset(&s, 20, 3, 1);
    char sql[1200], path[64];
    const char *name = strstr(s.db, "dbname=") + 7;
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
             "datname = '%s' AND pid <> pg_backend_pid()", name);
    su_pg_exec_rows(s.db, sql);
    snprintf(path, sizeof path, "/v1/datasets/%s", ds);
    long got = 0;
    for (int i = 0; i < 5 && got != 200; i++) {   /* the first may meet a cut connection */
        struct http_reply h = su_http(&s, "GET", path, NULL, 0, NULL);
        got = h.status;
        su_http_free(&h);
    }
    ck_assert_int_eq(got, 200);
    struct http_reply h = su_http(&s, "GET", "/readyz", NULL, 0, NULL);
    if (h.status != 200) {   /* the probe's own thread may meet its cut connection first */
        su_http_free(&h);
        h = su_http(&s, "GET", "/readyz", NULL, 0, NULL);
    }
    ck_assert_msg(h.status == 200, "%ld %s", h.status, h.body);
    su_http_free(&h);
    free(ds);
    su_stop(&s, 0);
    su_cleanup(&s);
}
END_TEST

int main(void)
{
    if (su_pg()) {
        printf("test_db: SQLite's file, log, disk-full and migration checks skipped on "
               "PostgreSQL\n");
        Suite *s = suite_create("db");
        TCase *tc = tcase_create("pg");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, db_value_picks_the_backend);
        tcase_add_test(tc, pg_migrations_apply_once);
        tcase_add_test(tc, pg_newer_schema_is_refused);
        tcase_add_test(tc, pg_lost_connections_come_back);
        tcase_add_test(tc, leases_fence_writes_and_count_dead_attempts);
        tcase_add_test(tc, jobs_queue_while_workers_take_them);
        tcase_add_test(tc, pg_chunks_migration_moves_values);
        tcase_add_test(tc, large_values_round_trip);
        tcase_add_test(tc, damaged_values_are_refused);
        suite_add_tcase(s, tc);
        return tu_run(s) != 0;
    }
    /* The tests of a full disk mount a small tmpfs, in a mount namespace of this process's
     * own: private, so that nothing is seen outside it, and the mounts go with the
     * process however it ends. Making one needs root (CAP_SYS_ADMIN): without it they are
     * left out, and said so; they are not counted as passed. */
    int mounts = unshare(CLONE_NEWNS) == 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE,
                                                    NULL) == 0;
    Suite *s = suite_create("db");
    TCase *tc = tcase_create("db");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, db_value_picks_the_backend);
    tcase_add_test(tc, new_database_pages);
    tcase_add_test(tc, old_database_keeps_its_pages);
    tcase_add_test(tc, checkpointer_keeps_the_log_short);
    tcase_add_test(tc, small_commits_wake_nobody);
    tcase_add_test(tc, migration_3_moves_the_best_weights);
    tcase_add_test(tc, a_cancel_is_kept_by_the_row);
    tcase_add_test(tc, the_queue_counts_each_owner);
    tcase_add_test(tc, leases_fence_writes_and_count_dead_attempts);
    tcase_add_test(tc, jobs_queue_while_workers_take_them);
    tcase_add_test(tc, idle_log_is_emptied);
    tcase_add_test(tc, log_is_cut_back_when_it_restarts);
    tcase_add_test(tc, deleted_data_gives_its_space_back);
    tcase_add_test(tc, migration_4_switches_to_incremental_vacuum);
    tcase_add_test(tc, large_values_round_trip);
    tcase_add_test(tc, damaged_values_are_refused);
    suite_add_tcase(s, tc);
    TCase *file = tcase_create("file");
    tcase_set_timeout(file, 120);
    tcase_add_test(file, deleted_database_refuses_writes);
    tcase_add_test(file, replaced_database_refuses_writes);
    tcase_add_test(file, deleted_database_through_http);
    tcase_add_test(file, read_only_database_is_named);
    tcase_add_test(file, read_only_directory_is_named);
    tcase_add_test(file, stale_read_only_shm_does_not_block);
    tcase_add_test(file, log_without_its_database_is_refused);
    suite_add_tcase(s, file);
    if (mounts) {
        TCase *full = tcase_create("full");
        tcase_set_timeout(full, 300);
        tcase_add_test(full, full_disk_takes_deletes_then_writes_again);
        tcase_add_test(full, job_keeps_its_checkpoint_on_a_full_disk);
        tcase_add_test(full, full_disk_through_http);
        tcase_add_test(full, read_only_filesystem_is_named);
        suite_add_tcase(s, full);
    } else {
        printf("test_db: 4 tests of a full disk and a read-only filesystem left out: they "
               "mount a tmpfs, which needs root (CAP_SYS_ADMIN): %s\n", strerror(errno));
    }
    return tu_run(s) != 0;
}
