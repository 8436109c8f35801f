/* layer_dense.c -- fully connected: out = inp · Wᵀ + b
 * inp (B,IN)  W (OUT,IN)  b (OUT)  out (B,OUT); W then b at params + o->p.
 * A forward tile is any block of out; a backward tile is a block of columns of dinp over
 * all rows; the weight gradient is computed per block of output units (grad). */
#include "nn_internal.h"

#include <string.h>

/* out[r0:r1, c0:c1] = inp[r0:r1, :] · W[c0:c1, :]ᵀ + b[c0:c1] */
NN_HOT static void dense_forward(const struct op *o, struct run *r, struct tile t)
{
    const int IN = o->in, OUT = o->out;
    const float *W = r->params + o->p, *b = W + (size_t)OUT * IN;
    const float *inp = r->act[o->src];
    float *out = r->act[o->idx];
    for (int i = t.r0; i < t.r1; i++)
        memcpy(out + (size_t)i * OUT + t.c0, b + t.c0, (t.c1 - t.c0) * sizeof *out);
    mm(0, 1, t.r1 - t.r0, t.c1 - t.c0, IN, 1, inp + (size_t)t.r0 * IN, IN,
       W + (size_t)t.c0 * IN, IN, 1, out + (size_t)t.r0 * OUT + t.c0, OUT);
}

/* dinp[:, c0:c1] = dout · W[:, c0:c1]  (added when o->src_add) */
static void dense_backward(const struct op *o, struct run *r, struct tile t)
{
    const int IN = o->in, OUT = o->out;
    float *dinp = r->dact[o->src];
    if (!dinp)
        return;
    mm(0, 0, t.r1 - t.r0, t.c1 - t.c0, OUT, 1, r->dact[o->idx] + (size_t)t.r0 * OUT, OUT,
       r->params + o->p + t.c0, IN, o->src_add ? 1 : 0, dinp + (size_t)t.r0 * IN + t.c0, IN);
}

/* dW[u0:u1, :] = dout[:, u0:u1]ᵀ · inp and db[u0:u1] = Σ_rows dout[:, u0:u1] */
NN_HOT static void dense_grad(const struct op *o, struct run *r, int u0, int u1)
{
    const int IN = o->in, OUT = o->out;
    const float *dout = r->dact[o->idx];
    float *dW = r->grad + o->p, *db = dW + (size_t)OUT * IN;
    mm(1, 0, u1 - u0, IN, r->B, 1, dout + u0, OUT, r->act[o->src], IN, 0, dW + (size_t)u0 * IN,
       IN);
    for (int j = u0; j < u1; j++)
        db[j] = 0;
    for (int i = 0; i < r->B; i++)
        for (int j = u0; j < u1; j++)
            db[j] += dout[(size_t)i * OUT + j];
}

const struct op_kind op_dense = {"dense", dense_forward, dense_backward, dense_grad};
