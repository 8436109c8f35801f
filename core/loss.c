/* loss.c -- losses with their gradients, and metrics (which never affect training).
 * The loss of a row is the mean over its K outputs (mse, mae, binary_crossentropy) or the
 * sum over classes (categorical_crossentropy); a batch's loss is the mean over its rows.
 * An output that is a sequence of S steps (K/S outputs each) is S rows of a step for
 * categorical_crossentropy and accuracy: the row's loss is the mean over its steps of each
 * step's sum over classes, its accuracy the fraction of its steps right, and its labels
 * are one-hot per step (K columns) or a class index per step (S columns).
 * Fused cases take the gradient at the logits z, before the output activation:
 * softmax + categorical_crossentropy: dz = p·Σt - t;  sigmoid + binary_crossentropy:
 * dz = (p - t)/K, with the loss computed from z so that it stays finite. */
#include "nn_internal.h"

#include <math.h>
#include <stdio.h>

#define PEPS 1e-7f                         /* probabilities are clipped to [PEPS, 1 - PEPS] */

/* Steps of the network's output: 1 unless its last op outputs a sequence. */
static int out_steps(const struct nn_net *net)
{
    return net->nops > 0 && net->ops[net->nops - 1].steps > 1 ? net->ops[net->nops - 1].steps
                                                              : 1;
}

/* Whether a row's labels are class indices, one per step: S columns for S steps of k > 1
 * outputs each. */
static int index_labels(int ycols, int S, int k) { return ycols == S && k > 1; }

/* Class of step s of a label row (k classes a step), for one-hot or index labels. */
static int label_class(const float *t, int ycols, int S, int k, int s)
{
    if (index_labels(ycols, S, k))
        return (int)t[s];
    const float *ts = t + (size_t)s * k;
    int c = 0;
    for (int j = 1; j < k; j++)
        c = ts[j] > ts[c] ? j : c;
    return c;
}

/* Target j of step s of a row (k outputs a step): one-hot expansion of an index label. */
static float target(const float *t, int ycols, int S, int k, int s, int j)
{
    if (index_labels(ycols, S, k))
        return (int)t[s] == j ? 1.0f : 0.0f;
    return t[(size_t)s * k + j];
}

void metric_rows(const struct nn_net *net, const float *out, const float *y, int ycols, int n,
                 double *msum)
{
    const int K = nn_outputs(net), S = out_steps(net), k = K / S;
    for (int i = 0; i < n; i++) {
        const float *p = out + (size_t)i * K, *t = y + (size_t)i * ycols;
        double ae = 0, se = 0, acc;
        for (int s = 0; s < S; s++)
            for (int j = 0; j < k; j++) {
                double e = p[s * k + j] - target(t, ycols, S, k, s, j);
                ae += fabs(e);
                se += e * e;
            }
        if (K == 1) {
            acc = (p[0] > 0.5f) == (t[0] > 0.5f);
        } else if (net->spec.loss == NN_BCE || k == 1) {
            int ok = 0;
            for (int j = 0; j < K; j++)
                ok += (p[j] > 0.5f) == (t[j] > 0.5f);
            acc = (double)ok / K;
        } else {   /* the most likely class of each step */
            int ok = 0;
            for (int s = 0; s < S; s++) {
                const float *ps = p + (size_t)s * k;
                int best = 0;
                for (int j = 1; j < k; j++)
                    best = ps[j] > ps[best] ? j : best;
                ok += best == label_class(t, ycols, S, k, s);
            }
            acc = (double)ok / S;
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
    const int K = nn_outputs(net), fused = net->fused, S = out_steps(net), k = K / S;
    const enum nn_loss loss = net->spec.loss;
    const float invk = 1.0f / ((float)B * K), invs = 1.0f / ((float)B * S);
    double total = 0;
    for (int i = 0; i < n; i++) {
        const float *p = out + (size_t)i * K, *zi = z + (size_t)i * K, *t = y + (size_t)i * ycols;
        float *d = dz ? dz + (size_t)i * K : NULL;
        double l = 0;
        if (loss == NN_CCE && fused) {   /* softmax over each step's k outputs */
            for (int s = 0; s < S; s++) {
                const float *zs = zi + (size_t)s * k, *ps = p + (size_t)s * k;
                float mx = zs[0], st = 0;
                for (int j = 1; j < k; j++)
                    mx = zs[j] > mx ? zs[j] : mx;
                double se = 0;
                for (int j = 0; j < k; j++)
                    se += exp((double)zs[j] - mx);
                double lse = mx + log(se);
                for (int j = 0; j < k; j++) {
                    float tj = target(t, ycols, S, k, s, j);
                    st += tj;
                    if (tj != 0)
                        l += tj * (lse - zs[j]);
                }
                if (d)
                    for (int j = 0; j < k; j++)
                        d[s * k + j] = (ps[j] * st - target(t, ycols, S, k, s, j)) * invs;
            }
            l /= S;
        } else if (loss == NN_CCE) {
            for (int s = 0; s < S; s++)
                for (int j = 0; j < k; j++) {
                    float tj = target(t, ycols, S, k, s, j), pj = p[s * k + j];
                    int clipped = pj < PEPS || pj > 1;
                    pj = pj < PEPS ? PEPS : pj > 1 ? 1 : pj;
                    l -= tj * log(pj);
                    if (d)
                        d[s * k + j] = clipped ? 0 : -tj / pj * invs;
                }
            l /= S;
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
    const int K = nn_outputs(net), S = out_steps(net), k = K / S;
    const enum nn_loss loss = net->spec.loss;
    const char *name = nn_loss_name(loss);
    if (!d->y)
        return nn_fail(err, "labels", "no labels");
    const int indices = loss == NN_CCE && index_labels(d->ycols, S, k);
    if (loss == NN_CCE ? !indices && d->ycols != K : d->ycols != K) {
        if (loss == NN_CCE && S > 1)
            return nn_fail(err, "labels",
                           "labels have %d columns; %s over %d steps of %d outputs takes a "
                           "class index per step (%d columns) or one-hot steps (%d columns)",
                           d->ycols, name, S, k, S, K);
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
            if (indices && (v < 0 || v >= k || v != floorf(v)))
                return nn_fail(err, "labels",
                               "row %d: class index %g is not a whole number from 0 to %d", i,
                               (double)v, k - 1);
            if ((loss == NN_BCE && (v < 0 || v > 1)) || (loss == NN_CCE && v < 0))
                return nn_fail(err, "labels", "row %d, column %d: %s takes labels from 0 to 1, "
                               "not %g", i, j, name, (double)v);
        }
    if (loss == NN_CCE && S > 1 && !indices)   /* a class per step: one-hot steps */
        for (int i = 0; i < d->rows; i++)
            for (int s = 0; s < S; s++) {
                const float *t = d->y + (size_t)i * K + (size_t)s * k;
                int ones = 0, other = 0;
                for (int j = 0; j < k; j++) {
                    ones += t[j] == 1;
                    other += t[j] != 0 && t[j] != 1;
                }
                if (ones != 1 || other)
                    return nn_fail(err, "labels", "row %d, step %d: %s over steps takes one-hot "
                                   "labels per step (one 1, the rest 0)", i, s, name);
            }
    return 0;
}
