/* test_csv.c -- server/format/csv.c and server/domain/csv_dataset.c: the streaming reader
 * and the dataset builder. Every input is also fed in pieces -- one byte at a time, split in two at every position, and in random
 * pieces -- and must give exactly what it gives whole (records, or the error with its row
 * and column). Expected records, values, rows and columns are written out by hand from
 * RFC 4180 and the rules in csv.h; scikit-learn's copies of the iris, wine and breast
 * cancer data sets (api/examples/) are checked against their known sizes and first rows. */
#include "domain/domain.h"
#include "testutil.h"

#include <check.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SKLEARN_DATA "api/examples/"   /* scikit-learn's CSVs, as it ships them */

/* ---- a growing string ---- */

struct str {
    char *p;
    size_t len, cap;
};

static void sadd(struct str *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sadd(struct str *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (s->len + (size_t)n + 1 > s->cap) {
        s->cap = (s->len + (size_t)n + 1) * 2;
        s->p = realloc(s->p, s->cap);
        ck_assert_ptr_nonnull(s->p);
    }
    va_start(ap, fmt);
    vsnprintf(s->p + s->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    s->len += (size_t)n;
}

/* Appends bytes with anything unprintable (and '|', '\\') escaped as \xNN. */
static void sadd_bytes(struct str *s, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)b[i];
        if (c < 0x20 || c >= 0x7f || c == '|' || c == '\\')
            sadd(s, "\\x%02x", c);
        else
            sadd(s, "%c", c);
    }
}

/* ---- feeding in pieces ---- */

enum split { WHOLE, BYTES, TWO, RANDOM };

/* The pieces of n bytes for a split: cut positions into cuts[] (ascending, excluding 0 and
 * n). at: the position for TWO; seed for RANDOM. Returns how many cuts. */
static size_t cuts_for(enum split how, size_t n, size_t at, unsigned seed, size_t **cuts)
{
    size_t k = 0;
    *cuts = malloc((n + 1) * sizeof **cuts);
    ck_assert_ptr_nonnull(*cuts);
    if (how == BYTES) {
        for (size_t i = 1; i < n; i++)
            (*cuts)[k++] = i;
    } else if (how == TWO) {
        if (at > 0 && at < n)
            (*cuts)[k++] = at;
    } else if (how == RANDOM) {
        unsigned s = seed * 2654435761u + 1;
        for (size_t i = 0;;) {
            s = s * 1103515245u + 12345u;
            i += 1 + (s >> 16) % 23;
            if (i >= n)
                break;
            (*cuts)[k++] = i;
        }
    }
    return k;
}

/* ---- the reader ---- */

static int rec_cb(void *ctx, char **f, const size_t *lens, int n, long record, long line,
                  struct csv_error *err)
{
    (void)err;
    struct str *s = ctx;
    sadd(s, "%ld@%ld[", record, line);
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(f[i][lens[i]], 0);
        if (i)
            sadd(s, "|");
        sadd_bytes(s, f[i], lens[i]);
    }
    sadd(s, "]\n");
    return 0;
}

/* The records of in[0..n) as text ("record@line[f0|f1]" lines, or the error). New. */
static char *read_all(const char *in, size_t n, enum split how, size_t at, unsigned seed)
{
    struct str s = {0};
    sadd(&s, "%s", "");
    struct csv_reader *r = csv_reader_new(rec_cb, &s);
    ck_assert_ptr_nonnull(r);
    size_t *cuts, k = cuts_for(how, n, at, seed, &cuts), prev = 0;
    struct csv_error err;
    int rc = 0;
    for (size_t i = 0; i <= k && rc == 0; i++) {
        size_t end = i < k ? cuts[i] : n;
        rc = csv_reader_feed(r, in + prev, end - prev, &err);
        prev = end;
    }
    if (rc == 0)
        rc = csv_reader_end(r, &err);
    if (rc < 0)
        sadd(&s, "error %d record %ld line %ld column %d: %s\n", err.status, err.row, err.line,
             err.column, err.detail);
    free(cuts);
    csv_reader_free(r);
    return s.p;
}

/* Asserts in gives `want` whole and in every kind of pieces. */
static void reads(const char *in, size_t n, const char *want)
{
    char *whole = read_all(in, n, WHOLE, 0, 0);
    ck_assert_str_eq(whole, want);
    char *b = read_all(in, n, BYTES, 0, 0);
    ck_assert_str_eq(b, want);
    free(b);
    for (size_t at = 1; at < n; at++) {
        char *t = read_all(in, n, TWO, at, 0);
        ck_assert_msg(strcmp(t, want) == 0, "split at %zu: %s", at, t);
        free(t);
    }
    for (unsigned seed = 1; seed <= 20; seed++) {
        char *t = read_all(in, n, RANDOM, 0, seed);
        ck_assert_msg(strcmp(t, want) == 0, "random split %u: %s", seed, t);
        free(t);
    }
    free(whole);
}
#define READS(lit, want) reads(lit, sizeof lit - 1, want)

START_TEST(reader_plain)
{
    READS("a,b,c\n1,2,3\n", "0@1[a|b|c]\n1@2[1|2|3]\n");
    READS("a,b,c\n1,2,3", "0@1[a|b|c]\n1@2[1|2|3]\n");          /* no final newline */
    READS("a,b,\n,,\n", "0@1[a|b|]\n1@2[||]\n");                 /* empty fields */
    READS("", "");
    READS("\n\n", "");                                           /* blank lines only */
    READS("x\n\n\ny\n", "0@1[x]\n1@4[y]\n");                     /* blank lines skipped */
    READS("a b , c\t\n", "0@1[a b | c\\x09]\n");                 /* spaces are kept */
}
END_TEST

START_TEST(reader_line_endings)
{
    READS("a,b\r\n1,2\r\n", "0@1[a|b]\n1@2[1|2]\n");
    READS("a,b\r1,2\r", "0@1[a|b]\n1@2[1|2]\n");                 /* a lone CR ends a line */
    READS("a,b\r\n\r\n1,2", "0@1[a|b]\n1@3[1|2]\n");
    READS("a\n\r\nb\r\rc", "0@1[a]\n1@3[b]\n2@5[c]\n");
}
END_TEST

START_TEST(reader_quotes)
{
    READS("\"a,b\",\"c\"\"d\",\"e\nf\"\nx,y,z\n",
          "0@1[a,b|c\"d|e\\x0af]\n1@3[x|y|z]\n");              /* the record spans lines 1-2 */
    READS("\"\"\n", "0@1[]\n");                                  /* a quoted empty field */
    READS("\"\",\"\"", "0@1[|]\n");
    READS("\"a\r\nb\"\r\n1", "0@1[a\\x0d\\x0ab]\n1@3[1]\n");     /* CRLF kept inside quotes */
    READS("ab\"c,d\n", "0@1[ab\"c|d]\n");                        /* a bare quote is literal */
    READS("\"x\"\"\"\n", "0@1[x\"]\n");
    READS("\"a\"", "0@1[a]\n");
}
END_TEST

START_TEST(reader_bom)
{
    READS("\xef\xbb\xbf" "a,b\n1,2\n", "0@1[a|b]\n1@2[1|2]\n");
    READS("\xef\xbb\xbf", "");
    READS("\xef\xbb" "x\n", "0@1[\\xef\\xbbx]\n");               /* not a BOM: the bytes stay */
    READS("\xef", "0@1[\\xef]\n");
    READS("a\xef\xbb\xbf\n", "0@1[a\\xef\\xbb\\xbf]\n");         /* only at the start */
    READS("\xef\xbb\xbf\"q\"\n", "0@1[q]\n");
}
END_TEST

START_TEST(reader_errors)
{
    READS("a,b\n1,\"2\n3\n",
          "0@1[a|b]\nerror 400 record 1 line 2 column 1: the quote opened on line 2 is never "
          "closed\n");
    READS("a,\"b\"c,d\n",
          "error 400 record 0 line 1 column 1: text after the closing quote of a quoted field "
          "(a quote inside quotes is written as two quotes)\n");
    /* a field over 64 KiB */
    size_t n = CSV_MAX_FIELD + 10;
    char *big = malloc(n + 8);
    memcpy(big, "x,", 2);
    memset(big + 2, '7', n);
    memcpy(big + 2 + n, "\n", 1);
    char *got = read_all(big, n + 3, WHOLE, 0, 0);
    ck_assert_str_eq(got, "error 400 record 0 line 1 column 1: a field longer than 65536 "
                          "bytes\n");
    free(got);
    got = read_all(big, n + 3, RANDOM, 0, 3);
    ck_assert_str_eq(got, "error 400 record 0 line 1 column 1: a field longer than 65536 "
                          "bytes\n");
    free(got);
    free(big);
}
END_TEST

static int stop_cb(void *ctx, char **f, const size_t *lens, int n, long record, long line,
                   struct csv_error *err)
{
    (void)f, (void)lens, (void)n, (void)line;
    int *calls = ctx;
    ++*calls;
    if (record == 1) {
        memset(err, 0, sizeof *err);
        err->status = 422;
        snprintf(err->detail, sizeof err->detail, "stop");
        return -1;
    }
    return 0;
}

START_TEST(reader_callback_error_sticks)
{
    int calls = 0;
    struct csv_reader *r = csv_reader_new(stop_cb, &calls);
    struct csv_error err;
    ck_assert_int_eq(csv_reader_feed(r, "a\nb\nc\n", 6, &err), -1);
    ck_assert_int_eq(err.status, 422);
    ck_assert_int_eq(calls, 2);
    memset(&err, 0, sizeof err);
    ck_assert_int_eq(csv_reader_feed(r, "d\n", 2, &err), -1);
    ck_assert_str_eq(err.detail, "stop");
    ck_assert_int_eq(csv_reader_end(r, &err), -1);
    ck_assert_int_eq(calls, 2);
    csv_reader_free(r);
    csv_reader_free(NULL);
}
END_TEST

/* ---- the dataset ---- */

/* Builds a dataset from in[0..n) fed as `how`; returns csv_dataset_end's result with out or
 * err filled. */
static int build(const char *in, size_t n, const char *label, enum csv_header h,
                 enum split how, size_t at, unsigned seed, struct dataset *out,
                 struct csv_error *err)
{
    memset(out, 0, sizeof *out);
    struct csv_dataset *c = csv_dataset_new(label, h, DATASET_MAX_VALUES, err);
    if (!c)
        return -1;
    size_t *cuts, k = cuts_for(how, n, at, seed, &cuts), prev = 0;
    int rc = 0;
    for (size_t i = 0; i <= k && rc == 0; i++) {
        size_t end = i < k ? cuts[i] : n;
        rc = csv_dataset_feed(c, in + prev, end - prev, err);
        prev = end;
    }
    free(cuts);
    if (rc == 0)
        rc = csv_dataset_end(c, out, err);
    csv_dataset_free(c);
    return rc;
}

/* The result as text: every field of the build, or the error. New. */
static char *describe(int rc, const struct dataset *b, const struct csv_error *e)
{
    struct str s = {0};
    if (rc < 0) {
        sadd(&s, "error %d row %ld line %ld column %d pointer '%s' parameter '%s': %s",
             e->status, e->row, e->line, e->column, e->pointer, e->parameter, e->detail);
        return s.p;
    }
    char *classes = b->classes ? json_dumps(b->classes, JSON_COMPACT) : strdup("null");
    char *cols = json_dumps(b->columns, JSON_COMPACT);
    char *lc = json_dumps(b->label_column, JSON_COMPACT | JSON_ENCODE_ANY);
    sadd(&s, "rows %d features %d label_cols %d kind %s classes %s columns %s label %s\nx",
         b->rows, b->features, b->label_cols, label_kind_name(b->label_kind), classes, cols, lc);
    for (long i = 0; i < (long)b->rows * b->features; i++)
        sadd(&s, " %.9g", b->x[i]);
    sadd(&s, "\ny");
    for (long i = 0; i < (long)b->rows * b->label_cols; i++)
        sadd(&s, " %.9g", b->y[i]);
    free(classes);
    free(cols);
    free(lc);
    return s.p;
}

/* Builds in whole, and asserts every kind of pieces gives the same. Returns the whole
 * result (out, err) and its text (new). `every_two`: try every split in two. */
static char *build_same(const char *in, size_t n, const char *label, enum csv_header h,
                        int every_two, struct dataset *out, struct csv_error *err)
{
    int rc = build(in, n, label, h, WHOLE, 0, 0, out, err);
    char *want = describe(rc, out, err);
    struct dataset b;
    struct csv_error e;
    int r2 = build(in, n, label, h, BYTES, 0, 0, &b, &e);
    char *got = describe(r2, &b, &e);
    ck_assert_msg(strcmp(got, want) == 0, "byte by byte:\n%s\nwhole:\n%s", got, want);
    free(got);
    dataset_free(&b);
    for (size_t at = 1; every_two && at < n; at++) {
        r2 = build(in, n, label, h, TWO, at, 0, &b, &e);
        got = describe(r2, &b, &e);
        ck_assert_msg(strcmp(got, want) == 0, "split at %zu:\n%s\nwhole:\n%s", at, got, want);
        free(got);
        dataset_free(&b);
    }
    for (unsigned seed = 1; seed <= 10; seed++) {
        r2 = build(in, n, label, h, RANDOM, 0, seed, &b, &e);
        got = describe(r2, &b, &e);
        ck_assert_msg(strcmp(got, want) == 0, "random %u:\n%s\nwhole:\n%s", seed, got, want);
        free(got);
        dataset_free(&b);
    }
    return want;
}

/* Asserts the CSV builds to exactly `want` (describe's text), in any pieces. */
static void builds(const char *in, const char *label, enum csv_header h, const char *want)
{
    struct dataset b;
    struct csv_error e;
    char *got = build_same(in, strlen(in), label, h, 1, &b, &e);
    ck_assert_str_eq(got, want);
    free(got);
    dataset_free(&b);
}

/* Asserts the CSV fails (in any pieces) with status, pointer (or parameter) and a detail
 * that contains `part`. */
static void fails(const char *in, const char *label, enum csv_header h, int status,
                  const char *pointer, const char *parameter, const char *part)
{
    struct dataset b;
    struct csv_error e;
    char *got = build_same(in, strlen(in), label, h, strlen(in) < 400, &b, &e);
    ck_assert_msg(strncmp(got, "error", 5) == 0, "built: %s", got);
    ck_assert_int_eq(e.status, status);
    ck_assert_str_eq(e.pointer, pointer);
    ck_assert_str_eq(e.parameter, parameter);
    ck_assert_msg(strstr(e.detail, part), "'%s' is not in: %s", part, e.detail);
    free(got);
}

START_TEST(ds_header_names)
{
    builds("sepal,petal,species\n1,2,a\n3,4.5,b\n-1e3,0,a\n", NULL, CSV_HEADER_AUTO,
           "rows 3 features 2 label_cols 1 kind classes classes [\"a\",\"b\"] columns "
           "[\"sepal\",\"petal\"] label \"species\"\nx 1 2 3 4.5 -1000 0\ny 0 1 0");
    /* the label by name, in the middle */
    builds("a,y,b\n1,0,2\n3,1,4\n", "y", CSV_HEADER_AUTO,
           "rows 2 features 2 label_cols 1 kind numbers classes [0,1] columns [\"a\",\"b\"] "
           "label \"y\"\nx 1 2 3 4\ny 0 1");
    /* the label by index */
    builds("a,y,b\n1,0,2\n3,1,4\n", "0", CSV_HEADER_AUTO,
           "rows 2 features 2 label_cols 1 kind numbers classes [1,3] columns [\"y\",\"b\"] "
           "label \"a\"\nx 0 2 1 4\ny 1 3");
    /* duplicate names are kept when the label is not looked up by name */
    builds("v,v,y\n1,2,3.5\n", NULL, CSV_HEADER_AUTO,
           "rows 1 features 2 label_cols 1 kind numbers classes null columns [\"v\",\"v\"] "
           "label \"y\"\nx 1 2\ny 3.5");
    /* a header of an empty name and UTF-8 names */
    builds(",\xc3\xa9t\xc3\xa9,y\n1,2,0\n", NULL, CSV_HEADER_AUTO,
           "rows 1 features 2 label_cols 1 kind numbers classes [0] columns "
           "[\"\",\"\xc3\xa9t\xc3\xa9\"] label \"y\"\nx 1 2\ny 0");
}
END_TEST

START_TEST(ds_no_header)
{
    builds("1,2,0\n3,4,1\n", NULL, CSV_HEADER_AUTO,
           "rows 2 features 2 label_cols 1 kind numbers classes [0,1] columns [\"x0\",\"x1\"] "
           "label 2\nx 1 2 3 4\ny 0 1");
    /* a class name in the label column does not make the first row a header */
    builds("1,2,cat\n3,4,dog\n", NULL, CSV_HEADER_AUTO,
           "rows 2 features 2 label_cols 1 kind classes classes [\"cat\",\"dog\"] columns "
           "[\"x0\",\"x1\"] label 2\nx 1 2 3 4\ny 0 1");
    builds("cat,1,2\n", "0", CSV_HEADER_AUTO,
           "rows 1 features 2 label_cols 1 kind classes classes [\"cat\"] columns "
           "[\"x0\",\"x1\"] label 0\nx 1 2\ny 0");
    /* ?header=false: the first row is data even if it could be a header */
    builds("1,2,y\n3,4,z\n", NULL, CSV_HEADER_NO,
           "rows 2 features 2 label_cols 1 kind classes classes [\"y\",\"z\"] columns "
           "[\"x0\",\"x1\"] label 2\nx 1 2 3 4\ny 0 1");
    /* ?header=true: the first row names the columns even when numbers */
    builds("10,20,30\n3,4,1\n", NULL, CSV_HEADER_YES,
           "rows 1 features 2 label_cols 1 kind numbers classes [1] columns [\"10\",\"20\"] "
           "label \"30\"\nx 3 4\ny 1");
    /* a first line like scikit-learn's but rows as wide: it is data (here, alone too) */
    builds("1,2,cat\n", NULL, CSV_HEADER_AUTO,
           "rows 1 features 2 label_cols 1 kind classes classes [\"cat\"] columns "
           "[\"x0\",\"x1\"] label 2\nx 1 2\ny 0");
    fails("\n\n5,2,cat\n3,x,dog\n", NULL, CSV_HEADER_AUTO, 422, "/rows/1/columns/1", "",
          "row 1 (line 4), column 1: 'x' is not a number");
    /* blank lines before the header: lines still count them */
    fails("\n\na,\xff\n1,2\n", NULL, CSV_HEADER_AUTO, 422, "/header/columns/1", "",
          "the header (line 3), column 1: the name is not valid UTF-8 text");
    /* quoted numbers, spaces around numbers, CRLF, a BOM, no final newline */
    builds("\xef\xbb\xbf\"1\", 2 ,\"0\"\r\n\t3,\"4e0\",1", NULL, CSV_HEADER_AUTO,
           "rows 2 features 2 label_cols 1 kind numbers classes [0,1] columns [\"x0\",\"x1\"] "
           "label 2\nx 1 2 3 4\ny 0 1");
}
END_TEST

START_TEST(ds_labels)
{
    /* numbers that are not class indices: classes null */
    builds("1,0.5\n2,-3\n", NULL, CSV_HEADER_AUTO,
           "rows 2 features 1 label_cols 1 kind numbers classes null columns [\"x0\"] label 1"
           "\nx 1 2\ny 0.5 -3");
    builds("1,1024\n", NULL, CSV_HEADER_AUTO,
           "rows 1 features 1 label_cols 1 kind numbers classes null columns [\"x0\"] label 1"
           "\nx 1\ny 1024");
    /* numbers and names mixed: all are class names, by their text, sorted */
    builds("1,2\n2,b\n3,10\n4,2\n5,a\n", NULL, CSV_HEADER_AUTO,
           "rows 5 features 1 label_cols 1 kind classes classes [\"10\",\"2\",\"a\",\"b\"] "
           "columns [\"x0\"] label 1\nx 1 2 3 4 5\ny 1 3 0 1 2");
    /* a label with a comma, a quote and a newline */
    builds("x,y\n1,\"a,\"\"b\"\"\nc\"\n", NULL, CSV_HEADER_AUTO,
           "rows 1 features 1 label_cols 1 kind classes classes [\"a,\\\"b\\\"\\nc\"] "
           "columns [\"x\"] label \"y\"\nx 1\ny 0");
}
END_TEST

START_TEST(ds_errors)
{
    fails("a,b,c\n1,x,0\n", NULL, CSV_HEADER_AUTO, 422, "/rows/0/columns/1", "",
          "row 0 (line 2), column 1 'b': 'x' is not a number");
    fails("1,2,3\n4,5,6\n7,8\n", NULL, CSV_HEADER_AUTO, 422, "/rows/2", "",
          "row 2 (line 3): 2 columns, but the rows before have 3");
    fails("a,b,c\n1,2,3\n4,5,6,7\n", NULL, CSV_HEADER_AUTO, 422, "/rows/1", "",
          "row 1 (line 3): 4 columns, but the header and the rows before have 3");
    fails("a,b,c\n1,2\n", NULL, CSV_HEADER_AUTO, 422, "/rows/0", "",
          "2 columns, but the header has 3");
    fails("1,nan,0\n", NULL, CSV_HEADER_AUTO, 422, "/rows/0/columns/1", "",
          "'nan' is not a finite number");
    fails("1,2,0\n1,-inf,0\n", NULL, CSV_HEADER_AUTO, 422, "/rows/1/columns/1", "",
          "not a finite number");
    fails("1,1e400,0\n", NULL, CSV_HEADER_AUTO, 422, "/rows/0/columns/1", "",
          "not a finite number");
    fails("1,2,0\n1e39,2,0\n", NULL, CSV_HEADER_AUTO, 422, "/rows/1/columns/0", "",
          "1e39 is outside the range of float32");
    fails("1,,0\n", NULL, CSV_HEADER_AUTO, 422, "/rows/0/columns/1", "",
          "the field is empty");
    fails("1,2,0\n1,0x10,0\n", NULL, CSV_HEADER_AUTO, 422, "/rows/1/columns/1", "",
          "'0x10' is not a number");
    /* a first row with a text feature is a header: here a header without data */
    fails("1,0x10,0\n", NULL, CSV_HEADER_AUTO, 422, "/rows", "", "no data rows");
    fails("", NULL, CSV_HEADER_AUTO, 422, "", "", "the CSV is empty");
    fails("\xef\xbb\xbf\r\n\n", NULL, CSV_HEADER_AUTO, 422, "", "", "the CSV is empty");
    fails("a,b,c\n", NULL, CSV_HEADER_AUTO, 422, "/rows", "", "a header but no data rows");
    fails("a,b,c\n1,2,3\n", "5", CSV_HEADER_AUTO, 422, "", "label",
          "?label=5: there is no such column; the rows have 3 columns, 0 to 2");
    fails("1,2,3\n", "99999999999999", CSV_HEADER_AUTO, 422, "", "label", "no such column");
    fails("a,b,c\n1,2,3\n", "z", CSV_HEADER_AUTO, 422, "", "label",
          "?label=z: the header has no such column; its columns are 'a', 'b', 'c'");
    fails("a,b,a\n1,2,3\n", "a", CSV_HEADER_AUTO, 422, "", "label",
          "columns 0 and 2 both have that name");
    fails("a,b,c\n1,2,3\n", "b", CSV_HEADER_NO, 400, "", "label", "?header=false");
    fails("a\n1\n", NULL, CSV_HEADER_AUTO, 422, "/rows/0", "", "one column only");
    fails("a,b\n1,\"2\n", NULL, CSV_HEADER_AUTO, 400, "/rows/0/columns/1", "",
          "row 0 (line 2), column 1 'b': the quote opened on line 2 is never closed");
    fails("\"a\"x,b\n1,2\n", NULL, CSV_HEADER_AUTO, 400, "/rows/0/columns/0", "",
          "text after the closing quote");
    fails("a,b\n1,2\n3,\"x\"y\n", NULL, CSV_HEADER_AUTO, 400, "/rows/1/columns/1", "",
          "row 1 (line 3), column 1 'b': text after the closing quote");
    fails("1,2,nan\n", NULL, CSV_HEADER_AUTO, 422, "/rows/0/columns/2", "",
          "the label 'nan' is not a finite float32 number");
    fails("1,2,0\n3,4,1e39\n", NULL, CSV_HEADER_AUTO, 422, "/rows/1/columns/2", "",
          "the label '1e39' is not a finite");
    fails("1,2,\n", NULL, CSV_HEADER_AUTO, 422, "/rows/0/columns/2", "", "the label is empty");
    fails("1,2,a\n1,2, \n", NULL, CSV_HEADER_AUTO, 422, "/rows/1/columns/2", "",
          "the label is empty");
    fails("1,2,caf\xe9\n", NULL, CSV_HEADER_AUTO, 422, "/rows/0/columns/2", "",
          "the label 'caf?' is not valid UTF-8");
    fails("a,\xff,c\n1,2,3\n", NULL, CSV_HEADER_AUTO, 422, "/header/columns/1", "",
          "not valid UTF-8");
    fails("1,2,3\n1,2\x01x,3\n", NULL, CSV_HEADER_AUTO, 422, "/rows/1/columns/1", "",
          "'2?x' is not a number");
    /* lines count the quoted newline and blank lines */
    fails("a,b,c\n1,2,\"x\ny\"\n\n1,2,3\n4,z,5", NULL, CSV_HEADER_AUTO, 422,
          "/rows/2/columns/1", "", "row 2 (line 6), column 1 'b': 'z' is not a number");
    /* a long field is quoted short */
    fails("1,2,3\n1,aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa,3\n", NULL,
          CSV_HEADER_AUTO, 422, "/rows/1/columns/1", "",
          "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...' is not a number");
    struct csv_error e;
    ck_assert_ptr_null(csv_dataset_new("", CSV_HEADER_AUTO, DATASET_MAX_VALUES, &e));
    ck_assert_int_eq(e.status, 400);
    ck_assert_str_eq(e.parameter, "label");
    ck_assert_ptr_null(csv_dataset_new("-1", CSV_HEADER_AUTO, DATASET_MAX_VALUES, &e));
    ck_assert_int_eq(e.status, 400);
    ck_assert_str_eq(e.parameter, "label");
    ck_assert_msg(strstr(e.detail, "?label=-1: a column index counts from 0"), "%s", e.detail);
}
END_TEST

/* After an error every feed fails alike and the end too. */
START_TEST(ds_error_sticks)
{
    struct csv_error e, e2;
    struct dataset b;
    struct csv_dataset *c = csv_dataset_new(NULL, CSV_HEADER_AUTO, DATASET_MAX_VALUES, &e);
    ck_assert_int_eq(csv_dataset_feed(c, "1,2\n1,x,3\n", 10, &e), -1);
    ck_assert_int_eq(csv_dataset_feed(c, "1,2\n", 4, &e2), -1);
    ck_assert_str_eq(e.detail, e2.detail);
    ck_assert_int_eq(csv_dataset_end(c, &b, &e2), -1);
    ck_assert_str_eq(e.detail, e2.detail);
    ck_assert_ptr_null(b.x);
    csv_dataset_free(c);
    csv_dataset_free(NULL);
}
END_TEST

START_TEST(ds_many_labels)
{
    /* more distinct names than DATASET_MAX_CLASSES: refused at the row that overflows */
    struct str s = {0};
    for (int i = 0; i <= DATASET_MAX_CLASSES; i++)
        sadd(&s, "%d,c%d\n", i, i);
    struct dataset b;
    struct csv_error e;
    ck_assert_int_eq(build(s.p, s.len, NULL, CSV_HEADER_AUTO, RANDOM, 0, 1, &b, &e), -1);
    ck_assert_int_eq(e.status, 422);
    ck_assert_str_eq(e.pointer, "/rows/65536/columns/1");
    ck_assert_msg(strstr(e.detail, "more than 65536 distinct values"), "%s", e.detail);
    /* as many distinct numbers are fine (regression) */
    s.len = 0;
    for (int i = 0; i < 70000; i++)
        sadd(&s, "%d,%d.5\n", i, i);
    ck_assert_int_eq(build(s.p, s.len, NULL, CSV_HEADER_AUTO, RANDOM, 0, 2, &b, &e), 0);
    ck_assert_int_eq(b.rows, 70000);
    ck_assert_str_eq(label_kind_name(b.label_kind), "numbers");
    ck_assert_ptr_null(b.classes);
    ck_assert_float_eq(b.y[69999], 69999.5f);
    dataset_free(&b);
    /* ... but not followed by a name */
    sadd(&s, "1,cat\n");
    ck_assert_int_eq(build(s.p, s.len, NULL, CSV_HEADER_AUTO, WHOLE, 0, 0, &b, &e), -1);
    ck_assert_str_eq(e.pointer, "/rows/70000/columns/1");
    ck_assert_msg(strstr(e.detail, "'cat' is not a number, and the label column has more"),
                  "%s", e.detail);
    free(s.p);
}
END_TEST

START_TEST(ds_sklearn_iris)
{
    size_t n;
    char *csv = tu_slurp(SKLEARN_DATA "iris.csv", &n);
    ck_assert(strncmp(csv, "150,4,setosa,versicolor,virginica\n", 34) == 0);
    struct dataset b;
    struct csv_error e;
    char *got = build_same(csv, n, NULL, CSV_HEADER_AUTO, 1, &b, &e);
    ck_assert_msg(b.x != NULL, "%s", got);
    ck_assert_int_eq(b.rows, 150);
    ck_assert_int_eq(b.features, 4);
    ck_assert_str_eq(label_kind_name(b.label_kind), "classes");
    char *cl = json_dumps(b.classes, JSON_COMPACT), *cols = json_dumps(b.columns, 0);
    ck_assert_str_eq(cl, "[\"setosa\",\"versicolor\",\"virginica\"]");
    ck_assert_str_eq(cols, "[\"x0\", \"x1\", \"x2\", \"x3\"]");
    ck_assert_int_eq(json_integer_value(b.label_column), 4);
    free(cl);
    free(cols);
    /* 5.1,3.5,1.4,0.2,0 first; 5.9,3.0,5.1,1.8,2 last */
    float first[4] = {5.1f, 3.5f, 1.4f, 0.2f}, last[4] = {5.9f, 3.0f, 5.1f, 1.8f};
    for (int j = 0; j < 4; j++) {
        ck_assert_float_eq(b.x[j], first[j]);
        ck_assert_float_eq(b.x[149 * 4 + j], last[j]);
    }
    ck_assert_float_eq(b.y[0], 0);
    ck_assert_float_eq(b.y[50], 1);
    ck_assert_float_eq(b.y[149], 2);
    free(got);
    dataset_free(&b);
    /* with ?header=true the first line is taken for column names, labels stay numbers */
    ck_assert_int_eq(build(csv, n, NULL, CSV_HEADER_YES, WHOLE, 0, 0, &b, &e), 0);
    ck_assert_str_eq(label_kind_name(b.label_kind), "numbers");
    ck_assert_str_eq(json_string_value(json_array_get(b.columns, 2)), "setosa");
    ck_assert_str_eq(json_string_value(b.label_column), "virginica");
    ck_assert_int_eq(json_array_size(b.classes), 3);
    dataset_free(&b);
    /* one row less: the counts no longer match, so the first line is plain column names */
    char *cut = strstr(csv, "5.9,3.0,5.1,1.8,2");
    ck_assert_ptr_nonnull(cut);
    ck_assert_int_eq(build(csv, (size_t)(cut - csv), NULL, CSV_HEADER_AUTO, WHOLE, 0, 0, &b,
                           &e), 0);
    ck_assert_int_eq(b.rows, 149);
    ck_assert_str_eq(label_kind_name(b.label_kind), "numbers");
    ck_assert_str_eq(json_string_value(b.label_column), "virginica");
    dataset_free(&b);
    free(csv);
}
END_TEST

START_TEST(ds_sklearn_wider_data)
{
    /* wine and breast_cancer: the first line is narrower than the rows */
    size_t n;
    char *csv = tu_slurp(SKLEARN_DATA "wine_data.csv", &n);
    struct dataset b;
    struct csv_error e;
    char *got = build_same(csv, n, NULL, CSV_HEADER_AUTO, 0, &b, &e);
    ck_assert_msg(b.x != NULL, "%s", got);
    ck_assert_int_eq(b.rows, 178);
    ck_assert_int_eq(b.features, 13);
    ck_assert_int_eq(json_array_size(b.classes), 3);
    ck_assert_str_eq(json_string_value(json_array_get(b.classes, 0)), "class_0");
    ck_assert_float_eq(b.x[0], 14.23f);
    ck_assert_float_eq(b.x[12], 1065);
    free(got);
    dataset_free(&b);
    free(csv);

    csv = tu_slurp(SKLEARN_DATA "breast_cancer.csv", &n);
    ck_assert_int_eq(build(csv, n, NULL, CSV_HEADER_AUTO, RANDOM, 0, 9, &b, &e), 0);
    ck_assert_int_eq(b.rows, 569);
    ck_assert_int_eq(b.features, 30);
    char *cl = json_dumps(b.classes, JSON_COMPACT);
    ck_assert_str_eq(cl, "[\"benign\",\"malignant\"]");   /* sorted: index 0 is malignant */
    free(cl);
    ck_assert_float_eq(b.y[0], 1);                      /* the first row is 0: malignant */
    dataset_free(&b);
    free(csv);

    /* such a first line whose counts do not match the data: a header of another width */
    fails("3,2,a,b\n1,2,0\n1,2,1\n", NULL, CSV_HEADER_AUTO, 422, "/header", "",
          "the header (line 1): 4 columns, but the rows have 3");
    /* labels that are not indices of the names */
    fails("2,2,a,b\n1,2,0\n1,2,2\n", NULL, CSV_HEADER_AUTO, 422, "/header", "",
          "4 columns, but the rows have 3");
    builds("2,2,b,a\n1,2,0\n3,4,1\n", NULL, CSV_HEADER_AUTO,
           "rows 2 features 2 label_cols 1 kind classes classes [\"a\",\"b\"] columns "
           "[\"x0\",\"x1\"] label 2\nx 1 2 3 4\ny 1 0");
}
END_TEST

START_TEST(helpers)
{
    double v;
    ck_assert(text_number(" 1.5 ", 5, &v) && v == 1.5);
    ck_assert(text_number("-2e3", 4, &v) && v == -2000);
    ck_assert(!text_number("", 0, &v));
    ck_assert(!text_number("  ", 2, &v));
    ck_assert(!text_number("1.5x", 4, &v));
    ck_assert(!text_number("0x1p3", 5, &v));
    ck_assert(!text_number("1 2", 3, &v));
    ck_assert(text_number("inf", 3, &v) && isinf(v));
    ck_assert(utf8_valid("h\xc3\xa9", 3));
    ck_assert(!utf8_valid("\xc3", 1));
    ck_assert(!utf8_valid("a\0b", 3));
    ck_assert(!utf8_valid("\xed\xa0\x80", 3));   /* a surrogate */
    ck_assert(!utf8_valid("\xc0\xaf", 2));       /* overlong */
    char buf[32];
    text_echo(buf, sizeof buf, "ab\xff\n\xc3\xa9", 6, 40);
    ck_assert_str_eq(buf, "ab??\xc3\xa9");
    text_echo(buf, sizeof buf, "abcdefghij", 10, 4);
    ck_assert_str_eq(buf, "abcd...");
    text_echo(buf, 10, "abcdefghijklmnop", 16, 40);   /* bounded by cap */
    ck_assert_uint_lt(strlen(buf), 10);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("csv");
    TCase *r = tcase_create("reader");
    tcase_add_test(r, reader_plain);
    tcase_add_test(r, reader_line_endings);
    tcase_add_test(r, reader_quotes);
    tcase_add_test(r, reader_bom);
    tcase_add_test(r, reader_errors);
    tcase_add_test(r, reader_callback_error_sticks);
    tcase_add_test(r, helpers);
    suite_add_tcase(s, r);
    TCase *d = tcase_create("dataset");
    tcase_set_timeout(d, 60);
    tcase_add_test(d, ds_header_names);
    tcase_add_test(d, ds_no_header);
    tcase_add_test(d, ds_labels);
    tcase_add_test(d, ds_errors);
    tcase_add_test(d, ds_error_sticks);
    tcase_add_test(d, ds_many_labels);
    tcase_add_test(d, ds_sklearn_iris);
    tcase_add_test(d, ds_sklearn_wider_data);
    suite_add_tcase(s, d);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
