/* reply.c -- building replies: JSON, text, no content, problem+json (RFC 9457), which
 * carries the request's id as "request_id" when the glue set one. Text a client sent is
 * cleaned to UTF-8 before it goes into a problem (format.h). */
#include "http.h"

#include "format/format.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
