/* fuzz_query.c -- the query parameters of the routes that take some, called as handlers
 * on a temporary database made at start: three datasets, networks and six jobs (queued,
 * running, succeeded twice with a model each, failed, cancelled), with epochs. Nothing
 * trains (no workers).
 *
 * Input: byte 0 picks the route -- GET /v1/datasets, /v1/networks, /v1/jobs, /v1/models
 * (?limit=&after=, ?state= for jobs, ?name= for models), /v1/jobs/{id}/metrics (?format=, ?follow=),
 * /v1/jobs/{id}/loss.svg (?metric=, ?scale=) or gradients.svg (none); byte 1 the job of
 * the last three (one with epochs, one without, one whose epochs are all nulls, a running
 * one, or an id that names none); the rest is a query string as libmicrohttpd reads
 * one: pieces between '&', each a key and, after the first '=', a value (none without
 * '='), both percent-decoded with '+' as a space, and cut at a decoded NUL. A value
 * "@d0".."@d2", "@n0".., "@j0".."@j5", "@m0", "@m1" is the id of that dataset, network,
 * job or model.
 *
 * The harness works out on its own which parameters are right (api/openapi.yaml): limit
 * digits only, from 1 to 1000 on every list; after empty or an id of the list (of the
 * name's versions with ?name=, both models being versions of "iris"); name a model name; state
 * one of the five; format json or csv, and none with follow=true; follow true or false
 * (true, 1, yes or empty; false, 0 or no, as every true/false parameter);
 * metric loss, accuracy, mae or mse; scale auto, log or linear; the first of a repeated
 * key counts. Then:
 *   - a wrong parameter answers 400 problem+json naming (errors[0].parameter) one of the
 *     wrong ones -- never 500;
 *   - a list answers 200 and exactly the page the order of creation gives: the items after
 *     `after` (in that state), at most `limit` of them, next the last one's id when more
 *     follow, else null;
 *   - metrics answer 200 with every epoch (JSON, or CSV with a header and one line per
 *     epoch of as many fields), or 404 for no such job; with follow=true 503, the answer
 *     of a request without a connection to stream on;
 *   - a chart answers 200 image/svg+xml, an SVG document without NaN or infinity in it,
 *     or 404.
 */
#include "fuzzutil.h"

#include "api/api.h"
#include "domain/domain.h"
#include "store/store.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- what the database holds ---- */

#define NTOKENS 14
static const char *const tokens[NTOKENS] = {"@d0", "@d1", "@d2", "@n0", "@n1", "@n2", "@j0",
                                            "@j1", "@j2", "@j3", "@j4", "@j5", "@m0", "@m1"};
static char ids[NTOKENS][32];
static const char *values[NTOKENS];
/* the order of creation of each list (GET without parameters, at start) */
enum { DATASETS, NETWORKS, JOBS, MODELS, NLISTS };
static char order[NLISTS][8][32];
static char states[8][16];   /* of the jobs, in order */
static int norder[NLISTS];
static const char *job_path[5];   /* byte 1 picks one */
static int job_epochs[5];

static json_t *body_of(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    CHECK(j);
    return j;
}

static void make(int i, handler_fn fn, const char *text, int status)
{
    json_t *j = body_of(text);
    struct reply rp = fz_call(fn, "POST", j, NULL, NULL);
    CHECK(rp.status == status);
    json_t *d = fz_json(&rp);
    snprintf(ids[i], sizeof ids[i], "%s", json_string_value(json_object_get(d, "id")));
    json_decref(d);
    json_decref(j);
    fz_reply_free(&rp);
}

static void epoch(const char *job, int n, const char *row)
{
    json_t *j = body_of(row);
    CHECK(store_job_epoch(job, n, j, 0.5, 1) == 0);
    json_decref(j);
}

/* Ends job `j` as succeeded with model `m` (a network built from net0's definition). */
static void succeed(int j, int m)
{
    struct network stored;
    CHECK(store_network_get(ids[3], &stored) == STORE_OK);
    const json_t *def = stored.definition;
    struct spec_json sj;
    json_t *errs = NULL;
    CHECK(spec_from_json(def, "", 0, &sj, &errs) == 0);
    struct nn_rng rng;
    nn_rng_seed(&rng, 1);
    struct nn_error e;
    struct nn_net *net = nn_new(&sj.spec, 0, &rng, &e);
    CHECK(net);
    unsigned char *buf;
    size_t len;
    CHECK(nn_save(net, &buf, &len, &e) == 0);
    new_id(ids[m], "mdl_");
    json_t *classes = body_of("[\"a\", \"b\", \"c\"]"), *metrics = body_of("{\"loss\": 0.5}");
    struct model row = {.job_name = "model", .name = "iris", .label_kind = LABELS_CLASSES, .network = (json_t *)def,
                        .classes = classes, .metrics = metrics, .net = buf, .net_len = len};
    snprintf(row.id, sizeof row.id, "%s", ids[m]);
    snprintf(row.job_id, sizeof row.job_id, "%s", ids[j]);
    snprintf(row.dataset_id, sizeof row.dataset_id, "%s", ids[0]);
    CHECK(store_job_finish(ids[j], 0, JOB_SUCCEEDED, NULL, &row, NULL) == STORE_OK);
    json_decref(classes);
    json_decref(metrics);
    free(buf);
    nn_free(net);
    spec_json_free(&sj);
    network_free(&stored);
}

static void claim(int j)
{
    char id[32];
    CHECK(store_job_claim(NULL, id, NULL) == STORE_OK && !strcmp(id, ids[j]));
}

/* The ids of a list, in order, as GET without parameters answers them. */
static void list_order(int which, handler_fn fn)
{
    struct reply rp = fz_call(fn, "GET", NULL, NULL, NULL);
    CHECK(rp.status == 200);
    json_t *page = fz_json(&rp);
    const json_t *items = json_object_get(page, "items");
    CHECK(json_is_null(json_object_get(page, "next")) && json_array_size(items) <= 8);
    size_t i;
    const json_t *it;
    json_array_foreach(items, i, it) {
        snprintf(order[which][i], 32, "%s", json_string_value(json_object_get(it, "id")));
        if (which == JOBS)
            snprintf(states[i], 16, "%s", json_string_value(json_object_get(it, "state")));
    }
    norder[which] = (int)json_array_size(items);
    json_decref(page);
    fz_reply_free(&rp);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fz_db_open();
    static const char *const datasets[] = {
        "{\"name\": \"a\", \"features\": [[1, 2], [2, 3], [3, 4]], \"labels\": [\"a\", \"b\", \"c\"]}",
        "{\"name\": \"b\", \"features\": [[1, 2]], \"labels\": [1]}",
        "{\"name\": \"c\", \"features\": [[1, 2], [5, 6]], \"labels\": [0.5, 2]}"};
    for (int i = 0; i < 3; i++)
        make(i, h_datasets_create, datasets[i], 201);
    static const char *const networks[] = {
        "{\"inputs\": 2, \"layers\": [{\"type\": \"dense\", \"units\": 3, \"activation\": "
        "\"softmax\"}], \"loss\": \"categorical_crossentropy\", \"metrics\": [\"accuracy\"]}",
        "{\"inputs\": 2, \"layers\": [{\"type\": \"dense\", \"units\": 1}], \"loss\": \"mse\"}",
        "{\"name\": \"n\", \"inputs\": 5, \"layers\": [{\"type\": \"dense\", \"units\": 5}], "
        "\"loss\": \"mae\"}"};
    for (int i = 0; i < 3; i++)
        make(3 + i, h_networks_create, networks[i], 201);
    char job[256];
    snprintf(job, sizeof job, "{\"network\": \"%s\", \"dataset\": \"%s\", \"epochs\": 3}", ids[3],
             ids[0]);
    /* j0 succeeded with 3 epochs and model m0; j1 running after 1 epoch; j2 failed;
     * j3 cancelled; j4 succeeded, its epochs all nulls, and model m1; j5 queued */
    make(6, h_jobs_create, job, 202);
    claim(6);
    epoch(ids[6], 1, "{\"epoch\": 1, \"loss\": 0.9, \"val_loss\": 1.1, \"metrics\": "
                     "{\"accuracy\": 0.5}, \"val_metrics\": {\"accuracy\": 0.25}, \"grad_norms\": "
                     "{\"/layers/0\": 1.5, \"/layers/1\": 0.01}, \"dead_relu\": {}, \"seconds\": "
                     "0.01, \"samples_per_second\": 300}");
    epoch(ids[6], 2, "{\"epoch\": 2, \"loss\": null, \"val_loss\": 1e30, \"metrics\": "
                     "{\"accuracy\": null}, \"val_metrics\": {\"accuracy\": 1}, \"grad_norms\": "
                     "{\"/layers/0\": 0, \"/layers/1\": 1e-40}, \"dead_relu\": {}, \"seconds\": 0.02}");
    epoch(ids[6], 3, "{\"epoch\": 3, \"loss\": 1e-30, \"val_loss\": null, \"metrics\": {}, "
                     "\"val_metrics\": null, \"grad_norms\": {\"/layers/0\": 3e30}, "
                     "\"dead_relu\": {}, \"seconds\": null}");
    succeed(6, 12);
    make(7, h_jobs_create, job, 202);
    claim(7);
    epoch(ids[7], 1, "{\"epoch\": 1, \"loss\": 2, \"val_loss\": null, \"metrics\": {\"mae\": 1}, "
                     "\"val_metrics\": null, \"grad_norms\": {\"/layers/0\": 2}, \"dead_relu\": {}, "
                     "\"seconds\": 1}");
    make(8, h_jobs_create, job, 202);
    claim(8);
    json_t *error = body_of("{\"type\": \"about:blank\", \"title\": \"Training failed\", "
                            "\"status\": 422, \"detail\": \"the loss became NaN\"}");
    CHECK(store_job_finish(ids[8], 0, JOB_FAILED, error, NULL, NULL) == STORE_OK);
    json_decref(error);
    make(9, h_jobs_create, job, 202);
    enum job_state was;
    CHECK(store_job_cancel(ids[9], &was) == STORE_OK);
    make(10, h_jobs_create, job, 202);
    claim(10);
    for (int e = 1; e <= 2; e++) {
        char row[256];
        snprintf(row, sizeof row, "{\"epoch\": %d, \"loss\": null, \"val_loss\": null, "
                 "\"metrics\": {\"accuracy\": null, \"mse\": null}, \"val_metrics\": null, "
                 "\"grad_norms\": {\"/layers/0\": null}, \"dead_relu\": {}, \"seconds\": null}", e);
        epoch(ids[10], e, row);
    }
    succeed(10, 13);
    make(11, h_jobs_create, job, 202);
    for (int i = 0; i < NTOKENS; i++)
        values[i] = ids[i];
    list_order(DATASETS, h_datasets_list);
    list_order(NETWORKS, h_networks_list);
    list_order(JOBS, h_jobs_list);
    list_order(MODELS, h_models_list);
    CHECK(norder[DATASETS] == 3 && norder[NETWORKS] == 3 && norder[JOBS] == 6 &&
          norder[MODELS] == 2);
    const char *paths[5] = {ids[6], ids[11], ids[10], ids[7], "job_nosuchthing00"};
    const int epochs[5] = {3, 0, 2, 1, 0};
    for (int i = 0; i < 5; i++)
        job_path[i] = paths[i], job_epochs[i] = epochs[i];
    return 0;
}

/* ---- the query, as libmicrohttpd reads it ---- */

#define MAXKV 32

struct query {
    char *kv[2 * MAXKV + 1];   /* key, value (NULL: none), ..., NULL */
    int n;
};

static int hex(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Percent-decodes s[0..n) with '+' as a space into a new string, cut at a decoded NUL. */
static char *decode(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    CHECK(out);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
            out[o++] = (char)(hex(s[i + 1]) * 16 + hex(s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i] == '+' ? ' ' : s[i];
        }
    }
    out[o] = 0;   /* a decoded NUL ends the C string there */
    return out;
}

static void parse_query(const char *s, size_t n, struct query *q)
{
    memset(q, 0, sizeof *q);
    size_t i = 0;
    while (i < n && q->n < MAXKV) {
        size_t end = i;
        while (end < n && s[end] != '&')
            end++;
        if (end > i) {
            const char *eq = memchr(s + i, '=', end - i);
            size_t kl = eq ? (size_t)(eq - (s + i)) : end - i;
            char *key = decode(s + i, kl), *val = eq ? decode(eq + 1, end - i - kl - 1) : NULL;
            for (int t = 0; val && t < NTOKENS; t++)
                if (!strcmp(val, tokens[t])) {
                    free(val);
                    val = strdup(values[t]);
                    CHECK(val);
                    break;
                }
            q->kv[2 * q->n] = key;
            q->kv[2 * q->n + 1] = val;
            q->n++;
        }
        i = end + 1;
    }
    q->kv[2 * q->n] = NULL;
}

static void query_free(struct query *q)
{
    for (int i = 0; i < 2 * q->n; i++)
        free(q->kv[i]);
}

/* The first value of key: *present says whether the key came (with or without a value). */
static const char *get(const struct query *q, const char *key, int *present)
{
    for (int i = 0; i < q->n; i++)
        if (!strcmp(q->kv[2 * i], key)) {
            if (present)
                *present = 1;
            return q->kv[2 * i + 1];
        }
    if (present)
        *present = 0;
    return NULL;
}

/* ---- what is right ---- */

/* limit: absent (a key without a value is absent) or digits only, from 1 to max; a
 * whole number written with a point and zeros after it ("5.", "5.00") counts too. */
static int limit_of(const char *v, int max, int *limit)
{
    *limit = 50;
    if (!v)
        return 1;
    size_t n = strlen(v), d = strspn(v, "0123456789");
    if (d > 0 && d < n && v[d] == '.' && strspn(v + d + 1, "0") == n - d - 1)
        n = d;   /* the point and its zeros */
    if (n == 0 || d < n)
        return 0;
    size_t z = strspn(v, "0");   /* leading zeros do not count */
    if (z > n)
        z = n;
    if (n - z > 9)
        return 0;
    long x = 0;
    for (size_t i = z; i < n; i++)
        x = x * 10 + (v[i] - '0');
    *limit = (int)x;
    return x >= 1 && x <= max;
}

/* after: absent, empty, or one of the n ids of list; *from gets the index to start at. */
static int after_of(const char *v, char (*list)[32], int n, int *from)
{
    *from = 0;
    if (!v || !*v)
        return 1;
    for (int i = 0; i < n; i++)
        if (!strcmp(list[i], v)) {
            *from = i + 1;
            return 1;
        }
    return 0;
}

/* A model name (?name= of the models): 1 to 64 ASCII letters, digits, '.', '_' and '-',
 * the first a letter or digit, not starting with "mdl_". */
static int name_ok(const char *v)
{
    size_t n = strlen(v);
    if (n < 1 || n > 64 || !strncmp(v, "mdl_", 4))
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
            return 0;
    }
    return 1;
}

static int one_of(const char *v, const char *const *set)
{
    for (; *set; set++)
        if (!strcmp(v, *set))
            return 1;
    return 0;
}

/* A 400 naming one of the wrong parameters (the NULL-terminated list). */
static void check_bad(const struct reply *rp, const char *const *wrong)
{
    json_t *p = fz_problem(rp, 400);
    const char *param = json_string_value(
        json_object_get(json_array_get(json_object_get(p, "errors"), 0), "parameter"));
    CHECK(param && one_of(param, wrong));
    json_decref(p);
}

/* ---- the routes ---- */

static void check_list(int which, handler_fn fn, int max, const struct query *q)
{
    static const char *const job_states[] = {"queued", "running", "succeeded", "failed",
                                             "cancelled", NULL};
    const char *wrong[4] = {NULL};
    int nw = 0, limit, from;
    /* the models of one name: both models are versions of "iris", newest first */
    const char *name = which == MODELS ? get(q, "name", NULL) : NULL;
    char (*list)[32] = order[which], iris[8][32];
    int n = norder[which];
    if (name && !name_ok(name))
        wrong[nw++] = "name";
    else if (name) {
        n = !strcmp(name, "iris") ? norder[MODELS] : 0;
        for (int i = 0; i < n; i++)
            memcpy(iris[i], order[MODELS][n - 1 - i], 32);
        list = iris;
    }
    if (!limit_of(get(q, "limit", NULL), max, &limit))
        wrong[nw++] = "limit";
    if (!after_of(get(q, "after", NULL), list, n, &from))
        wrong[nw++] = "after";
    const char *state = which == JOBS ? get(q, "state", NULL) : NULL;
    if (state && !one_of(state, job_states))
        wrong[nw++] = "state";
    struct reply rp = fz_call(fn, "GET", NULL, NULL, (const char *const *)q->kv);
    if (nw) {
        check_bad(&rp, wrong);
        fz_reply_free(&rp);
        return;
    }
    CHECK(rp.status == 200);
    json_t *page = fz_json(&rp);
    const json_t *items = json_object_get(page, "items"), *next = json_object_get(page, "next");
    CHECK(json_is_array(items));
    /* the page the order gives */
    int want[8], nwant = 0, more = 0;
    for (int i = from; i < n; i++) {
        if (state && strcmp(states[i], state))
            continue;
        if (nwant == limit) {
            more = 1;
            break;
        }
        want[nwant++] = i;
    }
    CHECK(json_array_size(items) == (size_t)nwant);
    CHECK((int)json_array_size(items) <= limit);
    for (int k = 0; k < nwant; k++)
        CHECK(!strcmp(json_string_value(json_object_get(json_array_get(items, (size_t)k), "id")),
                      list[want[k]]));
    if (more)
        CHECK(json_is_string(next) &&
              !strcmp(json_string_value(next), list[want[nwant - 1]]));
    else
        CHECK(json_is_null(next));
    json_decref(page);
    fz_reply_free(&rp);
}

static void check_metrics(int job, const struct query *q)
{
    static const char *const formats[] = {"json", "csv", NULL};
    /* a true/false parameter, read one way on every route */
    static const char *const yes[] = {"true", "1", "yes", "", NULL};
    static const char *const no[] = {"false", "0", "no", NULL};
    const char *format = get(q, "format", NULL), *follow = get(q, "follow", NULL);
    const char *wrong[3] = {NULL};
    int nw = 0;
    int following = follow && one_of(follow, yes);
    if (format && (!one_of(format, formats) || following))
        wrong[nw++] = "format";
    if (follow && !one_of(follow, yes) && !one_of(follow, no))
        wrong[nw++] = "follow";
    struct reply rp = fz_call(h_jobs_metrics, "GET", NULL, job_path[job],
                              (const char *const *)q->kv);
    int exists = job < 4;
    if (nw) {
        check_bad(&rp, wrong);
    } else if (!exists) {
        json_decref(fz_problem(&rp, 404));
    } else if (following) {
        json_decref(fz_problem(&rp, 503));   /* no connection to stream on */
    } else if (format && !strcmp(format, "csv")) {
        CHECK(rp.status == 200 && !strcmp(rp.content_type, "text/csv"));
        CHECK(rp.body && rp.len == strlen(rp.body));
        CHECK(!strncmp(rp.body, "epoch,loss,val_loss,", 20));
        /* a header and one line per epoch, each of as many fields */
        int lines = 0, fields = -1, f = 1;
        for (size_t i = 0; i < rp.len; i++) {
            if (rp.body[i] == ',')
                f++;
            if (rp.body[i] == '\n') {
                CHECK(fields < 0 || f == fields);
                fields = f, f = 1, lines++;
            }
        }
        CHECK(rp.len > 0 && rp.body[rp.len - 1] == '\n');
        CHECK(lines == 1 + job_epochs[job]);
    } else {
        CHECK(rp.status == 200);
        json_t *j = fz_json(&rp);
        CHECK(!strcmp(json_string_value(json_object_get(j, "job")), job_path[job]));
        const json_t *epochs = json_object_get(j, "epochs");
        CHECK(json_array_size(epochs) == (size_t)job_epochs[job]);
        for (size_t i = 0; i < json_array_size(epochs); i++)
            CHECK(json_integer_value(json_object_get(json_array_get(epochs, i), "epoch")) ==
                  (json_int_t)i + 1);
        json_decref(j);
    }
    fz_reply_free(&rp);
}

/* An SVG document without NaN or infinity (the job's id aside, which may spell "nan"). */
static void check_svg(const struct reply *rp, int job)
{
    CHECK(rp->status == 200 && !strcmp(rp->content_type, "image/svg+xml"));
    CHECK(rp->body && rp->len == strlen(rp->body));
    CHECK(!strncmp(rp->body, "<?xml", 5) && strstr(rp->body, "<svg"));
    CHECK(rp->len >= 7 && !strcmp(rp->body + rp->len - 7, "</svg>\n"));
    char *text = strdup(rp->body), *at;
    CHECK(text);
    size_t idl = strlen(job_path[job]);
    while ((at = strstr(text, job_path[job])))
        memset(at, '_', idl);
    for (char *p = text; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    CHECK(!strstr(text, "nan") && !strstr(text, "inf"));
    free(text);
}

static void check_chart(int job, const struct query *q, int gradients)
{
    static const char *const metrics[] = {"loss", "accuracy", "mae", "mse", NULL};
    static const char *const scales[] = {"auto", "log", "linear", NULL};
    const char *metric = gradients ? NULL : get(q, "metric", NULL);
    const char *scale = gradients ? NULL : get(q, "scale", NULL);
    const char *wrong[3] = {NULL};
    int nw = 0;
    if (metric && !one_of(metric, metrics))
        wrong[nw++] = "metric";
    if (scale && !one_of(scale, scales))
        wrong[nw++] = "scale";
    struct reply rp = fz_call(gradients ? h_jobs_gradients_chart : h_jobs_chart, "GET", NULL,
                              job_path[job], (const char *const *)q->kv);
    if (nw)
        check_bad(&rp, wrong);
    else if (job >= 4)
        json_decref(fz_problem(&rp, 404));
    else
        check_svg(&rp, job);
    fz_reply_free(&rp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    struct query q;
    parse_query((const char *)data + 2, size - 2, &q);
    int job = data[1] % 5;
    switch (data[0] % 7) {
    case 0: check_list(DATASETS, h_datasets_list, 1000, &q); break;
    case 1: check_list(NETWORKS, h_networks_list, 1000, &q); break;
    case 2: check_list(JOBS, h_jobs_list, 1000, &q); break;
    case 3: check_list(MODELS, h_models_list, 1000, &q); break;
    case 4: check_metrics(job, &q); break;
    case 5: check_chart(job, &q, 0); break;
    default: check_chart(job, &q, 1); break;
    }
    query_free(&q);
    return 0;
}
