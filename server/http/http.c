/* http.c -- all of the libmicrohttpd plumbing: routing by the table http_start is
 * given, body accumulation under a size limit (or streaming to a route that asks for
 * it), JSON parsed once, 404/405/413/415/400 answered here, replies sent with their
 * headers; and the query parameters every route reads alike. Handlers see struct req and
 * struct reply only. Who may ask, and the access log, are guard.c's and log.c's (guard.h). */
#include "http.h"

#include "format/format.h"
#include "guard.h"
#include "ops/ops.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct http {
    struct MHD_Daemon *d;
    struct app *app;
    const struct route *routes;
    int nroutes;
    struct guard *guard;       /* who may ask (guard.c) */
};

/* One request in flight. */
struct conn {
    const struct http *h;
    const struct route *route;
    struct req req;
    char path[512];
    char params[MAX_PARAMS][128];
    char ctype[128];
    char *buf;                 /* the body so far (unstreamed routes) */
    size_t len, cap, limit;
    void *sctx;                /* the stream's context (streamed routes) */
    int streaming;
    int failed;                /* the reply is decided; the rest of the body is dropped */
    struct reply reply;
    double t0;                 /* arrival, for the latency histogram */
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
    long v = 0;
    int ok = n > 0 && strspn(s, "0123456789") == n && n - z <= 9;
    for (size_t i = z; ok && i < n; i++)
        v = v * 10 + (s[i] - '0');
    if (!ok || v < 1 || v > max) {
        reply_param(out, 400, "limit", "?limit=%.40s%s: give a whole number from 1 to %d", s,
                    n > 40 ? "..." : "", max);
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

/* Does path match pattern? Fills the :params. */
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
            if (sl == 0 || sl >= sizeof c->params[0] || n == MAX_PARAMS)
                return 0;
            memcpy(c->params[n], s, sl);
            c->params[n++][sl] = 0;
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

static struct MHD_Response *streamed(struct MHD_Connection *mc, struct reply *rp)
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
    if (res) {   /* streams stay open while idle; their heartbeat keeps them honest */
        MHD_set_connection_option(mc, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
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
        res = streamed(mc, rp);
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
    guard_headers(c->h->guard, &c->who, rp, res);
    enum MHD_Result ok = MHD_queue_response(mc, rp->status, res);
    MHD_destroy_response(res);
    return ok;
}

/* The first call for a request: its id, route it, who may ask (guard.c), check its type
 * and size, start a stream. */
static void begin(struct conn *c, struct MHD_Connection *mc, const char *method)
{
    guard_begin(&c->who, &c->req, &c->reply, method);
    const struct route *rt = c->route = route_for(c, method, c->path);
    if (guard_check(c->h->guard, &c->who, &c->req, rt, &c->reply) < 0 || !rt) {
        c->failed = 1;
        return;
    }
    c->req.method = rt->method;
    const char *ct = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Content-Type");
    size_t i = 0;
    for (; ct && ct[i] && ct[i] != ';' && ct[i] != ' ' && i + 1 < sizeof c->ctype; i++)
        c->ctype[i] = (char)(ct[i] >= 'A' && ct[i] <= 'Z' ? ct[i] + 32 : ct[i]);
    c->ctype[i] = 0;
    c->req.content_type = c->ctype;
    const char *cl = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Content-Length");
    unsigned long long declared = cl ? strtoull(cl, NULL, 10) : 0;
    int has_body = declared > 0 ||
                   MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Transfer-Encoding");
    if (has_body && !accepts(rt, c->ctype)) {
        reply_problem(&c->reply, 415, NULL, "%s %s takes application/json%s%s, not %s",
                      rt->method, rt->pattern, rt->stream_type ? " or " : "",
                      rt->stream_type ? rt->stream_type : "", *c->ctype ? c->ctype : "no type");
        c->failed = 1;
        return;
    }
    c->streaming = rt->stream && rt->stream_type && strcmp(c->ctype, rt->stream_type) == 0;
    c->limit = c->streaming ? c->req.app->cfg.max_upload : c->req.app->cfg.max_body;
    if (declared > c->limit) {
        reply_problem(&c->reply, 413, NULL, "the body is %llu bytes, over the limit of %zu",
                      declared, c->limit);
        c->failed = 1;
        return;
    }
    if (c->streaming && !(c->sctx = rt->stream->begin(&c->req, &c->reply)))
        c->failed = 1;
}

/* Adds a piece of the body. */
static void take(struct conn *c, const char *data, size_t size)
{
    if (c->failed)
        return;
    if (c->len + size > c->limit) {
        reply_problem(&c->reply, 413, NULL, "the body is over the limit of %zu bytes",
                      c->limit);
        c->failed = 1;
        return;
    }
    if (c->streaming) {
        c->len += size;
        if (c->route->stream->chunk(c->sctx, data, size, &c->reply) < 0)
            c->failed = 1;
        return;
    }
    if (c->len + size + 1 > c->cap) {
        size_t cap = c->cap ? c->cap : 4096;
        while (cap < c->len + size + 1)
            cap *= 2;
        char *b = realloc(c->buf, cap);
        if (!b) {
            reply_problem(&c->reply, 413, NULL, "the body is too large to hold");
            c->failed = 1;
            return;
        }
        c->buf = b;
        c->cap = cap;
    }
    memcpy(c->buf + c->len, data, size);
    c->len += size;
    c->buf[c->len] = 0;
}

/* The whole body is in: run the handler. */
static void finish(struct conn *c)
{
    struct req *r = &c->req;
    if (c->streaming) {
        void *ctx = c->sctx;
        c->sctx = NULL;
        if (c->route->stream->end(ctx, r, &c->reply) < 0 && !c->reply.status)
            reply_problem(&c->reply, 500, NULL, "the request failed inside the service");
        return;
    }
    r->body = c->buf ? c->buf : "";
    r->len = c->len;
    json_t *parsed = NULL;
    if (c->len > 0 && strcmp(c->ctype, "application/json") == 0 && !c->route->raw) {
        json_error_t e;
        parsed = json_loadb(c->buf, c->len, JSON_REJECT_DUPLICATES, &e);
        if (!parsed) {
            reply_problem(&c->reply, 400, NULL, "malformed JSON at line %d, column %d: %s",
                          e.line, e.column, e.text);
            return;
        }
    }
    r->json = parsed;
    if (c->route->fn(r, &c->reply) < 0 && !c->reply.status)
        reply_problem(&c->reply, 500, NULL, "the request failed inside the service");
    json_decref(parsed);
    r->json = NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    struct http *h = cls;
    struct conn *c = *con_cls;
    if (!c) {
        if (!(c = calloc(1, sizeof *c)))
            return MHD_NO;
        *con_cls = c;
        c->t0 = clock_s();
        c->h = h;
        c->req.app = h->app;
        c->req.conn = mc;
        snprintf(c->path, sizeof c->path, "%s", url);
        size_t n = strlen(c->path);   /* one trailing slash is forgiven */
        if (n > 1 && c->path[n - 1] == '/')
            c->path[n - 1] = 0;
        c->req.path = c->path;
        c->req.method = method;
        begin(c, mc, method);
        return MHD_YES;
    }
    if (*upload_data_size) {
        take(c, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (!c->failed)
        finish(c);
    stats_request(c->route ? (int)(c->route - h->routes) : -1, c->reply.status,
                  clock_s() - c->t0);
    return send_reply(mc, c);
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)mc, (void)toe;
    struct conn *c = *con_cls;
    if (!c)
        return;
    log_request(&c->who, &c->req, c->route, &c->reply, c->h->app->cfg.log_json);
    if (c->sctx)
        c->route->stream->end(c->sctx, &c->req, NULL);
    if (c->reply.read)
        c->reply.release(c->reply.ctx);
    free(c->buf);
    free(c->reply.body);
    free(c);
    *con_cls = NULL;
}

struct http *http_start(struct app *app, const struct route *routes, int nroutes)
{
    struct http *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->app = app;
    h->routes = routes;
    h->nroutes = nroutes;
    char err[512];
    if (!(h->guard = guard_new(&app->cfg, err, sizeof err))) {
        fprintf(stderr, "neurond: %s\n", err);
        free(h);
        return NULL;
    }
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
    if (inet_pton(AF_INET, app->cfg.bind, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)app->cfg.port);
    } else if (inet_pton(AF_INET6, app->cfg.bind, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)app->cfg.port);
        flags |= MHD_USE_IPv6;
    } else {
        fprintf(stderr, "neurond: --bind %s is not an IPv4 or IPv6 address\n", app->cfg.bind);
        guard_free(h->guard);
        free(h);
        return NULL;
    }
    h->d = MHD_start_daemon(flags, (uint16_t)app->cfg.port, NULL, NULL, on_request, h,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                            MHD_OPTION_THREAD_POOL_SIZE, (unsigned)app->cfg.http_threads,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000,
                            MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024, MHD_OPTION_END);
    if (!h->d) {
        fprintf(stderr,
                "neurond: cannot listen on %s:%d (in use, or not an address of this host); "
                "choose another with --port or --bind\n", app->cfg.bind, app->cfg.port);
        guard_free(h->guard);
        free(h);
        return NULL;
    }
    return h;
}

void http_stop(struct http *h)
{
    if (h) {
        MHD_stop_daemon(h->d);
        guard_free(h->guard);
        free(h);
    }
}
