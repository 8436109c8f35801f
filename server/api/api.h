/* api.h -- the handlers of the REST routes, one file per resource (datasets.c,
 * networks.c, jobs.c with its events and charts, models.c, ops.c, dashboard.c), and the
 * route table that is the service's table of contents (routes.c). Handlers turn
 * requests into calls of the domain (domain.h) and storage (store.h), and their answers
 * into replies (http.h). */
#ifndef API_H
#define API_H

#include "domain/domain.h"
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

/* TF Serving's REST protocol (tfserving.c) */
int h_tfs_predict(struct req *r, struct reply *out);       /* .../{name}[...]:predict */
int h_tfs_status(struct req *r, struct reply *out);        /* /v1/models/{name}/versions/{n}, labels */
int h_tfs_metadata(struct req *r, struct reply *out);      /* .../metadata */
struct model;
/* TF Serving's model_version_status of a model: [{"version": "N", "state": "AVAILABLE",
 * "status": {"error_code": "OK", "error_message": ""}}] ("0" for a model without a
 * name). New. */
json_t *tfs_version_status(const struct model *m);
/* Adds TF Serving's "error" (the detail again) to a problem reply, where its clients
 * look for it; the reply is left as it is when that fails. */
void tfs_error_member(struct reply *out);
/* The Open Inference Protocol v2 of KServe and Triton (kserve.c) */
int h_v2_server(struct req *r, struct reply *out);         /* GET /v2 */
int h_v2_live(struct req *r, struct reply *out);           /* GET /v2/health/live */
int h_v2_ready(struct req *r, struct reply *out);          /* GET /v2/health/ready */
int h_v2_model(struct req *r, struct reply *out);          /* GET /v2/models/{name}[/versions/{v}] */
int h_v2_model_ready(struct req *r, struct reply *out);    /* .../ready */
int h_v2_infer(struct req *r, struct reply *out);          /* POST .../infer */
/* MLflow's scoring server (mlflow.c) */
int h_mlflow_invocations(struct req *r, struct reply *out);   /* POST /invocations */
int h_mlflow_ping(struct req *r, struct reply *out);          /* GET /ping, /health */
int h_mlflow_version(struct req *r, struct reply *out);       /* GET /version */

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
/* Seconds a client is told to wait (Retry-After) while the database cannot be reached. */
#define STORE_RETRY_AFTER 5
/* The answer to a storage failure whose result is not at hand: reply_store_failed of
 * STORE_ERROR (500, logged where it happened; 503 when the database is out of reach). */
int reply_storage_failed(struct reply *out);
/* The answer to a store result that is a failure: 507 for STORE_FULL (the disk holding
 * the database is full), 503 for STORE_GONE (its file was deleted or replaced; also for
 * a failure once it is), 503 with Retry-After for STORE_UNAVAILABLE (PostgreSQL cannot
 * be reached now; also for a failure while it cannot), else 500. */
int reply_store_failed(struct reply *out, int rc);
/* The answer to a read of one row: 404 naming kind and id for STORE_NOT_FOUND, 500 for
 * another failure, else 200 with v (stolen; NULL, out of memory: 500). */
int reply_row(struct reply *out, int rc, const char *kind, const char *id, json_t *v);
/* The answer to a delete: 404 for STORE_NOT_FOUND, 507, 503 or 500 for a failure
 * (reply_store_failed), else 204. */
int reply_deleted(struct reply *out, int rc, const char *kind, const char *id);

/* ---- prediction, the one path of every protocol (models.c) ----
 * Each protocol reads its own request shape into rows of floats and writes its own
 * answer and errors; the model, the parsing of the native shapes, the run
 * (api_predict_go) and the outputs' numbers are these, so every route answers the same. */

struct predictor;
/* The loaded model a reference names (model_resolve), its id (32 bytes) into id: 0 with
 * *p set (predictor_put when done), or the HTTP status it fails with (404: nothing by
 * that reference; 503: the database cannot be reached now; 500) with a sentence in msg. */
int api_model_get(const char *ref, char *id, struct predictor **p, char *msg, size_t cap);
/* The rows of a body as POST /v1/models/{id}/predict reads it (text/csv, or JSON
 * {"inputs" | "instances": rows}) into x (new) and n; *columnar is 1 when they came as
 * "inputs". 0, or -1 with out filled as problem+json (status 0: out of memory). */
int api_predict_rows(const struct predictor *p, const char *ctype, const char *body,
                     size_t len, float **x, int *n, int *columnar, struct reply *out);
/* A prediction under way: the rows of a request, the model that predicts them, and the
 * protocol's answer, made once its outputs are in (on the HTTP thread, at once or after
 * the rows waited for their batch). */
struct api_predict {
    struct predict_call call;        /* call.p is referenced, call.x and call.y owned */
    int (*answer)(struct api_predict *a, struct reply *out);   /* the reply from call.y (or
                                        call.rc's failure): 0, or -1 (the glue's 500) */
    int K;                           /* outputs a row */
    int columnar;                    /* the rows came as "inputs" (TF Serving's shape) */
    char id[32];                     /* the model's id */
    char *rid;                       /* v2's request id (owned), NULL when none */
};
/* A prediction of n rows x (new; stolen, also when it fails) with model p (its
 * reference stolen), answered by answer; NULL when memory runs out (x freed and p put). */
struct api_predict *api_predict_new(struct predictor *p, const char *id, float *x, int n,
                                    int (*answer)(struct api_predict *a, struct reply *out));
/* Frees a (its rows, outputs and model reference) when it is not run. */
void api_predict_free(void *a);
/* Runs a's rows and answers: now (the answer's result), or later (HTTP_LATER, when the
 * rows wait for company and r allows it: on the HTTP thread's next turn, or once a batch
 * thread ran them). a is freed either way. */
int api_predict_go(struct api_predict *a, struct req *r, struct reply *out);

/* n output rows of K values as JSON rows of numbers (null where not finite). New. */
json_t *api_outputs(const float *y, int n, int K);
/* A cursor over JSON text, for the protocols' fast paths: each reads what it expects
 * from the common body with the native route's number reader (the same float32 as
 * jansson's double rounded), and leaves anything else to jansson, which then names the
 * fault. White space before a token is skipped. */
struct scan {
    const char *p, *end;
};
/* 1 when c comes next (and is taken), else 0. */
int scan_eat(struct scan *s, char c);
/* A JSON number rounded to float32 into *out: 0, or -1 when the text is not one (or it
 * rounds past float32). */
int scan_number(struct scan *s, float *out);
/* A string of UTF-8 without escapes or control characters: *str (into the text) and
 * *len, 0; else -1. */
int scan_string(struct scan *s, const char **str, size_t *len);
/* Skips one value (strings without escapes, nested at most 16 deep): 0, or -1. */
int scan_skip(struct scan *s, int depth);
/* 1 when nothing but white space is left. */
int scan_end(struct scan *s);
/* Replies {"error": msg}, the error shape TF Serving and the Open Inference Protocol v2
 * share, msg made valid UTF-8 (a cut inside a character, or bytes a client sent). */
int api_error_json(struct reply *out, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A problem+json reply's detail, with the pointer or parameter of its first fault, into
 * msg; the reply is emptied (its body freed). Returns its status. */
int api_problem_text(struct reply *out, char *msg, size_t cap);

#endif
