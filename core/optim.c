/* optim.c -- sgd (momentum, nesterov) and adam over the flat parameter buffer, L2 weight
 * decay on dense kernels, and the gradient norms that clipping and the reports need.
 * The formulas follow PyTorch: sgd keeps v = μ·v + g and steps by v (or g + μ·v with
 * nesterov); adam steps by lr/(1-β1ᵗ) · m / (sqrt(v)/sqrt(1-β2ᵗ) + ε).
 * Each optimizer type is a row of opt_kinds: its fields (ranges, defaults) and rules. */
#include "nn_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef float v16sf __attribute__((vector_size(64)));

/* Σ g[k]² over [a, b), sixteen lanes at a time. */
NN_HOT static double sumsq(const float *g, size_t a, size_t b)
{
    v16sf acc = {0};
    size_t k = a;
    for (; k + 16 <= b; k += 16) {
        v16sf x;
        memcpy(&x, g + k, sizeof x);
        acc += x * x;
    }
    double s = 0;
    for (int l = 0; l < 16; l++)
        s += acc[l];
    for (; k < b; k++)
        s += (double)g[k] * g[k];
    return s;
}

int optim_chunks(const struct nn_net *net, struct ochunk *out, int max)
{
    int n = 0;
    for (int i = 0, j = 0; i < net->nops; i++) {
        const struct op *o = &net->ops[i];
        if (!o->np)
            continue;
        /* a dense kernel is decayed, its bias and batchnorm's gamma and beta are not */
        size_t kernel = o->ndecay;
        for (size_t a = o->p; a < o->p + o->np;) {
            size_t end = a < o->p + kernel ? o->p + kernel : o->p + o->np;
            size_t b = end - a > OPT_CHUNK ? a + OPT_CHUNK : end;
            if (n < max)
                out[n] = (struct ochunk){a, b, j, a < o->p + kernel};
            n++;
            a = b;
        }
        j++;
    }
    return n;
}

double optim_sumsq(const struct nn_net *net, const struct ochunk *c)
{
    return sumsq(net->grad, c->a, c->b);
}

NN_HOT static void sgd(struct nn_net *net, const struct nn_optimizer *o, size_t a, size_t b,
                       float wd, float scale)
{
    float *restrict p = net->params, *restrict v = net->m;
    const float *restrict g = net->grad;
    const float lr = o->learning_rate, mu = o->momentum, nest = o->nesterov ? mu : 0;
    if (!v) {
        for (size_t k = a; k < b; k++)
            p[k] -= lr * (g[k] * scale + wd * p[k]);
        return;
    }
    /* nesterov steps by g + μ·v, plain momentum by v */
    const float keep_g = o->nesterov ? 1 : 0, keep_v = o->nesterov ? nest : 1;
    for (size_t k = a; k < b; k++) {
        float pk = p[k], gk = g[k] * scale + wd * pk, vk = mu * v[k] + gk;
        v[k] = vk;
        p[k] = pk - lr * (keep_g * gk + keep_v * vk);
    }
}

NN_HOT static void adam(struct nn_net *net, const struct nn_optimizer *o, size_t a, size_t b, float wd,
                 float scale, uint64_t t)
{
    float *restrict p = net->params, *restrict m = net->m, *restrict v = net->v;
    const float *restrict g = net->grad;
    const float b1 = o->beta1, b2 = o->beta2, eps = o->epsilon;
    const float step = (float)(o->learning_rate / (1 - pow(b1, (double)t)));
    const float rbc2 = (float)(1 / sqrt(1 - pow(b2, (double)t)));
    /* every value is loaded once and kept in registers: reloading a just-stored vector
     * stalls on store forwarding */
    for (size_t k = a; k < b; k++) {
        float pk = p[k], gk = g[k] * scale + wd * pk;
        float mk = b1 * m[k] + (1 - b1) * gk, vk = b2 * v[k] + (1 - b2) * gk * gk;
        m[k] = mk;
        v[k] = vk;
        p[k] = pk - step * mk / (sqrtf(vk) * rbc2 + eps);
    }
}

void optim_apply(struct nn_net *net, const struct nn_optimizer *o, const struct ochunk *c,
                 float scale, uint64_t t)
{
    float wd = c->decay ? o->weight_decay : 0;
    if (o->type == NN_ADAM)
        adam(net, o, c->a, c->b, wd, scale, t);
    else
        sgd(net, o, c->a, c->b, wd, scale);
}

/* ---- the optimizers' fields ---- */

#define OPT_FIELD(nm, member, l, h, d, what)                                                 \
    {.name = nm, .type = NN_FT_FLOAT, .offset = offsetof(struct nn_optimizer, member),     \
     .lo = (l), .hi = (h), .def = (d), .about = what}
#define LEARNING_RATE(d) OPT_FIELD("learning_rate", learning_rate, 1e-12, 1e6, d, "the step size")
#define WEIGHT_DECAY                                                                        \
    OPT_FIELD("weight_decay", weight_decay, 0, 1e6, 0, "the L2 penalty on dense kernels")

static const struct nn_field sgd_fields[] = {
    LEARNING_RATE(0.01),
    OPT_FIELD("momentum", momentum, 0, 0.999999, 0, "how much of the last step each step keeps"),
    {.name = "nesterov", .type = NN_FT_BOOL, .offset = offsetof(struct nn_optimizer, nesterov),
     .def = 0, .about = "whether the gradient is taken ahead, at the momentum's step"},
    WEIGHT_DECAY,
};
static const struct nn_field adam_fields[] = {
    LEARNING_RATE(0.001),
    OPT_FIELD("beta1", beta1, 0, 0.999999, 0.9, "the decay of the gradient's running mean"),
    OPT_FIELD("beta2", beta2, 0, 0.999999, 0.999, "the decay of the gradient's running square"),
    OPT_FIELD("epsilon", epsilon, 1e-30, 1, 1e-7, "what keeps the step finite"),
    WEIGHT_DECAY,
};

/* Nesterov's look-ahead is a momentum step: without momentum it would silently be sgd. */
static void sgd_rules(const struct nn_optimizer *o, struct nn_faults *f)
{
    if (o->nesterov == 1 && o->momentum == 0)
        nn_fault(f, "/optimizer/nesterov", "nesterov needs a momentum above 0");
}

/* An optimizer type: its descriptor, and its rules beyond single fields (may be NULL). */
static const struct opt_kind {
    struct nn_kind_desc desc;
    void (*rules)(const struct nn_optimizer *o, struct nn_faults *f);
} opt_kinds[NN_OPT_COUNT] = {
    [NN_SGD] = {{"sgd", sgd_fields, (int)(sizeof sgd_fields / sizeof *sgd_fields)}, sgd_rules},
    [NN_ADAM] = {{"adam", adam_fields, (int)(sizeof adam_fields / sizeof *adam_fields)}, NULL},
};

const struct nn_kind_desc *nn_opt_desc(int opt)
{
    return opt >= 0 && opt < NN_OPT_COUNT ? &opt_kinds[opt].desc : NULL;
}

int nn_opt_check_all(const struct nn_optimizer *o, struct nn_faults *f)
{
    const int before = f->n;
    if ((unsigned)o->type >= NN_OPT_COUNT) {
        nn_fault(f, "/optimizer/type", "unknown optimizer %d", (int)o->type);
        return -1;
    }
    const struct opt_kind *k = &opt_kinds[o->type];
    fields_check(k->desc.fields, k->desc.nfields, o, "/optimizer", f);
    if (k->rules)
        k->rules(o, f);
    return f->n > before ? -1 : 0;
}

int optim_prepare(struct nn_net *net, const struct nn_optimizer *o, struct nn_error *err)
{
    struct first_fault ff;
    if (nn_opt_check_all(o, first_fault(&ff, err)) < 0)
        return -1;
    size_t n = net->nparams ? net->nparams : 1;
    int want_m = o->type == NN_ADAM || o->momentum > 0, want_v = o->type == NN_ADAM;
    if (net->opt_type != (int)o->type || (want_m && !net->m) || (want_v && !net->v)) {
        /* a new optimizer starts from fresh state */
        free(net->m);
        free(net->v);
        net->m = net->v = NULL;
        net->step = 0;
        net->opt_type = o->type;
        if ((want_m && !(net->m = calloc(n, sizeof(float)))) ||
            (want_v && !(net->v = calloc(n, sizeof(float)))))
            return nn_fail(err, "", "out of memory for the optimizer state");
    }
    if (!net->grad && !(net->grad = calloc(n, sizeof(float))))
        return nn_fail(err, "", "out of memory for the gradients");
    return 0;
}

/* An optimizer of type t with every field at its descriptor's default, the others 0. */
static struct nn_optimizer opt_default(enum nn_opt t)
{
    struct nn_optimizer o = {.type = t};
    nn_fields_default(opt_kinds[t].desc.fields, opt_kinds[t].desc.nfields, &o);
    return o;
}

struct nn_optimizer nn_sgd(float lr, float momentum, int nesterov)
{
    struct nn_optimizer o = opt_default(NN_SGD);
    o.learning_rate = lr;
    o.momentum = momentum;
    o.nesterov = nesterov;
    return o;
}

struct nn_optimizer nn_adam(float lr)
{
    struct nn_optimizer o = opt_default(NN_ADAM);
    o.learning_rate = lr;
    return o;
}
