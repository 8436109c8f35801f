/* fuzz_routes.c -- routing (server/http/http.c, the table of server/api/routes.c) and the
 * problem replies that echo a client's bytes (server/http/reply.c), on arbitrary requests.
 *
 * A method and a path (as libmicrohttpd hands them over: a C string, percent-decoded)
 * go through what on_request does with them: the path copied, one trailing slash
 * dropped, route_for. Checks that a route found has the request's method (HEAD taking
 * GET's) and a pattern that, with the path parameters put in, gives back the path; its
 * parameters are not empty and hold no '/'; no other route of that method matches; and
 * that no route found means a 405 whose Allow lists exactly the methods of the routes
 * that match, or a 404 when none does. Every reply is a problem+json of its status --
 * also when it quotes bytes that are not UTF-8 -- and so is one quoting the raw bytes
 * as a header's value would be (Last-Event-ID, ?header=, ...). The same bytes as a Host
 * header (guard.c): answered only when, without a port (digits after one ':') and one
 * trailing dot, they are one of the allowed hosts; and as a bearer token: none.
 *
 * Input: byte 0 picks the method (GET, POST, DELETE, HEAD, PUT, PATCH, OPTIONS, or the
 * bytes up to the first '\n'); the rest is the path. The glue's file is included whole to
 * reach its static routing.
 */
#include "fuzz.h"

#include "../server/http/http.c"

#include "api/api.h"

/* A problem+json reply of that status: returns the parsed body (new). */
static json_t *check_problem(const struct reply *rp, int status)
{
    CHECK(rp->status == status);
    CHECK(rp->body && rp->len == strlen(rp->body));
    CHECK(rp->content_type && !strcmp(rp->content_type, "application/problem+json"));
    json_error_t e;
    json_t *p = json_loadb(rp->body, rp->len, 0, &e);
    CHECK(p);
    CHECK(json_integer_value(json_object_get(p, "status")) == status);
    CHECK(json_is_string(json_object_get(p, "title")));
    CHECK(json_is_string(json_object_get(p, "detail")));
    return p;
}

/* The ":verb" of a pattern's segment ":name:verb" (p at its ':', pl its length), or
 * NULL for a plain ":name". */
static const char *verb_of(const char *p, size_t pl)
{
    const char *v = memchr(p + 1, ':', pl - 1);
    return v;
}

/* Does the path match the pattern (a plain re-implementation: segment by segment)? */
static int matches(const char *pattern, const char *path)
{
    const char *p = pattern, *s = path;
    for (;;) {
        if (*p != '/' || *s != '/')
            return 0;
        p++, s++;
        size_t pl = strcspn(p, "/"), sl = strcspn(s, "/");
        if (*p == ':') {
            const char *v = verb_of(p, pl);   /* the segment ends in :verb, after a name */
            size_t vl = v ? pl - (size_t)(v - p) : 0;
            if (v && (sl <= vl || memcmp(s + sl - vl, v, vl) != 0))
                return 0;
            if (sl - vl == 0 || sl - vl >= 128)
                return 0;
        } else if (pl != sl || memcmp(p, s, sl) != 0) {
            return 0;
        }
        p += pl, s += sl;
        if (!*p || !*s)
            return !*p && !*s;
    }
}

static void check_route(const char *method, const char *url)
{
    struct conn *c = calloc(1, sizeof *c);
    CHECK(c);
    struct http h = {.routes = routes, .nroutes = nroutes};   /* as http_start sets it */
    c->h = &h;
    /* as on_request */
    snprintf(c->path, sizeof c->path, "%s", url);
    size_t n = strlen(c->path);
    if (n > 1 && c->path[n - 1] == '/')
        c->path[n - 1] = 0;
    c->req.path = c->path;
    c->req.method = method;
    const struct route *rt = route_for(c, method, c->path);

    const char *want = strcmp(method, "HEAD") == 0 ? "GET" : method;
    char allow[256] = "";
    int found = 0;
    for (int i = 0; i < nroutes; i++) {
        if (!matches(routes[i].pattern, c->path))
            continue;
        if (!strcmp(routes[i].method, method) || !strcmp(routes[i].method, want)) {
            found++;
            CHECK(rt == &routes[i] || found > 1);
        } else if (!strstr(allow, routes[i].method)) {
            snprintf(allow + strlen(allow), sizeof allow - strlen(allow), "%s%s",
                     *allow ? ", " : "", routes[i].method);
        }
    }
    CHECK(found <= 1);   /* the table has no two routes for one request */
    if (rt) {
        CHECK(found == 1);
        CHECK(!strcmp(rt->method, want));
        /* the pattern with the parameters put in gives back the path */
        char back[1024] = "";
        int k = 0;
        for (const char *p = rt->pattern; *p;) {
            size_t pl = strcspn(p + 1, "/") + 1;
            if (p[1] == ':') {
                CHECK(k < c->req.nparam);
                const char *v = c->req.param[k++], *verb = verb_of(p + 1, pl - 1);
                CHECK(*v && !strchr(v, '/') && strlen(v) < sizeof c->params[0]);
                snprintf(back + strlen(back), sizeof back - strlen(back), "/%s%.*s", v,
                         verb ? (int)(pl - (size_t)(verb - p)) : 0, verb ? verb : "");
            } else {
                snprintf(back + strlen(back), sizeof back - strlen(back), "%.*s", (int)pl, p);
            }
            p += pl;
        }
        CHECK(k == c->req.nparam);
        CHECK(!strcmp(back, c->path));
        CHECK(c->reply.status == 0 && !c->reply.body);
    } else if (*allow) {
        CHECK(found == 0);
        json_decref(check_problem(&c->reply, 405));
        CHECK(!strcmp(c->reply.allow, allow));
    } else {
        CHECK(found == 0);
        json_decref(check_problem(&c->reply, 404));
        CHECK(!c->reply.allow[0]);
    }
    free(c->reply.body);
    free(c);
}

/* A problem quoting raw bytes, as handlers quote a header's or parameter's value. */
static void check_echo(const char *s)
{
    struct reply out = {0};
    CHECK(reply_problem(&out, 400, json_pack("[{s:s, s:s}]", "header", "Last-Event-ID",
                                             "detail", "must be an epoch number"),
                        "the Last-Event-ID header must be an epoch number, not '%.64s'",
                        s) == 0);
    json_t *p = check_problem(&out, 400);
    CHECK(json_array_size(json_object_get(p, "errors")) == 1);
    json_decref(p);
    free(out.body);
}

/* The bytes as a Host header and as a bearer token, against the default guard. */
static void check_guard(const char *s)
{
    static struct guard *g;
    if (!g) {
        struct config c;
        config_defaults(&c);   /* hosts 127.0.0.1, localhost; no tokens */
        char err[256];
        g = guard_new(&c, err, sizeof err);
        CHECK(g);
    }
    int ok = guard_host_ok(g, s);
    size_t n = strlen(s);
    const char *colon = strrchr(s, ':');
    if (colon && colon[1] && strspn(colon + 1, "0123456789") == strlen(colon + 1))
        n = (size_t)(colon - s);
    if (n && s[n - 1] == '.')
        n--;
    int listed = (n == 9 && !strncasecmp(s, "localhost", 9)) || (n == 9 && !strncmp(s, "127.0.0.1", 9));
    CHECK(ok == listed);
    CHECK(!guard_token(g, s, strlen(s)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const methods[] = {"GET", "POST", "DELETE", "HEAD", "PUT", "PATCH",
                                          "OPTIONS"};
    if (size < 1)
        return 0;
    char *text = malloc(size);   /* the rest, NUL-terminated at its end */
    CHECK(text);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = 0;
    char method[32];
    const char *path = text;
    if ((data[0] & 7) < 7) {
        snprintf(method, sizeof method, "%s", methods[data[0] & 7]);
    } else {   /* any method: the bytes up to '\n' */
        char *nl = strchr(text, '\n');
        if (!nl) {
            free(text);
            return 0;
        }
        *nl = 0;
        snprintf(method, sizeof method, "%s", text);
        path = nl + 1;
    }
    check_route(method, path);
    check_echo(path);
    check_guard(path);
    free(text);
    return 0;
}
