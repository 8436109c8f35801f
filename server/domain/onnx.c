/* onnx.c -- a trained model as an ONNX graph (domain.h), the protobuf messages of
 * onnx/onnx.proto written with format.h's writer.
 *
 * The graph does what predictor_run does, in ONNX opset 17 operators:
 *
 *   input [N, F] (a sequence network: [N, T, F]), float32
 *   standardization      Sub mean, Div std (per feature; of every step for sequences)
 *   dense                Gemm (transB); over a sequence MatMul by the kernel's transpose
 *                        and Add the bias, for each step at once
 *   activations          Relu, LeakyRelu(alpha), Sigmoid, Tanh, Softmax(axis -1: per
 *                        step over a sequence), step as Greater than 0 then Cast to float;
 *                        linear none
 *   batchnorm            BatchNormalization with the running statistics (inference)
 *   dropout              nothing (it only acts in training)
 *   residual block       its body, then Add of the body's output and the block's input
 *   rnn, lstm, gru       Transpose to [T, N, F], RNN/LSTM/GRU, Squeeze the direction
 *                        axis, and with return_sequences Transpose back to [N, T, H]
 *   label standardization  Mul std, Add mean (per output value)
 *   output [N, K] (a sequence output of S steps: [N, S, K / S])
 *
 * DESIGN. The engine's recurrent layers follow PyTorch: gates stacked i, f, g, o (lstm)
 * and r, z, n (gru), one bias for rnn and lstm (b_ih + b_hh), a gru's reset gate applied
 * after the recurrent product. ONNX stacks an LSTM's gates i, o, f, c and a GRU's z, r,
 * h, so the blocks of rows are reordered; its bias is [Wb, Rb]: ours goes in Wb and
 * zeros in Rb (a gru's b_ih in Wb, b_hh in Rb), and linear_before_reset=1 is PyTorch's
 * gru. The operators' batch-first layout (layout=1) is not used: ONNX Runtime's CPU
 * kernels refuse it, so the sequence is transposed around the operator instead.
 *
 * Every message is built in its own struct pb and copied into its parent (pb_msg); a
 * graph's repeated fields (nodes and initializers) are written as the walk meets them,
 * interleaved, which protobuf reads as two lists. Values are named "v1", "v2", ...;
 * initializers after the layer they belong to ("/layers/2/kernel"); nodes after their
 * layer and operator ("/layers/2/Gemm_5"), so that a viewer such as Netron shows where
 * each comes from.
 */
#include "domain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ONNX_IR_VERSION 8      /* the IR of opset 17 (onnx 1.12) */
#define ONNX_OPSET 17

/* onnx.proto's enums */
enum { ATTR_FLOAT = 1, ATTR_INT = 2, ATTR_STRING = 3, ATTR_INTS = 7, ATTR_STRINGS = 8 };
enum { ELEM_FLOAT = 1, ELEM_INT64 = 7 };

/* A graph being built. */
struct gb {
    struct pb g;               /* GraphProto: nodes (1) and initializers (5) so far */
    int next;                  /* the number of the next value name */
    int nnode;                 /* nodes so far, to keep node names apart */
    struct nn_tensor *t;       /* the network's tensors */
    int nt;
    char msg[NN_WHERE + 100];  /* what went wrong, when something did */
};

/* A fresh value name into buf (16 bytes). */
static const char *fresh(struct gb *b, char *buf)
{
    snprintf(buf, 16, "v%d", ++b->next);
    return buf;
}

/* ---- attributes: each written as a NodeProto's field 5 into a ---- */

static void attr_begin(struct pb *m, const char *name, int type)
{
    pb_str(m, 1, name);
    pb_int(m, 20, type);
}

static void attr_int(struct pb *a, const char *name, int64_t v)
{
    struct pb m = {0};
    attr_begin(&m, name, ATTR_INT);
    pb_int(&m, 3, v);
    pb_msg(a, 5, &m);
    pb_free(&m);
}

static void attr_float(struct pb *a, const char *name, float v)
{
    struct pb m = {0};
    attr_begin(&m, name, ATTR_FLOAT);
    pb_float(&m, 2, v);
    pb_msg(a, 5, &m);
    pb_free(&m);
}

static void attr_ints(struct pb *a, const char *name, const int64_t *v, int n)
{
    struct pb m = {0};
    attr_begin(&m, name, ATTR_INTS);
    pb_ints(&m, 8, v, (size_t)n);
    pb_msg(a, 5, &m);
    pb_free(&m);
}

static void attr_string1(struct pb *a, const char *name, const char *s)   /* STRINGS of one */
{
    struct pb m = {0};
    attr_begin(&m, name, ATTR_STRINGS);
    pb_str(&m, 9, s);
    pb_msg(a, 5, &m);
    pb_free(&m);
}

/* ---- nodes and initializers ---- */

/* A node op(in[0..nin)) -> out[0..nout) with the attributes in attrs (NULL: none),
 * named "<where>/<op>_<k>", k counting the graph's nodes so that no two share a name.
 * An empty value name leaves an optional input or output out. */
static void node(struct gb *b, const char *where, const char *op, const char *const *in,
                 int nin, const char *const *out, int nout, const struct pb *attrs)
{
    struct pb n = {0};
    char name[NN_WHERE + 48];
    for (int i = 0; i < nin; i++)
        pb_str(&n, 1, in[i]);
    for (int i = 0; i < nout; i++)
        pb_str(&n, 2, out[i]);
    snprintf(name, sizeof name, "%s/%s_%d", *where ? where : "", op, ++b->nnode);
    pb_str(&n, 3, name);
    pb_str(&n, 4, op);
    if (attrs)
        pb_bytes(&n, attrs->p, attrs->n), n.oom |= attrs->oom;
    pb_msg(&b->g, 1, &n);
    pb_free(&n);
}

/* One input, one output. */
static void node1(struct gb *b, const char *where, const char *op, const char *in,
                  const char *out, const struct pb *attrs)
{
    node(b, where, op, &in, 1, &out, 1, attrs);
}

/* Two inputs, one output. */
static void node2(struct gb *b, const char *where, const char *op, const char *x,
                  const char *y, const char *out)
{
    const char *in[2] = {x, y};
    node(b, where, op, in, 2, &out, 1, NULL);
}

/* A float32 initializer of the given dims (nd of them; 0: a scalar) and values. */
static void init_floats(struct gb *b, const char *name, const int64_t *dims, int nd,
                        const float *v)
{
    struct pb t = {0};
    size_t n = 1;
    for (int i = 0; i < nd; i++) {
        pb_int(&t, 1, dims[i]);
        n *= (size_t)dims[i];
    }
    pb_int(&t, 2, ELEM_FLOAT);
    pb_str(&t, 8, name);
    pb_floats(&t, 9, v, n);   /* raw_data: little-endian float32 */
    pb_msg(&b->g, 5, &t);
    pb_free(&t);
}

/* An int64 initializer of one dimension (n values). */
static void init_ints(struct gb *b, const char *name, const int64_t *v, int n)
{
    struct pb t = {0};
    pb_int(&t, 1, n);
    pb_int(&t, 2, ELEM_INT64);
    pb_str(&t, 8, name);
    pb_key(&t, 9, PB_LEN);   /* raw_data: little-endian int64 */
    pb_varint(&t, 8 * (uint64_t)n);
    for (int i = 0; i < n; i++) {
        unsigned char le[8];
        for (int k = 0; k < 8; k++)
            le[k] = (unsigned char)((uint64_t)v[i] >> (8 * k));
        pb_bytes(&t, le, 8);
    }
    pb_msg(&b->g, 5, &t);
    pb_free(&t);
}

/* The tensor `name` of the layer at `where`; NULL (with b->msg) when the network has
 * none, which would be a model at odds with its own definition. */
static const struct nn_tensor *tensor(struct gb *b, const char *where, const char *name)
{
    for (int i = 0; i < b->nt; i++)
        if (strcmp(b->t[i].where, where) == 0 && strcmp(b->t[i].name, name) == 0)
            return &b->t[i];
    snprintf(b->msg, sizeof b->msg, "the model has no tensor %s at %s", name, where);
    return NULL;
}

/* The tensor `name` of the layer at `where` as an initializer "<where>/<name>", whose
 * name goes into out (NN_WHERE + 32 bytes): of its own shape, or 1-D when vector (a
 * bias, batchnorm's), whose tensors are 1 x width. -1 when the network has none. */
static int init_tensor(struct gb *b, const char *where, const char *name, int vector,
                       char *out)
{
    const struct nn_tensor *t = tensor(b, where, name);
    if (!t)
        return -1;
    snprintf(out, NN_WHERE + 32, "%s/%s", where, name);
    int64_t dims[2] = {t->rows, t->cols};
    if (vector)
        init_floats(b, out, dims + 1, 1, t->data);
    else
        init_floats(b, out, dims, 2, t->data);
    return 0;
}

/* ---- layers ---- */

/* An activation of x into out (both value names); linear is an Identity. */
static void activation(struct gb *b, const char *where, enum nn_act act, float alpha,
                       const char *x, char *out)
{
    struct pb a = {0};
    if (act == NN_STEP) {   /* 1 where x > 0, else 0 */
        char zero[NN_WHERE + 32], gt[16];
        snprintf(zero, sizeof zero, "%s/zero", where);
        init_floats(b, zero, NULL, 0, &(float){0});
        node2(b, where, "Greater", x, zero, fresh(b, gt));
        attr_int(&a, "to", ELEM_FLOAT);
        node1(b, where, "Cast", gt, fresh(b, out), &a);
        pb_free(&a);
        return;
    }
    fresh(b, out);
    switch (act) {
    case NN_SIGMOID:
        node1(b, where, "Sigmoid", x, out, NULL);
        break;
    case NN_TANH:
        node1(b, where, "Tanh", x, out, NULL);
        break;
    case NN_RELU:
        node1(b, where, "Relu", x, out, NULL);
        break;
    case NN_LEAKY_RELU:
        attr_float(&a, "alpha", alpha);
        node1(b, where, "LeakyRelu", x, out, &a);
        break;
    case NN_SOFTMAX:   /* over the last axis: per row, or per step of a sequence */
        attr_int(&a, "axis", -1);
        node1(b, where, "Softmax", x, out, &a);
        break;
    default:
        node1(b, where, "Identity", x, out, NULL);
        break;
    }
    pb_free(&a);
}

/* A dense layer: out = x Wᵀ + b. x is [N, IN], or [N, T, IN] when seq. */
static int dense(struct gb *b, const char *where, int seq, const char *x, char *out)
{
    char kernel[NN_WHERE + 32], bias[NN_WHERE + 32];
    if (!seq) {
        struct pb a = {0};
        if (init_tensor(b, where, "kernel", 0, kernel) < 0 ||
            init_tensor(b, where, "bias", 1, bias) < 0)
            return -1;
        attr_int(&a, "transB", 1);
        const char *in[3] = {x, kernel, bias};
        const char *o = fresh(b, out);
        node(b, where, "Gemm", in, 3, &o, 1, &a);
        pb_free(&a);
        return 0;
    }
    /* Gemm is 2-D only: MatMul by Wᵀ (IN x OUT) over every step, then Add the bias */
    const struct nn_tensor *w = tensor(b, where, "kernel");
    if (!w || init_tensor(b, where, "bias", 1, bias) < 0)
        return -1;
    float *wt = malloc(sizeof *wt * (size_t)w->rows * w->cols);
    if (!wt) {
        snprintf(b->msg, sizeof b->msg, "out of memory");
        return -1;
    }
    for (int r = 0; r < w->rows; r++)
        for (int c = 0; c < w->cols; c++)
            wt[(size_t)c * w->rows + r] = w->data[(size_t)r * w->cols + c];
    snprintf(kernel, sizeof kernel, "%s/kernel_transposed", where);
    int64_t dims[2] = {w->cols, w->rows};
    init_floats(b, kernel, dims, 2, wt);
    free(wt);
    char mm[16];
    node2(b, where, "MatMul", x, kernel, fresh(b, mm));
    node2(b, where, "Add", mm, bias, fresh(b, out));
    return 0;
}

static int batchnorm(struct gb *b, const char *where, const struct nn_layer_spec *l,
                     const char *x, char *out)
{
    char names[4][NN_WHERE + 32];
    static const char *const tn[4] = {"gamma", "beta", "moving_mean", "moving_variance"};
    for (int i = 0; i < 4; i++)
        if (init_tensor(b, where, tn[i], 1, names[i]) < 0)
            return -1;
    struct pb a = {0};
    attr_float(&a, "epsilon", l->epsilon);
    const char *in[5] = {x, names[0], names[1], names[2], names[3]};
    const char *o = fresh(b, out);
    node(b, where, "BatchNormalization", in, 5, &o, 1, &a);
    pb_free(&a);
    return 0;
}

/* The G*H rows of m (G blocks of H rows of `cols` values) into dst with its blocks in
 * the order `order` gives: dst block k is m's block order[k]. */
static void reorder(float *dst, const float *m, int G, int H, int cols, const int *order)
{
    const size_t blk = (size_t)H * cols;
    for (int k = 0; k < G; k++)
        memcpy(dst + k * blk, m + order[k] * blk, sizeof *dst * blk);
}

/* A recurrent layer over x [N, T, IN]: out is [N, T, H] with return_sequences, else
 * [N, H] (the last step's h). */
static int recurrent(struct gb *b, const char *where, const struct nn_layer_spec *l,
                     const char *x, char *out)
{
    static const int keep[3] = {0, 1, 2};
    static const int lstm_order[4] = {0, 3, 1, 2};   /* ONNX i, o, f, c of our i, f, g, o */
    static const int gru_order[3] = {1, 0, 2};       /* ONNX z, r, h of our r, z, n */
    const int G = l->kind == NN_LSTM ? 4 : l->kind == NN_GRU ? 3 : 1, H = l->units;
    const int *order = l->kind == NN_LSTM ? lstm_order : l->kind == NN_GRU ? gru_order : keep;
    const struct nn_tensor *W = tensor(b, where, "kernel"),
                           *R = tensor(b, where, "recurrent_kernel"),
                           *B = tensor(b, where, "bias"),
                           *RB = l->kind == NN_GRU ? tensor(b, where, "recurrent_bias") : NULL;
    if (!W || !R || !B || (l->kind == NN_GRU && !RB))
        return -1;
    const int IN = W->cols;
    float *buf = calloc((size_t)G * H * (IN > H ? IN : H) + 2 * (size_t)G * H, sizeof *buf);
    if (!buf) {
        snprintf(b->msg, sizeof b->msg, "out of memory");
        return -1;
    }
    char wn[NN_WHERE + 32], rn[NN_WHERE + 32], bn[NN_WHERE + 32];
    snprintf(wn, sizeof wn, "%s/W", where);
    snprintf(rn, sizeof rn, "%s/R", where);
    snprintf(bn, sizeof bn, "%s/B", where);
    int64_t dims[3] = {1, (int64_t)G * H, IN};
    reorder(buf, W->data, G, H, IN, order);
    init_floats(b, wn, dims, 3, buf);
    dims[2] = H;
    reorder(buf, R->data, G, H, H, order);
    init_floats(b, rn, dims, 3, buf);
    /* B = [Wb, Rb]: the bias in Wb; Rb a gru's recurrent bias, else zeros */
    memset(buf, 0, sizeof *buf * 2 * (size_t)G * H);
    reorder(buf, B->data, G, H, 1, order);
    if (RB)
        reorder(buf + (size_t)G * H, RB->data, G, H, 1, order);
    dims[1] = 1, dims[2] = 2 * (int64_t)G * H;
    init_floats(b, bn, dims + 1, 2, buf);
    free(buf);

    /* [N, T, IN] to [T, N, IN]: the operators' sequence comes first */
    static const int64_t swap[3] = {1, 0, 2};
    struct pb a = {0};
    char xt[16], y[16], sq[16];
    attr_ints(&a, "perm", swap, 3);
    node1(b, where, "Transpose", x, fresh(b, xt), &a);
    pb_free(&a);

    attr_int(&a, "hidden_size", H);
    if (l->kind == NN_RNN)
        attr_string1(&a, "activations", l->act == NN_RELU ? "Relu" : "Tanh");
    if (l->kind == NN_GRU)
        attr_int(&a, "linear_before_reset", 1);
    const char *op = l->kind == NN_LSTM ? "LSTM" : l->kind == NN_GRU ? "GRU" : "RNN";
    /* outputs Y (every step) and Y_h (the last): the one not used is left out */
    const char *in[4] = {xt, wn, rn, bn}, *full[2] = {fresh(b, y), ""}, *last[2] = {"", y};
    node(b, where, op, in, 4, l->return_sequences ? full : last, 2, &a);
    pb_free(&a);

    /* Y [T, 1, N, H] without its direction axis, back to [N, T, H]; Y_h [1, N, H] to
     * [N, H] */
    char axes[NN_WHERE + 32];
    snprintf(axes, sizeof axes, "%s/axes", where);
    int64_t axis = l->return_sequences ? 1 : 0;
    init_ints(b, axes, &axis, 1);
    node2(b, where, "Squeeze", y, axes, fresh(b, sq));
    if (!l->return_sequences) {
        snprintf(out, 16, "%s", sq);
        return 0;
    }
    attr_ints(&a, "perm", swap, 3);
    node1(b, where, "Transpose", sq, fresh(b, out), &a);
    pb_free(&a);
    return 0;
}

/* The layers l[0..n) (at base, "" or "/layers/2") applied to the value x; the result's
 * name into out (16 bytes). *seq says whether x is a sequence [N, T, F], and is updated
 * to say whether the result is. 0, or -1 with b->msg. */
static int layers(struct gb *b, const char *base, const struct nn_layer_spec *l, int n,
                  int *seq, const char *x, char *out)
{
    char cur[16], nxt[16];
    snprintf(cur, sizeof cur, "%s", x);
    for (int i = 0; i < n; i++) {
        char where[NN_WHERE];
        snprintf(where, sizeof where, "%s/layers/%d", base, i);
        switch (l[i].kind) {
        case NN_DENSE:
            if (dense(b, where, *seq, cur, nxt) < 0)
                return -1;
            if (l[i].act != NN_LINEAR) {
                snprintf(cur, sizeof cur, "%s", nxt);
                activation(b, where, l[i].act, l[i].alpha, cur, nxt);
            }
            break;
        case NN_ACTIVATION:
            if (l[i].act == NN_LINEAR)
                continue;
            activation(b, where, l[i].act, l[i].alpha, cur, nxt);
            break;
        case NN_DROPOUT:   /* inference: the identity */
            continue;
        case NN_BATCHNORM:
            if (batchnorm(b, where, &l[i], cur, nxt) < 0)
                return -1;
            break;
        case NN_RESIDUAL: {
            char body[16];
            if (layers(b, where, l[i].layers, l[i].nlayers, seq, cur, body) < 0)
                return -1;
            node2(b, where, "Add", body, cur, fresh(b, nxt));
            break;
        }
        case NN_RNN:
        case NN_LSTM:
        case NN_GRU:
            if (recurrent(b, where, &l[i], cur, nxt) < 0)
                return -1;
            *seq = l[i].return_sequences;
            break;
        default:
            snprintf(b->msg, sizeof b->msg, "the layer at %s is of a kind ONNX export does "
                     "not know", where);
            return -1;
        }
        snprintf(cur, sizeof cur, "%s", nxt);
    }
    snprintf(out, 16, "%s", cur);
    return 0;
}

/* ---- the model ---- */

/* A ValueInfoProto of a float32 tensor: dims[i] > 0 a fixed size, else the symbol "N". */
static void value_info(struct pb *g, int field, const char *name, const int64_t *dims, int nd,
                       const char *doc)
{
    struct pb shape = {0}, tensor = {0}, type = {0}, vi = {0};
    for (int i = 0; i < nd; i++) {
        struct pb d = {0};
        if (dims[i] > 0)
            pb_int(&d, 1, dims[i]);
        else
            pb_str(&d, 2, "N");
        pb_msg(&shape, 1, &d);
        pb_free(&d);
    }
    pb_int(&tensor, 1, ELEM_FLOAT);
    pb_msg(&tensor, 2, &shape);
    pb_msg(&type, 1, &tensor);
    pb_str(&vi, 1, name);
    pb_msg(&vi, 2, &type);
    pb_str(&vi, 3, doc);
    pb_msg(g, field, &vi);
    pb_free(&shape), pb_free(&tensor), pb_free(&type), pb_free(&vi);
}

static void metadata(struct pb *m, const char *key, const char *value)
{
    struct pb e = {0};
    pb_str(&e, 1, key);
    pb_str(&e, 2, value);
    pb_msg(m, 14, &e);
    pb_free(&e);
}

/* A JSON value as metadata (compact); nothing when v is NULL. */
static void metadata_json(struct pb *m, const char *key, const json_t *v)
{
    char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    if (s)
        metadata(m, key, s);
    else if (v)
        m->oom = 1;
    free(s);
}

unsigned char *onnx_export(const struct predictor *p, const char *version, size_t *len,
                           char *msg, size_t cap)
{
    struct nn_net *net = p->net;
    const struct nn_spec *spec = nn_get_spec(net);
    const int F = spec->inputs, T = spec->timesteps, K = nn_outputs(net);
    const int S = nn_spec_output_steps(spec);
    struct gb b = {0};
    unsigned char *bytes = NULL;
    struct pb model = {0}, opset = {0};
    *len = 0;
    b.nt = nn_tensors(net, NULL, 0);
    if (!(b.t = calloc((size_t)b.nt + 1, sizeof *b.t))) {
        snprintf(msg, cap, "out of memory");
        return NULL;
    }
    nn_tensors(net, b.t, b.nt);

    char x[16] = "input", y[16];
    int seq = T > 0;
    if (p->scaler) {   /* (x - mean) / std, per feature */
        char sub[16];
        int64_t d = F;
        init_floats(&b, "scaler/mean", &d, 1, p->scaler);
        init_floats(&b, "scaler/std", &d, 1, p->scaler + F);
        node2(&b, "/scaler", "Sub", x, "scaler/mean", fresh(&b, sub));
        node2(&b, "/scaler", "Div", sub, "scaler/std", fresh(&b, x));
    }
    if (layers(&b, "", spec->layers, spec->nlayers, &seq, x, y) < 0)
        goto fail;
    if (p->label_scaler) {   /* y * std + mean, per output value */
        char mul[16];
        int64_t d[2] = {S > 0 ? S : K, S > 0 ? K / S : 0};
        init_floats(&b, "label_scaler/std", d, S > 0 ? 2 : 1, p->label_scaler + K);
        init_floats(&b, "label_scaler/mean", d, S > 0 ? 2 : 1, p->label_scaler);
        node2(&b, "/label_scaler", "Mul", y, "label_scaler/std", fresh(&b, mul));
        node2(&b, "/label_scaler", "Add", mul, "label_scaler/mean", fresh(&b, y));
    }
    node1(&b, "", "Identity", y, "output", NULL);

    pb_str(&b.g, 2, p->id);
    char doc[200];
    int64_t din[3] = {0, T > 0 ? T : F, F}, dout[3] = {0, S > 0 ? S : K, S > 0 ? K / S : 0};
    if (T > 0)
        snprintf(doc, sizeof doc, "rows of %d steps of %d features each, as /predict takes "
                 "them (unstandardized)", T, F);
    else
        snprintf(doc, sizeof doc, "rows of %d features, as /predict takes them "
                 "(unstandardized)", F);
    value_info(&b.g, 11, "input", din, T > 0 ? 3 : 2, doc);
    if (S > 0)
        snprintf(doc, sizeof doc, "what /predict answers as outputs: %d steps of %d values "
                 "per row", S, K / S);
    else
        snprintf(doc, sizeof doc, "what /predict answers as outputs: %d values per row", K);
    value_info(&b.g, 12, "output", dout, S > 0 ? 3 : 2, doc);

    pb_int(&model, 1, ONNX_IR_VERSION);
    pb_str(&model, 2, "neurond");
    pb_str(&model, 3, version);
    pb_msg(&model, 7, &b.g);
    pb_int(&opset, 2, ONNX_OPSET);   /* the default domain, ai.onnx */
    pb_msg(&model, 8, &opset);
    metadata(&model, "model", p->id);
    if (p->classes)
        metadata_json(&model, "classes", p->classes);
    else
        metadata(&model, "classes", "[]");
    metadata(&model, "label_kind", label_kind_name(p->kind));
    metadata(&model, "loss", nn_loss_name(spec->loss));
    metadata_json(&model, "columns", p->columns);
    if (T > 0) {
        char t[16];
        snprintf(t, sizeof t, "%d", T);
        metadata(&model, "timesteps", t);
    }
    metadata_json(&model, "network", p->network);
    if (model.oom) {
        snprintf(msg, cap, "out of memory");
        goto fail;
    }
    bytes = model.p;
    *len = model.n;
    model.p = NULL;
fail:
    if (!bytes && b.msg[0])
        snprintf(msg, cap, "%s", b.msg);
    pb_free(&model), pb_free(&opset), pb_free(&b.g);
    free(b.t);
    return bytes;
}
