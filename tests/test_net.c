/* test_net.c -- core/net.c and core/pool.c: nn_summary rows and nn_tensors against
 * hand-computed shapes and counts, the kernel layout (a prediction with weights set by
 * hand), weight initialisation (seeding, the documented ranges and variances), that a
 * training run allocates nothing per step (malloc and friends are wrapped below and
 * counted), the thread pool (refusals, reproducibility, agreement with one thread), and
 * that a row's predicted outputs are the same bits alone, in any batch and order, among
 * other rows and on any number of threads (MLP and recurrent networks). */
#include "testutil.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* ---- counting allocations ----
 * The test binary defines the allocator entry points and forwards them to glibc's own;
 * while `counting` is set every call is counted. Sanitizer runtimes own malloc, so under
 * ASan the wrappers (and the test that needs them) are left out. */
#if defined(__SANITIZE_ADDRESS__)
#define NO_ALLOC_HOOKS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer) || \
    __has_feature(thread_sanitizer)
#define NO_ALLOC_HOOKS 1
#endif
#endif

#ifndef NO_ALLOC_HOOKS
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);
extern void *__libc_memalign(size_t align, size_t n);

static atomic_int counting;
static atomic_long nalloc;

static void count(void)
{
    if (atomic_load_explicit(&counting, memory_order_relaxed))
        atomic_fetch_add_explicit(&nalloc, 1, memory_order_relaxed);
}

void *malloc(size_t n)
{
    count();
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
    count();
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
    count();
    return __libc_realloc(p, n);
}

void free(void *p)
{
    __libc_free(p);
}

void *aligned_alloc(size_t align, size_t n)
{
    count();
    return __libc_memalign(align, n);
}

void *memalign(size_t align, size_t n);
void *memalign(size_t align, size_t n)
{
    count();
    return __libc_memalign(align, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    count();
    if (align < sizeof(void *) || (align & (align - 1)))
        return EINVAL;
    void *p = __libc_memalign(align, n);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}
#endif

/* ---- helpers ---- */

/* The spec the summary and tensor tests share (4 inputs, hand-counted below). */
static const struct nn_layer_spec body[] = {
    {.kind = NN_DENSE, .units = 8, .act = NN_RELU},
    {.kind = NN_DROPOUT, .rate = 0.5f},
    {.kind = NN_DENSE, .units = 8, .act = NN_LINEAR},
};
static const struct nn_layer_spec layers[] = {
    {.kind = NN_DENSE, .units = 8, .act = NN_RELU},
    {.kind = NN_BATCHNORM, .momentum = 0.99f, .epsilon = 1e-3f},
    {.kind = NN_RESIDUAL, .layers = body, .nlayers = 3},
    {.kind = NN_DROPOUT, .rate = 0.2f},
    {.kind = NN_DENSE, .units = 3, .act = NN_SOFTMAX},
};

static struct nn_net *build(const struct nn_layer_spec *ls, int n, int inputs,
                            enum nn_loss loss, uint64_t seed)
{
    return tu_net(ls, n, inputs, loss, seed);
}

/* First kernel of a net through nn_tensors. */
static struct nn_tensor kernel0(struct nn_net *net)
{
    struct nn_tensor t[8];
    ck_assert_int_ge(nn_tensors(net, t, 8), 1);
    ck_assert_str_eq(t[0].name, "kernel");
    return t[0];
}

/* ---- summary ---- */

struct row_want {
    const char *where;
    enum nn_kind kind;
    int depth, outputs;
    size_t params;
};

START_TEST(summary_rows)
{
    struct nn_net *net = build(layers, 5, 4, NN_CCE, 1);
    static const struct row_want want[] = {
        {"/layers/0", NN_DENSE, 0, 8, 4 * 8 + 8},
        {"/layers/1", NN_BATCHNORM, 0, 8, 2 * 8},
        {"/layers/2", NN_RESIDUAL, 0, 8, 2 * (8 * 8 + 8)},
        {"/layers/2/layers/0", NN_DENSE, 1, 8, 8 * 8 + 8},
        {"/layers/2/layers/1", NN_DROPOUT, 1, 8, 0},
        {"/layers/2/layers/2", NN_DENSE, 1, 8, 8 * 8 + 8},
        {"/layers/3", NN_DROPOUT, 0, 8, 0},
        {"/layers/4", NN_DENSE, 0, 3, 8 * 3 + 3},
    };
    struct nn_summary_row rows[16];
    memset(rows, 0, sizeof rows);
    ck_assert_int_eq(nn_summary(net, rows, 16), 8);
    size_t top = 0;
    for (int i = 0; i < 8; i++) {
        ck_assert_str_eq(rows[i].where, want[i].where);
        ck_assert_int_eq(rows[i].kind, want[i].kind);
        ck_assert_int_eq(rows[i].depth, want[i].depth);
        ck_assert_int_eq(rows[i].outputs, want[i].outputs);
        ck_assert_uint_eq(rows[i].params, want[i].params);
        if (rows[i].depth == 0)
            top += rows[i].params;
    }
    ck_assert_uint_eq(top, 40 + 16 + 144 + 27);
    ck_assert_uint_eq(nn_param_count(net), 227);
    ck_assert_int_eq(nn_inputs(net), 4);
    ck_assert_int_eq(nn_outputs(net), 3);
    ck_assert_int_eq(nn_epochs_done(net), 0);
    /* counting only */
    ck_assert_int_eq(nn_summary(net, NULL, 0), 8);
    nn_free(net);
}
END_TEST

/* A residual's row holds its body's parameter total even when the body's rows do not
 * fit in the caller's array. */
START_TEST(summary_truncated)
{
    struct nn_net *net = build(layers, 5, 4, NN_CCE, 1);
    struct nn_summary_row rows[4];
    memset(rows, 0, sizeof rows);
    int n = nn_summary(net, rows, 3);
    nn_free(net);
    ck_assert_int_eq(n, 8);
    ck_assert_str_eq(rows[2].where, "/layers/2");
    ck_assert_int_eq(rows[2].kind, NN_RESIDUAL);
    ck_assert_uint_eq(rows[2].params, 144);
    ck_assert_str_eq(rows[3].where, "");   /* not written past max */
}
END_TEST

START_TEST(summary_nested)
{
    /* 6 inputs: dense 6 | residual[ dense 6, residual[ batchnorm, dense 6 ] ] | dense 2 */
    struct nn_layer_spec inner[] = {nn_batchnorm(), nn_dense(6, NN_TANH)};
    struct nn_layer_spec mid[] = {nn_dense(6, NN_RELU), nn_residual(inner, 2)};
    struct nn_layer_spec top[] = {nn_dense(6, NN_RELU), nn_residual(mid, 2),
                                  nn_dense(2, NN_SOFTMAX)};
    struct nn_net *net = build(top, 3, 6, NN_CCE, 3);
    static const struct row_want want[] = {
        {"/layers/0", NN_DENSE, 0, 6, 42},
        {"/layers/1", NN_RESIDUAL, 0, 6, 42 + 12 + 42},
        {"/layers/1/layers/0", NN_DENSE, 1, 6, 42},
        {"/layers/1/layers/1", NN_RESIDUAL, 1, 6, 12 + 42},
        {"/layers/1/layers/1/layers/0", NN_BATCHNORM, 2, 6, 12},
        {"/layers/1/layers/1/layers/1", NN_DENSE, 2, 6, 42},
        {"/layers/2", NN_DENSE, 0, 2, 14},
    };
    struct nn_summary_row rows[8];
    ck_assert_int_eq(nn_summary(net, rows, 8), 7);
    for (int i = 0; i < 7; i++) {
        ck_assert_str_eq(rows[i].where, want[i].where);
        ck_assert_int_eq(rows[i].kind, want[i].kind);
        ck_assert_int_eq(rows[i].depth, want[i].depth);
        ck_assert_int_eq(rows[i].outputs, want[i].outputs);
        ck_assert_uint_eq(rows[i].params, want[i].params);
    }
    ck_assert_uint_eq(nn_param_count(net), 42 + 96 + 14);
    nn_free(net);
}
END_TEST

/* ---- tensors ---- */

START_TEST(tensors_names_shapes)
{
    struct nn_net *net = build(layers, 5, 4, NN_CCE, 1);
    static const struct {
        const char *where, *name;
        int rows, cols, has_grad;
    } want[] = {
        {"/layers/0", "kernel", 8, 4, 1},
        {"/layers/0", "bias", 1, 8, 1},
        {"/layers/1", "gamma", 1, 8, 1},
        {"/layers/1", "beta", 1, 8, 1},
        {"/layers/1", "moving_mean", 1, 8, 0},
        {"/layers/1", "moving_variance", 1, 8, 0},
        {"/layers/2/layers/0", "kernel", 8, 8, 1},
        {"/layers/2/layers/0", "bias", 1, 8, 1},
        {"/layers/2/layers/2", "kernel", 8, 8, 1},
        {"/layers/2/layers/2", "bias", 1, 8, 1},
        {"/layers/4", "kernel", 3, 8, 1},
        {"/layers/4", "bias", 1, 3, 1},
    };
    struct nn_tensor t[16];
    ck_assert_int_eq(nn_tensors(net, t, 16), 12);
    ck_assert_int_eq(nn_tensors(net, NULL, 0), 12);
    size_t trainable = 0;
    for (int i = 0; i < 12; i++) {
        ck_assert_str_eq(t[i].where, want[i].where);
        ck_assert_str_eq(t[i].name, want[i].name);
        ck_assert_int_eq(t[i].rows, want[i].rows);
        ck_assert_int_eq(t[i].cols, want[i].cols);
        ck_assert_ptr_nonnull(t[i].data);
        ck_assert_ptr_null(t[i].grad);   /* no step yet */
        if (want[i].has_grad)
            trainable += (size_t)t[i].rows * t[i].cols;
    }
    ck_assert_uint_eq(trainable, nn_param_count(net));
    /* initial batchnorm state: gamma 1, beta 0, mean 0, variance 1; biases 0 */
    for (int j = 0; j < 8; j++) {
        ck_assert_float_eq(t[2].data[j], 1.0f);
        ck_assert_float_eq(t[3].data[j], 0.0f);
        ck_assert_float_eq(t[4].data[j], 0.0f);
        ck_assert_float_eq(t[5].data[j], 1.0f);
        ck_assert_float_eq(t[1].data[j], 0.0f);
    }

    /* after a step the trainable tensors have gradients, the moving statistics none */
    enum { R = 16 };
    float x[R * 4], y[R];
    tu_fill(x, R * 4, -1, 1, 5);
    for (int i = 0; i < R; i++)
        y[i] = (float)(i % 3);
    struct nn_data d = {.x = x, .y = y, .rows = R, .cols = 4, .ycols = 1};
    struct nn_train_opts o = {.epochs = 1, .batch_size = R, .opt = nn_sgd(0.01f, 0, 0)};
    struct nn_rng rng;
    nn_rng_seed(&rng, 9);
    struct nn_error e;
    ck_assert_int_eq(nn_train(net, NULL, &d, NULL, &o, &rng, &e), 0);
    ck_assert_int_eq(nn_tensors(net, t, 16), 12);
    for (int i = 0; i < 12; i++) {
        if (want[i].has_grad)
            ck_assert_msg(t[i].grad != NULL, "%s %s has no gradient", t[i].where, t[i].name);
        else
            ck_assert_ptr_null(t[i].grad);
    }
    /* the moving statistics moved away from (0, 1) */
    int moved = 0;
    for (int j = 0; j < 8; j++)
        moved += t[4].data[j] != 0.0f && t[5].data[j] != 1.0f;
    ck_assert_int_gt(moved, 0);
    nn_free(net);
}
END_TEST

/* Kernel is (units x inputs): out_j = Σ_i W[j][i] x_i + b_j, checked by hand. */
START_TEST(tensors_layout)
{
    struct nn_layer_spec ls[] = {nn_dense(2, NN_LINEAR)};
    struct nn_net *net = build(ls, 1, 3, NN_MSE, 1);
    struct nn_tensor t[2];
    ck_assert_int_eq(nn_tensors(net, t, 2), 2);
    const float W[6] = {1, 2, 3, 4, 5, 6}, b[2] = {0.5f, -1};
    memcpy(t[0].data, W, sizeof W);
    memcpy(t[1].data, b, sizeof b);
    const float x[6] = {1, 1, 1, 1, 0, -2};
    float out[4];
    struct nn_error e;
    ck_assert_int_eq(nn_predict(net, NULL, x, 2, out, &e), 0);
    ck_assert_float_eq(out[0], 6.5f);    /* 1+2+3 + 0.5 */
    ck_assert_float_eq(out[1], 14.0f);   /* 4+5+6 - 1 */
    ck_assert_float_eq(out[2], -4.5f);   /* 1 - 6 + 0.5 */
    ck_assert_float_eq(out[3], -9.0f);   /* 4 - 12 - 1 */
    ck_assert_int_eq(nn_predict(net, NULL, x, 0, out, &e), 0);
    nn_free(net);
}
END_TEST

/* ---- initialisation ---- */

START_TEST(init_seeded)
{
    struct nn_net *a = build(layers, 5, 4, NN_CCE, 42), *b = build(layers, 5, 4, NN_CCE, 42),
                  *c = build(layers, 5, 4, NN_CCE, 43);
    size_t n = nn_param_count(a);
    ck_assert_int_eq(memcmp(a->params, b->params, n * sizeof(float)), 0);
    ck_assert_int_ne(memcmp(a->params, c->params, n * sizeof(float)), 0);
    /* the first kernel differs almost everywhere between seeds */
    struct nn_tensor ka = kernel0(a), kc = kernel0(c);
    int same = 0;
    for (int i = 0; i < ka.rows * ka.cols; i++)
        same += ka.data[i] == kc.data[i];
    ck_assert_int_lt(same, 2);
    nn_free(a);
    nn_free(b);
    nn_free(c);
}
END_TEST

struct stats {
    double mean, var, maxabs, beyond;   /* beyond: fraction with |w| > lim */
};

static struct stats moments(const float *w, size_t n, double lim)
{
    double s = 0, ss = 0, mx = 0;
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        s += w[i];
        ss += (double)w[i] * w[i];
        mx = fmax(mx, fabs(w[i]));
        out += fabs(w[i]) > lim;
    }
    double mean = s / n;
    return (struct stats){mean, ss / n - mean * mean, mx, (double)out / n};
}

/* Builds a 784 -> 256 dense layer and returns its kernel's statistics against lim. */
static struct stats kernel_stats(enum nn_act act, enum nn_init init, double lim, uint64_t seed)
{
    struct nn_layer_spec ls[] = {nn_dense(256, act), nn_dense(2, NN_SOFTMAX)};
    ls[0].init = init;
    struct nn_net *net = build(ls, 2, 784, NN_CCE, seed);
    struct nn_tensor t[2];
    nn_tensors(net, t, 2);
    ck_assert_int_eq(t[0].rows, 256);
    ck_assert_int_eq(t[0].cols, 784);
    for (int j = 0; j < 256; j++)
        ck_assert_float_eq(t[1].data[j], 0.0f);
    struct stats st = moments(t[0].data, 256 * 784, lim);
    nn_free(net);
    return st;
}

START_TEST(init_he_uniform)
{
    const double lim = sqrt(6.0 / 784), var = 2.0 / 784;
    struct stats s = kernel_stats(NN_RELU, NN_INIT_HE_UNIFORM, lim, 1);
    ck_assert_double_eq(s.beyond, 0);
    ck_assert_msg(s.maxabs > 0.999 * lim, "max %g, limit %g", s.maxabs, lim);
    ck_assert_msg(fabs(s.var / var - 1) < 0.02, "variance %g, want %g", s.var, var);
    ck_assert_msg(fabs(s.mean) < 1e-3, "mean %g", s.mean);
}
END_TEST

START_TEST(init_he_normal)
{
    const double sd = sqrt(2.0 / 784);
    /* a normal sample: about 8.3% lie beyond sqrt(3) sd, the uniform limit */
    struct stats s = kernel_stats(NN_RELU, NN_INIT_HE_NORMAL, sqrt(3.0) * sd, 2);
    ck_assert_msg(fabs(s.var / (sd * sd) - 1) < 0.02, "variance %g, want %g", s.var, sd * sd);
    ck_assert_msg(fabs(s.beyond - 0.0833) < 0.005, "beyond sqrt(3) sd: %g", s.beyond);
    ck_assert_msg(fabs(s.mean) < 1e-3, "mean %g", s.mean);
}
END_TEST

START_TEST(init_glorot)
{
    const double lim = sqrt(6.0 / (784 + 256)), var = 2.0 / (784 + 256);
    /* auto for sigmoid (and tanh, linear) is Glorot uniform */
    enum nn_act acts[] = {NN_SIGMOID, NN_TANH, NN_LINEAR};
    for (int k = 0; k < 3; k++) {
        struct stats s = kernel_stats(acts[k], NN_INIT_AUTO, lim, 3);
        ck_assert_double_eq(s.beyond, 0);
        ck_assert_msg(s.maxabs > 0.999 * lim, "max %g, limit %g", s.maxabs, lim);
        ck_assert_msg(fabs(s.var / var - 1) < 0.02, "variance %g, want %g", s.var, var);
    }
    struct stats s = kernel_stats(NN_SIGMOID, NN_INIT_GLOROT_NORMAL, sqrt(3 * var), 4);
    ck_assert_msg(fabs(s.var / var - 1) < 0.02, "variance %g, want %g", s.var, var);
    ck_assert_msg(fabs(s.beyond - 0.0833) < 0.005, "beyond sqrt(3) sd: %g", s.beyond);
    s = kernel_stats(NN_RELU, NN_INIT_ZEROS, 0, 5);
    ck_assert_double_eq(s.maxabs, 0);
}
END_TEST

/* nn.h: "NN_INIT_AUTO: He (normal) for the relu family". */
START_TEST(init_auto_relu_is_he_normal)
{
    const double sd = sqrt(2.0 / 784);
    enum nn_act acts[] = {NN_RELU, NN_LEAKY_RELU};
    for (int k = 0; k < 2; k++) {
        struct stats s = kernel_stats(acts[k], NN_INIT_AUTO, sqrt(3.0) * sd, 6);
        ck_assert_msg(fabs(s.var / (sd * sd) - 1) < 0.02, "%s: variance %g, want %g",
                      nn_act_name(acts[k]), s.var, sd * sd);
        ck_assert_msg(fabs(s.beyond - 0.0833) < 0.005,
                      "%s: %g of the weights beyond sqrt(3) sd; a normal has 0.083",
                      nn_act_name(acts[k]), s.beyond);
    }
}
END_TEST

/* ---- nothing allocated per step ---- */

#ifndef NO_ALLOC_HOOKS
static const struct nn_layer_spec abody[] = {{.kind = NN_DENSE, .units = 32, .act = NN_RELU}};
static const struct nn_layer_spec alayers[] = {
    {.kind = NN_DENSE, .units = 32, .act = NN_RELU},
    {.kind = NN_BATCHNORM, .momentum = 0.9f, .epsilon = 1e-3f},
    {.kind = NN_DROPOUT, .rate = 0.2f},
    {.kind = NN_RESIDUAL, .layers = abody, .nlayers = 1},
    {.kind = NN_DENSE, .units = 4, .act = NN_SOFTMAX},
};

/* Allocations made by one nn_train call (1 epoch, no validation) over `batches` batches,
 * with gradient clipping (the other update path) when clip is set. */
static long train_allocs(int batches, struct nn_pool *pool, int clip)
{
    enum { B = 8, IN = 16 };
    int rows = batches * B;
    float *x = malloc((size_t)rows * IN * sizeof *x), *y = malloc((size_t)rows * sizeof *y);
    ck_assert(x && y);
    tu_fill(x, (size_t)rows * IN, -1, 1, 11);
    for (int i = 0; i < rows; i++)
        y[i] = (float)(i % 4);
    struct nn_net *net = build(alayers, 5, IN, NN_CCE, 12);
    struct nn_data d = {.x = x, .y = y, .rows = rows, .cols = IN, .ycols = 1};
    struct nn_train_opts o = {.epochs = 1, .batch_size = B, .opt = nn_adam(1e-3f),
                              .shuffle = 1, .clip_norm = clip ? 1.0f : 0.0f};
    struct nn_rng rng;
    nn_rng_seed(&rng, 13);
    struct nn_error e;
    atomic_store(&nalloc, 0);
    atomic_store(&counting, 1);
    int rc = nn_train(net, pool, &d, NULL, &o, &rng, &e);
    atomic_store(&counting, 0);
    ck_assert_msg(rc == 0, "nn_train: %s", e.msg);
    nn_free(net);
    free(x);
    free(y);
    return atomic_load(&nalloc);
}

/* Valgrind replaces malloc in the executable too, so the hooks above never run. */
static int under_valgrind(void)
{
    const char *pre = getenv("LD_PRELOAD");
    return pre && strstr(pre, "vgpreload") != NULL;
}

static void no_alloc_per_step(struct nn_pool *pool)
{
    /* a first run lets lazily initialised libraries (OpenBLAS) settle */
    train_allocs(10, pool, 0);
    for (int clip = 0; clip < 2; clip++) {
        long a10 = train_allocs(10, pool, clip), a100 = train_allocs(100, pool, clip);
        ck_assert_msg(a10 > 0, "the allocation hooks counted nothing");
        ck_assert_msg(a10 == a100, "%d threads%s: %ld allocations for 10 batches, %ld for 100",
                      nn_pool_threads(pool), clip ? ", clip_norm" : "", a10, a100);
    }
}

START_TEST(no_alloc_one_thread)
{
    if (under_valgrind())
        return;
    no_alloc_per_step(NULL);
}
END_TEST

START_TEST(no_alloc_two_threads)
{
    if (under_valgrind())
        return;
    struct nn_pool *pool = nn_pool_new(2);
    ck_assert_ptr_nonnull(pool);
    no_alloc_per_step(pool);
    nn_pool_free(pool);
}
END_TEST
#endif

/* ---- pool ---- */

START_TEST(pool_refuses)
{
    ck_assert_ptr_null(nn_pool_new(0));
    ck_assert_ptr_null(nn_pool_new(-1));
    ck_assert_int_eq(nn_pool_threads(NULL), 1);
    nn_pool_free(NULL);
    struct nn_pool *p = nn_pool_new(1);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(nn_pool_threads(p), 1);
    nn_pool_free(p);
    p = nn_pool_new(3);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(nn_pool_threads(p), 3);
    nn_pool_free(p);
}
END_TEST

enum { PE = 4 };
struct losses {
    int n;
    double loss[PE];
};

static int record(void *ctx, const struct nn_report *r)
{
    struct losses *l = ctx;
    if (l->n < PE)
        l->loss[l->n++] = r->loss;
    return 0;
}

/* Per-epoch losses of a fixed run (batchnorm, dropout, residual, shuffling) on pool. */
static struct losses pool_run_losses(struct nn_pool *pool)
{
    enum { R = 300, IN = 10 };
    static float x[R * IN], y[R];
    tu_fill(x, R * IN, -1, 1, 21);
    for (int i = 0; i < R; i++)
        y[i] = x[i * IN] + x[i * IN + 1] > 0 ? (x[i * IN + 2] > 0 ? 2.0f : 1.0f) : 0.0f;
    struct nn_layer_spec rb[] = {nn_dense(16, NN_RELU), nn_dropout(0.25f), nn_dense(16, NN_LINEAR)};
    struct nn_layer_spec ls[] = {nn_dense(16, NN_RELU), nn_batchnorm(), nn_residual(rb, 3),
                                 nn_dense(3, NN_SOFTMAX)};
    struct nn_net *net = build(ls, 4, IN, NN_CCE, 22);
    struct losses l = {0};
    struct nn_data d = {.x = x, .y = y, .rows = R, .cols = IN, .ycols = 1};
    struct nn_train_opts o = {.epochs = PE, .batch_size = 32, .opt = nn_adam(1e-2f),
                              .shuffle = 1, .on_epoch = record, .ctx = &l};
    struct nn_rng rng;
    nn_rng_seed(&rng, 23);
    struct nn_error e;
    int rc = nn_train(net, pool, &d, NULL, &o, &rng, &e);
    ck_assert_msg(rc == 0, "nn_train: %s", e.msg);
    ck_assert_int_eq(l.n, PE);
    ck_assert_int_eq(nn_epochs_done(net), PE);
    nn_free(net);
    return l;
}

START_TEST(pool_trains_reproducibly)
{
    struct losses one = pool_run_losses(NULL);
    for (int threads = 2; threads <= 3; threads++) {
        struct nn_pool *p = nn_pool_new(threads);
        ck_assert_ptr_nonnull(p);
        struct losses a = pool_run_losses(p), b = pool_run_losses(p);
        for (int k = 0; k < PE; k++) {
            ck_assert_msg(isfinite(a.loss[k]), "loss %g", a.loss[k]);
            ck_assert_msg(memcmp(&a.loss[k], &b.loss[k], sizeof(double)) == 0,
                          "%d threads, epoch %d: %.17g then %.17g", threads, k + 1, a.loss[k],
                          b.loss[k]);
            /* another thread count sums in another order: close, not identical */
            ck_assert_msg(fabs(a.loss[k] - one.loss[k]) < 1e-3 * fabs(one.loss[k]),
                          "%d threads, epoch %d: %.9g vs %.9g with one thread", threads, k + 1,
                          a.loss[k], one.loss[k]);
        }
        ck_assert_msg(a.loss[PE - 1] < a.loss[0], "not learning: %g -> %g", a.loss[0],
                      a.loss[PE - 1]);
        nn_pool_free(p);
    }
}
END_TEST

/* Batches with fewer rows than threads (some threads get none) still train, the same
 * as on one thread up to rounding, and reproducibly. */
static struct losses small_batches(struct nn_pool *pool, int rows, int batch)
{
    enum { IN = 5 };
    float x[64 * IN], y[64];
    ck_assert_int_le(rows, 64);
    tu_fill(x, (size_t)rows * IN, -1, 1, 71);
    for (int i = 0; i < rows; i++)
        y[i] = x[i * IN] > 0 ? 1.0f : 0.0f;
    struct nn_layer_spec rb[] = {nn_dense(6, NN_TANH), nn_dense(6, NN_LINEAR)};
    struct nn_layer_spec ls[] = {nn_dense(6, NN_RELU), nn_batchnorm(), nn_residual(rb, 2),
                                 nn_dense(2, NN_SOFTMAX)};
    struct nn_net *net = build(ls, 4, IN, NN_CCE, 72);
    struct losses l = {0};
    struct nn_data d = {.x = x, .y = y, .rows = rows, .cols = IN, .ycols = 1};
    struct nn_train_opts o = {.epochs = PE, .batch_size = batch, .opt = nn_sgd(0.05f, 0.5f, 0),
                              .shuffle = 1, .on_epoch = record, .ctx = &l};
    struct nn_rng rng;
    nn_rng_seed(&rng, 73);
    struct nn_error e;
    int rc = nn_train(net, pool, &d, NULL, &o, &rng, &e);
    nn_free(net);
    ck_assert_msg(rc == 0, "nn_train: %s", e.msg);
    ck_assert_int_eq(l.n, PE);
    return l;
}

START_TEST(pool_small_batches)
{
    static const int cases[][2] = {{7, 2}, {9, 4}, {5, 1}, {3, 8}};
    struct nn_pool *p = nn_pool_new(3);
    ck_assert_ptr_nonnull(p);
    for (int c = 0; c < 4; c++) {
        struct losses one = small_batches(NULL, cases[c][0], cases[c][1]),
                      a = small_batches(p, cases[c][0], cases[c][1]),
                      b = small_batches(p, cases[c][0], cases[c][1]);
        for (int k = 0; k < PE; k++) {
            ck_assert_msg(isfinite(a.loss[k]), "loss %g", a.loss[k]);
            ck_assert(memcmp(&a.loss[k], &b.loss[k], sizeof(double)) == 0);
            ck_assert_msg(fabs(a.loss[k] - one.loss[k]) <= 1e-4 * fabs(one.loss[k]) + 1e-6,
                          "%d rows in batches of %d, epoch %d: %.9g on 3 threads, %.9g on one",
                          cases[c][0], cases[c][1], k + 1, a.loss[k], one.loss[k]);
        }
    }
    nn_pool_free(p);
}
END_TEST

START_TEST(pool_predicts_like_one_thread)
{
    enum { R = 1000, IN = 4 };
    float *x = malloc(sizeof(float) * R * IN), *a = malloc(sizeof(float) * R * 3),
          *b = malloc(sizeof(float) * R * 3);
    ck_assert(x && a && b);
    tu_fill(x, R * IN, -2, 2, 31);
    struct nn_net *net = build(layers, 5, IN, NN_CCE, 32);
    struct nn_error e;
    ck_assert_int_eq(nn_predict(net, NULL, x, R, a, &e), 0);
    struct nn_pool *p = nn_pool_new(3);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(nn_predict(net, p, x, R, b, &e), 0);
    for (int i = 0; i < R * 3; i++)
        ck_assert_msg(fabsf(a[i] - b[i]) <= 1e-5f, "row %d: %g vs %g", i / 3, a[i], b[i]);
    /* every row a distribution */
    for (int i = 0; i < R; i++)
        ck_assert_float_eq_tol(a[3 * i] + a[3 * i + 1] + a[3 * i + 2], 1.0f, 1e-5f);
    nn_pool_free(p);
    nn_free(net);
    free(x);
    free(a);
    free(b);
}
END_TEST

/* ---- a row's outputs do not depend on the batch ---- */

/* An MLP with batchnorm, dropout and a residual block, K not a multiple of 8 */
static const struct nn_layer_spec bbody[] = {
    {.kind = NN_DENSE, .units = 29, .act = NN_TANH},
    {.kind = NN_DROPOUT, .rate = 0.3f},
    {.kind = NN_DENSE, .units = 45, .act = NN_LINEAR},
};
static const struct nn_layer_spec blayers[] = {
    {.kind = NN_DENSE, .units = 45, .act = NN_RELU},
    {.kind = NN_BATCHNORM, .momentum = 0.9f, .epsilon = 1e-3f},
    {.kind = NN_RESIDUAL, .layers = bbody, .nlayers = 3},
    {.kind = NN_DROPOUT, .rate = 0.2f},
    {.kind = NN_DENSE, .units = 7, .act = NN_SOFTMAX},
};

/* Predicts rows `idx[0..n)` of x (IN wide) gathered into one call; out gets K per row. */
static void predict_rows(struct nn_net *net, struct nn_pool *pool, const float *x, int IN,
                         const int *idx, int n, float *out)
{
    float *g = malloc(sizeof(float) * (size_t)n * IN);
    ck_assert_ptr_nonnull(g);
    for (int i = 0; i < n; i++)
        memcpy(g + (size_t)i * IN, x + (size_t)idx[i] * IN, sizeof(float) * IN);
    struct nn_error e;
    ck_assert_int_eq(nn_predict(net, pool, g, n, out, &e), 0);
    free(g);
}

/* Row idx[i]'s outputs in got must be the same bits as in want (all R rows at once). */
static void same_bits(const float *want, const float *got, const int *idx, int n, int K,
                      const char *how)
{
    for (int i = 0; i < n; i++)
        for (int k = 0; k < K; k++) {
            const float *a = got + (size_t)i * K + k, *b = want + (size_t)idx[i] * K + k;
            ck_assert_msg(memcmp(a, b, sizeof *a) == 0,
                          "%s: row %d (at %d of %d), output %d: %a, all rows in one call %a",
                          how, idx[i], i, n, k, *a, *b);
        }
}

/* nn_predict of x's first N rows, each alone, reversed, interleaved with other rows and
 * on 2 threads gives the same bits as all R rows in one call, on one thread. Rows of x
 * are R..2R-1 of a 2R-row set, the first R the strangers. */
static void rows_alone(struct nn_net *net, int IN, int K, uint64_t seed)
{
    enum { R = 300 };
    const int Ns[] = {1, 3, 37, 128, 300};
    float *all = malloc(sizeof(float) * 2 * R * IN);
    float *want = malloc(sizeof(float) * 2 * R * K);
    float *got = malloc(sizeof(float) * (2 * R + 1) * K);   /* "mixed" has 2N + 1 rows */
    int *idx = malloc(sizeof(int) * (2 * R + 1));
    ck_assert(all && want && got && idx);
    tu_fill(all, (size_t)2 * R * IN, -2, 2, seed);
    struct nn_error e;
    ck_assert_int_eq(nn_predict(net, NULL, all, 2 * R, want, &e), 0);
    struct nn_pool *p2 = nn_pool_new(2);
    ck_assert_ptr_nonnull(p2);
    for (size_t q = 0; q < sizeof Ns / sizeof *Ns; q++) {
        const int N = Ns[q];
        for (int i = 0; i < N; i++)
            idx[i] = R + i;
        predict_rows(net, NULL, all, IN, idx, N, got);
        same_bits(want, got, idx, N, K, "in order");
        predict_rows(net, p2, all, IN, idx, N, got);
        same_bits(want, got, idx, N, K, "in order, 2 threads");
        for (int i = 0; i < N; i++)
            idx[i] = R + N - 1 - i;
        predict_rows(net, NULL, all, IN, idx, N, got);
        same_bits(want, got, idx, N, K, "reversed");
        /* mixed: stranger rows before, between and after */
        int n = 0;
        for (int i = 0; i < N; i++) {
            idx[n++] = (i * 7) % R;
            idx[n++] = R + (i * 11) % N;
        }
        idx[n++] = R - 1;
        predict_rows(net, NULL, all, IN, idx, n, got);
        same_bits(want, got, idx, n, K, "mixed");
        predict_rows(net, p2, all, IN, idx, n, got);
        same_bits(want, got, idx, n, K, "mixed, 2 threads");
    }
    for (int i = 0; i < 2 * R; i += 1 + i / 40) {   /* alone, a spread of rows */
        idx[0] = i;
        predict_rows(net, i % 2 ? p2 : NULL, all, IN, idx, 1, got);
        same_bits(want, got, idx, 1, K, "alone");
    }
    nn_pool_free(p2);
    free(all);
    free(want);
    free(got);
    free(idx);
}

/* Trains briefly first, so that batchnorm's running statistics are not the identity. */
START_TEST(rows_alone_same_bits_mlp)
{
    enum { IN = 37, K = 7, R = 256 };
    struct nn_net *net = build(blayers, 5, IN, NN_CCE, 33);
    float *x = malloc(sizeof(float) * R * IN), *y = malloc(sizeof(float) * R);
    ck_assert(x && y);
    tu_fill(x, R * IN, -2, 2, 34);
    for (int i = 0; i < R; i++)
        y[i] = (float)(i % K);
    const struct nn_data d = {x, y, R, IN, 1};
    const struct nn_train_opts o = {.epochs = 2, .batch_size = 32, .opt = nn_adam(1e-3f)};
    struct nn_rng rng;
    nn_rng_seed(&rng, 35);
    struct nn_error e;
    ck_assert_int_eq(nn_train(net, NULL, &d, NULL, &o, &rng, &e), 0);
    rows_alone(net, IN, K, 36);
    nn_free(net);
    free(x);
    free(y);
}
END_TEST

/* _i: rnn, lstm, gru; two stacked layers (the first returning sequences) and a dense
 * layer, 6 steps of 5 features. */
START_TEST(rows_alone_same_bits_recurrent)
{
    enum { T = 6, F = 5, K = 3 };
    struct nn_layer_spec (*cell[3])(int, int) = {nn_rnn, nn_lstm, nn_gru};
    const struct nn_layer_spec ls[] = {cell[_i](13, 1), cell[_i](9, 0),
                                       nn_dense(K, NN_SOFTMAX)};
    struct nn_spec s = {.inputs = F, .timesteps = T, .layers = ls, .nlayers = 3,
                        .loss = NN_CCE};
    struct nn_net *net = tu_spec_net(&s, 37);
    rows_alone(net, T * F, K, 38);
    nn_free(net);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("net");
    TCase *t = tcase_create("structure");
    tcase_add_test(t, summary_rows);
    tcase_add_test(t, summary_truncated);
    tcase_add_test(t, summary_nested);
    tcase_add_test(t, tensors_names_shapes);
    tcase_add_test(t, tensors_layout);
    suite_add_tcase(s, t);
    TCase *i = tcase_create("init");
    tcase_add_test(i, init_seeded);
    tcase_add_test(i, init_he_uniform);
    tcase_add_test(i, init_he_normal);
    tcase_add_test(i, init_glorot);
    tcase_add_test(i, init_auto_relu_is_he_normal);
    suite_add_tcase(s, i);
#ifndef NO_ALLOC_HOOKS
    TCase *a = tcase_create("alloc");
    tcase_set_timeout(a, 30);
    tcase_add_test(a, no_alloc_one_thread);
    tcase_add_test(a, no_alloc_two_threads);
    suite_add_tcase(s, a);
#endif
    TCase *p = tcase_create("pool");
    tcase_set_timeout(p, 30);
    tcase_add_test(p, pool_refuses);
    tcase_add_test(p, pool_trains_reproducibly);
    tcase_add_test(p, pool_small_batches);
    tcase_add_test(p, pool_predicts_like_one_thread);
    suite_add_tcase(s, p);
    TCase *b = tcase_create("batch");
    tcase_set_timeout(b, 60);
    tcase_add_test(b, rows_alone_same_bits_mlp);
    tcase_add_loop_test(b, rows_alone_same_bits_recurrent, 0, 3);
    suite_add_tcase(s, b);
    return tu_run(s) != 0;
}
