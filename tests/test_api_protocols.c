/* test_api_protocols.c -- the prediction protocols against the real binary on 127.0.0.1,
 * with requests and answers shaped as each protocol's own documentation shows them
 * (quoted above each test):
 *  - TF Serving's REST API: :predict in the row ("instances") and columnar ("inputs")
 *    formats, by name, /versions/{n} and /labels/{alias}; a version's status; the
 *    signature (metadata); {"error"} with 400 and 404;
 *  - the Open Inference Protocol v2 (KServe, Triton): server metadata, health, a model's
 *    metadata and readiness, /infer with FP32, FP64 and INT64 tensors, by name and
 *    version; {"error"};
 *  - MLflow's scoring server: /invocations with dataframe_split, dataframe_records,
 *    instances, inputs and text/csv, the model by ?model=, X-Model or --default-model;
 *    /ping, /health, /version; {"error_code", "message"};
 *  - every route answers the same numbers, bit for bit, as the native POST
 *    /v1/models/{ref}/predict, for rows and for sequences;
 *  - the probes answer without a token, the predictions need one. */
#include "srvutil.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define J "application/json"

/* Two rows of the 4 inputs of the blobs models, as JSON rows; the same as integers. */
static const char *const ROWS = "[[0.5, 1.25, 2.0, 3.75], [4.1, 0.3, 5.5, 1.7]]";
static const char *const IROWS = "[[1, 2, 3, 4], [5, 0, 2, 1]]";

/* A request with a body of a type (or none); its status must be want. The answer as
 * JSON (new). */
static json_t *ask(const struct server *s, const char *method, const char *path,
                   const char *body, const char *ctype, long want)
{
    struct http_reply h = su_http(s, method, path, body, body ? strlen(body) : 0,
                                  body ? ctype : NULL);
    ck_assert_msg(h.status == want, "%s %s: %ld, not %ld: %s", method, path, h.status, want,
                  h.body);
    json_t *j = su_http_json(&h);
    su_http_free(&h);
    return j;
}

/* The outputs the native route answers for rows (a JSON array) on model ref. New. */
static json_t *native(const struct server *s, const char *ref, const char *rows)
{
    char path[256], body[1024];
    snprintf(path, sizeof path, "/v1/models/%s/predict", ref);
    snprintf(body, sizeof body, "{\"inputs\": %s}", rows);
    json_t *a = ask(s, "POST", path, body, J, 200);
    json_t *o = json_incref(json_object_get(a, "outputs"));
    json_decref(a);
    ck_assert(json_array_size(o) > 0);
    return o;
}

/* a and b hold the same numbers, bit for bit (json_equal compares reals exactly: the
 * same text written by the service). */
static void same(const json_t *a, const json_t *b, const char *what)
{
    char *x = json_dumps(a, JSON_COMPACT), *y = json_dumps(b, JSON_COMPACT);
    ck_assert_msg(a && b && json_equal(a, b), "%s: %s, not %s", what, x, y);
    free(x);
    free(y);
}

/* rows as a flat array (KServe's data), row-major. New. */
static json_t *flat(const json_t *rows)
{
    json_t *f = json_array();
    size_t i, j;
    json_t *r, *v;
    json_array_foreach(rows, i, r) {
        if (!json_is_array(r)) {
            json_array_append(f, r);
            continue;
        }
        json_t *sub = flat(r);
        json_array_foreach(sub, j, v)
            json_array_append(f, v);
        json_decref(sub);
    }
    return f;
}

/* The error of an answer: TF Serving's and KServe's "error", which must contain has. */
static void error_says(const json_t *a, const char *has)
{
    const char *e = su_str(a, "error");
    ck_assert_msg(strstr(e, has), "\"%s\" does not say \"%s\"", e, has);
    ck_assert_int_eq(json_object_size(a), 1);
}

/* A job leaving a model named name, trained with seed; waits for it. */
static void train(const struct server *s, const char *ds, const char *net, const char *name,
                  int seed)
{
    char body[512];
    snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\", \"epochs\": 3, "
             "\"seed\": %d, \"model_name\": \"%s\"}", net, ds, seed, name);
    char *id = su_post_id(s, "/v1/jobs", body, 202);
    json_t *j = su_job_wait(s, id, NULL, 60);
    ck_assert_str_eq(su_str(j, "state"), "succeeded");
    json_decref(j);
    free(id);
}

/* A server with iris versions 1 and 2 (blobs of 4 inputs, classes red, green, blue; two
 * seeds), the alias prod on version 1; with --default-model iris when dflt. */
static void start(struct server *s, int dflt)
{
    const char *const args[] = {"--workers", "1", "--threads", "1", "--default-model",
                                "iris", NULL};
    if (!dflt) {
        static const char *const plain[] = {"--workers", "1", "--threads", "1", NULL};
        su_start(s, plain);
    } else {
        su_start(s, args);
    }
    char *ds = su_dataset(s, 60, 4, 1), *net = su_network(s, 4, 8);
    train(s, ds, net, "iris", 1);
    train(s, ds, net, "iris", 2);
    json_decref(ask(s, "PUT", "/v1/models/iris/aliases/prod", "{\"version\": 1}", J, 201));
    free(ds);
    free(net);
}

static void stop(struct server *s)
{
    su_stop(s, 0);
    su_cleanup(s);
}

/* TF Serving, tensorflow_serving/g3doc/api_rest.md:
 *   POST http://host:port/v1/models/${MODEL_NAME}[/versions/${VERSION}|/labels/${LABEL}]:predict
 *   row format:      {"instances": [...]}  answered  {"predictions": [...]}
 *   columnar format: {"inputs": ...}       answered  {"outputs": ...}
 *   (a named input: {"inputs": {"tag": [...]}})
 *   "In case of error, all APIs will return a JSON object in the response body with
 *   error as key and the error message as the value: {"error": <error message string>}"
 * and its example, curl -d '{"instances": [1.0, 2.0, 5.0]}' -X POST
 * http://localhost:8501/v1/models/half_plus_two:predict, sends curl's default type. */
START_TEST(tfserving_predict)
{
    struct server s = {0};
    start(&s, 0);
    json_t *v2 = native(&s, "iris", ROWS), *v1 = native(&s, "iris@1", ROWS);
    ck_assert_msg(!json_equal(v1, v2), "the two versions answer alike: the test shows nothing");
    char body[1024];

    snprintf(body, sizeof body, "{\"instances\": %s}", ROWS);
    json_t *a = ask(&s, "POST", "/v1/models/iris:predict", body, J, 200);
    ck_assert_int_eq(json_object_size(a), 1);
    same(json_object_get(a, "predictions"), v2, "rows by name");
    json_decref(a);
    a = ask(&s, "POST", "/v1/models/iris:predict", body, "application/x-www-form-urlencoded",
            200);   /* curl -d, as the documentation's examples send */
    same(json_object_get(a, "predictions"), v2, "rows sent as curl -d sends them");
    json_decref(a);
    a = ask(&s, "POST", "/v1/models/iris/versions/1:predict", body, J, 200);
    same(json_object_get(a, "predictions"), v1, "rows of version 1");
    json_decref(a);
    a = ask(&s, "POST", "/v1/models/iris/labels/prod:predict", body, J, 200);
    same(json_object_get(a, "predictions"), v1, "rows of the label prod");
    json_decref(a);
    a = ask(&s, "POST", "/v1/models/iris/versions/2:predict", body, J, 200);
    same(json_object_get(a, "predictions"), v2, "rows of version 2");
    json_decref(a);

    snprintf(body, sizeof body, "{\"signature_name\": \"serving_default\", \"inputs\": %s}",
             ROWS);
    a = ask(&s, "POST", "/v1/models/iris:predict", body, J, 200);
    ck_assert_int_eq(json_object_size(a), 1);
    same(json_object_get(a, "outputs"), v2, "columns");
    json_decref(a);
    snprintf(body, sizeof body, "{\"inputs\": {\"x\": %s}}", ROWS);
    a = ask(&s, "POST", "/v1/models/iris/labels/prod:predict", body, J, 200);
    same(json_object_get(a, "outputs"), v1, "columns as a named input");
    json_decref(a);

    /* errors: 404 for what is not there, 400 for what cannot be read */
    snprintf(body, sizeof body, "{\"instances\": %s}", ROWS);
    static const char *const missing[][2] = {
        {"/v1/models/nope:predict", "no model nope"},
        {"/v1/models/iris/versions/7:predict", "iris has no version 7"},
        {"/v1/models/iris/versions/x1:predict", "a version is a whole number"},
        {"/v1/models/iris/labels/staging:predict", "iris has no alias staging"},
        {"/v1/models/iris/labels/3:predict", "no such label"},
    };
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
        a = ask(&s, "POST", missing[i][0], body, J, 404);
        error_says(a, missing[i][1]);
        json_decref(a);
    }
    static const char *const bad[][2] = {
        {"{\"instances\": [[1, 2, 3]]}", "row 0 has 3 values; the model takes 4 inputs"},
        {"{\"instances\": [[1, 2, 3, \"a\"]]}", "/instances/0/3: not a number"},
        {"{\"instances\": [[1, 2, 3, 4]], \"inputs\": [[1, 2, 3, 4]]}", "not both"},
        {"{\"examples\": [[1, 2, 3, 4]]}", "unknown field \"examples\""},
        {"{\"instances\": [[1, 2, 3, 4]", "malformed JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        a = ask(&s, "POST", "/v1/models/iris:predict", bad[i][0], J, 400);
        error_says(a, bad[i][1]);
        json_decref(a);
    }
    json_decref(v1);
    json_decref(v2);
    stop(&s);
}
END_TEST

/* TF Serving, api_rest.md: "GET http://host:port/v1/models/${MODEL_NAME}
 * [/versions/${VERSION}|/labels/${LABEL}]" returns GetModelStatusResponse, as in its
 * example: {"model_version_status": [{"version": "1", "state": "AVAILABLE", "status":
 * {"error_code": "OK", "error_message": ""}}]}; ".../metadata" returns
 * GetModelMetadataResponse: {"model_spec": {"name", "signature_name", "version"},
 * "metadata": {"signature_def": {"signature_def": {"serving_default": {"inputs": {...:
 * {"dtype": "DT_FLOAT", "tensor_shape": {"dim": [{"size": "-1", "name": ""}, ...],
 * "unknown_rank": false}, "name": ...}}, "outputs": {...}, "method_name":
 * "tensorflow/serving/predict"}}}}}. */
START_TEST(tfserving_status_and_metadata)
{
    struct server s = {0};
    start(&s, 0);
    static const char *const paths[][2] = {
        {"/v1/models/iris", "2"}, {"/v1/models/iris/versions/1", "1"},
        {"/v1/models/iris/labels/prod", "1"}, {"/v1/models/iris/versions/2", "2"}};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        json_t *a = su_get_json(&s, paths[i][0]);
        json_t *want = json_pack("[{s:s, s:s, s:{s:s, s:s}}]", "version", paths[i][1],
                                 "state", "AVAILABLE", "status", "error_code", "OK",
                                 "error_message", "");
        same(json_object_get(a, "model_version_status"), want, paths[i][0]);
        /* the native answer is all there too */
        ck_assert_str_eq(su_str(a, "name"), "iris");
        ck_assert_int_eq(su_int(a, "version"), atoi(paths[i][1]));
        json_decref(want);
        json_decref(a);
    }
    json_t *a = su_get_json(&s, "/v1/models/iris/labels/prod/metadata");
    json_t *spec = json_object_get(a, "model_spec");
    ck_assert_str_eq(su_str(spec, "name"), "iris");
    ck_assert_str_eq(su_str(spec, "version"), "1");
    json_t *sig = json_object_get(json_object_get(json_object_get(json_object_get(a,
                  "metadata"), "signature_def"), "signature_def"), "serving_default");
    ck_assert_str_eq(su_str(sig, "method_name"), "tensorflow/serving/predict");
    json_t *in = json_object_get(json_object_get(sig, "inputs"), "inputs");
    json_t *out = json_object_get(json_object_get(sig, "outputs"), "outputs");
    ck_assert_str_eq(su_str(in, "dtype"), "DT_FLOAT");
    json_t *want = json_pack("{s:[{s:s, s:s}, {s:s, s:s}], s:b}", "dim", "size", "-1", "name",
                             "", "size", "4", "name", "", "unknown_rank", 0);
    same(json_object_get(in, "tensor_shape"), want, "the input's shape");
    json_decref(want);
    want = json_pack("{s:[{s:s, s:s}, {s:s, s:s}], s:b}", "dim", "size", "-1", "name", "",
                     "size", "3", "name", "", "unknown_rank", 0);
    same(json_object_get(out, "tensor_shape"), want, "the output's shape");
    json_decref(want);
    want = json_pack("[s, s, s]", "blue", "green", "red");
    json_t *classes = json_object_get(a, "classes");
    ck_assert_int_eq(json_array_size(classes), 3);
    json_decref(want);
    json_decref(a);
    a = su_get_json(&s, "/v1/models/iris/metadata");
    ck_assert_str_eq(su_str(json_object_get(a, "model_spec"), "version"), "2");
    json_decref(a);

    /* the native route is TF Serving's GET /v1/models/{name} too: its problems carry
       "error" */
    a = ask(&s, "GET", "/v1/models/nope", NULL, NULL, 404);
    ck_assert_str_eq(su_str(a, "error"), su_str(a, "detail"));
    ck_assert_msg(strstr(su_str(a, "error"), "nope"), "%s", su_str(a, "error"));
    json_decref(a);
    a = ask(&s, "GET", "/v1/models/iris@4", NULL, NULL, 404);
    ck_assert_str_eq(su_str(a, "error"), "no model iris@4: iris has no version 4");
    ck_assert_int_eq(su_int(a, "status"), 404);
    json_decref(a);

    static const char *const missing[][2] = {
        {"/v1/models/iris/versions/9", "iris has no version 9"},
        {"/v1/models/iris/labels/staging", "iris has no alias staging"},
        {"/v1/models/nope/metadata", "no model nope"},
        {"/v1/models/iris/versions/9/metadata", "iris has no version 9"},
    };
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
        a = ask(&s, "GET", missing[i][0], NULL, NULL, 404);
        error_says(a, missing[i][1]);
        json_decref(a);
    }
    stop(&s);
}
END_TEST

/* The Open Inference Protocol v2 (kserve/open-inference-protocol,
 * specification/protocol/inference_rest.md):
 *   GET v2 -> {"name": $string, "version": $string, "extensions": [$string, ...]}
 *   GET v2/health/live, v2/health/ready: 200 when live, ready
 *   GET v2/models/${MODEL_NAME}[/versions/${MODEL_VERSION}] -> {"name", "versions":
 *     [$string], "platform", "inputs": [$metadata_tensor], "outputs": [...]}, a tensor
 *     {"name", "datatype", "shape": [-1 for a variable size, ...]}
 *   GET v2/models/${MODEL_NAME}[/versions/${MODEL_VERSION}]/ready
 *   POST v2/models/${MODEL_NAME}[/versions/${MODEL_VERSION}]/infer with
 *     {"id" #optional, "parameters" #optional, "inputs": [{"name", "shape", "datatype",
 *     "data"}], "outputs" #optional: [{"name"}]} answered {"model_name",
 *     "model_version" #optional, "id", "outputs": [{"name", "shape", "datatype",
 *     "data"}]}; its example: "inputs": [{"name": "input0", "shape": [2, 2],
 *     "datatype": "UINT32", "data": [1, 2, 3, 4]}] -- row-major, flat or nested;
 *   errors: {"error": $string} with a 4xx status. */
START_TEST(kserve_v2)
{
    struct server s = {0};
    start(&s, 0);
    json_t *a = su_get_json(&s, "/v2");
    ck_assert_str_eq(su_str(a, "name"), "neurond");
    ck_assert(json_is_string(json_object_get(a, "version")));
    ck_assert(json_is_array(json_object_get(a, "extensions")));
    json_decref(a);
    a = su_get_json(&s, "/v2/health/live");
    ck_assert(json_is_true(json_object_get(a, "live")));
    json_decref(a);
    a = su_get_json(&s, "/v2/health/ready");
    ck_assert(json_is_true(json_object_get(a, "ready")));
    json_decref(a);

    a = su_get_json(&s, "/v2/models/iris");
    json_t *want = json_pack("{s:s, s:[s], s:s, s:[{s:s, s:s, s:[i, i]}], "
                             "s:[{s:s, s:s, s:[i, i]}]}", "name", "iris", "versions", "2",
                             "platform", "neurond", "inputs", "name", "inputs", "datatype",
                             "FP32", "shape", -1, 4, "outputs", "name", "outputs", "datatype",
                             "FP32", "shape", -1, 3);
    json_object_del(a, "parameters");
    same(a, want, "the model's metadata");
    json_decref(want);
    json_decref(a);
    a = su_get_json(&s, "/v2/models/iris/versions/1");
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(a, "versions"), 0)), "1");
    json_decref(a);
    a = su_get_json(&s, "/v2/models/iris/versions/1/ready");
    ck_assert(json_is_true(json_object_get(a, "ready")));
    json_decref(a);

    json_t *v2 = native(&s, "iris", ROWS), *v1 = native(&s, "iris@1", ROWS);
    json_t *i2 = native(&s, "iris", IROWS);
    json_t *f2 = flat(v2), *f1 = flat(v1), *fi = flat(i2);
    json_t *rows = json_loads(ROWS, 0, NULL), *frows = flat(rows);
    char *data = json_dumps(frows, JSON_COMPACT), body[2048];
    snprintf(body, sizeof body, "{\"id\": \"42\", \"inputs\": [{\"name\": \"inputs\", "
             "\"shape\": [2, 4], \"datatype\": \"FP32\", \"data\": %s}], \"outputs\": "
             "[{\"name\": \"outputs\"}]}", data);
    a = ask(&s, "POST", "/v2/models/iris/infer", body, J, 200);
    ck_assert_str_eq(su_str(a, "model_name"), "iris");
    ck_assert_str_eq(su_str(a, "model_version"), "2");
    ck_assert_str_eq(su_str(a, "id"), "42");
    json_t *o = json_array_get(json_object_get(a, "outputs"), 0);
    ck_assert_str_eq(su_str(o, "name"), "outputs");
    ck_assert_str_eq(su_str(o, "datatype"), "FP32");
    want = json_pack("[i, i]", 2, 3);
    same(json_object_get(o, "shape"), want, "the output's shape");
    json_decref(want);
    same(json_object_get(o, "data"), f2, "FP32");
    json_decref(a);
    /* FP64, nested rows, by version and by alias */
    snprintf(body, sizeof body, "{\"inputs\": [{\"name\": \"x\", \"shape\": [2, 4], "
             "\"datatype\": \"FP64\", \"data\": %s}]}", ROWS);
    a = ask(&s, "POST", "/v2/models/iris/versions/1/infer", body, J, 200);
    same(json_object_get(json_array_get(json_object_get(a, "outputs"), 0), "data"), f1,
         "FP64 of version 1");
    ck_assert_str_eq(su_str(a, "model_version"), "1");
    json_decref(a);
    a = ask(&s, "POST", "/v2/models/iris/versions/prod/infer", body, J, 200);
    same(json_object_get(json_array_get(json_object_get(a, "outputs"), 0), "data"), f1,
         "FP64 of the alias prod");
    json_decref(a);
    snprintf(body, sizeof body, "{\"inputs\": [{\"name\": \"inputs\", \"shape\": [2, 4], "
             "\"datatype\": \"INT64\", \"data\": [1, 2, 3, 4, 5, 0, 2, 1]}]}");
    a = ask(&s, "POST", "/v2/models/iris/infer", body, J, 200);
    same(json_object_get(json_array_get(json_object_get(a, "outputs"), 0), "data"), fi,
         "INT64");
    json_decref(a);

    /* errors */
    static const char *const missing[][2] = {
        {"/v2/models/nope/infer", "no model nope"},
        {"/v2/models/iris/versions/7/infer", "iris has no version 7"},
        {"/v2/models/iris/versions/staging/infer", "iris has no alias staging"},
    };
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
        a = ask(&s, "POST", missing[i][0], body, J, 404);
        error_says(a, missing[i][1]);
        json_decref(a);
    }
    a = ask(&s, "GET", "/v2/models/nope", NULL, NULL, 404);
    error_says(a, "no model nope");
    json_decref(a);
    a = ask(&s, "GET", "/v2/models/iris/versions/7/ready", NULL, NULL, 404);
    error_says(a, "iris has no version 7");
    json_decref(a);
    static const char *const bad[][2] = {
        {"{\"inputs\": [{\"name\": \"inputs\", \"shape\": [1, 4], \"datatype\": \"BYTES\", "
         "\"data\": [1, 2, 3, 4]}]}", "datatype must be FP32, FP64, INT64 or INT32, not BYTES"},
        {"{\"inputs\": [{\"name\": \"inputs\", \"shape\": [1, 3], \"datatype\": \"FP32\", "
         "\"data\": [1, 2, 3]}]}", "shape must be [N, 4]"},
        {"{\"inputs\": [{\"name\": \"inputs\", \"shape\": [2, 4], \"datatype\": \"FP32\", "
         "\"data\": [1, 2, 3, 4]}]}", "holds 4 values; its shape says 8"},
        {"{\"inputs\": [{\"name\": \"inputs\", \"shape\": [1, 4], \"datatype\": \"INT64\", "
         "\"data\": [1, 2, 3, 4.5]}]}", "data[3] is 4.5, not an integer"},
        {"{\"inputs\": [{\"name\": \"inputs\", \"shape\": [1, 4], \"datatype\": \"FP32\", "
         "\"data\": [1, 2, 3, 4]}], \"outputs\": [{\"name\": \"probs\"}]}", "one output"},
        {"{\"inputs\": []}", "inputs must be an array of one tensor"},
        /* what the fast reader of the common request must leave to jansson */
        {"{\"inputs\": [{\"name\": \"inputs\", \"shape\": [1, 4], \"datatype\": \"FP32\", "
         "\"data\": [1, 2, 3, 4]}], }", "malformed JSON"},
        {"{\"inputs\": [{\"name\": \"inputs\", \"shape\": [1, 4], \"datatype\": \"FP32\", "
         "\"data\": [1, 2, 3, 4]}], \"id\": \"a\", \"id\": \"b\"}", "duplicate object key"},
        {"{\"inputs\": [{\"name\": \"inputs\"", "malformed JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        a = ask(&s, "POST", "/v2/models/iris/infer", bad[i][0], J, 400);
        error_says(a, bad[i][1]);
        json_decref(a);
    }
    /* an error quoting more than it holds is cut, never inside a character (whichever
       byte the cut falls on) */
    for (int cut_at_odd = 0; cut_at_odd < 2; cut_at_odd++) {
        char *big = malloc(4096);
        ck_assert_ptr_nonnull(big);
        int k = snprintf(big, 4096, "{\"inputs\": [{\"name\": \"inputs\", \"shape\": [1, 4], "
                         "\"data\": [1, 2, 3, 4], \"datatype\": \"%s", cut_at_odd ? "x" : "");
        for (int j = 0; j < 700; j++)
            k += snprintf(big + k, 4096 - (size_t)k, "\xc3\xa9");   /* e acute, 2 bytes */
        snprintf(big + k, 4096 - (size_t)k, "\"}]}");
        a = ask(&s, "POST", "/v2/models/iris/infer", big, J, 400);
        error_says(a, "datatype must be FP32, FP64, INT64 or INT32, not ");
        ck_assert(strstr(su_str(a, "error"), "\xc3\xa9\xc3\xa9"));
        free(big);
        json_decref(a);
    }
    free(data);
    json_decref(rows);
    json_decref(frows);
    json_decref(f1);
    json_decref(f2);
    json_decref(fi);
    json_decref(i2);
    json_decref(v1);
    json_decref(v2);
    stop(&s);
}
END_TEST

/* The predictions of an MLflow answer, checked against want. */
static void mlflow_same(const struct server *s, const char *path, const char *body,
                        const char *ctype, const char *const *headers, const json_t *want,
                        const char *what)
{
    struct http_reply h = su_http_h(s, "POST", path, body, strlen(body), ctype, headers);
    ck_assert_msg(h.status == 200, "%s: %ld %s", what, h.status, h.body);
    json_t *a = su_http_json(&h);
    ck_assert_int_eq(json_object_size(a), 1);
    same(json_object_get(a, "predictions"), want, what);
    json_decref(a);
    su_http_free(&h);
}

/* An MLflow error: its status, error_code and a message that says has. */
static void mlflow_error(const struct server *s, const char *path, const char *body,
                         const char *ctype, long status, const char *code, const char *has)
{
    json_t *a = ask(s, "POST", path, body, ctype, status);
    ck_assert_str_eq(su_str(a, "error_code"), code);
    const char *m = su_str(a, "message");
    ck_assert_msg(strstr(m, has), "\"%s\" does not say \"%s\"", m, has);
    ck_assert_int_eq(json_object_size(a), 2);
    json_decref(a);
}

/* MLflow's scoring server (mlflow.org, "Deploy MLflow Model as a Local Inference Server"
 * and mlflow/pyfunc/scoring_server): POST /invocations takes application/json with one
 * of "dataframe_split" ({"columns": [...], "data": [[...]]}), "dataframe_records"
 * ([{"column": value}, ...]), "instances" or "inputs" (tensors), or text/csv, e.g.
 *   curl http://127.0.0.1:5000/invocations -H "Content-Type:application/json"
 *     --data '{"inputs": [[1, 2], [3, 4], [5, 6]]}'
 * answered {"predictions": [...]}; GET /ping and /health answer 200, /version the
 * version; errors are {"error_code": "BAD_REQUEST", "message": "..."}. */
START_TEST(mlflow_scoring)
{
    struct server s = {0};
    start(&s, 1);
    struct http_reply h = su_http(&s, "GET", "/ping", NULL, 0, NULL);
    ck_assert_int_eq(h.status, 200);
    su_http_free(&h);
    h = su_http(&s, "GET", "/health", NULL, 0, NULL);
    ck_assert_int_eq(h.status, 200);
    su_http_free(&h);
    h = su_http(&s, "GET", "/version", NULL, 0, NULL);
    ck_assert_int_eq(h.status, 200);
    ck_assert_msg(h.len > 0 && strchr(h.body, '.'), "%s", h.body);
    su_http_free(&h);

    json_t *v2 = native(&s, "iris", ROWS), *v1 = native(&s, "iris@1", ROWS);
    char body[2048];
    /* the columns in another order than the model's x0..x3: matched by name */
    mlflow_same(&s, "/invocations?model=iris", "{\"dataframe_split\": {\"columns\": "
                "[\"x3\", \"x2\", \"x1\", \"x0\"], \"data\": [[3.75, 2.0, 1.25, 0.5], "
                "[1.7, 5.5, 0.3, 4.1]]}}", J, NULL, v2, "dataframe_split");
    mlflow_same(&s, "/invocations?model=iris", "{\"dataframe_split\": {\"columns\": "
                "[\"x0\", \"x1\", \"x2\", \"x3\"], \"index\": [0, 1], \"data\": [[0.5, 1.25, "
                "2.0, 3.75], [4.1, 0.3, 5.5, 1.7]]}}", J, NULL, v2, "dataframe_split, pandas' "
                "orient=split in the model's order");
    mlflow_same(&s, "/invocations?model=iris", "{\"dataframe_split\": {\"index\": [0, 1], "
                "\"data\": [[0.5, 1.25, 2.0, 3.75], [4.1, 0.3, 5.5, 1.7]]}}", J, NULL, v2,
                "dataframe_split without columns");
    mlflow_same(&s, "/invocations?model=iris", "{\"dataframe_records\": [{\"x1\": 1.25, "
                "\"x0\": 0.5, \"x2\": 2.0, \"x3\": 3.75}, {\"x0\": 4.1, \"x1\": 0.3, \"x2\": "
                "5.5, \"x3\": 1.7}]}", J, NULL, v2, "dataframe_records");
    snprintf(body, sizeof body, "{\"instances\": %s}", ROWS);
    mlflow_same(&s, "/invocations?model=iris", body, J, NULL, v2, "instances");
    snprintf(body, sizeof body, "{\"inputs\": %s, \"params\": {\"k\": 1}}", ROWS);
    mlflow_same(&s, "/invocations?model=iris", body, J, NULL, v2, "inputs with params");
    snprintf(body, sizeof body, "{\"inputs\": %s}", ROWS);
    mlflow_same(&s, "/invocations", body, J, NULL, v2, "inputs, the default model");
    static const char *const x_model[] = {"X-Model: iris@prod", NULL};
    mlflow_same(&s, "/invocations", body, J, x_model, v1, "inputs, X-Model");
    mlflow_same(&s, "/invocations?model=iris@1", body, J, NULL, v1, "inputs, ?model=iris@1");
    mlflow_same(&s, "/invocations?model=iris", "x3,x2,x1,x0\n3.75,2.0,1.25,0.5\n"
                "1.7,5.5,0.3,4.1\n", "text/csv", NULL, v2, "text/csv");

    mlflow_error(&s, "/invocations?model=nope", body, J, 404, "RESOURCE_DOES_NOT_EXIST",
                 "no model nope");
    mlflow_error(&s, "/invocations?model=iris@7", body, J, 404, "RESOURCE_DOES_NOT_EXIST",
                 "iris has no version 7");
    static const char *const x_staging[] = {"X-Model: iris@staging", NULL};
    h = su_http_h(&s, "POST", "/invocations", body, strlen(body), J, x_staging);
    ck_assert_int_eq(h.status, 404);
    json_t *e = su_http_json(&h);
    ck_assert_str_eq(su_str(e, "error_code"), "RESOURCE_DOES_NOT_EXIST");
    ck_assert_msg(strstr(su_str(e, "message"), "iris has no alias staging"), "%s", h.body);
    json_decref(e);
    su_http_free(&h);
    mlflow_error(&s, "/invocations", "{\"dataframe_split\": {\"columns\": [\"x0\", \"x1\", "
                 "\"x2\", \"petal\"], \"data\": [[1, 2, 3, 4]]}}", J, 400, "BAD_REQUEST",
                 "unknown column \"petal\"");
    mlflow_error(&s, "/invocations", "{\"dataframe_records\": [{\"x0\": 1, \"x1\": 2, "
                 "\"x2\": 3, \"x9\": 4}]}", J, 400, "BAD_REQUEST", "has no column \"x3\"");
    mlflow_error(&s, "/invocations", "{\"dataframe_split\": {\"data\": [[1, 2, \"a\", 4]]}}",
                 J, 400, "BAD_REQUEST", "dataframe_split.data[0][2] is a string");
    mlflow_error(&s, "/invocations", "{\"instances\": [[1, 2, 3]]}", J, 400, "BAD_REQUEST",
                 "row 0 has 3 values");
    mlflow_error(&s, "/invocations", "{\"rows\": [[1, 2, 3, 4]]}", J, 400, "BAD_REQUEST",
                 "unknown field \"rows\"");
    mlflow_error(&s, "/invocations", "{\"inputs\": [[1, 2", J, 400, "BAD_REQUEST", "malformed JSON");
    mlflow_error(&s, "/invocations", "{\"dataframe_split\": {\"data\": [[1, 2, 3, 4]],}}", J,
                 400, "BAD_REQUEST", "malformed JSON");
    mlflow_error(&s, "/invocations", "x0,x1,x2,petal\n1,2,3,4\n", "text/csv", 400,
                 "BAD_REQUEST", "does not name the model's columns (1 unknown, 0 repeated, "
                 "1 missing); they are: x0, x1, x2, x3 (at /header/columns/3)");
    json_decref(v1);
    json_decref(v2);
    stop(&s);
}
END_TEST

/* A model of sequences (3 steps of 2 features, a gru, mse) through every protocol:
 * TF Serving's [N][T][F], KServe's shape [N, T, F], MLflow's nested tensors and its flat
 * DataFrames and CSV (T x F values a row, time-major), all as the native route. Without
 * --default-model, /invocations without a model is a 400. */
START_TEST(sequences_everywhere)
{
    struct server s = {0};
    static const char *const args[] = {"--workers", "1", "--threads", "1", NULL};
    su_start(&s, args);
    const char *ds = "{\"name\": \"seq\", \"features\": [[[1, 0], [2, 1], [3, 0]], [[0, 1], "
                     "[1, 1], [2, 0]], [[3, 0], [1, 0], [0, 1]], [[2, 2], [1, 1], [0, 0]]], "
                     "\"labels\": [6, 3, 4, 3], \"columns\": [\"value\", \"marker\"]}";
    char *dsid = su_post_id(&s, "/v1/datasets", ds, 201);
    char body[2048];
    snprintf(body, sizeof body, "{\"network\": {\"inputs\": 2, \"timesteps\": 3, \"layers\": "
             "[{\"type\": \"gru\", \"units\": 4}, {\"type\": \"dense\", \"units\": 1}], "
             "\"loss\": \"mse\"}, \"dataset\": \"%s\", \"epochs\": 2, \"seed\": 3, "
             "\"model_name\": \"seq\"}", dsid);
    char *job = su_post_id(&s, "/v1/jobs", body, 202);
    json_t *j = su_job_wait(&s, job, NULL, 60);
    ck_assert_str_eq(su_str(j, "state"), "succeeded");
    json_decref(j);

    const char *rows = "[[[0.5, 1], [1.5, 0], [2.25, 1]], [[3, 0], [0.1, 1], [2, 0]]]";
    json_t *want = native(&s, "seq", rows), *a;
    snprintf(body, sizeof body, "{\"instances\": %s}", rows);
    a = ask(&s, "POST", "/v1/models/seq:predict", body, J, 200);
    same(json_object_get(a, "predictions"), want, "TF Serving rows");
    json_decref(a);
    snprintf(body, sizeof body, "{\"inputs\": %s}", rows);
    a = ask(&s, "POST", "/v1/models/seq/versions/1:predict", body, J, 200);
    same(json_object_get(a, "outputs"), want, "TF Serving columns");
    json_decref(a);
    a = su_get_json(&s, "/v1/models/seq/metadata");
    json_t *dims = json_object_get(json_object_get(json_object_get(json_object_get(
        json_object_get(json_object_get(json_object_get(json_object_get(a, "metadata"),
        "signature_def"), "signature_def"), "serving_default"), "inputs"), "inputs"),
        "tensor_shape"), "dim");
    ck_assert_int_eq(json_array_size(dims), 3);
    ck_assert_str_eq(su_str(json_array_get(dims, 1), "size"), "3");
    ck_assert_str_eq(su_str(json_array_get(dims, 2), "size"), "2");
    json_decref(a);

    json_t *fw = flat(want);
    snprintf(body, sizeof body, "{\"inputs\": [{\"name\": \"inputs\", \"shape\": [2, 3, 2], "
             "\"datatype\": \"FP32\", \"data\": %s}]}", rows);
    a = ask(&s, "POST", "/v2/models/seq/infer", body, J, 200);
    same(json_object_get(json_array_get(json_object_get(a, "outputs"), 0), "data"), fw,
         "KServe [N, T, F]");
    json_decref(a);
    a = su_get_json(&s, "/v2/models/seq");
    json_t *shape = json_pack("[i, i, i]", -1, 3, 2);
    same(json_object_get(json_array_get(json_object_get(a, "inputs"), 0), "shape"), shape,
         "KServe's input shape");
    json_decref(shape);
    json_decref(a);
    snprintf(body, sizeof body, "{\"inputs\": [{\"name\": \"inputs\", \"shape\": [2, 2, 3], "
             "\"datatype\": \"FP32\", \"data\": %s}]}", rows);
    a = ask(&s, "POST", "/v2/models/seq/infer", body, J, 400);
    error_says(a, "shape must be [N, 3, 2]");
    json_decref(a);

    snprintf(body, sizeof body, "{\"inputs\": %s}", rows);
    mlflow_same(&s, "/invocations?model=seq", body, J, NULL, want, "MLflow inputs");
    mlflow_same(&s, "/invocations?model=seq", "{\"dataframe_split\": {\"data\": [[0.5, 1, "
                "1.5, 0, 2.25, 1], [3, 0, 0.1, 1, 2, 0]]}}", J, NULL, want,
                "MLflow dataframe_split, flat");
    mlflow_same(&s, "/invocations?model=seq", "0.5,1,1.5,0,2.25,1\n3,0,0.1,1,2,0\n",
                "text/csv", NULL, want, "MLflow CSV, flat");
    mlflow_error(&s, "/invocations", body, J, 400, "BAD_REQUEST", "--default-model");
    json_decref(fw);
    json_decref(want);
    free(job);
    free(dsid);
    stop(&s);
}
END_TEST

/* What a name, name@alias and a label name follows every change at once, through the
 * protocols (which resolve names on every request, from a cache): a new version, an
 * alias moved, an alias deleted, a version deleted. */
START_TEST(names_follow_changes)
{
    struct server s = {0};
    start(&s, 1);
    char body[1024], id[64];
    snprintf(body, sizeof body, "{\"instances\": %s}", ROWS);
    json_t *v1 = native(&s, "iris@1", ROWS), *v2 = native(&s, "iris@2", ROWS), *a;
    /* looked up, and so cached: iris is 2, prod is 1 */
    for (int k = 0; k < 2; k++) {
        a = ask(&s, "POST", "/v1/models/iris:predict", body, J, 200);
        same(json_object_get(a, "predictions"), v2, "iris");
        json_decref(a);
        a = ask(&s, "POST", "/v1/models/iris/labels/prod:predict", body, J, 200);
        same(json_object_get(a, "predictions"), v1, "prod");
        json_decref(a);
    }
    /* a third version: iris names it */
    char *ds = su_dataset(&s, 60, 4, 1), *net = su_network(&s, 4, 8);
    train(&s, ds, net, "iris", 3);
    json_t *v3 = native(&s, "iris@3", ROWS);
    a = ask(&s, "POST", "/v1/models/iris:predict", body, J, 200);
    same(json_object_get(a, "predictions"), v3, "iris after version 3");
    json_decref(a);
    snprintf(body, sizeof body, "{\"inputs\": %s}", ROWS);
    a = ask(&s, "POST", "/invocations", body, J, 200);   /* --default-model iris */
    same(json_object_get(a, "predictions"), v3, "the default model after version 3");
    json_decref(a);
    /* prod moves to 2, then goes */
    json_decref(ask(&s, "PUT", "/v1/models/iris/aliases/prod", "{\"version\": 2}", J, 200));
    snprintf(body, sizeof body, "{\"instances\": %s}", ROWS);
    a = ask(&s, "POST", "/v1/models/iris/labels/prod:predict", body, J, 200);
    same(json_object_get(a, "predictions"), v2, "prod moved to 2");
    json_decref(a);
    struct http_reply h = su_http(&s, "DELETE", "/v1/models/iris/aliases/prod", NULL, 0, NULL);
    ck_assert_int_eq(h.status, 204);
    su_http_free(&h);
    a = ask(&s, "POST", "/v1/models/iris/labels/prod:predict", body, J, 404);
    error_says(a, "iris has no alias prod");
    json_decref(a);
    /* version 3 deleted: iris is 2 again */
    json_t *m = su_get_json(&s, "/v1/models/iris@3");
    snprintf(id, sizeof id, "/v1/models/%s", su_str(m, "id"));
    json_decref(m);
    h = su_http(&s, "DELETE", id, NULL, 0, NULL);
    ck_assert_int_eq(h.status, 204);
    su_http_free(&h);
    a = ask(&s, "POST", "/v1/models/iris:predict", body, J, 200);
    same(json_object_get(a, "predictions"), v2, "iris after version 3 went");
    json_decref(a);
    free(ds);
    free(net);
    json_decref(v1);
    json_decref(v2);
    json_decref(v3);
    stop(&s);
}
END_TEST

/* With tokens: the protocols' probes answer without one (as /healthz does), their
 * predictions and metadata need one, and a read token may predict. */
START_TEST(tokens)
{
    struct server s = {0};
    char dir[256], file[300];
    su_tmpdir(dir, sizeof dir, "tokens");
    snprintf(file, sizeof file, "%s/tokens", dir);
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fputs("write-token-0123456789abcdef\nread-token-0123456789abcdef read viewer\n", f);
    fclose(f);
    const char *const args[] = {"--token-file", file, NULL};
    su_start(&s, args);
    static const char *const open[] = {"/v2/health/live", "/v2/health/ready", "/ping",
                                       "/health", "/version"};
    for (size_t i = 0; i < sizeof open / sizeof open[0]; i++) {
        struct http_reply h = su_http(&s, "GET", open[i], NULL, 0, NULL);
        ck_assert_msg(h.status == 200, "%s: %ld", open[i], h.status);
        su_http_free(&h);
    }
    static const char *const closed[][2] = {
        {"POST", "/v1/models/iris:predict"}, {"POST", "/v2/models/iris/infer"},
        {"POST", "/invocations"}, {"GET", "/v2"}, {"GET", "/v2/models/iris"},
        {"GET", "/v1/models/iris/metadata"}};
    for (size_t i = 0; i < sizeof closed / sizeof closed[0]; i++) {
        struct http_reply h = su_http(&s, closed[i][0], closed[i][1], "{}", 2, J);
        ck_assert_msg(h.status == 401, "%s: %ld", closed[i][1], h.status);
        su_http_free(&h);
    }
    /* a read token gets as far as the model (there is none) */
    snprintf(s.token, sizeof s.token, "read-token-0123456789abcdef");
    json_t *a = ask(&s, "POST", "/v1/models/iris:predict", "{\"instances\": [[1]]}", J, 404);
    error_says(a, "no model iris");
    json_decref(a);
    a = ask(&s, "POST", "/invocations?model=iris", "{\"instances\": [[1]]}", J, 404);
    json_decref(a);
    stop(&s);
    su_rmdir(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("api_protocols");
    TCase *t = tcase_create("protocols");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, tfserving_predict);
    tcase_add_test(t, tfserving_status_and_metadata);
    tcase_add_test(t, kserve_v2);
    tcase_add_test(t, mlflow_scoring);
    tcase_add_test(t, sequences_everywhere);
    tcase_add_test(t, names_follow_changes);
    tcase_add_test(t, tokens);
    suite_add_tcase(s, t);
    return tu_run(s) != 0;
}
