/* networks.c -- network definitions between JSON and the engine's spec, the summary and
 * warnings of a network as JSON, and how a stored network is shown (domain.h).
 *
 * DESIGN. spec_from_json walks a definition once and collects every fault it finds
 * rather than stopping at the first, so that a client fixing a definition sees all that
 * is wrong in one answer; the list is cut at SPEC_MAX_ERRORS. The walk follows residual
 * nesting only while the engine would accept it (NN_MAX_DEPTH), one C frame per level,
 * so a definition nested thousands of levels deep costs a few frames and one error; it
 * stops visiting layers once NN_MAX_LAYERS have been seen. All layers of the tree live in
 * one array, as in the engine: the layers of an array side by side, each residual's body
 * in a later run of the same array. A first pass counts them (with the same limits) so
 * the array is allocated once. What only the engine knows -- widths through residual
 * blocks, the parameter cap, the loss against the output width -- is asked of
 * nn_spec_check last, and its path is prefixed with the caller's base pointer.
 */
#include "domain.h"

#include <assert.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PTR_MAX 1024                 /* base (< 256) + the deepest structural path */
#define NAME_MAX_BYTES 200           /* a definition's "name" */

struct parse {
    json_t *errors;                  /* [{"pointer", "detail"}...] */
    int nerr;                        /* listed */
    int dropped;                     /* found past SPEC_MAX_ERRORS (or lost to memory) */
    struct nn_layer_spec *all;       /* the tree's layers; NULL: check only, store nothing */
    int cap, used;
    int seen;                        /* layers visited, in the engine's (pre-)order */
    int full;                        /* NN_MAX_LAYERS passed: visit no more layers */
};

/* A pointer from a format into out (PTR_MAX bytes). The pointers built here always fit:
 * base is under 256 bytes and a layer's path is at most NN_MAX_DEPTH levels of
 * "/layers/4095" (no more layers are visited), so a longer one is a bug. */
static void path(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void path(char *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, PTR_MAX, fmt, ap);
    va_end(ap);
    assert(n >= 0 && n < PTR_MAX);
    (void)n;
}

/* ---- faults ---- */

/* Records a fault at ptr, or at ptr + "/" + key[0..keylen) when key is not NULL, the
 * key escaped as RFC 6901 says ('~' as ~0, '/' as ~1). */
static void vfault(struct parse *p, const char *ptr, const char *key, size_t keylen,
                   const char *fmt, va_list ap)
{
    if (p->nerr >= SPEC_MAX_ERRORS) {
        p->dropped++;
        return;
    }
    char detail[1024];
    vsnprintf(detail, sizeof detail, fmt, ap);
    size_t plen = strlen(ptr), len = plen;
    char *pointer = malloc(plen + (key ? 1 + 2 * keylen : 0) + 1);
    if (!pointer) {
        p->dropped++;
        return;
    }
    memcpy(pointer, ptr, plen);
    if (key) {
        pointer[len++] = '/';
        for (size_t i = 0; i < keylen; i++) {
            if (key[i] == '~' || key[i] == '/') {
                pointer[len++] = '~';
                pointer[len++] = key[i] == '~' ? '0' : '1';
            } else {
                pointer[len++] = key[i];
            }
        }
    }
    json_t *e = json_object();
    if (e) {
        json_object_set_new(e, "pointer", json_stringn(pointer, len));
        json_object_set_new(e, "detail", json_string(detail));
    }
    free(pointer);
    if (e && json_object_size(e) != 2) {
        json_decref(e);
        e = NULL;
    }
    if (!e || json_array_append_new(p->errors, e) < 0) {   /* append_new frees e */
        p->dropped++;
        return;
    }
    p->nerr++;
}

/* A fault at ptr. */
static void fault(struct parse *p, const char *ptr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fault(struct parse *p, const char *ptr, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfault(p, ptr, NULL, 0, fmt, ap);
    va_end(ap);
}

/* A fault about the member key[0..keylen) of the object at ptr. */
static void key_fault(struct parse *p, const char *ptr, const char *key, size_t keylen,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void key_fault(struct parse *p, const char *ptr, const char *key, size_t keylen,
                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfault(p, ptr, key, keylen, fmt, ap);
    va_end(ap);
}

/* What a JSON value is, for "must be ..., not <this>". */
static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number with a fraction";
    case JSON_TRUE: return "true";
    case JSON_FALSE: return "false";
    case JSON_NULL: return "null";
    }
    return "something else";
}

/* How many bytes of the UTF-8 text s[0..len) a message quotes: all of it up to 64 bytes,
 * else at most 64, cut between two characters so that the detail stays valid UTF-8 (a
 * detail that is not would be lost). */
#define QUOTE_MAX 64
static int quoted_len(const char *s, size_t len) { return (int)utf8_cut(s, len, QUOTE_MAX); }

/* "a, b, c" from a name table into out. */
static void name_list(const char *(*name)(int), int n, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = 0;
    for (int i = 0; i < n && len < cap; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? ", " : "", name(i));
}

/* ---- fields ---- */

/* Reports every member of obj whose key is not in allowed (NULL-terminated); what names
 * the object ("a dense layer"). Keys are compared with their length, so a key with a
 * NUL inside ("units\u0000x") is not "units". */
static void unknown_fields(struct parse *p, const json_t *obj, const char *ptr,
                           const char *const *allowed, const char *what)
{
    const char *key;
    size_t keylen;
    json_t *v;
    json_object_keylen_foreach((json_t *)obj, key, keylen, v) {
        (void)v;
        int known = 0;
        for (int i = 0; allowed[i] && !known; i++)
            known = strlen(allowed[i]) == keylen && memcmp(allowed[i], key, keylen) == 0;
        if (known)
            continue;
        char list[256];
        size_t len = 0;
        for (int i = 0; allowed[i] && len < sizeof list; i++)
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "",
                                    allowed[i]);
        key_fault(p, ptr, key, keylen, "unknown field \"%.*s%s\" in %s; its fields are: %s",
                  quoted_len(key, keylen), key, keylen > QUOTE_MAX ? "..." : "", what, list);
    }
}

/* The member key of obj; NULL when absent or null (null means "not given"). */
static const json_t *member(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return v && !json_is_null(v) ? v : NULL;
}

/* An integer field from lo to hi. A number with a fraction is refused, a whole number
 * written as a real (16.0, 1e3) taken. Returns 1 with *out set, 0 when absent (a fault
 * when required), -1 after reporting a fault. */
static int get_int(struct parse *p, const json_t *obj, const char *ptr, const char *key,
                   int required, long long lo, long long hi, const char *what, long long *out)
{
    const json_t *v = member(obj, key);
    char at[PTR_MAX];
    path(at, "%s/%s", ptr, key);
    if (!v) {
        if (required)
            fault(p, at, "%s is required: %s, a whole number from %lld to %lld", key, what, lo,
                  hi);
        return required ? -1 : 0;
    }
    long long n;
    if (json_is_integer(v)) {
        n = json_integer_value(v);
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d != floor(d)) {
            fault(p, at, "%s must be a whole number, not %g", key, d);
            return -1;
        }
        if (!(d >= (double)lo && d <= (double)hi)) {
            fault(p, at, "%s must be from %lld to %lld, not %g", key, lo, hi, d);
            return -1;
        }
        n = (long long)d;
    } else {
        fault(p, at, "%s must be a whole number (%s), not %s", key, what, json_kind(v));
        return -1;
    }
    if (n < lo || n > hi) {
        fault(p, at, "%s must be from %lld to %lld, not %lld", key, lo, hi, n);
        return -1;
    }
    *out = n;
    return 1;
}

/* A number field (an integer or a real), converted to float: its range is checked by the
 * caller on the float, which is what the engine sees. Returns as get_int. */
static int get_float(struct parse *p, const json_t *obj, const char *ptr, const char *key,
                     int required, const char *what, float *out)
{
    const json_t *v = member(obj, key);
    if (!v) {
        if (required) {
            char at[PTR_MAX];
            path(at, "%s/%s", ptr, key);
            fault(p, at, "%s is required: %s", key, what);
        }
        return required ? -1 : 0;
    }
    if (!json_is_number(v)) {
        char at[PTR_MAX];
        path(at, "%s/%s", ptr, key);
        fault(p, at, "%s must be a number (%s), not %s", key, what, json_kind(v));
        return -1;
    }
    double d = json_number_value(v);
    if (fabs(d) > FLT_MAX) {
        char at[PTR_MAX];
        path(at, "%s/%s", ptr, key);
        fault(p, at, "%s must be a number a 32-bit float can hold (%s), not %g", key, what, d);
        return -1;
    }
    *out = (float)d;
    return 1;
}

/* A string that holds no NUL; NULL otherwise. */
static const char *plain_string(const json_t *v)
{
    if (!json_is_string(v))
        return NULL;
    const char *s = json_string_value(v);
    return strlen(s) == json_string_length(v) ? s : NULL;
}

/* One of the names of a table (parse/name functions of nn.h, n names), from the value v
 * at `at`. Returns the index, or -1 after reporting a fault; what: "activation". */
static int name_value(struct parse *p, const json_t *v, const char *at, const char *what,
                      int (*parse)(const char *), const char *(*name)(int), int n)
{
    char list[256];
    name_list(name, n, list, sizeof list);
    if (!json_is_string(v)) {
        fault(p, at, "%s must be a string, one of: %s; not %s", what, list, json_kind(v));
        return -1;
    }
    const char *s = plain_string(v);
    int i = s ? parse(s) : -1;
    if (i < 0) {
        size_t len = json_string_length(v);
        fault(p, at, "unknown %s \"%.*s%s\"; use one of: %s", what,
              quoted_len(json_string_value(v), len), json_string_value(v),
              len > QUOTE_MAX ? "..." : "", list);
    }
    return i;
}

/* A name field: returns 1 with *out set, 0 when absent (a fault when required), -1 after
 * reporting a fault. */
static int get_name(struct parse *p, const json_t *obj, const char *ptr, const char *key,
                    int required, const char *what, int (*parse)(const char *),
                    const char *(*name)(int), int n, int *out)
{
    const json_t *v = member(obj, key);
    char at[PTR_MAX];
    path(at, "%s/%s", ptr, key);
    if (!v) {
        if (required) {
            char list[256];
            name_list(name, n, list, sizeof list);
            fault(p, at, "%s is required: one of %s", key, list);
        }
        return required ? -1 : 0;
    }
    int i = name_value(p, v, at, what, parse, name, n);
    if (i < 0)
        return -1;
    *out = i;
    return 1;
}

/* ---- layers ---- */

static const char *const dense_fields[] = {"type", "units", "activation", "init", "alpha", NULL};
static const char *const activation_fields[] = {"type", "activation", "alpha", NULL};
static const char *const dropout_fields[] = {"type", "rate", NULL};
static const char *const batchnorm_fields[] = {"type", "momentum", "epsilon", NULL};
static const char *const residual_fields[] = {"type", "layers", NULL};
static const char *const *const kind_fields[NN_KIND_COUNT] = {
    [NN_DENSE] = dense_fields, [NN_ACTIVATION] = activation_fields,
    [NN_DROPOUT] = dropout_fields, [NN_BATCHNORM] = batchnorm_fields,
    [NN_RESIDUAL] = residual_fields};

/* Layers in the tree below obj's "layers", counting every object that has a "layers"
 * array (more than the residuals the parse follows: never fewer slots than it uses) to
 * the depth the parse follows; stops counting past NN_MAX_LAYERS. */
static int count_layers(const json_t *obj, int depth, int count)
{
    const json_t *arr = json_object_get(obj, "layers");
    if (!json_is_array(arr))
        return count;
    size_t n = json_array_size(arr);
    if (n > NN_MAX_LAYERS)
        return NN_MAX_LAYERS + 1;
    count += (int)n;
    for (size_t i = 0; i < n && count <= NN_MAX_LAYERS; i++) {
        const json_t *l = json_array_get(arr, i);
        if (json_is_object(l) && depth + 1 < NN_MAX_DEPTH)
            count = count_layers(l, depth + 1, count);
    }
    return count;
}

static void parse_layers(struct parse *p, const json_t *obj, const char *ptr, int depth,
                         const struct nn_layer_spec **out, int *nout);

/* The activation and alpha of a dense or activation layer. */
static void parse_act(struct parse *p, const json_t *v, const char *ptr, int required,
                      struct nn_layer_spec *l)
{
    int act;
    int got = get_name(p, v, ptr, "activation", required, "activation", nn_act_parse,
                       nn_act_name, NN_ACT_COUNT, &act);
    if (got == 1)
        l->act = (enum nn_act)act;
    float alpha;
    if (get_float(p, v, ptr, "alpha", 0, "the slope of leaky_relu below 0", &alpha) == 1) {
        char at[PTR_MAX];
        path(at, "%s/alpha", ptr);
        if (got >= 0 && l->act != NN_LEAKY_RELU)
            fault(p, at, "alpha applies only to the leaky_relu activation, not %s",
                  nn_act_name(l->act));
        else if (!isfinite(alpha))
            fault(p, at, "alpha must be a finite number");
        else
            l->alpha = alpha;
    }
}

/* One layer (the value v at ptr, depth 0 at the top) into *l. */
static void parse_layer(struct parse *p, const json_t *v, const char *ptr, int depth,
                        struct nn_layer_spec *l)
{
    char at[PTR_MAX];
    *l = nn_dense(0, NN_LINEAR);
    if (!json_is_object(v)) {
        fault(p, ptr, "a layer must be an object such as {\"type\": \"dense\", \"units\": 16},"
                      " not %s", json_kind(v));
        return;
    }
    int kind;
    if (get_name(p, v, ptr, "type", 1, "layer type", nn_kind_parse, nn_kind_name,
                 NN_KIND_COUNT, &kind) < 0)
        return;   /* the other fields depend on the type */
    char what[64];
    snprintf(what, sizeof what, "a %s layer", nn_kind_name(kind));
    unknown_fields(p, v, ptr, kind_fields[kind], what);
    long long units;
    float f;
    switch ((enum nn_kind)kind) {
    case NN_DENSE: {
        if (get_int(p, v, ptr, "units", 1, 1, NN_MAX_WIDTH, "the width of its output",
                    &units) == 1)
            l->units = (int)units;
        parse_act(p, v, ptr, 0, l);
        int init;
        if (get_name(p, v, ptr, "init", 0, "initialisation", nn_init_parse, nn_init_name,
                     NN_INIT_COUNT, &init) == 1)
            l->init = (enum nn_init)init;
        break;
    }
    case NN_ACTIVATION:
        *l = nn_activation(NN_LINEAR);
        parse_act(p, v, ptr, 1, l);
        break;
    case NN_DROPOUT:
        *l = nn_dropout(0);
        if (get_float(p, v, ptr, "rate", 1, "the fraction of inputs dropped, at least 0 and "
                      "below 1", &f) == 1) {
            path(at, "%s/rate", ptr);
            if (!(f >= 0 && f < 1))
                fault(p, at, "rate must be at least 0 and below 1, not %g", (double)f);
            l->rate = f;
        }
        break;
    case NN_BATCHNORM:
        *l = nn_batchnorm();
        if (get_float(p, v, ptr, "momentum", 0, "from 0 to 1", &f) == 1) {
            path(at, "%s/momentum", ptr);
            if (!(f >= 0 && f <= 1))
                fault(p, at, "momentum must be from 0 to 1, not %g", (double)f);
            l->momentum = f;
        }
        if (get_float(p, v, ptr, "epsilon", 0, "a small positive number", &f) == 1) {
            path(at, "%s/epsilon", ptr);
            double e = json_number_value(member(v, "epsilon"));
            if (!(f > 0))   /* also a tiny e that the float rounds to 0 */
                fault(p, at, "epsilon must be a positive number%s, not %g",
                      e > 0 ? " of at least 1e-45 (a 32-bit float)" : "", e);
            l->epsilon = f;
        }
        break;
    case NN_RESIDUAL:
        *l = nn_residual(NULL, 0);
        /* the engine's limit and message; the body is not followed any deeper */
        if (depth + 1 >= NN_MAX_DEPTH)
            fault(p, ptr, "residual blocks nested more than %d deep", NN_MAX_DEPTH - 1);
        else
            parse_layers(p, v, ptr, depth + 1, &l->layers, &l->nlayers);
        break;
    default:
        break;
    }
}

/* The "layers" array of obj (at ptr): its layers at depth, stored side by side in
 * p->all (when storing), *out pointing at them. */
static void parse_layers(struct parse *p, const json_t *obj, const char *ptr, int depth,
                         const struct nn_layer_spec **out, int *nout)
{
    char at[PTR_MAX];
    path(at, "%s/layers", ptr);
    *out = NULL;
    *nout = 0;
    const json_t *arr = member(obj, "layers");
    if (!arr) {
        fault(p, at, "layers is required: an array of layers such as "
                     "[{\"type\": \"dense\", \"units\": 16, \"activation\": \"relu\"}]");
        return;
    }
    if (!json_is_array(arr)) {
        fault(p, at, "layers must be an array of layers, not %s", json_kind(arr));
        return;
    }
    size_t n = json_array_size(arr);
    if (n == 0) {
        fault(p, at, "needs at least one layer");
        return;
    }
    struct nn_layer_spec *dst = NULL, scratch;
    if (p->all) {
        if ((size_t)(p->cap - p->used) < n) {   /* cannot happen: count_layers counts more */
            fault(p, at, "the layers could not be counted");
            return;
        }
        dst = p->all + p->used;
        p->used += (int)n;
        *out = dst;
        *nout = (int)n;
    }
    for (size_t i = 0; i < n && !p->full; i++) {
        char lp[PTR_MAX];
        path(lp, "%s/%zu", at, i);
        if (++p->seen > NN_MAX_LAYERS) {
            fault(p, lp, "more than %d layers in all", NN_MAX_LAYERS);   /* the engine's */
            p->full = 1;
            break;
        }
        parse_layer(p, json_array_get(arr, i), lp, depth, dst ? &dst[i] : &scratch);
    }
}

/* ---- the definition ---- */

static const char *const top_fields[] = {"name", "inputs", "layers", "loss", "metrics", NULL};

int spec_from_json(const json_t *def, const char *base, size_t max_params,
                   struct spec_json *out, json_t **errors)
{
    memset(out, 0, sizeof *out);
    *errors = NULL;
    assert(strlen(base) < 256);   /* the caller's constant; keeps every pointer in PTR_MAX */
    struct parse p = {.errors = json_array()};
    if (!p.errors)
        return -1;
    struct nn_spec spec = {.loss = NN_MSE};
    const char *name = NULL;
    char at[PTR_MAX];
    if (!json_is_object(def)) {
        fault(&p, base, "a network definition must be a JSON object such as {\"inputs\": 4, "
                        "\"layers\": [...], \"loss\": \"mse\"}, not %s",
              def ? json_kind(def) : "nothing");
        goto done;
    }
    unknown_fields(&p, def, base, top_fields, "a network definition");

    const json_t *v = member(def, "name");
    if (v) {
        path(at, "%s/name", base);
        const char *s = plain_string(v);
        if (!json_is_string(v))
            fault(&p, at, "name must be a string, not %s", json_kind(v));
        else if (!s)
            fault(&p, at, "name must not hold a NUL character");
        else if (!*s || strlen(s) > NAME_MAX_BYTES)
            fault(&p, at, "name must be from 1 to %d bytes long, not %zu", NAME_MAX_BYTES,
                  strlen(s));
        else
            name = s;
    }

    long long inputs;
    if (get_int(&p, def, base, "inputs", 1, 1, NN_MAX_WIDTH, "the number of input features",
                &inputs) == 1)
        spec.inputs = (int)inputs;

    int count = count_layers(def, 0, 0);
    if (count <= NN_MAX_LAYERS) {
        p.cap = count > 0 ? count : 1;
        p.all = calloc((size_t)p.cap, sizeof *p.all);
        if (!p.all) {
            fault(&p, base, "the service ran out of memory reading the definition");
            goto done;
        }
    }
    parse_layers(&p, def, base, 0, &spec.layers, &spec.nlayers);

    int loss;
    if (get_name(&p, def, base, "loss", 1, "loss", nn_loss_parse, nn_loss_name, NN_LOSS_COUNT,
                 &loss) == 1)
        spec.loss = (enum nn_loss)loss;

    v = member(def, "metrics");
    path(at, "%s/metrics", base);
    if (v && !json_is_array(v)) {
        fault(&p, at, "metrics must be an array of names such as [\"accuracy\"], not %s",
              json_kind(v));
    } else if (v) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            char mp[PTR_MAX];
            path(mp, "%s/%zu", at, i);
            int m = name_value(&p, json_array_get(v, i), mp, "metric", nn_metric_parse,
                               nn_metric_name, NN_METRIC_COUNT);
            if (m >= 0)
                spec.metrics |= 1u << m;
        }
    }

    if (p.nerr == 0 && p.dropped == 0) {
        struct nn_error err = {{0}, {0}};
        if (nn_spec_check(&spec, max_params, NULL, &err) < 0) {
            path(at, "%s%s", base, err.where);
            fault(&p, at, "%s", err.msg);
        }
    }
done:
    if (p.nerr == 0 && p.dropped == 0 && name && !(out->name = strdup(name)))
        fault(&p, base, "the service ran out of memory reading the definition");
    if (p.nerr > 0 || p.dropped > 0) {
        if (p.dropped > 0) {
            char d[128];
            snprintf(d, sizeof d, "and %d more fault%s not listed", p.dropped,
                     p.dropped == 1 ? "" : "s");
            json_array_append_new(p.errors,
                                  json_pack("{s:s, s:s}", "pointer", base, "detail", d));
        }
        free(p.all);
        free(out->name);
        memset(out, 0, sizeof *out);
        *errors = p.errors;
        return -1;
    }
    json_decref(p.errors);
    out->layers = p.all;
    out->spec = spec;
    return 0;
}

void spec_json_free(struct spec_json *s)
{
    if (!s)
        return;
    free(s->layers);
    free(s->name);
    memset(s, 0, sizeof *s);
}

/* ---- back to JSON ---- */

static json_t *layers_to_json(const struct nn_layer_spec *ls, int n)
{
    json_t *arr = json_array();
    for (int i = 0; arr && i < n; i++) {
        const struct nn_layer_spec *l = &ls[i];
        json_t *o = json_pack("{s:s}", "type", nn_kind_name(l->kind));
        if (!o || json_array_append_new(arr, o) < 0) {
            json_decref(arr);
            return NULL;
        }
        int ok = 0;
        switch (l->kind) {
        case NN_DENSE:
        case NN_ACTIVATION:
            ok = (l->kind != NN_DENSE ||
                  json_object_set_new(o, "units", json_integer(l->units)) == 0) &&
                 json_object_set_new(o, "activation", json_string(nn_act_name(l->act))) == 0 &&
                 (l->act != NN_LEAKY_RELU ||
                  json_object_set_new(o, "alpha", json_real(shortest_double(l->alpha))) == 0) &&
                 (l->kind != NN_DENSE ||
                  json_object_set_new(o, "init", json_string(nn_init_name(l->init))) == 0);
            break;
        case NN_DROPOUT:
            ok = json_object_set_new(o, "rate", json_real(shortest_double(l->rate))) == 0;
            break;
        case NN_BATCHNORM:
            ok = json_object_set_new(o, "momentum", json_real(shortest_double(l->momentum))) == 0 &&
                 json_object_set_new(o, "epsilon", json_real(shortest_double(l->epsilon))) == 0;
            break;
        case NN_RESIDUAL:
            ok = json_object_set_new(o, "layers", layers_to_json(l->layers, l->nlayers)) == 0;
            break;
        default:
            break;
        }
        if (!ok) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

json_t *spec_to_json(const struct nn_spec *spec, const char *name)
{
    json_t *metrics = json_array();
    for (int m = 0; metrics && m < NN_METRIC_COUNT; m++)
        if (spec->metrics & (1u << m) &&
            json_array_append_new(metrics, json_string(nn_metric_name(m))) < 0) {
            json_decref(metrics);
            metrics = NULL;
        }
    json_t *layers = layers_to_json(spec->layers, spec->nlayers);
    json_t *d = json_object();
    if (!d || !metrics || !layers || (name && json_object_set_new(d, "name",
                                                                  json_string(name)) < 0) ||
        json_object_set_new(d, "inputs", json_integer(spec->inputs)) < 0 ||
        json_object_set(d, "layers", layers) < 0 ||
        json_object_set_new(d, "loss", json_string(nn_loss_name(spec->loss))) < 0 ||
        json_object_set(d, "metrics", metrics) < 0) {
        json_decref(d);
        d = NULL;
    }
    json_decref(layers);
    json_decref(metrics);
    return d;
}

/* ---- summary and warnings ---- */

/* The layers of the tree in pre-order (nn_summary's order) into flat[*k...]. */
static void flatten(const struct nn_layer_spec *ls, int n, const struct nn_layer_spec **flat,
                    int max, int *k)
{
    for (int i = 0; i < n; i++) {
        if (*k < max)
            flat[*k] = &ls[i];
        (*k)++;
        if (ls[i].kind == NN_RESIDUAL)
            flatten(ls[i].layers, ls[i].nlayers, flat, max, k);
    }
}

json_t *spec_summary(const struct nn_net *net)
{
    int n = nn_summary(net, NULL, 0);
    struct nn_summary_row *rows = calloc((size_t)(n > 0 ? n : 1), sizeof *rows);
    const struct nn_layer_spec **flat = calloc((size_t)(n > 0 ? n : 1), sizeof *flat);
    json_t *layers = json_array();
    json_t *s = NULL;
    if (!rows || !flat || !layers)
        goto out;
    nn_summary(net, rows, n);
    const struct nn_spec *spec = nn_get_spec(net);
    int k = 0;
    flatten(spec->layers, spec->nlayers, flat, n, &k);
    for (int i = 0; i < n; i++) {
        const struct nn_summary_row *r = &rows[i];
        const char *act = k == n && (r->kind == NN_DENSE || r->kind == NN_ACTIVATION)
                              ? nn_act_name(flat[i]->act) : NULL;
        json_t *row = json_pack("{s:s, s:s, s:s*, s:i, s:i, s:I}", "path", r->where, "type",
                                nn_kind_name(r->kind), "activation", act, "depth", r->depth,
                                "outputs", r->outputs, "params", (json_int_t)r->params);
        if (!row || json_array_append_new(layers, row) < 0)
            goto out;
    }
    s = json_pack("{s:i, s:i, s:I, s:O}", "inputs", nn_inputs(net), "outputs",
                  nn_outputs(net), "params", (json_int_t)nn_param_count(net), "layers", layers);
out:
    json_decref(layers);
    free(rows);
    free(flat);
    return s;
}

json_t *spec_warnings(const struct nn_spec *spec, const char *base)
{
    int n = nn_spec_warnings(spec, NULL, 0);
    struct nn_warning *w = calloc((size_t)(n > 0 ? n : 1), sizeof *w);
    json_t *arr = w ? json_array() : NULL;
    if (arr)
        n = nn_spec_warnings(spec, w, n);
    for (int i = 0; arr && i < n; i++) {
        char at[PTR_MAX];
        path(at, "%s%s", base, w[i].where);
        json_t *e = json_pack("{s:s, s:s}", "pointer", at, "detail", w[i].msg);
        if (!e || json_array_append_new(arr, e) < 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    free(w);
    return arr;
}

/* ---- stored networks ---- */

json_t *network_json(const struct network *n)
{
    return json_pack("{s:s, s:s?, s:s, s:O, s:O, s:O}", "id", n->id, "name", n->name,
                     "created_at", n->created_at, "definition", n->definition, "summary",
                     n->summary, "warnings", n->warnings);
}

json_t *network_item_json(const struct network *n)
{
    return json_pack("{s:s, s:s?, s:s, s:i, s:i, s:I}", "id", n->id, "name", n->name,
                     "created_at", n->created_at, "inputs", n->inputs, "outputs", n->outputs,
                     "params", (json_int_t)n->params);
}
