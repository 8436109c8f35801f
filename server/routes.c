/* routes.c -- the service's table of contents: method, path pattern, handler. */
#include "handlers.h"

const struct route routes[] = {
    /* method   pattern                       handler             stream / its type, raw */
    {"GET",    "/",                           h_dashboard,        NULL, NULL, 0},
    {"GET",    "/healthz",                    h_health,           NULL, NULL, 0},
    {"GET",    "/readyz",                     h_ready,            NULL, NULL, 0},
    {"GET",    "/metrics",                    h_prometheus,       NULL, NULL, 0},
    {"POST",   "/v1/datasets",                h_datasets_create,  &datasets_csv_stream, "text/csv", 0},
    {"GET",    "/v1/datasets",                h_datasets_list,    NULL, NULL, 0},
    {"GET",    "/v1/datasets/:id",            h_datasets_get,     NULL, NULL, 0},
    {"DELETE", "/v1/datasets/:id",            h_datasets_delete,  NULL, NULL, 0},
    {"POST",   "/v1/networks",                h_networks_create,  NULL, NULL, 0},
    {"GET",    "/v1/networks",                h_networks_list,    NULL, NULL, 0},
    {"GET",    "/v1/networks/:id",            h_networks_get,     NULL, NULL, 0},
    {"DELETE", "/v1/networks/:id",            h_networks_delete,  NULL, NULL, 0},
    {"POST",   "/v1/jobs",                    h_jobs_create,      NULL, NULL, 0},
    {"GET",    "/v1/jobs",                    h_jobs_list,        NULL, NULL, 0},
    {"GET",    "/v1/jobs/:id",                h_jobs_get,         NULL, NULL, 0},
    {"POST",   "/v1/jobs/:id/cancel",         h_jobs_cancel,      NULL, NULL, 0},
    {"GET",    "/v1/jobs/:id/metrics",        h_jobs_metrics,     NULL, NULL, 0},
    {"GET",    "/v1/jobs/:id/events",         h_jobs_events,      NULL, NULL, 0},
    {"GET",    "/v1/jobs/:id/loss.svg",       h_jobs_chart,       NULL, NULL, 0},
    {"GET",    "/v1/jobs/:id/gradients.svg",  h_jobs_gradients_chart, NULL, NULL, 0},
    {"GET",    "/v1/models",                  h_models_list,      NULL, NULL, 0},
    {"GET",    "/v1/models/:id",              h_models_get,       NULL, NULL, 0},
    {"DELETE", "/v1/models/:id",              h_models_delete,    NULL, NULL, 0},
    {"GET",    "/v1/models/:id/weights",      h_models_weights,   NULL, NULL, 0},
    {"POST",   "/v1/models/:id/predict",      h_models_predict,   NULL, "text/csv", 1},
};
const int nroutes = sizeof routes / sizeof routes[0];
