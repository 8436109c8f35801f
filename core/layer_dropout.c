/* layer_dropout.c -- inverted dropout: in training each unit is kept with probability
 * 1 - rate and scaled by 1/(1 - rate); in prediction it passes through.
 * inp (n,W)  out (n,W)  mask (n,W) in the scratch rows. The mask of unit j of batch row
 * i is a hash of (the step's key, i, j), so it does not depend on the thread count. */
#include "nn_internal.h"

static float *mask_row(const struct op *o, struct run *r, int i)
{
    return r->scr + (size_t)(r->r0 + i) * r->net->scr_row + o->scr;
}

NN_HOT static void dropout_forward(const struct op *o, struct run *r, const float *inp, float *out)
{
    const int W = o->out;
    if (!r->training || o->rate == 0) {
        for (size_t i = 0; i < (size_t)r->n * W; i++)
            out[i] = inp[i];
        if (r->training)
            for (int i = 0; i < r->n; i++)
                for (int j = 0; j < W; j++)
                    mask_row(o, r, i)[j] = 1;
        return;
    }
    const float scale = 1.0f / (1.0f - o->rate);
    for (int i = 0; i < r->n; i++) {
        float *m = mask_row(o, r, i);
        uint64_t base = (uint64_t)(r->r0 + i) * W;
        for (int j = 0; j < W; j++) {
            float keep = rng_hash_uniform(r->key, base + j) >= o->rate ? scale : 0.0f;
            m[j] = keep;
            out[(size_t)i * W + j] = inp[(size_t)i * W + j] * keep;
        }
    }
}

NN_HOT static void dropout_backward(const struct op *o, struct run *r, const float *inp,
                             const float *out, const float *dout, float *dinp)
{
    (void)inp;
    (void)out;
    if (!dinp)
        return;
    const int W = o->out;
    for (int i = 0; i < r->n; i++) {
        const float *m = mask_row(o, r, i);
        for (int j = 0; j < W; j++) {
            size_t k = (size_t)i * W + j;
            float v = dout[k] * m[j];
            dinp[k] = o->src_add ? dinp[k] + v : v;
        }
    }
}

const struct op_kind op_dropout = {"dropout", dropout_forward, dropout_backward};
