/* test_recurrent.c -- the recurrent layers (core/layer_recurrent.c) and sequences through
 * the engine: a dense layer over every step, dropout between recurrent layers.
 *
 * One hand-computed pair of steps per cell (PyTorch's equations evaluated with numpy, the
 * script in the comment), gates driven far into saturation against the equations in double,
 * central-difference gradient checks over inputs and every
 * weight (T = 6 steps, both return_sequences settings, two stacked layers, a dense layer
 * per step), the gradient over time (‖∂L/∂h_t‖) against the chain rule, results
 * bit-identical on 1, 2 and 3 threads, no allocation per step, save and load, and a small
 * adding problem that an lstm learns. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GC_TOL 1e-2

static struct nn_net *seq_net(const struct nn_layer_spec *ls, int n, int inputs, int T,
                              enum nn_loss loss, uint64_t seed)
{
    struct nn_spec s = {.inputs = inputs, .timesteps = T, .layers = ls, .nlayers = n,
                        .loss = loss};
    return tu_spec_net(&s, seed);
}

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

/* ---- one step by hand ----
 *
 * IN = 2, H = 1, T = 2, x = [[0.5, -1], [1.5, 0.25]], return_sequences: the outputs are
 * h0 and h1. The weights below; expected values from this numpy script (PyTorch's
 * equations):
 *
 *   sig = lambda v: 1 / (1 + np.exp(-v)); h = c = 0
 *   lstm: a = W @ x[t] + U @ h + b; i, f, g, o = sig(a0), sig(a1), tanh(a2), sig(a3)
 *         c = f * c + i * g; h = o * tanh(c)
 *   gru:  gx = W @ x[t] + b; gh = U @ h + bh; r = sig(gx0 + gh0); z = sig(gx1 + gh1)
 *         n = tanh(gx2 + r * gh2); h = (1 - z) * n + z * h
 *   rnn:  h = tanh(W @ x[t] + U @ h + b)   (relu: max(., 0))
 *
 * torch 1.13's nn.LSTM, nn.GRU and nn.RNN given the same weights (weight_ih = W,
 * weight_hh = U, bias_ih = b, bias_hh = bh or 0) answer the same values to 1e-8.
 */
static const float hx[4] = {0.5f, -1.0f, 1.5f, 0.25f};

START_TEST(test_lstm_hand)
{
    const struct nn_layer_spec ls[] = {nn_lstm(1, 1)};
    struct nn_net *net = seq_net(ls, 1, 2, 2, NN_MSE, 1);
    const float W[8] = {0.1f, 0.2f, -0.3f, 0.4f, 0.5f, -0.6f, 0.7f, 0.8f};
    const float U[4] = {0.9f, -0.2f, 0.3f, 0.4f}, b[4] = {0.05f, 1.0f, -0.1f, 0.2f};
    /* the forget gate's bias starts at 1 (unit_forget_bias), the others at 0 */
    struct nn_tensor tb = tensor(net, 2);
    ck_assert_float_eq(tb.data[0], 0);
    ck_assert_float_eq(tb.data[1], 1);
    ck_assert_float_eq(tb.data[2], 0);
    ck_assert_float_eq(tb.data[3], 0);
    set_tensor(net, 0, W, 8);
    set_tensor(net, 1, U, 4);
    set_tensor(net, 2, b, 4);
    float out[2];
    struct nn_error e;
    ck_assert_int_eq(nn_predict(net, NULL, hx, 1, out, &e), 0);
    ck_near(out[0], 0.12822789689812145, 1e-6);
    ck_near(out[1], 0.36937947629917683, 1e-6);
    nn_free(net);
}
END_TEST

START_TEST(test_gru_hand)
{
    const struct nn_layer_spec ls[] = {nn_gru(1, 1)};
    struct nn_net *net = seq_net(ls, 1, 2, 2, NN_MSE, 1);
    ck_assert_int_eq(nn_tensors(net, NULL, 0), 4);
    ck_assert_str_eq(tensor(net, 3).name, "recurrent_bias");
    const float W[6] = {0.1f, 0.2f, -0.3f, 0.4f, 0.5f, -0.6f};
    const float U[3] = {0.9f, -0.2f, 0.3f}, b[3] = {0.05f, 0.1f, -0.1f};
    const float bh[3] = {0.2f, -0.3f, 0.4f};
    set_tensor(net, 0, W, 6);
    set_tensor(net, 1, U, 3);
    set_tensor(net, 2, b, 3);
    set_tensor(net, 3, bh, 3);
    float out[2];
    struct nn_error e;
    ck_assert_int_eq(nn_predict(net, NULL, hx, 1, out, &e), 0);
    ck_near(out[0], 0.5054944725327153, 1e-6);
    ck_near(out[1], 0.6417157431703397, 1e-6);
    nn_free(net);
}
END_TEST

START_TEST(test_rnn_hand)
{
    /* _i 0: tanh, 1: relu; and return_sequences false gives the last step alone */
    struct nn_layer_spec l = nn_rnn(1, _i == 0);
    l.act = _i == 0 ? NN_TANH : NN_RELU;
    struct nn_net *net = seq_net(&l, 1, 2, 2, NN_MSE, 1);
    ck_assert_int_eq(nn_outputs(net), _i == 0 ? 2 : 1);
    const float W[2] = {0.1f, 0.2f}, U[1] = {0.9f}, b[1] = {0.05f};
    set_tensor(net, 0, W, 2);
    set_tensor(net, 1, U, 1);
    set_tensor(net, 2, b, 1);
    float out[2];
    struct nn_error e;
    ck_assert_int_eq(nn_predict(net, NULL, hx, 1, out, &e), 0);
    if (_i == 0) {
        ck_near(out[0], -0.09966799462495583, 1e-6);
        ck_near(out[1], 0.1589397745958039, 1e-6);
    } else {
        ck_near(out[0], 0.25, 1e-6);
    }
    nn_free(net);
}
END_TEST

/* Gates far into saturation and back: pre-activations from -300 to 300 (where e^x leaves
 * float's range, and the gates' exp is computed inline and clamped), 11 units (a vector's
 * width and a remainder), 3 steps, against the equations in double with libm. _i: rnn
 * (tanh), lstm, gru; and a NaN input comes out NaN. */
START_TEST(test_gates_saturate)
{
    enum { H = 11, T = 3, MAXG = 4 };
    const int G = _i == 0 ? 1 : _i == 1 ? 4 : 3, GH = G * H;
    struct nn_layer_spec l = _i == 0 ? nn_rnn(H, 1) : _i == 1 ? nn_lstm(H, 1) : nn_gru(H, 1);
    struct nn_net *net = seq_net(&l, 1, 1, T, NN_MSE, 3);
    float W[MAXG * H], U[MAXG * H * H], b[MAXG * H], bh[MAXG * H];
    for (int k = 0; k < GH; k++) {
        W[k] = -300.0f + 600.0f * (float)((k * 7) % GH) / (GH - 1);   /* x = 1: a = W */
        b[k] = 0.01f * (float)(k % 5);
        bh[k] = -0.02f * (float)(k % 3);
        for (int j = 0; j < H; j++)
            U[k * H + j] = 0.05f * (float)(((k + 3 * j) % 7) - 3);
    }
    set_tensor(net, 0, W, GH);
    set_tensor(net, 1, U, GH * H);
    set_tensor(net, 2, b, GH);
    if (_i == 2)
        set_tensor(net, 3, bh, GH);
    const float x[T] = {1.0f, -0.01f, 0.5f};
    float out[T * H];
    struct nn_error e;
    ck_assert_int_eq(nn_predict(net, NULL, x, 1, out, &e), 0);

    double h[H] = {0}, c[H] = {0}, a[MAXG * H], u[MAXG * H];
    for (int s = 0; s < T; s++) {
        for (int k = 0; k < GH; k++) {
            u[k] = _i == 2 ? bh[k] : 0;
            for (int j = 0; j < H; j++)
                u[k] += (double)U[k * H + j] * h[j];
            a[k] = (double)W[k] * x[s] + b[k];
        }
        for (int j = 0; j < H; j++) {
#define SIG(v) (1.0 / (1.0 + exp(-(v))))
            if (_i == 0) {
                h[j] = tanh(a[j] + u[j]);
            } else if (_i == 1) {
                double ig = SIG(a[j] + u[j]), fg = SIG(a[H + j] + u[H + j]);
                double gg = tanh(a[2 * H + j] + u[2 * H + j]), og = SIG(a[3 * H + j] + u[3 * H + j]);
                c[j] = fg * c[j] + ig * gg;
                h[j] = og * tanh(c[j]);
            } else {
                double rg = SIG(a[j] + u[j]), zg = SIG(a[H + j] + u[H + j]);
                double ng = tanh(a[2 * H + j] + rg * u[2 * H + j]);
                h[j] = (1 - zg) * ng + zg * h[j];
            }
#undef SIG
        }
        for (int j = 0; j < H; j++)
            ck_near(out[s * H + j], h[j], 1e-6);
    }
    /* a NaN input is not hidden by the gates' saturation: every output is NaN */
    const float xn[T] = {NAN, 0.5f, 0.5f};
    ck_assert_int_eq(nn_predict(net, NULL, xn, 1, out, &e), 0);
    for (int k = 0; k < T * H; k++)
        ck_assert_msg(isnan(out[k]), "output %d is %g, not NaN", k, out[k]);
    nn_free(net);
}
END_TEST

/* ---- gradient checks ---- */

enum { GT = 6, GF = 3, GROWS = 3 };

/* Gradient check of a sequence net with GT steps of GF features, against targets within
 * 0.5 of its outputs; also asserts that every tensor of every recurrent layer gets a
 * gradient that is not all zero. */
static void seq_gradcheck(const struct nn_layer_spec *ls, int n, enum nn_loss loss,
                          uint64_t seed)
{
    struct nn_net *net = seq_net(ls, n, GF, GT, loss, seed);
    const int K = nn_outputs(net), in = nn_inputs(net);
    ck_assert_int_eq(in, GT * GF);
    float *x = malloc(sizeof(float) * GROWS * in), *y = malloc(sizeof(float) * GROWS * K);
    float *p = malloc(sizeof(float) * GROWS * K);
    ck_assert(x && y && p);
    tu_fill(x, (size_t)GROWS * in, -1, 1, seed + 101);
    tu_fill(y, (size_t)GROWS * K, -0.5f, 0.5f, seed + 202);
    struct nn_error e;
    ck_assert_int_eq(nn_predict(net, NULL, x, GROWS, p, &e), 0);
    for (int k = 0; k < GROWS * K; k++)
        y[k] = loss == NN_BCE ? (y[k] > 0) : y[k] + p[k];
    ck_gradcheck(gradcheck(net, x, y, K, GROWS, 7, 1), GC_TOL);
    net_loss_grad(net, x, y, K, GROWS, 7, NULL);
    struct nn_tensor t[32];
    int nt = nn_tensors(net, t, 32);
    for (int i = 0; i < nt; i++) {
        double mx = 0;
        for (int k = 0; k < t[i].rows * t[i].cols; k++)
            mx = fmax(mx, fabs(t[i].grad[k]));
        ck_assert_msg(mx > 1e-5, "%s %s: gradient all zero", t[i].where, t[i].name);
    }
    free(x);
    free(y);
    free(p);
    nn_free(net);
}

static struct nn_layer_spec cell(int c, int units, int seqs)
{
    struct nn_layer_spec l = c == 0 ? nn_rnn(units, seqs) : c == 1 ? nn_lstm(units, seqs)
                           : c == 2 ? nn_gru(units, seqs) : nn_rnn(units, seqs);
    if (c == 3)
        l.act = NN_RELU;
    return l;
}

/* _i: the cell (rnn tanh, lstm, gru, rnn relu); the last step into a dense layer */
START_TEST(test_gradcheck_last_step)
{
    const struct nn_layer_spec ls[] = {cell(_i, 4, 0), nn_dense(2, NN_LINEAR)};
    seq_gradcheck(ls, 2, NN_MSE, 11 + _i);
}
END_TEST

/* every step out, straight into the loss */
START_TEST(test_gradcheck_sequences)
{
    const struct nn_layer_spec ls[] = {cell(_i, 3, 1)};
    seq_gradcheck(ls, 1, NN_MSE, 21 + _i);
}
END_TEST

/* two stacked layers, dropout between them, then the last step */
START_TEST(test_gradcheck_stacked)
{
    const struct nn_layer_spec ls[] = {cell(_i, 4, 1), nn_dropout(0.25f), cell(_i, 3, 0),
                                       nn_dense(1, NN_LINEAR)};
    seq_gradcheck(ls, 4, NN_MSE, 31 + _i);
}
END_TEST

/* many-to-many: a dense layer (with its activation) applied to every step */
START_TEST(test_gradcheck_many_to_many)
{
    const struct nn_layer_spec ls[] = {cell(_i, 4, 1), nn_dense(2, NN_SIGMOID)};
    seq_gradcheck(ls, 2, NN_BCE, 41 + _i);
}
END_TEST

/* A class per step: softmax over each step's 3 outputs (each step's probabilities sum to
 * 1), categorical_crossentropy with a class index per step (_i 0) or one-hot steps (_i 1),
 * through every cell in turn. */
START_TEST(test_gradcheck_class_per_step)
{
    for (int c = 0; c < 3; c++) {
        const struct nn_layer_spec ls[] = {cell(c, 4, 1), nn_dense(3, NN_SOFTMAX)};
        struct nn_net *net = seq_net(ls, 2, GF, GT, NN_CCE, 61 + c);
        ck_assert_int_eq(nn_outputs(net), GT * 3);
        float x[GROWS * GT * GF], p[GROWS * GT * 3], y[GROWS * GT * 3];
        tu_fill(x, GROWS * GT * GF, -1, 1, 62 + c);
        struct nn_error e;
        ck_assert_int_eq(nn_predict(net, NULL, x, GROWS, p, &e), 0);
        for (int r = 0; r < GROWS * GT; r++) {
            ck_near(p[3 * r] + p[3 * r + 1] + p[3 * r + 2], 1.0, 1e-6);
            ck_assert(p[3 * r] < 1 && p[3 * r] > 0);
        }
        int ycols = _i ? GT * 3 : GT;
        for (int r = 0; r < GROWS; r++)
            for (int t = 0; t < GT; t++) {
                int cls = (r + 2 * t + c) % 3;
                if (_i)
                    for (int j = 0; j < 3; j++)
                        y[(r * GT + t) * 3 + j] = j == cls;
                else
                    y[r * GT + t] = (float)cls;
            }
        ck_gradcheck(gradcheck(net, x, y, ycols, GROWS, 7, 1), GC_TOL);
        nn_free(net);
    }
}
END_TEST

/* Training classifies every step: the class of step t is the sign of the running sum of
 * the first input up to t (3 classes: below -0.3, between, above 0.3), which needs the
 * steps before it. Labels are a class index per step; accuracy counts steps. A label row
 * that is not one-hot per step is refused naming the row and step. */
START_TEST(test_class_per_step_learns)
{
    enum { T = 12, ROWS = 1536, VAL = 256 };
    float *x = malloc(sizeof(float) * (ROWS + VAL) * T * 2);
    float *y = malloc(sizeof(float) * (ROWS + VAL) * T);
    ck_assert(x && y);
    struct nn_rng r;
    nn_rng_seed(&r, 8);
    for (int i = 0; i < ROWS + VAL; i++) {
        double sum = 0;
        for (int t = 0; t < T; t++) {
            float v = (float)(nn_rng_uniform(&r) - 0.5);
            x[(size_t)(i * T + t) * 2] = v;
            x[(size_t)(i * T + t) * 2 + 1] = (float)nn_rng_uniform(&r);   /* noise */
            sum += v;
            y[(size_t)i * T + t] = sum < -0.3 ? 0.0f : sum > 0.3 ? 2.0f : 1.0f;
        }
    }
    const struct nn_layer_spec ls[] = {nn_gru(16, 1), nn_dense(3, NN_SOFTMAX)};
    struct nn_spec spec = {.inputs = 2, .timesteps = T, .layers = ls, .nlayers = 2,
                           .loss = NN_CCE, .metrics = 1u << NN_METRIC_ACCURACY};
    struct nn_net *net = tu_spec_net(&spec, 4);
    const struct nn_data d = {.x = x, .y = y, .rows = ROWS, .cols = T * 2, .ycols = T};
    const struct nn_data v = {.x = x + (size_t)ROWS * T * 2, .y = y + (size_t)ROWS * T,
                              .rows = VAL, .cols = T * 2, .ycols = T};
    struct nn_train_opts o = {.epochs = 15, .batch_size = 32, .opt = nn_adam(1e-2f),
                              .clip_norm = 1, .shuffle = 1};
    struct nn_rng rng;
    nn_rng_seed(&rng, 9);
    struct nn_error e;
    ck_assert_msg(nn_train(net, NULL, &d, &v, &o, &rng, &e) == NN_TRAINED, "%s", e.msg);
    double loss, m[NN_METRIC_COUNT];
    ck_assert_int_eq(nn_evaluate(net, NULL, &v, &loss, m, &e), 0);
    fprintf(stderr, "a class per step (T=%d): validation loss %.4f, accuracy %.4f\n", T, loss,
            m[NN_METRIC_ACCURACY]);
    ck_assert_msg(m[NN_METRIC_ACCURACY] > 0.9, "accuracy %g", m[NN_METRIC_ACCURACY]);

    /* one-hot steps train too; a step with two ones is refused */
    float *oh = calloc((size_t)VAL * T * 3, sizeof *oh);
    ck_assert_ptr_nonnull(oh);
    for (int i = 0; i < VAL * T; i++)
        oh[(size_t)i * 3 + (int)v.y[i]] = 1;
    const struct nn_data vo = {.x = v.x, .y = oh, .rows = VAL, .cols = T * 2, .ycols = T * 3};
    double loss2, m2[NN_METRIC_COUNT];
    ck_assert_int_eq(nn_evaluate(net, NULL, &vo, &loss2, m2, &e), 0);
    ck_near(loss2, loss, 1e-6);
    ck_near(m2[NN_METRIC_ACCURACY], m[NN_METRIC_ACCURACY], 1e-9);
    oh[(size_t)(5 * T + 3) * 3 + ((int)v.y[5 * T + 3] + 1) % 3] = 1;
    o.epochs = 16;
    const struct nn_data bad = {.x = v.x, .y = oh, .rows = VAL, .cols = T * 2, .ycols = T * 3};
    ck_assert_int_eq(nn_train(net, NULL, &bad, NULL, &o, &rng, &e), -1);
    ck_assert_msg(strstr(e.msg, "row 5, step 3") && strstr(e.msg, "one-hot"), "%s", e.msg);
    free(oh);
    free(x);
    free(y);
    nn_free(net);
}
END_TEST

/* the layers without weights of their own over a sequence: a residual block of dense
 * layers per step, an activation layer, dropout */
START_TEST(test_gradcheck_sequence_blocks)
{
    const struct nn_layer_spec body[] = {nn_dense(4, NN_TANH), nn_dropout(0.2f),
                                         nn_dense(4, NN_LINEAR)};
    const struct nn_layer_spec ls[] = {nn_dense(4, NN_LINEAR), nn_residual(body, 3),
                                       nn_activation(NN_SIGMOID), nn_lstm(3, 1),
                                       nn_dense(1, NN_LINEAR)};
    seq_gradcheck(ls, 5, NN_MSE, 51);
}
END_TEST

/* A dense layer over a sequence is the same layer applied to each step alone. */
START_TEST(test_dense_per_step)
{
    const struct nn_layer_spec ls[] = {nn_dense(3, NN_TANH)};
    struct nn_net *seq = seq_net(ls, 1, 2, 4, NN_MSE, 5), *one = tu_net(ls, 1, 2, NN_MSE, 5);
    ck_assert_int_eq(nn_param_count(seq), 9);
    ck_assert_int_eq(nn_outputs(seq), 12);
    memcpy(one->params, seq->params, sizeof(float) * 9);
    float x[2 * 8], a[2 * 12], b[8 * 3];
    tu_fill(x, 16, -1, 1, 3);
    struct nn_error e;
    ck_assert_int_eq(nn_predict(seq, NULL, x, 2, a, &e), 0);
    ck_assert_int_eq(nn_predict(one, NULL, x, 8, b, &e), 0);
    for (int k = 0; k < 24; k++)
        ck_near(a[k], b[k], 1e-6);
    nn_free(seq);
    nn_free(one);
}
END_TEST

/* ---- the adding problem (bench/adding.py's definition) ---- */

/* T steps of (value in [0, 1), marker); two markers, one in each half; the label is the
 * sum of the marked values. */
static void adding(float *x, float *y, int rows, int T, uint64_t seed)
{
    struct nn_rng r;
    nn_rng_seed(&r, seed);
    for (int i = 0; i < rows; i++) {
        float *xi = x + (size_t)i * T * 2;
        int a = (int)(nn_rng_uniform(&r) * (T / 2));
        int b = T / 2 + (int)(nn_rng_uniform(&r) * (T - T / 2));
        y[i] = 0;
        for (int t = 0; t < T; t++) {
            xi[2 * t] = (float)nn_rng_uniform(&r);
            xi[2 * t + 1] = t == a || t == b;
            if (t == a || t == b)
                y[i] += xi[2 * t];
        }
    }
}

static double constant_loss(const float *y, int rows)
{
    double m = 0, v = 0;
    for (int i = 0; i < rows; i++)
        m += y[i];
    m /= rows;
    for (int i = 0; i < rows; i++)
        v += (y[i] - m) * (y[i] - m);
    return v / rows;
}

struct losses {
    double loss[64];
    int n;
    float tn[NN_TIME_SAMPLES];   /* the first recurrent layer's ‖∂L/∂h_t‖, last epoch */
    int ntn;
};

static int keep_loss(void *ctx, const struct nn_report *r)
{
    struct losses *l = ctx;
    if (l->n < 64)
        l->loss[l->n++] = r->val_loss;
    ck_assert_int_ge(r->ntime, 1);
    l->ntn = r->time_norms[0].n;
    memcpy(l->tn, r->time_norms[0].norm, sizeof(float) * l->ntn);
    return 0;
}

/* Trains an lstm on the adding problem; its validation losses per epoch go to *l. */
static struct nn_net *train_adding(struct nn_pool *pool, int T, int rows, int epochs,
                                   struct losses *l, double *seconds, double *base)
{
    enum { VAL = 256 };
    float *x = malloc(sizeof(float) * (rows + VAL) * T * 2);
    float *y = malloc(sizeof(float) * (rows + VAL));
    ck_assert(x && y);
    adding(x, y, rows + VAL, T, 42);
    const struct nn_layer_spec ls[] = {nn_lstm(16, 0), nn_dense(1, NN_LINEAR)};
    struct nn_net *net = seq_net(ls, 2, 2, T, NN_MSE, 7);
    const struct nn_data d = {.x = x, .y = y, .rows = rows, .cols = T * 2, .ycols = 1};
    const struct nn_data v = {.x = x + (size_t)rows * T * 2, .y = y + rows, .rows = VAL,
                              .cols = T * 2, .ycols = 1};
    struct nn_train_opts o = {.epochs = epochs, .batch_size = 32, .opt = nn_adam(1e-2f),
                              .clip_norm = 1, .shuffle = 1, .on_epoch = keep_loss, .ctx = l};
    struct nn_rng rng;
    nn_rng_seed(&rng, 9);
    struct nn_error e;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_msg(nn_train(net, pool, &d, &v, &o, &rng, &e) == NN_TRAINED, "%s", e.msg);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (seconds)
        *seconds = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
    if (base)
        *base = constant_loss(y + rows, VAL);
    free(x);
    free(y);
    return net;
}

START_TEST(test_lstm_learns_adding)
{
    struct losses l = {0};
    double s, base;
    const int rows = 2048, epochs = 12;
    struct nn_net *net = train_adding(NULL, 10, rows, epochs, &l, &s, &base);
    ck_assert_int_eq(l.n, epochs);
    fprintf(stderr, "adding T=10: constant %.4f, lstm %.4f after %d epochs, %.0f samples/s\n",
            base, l.loss[l.n - 1], epochs, rows * epochs / s);
    ck_assert_msg(l.loss[l.n - 1] < base / 5, "validation mse %g, constant prediction %g",
                  l.loss[l.n - 1], base);
    nn_free(net);
}
END_TEST

/* ---- gradients over time ---- */

struct tnorms {
    struct nn_time_norms tn[4];
    float norm[4][NN_TIME_SAMPLES];
    int step[4][NN_TIME_SAMPLES];
    int n;
};

static int keep_time_norms(void *ctx, const struct nn_report *r)
{
    struct tnorms *t = ctx;
    ck_assert_int_le(r->ntime, 4);
    t->n = r->ntime;
    for (int i = 0; i < r->ntime; i++) {
        t->tn[i] = r->time_norms[i];
        memcpy(t->norm[i], r->time_norms[i].norm, sizeof(float) * r->time_norms[i].n);
        memcpy(t->step[i], r->time_norms[i].step, sizeof(int) * r->time_norms[i].n);
    }
    return 0;
}

/* ‖∂L/∂h_t‖ of a tanh rnn (H = 2, IN = 1, T = 3) into dense(1), mse, over a batch of two
 * rows, against the chain rule in double: with L = (1/2) Σ_i (ŷ_i - y_i)²,
 *   ∂L/∂h_3 = (ŷ_i - y_i) v          (v the dense kernel)
 *   ∂L/∂h_t = Uᵀ ((1 - h_{t+1}²) ⊙ ∂L/∂h_{t+1})
 * and the batch's norm at t is sqrt(Σ_i ‖∂L/∂h_t‖²). One step of sgd: the norms are
 * those of the weights before it. */
START_TEST(test_time_norms_by_hand)
{
    const struct nn_layer_spec ls[] = {nn_rnn(2, 0), nn_dense(1, NN_LINEAR)};
    struct nn_net *net = seq_net(ls, 2, 1, 3, NN_MSE, 1);
    const float W[2] = {0.7f, -0.4f}, U[4] = {0.5f, -0.3f, 0.8f, 0.2f}, b[2] = {0.1f, -0.2f};
    const float v[2] = {1.3f, -0.6f}, c[1] = {0.05f};
    set_tensor(net, 0, W, 2);
    set_tensor(net, 1, U, 4);
    set_tensor(net, 2, b, 2);
    set_tensor(net, 3, v, 2);
    set_tensor(net, 4, c, 1);
    const float x[6] = {0.5f, -1.0f, 2.0f, -0.3f, 0.9f, 0.4f}, y[2] = {1.0f, -0.5f};
    double sq[3] = {0};
    for (int i = 0; i < 2; i++) {
        double h[4][2] = {{0}};   /* h[0] = 0, h[t] after step t */
        for (int t = 1; t <= 3; t++)
            for (int j = 0; j < 2; j++)
                h[t][j] = tanh(W[j] * x[i * 3 + t - 1] + U[j * 2] * h[t - 1][0] +
                               U[j * 2 + 1] * h[t - 1][1] + b[j]);
        double out = v[0] * h[3][0] + v[1] * h[3][1] + c[0], e = out - y[i];
        double d[2] = {e * v[0], e * v[1]};
        for (int t = 3; t >= 1; t--) {
            sq[t - 1] += d[0] * d[0] + d[1] * d[1];
            double g0 = (1 - h[t][0] * h[t][0]) * d[0], g1 = (1 - h[t][1] * h[t][1]) * d[1];
            d[0] = U[0] * g0 + U[2] * g1;   /* Uᵀ g */
            d[1] = U[1] * g0 + U[3] * g1;
        }
    }
    struct tnorms tn = {0};
    const struct nn_data d = {.x = x, .y = y, .rows = 2, .cols = 3, .ycols = 1};
    struct nn_train_opts o = {.epochs = 1, .batch_size = 2, .opt = nn_sgd(0.1f, 0, 0),
                              .on_epoch = keep_time_norms, .ctx = &tn};
    struct nn_rng rng;
    nn_rng_seed(&rng, 1);
    struct nn_error e;
    ck_assert_msg(nn_train(net, NULL, &d, NULL, &o, &rng, &e) == NN_TRAINED, "%s", e.msg);
    ck_assert_int_eq(tn.n, 1);
    ck_assert_str_eq(tn.tn[0].where, "/layers/0");
    ck_assert_int_eq(tn.tn[0].n, 3);
    for (int t = 0; t < 3; t++) {
        ck_assert_int_eq(tn.step[0][t], t + 1);
        ck_near(tn.norm[0][t], sqrt(sq[t]), 1e-6);
    }
    ck_assert(sq[0] < sq[2]);   /* the values are not all alike */
    nn_free(net);
}
END_TEST

/* Long sequences are sampled at NN_TIME_SAMPLES steps, the first and the last among them;
 * one per recurrent layer of a stack. Over 100 steps of the adding problem, after one
 * epoch, the top layer's gradient at the first step is a fraction of the last step's:
 * 2.8e-7 for a plain rnn, 1.1e-3 for an lstm (its cell state carries it further). */
START_TEST(test_time_norms_vanish)
{
    enum { T = 100, ROWS = 256 };
    float *x = malloc(sizeof(float) * ROWS * T * 2), *y = malloc(sizeof(float) * ROWS);
    ck_assert(x && y);
    adding(x, y, ROWS, T, 5);
    const struct nn_data d = {.x = x, .y = y, .rows = ROWS, .cols = T * 2, .ycols = 1};
    double ratio[2];
    for (int k = 0; k < 2; k++) {
        const struct nn_layer_spec ls[] = {k ? nn_lstm(16, 1) : nn_rnn(16, 1),
                                           k ? nn_lstm(16, 0) : nn_rnn(16, 0),
                                           nn_dense(1, NN_LINEAR)};
        struct nn_net *net = seq_net(ls, 3, 2, T, NN_MSE, 3);
        struct tnorms tn = {0};
        struct nn_train_opts o = {.epochs = 1, .batch_size = 64, .opt = nn_adam(1e-3f),
                                  .on_epoch = keep_time_norms, .ctx = &tn};
        struct nn_rng rng;
        nn_rng_seed(&rng, 1);
        struct nn_error e;
        ck_assert_msg(nn_train(net, NULL, &d, NULL, &o, &rng, &e) == NN_TRAINED, "%s", e.msg);
        ck_assert_int_eq(tn.n, 2);
        ck_assert_str_eq(tn.tn[0].where, "/layers/0");
        ck_assert_str_eq(tn.tn[1].where, "/layers/1");
        for (int l = 0; l < 2; l++) {
            ck_assert_int_eq(tn.tn[l].n, NN_TIME_SAMPLES);
            ck_assert_int_eq(tn.step[l][0], 1);
            ck_assert_int_eq(tn.step[l][NN_TIME_SAMPLES - 1], T);
            for (int s = 1; s < NN_TIME_SAMPLES; s++)
                ck_assert_int_gt(tn.step[l][s], tn.step[l][s - 1]);
            for (int s = 0; s < NN_TIME_SAMPLES; s++)
                ck_assert(isfinite(tn.norm[l][s]) && tn.norm[l][s] > 0);
        }
        ratio[k] = tn.norm[1][0] / tn.norm[1][NN_TIME_SAMPLES - 1];
        fprintf(stderr, "%s T=%d: ‖∂L/∂h‖ at step 1 / at step %d: %.3g\n",
                k ? "lstm" : "rnn", T, T, ratio[k]);
        nn_free(net);
    }
    ck_assert_msg(ratio[0] < 1e-5, "rnn: %g", ratio[0]);
    ck_assert_msg(ratio[1] > 100 * ratio[0], "lstm: %g, rnn: %g", ratio[1], ratio[0]);
    free(x);
    free(y);
}
END_TEST

/* ---- no allocation inside a step ----
 * This suite is linked with -Wl,--wrap for the allocation functions (the Makefile), so
 * every allocation the engine's code (libnncore.a) makes passes through these and is
 * counted. */
static _Atomic long allocs;
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);
void *__wrap_malloc(size_t n) { allocs++; return __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t size) { allocs++; return __real_calloc(n, size); }
void *__wrap_realloc(void *p, size_t n) { allocs++; return __real_realloc(p, n); }
void *__wrap_aligned_alloc(size_t align, size_t n)
{
    allocs++;
    return __real_aligned_alloc(align, n);
}

/* The allocations of training a stack of every recurrent kind (dropout between, a dense
 * layer at every step) on `rows` rows for `epochs` epochs, on the pool; the same count
 * for 8 steps and for 48, for 2 batches and 30: nothing is allocated per step, batch or
 * time step. */
static long train_allocs(struct nn_pool *pool, int T, int rows, int epochs)
{
    const struct nn_layer_spec ls[] = {nn_lstm(6, 1), nn_dropout(0.2f), nn_gru(5, 1),
                                       nn_rnn(4, 1), nn_dense(2, NN_LINEAR)};
    struct nn_net *net = seq_net(ls, 5, 3, T, NN_MSE, 11);
    float *x = calloc((size_t)rows * T * 3, sizeof *x), *y = calloc((size_t)rows * T * 2, sizeof *y);
    ck_assert(x && y);
    for (size_t k = 0; k < (size_t)rows * T * 3; k++)
        x[k] = (float)sin(0.37 * (double)k);
    for (size_t k = 0; k < (size_t)rows * T * 2; k++)
        y[k] = (float)cos(0.11 * (double)k);
    const struct nn_data d = {.x = x, .y = y, .rows = rows, .cols = T * 3, .ycols = T * 2};
    struct nn_train_opts o = {.epochs = epochs, .batch_size = 16, .opt = nn_adam(1e-3f),
                              .clip_norm = 1, .shuffle = 1};
    struct nn_rng rng;
    nn_rng_seed(&rng, 2);
    struct nn_error e;
    long before = allocs;
    ck_assert_msg(nn_train(net, pool, &d, NULL, &o, &rng, &e) == NN_TRAINED, "%s", e.msg);
    long n = allocs - before;
    nn_free(net);
    free(x);
    free(y);
    return n;
}

START_TEST(test_no_allocation_per_step)
{
    struct nn_pool *pool = nn_pool_new(2);
    ck_assert_ptr_nonnull(pool);
    long a = train_allocs(pool, 8, 32, 1), b = train_allocs(pool, 48, 160, 3),
         c = train_allocs(NULL, 48, 160, 3);
    fprintf(stderr, "allocations of a training run: %ld (2 batches of 8 steps), %ld (30 "
            "batches of 48 steps), %ld (the same on one thread)\n", a, b, c);
    ck_assert_int_gt(a, 0);   /* the counting works */
    ck_assert_int_eq(a, b);
    ck_assert_int_eq(b, c);
    nn_pool_free(pool);
}
END_TEST

/* ---- threads, save and load ---- */

START_TEST(test_threads_bit_identical)
{
    struct losses l[3];
    memset(l, 0, sizeof l);
    struct nn_net *net[3];
    for (int k = 0; k < 3; k++) {
        struct nn_pool *pool = nn_pool_new(k + 1);
        ck_assert_ptr_nonnull(pool);
        net[k] = train_adding(pool, 8, 200, 3, &l[k], NULL, NULL);
        nn_pool_free(pool);
    }
    for (int k = 1; k < 3; k++) {
        ck_assert_int_eq(l[k].n, l[0].n);
        ck_assert_int_eq(memcmp(l[k].loss, l[0].loss, sizeof(double) * l[0].n), 0);
        ck_assert_int_eq(memcmp(net[k]->params, net[0]->params,
                                sizeof(float) * net[0]->nparams), 0);
        ck_assert_int_eq(l[k].ntn, 8);
        ck_assert_int_eq(memcmp(l[k].tn, l[0].tn, sizeof(float) * 8), 0);
    }
    ck_assert(l[0].tn[0] > 0);
    ck_assert(l[0].loss[2] != l[0].loss[0]);   /* it trained */
    for (int k = 0; k < 3; k++)
        nn_free(net[k]);
}
END_TEST

START_TEST(test_save_load)
{
    const struct nn_layer_spec ls[] = {nn_gru(5, 1), nn_dropout(0.1f), nn_lstm(4, 1),
                                       nn_rnn(3, 0), nn_dense(2, NN_LINEAR)};
    struct nn_net *net = seq_net(ls, 5, 3, 7, NN_MSE, 3);
    /* the summary: outputs per step, and the steps (0: not a sequence); parameters
     * gru 3*5*(3+5+1) + 15, lstm 4*4*(5+4+1), rnn 3*(4+3+1), dense 2*3+2 */
    struct nn_summary_row rows[5];
    ck_assert_int_eq(nn_summary(net, rows, 5), 5);
    const int outs[5] = {5, 5, 4, 3, 2}, steps[5] = {7, 7, 7, 0, 0};
    const size_t params[5] = {150, 0, 160, 24, 8};
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(rows[i].outputs, outs[i]);
        ck_assert_int_eq(rows[i].steps, steps[i]);
        ck_assert_uint_eq(rows[i].params, params[i]);
    }
    ck_assert_uint_eq(nn_param_count(net), 150 + 160 + 24 + 8);
    unsigned char *buf;
    size_t len;
    struct nn_error e;
    ck_assert_int_eq(nn_save(net, &buf, &len, &e), 0);
    ck_assert_uint_eq(buf[4], 3);   /* format version 3: a sequence network */
    struct nn_net *back = nn_load(buf, len, 0, &e);
    ck_assert_msg(back != NULL, "nn_load: %s", e.msg);
    ck_assert_int_eq(nn_get_spec(back)->timesteps, 7);
    ck_assert_int_eq(back->lspec[0].kind, NN_GRU);
    ck_assert_int_eq(back->lspec[0].return_sequences, 1);
    ck_assert_int_eq(back->lspec[2].unit_forget_bias, 1);
    ck_assert_int_eq(back->lspec[3].return_sequences, 0);
    ck_assert_uint_eq(nn_param_count(back), nn_param_count(net));
    float x[4 * 21], a[4 * 2], b[4 * 2];
    tu_fill(x, 84, -1, 1, 5);
    ck_assert_int_eq(nn_predict(net, NULL, x, 4, a, &e), 0);
    ck_assert_int_eq(nn_predict(back, NULL, x, 4, b, &e), 0);
    ck_assert_int_eq(memcmp(a, b, sizeof a), 0);

    /* every truncation is refused; so is a forged step count (the CRC made right) */
    for (size_t n = 0; n < len; n++) {
        struct nn_net *t = nn_load(buf, n, 0, &e);
        ck_assert_msg(t == NULL, "a buffer cut to %zu of %zu bytes loaded", n, len);
    }
    const uint32_t forged[] = {0, 6, 65537, 0xffffffffu};
    for (int k = 0; k < 4; k++) {
        unsigned char *c = malloc(len);
        ck_assert_ptr_nonnull(c);
        memcpy(c, buf, len);
        for (int i = 0; i < 4; i++)   /* timesteps follow the inputs, at byte 12 */
            c[12 + i] = (unsigned char)(forged[k] >> (8 * i));
        uint32_t crc = nn_crc32(c, len - 4);
        for (int i = 0; i < 4; i++)
            c[len - 4 + i] = (unsigned char)(crc >> (8 * i));
        struct nn_net *t = nn_load(c, len, 0, &e);
        if (forged[k] == 6) {   /* another length is a valid network, with other inputs */
            ck_assert_msg(t != NULL, "%s", e.msg);
            ck_assert_int_eq(nn_inputs(t), 18);
            nn_free(t);
        } else {
            ck_assert_msg(t == NULL, "timesteps %u loaded", forged[k]);
            ck_assert(e.msg[0] != '\0');
        }
        free(c);
    }
    free(buf);
    nn_free(net);
    nn_free(back);
}
END_TEST

/* Long sequences are predicted in chunks of fewer rows (each row's every step is kept):
 * the outputs are those of each row alone (to rounding), and evaluation gives the same
 * bits on 1 and 2 threads. lstm 64 over 200 steps keeps 512 KB a row: chunks of 16 rows. */
START_TEST(test_predict_long_sequences)
{
    enum { T = 200, F = 2, N = 40 };
    const struct nn_layer_spec ls[] = {nn_lstm(64, 0), nn_dense(1, NN_LINEAR)};
    struct nn_net *net = seq_net(ls, 2, F, T, NN_MSE, 3);
    ck_assert_uint_ge(net->seq_row * sizeof(float) * 128, (size_t)8 << 20);
    float *x = malloc(sizeof(float) * N * T * F), y[N], a[N], b[N];
    ck_assert_ptr_nonnull(x);
    tu_fill(x, (size_t)N * T * F, -1, 1, 4);
    tu_fill(y, N, -1, 1, 5);
    struct nn_error e;
    ck_assert_int_eq(nn_predict(net, NULL, x, N, a, &e), 0);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(nn_predict(net, NULL, x + (size_t)i * T * F, 1, b + i, &e), 0);
    for (int i = 0; i < N; i++)   /* BLAS may round a product of 16 rows otherwise */
        ck_near(a[i], b[i], 1e-6);
    struct nn_data d = {.x = x, .y = y, .rows = N, .cols = T * F, .ycols = 1};
    double l1, l2, m1[NN_METRIC_COUNT], m2[NN_METRIC_COUNT];
    struct nn_pool *pool = nn_pool_new(2);
    ck_assert_int_eq(nn_evaluate(net, NULL, &d, &l1, m1, &e), 0);
    ck_assert_int_eq(nn_evaluate(net, pool, &d, &l2, m2, &e), 0);
    ck_assert(l1 == l2 && l1 > 0);
    nn_pool_free(pool);
    free(x);
    nn_free(net);
}
END_TEST

/* Weight decay takes the kernels (input and recurrent), not the biases. */
START_TEST(test_decay_kernels_only)
{
    const struct nn_layer_spec ls[] = {nn_gru(3, 0)};
    struct nn_net *net = seq_net(ls, 1, 2, 4, NN_MSE, 3);
    struct ochunk c[8];
    int n = optim_chunks(net, c, 8);
    ck_assert_int_le(n, 8);
    /* W 9x2, U 9x3: 45 decayed; b and bh: 18 not */
    size_t decayed = 0, kept = 0;
    for (int i = 0; i < n; i++)
        *(c[i].decay ? &decayed : &kept) += c[i].b - c[i].a;
    ck_assert_uint_eq(decayed, 45);
    ck_assert_uint_eq(kept, 18);
    nn_free(net);
}
END_TEST

/* Keras's initialisation: Glorot uniform kernel, each gate's recurrent block orthogonal. */
START_TEST(test_init)
{
    const struct nn_layer_spec ls[] = {nn_lstm(6, 0)};
    struct nn_net *net = seq_net(ls, 1, 5, 3, NN_MSE, 17);
    struct nn_tensor W = tensor(net, 0), U = tensor(net, 1);
    ck_assert_int_eq(W.rows, 24);
    ck_assert_int_eq(W.cols, 5);
    ck_assert_int_eq(U.rows, 24);
    ck_assert_int_eq(U.cols, 6);
    double lim = sqrt(6.0 / (5 + 24)), mx = 0;
    for (int k = 0; k < 24 * 5; k++)
        mx = fmax(mx, fabs(W.data[k]));
    ck_assert(mx <= lim && mx > lim / 2);
    for (int g = 0; g < 4; g++)
        for (int i = 0; i < 6; i++)
            for (int j = 0; j < 6; j++) {
                double dot = 0;
                for (int k = 0; k < 6; k++)
                    dot += U.data[(g * 6 + i) * 6 + k] * U.data[(g * 6 + j) * 6 + k];
                ck_near(dot, i == j, 1e-5);
            }
    nn_free(net);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("recurrent");
    TCase *tc = tcase_create("hand");
    tcase_add_test(tc, test_lstm_hand);
    tcase_add_test(tc, test_gru_hand);
    tcase_add_loop_test(tc, test_rnn_hand, 0, 2);
    tcase_add_loop_test(tc, test_gates_saturate, 0, 3);
    tcase_add_test(tc, test_init);
    tcase_add_test(tc, test_dense_per_step);
    tcase_add_test(tc, test_decay_kernels_only);
    suite_add_tcase(s, tc);

    tc = tcase_create("gradients");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_gradcheck_last_step, 0, 4);
    tcase_add_loop_test(tc, test_gradcheck_sequences, 0, 4);
    tcase_add_loop_test(tc, test_gradcheck_stacked, 0, 4);
    tcase_add_loop_test(tc, test_gradcheck_many_to_many, 0, 4);
    tcase_add_test(tc, test_gradcheck_sequence_blocks);
    tcase_add_loop_test(tc, test_gradcheck_class_per_step, 0, 2);
    tcase_add_test(tc, test_time_norms_by_hand);
    tcase_add_test(tc, test_time_norms_vanish);
    suite_add_tcase(s, tc);

    tc = tcase_create("training");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_threads_bit_identical);
    tcase_add_test(tc, test_no_allocation_per_step);
    tcase_add_test(tc, test_save_load);
    tcase_add_test(tc, test_predict_long_sequences);
    tcase_add_test(tc, test_lstm_learns_adding);
    tcase_add_test(tc, test_class_per_step_learns);
    suite_add_tcase(s, tc);
    return tu_run(s) != 0;
}
