/* names.c -- the names users write for kinds, activations, initialisations, losses,
 * metrics and optimizers. A layer kind's and an optimizer's name is its descriptor's. */
#include "nn_internal.h"

#include <string.h>

const char *const names_act[NN_ACT_COUNT] = {
    "linear", "step", "sigmoid", "tanh", "relu", "leaky_relu", "softmax"};
const char *const names_init[NN_INIT_COUNT] = {
    "auto", "he_normal", "he_uniform", "glorot_normal", "glorot_uniform", "zeros"};
const char *const names_loss[NN_LOSS_COUNT] = {
    "mse", "mae", "binary_crossentropy", "categorical_crossentropy"};
static const char *const names_metric[NN_METRIC_COUNT] = {"accuracy", "mae", "mse"};

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

NAMES(act, names_act, NN_ACT_COUNT)
NAMES(init, names_init, NN_INIT_COUNT)
NAMES(loss, names_loss, NN_LOSS_COUNT)
NAMES(metric, names_metric, NN_METRIC_COUNT)

/* Names that live in a descriptor, reached through desc(i) for i in [0, n). */
#define DESC_NAMES(fn, desc, count)                                                      \
    const char *nn_##fn##_name(int i)                                                    \
    {                                                                                    \
        const struct nn_kind_desc *d = desc(i);                                          \
        return d ? d->name : NULL;                                                       \
    }                                                                                    \
    int nn_##fn##_parse(const char *s)                                                   \
    {                                                                                    \
        for (int i = 0; s && i < count; i++)                                             \
            if (strcmp(desc(i)->name, s) == 0)                                           \
                return i;                                                                \
        return -1;                                                                       \
    }

DESC_NAMES(kind, nn_kind_desc, NN_KIND_COUNT)
DESC_NAMES(opt, nn_opt_desc, NN_OPT_COUNT)
