/* idx.h -- reads the gzip'd idx files of MNIST-style datasets (Fashion-MNIST) as float32.
 *
 * The idx format: a big-endian header (magic 0x0000TTNN: TT the element type, NN the
 * number of dimensions; then NN 32-bit sizes) followed by the elements, row-major. Only
 * unsigned bytes (TT = 0x08) are read. The bytes are streamed through a small buffer
 * straight into the float array, so a load never holds a byte copy of the data besides.
 */
#ifndef IDX_H
#define IDX_H

#include <stddef.h>

#define IDX_MAX_DIMS 8

/* An idx array read as float32: rows is the first dimension, cols the product of the
 * others (1 for a 1-d array). */
struct idx_array {
    float *data;                         /* rows x cols, row-major; new (idx_array_free) */
    int rows, cols;
    int ndim;
    int dims[IDX_MAX_DIMS];
};

/* Reads the unsigned-byte idx file at path (gzip'd or plain: zlib reads both), storing
 * data[i] = (float)byte[i] / divisor (divisor 255 gives numpy's x.astype(float32) / 255,
 * bit for bit; 1 keeps the bytes' values).
 * want_ndim: the number of dimensions the file must have (0: any).
 * Returns 0 with *out filled (out->data new), or -1 with a message naming the file in
 * err (errlen bytes, NUL-terminated) and *out zeroed. Never reads past the file's end;
 * a file with fewer or more data bytes than its header says is an error. */
int idx_read_u8(const char *path, int want_ndim, float divisor, struct idx_array *out,
                char *err, size_t errlen);
void idx_array_free(struct idx_array *a);   /* frees a->data and zeroes *a; NULL is fine */

/* Fashion-MNIST (or MNIST): images scaled to [0, 1], one row of rows x cols per image,
 * and labels as float class indices (one column). */
struct fmnist {
    float *train_x, *train_y;            /* train_rows x cols, train_rows x 1 */
    float *test_x, *test_y;              /* test_rows x cols,  test_rows x 1 */
    int train_rows, test_rows, cols;
    int classes;                         /* 1 + the largest label */
};

#define FMNIST_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"

/* Loads train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz
 * and t10k-labels-idx1-ubyte.gz from dir (NULL: $FMNIST_DIR, else FMNIST_DEFAULT_DIR).
 * Checks that images are 3-d, labels 1-d, and that counts and image sizes match.
 * Returns 0 with *d filled (arrays new; fmnist_free), or -1 with err filled and *d zeroed. */
int fmnist_load(const char *dir, struct fmnist *d, char *err, size_t errlen);
void fmnist_free(struct fmnist *d);         /* frees the arrays and zeroes *d; NULL is fine */

/* Bytes of float32 data d holds. */
size_t fmnist_bytes(const struct fmnist *d);

#endif
