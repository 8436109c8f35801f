/* jobs.c -- the training queue and its workers.
 *
 * DESIGN. Jobs live in SQLite (store.h), so the queue survives the process. Each worker
 * thread owns an engine pool and its own database connection; it claims the oldest
 * queued job (an UPDATE ... RETURNING, atomic in SQLite), trains it, and sleeps on a
 * condition variable when the queue is empty (jobs_wake signals it; a timed wait also
 * polls, in case another process queued work). After every epoch the worker writes the
 * epoch's metrics row and a checkpoint (weights, optimizer and random state, the early
 * stopping state) in one transaction, so a job whose process died resumes at its next
 * epoch: jobs_start puts jobs left running back in the queue, before every newer job.
 * A cancel (or a stop of the service) sets the worker's flag, which the engine checks
 * before every batch. The HTTP threads never train.
 */
#include "jobs.h"

#include "datasets.h"
#include "db.h"
#include "hub.h"
#include "spec_json.h"
#include "stats.h"
#include "store.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct worker {
    struct jobs *q;
    pthread_t th;
    char job[32];              /* the job it runs, "" when idle (under q->lock) */
    _Atomic int cancel;        /* set to stop the running job at its next batch */
};

struct jobs {
    struct app *app;
    struct worker *w;
    int n;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stopping;              /* under lock */
    int started;
};

/* ---- options ---- */

static double num(const json_t *o, const char *key, double def)
{
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : def;
}

void job_opts_read(const json_t *r, struct job_opts *o)
{
    const json_t *val = json_object_get(r, "validation"), *opt = json_object_get(r, "optimizer"),
                 *es = json_object_get(r, "early_stopping");
    *o = (struct job_opts){
        .dataset = json_string_value(json_object_get(r, "dataset")),
        .val_dataset = json_string_value(json_object_get(val, "dataset")),
        .split = num(val, "split", 0),
        .epochs = (int)num(r, "epochs", 10),
        .batch_size = (int)num(r, "batch_size", 32),
        .shuffle = !json_is_false(json_object_get(r, "shuffle")),
        .standardize = !json_is_false(json_object_get(r, "standardize")),
        .clip_norm = (float)num(r, "clip_norm", 0),
        .seed = (uint64_t)num(r, "seed", 0),
        .es = json_is_object(es),
        .monitor = json_string_value(json_object_get(es, "monitor")),
        .patience = (int)num(es, "patience", 3),
        .min_delta = num(es, "min_delta", 0),
        .restore_best = !json_is_false(json_object_get(es, "restore_best")),
    };
    const char *type = json_string_value(json_object_get(opt, "type"));
    if (type && strcmp(type, "sgd") == 0) {
        o->opt = nn_sgd((float)num(opt, "learning_rate", 0.01), (float)num(opt, "momentum", 0),
                        json_is_true(json_object_get(opt, "nesterov")));
    } else {
        o->opt = nn_adam((float)num(opt, "learning_rate", 0.001));
        o->opt.beta1 = (float)num(opt, "beta1", o->opt.beta1);
        o->opt.beta2 = (float)num(opt, "beta2", o->opt.beta2);
        o->opt.epsilon = (float)num(opt, "epsilon", o->opt.epsilon);
    }
    o->opt.weight_decay = (float)num(opt, "weight_decay", 0);
    if (!o->monitor)
        o->monitor = o->split > 0 || o->val_dataset ? "val_loss" : "loss";
}

/* ---- labels ---- */

static int label_cols(const json_t *ds)
{
    const json_t *c = json_object_get(ds, "label_cols"), *cl = json_object_get(ds, "classes");
    if (json_is_integer(c))
        return (int)json_integer_value(c);
    const char *kind = json_string_value(json_object_get(ds, "label_kind"));
    return kind && strcmp(kind, "onehot") == 0 && json_is_array(cl) ? (int)json_array_size(cl)
                                                                    : 1;
}

const char *labels_fit(enum nn_loss loss, int K, const json_t *ds, char *buf, size_t len)
{
    const char *kind = json_string_value(json_object_get(ds, "label_kind"));
    const json_t *classes = json_object_get(ds, "classes");
    int ncl = json_is_array(classes) ? (int)json_array_size(classes) : 0, cols = label_cols(ds);
    if (!kind)
        return "the dataset has no labels";
    if (loss == NN_CCE) {
        if (!strcmp(kind, "classes") && ncl != K)
            return snprintf(buf, len, "the dataset has %d classes but the network has %d "
                            "outputs", ncl, K), buf;
        if (!strcmp(kind, "numbers")) {
            if (!ncl)
                return "categorical_crossentropy needs class labels, and the dataset's labels "
                       "are not whole numbers from 0 to 1023";
            double top = json_number_value(json_array_get(classes, (size_t)ncl - 1));
            if (top >= K)
                return snprintf(buf, len, "the dataset has class %g but the network has only "
                                "%d outputs (classes 0 to %d)", top, K, K - 1), buf;
        }
        if (!strcmp(kind, "onehot") && cols != K)
            return snprintf(buf, len, "the dataset's one-hot labels have %d columns but the "
                            "network has %d outputs", cols, K), buf;
        if (!strcmp(kind, "vectors"))
            return "categorical_crossentropy needs class labels; the dataset's labels are rows "
                   "of numbers that are not one-hot";
        return NULL;
    }
    if (!strcmp(kind, "classes")) {
        if (loss == NN_BCE && K == 1 && ncl == 2)
            return NULL;
        return snprintf(buf, len, "the dataset's labels are class names (%d classes): use "
                        "categorical_crossentropy%s", ncl,
                        ncl == 2 ? ", or binary_crossentropy with 1 output" : ""), buf;
    }
    if (cols != K)
        return snprintf(buf, len, "the dataset has %d label column%s but the network has %d "
                        "outputs", cols, cols == 1 ? "" : "s", K), buf;
    return NULL;
}

/* ---- one job ---- */

struct run_ctx {
    struct worker *w;
    const char *id;
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
    int save_failed;
};

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
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
    return json_pack("{s:i, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:s}", "epoch", r->epoch, "loss",
                     jnum(r->loss), "val_loss", has_val ? jnum(r->val_loss) : json_null(),
                     "metrics", metrics_obj(r->metrics, r->metric), "val_metrics",
                     has_val ? metrics_obj(r->metrics, r->val_metric) : json_null(),
                     "grad_norms", gn, "dead_relu", dead, "seconds", jnum(r->seconds),
                     "samples_per_second", jnum(r->seconds > 0 ? rows / r->seconds : 0),
                     "ended_at", ended);
}

/* The monitored value of a report; *higher says whether bigger is better. */
static double monitored(const struct nn_report *r, const char *name, int *higher)
{
    int val = strncmp(name, "val_", 4) == 0;
    const char *base = val ? name + 4 : name;
    *higher = 0;
    if (strcmp(base, "loss") == 0)
        return val ? r->val_loss : r->loss;
    int m = nn_metric_parse(base);
    if (m < 0)
        return NAN;
    *higher = m == NN_METRIC_ACCURACY;
    return val ? r->val_metric[m] : r->metric[m];
}

static json_t *es_state(const struct run_ctx *c)
{
    return json_pack("{s:o, s:i, s:i}", "best", jnum(c->best), "best_epoch", c->best_epoch,
                     "wait", c->wait);
}

static int on_epoch(void *arg, const struct nn_report *r)
{
    struct run_ctx *c = arg;
    const struct job_opts *o = c->o;
    int has_val = o->split > 0 || o->val_dataset;
    c->epoch_seconds += r->seconds;
    c->epochs_run++;
    stats_epoch(r->seconds > 0 ? c->rows / r->seconds : 0);
    if (o->es) {
        int higher;
        double v = monitored(r, o->monitor, &higher);
        int better = isfinite(v) && (c->best_epoch == 0 || (higher ? v > c->best + o->min_delta
                                                                   : v < c->best - o->min_delta));
        if (better) {
            c->best = v;
            c->best_epoch = r->epoch;
            c->wait = 0;
            if (o->restore_best) {
                free(c->best_buf);
                c->best_buf = NULL;
                if (nn_save(c->net, &c->best_buf, &c->best_len, NULL) < 0)
                    c->best_buf = NULL;
                c->best_changed = 1;
            }
        } else if (++c->wait >= o->patience) {   /* as Keras counts patience */
            c->stopped_early = 1;
        }
    }
    struct checkpoint cp = {.epoch = r->epoch, .rng = c->rng, .rng_len = sizeof *c->rng,
                            .best = c->best_buf, .best_len = c->best_len,
                            .best_changed = c->best_changed, .state = es_state(c)};
    unsigned char *buf = NULL;
    json_t *row = epoch_row(r, has_val, c->rows);
    double per = c->epoch_seconds / c->epochs_run;
    double eta = per * (o->epochs - r->epoch);
    if (nn_save(c->net, &buf, &cp.net_len, NULL) == 0) {
        cp.net = buf;
        if (db_checkpoint_save(c->id, &cp, row, (double)r->epoch / o->epochs, eta) < 0) {
            c->save_failed = 1;
        } else {
            c->best_changed = 0;
            hub_epoch(c->id, r->epoch, row);
        }
    } else {
        c->save_failed = 1;
    }
    free(buf);
    json_decref(row);
    json_decref(cp.state);
    return c->stopped_early || c->save_failed;
}

static int on_progress(void *arg, const struct nn_report *r)
{
    struct run_ctx *c = arg;
    double t = now_s();
    if (t - c->t_progress < 0.5)   /* a few writes a second at most */
        return 0;
    c->t_progress = t;
    double frac = (r->epoch - 1 + (double)r->batch / r->batches) / c->o->epochs;
    double per = r->batch ? r->seconds * r->batches / r->batch : 0;
    double eta = per * (c->o->epochs - r->epoch + 1 - (double)r->batch / r->batches);
    db_job_progress(c->id, frac, eta);
    int rows = r->batch == r->batches ? c->rows : r->batch * c->o->batch_size;
    json_t *p = json_pack("{s:i, s:i, s:i, s:i, s:o, s:o, s:f, s:o}", "epoch", r->epoch,
                          "epochs", c->o->epochs, "batch", r->batch, "batches", r->batches,
                          "loss", jnum(r->loss), "samples_per_second",
                          jnum(r->seconds > 0 ? rows / r->seconds : 0), "progress", frac,
                          "eta_seconds", jnum(eta));
    hub_progress(c->id, p);
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

int split_count(int rows, double split) { return (int)ceil(rows * split); }

/* Moves a seeded random `split` fraction of the rows of d into v (new arrays). */
static int split_rows(struct dataset *d, struct dataset *v, double split, uint64_t seed)
{
    int nv = split_count(d->rows, split), nt = d->rows - nv;
    if (nv < 1 || nt < 1)
        return -1;
    int *perm = malloc(sizeof *perm * (size_t)d->rows);
    float *tx = malloc(sizeof(float) * (size_t)nt * d->features);
    float *ty = malloc(sizeof(float) * (size_t)nt * d->label_cols);
    *v = *d;
    v->classes = NULL;
    v->x = malloc(sizeof(float) * (size_t)nv * d->features);
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
        memcpy((val ? v->x : tx) + (size_t)at * d->features, d->x + (size_t)src * d->features,
               sizeof(float) * d->features);
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
 * applied to both sets. A constant feature keeps a deviation of 1. */
static float *standardize(struct dataset *t, struct dataset *v)
{
    int F = t->features;
    float *s = calloc(2 * (size_t)F, sizeof *s);
    double *sum = calloc(2 * (size_t)F, sizeof *sum);
    if (!s || !sum) {
        free(s);
        free(sum);
        return NULL;
    }
    for (int i = 0; i < t->rows; i++)
        for (int j = 0; j < F; j++) {
            double x = t->x[(size_t)i * F + j];
            sum[j] += x;
            sum[F + j] += x * x;
        }
    for (int j = 0; j < F; j++) {
        double mean = sum[j] / t->rows, var = sum[F + j] / t->rows - mean * mean;
        s[j] = (float)mean;
        s[F + j] = var > 1e-12 ? (float)sqrt(var) : 1.0f;
    }
    free(sum);
    struct dataset *sets[2] = {t, v};
    for (int k = 0; k < 2; k++)
        for (int i = 0; sets[k] && sets[k]->x && i < sets[k]->rows; i++)
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

/* The model a job leaves: its row for db_job_finish and what the row borrows. */
struct model_out {
    struct model_row row;      /* row.id is NULL until it is made */
    char id[32];
    unsigned char *buf;        /* the last epoch's network, when the model is not the best */
    json_t *metrics;
};

/* Makes the model of a job that trained: the best epoch's network with early stopping's
 * restore_best, else the last; with the metrics of that epoch. 0, or -1 when the network
 * cannot be saved. */
static int model_make(struct model_out *m, const char *id, const json_t *req,
                      const struct job_opts *o, const struct dataset *d, const float *scaler,
                      const struct run_ctx *c)
{
    int best = o->es && o->restore_best && c->best_buf;
    size_t len = 0;
    if (!best && nn_save(c->net, &m->buf, &len, NULL) < 0)
        return -1;
    json_t *rows = db_job_epochs(id);
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
    m->row = (struct model_row){.id = m->id, .job_id = id,
                                .name = json_string_value(json_object_get(req, "name")),
                                .dataset_id = o->dataset, .label_kind = d->label_kind,
                                .network = json_object_get(req, "network"),
                                .classes = d->classes, .metrics = m->metrics, .scaler = scaler,
                                .scaler_len = scaler ? 2 * sizeof(float) * d->features : 0,
                                .net = best ? c->best_buf : m->buf,
                                .net_len = best ? c->best_len : len};
    return 0;
}

/* Trains job `id` to its end (or to a cancel or a stop) and records the outcome. */
static void run_job(struct worker *w, const char *id, struct nn_pool *pool)
{
    struct app *app = w->q->app;
    json_t *req = db_job_request(id), *error = NULL;
    struct job_opts o;
    struct spec_json sj = {0};
    struct dataset d = {0}, v = {0};
    struct checkpoint cp = {0};
    struct nn_net *net = NULL;
    struct nn_rng rng;
    float *scaler = NULL;
    char msg[512];
    struct model_out mo = {0};
    const char *state = "failed";
    json_t *errs = NULL;
    struct run_ctx c = {.w = w, .id = id};
    if (!req) {
        error = problem(500, "Job lost", "the job's request could not be read");
        goto done;
    }
    job_opts_read(req, &o);
    c.o = &o;
    if (spec_from_json(json_object_get(req, "network"), "/network", app->cfg.max_params, &sj,
                       &errs) < 0) {
        error = problem(422, "Invalid network", "the job's network definition is invalid");
        goto done;
    }
    int rc = dataset_load(o.dataset, &d);
    if (rc == 0 && o.val_dataset)
        rc = dataset_load(o.val_dataset, &v);
    if (rc != 0) {
        error = problem(409, "Dataset gone", rc > 0 ? "a dataset of the job was deleted"
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
    struct nn_error e = {0};
    int resumed = db_checkpoint_load(id, &cp);
    if (resumed == 0) {
        net = nn_load(cp.net, cp.net_len, app->cfg.max_params, &e);
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
    } else {
        nn_rng_seed(&rng, o.seed);
        net = nn_new(&sj.spec, app->cfg.max_params, &rng, &e);
    }
    if (!net) {
        snprintf(msg, sizeof msg, "%s", e.msg);
        error = problem(422, "Training failed", msg);
        goto done;
    }
    struct nn_data train = {.x = d.x, .rows = d.rows, .cols = d.features}, val = {0};
    engine_labels(&d, &train);
    if (v.x) {
        val = (struct nn_data){.x = v.x, .rows = v.rows, .cols = v.features};
        engine_labels(&v, &val);
    }
    c.net = net;
    c.rng = &rng;
    c.rows = d.rows;
    c.t_start = c.t_progress = now_s();
    struct nn_train_opts to = {.epochs = o.epochs, .batch_size = o.batch_size, .opt = o.opt,
                               .clip_norm = o.clip_norm, .shuffle = o.shuffle,
                               .on_epoch = on_epoch, .on_progress = on_progress,
                               .progress_every = 8, .ctx = &c, .cancel = &w->cancel};
    rc = nn_train(net, pool, &train, v.x ? &val : NULL, &to, &rng, &e);
    int stopping;
    pthread_mutex_lock(&w->q->lock);
    stopping = w->q->stopping;
    pthread_mutex_unlock(&w->q->lock);
    if (rc < 0) {
        error = problem(422, "Training failed", e.msg);
    } else if (c.save_failed) {
        error = problem(500, "Checkpoint failed", "the epoch's checkpoint could not be stored");
    } else if (rc == 1 && stopping) {
        state = "queued";   /* the service is stopping: resume from the checkpoint later */
    } else if (rc == 1 && !c.stopped_early) {
        state = "cancelled";
    } else {
        state = "succeeded";
    }
    int keep = !strcmp(state, "succeeded") || (!strcmp(state, "cancelled") &&
                                              nn_epochs_done(net) >= 1);
    if (keep && model_make(&mo, id, req, &o, &d, scaler, &c) < 0) {
        error = problem(500, "Model lost", "the trained network could not be saved");
        state = "failed";
    }
done:
    if (errs && error)
        json_object_set_new(error, "errors", errs);
    else
        json_decref(errs);
    if (db_job_finish(id, state, error, mo.row.id ? &mo.row : NULL) < 0 && mo.row.id) {
        json_decref(error);
        error = problem(500, "Model lost", "the trained model could not be stored");
        db_job_finish(id, "failed", error, NULL);
    }
    hub_status(id);
    json_decref(error);
    json_decref(req);
    nn_free(net);
    spec_json_free(&sj);
    dataset_free(&d);
    dataset_free(&v);
    checkpoint_free(&cp);
    free(c.best_buf);
    free(mo.buf);
    json_decref(mo.metrics);
    free(scaler);
}

/* ---- workers ---- */

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct jobs *q = w->q;
    pthread_setname_np(pthread_self(), "neurond-work");   /* its engine threads inherit it */
    struct nn_pool *pool = nn_pool_new(q->app->cfg.threads);
    for (;;) {
        pthread_mutex_lock(&q->lock);
        int stop = q->stopping;
        pthread_mutex_unlock(&q->lock);
        if (stop)
            break;
        char id[32];
        int got = db_job_claim(id);
        if (got == 1) {
            pthread_mutex_lock(&q->lock);
            snprintf(w->job, sizeof w->job, "%s", id);
            atomic_store(&w->cancel, q->stopping);
            pthread_mutex_unlock(&q->lock);
            hub_status(id);
            run_job(w, id, pool);
            pthread_mutex_lock(&q->lock);
            w->job[0] = 0;
            pthread_mutex_unlock(&q->lock);
            continue;
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_mutex_lock(&q->lock);
        if (!q->stopping)
            pthread_cond_timedwait(&q->wake, &q->lock, &until);
        pthread_mutex_unlock(&q->lock);
    }
    nn_pool_free(pool);
    return NULL;
}

struct jobs *jobs_start(struct app *app, char *err, size_t errlen)
{
    if (db_job_requeue_running() < 0) {
        snprintf(err, errlen, "cannot read the job queue from the database");
        return NULL;
    }
    struct jobs *q = calloc(1, sizeof *q);
    if (!q || !(q->w = calloc((size_t)app->cfg.workers, sizeof *q->w))) {
        free(q);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    q->app = app;
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->wake, NULL);
    for (int i = 0; i < app->cfg.workers; i++) {
        q->w[i].q = q;
        if (pthread_create(&q->w[i].th, NULL, worker_main, &q->w[i]) != 0) {
            snprintf(err, errlen, "cannot start worker threads");
            jobs_stop(q);
            return NULL;
        }
        q->n = i + 1;
    }
    q->started = 1;
    return q;
}

void jobs_stop(struct jobs *q)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->lock);
    q->stopping = 1;
    for (int i = 0; i < q->n; i++)
        atomic_store(&q->w[i].cancel, 1);
    pthread_cond_broadcast(&q->wake);
    pthread_mutex_unlock(&q->lock);
    for (int i = 0; i < q->n; i++)
        pthread_join(q->w[i].th, NULL);
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->wake);
    free(q->w);
    free(q);
}

void jobs_wake(struct jobs *q)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->lock);
    pthread_cond_signal(&q->wake);
    pthread_mutex_unlock(&q->lock);
}

void jobs_cancel_running(struct jobs *q, const char *id)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->lock);
    for (int i = 0; i < q->n; i++)
        if (strcmp(q->w[i].job, id) == 0)
            atomic_store(&q->w[i].cancel, 1);
    pthread_mutex_unlock(&q->lock);
}

int jobs_alive(const struct jobs *q) { return q && q->started && q->n > 0; }
