/* routes.c -- the service's table of contents: method, path pattern, handler; and what
 * the handlers share: one way to page through every list. */
#include "api.h"

#include "format/format.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

const struct route routes[] = {
    /* method   pattern                       handler             stream / its type, raw,
                                                                  who may call it (http.h),
                                                                  the query parameters it
                                                                  takes (NULL: none) */
    {"GET",    "/",                           h_dashboard,        NULL, NULL, 0, ROUTE_PAGE, "*"},
    {"GET",    "/healthz",                    h_health,           NULL, NULL, 0, ROUTE_PROBE, NULL},
    {"GET",    "/readyz",                     h_ready,            NULL, NULL, 0, ROUTE_PROBE, NULL},
    {"GET",    "/metrics",                    h_prometheus,       NULL, NULL, 0, ROUTE_METRICS, NULL},
    {"POST",   "/v1/datasets",                h_datasets_create,  &datasets_csv_stream, "text/csv", 0, ROUTE_TOKEN, "name label header timesteps"},
    {"GET",    "/v1/datasets",                h_datasets_list,    NULL, NULL, 0, ROUTE_TOKEN, "limit after"},
    {"GET",    "/v1/datasets/:id",            h_datasets_get,     NULL, NULL, 0, ROUTE_TOKEN, NULL},
    {"DELETE", "/v1/datasets/:id",            h_datasets_delete,  NULL, NULL, 0, ROUTE_TOKEN, NULL},
    {"POST",   "/v1/networks",                h_networks_create,  NULL, NULL, 0, ROUTE_TOKEN, "dry_run"},
    {"GET",    "/v1/networks",                h_networks_list,    NULL, NULL, 0, ROUTE_TOKEN, "limit after"},
    {"GET",    "/v1/networks/:id",            h_networks_get,     NULL, NULL, 0, ROUTE_TOKEN, NULL},
    {"DELETE", "/v1/networks/:id",            h_networks_delete,  NULL, NULL, 0, ROUTE_TOKEN, NULL},
    {"POST",   "/v1/jobs",                    h_jobs_create,      NULL, NULL, 0, ROUTE_TOKEN, NULL},
    {"GET",    "/v1/jobs",                    h_jobs_list,        NULL, NULL, 0, ROUTE_TOKEN, "limit after state"},
    {"GET",    "/v1/jobs/:id",                h_jobs_get,         NULL, NULL, 0, ROUTE_TOKEN, NULL},
    {"POST",   "/v1/jobs/:id/cancel",         h_jobs_cancel,      NULL, NULL, 0, ROUTE_TOKEN, NULL},
    {"GET",    "/v1/jobs/:id/metrics",        h_jobs_metrics,     NULL, NULL, 0, ROUTE_TOKEN, "format follow"},
    {"GET",    "/v1/jobs/:id/events",         h_jobs_events,      NULL, NULL, 0, ROUTE_TOKEN, NULL},
    {"GET",    "/v1/jobs/:id/loss.svg",       h_jobs_chart,       NULL, NULL, 0, ROUTE_TOKEN, "metric scale"},
    {"GET",    "/v1/jobs/:id/gradients.svg",  h_jobs_gradients_chart, NULL, NULL, 0, ROUTE_TOKEN, "over"},
    {"GET",    "/v1/jobs/:id/tfevents",       h_jobs_tfevents,    NULL, NULL, 0, ROUTE_TOKEN, NULL},
    {"GET",    "/v1/models",                  h_models_list,      NULL, NULL, 0, ROUTE_TOKEN, "limit after name"},
    {"GET",    "/v1/models/:id",              h_models_get,       NULL, NULL, 0, ROUTE_TOKEN, NULL},
    {"DELETE", "/v1/models/:id",              h_models_delete,    NULL, NULL, 0, ROUTE_TOKEN, NULL},
    {"GET",    "/v1/models/:id/weights",      h_models_weights,   NULL, NULL, 0, ROUTE_TOKEN, NULL},
    {"GET",    "/v1/models/:id/model.onnx",   h_models_onnx,      NULL, NULL, 0, ROUTE_TOKEN, NULL},
    {"POST",   "/v1/models/:id/predict",      h_models_predict,   NULL, "text/csv", 1, ROUTE_READ, NULL},
    /* a model name's versions and aliases */
    {"GET",    "/v1/models/:name/versions",   h_models_versions,  NULL, NULL, 0, ROUTE_TOKEN, "limit after"},
    {"GET",    "/v1/models/:name/aliases",    h_models_aliases,   NULL, NULL, 0, ROUTE_TOKEN, NULL},
    {"GET",    "/v1/models/:name/aliases/:alias", h_models_alias_get, NULL, NULL, 0, ROUTE_TOKEN, NULL},
    {"PUT",    "/v1/models/:name/aliases/:alias", h_models_alias_put, NULL, NULL, 0, ROUTE_TOKEN, NULL},
    {"DELETE", "/v1/models/:name/aliases/:alias", h_models_alias_delete, NULL, NULL, 0, ROUTE_TOKEN, NULL},
    /* the prediction protocols, each in its own file: TF Serving's REST protocol
       (tfserving.c; GET /v1/models/{name} is the native route's), the Open Inference
       Protocol v2 (kserve.c), MLflow's scoring server (mlflow.c) */
#define FORM "application/x-www-form-urlencoded"   /* what curl -d sends, as TF Serving's examples do */
    {"POST",   "/v1/models/:name:predict",    h_tfs_predict,      NULL, FORM, 1, ROUTE_READ, NULL},
    {"POST",   "/v1/models/:name/versions/:version:predict", h_tfs_predict, NULL, FORM, 1, ROUTE_READ, NULL},
    {"POST",   "/v1/models/:name/labels/:label:predict", h_tfs_predict, NULL, FORM, 1, ROUTE_READ, NULL},
    {"GET",    "/v1/models/:name/versions/:version", h_tfs_status, NULL, NULL, 0, ROUTE_TOKEN, NULL},
    {"GET",    "/v1/models/:name/labels/:label", h_tfs_status,  NULL, NULL, 0, ROUTE_TOKEN, NULL},
    {"GET",    "/v1/models/:name/metadata",   h_tfs_metadata,     NULL, NULL, 0, ROUTE_TOKEN, NULL},
    {"GET",    "/v1/models/:name/versions/:version/metadata", h_tfs_metadata, NULL, NULL, 0, ROUTE_TOKEN, NULL},
    {"GET",    "/v1/models/:name/labels/:label/metadata", h_tfs_metadata, NULL, NULL, 0, ROUTE_TOKEN, NULL},
    {"GET",    "/v2",                         h_v2_server,        NULL, NULL, 0, ROUTE_TOKEN, NULL},
    {"GET",    "/v2/health/live",             h_v2_live,          NULL, NULL, 0, ROUTE_PROBE, NULL},
    {"GET",    "/v2/health/ready",            h_v2_ready,         NULL, NULL, 0, ROUTE_PROBE, NULL},
    {"GET",    "/v2/models/:name",            h_v2_model,         NULL, NULL, 0, ROUTE_TOKEN, NULL},
    {"GET",    "/v2/models/:name/versions/:version", h_v2_model,  NULL, NULL, 0, ROUTE_TOKEN, NULL},
    {"GET",    "/v2/models/:name/ready",      h_v2_model_ready,   NULL, NULL, 0, ROUTE_TOKEN, NULL},
    {"GET",    "/v2/models/:name/versions/:version/ready", h_v2_model_ready, NULL, NULL, 0, ROUTE_TOKEN, NULL},
    {"POST",   "/v2/models/:name/infer",      h_v2_infer,         NULL, NULL, 1, ROUTE_READ, NULL},
    {"POST",   "/v2/models/:name/versions/:version/infer", h_v2_infer, NULL, NULL, 1, ROUTE_READ, NULL},
    {"POST",   "/invocations",                h_mlflow_invocations, NULL, "text/csv", 1, ROUTE_READ, "model"},
    {"GET",    "/ping",                       h_mlflow_ping,      NULL, NULL, 0, ROUTE_PROBE, NULL},
    {"GET",    "/health",                     h_mlflow_ping,      NULL, NULL, 0, ROUTE_PROBE, NULL},
    {"GET",    "/version",                    h_mlflow_version,   NULL, NULL, 0, ROUTE_PROBE, NULL},
};
const int nroutes = sizeof routes / sizeof routes[0];

int reply_faults(struct reply *out, const char *what, long n, json_t *errors)
{
    const json_t *e = json_array_get(errors, 0);
    const char *ptr = json_string_value(json_object_get(e, "pointer"));
    const char *detail = json_string_value(json_object_get(e, "detail"));
    return reply_problem(out, 422, errors, "%s is invalid (%ld fault%s); %s: %s", what, n,
                         n == 1 ? "" : "s", ptr && *ptr ? ptr : "/", detail ? detail : "");
}

int reply_storage_failed(struct reply *out)
{
    return reply_store_failed(out, STORE_ERROR);
}

int reply_store_failed(struct reply *out, int rc)
{
    if (rc == STORE_ERROR) {
        /* a thread's first connection finds no file to open; or the failure's result was
           lost on its way, and the database is out of reach */
        int cond = store_condition();
        if (cond == STORE_GONE || cond == STORE_UNAVAILABLE)
            rc = cond;
    }
    if (rc == STORE_FULL)
        return reply_problem(out, 507, NULL, "the disk holding the database is full: nothing "
                             "was stored. Deletes still work: delete datasets or models that "
                             "are no longer needed, then try again");
    if (rc == STORE_GONE)
        return reply_problem(out, 503, NULL, "the database file was deleted or replaced while "
                             "the service ran: nothing was stored; the service needs a restart");
    if (rc == STORE_UNAVAILABLE) {
        out->retry_after = STORE_RETRY_AFTER;
        return reply_problem(out, 503, NULL, "the database cannot be reached now: nothing was "
                             "stored; try again in a few seconds (the service reconnects by "
                             "itself)");
    }
    return reply_problem(out, 500, NULL, "the database failed; see the service's log");
}

int reply_row(struct reply *out, int rc, const char *kind, const char *id, json_t *v)
{
    if (rc == STORE_NOT_FOUND || rc != STORE_OK || !v) {
        json_decref(v);
        return rc == STORE_NOT_FOUND ? reply_not_found(out, kind, id)
                                     : reply_store_failed(out, rc);
    }
    return reply_json(out, 200, v);
}

int reply_deleted(struct reply *out, int rc, const char *kind, const char *id)
{
    if (rc == STORE_NOT_FOUND)
        return reply_not_found(out, kind, id);
    if (rc != STORE_OK)
        return reply_store_failed(out, rc);
    return reply_no_content(out);
}

int api_list(struct req *r, struct reply *out, const struct lister *l)
{
    int limit;
    if (req_limit(r, out, LIST_MAX, &limit) < 0)
        return 0;
    const char *after = req_query(r, "after");
    if (after && !*after)
        after = NULL;
    char *rows = NULL;
    int n = 0, more = 0;
    int rc = l->page(r, limit, after, (void **)&rows, &n, &more);
    if (rc == STORE_NOT_FOUND) {
        char e[80];
        return reply_param(out, 400, "after", "after: no %s with id %s (pass the \"next\" of "
                           "the previous page)", l->kind, text_echo(e, sizeof e, after,
                                                                    strlen(after), 64));
    }
    if (rc != STORE_OK)
        return reply_store_failed(out, rc);
    json_t *items = json_array();
    for (int i = 0; i < n; i++) {
        void *row = rows + (size_t)i * l->size;
        if (items && json_array_append_new(items, l->json(row)) < 0) {
            json_decref(items);
            items = NULL;
        }
        l->row_free(row);
    }
    free(rows);
    if (!items)
        return reply_storage_failed(out);
    json_t *last = json_array_get(items, json_array_size(items) - 1);
    json_t *next = more ? json_copy(json_object_get(last, "id")) : json_null();
    return reply_json(out, 200, json_pack("{s:o, s:o}", "items", items, "next", next));
}
