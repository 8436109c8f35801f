/* test_api_charts.c -- the job pictures (server/api/jobs.c, server/format/svg.c) and GET /metrics
 * (server/api/ops.c, server/ops/stats.c) against the real binary on 127.0.0.1: a short job
 * trained end to end, its SVGs checked with xmllint and by counting their points, and
 * the Prometheus output checked line by line against the exposition grammar. */
#include "srvutil.h"
#include "testutil.h"

#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EPOCHS 6

/* Queues a job of `epochs` epochs (validation 0.2 when val) and returns its id (new). */
static char *queue_job(const struct server *s, int val, int epochs)
{
    char *data = su_blobs_json(240, 4, 0), body[768];
    char *ds = su_post_id(s, "/v1/datasets", data, 201);
    free(data);
    char *net = su_post_id(s, "/v1/networks",
                        "{\"name\": \"mlp\", \"inputs\": 4, \"layers\": [{\"type\": \"dense\", "
                        "\"units\": 8, \"activation\": \"relu\"}, {\"type\": \"dense\", "
                        "\"units\": 3, \"activation\": \"softmax\"}], \"loss\": "
                        "\"categorical_crossentropy\", \"metrics\": [\"accuracy\"]}", 201);
    snprintf(body, sizeof body,
             "{\"network\": \"%s\", \"dataset\": \"%s\", %s\"epochs\": %d, "
             "\"batch_size\": 16, \"seed\": 5}", net, ds,
             val ? "\"validation\": {\"split\": 0.2}, " : "", epochs);
    char *id = su_post_id(s, "/v1/jobs", body, 202);
    free(ds), free(net);
    return id;
}

/* Waits (up to 60 s) until a job is in state want, failing when it ends otherwise. */
static void wait_state(const struct server *s, const char *id, const char *want)
{
    json_t *j = su_job_wait(s, id, want, 60);
    ck_assert_msg(!strcmp(su_str(j, "state"), want), "job %s is %s, not %s", id,
                  su_str(j, "state"), want);
    json_decref(j);
}

/* GET path, expecting status and (when not NULL) content type; the reply is the caller's. */
static struct http_reply get(const struct server *s, const char *path, long status,
                             const char *ctype)
{
    struct http_reply h = su_http(s, "GET", path, NULL, 0, NULL);
    ck_assert_msg(h.status == status, "GET %s: %ld %s", path, h.status, h.body);
    if (ctype)
        ck_assert_str_eq(h.ctype, ctype);
    return h;
}

/* Is text well-formed XML? Asks xmllint (libxml2-utils), independent of our writer. */
static int xml_ok(const char *text, size_t len)
{
    FILE *p = popen("xmllint --noout - 2>&1", "w");
    ck_assert_msg(p != NULL, "cannot run xmllint");
    fwrite(text, 1, len, p);
    return pclose(p) == 0;
}

/* The SVG is a whole SVG 1.1 document with no scripts or external references. */
static void check_svg(const struct http_reply *h)
{
    ck_assert_msg(xml_ok(h->body, h->len), "not well-formed XML:\n%s", h->body);
    ck_assert(strstr(h->body, "<svg xmlns=\"http://www.w3.org/2000/svg\"") != NULL);
    ck_assert(strstr(h->body, "<script") == NULL);
    ck_assert(strstr(h->body, "href") == NULL);
}

/* A sample value of a metric line ("name{labels} value"), -1 when the line is absent. */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (!strncmp(p, series, n) && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return -1;
}

/* Sequences of T steps of the adding problem (a value, a marker; the label the sum of the
 * two marked values), as a JSON dataset; its id (new). */
static char *adding_dataset(const struct server *s, int rows, int T)
{
    json_t *x = json_array(), *y = json_array();
    unsigned v = 12345;
    for (int i = 0; i < rows; i++) {
        json_t *row = json_array();
        int a = (int)(i * 7u % (unsigned)(T / 2)), b = T / 2 + (int)(i * 11u % (unsigned)(T / 2));
        double sum = 0;
        for (int t = 0; t < T; t++) {
            v = v * 1103515245u + 12345u;
            double val = (v >> 8) / 16777216.0;
            sum += t == a || t == b ? val : 0;
            json_array_append_new(row, json_pack("[f, i]", val, t == a || t == b));
        }
        json_array_append_new(x, row);
        json_array_append_new(y, json_real(sum));
    }
    json_t *d = json_pack("{s:s, s:o, s:o}", "name", "adding", "features", x, "labels", y);
    char *body = json_dumps(d, JSON_COMPACT), *id = su_post_id(s, "/v1/datasets", body, 201);
    json_decref(d);
    free(body);
    return id;
}

/* A job of a recurrent layer (type, 8 units) over T steps into dense 1; its id (new). */
static char *recurrent_job(const struct server *s, const char *ds, const char *type, int T)
{
    char body[768];
    snprintf(body, sizeof body,
             "{\"network\": {\"inputs\": 2, \"timesteps\": %d, \"layers\": [{\"type\": \"%s\", "
             "\"units\": 8}, {\"type\": \"dense\", \"units\": 1}], \"loss\": \"mse\"}, "
             "\"dataset\": \"%s\", \"epochs\": 2, \"batch_size\": 32, \"seed\": 3, "
             "\"clip_norm\": 1}", T, type, ds);
    return su_post_id(s, "/v1/jobs", body, 202);
}

/* The last epoch's ‖∂L/∂h_t‖ at its first step over its last (from GET .../metrics),
 * after checking the steps it was sampled at. */
static double first_over_last(const struct server *s, const char *id, int T)
{
    char path[160];
    snprintf(path, sizeof path, "/v1/jobs/%s/metrics", id);
    json_t *m = su_get_json(s, path), *rows = json_object_get(m, "epochs");
    ck_assert_int_eq(json_array_size(rows), 2);
    json_t *over = json_object_get(json_array_get(rows, 1), "grad_over_time");
    ck_assert_int_eq(json_object_size(over), 1);
    json_t *l = json_object_get(over, "/layers/0"), *steps = json_object_get(l, "steps"),
           *norms = json_object_get(l, "norms");
    ck_assert_int_eq(json_array_size(steps), 32);
    ck_assert_int_eq(json_array_size(norms), 32);
    ck_assert_int_eq(json_integer_value(json_array_get(steps, 0)), 1);
    ck_assert_int_eq(json_integer_value(json_array_get(steps, 31)), T);
    for (size_t k = 0; k < 32; k++)
        ck_assert(json_number_value(json_array_get(norms, k)) > 0);
    double r = json_number_value(json_array_get(norms, 0)) /
               json_number_value(json_array_get(norms, 31));
    json_decref(m);
    return r;
}

/* ?over=time: a recurrent layer's gradient norm over the steps of a sequence, from the
 * epoch rows' grad_over_time; a plain rnn's falls further towards step 1 than an lstm's. */
START_TEST(gradients_over_time)
{
    enum { T = 60 };
    struct server s = {0};
    su_start(&s, NULL);
    char *ds = adding_dataset(&s, 256, T), path[160];
    char *rnn = recurrent_job(&s, ds, "rnn", T), *lstm = recurrent_job(&s, ds, "lstm", T);
    wait_state(&s, rnn, "succeeded");
    wait_state(&s, lstm, "succeeded");
    double rr = first_over_last(&s, rnn, T), lr = first_over_last(&s, lstm, T);
    fprintf(stderr, "T=%d, first step's gradient over the last's: rnn %.3g, lstm %.3g\n", T,
            rr, lr);
    ck_assert_msg(rr < lr / 10, "rnn %g, lstm %g", rr, lr);

    /* the chart: one series, a point per sampled step, named by the layer */
    snprintf(path, sizeof path, "/v1/jobs/%s/gradients.svg?over=time", rnn);
    struct http_reply h = get(&s, path, 200, "image/svg+xml");
    check_svg(&h);
    ck_assert_int_eq(su_count(h.body, "<circle class=\"point grad\""), 32);
    ck_assert_msg(strstr(h.body, "data-series=\"/layers/0 rnn 8 tanh\"") != NULL, "%s", h.body);
    ck_assert(strstr(h.body, "over time, epoch 2") != NULL);
    ck_assert(strstr(h.body, ">step<") != NULL);
    su_http_free(&h);

    /* over=epochs (the default) draws epochs as before */
    snprintf(path, sizeof path, "/v1/jobs/%s/gradients.svg?over=epochs", rnn);
    h = get(&s, path, 200, "image/svg+xml");
    ck_assert_int_eq(su_count(h.body, "<circle class=\"point grad\""), 2 * 2);
    su_http_free(&h);

    snprintf(path, sizeof path, "/v1/jobs/%s/gradients.svg?over=steps", rnn);
    h = get(&s, path, 400, "application/problem+json");
    json_t *p = su_http_json(&h);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
                         json_object_get(p, "errors"), 0), "parameter")), "over");
    json_decref(p);
    su_http_free(&h);

    /* a network without recurrent layers: a chart that says so */
    char *mlp = queue_job(&s, 0, 1);
    wait_state(&s, mlp, "succeeded");
    snprintf(path, sizeof path, "/v1/jobs/%s/gradients.svg?over=time", mlp);
    h = get(&s, path, 200, "image/svg+xml");
    check_svg(&h);
    ck_assert(strstr(h.body, "no recurrent layer") != NULL);
    ck_assert_int_eq(su_count(h.body, "<circle class=\"point"), 0);
    su_http_free(&h);

    free(ds), free(rnn), free(lstm), free(mlp);
    su_stop(&s, 0);
    su_cleanup(&s);
}
END_TEST

START_TEST(pictures_and_metrics)
{
    struct server s = {0};
    su_start(&s, NULL);
    char *id = queue_job(&s, 1, EPOCHS), path[160];
    wait_state(&s, id, "succeeded");

    /* loss.svg: one point per epoch per series, title with the job and its state */
    snprintf(path, sizeof path, "/v1/jobs/%s/loss.svg", id);
    struct http_reply h = get(&s, path, 200, "image/svg+xml");
    check_svg(&h);
    ck_assert_int_eq(su_count(h.body, "<circle class=\"point loss\""), EPOCHS);
    ck_assert_int_eq(su_count(h.body, "<circle class=\"point val_loss\""), EPOCHS);
    ck_assert(strstr(h.body, id) && strstr(h.body, "(succeeded)"));
    ck_assert(strstr(h.body, "class=\"legend\"") && strstr(h.body, "class=\"tick x\""));
    su_http_free(&h);

    snprintf(path, sizeof path, "/v1/jobs/%s/loss.svg?metric=accuracy", id);
    h = get(&s, path, 200, "image/svg+xml");
    check_svg(&h);
    ck_assert_int_eq(su_count(h.body, "<circle class=\"point accuracy\""), EPOCHS);
    ck_assert_int_eq(su_count(h.body, "<circle class=\"point val_accuracy\""), EPOCHS);
    ck_assert_int_eq(su_count(h.body, "<circle class=\"point loss\""), 0);
    su_http_free(&h);

    snprintf(path, sizeof path, "/v1/jobs/%s/loss.svg?metric=bogus", id);
    h = get(&s, path, 400, "application/problem+json");
    json_t *p = su_http_json(&h);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
                         json_object_get(p, "errors"), 0), "parameter")), "metric");
    json_decref(p);
    su_http_free(&h);

    h = get(&s, "/v1/jobs/job_nosuchjob/loss.svg", 404, "application/problem+json");
    su_http_free(&h);
    h = get(&s, "/v1/jobs/job_nosuchjob/gradients.svg", 404, "application/problem+json");
    su_http_free(&h);

    /* gradients.svg: one series per trainable layer, EPOCHS points each */
    snprintf(path, sizeof path, "/v1/jobs/%s/gradients.svg", id);
    h = get(&s, path, 200, "image/svg+xml");
    check_svg(&h);
    ck_assert_int_eq(su_count(h.body, "<circle class=\"point grad\" "
                                      "data-series=\"/layers/0 dense 8 relu\""), EPOCHS);
    ck_assert_int_eq(su_count(h.body, "<circle class=\"point grad\" "
                                      "data-series=\"/layers/1 dense 3 softmax\""), EPOCHS);
    ck_assert_int_eq(su_count(h.body, "<circle class=\"point grad\""), 2 * EPOCHS);
    ck_assert(strstr(h.body, "log scale") != NULL);
    su_http_free(&h);

    /* /metrics: every line in the exposition grammar */
    h = get(&s, "/metrics", 200, "text/plain; version=0.0.4; charset=utf-8");
    regex_t re;
    ck_assert_int_eq(regcomp(&re, "^[a-zA-Z_:][a-zA-Z0-9_:]*(\\{[a-zA-Z_][a-zA-Z0-9_]*=\"[^\"]*\""
                                  "(,[a-zA-Z_][a-zA-Z0-9_]*=\"[^\"]*\")*\\})? "
                                  "([-+]?[0-9.]+([eE][-+]?[0-9]+)?|NaN|[-+]Inf)$",
                             REG_EXTENDED | REG_NOSUB), 0);
    char *text = strdup(h.body);
    double requests = 0;
    int lines = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        lines++;
        if (line[0] == '#') {
            ck_assert_msg(!strncmp(line, "# HELP ", 7) || !strncmp(line, "# TYPE ", 7), "%s",
                          line);
            continue;
        }
        ck_assert_msg(regexec(&re, line, 0, NULL, 0) == 0, "not a sample line: %s", line);
        if (!strncmp(line, "neurond_http_requests_total{", 28))
            requests += strtod(strrchr(line, ' ') + 1, NULL);
    }
    regfree(&re);
    free(text);
    ck_assert_int_gt(lines, 10);
    ck_assert(sample(h.body, "neurond_http_requests_total{route=\"/v1/jobs/:id/loss.svg\","
                             "method=\"GET\",status=\"200\"}") == 2);
    ck_assert(sample(h.body, "neurond_http_requests_total{route=\"/v1/jobs/:id/loss.svg\","
                             "method=\"GET\",status=\"400\"}") == 1);
    ck_assert(sample(h.body, "neurond_http_requests_total{route=\"/v1/jobs/:id/gradients.svg\","
                             "method=\"GET\",status=\"404\"}") == 1);
    ck_assert(sample(h.body, "neurond_http_requests_total{route=\"/v1/jobs\","
                             "method=\"POST\",status=\"202\"}") == 1);
    ck_assert(requests > 0);
    ck_assert(sample(h.body, "neurond_http_request_duration_seconds_count") == requests);
    ck_assert(sample(h.body, "neurond_http_request_duration_seconds_bucket{le=\"+Inf\"}") ==
              requests);
    ck_assert(sample(h.body, "neurond_http_request_duration_seconds_sum") > 0);
    ck_assert(sample(h.body, "neurond_jobs{state=\"succeeded\"}") == 1);
    ck_assert(sample(h.body, "neurond_jobs{state=\"queued\"}") == 0);
    ck_assert(sample(h.body, "neurond_queue_depth") == 0);
    ck_assert(sample(h.body, "neurond_epochs_trained_total") == EPOCHS);
    ck_assert(sample(h.body, "neurond_training_samples_per_second") > 0);
    ck_assert(sample(h.body, "neurond_stream_subscribers") == 0);
    su_http_free(&h);

    su_stop(&s, 0);
    su_cleanup(&s);
    free(id);
}
END_TEST

/* A job that has not trained yet still gets a valid picture that says so; a job without
 * validation has no val_ series. */
START_TEST(no_epochs_and_no_validation)
{
    struct server s = {0};
    su_start(&s, NULL);
    /* the one worker is busy with a long job, so the second one waits */
    char *busy = queue_job(&s, 0, 100000), path[160];
    wait_state(&s, busy, "running");
    char *id = queue_job(&s, 0, EPOCHS);
    snprintf(path, sizeof path, "/v1/jobs/%s/loss.svg", id);
    struct http_reply h = get(&s, path, 200, "image/svg+xml");
    check_svg(&h);
    ck_assert(strstr(h.body, "no epochs yet") && strstr(h.body, "(queued)"));
    ck_assert_int_eq(su_count(h.body, "<circle"), 0);
    su_http_free(&h);
    snprintf(path, sizeof path, "/v1/jobs/%s/gradients.svg", id);
    h = get(&s, path, 200, "image/svg+xml");
    check_svg(&h);
    ck_assert(strstr(h.body, "no epochs yet") != NULL);
    su_http_free(&h);
    h = get(&s, "/metrics", 200, NULL);
    ck_assert(sample(h.body, "neurond_queue_depth") == 1);
    ck_assert(sample(h.body, "neurond_jobs{state=\"queued\"}") == 1);
    ck_assert(sample(h.body, "neurond_jobs{state=\"running\"}") == 1);
    su_http_free(&h);
    su_stop(&s, 1);
    su_cleanup(&s);
    free(busy), free(id);
}
END_TEST

/* A regression on labels near 1e18, left unscaled (standardize_labels false; a 2-8-1
 * network, activation act, SGD at rate lr, `epochs` epochs), named name; returns the job's
 * id (new) once it has ended. */
static char *regression(const struct server *s, const char *name, const char *act, double lr,
                        int epochs)
{
    char data[8192], body[512];
    int n = snprintf(data, sizeof data, "{\"name\": \"big\", \"features\": [");
    for (int i = 0; i < 50; i++)
        n += snprintf(data + n, sizeof data - (size_t)n, "%s[%g, %g]", i ? ", " : "", i / 10.0,
                      (i % 7) / 7.0);
    n += snprintf(data + n, sizeof data - (size_t)n, "], \"labels\": [");
    for (int i = 0; i < 50; i++)
        n += snprintf(data + n, sizeof data - (size_t)n, "%s%g", i ? ", " : "",
                      1e18 * (1 + i / 50.0));
    snprintf(data + n, sizeof data - (size_t)n, "]}");
    char *ds = su_post_id(s, "/v1/datasets", data, 201);
    snprintf(body, sizeof body, "{\"inputs\": 2, \"loss\": \"mse\", \"layers\": [{\"type\": "
             "\"dense\", \"units\": 8, \"activation\": \"%s\"}, {\"type\": \"dense\", "
             "\"units\": 1}]}", act);
    char *net = su_post_id(s, "/v1/networks", body, 201);
    snprintf(body, sizeof body, "{\"name\": \"%s\", \"network\": \"%s\", \"dataset\": \"%s\", "
             "\"epochs\": %d, \"seed\": 1, \"standardize_labels\": false, \"optimizer\": "
             "{\"type\": \"sgd\", \"learning_rate\": %g}}", name, net, ds, epochs, lr);
    char *id = su_post_id(s, "/v1/jobs", body, 202);
    json_decref(su_job_wait(s, id, NULL, 60));
    free(ds), free(net);
    return id;
}

/* What the pictures are for: a saturated tanh whose gradient is exactly 0 (drawn on the
 * floor, marked), a run whose norms went non-finite (marked at the top, not "no gradient
 * norms recorded"); the layers named by what they are, the job by its name; ?scale=; a
 * long run as lines without dots; the CSV with the gradient norms and dead relus. */
START_TEST(what_the_pictures_show)
{
    struct server s = {0};
    su_start(&s, NULL);
    char *flat = regression(&s, "saturated", "tanh", 0.001, 4), path[160];
    char *boom = regression(&s, "diverges", "relu", 1, 3);
    snprintf(path, sizeof path, "/v1/jobs/%s", boom);
    json_t *j = su_get_json(&s, path);
    ck_assert_str_eq(su_str(j, "state"), "failed");
    json_decref(j);

    /* the zeros of the saturated layer, as the stored rows have them */
    snprintf(path, sizeof path, "/v1/jobs/%s/metrics", flat);
    json_t *m = su_get_json(&s, path), *rows = json_object_get(m, "epochs");
    int zeros = 0;
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) {
        const json_t *g = json_object_get(json_object_get(row, "grad_norms"), "/layers/0");
        zeros += json_is_number(g) && json_number_value(g) == 0;
    }
    ck_assert_msg(zeros >= 1, "the tanh did not saturate: %s", json_dumps(rows, 0));
    snprintf(path, sizeof path, "/v1/jobs/%s/gradients.svg", flat);
    struct http_reply h = get(&s, path, 200, "image/svg+xml");
    check_svg(&h);
    ck_assert_int_eq(su_count(h.body, "<rect class=\"point zero grad\" "
                                      "data-series=\"/layers/0 dense 8 tanh\""), zeros);
    ck_assert_int_eq(su_count(h.body, "<circle class=\"point grad\" "
                                      "data-series=\"/layers/0 dense 8 tanh\""), 4 - zeros);
    ck_assert(strstr(h.body, "data-series=\"/layers/1 dense 1 linear\"") != NULL);
    ck_assert(strstr(h.body, "<title>saturated \xc2\xb7 ") != NULL);
    su_http_free(&h);

    /* the diverging run: its norms were not finite */
    snprintf(path, sizeof path, "/v1/jobs/%s/gradients.svg", boom);
    h = get(&s, path, 200, "image/svg+xml");
    check_svg(&h);
    ck_assert_msg(strstr(h.body, "no gradient norms recorded") == NULL, "%s", h.body);
    ck_assert_int_ge(su_count(h.body, "<path class=\"point nonfinite grad\""), 1);
    su_http_free(&h);

    /* the CSV: every value of the JSON rows, the norms and dead relus included */
    snprintf(path, sizeof path, "/v1/jobs/%s/metrics?format=csv", flat);
    h = get(&s, path, 200, "text/csv");
    ck_assert_msg(!strncmp(h.body, "epoch,loss,val_loss,seconds,grad_norm:/layers/0,"
                                   "grad_norm:/layers/1\n", 64), "%s", h.body);
    char *text = strdup(strchr(h.body, '\n') + 1), *save = NULL;
    json_array_foreach(rows, i, row) {
        char *line = strtok_r(i ? NULL : text, "\n", &save), *cell = line, *field[6];
        ck_assert_ptr_nonnull(line);
        for (int k = 0; k < 6; k++)
            field[k] = strsep(&cell, ",");
        ck_assert_msg(field[5] && !cell && !*field[2], "CSV line %zu: %s", i + 1, line);
        const json_t *g = json_object_get(row, "grad_norms");
        ck_assert_int_eq(atoi(field[0]), (int)i + 1);
        ck_assert_msg(strtod(field[4], NULL) == json_number_value(json_object_get(g, "/layers/0"))
                      && strtod(field[5], NULL) ==
                             json_number_value(json_object_get(g, "/layers/1")),
                      "CSV line %zu: %s", i + 1, line);
    }
    free(text);
    su_http_free(&h);
    snprintf(path, sizeof path, "/v1/jobs/%s/metrics?format=csv", boom);
    h = get(&s, path, 200, "text/csv");
    ck_assert_msg(strstr(h.body, ",grad_norm:/layers/0,grad_norm:/layers/1,dead_relu:/layers/0\n")
                  != NULL, "%s", h.body);
    su_http_free(&h);
    json_decref(m);

    /* ?scale= */
    static const struct { const char *q; int log; } scales[] = {
        {"", 0}, {"?scale=log", 1}, {"?scale=linear", 0}, {"?scale=auto", 0}};
    for (size_t k = 0; k < sizeof scales / sizeof *scales; k++) {
        snprintf(path, sizeof path, "/v1/jobs/%s/loss.svg%s", flat, scales[k].q);
        h = get(&s, path, 200, "image/svg+xml");
        check_svg(&h);
        ck_assert_msg((strstr(h.body, "(log scale)") != NULL) == scales[k].log, "%s", path);
        su_http_free(&h);
    }
    snprintf(path, sizeof path, "/v1/jobs/%s/loss.svg?scale=cubic", flat);
    h = get(&s, path, 400, "application/problem+json");
    json_t *p = su_http_json(&h);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
                         json_object_get(p, "errors"), 0), "parameter")), "scale");
    json_decref(p);
    su_http_free(&h);

    /* 150 epochs: lines, no dots */
    char *id = queue_job(&s, 1, 150);
    wait_state(&s, id, "succeeded");
    snprintf(path, sizeof path, "/v1/jobs/%s/loss.svg", id);
    h = get(&s, path, 200, "image/svg+xml");
    check_svg(&h);
    ck_assert_int_eq(su_count(h.body, "<circle"), 0);
    ck_assert_int_eq(su_count(h.body, "<polyline"), 2);
    su_http_free(&h);

    su_stop(&s, 0);
    su_cleanup(&s);
    free(flat), free(boom), free(id);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("charts");
    TCase *tc = tcase_create("e2e");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, pictures_and_metrics);
    tcase_add_test(tc, no_epochs_and_no_validation);
    tcase_add_test(tc, what_the_pictures_show);
    tcase_add_test(tc, gradients_over_time);
    suite_add_tcase(s, tc);
    return tu_run(s) != 0;
}
