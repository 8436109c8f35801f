/* test_api_batching.c -- prediction batching against the real binary on 127.0.0.1:
 *  - concurrent one-row requests, batched (the /metrics histogram shows passes of more
 *    than one row), each answered with its own row's outputs, the same bits as that row
 *    predicted alone; so are multi-row requests batched with strangers;
 *  - the TF Serving, v2 and MLflow routes batch the same way and answer the same bits;
 *  - a request with more rows than --max-batch runs alone and answers as its rows alone;
 *  - a client that goes away while its rows wait (in the queue, or for its HTTP thread's
 *    turn) leaves the batch without harm;
 *  - a model deleted while requests wait for their batch: each answers its own rows (or
 *    404 when the delete came first), and every request after the delete 404s;
 *  - SIGTERM answers every request still waiting for a batch, then exits 0;
 *  - without a window, short requests read in one turn of an HTTP thread go together
 *    on that thread; on an idle service a short pass runs there, a long one on the batch
 *    thread;
 *  - --max-batch 0 turns batching off: no pass is counted.
 * A long --batch-window makes batches form on an idle machine; the answers must not
 * depend on it. */
#include "srvutil.h"
#include "testutil.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* F inputs and 512 units: a product large enough that BLAS libraries pick other kernels
 * for one row and for many (OpenBLAS does), so that only kernels whose rows keep their
 * bits in any company pass */
enum { F = 200, N = 24, ROW = 4096, BODY = 32768 };

/* A trained model on a dataset of F features with batchnorm between its dense layers
 * (standardized inputs); its id (new). */
static char *model(const struct server *s)
{
    char *ds = su_dataset(s, 300, F, 1), body[768];
    snprintf(body, sizeof body,
             "{\"inputs\": %d, \"layers\": [{\"type\": \"dense\", \"units\": 512, "
             "\"activation\": \"relu\"}, {\"type\": \"batchnorm\"}, {\"type\": \"dense\", "
             "\"units\": 3, \"activation\": \"softmax\"}], \"loss\": "
             "\"categorical_crossentropy\"}", F);
    char *net = su_post_id(s, "/v1/networks", body, 201);
    snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\", \"epochs\": 3, "
             "\"batch_size\": 32, \"seed\": 3}", net, ds);
    char *job = su_post_id(s, "/v1/jobs", body, 202);
    json_t *j = su_job_wait(s, job, NULL, 120);
    ck_assert_str_eq(su_str(j, "state"), "succeeded");
    char *m = strdup(su_str(j, "model"));
    json_decref(j);
    free(job);
    free(net);
    free(ds);
    return m;
}

/* Row i of the probe rows, as JSON text "[v, ...]". */
static void row_text(int i, char *out, size_t cap)
{
    unsigned r = 1000u + (unsigned)i * 7919u;
    size_t at = (size_t)snprintf(out, cap, "[");
    for (int j = 0; j < F; j++) {
        r = r * 1103515245u + 12345u;
        at += (size_t)snprintf(out + at, cap - at, "%s%.6f", j ? ", " : "",
                               -1 + 7 * (((r >> 16) % 10000) / 10000.0));
    }
    snprintf(out + at, cap - at, "]");
}

/* A request: what it sends, what came back. */
struct call {
    const struct server *s;
    char path[160];
    char body[BODY];
    const char *ctype;
    long status;
    char *answer;              /* new */
    json_t *json;              /* the answer parsed, NULL when not JSON */
};

static void *send_call(void *arg)
{
    struct call *c = arg;
    struct http_reply h = su_http(c->s, "POST", c->path, c->body, strlen(c->body), c->ctype);
    c->status = h.status;
    c->answer = h.body;
    json_error_t e;
    c->json = json_loads(h.body, 0, &e);
    return NULL;
}

/* Sends n calls at once (a thread each) and waits for every answer. */
static void send_all(struct call *calls, int n)
{
    pthread_t *t = calloc((size_t)n, sizeof *t);
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, send_call, &calls[i]), 0);
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    free(t);
}

static void call_free(struct call *c)
{
    free(c->answer);
    json_decref(c->json);
    c->answer = NULL;
    c->json = NULL;
}

/* The text of a member of c's answer (compact JSON), for a comparison of its bits: the
 * service writes a float32 with 9 significant digits, which name it exactly. New. */
static char *member(const struct call *c, const char *key)
{
    ck_assert_msg(c->status == 200 && c->json, "%s: %ld %.300s", c->path, c->status, c->answer);
    const json_t *v = json_object_get(c->json, key);
    ck_assert_msg(v != NULL, "no %s in %.300s", key, c->answer);
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(9));
}

/* Call i: probe row i alone to the native route of model m. */
static void native_call(struct call *c, const struct server *s, const char *m, int i)
{
    char row[ROW];
    row_text(i, row, sizeof row);
    *c = (struct call){.s = s, .ctype = "application/json"};
    snprintf(c->path, sizeof c->path, "/v1/models/%s/predict", m);
    snprintf(c->body, sizeof c->body, "{\"inputs\": [%s]}", row);
}

/* Row i's outputs as [[...]] when predicted alone on the native route (new). */
static char *alone(const struct server *s, const char *m, int i)
{
    struct call c;
    native_call(&c, s, m, i);
    send_call(&c);
    char *o = member(&c, "outputs");
    call_free(&c);
    return o;
}

/* A sample of /metrics (its first line starting with name), or -1. */
static double metric(const struct server *s, const char *name)
{
    struct http_reply h = su_http(s, "GET", "/metrics", NULL, 0, NULL);
    ck_assert_int_eq(h.status, 200);
    double v = -1;
    size_t n = strlen(name);
    for (const char *p = h.body; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (!strncmp(p, name, n) && p[n] == ' ') {
            v = atof(p + n + 1);
            break;
        }
    su_http_free(&h);
    return v;
}

/* Passes of more than one row so far. */
static double multi_row_passes(const struct server *s)
{
    return metric(s, "neurond_predict_batch_rows_count") -
           metric(s, "neurond_predict_batch_rows_bucket{le=\"1\"}");
}

/* Concurrent requests of one row and of three rows each answer their own rows' outputs,
 * the bits each row gets alone, while passes of several rows run. */
START_TEST(concurrent_rows_get_their_own_outputs)
{
    struct server s = {0};
    su_start(&s, (const char *const[]){"--batch-window", "20000", NULL});
    char *m = model(&s), *want[N + 2];
    for (int i = 0; i < N + 2; i++)
        want[i] = alone(&s, m, i);
    ck_assert_double_eq(multi_row_passes(&s), 0);   /* one at a time: never together */
    struct call c[N];
    for (int i = 0; i < N; i++) {
        c[i] = (struct call){.s = &s, .ctype = "application/json"};
        snprintf(c[i].path, sizeof c[i].path, "/v1/models/%s/predict", m);
        char r0[ROW], r1[ROW], r2[ROW];
        row_text(i, r0, sizeof r0);
        if (i % 4 == 3) {   /* a request of three rows: i, i+1, i+2 */
            row_text(i + 1, r1, sizeof r1);
            row_text(i + 2, r2, sizeof r2);
            snprintf(c[i].body, sizeof c[i].body, "{\"instances\": [%s, %s, %s]}", r0, r1, r2);
        } else {
            snprintf(c[i].body, sizeof c[i].body, "{\"inputs\": [%s]}", r0);
        }
    }
    send_all(c, N);
    for (int i = 0; i < N; i++) {
        char *got = member(&c[i], "outputs"), expect[BODY];
        if (i % 4 == 3) /* the three rows' outputs, each as it was alone */
            snprintf(expect, sizeof expect, "[%.*s,%.*s,%.*s]", (int)strlen(want[i]) - 2,
                     want[i] + 1, (int)strlen(want[i + 1]) - 2, want[i + 1] + 1,
                     (int)strlen(want[i + 2]) - 2, want[i + 2] + 1);
        else
            snprintf(expect, sizeof expect, "%s", want[i]);
        ck_assert_msg(!strcmp(got, expect), "request %d: %s, alone %s", i, got, expect);
        free(got);
        call_free(&c[i]);
    }
    ck_assert_msg(multi_row_passes(&s) > 0, "no pass of more than one row");
    ck_assert_double_gt(metric(&s, "neurond_predict_queue_wait_seconds_count"), N);
    for (int i = 0; i < N + 2; i++)
        free(want[i]);
    free(m);
    su_stop(&s, 0);
    su_cleanup(&s);
}
END_TEST

/* Without a window: the short requests an HTTP thread reads in one turn of its event
 * loop go together in one pass, on that thread (no batch thread runs them). Rounds of
 * concurrent one-row requests until such passes have run; every answer is the bits of
 * its row alone. */
START_TEST(batches_form_without_a_window)
{
    struct server s = {0};
    su_start(&s, NULL);
    char *m = model(&s), *want[N];
    for (int i = 0; i < N; i++)
        want[i] = alone(&s, m, i);
    int round = 0;
    for (; round < 200 && multi_row_passes(&s) == 0; round++) {
        struct call c[N];
        for (int i = 0; i < N; i++)
            native_call(&c[i], &s, m, i);
        send_all(c, N);
        for (int i = 0; i < N; i++) {
            char *got = member(&c[i], "outputs");
            ck_assert_msg(!strcmp(got, want[i]), "round %d, request %d: %s, alone %s", round,
                          i, got, want[i]);
            free(got);
            call_free(&c[i]);
        }
    }
    ck_assert_msg(multi_row_passes(&s) > 0, "no pass of more than one row in %d rounds of %d "
                  "concurrent requests", round, N);
    ck_assert_double_eq(metric(&s, "neurond_predict_batch_thread_passes_total"), 0);
    for (int i = 0; i < N; i++)
        free(want[i]);
    free(m);
    su_stop(&s, 0);
    su_cleanup(&s);
}
END_TEST

/* TF Serving, v2 and MLflow requests batched together answer each its own row's bits. */
START_TEST(protocol_routes_batch_alike)
{
    struct server s = {0};
    su_start(&s, (const char *const[]){"--batch-window", "20000", NULL});
    char *m = model(&s), *want[N];
    for (int i = 0; i < N; i++)
        want[i] = alone(&s, m, i);
    struct call c[N];
    for (int i = 0; i < N; i++) {
        char row[ROW];
        row_text(i, row, sizeof row);
        c[i] = (struct call){.s = &s, .ctype = "application/json"};
        switch (i % 3) {
        case 0:
            snprintf(c[i].path, sizeof c[i].path, "/v1/models/%s:predict", m);
            snprintf(c[i].body, sizeof c[i].body, "{\"instances\": [%s]}", row);
            break;
        case 1:
            snprintf(c[i].path, sizeof c[i].path, "/v2/models/%s/infer", m);
            snprintf(c[i].body, sizeof c[i].body, "{\"id\": \"r%d\", \"inputs\": [{\"name\": "
                     "\"inputs\", \"shape\": [1, %d], \"datatype\": \"FP32\", \"data\": [%s]}]}",
                     i, F, row);
            break;
        default:
            snprintf(c[i].path, sizeof c[i].path, "/invocations?model=%s", m);
            snprintf(c[i].body, sizeof c[i].body, "{\"inputs\": [%s]}", row);
        }
    }
    send_all(c, N);
    for (int i = 0; i < N; i++) {
        char *got, id[16];
        if (i % 3 == 1) {   /* v2: the flat data of one row, and the request's id */
            snprintf(id, sizeof id, "r%d", i);
            ck_assert_str_eq(su_str(c[i].json, "id"), id);
            const json_t *o = json_array_get(json_object_get(c[i].json, "outputs"), 0);
            char *data = json_dumps(json_object_get(o, "data"), JSON_COMPACT |
                                    JSON_REAL_PRECISION(9));
            ck_assert_ptr_nonnull(data);
            got = malloc(strlen(data) + 3);
            sprintf(got, "[%s]", data);
            free(data);
        } else {
            got = member(&c[i], "predictions");
        }
        ck_assert_msg(!strcmp(got, want[i]), "%s: %s, alone %s", c[i].path, got, want[i]);
        free(got);
        call_free(&c[i]);
    }
    ck_assert_msg(multi_row_passes(&s) > 0, "no pass of more than one row");
    for (int i = 0; i < N; i++)
        free(want[i]);
    free(m);
    su_stop(&s, 0);
    su_cleanup(&s);
}
END_TEST

/* A request of more rows than --max-batch runs alone: its rows answer as they do alone,
 * whether its rows queue (with a window) or wait for its HTTP thread's turn (without);
 * and without a window, the one-row requests read in one turn go in passes of at most
 * --max-batch rows. */
START_TEST(more_rows_than_max_batch)
{
    const char *const with_window[] = {"--max-batch", "4", "--batch-window", "20000", NULL};
    const char *const without[] = {"--max-batch", "4", NULL};
    for (int w = 0; w < 2; w++) {
        struct server s = {0};
        su_start(&s, w == 0 ? with_window : without);
        char *m = model(&s), *want[N], rows[10 * ROW] = "", expect[BODY] = "[";
        for (int i = 0; i < N; i++)
            want[i] = alone(&s, m, i);
        for (int i = 0; i < 10; i++) {
            char row[ROW];
            row_text(i, row, sizeof row);
            snprintf(rows + strlen(rows), sizeof rows - strlen(rows), "%s%s", i ? ", " : "",
                     row);
            snprintf(expect + strlen(expect), sizeof expect - strlen(expect), "%s%.*s",
                     i ? "," : "", (int)strlen(want[i]) - 2, want[i] + 1);
        }
        strcat(expect, "]");
        struct call c = {.s = &s, .ctype = "application/json"};
        snprintf(c.path, sizeof c.path, "/v1/models/%s/predict", m);
        snprintf(c.body, sizeof c.body, "{\"inputs\": [%s]}", rows);
        send_call(&c);
        char *got = member(&c, "outputs");
        ck_assert_str_eq(got, expect);
        free(got);
        call_free(&c);
        ck_assert_double_eq(metric(&s, "neurond_predict_batch_rows_bucket{le=\"8\"}") + 1,
                            metric(&s, "neurond_predict_batch_rows_bucket{le=\"16\"}"));
        for (int round = 0; round < 5; round++) {
            struct call cs[N];
            for (int i = 0; i < N; i++)
                native_call(&cs[i], &s, m, i);
            send_all(cs, N);
            for (int i = 0; i < N; i++) {
                char *one = member(&cs[i], "outputs");
                ck_assert_msg(!strcmp(one, want[i]), "request %d: %s, alone %s", i, one,
                              want[i]);
                free(one);
                call_free(&cs[i]);
            }
        }
        /* every pass but the 10 rows' took at most 4 */
        ck_assert_double_eq(metric(&s, "neurond_predict_batch_rows_bucket{le=\"4\"}") + 1,
                            metric(&s, "neurond_predict_batch_rows_count"));
        for (int i = 0; i < N; i++)
            free(want[i]);
        free(m);
        su_stop(&s, 0);
        su_cleanup(&s);
    }
}
END_TEST

/* A one-row prediction of model m (row 1) as raw HTTP, for clients that go away. */
static void raw_request(const char *m, char *req, size_t cap)
{
    char row[ROW], body[BODY];
    row_text(1, row, sizeof row);
    snprintf(body, sizeof body, "{\"inputs\": [%s]}", row);
    snprintf(req, cap, "POST /v1/models/%s/predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s", m,
             strlen(body), body);
}

/* Sends n requests (prepared) at once; each must answer want's bits. */
static void all_answer(struct call *c, int n, const char *want)
{
    send_all(c, n);
    for (int i = 0; i < n; i++) {
        char *got = member(&c[i], "outputs");
        ck_assert_str_eq(got, want);
        free(got);
        call_free(&c[i]);
    }
}

/* The service goes on answering: /healthz, and model m's row 0 as want. */
static void still_answers(const struct server *s, const char *m, const char *want)
{
    struct http_reply h = su_http(s, "GET", "/healthz", NULL, 0, NULL);
    ck_assert_int_eq(h.status, 200);
    su_http_free(&h);
    char *again = alone(s, m, 0);
    ck_assert_str_eq(again, want);
    free(again);
}

/* Clients that send a request and go away while its rows wait: the others are answered,
 * and so is the next request. */
START_TEST(client_gone_mid_batch)
{
    struct server s = {0};
    su_start(&s, (const char *const[]){"--batch-window", "300000", NULL});
    char *m = model(&s), *want = alone(&s, m, 0), req[BODY + 512];
    raw_request(m, req, sizeof req);
    int fds[4];
    for (int k = 0; k < 4; k++) {   /* gone with their rows queued */
        ck_assert_int_ge(fds[k] = su_connect(&s, NULL), 0);
        ck_assert_int_eq(su_send(fds[k], req, strlen(req)), 0);
    }
    struct call c[3];
    for (int i = 0; i < 3; i++)
        native_call(&c[i], &s, m, 0);
    usleep(50000);
    for (int k = 0; k < 4; k++)
        close(fds[k]);
    all_answer(c, 3, want);
    still_answers(&s, m, want);
    free(want);
    free(m);
    su_stop(&s, 0);
    su_cleanup(&s);
}
END_TEST

/* Without a window: clients that send a request and reset the connection at once,
 * among others that wait for their answers, many times over: some are gone before
 * their HTTP thread's turn comes (their rows leave the pass); every other request gets
 * its own row's outputs, and the service goes on answering. */
START_TEST(client_gone_before_its_turn)
{
    struct server s = {0};
    su_start(&s, NULL);
    char *m = model(&s), *want = alone(&s, m, 0), req[BODY + 512];
    raw_request(m, req, sizeof req);
    for (int round = 0; round < 30; round++) {
        struct call c[4];
        for (int i = 0; i < 4; i++)
            native_call(&c[i], &s, m, 0);
        int fds[6];
        for (int k = 0; k < 6; k++) {
            ck_assert_int_ge(fds[k] = su_connect(&s, NULL), 0);
            ck_assert_int_eq(su_send(fds[k], req, strlen(req)), 0);
        }
        for (int k = 0; k < 6; k++) {   /* a reset, not a FIN: gone at once */
            struct linger l = {1, 0};
            setsockopt(fds[k], SOL_SOCKET, SO_LINGER, &l, sizeof l);
            close(fds[k]);
        }
        all_answer(c, 4, want);
    }
    ck_assert_double_eq(metric(&s, "neurond_predict_queue_rows"), 0);
    still_answers(&s, m, want);
    free(want);
    free(m);
    su_stop(&s, 0);
    su_cleanup(&s);
}
END_TEST

struct deleter {
    const struct server *s;
    char path[160];
    long status;
};

static void *delete_model(void *arg)
{
    struct deleter *d = arg;
    usleep(100000);   /* while the requests wait out the window */
    struct http_reply h = su_http(d->s, "DELETE", d->path, NULL, 0, NULL);
    d->status = h.status;
    su_http_free(&h);
    return NULL;
}

/* A model deleted while requests wait for their batch: each of them answers its own
 * row's outputs or 404, and every request after the delete 404s. */
START_TEST(model_deleted_while_batch_waits)
{
    struct server s = {0};
    su_start(&s, (const char *const[]){"--batch-window", "400000", NULL});
    char *m = model(&s), *want[N];
    for (int i = 0; i < N; i++)
        want[i] = alone(&s, m, i);
    struct call c[N];
    for (int i = 0; i < N; i++)
        native_call(&c[i], &s, m, i);
    struct deleter d = {.s = &s};
    snprintf(d.path, sizeof d.path, "/v1/models/%s", m);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, delete_model, &d), 0);
    send_all(c, N);
    pthread_join(t, NULL);
    ck_assert_int_eq(d.status, 204);
    int answered = 0;
    for (int i = 0; i < N; i++) {
        if (c[i].status == 404) {
            call_free(&c[i]);
            continue;
        }
        char *got = member(&c[i], "outputs");
        ck_assert_msg(!strcmp(got, want[i]), "request %d: %s, alone %s", i, got, want[i]);
        answered++;
        free(got);
        call_free(&c[i]);
    }
    ck_assert_int_gt(answered, 0);   /* they were waiting when the delete came */
    struct call after;
    native_call(&after, &s, m, 0);
    send_call(&after);
    ck_assert_int_eq(after.status, 404);
    call_free(&after);
    for (int i = 0; i < N; i++)
        free(want[i]);
    free(m);
    su_stop(&s, 0);
    su_cleanup(&s);
}
END_TEST

struct stopper {
    const struct server *s;
    int rows;                  /* SIGTERM once this many rows wait */
    int seen;                  /* they did */
};

static void *sigterm_soon(void *arg)
{
    struct stopper *st = arg;
    for (int i = 0; i < 400 && !st->seen; i++) {   /* up to 20 s: a sanitizer is slow */
        struct http_reply h = su_http(st->s, "GET", "/metrics", NULL, 0, NULL);
        const char *q = strstr(h.body, "\nneurond_predict_queue_rows ");
        st->seen = q && atoi(q + 28) == st->rows;
        su_http_free(&h);
        usleep(50000);
    }
    kill(st->s->pid, SIGTERM);
    return NULL;
}

/* SIGTERM while requests wait for their batch: each is answered with its own row's
 * outputs, and the service exits 0. */
START_TEST(sigterm_answers_waiting_requests)
{
    struct server s = {0};
    su_start(&s, NULL);
    char *m = model(&s);
    su_stop(&s, 0);
    su_start(&s, NULL);   /* the rows alone, without a window */
    char *want[8];
    for (int i = 0; i < 8; i++)
        want[i] = alone(&s, m, i);
    su_stop(&s, 0);
    su_start(&s, (const char *const[]){"--batch-window", "10000000", NULL});
    struct call c[8];
    for (int i = 0; i < 8; i++)
        native_call(&c[i], &s, m, i);
    struct stopper st = {&s, 8, 0};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, sigterm_soon, &st), 0);
    send_all(c, 8);
    pthread_join(t, NULL);
    ck_assert_msg(st.seen, "the 8 rows were not seen waiting");
    for (int i = 0; i < 8; i++) {
        char *got = member(&c[i], "outputs");
        ck_assert_msg(!strcmp(got, want[i]), "request %d: %s, alone %s", i, got, want[i]);
        free(got);
        call_free(&c[i]);
        free(want[i]);
    }
    int status;
    ck_assert_int_eq(waitpid(s.pid, &status, 0), s.pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    s.pid = 0;
    free(m);
    su_cleanup(&s);
}
END_TEST

/* On an idle service a short pass runs on the thread that read its request, and a long
 * one (a model of 6.6M parameters) goes to the batch thread, so that it never holds up an
 * HTTP thread; both answer. */
START_TEST(long_pass_goes_to_batch_thread)
{
    struct server s = {0};
    su_start(&s, NULL);
    char *small = model(&s), *ds = su_dataset(&s, 30, F, 1), body[768];
    char *want = alone(&s, small, 0);
    ck_assert_double_eq(metric(&s, "neurond_predict_batch_rows_count"), 1);
    ck_assert_double_eq(metric(&s, "neurond_predict_batch_thread_passes_total"), 0);
    ck_assert_double_eq(metric(&s, "neurond_predict_queue_wait_seconds_count"), 1);
    snprintf(body, sizeof body,
             "{\"inputs\": %d, \"layers\": [{\"type\": \"dense\", \"units\": 2560, "
             "\"activation\": \"relu\"}, {\"type\": \"dense\", \"units\": 2560, "
             "\"activation\": \"relu\"}, {\"type\": \"dense\", \"units\": 3, "
             "\"activation\": \"softmax\"}], \"loss\": \"categorical_crossentropy\"}", F);
    char *net = su_post_id(&s, "/v1/networks", body, 201);
    snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\", \"epochs\": 1, "
             "\"batch_size\": 30}", net, ds);
    char *job = su_post_id(&s, "/v1/jobs", body, 202);
    json_t *j = su_job_wait(&s, job, NULL, 120);
    ck_assert_str_eq(su_str(j, "state"), "succeeded");
    char *big = alone(&s, su_str(j, "model"), 0);
    ck_assert_ptr_nonnull(big);
    ck_assert_double_eq(metric(&s, "neurond_predict_batch_rows_count"), 2);
    ck_assert_double_eq(metric(&s, "neurond_predict_batch_thread_passes_total"), 1);
    ck_assert_double_eq(metric(&s, "neurond_predict_queue_wait_seconds_count"), 2);
    char *again = alone(&s, small, 0);   /* the short pass runs on the HTTP thread again */
    ck_assert_str_eq(again, want);
    ck_assert_double_eq(metric(&s, "neurond_predict_batch_rows_count"), 3);
    ck_assert_double_eq(metric(&s, "neurond_predict_batch_thread_passes_total"), 1);
    ck_assert_double_eq(metric(&s, "neurond_predict_queue_wait_seconds_count"), 3);
    free(again), free(big), free(want), free(job), free(net), free(ds), free(small);
    json_decref(j);
    su_stop(&s, 0);
    su_cleanup(&s);
}
END_TEST

/* --max-batch 0: no batching; requests run as they come and no pass is counted. */
START_TEST(max_batch_zero_is_off)
{
    struct server s = {0};
    su_start(&s, (const char *const[]){"--max-batch", "0", NULL});
    char *m = model(&s), *want[N];
    for (int i = 0; i < N; i++)
        want[i] = alone(&s, m, i);
    struct call c[N];
    for (int i = 0; i < N; i++)
        native_call(&c[i], &s, m, i);
    send_all(c, N);
    for (int i = 0; i < N; i++) {
        char *got = member(&c[i], "outputs");
        ck_assert_str_eq(got, want[i]);
        free(got);
        call_free(&c[i]);
        free(want[i]);
    }
    ck_assert_double_eq(metric(&s, "neurond_predict_batch_rows_count"), 0);
    free(m);
    su_stop(&s, 0);
    su_cleanup(&s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("api_batching");
    TCase *tc = tcase_create("batching");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, concurrent_rows_get_their_own_outputs);
    tcase_add_test(tc, batches_form_without_a_window);
    tcase_add_test(tc, protocol_routes_batch_alike);
    tcase_add_test(tc, more_rows_than_max_batch);
    tcase_add_test(tc, client_gone_mid_batch);
    tcase_add_test(tc, client_gone_before_its_turn);
    tcase_add_test(tc, model_deleted_while_batch_waits);
    tcase_add_test(tc, sigterm_answers_waiting_requests);
    tcase_add_test(tc, long_pass_goes_to_batch_thread);
    tcase_add_test(tc, max_batch_zero_is_off);
    suite_add_tcase(s, tc);
    return tu_run(s) != 0;
}
