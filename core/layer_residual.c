/* layer_residual.c -- the end of a residual block: out = inp + skip, where inp is the
 * output of the block's layers and skip the block's input.
 * inp (B,W)  skip (B,W)  out (B,W). Backward passes dout to both. Elementwise. */
#include "nn_internal.h"

NN_HOT static void add_forward(const struct op *o, struct run *r, struct tile t)
{
    const int W = o->out;
    const float *inp = r->act[o->src], *skip = r->act[o->skip];
    float *out = r->act[o->idx];
    for (int i = t.r0; i < t.r1; i++)
        for (int j = t.c0; j < t.c1; j++) {
            size_t k = (size_t)i * W + j;
            out[k] = inp[k] + skip[k];
        }
}

NN_HOT static void pass(const float *dout, float *d, int W, struct tile t, int add)
{
    if (!d)
        return;
    for (int i = t.r0; i < t.r1; i++)
        for (int j = t.c0; j < t.c1; j++) {
            size_t k = (size_t)i * W + j;
            d[k] = add ? d[k] + dout[k] : dout[k];
        }
}

static void add_backward(const struct op *o, struct run *r, struct tile t)
{
    const float *dout = r->dact[o->idx];
    pass(dout, r->dact[o->src], o->out, t, o->src_add);
    pass(dout, r->dact[o->skip], o->out, t, o->skip_add);
}

const struct op_kind op_add = {"residual", add_forward, add_backward, NULL};
