/* spec.c -- a layer at its defaults, checking a spec, warning about specs that would train
 * badly, copying one. Checking walks the layer kinds' descriptors: each field against its
 * row, then the kind's own rules, a body as a nested list of layers; it reports every
 * fault, each naming the field at fault as a path: "/layers/2/units". */
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

/* ---- a layer at its defaults (the layer_*.c constructors) ---- */

struct nn_layer_spec layer_default(enum nn_kind k)
{
    struct nn_layer_spec l = {.kind = k};
    const struct nn_kind_desc *d = &layer_kinds[k]->desc;
    nn_fields_default(d->fields, d->nfields, &l);
    return l;
}

/* ---- bodies ---- */

const struct nn_field *kind_body(const struct layer_kind *k)
{
    for (int i = 0; i < k->desc.nfields; i++)
        if (k->desc.fields[i].type == NN_FT_LAYERS)
            return &k->desc.fields[i];
    return NULL;
}

int layer_body(const struct nn_layer_spec *l, const struct nn_layer_spec **body)
{
    const struct nn_field *f = kind_body(layer_kinds[l->kind]);
    *body = NULL;
    return f ? field_layers(f, l, body) : 0;
}

/* ---- checking ---- */

/* The fields of struct nn_spec, in the order a definition is written out. */
enum { SPEC_INPUTS, SPEC_LAYERS, SPEC_LOSS };
/* timesteps is checked as a field but kept out of nn_spec_desc: the service does not read
 * sequence networks yet, so its definitions have no such member. */
static const struct nn_field timesteps_field = {
    .name = "timesteps", .type = NN_FT_INT, .offset = offsetof(struct nn_spec, timesteps),
    .lo = 0, .hi = 65536, .def = 0,
    .about = "the steps of a row's sequence (0: a row is not a sequence)"};
static const struct nn_field spec_fields[] = {
    [SPEC_INPUTS] = {.name = "inputs", .type = NN_FT_INT,
                     .offset = offsetof(struct nn_spec, inputs), .lo = 1, .hi = NN_MAX_WIDTH,
                     .flags = NN_FIELD_REQUIRED, .about = "the number of input features"},
    [SPEC_LAYERS] = {.name = "layers", .type = NN_FT_LAYERS,
                     .offset = offsetof(struct nn_spec, layers), .lo = 1, .hi = INFINITY,
                     .flags = NN_FIELD_REQUIRED, .about = "the layers, input to output"},
    [SPEC_LOSS] = {.name = "loss", .type = NN_FT_NAME, .offset = offsetof(struct nn_spec, loss),
                   .flags = NN_FIELD_REQUIRED, .def = NN_MSE, .names = names_loss,
                   .nnames = NN_LOSS_COUNT, .about = "what training minimises"},
};
const struct nn_kind_desc nn_spec_desc = {"network", spec_fields,
                                          (int)(sizeof spec_fields / sizeof *spec_fields)};

struct check {
    struct nn_faults *f;
    size_t params;
    int params_known;         /* every width the count depends on was known */
    int layers;               /* layers visited */
    int full;                 /* more than NN_MAX_LAYERS: visit no more */
    int steps;                /* steps of the width being passed on (0: not a sequence) */
};

static int is_recurrent(int kind) { return kind == NN_RNN || kind == NN_LSTM || kind == NN_GRU; }

/* The rules of sequences, for layer l at depth `depth` reading c->steps steps. */
static int check_steps(const struct nn_layer_spec *l, const char *where, int depth,
                       struct check *c)
{
    const char *name = nn_kind_name(l->kind);
    if (is_recurrent(l->kind) && depth > 0) {
        nn_fault(c->f, where, "a %s layer cannot be inside a residual block", name);
        return -1;
    }
    if (is_recurrent(l->kind) && c->steps == 0) {
        nn_fault(c->f, where, "a %s layer reads a sequence: give the network timesteps (and "
                 "return_sequences true to a recurrent layer before it)", name);
        return -1;
    }
    if (l->kind == NN_BATCHNORM && c->steps > 0) {
        nn_fault(c->f, where, "batchnorm does not take a sequence (%d steps): put it after a "
                 "recurrent layer with return_sequences false", c->steps);
        return -1;
    }
    return 0;
}

/* parent + "/layers/i[/field]"; NN_WHERE holds the deepest nesting allowed. */
static void path(char *out, const char *parent, int i, const char *field)
{
    int n = snprintf(out, NN_WHERE, "%s/layers/%d%s%s", parent, i, field ? "/" : "",
                     field ? field : "");
    assert(n < NN_WHERE);
    (void)n;
}

static int check_layers(const struct nn_layer_spec *ls, int n, int width, const char *parent,
                        int depth, const struct nn_field *lf, struct check *c);

/* Checks layer l (its path `where`) that takes `width` inputs (-1: unknown); returns its
 * output width, or -1 when unknown: a layer with a fault has no width that later checks
 * could trust. */
static int check_layer(const struct nn_layer_spec *l, int width, const char *where, int depth,
                       struct check *c)
{
    char w[NN_WHERE];
    if ((unsigned)l->kind >= NN_KIND_COUNT) {
        int len = snprintf(w, sizeof w, "%s/type", where);
        assert(len < NN_WHERE);
        (void)len;
        nn_fault(c->f, w, "unknown layer type %d", (int)l->kind);
        c->params_known = 0;
        return -1;
    }
    const struct layer_kind *k = layer_kinds[l->kind];
    int bad = fields_check(k->desc.fields, k->desc.nfields, l, where, c->f) > 0;
    bad |= !bad && check_steps(l, where, depth, c) < 0;
    int body = -1;
    const struct nn_field *bf = kind_body(k);
    if (bf && depth + 1 >= NN_MAX_DEPTH) {
        nn_fault(c->f, where, "%s blocks nested more than %d deep", k->desc.name,
                 NN_MAX_DEPTH - 1);
        bad = 1;
    } else if (bf) {
        const struct nn_layer_spec *ls;
        int n = field_layers(bf, l, &ls);
        body = check_layers(ls, n, width, where, depth + 1, bf, c);
    }
    if (k->steps)   /* known even when a field is at fault, so later rules do not misfire */
        c->steps = k->steps(l, c->steps);
    if (bad || (k->check && k->check(l, width, body, where, c->f) < 0)) {
        c->params_known = 0;
        return -1;
    }
    if (k->params && width < 0)
        c->params_known = 0;
    else if (k->params)
        c->params += k->params(l, width);
    int out = k->outputs(l, width);
    if (out > 0 && c->steps > 1 && out > NN_MAX_WIDTH / c->steps) {
        nn_fault(c->f, where, "its output of %d steps of %d values is over %d values a row",
                 c->steps, out, NN_MAX_WIDTH);
        c->params_known = 0;
        return -1;
    }
    return out;
}

/* Checks the n layers at ls, field lf of the struct at parent, that take `width` inputs;
 * returns their output width or -1 when unknown. */
static int check_layers(const struct nn_layer_spec *ls, int n, int width, const char *parent,
                        int depth, const struct nn_field *lf, struct check *c)
{
    char w[NN_WHERE], msg[NN_MSG];
    if (nn_field_check(lf, ls ? n : 0, msg, sizeof msg) < 0) {
        int len = snprintf(w, sizeof w, "%s/%s", parent, lf->name);
        assert(len < NN_WHERE);
        (void)len;
        nn_fault(c->f, w, "%s", msg);
        c->params_known = 0;
        return -1;
    }
    for (int i = 0; i < n && !c->full; i++) {
        path(w, parent, i, NULL);
        if (++c->layers > NN_MAX_LAYERS) {
            nn_fault(c->f, w, "more than %d layers in all", NN_MAX_LAYERS);
            c->full = 1;
        } else {
            width = check_layer(&ls[i], width, w, depth, c);
        }
    }
    return c->full ? -1 : width;
}

int nn_spec_check_all(const struct nn_spec *spec, size_t max_params, size_t *nparams,
                      struct nn_faults *f)
{
    const int before = f->n;
    if (!spec) {
        nn_fault(f, "", "no network definition");
        return -1;
    }
    struct check c = {.f = f, .params_known = 1};
    const struct nn_field *t = spec_fields;
    int width = fields_check(&t[SPEC_INPUTS], 1, spec, "", f) ? -1 : spec->inputs;
    c.steps = spec->timesteps;
    if (fields_check(&timesteps_field, 1, spec, "", f)) {
        width = -1;
        c.steps = 1;      /* a sequence of a length unknown */
    } else if (width > 0 && c.steps > 1 && width > NN_MAX_WIDTH / c.steps) {
        nn_fault(f, "/timesteps", "a row of %d steps of %d inputs is over %d values",
                 c.steps, width, NN_MAX_WIDTH);
        width = -1;
    }
    int out = check_layers(spec->layers, spec->nlayers, width, "", 0, &t[SPEC_LAYERS], &c);
    int loss_ok = fields_check(&t[SPEC_LOSS], 1, spec, "", f) == 0;
    if (spec->metrics >> NN_METRIC_COUNT)
        nn_fault(f, "/metrics", "unknown metric in set %#x", spec->metrics);
    if (loss_ok && out >= 0 && spec->loss == NN_CCE && out < 2)
        nn_fault(f, "/loss", "categorical_crossentropy needs at least 2 outputs, the network has "
                             "%d (use binary_crossentropy with one sigmoid output)", out);
    if (max_params && c.params_known && c.params > max_params)
        nn_fault(f, "", "the network has %zu parameters, over the limit of %zu", c.params,
                 max_params);
    if (f->n > before)
        return -1;
    if (nparams)
        *nparams = c.params;
    return 0;
}

int nn_spec_check(const struct nn_spec *spec, size_t max_params, size_t *nparams,
                  struct nn_error *err)
{
    struct first_fault ff;
    return nn_spec_check_all(spec, max_params, nparams, first_fault(&ff, err));
}

/* ---- what cannot learn ---- */

int nn_spec_check_training(const struct nn_spec *spec, struct nn_faults *f)
{
    const int before = f->n;
    if (spec->loss != NN_CCE)
        return 0;
    /* the output layer: the last at the top level that is not a dropout */
    int i = spec->nlayers - 1;
    while (i > 0 && spec->layers[i].kind == NN_DROPOUT)
        i--;
    const struct nn_layer_spec *l = &spec->layers[i];
    int has_act = l->kind == NN_DENSE || l->kind == NN_ACTIVATION;
    int act = has_act ? (int)l->act : NN_LINEAR;
    if (act == NN_SOFTMAX || act == NN_SIGMOID)
        return 0;
    char w[NN_WHERE];
    path(w, "", i, has_act ? "activation" : NULL);
    if (has_act)
        nn_fault(f, w, "categorical_crossentropy takes a probability per class, which a %s "
                 "output is not: the loss's gradient is 0 wherever an output is not between "
                 "0 and 1, so the network would learn nothing; use softmax", nn_act_name(act));
    else
        nn_fault(f, w, "categorical_crossentropy takes a probability per class, which the "
                 "output of a %s layer is not: end with a layer whose activation is softmax",
                 nn_kind_name(l->kind));
    return f->n > before ? -1 : 0;
}

/* ---- warnings ---- */

struct warn {
    struct nn_warning *out;
    int max, n;
    int trainable_before;     /* a trainable layer was seen */
    int run;                  /* consecutive sigmoid/tanh activations */
    int last_act;             /* activation of the last layer seen at the top level */
    int steps;                /* steps of the sequence reaching the layer (0: none) */
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
        case NN_RNN:
            if (w->steps > 30)
                warn(w, where, "a plain rnn over %d steps hardly learns from steps far back "
                     "(its gradient through time vanishes or explodes): use lstm or gru",
                     w->steps);
            /* fall through */
        case NN_LSTM:
        case NN_GRU:
            w->trainable_before = 1;
            w->run = 0;
            act = l->kind == NN_RNN ? (int)l->act : NN_TANH;
            w->steps = l->return_sequences ? w->steps : 0;
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
    struct warn w = {.out = out, .max = max, .last_act = NN_LINEAR, .steps = spec->timesteps};
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
    if ((spec->loss == NN_MSE || spec->loss == NN_MAE) &&
        (spec->metrics & (1u << NN_METRIC_ACCURACY)) && w.last_act != NN_SOFTMAX &&
        w.last_act != NN_SIGMOID)
        warn(&w, "/metrics", "accuracy means nothing for a regression (%s over a %s output): "
             "it only counts outputs on the same side of 0.5 as their labels, or the largest "
             "output at the largest label; watch mae or mse", nn_loss_name(spec->loss),
             nn_act_name(w.last_act));
    return w.n;
}

/* ---- copying ---- */

int spec_count_layers(const struct nn_layer_spec *l, int n)
{
    int c = n;
    for (int i = 0; i < n; i++) {
        const struct nn_layer_spec *body;
        int nb = layer_body(&l[i], &body);
        c += spec_count_layers(body, nb);
    }
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
        /* a body pointer or count left in a kind without one is dropped */
        dst[i].layers = NULL;
        dst[i].nlayers = 0;
        const struct nn_field *bf = kind_body(layer_kinds[src[i].kind]);
        if (bf) {
            const struct nn_layer_spec *from;
            int nb = field_layers(bf, &src[i], &from);
            struct nn_layer_spec *body = net->lspec + *next;
            *next += nb;
            field_set_layers(bf, &dst[i], body, nb);
            copy_layers(net, body, from, nb, next, net->where[idx]);
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
