/* test_optim.c -- the optimizers (core/optim.c) through nn_train: sgd, momentum, nesterov,
 * adam, weight decay and gradient clipping against updates computed in this file, in
 * double, from the PyTorch formulas; and optim_prepare's rejections naming the field.
 *
 * The nets are linear (dense, no activation) with mse and one batch of all rows, so the
 * gradient has a closed form: with e = x·Wᵀ + b - y over N rows and K outputs,
 * dW = 2/(N·K) · eᵀ·x and db = 2/(N·K) · Σ e. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a linear model in double ---- */

#define MAXP 64

struct lin {
    int in, out, n;
    const float *x, *y;       /* n x in, n x out */
    double p[MAXP];           /* W (out x in) then b (out): the engine's order */
};

static int lin_np(const struct lin *m) { return m->out * m->in + m->out; }
static int is_kernel(const struct lin *m, int k) { return k < m->out * m->in; }

static void lin_grad(const struct lin *m, double *g)
{
    const int np = lin_np(m);
    const double *W = m->p, *b = m->p + m->out * m->in;
    for (int k = 0; k < np; k++)
        g[k] = 0;
    for (int r = 0; r < m->n; r++)
        for (int o = 0; o < m->out; o++) {
            double e = b[o] - m->y[r * m->out + o];
            for (int i = 0; i < m->in; i++)
                e += W[o * m->in + i] * m->x[r * m->in + i];
            double s = 2 * e / (m->n * m->out);
            for (int i = 0; i < m->in; i++)
                g[o * m->in + i] += s * m->x[r * m->in + i];
            g[m->out * m->in + o] += s;
        }
}

/* The optimizer state of the reference. */
struct ref {
    double m[MAXP], v[MAXP];
    int t;
};

/* One step on m->p: clip by global norm, then L2 decay on kernels, then the update. */
static void ref_step(struct lin *m, struct ref *s, const struct nn_optimizer *o, double clip)
{
    const int np = lin_np(m);
    double g[MAXP], norm = 0;
    lin_grad(m, g);
    for (int k = 0; k < np; k++)
        norm += g[k] * g[k];
    norm = sqrt(norm);
    double scale = clip > 0 && norm > clip ? clip / norm : 1;
    s->t++;
    for (int k = 0; k < np; k++) {
        double gk = g[k] * scale + (is_kernel(m, k) ? o->weight_decay * m->p[k] : 0);
        if (o->type == NN_ADAM) {
            s->m[k] = o->beta1 * s->m[k] + (1 - o->beta1) * gk;
            s->v[k] = o->beta2 * s->v[k] + (1 - o->beta2) * gk * gk;
            double mhat = s->m[k] / (1 - pow(o->beta1, s->t));
            double vhat = s->v[k] / (1 - pow(o->beta2, s->t));
            m->p[k] -= o->learning_rate * mhat / (sqrt(vhat) + o->epsilon);
        } else if (o->momentum > 0) {
            s->m[k] = o->momentum * s->m[k] + gk;   /* PyTorch: buf = g on the first step */
            m->p[k] -= o->learning_rate * (o->nesterov ? gk + o->momentum * s->m[k] : s->m[k]);
        } else {
            m->p[k] -= o->learning_rate * gk;
        }
    }
}

/* ---- the engine side ---- */

static struct nn_net *lin_net(const struct lin *m)
{
    const struct nn_layer_spec l = nn_dense(m->out, NN_LINEAR);
    struct nn_net *net = tu_net(&l, 1, m->in, NN_MSE, 1);
    ck_assert_int_eq((int)nn_param_count(net), lin_np(m));
    struct nn_tensor t[2];
    ck_assert_int_eq(nn_tensors(net, t, 2), 2);
    for (int k = 0; k < lin_np(m); k++) {
        if (is_kernel(m, k))
            t[0].data[k] = (float)m->p[k];
        else
            t[1].data[k - m->out * m->in] = (float)m->p[k];
    }
    return net;
}

/* Trains up to `epochs` (one step each: one batch of all rows, no shuffling). */
static void train_to(struct nn_net *net, struct nn_pool *pool, const struct lin *m,
                     const struct nn_optimizer *o, float clip, int epochs)
{
    const struct nn_data d = {.x = m->x, .y = m->y, .rows = m->n, .cols = m->in,
                              .ycols = m->out};
    struct nn_train_opts opts = {.epochs = epochs, .batch_size = m->n, .opt = *o,
                                 .clip_norm = clip};
    struct nn_rng rng;
    nn_rng_seed(&rng, 5);
    struct nn_error e;
    ck_assert_msg(nn_train(net, pool, &d, NULL, &opts, &rng, &e) == 0, "nn_train: %s: %s",
                  e.where, e.msg);
    ck_assert_int_eq(nn_epochs_done(net), epochs);
}

static void ck_params(const struct nn_net *net, const struct lin *m, double tol)
{
    for (int k = 0; k < lin_np(m); k++)
        ck_assert_msg(fabs(net->params[k] - m->p[k]) <= tol * (1 + fabs(m->p[k])),
                      "parameter %d: %.9g, expected %.9g", k, (double)net->params[k], m->p[k]);
}

/* 1 -> 1: w = 0.5, b = -0.2 on x = (1, 2, -1), y = (2, 3, 0.5). */
static const float tiny_x[3] = {1, 2, -1}, tiny_y[3] = {2, 3, 0.5f};
static struct lin tiny(void)
{
    return (struct lin){.in = 1, .out = 1, .n = 3, .x = tiny_x, .y = tiny_y, .p = {0.5, -0.2}};
}

/* Runs `steps` steps of o on the tiny model in the engine and in the reference. */
static void check_tiny(const struct nn_optimizer *o, float clip, int steps, double tol)
{
    struct lin m = tiny();
    struct nn_net *net = lin_net(&m);
    struct ref s = {0};
    train_to(net, NULL, &m, o, clip, steps);
    for (int t = 0; t < steps; t++)
        ref_step(&m, &s, o, clip);
    ck_params(net, &m, tol);
    nn_free(net);
}

/* ---- tests ---- */

/* e = (-1.7, -2.2, -1.2): dw = 2/3·(-1.7 - 4.4 + 1.2) = -49/15, db = 2/3·(-5.1) = -3.4 */
START_TEST(test_sgd_literal)
{
    struct lin m = tiny();
    struct nn_net *net = lin_net(&m);
    const struct nn_optimizer o = nn_sgd(0.1f, 0, 0);
    train_to(net, NULL, &m, &o, 0, 1);
    ck_near(net->params[0], 0.5 + 0.1 * 49.0 / 15, 1e-6);
    ck_near(net->params[1], -0.2 + 0.34, 1e-6);
    ck_assert_ptr_null(net->m);   /* plain sgd keeps no velocity */
    nn_free(net);
}
END_TEST

START_TEST(test_sgd)
{
    const struct nn_optimizer o = nn_sgd(0.1f, 0, 0);
    check_tiny(&o, 0, 2, 1e-6);
}
END_TEST

START_TEST(test_sgd_momentum)
{
    const struct nn_optimizer o = nn_sgd(0.05f, 0.9f, 0);
    check_tiny(&o, 0, 2, 1e-6);
    check_tiny(&o, 0, 3, 1e-6);
    /* the second step by hand: v2 = 0.9·g1 + g2, where p1 = p0 - 0.05·g1 */
    struct lin m = tiny();
    double g1[2], g2[2];
    lin_grad(&m, g1);
    for (int k = 0; k < 2; k++)
        m.p[k] -= 0.05 * g1[k];
    lin_grad(&m, g2);
    struct lin e = tiny();
    struct nn_net *net = lin_net(&e);
    train_to(net, NULL, &e, &o, 0, 2);
    for (int k = 0; k < 2; k++)
        ck_near(net->params[k], m.p[k] - 0.05 * (0.9 * g1[k] + g2[k]), 1e-6);
    nn_free(net);
}
END_TEST

START_TEST(test_sgd_nesterov)
{
    const struct nn_optimizer o = nn_sgd(0.05f, 0.9f, 1);
    check_tiny(&o, 0, 2, 1e-6);
    /* the first step by hand: p1 = p0 - lr·(g + μ·g) */
    struct lin m = tiny();
    double g[2];
    lin_grad(&m, g);
    struct nn_net *net = lin_net(&m);
    train_to(net, NULL, &m, &o, 0, 1);
    for (int k = 0; k < 2; k++)
        ck_near(net->params[k], m.p[k] - 0.05 * 1.9 * g[k], 1e-6);
    nn_free(net);
}
END_TEST

START_TEST(test_adam)
{
    const struct nn_optimizer o = nn_adam(0.1f);
    check_tiny(&o, 0, 2, 1e-5);
    check_tiny(&o, 0, 5, 1e-5);
    /* the first step by hand: m̂ = g, v̂ = g², so p1 = p0 - lr·g/(|g| + ε) */
    struct lin m = tiny();
    double g[2];
    lin_grad(&m, g);
    struct nn_net *net = lin_net(&m);
    train_to(net, NULL, &m, &o, 0, 1);
    for (int k = 0; k < 2; k++)
        ck_near(net->params[k], m.p[k] - 0.1 * g[k] / (fabs(g[k]) + 1e-7), 1e-6);
    nn_free(net);
    /* other betas, so that a swapped beta1/beta2 or a missing bias correction shows */
    struct nn_optimizer o2 = nn_adam(0.05f);
    o2.beta1 = 0.5f;
    o2.beta2 = 0.8f;
    o2.epsilon = 1e-3f;
    check_tiny(&o2, 0, 3, 1e-5);
}
END_TEST

/* Optimizer state (velocity, moments, step count) carries over between nn_train calls:
 * one epoch then a second equals two epochs at once. */
START_TEST(test_state_carries_over)
{
    const struct nn_optimizer opts[2] = {nn_adam(0.1f), nn_sgd(0.05f, 0.9f, 0)};
    for (int i = 0; i < 2; i++) {
        struct lin m = tiny();
        struct nn_net *net = lin_net(&m);
        struct ref s = {0};
        train_to(net, NULL, &m, &opts[i], 0, 1);
        train_to(net, NULL, &m, &opts[i], 0, 2);
        ref_step(&m, &s, &opts[i], 0);
        ref_step(&m, &s, &opts[i], 0);
        ck_params(net, &m, 1e-5);
        nn_free(net);
    }
}
END_TEST

START_TEST(test_weight_decay)
{
    /* sgd: the kernel gets wd·w added to its gradient, the bias does not */
    struct nn_optimizer o = nn_sgd(0.1f, 0, 0);
    o.weight_decay = 0.5f;
    check_tiny(&o, 0, 2, 1e-6);
    struct lin m = tiny();
    double g[2];
    lin_grad(&m, g);
    struct nn_net *net = lin_net(&m);
    train_to(net, NULL, &m, &o, 0, 1);
    ck_near(net->params[0], 0.5 - 0.1 * (g[0] + 0.5 * 0.5), 1e-6);
    ck_near(net->params[1], -0.2 - 0.1 * g[1], 1e-6);
    nn_free(net);
    /* with momentum and with adam (L2 in the gradient, not decoupled) */
    o = nn_sgd(0.05f, 0.9f, 1);
    o.weight_decay = 0.2f;
    check_tiny(&o, 0, 2, 1e-6);
    o = nn_adam(0.1f);
    o.weight_decay = 0.2f;
    check_tiny(&o, 0, 2, 1e-5);
}
END_TEST

/* Decay touches dense kernels only: not dense biases, not batchnorm gamma and beta. Two
 * nets from the same weights take one sgd step with and without decay; the difference is
 * -lr·wd·w on kernels and nothing elsewhere. */
START_TEST(test_weight_decay_kernels_only)
{
    const struct nn_layer_spec ls[] = {nn_dense(4, NN_LINEAR), nn_batchnorm(),
                                       nn_dense(1, NN_LINEAR)};
    enum { N = 6, IN = 3 };
    float x[N * IN], y[N];
    tu_fill(x, N * IN, -1, 1, 1);
    tu_fill(y, N, -1, 1, 2);
    struct nn_net *a = tu_net(ls, 3, IN, NN_MSE, 3), *b = tu_net(ls, 3, IN, NN_MSE, 3);
    const size_t np = nn_param_count(a);
    /* gamma and beta away from 1 and 0, so decay on them would show */
    struct nn_tensor t[8];
    ck_assert_int_eq(nn_tensors(a, t, 8), 8);
    ck_assert_str_eq(t[2].name, "gamma");
    for (int j = 0; j < 4; j++) {
        t[2].data[j] = 1.5f + 0.1f * j;
        t[3].data[j] = 0.5f - 0.2f * j;
    }
    memcpy(b->params, a->params, np * sizeof(float));
    float *p0 = malloc(np * sizeof *p0);
    ck_assert_ptr_nonnull(p0);
    memcpy(p0, a->params, np * sizeof(float));
    const struct nn_data d = {.x = x, .y = y, .rows = N, .cols = IN, .ycols = 1};
    struct nn_optimizer o = nn_sgd(0.1f, 0, 0);
    struct nn_train_opts opts = {.epochs = 1, .batch_size = N, .opt = o};
    struct nn_rng rng;
    struct nn_error e;
    nn_rng_seed(&rng, 4);
    ck_assert_msg(nn_train(a, NULL, &d, NULL, &opts, &rng, &e) == 0, "%s", e.msg);
    opts.opt.weight_decay = 0.25f;
    nn_rng_seed(&rng, 4);
    ck_assert_msg(nn_train(b, NULL, &d, NULL, &opts, &rng, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(nn_tensors(a, t, 8), 8);
    size_t off = 0, nkernel = 0;
    for (int i = 0; i < 8; i++) {
        if (!t[i].grad)
            continue;   /* moving statistics are not parameters */
        int kernel = strcmp(t[i].name, "kernel") == 0;
        for (int k = 0; k < t[i].rows * t[i].cols; k++, off++) {
            double want = kernel ? -0.1 * 0.25 * p0[off] : 0;
            ck_assert_msg(fabs((b->params[off] - a->params[off]) - want) <= 1e-6,
                          "%s %s[%d]: decay moved it by %g, expected %g", t[i].where,
                          t[i].name, k, (double)(b->params[off] - a->params[off]), want);
            nkernel += kernel;
        }
    }
    ck_assert_uint_eq(off, np);
    ck_assert_uint_eq(nkernel, 3 * 4 + 4 * 1);
    free(p0);
    nn_free(a);
    nn_free(b);
}
END_TEST

START_TEST(test_clip_norm)
{
    /* ‖g‖ = sqrt((49/15)² + 3.4²) ≈ 4.715 at the start */
    const struct nn_optimizer o = nn_sgd(0.1f, 0, 0);
    struct lin m = tiny();
    double g[2];
    lin_grad(&m, g);
    const double norm = sqrt(g[0] * g[0] + g[1] * g[1]);
    ck_assert(norm > 4.7 && norm < 4.72);
    /* clipped: the step is lr·clip in the gradient's direction */
    struct nn_net *net = lin_net(&m);
    train_to(net, NULL, &m, &o, 1.0f, 1);
    for (int k = 0; k < 2; k++)
        ck_near(net->params[k], m.p[k] - 0.1 * g[k] / norm, 1e-6);
    nn_free(net);
    /* not clipped when the norm is below the limit */
    net = lin_net(&m);
    train_to(net, NULL, &m, &o, 10.0f, 1);
    for (int k = 0; k < 2; k++)
        ck_near(net->params[k], m.p[k] - 0.1 * g[k], 1e-6);
    nn_free(net);
    /* over several steps, with momentum and with adam */
    check_tiny(&o, 1.0f, 3, 1e-6);
    const struct nn_optimizer mom = nn_sgd(0.05f, 0.9f, 0);
    check_tiny(&mom, 2.0f, 3, 1e-6);
    const struct nn_optimizer ad = nn_adam(0.1f);
    check_tiny(&ad, 0.5f, 3, 1e-5);
}
END_TEST

/* The threads' gradients are summed before the step and the global norm spans every
 * thread's slice of the parameters: 20 -> 2 (42 parameters) on two threads. */
START_TEST(test_two_threads)
{
    enum { N = 7, IN = 20, OUT = 2 };
    float x[N * IN], y[N * OUT];
    tu_fill(x, N * IN, -1, 1, 11);
    tu_fill(y, N * OUT, -1, 1, 12);
    struct lin base = {.in = IN, .out = OUT, .n = N, .x = x, .y = y};
    float w[IN * OUT + OUT];
    tu_fill(w, IN * OUT + OUT, -0.3f, 0.3f, 13);
    for (int k = 0; k < IN * OUT + OUT; k++)
        base.p[k] = w[k];
    struct nn_pool *pool = nn_pool_new(2);
    ck_assert_ptr_nonnull(pool);
    struct nn_optimizer sgdm = nn_sgd(0.1f, 0.9f, 0), adam = nn_adam(0.05f);
    sgdm.weight_decay = 0.1f;
    const struct { const struct nn_optimizer *o; float clip; } cases[] = {
        {&sgdm, 0}, {&adam, 0}, {&sgdm, 0.5f}, {&adam, 0.5f}};
    for (int c = 0; c < 4; c++) {
        struct lin m = base;
        struct ref s = {0};
        struct nn_net *net = lin_net(&m);
        train_to(net, pool, &m, cases[c].o, cases[c].clip, 2);
        ref_step(&m, &s, cases[c].o, cases[c].clip);
        ref_step(&m, &s, cases[c].o, cases[c].clip);
        ck_params(net, &m, 1e-5);
        nn_free(net);
    }
    nn_pool_free(pool);
}
END_TEST

/* A network without parameters (activations only) has nothing to update: training runs
 * its epochs, succeeds and leaves the function alone, on one thread and on two. */
START_TEST(test_no_parameters)
{
    const struct nn_layer_spec l = nn_activation(NN_TANH);
    struct nn_net *net = tu_net(&l, 1, 2, NN_MSE, 1);
    ck_assert_uint_eq(nn_param_count(net), 0);
    enum { N = 8 };
    float x[N * 2], y[N * 2], out[N * 2];
    tu_fill(x, N * 2, -1, 1, 1);
    tu_fill(y, N * 2, -1, 1, 2);
    const struct nn_data d = {.x = x, .y = y, .rows = N, .cols = 2, .ycols = 2};
    struct nn_pool *pool = nn_pool_new(2);
    ck_assert_ptr_nonnull(pool);
    const struct nn_optimizer opts[2] = {nn_sgd(0.1f, 0.9f, 0), nn_adam(0.01f)};
    struct nn_rng rng;
    nn_rng_seed(&rng, 3);
    int epochs = 0;
    for (int threads = 1; threads <= 2; threads++)
        for (int k = 0; k < 2; k++) {
            struct nn_train_opts o = {.epochs = ++epochs, .batch_size = 4, .opt = opts[k],
                                      .clip_norm = k ? 1.0f : 0};
            struct nn_error e;
            ck_assert_msg(nn_train(net, threads == 2 ? pool : NULL, &d, NULL, &o, &rng, &e) == 0,
                          "%d threads: %s", threads, e.msg);
            ck_assert_int_eq(nn_epochs_done(net), epochs);
        }
    struct nn_error e;
    ck_assert_int_eq(nn_predict(net, NULL, x, N, out, &e), 0);
    for (int k = 0; k < N * 2; k++)
        ck_near(out[k], tanh(x[k]), 1e-6);
    nn_pool_free(pool);
    nn_free(net);
}
END_TEST

/* ---- optim_prepare ---- */

struct bad_opt {
    const char *name;
    struct nn_optimizer o;
    const char *where;
};

/* Every field spelled out (no overridden initialisers). */
#define SGD(lr, mom, nest, wd)                                                              \
    {.type = NN_SGD, .learning_rate = (lr), .momentum = (mom), .nesterov = (nest),          \
     .weight_decay = (wd)}
#define ADAM(lr, b1, b2, eps, wd)                                                           \
    {.type = NN_ADAM, .learning_rate = (lr), .beta1 = (b1), .beta2 = (b2), .epsilon = (eps), \
     .weight_decay = (wd)}

static const struct bad_opt bad_opts[] = {
    {"learning_rate 0", SGD(0, 0, 0, 0), "/optimizer/learning_rate"},
    {"learning_rate -0.1", SGD(-0.1f, 0, 0, 0), "/optimizer/learning_rate"},
    {"learning_rate NaN", SGD(NAN, 0, 0, 0), "/optimizer/learning_rate"},
    {"learning_rate inf", ADAM(INFINITY, 0.9f, 0.999f, 1e-7f, 0), "/optimizer/learning_rate"},
    {"adam learning_rate 0", ADAM(0, 0.9f, 0.999f, 1e-7f, 0), "/optimizer/learning_rate"},
    {"momentum 1", SGD(0.1f, 1, 0, 0), "/optimizer/momentum"},
    {"momentum -0.5", SGD(0.1f, -0.5f, 0, 0), "/optimizer/momentum"},
    {"momentum NaN", SGD(0.1f, NAN, 0, 0), "/optimizer/momentum"},
    {"nesterov without momentum", SGD(0.1f, 0, 1, 0), "/optimizer/nesterov"},
    {"beta1 1", ADAM(0.1f, 1, 0.999f, 1e-7f, 0), "/optimizer/beta1"},
    {"beta1 -0.1", ADAM(0.1f, -0.1f, 0.999f, 1e-7f, 0), "/optimizer/beta1"},
    {"beta1 NaN", ADAM(0.1f, NAN, 0.999f, 1e-7f, 0), "/optimizer/beta1"},
    {"beta2 1", ADAM(0.1f, 0.9f, 1, 1e-7f, 0), "/optimizer/beta2"},
    {"beta2 1.5", ADAM(0.1f, 0.9f, 1.5f, 1e-7f, 0), "/optimizer/beta2"},
    {"epsilon 0", ADAM(0.1f, 0.9f, 0.999f, 0, 0), "/optimizer/epsilon"},
    {"epsilon NaN", ADAM(0.1f, 0.9f, 0.999f, NAN, 0), "/optimizer/epsilon"},
    {"weight_decay -1", SGD(0.1f, 0, 0, -1), "/optimizer/weight_decay"},
    {"weight_decay NaN", ADAM(0.1f, 0.9f, 0.999f, 1e-7f, NAN), "/optimizer/weight_decay"},
    {"weight_decay inf", SGD(0.1f, 0, 0, INFINITY), "/optimizer/weight_decay"},
    {"type 7", {.type = (enum nn_opt)7, .learning_rate = 0.1f}, "/optimizer/type"},
    /* the service's ranges, which the engine now holds too */
    {"learning_rate 2e6", SGD(2e6f, 0, 0, 0), "/optimizer/learning_rate"},
    {"learning_rate 1e-13", ADAM(1e-13f, 0.9f, 0.999f, 1e-7f, 0), "/optimizer/learning_rate"},
    {"momentum 0.9999995", SGD(0.1f, 0.9999995f, 0, 0), "/optimizer/momentum"},
    {"nesterov 2", SGD(0.1f, 0.9f, 2, 0), "/optimizer/nesterov"},
    {"beta2 0.9999995", ADAM(0.1f, 0.9f, 0.9999995f, 1e-7f, 0), "/optimizer/beta2"},
    {"epsilon 2", ADAM(0.1f, 0.9f, 0.999f, 2, 0), "/optimizer/epsilon"},
    {"epsilon 1e-31", ADAM(0.1f, 0.9f, 0.999f, 1e-31f, 0), "/optimizer/epsilon"},
    {"weight_decay 2e6", ADAM(0.1f, 0.9f, 0.999f, 1e-7f, 2e6f), "/optimizer/weight_decay"},
};
#define NBAD ((int)(sizeof bad_opts / sizeof *bad_opts))

START_TEST(test_prepare_rejects)
{
    const struct bad_opt *c = &bad_opts[_i];
    struct lin m = tiny();
    struct nn_net *net = lin_net(&m);
    struct nn_error e = {0};
    ck_assert_msg(optim_prepare(net, &c->o, &e) == -1, "%s: accepted", c->name);
    ck_assert_msg(strcmp(e.where, c->where) == 0, "%s: where \"%s\", expected \"%s\"",
                  c->name, e.where, c->where);
    ck_assert_msg(e.msg[0] != '\0', "%s: no message", c->name);
    /* nn_train says the same and leaves the weights alone */
    const struct nn_data d = {.x = m.x, .y = m.y, .rows = m.n, .cols = 1, .ycols = 1};
    struct nn_train_opts opts = {.epochs = 1, .batch_size = 3, .opt = c->o};
    struct nn_rng rng;
    nn_rng_seed(&rng, 1);
    memset(&e, 0, sizeof e);
    ck_assert_int_eq(nn_train(net, NULL, &d, NULL, &opts, &rng, &e), -1);
    ck_assert_str_eq(e.where, c->where);
    ck_assert_int_eq(nn_epochs_done(net), 0);
    ck_params(net, &m, 1e-7);   /* float rounding of the start values */
    nn_free(net);
}
END_TEST

START_TEST(test_prepare_accepts)
{
    const struct nn_optimizer good[] = {
        nn_sgd(0.1f, 0, 0), nn_sgd(0.1f, 0.9f, 0), nn_sgd(0.1f, 0.9f, 1), nn_adam(1e-3f),
        ADAM(0.1f, 0, 0, 1e-7f, 0), SGD(0.1f, 0, 0, 0.01f)};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        struct lin m = tiny();
        struct nn_net *net = lin_net(&m);
        struct nn_error e = {0};
        ck_assert_msg(optim_prepare(net, &good[i], &e) == 0, "case %zu: %s: %s", i, e.where,
                      e.msg);
        ck_assert_ptr_nonnull(net->grad);
        ck_assert(good[i].type == NN_ADAM || good[i].momentum > 0 ? net->m != NULL
                                                                  : net->m == NULL);
        ck_assert(good[i].type == NN_ADAM ? net->v != NULL : net->v == NULL);
        nn_free(net);
    }
}
END_TEST

/* beta1 goes up to 0.999999 (as the service has always taken it): 0.999995 is in,
 * 0.9999995 is out, refused at beta1 itself with the range in the message. */
START_TEST(test_prepare_beta1_near_one)
{
    struct lin m = tiny();
    struct nn_net *net = lin_net(&m);
    struct nn_error e = {0};
    const struct nn_optimizer in = ADAM(0.1f, 0.999995f, 0.999f, 1e-7f, 0);
    ck_assert_msg(optim_prepare(net, &in, &e) == 0, "beta1 0.999995 refused: %s: %s", e.where,
                  e.msg);
    const struct nn_optimizer top = ADAM(0.1f, 0.999999f, 0.999999f, 1e-7f, 0);
    ck_assert_msg(optim_prepare(net, &top, &e) == 0, "beta1 0.999999 refused: %s: %s", e.where,
                  e.msg);
    const struct nn_optimizer out = ADAM(0.1f, 0.9999995f, 0.999f, 1e-7f, 0);
    ck_assert_int_eq(optim_prepare(net, &out, &e), -1);
    ck_assert_str_eq(e.where, "/optimizer/beta1");
    ck_assert_str_eq(e.msg, "beta1 must be from 0 to 0.999999, not 0.9999995");
    nn_free(net);
}
END_TEST

/* nn_opt_check_all reports every fault of an optimizer, the sgd rule included, and
 * optim_prepare the first of them. */
static void add_fault(void *ctx, const char *where, const char *msg)
{
    char (*got)[2][NN_MSG] = ctx;
    for (int i = 0; i < 8; i++)
        if (!got[i][0][0]) {
            snprintf(got[i][0], NN_MSG, "%s", where);
            snprintf(got[i][1], NN_MSG, "%s", msg);
            break;
        }
}

START_TEST(test_check_all_faults)
{
    char got[8][2][NN_MSG];
    memset(got, 0, sizeof got);
    struct nn_faults f = {.add = add_fault, .ctx = got};
    const struct nn_optimizer o = SGD(0, 0, 1, -1);   /* lr, nesterov without momentum, wd */
    ck_assert_int_eq(nn_opt_check_all(&o, &f), -1);
    ck_assert_int_eq(f.n, 3);
    ck_assert_str_eq(got[0][0], "/optimizer/learning_rate");
    ck_assert_str_eq(got[0][1], "learning_rate must be from 1e-12 to 1000000, not 0");
    ck_assert_str_eq(got[1][0], "/optimizer/weight_decay");
    ck_assert_str_eq(got[1][1], "weight_decay must be from 0 to 1000000, not -1");
    ck_assert_str_eq(got[2][0], "/optimizer/nesterov");
    ck_assert_str_eq(got[2][1], "nesterov needs a momentum above 0");
    struct lin m = tiny();
    struct nn_net *net = lin_net(&m);
    struct nn_error e = {0};
    ck_assert_int_eq(optim_prepare(net, &o, &e), -1);
    ck_assert_str_eq(e.where, "/optimizer/learning_rate");
    nn_free(net);

    /* adam's fields, not sgd's: a momentum out of sgd's range means nothing to adam */
    memset(got, 0, sizeof got);
    f.n = 0;
    struct nn_optimizer a = ADAM(0.1f, 2, 0.999f, 0, 0);
    a.momentum = 5;
    ck_assert_int_eq(nn_opt_check_all(&a, &f), -1);
    ck_assert_int_eq(f.n, 2);
    ck_assert_str_eq(got[0][0], "/optimizer/beta1");
    ck_assert_str_eq(got[1][0], "/optimizer/epsilon");
    ck_assert_str_eq(got[1][1], "epsilon must be from 1e-30 to 1, not 0");
    f.n = 0;
    ck_assert_int_eq(nn_opt_check_all(&(struct nn_optimizer)ADAM(0.1f, 0.9f, 0.999f, 1e-7f, 0),
                                      &f), 0);
    ck_assert_int_eq(f.n, 0);
}
END_TEST

/* The constructors take every default from the descriptor, which holds the numbers the
 * service documents (api/openapi.yaml): sgd 0.01, adam 0.001, beta1 0.9, beta2 0.999,
 * epsilon 1e-7, no momentum, nesterov or weight decay. */
START_TEST(test_defaults)
{
    const struct nn_kind_desc *sgd = nn_opt_desc(NN_SGD), *adam = nn_opt_desc(NN_ADAM);
    ck_assert_ptr_nonnull(sgd);
    ck_assert_ptr_nonnull(adam);
    ck_assert_ptr_null(nn_opt_desc(NN_OPT_COUNT));
    ck_assert_ptr_null(nn_opt_desc(-1));
    ck_assert_str_eq(sgd->name, "sgd");
    ck_assert_str_eq(adam->name, "adam");
    static const char *const sgd_names[] = {"learning_rate", "momentum", "nesterov",
                                            "weight_decay"};
    static const char *const adam_names[] = {"learning_rate", "beta1", "beta2", "epsilon",
                                             "weight_decay"};
    ck_assert_int_eq(sgd->nfields, 4);
    ck_assert_int_eq(adam->nfields, 5);
    for (int i = 0; i < 4; i++)
        ck_assert_str_eq(sgd->fields[i].name, sgd_names[i]);
    for (int i = 0; i < 5; i++)
        ck_assert_str_eq(adam->fields[i].name, adam_names[i]);

    struct nn_optimizer d = {.type = NN_SGD, .beta1 = 7};
    nn_fields_default(sgd->fields, sgd->nfields, &d);
    struct nn_optimizer c = nn_sgd(0.01f, 0, 0);
    ck_assert_float_eq(d.learning_rate, 0.01f);
    ck_assert(d.type == c.type && d.learning_rate == c.learning_rate &&
              d.momentum == c.momentum && d.nesterov == c.nesterov &&
              d.weight_decay == c.weight_decay);
    ck_assert_float_eq(d.beta1, 7);   /* not an sgd field: untouched */
    ck_assert(c.beta1 == 0 && c.beta2 == 0 && c.epsilon == 0);

    d = (struct nn_optimizer){.type = NN_ADAM};
    nn_fields_default(adam->fields, adam->nfields, &d);
    c = nn_adam(0.001f);
    ck_assert_float_eq(d.learning_rate, 0.001f);
    ck_assert_float_eq(c.beta1, 0.9f);
    ck_assert_float_eq(c.beta2, 0.999f);
    ck_assert_float_eq(c.epsilon, 1e-7f);
    ck_assert(d.type == c.type && d.learning_rate == c.learning_rate && d.beta1 == c.beta1 &&
              d.beta2 == c.beta2 && d.epsilon == c.epsilon &&
              d.weight_decay == c.weight_decay && c.momentum == 0 && c.nesterov == 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("optim");
    TCase *tc = tcase_create("update");
    tcase_add_test(tc, test_sgd_literal);
    tcase_add_test(tc, test_sgd);
    tcase_add_test(tc, test_sgd_momentum);
    tcase_add_test(tc, test_sgd_nesterov);
    tcase_add_test(tc, test_adam);
    tcase_add_test(tc, test_state_carries_over);
    tcase_add_test(tc, test_weight_decay);
    tcase_add_test(tc, test_weight_decay_kernels_only);
    tcase_add_test(tc, test_clip_norm);
    tcase_add_test(tc, test_two_threads);
    tcase_add_test(tc, test_no_parameters);
    suite_add_tcase(s, tc);

    tc = tcase_create("prepare");
    tcase_add_loop_test(tc, test_prepare_rejects, 0, NBAD);
    tcase_add_test(tc, test_prepare_accepts);
    tcase_add_test(tc, test_prepare_beta1_near_one);
    tcase_add_test(tc, test_check_all_faults);
    tcase_add_test(tc, test_defaults);
    suite_add_tcase(s, tc);
    return tu_run(s) != 0;
}
