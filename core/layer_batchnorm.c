/* layer_batchnorm.c -- batch normalisation: out = gamma * (inp - mean) / sqrt(var + eps) + beta
 * inp (B,W)  out (B,W)  gamma, beta (W) at params + o->p  running mean, var (W) at
 * stats + o->s  xhat (B,W) in the scratch rows  batch mean, 1/std (W) at red + o->red.
 * Training uses the statistics of the whole batch, so its tiles are columns over all
 * rows (each column is one unit's business); prediction uses the running statistics and
 * takes any tile. */
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
