/* fuzzutil.c -- shared by the harnesses that call handlers (see fuzzutil.h). */
#include "fuzzutil.h"

#include "store/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct app fz_app;

static char db_dir[64];

static void db_remove(void)
{
    store_close();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", db_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz: could not remove %s\n", db_dir);
}

void fz_db_open(void)
{
    config_defaults(&fz_app.cfg);   /* the service's, with a smaller parameter cap */
    fz_app.cfg.threads = 1;
    fz_app.cfg.max_params = 1000000;
    snprintf(db_dir, sizeof db_dir, "/tmp/neurond-fuzz-XXXXXX");
    CHECK(mkdtemp(db_dir));
    char path[128], err[512];
    snprintf(path, sizeof path, "%s/fuzz.db", db_dir);
    if (store_open(path, err, sizeof err) < 0) {
        fprintf(stderr, "fuzz: store_open: %s\n", err);
        abort();
    }
    atexit(db_remove);
    CHECK(sqlite3_exec(db_conn(), "PRAGMA synchronous=OFF", NULL, NULL, NULL) == SQLITE_OK);
}

void fz_sql(const char *sql, const char *a, const char *b)
{
    sqlite3_stmt *st;
    CHECK(sqlite3_prepare_v2(db_conn(), sql, -1, &st, NULL) == SQLITE_OK);
    if (sqlite3_bind_parameter_count(st) >= 1)
        sqlite3_bind_text(st, 1, a, -1, SQLITE_TRANSIENT);
    if (sqlite3_bind_parameter_count(st) >= 2)
        sqlite3_bind_text(st, 2, b, -1, SQLITE_TRANSIENT);
    CHECK(sqlite3_step(st) == SQLITE_DONE);
    sqlite3_finalize(st);
}

struct reply fz_call(handler_fn fn, const char *method, const json_t *json, const char *param0,
                     const char *const *kv)
{
    struct reply rp = {0};
    struct req r = {.app = &fz_app, .method = method, .path = "", .content_type = "",
                    .kv = kv, .json = (json_t *)json};
    char *text = NULL;
    if (json) {   /* the body as sent, in an exact-size buffer */
        text = json_dumps(json, JSON_COMPACT);
        CHECK(text);
        r.len = strlen(text);
        r.body = text;
        r.content_type = "application/json";
    }
    if (param0) {
        r.param[0] = param0;
        r.nparam = 1;
    }
    int rc = fn(&r, &rp);
    CHECK(rc == 0);              /* else the glue answers 500 */
    CHECK(rp.status != 500);
    CHECK(rp.status >= 200 && rp.status < 600);
    CHECK(!rp.read);
    free(text);
    return rp;
}

void fz_reply_free(struct reply *rp)
{
    free(rp->body);
    rp->body = NULL;
}

json_t *fz_json(const struct reply *rp)
{
    CHECK(rp->body && rp->len == strlen(rp->body));
    json_error_t e;
    json_t *j = json_loadb(rp->body, rp->len, 0, &e);
    CHECK(j);
    return j;
}

json_t *fz_problem(const struct reply *rp, int status)
{
    CHECK(rp->status == status);
    CHECK(rp->content_type && !strcmp(rp->content_type, "application/problem+json"));
    json_t *p = fz_json(rp);
    CHECK(json_is_object(p));
    CHECK(json_is_string(json_object_get(p, "type")));
    CHECK(json_is_string(json_object_get(p, "title")));
    CHECK(json_integer_value(json_object_get(p, "status")) == status);
    CHECK(json_is_string(json_object_get(p, "detail")));
    const json_t *errors = json_object_get(p, "errors");
    if (errors) {
        CHECK(json_is_array(errors) && json_array_size(errors) > 0);
        size_t i;
        const json_t *e;
        json_array_foreach(errors, i, e) {
            CHECK(json_is_object(e));
            CHECK(json_is_string(json_object_get(e, "detail")));
            int ptr = json_is_string(json_object_get(e, "pointer")),
                par = json_is_string(json_object_get(e, "parameter"));
            CHECK(ptr + par == 1);
        }
    }
    return p;
}

/* The next token of a pointer at *p (after its '/'), unescaped into tok; 0 when the
 * escapes are wrong. */
static int next_token(const char **p, char *tok, size_t cap, size_t *len)
{
    const char *s = *p;
    size_t n = 0;
    for (; *s && *s != '/'; s++) {
        char c = *s;
        if (c == '~') {
            if (s[1] != '0' && s[1] != '1')
                return 0;
            c = s[1] == '0' ? '~' : '/';
            s++;
        }
        if (n + 1 >= cap)
            return 0;
        tok[n++] = c;
    }
    tok[n] = 0;
    *len = n;
    *p = s;
    return 1;
}

int fz_pointer(const json_t *doc, const char *ptr, const json_t **at)
{
    static char tok[1 << 16];
    const json_t *v = doc;
    const char *p = ptr;
    if (at)
        *at = NULL;
    while (*p) {
        if (*p != '/')
            return FZ_PTR_BAD;
        p++;
        size_t n;
        if (!next_token(&p, tok, sizeof tok, &n))
            return FZ_PTR_BAD;
        if (json_is_object(v)) {
            const json_t *m = json_object_getn(v, tok, n);
            if (!m)
                return *p ? FZ_PTR_BAD : FZ_PTR_ABSENT;
            v = m;
        } else if (json_is_array(v)) {
            /* "0" or a number without leading zeros, inside the array */
            if (n == 0 || n > 9 || strspn(tok, "0123456789") != n || (n > 1 && tok[0] == '0'))
                return FZ_PTR_BAD;
            size_t i = (size_t)strtoul(tok, NULL, 10);
            if (i >= json_array_size(v))
                return FZ_PTR_BAD;
            v = json_array_get(v, i);
        } else {
            return FZ_PTR_BAD;
        }
    }
    if (at)
        *at = v;
    return FZ_PTR_VALUE;
}

void fz_pointer_join(char *out, size_t cap, const char *base, const char *key)
{
    size_t n = (size_t)snprintf(out, cap, "%s/", base);
    for (; *key && n + 3 < cap; key++) {
        if (*key == '~' || *key == '/') {
            out[n++] = '~';
            out[n++] = *key == '~' ? '0' : '1';
        } else {
            out[n++] = *key;
        }
    }
    out[n] = 0;
}

json_t *fz_subst(json_t *v, const char *const *names, const char *const *values, int n)
{
    if (json_is_string(v)) {
        for (int i = 0; i < n; i++)
            if (!strcmp(json_string_value(v), names[i])) {
                json_string_set(v, values[i]);
                break;
            }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
            fz_subst(e, names, values, n);
    } else if (json_is_object(v)) {
        const char *k;
        json_t *e;
        json_object_foreach(v, k, e)
            fz_subst(e, names, values, n);
    }
    return v;
}

json_t *fz_parse(const uint8_t *data, size_t size)
{
    if (size == 0)
        return NULL;
    json_error_t e;
    return json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &e);
}

/* ---- a mutator that knows JSON ---- */

struct node {
    json_t *parent;            /* object or array holding v; NULL for the root */
    const char *key;           /* its key in an object (borrowed) */
    size_t index;              /* its index in an array */
    json_t *v;
};

static void collect(json_t *parent, const char *key, size_t index, json_t *v, struct node *all,
                    size_t *n, size_t cap)
{
    if (*n >= cap)
        return;
    all[(*n)++] = (struct node){parent, key, index, v};
    if (json_is_object(v)) {
        const char *k;
        json_t *e;
        json_object_foreach(v, k, e)
            collect(v, k, 0, e, all, n, cap);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
            collect(v, NULL, i, e, all, n, cap);
    }
}

static unsigned next_rand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

/* A value of the palette (new). */
static json_t *palette(unsigned *r, const char *const *strings, size_t nstrings)
{
    static const double reals[] = {0.5, 1e-12, 9e-13, 1e6, 1000001, 1e30, 1.1e30, 1e-30, 9e-31,
                                   0.999999, 0.9999991, 0.2, 1.5, -0.5, 0.1, 3.4e38, 1e-7};
    static const json_int_t ints[] = {0, 1, -1, 2, 3, 10, 32, 100000, 100001, 65536, 65537,
                                      9007199254740991LL, 9007199254740992LL, 1023, 1024,
                                      2147483647LL, 2147483648LL};
    switch (next_rand(r) % 8) {
    case 0:
    case 1: return json_integer(ints[next_rand(r) % (sizeof ints / sizeof *ints)]);
    case 2: return json_real(reals[next_rand(r) % (sizeof reals / sizeof *reals)]);
    case 3:
    case 4: return nstrings ? json_string(strings[next_rand(r) % nstrings]) : json_string("x");
    case 5: return next_rand(r) % 2 ? json_true() : json_false();
    case 6: return next_rand(r) % 2 ? json_null() : json_array();
    default: return json_object();
    }
}

size_t fz_mutate(uint8_t *data, size_t size, size_t max, unsigned seed, size_t skip,
                 const char *base, const char *const *keys, const char *const *strings)
{
    unsigned r = seed;
    if (size < skip || next_rand(&r) % 2)
        return LLVMFuzzerMutate(data, size, max);
    json_error_t e;
    json_t *root = base && next_rand(&r) % 8 == 0
                       ? json_loads(base, 0, &e)
                       : json_loadb((const char *)data + skip, size - skip,
                                    JSON_REJECT_DUPLICATES, &e);
    if (!root)
        return LLVMFuzzerMutate(data, size, max);
    size_t nkeys = 0, nstrings = 0;
    while (keys && keys[nkeys])
        nkeys++;
    while (strings && strings[nstrings])
        nstrings++;
    static struct node all[4096];
    size_t n = 0;
    collect(NULL, NULL, 0, root, all, &n, sizeof all / sizeof *all);
    struct node *at = &all[next_rand(&r) % n];
    switch (next_rand(&r) % 5) {
    case 0:   /* replace a value */
    case 1: {
        json_t *v = palette(&r, strings, nstrings);
        if (!at->parent) {
            json_decref(root);
            root = json_is_object(v) ? v : (json_decref(v), json_object());
        } else if (at->key) {
            json_object_set_new(at->parent, at->key, v);
        } else {
            json_array_set_new(at->parent, at->index, v);
        }
        break;
    }
    case 2: {   /* add a member or an element */
        json_t *v = palette(&r, strings, nstrings);
        if (json_is_object(at->v) && nkeys)
            json_object_set_new(at->v, keys[next_rand(&r) % nkeys], v);
        else if (json_is_array(at->v))
            json_array_append_new(at->v, v);
        else
            json_decref(v);
        break;
    }
    case 3:   /* remove one */
        if (at->parent && at->key)
            json_object_del(at->parent, at->key);
        else if (at->parent)
            json_array_remove(at->parent, at->index);
        break;
    default: {   /* copy a value into another place */
        struct node *to = &all[next_rand(&r) % n];
        json_t *v = json_deep_copy(at->v);
        if (json_is_object(to->v) && nkeys)
            json_object_set_new(to->v, keys[next_rand(&r) % nkeys], v);
        else if (json_is_array(to->v))
            json_array_append_new(to->v, v);
        else
            json_decref(v);
        break;
    }
    }
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    size_t len = text ? strlen(text) : 0;
    if (!text || skip + len > max) {
        free(text);
        return LLVMFuzzerMutate(data, size, max);
    }
    memcpy(data + skip, text, len);
    free(text);
    if (skip && next_rand(&r) % 4 == 0)   /* now and then another leading byte */
        data[next_rand(&r) % skip] = (uint8_t)next_rand(&r);
    return skip + len;
}
