/* bench_fmnist.c -- the engine benchmark: trains an MLP 784-256(relu)-128(relu)-10(softmax)
 * on Fashion-MNIST as the peer trainers in ../shared/bench do (Adam lr 1e-3, batch 128,
 * categorical cross-entropy on class indices, shuffled, 5 epochs), then measures inference
 * and the sgemm-bound limit of training on this machine, in this process.
 *
 * usage: bench_fmnist [threads=2] [epochs=5] [seed=0]
 *        bench_fmnist predict [rounds=7]
 * The predict mode trains nothing: it times nn_predict of the same network (weights as
 * initialised) at 1, 32, 256 and 1024 rows a call, one thread, and 1024 on 2 threads, in
 * microseconds a row, the median of `rounds` rounds, each round timing the inference
 * kernel mm_rows and then OpenBLAS (the forward products through mm, as training runs
 * them) on the same rows.
 * Prints one JSON object per line, as torch_mlp.py does:
 *   {"bench": "neurond 2thr", "metric": "test_acc", "value": 0.87, "unit": "fraction"}
 *
 * DESIGN. The sgemm limit is the throughput the eight GEMMs of one training step (forward
 * of the three dense layers, their three dW, and dinp of layers 2 and 3: 1.007 MFLOP per
 * sample) reach when run back to back with nothing else, at batch 128, two ways: split as
 * the engine splits a batch (each of the T threads runs all eight on its B/T rows with
 * OpenBLAS single-threaded), and as one OpenBLAS call per GEMM on all B rows with
 * OpenBLAS running T threads. gemm_efficiency is training throughput over the better of
 * the two: the share of the machine's GEMM speed the engine turns into training.
 */
#define _POSIX_C_SOURCE 200809L

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "idx.h"
#include "nn.h"
#include "nn_internal.h"                /* infer_predict: nn_predict through OpenBLAS */

/* OpenBLAS's own call (declared again in case cblas.h is another BLAS's header). */
void openblas_set_num_threads(int num_threads);

enum { BATCH = 128, NDENSE = 3 };
static const int widths[NDENSE + 1] = {784, 256, 128, 10};

static char tag[64];                     /* "neurond 2thr", set once in main */

#define BENCH_NAME "bench_fmnist"
#define BENCH_USAGE "bench_fmnist [threads=2] [epochs=5] [seed=0] | bench_fmnist predict [rounds=7]"
#include "bench.h"

/* ---- training ---------------------------------------------------------------------- */

struct epoch_log {
    double *wall;                        /* seconds per epoch, by our clock */
    double *engine;                      /* seconds per epoch, as the engine reports them */
    double *loss;
    double last;                         /* when the previous epoch ended */
};

static int on_epoch(void *ctx, const struct nn_report *r)
{
    struct epoch_log *log = ctx;
    double t = now();
    int e = r->epoch - 1;
    log->wall[e] = t - log->last;
    log->engine[e] = r->seconds;
    log->loss[e] = r->loss;
    fprintf(stderr, "epoch %d/%d: %.2f s, loss %.4f, accuracy %.4f\n", r->epoch, r->epochs,
            log->wall[e], r->loss, r->metric[NN_METRIC_ACCURACY]);
    log->last = now();                   /* the time spent here is not the next epoch's */
    return 0;
}

/* ---- inference --------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The q-th quantile of sorted v[0..n), interpolating linearly as numpy.percentile does. */
static double quantile(const double *v, int n, double q)
{
    double pos = q * (n - 1);
    int i = (int)pos;
    if (i >= n - 1)
        return v[n - 1];
    return v[i] + (pos - i) * (v[i + 1] - v[i]);
}

static void bench_inference(const struct nn_net *net, struct nn_pool *pool,
                            const float *x, int rows, int cols)
{
    enum { WARM = 200, CALLS = 2000, CHUNK = 1024, PASSES = 5 };
    struct nn_error err;
    int outs = nn_outputs(net);
    float *out = xmalloc((size_t)CHUNK * outs * sizeof(float));
    double *lat = xmalloc(CALLS * sizeof(double));

    /* Batch 1, no pool: the latency of one request served on its own thread. */
    for (int i = 0; i < WARM; i++)
        if (nn_predict(net, NULL, x + (size_t)(i % rows) * cols, 1, out, &err) < 0)
            die("nn_predict: %s %s", err.where, err.msg);
    for (int i = 0; i < CALLS; i++) {
        const float *row = x + (size_t)(i % rows) * cols;
        double t = now();
        int rc = nn_predict(net, NULL, row, 1, out, &err);
        lat[i] = (now() - t) * 1e6;
        if (rc < 0)
            die("nn_predict: %s %s", err.where, err.msg);
    }
    qsort(lat, CALLS, sizeof *lat, cmp_double);
    emit("infer_b1_latency_median_us", quantile(lat, CALLS, 0.5), "us", NULL);
    emit("infer_b1_latency_p99_us", quantile(lat, CALLS, 0.99), "us", NULL);

    /* Batch 1024 with the pool: one warm-up pass, then whole chunks only, as the peer. */
    for (int i = 0; i < rows; i += CHUNK) {
        int n = rows - i < CHUNK ? rows - i : CHUNK;
        if (nn_predict(net, pool, x + (size_t)i * cols, n, out, &err) < 0)
            die("nn_predict: %s %s", err.where, err.msg);
    }
    long count = 0;
    double t = now();
    for (int p = 0; p < PASSES; p++)
        for (int i = 0; i + CHUNK <= rows; i += CHUNK) {
            if (nn_predict(net, pool, x + (size_t)i * cols, CHUNK, out, &err) < 0)
                die("nn_predict: %s %s", err.where, err.msg);
            count += CHUNK;
        }
    emit("infer_b1024_samples_per_s", (double)count / (now() - t), "samples/s", NULL);
    free(lat);
    free(out);
}

/* ---- the sgemm limit --------------------------------------------------------------- */

/* The weights one step reads, shared by all threads as the engine shares them. */
struct gemm_weights {
    float *W[NDENSE];                    /* (OUT, IN) */
};

/* One thread's share of a step: rows rows of the batch and its own activations, deltas
 * and gradients (the engine keeps per-thread gradients and reduces them; the reduction
 * is not a GEMM and is left out). */
struct gemm_slice {
    const struct gemm_weights *w;
    int rows;
    const float *x;                      /* (rows, 784): training images */
    float *act[NDENSE];                  /* (rows, OUT) per layer */
    float *delta[NDENSE];                /* (rows, OUT) per layer */
    float *dW[NDENSE];                   /* (OUT, IN) */
    long steps;                          /* to run */
    pthread_barrier_t *start;
};

static float *filled(size_t n, unsigned *seed, float scale)
{
    float *p = xmalloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 1103515245u + 12345u;
        p[i] = scale * ((float)(*seed >> 8 & 0xffff) / 32768.0f - 1.0f);
    }
    return p;
}

static void slice_init(struct gemm_slice *s, const struct gemm_weights *w, const float *x,
                       int rows)
{
    unsigned seed = 12345u + (unsigned)rows;
    memset(s, 0, sizeof *s);
    s->w = w;
    s->rows = rows;
    s->x = x;
    for (int l = 0; l < NDENSE; l++) {
        size_t out = (size_t)rows * widths[l + 1];
        s->act[l] = filled(out, &seed, 0.5f);
        s->delta[l] = filled(out, &seed, 0.01f);
        s->dW[l] = filled((size_t)widths[l + 1] * widths[l], &seed, 0.0f);
    }
}

static void slice_free(struct gemm_slice *s)
{
    for (int l = 0; l < NDENSE; l++) {
        free(s->act[l]);
        free(s->delta[l]);
        free(s->dW[l]);
    }
}

/* The eight GEMMs of one step on s->rows rows, in the engine's layout:
 * forward  act[l] (B,OUT) = inp (B,IN) . W[l]^T
 * backward dW[l] (OUT,IN) += delta[l]^T (OUT,B) . inp (B,IN)
 *          delta[l-1] (B,IN) = delta[l] (B,OUT) . W[l] (OUT,IN)    for l = 2, 1 */
static void gemm_step(struct gemm_slice *s)
{
    int B = s->rows;
    for (int l = 0; l < NDENSE; l++) {
        const float *inp = l ? s->act[l - 1] : s->x;
        int in = widths[l], out = widths[l + 1];
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, out, in, 1.0f, inp, in,
                    s->w->W[l], in, 0.0f, s->act[l], out);
    }
    for (int l = NDENSE - 1; l >= 0; l--) {
        const float *inp = l ? s->act[l - 1] : s->x;
        int in = widths[l], out = widths[l + 1];
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, B, 1.0f, s->delta[l],
                    out, inp, in, 1.0f, s->dW[l], in);
        if (l > 0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, in, out, 1.0f,
                        s->delta[l], out, s->w->W[l], in, 0.0f, s->delta[l - 1], in);
    }
}

static void *slice_run(void *arg)
{
    struct gemm_slice *s = arg;
    pthread_barrier_wait(s->start);
    for (long i = 0; i < s->steps; i++)
        gemm_step(s);
    return NULL;
}

/* Runs steps steps on every slice, slice 0 on the calling thread and the others on
 * their own threads; returns the wall seconds from the common start to the last end. */
static double run_split(struct gemm_slice *s, int T, long steps)
{
    pthread_t *tid = xmalloc((size_t)T * sizeof *tid);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)T);
    for (int i = 0; i < T; i++) {
        s[i].steps = steps;
        s[i].start = &start;
    }
    for (int i = 1; i < T; i++)
        if (pthread_create(&tid[i], NULL, slice_run, &s[i]) != 0)
            die("cannot start a thread for the sgemm limit");
    pthread_barrier_wait(&start);
    double t = now();
    for (long i = 0; i < steps; i++)
        gemm_step(&s[0]);
    for (int i = 1; i < T; i++)
        pthread_join(tid[i], NULL);
    t = now() - t;
    pthread_barrier_destroy(&start);
    free(tid);
    return t;
}

/* Samples per second of the GEMMs alone over about `seconds`: T slices of B/T rows each
 * with single-threaded OpenBLAS (blas_threads 1), or one slice of B rows with OpenBLAS
 * on blas_threads threads (T 1). */
static double gemm_limit(const float *x, int T, int blas_threads, double seconds)
{
    struct gemm_weights w;
    unsigned seed = 7;
    for (int l = 0; l < NDENSE; l++)
        w.W[l] = filled((size_t)widths[l + 1] * widths[l], &seed, 0.05f);
    struct gemm_slice *s = xmalloc((size_t)T * sizeof *s);
    for (int i = 0, row = 0; i < T; i++) {
        int rows = BATCH / T + (i < BATCH % T);
        slice_init(&s[i], &w, x + (size_t)row * widths[0], rows);
        row += rows;
    }
    openblas_set_num_threads(blas_threads);

    run_split(s, T, 5);                                  /* warm caches and buffers */
    long steps = 20;
    double t = run_split(s, T, steps);
    steps = (long)((double)steps * seconds / (t > 1e-6 ? t : 1e-6)) + 1;
    t = run_split(s, T, steps);

    openblas_set_num_threads(1);                         /* as the engine keeps it */
    for (int i = 0; i < T; i++)
        slice_free(&s[i]);
    free(s);
    for (int l = 0; l < NDENSE; l++)
        free(w.W[l]);
    return (double)steps * BATCH / t;
}

static double step_flops_per_sample(void)
{
    double f = 0;
    for (int l = 0; l < NDENSE; l++) {
        double mn = (double)widths[l] * widths[l + 1];
        f += 2 * mn * (l > 0 ? 3 : 2);   /* forward, dW, and dinp except for layer 1 */
    }
    return f;
}

/* ---- predict mode ------------------------------------------------------------------ */

/* Microseconds a row of nn_predict at `rows` rows a call over about 8192 rows (at least
 * 16 calls), the calls walking through x (n rows of cols); sgemm 1 through OpenBLAS. */
static double predict_us_per_row(const struct nn_net *net, struct nn_pool *pool,
                                 const float *x, int n, int cols, int rows, int sgemm,
                                 float *out)
{
    struct nn_error err;
    int calls = 8192 / rows < 16 ? 16 : 8192 / rows;
    for (int c = 0; c < 2; c++)                          /* warm caches */
        if (infer_predict(net, pool, x, rows, out, sgemm, &err) < 0)
            die("nn_predict: %s %s", err.where, err.msg);
    double t = now();
    for (int c = 0; c < calls; c++) {
        int at = (int)(((long)c * rows) % (n - rows + 1));
        if (infer_predict(net, pool, x + (size_t)at * cols, rows, out, sgemm, &err) < 0)
            die("nn_predict: %s %s", err.where, err.msg);
    }
    return (now() - t) * 1e6 / ((double)calls * rows);
}

static int bench_predict(int rounds)
{
    enum { NCASE = 5, MAXR = 1024 };
    static const int case_rows[NCASE] = {1, 32, 256, 1024, 1024};
    static const int case_threads[NCASE] = {1, 1, 1, 1, 2};
    snprintf(tag, sizeof tag, "neurond predict");
    char msg[512];
    struct fmnist d;
    const float *x;
    int n;
    float *noise = NULL;
    if (fmnist_load(NULL, &d, msg, sizeof msg) == 0 && d.cols == widths[0] &&
        d.test_rows >= MAXR) {
        x = d.test_x, n = d.test_rows;
    } else {                           /* the speed does not depend on the pixels */
        fprintf(stderr, BENCH_NAME ": no Fashion-MNIST (%s); predicting noise\n", msg);
        unsigned seed = 3;
        n = 4 * MAXR;
        x = noise = filled((size_t)n * widths[0], &seed, 1.0f);
        fmnist_free(&d);
    }
    const struct nn_layer_spec layers[NDENSE] = {
        nn_dense(widths[1], NN_RELU), nn_dense(widths[2], NN_RELU),
        nn_dense(widths[3], NN_SOFTMAX),
    };
    const struct nn_spec spec = {.inputs = widths[0], .layers = layers, .nlayers = NDENSE,
                                 .loss = NN_CCE};
    struct nn_error err = {{0}, {0}};
    struct nn_rng rng;
    nn_rng_seed(&rng, 0);
    struct nn_net *net = nn_new(&spec, 0, &rng, &err);
    if (!net)
        die("nn_new: %s %s", err.where, err.msg);
    struct nn_pool *pool2 = nn_pool_new(2);
    if (!pool2)
        die("nn_pool_new(2) failed");
    float *out = xmalloc((size_t)MAXR * widths[NDENSE] * sizeof(float));
    double *us = xmalloc((size_t)NCASE * 2 * rounds * sizeof(double));
    for (int r = 0; r < rounds; r++)
        for (int c = 0; c < NCASE; c++)
            for (int sgemm = 0; sgemm < 2; sgemm++)
                us[((size_t)c * 2 + sgemm) * rounds + r] = predict_us_per_row(
                    net, case_threads[c] > 1 ? pool2 : NULL, x, n, widths[0], case_rows[c],
                    sgemm, out);
    for (int c = 0; c < NCASE; c++) {
        double med[2];
        for (int sgemm = 0; sgemm < 2; sgemm++) {
            double *v = us + ((size_t)c * 2 + sgemm) * rounds;
            qsort(v, rounds, sizeof *v, cmp_double);
            med[sgemm] = quantile(v, rounds, 0.5);
        }
        char name[64], extra[160];
        snprintf(name, sizeof name, "predict_b%d_%dthr_us_per_row", case_rows[c],
                 case_threads[c]);
        snprintf(extra, sizeof extra,
                 ", \"kernel\": \"mm_rows\", \"avx2\": %d, \"openblas_us_per_row\": %.4g, "
                 "\"ratio\": %.3g, \"rounds\": %d",
                 mm_rows_path(), med[1], med[0] / med[1], rounds);
        emit(name, med[0], "us", extra);
    }
    free(us);
    free(out);
    nn_pool_free(pool2);
    nn_free(net);
    free(noise);
    fmnist_free(&d);
    return 0;
}

/* ---- main -------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "predict") == 0) {
        if (argc > 3)
            die("usage: bench_fmnist predict [rounds=7]");
        return bench_predict(argc > 2 ? (int)parse_arg(argv[2], "rounds", 1, 1000) : 7);
    }
    if (argc > 4)
        die("usage: " BENCH_USAGE);
    int threads = argc > 1 ? (int)parse_arg(argv[1], "threads", 1, 256) : 2;
    int epochs = argc > 2 ? (int)parse_arg(argv[2], "epochs", 1, 1000) : 5;
    long seed = argc > 3 ? parse_arg(argv[3], "seed", 0, 2147483647L) : 0;
    snprintf(tag, sizeof tag, "neurond %dthr", threads);

    char msg[512];
    struct fmnist d;
    double t = now();
    if (fmnist_load(NULL, &d, msg, sizeof msg) < 0)
        die("%s\n(install Debian's dataset-fashion-mnist, or set FMNIST_DIR)", msg);
    emit("data_load_s", now() - t, "s", NULL);
    if (d.cols != widths[0] || d.classes > widths[NDENSE])
        die("the data has %d pixels and %d classes; this benchmark wants %d and at most %d",
            d.cols, d.classes, widths[0], widths[NDENSE]);

    const struct nn_layer_spec layers[NDENSE] = {
        nn_dense(widths[1], NN_RELU), nn_dense(widths[2], NN_RELU),
        nn_dense(widths[3], NN_SOFTMAX),
    };
    const struct nn_spec spec = {
        .inputs = widths[0], .layers = layers, .nlayers = NDENSE, .loss = NN_CCE,
        .metrics = 1u << NN_METRIC_ACCURACY,
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
        .engine = xmalloc((size_t)epochs * sizeof(double)),
        .loss = xmalloc((size_t)epochs * sizeof(double)),
    };
    const struct nn_data train = {d.train_x, d.train_y, d.train_rows, d.cols, 1};
    const struct nn_data test = {d.test_x, d.test_y, d.test_rows, d.cols, 1};
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
        char name[32], extra[96];
        snprintf(name, sizeof name, "epoch%d_s", e + 1);
        snprintf(extra, sizeof extra, ", \"engine_s\": %.6g, \"loss\": %.6g", log.engine[e],
                 log.loss[e]);
        emit(name, log.wall[e], "s", extra);
        later += e > 0 ? log.wall[e] : 0;
    }
    double train_sps = epochs >= 2 ? (double)d.train_rows * (epochs - 1) / later
                                    : d.train_rows / log.wall[0];
    emit(epochs >= 2 ? "train_samples_per_s_ep2-5" : "train_samples_per_s_ep1", train_sps,
         "samples/s", NULL);

    double loss, metric[NN_METRIC_COUNT];
    if (nn_evaluate(net, pool, &test, &loss, metric, &err) < 0)
        die("nn_evaluate: %s %s", err.where, err.msg);
    char extra[64];
    snprintf(extra, sizeof extra, ", \"loss\": %.6g", loss);
    emit("test_acc", metric[NN_METRIC_ACCURACY], "fraction", extra);

    bench_inference(net, pool, d.test_x, d.test_rows, d.cols);
    nn_pool_free(pool);                  /* its threads must not compete with the GEMMs */

    double flops = step_flops_per_sample();
    double split = gemm_limit(d.train_x, threads, 1, 1.0);
    double blas = threads > 1 ? gemm_limit(d.train_x, 1, threads, 1.0) : split;
    double best = split > blas ? split : blas;
    snprintf(extra, sizeof extra, ", \"gflops\": %.4g", split * flops * 1e-9);
    emit("sgemm_limit_split_samples_per_s", split, "samples/s", extra);
    snprintf(extra, sizeof extra, ", \"gflops\": %.4g", blas * flops * 1e-9);
    emit("sgemm_limit_blas_samples_per_s", blas, "samples/s", extra);
    snprintf(extra, sizeof extra, ", \"mflop_per_sample\": %.4g", flops * 1e-6);
    emit("sgemm_limit_samples_per_s", best, "samples/s", extra);
    emit("gemm_efficiency", train_sps / best, "fraction", NULL);

    double data_mb = (double)fmnist_bytes(&d) / (1 << 20);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    emit("peak_rss_mb", (double)ru.ru_maxrss / 1024.0, "MiB", NULL);
    emit("data_mb", data_mb, "MiB", NULL);
    emit("rss_target_mb", 1.25 * data_mb + 64, "MiB", NULL);

    free(log.wall);
    free(log.engine);
    free(log.loss);
    nn_free(net);
    fmnist_free(&d);
    return 0;
}
