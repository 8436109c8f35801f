/* test_serial.c -- core/serial.c: nn_save then nn_load gives a network that predicts
 * bit-identically and trains on bit-identically (optimizer state, step, batchnorm running
 * statistics and epochs done survive); and nn_load refuses every truncation, every
 * single-bit corruption, a wrong version, well-checksummed garbage and a network over
 * max_params, without crashing or reading past the buffer (each candidate buffer is an
 * exact-size heap copy, so ASan and valgrind see any over-read).
 *
 * The byte offsets used to forge buffers follow the layout written in serial.c: "NRDN",
 * u32 version, u32 inputs, loss, metrics, top-level layer count, layer count, then 40
 * bytes per layer (kind, units, act, alpha, init, rate, momentum, epsilon, nlayers, body
 * index), ..., and a CRC-32 of everything before it in the last 4 bytes. */
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
       LAYER_BYTES = 40 };

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
    ck_assert_uint_gt(*len, 28 + NALL * 40);
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

static size_t layer_field(int layer, int field)
{
    return OFF_LAYERS + (size_t)layer * LAYER_BYTES + 4 * (size_t)field;
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

/* ---- refusals ---- */

START_TEST(truncated_everywhere)
{
    struct nn_rng rng;
    unsigned char *buf;
    size_t len;
    struct nn_net *net = trained(nn_adam(1e-2f), &rng, &buf, &len);
    for (size_t n = 0; n < len; n++) {
        struct nn_error e;
        struct nn_net *bad = load_copy(buf, n, 0, &e);
        ck_assert_msg(bad == NULL, "accepted a buffer cut to %zu of %zu bytes", n, len);
        ck_assert_msg(e.msg[0] != '\0', "no message at length %zu", n);
    }
    struct nn_error e;
    ck_assert_ptr_null(nn_load(NULL, 0, 0, &e));
    ck_assert_ptr_null(nn_load(NULL, len, 0, &e));
    free(buf);
    nn_free(net);
}
END_TEST

START_TEST(every_bit_flip)
{
    struct nn_rng rng;
    unsigned char *buf;
    size_t len;
    struct nn_net *net = trained(nn_sgd(0.05f, 0.9f, 0), &rng, &buf, &len);
    const size_t header = OFF_LAYERS + NALL * LAYER_BYTES;
    for (size_t i = 0; i < len; i++) {
        /* every bit of the header and the last bytes, one rotating bit elsewhere */
        int all = i < header || i + 16 >= len;
        for (int bit = all ? 0 : (int)(i % 8); bit < (all ? 8 : (int)(i % 8) + 1); bit++) {
            buf[i] ^= (unsigned char)(1u << bit);
            struct nn_error e;
            struct nn_net *bad = load_copy(buf, len, 0, &e);
            ck_assert_msg(bad == NULL, "accepted a flip of bit %d of byte %zu of %zu", bit, i,
                          len);
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
END_TEST

START_TEST(wrong_version)
{
    struct nn_rng rng;
    unsigned char *buf;
    size_t len;
    struct nn_net *net = trained(nn_adam(1e-2f), &rng, &buf, &len);
    ck_assert_uint_eq(get32(buf + OFF_VERSION), 1);
    ck_assert_uint_eq(get32(buf + len - 4), nn_crc32(buf, len - 4));   /* CRC is where we think */
    const uint32_t versions[] = {0, 2, 0xffffffffu};
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
    free(buf);
    nn_free(net);
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
    const unsigned char *p = buf + OFF_LAYERS + NALL * LAYER_BYTES;
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

START_TEST(checksummed_garbage)
{
    struct nn_rng rng;
    unsigned char *buf;
    size_t len;
    struct nn_net *net = trained(nn_adam(1e-2f), &rng, &buf, &len);
    /* the offsets below are right: the residual record says 3 layers from record 5 */
    ck_assert_uint_eq(get32(buf + OFF_NALL), NALL);
    ck_assert_uint_eq(get32(buf + layer_field(RESIDUAL_INDEX, 0)), NN_RESIDUAL);
    ck_assert_uint_eq(get32(buf + layer_field(RESIDUAL_INDEX, 8)), 3);
    ck_assert_uint_eq(get32(buf + layer_field(RESIDUAL_INDEX, 9)), 5);

    refused_with(buf, len, OFF_NALL, 0xffffffu, "a huge layer count");
    refused_with(buf, len, OFF_NALL, 0xffffffffu, "layer count 2^32-1");
    refused_with(buf, len, OFF_NALL, 0, "no layers");
    refused_with(buf, len, OFF_NALL, NALL - 1, "one layer too few");
    refused_with(buf, len, OFF_NLAYERS, 0, "no top-level layers");
    refused_with(buf, len, OFF_NLAYERS, NALL + 1, "more top-level layers than layers");
    refused_with(buf, len, OFF_INPUTS, 0, "0 inputs");
    refused_with(buf, len, OFF_INPUTS, 7, "a different input width");
    refused_with(buf, len, layer_field(RESIDUAL_INDEX, 9), 0, "a body index pointing back");
    refused_with(buf, len, layer_field(RESIDUAL_INDEX, 9), RESIDUAL_INDEX,
                 "a residual that is its own body");
    refused_with(buf, len, layer_field(RESIDUAL_INDEX, 9), 2, "a body among the top level");
    refused_with(buf, len, layer_field(RESIDUAL_INDEX, 9), 6, "a body running off the end");
    refused_with(buf, len, layer_field(RESIDUAL_INDEX, 9), 0x7fffffffu, "a body index far out");
    refused_with(buf, len, layer_field(RESIDUAL_INDEX, 8), 0, "an empty body");
    refused_with(buf, len, layer_field(RESIDUAL_INDEX, 8), 0xffffffffu, "a huge body");
    refused_with(buf, len, layer_field(0, 0), 99, "an unknown layer kind");
    refused_with(buf, len, layer_field(0, 0), NN_RESIDUAL, "a dense layer turned residual");
    refused_with(buf, len, layer_field(0, 1), 17, "a dense layer one unit wider");
    refused_with(buf, len, layer_field(0, 1), 0x80000000u, "negative units");
    refused_with(buf, len, layer_field(0, 2), 1000, "an unknown activation");
    refused_with(buf, len, layer_field(2, 5), 0x7fc00000u, "a NaN dropout rate");
    refused_with(buf, len, layer_field(1, 7), 0, "batchnorm epsilon 0");
    /* the parameter count, just after the layers */
    refused_with(buf, len, OFF_LAYERS + NALL * LAYER_BYTES, 5, "a wrong parameter count");
    refused_with(buf, len, OFF_LAYERS + NALL * LAYER_BYTES + 4, 1, "a parameter count over 2^32");

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
END_TEST

/* Writes a buffer of n layer records: records 0 .. n-3 are residuals whose bodies
 * [i+1, i+3) overlap (a DAG, not a tree), the last two are dense 4 -> 4. Every body index
 * points forward and stays inside the array; nn_save never writes shared bodies. */
static unsigned char *dag_buffer(int n, size_t *len)
{
    size_t np = 2 * (4 * 4 + 4);
    *len = OFF_LAYERS + (size_t)n * LAYER_BYTES + 8 + 4 * np + 8 + 4 + 4 + 8 + 8 + 8 + 4;
    unsigned char *b = calloc(1, *len), *p = b;
    ck_assert_ptr_nonnull(b);
    memcpy(p, "NRDN", 4);
    put32(p + 4, 1);
    put32(p + 8, 4);             /* inputs */
    put32(p + 12, NN_MSE);
    put32(p + 16, 0);
    put32(p + 20, 1);            /* top-level layers */
    put32(p + 24, (uint32_t)n);
    p += OFF_LAYERS;
    for (int i = 0; i < n; i++, p += LAYER_BYTES) {
        int res = i < n - 2;
        put32(p, res ? NN_RESIDUAL : NN_DENSE);
        put32(p + 4, res ? 0 : 4);
        put32(p + 8, NN_LINEAR);
        put32(p + 32, res ? 2 : 0);
        put32(p + 36, res ? (uint32_t)i + 1 : 0);
        float eps = 1e-3f;
        memcpy(p + 28, &eps, 4);
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
START_TEST(shared_bodies_refused_quickly)
{
    size_t len;
    unsigned char *b = dag_buffer(64, &len);
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
    suite_add_tcase(s, r);
    TCase *b = tcase_create("refusals");
    tcase_set_timeout(b, 120);
    tcase_add_test(b, truncated_everywhere);
    tcase_add_test(b, every_bit_flip);
    tcase_add_test(b, wrong_version);
    tcase_add_test(b, layout_is_fixed);
    tcase_add_test(b, checksummed_garbage);
    tcase_add_test(b, shared_bodies_refused_quickly);
    tcase_add_test(b, max_params_refused);
    suite_add_tcase(s, b);
    return tu_run(s) != 0;
}
