/* queue.c -- the worker threads of the training queue (queue.h).
 *
 * DESIGN. Jobs live in the database, so the queue survives the process. Each worker
 * thread owns an engine pool and its own database connection; it claims the oldest queued
 * job (an UPDATE ... RETURNING, atomic), runs it with the trainer, and sleeps on a
 * condition variable when the queue is empty (queue_wake signals it; a timed wait also
 * polls, in case another process queued work; longer, up to 5 s, while the database
 * cannot be reached). queue_start puts jobs a previous process
 * left running back in the queue, before every newer job: they resume from their last
 * checkpoint. A cancel (or a stop of the service) sets the worker's flag, which the engine
 * checks before every batch. A cancel is first marked on the job's row, in the same
 * transaction that found it running: the row is what makes the job end cancelled (even
 * when its training was done as the cancel came), and a worker that claimed the job just
 * before the mark reads it once it has published the job it runs. The HTTP threads never
 * train. With --tensorboard-dir a worker also keeps the running job's event file
 * (tensorboard.c), fed from the same epoch callback as the hub.
 *
 * Nodes. Several processes may share one PostgreSQL database, each with its workers. A
 * claim holds the job for --lease seconds under the node's id (--node-id) and gives it a
 * new attempt number; a thread of the queue (renew_main) renews every running job's lease
 * a few times per lease, however long a batch takes, and reads its cancel mark on the
 * way, so that a cancel sent to another node stops it too. A job whose lease lapsed (its
 * node was killed, frozen or cut off) is claimed by another node's worker, and resumes
 * from its checkpoint; every write the trainer makes carries the attempt, and is refused
 * once it is not the job's (STORE_FENCED): the node that lost the job stops it and writes
 * nothing more. A renewal that finds the job gone from its attempt stops it at its next
 * batch. At start, queue_start requeues what a previous process left running (on SQLite
 * every running job; on PostgreSQL only those of its own node id), each a dead attempt:
 * a job at --max-attempts of them ends failed (store.h's leases).
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
#include <time.h>

struct worker {
    struct queue *q;
    pthread_t th;
    char job[32];              /* the job it runs, "" when idle (under q->lock) */
    int attempt;               /* the job's attempt, its claim (under q->lock) */
    _Atomic int cancel;        /* set to stop the running job at its next batch */
    struct tb_live *tb;        /* the running job's TensorBoard file, or NULL */
};

struct queue {
    const struct config *cfg;
    struct worker *w;
    int n;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_cond_t wake_renew; /* stops renew_main's wait */
    _Atomic int stopping;      /* set under lock */
    int started;
    pthread_t renewer;         /* renew_main */
    int renewing;              /* it was started */
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
    const struct claimer me = {q->cfg->node_id, q->cfg->lease, q->cfg->max_attempts};
    int away = 0;              /* seconds between claims while the database is away */
    while (!atomic_load(&q->stopping)) {
        char id[32];
        int attempt = 0;
        int claimed = store_job_claim(&me, id, &attempt);
        if (claimed == STORE_OK) {
            pthread_mutex_lock(&q->lock);
            snprintf(w->job, sizeof w->job, "%s", id);
            w->attempt = attempt;
            atomic_store(&w->cancel, q->stopping);
            pthread_mutex_unlock(&q->lock);
            /* a cancel marked before w->job was set found no worker to stop */
            if (store_job_cancelling(id) > 0)
                atomic_store(&w->cancel, 1);
            hub_status(id);
            if (q->cfg->tensorboard_dir)
                w->tb = tb_live_open(q->cfg->tensorboard_dir, id);
            trainer_run(id, attempt, q->cfg->max_params, pool, &w->cancel, &q->stopping,
                        &events);
            tb_live_close(w->tb);
            w->tb = NULL;
            hub_status(id);
            pthread_mutex_lock(&q->lock);
            w->job[0] = 0;
            pthread_mutex_unlock(&q->lock);
            continue;
        }
        /* the database out of reach (logged once by the store): 1, 2, 4, 5, 5 ... s */
        away = claimed != STORE_UNAVAILABLE ? 0 : away ? (away * 2 < 5 ? away * 2 : 5) : 1;
        struct timespec until;
        deadline_in(&until, away ? away : 1);
        pthread_mutex_lock(&q->lock);
        if (!q->stopping)
            pthread_cond_timedwait(&q->wake, &q->lock, &until);
        pthread_mutex_unlock(&q->lock);
    }
    nn_pool_free(pool);
    return NULL;
}

/* Renews the lease of every job the workers run, every third of a lease (at most 5 s
 * apart), until the queue stops. A job marked to be cancelled (through any node) is
 * stopped at its next batch; so is one whose attempt is no longer its own (the trainer's
 * next write is refused, and it drops the job). */
static void *renew_main(void *arg)
{
    struct queue *q = arg;
    pthread_setname_np(pthread_self(), "neurond-lease");
    double every = q->cfg->lease / 3.0 < 5 ? q->cfg->lease / 3.0 : 5;
    pthread_mutex_lock(&q->lock);
    while (!q->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        double t = until.tv_sec + until.tv_nsec / 1e9 + every;
        until.tv_sec = (time_t)t;
        until.tv_nsec = (long)((t - (double)until.tv_sec) * 1e9);
        pthread_cond_timedwait(&q->wake_renew, &q->lock, &until);
        for (int i = 0; i < q->n && !q->stopping; i++) {
            struct worker *w = &q->w[i];
            if (!w->job[0])
                continue;
            char id[32];
            int attempt = w->attempt, cancel = 0;
            snprintf(id, sizeof id, "%s", w->job);
            pthread_mutex_unlock(&q->lock);   /* no lock held across the database */
            int rc = store_job_renew(id, attempt, q->cfg->lease, &cancel);
            pthread_mutex_lock(&q->lock);
            if (strcmp(w->job, id) != 0 || w->attempt != attempt)
                continue;   /* the worker moved on meanwhile */
            if (rc == STORE_FENCED || (rc == STORE_OK && cancel))
                atomic_store(&w->cancel, 1);
        }
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

struct queue *queue_start(const struct config *cfg, char *err, size_t errlen)
{
    /* a node without workers leaves the queue, and the jobs other nodes run, alone */
    if (cfg->workers > 0 && store_job_requeue_running(cfg->node_id, cfg->max_attempts) < 0) {
        snprintf(err, errlen, "cannot read the job queue from the database");
        return NULL;
    }
    struct queue *q = calloc(1, sizeof *q);
    if (!q || !(q->w = calloc(cfg->workers > 0 ? (size_t)cfg->workers : 1, sizeof *q->w))) {
        free(q);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    q->cfg = cfg;
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->wake, NULL);
    pthread_cond_init(&q->wake_renew, NULL);
    for (int i = 0; i < cfg->workers; i++) {
        q->w[i].q = q;
        if (pthread_create(&q->w[i].th, NULL, worker_main, &q->w[i]) != 0) {
            snprintf(err, errlen, "cannot start worker threads");
            queue_stop(q);
            return NULL;
        }
        q->n = i + 1;
    }
    if (pthread_create(&q->renewer, NULL, renew_main, q) != 0) {
        snprintf(err, errlen, "cannot start the lease thread");
        queue_stop(q);
        return NULL;
    }
    q->renewing = 1;
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
    pthread_cond_broadcast(&q->wake_renew);
    pthread_mutex_unlock(&q->lock);
    for (int i = 0; i < q->n; i++)
        pthread_join(q->w[i].th, NULL);
    if (q->renewing)
        pthread_join(q->renewer, NULL);
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->wake);
    pthread_cond_destroy(&q->wake_renew);
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
