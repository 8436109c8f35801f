/* serial.c -- a network as one byte buffer and back.
 *
 * Layout (little-endian): "NRDN" magic, u32 format version, then the spec (inputs,
 * timesteps in version 3, loss, metrics, top-level layer count, layer count and each
 * layer in the copy's order), the parameters, the running statistics, the training
 * state (epochs done, optimizer type and step, moments), and a CRC-32 of everything
 * before it. Loading checks the size, the magic, the version and the checksum first,
 * then reads through a cursor that never passes the end. A model (nn_save_model) is the
 * same layout without the optimizer's state: type -1, step 0 and empty moments, as a
 * network never trained is written, so it takes 4 bytes a parameter where a checkpoint
 * with Adam's two moments takes 12.
 *
 * A layer's record is walked from its kind's descriptor (version 2, written since): the
 * u32 kind, then each field of the kind's table in order -- 4 bytes for an int, a name,
 * a bool or a float, 8 for a u64, and for a body its u32 count and the u32 position of
 * its first layer in the copy's order. Adding a kind or a field needs no change here.
 * Version 1 buffers (networks saved before) had one fixed record of 40 bytes for every
 * kind: kind, units, act, alpha, init, rate, momentum, epsilon, body count, body
 * position; they are still read. Version 3 is version 2 with the network's timesteps
 * after its inputs; it is written only for a sequence network (timesteps > 0), so a
 * feed-forward network is written as before, byte for byte, and builds that read
 * version 2 still read it.
 */
#include "nn_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define MAGIC "NRDN"
#define VERSION 3u                      /* written for sequence networks */
#define VERSION_2 2u                    /* written for the others */
#define VERSION_1 1u                    /* still read */
#define V1_RECORD 40                    /* bytes of a version 1 layer record */

/* The format's floats are little-endian, as the host's usually are: then arrays move with
 * one memcpy each way. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HOST_LE 1
#else
#define HOST_LE 0
#endif

/* zlib's CRC-32 (the same polynomial and result as a byte-wise table) runs several bytes
 * a step: a 13 MB checkpoint takes 3 ms instead of 30. */
uint32_t nn_crc32(const void *buf, size_t len)
{
    return (uint32_t)crc32_z(0, buf, len);
}

/* ---- writing ---- */

struct out {
    unsigned char *p;
    size_t len;
};

static void put32(struct out *o, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        o->p[o->len++] = (unsigned char)(v >> (8 * i));
}

static void put64(struct out *o, uint64_t v)
{
    put32(o, (uint32_t)v);
    put32(o, (uint32_t)(v >> 32));
}

static void putf(struct out *o, float f)
{
    uint32_t v;
    memcpy(&v, &f, 4);
    put32(o, v);
}

static void put_floats(struct out *o, const float *f, size_t n)
{
    put64(o, f ? n : 0);
    if (!f)
        return;
    if (HOST_LE) {
        memcpy(o->p + o->len, f, 4 * n);
        o->len += 4 * n;
    } else {
        for (size_t i = 0; i < n; i++)
            putf(o, f[i]);
    }
}

/* Bytes of field f in a layer record. */
static size_t field_bytes(const struct nn_field *f)
{
    return f->type == NN_FT_U64 || f->type == NN_FT_DOUBLE || f->type == NN_FT_LAYERS ? 8 : 4;
}

/* Bytes of the record of a layer of kind k. */
static size_t record_bytes(const struct layer_kind *k)
{
    size_t n = 4;
    for (int i = 0; i < k->desc.nfields; i++)
        n += field_bytes(&k->desc.fields[i]);
    return n;
}

/* Writes field f of layer l. */
static void put_field(struct out *o, const struct nn_field *f, const struct nn_layer_spec *l,
                      const struct nn_net *net)
{
    const char *p = (const char *)l + f->offset;
    switch (f->type) {
    case NN_FT_INT:
    case NN_FT_BOOL:
    case NN_FT_NAME:
    case NN_FT_FLOAT: {       /* a float's bits as they are */
        uint32_t v;
        memcpy(&v, p, 4);
        put32(o, v);
        break;
    }
    case NN_FT_U64:
    case NN_FT_DOUBLE: {      /* a double's bits as they are */
        uint64_t v;
        memcpy(&v, p, 8);
        put64(o, v);
        break;
    }
    case NN_FT_LAYERS: {
        const struct nn_layer_spec *body;
        int n = field_layers(f, l, &body);
        put32(o, (uint32_t)n);
        put32(o, body ? (uint32_t)(body - net->lspec) : 0);
        break;
    }
    }
}

/* The buffer of nn_save, with the optimizer's state when `training`. */
static int save(const struct nn_net *net, int training, unsigned char **buf, size_t *len,
                struct nn_error *err)
{
    const float *m = training ? net->m : NULL, *v = training ? net->v : NULL;
    size_t nm = m ? net->nparams : 0, nv = v ? net->nparams : 0;
    size_t records = 0;
    for (int i = 0; i < net->nlspec; i++)
        records += record_bytes(layer_kinds[net->lspec[i].kind]);
    size_t cap = 64 + records + 4 * (net->nparams + net->nstats + nm + nv) + 64;
    struct out o = {malloc(cap), 0};
    if (!o.p)
        return nn_fail(err, "", "out of memory saving the network");
    memcpy(o.p, MAGIC, 4);
    o.len = 4;
    put32(&o, net->spec.timesteps > 0 ? VERSION : VERSION_2);
    put32(&o, (uint32_t)net->spec.inputs);
    if (net->spec.timesteps > 0)
        put32(&o, (uint32_t)net->spec.timesteps);
    put32(&o, (uint32_t)net->spec.loss);
    put32(&o, net->spec.metrics);
    put32(&o, (uint32_t)net->spec.nlayers);
    put32(&o, (uint32_t)net->nlspec);
    for (int i = 0; i < net->nlspec; i++) {
        const struct nn_layer_spec *l = &net->lspec[i];
        const struct nn_kind_desc *d = &layer_kinds[l->kind]->desc;
        put32(&o, (uint32_t)l->kind);
        for (int k = 0; k < d->nfields; k++)
            put_field(&o, &d->fields[k], l, net);
    }
    put_floats(&o, net->params, net->nparams);
    put_floats(&o, net->stats, net->nstats);
    put32(&o, (uint32_t)net->epochs_done);
    put32(&o, (uint32_t)(training ? net->opt_type : -1));
    put64(&o, training ? net->step : 0);
    put_floats(&o, m, nm);
    put_floats(&o, v, nv);
    put32(&o, nn_crc32(o.p, o.len));
    *buf = o.p;
    *len = o.len;
    return 0;
}

int nn_save(const struct nn_net *net, unsigned char **buf, size_t *len, struct nn_error *err)
{
    return save(net, 1, buf, len, err);
}

int nn_save_model(const struct nn_net *net, unsigned char **buf, size_t *len,
                  struct nn_error *err)
{
    return save(net, 0, buf, len, err);
}

/* ---- reading ---- */

struct in {
    const unsigned char *p;
    size_t len, at;
    int bad;
};

static uint32_t get32(struct in *r)
{
    if (r->len - r->at < 4) {
        r->bad = 1;
        return 0;
    }
    const unsigned char *p = r->p + r->at;
    r->at += 4;
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(struct in *r)
{
    uint64_t lo = get32(r);
    return lo | (uint64_t)get32(r) << 32;
}

static float getf(struct in *r)
{
    uint32_t v = get32(r);
    float f;
    memcpy(&f, &v, 4);
    return f;
}

/* Reads a float array of exactly n entries (or of 0 when absent is allowed). */
static int get_floats(struct in *r, float *dst, size_t n, int optional)
{
    uint64_t k = get64(r);
    if (r->bad || (k != n && !(optional && k == 0)) || (r->len - r->at) / 4 < k)
        return r->bad = 1, -1;
    if (HOST_LE) {
        memcpy(dst, r->p + r->at, 4 * k);
        r->at += 4 * k;
    } else {
        for (size_t i = 0; i < k; i++)
            dst[i] = getf(r);
    }
    return (int)(k != 0);
}

/* Reading the layers: what the records of either version share. */
struct tree {
    struct nn_layer_spec *ls;
    uint32_t n;
    unsigned char *owned;     /* each layer belongs to exactly one list: a tree */
};

/* Gives layer i the body of nl layers at position at (field f of its kind): bodies come
 * after their parent, inside the array, and no layer is in two lists. Returns 0 or -1. */
static int take_body(struct tree *t, uint32_t i, const struct nn_field *f, uint32_t nl,
                     uint32_t at)
{
    if (nl == 0 || at <= i || at > t->n || nl > t->n - at)
        return -1;
    for (uint32_t k = at; k < at + nl; k++)
        if (t->owned[k]++)
            return -1;
    field_set_layers(f, &t->ls[i], t->ls + at, (int)nl);
    return 0;
}

/* A version 1 record into layer i: every member from its fixed place. */
static int read_v1(struct in *r, struct tree *t, uint32_t i)
{
    struct nn_layer_spec *l = &t->ls[i];
    l->kind = (enum nn_kind)get32(r);
    l->units = (int)get32(r);
    l->act = (enum nn_act)get32(r);
    l->alpha = getf(r);
    l->init = (enum nn_init)get32(r);
    l->rate = getf(r);
    l->momentum = getf(r);
    l->epsilon = getf(r);
    uint32_t nl = get32(r), at = get32(r);
    /* an unknown kind is left to nn_spec_check, which names it */
    const struct nn_field *bf =
        (unsigned)l->kind < NN_KIND_COUNT ? kind_body(layer_kinds[l->kind]) : NULL;
    return bf ? take_body(t, i, bf, nl, at) : 0;
}

/* A version 2 record into layer i: its kind, then the fields of the kind's descriptor;
 * members of other kinds stay 0. */
static int read_v2(struct in *r, struct tree *t, uint32_t i)
{
    struct nn_layer_spec *l = &t->ls[i];
    uint32_t kind = get32(r);
    if (r->bad || kind >= NN_KIND_COUNT)   /* without a kind, the record has no length */
        return -1;
    l->kind = (enum nn_kind)kind;
    const struct nn_kind_desc *d = &layer_kinds[kind]->desc;
    for (int k = 0; k < d->nfields; k++) {
        const struct nn_field *f = &d->fields[k];
        char *p = (char *)l + f->offset;
        if (f->type == NN_FT_LAYERS) {
            uint32_t nl = get32(r), at = get32(r);
            if (r->bad || take_body(t, i, f, nl, at) < 0)
                return -1;
        } else if (f->type == NN_FT_U64 || f->type == NN_FT_DOUBLE) {
            uint64_t v = get64(r);
            memcpy(p, &v, 8);
        } else {
            uint32_t v = get32(r);
            memcpy(p, &v, 4);
        }
    }
    return 0;
}

struct nn_net *nn_load(const void *buf, size_t len, size_t max_params, struct nn_error *err)
{
    struct in r = {buf, len, 0, 0};
    if (!buf || len < 12 || memcmp(buf, MAGIC, 4) != 0) {
        nn_fail(err, "", "not a saved network (bad magic or too short)");
        return NULL;
    }
    r.at = 4;
    uint32_t version = get32(&r);
    if (version != VERSION && version != VERSION_2 && version != VERSION_1) {
        nn_fail(err, "", "saved network has format version %u; this build reads versions %u "
                "to %u", version, VERSION_1, VERSION);
        return NULL;
    }
    uint32_t crc = r.p[len - 4] | (uint32_t)r.p[len - 3] << 8 | (uint32_t)r.p[len - 2] << 16 |
                   (uint32_t)r.p[len - 1] << 24;
    if (nn_crc32(buf, len - 4) != crc) {
        nn_fail(err, "", "saved network is corrupted or truncated (checksum mismatch)");
        return NULL;
    }
    r.len = len - 4;

    /* the smallest record, so that a forged count cannot make us allocate much more
     * than the buffer holds */
    size_t least = V1_RECORD;
    for (int k = 0; version != VERSION_1 && k < NN_KIND_COUNT; k++) {
        size_t b = record_bytes(layer_kinds[k]);
        least = k == 0 || b < least ? b : least;
    }
    struct nn_spec spec = {0};
    spec.inputs = (int)get32(&r);
    spec.timesteps = version == VERSION ? (int)get32(&r) : 0;
    spec.loss = (enum nn_loss)get32(&r);
    spec.metrics = get32(&r);
    spec.nlayers = (int)get32(&r);
    uint32_t n = get32(&r);
    struct tree t = {.n = n};
    struct nn_net *net = NULL;
    if (r.bad || n == 0 || n > NN_MAX_LAYERS || (r.len - r.at) / least < n ||
        spec.nlayers < 1 || (uint32_t)spec.nlayers > n)
        goto corrupt;
    if (!(t.ls = calloc(n, sizeof *t.ls)) || !(t.owned = calloc(n, 1)))
        goto oom;
    memset(t.owned, 1, (size_t)spec.nlayers);
    for (uint32_t i = 0; i < n; i++)
        if ((version == VERSION_1 ? read_v1(&r, &t, i) : read_v2(&r, &t, i)) < 0)
            goto corrupt;
    spec.layers = t.ls;
    if (r.bad || memchr(t.owned, 0, n))
        goto corrupt;
    free(t.owned);
    t.owned = NULL;
    struct nn_error e2;
    size_t nparams;
    /* a forged header must not make us allocate what the buffer cannot hold */
    if (nn_spec_check(&spec, max_params, &nparams, &e2) == 0 && nparams > (r.len - r.at) / 4)
        goto corrupt;
    if (!(net = net_build(&spec, max_params, NULL, &e2))) {
        nn_fail(err, e2.where, "saved network: %s", e2.msg);
        free(t.ls);
        return NULL;
    }
    free(t.ls);
    t.ls = NULL;
    if (get_floats(&r, net->params, net->nparams, 0) < 0 ||
        get_floats(&r, net->stats, net->nstats, 0) < 0)
        goto corrupt;
    net->epochs_done = (int)get32(&r);
    net->opt_type = (int)get32(&r);
    net->step = get64(&r);
    if (r.bad || net->epochs_done < 0 || net->opt_type < -1 || net->opt_type >= NN_OPT_COUNT)
        goto corrupt;
    size_t np = net->nparams ? net->nparams : 1;
    if (!(net->m = calloc(np, sizeof(float))) || !(net->v = calloc(np, sizeof(float))))
        goto oom;
    int hm = get_floats(&r, net->m, net->nparams, 1), hv = get_floats(&r, net->v, net->nparams, 1);
    if (hm < 0 || hv < 0 || r.at != r.len)
        goto corrupt;
    if (!hm) {
        free(net->m);
        net->m = NULL;
    }
    if (!hv) {
        free(net->v);
        net->v = NULL;
    }
    return net;
corrupt:
    nn_fail(err, "", "saved network is malformed");
    goto fail;
oom:
    nn_fail(err, "", "out of memory loading the network");
fail:
    free(t.ls);
    free(t.owned);
    nn_free(net);
    return NULL;
}
