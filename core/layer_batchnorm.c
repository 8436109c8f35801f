/* layer_batchnorm.c -- batch normalisation: out = gamma * (inp - mean) / sqrt(var + eps) + beta
 * inp (B,W)  out (B,W)  gamma, beta (W) at params + o->p  running mean, var (W) at
 * stats + o->s  xhat (B,W) in the scratch rows  batch mean, 1/std (W) at red + o->red.
 * Training uses the statistics of the whole batch, so its tiles are columns over all
 * rows (each column is one unit's business); prediction uses the running statistics and
 * takes any tile. Also the layer kind "batchnorm", with its tensors "gamma", "beta",
 * "moving_mean" and "moving_variance". */
#include "nn_internal.h"

#include <assert.h>
#include <math.h>

static float *xhat_row(const struct op *o, struct run *r, int i)
{
    return r->scr + (size_t)i * r->net->scr_row + o->scr;
}

static void bn_forward(const struct op *o, struct run *r, struct tile t)
{
    const int W = o->out, B = r->B;
    const float *gamma = r->params + o->p, *beta = gamma + W, *inp = r->act[o->src];
    float *rmean = r->stats + o->s, *rvar = rmean + W, *out = r->act[o->idx];
    if (!r->training) {
        for (int j = t.c0; j < t.c1; j++) {
            float inv = 1.0f / sqrtf(rvar[j] + o->epsilon);
            for (int i = t.r0; i < t.r1; i++) {
                size_t k = (size_t)i * W + j;
                out[k] = gamma[j] * (inp[k] - rmean[j]) * inv + beta[j];
            }
        }
        return;
    }
    assert(t.r0 == 0 && t.r1 == B);
    double *mean = r->red + o->red, *invstd = mean + W;
    for (int j = t.c0; j < t.c1; j++) {
        double s = 0, ss = 0;
        for (int i = 0; i < B; i++) {
            double x = inp[(size_t)i * W + j];
            s += x;
            ss += x * x;
        }
        double mu = s / B, var = ss / B - mu * mu;
        var = var > 0 ? var : 0;
        mean[j] = mu;
        invstd[j] = 1.0 / sqrt(var + o->epsilon);
        double unbiased = B > 1 ? var * B / (B - 1) : var;
        rmean[j] = (float)(o->momentum * rmean[j] + (1 - o->momentum) * mu);
        rvar[j] = (float)(o->momentum * rvar[j] + (1 - o->momentum) * unbiased);
        for (int i = 0; i < B; i++) {
            size_t k = (size_t)i * W + j;
            float x = (float)((inp[k] - mu) * invstd[j]);
            xhat_row(o, r, i)[j] = x;
            out[k] = gamma[j] * x + beta[j];
        }
    }
}

/* Per column: dgamma = Σ dout·xhat, dbeta = Σ dout and
 * dinp = gamma·invstd/B · (B·dout - Σ dout - xhat·Σ dout·xhat). */
static void bn_backward(const struct op *o, struct run *r, struct tile t)
{
    const int W = o->out, B = r->B;
    const float *gamma = r->params + o->p, *dout = r->dact[o->idx];
    float *dgamma = r->grad + o->p, *dbeta = dgamma + W, *dinp = r->dact[o->src];
    const double *invstd = r->red + o->red + W;
    assert(t.r0 == 0 && t.r1 == B);
    for (int j = t.c0; j < t.c1; j++) {
        double s = 0, sx = 0;
        for (int i = 0; i < B; i++) {
            double d = dout[(size_t)i * W + j];
            s += d;
            sx += d * xhat_row(o, r, i)[j];
        }
        dgamma[j] = (float)sx;
        dbeta[j] = (float)s;
        if (!dinp)
            continue;
        double k = gamma[j] * invstd[j] / B;
        for (int i = 0; i < B; i++) {
            size_t q = (size_t)i * W + j;
            float v = (float)(k * (B * (double)dout[q] - s - xhat_row(o, r, i)[j] * sx));
            dinp[q] = o->src_add ? dinp[q] + v : v;
        }
    }
}

const struct op_kind op_batchnorm = {"batchnorm", bn_forward, bn_backward, NULL};

/* ---- the layer kind ---- */

static const struct nn_field batchnorm_fields[] = {
    {.name = "momentum", .type = NN_FT_FLOAT, .offset = offsetof(struct nn_layer_spec, momentum),
     .lo = 0, .hi = 1, .def = 0.99,
     .about = "how much of its running statistics each training batch keeps"},
    {.name = "epsilon", .type = NN_FT_FLOAT, .offset = offsetof(struct nn_layer_spec, epsilon),
     .lo = 0, .hi = INFINITY, .flags = NN_FIELD_LO_OPEN | NN_FIELD_HI_OPEN, .def = 1e-3,
     .about = "what is added to the variance before its square root"},
};

static int bn_outputs(const struct nn_layer_spec *l, int in)
{
    (void)l;
    return in;
}

static size_t bn_params(const struct nn_layer_spec *l, int in)
{
    (void)l;
    return 2 * (size_t)in;    /* gamma, beta */
}

static int bn_flatten(struct flat *f, const struct nn_layer_spec *l, int *cur, int *w)
{
    struct op o = flat_op(f, l, OP_BATCHNORM, *cur, *w);
    o.shape = SHAPE_COLUMNS;
    o.momentum = l->momentum;
    o.epsilon = l->epsilon;
    o.p = f->p;
    o.np = bn_params(l, o.out);
    f->p += o.np;
    o.s = f->s;               /* running mean, variance */
    f->s += 2 * (size_t)o.out;
    o.scr = f->scr;           /* xhat */
    f->scr += (size_t)o.out;
    o.red = f->red;           /* batch mean, 1/std */
    f->red += 2 * (size_t)o.out;
    return (*cur = flat_push(f, o)) < 0 ? -1 : 0;
}

/* gamma 1 and running variance 1 (beta and the running mean stay 0), with or without rng:
 * the identity until trained. */
static void bn_init(struct nn_net *net, const struct op *o, struct nn_rng *rng)
{
    (void)rng;
    for (int j = 0; j < o->out; j++) {
        net->params[o->p + j] = 1;
        net->stats[o->s + o->out + j] = 1;
    }
}

static int bn_tensors(struct nn_net *net, const struct op *o, struct nn_tensor *out, int max)
{
    float *p = net->params + o->p, *s = net->stats + o->s;
    const float *g = net->grad ? net->grad + o->p : NULL;
    net_tensor(out, max, 0, net, o, "gamma", 1, o->out, p, g);
    net_tensor(out, max, 1, net, o, "beta", 1, o->out, p + o->out, g ? g + o->out : NULL);
    net_tensor(out, max, 2, net, o, "moving_mean", 1, o->out, s, NULL);
    net_tensor(out, max, 3, net, o, "moving_variance", 1, o->out, s + o->out, NULL);
    return 4;
}

struct nn_layer_spec nn_batchnorm(void)
{
    return layer_default(NN_BATCHNORM);
}

const struct layer_kind layer_batchnorm = {
    .desc = {"batchnorm", batchnorm_fields,
             (int)(sizeof batchnorm_fields / sizeof *batchnorm_fields)},
    .outputs = bn_outputs,
    .params = bn_params,
    .flatten = bn_flatten,
    .init = bn_init,
    .tensors = bn_tensors,
};
