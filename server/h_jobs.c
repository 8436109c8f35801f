/* h_jobs.c -- /v1/jobs: queue a training job (checking everything that can be checked
 * before it runs), list, describe, cancel, and the epochs' metrics as JSON or CSV. */
#include "handlers.h"

#include "csv.h"
#include "datasets.h"
#include "hub.h"
#include "jobs.h"
#include "spec_json.h"
#include "store.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* Text a client sent, made safe to quote in a fault's detail: at most 64 bytes of it, cut
 * between characters (csv_echo), into buf (at least 80 bytes). */
static const char *echo(const char *s, char *buf, size_t cap)
{
    csv_echo(buf, cap, s, strlen(s), 64);
    return buf;
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
                         const struct nn_spec *spec, int outputs, const json_t *desc)
{
    char buf[512];
    const char *why = labels_fit(spec->loss, outputs, desc, buf, sizeof buf);
    const char *kind = json_string_value(json_object_get(desc, "label_kind"));
    float lo, hi;
    if (!why && spec->loss == NN_BCE && kind &&
        (!strcmp(kind, "numbers") || !strcmp(kind, "vectors")) &&
        dataset_label_range(json_string_value(json_object_get(desc, "id")), &lo, &hi) == 0 &&
        (lo < 0 || hi > 1)) {
        snprintf(buf, sizeof buf, "binary_crossentropy takes labels from 0 to 1, and these go "
                 "from %g to %g", (double)lo, (double)hi);
        why = buf;
    }
    if (why)
        fault(errs, pointer, "%s labels do not fit %s: %s", which, nn_loss_name(spec->loss),
              why);
}

/* Checks a job body; returns the normalized request (new), or NULL with errs filled. */
static json_t *check_job(struct req *r, json_t *errs, char *network_id, char *val_id)
{
    static const char *const keys[] = {"name", "network", "dataset", "validation", "epochs",
                                       "batch_size", "optimizer", "seed", "shuffle",
                                       "clip_norm", "standardize", "early_stopping", NULL};
    const json_t *b = r->json;
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
        json_t *stored = NULL;
        if (strlen(nid) < 32 && network_get(nid, &stored) == 0) {   /* ids are shorter */
            def = json_incref(json_object_get(stored, "definition"));
            snprintf(network_id, 32, "%s", nid);
        }
        json_decref(stored);
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
        have_spec = spec_from_json(def, "/network", r->app->cfg.max_params, &sj, &serr) == 0;
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
    json_t *desc = NULL, *vdesc = NULL;
    if (!json_is_string(ds))
        fault(errs, "/dataset", "dataset must be the id of a dataset");
    else if (!(desc = dataset_describe(json_string_value(ds))))
        fault(errs, "/dataset", "no dataset with id %s", echo(json_string_value(ds), e, sizeof e));
    else
        json_object_set(n, "dataset", (json_t *)ds);
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
            vdesc = json_is_string(vd) ? dataset_describe(json_string_value(vd)) : NULL;
            if (!vdesc) {
                fault(errs, "/validation/dataset", "no dataset with id %s",
                      json_is_string(vd) ? echo(json_string_value(vd), e, sizeof e)
                                         : "(not a string)");
            } else {
                snprintf(val_id, 32, "%s", json_string_value(vd));
                if (desc && json_integer_value(json_object_get(vdesc, "features")) !=
                                json_integer_value(json_object_get(desc, "features")))
                    fault(errs, "/validation/dataset", "the validation dataset has %d features "
                          "but the training dataset %d",
                          (int)json_integer_value(json_object_get(vdesc, "features")),
                          (int)json_integer_value(json_object_get(desc, "features")));
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
        int rows = (int)json_integer_value(json_object_get(desc, "rows")),
            held = split_count(rows, split);
        if (held >= rows)
            fault(errs, "/validation/split", "a split of %g holds out %d of the dataset's %d "
                  "row%s, leaving none to train on", split, held, rows, rows == 1 ? "" : "s");
    }

    /* the network against the data, the validation dataset's too */
    if (have_spec && desc) {
        int features = (int)json_integer_value(json_object_get(desc, "features"));
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
    json_decref(desc);
    json_decref(vdesc);
    if (json_array_size(errs)) {
        json_decref(n);
        return NULL;
    }
    return n;
}

int h_jobs_create(struct req *r, struct reply *out)
{
    if (!r->json)
        return reply_problem(out, 400, NULL, "the body is empty: send a job in JSON "
                             "(Content-Type: application/json): {\"network\", \"dataset\"}");
    json_t *errs = json_array();
    char network_id[32] = "", val_id[32] = "", id[32];
    json_t *n = check_job(r, errs, network_id, val_id);
    if (!n) {
        size_t k = json_array_size(errs);
        return reply_problem(out, 422, errs, "the job has %zu error%s; see errors", k,
                             k == 1 ? "" : "s");
    }
    json_decref(errs);
    new_id(id, "job_");
    int epochs = (int)json_integer_value(json_object_get(n, "epochs"));
    int rc = db_job_insert(id, n, *network_id ? network_id : NULL,
                           json_string_value(json_object_get(n, "dataset")),
                           *val_id ? val_id : NULL, epochs);
    json_decref(n);
    if (rc < 0)
        return reply_problem(out, 500, NULL, "the job could not be stored");
    if (rc > 0)
        return reply_field(out, 409, "/dataset", "a dataset of the job was deleted meanwhile");
    jobs_wake(r->app->jobs);
    snprintf(out->location, sizeof out->location, "/v1/jobs/%s", id);
    return reply_json(out, 202, db_job_get(id));
}

int h_jobs_list(struct req *r, struct reply *out)
{
    static const char *const states[] = {"queued", "running", "succeeded", "failed",
                                         "cancelled"};
    int limit;
    if (req_limit(r, out, 1000, &limit) < 0)
        return 0;
    const char *state = req_query(r, "state");
    int ok = !state;
    for (size_t i = 0; state && i < sizeof states / sizeof *states; i++)
        ok |= !strcmp(state, states[i]);
    if (!ok)
        return reply_param(out, 400, "state", "state must be queued, running, succeeded, "
                                               "failed or cancelled");
    const char *after = req_query(r, "after");
    json_t *known = after && *after ? db_job_get(after) : NULL;
    if (after && *after && !known)
        return reply_param(out, 400, "after", "after: no job with id %.64s (pass the \"next\" "
                           "of the previous page)", after);
    json_decref(known);
    json_t *list = db_job_list(state, limit, after);
    return list ? reply_json(out, 200, list) : -1;
}

int h_jobs_get(struct req *r, struct reply *out)
{
    json_t *j = db_job_get(r->param[0]);
    return j ? reply_json(out, 200, j) : reply_not_found(out, "job", r->param[0]);
}

int h_jobs_cancel(struct req *r, struct reply *out)
{
    char state[16];
    int rc = db_job_cancel_queued(r->param[0], state);
    if (rc < 0)
        return reply_not_found(out, "job", r->param[0]);
    if (rc == 0 && strcmp(state, "running") == 0) {
        jobs_cancel_running(r->app->jobs, r->param[0]);
        return reply_json(out, 202, db_job_get(r->param[0]));
    }
    if (rc == 0)
        return reply_problem(out, 409, NULL, "job %s has already ended (%s)", r->param[0],
                             state);
    hub_status(r->param[0]);
    return reply_json(out, 200, db_job_get(r->param[0]));
}

/* One CSV field from a JSON number (empty for null). */
static void csv_num(FILE *f, const json_t *v)
{
    if (json_is_number(v))
        fprintf(f, ",%.9g", json_number_value(v));
    else
        fputc(',', f);
}

/* The epochs as CSV: epoch, loss, val_loss, then each metric and val_ metric, seconds. */
static int metrics_csv(struct reply *out, const json_t *rows)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return -1;
    const json_t *first = json_array_get(rows, 0), *m = json_object_get(first, "metrics");
    const char *key;
    json_t *v;
    fputs("epoch,loss,val_loss", f);
    json_object_foreach((json_t *)m, key, v)
        fprintf(f, ",%s,val_%s", key, key);
    fputs(",seconds\n", f);
    size_t i;
    const json_t *row;
    json_array_foreach(rows, i, row) {
        fprintf(f, "%d", (int)json_integer_value(json_object_get(row, "epoch")));
        csv_num(f, json_object_get(row, "loss"));
        csv_num(f, json_object_get(row, "val_loss"));
        json_object_foreach((json_t *)m, key, v) {
            csv_num(f, json_object_get(json_object_get(row, "metrics"), key));
            csv_num(f, json_object_get(json_object_get(row, "val_metrics"), key));
        }
        csv_num(f, json_object_get(row, "seconds"));
        fputc('\n', f);
    }
    fclose(f);
    int rc = reply_text(out, 200, "text/csv", buf, len);
    free(buf);
    return rc;
}

int h_jobs_metrics(struct req *r, struct reply *out)
{
    const char *format = req_query(r, "format"), *follow = req_query(r, "follow");
    if (format && strcmp(format, "json") && strcmp(format, "csv"))
        return reply_param(out, 400, "format", "format must be json or csv");
    if (follow && strcmp(follow, "true") && strcmp(follow, "false"))
        return reply_param(out, 400, "follow", "follow must be true or false");
    if (follow && !strcmp(follow, "true")) {
        if (format)
            return reply_param(out, 400, "format", "a followed job's epochs come as "
                               "newline-delimited JSON only; leave out format");
        return h_jobs_follow(r, out);
    }
    json_t *rows = db_job_epochs(r->param[0]);
    if (!rows)
        return reply_not_found(out, "job", r->param[0]);
    if (format && !strcmp(format, "csv")) {
        int rc = metrics_csv(out, rows);
        json_decref(rows);
        return rc;
    }
    return reply_json(out, 200, json_pack("{s:s, s:o}", "job", r->param[0], "epochs", rows));
}
