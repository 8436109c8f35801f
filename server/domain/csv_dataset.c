/* csv_dataset.c -- a dataset built from CSV as it streams in (domain.h), on the reader of
 * format.h.
 *
 * DESIGN. The builder is the reader's callback: the first record decides whether there
 * is a header; each data row becomes floats appended to x, and its label a float (NaN
 * when it is not a number) plus, while the distinct label texts are few enough to be
 * class names, an index into a table of them. At the end the labels are numbers when
 * every one was a number, else class names (each label's text, sorted). Nothing keeps
 * the raw body.
 *
 * scikit-learn's CSVs (iris, wine, breast_cancer) start with a line "n_samples,
 * n_features,class names..." instead of column names, and their label column holds
 * class indices. With header detection on (the default) such a first line is taken for
 * that layout when, at the end, the counts match the data and every label is an index of
 * a name: the labels then become those class names and the features x0, x1, ...
 */
#include "domain.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

#define SNIFF_BYTES 64          /* past them, a body that has not started as JSON is CSV */

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
    long max_values;            /* of x and y together */
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
    size_t fed;                 /* bytes of the body so far */
    int line_break;             /* a CR or LF was among them */
    char sniff[SNIFF_BYTES];    /* the body's first bytes, held until it is known whether */
    size_t nsniff;              /* it starts as JSON does (looks_like_json) */
    int sniffed;                /* known: the held bytes went to the reader */
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
        text_echo(e, sizeof e, c->hdr[col], strlen(c->hdr[col]), 60);
        snprintf(name, sizeof name, " '%s'", e);
    }
    char where[64] = "";
    if (col >= 0)
        snprintf(where, sizeof where, ", column %d", col);
    csv_error_set(&c->err, status, row, line, col, "row %ld (line %ld)%s%s: %s", row, line, where,
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
        csv_error_set(&c->err, status, -1, c->hdr_line, col, "the header (line %ld), column %d: %s",
                c->hdr_line, col, msg);
        snprintf(c->err.pointer, sizeof c->err.pointer, "/header/columns/%d", col);
    } else {
        csv_error_set(&c->err, status, -1, c->hdr_line, -1, "the header (line %ld): %s",
                      c->hdr_line,
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
    return n > 0 && !text_number(s, n, &v);
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
        if (!utf8_valid(c->hdr[i], c->hlen[i]))
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
            text_echo(e, sizeof e, c->hdr[i], c->hlen[i], 40);
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
    /* W values a row once stored: W - 1 features and the label */
    if ((size_t)(c->rows + 1) * (size_t)c->W > (size_t)c->max_values || c->rows == INT_MAX)
        return row_err(c, 413, row, line, -1, "the dataset is over %ld values (features and "
                       "labels), the most one dataset holds (--max-dataset-values)",
                       c->max_values);
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
    if (text_number(s, n, &v)) {
        float f = (float)v;
        c->yv[c->rows] = f;
        if (!isfinite(f) && c->nf_row < 0) {
            c->nf_row = row;
            c->nf_line = line;
            text_echo(c->nf_text, sizeof c->nf_text, s, n, 40);
        }
    } else {
        char e[64];
        text_echo(e, sizeof e, s, n, 40);
        int blank = 1;
        for (size_t i = 0; i < n && blank; i++)
            blank = s[i] == ' ' || s[i] == '\t';
        if (blank)
            return row_err(c, 422, row, line, c->L, "the label is empty");
        if (!c->interning)
            return row_err(c, 422, row, line, c->L, "'%s' is not a number, and the label "
                           "column has more than %d distinct values: too many to be class "
                           "names", e, DATASET_MAX_CLASSES);
        if (!utf8_valid(s, n))
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
        if (text_number(f[i], lens[i], &v) && isfinite(fv = (float)v)) {
            xr[k++] = fv;
            continue;
        }
        char e[64];
        text_echo(e, sizeof e, f[i], lens[i], 40);
        if (lens[i] == 0)
            return row_err(c, 422, row, line, i, "the field is empty, not a number");
        if (!text_number(f[i], lens[i], &v))
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
                                    long max_values, struct csv_error *err)
{
    struct csv_dataset *c = calloc(1, sizeof *c);
    if (!c || !(c->rd = csv_reader_new(on_record, c))) {
        free(c);
        csv_error_set(err, 413, -1, 0, -1, "out of memory");
        return NULL;
    }
    c->header_mode = header;
    c->max_values = max_values;
    c->label_index = -1;
    c->nf_row = -1;
    if (label) {
        text_echo(c->label_text, sizeof c->label_text, label, strlen(label), 60);
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
            csv_error_set(err, 413, -1, 0, -1, "out of memory");
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

/* Does the body, of which s holds the first n bytes, start as JSON does ({"..." or {}
 * or [[ or [{, after a BOM and white space)? 1 yes, 0 no, -1 not known yet: all of s is
 * the start of a BOM, white space, or an opening bracket and white space. A CSV's first
 * field could not start so. */
static int looks_like_json(const char *s, size_t n)
{
    static const char bom[] = "\xef\xbb\xbf";
    size_t i = 0;
    while (i < n && i < 3 && s[i] == bom[i])
        i++;
    if (i == n && i < 3)
        return -1;   /* a BOM's start, so far */
    if (i < 3)
        i = 0;
    while (i < n && s[i] && strchr(" \t\r\n", s[i]))   /* strchr finds a NUL too */
        i++;
    if (i >= n)
        return -1;
    if (s[i] != '{' && s[i] != '[')
        return 0;
    char open = s[i++];
    while (i < n && s[i] && strchr(" \t\r\n", s[i]))
        i++;
    if (i >= n)
        return -1;
    return open == '{' ? s[i] == '"' || s[i] == '}' : s[i] == '[' || s[i] == '{';
}

/* Gives the reader what it is fed, once the held first bytes are known not to start JSON
 * (the decision, and so the answer, does not depend on how the body is cut in pieces). */
static int feed_reader(struct csv_dataset *c, const char *data, size_t len,
                       struct csv_error *err)
{
    c->line_break = c->line_break || memchr(data, '\n', len) || memchr(data, '\r', len);
    return csv_reader_feed(c->rd, data, len, err) == 0 ? 0 : place(c, err);
}

/* The held bytes go to the reader: the body is CSV as far as JSON is concerned. */
static int sniff_done(struct csv_dataset *c, struct csv_error *err)
{
    c->sniffed = 1;
    return c->nsniff ? feed_reader(c, c->sniff, c->nsniff, err) : 0;
}

int csv_dataset_feed(struct csv_dataset *c, const char *data, size_t len,
                     struct csv_error *err)
{
    if (c->failed) {
        *err = c->err;
        return -1;
    }
    c->fed += len;
    if (!c->sniffed) {
        size_t take = len < SNIFF_BYTES - c->nsniff ? len : SNIFF_BYTES - c->nsniff;
        memcpy(c->sniff + c->nsniff, data, take);
        c->nsniff += take;
        data += take, len -= take;
        int json = looks_like_json(c->sniff, c->nsniff);
        if (json == 1) {
            csv_error_set(&c->err, 415, -1, 0, -1, "the body is sent as text/csv but looks "
                          "like JSON: send it with Content-Type: application/json");
            c->failed = 1;
            *err = c->err;
            return -1;
        }
        if (json == -1 && c->nsniff < SNIFF_BYTES)
            return 0;   /* all of it held: more must come to know */
        if (sniff_done(c, err) < 0)
            return -1;
    }
    return len ? feed_reader(c, data, len, err) : 0;
}

/* Does the header have scikit-learn's layout (see the top of this file)? Then sets the
 * labels to those class names and returns 1; 0 when it does not; -1 out of memory. */
static int sklearn_layout(struct csv_dataset *c, struct dataset *out)
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
    uint32_t *rank = malloc(k * sizeof *rank);
    json_t *classes = NULL;
    long distinct = rank ? classes_rank(c->hdr + 2, k, k, rank, &classes) : -1;
    if (distinct < 0) {
        free(rank);
        return -1;
    }
    if (distinct != k) {   /* the names repeat: not that layout */
        json_decref(classes);
        free(rank);
        return 0;
    }
    for (long i = 0; i < c->rows; i++)
        c->yv[i] = (float)rank[(uint32_t)c->yv[i]];
    free(rank);
    out->classes = classes;
    out->label_kind = LABELS_CLASSES;
    return 1;
}

static int dataset_end(struct csv_dataset *c, struct dataset *out, struct csv_error *err);

int csv_dataset_end(struct csv_dataset *c, struct dataset *out, struct csv_error *err)
{
    /* a body of one line of 64 bytes or more was most likely a file whose line breaks
     * curl's -d (--data) dropped: its rows, run together, would make one wrong row */
    static const char hint[] = "the body has no line break: curl -d drops them from a "
                               "file; send it with --data-binary @file.csv";
    if (!c->failed && !c->sniffed && sniff_done(c, err) < 0)
        return -1;   /* a body too short to tell: CSV */
    int one_line = !c->line_break && c->fed >= 64;
    if (dataset_end(c, out, err) == 0) {
        if (!one_line || out->rows != 1)
            return 0;
        dataset_free(out);
        csv_error_set(err, 422, -1, 0, -1, "one row of %ld bytes and %d columns: %s",
                      (long)c->fed, c->W, hint);
        snprintf(err->pointer, sizeof err->pointer, "/rows");
        return -1;
    }
    size_t n = strlen(err->detail);
    if (one_line && err->status != 413 && n + 1 < sizeof err->detail)
        snprintf(err->detail + n, sizeof err->detail - n, " (%s)", hint);
    return -1;
}

static int dataset_end(struct csv_dataset *c, struct dataset *out, struct csv_error *err)
{
    memset(out, 0, sizeof *out);
    if (c->failed) {
        *err = c->err;
        return -1;
    }
    if (csv_reader_end(c->rd, err) < 0)
        return place(c, err);
    if (!c->seen_first) {
        csv_error_set(err, 422, -1, 0, -1, "the CSV is empty: no rows");
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
        csv_error_set(err, 422, -1, 0, -1, "the CSV has a header but no data rows");
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
            if (classes_rank(texts, k, k, rank, &out->classes) < 0)
                out->classes = NULL;
        }
        if (out->classes)
            for (long i = 0; i < c->rows; i++)
                c->yv[i] = (float)rank[c->yid[i]];
        free(texts);
        free(rank);
        if (!out->classes)
            goto oom;
        out->label_kind = LABELS_CLASSES;
    } else if (!sk) {
        if (c->nf_row >= 0) {
            row_err(c, 422, c->nf_row, c->nf_line, c->L, "the label '%s' is not a finite "
                    "float32 number", c->nf_text);
            *err = c->err;
            return -1;
        }
        out->label_kind = LABELS_NUMBERS;
        out->classes = dataset_number_classes(c->yv, c->rows);
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
    out->rows = (int)c->rows;
    out->features = F;
    out->label_cols = 1;
    /* hand the arrays over, trimmed to size */
    float *x = realloc(c->x, (size_t)c->rows * (size_t)F * sizeof *x);
    out->x = x ? x : c->x;
    c->x = NULL;
    float *y = realloc(c->yv, (size_t)c->rows * sizeof *y);
    out->y = y ? y : c->yv;
    c->yv = NULL;
    return 0;
oom:
    dataset_free(out);
    csv_error_set(err, 413, -1, 0, -1, "out of memory for the dataset");
    return -1;
}
