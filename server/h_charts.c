/* h_charts.c -- a job's epochs as SVG pictures: GET /v1/jobs/:id/loss.svg (loss and
 * val_loss per epoch, or ?metric= a recorded metric and its val_ twin) and
 * GET /v1/jobs/:id/gradients.svg (each layer's gradient norm per epoch on a log axis, so
 * vanishing and exploding gradients show). The drawing is svg.c's. */
#include "handlers.h"
#include "nn.h"
#include "store.h"
#include "svg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double num(const json_t *v) { return json_is_number(v) ? json_number_value(v) : NAN; }

/* Loads the job and its epochs (both new), or replies 404 and returns -1. */
static int load_or_reply(struct req *r, struct reply *out, json_t **job, json_t **rows)
{
    *job = db_job_get(r->param[0]);
    *rows = *job ? db_job_epochs(r->param[0]) : NULL;
    if (!*rows) {
        json_decref(*job);
        *job = NULL;
        return reply_not_found(out, "job", r->param[0]), -1;
    }
    return 0;
}

/* Draws the chart into a new string and replies with it. */
static int reply_chart(struct reply *out, const char *title, const char *ylabel,
                       const struct svg_series *s, int ns, int logy, const char *empty)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return -1;
    svg_chart(f, title, "epoch", ylabel, s, ns, logy, empty);
    if (fclose(f) != 0) {
        free(buf);
        return -1;
    }
    int rc = reply_text(out, 200, "image/svg+xml", buf, len);
    free(buf);
    return rc;
}

static const char *job_state(const json_t *job)
{
    const char *s = json_string_value(json_object_get(job, "state"));
    return s ? s : "unknown";
}

int h_jobs_chart(struct req *r, struct reply *out)
{
    const char *metric = req_query(r, "metric");
    int m = -1;
    if (metric && strcmp(metric, "loss") && ((m = nn_metric_parse(metric)) < 0 ||
                                             strcmp(nn_metric_name(m), metric)))
        return reply_param(out, 400, "metric", "metric must be loss, accuracy, mae or mse, "
                                               "not %s", metric);
    json_t *job, *rows;
    if (load_or_reply(r, out, &job, &rows) < 0)
        return 0;
    size_t n = json_array_size(rows);
    double *x = calloc(n + 1, sizeof *x), *y = calloc(n + 1, sizeof *y),
           *vy = calloc(n + 1, sizeof *vy);
    int rc = -1;
    if (x && y && vy) {
        const char *name = m < 0 ? "loss" : nn_metric_name(m);
        char vname[64], title[160], empty[96];
        snprintf(vname, sizeof vname, "val_%s", name);
        int has_val = 0;
        for (size_t i = 0; i < n; i++) {
            const json_t *row = json_array_get(rows, i);
            x[i] = num(json_object_get(row, "epoch"));
            if (m < 0) {
                y[i] = num(json_object_get(row, "loss"));
                vy[i] = num(json_object_get(row, "val_loss"));
            } else {
                y[i] = num(json_object_get(json_object_get(row, "metrics"), name));
                vy[i] = num(json_object_get(json_object_get(row, "val_metrics"), name));
            }
            has_val |= isfinite(vy[i]);
        }
        struct svg_series s[2] = {{name, name, x, y, (int)n}, {vname, vname, x, vy, (int)n}};
        snprintf(title, sizeof title, "%s (%s): %s", r->param[0], job_state(job), name);
        snprintf(empty, sizeof empty, n ? "no %s recorded for this job" : "no epochs yet",
                 name);
        rc = reply_chart(out, title, name, s, has_val ? 2 : 1, 0, empty);
    }
    free(x), free(y), free(vy);
    json_decref(job);
    json_decref(rows);
    return rc;
}

int h_jobs_gradients_chart(struct req *r, struct reply *out)
{
    json_t *job, *rows;
    if (load_or_reply(r, out, &job, &rows) < 0)
        return 0;
    /* the layers, in the order they first appear */
    json_t *layers = json_object();
    size_t n = json_array_size(rows), i;
    json_t *row;
    json_array_foreach(rows, i, row) {
        const char *key;
        json_t *v;
        json_object_foreach(json_object_get(row, "grad_norms"), key, v)
            if (!json_object_get(layers, key))
                json_object_set_new(layers, key, json_integer((json_int_t)json_object_size(layers)));
    }
    int nl = (int)json_object_size(layers), rc = -1;
    double *x = calloc(n + 1, sizeof *x), *y = calloc((n + 1) * (size_t)(nl + 1), sizeof *y);
    struct svg_series *s = calloc((size_t)nl + 1, sizeof *s);
    if (x && y && s) {
        json_array_foreach(rows, i, row)
            x[i] = num(json_object_get(row, "epoch"));
        const char *key;
        json_t *v;
        json_object_foreach(layers, key, v) {
            int l = (int)json_integer_value(v);
            double *ly = y + (size_t)l * n;
            json_array_foreach(rows, i, row)   /* zero or missing: skipped by the chart */
                ly[i] = num(json_object_get(json_object_get(row, "grad_norms"), key));
            s[l] = (struct svg_series){key, "grad", x, ly, (int)n};
        }
        char title[160];
        snprintf(title, sizeof title, "%s (%s): gradient norms", r->param[0], job_state(job));
        rc = reply_chart(out, title, "gradient norm", s, nl, 1,
                         n ? "no gradient norms recorded" : "no epochs yet");
    }
    free(x), free(y), free(s);
    json_decref(layers);
    json_decref(job);
    json_decref(rows);
    return rc;
}
