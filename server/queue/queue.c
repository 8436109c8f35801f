/* queue.c -- the worker threads of the training queue (queue.h).
 *
 * DESIGN. Jobs live in the database, so the queue survives the process. Each worker
 * thread owns an engine pool and its own database connection; it claims the oldest queued
 * job (an UPDATE ... RETURNING, atomic), runs it with the trainer, and sleeps on a
 * condition variable when the queue is empty (queue_wake signals it; a timed wait also
 * polls, in case another process queued work). queue_start puts jobs a previous process
 * left running back in the queue, before every newer job: they resume from their last
 * checkpoint. A cancel (or a stop of the service) sets the worker's flag, which the engine
 * checks before every batch. A cancel is first marked on the job's row, in the same
 * transaction that found it running: the row is what makes the job end cancelled (even
 * when its training was done as the cancel came), and a worker that claimed the job just
 * before the mark reads it once it has published the job it runs. The HTTP threads never
 * train. With --tensorboard-dir a worker also keeps the running job's event file
 * (tensorboard.c), fed from the same epoch callback as the hub.
 */
#include "queue.h"

#include "domain/domain.h"
#include "events/events.h"
#include "format/format.h"
#include "store/store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct worker {
    struct queue *q;
    pthread_t th;
    char job[32];              /* the job it runs, "" when idle (under q->lock) */
    _Atomic int cancel;        /* set to stop the running job at its next batch */
    struct tb_live *tb;        /* the running job's TensorBoard file, or NULL */
};

struct queue {
    const struct config *cfg;
    struct worker *w;
    int n;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    _Atomic int stopping;      /* set under lock */
    int started;
};

/* The trainer's events, to the hub (and an epoch to the TensorBoard file); ctx is the
 * worker. */
static void on_epoch(void *ctx, const char *id, int epoch, const json_t *row)
{
    struct worker *w = ctx;
    hub_epoch(id, epoch, row);
    tb_live_epoch(w->tb, row);
}

static void on_progress(void *ctx, const char *id, const json_t *progress)
{
    (void)ctx;
    hub_progress(id, progress);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct queue *q = w->q;
    pthread_setname_np(pthread_self(), "neurond-work");   /* its engine threads inherit it */
    struct nn_pool *pool = nn_pool_new(q->cfg->threads);
    const struct trainer_events events = {on_epoch, on_progress, w};
    while (!atomic_load(&q->stopping)) {
        char id[32];
        if (store_job_claim(id) == STORE_OK) {
            pthread_mutex_lock(&q->lock);
            snprintf(w->job, sizeof w->job, "%s", id);
            atomic_store(&w->cancel, q->stopping);
            pthread_mutex_unlock(&q->lock);
            /* a cancel marked before w->job was set found no worker to stop */
            if (store_job_cancelling(id) > 0)
                atomic_store(&w->cancel, 1);
            hub_status(id);
            if (q->cfg->tensorboard_dir)
                w->tb = tb_live_open(q->cfg->tensorboard_dir, id);
            trainer_run(id, q->cfg->max_params, pool, &w->cancel, &q->stopping, &events);
            tb_live_close(w->tb);
            w->tb = NULL;
            hub_status(id);
            pthread_mutex_lock(&q->lock);
            w->job[0] = 0;
            pthread_mutex_unlock(&q->lock);
            continue;
        }
        struct timespec until;
        deadline_in(&until, 1);
        pthread_mutex_lock(&q->lock);
        if (!q->stopping)
            pthread_cond_timedwait(&q->wake, &q->lock, &until);
        pthread_mutex_unlock(&q->lock);
    }
    nn_pool_free(pool);
    return NULL;
}

struct queue *queue_start(const struct config *cfg, char *err, size_t errlen)
{
    /* a node without workers leaves the queue, and the jobs other nodes run, alone */
    if (cfg->workers > 0 && store_job_requeue_running() < 0) {
        snprintf(err, errlen, "cannot read the job queue from the database");
        return NULL;
    }
    struct queue *q = calloc(1, sizeof *q);
    if (!q || !(q->w = calloc((size_t)cfg->workers, sizeof *q->w))) {
        free(q);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    q->cfg = cfg;
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->wake, NULL);
    for (int i = 0; i < cfg->workers; i++) {
        q->w[i].q = q;
        if (pthread_create(&q->w[i].th, NULL, worker_main, &q->w[i]) != 0) {
            snprintf(err, errlen, "cannot start worker threads");
            queue_stop(q);
            return NULL;
        }
        q->n = i + 1;
    }
    q->started = 1;
    return q;
}

void queue_stop(struct queue *q)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->lock);
    atomic_store(&q->stopping, 1);
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

void queue_wake(struct queue *q)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->lock);
    pthread_cond_signal(&q->wake);
    pthread_mutex_unlock(&q->lock);
}

void queue_cancel_running(struct queue *q, const char *id)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->lock);
    for (int i = 0; i < q->n; i++)
        if (strcmp(q->w[i].job, id) == 0)
            atomic_store(&q->w[i].cancel, 1);
    pthread_mutex_unlock(&q->lock);
}

int queue_alive(const struct queue *q) { return q && q->started && q->n == q->cfg->workers; }
