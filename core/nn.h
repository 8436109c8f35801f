/* nn.h -- the neurond engine: build a network from a spec, train it, predict, save and load.
 *
 * The engine knows nothing of HTTP, JSON or SQL. A network is built from a plain C spec
 * (struct nn_spec), owns all its memory in a few flat buffers, and is trained by nn_train
 * on float32 row-major data. Parallel work runs on a caller-owned nn_pool; OpenBLAS is
 * kept single-threaded (see nn_pool_new), so the pool is the only set of threads. The
 * threads take a step's work in tiles as they come, and every result is the same
 * whatever the number of threads: the same seed gives bit-identical losses.
 *
 * Errors a caller can cause (a bad spec, bad data, a corrupted buffer, a diverging loss)
 * come back as -1 or NULL with a struct nn_error naming the place at fault as a path
 * ("/layers/2/units"); broken invariants inside the engine are asserts.
 */
#ifndef NN_H
#define NN_H

#include <stddef.h>
#include <stdint.h>

enum nn_kind {
    NN_DENSE, NN_ACTIVATION, NN_DROPOUT, NN_BATCHNORM, NN_RESIDUAL, NN_RNN, NN_LSTM, NN_GRU,
    NN_KIND_COUNT
};
enum nn_act {
    NN_LINEAR, NN_STEP, NN_SIGMOID, NN_TANH, NN_RELU, NN_LEAKY_RELU, NN_SOFTMAX, NN_ACT_COUNT
};
/* NN_INIT_AUTO: He (normal) for the relu family, Glorot (uniform) otherwise. */
enum nn_init {
    NN_INIT_AUTO, NN_INIT_HE_NORMAL, NN_INIT_HE_UNIFORM, NN_INIT_GLOROT_NORMAL,
    NN_INIT_GLOROT_UNIFORM, NN_INIT_ZEROS, NN_INIT_COUNT
};
enum nn_loss { NN_MSE, NN_MAE, NN_BCE, NN_CCE, NN_LOSS_COUNT };
enum nn_metric { NN_METRIC_ACCURACY, NN_METRIC_MAE, NN_METRIC_MSE, NN_METRIC_COUNT };
enum nn_opt { NN_SGD, NN_ADAM, NN_OPT_COUNT };

/* Names as a user writes them ("dense", "leaky_relu", "categorical_crossentropy", ...).
 * nn_*_name returns a static string (NULL when out of range); nn_*_parse returns the
 * enum value or -1 for an unknown name. */
const char *nn_kind_name(int kind);
const char *nn_act_name(int act);
const char *nn_init_name(int init);
const char *nn_loss_name(int loss);
const char *nn_metric_name(int metric);
const char *nn_opt_name(int opt);
int nn_kind_parse(const char *s);
int nn_act_parse(const char *s);
int nn_init_parse(const char *s);
int nn_loss_parse(const char *s);
int nn_metric_parse(const char *s);
int nn_opt_parse(const char *s);

/* A seeded random state, passed in wherever randomness is used (never global). */
struct nn_rng { uint64_t s[4]; };
void nn_rng_seed(struct nn_rng *r, uint64_t seed);
uint64_t nn_rng_next(struct nn_rng *r);
double nn_rng_uniform(struct nn_rng *r);                /* [0, 1) */

/* One layer of a spec. Fields not used by a kind are ignored. */
struct nn_layer_spec {
    enum nn_kind kind;
    int units;                           /* dense: output width */
    enum nn_act act;                     /* dense, activation */
    float alpha;                         /* leaky_relu: slope for x < 0 */
    enum nn_init init;                   /* dense */
    float rate;                          /* dropout: fraction dropped, in [0, 1) */
    float momentum;                      /* batchnorm: running = m*running + (1-m)*batch
                                            (the batch variance unbiased, as PyTorch's) */
    float epsilon;                       /* batchnorm: > 0 */
    const struct nn_layer_spec *layers;  /* residual: body, output added to its input */
    int nlayers;
    int return_sequences;                /* rnn, lstm, gru: output every step (1) or the
                                            last step only (0) */
    int unit_forget_bias;                /* lstm: the forget gate's bias starts at 1 */
};

/* Layer constructors: every field of the kind at its descriptor's default (leaky_relu
 * alpha 0.01, batchnorm momentum 0.99 and epsilon 1e-3, as in Keras; see nn_kind_desc),
 * the fields of other kinds 0, then the arguments. */
struct nn_layer_spec nn_dense(int units, enum nn_act act);
struct nn_layer_spec nn_activation(enum nn_act act);
struct nn_layer_spec nn_dropout(float rate);
struct nn_layer_spec nn_batchnorm(void);
struct nn_layer_spec nn_residual(const struct nn_layer_spec *layers, int nlayers);
/* Recurrent layers over a sequence input (a network with timesteps), PyTorch's equations
 * and gate layout: rnn (Elman, tanh by default, relu allowed), lstm (gates i, f, g, o),
 * gru (gates r, z, n; the reset gate applied after the recurrent product). */
struct nn_layer_spec nn_rnn(int units, int return_sequences);
struct nn_layer_spec nn_lstm(int units, int return_sequences);
struct nn_layer_spec nn_gru(int units, int return_sequences);

struct nn_spec {
    int inputs;
    const struct nn_layer_spec *layers;
    int nlayers;
    enum nn_loss loss;
    unsigned metrics;                    /* bit set of (1u << NN_METRIC_*) */
    int timesteps;                       /* 0: a row is `inputs` values; T >= 1: a row is
                                            a sequence of T steps of `inputs` values each,
                                            time-major (T x inputs values) */
};

#define NN_WHERE 256                    /* room for the deepest path allowed */
#define NN_MSG 256
struct nn_error {
    char where[NN_WHERE];                /* path of the field at fault, "" when none */
    char msg[NN_MSG];
};
struct nn_warning {
    char where[NN_WHERE];
    char msg[NN_MSG];
};

#define NN_MAX_DEPTH 16                  /* residual nesting */
#define NN_MAX_WIDTH (1 << 24)           /* units, inputs */
#define NN_MAX_LAYERS 4096               /* in the whole tree */

/* ---- fields and descriptors ----
 *
 * Every value a user sets -- a layer's fields, the optimizer's, the training options --
 * is described once, by a row of a table: its name, type, range, default and place in
 * its struct. The engine checks through these rows, and so can anyone who reads the
 * values from elsewhere (JSON), so a range and its message exist in one place. */

/* A field of a spec or of options: what a user may write, its range and default, and
 * where it lands in its struct. */
enum nn_ftype { NN_FT_INT, NN_FT_FLOAT, NN_FT_BOOL, NN_FT_NAME, NN_FT_U64, NN_FT_LAYERS,
                NN_FT_DOUBLE };
#define NN_FIELD_REQUIRED 1u   /* no default: a value must be given */
#define NN_FIELD_LO_OPEN 2u    /* lo itself is out of range (a > lo) */
#define NN_FIELD_HI_OPEN 4u    /* hi itself is out of range (a < hi) */
#define NN_FIELD_DEFAULT_VARIES 8u  /* its default depends on other values (or is random):
                                       who reads it sets it; def is a placeholder */
struct nn_field {
    const char *name;                 /* as a user writes it: "units" */
    enum nn_ftype type;
    size_t offset;                    /* offsetof its member in the struct */
    double lo, hi;                    /* range of INT, FLOAT, U64 (hi may be INFINITY) */
    unsigned flags;
    double def;                       /* default: a number, 0/1 for BOOL, the index for NAME */
    const char *const *names;         /* NAME: the allowed names; the value is the index */
    int nnames;
    const char *when;                 /* NULL, or the name of a NAME field of the same table */
    int when_value;                   /* ... that must have this value for this field to apply
                                         (alpha applies only when activation is leaky_relu) */
    const char *about;                /* what it is, for messages: "the width of its output" */
};
/* NN_FT_INT, NAME and BOOL members are int (enums included); FLOAT float; U64 uint64_t;
 * DOUBLE double (the engine has none; a caller's options may: a finite number in range);
 * LAYERS is the pair (const struct nn_layer_spec *layers, int nlayers) of a residual
 * body, offset being that of `layers` (the count follows it).
 *
 * nn_field_get reads field f of the struct at base as a number (LAYERS: the count).
 * nn_field_set stores v, converted to the member's type: a value nn_field_check refused
 * is stored clamped to the member's type, never with undefined behaviour; LAYERS cannot
 * be set from a number (an assert). */
double nn_field_get(const struct nn_field *f, const void *base);
void nn_field_set(const struct nn_field *f, void *base, double v);
/* Every field of a table to its default (LAYERS: NULL, 0); other members untouched. */
void nn_fields_default(const struct nn_field *t, int n, void *base);
/* 0 when v is a value of f (in its range; a whole number for INT/U64; an index of a name
 * for NAME; 0 or 1 for BOOL), else -1 with the one message for it in msg, such as
 * "units must be from 1 to 16777216, not 0", "rate must be at least 0 and below 1, not 1.5",
 * "epsilon must be above 0, not 0", "unknown activation 9". Whole numbers print as
 * integers, others with the shortest %g that reads back. A FLOAT is checked as the float
 * the engine would hold (v rounded to float, its bounds too), so a value is judged and
 * printed the same whether it came from JSON or from C. LAYERS: v is the count, at
 * least 1 ("needs at least one layer"). msg may be NULL when cap is 0. */
int nn_field_check(const struct nn_field *f, double v, char *msg, size_t cap);
/* The range of an INT, FLOAT or U64 field in the words of nn_field_check's messages
 * ("from 1 to 16777216", "at least 0 and below 1", "above 0"), into out. */
void nn_field_range(const struct nn_field *f, char *out, size_t cap);
/* Whether field f of table t applies to the struct at base (its `when` condition):
 * 1, or 0 with "alpha applies only to the leaky_relu activation, not relu" in msg. */
int nn_field_applies(const struct nn_field *t, int n, const struct nn_field *f,
                     const void *base, char *msg, size_t cap);
/* The field of table t (n rows) with this name; NULL when absent. */
const struct nn_field *nn_field_find(const struct nn_field *t, int n, const char *name);

/* The public face of a layer kind (the engine's own hooks stay in nn_internal.h):
 * its name and its fields besides "type", in the order a definition is written out. */
struct nn_kind_desc {
    const char *name;
    const struct nn_field *fields;
    int nfields;
};
const struct nn_kind_desc *nn_kind_desc(int kind);        /* NULL when out of range */
/* The fields of struct nn_optimizer for an optimizer type (its "type" not among them):
 * sgd: learning_rate, momentum, nesterov, weight_decay; adam: learning_rate, beta1, beta2,
 * epsilon, weight_decay. NULL when out of range. */
const struct nn_kind_desc *nn_opt_desc(int opt);
/* The fields of struct nn_train_opts a user sets: epochs, batch_size, clip_norm, shuffle. */
extern const struct nn_kind_desc nn_train_desc;
/* The fields of struct nn_spec: inputs, layers, loss (its metrics are a set of names,
 * which no field type describes). */
extern const struct nn_kind_desc nn_spec_desc;

/* Where faults go, so that a check reports every one: add(ctx, where, msg) per fault,
 * where and msg borrowed for the call (copy what is kept). add may be NULL: the faults are
 * then only counted. */
struct nn_faults {
    void (*add)(void *ctx, const char *where, const char *msg);
    void *ctx;
    int n;                            /* faults reported so far */
};

/* Checks a spec without allocating anything for the network. On success returns 0 and,
 * when nparams is not NULL, stores the trainable parameter count; a spec over max_params
 * (0: no cap) is an error. On error returns -1 with err filled (the first fault that
 * nn_spec_check_all reports). */
int nn_spec_check(const struct nn_spec *spec, size_t max_params, size_t *nparams,
                  struct nn_error *err);
/* nn_spec_check reporting every fault (each field's range and name, kind rules, widths
 * through residual blocks, nesting and layer-count limits, the parameter cap, the loss
 * against the output width; sequences: a recurrent layer needs one and must not be in a
 * residual block, batchnorm, softmax and categorical_crossentropy take none, and a row
 * holds at most NN_MAX_WIDTH values in and out) rather than the first; returns 0 when
 * there were none, -1 otherwise. A layer with a faulty field makes its output width
 * unknown: checks that depend on that width are skipped rather than reported twice.
 * nn_spec_check (kept, same signature) is this with a sink that keeps the first fault.
 * Paths are those of nn_error ("/layers/2/units"); nparams is stored only when there was
 * no fault. */
int nn_spec_check_all(const struct nn_spec *spec, size_t max_params, size_t *nparams,
                      struct nn_faults *f);

/* Faults of a spec that nn_spec_check accepts but that could not learn, which a new
 * definition should be refused for (the engine still builds, trains and loads such a
 * network: saved ones stay usable). One for now: categorical_crossentropy over an output
 * that is not a probability per class -- the output layer (the last at the top level
 * that is not a dropout) has an activation other than softmax or sigmoid (linear, relu,
 * leaky_relu, tanh, step), or none (a batchnorm, a residual). The loss clips such outputs
 * to [1e-7, 1] and takes no gradient where it clipped, so a relu output learns nothing.
 * Reported at the layer's activation ("/layers/3/activation"), or at the layer when its
 * kind has none, saying to use softmax. Returns 0 when there are none, -1 otherwise. */
int nn_spec_check_training(const struct nn_spec *spec, struct nn_faults *f);

/* The output width of a spec that nn_spec_check accepts, each layer kind saying its own,
 * without building the network: values per row (steps x units for a sequence output). */
int nn_spec_outputs(const struct nn_spec *spec);
/* The steps of its output: 0 when the output is not a sequence. An output of S steps is S
 * groups of nn_spec_outputs / S values, one per step (categorical_crossentropy takes a
 * class per step). */
int nn_spec_output_steps(const struct nn_spec *spec);

/* Warnings about a valid spec that would train badly (a step activation before trainable
 * layers, deep sigmoid/tanh stacks, an output activation that does not fit the loss, a
 * plain rnn over more than 30 steps) or
 * whose numbers mislead (accuracy for a regression: mse or mae over an output that is
 * neither softmax nor sigmoid, at "/metrics").
 * Fills up to max warnings and returns how many there are in all. */
int nn_spec_warnings(const struct nn_spec *spec, struct nn_warning *out, int max);

struct nn_net;

/* Builds a network and initialises its weights from rng (rng NULL: all weights zero,
 * for a network only summarised or about to be loaded). Returns new (nn_free), or NULL
 * with err filled when the spec is invalid, over max_params (checked before any
 * allocation for the network) or memory runs out. The spec is copied. */
struct nn_net *nn_new(const struct nn_spec *spec, size_t max_params, struct nn_rng *rng,
                      struct nn_error *err);
void nn_free(struct nn_net *net);

const struct nn_spec *nn_get_spec(const struct nn_net *net);   /* borrowed, lives with net */
/* Values per row: inputs (times timesteps for a sequence network), and outputs (times the
 * steps of a sequence output). */
int nn_inputs(const struct nn_net *net);
int nn_outputs(const struct nn_net *net);
size_t nn_param_count(const struct nn_net *net);
int nn_epochs_done(const struct nn_net *net);   /* epochs trained so far, kept by nn_save */

/* One row per layer of the spec, nested layers included, in spec order. */
struct nn_summary_row {
    char where[NN_WHERE];
    enum nn_kind kind;
    int depth;                           /* 0 for top-level layers */
    int outputs;                         /* per step, for a layer that outputs a sequence */
    int steps;                           /* steps of its output: 0 when not a sequence */
    size_t params;
};
/* Fills up to max rows and returns how many there are in all. */
int nn_summary(const struct nn_net *net, struct nn_summary_row *rows, int max);

/* The network's tensors: per dense layer "kernel" (units x inputs) and "bias" (1 x
 * units); per batchnorm "gamma", "beta", "moving_mean", "moving_variance" (1 x width);
 * per recurrent layer "kernel" (G*units x inputs), "recurrent_kernel" (G*units x units)
 * and "bias" (1 x G*units), G the gates (rnn 1, lstm 4, gru 3), stacked in PyTorch's
 * order; a gru also "recurrent_bias" (1 x 3*units, PyTorch's b_hh; its "bias" is b_ih).
 * data points into the network (writable; valid until nn_free); grad into the gradient
 * of the last step (NULL for moving statistics). Returns the count in all. */
struct nn_tensor {
    const char *where;                   /* borrowed, "/layers/0" */
    const char *name;
    int rows, cols;
    float *data;
    const float *grad;
};
int nn_tensors(struct nn_net *net, struct nn_tensor *out, int max);

/* A team of threads for training and prediction. threads >= 1; the calling thread is one
 * of them. Also sets OpenBLAS to one thread for the whole process (also done by nn_new
 * and nn_load): the engine's parallelism is its own, so two thread pools never fight.
 * A pool is used by one caller at a time. Returns new (nn_pool_free), NULL on failure. */
struct nn_pool *nn_pool_new(int threads);
void nn_pool_free(struct nn_pool *pool);
int nn_pool_threads(const struct nn_pool *pool);               /* 1 for NULL */

/* Rows of row-major float32 data. For training, y holds rows x ycols labels: with
 * categorical_crossentropy either class indices (ycols == 1) or one-hot rows (ycols ==
 * outputs); otherwise ycols == outputs. Borrowed for the duration of the call. */
struct nn_data {
    const float *x;
    const float *y;
    int rows, cols, ycols;
};

struct nn_optimizer {
    enum nn_opt type;
    float learning_rate;
    float momentum;                      /* sgd */
    int nesterov;                        /* sgd */
    float beta1, beta2, epsilon;         /* adam */
    float weight_decay;                  /* L2 on dense and recurrent kernels, added to the
                                            gradient */
};
/* Every field of the type at its descriptor's default (nn_opt_desc), then the arguments. */
struct nn_optimizer nn_sgd(float lr, float momentum, int nesterov);
struct nn_optimizer nn_adam(float lr);       /* beta1 0.9, beta2 0.999, epsilon 1e-7 */
/* Reports every fault of o's settings: its type, each field of its type's descriptor,
 * and the type's own rules (sgd: "nesterov needs a momentum above 0"), at
 * "/optimizer/<field>". Returns 0 when there were none, -1 otherwise. */
int nn_opt_check_all(const struct nn_optimizer *o, struct nn_faults *f);

/* The gradient of the loss with respect to a recurrent layer's hidden state, step by
 * step: how much the steps far back still learn from (a plain rnn's falls off towards
 * the first steps; an lstm's stays level). */
#define NN_TIME_SAMPLES 32               /* steps sampled at most, spread evenly */
struct nn_time_norms {
    const char *where;                   /* the recurrent layer's path */
    int n;                               /* steps sampled: min(steps, NN_TIME_SAMPLES) */
    const int *step;                     /* their numbers, 1-based, ascending; the first
                                            and the last step always among them */
    const float *norm;                   /* ‖∂L/∂h_t‖ of the batch's mean loss at each,
                                            averaged over the epoch's batches */
};

/* What a callback receives; everything in it is borrowed for the call. */
struct nn_report {
    int epoch, epochs;                   /* 1-based epoch being reported */
    int batch, batches;                  /* batches done in this epoch, and per epoch */
    double loss;                         /* mean training loss over the batches so far */
    double val_loss;                     /* NAN without a validation set or mid-epoch */
    unsigned metrics;                    /* which entries of metric[] mean something */
    double metric[NN_METRIC_COUNT];      /* training metrics over the epoch so far */
    double val_metric[NN_METRIC_COUNT];
    int ngrad;                           /* per trainable layer: mean L2 norm of its */
    const float *grad_norm;              /* gradient over the epoch's steps */
    const char *const *grad_where;
    int ndead;                           /* per relu activation: fraction of units */
    const float *dead;                   /* never positive over the epoch */
    const char *const *dead_where;
    int ntime;                           /* per recurrent layer, in order */
    const struct nn_time_norms *time_norms;
    double seconds;                      /* wall time of the epoch so far, validation
                                            included */
};
/* Return 0 to go on, nonzero to stop training (after this epoch or batch). on_progress
 * runs inside the pool's job and must not use that pool; on_epoch runs between jobs. */
typedef int (*nn_report_fn)(void *ctx, const struct nn_report *r);

struct nn_train_opts {
    int epochs;                          /* train until nn_epochs_done() == epochs */
    int batch_size;
    struct nn_optimizer opt;
    float clip_norm;                     /* clip gradients by global L2 norm; 0: off */
    int shuffle;                         /* reshuffle the rows every epoch */
    nn_report_fn on_epoch;               /* after every epoch (may be NULL) */
    nn_report_fn on_progress;            /* every progress_every batches (may be NULL) */
    int progress_every;
    void *ctx;                           /* passed to both callbacks */
    const _Atomic int *cancel;           /* checked before every batch; nonzero stops */
};

/* Reports every fault of the options a user sets: each field of nn_train_desc at
 * "/<field>", then the optimizer's (nn_opt_check_all). Returns 0 or -1. */
int nn_train_opts_check_all(const struct nn_train_opts *o, struct nn_faults *f);

/* What nn_train returns besides -1. */
enum { NN_TRAINED = 0, NN_STOPPED = 1 };
/* Trains from nn_epochs_done(net) up to opts->epochs on train, evaluating val (may be
 * NULL) after every epoch. rng drives shuffling and dropout. Returns NN_TRAINED when all
 * epochs ran, NN_STOPPED when a callback or the cancel flag stopped it (the weights
 * trained so far are kept), -1 with err filled for bad options (the first fault that
 * nn_train_opts_check_all reports) or bad data, or when the loss becomes NaN or
 * infinite (the message says at which epoch and batch, and what to try). */
int nn_train(struct nn_net *net, struct nn_pool *pool, const struct nn_data *train,
             const struct nn_data *val, const struct nn_train_opts *opts, struct nn_rng *rng,
             struct nn_error *err);

/* Inference-mode outputs for rows of x (rows x inputs) into out (rows x outputs).
 * Only reads net, so several threads may predict with one net, each with its own pool
 * (or NULL). Allocates its activations per call (a few KiB for one row). Returns 0, or
 * -1 with err filled when memory runs out. */
int nn_predict(const struct nn_net *net, struct nn_pool *pool, const float *x, int rows,
               float *out, struct nn_error *err);

/* Inference-mode loss and metrics (all of them, whatever the spec asked) over data. As
 * nn_predict's outputs, they are the same bits on any number of threads: rows go in
 * chunks of a fixed size, whose sums are added in order. */
int nn_evaluate(const struct nn_net *net, struct nn_pool *pool, const struct nn_data *data,
                double *loss, double metric[NN_METRIC_COUNT], struct nn_error *err);

/* Serialises the spec, weights, batchnorm running statistics, optimizer state and
 * epochs done into one versioned, checksummed buffer. *buf is new (free()). */
int nn_save(const struct nn_net *net, unsigned char **buf, size_t *len, struct nn_error *err);
/* As nn_save, without the optimizer's state (its type, step and moments): what prediction
 * needs -- the spec, weights, running statistics and epochs done -- in 4 bytes a
 * parameter instead of up to 12 (Adam keeps two moments per parameter). nn_load reads it;
 * training a network loaded from it starts its optimizer afresh. */
int nn_save_model(const struct nn_net *net, unsigned char **buf, size_t *len,
                  struct nn_error *err);
/* Rebuilds a network from nn_save's buffer. A truncated, corrupted or wrong-version
 * buffer is rejected with err filled; buf is never read past len. Returns new. */
struct nn_net *nn_load(const void *buf, size_t len, size_t max_params, struct nn_error *err);

#endif
