/* models.c -- trained models: loaded for prediction with their scaler and classes, what
 * their outputs predict, their weights, how a model is shown, and what a reference to a
 * model (an id, a name, name@version, name@alias) names (domain.h).
 *
 * DESIGN. Predictions must be cheap, so loaded models stay in a small cache: a list of
 * reference-counted entries under one mutex. A request takes a reference, predicts with
 * the network (nn_predict only reads it, so many requests share one), and drops the
 * reference; a deleted model leaves the cache at once and is freed by its last user.
 * A request that loads a model from the store while it is being deleted must not put it
 * back in the cache afterwards: every drop moves a generation counter, and a model loaded
 * while the counter moved is used for that one request (which began before the delete
 * answered) but not cached. */
#include "domain.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_MAX 32

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct predictor *cache;
static int ncache;
static unsigned long drops;        /* predictor_drop calls so far (under cache_lock) */

static void predictor_free(struct predictor *m)
{
    nn_free(m->net);
    free(m->scaler);
    free(m->label_scaler);
    json_decref(m->classes);
    json_decref(m->columns);
    json_decref(m->network);
    free(m->name);
    free(m);
}

void predictor_put(struct predictor *m)
{
    pthread_mutex_lock(&cache_lock);
    int last = --m->refs == 0;
    pthread_mutex_unlock(&cache_lock);
    if (last)
        predictor_free(m);
}

void predictor_drop(const char *id)
{
    struct predictor *gone = NULL;
    pthread_mutex_lock(&cache_lock);
    drops++;
    for (struct predictor **p = &cache; *p; p = &(*p)->next)
        if (strcmp((*p)->id, id) == 0) {
            gone = *p;
            *p = gone->next;
            ncache--;
            break;
        }
    pthread_mutex_unlock(&cache_lock);
    if (gone)
        predictor_put(gone);
}

void predictor_drop_all(void)
{
    pthread_mutex_lock(&cache_lock);
    drops++;
    struct predictor *gone = cache;
    cache = NULL;
    ncache = 0;
    pthread_mutex_unlock(&cache_lock);
    while (gone) {
        struct predictor *next = gone->next;
        predictor_put(gone);
        gone = next;
    }
}

int predictor_get(const char *id, struct predictor **out, char *msg, size_t cap)
{
    *out = NULL;
    pthread_mutex_lock(&cache_lock);
    for (struct predictor *m = cache; m; m = m->next)
        if (strcmp(m->id, id) == 0) {
            m->refs++;
            pthread_mutex_unlock(&cache_lock);
            *out = m;
            return STORE_OK;
        }
    unsigned long seen = drops;
    pthread_mutex_unlock(&cache_lock);

    struct model d;
    int rc = store_model_load(id, &d);
    if (rc != STORE_OK) {
        snprintf(msg, cap, "model %s could not be read", id);
        return rc;
    }
    struct predictor *m = calloc(1, sizeof *m);
    struct nn_error e;
    if (!m || !(m->net = nn_load(d.net, d.net_len, 0, &e))) {
        snprintf(msg, cap, "model %s could not be loaded: %s", id, m ? e.msg : "out of memory");
        free(m);
        model_free(&d);
        return STORE_ERROR;
    }
    snprintf(m->id, sizeof m->id, "%s", id);
    m->kind = d.label_kind;
    m->classes = json_incref(d.classes);
    const int F = nn_get_spec(m->net)->inputs;   /* features of a row, or of a step */
    if (json_array_size(d.columns) == (size_t)F)
        m->columns = json_incref(d.columns);
    m->network = json_incref(d.network);
    m->name = d.name;   /* the model's name and version never change */
    m->version = d.name ? d.version : 0;
    d.name = NULL;
    if (d.scaler && d.scaler_len == 2 * sizeof(float) * (size_t)F) {
        m->scaler = d.scaler;
        d.scaler = NULL;
    }
    if (d.label_scaler && d.label_scaler_len == 2 * sizeof(float) * (size_t)nn_outputs(m->net)) {
        m->label_scaler = d.label_scaler;
        d.label_scaler = NULL;
    }
    model_free(&d);
    m->refs = 2;   /* the cache's and the caller's */
    struct predictor *evict = NULL;
    pthread_mutex_lock(&cache_lock);
    if (drops != seen) {   /* a model was deleted meanwhile, perhaps this one: not cached */
        m->refs = 1;
        pthread_mutex_unlock(&cache_lock);
        *out = m;
        return STORE_OK;
    }
    for (struct predictor *o = cache; o; o = o->next)
        if (strcmp(o->id, id) == 0) {   /* another request loaded it meanwhile */
            o->refs++;
            pthread_mutex_unlock(&cache_lock);
            predictor_free(m);
            *out = o;
            return STORE_OK;
        }
    m->next = cache;
    cache = m;
    if (++ncache > CACHE_MAX) {   /* drop the oldest */
        struct predictor **p = &cache;
        while ((*p)->next)
            p = &(*p)->next;
        evict = *p;
        *p = NULL;
        ncache--;
    }
    pthread_mutex_unlock(&cache_lock);
    if (evict)
        predictor_put(evict);
    *out = m;
    return STORE_OK;
}

json_t *predictor_label(const struct predictor *m, const float *o, int K)
{
    const enum nn_loss loss = nn_get_spec(m->net)->loss;
    int cls = -1;
    if (loss == NN_CCE) {
        cls = 0;
        for (int j = 1; j < K; j++)
            cls = o[j] > o[cls] ? j : cls;
    } else if (loss == NN_BCE && K == 1) {
        cls = o[0] > 0.5f;
    } else if (loss == NN_BCE) {
        json_t *v = json_array();
        for (int j = 0; j < K; j++)
            json_array_append_new(v, json_integer(o[j] > 0.5f));
        return v;
    } else if (K == 1) {
        return json_real(o[0]);
    } else {
        json_t *v = json_array();
        for (int j = 0; j < K; j++)
            json_array_append_new(v, json_real(o[j]));
        return v;
    }
    const json_t *name = json_array_get(m->classes, (size_t)cls);
    /* a copy: the model's own value is shared by the threads that answer with it, and
     * jansson's reference count is read there without an atomic */
    if (name && (m->kind == LABELS_CLASSES || m->kind == LABELS_NUMBERS))
        return json_deep_copy(name);
    return json_integer(cls);
}

/* The scaler of F features as {"mean": [...], "std": [...]}, or null without one. */
static json_t *scaler_json(const float *s, int F)
{
    if (!s)
        return json_null();
    json_t *mean = json_array(), *std = json_array();
    for (int j = 0; j < F; j++) {
        json_array_append_new(mean, json_real(s[j]));
        json_array_append_new(std, json_real(s[F + j]));
    }
    return json_pack("{s:o, s:o}", "mean", mean, "std", std);
}

/* The activation the network's outputs come out of: that of its last top-level layer
 * other than dropout when it is a dense or activation layer, else linear. */
static const char *output_activation(const struct nn_spec *s)
{
    for (int i = s->nlayers - 1; i >= 0; i--) {
        const struct nn_layer_spec *l = &s->layers[i];
        if (l->kind == NN_DROPOUT)
            continue;
        return nn_act_name(l->kind == NN_DENSE || l->kind == NN_ACTIVATION ? (int)l->act
                                                                          : NN_LINEAR);
    }
    return nn_act_name(NN_LINEAR);
}

json_t *predictor_weights(const struct predictor *p)
{
    int n = nn_tensors(p->net, NULL, 0);
    struct nn_tensor *t = calloc((size_t)n + 1, sizeof *t);
    json_t *layers = json_array();
    if (!t || !layers) {
        free(t);
        json_decref(layers);
        return NULL;
    }
    nn_tensors(p->net, t, n);
    for (int i = 0; i < n; i++) {
        /* a matrix as rows of values, a vector flat */
        json_t *values = json_array();
        for (int a = 0; a < t[i].rows; a++) {
            json_t *row = t[i].rows == 1 ? values : json_array();
            for (int b = 0; b < t[i].cols; b++)
                json_array_append_new(row, json_real(t[i].data[(size_t)a * t[i].cols + b]));
            if (row != values)
                json_array_append_new(values, row);
        }
        json_array_append_new(layers, json_pack("{s:s, s:s, s:[i,i], s:o}", "layer",
                                                t[i].where, "name", t[i].name, "shape",
                                                t[i].rows, t[i].cols, "values", values));
    }
    free(t);
    const struct nn_spec *spec = nn_get_spec(p->net);
    json_t *w = json_pack("{s:s, s:O, s:O?, s:o, s:o, s:s, s:s, s:s, s:O?, s:o}", "model",
                          p->id, "network", p->network, "columns", p->columns, "scaler",
                          scaler_json(p->scaler, spec->inputs), "label_scaler",
                          scaler_json(p->label_scaler, nn_outputs(p->net)), "output_activation",
                          output_activation(spec), "loss", nn_loss_name(spec->loss),
                          "label_kind", label_kind_name(p->kind), "classes", p->classes,
                          "tensors", layers);
    if (w && spec->timesteps > 0 &&
        json_object_set_new(w, "timesteps", json_integer(spec->timesteps)) < 0) {
        json_decref(w);
        return NULL;
    }
    return w;
}

json_t *model_json(const struct model *m)
{
    int F = (int)(m->scaler_len / (2 * sizeof(float)));
    int K = (int)(m->label_scaler_len / (2 * sizeof(float)));
    /* the output activation from the definition as stored: its last top-level layer
     * other than dropout (output_activation, on the JSON) */
    const json_t *layers = json_object_get(m->network, "layers"), *last = NULL;
    for (size_t i = json_array_size(layers); i-- > 0 && !last;) {
        const char *type = json_string_value(json_object_get(json_array_get(layers, i), "type"));
        if (!type || strcmp(type, "dropout"))
            last = json_array_get(layers, i);
    }
    const char *type = json_string_value(json_object_get(last, "type"));
    const char *act = json_string_value(json_object_get(last, "activation"));
    if (!type || (strcmp(type, "dense") && strcmp(type, "activation")) || !act)
        act = nn_act_name(NN_LINEAR);
    const json_t *steps = json_object_get(m->network, "timesteps");   /* a sequence model */
    json_t *o = json_pack("{s:s, s:s, s:s?, s:o, s:o, s:s?, s:s, s:O, s:s, s:s, s:O?, s:O, s:b, "
                     "s:O?, s:o, s:o, s:s}",
                     "id", m->id, "job", m->job_id, "name", m->name, "version",
                     m->name && m->version > 0 ? json_integer(m->version) : json_null(),
                     "aliases", m->aliases ? json_incref(m->aliases) : json_array(),
                     "job_name", m->job_name, "created_at",
                     m->created_at, "network", m->network, "dataset", m->dataset_id,
                     "label_kind", label_kind_name(m->label_kind), "classes", m->classes,
                     "metrics", m->metrics, "standardize", m->standardized, "columns",
                     m->columns, "scaler", scaler_json(m->scaler, m->scaler ? F : 0),
                     "label_scaler", scaler_json(m->label_scaler, m->label_scaler ? K : 0),
                     "output_activation", act);
    if (o && json_integer_value(steps) > 0 &&
        json_object_set_new(o, "timesteps", json_integer(json_integer_value(steps))) < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ---- names, versions, aliases ----
 *
 * DESIGN. A model may have a name (its job's model_name) and then a version, the next of
 * that name, given out by the store in the transaction that stores the model, so that
 * jobs ending at once get distinct consecutive versions. Names, versions and aliases are
 * only ways to find a model: every route still works on the id that model_resolve
 * finds, and predictions stay cached by id. A name never starts with "mdl_" and holds no
 * '@', so an id, a name and name@version or name@alias cannot be taken for one another.
 *
 * What a reference names is cached too (the prediction protocols address models by name
 * on every request): a few references and their ids under one mutex, good for as long
 * as the store's names generation (store_model_names_generation) stays where it was,
 * which it leaves after every write that may change what a reference names. A reference
 * looked up in the store is cached only when the generation did not move while it was
 * looked up, so that an answer read before a write never outlives it.
 */

#define NAMES_MAX 64

static pthread_mutex_t names_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char ref[2 * MODEL_NAME_MAX + 2];   /* name@alias at most */
    char id[32];
} names[NAMES_MAX];
static int nnames, names_next;
static unsigned long names_gen;        /* the generation the entries hold for */

/* The id cached for ref into id: 1, or 0 when none is. *gen gets the generation now. */
static int names_get(const char *ref, char *id, unsigned long *gen)
{
    int hit = 0;
    pthread_mutex_lock(&names_lock);
    *gen = store_model_names_generation();
    if (*gen != names_gen) {
        nnames = names_next = 0;
        names_gen = *gen;
    }
    for (int i = 0; i < nnames && !hit; i++)
        if (strcmp(names[i].ref, ref) == 0) {
            memcpy(id, names[i].id, 32);
            hit = 1;
        }
    pthread_mutex_unlock(&names_lock);
    return hit;
}

/* Caches ref -> id, found in the store at generation gen, unless it has moved since. */
static void names_put(const char *ref, const char *id, unsigned long gen)
{
    if (strlen(ref) >= sizeof names[0].ref)
        return;
    pthread_mutex_lock(&names_lock);
    if (gen == names_gen && gen == store_model_names_generation()) {
        int i = nnames < NAMES_MAX ? nnames++ : names_next;
        names_next = (i + 1) % NAMES_MAX;
        snprintf(names[i].ref, sizeof names[i].ref, "%s", ref);
        memcpy(names[i].id, id, 32);
    }
    pthread_mutex_unlock(&names_lock);
}

int model_name_check(const char *s, size_t len, int alias, char *msg, size_t cap)
{
    const char *what = alias ? "an alias" : "a model name";
    char e[100];
    if (len == 0 || len > MODEL_NAME_MAX) {
        if (cap)
            snprintf(msg, cap, "%s is 1 to %d characters, not %zu", what, MODEL_NAME_MAX, len);
        return -1;
    }
    int digits = 1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int ok = isascii(c) && (isalnum(c) || (i > 0 && (c == '.' || c == '_' || c == '-')));
        if (!ok) {
            char bad[64];   /* "starts with '.'", "has ' ' at 1" */
            const char *is = i ? "has" : "starts with";
            if (isascii(c) && isprint(c))
                snprintf(bad, sizeof bad, "%s '%c'", is, c);
            else
                snprintf(bad, sizeof bad, "%s %s", is, isascii(c) ? "a control character"
                                                                  : "a character past ASCII");
            if (i)
                snprintf(bad + strlen(bad), sizeof bad - strlen(bad), " at %zu", i);
            if (cap)
                snprintf(msg, cap, "%s is letters, digits, '.', '_' and '-', starting with a "
                         "letter or digit: %s %s", what, text_echo(e, sizeof e, s, len, 64),
                         bad);
            return -1;
        }
        digits = digits && isdigit(c);
    }
    if (!alias && len >= 4 && memcmp(s, "mdl_", 4) == 0) {
        if (cap)
            snprintf(msg, cap, "a model name may not start with \"mdl_\", as model ids do: %s",
                     text_echo(e, sizeof e, s, len, 64));
        return -1;
    }
    if (alias && digits) {
        if (cap)
            snprintf(msg, cap, "an alias may not be all digits, as name@%s is always "
                     "version %s", text_echo(e, sizeof e, s, len, 64), e);
        return -1;
    }
    return 0;
}

int model_resolve(const char *ref, char *id, char *msg, size_t cap)
{
    char e[100], name[MODEL_NAME_MAX + 1];
    const size_t len = strlen(ref);
    const char *at = strchr(ref, '@');
    const size_t nl = at ? (size_t)(at - ref) : len;
    text_echo(e, sizeof e, ref, len, 80);
    *id = 0;
    if (model_name_check(ref, nl, 0, NULL, 0) < 0) {
        if (!at && len < 32) {   /* an id (mdl_...), or no model: the store says which */
            memcpy(id, ref, len + 1);
            return STORE_OK;
        }
        snprintf(msg, cap, "no model %s: a reference is a model id, a name, name@version "
                 "or name@alias", e);
        return STORE_NOT_FOUND;
    }
    memcpy(name, ref, nl);
    name[nl] = 0;
    int version = 0;
    const char *alias = NULL;
    if (at) {
        const char *s = at + 1;
        size_t sl = strlen(s), d = strspn(s, "0123456789");
        if (sl && d == sl) {   /* a version: 1 to 9 digits, not 0 */
            version = sl <= 9 ? atoi(s) : 0;
            if (version <= 0) {
                snprintf(msg, cap, "no model %s: versions are numbered from 1", e);
                return STORE_NOT_FOUND;
            }
        } else if (model_name_check(s, sl, 1, NULL, 0) == 0) {
            alias = s;
        } else {
            snprintf(msg, cap, "no model %s: after '@' comes a version number or an alias",
                     e);
            return STORE_NOT_FOUND;
        }
    }
    int known = 0;
    unsigned long gen;
    if (names_get(ref, id, &gen))
        return STORE_OK;
    int rc = store_model_find(name, version, alias, id, &known);
    if (rc == STORE_OK)
        names_put(ref, id, gen);
    if (rc == STORE_NOT_FOUND && !at && !known && len < 32) {
        memcpy(id, ref, len + 1);   /* no such name: perhaps an id of another shape */
        return STORE_OK;
    }
    if (rc == STORE_NOT_FOUND && !known)
        snprintf(msg, cap, "no model named %s", name);
    else if (rc == STORE_NOT_FOUND && alias)
        snprintf(msg, cap, "no model %s: %s has no alias %s", e, name, alias);
    else if (rc == STORE_NOT_FOUND && version)
        snprintf(msg, cap, "no model %s: %s has no version %d", e, name, version);
    else if (rc == STORE_NOT_FOUND)
        snprintf(msg, cap, "no model %s: every version of %s was deleted", e, name);
    else if (rc != STORE_OK)
        snprintf(msg, cap, "the database failed finding model %s", e);
    return rc;
}
