/* bench_rnn.c -- the recurrent-layer benchmark: trains one recurrent layer (rnn, lstm or
 * gru) of 128 units on the adding problem as torch_rnn.py in ../shared/bench does (T=50
 * steps of two features, the layer's last output into dense(1), MSE, Adam lr 1e-3, batch
 * 64, 20,000 training rows, 2,000 test rows, shuffled), then measures this machine's sgemm
 * rate in the same process.
 *
 * usage: bench_rnn KIND [threads=2] [epochs=2] [seed=0]
 * Prints one JSON object per line, as torch_rnn.py does:
 *   {"bench": "neurond lstm T=50 h=128 2thr", "metric": "test_mse", "value": 0.17, ...}
 *
 * The data: the adding problem (Hochreiter & Schmidhuber 1997), generated here with the
 * engine's rng: per sequence T values uniform in [0, 1) and a marker that is 1 at one step
 * of the first half and one of the second, the target the sum of the two marked values.
 * Same distribution as the peer's, not the same draws: test MSEs compare as figures of
 * the same problem (always answering 1.0 scores about 0.167).
 *
 * The sgemm limit. One step of a cell with G gates costs 2·G·h·(h+F) FLOPs of matrix
 * products forward (lstm G=4: 8·h·(h+F); gru 6·h·(h+F); rnn 2·h·(h+F)) and about twice
 * that backward (the gate gradients into h' and x, and into the weights): 3x in all, T
 * steps a sequence; the dense(1) head is negligible. The steps run one after the other,
 * each a product of (64 x h) by (h x G·h), so the rate that bounds training is sgemm's at
 * that shape: the bench times it with OpenBLAS on 1 and on `threads` threads, takes the
 * better (sgemm_step_gflops), and reports sgemm_limit_samples_per_s = that rate over the
 * FLOPs per sample and sgemm_fraction = training samples/s over the limit. A large square
 * product gives the machine's peak for reference (sgemm_peak_gflops).
 */
#define _POSIX_C_SOURCE 200809L

#include <cblas.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn.h"

/* OpenBLAS's own call (declared again in case cblas.h is another BLAS's header). */
void openblas_set_num_threads(int num_threads);

enum { STEPS = 50, FEATURES = 2, UNITS = 128, BATCH = 64, TRAIN_ROWS = 20000,
       TEST_ROWS = 2000 };

static char tag[64];                     /* "neurond lstm T=50 h=128 2thr", set in main */

#define BENCH_NAME "bench_rnn"
#define BENCH_USAGE "bench_rnn rnn|lstm|gru [threads=2] [epochs=2] [seed=0]"
#include "bench.h"

/* rows sequences of the adding problem into x (rows x STEPS*FEATURES, time-major) and y
 * (rows), drawn from a generator seeded with seed. */
static void adding(float *x, float *y, int rows, uint64_t seed)
{
    struct nn_rng rng;
    nn_rng_seed(&rng, seed);
    for (int i = 0; i < rows; i++) {
        float *r = x + (size_t)i * STEPS * FEATURES;
        for (int s = 0; s < STEPS; s++) {
            r[s * FEATURES] = (float)nn_rng_uniform(&rng);
            r[s * FEATURES + 1] = 0;
        }
        int first = (int)(nn_rng_uniform(&rng) * (STEPS / 2));
        int second = STEPS / 2 + (int)(nn_rng_uniform(&rng) * (STEPS - STEPS / 2));
        r[first * FEATURES + 1] = r[second * FEATURES + 1] = 1;
        y[i] = r[first * FEATURES] + r[second * FEATURES];
    }
}

/* ---- training ---------------------------------------------------------------------- */

struct epoch_log {
    double *wall, *loss;
    double last;                         /* when the previous epoch ended */
};

static int on_epoch(void *ctx, const struct nn_report *r)
{
    struct epoch_log *log = ctx;
    int e = r->epoch - 1;
    log->wall[e] = now() - log->last;
    log->loss[e] = r->loss;
    fprintf(stderr, "epoch %d/%d: %.2f s, loss %.4f\n", r->epoch, r->epochs, log->wall[e],
            r->loss);
    log->last = now();                   /* the time spent here is not the next epoch's */
    return 0;
}

/* ---- the sgemm rate ---------------------------------------------------------------- */

/* GFLOP/s of C (m x n) = A (m x k) . B (n x k)^T, the engine's forward shape, over about
 * `seconds`, with OpenBLAS on threads threads. */
static double sgemm_gflops(int m, int n, int k, int threads, double seconds)
{
    float *a = xmalloc((size_t)m * k * sizeof(float));
    float *b = xmalloc((size_t)n * k * sizeof(float));
    float *c = xmalloc((size_t)m * n * sizeof(float));
    for (size_t i = 0; i < (size_t)m * k; i++)
        a[i] = (float)(i % 17) * 0.01f;
    for (size_t i = 0; i < (size_t)n * k; i++)
        b[i] = (float)(i % 13) * 0.01f;
    openblas_set_num_threads(threads);
    long calls = 4;
    double t = 0;
    for (int pass = 0; pass < 2; pass++) {               /* the first sizes the second */
        t = now();
        for (long i = 0; i < calls; i++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, k, b, k,
                        0.0f, c, n);
        t = now() - t;
        if (pass == 0)
            calls = (long)((double)calls * seconds / (t > 1e-6 ? t : 1e-6)) + 1;
    }
    openblas_set_num_threads(1);                         /* as the engine keeps it */
    free(a);
    free(b);
    free(c);
    return 2.0 * m * n * k * (double)calls / t * 1e-9;
}

/* ---- main -------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 5)
        die("usage: bench_rnn rnn|lstm|gru [threads=2] [epochs=2] [seed=0]");
    const char *kind = argv[1];
    int gates = !strcmp(kind, "rnn") ? 1 : !strcmp(kind, "lstm") ? 4 : !strcmp(kind, "gru") ? 3 : 0;
    if (!gates)
        die("the layer must be rnn, lstm or gru, not \"%s\"", kind);
    int threads = argc > 2 ? (int)parse_arg(argv[2], "threads", 1, 256) : 2;
    int epochs = argc > 3 ? (int)parse_arg(argv[3], "epochs", 1, 1000) : 2;
    long seed = argc > 4 ? parse_arg(argv[4], "seed", 0, 2147483647L) : 0;
    snprintf(tag, sizeof tag, "neurond %s T=%d h=%d %dthr", kind, STEPS, UNITS, threads);

    const int cols = STEPS * FEATURES;
    float *xtr = xmalloc((size_t)TRAIN_ROWS * cols * sizeof(float));
    float *ytr = xmalloc((size_t)TRAIN_ROWS * sizeof(float));
    float *xte = xmalloc((size_t)TEST_ROWS * cols * sizeof(float));
    float *yte = xmalloc((size_t)TEST_ROWS * sizeof(float));
    adding(xtr, ytr, TRAIN_ROWS, 1);
    adding(xte, yte, TEST_ROWS, 2);

    const struct nn_layer_spec layers[2] = {
        gates == 4 ? nn_lstm(UNITS, 0) : gates == 3 ? nn_gru(UNITS, 0) : nn_rnn(UNITS, 0),
        nn_dense(1, NN_LINEAR),
    };
    const struct nn_spec spec = {
        .inputs = FEATURES, .layers = layers, .nlayers = 2, .loss = NN_MSE,
        .timesteps = STEPS,
    };
    struct nn_error err = {{0}, {0}};
    struct nn_rng rng;
    nn_rng_seed(&rng, (uint64_t)seed);
    struct nn_net *net = nn_new(&spec, 0, &rng, &err);
    if (!net)
        die("nn_new: %s %s", err.where, err.msg);
    struct nn_pool *pool = nn_pool_new(threads);
    if (!pool)
        die("nn_pool_new(%d) failed", threads);

    struct epoch_log log = {
        .wall = xmalloc((size_t)epochs * sizeof(double)),
        .loss = xmalloc((size_t)epochs * sizeof(double)),
    };
    const struct nn_data train = {xtr, ytr, TRAIN_ROWS, cols, 1};
    const struct nn_data test = {xte, yte, TEST_ROWS, cols, 1};
    struct nn_optimizer adam = nn_adam(1e-3f);
    adam.epsilon = 1e-8f;                               /* PyTorch's default, as the peer */
    const struct nn_train_opts opts = {
        .epochs = epochs, .batch_size = BATCH, .opt = adam, .shuffle = 1,
        .on_epoch = on_epoch, .ctx = &log,
    };
    log.last = now();
    int rc = nn_train(net, pool, &train, NULL, &opts, &rng, &err);
    if (rc != 0)
        die("nn_train returned %d: %s %s", rc, err.where, rc < 0 ? err.msg : "stopped early");

    double later = 0;
    for (int e = 0; e < epochs; e++) {
        char name[32], extra[64];
        snprintf(name, sizeof name, "epoch%d_s", e + 1);
        snprintf(extra, sizeof extra, ", \"loss\": %.6g", log.loss[e]);
        emit(name, log.wall[e], "s", extra);
        later += e > 0 ? log.wall[e] : 0;
    }
    /* epoch 1 left out as warm-up when there are more, as the peer does */
    double train_sps = epochs >= 2 ? (double)TRAIN_ROWS * (epochs - 1) / later
                                    : TRAIN_ROWS / log.wall[0];
    emit("train_samples_per_s_ep2-5", train_sps, "samples/s", NULL);

    double loss, metric[NN_METRIC_COUNT];
    if (nn_evaluate(net, pool, &test, &loss, metric, &err) < 0)
        die("nn_evaluate: %s %s", err.where, err.msg);
    double base = 0;
    for (int i = 0; i < TEST_ROWS; i++)
        base += (yte[i] - 1.0) * (yte[i] - 1.0);
    char extra[96];
    snprintf(extra, sizeof extra, ", \"baseline\": %.6g", base / TEST_ROWS);
    emit("test_mse", metric[NN_METRIC_MSE], "", extra);
    nn_pool_free(pool);                  /* its threads must not compete with the GEMMs */

    double flops = 3.0 * 2.0 * gates * UNITS * (UNITS + FEATURES) * STEPS;
    double step = sgemm_gflops(BATCH, gates * UNITS, UNITS, 1, 1.0);
    if (threads > 1) {
        double more = sgemm_gflops(BATCH, gates * UNITS, UNITS, threads, 1.0);
        step = more > step ? more : step;
    }
    double peak = sgemm_gflops(1024, 1024, 1024, threads, 1.0);
    emit("sgemm_step_gflops", step, "GFLOP/s", NULL);
    emit("sgemm_peak_gflops", peak, "GFLOP/s", NULL);
    snprintf(extra, sizeof extra, ", \"mflop_per_sample\": %.4g", flops * 1e-6);
    emit("sgemm_limit_samples_per_s", step * 1e9 / flops, "samples/s", extra);
    emit("sgemm_fraction", train_sps * flops * 1e-9 / step, "fraction", NULL);
    emit("train_gflops", train_sps * flops * 1e-9, "GFLOP/s", NULL);

    free(log.wall);
    free(log.loss);
    nn_free(net);
    free(xtr);
    free(ytr);
    free(xte);
    free(yte);
    return 0;
}
