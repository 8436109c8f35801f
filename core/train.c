/* train.c -- the training loop, batched prediction and evaluation.
 *
 * DESIGN. nn_train runs one pool job per epoch. Every thread takes its share of the rows
 * of each batch (gathered through the epoch's permutation) and runs forward, loss and
 * backward on them (layers with parameters share out their gradient work among the
 * threads, see nn_internal.h), and meets the others at a barrier; then each thread
 * applies the optimizer to its slice of the parameters, and a second barrier ends the
 * step. Thread 0 (the caller) also does
 * the bookkeeping: it draws the next dropout key, checks the cancel flag and calls the
 * progress callback between the two barriers. Everything the steps touch is allocated
 * before the first epoch; nothing is allocated inside a step.
 */
#include "nn_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PREDICT_CHUNK 256

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* ---- the workspace of a training run ---- */

struct ws {
    int B, nt;
    size_t ps;                /* doubles per thread in part */
    float **act, **dact;      /* nops + 1 entries; [0] is the input batch */
    float *scr;
    double *red;
    float **peak;             /* per thread, net->npeak floats */
    double *part;             /* per thread: [batch loss, epoch loss, metric sums, sq norms] */
    float *yb;
    char *mem;
};

#define P_BATCH 0
#define P_LOSS 1
#define P_METRIC 2
#define P_SQ (2 + NN_METRIC_COUNT)

static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

/* Allocates everything a training run over batches of B rows needs, in one block. */
static struct ws *ws_new(const struct nn_net *net, int B, int nt, int ycols, int want_dx)
{
    int nb = net->nops + 1;
    unsigned char *need = malloc(nb);
    struct ws *w = calloc(1, sizeof *w);
    if (!need || !w)
        goto fail;
    net_need_grad(net, want_dx, need);
    w->B = B;
    w->nt = nt;
    w->ps = (P_SQ + net->ntrain + 7) & ~(size_t)7;
    size_t bytes = 4 * align64(nb * sizeof(float *)) + align64(nt * sizeof(float *));
    for (int b = 0; b < nb; b++) {
        size_t width = b == 0 ? (size_t)net->spec.inputs : (size_t)net->ops[b - 1].out;
        bytes += align64((size_t)B * width * sizeof(float)) * (need[b] ? 2 : 1);
    }
    bytes += align64((size_t)B * net->scr_row * sizeof(float));
    bytes += align64(nt * net->nred * sizeof(double));
    bytes += nt * align64(net->npeak * sizeof(float));
    bytes += align64(nt * w->ps * sizeof(double));
    bytes += align64((size_t)B * ycols * sizeof(float));
    if (!(w->mem = aligned_alloc(64, align64(bytes))))
        goto fail;
    memset(w->mem, 0, align64(bytes));
    char *p = w->mem;
#define CARVE(ptr, n) (ptr = (void *)p, p += align64(n))
    CARVE(w->act, nb * sizeof(float *));
    CARVE(w->dact, nb * sizeof(float *));
    p += 2 * align64(nb * sizeof(float *));
    CARVE(w->peak, nt * sizeof(float *));
    for (int b = 0; b < nb; b++) {
        size_t width = b == 0 ? (size_t)net->spec.inputs : (size_t)net->ops[b - 1].out;
        CARVE(w->act[b], (size_t)B * width * sizeof(float));
        if (need[b])
            CARVE(w->dact[b], (size_t)B * width * sizeof(float));
    }
    CARVE(w->scr, (size_t)B * net->scr_row * sizeof(float));
    CARVE(w->red, nt * net->nred * sizeof(double));
    for (int t = 0; t < nt; t++)
        CARVE(w->peak[t], net->npeak * sizeof(float));
    CARVE(w->part, nt * w->ps * sizeof(double));
    CARVE(w->yb, (size_t)B * ycols * sizeof(float));
#undef CARVE
    free(need);
    return w;
fail:
    free(need);
    free(w);
    return NULL;
}

static void ws_free(struct ws *w)
{
    if (w) {
        free(w->mem);
        free(w);
    }
}

static struct run run_of(struct nn_net *net, struct ws *w, struct nn_pool *pool, int tid)
{
    return (struct run){.net = net, .params = net->params, .stats = net->stats,
                        .grad = net->grad, .act = w->act + 1, .dact = w->dact + 1,
                        .scr = w->scr, .red = w->red, .peak = w->peak[tid], .pool = pool,
                        .tid = tid, .nt = w->nt, .training = 1};
}

/* Forward, loss and backward over this thread's rows of a batch already in w->act[0]
 * and w->yb; returns the rows' loss sum and adds their metric sums into msum. */
static double step_rows(struct run *r, struct ws *w, int ycols, double *msum)
{
    const struct nn_net *net = r->net;
    const int K = nn_outputs(net), lb = net_loss_buffer(net);
    size_t at = (size_t)r->r0 * K;
    net_forward(r);
    float *dz = r->dact[lb] ? r->dact[lb] + at : NULL;   /* NULL: nothing to learn */
    double l = loss_rows(net, r->act[lb] + at, r->act[net->nops - 1] + at,
                         w->yb + (size_t)r->r0 * ycols, ycols, r->n, r->B, dz, msum);
    net_backward(r);
    return l;
}

/* ---- training ---- */

struct tjob {
    struct nn_net *net;
    struct nn_pool *pool;
    const struct nn_data *d;
    const struct nn_train_opts *o;
    struct nn_rng *rng;
    struct ws *w;
    const int *perm;
    size_t *lo;               /* thread t updates parameters [lo[t], lo[t+1]) */
    int nb;                   /* batches per epoch */
    int epoch;
    uint64_t step0;
    double t0;
    /* written by thread 0 before a barrier, read by all after it */
    uint64_t key;
    int stop;
    int done;                 /* batches done this epoch */
    int nan_batch;            /* 1-based batch whose loss was not finite, or 0 */
    double nan_loss;
    double *normsum;          /* per trainable op: Σ over steps of ‖g‖ */
    float *gn;                /* report arrays: grad norms, then dead fractions */
};

static void report_fill(const struct tjob *j, struct nn_report *rep, double *metric,
                        float *gn, float *dead)
{
    const struct nn_net *net = j->net;
    const struct ws *w = j->w;
    double loss = 0, msum[NN_METRIC_COUNT] = {0};
    int rows = j->done == j->nb ? j->d->rows : j->done * j->o->batch_size;
    for (int t = 0; t < w->nt; t++) {
        loss += w->part[t * w->ps + P_LOSS];
        for (int m = 0; m < NN_METRIC_COUNT; m++)
            msum[m] += w->part[t * w->ps + P_METRIC + m];
    }
    metric_finish(net, rows, msum, metric);
    for (int k = 0; k < net->ntrain; k++)
        gn[k] = j->done ? (float)(j->normsum[k] / j->done) : 0;
    for (int i = 0; i < net->nops; i++) {
        const struct op *o = &net->ops[i];
        if (o->relu < 0)
            continue;
        int ndead = 0;
        for (int u = 0; u < o->out; u++) {
            float mx = 0;
            for (int t = 0; t < w->nt; t++)
                mx = w->peak[t][o->pk + u] > mx ? w->peak[t][o->pk + u] : mx;
            ndead += mx == 0;
        }
        dead[o->relu] = (float)ndead / o->out;
    }
    *rep = (struct nn_report){
        .epoch = j->epoch + 1, .epochs = j->o->epochs, .batch = j->done, .batches = j->nb,
        .loss = rows ? loss / rows : NAN, .val_loss = NAN, .metrics = net->spec.metrics,
        .ngrad = net->ntrain, .grad_norm = gn, .grad_where = net->train_where,
        .ndead = net->nrelu, .dead = dead, .dead_where = net->relu_where,
        .seconds = now() - j->t0};
    for (int m = 0; m < NN_METRIC_COUNT; m++) {
        rep->metric[m] = metric[m];
        rep->val_metric[m] = NAN;
    }
}

/* Thread 0, between a step's two barriers: the progress callback, the cancel flag (after
 * the callback, which may set it), and the next step's dropout key. */
static void progress(struct tjob *j)
{
    const struct nn_train_opts *o = j->o;
    if (o->on_progress && o->progress_every > 0 && j->done % o->progress_every == 0 &&
        j->done < j->nb) {
        struct nn_report rep;
        double metric[NN_METRIC_COUNT];
        report_fill(j, &rep, metric, j->gn, j->gn + j->net->ntrain);
        if (o->on_progress(o->ctx, &rep))
            j->stop = 1;
    }
    if (o->cancel && *o->cancel)
        j->stop = 1;
    j->key = nn_rng_next(j->rng);
}

static void epoch_worker(void *arg, int tid)
{
    struct tjob *j = arg;
    struct nn_net *net = j->net;
    struct ws *w = j->w;
    const struct nn_data *d = j->d;
    const struct nn_train_opts *o = j->o;
    const int nt = w->nt, B = o->batch_size;
    double *part = w->part + (size_t)tid * w->ps, *sq = part + P_SQ;
    for (int b = 0; b < j->nb; b++) {
        int Bb = d->rows - b * B < B ? d->rows - b * B : B;
        struct run r = run_of(net, w, j->pool, tid);
        r.B = Bb;
        r.r0 = (int)((long)Bb * tid / nt);
        r.n = (int)((long)Bb * (tid + 1) / nt) - r.r0;
        r.key = j->key;
        for (int i = r.r0; i < r.r0 + r.n; i++) {
            size_t src = (size_t)j->perm[(size_t)b * B + i];
            memcpy(w->act[0] + (size_t)i * d->cols, d->x + src * d->cols,
                   d->cols * sizeof(float));
            memcpy(w->yb + (size_t)i * d->ycols, d->y + src * d->ycols,
                   d->ycols * sizeof(float));
        }
        part[P_BATCH] = step_rows(&r, w, d->ycols, part + P_METRIC);
        part[P_LOSS] += part[P_BATCH];
        pool_barrier(j->pool, tid);

        double total = 0;
        for (int t = 0; t < nt; t++)
            total += w->part[t * w->ps + P_BATCH];
        if (!isfinite(total)) {
            if (tid == 0) {
                j->nan_batch = b + 1;
                j->nan_loss = total;
            }
            break;
        }
        uint64_t step = j->step0 + b + 1;
        for (int k = 0; k < net->ntrain; k++)
            sq[k] = 0;
        if (o->clip_norm > 0) {
            optim_sumsq(net, j->lo[tid], j->lo[tid + 1], sq);
            pool_barrier(j->pool, tid);
            double s = 0;
            for (int t = 0; t < nt; t++)
                for (int k = 0; k < net->ntrain; k++)
                    s += w->part[t * w->ps + P_SQ + k];
            double norm = sqrt(s);
            float scale = norm > o->clip_norm ? (float)(o->clip_norm / norm) : 1.0f;
            optim_apply(net, &o->opt, j->lo[tid], j->lo[tid + 1], scale, step, NULL);
        } else {
            optim_apply(net, &o->opt, j->lo[tid], j->lo[tid + 1], 1, step, sq);
        }
        if (tid == 0) {
            j->done = b + 1;
            progress(j);
        }
        pool_barrier(j->pool, tid);
        if (tid == 0)
            for (int k = 0; k < net->ntrain; k++) {
                double s = 0;
                for (int t = 0; t < nt; t++)
                    s += w->part[t * w->ps + P_SQ + k];
                j->normsum[k] += sqrt(s);
            }
        if (j->stop)
            break;
    }
}

static int check_data(const struct nn_net *net, const struct nn_data *d, const char *what,
                      struct nn_error *err)
{
    if (!d->x || d->rows < 1)
        return nn_fail(err, what, "%s has no rows", what);
    if (d->cols != net->spec.inputs)
        return nn_fail(err, what, "%s has %d features but the network takes %d inputs", what,
                       d->cols, net->spec.inputs);
    return loss_check_labels(net, d, err);
}

int nn_train(struct nn_net *net, struct nn_pool *pool, const struct nn_data *train,
             const struct nn_data *val, const struct nn_train_opts *o, struct nn_rng *rng,
             struct nn_error *err)
{
    if (!train || !o || !rng)
        return nn_fail(err, "", "nn_train needs data, options and a random state");
    if (o->epochs < 1)
        return nn_fail(err, "/epochs", "epochs must be at least 1, not %d", o->epochs);
    if (o->batch_size < 1 || o->batch_size > 1 << 20)
        return nn_fail(err, "/batch_size", "batch_size must be between 1 and %d, not %d",
                       1 << 20, o->batch_size);
    if (!(o->clip_norm >= 0 && isfinite(o->clip_norm)))
        return nn_fail(err, "/clip_norm", "clip_norm must be 0 (off) or a positive number");
    if (check_data(net, train, "training data", err) < 0 ||
        (val && check_data(net, val, "validation data", err) < 0) ||
        optim_prepare(net, &o->opt, err) < 0)
        return -1;
    if (net->epochs_done >= o->epochs)
        return 0;

    const int nt = nn_pool_threads(pool);
    const int B = train->rows < o->batch_size ? train->rows : o->batch_size;
    struct ws *w = ws_new(net, B, nt, train->ycols, 0);
    int *perm = malloc((size_t)train->rows * sizeof *perm);
    size_t *lo = malloc((nt + 1) * sizeof *lo);
    double *normsum = calloc(net->ntrain + 1, sizeof *normsum);
    float *gn = calloc(net->ntrain + net->nrelu + 1, sizeof *gn);
    int rc = 0;
    if (!w || !perm || !lo || !normsum || !gn) {
        rc = nn_fail(err, "", "out of memory for a batch of %d rows", B);
        goto out;
    }
    for (int t = 0; t <= nt; t++)   /* slices aligned to 16 floats (a cache line) */
        lo[t] = t == nt ? net->nparams : (net->nparams * t / nt) & ~(size_t)15;

    struct tjob j = {.net = net, .pool = pool, .d = train, .o = o, .rng = rng, .w = w,
                     .perm = perm, .lo = lo, .normsum = normsum, .gn = gn,
                     .nb = (train->rows + o->batch_size - 1) / o->batch_size};
    while (net->epochs_done < o->epochs) {
        if (o->cancel && *o->cancel) {
            rc = 1;
            break;
        }
        /* each epoch's order depends only on the random state, so a resumed run
         * sees the same batches as an uninterrupted one */
        for (int i = 0; i < train->rows; i++)
            perm[i] = i;
        if (o->shuffle)
            for (int i = train->rows - 1; i > 0; i--) {
                int k = (int)(((unsigned __int128)nn_rng_next(rng) * (unsigned)(i + 1)) >> 64);
                int t = perm[i];
                perm[i] = perm[k];
                perm[k] = t;
            }
        for (int t = 0; t < nt; t++) {
            memset(w->part + (size_t)t * w->ps, 0, w->ps * sizeof(double));
            memset(w->peak[t], 0, net->npeak * sizeof(float));
        }
        memset(normsum, 0, net->ntrain * sizeof *normsum);
        j.epoch = net->epochs_done;
        j.step0 = net->step;
        j.t0 = now();
        j.key = nn_rng_next(rng);
        j.stop = j.done = j.nan_batch = 0;
        pool_run(pool, epoch_worker, &j);
        net->step += j.done;
        if (j.nan_batch) {
            rc = nn_fail(err, "", "the loss became %s at epoch %d, batch %d: try a lower "
                         "learning rate (now %g) or gradient clipping (clip_norm)",
                         isnan(j.nan_loss) ? "NaN" : "infinite", j.epoch + 1, j.nan_batch,
                         (double)o->opt.learning_rate);
            break;
        }
        if (j.done < j.nb) {   /* stopped inside the epoch */
            rc = 1;
            break;
        }
        net->epochs_done++;
        struct nn_report rep;
        double metric[NN_METRIC_COUNT];
        report_fill(&j, &rep, metric, gn, gn + net->ntrain);
        if (val && nn_evaluate(net, pool, val, &rep.val_loss, rep.val_metric, err) < 0) {
            rc = -1;
            break;
        }
        rep.seconds = now() - j.t0;
        if ((o->on_epoch && o->on_epoch(o->ctx, &rep)) || j.stop) {
            rc = 1;
            break;
        }
    }
out:
    ws_free(w);
    free(perm);
    free(lo);
    free(normsum);
    free(gn);
    return rc;
}

/* ---- prediction and evaluation ---- */

struct ijob {
    const struct nn_net *net;
    const float *x, *y;
    int rows, ycols, chunk, nt;
    float *out;
    float **act;              /* per thread nops + 1 pointers */
    double *part;             /* per thread: loss, metric sums (8 doubles) */
};

static void infer_worker(void *arg, int tid)
{
    struct ijob *j = arg;
    const struct nn_net *net = j->net;
    const int K = nn_outputs(net), lb = net_loss_buffer(net);
    float **act = j->act + (size_t)tid * (net->nops + 1);
    struct run r = {.net = net, .params = net->params, .stats = net->stats, .act = act + 1,
                    .tid = tid, .nt = j->nt};
    int r1 = (int)((long)j->rows * (tid + 1) / j->nt);
    for (int c = (int)((long)j->rows * tid / j->nt); c < r1; c += j->chunk) {
        r.n = r.B = r1 - c < j->chunk ? r1 - c : j->chunk;
        act[0] = (float *)(j->x + (size_t)c * net->spec.inputs);
        net_forward(&r);
        const float *out = act[net->nops];
        if (j->out)
            memcpy(j->out + (size_t)c * K, out, (size_t)r.n * K * sizeof(float));
        if (j->y)
            j->part[tid * 8] += loss_rows(net, act[lb + 1], out, j->y + (size_t)c * j->ycols,
                                          j->ycols, r.n, r.n, NULL, j->part + tid * 8 + 1);
    }
}

static int infer(const struct nn_net *net, struct nn_pool *pool, struct ijob *j,
                 struct nn_error *err)
{
    int nt = nn_pool_threads(pool), nb = net->nops + 1;
    j->net = net;
    j->nt = nt;
    j->chunk = j->rows / nt + 1 < PREDICT_CHUNK ? j->rows / nt + 1 : PREDICT_CHUNK;
    size_t per = 0;
    for (int i = 0; i < net->nops; i++)
        per += align64((size_t)j->chunk * net->ops[i].out * sizeof(float));
    char *mem = aligned_alloc(64, align64(nt * per) + 64);
    j->act = calloc((size_t)nt * nb, sizeof *j->act);
    j->part = calloc((size_t)nt * 8, sizeof *j->part);
    if (!mem || !j->act || !j->part) {
        free(mem);
        free(j->act);
        free(j->part);
        return nn_fail(err, "", "out of memory predicting %d rows", j->rows);
    }
    for (int t = 0; t < nt; t++) {
        char *p = mem + t * per;
        for (int i = 0; i < net->nops; i++) {
            j->act[(size_t)t * nb + i + 1] = (float *)p;
            p += align64((size_t)j->chunk * net->ops[i].out * sizeof(float));
        }
    }
    pool_run(pool, infer_worker, j);
    free(mem);
    free(j->act);
    return 0;
}

int nn_predict(const struct nn_net *net, struct nn_pool *pool, const float *x, int rows,
               float *out, struct nn_error *err)
{
    if (rows <= 0)
        return 0;
    struct ijob j = {.x = x, .rows = rows, .out = out};
    if (infer(net, pool, &j, err) < 0)
        return -1;
    free(j.part);
    return 0;
}

int nn_evaluate(const struct nn_net *net, struct nn_pool *pool, const struct nn_data *d,
                double *loss, double metric[NN_METRIC_COUNT], struct nn_error *err)
{
    if (check_data(net, d, "evaluation data", err) < 0)
        return -1;
    struct ijob j = {.x = d->x, .y = d->y, .rows = d->rows, .ycols = d->ycols};
    if (infer(net, pool, &j, err) < 0)
        return -1;
    double l = 0, msum[NN_METRIC_COUNT] = {0};
    for (int t = 0; t < j.nt; t++) {
        l += j.part[t * 8];
        for (int m = 0; m < NN_METRIC_COUNT; m++)
            msum[m] += j.part[t * 8 + 1 + m];
    }
    free(j.part);
    *loss = l / d->rows;
    metric_finish(net, d->rows, msum, metric);
    return 0;
}

/* ---- test hook ---- */

double net_loss_grad(struct nn_net *net, const float *x, const float *y, int ycols, int rows,
                     uint64_t key, float *dx)
{
    if (!net->grad)
        net->grad = calloc(net->nparams ? net->nparams : 1, sizeof(float));
    struct ws *w = ws_new(net, rows, 1, ycols, dx != NULL);
    if (!net->grad || !w) {
        ws_free(w);
        return NAN;
    }
    memcpy(w->act[0], x, (size_t)rows * net->spec.inputs * sizeof(float));
    memcpy(w->yb, y, (size_t)rows * ycols * sizeof(float));
    struct run r = run_of(net, w, NULL, 0);
    r.n = r.B = rows;
    r.key = key;
    double msum[NN_METRIC_COUNT] = {0};
    double l = step_rows(&r, w, ycols, msum);
    if (dx)
        memcpy(dx, w->dact[0], (size_t)rows * net->spec.inputs * sizeof(float));
    ws_free(w);
    return l / rows;
}
