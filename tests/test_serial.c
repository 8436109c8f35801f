/* test_serial.c -- core/serial.c: nn_save then nn_load gives a network that predicts
 * bit-identically and trains on bit-identically (optimizer state, step, batchnorm running
 * statistics and epochs done survive); nn_save_model leaves the optimizer's state out
 * and predicts the same; and nn_load refuses every truncation, every
 * single-bit corruption, a wrong version, well-checksummed garbage and a network over
 * max_params, without crashing or reading past the buffer (each candidate buffer is an
 * exact-size heap copy, so ASan and valgrind see any over-read).
 *
 * Both formats are covered: version 2, which nn_save writes, and version 1, which networks
 * saved before were written in and which must still load: a version 1 buffer written by
 * the engine of that time is embedded below, with the outputs it predicted, and the same
 * refusals are tried on version 1 buffers written here (v1_save, checked byte for byte
 * against the embedded one).
 *
 * The byte offsets used to forge buffers follow the layout written in serial.c: "NRDN",
 * u32 version, u32 inputs, loss, metrics, top-level layer count, layer count, then one
 * record per layer, ..., and a CRC-32 of everything before it in the last 4 bytes. A
 * version 1 record is 40 bytes (kind, units, act, alpha, init, rate, momentum, epsilon,
 * nlayers, body index); a version 2 record is the kind and then the fields of the kind,
 * in the order of nn.h's descriptors, written out by hand here: dense units, activation,
 * alpha, init; batchnorm momentum, epsilon; dropout rate; residual nlayers, body index. */
#include "testutil.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { IN = 6, OUT = 3, ROWS = 200 };
enum { OFF_VERSION = 4, OFF_INPUTS = 8, OFF_NLAYERS = 20, OFF_NALL = 24, OFF_LAYERS = 28,
       V1_RECORD = 40 };

static const struct nn_layer_spec body[] = {
    {.kind = NN_DENSE, .units = 16, .act = NN_RELU, .alpha = 0.01f},
    {.kind = NN_BATCHNORM, .momentum = 0.9f, .epsilon = 1e-3f},
    {.kind = NN_DENSE, .units = 16, .act = NN_LINEAR, .init = NN_INIT_GLOROT_NORMAL},
};
static const struct nn_layer_spec layers[] = {
    {.kind = NN_DENSE, .units = 16, .act = NN_LEAKY_RELU, .alpha = 0.05f},
    {.kind = NN_BATCHNORM, .momentum = 0.8f, .epsilon = 1e-3f},
    {.kind = NN_DROPOUT, .rate = 0.3f},
    {.kind = NN_RESIDUAL, .layers = body, .nlayers = 3},
    {.kind = NN_DENSE, .units = OUT, .act = NN_SOFTMAX},
};
#define NLAYERS 5
#define RESIDUAL_INDEX 3   /* its record in the buffer; its body is at records 5..7 */
#define NALL 8

/* Where things are in a buffer of the network above, per format version. */
struct layout {
    uint32_t version;
    size_t rec[NALL + 1];     /* offset of each record, and the end of the last */
    int units, act;           /* in a dense record: offset of units, activation */
    int rate;                 /* in a dropout record */
    int epsilon;              /* in a batchnorm record */
    int nlayers, at;          /* in a residual record: body count, body index */
};

/* version 1: 40 bytes a record */
static const struct layout L1 = {
    1, {28, 68, 108, 148, 188, 228, 268, 308, 348}, 4, 8, 20, 28, 32, 36};
/* version 2: records 0..7 are dense (20 bytes), batchnorm (12), dropout (8), residual (12),
 * dense, then the body: dense, batchnorm, dense */
static const struct layout L2 = {
    2, {28, 48, 60, 68, 80, 100, 120, 132, 152}, 4, 8, 4, 8, 4, 8};

static float X[ROWS * IN], Y[ROWS];

static void make_data(void)
{
    tu_fill(X, ROWS * IN, -2, 2, 101);
    for (int i = 0; i < ROWS; i++) {
        const float *x = X + i * IN;
        Y[i] = x[0] * x[1] > 0 ? 0.0f : x[2] > 0 ? 1.0f : 2.0f;
    }
}

static struct nn_net *new_net(uint64_t seed)
{
    struct nn_spec s = {.inputs = IN, .layers = layers, .nlayers = NLAYERS, .loss = NN_CCE,
                        .metrics = 1u << NN_METRIC_ACCURACY | 1u << NN_METRIC_MSE};
    return tu_spec_net(&s, seed);
}

enum { MAXE = 16 };
struct losses {
    int n;
    double loss[MAXE];
};

static int record(void *ctx, const struct nn_report *r)
{
    struct losses *l = ctx;
    if (l->n < MAXE)
        l->loss[l->n++] = r->loss;
    return 0;
}

static void train(struct nn_net *net, int epochs, struct nn_optimizer opt, struct nn_rng *rng,
                  struct losses *l)
{
    struct nn_data d = {.x = X, .y = Y, .rows = ROWS, .cols = IN, .ycols = 1};
    struct nn_train_opts o = {.epochs = epochs, .batch_size = 16, .opt = opt, .shuffle = 1,
                              .on_epoch = l ? record : NULL, .ctx = l};
    struct nn_error e;
    int rc = nn_train(net, NULL, &d, NULL, &o, rng, &e);
    ck_assert_msg(rc == 0, "nn_train: %s: %s", e.where, e.msg);
}

/* A trained network (3 epochs of adam) and its saved bytes. */
static struct nn_net *trained(struct nn_optimizer opt, struct nn_rng *rng, unsigned char **buf,
                              size_t *len)
{
    make_data();
    struct nn_net *net = new_net(7);
    nn_rng_seed(rng, 8);
    train(net, 3, opt, rng, NULL);
    struct nn_error e;
    ck_assert_msg(nn_save(net, buf, len, &e) == 0, "nn_save: %s", e.msg);
    ck_assert_uint_gt(*len, L2.rec[NALL]);
    return net;
}

/* nn_load over an exact-size heap copy of buf[0..len). */
static struct nn_net *load_copy(const unsigned char *buf, size_t len, size_t max_params,
                                struct nn_error *e)
{
    unsigned char *c = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(c);
    memcpy(c, buf, len);
    memset(e, 0, sizeof *e);
    struct nn_net *net = nn_load(c, len, max_params, e);
    free(c);
    return net;
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void fix_crc(unsigned char *buf, size_t len)
{
    put32(buf + len - 4, nn_crc32(buf, len - 4));
}

/* Loads a copy of buf with the u32 at `off` set to v (CRC fixed up); expects refusal. */
static void refused_with(const unsigned char *buf, size_t len, size_t off, uint32_t v,
                         const char *what)
{
    unsigned char *c = malloc(len);
    ck_assert_ptr_nonnull(c);
    memcpy(c, buf, len);
    put32(c + off, v);
    fix_crc(c, len);
    struct nn_error e;
    struct nn_net *net = load_copy(c, len, 0, &e);
    ck_assert_msg(net == NULL, "accepted a buffer with %s", what);
    ck_assert_msg(e.msg[0] != '\0', "%s: no message", what);
    free(c);
}

static void put64(unsigned char *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

/* ---- version 1, as the engine wrote it before version 2 ---- */

/* Writes net in the version 1 layout: a 40-byte record per layer with every member of
 * its spec, then what version 2 writes after the layers, the same way. Returns new. */
static unsigned char *v1_save(const struct nn_net *net, size_t *len)
{
    size_t nm = net->m ? net->nparams : 0, nv = net->v ? net->nparams : 0;
    *len = OFF_LAYERS + (size_t)net->nlspec * V1_RECORD + 8 + 4 * net->nparams + 8 +
           4 * net->nstats + 4 + 4 + 8 + 8 + 4 * nm + 8 + 4 * nv + 4;
    unsigned char *b = calloc(1, *len), *p = b;
    ck_assert_ptr_nonnull(b);
    memcpy(p, "NRDN", 4);
    put32(p + 4, 1);
    put32(p + 8, (uint32_t)net->spec.inputs);
    put32(p + 12, (uint32_t)net->spec.loss);
    put32(p + 16, net->spec.metrics);
    put32(p + 20, (uint32_t)net->spec.nlayers);
    put32(p + 24, (uint32_t)net->nlspec);
    p += OFF_LAYERS;
    for (int i = 0; i < net->nlspec; i++, p += V1_RECORD) {
        const struct nn_layer_spec *l = &net->lspec[i];
        uint32_t f[10] = {(uint32_t)l->kind, (uint32_t)l->units, (uint32_t)l->act, 0,
                          (uint32_t)l->init, 0, 0, 0, (uint32_t)l->nlayers,
                          l->layers ? (uint32_t)(l->layers - net->lspec) : 0};
        memcpy(&f[3], &l->alpha, 4);
        memcpy(&f[5], &l->rate, 4);
        memcpy(&f[6], &l->momentum, 4);
        memcpy(&f[7], &l->epsilon, 4);
        for (int k = 0; k < 10; k++)
            put32(p + 4 * k, f[k]);
    }
    const float *arrays[2] = {net->params, net->stats};
    size_t counts[2] = {net->nparams, net->nstats};
    for (int a = 0; a < 2; a++) {
        put64(p, counts[a]);
        p += 8;
        for (size_t k = 0; k < counts[a]; k++, p += 4) {
            uint32_t v;
            memcpy(&v, &arrays[a][k], 4);
            put32(p, v);
        }
    }
    put32(p, (uint32_t)net->epochs_done);
    put32(p + 4, (uint32_t)net->opt_type);
    put64(p + 8, net->step);
    p += 16;
    const float *moments[2] = {net->m, net->v};
    size_t mcounts[2] = {nm, nv};
    for (int a = 0; a < 2; a++) {
        put64(p, mcounts[a]);
        p += 8;
        for (size_t k = 0; k < mcounts[a]; k++, p += 4) {
            uint32_t v;
            memcpy(&v, &moments[a][k], 4);
            put32(p, v);
        }
    }
    ck_assert_uint_eq((size_t)(p - b), *len - 4);
    fix_crc(b, *len);
    return b;
}

/* A trained network (as trained() gives) and its bytes in version 1 or 2. */
static struct nn_net *trained_as(const struct layout *L, struct nn_optimizer opt,
                                 struct nn_rng *rng, unsigned char **buf, size_t *len)
{
    struct nn_net *net = trained(opt, rng, buf, len);
    if (L->version == 1) {
        free(*buf);
        *buf = v1_save(net, len);
    }
    ck_assert_uint_eq(get32(*buf + OFF_VERSION), L->version);
    return net;
}

/* ---- round trip ---- */

static void same_layers(const struct nn_layer_spec *a, const struct nn_layer_spec *b, int n)
{
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(a[i].kind, b[i].kind);
        ck_assert_int_eq(a[i].nlayers, b[i].nlayers);
        if (a[i].kind == NN_RESIDUAL) {
            same_layers(a[i].layers, b[i].layers, a[i].nlayers);
            continue;
        }
        ck_assert_int_eq(a[i].units, b[i].units);
        ck_assert_int_eq(a[i].act, b[i].act);
        ck_assert_int_eq(a[i].init, b[i].init);
        ck_assert(memcmp(&a[i].alpha, &b[i].alpha, sizeof(float)) == 0);
        ck_assert(memcmp(&a[i].rate, &b[i].rate, sizeof(float)) == 0);
        ck_assert(memcmp(&a[i].momentum, &b[i].momentum, sizeof(float)) == 0);
        ck_assert(memcmp(&a[i].epsilon, &b[i].epsilon, sizeof(float)) == 0);
    }
}

START_TEST(round_trip_predicts_identically)
{
    struct nn_rng rng;
    unsigned char *buf;
    size_t len;
    struct nn_net *net = trained(nn_adam(1e-2f), &rng, &buf, &len);

    /* the running statistics are no longer the initial (0, 1) */
    struct nn_tensor t[32];
    int nt = nn_tensors(net, t, 32);
    ck_assert_int_eq(nt, 16);
    ck_assert_str_eq(t[4].name, "moving_mean");
    ck_assert_str_eq(t[5].name, "moving_variance");
    ck_assert_msg(t[4].data[0] != 0 && t[5].data[0] != 1, "running stats untouched");

    struct nn_error e;
    struct nn_net *back = load_copy(buf, len, 0, &e);
    ck_assert_msg(back != NULL, "nn_load: %s", e.msg);
    ck_assert_uint_eq(nn_param_count(back), nn_param_count(net));
    ck_assert_int_eq(nn_epochs_done(back), 3);
    ck_assert_int_eq(nn_inputs(back), IN);
    ck_assert_int_eq(nn_outputs(back), OUT);
    const struct nn_spec *s = nn_get_spec(back);
    ck_assert_int_eq(s->inputs, IN);
    ck_assert_int_eq(s->loss, NN_CCE);
    ck_assert_uint_eq(s->metrics, 1u << NN_METRIC_ACCURACY | 1u << NN_METRIC_MSE);
    ck_assert_int_eq(s->nlayers, NLAYERS);
    same_layers(layers, s->layers, NLAYERS);

    /* every tensor, moving statistics included, bit for bit */
    struct nn_tensor u[32];
    ck_assert_int_eq(nn_tensors(back, u, 32), nt);
    for (int i = 0; i < nt; i++) {
        ck_assert_str_eq(u[i].where, t[i].where);
        ck_assert_str_eq(u[i].name, t[i].name);
        ck_assert_int_eq(u[i].rows, t[i].rows);
        ck_assert_int_eq(u[i].cols, t[i].cols);
        ck_assert_msg(memcmp(u[i].data, t[i].data, sizeof(float) * t[i].rows * t[i].cols) == 0,
                      "%s %s differs", t[i].where, t[i].name);
    }

    float *p = malloc(sizeof(float) * ROWS * OUT), *q = malloc(sizeof(float) * ROWS * OUT);
    ck_assert(p && q);
    ck_assert_int_eq(nn_predict(net, NULL, X, ROWS, p, &e), 0);
    ck_assert_int_eq(nn_predict(back, NULL, X, ROWS, q, &e), 0);
    ck_assert_int_eq(memcmp(p, q, sizeof(float) * ROWS * OUT), 0);

    /* saving the loaded network gives the same bytes */
    unsigned char *buf2;
    size_t len2;
    ck_assert_int_eq(nn_save(back, &buf2, &len2, &e), 0);
    ck_assert_uint_eq(len2, len);
    ck_assert_int_eq(memcmp(buf, buf2, len), 0);

    free(p);
    free(q);
    free(buf);
    free(buf2);
    nn_free(net);
    nn_free(back);
}
END_TEST

START_TEST(round_trip_untrained)
{
    make_data();
    struct nn_net *net = new_net(3);
    unsigned char *buf;
    size_t len;
    struct nn_error e;
    ck_assert_int_eq(nn_save(net, &buf, &len, &e), 0);
    struct nn_net *back = load_copy(buf, len, 0, &e);
    ck_assert_msg(back != NULL, "nn_load: %s", e.msg);
    ck_assert_int_eq(nn_epochs_done(back), 0);
    float p[ROWS * OUT], q[ROWS * OUT];
    ck_assert_int_eq(nn_predict(net, NULL, X, ROWS, p, &e), 0);
    ck_assert_int_eq(nn_predict(back, NULL, X, ROWS, q, &e), 0);
    ck_assert_int_eq(memcmp(p, q, sizeof p), 0);
    free(buf);
    nn_free(net);
    nn_free(back);
}
END_TEST

/* Continuing the loaded network and the original with the same random state gives
 * bit-identical losses and weights. */
static void continues_identically(struct nn_optimizer opt)
{
    struct nn_rng rng;
    unsigned char *buf;
    size_t len;
    struct nn_net *net = trained(opt, &rng, &buf, &len);
    struct nn_error e;
    struct nn_net *back = load_copy(buf, len, 0, &e);
    ck_assert_msg(back != NULL, "nn_load: %s", e.msg);
    struct nn_rng rng2 = rng;
    struct losses a = {0}, b = {0};
    train(net, 6, opt, &rng, &a);
    train(back, 6, opt, &rng2, &b);
    ck_assert_int_eq(a.n, 3);
    ck_assert_int_eq(b.n, 3);
    for (int k = 0; k < 3; k++)
        ck_assert_msg(memcmp(&a.loss[k], &b.loss[k], sizeof(double)) == 0,
                      "%s, epoch %d: original %.17g, loaded %.17g", nn_opt_name(opt.type), k + 4,
                      a.loss[k], b.loss[k]);
    ck_assert_int_eq(nn_epochs_done(back), 6);
    ck_assert_int_eq(memcmp(net->params, back->params, sizeof(float) * net->nparams), 0);
    free(buf);
    nn_free(net);
    nn_free(back);
}

START_TEST(continue_adam)
{
    continues_identically(nn_adam(1e-2f));
}
END_TEST

START_TEST(continue_sgd_momentum)
{
    continues_identically(nn_sgd(0.05f, 0.9f, 1));
}
END_TEST

START_TEST(continue_sgd_plain)
{
    continues_identically(nn_sgd(0.05f, 0, 0));
}
END_TEST

/* Adam's moments matter: a loaded network that lost them would train differently. This
 * guards the test above against passing because the state is never used. */
START_TEST(optimizer_state_matters)
{
    struct nn_rng rng;
    unsigned char *buf;
    size_t len;
    struct nn_net *net = trained(nn_adam(1e-2f), &rng, &buf, &len);
    struct nn_error e;
    struct nn_net *back = load_copy(buf, len, 0, &e);
    ck_assert_ptr_nonnull(back);
    memset(back->m, 0, sizeof(float) * back->nparams);
    struct nn_rng rng2 = rng;
    struct losses a = {0}, b = {0};
    train(net, 4, nn_adam(1e-2f), &rng, &a);
    train(back, 4, nn_adam(1e-2f), &rng2, &b);
    ck_assert(memcmp(&a.loss[0], &b.loss[0], sizeof(double)) != 0);
    free(buf);
    nn_free(net);
    nn_free(back);
}
END_TEST

/* ---- models: the network without its training state ---- */

/* nn_save_model writes what prediction needs: the same bytes as nn_save up to the
 * training state, then no optimizer (type -1, step 0) and two empty moment arrays; the
 * size is counted here from the layout, 4 bytes a parameter and a running statistic. */
START_TEST(model_leaves_the_moments_out)
{
    struct nn_rng rng;
    unsigned char *full, *model;
    size_t flen, mlen;
    struct nn_net *net = trained(nn_adam(1e-2f), &rng, &full, &flen);
    struct nn_error e;
    ck_assert_int_eq(nn_save_model(net, &model, &mlen, &e), 0);
    size_t head = L2.rec[NALL];   /* magic, version, spec and records */
    size_t want = head + 8 + 4 * net->nparams + 8 + 4 * net->nstats + 4 + 4 + 8 + 8 + 8 + 4;
    ck_assert_uint_eq(mlen, want);
    ck_assert_uint_eq(flen, want + 8 * net->nparams);   /* Adam: two moments a parameter */
    size_t train_at = head + 8 + 4 * net->nparams + 8 + 4 * net->nstats;
    ck_assert_int_eq(memcmp(model, full, train_at + 4), 0);   /* ... and epochs done */
    ck_assert_uint_eq(get32(model + train_at), 3);
    ck_assert_uint_eq(get32(model + train_at + 4), 0xffffffffu);   /* no optimizer */
    for (size_t k = train_at + 8; k < mlen - 4; k++)
        ck_assert_msg(model[k] == 0, "byte %zu of the training state is %#x", k, model[k]);

    struct nn_net *back = load_copy(model, mlen, 0, &e);
    ck_assert_msg(back != NULL, "nn_load: %s", e.msg);
    ck_assert_ptr_null(back->m);
    ck_assert_ptr_null(back->v);
    ck_assert_int_eq(nn_epochs_done(back), 3);
    ck_assert_int_eq(memcmp(back->params, net->params, sizeof(float) * net->nparams), 0);
    ck_assert_int_eq(memcmp(back->stats, net->stats, sizeof(float) * net->nstats), 0);
    float *p = malloc(sizeof(float) * ROWS * OUT), *q = malloc(sizeof(float) * ROWS * OUT);
    ck_assert(p && q);
    ck_assert_int_eq(nn_predict(net, NULL, X, ROWS, p, &e), 0);
    ck_assert_int_eq(nn_predict(back, NULL, X, ROWS, q, &e), 0);
    ck_assert_int_eq(memcmp(p, q, sizeof(float) * ROWS * OUT), 0);

    /* a network without training state saves the same bytes either way */
    unsigned char *again;
    size_t alen;
    ck_assert_int_eq(nn_save(back, &again, &alen, &e), 0);
    ck_assert_uint_eq(alen, mlen);
    ck_assert_int_eq(memcmp(again, model, mlen), 0);
    free(again);
    free(p);
    free(q);
    free(full);
    free(model);
    nn_free(net);
    nn_free(back);
}
END_TEST

/* Training a network loaded from a model starts its optimizer afresh: it trains as the
 * checkpoint of the same network would with its optimizer's state thrown away. */
START_TEST(model_trains_on_with_a_fresh_optimizer)
{
    struct nn_rng rng;
    unsigned char *full, *model;
    size_t flen, mlen;
    struct nn_net *net = trained(nn_adam(1e-2f), &rng, &full, &flen);
    struct nn_error e;
    ck_assert_int_eq(nn_save_model(net, &model, &mlen, &e), 0);
    struct nn_net *a = load_copy(model, mlen, 0, &e), *b = load_copy(full, flen, 0, &e);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    free(b->m);
    free(b->v);
    b->m = b->v = NULL;
    b->opt_type = -1;
    b->step = 0;
    struct nn_rng ra = rng, rb = rng;
    struct losses la = {0}, lb = {0};
    train(a, 5, nn_adam(1e-2f), &ra, &la);
    train(b, 5, nn_adam(1e-2f), &rb, &lb);
    ck_assert_int_eq(la.n, 2);
    for (int k = 0; k < 2; k++)
        ck_assert(memcmp(&la.loss[k], &lb.loss[k], sizeof(double)) == 0);
    ck_assert_int_eq(memcmp(a->params, b->params, sizeof(float) * a->nparams), 0);
    free(full);
    free(model);
    nn_free(net);
    nn_free(a);
    nn_free(b);
}
END_TEST

/* ---- refusals ---- */

static void truncated_everywhere(const struct layout *L)
{
    struct nn_rng rng;
    unsigned char *buf;
    size_t len;
    struct nn_net *net = trained_as(L, nn_adam(1e-2f), &rng, &buf, &len);
    struct nn_error e;
    struct nn_net *whole = load_copy(buf, len, 0, &e);   /* the cut is what is refused */
    ck_assert_msg(whole != NULL, "version %u: %s", L->version, e.msg);
    nn_free(whole);
    for (size_t n = 0; n < len; n++) {
        struct nn_net *bad = load_copy(buf, n, 0, &e);
        ck_assert_msg(bad == NULL, "version %u: accepted a buffer cut to %zu of %zu bytes",
                      L->version, n, len);
        ck_assert_msg(e.msg[0] != '\0', "no message at length %zu", n);
    }
    ck_assert_ptr_null(nn_load(NULL, 0, 0, &e));
    ck_assert_ptr_null(nn_load(NULL, len, 0, &e));
    free(buf);
    nn_free(net);
}

START_TEST(truncated_everywhere_v2)
{
    truncated_everywhere(&L2);
}
END_TEST

START_TEST(truncated_everywhere_v1)
{
    truncated_everywhere(&L1);
}
END_TEST

static void every_bit_flip(const struct layout *L)
{
    struct nn_rng rng;
    unsigned char *buf;
    size_t len;
    struct nn_net *net = trained_as(L, nn_sgd(0.05f, 0.9f, 0), &rng, &buf, &len);
    const size_t header = L->rec[NALL];
    for (size_t i = 0; i < len; i++) {
        /* every bit of the header and the last bytes, one rotating bit elsewhere */
        int all = i < header || i + 16 >= len;
        for (int bit = all ? 0 : (int)(i % 8); bit < (all ? 8 : (int)(i % 8) + 1); bit++) {
            buf[i] ^= (unsigned char)(1u << bit);
            struct nn_error e;
            struct nn_net *bad = load_copy(buf, len, 0, &e);
            ck_assert_msg(bad == NULL, "version %u: accepted a flip of bit %d of byte %zu of %zu",
                          L->version, bit, i, len);
            ck_assert_msg(e.msg[0] != '\0', "no message for byte %zu", i);
            buf[i] ^= (unsigned char)(1u << bit);
        }
    }
    /* the untouched buffer still loads */
    struct nn_error e;
    struct nn_net *ok = load_copy(buf, len, 0, &e);
    ck_assert_msg(ok != NULL, "%s", e.msg);
    nn_free(ok);
    free(buf);
    nn_free(net);
}

START_TEST(every_bit_flip_v2)
{
    every_bit_flip(&L2);
}
END_TEST

START_TEST(every_bit_flip_v1)
{
    every_bit_flip(&L1);
}
END_TEST

static void wrong_version(const struct layout *L)
{
    struct nn_rng rng;
    unsigned char *buf;
    size_t len;
    struct nn_net *net = trained_as(L, nn_adam(1e-2f), &rng, &buf, &len);
    ck_assert_uint_eq(get32(buf + len - 4), nn_crc32(buf, len - 4));   /* CRC is where we think */
    const uint32_t versions[] = {0, 4, 0xffffffffu};
    for (int k = 0; k < 3; k++) {
        put32(buf + OFF_VERSION, versions[k]);
        fix_crc(buf, len);
        struct nn_error e;
        ck_assert_ptr_null(load_copy(buf, len, 0, &e));
        ck_assert_msg(strstr(e.msg, "version") != NULL, "message: %s", e.msg);
        char v[16];
        snprintf(v, sizeof v, "%u", versions[k]);
        ck_assert_msg(strstr(e.msg, v) != NULL, "message does not name version %s: %s", v,
                      e.msg);
    }
    /* read as the other version, the records do not parse */
    put32(buf + OFF_VERSION, 3 - L->version);
    fix_crc(buf, len);
    struct nn_error e;
    ck_assert_ptr_null(load_copy(buf, len, 0, &e));
    ck_assert_msg(e.msg[0] != '\0', "no message");
    free(buf);
    nn_free(net);
}

START_TEST(wrong_version_v2)
{
    wrong_version(&L2);
}
END_TEST

START_TEST(wrong_version_v1)
{
    wrong_version(&L1);
}
END_TEST

/* The checksum is the standard CRC-32, as it has been since version 1, and the floats are
 * little-endian words whatever the host: networks saved before stay loadable. */
START_TEST(layout_is_fixed)
{
    ck_assert_uint_eq(nn_crc32("123456789", 9), 0xcbf43926u);
    ck_assert_uint_eq(nn_crc32("", 0), 0);
    struct nn_rng rng;
    unsigned char *buf;
    size_t len;
    struct nn_net *net = trained(nn_adam(1e-2f), &rng, &buf, &len);
    ck_assert_uint_eq(get32(buf + OFF_VERSION), 2);
    /* the records, field by field, where the descriptors put them */
    const unsigned char *r = buf + L2.rec[0];
    ck_assert_uint_eq(get32(r), NN_DENSE);
    ck_assert_uint_eq(get32(r + 4), 16);                      /* units */
    ck_assert_uint_eq(get32(r + 8), NN_LEAKY_RELU);           /* activation */
    float alpha = 0.05f;
    uint32_t bits;
    memcpy(&bits, &alpha, 4);
    ck_assert_uint_eq(get32(r + 12), bits);                   /* alpha */
    ck_assert_uint_eq(get32(r + 16), NN_INIT_AUTO);           /* init */
    r = buf + L2.rec[1];
    ck_assert_uint_eq(get32(r), NN_BATCHNORM);
    float mom = 0.8f;
    memcpy(&bits, &mom, 4);
    ck_assert_uint_eq(get32(r + 4), bits);                    /* momentum */
    r = buf + L2.rec[2];
    ck_assert_uint_eq(get32(r), NN_DROPOUT);
    float rate = 0.3f;
    memcpy(&bits, &rate, 4);
    ck_assert_uint_eq(get32(r + 4), bits);                    /* rate */
    r = buf + L2.rec[RESIDUAL_INDEX];
    ck_assert_uint_eq(get32(r), NN_RESIDUAL);
    ck_assert_uint_eq(get32(r + 4), 3);                       /* body count */
    ck_assert_uint_eq(get32(r + 8), 5);                       /* body index */
    ck_assert_uint_eq(get32(buf + L2.rec[7]), NN_DENSE);      /* the body's last */
    ck_assert_uint_eq(get32(buf + L2.rec[7] + 16), NN_INIT_GLOROT_NORMAL);
    const unsigned char *p = buf + L2.rec[NALL];
    ck_assert_uint_eq(get32(p), net->nparams);   /* a u64 count, low word first */
    ck_assert_uint_eq(get32(p + 4), 0);
    for (size_t i = 0; i < net->nparams; i += 97) {
        uint32_t want;
        memcpy(&want, &net->params[i], 4);
        ck_assert_uint_eq(get32(p + 8 + 4 * i), want);
    }
    free(buf);
    nn_free(net);
}
END_TEST

static void checksummed_garbage(const struct layout *L)
{
    struct nn_rng rng;
    unsigned char *buf;
    size_t len;
    struct nn_net *net = trained_as(L, nn_adam(1e-2f), &rng, &buf, &len);
    const size_t *rec = L->rec, res = rec[RESIDUAL_INDEX];
    /* the offsets below are right: the residual record says 3 layers from record 5 */
    ck_assert_uint_eq(get32(buf + OFF_NALL), NALL);
    ck_assert_uint_eq(get32(buf + res), NN_RESIDUAL);
    ck_assert_uint_eq(get32(buf + res + L->nlayers), 3);
    ck_assert_uint_eq(get32(buf + res + L->at), 5);
    ck_assert_uint_eq(get32(buf + rec[0] + L->units), 16);
    ck_assert_uint_eq(get32(buf + rec[0] + L->act), NN_LEAKY_RELU);
    ck_assert_uint_eq(get32(buf + rec[NALL] + 4), 0);   /* the parameter count's high word */

    refused_with(buf, len, OFF_NALL, 0xffffffu, "a huge layer count");
    refused_with(buf, len, OFF_NALL, 0xffffffffu, "layer count 2^32-1");
    refused_with(buf, len, OFF_NALL, 0, "no layers");
    refused_with(buf, len, OFF_NALL, NALL - 1, "one layer too few");
    refused_with(buf, len, OFF_NALL, NALL + 1, "one layer too many");
    refused_with(buf, len, OFF_NLAYERS, 0, "no top-level layers");
    refused_with(buf, len, OFF_NLAYERS, NALL + 1, "more top-level layers than layers");
    refused_with(buf, len, OFF_INPUTS, 0, "0 inputs");
    refused_with(buf, len, OFF_INPUTS, 7, "a different input width");
    refused_with(buf, len, res + L->at, 0, "a body index pointing back");
    refused_with(buf, len, res + L->at, RESIDUAL_INDEX, "a residual that is its own body");
    refused_with(buf, len, res + L->at, 2, "a body among the top level");
    refused_with(buf, len, res + L->at, 6, "a body running off the end");
    refused_with(buf, len, res + L->at, 0x7fffffffu, "a body index far out");
    refused_with(buf, len, res + L->nlayers, 0, "an empty body");
    refused_with(buf, len, res + L->nlayers, 0xffffffffu, "a huge body");
    refused_with(buf, len, rec[0], 99, "an unknown layer kind");
    refused_with(buf, len, rec[0], NN_RESIDUAL, "a dense layer turned residual");
    refused_with(buf, len, rec[0], NN_DROPOUT, "a dense layer turned dropout");
    refused_with(buf, len, rec[0] + L->units, 17, "a dense layer one unit wider");
    refused_with(buf, len, rec[0] + L->units, 0x80000000u, "negative units");
    refused_with(buf, len, rec[0] + L->act, 1000, "an unknown activation");
    refused_with(buf, len, rec[2] + L->rate, 0x7fc00000u, "a NaN dropout rate");
    refused_with(buf, len, rec[1] + L->epsilon, 0, "batchnorm epsilon 0");
    /* the parameter count, just after the layers */
    refused_with(buf, len, rec[NALL], 5, "a wrong parameter count");
    refused_with(buf, len, rec[NALL] + 4, 1, "a parameter count over 2^32");

    /* trailing bytes after a valid body */
    unsigned char *longer = malloc(len + 8);
    ck_assert_ptr_nonnull(longer);
    memcpy(longer, buf, len - 4);
    memset(longer + len - 4, 0, 8);
    fix_crc(longer, len + 8);
    struct nn_error e;
    ck_assert_ptr_null(load_copy(longer, len + 8, 0, &e));
    free(longer);
    free(buf);
    nn_free(net);
}

START_TEST(checksummed_garbage_v2)
{
    checksummed_garbage(&L2);
}
END_TEST

START_TEST(checksummed_garbage_v1)
{
    checksummed_garbage(&L1);
}
END_TEST

/* Writes a buffer of n layer records in format `version`: records 0 .. n-3 are residuals
 * whose bodies [i+1, i+3) overlap (a DAG, not a tree), the last two are dense 4 -> 4.
 * Every body index points forward and stays inside the array; nn_save never writes
 * shared bodies. */
static unsigned char *dag_buffer(uint32_t version, int n, size_t *len)
{
    enum { RES2 = 12, DENSE2 = 20 };   /* version 2 records */
    size_t np = 2 * (4 * 4 + 4);
    size_t records = version == 1 ? (size_t)n * V1_RECORD : (size_t)(n - 2) * RES2 + 2 * DENSE2;
    *len = OFF_LAYERS + records + 8 + 4 * np + 8 + 4 + 4 + 8 + 8 + 8 + 4;
    unsigned char *b = calloc(1, *len), *p = b;
    ck_assert_ptr_nonnull(b);
    memcpy(p, "NRDN", 4);
    put32(p + 4, version);
    put32(p + 8, 4);             /* inputs */
    put32(p + 12, NN_MSE);
    put32(p + 16, 0);
    put32(p + 20, 1);            /* top-level layers */
    put32(p + 24, (uint32_t)n);
    p += OFF_LAYERS;
    for (int i = 0; i < n; i++) {
        int res = i < n - 2;
        if (version == 1) {
            put32(p, res ? NN_RESIDUAL : NN_DENSE);
            put32(p + 4, res ? 0 : 4);
            put32(p + 8, NN_LINEAR);
            put32(p + 32, res ? 2 : 0);
            put32(p + 36, res ? (uint32_t)i + 1 : 0);
            float eps = 1e-3f;
            memcpy(p + 28, &eps, 4);
            p += V1_RECORD;
        } else if (res) {
            put32(p, NN_RESIDUAL);
            put32(p + 4, 2);
            put32(p + 8, (uint32_t)i + 1);
            p += RES2;
        } else {
            put32(p, NN_DENSE);
            put32(p + 4, 4);     /* units; linear, alpha 0, init auto */
            p += DENSE2;
        }
    }
    put32(p, (uint32_t)np);      /* params: count then zeros */
    p += 8 + 4 * np;
    p += 8;                      /* no running statistics */
    put32(p, 0);                 /* epochs done */
    put32(p + 4, 0xffffffffu);   /* no optimizer */
    /* step, m, v: zeros */
    fix_crc(b, *len);
    return b;
}

/* A forged buffer whose residual bodies share layers must be refused quickly: walking
 * it as a tree takes time exponential in the layer count. The load runs in a child
 * process with an alarm so that a hang fails the test instead of stalling the run. */
static void shared_bodies_refused_quickly(uint32_t version)
{
    size_t len;
    unsigned char *b = dag_buffer(version, 64, &len);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        signal(SIGALRM, SIG_DFL);   /* check's own handler would kill the whole group */
        alarm(5);
        struct nn_error e;
        struct nn_net *net = nn_load(b, len, 0, &e);
        _exit(net == NULL ? 0 : 3);
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    free(b);
    ck_assert_msg(!(WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM),
                  "nn_load of 64 layers with shared residual bodies ran over 5 seconds");
    ck_assert_msg(WIFEXITED(st), "nn_load crashed (signal %d)", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    ck_assert_msg(WEXITSTATUS(st) != 3, "a buffer with shared residual bodies was accepted");
    ck_assert_msg(WEXITSTATUS(st) == 0, "nn_load exited with status %d (a sanitizer report?)",
                  WEXITSTATUS(st));
}

/* The forged buffer is well formed but for the sharing: with four records, the first
 * residual's body cut to the second residual alone, it is a tree and loads, so the
 * refusal above is the sharing's. */
static void dag_buffer_is_well_formed(uint32_t version)
{
    size_t len;
    unsigned char *b = dag_buffer(version, 4, &len);
    put32(b + OFF_LAYERS + (version == 1 ? 32 : 4), 1);
    fix_crc(b, len);
    struct nn_error e;
    struct nn_net *net = load_copy(b, len, 0, &e);
    ck_assert_msg(net != NULL, "version %u: %s", version, e.msg);
    nn_free(net);
    free(b);
}

START_TEST(shared_bodies_refused_quickly_v2)
{
    dag_buffer_is_well_formed(2);
    shared_bodies_refused_quickly(2);
}
END_TEST

START_TEST(shared_bodies_refused_quickly_v1)
{
    dag_buffer_is_well_formed(1);
    shared_bodies_refused_quickly(1);
}
END_TEST

START_TEST(max_params_refused)
{
    struct nn_rng rng;
    unsigned char *buf;
    size_t len;
    struct nn_net *net = trained(nn_adam(1e-2f), &rng, &buf, &len);
    size_t np = nn_param_count(net);
    /* hand count: (6*16+16) + 2*16 + (16*16+16) + 2*16 + (16*16+16) + (16*3+3) */
    ck_assert_uint_eq(np, 112 + 32 + 272 + 32 + 272 + 51);
    struct nn_error e;
    ck_assert_ptr_null(load_copy(buf, len, np - 1, &e));
    char n[32];
    snprintf(n, sizeof n, "%zu", np);
    ck_assert_msg(strstr(e.msg, n) != NULL, "message does not give the count: %s", e.msg);
    struct nn_net *ok = load_copy(buf, len, np, &e);
    ck_assert_msg(ok != NULL, "%s", e.msg);
    nn_free(ok);
    free(buf);
    nn_free(net);
}
END_TEST

/* ---- a network saved in version 1 ----
 *
 * Written by nn_save when version 1 was the format, from this spec: 3 inputs; dense 4
 * leaky_relu (alpha 0.05, init he_uniform), batchnorm (momentum 0.9), dropout 0.25, a
 * residual of [dense 4 linear (glorot_normal), batchnorm (momentum 0.8), relu], dense 2
 * softmax; categorical_crossentropy, accuracy. Seed 42, then 2 epochs of adam (0.05) in
 * batches of 8 over 24 rows, shuffled. v1_out holds what it predicted then for the rows
 * x[i][j] = (i - 2) / 2 + j / 4, i < 4 (float bits). */
static const unsigned char v1_buf[] = {
    0x4e, 0x52, 0x44, 0x4e, 0x01, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00,
    0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00,
    0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00,
    0x05, 0x00, 0x00, 0x00, 0xcd, 0xcc, 0x4c, 0x3d, 0x02, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x66, 0x66, 0x66, 0x3f,
    0x6f, 0x12, 0x83, 0x3a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x3e,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x03, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x02, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x0a, 0xd7, 0x23, 0x3c,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x0a, 0xd7, 0x23, 0x3c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0xcd, 0xcc, 0x4c, 0x3f, 0x6f, 0x12, 0x83, 0x3a,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x0a, 0xd7, 0x23, 0x3c,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x3e, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x4d, 0x65, 0x77, 0xbf,
    0x56, 0xc8, 0x0d, 0xbf, 0xe1, 0xd6, 0x31, 0x3f, 0x63, 0x9e, 0x6d, 0x3f,
    0xe5, 0x3d, 0xd4, 0x3f, 0x80, 0xe5, 0xfe, 0x3e, 0xe5, 0x33, 0x4b, 0x3f,
    0x0e, 0x4b, 0x32, 0x3f, 0x36, 0x7f, 0x84, 0x3f, 0x47, 0x38, 0x18, 0x3e,
    0xc1, 0x86, 0xe1, 0x3e, 0xbc, 0x3b, 0x2c, 0xbf, 0x9b, 0xec, 0x07, 0xbe,
    0x1b, 0x75, 0xa1, 0xbd, 0x50, 0x84, 0xce, 0x3d, 0xca, 0xe9, 0xf2, 0x3d,
    0x9e, 0x0c, 0x63, 0x3f, 0x61, 0x5a, 0x4f, 0x3f, 0x41, 0xbd, 0x7b, 0x3f,
    0x87, 0xd4, 0x4e, 0x3f, 0x69, 0xeb, 0x85, 0x3e, 0x47, 0xfe, 0xdb, 0xbd,
    0xe3, 0x00, 0x30, 0x3e, 0xc0, 0x22, 0x32, 0x3b, 0xe4, 0xd7, 0x71, 0xbe,
    0x6e, 0x4d, 0x9f, 0x3e, 0x22, 0x62, 0xb5, 0x3e, 0x89, 0xf3, 0xf8, 0xbe,
    0x53, 0x1f, 0x20, 0x3e, 0xce, 0xe1, 0x34, 0xbe, 0xba, 0x67, 0x7c, 0xbe,
    0x70, 0x37, 0xc0, 0x3e, 0x32, 0xb6, 0x72, 0xbd, 0x3c, 0x1f, 0x9a, 0xbe,
    0x3d, 0xe0, 0x7a, 0x3f, 0x92, 0x02, 0x52, 0xbe, 0xbc, 0x14, 0x43, 0x3f,
    0x22, 0x3c, 0x32, 0x3f, 0x36, 0x38, 0xc6, 0xbd, 0xc9, 0xd2, 0x0e, 0x3e,
    0x46, 0x04, 0xcc, 0x3a, 0x05, 0x19, 0x9f, 0x3c, 0x72, 0xbf, 0xce, 0xba,
    0xec, 0xd2, 0x7f, 0x3a, 0xd3, 0xfc, 0x9e, 0x3f, 0x3c, 0xdc, 0x8a, 0x3f,
    0x21, 0xdd, 0x6f, 0x3f, 0x3e, 0x6d, 0x50, 0x3f, 0xc5, 0xd1, 0x8f, 0x3e,
    0xde, 0x62, 0x53, 0x3d, 0x9a, 0x87, 0x09, 0xbc, 0xe3, 0x21, 0x37, 0xbe,
    0xb8, 0x74, 0x87, 0x3f, 0x49, 0xbd, 0x0d, 0xbf, 0x5a, 0x3b, 0x7e, 0x3e,
    0x85, 0xb3, 0x2d, 0xbe, 0xf3, 0xe5, 0xe7, 0x3e, 0x95, 0xaa, 0xeb, 0x3e,
    0x26, 0x98, 0xa1, 0xbd, 0xae, 0xfd, 0xb1, 0xbd, 0xac, 0x54, 0xd9, 0x3d,
    0xaa, 0x54, 0xd9, 0xbd, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x1e, 0xc2, 0x08, 0x3e, 0xbb, 0xf7, 0x3e, 0x3e, 0x0b, 0x5e, 0x2b, 0x3e,
    0xe5, 0xab, 0x15, 0x3e, 0x64, 0xf4, 0x3e, 0x3f, 0x9a, 0xff, 0x3c, 0x3f,
    0xef, 0x50, 0x26, 0x3f, 0xc8, 0x08, 0x1e, 0x3f, 0x66, 0x4b, 0x57, 0xbc,
    0x41, 0xb4, 0xef, 0x3c, 0x68, 0x82, 0x2c, 0x3d, 0xa3, 0x07, 0x0b, 0x3c,
    0xc2, 0x33, 0x89, 0x3f, 0xd4, 0x35, 0x34, 0x3f, 0x40, 0x6c, 0xac, 0x3f,
    0xf1, 0x2f, 0x3b, 0x3f, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
    0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3e, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x40, 0x80, 0x2f, 0xbc, 0x0c, 0x5f, 0x93, 0x3c,
    0xa5, 0xed, 0x11, 0xbc, 0x5f, 0x77, 0x4c, 0x3d, 0x60, 0xbd, 0x74, 0xbd,
    0x74, 0x49, 0x4c, 0x3d, 0xd4, 0xab, 0xb7, 0x3a, 0x08, 0xbe, 0x76, 0x3d,
    0x86, 0x19, 0x7d, 0xbd, 0xa4, 0xd4, 0xcd, 0xba, 0xd9, 0xf9, 0xd7, 0xba,
    0x78, 0x66, 0x8d, 0xba, 0xe3, 0x05, 0xa1, 0x3a, 0x86, 0x17, 0xf9, 0x3a,
    0xd6, 0x6e, 0xfe, 0xbb, 0x28, 0x5e, 0xb5, 0xb9, 0x69, 0x53, 0x4d, 0x3a,
    0x58, 0x6d, 0x12, 0x3d, 0xcd, 0xf4, 0xa8, 0x3b, 0x84, 0xbb, 0x05, 0x3c,
    0x77, 0xf6, 0x97, 0xbc, 0xaa, 0x91, 0x82, 0x3d, 0xc4, 0x93, 0xb2, 0xbb,
    0xe6, 0xdd, 0x4e, 0xbc, 0xea, 0x2e, 0x66, 0xba, 0xcc, 0x56, 0x45, 0x3c,
    0xd8, 0xca, 0xf1, 0x3b, 0x8b, 0x3d, 0xb7, 0x3c, 0x8e, 0x83, 0xea, 0x3c,
    0xaf, 0x57, 0x59, 0xbd, 0x5e, 0xea, 0x34, 0xbc, 0x83, 0x4e, 0x01, 0xbe,
    0x76, 0xe4, 0x29, 0x38, 0xb2, 0x87, 0x94, 0x3a, 0xbf, 0x0c, 0x13, 0x3a,
    0xef, 0xdc, 0xf8, 0x3b, 0xdd, 0xce, 0xad, 0xba, 0x09, 0x06, 0x30, 0xbc,
    0xee, 0xe3, 0xd0, 0x38, 0xbf, 0x16, 0x98, 0x3c, 0xc1, 0xdb, 0x00, 0x2d,
    0x0a, 0x5f, 0xcc, 0xb0, 0xe1, 0x23, 0xf6, 0xad, 0x5c, 0x21, 0xc3, 0xac,
    0x7f, 0x87, 0x4a, 0xbc, 0x4e, 0x65, 0x60, 0xbc, 0xf2, 0xfd, 0x03, 0xba,
    0xf8, 0xae, 0x84, 0x3b, 0xee, 0x4d, 0x65, 0xbc, 0x6c, 0x02, 0xfc, 0xbb,
    0xf1, 0xcf, 0x21, 0xbb, 0x5a, 0xc7, 0xa2, 0x3b, 0x70, 0xf5, 0x9d, 0xbd,
    0xb0, 0xe1, 0x25, 0xba, 0xc7, 0xb5, 0x97, 0xbd, 0x0a, 0xea, 0x36, 0x3e,
    0x6f, 0xf5, 0x9d, 0x3d, 0x80, 0xe1, 0x25, 0x3a, 0xc7, 0xb5, 0x97, 0x3d,
    0x0a, 0xea, 0x36, 0xbe, 0x6f, 0xee, 0x3d, 0xbd, 0x6f, 0xee, 0x3d, 0x3d,
    0x3e, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf3, 0xcf, 0x23, 0x37,
    0x43, 0x4c, 0xbe, 0x37, 0x57, 0xb9, 0x84, 0x37, 0xd0, 0xcb, 0xe7, 0x38,
    0x92, 0xc4, 0x37, 0x39, 0xb4, 0x50, 0xf2, 0x38, 0x27, 0x05, 0x02, 0x38,
    0x53, 0xe8, 0xef, 0x38, 0xea, 0xd2, 0xe2, 0x38, 0xfe, 0x4f, 0x1e, 0x36,
    0x44, 0xc9, 0x05, 0x36, 0x9b, 0x9d, 0xd1, 0x35, 0x6b, 0xce, 0x8a, 0x37,
    0x84, 0x82, 0xdd, 0x37, 0x44, 0x65, 0x1c, 0x38, 0x12, 0x3c, 0x87, 0x32,
    0x88, 0x9b, 0xab, 0x37, 0xdb, 0x7c, 0xc6, 0x39, 0xf6, 0x47, 0x3c, 0x37,
    0xbd, 0x08, 0x9b, 0x38, 0x2a, 0x36, 0xb0, 0x37, 0x80, 0xb3, 0xe2, 0x39,
    0x84, 0x4e, 0x4f, 0x36, 0xc9, 0xec, 0x62, 0x38, 0xf4, 0x75, 0x4a, 0x35,
    0x7d, 0x39, 0xa9, 0x36, 0x8c, 0x34, 0xd7, 0x36, 0x9f, 0x7b, 0x94, 0x37,
    0xa9, 0xd8, 0x27, 0x39, 0xf8, 0x8d, 0xf9, 0x38, 0x0a, 0x57, 0x7e, 0x37,
    0x83, 0x40, 0x4c, 0x3a, 0xe9, 0x9e, 0xb9, 0x35, 0xf3, 0x99, 0x25, 0x34,
    0x92, 0x7b, 0xbd, 0x32, 0x88, 0xe5, 0xc7, 0x36, 0x47, 0x62, 0xa9, 0x37,
    0x2e, 0xb9, 0x95, 0x38, 0xa5, 0xd4, 0x09, 0x36, 0xc2, 0x01, 0xd6, 0x37,
    0x46, 0x08, 0xd5, 0x1d, 0x4f, 0x8d, 0xe6, 0x20, 0xe4, 0xdb, 0xa6, 0x1d,
    0x98, 0xbd, 0x40, 0x1d, 0x2b, 0x9c, 0x9d, 0x37, 0xa3, 0x00, 0x23, 0x39,
    0x2c, 0x22, 0x0d, 0x36, 0xaa, 0x99, 0x85, 0x36, 0xfe, 0x7d, 0xe6, 0x36,
    0x78, 0x56, 0xac, 0x39, 0x06, 0x0f, 0x4a, 0x35, 0x74, 0x6a, 0xe8, 0x36,
    0x02, 0x34, 0xae, 0x39, 0xa3, 0x1c, 0x27, 0x39, 0xf6, 0xf5, 0x2f, 0x3a,
    0xb4, 0x63, 0x9b, 0x3a, 0x01, 0x34, 0xae, 0x39, 0xa2, 0x1c, 0x27, 0x39,
    0xf5, 0xf5, 0x2f, 0x3a, 0xb3, 0x63, 0x9b, 0x3a, 0xaa, 0xea, 0x53, 0x39,
    0xac, 0xea, 0x53, 0x39, 0xc8, 0x77, 0xde, 0xd2,
};
static const uint32_t v1_out[] = {
    0x3f34d37a, 0x3e96590b, 0x3f2e80f2, 0x3ea2fe1c,
    0x3f3fa1a6, 0x3e80bcb2, 0x3f3c84e2, 0x3e86f63c,
};
enum { V1_ROWS = 4, V1_IN = 3, V1_OUT = 2 };

static void v1_rows(float *x)
{
    for (int i = 0; i < V1_ROWS; i++)
        for (int j = 0; j < V1_IN; j++)
            x[i * V1_IN + j] = (float)(i - 2) * 0.5f + (float)j * 0.25f;
}

START_TEST(v1_loads_and_predicts)
{
    struct nn_error e;
    struct nn_net *net = load_copy(v1_buf, sizeof v1_buf, 0, &e);
    ck_assert_msg(net != NULL, "nn_load: %s", e.msg);
    /* the spec, the training state */
    const struct nn_spec *s = nn_get_spec(net);
    ck_assert_int_eq(s->inputs, V1_IN);
    ck_assert_int_eq(s->loss, NN_CCE);
    ck_assert_uint_eq(s->metrics, 1u << NN_METRIC_ACCURACY);
    ck_assert_int_eq(s->nlayers, 5);
    const struct nn_layer_spec *l = s->layers;
    ck_assert_int_eq(l[0].kind, NN_DENSE);
    ck_assert_int_eq(l[0].units, 4);
    ck_assert_int_eq(l[0].act, NN_LEAKY_RELU);
    ck_assert_float_eq(l[0].alpha, 0.05f);
    ck_assert_int_eq(l[0].init, NN_INIT_HE_UNIFORM);
    ck_assert_int_eq(l[1].kind, NN_BATCHNORM);
    ck_assert_float_eq(l[1].momentum, 0.9f);
    ck_assert_float_eq(l[1].epsilon, 1e-3f);
    ck_assert_int_eq(l[2].kind, NN_DROPOUT);
    ck_assert_float_eq(l[2].rate, 0.25f);
    ck_assert_int_eq(l[3].kind, NN_RESIDUAL);
    ck_assert_int_eq(l[3].nlayers, 3);
    ck_assert_int_eq(l[3].layers[0].kind, NN_DENSE);
    ck_assert_int_eq(l[3].layers[0].init, NN_INIT_GLOROT_NORMAL);
    ck_assert_float_eq(l[3].layers[1].momentum, 0.8f);
    ck_assert_int_eq(l[3].layers[2].kind, NN_ACTIVATION);
    ck_assert_int_eq(l[3].layers[2].act, NN_RELU);
    ck_assert_int_eq(l[4].units, V1_OUT);
    ck_assert_uint_eq(nn_param_count(net), 62);
    ck_assert_int_eq(nn_epochs_done(net), 2);
    ck_assert_int_eq(net->opt_type, NN_ADAM);
    ck_assert_uint_eq(net->step, 6);
    ck_assert(net->m != NULL && net->v != NULL);

    /* what it predicted when it was saved (to float rounding: BLAS may sum in another
     * order on another machine) */
    float x[V1_ROWS * V1_IN], y[V1_ROWS * V1_OUT], y2[V1_ROWS * V1_OUT];
    v1_rows(x);
    ck_assert_int_eq(nn_predict(net, NULL, x, V1_ROWS, y, &e), 0);
    for (int k = 0; k < V1_ROWS * V1_OUT; k++) {
        float want;
        memcpy(&want, &v1_out[k], 4);
        ck_assert_msg(fabsf(y[k] - want) <= 1e-6f, "output %d: %.9g, saved %.9g", k, y[k], want);
    }

    /* saved again it is version 2, and that loads into the same network */
    unsigned char *buf, *buf2;
    size_t len, len2;
    ck_assert_int_eq(nn_save(net, &buf, &len, &e), 0);
    ck_assert_uint_eq(get32(buf + OFF_VERSION), 2);
    struct nn_net *back = load_copy(buf, len, 0, &e);
    ck_assert_msg(back != NULL, "nn_load: %s", e.msg);
    ck_assert_int_eq(nn_predict(back, NULL, x, V1_ROWS, y2, &e), 0);
    ck_assert_int_eq(memcmp(y, y2, sizeof y), 0);
    ck_assert_int_eq(nn_epochs_done(back), 2);
    ck_assert_uint_eq(back->step, 6);
    ck_assert_int_eq(memcmp(net->m, back->m, sizeof(float) * net->nparams), 0);
    ck_assert_int_eq(memcmp(net->stats, back->stats, sizeof(float) * net->nstats), 0);
    ck_assert_int_eq(nn_save(back, &buf2, &len2, &e), 0);
    ck_assert_uint_eq(len2, len);
    ck_assert_int_eq(memcmp(buf, buf2, len), 0);
    free(buf);
    free(buf2);
    nn_free(back);
    nn_free(net);
}
END_TEST

/* The version 1 buffers the refusal tests forge are the format itself: v1_save writes
 * the network loaded from the embedded buffer back to its very bytes. */
START_TEST(v1_writer_is_the_old_format)
{
    struct nn_error e;
    struct nn_net *net = load_copy(v1_buf, sizeof v1_buf, 0, &e);
    ck_assert_msg(net != NULL, "nn_load: %s", e.msg);
    size_t len;
    unsigned char *b = v1_save(net, &len);
    ck_assert_uint_eq(len, sizeof v1_buf);
    for (size_t i = 0; i < len; i++)
        ck_assert_msg(b[i] == v1_buf[i], "byte %zu: %#x, saved %#x", i, b[i], v1_buf[i]);
    free(b);
    nn_free(net);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("serial");
    TCase *r = tcase_create("round_trip");
    tcase_set_timeout(r, 30);
    tcase_add_test(r, round_trip_predicts_identically);
    tcase_add_test(r, round_trip_untrained);
    tcase_add_test(r, continue_adam);
    tcase_add_test(r, continue_sgd_momentum);
    tcase_add_test(r, continue_sgd_plain);
    tcase_add_test(r, optimizer_state_matters);
    tcase_add_test(r, model_leaves_the_moments_out);
    tcase_add_test(r, model_trains_on_with_a_fresh_optimizer);
    suite_add_tcase(s, r);
    TCase *b = tcase_create("refusals");
    tcase_set_timeout(b, 120);
    tcase_add_test(b, truncated_everywhere_v2);
    tcase_add_test(b, truncated_everywhere_v1);
    tcase_add_test(b, every_bit_flip_v2);
    tcase_add_test(b, every_bit_flip_v1);
    tcase_add_test(b, wrong_version_v2);
    tcase_add_test(b, wrong_version_v1);
    tcase_add_test(b, layout_is_fixed);
    tcase_add_test(b, checksummed_garbage_v2);
    tcase_add_test(b, checksummed_garbage_v1);
    tcase_add_test(b, shared_bodies_refused_quickly_v2);
    tcase_add_test(b, shared_bodies_refused_quickly_v1);
    tcase_add_test(b, max_params_refused);
    suite_add_tcase(s, b);
    TCase *v = tcase_create("version1");
    tcase_add_test(v, v1_loads_and_predicts);
    tcase_add_test(v, v1_writer_is_the_old_format);
    suite_add_tcase(s, v);
    return tu_run(s) != 0;
}
