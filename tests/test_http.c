/* test_http.c -- the HTTP glue (server/http/http.c).
 *  - json_cost against jansson's own allocations (mallinfo2), and req_json_load's bound;
 *  - the real binary over raw sockets: a request hidden behind a framing fault never
 *    runs; a body over its limit is refused before it is read, a chunked one cut at it;
 *    absolute-form targets; deadlines for headers and bodies that a byte now and then
 *    does not move; connections per address; event streams per client and per job, and
 *    a stream whose client takes nothing; the probes answered while requests with a body
 *    hold the pool; a prediction past the row limit refused before the rest is read; the
 *    memory a JSON body costs, and that it is given back; requests counted for /metrics
 *    under the route their path matches and the method they came with.
 * The bad requests themselves, one each, are rows of test_e2e.c's table. */
#include "srvutil.h"
#include "testutil.h"

#include <curl/curl.h>
#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0   /* under a sanitizer, the RSS says nothing of jansson's memory */
#endif

#define J "application/json"

/* "[item,item,...]" of about `bytes` bytes (new). */
static char *repeat(const char *item, size_t bytes)
{
    size_t il = strlen(item), n = bytes / (il + 1) + 1, len = 0;
    char *b = malloc(n * (il + 1) + 3);
    ck_assert_ptr_nonnull(b);
    b[len++] = '[';
    for (size_t i = 0; i < n; i++) {
        memcpy(b + len, item, il);
        len += il;
        b[len++] = i + 1 < n ? ',' : ']';
    }
    b[len] = 0;
    return b;
}

/* ---- json_cost against jansson ---- */

static size_t heap_used(void)
{
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
}

/* The bytes jansson holds for doc once parsed (the document stays alive meanwhile). */
static size_t jansson_bytes(const char *doc)
{
    malloc_trim(0);
    size_t before = heap_used();
    json_error_t e;
    json_t *j = json_loads(doc, JSON_REJECT_DUPLICATES, &e);
    ck_assert_msg(j != NULL, "%s", e.text);
    size_t after = heap_used();
    json_decref(j);
    return after > before ? after - before : 0;
}

/* The estimate is never under what jansson holds once it has parsed (it bounds the
 * memory), nor far over it (it refuses no more than it must): over it by the table a
 * growing array leaves behind at most (half its own), for each kind of value and their
 * mixes. */
START_TEST(json_cost_holds_jansson)
{
    if (SANITIZED)
        return;
    static const char *const items[] = {
        "{}", "[]", "1", "-2.5e-3", "\"a\"", "\"a string of forty characters, or so, ...\"",
        "null", "true", "{\"a\":1}", "[1]", "[5.1,3.5,1.4,0.2]", "[0,1,0,1]",
        "{\"type\": \"dense\", \"units\": 4}", "[[[[[[[[[[1]]]]]]]]]]",
        "{\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,\"k6\":6,\"k7\":7,\"k8\":8,\"k9\":9}",
        "[\"x\\\"y\",\"\\u00e9\"]"};
    char *docs[sizeof items / sizeof *items + 3];
    size_t n = 0;
    for (size_t i = 0; i < sizeof items / sizeof *items; i++)
        docs[n++] = repeat(items[i], 1 << 20);
    docs[n++] = su_blobs_json(3000, 16, 1);
    docs[n++] = tu_slurp("api/examples/network_fashion.json", NULL);
    char *wide = malloc(20000 * 32), *p = wide;   /* one object of 20000 members */
    ck_assert_ptr_nonnull(wide);
    p += sprintf(p, "{");
    for (int i = 0; i < 20000; i++)
        p += sprintf(p, "%s\"member%d\": %d", i ? ", " : "", i, i);
    sprintf(p, "}");
    docs[n++] = wide;
    for (size_t i = 0; i < n; i++) {
        size_t real = jansson_bytes(docs[i]), est = json_cost(docs[i], strlen(docs[i]));
        ck_assert_msg(real <= est && est <= real + real * 3 / 5 + 16384,
                      "%.40s...: jansson took %zu bytes, estimated %zu", docs[i], real, est);
        free(docs[i]);
    }
}
END_TEST

/* req_json_load: a body whose values would take more than 16 times its size (past the
 * floor) is a 413 before anything is built; sparse ones and small ones are parsed; a
 * malformed one is a 400 with its place. */
START_TEST(json_load_bounds_memory)
{
    struct reply out = {0};
    char *dense = repeat("{}", 1 << 20);   /* 77 times its size in jansson */
    ck_assert_ptr_null(req_json_load(dense, strlen(dense), 0, &out));
    ck_assert_int_eq(out.status, 413);
    ck_assert_ptr_nonnull(strstr(out.body, "too many values"));
    su_reply_free(&out);
    out = (struct reply){0};
    char *small = repeat("{}", 12000);   /* 36 kB: dense, but under the floor */
    json_t *v = req_json_load(small, strlen(small), 0, &out);
    ck_assert_ptr_nonnull(v);
    ck_assert_int_ge(json_array_size(v), 4000);
    json_decref(v);
    char *reals = repeat("[5.123,3.5,1.4,0.25]", 4 << 20);   /* a dataset's rows */
    v = req_json_load(reals, strlen(reals), 0, &out);
    ck_assert_ptr_nonnull(v);
    json_decref(v);
    ck_assert_ptr_null(req_json_load("{\"a\": [1,\n 2,]}", 15, 0, &out));
    ck_assert_int_eq(out.status, 400);
    ck_assert_ptr_nonnull(strstr(out.body, "line 2"));
    su_reply_free(&out);
    free(dense);
    free(small);
    free(reals);
}
END_TEST

/* ---- the binary ---- */

static const char *const one_thread[] = {"--threads", "1", NULL};

/* How many networks the server holds. */
static size_t networks(const struct server *s)
{
    json_t *l = su_get_json(s, "/v1/networks");
    size_t n = json_array_size(json_object_get(l, "items"));
    json_decref(l);
    return n;
}

/* A request hidden behind each framing fault -- in the body one reading takes, after it
 * for the other -- is refused with its carrier, and never runs. */
START_TEST(hidden_requests_never_run)
{
    static const char net[] = "{\"inputs\": 4, \"layers\": [{\"type\": \"dense\", \"units\": 2}], "
                              "\"loss\": \"mse\"}";
    char hidden[512], req[1024];
    snprintf(hidden, sizeof hidden, "POST /v1/networks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
             "application/json\r\nContent-Length: %zu\r\n\r\n%s", strlen(net), net);
    struct server s = {0};
    su_start(&s, one_thread);
    /* each carrier: its framing headers and the body one reading takes; the other reads
     * the hidden request after it (or, for gzip, does not know where the body ends) */
    size_t hl = strlen(hidden);
    char framings[4][160];
    snprintf(framings[0], 160, "Content-Length: 2\r\nContent-Length: %zu\r\n\r\n{}", hl + 2);
    snprintf(framings[1], 160, "Content-Length: %zu\r\nTransfer-Encoding: chunked\r\n\r\n"
             "0\r\n\r\n", hl + 5);
    snprintf(framings[2], 160, "Transfer-Encoding: gzip\r\n\r\n");
    snprintf(framings[3], 160, "Content-Length : %zu\r\n\r\n", hl);
    for (size_t i = 0; i < 4; i++) {
        int n = snprintf(req, sizeof req, "POST /v1/networks HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         "Content-Type: application/json\r\n%s%s", framings[i], hidden);
        int fd = su_connect(&s, NULL);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(su_send(fd, req, (size_t)n), 0);
        struct http_reply h = su_read_reply(fd, 30);
        ck_assert_msg(h.status == 400 || h.status == 501, "%s: %ld %s", framings[i], h.status,
                      h.body);
        ck_assert_str_eq(h.ctype, "application/problem+json");
        ck_assert_msg(h.closed, "%s: the connection stays open", framings[i]);
        su_http_free(&h);
        close(fd);
        ck_assert_msg(networks(&s) == 0, "%s: the hidden request ran", framings[i]);
    }
    /* the same request, framed once: it runs */
    struct http_reply h = su_raw(&s, hidden, strlen(hidden));
    ck_assert_int_eq(h.status, 201);
    su_http_free(&h);
    ck_assert_int_eq(networks(&s), 1);
    su_stop(&s, 0);
    su_cleanup(&s);
}
END_TEST

/* A declared body over its limit is answered 413 before any of it is sent (no 100
 * Continue), and the connection closes; a chunked one is cut soon after its limit. */
START_TEST(bodies_over_the_limit_are_not_read)
{
    static const char *const args[] = {"--max-json", "1k", "--threads", "1", NULL};
    struct server s = {0};
    su_start(&s, args);
    static const char *const heads[] = {
        "POST /v1/networks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000000000\r\nExpect: 100-continue\r\n\r\n",
        "POST /v1/networks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Content-Length: 2000\r\n\r\n",
        "POST /v1/datasets HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
        "Content-Length: 2000\r\n\r\n"};
    for (size_t i = 0; i < 3; i++) {
        int fd = su_connect(&s, NULL);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(su_send(fd, heads[i], strlen(heads[i])), 0);
        struct http_reply h = su_read_reply(fd, 30);   /* no byte of the body was sent */
        ck_assert_msg(h.status == (i == 2 ? 415 : 413), "%ld %s", h.status, h.body);
        ck_assert_str_eq(h.connection, "close");
        ck_assert(h.closed);
        su_http_free(&h);
        close(fd);
    }
    /* a client that sends its whole body before it reads (as Python's does) reads the
     * 413 too: the body is drained, not answered with a reset */
    static char body[32 << 20];
    memset(body, ' ', sizeof body);
    char head32[200];
    snprintf(head32, sizeof head32, "POST /v1/networks HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n", sizeof body);
    int fd = su_connect(&s, NULL);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(su_send(fd, head32, strlen(head32)), 0);
    ck_assert_msg(su_send(fd, body, sizeof body) == 0, "sending the body: %s", strerror(errno));
    struct http_reply h = su_read_reply(fd, 30);
    ck_assert_msg(h.status == 413, "%ld %s", h.status, h.body);
    su_http_free(&h);
    close(fd);
    /* ... and one that sends nothing more is let go (LINGER_IDLE: 5 s without a byte) */
    fd = su_connect(&s, NULL);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(su_send(fd, head32, strlen(head32)), 0);
    ck_assert_int_eq(su_send(fd, body, 1000), 0);
    h = su_read_reply(fd, 30);
    ck_assert_int_eq(h.status, 413);
    ck_assert_msg(h.closed, "the connection still open 30 s after the 413");
    su_http_free(&h);
    close(fd);

    /* chunked: the connection is cut once the body passes 1 kB (and what the socket
     * buffers hold); 64 MB would never be taken */
    fd = su_connect(&s, NULL);
    ck_assert_int_ge(fd, 0);
    const char *head = "POST /v1/networks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                       "application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    ck_assert_int_eq(su_send(fd, head, strlen(head)), 0);
    static char chunk[16384 + 16];
    int k = snprintf(chunk, sizeof chunk, "4000\r\n");
    memset(chunk + k, ' ', 16384);
    memcpy(chunk + k + 16384, "\r\n", 2);
    size_t sent = 0;
    while (sent < (64u << 20) && su_send(fd, chunk, (size_t)k + 16386) == 0)
        sent += 16384;
    ck_assert_msg(sent < (64u << 20), "a chunked body of 64 MB was taken");
    close(fd);
    h = su_http(&s, "GET", "/healthz", NULL, 0, NULL);
    ck_assert_int_eq(h.status, 200);
    su_http_free(&h);
    su_stop(&s, 0);
    su_cleanup(&s);
}
END_TEST

/* An absolute-form target is the path it names (RFC 9112, 3.2.2). */
START_TEST(absolute_form_targets)
{
    struct server s = {0};
    su_start(&s, one_thread);
    /* the target's host is the one asked for, not the Host header's */
    static const char *const reqs[] = {"GET http://t/healthz HTTP/1.1\r\nHost: t\r\n\r\n",
                                       "GET HTTP://LOCALHOST:8080/v1/jobs?limit=1 HTTP/1.1\r\n"
                                       "Host: u\r\n\r\n",
                                       "GET http://127.0.0.1 HTTP/1.1\r\nHost: t\r\n\r\n"};
    for (size_t i = 0; i < 3; i++) {
        struct http_reply h = su_raw(&s, reqs[i], strlen(reqs[i]));
        ck_assert_msg(h.status == 200, "%s: %ld %s", reqs[i], h.status, h.body);
        ck_assert_str_eq(h.ctype, i == 2 ? "text/html; charset=utf-8" : J);
        su_http_free(&h);
    }
    /* a name not on --allowed-hosts in the target is refused, whatever Host says */
    const char *rebound = "GET http://evil.example:8080/v1/jobs HTTP/1.1\r\nHost: 127.0.0.1"
                          "\r\n\r\n";
    struct http_reply h = su_raw(&s, rebound, strlen(rebound));
    ck_assert_msg(h.status == 421 && strstr(h.body, "evil.example"), "%ld %s", h.status, h.body);
    su_http_free(&h);
    su_stop(&s, 0);
    su_cleanup(&s);
}
END_TEST

/* Sends `text` a byte at a time, one every 100 ms, until the server closes the
 * connection or `seconds` pass; whether it closed it, without a reply. */
static int trickle_until_closed(int fd, const char *text, int seconds)
{
    for (int i = 0; i < seconds * 10; i++) {
        if (su_send(fd, text + (size_t)i % strlen(text), 1) < 0)
            return 1;
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 100) > 0) {
            char c;
            return recv(fd, &c, 1, MSG_PEEK) <= 0;   /* closed; a byte would be a reply */
        }
    }
    return 0;
}

/* A request's headers and body have deadlines that a client sending a byte now and
 * then does not move (the idle timeout alone never ends it); a connection that sends
 * nothing is closed at the headers' deadline; one that keeps up is served. */
START_TEST(deadlines_for_headers_and_bodies)
{
    static const char *const args[] = {"--header-timeout", "1", "--body-timeout", "1",
                                       "--body-min-rate", "1M", "--threads", "1", NULL};
    struct server s = {0};
    su_start(&s, args);
    int fd = su_connect(&s, NULL);
    ck_assert_int_ge(fd, 0);
    const char *pad = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: ";
    ck_assert_int_eq(su_send(fd, pad, strlen(pad)), 0);
    ck_assert_msg(trickle_until_closed(fd, "a", 60), "headers a byte at a time for 60 s");
    close(fd);
    fd = su_connect(&s, NULL);
    ck_assert_int_ge(fd, 0);
    const char *head = "POST /v1/networks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                       "application/json\r\nContent-Length: 100000\r\n\r\n[";
    ck_assert_int_eq(su_send(fd, head, strlen(head)), 0);
    ck_assert_msg(trickle_until_closed(fd, "1,", 60), "a body a byte at a time for 60 s");
    close(fd);
    fd = su_connect(&s, NULL);   /* silent: closed at the headers' deadline */
    ck_assert_int_ge(fd, 0);
    ck_assert(su_wait_closed(fd, 60));
    close(fd);
    /* three requests on one connection, each in time: all answered */
    fd = su_connect(&s, NULL);
    ck_assert_int_ge(fd, 0);
    for (int i = 0; i < 3; i++) {
        const char *req = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
        ck_assert_int_eq(su_send(fd, req, strlen(req)), 0);
        struct http_reply h = su_read_reply(fd, 30);
        ck_assert_int_eq(h.status, 200);
        su_http_free(&h);
    }
    close(fd);
    su_stop(&s, 0);
    su_cleanup(&s);
}
END_TEST

/* Idle sockets from one address do not take the service from the others: past
 * --max-connections-per-ip they are closed as they come. */
START_TEST(connections_per_address)
{
    enum { N = 60, PER_IP = 20 };
    static const char *const args[] = {"--max-connections", "40", "--max-connections-per-ip",
                                       "20", "--threads", "1", NULL};
    struct server s = {0};
    su_start(&s, args);
    int fd[N], closed = 0;
    for (int i = 0; i < N; i++) {
        fd[i] = su_connect(&s, "127.0.0.2");
        ck_assert_int_ge(fd[i], 0);
    }
    for (int t = 0; t < 200 && closed < N - PER_IP; t++) {   /* up to 20 s */
        struct pollfd p[N];
        for (int i = 0; i < N; i++)
            p[i] = (struct pollfd){fd[i], POLLIN, 0};
        poll(p, N, 0);
        closed = 0;
        for (int i = 0; i < N; i++)
            closed += (p[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
        if (closed < N - PER_IP)
            usleep(100000);
    }
    ck_assert_int_eq(closed, N - PER_IP);
    struct http_reply h = su_http(&s, "GET", "/healthz", NULL, 0, NULL);   /* 127.0.0.1 */
    ck_assert_int_eq(h.status, 200);
    su_http_free(&h);
    for (int i = 0; i < N; i++)
        close(fd[i]);
    su_stop(&s, 0);
    su_cleanup(&s);
}
END_TEST

/* The service's neurond_stream_subscribers. */
static long subscribers(const struct server *s)
{
    struct http_reply h = su_http(s, "GET", "/metrics", NULL, 0, NULL);
    const char *p = strstr(h.body, "\nneurond_stream_subscribers ");
    long n = p ? atol(p + 28) : -1;
    su_http_free(&h);
    return n;
}

static int subscribers_become(const struct server *s, long want, int seconds)
{
    long n = -1;
    for (int i = 0; i < seconds * 20 && (n = subscribers(s)) != want; i++)
        usleep(50000);
    return n == want;
}

/* A job that trains until cancelled (new id). */
static char *long_job(const struct server *s)
{
    char *ds = su_dataset(s, 2000, 16, 0), *net = su_network(s, 16, 64), body[256];
    snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\", \"epochs\": 100000, "
             "\"batch_size\": 8}", net, ds);
    char *id = su_post_id(s, "/v1/jobs", body, 202);
    json_decref(su_job_wait(s, id, "running", 60));
    free(ds);
    free(net);
    return id;
}

static void cancel(const struct server *s, const char *id)
{
    char path[96];
    snprintf(path, sizeof path, "/v1/jobs/%s/cancel", id);
    struct http_reply h = su_http(s, "POST", path, NULL, 0, NULL);
    su_http_free(&h);
}

/* Opens a stream of job id from address `from`; its reply's head (the status). */
static struct http_reply stream(const struct server *s, const char *from, const char *id,
                                int ndjson, int *fd)
{
    char req[256];
    snprintf(req, sizeof req, "GET /v1/jobs/%s/%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", id,
             ndjson ? "metrics?follow=true" : "events");
    *fd = su_connect(s, from);
    ck_assert_int_ge(*fd, 0);
    ck_assert_int_eq(su_send(*fd, req, strlen(req)), 0);
    return su_read_reply(*fd, 30);
}

/* Past the cap of streams per client, and per job, a 429 with Retry-After; a stream
 * that ends makes room. */
START_TEST(streams_per_client_and_per_job)
{
    static const char *const args[] = {"--max-streams-per-client", "2", "--max-streams-per-job",
                                       "3", "--heartbeat", "1", "--workers", "1", "--threads",
                                       "1", NULL};
    struct server s = {0};
    su_start(&s, args);
    char *id = long_job(&s);
    int fd[6];
    static const struct {
        const char *from;
        int ndjson;
        long status;
        const char *says;
    } tries[] = {{"127.0.0.1", 0, 200, NULL},
                 {"127.0.0.1", 1, 200, NULL},
                 {"127.0.0.1", 0, 429, "from 127.0.0.1"},
                 {"127.0.0.2", 0, 200, NULL},
                 {"127.0.0.3", 1, 429, "follow job"}};
    for (int i = 0; i < 5; i++) {
        struct http_reply h = stream(&s, tries[i].from, id, tries[i].ndjson, &fd[i]);
        ck_assert_msg(h.status == tries[i].status, "%d: %ld %s", i, h.status, h.body);
        if (h.status == 429) {
            ck_assert_str_eq(h.ctype, "application/problem+json");
            ck_assert_str_eq(h.retry_after, "5");
            ck_assert_msg(strstr(h.body, tries[i].says), "%s", h.body);
        }
        su_http_free(&h);
    }
    ck_assert(subscribers_become(&s, 3, 10));
    close(fd[0]);   /* noticed at the next heartbeat */
    ck_assert(subscribers_become(&s, 2, 30));
    struct http_reply h = stream(&s, "127.0.0.1", id, 0, &fd[5]);
    ck_assert_int_eq(h.status, 200);
    su_http_free(&h);
    for (int i = 1; i < 6; i++)
        close(fd[i]);
    cancel(&s, id);
    free(id);
    su_stop(&s, 0);
    su_cleanup(&s);
}
END_TEST

/* A stream whose client takes nothing ends once --idle-timeout passes without progress:
 * the events of a job that trains fast fill what the sockets hold, then nothing moves. */
START_TEST(a_stream_nobody_reads_ends)
{
    static const char *const args[] = {"--idle-timeout", "3", "--workers", "1", "--threads", "1",
                                       NULL};
    struct server s = {0};
    su_start(&s, args);
    /* epochs of one batch on a network of 41 layers: hundreds a second, of 1.6 kB each */
    char *ds = su_dataset(&s, 30, 4, 1), body[4096];
    char *p = body + sprintf(body, "{\"network\": {\"inputs\": 4, \"layers\": [");
    for (int i = 0; i < 40; i++)
        p += sprintf(p, "{\"type\": \"dense\", \"units\": 4, \"activation\": \"relu\"}, ");
    sprintf(p, "{\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}], \"loss\": "
            "\"categorical_crossentropy\"}, \"dataset\": \"%s\", \"epochs\": 100000, "
            "\"batch_size\": 30}", ds);
    char *id = su_post_id(&s, "/v1/jobs", body, 202);
    json_decref(su_job_wait(&s, id, "running", 60));
    int fd = su_connect(&s, NULL);
    ck_assert_int_ge(fd, 0);
    char req[128];
    snprintf(req, sizeof req, "GET /v1/jobs/%s/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", id);
    ck_assert_int_eq(su_send(fd, req, strlen(req)), 0);
    ck_assert(subscribers_become(&s, 1, 30));   /* then nothing is read */
    ck_assert_msg(subscribers_become(&s, 0, 180), "the stream stays while nobody reads it");
    char path[96];
    snprintf(path, sizeof path, "/v1/jobs/%s", id);
    json_t *j = su_get_json(&s, path);
    ck_assert_str_eq(su_str(j, "state"), "running");   /* the stream did not end with it */
    json_decref(j);
    ck_assert(su_wait_closed(fd, 60));
    close(fd);
    cancel(&s, id);
    free(ds);
    free(id);
    su_stop(&s, 0);
    su_cleanup(&s);
}
END_TEST

/* Requests with a large body run on the pool: while four of them wait for the database
 * (the test holds its write lock), /healthz and /readyz are answered; then the four are. */
START_TEST(probes_answer_while_bodies_wait)
{
    struct server s = {0};
    su_start(&s, one_thread);
    sqlite3 *db = NULL;
    PGconn *pg = NULL;
    if (su_pg()) {   /* a lock that keeps inserts into datasets waiting */
        pg = PQconnectdb(s.db);
        ck_assert_msg(PQstatus(pg) == CONNECTION_OK, "%s", PQerrorMessage(pg));
        PGresult *r = PQexec(pg, "BEGIN; LOCK TABLE datasets IN EXCLUSIVE MODE");
        ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQerrorMessage(pg));
        PQclear(r);
    } else {
        ck_assert_int_eq(sqlite3_open(s.db, &db), SQLITE_OK);
        sqlite3_busy_timeout(db, 10000);   /* the service may be writing as it starts */
        ck_assert_int_eq(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    }
    char *data = su_blobs_json(300, 16, 1);   /* 90 kB: over 64 KiB */
    size_t len = strlen(data);
    ck_assert_uint_ge(len, 64 << 10);
    char *req = malloc(len + 256);
    ck_assert_ptr_nonnull(req);
    int n = sprintf(req, "POST /v1/datasets HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                    "application/json\r\nContent-Length: %zu\r\n\r\n%s", len, data);
    int fd[4];
    for (int i = 0; i < 4; i++) {
        fd[i] = su_connect(&s, NULL);
        ck_assert_int_ge(fd[i], 0);
        ck_assert_int_eq(su_send(fd[i], req, (size_t)n), 0);
    }
    sleep(1);   /* time to reach their handlers, where they wait */
    static const char *const probes[] = {"/healthz", "/readyz"};
    for (int i = 0; i < 2; i++) {
        struct http_reply h = su_http(&s, "GET", probes[i], NULL, 0, NULL);
        ck_assert_msg(h.status == 200, "%s: %ld %s", probes[i], h.status, h.body);
        su_http_free(&h);
    }
    for (int i = 0; i < 4; i++) {   /* still waiting: the probes did not come after them */
        struct pollfd p = {fd[i], POLLIN, 0};
        ck_assert_int_eq(poll(&p, 1, 0), 0);
    }
    if (pg) {
        PQclear(PQexec(pg, "ROLLBACK"));
        PQfinish(pg);
    } else {
        ck_assert_int_eq(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
    }
    for (int i = 0; i < 4; i++) {
        struct http_reply h = su_read_reply(fd[i], 30);
        ck_assert_msg(h.status == 201, "%ld %s", h.status, h.body);
        su_http_free(&h);
        close(fd[i]);
    }
    free(data);
    free(req);
    su_stop(&s, 0);
    su_cleanup(&s);
}
END_TEST

/* A prediction past PREDICT_MAX_ROWS is refused at the row past it: what follows is
 * not read (it is not even JSON). */
START_TEST(predictions_past_the_row_limit)
{
    struct server s = {0};
    su_start(&s, one_thread);
    char *ds = su_dataset(&s, 30, 4, 1), *net = su_network(&s, 4, 8), body[256];
    snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\", \"epochs\": 2}", net,
             ds);
    char *id = su_post_id(&s, "/v1/jobs", body, 202);
    json_t *j = su_job_wait(&s, id, "succeeded", 120);
    char path[96];
    snprintf(path, sizeof path, "/v1/models/%s/predict", su_str(j, "model"));
    size_t n = 100001, len = 0;
    char *big = malloc(n * 10 + 64);
    ck_assert_ptr_nonnull(big);
    len += (size_t)sprintf(big, "{\"instances\": [");
    for (size_t i = 0; i < n; i++)
        len += (size_t)sprintf(big + len, "[1,2,3,4],");
    len += (size_t)sprintf(big + len, "not JSON");
    struct http_reply h = su_http(&s, "POST", path, big, len, J);
    ck_assert_msg(h.status == 413, "%ld %s", h.status, h.body);
    json_t *p = su_http_json(&h);
    ck_assert_str_eq(su_str(json_array_get(json_object_get(p, "errors"), 0), "pointer"),
                     "/instances");
    json_decref(p);
    su_http_free(&h);
    json_decref(j);
    free(big), free(ds), free(net), free(id);
    su_stop(&s, 0);
    su_cleanup(&s);
}
END_TEST

/* VmHWM and VmRSS of a process, in bytes. */
static void rss(pid_t pid, size_t *peak, size_t *now)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "VmHWM:", 6))
            *peak = (size_t)atol(line + 6) << 10;
        if (!strncmp(line, "VmRSS:", 6))
            *now = (size_t)atol(line + 6) << 10;
    }
    fclose(f);
}

static void reset_peak(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/clear_refs", (int)pid);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("5", f);   /* VmHWM starts again from VmRSS */
    fclose(f);
}

/* A JSON body of empty objects, empty arrays, small numbers or reals costs the service
 * under 20 times its size at its peak, and the memory goes back afterwards: within 10%
 * of what the service held before. */
START_TEST(json_memory_is_bounded_and_given_back)
{
    if (SANITIZED)
        return;
    /* one request thread: the bodies (64k and more) are parsed on it, so that its arena,
     * made by the warm-up, is the only one (a second thread's would stay, 2 MB) */
    static const char *const args[] = {"--max-json", "64M", "--threads", "1",
                                       "--request-threads", "1", NULL};
    struct server s = {0};
    su_start(&s, args);
    char *warm = repeat("1.5", 1 << 20);   /* the thread's arena made once */
    for (int i = 0; i < 4; i++) {
        struct http_reply h = su_http(&s, "POST", "/v1/networks", warm, strlen(warm), J);
        su_http_free(&h);
    }
    free(warm);
    /* What a body leaves behind is measured against a margin: a tenth of the process,
     * at least 4 MB (a thread's cache, the allocator's bookkeeping and the page cache of
     * the database move by a megabyte or so whatever the request); and all fifteen
     * bodies together, 105 MB of them, against 8 MB over the first measure. */
    size_t first, ignore;
    rss(s.pid, &ignore, &first);
    static const char *const items[] = {"{}", "[]", "1", "1.5", "[0.25,1.5]"};
    for (size_t i = 0; i < sizeof items / sizeof *items; i++)
        for (size_t mb = 1; mb <= 16; mb *= 4) {
            char *body = repeat(items[i], mb << 20);
            size_t len = strlen(body), peak0, base, peak, after;
            rss(s.pid, &peak0, &base);
            reset_peak(s.pid);
            struct http_reply h = su_http(&s, "POST", "/v1/networks", body, len, J);
            ck_assert_msg(h.status == 413 || h.status == 422, "%ld %s", h.status, h.body);
            su_http_free(&h);
            size_t margin = base / 10 > 4 << 20 ? base / 10 : 4 << 20;
            rss(s.pid, &peak, &after);   /* the reply may come before the memory goes */
            for (int t = 0; t < 100 && after > base + margin; t++) {
                usleep(100000);
                rss(s.pid, &peak, &after);
            }
            ck_assert_msg(peak < base + 20 * len, "%s, %zu MiB: peak %zu MB over %zu MB", items[i],
                          mb, (peak - base) >> 20, base >> 20);
            ck_assert_msg(after <= base + margin, "%s, %zu MiB: %zu MB after, %zu MB before",
                          items[i], mb, after >> 20, base >> 20);
            free(body);
        }
    size_t peak, last;
    rss(s.pid, &peak, &last);
    ck_assert_msg(last <= first + (8 << 20), "%zu MB after every body, %zu MB before",
                  last >> 20, first >> 20);
    su_stop(&s, 0);
    su_cleanup(&s);
}
END_TEST

/* The value of one series in Prometheus text, -1 when it is absent. */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (!strncmp(p, series, n) && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return -1;
}

/* A request whose path is a route is counted under it, with its own method, whatever
 * its answer (405, 400, a HEAD); "unmatched" is only for paths that are no route. */
START_TEST(metrics_name_the_route_and_method)
{
    struct server s = {0};
    su_start(&s, one_thread);
    struct { const char *method, *path; long status; } reqs[] = {
        {"PUT", "/v1/datasets", 405}, {"DELETE", "/v1/jobs", 405}, {"BREW", "/healthz", 405},
        {"HEAD", "/healthz", 200}, {"GET", "/v1/jobs?stat=running", 400},
        {"GET", "/nope", 404}, {"POST", "/nope", 404}};
    for (size_t i = 0; i < sizeof reqs / sizeof *reqs; i++) {
        struct http_reply h = su_http(&s, reqs[i].method, reqs[i].path, NULL, 0, NULL);
        ck_assert_msg(h.status == reqs[i].status, "%s %s: %ld", reqs[i].method, reqs[i].path,
                      h.status);
        su_http_free(&h);
    }
    struct http_reply h = su_http(&s, "GET", "/metrics", NULL, 0, NULL);
    ck_assert_int_eq(h.status, 200);
    static const char *const want[] = {
        "{route=\"/v1/datasets\",method=\"PUT\",status=\"405\"}",
        "{route=\"/v1/jobs\",method=\"DELETE\",status=\"405\"}",
        "{route=\"/healthz\",method=\"other\",status=\"405\"}",
        "{route=\"/healthz\",method=\"HEAD\",status=\"200\"}",
        "{route=\"/v1/jobs\",method=\"GET\",status=\"400\"}",
        "{route=\"unmatched\",method=\"GET\",status=\"404\"}",
        "{route=\"unmatched\",method=\"POST\",status=\"404\"}"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        char series[160];
        snprintf(series, sizeof series, "neurond_http_requests_total%s", want[i]);
        ck_assert_msg(sample(h.body, series) == 1, "%s: %g in\n%s", series,
                      sample(h.body, series), h.body);
    }
    ck_assert_msg(!strstr(h.body, "method=\"other\",status=\"404\"") &&
                  !strstr(h.body, "route=\"unmatched\",method=\"PUT\""), "%s", h.body);
    su_http_free(&h);
    su_stop(&s, 0);
    su_cleanup(&s);
}
END_TEST

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    Suite *s = suite_create("http");
    TCase *json = tcase_create("json");
    tcase_set_timeout(json, 120);
    tcase_add_test(json, json_cost_holds_jansson);
    tcase_add_test(json, json_load_bounds_memory);
    suite_add_tcase(s, json);
    TCase *wire = tcase_create("wire");
    tcase_set_timeout(wire, 600);
    tcase_add_test(wire, hidden_requests_never_run);
    tcase_add_test(wire, bodies_over_the_limit_are_not_read);
    tcase_add_test(wire, absolute_form_targets);
    tcase_add_test(wire, deadlines_for_headers_and_bodies);
    tcase_add_test(wire, connections_per_address);
    tcase_add_test(wire, streams_per_client_and_per_job);
    tcase_add_test(wire, a_stream_nobody_reads_ends);
    tcase_add_test(wire, probes_answer_while_bodies_wait);
    tcase_add_test(wire, predictions_past_the_row_limit);
    tcase_add_test(wire, json_memory_is_bounded_and_given_back);
    tcase_add_test(wire, metrics_name_the_route_and_method);
    suite_add_tcase(s, wire);
    return tu_run(s) != 0;
}
