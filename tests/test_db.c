/* test_db.c -- server/store/db.c's connections on a temporary database: a new database gets
 * 64 KiB pages, one made before keeps its own, and the checkpointer thread (not the
 * committing thread) copies the log into the database file, so that the log stays about
 * one large commit long while large commits follow each other. And migration 3 on a
 * database of schema 2 that holds checkpoints: early stopping's best weights move to
 * their own table, the checkpoints of ended jobs go. A cancel kept by the job's row. */
#include "srvutil.h"
#include "testutil.h"

#include "store/db.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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
    exec(sql);
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
    ck_assert_int_eq(store_job_claim(id), STORE_OK);
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
    ck_assert_int_eq(store_job_finish("job_c", JOB_QUEUED, NULL, NULL, &ended), STORE_OK);
    ck_assert_int_eq(ended, JOB_QUEUED);
    ck_assert_int_eq(store_job_cancel("job_c", &was), STORE_OK);
    ck_assert_int_eq(was, JOB_RUNNING);
    ck_assert_int_eq(state_of("job_c"), JOB_QUEUED);

    /* the marked job is claimed first, even behind jobs queued before it */
    exec("UPDATE jobs SET seq = 100 WHERE id = 'job_c'");
    claim("job_c");
    ck_assert_int_eq(store_job_cancelling("job_c"), 1);
    ck_assert_int_eq(store_job_finish("job_c", JOB_SUCCEEDED, NULL, NULL, &ended), STORE_OK);
    ck_assert_int_eq(ended, JOB_CANCELLED);

    /* a: cancelled while running, then its training succeeds: it ends cancelled */
    claim("job_a");
    ck_assert_int_eq(store_job_cancelling("job_a"), 0);
    ck_assert_int_eq(store_job_cancel("job_a", &was), STORE_OK);
    ck_assert_int_eq(was, JOB_RUNNING);
    ck_assert_int_eq(store_job_cancelling("job_a"), 1);
    ck_assert_int_eq(store_job_finish("job_a", JOB_SUCCEEDED, NULL, NULL, &ended), STORE_OK);
    ck_assert_int_eq(ended, JOB_CANCELLED);
    ck_assert_int_eq(state_of("job_a"), JOB_CANCELLED);
    ck_assert_int_eq(store_job_cancel("job_a", &was), STORE_CONFLICT);
    ck_assert_int_eq(was, JOB_CANCELLED);

    /* b: cancelled while running, then it fails: cancelled too */
    claim("job_b");
    ck_assert_int_eq(store_job_cancel("job_b", &was), STORE_OK);
    json_t *err = json_pack("{s:s}", "title", "Training failed");
    ck_assert_int_eq(store_job_finish("job_b", JOB_FAILED, err, NULL, &ended), STORE_OK);
    json_decref(err);
    ck_assert_int_eq(ended, JOB_CANCELLED);

    /* e: queued and not marked, cancelled at once */
    ck_assert_int_eq(store_job_cancel("job_e", &was), STORE_OK);
    ck_assert_int_eq(was, JOB_QUEUED);
    ck_assert_int_eq(state_of("job_e"), JOB_CANCELLED);

    claim("job_d");
    ck_assert_int_eq(store_job_cancelling("job_d"), 0);
    ck_assert_int_eq(store_job_finish("job_d", JOB_SUCCEEDED, NULL, NULL, &ended), STORE_OK);
    ck_assert_int_eq(ended, JOB_SUCCEEDED);
    ck_assert_int_eq(store_job_cancel("job_d", &was), STORE_CONFLICT);
    ck_assert_int_eq(was, JOB_SUCCEEDED);
    ck_assert_int_eq(store_job_cancel("job_zz", &was), STORE_NOT_FOUND);
    su_db_close();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("db");
    TCase *tc = tcase_create("db");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, new_database_pages);
    tcase_add_test(tc, old_database_keeps_its_pages);
    tcase_add_test(tc, checkpointer_keeps_the_log_short);
    tcase_add_test(tc, small_commits_wake_nobody);
    tcase_add_test(tc, migration_3_moves_the_best_weights);
    tcase_add_test(tc, a_cancel_is_kept_by_the_row);
    suite_add_tcase(s, tc);
    return tu_run(s) != 0;
}
