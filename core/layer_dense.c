/* layer_dense.c -- fully connected: out = inp · Wᵀ + b
 * inp (n,IN)  W (OUT,IN)  b (OUT)  out (n,OUT); W then b at params + o->p. */

#include "nn_internal.h"

#include <string.h>

NN_HOT static void dense_forward(const struct op *o, struct run *r, const float *inp, float *out)
{
    const float *W = r->params + o->p, *b = W + (size_t)o->out * o->in;
    for (int i = 0; i < r->n; i++)
        memcpy(out + (size_t)i * o->out, b, o->out * sizeof *out);
    mm(0, 1, r->n, o->out, o->in, 1, inp, o->in, W, o->in, 1, out, o->out);
}

/* dW = doutᵀ · inp and db = Σ dout need every row of the batch: after a barrier (all
 * rows of dout are written), thread t computes them for its share of the output units,
 * over the whole batch. dinp = dout · W (added when o->src_add) needs only its own rows. */
NN_HOT static void dense_backward(const struct op *o, struct run *r, const float *inp,
                                  const float *out, const float *dout, float *dinp)
{
    (void)out;
    const int IN = o->in, OUT = o->out;
    const int u0 = (int)((long)OUT * r->tid / r->nt), u1 = (int)((long)OUT * (r->tid + 1) / r->nt);
    const float *all_inp = inp - (size_t)r->r0 * IN, *all_dout = dout - (size_t)r->r0 * OUT;
    float *dW = r->grad + o->p, *db = dW + (size_t)OUT * IN;
    pool_barrier(r->pool, r->tid);
    mm(1, 0, u1 - u0, IN, r->B, 1, all_dout + u0, OUT, all_inp, IN, 0, dW + (size_t)u0 * IN, IN);
    for (int j = u0; j < u1; j++)
        db[j] = 0;
    for (int i = 0; i < r->B; i++) {
        const float *d = all_dout + (size_t)i * OUT;
        for (int j = u0; j < u1; j++)
            db[j] += d[j];
    }
    if (dinp)
        mm(0, 0, r->n, IN, OUT, 1, dout, OUT, r->params + o->p, IN, o->src_add ? 1 : 0, dinp, IN);
}

const struct op_kind op_dense = {"dense", dense_forward, dense_backward};
