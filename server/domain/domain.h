/* domain.h -- what the service knows between its handlers and its storage: building
 * datasets from JSON and CSV, network definitions as JSON, jobs (their options, checks
 * and how they are shown), models (loaded for prediction, with their scaler and
 * classes), and the trainer that runs a job. It knows neither HTTP nor SQL: it reads and
 * writes through store.h and answers in JSON values and faults that the handlers turn
 * into replies.
 */
#ifndef DOMAIN_H
#define DOMAIN_H

#include "format/format.h"
#include "nn.h"
#include "store/store.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* One fault of a request: its HTTP status and where it is (a JSON pointer into the
 * request). */
struct fault {
    int status;                /* 413, 422, ... */
    char pointer[96];
    char detail[600];
};
/* Fills f and returns -1. */
int fault_at(struct fault *f, int status, const char *pointer, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- fields (fields.c): JSON objects read and written through nn.h's tables ---- */

#define FAULTS_MAX 100               /* faults listed; one more entry says how many more */
#define FAULT_PTR_MAX 1024           /* a base (< 256) + the deepest structural path */

/* Faults of a request as problems list them: {"pointer", "detail"} entries. A zeroed
 * struct counts faults without listing them. */
struct faults {
    json_t *errors;
    int n;                           /* found */
    int dropped;                     /* found past FAULTS_MAX (or lost to memory) */
};
/* 0, or -1 without memory. */
int faults_init(struct faults *f);
/* A fault at ptr; a fault about the member key[0..keylen) of the object at ptr (the key
 * escaped as RFC 6901 says). The detail is printf-formatted and cleaned to UTF-8. */
void fault_add(struct faults *f, const char *ptr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void fault_key(struct faults *f, const char *ptr, const char *key, size_t keylen,
               const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* The faults found (new), with an entry at ptr saying how many were not listed; f is
 * emptied. */
json_t *faults_take(struct faults *f, const char *ptr);
void faults_free(struct faults *f);
/* For a struct nn_faults whose ctx is a struct faults: the engine's faults, as they are. */
void faults_sink(void *ctx, const char *where, const char *msg);

/* What a JSON value is, for "must be ..., not <this>": "an integer", "a string", ... */
const char *json_kind(const json_t *v);
/* The member key of obj; NULL when absent or null (null means "not given"). */
const json_t *json_member(const json_t *obj, const char *key);
/* One of n names (a string of them, at `at`; what: "layer type"): its index, or -1
 * after a fault that lists them. */
int json_name(struct faults *fs, const json_t *v, const char *at, const char *what,
              const char *const *names, int n);

/* What a table's LAYERS fields are, read and written by whoever walks them. */
struct fields_layers {
    void (*read)(void *ctx, const json_t *obj, const char *ptr, const struct nn_field *f,
                 void *base);
    json_t *(*write)(void *ctx, const struct nn_field *f, const void *base);
    void *ctx;
};
/* A table of fields. */
struct field_table {
    const struct nn_field *t;
    int n;
};
/* A fault for every member of obj (at ptr) that is neither one of extra (NULL-terminated,
 * may be NULL) nor a field of the tables, listing those; what names the object ("a dense
 * layer"). */
void fields_unknown(struct faults *fs, const json_t *obj, const char *ptr,
                    const struct field_table *tables, int ntables, const char *const *extra,
                    const char *what);
/* The fields t[0..n) of obj (at ptr) into the struct at base: every field first to its
 * default; a given one must have its JSON type (null is not given; a whole number may be
 * written 16.0) and a value the engine takes (nn_field_check, whose message the fault
 * carries), and apply (nn_field_applies); a required one must be given. LAYERS fields go
 * to layers->read (NULL: skipped). Bit i of *given (may be NULL) says field i was given
 * and right. Returns the number of faults added. */
int fields_read(struct faults *fs, const json_t *obj, const char *ptr,
                const struct nn_field *t, int n, void *base, unsigned long *given,
                const struct fields_layers *layers);
/* Whether the field called name of t[0..n) was given, in fields_read's *given. */
int fields_given(const struct nn_field *t, int n, unsigned long given, const char *name);
/* The fields t[0..n) of the struct at base into obj, each that applies, with its value as
 * the engine holds it (floats as their shortest decimal, names as names); LAYERS through
 * layers->write. 0, or -1 without memory. */
int fields_write(json_t *obj, const struct nn_field *t, int n, const void *base,
                 const struct fields_layers *layers);

/* ---- datasets (datasets.c, csv_dataset.c) ---- */

/* Why a dataset name is not acceptable (empty, over DATASET_MAX_NAME bytes, a control
 * character, not UTF-8), or NULL. */
const char *dataset_bad_name(const char *s, size_t n);
/* A dataset from an upload {"name", "features", "labels", "columns"?}, features as rows
 * of numbers or as rows of steps of numbers (a dataset of sequences: columns name a
 * step's features): its name, shape, x, y, label kind, classes and columns into d (new:
 * dataset_free). 0, or -1 with the first fault in f (its pointer into the body; no status
 * when memory ran out). */
int dataset_from_json(const json_t *body, long max_values, struct dataset *d,
                      struct fault *f);
/* A CSV dataset (rows of features) as rows of `timesteps` steps (1 to 65536), time-major:
 * its features become those of one step, named by the first step's columns. 0, or -1
 * with the fault in f (no status when memory ran out): a row width that is not a
 * multiple of timesteps. */
int dataset_sequences(struct dataset *d, int timesteps, struct fault *f);
/* Per-feature statistics of d into d->stats, and d stored under a new id (store.h). */
int dataset_create(struct dataset *d);
/* A dataset as GET /v1/datasets/{id} answers it (stats when d has them). New. */
json_t *dataset_json(const struct dataset *d);

/* The classes of LABELS_NUMBERS labels: their distinct values, sorted, when all are whole
 * numbers from 0 to 1023; else NULL. New. */
json_t *dataset_number_classes(const float *y, long rows);
/* The class names of n label texts (which may repeat): the distinct texts, sorted, into
 * *classes (new), and rank[i] the place of texts[i] among them. Returns how many distinct
 * texts there are; when over max, nothing is made (*classes NULL). -1 without memory. */
long classes_rank(char *const *texts, size_t n, size_t max, uint32_t *rank, json_t **classes);

/* A dataset built from CSV as it streams in (POST /v1/datasets with text/csv). It keeps
 * only the parsed floats and the labels; the same result however the body is split.
 * Faults name their place as format.h's struct csv_error says. */
enum csv_header { CSV_HEADER_AUTO, CSV_HEADER_YES, CSV_HEADER_NO };
struct csv_dataset;
/* label: ?label= (a 0-based column index, or a column name of the header), NULL for the
 * last column; copied. header: whether the first row is a header; AUTO takes it for one
 * when a field other than the label's is not a number, and recognises scikit-learn's
 * "n_samples,n_features,class names..." first line (see csv_dataset.c). Returns new
 * (csv_dataset_free), or NULL with err filled. max_values: the most float32 values
 * (features and labels) the dataset may hold; a row past it is a 413. */
struct csv_dataset *csv_dataset_new(const char *label, enum csv_header header,
                                    long max_values, struct csv_error *err);
/* The next piece of the body. 0, or -1 with err filled (then every call fails alike). */
int csv_dataset_feed(struct csv_dataset *c, const char *data, size_t len,
                     struct csv_error *err);
/* The body ended: fills d (new: dataset_free; no name) and returns 0, or -1 with err. */
int csv_dataset_end(struct csv_dataset *c, struct dataset *d, struct csv_error *err);
void csv_dataset_free(struct csv_dataset *c);

/* ---- network definitions (networks.c) ---- */

/* A spec built from JSON, with the memory it points into. */
struct spec_json {
    struct nn_spec spec;
    struct nn_layer_spec *layers;   /* all layers of the tree, owned; spec.layers and the
                                       residual bodies point into it */
    char *name;                     /* the definition's "name" (new), or NULL */
};

/* Builds a spec from a definition. base is the pointer prefix of the definition in the
 * request ("" for a network body, "/network" inside a job; at most 255 bytes). Returns 0
 * with *out filled (spec_json_free), or -1 with *out zeroed and *errors a new array of
 * {"pointer", "detail"} naming every fault it found (at least one; NULL when memory ran
 * out): unknown or missing fields, wrong JSON types, out-of-range values, unknown names
 * (the detail lists the allowed ones), nesting or layer counts past the engine's limits.
 * What only the engine knows -- residual widths, the parameter cap (max_params; 0: no
 * cap), categorical_crossentropy with one output -- is asked of nn_spec_check once every
 * field is right. def is only read; its depth is never followed past NN_MAX_DEPTH. */
int spec_from_json(const json_t *def, const char *base, size_t max_params,
                   struct spec_json *out, json_t **errors);
/* Frees what spec_from_json filled and zeroes it; NULL or a zeroed struct is fine. */
void spec_json_free(struct spec_json *s);
/* A spec as a definition, every default written out ({"name"?, "inputs", "timesteps" (a
 * sequence network only), "layers", "loss", "metrics"}); spec_from_json of it gives the
 * same spec. name may be NULL.
 * New; NULL when memory runs out. */
json_t *spec_to_json(const struct nn_spec *spec, const char *name);
/* The summary of a built network: {"inputs" (per step), "timesteps" (a sequence network
 * only), "outputs" (values per row), "params" (total), "layers": [{"path", "type",
 * "activation" (dense and activation layers), "depth", "outputs" (per step), "steps" (a
 * layer whose output is a sequence only), "params"}...]}, one row per layer of the tree
 * in spec order (nn_summary). A network built with nn_new(spec, max, NULL, ...) --
 * weights not initialised -- is enough. New. */
json_t *spec_summary(const struct nn_net *net);
/* The engine's warnings for a valid spec: [{"pointer": base + where, "detail"}...]. New. */
json_t *spec_warnings(const struct nn_spec *spec, const char *base);
/* A stored network as GET answers it: {"id", "name", "created_at", "definition",
 * "summary", "warnings"}; in a list {"id", "name", "created_at", "inputs", "outputs",
 * "params"}. New. */
json_t *network_json(const struct network *n);
json_t *network_item_json(const struct network *n);

/* ---- jobs (jobs.c) ---- */

/* Early stopping's settings. */
struct early_stopping {
    int monitor;                         /* 2*i: watched value i (0 the loss, then each
                                            metric); 2*i + 1: its val_ twin */
    int patience;
    double min_delta;
    int restore_best;
};

/* A job's options, read from its accepted request (job_check made sure they are valid
 * before the job was stored). Each is a row of a table (jobs.c; the engine's for the
 * training options and the optimizer). */
struct job_opts {
    const char *dataset, *val_dataset;   /* borrowed from the request */
    double split;                        /* validation split, 0 for none */
    struct nn_train_opts train;          /* epochs, batch_size, clip_norm, shuffle */
    struct nn_optimizer opt;
    uint64_t seed;
    int seed_given;                      /* the request had one */
    int standardize;
    int standardize_labels;              /* mse and mae on number labels: see trainer.c */
    int es;                              /* early stopping on */
    struct early_stopping stop;
};
void job_opts_read(const json_t *request, struct job_opts *o);
/* The tables of a job's options besides the engine's (nn_train_desc, nn_opt_desc), each
 * with the part of the request it reads: "" (the top level), "/validation",
 * "/early_stopping". *out is static; returns how many. */
struct named_table {
    const char *where;
    struct field_table table;
};
int job_tables(const struct named_table **out);
/* How many of a dataset's rows a validation split holds out: ceil(rows * split). The
 * trainer splits so; a job is refused when this leaves no rows to train on. */
int split_count(int rows, double split);
/* Whether the labels of dataset d (a description) fit a loss over `outputs` outputs, a
 * sequence of `steps` steps of them (0: not a sequence): NULL when they do, else a
 * sentence saying why not (static or in buf). */
const char *labels_fit(enum nn_loss loss, int outputs, int steps, const struct dataset *d,
                       char *buf, size_t len);

/* What job_check found out besides the request. */
struct job_plan {
    char network_id[32];       /* the stored network it names, "" for an inline one */
    char val_dataset_id[32];   /* its validation dataset, "" for none */
};
/* What one job may ask for (the service's settings). */
struct job_limits {
    size_t max_params;         /* parameters of its network */
    double max_epoch_rows;     /* its epochs times its dataset's rows */
};
/* Checks a job body (POST /v1/jobs) against the stored networks and datasets and the
 * limits. Returns the request as it will be stored and answered (new: every option with
 * its default written out, as the engine will hold it; the network as a definition), or
 * NULL with every fault added to fs. */
json_t *job_check(const json_t *body, const struct job_limits *lim, struct faults *fs,
                  struct job_plan *plan);
/* A job as GET /v1/jobs/{id} answers it: its request's fields, then its state, epoch,
 * progress, latest metrics, eta, error, model and times. New. */
json_t *job_json(const struct job *j);

/* ---- models (models.c) ---- */

/* A model loaded for prediction, shared by the requests that use it (reference-counted,
 * in a small cache; nn_predict only reads the network). */
struct predictor {
    char id[32];
    struct nn_net *net;
    float *scaler;             /* mean then deviation per feature, or NULL */
    float *label_scaler;       /* mean then deviation per output, or NULL: outputs are
                                  multiplied by the deviation, then the mean is added */
    enum label_kind kind;      /* the dataset's label kind */
    json_t *classes;
    json_t *columns;           /* the input columns' names in order, or NULL */
    json_t *network;           /* the definition */
    char *name;                /* the model's name, or NULL */
    int version;               /* its version under name; 0 without a name */
    int refs;                  /* the cache's own reference counts as one */
    struct predictor *next;
};
/* A referenced predictor for model id (predictor_put when done). STORE_OK with *p set,
 * STORE_NOT_FOUND, or STORE_ERROR with a sentence in msg. */
int predictor_get(const char *id, struct predictor **p, char *msg, size_t cap);
void predictor_put(struct predictor *p);
/* Forgets a deleted model (its users keep their references). */
void predictor_drop(const char *id);
/* Forgets every loaded model, to be read from the store again when next asked for (a
 * model may have been deleted by another node unheard). */
void predictor_drop_all(void);
/* Outputs for n rows of x, at once on this thread (batch.c), into y (n x outputs): x is
 * standardized in place first when the model was, and the outputs put back in the
 * labels' units when they were. 0, or -1 with a sentence in msg. */
int predictor_run(const struct predictor *p, float *x, int n, float *y, char *msg, size_t cap);

/* ---- batched prediction (batch.c) ----
 * Rows of concurrent requests to one model go through one forward pass. A request read
 * on an HTTP thread whose rows are a short pass (under a millisecond) waits for that
 * thread's next turn of its event loop, by which it has read every request that came
 * meanwhile: the rows of that model read in one turn go together, on that thread, and
 * on an idle service a request's rows run alone, microseconds after it was read. A
 * longer pass, or every request when --batch-window is set, queues for a runner thread
 * (--predict-threads), which takes, once it is free (or --batch-window after the oldest
 * arrived), every waiting row of that model up to --max-batch and predicts them
 * together. The engine's inference products give a row the same bits in any company
 * (mm_rows), so a batched row's outputs are those it gets alone. */

/* One request's rows, handed to predictor_submit. The caller fills p (referenced), x (n
 * rows, standardized in place when the model was), y (room for n x outputs), n, and, to
 * be answered later, pause, done and ctx. */
struct predict_call {
    const struct predictor *p;
    float *x, *y;
    int n;
    int rc;                    /* 0, or -1 with msg: set before done is called */
    char msg[300];
    void (*pause)(void *ctx);  /* called before the call queues (under the queue's lock) */
    void (*done)(void *ctx);   /* called, on a runner, once rc and y are set */
    void *ctx;
    double t0;                 /* when it began to wait */
    int deferred;              /* waiting for its thread's next turn */
    struct predict_call *next;
};
/* Predicts c's rows, or has them wait for company when may_wait (the caller is an HTTP
 * thread that can answer later) and batching is on:
 *  0: they ran at once on this thread; c->rc says how it went.
 *  1: they queued for a runner: c->pause was called, c->done will be, on the runner.
 *  2: they wait for this thread's next turn: predictor_settle(c), on this thread, runs
 *     them (with the company they found) before c->rc and c->y are read, and
 *     predictor_forget(c) takes them back if the request ends first. */
int predictor_submit(struct predict_call *c, int may_wait);
/* Runs c's rows if they still wait (submit's 2), with every row of its model that
 * waits on this thread, up to --max-batch rows and a short pass; else does nothing. */
void predictor_settle(struct predict_call *c);
/* Takes c's rows back if they still wait (submit's 2); else does nothing. */
void predictor_forget(struct predict_call *c);
/* Turns batching on: batches of up to max_batch rows (0: no batching, every call runs
 * at once), held window_us for more rows, threads runners. 0, or -1 when a thread could
 * not start (batching stays off). */
int predictor_batching(int max_batch, int window_us, int threads);
/* Answers every queued call, then stops the runners; calls made after it run at once. */
void predictor_batching_stop(void);

/* What output row o (K values) predicts: a class name or index for classifiers, the
 * values themselves otherwise. New. */
json_t *predictor_label(const struct predictor *p, const float *o, int K);
/* What GET /v1/models/{id}/weights answers: the definition, the input columns, the
 * scaler, the output activation, the classes and every tensor (batchnorm's moving
 * statistics among them): all that rebuilding the model's predictions takes. New. */
json_t *predictor_weights(const struct predictor *p);
/* The model as an ONNX model (opset 17, IR version 8): graph input "input", float32 [N,
 * inputs] or [N, timesteps, inputs], unstandardized rows as /predict takes them; output
 * "output", float32 [N, outputs] or [N, steps, outputs per step], what /predict answers
 * as outputs (onnx.c's top comment lists the operators). producer_name "neurond",
 * producer_version version; metadata_props "model", "classes" (a JSON array), "label_kind",
 * "loss", "columns" (a JSON array, when known), "timesteps" (sequence models) and
 * "network" (the definition, JSON). Returns the serialized ModelProto, new (free), with
 * its length in *len; NULL with a sentence in msg when memory runs out. */
unsigned char *onnx_export(const struct predictor *p, const char *version, size_t *len,
                           char *msg, size_t cap);
/* A model as GET /v1/models/{id} answers it (with its name, version and aliases when it
 * has a name). New. */
json_t *model_json(const struct model *m);

/* ---- model names, versions and aliases (models.c) ---- */

#define MODEL_NAME_MAX 64          /* characters of a model's name or an alias */
/* Whether s[0..len) may name models (alias 0) or be an alias (alias 1): 1 to 64 letters,
 * digits, '.', '_' and '-', the first a letter or digit (never '@', '/' or ':', which
 * references and routes use); a name not starting with "mdl_" (a model id's shape), an
 * alias not all digits (name@3 is always a version). 0, or -1 with a sentence saying
 * what is wrong in msg (may be NULL when cap is 0). */
int model_name_check(const char *s, size_t len, int alias, char *msg, size_t cap);
/* The id (32 bytes) of the model a reference names: a model id (mdl_...), a name (its
 * latest version), name@N (version N) or name@alias. Every route that takes a model
 * resolves it here. STORE_OK; STORE_NOT_FOUND with what is missing in msg ("no model
 * named iris", "iris has no version 7", "iris has no alias production"); STORE_ERROR.
 * A reference without '@' that names no model is passed on as an id, for the store to
 * judge (ids are not checked for their shape). */
int model_resolve(const char *ref, char *id, char *msg, size_t cap);

/* ---- the trainer (trainer.c) ---- */

/* What the trainer tells whoever runs it, after each write is committed: an epoch's
 * metrics row, progress inside an epoch (a few times a second at most). Any may be
 * NULL. */
struct trainer_events {
    void (*epoch)(void *ctx, const char *id, int epoch, const json_t *row);
    void (*progress)(void *ctx, const char *id, const json_t *progress);
    void *ctx;
};
/* Trains job id (running, claimed from the queue as `attempt`) with pool to its end, a
 * cancel (cancel set: it ends cancelled) or a stop (stopping set as well: it goes back to
 * the queue to resume from its checkpoint), and stores the outcome with the model it
 * made. The epoch rows and checkpoints are committed as it goes, so a process that dies
 * loses at most the epoch it was in. A job whose writes find the disk full goes back to
 * the queue with its checkpoint (JOB_QUEUED, its error saying why). Every write carries
 * the attempt (0: none checked): once one is refused (STORE_FENCED: another node took
 * the job over), the trainer stops, writes nothing more, logs why and returns
 * JOB_RUNNING (the job is another attempt's). Returns the state the job was left in. */
enum job_state trainer_run(const char *id, int attempt, size_t max_params, struct nn_pool *pool,
                           const _Atomic int *cancel, const _Atomic int *stopping,
                           const struct trainer_events *ev);

/* ---- TensorBoard event files (tensorboard.c) ----
 * job is a job as job_json shows it, rows its epoch rows as stored; the tags each value
 * gets are listed at the top of tensorboard.c. Each writer returns 0, or -1 when a write
 * to f failed or memory ran out. */

/* The file's first record: file_version, at the job's start (its creation before). */
int tb_write_head(FILE *f, const json_t *job);
/* One epoch row as an event: step = its epoch, wall_time = its ended_at, and a summary of
 * its scalars (the null ones left out) with the job's learning rate. */
int tb_write_epoch(FILE *f, const json_t *job, const json_t *row);
/* The head, then every row. */
int tb_write_job(FILE *f, const json_t *job, const json_t *rows);
/* The job's event file name, "events.out.tfevents.<its creation>.<host>" (the same for
 * every run of a job on one host). */
void tb_file_name(char *buf, size_t cap, const json_t *job);
/* The job's folder under a TensorBoard directory: its id, or its name made safe for a
 * path (at most 100 bytes of it; '/', '\\', ':*?"<>|', control characters, bytes that are
 * not UTF-8 and a leading '.' as '_') then '_' and the id. */
void tb_folder(char *buf, size_t cap, const json_t *job);

#endif
