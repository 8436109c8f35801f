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

/* ---- what the workers and the handlers share ---- */

#include "nn.h"

#include <jansson.h>

/* A job's training options, read from its accepted request (h_jobs.c makes sure they are
 * valid before the job is stored). */
struct job_opts {
    const char *dataset, *val_dataset;   /* borrowed from the request */
    double split;                        /* validation split, 0 for none */
    int epochs, batch_size, shuffle, standardize;
    struct nn_optimizer opt;
    float clip_norm;
    uint64_t seed;
    int es;                              /* early stopping on */
    const char *monitor;
    int patience;
    double min_delta;
    int restore_best;
};
void job_opts_read(const json_t *request, struct job_opts *o);
/* How many of a dataset's rows a validation split holds out: ceil(rows * split). The
 * worker splits so; a job is refused when this leaves no rows to train on. */
int split_count(int rows, double split);

/* Whether labels of a dataset (its description) fit a loss over `outputs` outputs:
 * NULL when they do, else a sentence saying why not (static or in buf). */
const char *labels_fit(enum nn_loss loss, int outputs, const json_t *dataset, char *buf,
                       size_t len);
