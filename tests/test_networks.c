/* test_networks.c -- server/domain/networks.c and fields.c: definitions in JSON to the
 * engine's spec, every fault named by its exact pointer (several at once, with a base
 * prefix), defaults, limits on nesting and layer counts, back to JSON, summary and
 * warnings. Expected pointers, parameter counts and defaults are written out by hand from
 * docs/DESIGN.md and
 * core/nn.h. */
#include "domain/domain.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The example of docs/DESIGN.md. */
static const char fashion[] =
    "{\"name\": \"fashion-mlp\", \"inputs\": 784, \"layers\": ["
    " {\"type\": \"dense\", \"units\": 256, \"activation\": \"relu\"},"
    " {\"type\": \"dropout\", \"rate\": 0.2},"
    " {\"type\": \"residual\", \"layers\": ["
    "   {\"type\": \"dense\", \"units\": 256, \"activation\": \"relu\"},"
    "   {\"type\": \"batchnorm\"}]},"
    " {\"type\": \"dense\", \"units\": 10, \"activation\": \"softmax\"}],"
    " \"loss\": \"categorical_crossentropy\", \"metrics\": [\"accuracy\"]}";

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    ck_assert_msg(j != NULL, "test JSON: %s: %s", e.text, text);
    return j;
}

/* Builds a definition that must be accepted. */
static void accept(const char *text, struct spec_json *s)
{
    json_t *def = parse(text), *errors = NULL;
    int rc = spec_from_json(def, "", 0, s, &errors);
    char *e = errors ? json_dumps(errors, 0) : NULL;
    ck_assert_msg(rc == 0, "refused: %s\n%s", e ? e : "", text);
    ck_assert_ptr_null(errors);
    free(e);
    json_decref(def);
}

/* Builds a definition that must be refused; returns the errors (new). */
static json_t *refuse_def(const json_t *def, const char *base, size_t max_params)
{
    struct spec_json s;
    json_t *errors = NULL;
    ck_assert_int_eq(spec_from_json(def, base, max_params, &s, &errors), -1);
    ck_assert_ptr_nonnull(errors);
    ck_assert_int_ge(json_array_size(errors), 1);
    ck_assert_ptr_null(s.layers);
    ck_assert_ptr_null(s.name);
    size_t i;
    json_t *e;
    json_array_foreach(errors, i, e) {
        ck_assert(json_is_string(json_object_get(e, "pointer")));
        ck_assert(json_string_length(json_object_get(e, "detail")) > 0);
        ck_assert_int_eq(json_object_size(e), 2);
    }
    return errors;
}

static json_t *refuse(const char *text, const char *base)
{
    json_t *def = parse(text);
    json_t *errors = refuse_def(def, base, 0);
    json_decref(def);
    return errors;
}

static const char *pointer_at(const json_t *errors, size_t i)
{
    return json_string_value(json_object_get(json_array_get(errors, i), "pointer"));
}

static const char *detail_at(const json_t *errors, size_t i)
{
    return json_string_value(json_object_get(json_array_get(errors, i), "detail"));
}

/* The definition has exactly one fault, at pointer, whose detail contains `word`. */
static void one_fault(const char *text, const char *pointer, const char *word)
{
    json_t *errors = refuse(text, "");
    char *all = json_dumps(errors, 0);
    ck_assert_msg(json_array_size(errors) == 1, "%s\ngave %s", text, all);
    ck_assert_msg(strcmp(pointer_at(errors, 0), pointer) == 0, "%s\nat %s, not %s", text,
                  pointer_at(errors, 0), pointer);
    ck_assert_msg(strstr(detail_at(errors, 0), word) != NULL, "%s\ndetail \"%s\" lacks \"%s\"",
                  text, detail_at(errors, 0), word);
    free(all);
    json_decref(errors);
}

/* A definition with one layer (JSON text) before a valid dense output. */
static char *with_layer(const char *layer)
{
    static char buf[2048];
    snprintf(buf, sizeof buf, "{\"inputs\": 4, \"layers\": [%s, {\"type\": \"dense\", "
             "\"units\": 2}], \"loss\": \"mse\"}", layer);
    return buf;
}

/* ---- the docs/DESIGN.md example ---- */

START_TEST(design_example)
{
    struct spec_json s;
    accept(fashion, &s);
    ck_assert_str_eq(s.name, "fashion-mlp");
    ck_assert_int_eq(s.spec.inputs, 784);
    ck_assert_int_eq(s.spec.nlayers, 4);
    ck_assert_int_eq(s.spec.loss, NN_CCE);
    ck_assert_uint_eq(s.spec.metrics, 1u << NN_METRIC_ACCURACY);
    const struct nn_layer_spec *l = s.spec.layers;
    ck_assert_ptr_eq(l, s.layers);
    ck_assert_int_eq(l[0].kind, NN_DENSE);
    ck_assert_int_eq(l[0].units, 256);
    ck_assert_int_eq(l[0].act, NN_RELU);
    ck_assert_int_eq(l[1].kind, NN_DROPOUT);
    ck_assert_float_eq(l[1].rate, 0.2f);
    ck_assert_int_eq(l[2].kind, NN_RESIDUAL);
    ck_assert_int_eq(l[2].nlayers, 2);
    /* the body lives in the same array, after the top level */
    ck_assert(l[2].layers >= s.layers + 4 && l[2].layers + 2 <= s.layers + 6);
    ck_assert_int_eq(l[2].layers[0].kind, NN_DENSE);
    ck_assert_int_eq(l[2].layers[0].units, 256);
    ck_assert_int_eq(l[2].layers[1].kind, NN_BATCHNORM);
    ck_assert_int_eq(l[3].units, 10);
    ck_assert_int_eq(l[3].act, NN_SOFTMAX);

    /* 784*256+256 + (256*256+256 + 2*256) + 256*10+10 */
    size_t np = 0;
    struct nn_error err;
    ck_assert_int_eq(nn_spec_check(&s.spec, 0, &np, &err), 0);
    ck_assert_uint_eq(np, 200960 + 65792 + 512 + 2570);
    ck_assert_uint_eq(np, 269834);
    spec_json_free(&s);
    ck_assert_ptr_null(s.layers);
    spec_json_free(&s);   /* twice is harmless */
    spec_json_free(NULL);
}
END_TEST

START_TEST(defaults)
{
    struct spec_json s;
    accept("{\"inputs\": 3, \"layers\": [{\"type\": \"dense\", \"units\": 5},"
           " {\"type\": \"batchnorm\"}, {\"type\": \"activation\", \"activation\": "
           "\"leaky_relu\"}, {\"type\": \"dense\", \"units\": 1, \"activation\": "
           "\"leaky_relu\", \"alpha\": 0.2, \"init\": \"he_uniform\"}], \"loss\": \"mae\"}",
           &s);
    const struct nn_layer_spec *l = s.spec.layers;
    ck_assert_ptr_null(s.name);
    ck_assert_uint_eq(s.spec.metrics, 0);
    ck_assert_int_eq(s.spec.loss, NN_MAE);
    ck_assert_int_eq(l[0].act, NN_LINEAR);         /* dense: linear, auto */
    ck_assert_int_eq(l[0].init, NN_INIT_AUTO);
    ck_assert_float_eq(l[1].momentum, 0.99f);      /* batchnorm: 0.99, 1e-3 */
    ck_assert_float_eq(l[1].epsilon, 1e-3f);
    ck_assert_int_eq(l[2].act, NN_LEAKY_RELU);     /* leaky_relu: alpha 0.01 */
    ck_assert_float_eq(l[2].alpha, 0.01f);
    ck_assert_float_eq(l[3].alpha, 0.2f);
    ck_assert_int_eq(l[3].init, NN_INIT_HE_UNIFORM);
    spec_json_free(&s);

    /* null means "not given"; a whole number written as a real is a whole number */
    accept("{\"name\": null, \"inputs\": 4.0, \"layers\": [{\"type\": \"dense\", \"units\": "
           "1e1, \"activation\": null}], \"loss\": \"mse\", \"metrics\": null}", &s);
    ck_assert_ptr_null(s.name);
    ck_assert_int_eq(s.spec.inputs, 4);
    ck_assert_int_eq(s.spec.layers[0].units, 10);
    ck_assert_int_eq(s.spec.layers[0].act, NN_LINEAR);
    spec_json_free(&s);
}
END_TEST

START_TEST(metrics_set)
{
    struct spec_json s;
    accept("{\"inputs\": 2, \"layers\": [{\"type\": \"dense\", \"units\": 1}], \"loss\": "
           "\"mse\", \"metrics\": [\"mse\", \"mae\", \"mse\"]}", &s);
    ck_assert_uint_eq(s.spec.metrics, (1u << NN_METRIC_MSE) | (1u << NN_METRIC_MAE));
    spec_json_free(&s);
}
END_TEST

/* ---- one fault of each kind, at its exact pointer ---- */

START_TEST(err_top_level)
{
    one_fault("[1, 2]", "", "must be a JSON object");
    one_fault("\"dense\"", "", "not a string");
    one_fault("{\"layers\": [{\"type\": \"dense\", \"units\": 1}], \"loss\": \"mse\"}",
              "/inputs", "required");
    one_fault("{\"inputs\": \"4\", \"layers\": [{\"type\": \"dense\", \"units\": 1}], "
              "\"loss\": \"mse\"}", "/inputs", "not a string");
    one_fault("{\"inputs\": 4.5, \"layers\": [{\"type\": \"dense\", \"units\": 1}], "
              "\"loss\": \"mse\"}", "/inputs", "whole number");
    one_fault("{\"inputs\": 0, \"layers\": [{\"type\": \"dense\", \"units\": 1}], "
              "\"loss\": \"mse\"}", "/inputs", "from 1 to 16777216");
    one_fault("{\"inputs\": false, \"layers\": [{\"type\": \"dense\", \"units\": 1}], "
              "\"loss\": \"mse\"}", "/inputs", "not false");
    one_fault("{\"inputs\": 2, \"loss\": \"mse\"}", "/layers", "required");
    one_fault("{\"inputs\": 2, \"layers\": {}, \"loss\": \"mse\"}", "/layers",
              "not an object");
    one_fault("{\"inputs\": 2, \"layers\": [], \"loss\": \"mse\"}", "/layers",
              "at least one layer");
    one_fault("{\"inputs\": 2, \"layers\": [{\"type\": \"dense\", \"units\": 1}]}", "/loss",
              "required");
    one_fault("{\"inputs\": 2, \"layers\": [{\"type\": \"dense\", \"units\": 1}], \"loss\": "
              "\"cross_entropy\"}", "/loss",
              "mse, mae, binary_crossentropy, categorical_crossentropy");
    one_fault("{\"inputs\": 2, \"layers\": [{\"type\": \"dense\", \"units\": 1}], \"loss\": "
              "7}", "/loss", "must be a string");
    one_fault("{\"inputs\": 2, \"layers\": [{\"type\": \"dense\", \"units\": 1}], \"loss\": "
              "\"mse\", \"metrics\": \"accuracy\"}", "/metrics", "must be an array");
    one_fault("{\"inputs\": 2, \"layers\": [{\"type\": \"dense\", \"units\": 1}], \"loss\": "
              "\"mse\", \"metrics\": [\"accuracy\", \"f1\"]}", "/metrics/1",
              "accuracy, mae, mse");
    one_fault("{\"name\": 5, \"inputs\": 2, \"layers\": [{\"type\": \"dense\", \"units\": 1}],"
              " \"loss\": \"mse\"}", "/name", "must be a string");
    one_fault("{\"name\": \"\", \"inputs\": 2, \"layers\": [{\"type\": \"dense\", \"units\": "
              "1}], \"loss\": \"mse\"}", "/name", "from 1 to 200 bytes");
    one_fault("{\"name\": \"a\\u0000b\", \"inputs\": 2, \"layers\": [{\"type\": \"dense\", "
              "\"units\": 1}], \"loss\": \"mse\"}", "/name", "NUL");
    one_fault("{\"inputs\": 2, \"layers\": [{\"type\": \"dense\", \"units\": 1}], \"loss\": "
              "\"mse\", \"optimizer\": \"adam\"}", "/optimizer",
              "unknown field \"optimizer\"");
}
END_TEST

START_TEST(err_dense)
{
    one_fault(with_layer("{\"type\": \"dense\", \"units\": 0}"), "/layers/0/units",
              "from 1 to 16777216, not 0");
    one_fault(with_layer("{\"type\": \"dense\", \"units\": 1e12}"), "/layers/0/units",
              "from 1 to 16777216");
    one_fault(with_layer("{\"type\": \"dense\", \"units\": 1000000000000}"),
              "/layers/0/units", "not 1000000000000");
    one_fault(with_layer("{\"type\": \"dense\", \"units\": -3}"), "/layers/0/units", "-3");
    one_fault(with_layer("{\"type\": \"dense\", \"units\": 16.5}"), "/layers/0/units",
              "whole number");
    one_fault(with_layer("{\"type\": \"dense\", \"units\": \"16\"}"), "/layers/0/units",
              "not a string");
    one_fault(with_layer("{\"type\": \"dense\", \"units\": true}"), "/layers/0/units",
              "not true");
    one_fault(with_layer("{\"type\": \"dense\", \"units\": [16]}"), "/layers/0/units",
              "not an array");
    one_fault(with_layer("{\"type\": \"dense\"}"), "/layers/0/units", "required");
    one_fault(with_layer("{\"type\": \"dense\", \"units\": 4, \"activation\": \"gelu\"}"),
              "/layers/0/activation", "linear, step, sigmoid, tanh, relu, leaky_relu, softmax");
    one_fault(with_layer("{\"type\": \"dense\", \"units\": 4, \"activation\": 1}"),
              "/layers/0/activation", "must be a string");
    one_fault(with_layer("{\"type\": \"dense\", \"units\": 4, \"init\": \"xavier\"}"),
              "/layers/0/init",
              "auto, he_normal, he_uniform, glorot_normal, glorot_uniform, zeros");
    one_fault(with_layer("{\"type\": \"dense\", \"units\": 4, \"activation\": \"relu\", "
                         "\"alpha\": 0.1}"), "/layers/0/alpha", "only to the leaky_relu");
    one_fault(with_layer("{\"type\": \"dense\", \"units\": 4, \"activation\": \"leaky_relu\", "
                         "\"alpha\": \"0.1\"}"), "/layers/0/alpha", "must be a number");
    one_fault(with_layer("{\"type\": \"dense\", \"units\": 4, \"activation\": \"leaky_relu\", "
                         "\"alpha\": 1e300}"), "/layers/0/alpha", "32-bit float");
    one_fault(with_layer("{\"type\": \"dense\", \"units\": 4, \"rate\": 0.5}"),
              "/layers/0/rate", "unknown field \"rate\" in a dense layer");
}
END_TEST

/* A long unknown name is quoted cut to at most 64 bytes, between two characters: cut
 * inside one, the detail was not UTF-8 and the fault was lost (the client saw only "and 1
 * more fault not listed"). */
START_TEST(err_long_names)
{
    char name[80], text[400], quoted[80];
    memset(name, 'a', 63);
    snprintf(name + 63, sizeof name - 63, "\xc3\xa9tc");   /* 'é' at bytes 63 and 64 */
    memset(quoted, 'a', 63);
    snprintf(quoted + 63, sizeof quoted - 63, "...\"");     /* cut before the 'é' */
    snprintf(text, sizeof text, "{\"type\": \"dense\", \"units\": 4, \"activation\": \"%s\"}",
             name);
    one_fault(with_layer(text), "/layers/0/activation", quoted);
    char pointer[100];
    snprintf(pointer, sizeof pointer, "/layers/0/%s", name);
    snprintf(text, sizeof text, "{\"type\": \"dense\", \"units\": 4, \"%s\": 1}", name);
    one_fault(with_layer(text), pointer, quoted);
}
END_TEST

START_TEST(err_other_layers)
{
    one_fault(with_layer("7"), "/layers/0", "must be an object");
    one_fault(with_layer("{\"units\": 4}"), "/layers/0/type", "required");
    one_fault(with_layer("{\"type\": \"conv2d\", \"filters\": 3}"), "/layers/0/type",
              "dense, activation, dropout, batchnorm, residual");
    one_fault(with_layer("{\"type\": \"Dense\", \"units\": 4}"), "/layers/0/type",
              "unknown layer type \"Dense\"");
    one_fault(with_layer("{\"type\": \"activation\"}"), "/layers/0/activation", "required");
    one_fault(with_layer("{\"type\": \"activation\", \"activation\": \"swish\"}"),
              "/layers/0/activation", "softmax");
    one_fault(with_layer("{\"type\": \"dropout\"}"), "/layers/0/rate", "required");
    one_fault(with_layer("{\"type\": \"dropout\", \"rate\": 1}"), "/layers/0/rate",
              "below 1, not 1");
    one_fault(with_layer("{\"type\": \"dropout\", \"rate\": -0.1}"), "/layers/0/rate",
              "at least 0");
    one_fault(with_layer("{\"type\": \"dropout\", \"rate\": \"0.5\"}"), "/layers/0/rate",
              "not a string");
    one_fault(with_layer("{\"type\": \"batchnorm\", \"momentum\": 1.5}"),
              "/layers/0/momentum", "from 0 to 1");
    one_fault(with_layer("{\"type\": \"batchnorm\", \"epsilon\": 0}"), "/layers/0/epsilon",
              "above 0");
    one_fault(with_layer("{\"type\": \"batchnorm\", \"epsilon\": 1e-50}"),
              "/layers/0/epsilon", "32-bit float");
    one_fault(with_layer("{\"type\": \"batchnorm\", \"momentum\": true}"),
              "/layers/0/momentum", "not true");
    one_fault(with_layer("{\"type\": \"residual\"}"), "/layers/0/layers", "required");
    one_fault(with_layer("{\"type\": \"residual\", \"layers\": []}"), "/layers/0/layers",
              "at least one layer");
    one_fault(with_layer("{\"type\": \"residual\", \"layers\": [{\"type\": \"dense\", "
                         "\"units\": 4, \"bias\": false}]}"),
              "/layers/0/layers/0/bias", "unknown field \"bias\"");
    /* keys are escaped as RFC 6901 says */
    one_fault(with_layer("{\"type\": \"dropout\", \"rate\": 0.1, \"a/b~c\": 1}"),
              "/layers/0/a~1b~0c", "unknown field");
    /* a key with a NUL inside (jansson's parser refuses them, a caller may build one) is
     * not the field it starts with; the pointer keeps it */
    json_t *def = parse(with_layer("{\"type\": \"dropout\", \"rate\": 0.1}"));
    json_object_setn_new(json_array_get(json_object_get(def, "layers"), 0), "rate\0x", 6,
                         json_integer(1));
    json_t *errors = refuse_def(def, "", 0);
    ck_assert_int_eq(json_array_size(errors), 1);
    json_t *p = json_object_get(json_array_get(errors, 0), "pointer");
    ck_assert_int_eq(json_string_length(p), 16);
    ck_assert_mem_eq(json_string_value(p), "/layers/0/rate\0x", 16);
    json_decref(def);
    json_decref(errors);
}
END_TEST

/* ---- several at once, the base prefix ---- */

START_TEST(err_several_at_once)
{
    json_t *errors = refuse(
        "{\"inputs\": \"784\", \"colour\": 1, \"layers\": ["
        " {\"type\": \"dense\", \"units\": 0, \"activation\": \"relux\"},"
        " {\"type\": \"dropout\", \"rate\": 2},"
        " {\"type\": \"residual\", \"layers\": [{\"type\": \"batchnorm\", \"momentum\": -1},"
        "   {\"type\": \"nope\"}]},"
        " {\"type\": \"dense\", \"units\": 10, \"activation\": \"softmax\"}],"
        " \"loss\": \"hinge\", \"metrics\": [\"accuracy\", 3]}", "/network");
    static const char *const want[] = {
        "/network/colour", "/network/inputs", "/network/layers/0/units",
        "/network/layers/0/activation", "/network/layers/1/rate",
        "/network/layers/2/layers/0/momentum", "/network/layers/2/layers/1/type",
        "/network/loss", "/network/metrics/1"};
    size_t n = sizeof want / sizeof *want;
    char *all = json_dumps(errors, JSON_INDENT(1));
    ck_assert_msg(json_array_size(errors) == n, "%s", all);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(strcmp(pointer_at(errors, i), want[i]) == 0, "error %zu at %s, not %s",
                      i, pointer_at(errors, i), want[i]);
    free(all);
    json_decref(errors);
}
END_TEST

START_TEST(err_capped)
{
    /* 3000 faulty layers: FAULTS_MAX listed, one more entry counts the rest */
    json_t *layers = json_array();
    for (int i = 0; i < 3000; i++)
        json_array_append_new(layers, json_pack("{s:s, s:s}", "type", "dense", "units", "x"));
    json_t *def = json_pack("{s:i, s:o, s:s}", "inputs", 4, "layers", layers, "loss", "mse");
    json_t *errors = refuse_def(def, "", 0);
    ck_assert_int_eq(json_array_size(errors), FAULTS_MAX + 1);
    ck_assert_str_eq(pointer_at(errors, 99), "/layers/99/units");
    ck_assert_str_eq(pointer_at(errors, FAULTS_MAX), "");
    ck_assert_str_eq(detail_at(errors, FAULTS_MAX), "and 2900 more faults not listed");
    json_decref(errors);
    json_decref(def);
}
END_TEST

/* ---- limits: nesting and layer counts ---- */

/* A definition of `depth` residual blocks nested in each other around one dense layer,
 * built without recursion. */
static json_t *nested(int depth)
{
    json_t *layers = json_pack("[{s:s, s:i}]", "type", "dense", "units", 4);
    for (int i = 0; i < depth; i++)
        layers = json_pack("[{s:s, s:o}]", "type", "residual", "layers", layers);
    return json_pack("{s:i, s:o, s:s}", "inputs", 4, "layers", layers, "loss", "mse");
}

static char *nested_pointer(int n)
{
    static char buf[NN_WHERE * 4];
    buf[0] = 0;
    for (int i = 0; i < n; i++)
        strcat(buf, "/layers/0");
    return buf;
}

START_TEST(err_nesting)
{
    /* the engine allows NN_MAX_DEPTH - 1 = 15 residual blocks inside each other */
    json_t *ok = nested(NN_MAX_DEPTH - 1), *errors = NULL;
    struct spec_json s;
    ck_assert_int_eq(spec_from_json(ok, "", 0, &s, &errors), 0);
    ck_assert_int_eq(s.spec.layers[0].kind, NN_RESIDUAL);
    spec_json_free(&s);
    json_decref(ok);

    /* one more, and a thousand more (the parse never follows them) */
    int depths[] = {NN_MAX_DEPTH, 1000};
    for (int k = 0; k < 2; k++) {
        json_t *def = nested(depths[k]);
        errors = refuse_def(def, "/network", 0);
        ck_assert_int_eq(json_array_size(errors), 1);
        char want[NN_WHERE * 4 + 16];
        snprintf(want, sizeof want, "/network%s", nested_pointer(NN_MAX_DEPTH));
        ck_assert_str_eq(pointer_at(errors, 0), want);
        ck_assert_str_eq(detail_at(errors, 0), "residual blocks nested more than 15 deep");
        json_decref(errors);
        json_decref(def);
    }
}
END_TEST

START_TEST(err_too_many_layers)
{
    /* exactly NN_MAX_LAYERS is fine */
    json_t *layers = json_array();
    for (int i = 0; i < NN_MAX_LAYERS; i++)
        json_array_append_new(layers, json_pack("{s:s}", "type", "batchnorm"));
    json_t *def = json_pack("{s:i, s:O, s:s}", "inputs", 2, "layers", layers, "loss", "mse");
    struct spec_json s;
    json_t *errors = NULL;
    ck_assert_int_eq(spec_from_json(def, "", 0, &s, &errors), 0);
    ck_assert_int_eq(s.spec.nlayers, NN_MAX_LAYERS);
    spec_json_free(&s);
    json_decref(def);

    /* one more: the first layer past the limit is named, and nothing after it */
    json_array_append_new(layers, json_pack("{s:s}", "type", "batchnorm"));
    json_array_append_new(layers, json_pack("{s:s}", "type", "bogus"));
    def = json_pack("{s:i, s:O, s:s}", "inputs", 2, "layers", layers, "loss", "mse");
    errors = refuse_def(def, "", 0);
    ck_assert_int_eq(json_array_size(errors), 1);
    ck_assert_str_eq(pointer_at(errors, 0), "/layers/4096");
    ck_assert_str_eq(detail_at(errors, 0), "more than 4096 layers in all");
    json_decref(errors);
    json_decref(def);
    json_decref(layers);

    /* counted through residual bodies, in the engine's order: 4000 layers, a residual
     * (the 4001st) and its body's layers from the 4002nd on: body layer 95 is the 4097th */
    json_t *body = json_array();
    for (int i = 0; i < 100; i++)
        json_array_append_new(body, json_pack("{s:s}", "type", "batchnorm"));
    layers = json_array();
    for (int i = 0; i < 4000; i++)
        json_array_append_new(layers, json_pack("{s:s}", "type", "batchnorm"));
    json_array_append_new(layers, json_pack("{s:s, s:o}", "type", "residual", "layers", body));
    def = json_pack("{s:i, s:o, s:s}", "inputs", 2, "layers", layers, "loss", "mse");
    errors = refuse_def(def, "", 0);
    ck_assert_int_eq(json_array_size(errors), 1);
    ck_assert_str_eq(pointer_at(errors, 0), "/layers/4000/layers/95");
    json_decref(errors);
    json_decref(def);
}
END_TEST

/* ---- what only the engine knows ---- */

START_TEST(err_engine)
{
    /* a residual block that changes the width */
    json_t *errors = refuse(
        "{\"inputs\": 8, \"layers\": [{\"type\": \"dense\", \"units\": 16},"
        " {\"type\": \"residual\", \"layers\": [{\"type\": \"dense\", \"units\": 8}]},"
        " {\"type\": \"dense\", \"units\": 2, \"activation\": \"softmax\"}],"
        " \"loss\": \"categorical_crossentropy\"}", "/network");
    ck_assert_int_eq(json_array_size(errors), 1);
    ck_assert_str_eq(pointer_at(errors, 0), "/network/layers/1");
    ck_assert_ptr_nonnull(strstr(detail_at(errors, 0), "keep its width"));
    json_decref(errors);

    /* categorical_crossentropy over one output */
    errors = refuse("{\"inputs\": 8, \"layers\": [{\"type\": \"dense\", \"units\": 1}],"
                    " \"loss\": \"categorical_crossentropy\"}", "");
    ck_assert_int_eq(json_array_size(errors), 1);
    ck_assert_str_eq(pointer_at(errors, 0), "/loss");
    ck_assert_ptr_nonnull(strstr(detail_at(errors, 0), "at least 2 outputs"));
    json_decref(errors);

    /* an output that is not a probability per class under categorical_crossentropy: at
     * its activation, once the engine found nothing else */
    errors = refuse("{\"inputs\": 8, \"layers\": [{\"type\": \"dense\", \"units\": 4},"
                    " {\"type\": \"dense\", \"units\": 3, \"activation\": \"relu\"}],"
                    " \"loss\": \"categorical_crossentropy\"}", "/network");
    ck_assert_int_eq(json_array_size(errors), 1);
    ck_assert_str_eq(pointer_at(errors, 0), "/network/layers/1/activation");
    ck_assert_ptr_nonnull(strstr(detail_at(errors, 0), "a relu output"));
    ck_assert_ptr_nonnull(strstr(detail_at(errors, 0), "use softmax"));
    json_decref(errors);
    errors = refuse("{\"inputs\": 8, \"layers\": [{\"type\": \"dense\", \"units\": 0},"
                    " {\"type\": \"dense\", \"units\": 3, \"activation\": \"relu\"}],"
                    " \"loss\": \"categorical_crossentropy\"}", "");
    ck_assert_int_eq(json_array_size(errors), 1);   /* the units first */
    ck_assert_str_eq(pointer_at(errors, 0), "/layers/0/units");
    json_decref(errors);

    /* the parameter cap: 269834 parameters against 269833, then exactly enough */
    json_t *def = parse(fashion);
    errors = refuse_def(def, "", 269833);
    ck_assert_int_eq(json_array_size(errors), 1);
    ck_assert_str_eq(pointer_at(errors, 0), "");
    ck_assert_ptr_nonnull(strstr(detail_at(errors, 0), "269834 parameters"));
    json_decref(errors);
    errors = refuse_def(def, "/network", 1000);
    ck_assert_str_eq(pointer_at(errors, 0), "/network");
    json_decref(errors);
    struct spec_json s;
    errors = NULL;
    ck_assert_int_eq(spec_from_json(def, "", 269834, &s, &errors), 0);
    spec_json_free(&s);
    json_decref(def);
}
END_TEST

/* ---- back to JSON ---- */

START_TEST(round_trip)
{
    struct spec_json a, b;
    accept(fashion, &a);
    json_t *d = spec_to_json(&a.spec, a.name);
    ck_assert_ptr_nonnull(d);
    /* every default written out, floats as written */
    char *text = json_dumps(d, JSON_COMPACT | JSON_REAL_PRECISION(15));
    ck_assert_str_eq(text,
        "{\"name\":\"fashion-mlp\",\"inputs\":784,\"layers\":["
        "{\"type\":\"dense\",\"units\":256,\"activation\":\"relu\",\"init\":\"auto\"},"
        "{\"type\":\"dropout\",\"rate\":0.2},"
        "{\"type\":\"residual\",\"layers\":["
        "{\"type\":\"dense\",\"units\":256,\"activation\":\"relu\",\"init\":\"auto\"},"
        "{\"type\":\"batchnorm\",\"momentum\":0.99,\"epsilon\":0.001}]},"
        "{\"type\":\"dense\",\"units\":10,\"activation\":\"softmax\",\"init\":\"auto\"}],"
        "\"loss\":\"categorical_crossentropy\",\"metrics\":[\"accuracy\"]}");
    free(text);
    json_t *errors = NULL;
    ck_assert_int_eq(spec_from_json(d, "", 0, &b, &errors), 0);
    ck_assert_str_eq(b.name, a.name);
    ck_assert_int_eq(b.spec.inputs, a.spec.inputs);
    ck_assert_int_eq(b.spec.loss, a.spec.loss);
    ck_assert_uint_eq(b.spec.metrics, a.spec.metrics);
    ck_assert_int_eq(b.spec.nlayers, a.spec.nlayers);
    for (int i = 0; i < 6; i++) {   /* the whole tree, body included */
        const struct nn_layer_spec *x = &a.layers[i], *y = &b.layers[i];
        ck_assert_int_eq(x->kind, y->kind);
        ck_assert_int_eq(x->units, y->units);
        ck_assert_int_eq(x->act, y->act);
        ck_assert_int_eq(x->init, y->init);
        ck_assert(x->rate == y->rate && x->momentum == y->momentum &&
                  x->epsilon == y->epsilon && x->alpha == y->alpha);
        ck_assert_int_eq(x->nlayers, y->nlayers);
    }
    json_decref(d);
    spec_json_free(&a);
    spec_json_free(&b);

    /* leaky_relu keeps its alpha; no name, no metrics */
    accept("{\"inputs\": 2, \"layers\": [{\"type\": \"activation\", \"activation\": "
           "\"leaky_relu\", \"alpha\": 0.3}], \"loss\": \"mse\"}", &a);
    d = spec_to_json(&a.spec, NULL);
    text = json_dumps(d, JSON_COMPACT | JSON_REAL_PRECISION(15));
    ck_assert_str_eq(text, "{\"inputs\":2,\"layers\":[{\"type\":\"activation\",\"activation\":"
                           "\"leaky_relu\",\"alpha\":0.3}],\"loss\":\"mse\",\"metrics\":[]}");
    free(text);
    json_decref(d);
    spec_json_free(&a);
}
END_TEST

/* ---- summary and warnings ---- */

START_TEST(summary)
{
    struct spec_json s;
    accept(fashion, &s);
    struct nn_error err;
    struct nn_net *net = nn_new(&s.spec, 0, NULL, &err);
    ck_assert_msg(net != NULL, "%s", err.msg);
    json_t *sum = spec_summary(net);
    nn_free(net);
    ck_assert_ptr_nonnull(sum);
    ck_assert_int_eq(json_integer_value(json_object_get(sum, "inputs")), 784);
    ck_assert_int_eq(json_integer_value(json_object_get(sum, "outputs")), 10);
    ck_assert_int_eq(json_integer_value(json_object_get(sum, "params")), 269834);
    static const struct {
        const char *path, *type, *act;
        int depth, outputs, params;
    } want[] = {
        {"/layers/0", "dense", "relu", 0, 256, 200960},
        {"/layers/1", "dropout", NULL, 0, 256, 0},
        {"/layers/2", "residual", NULL, 0, 256, 66304},
        {"/layers/2/layers/0", "dense", "relu", 1, 256, 65792},
        {"/layers/2/layers/1", "batchnorm", NULL, 1, 256, 512},
        {"/layers/3", "dense", "softmax", 0, 10, 2570},
    };
    json_t *rows = json_object_get(sum, "layers");
    ck_assert_int_eq(json_array_size(rows), 6);
    for (size_t i = 0; i < 6; i++) {
        json_t *r = json_array_get(rows, i);
        ck_assert_str_eq(json_string_value(json_object_get(r, "path")), want[i].path);
        ck_assert_str_eq(json_string_value(json_object_get(r, "type")), want[i].type);
        ck_assert_int_eq(json_integer_value(json_object_get(r, "depth")), want[i].depth);
        ck_assert_int_eq(json_integer_value(json_object_get(r, "outputs")), want[i].outputs);
        ck_assert_int_eq(json_integer_value(json_object_get(r, "params")), want[i].params);
        json_t *a = json_object_get(r, "activation");
        if (want[i].act)
            ck_assert_str_eq(json_string_value(a), want[i].act);
        else
            ck_assert_ptr_null(a);
    }
    json_decref(sum);

    json_t *w = spec_warnings(&s.spec, "");
    ck_assert_int_eq(json_array_size(w), 0);   /* softmax before cce: nothing to say */
    json_decref(w);
    spec_json_free(&s);
}
END_TEST

START_TEST(warnings)
{
    struct spec_json s;
    accept("{\"inputs\": 4, \"layers\": [{\"type\": \"dense\", \"units\": 8},"
           " {\"type\": \"activation\", \"activation\": \"step\"},"
           " {\"type\": \"dense\", \"units\": 3, \"activation\": \"sigmoid\"}],"
           " \"loss\": \"categorical_crossentropy\"}", &s);
    json_t *w = spec_warnings(&s.spec, "/network");
    char *all = json_dumps(w, JSON_INDENT(1));
    ck_assert_msg(json_array_size(w) == 2, "%s", all);
    ck_assert_str_eq(pointer_at(w, 0), "/network/layers/1");
    ck_assert_ptr_nonnull(strstr(detail_at(w, 0), "step"));
    ck_assert_str_eq(pointer_at(w, 1), "/network/layers/2");
    ck_assert_ptr_nonnull(strstr(detail_at(w, 1), "softmax"));
    free(all);
    json_decref(w);
    spec_json_free(&s);

    /* accuracy of a regression */
    accept("{\"inputs\": 4, \"layers\": [{\"type\": \"dense\", \"units\": 8, "
           "\"activation\": \"relu\"}, {\"type\": \"dense\", \"units\": 1}],"
           " \"loss\": \"mse\", \"metrics\": [\"mae\", \"accuracy\"]}", &s);
    w = spec_warnings(&s.spec, "/network");
    all = json_dumps(w, JSON_INDENT(1));
    ck_assert_msg(json_array_size(w) == 1, "%s", all);
    ck_assert_str_eq(pointer_at(w, 0), "/network/metrics");
    ck_assert_ptr_nonnull(strstr(detail_at(w, 0), "accuracy means nothing for a regression"));
    free(all);
    json_decref(w);
    spec_json_free(&s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("spec_json");
    TCase *b = tcase_create("build");
    tcase_add_test(b, design_example);
    tcase_add_test(b, defaults);
    tcase_add_test(b, metrics_set);
    suite_add_tcase(s, b);
    TCase *e = tcase_create("errors");
    tcase_set_timeout(e, 30);
    tcase_add_test(e, err_top_level);
    tcase_add_test(e, err_dense);
    tcase_add_test(e, err_long_names);
    tcase_add_test(e, err_other_layers);
    tcase_add_test(e, err_several_at_once);
    tcase_add_test(e, err_capped);
    tcase_add_test(e, err_nesting);
    tcase_add_test(e, err_too_many_layers);
    tcase_add_test(e, err_engine);
    suite_add_tcase(s, e);
    TCase *j = tcase_create("json");
    tcase_add_test(j, round_trip);
    tcase_add_test(j, summary);
    tcase_add_test(j, warnings);
    suite_add_tcase(s, j);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
