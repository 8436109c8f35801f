/* reply.c -- building replies: JSON, text, no content, problem+json (RFC 9457), which
 * carries the request's id as "request_id" when the glue set one. Text a client sent is
 * cleaned to UTF-8 before it goes into a problem (format.h). */
#include "http.h"

#include "format/format.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- JSON as text: what json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(9)) writes,
 * byte for byte (test_format compares them), without its costs: printf for every real
 * (text_real9 writes a float's digits itself), a callback for every piece and a hash
 * table entry for every array and object ---- */

struct text {
    char *p;
    size_t n, cap;
};

static int grow(struct text *t, size_t more)
{
    if (t->n + more < t->cap)
        return 0;
    size_t cap = t->cap ? t->cap : 256;
    while (cap <= t->n + more)
        cap *= 2;
    char *p = realloc(t->p, cap);
    if (!p)
        return -1;
    t->p = p;
    t->cap = cap;
    return 0;
}

static int put(struct text *t, const char *s, size_t n)
{
    if (grow(t, n) < 0)
        return -1;
    memcpy(t->p + t->n, s, n);
    t->n += n;
    return 0;
}

/* A string quoted as jansson quotes it: '"', '\\' and control characters escaped (the
 * short forms where JSON has them, else \u00XX), everything else as it is; -1 when it is
 * not UTF-8, which jansson refuses to write too. */
static int put_string(struct text *t, const char *s, size_t n)
{
    if (grow(t, 6 * n + 2) < 0)
        return -1;
    char *o = t->p + t->n;
    *o++ = '"';
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            size_t k = utf8_seq((const unsigned char *)s + i, n - i);
            if (!k)
                return -1;
            memcpy(o, s + i, k);
            o += k, i += k;
            continue;
        }
        i++;
        if (c >= 0x20 && c != '"' && c != '\\') {
            *o++ = (char)c;
            continue;
        }
        static const char hex[] = "0123456789ABCDEF";
        const char *esc = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\b' ? "\\b"
                          : c == '\f' ? "\\f" : c == '\n' ? "\\n" : c == '\r' ? "\\r"
                          : c == '\t' ? "\\t" : NULL;
        if (esc) {
            *o++ = esc[0], *o++ = esc[1];
        } else {
            memcpy(o, "\\u00", 4);
            o[4] = hex[c >> 4], o[5] = hex[c & 15];
            o += 6;
        }
    }
    *o++ = '"';
    t->n = (size_t)(o - t->p);
    return 0;
}

static int put_value(struct text *t, const json_t *v, int depth)
{
    char num[40];
    if (depth > 2048)   /* deeper than any reply; jansson would fail on a loop, too */
        return -1;
    switch (json_typeof(v)) {
    case JSON_NULL: return put(t, "null", 4);
    case JSON_TRUE: return put(t, "true", 4);
    case JSON_FALSE: return put(t, "false", 5);
    case JSON_INTEGER:
        return put(t, num, (size_t)snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT,
                                             json_integer_value(v)));
    case JSON_REAL: return put(t, num, text_real9(num, json_real_value(v)));
    case JSON_STRING: return put_string(t, json_string_value(v), json_string_length(v));
    case JSON_ARRAY:
        if (put(t, "[", 1) < 0)
            return -1;
        for (size_t i = 0; i < json_array_size(v); i++)
            if ((i && put(t, ",", 1) < 0) || put_value(t, json_array_get(v, i), depth + 1) < 0)
                return -1;
        return put(t, "]", 1);
    case JSON_OBJECT: {
        if (put(t, "{", 1) < 0)
            return -1;
        int first = 1;
        for (void *it = json_object_iter((json_t *)v); it;
             it = json_object_iter_next((json_t *)v, it), first = 0)
            if ((!first && put(t, ",", 1) < 0) ||
                put_string(t, json_object_iter_key(it), json_object_iter_key_len(it)) < 0 ||
                put(t, ":", 1) < 0 || put_value(t, json_object_iter_value(it), depth + 1) < 0)
                return -1;
        return put(t, "}", 1);
    }
    }
    return -1;
}

char *json_text(const json_t *v, size_t *len)
{
    struct text t = {0};
    if (!v || put_value(&t, v, 0) < 0 || put(&t, "", 1) < 0) {
        free(t.p);
        return NULL;
    }
    *len = t.n - 1;
    return t.p;
}

int reply_json(struct reply *out, int status, json_t *v)
{
    if (!v)
        return -1;
    /* 9 significant digits: every float32 round-trips, and 0.2 prints as 0.2 */
    size_t len;
    char *s = json_text(v, &len);
    json_decref(v);
    if (!s)
        return -1;
    free(out->body);
    out->status = status;
    out->body = s;
    out->len = len;
    out->content_type = "application/json";
    return 0;
}

int reply_text(struct reply *out, int status, const char *type, const char *text, size_t len)
{
    char *s = malloc(len + 1);
    if (!s)
        return -1;
    memcpy(s, text, len);
    s[len] = 0;
    free(out->body);
    out->status = status;
    out->body = s;
    out->len = len;
    out->content_type = type;
    return 0;
}

static const char *title_of(int status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 507: return "Insufficient Storage";
    default: return "Error";
    }
}

static int problem(struct reply *out, int status, json_t *errors, const char *fmt, va_list ap)
{
    char detail[1024];
    vsnprintf(detail, sizeof detail, fmt, ap);
    utf8_clean(detail);
    json_t *p = json_pack("{s:s, s:s, s:i, s:s}", "type", "about:blank", "title",
                          title_of(status), "status", status, "detail", detail);
    if (p && errors)
        json_object_set_new(p, "errors", errors);
    else
        json_decref(errors);
    if (p && out->request_id)   /* the id the answer's X-Request-Id carries too */
        json_object_set_new(p, "request_id", json_string(out->request_id));
    if (reply_json(out, status, p) < 0)
        return -1;
    out->content_type = "application/problem+json";
    return 0;
}

int reply_problem(struct reply *out, int status, json_t *errors, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = problem(out, status, errors, fmt, ap);
    va_end(ap);
    return rc;
}

/* A problem with one error, {key: where, "detail"}; the problem's own detail is the
 * error's, after "where: " for a pointer. */
static int one_error(struct reply *out, int status, const char *key, const char *where,
                     const char *fmt, va_list ap)
{
    char detail[700], at[512];
    vsnprintf(detail, sizeof detail, fmt, ap);
    snprintf(at, sizeof at, "%s", where);
    utf8_clean(detail);
    utf8_clean(at);
    json_t *errors = json_pack("[{s:s, s:s}]", key, at, "detail", detail);
    if (strcmp(key, "pointer") == 0)
        return reply_problem(out, status, errors, "%s: %s", *at ? at : "/", detail);
    return reply_problem(out, status, errors, "%s", detail);
}

int reply_field(struct reply *out, int status, const char *pointer, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = one_error(out, status, "pointer", pointer, fmt, ap);
    va_end(ap);
    return rc;
}

int reply_param(struct reply *out, int status, const char *param, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = one_error(out, status, "parameter", param, fmt, ap);
    va_end(ap);
    return rc;
}

int reply_not_found(struct reply *out, const char *kind, const char *id)
{
    char e[100];
    const char *is = id_kind(id);   /* a dataset's id given as a network's */
    return reply_problem(out, 404, NULL, "no %s with id %s%s%s%s", kind,
                         text_echo(e, sizeof e, id, strlen(id), 64),
                         is && strcmp(is, kind) ? ": that is a " : "",
                         is && strcmp(is, kind) ? is : "", is && strcmp(is, kind) ? " id" : "");
}

int reply_no_content(struct reply *out)
{
    free(out->body);
    out->body = NULL;
    out->len = 0;
    out->status = 204;
    out->content_type = NULL;
    return 0;
}
