/* srvutil.c -- shared helpers of the service's suites (see srvutil.h). */
#include "srvutil.h"
#include "store/db.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <grp.h>
#include <errno.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct app su_app;

static char db_dir[256];
static char db_pg[1024];   /* su_db_open's PostgreSQL database, or "" */

const char *su_pg(void)
{
    const char *uri = getenv("NEUROND_TEST_DB");
    return uri && *uri && !store_is_file(uri) ? uri : NULL;
}

int su_pg_skip(const char *why)
{
    if (!su_pg())
        return 0;
    fprintf(stderr, "skipped on PostgreSQL: %s\n", why);
    return 1;
}

void su_pg_exec(const char *conninfo, const char *sql)
{
    PGconn *c = PQconnectdb(conninfo);
    ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s: %s", conninfo, PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s: %s", sql,
                  PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
}

void su_pg_exec_rows(const char *conninfo, const char *sql)
{
    PGconn *c = PQconnectdb(conninfo);
    ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s: %s", conninfo, PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql,
                  PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
}

static void pg_admin(const char *sql) { su_pg_exec(su_pg(), sql); }

void su_pg_create(char *out, size_t cap)
{
    static int made;
    char name[64], sql[128];
    snprintf(name, sizeof name, "t%d_%d_%ld", (int)getpid(), ++made, (long)time(NULL));
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    pg_admin(sql);
    PQconninfoOption *o = PQconninfoParse(su_pg(), NULL);
    ck_assert(o != NULL);
    size_t n = 0;
    for (PQconninfoOption *k = o; k->keyword; k++) {
        if (!k->val || !strcmp(k->keyword, "dbname"))
            continue;
        n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "%s='", k->keyword);
        for (const char *v = k->val; *v; v++)
            n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "%s%c",
                                  *v == '\'' || *v == '\\' ? "\\" : "", *v);
        n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "' ");
    }
    n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "dbname=%s", name);
    PQconninfoFree(o);
    ck_assert_msg(n < cap, "connection string too long");
}

void su_pg_drop(const char *conninfo)
{
    const char *name = strstr(conninfo, "dbname=");
    char sql[128];
    ck_assert(name != NULL);
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name + 7);
    pg_admin(sql);
}

void su_tmpdir(char *dir, size_t cap, const char *what)
{
    ck_assert_int_lt(snprintf(dir, cap, "/tmp/neurond-%s-XXXXXX", what), (int)cap);
    ck_assert_msg(mkdtemp(dir) != NULL, "cannot make a directory %s", dir);
}

void su_rmdir(const char *dir)
{
    char cmd[512];
    ck_assert(strchr(dir, '\'') == NULL);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

void su_db_open(void)
{
    config_defaults(&su_app.cfg);   /* what the service starts with, on one engine thread */
    su_app.cfg.threads = 1;
    su_tmpdir(db_dir, sizeof db_dir, "test");
    char path[300], err[512];
    snprintf(path, sizeof path, "%s/test.db", db_dir);
    *db_pg = 0;
    if (su_pg())
        su_pg_create(db_pg, sizeof db_pg);
    ck_assert_msg(store_open(*db_pg ? db_pg : path, err, sizeof err) == 0, "store_open: %s",
                  err);
}

const char *su_db_pg(void) { return db_pg; }

void su_db_close(void)
{
    store_close();
    su_rmdir(db_dir);
    if (*db_pg)
        su_pg_drop(db_pg);
    *db_pg = 0;
}

struct reply su_call(handler_fn fn, const char *method, const char *body, const char *param0,
                     const char *const *query)
{
    struct reply rp = {0};
    struct req r = {.app = &su_app, .method = method, .path = "", .content_type = "",
                    .kv = query};
    if (param0) {
        r.param[0] = param0;
        r.nparam = 1;
    }
    json_t *j = NULL;
    if (body) {
        json_error_t e;
        j = json_loads(body, 0, &e);
        ck_assert_msg(j != NULL, "test body is not JSON: %s", e.text);
        r.body = body;
        r.len = strlen(body);
        r.content_type = "application/json";
    }
    r.json = j;
    ck_assert_int_eq(fn(&r, &rp), 0);
    json_decref(j);
    return rp;
}

json_t *su_json(const struct reply *rp)
{
    json_error_t e;
    json_t *j = json_loadb(rp->body, rp->len, 0, &e);
    ck_assert_msg(j != NULL, "reply is not JSON (%s): %.*s", e.text, (int)rp->len, rp->body);
    return j;
}

void su_reply_free(struct reply *rp)
{
    free(rp->body);
    rp->body = NULL;
}

/* ---- the real binary ---- */

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

void su_start(struct server *s, const char *const *extra)
{
    if (!*s->dir) {
        su_tmpdir(s->dir, sizeof s->dir, "e2e");
        snprintf(s->db, sizeof s->db, "%s/neurond.db", s->dir);
        if (su_pg())
            su_pg_create(s->db, sizeof s->db);
    }
    s->port = free_port();
    snprintf(s->base, sizeof s->base, "http://127.0.0.1:%d", s->port);
    char port[16], log[320];
    snprintf(port, sizeof port, "%d", s->port);
    snprintf(log, sizeof log, "%s/neurond.log", s->dir);
    const char *bin = getenv("NEUROND_BIN") ? getenv("NEUROND_BIN") : "build/neurond";
    const char *argv[32] = {bin, "--port", port, "--db", s->db};
    int n = 5;
    for (int i = 0; extra && extra[i] && n < 31; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    s->pid = fork();
    ck_assert_int_ge(s->pid, 0);
    if (s->pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        if (s->uid && (setgroups(0, NULL) < 0 || setgid(s->uid) < 0 || setuid(s->uid) < 0))
            _exit(126);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {   /* up to 10 s */
        struct http_reply h = su_http(s, "GET", "/healthz", NULL, 0, NULL);
        long st = h.status;
        su_http_free(&h);
        if (st == 200)
            return;
        int status;
        ck_assert_msg(waitpid(s->pid, &status, WNOHANG) == 0, "neurond exited at start; see %s",
                      log);
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    ck_abort_msg("neurond did not answer /healthz within 10 s; see %s", log);
}

void su_stop(struct server *s, int kill_it)
{
    if (s->pid <= 0)
        return;
    kill(s->pid, kill_it ? SIGKILL : SIGTERM);
    int status;
    waitpid(s->pid, &status, 0);
    s->pid = 0;
}

void su_cleanup(struct server *s)
{
    if (*s->dir)
        su_rmdir(s->dir);
    if (*s->dir && !store_is_file(s->db))
        su_pg_drop(s->db);
    *s->dir = 0;
}

struct buf {
    char *p;
    size_t len;
};

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    struct buf *b = ud;
    char *p = realloc(b->p, b->len + size * n + 1);
    if (!p)
        return 0;
    memcpy(p + b->len, data, size * n);
    b->p = p;
    b->len += size * n;
    p[b->len] = 0;
    return size * n;
}

static void header_value(const char *line, size_t len, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    if (len <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return;
    const char *v = line + nl + 1;
    while (*v == ' ')
        v++;
    size_t vl = len - (size_t)(v - line);
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
        vl--;
    snprintf(out, cap, "%.*s", (int)vl, v);
}

static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
    struct http_reply *h = ud;
    if (!strncmp(data, "HTTP/", 5))   /* a new answer (after a 100 Continue): its own */
        *h->headers = 0;
    header_value(data, size * n, "Content-Type", h->ctype, sizeof h->ctype);
    header_value(data, size * n, "Location", h->location, sizeof h->location);
    header_value(data, size * n, "Allow", h->allow, sizeof h->allow);
    header_value(data, size * n, "Retry-After", h->retry_after, sizeof h->retry_after);
    header_value(data, size * n, "Connection", h->connection, sizeof h->connection);
    header_value(data, size * n, "X-Request-Id", h->request_id, sizeof h->request_id);
    size_t have = strlen(h->headers);
    snprintf(h->headers + have, sizeof h->headers - have, "%.*s", (int)(size * n), data);
    return size * n;
}

char *su_header(const struct http_reply *h, const char *name, char *out, size_t cap)
{
    *out = 0;
    for (const char *l = h->headers; *l;) {
        const char *e = strchr(l, '\n');
        size_t len = e ? (size_t)(e - l + 1) : strlen(l);
        header_value(l, len, name, out, cap);
        if (*out)
            break;
        l += len;
    }
    return out;
}

struct http_reply su_http(const struct server *s, const char *method, const char *path,
                          const char *body, size_t len, const char *ctype)
{
    return su_http_h(s, method, path, body, len, ctype, NULL);
}

struct http_reply su_http_h(const struct server *s, const char *method, const char *path,
                            const char *body, size_t len, const char *ctype,
                            const char *const *headers)
{
    struct http_reply h = {0};
    struct buf b = {0};
    char url[1024], ct[160], auth[160];
    snprintf(url, sizeof url, "%s%s", s->base, path);
    CURL *c = curl_easy_init();
    ck_assert_ptr_nonnull(c);
    struct curl_slist *hdr = NULL;
    if (ctype) {
        snprintf(ct, sizeof ct, "Content-Type: %s", ctype);
        hdr = curl_slist_append(hdr, ct);
    }
    hdr = curl_slist_append(hdr, "Expect:");
    int own_auth = 0;
    for (int i = 0; headers && headers[i]; i++) {
        own_auth |= !strncasecmp(headers[i], "Authorization:", 14);
        hdr = curl_slist_append(hdr, headers[i]);
    }
    if (*s->token && !own_auth) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", s->token);
        hdr = curl_slist_append(hdr, auth);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (!strcmp(method, "HEAD"))   /* the answer to HEAD has no body to wait for */
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &h.status);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    h.body = b.p ? b.p : calloc(1, 1);
    h.len = b.len;
    return h;
}

void su_http_free(struct http_reply *h)
{
    free(h->body);
    h->body = NULL;
}

json_t *su_http_json(const struct http_reply *h)
{
    json_error_t e;
    json_t *j = json_loadb(h->body, h->len, 0, &e);
    ck_assert_msg(j != NULL, "reply %ld is not JSON (%s): %.*s", h->status, e.text,
                  (int)(h->len > 400 ? 400 : h->len), h->body);
    return j;
}

const char *su_str(const json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    ck_assert_msg(v != NULL, "no string \"%s\"", key);
    return v;
}

long su_int(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    ck_assert_msg(json_is_integer(v), "no integer \"%s\"", key);
    return (long)json_integer_value(v);
}

double su_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int su_count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

char *su_blobs_json(int rows, int features, int named)
{
    static const char *const names[] = {"red", "green", "blue"};
    json_t *x = json_array(), *y = json_array();
    unsigned s = 7;
    for (int i = 0; i < rows; i++) {
        int c = i % 3;
        json_t *row = json_array();
        for (int j = 0; j < features; j++) {
            s = s * 1103515245u + 12345u;
            json_array_append_new(row, json_real(c * 2.0 + ((s >> 16) % 1000) / 1000.0));
        }
        json_array_append_new(x, row);
        json_array_append_new(y, named ? json_string(names[c]) : json_integer(c));
    }
    json_t *d = json_pack("{s:s, s:o, s:o}", "name", "blobs", "features", x, "labels", y);
    char *out = json_dumps(d, JSON_COMPACT);
    json_decref(d);
    return out;
}

char *su_post_id(const struct server *s, const char *path, const char *body, long want)
{
    struct http_reply h = su_http(s, "POST", path, body, strlen(body), "application/json");
    ck_assert_msg(h.status == want, "POST %s: %ld %s", path, h.status, h.body);
    json_t *j = su_http_json(&h);
    char *id = strdup(json_string_value(json_object_get(j, "id")));
    json_decref(j);
    su_http_free(&h);
    return id;
}

char *su_dataset(const struct server *s, int rows, int features, int named)
{
    char *body = su_blobs_json(rows, features, named);
    char *id = su_post_id(s, "/v1/datasets", body, 201);
    free(body);
    return id;
}

char *su_network(const struct server *s, int inputs, int hidden)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"name\": \"mlp\", \"inputs\": %d, \"layers\": [{\"type\": \"dense\", \"units\": "
             "%d, \"activation\": \"relu\"}, {\"type\": \"dense\", \"units\": 3, "
             "\"activation\": \"softmax\"}], \"loss\": \"categorical_crossentropy\", "
             "\"metrics\": [\"accuracy\"]}", inputs, hidden);
    return su_post_id(s, "/v1/networks", body, 201);
}

json_t *su_get_json(const struct server *s, const char *path)
{
    struct http_reply h = su_http(s, "GET", path, NULL, 0, NULL);
    ck_assert_msg(h.status == 200, "GET %s: %ld %s", path, h.status, h.body);
    json_t *j = su_http_json(&h);
    su_http_free(&h);
    return j;
}

json_t *su_job_wait(const struct server *s, const char *id, const char *until, int seconds)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/jobs/%s", id);
    for (int i = 0; i < seconds * 20; i++) {
        json_t *j = su_get_json(s, path);
        const char *st = su_str(j, "state");
        if ((until && !strcmp(st, until)) || !strcmp(st, "succeeded") || !strcmp(st, "failed") ||
            !strcmp(st, "cancelled"))
            return j;
        json_decref(j);
        usleep(50000);
    }
    ck_abort_msg("job %s did not reach %s within %d s", id, until ? until : "an end", seconds);
    return NULL;
}

void su_job_wait_epoch(const struct server *s, const char *id, int epoch, int seconds)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/jobs/%s", id);
    long at = 0;
    for (int i = 0; i < seconds * 40 && at < epoch; i++) {
        json_t *j = su_get_json(s, path);
        at = su_int(j, "epoch");
        json_decref(j);
        if (at < epoch)
            usleep(25000);
    }
    ck_assert_msg(at >= epoch, "job %s stored %ld epochs, not %d, within %d s", id, at, epoch,
                  seconds);
}

/* ---- raw HTTP ---- */

int su_connect(const struct server *s, const char *from)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (from) {
        struct sockaddr_in b = {.sin_family = AF_INET};
        inet_pton(AF_INET, from, &b.sin_addr);
        if (bind(fd, (struct sockaddr *)&b, sizeof b) < 0) {
            close(fd);
            return -1;
        }
    }
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int su_send(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads what comes on fd into b until `done` says enough or the time (an absolute
 * clock_s) passes; 1 at the end of the connection, 0 otherwise. */
static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int read_some(int fd, struct buf *b, double until)
{
    struct pollfd p = {fd, POLLIN, 0};
    double left = until - now_s();
    if (left <= 0 || poll(&p, 1, (int)(left * 1000) + 1) <= 0)
        return 0;
    char tmp[65536];
    ssize_t n = recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0)
        return n == 0 || (errno != EINTR && errno != EAGAIN) ? -1 : 0;
    on_body(tmp, 1, (size_t)n, b);
    return 0;
}

int su_wait_closed(int fd, int seconds)
{
    struct buf b = {0};
    double until = now_s() + seconds;
    int rc = 0;
    while (!rc && now_s() < until) {
        rc = read_some(fd, &b, until);
        if (b.len > (1 << 20)) {   /* keep what is dropped small */
            free(b.p);
            b = (struct buf){0};
        }
    }
    free(b.p);
    return rc < 0;
}

struct http_reply su_read_reply(int fd, int seconds)
{
    struct http_reply h = {0};
    struct buf b = {0};
    double until = now_s() + seconds;
    char *end = NULL;
    int rc = 0;
    while (!end && !rc && now_s() < until) {
        rc = read_some(fd, &b, until);
        end = b.p ? strstr(b.p, "\r\n\r\n") : NULL;
    }
    long clen = 0;
    if (end && sscanf(b.p, "HTTP/1.%*d %ld", &h.status) == 1) {
        char length[32] = "";
        for (char *line = strstr(b.p, "\r\n") + 2; line < end; line = strstr(line, "\r\n") + 2) {
            size_t n = (size_t)(strstr(line, "\r\n") - line);
            header_value(line, n, "Content-Type", h.ctype, sizeof h.ctype);
            header_value(line, n, "Location", h.location, sizeof h.location);
            header_value(line, n, "Allow", h.allow, sizeof h.allow);
            header_value(line, n, "Retry-After", h.retry_after, sizeof h.retry_after);
            header_value(line, n, "Connection", h.connection, sizeof h.connection);
            header_value(line, n, "X-Request-Id", h.request_id, sizeof h.request_id);
            header_value(line, n, "Content-Length", length, sizeof length);
            size_t have = strlen(h.headers);
            snprintf(h.headers + have, sizeof h.headers - have, "%.*s", (int)n + 2, line);
        }
        clen = atol(length);
        size_t head = (size_t)(end + 4 - b.p);
        while (!rc && b.len < head + (size_t)clen && now_s() < until)
            rc = read_some(fd, &b, until);
        if (b.len >= head + (size_t)clen) {
            h.len = (size_t)clen;
            h.body = malloc(h.len + 1);
            memcpy(h.body, b.p + head, h.len);
            h.body[h.len] = 0;
        } else {
            h.status = 0;
        }
    } else {
        h.status = 0;
    }
    free(b.p);
    if (!h.body)
        h.body = calloc(1, 1);
    if (h.status && !strcasecmp(h.connection, "close"))
        h.closed = su_wait_closed(fd, seconds);
    return h;
}

struct http_reply su_raw(const struct server *s, const char *req, size_t len)
{
    int fd = su_connect(s, NULL);
    ck_assert_int_ge(fd, 0);
    struct http_reply h = {0};
    if (su_send(fd, req, len) == 0) {
        h = su_read_reply(fd, 30);
    } else {
        h.body = calloc(1, 1);
    }
    close(fd);
    return h;
}
