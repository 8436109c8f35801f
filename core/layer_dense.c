/* layer_dense.c -- fully connected: out = inp · Wᵀ + b
 * inp (B,IN)  W (OUT,IN)  b (OUT)  out (B,OUT); W then b at params + o->p.
 * A forward tile is any block of out; a backward tile is a block of columns of dinp over
 * all rows; the weight gradient is computed per block of output units (grad).
 * Over a sequence of S steps (o->steps > 1) a row of B holds S rows of IN (time-major),
 * so the layer is the same product over B*S rows: its tiles are then blocks of rows of
 * the batch (all columns), each the S rows of its steps.
 * The layer kind: its fields, its op (and the activation op after it), the initial
 * weights and its tensors "kernel" and "bias". */
#include "nn_internal.h"

#include <math.h>
#include <string.h>

/* out[r0:r1, c0:c1] = inp[r0:r1, :] · W[c0:c1, :]ᵀ + b[c0:c1] */
NN_HOT static void dense_forward(const struct op *o, struct run *r, struct tile t)
{
    const int S = o->steps, IN = o->in / S, OUT = o->out / S;
    if (S > 1)
        t = (struct tile){t.r0 * S, t.r1 * S, 0, OUT};
    const float *W = r->params + o->p, *b = W + (size_t)OUT * IN;
    const float *inp = r->act[o->src];
    float *out = r->act[o->idx];
    for (int i = t.r0; i < t.r1; i++)
        memcpy(out + (size_t)i * OUT + t.c0, b + t.c0, (t.c1 - t.c0) * sizeof *out);
    mm_forward(r, t.r1 - t.r0, t.c1 - t.c0, IN, inp + (size_t)t.r0 * IN, IN,
               W + (size_t)t.c0 * IN, IN, out + (size_t)t.r0 * OUT + t.c0, OUT);
}

/* dinp[:, c0:c1] = dout · W[:, c0:c1]  (added when o->src_add) */
static void dense_backward(const struct op *o, struct run *r, struct tile t)
{
    const int S = o->steps, IN = o->in / S, OUT = o->out / S;
    float *dinp = r->dact[o->src];
    if (!dinp)
        return;
    if (S > 1)
        t = (struct tile){t.r0 * S, t.r1 * S, 0, IN};
    mm(0, 0, t.r1 - t.r0, t.c1 - t.c0, OUT, 1, r->dact[o->idx] + (size_t)t.r0 * OUT, OUT,
       r->params + o->p + t.c0, IN, o->src_add ? 1 : 0, dinp + (size_t)t.r0 * IN + t.c0, IN);
}

/* dW[u0:u1, :] = dout[:, u0:u1]ᵀ · inp and db[u0:u1] = Σ_rows dout[:, u0:u1] */
NN_HOT static void dense_grad(const struct op *o, struct run *r, int u0, int u1)
{
    const int S = o->steps, IN = o->in / S, OUT = o->out / S, rows = r->B * S;
    const float *dout = r->dact[o->idx];
    float *dW = r->grad + o->p, *db = dW + (size_t)OUT * IN;
    mm(1, 0, u1 - u0, IN, rows, 1, dout + u0, OUT, r->act[o->src], IN, 0, dW + (size_t)u0 * IN,
       IN);
    for (int j = u0; j < u1; j++)
        db[j] = 0;
    for (int i = 0; i < rows; i++)
        for (int j = u0; j < u1; j++)
            db[j] += dout[(size_t)i * OUT + j];
}

const struct op_kind op_dense = {"dense", dense_forward, dense_backward, dense_grad};

/* ---- the layer kind ---- */

static const struct nn_field dense_fields[] = {
    {.name = "units", .type = NN_FT_INT, .offset = offsetof(struct nn_layer_spec, units),
     .lo = 1, .hi = NN_MAX_WIDTH, .flags = NN_FIELD_REQUIRED, .about = "the width of its output"},
    FIELD_ACTIVATION(0),
    FIELD_ALPHA,
    {.name = "init", .type = NN_FT_NAME, .offset = offsetof(struct nn_layer_spec, init),
     .def = NN_INIT_AUTO, .names = names_init, .nnames = NN_INIT_COUNT,
     .about = "how its weights start"},
};

static int dense_outputs(const struct nn_layer_spec *l, int in)
{
    (void)in;
    return l->units;
}

static size_t dense_params(const struct nn_layer_spec *l, int in)
{
    return (size_t)l->units * (size_t)in + (size_t)l->units;
}

static int dense_flatten(struct flat *f, const struct nn_layer_spec *l, int *cur, int *w)
{
    struct op o = flat_op(f, l, OP_DENSE, *cur, *w);
    o.shape = SHAPE_DENSE;
    o.out = l->units * o.steps;
    o.gu = l->units;
    o.p = f->p;
    o.np = dense_params(l, *w);
    o.ndecay = (size_t)*w * l->units;   /* the kernel, not the bias */
    f->p += o.np;
    if ((*cur = flat_push(f, o)) < 0)
        return -1;
    *w = l->units;
    return l->act == NN_LINEAR ? 0 : flat_act(f, l, cur, *w);
}

/* The kernel from l->init (auto: He normal for the relu family, Glorot uniform
 * otherwise); the bias stays 0. */
static void dense_init(struct nn_net *net, const struct op *o, struct nn_rng *rng)
{
    if (o->id != OP_DENSE || !rng)
        return;
    const struct nn_layer_spec *l = &net->lspec[o->layer];
    const int IN = o->in / o->steps, OUT = o->out / o->steps;
    float *W = net->params + o->p;
    int init = l->init;
    if (init == NN_INIT_AUTO)
        init = l->act == NN_RELU || l->act == NN_LEAKY_RELU ? NN_INIT_HE_NORMAL
                                                            : NN_INIT_GLOROT_UNIFORM;
    double fan = init == NN_INIT_HE_NORMAL || init == NN_INIT_HE_UNIFORM ? IN / 2.0
                                                                         : (IN + OUT) / 2.0;
    double sd = sqrt(1.0 / fan), lim = sqrt(3.0 / fan);
    size_t n = (size_t)IN * OUT;
    for (size_t i = 0; i < n; i++) {
        switch (init) {
        case NN_INIT_HE_NORMAL:
        case NN_INIT_GLOROT_NORMAL:
            W[i] = (float)(sd * rng_normal(rng));
            break;
        case NN_INIT_HE_UNIFORM:
        case NN_INIT_GLOROT_UNIFORM:
            W[i] = (float)(lim * (2 * nn_rng_uniform(rng) - 1));
            break;
        default:
            W[i] = 0;
        }
    }
}

static int dense_tensors(struct nn_net *net, const struct op *o, struct nn_tensor *out, int max)
{
    if (o->id != OP_DENSE)
        return 0;
    const int IN = o->in / o->steps, OUT = o->out / o->steps;
    float *p = net->params + o->p;
    const float *g = net->grad ? net->grad + o->p : NULL;
    size_t k = (size_t)OUT * IN;
    net_tensor(out, max, 0, net, o, "kernel", OUT, IN, p, g);
    net_tensor(out, max, 1, net, o, "bias", 1, OUT, p + k, g ? g + k : NULL);
    return 2;
}

struct nn_layer_spec nn_dense(int units, enum nn_act act)
{
    struct nn_layer_spec l = layer_default(NN_DENSE);
    l.units = units;
    l.act = act;
    return l;
}

const struct layer_kind layer_dense = {
    .desc = {"dense", dense_fields, (int)(sizeof dense_fields / sizeof *dense_fields)},
    .outputs = dense_outputs,
    .params = dense_params,
    .flatten = dense_flatten,
    .init = dense_init,
    .tensors = dense_tensors,
};
