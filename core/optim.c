/* optim.c -- sgd (momentum, nesterov) and adam over the flat parameter buffer, L2 weight
 * decay on dense kernels, and the gradient norms that clipping and the reports need.
 * The formulas follow PyTorch: sgd keeps v = μ·v + g and steps by v (or g + μ·v with
 * nesterov); adam steps by lr/(1-β1ᵗ) · m / (sqrt(v)/sqrt(1-β2ᵗ) + ε). */
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

/* x outside [lo, hi) */
static int bad(float x, float lo, float hi) { return !(x >= lo && x < hi); }

int optim_prepare(struct nn_net *net, const struct nn_optimizer *o, struct nn_error *err)
{
    if ((unsigned)o->type >= NN_OPT_COUNT)
        return nn_fail(err, "/optimizer/type", "unknown optimizer %d", (int)o->type);
    if (!(o->learning_rate > 0 && isfinite(o->learning_rate)))
        return nn_fail(err, "/optimizer/learning_rate", "learning_rate must be a positive number");
    if (bad(o->weight_decay, 0, INFINITY))
        return nn_fail(err, "/optimizer/weight_decay", "weight_decay must be 0 or more");
    if (o->type == NN_SGD && bad(o->momentum, 0, 1))
        return nn_fail(err, "/optimizer/momentum", "momentum must be at least 0 and below 1");
    if (o->type == NN_SGD && o->nesterov && o->momentum == 0)
        return nn_fail(err, "/optimizer/nesterov", "nesterov needs a momentum above 0");
    if (o->type == NN_ADAM && (bad(o->beta1, 0, 1) || bad(o->beta2, 0, 1)))
        return nn_fail(err, o->beta1 >= 0 && o->beta1 < 1 ? "/optimizer/beta2" : "/optimizer/beta1",
                       "beta1 and beta2 must be at least 0 and below 1");
    if (o->type == NN_ADAM && !(o->epsilon > 0 && isfinite(o->epsilon)))
        return nn_fail(err, "/optimizer/epsilon", "epsilon must be a positive number");
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

struct nn_optimizer nn_sgd(float lr, float momentum, int nesterov)
{
    return (struct nn_optimizer){.type = NN_SGD, .learning_rate = lr, .momentum = momentum,
                                 .nesterov = nesterov};
}

struct nn_optimizer nn_adam(float lr)
{
    return (struct nn_optimizer){.type = NN_ADAM, .learning_rate = lr, .beta1 = 0.9f,
                                 .beta2 = 0.999f, .epsilon = 1e-7f};
}
