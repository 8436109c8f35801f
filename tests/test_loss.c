/* test_loss.c -- losses, their gradients, metrics and label checks (core/loss.c).
 *
 * A network of one activation layer makes the loss's input directly the network's input:
 * an identity (linear) net sees the loss on outputs as given, a sigmoid or softmax net
 * the fused losses on logits. Expected losses and gradients are worked out in this file
 * (literals or the textbook formulas in double precision); gradient checks run on small
 * dense nets; metrics come through nn_evaluate; label rejections name the row. Metrics
 * must never change training. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GC_TOL 1e-2

/* A net of one activation layer over K inputs. */
static struct nn_net *act_net(enum nn_act act, int K, enum nn_loss loss)
{
    const struct nn_layer_spec l = nn_activation(act);
    return tu_net(&l, 1, K, loss, 1);
}

static double evaluate(const struct nn_net *net, struct nn_pool *pool, const float *x,
                       const float *y, int rows, int ycols, double *metric)
{
    struct nn_data d = {.x = x, .y = y, .rows = rows, .cols = nn_inputs(net), .ycols = ycols};
    struct nn_error e;
    double loss, m[NN_METRIC_COUNT];
    ck_assert_msg(nn_evaluate(net, pool, &d, &loss, metric ? metric : m, &e) == 0,
                  "nn_evaluate: %s: %s", e.where, e.msg);
    return loss;
}

static double sigm(double z) { return 1 / (1 + exp(-z)); }

/* ---- hand-computed losses and gradients ---- */

/* Three rows of two outputs; e = p - y = {-0.5, 0, 2, -0.5, 0.5, -2}. */
static const float r_p[6] = {0.5f, -1, 2, 0, 1.5f, 1};
static const float r_y[6] = {1, -1, 0, 0.5f, 1, 3};
static const double r_e[6] = {-0.5, 0, 2, -0.5, 0.5, -2};

START_TEST(test_mse_hand)
{
    struct nn_net *net = act_net(NN_LINEAR, 2, NN_MSE);
    float dx[6];
    /* e² sums to 8.75 over 3 rows · 2 outputs */
    ck_near(net_loss_grad(net, r_p, r_y, 2, 3, 1, dx), 8.75 / 6, 1e-7);
    for (int k = 0; k < 6; k++)
        ck_near(dx[k], 2 * r_e[k] / 6, 1e-7);
    ck_near(evaluate(net, NULL, r_p, r_y, 3, 2, NULL), 8.75 / 6, 1e-7);
    nn_free(net);
}
END_TEST

START_TEST(test_mae_hand)
{
    struct nn_net *net = act_net(NN_LINEAR, 2, NN_MAE);
    float dx[6];
    /* |e| sums to 5.5 */
    ck_near(net_loss_grad(net, r_p, r_y, 2, 3, 1, dx), 5.5 / 6, 1e-7);
    for (int k = 0; k < 6; k++)
        ck_near(dx[k], (r_e[k] > 0 ? 1 : r_e[k] < 0 ? -1 : 0) / 6.0, 1e-7);
    ck_near(evaluate(net, NULL, r_p, r_y, 3, 2, NULL), 5.5 / 6, 1e-7);
    nn_free(net);
}
END_TEST

/* sigmoid + binary_crossentropy, fused: the loss from the logits, dL/dz = (σ(z) - t)/(B·K). */
START_TEST(test_bce_sigmoid_hand)
{
    struct nn_net *net = act_net(NN_SIGMOID, 2, NN_BCE);
    const float z[6] = {0, 2, -1, 0.5f, 3, -4}, t[6] = {1, 0, 0, 1, 0.25f, 0};
    double loss = 0;
    for (int k = 0; k < 6; k++)
        loss -= (t[k] * log(sigm(z[k])) + (1 - t[k]) * log(1 - sigm(z[k]))) / 6;
    float dx[6];
    ck_near(net_loss_grad(net, z, t, 2, 3, 1, dx), loss, 1e-6);
    for (int k = 0; k < 6; k++)
        ck_near(dx[k], (sigm(z[k]) - t[k]) / 6, 1e-6);
    /* the same by hand: log 2, log(1+e²), log(1+e⁻¹), log(1+e^-0.5), log(1+e³) - 0.75,
     * log(1+e⁻⁴), averaged over the 6 outputs */
    ck_near(loss, (0.6931472 + 2.1269280 + 0.3132617 + 0.4740770 + 2.2985874 + 0.0181499) / 6,
            1e-6);
    ck_near(evaluate(net, NULL, z, t, 3, 2, NULL), loss, 1e-6);
    nn_free(net);
}
END_TEST

/* binary_crossentropy on outputs that are already probabilities (a linear output). */
START_TEST(test_bce_plain_hand)
{
    struct nn_net *net = act_net(NN_LINEAR, 2, NN_BCE);
    const float p[4] = {0.2f, 0.9f, 0.6f, 0.35f}, t[4] = {0, 1, 1, 0.5f};
    double loss = 0;
    for (int k = 0; k < 4; k++)
        loss -= (t[k] * log(p[k]) + (1 - t[k]) * log(1 - p[k])) / 4;
    /* -(log 0.8 + log 0.9)/2 and -(log 0.6 + 0.5 log 0.35 + 0.5 log 0.65)/2, averaged */
    ck_near(loss, (0.2231436 + 0.1053605 + 0.5108256 + 0.5 * 1.0498221 + 0.5 * 0.4307829) / 4,
            1e-6);
    float dx[4];
    ck_near(net_loss_grad(net, p, t, 2, 2, 1, dx), loss, 1e-6);
    for (int k = 0; k < 4; k++)
        ck_near(dx[k], (-t[k] / p[k] + (1 - t[k]) / (1 - p[k])) / 4, 1e-5);
    ck_near(evaluate(net, NULL, p, t, 2, 2, NULL), loss, 1e-6);
    nn_free(net);
}
END_TEST

/* softmax + categorical_crossentropy, fused; class indices and one-hot rows agree exactly. */
START_TEST(test_cce_softmax_hand)
{
    enum { B = 3, K = 3 };
    struct nn_net *net = act_net(NN_SOFTMAX, K, NN_CCE);
    const float z[B * K] = {1, 2, 0.5f, -1, 0, 3, 0.3f, 0.3f, -2};
    const float idx[B] = {1, 2, 0};
    float hot[B * K] = {0};
    for (int i = 0; i < B; i++)
        hot[i * K + (int)idx[i]] = 1;
    double loss = 0, p[B * K];
    for (int i = 0; i < B; i++) {
        double s = 0;
        for (int j = 0; j < K; j++)
            s += exp(z[i * K + j]);
        for (int j = 0; j < K; j++)
            p[i * K + j] = exp(z[i * K + j]) / s;
        loss -= log(p[i * K + (int)idx[i]]) / B;
    }
    float dxi[B * K], dxh[B * K];
    double li = net_loss_grad(net, z, idx, 1, B, 1, dxi);
    double lh = net_loss_grad(net, z, hot, K, B, 1, dxh);
    ck_near(li, loss, 1e-6);
    ck_assert(li == lh);
    for (int k = 0; k < B * K; k++) {
        ck_near(dxi[k], (p[k] - hot[k]) / B, 1e-6);
        ck_assert(dxi[k] == dxh[k]);
    }
    ck_near(evaluate(net, NULL, z, idx, B, 1, NULL), loss, 1e-6);
    ck_near(evaluate(net, NULL, z, hot, B, K, NULL), loss, 1e-6);

    /* soft and unnormalised targets: L = -Σ t log p, dL/dz = p·Σt - t */
    const float soft[B * K] = {0.2f, 0.8f, 0, 0, 2, 0, 0.5f, 0.25f, 0.25f};
    loss = 0;
    for (int i = 0; i < B; i++) {
        double st = 0;
        for (int j = 0; j < K; j++) {
            loss -= soft[i * K + j] * log(p[i * K + j]) / B;
            st += soft[i * K + j];
        }
        for (int j = 0; j < K; j++)
            hot[i * K + j] = (float)((p[i * K + j] * st - soft[i * K + j]) / B);
    }
    ck_near(net_loss_grad(net, z, soft, K, B, 1, dxh), loss, 1e-6);
    for (int k = 0; k < B * K; k++)
        ck_near(dxh[k], hot[k], 1e-6);
    nn_free(net);
}
END_TEST

/* categorical_crossentropy on probabilities as given (no softmax): L = -log p[label]. */
START_TEST(test_cce_plain_hand)
{
    enum { B = 2, K = 3 };
    struct nn_net *net = act_net(NN_LINEAR, K, NN_CCE);
    const float p[B * K] = {0.2f, 0.5f, 0.3f, 0.6f, 0.3f, 0.1f};
    const float idx[B] = {1, 0}, hot[B * K] = {0, 1, 0, 1, 0, 0};
    const double loss = -(log(0.5) + log(0.6)) / 2;
    const double want[B * K] = {0, -1 / (0.5 * 2), 0, -1 / (0.6 * 2), 0, 0};
    float dxi[B * K], dxh[B * K];
    ck_near(net_loss_grad(net, p, idx, 1, B, 1, dxi), loss, 1e-6);
    ck_near(net_loss_grad(net, p, hot, K, B, 1, dxh), loss, 1e-6);
    for (int k = 0; k < B * K; k++) {
        ck_near(dxi[k], want[k], 1e-6);
        ck_near(dxh[k], want[k], 1e-6);
    }
    ck_near(evaluate(net, NULL, p, idx, B, 1, NULL), loss, 1e-6);
    nn_free(net);
}
END_TEST

/* ---- gradient checks: dense layers feeding each loss ---- */

struct gc_case {
    const char *name;
    enum nn_loss loss;
    enum nn_act out_act;      /* activation of the last dense layer */
    int unfuse;               /* append a linear activation so the loss is not fused */
    int K, ycols;
    float ylo, yhi;           /* targets uniform in [ylo, yhi), or class indices when */
    int classes;              /* classes > 0 */
};

static const struct gc_case gc_cases[] = {
    {"mse", NN_MSE, NN_TANH, 0, 2, 2, -0.5f, 0.5f, 0},
    {"mae", NN_MAE, NN_LINEAR, 0, 2, 2, -1, 1, 0},
    {"bce sigmoid", NN_BCE, NN_SIGMOID, 0, 2, 2, 0, 1, 0},
    {"bce plain", NN_BCE, NN_SIGMOID, 1, 2, 2, 0, 1, 0},
    {"cce softmax index", NN_CCE, NN_SOFTMAX, 0, 3, 1, 0, 0, 3},
    {"cce softmax soft", NN_CCE, NN_SOFTMAX, 0, 3, 3, 0, 1, 0},
    {"cce plain", NN_CCE, NN_SOFTMAX, 1, 3, 1, 0, 0, 3},
};
#define NGC ((int)(sizeof gc_cases / sizeof *gc_cases))

START_TEST(test_loss_gradcheck)
{
    const struct gc_case *c = &gc_cases[_i];
    struct nn_layer_spec ls[3] = {nn_dense(4, NN_TANH), nn_dense(c->K, c->out_act),
                                  nn_activation(NN_LINEAR)};
    struct nn_net *net = tu_net(ls, c->unfuse ? 3 : 2, 3, c->loss, 300 + (uint64_t)_i);
    ck_assert_msg(net->fused == (c->loss >= NN_BCE && !c->unfuse), "%s: fused %d", c->name,
                  net->fused);
    enum { B = 5 };
    float x[B * 3], y[B * 3];
    tu_fill(x, B * 3, -1, 1, 400 + (uint64_t)_i);
    tu_fill(y, (size_t)B * c->ycols, c->ylo, c->yhi, 500 + (uint64_t)_i);
    if (c->classes)
        for (int i = 0; i < B; i++)
            y[i] = (float)(i % c->classes);
    struct gradcheck g = gradcheck(net, x, y, c->ycols, B, 1, 1);
    ck_assert_msg(g.max_rel < GC_TOL, "%s: max_rel %g", c->name, g.max_rel);
    ck_gradcheck(g, GC_TOL);
    nn_free(net);
}
END_TEST

/* ---- numerical stability ---- */

START_TEST(test_bce_extreme_logits)
{
    struct nn_net *net = act_net(NN_SIGMOID, 1, NN_BCE);
    const float z[4] = {100, -100, 100, -100}, t[4] = {0, 1, 1, 0};
    float dx[4];
    /* wrong by 100 twice, right twice: (100 + 100 + 0 + 0) / 4 */
    double l = net_loss_grad(net, z, t, 1, 4, 1, dx);
    ck_assert(isfinite(l));
    ck_near(l, 50, 1e-6);
    const double want[4] = {0.25, -0.25, 0, 0};   /* (σ(z) - t)/B in the limit */
    for (int k = 0; k < 4; k++) {
        ck_assert(isfinite(dx[k]));
        ck_near(dx[k], want[k], 1e-6);
    }
    double ev = evaluate(net, NULL, z, t, 4, 1, NULL);
    ck_assert(isfinite(ev));
    ck_near(ev, 50, 1e-6);
    nn_free(net);

    /* without the sigmoid, probabilities of exactly 0 and 1 are clipped: finite loss */
    net = act_net(NN_LINEAR, 1, NN_BCE);
    const float p[2] = {0, 1}, tp[2] = {1, 0};
    l = net_loss_grad(net, p, tp, 1, 2, 1, dx);
    ck_assert(isfinite(l));
    /* both clipped about 1e-7 from the edge: -log(1e-7) = 16.1 each (float rounding of
     * 1 - 1e-7 moves the second a little) */
    ck_assert_msg(l > 15.5 && l < 16.5, "loss %g", l);
    ck_assert(isfinite(dx[0]) && isfinite(dx[1]));
    nn_free(net);
}
END_TEST

START_TEST(test_cce_extreme_logits)
{
    enum { B = 2, K = 3 };
    struct nn_net *net = act_net(NN_SOFTMAX, K, NN_CCE);
    const float z[B * K] = {1000, 0, 500, 1000, 0, 500};
    const float idx[B] = {1, 0};
    float dx[B * K];
    /* row 0: lse - z1 = 1000 + log(1 + e^-500 + e^-1000) = 1000; row 1: 0 */
    double l = net_loss_grad(net, z, idx, 1, B, 1, dx);
    ck_assert(isfinite(l));
    ck_near(l, 500, 1e-6);
    const double want[B * K] = {0.5, -0.5, 0, 0, 0, 0};   /* (p - t)/B, p = (1, 0, 0) */
    for (int k = 0; k < B * K; k++) {
        ck_assert(isfinite(dx[k]));
        ck_near(dx[k], want[k], 1e-6);
    }
    double ev = evaluate(net, NULL, z, idx, B, 1, NULL);
    ck_assert(isfinite(ev));
    ck_near(ev, 500, 1e-6);
    nn_free(net);
}
END_TEST

/* ---- metrics through nn_evaluate ---- */

START_TEST(test_metrics_binary)
{
    struct nn_net *net = act_net(NN_LINEAR, 1, NN_BCE);
    const float p[6] = {0.2f, 0.7f, 0.6f, 0.4f, 0.9f, 0.55f}, t[6] = {0, 1, 0, 0, 1, 1};
    double m[NN_METRIC_COUNT], loss = 0;
    for (int k = 0; k < 6; k++)
        loss -= (t[k] * log(p[k]) + (1 - t[k]) * log(1 - p[k])) / 6;
    ck_near(evaluate(net, NULL, p, t, 6, 1, m), loss, 1e-6);
    ck_near(m[NN_METRIC_ACCURACY], 5.0 / 6, 1e-12);   /* 0.6 against 0 is wrong */
    ck_near(m[NN_METRIC_MAE], 2.05 / 6, 1e-6);
    ck_near(m[NN_METRIC_MSE], 0.8625 / 6, 1e-6);
    nn_free(net);

    /* with the sigmoid: accuracy compares σ(z) > 0.5, i.e. z > 0, with t > 0.5 */
    net = act_net(NN_SIGMOID, 1, NN_BCE);
    const float z[5] = {-2, 0.5f, 3, -0.1f, 0.1f}, tz[5] = {0, 0, 1, 1, 1};
    double mae = 0, mse = 0;
    for (int k = 0; k < 5; k++) {
        mae += fabs(sigm(z[k]) - tz[k]) / 5;
        mse += (sigm(z[k]) - tz[k]) * (sigm(z[k]) - tz[k]) / 5;
    }
    evaluate(net, NULL, z, tz, 5, 1, m);
    ck_near(m[NN_METRIC_ACCURACY], 0.6, 1e-12);
    ck_near(m[NN_METRIC_MAE], mae, 1e-6);
    ck_near(m[NN_METRIC_MSE], mse, 1e-6);
    nn_free(net);

    /* several sigmoid outputs: accuracy per output, averaged */
    net = act_net(NN_LINEAR, 2, NN_BCE);
    const float p2[4] = {0.8f, 0.3f, 0.4f, 0.6f}, t2[4] = {1, 1, 0, 1};
    evaluate(net, NULL, p2, t2, 2, 2, m);
    ck_near(m[NN_METRIC_ACCURACY], (0.5 + 1.0) / 2, 1e-12);
    nn_free(net);
}
END_TEST

START_TEST(test_metrics_multiclass)
{
    enum { B = 4, K = 3 };
    struct nn_net *net = act_net(NN_SOFTMAX, K, NN_CCE);
    const float z[B * K] = {2, 1, 0, 0, 0.5f, 3, -1, 2, 1, 1, 0, 0.5f};
    const float idx[B] = {0, 1, 1, 2};   /* argmax 0, 2, 1, 0: right, wrong, right, wrong */
    float hot[B * K] = {0};
    double mae = 0, mse = 0, loss = 0;
    for (int i = 0; i < B; i++) {
        hot[i * K + (int)idx[i]] = 1;
        double s = 0;
        for (int j = 0; j < K; j++)
            s += exp(z[i * K + j]);
        for (int j = 0; j < K; j++) {
            double e = exp(z[i * K + j]) / s - (j == (int)idx[i]);
            mae += fabs(e) / (B * K);
            mse += e * e / (B * K);
        }
        loss -= log(exp(z[i * K + (int)idx[i]]) / s) / B;
    }
    double mi[NN_METRIC_COUNT], mh[NN_METRIC_COUNT];
    ck_near(evaluate(net, NULL, z, idx, B, 1, mi), loss, 1e-6);
    ck_near(evaluate(net, NULL, z, hot, B, K, mh), loss, 1e-6);
    ck_near(mi[NN_METRIC_ACCURACY], 0.5, 1e-12);
    ck_near(mi[NN_METRIC_MAE], mae, 1e-6);
    ck_near(mi[NN_METRIC_MSE], mse, 1e-6);
    for (int m = 0; m < NN_METRIC_COUNT; m++)
        ck_near(mh[m], mi[m], 1e-7);
    nn_free(net);
}
END_TEST

START_TEST(test_metrics_regression_and_threads)
{
    struct nn_net *net = act_net(NN_LINEAR, 2, NN_MSE);
    double m[NN_METRIC_COUNT];
    ck_near(evaluate(net, NULL, r_p, r_y, 3, 2, m), 8.75 / 6, 1e-7);
    ck_near(m[NN_METRIC_MSE], 8.75 / 6, 1e-7);
    ck_near(m[NN_METRIC_MAE], 5.5 / 6, 1e-7);
    /* rows split over two threads: the same numbers */
    struct nn_pool *pool = nn_pool_new(2);
    ck_assert_ptr_nonnull(pool);
    double m2[NN_METRIC_COUNT];
    ck_near(evaluate(net, pool, r_p, r_y, 3, 2, m2), 8.75 / 6, 1e-7);
    for (int k = 0; k < NN_METRIC_COUNT; k++)
        ck_near(m2[k], m[k], 1e-7);
    nn_pool_free(pool);
    nn_free(net);
}
END_TEST

/* ---- label checks ---- */

struct label_case {
    const char *name;
    enum nn_loss loss;
    int K, ycols, bad_row, bad_col;
    float bad;
    const char *says;         /* expected in the message ("row N" is checked as well) */
};

static const struct label_case label_cases[] = {
    {"class index K", NN_CCE, 3, 1, 2, 0, 3, "class index"},
    {"class index -1", NN_CCE, 3, 1, 1, 0, -1, "class index"},
    {"class index 1.5", NN_CCE, 3, 1, 3, 0, 1.5f, "class index"},
    {"class index 1e10", NN_CCE, 3, 1, 2, 0, 1e10f, "class index"},
    {"class index NaN", NN_CCE, 3, 1, 1, 0, NAN, "finite"},
    {"mse NaN", NN_MSE, 2, 2, 1, 1, NAN, "finite"},
    {"mse inf", NN_MSE, 2, 2, 2, 0, INFINITY, "finite"},
    {"bce 2", NN_BCE, 1, 1, 3, 0, 2, "0 to 1"},
    {"bce -0.5", NN_BCE, 2, 2, 1, 1, -0.5f, "0 to 1"},
    {"cce one-hot negative", NN_CCE, 3, 3, 2, 2, -1, "0 to 1"},
};
#define NLABEL ((int)(sizeof label_cases / sizeof *label_cases))

START_TEST(test_label_rejections)
{
    const struct label_case *c = &label_cases[_i];
    struct nn_net *net = act_net(NN_LINEAR, c->K, c->loss);
    enum { B = 4 };
    float x[B * 3] = {0}, y[B * 3] = {0};
    if (c->ycols > 1)
        for (int i = 0; i < B; i++)
            y[i * c->ycols] = 1;   /* valid one-hot / 0-1 labels elsewhere */
    struct nn_data d = {.x = x, .y = y, .rows = B, .cols = c->K, .ycols = c->ycols};
    struct nn_error e = {0};
    ck_assert_int_eq(loss_check_labels(net, &d, &e), 0);
    y[c->bad_row * c->ycols + c->bad_col] = c->bad;
    memset(&e, 0, sizeof e);
    ck_assert_msg(loss_check_labels(net, &d, &e) == -1, "%s: accepted", c->name);
    char row[32];
    snprintf(row, sizeof row, "row %d", c->bad_row);
    ck_assert_str_eq(e.where, "labels");
    ck_assert_msg(strstr(e.msg, row) != NULL, "%s: message does not name %s: %s", c->name,
                  row, e.msg);
    ck_assert_msg(strstr(e.msg, c->says) != NULL, "%s: message: %s", c->name, e.msg);

    /* the public entry points reject them the same way */
    double loss, m[NN_METRIC_COUNT];
    memset(&e, 0, sizeof e);
    ck_assert_int_eq(nn_evaluate(net, NULL, &d, &loss, m, &e), -1);
    ck_assert_msg(strstr(e.msg, row) != NULL, "%s: nn_evaluate: %s", c->name, e.msg);
    struct nn_train_opts o = {.epochs = 1, .batch_size = 4, .opt = nn_sgd(0.1f, 0, 0)};
    struct nn_rng rng;
    nn_rng_seed(&rng, 1);
    memset(&e, 0, sizeof e);
    ck_assert_int_eq(nn_train(net, NULL, &d, NULL, &o, &rng, &e), -1);
    ck_assert_msg(strstr(e.msg, row) != NULL, "%s: nn_train: %s", c->name, e.msg);
    nn_free(net);
}
END_TEST

START_TEST(test_label_columns)
{
    float x[6] = {0}, y[12] = {0};
    struct nn_error e;
    /* mse over 2 outputs with 3 label columns, and with 1 */
    struct nn_net *net = act_net(NN_LINEAR, 2, NN_MSE);
    struct nn_data d = {.x = x, .y = y, .rows = 2, .cols = 2, .ycols = 3};
    ck_assert_int_eq(loss_check_labels(net, &d, &e), -1);
    ck_assert_str_eq(e.where, "labels");
    ck_assert_msg(strstr(e.msg, "3 columns") != NULL, "%s", e.msg);
    d.ycols = 1;
    ck_assert_int_eq(loss_check_labels(net, &d, &e), -1);
    d.ycols = 2;
    ck_assert_int_eq(loss_check_labels(net, &d, &e), 0);
    nn_free(net);
    /* categorical_crossentropy over 3 outputs takes 1 or 3 columns, not 2 */
    net = act_net(NN_LINEAR, 3, NN_CCE);
    d = (struct nn_data){.x = x, .y = y, .rows = 2, .cols = 3, .ycols = 2};
    ck_assert_int_eq(loss_check_labels(net, &d, &e), -1);
    ck_assert_str_eq(e.where, "labels");
    ck_assert_msg(strstr(e.msg, "2 columns") != NULL, "%s", e.msg);
    d.ycols = 1;
    ck_assert_int_eq(loss_check_labels(net, &d, &e), 0);
    d.ycols = 3;
    y[0] = y[4] = 1;
    ck_assert_int_eq(loss_check_labels(net, &d, &e), 0);
    nn_free(net);
}
END_TEST

/* ---- metrics never affect training ---- */

struct losses { double loss[4]; int n; };

static int record(void *ctx, const struct nn_report *r)
{
    struct losses *l = ctx;
    if (l->n < 4)
        l->loss[l->n++] = r->loss;
    return 0;
}

START_TEST(test_metrics_do_not_affect_training)
{
    const struct nn_layer_spec ls[] = {nn_dense(6, NN_RELU), nn_batchnorm(), nn_dropout(0.2f),
                                       nn_dense(3, NN_SOFTMAX)};
    enum { N = 30, IN = 4 };
    float x[N * IN], y[N];
    tu_fill(x, N * IN, -1, 1, 1);
    for (int i = 0; i < N; i++)
        y[i] = (float)(i % 3);
    struct nn_net *net[2];
    struct losses rec[2] = {0};
    for (int k = 0; k < 2; k++) {
        struct nn_spec s = {.inputs = IN, .layers = ls, .nlayers = 4, .loss = NN_CCE,
                            .metrics = k ? (1u << NN_METRIC_COUNT) - 1 : 0};
        struct nn_rng rng;
        struct nn_error e;
        nn_rng_seed(&rng, 77);
        net[k] = nn_new(&s, 0, &rng, &e);
        ck_assert_msg(net[k] != NULL, "%s", e.msg);
        const struct nn_data d = {.x = x, .y = y, .rows = N, .cols = IN, .ycols = 1};
        struct nn_train_opts o = {.epochs = 3, .batch_size = 8, .opt = nn_adam(0.01f),
                                  .shuffle = 1, .on_epoch = record, .ctx = &rec[k]};
        nn_rng_seed(&rng, 78);
        ck_assert_msg(nn_train(net[k], NULL, &d, &d, &o, &rng, &e) == 0, "%s", e.msg);
    }
    ck_assert_int_eq(nn_param_count(net[0]), nn_param_count(net[1]));
    ck_assert(memcmp(net[0]->params, net[1]->params,
                     nn_param_count(net[0]) * sizeof(float)) == 0);
    ck_assert(memcmp(net[0]->stats, net[1]->stats, net[0]->nstats * sizeof(float)) == 0);
    ck_assert_int_eq(rec[0].n, 3);
    ck_assert_int_eq(rec[1].n, 3);
    for (int k = 0; k < 3; k++)
        ck_assert(rec[0].loss[k] == rec[1].loss[k]);
    nn_free(net[0]);
    nn_free(net[1]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("loss");
    TCase *tc = tcase_create("hand");
    tcase_add_test(tc, test_mse_hand);
    tcase_add_test(tc, test_mae_hand);
    tcase_add_test(tc, test_bce_sigmoid_hand);
    tcase_add_test(tc, test_bce_plain_hand);
    tcase_add_test(tc, test_cce_softmax_hand);
    tcase_add_test(tc, test_cce_plain_hand);
    suite_add_tcase(s, tc);

    tc = tcase_create("gradcheck");
    tcase_add_loop_test(tc, test_loss_gradcheck, 0, NGC);
    suite_add_tcase(s, tc);

    tc = tcase_create("stability");
    tcase_add_test(tc, test_bce_extreme_logits);
    tcase_add_test(tc, test_cce_extreme_logits);
    suite_add_tcase(s, tc);

    tc = tcase_create("metrics");
    tcase_add_test(tc, test_metrics_binary);
    tcase_add_test(tc, test_metrics_multiclass);
    tcase_add_test(tc, test_metrics_regression_and_threads);
    tcase_add_test(tc, test_metrics_do_not_affect_training);
    suite_add_tcase(s, tc);

    tc = tcase_create("labels");
    tcase_add_loop_test(tc, test_label_rejections, 0, NLABEL);
    tcase_add_test(tc, test_label_columns);
    suite_add_tcase(s, tc);
    return tu_run(s) != 0;
}
