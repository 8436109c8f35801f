/* kserve.c -- the Open Inference Protocol v2 (KServe, Triton) on the service's port:
 * the server's metadata (GET /v2), liveness and readiness (/v2/health/live, /ready), a
 * model's metadata and readiness (GET /v2/models/{name}[/versions/{v}][/ready]) and
 * inference with typed tensors (POST /v2/models/{name}[/versions/{v}]/infer). Errors are
 * the protocol's {"error": "..."}: 400 for a bad request, 404 for a model or version
 * that is not there.
 *
 * A model is addressed by its name (or id); a version is a number (name@N) or an alias
 * (name@alias). The one input, named "inputs", is a tensor of FP32, FP64, INT64 or
 * INT32 values of shape [N, F] (or [N, T, F] for a model of sequences), its data
 * row-major, flat or nested; every value is rounded to float32 as the native route
 * rounds its JSON numbers, and the rows run as POST /v1/models/{id}/predict runs them
 * (api_predict_go), so the numbers are the same. The one output, "outputs", is FP32 of
 * shape [N, K]. */
#include "api.h"

#include "domain/domain.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int h_v2_server(struct req *r, struct reply *out)
{
    (void)r;
    return reply_json(out, 200, json_pack("{s:s, s:s, s:[]}", "name", "neurond", "version",
                                          NEUROND_VERSION, "extensions"));
}

int h_v2_live(struct req *r, struct reply *out)
{
    (void)r;
    return reply_json(out, 200, json_pack("{s:b}", "live", 1));
}

/* Ready as GET /readyz says; when not, 503 with its reasons as the error. */
int h_v2_ready(struct req *r, struct reply *out)
{
    if (h_ready(r, out) < 0)
        return -1;
    if (out->status == 200) {
        free(out->body);
        out->body = NULL;
        return reply_json(out, 200, json_pack("{s:b}", "ready", 1));
    }
    char msg[600];
    int status = api_problem_text(out, msg, sizeof msg);
    return api_error_json(out, status, "%s", msg);
}

/* The model the path names ({name}, or {name}@{version}), loaded (predictor_put when
 * done); or -1 after replying {"error"}. */
static int v2_model(struct req *r, char *id, struct predictor **p, struct reply *out)
{
    char ref[200], msg[400];
    snprintf(ref, sizeof ref, "%s%s%s", r->param[0], r->nparam > 1 ? "@" : "",
             r->nparam > 1 ? r->param[1] : "");
    int status = api_model_get(ref, id, p, msg, sizeof msg);
    if (status)
        return api_error_json(out, status, "%s", msg), -1;
    return 0;
}

/* The version a model answers as: its number, or "1" for a model without a name. */
static const char *v2_version(const struct predictor *m, char *buf, size_t cap)
{
    snprintf(buf, cap, "%d", m->name && m->version > 0 ? m->version : 1);
    return buf;
}

/* A tensor's metadata: {"name", "datatype": "FP32", "shape": [-1, d1(, d2)]}. New. */
static json_t *v2_tensor(const char *name, int d1, int d2)
{
    json_t *shape = json_pack("[i, i]", -1, d1);
    if (d2 > 0)
        json_array_append_new(shape, json_integer(d2));
    return json_pack("{s:s, s:s, s:o}", "name", name, "datatype", "FP32", "shape", shape);
}

int h_v2_model(struct req *r, struct reply *out)
{
    struct predictor *p;
    char id[32], v[16];
    if (v2_model(r, id, &p, out) < 0)
        return 0;
    const struct nn_spec *spec = nn_get_spec(p->net);
    const int T = spec->timesteps, F = spec->inputs, K = nn_outputs(p->net);
    /* the class names of a classifier's outputs, in their order, among its parameters */
    json_t *o = json_pack("{s:s, s:[s], s:s, s:[o], s:[o], s:{s:s, s:O?, s:O?}}", "name",
                          p->name ? p->name : id, "versions", v2_version(p, v, sizeof v),
                          "platform", "neurond", "inputs",
                          v2_tensor("inputs", T > 0 ? T : F, T > 0 ? F : 0), "outputs",
                          v2_tensor("outputs", K, 0), "parameters", "model", id, "classes",
                          p->classes, "columns", p->columns);
    predictor_put(p);
    return o ? reply_json(out, 200, o) : -1;
}

int h_v2_model_ready(struct req *r, struct reply *out)
{
    struct predictor *p;
    char id[32];
    if (v2_model(r, id, &p, out) < 0)
        return 0;
    json_t *o = json_pack("{s:s, s:b}", "name", p->name ? p->name : id, "ready", 1);
    predictor_put(p);
    return o ? reply_json(out, 200, o) : -1;
}

/* Appends the values of data (nested arrays flattened, row-major) to x[*k], at most max,
 * checking each against the datatype. 0, or -1 with the fault in msg. */
static int v2_values(const json_t *data, const char *type, float *x, size_t *k, size_t max,
                     char *msg, size_t cap)
{
    if (json_is_array(data)) {
        size_t i;
        const json_t *v;
        json_array_foreach(data, i, v)
            if (v2_values(v, type, x, k, max, msg, cap) < 0)
                return -1;
        return 0;
    }
    if (!json_is_number(data))
        return snprintf(msg, cap, "data[%zu] is %s, not a number", *k, json_kind(data)), -1;
    double d = json_number_value(data);
    if (type[0] == 'I' && d != floor(d))
        return snprintf(msg, cap, "data[%zu] is %g, not an integer (datatype %s)", *k, d,
                        type), -1;
    if (!isfinite((float)d))
        return snprintf(msg, cap, "data[%zu] is %g, outside the range of float32", *k, d), -1;
    if (*k >= max)
        return snprintf(msg, cap, "data holds more values than the shape's product, %zu",
                        max), -1;
    x[(*k)++] = (float)d;
    return 0;
}

/* The rows of an inference request into x (new) and n, and its id (borrowed, or NULL).
 * 0, or -1 with the fault in msg. */
static int v2_rows(const json_t *doc, int T, int F, float **x, int *n, const char **rid,
                   char *msg, size_t cap)
{
    const char *key;
    const json_t *v, *inputs = json_object_get(doc, "inputs");
    if (!json_is_object(doc))
        return snprintf(msg, cap, "the request is an object {\"inputs\": [...]}, not %s",
                        json_kind(doc)), -1;
    json_object_foreach((json_t *)doc, key, v)
        if (strcmp(key, "inputs") && strcmp(key, "outputs") && strcmp(key, "id") &&
            strcmp(key, "parameters")) {
            char e[80];
            return snprintf(msg, cap, "unknown field \"%s\"; an inference request has id, "
                            "parameters, inputs and outputs",
                            text_echo(e, sizeof e, key, strlen(key), 64)), -1;
        }
    *rid = json_string_value(json_object_get(doc, "id"));
    if (json_object_get(doc, "id") && !*rid)
        return snprintf(msg, cap, "id must be a string"), -1;
    const json_t *outs = json_object_get(doc, "outputs");
    if (outs && !json_is_array(outs))
        return snprintf(msg, cap, "outputs must be an array of {\"name\": \"outputs\"}"), -1;
    size_t i;
    json_array_foreach(outs, i, v) {
        const char *name = json_string_value(json_object_get(v, "name"));
        if (!name || strcmp(name, "outputs"))
            return snprintf(msg, cap, "outputs[%zu]: the model has one output, named "
                            "\"outputs\"", i), -1;
    }
    if (!json_is_array(inputs) || json_array_size(inputs) != 1)
        return snprintf(msg, cap, "inputs must be an array of one tensor {\"name\": "
                        "\"inputs\", \"shape\", \"datatype\", \"data\"}: the model has one "
                        "input"), -1;
    const json_t *in = json_array_get(inputs, 0), *shape = json_object_get(in, "shape");
    const char *type = json_string_value(json_object_get(in, "datatype"));
    const json_t *data = json_object_get(in, "data");
    if (!json_is_string(json_object_get(in, "name")))
        return snprintf(msg, cap, "inputs[0].name must be a string (\"inputs\")"), -1;
    if (!type || (strcmp(type, "FP32") && strcmp(type, "FP64") && strcmp(type, "INT64") &&
                  strcmp(type, "INT32")))
        return snprintf(msg, cap, "inputs[0].datatype must be FP32, FP64, INT64 or INT32%s%s",
                        type ? ", not " : "", type ? type : ""), -1;
    const size_t rank = T > 0 ? 3 : 2;
    long d[3] = {0};
    int shape_ok = json_is_array(shape) && json_array_size(shape) == rank;
    for (size_t j = 0; shape_ok && j < rank; j++) {
        const json_t *s = json_array_get(shape, j);
        double dj = json_number_value(s);   /* read with integers as reals */
        shape_ok = json_is_number(s) && dj >= 1 && dj <= 100000 && dj == floor(dj);
        d[j] = shape_ok ? (long)dj : 0;
    }
    if (!shape_ok || d[rank - 1] != F || (T > 0 && d[1] != T)) {
        if (T > 0)
            return snprintf(msg, cap, "inputs[0].shape must be [N, %d, %d]: N sequences of "
                            "%d steps of %d values", T, F, T, F), -1;
        return snprintf(msg, cap, "inputs[0].shape must be [N, %d]: N rows of %d values", F,
                        F), -1;
    }
    if (!json_is_array(data))
        return snprintf(msg, cap, "inputs[0].data must be an array of numbers"), -1;
    size_t want = (size_t)d[0] * (size_t)F * (size_t)(T > 0 ? T : 1), k = 0;
    if (!(*x = malloc(sizeof(float) * want)))
        return snprintf(msg, cap, "out of memory"), -1;
    if (v2_values(data, type, *x, &k, want, msg, cap) < 0 ||
        (k != want && snprintf(msg, cap, "inputs[0].data holds %zu values; its shape "
                               "says %zu", k, want))) {
        free(*x);
        *x = NULL;
        return -1;
    }
    *n = (int)d[0];
    return 0;
}

/* The key k (a string of kl bytes) is the literal lit. */
static int is(const char *k, size_t kl, const char *lit)
{
    return kl == strlen(lit) && !memcmp(k, lit, kl);
}

/* A dimension written in digits alone (1 to 6 of them, no leading zero) into *v: 0, or
 * -1 (a number written otherwise is left to jansson). */
static int v2_dim(struct scan *s, long *v)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
    const char *a = s->p;
    long x = 0;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9' && s->p - a < 7)
        x = x * 10 + (*s->p++ - '0');
    if (s->p == a || s->p - a > 6 || *a == '0' ||
        (s->p < s->end && (*s->p == '.' || *s->p == 'e' || *s->p == 'E' ||
                           (*s->p >= '0' && *s->p <= '9'))))
        return -1;
    *v = x;
    return 0;
}

/* The one input tensor {"name", "shape", "datatype": "FP32" | "FP64", "data": [flat
 * numbers]} in any order into x (new), n values, and its shape d (rank into *rank).
 * 0, or -1 for anything else. */
static int v2_fast_tensor(struct scan *s, float **x, size_t *n, long d[3], int *rank)
{
    const char *k, *v;
    size_t kl, vl, cap = 0;
    int seen = 0;   /* bits: name, shape, datatype, data */
    *x = NULL;
    *n = 0;
    *rank = 0;
    if (!scan_eat(s, '{'))
        return -1;
    do {
        if (scan_string(s, &k, &kl) < 0 || !scan_eat(s, ':'))
            return -1;
        int bit = is(k, kl, "name") ? 1 : is(k, kl, "shape") ? 2 : is(k, kl, "datatype") ? 4
                  : is(k, kl, "data") ? 8 : 0;
        if (!bit || (seen & bit))
            return -1;
        seen |= bit;
        if (bit == 1 && scan_string(s, &v, &vl) < 0)
            return -1;
        if (bit == 4 && (scan_string(s, &v, &vl) < 0 || !(is(v, vl, "FP32") || is(v, vl, "FP64"))))
            return -1;
        if (bit == 2) {
            if (!scan_eat(s, '['))
                return -1;
            do {
                long v;
                if (*rank == 3 || v2_dim(s, &v) < 0 || v > 100000)
                    return -1;
                d[(*rank)++] = v;
            } while (scan_eat(s, ','));
            if (!scan_eat(s, ']'))
                return -1;
        }
        if (bit == 8) {
            if (!scan_eat(s, '['))
                return -1;
            do {
                if (*n == cap) {
                    float *g = realloc(*x, sizeof(float) * (cap = cap ? 2 * cap : 1024));
                    if (!g)
                        return -1;
                    *x = g;
                }
                if (scan_number(s, &(*x)[(*n)++]) < 0)   /* as many as the body holds */
                    return -1;
            } while (scan_eat(s, ','));
            if (!scan_eat(s, ']'))
                return -1;
        }
    } while (scan_eat(s, ','));
    return seen == 15 && scan_eat(s, '}') ? 0 : -1;
}

/* The common inference request, {"id"?: "...", "inputs": [one FP32 or FP64 tensor of
 * flat data]}, read without jansson into x (new) and n rows, its id into rid (cap
 * bytes, "" without one). 0; or -1 for anything else, which v2_rows then reads (and
 * names what is wrong). The rows are those v2_rows would read. */
static int v2_fast(const char *body, size_t len, int T, int F, float **x, int *n, char *rid,
                   size_t cap)
{
    struct scan s = {body, body + len};
    const char *k, *v;
    size_t kl, vl, count = 0;
    long d[3];
    int rank = 0, seen = 0;
    *x = NULL;
    *rid = 0;
    if (!scan_eat(&s, '{'))
        return -1;
    do {
        if (scan_string(&s, &k, &kl) < 0 || !scan_eat(&s, ':')) {
            seen = -1;   /* not a member: a comma before '}', say */
            break;
        }
        if (is(k, kl, "id") && !(seen & 1) && scan_string(&s, &v, &vl) == 0 && vl < cap) {
            memcpy(rid, v, vl);
            rid[vl] = 0;
            seen |= 1;
        } else if (is(k, kl, "inputs") && !(seen & 2) && scan_eat(&s, '[') &&
                   v2_fast_tensor(&s, x, &count, d, &rank) == 0 && scan_eat(&s, ']')) {
            seen |= 2;
        } else {
            seen = -1;
            break;
        }
    } while (scan_eat(&s, ','));
    int ok = seen >= 2 && scan_eat(&s, '}') && scan_end(&s) && rank == (T > 0 ? 3 : 2) &&
             d[rank - 1] == F && (T == 0 || d[1] == T);
    if (!ok || count != (size_t)d[0] * (size_t)F * (size_t)(T > 0 ? T : 1)) {
        free(*x);
        *x = NULL;
        *rid = 0;
        return -1;
    }
    *n = (int)d[0];
    return 0;
}

/* v2's answer: one FP32 output of n x K, with the request's id when it had one. */
static int v2_answer(struct api_predict *a, struct reply *out)
{
    const struct predict_call *c = &a->call;
    if (c->rc < 0)
        return api_error_json(out, 500, "%s", c->msg);
    char v[16];
    json_t *data = json_array();
    for (size_t i = 0; i < (size_t)c->n * a->K; i++)
        json_array_append_new(data, isfinite(c->y[i]) ? json_real(c->y[i]) : json_null());
    json_t *o = json_pack("{s:s, s:s, s:[{s:s, s:s, s:[i, i], s:o}]}", "model_name",
                          c->p->name ? c->p->name : a->id, "model_version",
                          v2_version(c->p, v, sizeof v), "outputs", "name", "outputs",
                          "datatype", "FP32", "shape", c->n, a->K, "data", data);
    if (o && a->rid && json_object_set_new(o, "id", json_string(a->rid)) < 0) {
        json_decref(o);
        o = NULL;
    }
    return o ? reply_json(out, 200, o) : -1;
}

int h_v2_infer(struct req *r, struct reply *out)
{
    struct predictor *p;
    char id[32], msg[600];
    if (v2_model(r, id, &p, out) < 0)
        return 0;
    const struct nn_spec *spec = nn_get_spec(p->net);
    float *x = NULL;
    int n = 0;
    char fast_id[128];
    const char *rid = NULL;
    json_t *doc = NULL;
    if (v2_fast(r->body, r->len, spec->timesteps, spec->inputs, &x, &n, fast_id,
                sizeof fast_id) == 0)
        rid = *fast_id ? fast_id : NULL;
    else
        doc = req_json_load(r->body, r->len, JSON_DECODE_INT_AS_REAL, out);
    if (!x && !doc) {
        int status = api_problem_text(out, msg, sizeof msg);
        api_error_json(out, status, "%s", msg);
    } else if (!x && v2_rows(doc, spec->timesteps, spec->inputs, &x, &n, &rid, msg,
                             sizeof msg) < 0) {
        api_error_json(out, 400, "%s", msg);
    }
    if (!x || out->status) {
        json_decref(doc);
        free(x);
        predictor_put(p);
        return out->status ? 0 : -1;
    }
    struct api_predict *a = api_predict_new(p, id, x, n, v2_answer);
    if (a && rid && !(a->rid = strdup(rid))) {
        api_predict_free(a);
        a = NULL;
    }
    json_decref(doc);   /* after rid, which may point into it */
    return a ? api_predict_go(a, r, out) : -1;
}
