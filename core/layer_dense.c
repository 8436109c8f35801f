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

/* Writes this thread's dW = doutᵀ · inp and db = Σ dout over its rows;
 * dinp = dout · W (added when o->src_add). */
NN_HOT static void dense_backward(const struct op *o, struct run *r, const float *inp,
                           const float *out, const float *dout, float *dinp)
{
    (void)out;
    float *dW = r->grads + o->p, *db = dW + (size_t)o->out * o->in;
    if (r->n > 0)
        mm(1, 0, o->out, o->in, r->n, 1, dout, o->out, inp, o->in, 0, dW, o->in);
    else
        memset(dW, 0, (size_t)o->out * o->in * sizeof *dW);
    memset(db, 0, o->out * sizeof *db);
    for (int i = 0; i < r->n; i++) {
        const float *d = dout + (size_t)i * o->out;
        for (int j = 0; j < o->out; j++)
            db[j] += d[j];
    }
    if (dinp)
        mm(0, 0, r->n, o->in, o->out, 1, dout, o->out, r->params + o->p, o->in,
           o->src_add ? 1 : 0, dinp, o->in);
}

const struct op_kind op_dense = {"dense", dense_forward, dense_backward};
