/* jobs.c -- jobs before and after they train: checking a job body against the stored
 * networks and datasets (everything that can be checked before it runs), the options a
 * worker reads back from the stored request, and how a job is shown (domain.h). */
#include "domain.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* ---- options ---- */

static double num(const json_t *o, const char *key, double def)
{
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : def;
}

void job_opts_read(const json_t *r, struct job_opts *o)
{
    const json_t *val = json_object_get(r, "validation"), *opt = json_object_get(r, "optimizer"),
                 *es = json_object_get(r, "early_stopping");
    *o = (struct job_opts){
        .dataset = json_string_value(json_object_get(r, "dataset")),
        .val_dataset = json_string_value(json_object_get(val, "dataset")),
        .split = num(val, "split", 0),
        .epochs = (int)num(r, "epochs", 10),
        .batch_size = (int)num(r, "batch_size", 32),
        .shuffle = !json_is_false(json_object_get(r, "shuffle")),
        .standardize = !json_is_false(json_object_get(r, "standardize")),
        .clip_norm = (float)num(r, "clip_norm", 0),
        .seed = (uint64_t)num(r, "seed", 0),
        .es = json_is_object(es),
        .monitor = json_string_value(json_object_get(es, "monitor")),
        .patience = (int)num(es, "patience", 3),
        .min_delta = num(es, "min_delta", 0),
        .restore_best = !json_is_false(json_object_get(es, "restore_best")),
    };
    const char *type = json_string_value(json_object_get(opt, "type"));
    if (type && strcmp(type, "sgd") == 0) {
        o->opt = nn_sgd((float)num(opt, "learning_rate", 0.01), (float)num(opt, "momentum", 0),
                        json_is_true(json_object_get(opt, "nesterov")));
    } else {
        o->opt = nn_adam((float)num(opt, "learning_rate", 0.001));
        o->opt.beta1 = (float)num(opt, "beta1", o->opt.beta1);
        o->opt.beta2 = (float)num(opt, "beta2", o->opt.beta2);
        o->opt.epsilon = (float)num(opt, "epsilon", o->opt.epsilon);
    }
    o->opt.weight_decay = (float)num(opt, "weight_decay", 0);
    if (!o->monitor)
        o->monitor = o->split > 0 || o->val_dataset ? "val_loss" : "loss";
}

/* ---- labels ---- */

const char *labels_fit(enum nn_loss loss, int K, const struct dataset *d, char *buf, size_t len)
{
    const enum label_kind kind = d->label_kind;
    const json_t *classes = d->classes;
    int ncl = json_is_array(classes) ? (int)json_array_size(classes) : 0, cols = d->label_cols;
    if (loss == NN_CCE) {
        if (kind == LABELS_CLASSES && ncl != K)
            return snprintf(buf, len, "the dataset has %d classes but the network has %d "
                            "outputs", ncl, K), buf;
        if (kind == LABELS_NUMBERS) {
            if (!ncl)
                return "categorical_crossentropy needs class labels, and the dataset's labels "
                       "are not whole numbers from 0 to 1023";
            double top = json_number_value(json_array_get(classes, (size_t)ncl - 1));
            if (top >= K)
                return snprintf(buf, len, "the dataset has class %g but the network has only "
                                "%d outputs (classes 0 to %d)", top, K, K - 1), buf;
        }
        if (kind == LABELS_ONEHOT && cols != K)
            return snprintf(buf, len, "the dataset's one-hot labels have %d columns but the "
                            "network has %d outputs", cols, K), buf;
        if (kind == LABELS_VECTORS)
            return "categorical_crossentropy needs class labels; the dataset's labels are rows "
                   "of numbers that are not one-hot";
        return NULL;
    }
    if (kind == LABELS_CLASSES) {
        if (loss == NN_BCE && K == 1 && ncl == 2)
            return NULL;
        return snprintf(buf, len, "the dataset's labels are class names (%d classes): use "
                        "categorical_crossentropy%s", ncl,
                        ncl == 2 ? ", or binary_crossentropy with 1 output" : ""), buf;
    }
    if (cols != K)
        return snprintf(buf, len, "the dataset has %d label column%s but the network has %d "
                        "outputs", cols, cols == 1 ? "" : "s", K), buf;
    return NULL;
}

/* Text a client sent, made safe to quote in a fault's detail: at most 64 bytes of it, cut
 * between characters (csv_echo), into buf (at least 80 bytes). */
static const char *echo(const char *s, char *buf, size_t cap)
{
    return text_echo(buf, cap, s, strlen(s), 64);
}

/* Adds {"pointer", "detail"} to errs. A fault is never lost: the details quote what the
 * client sent through echo, so they fit and are UTF-8, and should jansson still refuse
 * one, the fault is listed with a plain detail. */
static void fault(json_t *errs, const char *pointer, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fault(json_t *errs, const char *pointer, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    json_t *e = json_pack("{s:s, s:s}", "pointer", pointer, "detail", detail);
    if (!e)
        e = json_pack("{s:s, s:s}", "pointer", pointer, "detail", "is invalid");
    json_array_append_new(errs, e);
}

/* The pointer of member key of the object at base, the key escaped as RFC 6901 says ('~'
 * as ~0, '/' as ~1). New, NULL without memory. */
static char *member_pointer(const char *base, const char *key)
{
    size_t bl = strlen(base);
    char *p = malloc(bl + 2 * strlen(key) + 2), *o = p;
    if (!p)
        return NULL;
    memcpy(o, base, bl);
    o += bl;
    *o++ = '/';
    for (; *key; key++) {
        if (*key == '~' || *key == '/') {
            *o++ = '~';
            *o++ = *key == '~' ? '0' : '1';
        } else {
            *o++ = *key;
        }
    }
    *o = 0;
    return p;
}

/* Checks that obj has only the allowed keys (NULL-terminated). */
static void only(const json_t *obj, const char *base, const char *const *allowed, json_t *errs)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        int ok = 0;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(*a, key) == 0;
        if (!ok) {
            char *p = member_pointer(base, key), e[80];
            fault(errs, p ? p : base, "unknown field '%s'", echo(key, e, sizeof e));
            free(p);
        }
    }
}

/* A number field in [lo, hi] (integer when whole); absent: def. Stores it into norm. */
static double number(const json_t *obj, const char *key, const char *base, double lo, double hi,
                     int whole, double def, json_t *norm, json_t *errs)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", base, key);
    const json_t *v = json_object_get(obj, key);
    double x = def;
    if (v && !json_is_null(v)) {
        if (!json_is_number(v) || (whole && !json_is_integer(v))) {
            fault(errs, p, "%s must be %s", key, whole ? "a whole number" : "a number");
            return def;
        }
        x = json_number_value(v);
        if (!(x >= lo && x <= hi)) {
            fault(errs, p, "%s must be from %g to %g, not %g", key, lo, hi, x);
            return def;
        }
    }
    json_object_set_new(norm, key, whole ? json_integer((json_int_t)x) : json_real(x));
    return x;
}

static int boolean(const json_t *obj, const char *key, const char *base, int def, json_t *norm,
                   json_t *errs)
{
    const json_t *v = json_object_get(obj, key);
    int b = def;
    if (v && !json_is_null(v)) {
        if (!json_is_boolean(v)) {
            char p[256];
            snprintf(p, sizeof p, "%s/%s", base, key);
            fault(errs, p, "%s must be true or false", key);
        } else {
            b = json_is_true(v);
        }
    }
    json_object_set_new(norm, key, json_boolean(b));
    return b;
}

static json_t *check_optimizer(const json_t *in, json_t *errs)
{
    static const char *const sgd_keys[] = {"type", "learning_rate", "momentum", "nesterov",
                                           "weight_decay", NULL};
    static const char *const adam_keys[] = {"type", "learning_rate", "beta1", "beta2",
                                            "epsilon", "weight_decay", NULL};
    json_t *o = json_object();
    if (in && !json_is_object(in)) {
        fault(errs, "/optimizer", "optimizer must be an object such as {\"type\": \"adam\"}");
        return o;
    }
    const json_t *t = json_object_get(in, "type");
    const char *type = t ? json_string_value(t) : "adam";
    if (!type || nn_opt_parse(type) < 0) {
        fault(errs, "/optimizer/type", "type must be \"adam\" or \"sgd\"");
        type = "adam";
    }
    only(in, "/optimizer", strcmp(type, "sgd") ? adam_keys : sgd_keys, errs);
    json_object_set_new(o, "type", json_string(type));
    int sgd = !strcmp(type, "sgd");
    number(in, "learning_rate", "/optimizer", 1e-12, 1e6, 0, sgd ? 0.01 : 0.001, o, errs);
    number(in, "weight_decay", "/optimizer", 0, 1e6, 0, 0, o, errs);
    if (sgd) {
        double m = number(in, "momentum", "/optimizer", 0, 0.999999, 0, 0, o, errs);
        if (boolean(in, "nesterov", "/optimizer", 0, o, errs) && m == 0)
            fault(errs, "/optimizer/nesterov", "nesterov needs a momentum above 0");
    } else {
        number(in, "beta1", "/optimizer", 0, 0.999999, 0, 0.9, o, errs);
        number(in, "beta2", "/optimizer", 0, 0.999999, 0, 0.999, o, errs);
        number(in, "epsilon", "/optimizer", 1e-30, 1, 0, 1e-7, o, errs);
    }
    return o;
}

static json_t *check_early_stopping(const json_t *in, int has_val, json_t *errs)
{
    static const char *const keys[] = {"monitor", "patience", "min_delta", "restore_best", NULL};
    if (!in || json_is_null(in) || json_is_false(in))
        return NULL;
    if (!json_is_object(in)) {
        fault(errs, "/early_stopping", "early_stopping must be an object such as "
                                       "{\"patience\": 3}");
        return NULL;
    }
    only(in, "/early_stopping", keys, errs);
    json_t *o = json_object();
    const json_t *m = json_object_get(in, "monitor");
    const char *mon = m ? json_string_value(m) : has_val ? "val_loss" : "loss";
    const char *base = mon && !strncmp(mon, "val_", 4) ? mon + 4 : mon;
    if (!mon || (strcmp(base, "loss") && nn_metric_parse(base) < 0))
        fault(errs, "/early_stopping/monitor",
              "monitor must be loss, accuracy, mae or mse, with val_ before it to watch the "
              "validation set");
    else if (base != mon && !has_val)
        fault(errs, "/early_stopping/monitor", "monitor %s needs a validation set", mon);
    json_object_set_new(o, "monitor", json_string(mon ? mon : "loss"));
    number(in, "patience", "/early_stopping", 0, 100000, 1, 3, o, errs);
    number(in, "min_delta", "/early_stopping", 0, 1e30, 0, 0, o, errs);
    boolean(in, "restore_best", "/early_stopping", 1, o, errs);
    return o;
}

/* The output width of a checked spec: the last dense layer's units (the other kinds,
 * residual blocks included, keep their width). */
static int spec_outputs(const struct nn_spec *s)
{
    int w = s->inputs;
    for (int i = 0; i < s->nlayers; i++)
        if (s->layers[i].kind == NN_DENSE)
            w = s->layers[i].units;
    return w;
}

/* Whether the labels of a dataset (its description) fit the loss over `outputs` outputs:
 * labels_fit, then -- for binary_crossentropy, which takes labels from 0 to 1 -- the range
 * of labels that are plain numbers (class names and one-hot rows are 0 and 1 already).
 * Adds a fault at pointer when they do not; which: "the dataset's", ... */
static void check_labels(json_t *errs, const char *pointer, const char *which,
                         const struct nn_spec *spec, int outputs, const struct dataset *d)
{
    char buf[512];
    const char *why = labels_fit(spec->loss, outputs, d, buf, sizeof buf);
    float lo, hi;
    if (!why && spec->loss == NN_BCE &&
        (d->label_kind == LABELS_NUMBERS || d->label_kind == LABELS_VECTORS) &&
        store_dataset_label_range(d->id, &lo, &hi) == STORE_OK && (lo < 0 || hi > 1)) {
        snprintf(buf, sizeof buf, "binary_crossentropy takes labels from 0 to 1, and these go "
                 "from %g to %g", (double)lo, (double)hi);
        why = buf;
    }
    if (why)
        fault(errs, pointer, "%s labels do not fit %s: %s", which, nn_loss_name(spec->loss),
              why);
}

json_t *job_check(const json_t *body, size_t max_params, json_t *errs, struct job_plan *plan)
{
    char *network_id = plan->network_id, *val_id = plan->val_dataset_id;
    *network_id = *val_id = 0;
    static const char *const keys[] = {"name", "network", "dataset", "validation", "epochs",
                                       "batch_size", "optimizer", "seed", "shuffle",
                                       "clip_norm", "standardize", "early_stopping", NULL};
    const json_t *b = body;
    if (!json_is_object(b)) {
        fault(errs, "", "a job is a JSON object with at least \"network\" and \"dataset\"");
        return NULL;
    }
    only(b, "", keys, errs);
    json_t *n = json_object();
    const json_t *name = json_object_get(b, "name");
    if (name && !json_is_string(name))
        fault(errs, "/name", "name must be a string");
    else if (name)
        json_object_set(n, "name", (json_t *)name);

    /* the network: a stored one by id, or a definition */
    const json_t *net = json_object_get(b, "network");
    json_t *def = NULL;
    char e[80];
    if (json_is_string(net)) {
        const char *nid = json_string_value(net);
        struct network stored;
        if (strlen(nid) < 32 && store_network_get(nid, &stored) == STORE_OK) {   /* ids are shorter */
            def = json_incref(stored.definition);
            snprintf(network_id, 32, "%s", nid);
            network_free(&stored);
        }
        if (!def)
            fault(errs, "/network", "no network with id %s", echo(nid, e, sizeof e));
    } else if (json_is_object(net)) {
        def = json_incref((json_t *)net);
    } else {
        fault(errs, "/network", "network must be the id of a stored network or a definition");
    }
    struct spec_json sj = {0};
    int have_spec = 0;
    if (def) {
        json_t *serr = NULL;
        have_spec = spec_from_json(def, "/network", max_params, &sj, &serr) == 0;
        if (!have_spec && serr)
            json_array_extend(errs, serr);
        json_decref(serr);
        /* answered and stored as a definition with every default written out */
        json_t *norm = have_spec ? spec_to_json(&sj.spec, sj.name) : NULL;
        json_object_set_new(n, "network", norm ? norm : json_incref(def));
        json_decref(def);
        if (*network_id)
            json_object_set_new(n, "network_id", json_string(network_id));
    }

    /* the data */
    const json_t *ds = json_object_get(b, "dataset");
    struct dataset dd = {0}, vd_ = {0}, *desc = NULL, *vdesc = NULL;
    if (!json_is_string(ds))
        fault(errs, "/dataset", "dataset must be the id of a dataset");
    else if (store_dataset_get(json_string_value(ds), &dd) != STORE_OK)
        fault(errs, "/dataset", "no dataset with id %s", echo(json_string_value(ds), e, sizeof e));
    else
        desc = &dd, json_object_set(n, "dataset", (json_t *)ds);
    const json_t *val = json_object_get(b, "validation");
    int has_val = 0;
    double split = 0;
    if (val && !json_is_null(val)) {
        static const char *const vkeys[] = {"split", "dataset", NULL};
        json_t *vn = json_object();
        const json_t *vs = json_object_get(val, "split"), *vd = json_object_get(val, "dataset");
        if (!json_is_object(val) || (!vs == !vd)) {
            fault(errs, "/validation", "validation is {\"split\": 0.2} or {\"dataset\": id}");
        } else if (vs) {
            only(val, "/validation", vkeys, errs);
            double s = json_number_value(vs);
            if (!json_is_number(vs) || !(s > 0 && s < 1))
                fault(errs, "/validation/split", "split must be a number between 0 and 1");
            else
                split = s;
            json_object_set_new(vn, "split", json_real(s));
            has_val = 1;
        } else {
            only(val, "/validation", vkeys, errs);
            if (json_is_string(vd) && store_dataset_get(json_string_value(vd), &vd_) == STORE_OK)
                vdesc = &vd_;
            if (!vdesc) {
                fault(errs, "/validation/dataset", "no dataset with id %s",
                      json_is_string(vd) ? echo(json_string_value(vd), e, sizeof e)
                                         : "(not a string)");
            } else {
                snprintf(val_id, 32, "%s", json_string_value(vd));
                if (desc && vdesc->features != desc->features)
                    fault(errs, "/validation/dataset", "the validation dataset has %d features "
                          "but the training dataset %d", vdesc->features, desc->features);
                json_object_set(vn, "dataset", (json_t *)vd);
                has_val = 1;
            }
        }
        json_object_set_new(n, "validation", vn);
    }

    /* training options */
    number(b, "epochs", "", 1, 100000, 1, 10, n, errs);
    number(b, "batch_size", "", 1, 65536, 1, 32, n, errs);
    number(b, "clip_norm", "", 0, 1e30, 0, 0, n, errs);
    boolean(b, "shuffle", "", 1, n, errs);
    boolean(b, "standardize", "", 1, n, errs);
    uint32_t seed = 0;
    if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed)
        seed = 42;
    number(b, "seed", "", 0, 9007199254740991.0, 1, seed, n, errs);
    json_object_set_new(n, "optimizer", check_optimizer(json_object_get(b, "optimizer"), errs));
    json_t *es = check_early_stopping(json_object_get(b, "early_stopping"), has_val, errs);
    if (es)
        json_object_set_new(n, "early_stopping", es);

    /* the split against the rows: both sides need some, as the worker splits them */
    if (split > 0 && desc) {
        int rows = desc->rows, held = split_count(rows, split);
        if (held >= rows)
            fault(errs, "/validation/split", "a split of %g holds out %d of the dataset's %d "
                  "row%s, leaving none to train on", split, held, rows, rows == 1 ? "" : "s");
    }

    /* the network against the data, the validation dataset's too */
    if (have_spec && desc) {
        int features = desc->features;
        if (features != sj.spec.inputs)
            fault(errs, "/dataset", "the dataset has %d features but the network takes %d "
                  "inputs", features, sj.spec.inputs);
        else
            check_labels(errs, "/dataset", "the dataset's", &sj.spec, spec_outputs(&sj.spec),
                         desc);
    }
    if (have_spec && vdesc)
        check_labels(errs, "/validation/dataset", "the validation dataset's", &sj.spec,
                     spec_outputs(&sj.spec), vdesc);
    spec_json_free(&sj);
    dataset_free(&dd);
    dataset_free(&vd_);
    if (json_array_size(errs)) {
        json_decref(n);
        return NULL;
    }
    return n;
}


json_t *job_json(const struct job *j)
{
    json_t *o = json_is_object(j->request) ? json_copy(j->request) : json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "id", json_string(j->id));
    json_object_set_new(o, "state", json_string(job_state_name(j->state)));
    json_object_set_new(o, "epoch", json_integer(j->epoch));
    json_object_set_new(o, "epochs", json_integer(j->epochs));
    json_object_set_new(o, "progress", json_real(j->progress));
    static const char *const from_latest[] = {"loss", "val_loss", "metrics", "val_metrics"};
    for (int k = 0; k < 4; k++) {
        json_t *v = json_object_get(j->latest, from_latest[k]);
        json_object_set_new(o, from_latest[k], v ? json_incref(v) : json_null());
    }
    json_object_set_new(o, "eta_seconds", isnan(j->eta) ? json_null() : json_real(j->eta));
    json_object_set_new(o, "error", j->error ? json_incref(j->error) : json_null());
    json_object_set_new(o, "model", *j->model_id ? json_string(j->model_id) : json_null());
    json_object_set_new(o, "created_at", *j->created_at ? json_string(j->created_at)
                                                        : json_null());
    json_object_set_new(o, "started_at", *j->started_at ? json_string(j->started_at)
                                                        : json_null());
    json_object_set_new(o, "finished_at", *j->finished_at ? json_string(j->finished_at)
                                                          : json_null());
    return o;
}
