/* fuzz_csv.c -- server/format/csv.c and server/domain/csv_dataset.c, the CSV of dataset
 * uploads (and of predictions, which use its reader), on arbitrary bodies.
 *
 * Checks that the reader and the dataset builder give exactly the same result however
 * the body is split: whole, at up to 7 points the input chooses, and one byte at a time
 * (the same records, or the same error with its row, line and column; the same dataset,
 * every float bit for bit). Also that every record has n >= 1 NUL-terminated fields,
 * numbered from 0 in order on non-decreasing lines; that the records read, written back
 * as RFC 4180 (every field quoted, LF and CRLF endings), read back as the same fields;
 * that after an error (a syntax error, or one the callback returns at a record the input
 * chooses) every later call fails with the same error; that errors have a 400/413/422
 * status and a detail; and that a dataset has rows, features, finite x, and labels that
 * fit its kind (class indices in range, class names sorted and printable as JSON).
 *
 * Input: byte 0 = options (bits 0-1 ?header= auto/true/false/auto, bit 2 ?label= given,
 * bits 3-5 the number of cuts, bit 6 the reader's callback fails at a record); then the
 * label up to '\n' when given; then 2 bytes per cut (a position in the body, modulo its
 * length + 1); then 1 byte (the failing record) when bit 6 is set; the rest is the body.
 */
#include "fuzz.h"

#include "domain/domain.h"

#include <math.h>
#include <string.h>

/* ---- a growing byte string ---- */

struct buf {
    unsigned char *p;
    size_t len, cap;
};

static void put(struct buf *b, const void *s, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        CHECK(b->p);
    }
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void put_long(struct buf *b, long v) { put(b, &v, sizeof v); }

static int same(const struct buf *a, const struct buf *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

/* ---- the input ---- */

struct input {
    enum csv_header header;
    char label[48];
    int has_label;
    size_t cuts[8];
    int ncuts;
    int fail_at;                 /* the reader's callback fails at this record; -1 never */
    const char *body;
    size_t len;
};

static int parse_input(const uint8_t *d, size_t n, struct input *in)
{
    memset(in, 0, sizeof *in);
    if (n < 1)
        return -1;
    uint8_t opt = d[0];
    size_t at = 1;
    static const enum csv_header modes[4] = {CSV_HEADER_AUTO, CSV_HEADER_YES, CSV_HEADER_NO,
                                             CSV_HEADER_AUTO};
    in->header = modes[opt & 3];
    if (opt & 4) {   /* ?label=: a C string, as the query string gives it */
        size_t k = 0;
        while (at < n && d[at] != '\n' && d[at] != 0 && k + 1 < sizeof in->label)
            in->label[k++] = (char)d[at++];
        in->label[k] = 0;
        at += at < n;   /* the '\n' */
        in->has_label = 1;
    }
    in->ncuts = (opt >> 3) & 7;
    size_t cutpos[8];
    for (int i = 0; i < in->ncuts; i++) {
        if (n - at < 2)
            return -1;
        cutpos[i] = (size_t)d[at] | (size_t)d[at + 1] << 8;
        at += 2;
    }
    in->fail_at = -1;
    if (opt & 64) {
        if (at >= n)
            return -1;
        in->fail_at = d[at++];
    }
    in->body = (const char *)d + at;
    in->len = n - at;
    for (int i = 0; i < in->ncuts; i++)   /* ascending, within the body */
        in->cuts[i] = cutpos[i] % (in->len + 1);
    for (int i = 1; i < in->ncuts; i++)
        for (int j = i; j > 0 && in->cuts[j - 1] > in->cuts[j]; j--) {
            size_t t = in->cuts[j];
            in->cuts[j] = in->cuts[j - 1];
            in->cuts[j - 1] = t;
        }
    return 0;
}

/* The pieces of a split: WHOLE, the input's CUTS, or BYTES one at a time. */
enum split { WHOLE, CUTS, BYTES };

static size_t piece_end(const struct input *in, enum split how, int i, size_t from)
{
    if (how == WHOLE)
        return in->len;
    if (how == BYTES)
        return from < in->len ? from + 1 : in->len;
    return i < in->ncuts ? in->cuts[i] : in->len;
}

static int npieces(const struct input *in, enum split how)
{
    return how == WHOLE ? 1 : how == CUTS ? in->ncuts + 1 : (int)(in->len ? in->len : 1);
}

/* Does the body start as a JSON document of objects or arrays would ({" {} [[ [{), after
 * a BOM and white space? Then, and only then, it may be refused with 415. */
static int json_like(const struct input *in)
{
    const char *s = in->body;
    size_t n = in->len, i = n >= 3 && !memcmp(s, "\xef\xbb\xbf", 3) ? 3 : 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
        i++;
    if (i + 1 >= n || (s[i] != '{' && s[i] != '['))
        return 0;
    char open = s[i++];
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
        i++;
    return i < n && (open == '{' ? s[i] == '"' || s[i] == '}' : s[i] == '[' || s[i] == '{');
}

static void check_error(const struct csv_error *e, const struct input *in)
{
    CHECK(e->status == 400 || e->status == 413 || e->status == 422 ||
          (e->status == 415 && json_like(in)));
    CHECK(e->detail[0] != 0);
    CHECK(memchr(e->detail, 0, sizeof e->detail) != NULL);
    CHECK(memchr(e->pointer, 0, sizeof e->pointer) != NULL);
    CHECK(e->pointer[0] == 0 || strncmp(e->pointer, "/rows", 5) == 0 ||
          strncmp(e->pointer, "/header", 7) == 0);
}

static int same_error(const struct csv_error *a, const struct csv_error *b)
{
    return a->status == b->status && a->row == b->row && a->line == b->line &&
           a->column == b->column && !strcmp(a->pointer, b->pointer) &&
           !strcmp(a->parameter, b->parameter) && !strcmp(a->detail, b->detail);
}

static void put_error(struct buf *b, const struct csv_error *e)
{
    put_long(b, e->status);
    put_long(b, e->row);
    put_long(b, e->line);
    put_long(b, e->column);
    put(b, e->pointer, strlen(e->pointer) + 1);
    put(b, e->parameter, strlen(e->parameter) + 1);
    put(b, e->detail, strlen(e->detail) + 1);
}

/* ---- the reader ---- */

struct rec_ctx {
    struct buf out;              /* every record, then the outcome */
    struct buf flat;             /* every record's fields, without places */
    struct buf enc;              /* every record written back as RFC 4180, fields quoted */
    long next;                   /* the record expected next */
    long last_line;
    int fail_at;
};

static int on_record(void *p, char **fields, const size_t *lens, int n, long record, long line,
                     struct csv_error *err)
{
    struct rec_ctx *c = p;
    CHECK(n >= 1 && n <= CSV_MAX_COLUMNS);
    CHECK(record == c->next);
    CHECK(line >= 1 && line >= c->last_line);
    c->next++;
    c->last_line = line;
    put_long(&c->out, record);
    put_long(&c->out, line);
    put_long(&c->out, n);
    put_long(&c->flat, n);
    for (int i = 0; i < n; i++) {
        CHECK(lens[i] <= CSV_MAX_FIELD);
        CHECK(fields[i][lens[i]] == 0);
        put_long(&c->out, (long)lens[i]);
        put(&c->out, fields[i], lens[i]);
        put_long(&c->flat, (long)lens[i]);
        put(&c->flat, fields[i], lens[i]);
        put(&c->enc, i ? ",\"" : "\"", i ? 2 : 1);
        for (size_t k = 0; k < lens[i]; k++)
            put(&c->enc, fields[i][k] == '"' ? "\"\"" : &fields[i][k], fields[i][k] == '"' ? 2 : 1);
        put(&c->enc, "\"", 1);
        if (lens[i])
            fields[i][0] = 'X';   /* the callback may write into the fields */
    }
    put(&c->enc, record % 2 ? "\r\n" : "\n", record % 2 ? 2 : 1);
    if (record == c->fail_at) {
        memset(err, 0, sizeof *err);
        err->status = 422;
        err->row = record;
        err->line = line;
        err->column = -1;
        snprintf(err->detail, sizeof err->detail, "stopped at record %ld", record);
        return -1;
    }
    return 0;
}

/* Reads the records that an encoding by the callback gives; they must be `flat`. */
static void read_back(const struct buf *enc, const struct buf *flat)
{
    struct rec_ctx c = {.fail_at = -1, .last_line = 1};
    struct csv_reader *r = csv_reader_new(on_record, &c);
    CHECK(r);
    struct csv_error err;
    CHECK(csv_reader_feed(r, enc->len ? (const char *)enc->p : "", enc->len, &err) == 0);
    CHECK(csv_reader_end(r, &err) == 0);
    CHECK(same(&c.flat, flat));
    csv_reader_free(r);
    free(c.out.p);
    free(c.flat.p);
    free(c.enc.p);
}

static void read_all(const struct input *in, enum split how, struct buf *out)
{
    struct rec_ctx c = {.fail_at = in->fail_at, .last_line = 1};
    struct csv_reader *r = csv_reader_new(on_record, &c);
    CHECK(r);
    struct csv_error err, again;
    int rc = 0;
    size_t from = 0;
    for (int i = 0, n = npieces(in, how); i < n && rc == 0; i++) {
        size_t to = piece_end(in, how, i, from);
        rc = csv_reader_feed(r, in->body + from, to - from, &err);
        from = to;
    }
    if (rc == 0)
        rc = csv_reader_end(r, &err);
    CHECK(rc == 0 || rc == -1);
    put_long(&c.out, rc);
    if (rc < 0) {
        check_error(&err, in);
        put_error(&c.out, &err);
        /* every later call fails with the same error */
        CHECK(csv_reader_feed(r, "1,2\n", 4, &again) == -1);
        CHECK(same_error(&again, &err));
        CHECK(csv_reader_end(r, &again) == -1);
        CHECK(same_error(&again, &err));
    }
    csv_reader_free(r);
    /* the records read, written back as RFC 4180, read back the same */
    if (how == WHOLE)
        read_back(&c.enc, &c.flat);
    free(c.flat.p);
    free(c.enc.p);
    *out = c.out;
}

/* ---- the dataset ---- */

static void build_all(const struct input *in, enum split how, struct buf *out)
{
    struct buf b = {0};
    struct csv_error err, again;
    struct csv_dataset *c = csv_dataset_new(in->has_label ? in->label : NULL, in->header,
                                            DATASET_MAX_VALUES, &err);
    if (!c) {
        check_error(&err, in);
        CHECK(err.parameter[0] != 0);
        put_long(&b, -2);
        put_error(&b, &err);
        *out = b;
        return;
    }
    int rc = 0;
    size_t from = 0;
    for (int i = 0, n = npieces(in, how); i < n && rc == 0; i++) {
        size_t to = piece_end(in, how, i, from);
        rc = csv_dataset_feed(c, in->body + from, to - from, &err);
        from = to;
    }
    int fed = rc == 0;
    struct dataset d;
    if (rc == 0)
        rc = csv_dataset_end(c, &d, &err);
    CHECK(rc == 0 || rc == -1);
    put_long(&b, rc);
    if (rc < 0) {
        check_error(&err, in);
        put_error(&b, &err);
        /* a failed feed: every later call fails alike */
        CHECK(fed || csv_dataset_feed(c, "1,2\n", 4, &again) == -1);
        CHECK(fed || same_error(&again, &err));
        csv_dataset_free(c);
        *out = b;
        return;
    }
    const struct dataset *ds = &d;
    CHECK(ds->rows >= 1 && ds->features >= 1 && ds->label_cols == 1);
    CHECK(ds->x && ds->y);
    for (size_t i = 0; i < (size_t)ds->rows * (size_t)ds->features; i++)
        CHECK(isfinite(ds->x[i]));
    CHECK(json_is_array(d.columns) && json_array_size(d.columns) == (size_t)ds->features);
    CHECK(json_is_string(d.label_column) || json_is_integer(d.label_column));
    if (ds->label_kind == LABELS_CLASSES) {
        size_t k = json_array_size(ds->classes);
        CHECK(json_is_array(ds->classes) && k >= 1);
        for (int i = 0; i < ds->rows; i++)
            CHECK(ds->y[i] >= 0 && ds->y[i] < (float)k && ds->y[i] == floorf(ds->y[i]));
        for (size_t i = 1; i < k; i++)   /* sorted, distinct */
            CHECK(strcmp(json_string_value(json_array_get(ds->classes, i - 1)),
                         json_string_value(json_array_get(ds->classes, i))) < 0);
    } else {
        CHECK(ds->label_kind == LABELS_NUMBERS);
        for (int i = 0; i < ds->rows; i++)
            CHECK(isfinite(ds->y[i]));
    }
    put_long(&b, ds->rows);
    put_long(&b, ds->features);
    put_long(&b, ds->label_kind);
    put(&b, ds->x, sizeof(float) * (size_t)ds->rows * (size_t)ds->features);
    put(&b, ds->y, sizeof(float) * (size_t)ds->rows);
    json_t *all = json_pack("{s:O*, s:O, s:O}", "classes", ds->classes, "columns", d.columns,
                            "label", d.label_column);
    CHECK(all);
    char *text = json_dumps(all, JSON_COMPACT | JSON_ENCODE_ANY);
    CHECK(text);   /* names and classes are valid UTF-8 */
    put(&b, text, strlen(text) + 1);
    free(text);
    json_decref(all);
    dataset_free(&d);
    csv_dataset_free(c);
    *out = b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in;
    if (parse_input(data, size, &in) < 0)
        return 0;
    struct buf whole, cut, bytes;
    read_all(&in, WHOLE, &whole);
    read_all(&in, CUTS, &cut);
    CHECK(same(&whole, &cut));
    if (in.len <= 4096) {
        read_all(&in, BYTES, &bytes);
        CHECK(same(&whole, &bytes));
        free(bytes.p);
    }
    free(whole.p);
    free(cut.p);

    build_all(&in, WHOLE, &whole);
    build_all(&in, CUTS, &cut);
    CHECK(same(&whole, &cut));
    if (in.len <= 4096) {
        build_all(&in, BYTES, &bytes);
        CHECK(same(&whole, &bytes));
        free(bytes.p);
    }
    free(whole.p);
    free(cut.p);
    return 0;
}
