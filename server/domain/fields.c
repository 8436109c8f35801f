/* fields.c -- JSON objects read and written through tables of fields (nn.h's struct
 * nn_field): the one validator of network definitions and job options (domain.h).
 *
 * DESIGN. A table row says what a member is (its name, type, range, default, when it
 * applies); this file adds only what JSON adds: which JSON types a member may have, what
 * "absent" means (null is absent too), and where a fault is (a JSON pointer). Ranges and
 * their messages are the engine's (nn_field_check), so a value is judged, and a fault
 * worded, the same whether it came over HTTP or from C. Every fault is collected rather
 * than the first returned, up to FAULTS_MAX.
 */
#include "domain.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- faults ---- */

int faults_init(struct faults *f)
{
    *f = (struct faults){.errors = json_array()};
    return f->errors ? 0 : -1;
}

/* A fault at ptr, or at ptr + "/" + key[0..keylen) when key is not NULL, the key escaped
 * as RFC 6901 says ('~' as ~0, '/' as ~1). */
static void vfault(struct faults *f, const char *ptr, const char *key, size_t keylen,
                   const char *fmt, va_list ap)
{
    f->n++;
    if (!f->errors)   /* counting only */
        return;
    if (json_array_size(f->errors) >= FAULTS_MAX) {
        f->dropped++;
        return;
    }
    char detail[1024];
    vsnprintf(detail, sizeof detail, fmt, ap);
    utf8_clean(detail);
    size_t plen = strlen(ptr), len = plen;
    char *pointer = malloc(plen + (key ? 1 + 2 * keylen : 0) + 1);
    if (!pointer) {
        f->dropped++;
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
    if (e && json_object_size(e) != 2) {   /* a pointer that is not UTF-8: not listable */
        json_decref(e);
        e = NULL;
    }
    if (!e || json_array_append_new(f->errors, e) < 0)   /* append_new frees e */
        f->dropped++;
}

void fault_add(struct faults *f, const char *ptr, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfault(f, ptr, NULL, 0, fmt, ap);
    va_end(ap);
}

void fault_key(struct faults *f, const char *ptr, const char *key, size_t keylen,
               const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfault(f, ptr, key, keylen, fmt, ap);
    va_end(ap);
}

json_t *faults_take(struct faults *f, const char *ptr)
{
    if (f->dropped > 0) {
        char d[128];
        snprintf(d, sizeof d, "and %d more fault%s not listed", f->dropped,
                 f->dropped == 1 ? "" : "s");
        json_array_append_new(f->errors, json_pack("{s:s, s:s}", "pointer", ptr, "detail", d));
    }
    json_t *e = f->errors;
    *f = (struct faults){0};
    return e;
}

void faults_sink(void *ctx, const char *where, const char *msg)
{
    fault_add(ctx, where, "%s", msg);
}

void faults_free(struct faults *f)
{
    json_decref(f->errors);
    *f = (struct faults){0};
}

/* ---- JSON values ---- */

const char *json_kind(const json_t *v)
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

const json_t *json_member(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return v && !json_is_null(v) ? v : NULL;
}

/* How many bytes of a client's text a message quotes (utf8_cut), and whether it was cut. */
#define QUOTE_MAX 64

/* "a, b, c" from names into out. */
static void name_list(const char *const *names, int n, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = 0;
    for (int i = 0; i < n && len < cap; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? ", " : "", names[i]);
}

int json_name(struct faults *fs, const json_t *v, const char *at, const char *what,
              const char *const *names, int n)
{
    char list[256];
    name_list(names, n, list, sizeof list);
    if (!json_is_string(v)) {
        fault_add(fs, at, "%s must be a string, one of: %s; not %s", what, list, json_kind(v));
        return -1;
    }
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    for (int i = 0; strlen(s) == len && i < n; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    /* names other libraries use, and where their meaning is here */
    static const char *const slips[][2] = {
        {"sparse_categorical_crossentropy", "; categorical_crossentropy takes class indices "
                                            "(and class names) as labels, as well as one-hot "
                                            "rows"}};
    const char *hint = "";
    for (size_t i = 0; i < sizeof slips / sizeof slips[0]; i++)
        if (strlen(s) == len && strcmp(s, slips[i][0]) == 0)
            hint = slips[i][1];
    size_t q = utf8_cut(s, len, QUOTE_MAX);
    fault_add(fs, at, "unknown %s \"%.*s%s\"; use one of: %s%s", what, (int)q, s,
              q < len ? "..." : "", list, hint);
    return -1;
}

/* ---- fields ---- */

/* Is key[0..keylen) a field of the optimizer type t? */
static int opt_has(int t, const char *key, size_t keylen)
{
    const struct nn_kind_desc *d = nn_opt_desc(t);
    for (int i = 0; i < d->nfields; i++)
        if (strlen(d->fields[i].name) == keylen && memcmp(d->fields[i].name, key, keylen) == 0)
            return 1;
    return 0;
}

/* Where an unknown field of obj (at ptr, in `what`) belongs, when it is a known slip:
 * an optimizer's setting at the top of a job, another optimizer type's setting. Into
 * buf ("" for none). */
static void unknown_hint(const json_t *obj, const char *ptr, const char *what, const char *key,
                         size_t keylen, char *buf, size_t cap)
{
    buf[0] = 0;
    int lr = keylen == 2 && memcmp(key, "lr", 2) == 0;
    if (strcmp(what, "a job") == 0) {
        const char *name = lr ? "learning_rate" : key;
        size_t n = lr ? 13 : keylen;
        int order[NN_OPT_COUNT], m = 0;   /* adam first: the type when none is given */
        order[m++] = NN_ADAM;
        for (int t = 0; t < NN_OPT_COUNT; t++)
            if (t != NN_ADAM)
                order[m++] = t;
        for (int k = 0; k < NN_OPT_COUNT && !buf[0]; k++)
            if (opt_has(order[k], name, n))
                snprintf(buf, cap, "; did you mean /optimizer/%.*s? (\"optimizer\": {%s%s%s"
                         "\"%.*s\": ...})", (int)n, name, order[k] == NN_ADAM ? "" : "\"type\": \"",
                         order[k] == NN_ADAM ? "" : nn_opt_name(order[k]),
                         order[k] == NN_ADAM ? "" : "\", ", (int)n, name);
        return;
    }
    if (strcmp(ptr, "/optimizer") != 0)
        return;
    if (lr) {
        snprintf(buf, cap, "; did you mean learning_rate?");
        return;
    }
    for (int t = 0; t < NN_OPT_COUNT && !buf[0]; t++)
        if (opt_has(t, key, keylen))
            snprintf(buf, cap, "; %.*s is the %s optimizer's: give \"type\": \"%s\"%s",
                     (int)keylen, key, nn_opt_name(t), nn_opt_name(t),
                     json_object_get(obj, "type") ? ""
                                                  : " (an optimizer without a type is adam)");
}

void fields_unknown(struct faults *fs, const json_t *obj, const char *ptr,
                    const struct field_table *tables, int ntables, const char *const *extra,
                    const char *what)
{
    const char *key;
    size_t keylen;
    json_t *v;
    json_object_keylen_foreach((json_t *)obj, key, keylen, v) {
        (void)v;
        int known = 0;   /* compared with its length: "units\u0000x" is not "units" */
        for (int i = 0; extra && extra[i] && !known; i++)
            known = strlen(extra[i]) == keylen && memcmp(extra[i], key, keylen) == 0;
        for (int k = 0; k < ntables && !known; k++)
            for (int i = 0; i < tables[k].n && !known; i++)
                known = strlen(tables[k].t[i].name) == keylen &&
                        memcmp(tables[k].t[i].name, key, keylen) == 0;
        if (known)
            continue;
        char list[256];
        size_t len = 0;
        list[0] = 0;
        for (int i = 0; extra && extra[i] && len < sizeof list; i++)
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", len ? ", " : "",
                                    extra[i]);
        for (int k = 0; k < ntables; k++)
            for (int i = 0; i < tables[k].n && len < sizeof list; i++)
                len += (size_t)snprintf(list + len, sizeof list - len, "%s%s",
                                        len ? ", " : "", tables[k].t[i].name);
        char hint[200];
        unknown_hint(obj, ptr, what, key, keylen, hint, sizeof hint);
        size_t q = utf8_cut(key, keylen, QUOTE_MAX);
        fault_key(fs, ptr, key, keylen, "unknown field \"%.*s%s\" in %s; its fields are: %s%s",
                  (int)q, key, q < keylen ? "..." : "", what, list, hint);
    }
}

/* Field f of obj (at ptr) into base. Returns 1 when it was given and is right, 0 when
 * absent (a fault when required), -1 after a fault. */
static int field_read(struct faults *fs, const json_t *obj, const char *ptr,
                      const struct nn_field *f, void *base)
{
    const json_t *v = json_member(obj, f->name);
    char at[FAULT_PTR_MAX], words[200];
    snprintf(at, sizeof at, "%s/%s", ptr, f->name);
    if (!v) {
        if (f->flags & NN_FIELD_REQUIRED) {
            if (f->type == NN_FT_NAME) {
                char list[256];
                name_list(f->names, f->nnames, list, sizeof list);
                fault_add(fs, at, "%s is required: one of %s", f->name, list);
            } else {
                nn_field_range(f, words, sizeof words);
                fault_add(fs, at, "%s is required: %s, %s%s", f->name, f->about,
                          f->type == NN_FT_INT || f->type == NN_FT_U64 ? "a whole number " : "",
                          words);
            }
            return -1;
        }
        return 0;
    }
    double d = 0;
    switch (f->type) {
    case NN_FT_INT:
    case NN_FT_U64:
        if (!json_is_number(v)) {
            fault_add(fs, at, "%s must be a whole number (%s), not %s", f->name, f->about,
                      json_kind(v));
            return -1;
        }
        d = json_number_value(v);   /* a whole number written as a real (16.0, 1e3) is one */
        break;
    case NN_FT_FLOAT:
    case NN_FT_DOUBLE:
        if (!json_is_number(v)) {
            fault_add(fs, at, "%s must be a number (%s), not %s", f->name, f->about,
                      json_kind(v));
            return -1;
        }
        d = json_number_value(v);
        if (f->type == NN_FT_FLOAT && fabs(d) > FLT_MAX) {
            fault_add(fs, at, "%s must be a number a 32-bit float can hold (%s), not %g",
                      f->name, f->about, d);
            return -1;
        }
        break;
    case NN_FT_BOOL:
        if (!json_is_boolean(v)) {
            fault_add(fs, at, "%s must be true or false, not %s", f->name, json_kind(v));
            return -1;
        }
        d = json_is_true(v);
        break;
    case NN_FT_NAME: {
        int i = json_name(fs, v, at, f->name, f->names, f->nnames);
        if (i < 0)
            return -1;
        d = i;
        break;
    }
    case NN_FT_LAYERS:
        return 0;   /* the caller's */
    }
    char msg[NN_MSG];
    if (nn_field_check(f, d, msg, sizeof msg) < 0) {
        /* the engine judges the float it holds: say so when that is not what was written */
        if (f->type == NN_FT_FLOAT && (double)(float)d != d && shortest_double((float)d) != d)
            fault_add(fs, at, "%s (the 32-bit float the engine holds for %g)", msg, d);
        else
            fault_add(fs, at, "%s", msg);
        return -1;
    }
    nn_field_set(f, base, d);
    return 1;
}

int fields_read(struct faults *fs, const json_t *obj, const char *ptr,
                const struct nn_field *t, int n, void *base, unsigned long *given,
                const struct fields_layers *layers)
{
    int before = fs->n;
    unsigned long got = 0;
    nn_fields_default(t, n, base);
    for (int i = 0; i < n; i++) {
        if (t[i].type == NN_FT_LAYERS) {
            if (layers)
                layers->read(layers->ctx, obj, ptr, &t[i], base);
            continue;
        }
        if (field_read(fs, obj, ptr, &t[i], base) == 1 && i < (int)(8 * sizeof got))
            got |= 1ul << i;
    }
    /* a field given where it does not apply (alpha without leaky_relu) */
    for (int i = 0; i < n && i < (int)(8 * sizeof got); i++) {
        char msg[NN_MSG], at[FAULT_PTR_MAX];
        if ((got & 1ul << i) && !nn_field_applies(t, n, &t[i], base, msg, sizeof msg)) {
            snprintf(at, sizeof at, "%s/%s", ptr, t[i].name);
            fault_add(fs, at, "%s", msg);
        }
    }
    if (given)
        *given = got;
    return fs->n - before;
}

int fields_given(const struct nn_field *t, int n, unsigned long given, const char *name)
{
    const struct nn_field *f = nn_field_find(t, n, name);
    return f && f - t < (long)(8 * sizeof given) && (given >> (f - t) & 1);
}

int fields_write(json_t *obj, const struct nn_field *t, int n, const void *base,
                 const struct fields_layers *layers)
{
    for (int i = 0; i < n; i++) {
        const struct nn_field *f = &t[i];
        if (!nn_field_applies(t, n, f, base, NULL, 0))
            continue;
        double v = nn_field_get(f, base);
        json_t *j = NULL;
        switch (f->type) {
        case NN_FT_INT:
        case NN_FT_U64:
            j = json_integer((json_int_t)v);
            break;
        case NN_FT_FLOAT:
            j = json_real(shortest_double((float)v));
            break;
        case NN_FT_DOUBLE:
            j = json_real(v);
            break;
        case NN_FT_BOOL:
            j = json_boolean(v != 0);
            break;
        case NN_FT_NAME:
            j = v >= 0 && v < f->nnames ? json_string(f->names[(int)v]) : json_null();
            break;
        case NN_FT_LAYERS:
            j = layers ? layers->write(layers->ctx, f, base) : NULL;
            break;
        }
        if (!j || json_object_set_new(obj, f->name, j) < 0)
            return -1;
    }
    return 0;
}
