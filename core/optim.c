/* optim.c -- sgd (momentum, nesterov) and adam over the flat parameter buffer, L2 weight
 * decay on dense kernels, and the gradient norms that clipping and the reports need.
 * The formulas follow PyTorch: sgd keeps v = μ·v + g and steps by v (or g + μ·v with
 * nesterov); adam steps by lr/(1-β1ᵗ) · m / (sqrt(v)/sqrt(1-β2ᵗ) + ε). */
#include "nn_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 4096

/* Runs the body over each trainable op j's part of [lo, hi): [a, b), of which [a, dk) is decayed. */
#define FOR_SEGMENTS(net, lo, hi, ...)                                                      \
    for (int i_ = 0, j = 0; i_ < (net)->nops; i_++) {                                       \
        const struct op *o_ = &(net)->ops[i_];                                              \
        if (!o_->np)                                                                        \
            continue;                                                                       \
        size_t a = o_->p > (lo) ? o_->p : (lo), b = o_->p + o_->np < (hi) ? o_->p + o_->np : (hi); \
        size_t dk = o_->id == OP_DENSE ? o_->p + (size_t)o_->in * o_->out : o_->p;          \
        dk = dk < a ? a : dk > b ? b : dk;                                                  \
        if (a < b) {                                                                        \
            __VA_ARGS__                                                                     \
        }                                                                                   \
        j++;                                                                                \
    }

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

void optim_sumsq(const struct nn_net *net, size_t lo, size_t hi, double *sq)
{
    FOR_SEGMENTS(net, lo, hi, {
        sq[j] += sumsq(net->grad, a, b);
        (void)dk;
    })
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

/* A cache-sized chunk at a time: the norm pass brings the gradient into L1 for the update. */
void optim_apply(struct nn_net *net, const struct nn_optimizer *o, size_t lo, size_t hi,
                 float scale, uint64_t t, double *sq)
{
    for (size_t c0 = lo; c0 < hi; c0 += CHUNK) {
        size_t c1 = c0 + CHUNK < hi ? c0 + CHUNK : hi;
        FOR_SEGMENTS(net, c0, c1, {
            if (sq)
                sq[j] += sumsq(net->grad, a, b);
            if (o->type == NN_ADAM) {
                adam(net, o, a, dk, o->weight_decay, scale, t);
                adam(net, o, dk, b, 0, scale, t);
            } else {
                sgd(net, o, a, dk, o->weight_decay, scale);
                sgd(net, o, dk, b, 0, scale);
            }
        })
    }
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
