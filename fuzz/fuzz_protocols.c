/* fuzz_protocols.c -- the fast paths of the prediction protocols (server/api/kserve.c,
 * mlflow.c) against their jansson paths, on arbitrary bytes, for models of 1 to 4 inputs,
 * of rows or of 2 or 3 steps, with input column names or without.
 *
 * The Open Inference Protocol v2: whenever v2_fast takes a body, jansson (as the handler
 * reads it: req_json_load, integers as reals, duplicate keys refused) and v2_rows take
 * it too and give the same rows, bit for bit, and the same id. MLflow: whenever df_fast
 * takes a body, jansson and df_rows take it too, with the same rows. Bodies sit in
 * exact-size heap buffers, so that reading past one is a crash.
 *
 * Input: byte 0 = the model's inputs F (1 + bits 0-1), its steps T (bits 2-3: 0 for
 * rows, else 1 + them), column names a, b, c, d (bit 4), MLflow (bit 5) or v2; the rest
 * is the body. The handlers' files are included whole to reach their static parsers.
 */
#include "fuzz.h"

#include "../server/api/kserve.c"
#include "../server/api/mlflow.c"

#include <string.h>

/* A model of F inputs (T steps, 0: rows), with or without column names. */
static struct predictor *model(int F, int T, int named)
{
    static struct predictor *made[4][4][2];   /* [F - 1][T][named], T of 0, 2 or 3 */
    struct predictor **m = &made[F - 1][T][named];
    if (*m)
        return *m;
    struct predictor *p = calloc(1, sizeof *p);
    CHECK(p);
    struct nn_layer_spec layers[2] = {nn_gru(2, 0), nn_dense(1, NN_LINEAR)};
    struct nn_spec spec = {.inputs = F, .layers = T ? layers : layers + 1,
                           .nlayers = T ? 2 : 1, .loss = NN_MSE, .timesteps = T};
    struct nn_rng rng;
    struct nn_error err;
    nn_rng_seed(&rng, 1);
    p->net = nn_new(&spec, 1000000, &rng, &err);
    CHECK(p->net);
    if (named) {
        static const char *const names[] = {"a", "b", "c", "d"};
        p->columns = json_array();
        for (int j = 0; j < F; j++)
            json_array_append_new(p->columns, json_string(names[j]));
    }
    return *m = p;
}

static void check_v2(const char *body, size_t len, int T, int F)
{
    float *fx = NULL;
    int fn = 0;
    char rid[128];
    if (v2_fast(body, len, T, F, &fx, &fn, rid, sizeof rid) < 0) {
        CHECK(!fx);
        return;
    }
    CHECK(fn >= 1 && fx);
    struct reply out = {0};
    json_t *doc = req_json_load(body, len, JSON_DECODE_INT_AS_REAL, &out);
    CHECK(doc);   /* jansson reads it */
    float *sx = NULL;
    int sn = 0;
    const char *srid = NULL;
    char msg[600];
    CHECK(v2_rows(doc, T, F, &sx, &sn, &srid, msg, sizeof msg) == 0);   /* as a request */
    size_t W = (size_t)F * (size_t)(T ? T : 1);
    CHECK(sn == fn && !memcmp(sx, fx, sizeof(float) * W * (size_t)fn));   /* of those rows */
    CHECK(srid ? !strcmp(srid, rid) : !*rid);   /* and that id */
    json_decref(doc);
    free(sx);
    free(fx);
}

static void check_mlflow(const char *body, size_t len, const struct predictor *p)
{
    const struct nn_spec *spec = nn_get_spec(p->net);
    const int W = spec->inputs * (spec->timesteps ? spec->timesteps : 1);
    float *fx = NULL;
    int fn = 0;
    if (df_fast(p, body, len, W, &fx, &fn) < 0) {
        CHECK(!fx);
        return;
    }
    CHECK(fn >= 1 && fx);
    struct reply out = {0};
    json_t *doc = req_json_load(body, len, JSON_DECODE_INT_AS_REAL, &out);
    CHECK(doc && json_is_object(doc) && json_object_size(doc) == 1 &&
          json_object_get(doc, "dataframe_split"));   /* a DataFrame and nothing else */
    float *sx = NULL;
    int sn = 0;
    char msg[600];
    CHECK(df_rows(p, doc, W, &sx, &sn, msg, sizeof msg) == 0);
    CHECK(sn == fn && !memcmp(sx, fx, sizeof(float) * (size_t)W * (size_t)fn));
    json_decref(doc);
    free(sx);
    free(fx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int F = 1 + (data[0] & 3), T = (data[0] >> 2) & 3, named = (data[0] >> 4) & 1;
    T = T ? T + 1 : 0;   /* 0, 2, 3, 4 */
    if (T == 4)
        T = 3;
    size_t len = size - 1;
    char *body = malloc(len ? len : 1);
    CHECK(body);
    memcpy(body, data + 1, len);
    if (data[0] & 32)
        check_mlflow(body, len, model(F, T, named));
    else
        check_v2(body, len, T, F);
    free(body);
    return 0;
}
