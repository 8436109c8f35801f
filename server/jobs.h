/* jobs.h -- the training queue: jobs live in SQLite, worker threads take them in order
 * (jobs.c); handlers for /v1/jobs (h_jobs.c). */
#ifndef JOBS_H
#define JOBS_H

#include "app.h"

#include <stddef.h>

/* Requeues the jobs a previous process left running (they resume from their last
 * checkpoint) and starts cfg.workers worker threads. NULL with a message in err. */
struct jobs *jobs_start(struct app *app, char *err, size_t errlen);
/* Stops the workers: running jobs stop at their next batch and go back to the queue,
 * to resume from their checkpoint at the next start. */
void jobs_stop(struct jobs *j);
/* A job was queued: wakes a worker. */
void jobs_wake(struct jobs *j);
/* Asks a running job to stop at its next batch (its state says cancelled). */
void jobs_cancel_running(struct jobs *j, const char *id);
/* Workers running (for /readyz). */
int jobs_alive(const struct jobs *j);

#endif
