/* queue.h -- the training queue: worker threads that take queued jobs in order and run
 * them with the trainer (domain.h), telling the event hub (events.h) what happens. The
 * queue itself lives in the database (store.h), so it survives the process. */
#ifndef QUEUE_H
#define QUEUE_H

#include "config/config.h"

#include <stddef.h>

/* Requeues the jobs a previous process left running (they resume from their last
 * checkpoint) and starts cfg->workers worker threads, each with an engine pool of
 * cfg->threads threads. NULL with a message in err. cfg is borrowed for the queue's life. */
struct queue *queue_start(const struct config *cfg, char *err, size_t errlen);
/* Stops the workers: running jobs stop at their next batch and go back to the queue, to
 * resume from their checkpoint at the next start. NULL does nothing. */
void queue_stop(struct queue *q);
/* A job was queued: wakes a worker. */
void queue_wake(struct queue *q);
/* Asks a running job to stop at its next batch (it ends cancelled). */
void queue_cancel_running(struct queue *q, const char *id);
/* Whether the workers run (for /readyz). */
int queue_alive(const struct queue *q);

#endif
