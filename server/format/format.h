/* format.h -- bytes in and out, for every other module of the service: UTF-8 text, the
 * CSV reader (RFC 4180, streamed), numbers as text, timestamps, ids and the clock, SHA-256
 * and base64, SVG line charts, protocol buffers written, and TensorBoard event files
 * (utf8.c, csv.c, text.c, digest.c, svg.c, protobuf.c, tfevents.c). It depends on the C
 * library only.
 */
#ifndef FORMAT_H
#define FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- UTF-8 (utf8.c) ---- */

/* The length (1 to 4) of the valid UTF-8 sequence at s[0..n), not NUL; 0 when it is not
 * one: no overlong forms, surrogates or code points past U+10FFFF, as jansson checks. */
size_t utf8_seq(const unsigned char *s, size_t n);
/* Is s[0..n) valid UTF-8 without NUL bytes? */
int utf8_valid(const char *s, size_t n);
/* Replaces the bytes of the NUL-terminated s that are not valid UTF-8 by '?', so that
 * text echoed from a request always goes into a JSON string. */
void utf8_clean(char *s);
/* How many bytes of the valid UTF-8 text s[0..len) to keep to show at most max of them:
 * len when it fits, else at most max, cut between two characters. */
size_t utf8_cut(const char *s, size_t len, size_t max);
/* Copies s[0..n) for quoting in a message: at most max bytes of it, then "...", anything
 * that is not printable UTF-8 as '?'. Always NUL-terminates dst (cap > 0). Returns dst. */
char *text_echo(char *dst, size_t cap, const char *s, size_t n, size_t max);

/* ---- numbers (text.c) ---- */

/* Is s[0..n) a number (strtod's decimal syntax, spaces and tabs around allowed; no hex)?
 * s must be NUL-terminated at n. Sets *v when it is. */
int text_number(const char *s, size_t n, double *v);
/* The double with the fewest significant digits that reads back as the float f: 0.2f
 * gives 0.2, not 0.20000000298023224, and 4.3f gives 4.3. */
double shortest_double(float f);

/* A real as JSON text the way jansson writes it at JSON_REAL_PRECISION(9): printf's
 * "%.9g", then ".0" when that has neither '.' nor 'e', and the exponent without '+' or
 * leading zeros ("1e-5", "2.5e20"). Into buf (at least 32 bytes), NUL-terminated; returns
 * the length. A double that is a float is written without printf, digit for digit the
 * same (checked in test_format over every float); any other goes through snprintf. */
size_t text_real9(char *buf, double v);

/* ---- time and ids (text.c) ---- */

/* Seconds on the monotonic clock, for intervals. */
double clock_s(void);
/* Now as an RFC 3339 UTC timestamp with milliseconds into buf (at least 32 bytes). */
void now_iso(char *buf);
/* A new random id with a prefix ("ds_", "job_", ...) into buf (at least 32 bytes). */
void new_id(char *buf, const char *prefix);
/* What an id names by its prefix: "dataset" (ds_), "network" (net_), "job" (job_),
 * "model" (mdl_); NULL for another. */
const char *id_kind(const char *id);
/* The CLOCK_REALTIME time `seconds` from now, for timed waits on condition variables. */
struct timespec;
void deadline_in(struct timespec *t, double seconds);

/* ---- digests (digest.c) ---- */

/* The SHA-256 digest of data[0..len) into out. */
void sha256(const void *data, size_t len, unsigned char out[32]);
/* src[0..len) in base64 with padding into dst (at least 4 * ((len + 2) / 3) + 1 bytes),
 * NUL-terminated; returns the length written. */
size_t base64_encode(char *dst, const void *src, size_t len);

/* ---- CSV (csv.c) ---- */

#define CSV_MAX_FIELD (64 << 10)       /* bytes of one field */
#define CSV_MAX_RECORD (64 << 20)      /* bytes of one record, separators included */
#define CSV_MAX_COLUMNS (1 << 20)      /* fields of one record */

/* x and y of a dataset are one row of the database, and SQLite's largest row (and BLOB)
 * is SQLITE_MAX_LENGTH, 1,000,000,000 bytes: a dataset holds at most this many float32
 * values, features and labels together (less the few bytes its description takes).
 * --max-dataset-values may set a lower limit. */
#define DATASET_MAX_VALUES 250000000L

/* A CSV fault. Rows are data rows, 0-based (the header not counted, as the dataset's x
 * numbers them); columns 0-based columns of the CSV (what ?label= uses); lines physical
 * lines, 1-based (what an editor shows). pointer and parameter are for who places the
 * fault in a request (domain/csv_dataset.c): "/rows/{row}/columns/{column}", or a query
 * parameter's name. */
struct csv_error {
    int status;            /* 400 malformed CSV or parameter, 413 too large, 422 content */
    long row;              /* data row (builder) or record (reader), 0-based; -1 for none */
    long line;             /* physical line, 1-based; 0 for none */
    int column;            /* 0-based; -1 for none */
    char pointer[64];      /* "" when no place */
    char parameter[16];    /* "label", "header" when a query parameter is at fault */
    char detail[600];
};
/* Fills e (zeroing pointer and parameter) with a printf-formatted detail. */
void csv_error_set(struct csv_error *e, int status, long row, long line, int column,
                   const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Called with each record: n >= 1 fields, fields[i] NUL-terminated and lens[i] long (a
 * field may hold NUL bytes), record the 0-based index of the record (blank lines are
 * skipped and not counted), line the line it starts on. Everything is borrowed for the
 * call; the callback may write into the fields. Returns 0, or -1 after filling err. */
typedef int (*csv_record_fn)(void *ctx, char **fields, const size_t *lens, int n, long record,
                             long line, struct csv_error *err);

/* A reader that holds only the record it is in, and gives the same records however the
 * body is split. */
struct csv_reader;
/* A reader calling fn(ctx, ...); new (csv_reader_free), NULL when out of memory. */
struct csv_reader *csv_reader_new(csv_record_fn fn, void *ctx);
/* Reads the next piece of the body. Returns 0, or -1 with err filled (a syntax error or
 * the callback's); after an error every call returns -1 with the same error. */
int csv_reader_feed(struct csv_reader *r, const char *data, size_t len, struct csv_error *err);
/* The body ended: hands over a last record without a line ending. 0 or -1 with err. */
int csv_reader_end(struct csv_reader *r, struct csv_error *err);
void csv_reader_free(struct csv_reader *r);

/* ---- SVG line charts (svg.c): standalone SVG 1.1, no scripts or external resources ---- */

/* One line of a chart: n points (x[i], y[i]). A NaN y is no value (left out); an
 * infinite one is a value that was not finite (a triangle at the top of the axis); on a
 * log axis a 0 is drawn on the axis's floor as a hollow square, a negative y left out.
 * name is shown in the legend; cls is the class of its points: each drawn point is
 * <circle class="point CLS" data-series="NAME" .../> (a zero <rect class="point zero
 * CLS">, a non-finite value <path class="point nonfinite CLS">). A series of more than
 * SVG_MAX_DOTS points is drawn as its line only (and its marked points). All borrowed. */
struct svg_series {
    const char *name;
    const char *cls;
    const double *x, *y;
    int n;
};
#define SVG_MAX_DOTS 100

/* The y axis: linear, log10, or log10 when every value is 0 or more and the positive
 * ones span 4 decades or more (a diverging loss), else linear. */
enum svg_scale { SVG_LINEAR, SVG_LOG, SVG_AUTO };

/* Writes a chart to f: title, axis labels, ns series, y on the axis scale gives (the y
 * label says "(log scale)" when it is log). empty: the message shown instead of lines
 * when no series has a point. */
void svg_chart(FILE *f, const char *title, const char *xlabel, const char *ylabel,
               const struct svg_series *s, int ns, enum svg_scale scale, const char *empty);

/* ---- protocol buffers, written (protobuf.c) ---- */

/* A message being built: its bytes so far in p[0..n). Start from {0}; pb_free when
 * done. When memory runs out oom is set, the bytes are lost and every later write is
 * ignored, so a caller checks oom once, after the last write. */
struct pb {
    unsigned char *p;
    size_t n, cap;
    int oom;
};
/* Wire types. */
enum { PB_VARINT = 0, PB_I64 = 1, PB_LEN = 2, PB_I32 = 5 };

/* Raw bytes; a varint; a field's key (its number and wire type). */
void pb_bytes(struct pb *b, const void *data, size_t len);
void pb_varint(struct pb *b, uint64_t v);
void pb_key(struct pb *b, int field, int wire);
/* A field of each kind: an integer as a varint (int32, int64, enum, bool; a negative
 * value takes ten bytes, as protobuf writes it); a double; a float; bytes; a
 * NUL-terminated string; a nested message m, built before (a marked m marks b). These
 * write the field whatever its value: leaving out those equal to their default is the
 * caller's choice. */
void pb_int(struct pb *b, int field, int64_t v);
void pb_double(struct pb *b, int field, double v);
void pb_float(struct pb *b, int field, float v);
void pb_len(struct pb *b, int field, const void *data, size_t len);
void pb_str(struct pb *b, int field, const char *s);
void pb_msg(struct pb *b, int field, const struct pb *m);
/* n float32 values, little-endian, as one length-delimited field: a packed repeated
 * float, or the bytes of a tensor (ONNX's raw_data). */
void pb_floats(struct pb *b, int field, const float *v, size_t n);
/* n integers as one packed repeated varint field (repeated int64). */
void pb_ints(struct pb *b, int field, const int64_t *v, size_t n);
/* Frees the bytes and zeroes b; a zeroed b is fine. */
void pb_free(struct pb *b);

/* ---- TensorBoard event files (tfevents.c) ---- */

/* The CRC-32C (Castagnoli) of data[0..len), as TFRecord frames use it (unmasked). */
uint32_t crc32c(const void *data, size_t len);

/* One value of a summary: its tag (borrowed, "loss", "metrics/accuracy") and value. */
struct tf_scalar {
    const char *tag;
    float value;
};
/* Write one TFRecord holding a tensorboard.Event to f: the first of a file, with
 * file_version "brain.Event:2"; then one with a step and a Summary of n scalar values
 * (simple_value). wall_time is seconds since 1970 (0 leaves it out). 0, or -1 when out of
 * memory or a write failed (f may then hold part of the record). */
int tfevents_version(FILE *f, double wall_time);
int tfevents_scalars(FILE *f, double wall_time, int64_t step, const struct tf_scalar *v, int n);
/* The name TensorBoard looks for, "events.out.tfevents.<seconds>.<host>", with wall_time
 * in whole seconds and this machine's host name (its bytes
 * other than letters, digits, '.', '-' and '_' as '_'), into buf. */
void tfevents_name(char *buf, size_t cap, double wall_time);
/* Seconds since 1970 of an RFC 3339 UTC timestamp as now_iso writes them
 * ("2026-11-25T22:12:35.478Z"); NAN for anything else. */
double time_parse_iso(const char *s);

#endif
