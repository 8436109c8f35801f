/* api.h -- the handlers of the REST routes, one file per resource (datasets.c,
 * networks.c, jobs.c with its events and charts, models.c, ops.c, dashboard.c), and the
 * route table that is the service's table of contents (routes.c). Handlers turn
 * requests into calls of the domain (domain.h) and storage (store.h), and their answers
 * into replies (http.h). */
#ifndef API_H
#define API_H

#include "http/http.h"

#include <jansson.h>

/* The route table, in the order requests are matched; nroutes entries. */
extern const struct route routes[];
extern const int nroutes;

int h_dashboard(struct req *r, struct reply *out);         /* GET / */
int h_health(struct req *r, struct reply *out);            /* GET /healthz */
int h_ready(struct req *r, struct reply *out);             /* GET /readyz */
int h_prometheus(struct req *r, struct reply *out);        /* GET /metrics */

int h_datasets_create(struct req *r, struct reply *out);   /* JSON body */
extern const struct stream datasets_csv_stream;            /* text/csv body */
int h_datasets_list(struct req *r, struct reply *out);
int h_datasets_get(struct req *r, struct reply *out);
int h_datasets_delete(struct req *r, struct reply *out);

int h_networks_create(struct req *r, struct reply *out);
int h_networks_list(struct req *r, struct reply *out);
int h_networks_get(struct req *r, struct reply *out);
int h_networks_delete(struct req *r, struct reply *out);

int h_jobs_create(struct req *r, struct reply *out);
int h_jobs_list(struct req *r, struct reply *out);
int h_jobs_get(struct req *r, struct reply *out);
int h_jobs_cancel(struct req *r, struct reply *out);
int h_jobs_metrics(struct req *r, struct reply *out);      /* ?follow=true: NDJSON */
int h_jobs_events(struct req *r, struct reply *out);       /* server-sent events */
int h_jobs_chart(struct req *r, struct reply *out);        /* loss.svg */
int h_jobs_gradients_chart(struct req *r, struct reply *out);   /* gradients.svg */
int h_jobs_tfevents(struct req *r, struct reply *out);   /* TensorBoard event file */

int h_models_list(struct req *r, struct reply *out);
int h_models_get(struct req *r, struct reply *out);
int h_models_delete(struct req *r, struct reply *out);
int h_models_weights(struct req *r, struct reply *out);
int h_models_onnx(struct req *r, struct reply *out);
int h_models_predict(struct req *r, struct reply *out);    /* JSON or text/csv body */
int h_models_versions(struct req *r, struct reply *out);
int h_models_aliases(struct req *r, struct reply *out);
int h_models_alias_get(struct req *r, struct reply *out);
int h_models_alias_put(struct req *r, struct reply *out);   /* JSON body {"version"} */
int h_models_alias_delete(struct req *r, struct reply *out);

/* ---- what the handlers share (routes.c) ---- */

#define LIST_MAX 1000                /* the largest ?limit= of every list */

/* A list resource: what names it in faults ("dataset"), a page of its rows from the store
 * (at most limit rows of `size` bytes after the one with id `after`, NULL: from the
 * first; new, each freed with row_free; STORE_NOT_FOUND when `after` names none), and how
 * a row is shown. */
struct lister {
    const char *kind;
    size_t size;
    int (*page)(struct req *r, int limit, const char *after, void **rows, int *n, int *more);
    json_t *(*json)(const void *row);
    void (*row_free)(void *row);
};
/* GET of a list, the same on every resource: ?limit= (1 to LIST_MAX, default 50) and
 * ?after= (the "next" of the previous page) checked, then {"items", "next"}. */
int api_list(struct req *r, struct reply *out, const struct lister *l);
/* 422 for a body with n faults (errors, stolen: [{"pointer", "detail"}, ...], the first
 * ones): detail names what was refused ("the job"), how many faults, and the first's
 * pointer and detail, so that a client that shows only `detail` shows the fault. */
int reply_faults(struct reply *out, const char *what, long n, json_t *errors);
/* 500 for a storage failure (logged where it happened). */
int reply_storage_failed(struct reply *out);
/* The answer to a store result that is a failure: 507 for STORE_FULL (the disk holding
 * the database is full), 503 for STORE_GONE (its file was deleted or replaced; also for
 * a failure once it is), else 500 (reply_storage_failed). */
int reply_store_failed(struct reply *out, int rc);
/* The answer to a read of one row: 404 naming kind and id for STORE_NOT_FOUND, 500 for
 * another failure, else 200 with v (stolen; NULL, out of memory: 500). */
int reply_row(struct reply *out, int rc, const char *kind, const char *id, json_t *v);
/* The answer to a delete: 404 for STORE_NOT_FOUND, 507, 503 or 500 for a failure
 * (reply_store_failed), else 204. */
int reply_deleted(struct reply *out, int rc, const char *kind, const char *id);

#endif
