/* guard.h -- inside the HTTP glue: who may ask (guard.c) and what each request cost
 * (log.c). http.c calls these at five points of a request: guard_begin first, guard_check
 * once it is routed, log_reply and guard_headers as its reply goes out, log_request when
 * it is done. Handlers see the outcome only: struct req's token, may_write, request_id.
 *
 * DESIGN: tokens are kept as their SHA-256 digests, and a presented token is hashed and
 * compared with every digest in full, so that neither the time taken nor anything kept in
 * memory tells an attacker how close a guess came. A request is refused before its handler
 * runs, in this order: a Host that is not on the list (421; DNS rebinding), a change from
 * another site (403: Origin or Sec-Fetch-Site; a form, sendBeacon or no-cors fetch), a
 * missing or unknown token (401), a token that may only read on a route that writes (403).
 */
#ifndef GUARD_H
#define GUARD_H

#include "http.h"

#include <microhttpd.h>
#include <stdint.h>
#include <time.h>

/* One request's part (it lives in http.c's struct conn). */
struct who {
    char id[72];               /* the request's id: X-Request-Id as sent, or made */
    char method[16];           /* as sent (printable), for the log */
    struct timespec at;        /* arrival, wall clock */
    double t0;                 /* arrival, monotonic */
    uint64_t streamed;         /* bytes of a streamed body sent so far */
    int sent;                  /* a reply was handed to libmicrohttpd */
    const char *cors;          /* the --cors-origin entry the request came from, or NULL */
    int preflight;             /* the reply answers a CORS preflight */
    const char *challenge;     /* WWW-Authenticate of a refusal, or NULL */
};

/* ---- the daemon's part (guard.c) ---- */

/* One line of the token file, as kept: the token's digest, never the token. */
struct guard_token {
    unsigned char digest[32];
    char name[65];             /* the line's name, or "line<N>" */
    int write;                 /* may change things */
};

struct guard;

/* Reads the token file (once; --token-file), the allowed hosts and the CORS origins of
 * cfg. Returns new (guard_free), or NULL with a one-line message in err. */
struct guard *guard_new(const struct config *cfg, char *err, size_t cap);
void guard_free(struct guard *g);

/* The tokens of a token file's text (len bytes; it need not end in NUL): one a line, then
 * optionally read or write, then optionally a name; blank lines and lines starting with #
 * are skipped. *out is new (free), *n its length. -1 with err naming the file and the
 * line at fault (never the line's text). */
int guard_tokens_parse(const char *file, const char *text, size_t len,
                       struct guard_token **out, int *n, char *err, size_t cap);
/* The token a bearer credential is, or NULL; every token is compared in full. */
const struct guard_token *guard_token(const struct guard *g, const char *cred, size_t len);
/* Does the guard answer a request whose Host header is host (with or without a port)? An
 * absent Host (HTTP/1.0) is answered. */
int guard_host_ok(const struct guard *g, const char *host);
/* The --cors-origin entry origin is (compared without case), or NULL. */
const char *guard_cors(const struct guard *g, const char *origin);

/* ---- a request (guard.c) ---- */

/* First: the request's id (X-Request-Id when it is 1 to 64 of A-Z a-z 0-9 . _ : - ,
 * else a new one) into w, r and out; when it arrived; its method as sent. */
void guard_begin(struct who *w, struct req *r, struct reply *out, const char *method);
/* Once routed (rt NULL: out holds a 404 or 405): the Host, the origin, the token, and a
 * CORS preflight. Returns 0 to go on, with r->token and r->may_write set; -1 when out
 * holds the answer (421, 403, 401, or the preflight's 204). */
int guard_check(const struct guard *g, struct who *w, struct req *r, const struct route *rt,
                struct reply *out);
/* The headers of every answer: X-Request-Id, X-Content-Type-Options, Referrer-Policy,
 * Content-Security-Policy; WWW-Authenticate on a refusal; CORS's for an allowed origin. */
void guard_headers(const struct guard *g, const struct who *w, const struct reply *rp,
                   struct MHD_Response *res);

/* ---- the access log (log.c) ---- */

/* As the reply is handed over: a streamed body is counted as it goes. */
void log_reply(struct who *w, struct reply *rp);
/* One line on stderr (within 0.1 s) for a request that is done: when it arrived, its id, method, route
 * (the pattern, "unmatched" for none), status (0: none was sent), bytes of the body,
 * microseconds, and the token's name (never the token); text (key=value) or JSON. */
void log_request(const struct who *w, const struct req *r, const struct route *rt,
                 const struct reply *rp, int json);
/* Writes the lines not yet written, and has every later line written at once (on the
 * way out, once no request runs). */
void log_flush(void);
/* The same line into buf (cap bytes); returns its length. */
size_t log_line(char *buf, size_t cap, const struct who *w, const struct req *r,
                const struct route *rt, const struct reply *rp, int json);

#endif
