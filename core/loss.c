/* loss.c -- losses with their gradients, and metrics (which never affect training).
 * The loss of a row is the mean over its K outputs (mse, mae, binary_crossentropy) or the
 * sum over classes (categorical_crossentropy); a batch's loss is the mean over its rows.
 * Fused cases take the gradient at the logits z, before the output activation:
 * softmax + categorical_crossentropy: dz = p·Σt - t;  sigmoid + binary_crossentropy:
 * dz = (p - t)/K, with the loss computed from z so that it stays finite. */
#include "nn_internal.h"

#include <math.h>
#include <stdio.h>

#define PEPS 1e-7f                         /* probabilities are clipped to [PEPS, 1 - PEPS] */

/* Class index of a label row, for one-hot or index labels. */
static int label_class(const float *t, int ycols)
{
    if (ycols == 1)
        return (int)t[0];
    int c = 0;
    for (int j = 1; j < ycols; j++)
        c = t[j] > t[c] ? j : c;
    return c;
}

/* Target j of a row: one-hot expansion of an index label. */
static float target(const float *t, int ycols, int K, int j)
{
    if (ycols == 1 && K > 1)
        return (int)t[0] == j ? 1.0f : 0.0f;
    return t[j];
}

void metric_rows(const struct nn_net *net, const float *out, const float *y, int ycols, int n,
                 double *msum)
{
    const int K = nn_outputs(net);
    for (int i = 0; i < n; i++) {
        const float *p = out + (size_t)i * K, *t = y + (size_t)i * ycols;
        double ae = 0, se = 0, acc;
        for (int j = 0; j < K; j++) {
            double e = p[j] - target(t, ycols, K, j);
            ae += fabs(e);
            se += e * e;
        }
        if (K == 1) {
            acc = (p[0] > 0.5f) == (t[0] > 0.5f);
        } else if (net->spec.loss == NN_BCE) {
            int ok = 0;
            for (int j = 0; j < K; j++)
                ok += (p[j] > 0.5f) == (t[j] > 0.5f);
            acc = (double)ok / K;
        } else {
            int best = 0;
            for (int j = 1; j < K; j++)
                best = p[j] > p[best] ? j : best;
            acc = best == label_class(t, ycols);
        }
        msum[NN_METRIC_ACCURACY] += acc;
        msum[NN_METRIC_MAE] += ae / K;
        msum[NN_METRIC_MSE] += se / K;
    }
}

void metric_finish(const struct nn_net *net, int rows, const double *msum, double *metric)
{
    (void)net;
    for (int m = 0; m < NN_METRIC_COUNT; m++)
        metric[m] = rows > 0 ? msum[m] / rows : NAN;
}

double loss_rows(const struct nn_net *net, const float *z, const float *out, const float *y,
                 int ycols, int n, int B, float *dz, double *msum)
{
    const int K = nn_outputs(net), fused = net->fused;
    const enum nn_loss loss = net->spec.loss;
    const float inv = 1.0f / B, invk = 1.0f / ((float)B * K);
    double total = 0;
    for (int i = 0; i < n; i++) {
        const float *p = out + (size_t)i * K, *zi = z + (size_t)i * K, *t = y + (size_t)i * ycols;
        float *d = dz ? dz + (size_t)i * K : NULL;
        double l = 0;
        if (loss == NN_CCE && fused) {
            float mx = zi[0], st = 0;
            for (int j = 1; j < K; j++)
                mx = zi[j] > mx ? zi[j] : mx;
            double se = 0;
            for (int j = 0; j < K; j++)
                se += exp((double)zi[j] - mx);
            double lse = mx + log(se);
            for (int j = 0; j < K; j++) {
                float tj = target(t, ycols, K, j);
                st += tj;
                if (tj != 0)
                    l += tj * (lse - zi[j]);
            }
            if (d)
                for (int j = 0; j < K; j++)
                    d[j] = (p[j] * st - target(t, ycols, K, j)) * inv;
        } else if (loss == NN_CCE) {
            for (int j = 0; j < K; j++) {
                float tj = target(t, ycols, K, j), pj = p[j];
                int clipped = pj < PEPS || pj > 1;
                pj = pj < PEPS ? PEPS : pj > 1 ? 1 : pj;
                l -= tj * log(pj);
                if (d)
                    d[j] = clipped ? 0 : -tj / pj * inv;
            }
        } else if (loss == NN_BCE && fused) {
            for (int j = 0; j < K; j++) {
                float zj = zi[j], tj = t[j];
                l += (zj > 0 ? zj : 0) - zj * tj + log1p(exp(-fabs((double)zj)));
                if (d)
                    d[j] = (p[j] - tj) * invk;
            }
            l /= K;
        } else if (loss == NN_BCE) {
            for (int j = 0; j < K; j++) {
                float tj = t[j], pj = p[j];
                int clipped = pj < PEPS || pj > 1 - PEPS;
                pj = pj < PEPS ? PEPS : pj > 1 - PEPS ? 1 - PEPS : pj;
                l -= tj * log(pj) + (1 - tj) * log(1 - pj);
                if (d)
                    d[j] = clipped ? 0 : (pj - tj) / (pj * (1 - pj)) * invk;
            }
            l /= K;
        } else {
            for (int j = 0; j < K; j++) {
                float e = p[j] - t[j];
                l += loss == NN_MSE ? (double)e * e : fabs(e);
                if (d)
                    d[j] = loss == NN_MSE ? 2 * e * invk : (float)((e > 0) - (e < 0)) * invk;
            }
            l /= K;
        }
        total += l;
    }
    if (msum)
        metric_rows(net, out, y, ycols, n, msum);
    return total;
}

int loss_check_labels(const struct nn_net *net, const struct nn_data *d, struct nn_error *err)
{
    const int K = nn_outputs(net);
    const enum nn_loss loss = net->spec.loss;
    const char *name = nn_loss_name(loss);
    if (!d->y)
        return nn_fail(err, "labels", "no labels");
    if (loss == NN_CCE ? (d->ycols != 1 && d->ycols != K) : d->ycols != K) {
        if (loss == NN_CCE)
            return nn_fail(err, "labels",
                           "labels have %d columns; %s over %d outputs takes class indices "
                           "(1 column) or one-hot rows (%d columns)", d->ycols, name, K, K);
        return nn_fail(err, "labels", "labels have %d columns but the network has %d outputs",
                       d->ycols, K);
    }
    for (int i = 0; i < d->rows; i++)
        for (int j = 0; j < d->ycols; j++) {
            float v = d->y[(size_t)i * d->ycols + j];
            if (!isfinite(v))
                return nn_fail(err, "labels", "row %d, column %d: label is not a finite number",
                               i, j);
            if (loss == NN_CCE && d->ycols == 1 && (v < 0 || v >= K || v != floorf(v)))
                return nn_fail(err, "labels",
                               "row %d: class index %g is not a whole number from 0 to %d", i,
                               (double)v, K - 1);
            if ((loss == NN_BCE && (v < 0 || v > 1)) || (loss == NN_CCE && v < 0))
                return nn_fail(err, "labels", "row %d, column %d: %s takes labels from 0 to 1, "
                               "not %g", i, j, name, (double)v);
        }
    return 0;
}
