/* layer_dropout.c -- inverted dropout: in training each unit is kept with probability
 * 1 - rate and scaled by 1/(1 - rate); in prediction it passes through.
 * inp (B,W)  out (B,W)  mask (B,W) in the scratch rows. Elementwise. The mask of unit j
 * of batch row i is a hash of (the step's key, the layer's index, i, j), so it does not
 * depend on which thread computes it, and each dropout layer of a network draws its own:
 * two layers of one width with a shared mask would drop the same units twice, keeping a
 * fraction 1 - rate of them instead of (1 - rate)^2. Also the layer kind "dropout". */
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
    const uint64_t key = rng_stream_key(r->key, (uint64_t)o->layer);
    for (int i = t.r0; i < t.r1; i++) {
        float *m = r->training ? mask_row(o, r, i) : NULL;
        for (int j = t.c0; j < t.c1; j++) {
            size_t k = (size_t)i * W + j;
            float keep = 1;
            if (m) {
                keep = o->rate == 0 || rng_hash_uniform(key, k) >= o->rate ? scale : 0.0f;
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

/* ---- the layer kind ---- */

static const struct nn_field dropout_fields[] = {
    {.name = "rate", .type = NN_FT_FLOAT, .offset = offsetof(struct nn_layer_spec, rate),
     .lo = 0, .hi = 1, .flags = NN_FIELD_REQUIRED | NN_FIELD_HI_OPEN,
     .about = "the fraction of its inputs dropped in training"},
};

static int dropout_outputs(const struct nn_layer_spec *l, int in)
{
    (void)l;
    return in;
}

static int dropout_flatten(struct flat *f, const struct nn_layer_spec *l, int *cur, int *w)
{
    struct op o = flat_op(f, l, OP_DROPOUT, *cur, *w);
    o.rate = l->rate;
    o.scr = f->scr;           /* the mask */
    f->scr += (size_t)o.out;
    return (*cur = flat_push(f, o)) < 0 ? -1 : 0;
}

struct nn_layer_spec nn_dropout(float rate)
{
    struct nn_layer_spec l = layer_default(NN_DROPOUT);
    l.rate = rate;
    return l;
}

const struct layer_kind layer_dropout = {
    .desc = {"dropout", dropout_fields, (int)(sizeof dropout_fields / sizeof *dropout_fields)},
    .outputs = dropout_outputs,
    .flatten = dropout_flatten,
};
