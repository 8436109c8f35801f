/* jobs.c -- jobs before and after they train: checking a job body against the stored
 * networks and datasets (everything that can be checked before it runs), the options a
 * worker reads back from the stored request, and how a job is shown (domain.h). */
#include "domain.h"

#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* What a row is, for a fault: "rows of F values" or "sequences of T steps of F values". */
static void shape(char *out, size_t cap, int timesteps, int features)
{
    if (timesteps > 0)
        snprintf(out, cap, "sequences of %d steps of %d values", timesteps, features);
    else
        snprintf(out, cap, "rows of %d values, not sequences", features);
}

/* ---- options ----
 *
 * DESIGN. A job's options are rows of tables: the engine's for training (nn_train_desc:
 * epochs, batch_size, clip_norm, shuffle) and for each optimizer (nn_opt_desc), and this
 * file's for what the service adds (job_fields, validation_fields, es_fields). The same
 * rows are read by job_check (a request, with every fault), by job_opts_read (the stored
 * request, as a worker starts it), and written back into the request as it is answered
 * and stored, every default filled in. An option is one row; its range and message are
 * nn_field_check's.
 */

/* What early stopping watches: the loss or a metric, of the training rows or (val_) the
 * validation rows. Index 2*i is watched value i (0 the loss, then each metric), 2*i + 1
 * its val_ twin. */
#define MONITORS (2 * (1 + NN_METRIC_COUNT))
static const char *monitor_names[MONITORS];
static char monitor_text[MONITORS][32];
static pthread_once_t monitors_once = PTHREAD_ONCE_INIT;

static void monitors_name(void)
{
    for (int i = 0; i < MONITORS; i++) {
        const char *base = i < 2 ? "loss" : nn_metric_name(i / 2 - 1);
        snprintf(monitor_text[i], sizeof monitor_text[i], "%s%s", i % 2 ? "val_" : "", base);
        monitor_names[i] = monitor_text[i];
    }
}

#define JOB(m) offsetof(struct job_opts, m)
static const struct nn_field job_fields[] = {
    {.name = "seed", .type = NN_FT_U64, .offset = JOB(seed), .lo = 0, .hi = 9007199254740991.0,
     .flags = NN_FIELD_DEFAULT_VARIES,
     .about = "the random seed of the weights, the order of the rows and dropout; random "
              "when absent"},
    {.name = "standardize", .type = NN_FT_BOOL, .offset = JOB(standardize), .def = 1,
     .about = "whether each feature is scaled to mean 0 and deviation 1 by the training "
              "rows' statistics, kept with the model"},
    {.name = "standardize_labels", .type = NN_FT_BOOL, .offset = JOB(standardize_labels),
     .def = 1,
     .about = "with mse or mae and labels that are numbers, whether the labels are scaled "
              "to mean 0 and deviation 1 by the training rows' statistics, kept with the "
              "model and undone at prediction"},
};
static const struct nn_field validation_fields[] = {
    {.name = "split", .type = NN_FT_DOUBLE, .offset = JOB(split), .lo = 0, .hi = 1,
     .flags = NN_FIELD_REQUIRED | NN_FIELD_LO_OPEN | NN_FIELD_HI_OPEN,
     .about = "the fraction of the dataset's rows held out to validate on (the form "
              "{\"split\"}; the other is {\"dataset\"})"},
};
static const struct nn_field es_fields[] = {
    {.name = "monitor", .type = NN_FT_NAME, .offset = JOB(stop.monitor), .names = monitor_names,
     .nnames = MONITORS, .flags = NN_FIELD_DEFAULT_VARIES,
     .about = "what is watched; val_loss with a validation set, else loss"},
    {.name = "patience", .type = NN_FT_INT, .offset = JOB(stop.patience), .lo = 0, .hi = 100000,
     .def = 3, .about = "epochs without improvement before training stops"},
    {.name = "min_delta", .type = NN_FT_DOUBLE, .offset = JOB(stop.min_delta), .lo = 0,
     .hi = 1e30, .about = "the least change that counts as an improvement"},
    {.name = "restore_best", .type = NN_FT_BOOL, .offset = JOB(stop.restore_best), .def = 1,
     .about = "whether the model keeps the best epoch's weights rather than the last"},
};
#undef JOB
#define NFIELDS(t) ((int)(sizeof t / sizeof t[0]))

int job_tables(const struct named_table **out)
{
    static const struct named_table tables[] = {
        {"", {job_fields, NFIELDS(job_fields)}},
        {"/validation", {validation_fields, NFIELDS(validation_fields)}},
        {"/early_stopping", {es_fields, NFIELDS(es_fields)}},
    };
    pthread_once(&monitors_once, monitors_name);
    *out = tables;
    return NFIELDS(tables);
}

/* The optimizer of obj (its "optimizer" member, at /optimizer) into o. */
static void read_optimizer(struct faults *fs, const json_t *obj, struct nn_optimizer *o)
{
    static const char *const type_field[] = {"type", NULL};
    const char *names[NN_OPT_COUNT];
    for (int t = 0; t < NN_OPT_COUNT; t++)
        names[t] = nn_opt_name(t);
    const json_t *in = json_member(obj, "optimizer"), *t = json_member(in, "type");
    int before = fs->n, type = NN_ADAM;
    if (in && !json_is_object(in)) {
        fault_add(fs, "/optimizer", "optimizer must be an object such as {\"type\": \"adam\"}");
        in = NULL;
    } else if (t && (type = json_name(fs, t, "/optimizer/type", "optimizer type", names,
                                      NN_OPT_COUNT)) < 0) {
        type = NN_ADAM;
    }
    const struct nn_kind_desc *d = nn_opt_desc(type);
    char what[64];
    snprintf(what, sizeof what, "the %s optimizer", d->name);
    memset(o, 0, sizeof *o);
    o->type = (enum nn_opt)type;
    if (in)
        fields_unknown(fs, in, "/optimizer", &(struct field_table){d->fields, d->nfields}, 1,
                       type_field, what);
    fields_read(fs, in, "/optimizer", d->fields, d->nfields, o, NULL, NULL);
    if (fs->n == before) {   /* the type's own rules: nesterov needs a momentum */
        struct nn_faults sink = {faults_sink, fs, 0};
        nn_opt_check_all(o, &sink);
    }
}

/* Early stopping of obj, when it is on, into o->stop; has_val: there is a validation set. */
static void read_early_stopping(struct faults *fs, const json_t *obj, struct job_opts *o,
                                int has_val)
{
    const json_t *in = json_object_get(obj, "early_stopping");
    o->es = in && !json_is_null(in) && !json_is_false(in);
    if (!o->es)
        return;
    if (!json_is_object(in)) {
        fault_add(fs, "/early_stopping", "early_stopping must be an object such as "
                  "{\"patience\": 3}");
        in = NULL;
    } else {
        fields_unknown(fs, in, "/early_stopping",
                       &(struct field_table){es_fields, NFIELDS(es_fields)}, 1, NULL,
                       "early_stopping");
    }
    unsigned long given;
    fields_read(fs, in, "/early_stopping", es_fields, NFIELDS(es_fields), o, &given, NULL);
    /* the monitor's default depends on the validation set */
    if (!fields_given(es_fields, NFIELDS(es_fields), given, "monitor"))
        o->stop.monitor = has_val;
    else if (o->stop.monitor % 2 && !has_val)
        fault_add(fs, "/early_stopping/monitor", "monitor %s needs a validation set",
                  monitor_names[o->stop.monitor]);
}

/* The options of a request (or of a stored one) into o: all but the network and the
 * checks against the datasets. Faults go to fs. */
static void read_options(struct faults *fs, const json_t *r, struct job_opts *o)
{
    pthread_once(&monitors_once, monitors_name);
    const json_t *val = json_member(r, "validation");
    o->dataset = json_string_value(json_object_get(r, "dataset"));
    o->val_dataset = json_string_value(json_member(val, "dataset"));
    if (json_is_object(val) && json_member(val, "split"))
        fields_read(fs, val, "/validation", validation_fields, NFIELDS(validation_fields), o,
                    NULL, NULL);
    fields_read(fs, r, "", nn_train_desc.fields, nn_train_desc.nfields, &o->train, NULL, NULL);
    unsigned long given;
    fields_read(fs, r, "", job_fields, NFIELDS(job_fields), o, &given, NULL);
    o->seed_given = fields_given(job_fields, NFIELDS(job_fields), given, "seed");
    read_optimizer(fs, r, &o->opt);
    read_early_stopping(fs, r, o, o->split > 0 || o->val_dataset);
}

void job_opts_read(const json_t *r, struct job_opts *o)
{
    struct faults quiet = {0};   /* a stored request was checked: counted, not listed */
    memset(o, 0, sizeof *o);
    read_options(&quiet, r, o);
}

/* The options of o into the request n, every default written out. 0, or -1 without
 * memory. */
static int write_options(json_t *n, const struct job_opts *o)
{
    const struct nn_kind_desc *d = nn_opt_desc(o->opt.type);
    json_t *opt = json_pack("{s:s}", "type", d->name), *es = o->es ? json_object() : NULL;
    int rc = fields_write(n, nn_train_desc.fields, nn_train_desc.nfields, &o->train, NULL) < 0 ||
             fields_write(n, job_fields, NFIELDS(job_fields), o, NULL) < 0 || !opt ||
             fields_write(opt, d->fields, d->nfields, &o->opt, NULL) < 0 ||
             (o->es && (!es || fields_write(es, es_fields, NFIELDS(es_fields), o, NULL) < 0))
                 ? -1 : 0;
    if (rc == 0 && json_object_set(n, "optimizer", opt) < 0)
        rc = -1;
    if (rc == 0 && es && json_object_set(n, "early_stopping", es) < 0)
        rc = -1;
    json_decref(opt);
    json_decref(es);
    return rc;
}

int split_count(int rows, double split) { return (int)ceil(rows * split); }

/* ---- labels ---- */

const char *labels_fit(enum nn_loss loss, int K, int steps, const struct dataset *d, char *buf,
                       size_t len)
{
    const enum label_kind kind = d->label_kind;
    const json_t *classes = d->classes;
    int ncl = json_is_array(classes) ? (int)json_array_size(classes) : 0, cols = d->label_cols;
    if (loss == NN_CCE && steps > 0) {   /* a class per step */
        if ((kind == LABELS_VECTORS || kind == LABELS_ONEHOT) && (cols == K || cols == steps))
            return NULL;
        return snprintf(buf, len, "categorical_crossentropy over an output of %d steps of %d "
                        "takes a class per step: rows of %d class indices (0 to %d), or of %d "
                        "values one-hot per step", steps, K / steps, steps, K / steps - 1, K),
               buf;
    }
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

/* For "no <want> with id <id>": what the id names instead (": that is a dataset id"),
 * into buf; "" when it names no other kind. */
static const char *other_kind(const char *id, const char *want, char *buf, size_t cap)
{
    const char *is = id_kind(id);
    snprintf(buf, cap, "%s%s%s", is && strcmp(is, want) ? ": that is a " : "",
             is && strcmp(is, want) ? is : "", is && strcmp(is, want) ? " id" : "");
    return buf;
}

/* Whether the labels of a dataset (its description) fit the loss over `outputs` outputs:
 * labels_fit, then -- for binary_crossentropy, which takes labels from 0 to 1 -- the range
 * of labels that are plain numbers (class names and one-hot rows are 0 and 1 already).
 * Adds a fault at pointer when they do not; which: "the dataset's", ... */
static void check_labels(struct faults *fs, const char *pointer, const char *which,
                         const struct nn_spec *spec, int outputs, const struct dataset *d)
{
    char buf[512];
    const int steps = nn_spec_output_steps(spec);
    const char *why = labels_fit(spec->loss, outputs, steps, d, buf, sizeof buf);
    float lo, hi;
    if (!why && spec->loss == NN_CCE && steps > 0 &&
        store_dataset_label_range(d->id, &lo, &hi) == STORE_OK) {
        int top = d->label_cols == steps ? outputs / steps - 1 : 1;
        if (lo < 0 || hi > top) {
            snprintf(buf, sizeof buf, "%s go from 0 to %d, and these go from %g to %g",
                     d->label_cols == steps ? "class indices" : "one-hot values", top,
                     (double)lo, (double)hi);
            why = buf;
        }
    }
    if (!why && spec->loss == NN_BCE &&
        (d->label_kind == LABELS_NUMBERS || d->label_kind == LABELS_VECTORS) &&
        store_dataset_label_range(d->id, &lo, &hi) == STORE_OK && (lo < 0 || hi > 1)) {
        snprintf(buf, sizeof buf, "binary_crossentropy takes labels from 0 to 1, and these go "
                 "from %g to %g", (double)lo, (double)hi);
        why = buf;
    }
    if (why)
        fault_add(fs, pointer, "%s labels do not fit %s: %s", which, nn_loss_name(spec->loss),
                  why);
}

/* Appends a warning {"pointer", "detail"} (the shape of a network's own warnings) to the
 * job's "warnings", made when the first is added; out of memory, the warning is lost. */
static void warning_add(json_t *n, const char *pointer, const char *detail)
{
    json_t *w = json_object_get(n, "warnings");
    if (!w) {
        w = json_array();
        if (!w || json_object_set_new(n, "warnings", w) < 0)
            return;
    }
    json_array_append_new(w, json_pack("{s:s, s:s}", "pointer", pointer, "detail", detail));
}

/* Warns, into the job's "warnings", when number labels far from the outputs' scale (past
 * 10) are trained as they are (mse or mae without standardize_labels). The outputs start
 * near 0. With adam, or with mae (whose gradient does not grow with the error), a weight
 * moves about a learning rate a step, so labels of size M take some M / learning_rate
 * steps to reach: a warning when the job has fewer. With sgd on mse the gradient grows
 * with the labels: a learning rate times M past 1 is likely to diverge. */
static void label_scale_warning(json_t *n, const struct nn_spec *spec, const struct dataset *d,
                                const struct job_opts *o)
{
    float lo, hi;
    if (o->standardize_labels || (spec->loss != NN_MSE && spec->loss != NN_MAE) ||
        (d->label_kind != LABELS_NUMBERS && d->label_kind != LABELS_VECTORS) ||
        store_dataset_label_range(d->id, &lo, &hi) != STORE_OK)
        return;
    double M = fmax(fabs((double)lo), fabs((double)hi)), lr = o->opt.learning_rate;
    int rows = d->rows - (o->split > 0 ? split_count(d->rows, o->split) : 0);
    double steps = (double)o->train.epochs * ceil((double)rows / o->train.batch_size);
    char detail[512];
    if (M <= 10 || lr <= 0)
        return;
    if (o->opt.type == NN_SGD && spec->loss == NN_MSE && lr * M > 1)
        snprintf(detail, sizeof detail, "labels reach %g and are trained as they are "
                 "(standardize_labels is false): sgd on mse takes steps that grow with them, "
                 "and a learning rate of %g times %g is over 1, likely to diverge; standardize "
                 "them or lower the learning rate", M, lr, M);
    else if (M / lr > steps)
        snprintf(detail, sizeof detail, "labels reach %g and are trained as they are "
                 "(standardize_labels is false): the outputs start near 0 and move about a "
                 "learning rate (%g) a step, so reaching them takes some %.0f steps, and the "
                 "job has %.0f (epochs times batches); standardize them or raise the "
                 "learning rate", M, lr, M / lr, steps);
    else
        return;
    warning_add(n, "/standardize_labels", detail);
}

/* Warns, into the job's "warnings", when the network has a recurrent layer (rnn, lstm or
 * gru; they are never inside a residual block) and clip_norm is 0: back through many
 * steps a recurrent kernel multiplies the gradient again at every step, and one batch
 * whose gradient explodes can throw the weights far off; clipping its global norm is the
 * usual cure. */
static void clip_norm_warning(json_t *n, const struct nn_spec *spec, const struct job_opts *o)
{
    if (o->train.clip_norm > 0)
        return;
    for (int i = 0; i < spec->nlayers; i++) {
        enum nn_kind k = spec->layers[i].kind;
        if (k != NN_RNN && k != NN_LSTM && k != NN_GRU)
            continue;
        char detail[512];
        snprintf(detail, sizeof detail, "the network has a recurrent layer (%s, at "
                 "/network/layers/%d) and clip_norm is 0, so no gradient is clipped; "
                 "clipping the gradient's global norm (clip_norm, for example 1.0) is the "
                 "usual cure for exploding gradients in recurrent networks",
                 nn_kind_name(k), i);
        warning_add(n, "/clip_norm", detail);
        return;
    }
}

json_t *job_check(const json_t *body, const struct job_limits *lim, struct faults *fs,
                  struct job_plan *plan)
{
    static const char *const refs[] = {"name", "model_name", "network", "dataset",
                                       "validation", "optimizer", "early_stopping", NULL};
    char *network_id = plan->network_id, *val_id = plan->val_dataset_id, e[80], hint[40];
    *network_id = *val_id = 0;
    int before = fs->n;
    const json_t *b = body;
    if (!json_is_object(b)) {
        fault_add(fs, "", "a job is a JSON object with at least \"network\" and \"dataset\"");
        return NULL;
    }
    const struct field_table options[] = {{nn_train_desc.fields, nn_train_desc.nfields},
                                          {job_fields, NFIELDS(job_fields)}};
    fields_unknown(fs, b, "", options, 2, refs, "a job");
    json_t *n = json_object();
    if (!n)
        return NULL;
    const json_t *name = json_member(b, "name");
    if (name && !json_is_string(name))
        fault_add(fs, "/name", "name must be a string, not %s", json_kind(name));
    else if (name)
        json_object_set(n, "name", (json_t *)name);
    /* the name of the model it leaves (a string, so beside the option tables, which hold
     * numbers and names from a list), whose next version that model becomes */
    const json_t *model_name = json_member(b, "model_name");
    char why[256];
    if (model_name && !json_is_string(model_name))
        fault_add(fs, "/model_name", "model_name must be a string, not %s",
                  json_kind(model_name));
    else if (model_name && model_name_check(json_string_value(model_name),
                                            json_string_length(model_name), 0, why,
                                            sizeof why) < 0)
        fault_add(fs, "/model_name", "%s", why);
    else if (model_name)
        json_object_set(n, "model_name", (json_t *)model_name);

    /* the network: a stored one by id, or a definition */
    const json_t *net = json_object_get(b, "network");
    json_t *def = NULL;
    if (json_is_string(net)) {
        const char *nid = json_string_value(net);
        struct network stored;
        /* ids are shorter than 32 bytes */
        if (strlen(nid) < 32 && store_network_get(nid, &stored) == STORE_OK) {
            def = json_incref(stored.definition);
            snprintf(network_id, 32, "%s", nid);
            network_free(&stored);
        }
        if (!def)
            fault_add(fs, "/network", "no network with id %s%s", echo(nid, e, sizeof e),
                      other_kind(nid, "network", hint, sizeof hint));
    } else if (json_is_object(net)) {
        def = json_incref((json_t *)net);
    } else {
        fault_add(fs, "/network", "network must be the id of a stored network or a definition");
    }
    struct spec_json sj = {0};
    int have_spec = 0;
    if (def) {
        json_t *serr = NULL;
        have_spec = spec_from_json(def, "/network", lim->max_params, &sj, &serr) == 0;
        size_t i;
        json_t *f;
        json_array_foreach(serr, i, f)
            fault_add(fs, json_string_value(json_object_get(f, "pointer")), "%s",
                      json_string_value(json_object_get(f, "detail")));
        json_decref(serr);
        /* answered and stored as a definition with every default written out */
        json_t *norm = have_spec ? spec_to_json(&sj.spec, sj.name) : NULL;
        json_object_set_new(n, "network", norm ? norm : json_incref(def));
        json_decref(def);
        if (*network_id)
            json_object_set_new(n, "network_id", json_string(network_id));
        /* the network's own warnings (a plain rnn over long sequences, ...), at its path */
        json_t *sw = have_spec ? spec_warnings(&sj.spec, "/network") : NULL;
        size_t k;
        json_t *w;
        json_array_foreach(sw, k, w)
            warning_add(n, json_string_value(json_object_get(w, "pointer")),
                        json_string_value(json_object_get(w, "detail")));
        json_decref(sw);
    }

    /* the data */
    const json_t *ds = json_object_get(b, "dataset");
    struct dataset dd = {0}, vd_ = {0}, *desc = NULL, *vdesc = NULL;
    if (!json_is_string(ds))
        fault_add(fs, "/dataset", "dataset must be the id of a dataset");
    else if (store_dataset_get(json_string_value(ds), &dd) != STORE_OK)
        fault_add(fs, "/dataset", "no dataset with id %s%s",
                  echo(json_string_value(ds), e, sizeof e),
                  other_kind(json_string_value(ds), "dataset", hint, sizeof hint));
    else
        desc = &dd, json_object_set(n, "dataset", (json_t *)ds);
    const json_t *val = json_member(b, "validation");
    if (val) {
        static const char *const vkeys[] = {"dataset", NULL};
        const json_t *vs = json_member(val, "split"), *vd = json_member(val, "dataset");
        if (!json_is_object(val) || (!vs == !vd)) {
            fault_add(fs, "/validation", "validation is {\"split\": 0.2} or {\"dataset\": id}");
        } else {
            fields_unknown(fs, val, "/validation",
                           &(struct field_table){validation_fields, NFIELDS(validation_fields)},
                           1, vkeys, "validation");
        }
        if (json_is_object(val) && vd && !vs) {
            if (json_is_string(vd) && store_dataset_get(json_string_value(vd), &vd_) == STORE_OK)
                vdesc = &vd_;
            if (!vdesc)
                fault_add(fs, "/validation/dataset", "no dataset with id %s%s",
                          json_is_string(vd) ? echo(json_string_value(vd), e, sizeof e)
                                             : "(not a string)",
                          json_is_string(vd) ? other_kind(json_string_value(vd), "dataset",
                                                          hint, sizeof hint)
                                             : "");
            else
                snprintf(val_id, 32, "%s", json_string_value(vd));
            if (vdesc && desc && vdesc->features != desc->features)
                fault_add(fs, "/validation/dataset", "the validation dataset has %d features "
                          "but the training dataset %d", vdesc->features, desc->features);
            else if (vdesc && desc && vdesc->timesteps != desc->timesteps)
                fault_add(fs, "/validation/dataset", "the validation dataset's rows are %d "
                          "steps but the training dataset's %d (0: not sequences)",
                          vdesc->timesteps, desc->timesteps);
        }
    }

    /* the options: read, and written back, through their tables */
    struct job_opts o = {0};
    read_options(fs, b, &o);
    if (val) {
        json_t *vn = json_object();
        if (o.split > 0)
            fields_write(vn, validation_fields, NFIELDS(validation_fields), &o, NULL);
        else if (vdesc)
            json_object_set_new(vn, "dataset", json_string(val_id));
        json_object_set_new(n, "validation", vn);
    }
    if (!o.seed_given) {   /* a random seed, written into the job: it trains the same again */
        uint32_t seed = 42;
        if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed)
            seed = 42;
        o.seed = seed;
    }
    if (write_options(n, &o) < 0)
        fault_add(fs, "", "the service ran out of memory reading the job");

    /* the split against the rows: both sides need some, as the worker splits them */
    if (o.split > 0 && desc) {
        int rows = desc->rows, held = split_count(rows, o.split);
        if (held >= rows)
            fault_add(fs, "/validation/split", "a split of %g holds out %d of the dataset's %d "
                      "row%s, leaving none to train on", o.split, held, rows,
                      rows == 1 ? "" : "s");
    }

    /* the work it asks for */
    if (desc && (double)o.train.epochs * desc->rows > lim->max_epoch_rows)
        fault_add(fs, "/epochs", "%d epochs of the dataset's %d rows are %.0f rows to train, "
                  "over the service's limit of %.0f a job (--max-epoch-rows)", o.train.epochs,
                  desc->rows, (double)o.train.epochs * desc->rows, lim->max_epoch_rows);

    /* the network against the data, the validation dataset's too */
    if (have_spec && desc) {
        if (sj.spec.timesteps != desc->timesteps) {
            char net[80], data[80];
            shape(net, sizeof net, sj.spec.timesteps, sj.spec.inputs);
            shape(data, sizeof data, desc->timesteps, desc->features);
            fault_add(fs, "/dataset", "the network reads %s (timesteps %d, inputs %d), but the "
                      "dataset's rows are %s", net, sj.spec.timesteps, sj.spec.inputs, data);
        } else if (desc->features != sj.spec.inputs)
            fault_add(fs, "/dataset", "the dataset has %d features but the network takes %d "
                      "inputs", desc->features, sj.spec.inputs);
        else
            check_labels(fs, "/dataset", "the dataset's", &sj.spec, nn_spec_outputs(&sj.spec),
                         desc);
        if (fs->n == before) {
            label_scale_warning(n, &sj.spec, desc, &o);
            clip_norm_warning(n, &sj.spec, &o);
        }
    }
    if (have_spec && vdesc)
        check_labels(fs, "/validation/dataset", "the validation dataset's", &sj.spec,
                     nn_spec_outputs(&sj.spec), vdesc);
    spec_json_free(&sj);
    dataset_free(&dd);
    dataset_free(&vd_);
    if (fs->n > before) {
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
    json_object_set_new(o, "model_deleted", json_boolean(j->model_deleted));
    json_object_set_new(o, "created_at", *j->created_at ? json_string(j->created_at)
                                                        : json_null());
    json_object_set_new(o, "started_at", *j->started_at ? json_string(j->started_at)
                                                        : json_null());
    json_object_set_new(o, "finished_at", *j->finished_at ? json_string(j->finished_at)
                                                          : json_null());
    /* which node trains it, or trained it last, and how many times it was claimed */
    json_object_set_new(o, "node", *j->node ? json_string(j->node) : json_null());
    json_object_set_new(o, "attempt", json_integer(j->attempt));
    return o;
}
