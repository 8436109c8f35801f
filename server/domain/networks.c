/* networks.c -- network definitions between JSON and the engine's spec, the summary and
 * warnings of a network as JSON, and how a stored network is shown (domain.h).
 *
 * DESIGN. A definition is read through the engine's own descriptors: the top level is
 * nn_spec_desc, a layer is its kind's nn_kind_desc, and fields.c reads every field of
 * them the same way (types, defaults, ranges and their messages are the engine's). What
 * is left here is what the descriptors do not say: the "type" that picks a layer's kind,
 * a definition's "name" and "metrics", and the walk through nested layers. The walk
 * collects every fault rather than stopping at the first, so that a client fixing a
 * definition sees all that is wrong in one answer. It follows residual nesting only while
 * the engine would accept it (NN_MAX_DEPTH), one C frame per level, so a definition nested
 * thousands of levels deep costs a few frames and one fault; it stops visiting layers once
 * NN_MAX_LAYERS have been seen. All layers of the tree live in one array, as in the
 * engine: the layers of an array side by side, each residual's body in a later run of the
 * same array; a first pass counts them (with the same limits) so the array is allocated
 * once. What only the engine knows -- widths through residual blocks, the parameter cap,
 * the loss against the output width -- is asked of nn_spec_check_all last, with the
 * caller's base pointer before its paths; then nn_spec_check_training, so that a
 * definition that could learn nothing (a relu output under categorical_crossentropy) is
 * refused, though the engine would build it.
 */
#include "domain.h"

#include <assert.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_BYTES 200           /* a definition's "name" */

struct walk {
    struct faults faults;
    struct nn_layer_spec *all;       /* the tree's layers; NULL: check only, store nothing */
    int cap, used;
    int seen;                        /* layers visited, in the engine's (pre-)order */
    int full;                        /* NN_MAX_LAYERS passed: visit no more layers */
    int depth;                       /* of the layers being read */
    const char *kinds[NN_KIND_COUNT];   /* the names of the layer kinds, for "type" */
};

/* The pointer of a format into out (FAULT_PTR_MAX bytes). The pointers built here always
 * fit: base is under 256 bytes and a layer's path is at most NN_MAX_DEPTH levels of
 * "/layers/4095" (no more layers are visited), so a longer one is a bug. */
static void path(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void path(char *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, FAULT_PTR_MAX, fmt, ap);
    va_end(ap);
    assert(n >= 0 && n < FAULT_PTR_MAX);
    (void)n;
}

/* Layers in the tree below obj's "layers", counting every object that has a "layers"
 * array (more than the residuals the walk follows: never fewer slots than it uses) to the
 * depth the walk follows; stops counting past NN_MAX_LAYERS. */
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

static void read_layers(void *ctx, const json_t *obj, const char *ptr, const struct nn_field *f,
                        void *base);

/* One layer (the value v at ptr) into *l. */
static void read_layer(struct walk *w, const json_t *v, const char *ptr, struct nn_layer_spec *l)
{
    *l = nn_dense(0, NN_LINEAR);
    if (!json_is_object(v)) {
        fault_add(&w->faults, ptr, "a layer must be an object such as {\"type\": \"dense\", "
                  "\"units\": 16}, not %s", json_kind(v));
        return;
    }
    char at[FAULT_PTR_MAX];
    path(at, "%s/type", ptr);
    const json_t *t = json_member(v, "type");
    int kind = t ? json_name(&w->faults, t, at, "layer type", w->kinds, NN_KIND_COUNT) : -1;
    if (!t) {
        char list[256] = "";
        for (int k = 0; k < NN_KIND_COUNT; k++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", k ? ", " : "",
                     w->kinds[k]);
        fault_add(&w->faults, at, "type is required: one of %s", list);
    }
    if (kind < 0)
        return;   /* the other fields depend on the type */
    const struct nn_kind_desc *d = nn_kind_desc(kind);
    static const char *const type_field[] = {"type", NULL};
    char what[64];
    snprintf(what, sizeof what, "a %s layer", d->name);
    fields_unknown(&w->faults, v, ptr, &(struct field_table){d->fields, d->nfields}, 1,
                   type_field, what);
    memset(l, 0, sizeof *l);
    l->kind = (enum nn_kind)kind;
    struct fields_layers body = {read_layers, NULL, w};
    fields_read(&w->faults, v, ptr, d->fields, d->nfields, l, NULL, &body);
}

/* The LAYERS field f of obj (at ptr): its layers, stored side by side in w->all (when
 * storing), the field of the struct at base pointing at them. */
static void read_layers(void *ctx, const json_t *obj, const char *ptr, const struct nn_field *f,
                        void *base)
{
    struct walk *w = ctx;
    char at[FAULT_PTR_MAX];
    path(at, "%s/%s", ptr, f->name);
    if (w->depth >= NN_MAX_DEPTH) {   /* the engine's limit; the body is not followed */
        fault_add(&w->faults, ptr, "residual blocks nested more than %d deep",
                  NN_MAX_DEPTH - 1);
        return;
    }
    const json_t *arr = json_member(obj, f->name);
    if (!arr) {
        fault_add(&w->faults, at, "%s is required: an array of layers such as "
                  "[{\"type\": \"dense\", \"units\": 16, \"activation\": \"relu\"}]",
                  f->name);
        return;
    }
    if (!json_is_array(arr)) {
        fault_add(&w->faults, at, "%s must be an array of layers, not %s", f->name,
                  json_kind(arr));
        return;
    }
    size_t n = json_array_size(arr);
    char msg[NN_MSG];
    if (nn_field_check(f, (double)n, msg, sizeof msg) < 0) {
        fault_add(&w->faults, at, "%s", msg);
        return;
    }
    struct nn_layer_spec *dst = NULL, scratch;
    if (w->all) {
        if ((size_t)(w->cap - w->used) < n) {   /* cannot happen: count_layers counts more */
            fault_add(&w->faults, at, "the layers could not be counted");
            return;
        }
        dst = w->all + w->used;
        w->used += (int)n;
        struct nn_layer_spec **layers = (struct nn_layer_spec **)((char *)base + f->offset);
        *layers = dst;
        *(int *)(layers + 1) = (int)n;
    }
    w->depth++;
    for (size_t i = 0; i < n && !w->full; i++) {
        char lp[FAULT_PTR_MAX];
        path(lp, "%s/%zu", at, i);
        if (++w->seen > NN_MAX_LAYERS) {
            fault_add(&w->faults, lp, "more than %d layers in all", NN_MAX_LAYERS);
            w->full = 1;
            break;
        }
        read_layer(w, json_array_get(arr, i), lp, dst ? &dst[i] : &scratch);
    }
    w->depth--;
}

/* A definition's "name": a string of 1 to NAME_MAX_BYTES bytes without NUL. */
static const char *read_name(struct walk *w, const json_t *def, const char *base)
{
    const json_t *v = json_member(def, "name");
    if (!v)
        return NULL;
    char at[FAULT_PTR_MAX];
    path(at, "%s/name", base);
    const char *s = json_string_value(v);
    if (!json_is_string(v))
        fault_add(&w->faults, at, "name must be a string, not %s", json_kind(v));
    else if (strlen(s) != json_string_length(v))
        fault_add(&w->faults, at, "name must not hold a NUL character");
    else if (!*s || strlen(s) > NAME_MAX_BYTES)
        fault_add(&w->faults, at, "name must be from 1 to %d bytes long, not %zu",
                  NAME_MAX_BYTES, strlen(s));
    else
        return s;
    return NULL;
}

/* "metrics": an array of metric names, into a bit set. */
static unsigned read_metrics(struct walk *w, const json_t *def, const char *base)
{
    const char *names[NN_METRIC_COUNT];
    for (int m = 0; m < NN_METRIC_COUNT; m++)
        names[m] = nn_metric_name(m);
    const json_t *v = json_member(def, "metrics");
    char at[FAULT_PTR_MAX];
    path(at, "%s/metrics", base);
    unsigned set = 0;
    if (v && !json_is_array(v)) {
        fault_add(&w->faults, at, "metrics must be an array of names such as [\"accuracy\"], "
                  "not %s", json_kind(v));
    } else if (v) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            char mp[FAULT_PTR_MAX];
            path(mp, "%s/%zu", at, i);
            int m = json_name(&w->faults, json_array_get(v, i), mp, "metric", names,
                              NN_METRIC_COUNT);
            if (m >= 0)
                set |= 1u << m;
        }
    }
    return set;
}

/* The engine's faults, with the caller's base pointer before their paths. */
struct engine_sink {
    struct faults *faults;
    const char *base;
};

static void engine_fault(void *ctx, const char *where, const char *msg)
{
    struct engine_sink *e = ctx;
    char at[FAULT_PTR_MAX];
    path(at, "%s%s", e->base, where);
    fault_add(e->faults, at, "%s", msg);
}

static const char *const top_fields[] = {"name", "metrics", "timesteps", NULL};

/* "timesteps": the steps of a row's sequence. The engine checks it but keeps it out of
 * nn_spec_desc (a definition without it is not a sequence network); read here as one of
 * its fields, its range the engine's. */
static const struct nn_field timesteps_field = {
    .name = "timesteps", .type = NN_FT_INT, .offset = offsetof(struct nn_spec, timesteps),
    .lo = 0, .hi = 65536, .def = 0,
    .about = "the steps of a row's sequence (0: a row is not a sequence)"};

int spec_from_json(const json_t *def, const char *base, size_t max_params,
                   struct spec_json *out, json_t **errors)
{
    memset(out, 0, sizeof *out);
    *errors = NULL;
    assert(strlen(base) < 256);   /* the caller's constant; keeps every pointer in FAULT_PTR_MAX */
    struct walk w = {0};
    if (faults_init(&w.faults) < 0)
        return -1;
    for (int k = 0; k < NN_KIND_COUNT; k++)
        w.kinds[k] = nn_kind_desc(k)->name;
    struct nn_spec spec = {0};
    const char *name = NULL;
    if (!json_is_object(def)) {
        fault_add(&w.faults, base, "a network definition must be a JSON object such as "
                  "{\"inputs\": 4, \"layers\": [...], \"loss\": \"mse\"}, not %s",
                  def ? json_kind(def) : "nothing");
        goto done;
    }
    fields_unknown(&w.faults, def, base,
                   &(struct field_table){nn_spec_desc.fields, nn_spec_desc.nfields}, 1,
                   top_fields, "a network definition");
    name = read_name(&w, def, base);
    int count = count_layers(def, 0, 0);
    if (count <= NN_MAX_LAYERS) {
        w.cap = count > 0 ? count : 1;
        if (!(w.all = calloc((size_t)w.cap, sizeof *w.all))) {
            fault_add(&w.faults, base, "the service ran out of memory reading the definition");
            goto done;
        }
    }
    struct fields_layers body = {read_layers, NULL, &w};
    fields_read(&w.faults, def, base, nn_spec_desc.fields, nn_spec_desc.nfields, &spec, NULL,
                &body);
    spec.metrics = read_metrics(&w, def, base);
    fields_read(&w.faults, def, base, &timesteps_field, 1, &spec, NULL, NULL);
    if (w.faults.n == 0) {
        struct engine_sink e = {&w.faults, base};
        struct nn_faults sink = {engine_fault, &e, 0};
        if (nn_spec_check_all(&spec, max_params, NULL, &sink) == 0)
            nn_spec_check_training(&spec, &sink);   /* valid, but could it learn? */
    }
done:
    if (w.faults.n == 0 && name && !(out->name = strdup(name)))
        fault_add(&w.faults, base, "the service ran out of memory reading the definition");
    if (w.faults.n > 0) {
        free(w.all);
        free(out->name);
        memset(out, 0, sizeof *out);
        *errors = faults_take(&w.faults, base);
        return -1;
    }
    faults_free(&w.faults);
    out->layers = w.all;
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

static json_t *write_layers(void *ctx, const struct nn_field *f, const void *base);

static json_t *layers_to_json(const struct nn_layer_spec *ls, int n)
{
    json_t *arr = json_array();
    struct fields_layers body = {NULL, write_layers, NULL};
    for (int i = 0; arr && i < n; i++) {
        const struct nn_kind_desc *d = nn_kind_desc(ls[i].kind);
        json_t *o = json_pack("{s:s}", "type", d->name);
        if (!o || json_array_append_new(arr, o) < 0 ||
            fields_write(o, d->fields, d->nfields, &ls[i], &body) < 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

/* A LAYERS field of the struct at base: its layers as JSON. */
static json_t *write_layers(void *ctx, const struct nn_field *f, const void *base)
{
    (void)ctx;
    const struct nn_layer_spec *const *layers =
        (const struct nn_layer_spec *const *)((const char *)base + f->offset);
    return layers_to_json(*layers, *(const int *)(layers + 1));
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
    json_t *d = json_object();
    struct fields_layers body = {NULL, write_layers, NULL};
    if (!d || !metrics || (name && json_object_set_new(d, "name", json_string(name)) < 0) ||
        fields_write(d, nn_spec_desc.fields, 1, spec, &body) < 0 ||   /* inputs */
        (spec->timesteps > 0 &&
         json_object_set_new(d, "timesteps", json_integer(spec->timesteps)) < 0) ||
        fields_write(d, nn_spec_desc.fields + 1, nn_spec_desc.nfields - 1, spec, &body) < 0 ||
        json_object_set(d, "metrics", metrics) < 0) {
        json_decref(d);
        d = NULL;
    }
    json_decref(metrics);
    return d;
}

/* ---- summary and warnings ---- */

/* The layers of the tree in pre-order (nn_summary's order) into flat[*k...]: each layer,
 * then the layers of its LAYERS fields. */
static void flatten(const struct nn_layer_spec *ls, int n, const struct nn_layer_spec **flat,
                    int max, int *k)
{
    for (int i = 0; i < n; i++) {
        if (*k < max)
            flat[*k] = &ls[i];
        (*k)++;
        const struct nn_kind_desc *d = nn_kind_desc(ls[i].kind);
        for (int f = 0; f < d->nfields; f++)
            if (d->fields[f].type == NN_FT_LAYERS) {
                const struct nn_layer_spec *const *body =
                    (const struct nn_layer_spec *const *)((const char *)&ls[i] +
                                                          d->fields[f].offset);
                flatten(*body, *(const int *)(body + 1), flat, max, k);
            }
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
        const struct nn_kind_desc *d = nn_kind_desc(r->kind);
        const struct nn_field *af = nn_field_find(d->fields, d->nfields, "activation");
        const char *act = k == n && af ? nn_act_name((int)nn_field_get(af, flat[i])) : NULL;
        json_t *row = json_pack("{s:s, s:s, s:s*, s:i, s:i, s:I}", "path", r->where, "type",
                                nn_kind_name(r->kind), "activation", act, "depth", r->depth,
                                "outputs", r->outputs, "params", (json_int_t)r->params);
        if (row && r->steps > 0 && json_object_set_new(row, "steps", json_integer(r->steps)) < 0)
            json_decref(row), row = NULL;   /* a sequence out: outputs per step */
        if (!row || json_array_append_new(layers, row) < 0)
            goto out;
    }
    s = json_pack("{s:i, s:i, s:I, s:O}", "inputs", spec->inputs, "outputs",
                  nn_outputs(net), "params", (json_int_t)nn_param_count(net), "layers", layers);
    if (s && spec->timesteps > 0 &&
        json_object_set_new(s, "timesteps", json_integer(spec->timesteps)) < 0) {
        json_decref(s);
        s = NULL;
    }
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
        char at[FAULT_PTR_MAX];
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
