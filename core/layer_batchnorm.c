/* layer_batchnorm.c -- batch normalisation: out = gamma * (inp - mean) / sqrt(var + eps) + beta
 * inp (n,W)  out (n,W)  gamma, beta (W) at params + o->p  running mean, var (W) at
 * stats + o->s  xhat (n,W) in the scratch rows.
 * Training uses the statistics of the whole batch B, which the threads' rows share:
 * each thread sums its rows, and after a barrier every thread adds the sums up in the
 * same order. Prediction uses the running statistics. */
#include "nn_internal.h"

#include <math.h>

static float *xhat_row(const struct op *o, struct run *r, int i)
{
    return r->scr + (size_t)(r->r0 + i) * r->net->scr_row + o->scr;
}

/* This thread's reductions: [sum x | sum x² | sum dy | sum dy·xhat | mean | invstd]. */
static double *red_of(const struct op *o, struct run *r, int tid)
{
    return r->red + (size_t)tid * r->net->nred + o->red;
}

static void bn_forward(const struct op *o, struct run *r, const float *inp, float *out)
{
    const int W = o->out;
    const float *gamma = r->params + o->p, *beta = gamma + W;
    float *rmean = r->stats + o->s, *rvar = rmean + W;
    if (!r->training) {
        for (int j = 0; j < W; j++) {
            float inv = 1.0f / sqrtf(rvar[j] + o->epsilon);
            for (int i = 0; i < r->n; i++) {
                size_t k = (size_t)i * W + j;
                out[k] = gamma[j] * (inp[k] - rmean[j]) * inv + beta[j];
            }
        }
        return;
    }
    double *mine = red_of(o, r, r->tid);
    for (int j = 0; j < 2 * W; j++)
        mine[j] = 0;
    for (int i = 0; i < r->n; i++)
        for (int j = 0; j < W; j++) {
            double x = inp[(size_t)i * W + j];
            mine[j] += x;
            mine[W + j] += x * x;
        }
    pool_barrier(r->pool, r->tid);
    double *mean = mine + 4 * W, *invstd = mine + 5 * W;
    for (int j = 0; j < W; j++) {
        double s = 0, ss = 0;
        for (int t = 0; t < r->nt; t++) {
            s += red_of(o, r, t)[j];
            ss += red_of(o, r, t)[W + j];
        }
        mean[j] = s / r->B;
        double var = ss / r->B - mean[j] * mean[j];
        var = var > 0 ? var : 0;
        invstd[j] = 1.0 / sqrt(var + o->epsilon);
        if (r->tid == 0) {
            double unbiased = r->B > 1 ? var * r->B / (r->B - 1) : var;
            rmean[j] = (float)(o->momentum * rmean[j] + (1 - o->momentum) * mean[j]);
            rvar[j] = (float)(o->momentum * rvar[j] + (1 - o->momentum) * unbiased);
        }
    }
    for (int i = 0; i < r->n; i++) {
        float *xh = xhat_row(o, r, i);
        for (int j = 0; j < W; j++) {
            size_t k = (size_t)i * W + j;
            float x = (float)((inp[k] - mean[j]) * invstd[j]);
            xh[j] = x;
            out[k] = gamma[j] * x + beta[j];
        }
    }
}

/* dgamma = Σ dout·xhat, dbeta = Σ dout and
 * dinp = gamma·invstd/B · (B·dout - Σ dout - xhat·Σ dout·xhat), sums over the whole batch:
 * each thread sums its rows, and after a barrier writes dgamma, dbeta for its share of
 * the units and dinp for its rows. */
static void bn_backward(const struct op *o, struct run *r, const float *inp, const float *out,
                        const float *dout, float *dinp)
{
    (void)inp;
    (void)out;
    const int W = o->out;
    const float *gamma = r->params + o->p;
    float *dgamma = r->grad + o->p, *dbeta = dgamma + W;
    double *mine = red_of(o, r, r->tid), *sdy = mine + 2 * W, *sdyx = mine + 3 * W;
    for (int j = 0; j < W; j++)
        sdy[j] = sdyx[j] = 0;
    for (int i = 0; i < r->n; i++) {
        const float *xh = xhat_row(o, r, i);
        for (int j = 0; j < W; j++) {
            double d = dout[(size_t)i * W + j];
            sdy[j] += d;
            sdyx[j] += d * xh[j];
        }
    }
    pool_barrier(r->pool, r->tid);
    const double *invstd = mine + 5 * W;
    const int u0 = (int)((long)W * r->tid / r->nt), u1 = (int)((long)W * (r->tid + 1) / r->nt);
    for (int j = 0; j < W; j++) {
        double s = 0, sx = 0;
        for (int t = 0; t < r->nt; t++) {
            s += red_of(o, r, t)[2 * W + j];
            sx += red_of(o, r, t)[3 * W + j];
        }
        if (j >= u0 && j < u1) {
            dgamma[j] = (float)sx;
            dbeta[j] = (float)s;
        }
        if (!dinp)
            continue;
        double k = gamma[j] * invstd[j] / r->B;
        for (int i = 0; i < r->n; i++) {
            size_t q = (size_t)i * W + j;
            float v = (float)(k * (r->B * (double)dout[q] - s - xhat_row(o, r, i)[j] * sx));
            dinp[q] = o->src_add ? dinp[q] + v : v;
        }
    }
}

const struct op_kind op_batchnorm = {"batchnorm", bn_forward, bn_backward};
