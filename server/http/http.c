/* http.c -- all of the libmicrohttpd plumbing: the request's framing and target
 * checked, routing by the table http_start is given, body accumulation under a size
 * limit (or streaming to a route that asks for it), JSON parsed once under a memory
 * bound, 400/404/405/413/415/421/501 answered here, handlers of requests with a large
 * body run on a pool of their own, replies sent with their headers; deadlines for
 * headers and bodies; memory given back after large requests; and the query parameters
 * every route reads alike. Handlers see struct req and struct reply only.
 *
 * DESIGN. libmicrohttpd (0.9.75) parses the request line and headers and calls
 * on_request once with them, then once per piece of the body, then once more. What it
 * lets through that would let two parties read one request differently -- two
 * Content-Lengths, a Content-Length with a Transfer-Encoding, a coding other than
 * chunked, a header name with white space, no Host or two -- is refused on that first
 * call, from every occurrence of every header. A reply queued on the first call is sent
 * at once: libmicrohttpd then reads no body, sends no 100 Continue and closes the
 * connection after it; every refusal of a request that announces a body is sent so. A
 * chunked body that grows past its limit cannot be answered any more (the library takes
 * a reply only on the first call or after the whole body): its connection is closed.
 *
 * Deadlines: libmicrohttpd knows only an idle timeout, which a client sending a byte
 * now and then never meets. Each connection is known from its opening to its closing
 * (struct sock); the reaper thread shuts down the socket of one whose request has not
 * brought its headers within --header-timeout of the connection's opening or of its
 * previous reply, or its body within --body-timeout (plus a second per --body-min-rate
 * bytes). libmicrohttpd then sees the socket end and closes the connection itself; a
 * sock leaves the list, under the lock, before its socket is closed.
 *
 * Lingering close (RFC 9112, 9.6): a refusal sent before the body it announced was read
 * would be lost to most clients if the socket were closed at once -- the kernel answers
 * the body still arriving with a reset, and a client that sends its whole body before
 * reading (Python's, unlike curl with Expect: 100-continue) sees the reset, not the
 * answer. libmicrohttpd closes it so; when it tells the socket is closing, a copy of it
 * (dup) is kept instead and the reaper reads and drops what comes until the client
 * closes, for at most LINGER_SECONDS, or LINGER_IDLE without a byte; at most LINGER_MAX
 * at once (past it, closed at once as before).
 *
 * The pool: when a large body (POOL_FROM) or a CSV upload has arrived, its connection
 * is paused and the request handed to a thread of the pool, which parses it, runs the
 * handler and wakes the connection; libmicrohttpd calls on_request again and the reply
 * is sent. The HTTP threads thus move bytes and run only short handlers: those of
 * requests without a body (the probes, reads, lists) or with a small one (a prediction
 * of a few rows, for which the hand-over would cost more than the work).
 *
 * Answering later: a handler run on an HTTP thread may return HTTP_LATER (a prediction
 * whose rows wait for a batch, domain/batch.c), its connection paused or not. A paused
 * one is called again (on_request) once woken; one not paused, on the thread's next
 * turn: libmicrohttpd calls on_request again for a request that has no reply yet, after
 * the thread's next wait for sockets, which does not block while such a request is
 * there. Either way on_request then calls the request's later to make the reply. The
 * pool's handlers never answer later: they answer before the pool wakes their connection.
 *
 * Who may ask, and the access log, are guard.c's and log.c's (guard.h). */
#include "http.h"

#include "format/format.h"
#include "guard.h"
#include "ops/ops.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TRIM_AFTER (256u << 10)      /* a request that held this much gives memory back */
#define POOL_FROM (64u << 10)        /* a body this large has its handler run on the pool */

/* A connection, from its opening to its closing. */
struct sock {
    struct sock *next, *prev;
    int fd;
    _Atomic double deadline;   /* clock_s() by which the headers or the body must be in;
                                  0: none (the reply is being made or sent) */
    int cut;                   /* shut down by the reaper */
    int linger;                /* a refusal left the body unread: drain it when closing */
    char peer[INET6_ADDRSTRLEN];
};

#define LINGER_MAX 64
#define LINGER_SECONDS 30.0
#define LINGER_IDLE 5.0

/* A socket drained after its connection was closed. */
struct drained {
    int fd;                    /* a copy (dup) of the connection's socket */
    double until, idle_until;  /* clock_s() */
};

struct http {
    struct MHD_Daemon *d;
    struct app *app;
    const struct route *routes;
    int nroutes;
    /* the connections, and the reaper that enforces their deadlines and drains */
    pthread_mutex_t lock;
    struct sock *socks;
    struct drained lingers[LINGER_MAX];
    int nlingers;
    int wake[2];               /* a pipe: wakes the reaper (to stop, or a new linger) */
    int stopping;
    pthread_t reaper;
    int reaping;
    /* the pool that runs the handlers of requests with a large body */
    pthread_mutex_t plock;
    pthread_cond_t work;
    struct conn *head, *tail;  /* requests waiting for a thread */
    int pool_stopping;
    pthread_t *pool;
    int npool;
    struct guard *guard;       /* who may ask (guard.c) */
    atomic_int later;          /* requests answered later (HTTP_LATER) not yet completed */
};

/* One request in flight. */
struct conn {
    const struct http *h;
    const struct route *route;
    struct MHD_Connection *mc;
    struct sock *sock;         /* its connection (NULL when the library gave none) */
    struct req req;
    char path[512];
    char host[256];            /* an absolute-form target's host (req.host) */
    char params[MAX_PARAMS][128];
    char ctype[128];
    char *buf;                 /* the body so far (unstreamed routes) */
    size_t len, cap, limit;
    void *sctx;                /* the stream's context (streamed routes) */
    int begun;                 /* on_request has seen the headers */
    int has_body;              /* a Content-Length over 0, or chunked */
    int nul_path;              /* the path decodes to a NUL byte */
    int streaming;
    int failed;                /* the reply is decided; the rest of the body is dropped */
    int ran;                   /* the handler ran (finish) */
    int waiting;               /* its handler answers later (HTTP_LATER) */
    int later;                 /* ... and counted in the daemon's `later` */
    struct reply reply;
    double t0;                 /* arrival, for the latency histogram */
    double body_t0;            /* when the headers were in */
    struct conn *next;         /* in the pool's queue */
    struct who who;            /* who asked, the request's id, what it cost (guard.h) */
};

const char *req_query(const struct req *r, const char *key)
{
    if (!r->conn) {
        for (const char *const *kv = r->kv; kv && kv[0]; kv += 2)
            if (strcmp(kv[0], key) == 0)
                return kv[1];
        return NULL;
    }
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *req_header(const struct req *r, const char *key)
{
    return r->conn ? MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, key) : NULL;
}

int req_limit(const struct req *r, struct reply *out, int max, int *limit)
{
    const char *s = req_query(r, "limit");
    *limit = 50;
    if (!s)
        return 0;
    size_t n = strlen(s), z = strspn(s, "0");   /* leading zeros do not count */
    size_t d = strspn(s, "0123456789");         /* then ".0", ".00": a whole number too */
    if (d > 0 && d < n && s[d] == '.' && strspn(s + d + 1, "0") == n - d - 1)
        n = d;
    if (z > n)
        z = n;
    long v = 0;
    int ok = n > 0 && strspn(s, "0123456789") >= n && n - z <= 9;
    for (size_t i = z; ok && i < n; i++)
        v = v * 10 + (s[i] - '0');
    if (!ok || v < 1 || v > max) {
        reply_param(out, 400, "limit", "?limit=%.40s%s: give a whole number from 1 to %d", s,
                    strlen(s) > 40 ? "..." : "", max);
        return -1;
    }
    *limit = (int)v;
    return 0;
}

int req_bool_value(const char *s)
{
    if (!*s || !strcmp(s, "true") || !strcmp(s, "1") || !strcmp(s, "yes"))
        return 1;
    if (!strcmp(s, "false") || !strcmp(s, "0") || !strcmp(s, "no"))
        return 0;
    return -1;
}

int req_bool(const struct req *r, struct reply *out, const char *key, int def, int *v)
{
    const char *s = req_query(r, key);
    int b = s ? req_bool_value(s) : def;
    if (b >= 0) {
        *v = b;
        return 0;
    }
    char e[80];
    reply_param(out, 400, key, "%s must be true or false, not \"%s\"", key,
                text_echo(e, sizeof e, s, strlen(s), 64));
    return -1;
}

/* Does path match pattern? Fills the :params. A pattern's segment ":name" takes a whole
 * segment; ":name:verb" takes a segment that ends in ":verb" (TF Serving's
 * /v1/models/{name}:predict), name being what comes before it, never empty. */
static int match(const char *pattern, const char *path, struct conn *c)
{
    int n = 0;
    const char *p = pattern, *s = path;
    while (*p && *s) {
        if (*p != '/' || *s != '/')
            return 0;
        p++, s++;
        const char *pe = strchr(p, '/'), *se = strchr(s, '/');
        size_t pl = pe ? (size_t)(pe - p) : strlen(p), sl = se ? (size_t)(se - s) : strlen(s);
        if (*p == ':') {
            const char *verb = memchr(p + 1, ':', pl - 1);   /* ":name:verb" */
            size_t vl = verb ? pl - (size_t)(verb - p) : 0;
            if (verb && (sl <= vl || memcmp(s + sl - vl, verb, vl) != 0))
                return 0;
            sl -= vl;
            if (sl == 0 || sl >= sizeof c->params[0] || n == MAX_PARAMS)
                return 0;
            memcpy(c->params[n], s, sl);
            c->params[n++][sl] = 0;
            sl += vl;
        } else if (pl != sl || memcmp(p, s, sl) != 0) {
            return 0;
        }
        p += pl, s += sl;
    }
    if (*p || *s)
        return 0;
    c->req.nparam = n;
    for (int i = 0; i < n; i++)
        c->req.param[i] = c->params[i];
    return 1;
}

/* Finds the route; on no match fills the reply with 404 or 405 (with Allow). */
static const struct route *route_for(struct conn *c, const char *method, const char *path)
{
    char allow[64] = "";
    const struct route *routes = c->h->routes;
    for (int i = 0; i < c->h->nroutes; i++) {
        if (!match(routes[i].pattern, path, c))
            continue;
        if (strcmp(routes[i].method, method) == 0 ||
            (strcmp(method, "HEAD") == 0 && strcmp(routes[i].method, "GET") == 0))
            return &routes[i];   /* HEAD is GET; libmicrohttpd leaves the body out */
        if (!strstr(allow, routes[i].method) && strlen(allow) + strlen(routes[i].method) + 3 <
                                                    sizeof allow)
            snprintf(allow + strlen(allow), sizeof allow - strlen(allow), "%s%s",
                     *allow ? ", " : "", routes[i].method);
    }
    if (*allow) {
        reply_problem(&c->reply, 405, NULL, "%s is not allowed on %s; allowed: %s", method,
                      path, allow);
        snprintf(c->reply.allow, sizeof c->reply.allow, "%s", allow);
    } else {
        reply_problem(&c->reply, 404, NULL, "no such resource: %s", path);
    }
    return NULL;
}

static int accepts(const struct route *rt, const char *ctype)
{
    if (rt->stream && rt->stream_type && strcmp(ctype, rt->stream_type) == 0)
        return 1;
    if (strcmp(ctype, "application/json") == 0)
        return 1;
    return rt->stream_type && strcmp(ctype, rt->stream_type) == 0;
}

/* A streamed body, as libmicrohttpd calls for it. */
struct body {
    ssize_t (*read)(void *ctx, char *buf, size_t max);
    void (*release)(void *ctx);
    void *ctx;
};

static ssize_t body_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct body *b = cls;
    ssize_t n = b->read(b->ctx, buf, max);
    return n < 0 ? MHD_CONTENT_READER_END_OF_STREAM : n;
}

static void body_free(void *cls)
{
    struct body *b = cls;
    b->release(b->ctx);
    free(b);
}

/* A stream keeps the idle timeout (--idle-timeout): a paused stream does not count it
 * (libmicrohttpd restarts it on a wake), so it only ends one whose client takes no
 * bytes. */
static struct MHD_Response *streamed(struct reply *rp)
{
    struct body *b = malloc(sizeof *b);
    struct MHD_Response *res = NULL;
    if (b) {
        *b = (struct body){rp->read, rp->release, rp->ctx};
        res = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, body_read, b,
                                                body_free);
    }
    if (!res) {
        free(b);
        rp->release(rp->ctx);
    }
    rp->read = NULL;
    if (res) {
        MHD_add_response_header(res, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
        MHD_add_response_header(res, "X-Accel-Buffering", "no");
    }
    return res;
}

void http_pause(void *conn) { MHD_suspend_connection(conn); }
void http_wake(void *conn) { MHD_resume_connection(conn); }

int http_peer_gone(void *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return 1;
    char c;
    ssize_t n = recv(ci->connect_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static enum MHD_Result send_reply(struct MHD_Connection *mc, struct conn *c)
{
    struct reply *rp = &c->reply;
    struct MHD_Response *res;
    log_reply(&c->who, rp);
    if (rp->read)
        res = streamed(rp);
    else
        res = MHD_create_response_from_buffer(rp->len, rp->body ? rp->body : (void *)"",
                                              rp->body ? MHD_RESPMEM_MUST_FREE
                                                       : MHD_RESPMEM_PERSISTENT);
    rp->body = NULL;
    if (!res)
        return MHD_NO;
    if (rp->content_type)
        MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE, rp->content_type);
    if (*rp->location)
        MHD_add_response_header(res, MHD_HTTP_HEADER_LOCATION, rp->location);
    if (*rp->allow)
        MHD_add_response_header(res, MHD_HTTP_HEADER_ALLOW, rp->allow);
    if (*rp->disposition)
        MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_DISPOSITION, rp->disposition);
    if (rp->retry_after > 0) {
        char s[16];
        snprintf(s, sizeof s, "%d", rp->retry_after);
        MHD_add_response_header(res, MHD_HTTP_HEADER_RETRY_AFTER, s);
    }
    guard_headers(c->h->guard, &c->who, rp, res);
    enum MHD_Result ok = MHD_queue_response(mc, rp->status, res);
    MHD_destroy_response(res);
    return ok;
}

/* ---- the request's framing and target ---- */

/* What the headers say of the framing, every occurrence counted. */
struct framing {
    int hosts, lengths, codings;
    const char *length;        /* the first Content-Length */
    int lengths_differ;
    const char *coding;        /* the first Transfer-Encoding */
    char bad_name[64];         /* a header name that is not a token, echoed */
};

/* RFC 9110's token: the characters of a header's name. */
static int is_token(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!ch || !(isalnum(ch) || strchr("!#$%&'*+-.^_`|~", ch)))
            return 0;
    }
    return n > 0;
}

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    size_t key_size, const char *value, size_t value_size)
{
    (void)kind, (void)value_size;
    struct framing *f = cls;
    if (!is_token(key, key_size) && !*f->bad_name)
        text_echo(f->bad_name, sizeof f->bad_name, key, key_size, 40);
    if (key_size == 4 && !strncasecmp(key, "Host", 4))
        f->hosts++;
    if (key_size == 14 && !strncasecmp(key, "Content-Length", 14)) {
        if (f->lengths++ == 0)
            f->length = value;
        else if (strcmp(f->length, value ? value : "") != 0)
            f->lengths_differ = 1;
    }
    if (key_size == 17 && !strncasecmp(key, "Transfer-Encoding", 17) && f->codings++ == 0)
        f->coding = value ? value : "";
    return MHD_YES;
}

/* The framing of the request: 0 when it can be read one way only, else -1 with the reply
 * filled (400, or 501 for a transfer coding other than chunked). */
static int framing_ok(struct conn *c, struct MHD_Connection *mc, const char *version)
{
    struct framing f = {0};
    MHD_get_connection_values_n(mc, MHD_HEADER_KIND, count_header, &f);
    struct reply *out = &c->reply;
    char e[80];
    if (*f.bad_name)
        return reply_problem(out, 400, NULL, "the header name '%s' is not a token (white "
                             "space before its colon?)", f.bad_name), -1;
    if (f.hosts > 1)
        return reply_problem(out, 400, NULL, "%d Host headers; send one", f.hosts), -1;
    if (f.hosts == 0 && strcmp(version, MHD_HTTP_VERSION_1_0) != 0 && *version)
        return reply_problem(out, 400, NULL, "an %s request needs a Host header", version), -1;
    if (f.lengths_differ)
        return reply_problem(out, 400, NULL, "Content-Length headers with different values; "
                             "send one"), -1;
    if (f.codings > 1)
        return reply_problem(out, 400, NULL, "%d Transfer-Encoding headers; send one, "
                             "chunked", f.codings), -1;
    if (f.codings && f.lengths)
        return reply_problem(out, 400, NULL, "both Content-Length and Transfer-Encoding; "
                             "send one of them"), -1;
    if (f.codings) {   /* a list of codings: only chunked, once, is understood */
        const char *p = f.coding;
        int chunked = 0;
        while (*p) {
            p += strspn(p, " \t,");
            size_t n = strcspn(p, " \t,;");
            if (!n)
                break;
            if (n != 7 || strncasecmp(p, "chunked", 7) != 0)
                return reply_problem(out, 501, NULL, "the transfer coding '%s' is not "
                                     "supported; send the body chunked or with a "
                                     "Content-Length", text_echo(e, sizeof e, p, n, 40)), -1;
            chunked++;
            p += n;
            p += strcspn(p, ",");   /* parameters of a coding */
        }
        if (chunked != 1)
            return reply_problem(out, 400, NULL, "Transfer-Encoding '%s': send chunked, "
                                 "once", text_echo(e, sizeof e, f.coding, strlen(f.coding),
                                                   40)), -1;
    }
    c->has_body = f.codings || (f.length && strtoull(f.length, NULL, 10) > 0);
    return 0;
}

/* Does s[0, n), as libmicrohttpd decodes it ('%' and two hex digits), hold a NUL? */
static int decodes_nul(const char *s, size_t n)
{
    for (size_t i = 0; i + 2 < n; i++)
        if (s[i] == '%' && isxdigit((unsigned char)s[i + 1]) &&
            isxdigit((unsigned char)s[i + 2])) {
            if (s[i + 1] == '0' && s[i + 2] == '0')
                return 1;
            i += 2;
        }
    return 0;
}

static enum MHD_Result find_nul(void *cls, enum MHD_ValueKind kind, const char *key,
                                size_t key_size, const char *value, size_t value_size)
{
    (void)kind;
    char *name = cls;
    if (strlen(key) != key_size || (value && strlen(value) != value_size)) {
        text_echo(name, 64, key, strlen(key), 40);
        return MHD_NO;
    }
    return MHD_YES;
}

/* Is key[0..n) one of the space-separated names of list? */
static int listed(const char *list, const char *key, size_t n)
{
    for (const char *p = list; p && *p;) {
        size_t w = strcspn(p, " ");
        if (w == n && memcmp(p, key, n) == 0)
            return 1;
        p += w + strspn(p + w, " ");
    }
    return 0;
}

/* The first query parameter that the route does not take, for the glue's 400. */
struct unknown_query {
    const char *list;          /* the route's names */
    char name[80];             /* the first unknown one, quoted safely; "" when none */
};

static enum MHD_Result find_unknown(void *cls, enum MHD_ValueKind kind, const char *key,
                                    size_t key_size, const char *value, size_t value_size)
{
    (void)kind, (void)value, (void)value_size;
    struct unknown_query *u = cls;
    if (listed(u->list, key, key_size))
        return MHD_YES;
    text_echo(u->name, sizeof u->name, key, key_size, 40);
    return MHD_NO;
}

/* The query parameters against those the route takes (its row's query). 0, or -1 with a
 * 400 naming the first parameter that it does not take and the ones it does. */
static int query_ok(struct conn *c, struct MHD_Connection *mc, const struct route *rt)
{
    if (rt->query && strcmp(rt->query, "*") == 0)
        return 0;
    struct unknown_query u = {rt->query, ""};
    MHD_get_connection_values_n(mc, MHD_GET_ARGUMENT_KIND, find_unknown, &u);
    if (!*u.name)
        return 0;
    char known[160] = "";
    for (const char *p = rt->query; p && *p;) {   /* "limit, after, state" */
        size_t w = strcspn(p, " "), len = strlen(known);
        snprintf(known + len, sizeof known - len, "%s%.*s", len ? ", " : "", (int)w, p);
        p += w + strspn(p + w, " ");
    }
    if (!strcmp(u.name, "access_token") || !strcmp(u.name, "token"))
        return reply_param(&c->reply, 400, u.name, "unknown query parameter ?%s: a token "
                           "goes in the header Authorization: Bearer, never in a URL",
                           u.name), -1;
    if (!*known)
        return reply_param(&c->reply, 400, u.name, "unknown query parameter ?%s: %s %s "
                           "takes none", u.name, rt->method, rt->pattern), -1;
    return reply_param(&c->reply, 400, u.name, "unknown query parameter ?%s: %s %s takes %s",
                       u.name, rt->method, rt->pattern, known), -1;
}

/* The target: no NUL in its path or parameters, and an absolute-form target
 * ("http://host/path") taken as its path. 0, or -1 with the reply filled. */
static int target_ok(struct conn *c, struct MHD_Connection *mc)
{
    char name[64] = "";
    if (c->nul_path)
        return reply_problem(&c->reply, 400, NULL, "the path holds %%00, a NUL byte"), -1;
    MHD_get_connection_values_n(mc, MHD_GET_ARGUMENT_KIND, find_nul, name);
    if (*name)
        return reply_param(&c->reply, 400, name, "?%s holds %%00, a NUL byte", name), -1;
    char *p = c->path;
    if (*p == '/')
        return 0;
    size_t scheme = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                              "0123456789+-.");
    if (scheme == 0 || !isalpha((unsigned char)*p) || strncmp(p + scheme, "://", 3) != 0)
        return 0;   /* not a URI: no route has it (404) */
    if (scheme != 4 || strncasecmp(p, "http", 4) != 0) {
        char e[40];
        return reply_problem(&c->reply, 421, NULL, "this service answers http, not %s",
                             text_echo(e, sizeof e, p, scheme, 16)), -1;
    }
    const char *authority = p + scheme + 3, *rest = strchr(authority, '/');
    size_t an = rest ? (size_t)(rest - authority) : strlen(authority);
    snprintf(c->host, sizeof c->host, "%.*s", (int)(an < sizeof c->host ? an : 0), authority);
    c->req.host = c->host;
    memmove(p, rest ? rest : "/", strlen(rest ? rest : "/") + 1);
    return 0;
}

/* ---- a request's life ---- */

/* Sets the deadline of c's connection: `seconds` from now, or none (0). */
static void deadline(struct conn *c, double seconds)
{
    if (c->sock)
        atomic_store(&c->sock->deadline, seconds > 0 ? clock_s() + seconds : 0);
}

/* The first call for a request: its framing and target, its route, type and size; a
 * stream started. Returns 0, or -1 when the reply (c->reply) must be sent at once: a
 * framing fault, or a refusal of a request that announces a body. A refusal of a
 * request without one is answered after it (c->failed), keeping the connection. */
static int begin(struct conn *c, struct MHD_Connection *mc, const char *method,
                 const char *version)
{
    const struct config *cfg = &c->req.app->cfg;
    guard_begin(&c->who, &c->req, &c->reply, method);
    if (framing_ok(c, mc, version) < 0 || target_ok(c, mc) < 0)
        return c->failed = 1, -1;
    size_t n = strlen(c->path);   /* one trailing slash is forgiven */
    if (n > 1 && c->path[n - 1] == '/')
        c->path[n - 1] = 0;
    const struct route *rt = c->route = route_for(c, method, c->path);
    if (guard_check(c->h->guard, &c->who, &c->req, rt, &c->reply) < 0 || !rt ||
        query_ok(c, mc, rt) < 0)
        return c->failed = 1, c->has_body ? -1 : 0;
    c->req.method = rt->method;
    const char *ct = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Content-Type");
    size_t i = 0;
    for (; ct && ct[i] && ct[i] != ';' && ct[i] != ' ' && i + 1 < sizeof c->ctype; i++)
        c->ctype[i] = (char)(ct[i] >= 'A' && ct[i] <= 'Z' ? ct[i] + 32 : ct[i]);
    c->ctype[i] = 0;
    c->req.content_type = c->ctype;
    if (c->has_body && !accepts(rt, c->ctype)) {
        reply_problem(&c->reply, 415, NULL, "%s %s takes application/json%s%s, not %s",
                      rt->method, rt->pattern, rt->stream_type ? " or " : "",
                      rt->stream_type ? rt->stream_type : "", *c->ctype ? c->ctype : "no type");
        return c->failed = 1, -1;
    }
    c->streaming = rt->stream && rt->stream_type && strcmp(c->ctype, rt->stream_type) == 0;
    c->limit = c->streaming                               ? cfg->max_upload
               : strcmp(c->ctype, "application/json") == 0 ? cfg->max_json
                                                           : cfg->max_body;
    const char *cl = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Content-Length");
    unsigned long long declared = cl ? strtoull(cl, NULL, 10) : 0;
    if (declared > c->limit) {
        reply_problem(&c->reply, 413, NULL, "the body is %llu bytes, over the limit of %zu",
                      declared, c->limit);
        return c->failed = 1, -1;
    }
    if (!c->streaming && declared > 0 && !(c->buf = malloc(declared + 1))) {
        reply_problem(&c->reply, 413, NULL, "the body is too large to hold now");
        return c->failed = 1, -1;
    }
    c->cap = c->buf ? declared + 1 : 0;
    if (c->streaming && !(c->sctx = rt->stream->begin(&c->req, &c->reply)))
        return c->failed = 1, c->has_body ? -1 : 0;
    if (c->has_body) {
        c->body_t0 = clock_s();
        deadline(c, cfg->body_timeout);
    }
    return 0;
}

/* Adds a piece of the body. -1 when the connection must close: a chunked body past its
 * limit, which can no longer be answered. */
static int take(struct conn *c, const char *data, size_t size)
{
    if (c->len + size > c->limit)
        return -1;
    const struct config *cfg = &c->req.app->cfg;
    if (c->sock)   /* the deadline moves on with the bytes that came */
        atomic_store(&c->sock->deadline, c->body_t0 + cfg->body_timeout +
                                             (double)(c->len + size) / cfg->body_min_rate);
    if (c->failed) {   /* the reply is decided: the rest is counted and dropped */
        c->len += size;
        return 0;
    }
    if (c->streaming) {
        c->len += size;
        if (c->route->stream->chunk(c->sctx, data, size, &c->reply) < 0)
            c->failed = 1;
        return 0;
    }
    if (c->len + size + 1 > c->cap) {
        size_t cap = c->cap ? c->cap : 4096;
        while (cap < c->len + size + 1)
            cap *= 2;
        char *b = realloc(c->buf, cap);
        if (!b) {
            reply_problem(&c->reply, 413, NULL, "the body is too large to hold now");
            c->failed = 1;
            return 0;
        }
        c->buf = b;
        c->cap = cap;
    }
    memcpy(c->buf + c->len, data, size);
    c->len += size;
    c->buf[c->len] = 0;
    return 0;
}

/* ---- JSON ---- */

/* What jansson (2.14, 64-bit glibc) allocates for the values of a document, from the
 * sizes of its structures; each allocation of n bytes takes a chunk of n + 8 rounded up
 * to 16, at least 32. An array is its struct (40 bytes) and a table of 8 slots that
 * doubles when full; an object its struct (72) and 8 buckets of 16 bytes that double
 * when it holds as many members; a member a pair of 56 bytes and its key; a string its
 * struct (32) and its text; a number 24 bytes; true, false and null nothing. A table
 * that grows is copied: the old one is alive meanwhile. tests/test_http.c holds these
 * against jansson's allocations. */
#define JSON_DEPTH 2048              /* jansson's own limit on nesting */

static size_t chunk(size_t n)
{
    size_t c = (n + 8 + 15) & ~(size_t)15;
    return c < 32 ? 32 : c;
}

/* The table of a container holding k values: 8 slots, doubled as often as needed. */
static size_t slots(size_t k)
{
    size_t cap = 8;
    while (cap < k)
        cap *= 2;
    return cap;
}

size_t json_cost(const char *s, size_t n)
{
    struct open {
        size_t k;              /* values (members) so far */
        int object;
    } stack[JSON_DEPTH];
    size_t cost = 0, grown = 0;   /* the largest table left behind while growing */
    int depth = 0;
    for (size_t i = 0; i <= n; i++) {
        char ch = i < n ? s[i] : 0;
        if (ch == '}' || ch == ']' || (i == n && depth > 0)) {
            if (depth == 0)
                continue;
            struct open *o = &stack[--depth];   /* closed: its table as it grew */
            size_t cap = slots(o->k), unit = o->object ? 16 : 8;
            cost += chunk(unit * cap) - chunk(unit * 8);
            if (cap > 8 && unit * cap / 2 > grown)
                grown = unit * cap / 2;
            if (i == n)
                i--;   /* close the next one too */
            continue;
        }
        int value = 0;
        if ((ch == '{' || ch == '[') && depth == JSON_DEPTH)
            break;   /* jansson stops here: nothing deeper is built */
        if (ch == '{' || ch == '[') {
            cost += ch == '{' ? chunk(72) + chunk(16 * 8) : chunk(40) + chunk(8 * 8);
            value = 1;
        } else if (ch == '"') {
            size_t j = i + 1;
            while (j < n && s[j] != '"')
                j += s[j] == '\\' ? 2 : 1;
            size_t len = (j < n ? j : n) - i - 1, k = j + 1;
            while (k < n && (s[k] == ' ' || s[k] == '\t' || s[k] == '\n' || s[k] == '\r'))
                k++;
            if (k < n && s[k] == ':' && depth > 0 && stack[depth - 1].object) {
                cost += chunk(56 + len + 1);   /* a member: its pair and key */
                stack[depth - 1].k++;
            } else {
                cost += chunk(32) + chunk(len + 1);
                value = 1;
            }
            i = j;
        } else if (ch == 't' || ch == 'f' || ch == 'n') {
            while (i + 1 < n && s[i + 1] >= 'a' && s[i + 1] <= 'z')
                i++;
            value = 1;
        } else if (ch == '-' || (ch >= '0' && ch <= '9')) {
            while (i + 1 < n && s[i + 1] && strchr("0123456789.eE+-", s[i + 1]))
                i++;
            cost += chunk(24);
            value = 1;
        }
        if (value && depth > 0 && !stack[depth - 1].object)
            stack[depth - 1].k++;
        if (ch == '{' || ch == '[')
            stack[depth++] = (struct open){0, ch == '{'};
    }
    return cost + grown;
}

json_t *req_json_load(const char *body, size_t len, size_t flags, struct reply *out)
{
    size_t cost = json_cost(body, len);
    if (cost > JSON_COST_FLOOR && cost / JSON_COST_FACTOR > len) {
        reply_problem(out, 413, NULL, "the JSON body holds too many values for its %zu "
                      "bytes: they would take about %zu MB to hold, over %d times its "
                      "size (send a large dataset as text/csv)", len, cost >> 20,
                      JSON_COST_FACTOR);
        return NULL;
    }
    json_error_t e;
    json_t *v = json_loadb(body, len, flags | JSON_REJECT_DUPLICATES, &e);
    if (!v && json_error_code(&e) == json_error_out_of_memory)
        reply_problem(out, 413, NULL, "the JSON body is too large to hold now");
    else if (!v)
        reply_problem(out, 400, NULL, "malformed JSON at line %d, column %d: %s", e.line,
                      e.column, e.text);
    return v;
}

/* The whole body is in: run the handler. Returns HTTP_LATER when it answers later, else
 * 0. */
static int finish(struct conn *c)
{
    struct req *r = &c->req;
    if (c->streaming) {
        void *ctx = c->sctx;
        c->sctx = NULL;
        if (c->route->stream->end(ctx, r, &c->reply) < 0 && !c->reply.status)
            reply_problem(&c->reply, 500, NULL, "the request failed inside the service");
        return 0;
    }
    r->body = c->buf ? c->buf : "";
    r->len = c->len;
    json_t *parsed = NULL;
    if (c->len > 0 && strcmp(c->ctype, "application/json") == 0 && !c->route->raw &&
        !(parsed = req_json_load(c->buf, c->len, 0, &c->reply)))
        return 0;
    r->json = parsed;
    int rc = c->route->fn(r, &c->reply);
    if (rc < 0 && !c->reply.status)
        reply_problem(&c->reply, 500, NULL, "the request failed inside the service");
    json_decref(parsed);
    r->json = NULL;
    return rc == HTTP_LATER && r->later_ok ? HTTP_LATER : 0;
}

/* A handler that answered later is woken, or its turn came: its reply is made now. */
static void finish_later(struct conn *c)
{
    struct req *r = &c->req;
    if (r->later(r, &c->reply) < 0 && !c->reply.status)
        reply_problem(&c->reply, 500, NULL, "the request failed inside the service");
    if (r->later_free)
        r->later_free(r->later_ctx);
    r->later_free = NULL;
}

/* ---- the pool ---- */

/* Hands c to the pool, its connection paused; 0 when the pool is stopping (the caller
 * runs it). */
static int pool_take(struct http *h, struct conn *c)
{
    pthread_mutex_lock(&h->plock);
    int taken = !h->pool_stopping && h->npool > 0;
    if (taken) {
        MHD_suspend_connection(c->mc);
        c->next = NULL;
        if (h->tail)
            h->tail->next = c;
        else
            h->head = c;
        h->tail = c;
        pthread_cond_signal(&h->work);
    }
    pthread_mutex_unlock(&h->plock);
    return taken;
}

static void *pool_main(void *arg)
{
    struct http *h = arg;
    pthread_setname_np(pthread_self(), "neurond-req");
    for (;;) {
        pthread_mutex_lock(&h->plock);
        while (!h->head && !h->pool_stopping)
            pthread_cond_wait(&h->work, &h->plock);
        struct conn *c = h->head;
        if (c && !(h->head = c->next))
            h->tail = NULL;
        pthread_mutex_unlock(&h->plock);
        if (!c)
            return NULL;   /* stopping, and nothing left */
        finish(c);
        c->ran = 1;
        MHD_resume_connection(c->mc);   /* c is the library's again */
    }
}

/* ---- libmicrohttpd's callbacks ---- */

static struct conn *conn_new(struct http *h, struct MHD_Connection *mc)
{
    struct conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->t0 = clock_s();
    c->h = h;
    c->mc = mc;
    c->req.app = h->app;
    c->req.conn = mc;
    c->req.peer = "";
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    if (ci && ci->socket_context) {
        c->sock = ci->socket_context;
        c->req.peer = c->sock->peer;
    }
    return c;
}

/* The request line is in, the target not yet decoded: the request's state starts here,
 * where a %00 in the path can still be seen. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *mc)
{
    struct conn *c = conn_new(cls, mc);
    if (c)
        c->nul_path = decodes_nul(uri, strcspn(uri, "?"));
    return c;
}

/* The index of the route a request is counted under (ops.h): its own, else the first
 * whose pattern its path matches (a 405, or a request refused before it was routed);
 * -1 for a path that is no route. */
static int counted_route(const struct conn *c)
{
    if (c->route)
        return (int)(c->route - c->h->routes);
    struct conn *scratch = malloc(sizeof *scratch);   /* match() fills its parameters */
    int ri = -1;
    for (int i = 0; scratch && i < c->h->nroutes && ri < 0; i++)
        if (match(c->h->routes[i].pattern, c->path, scratch))
            ri = i;
    free(scratch);
    return ri;
}

static enum MHD_Result respond(struct conn *c, struct MHD_Connection *mc, const char *method)
{
    stats_request(counted_route(c), method, c->reply.status, clock_s() - c->t0);
    return send_reply(mc, c);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct http *h = cls;
    struct conn *c = *con_cls;
    if (!c && !(c = *con_cls = conn_new(h, mc)))
        return MHD_NO;
    if (!c->begun) {
        c->begun = 1;
        size_t n = strnlen(url, sizeof c->path - 1);
        memcpy(c->path, url, n);
        c->path[n] = 0;
        c->req.path = c->path;
        c->req.method = method;
        deadline(c, 0);
        if (begin(c, mc, method, version) < 0) {
            if (c->has_body && c->sock)   /* its body is drained as the connection closes */
                c->sock->linger = 1;
            return respond(c, mc, method);   /* at once: no body is read, the connection closes */
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (take(c, upload_data, *upload_data_size) < 0)
            return MHD_NO;   /* a chunked body past its limit */
        *upload_data_size = 0;
        return MHD_YES;
    }
    deadline(c, 0);
    if (c->waiting) {   /* woken, or its turn: the work its handler left can be done */
        c->waiting = 0;
        finish_later(c);
        c->ran = 1;
    } else if (!c->failed && !c->ran) {
        int heavy = c->has_body && (c->streaming || c->len >= POOL_FROM);
        if (heavy && pool_take(h, c))
            return MHD_YES;   /* on_request comes again when the pool is done */
        c->req.later_ok = 1;
        int later = finish(c) == HTTP_LATER;
        c->req.later_ok = 0;
        if (later) {
            c->waiting = c->later = 1;
            atomic_fetch_add(&h->later, 1);
            return MHD_YES;   /* on_request comes again when it is woken, or next turn */
        }
        c->ran = 1;
    }
    return respond(c, mc, method);
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)mc, (void)toe;
    struct http *h = cls;
    struct conn *c = *con_cls;
    if (!c)
        return;
    log_request(&c->who, &c->req, c->route, &c->reply, c->h->app->cfg.log_json);
    if (c->sctx)
        c->route->stream->end(c->sctx, &c->req, NULL);
    if (c->reply.read)
        c->reply.release(c->reply.ctx);
    if (c->req.later_free)
        c->req.later_free(c->req.later_ctx);
    if (c->later)
        atomic_fetch_sub(&h->later, 1);
    int big = c->cap >= TRIM_AFTER || c->len >= TRIM_AFTER || c->reply.len >= TRIM_AFTER;
    deadline(c, h->app->cfg.header_timeout);   /* for the next request on the connection */
    free(c->buf);
    free(c->reply.body);
    free(c);
    *con_cls = NULL;
    if (big)   /* what a large request held goes back to the system */
        malloc_trim(0);
}

/* A connection opens or closes: it joins or leaves the reaper's list. */
static void on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct http *h = cls;
    struct sock *k = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fd =
            MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *addr =
            MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (!fd || !(k = calloc(1, sizeof *k)))
            return;
        k->fd = fd->connect_fd;
        const struct sockaddr *sa = addr ? addr->client_addr : NULL;
        if (sa && sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, k->peer,
                      sizeof k->peer);
        else if (sa && sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, k->peer,
                      sizeof k->peer);
        atomic_store(&k->deadline, clock_s() + h->app->cfg.header_timeout);
        pthread_mutex_lock(&h->lock);
        k->next = h->socks;
        if (h->socks)
            h->socks->prev = k;
        h->socks = k;
        pthread_mutex_unlock(&h->lock);
        *socket_context = k;
    } else if (k) {
        pthread_mutex_lock(&h->lock);
        if (k->prev)
            k->prev->next = k->next;
        else
            h->socks = k->next;
        if (k->next)
            k->next->prev = k->prev;
        int fd = k->linger && !k->cut && !h->stopping && h->nlingers < LINGER_MAX
                     ? fcntl(k->fd, F_DUPFD_CLOEXEC, 0)
                     : -1;
        if (fd >= 0) {   /* the reaper drains it (see DESIGN) */
            double now = clock_s();
            h->lingers[h->nlingers++] = (struct drained){fd, now + LINGER_SECONDS,
                                                        now + LINGER_IDLE};
            (void)!write(h->wake[1], "", 1);
        }
        pthread_mutex_unlock(&h->lock);
        free(k);
        *socket_context = NULL;
    }
}

/* Shuts down the sockets of connections past their deadline, four times a second. */
/* Reads and drops what has come on a lingering socket, up to 4 MiB a call (a fast client
 * holds the reaper no longer): 0 while it is to be kept. */
static int drain(struct drained *l, double now)
{
    static char sink[64 << 10];   /* the reaper's alone */
    for (int k = 0; k < 64; k++) {
        ssize_t n = recv(l->fd, sink, sizeof sink, MSG_DONTWAIT);
        if (n > 0) {
            l->idle_until = now + LINGER_IDLE;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return now > l->until || now > l->idle_until ? -1 : 0;
        if (n < 0 && errno == EINTR)
            continue;
        return -1;   /* the client closed, or the connection failed */
    }
    return now > l->until ? -1 : 0;   /* more to come: poll says when */
}

static void *reap(void *arg)
{
    struct http *h = arg;
    pthread_setname_np(pthread_self(), "neurond-reap");
    struct pollfd p[1 + LINGER_MAX];
    pthread_mutex_lock(&h->lock);
    while (!h->stopping) {
        int n = h->nlingers;
        p[0] = (struct pollfd){.fd = h->wake[0], .events = POLLIN};
        for (int i = 0; i < n; i++)
            p[1 + i] = (struct pollfd){.fd = h->lingers[i].fd, .events = POLLIN};
        pthread_mutex_unlock(&h->lock);
        poll(p, (nfds_t)(1 + n), 250);
        char b[64];
        while (read(h->wake[0], b, sizeof b) > 0) {
        }
        double now = clock_s();
        /* the first n entries are the reaper's alone (others only append): drained
         * without the lock, which the connections opening and closing need */
        int done[LINGER_MAX];
        for (int i = 0; i < n; i++)
            done[i] = drain(&h->lingers[i], now) < 0;
        pthread_mutex_lock(&h->lock);
        for (int i = n - 1; i >= 0; i--)   /* those added meanwhile are past n */
            if (done[i]) {
                close(h->lingers[i].fd);
                h->lingers[i] = h->lingers[--h->nlingers];
            }
        for (struct sock *k = h->socks; k; k = k->next) {
            double d = atomic_load(&k->deadline);
            if (d > 0 && now > d && !k->cut) {
                shutdown(k->fd, SHUT_RDWR);
                k->cut = 1;
            }
        }
    }
    for (int i = 0; i < h->nlingers; i++)
        close(h->lingers[i].fd);
    h->nlingers = 0;
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

/* Stops the pool (it finishes what it holds) and the reaper. */
static void threads_stop(struct http *h)
{
    pthread_mutex_lock(&h->plock);
    h->pool_stopping = 1;
    pthread_cond_broadcast(&h->work);
    pthread_mutex_unlock(&h->plock);
    for (int i = 0; i < h->npool; i++)
        pthread_join(h->pool[i], NULL);
    h->npool = 0;
    pthread_mutex_lock(&h->lock);
    h->stopping = 1;
    pthread_mutex_unlock(&h->lock);
    (void)!write(h->wake[1], "", 1);
    if (h->reaping)
        pthread_join(h->reaper, NULL);
    h->reaping = 0;
}

static void http_free(struct http *h)
{
    pthread_mutex_destroy(&h->lock);
    pthread_mutex_destroy(&h->plock);
    for (int i = 0; i < 2; i++)
        if (h->wake[i] >= 0)
            close(h->wake[i]);
    pthread_cond_destroy(&h->work);
    guard_free(h->guard);
    free(h->pool);
    free(h);
}

struct http *http_start(struct app *app, const struct route *routes, int nroutes)
{
    const struct config *cfg = &app->cfg;
    struct http *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->app = app;
    h->routes = routes;
    h->nroutes = nroutes;
    pthread_mutex_init(&h->lock, NULL);
    pthread_mutex_init(&h->plock, NULL);
    if (pipe2(h->wake, O_CLOEXEC | O_NONBLOCK) < 0)
        h->wake[0] = h->wake[1] = -1;
    pthread_cond_init(&h->work, NULL);
    char err[512];
    if (!(h->guard = guard_new(cfg, err, sizeof err))) {
        fprintf(stderr, "neurond: %s\n", err);
        http_free(h);
        return NULL;
    }
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
    if (inet_pton(AF_INET, cfg->bind, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)cfg->port);
    } else if (inet_pton(AF_INET6, cfg->bind, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)cfg->port);
        flags |= MHD_USE_IPv6;
    } else {
        fprintf(stderr, "neurond: --bind %s is not an IPv4 or IPv6 address\n", cfg->bind);
        http_free(h);
        return NULL;
    }
    /* Memory goes back after large requests: a block of 128 KiB or more is a mapping of
     * its own, unmapped when freed, and the free top of a thread's heap goes back past
     * 128 KiB. (glibc would raise both thresholds as large blocks are freed, so that a
     * large body's memory would stay with the thread that held it.) malloc_trim, after a
     * large request, gives back the free pages between the blocks still in use. */
    mallopt(M_MMAP_THRESHOLD, 128 << 10);
    mallopt(M_TRIM_THRESHOLD, 128 << 10);
    h->pool = calloc((size_t)cfg->request_threads, sizeof *h->pool);
    for (int i = 0; h->pool && i < cfg->request_threads; i++)
        if (pthread_create(&h->pool[h->npool], NULL, pool_main, h) == 0)
            h->npool++;
    h->reaping = pthread_create(&h->reaper, NULL, reap, h) == 0;
    if (h->npool < cfg->request_threads || !h->reaping) {
        fprintf(stderr, "neurond: cannot start the HTTP threads\n");
        threads_stop(h);
        http_free(h);
        return NULL;
    }
    h->d = MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, on_request, h,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                            MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->http_threads,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                            MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
                            MHD_OPTION_URI_LOG_CALLBACK, on_uri, h,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->idle_timeout,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
                            MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                            (unsigned)cfg->max_connections_per_ip,
                            MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024, MHD_OPTION_END);
    if (!h->d) {
        fprintf(stderr,
                "neurond: cannot listen on %s:%d (in use, or not an address of this host); "
                "choose another with --port or --bind\n", cfg->bind, cfg->port);
        threads_stop(h);
        http_free(h);
        return NULL;
    }
    return h;
}

void http_stop(struct http *h)
{
    if (h) {
        threads_stop(h);   /* the pool wakes what it held: none stays paused */
        /* the requests answered later have been woken (their work is done: the caller
         * saw to it); their replies go out before the connections close, within 5 s */
        for (int i = 0; i < 500 && atomic_load(&h->later) > 0; i++)
            nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
        MHD_stop_daemon(h->d);
        log_flush();
        http_free(h);
    }
}
