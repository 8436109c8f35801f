/* trainer.c -- running one job (domain.h): its datasets loaded and split, inputs
 * standardized, the network built or resumed from its checkpoint, trained by the engine
 * with early stopping, each epoch's row and checkpoint committed, and the model it
 * leaves stored with the job's final state.
 *
 * DESIGN. After every epoch the row of metrics and a checkpoint (weights, optimizer and
 * random state, the early stopping state) go in one transaction, so a job whose process
 * died resumes at its next epoch from exactly where it was. A model, and early stopping's
 * best weights that become one, keep only what prediction needs (nn_save_model). The
 * events (the epoch, the progress) are told to whoever runs the trainer after the write is
 * committed, so that a follower who missed one finds it in the database. A cancel or a
 * stop is a flag the engine checks before every batch.
 *
 * A job whose writes find the disk full (or the database file gone) is not failed: it
 * goes back to the queue keeping its last stored checkpoint, its error saying why, and
 * resumes from there (no job is claimed while the disk is full). One that had trained
 * every epoch, or that early stopping had ended (its checkpoint says so), then only
 * stores its model.
 *
 * A job whose writes find the database out of reach (PostgreSQL down or restarting:
 * STORE_UNAVAILABLE) pauses where it is, everything kept in memory, and tries the same
 * write again after a back-off (0.5 s, doubling to 5 s) until the database takes it,
 * then goes on (again_later); the service stopping ends the wait (the job resumes from
 * its last committed checkpoint, on the next start or on another node), and so does a
 * cancel, but for the job's final write, which waits for the database whatever comes.
 * Progress writes are skipped meanwhile. The log says once when a job pauses and once
 * when it goes on.
 *
 * A job whose loss diverges fails, but keeps what its ended epochs learned as its model:
 * early stopping's best epoch with restore_best, else the last epoch's checkpoint (the
 * weights in memory are those of a step that had already gone wrong); its error says
 * which model and which epoch.
 */
#include "domain.h"

#include "ops/ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct run_ctx {
    const struct trainer_events *ev;
    const char *id;
    const _Atomic int *cancel, *stopping;   /* the job's flags (trainer_run) */
    int attempt;               /* the claim the writes are fenced by */
    int fenced;                /* a write was refused: the job is another attempt's */
    const struct job_opts *o;
    struct nn_net *net;
    struct nn_rng *rng;
    int rows;                  /* training rows */
    double t_start, t_progress;
    double epoch_seconds;      /* sum over the epochs of this run */
    int epochs_run;
    /* early stopping */
    double best;
    int best_epoch, wait, stopped_early;
    unsigned char *best_buf;
    size_t best_len;
    int best_changed;          /* best_buf is new since the last checkpoint */
    int save_rc;               /* STORE_OK, or why an epoch's checkpoint was not stored */
    double label_s;            /* the labels' deviation when they were standardized, else 0 */
};

/* ---- the database out of reach ---- */

#define PAUSE_FIRST 0.5        /* seconds before a write that found the database away is
                                  tried again, doubling up to PAUSE_MOST */
#define PAUSE_MOST 5.0

/* One write (or read) of a job waiting for the database, tried as
 *     struct waiting w = {.c = c, .what = "its checkpoint"};
 *     do rc = store_...(...); while (again_later(&w, rc, 1));  */
struct waiting {
    const struct run_ctx *c;
    const char *what;          /* what is waiting, for the log */
    double pause, since;       /* the next pause; when the wait began (0: not waiting) */
    int last;                  /* stopped or cancelled: the call was tried a last time */
};

/* Whether to try again a call that answered rc: 1 after a pause when rc is
 * STORE_UNAVAILABLE, unless the service stops meanwhile or, when cancellable, the job is
 * cancelled: then 1 at once, for a last try, and 0 after it (rc stays the caller's). Any
 * other rc ends the wait (STORE_FENCED too: the job is no longer this node's). Logs once
 * when the job pauses and once when it goes on. */
static int again_later(struct waiting *w, int rc, int cancellable)
{
    const struct run_ctx *c = w->c;
    if (rc != STORE_UNAVAILABLE) {
        if (w->since > 0)
            fprintf(stderr, "neurond: job %s: the database is back after %.1f s (%s); the "
                    "job goes on\n", c->id, clock_s() - w->since, w->what);
        return 0;
    }
    if (w->since == 0) {
        w->since = clock_s();
        w->pause = PAUSE_FIRST;
        fprintf(stderr, "neurond: job %s: the database cannot be reached; the job pauses "
                "with %s in memory and tries again until it is back\n", c->id, w->what);
    }
    const _Atomic int *quit = cancellable ? c->cancel : c->stopping;   /* a stop sets both */
    if (w->last) {
        fprintf(stderr, "neurond: job %s: %s; %s was not stored\n", c->id,
                atomic_load(c->stopping) ? "the service stops" : "cancelled", w->what);
        return 0;
    }
    for (double t = clock_s(), end = t + w->pause; t < end; t = clock_s()) {
        if (atomic_load(quit) || atomic_load(c->stopping))
            return w->last = 1;
        struct timespec nap = {0, 50 * 1000 * 1000};
        nanosleep(&nap, NULL);
    }
    w->pause = w->pause * 2 < PAUSE_MOST ? w->pause * 2 : PAUSE_MOST;
    return 1;
}

/* ---- labels standardized (mse and mae) ----
 * The engine then trains on (y - mean) / s, with a mean per label column and one
 * deviation s pooled over the columns (the root of the mean of their variances; for one
 * column, its deviation), so that its losses and metrics convert exactly to the labels'
 * own units: mse and its loss times s squared, mae and its loss times s. Every row and
 * event is told in those units. */

/* The per-column mean, then s repeated per column (2 x label_cols, new), of the training
 * rows' labels, applied to both sets. A constant label keeps s = 1. */
static float *standardize_labels(struct dataset *t, struct dataset *v)
{
    int K = t->label_cols;
    float *s = calloc(2 * (size_t)K, sizeof *s);
    double *sum = calloc(2 * (size_t)K, sizeof *sum);
    if (!s || !sum) {
        free(s);
        free(sum);
        return NULL;
    }
    for (int i = 0; i < t->rows; i++)
        for (int j = 0; j < K; j++) {
            double y = t->y[(size_t)i * K + j];
            sum[j] += y;
            sum[K + j] += y * y;
        }
    double var = 0;
    for (int j = 0; j < K; j++) {
        double mean = sum[j] / t->rows, vj = sum[K + j] / t->rows - mean * mean;
        s[j] = (float)mean;
        var += vj > 0 ? vj / K : 0;
    }
    free(sum);
    for (int j = 0; j < K; j++)
        s[K + j] = var > 1e-12 ? (float)sqrt(var) : 1.0f;
    struct dataset *sets[2] = {t, v};
    for (int k = 0; k < 2; k++)
        for (int i = 0; sets[k] && sets[k]->y && i < sets[k]->rows; i++)
            for (int j = 0; j < K; j++) {
                float *y = &sets[k]->y[(size_t)i * K + j];
                *y = (*y - s[j]) / s[K + j];
            }
    return s;
}

/* The report r in the labels' own units (the same when they were not standardized). */
static struct nn_report in_units(const struct run_ctx *c, const struct nn_report *r)
{
    struct nn_report u = *r;
    if (c->label_s <= 0)
        return u;
    const double s = c->label_s, s2 = s * s;
    const double ls = nn_get_spec(c->net)->loss == NN_MAE ? s : s2;
    u.loss *= ls;
    u.val_loss *= ls;
    u.metric[NN_METRIC_MAE] *= s;
    u.val_metric[NN_METRIC_MAE] *= s;
    u.metric[NN_METRIC_MSE] *= s2;
    u.val_metric[NN_METRIC_MSE] *= s2;
    return u;
}

/* NaN and infinity as null: JSON has neither. */
static json_t *jnum(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *metrics_obj(unsigned which, const double *m)
{
    json_t *o = json_object();
    for (int k = 0; k < NN_METRIC_COUNT; k++)
        if (which & (1u << k))
            json_object_set_new(o, nn_metric_name(k), jnum(m[k]));
    return o;
}

static json_t *epoch_row(const struct nn_report *r, int has_val, int rows)
{
    json_t *gn = json_object(), *dead = json_object();
    for (int i = 0; i < r->ngrad; i++)
        json_object_set_new(gn, r->grad_where[i], jnum(r->grad_norm[i]));
    for (int i = 0; i < r->ndead; i++)
        json_object_set_new(dead, r->dead_where[i], jnum(r->dead[i]));
    char ended[32];
    now_iso(ended);
    json_t *row = json_pack("{s:i, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:s}", "epoch", r->epoch,
                     "loss", jnum(r->loss), "val_loss", has_val ? jnum(r->val_loss) : json_null(),
                     "metrics", metrics_obj(r->metrics, r->metric), "val_metrics",
                     has_val ? metrics_obj(r->metrics, r->val_metric) : json_null(),
                     "grad_norms", gn, "dead_relu", dead, "seconds", jnum(r->seconds),
                     "samples_per_second", jnum(r->seconds > 0 ? rows / r->seconds : 0),
                     "ended_at", ended);
    if (row && r->ntime > 0) {   /* recurrent layers: ‖∂L/∂h_t‖ at their sampled steps */
        json_t *over = json_object();
        for (int i = 0; i < r->ntime; i++) {
            const struct nn_time_norms *t = &r->time_norms[i];
            json_t *steps = json_array(), *norms = json_array();
            for (int k = 0; k < t->n; k++) {
                json_array_append_new(steps, json_integer(t->step[k]));
                json_array_append_new(norms, jnum(t->norm[k]));
            }
            json_object_set_new(over, t->where,
                                json_pack("{s:o, s:o}", "steps", steps, "norms", norms));
        }
        json_object_set_new(row, "grad_over_time", over);
    }
    return row;
}

/* The monitored value of a report (struct early_stopping's monitor); *higher says whether
 * bigger is better. */
static double monitored(const struct nn_report *r, int monitor, int *higher)
{
    int val = monitor % 2, watched = monitor / 2;   /* 0 the loss, then each metric */
    *higher = watched - 1 == NN_METRIC_ACCURACY;
    if (watched == 0)
        return val ? r->val_loss : r->loss;
    return val ? r->val_metric[watched - 1] : r->metric[watched - 1];
}

/* stopped_early: a job that stopped early and could not store its model resumes to
 * store it, not to train on. */
static json_t *es_state(const struct run_ctx *c)
{
    return json_pack("{s:o, s:i, s:i, s:b}", "best", jnum(c->best), "best_epoch", c->best_epoch,
                     "wait", c->wait, "stopped_early", c->stopped_early);
}

static int on_epoch(void *arg, const struct nn_report *raw)
{
    struct run_ctx *c = arg;
    const struct nn_report units = in_units(c, raw), *r = &units;
    const struct job_opts *o = c->o;
    int has_val = o->split > 0 || o->val_dataset;
    c->epoch_seconds += r->seconds;
    c->epochs_run++;
    stats_epoch(r->seconds > 0 ? c->rows / r->seconds : 0);
    if (o->es) {
        int higher;
        double v = monitored(r, o->stop.monitor, &higher);
        double delta = o->stop.min_delta;
        int better = isfinite(v) && (c->best_epoch == 0 || (higher ? v > c->best + delta
                                                                   : v < c->best - delta));
        if (better) {
            c->best = v;
            c->best_epoch = r->epoch;
            c->wait = 0;
            if (o->stop.restore_best) {
                free(c->best_buf);
                c->best_buf = NULL;
                if (nn_save_model(c->net, &c->best_buf, &c->best_len, NULL) < 0)
                    c->best_buf = NULL;
                c->best_changed = 1;
            }
        } else if (++c->wait >= o->stop.patience) {   /* as Keras counts patience */
            c->stopped_early = 1;
        }
    }
    struct checkpoint cp = {.epoch = r->epoch, .rng = c->rng, .rng_len = sizeof *c->rng,
                            .best = c->best_buf, .best_len = c->best_len,
                            .best_changed = c->best_changed, .state = es_state(c)};
    unsigned char *buf = NULL;
    json_t *row = epoch_row(r, has_val, c->rows);
    double per = c->epoch_seconds / c->epochs_run;
    double eta = per * (o->train.epochs - r->epoch);
    if (nn_save(c->net, &buf, &cp.net_len, NULL) == 0) {
        cp.net = buf;
        struct waiting w = {.c = c, .what = "the epoch's row and checkpoint"};
        do
            c->save_rc = store_checkpoint_save(c->id, c->attempt, &cp, row,
                                               (double)r->epoch / o->train.epochs, eta);
        while (again_later(&w, c->save_rc, 1));
        c->fenced |= c->save_rc == STORE_FENCED;
        if (c->save_rc == STORE_OK) {
            c->best_changed = 0;
            if (c->ev && c->ev->epoch)
                c->ev->epoch(c->ev->ctx, c->id, r->epoch, row);
        }
    } else {
        c->save_rc = STORE_ERROR;
    }
    free(buf);
    json_decref(row);
    json_decref(cp.state);
    return c->stopped_early || c->save_rc != STORE_OK;
}

static int on_progress(void *arg, const struct nn_report *raw)
{
    struct run_ctx *c = arg;
    const struct nn_report units = in_units(c, raw), *r = &units;
    double t = clock_s();
    if (t - c->t_progress < 0.5)   /* a few writes a second at most */
        return 0;
    c->t_progress = t;   /* its write skipped while the database is away */
    double frac = (r->epoch - 1 + (double)r->batch / r->batches) / c->o->train.epochs;
    double per = r->batch ? r->seconds * r->batches / r->batch : 0;
    double eta = per * (c->o->train.epochs - r->epoch + 1 - (double)r->batch / r->batches);
    if (store_job_progress(c->id, c->attempt, frac, eta) == STORE_FENCED) {
        c->fenced = 1;
        return 1;   /* stop: the job is another attempt's */
    }
    int rows = r->batch == r->batches ? c->rows : r->batch * c->o->train.batch_size;
    json_t *p = json_pack("{s:i, s:i, s:i, s:i, s:o, s:o, s:f, s:o}", "epoch", r->epoch,
                          "epochs", c->o->train.epochs, "batch", r->batch, "batches", r->batches,
                          "loss", jnum(r->loss), "samples_per_second",
                          jnum(r->seconds > 0 ? rows / r->seconds : 0), "progress", frac,
                          "eta_seconds", jnum(eta));
    if (p && c->ev && c->ev->progress)
        c->ev->progress(c->ev->ctx, c->id, p);
    json_decref(p);
    return 0;
}

/* The engine's labels from a dataset's, for the loss: class indices stay indices, the
 * rest are used as they are. */
static void engine_labels(const struct dataset *d, struct nn_data *out)
{
    out->y = d->y;
    out->ycols = d->label_cols;
}

/* Values of a row of d: its features, times its steps for a dataset of sequences. */
static size_t row_width(const struct dataset *d)
{
    return (size_t)d->features * (size_t)(d->timesteps > 0 ? d->timesteps : 1);
}

/* Moves a seeded random `split` fraction of the rows of d into v (new arrays). */
static int split_rows(struct dataset *d, struct dataset *v, double split, uint64_t seed)
{
    int nv = split_count(d->rows, split), nt = d->rows - nv;
    if (nv < 1 || nt < 1)
        return -1;
    size_t W = row_width(d);
    int *perm = malloc(sizeof *perm * (size_t)d->rows);
    float *tx = malloc(sizeof(float) * (size_t)nt * W);
    float *ty = malloc(sizeof(float) * (size_t)nt * d->label_cols);
    *v = *d;   /* the shape and the label kind; what d owns stays d's */
    v->name = NULL;
    v->classes = v->columns = v->label_column = v->stats = NULL;
    v->x = malloc(sizeof(float) * (size_t)nv * W);
    v->y = malloc(sizeof(float) * (size_t)nv * d->label_cols);
    if (!perm || !tx || !ty || !v->x || !v->y) {
        free(perm), free(tx), free(ty), free(v->x), free(v->y);
        v->x = v->y = NULL;
        return -1;
    }
    struct nn_rng r;
    nn_rng_seed(&r, seed ^ 0x5eed5eedull);
    for (int i = 0; i < d->rows; i++)
        perm[i] = i;
    for (int i = d->rows - 1; i > 0; i--) {
        int k = (int)(nn_rng_next(&r) % (uint64_t)(i + 1)), t = perm[i];
        perm[i] = perm[k];
        perm[k] = t;
    }
    for (int i = 0; i < d->rows; i++) {
        int src = perm[i], val = i < nv, at = val ? i : i - nv;
        memcpy((val ? v->x : tx) + (size_t)at * W, d->x + (size_t)src * W, sizeof(float) * W);
        memcpy((val ? v->y : ty) + (size_t)at * d->label_cols,
               d->y + (size_t)src * d->label_cols, sizeof(float) * d->label_cols);
    }
    free(perm);
    free(d->x);
    free(d->y);
    d->x = tx;
    d->y = ty;
    d->rows = nt;
    v->rows = nv;
    return 0;
}

/* Per-feature mean and deviation of the training rows (scaler: 2 x features, new), then
 * applied to both sets. A constant feature keeps a deviation of 1. In a dataset of
 * sequences every step of a row counts as one (a feature's statistics are over all steps
 * of all rows). */
static float *standardize(struct dataset *t, struct dataset *v)
{
    int F = t->features;
    int T = t->timesteps > 0 ? t->timesteps : 1;
    float *s = calloc(2 * (size_t)F, sizeof *s);
    double *sum = calloc(2 * (size_t)F, sizeof *sum);
    if (!s || !sum) {
        free(s);
        free(sum);
        return NULL;
    }
    long steps = (long)t->rows * T;
    for (long i = 0; i < steps; i++)
        for (int j = 0; j < F; j++) {
            double x = t->x[(size_t)i * F + j];
            sum[j] += x;
            sum[F + j] += x * x;
        }
    for (int j = 0; j < F; j++) {
        double mean = sum[j] / steps, var = sum[F + j] / steps - mean * mean;
        s[j] = (float)mean;
        s[F + j] = var > 1e-12 ? (float)sqrt(var) : 1.0f;
    }
    free(sum);
    struct dataset *sets[2] = {t, v};
    for (int k = 0; k < 2; k++)
        for (long i = 0; sets[k] && sets[k]->x && i < (long)sets[k]->rows * T; i++)
            for (int j = 0; j < F; j++) {
                float *x = &sets[k]->x[(size_t)i * F + j];
                *x = (*x - s[j]) / s[F + j];
            }
    return s;
}

static json_t *problem(int status, const char *title, const char *detail)
{
    return json_pack("{s:s, s:s, s:i, s:s}", "type", "about:blank", "title", title, "status",
                     status, "detail", detail);
}

/* Why a job waits in the queue after a write failed for want of space (rc STORE_FULL) or
 * because the database file is gone (STORE_GONE), having trained `epochs` epochs. */
static json_t *waits(int rc, int epochs)
{
    char d[300];
    if (rc == STORE_GONE)
        return problem(503, "Database gone", "the database file was deleted or replaced "
                       "while the job ran; the service needs a restart");
    if (epochs > 0)
        snprintf(d, sizeof d, "the disk holding the database is full: the job waits in the "
                 "queue with its checkpoint (epoch %d) and resumes once space is freed", epochs);
    else
        snprintf(d, sizeof d, "the disk holding the database is full: the job waits in the "
                 "queue and starts once space is freed");
    return problem(507, "Insufficient Storage", d);
}

/* Makes the model of a job that trained into m (new: model_free): the best epoch's
 * network with early stopping's restore_best, else the last; with the metrics of that
 * epoch. 0, or -1 when the network cannot be saved or memory runs out. */
static int model_make(struct model *m, const char *id, const json_t *req,
                      const struct job_opts *o, const struct dataset *d, const float *scaler,
                      const float *label_scaler, const struct run_ctx *c)
{
    memset(m, 0, sizeof *m);
    int best = o->es && o->stop.restore_best && c->best_buf;
    if (best) {
        if (!(m->net = malloc(c->best_len)))
            return -1;
        memcpy(m->net, c->best_buf, c->best_len);
        m->net_len = c->best_len;
    } else if (nn_save_model(c->net, (unsigned char **)&m->net, &m->net_len, NULL) < 0) {
        return -1;
    }
    json_t *rows = NULL;
    struct waiting w = {.c = c, .what = "its model"};
    while (again_later(&w, store_job_epochs(id, 0, -1, &rows), 0))
        ;
    size_t nrows = json_array_size(rows);
    const json_t *row = json_array_get(rows, best && c->best_epoch >= 1
                                                 ? (size_t)c->best_epoch - 1 : nrows - 1);
    m->metrics = json_pack("{s:O?, s:O?, s:O?, s:O?, s:O?, s:i, s:i, s:b}", "epoch",
                           json_object_get(row, "epoch"), "loss", json_object_get(row, "loss"),
                           "val_loss", json_object_get(row, "val_loss"), "metrics",
                           json_object_get(row, "metrics"), "val_metrics",
                           json_object_get(row, "val_metrics"), "epochs",
                           nn_epochs_done(c->net), "best_epoch", c->best_epoch,
                           "stopped_early", c->stopped_early);
    json_decref(rows);
    new_id(m->id, "mdl_");
    snprintf(m->job_id, sizeof m->job_id, "%s", id);
    snprintf(m->dataset_id, sizeof m->dataset_id, "%s", o->dataset);
    const char *name = json_string_value(json_object_get(req, "name"));
    m->job_name = name ? strdup(name) : NULL;
    /* its name, under which the store gives it the next version */
    const char *model_name = json_string_value(json_object_get(req, "model_name"));
    m->name = model_name ? strdup(model_name) : NULL;
    m->network = json_incref(json_object_get(req, "network"));
    m->label_kind = d->label_kind;
    m->classes = json_incref(d->classes);
    struct dataset meta;   /* the names of the input columns, for prediction and export */
    int got;
    while (again_later(&w, got = store_dataset_get(o->dataset, &meta), 0))
        ;
    if (got == STORE_OK) {
        m->columns = json_incref(meta.columns);
        dataset_free(&meta);
    }
    if (scaler) {
        m->scaler_len = 2 * sizeof(float) * (size_t)d->features;
        if ((m->scaler = malloc(m->scaler_len)))
            memcpy(m->scaler, scaler, m->scaler_len);
        m->standardized = 1;
    }
    if (label_scaler) {
        m->label_scaler_len = 2 * sizeof(float) * (size_t)d->label_cols;
        if ((m->label_scaler = malloc(m->label_scaler_len)))
            memcpy(m->label_scaler, label_scaler, m->label_scaler_len);
    }
    if (!m->metrics || !m->network || (name && !m->job_name) || (model_name && !m->name) ||
        (scaler && !m->scaler) || (label_scaler && !m->label_scaler)) {
        model_free(m);
        return -1;
    }
    return 0;
}

/* Whether every weight and running statistic of net is a finite number. */
static int net_finite(struct nn_net *net)
{
    int n = nn_tensors(net, NULL, 0), ok = 1;
    struct nn_tensor *t = calloc((size_t)(n > 0 ? n : 1), sizeof *t);
    if (!t)
        return 0;
    nn_tensors(net, t, n);
    for (int i = 0; ok && i < n; i++)
        for (size_t k = 0; ok && k < (size_t)t[i].rows * t[i].cols; k++)
            ok = isfinite(t[i].data[k]);
    free(t);
    return ok;
}

/* A saved network (nn_save or nn_save_model) loaded, when all its numbers are finite;
 * else NULL. Returns new. */
static struct nn_net *load_finite(const void *buf, size_t len, size_t max_params)
{
    struct nn_net *net = buf ? nn_load(buf, len, max_params, NULL) : NULL;
    if (net && !net_finite(net)) {
        nn_free(net);
        net = NULL;
    }
    return net;
}

/* After training failed once epochs had ended (its loss diverged), makes the model the
 * job keeps into m, as model_make does, from the weights worth keeping: the best epoch's
 * with early stopping's restore_best, else the last epoch's checkpoint, each only when
 * all its numbers are finite. Then adds to error's detail which model it is and from
 * which epoch. 0, or -1 when there is none (no epoch had ended, or its weights are not
 * finite) or it cannot be made. */
static int model_salvage(struct model *m, const char *id, const json_t *req,
                         const struct job_opts *o, const struct dataset *d,
                         const float *scaler, const float *label_scaler,
                         const struct run_ctx *c, size_t max_params, json_t *error)
{
    struct run_ctx k = *c;    /* as the job ended, but for the weights kept */
    struct nn_net *net = NULL;
    int epoch = 0, best = 0;
    if (o->es && o->stop.restore_best && c->best_buf && c->best_epoch >= 1 &&
        (net = load_finite(c->best_buf, c->best_len, max_params))) {
        epoch = c->best_epoch;
        best = 1;
    } else {
        struct checkpoint cp = {0};
        if (store_checkpoint_load(id, &cp) == STORE_OK &&
            (net = load_finite(cp.net, cp.net_len, max_params))) {
            epoch = nn_epochs_done(net);
            k.net = net;
        }
        checkpoint_free(&cp);
        k.best_buf = NULL;    /* model_make takes the weights of k.net */
    }
    int rc = -1;
    if (epoch >= 1 && model_make(m, id, req, o, d, scaler, label_scaler, &k) == 0) {
        const char *detail = json_string_value(json_object_get(error, "detail"));
        const char *monitor = json_string_value(
            json_object_get(json_object_get(req, "early_stopping"), "monitor"));
        char *text = NULL;
        if (best)
            rc = asprintf(&text, "%s. The job keeps model %s: the weights of epoch %d, the "
                          "best by %s (early stopping's restore_best)", detail ? detail : "",
                          m->id, epoch, monitor ? monitor : "the monitored value");
        else
            rc = asprintf(&text, "%s. The job keeps model %s: the weights of epoch %d, the "
                          "last that ended", detail ? detail : "", m->id, epoch);
        if (rc < 0)
            text = NULL;      /* asprintf leaves it undefined when it fails */
        if (rc < 0 || json_object_set_new(error, "detail", json_string(text)) < 0) {
            model_free(m);
            rc = -1;
        } else {
            rc = 0;
        }
        free(text);
    }
    nn_free(net);
    return rc;
}

enum job_state trainer_run(const char *id, int attempt, size_t max_params, struct nn_pool *pool,
                           const _Atomic int *cancel, const _Atomic int *stopping,
                           const struct trainer_events *ev)
{
    struct job job;
    json_t *req = NULL, *error = NULL, *plain = NULL;   /* plain: error without a model */
    struct run_ctx c = {.ev = ev, .id = id, .cancel = cancel, .stopping = stopping,
                        .attempt = attempt};
    struct waiting w = {.c = &c, .what = "the job's start"};
    int rc;
    while (again_later(&w, rc = store_job_get(id, &job), 1))
        ;
    if (rc == STORE_OK) {
        req = json_incref(job.request);
        job_free(&job);
    }
    struct job_opts o;
    struct spec_json sj = {0};
    struct dataset d = {0}, v = {0};
    struct checkpoint cp = {0};
    struct nn_net *net = NULL;
    struct nn_rng rng;
    float *scaler = NULL, *label_scaler = NULL;
    char msg[512];
    struct model mo = {0};
    int made = 0;
    enum job_state state = JOB_FAILED;
    json_t *errs = NULL;
    if (rc == STORE_UNAVAILABLE) {   /* stopped or cancelled before the database came back */
        state = JOB_QUEUED;
        goto done;
    }
    if (!req) {
        error = problem(500, "Job lost", "the job's request could not be read");
        goto done;
    }
    job_opts_read(req, &o);
    c.o = &o;
    if (spec_from_json(json_object_get(req, "network"), "/network", max_params, &sj,
                       &errs) < 0) {
        error = problem(422, "Invalid network", "the job's network definition is invalid");
        goto done;
    }
    while (again_later(&w, rc = store_dataset_load(o.dataset, &d), 1))
        ;
    while (rc == STORE_OK && o.val_dataset &&
           again_later(&w, rc = store_dataset_load(o.val_dataset, &v), 1))
        ;
    if (rc == STORE_UNAVAILABLE) {
        state = JOB_QUEUED;
        goto done;
    }
    if (rc != STORE_OK) {
        error = problem(409, "Dataset gone", rc == STORE_NOT_FOUND
                                                 ? "a dataset of the job was deleted"
                                                 : "a dataset of the job could not be read");
        goto done;
    }
    if (o.split > 0 && split_rows(&d, &v, o.split, o.seed) < 0) {
        error = problem(422, "Invalid validation split",
                        "the validation split leaves no rows for training or validation");
        goto done;
    }
    if (o.standardize && !(scaler = standardize(&d, v.x ? &v : NULL))) {
        error = problem(500, "Out of memory", "out of memory standardizing the dataset");
        goto done;
    }
    /* a request stored before the option (every accepted one has it written out) trains
     * as it did, so that a job resumed from its checkpoint keeps its labels' units */
    if (o.standardize_labels && json_object_get(req, "standardize_labels") &&
        (sj.spec.loss == NN_MSE || sj.spec.loss == NN_MAE) &&
        (d.label_kind == LABELS_NUMBERS || d.label_kind == LABELS_VECTORS)) {
        if (!(label_scaler = standardize_labels(&d, v.y ? &v : NULL))) {
            error = problem(500, "Out of memory", "out of memory standardizing the labels");
            goto done;
        }
        c.label_s = label_scaler[d.label_cols];
    }
    struct nn_error e = {0};
    while (again_later(&w, rc = store_checkpoint_load(id, &cp), 1))
        ;
    if (rc == STORE_UNAVAILABLE) {   /* not from scratch over epochs it has */
        state = JOB_QUEUED;
        goto done;
    }
    if (rc == STORE_OK) {
        net = nn_load(cp.net, cp.net_len, max_params, &e);
        if (net && cp.rng_len == sizeof rng)
            memcpy(&rng, cp.rng, sizeof rng);
        else
            nn_rng_seed(&rng, o.seed);
        c.best_buf = cp.best;
        c.best_len = cp.best_len;
        cp.best = NULL;
        c.best = json_number_value(json_object_get(cp.state, "best"));
        c.best_epoch = (int)json_integer_value(json_object_get(cp.state, "best_epoch"));
        c.wait = (int)json_integer_value(json_object_get(cp.state, "wait"));
        c.stopped_early = json_is_true(json_object_get(cp.state, "stopped_early"));
    } else {
        nn_rng_seed(&rng, o.seed);
        net = nn_new(&sj.spec, max_params, &rng, &e);
    }
    if (!net) {
        snprintf(msg, sizeof msg, "%s", e.msg);
        error = problem(422, "Training failed", msg);
        goto done;
    }
    struct nn_data train = {.x = d.x, .rows = d.rows, .cols = (int)row_width(&d)}, val = {0};
    engine_labels(&d, &train);
    if (v.x) {
        val = (struct nn_data){.x = v.x, .rows = v.rows, .cols = (int)row_width(&v)};
        engine_labels(&v, &val);
    }
    c.net = net;
    c.rng = &rng;
    c.rows = d.rows;
    c.t_start = c.t_progress = clock_s();
    struct nn_train_opts to = o.train;
    to.opt = o.opt;
    to.on_epoch = on_epoch;
    to.on_progress = on_progress;
    to.progress_every = 8;
    to.ctx = &c;
    to.cancel = cancel;
    rc = c.stopped_early ? NN_STOPPED   /* it had ended: only its model was missing */
                         : nn_train(net, pool, &train, v.x ? &val : NULL, &to, &rng, &e);
    if (c.fenced) {
        state = JOB_RUNNING;   /* another attempt's now: nothing more is written */
    } else if (rc < 0) {
        error = problem(422, "Training failed", e.msg);
        plain = json_deep_copy(error);
        /* a loss that diverged after some epochs: what they learned is kept */
        made = plain && model_salvage(&mo, id, req, &o, &d, scaler, label_scaler, &c,
                                      max_params, error) == 0;
    } else if (c.save_rc == STORE_UNAVAILABLE) {
        /* the wait for the database ended: the service stops (resume from the last
           committed checkpoint), or the job was cancelled */
        state = atomic_load(stopping) ? JOB_QUEUED : JOB_CANCELLED;
    } else if (c.save_rc == STORE_FULL || c.save_rc == STORE_GONE) {
        state = JOB_QUEUED;   /* resumes from its last stored checkpoint */
        error = waits(c.save_rc, nn_epochs_done(net) - 1);
    } else if (c.save_rc != STORE_OK) {
        error = problem(500, "Checkpoint failed", "the epoch's checkpoint could not be stored");
    } else if (rc == NN_STOPPED && atomic_load(stopping)) {
        state = JOB_QUEUED;   /* the service is stopping: resume from the checkpoint later */
    } else if (rc == NN_STOPPED && !c.stopped_early) {
        state = JOB_CANCELLED;
    } else {
        state = JOB_SUCCEEDED;
    }
    int keep = state == JOB_SUCCEEDED || (state == JOB_CANCELLED && nn_epochs_done(net) >= 1);
    if (keep && !(made = model_make(&mo, id, req, &o, &d, scaler, label_scaler, &c) == 0)) {
        error = problem(500, "Model lost", "the trained network could not be saved");
        state = JOB_FAILED;
    }
done:
    if (errs && error)
        json_object_set_new(error, "errors", errs);
    else
        json_decref(errs);
    struct waiting fin = {.c = &c, .what = "its end"};
    enum job_state ends = state;
    if (c.fenced)
        rc = STORE_FENCED;
    else
        while (again_later(&fin, rc = store_job_finish(id, attempt, ends, error,
                                                       made ? &mo : NULL, &state), 0))
            state = ends;
    if (rc == STORE_FENCED) {
        fprintf(stderr, "neurond: job %s: the lease for attempt %d was lost to another node; "
                "dropping the job here, without writing its state or model\n", id, attempt);
        state = JOB_RUNNING;
    } else if (rc == STORE_UNAVAILABLE) {
        /* the service stops before the database came back: the job is still running in
           the database, and resumes from its last committed checkpoint */
        state = JOB_QUEUED;
    } else if ((rc == STORE_FULL || rc == STORE_GONE) && state == JOB_SUCCEEDED) {
        /* no room for the model: the job keeps its checkpoint (every epoch) and waits in
         * the queue; resumed, it stores the model it trained */
        json_decref(error);
        error = waits(rc, nn_epochs_done(net));
        state = JOB_QUEUED;
        store_job_finish(id, attempt, state, error, NULL, &state);
    } else if (rc != STORE_OK && made) {
        /* a cancelled job ends all the same, without the model it trained so far */
        json_decref(error);
        error = rc == STORE_FULL ? problem(507, "Insufficient Storage", "the disk holding the "
                                           "database was full: the model was not stored")
                                 : problem(500, "Model lost", "the trained model could not "
                                           "be stored");
        if (state == JOB_FAILED && plain) {   /* it had failed: say why, not the model */
            json_decref(error);
            error = json_incref(plain);
        }
        state = state == JOB_CANCELLED && rc == STORE_FULL ? JOB_CANCELLED : JOB_FAILED;
        store_job_finish(id, attempt, state, error, NULL, &state);
    }
    json_decref(error);
    json_decref(plain);
    json_decref(req);
    nn_free(net);
    spec_json_free(&sj);
    dataset_free(&d);
    dataset_free(&v);
    checkpoint_free(&cp);
    free(c.best_buf);
    model_free(&mo);
    free(scaler);
    free(label_scaler);
    return state;
}

