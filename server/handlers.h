/* handlers.h -- every handler of the route table (routes.c). */
#ifndef HANDLERS_H
#define HANDLERS_H

#include "app.h"

int h_dashboard(struct req *r, struct reply *out);         /* GET /, the page (h_dashboard.c) */
int h_health(struct req *r, struct reply *out);
int h_ready(struct req *r, struct reply *out);

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
int h_jobs_metrics(struct req *r, struct reply *out);
int h_jobs_events(struct req *r, struct reply *out);       /* h_events.c */
int h_jobs_follow(struct req *r, struct reply *out);       /* metrics?follow=true */

int h_jobs_chart(struct req *r, struct reply *out);       /* loss.svg (h_charts.c) */
int h_jobs_gradients_chart(struct req *r, struct reply *out);   /* gradients.svg */
int h_prometheus(struct req *r, struct reply *out);        /* GET /metrics (h_metrics.c) */

int h_models_list(struct req *r, struct reply *out);
int h_models_get(struct req *r, struct reply *out);
int h_models_delete(struct req *r, struct reply *out);
int h_models_weights(struct req *r, struct reply *out);
int h_models_predict(struct req *r, struct reply *out);    /* JSON or text/csv body */

#endif
