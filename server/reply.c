/* reply.c -- building replies: JSON, text, problem+json (RFC 9457); ids and timestamps. */
#include "app.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

int reply_json(struct reply *out, int status, json_t *v)
{
    if (!v)
        return -1;
    /* 9 significant digits: every float32 round-trips, and 0.2 prints as 0.2 */
    char *s = json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(9));
    json_decref(v);
    if (!s)
        return -1;
    free(out->body);
    out->status = status;
    out->body = s;
    out->len = strlen(s);
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
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Error";
    }
}

/* The length of the valid UTF-8 sequence at p (1 to 4), 0 when invalid: as jansson
 * checks strings, so no overlong forms, surrogates or code points past U+10FFFF. */
static int utf8_len(const unsigned char *p)
{
    unsigned c = p[0], cp, min;
    int n;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, cp = c & 0x1f, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, cp = c & 0x0f, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, cp = c & 0x07, min = 0x10000;
    else
        return 0;
    for (int i = 1; i < n; i++) {   /* a NUL is no continuation byte: never reads past it */
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* Replaces bytes that are not valid UTF-8 by '?', so that text echoed from a request can
 * always go into a JSON string. */
static void utf8_clean(char *s)
{
    for (unsigned char *p = (unsigned char *)s; *p;) {
        int n = utf8_len(p);
        if (!n)
            *p++ = '?';
        else
            p += n;
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

int reply_field(struct reply *out, int status, const char *pointer, const char *fmt, ...)
{
    char detail[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    char ptr[512];
    snprintf(ptr, sizeof ptr, "%s", pointer);
    utf8_clean(ptr);
    utf8_clean(detail);
    json_t *errors = json_pack("[{s:s, s:s}]", "pointer", ptr, "detail", detail);
    return reply_problem(out, status, errors, "%s: %s", *ptr ? ptr : "/", detail);
}

int reply_param(struct reply *out, int status, const char *param, const char *fmt, ...)
{
    char detail[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    utf8_clean(detail);
    json_t *errors = json_pack("[{s:s, s:s}]", "parameter", param, "detail", detail);
    return reply_problem(out, status, errors, "%s", detail);
}

int reply_not_found(struct reply *out, const char *kind, const char *id)
{
    return reply_problem(out, 404, NULL, "no %s with id %s", kind, id);
}

void new_id(char *buf, const char *prefix)
{
    static const char digits[] = "0123456789abcdefghjkmnpqrstvwxyz";
    unsigned char r[12];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
        /* getrandom does not fail for 12 bytes once the pool is ready; fall back anyway */
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        for (size_t i = 0; i < sizeof r; i++)
            r[i] = (unsigned char)((t.tv_nsec >> (i % 4 * 8)) ^ (i * 131) ^ rand());
    }
    int n = snprintf(buf, 32, "%s", prefix);
    for (size_t i = 0; i < sizeof r && n < 31; i++)
        buf[n++] = digits[r[i] & 31];
    buf[n] = 0;
}

void now_iso(char *buf)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    struct tm tm;
    gmtime_r(&t.tv_sec, &tm);
    size_t n = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, 32 - n, ".%03dZ", (int)(t.tv_nsec / 1000000));
}
