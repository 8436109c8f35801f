/* http.h -- the HTTP glue: the request and reply that handlers see, the route table's
 * shape, the reply helpers (problem+json and friends), and the daemon. The only module
 * that includes microhttpd.h; handlers never see its types, so tests call them directly.
 *
 * A handler is `int h_<resource>_<verb>(struct req *r, struct reply *out)`: it reads the
 * request, fills the reply and returns 0; the glue (http.c) sends it. A handler that
 * fails to build a reply returns -1 and the glue answers 500.
 *
 * A handler whose work waits (a prediction waiting for company in its batch) may answer
 * later when struct req's later_ok is set: it sets later (and later_free) and returns
 * HTTP_LATER, the glue then calls later on the HTTP thread to fill the reply, either
 *  - when woken: the handler paused the connection (http_pause), and whoever finishes
 *    the work calls http_wake; or
 *  - on the thread's next turn of its event loop, when it did not pause it: by then the
 *    thread has read what arrived on its other connections meanwhile.
 */
#ifndef HTTP_H
#define HTTP_H

#include "config/config.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MAX_PARAMS 4

struct reply;
#define HTTP_LATER 1                 /* a handler's answer: the reply comes later */

struct req {
    struct app *app;
    const char *method;
    const char *path;
    const char *param[MAX_PARAMS];   /* values of the pattern's :names, in order */
    int nparam;
    const char *content_type;        /* without parameters, lower case; "" when absent */
    const char *body;                /* the whole body (not for streamed routes) */
    size_t len;
    json_t *json;                    /* the body parsed, for JSON routes; borrowed */
    const char *peer;                /* the client's address ("127.0.0.1"); "" in tests */
    void *conn;                      /* the glue's connection, for req_query/req_header */
    const char *const *kv;           /* without a connection (tests): query parameters as
                                        key, value, ..., NULL */
    /* who asked (guard.c), set before the handler runs */
    const char *token;               /* the name of the request's token; NULL without tokens */
    int may_write;                   /* its token may change things (1 without tokens) */
    const char *request_id;          /* X-Request-Id as sent, or made; NULL in direct calls */
    const char *host;                /* the host asked: an absolute-form target's, else
                                        NULL (then the Host header; RFC 9112, 3.2.2) */
    /* answering later (see above) */
    int later_ok;                    /* the handler may return HTTP_LATER (it runs on an
                                        HTTP thread, with a connection) */
    int (*later)(struct req *r, struct reply *out);   /* fills the reply once woken: 0,
                                        or -1 (the glue answers 500) */
    void (*later_free)(void *ctx);   /* called once with later_ctx when the request ends */
    void *later_ctx;
};

/* A query parameter or header of the request; borrowed, NULL when absent. */
const char *req_query(const struct req *r, const char *key);
const char *req_header(const struct req *r, const char *key);

struct reply {
    int status;
    char *body;                      /* new; freed by the glue */
    size_t len;
    const char *content_type;        /* static string */
    char location[128];              /* Location header when not empty */
    char allow[64];                  /* Allow header when not empty */
    int retry_after;                 /* Retry-After header in seconds when > 0 */
    char disposition[320];           /* Content-Disposition header when not empty */
    /* A streamed body instead of body: the glue calls read(ctx) for bytes as the client
     * takes them, until it returns -1 (the end). read returns 0 only after pausing the
     * connection with http_pause; whoever has bytes for it later calls http_wake. The
     * glue calls release(ctx) once the connection is done with it. */
    ssize_t (*read)(void *ctx, char *buf, size_t max);
    void (*release)(void *ctx);
    void *ctx;
    /* set by the glue and the guard (guard.c) */
    const char *request_id;          /* put into problems as "request_id" when set */
    const char *csp;                 /* a page's Content-Security-Policy (static); NULL:
                                        "default-src 'none'", for everything that is no page */
};

/* For streamed bodies (conn is struct req's): pause a connection until http_wake (from
 * any thread); whether a paused connection's client has gone away. A streamed reply's
 * connection is closed when its client takes nothing for cfg.idle_timeout seconds
 * while bytes wait (a paused stream is not waiting). */
void http_pause(void *conn);
void http_wake(void *conn);
int http_peer_gone(void *conn);

/* ---- replies (reply.c) ---- */

/* Replies with a JSON value, which it steals; numbers with 9 significant digits, so
 * that every float32 reads back and 0.2 prints as 0.2. -1 when v is NULL. */
int reply_json(struct reply *out, int status, json_t *v);
/* v as compact JSON text with reals to 9 significant digits: exactly what json_dumps(v,
 * JSON_COMPACT | JSON_REAL_PRECISION(9) | JSON_ENCODE_ANY) writes, made faster (reply.c).
 * New, NUL-terminated, its length in *len; NULL when out of memory or a string in v is
 * not UTF-8. */
char *json_text(const json_t *v, size_t *len);
/* Replies with text of a content type; copies it. */
int reply_text(struct reply *out, int status, const char *type, const char *text, size_t len);
/* 204 No Content. */
int reply_no_content(struct reply *out);
/* Replies application/problem+json (RFC 9457). errors (stolen, may be NULL) is an array
 * of {"pointer", "detail"}; detail is printf-formatted. */
int reply_problem(struct reply *out, int status, json_t *errors, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A problem about one field: errors = [{"pointer": pointer, "detail": detail}]. */
int reply_field(struct reply *out, int status, const char *pointer, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A problem about a query parameter: errors = [{"parameter": param, "detail": detail}]. */
int reply_param(struct reply *out, int status, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* 404 for an id of a kind ("dataset", "job", ...); the id is quoted safely. */
int reply_not_found(struct reply *out, const char *kind, const char *id);

/* ---- JSON bodies (http.c) ---- */

/* A JSON body held whole, parsed with jansson's flags (JSON_REJECT_DUPLICATES always).
 * Before anything is built, what its values would take in memory is estimated from the
 * text; a body that would take more than JSON_COST_FACTOR times its size (and more than
 * JSON_COST_FLOOR) is refused, so that no JSON body costs much more memory than its
 * bytes (an array of empty objects costs 80 times its text in jansson). Returns new, or
 * NULL after replying 413 (too many values for its size) or 400 (not JSON, with line
 * and column). */
#define JSON_COST_FACTOR 16
#define JSON_COST_FLOOR (4u << 20)
json_t *req_json_load(const char *body, size_t len, size_t flags, struct reply *out);
/* The memory, in bytes, that jansson would take for the values of the JSON text s[0, n)
 * (its estimate above; text that is not JSON is estimated all the same). */
size_t json_cost(const char *s, size_t n);

/* ---- query parameters, read one way on every route (http.c) ---- */

/* The ?limit= of a list: absent, 50; else digits only (no sign, no space), from 1 to max;
 * a whole number written as a real ("10.0", what a division gives in Python) is one.
 * Returns 0 with *limit set, or -1 after replying 400 with {"parameter": "limit"}. */
int req_limit(const struct req *r, struct reply *out, int max, int *limit);
/* A true/false query parameter: absent, def; "true", "1", "yes" or the bare key
 * ("?dry_run") is 1, "false", "0", "no" is 0. Returns 0 with *v set, or -1 after replying
 * 400 naming the parameter. */
int req_bool(const struct req *r, struct reply *out, const char *key, int def, int *v);
/* The same reading of one value: 1, 0, or -1 when it is neither. */
int req_bool_value(const char *s);

/* ---- routes and the daemon (http.c) ---- */

/* A streamed route gets the body in pieces as it arrives instead of whole. begin
 * returns a context (NULL: it filled out with an error, the rest of the body is
 * skipped); chunk returns 0, or -1 after filling out with an error; end builds the reply
 * and frees the context (also called with out = NULL to drop it when the connection
 * fails). */
struct stream {
    void *(*begin)(struct req *r, struct reply *out);
    int (*chunk)(void *ctx, const char *data, size_t len, struct reply *out);
    int (*end)(void *ctx, struct req *r, struct reply *out);
};

typedef int (*handler_fn)(struct req *r, struct reply *out);

/* Who may call a route (guard.c). With tokens (--token-file), a route needs one by
 * default: any for GET, one that may write for every other method. */
enum route_access {
    ROUTE_TOKEN = 0,                 /* a token, as its method says: GET reads */
    ROUTE_READ,                      /* a token, one that reads will do: a POST that
                                        changes nothing (a prediction) */
    ROUTE_PAGE,                      /* no token: a page that holds no data (the dashboard) */
    ROUTE_PROBE,                     /* no token, and any Host: liveness and readiness */
    ROUTE_METRICS,                   /* no token unless --metrics-token */
};

struct route {
    const char *method;
    const char *pattern;             /* "/v1/jobs/:id/cancel" */
    handler_fn fn;
    const struct stream *stream;     /* when set, used for bodies of the stream_type */
    const char *stream_type;         /* e.g. "text/csv" */
    int raw;                         /* the handler parses its JSON body itself */
    enum route_access access;
    const char *query;               /* the query parameters it takes, space-separated
                                        ("limit after state"); NULL: none; "*": any. The
                                        glue answers 400 to any other, naming it */
};

/* Starts the daemon on app->cfg's address with a route table (borrowed; it outlives the
 * daemon); NULL with a message on stderr. Requests are counted by their index in the
 * table (ops.h). Requests with a large body (64 KiB or more) and CSV uploads run their
 * handler on a pool of cfg.request_threads threads, so that the HTTP threads keep
 * answering the others (the health probes among them) while large bodies are parsed
 * and stored. */
struct http;
struct http *http_start(struct app *app, const struct route *routes, int nroutes);
/* Stops the daemon. Requests answered later must have been woken first (their work
 * done); their replies are sent before their connections close (5 s at most). */
void http_stop(struct http *h);

#endif
