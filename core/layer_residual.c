/* layer_residual.c -- the end of a residual block: out = inp + skip, where inp is the
 * output of the block's layers and skip the block's input.
 * inp (B,W)  skip (B,W)  out (B,W). Backward passes dout to both. Elementwise.
 * The layer kind "residual": a body (its one field, walked by the generic code) whose
 * ops come first, then the add op; its rule is that the body keeps the width. */
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

/* ---- the layer kind ---- */

static const struct nn_field residual_fields[] = {
    {.name = "layers", .type = NN_FT_LAYERS, .offset = offsetof(struct nn_layer_spec, layers),
     .lo = 1, .hi = INFINITY, .flags = NN_FIELD_REQUIRED,
     .about = "the layers whose output is added to the block's input"},
};

static int residual_check(const struct nn_layer_spec *l, int in, int body, const char *where,
                          struct nn_faults *f)
{
    (void)l;
    if (in < 0 || body < 0 || body == in)
        return 0;
    nn_fault(f, where, "a residual block must keep its width: its input is %d wide but its "
                       "layers output %d", in, body);
    return -1;
}

static int residual_outputs(const struct nn_layer_spec *l, int in)
{
    (void)l;
    return in;
}

static int residual_flatten(struct flat *f, const struct nn_layer_spec *l, int *cur, int *w)
{
    struct op o = flat_op(f, l, OP_ADD, *cur, *w);
    int skip = *cur;
    if (flat_layers(f, l->layers, l->nlayers, cur, w) < 0)
        return -1;
    o.src = *cur;
    o.skip = skip;
    return (*cur = flat_push(f, o)) < 0 ? -1 : 0;
}

struct nn_layer_spec nn_residual(const struct nn_layer_spec *layers, int nlayers)
{
    struct nn_layer_spec l = layer_default(NN_RESIDUAL);
    l.layers = layers;
    l.nlayers = nlayers;
    return l;
}

const struct layer_kind layer_residual = {
    .desc = {"residual", residual_fields, (int)(sizeof residual_fields / sizeof *residual_fields)},
    .check = residual_check,
    .outputs = residual_outputs,
    .flatten = residual_flatten,
};
