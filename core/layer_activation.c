/* layer_activation.c -- elementwise activations, and softmax over each row (over each
 * step's W/steps values of a row that is a sequence).
 * inp (B,W)  out (B,W). Backward reads the output (the input for leaky_relu).
 * Softmax tiles span whole rows; every other activation takes any tile.
 * The layer kind "activation", and the activation op that a dense layer also ends with. */
#include "nn_internal.h"

#include <assert.h>
#include <math.h>

/* y = f(x) over row i, columns [c0, c1) */
NN_HOT static void act_row(const struct op *o, const float *x, float *y, int c0, int c1)
{
    const float a = o->alpha;
    switch (o->act) {
    case NN_LINEAR:
        for (int j = c0; j < c1; j++)
            y[j] = x[j];
        break;
    case NN_STEP:
        for (int j = c0; j < c1; j++)
            y[j] = x[j] > 0 ? 1.0f : 0.0f;
        break;
    case NN_SIGMOID:
        for (int j = c0; j < c1; j++)
            y[j] = 1.0f / (1.0f + expf(-x[j]));
        break;
    case NN_TANH:
        for (int j = c0; j < c1; j++)
            y[j] = tanhf(x[j]);
        break;
    case NN_RELU:
        for (int j = c0; j < c1; j++)
            y[j] = x[j] > 0 ? x[j] : 0.0f;
        break;
    case NN_LEAKY_RELU:
        for (int j = c0; j < c1; j++)
            y[j] = x[j] > 0 ? x[j] : a * x[j];
        break;
    case NN_SOFTMAX: {
        float mx = x[c0], s = 0;
        for (int j = c0 + 1; j < c1; j++)
            mx = x[j] > mx ? x[j] : mx;
        for (int j = c0; j < c1; j++) {
            float e = expf(x[j] - mx);
            y[j] = e;
            s += e;
        }
        for (int j = c0; j < c1; j++)
            y[j] /= s;
        break;
    }
    default:
        break;
    }
}

static void act_forward(const struct op *o, struct run *r, struct tile t)
{
    const int W = o->out;
    const float *inp = r->act[o->src];
    float *out = r->act[o->idx];
    assert(o->act != NN_SOFTMAX || (t.c0 == 0 && t.c1 == W));
    if (o->act == NN_SOFTMAX && o->steps > 1) {   /* each step on its own */
        const int w = W / o->steps;
        for (int i = t.r0; i < t.r1; i++)
            for (int s = 0; s < o->steps; s++)
                act_row(o, inp + (size_t)i * W, out + (size_t)i * W, s * w, (s + 1) * w);
    } else {
        for (int i = t.r0; i < t.r1; i++)
            act_row(o, inp + (size_t)i * W, out + (size_t)i * W, t.c0, t.c1);
    }
    if (o->act == NN_RELU && r->training && r->peak) {
        /* dead-unit tracking: the largest output each unit reached */
        float *peak = r->peak + o->pk;
        for (int i = t.r0; i < t.r1; i++)
            for (int j = t.c0; j < t.c1; j++) {
                float v = out[(size_t)i * W + j];
                peak[j] = v > peak[j] ? v : peak[j];
            }
    }
}

/* dx over row i, columns [c0, c1), written or added */
NN_HOT static void act_back_row(const struct op *o, const float *x, const float *y,
                                const float *dy, float *dx, int c0, int c1)
{
    const int add = o->src_add;
    const float a = o->alpha;
#define SET(j, v) (dx[j] = add ? dx[j] + (v) : (v))
    switch (o->act) {
    case NN_LINEAR:
        for (int j = c0; j < c1; j++)
            SET(j, dy[j]);
        break;
    case NN_STEP:
        for (int j = c0; j < c1; j++)
            SET(j, 0.0f);
        break;
    case NN_SIGMOID:
        for (int j = c0; j < c1; j++)
            SET(j, dy[j] * y[j] * (1 - y[j]));
        break;
    case NN_TANH:
        for (int j = c0; j < c1; j++)
            SET(j, dy[j] * (1 - y[j] * y[j]));
        break;
    case NN_RELU:
        for (int j = c0; j < c1; j++)
            SET(j, y[j] > 0 ? dy[j] : 0.0f);
        break;
    case NN_LEAKY_RELU:
        for (int j = c0; j < c1; j++)
            SET(j, x[j] > 0 ? dy[j] : a * dy[j]);
        break;
    case NN_SOFTMAX: {
        /* dx = y ⊙ (dy - <dy, y>) */
        float dot = 0;
        for (int j = c0; j < c1; j++)
            dot += dy[j] * y[j];
        for (int j = c0; j < c1; j++)
            SET(j, y[j] * (dy[j] - dot));
        break;
    }
    default:
        break;
    }
#undef SET
}

static void act_backward(const struct op *o, struct run *r, struct tile t)
{
    const int W = o->out;
    float *dinp = r->dact[o->src];
    if (!dinp)
        return;
    assert(o->act != NN_SOFTMAX || (t.c0 == 0 && t.c1 == W));
    const int steps = o->act == NN_SOFTMAX ? o->steps : 1, w = (t.c1 - t.c0) / steps;
    for (int i = t.r0; i < t.r1; i++) {
        size_t row = (size_t)i * W;
        for (int s = 0; s < steps; s++)   /* softmax: each step on its own */
            act_back_row(o, r->act[o->src] + row, r->act[o->idx] + row,
                         r->dact[o->idx] + row, dinp + row, t.c0 + s * w, t.c0 + (s + 1) * w);
    }
}

const struct op_kind op_act = {"activation", act_forward, act_backward, NULL};

/* ---- the layer kind ---- */

static const struct nn_field activation_fields[] = {
    FIELD_ACTIVATION(NN_FIELD_REQUIRED),
    FIELD_ALPHA,
};

int flat_act(struct flat *f, const struct nn_layer_spec *l, int *cur, int w)
{
    struct nn_net *net = f->net;
    struct op a = flat_op(f, l, OP_ACT, *cur, w);
    a.shape = l->act == NN_SOFTMAX ? SHAPE_ROWS : SHAPE_ELEMENTWISE;
    if (l->act == NN_RELU) {   /* its units are watched for dying */
        a.relu = net->nrelu++;
        a.pk = net->npeak;
        net->npeak += (size_t)a.out;
    }
    return (*cur = flat_push(f, a)) < 0 ? -1 : 0;
}

static int same_width(const struct nn_layer_spec *l, int in)
{
    (void)l;
    return in;
}

static int activation_flatten(struct flat *f, const struct nn_layer_spec *l, int *cur, int *w)
{
    return flat_act(f, l, cur, *w);
}

struct nn_layer_spec nn_activation(enum nn_act act)
{
    struct nn_layer_spec l = layer_default(NN_ACTIVATION);
    l.act = act;
    return l;
}

const struct layer_kind layer_activation = {
    .desc = {"activation", activation_fields,
             (int)(sizeof activation_fields / sizeof *activation_fields)},
    .outputs = same_width,
    .flatten = activation_flatten,
};
