/* layer_residual.c -- the end of a residual block: out = inp + skip, where inp is the
 * output of the block's layers and skip the block's input.
 * inp (n,W)  skip (n,W)  out (n,W). Backward passes dout to both. */
#include "nn_internal.h"

NN_HOT static void add_forward(const struct op *o, struct run *r, const float *inp, float *out)
{
    const float *skip = r->act[o->skip] + (size_t)r->r0 * o->out;
    for (size_t i = 0; i < (size_t)r->n * o->out; i++)
        out[i] = inp[i] + skip[i];
}

NN_HOT static void pass(const float *dout, float *d, size_t N, int add)
{
    if (!d)
        return;
    for (size_t i = 0; i < N; i++)
        d[i] = add ? d[i] + dout[i] : dout[i];
}

static void add_backward(const struct op *o, struct run *r, const float *inp, const float *out,
                         const float *dout, float *dinp)
{
    (void)inp;
    (void)out;
    size_t N = (size_t)r->n * o->out;
    float *dskip = r->dact[o->skip] ? r->dact[o->skip] + (size_t)r->r0 * o->out : NULL;
    pass(dout, dinp, N, o->src_add);
    pass(dout, dskip, N, o->skip_add);
}

const struct op_kind op_add = {"residual", add_forward, add_backward};
