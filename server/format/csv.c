/* csv.c -- the CSV reader (RFC 4180) as the body streams in (format.h).
 *
 * DESIGN. A byte-at-a-time state machine whose whole state is a few flags and the record
 * it is in (finished fields NUL-terminated in one buffer, then the field being read), so
 * a body split anywhere -- inside quotes, between CR and LF, inside the UTF-8 BOM --
 * gives the same records. Runs of ordinary bytes are copied at once. Nothing keeps the
 * raw body. What is built on the records (a dataset, prediction rows) is the caller's.
 */
#include "format.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void csv_error_set(struct csv_error *e, int status, long row, long line, int column,
                   const char *fmt, ...)
{
    memset(e, 0, sizeof *e);
    e->status = status;
    e->row = row;
    e->line = line;
    e->column = column;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->detail, sizeof e->detail, fmt, ap);
    va_end(ap);
}

/* ---- the reader ---- */

enum { S_FIELD, S_UNQUOTED, S_QUOTED, S_QUOTE };   /* S_QUOTE: a quote inside quotes */

struct csv_reader {
    csv_record_fn fn;
    void *ctx;
    int state;
    int bom;                /* BOM bytes matched at the start; -1 once past it */
    int skip_lf;            /* a CR ended the last record: a LF right after belongs to it */
    int prev_cr;            /* the last byte was a CR (lines: CRLF counts once) */
    int quoted;             /* the field being read began with a quote */
    char *rec;              /* finished fields, each NUL-terminated, then the current one */
    size_t len, cap;
    size_t fstart;          /* where the current field starts in rec */
    size_t *off, *lens;     /* finished fields */
    char **fields;
    int nf, capf;
    long records;           /* records handed over */
    long line;              /* line of the byte being read, 1-based */
    long rec_line;          /* line the current record began on */
    long quote_line;        /* line of the quote that opened the current field */
    int failed;
    struct csv_error err;
};

struct csv_reader *csv_reader_new(csv_record_fn fn, void *ctx)
{
    struct csv_reader *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->fn = fn;
    r->ctx = ctx;
    r->line = r->rec_line = 1;
    return r;
}

void csv_reader_free(struct csv_reader *r)
{
    if (!r)
        return;
    free(r->rec);
    free(r->off);
    free(r->lens);
    free(r->fields);
    free(r);
}

static int fail(struct csv_reader *r, int status, const char *what)
{
    csv_error_set(&r->err, status, r->records, r->rec_line, r->nf, "%s", what);
    r->failed = 1;
    return -1;
}

/* Makes room for `more` bytes in the record buffer. */
static int reserve(struct csv_reader *r, size_t more)
{
    if (r->len + more <= r->cap)
        return 0;
    if (r->len + more > CSV_MAX_RECORD + 1)
        return fail(r, 400, "a record longer than 64 MiB");
    size_t cap = r->cap ? r->cap : 256;
    while (cap < r->len + more)
        cap *= 2;
    char *p = realloc(r->rec, cap);
    if (!p)
        return fail(r, 413, "out of memory for one record");
    r->rec = p;
    r->cap = cap;
    return 0;
}

/* Appends bytes to the current field. */
static int put(struct csv_reader *r, const char *s, size_t n)
{
    if (r->len - r->fstart + n > CSV_MAX_FIELD)
        return fail(r, 400, "a field longer than 65536 bytes");
    if (reserve(r, n + 1) < 0)
        return -1;
    memcpy(r->rec + r->len, s, n);
    r->len += n;
    return 0;
}

static int end_field(struct csv_reader *r)
{
    if (r->nf == CSV_MAX_COLUMNS)
        return fail(r, 422, "more than 1048576 columns");
    if (reserve(r, 1) < 0)
        return -1;
    if (r->nf == r->capf) {
        int cap = r->capf ? r->capf * 2 : 16;
        size_t *o = realloc(r->off, (size_t)cap * sizeof *o);
        if (o)
            r->off = o;
        size_t *l = realloc(r->lens, (size_t)cap * sizeof *l);
        if (l)
            r->lens = l;
        char **f = realloc(r->fields, (size_t)cap * sizeof *f);
        if (f)
            r->fields = f;
        if (!o || !l || !f)
            return fail(r, 413, "out of memory for one record");
        r->capf = cap;
    }
    r->off[r->nf] = r->fstart;
    r->lens[r->nf++] = r->len - r->fstart;
    r->rec[r->len++] = 0;
    r->fstart = r->len;
    r->quoted = 0;
    return 0;
}

/* The record is complete (its line ending is the byte being read, or the body ended). */
static int end_record(struct csv_reader *r)
{
    int blank = r->nf == 0 && r->len == r->fstart && !r->quoted;
    if (end_field(r) < 0)
        return -1;
    if (!blank) {
        for (int i = 0; i < r->nf; i++)
            r->fields[i] = r->rec + r->off[i];
        if (r->fn(r->ctx, r->fields, r->lens, r->nf, r->records, r->rec_line, &r->err) < 0) {
            r->failed = 1;
            return -1;
        }
        r->records++;
    }
    r->nf = 0;
    r->len = r->fstart = 0;
    r->state = S_FIELD;
    r->rec_line = r->line + 1;   /* the line ending being read is counted after this */
    return 0;
}

int csv_reader_feed(struct csv_reader *r, const char *data, size_t len, struct csv_error *err)
{
    static const unsigned char bom[3] = {0xef, 0xbb, 0xbf};
    for (size_t i = 0; i < len && !r->failed; i++) {
        char ch = data[i];
        if (r->bom >= 0) {   /* the start of the body: a BOM, or bytes to replay */
            if ((unsigned char)ch == bom[r->bom]) {
                if (++r->bom == 3)
                    r->bom = -1;
                continue;
            }
            int matched = r->bom;
            r->bom = -1;
            if (matched && csv_reader_feed(r, (const char *)bom, (size_t)matched, err) < 0)
                return -1;
        }
        if (r->skip_lf) {
            r->skip_lf = 0;
            if (ch == '\n') {
                r->prev_cr = 0;
                continue;
            }
        }
        switch (r->state) {
        case S_FIELD:
            if (ch == '"') {
                r->state = S_QUOTED;
                r->quoted = 1;
                r->quote_line = r->line;
                break;
            }
            /* an unquoted field */
            /* fall through */
        case S_UNQUOTED:
            if (ch == ',') {
                end_field(r);
                r->state = S_FIELD;
            } else if (ch == '\n' || ch == '\r') {
                end_record(r);
                r->skip_lf = ch == '\r';
            } else {
                /* a run of ordinary bytes at once; a quote inside is taken literally */
                size_t j = i + 1;
                while (j < len && data[j] != ',' && data[j] != '\n' && data[j] != '\r')
                    j++;
                put(r, data + i, j - i);
                r->state = S_UNQUOTED;
                r->prev_cr = 0;
                i = j - 1;
                continue;
            }
            break;
        case S_QUOTED:
            if (ch == '"') {
                r->state = S_QUOTE;
            } else if (ch == '\n' || ch == '\r') {
                put(r, &ch, 1);   /* kept in the field; counted as a line below */
            } else {
                size_t j = i + 1;   /* a run up to the next quote or line ending */
                while (j < len && data[j] != '"' && data[j] != '\n' && data[j] != '\r')
                    j++;
                put(r, data + i, j - i);
                r->prev_cr = 0;
                i = j - 1;
                continue;
            }
            break;
        case S_QUOTE:
            if (ch == '"') {
                put(r, "\"", 1);
                r->state = S_QUOTED;
            } else if (ch == ',') {
                end_field(r);
                r->state = S_FIELD;
            } else if (ch == '\n' || ch == '\r') {
                end_record(r);
                r->skip_lf = ch == '\r';
            } else {
                fail(r, 400, "text after the closing quote of a quoted field (a quote "
                             "inside quotes is written as two quotes)");
            }
            break;
        }
        if (ch == '\n')
            r->line += !r->prev_cr;
        else if (ch == '\r')
            r->line++;
        r->prev_cr = ch == '\r';
    }
    if (r->failed) {
        *err = r->err;
        return -1;
    }
    return 0;
}

int csv_reader_end(struct csv_reader *r, struct csv_error *err)
{
    if (!r->failed && r->bom > 0) {   /* a body shorter than the BOM it began like */
        int matched = r->bom;
        r->bom = -1;
        static const char bom[3] = {(char)0xef, (char)0xbb, (char)0xbf};
        csv_reader_feed(r, bom, (size_t)matched, err);
    }
    if (!r->failed && r->state == S_QUOTED) {
        char what[128];
        snprintf(what, sizeof what, "the quote opened on line %ld is never closed",
                 r->quote_line);
        fail(r, 400, what);
    }
    if (!r->failed && (r->state != S_FIELD || r->nf > 0 || r->len > r->fstart))
        end_record(r);
    if (r->failed) {
        *err = r->err;
        return -1;
    }
    return 0;
}

