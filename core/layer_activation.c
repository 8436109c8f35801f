/* layer_activation.c -- elementwise activations and the row-wise softmax.
 * inp (n,W)  out (n,W). Backward reads the output (the input for leaky_relu). */
#include "nn_internal.h"

#include <math.h>

NN_HOT static void act_forward(const struct op *o, struct run *r, const float *inp, float *out)
{
    size_t N = (size_t)r->n * o->out;
    const float a = o->alpha;
    switch (o->act) {
    case NN_LINEAR:
        for (size_t i = 0; i < N; i++)
            out[i] = inp[i];
        break;
    case NN_STEP:
        for (size_t i = 0; i < N; i++)
            out[i] = inp[i] > 0 ? 1.0f : 0.0f;
        break;
    case NN_SIGMOID:
        for (size_t i = 0; i < N; i++)
            out[i] = 1.0f / (1.0f + expf(-inp[i]));
        break;
    case NN_TANH:
        for (size_t i = 0; i < N; i++)
            out[i] = tanhf(inp[i]);
        break;
    case NN_RELU:
        for (size_t i = 0; i < N; i++)
            out[i] = inp[i] > 0 ? inp[i] : 0.0f;
        if (r->training && r->peak) {
            /* dead-unit tracking: the largest output each unit reached */
            float *peak = r->peak + o->pk;
            for (int i = 0; i < r->n; i++)
                for (int j = 0; j < o->out; j++) {
                    float v = out[(size_t)i * o->out + j];
                    peak[j] = v > peak[j] ? v : peak[j];
                }
        }
        break;
    case NN_LEAKY_RELU:
        for (size_t i = 0; i < N; i++)
            out[i] = inp[i] > 0 ? inp[i] : a * inp[i];
        break;
    case NN_SOFTMAX:
        for (int i = 0; i < r->n; i++) {
            const float *x = inp + (size_t)i * o->out;
            float *y = out + (size_t)i * o->out, mx = x[0], s = 0;
            for (int j = 1; j < o->out; j++)
                mx = x[j] > mx ? x[j] : mx;
            for (int j = 0; j < o->out; j++)
                s += y[j] = expf(x[j] - mx);
            for (int j = 0; j < o->out; j++)
                y[j] /= s;
        }
        break;
    default:
        break;
    }
}

NN_HOT static void act_backward(const struct op *o, struct run *r, const float *inp, const float *out,
                         const float *dout, float *dinp)
{
    if (!dinp)
        return;
    size_t N = (size_t)r->n * o->out;
    const int add = o->src_add;
    const float a = o->alpha;
#define SET(i, v) (dinp[i] = add ? dinp[i] + (v) : (v))
    switch (o->act) {
    case NN_LINEAR:
        for (size_t i = 0; i < N; i++)
            SET(i, dout[i]);
        break;
    case NN_STEP:
        for (size_t i = 0; i < N; i++)
            SET(i, 0.0f);
        break;
    case NN_SIGMOID:
        for (size_t i = 0; i < N; i++)
            SET(i, dout[i] * out[i] * (1 - out[i]));
        break;
    case NN_TANH:
        for (size_t i = 0; i < N; i++)
            SET(i, dout[i] * (1 - out[i] * out[i]));
        break;
    case NN_RELU:
        for (size_t i = 0; i < N; i++)
            SET(i, out[i] > 0 ? dout[i] : 0.0f);
        break;
    case NN_LEAKY_RELU:
        for (size_t i = 0; i < N; i++)
            SET(i, inp[i] > 0 ? dout[i] : a * dout[i]);
        break;
    case NN_SOFTMAX:
        /* dinp = y ⊙ (dout - <dout, y>) per row */
        for (int i = 0; i < r->n; i++) {
            size_t row = (size_t)i * o->out;
            float dot = 0;
            for (int j = 0; j < o->out; j++)
                dot += dout[row + j] * out[row + j];
            for (int j = 0; j < o->out; j++)
                SET(row + j, out[row + j] * (dout[row + j] - dot));
        }
        break;
    default:
        break;
    }
#undef SET
}

const struct op_kind op_act = {"activation", act_forward, act_backward};
