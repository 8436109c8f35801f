/* test_layers.c -- the layer kinds (core/layer_dense.c, layer_activation.c, layer_dropout.c,
 * layer_batchnorm.c, layer_residual.c) and the BLAS wrapper (core/blas.c).
 *
 * Every kind gets a tiny case whose expected outputs and gradients are computed in this
 * file (literals, or the formula evaluated in double precision), and a central-difference
 * gradient check on a small net where the kind's gradient is not trivial. Also: dropout
 * masks (kept fraction, 1/(1-rate) scale, identity in prediction), batchnorm batch and
 * running statistics, residual wiring (first layer, nested), mm against mm_ref and a plain
 * loop, the gradient checker catching a wrong or all-zero derivative, and one thread
 * against two. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GC_TOL 1e-2

/* ---- helpers ---- */

static struct nn_tensor tensor(struct nn_net *net, int i)
{
    struct nn_tensor t[32];
    int n = nn_tensors(net, t, 32);
    ck_assert_int_lt(i, n);
    return t[i];
}

static void set_tensor(struct nn_net *net, int i, const float *v, int count)
{
    struct nn_tensor t = tensor(net, i);
    ck_assert_int_eq(t.rows * t.cols, count);
    memcpy(t.data, v, (size_t)count * sizeof *v);
}

static void predict(const struct nn_net *net, struct nn_pool *pool, const float *x, int rows,
                    float *out)
{
    struct nn_error e;
    ck_assert_msg(nn_predict(net, pool, x, rows, out, &e) == 0, "nn_predict: %s", e.msg);
}

static float *fmalloc(size_t n)
{
    float *p = malloc((n + 1) * sizeof *p);
    ck_assert_ptr_nonnull(p);
    return p;
}

/* Builds the net, fills x in [-1, 1) from a seed, and runs gradcheck against random
 * targets within 0.5 of the outputs. (Targets far off make the float32 loss large, and
 * its rounding, divided by the 2h = 2e-3 of the central difference, then reaches the
 * 1e-2 tolerance on its own.) */
static struct gradcheck check_spec(const struct nn_layer_spec *ls, int n, int in, int out,
                                   int rows, enum nn_loss loss, uint64_t seed, uint64_t key)
{
    struct nn_net *net = tu_net(ls, n, in, loss, seed);
    ck_assert_int_eq(nn_outputs(net), out);
    float *x = fmalloc((size_t)rows * in), *y = fmalloc((size_t)rows * out);
    tu_fill(x, (size_t)rows * in, -1, 1, seed + 101);
    tu_fill(y, (size_t)rows * out, -0.5f, 0.5f, seed + 202);
    float *p = fmalloc((size_t)rows * out);
    predict(net, NULL, x, rows, p);
    for (size_t k = 0; k < (size_t)rows * out; k++)
        y[k] += p[k];
    free(p);
    struct gradcheck g = gradcheck(net, x, y, out, rows, key, 1);
    free(x);
    free(y);
    nn_free(net);
    return g;
}

/* ---- blas.c ---- */

/* C = alpha·op(A)·op(B) + beta·C in double, written out independently of blas.c. */
static void plain_gemm(int ta, int tb, int M, int N, int K, double alpha, const float *A,
                       int lda, const float *B, int ldb, double beta, const double *C0,
                       int ldc, double *C)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) {
                double a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                double b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                s += a * b;
            }
            C[(size_t)i * ldc + j] = alpha * s + (beta != 0 ? beta * C0[(size_t)i * ldc + j] : 0);
        }
}

/* loop _i: bit 0 ta, bit 1 tb, bit 2 beta */
START_TEST(test_mm_matches_ref)
{
    const int ta = _i & 1, tb = (_i >> 1) & 1;
    const float beta = (_i >> 2) & 1 ? 1.0f : 0.0f, alpha = 0.75f;
    const int M = 5, N = 7, K = 3;
    /* padded leading dimensions, so a mixed-up stride shows */
    const int lda = (ta ? M : K) + 2, ldb = (tb ? K : N) + 3, ldc = N + 1;
    const int arows = ta ? K : M, brows = tb ? N : K;
    float A[64], B[64], C[64], R[64];
    double C0[64], E[64];
    tu_fill(A, (size_t)arows * lda, -1, 1, 11 + _i);
    tu_fill(B, (size_t)brows * ldb, -1, 1, 22 + _i);
    tu_fill(C, (size_t)M * ldc, -1, 1, 33 + _i);
    for (int k = 0; k < M * ldc; k++) {
        if (beta == 0)
            C[k] = NAN;   /* beta 0: C is not read */
        C0[k] = C[k];
        R[k] = C[k];
    }
    plain_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C0, ldc, E);
    mm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    mm_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, R, ldc);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            int k = i * ldc + j;
            ck_near(C[k], E[k], 1e-5);
            ck_near(R[k], E[k], 1e-5);
            ck_near(C[k], R[k], 1e-5);
        }
    /* the padding columns of C are left alone */
    for (int i = 0; i < M; i++)
        if (beta != 0) {
            ck_assert(C[i * ldc + N] == (float)C0[i * ldc + N]);
            ck_assert(R[i * ldc + N] == (float)C0[i * ldc + N]);
        }
}
END_TEST

/* A = [1 2; 3 4], B = [5 6; 7 8]: the four products worked out by hand, plus C = 1. */
START_TEST(test_mm_hand)
{
    const float A[4] = {1, 2, 3, 4}, B[4] = {5, 6, 7, 8};
    const float want[4][4] = {
        {19, 22, 43, 50},   /* A·B   */
        {26, 30, 38, 44},   /* Aᵀ·B  */
        {17, 23, 39, 53},   /* A·Bᵀ  */
        {23, 31, 34, 46},   /* Aᵀ·Bᵀ */
    };
    for (int c = 0; c < 4; c++) {
        int ta = c & 1, tb = c >> 1;
        for (int b = 0; b < 2; b++) {
            float C[4] = {1, 1, 1, 1}, R[4] = {1, 1, 1, 1};
            mm(ta, tb, 2, 2, 2, 1, A, 2, B, 2, (float)b, C, 2);
            mm_ref(ta, tb, 2, 2, 2, 1, A, 2, B, 2, (float)b, R, 2);
            for (int k = 0; k < 4; k++) {
                ck_assert_float_eq(C[k], want[c][k] + b);
                ck_assert_float_eq(R[k], want[c][k] + b);
            }
        }
    }
}
END_TEST

/* ---- dense ---- */

START_TEST(test_dense_hand)
{
    const struct nn_layer_spec ls[] = {nn_dense(3, NN_LINEAR)};
    struct nn_net *net = tu_net(ls, 1, 2, NN_MSE, 1);
    const float W[6] = {1, 2, 3, 4, -1, 0.5f}, b[3] = {0.1f, -0.2f, 0.3f};
    set_tensor(net, 0, W, 6);
    set_tensor(net, 1, b, 3);
    const float x[4] = {1, -1, 0.5f, 2};
    /* row 0: [1-2+0.1, 3-4-0.2, -1-0.5+0.3]; row 1: [0.5+4+0.1, 1.5+8-0.2, -0.5+1+0.3] */
    const double want[6] = {-0.9, -1.2, -1.2, 4.6, 9.3, 0.8};
    float out[6];
    predict(net, NULL, x, 2, out);
    for (int k = 0; k < 6; k++)
        ck_near(out[k], want[k], 1e-6);

    /* mse against y: e = out - y, dout = 2e/(B·K) = e/3 */
    const float y[6] = {1, -1, 0, 4, 9, 1};
    const double e[6] = {-1.9, -0.2, -1.2, 0.6, 0.3, -0.2};
    float dx[4];
    double loss = net_loss_grad(net, x, y, 3, 2, 7, dx);
    ck_near(loss, 5.58 / 6, 1e-6);   /* (3.61+0.04+1.44+0.36+0.09+0.04)/6 */
    struct nn_tensor tw = tensor(net, 0), tb = tensor(net, 1);
    ck_assert_ptr_nonnull(tw.grad);
    for (int o = 0; o < 3; o++) {
        double db = (e[o] + e[3 + o]) / 3;
        ck_near(tb.grad[o], db, 1e-6);
        for (int i = 0; i < 2; i++) {
            double dw = (e[o] * x[i] + e[3 + o] * x[2 + i]) / 3;
            ck_near(tw.grad[o * 2 + i], dw, 1e-6);
        }
    }
    for (int n = 0; n < 2; n++)
        for (int i = 0; i < 2; i++) {
            double d = 0;
            for (int o = 0; o < 3; o++)
                d += e[n * 3 + o] / 3 * W[o * 2 + i];
            ck_near(dx[n * 2 + i], d, 1e-6);
        }
    nn_free(net);
}
END_TEST

START_TEST(test_dense_gradcheck)
{
    const struct nn_layer_spec ls[] = {nn_dense(4, NN_LINEAR), nn_dense(2, NN_LINEAR)};
    ck_gradcheck(check_spec(ls, 2, 3, 2, 4, NN_MSE, 5, 9), GC_TOL);
}
END_TEST

/* ---- activations ---- */

static const enum nn_act acts[] = {NN_LINEAR, NN_STEP, NN_SIGMOID, NN_TANH,
                                   NN_RELU, NN_LEAKY_RELU, NN_SOFTMAX};
#define NACTS ((int)(sizeof acts / sizeof *acts))
#define ALPHA 0.1

static double act_f(enum nn_act a, double x)
{
    switch (a) {
    case NN_LINEAR: return x;
    case NN_STEP: return x > 0 ? 1 : 0;
    case NN_SIGMOID: return 1 / (1 + exp(-x));
    case NN_TANH: return tanh(x);
    case NN_RELU: return x > 0 ? x : 0;
    case NN_LEAKY_RELU: return x > 0 ? x : ALPHA * x;
    default: ck_abort_msg("not elementwise"); return 0;
    }
}

static double act_d(enum nn_act a, double x)
{
    switch (a) {
    case NN_LINEAR: return 1;
    case NN_STEP: return 0;
    case NN_SIGMOID: { double s = 1 / (1 + exp(-x)); return s * (1 - s); }
    case NN_TANH: return 1 - tanh(x) * tanh(x);
    case NN_RELU: return x > 0 ? 1 : 0;
    case NN_LEAKY_RELU: return x > 0 ? 1 : ALPHA;
    default: ck_abort_msg("not elementwise"); return 0;
    }
}

/* A net of one activation layer: outputs and input gradients of mse against y, from the
 * formulas in double. */
START_TEST(test_activation_hand)
{
    const enum nn_act act = acts[_i];
    struct nn_layer_spec l = nn_activation(act);
    l.alpha = (float)ALPHA;
    enum { B = 2, W = 5 };
    struct nn_net *net = tu_net(&l, 1, W, NN_MSE, 1);
    const float x[B * W] = {-2, -0.5f, 0.25f, 1, 3, 0.7f, -1.3f, 2.2f, -0.1f, 0.4f};
    const float y[B * W] = {0.1f, -0.2f, 0.3f, 0.9f, -1, 0.5f, 0.2f, 0.0f, 0.4f, -0.3f};
    double f[B * W], df[B * W];
    if (act == NN_SOFTMAX) {
        for (int i = 0; i < B; i++) {
            double s = 0;
            for (int j = 0; j < W; j++)
                s += exp(x[i * W + j]);
            for (int j = 0; j < W; j++)
                f[i * W + j] = exp(x[i * W + j]) / s;
        }
    } else {
        for (int k = 0; k < B * W; k++)
            f[k] = act_f(act, x[k]);
    }
    float out[B * W], dx[B * W];
    predict(net, NULL, x, B, out);
    for (int k = 0; k < B * W; k++)
        ck_near(out[k], f[k], 1e-6);

    double loss = 0, g[B * W];
    for (int k = 0; k < B * W; k++) {
        loss += (f[k] - y[k]) * (f[k] - y[k]) / (B * W);
        g[k] = 2 * (f[k] - y[k]) / (B * W);
    }
    if (act == NN_SOFTMAX) {
        /* dx_j = Σ_k g_k ∂p_k/∂x_j = Σ_k g_k p_k (δ_kj - p_j) */
        for (int i = 0; i < B; i++)
            for (int j = 0; j < W; j++) {
                double d = 0;
                for (int k = 0; k < W; k++)
                    d += g[i * W + k] * f[i * W + k] * ((k == j) - f[i * W + j]);
                df[i * W + j] = d;
            }
    } else {
        for (int k = 0; k < B * W; k++)
            df[k] = g[k] * act_d(act, x[k]);
    }
    ck_near(net_loss_grad(net, x, y, W, B, 3, dx), loss, 1e-6);
    for (int k = 0; k < B * W; k++)
        ck_near(dx[k], df[k], 1e-6);
    nn_free(net);
}
END_TEST

/* dense → activation → dense, mse against random targets. Step is excluded: its zero
 * derivative is the subject of test_step_gradient_is_zero. The seeds are fixed; one that
 * puts a relu input within h = 1e-3 of 0 fails the central difference at the kink, not
 * the engine (seed 54 did once He-normal became relu's initialisation). */
START_TEST(test_activation_gradcheck)
{
    const enum nn_act act = acts[_i];
    if (act == NN_STEP)
        return;
    struct nn_layer_spec ls[] = {nn_dense(4, NN_LINEAR), nn_activation(act),
                                 nn_dense(2, NN_LINEAR)};
    ls[1].alpha = (float)ALPHA;
    ck_gradcheck(check_spec(ls, 3, 3, 2, 3, NN_MSE, 40 + (uint64_t)_i, 1), GC_TOL);
    /* the same activation fused into the dense layer (one spec layer, two ops) */
    struct nn_layer_spec fused[] = {nn_dense(4, act), nn_dense(2, NN_LINEAR)};
    fused[0].alpha = (float)ALPHA;
    ck_gradcheck(check_spec(fused, 2, 3, 2, 3, NN_MSE, 60 + (uint64_t)_i, 1), GC_TOL);
}
END_TEST

/* Step has a zero derivative: the layers before it get no gradient, and central
 * differences agree. ck_gradcheck would (rightly) reject this net as all-zero. */
START_TEST(test_step_gradient_is_zero)
{
    const struct nn_layer_spec before[] = {nn_dense(4, NN_LINEAR), nn_activation(NN_STEP),
                                           nn_dense(2, NN_LINEAR)};
    struct nn_net *net = tu_net(before, 3, 3, NN_MSE, 61);
    enum { B = 4 };
    float x[B * 3], y[B * 2];
    tu_fill(x, B * 3, -1, 1, 62);
    tu_fill(y, B * 2, -1, 1, 63);
    struct gradcheck g = gradcheck(net, x, y, 2, B, 1, 1);
    ck_assert_int_gt(g.checked, 0);
    ck_assert_msg(g.max_rel < GC_TOL, "max_rel %g", g.max_rel);
    /* the last dense layer learns (its input is 0/1) ... */
    ck_assert_msg(g.max_abs_grad > 1e-3, "max_abs_grad %g", g.max_abs_grad);
    /* ... the first gets exactly nothing, and neither does the input */
    struct nn_tensor k0 = tensor(net, 0), b0 = tensor(net, 1), k1 = tensor(net, 2);
    float dx[B * 3];
    net_loss_grad(net, x, y, 2, B, 1, dx);
    double nz1 = 0;
    for (int i = 0; i < k0.rows * k0.cols; i++)
        ck_assert_float_eq(k0.grad[i], 0);
    for (int i = 0; i < b0.cols; i++)
        ck_assert_float_eq(b0.grad[i], 0);
    for (int i = 0; i < B * 3; i++)
        ck_assert_float_eq(dx[i], 0);
    for (int i = 0; i < k1.rows * k1.cols; i++)
        nz1 = fmax(nz1, fabs(k1.grad[i]));
    ck_assert_msg(nz1 > 1e-3, "the dense after the step learns nothing (%g)", nz1);
    nn_free(net);

    /* nothing but a step after the only trainable layer: an all-zero gradient that
     * ck_gradcheck's guard exists to catch (max_rel alone would pass it) */
    const struct nn_layer_spec only[] = {nn_dense(4, NN_LINEAR), nn_activation(NN_STEP)};
    net = tu_net(only, 2, 3, NN_MSE, 64);
    float y4[B * 4];
    tu_fill(y4, B * 4, -1, 1, 65);
    g = gradcheck(net, x, y4, 4, B, 1, 1);
    ck_assert_int_gt(g.checked, 0);
    ck_assert_msg(g.max_rel < GC_TOL, "max_rel %g", g.max_rel);
    ck_assert_msg(g.max_abs_grad <= 1e-4, "max_abs_grad %g: the guard would not fire",
                  g.max_abs_grad);
    nn_free(net);
}
END_TEST

/* The comparison gradcheck makes, done here by hand: the engine's input gradient agrees
 * with central differences, and the same gradient with a wrong derivative (the sigmoid's
 * s instead of s(1-s), i.e. scaled by 1/(1-s)) does not. */
START_TEST(test_gradcheck_catches_wrong_derivative)
{
    struct nn_layer_spec l = nn_activation(NN_SIGMOID);
    enum { B = 2, W = 3 };
    struct nn_net *net = tu_net(&l, 1, W, NN_MSE, 1);
    float x[B * W] = {-1.5f, 0.3f, 2.0f, 0.8f, -0.4f, 1.1f}, xc[B * W];
    const float y[B * W] = {0.9f, 0.1f, 0.2f, 0.0f, 0.8f, 0.3f};
    float dx[B * W];
    net_loss_grad(net, x, y, W, B, 1, dx);
    const float h = 1e-3f;
    double ok = 0, wrong = 0;
    for (int k = 0; k < B * W; k++) {
        memcpy(xc, x, sizeof xc);
        xc[k] = x[k] + h;
        double lp = net_loss_grad(net, xc, y, W, B, 1, NULL);
        xc[k] = x[k] - h;
        double lm = net_loss_grad(net, xc, y, W, B, 1, NULL);
        double num = (lp - lm) / (2.0 * h);
        double s = 1 / (1 + exp(-x[k]));
        double bad = dx[k] / (1 - s);
        ok = fmax(ok, fabs(dx[k] - num) / fmax(fabs(dx[k]) + fabs(num), 1e-2));
        wrong = fmax(wrong, fabs(bad - num) / fmax(fabs(bad) + fabs(num), 1e-2));
    }
    ck_assert_msg(ok < GC_TOL, "right derivative rejected: %g", ok);
    ck_assert_msg(wrong > 10 * GC_TOL, "wrong derivative accepted: %g", wrong);
    nn_free(net);
}
END_TEST

/* ---- dropout ---- */

START_TEST(test_dropout_rate0_is_identity)
{
    const struct nn_layer_spec l = nn_dropout(0);
    enum { B = 3, W = 4 };
    struct nn_net *net = tu_net(&l, 1, W, NN_MSE, 1);
    float x[B * W], y[B * W], dx[B * W], out[B * W];
    tu_fill(x, B * W, -2, 2, 1);
    tu_fill(y, B * W, -2, 2, 2);
    double loss = 0;
    for (int k = 0; k < B * W; k++)
        loss += (double)(x[k] - y[k]) * (x[k] - y[k]) / (B * W);
    ck_near(net_loss_grad(net, x, y, W, B, 12345, dx), loss, 1e-6);
    for (int k = 0; k < B * W; k++)
        ck_near(dx[k], 2.0 * (x[k] - y[k]) / (B * W), 1e-6);
    predict(net, NULL, x, B, out);
    for (int k = 0; k < B * W; k++)
        ck_assert_float_eq(out[k], x[k]);
    nn_free(net);
}
END_TEST

/* With y = 0 and mse, out = m·x and dL/dx = 2·m²·x/(B·W): the input gradient shows the
 * mask. Checks that kept units are scaled by exactly 1/(1-rate), dropped ones are 0, the
 * kept fraction is near 1 - rate, the key fixes the mask, and prediction is the identity. */
START_TEST(test_dropout_mask)
{
    const float rate = _i == 0 ? 0.5f : 0.25f;
    const double s = 1.0 / (1.0 - rate);
    const struct nn_layer_spec l = nn_dropout(rate);
    enum { B = 2, W = 2000 };
    struct nn_net *net = tu_net(&l, 1, W, NN_MSE, 1);
    float *x = fmalloc(B * W), *y = fmalloc(B * W), *dx = fmalloc(B * W),
          *dx2 = fmalloc(B * W), *out = fmalloc(B * W);
    unsigned char *kept = malloc(B * W);
    ck_assert_ptr_nonnull(kept);
    tu_fill(x, B * W, 0.5f, 1.5f, 7);
    memset(y, 0, B * W * sizeof *y);
    double loss = net_loss_grad(net, x, y, W, B, 42, dx);
    int nkept = 0, rowdiff = 0;
    double want = 0;
    for (int k = 0; k < B * W; k++) {
        kept[k] = dx[k] != 0;
        nkept += kept[k];
        if (kept[k]) {
            ck_near(dx[k], 2 * s * s * x[k] / (B * W), 1e-6);
            want += s * s * x[k] * x[k] / (B * W);
        }
    }
    for (int j = 0; j < W; j++)
        rowdiff += kept[j] != kept[W + j];
    ck_near(loss, want, 1e-5);
    double frac = (double)nkept / (B * W);
    ck_assert_msg(fabs(frac - (1 - rate)) < 0.04, "kept %g, expected about %g", frac,
                  1 - rate);
    ck_assert_msg(rowdiff > W / 10, "the rows share a mask (%d differences)", rowdiff);

    /* the same key gives the same mask; another key another one */
    net_loss_grad(net, x, y, W, B, 42, dx2);
    ck_assert(memcmp(dx, dx2, B * W * sizeof *dx) == 0);
    net_loss_grad(net, x, y, W, B, 43, dx2);
    int keydiff = 0;
    for (int k = 0; k < B * W; k++)
        keydiff += kept[k] != (dx2[k] != 0);
    ck_assert_msg(keydiff > B * W / 10, "keys 42 and 43 give nearly the same mask (%d)",
                  keydiff);

    predict(net, NULL, x, B, out);
    for (int k = 0; k < B * W; k++)
        ck_assert_float_eq(out[k], x[k]);
    free(x);
    free(y);
    free(dx);
    free(dx2);
    free(out);
    free(kept);
    nn_free(net);
}
END_TEST

START_TEST(test_dropout_gradcheck)
{
    const struct nn_layer_spec ls[] = {nn_dense(6, NN_TANH), nn_dropout(0.5f),
                                       nn_dense(2, NN_LINEAR)};
    ck_gradcheck(check_spec(ls, 3, 4, 2, 4, NN_MSE, 71, 777), GC_TOL);
}
END_TEST

/* Two dropout layers in a row draw their own masks: with rate 0.5 then rate r2, a unit
 * is kept by both with probability 0.5 (1 - r2), as with independent masks, where a
 * shared mask (the key of the step alone) would keep min(0.5, 1 - r2) of them. With x = 1
 * and y = 0 under mse, dL/dx of a unit kept by both is 2 s1² s2² / (B W) and 0 otherwise,
 * and the loss is the kept fraction times s1² s2². */
START_TEST(test_dropout_stacked_independent)
{
    const float r2 = _i == 0 ? 0.5f : 0.25f;
    const double s1 = 2, s2 = 1.0 / (1.0 - r2), want = 0.5 * (1 - r2);
    const struct nn_layer_spec ls[] = {nn_dropout(0.5f), nn_dropout(r2)};
    enum { B = 4, W = 2000 };
    struct nn_net *net = tu_net(ls, 2, W, NN_MSE, 1);
    float *x = fmalloc(B * W), *y = fmalloc(B * W), *dx = fmalloc(B * W);
    for (int k = 0; k < B * W; k++) {
        x[k] = 1;
        y[k] = 0;
    }
    for (uint64_t key = 1; key <= 3; key++) {
        double loss = net_loss_grad(net, x, y, W, B, key, dx);
        int both = 0;
        for (int k = 0; k < B * W; k++) {
            if (dx[k] != 0) {
                both++;
                ck_near(dx[k], 2 * s1 * s1 * s2 * s2 / (B * W), 1e-9);
            }
        }
        double frac = (double)both / (B * W);
        ck_assert_msg(fabs(frac - want) < 0.025, "key %d: kept by both %g, independent masks "
                      "keep about %g", (int)key, frac, want);
        ck_near(loss, frac * s1 * s1 * s2 * s2, 1e-4);
    }
    free(x);
    free(y);
    free(dx);
    nn_free(net);
}
END_TEST

/* Per-epoch losses of a net with two dropout layers of one width, trained on pool. */
static void stacked_dropout_losses(struct nn_pool *pool, double *loss, int epochs)
{
    enum { R = 200, IN = 8 };
    static float x[R * IN], y[R];
    tu_fill(x, R * IN, -1, 1, 61);
    for (int i = 0; i < R; i++)
        y[i] = x[i * IN] - 2 * x[i * IN + 1];
    const struct nn_layer_spec ls[] = {nn_dense(32, NN_RELU), nn_dropout(0.5f),
                                       nn_dense(32, NN_RELU), nn_dropout(0.5f),
                                       nn_dense(1, NN_LINEAR)};
    struct nn_net *net = tu_net(ls, 5, IN, NN_MSE, 62);
    struct nn_rng rng;
    nn_rng_seed(&rng, 63);
    const struct nn_data d = {.x = x, .y = y, .rows = R, .cols = IN, .ycols = 1};
    for (int e = 0; e < epochs; e++) {
        struct nn_train_opts o = {.epochs = e + 1, .batch_size = 16, .opt = nn_adam(1e-2f),
                                  .shuffle = 1};
        struct nn_error err;
        ck_assert_msg(nn_train(net, pool, &d, &d, &o, &rng, &err) == 0, "%s", err.msg);
        double m[NN_METRIC_COUNT];
        ck_assert(nn_evaluate(net, NULL, &d, &loss[e], m, &err) == 0);
    }
    nn_free(net);
}

/* The masks depend on the seed only: the same seed gives bit-identical results, whatever
 * the number of threads. */
START_TEST(test_dropout_stacked_reproducible)
{
    enum { E = 4 };
    double one[E], again[E], more[E];
    stacked_dropout_losses(NULL, one, E);
    stacked_dropout_losses(NULL, again, E);
    ck_assert(memcmp(one, again, sizeof one) == 0);
    ck_assert_msg(one[E - 1] < one[0], "not learning: %g -> %g", one[0], one[E - 1]);
    for (int threads = 2; threads <= 3; threads++) {
        struct nn_pool *pool = nn_pool_new(threads);
        ck_assert_ptr_nonnull(pool);
        stacked_dropout_losses(pool, more, E);
        for (int e = 0; e < E; e++)
            ck_assert_msg(memcmp(&one[e], &more[e], sizeof one[e]) == 0,
                          "epoch %d: %.17g on 1 thread, %.17g on %d", e + 1, one[e], more[e],
                          threads);
        nn_pool_free(pool);
    }
}
END_TEST

/* ---- batchnorm ---- */

enum { BN_B = 4, BN_W = 2 };
static const float bn_x[BN_B * BN_W] = {1.0f, -2.0f, 2.5f, 0.5f, -0.5f, 1.5f, 3.0f, -1.0f};

/* Batch mean and (biased) variance of bn_x's columns. */
static void bn_stats(double *mean, double *var)
{
    for (int j = 0; j < BN_W; j++) {
        double s = 0, ss = 0;
        for (int i = 0; i < BN_B; i++)
            s += bn_x[i * BN_W + j];
        mean[j] = s / BN_B;
        for (int i = 0; i < BN_B; i++)
            ss += (bn_x[i * BN_W + j] - mean[j]) * (bn_x[i * BN_W + j] - mean[j]);
        var[j] = ss / BN_B;
    }
}

/* Training-mode batchnorm then mse, in double. */
static double bn_loss(const double *x, const float *gamma, const float *beta, double eps,
                      const float *y)
{
    double l = 0;
    for (int j = 0; j < BN_W; j++) {
        double m = 0, v = 0;
        for (int i = 0; i < BN_B; i++)
            m += x[i * BN_W + j] / BN_B;
        for (int i = 0; i < BN_B; i++)
            v += (x[i * BN_W + j] - m) * (x[i * BN_W + j] - m) / BN_B;
        for (int i = 0; i < BN_B; i++) {
            double o = gamma[j] * (x[i * BN_W + j] - m) / sqrt(v + eps) + beta[j];
            l += (o - y[i * BN_W + j]) * (o - y[i * BN_W + j]) / (BN_B * BN_W);
        }
    }
    return l;
}

START_TEST(test_batchnorm_training_hand)
{
    struct nn_layer_spec l = nn_batchnorm();
    l.momentum = 0.9f;
    const double eps = l.epsilon;
    struct nn_net *net = tu_net(&l, 1, BN_W, NN_MSE, 1);
    const float gamma[BN_W] = {1.5f, -0.5f}, beta[BN_W] = {0.2f, 0.1f};
    set_tensor(net, 0, gamma, BN_W);
    set_tensor(net, 1, beta, BN_W);
    float y[BN_B * BN_W], dx[BN_B * BN_W];
    tu_fill(y, BN_B * BN_W, -1, 1, 5);
    double mean[BN_W], var[BN_W], dgamma[BN_W] = {0}, dbeta[BN_W] = {0}, loss = 0;
    bn_stats(mean, var);
    for (int i = 0; i < BN_B; i++)
        for (int j = 0; j < BN_W; j++) {
            int k = i * BN_W + j;
            double xh = (bn_x[k] - mean[j]) / sqrt(var[j] + eps);
            double e = gamma[j] * xh + beta[j] - y[k];
            loss += e * e / (BN_B * BN_W);
            dgamma[j] += 2 * e / (BN_B * BN_W) * xh;
            dbeta[j] += 2 * e / (BN_B * BN_W);
        }
    ck_near(net_loss_grad(net, bn_x, y, BN_W, BN_B, 1, dx), loss, 1e-6);
    struct nn_tensor tg = tensor(net, 0), tbeta = tensor(net, 1);
    for (int j = 0; j < BN_W; j++) {
        ck_near(tg.grad[j], dgamma[j], 1e-5);
        ck_near(tbeta.grad[j], dbeta[j], 1e-5);
    }
    /* input gradient: central differences of the double-precision loss above */
    for (int k = 0; k < BN_B * BN_W; k++) {
        double xp[BN_B * BN_W], xm[BN_B * BN_W];
        for (int q = 0; q < BN_B * BN_W; q++)
            xp[q] = xm[q] = bn_x[q];
        xp[k] += 1e-6;
        xm[k] -= 1e-6;
        double num = (bn_loss(xp, gamma, beta, eps, y) - bn_loss(xm, gamma, beta, eps, y)) / 2e-6;
        ck_near(dx[k], num, 1e-4);
    }
    /* one step of running statistics from (0, 1): the variance is the unbiased one */
    struct nn_tensor rm = tensor(net, 2), rv = tensor(net, 3);
    ck_assert_str_eq(rm.name, "moving_mean");
    ck_assert_str_eq(rv.name, "moving_variance");
    for (int j = 0; j < BN_W; j++) {
        ck_near(rm.data[j], 0.1 * mean[j], 1e-6);
        ck_near(rv.data[j], 0.9 + 0.1 * var[j] * BN_B / (BN_B - 1), 1e-6);
    }
    nn_free(net);
}
END_TEST

/* batchnorm (first, so its batch statistics are those of x whatever training does) then
 * dense; nn_train with sgd; the running statistics follow the momentum rule and
 * prediction uses them. _i 0: one batch of 4 rows for 3 epochs; _i 1: two batches of 2
 * rows for 1 epoch. */
START_TEST(test_batchnorm_running_stats)
{
    const double m = 0.8;
    struct nn_layer_spec ls[] = {nn_batchnorm(), nn_dense(1, NN_LINEAR)};
    ls[0].momentum = (float)m;
    const double eps = ls[0].epsilon;
    struct nn_net *net = tu_net(ls, 2, BN_W, NN_MSE, 3);
    const float y[BN_B] = {0.5f, -1.0f, 2.0f, 0.0f};
    const struct nn_data d = {.x = bn_x, .y = y, .rows = BN_B, .cols = BN_W, .ycols = 1};
    struct nn_train_opts o = {.epochs = _i == 0 ? 3 : 1, .batch_size = _i == 0 ? BN_B : 2,
                              .opt = nn_sgd(0.1f, 0, 0)};
    struct nn_rng rng;
    nn_rng_seed(&rng, 9);
    struct nn_error e;
    ck_assert_msg(nn_train(net, NULL, &d, NULL, &o, &rng, &e) == 0, "%s", e.msg);

    double rmean[BN_W], rvar[BN_W];
    if (_i == 0) {
        double mean[BN_W], var[BN_W], mk = m * m * m;
        bn_stats(mean, var);
        for (int j = 0; j < BN_W; j++) {
            rmean[j] = (1 - mk) * mean[j];
            rvar[j] = mk + (1 - mk) * var[j] * BN_B / (BN_B - 1);
        }
    } else {
        for (int j = 0; j < BN_W; j++) {
            rmean[j] = 0;
            rvar[j] = 1;
            for (int b = 0; b < 2; b++) {
                double x0 = bn_x[(2 * b) * BN_W + j], x1 = bn_x[(2 * b + 1) * BN_W + j];
                double mu = (x0 + x1) / 2, uv = (x0 - mu) * (x0 - mu) + (x1 - mu) * (x1 - mu);
                rmean[j] = m * rmean[j] + (1 - m) * mu;
                rvar[j] = m * rvar[j] + (1 - m) * uv;   /* unbiased: / (2 - 1) */
            }
        }
    }
    struct nn_tensor g = tensor(net, 0), bt = tensor(net, 1), rm = tensor(net, 2),
                     rv = tensor(net, 3), k = tensor(net, 4), b = tensor(net, 5);
    for (int j = 0; j < BN_W; j++) {
        ck_near(rm.data[j], rmean[j], 1e-5);
        ck_near(rv.data[j], rvar[j], 1e-5);
    }
    /* training moved gamma off 1: prediction below depends on it */
    ck_assert(g.data[0] != 1.0f || g.data[1] != 1.0f);
    float out[BN_B];
    predict(net, NULL, bn_x, BN_B, out);
    for (int i = 0; i < BN_B; i++) {
        double o1 = b.data[0];
        for (int j = 0; j < BN_W; j++) {
            double h = g.data[j] * (bn_x[i * BN_W + j] - rmean[j]) / sqrt(rvar[j] + eps) +
                       bt.data[j];
            o1 += k.data[j] * h;
        }
        ck_near(out[i], o1, 1e-5);
    }
    nn_free(net);
}
END_TEST

START_TEST(test_batchnorm_gradcheck)
{
    const struct nn_layer_spec ls[] = {nn_dense(4, NN_LINEAR), nn_batchnorm(),
                                       nn_activation(NN_TANH), nn_dense(2, NN_LINEAR)};
    struct nn_net *net = tu_net(ls, 4, 3, NN_MSE, 81);
    /* gamma and beta away from 1 and 0 */
    float gb[4];
    tu_fill(gb, 4, 0.5f, 1.5f, 82);
    set_tensor(net, 2, gb, 4);
    tu_fill(gb, 4, -0.5f, 0.5f, 83);
    set_tensor(net, 3, gb, 4);
    enum { B = 5 };
    float x[B * 3], y[B * 2];
    tu_fill(x, B * 3, -1, 1, 84);
    tu_fill(y, B * 2, -1, 1, 85);
    ck_gradcheck(gradcheck(net, x, y, 2, B, 1, 1), GC_TOL);
    nn_free(net);
}
END_TEST

/* ---- residual ---- */

/* residual(dense) as the very first layer: out = x + W·x + b; dx = dout·(I + W). */
START_TEST(test_residual_first_hand)
{
    const struct nn_layer_spec body[] = {nn_dense(2, NN_LINEAR)};
    const struct nn_layer_spec ls[] = {nn_residual(body, 1)};
    struct nn_net *net = tu_net(ls, 1, 2, NN_MSE, 1);
    const float W[4] = {0.5f, -1, 2, 0.25f}, b[2] = {0.1f, -0.3f};
    set_tensor(net, 0, W, 4);
    set_tensor(net, 1, b, 2);
    const float x[4] = {1, 2, -1, 0.5f};
    /* row 0: W·x = [-1.5, 2.5]; row 1: W·x = [-1, -1.875] */
    const double want[4] = {-0.4, 4.2, -1.9, -1.675};
    float out[4], dx[4];
    predict(net, NULL, x, 2, out);
    for (int k = 0; k < 4; k++)
        ck_near(out[k], want[k], 1e-6);
    const float y[4] = {0, 1, -1, 0};
    double loss = 0, g[4];
    for (int k = 0; k < 4; k++) {
        loss += (want[k] - y[k]) * (want[k] - y[k]) / 4;
        g[k] = 2 * (want[k] - y[k]) / 4;
    }
    ck_near(net_loss_grad(net, x, y, 2, 2, 1, dx), loss, 1e-6);
    for (int n = 0; n < 2; n++)
        for (int i = 0; i < 2; i++) {
            double d = g[n * 2 + i];   /* the skip path */
            for (int o = 0; o < 2; o++)
                d += g[n * 2 + o] * W[o * 2 + i];
            ck_near(dx[n * 2 + i], d, 1e-6);
        }
    nn_free(net);
}
END_TEST

/* residual([dense1, residual([dense2])]) first: h = W1·x + b1, out = x + h + W2·h + b2. */
START_TEST(test_residual_nested_hand)
{
    const struct nn_layer_spec inner[] = {nn_dense(2, NN_LINEAR)};
    const struct nn_layer_spec body[] = {nn_dense(2, NN_LINEAR), nn_residual(inner, 1)};
    const struct nn_layer_spec ls[] = {nn_residual(body, 2)};
    struct nn_net *net = tu_net(ls, 1, 2, NN_MSE, 1);
    const float W1[4] = {1, -0.5f, 0.25f, 2}, b1[2] = {0.5f, -1};
    const float W2[4] = {-1, 0.5f, 3, 0.1f}, b2[2] = {0.2f, 0.3f};
    set_tensor(net, 0, W1, 4);
    set_tensor(net, 1, b1, 2);
    set_tensor(net, 2, W2, 4);
    set_tensor(net, 3, b2, 2);
    const float x[4] = {2, 1, -1, 4};
    /* row 0: h = [2-0.5+0.5, 0.5+2-1] = [2, 1.5]; W2·h = [-2+0.75, 6+0.15] = [-1.25, 6.15]
     *        out = [2+2-1.25+0.2, 1+1.5+6.15+0.3] = [2.95, 8.95]
     * row 1: h = [-1-2+0.5, -0.25+8-1] = [-2.5, 6.75]; W2·h = [2.5+3.375, -7.5+0.675]
     *        = [5.875, -6.825]; out = [-1-2.5+5.875+0.2, 4+6.75-6.825+0.3] = [2.575, 4.225] */
    const double want[4] = {2.95, 8.95, 2.575, 4.225};
    float out[4];
    predict(net, NULL, x, 2, out);
    for (int k = 0; k < 4; k++)
        ck_near(out[k], want[k], 1e-5);
    /* the input gradient: dout·(I + (I + W2)·W1) */
    const float y[4] = {1, 2, 3, 4};
    float dx[4];
    net_loss_grad(net, x, y, 2, 2, 1, dx);
    for (int n = 0; n < 2; n++)
        for (int i = 0; i < 2; i++) {
            double d = 0;
            for (int o = 0; o < 2; o++) {
                double g = 2 * (want[n * 2 + o] - y[n * 2 + o]) / 4;
                double J = (o == i);
                for (int q = 0; q < 2; q++)
                    J += ((o == q) + W2[o * 2 + q]) * W1[q * 2 + i];
                d += g * J;
            }
            ck_near(dx[n * 2 + i], d, 1e-5);
        }
    nn_free(net);
}
END_TEST

START_TEST(test_residual_gradcheck)
{
    /* residual first, with a nonlinear body */
    const struct nn_layer_spec body[] = {nn_dense(3, NN_TANH), nn_dense(3, NN_LINEAR)};
    const struct nn_layer_spec first[] = {nn_residual(body, 2), nn_dense(2, NN_LINEAR)};
    ck_gradcheck(check_spec(first, 2, 3, 2, 4, NN_MSE, 91, 1), GC_TOL);

    /* a residual nested first in a residual (three readers of one buffer), after a dense */
    const struct nn_layer_spec inner[] = {nn_dense(3, NN_SIGMOID)};
    const struct nn_layer_spec outer[] = {nn_residual(inner, 1), nn_dense(3, NN_TANH)};
    const struct nn_layer_spec nested[] = {nn_dense(3, NN_LINEAR), nn_residual(outer, 2),
                                           nn_dense(2, NN_LINEAR)};
    ck_gradcheck(check_spec(nested, 3, 2, 2, 4, NN_MSE, 92, 1), GC_TOL);

    /* batchnorm and dropout inside a residual, residual last */
    const struct nn_layer_spec mixed_body[] = {nn_batchnorm(), nn_dense(3, NN_LEAKY_RELU),
                                               nn_dropout(0.3f)};
    const struct nn_layer_spec mixed[] = {nn_dense(3, NN_TANH), nn_residual(mixed_body, 3)};
    ck_gradcheck(check_spec(mixed, 2, 2, 3, 5, NN_MSE, 93, 555), GC_TOL);
}
END_TEST

/* ---- threads ---- */

/* A batchnorm + dropout net trained with one and with two threads from the same seeds
 * predicts the same within 1e-5 (reduction order may change the last bits); so do its
 * running statistics. */
START_TEST(test_one_vs_two_threads)
{
    const struct nn_layer_spec ls[] = {nn_dense(8, NN_RELU), nn_batchnorm(), nn_dropout(0.3f),
                                       nn_dense(3, NN_TANH), nn_dense(2, NN_LINEAR)};
    enum { N = 33, IN = 6, OUT = 2 };   /* the last batch of 1 row leaves a thread idle */
    float x[N * IN], y[N * OUT], p0[N * OUT], p1[N * OUT], p2[N * OUT], before[N * OUT];
    tu_fill(x, N * IN, -1, 1, 101);
    tu_fill(y, N * OUT, -1, 1, 102);
    struct nn_net *a = tu_net(ls, 5, IN, NN_MSE, 103), *b = tu_net(ls, 5, IN, NN_MSE, 103);
    predict(a, NULL, x, N, before);
    struct nn_pool *pool = nn_pool_new(2);
    ck_assert_ptr_nonnull(pool);
    ck_assert_int_eq(nn_pool_threads(pool), 2);
    const struct nn_data d = {.x = x, .y = y, .rows = N, .cols = IN, .ycols = OUT};
    struct nn_train_opts o = {.epochs = 3, .batch_size = 16, .opt = nn_sgd(0.05f, 0.9f, 0),
                              .shuffle = 1};
    struct nn_rng ra, rb;
    nn_rng_seed(&ra, 104);
    nn_rng_seed(&rb, 104);
    struct nn_error e;
    ck_assert_msg(nn_train(a, NULL, &d, NULL, &o, &ra, &e) == 0, "%s", e.msg);
    ck_assert_msg(nn_train(b, pool, &d, NULL, &o, &rb, &e) == 0, "%s", e.msg);
    predict(a, NULL, x, N, p0);
    predict(b, NULL, x, N, p1);
    predict(b, pool, x, N, p2);
    double moved = 0;
    for (int k = 0; k < N * OUT; k++) {
        moved = fmax(moved, fabs(p0[k] - before[k]));
        ck_assert_msg(fabs(p0[k] - p1[k]) <= 1e-5, "output %d: %.9g (1 thread) vs %.9g "
                      "(2 threads)", k, (double)p0[k], (double)p1[k]);
        ck_assert_float_eq(p1[k], p2[k]);   /* prediction is per row */
    }
    ck_assert_msg(moved > 1e-3, "training did not change the outputs (%g)", moved);
    ck_assert_uint_eq(a->nstats, b->nstats);
    for (size_t k = 0; k < a->nstats; k++)
        ck_assert_msg(fabs(a->stats[k] - b->stats[k]) <= 1e-5 * (1 + fabs(a->stats[k])),
                      "running statistic %zu: %.9g vs %.9g", k, (double)a->stats[k],
                      (double)b->stats[k]);
    nn_pool_free(pool);
    nn_free(a);
    nn_free(b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("layers");
    TCase *tc = tcase_create("blas");
    tcase_add_loop_test(tc, test_mm_matches_ref, 0, 8);
    tcase_add_test(tc, test_mm_hand);
    suite_add_tcase(s, tc);

    tc = tcase_create("dense");
    tcase_add_test(tc, test_dense_hand);
    tcase_add_test(tc, test_dense_gradcheck);
    suite_add_tcase(s, tc);

    tc = tcase_create("activation");
    tcase_add_loop_test(tc, test_activation_hand, 0, NACTS);
    tcase_add_loop_test(tc, test_activation_gradcheck, 0, NACTS);
    tcase_add_test(tc, test_step_gradient_is_zero);
    tcase_add_test(tc, test_gradcheck_catches_wrong_derivative);
    suite_add_tcase(s, tc);

    tc = tcase_create("dropout");
    tcase_add_test(tc, test_dropout_rate0_is_identity);
    tcase_add_loop_test(tc, test_dropout_mask, 0, 2);
    tcase_add_test(tc, test_dropout_gradcheck);
    tcase_add_loop_test(tc, test_dropout_stacked_independent, 0, 2);
    tcase_add_test(tc, test_dropout_stacked_reproducible);
    suite_add_tcase(s, tc);

    tc = tcase_create("batchnorm");
    tcase_add_test(tc, test_batchnorm_training_hand);
    tcase_add_loop_test(tc, test_batchnorm_running_stats, 0, 2);
    tcase_add_test(tc, test_batchnorm_gradcheck);
    suite_add_tcase(s, tc);

    tc = tcase_create("residual");
    tcase_add_test(tc, test_residual_first_hand);
    tcase_add_test(tc, test_residual_nested_hand);
    tcase_add_test(tc, test_residual_gradcheck);
    suite_add_tcase(s, tc);

    tc = tcase_create("threads");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_one_vs_two_threads);
    suite_add_tcase(s, tc);
    return tu_run(s) != 0;
}
