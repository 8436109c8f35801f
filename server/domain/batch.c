/* batch.c -- predictions: one call's rows run at once (predictor_run), or, when other
 * requests' rows wait for the same model, in one forward pass with theirs (domain.h).
 *
 * DESIGN: two places where rows wait for company.
 *
 * The HTTP thread's turn. A short call (INLINE_WORK) made on an HTTP thread waits on
 * that thread's list (thread-local: no lock) until the thread comes back to it on its
 * next turn of its event loop, having read meanwhile every request that arrived on its
 * other connections. predictor_settle then runs the call with every call of its model
 * on the list, up to max_batch rows and INLINE_WORK, as one matrix, on that thread.
 * Under load a turn reads many requests, and their rows go in one pass; on an idle
 * service the next turn comes at once, and a call's rows run alone, microseconds later.
 * No thread is woken and no connection paused: a pass of one row costs what running it
 * at once did, and a pass of many rows reads the model's weights once for all of them.
 *
 * The queue. Any other call -- a long pass, or any call when a window is set -- queues,
 * its connection paused. A runner (--predict-threads of them) takes the oldest call's model
 * and every queued call of that model that fits in max_batch rows, in order of arrival,
 * predicts their rows as one matrix and wakes their connections; rows that arrive
 * during a pass go in the next. A call of more rows than max_batch is a batch of its
 * own, in either place. */
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
    pthread_cond_t work;              /* on CLOCK_MONOTONIC: a call queued, or stopping */
    struct predict_call *head, *tail;
    int stopping;
    int max_batch;
    double window;                    /* seconds */
    pthread_t *runners;
    int nrunners;
} bq = {.lock = PTHREAD_MUTEX_INITIALIZER};
static atomic_int batching;           /* runners are up: calls may wait */

/* The calls this HTTP thread deferred to its next turn, in order of arrival. */
static _Thread_local struct predict_call *turn, **turn_end;   /* turn_end NULL: &turn */

/* Takes *pp off the turn's list. */
static void turn_unlink(struct predict_call **pp)
{
    struct predict_call *c = *pp;
    if (!(*pp = c->next))
        turn_end = pp;
    c->next = NULL;
    c->deferred = 0;
}

/* Where c is on the turn's list. */
static struct predict_call **turn_find(const struct predict_call *c)
{
    struct predict_call **pp = &turn;
    while (*pp != c)
        pp = &(*pp)->next;
    return pp;
}

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
    stats_batch(rows, 1);
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
        if (!bq.head) {
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
        pthread_mutex_unlock(&bq.lock);
        serve(calls, rows);
        pthread_mutex_lock(&bq.lock);
    }
    pthread_mutex_unlock(&bq.lock);
    return NULL;
}

int predictor_submit(struct predict_call *c, int may_wait)
{
    c->deferred = 0;
    if (!atomic_load(&batching)) {
        run_alone(c);
        return 0;
    }
    if (may_wait && bq.window <= 0 && work(c->p, c->n) <= INLINE_WORK) {
        c->t0 = clock_s();
        c->deferred = 1;
        c->next = NULL;
        *(turn_end ? turn_end : &turn) = c;
        turn_end = &c->next;
        stats_batch_queued(c->n);
        return 2;
    }
    if (may_wait) {
        pthread_mutex_lock(&bq.lock);
        if (!bq.stopping) {
            c->pause(c->ctx);
            c->t0 = clock_s();
            c->next = NULL;
            if (bq.tail)
                bq.tail->next = c;
            else
                bq.head = c;
            bq.tail = c;
            stats_batch_queued(c->n);
            pthread_cond_signal(&bq.work);
            pthread_mutex_unlock(&bq.lock);
            return 1;
        }
        pthread_mutex_unlock(&bq.lock);
    }
    stats_batch_wait(0);   /* a pass of its own, at once */
    stats_batch(c->n, 0);
    run_alone(c);
    return 0;
}

void predictor_settle(struct predict_call *c)
{
    if (!c->deferred)
        return;
    /* c first, then the turn's other calls of its model, in order, while they fit */
    turn_unlink(turn_find(c));
    struct predict_call **tail = &c->next;
    int rows = c->n;
    for (struct predict_call **pp = &turn; *pp;) {
        struct predict_call *o = *pp;
        if (o->p == c->p && rows + o->n <= bq.max_batch &&
            work(c->p, rows + o->n) <= INLINE_WORK) {
            turn_unlink(pp);
            *tail = o;
            tail = &o->next;
            rows += o->n;
        } else {
            pp = &o->next;
        }
    }
    stats_batch_queued(-rows);
    double now = clock_s();
    for (struct predict_call *o = c; o; o = o->next)
        stats_batch_wait(now - o->t0);
    stats_batch(rows, 0);
    run_batch(c, rows);
}

void predictor_forget(struct predict_call *c)
{
    if (c->deferred) {
        turn_unlink(turn_find(c));
        stats_batch_queued(-c->n);
    }
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
