/* store.h -- storage of jobs, their epochs and checkpoints, and models (db_jobs.c,
 * db_models.c). JSON values go in and out as jansson objects; arrays as blobs. */
#ifndef STORE_H
#define STORE_H

#include <jansson.h>
#include <stddef.h>

/* ---- jobs ---- */

/* Stores a new queued job. request: the job as accepted (borrowed). 0, 1 when a dataset
 * it names no longer exists, -1 on error. */
int db_job_insert(const char *id, const json_t *request, const char *network_id,
                  const char *dataset_id, const char *val_dataset_id, int epochs);
/* The job as GET answers it (new), NULL when absent. */
json_t *db_job_get(const char *id);
/* The stored request of a job (new), NULL when absent. */
json_t *db_job_request(const char *id);
/* Jobs in queue order, optionally of one state; {"items", "next"} (new). */
json_t *db_job_list(const char *state, int limit, const char *after);
/* Takes the oldest queued job: marks it running and copies its id into id (32 bytes).
 * Returns 1 when it took one, 0 when none is queued, -1 on error. */
int db_job_claim(char *id);
/* Running jobs back to queued (after a crash or a stop). Returns how many. */
int db_job_requeue_running(void);
/* Records an epoch: its metrics row, and the job's epoch, progress, latest row, eta. */
int db_job_epoch(const char *id, int epoch, const json_t *row, double progress, double eta);
/* Progress inside an epoch. */
int db_job_progress(const char *id, double progress, double eta);
struct model_row;
/* Ends a job: state (succeeded, failed, cancelled, or queued to resume later), its error
 * (a problem object, may be NULL) and the model it made (may be NULL), stored in the
 * same transaction: a job never ends without its model, nor a model exists for a job
 * that will run again. */
int db_job_finish(const char *id, const char *state, const json_t *error,
                  const struct model_row *model);
/* Cancels a queued job at once: 1 when it was queued (now cancelled), 0 when it is in
 * another state, -1 when absent or on error. *state gets the state it had (16 bytes). */
int db_job_cancel_queued(const char *id, char *state);
/* Every epoch row of a job, in order (new array); NULL when the job is absent. */
json_t *db_job_epochs(const char *id);
/* At most `limit` epoch rows of a job after epoch `after`, in order (new array); NULL on
 * error. */
json_t *db_job_epochs_after(const char *id, int after, int limit);

/* ---- checkpoints ---- */

struct checkpoint {
    int epoch;
    void *net;                 /* nn_save buffer, new */
    size_t net_len;
    void *rng;                 /* struct nn_rng, new */
    size_t rng_len;
    void *best;                /* early stopping's best weights, may be NULL */
    size_t best_len;
    int best_changed;          /* saving: best is new since the last save */
    json_t *state;             /* new */
};
/* Replaces a job's checkpoint (and its epoch row, in one transaction with
 * db_job_epoch when row is not NULL); the best weights are written only when
 * best_changed. A job's checkpoint goes when the job ends (db_job_finish). */
int db_checkpoint_save(const char *id, const struct checkpoint *c, const json_t *row,
                       double progress, double eta);
/* 0 and *c filled, 1 when the job has none, -1 on error. */
int db_checkpoint_load(const char *id, struct checkpoint *c);
void checkpoint_free(struct checkpoint *c);

/* ---- models ---- */

struct model_row {
    const char *id, *job_id, *name, *dataset_id, *label_kind;
    const json_t *network, *classes, *metrics;   /* borrowed; classes may be NULL */
    const float *scaler;                          /* 2 x features (mean, std), or NULL */
    size_t scaler_len;                            /* bytes */
    const void *net;
    size_t net_len;
};
/* For db_job_finish, inside its transaction. */
int db_model_insert(const struct model_row *m);
/* The model as GET answers it (new), NULL when absent. */
json_t *db_model_get(const char *id);
json_t *db_model_list(int limit, const char *after);
/* 0 deleted, 1 absent, -1 error. */
int db_model_delete(const char *id);
/* What prediction needs: the nn_save buffer, scaler, label kind and classes (all new). */
struct model_data {
    void *net;
    size_t net_len;
    float *scaler;
    size_t scaler_len;
    char label_kind[16];
    json_t *classes;
    json_t *network;
};
/* 0, 1 when absent, -1 on error. */
int db_model_load(const char *id, struct model_data *m);
void model_data_free(struct model_data *m);

#endif
