/* testutil.c -- shared helpers of the check suites (see testutil.h). */
#include "testutil.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double loss_at(struct nn_net *net, const float *x, const float *y, int ycols, int rows,
                      uint64_t key)
{
    return net_loss_grad(net, x, y, ycols, rows, key, NULL);
}

static void compare(struct gradcheck *g, double a, double n)
{
    double rel = fabs(a - n) / fmax(fabs(a) + fabs(n), 1e-2);
    g->max_rel = fmax(g->max_rel, rel);
    g->max_abs_grad = fmax(g->max_abs_grad, fabs(a));
    g->checked++;
}

struct gradcheck gradcheck(struct nn_net *net, const float *x, const float *y, int ycols,
                           int rows, uint64_t key, int check_dx)
{
    struct gradcheck g = {0};
    const int in = nn_inputs(net);
    const size_t np = nn_param_count(net);
    float *dx = calloc((size_t)rows * in + 1, sizeof *dx);
    float *xc = malloc(((size_t)rows * in + 1) * sizeof *xc);
    float *ga = malloc((np + 1) * sizeof *ga);
    ck_assert(dx && xc && ga);
    net_loss_grad(net, x, y, ycols, rows, key, dx);
    for (size_t k = 0; k < np; k++)
        ga[k] = net->grad[k];
    const float h = 1e-3f;
    for (size_t k = 0; k < np; k++) {
        float keep = net->params[k];
        net->params[k] = keep + h;
        double lp = loss_at(net, x, y, ycols, rows, key);
        net->params[k] = keep - h;
        double lm = loss_at(net, x, y, ycols, rows, key);
        net->params[k] = keep;
        compare(&g, ga[k], (lp - lm) / (2.0 * h));
    }
    if (check_dx) {
        for (size_t k = 0; k < (size_t)rows * in; k++)
            xc[k] = x[k];
        for (size_t k = 0; k < (size_t)rows * in; k++) {
            xc[k] = x[k] + h;
            double lp = loss_at(net, xc, y, ycols, rows, key);
            xc[k] = x[k] - h;
            double lm = loss_at(net, xc, y, ycols, rows, key);
            xc[k] = x[k];
            compare(&g, dx[k], (lp - lm) / (2.0 * h));
        }
    }
    free(dx);
    free(xc);
    free(ga);
    return g;
}

struct nn_net *tu_spec_net(const struct nn_spec *s, uint64_t seed)
{
    struct nn_rng rng;
    nn_rng_seed(&rng, seed);
    struct nn_error e;
    struct nn_net *net = nn_new(s, 0, &rng, &e);
    ck_assert_msg(net != NULL, "nn_new: %s: %s", e.where, e.msg);
    return net;
}

struct nn_net *tu_net(const struct nn_layer_spec *layers, int n, int inputs, enum nn_loss loss,
                      uint64_t seed)
{
    struct nn_spec s = {.inputs = inputs, .layers = layers, .nlayers = n, .loss = loss,
                        .metrics = 1u << NN_METRIC_ACCURACY};
    return tu_spec_net(&s, seed);
}

void tu_fill(float *a, size_t n, float lo, float hi, uint64_t seed)
{
    struct nn_rng r;
    nn_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++)
        a[i] = lo + (hi - lo) * (float)nn_rng_uniform(&r);
}

char *tu_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot read %s: %s (the suites run from the top of the "
                  "repository)", path, strerror(errno));
    char *buf = NULL;
    size_t n = 0, cap = 0, got;
    do {
        if (cap - n < 4096) {
            cap = cap ? 2 * cap : 65536;
            buf = realloc(buf, cap + 1);
            ck_assert_ptr_nonnull(buf);
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    ck_assert_msg(!ferror(f), "cannot read %s", path);
    fclose(f);
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

int tu_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed;
}
