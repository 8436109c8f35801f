/* fuzz_jobs_request.c -- POST /v1/jobs (h_jobs_create) on a temporary database holding
 * a few datasets and networks made at start, with no workers: nothing trains.
 *
 * Input: two bytes that pair datasets with networks, then the body; what the glue would
 * refuse as malformed JSON (400) is skipped. Strings "@ds_..." and "@net_..." anywhere
 * in the body become the ids of the datasets and networks made at start (the table
 * below); "@ds", "@net" and "@val" become those the two bytes pick (byte 0: the dataset,
 * and the network by byte 0 / 10; byte 1: the validation dataset), so that changing one
 * byte tries another pairing -- which makes no new coverage, so the fuzzer would rarely
 * keep an input for it.
 *
 * The harness works out on its own, from api/openapi.yaml (JobRequest, Optimizer,
 * EarlyStopping), whether the body is a job that can run, and the job as it should be
 * answered: every option with its default written out, the network as a definition
 * (spec_to_json's, every default written out). Only the network itself and the service's
 * rules for which labels go with which loss are asked of its own code (spec_from_json,
 * labels_fit); whether the data suits the network is asked of the engine (nn_train,
 * cancelled before its first batch, checks the data, labels and options). Then:
 *   - a job that can run answers 202 with a Location, and GET answers the same job:
 *     queued, nothing run, its fields exactly those worked out (numbers to the 9 digits
 *     the service answers); and it can start: its stored request, read as a worker reads
 *     it (job_opts_read), gives a network that nn_new builds and data that nn_train
 *     takes (it is cancelled before its first batch), a validation split leaving rows on
 *     both sides;
 *   - any other body answers 422 (never 500, nor 409: nothing is deleted meanwhile) with
 *     errors[] whose pointers are RFC 6901 pointers into the request, or name a member
 *     missing from one of its objects (a missing required field).
 * Each job made is deleted again (with SQL: the API deletes no jobs).
 */
#include "fuzzutil.h"

#include "domain/domain.h"
#include "api/api.h"
#include "queue/queue.h"
#include "nn.h"
#include "store/store.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* ---- what the database holds ---- */

static const char *const ds_bodies[][2] = {
    {"@ds_cls3", "{\"name\": \"cls3\", \"features\": [[1,2,3,4],[2,3,4,5],[3,4,5,6],[4,5,6,7],"
                 "[5,6,7,8],[6,7,8,9]], \"labels\": [\"a\",\"b\",\"c\",\"a\",\"b\",\"c\"]}"},
    {"@ds_cls3b", "{\"name\": \"cls3b\", \"features\": [[1,2,3,4],[2,3,4,5],[3,4,5,6]], "
                  "\"labels\": [\"a\",\"b\",\"d\"]}"},
    {"@ds_bin", "{\"name\": \"bin\", \"features\": [[1,0,0,1],[0,1,1,0],[1,1,0,0],[0,0,1,1]], "
                "\"labels\": [0, 1, 1, 0]}"},
    {"@ds_num", "{\"name\": \"num\", \"features\": [[1,0,0,1],[0,1,1,0],[1,1,0,0],[0,0,1,1]], "
                "\"labels\": [0, 2, 7, 1]}"},
    {"@ds_reg", "{\"name\": \"reg\", \"features\": [[1,0,0,1],[0,1,1,0],[1,1,0,0]], "
                "\"labels\": [0.5, -2.5, 3]}"},
    {"@ds_hot", "{\"name\": \"hot\", \"features\": [[1,0,0,1],[0,1,1,0],[1,1,0,0]], "
                "\"labels\": [[1,0,0],[0,1,0],[0,0,1]]}"},
    {"@ds_vec", "{\"name\": \"vec\", \"features\": [[1,0,0,1],[0,1,1,0],[1,1,0,0]], "
                "\"labels\": [[0.5,2],[1,-1],[0,0]]}"},
    {"@ds_w3", "{\"name\": \"w3\", \"features\": [[1,0,0],[0,1,1],[1,1,0]], "
               "\"labels\": [\"x\",\"y\",\"z\"]}"},
    {"@ds_two", "{\"name\": \"two\", \"features\": [[1,0,0,1],[0,1,1,0]], \"labels\": [\"p\",\"q\"]}"},
    {"@ds_one", "{\"name\": \"one\", \"features\": [[1,0,0,1]], \"labels\": [1]}"},
};
static const char *const net_bodies[][2] = {
    {"@net_cce3", "{\"name\": \"cce3\", \"inputs\": 4, \"layers\": [{\"type\": \"dense\", "
                  "\"units\": 3, \"activation\": \"softmax\"}], \"loss\": "
                  "\"categorical_crossentropy\", \"metrics\": [\"accuracy\"]}"},
    {"@net_bce", "{\"inputs\": 4, \"layers\": [{\"type\": \"dense\", \"units\": 1, "
                 "\"activation\": \"sigmoid\"}], \"loss\": \"binary_crossentropy\"}"},
    {"@net_mse2", "{\"inputs\": 4, \"layers\": [{\"type\": \"dense\", \"units\": 2}], "
                  "\"loss\": \"mse\", \"metrics\": [\"mae\"]}"},
    {"@net_w3", "{\"inputs\": 3, \"layers\": [{\"type\": \"dense\", \"units\": 3, "
                "\"activation\": \"softmax\"}], \"loss\": \"categorical_crossentropy\"}"},
    {"@net_res", "{\"inputs\": 4, \"layers\": [{\"type\": \"dense\", \"units\": 4, "
                 "\"activation\": \"relu\"}, {\"type\": \"residual\", \"layers\": [{\"type\": "
                 "\"dense\", \"units\": 4, \"activation\": \"tanh\"}, {\"type\": "
                 "\"batchnorm\"}]}, {\"type\": \"dropout\", \"rate\": 0.1}, {\"type\": "
                 "\"dense\", \"units\": 3, \"activation\": \"softmax\"}], \"loss\": "
                 "\"categorical_crossentropy\"}"},
};
#define NDS ((int)(sizeof ds_bodies / sizeof ds_bodies[0]))
#define NNET ((int)(sizeof net_bodies / sizeof net_bodies[0]))

#define NTOK (NDS + NNET + 3)
static const char *names[NTOK];
static char ids[NDS + NNET][32];
static const char *values[NTOK];

static void make(int i, handler_fn fn, const char *body)
{
    json_error_t e;
    json_t *j = json_loads(body, 0, &e);
    CHECK(j);
    struct reply rp = fz_call(fn, "POST", j, NULL, NULL);
    CHECK(rp.status == 201);
    json_t *d = fz_json(&rp);
    snprintf(ids[i], sizeof ids[i], "%s", json_string_value(json_object_get(d, "id")));
    values[i] = ids[i];
    json_decref(d);
    json_decref(j);
    fz_reply_free(&rp);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fz_db_open();
    for (int i = 0; i < NDS; i++) {
        names[i] = ds_bodies[i][0];
        make(i, h_datasets_create, ds_bodies[i][1]);
    }
    for (int i = 0; i < NNET; i++) {
        names[NDS + i] = net_bodies[i][0];
        make(NDS + i, h_networks_create, net_bodies[i][1]);
    }
    names[NDS + NNET] = "@ds";
    names[NDS + NNET + 1] = "@net";
    names[NDS + NNET + 2] = "@val";
    return 0;
}

/* ---- the engine's own checks ---- */

/* Whether nn_train takes a network and data with these options (the network built from
 * the spec; val may be NULL): it checks the data against the network, the labels against
 * the loss and the options, then stops at the cancel flag before its first batch.
 * Returns 1 or 0 (with the engine's message in e). */
static int engine_takes(const struct nn_spec *spec, const struct dataset *d,
                        const struct dataset *v, const struct job_opts *o, struct nn_error *e)
{
    struct nn_rng rng;
    nn_rng_seed(&rng, o->seed);
    struct nn_net *net = nn_new(spec, fz_app.cfg.max_params, &rng, e);
    CHECK(net);   /* spec_from_json took it with the same cap */
    struct nn_data train = {.x = d->x, .y = d->y, .rows = d->rows, .cols = d->features,
                            .ycols = d->label_cols};
    struct nn_data val = v ? (struct nn_data){.x = v->x, .y = v->y, .rows = v->rows,
                                              .cols = v->features, .ycols = v->label_cols}
                           : train;
    static _Atomic int cancel = 1;
    struct nn_train_opts to = o->train;
    to.opt = o->opt;
    to.cancel = &cancel;
    /* with a split, each side is some of d's rows: d passing the checks is enough */
    int rc = nn_train(net, NULL, &train, v || o->split > 0 ? &val : NULL, &to, &rng, e);
    nn_free(net);
    CHECK(rc == NN_STOPPED || rc == -1);
    return rc == NN_STOPPED;
}

/* ---- the job, worked out independently ---- */

struct want {
    int ok;
    json_t *job;               /* the request as it should be answered (new) */
    int seed_given;
};

static int is_dataset(const json_t *v)
{
    for (int i = 0; json_is_string(v) && i < NDS; i++)
        if (!strcmp(json_string_value(v), ids[i]))
            return 1;
    return 0;
}

/* Checks that an object has only these keys. */
/* The member key of o; NULL when absent or null. */
static const json_t *member(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_null(v) ? NULL : v;
}

/* A model name (JobRequest's model_name, ModelName): a string of 1 to 64 ASCII letters,
 * digits, '.', '_' and '-', the first a letter or digit, not starting with "mdl_". */
static int model_name_ok(const json_t *v)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (!s || n < 1 || n > 64 || (n >= 4 && !memcmp(s, "mdl_", 4)))
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
            return 0;
    }
    return 1;
}

static int only(const json_t *o, const char *const *keys)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v) {
        int known = 0;
        for (const char *const *a = keys; *a && !known; a++)
            known = !strcmp(*a, k);
        if (!known)
            return 0;
    }
    return 1;
}

/* A number option of o: absent or null takes def; else a number (an integer when whole)
 * in [lo, hi]. Writes the value into out; 0 when it is wrong. */
/* How a number option is held: a whole number (written 16 or 16.0), a 32-bit float (the
 * engine's: judged and answered as the float it holds, its bounds rounded alike), or a
 * double. */
enum held { WHOLE, FLOAT32, DOUBLE };

/* The shortest decimal that reads back as the float f. */
static double shortest(float f)
{
    char buf[32];
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)f);
        if (strtof(buf, NULL) == f)
            return strtod(buf, NULL);
    }
    return f;
}

static int number(const json_t *o, const char *key, double lo, double hi, enum held held,
                  double def, json_t *out)
{
    const json_t *v = json_object_get(o, key);
    double x = def;
    if (v && !json_is_null(v)) {
        if (!json_is_number(v))
            return 0;
        x = json_number_value(v);
        if (held == WHOLE && x != floor(x))
            return 0;
        if (held == FLOAT32) {
            if (fabs(x) > FLT_MAX)
                return 0;
            x = (float)x;
            lo = (float)lo;
            hi = (float)hi;
        }
        if (!(x >= lo && x <= hi))
            return 0;
    }
    json_object_set_new(out, key, held == WHOLE ? json_integer((json_int_t)x)
                                  : held == FLOAT32 ? json_real(shortest((float)x))
                                                    : json_real(x));
    return 1;
}

static int boolean(const json_t *o, const char *key, int def, json_t *out, int *b)
{
    const json_t *v = json_object_get(o, key);
    int x = def;
    if (v && !json_is_null(v)) {
        if (!json_is_boolean(v))
            return 0;
        x = json_is_true(v);
    }
    json_object_set_new(out, key, json_boolean(x));
    if (b)
        *b = x;
    return 1;
}

static int optimizer(const json_t *in, json_t *out)
{
    static const char *const sgd_keys[] = {"type", "learning_rate", "momentum", "nesterov",
                                           "weight_decay", NULL};
    static const char *const adam_keys[] = {"type", "learning_rate", "beta1", "beta2",
                                            "epsilon", "weight_decay", NULL};
    if (in && !json_is_object(in))
        return 0;
    const json_t *t = member(in, "type");
    const char *type = t ? json_string_value(t) : "adam";
    if (!type || (strcmp(type, "adam") && strcmp(type, "sgd")))
        return 0;
    int sgd = !strcmp(type, "sgd"), ok = only(in, sgd ? sgd_keys : adam_keys);
    json_object_set_new(out, "type", json_string(type));
    ok &= number(in, "learning_rate", 1e-12, 1e6, FLOAT32, sgd ? 0.01 : 0.001, out);
    ok &= number(in, "weight_decay", 0, 1e6, FLOAT32, 0, out);
    if (sgd) {
        int nesterov = 0;
        ok &= number(in, "momentum", 0, 0.999999, FLOAT32, 0, out);
        ok &= boolean(in, "nesterov", 0, out, &nesterov);
        ok &= !nesterov || json_number_value(json_object_get(out, "momentum")) > 0;
    } else {
        ok &= number(in, "beta1", 0, 0.999999, FLOAT32, 0.9, out);
        ok &= number(in, "beta2", 0, 0.999999, FLOAT32, 0.999, out);
        ok &= number(in, "epsilon", 1e-30, 1, FLOAT32, 1e-7, out);
    }
    return ok;
}

static int early_stopping(const json_t *in, int has_val, json_t *job)
{
    static const char *const keys[] = {"monitor", "patience", "min_delta", "restore_best", NULL};
    static const char *const monitors[] = {"loss", "accuracy", "mae", "mse"};
    if (!in || json_is_null(in) || json_is_false(in))
        return 1;   /* off: not in the job */
    if (!json_is_object(in))
        return 0;
    json_t *o = json_object();
    json_object_set_new(job, "early_stopping", o);
    int ok = only(in, keys);
    const json_t *m = member(in, "monitor");
    const char *mon = m ? json_string_value(m) : has_val ? "val_loss" : "loss";
    if (!mon)
        return 0;
    int val = !strncmp(mon, "val_", 4), known = 0;
    for (int i = 0; i < 4; i++)
        known |= !strcmp(val ? mon + 4 : mon, monitors[i]);
    ok &= known && (!val || has_val);
    json_object_set_new(o, "monitor", json_string(mon));
    ok &= number(in, "patience", 0, 100000, WHOLE, 3, o);
    ok &= number(in, "min_delta", 0, 1e30, DOUBLE, 0, o);
    ok &= boolean(in, "restore_best", 1, o, NULL);
    return ok;
}

/* The network of the request as a definition (new), NULL when it is none. */
static json_t *network(const json_t *net, json_t *job)
{
    if (json_is_string(net)) {
        for (int i = NDS; i < NDS + NNET; i++)
            if (!strcmp(json_string_value(net), ids[i])) {
                struct network stored;
                CHECK(store_network_get(ids[i], &stored) == STORE_OK);
                json_t *def = json_incref(stored.definition);
                network_free(&stored);
                json_object_set(job, "network_id", (json_t *)net);
                return def;
            }
        return NULL;
    }
    if (!json_is_object(net))
        return NULL;
    struct spec_json sj;
    json_t *errs = NULL;
    if (spec_from_json(net, "/network", fz_app.cfg.max_params, &sj, &errs) < 0) {
        json_decref(errs);
        return NULL;
    }
    json_t *def = spec_to_json(&sj.spec, sj.name);
    CHECK(def);
    spec_json_free(&sj);
    return def;
}

static void work_out(const json_t *b, struct want *w)
{
    static const char *const keys[] = {"name", "model_name", "network", "dataset",
                                       "validation", "epochs", "batch_size", "optimizer",
                                       "seed", "shuffle", "clip_norm", "standardize",
                                       "standardize_labels", "early_stopping", NULL};
    memset(w, 0, sizeof *w);
    if (!json_is_object(b))
        return;
    json_t *job = w->job = json_object();
    int ok = only(b, keys);
    /* null is "not given" for every member */
    const json_t *name = member(b, "name");
    if (name && !json_is_string(name))
        ok = 0;
    else if (name)
        json_object_set(job, "name", (json_t *)name);
    const json_t *model_name = member(b, "model_name");
    if (model_name && !model_name_ok(model_name))
        ok = 0;
    else if (model_name)
        json_object_set(job, "model_name", (json_t *)model_name);

    json_t *def = network(json_object_get(b, "network"), job);
    ok &= def != NULL;
    if (def)
        json_object_set(job, "network", def);
    const json_t *ds = json_object_get(b, "dataset");
    ok &= is_dataset(ds);
    json_object_set(job, "dataset", (json_t *)ds);
    struct dataset dd = {0}, vd_ = {0}, *desc = NULL, *vdesc = NULL;
    if (is_dataset(ds) && store_dataset_get(json_string_value(ds), &dd) == STORE_OK)
        desc = &dd;

    const json_t *val = json_object_get(b, "validation");
    int has_val = 0;
    double split = 0;
    if (val && !json_is_null(val)) {
        static const char *const vkeys[] = {"split", "dataset", NULL};
        const json_t *vs = member(val, "split"), *vd = member(val, "dataset");
        json_t *vn = json_object();
        json_object_set_new(job, "validation", vn);
        has_val = 1;
        if (!json_is_object(val) || !vs == !vd || !only(val, vkeys)) {
            ok = 0;
        } else if (vs) {
            split = json_number_value(vs);
            ok &= json_is_number(vs) && split > 0 && split < 1;
            json_object_set_new(vn, "split", json_real(split));
        } else {
            ok &= is_dataset(vd);
            json_object_set(vn, "dataset", (json_t *)vd);
            if (is_dataset(vd) && store_dataset_get(json_string_value(vd), &vd_) == STORE_OK)
                vdesc = &vd_;
        }
    }

    ok &= number(b, "epochs", 1, 100000, WHOLE, 10, job);
    ok &= number(b, "batch_size", 1, 65536, WHOLE, 32, job);
    ok &= number(b, "clip_norm", 0, 1e30, FLOAT32, 0, job);
    ok &= boolean(b, "shuffle", 1, job, NULL);
    ok &= boolean(b, "standardize", 1, job, NULL);
    ok &= boolean(b, "standardize_labels", 1, job, NULL);
    const json_t *seed = json_object_get(b, "seed");
    w->seed_given = seed && !json_is_null(seed);
    ok &= number(b, "seed", 0, 9007199254740991.0, WHOLE, 0, job);
    json_t *opt = json_object();
    json_object_set_new(job, "optimizer", opt);
    ok &= optimizer(member(b, "optimizer"), opt);
    ok &= early_stopping(json_object_get(b, "early_stopping"), has_val, job);

    /* the network against the data: the service's rules for which labels fit which
     * loss (labels_fit: class names need as many outputs as classes, ...), and the
     * engine taking them; a split leaves rows on both sides */
    if (ok) {
        struct spec_json sj;
        json_t *errs = NULL;
        CHECK(spec_from_json(def, "/network", fz_app.cfg.max_params, &sj, &errs) == 0);
        struct nn_error e;
        struct nn_net *net = nn_new(&sj.spec, fz_app.cfg.max_params, NULL, &e);
        CHECK(net);
        int K = nn_outputs(net), F = desc->features, rows = desc->rows;
        nn_free(net);
        char buf[256];
        const int S = nn_spec_output_steps(&sj.spec);
        ok &= F == sj.spec.inputs && !labels_fit(sj.spec.loss, K, S, desc, buf, sizeof buf);
        if (vdesc)
            ok &= vdesc->features == F && !labels_fit(sj.spec.loss, K, S, vdesc, buf, sizeof buf);
        if (split > 0)   /* as the worker splits: ceil(rows * split) rows to validation */
            ok &= (int)ceil(rows * split) < rows;
        if (ok) {
            struct dataset d, v;
            struct job_opts o = {.train = {.epochs = 1, .batch_size = 1},
                                 .opt = nn_adam(0.001f), .split = split};
            CHECK(store_dataset_load(json_string_value(ds), &d) == 0);
            if (vdesc)
                CHECK(store_dataset_load(json_string_value(json_object_get(val, "dataset")), &v) == 0);
            ok &= engine_takes(&sj.spec, &d, vdesc ? &v : NULL, &o, &e);
            dataset_free(&d);
            if (vdesc)
                dataset_free(&v);
        }
        spec_json_free(&sj);
    }
    json_decref(def);
    dataset_free(&dd);
    dataset_free(&vd_);
    w->ok = ok;
}

/* ---- checks ---- */

/* Two values: the same but for numbers with a fraction, equal to the 9 significant
 * digits the service answers. */
static int same(const json_t *a, const json_t *b)
{
    if (json_is_real(a) || json_is_real(b)) {
        if (!json_is_number(a) || !json_is_number(b))
            return 0;
        double x = json_number_value(a), y = json_number_value(b);
        return fabs(x - y) <= 1e-8 * fabs(y);
    }
    if (json_is_array(a) && json_is_array(b)) {
        if (json_array_size(a) != json_array_size(b))
            return 0;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!same(json_array_get(a, i), json_array_get(b, i)))
                return 0;
        return 1;
    }
    if (json_is_object(a) && json_is_object(b)) {
        if (json_object_size(a) != json_object_size(b))
            return 0;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)b, k, v)
            if (!same(json_object_get(a, k), v))
                return 0;
        return 1;
    }
    return json_equal(a, b);
}

static void check_job(const json_t *j, const struct want *w)
{
    static const char *const nulls[] = {"loss", "val_loss", "metrics", "val_metrics",
                                        "eta_seconds", "error", "model", "started_at",
                                        "finished_at", "node"};
    CHECK(json_is_object(j));
    CHECK(!strcmp(json_string_value(json_object_get(j, "state")), "queued"));
    CHECK(json_is_string(json_object_get(j, "id")));
    CHECK(json_is_string(json_object_get(j, "created_at")));
    CHECK(json_integer_value(json_object_get(j, "epoch")) == 0);
    CHECK(json_is_integer(json_object_get(j, "attempt")) &&
          json_integer_value(json_object_get(j, "attempt")) == 0);
    CHECK(json_is_number(json_object_get(j, "progress")) &&
          json_number_value(json_object_get(j, "progress")) == 0);
    for (size_t i = 0; i < sizeof nulls / sizeof *nulls; i++)
        CHECK(json_is_null(json_object_get(j, nulls[i])));
    /* warnings: the network's own alone (softmax with binary_crossentropy, ...), at their
     * paths under /network; none of the job's: the labels of these datasets stay within
     * 10, under the scale that warns of labels trained as they are, and no network here
     * has a recurrent layer */
    const json_t *warnings = json_object_get(j, "warnings");
    if (warnings) {
        struct spec_json sj;
        json_t *errs = NULL;
        CHECK(spec_from_json(json_object_get(j, "network"), "/network",
                             fz_app.cfg.max_params, &sj, &errs) == 0);
        json_t *own = spec_warnings(&sj.spec, "/network");
        CHECK(json_array_size(warnings) > 0 && json_equal(warnings, own));
        json_decref(own);
        spec_json_free(&sj);
    }
    CHECK(json_is_false(json_object_get(j, "model_deleted")));
    /* the request's fields: exactly those worked out */
    /* + id, state, epoch, attempt, progress, created_at, model_deleted (and warnings) */
    size_t state_fields = 7 + sizeof nulls / sizeof *nulls + (warnings != NULL);
    CHECK(json_object_size(j) == json_object_size(w->job) + state_fields);
    const char *k;
    json_t *v;
    json_object_foreach(w->job, k, v) {
        const json_t *got = json_object_get(j, k);
        CHECK(got);
        if (!strcmp(k, "seed") && !w->seed_given) {
            CHECK(json_is_integer(got) && json_integer_value(got) >= 0 &&
                  json_integer_value(got) <= 9007199254740991LL);
            continue;
        }
        if (!same(got, v)) {
            char *a = json_dumps(got, JSON_ENCODE_ANY), *b = json_dumps(v, JSON_ENCODE_ANY);
            fprintf(stderr, "job field %s: answered %s, not %s\n", k, a, b);
            free(a);
            free(b);
        }
        CHECK(same(got, v));
    }
}

/* The stored request, as a worker starts it, gets past the engine's own checks. */
static void check_starts(const char *id)
{
    struct job job;
    CHECK(store_job_get(id, &job) == STORE_OK);
    json_t *req = json_incref(job.request);
    job_free(&job);
    struct job_opts o;
    job_opts_read(req, &o);
    struct spec_json sj;
    json_t *errs = NULL;
    CHECK(spec_from_json(json_object_get(req, "network"), "/network", fz_app.cfg.max_params,
                         &sj, &errs) == 0);
    struct dataset d, v = {0};
    CHECK(store_dataset_load(o.dataset, &d) == 0);
    if (o.val_dataset)
        CHECK(store_dataset_load(o.val_dataset, &v) == 0);
    if (o.split > 0) {   /* jobs.c's split_rows: ceil(rows * split) rows for validation */
        int nv = (int)ceil(d.rows * o.split);
        CHECK(nv >= 1 && d.rows - nv >= 1);
    }
    struct nn_error e = {0};
    int takes = engine_takes(&sj.spec, &d, o.val_dataset ? &v : NULL, &o, &e);
    if (!takes)
        fprintf(stderr, "job %s cannot start: %s: %s\n", id, e.where, e.msg);
    CHECK(takes);
    spec_json_free(&sj);
    dataset_free(&d);
    dataset_free(&v);
    json_decref(req);
}

static void check_queued(const struct reply *rp, const struct want *w)
{
    CHECK(rp->content_type && !strcmp(rp->content_type, "application/json"));
    json_t *j = fz_json(rp);
    check_job(j, w);
    const char *id = json_string_value(json_object_get(j, "id"));
    char loc[128];
    snprintf(loc, sizeof loc, "/v1/jobs/%s", id);
    CHECK(!strcmp(rp->location, loc));
    struct reply g = fz_call(h_jobs_get, "GET", NULL, id, NULL);
    CHECK(g.status == 200);
    json_t *gj = fz_json(&g);
    CHECK(json_equal(gj, j));
    json_decref(gj);
    fz_reply_free(&g);
    check_starts(id);
    fz_sql("DELETE FROM jobs WHERE id = ?1", id, NULL);
    json_decref(j);
}

static void check_refused(const struct reply *rp, const json_t *body)
{
    json_t *p = fz_problem(rp, 422);
    const json_t *errors = json_object_get(p, "errors");
    CHECK(json_array_size(errors) > 0);
    size_t i;
    const json_t *e;
    json_array_foreach(errors, i, e) {
        const char *ptr = json_string_value(json_object_get(e, "pointer"));
        CHECK(ptr);
        CHECK(fz_pointer(body, ptr, NULL) != FZ_PTR_BAD);
    }
    json_decref(p);
}

/* Mutations that know JSON (fuzzutil.h), with the names of a job. */
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max, unsigned seed)
{
    static const char *const keys[] = {
        "name", "model_name", "network", "dataset", "validation", "epochs", "batch_size",
        "optimizer", "seed", "shuffle", "clip_norm", "standardize", "standardize_labels", "early_stopping",
        "split", "type",
        "learning_rate", "momentum", "nesterov", "weight_decay", "beta1", "beta2", "epsilon",
        "monitor", "patience", "min_delta", "restore_best", "inputs", "layers", "loss",
        "metrics", "units", "activation", "rate", "init", "alpha", "a/b~", NULL};
    static const char *const strings[] = {
        "@ds", "@net", "@val", "@ds_cls3", "@ds_bin", "@ds_num", "@net_cce3", "@net_bce",
        "adam", "sgd", "loss", "val_loss", "accuracy", "val_accuracy", "mae", "val_mse", "mse",
        "dense", "dropout", "batchnorm", "residual", "activation", "relu", "softmax", "sigmoid",
        "linear", "categorical_crossentropy", "binary_crossentropy", "net_nosuchone",
        "ds_nosuchone", "\xc3\xa9t\xc3\xa9", "iris", "mdl_iris", "iris@2", "-x", NULL};
    return fz_mutate(data, size, max, seed, 2, "{\"network\": \"@net\", \"dataset\": \"@ds\"}",
                     keys, strings);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    values[NDS + NNET] = ids[data[0] % NDS];
    values[NDS + NNET + 1] = ids[NDS + data[0] / NDS % NNET];
    values[NDS + NNET + 2] = ids[data[1] % NDS];
    json_t *body = fz_parse(data + 2, size - 2);
    if (!body)
        return 0;
    fz_subst(body, names, values, NTOK);
    struct want w;
    work_out(body, &w);
    struct reply rp = fz_call(h_jobs_create, "POST", body, NULL, NULL);
    if (w.ok) {
        CHECK(rp.status == 202);
        check_queued(&rp, &w);
    } else {
        check_refused(&rp, body);
    }
    fz_reply_free(&rp);
    json_decref(w.job);
    json_decref(body);
    return 0;
}
