/* batch.c -- predictions: one call's rows run at once (predictor_run), or, when other
 * requests' rows wait for the same model, in one forward pass with theirs (domain.h).
 *
 * DESIGN: one queue of calls under one lock. `busy` counts the forward passes running,
 * a call's own included, and may reach `threads`: a short call (INLINE_WORK) that finds
 * the queue empty and a pass free runs on its own thread; any other queues (pausing its
 * connection first) and is answered by a runner. A call of more rows than max_batch
 * makes a batch of its own. A runner takes the oldest call's model and every queued call
 * of that model that fits in max_batch rows, in order of arrival, and predicts their rows
 * as one matrix. Since a pass that ends wakes a runner, the rows that arrived during it
 * go together: batches grow with the load and stay one row when there is none. A call's
 * own pass that ends with a short batch queued (INLINE_WORK) runs that batch too, on
 * the same thread, before it answers: under a steady load of small requests the HTTP
 * threads take turns at the batches, and no thread is woken for them. */
#include "domain.h"

#include "format/format.h"
#include "ops/ops.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct {
    pthread_mutex_t lock;
    pthread_cond_t work;              /* on CLOCK_MONOTONIC: a call queued, a pass ended */
    struct predict_call *head, *tail;
    int busy;                         /* forward passes running */
    int stopping;
    int max_batch, threads;
    double window;                    /* seconds */
    pthread_t *runners;
    int nrunners;
} bq = {.lock = PTHREAD_MUTEX_INITIALIZER};
static atomic_int batching;           /* runners are up: calls may queue */

/* A pass of at most this many multiply-adds (rows x parameters x steps) may run on the
 * thread that read its request: well under a millisecond. A longer one goes to a runner
 * even on an idle service, so that it never holds up the other connections of an HTTP
 * thread (/healthz among them). */
#define INLINE_WORK (1.0 * (1 << 22))

static double work(const struct predictor *p, int rows)
{
    const struct nn_spec *spec = nn_get_spec(p->net);
    return (double)rows * (double)nn_param_count(p->net) *
           (spec->timesteps > 0 ? spec->timesteps : 1);
}

/* Standardizes n rows in place as the model's inputs were, when they were. */
static void scale_in(const struct predictor *p, float *x, int n)
{
    const struct nn_spec *spec = nn_get_spec(p->net);
    const int F = spec->inputs;   /* the scaler's features: of a row, or of each step */
    const long steps = (long)n * (spec->timesteps > 0 ? spec->timesteps : 1);
    if (p->scaler)
        for (long i = 0; i < steps; i++)
            for (int j = 0; j < F; j++)
                x[(size_t)i * F + j] = (x[(size_t)i * F + j] - p->scaler[j]) / p->scaler[F + j];
}

/* Puts n output rows back in the labels' units, when they were standardized. */
static void scale_out(const struct predictor *p, float *y, int n)
{
    const int K = nn_outputs(p->net);
    if (p->label_scaler)
        for (int i = 0; i < n; i++)
            for (int j = 0; j < K; j++)
                y[(size_t)i * K + j] = y[(size_t)i * K + j] * p->label_scaler[K + j] +
                                       p->label_scaler[j];
}

int predictor_run(const struct predictor *p, float *x, int n, float *y, char *msg, size_t cap)
{
    scale_in(p, x, n);
    struct nn_error e;
    if (nn_predict(p->net, NULL, x, n, y, &e) < 0) {
        snprintf(msg, cap, "prediction failed: %s", e.msg);
        return -1;
    }
    scale_out(p, y, n);
    return 0;
}

static void run_alone(struct predict_call *c)
{
    c->rc = predictor_run(c->p, c->x, c->n, c->y, c->msg, sizeof c->msg);
}

/* Predicts the calls of one model (a list through next) as one matrix, or each alone
 * when there is one or the matrix finds no memory. */
static void run_batch(struct predict_call *calls, int rows)
{
    const struct predictor *p = calls->p;
    const struct nn_spec *spec = nn_get_spec(p->net);
    const size_t W = (size_t)spec->inputs * (spec->timesteps > 0 ? spec->timesteps : 1);
    const size_t K = (size_t)nn_outputs(p->net);
    float *x = calls->next ? malloc(sizeof(float) * rows * W) : NULL;
    float *y = x ? malloc(sizeof(float) * rows * K) : NULL;
    struct nn_error e;
    if (!y) {
        free(x);
        for (struct predict_call *c = calls; c; c = c->next)
            run_alone(c);
        return;
    }
    size_t at = 0;
    for (struct predict_call *c = calls; c; c = c->next) {
        scale_in(p, c->x, c->n);
        memcpy(x + at * W, c->x, sizeof(float) * c->n * W);
        at += (size_t)c->n;
    }
    int rc = nn_predict(p->net, NULL, x, rows, y, &e);
    at = 0;
    for (struct predict_call *c = calls; c; c = c->next) {
        if ((c->rc = rc) < 0) {
            snprintf(c->msg, sizeof c->msg, "prediction failed: %s", e.msg);
        } else {
            memcpy(c->y, y + at * K, sizeof(float) * c->n * K);
            scale_out(p, c->y, c->n);
        }
        at += (size_t)c->n;
    }
    free(x);
    free(y);
}

/* Takes from the queue (locked) the oldest call and every later one of its model that
 * fits max_batch rows; *rows gets their rows. */
static struct predict_call *take_batch(int *rows)
{
    struct predict_call *first = bq.head, **tail = &first->next, **pp = &bq.head;
    *rows = first->n;
    bq.head = first->next;
    first->next = NULL;
    for (struct predict_call *c; (c = *pp);) {
        if (c->p == first->p && *rows + c->n <= bq.max_batch) {
            *pp = c->next;   /* out of the queue, onto the batch */
            *rows += c->n;
            c->next = NULL;
            *tail = c;
            tail = &c->next;
        } else {
            pp = &c->next;
        }
    }
    bq.tail = NULL;
    for (struct predict_call *c = bq.head; c; c = c->next)
        bq.tail = c;
    return first;
}

/* The rows of the batch that take_batch would take now (locked). */
static int next_rows(void)
{
    int rows = 0;
    for (struct predict_call *c = bq.head; c; c = c->next)
        if (c->p == bq.head->p && (c == bq.head || rows + c->n <= bq.max_batch))
            rows += c->n;
    return rows;
}

/* Predicts a batch taken from the queue and wakes its calls' connections. */
static void serve(struct predict_call *calls, int rows)
{
    double now = clock_s();
    for (struct predict_call *c = calls; c; c = c->next)
        stats_batch_wait(now - c->t0);
    stats_batch(rows);
    run_batch(calls, rows);
    for (struct predict_call *c = calls, *next; c; c = next) {
        next = c->next;   /* c is its caller's again once done */
        c->done(c->ctx);
    }
}

static void *runner(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "neurond-batch");
    pthread_mutex_lock(&bq.lock);
    for (;;) {
        if (!bq.head && bq.stopping)
            break;
        if (!bq.head || (bq.busy >= bq.threads && !bq.stopping)) {
            pthread_cond_wait(&bq.work, &bq.lock);
            continue;
        }
        if (bq.window > 0 && !bq.stopping) {   /* hold the batch open for more rows */
            int rows = next_rows();
            double until = bq.head->t0 + bq.window, now = clock_s();
            if (rows < bq.max_batch && now < until) {
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                double t = ts.tv_sec + ts.tv_nsec / 1e9 + (until - now);
                ts.tv_sec = (time_t)t;
                ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
                pthread_cond_timedwait(&bq.work, &bq.lock, &ts);
                continue;
            }
        }
        int rows;
        struct predict_call *calls = take_batch(&rows);
        stats_batch_queued(-rows);
        bq.busy++;
        pthread_mutex_unlock(&bq.lock);
        serve(calls, rows);
        pthread_mutex_lock(&bq.lock);
        bq.busy--;
        pthread_cond_broadcast(&bq.work);
    }
    pthread_mutex_unlock(&bq.lock);
    return NULL;
}

int predictor_submit(struct predict_call *c, int may_wait)
{
    if (!atomic_load(&batching)) {
        run_alone(c);
        return 0;
    }
    pthread_mutex_lock(&bq.lock);
    int queue = may_wait && !bq.stopping &&
                (bq.head || bq.busy >= bq.threads || bq.window > 0 || work(c->p, c->n) > INLINE_WORK);
    if (queue) {
        c->pause(c->ctx);
        c->t0 = clock_s();
        c->next = NULL;
        if (bq.tail)
            bq.tail->next = c;
        else
            bq.head = c;
        bq.tail = c;
        stats_batch_queued(c->n);
        /* a runner is woken only when it may start a pass: when none is free, the pass
         * that ends next sees to the queue (waking one for nothing cost two context
         * switches a queued call) */
        if (bq.busy < bq.threads || bq.stopping)
            pthread_cond_broadcast(&bq.work);
        pthread_mutex_unlock(&bq.lock);
        return 1;
    }
    bq.busy++;   /* a pass of its own, which a runner waits for */
    pthread_mutex_unlock(&bq.lock);
    stats_batch_wait(0);
    stats_batch(c->n);
    run_alone(c);
    /* the rows that came meanwhile: a short batch of them runs here too, in this same
     * pass's place, before this call is answered (rather than after a runner's wake-up);
     * a longer one, or any after it, goes to a runner */
    pthread_mutex_lock(&bq.lock);
    struct predict_call *calls = NULL;
    int rows = 0;
    if (bq.head && bq.window <= 0 && !bq.stopping &&
        work(bq.head->p, next_rows()) <= INLINE_WORK) {
        calls = take_batch(&rows);
        stats_batch_queued(-rows);
    }
    pthread_mutex_unlock(&bq.lock);
    if (calls)
        serve(calls, rows);
    pthread_mutex_lock(&bq.lock);
    bq.busy--;
    if (bq.head)
        pthread_cond_broadcast(&bq.work);
    pthread_mutex_unlock(&bq.lock);
    return 0;
}

int predictor_batching(int max_batch, int window_us, int threads)
{
    if (max_batch <= 0 || threads <= 0)
        return 0;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&bq.work, &ca);
    pthread_condattr_destroy(&ca);
    bq.max_batch = max_batch;
    bq.window = window_us / 1e6;
    bq.threads = threads;
    bq.stopping = 0;
    if (!(bq.runners = calloc((size_t)threads, sizeof *bq.runners)))
        return -1;
    for (bq.nrunners = 0; bq.nrunners < threads; bq.nrunners++)
        if (pthread_create(&bq.runners[bq.nrunners], NULL, runner, NULL) != 0)
            break;
    if (bq.nrunners < threads) {
        predictor_batching_stop();
        return -1;
    }
    atomic_store(&batching, 1);
    return 0;
}

void predictor_batching_stop(void)
{
    if (!bq.runners)
        return;
    pthread_mutex_lock(&bq.lock);
    bq.stopping = 1;   /* no call queues from now on; the runners empty the queue */
    pthread_cond_broadcast(&bq.work);
    pthread_mutex_unlock(&bq.lock);
    for (int i = 0; i < bq.nrunners; i++)
        pthread_join(bq.runners[i], NULL);
    free(bq.runners);
    bq.runners = NULL;
    bq.nrunners = 0;
}
