/* fuzz_spec_json.c -- server/domain/networks.c, network definitions, on arbitrary JSON text.
 *
 * The text is parsed as the service parses a body (jansson, duplicate keys refused) and
 * translated twice, with the base pointers "" and "/network" (a body, a job's network).
 * Checks that both agree, their faults differing only by that prefix; that a refusal
 * lists 1 to FAULTS_MAX faults, each {"pointer" under the base, "detail" not empty},
 * followed by one "and N more" entry only when the list is full, all printable as JSON;
 * and that an accepted spec passes the engine's own check, builds a network (nn_new,
 * the parameter count nn_spec_check gave) whose summary and warnings are complete,
 * predicts a row when its activations are small, writes back as JSON (spec_to_json)
 * that translates to the very same spec and JSON again, and is freed.
 */
#include "fuzz.h"

#include "domain/domain.h"

#include <math.h>
#include <string.h>

#define MAX_PARAMS (1u << 20)   /* the service's cap is 50M; the checks are the same */
#define MAX_ACTS (1u << 20)     /* floats of one row's activations for a prediction */

static int layers_equal(const struct nn_layer_spec *a, const struct nn_layer_spec *b, int n)
{
    for (int i = 0; i < n; i++) {
        const struct nn_layer_spec *x = &a[i], *y = &b[i];
        if (x->kind != y->kind || x->units != y->units || x->act != y->act ||
            x->alpha != y->alpha || x->init != y->init || x->rate != y->rate ||
            x->momentum != y->momentum || x->epsilon != y->epsilon ||
            x->nlayers != y->nlayers)
            return 0;
        if (x->kind == NN_RESIDUAL && !layers_equal(x->layers, y->layers, x->nlayers))
            return 0;
        if (x->kind != NN_RESIDUAL && (x->layers || x->nlayers))
            return 0;
    }
    return 1;
}

static int spec_equal(const struct spec_json *a, const struct spec_json *b)
{
    return a->spec.inputs == b->spec.inputs && a->spec.nlayers == b->spec.nlayers &&
           a->spec.loss == b->spec.loss && a->spec.metrics == b->spec.metrics &&
           !a->name == !b->name && (!a->name || !strcmp(a->name, b->name)) &&
           layers_equal(a->spec.layers, b->spec.layers, a->spec.nlayers);
}

static int tree_size(const struct nn_layer_spec *l, int n)
{
    int k = n;
    for (int i = 0; i < n; i++)
        if (l[i].kind == NN_RESIDUAL)
            k += tree_size(l[i].layers, l[i].nlayers);
    return k;
}

/* The faults of a refusal: checks their form; returns how many. */
static size_t check_errors(const json_t *errors, const char *base)
{
    CHECK(json_is_array(errors));
    size_t n = json_array_size(errors);
    CHECK(n >= 1 && n <= FAULTS_MAX + 1);
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(errors, i);
        CHECK(json_is_object(e) && json_object_size(e) == 2);
        const char *ptr = json_string_value(json_object_get(e, "pointer"));
        const char *detail = json_string_value(json_object_get(e, "detail"));
        CHECK(ptr && detail && *detail);
        CHECK(!strncmp(ptr, base, strlen(base)));
        CHECK(ptr[strlen(base)] == 0 || ptr[strlen(base)] == '/');
        int more = 0, k = -1;
        if (sscanf(detail, "and %d more fault%n", &more, &k) == 1 && k > 0) {
            /* the note on faults left out: last, after a full list */
            CHECK(i == n - 1 && i == FAULTS_MAX && more >= 1);
        } else {
            CHECK(i < FAULTS_MAX);
        }
    }
    char *text = json_dumps(errors, JSON_COMPACT);
    CHECK(text);
    free(text);
    return n;
}

/* The faults with base b are those with base a, prefixed. */
static void check_prefixed(const json_t *ea, const json_t *eb, const char *b)
{
    CHECK(json_array_size(ea) == json_array_size(eb));
    for (size_t i = 0; i < json_array_size(ea); i++) {
        const json_t *x = json_array_get(ea, i), *y = json_array_get(eb, i);
        const char *px = json_string_value(json_object_get(x, "pointer"));
        const char *py = json_string_value(json_object_get(y, "pointer"));
        CHECK(!strncmp(py, b, strlen(b)) && !strcmp(py + strlen(b), px));
        CHECK(json_equal(json_object_get(x, "detail"), json_object_get(y, "detail")));
    }
}

static void check_network(const struct spec_json *s)
{
    size_t np = 0;
    struct nn_error err;
    CHECK(nn_spec_check(&s->spec, MAX_PARAMS, &np, &err) == 0);
    struct nn_rng rng;
    nn_rng_seed(&rng, 1);
    struct nn_net *net = nn_new(&s->spec, MAX_PARAMS, &rng, &err);
    CHECK(net);
    CHECK(nn_param_count(net) == np);
    CHECK(nn_inputs(net) == s->spec.inputs && nn_outputs(net) >= 1);

    int rows = nn_summary(net, NULL, 0);
    CHECK(rows == tree_size(s->spec.layers, s->spec.nlayers));
    json_t *sum = spec_summary(net);
    CHECK(sum);
    CHECK(json_integer_value(json_object_get(sum, "params")) == (json_int_t)np);
    CHECK(json_array_size(json_object_get(sum, "layers")) == (size_t)rows);
    json_decref(sum);
    json_t *warn = spec_warnings(&s->spec, "/network");
    CHECK(json_is_array(warn));
    for (size_t i = 0; i < json_array_size(warn); i++)
        CHECK(!strncmp(json_string_value(json_object_get(json_array_get(warn, i), "pointer")),
                       "/network", 8));
    json_decref(warn);

    /* a prediction, when one row's activations are small */
    struct nn_summary_row *sr = calloc((size_t)rows, sizeof *sr);
    CHECK(sr);
    nn_summary(net, sr, rows);
    size_t acts = (size_t)s->spec.inputs;
    for (int i = 0; i < rows; i++)
        acts += (size_t)sr[i].outputs;
    free(sr);
    if (acts <= MAX_ACTS) {
        float *x = calloc((size_t)s->spec.inputs, sizeof *x);
        float *y = calloc((size_t)nn_outputs(net), sizeof *y);
        CHECK(x && y);
        for (int i = 0; i < s->spec.inputs; i++)
            x[i] = (float)(i % 7) - 3.0f;
        CHECK(nn_predict(net, NULL, x, 1, y, &err) == 0);
        free(x);
        free(y);
    }
    nn_free(net);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t jerr;
    json_t *def = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
    if (!def)
        return 0;
    struct spec_json a, b;
    json_t *ea, *eb;
    int ra = spec_from_json(def, "", MAX_PARAMS, &a, &ea);
    int rb = spec_from_json(def, "/network", MAX_PARAMS, &b, &eb);
    CHECK(ra == rb);
    CHECK(ra == 0 || ra == -1);
    if (ra < 0) {
        static const struct spec_json zero;
        CHECK(!memcmp(&a, &zero, sizeof a) && !memcmp(&b, &zero, sizeof b));
        check_errors(ea, "");
        check_errors(eb, "/network");
        check_prefixed(ea, eb, "/network");
        json_decref(ea);
        json_decref(eb);
        json_decref(def);
        return 0;
    }
    CHECK(!ea && !eb);
    CHECK(spec_equal(&a, &b));
    spec_json_free(&b);
    check_network(&a);

    /* back to JSON and in again: the same spec, the same JSON */
    json_t *back = spec_to_json(&a.spec, a.name);
    CHECK(back);
    struct spec_json c;
    json_t *ec;
    CHECK(spec_from_json(back, "", MAX_PARAMS, &c, &ec) == 0);
    CHECK(spec_equal(&a, &c));
    json_t *again = spec_to_json(&c.spec, c.name);
    CHECK(again && json_equal(back, again));
    char *text = json_dumps(back, JSON_COMPACT);
    CHECK(text);
    free(text);
    json_decref(again);
    json_decref(back);
    spec_json_free(&c);
    spec_json_free(&a);
    json_decref(def);
    return 0;
}
