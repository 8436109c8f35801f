/* models.c -- trained models: loaded for prediction with their scaler and classes, what
 * their outputs predict, their weights, and how a model is shown (domain.h).
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
    json_decref(m->classes);
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
    if (d.scaler && d.scaler_len == 2 * sizeof(float) * (size_t)nn_inputs(m->net)) {
        m->scaler = d.scaler;
        d.scaler = NULL;
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

int predictor_run(const struct predictor *p, float *x, int n, float *y, char *msg, size_t cap)
{
    const int F = nn_inputs(p->net);
    if (p->scaler)
        for (int i = 0; i < n; i++)
            for (int j = 0; j < F; j++)
                x[(size_t)i * F + j] = (x[(size_t)i * F + j] - p->scaler[j]) / p->scaler[F + j];
    struct nn_error e;
    if (nn_predict(p->net, NULL, x, n, y, &e) < 0) {
        snprintf(msg, cap, "prediction failed: %s", e.msg);
        return -1;
    }
    return 0;
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
    if (name && (m->kind == LABELS_CLASSES || m->kind == LABELS_NUMBERS))
        return json_incref((json_t *)name);
    return json_integer(cls);
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
    return json_pack("{s:s, s:o}", "model", p->id, "tensors", layers);
}

json_t *model_json(const struct model *m)
{
    return json_pack("{s:s, s:s, s:s?, s:s, s:O, s:s, s:s, s:O?, s:O, s:b}", "id", m->id,
                     "job", m->job_id, "name", m->name, "created_at", m->created_at,
                     "network", m->network, "dataset", m->dataset_id, "label_kind",
                     label_kind_name(m->label_kind), "classes", m->classes, "metrics",
                     m->metrics, "standardize", m->standardized);
}
