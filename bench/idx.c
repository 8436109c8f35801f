/* idx.c -- streams unsigned-byte idx files (gzip'd, through zlib) into float32 arrays, and
 * loads the four Fashion-MNIST files; see idx.h for the format and the contracts.
 *
 * The bytes go through one CHUNK-sized buffer and a 256-entry table into the float array,
 * so a load's peak memory is the float data plus zlib's state and that buffer.
 */
#include "idx.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define CHUNK (64 * 1024)
#define DEFLATE_MAX_RATIO 1032           /* deflate never expands data more than this */

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* gzerror's message, without the "path: " zlib puts before it. */
static const char *zmessage(gzFile f, const char *path, int *zerr)
{
    const char *m = gzerror(f, zerr);
    size_t n = strlen(path);
    if (strncmp(m, path, n) == 0 && m[n] == ':' && m[n + 1] == ' ')
        m += n + 2;
    return m;
}

/* Reads exactly n bytes of the file into buf; what names them in the message. Returns 0,
 * or -1 with err filled when the file ends first or zlib reports an error. */
static int read_exact(gzFile f, const char *path, void *buf, unsigned n, const char *what,
                      char *err, size_t errlen)
{
    int got = gzread(f, buf, n);
    if (got == (int)n)
        return 0;
    int zerr = Z_OK;
    const char *zmsg = zmessage(f, path, &zerr);
    if (zerr == Z_ERRNO)
        seterr(err, errlen, "%s: reading the %s: %s", path, what, strerror(errno));
    else if (zerr != Z_OK)
        seterr(err, errlen, "%s: reading the %s: %s (a truncated or corrupted file?)", path,
               what, zmsg);
    else
        seterr(err, errlen, "%s: the file ends inside the %s (%d of %u bytes there)", path,
               what, got < 0 ? 0 : got, n);
    return -1;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Reads and checks the header; fills out's shape. Returns 0 or -1 with err filled. */
static int read_header(gzFile f, const char *path, int want_ndim, struct idx_array *out,
                       char *err, size_t errlen)
{
    unsigned char h[4 * IDX_MAX_DIMS];
    if (read_exact(f, path, h, 4, "magic number", err, errlen) < 0)
        return -1;
    if (h[0] != 0 || h[1] != 0) {
        seterr(err, errlen, "%s: not an idx file (magic %02x%02x%02x%02x, want 0000TTNN)",
               path, h[0], h[1], h[2], h[3]);
        return -1;
    }
    if (h[2] != 0x08) {
        seterr(err, errlen, "%s: element type 0x%02x is not unsigned byte (0x08)", path, h[2]);
        return -1;
    }
    int ndim = h[3];
    if (ndim < 1 || ndim > IDX_MAX_DIMS) {
        seterr(err, errlen, "%s: %d dimensions (want 1 to %d)", path, ndim, IDX_MAX_DIMS);
        return -1;
    }
    if (want_ndim > 0 && ndim != want_ndim) {
        seterr(err, errlen, "%s: %d dimensions, want %d", path, ndim, want_ndim);
        return -1;
    }
    if (read_exact(f, path, h, 4u * (unsigned)ndim, "dimension sizes", err, errlen) < 0)
        return -1;
    uint64_t cols = 1;
    for (int i = 0; i < ndim; i++) {
        uint32_t d = be32(h + 4 * i);
        if (d == 0 || d > INT_MAX) {
            seterr(err, errlen, "%s: dimension %d has size %lu (want 1 to %d)", path, i,
                   (unsigned long)d, INT_MAX);
            return -1;
        }
        out->dims[i] = (int)d;
        if (i > 0) {
            cols *= d;
            if (cols > INT_MAX) {
                seterr(err, errlen, "%s: rows of more than %d elements", path, INT_MAX);
                return -1;
            }
        }
    }
    out->ndim = ndim;
    out->rows = out->dims[0];
    out->cols = (int)cols;
    return 0;
}

int idx_read_u8(const char *path, int want_ndim, float divisor, struct idx_array *out,
                char *err, size_t errlen)
{
    assert(path && out && divisor > 0);
    memset(out, 0, sizeof *out);
    errno = 0;
    gzFile f = gzopen(path, "rb");
    if (!f) {
        seterr(err, errlen, "%s: cannot open: %s", path,
               errno ? strerror(errno) : "out of memory");
        return -1;
    }
    gzbuffer(f, 128 * 1024);

    struct idx_array a = {0};
    unsigned char *buf = NULL;
    if (read_header(f, path, want_ndim, &a, err, errlen) < 0)
        goto fail;

    /* A corrupted header must not make us allocate what the file cannot hold. */
    size_t total = (size_t)a.rows * (size_t)a.cols;   /* < 2^62: both are <= INT_MAX */
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
        total / DEFLATE_MAX_RATIO > (uint64_t)st.st_size) {
        seterr(err, errlen, "%s: the header promises %zu bytes of data, more than a %lld-byte "
               "file can hold", path, total, (long long)st.st_size);
        goto fail;
    }
    if (total > SIZE_MAX / sizeof(float)) {
        seterr(err, errlen, "%s: %zu elements do not fit in memory", path, total);
        goto fail;
    }
    buf = malloc(CHUNK);
    a.data = malloc(total * sizeof(float));
    if (!buf || !a.data) {
        seterr(err, errlen, "%s: out of memory for %zu elements (%.1f MiB as float32)", path,
               total, (double)total * sizeof(float) / (1 << 20));
        goto fail;
    }

    float lut[256];
    for (int i = 0; i < 256; i++)
        lut[i] = (float)i / divisor;
    for (size_t done = 0; done < total;) {
        unsigned n = total - done < CHUNK ? (unsigned)(total - done) : CHUNK;
        if (read_exact(f, path, buf, n, "data", err, errlen) < 0)
            goto fail;
        float *dst = a.data + done;
        for (unsigned i = 0; i < n; i++)
            dst[i] = lut[buf[i]];
        done += n;
    }

    /* One byte past the data tells a file longer than its header from one that ends. */
    int extra = gzread(f, buf, 1);
    if (extra != 0) {
        int zerr = Z_OK;
        const char *zmsg = zmessage(f, path, &zerr);
        if (extra > 0)
            seterr(err, errlen, "%s: more bytes than the header's %zu elements", path, total);
        else
            seterr(err, errlen, "%s: after the data: %s", path,
                   zerr == Z_ERRNO ? strerror(errno) : zmsg);
        goto fail;
    }
    free(buf);
    buf = NULL;
    int rc = gzclose_r(f);
    f = NULL;
    if (rc != Z_OK) {
        seterr(err, errlen, "%s: closing: zlib error %d", path, rc);
        goto fail;
    }
    *out = a;
    return 0;

fail:
    free(buf);
    free(a.data);
    if (f)
        gzclose_r(f);
    return -1;
}

void idx_array_free(struct idx_array *a)
{
    if (!a)
        return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* Reads dir/name into a; returns 0 or -1 with err filled. */
static int read_in(const char *dir, const char *name, int ndim, float divisor,
                   struct idx_array *a, char *err, size_t errlen)
{
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof path) {
        memset(a, 0, sizeof *a);
        seterr(err, errlen, "%s: the data directory's path is too long", dir);
        return -1;
    }
    return idx_read_u8(path, ndim, divisor, a, err, errlen);
}

int fmnist_load(const char *dir, struct fmnist *d, char *err, size_t errlen)
{
    assert(d);
    memset(d, 0, sizeof *d);
    if (!dir || !*dir)
        dir = getenv("FMNIST_DIR");
    if (!dir || !*dir)
        dir = FMNIST_DEFAULT_DIR;

    struct idx_array trx = {0}, try_ = {0}, tex = {0}, tey = {0};
    if (read_in(dir, "train-images-idx3-ubyte.gz", 3, 255.0f, &trx, err, errlen) < 0 ||
        read_in(dir, "train-labels-idx1-ubyte.gz", 1, 1.0f, &try_, err, errlen) < 0 ||
        read_in(dir, "t10k-images-idx3-ubyte.gz", 3, 255.0f, &tex, err, errlen) < 0 ||
        read_in(dir, "t10k-labels-idx1-ubyte.gz", 1, 1.0f, &tey, err, errlen) < 0)
        goto fail;
    if (trx.rows != try_.rows || tex.rows != tey.rows) {
        seterr(err, errlen, "%s: %d training images but %d labels, %d test images but %d "
               "labels", dir, trx.rows, try_.rows, tex.rows, tey.rows);
        goto fail;
    }
    if (trx.cols != tex.cols) {
        seterr(err, errlen, "%s: training images have %d pixels, test images %d", dir,
               trx.cols, tex.cols);
        goto fail;
    }
    float top = 0;
    for (int i = 0; i < try_.rows; i++)
        top = try_.data[i] > top ? try_.data[i] : top;
    for (int i = 0; i < tey.rows; i++)
        top = tey.data[i] > top ? tey.data[i] : top;

    d->train_x = trx.data;
    d->train_y = try_.data;
    d->test_x = tex.data;
    d->test_y = tey.data;
    d->train_rows = trx.rows;
    d->test_rows = tex.rows;
    d->cols = trx.cols;
    d->classes = (int)top + 1;
    return 0;

fail:
    idx_array_free(&trx);
    idx_array_free(&try_);
    idx_array_free(&tex);
    idx_array_free(&tey);
    return -1;
}

void fmnist_free(struct fmnist *d)
{
    if (!d)
        return;
    free(d->train_x);
    free(d->train_y);
    free(d->test_x);
    free(d->test_y);
    memset(d, 0, sizeof *d);
}

size_t fmnist_bytes(const struct fmnist *d)
{
    size_t rows = (size_t)d->train_rows + (size_t)d->test_rows;
    return rows * ((size_t)d->cols + 1) * sizeof(float);
}
