/* csv.h -- CSV as it streams in: a reader (RFC 4180) that hands over one record at a time,
 * and the dataset builder on top of it that POST /v1/datasets with text/csv uses.
 *
 * Neither keeps the raw body: the reader holds only the record it is in, the builder only
 * the parsed floats and the labels. Both give the same result however the body is split.
 *
 * Errors name the place at fault. Rows are data rows, 0-based, the header not counted
 * (the same numbering as the dataset's x); columns are 0-based columns of the CSV (the
 * numbering ?label= uses); lines are the file's physical lines, 1-based (what an editor
 * shows). A problem's pointer is "/rows/{row}/columns/{column}", "/rows/{row}" for a
 * whole row, "/header/columns/{column}" for the header; a fault of a query parameter
 * names the parameter instead (?label=, ?header=).
 */
#ifndef CSV_H
#define CSV_H

#include "datasets.h"

#include <stddef.h>

#define CSV_MAX_FIELD (64 << 10)       /* bytes of one field */
#define CSV_MAX_RECORD (64 << 20)      /* bytes of one record, separators included */
#define CSV_MAX_COLUMNS (1 << 20)      /* fields of one record */

struct csv_error {
    int status;            /* 400 malformed CSV or parameter, 413 too large, 422 content */
    long row;              /* data row (builder) or record (reader), 0-based; -1 for none */
    long line;             /* physical line, 1-based; 0 for none */
    int column;            /* 0-based; -1 for none */
    char pointer[64];      /* see above; "" when no place */
    char parameter[16];    /* "label", "header" when a query parameter is at fault */
    char detail[600];
};

/* ---- the reader ---- */

/* Called with each record: n >= 1 fields, fields[i] NUL-terminated and lens[i] long (a
 * field may hold NUL bytes), record the 0-based index of the record (blank lines are
 * skipped and not counted), line the line it starts on. Everything is borrowed for the
 * call; the callback may write into the fields. Returns 0, or -1 after filling err. */
typedef int (*csv_record_fn)(void *ctx, char **fields, const size_t *lens, int n, long record,
                             long line, struct csv_error *err);

struct csv_reader;
/* A reader calling fn(ctx, ...); new (csv_reader_free), NULL when out of memory. */
struct csv_reader *csv_reader_new(csv_record_fn fn, void *ctx);
/* Reads the next piece of the body. Returns 0, or -1 with err filled (a syntax error or
 * the callback's); after an error every call returns -1 with the same error. */
int csv_reader_feed(struct csv_reader *r, const char *data, size_t len, struct csv_error *err);
/* The body ended: hands over a last record without a line ending. 0 or -1 with err. */
int csv_reader_end(struct csv_reader *r, struct csv_error *err);
void csv_reader_free(struct csv_reader *r);

/* ---- the dataset ---- */

enum csv_header { CSV_HEADER_AUTO, CSV_HEADER_YES, CSV_HEADER_NO };

struct csv_dataset;
/* A builder. label: ?label= (a 0-based column index, or a column name of the header),
 * NULL for the last column; copied. header: whether the first row is a header; AUTO
 * takes it for one when a field other than the label's is not a number, and recognises
 * scikit-learn's "n_samples,n_features,class names..." first line (see csv.c). Returns
 * new (csv_dataset_free), or NULL with err filled. */
struct csv_dataset *csv_dataset_new(const char *label, enum csv_header header,
                                    struct csv_error *err);
/* The next piece of the body. 0, or -1 with err filled (then every call fails alike). */
int csv_dataset_feed(struct csv_dataset *c, const char *data, size_t len,
                     struct csv_error *err);
/* The body ended: fills out (new: dataset_build_free) and returns 0, or -1 with err. */
int csv_dataset_end(struct csv_dataset *c, struct dataset_build *out, struct csv_error *err);
void csv_dataset_free(struct csv_dataset *c);

/* Is s[0..n) a number (strtod's decimal syntax, spaces and tabs around allowed; no hex)?
 * s must be NUL-terminated at n. */
int csv_number(const char *s, size_t n, double *v);
/* Is s[0..n) valid UTF-8 without NUL bytes? */
int csv_utf8(const char *s, size_t n);
/* Copies s[0..n) for quoting in a message: at most max bytes, then "...", anything that
 * is not printable UTF-8 as '?'. Always NUL-terminates dst (cap > 0). */
void csv_echo(char *dst, size_t cap, const char *s, size_t n, size_t max);

#endif
