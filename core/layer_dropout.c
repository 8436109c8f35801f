/* layer_dropout.c -- inverted dropout: in training each unit is kept with probability
 * 1 - rate and scaled by 1/(1 - rate); in prediction it passes through.
 * inp (B,W)  out (B,W)  mask (B,W) in the scratch rows. Elementwise. The mask of unit j
 * of batch row i is a hash of (the step's key, i, j), so it does not depend on which
 * thread computes it. */
#include "nn_internal.h"

static float *mask_row(const struct op *o, struct run *r, int i)
{
    return r->scr + (size_t)i * r->net->scr_row + o->scr;
}

static void dropout_forward(const struct op *o, struct run *r, struct tile t)
{
    const int W = o->out;
    const float *inp = r->act[o->src];
    float *out = r->act[o->idx];
    const float scale = 1.0f / (1.0f - o->rate);
    for (int i = t.r0; i < t.r1; i++) {
        float *m = r->training ? mask_row(o, r, i) : NULL;
        for (int j = t.c0; j < t.c1; j++) {
            size_t k = (size_t)i * W + j;
            float keep = 1;
            if (m) {
                keep = o->rate == 0 || rng_hash_uniform(r->key, k) >= o->rate ? scale : 0.0f;
                m[j] = keep;
            }
            out[k] = inp[k] * keep;
        }
    }
}

static void dropout_backward(const struct op *o, struct run *r, struct tile t)
{
    const int W = o->out;
    const float *dout = r->dact[o->idx];
    float *dinp = r->dact[o->src];
    if (!dinp)
        return;
    for (int i = t.r0; i < t.r1; i++) {
        const float *m = mask_row(o, r, i);
        for (int j = t.c0; j < t.c1; j++) {
            size_t k = (size_t)i * W + j;
            float v = dout[k] * m[j];
            dinp[k] = o->src_add ? dinp[k] + v : v;
        }
    }
}

const struct op_kind op_dropout = {"dropout", dropout_forward, dropout_backward, NULL};
