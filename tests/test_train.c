/* test_train.c -- core/train.c: nn_train learns (XOR; scikit-learn's copy of the iris
 * data set in api/examples/, on a held-out split), is bit-reproducible for a seed and thread
 * count, stops on a NaN/infinite loss with a useful message, on a callback or the cancel
 * flag, reports validation, gradient norms and dead relu units that match values computed
 * here independently, refuses bad input with -1 and a message, and resumes where it
 * stopped. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IRIS_CSV "api/examples/iris.csv"

/* ---- helpers ---- */

enum { MAXE = 64 };
struct log {
    int n, stop_at;             /* on_epoch returns 1 at epoch stop_at (0: never) */
    int epoch[MAXE], epochs[MAXE];
    double loss[MAXE], val_loss[MAXE], val_acc[MAXE], acc[MAXE];
    struct nn_report last;      /* the last report (its arrays copied below) */
    int ngrad, ndead;
    float grad_norm[16], dead[16];
    char grad_where[16][NN_WHERE], dead_where[16][NN_WHERE];
    _Atomic int *cancel_at_epoch;   /* set to 1 in on_epoch of epoch cancel_epoch */
    int cancel_epoch;
};

static int on_epoch(void *ctx, const struct nn_report *r)
{
    struct log *l = ctx;
    if (l->n < MAXE) {
        l->epoch[l->n] = r->epoch;
        l->epochs[l->n] = r->epochs;
        l->loss[l->n] = r->loss;
        l->val_loss[l->n] = r->val_loss;
        l->val_acc[l->n] = r->val_metric[NN_METRIC_ACCURACY];
        l->acc[l->n] = r->metric[NN_METRIC_ACCURACY];
        l->n++;
    }
    l->last = *r;
    l->ngrad = r->ngrad;
    l->ndead = r->ndead;
    for (int k = 0; k < r->ngrad && k < 16; k++) {
        l->grad_norm[k] = r->grad_norm[k];
        snprintf(l->grad_where[k], NN_WHERE, "%s", r->grad_where[k]);
    }
    for (int k = 0; k < r->ndead && k < 16; k++) {
        l->dead[k] = r->dead[k];
        snprintf(l->dead_where[k], NN_WHERE, "%s", r->dead_where[k]);
    }
    if (l->cancel_at_epoch && r->epoch == l->cancel_epoch)
        *l->cancel_at_epoch = 1;
    return l->stop_at && r->epoch == l->stop_at;
}

static struct nn_net *net_of(const struct nn_layer_spec *ls, int n, int inputs, enum nn_loss loss,
                             unsigned metrics, uint64_t seed)
{
    struct nn_spec s = {.inputs = inputs, .layers = ls, .nlayers = n, .loss = loss,
                        .metrics = metrics};
    return tu_spec_net(&s, seed);
}

static float *copy_params(const struct nn_net *net)
{
    float *p = malloc(sizeof(float) * (net->nparams + 1));
    ck_assert_ptr_nonnull(p);
    memcpy(p, net->params, sizeof(float) * net->nparams);
    return p;
}

/* A 3-class problem on 10 features: rows of x in [-1, 1), y a class index. */
enum { TR = 320, TIN = 10 };
static float TX[TR * TIN], TY[TR];
static void task(void)
{
    tu_fill(TX, TR * TIN, -1, 1, 1001);
    for (int i = 0; i < TR; i++) {
        const float *x = TX + i * TIN;
        TY[i] = x[0] + x[1] > 0 ? (x[2] > 0 ? 2.0f : 1.0f) : 0.0f;
    }
}

/* ---- (a) XOR ---- */

START_TEST(xor_learns)
{
    const float x[8] = {0, 0, 0, 1, 1, 0, 1, 1}, y[4] = {0, 1, 1, 0};
    struct nn_layer_spec ls[] = {nn_dense(8, NN_SIGMOID), nn_dense(1, NN_SIGMOID)};
    struct nn_net *net = net_of(ls, 2, 2, NN_BCE, 1u << NN_METRIC_ACCURACY, 5);
    struct nn_data d = {.x = x, .y = y, .rows = 4, .cols = 2, .ycols = 1};
    struct nn_train_opts o = {.epochs = 600, .batch_size = 4, .opt = nn_adam(0.05f)};
    struct nn_rng rng;
    nn_rng_seed(&rng, 6);
    struct nn_error e;
    ck_assert_msg(nn_train(net, NULL, &d, NULL, &o, &rng, &e) == 0, "%s", e.msg);
    double loss, m[NN_METRIC_COUNT];
    ck_assert_int_eq(nn_evaluate(net, NULL, &d, &loss, m, &e), 0);
    ck_assert_msg(loss < 0.05, "XOR loss %g", loss);
    float p[4];
    ck_assert_int_eq(nn_predict(net, NULL, x, 4, p, &e), 0);
    /* the loss by hand from the predictions */
    double bce = 0;
    for (int i = 0; i < 4; i++) {
        ck_assert_msg((p[i] > 0.5f) == (y[i] > 0.5f), "XOR(%g, %g) -> %g", x[2 * i],
                      x[2 * i + 1], p[i]);
        bce -= y[i] * log(p[i]) + (1 - y[i]) * log(1 - p[i]);
    }
    ck_assert_double_eq_tol(loss, bce / 4, 1e-4);
    ck_assert_double_eq(m[NN_METRIC_ACCURACY], 1.0);
    nn_free(net);
}
END_TEST

/* ---- (b) reproducibility ---- */

static void run_task(struct nn_pool *pool, struct log *l, float **params)
{
    task();
    struct nn_layer_spec rb[] = {nn_dense(16, NN_RELU), nn_dropout(0.3f), nn_dense(16, NN_LINEAR)};
    struct nn_layer_spec ls[] = {nn_dense(16, NN_RELU), nn_batchnorm(), nn_dropout(0.2f),
                                 nn_residual(rb, 3), nn_dense(3, NN_SOFTMAX)};
    struct nn_net *net = net_of(ls, 5, TIN, NN_CCE, 1u << NN_METRIC_ACCURACY, 77);
    struct nn_data d = {.x = TX, .y = TY, .rows = TR, .cols = TIN, .ycols = 1};
    struct nn_train_opts o = {.epochs = 5, .batch_size = 24, .opt = nn_adam(5e-3f),
                              .shuffle = 1, .clip_norm = 5, .on_epoch = on_epoch, .ctx = l};
    struct nn_rng rng;
    nn_rng_seed(&rng, 78);
    struct nn_error e;
    ck_assert_msg(nn_train(net, pool, &d, NULL, &o, &rng, &e) == 0, "%s", e.msg);
    *params = copy_params(net);
    nn_free(net);
}

static void reproducible(struct nn_pool *pool)
{
    static struct log a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    float *pa, *pb;
    run_task(pool, &a, &pa);
    run_task(pool, &b, &pb);
    ck_assert_int_eq(a.n, 5);
    ck_assert_int_eq(b.n, 5);
    for (int k = 0; k < 5; k++) {
        ck_assert(isfinite(a.loss[k]));
        ck_assert_msg(memcmp(&a.loss[k], &b.loss[k], sizeof(double)) == 0,
                      "%d threads, epoch %d: %.17g then %.17g", nn_pool_threads(pool), k + 1,
                      a.loss[k], b.loss[k]);
    }
    ck_assert_msg(a.loss[4] < a.loss[0], "not learning: %g -> %g", a.loss[0], a.loss[4]);
    /* 16*10+16 + 32 + 2*(16*16+16) + 16*3+3 parameters */
    ck_assert_int_eq(memcmp(pa, pb, sizeof(float) * (176 + 32 + 544 + 51)), 0);
    free(pa);
    free(pb);
}

START_TEST(same_seed_same_losses_one_thread)
{
    reproducible(NULL);
}
END_TEST

START_TEST(same_seed_same_losses_two_threads)
{
    struct nn_pool *p = nn_pool_new(2);
    ck_assert_ptr_nonnull(p);
    reproducible(p);
    nn_pool_free(p);
}
END_TEST

START_TEST(different_seed_different_losses)
{
    static struct log a;
    float *pa;
    run_task(NULL, &a, &pa);
    /* the same run from another rng seed differs (shuffling and dropout draw from it) */
    task();
    struct nn_layer_spec rb[] = {nn_dense(16, NN_RELU), nn_dropout(0.3f), nn_dense(16, NN_LINEAR)};
    struct nn_layer_spec ls[] = {nn_dense(16, NN_RELU), nn_batchnorm(), nn_dropout(0.2f),
                                 nn_residual(rb, 3), nn_dense(3, NN_SOFTMAX)};
    struct nn_net *net = net_of(ls, 5, TIN, NN_CCE, 1u << NN_METRIC_ACCURACY, 77);
    static struct log b;
    struct nn_data d = {.x = TX, .y = TY, .rows = TR, .cols = TIN, .ycols = 1};
    struct nn_train_opts o = {.epochs = 5, .batch_size = 24, .opt = nn_adam(5e-3f),
                              .shuffle = 1, .clip_norm = 5, .on_epoch = on_epoch, .ctx = &b};
    struct nn_rng rng;
    nn_rng_seed(&rng, 79);
    struct nn_error e;
    ck_assert_int_eq(nn_train(net, NULL, &d, NULL, &o, &rng, &e), 0);
    ck_assert(memcmp(&a.loss[0], &b.loss[0], sizeof(double)) != 0);
    free(pa);
    nn_free(net);
}
END_TEST

/* ---- (c) iris ---- */

struct iris {
    int n, f;
    float *x, *y;
};

/* Reads sklearn's iris.csv: a header "150,4,setosa,versicolor,virginica", then rows of
 * four features and a class index. */
static int iris_read(struct iris *d)
{
    FILE *f = fopen(IRIS_CSV, "r");
    if (!f)
        return -1;
    memset(d, 0, sizeof *d);
    if (fscanf(f, "%d,%d", &d->n, &d->f) != 2 || d->n < 1 || d->f != 4) {
        fclose(f);
        return -1;
    }
    fscanf(f, "%*[^\n]");
    d->x = malloc(sizeof(float) * d->n * d->f);
    d->y = malloc(sizeof(float) * d->n);
    int i = 0;
    for (; d->x && d->y && i < d->n; i++) {
        float *x = d->x + i * d->f;
        int c;
        if (fscanf(f, "%f,%f,%f,%f,%d", &x[0], &x[1], &x[2], &x[3], &c) != 5)
            break;
        d->y[i] = (float)c;
    }
    fclose(f);
    return i == d->n ? 0 : -1;
}

START_TEST(iris_held_out)
{
    struct iris d;
    int rc = iris_read(&d);
    ck_assert_msg(rc == 0, "cannot read " IRIS_CSV " (the suites run from the top of the "
                  "repository)");
    ck_assert_int_eq(d.n, 150);
    int counts[3] = {0};
    for (int i = 0; i < d.n; i++)
        counts[(int)d.y[i]]++;
    ck_assert(counts[0] == 50 && counts[1] == 50 && counts[2] == 50);

    /* a seeded shuffle, 120 rows to train, 30 held out */
    int perm[150];
    struct nn_rng r;
    nn_rng_seed(&r, 2021);
    for (int i = 0; i < d.n; i++)
        perm[i] = i;
    for (int i = d.n - 1; i > 0; i--) {
        int k = (int)(nn_rng_uniform(&r) * (i + 1)), t = perm[i];
        perm[i] = perm[k];
        perm[k] = t;
    }
    enum { NT = 120, NV = 30 };
    float xt[NT * 4], yt[NT], xv[NV * 4], yv[NV];
    for (int i = 0; i < d.n; i++) {
        float *x = i < NT ? xt + i * 4 : xv + (i - NT) * 4;
        memcpy(x, d.x + perm[i] * 4, sizeof(float) * 4);
        (i < NT ? yt : yv)[i < NT ? i : i - NT] = d.y[perm[i]];
    }
    /* standardise with the training rows' statistics */
    for (int j = 0; j < 4; j++) {
        double s = 0, ss = 0;
        for (int i = 0; i < NT; i++) {
            s += xt[i * 4 + j];
            ss += (double)xt[i * 4 + j] * xt[i * 4 + j];
        }
        double mean = s / NT, sd = sqrt(ss / NT - mean * mean);
        for (int i = 0; i < NT; i++)
            xt[i * 4 + j] = (float)((xt[i * 4 + j] - mean) / sd);
        for (int i = 0; i < NV; i++)
            xv[i * 4 + j] = (float)((xv[i * 4 + j] - mean) / sd);
    }
    free(d.x);
    free(d.y);

    struct nn_layer_spec ls[] = {nn_dense(16, NN_RELU), nn_dense(3, NN_SOFTMAX)};
    struct nn_net *net = net_of(ls, 2, 4, NN_CCE, 1u << NN_METRIC_ACCURACY, 3);
    struct nn_data train = {.x = xt, .y = yt, .rows = NT, .cols = 4, .ycols = 1};
    struct nn_data val = {.x = xv, .y = yv, .rows = NV, .cols = 4, .ycols = 1};
    static struct log l;
    memset(&l, 0, sizeof l);
    struct nn_train_opts o = {.epochs = 60, .batch_size = 16, .opt = nn_adam(0.01f),
                              .shuffle = 1, .on_epoch = on_epoch, .ctx = &l};
    nn_rng_seed(&r, 5);
    struct nn_error e;
    ck_assert_msg(nn_train(net, NULL, &train, &val, &o, &r, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(l.n, 60);

    /* held-out accuracy by hand from the predictions */
    float p[NV * 3];
    ck_assert_int_eq(nn_predict(net, NULL, xv, NV, p, &e), 0);
    int right = 0;
    for (int i = 0; i < NV; i++) {
        int best = 0;
        for (int c = 1; c < 3; c++)
            best = p[i * 3 + c] > p[i * 3 + best] ? c : best;
        right += best == (int)yv[i];
    }
    double acc = (double)right / NV;
    ck_assert_msg(acc >= 0.9, "held-out accuracy %g", acc);
    ck_assert_double_eq_tol(l.val_acc[59], acc, 1e-12);
    ck_assert_msg(l.acc[59] >= 0.9, "training accuracy %g", l.acc[59]);
    nn_free(net);
}
END_TEST

/* ---- (d) a loss that stops being finite ---- */

/* Parses "epoch E, batch B" out of a message. */
static int epoch_batch(const char *msg, int *epoch, int *batch)
{
    const char *p = strstr(msg, "epoch ");
    return p && sscanf(p, "epoch %d, batch %d", epoch, batch) == 2 ? 0 : -1;
}

static void nan_features(struct nn_pool *pool)
{
    enum { R = 40, IN = 3 };
    float x[R * IN], y[R];
    tu_fill(x, R * IN, -1, 1, 3);
    for (int i = 0; i < R; i++)
        y[i] = x[i * IN] > 0;
    x[5 * IN + 1] = NAN;   /* row 5: in batch 2 of 4-row batches */
    struct nn_layer_spec ls[] = {nn_dense(4, NN_TANH), nn_dense(1, NN_SIGMOID)};
    struct nn_net *net = net_of(ls, 2, IN, NN_BCE, 0, 4);
    struct nn_data d = {.x = x, .y = y, .rows = R, .cols = IN, .ycols = 1};
    struct nn_train_opts o = {.epochs = 3, .batch_size = 4, .opt = nn_sgd(0.1f, 0, 0)};
    struct nn_rng rng;
    nn_rng_seed(&rng, 5);
    struct nn_error e = {{0}, {0}};
    ck_assert_int_eq(nn_train(net, pool, &d, NULL, &o, &rng, &e), -1);
    ck_assert_msg(strstr(e.msg, "NaN") != NULL, "%s", e.msg);
    ck_assert_msg(strstr(e.msg, "epoch 1, batch 2") != NULL, "%s", e.msg);
    ck_assert_msg(strstr(e.msg, "learning rate") != NULL, "%s", e.msg);
    ck_assert_msg(strstr(e.msg, "clip_norm") != NULL, "%s", e.msg);
    ck_assert_int_eq(nn_epochs_done(net), 0);
    /* the NaN batch was not applied */
    for (size_t k = 0; k < net->nparams; k++)
        ck_assert_msg(isfinite(net->params[k]), "parameter %zu is %g", k, net->params[k]);
    nn_free(net);
}

START_TEST(nan_input_stops)
{
    nan_features(NULL);
}
END_TEST

START_TEST(nan_input_stops_two_threads)
{
    struct nn_pool *p = nn_pool_new(2);
    ck_assert_ptr_nonnull(p);
    nan_features(p);
    nn_pool_free(p);
}
END_TEST

START_TEST(diverging_loss_stops)
{
    enum { R = 64 };
    float x[R], y[R];
    tu_fill(x, R, 50, 100, 8);
    for (int i = 0; i < R; i++)
        y[i] = 1e6f * x[i];
    struct nn_layer_spec ls[] = {nn_dense(1, NN_LINEAR)};
    struct nn_net *net = net_of(ls, 1, 1, NN_MSE, 0, 9);
    struct nn_data d = {.x = x, .y = y, .rows = R, .cols = 1, .ycols = 1};
    static struct log l;
    memset(&l, 0, sizeof l);
    struct nn_train_opts o = {.epochs = 50, .batch_size = 8, .opt = nn_sgd(10.0f, 0, 0),
                              .on_epoch = on_epoch, .ctx = &l};
    struct nn_rng rng;
    nn_rng_seed(&rng, 10);
    struct nn_error e = {{0}, {0}};
    ck_assert_int_eq(nn_train(net, NULL, &d, NULL, &o, &rng, &e), -1);
    int ep, b;
    ck_assert_msg(epoch_batch(e.msg, &ep, &b) == 0, "no epoch and batch in: %s", e.msg);
    ck_assert_msg(strstr(e.msg, "NaN") || strstr(e.msg, "infinite"), "%s", e.msg);
    ck_assert_msg(strstr(e.msg, "diverged") != NULL, "%s", e.msg);
    ck_assert_msg(strstr(e.msg, "learning rate") != NULL, "%s", e.msg);
    ck_assert_msg(strstr(e.msg, "clip_norm") != NULL, "%s", e.msg);
    ck_assert_int_ge(ep, 1);
    ck_assert(b >= 1 && b <= 8);
    ck_assert_int_eq(nn_epochs_done(net), ep - 1);
    ck_assert_int_eq(l.n, ep - 1);
    nn_free(net);
}
END_TEST

/* ---- (e) stopping ---- */

struct prog {
    int n, every_ok;
    int epoch[64], batch[64], batches[64];
    double loss[64], val_loss[64];
    _Atomic int *cancel;
    int cancel_after;           /* set *cancel in the call for this batch (epoch 1) */
    int stop_after;             /* return 1 in the call for this batch (epoch 1) */
};

static int on_progress(void *ctx, const struct nn_report *r)
{
    struct prog *p = ctx;
    if (p->n < 64) {
        p->epoch[p->n] = r->epoch;
        p->batch[p->n] = r->batch;
        p->batches[p->n] = r->batches;
        p->loss[p->n] = r->loss;
        p->val_loss[p->n] = r->val_loss;
        p->n++;
    }
    if (p->cancel && r->epoch == 1 && r->batch == p->cancel_after)
        *p->cancel = 1;
    return p->stop_after && r->epoch == 1 && r->batch == p->stop_after;
}

START_TEST(on_epoch_stops)
{
    task();
    struct nn_layer_spec ls[] = {nn_dense(8, NN_RELU), nn_dense(3, NN_SOFTMAX)};
    struct nn_net *net = net_of(ls, 2, TIN, NN_CCE, 0, 1);
    struct nn_data d = {.x = TX, .y = TY, .rows = TR, .cols = TIN, .ycols = 1};
    static struct log l;
    memset(&l, 0, sizeof l);
    l.stop_at = 3;
    struct nn_train_opts o = {.epochs = 10, .batch_size = 32, .opt = nn_adam(1e-3f),
                              .on_epoch = on_epoch, .ctx = &l};
    struct nn_rng rng;
    nn_rng_seed(&rng, 2);
    struct nn_error e;
    ck_assert_int_eq(nn_train(net, NULL, &d, NULL, &o, &rng, &e), 1);
    ck_assert_int_eq(nn_epochs_done(net), 3);
    ck_assert_int_eq(l.n, 3);
    for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(l.epoch[k], k + 1);
        ck_assert_int_eq(l.epochs[k], 10);
    }
    nn_free(net);
}
END_TEST

START_TEST(cancel_before_start)
{
    task();
    struct nn_layer_spec ls[] = {nn_dense(8, NN_RELU), nn_dense(3, NN_SOFTMAX)};
    struct nn_net *net = net_of(ls, 2, TIN, NN_CCE, 0, 1);
    float *before = copy_params(net);
    _Atomic int cancel = 1;
    struct nn_data d = {.x = TX, .y = TY, .rows = TR, .cols = TIN, .ycols = 1};
    struct nn_train_opts o = {.epochs = 5, .batch_size = 32, .opt = nn_adam(1e-3f),
                              .cancel = &cancel};
    struct nn_rng rng;
    nn_rng_seed(&rng, 2);
    struct nn_error e;
    ck_assert_int_eq(nn_train(net, NULL, &d, NULL, &o, &rng, &e), 1);
    ck_assert_int_eq(nn_epochs_done(net), 0);
    ck_assert_int_eq(memcmp(before, net->params, sizeof(float) * net->nparams), 0);
    free(before);
    nn_free(net);
}
END_TEST

START_TEST(cancel_between_epochs)
{
    task();
    struct nn_layer_spec ls[] = {nn_dense(8, NN_RELU), nn_dense(3, NN_SOFTMAX)};
    struct nn_net *net = net_of(ls, 2, TIN, NN_CCE, 0, 1);
    _Atomic int cancel = 0;
    static struct log l;
    memset(&l, 0, sizeof l);
    l.cancel_at_epoch = &cancel;
    l.cancel_epoch = 2;
    struct nn_data d = {.x = TX, .y = TY, .rows = TR, .cols = TIN, .ycols = 1};
    struct nn_train_opts o = {.epochs = 6, .batch_size = 32, .opt = nn_adam(1e-3f),
                              .on_epoch = on_epoch, .ctx = &l, .cancel = &cancel};
    struct nn_rng rng;
    nn_rng_seed(&rng, 2);
    struct nn_error e;
    ck_assert_int_eq(nn_train(net, NULL, &d, NULL, &o, &rng, &e), 1);
    ck_assert_int_eq(nn_epochs_done(net), 2);
    ck_assert_int_eq(l.n, 2);
    nn_free(net);
}
END_TEST

/* The flag set during the progress call after batch 5 is seen before batch 6 starts
 * ("checked before every batch"): the weights are those of exactly 5 steps, the same as
 * one epoch over just the first 5 batches. */
START_TEST(cancel_mid_epoch)
{
    enum { B = 32 };
    task();
    struct nn_layer_spec ls[] = {nn_dense(8, NN_RELU), nn_dense(3, NN_SOFTMAX)};
    struct nn_net *net = net_of(ls, 2, TIN, NN_CCE, 0, 1),
                  *ref = net_of(ls, 2, TIN, NN_CCE, 0, 1);
    _Atomic int cancel = 0;
    struct prog p = {.cancel = &cancel, .cancel_after = 5};
    struct nn_data d = {.x = TX, .y = TY, .rows = TR, .cols = TIN, .ycols = 1};
    ck_assert_int_eq(TR / B, 10);
    struct nn_train_opts o = {.epochs = 2, .batch_size = B, .opt = nn_sgd(0.1f, 0, 0),
                              .on_progress = on_progress, .progress_every = 1, .ctx = &p,
                              .cancel = &cancel};
    struct nn_rng rng;
    nn_rng_seed(&rng, 2);
    struct nn_error e;
    ck_assert_int_eq(nn_train(net, NULL, &d, NULL, &o, &rng, &e), 1);
    ck_assert_int_eq(nn_epochs_done(net), 0);
    ck_assert_int_eq(p.n, 5);

    struct nn_data first5 = d;
    first5.rows = 5 * B;
    struct nn_train_opts ro = {.epochs = 1, .batch_size = B, .opt = nn_sgd(0.1f, 0, 0)};
    nn_rng_seed(&rng, 2);
    ck_assert_int_eq(nn_train(ref, NULL, &first5, NULL, &ro, &rng, &e), 0);
    unsigned long long steps = net->step;
    int same = memcmp(ref->params, net->params, sizeof(float) * net->nparams) == 0;
    nn_free(net);
    nn_free(ref);
    ck_assert_msg(steps == 5, "%llu steps ran after cancelling at step 5", steps);
    ck_assert(same);
}
END_TEST

START_TEST(progress_every)
{
    enum { B = 32 };
    task();
    struct nn_layer_spec ls[] = {nn_dense(8, NN_RELU), nn_dense(3, NN_SOFTMAX)};
    struct nn_net *net = net_of(ls, 2, TIN, NN_CCE, 0, 1);
    struct prog p = {0};
    struct nn_data d = {.x = TX, .y = TY, .rows = TR, .cols = TIN, .ycols = 1};
    struct nn_data v = {.x = TX, .y = TY, .rows = 64, .cols = TIN, .ycols = 1};
    struct nn_train_opts o = {.epochs = 2, .batch_size = B, .opt = nn_adam(1e-3f),
                              .on_progress = on_progress, .progress_every = 3, .ctx = &p};
    struct nn_rng rng;
    nn_rng_seed(&rng, 2);
    struct nn_error e;
    ck_assert_int_eq(nn_train(net, NULL, &d, &v, &o, &rng, &e), 0);
    /* 10 batches per epoch: calls after batches 3, 6 and 9 of each epoch */
    ck_assert_int_eq(p.n, 6);
    for (int k = 0; k < 6; k++) {
        ck_assert_int_eq(p.epoch[k], 1 + k / 3);
        ck_assert_int_eq(p.batch[k], 3 * (1 + k % 3));
        ck_assert_int_eq(p.batches[k], 10);
        ck_assert(isfinite(p.loss[k]) && p.loss[k] > 0);
        ck_assert(isnan(p.val_loss[k]));   /* mid-epoch */
    }
    /* a progress callback returning nonzero stops inside the epoch */
    struct nn_net *net2 = net_of(ls, 2, TIN, NN_CCE, 0, 1);
    struct prog q = {.stop_after = 4};
    o.progress_every = 2;
    o.ctx = &q;
    ck_assert_int_eq(nn_train(net2, NULL, &d, NULL, &o, &rng, &e), 1);
    ck_assert_int_eq(q.n, 2);
    ck_assert_int_eq(nn_epochs_done(net2), 0);
    ck_assert_msg(net2->step == 4, "%llu steps", (unsigned long long)net2->step);
    nn_free(net);
    nn_free(net2);
}
END_TEST

/* ---- (f) validation ---- */

START_TEST(validation_reported)
{
    task();
    struct nn_layer_spec ls[] = {nn_dense(16, NN_RELU), nn_dropout(0.2f), nn_dense(3, NN_SOFTMAX)};
    unsigned metrics = 1u << NN_METRIC_ACCURACY | 1u << NN_METRIC_MSE;
    struct nn_net *net = net_of(ls, 3, TIN, NN_CCE, metrics, 1);
    struct nn_data d = {.x = TX, .y = TY, .rows = 256, .cols = TIN, .ycols = 1};
    struct nn_data v = {.x = TX + 256 * TIN, .y = TY + 256, .rows = 64, .cols = TIN, .ycols = 1};
    static struct log l;
    memset(&l, 0, sizeof l);
    struct nn_train_opts o = {.epochs = 4, .batch_size = 32, .opt = nn_adam(1e-2f),
                              .shuffle = 1, .on_epoch = on_epoch, .ctx = &l};
    struct nn_rng rng;
    nn_rng_seed(&rng, 2);
    struct nn_error e;
    ck_assert_int_eq(nn_train(net, NULL, &d, &v, &o, &rng, &e), 0);
    ck_assert_int_eq(l.n, 4);
    for (int k = 0; k < 4; k++) {
        ck_assert_msg(isfinite(l.val_loss[k]) && l.val_loss[k] > 0, "val_loss %g", l.val_loss[k]);
        ck_assert(l.val_acc[k] >= 0 && l.val_acc[k] <= 1);
        ck_assert(l.acc[k] >= 0 && l.acc[k] <= 1);
    }
    ck_assert_uint_eq(l.last.metrics, metrics);
    for (int m = 0; m < NN_METRIC_COUNT; m++)
        ck_assert_msg(isfinite(l.last.val_metric[m]), "val %s", nn_metric_name(m));

    /* the last epoch's validation numbers are the trained network's on v */
    double loss, met[NN_METRIC_COUNT];
    ck_assert_int_eq(nn_evaluate(net, NULL, &v, &loss, met, &e), 0);
    ck_assert_double_eq_tol(l.val_loss[3], loss, 1e-12);
    for (int m = 0; m < NN_METRIC_COUNT; m++)
        ck_assert_double_eq_tol(l.last.val_metric[m], met[m], 1e-12);
    /* and by hand: mean categorical crossentropy and accuracy from the predictions */
    float p[64 * 3];
    ck_assert_int_eq(nn_predict(net, NULL, v.x, 64, p, &e), 0);
    double ce = 0;
    int right = 0;
    for (int i = 0; i < 64; i++) {
        int c = (int)v.y[i], best = 0;
        ce -= log(p[i * 3 + c]);
        for (int j = 1; j < 3; j++)
            best = p[i * 3 + j] > p[i * 3 + best] ? j : best;
        right += best == c;
    }
    ck_assert_double_eq_tol(loss, ce / 64, 1e-4);
    ck_assert_double_eq_tol(met[NN_METRIC_ACCURACY], right / 64.0, 1e-12);

    /* without validation data: NaN */
    memset(&l, 0, sizeof l);
    o.epochs = 5;
    ck_assert_int_eq(nn_train(net, NULL, &d, NULL, &o, &rng, &e), 0);
    ck_assert_int_eq(l.n, 1);
    ck_assert(isnan(l.val_loss[0]));
    for (int m = 0; m < NN_METRIC_COUNT; m++)
        ck_assert(isnan(l.last.val_metric[m]));
    ck_assert(isfinite(l.loss[0]));
    nn_free(net);
}
END_TEST

/* A run with validation on pool: each epoch's val_loss and validation metrics. */
static void validation_run(struct nn_pool *pool, struct log *l)
{
    enum { R = 1100, V = 700 };   /* validation over several prediction chunks, the last short */
    static float x[R * TIN], y[R];
    tu_fill(x, R * TIN, -1, 1, 1201);
    for (int i = 0; i < R; i++)
        y[i] = x[i * TIN] + x[i * TIN + 1] > 0 ? (x[i * TIN + 2] > 0 ? 2.0f : 1.0f) : 0.0f;
    struct nn_layer_spec ls[] = {nn_dense(24, NN_RELU), nn_dense(3, NN_SOFTMAX)};
    unsigned metrics = 1u << NN_METRIC_ACCURACY | 1u << NN_METRIC_MAE | 1u << NN_METRIC_MSE;
    struct nn_net *net = net_of(ls, 2, TIN, NN_CCE, metrics, 5);
    struct nn_data d = {.x = x, .y = y, .rows = R - V, .cols = TIN, .ycols = 1};
    struct nn_data v = {.x = x + (R - V) * TIN, .y = y + R - V, .rows = V, .cols = TIN,
                        .ycols = 1};
    memset(l, 0, sizeof *l);
    struct nn_train_opts o = {.epochs = 3, .batch_size = 50, .opt = nn_adam(1e-2f),
                              .shuffle = 1, .on_epoch = on_epoch, .ctx = l};
    struct nn_rng rng;
    nn_rng_seed(&rng, 6);
    struct nn_error e;
    ck_assert_msg(nn_train(net, pool, &d, &v, &o, &rng, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(l->n, 3);
    nn_free(net);
}

/* The validation loss and metrics, and nn_evaluate's, are the same bits on 1, 2 and 3
 * threads (nn.h: no result depends on the number of threads). */
START_TEST(validation_same_on_any_thread_count)
{
    static struct log one, more;
    validation_run(NULL, &one);
    for (int threads = 2; threads <= 3; threads++) {
        struct nn_pool *p = nn_pool_new(threads);
        ck_assert_ptr_nonnull(p);
        validation_run(p, &more);
        for (int k = 0; k < 3; k++) {
            ck_assert_msg(memcmp(&one.loss[k], &more.loss[k], sizeof(double)) == 0,
                          "epoch %d loss: %.17g on 1 thread, %.17g on %d", k + 1, one.loss[k],
                          more.loss[k], threads);
            ck_assert_msg(memcmp(&one.val_loss[k], &more.val_loss[k], sizeof(double)) == 0,
                          "epoch %d val_loss: %.17g on 1 thread, %.17g on %d", k + 1,
                          one.val_loss[k], more.val_loss[k], threads);
            ck_assert(memcmp(&one.val_acc[k], &more.val_acc[k], sizeof(double)) == 0);
        }
        for (int m = 0; m < NN_METRIC_COUNT; m++)
            ck_assert_msg(memcmp(&one.last.val_metric[m], &more.last.val_metric[m],
                                 sizeof(double)) == 0,
                          "val %s: %.17g on 1 thread, %.17g on %d", nn_metric_name(m),
                          one.last.val_metric[m], more.last.val_metric[m], threads);
        nn_pool_free(p);
    }
    ck_assert(one.val_loss[2] < one.val_loss[0]);

    /* nn_evaluate and nn_predict of one network, with each pool */
    task();
    struct nn_layer_spec ls[] = {nn_dense(16, NN_TANH), nn_dense(3, NN_SOFTMAX)};
    struct nn_net *net = net_of(ls, 2, TIN, NN_CCE, 0, 8);
    struct nn_data d = {.x = TX, .y = TY, .rows = TR, .cols = TIN, .ycols = 1};
    double l1, m1[NN_METRIC_COUNT], ln, mn[NN_METRIC_COUNT];
    static float p1[TR * 3], pn[TR * 3];
    struct nn_error e;
    ck_assert_int_eq(nn_evaluate(net, NULL, &d, &l1, m1, &e), 0);
    ck_assert_int_eq(nn_predict(net, NULL, TX, TR, p1, &e), 0);
    for (int threads = 2; threads <= 3; threads++) {
        struct nn_pool *p = nn_pool_new(threads);
        ck_assert_ptr_nonnull(p);
        ck_assert_int_eq(nn_evaluate(net, p, &d, &ln, mn, &e), 0);
        ck_assert_msg(memcmp(&l1, &ln, sizeof l1) == 0, "loss %.17g vs %.17g on %d", l1, ln,
                      threads);
        ck_assert(memcmp(m1, mn, sizeof m1) == 0);
        ck_assert_int_eq(nn_predict(net, p, TX, TR, pn, &e), 0);
        ck_assert(memcmp(p1, pn, sizeof p1) == 0);
        nn_pool_free(p);
    }
    nn_free(net);
}
END_TEST

/* ---- (g) gradient norms and dead units ---- */

START_TEST(grad_norms_match_gradient)
{
    enum { R = 64, IN = 5 };
    float x[R * IN], y[R];
    tu_fill(x, R * IN, -1, 1, 40);
    for (int i = 0; i < R; i++)
        y[i] = (float)(i % 3);
    struct nn_layer_spec ls[] = {nn_dense(8, NN_TANH), nn_batchnorm(), nn_dense(3, NN_SOFTMAX)};
    struct nn_net *a = net_of(ls, 3, IN, NN_CCE, 0, 41), *b = net_of(ls, 3, IN, NN_CCE, 0, 41);

    /* the gradient of the first step, computed through the test hook */
    net_loss_grad(a, x, y, 1, R, 0, NULL);
    struct nn_tensor t[16];
    int nt = nn_tensors(a, t, 16);
    double want[3] = {0};
    const char *wwhere[3] = {"/layers/0", "/layers/1", "/layers/2"};
    for (int i = 0; i < nt; i++) {
        if (!t[i].grad)
            continue;
        int k = t[i].where[8] - '0';
        for (int j = 0; j < t[i].rows * t[i].cols; j++)
            want[k] += (double)t[i].grad[j] * t[i].grad[j];
    }

    /* one epoch of one full batch: the reported mean norm is that step's norm */
    struct nn_data d = {.x = x, .y = y, .rows = R, .cols = IN, .ycols = 1};
    static struct log l;
    memset(&l, 0, sizeof l);
    struct nn_train_opts o = {.epochs = 1, .batch_size = R, .opt = nn_sgd(0.1f, 0, 0),
                              .on_epoch = on_epoch, .ctx = &l};
    struct nn_rng rng;
    nn_rng_seed(&rng, 42);
    struct nn_error e;
    ck_assert_int_eq(nn_train(b, NULL, &d, NULL, &o, &rng, &e), 0);
    ck_assert_int_eq(l.ngrad, 3);
    for (int k = 0; k < 3; k++) {
        ck_assert_str_eq(l.grad_where[k], wwhere[k]);
        ck_assert_msg(isfinite(l.grad_norm[k]) && l.grad_norm[k] > 0, "%s: %g", wwhere[k],
                      l.grad_norm[k]);
        ck_assert_msg(fabs(l.grad_norm[k] - sqrt(want[k])) <= 1e-4 * sqrt(want[k]),
                      "%s: reported %g, gradient norm %g", wwhere[k], l.grad_norm[k],
                      sqrt(want[k]));
    }
    /* several steps: still finite and positive */
    memset(&l, 0, sizeof l);
    o.epochs = 3;
    o.batch_size = 16;
    ck_assert_int_eq(nn_train(b, NULL, &d, NULL, &o, &rng, &e), 0);
    for (int k = 0; k < 3; k++)
        ck_assert(isfinite(l.grad_norm[k]) && l.grad_norm[k] > 0);
    nn_free(a);
    nn_free(b);
}
END_TEST

/* Dead fraction of each relu after one epoch; `kill` units of the first relu layer get
 * a bias of -1000 first. */
static void dead_after(int kill, struct log *l)
{
    enum { R = 64, IN = 5 };
    float x[R * IN], y[R];
    tu_fill(x, R * IN, -1, 1, 50);
    for (int i = 0; i < R; i++)
        y[i] = (float)(i % 3);
    struct nn_layer_spec ls[] = {nn_dense(8, NN_RELU), nn_dense(8, NN_LINEAR),
                                 nn_activation(NN_RELU), nn_dense(3, NN_SOFTMAX)};
    struct nn_net *net = net_of(ls, 4, IN, NN_CCE, 0, 51);
    struct nn_tensor t[8];
    ck_assert_int_eq(nn_tensors(net, t, 8), 6);
    ck_assert_str_eq(t[1].name, "bias");
    ck_assert_str_eq(t[1].where, "/layers/0");
    for (int j = 0; j < kill; j++)
        t[1].data[j] = -1000;
    /* the second relu reads a fresh dense layer: make its bias healthy (> 0) */
    for (int j = 0; j < 8; j++)
        t[3].data[j] = 0.5f;
    struct nn_data d = {.x = x, .y = y, .rows = R, .cols = IN, .ycols = 1};
    memset(l, 0, sizeof *l);
    struct nn_train_opts o = {.epochs = 1, .batch_size = 16, .opt = nn_sgd(0.01f, 0, 0),
                              .on_epoch = on_epoch, .ctx = l};
    struct nn_rng rng;
    nn_rng_seed(&rng, 52);
    struct nn_error e;
    ck_assert_int_eq(nn_train(net, NULL, &d, NULL, &o, &rng, &e), 0);
    ck_assert_int_eq(l->ndead, 2);
    ck_assert_str_eq(l->dead_where[0], "/layers/0");
    ck_assert_str_eq(l->dead_where[1], "/layers/2");
    nn_free(net);
}

START_TEST(dead_relu_fraction)
{
    static struct log l;
    dead_after(0, &l);
    ck_assert_float_eq(l.dead[0], 0.0f);
    ck_assert_float_eq(l.dead[1], 0.0f);
    dead_after(8, &l);
    ck_assert_float_eq(l.dead[0], 1.0f);
    dead_after(3, &l);
    ck_assert_float_eq(l.dead[0], 3.0f / 8);
    ck_assert_float_eq(l.dead[1], 0.0f);
}
END_TEST

/* ---- (h) bad input ---- */

static void refused(struct nn_net *net, const struct nn_data *d, const struct nn_data *v,
                    const struct nn_train_opts *o, const char *where, const char *word)
{
    struct nn_rng rng;
    nn_rng_seed(&rng, 1);
    struct nn_error e = {{0}, {0}};
    ck_assert_int_eq(nn_train(net, NULL, d, v, o, &rng, &e), -1);
    ck_assert_msg(e.msg[0] != '\0', "no message (%s)", where);
    if (where)
        ck_assert_str_eq(e.where, where);
    if (word)
        ck_assert_msg(strstr(e.msg, word) != NULL, "'%s' not in: %s", word, e.msg);
    ck_assert_int_eq(nn_epochs_done(net), 0);
}

START_TEST(bad_input)
{
    task();
    struct nn_layer_spec ls[] = {nn_dense(8, NN_RELU), nn_dense(3, NN_SOFTMAX)};
    struct nn_net *net = net_of(ls, 2, TIN, NN_CCE, 0, 1);
    float *before = copy_params(net);
    const struct nn_data good = {.x = TX, .y = TY, .rows = TR, .cols = TIN, .ycols = 1};
    const struct nn_train_opts ok = {.epochs = 2, .batch_size = 32, .opt = nn_adam(1e-3f)};
    struct nn_data d;
    struct nn_train_opts o;

    d = good, d.cols = TIN - 1;
    refused(net, &d, NULL, &ok, NULL, "features");
    d = good, d.cols = TIN + 1;
    refused(net, &d, NULL, &ok, NULL, "features");
    d = good, d.rows = 0;
    refused(net, &d, NULL, &ok, NULL, "rows");
    d = good, d.rows = -4;
    refused(net, &d, NULL, &ok, NULL, "rows");
    d = good, d.x = NULL;
    refused(net, &d, NULL, &ok, NULL, NULL);
    d = good, d.y = NULL;
    refused(net, &d, NULL, &ok, NULL, "labels");
    d = good, d.ycols = 2;
    refused(net, &d, NULL, &ok, "labels", NULL);
    d = good, d.cols = TIN - 1;
    refused(net, &good, &d, &ok, NULL, "validation");

    float ybad[4] = {0, 1, 3, 0}, xs[4 * TIN];
    memcpy(xs, TX, sizeof xs);
    d = (struct nn_data){.x = xs, .y = ybad, .rows = 4, .cols = TIN, .ycols = 1};
    refused(net, &d, NULL, &ok, "labels", "row 2");
    ybad[2] = 0.5f;
    refused(net, &d, NULL, &ok, "labels", "row 2");
    ybad[2] = NAN;
    refused(net, &d, NULL, &ok, "labels", "row 2");

    o = ok, o.epochs = 0;
    refused(net, &good, NULL, &o, "/epochs", NULL);
    o = ok, o.epochs = -1;
    refused(net, &good, NULL, &o, "/epochs", NULL);
    o = ok, o.batch_size = 0;
    refused(net, &good, NULL, &o, "/batch_size", NULL);
    o = ok, o.batch_size = -8;
    refused(net, &good, NULL, &o, "/batch_size", NULL);
    o = ok, o.clip_norm = -1;
    refused(net, &good, NULL, &o, "/clip_norm", NULL);
    o = ok, o.clip_norm = NAN;
    refused(net, &good, NULL, &o, "/clip_norm", NULL);
    o = ok, o.opt.learning_rate = 0;
    refused(net, &good, NULL, &o, "/optimizer/learning_rate", NULL);
    o = ok, o.opt.learning_rate = NAN;
    refused(net, &good, NULL, &o, "/optimizer/learning_rate", NULL);
    o = ok, o.opt.type = NN_OPT_COUNT;
    refused(net, &good, NULL, &o, "/optimizer/type", NULL);
    o = ok, o.opt = nn_sgd(0.1f, 1.0f, 0);
    refused(net, &good, NULL, &o, "/optimizer/momentum", NULL);
    /* the service's ranges, held by the engine too */
    o = ok, o.epochs = 100001;
    refused(net, &good, NULL, &o, "/epochs", "from 1 to 100000");
    o = ok, o.batch_size = 65537;
    refused(net, &good, NULL, &o, "/batch_size", "from 1 to 65536");
    o = ok, o.clip_norm = 2e30f;
    refused(net, &good, NULL, &o, "/clip_norm", "from 0 to 1e+30");
    o = ok, o.shuffle = 2;
    refused(net, &good, NULL, &o, "/shuffle", NULL);

    struct nn_rng rng;
    nn_rng_seed(&rng, 1);
    struct nn_error e;
    ck_assert_int_eq(nn_train(net, NULL, NULL, NULL, &ok, &rng, &e), -1);
    ck_assert_int_eq(nn_train(net, NULL, &good, NULL, NULL, &rng, &e), -1);
    ck_assert_int_eq(nn_train(net, NULL, &good, NULL, &ok, NULL, &e), -1);
    ck_assert_int_eq(nn_train(net, NULL, &d, NULL, &ok, &rng, NULL), -1);   /* err NULL */

    /* nothing was trained by any of these */
    ck_assert_int_eq(memcmp(before, net->params, sizeof(float) * net->nparams), 0);
    /* and the network still trains */
    ck_assert_int_eq(nn_train(net, NULL, &good, NULL, &ok, &rng, &e), 0);
    ck_assert_int_eq(nn_epochs_done(net), 2);
    free(before);
    nn_free(net);
}
END_TEST

/* nn_train_opts_check_all reports every fault of the options, the optimizer's too, with
 * the paths nn_train names; the largest values in range pass. */
struct faults_seen {
    int n;
    char where[8][NN_WHERE];
};

static void seen(void *ctx, const char *where, const char *msg)
{
    struct faults_seen *s = ctx;
    (void)msg;
    if (s->n < 8)
        snprintf(s->where[s->n++], NN_WHERE, "%s", where);
}

START_TEST(opts_check_all)
{
    struct faults_seen got = {0};
    struct nn_faults f = {.add = seen, .ctx = &got};
    struct nn_train_opts o = {.epochs = 0, .batch_size = 70000, .clip_norm = -1, .shuffle = 1,
                              .opt = nn_adam(0)};
    ck_assert_int_eq(nn_train_opts_check_all(&o, &f), -1);
    ck_assert_int_eq(f.n, 4);
    ck_assert_str_eq(got.where[0], "/epochs");
    ck_assert_str_eq(got.where[1], "/batch_size");
    ck_assert_str_eq(got.where[2], "/clip_norm");
    ck_assert_str_eq(got.where[3], "/optimizer/learning_rate");

    o = (struct nn_train_opts){.epochs = 100000, .batch_size = 65536, .clip_norm = 1e30f,
                               .shuffle = 0, .opt = nn_sgd(1e6f, 0.999999f, 1)};
    f.n = 0;
    ck_assert_int_eq(nn_train_opts_check_all(&o, &f), 0);
    ck_assert_int_eq(f.n, 0);

    /* the descriptor: the fields a user sets, with the service's defaults */
    ck_assert_int_eq(nn_train_desc.nfields, 4);
    static const char *const names[] = {"epochs", "batch_size", "clip_norm", "shuffle"};
    for (int i = 0; i < 4; i++)
        ck_assert_str_eq(nn_train_desc.fields[i].name, names[i]);
    struct nn_train_opts d = {0};
    nn_fields_default(nn_train_desc.fields, nn_train_desc.nfields, &d);
    ck_assert_int_eq(d.epochs, 10);
    ck_assert_int_eq(d.batch_size, 32);
    ck_assert_float_eq(d.clip_norm, 0);
    ck_assert_int_eq(d.shuffle, 1);
}
END_TEST

/* ---- (i) resuming ---- */

static struct nn_net *resume_net(void)
{
    struct nn_layer_spec ls[] = {nn_dense(16, NN_RELU), nn_dropout(0.2f), nn_dense(3, NN_SOFTMAX)};
    return net_of(ls, 3, TIN, NN_CCE, 0, 61);
}

static void split_vs_whole(int shuffle)
{
    task();
    struct nn_data d = {.x = TX, .y = TY, .rows = TR, .cols = TIN, .ycols = 1};
    static struct log a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    struct nn_train_opts o = {.epochs = 2, .batch_size = 32, .opt = nn_adam(1e-2f),
                              .shuffle = shuffle, .on_epoch = on_epoch, .ctx = &a};
    struct nn_net *split = resume_net(), *whole = resume_net();
    struct nn_rng ra, rb;
    nn_rng_seed(&ra, 62);
    nn_rng_seed(&rb, 62);
    struct nn_error e;
    ck_assert_int_eq(nn_train(split, NULL, &d, NULL, &o, &ra, &e), 0);
    ck_assert_int_eq(nn_epochs_done(split), 2);
    o.epochs = 4;
    ck_assert_int_eq(nn_train(split, NULL, &d, NULL, &o, &ra, &e), 0);
    ck_assert_int_eq(nn_epochs_done(split), 4);
    ck_assert_int_eq(a.n, 4);
    for (int k = 0; k < 4; k++) {
        ck_assert_int_eq(a.epoch[k], k + 1);
        ck_assert_int_eq(a.epochs[k], k < 2 ? 2 : 4);
    }
    /* nothing left to do */
    ck_assert_int_eq(nn_train(split, NULL, &d, NULL, &o, &ra, &e), 0);
    ck_assert_int_eq(a.n, 4);

    o.ctx = &b;
    ck_assert_int_eq(nn_train(whole, NULL, &d, NULL, &o, &rb, &e), 0);
    int same = memcmp(split->params, whole->params, sizeof(float) * split->nparams) == 0;
    nn_free(split);
    nn_free(whole);
    ck_assert_int_eq(b.n, 4);
    for (int k = 0; k < 4; k++)
        ck_assert_msg(memcmp(&a.loss[k], &b.loss[k], sizeof(double)) == 0,
                      "shuffle %d, epoch %d: %.17g in 2+2 epochs, %.17g in one run", shuffle,
                      k + 1, a.loss[k], b.loss[k]);
    ck_assert(same);
}

START_TEST(resume_trains_the_rest)
{
    split_vs_whole(0);
}
END_TEST

/* With shuffling too: 2 epochs then 2 more equals 4 in one run from the same rng. */
START_TEST(resume_with_shuffle_matches_one_run)
{
    split_vs_whole(1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("train");
    TCase *l = tcase_create("learning");
    tcase_set_timeout(l, 60);
    tcase_add_test(l, xor_learns);
    tcase_add_test(l, iris_held_out);
    suite_add_tcase(s, l);
    TCase *r = tcase_create("reproducible");
    tcase_set_timeout(r, 60);
    tcase_add_test(r, same_seed_same_losses_one_thread);
    tcase_add_test(r, same_seed_same_losses_two_threads);
    tcase_add_test(r, different_seed_different_losses);
    suite_add_tcase(s, r);
    TCase *n = tcase_create("nonfinite");
    tcase_add_test(n, nan_input_stops);
    tcase_add_test(n, nan_input_stops_two_threads);
    tcase_add_test(n, diverging_loss_stops);
    suite_add_tcase(s, n);
    TCase *c = tcase_create("stopping");
    tcase_add_test(c, on_epoch_stops);
    tcase_add_test(c, cancel_before_start);
    tcase_add_test(c, cancel_between_epochs);
    tcase_add_test(c, cancel_mid_epoch);
    tcase_add_test(c, progress_every);
    suite_add_tcase(s, c);
    TCase *v = tcase_create("reports");
    tcase_add_test(v, validation_reported);
    tcase_add_test(v, validation_same_on_any_thread_count);
    tcase_add_test(v, grad_norms_match_gradient);
    tcase_add_test(v, dead_relu_fraction);
    suite_add_tcase(s, v);
    TCase *b = tcase_create("input");
    tcase_add_test(b, bad_input);
    tcase_add_test(b, opts_check_all);
    tcase_add_test(b, resume_trains_the_rest);
    tcase_add_test(b, resume_with_shuffle_matches_one_run);
    suite_add_tcase(s, b);
    return tu_run(s) != 0;
}
