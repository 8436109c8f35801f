/* guard.c -- who may ask: bearer tokens (--token-file), the Host allowlist
 * (--allowed-hosts), refusing changes from other sites (Origin, Sec-Fetch-Site), CORS
 * for the origins of --cors-origin, the request's id, and the headers every answer
 * carries. http.c calls it before a handler runs (guard.h says when, and in which order
 * a request is refused). */
#include "guard.h"

#include "format/format.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_LIST 32            /* hosts or origins */
#define TOKEN_FILE_MAX (1 << 20)

struct guard {
    struct guard_token *tokens;
    int ntokens;
    int metrics_token;
    int any_host;              /* --allowed-hosts '*' */
    char hosts[MAX_LIST][256]; /* lower case, IPv6 without brackets */
    int nhosts;
    char origins[MAX_LIST][256];
    int norigins;
};

/* ---- the token file ---- */

/* RFC 6750's b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" */
static int b64token(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && (isalnum((unsigned char)s[i]) || (s[i] && strchr("-._~+/", s[i]))))
        i++;
    if (i == 0)
        return 0;
    while (i < n && s[i] == '=')
        i++;
    return i == n;
}

static int name_ok(const char *s, size_t n)
{
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !(s[i] && strchr("-._@", s[i])))
            return 0;
    return 1;
}

int guard_tokens_parse(const char *file, const char *text, size_t len,
                       struct guard_token **out, int *n, char *err, size_t cap)
{
    struct guard_token *t = NULL;
    int count = 0, line = 0;
    *out = NULL;
    *n = 0;
    for (size_t at = 0; at < len;) {
        const char *s = text + at, *nl = memchr(s, '\n', len - at);
        size_t l = nl ? (size_t)(nl - s) : len - at;
        at += l + 1;
        line++;
        const char *f[4];      /* the fields: token, read or write, name */
        size_t fl[4];
        int nf = 0;
        for (size_t i = 0; i < l;) {
            while (i < l && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
                i++;
            if (i == l)
                break;
            size_t j = i;
            while (j < l && s[j] != ' ' && s[j] != '\t' && s[j] != '\r')
                j++;
            if (nf < 4)
                f[nf] = s + i, fl[nf] = j - i;
            nf++;
            i = j;
        }
        if (nf == 0 || f[0][0] == '#')
            continue;
        const char *why = NULL;
        if (nf > 3)
            why = "more than a token, read or write, and a name";
        else if (fl[0] < 16 || fl[0] > 4096 || !b64token(f[0], fl[0]))
            why = "a token is 16 to 4096 of the characters A-Z a-z 0-9 - . _ ~ + /, then "
                  "any = (base64 will do)";
        else if (nf > 1 && !(fl[1] == 4 && !memcmp(f[1], "read", 4)) &&
                 !(fl[1] == 5 && !memcmp(f[1], "write", 5)))
            why = "after the token comes read or write";
        else if (nf > 2 && !name_ok(f[2], fl[2]))
            why = "a name is 1 to 64 of the characters A-Z a-z 0-9 - . _ @";
        struct guard_token tok = {.write = nf < 2 || fl[1] == 5};
        if (!why) {
            sha256(f[0], fl[0], tok.digest);
            if (nf > 2)
                memcpy(tok.name, f[2], fl[2]);
            else
                snprintf(tok.name, sizeof tok.name, "line%d", line);
            for (int k = 0; k < count && !why; k++) {
                if (!memcmp(t[k].digest, tok.digest, 32))
                    why = "the same token as an earlier line";
                else if (!strcmp(t[k].name, tok.name))
                    why = "the name of an earlier line";
            }
        }
        if (!why && count % 16 == 0) {
            struct guard_token *m = realloc(t, (size_t)(count + 16) * sizeof *t);
            if (!m)
                why = "out of memory";
            else
                t = m;
        }
        if (why) {
            snprintf(err, cap, "--token-file %s, line %d: %s", file, line, why);
            free(t);
            return -1;
        }
        t[count++] = tok;
    }
    if (count == 0) {
        snprintf(err, cap, "--token-file %s holds no tokens (one a line, then optionally read "
                 "or write, then optionally a name)", file);
        free(t);
        return -1;
    }
    *out = t;
    *n = count;
    return 0;
}

static int read_tokens(struct guard *g, const char *file, char *err, size_t cap)
{
    FILE *f = fopen(file, "rb");
    if (!f) {
        snprintf(err, cap, "cannot read the token file %s: %s", file, strerror(errno));
        return -1;
    }
    char *text = malloc(TOKEN_FILE_MAX + 1);
    size_t len = text ? fread(text, 1, TOKEN_FILE_MAX + 1, f) : 0;
    int bad = !text || ferror(f) || len > TOKEN_FILE_MAX;
    fclose(f);
    int rc = -1;
    if (bad)
        snprintf(err, cap, "cannot read the token file %s: %s", file,
                 !text ? "out of memory" : len > TOKEN_FILE_MAX ? "over 1 MiB" : "read error");
    else
        rc = guard_tokens_parse(file, text, len, &g->tokens, &g->ntokens, err, cap);
    if (text) {   /* the tokens stay only as digests */
        volatile char *v = text;
        for (size_t i = 0; i < len && i <= TOKEN_FILE_MAX; i++)
            v[i] = 0;
    }
    free(text);
    return rc;
}

const struct guard_token *guard_token(const struct guard *g, const char *cred, size_t len)
{
    unsigned char d[32];
    sha256(cred, len, d);
    const struct guard_token *hit = NULL;
    for (int i = 0; i < g->ntokens; i++) {
        unsigned diff = 0;
        for (int k = 0; k < 32; k++)
            diff |= (unsigned)(d[k] ^ g->tokens[i].digest[k]);
        if (diff == 0)
            hit = &g->tokens[i];
    }
    return hit;
}

/* ---- hosts and origins ---- */

/* The host of a Host header, lower case, without port, brackets or one trailing dot; 0
 * when it is not one. */
static int host_part(const char *h, char *out, size_t cap)
{
    size_t n;
    const char *rest;
    if (*h == '[') {   /* an IPv6 address, and only that */
        const char *e = strchr(h, ']'), *c = strchr(h, ':');
        if (!e || !c || c > e)
            return 0;
        h++;
        n = (size_t)(e - h);
        rest = e + 1;
    } else {
        n = strcspn(h, ":");
        rest = h + n;
    }
    if (*rest == ':' && (!rest[1] || strspn(rest + 1, "0123456789") != strlen(rest + 1)))
        return 0;
    if (*rest && *rest != ':')
        return 0;
    if (n > 0 && h[n - 1] == '.')
        n--;
    if (n == 0 || n >= cap)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)h[i];
        if (!isalnum(ch) && !strchr("-.:_", ch))
            return 0;
        out[i] = (char)tolower(ch);
    }
    out[n] = 0;
    return 1;
}

int guard_host_ok(const struct guard *g, const char *host)
{
    char h[256];
    if (g->any_host || !host)
        return 1;
    if (!host_part(host, h, sizeof h))
        return 0;
    for (int i = 0; i < g->nhosts; i++)
        if (!strcmp(g->hosts[i], h))
            return 1;
    return 0;
}

const char *guard_cors(const struct guard *g, const char *origin)
{
    for (int i = 0; i < g->norigins; i++)
        if (!strcasecmp(g->origins[i], origin))
            return g->origins[i];
    return NULL;
}

/* A host as a list names it (an IPv6 address with or without brackets) into out, as
 * host_part keeps it; 0 when it is not one. */
static int list_host(const char *s, char *out, size_t cap)
{
    char b[260];
    const char *c = strchr(s, ':');
    if (c && strchr(c + 1, ':') && *s != '[' && snprintf(b, sizeof b, "[%s]", s) < (int)sizeof b)
        s = b;
    return host_part(s, out, cap);
}

/* Is origin scheme://host[:port] (http or https), without a path? */
static int origin_ok(const char *o)
{
    const char *h = !strncmp(o, "http://", 7) ? o + 7 : !strncmp(o, "https://", 8) ? o + 8 : NULL;
    char tmp[256];
    return h && !strchr(h, '/') && host_part(h, tmp, sizeof tmp) && h[strlen(h) - 1] != '.';
}

/* Splits a comma-separated list into lower-case entries; -1 with err on an entry that
 * ok() refuses (it sees the entry as written; kept is the form stored). */
static int split(const char *flag, const char *list, char (*out)[256], int *n, int host,
                 char *err, size_t cap)
{
    *n = 0;
    for (const char *p = list; *p;) {
        size_t l = strcspn(p, ",");
        const char *s = p;
        p += l + (p[l] == ',');
        while (l && (*s == ' ' || *s == '\t'))
            s++, l--;
        while (l && (s[l - 1] == ' ' || s[l - 1] == '\t'))
            l--;
        if (l == 0)
            continue;
        char e[256];
        if (l >= sizeof e || *n == MAX_LIST) {
            snprintf(err, cap, "%s: at most %d entries of at most 255 bytes each", flag, MAX_LIST);
            return -1;
        }
        memcpy(e, s, l);
        e[l] = 0;
        int ok = host ? list_host(e, out[*n], 256) : origin_ok(e);
        if (!ok) {
            char q[80];
            snprintf(err, cap, "%s: '%s' is not %s", flag, text_echo(q, sizeof q, e, l, 64),
                     host ? "a host name or address" : "an origin (http or https://host[:port], "
                     "such as https://app.example.com)");
            return -1;
        }
        if (!host)
            for (size_t i = 0; i <= l; i++)
                out[*n][i] = (char)tolower((unsigned char)e[i]);
        (*n)++;
    }
    return 0;
}

struct guard *guard_new(const struct config *cfg, char *err, size_t cap)
{
    struct guard *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    g->metrics_token = cfg->metrics_token;
    if (cfg->token_file && read_tokens(g, cfg->token_file, err, cap) < 0)
        goto fail;
    if (cfg->allowed_hosts && !strcmp(cfg->allowed_hosts, "*")) {
        g->any_host = 1;
    } else if (cfg->allowed_hosts) {
        if (split("--allowed-hosts", cfg->allowed_hosts, g->hosts, &g->nhosts, 1, err, cap) < 0)
            goto fail;
        if (g->nhosts == 0) {
            snprintf(err, cap, "--allowed-hosts is empty: name at least one host, or * for any");
            goto fail;
        }
    } else {
        const char *def[] = {cfg->bind, "localhost", "127.0.0.1"};
        for (int i = 0; i < 3; i++)
            g->nhosts += list_host(def[i], g->hosts[g->nhosts], 256);
    }
    if (cfg->cors_origin &&
        split("--cors-origin", cfg->cors_origin, g->origins, &g->norigins, 0, err, cap) < 0)
        goto fail;
    return g;
fail:
    guard_free(g);
    return NULL;
}

void guard_free(struct guard *g)
{
    if (g) {
        free(g->tokens);
        free(g);
    }
}

/* ---- a request ---- */

static int id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("._:-", s[i]))
            return 0;
    return 1;
}

/* A new request id: "req_", six random characters drawn once per process, and a counter
 * (in the same 32 digits as new_id's), so that ids are unique across restarts without a
 * system call per request. */
static char id_prefix[32];
static pthread_once_t id_once = PTHREAD_ONCE_INIT;
static atomic_ullong id_next;

static void id_init(void)
{
    new_id(id_prefix, "req_");
    id_prefix[10] = 0;
}

static void make_id(char out[17])
{
    static const char digits[] = "0123456789abcdefghjkmnpqrstvwxyz";
    pthread_once(&id_once, id_init);
    unsigned long long n = atomic_fetch_add(&id_next, 1);
    char c[8];
    for (int i = 5; i >= 0; i--, n >>= 5)   /* 6 digits, then they wrap: 2^30 ids */
        c[i] = digits[n & 31];
    c[6] = 0;
    memcpy(out, id_prefix, 10);   /* "req_" and six */
    memcpy(out + 10, c, 7);
}

void guard_begin(struct who *w, struct req *r, struct reply *out, const char *method)
{
    clock_gettime(CLOCK_REALTIME, &w->at);
    w->t0 = clock_s();
    size_t i = 0;
    for (; method[i] && i + 1 < sizeof w->method; i++) {
        unsigned char ch = (unsigned char)method[i];
        w->method[i] = ch > ' ' && ch < 127 && ch != '"' && ch != '\\' ? (char)ch : '?';
    }
    w->method[i] = 0;
    const char *id = req_header(r, "X-Request-Id");
    if (id && id_ok(id))
        snprintf(w->id, sizeof w->id, "%s", id);
    else
        make_id(w->id);
    r->request_id = out->request_id = w->id;
    r->token = NULL;
    r->may_write = 1;
}

/* Refuses: a problem naming the header at fault. */
static int refuse(struct reply *out, int status, const char *header, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int refuse(struct reply *out, int status, const char *header, const char *fmt, ...)
{
    char detail[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    utf8_clean(detail);
    out->allow[0] = 0;
    reply_problem(out, status, json_pack("[{s:s, s:s}]", "header", header, "detail", detail),
                  "%s", detail);
    return -1;
}

/* Is origin this request's own: scheme://Host? */
static int same_origin(const char *origin, const char *host)
{
    const char *h = !strncasecmp(origin, "http://", 7)    ? origin + 7
                    : !strncasecmp(origin, "https://", 8) ? origin + 8
                                                          : NULL;
    return h && host && !strcasecmp(h, host);
}

/* The host a request asks for: an absolute-form target's, else its Host header's. */
static const char *host_of(const struct req *r)
{
    return r->host ? r->host : req_header(r, "Host");
}

/* A CORS preflight: OPTIONS with Origin and Access-Control-Request-Method on a path that
 * is a route (out holds its 405, whose Allow are the methods to allow). */
static int preflight(const struct guard *g, struct who *w, struct req *r, struct reply *out)
{
    const char *origin = req_header(r, "Origin"), *host = host_of(r);
    char e[100];
    if (!origin || !req_header(r, "Access-Control-Request-Method"))
        return 0;
    if (!guard_host_ok(g, host))
        return refuse(out, 421, "Host", "this service does not answer to the host %s "
                      "(--allowed-hosts)", text_echo(e, sizeof e, host, strlen(host), 80));
    if (!(w->cors = guard_cors(g, origin)))
        return refuse(out, 403, "Origin", "the origin %s may not call this service from "
                      "another site (--cors-origin)",
                      text_echo(e, sizeof e, origin, strlen(origin), 80));
    w->preflight = 1;
    reply_no_content(out);
    return -1;
}

int guard_check(const struct guard *g, struct who *w, struct req *r, const struct route *rt,
                struct reply *out)
{
    if (!rt)
        return !strcmp(r->method, "OPTIONS") && out->status == 405 && g->norigins
                   ? preflight(g, w, r, out)
                   : 0;
    const char *host = host_of(r), *origin = req_header(r, "Origin");
    const char *site = req_header(r, "Sec-Fetch-Site");
    char e[100];
    if (rt->access != ROUTE_PROBE && !guard_host_ok(g, host))
        return refuse(out, 421, "Host", "this service does not answer to the host %s "
                      "(--allowed-hosts)", text_echo(e, sizeof e, host, strlen(host), 80));
    int writes = strcmp(rt->method, "GET") != 0;
    w->cors = origin ? guard_cors(g, origin) : NULL;
    if (writes && !w->cors) {
        if (origin && !same_origin(origin, host))
            return refuse(out, 403, "Origin", "%s %s from the origin %s is refused: only this "
                          "service's own pages and --cors-origin may change things", rt->method,
                          rt->pattern, text_echo(e, sizeof e, origin, strlen(origin), 80));
        if (site && !strcmp(site, "cross-site"))
            return refuse(out, 403, "Sec-Fetch-Site", "%s %s from another site is refused "
                          "(Sec-Fetch-Site: cross-site)", rt->method, rt->pattern);
    }
    r->token = NULL;
    r->may_write = g->ntokens == 0;
    if (g->ntokens == 0 || rt->access == ROUTE_PAGE || rt->access == ROUTE_PROBE ||
        (rt->access == ROUTE_METRICS && !g->metrics_token))
        return 0;
    const char *a = req_header(r, "Authorization");
    if (!a || strncasecmp(a, "Bearer ", 7) != 0) {
        w->challenge = "Bearer realm=\"neurond\"";
        return refuse(out, 401, "Authorization", "%s %s needs a token: send the header "
                      "Authorization: Bearer followed by it", rt->method, rt->pattern);
    }
    const char *cred = a + 7;
    while (*cred == ' ')
        cred++;
    size_t n = strlen(cred);
    while (n && (cred[n - 1] == ' ' || cred[n - 1] == '\t'))
        n--;
    const struct guard_token *t = n ? guard_token(g, cred, n) : NULL;
    if (!t) {
        w->challenge = "Bearer realm=\"neurond\", error=\"invalid_token\"";
        return refuse(out, 401, "Authorization", "the bearer token is not one this service "
                      "knows");
    }
    r->token = t->name;
    r->may_write = t->write;
    if (writes && rt->access != ROUTE_READ && !t->write) {
        w->challenge = "Bearer realm=\"neurond\", error=\"insufficient_scope\"";
        return refuse(out, 403, "Authorization", "the token %s may only read; %s %s needs one "
                      "that may write", t->name, rt->method, rt->pattern);
    }
    return 0;
}

void guard_headers(const struct guard *g, const struct who *w, const struct reply *rp,
                   struct MHD_Response *res)
{
    MHD_add_response_header(res, "X-Request-Id", w->id);
    MHD_add_response_header(res, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(res, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(res, "Content-Security-Policy",
                            rp->csp ? rp->csp : "default-src 'none'; frame-ancestors 'none'");
    if (w->challenge)
        MHD_add_response_header(res, MHD_HTTP_HEADER_WWW_AUTHENTICATE, w->challenge);
    if (!g->norigins)
        return;
    MHD_add_response_header(res, MHD_HTTP_HEADER_VARY, "Origin");
    if (!w->cors)
        return;
    MHD_add_response_header(res, "Access-Control-Allow-Origin", w->cors);
    if (w->preflight) {
        MHD_add_response_header(res, "Access-Control-Allow-Methods", rp->allow);
        MHD_add_response_header(res, "Access-Control-Allow-Headers",
                                "Authorization, Content-Type, Last-Event-ID, X-Request-Id");
        MHD_add_response_header(res, "Access-Control-Max-Age", "600");
    } else {
        MHD_add_response_header(res, "Access-Control-Expose-Headers",
                                "Location, WWW-Authenticate, X-Request-Id");
    }
}
