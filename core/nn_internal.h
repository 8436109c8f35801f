/* nn_internal.h -- what the engine's files share and the public header does not show.
 *
 * DESIGN (docs/DESIGN.md has the whole picture). A spec tree is flattened into a list of
 * ops ("struct op"), each a row of a table of kinds (struct op_kind: forward and backward
 * in one layer_*.c file). A dense layer with an activation becomes two ops. A residual
 * becomes its body's ops followed by an "add" op that adds the residual's input back in.
 * Op i writes buffer i; it reads buffer `src` (and `skip` for the add), where buffer -1 is
 * the network's input.
 *
 * The network owns flat buffers: params (every op's weights back to back), grad (their
 * gradient), stats (batchnorm running statistics) and the optimizer moments. A training
 * run owns a workspace: activations and their gradients for one batch, and op scratch.
 *
 * A spec's layer kinds are rows of a second table (struct layer_kind), one per layer_*.c
 * file, indexed by enum nn_kind: each row holds the kind's public descriptor (its name and
 * fields, from which checking, defaults and serialization are walked) and the hooks that
 * only the kind knows -- its rules beyond single fields, its width and parameter count,
 * the ops it flattens into, their initial weights and the tensors they expose. A kind
 * with a body (a LAYERS field) has that body walked by the generic code: checked,
 * copied, counted and saved without the kind's help.
 *
 * A training step is a list of phases separated by barriers (see train.c). A phase is
 * cut into tiles -- column chunks over all rows of the batch, or row chunks over all
 * columns -- that the threads take from a shared counter, so a thread slowed down by
 * the machine simply takes fewer. Every tile is computed the same way whichever thread
 * takes it, so the results do not depend on the number of threads at all. Ops are
 * grouped into phases by how far their outputs reach: an elementwise op joins any phase,
 * a column-wise one (batchnorm) joins column tiles, a row-wise one (softmax) joins row
 * tiles, and a dense layer, which needs all its input columns, starts a new phase.
 */
#ifndef NN_INTERNAL_H
#define NN_INTERNAL_H

#include "nn.h"

#include <math.h>
#include <stdarg.h>
#include <stddef.h>

struct op;
struct run;

/* Hot elementwise loops get AVX-512 and AVX2 clones, picked at load time (not under
 * ThreadSanitizer: the loader runs the picking code before the sanitizer is set up). */
#if defined(__SANITIZE_THREAD__)
#define NN_NO_CLONES
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define NN_NO_CLONES
#endif
#endif
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(NN_NO_CLONES)
#define NN_HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define NN_HOT
#endif

/* A tile: rows [r0, r1) x columns [c0, c1) of an op's output (forward) or of its input
 * gradient (backward). */
struct tile {
    int r0, r1, c0, c1;
};

/* How far an op's output reaches: which tiles it can run on (see the DESIGN note). */
enum op_shape { SHAPE_ELEMENTWISE, SHAPE_COLUMNS, SHAPE_ROWS, SHAPE_DENSE };

/* One row of the table of op kinds. forward writes the tile of the op's output;
 * backward writes or adds (o->src_add) the tile of its input gradient when that is
 * needed (r->dact[o->src] not NULL), and parameter gradients that the tile's columns
 * own; grad (dense only) writes the parameter gradients of output units [u0, u1) over
 * the whole batch. Buffers are r->act[i] and r->dact[i], rows of the op's width. */
struct op_kind {
    const char *name;
    void (*forward)(const struct op *o, struct run *r, struct tile t);
    void (*backward)(const struct op *o, struct run *r, struct tile t);
    void (*grad)(const struct op *o, struct run *r, int u0, int u1);
};

enum op_id { OP_DENSE, OP_ACT, OP_DROPOUT, OP_BATCHNORM, OP_ADD, OP_RECUR, OP_COUNT };
extern const struct op_kind *const op_kinds[OP_COUNT];    /* indexed by enum op_id (net.c) */

struct op {
    enum op_id id;
    enum op_shape shape;
    int idx;                  /* its own index: it writes buffer idx */
    int in, out;              /* widths */
    int src, skip;            /* buffers read; -1 is the network input */
    int src_add, skip_add;    /* backward adds into d(src)/d(skip) rather than writing */
    enum nn_act act;
    float alpha, rate, momentum, epsilon;
    size_t p, np;             /* parameters at params + p, np of them */
    size_t ndecay;            /* the first ndecay of them take weight decay (a dense kernel) */
    size_t s;                 /* batchnorm running mean, var at stats + s */
    size_t scr;               /* per-row scratch offset (floats) in a run's scratch rows */
    size_t red;               /* batchnorm: offset of its batch mean, 1/std in run->red */
    int relu;                 /* index among relu activations, or -1 */
    size_t pk;                /* relu: offset of its units in run->peak */
    int layer;                /* index of the spec layer it came from */
    int steps;                /* steps of its input rows (1: not a sequence); in and out are
                                 whole rows, so a dense op over a sequence applies its
                                 weights to each of the steps (in/steps -> out/steps) */
    int gu;                   /* units of its weight gradient (grad's u0, u1 range) */
    int units, gates;         /* recurrent: H and G (rnn 1, lstm 4, gru 3) */
    int cell;                 /* recurrent: NN_RNN, NN_LSTM or NN_GRU */
    int seqs;                 /* recurrent: outputs every step */
    size_t sq;                /* recurrent: offset of its sequence workspace per row */
};

struct nn_net {
    struct nn_spec spec;      /* deep copy; spec.layers points into lspec */
    struct nn_layer_spec *lspec;
    int nlspec;               /* layers in the whole tree, pre-order */
    char (*where)[NN_WHERE];  /* path of each spec layer */
    struct op *ops;
    int nops;
    int fused;                /* the loss takes its gradient at the last op's input */
    size_t nparams, nstats;
    float *params, *stats;
    float *grad;              /* the last step's summed gradient (nparams), or NULL */
    int ntrain;               /* ops with parameters */
    int nrelu;
    size_t npeak;             /* units of all relu activations */
    const char **train_where, **relu_where;
    size_t scr_row;           /* scratch floats per batch row */
    size_t nred;              /* batchnorm statistics (doubles) of a run */
    size_t seq_row;           /* recurrent workspace floats per batch row */
    /* training state, kept by nn_save */
    int epochs_done;
    int opt_type;             /* -1 before any training */
    uint64_t step;
    float *m, *v;             /* optimizer moments (nparams each) or NULL */
};

/* What a thread needs to run ops on tiles of a batch of B rows. */
struct run {
    const struct nn_net *net;
    const float *params;
    float *stats;             /* running statistics (updated in training) */
    float *grad;              /* the parameters' gradient (net->grad) */
    float *const *act;        /* act[i]: buffer i, B rows; act[-1] is the input batch */
    float *const *dact;       /* gradients of the buffers, same shapes (entries may be NULL) */
    float *scr;               /* scratch rows: B * net->scr_row floats */
    double *red;              /* batchnorm batch statistics: net->nred doubles */
    float *peak;              /* this thread's max output per relu unit (training) */
    float *seq;               /* recurrent workspace: B * net->seq_row floats; an op's
                                 part starts at seq + B * o->sq */
    int training;
    int sgemm;                /* inference's forward products through mm, as in training
                                 (the benchmark's comparison; rows then depend on the batch) */
    int B;                    /* rows in the batch */
    uint64_t key;             /* dropout key of this step */
};

/* Error helper: fills err (may be NULL) and returns -1. */
int nn_fail(struct nn_error *err, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- fields (field.c) ---- */

/* Reports one fault to f: its message formatted into NN_MSG bytes, then f->n counted.
 * While f->add runs, f->n is the number of faults before this one. */
void nn_fault(struct nn_faults *f, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A sink that keeps the first fault in err (may be NULL): what the functions with a
 * struct nn_error report, from the walkers that report every fault. */
struct first_fault {
    struct nn_faults f;
    struct nn_error *err;
};
struct nn_faults *first_fault(struct first_fault *ff, struct nn_error *err);
/* Checks every field of table t of the struct at base that applies to it (LAYERS
 * aside), reporting each fault at prefix + "/" + name. Returns the number of faults. */
int fields_check(const struct nn_field *t, int n, const void *base, const char *prefix,
                 struct nn_faults *f);
/* The body of a LAYERS field f of the struct at base: its count, *layers its pointer. */
int field_layers(const struct nn_field *f, const void *base, const struct nn_layer_spec **layers);
void field_set_layers(const struct nn_field *f, void *base, const struct nn_layer_spec *layers,
                      int n);

/* names.c: the names of the NAME fields' values, indexed by their enums. */
extern const char *const names_act[NN_ACT_COUNT];
extern const char *const names_init[NN_INIT_COUNT];
extern const char *const names_loss[NN_LOSS_COUNT];

/* Rows of fields that more than one layer kind has (dense and activation): one range,
 * one default, one message. */
#define FIELD_ACTIVATION(fl)                                                                \
    {.name = "activation", .type = NN_FT_NAME, .offset = offsetof(struct nn_layer_spec, act), \
     .flags = (fl), .def = NN_LINEAR, .names = names_act, .nnames = NN_ACT_COUNT,           \
     .about = "the function applied to its output"}
#define FIELD_ALPHA                                                                          \
    {.name = "alpha", .type = NN_FT_FLOAT, .offset = offsetof(struct nn_layer_spec, alpha),  \
     .lo = -INFINITY, .hi = INFINITY, .flags = NN_FIELD_LO_OPEN | NN_FIELD_HI_OPEN,          \
     .def = 0.01, .when = "activation", .when_value = NN_LEAKY_RELU,                         \
     .about = "the slope of leaky_relu below 0"}

/* ---- recurrent ops' gradients over time (layer_recurrent.c) ----
 * A recurrent op's backward pass keeps, per row, the squared norm of ∂L/∂h_t at
 * recur_samples(T) of its T steps: all of them up to NN_TIME_SAMPLES, else that many
 * spread evenly, the k-th (0-based) at step recur_sample_step(T, k) (0-based; the first
 * and the last step always among them). recur_time_norms adds to sum[k], for each, the
 * norm over the B rows of the batch just run (summed in row order) from the training
 * workspace seq (struct run's). */
int recur_samples(int T);
int recur_sample_step(int T, int k);
void recur_time_norms(const struct op *o, const float *seq, int B, double *sum);

/* ---- layer kinds ---- */

/* Flattening a spec into ops (net.c): the network being built and the next free offset
 * in each of its flat buffers, which a kind's flatten hook advances by what it takes. */
struct flat {
    struct nn_net *net;
    int cap;
    size_t p, s, scr, red;    /* params, stats, scratch floats per row, run->red doubles */
    size_t sq;                /* recurrent workspace floats per row */
    int steps;                /* steps of the buffer being read (1: not a sequence) */
};
/* An op of spec layer l reading buffer `src` of width w per step (f->steps steps; its
 * output the same), no parameters, elementwise, not a relu: what a flatten hook starts
 * from. Widths passed between flatten hooks (*w) are per step. */
struct op flat_op(const struct flat *f, const struct nn_layer_spec *l, enum op_id id, int src,
                  int w);
/* Appends o to the network's ops; returns its index (the buffer it writes), or -1 when
 * memory runs out. */
int flat_push(struct flat *f, struct op o);
/* Appends the ops of n layers reading buffer *cur, *w wide; *cur and *w become the last
 * op's buffer and width. Returns 0, or -1 when memory runs out. */
int flat_layers(struct flat *f, const struct nn_layer_spec *ls, int n, int *cur, int *w);
/* layer_activation.c: appends the op applying l->act (and l->alpha) to buffer *cur, w
 * wide, for a dense layer or an activation layer; *cur becomes its buffer. */
int flat_act(struct flat *f, const struct nn_layer_spec *l, int *cur, int w);
/* Stores tensor i of those op o exposes into out[i] when i < max. */
void net_tensor(struct nn_tensor *out, int max, int i, const struct nn_net *net,
                const struct op *o, const char *name, int rows, int cols, float *data,
                const float *grad);

/* One row of the table of layer kinds. Widths of -1 are unknown (a fault before). */
struct layer_kind {
    struct nn_kind_desc desc;
    /* Rules beyond single fields, for a layer whose fields are all valid: in is its input
     * width (per step, as every width of these hooks), body its body's output width (-1
     * when unknown or it has none). Reports each fault at where (the layer's path) and
     * returns -1 when there was one. NULL: none. Rules on sequences are spec.c's. */
    int (*check)(const struct nn_layer_spec *l, int in, int body, const char *where,
                 struct nn_faults *f);
    /* Its output width for input width in (-1 when unknown: a kind whose width is its own,
     * as a dense layer's units, gives it anyway, so later checks go on). */
    int (*outputs)(const struct nn_layer_spec *l, int in);
    /* Steps of its output for input steps `steps` (0: the input is not a sequence).
     * NULL: the same as its input's. */
    int (*steps)(const struct nn_layer_spec *l, int steps);
    /* Its own trainable parameters (its body's aside) for input width in >= 1. NULL: none. */
    size_t (*params)(const struct nn_layer_spec *l, int in);
    /* Appends its ops, as flat_layers does for one layer. */
    int (*flatten)(struct flat *f, const struct nn_layer_spec *l, int *cur, int *w);
    /* Sets the initial parameters and statistics of o, one of the ops it flattened into,
     * drawing weights from rng (NULL: weights stay zero, scales and variances are still
     * set). Called for its ops in order. NULL: nothing to set. */
    void (*init)(struct nn_net *net, const struct op *o, struct nn_rng *rng);
    /* The tensors o, one of its ops, exposes: stores those that fit (net_tensor) and
     * returns how many there are. NULL: none. */
    int (*tensors)(struct nn_net *net, const struct op *o, struct nn_tensor *out, int max);
};
/* The table of layer kinds, indexed by enum nn_kind (net.c). */
extern const struct layer_kind *const layer_kinds[NN_KIND_COUNT];

/* spec.c */
/* A layer of kind k with every field at its descriptor's default, other members 0: what
 * each kind's constructor (nn_dense, ...) starts from. */
struct nn_layer_spec layer_default(enum nn_kind k);
/* The LAYERS field of kind k (its body), or NULL when it has none. */
const struct nn_field *kind_body(const struct layer_kind *k);
/* The body of layer l (of a valid kind): its count, *body its first layer; 0 and NULL
 * when its kind has none. */
int layer_body(const struct nn_layer_spec *l, const struct nn_layer_spec **body);
/* Layers in the tree of n layers, bodies included. */
int spec_count_layers(const struct nn_layer_spec *l, int n);
/* Deep-copies spec into net->spec / net->lspec and fills net->where. */
int spec_copy(struct nn_net *net, const struct nn_spec *spec);

/* net.c: builds ops and buffers; rng NULL leaves the weights zero. */
struct nn_net *net_build(const struct nn_spec *spec, size_t max_params, struct nn_rng *rng,
                         struct nn_error *err);
/* Runs every op forward (inference or training) on rows [r0, r1), all columns: only
 * for ops whose training forward is row-local, or in inference. */
void net_forward_rows(struct run *r, int r0, int r1);
/* Buffer whose gradient the loss writes (the last op, or its input when fused). */
int net_loss_buffer(const struct nn_net *net);
/* Which buffers need a gradient: need[b + 1] for b in -1 .. nops-1. */
void net_need_grad(const struct nn_net *net, int want_dx, unsigned char *need);

/* Test hook: one training-mode forward and backward over x, y with dropout key `key`,
 * single-threaded. Leaves the gradient in net->grad (allocated on first use) and the
 * input gradient in dx when not NULL. Returns the mean loss. */
double net_loss_grad(struct nn_net *net, const float *x, const float *y, int ycols, int rows,
                     uint64_t key, float *dx);

/* loss.c: the loss over n rows of out (K wide), of a batch of B rows; z is the same rows
 * of the loss buffer (the logits when fused). Writes the gradient (scaled for the mean
 * over the B rows) into dz when not NULL, and adds the rows' metric sums into
 * msum[NN_METRIC_COUNT] when not NULL. Returns the rows' loss sum. */
double loss_rows(const struct nn_net *net, const float *z, const float *out, const float *y,
                 int ycols, int n, int B, float *dz, double *msum);
/* Metric sums only (inference), same conventions. */
void metric_rows(const struct nn_net *net, const float *out, const float *y, int ycols, int n,
                 double *msum);
/* Turns metric sums over `rows` rows into metric values. */
void metric_finish(const struct nn_net *net, int rows, const double *msum, double *metric);
/* Checks that labels fit the loss; -1 with err naming the row otherwise. */
int loss_check_labels(const struct nn_net *net, const struct nn_data *d, struct nn_error *err);

/* optim.c. The optimizer works on chunks of the parameter buffer, each inside one
 * trainable op and either all decayed (a dense kernel) or not, so that any thread can
 * take any chunk. */
struct ochunk {
    size_t a, b;              /* parameters [a, b) */
    int train;                /* index of the trainable op */
    int decay;                /* L2 weight decay applies */
};
#define OPT_CHUNK 16384
/* Fills up to max chunks and returns how many there are in all. */
int optim_chunks(const struct nn_net *net, struct ochunk *out, int max);
/* Σ g² over a chunk. */
double optim_sumsq(const struct nn_net *net, const struct ochunk *c);
/* One optimizer step over a chunk; t is the 1-based step number, scale multiplies the
 * gradient (clipping). */
void optim_apply(struct nn_net *net, const struct nn_optimizer *o, const struct ochunk *c,
                 float scale, uint64_t t);
/* Checks the optimizer's settings and allocates its state (net->grad, moments). */
int optim_prepare(struct nn_net *net, const struct nn_optimizer *o, struct nn_error *err);

/* train.c: nn_predict, with sgemm 1 running the forward products through mm (OpenBLAS)
 * instead of mm_rows: for the benchmark to compare the two. */
int infer_predict(const struct nn_net *net, struct nn_pool *pool, const float *x, int rows,
                  float *out, int sgemm, struct nn_error *err);

/* pool.c */
typedef void (*pool_fn)(void *arg, int tid);
/* Runs fn(arg, tid) on every thread of the pool (the caller as tid 0) and returns when
 * all have returned. pool may be NULL (one thread). */
void pool_run(struct nn_pool *pool, pool_fn fn, void *arg);
/* Waits until every thread of the pool has reached it (inside a pool_run). */
void pool_barrier(struct nn_pool *pool, int tid);
/* Hands out the task numbers 0 .. n-1 of a phase to whichever thread asks first; -1
 * when there are none left. Every thread of the pool calls it until it gets -1, with
 * its own struct grab, zeroed before the first phase. */
struct grab {
    uint64_t base;
    int next;
};
int pool_grab(struct nn_pool *pool, struct grab *g, int n);
void blas_single_thread(void);

/* blas.c: C (M,N) = alpha * op(A) · op(B) + beta * C, row-major, through OpenBLAS. */
void mm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
        const float *B, int ldb, float beta, float *C, int ldc);
/* The same as a plain loop: the reference the tests compare mm against. */
void mm_ref(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
            const float *B, int ldb, float beta, float *C, int ldc);

/* C (M,N) += A (M,K) · W (N,K)ᵀ, row-major (lda >= K, ldw >= K, ldc >= N): the forward
 * products of inference. Each C[i][j] is the same float operations on A's row i and W's
 * row j whatever M, N, i and j are (blas.c says which), so a row's outputs are the same
 * bits alone or in any batch. Within a process every call takes the same path. */
void mm_rows(int M, int N, int K, const float *A, int lda, const float *W, int ldw, float *C,
             int ldc);
/* 1 when mm_rows runs its AVX2+FMA kernel on this machine, 0 for the plain loop. */
int mm_rows_path(void);
/* A layer's forward product C (M,N) += A (M,K) · W (N,K)ᵀ: through mm (OpenBLAS) when
 * training or when r->sgemm asks, else through mm_rows, so that in inference a row's
 * outputs do not depend on the rows around it. */
static inline void mm_forward(const struct run *r, int M, int N, int K, const float *A, int lda,
                              const float *W, int ldw, float *C, int ldc)
{
    if (r->training || r->sgemm)
        mm(0, 1, M, N, K, 1, A, lda, W, ldw, 1, C, ldc);
    else
        mm_rows(M, N, K, A, lda, W, ldw, C, ldc);
}

/* rng.c: a counter-based uniform in [0, 1) for (key, i): the dropout mask. */
float rng_hash_uniform(uint64_t key, uint64_t i);
/* The key of stream `stream` of a step's key: each dropout layer draws its mask from its
 * own stream (its layer's index), so two layers never share a mask. */
uint64_t rng_stream_key(uint64_t key, uint64_t stream);
/* Standard normal from the stream. */
double rng_normal(struct nn_rng *r);

/* serial.c */
uint32_t nn_crc32(const void *buf, size_t len);

#endif
