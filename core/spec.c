/* spec.c -- checking a spec, warning about specs that would train badly, copying one.
 * Every error names the field at fault as a path: "/layers/2/units". */
#include "nn_internal.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int nn_fail(struct nn_error *err, const char *where, const char *fmt, ...)
{
    if (!err)
        return -1;
    snprintf(err->where, sizeof err->where, "%s", where ? where : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return -1;
}

struct nn_layer_spec nn_dense(int units, enum nn_act act)
{
    return (struct nn_layer_spec){.kind = NN_DENSE, .units = units, .act = act, .alpha = 0.01f};
}

struct nn_layer_spec nn_activation(enum nn_act act)
{
    return (struct nn_layer_spec){.kind = NN_ACTIVATION, .act = act, .alpha = 0.01f};
}

struct nn_layer_spec nn_dropout(float rate)
{
    return (struct nn_layer_spec){.kind = NN_DROPOUT, .rate = rate};
}

struct nn_layer_spec nn_batchnorm(void)
{
    return (struct nn_layer_spec){.kind = NN_BATCHNORM, .momentum = 0.99f, .epsilon = 1e-3f};
}

struct nn_layer_spec nn_residual(const struct nn_layer_spec *layers, int nlayers)
{
    return (struct nn_layer_spec){.kind = NN_RESIDUAL, .layers = layers, .nlayers = nlayers};
}

struct check {
    size_t params;
    int layers;
    struct nn_error *err;
};

/* parent + "/layers/i[/field]"; NN_WHERE holds the deepest nesting allowed. */
static void path(char *out, const char *parent, int i, const char *field)
{
    int n = snprintf(out, NN_WHERE, "%s/layers/%d%s%s", parent, i, field ? "/" : "",
                     field ? field : "");
    assert(n < NN_WHERE);
}

/* Checks n layers that take `width` inputs; returns their output width or -1. */
static int check_layers(const struct nn_layer_spec *ls, int n, int width, const char *parent,
                        int depth, struct check *c)
{
    char w[NN_WHERE];
    if (n < 1 || !ls) {
        int len = snprintf(w, sizeof w, "%s/layers", parent);
        assert(len < NN_WHERE);
        return nn_fail(c->err, w, "needs at least one layer");
    }
    for (int i = 0; i < n; i++) {
        const struct nn_layer_spec *l = &ls[i];
        if (++c->layers > NN_MAX_LAYERS) {
            path(w, parent, i, NULL);
            return nn_fail(c->err, w, "more than %d layers in all", NN_MAX_LAYERS);
        }
        if ((unsigned)l->kind >= NN_KIND_COUNT) {
            path(w, parent, i, "type");
            return nn_fail(c->err, w, "unknown layer type %d", (int)l->kind);
        }
        if (l->kind == NN_DENSE || l->kind == NN_ACTIVATION) {
            if ((unsigned)l->act >= NN_ACT_COUNT) {
                path(w, parent, i, "activation");
                return nn_fail(c->err, w, "unknown activation %d", (int)l->act);
            }
            if (l->act == NN_LEAKY_RELU && !isfinite(l->alpha)) {
                path(w, parent, i, "alpha");
                return nn_fail(c->err, w, "alpha must be a finite number");
            }
        }
        switch (l->kind) {
        case NN_DENSE:
            if (l->units < 1 || l->units > NN_MAX_WIDTH) {
                path(w, parent, i, "units");
                return nn_fail(c->err, w, "units must be between 1 and %d, not %d", NN_MAX_WIDTH,
                               l->units);
            }
            if ((unsigned)l->init >= NN_INIT_COUNT) {
                path(w, parent, i, "init");
                return nn_fail(c->err, w, "unknown initialisation %d", (int)l->init);
            }
            c->params += (size_t)l->units * (size_t)width + (size_t)l->units;
            width = l->units;
            break;
        case NN_ACTIVATION:
            break;
        case NN_DROPOUT:
            if (!(l->rate >= 0 && l->rate < 1)) {
                path(w, parent, i, "rate");
                return nn_fail(c->err, w, "rate must be at least 0 and below 1, not %g",
                               (double)l->rate);
            }
            break;
        case NN_BATCHNORM:
            if (!(l->momentum >= 0 && l->momentum <= 1)) {
                path(w, parent, i, "momentum");
                return nn_fail(c->err, w, "momentum must be between 0 and 1, not %g",
                               (double)l->momentum);
            }
            if (!(l->epsilon > 0 && isfinite(l->epsilon))) {
                path(w, parent, i, "epsilon");
                return nn_fail(c->err, w, "epsilon must be a positive number, not %g",
                               (double)l->epsilon);
            }
            c->params += 2 * (size_t)width;
            break;
        case NN_RESIDUAL: {
            char sub[NN_WHERE];
            path(sub, parent, i, NULL);
            if (depth + 1 >= NN_MAX_DEPTH)
                return nn_fail(c->err, sub, "residual blocks nested more than %d deep",
                               NN_MAX_DEPTH - 1);
            int out = check_layers(l->layers, l->nlayers, width, sub, depth + 1, c);
            if (out < 0)
                return -1;
            if (out != width)
                return nn_fail(c->err, sub,
                               "a residual block must keep its width: its input is %d wide "
                               "but its layers output %d", width, out);
            break;
        }
        default:
            break;
        }
    }
    return width;
}

int nn_spec_check(const struct nn_spec *spec, size_t max_params, size_t *nparams,
                  struct nn_error *err)
{
    if (!spec)
        return nn_fail(err, "", "no network definition");
    if (spec->inputs < 1 || spec->inputs > NN_MAX_WIDTH)
        return nn_fail(err, "/inputs", "inputs must be between 1 and %d, not %d", NN_MAX_WIDTH,
                       spec->inputs);
    if ((unsigned)spec->loss >= NN_LOSS_COUNT)
        return nn_fail(err, "/loss", "unknown loss %d", (int)spec->loss);
    if (spec->metrics >> NN_METRIC_COUNT)
        return nn_fail(err, "/metrics", "unknown metric in set %#x", spec->metrics);
    struct check c = {.err = err};
    int out = check_layers(spec->layers, spec->nlayers, spec->inputs, "", 0, &c);
    if (out < 0)
        return -1;
    if (spec->loss == NN_CCE && out < 2)
        return nn_fail(err, "/loss",
                       "categorical_crossentropy needs at least 2 outputs, the network has %d "
                       "(use binary_crossentropy with one sigmoid output)", out);
    if (max_params && c.params > max_params)
        return nn_fail(err, "", "the network has %zu parameters, over the limit of %zu",
                       c.params, max_params);
    if (nparams)
        *nparams = c.params;
    return 0;
}

/* ---- warnings ---- */

struct warn {
    struct nn_warning *out;
    int max, n;
    int trainable_before;     /* a trainable layer was seen */
    int run;                  /* consecutive sigmoid/tanh activations */
    int last_act;             /* activation of the last layer seen at the top level */
    char last_where[NN_WHERE];
};

static void warn(struct warn *w, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void warn(struct warn *w, const char *where, const char *fmt, ...)
{
    if (w->n < w->max) {
        struct nn_warning *o = &w->out[w->n];
        snprintf(o->where, sizeof o->where, "%s", where);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(o->msg, sizeof o->msg, fmt, ap);
        va_end(ap);
    }
    w->n++;
}

static void seen_act(struct warn *w, int act, const char *where)
{
    if (act == NN_STEP && w->trainable_before)
        warn(w, where, "step has a zero derivative: the layers before it (and this one) learn "
                       "nothing through it; use sigmoid or relu to train");
    if (act == NN_SIGMOID || act == NN_TANH) {
        if (++w->run == 4)
            warn(w, where, "four or more sigmoid/tanh layers in a row risk vanishing "
                           "gradients; consider relu, batchnorm or residual blocks");
    } else if (act != NN_LINEAR) {
        w->run = 0;
    }
}

static void warn_layers(struct warn *w, const struct nn_layer_spec *ls, int n, const char *parent,
                        int top)
{
    char where[NN_WHERE];
    for (int i = 0; i < n; i++) {
        const struct nn_layer_spec *l = &ls[i];
        path(where, parent, i, NULL);
        int act = NN_LINEAR;
        switch (l->kind) {
        case NN_DENSE:
            w->trainable_before = 1;
            act = l->act;
            if (l->act == NN_SOFTMAX && l->units == 1)
                warn(w, where, "softmax over a single unit always outputs 1");
            seen_act(w, l->act, where);
            break;
        case NN_ACTIVATION:
            act = l->act;
            seen_act(w, l->act, where);
            break;
        case NN_BATCHNORM:
            w->trainable_before = 1;
            w->run = 0;
            break;
        case NN_RESIDUAL:
            w->run = 0;
            warn_layers(w, l->layers, l->nlayers, where, 0);
            break;
        default:
            break;
        }
        if (top && l->kind != NN_DROPOUT) {
            w->last_act = act;
            snprintf(w->last_where, sizeof w->last_where, "%s", where);
        }
    }
}

int nn_spec_warnings(const struct nn_spec *spec, struct nn_warning *out, int max)
{
    struct warn w = {.out = out, .max = max, .last_act = NN_LINEAR};
    if (nn_spec_check(spec, 0, NULL, NULL) < 0)
        return 0;
    warn_layers(&w, spec->layers, spec->nlayers, "", 1);
    const char *lw = w.last_where;
    if (spec->loss == NN_CCE && w.last_act == NN_SIGMOID)
        warn(&w, lw, "sigmoid output with categorical_crossentropy: use softmax (or "
                     "binary_crossentropy for independent labels)");
    else if (spec->loss == NN_CCE && w.last_act != NN_SOFTMAX)
        warn(&w, lw, "no softmax before categorical_crossentropy: outputs are taken as "
                     "probabilities as they are; end with a softmax layer");
    else if (spec->loss == NN_BCE && w.last_act == NN_SOFTMAX)
        warn(&w, lw, "softmax output with binary_crossentropy: use sigmoid (or "
                     "categorical_crossentropy for one class per row)");
    else if (spec->loss == NN_BCE && w.last_act != NN_SIGMOID)
        warn(&w, lw, "binary_crossentropy expects probabilities: end with a sigmoid layer");
    else if ((spec->loss == NN_MSE || spec->loss == NN_MAE) && w.last_act == NN_STEP)
        warn(&w, lw, "a step output gives %s no gradient to learn from",
             nn_loss_name(spec->loss));
    return w.n;
}

/* ---- copying ---- */

int spec_count_layers(const struct nn_layer_spec *l, int n)
{
    int c = n;
    for (int i = 0; i < n; i++)
        if (l[i].kind == NN_RESIDUAL)
            c += spec_count_layers(l[i].layers, l[i].nlayers);
    return c;
}

/* Copies n layers into dst[0..n), their residual bodies after *next. */
static void copy_layers(struct nn_net *net, struct nn_layer_spec *dst,
                        const struct nn_layer_spec *src, int n, int *next, const char *parent)
{
    for (int i = 0; i < n; i++) {
        dst[i] = src[i];
        int idx = (int)(&dst[i] - net->lspec);
        path(net->where[idx], parent, i, NULL);
        if (src[i].kind == NN_RESIDUAL) {
            struct nn_layer_spec *body = net->lspec + *next;
            *next += src[i].nlayers;
            dst[i].layers = body;
            copy_layers(net, body, src[i].layers, src[i].nlayers, next, net->where[idx]);
        } else {
            dst[i].layers = NULL;
            dst[i].nlayers = 0;
        }
    }
}

int spec_copy(struct nn_net *net, const struct nn_spec *spec)
{
    int n = spec_count_layers(spec->layers, spec->nlayers);
    net->lspec = calloc(n, sizeof *net->lspec);
    net->where = calloc(n, sizeof *net->where);
    if (!net->lspec || !net->where)
        return -1;
    net->nlspec = n;
    net->spec = *spec;
    net->spec.layers = net->lspec;
    int next = spec->nlayers;
    copy_layers(net, net->lspec, spec->layers, spec->nlayers, &next, "");
    return 0;
}
