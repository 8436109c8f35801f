/* queue.h -- the training queue: worker threads that take queued jobs in order and run
 * them with the trainer (domain.h), telling the event hub (events.h) what happens. The
 * queue itself lives in the database (store.h), so it survives the process. */
#ifndef QUEUE_H
#define QUEUE_H

#include "config/config.h"

#include <jansson.h>
#include <stddef.h>

/* Requeues the jobs a previous process left running (they resume from their last
 * checkpoint; on PostgreSQL only those of cfg->node_id, as other nodes may be training
 * theirs; each a dead attempt, failing a job at cfg->max_attempts) and starts
 * cfg->workers worker threads, each with an engine pool of cfg->threads threads, and the
 * thread that renews their jobs' leases; with no workers (--workers 0) it does none of
 * this, and the node trains nothing. NULL with a message in err. cfg is borrowed for the
 * queue's life. */
struct queue *queue_start(const struct config *cfg, char *err, size_t errlen);
/* Stops the workers: running jobs stop at their next batch and go back to the queue, to
 * resume from their checkpoint at the next start. NULL does nothing. */
void queue_stop(struct queue *q);
/* A job was queued: wakes a worker. */
void queue_wake(struct queue *q);
/* Asks a running job to stop at its next batch (it ends cancelled). */
void queue_cancel_running(struct queue *q, const char *id);
/* Whether the workers run, all of them (for /readyz; true with none asked for). */
int queue_alive(const struct queue *q);

/* A running job's TensorBoard event file under --tensorboard-dir (tensorboard.c), for the
 * workers. tb_live_open makes DIR/<folder>/ (tb_folder) and writes the file anew from the
 * job's stored epochs; tb_live_epoch appends an epoch's row once it is committed. A
 * failure is logged once and ends the writing, never the job. NULL only when out of
 * memory; every call takes NULL. */
struct tb_live;
struct tb_live *tb_live_open(const char *dir, const char *id);
void tb_live_epoch(struct tb_live *t, const json_t *row);
void tb_live_close(struct tb_live *t);

#endif
