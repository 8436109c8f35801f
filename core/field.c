/* field.c -- values described by a table of fields (struct nn_field): reading and writing
 * them in their struct, their defaults, checking one against its range with the one
 * message for it, and reporting faults to a sink (struct nn_faults).
 *
 * The layer kinds, the optimizers and the training options each describe their fields
 * with such a table, so the range of a field and the words that refuse a value outside
 * it are written once, here and in the row, whoever does the checking.
 */
#include "nn_internal.h"

#include <assert.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A LAYERS field is the pair (layers, nlayers), the count right after the pointer, in
 * both structs that have one. */
_Static_assert(offsetof(struct nn_layer_spec, nlayers) ==
                   offsetof(struct nn_layer_spec, layers) + sizeof(const struct nn_layer_spec *),
               "the body's count follows its pointer");
_Static_assert(offsetof(struct nn_spec, nlayers) ==
                   offsetof(struct nn_spec, layers) + sizeof(const struct nn_layer_spec *),
               "the layers' count follows their pointer");
/* NAME fields are enums read as int */
_Static_assert(sizeof(enum nn_act) == sizeof(int) && sizeof(enum nn_init) == sizeof(int) &&
                   sizeof(enum nn_loss) == sizeof(int) && sizeof(enum nn_kind) == sizeof(int),
               "enums are int-sized");

static const char *at(const void *base, size_t off) { return (const char *)base + off; }

int field_layers(const struct nn_field *f, const void *base, const struct nn_layer_spec **layers)
{
    assert(f->type == NN_FT_LAYERS);
    memcpy(layers, at(base, f->offset), sizeof *layers);
    int n;
    memcpy(&n, at(base, f->offset + sizeof *layers), sizeof n);
    return n;
}

void field_set_layers(const struct nn_field *f, void *base, const struct nn_layer_spec *layers,
                      int n)
{
    assert(f->type == NN_FT_LAYERS);
    char *p = (char *)base + f->offset;
    memcpy(p, &layers, sizeof layers);
    memcpy(p + sizeof layers, &n, sizeof n);
}

double nn_field_get(const struct nn_field *f, const void *base)
{
    const char *p = at(base, f->offset);
    switch (f->type) {
    case NN_FT_INT:
    case NN_FT_BOOL:
    case NN_FT_NAME: {
        int v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    case NN_FT_FLOAT: {
        float v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    case NN_FT_U64: {
        uint64_t v;
        memcpy(&v, p, sizeof v);
        return (double)v;
    }
    case NN_FT_DOUBLE: {
        double v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    case NN_FT_LAYERS: {
        const struct nn_layer_spec *l;
        return field_layers(f, base, &l);
    }
    }
    assert(!"a field type");
    return NAN;
}

/* v as the float the engine would hold: rounded to nearest, ±inf beyond the largest
 * float (a conversion C leaves undefined). */
static float to_float(double v)
{
    if (isnan(v) || fabs(v) < 0x1.ffffffp+127)
        return (float)v;
    return v > 0 ? INFINITY : -INFINITY;
}

void nn_field_set(const struct nn_field *f, void *base, double v)
{
    char *p = (char *)base + f->offset;
    switch (f->type) {
    case NN_FT_INT:
    case NN_FT_BOOL:
    case NN_FT_NAME: {
        int i = isnan(v) ? 0 : v <= INT_MIN ? INT_MIN : v >= INT_MAX ? INT_MAX : (int)v;
        memcpy(p, &i, sizeof i);
        return;
    }
    case NN_FT_FLOAT: {
        float x = to_float(v);
        memcpy(p, &x, sizeof x);
        return;
    }
    case NN_FT_U64: {
        uint64_t u = !(v > 0) ? 0 : v >= 0x1p64 ? UINT64_MAX : (uint64_t)v;
        memcpy(p, &u, sizeof u);
        return;
    }
    case NN_FT_DOUBLE:
        memcpy(p, &v, sizeof v);
        return;
    case NN_FT_LAYERS:
        break;
    }
    assert(!"a LAYERS field is set through its struct, not from a number");
}

void nn_fields_default(const struct nn_field *t, int n, void *base)
{
    for (int i = 0; i < n; i++) {
        if (t[i].type == NN_FT_LAYERS)
            field_set_layers(&t[i], base, NULL, 0);
        else
            nn_field_set(&t[i], base, t[i].def);
    }
}

const struct nn_field *nn_field_find(const struct nn_field *t, int n, const char *name)
{
    for (int i = 0; name && i < n; i++)
        if (strcmp(t[i].name, name) == 0)
            return &t[i];
    return NULL;
}

/* ---- messages ---- */

/* v as a user would write it: a whole number as an integer, anything else with the
 * shortest %g that reads back as v (as the same float when fl). */
static void num_text(char *out, size_t cap, double v, int fl)
{
    if (isnan(v)) {
        snprintf(out, cap, "nan");
    } else if (isinf(v)) {
        snprintf(out, cap, "%s", v < 0 ? "-inf" : "inf");
    } else if (v == floor(v) && fabs(v) < 0x1p53) {
        snprintf(out, cap, "%.0f", v);
    } else {
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(out, cap, "%.*g", prec, v);
            if (fl ? strtof(out, NULL) == (float)v : strtod(out, NULL) == v)
                break;
        }
    }
}

/* The range of f in words: "from 1 to 16777216", "at least 0 and below 1", "above 0". */
void nn_field_range(const struct nn_field *f, char *out, size_t cap)
{
    char lo[40], hi[40];
    int has_lo = !isinf(f->lo), has_hi = !isinf(f->hi);
    int lo_open = (f->flags & NN_FIELD_LO_OPEN) != 0, hi_open = (f->flags & NN_FIELD_HI_OPEN) != 0;
    num_text(lo, sizeof lo, f->lo, 0);
    num_text(hi, sizeof hi, f->hi, 0);
    if (has_lo && has_hi && !lo_open && !hi_open)
        snprintf(out, cap, "from %s to %s", lo, hi);
    else if (has_lo && has_hi)
        snprintf(out, cap, "%s %s and %s %s", lo_open ? "above" : "at least", lo,
                 hi_open ? "below" : "at most", hi);
    else if (has_lo)
        snprintf(out, cap, "%s %s", lo_open ? "above" : "at least", lo);
    else if (has_hi)
        snprintf(out, cap, "%s %s", hi_open ? "below" : "at most", hi);
    else
        snprintf(out, cap, "a %snumber", lo_open || hi_open ? "finite " : "");
}

/* Whether x is inside [lo, hi] of f, its open ends excluded. */
static int in_range(const struct nn_field *f, double x, double lo, double hi)
{
    return ((f->flags & NN_FIELD_LO_OPEN) ? x > lo : x >= lo) &&
           ((f->flags & NN_FIELD_HI_OPEN) ? x < hi : x <= hi);
}

int nn_field_check(const struct nn_field *f, double v, char *msg, size_t cap)
{
    char val[40], range[128];
    switch (f->type) {
    case NN_FT_BOOL:
        if (v == 0 || v == 1)
            return 0;
        num_text(val, sizeof val, v, 0);
        snprintf(msg, cap, "%s must be true or false (1 or 0), not %s", f->name, val);
        return -1;
    case NN_FT_NAME:
        if (v >= 0 && v < f->nnames && v == floor(v))
            return 0;
        num_text(val, sizeof val, v, 0);
        snprintf(msg, cap, "unknown %s %s", f->name, val);
        return -1;
    case NN_FT_LAYERS:
        if (v >= 1)
            return 0;
        snprintf(msg, cap, "needs at least one layer");
        return -1;
    case NN_FT_INT:
    case NN_FT_U64: {
        int whole = isfinite(v) && v == floor(v);
        if (whole && in_range(f, v, f->lo, f->hi))
            return 0;
        num_text(val, sizeof val, v, 0);
        nn_field_range(f, range, sizeof range);
        snprintf(msg, cap, "%s must be %s%s, not %s", f->name, whole ? "" : "a whole number ",
                 range, val);
        return -1;
    }
    case NN_FT_DOUBLE:
        if (isfinite(v) && in_range(f, v, f->lo, f->hi))
            return 0;
        num_text(val, sizeof val, v, 0);
        nn_field_range(f, range, sizeof range);
        snprintf(msg, cap, "%s must be %s, not %s", f->name, range, val);
        return -1;
    case NN_FT_FLOAT: {
        /* judged as the float the engine holds, against bounds rounded the same way: a
         * bound written in the table (0.999999, 1e-12) is itself always in range */
        double x = to_float(v);
        if (in_range(f, x, to_float(f->lo), to_float(f->hi)))
            return 0;
        num_text(val, sizeof val, x, 1);
        nn_field_range(f, range, sizeof range);
        /* "above 0" says nothing against inf: name finiteness when an open end at
         * infinity is what refuses x */
        int finite_only = !isfinite(x) && strncmp(range, "a ", 2) != 0 &&
                          ((isinf(f->lo) && (f->flags & NN_FIELD_LO_OPEN)) ||
                           (isinf(f->hi) && (f->flags & NN_FIELD_HI_OPEN)));
        snprintf(msg, cap, "%s must be %s%s, not %s", f->name,
                 finite_only ? "a finite number " : "", range, val);
        return -1;
    }
    }
    assert(!"a field type");
    return -1;
}

int nn_field_applies(const struct nn_field *t, int n, const struct nn_field *f,
                     const void *base, char *msg, size_t cap)
{
    if (!f->when)
        return 1;
    const struct nn_field *w = nn_field_find(t, n, f->when);
    assert(w && w->type == NN_FT_NAME && f->when_value >= 0 && f->when_value < w->nnames);
    double v = nn_field_get(w, base);
    if (v == f->when_value)
        return 1;
    char val[40];
    if (v >= 0 && v < w->nnames)
        snprintf(val, sizeof val, "%s", w->names[(int)v]);
    else
        num_text(val, sizeof val, v, 0);
    snprintf(msg, cap, "%s applies only to the %s %s, not %s", f->name, w->names[f->when_value],
             w->name, val);
    return 0;
}

/* ---- faults ---- */

void nn_fault(struct nn_faults *f, const char *where, const char *fmt, ...)
{
    char msg[NN_MSG];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (f->add)
        f->add(f->ctx, where ? where : "", msg);
    f->n++;
}

static void keep_first(void *ctx, const char *where, const char *msg)
{
    struct first_fault *ff = ctx;
    if (ff->f.n == 0 && ff->err) {
        snprintf(ff->err->where, sizeof ff->err->where, "%s", where);
        snprintf(ff->err->msg, sizeof ff->err->msg, "%s", msg);
    }
}

struct nn_faults *first_fault(struct first_fault *ff, struct nn_error *err)
{
    *ff = (struct first_fault){.f = {.add = keep_first, .ctx = ff}, .err = err};
    return &ff->f;
}

int fields_check(const struct nn_field *t, int n, const void *base, const char *prefix,
                 struct nn_faults *f)
{
    int bad = 0;
    for (int i = 0; i < n; i++) {
        const struct nn_field *fl = &t[i];
        char msg[NN_MSG], where[NN_WHERE];
        if (fl->type == NN_FT_LAYERS || !nn_field_applies(t, n, fl, base, NULL, 0))
            continue;
        if (nn_field_check(fl, nn_field_get(fl, base), msg, sizeof msg) < 0) {
            int len = snprintf(where, sizeof where, "%s/%s", prefix, fl->name);
            assert(len < NN_WHERE);
            (void)len;
            nn_fault(f, where, "%s", msg);
            bad++;
        }
    }
    return bad;
}
