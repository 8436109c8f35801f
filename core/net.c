/* net.c -- a network: flattening the spec into ops, the flat buffers, weight
 * initialisation, and the forward and backward passes over the op list. */
#include "nn_internal.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct flat {
    struct nn_net *net;
    int cap;
    size_t p, s, scr, red;
};

static int push(struct flat *f, struct op o)
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
    o.relu = -1;
    o.idx = net->nops;
    o.shape = o.id == OP_DENSE                         ? SHAPE_DENSE
              : o.id == OP_BATCHNORM                   ? SHAPE_COLUMNS
              : o.id == OP_ACT && o.act == NN_SOFTMAX  ? SHAPE_ROWS
                                                       : SHAPE_ELEMENTWISE;
    if (o.id == OP_ACT && o.act == NN_RELU) {
        o.relu = net->nrelu++;
        o.pk = net->npeak;
        net->npeak += o.out;
    }
    if (o.np)
        net->ntrain++;
    net->ops[net->nops] = o;
    return net->nops++;
}

/* Appends the ops of n layers reading buffer *cur of width *w. */
static int flatten(struct flat *f, const struct nn_layer_spec *ls, int n, int *cur, int *w)
{
    for (int i = 0; i < n; i++) {
        const struct nn_layer_spec *l = &ls[i];
        struct op o = {.src = *cur, .skip = -1, .in = *w, .out = *w, .act = l->act,
                       .alpha = l->alpha, .layer = (int)(l - f->net->lspec)};
        switch (l->kind) {
        case NN_DENSE:
            o.id = OP_DENSE;
            o.out = l->units;
            o.p = f->p;
            o.np = (size_t)o.in * o.out + o.out;
            f->p += o.np;
            if ((*cur = push(f, o)) < 0)
                return -1;
            *w = o.out;
            if (l->act != NN_LINEAR) {
                struct op a = {.id = OP_ACT, .src = *cur, .skip = -1, .in = *w, .out = *w,
                               .act = l->act, .alpha = l->alpha, .layer = o.layer};
                if ((*cur = push(f, a)) < 0)
                    return -1;
            }
            break;
        case NN_ACTIVATION:
            o.id = OP_ACT;
            if ((*cur = push(f, o)) < 0)
                return -1;
            break;
        case NN_DROPOUT:
            o.id = OP_DROPOUT;
            o.rate = l->rate;
            o.scr = f->scr;
            f->scr += o.out;
            if ((*cur = push(f, o)) < 0)
                return -1;
            break;
        case NN_BATCHNORM:
            o.id = OP_BATCHNORM;
            o.momentum = l->momentum;
            o.epsilon = l->epsilon;
            o.p = f->p;
            o.np = 2 * (size_t)o.out;
            f->p += o.np;
            o.s = f->s;
            f->s += 2 * (size_t)o.out;
            o.scr = f->scr;
            f->scr += o.out;
            o.red = f->red;
            f->red += 2 * (size_t)o.out;
            if ((*cur = push(f, o)) < 0)
                return -1;
            break;
        case NN_RESIDUAL: {
            int skip = *cur;
            if (flatten(f, l->layers, l->nlayers, cur, w) < 0)
                return -1;
            o.id = OP_ADD;
            o.src = *cur;
            o.skip = skip;
            if ((*cur = push(f, o)) < 0)
                return -1;
            break;
        }
        default:
            assert(!"checked by nn_spec_check");
        }
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

static void init_dense(const struct op *o, const struct nn_layer_spec *l, float *W,
                       struct nn_rng *rng)
{
    int init = l->init;
    if (init == NN_INIT_AUTO)
        init = l->act == NN_RELU || l->act == NN_LEAKY_RELU ? NN_INIT_HE_NORMAL
                                                            : NN_INIT_GLOROT_UNIFORM;
    double fan = init == NN_INIT_HE_NORMAL || init == NN_INIT_HE_UNIFORM ? o->in / 2.0
                                                                         : (o->in + o->out) / 2.0;
    double sd = sqrt(1.0 / fan), lim = sqrt(3.0 / fan);
    size_t n = (size_t)o->in * o->out;
    for (size_t i = 0; i < n; i++) {
        switch (init) {
        case NN_INIT_HE_NORMAL:
        case NN_INIT_GLOROT_NORMAL:
            W[i] = (float)(sd * rng_normal(rng));
            break;
        case NN_INIT_HE_UNIFORM:
        case NN_INIT_GLOROT_UNIFORM:
            W[i] = (float)(lim * (2 * nn_rng_uniform(rng) - 1));
            break;
        default:
            W[i] = 0;
        }
    }
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
    struct flat f = {.net = net};
    int cur = -1, w = spec->inputs;
    if (flatten(&f, net->spec.layers, net->spec.nlayers, &cur, &w) < 0)
        goto oom;
    assert(f.p == nparams);
    net->nparams = f.p;
    net->nstats = f.s;
    net->scr_row = f.scr;
    net->nred = f.red;
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
        const struct nn_layer_spec *l = &net->lspec[o->layer];
        if (o->np)
            net->train_where[t++] = net->where[o->layer];
        if (o->relu >= 0)
            net->relu_where[o->relu] = net->where[o->layer];
        if (o->id == OP_DENSE && rng)
            init_dense(o, l, net->params + o->p, rng);
        if (o->id == OP_BATCHNORM) {
            for (int j = 0; j < o->out; j++) {
                net->params[o->p + j] = 1;              /* gamma */
                net->stats[o->s + o->out + j] = 1;      /* running variance */
            }
        }
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
int nn_inputs(const struct nn_net *net) { return net->spec.inputs; }
int nn_outputs(const struct nn_net *net) { return net->ops[net->nops - 1].out; }
size_t nn_param_count(const struct nn_net *net) { return net->nparams; }
int nn_epochs_done(const struct nn_net *net) { return net->epochs_done; }

/* ---- summary and tensors ---- */

struct sum {
    const struct nn_net *net;
    struct nn_summary_row *rows;
    int max, n;
};

/* Parameters of n layers that take `w` inputs; *w becomes their output width. */
static size_t layer_params(const struct nn_layer_spec *ls, int n, int *w)
{
    size_t params = 0;
    for (int i = 0; i < n; i++) {
        const struct nn_layer_spec *l = &ls[i];
        if (l->kind == NN_DENSE) {
            params += (size_t)l->units * *w + l->units;
            *w = l->units;
        } else if (l->kind == NN_BATCHNORM) {
            params += 2 * (size_t)*w;
        } else if (l->kind == NN_RESIDUAL) {
            params += layer_params(l->layers, l->nlayers, w);
        }
    }
    return params;
}

static void summarise(struct sum *s, const struct nn_layer_spec *ls, int n, int depth, int w)
{
    for (int i = 0; i < n; i++) {
        const struct nn_layer_spec *l = &ls[i];
        int idx = s->n++;
        size_t params = layer_params(l, 1, &w);
        if (idx < s->max) {
            struct nn_summary_row *r = &s->rows[idx];
            memcpy(r->where, s->net->where[l - s->net->lspec], NN_WHERE);
            r->kind = l->kind;
            r->depth = depth;
            r->outputs = w;
            r->params = params;
        }
        if (l->kind == NN_RESIDUAL)
            summarise(s, l->layers, l->nlayers, depth + 1, w);
    }
}

int nn_summary(const struct nn_net *net, struct nn_summary_row *rows, int max)
{
    struct sum s = {.net = net, .rows = rows, .max = max};
    summarise(&s, net->spec.layers, net->spec.nlayers, 0, net->spec.inputs);
    return s.n;
}

int nn_tensors(struct nn_net *net, struct nn_tensor *out, int max)
{
    int n = 0;
#define TENSOR(nm, r, c, d, g)                                                              \
    do {                                                                                    \
        if (n < max)                                                                        \
            out[n] = (struct nn_tensor){net->where[o->layer], nm, r, c, d, g};             \
        n++;                                                                                \
    } while (0)
    for (int i = 0; i < net->nops; i++) {
        const struct op *o = &net->ops[i];
        float *p = net->params + o->p;
        const float *g = net->grad ? net->grad + o->p : NULL;
        if (o->id == OP_DENSE) {
            TENSOR("kernel", o->out, o->in, p, g);
            TENSOR("bias", 1, o->out, p + (size_t)o->out * o->in,
                   g ? g + (size_t)o->out * o->in : NULL);
        } else if (o->id == OP_BATCHNORM) {
            TENSOR("gamma", 1, o->out, p, g);
            TENSOR("beta", 1, o->out, p + o->out, g ? g + o->out : NULL);
            TENSOR("moving_mean", 1, o->out, net->stats + o->s, NULL);
            TENSOR("moving_variance", 1, o->out, net->stats + o->s + o->out, NULL);
        }
    }
#undef TENSOR
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

const struct op_kind *const op_kinds[OP_COUNT] = {
    [OP_DENSE] = &op_dense,
    [OP_ACT] = &op_act,
    [OP_DROPOUT] = &op_dropout,
    [OP_BATCHNORM] = &op_batchnorm,
    [OP_ADD] = &op_add,
};
