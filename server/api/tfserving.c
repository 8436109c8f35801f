/* tfserving.c -- TensorFlow Serving's REST protocol on the service's port: predictions
 * by model name (POST /v1/models/{name}[/versions/{n}|/labels/{alias}]:predict, rows as
 * "instances", columns as "inputs"), a version's status and the model's signature
 * (.../metadata). Errors are TF Serving's {"error": "..."}: 400 for a bad request, 404
 * for a model, version or label that is not there.
 *
 * A TF Serving name is a model name of this service (a model id does as well), a
 * version its version and a label its alias: /versions/2 is name@2 and /labels/prod
 * name@prod (model_resolve). The rows are read and run as POST /v1/models/{id}/predict
 * does (api_predict_rows, api_predict_go), so the numbers are the same. GET
 * /v1/models/{name} is the native route, whose answer carries TF Serving's
 * model_version_status too (tfs_version_status). */
#include "api.h"

#include "domain/domain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The reference a TF Serving path names into ref: {name}, {name}@{n} for
 * /versions/{n}, {name}@{alias} for /labels/{alias}. 0, or -1 after replying 404 for a
 * version that is not a number or a label that is one (which the store cannot have). */
static int tfs_ref(const struct req *r, char *ref, size_t cap, struct reply *out)
{
    const char *name = r->param[0], *v = r->nparam > 1 ? r->param[1] : NULL;
    char e[100], q[100];
    text_echo(e, sizeof e, name, strlen(name), 64);
    if (!v) {
        snprintf(ref, cap, "%s", name);
        return 0;
    }
    size_t vl = strlen(v), d = strspn(v, "0123456789");
    text_echo(q, sizeof q, v, vl, 64);
    if (strstr(r->path, "/versions/") && (d != vl || vl > 9 || atoi(v) <= 0))
        return api_error_json(out, 404, "Servable not found for request: Specific(%s, %s): a "
                         "version is a whole number from 1", e, q), -1;
    if (!strstr(r->path, "/versions/") && (d == vl || model_name_check(v, vl, 1, NULL, 0) < 0))
        return api_error_json(out, 404, "Servable not found for request: Label(%s, %s): no such "
                         "label", e, q), -1;
    snprintf(ref, cap, "%s@%s", name, v);
    return 0;
}

/* The model a TF Serving path names, loaded (predictor_put when done); or -1 after
 * replying {"error"} with 404 or 500. */
static int tfs_model(struct req *r, char *id, struct predictor **p, struct reply *out)
{
    char ref[200], msg[400];
    if (tfs_ref(r, ref, sizeof ref, out) < 0)
        return -1;
    int status = api_model_get(ref, id, p, msg, sizeof msg);
    if (status == 503)
        return api_error_json(out, status, "%s", msg), -1;
    if (status)
        return api_error_json(out, status, "Servable not found for request: %s", msg), -1;
    return 0;
}

json_t *tfs_version_status(const struct model *m)
{
    char v[16];
    snprintf(v, sizeof v, "%d", m->name && m->version > 0 ? m->version : 0);
    return json_pack("[{s:s, s:s, s:{s:s, s:s}}]", "version", v, "state", "AVAILABLE",
                     "status", "error_code", "OK", "error_message", "");
}

void tfs_error_member(struct reply *out)
{
    json_error_t e;
    json_t *p = out->body ? json_loadb(out->body, out->len, 0, &e) : NULL;
    json_t *detail = json_object_get(p, "detail");
    char *text = NULL;
    if (json_is_string(detail) && json_object_set(p, "error", detail) == 0 &&
        (text = json_dumps(p, JSON_COMPACT))) {
        free(out->body);
        out->body = text;
        out->len = strlen(text);
    }
    json_decref(p);
}

/* TF Serving's answer: "outputs" for rows that came as "inputs", else "predictions". */
static int tfs_answer(struct api_predict *a, struct reply *out)
{
    if (a->call.rc < 0)
        return api_error_json(out, 500, "%s", a->call.msg);
    json_t *outputs = api_outputs(a->call.y, a->call.n, a->K);
    return reply_json(out, 200, json_pack("{s:o}", a->columnar ? "outputs" : "predictions",
                                          outputs));
}

int h_tfs_predict(struct req *r, struct reply *out)
{
    struct predictor *m;
    char id[32], msg[600];
    if (tfs_model(r, id, &m, out) < 0)
        return 0;
    float *x = NULL;
    int n = 0, columnar = 0;
    if (api_predict_rows(m, "application/json", r->body, r->len, &x, &n, &columnar, out) < 0) {
        predictor_put(m);
        if (!out->status)
            return -1;   /* out of memory */
        int status = api_problem_text(out, msg, sizeof msg);
        return api_error_json(out, status == 413 ? 413 : 400, "%s", msg);
    }
    struct api_predict *a = api_predict_new(m, id, x, n, tfs_answer);
    if (!a)
        return -1;
    a->columnar = columnar;
    return api_predict_go(a, r, out);
}

int h_tfs_status(struct req *r, struct reply *out)
{
    char ref[200], id[32], msg[400] = "";
    if (tfs_ref(r, ref, sizeof ref, out) < 0)
        return 0;
    int rc = model_resolve(ref, id, msg, sizeof msg);
    struct model m;
    if (rc == STORE_OK)
        rc = store_model_get(id, &m);
    if (rc == STORE_NOT_FOUND)
        return api_error_json(out, 404, "Could not find any versions of model %s", *msg ? msg : ref);
    if (rc == STORE_UNAVAILABLE)
        return api_error_json(out, 503, "the database cannot be reached now; try again in a "
                              "few seconds");
    if (rc != STORE_OK)
        return api_error_json(out, 500, "the database failed; see the service's log");
    /* the native answer, with TF Serving's status in it */
    json_t *o = model_json(&m);
    if (o && json_object_set_new(o, "model_version_status", tfs_version_status(&m)) < 0) {
        json_decref(o);
        o = NULL;
    }
    model_free(&m);
    return o ? reply_json(out, 200, o) : -1;
}

/* A tensor's TensorInfo: DT_FLOAT of the dims given (-1 for the batch). New. */
static json_t *tensor_info(const char *name, int d1, int d2)
{
    json_t *dim = json_array();
    int dims[3] = {-1, d1, d2};
    for (int i = 0; i < 3; i++) {
        char v[16];
        if (i && dims[i] <= 0)
            continue;
        snprintf(v, sizeof v, "%d", dims[i]);
        json_array_append_new(dim, json_pack("{s:s, s:s}", "size", v, "name", ""));
    }
    return json_pack("{s:s, s:{s:o, s:b}, s:s}", "dtype", "DT_FLOAT", "tensor_shape", "dim",
                     dim, "unknown_rank", 0, "name", name);
}

int h_tfs_metadata(struct req *r, struct reply *out)
{
    struct predictor *p;
    char id[32];
    if (tfs_model(r, id, &p, out) < 0)
        return 0;
    const struct nn_spec *spec = nn_get_spec(p->net);
    const int T = spec->timesteps, F = spec->inputs, K = nn_outputs(p->net);
    char v[16];
    snprintf(v, sizeof v, "%d", p->version);
    json_t *sig = json_pack("{s:{s:o}, s:{s:o}, s:s}",
                            "inputs", "inputs", tensor_info("inputs", T > 0 ? T : F,
                                                            T > 0 ? F : 0),
                            "outputs", "outputs", tensor_info("outputs", K, 0),
                            "method_name", "tensorflow/serving/predict");
    /* the class names of a classifier's outputs, in their order, beside the signature */
    json_t *o = json_pack("{s:{s:s, s:s, s:s}, s:{s:{s:{s:o}}}, s:O?, s:O?}", "model_spec",
                          "name", p->name ? p->name : id, "signature_name", "", "version", v,
                          "metadata", "signature_def", "signature_def", "serving_default",
                          sig, "classes", p->classes, "columns", p->columns);
    predictor_put(p);
    return o ? reply_json(out, 200, o) : -1;
}
