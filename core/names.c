/* names.c -- the names users write for kinds, activations, losses, metrics, optimizers. */
#include "nn.h"

#include <string.h>

static const char *const kind_names[NN_KIND_COUNT] = {
    "dense", "activation", "dropout", "batchnorm", "residual"};
static const char *const act_names[NN_ACT_COUNT] = {
    "linear", "step", "sigmoid", "tanh", "relu", "leaky_relu", "softmax"};
static const char *const init_names[NN_INIT_COUNT] = {
    "auto", "he_normal", "he_uniform", "glorot_normal", "glorot_uniform", "zeros"};
static const char *const loss_names[NN_LOSS_COUNT] = {
    "mse", "mae", "binary_crossentropy", "categorical_crossentropy"};
static const char *const metric_names[NN_METRIC_COUNT] = {"accuracy", "mae", "mse"};
static const char *const opt_names[NN_OPT_COUNT] = {"sgd", "adam"};

static const char *name_of(const char *const *t, int n, int i)
{
    return i >= 0 && i < n ? t[i] : NULL;
}

static int parse(const char *const *t, int n, const char *s)
{
    for (int i = 0; s && i < n; i++)
        if (strcmp(t[i], s) == 0)
            return i;
    return -1;
}

#define NAMES(fn, table, count)                                                         \
    const char *nn_##fn##_name(int i) { return name_of(table, count, i); }             \
    int nn_##fn##_parse(const char *s) { return parse(table, count, s); }

NAMES(kind, kind_names, NN_KIND_COUNT)
NAMES(act, act_names, NN_ACT_COUNT)
NAMES(init, init_names, NN_INIT_COUNT)
NAMES(loss, loss_names, NN_LOSS_COUNT)
NAMES(metric, metric_names, NN_METRIC_COUNT)
NAMES(opt, opt_names, NN_OPT_COUNT)
