/* net.c -- a network: flattening the spec into ops, the flat buffers, weight
 * initialisation, the summary and tensors, the forward pass over the op list, and the
 * tables of op kinds and layer kinds. Everything a layer kind alone knows is a hook of
 * its row (nn_internal.h); the walks here only call them. */
#include "nn_internal.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

struct op flat_op(const struct flat *f, const struct nn_layer_spec *l, enum op_id id, int src,
                  int w)
{
    return (struct op){.id = id, .src = src, .skip = -1, .in = w * f->steps,
                       .out = w * f->steps, .act = l->act, .alpha = l->alpha, .relu = -1,
                       .layer = (int)(l - f->net->lspec), .steps = f->steps};
}

int flat_push(struct flat *f, struct op o)
{
    struct nn_net *net = f->net;
    if (net->nops == f->cap) {
        int cap = f->cap ? 2 * f->cap : 16;
        struct op *ops = realloc(net->ops, cap * sizeof *ops);
        if (!ops)
            return -1;
        net->ops = ops;
        f->cap = cap;
    }
    o.idx = net->nops;
    if (o.np)
        net->ntrain++;
    net->ops[net->nops] = o;
    return net->nops++;
}

int flat_layers(struct flat *f, const struct nn_layer_spec *ls, int n, int *cur, int *w)
{
    for (int i = 0; i < n; i++) {
        const struct layer_kind *k = layer_kinds[ls[i].kind];
        if (k->flatten(f, &ls[i], cur, w) < 0)
            return -1;
        int steps = k->steps ? k->steps(&ls[i], f->steps) : f->steps;
        f->steps = steps > 0 ? steps : 1;
    }
    return 0;
}

/* The last reader of a buffer in forward order is the first in backward order: it writes
 * the buffer's gradient, every other reader adds into it. */
static void mark_adds(struct nn_net *net)
{
    int *last = malloc((net->nops + 1) * sizeof *last);
    assert(last);
    for (int b = 0; b <= net->nops; b++)
        last[b] = -1;
    for (int i = 0; i < net->nops; i++) {
        last[net->ops[i].src + 1] = i;
        if (net->ops[i].skip >= -1 && net->ops[i].id == OP_ADD)
            last[net->ops[i].skip + 1] = i;
    }
    for (int i = 0; i < net->nops; i++) {
        struct op *o = &net->ops[i];
        o->src_add = last[o->src + 1] != i;
        o->skip_add = o->id == OP_ADD && last[o->skip + 1] != i;
    }
    free(last);
}

void net_need_grad(const struct nn_net *net, int want_dx, unsigned char *need)
{
    int seen = 0;
    need[0] = (unsigned char)want_dx;
    for (int i = 0; i < net->nops; i++) {
        seen |= net->ops[i].np > 0;
        need[i + 1] = (unsigned char)(seen || want_dx);
    }
}

int net_loss_buffer(const struct nn_net *net)
{
    const struct op *last = &net->ops[net->nops - 1];
    return net->fused ? last->src : net->nops - 1;
}

struct nn_net *net_build(const struct nn_spec *spec, size_t max_params, struct nn_rng *rng,
                         struct nn_error *err)
{
    size_t nparams;
    if (nn_spec_check(spec, max_params, &nparams, err) < 0)
        return NULL;
    blas_single_thread();
    struct nn_net *net = calloc(1, sizeof *net);
    if (!net || spec_copy(net, spec) < 0)
        goto oom;
    net->opt_type = -1;
    struct flat f = {.net = net, .steps = spec->timesteps > 0 ? spec->timesteps : 1};
    int cur = -1, w = spec->inputs;
    if (flat_layers(&f, net->spec.layers, net->spec.nlayers, &cur, &w) < 0)
        goto oom;
    assert(f.p == nparams);
    net->nparams = f.p;
    net->nstats = f.s;
    net->scr_row = f.scr;
    net->nred = f.red;
    net->seq_row = f.sq;
    const struct op *last = &net->ops[net->nops - 1];
    net->fused = last->id == OP_ACT && ((spec->loss == NN_CCE && last->act == NN_SOFTMAX) ||
                                        (spec->loss == NN_BCE && last->act == NN_SIGMOID));
    mark_adds(net);

    net->params = calloc(net->nparams ? net->nparams : 1, sizeof *net->params);
    net->stats = calloc(net->nstats ? net->nstats : 1, sizeof *net->stats);
    net->train_where = calloc(net->ntrain + 1, sizeof *net->train_where);
    net->relu_where = calloc(net->nrelu + 1, sizeof *net->relu_where);
    if (!net->params || !net->stats || !net->train_where || !net->relu_where)
        goto oom;
    for (int i = 0, t = 0; i < net->nops; i++) {
        const struct op *o = &net->ops[i];
        const struct layer_kind *k = layer_kinds[net->lspec[o->layer].kind];
        if (o->np)
            net->train_where[t++] = net->where[o->layer];
        if (o->relu >= 0)
            net->relu_where[o->relu] = net->where[o->layer];
        if (k->init)
            k->init(net, o, rng);
    }
    return net;
oom:
    nn_free(net);
    nn_fail(err, "", "out of memory building the network");
    return NULL;
}

struct nn_net *nn_new(const struct nn_spec *spec, size_t max_params, struct nn_rng *rng,
                      struct nn_error *err)
{
    return net_build(spec, max_params, rng, err);
}

void nn_free(struct nn_net *net)
{
    if (!net)
        return;
    free(net->lspec);
    free(net->where);
    free(net->ops);
    free(net->params);
    free(net->stats);
    free(net->grad);
    free(net->train_where);
    free(net->relu_where);
    free(net->m);
    free(net->v);
    free(net);
}

const struct nn_spec *nn_get_spec(const struct nn_net *net) { return &net->spec; }
int nn_inputs(const struct nn_net *net)
{
    return net->spec.inputs * (net->spec.timesteps > 0 ? net->spec.timesteps : 1);
}
int nn_outputs(const struct nn_net *net) { return net->ops[net->nops - 1].out; }
size_t nn_param_count(const struct nn_net *net) { return net->nparams; }
int nn_epochs_done(const struct nn_net *net) { return net->epochs_done; }

/* ---- summary and tensors ---- */

struct sum {
    const struct nn_net *net;
    struct nn_summary_row *rows;
    int max, n;
};

/* Parameters of n layers that take `w` inputs per step over *steps steps (0: not a
 * sequence), bodies included; *w and *steps become those of their output. */
static size_t layer_params(const struct nn_layer_spec *ls, int n, int *w, int *steps)
{
    size_t params = 0;
    for (int i = 0; i < n; i++) {
        const struct nn_layer_spec *l = &ls[i], *body;
        const struct layer_kind *k = layer_kinds[l->kind];
        int nb = layer_body(l, &body), bw = *w, bs = *steps;
        params += (k->params ? k->params(l, *w) : 0) + layer_params(body, nb, &bw, &bs);
        *w = k->outputs(l, *w);
        if (k->steps)
            *steps = k->steps(l, *steps);
    }
    return params;
}

int nn_spec_outputs(const struct nn_spec *spec)
{
    int w = spec->inputs, steps = spec->timesteps;
    layer_params(spec->layers, spec->nlayers, &w, &steps);
    return steps > 0 ? w * steps : w;
}

int nn_spec_output_steps(const struct nn_spec *spec)
{
    int w = spec->inputs, steps = spec->timesteps;
    layer_params(spec->layers, spec->nlayers, &w, &steps);
    return steps;
}

static void summarise(struct sum *s, const struct nn_layer_spec *ls, int n, int depth, int w,
                      int steps)
{
    for (int i = 0; i < n; i++) {
        const struct nn_layer_spec *l = &ls[i], *body;
        int idx = s->n++, in = w, in_steps = steps;
        size_t params = layer_params(l, 1, &w, &steps);
        if (idx < s->max) {
            struct nn_summary_row *r = &s->rows[idx];
            memcpy(r->where, s->net->where[l - s->net->lspec], NN_WHERE);
            r->kind = l->kind;
            r->depth = depth;
            r->outputs = w;
            r->steps = steps;
            r->params = params;
        }
        int nb = layer_body(l, &body);
        summarise(s, body, nb, depth + 1, in, in_steps);
    }
}

int nn_summary(const struct nn_net *net, struct nn_summary_row *rows, int max)
{
    struct sum s = {.net = net, .rows = rows, .max = max};
    summarise(&s, net->spec.layers, net->spec.nlayers, 0, net->spec.inputs,
              net->spec.timesteps);
    return s.n;
}

void net_tensor(struct nn_tensor *out, int max, int i, const struct nn_net *net,
                const struct op *o, const char *name, int rows, int cols, float *data,
                const float *grad)
{
    if (i < max)
        out[i] = (struct nn_tensor){net->where[o->layer], name, rows, cols, data, grad};
}

int nn_tensors(struct nn_net *net, struct nn_tensor *out, int max)
{
    int n = 0;
    for (int i = 0; i < net->nops; i++) {
        const struct op *o = &net->ops[i];
        const struct layer_kind *k = layer_kinds[net->lspec[o->layer].kind];
        if (k->tensors)
            n += k->tensors(net, o, n < max ? out + n : NULL, n < max ? max - n : 0);
    }
    return n;
}

/* ---- passes ---- */

void net_forward_rows(struct run *r, int r0, int r1)
{
    for (int i = 0; i < r->net->nops; i++) {
        const struct op *o = &r->net->ops[i];
        op_kinds[o->id]->forward(o, r, (struct tile){r0, r1, 0, o->out});
    }
}

/* ---- the tables of kinds: a row each, the kind's file holds the rest ---- */

extern const struct op_kind op_dense, op_act, op_dropout, op_batchnorm, op_add, op_recur;
const struct op_kind *const op_kinds[OP_COUNT] = {
    [OP_DENSE] = &op_dense,
    [OP_ACT] = &op_act,
    [OP_DROPOUT] = &op_dropout,
    [OP_BATCHNORM] = &op_batchnorm,
    [OP_ADD] = &op_add,
    [OP_RECUR] = &op_recur,
};

extern const struct layer_kind layer_dense, layer_activation, layer_dropout, layer_batchnorm,
    layer_residual, layer_rnn, layer_lstm, layer_gru;
const struct layer_kind *const layer_kinds[NN_KIND_COUNT] = {
    [NN_DENSE] = &layer_dense,
    [NN_ACTIVATION] = &layer_activation,
    [NN_DROPOUT] = &layer_dropout,
    [NN_BATCHNORM] = &layer_batchnorm,
    [NN_RESIDUAL] = &layer_residual,
    [NN_RNN] = &layer_rnn,
    [NN_LSTM] = &layer_lstm,
    [NN_GRU] = &layer_gru,
};

const struct nn_kind_desc *nn_kind_desc(int kind)
{
    return kind >= 0 && kind < NN_KIND_COUNT ? &layer_kinds[kind]->desc : NULL;
}
