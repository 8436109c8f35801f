/* jobs.c -- /v1/jobs: queue a training job (checked by the domain before it is stored),
 * list, describe, cancel; its epochs' metrics as JSON or CSV; following it as it trains
 * (server-sent events, or NDJSON with ?follow=true: the event hub does the work); and its
 * curves as SVG pictures (loss.svg: loss and val_loss per epoch, or ?metric= a recorded
 * metric and its val_ twin; gradients.svg: each layer's gradient norm per epoch on a log
 * axis, so vanishing and exploding gradients show); and its epochs as a TensorBoard event
 * file (tfevents). */
#include "api.h"

#include "domain/domain.h"
#include "events/events.h"
#include "queue/queue.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RETRY_AFTER 5      /* seconds, when a cap on event streams is reached */

/* The job as GET answers it (new), or NULL after replying (404, 503 or 500). */
static json_t *job_or_reply(const char *id, struct reply *out)
{
    struct job j;
    int rc = store_job_get(id, &j);
    if (rc != STORE_OK) {
        if (rc == STORE_NOT_FOUND)
            reply_not_found(out, "job", id);
        else
            reply_store_failed(out, rc);
        return NULL;
    }
    json_t *v = job_json(&j);
    job_free(&j);
    if (!v)
        reply_storage_failed(out);
    return v;
}

int h_jobs_create(struct req *r, struct reply *out)
{
    if (!r->json)
        return reply_problem(out, 400, NULL, "the body is empty: send a job in JSON "
                             "(Content-Type: application/json): {\"network\", \"dataset\"}");
    struct faults fs;
    struct job_plan plan;
    char id[32];
    if (faults_init(&fs) < 0)
        return -1;
    const struct config *cfg = &r->app->cfg;
    const struct job_limits lim = {cfg->max_params, cfg->max_epoch_rows};
    json_t *n = job_check(r->json, &lim, &fs, &plan);
    if (!n && store_condition() == STORE_UNAVAILABLE) {
        /* its network and datasets could not be read: not the request's fault */
        faults_free(&fs);
        return reply_store_failed(out, STORE_UNAVAILABLE);
    }
    if (!n) {
        long k = fs.n;
        json_t *errs = faults_take(&fs, "");
        if (!errs)
            return reply_problem(out, 500, NULL, "the service ran out of memory");
        return reply_faults(out, "the job", k, errs);
    }
    faults_free(&fs);
    new_id(id, "job_");
    int epochs = (int)json_integer_value(json_object_get(n, "epochs"));
    struct job_new job = {.id = id, .request = n,
                          .network_id = *plan.network_id ? plan.network_id : NULL,
                          .dataset_id = json_string_value(json_object_get(n, "dataset")),
                          .val_dataset_id = *plan.val_dataset_id ? plan.val_dataset_id : NULL,
                          .epochs = epochs, .owner = r->token, .max_queued = cfg->max_queued,
                          .max_queued_owner = cfg->max_queued_per_token};
    int rc = store_job_insert(&job);
    json_decref(n);
    if (rc == STORE_NOT_FOUND)
        return reply_field(out, 409, "/dataset", "a dataset of the job was deleted meanwhile");
    if (rc == STORE_LIMIT) {
        out->retry_after = 30;
        if (job.owner_full)
            return reply_problem(out, 429, NULL, "the token %s has %ld jobs queued, the most "
                                 "one token may (--max-queued-per-token); try again once "
                                 "some have run", r->token, cfg->max_queued_per_token);
        return reply_problem(out, 429, NULL, "%ld jobs are queued, the most the service takes "
                             "(--max-queued); try again once some have run", cfg->max_queued);
    }
    if (rc == STORE_FULL || rc == STORE_GONE || rc == STORE_UNAVAILABLE)
        return reply_store_failed(out, rc);
    if (rc != STORE_OK)
        return reply_problem(out, 500, NULL, "the job could not be stored");
    snprintf(out->location, sizeof out->location, "/v1/jobs/%s", id);
    json_t *j = job_or_reply(id, out);   /* read before a worker may take it: queued */
    queue_wake(r->app->queue);
    return j ? reply_json(out, 202, j) : 0;
}

static int job_page(struct req *r, int limit, const char *after, void **rows, int *n,
                    int *more)
{
    const char *state = req_query(r, "state");
    return store_job_list(state ? job_state_parse(state) : -1, limit, after,
                          (struct job **)rows, n, more);
}
static json_t *job_row(const void *row) { return job_json(row); }
static void job_row_free(void *row) { job_free(row); }
static const struct lister jobs = {"job", sizeof(struct job), job_page, job_row, job_row_free};

int h_jobs_list(struct req *r, struct reply *out)
{
    const char *state = req_query(r, "state");
    if (state && job_state_parse(state) < 0)
        return reply_param(out, 400, "state", "state must be queued, running, succeeded, "
                                               "failed or cancelled");
    return api_list(r, out, &jobs);
}

int h_jobs_get(struct req *r, struct reply *out)
{
    json_t *j = job_or_reply(r->param[0], out);
    return j ? reply_json(out, 200, j) : 0;
}

int h_jobs_cancel(struct req *r, struct reply *out)
{
    enum job_state was;
    int rc = store_job_cancel(r->param[0], &was);
    if (rc == STORE_NOT_FOUND)
        return reply_not_found(out, "job", r->param[0]);
    if (rc != STORE_OK && rc != STORE_CONFLICT)
        return reply_store_failed(out, rc);
    if (rc == STORE_CONFLICT)
        return reply_problem(out, 409, NULL, "job %s has already ended (%s)", r->param[0],
                             job_state_name(was));
    if (was == JOB_RUNNING) {
        queue_cancel_running(r->app->queue, r->param[0]);
        store_announce(CHANGE_CANCEL, r->param[0], 0, NULL);   /* it may train elsewhere */
    } else
        hub_status(r->param[0]);
    json_t *j = job_or_reply(r->param[0], out);
    return j ? reply_json(out, was == JOB_QUEUED ? 200 : 202, j) : 0;
}

/* One CSV field from a JSON number (empty for null). */
static void csv_num(FILE *f, const json_t *v)
{
    if (json_is_number(v))
        fprintf(f, ",%.9g", json_number_value(v));
    else
        fputc(',', f);
}

/* The keys of member `member` of every row, in the order they first appear (new). */
static json_t *keys_of(const json_t *rows, const char *member)
{
    json_t *keys = json_object();
    size_t i;
    const json_t *row;
    json_array_foreach(rows, i, row) {
        const char *key;
        json_t *v;
        json_object_foreach(json_object_get(row, member), key, v)
            if (keys && !json_object_get(keys, key))
                json_object_set_new(keys, key, json_true());
    }
    return keys;
}

/* The epochs as CSV: epoch, loss, val_loss, then each metric and val_ metric, seconds,
 * then each layer's gradient norm (grad_norm:/layers/0, ...) and dead relu fraction
 * (dead_relu:/layers/0, ...); a value not recorded (a non-finite norm) is empty. */
static int metrics_csv(struct reply *out, const json_t *rows)
{
    char *buf = NULL;
    size_t len = 0;
    json_t *grads = keys_of(rows, "grad_norms"), *dead = keys_of(rows, "dead_relu");
    FILE *f = grads && dead ? open_memstream(&buf, &len) : NULL;
    if (!f) {
        json_decref(grads);
        json_decref(dead);
        return -1;
    }
    const json_t *first = json_array_get(rows, 0), *m = json_object_get(first, "metrics");
    const char *key;
    json_t *v;
    fputs("epoch,loss,val_loss", f);
    json_object_foreach((json_t *)m, key, v)
        fprintf(f, ",%s,val_%s", key, key);
    fputs(",seconds", f);
    json_object_foreach(grads, key, v)
        fprintf(f, ",grad_norm:%s", key);
    json_object_foreach(dead, key, v)
        fprintf(f, ",dead_relu:%s", key);
    fputc('\n', f);
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
        json_object_foreach(grads, key, v)
            csv_num(f, json_object_get(json_object_get(row, "grad_norms"), key));
        json_object_foreach(dead, key, v)
            csv_num(f, json_object_get(json_object_get(row, "dead_relu"), key));
        fputc('\n', f);
    }
    fclose(f);
    json_decref(grads);
    json_decref(dead);
    int rc = reply_text(out, 200, "text/csv", buf, len);
    free(buf);
    return rc;
}

static int follow(struct req *r, struct reply *out, enum hub_format fmt, int after);

int h_jobs_metrics(struct req *r, struct reply *out)
{
    const char *format = req_query(r, "format");
    int followed;
    if (format && strcmp(format, "json") && strcmp(format, "csv"))
        return reply_param(out, 400, "format", "format must be json or csv");
    if (req_bool(r, out, "follow", 0, &followed) < 0)
        return 0;
    if (followed) {
        if (format)
            return reply_param(out, 400, "format", "a followed job's epochs come as "
                               "newline-delimited JSON only; leave out format");
        return follow(r, out, HUB_NDJSON, 0);
    }
    json_t *rows;
    int rc = store_job_epochs(r->param[0], 0, -1, &rows);
    if (rc == STORE_NOT_FOUND)
        return reply_not_found(out, "job", r->param[0]);
    if (rc != STORE_OK)
        return reply_storage_failed(out);
    if (format && !strcmp(format, "csv")) {
        int rc = metrics_csv(out, rows);
        json_decref(rows);
        return rc;
    }
    return reply_json(out, 200, json_pack("{s:s, s:o}", "job", r->param[0], "epochs", rows));
}

/* A stream of job r->param[0] after epoch `after`. */
static int follow(struct req *r, struct reply *out, enum hub_format fmt, int after)
{
    enum job_state state;
    int rc = store_job_state(r->param[0], &state);
    if (rc == STORE_NOT_FOUND)
        return reply_not_found(out, "job", r->param[0]);
    if (rc != STORE_OK)
        return reply_storage_failed(out);
    int why = HUB_STOPPED;
    struct sub *s = r->conn ? hub_subscribe(r->param[0], fmt, after, r->conn, r->peer, &why)
                            : NULL;
    if (!s && why != HUB_STOPPED) {
        out->retry_after = RETRY_AFTER;
        return reply_problem(out, 429, NULL, why == HUB_CLIENT_FULL
                                 ? "%d event streams are open from %s already, the most one "
                                   "client may have; close one or try again later"
                                 : "%d event streams follow job %s already, the most one job "
                                   "may have; try again later",
                             why == HUB_CLIENT_FULL ? r->app->cfg.max_streams_per_client
                                                    : r->app->cfg.max_streams_per_job,
                             why == HUB_CLIENT_FULL ? r->peer : r->param[0]);
    }
    if (!s)
        return reply_problem(out, 503, NULL, "the service is stopping; try again later");
    out->status = 200;
    out->content_type = fmt == HUB_SSE ? "text/event-stream" : "application/x-ndjson";
    out->read = hub_read;
    out->release = hub_release;
    out->ctx = s;
    return 0;
}

int h_jobs_events(struct req *r, struct reply *out)
{
    /* an EventSource that reconnects sends the id of the last event it had: the epoch */
    const char *last = req_header(r, "Last-Event-ID");
    long after = 0;
    if (last && *last) {
        char *end;
        after = strtol(last, &end, 10);
        if (*end || after < 0 || after > 1000000 || strspn(last, "0123456789") != strlen(last))
            return reply_problem(out, 400, json_pack("[{s:s, s:s}]", "header", "Last-Event-ID",
                                                     "detail", "must be an epoch number"),
                                 "the Last-Event-ID header must be an epoch number, not '%.64s'",
                                 last);
        /* A client that comes back to an ended job with every epoch (its final status
         * carried the last one's id) gets 204: the one answer after which an EventSource
         * stops reconnecting. Without the header, the first connection, it gets the
         * replay and the final status. */
        enum job_state state;
        json_t *rows = NULL;
        int rc = store_job_state(r->param[0], &state);
        if (rc == STORE_NOT_FOUND)
            return reply_not_found(out, "job", r->param[0]);
        if (rc != STORE_OK)
            return reply_storage_failed(out);
        if (job_state_final(state)) {
            if (store_job_epochs(r->param[0], (int)after, 1, &rows) != STORE_OK)
                return reply_storage_failed(out);
            size_t more = json_array_size(rows);
            json_decref(rows);
            if (more == 0)
                return reply_no_content(out);
        }
    }
    return follow(r, out, HUB_SSE, (int)after);
}


/* ---- charts ---- */

static double num(const json_t *v) { return json_is_number(v) ? json_number_value(v) : NAN; }

/* Loads the job and its epochs (both new), or replies (404, 500) and returns -1. */
static int load_or_reply(struct req *r, struct reply *out, json_t **job, json_t **rows)
{
    *rows = NULL;
    if (!(*job = job_or_reply(r->param[0], out)))
        return -1;
    if (store_job_epochs(r->param[0], 0, -1, rows) != STORE_OK) {
        json_decref(*job);
        *job = NULL;
        return reply_storage_failed(out), -1;
    }
    return 0;
}

/* The job's TensorBoard event file: the file_version record, then one event per stored
 * epoch (domain/tensorboard.c), named in Content-Disposition as TensorBoard expects. */
int h_jobs_tfevents(struct req *r, struct reply *out)
{
    json_t *job, *rows;
    if (load_or_reply(r, out, &job, &rows) < 0)
        return 0;
    char *buf = NULL;
    size_t len = 0;
    int rc = -1;
    FILE *f = open_memstream(&buf, &len);
    if (f) {
        int bad = tb_write_job(f, job, rows) < 0;
        if (fclose(f) == 0 && !bad && reply_text(out, 200, "application/octet-stream", buf,
                                                  len) == 0) {
            char name[256];
            tb_file_name(name, sizeof name, job);
            snprintf(out->disposition, sizeof out->disposition,
                     "attachment; filename=\"%s\"", name);
            rc = 0;
        }
        free(buf);
    }
    json_decref(job);
    json_decref(rows);
    return rc;
}

/* Draws the chart (over epochs unless xlabel says otherwise) into a new string and
 * replies with it. */
static int reply_chart(struct reply *out, const char *title, const char *xlabel,
                       const char *ylabel, const struct svg_series *s, int ns,
                       enum svg_scale scale, const char *empty)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return -1;
    svg_chart(f, title, xlabel, ylabel, s, ns, scale, empty);
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

/* A chart's title: the job's name where it has one, its id and state, and what is drawn. */
static void chart_title(char *buf, size_t size, const json_t *job, const char *id,
                        const char *what)
{
    const char *name = json_string_value(json_object_get(job, "name"));
    if (name && *name)   /* at most 120 bytes of it, cut between two characters */
        snprintf(buf, size, "%.*s \xc2\xb7 %s (%s): %s", (int)utf8_cut(name, strlen(name), 120),
                 name, id, job_state(job), what);
    else
        snprintf(buf, size, "%s (%s): %s", id, job_state(job), what);
}

/* The layer at JSON pointer ptr ("/layers/2/layers/0") of the job's network, in a few
 * words ("dense 256 relu", "batchnorm"), into buf; "" when the pointer leads nowhere. */
static void layer_words(char *buf, size_t size, const json_t *job, const char *ptr)
{
    const json_t *at = json_object_get(job, "network");
    *buf = 0;
    for (const char *p = ptr; at && *p == '/';) {
        char tok[64];
        size_t n = strcspn(p + 1, "/");
        if (n >= sizeof tok)
            return;
        memcpy(tok, p + 1, n);
        tok[n] = 0;
        p += 1 + n;
        if (json_is_array(at)) {
            char *end;
            long k = strtol(tok, &end, 10);
            at = *tok && !*end && k >= 0 ? json_array_get(at, (size_t)k) : NULL;
        } else {
            at = json_object_get(at, tok);
        }
    }
    const char *type = json_string_value(json_object_get(at, "type")),
               *act = json_string_value(json_object_get(at, "activation"));
    const json_t *units = json_object_get(at, "units");
    if (!type)
        return;
    int n = snprintf(buf, size, "%s", type);
    if (json_is_integer(units) && n >= 0 && (size_t)n < size)
        n += snprintf(buf + n, size - (size_t)n, " %lld", (long long)json_integer_value(units));
    if (act && n >= 0 && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n, " %s", act);
}

int h_jobs_chart(struct req *r, struct reply *out)
{
    const char *metric = req_query(r, "metric"), *scale_name = req_query(r, "scale");
    int m = -1;
    if (metric && strcmp(metric, "loss") && ((m = nn_metric_parse(metric)) < 0 ||
                                             strcmp(nn_metric_name(m), metric)))
        return reply_param(out, 400, "metric", "metric must be loss, accuracy, mae or mse, "
                                               "not %s", metric);
    enum svg_scale scale = SVG_AUTO;
    if (scale_name && !strcmp(scale_name, "log"))
        scale = SVG_LOG;
    else if (scale_name && !strcmp(scale_name, "linear"))
        scale = SVG_LINEAR;
    else if (scale_name && strcmp(scale_name, "auto"))
        return reply_param(out, 400, "scale", "scale must be auto, log or linear, not %.64s",
                           scale_name);
    json_t *job, *rows;
    if (load_or_reply(r, out, &job, &rows) < 0)
        return 0;
    size_t n = json_array_size(rows);
    double *x = calloc(n + 1, sizeof *x), *y = calloc(n + 1, sizeof *y),
           *vy = calloc(n + 1, sizeof *vy);
    int rc = -1;
    if (x && y && vy) {
        const char *name = m < 0 ? "loss" : nn_metric_name(m);
        char vname[64], title[256], empty[96];
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
        chart_title(title, sizeof title, job, r->param[0], name);
        snprintf(empty, sizeof empty, n ? "no %s recorded for this job" : "no epochs yet",
                 name);
        rc = reply_chart(out, title, "epoch", name, s, has_val ? 2 : 1, scale, empty);
    }
    free(x), free(y), free(vy);
    json_decref(job);
    json_decref(rows);
    return rc;
}

/* ?over=time: each recurrent layer's ‖∂L/∂h_t‖ over the steps of a sequence, in the
 * last epoch that has them (the epoch row's grad_over_time). */
static int gradients_over_time(struct req *r, struct reply *out, json_t *job, json_t *rows)
{
    size_t n = json_array_size(rows);
    const json_t *over = NULL, *row = NULL;
    for (size_t i = n; i-- > 0 && !over;)
        over = json_object_get(row = json_array_get(rows, i), "grad_over_time");
    int nl = (int)json_object_size(over), l = 0, rc = -1;
    struct svg_series *s = calloc((size_t)nl + 1, sizeof *s);
    char (*names)[128] = calloc((size_t)nl + 1, sizeof *names);
    double *xy = calloc((size_t)nl * 2 * NN_TIME_SAMPLES + 1, sizeof *xy);
    if (s && names && xy) {
        const char *key;
        const json_t *v;
        json_object_foreach((json_t *)over, key, v) {
            const json_t *steps = json_object_get(v, "steps"), *norms = json_object_get(v, "norms");
            size_t k = json_array_size(steps);
            if (k > NN_TIME_SAMPLES || json_array_size(norms) != k)
                k = 0;
            double *x = xy + (size_t)l * 2 * NN_TIME_SAMPLES, *y = x + NN_TIME_SAMPLES;
            for (size_t t = 0; t < k; t++) {   /* a norm that was not finite is null */
                const json_t *g = json_array_get(norms, t);
                x[t] = num(json_array_get(steps, t));
                y[t] = json_is_null(g) ? INFINITY : num(g);
            }
            char words[96];
            layer_words(words, sizeof words, job, key);
            snprintf(names[l], sizeof names[l], "%s%s%s", key, *words ? " " : "", words);
            s[l] = (struct svg_series){names[l], "grad", x, y, (int)k};
            l++;
        }
        char title[256], what[96];
        snprintf(what, sizeof what, "gradient norms over time, epoch %lld",
                 (long long)json_integer_value(json_object_get(row, "epoch")));
        chart_title(title, sizeof title, job, r->param[0], over ? what : "gradient norms over time");
        rc = reply_chart(out, title, "step", "‖∂L/∂hₜ‖", s, nl, SVG_LOG,
                         over ? "no gradient norms recorded"
                         : n ? "no recurrent layer in this job's network" : "no epochs yet");
    }
    free(s), free(names), free(xy);
    return rc;
}

int h_jobs_gradients_chart(struct req *r, struct reply *out)
{
    const char *over = req_query(r, "over");
    if (over && strcmp(over, "epochs") && strcmp(over, "time"))
        return reply_param(out, 400, "over", "over must be epochs or time, not %.64s", over);
    json_t *job, *rows;
    if (load_or_reply(r, out, &job, &rows) < 0)
        return 0;
    if (over && !strcmp(over, "time")) {
        int rc = gradients_over_time(r, out, job, rows);
        json_decref(job);
        json_decref(rows);
        return rc;
    }
    /* the layers, in the order they first appear */
    json_t *layers = json_object();
    size_t n = json_array_size(rows), i;
    json_t *row;
    json_array_foreach(rows, i, row) {
        const char *key;
        json_t *v;
        json_object_foreach(json_object_get(row, "grad_norms"), key, v)
            if (!json_object_get(layers, key))
                json_object_set_new(layers, key,
                                    json_integer((json_int_t)json_object_size(layers)));
    }
    int nl = (int)json_object_size(layers), rc = -1;
    double *x = calloc(n + 1, sizeof *x), *y = calloc((n + 1) * (size_t)(nl + 1), sizeof *y);
    struct svg_series *s = calloc((size_t)nl + 1, sizeof *s);
    char (*names)[128] = calloc((size_t)nl + 1, sizeof *names);
    if (x && y && s && names) {
        json_array_foreach(rows, i, row)
            x[i] = num(json_object_get(row, "epoch"));
        const char *key;
        json_t *v;
        json_object_foreach(layers, key, v) {
            int l = (int)json_integer_value(v);
            double *ly = y + (size_t)l * n;
            /* missing: left out; null (a norm that was not finite): marked at the top;
             * zero: marked on the floor */
            json_array_foreach(rows, i, row) {
                const json_t *g = json_object_get(json_object_get(row, "grad_norms"), key);
                ly[i] = json_is_null(g) ? INFINITY : num(g);
            }
            char words[96];
            layer_words(words, sizeof words, job, key);
            snprintf(names[l], sizeof names[l], "%s%s%s", key, *words ? " " : "", words);
            s[l] = (struct svg_series){names[l], "grad", x, ly, (int)n};
        }
        char title[256];
        chart_title(title, sizeof title, job, r->param[0], "gradient norms");
        rc = reply_chart(out, title, "epoch", "gradient norm", s, nl, SVG_LOG,
                         n ? "no gradient norms recorded" : "no epochs yet");
    }
    free(x), free(y), free(s), free(names);
    json_decref(layers);
    json_decref(job);
    json_decref(rows);
    return rc;
}
