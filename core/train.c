/* train.c -- the training loop, batched prediction and evaluation.
 *
 * DESIGN. nn_train runs one pool job per epoch; inside it every thread runs every step.
 * A step is a plan of phases (plan_build): gather the batch's rows, the forward phases,
 * the last ending with the loss, the backward phases, then the optimizer (a gradient-norm
 * phase first when clipping). Each phase is cut into tasks -- tiles of ops, weight
 * gradients of a block of units, optimizer chunks -- that threads take from the pool's
 * counter until none are left, then meet at a barrier. Partial sums (the loss, metrics,
 * gradient norms) are kept per tile or chunk and added up in their order, so the results
 * do not depend on which thread did what, nor on the number of threads. Thread 0 also
 * keeps the books at the start of each update phase: the epoch's sums, the progress
 * callback, the cancel flag and the next dropout key. Everything a step touches is
 * allocated before the first epoch; nothing is allocated inside a step.
 */
#include "nn_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PREDICT_CHUNK 128          /* rows per chunk of prediction and evaluation */
#define PREDICT_SEQ_BYTES (8 << 20) /* at most, of recurrent workspace per chunk */
#define ROW_TILE 32               /* rows per tile of a row phase */
#define COL_TILE 64               /* columns per tile of a column phase */
#define UNIT_TILE 64              /* output units per weight-gradient task */

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cdiv(int a, int b) { return (a + b - 1) / b; }

/* ---- the plan of a step: phases ---- */

enum phase_kind { PH_GATHER, PH_FORWARD, PH_BACKWARD, PH_NORM, PH_UPDATE };

struct phase {
    enum phase_kind kind;
    int rows;                 /* tiles are row chunks (else column chunks over all rows) */
    int width;                /* columns tiled by a column phase */
    int lo, hi;               /* ops lo..hi, run upwards forward and downwards backward */
    int tiles;                /* backward: tiles to run besides weight gradients */
    int grad_op;              /* backward: dense op whose weight gradient it computes, or -1 */
    int loss;                 /* forward: the loss ends each row tile */
};

struct plan {
    struct phase *ph;
    int n;
    struct ochunk *oc;        /* optimizer chunks */
    int noc;
    unsigned char *need;      /* need[b + 1]: buffer b has a gradient */
};

/* Can op o join phase p (see the DESIGN note in nn_internal.h)? */
static int joins(const struct op *o, const struct phase *p)
{
    return p && (o->shape == SHAPE_ELEMENTWISE || (o->shape == SHAPE_COLUMNS && !p->rows) ||
                 (o->shape == SHAPE_ROWS && p->rows));
}

static int runs_backward(const struct op *o, const unsigned char *need)
{
    return o->np || need[o->src + 1] || (o->id == OP_ADD && need[o->skip + 1]);
}

static void plan_free(struct plan *p)
{
    free(p->ph);
    free(p->oc);
    free(p->need);
}

/* Is op o computed in tiles of rows (all its columns at once)? A dense op over a
 * sequence is: a row of the batch holds all of its steps. */
static int row_tiled(const struct op *o)
{
    return o->shape == SHAPE_ROWS || (o->shape == SHAPE_DENSE && o->steps > 1);
}

/* Cuts a step into phases: gather, forward (the last ends with the loss), backward,
 * then the gradient norm (with clipping) and the update. An op whose weight gradient
 * needs what its row tiles wrote (a recurrent op: the gradients of its gates at every
 * step) gets a phase of its own for it, after a barrier. */
static int plan_build(const struct nn_net *net, int want_dx, struct plan *p)
{
    *p = (struct plan){0};
    p->ph = calloc(3 * (size_t)net->nops + 5, sizeof *p->ph);
    p->need = malloc(net->nops + 1);
    p->noc = optim_chunks(net, NULL, 0);
    p->oc = calloc(p->noc + 1, sizeof *p->oc);
    if (!p->ph || !p->need || !p->oc)
        return -1;
    optim_chunks(net, p->oc, p->noc);
    net_need_grad(net, want_dx, p->need);
    p->ph[p->n++] = (struct phase){.kind = PH_GATHER, .rows = 1, .grad_op = -1};
    struct phase *cur = NULL;
    for (int i = 0; i < net->nops; i++) {
        const struct op *o = &net->ops[i];
        if (o->shape != SHAPE_DENSE && joins(o, cur)) {
            cur->hi = i;
            continue;
        }
        cur = &p->ph[p->n++];
        *cur = (struct phase){.kind = PH_FORWARD, .rows = row_tiled(o), .width = o->out,
                              .lo = i, .hi = i, .grad_op = -1};
    }
    if (!cur->rows) {   /* the loss works on rows */
        cur = &p->ph[p->n++];
        *cur = (struct phase){.kind = PH_FORWARD, .rows = 1, .lo = net->nops,
                              .hi = net->nops - 1, .grad_op = -1};
    }
    cur->loss = 1;
    cur = NULL;
    for (int i = net->fused ? net->nops - 2 : net->nops - 1; i >= 0; i--) {
        const struct op *o = &net->ops[i];
        if (!runs_backward(o, p->need))
            continue;
        int dense = o->shape == SHAPE_DENSE;
        if (dense || !joins(o, cur) || !cur->tiles) {
            cur = &p->ph[p->n++];
            *cur = (struct phase){.kind = PH_BACKWARD, .rows = row_tiled(o),
                                  .width = dense ? o->in : o->out, .lo = i, .hi = i,
                                  .grad_op = dense ? i : -1,
                                  .tiles = !dense || p->need[o->src + 1]};
        } else {
            cur->lo = i;
        }
        if (!dense && op_kinds[o->id]->grad) {   /* tiles 0: nothing joins it */
            cur = &p->ph[p->n++];
            *cur = (struct phase){.kind = PH_BACKWARD, .lo = i, .hi = i, .grad_op = i};
        }
    }
    p->ph[p->n++] = (struct phase){.kind = PH_NORM, .grad_op = -1};
    p->ph[p->n++] = (struct phase){.kind = PH_UPDATE, .grad_op = -1};
    return 0;
}

/* Tiles of a phase over a batch of B rows, before its weight-gradient tasks. */
static int phase_tiles(const struct phase *ph, const struct plan *p, int B)
{
    switch (ph->kind) {
    case PH_NORM:
    case PH_UPDATE:
        return p->noc;
    case PH_BACKWARD:
        if (!ph->tiles)
            return 0;
        break;
    default:
        break;
    }
    return ph->rows ? cdiv(B, ROW_TILE) : cdiv(ph->width, COL_TILE);
}

static int phase_tasks(const struct nn_net *net, const struct phase *ph, const struct plan *p,
                       int B)
{
    int n = phase_tiles(ph, p, B);
    return ph->grad_op >= 0 ? n + cdiv(net->ops[ph->grad_op].gu, UNIT_TILE) : n;
}

/* ---- the workspace of a training run ---- */

struct ws {
    int B, ycols, nt;
    float **act, **dact;      /* nops + 1 entries; [0] is the input batch */
    float *scr;
    float *seq;               /* recurrent workspace: B * net->seq_row floats */
    double *red;
    float **peak;             /* per thread, net->npeak floats */
    double *lossc;            /* per row tile: loss sum */
    double *msumc;            /* per row tile: metric sums */
    double *sqc;              /* per optimizer chunk: Σ g² */
    float *yb;
    char *mem;
};

static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

/* Allocates everything steps over batches of up to B rows need, in one block. */
static struct ws *ws_new(const struct nn_net *net, const struct plan *p, int B, int nt,
                         int ycols)
{
    int nb = net->nops + 1, nrt = cdiv(B, ROW_TILE);
    struct ws *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->B = B;
    w->ycols = ycols;
    w->nt = nt;
    size_t bytes = 2 * align64(nb * sizeof(float *)) + align64(nt * sizeof(float *));
    for (int b = 0; b < nb; b++) {
        size_t width = b == 0 ? (size_t)nn_inputs(net) : (size_t)net->ops[b - 1].out;
        bytes += align64((size_t)B * width * sizeof(float)) * (p->need[b] ? 2 : 1);
    }
    bytes += align64((size_t)B * net->scr_row * sizeof(float));
    bytes += align64((size_t)B * net->seq_row * sizeof(float));
    bytes += align64(net->nred * sizeof(double));
    bytes += nt * align64(net->npeak * sizeof(float));
    bytes += align64(nrt * sizeof(double)) + align64(nrt * NN_METRIC_COUNT * sizeof(double));
    bytes += align64(p->noc * sizeof(double));
    bytes += align64((size_t)B * ycols * sizeof(float));
    if (!(w->mem = aligned_alloc(64, align64(bytes)))) {
        free(w);
        return NULL;
    }
    memset(w->mem, 0, align64(bytes));
    char *m = w->mem;
#define CARVE(ptr, n) (ptr = (void *)m, m += align64(n))
    CARVE(w->act, nb * sizeof(float *));
    CARVE(w->dact, nb * sizeof(float *));
    CARVE(w->peak, nt * sizeof(float *));
    for (int b = 0; b < nb; b++) {
        size_t width = b == 0 ? (size_t)nn_inputs(net) : (size_t)net->ops[b - 1].out;
        CARVE(w->act[b], (size_t)B * width * sizeof(float));
        if (p->need[b])
            CARVE(w->dact[b], (size_t)B * width * sizeof(float));
    }
    CARVE(w->scr, (size_t)B * net->scr_row * sizeof(float));
    CARVE(w->seq, (size_t)B * net->seq_row * sizeof(float));
    CARVE(w->red, net->nred * sizeof(double));
    for (int t = 0; t < nt; t++)
        CARVE(w->peak[t], net->npeak * sizeof(float));
    CARVE(w->lossc, nrt * sizeof(double));
    CARVE(w->msumc, nrt * NN_METRIC_COUNT * sizeof(double));
    CARVE(w->sqc, p->noc * sizeof(double));
    CARVE(w->yb, (size_t)B * ycols * sizeof(float));
#undef CARVE
    return w;
}

static void ws_free(struct ws *w)
{
    if (w) {
        free(w->mem);
        free(w);
    }
}

/* ---- one step ---- */

struct step {
    struct nn_net *net;
    struct nn_pool *pool;
    const struct plan *plan;
    struct ws *w;
    const struct nn_data *d;  /* rows come from d through perm (NULL: in order) */
    const int *perm;
    size_t first;             /* index in perm of the batch's first row */
    int B;                    /* rows in this batch */
    uint64_t key;
    const struct nn_optimizer *opt;  /* NULL: no update */
    float clip;
    uint64_t t;               /* 1-based optimizer step */
    void (*bookkeeping)(void *ctx);  /* thread 0, at the start of the update phase */
    void *ctx;
};

static void run_task(struct step *s, struct run *r, const struct phase *ph, int t, float scale)
{
    const struct nn_net *net = s->net;
    struct ws *w = s->w;
    const int B = s->B, ntiles = phase_tiles(ph, s->plan, B);
    struct tile tl = {0, B, 0, 0};
    if (ph->rows) {
        tl.r0 = t * ROW_TILE;
        tl.r1 = tl.r0 + ROW_TILE < B ? tl.r0 + ROW_TILE : B;
    } else {
        tl.c0 = t * COL_TILE;
        tl.c1 = tl.c0 + COL_TILE < ph->width ? tl.c0 + COL_TILE : ph->width;
    }
    switch (ph->kind) {
    case PH_GATHER: {
        const struct nn_data *d = s->d;
        for (int i = tl.r0; i < tl.r1; i++) {
            size_t src = s->perm ? (size_t)s->perm[s->first + i] : s->first + i;
            memcpy(w->act[0] + (size_t)i * d->cols, d->x + src * d->cols,
                   d->cols * sizeof(float));
            memcpy(w->yb + (size_t)i * d->ycols, d->y + src * d->ycols,
                   d->ycols * sizeof(float));
        }
        break;
    }
    case PH_FORWARD:
        for (int i = ph->lo; i <= ph->hi; i++) {
            const struct op *o = &net->ops[i];
            struct tile ot = tl;
            if (ph->rows)
                ot.c1 = o->out;
            op_kinds[o->id]->forward(o, r, ot);
        }
        if (ph->loss) {
            const int K = nn_outputs(net), lb = net_loss_buffer(net);
            size_t at = (size_t)tl.r0 * K;
            float *dz = r->dact[lb] ? r->dact[lb] + at : NULL;   /* NULL: nothing to learn */
            double *ms = w->msumc + (size_t)t * NN_METRIC_COUNT;
            for (int m = 0; m < NN_METRIC_COUNT; m++)
                ms[m] = 0;
            w->lossc[t] = loss_rows(net, r->act[lb] + at, r->act[net->nops - 1] + at,
                                    w->yb + (size_t)tl.r0 * w->ycols, w->ycols, tl.r1 - tl.r0,
                                    B, dz, ms);
        }
        break;
    case PH_BACKWARD:
        if (t >= ntiles) {
            const struct op *o = &net->ops[ph->grad_op];
            int u0 = (t - ntiles) * UNIT_TILE;
            op_kinds[o->id]->grad(o, r, u0, u0 + UNIT_TILE < o->gu ? u0 + UNIT_TILE : o->gu);
            break;
        }
        for (int i = ph->hi; i >= ph->lo; i--) {
            const struct op *o = &net->ops[i];
            struct tile ot = tl;
            if (ph->rows)
                ot.c1 = o->out;
            if (runs_backward(o, s->plan->need))
                op_kinds[o->id]->backward(o, r, ot);
        }
        break;
    case PH_NORM:
        w->sqc[t] = optim_sumsq(net, &s->plan->oc[t]);
        break;
    case PH_UPDATE:
        if (!(s->clip > 0))
            w->sqc[t] = optim_sumsq(net, &s->plan->oc[t]);
        optim_apply(s->net, s->opt, &s->plan->oc[t], scale, s->t);
        break;
    }
}

/* Runs a step's phases on this thread: forward, loss, backward, and, when s->opt is set,
 * the optimizer. Returns the batch's loss sum, the same on every thread; when it is not
 * finite the step stops before the optimizer. */
static double run_step(struct step *s, int tid, struct grab *g)
{
    const struct plan *p = s->plan;
    struct ws *w = s->w;
    struct run r = {.net = s->net, .params = s->net->params, .stats = s->net->stats,
                    .grad = s->net->grad, .act = w->act + 1, .dact = w->dact + 1, .scr = w->scr,
                    .seq = w->seq, .red = w->red, .peak = w->peak[tid], .training = 1,
                    .B = s->B, .key = s->key};
    double loss = NAN;
    float scale = 1;
    for (int k = 0; k < p->n; k++) {
        const struct phase *ph = &p->ph[k];
        if (ph->kind == PH_NORM && !(s->opt && s->clip > 0))
            continue;
        if (ph->kind == PH_UPDATE) {
            if (!s->opt)
                break;
            if (tid == 0 && s->bookkeeping)
                s->bookkeeping(s->ctx);
            if (s->clip > 0) {   /* every thread adds the chunks up in the same order */
                double sq = 0;
                for (int c = 0; c < p->noc; c++)
                    sq += w->sqc[c];
                scale = sqrt(sq) > s->clip ? (float)(s->clip / sqrt(sq)) : 1.0f;
            }
        }
        int n = phase_tasks(s->net, ph, p, s->B), t;
        while ((t = pool_grab(s->pool, g, n)) >= 0)
            run_task(s, &r, ph, t, scale);
        pool_barrier(s->pool, tid);
        if (ph->loss) {
            loss = 0;
            for (int c = 0; c < cdiv(s->B, ROW_TILE); c++)
                loss += w->lossc[c];
            if (!isfinite(loss))
                break;
        }
    }
    return loss;
}

/* ---- gradients over time ----
 * Per recurrent op, the norm of ∂L/∂h_t at its sampled steps (recur_samples), summed over
 * the epoch's batches, and what a report shows of them. */
struct timeacc {
    int n;                        /* recurrent ops */
    int total;                    /* their sampled steps */
    const struct op **op;
    struct nn_time_norms *tn;     /* tn[i].step and .norm point into step and mean */
    double *sum;
    float *mean;
    int *step;
};

static void timeacc_free(struct timeacc *a)
{
    if (a) {
        free(a->op), free(a->tn), free(a->sum), free(a->mean), free(a->step);
        free(a);
    }
}

static struct timeacc *timeacc_new(const struct nn_net *net)
{
    struct timeacc *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    int total = 0;
    for (int i = 0; i < net->nops; i++)
        if (net->ops[i].id == OP_RECUR) {
            a->n++;
            total += recur_samples(net->ops[i].steps);
        }
    a->total = total;
    a->op = calloc((size_t)a->n + 1, sizeof *a->op);
    a->tn = calloc((size_t)a->n + 1, sizeof *a->tn);
    a->sum = calloc((size_t)total + 1, sizeof *a->sum);
    a->mean = calloc((size_t)total + 1, sizeof *a->mean);
    a->step = calloc((size_t)total + 1, sizeof *a->step);
    if (!a->op || !a->tn || !a->sum || !a->mean || !a->step) {
        timeacc_free(a);
        return NULL;
    }
    for (int i = 0, r = 0, at = 0; i < net->nops; i++) {
        const struct op *o = &net->ops[i];
        if (o->id != OP_RECUR)
            continue;
        int K = recur_samples(o->steps);
        for (int k = 0; k < K; k++)
            a->step[at + k] = recur_sample_step(o->steps, k) + 1;
        a->op[r] = o;
        a->tn[r++] = (struct nn_time_norms){net->where[o->layer], K, a->step + at, a->mean + at};
        at += K;
    }
    return a;
}

/* After a step of B rows: each recurrent op's norms into the sums. */
static void timeacc_add(struct timeacc *a, const struct ws *w, int B)
{
    for (int r = 0; r < a->n; r++)
        recur_time_norms(a->op[r], w->seq, B, a->sum + (a->tn[r].step - a->step));
}

/* The means over `done` batches, into the report's arrays. */
static void timeacc_mean(struct timeacc *a, int done)
{
    for (int r = 0; r < a->n; r++) {
        size_t at = (size_t)(a->tn[r].step - a->step);
        for (int k = 0; k < a->tn[r].n; k++)
            a->mean[at + k] = done ? (float)(a->sum[at + k] / done) : 0;
    }
}

/* ---- training ---- */

struct tjob {
    struct nn_net *net;
    struct nn_pool *pool;
    const struct nn_data *d;
    const struct nn_train_opts *o;
    struct nn_rng *rng;
    const struct plan *plan;
    struct ws *w;
    const int *perm;
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
    double loss, msum[NN_METRIC_COUNT];  /* sums over the epoch's rows so far */
    double *normsum;          /* per trainable op: Σ over steps of ‖g‖ */
    float *gn;                /* report arrays: grad norms, then dead fractions */
    struct timeacc *ta;       /* the recurrent ops' ‖∂L/∂h_t‖ */
};

static void report_fill(const struct tjob *j, struct nn_report *rep, double *metric,
                        float *gn, float *dead)
{
    const struct nn_net *net = j->net;
    const struct ws *w = j->w;
    int rows = j->done == j->nb ? j->d->rows : j->done * j->o->batch_size;
    metric_finish(net, rows, j->msum, metric);
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
    timeacc_mean(j->ta, j->done);
    *rep = (struct nn_report){
        .epoch = j->epoch + 1, .epochs = j->o->epochs, .batch = j->done, .batches = j->nb,
        .loss = rows ? j->loss / rows : NAN, .val_loss = NAN, .metrics = net->spec.metrics,
        .ngrad = net->ntrain, .grad_norm = gn, .grad_where = net->train_where,
        .ndead = net->nrelu, .dead = dead, .dead_where = net->relu_where,
        .ntime = j->ta->n, .time_norms = j->ta->tn, .seconds = now() - j->t0};
    for (int m = 0; m < NN_METRIC_COUNT; m++) {
        rep->metric[m] = metric[m];
        rep->val_metric[m] = NAN;
    }
}

/* Thread 0, at the start of a step's update phase: the step's loss and metrics into the
 * epoch's sums, the progress callback, the cancel flag (after the callback, which may set
 * it), and the next step's dropout key. */
static void bookkeeping(void *arg)
{
    struct tjob *j = arg;
    const struct nn_train_opts *o = j->o;
    const struct ws *w = j->w;
    for (int c = 0; c < cdiv(w->B, ROW_TILE); c++) {
        j->loss += w->lossc[c];
        for (int m = 0; m < NN_METRIC_COUNT; m++)
            j->msum[m] += w->msumc[(size_t)c * NN_METRIC_COUNT + m];
    }
    j->done++;
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

/* Thread 0, after a step of B rows: the per-layer gradient norms of the step, and the
 * recurrent layers' over time. */
static void add_norms(struct tjob *j, int B)
{
    const struct plan *p = j->plan;
    for (int k = 0, c = 0; k < j->net->ntrain; k++) {
        double s = 0;
        for (; c < p->noc && p->oc[c].train == k; c++)
            s += j->w->sqc[c];
        j->normsum[k] += sqrt(s);
    }
    timeacc_add(j->ta, j->w, B);
}

static void epoch_worker(void *arg, int tid)
{
    struct tjob *j = arg;
    const struct nn_train_opts *o = j->o;
    struct grab g = {0};
    for (int b = 0; b < j->nb; b++) {
        int left = j->d->rows - b * o->batch_size;
        struct step s = {.net = j->net, .pool = j->pool, .plan = j->plan, .w = j->w,
                         .d = j->d, .perm = j->perm, .first = (size_t)b * o->batch_size,
                         .B = left < o->batch_size ? left : o->batch_size, .key = j->key,
                         .opt = &o->opt, .clip = o->clip_norm, .t = j->step0 + b + 1,
                         .bookkeeping = bookkeeping, .ctx = j};
        double loss = run_step(&s, tid, &g);
        if (!isfinite(loss)) {
            if (tid == 0) {
                j->nan_batch = b + 1;
                j->nan_loss = loss;
            }
            break;
        }
        if (tid == 0)
            add_norms(j, s.B);
        if (j->stop)
            break;
    }
}

/* ---- the options' fields ---- */

static const struct nn_field train_fields[] = {
    {.name = "epochs", .type = NN_FT_INT, .offset = offsetof(struct nn_train_opts, epochs),
     .lo = 1, .hi = 100000, .def = 10, .about = "passes over the training data"},
    {.name = "batch_size", .type = NN_FT_INT, .offset = offsetof(struct nn_train_opts, batch_size),
     .lo = 1, .hi = 65536, .def = 32, .about = "rows per step"},
    {.name = "clip_norm", .type = NN_FT_FLOAT, .offset = offsetof(struct nn_train_opts, clip_norm),
     .lo = 0, .hi = 1e30, .def = 0,
     .about = "the largest global L2 norm of a step's gradient (0: no clipping)"},
    {.name = "shuffle", .type = NN_FT_BOOL, .offset = offsetof(struct nn_train_opts, shuffle),
     .def = 1, .about = "whether the rows are reshuffled every epoch"},
};
const struct nn_kind_desc nn_train_desc = {"training", train_fields,
                                           (int)(sizeof train_fields / sizeof *train_fields)};

int nn_train_opts_check_all(const struct nn_train_opts *o, struct nn_faults *f)
{
    const int before = f->n;
    fields_check(train_fields, nn_train_desc.nfields, o, "", f);
    nn_opt_check_all(&o->opt, f);
    return f->n > before ? -1 : 0;
}

static int check_data(const struct nn_net *net, const struct nn_data *d, const char *what,
                      struct nn_error *err)
{
    if (!d->x || d->rows < 1)
        return nn_fail(err, what, "%s has no rows", what);
    if (d->cols != nn_inputs(net))
        return nn_fail(err, what, "%s has %d features but the network takes %d inputs", what,
                       d->cols, nn_inputs(net));
    return loss_check_labels(net, d, err);
}

int nn_train(struct nn_net *net, struct nn_pool *pool, const struct nn_data *train,
             const struct nn_data *val, const struct nn_train_opts *o, struct nn_rng *rng,
             struct nn_error *err)
{
    if (!train || !o || !rng)
        return nn_fail(err, "", "nn_train needs data, options and a random state");
    struct first_fault ff;
    if (fields_check(train_fields, nn_train_desc.nfields, o, "", first_fault(&ff, err)) > 0 ||
        check_data(net, train, "training data", err) < 0 ||
        (val && check_data(net, val, "validation data", err) < 0) ||
        optim_prepare(net, &o->opt, err) < 0)
        return -1;
    if (net->epochs_done >= o->epochs)
        return NN_TRAINED;

    const int nt = nn_pool_threads(pool);
    const int B = train->rows < o->batch_size ? train->rows : o->batch_size;
    struct plan plan;
    int planned = plan_build(net, 0, &plan) == 0;
    struct ws *w = planned ? ws_new(net, &plan, B, nt, train->ycols) : NULL;
    int *perm = malloc((size_t)train->rows * sizeof *perm);
    double *normsum = calloc(net->ntrain + 1, sizeof *normsum);
    float *gn = calloc(net->ntrain + net->nrelu + 1, sizeof *gn);
    struct timeacc *ta = timeacc_new(net);
    int rc = NN_TRAINED;
    if (!w || !perm || !normsum || !gn || !ta) {
        rc = nn_fail(err, "", "out of memory for a batch of %d rows", B);
        goto out;
    }

    struct tjob j = {.net = net, .pool = pool, .d = train, .o = o, .rng = rng, .plan = &plan,
                     .w = w, .perm = perm, .normsum = normsum, .gn = gn, .ta = ta,
                     .nb = (train->rows + o->batch_size - 1) / o->batch_size};
    while (net->epochs_done < o->epochs) {
        if (o->cancel && *o->cancel) {
            rc = NN_STOPPED;
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
        for (int t = 0; t < nt; t++)
            memset(w->peak[t], 0, net->npeak * sizeof(float));
        memset(normsum, 0, net->ntrain * sizeof *normsum);
        memset(ta->sum, 0, ta->total * sizeof *ta->sum);
        j.loss = 0;
        memset(j.msum, 0, sizeof j.msum);
        j.epoch = net->epochs_done;
        j.step0 = net->step;
        j.t0 = now();
        j.key = nn_rng_next(rng);
        j.stop = j.done = j.nan_batch = 0;
        pool_run(pool, epoch_worker, &j);
        net->step += j.done;
        if (j.nan_batch) {
            rc = nn_fail(err, "", "the loss diverged (it became %s at epoch %d, batch %d): "
                         "try a lower learning rate (now %g) or gradient clipping (clip_norm)",
                         isnan(j.nan_loss) ? "NaN" : "infinite", j.epoch + 1, j.nan_batch,
                         (double)o->opt.learning_rate);
            break;
        }
        if (j.done < j.nb) {   /* stopped inside the epoch */
            rc = NN_STOPPED;
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
            rc = NN_STOPPED;
            break;
        }
    }
out:
    ws_free(w);
    plan_free(&plan);
    free(perm);
    free(normsum);
    free(gn);
    timeacc_free(ta);
    return rc;
}

/* ---- prediction and evaluation ----
 *
 * The rows are cut into chunks of PREDICT_CHUNK rows (fewer only for the last; fewer for
 * long sequences too: predict_chunk), whatever the number of threads, and the threads
 * take the chunks from the pool's counter. Each chunk's loss and metric sums are kept
 * apart and added up in the chunks' order, so outputs, losses and metrics are the same
 * bits on any number of threads. */

struct ijob {
    const struct nn_net *net;
    struct nn_pool *pool;
    const float *x, *y;
    int rows, ycols, chunk, nchunks;
    int sgemm;                /* struct run's */
    float *out;
    float **act;              /* per thread nops + 1 pointers */
    char *mem;                /* per thread: its recurrent workspace, then activations */
    size_t per;
    double *part;             /* per chunk: loss, metric sums (PART doubles) */
};
#define PART (1 + NN_METRIC_COUNT)

static void infer_worker(void *arg, int tid)
{
    struct ijob *j = arg;
    const struct nn_net *net = j->net;
    const int K = nn_outputs(net), lb = net_loss_buffer(net);
    float **act = j->act + (size_t)tid * (net->nops + 1);
    /* inference only reads the network (stats is not written when not training) */
    struct run r = {.net = net, .params = net->params, .stats = (float *)net->stats,
                    .act = act + 1, .seq = (float *)(j->mem + (size_t)tid * j->per),
                    .sgemm = j->sgemm};
    struct grab g = {0};
    int k;
    while ((k = pool_grab(j->pool, &g, j->nchunks)) >= 0) {
        int c = k * j->chunk, n = j->rows - c < j->chunk ? j->rows - c : j->chunk;
        r.B = n;
        act[0] = (float *)(j->x + (size_t)c * nn_inputs(net));
        net_forward_rows(&r, 0, n);
        const float *out = act[net->nops];
        if (j->out)
            memcpy(j->out + (size_t)c * K, out, (size_t)n * K * sizeof(float));
        if (j->y)
            j->part[(size_t)k * PART] =
                loss_rows(net, act[lb + 1], out, j->y + (size_t)c * j->ycols, j->ycols, n, n,
                          NULL, j->part + (size_t)k * PART + 1);
    }
}

/* Rows per chunk: PREDICT_CHUNK, fewer for a network whose recurrent layers would need
 * more than PREDICT_SEQ_BYTES of workspace for them (every step of every row is kept). */
static int predict_chunk(const struct nn_net *net)
{
    size_t per_row = net->seq_row * sizeof(float);
    if (per_row == 0 || per_row * PREDICT_CHUNK <= PREDICT_SEQ_BYTES)
        return PREDICT_CHUNK;
    return per_row >= PREDICT_SEQ_BYTES ? 1 : (int)(PREDICT_SEQ_BYTES / per_row);
}

static int infer(const struct nn_net *net, struct nn_pool *pool, struct ijob *j,
                 struct nn_error *err)
{
    int nt = nn_pool_threads(pool), nb = net->nops + 1;
    j->net = net;
    j->pool = pool;
    j->chunk = predict_chunk(net);
    j->chunk = j->rows < j->chunk ? j->rows : j->chunk;
    j->nchunks = cdiv(j->rows, j->chunk);
    size_t per = align64((size_t)j->chunk * net->seq_row * sizeof(float));
    for (int i = 0; i < net->nops; i++)
        per += align64((size_t)j->chunk * net->ops[i].out * sizeof(float));
    char *mem = aligned_alloc(64, align64(nt * per) + 64);
    j->act = calloc((size_t)nt * nb, sizeof *j->act);
    j->part = calloc((size_t)j->nchunks * PART, sizeof *j->part);
    if (!mem || !j->act || !j->part) {
        free(mem);
        free(j->act);
        free(j->part);
        return nn_fail(err, "", "out of memory predicting %d rows", j->rows);
    }
    for (int t = 0; t < nt; t++) {
        char *p = mem + t * per + align64((size_t)j->chunk * net->seq_row * sizeof(float));
        for (int i = 0; i < net->nops; i++) {
            j->act[(size_t)t * nb + i + 1] = (float *)p;
            p += align64((size_t)j->chunk * net->ops[i].out * sizeof(float));
        }
    }
    j->mem = mem;
    j->per = per;
    pool_run(pool, infer_worker, j);
    free(mem);
    free(j->act);
    return 0;
}

int infer_predict(const struct nn_net *net, struct nn_pool *pool, const float *x, int rows,
                  float *out, int sgemm, struct nn_error *err)
{
    if (rows <= 0)
        return 0;
    struct ijob j = {.x = x, .rows = rows, .out = out, .sgemm = sgemm};
    if (infer(net, pool, &j, err) < 0)
        return -1;
    free(j.part);
    return 0;
}

int nn_predict(const struct nn_net *net, struct nn_pool *pool, const float *x, int rows,
               float *out, struct nn_error *err)
{
    return infer_predict(net, pool, x, rows, out, 0, err);
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
    for (int k = 0; k < j.nchunks; k++) {   /* in the chunks' order, on any thread count */
        l += j.part[(size_t)k * PART];
        for (int m = 0; m < NN_METRIC_COUNT; m++)
            msum[m] += j.part[(size_t)k * PART + 1 + m];
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
    struct plan plan;
    int planned = plan_build(net, dx != NULL, &plan) == 0;
    struct ws *w = planned ? ws_new(net, &plan, rows, 1, ycols) : NULL;
    double loss = NAN;
    if (net->grad && w) {
        struct nn_data d = {.x = x, .y = y, .rows = rows, .cols = nn_inputs(net),
                            .ycols = ycols};
        struct step s = {.net = net, .plan = &plan, .w = w, .d = &d, .B = rows, .key = key};
        struct grab g = {0};
        loss = run_step(&s, 0, &g) / rows;
        if (dx)
            memcpy(dx, w->dact[0], (size_t)rows * nn_inputs(net) * sizeof(float));
    }
    ws_free(w);
    plan_free(&plan);
    return loss;
}
