/* csv.c -- CSV as it streams in (RFC 4180) and the dataset built from it (see csv.h).
 *
 * DESIGN. Two layers. The reader is a byte-at-a-time state machine whose whole state is
 * a few flags and the record it is in (finished fields NUL-terminated in one buffer, then
 * the field being read), so a body split anywhere -- inside quotes, between CR and LF,
 * inside the UTF-8 BOM -- gives the same records. The builder is the reader's callback:
 * the first record decides whether there is a header; each data row becomes floats
 * appended to x, and its label a float (NaN when it is not a number) plus, while the
 * distinct label texts are few enough to be class names, an index into a table of them.
 * At the end the labels are numbers when every one was a number, else class names (each
 * label's text, sorted). Nothing keeps the raw body.
 *
 * scikit-learn's CSVs (Debian's python3-sklearn: iris, wine, breast_cancer) start with a
 * line "n_samples,n_features,class names..." instead of column names, and their label
 * column holds class indices. With header detection on (the default) such a first line is
 * taken for that layout when, at the end, the counts match the data and every label is an
 * index of a name: the labels then become those class names and the features x0, x1, ...
 */
#include "csv.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- small helpers ---- */

int csv_number(const char *s, size_t n, double *v)
{
    const char *p = s;
    while (*p == ' ' || *p == '\t')
        p++;
    const char *q = p + (*p == '+' || *p == '-');
    if (!*p || (q[0] == '0' && (q[1] == 'x' || q[1] == 'X')))
        return 0;
    char *end;
    errno = 0;
    double d = strtod(p, &end);
    if (end == p)
        return 0;
    while (*end == ' ' || *end == '\t')
        end++;
    if (end != s + n)
        return 0;
    *v = d;
    return 1;
}

/* The length of the valid UTF-8 sequence (not NUL) starting at s, 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c == 0)
        return 0;
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned min;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, min = 0x10000;
    else
        return 0;
    if (n < len)
        return 0;
    unsigned cp = c & (0x3f >> (len - 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

int csv_utf8(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(u + i, n - i);
        if (!k)
            return 0;
        i += k;
    }
    return 1;
}

void csv_echo(char *dst, size_t cap, const char *s, size_t n, size_t max)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t o = 0, i = 0;
    while (i < n && o + 8 < cap) {
        if (i >= max) {
            memcpy(dst + o, "...", 3);
            o += 3;
            break;
        }
        size_t k = utf8_seq(u + i, n - i);
        if (k == 1 && (u[i] < 0x20 || u[i] == 0x7f))
            k = 0;
        if (k == 0) {
            dst[o++] = '?';
            i++;
        } else {
            memcpy(dst + o, s + i, k);
            o += k;
            i += k;
        }
    }
    dst[o] = 0;
}

static void set_err(struct csv_error *e, int status, long row, long line, int column,
                    const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void set_err(struct csv_error *e, int status, long row, long line, int column,
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
    set_err(&r->err, status, r->records, r->rec_line, r->nf, "%s", what);
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

/* ---- the table of label texts ---- */

struct intern {
    char *pool;             /* the texts, each NUL-terminated */
    size_t plen, pcap;
    size_t *off;            /* entry -> start in pool */
    uint32_t *len, *hash;
    uint32_t n, cap;
    uint32_t *slot;         /* open addressing: entry + 1, 0 when empty */
    uint32_t nslot;
};

static void intern_free(struct intern *t)
{
    free(t->pool);
    free(t->off);
    free(t->len);
    free(t->hash);
    free(t->slot);
    memset(t, 0, sizeof *t);
}

static uint32_t fnv1a(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

/* The entry of text s[0..n): found or added. Returns its index, -1 when out of memory,
 * -2 when the table is full (DATASET_MAX_CLASSES). */
static long intern(struct intern *t, const char *s, size_t n)
{
    uint32_t h = fnv1a(s, n);
    if (t->nslot) {
        for (uint32_t i = h & (t->nslot - 1);; i = (i + 1) & (t->nslot - 1)) {
            uint32_t e = t->slot[i];
            if (!e)
                break;
            e--;
            if (t->hash[e] == h && t->len[e] == n && memcmp(t->pool + t->off[e], s, n) == 0)
                return e;
        }
    }
    if (t->n == DATASET_MAX_CLASSES)
        return -2;
    if (t->n == t->cap) {
        uint32_t cap = t->cap ? t->cap * 2 : 64;
        size_t *o = realloc(t->off, cap * sizeof *o);
        if (o)
            t->off = o;
        uint32_t *l = realloc(t->len, cap * sizeof *l);
        if (l)
            t->len = l;
        uint32_t *hh = realloc(t->hash, cap * sizeof *hh);
        if (hh)
            t->hash = hh;
        if (!o || !l || !hh)
            return -1;
        t->cap = cap;
    }
    if (t->plen + n + 1 > t->pcap) {
        size_t cap = t->pcap ? t->pcap : 1024;
        while (cap < t->plen + n + 1)
            cap *= 2;
        char *p = realloc(t->pool, cap);
        if (!p)
            return -1;
        t->pool = p;
        t->pcap = cap;
    }
    if ((t->n + 1) * 2 > t->nslot) {   /* grow the slots to keep them at most half full */
        uint32_t ns = t->nslot ? t->nslot * 2 : 128;
        uint32_t *sl = calloc(ns, sizeof *sl);
        if (!sl)
            return -1;
        for (uint32_t e = 0; e < t->n; e++) {
            uint32_t i = t->hash[e] & (ns - 1);
            while (sl[i])
                i = (i + 1) & (ns - 1);
            sl[i] = e + 1;
        }
        free(t->slot);
        t->slot = sl;
        t->nslot = ns;
    }
    uint32_t e = t->n++;
    t->off[e] = t->plen;
    t->len[e] = (uint32_t)n;
    t->hash[e] = h;
    memcpy(t->pool + t->plen, s, n);
    t->pool[t->plen + n] = 0;
    t->plen += n + 1;
    uint32_t i = h & (t->nslot - 1);
    while (t->slot[i])
        i = (i + 1) & (t->nslot - 1);
    t->slot[i] = e + 1;
    return e;
}

/* ---- the dataset ---- */

struct csv_dataset {
    struct csv_reader *rd;
    enum csv_header header_mode;
    long label_index;           /* from ?label=, -1 when none or a name */
    char *label_name;           /* from ?label= when not an index */
    char label_text[80];        /* ?label= as given, for messages */
    int seen_first;
    int has_header;
    char **hdr;                 /* the header's fields (or the pending first record's) */
    size_t *hlen;
    int nhdr;
    long hdr_line;              /* the line of the first record */
    int sk;                     /* the header may be scikit-learn's layout (see above) */
    int pending;                /* the first record is scikit-learn's line if the rows are
                                   of another width, else the first data row */
    int mismatch;               /* the header has another width than the rows (sk only) */
    int W, L;                   /* columns of every row and the label's; W = 0 before a row */
    long rows;
    float *x;
    size_t xcap;                /* floats */
    float *yv;                  /* labels as numbers, NaN when not one */
    uint32_t *yid;              /* labels as entries of tab, while interning */
    size_t ycap;                /* rows */
    int interning;              /* the label texts are kept (dropped when too many) */
    struct intern tab;
    int has_text;               /* some label is not a number */
    long nf_row, nf_line;       /* the first label that is a number but not a finite float */
    char nf_text[64];
    int failed;
    struct csv_error err;
};

/* A message about a row's field: "row R (line L), column C 'name': ...". */
static int row_err(struct csv_dataset *c, int status, long row, long line, int col,
                   const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static int row_err(struct csv_dataset *c, int status, long row, long line, int col,
                   const char *fmt, ...)
{
    char msg[400], name[120] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (col >= 0 && c->has_header && !c->mismatch && col < c->nhdr) {
        char e[100];
        csv_echo(e, sizeof e, c->hdr[col], strlen(c->hdr[col]), 60);
        snprintf(name, sizeof name, " '%s'", e);
    }
    char where[64] = "";
    if (col >= 0)
        snprintf(where, sizeof where, ", column %d", col);
    set_err(&c->err, status, row, line, col, "row %ld (line %ld)%s%s: %s", row, line, where,
            name, msg);
    if (col >= 0)
        snprintf(c->err.pointer, sizeof c->err.pointer, "/rows/%ld/columns/%d", row, col);
    else
        snprintf(c->err.pointer, sizeof c->err.pointer, "/rows/%ld", row);
    c->failed = 1;
    return -1;
}

static int header_err(struct csv_dataset *c, int status, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int header_err(struct csv_dataset *c, int status, int col, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (col >= 0) {
        set_err(&c->err, status, -1, c->hdr_line, col, "the header (line %ld), column %d: %s",
                c->hdr_line, col, msg);
        snprintf(c->err.pointer, sizeof c->err.pointer, "/header/columns/%d", col);
    } else {
        set_err(&c->err, status, -1, c->hdr_line, -1, "the header (line %ld): %s", c->hdr_line,
                msg);
        snprintf(c->err.pointer, sizeof c->err.pointer, "/header");
    }
    c->failed = 1;
    return -1;
}

static int param_err(struct csv_dataset *c, int status, const char *param, const char *fmt,
                     ...) __attribute__((format(printf, 4, 5)));
static int param_err(struct csv_dataset *c, int status, const char *param, const char *fmt,
                     ...)
{
    va_list ap;
    va_start(ap, fmt);
    memset(&c->err, 0, sizeof c->err);
    c->err.status = status;
    c->err.row = -1;
    c->err.column = -1;
    vsnprintf(c->err.detail, sizeof c->err.detail, fmt, ap);
    va_end(ap);
    snprintf(c->err.parameter, sizeof c->err.parameter, "%s", param);
    c->failed = 1;
    return -1;
}

static int all_digits(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

/* Is the field text that is not a number (and not empty)? */
static int is_text(const char *s, size_t n)
{
    double v;
    return n > 0 && !csv_number(s, n, &v);
}

/* The first record's fields become the header's (copies, lens kept). */
static int keep_first(struct csv_dataset *c, char **f, const size_t *lens, int n)
{
    c->hdr = calloc((size_t)n, sizeof *c->hdr);
    c->hlen = calloc((size_t)n, sizeof *c->hlen);
    if (!c->hdr || !c->hlen)
        return header_err(c, 413, -1, "out of memory");
    c->nhdr = n;
    for (int i = 0; i < n; i++) {
        if (!(c->hdr[i] = malloc(lens[i] + 1)))
            return header_err(c, 413, -1, "out of memory");
        memcpy(c->hdr[i], f[i], lens[i] + 1);
        c->hlen[i] = lens[i];
    }
    return 0;
}

/* The kept first record is the header: its names must be text. */
static int take_header(struct csv_dataset *c)
{
    c->has_header = 1;
    for (int i = 0; i < c->nhdr; i++)
        if (!csv_utf8(c->hdr[i], c->hlen[i]))
            return header_err(c, 422, i, "the name is not valid UTF-8 text");
    return 0;
}

/* Finds ?label= by name in the header. */
static int find_label(struct csv_dataset *c)
{
    int found = -1, n = c->nhdr;
    for (int i = 0; i < n; i++) {
        if (strcmp(c->hdr[i], c->label_name) != 0)
            continue;
        if (found >= 0)
            return param_err(c, 422, "label", "?label=%s: columns %d and %d both have that "
                             "name; give the label's 0-based index instead", c->label_text,
                             found, i);
        found = i;
    }
    if (found < 0) {
        char names[300] = "";
        for (int i = 0; i < n && strlen(names) < 200; i++) {
            char e[64];
            csv_echo(e, sizeof e, c->hdr[i], c->hlen[i], 40);
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s'%s'",
                     i ? ", " : "", e);
        }
        return param_err(c, 422, "label", "?label=%s: the header has no such column; its "
                         "columns are %s%s", c->label_text, names,
                         strlen(names) >= 200 ? ", ..." : "");
    }
    c->label_index = found;
    return 0;
}

/* The first record: returns 0 when it is taken (a header, or pending), 1 when it is the
 * first data row, -1 on an error. */
static int first_record(struct csv_dataset *c, char **f, const size_t *lens, int n, long line)
{
    int header = 0;
    c->seen_first = 1;
    c->hdr_line = line;
    if (c->header_mode == CSV_HEADER_NO) {
        if (c->label_name)
            return param_err(c, 400, "label", "?label=%s names a column, but ?header=false "
                             "says there is no header: give the label's 0-based index",
                             c->label_text);
    } else if (c->header_mode == CSV_HEADER_YES || c->label_name) {
        header = 1;
    } else {
        long L0 = c->label_index >= 0 ? c->label_index : n - 1;
        for (int i = 0; i < n && !header; i++)
            header = i != L0 && is_text(f[i], lens[i]);
        c->sk = n >= 3 && n - 2 <= DATASET_MAX_CLASSES && all_digits(f[0]) &&
                all_digits(f[1]) && lens[0] < 10 && lens[1] < 10;
        for (int i = 2; i < n && c->sk; i++)
            c->sk = is_text(f[i], lens[i]);
    }
    if (!header && !c->sk)
        return 1;
    if (keep_first(c, f, lens, n) < 0)
        return -1;
    if (!header) {
        c->pending = 1;
        return 0;
    }
    if (take_header(c) < 0 || (c->label_name && find_label(c) < 0))
        return -1;
    return 0;
}

/* Grows x and the label arrays for one more row. */
static int grow(struct csv_dataset *c, long row, long line)
{
    if ((size_t)(c->rows + 1) * (size_t)(c->W - 1) > (size_t)DATASET_MAX_VALUES ||
        c->rows == INT_MAX)
        return row_err(c, 413, row, line, -1, "the dataset is over %ld values, the most one "
                       "dataset holds (1 GB of float32)", DATASET_MAX_VALUES);
    size_t need = (size_t)(c->rows + 1) * (size_t)(c->W - 1);
    if (need > c->xcap) {
        size_t cap = c->xcap ? c->xcap + c->xcap / 2 : 4096;
        if (cap < need)
            cap = need;
        float *x = realloc(c->x, cap * sizeof *x);
        if (!x)
            return row_err(c, 413, row, line, -1, "out of memory for the dataset");
        c->x = x;
        c->xcap = cap;
    }
    if ((size_t)c->rows + 1 > c->ycap) {
        size_t cap = c->ycap ? c->ycap + c->ycap / 2 : 1024;
        float *y = realloc(c->yv, cap * sizeof *y);
        if (!y)
            return row_err(c, 413, row, line, -1, "out of memory for the dataset");
        c->yv = y;
        if (c->interning) {
            uint32_t *id = realloc(c->yid, cap * sizeof *id);
            if (!id)
                return row_err(c, 413, row, line, -1, "out of memory for the dataset");
            c->yid = id;
        }
        c->ycap = cap;
    }
    return 0;
}

/* Takes a row's label. */
static int add_label(struct csv_dataset *c, const char *s, size_t n, long row, long line)
{
    double v;
    if (csv_number(s, n, &v)) {
        float f = (float)v;
        c->yv[c->rows] = f;
        if (!isfinite(f) && c->nf_row < 0) {
            c->nf_row = row;
            c->nf_line = line;
            csv_echo(c->nf_text, sizeof c->nf_text, s, n, 40);
        }
    } else {
        char e[64];
        csv_echo(e, sizeof e, s, n, 40);
        int blank = 1;
        for (size_t i = 0; i < n && blank; i++)
            blank = s[i] == ' ' || s[i] == '\t';
        if (blank)
            return row_err(c, 422, row, line, c->L, "the label is empty");
        if (!c->interning)
            return row_err(c, 422, row, line, c->L, "'%s' is not a number, and the label "
                           "column has more than %d distinct values: too many to be class "
                           "names", e, DATASET_MAX_CLASSES);
        if (!csv_utf8(s, n))
            return row_err(c, 422, row, line, c->L, "the label '%s' is not valid UTF-8 text",
                           e);
        c->yv[c->rows] = NAN;
        c->has_text = 1;
    }
    if (c->interning) {
        long id = intern(&c->tab, s, n);
        if (id == -1)
            return row_err(c, 413, row, line, c->L, "out of memory for the labels");
        if (id == -2) {
            if (c->has_text)
                return row_err(c, 422, row, line, c->L, "the label column has more than %d "
                               "distinct values, too many to be class names (and not all "
                               "are numbers)", DATASET_MAX_CLASSES);
            free(c->yid);   /* all numbers so far: regression, no classes needed */
            c->yid = NULL;
            c->interning = 0;
            intern_free(&c->tab);
            return 0;
        }
        c->yid[c->rows] = (uint32_t)id;
    }
    return 0;
}

/* The first data row sets the width and the label's column. */
static int first_row(struct csv_dataset *c, int n, long row, long line)
{
    c->W = n;
    if (c->has_header && c->nhdr != n) {
        if (!c->sk)
            return row_err(c, 422, row, line, -1, "%d columns, but the header has %d", n,
                           c->nhdr);
        c->mismatch = 1;   /* only right if the header is scikit-learn's layout */
    }
    long L = c->label_index >= 0 ? c->label_index : n - 1;
    if (L >= n)
        return param_err(c, 422, "label", "?label=%s: there is no such column; the rows have "
                         "%d columns, 0 to %d", c->label_text, n, n - 1);
    c->L = (int)L;
    if (n < 2)
        return row_err(c, 422, row, line, -1, "one column only: a dataset needs at least one "
                       "feature column besides the label column");
    c->interning = 1;
    return 0;
}

/* One data row: its features appended to x, its label taken. */
static int data_row(struct csv_dataset *c, char **f, const size_t *lens, int n, long row,
                    long line)
{
    if (c->W == 0 && first_row(c, n, row, line) < 0)
        return -1;
    if (n != c->W)
        return row_err(c, 422, row, line, -1, "%d columns, but %s %d", n,
                       c->has_header && !c->mismatch ? "the header and the rows before have"
                                                      : "the rows before have", c->W);
    if (grow(c, row, line) < 0)
        return -1;
    float *xr = c->x + (size_t)c->rows * (size_t)(c->W - 1);
    for (int i = 0, k = 0; i < n; i++) {
        if (i == c->L)
            continue;
        double v;
        float fv;
        if (csv_number(f[i], lens[i], &v) && isfinite(fv = (float)v)) {
            xr[k++] = fv;
            continue;
        }
        char e[64];
        csv_echo(e, sizeof e, f[i], lens[i], 40);
        if (lens[i] == 0)
            return row_err(c, 422, row, line, i, "the field is empty, not a number");
        if (!csv_number(f[i], lens[i], &v))
            return row_err(c, 422, row, line, i, "'%s' is not a number", e);
        return isfinite(v) ? row_err(c, 422, row, line, i, "%s is outside the range of float32 "
                                     "(about 3.4e38)", e)
                           : row_err(c, 422, row, line, i, "'%s' is not a finite number", e);
    }
    if (add_label(c, f[c->L], lens[c->L], row, line) < 0)
        return -1;
    c->rows++;
    return 0;
}

/* The reader's callback: the header, or a data row. */
static int on_record(void *ctx, char **f, const size_t *lens, int n, long record, long line,
                     struct csv_error *err)
{
    struct csv_dataset *c = ctx;
    int rc = 0;
    if (record == 0 && (rc = first_record(c, f, lens, n, line)) <= 0)
        goto out;   /* the header taken, pending, or an error */
    if (c->pending) {   /* rows of another width: the first line was scikit-learn's */
        c->pending = 0;
        if (n != c->nhdr) {
            rc = take_header(c);
        } else {
            c->sk = 0;
            rc = data_row(c, c->hdr, c->hlen, c->nhdr, 0, c->hdr_line);
        }
        if (rc < 0)
            goto out;
    }
    rc = data_row(c, f, lens, n, record - c->has_header, line);
out:
    if (rc < 0)
        *err = c->err;
    return rc < 0 ? -1 : 0;
}

struct csv_dataset *csv_dataset_new(const char *label, enum csv_header header,
                                    struct csv_error *err)
{
    struct csv_dataset *c = calloc(1, sizeof *c);
    if (!c || !(c->rd = csv_reader_new(on_record, c))) {
        free(c);
        set_err(err, 413, -1, 0, -1, "out of memory");
        return NULL;
    }
    c->header_mode = header;
    c->label_index = -1;
    c->nf_row = -1;
    if (label) {
        csv_echo(c->label_text, sizeof c->label_text, label, strlen(label), 60);
        if (!*label) {
            param_err(c, 400, "label", "?label= is empty: give a column name or a 0-based "
                      "index, or leave it out for the last column");
            *err = c->err;
            csv_dataset_free(c);
            return NULL;
        }
        if (label[0] == '-' && all_digits(label + 1)) {
            param_err(c, 400, "label", "?label=%s: a column index counts from 0, the first "
                      "column; leave ?label= out for the last", c->label_text);
            *err = c->err;
            csv_dataset_free(c);
            return NULL;
        }
        if (all_digits(label)) {
            errno = 0;
            long v = strtol(label, NULL, 10);
            c->label_index = errno || v > INT_MAX ? INT_MAX : v;
        } else if (!(c->label_name = strdup(label))) {
            set_err(err, 413, -1, 0, -1, "out of memory");
            csv_dataset_free(c);
            return NULL;
        }
    }
    return c;
}

void csv_dataset_free(struct csv_dataset *c)
{
    if (!c)
        return;
    csv_reader_free(c->rd);
    free(c->label_name);
    for (int i = 0; c->hdr && i < c->nhdr; i++)
        free(c->hdr[i]);
    free(c->hdr);
    free(c->hlen);
    free(c->x);
    free(c->yv);
    free(c->yid);
    intern_free(&c->tab);
    free(c);
}

/* The reader failed with err. Unless the builder failed first (its error is the one),
 * places the reader's syntax error in the rows or the header. Fills err; returns -1. */
static int place(struct csv_dataset *c, struct csv_error *err)
{
    if (!c->failed) {
        long row = err->row - c->has_header;
        char what[sizeof err->detail];
        snprintf(what, sizeof what, "%s", err->detail);
        if (row < 0 && c->has_header)
            header_err(c, err->status, err->column, "%s", what);
        else
            row_err(c, err->status, row, err->line, err->column, "%s", what);
    }
    *err = c->err;
    return -1;
}

int csv_dataset_feed(struct csv_dataset *c, const char *data, size_t len,
                     struct csv_error *err)
{
    if (c->failed) {
        *err = c->err;
        return -1;
    }
    return csv_reader_feed(c->rd, data, len, err) == 0 ? 0 : place(c, err);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted class names from texts[0..k), and rank[i] = the place of texts[i] in them. Returns
 * the names (new) or NULL when out of memory. */
static json_t *sorted_classes(char **texts, uint32_t k, uint32_t *rank)
{
    char **sorted = malloc((k ? k : 1) * sizeof *sorted);
    json_t *classes = json_array();
    if (!sorted || !classes) {
        free(sorted);
        json_decref(classes);
        return NULL;
    }
    memcpy(sorted, texts, k * sizeof *sorted);
    qsort(sorted, k, sizeof *sorted, cmp_str);
    for (uint32_t i = 0; i < k; i++) {
        char **at = bsearch(&texts[i], sorted, k, sizeof *sorted, cmp_str);
        rank[i] = (uint32_t)(at - sorted);
    }
    for (uint32_t i = 0; i < k; i++)
        if (json_array_append_new(classes, json_string(sorted[i])) < 0) {
            json_decref(classes);
            classes = NULL;
            break;
        }
    free(sorted);
    return classes;
}

/* Does the header have scikit-learn's layout (see the top of this file)? Then sets the
 * labels to those class names and returns 1; 0 when it does not; -1 out of memory. */
static int sklearn_layout(struct csv_dataset *c, struct dataset_build *out)
{
    if (!c->sk || c->has_text || c->L != c->W - 1 || strtol(c->hdr[0], NULL, 10) != c->rows ||
        strtol(c->hdr[1], NULL, 10) != c->W - 1)
        return 0;
    uint32_t k = (uint32_t)(c->nhdr - 2);
    for (long i = 0; i < c->rows; i++) {
        float v = c->yv[i];
        if (!(v >= 0 && v < (float)k && v == floorf(v)))
            return 0;
    }
    char **names = c->hdr + 2;
    char **sorted = malloc(k * sizeof *sorted);
    uint32_t *rank = malloc(k * sizeof *rank);
    if (!sorted || !rank) {
        free(sorted);
        free(rank);
        return -1;
    }
    memcpy(sorted, names, k * sizeof *sorted);
    qsort(sorted, k, sizeof *sorted, cmp_str);
    int distinct = 1;
    for (uint32_t i = 1; i < k && distinct; i++)
        distinct = strcmp(sorted[i - 1], sorted[i]) != 0;
    free(sorted);
    if (!distinct) {
        free(rank);
        return 0;
    }
    json_t *classes = sorted_classes(names, k, rank);
    if (!classes) {
        free(rank);
        return -1;
    }
    for (long i = 0; i < c->rows; i++)
        c->yv[i] = (float)rank[(uint32_t)c->yv[i]];
    free(rank);
    out->d.classes = classes;
    snprintf(out->d.label_kind, sizeof out->d.label_kind, "classes");
    return 1;
}

int csv_dataset_end(struct csv_dataset *c, struct dataset_build *out, struct csv_error *err)
{
    memset(out, 0, sizeof *out);
    if (c->failed) {
        *err = c->err;
        return -1;
    }
    if (csv_reader_end(c->rd, err) < 0)
        return place(c, err);
    if (!c->seen_first) {
        set_err(err, 422, -1, 0, -1, "the CSV is empty: no rows");
        return -1;
    }
    if (c->pending) {   /* one record only: it is data */
        c->pending = 0;
        c->sk = 0;
        if (data_row(c, c->hdr, c->hlen, c->nhdr, 0, c->hdr_line) < 0) {
            *err = c->err;
            return -1;
        }
    }
    if (c->rows == 0) {
        set_err(err, 422, -1, 0, -1, "the CSV has a header but no data rows");
        snprintf(err->pointer, sizeof err->pointer, "/rows");
        return -1;
    }
    int sk = sklearn_layout(c, out);
    if (sk < 0)
        goto oom;
    if (!sk && c->mismatch) {
        header_err(c, 422, -1, "%d columns, but the rows have %d", c->nhdr, c->W);
        *err = c->err;
        return -1;
    }
    if (!sk && c->has_text) {
        uint32_t k = c->tab.n;
        char **texts = malloc((k ? k : 1) * sizeof *texts);
        uint32_t *rank = malloc((k ? k : 1) * sizeof *rank);
        if (texts && rank) {
            for (uint32_t i = 0; i < k; i++)
                texts[i] = c->tab.pool + c->tab.off[i];
            out->d.classes = sorted_classes(texts, k, rank);
        }
        if (out->d.classes)
            for (long i = 0; i < c->rows; i++)
                c->yv[i] = (float)rank[c->yid[i]];
        free(texts);
        free(rank);
        if (!out->d.classes)
            goto oom;
        snprintf(out->d.label_kind, sizeof out->d.label_kind, "classes");
    } else if (!sk) {
        if (c->nf_row >= 0) {
            row_err(c, 422, c->nf_row, c->nf_line, c->L, "the label '%s' is not a finite "
                    "float32 number", c->nf_text);
            *err = c->err;
            return -1;
        }
        snprintf(out->d.label_kind, sizeof out->d.label_kind, "numbers");
        out->d.classes = dataset_number_classes(c->yv, c->rows);
    }
    int F = c->W - 1;
    out->columns = json_array();
    if (!out->columns)
        goto oom;
    for (int i = 0; i < c->W; i++) {
        if (i == c->L)
            continue;
        char gen[24];
        snprintf(gen, sizeof gen, "x%d", i - (i > c->L));
        const char *name = c->has_header && !sk ? c->hdr[i] : gen;
        if (json_array_append_new(out->columns, json_string(name)) < 0)
            goto oom;
    }
    out->label_column = c->has_header && !sk ? json_string(c->hdr[c->L]) : json_integer(c->L);
    if (!out->label_column)
        goto oom;
    out->d.rows = (int)c->rows;
    out->d.features = F;
    out->d.label_cols = 1;
    /* hand the arrays over, trimmed to size */
    float *x = realloc(c->x, (size_t)c->rows * (size_t)F * sizeof *x);
    out->d.x = x ? x : c->x;
    c->x = NULL;
    float *y = realloc(c->yv, (size_t)c->rows * sizeof *y);
    out->d.y = y ? y : c->yv;
    c->yv = NULL;
    return 0;
oom:
    dataset_build_free(out);
    set_err(err, 413, -1, 0, -1, "out of memory for the dataset");
    return -1;
}
