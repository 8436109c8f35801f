/* test_nodes.c -- several nodes on one database: the queue divided between them, leases
 * that lapse when a node is killed or frozen, the writes of a node that lost its job
 * refused, and a job that dies in every attempt ending failed. The tests of several
 * nodes need PostgreSQL (a SQLite file has one process); the one of attempts runs on
 * both. Leases of 2 s keep them short. */
#include "srvutil.h"

#include "store/store.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LEASE "2"

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Starts a node named `name` on first's database (first NULL: on n's own, new or kept
 * from a previous start), with its own directory for its log, one worker, one engine
 * thread, short leases, and the setting flag (may be NULL) with its value. */
static void node_start(struct server *n, const struct server *first, const char *name,
                       const char *flag, const char *value)
{
    const char *argv[11] = {"--node-id", name, "--lease", LEASE, "--workers", "1",
                            "--threads", "1", flag, value, NULL};
    if (first) {
        su_tmpdir(n->dir, sizeof n->dir, "node");
        snprintf(n->db, sizeof n->db, "%s", first->db);
    }
    su_start(n, argv);
}

/* Stops the nodes (the first last, whose cleanup drops the database). */
static void nodes_end(struct server *n, int count)
{
    for (int i = count - 1; i >= 0; i--) {
        if (n[i].pid > 0)
            kill(n[i].pid, SIGCONT);
        su_stop(&n[i], 0);
        if (i > 0) {
            su_rmdir(n[i].dir);
            n[i].dir[0] = 0;
        } else {
            su_cleanup(&n[i]);
        }
    }
}

/* A job's epoch rows (new). */
static json_t *epochs_of(const struct server *s, const char *id)
{
    char path[96];
    snprintf(path, sizeof path, "/v1/jobs/%s/metrics", id);
    json_t *m = su_get_json(s, path);
    json_t *rows = json_incref(json_is_array(m) ? m : json_object_get(m, "epochs"));
    json_decref(m);
    ck_assert_msg(json_is_array(rows), "no epoch rows for %s", id);
    return rows;
}

/* Each epoch from 1 to `epochs` has exactly one row, in order. */
static void one_row_per_epoch(const struct server *s, const char *id, int epochs)
{
    json_t *rows = epochs_of(s, id);
    ck_assert_msg(json_array_size(rows) == (size_t)epochs, "job %s has %zu epoch rows, not %d",
                  id, json_array_size(rows), epochs);
    for (int i = 0; i < epochs; i++)
        ck_assert_int_eq(su_int(json_array_get(rows, (size_t)i), "epoch"), i + 1);
    json_decref(rows);
}

/* Polls a job until `node` holds it at `attempt` (node NULL: any), up to `seconds`. */
static json_t *wait_attempt(const struct server *s, const char *id, int attempt,
                            const char *node, int seconds)
{
    char path[96];
    snprintf(path, sizeof path, "/v1/jobs/%s", id);
    double until = su_now() + seconds;
    for (;;) {
        json_t *j = su_get_json(s, path);
        const char *at = json_string_value(json_object_get(j, "node"));
        if (su_int(j, "attempt") >= attempt && (!node || (at && !strcmp(at, node))))
            return j;
        ck_assert_msg(su_now() < until, "job %s was not taken as attempt %d%s%s within %d s: "
                      "attempt %ld on %s", id, attempt, node ? " by " : "", node ? node : "",
                      seconds, su_int(j, "attempt"), at ? at : "no node");
        json_decref(j);
        sleep_ms(50);
    }
}

/* How many stored models a job made (the job's own answer names one at most). */
static int models_of(const struct server *s, const char *id)
{
    json_t *page = su_get_json(s, "/v1/models?limit=1000");
    json_t *items = json_object_get(page, "items");
    ck_assert_msg(json_is_array(items), "no list of models");
    int count = 0;
    size_t i;
    json_t *m;
    json_array_foreach(items, i, m)
        count += json_is_string(json_object_get(m, "job")) && !strcmp(su_str(m, "job"), id);
    json_decref(page);
    return count;
}

/* Whether a node's log holds text, waiting up to `seconds` for it. */
static int log_has(const struct server *s, const char *text, int seconds)
{
    char path[320];
    snprintf(path, sizeof path, "%s/neurond.log", s->dir);
    double until = su_now() + seconds;
    do {
        FILE *f = fopen(path, "r");
        if (f) {
            char line[1024];
            int found = 0;
            while (!found && fgets(line, sizeof line, f))
                found = strstr(line, text) != NULL;
            fclose(f);
            if (found)
                return 1;
        }
        sleep_ms(100);
    } while (su_now() < until);
    return 0;
}

/* The index of the node named `name` among n. */
static int node_named(const char *const *names, int count, const char *name)
{
    for (int i = 0; i < count; i++)
        if (name && !strcmp(names[i], name))
            return i;
    ck_abort_msg("no node is named %s", name ? name : "(null)");
    return -1;
}

/* A job long enough to be caught running: epochs of a few tenths of a second. */
static char *slow_job(const struct server *s, const char *ds, const char *net, int epochs)
{
    char body[512];
    snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\", \"epochs\": %d, "
             "\"batch_size\": 16, \"seed\": 1}", net, ds, epochs);
    return su_post_id(s, "/v1/jobs", body, 202);
}

/* Twelve jobs queued round robin through three nodes: every one succeeds, each epoch
 * has one row, the job answers which node trained it and that it was claimed once, and
 * the work went to more than one node. */
START_TEST(three_nodes_divide_the_queue)
{
    if (!su_pg()) {
        printf("test_nodes: three_nodes_divide_the_queue skipped on SQLite\n");
        return;
    }
    struct server n[3] = {{0}};
    const char *names[3] = {"node-a", "node-b", "node-c"};
    node_start(&n[0], NULL, names[0], NULL, NULL);
    node_start(&n[1], &n[0], names[1], NULL, NULL);
    node_start(&n[2], &n[0], names[2], NULL, NULL);
    char *ds = su_dataset(&n[0], 300, 4, 0), *net = su_network(&n[0], 4, 16), body[512];
    char *ids[12];
    for (int i = 0; i < 12; i++) {
        snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\", \"epochs\": 4, "
                 "\"batch_size\": 8, \"seed\": %d}", net, ds, i + 1);
        ids[i] = su_post_id(&n[i % 3], "/v1/jobs", body, 202);
    }
    int trained[3] = {0};
    for (int i = 0; i < 12; i++) {
        json_t *j = su_job_wait(&n[(i + 1) % 3], ids[i], NULL, 120);
        char *text = json_dumps(json_object_get(j, "error"), 0);
        ck_assert_msg(!strcmp(su_str(j, "state"), "succeeded"), "job %s ended %s: %s", ids[i],
                      su_str(j, "state"), text ? text : "");
        free(text);
        ck_assert_int_eq(su_int(j, "attempt"), 1);
        trained[node_named(names, 3, json_string_value(json_object_get(j, "node")))]++;
        json_decref(j);
        one_row_per_epoch(&n[i % 3], ids[i], 4);
        free(ids[i]);
    }
    int used = (trained[0] > 0) + (trained[1] > 0) + (trained[2] > 0);
    ck_assert_msg(used >= 2, "one node trained every job (%d, %d, %d)", trained[0],
                  trained[1], trained[2]);
    free(ds);
    free(net);
    nodes_end(n, 3);
}
END_TEST

/* The node training a job is killed: once its lease lapses the other node takes the job
 * as attempt 2 and resumes it from its checkpoint, so the epochs stored before the kill
 * stay as they were (not trained again), and each epoch has one row. */
START_TEST(killed_node_job_resumes_elsewhere)
{
    if (!su_pg()) {
        printf("test_nodes: killed_node_job_resumes_elsewhere skipped on SQLite\n");
        return;
    }
    struct server n[2] = {{0}};
    const char *names[2] = {"node-a", "node-b"};
    node_start(&n[0], NULL, names[0], NULL, NULL);
    node_start(&n[1], &n[0], names[1], NULL, NULL);
    char *ds = su_dataset(&n[0], 4000, 64, 0), *net = su_network(&n[0], 64, 256);
    const int epochs = 12;
    char *id = slow_job(&n[0], ds, net, epochs);
    su_job_wait_epoch(&n[0], id, 2, 60);
    json_t *j = wait_attempt(&n[0], id, 1, NULL, 10);
    int k = node_named(names, 2, json_string_value(json_object_get(j, "node"))),
        other = 1 - k;
    json_decref(j);
    double killed = su_now();
    su_stop(&n[k], 1);   /* SIGKILL */
    json_t *before = epochs_of(&n[other], id);
    size_t stored = json_array_size(before);
    ck_assert_uint_ge(stored, 2);
    ck_assert_msg(stored < (size_t)epochs, "the job ended before the kill");
    j = wait_attempt(&n[other], id, 2, names[other], 30);
    double took = su_now() - killed;
    ck_assert_int_eq(su_int(j, "attempt"), 2);
    json_decref(j);
    printf("test_nodes: taken over %.2f s after the kill (lease " LEASE " s)\n", took);
    ck_assert_msg(took < atoi(LEASE) + 2.5, "taken over %.2f s after the kill", took);
    j = su_job_wait(&n[other], id, NULL, 120);
    ck_assert_str_eq(su_str(j, "state"), "succeeded");
    ck_assert_str_eq(su_str(j, "node"), names[other]);
    json_decref(j);
    one_row_per_epoch(&n[other], id, epochs);
    json_t *after = epochs_of(&n[other], id);
    for (size_t i = 0; i < stored; i++)
        ck_assert_str_eq(su_str(json_array_get(after, i), "ended_at"),
                         su_str(json_array_get(before, i), "ended_at"));
    json_decref(before);
    json_decref(after);
    free(id);
    free(ds);
    free(net);
    nodes_end(n, 2);
}
END_TEST

/* The node training a job is frozen (SIGSTOP) past its lease; the other takes the job
 * over as attempt 2. Thawed, the first finds its lease lost: its writes are refused, it
 * says so in its log and drops the job, which the second ends, one row per epoch. */
START_TEST(frozen_node_late_write_is_refused)
{
    if (!su_pg()) {
        printf("test_nodes: frozen_node_late_write_is_refused skipped on SQLite\n");
        return;
    }
    struct server n[2] = {{0}};
    const char *names[2] = {"node-a", "node-b"};
    node_start(&n[0], NULL, names[0], NULL, NULL);
    node_start(&n[1], &n[0], names[1], NULL, NULL);
    char *ds = su_dataset(&n[0], 4000, 64, 0), *net = su_network(&n[0], 64, 256);
    const int epochs = 12;
    char *id = slow_job(&n[0], ds, net, epochs);
    su_job_wait_epoch(&n[0], id, 2, 60);
    json_t *j = wait_attempt(&n[0], id, 1, NULL, 10);
    int k = node_named(names, 2, json_string_value(json_object_get(j, "node"))),
        other = 1 - k;
    json_decref(j);
    kill(n[k].pid, SIGSTOP);
    /* a node frozen inside a write holds the job's row until the server ends its
     * transaction (10 s idle): up to that much longer */
    j = wait_attempt(&n[other], id, 2, names[other], 40);
    json_decref(j);
    kill(n[k].pid, SIGCONT);
    j = su_job_wait(&n[other], id, NULL, 120);
    ck_assert_str_eq(su_str(j, "state"), "succeeded");
    ck_assert_str_eq(su_str(j, "node"), names[other]);
    ck_assert_int_eq(su_int(j, "attempt"), 2);
    ck_assert_msg(json_is_null(json_object_get(j, "error")), "the job has an error");
    json_decref(j);
    one_row_per_epoch(&n[other], id, epochs);
    ck_assert_msg(log_has(&n[k], "the lease for attempt 1 was lost to another node", 30),
                  "the thawed node did not log that its lease was lost");
    ck_assert_int_eq(models_of(&n[other], id), 1);   /* the first stored none */
    free(id);
    free(ds);
    free(net);
    nodes_end(n, 2);
}
END_TEST

/* A cancel sent to the node that does not train the job stops it where it trains (the
 * trainer's lease renewal reads the mark): it ends cancelled, keeping what it learned. */
START_TEST(cancel_through_another_node)
{
    if (!su_pg()) {
        printf("test_nodes: cancel_through_another_node skipped on SQLite\n");
        return;
    }
    struct server n[2] = {{0}};
    const char *names[2] = {"node-a", "node-b"};
    node_start(&n[0], NULL, names[0], NULL, NULL);
    node_start(&n[1], &n[0], names[1], NULL, NULL);
    char *ds = su_dataset(&n[0], 4000, 64, 0), *net = su_network(&n[0], 64, 256);
    const int epochs = 200;
    char *id = slow_job(&n[0], ds, net, epochs);
    su_job_wait_epoch(&n[0], id, 1, 60);
    json_t *j = wait_attempt(&n[0], id, 1, NULL, 10);
    int k = node_named(names, 2, json_string_value(json_object_get(j, "node")));
    json_decref(j);
    char path[96];
    snprintf(path, sizeof path, "/v1/jobs/%s/cancel", id);
    double asked = su_now();
    struct http_reply h = su_http(&n[1 - k], "POST", path, NULL, 0, NULL);
    ck_assert_int_eq(h.status, 202);
    su_http_free(&h);
    j = su_job_wait(&n[1 - k], id, NULL, 30);
    double took = su_now() - asked;
    ck_assert_str_eq(su_str(j, "state"), "cancelled");
    ck_assert_msg(su_int(j, "epoch") < epochs, "the job trained to its end");
    ck_assert_msg(json_is_string(json_object_get(j, "model")), "the cancelled job kept no model");
    json_decref(j);
    printf("test_nodes: cancelled through the other node in %.2f s (lease " LEASE " s)\n",
           took);
    ck_assert_msg(took < atoi(LEASE) + 2, "the cancel took %.2f s", took);
    free(id);
    free(ds);
    free(net);
    nodes_end(n, 2);
}
END_TEST

/* A job whose process is killed in each of its 3 attempts (--max-attempts 3) ends
 * failed at the next start, its error naming the attempts and the node, rather than be
 * trained a fourth time. On SQLite a start requeues every running job; on PostgreSQL
 * only those of its own node id, which the restarts keep. */
START_TEST(job_that_dies_every_time_ends_failed)
{
    struct server s = {0};
    node_start(&s, NULL, "node-a", "--max-attempts", "3");
    char *ds = su_dataset(&s, 4000, 64, 0), *net = su_network(&s, 64, 256);
    char *id = slow_job(&s, ds, net, 200);
    for (int attempt = 1; attempt <= 3; attempt++) {
        if (attempt > 1)
            node_start(&s, NULL, "node-a", "--max-attempts", "3");
        json_t *j = wait_attempt(&s, id, attempt, "node-a", 30);
        ck_assert_str_eq(su_str(j, "state"), "running");
        ck_assert_int_eq(su_int(j, "attempt"), attempt);
        json_decref(j);
        su_stop(&s, 1);   /* SIGKILL */
    }
    node_start(&s, NULL, "node-a", "--max-attempts", "3");
    json_t *j = su_job_wait(&s, id, NULL, 30);
    ck_assert_str_eq(su_str(j, "state"), "failed");
    ck_assert_int_eq(su_int(j, "attempt"), 3);
    json_t *e = json_object_get(j, "error");
    ck_assert_str_eq(su_str(e, "title"), "Job died");
    const char *d = su_str(e, "detail");
    ck_assert_msg(strstr(d, "died in 3 attempts, the last on node node-a") &&
                  strstr(d, "crashed or was killed"), "%s", d);
    ck_assert(json_is_null(json_object_get(j, "model")));
    json_decref(j);
    free(id);
    free(ds);
    free(net);
    su_stop(&s, 0);
    su_cleanup(&s);
}
END_TEST

/* The same across nodes, through lapsed leases (--max-attempts 2): the node training the
 * job is killed, the other takes it over and is killed too; a third node, once that
 * lease lapsed, ends the job failed instead of training it. */
START_TEST(job_killing_its_nodes_ends_failed)
{
    if (!su_pg()) {
        printf("test_nodes: job_killing_its_nodes_ends_failed skipped on SQLite\n");
        return;
    }
    struct server n[3] = {{0}};
    const char *names[3] = {"node-a", "node-b", "node-c"};
    node_start(&n[0], NULL, names[0], "--max-attempts", "2");
    node_start(&n[1], &n[0], names[1], "--max-attempts", "2");
    char *ds = su_dataset(&n[0], 4000, 64, 0), *net = su_network(&n[0], 64, 256);
    char *id = slow_job(&n[0], ds, net, 200);
    json_t *j = wait_attempt(&n[0], id, 1, NULL, 30);
    int k = node_named(names, 2, json_string_value(json_object_get(j, "node")));
    json_decref(j);
    su_stop(&n[k], 1);   /* SIGKILL */
    json_decref(wait_attempt(&n[1 - k], id, 2, names[1 - k], 30));
    node_start(&n[2], &n[0], names[2], "--max-attempts", "2");
    su_stop(&n[1 - k], 1);
    j = su_job_wait(&n[2], id, NULL, 30);
    ck_assert_str_eq(su_str(j, "state"), "failed");
    ck_assert_int_eq(su_int(j, "attempt"), 2);
    ck_assert_str_eq(su_str(j, "node"), names[1 - k]);
    const char *d = su_str(json_object_get(j, "error"), "detail");
    char want[96];
    snprintf(want, sizeof want, "died in 2 attempts, the last on node %s", names[1 - k]);
    ck_assert_msg(strstr(d, want), "%s", d);
    json_decref(j);
    free(id);
    free(ds);
    free(net);
    nodes_end(n, 3);
}
END_TEST

/* The settings: nonsense leases, attempts and node ids are refused at start, naming
 * the flag. */
START_TEST(bad_settings_are_refused)
{
    const char *bad[][2] = {{"--lease", "0"}, {"--lease", "-3"}, {"--lease", "soon"},
                            {"--max-attempts", "0"}, {"--node-id", "a b"},
                            {"--node-id", ""}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "build/neurond --db /nonexistent/x.db %s '%s' 2>&1",
                 bad[i][0], bad[i][1]);
        FILE *p = popen(cmd, "r");
        ck_assert_ptr_nonnull(p);
        char out[512] = "";
        size_t got = fread(out, 1, sizeof out - 1, p);
        out[got] = 0;
        int status = pclose(p);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 2, "%s: exit %d", cmd,
                      status);
        ck_assert_msg(strstr(out, bad[i][0]), "%s: %s", cmd, out);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("nodes");
    TCase *tc = tcase_create("nodes");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, bad_settings_are_refused);
    tcase_add_test(tc, job_that_dies_every_time_ends_failed);
    tcase_add_test(tc, three_nodes_divide_the_queue);
    tcase_add_test(tc, killed_node_job_resumes_elsewhere);
    tcase_add_test(tc, frozen_node_late_write_is_refused);
    tcase_add_test(tc, cancel_through_another_node);
    tcase_add_test(tc, job_killing_its_nodes_ends_failed);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
