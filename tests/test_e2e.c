/* test_e2e.c -- the real binary against the contract of api/openapi.yaml:
 *  - a table of bad requests, each answered with its status and a problem+json body that
 *    names the field (errors[].pointer), query parameter (errors[].parameter) or header
 *    (errors[].header) at fault and carries the answer's X-Request-Id, after each of which
 *    /healthz still answers; among them requests framed so that two parties could read
 *    them two ways, sent as raw bytes and answered at once with the connection closed;
 *    the table's server wants tokens, so every row is also a request that got past them,
 *    and the rows of who may ask try to get past them;
 *  - the example bodies of api/examples/ accepted as they are, the whole loop through;
 *  - every operation of api/openapi.yaml served, and every route of server/api/routes.c in it.
 * Run from the top of the repository (as make test does): the files are read from there. */
#include "srvutil.h"
#include "testutil.h"

#include <curl/curl.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* ---- small helpers ---- */

static long http_status(const struct server *s, const char *method, const char *path)
{
    struct http_reply h = su_http(s, method, path, NULL, 0, NULL);
    long st = h.status;
    su_http_free(&h);
    return st;
}

/* POSTs a body and copies the answer's "id" into id (32 bytes). 0, or -1 with why filled
 * (the fixture cannot use ck_assert: a failure there must still stop the server). */
static int post_for_id(const struct server *s, const char *path, const char *body, size_t len,
                       const char *ctype, long want, char *id, char *why, size_t whylen)
{
    struct http_reply h = su_http(s, "POST", path, body, len, ctype);
    json_t *j = h.status == want ? json_loadb(h.body, h.len, 0, NULL) : NULL;
    const char *v = json_string_value(json_object_get(j, "id"));
    int rc = v ? 0 : -1;
    if (v)
        snprintf(id, 32, "%s", v);
    else
        snprintf(why, whylen, "POST %s: %ld %.300s", path, h.status, h.body);
    json_decref(j);
    su_http_free(&h);
    return rc;
}

/* A job's description (new), or NULL. */
static json_t *job_get(const struct server *s, const char *id)
{
    char path[96];
    snprintf(path, sizeof path, "/v1/jobs/%.64s", id);
    struct http_reply h = su_http(s, "GET", path, NULL, 0, NULL);
    json_t *j = h.status == 200 ? json_loadb(h.body, h.len, 0, NULL) : NULL;
    su_http_free(&h);
    return j;
}

/* Polls a job until its state is `until` or an end state, up to `seconds`. Returns the
 * state reached (static storage), or "" when none was within the time. */
static const char *job_wait(const struct server *s, const char *id, const char *until,
                            int seconds, char *model)
{
    static char state[16];
    *state = 0;
    for (int i = 0; i < seconds * 20; i++) {
        json_t *j = job_get(s, id);
        const char *st = json_string_value(json_object_get(j, "state"));
        if (st && (!strcmp(st, until) || !strcmp(st, "succeeded") || !strcmp(st, "failed") ||
                   !strcmp(st, "cancelled"))) {
            snprintf(state, sizeof state, "%s", st);
            const char *m = json_string_value(json_object_get(j, "model"));
            if (model)
                snprintf(model, 32, "%s", m ? m : "");
            json_decref(j);
            return state;
        }
        json_decref(j);
        usleep(50000);
    }
    return state;
}

/* A CSV of rows x features numbers, a label 0..2 last (new), or NULL. */
static char *numbers_csv(int rows, int features, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (!f)
        return NULL;
    unsigned s = 11;
    for (int i = 0; i < rows; i++) {
        for (int j = 0; j < features; j++) {
            s = s * 1103515245u + 12345u;
            fprintf(f, "%.3f,", (i % 3) * 2.0 + ((s >> 16) % 1000) / 1000.0);
        }
        fprintf(f, "%d\n", i % 3);
    }
    fclose(f);
    return buf;
}

/* Servers are started and stopped through these, which keep a copy of each running one:
 * a test that fails stops where it is (in CK_FORK=no runs, under ASan, in this process),
 * and main stops what it left running. */
static struct server live[8];

static void start(struct server *s, const char *const *args)
{
    su_start(s, args);
    for (int i = 0; i < 8; i++)
        if (!live[i].pid) {
            live[i] = *s;
            break;
        }
}

static void stop(struct server *s)
{
    for (int i = 0; i < 8; i++)
        if (s->pid && live[i].pid == s->pid)
            live[i].pid = 0;
    su_stop(s, 0);
    su_cleanup(s);
}

static void stop_all(void)
{
    for (int i = 0; i < 8; i++)
        if (live[i].pid) {
            struct server s = live[i];
            stop(&s);
        }
}

/* ---- the table of bad requests ---- */

/* The server the table runs against (--max-json 64k, --max-body 4k; tokens, of which the write token is
 * sent unless a row says otherwise; --metrics-token; --cors-origin https://app.example)
 * and what the fixture made on it. */
#define WRITE_TOKEN "e2e-write-0123456789abcdefghij"
#define READ_TOKEN "e2e-read-0123456789abcdefghijk"
static struct server srv;
static char token_dir[64];
static char fixture_error[512];
static char ds[32];          /* {DS}: the iris example, 4 features, classes */
static char net[32];         /* {NET}: the iris example network */
static char done_job[32];    /* {JOB}: a job that succeeded */
static char model[32];       /* {MODEL}: its model */
static char run_ds[32];      /* {RUNDS}: 16 features, used by the running job */
static char run_job[32];     /* {RUNJOB}: a job that keeps running */

static void fixture_start(void)
{
    char *why = fixture_error, body[1024], tokens[128];
    size_t wl = sizeof fixture_error, len;
    snprintf(token_dir, sizeof token_dir, "/tmp/neurond-tokens-XXXXXX");
    snprintf(tokens, sizeof tokens, "%s/tokens", mkdtemp(token_dir) ? token_dir : "/nonexistent");
    FILE *f = fopen(tokens, "w");
    if (f) {
        fputs(WRITE_TOKEN " write\n" READ_TOKEN " read viewer\n", f);
        fclose(f);
    }
    const char *const args[] = {"--max-json", "64k", "--max-body", "4k", "--workers", "1", "--threads", "1",
                                "--token-file", tokens, "--metrics-token", "--cors-origin",
                                "https://app.example", NULL};
    /* read first: a file that cannot be read fails the fixture before a server runs */
    char *iris = tu_slurp("api/examples/dataset_iris.json", &len);
    char *netj = tu_slurp("api/examples/network_iris.json", NULL);
    start(&srv, args);
    snprintf(srv.token, sizeof srv.token, "%s", WRITE_TOKEN);
    if (post_for_id(&srv, "/v1/datasets", iris, len, "application/json", 201, ds, why, wl) < 0 ||
        post_for_id(&srv, "/v1/networks", netj, strlen(netj), "application/json", 201, net, why,
                    wl) < 0)
        goto done;
    snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\", \"epochs\": 3, "
             "\"batch_size\": 8, \"seed\": 1}", net, ds);
    if (post_for_id(&srv, "/v1/jobs", body, strlen(body), "application/json", 202, done_job, why,
                    wl) < 0)
        goto done;
    const char *st = job_wait(&srv, done_job, "succeeded", 60, model);
    if (strcmp(st, "succeeded") != 0 || !*model) {
        snprintf(why, wl, "the fixture's job %s ended '%s' without a model", done_job, st);
        goto done;
    }
    /* a job that trains for as long as the table runs, on a dataset of its own */
    char *csv = numbers_csv(2000, 16, &len);
    int rc = csv ? post_for_id(&srv, "/v1/datasets?name=long", csv, len, "text/csv", 201, run_ds,
                               why, wl)
                 : (snprintf(why, wl, "out of memory"), -1);
    free(csv);
    if (rc < 0)
        goto done;
    snprintf(body, sizeof body, "{\"network\": {\"inputs\": 16, \"layers\": [{\"type\": "
             "\"dense\", \"units\": 64, \"activation\": \"relu\"}, {\"type\": \"dense\", "
             "\"units\": 3, \"activation\": \"softmax\"}], \"loss\": "
             "\"categorical_crossentropy\"}, \"dataset\": \"%s\", \"epochs\": 100000, "
             "\"batch_size\": 8}", run_ds);
    if (post_for_id(&srv, "/v1/jobs", body, strlen(body), "application/json", 202, run_job, why,
                    wl) < 0)
        goto done;
    st = job_wait(&srv, run_job, "running", 60, NULL);
    if (strcmp(st, "running") != 0)
        snprintf(why, wl, "the fixture's long job %s is '%s', not running", run_job, st);
done:
    free(iris);
    free(netj);
    if (*fixture_error)   /* the tests fail with this message; the server is not left */
        stop(&srv);
}

static void fixture_stop(void)
{
    char tokens[128];
    snprintf(tokens, sizeof tokens, "%s/tokens", token_dir);
    remove(tokens);
    rmdir(token_dir);
    if (!srv.pid)
        return;
    char path[96];
    snprintf(path, sizeof path, "/v1/jobs/%s/cancel", run_job);
    http_status(&srv, "POST", path);
    stop(&srv);
}

#define J "application/json"
#define CSV "text/csv"
#define BIG "<a JSON body over --max-json>"
#define BIGCSV "<CSV rows over --max-body>"
#define DENSE "<a JSON array of empty objects>"

/* One bad request and what it must get. path, body and the headers sent may hold {DS},
 * {NET}, {JOB}, {MODEL}, {RUNDS}, {RUNJOB}, {READ} (the read token); body BIG stands for
 * a JSON body of 70000 bytes, BIGCSV for 5000 bytes of CSV rows, DENSE for 60000 bytes of
 * [{}, {}, ...] (whose values would take 75 times its size, 4.5 MB); a NULL body sends
 * none (and no Content-Type). A raw row sends its bytes as they are (what client
 * libraries would not send), and its answer must also close the connection. */
struct bad {
    const char *what;
    const char *method, *path, *ctype, *body;
    int status;
    const char *allow;             /* the Allow header of a 405 */
    const char *pointer[3];        /* each must be an errors[].pointer */
    const char *parameter;         /* must be an errors[].parameter */
    const char *header;            /* must be an errors[].header */
    const char *send[3];           /* more headers sent ("Authorization:" sends none) */
    const char *raw;               /* the whole request, instead of method ... body */
};
/* A row; a 405 and its Allow; a row whose body fields are at fault (their pointers);
 * a row whose query parameter is at fault; a row of who may ask, with the header at fault
 * and the headers it sends; a raw request. */
#define ROW(what, m, path, ct, body, st) \
    {what, m, path, ct, body, st, NULL, {NULL}, NULL, NULL, {NULL}, NULL}
#define ALLOW(what, m, path, ct, body, allow) \
    {what, m, path, ct, body, 405, allow, {NULL}, NULL, NULL, {NULL}, NULL}
#define FIELD(what, m, path, ct, body, st, ...) \
    {what, m, path, ct, body, st, NULL, {__VA_ARGS__}, NULL, NULL, {NULL}, NULL}
#define PARAM(what, m, path, ct, body, st, param) \
    {what, m, path, ct, body, st, NULL, {NULL}, param, NULL, {NULL}, NULL}
#define WHO(what, m, path, ct, body, st, header, ...) \
    {what, m, path, ct, body, st, NULL, {NULL}, NULL, header, {__VA_ARGS__}, NULL}
#define RAW(what, raw, st) \
    {what, NULL, NULL, NULL, NULL, st, NULL, {NULL}, NULL, NULL, {NULL}, raw}
/* the end of a request line, a Host the server answers, and the write token */
#define H11 " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " WRITE_TOKEN "\r\n"

static const struct bad bad[] = {
    /* routes that do not exist */
    ROW("unknown route", "GET", "/nope", NULL, NULL, 404),
    ROW("/v1 alone", "GET", "/v1", NULL, NULL, 404),
    ROW("singular resource name", "GET", "/v1/dataset", NULL, NULL, 404),
    ROW("unknown sub-resource of a job", "GET", "/v1/jobs/{JOB}/nope", NULL, NULL, 404),
    ROW("a segment past predict", "POST", "/v1/models/{MODEL}/predict/more", J,
        "{\"inputs\": [[1, 2, 3, 4]]}", 404),
    /* the problem quotes the path: bytes that are not UTF-8 become '?' (an overlong
     * NUL, a lone continuation byte, a surrogate, past U+10FFFF) */
    ROW("a path that is not UTF-8", "GET", "/v1/%C0%80/%80/%ED%A0%80/%F4%90%80%80", NULL,
        NULL, 404),

    /* known paths, wrong methods */
    ALLOW("PUT on the datasets", "PUT", "/v1/datasets", J, "{}", "POST, GET"),
    ALLOW("DELETE on the jobs", "DELETE", "/v1/jobs", NULL, NULL, "POST, GET"),
    ALLOW("PATCH on a dataset", "PATCH", "/v1/datasets/{DS}", J, "{\"name\": \"x\"}",
          "GET, DELETE"),
    ALLOW("POST on a network", "POST", "/v1/networks/{NET}", J, "{}", "GET, DELETE"),
    ALLOW("DELETE on a job", "DELETE", "/v1/jobs/{JOB}", NULL, NULL, "GET"),
    ALLOW("GET on cancel", "GET", "/v1/jobs/{JOB}/cancel", NULL, NULL, "POST"),
    ALLOW("POST on healthz", "POST", "/healthz", NULL, NULL, "GET"),
    ALLOW("GET on predict", "GET", "/v1/models/{MODEL}/predict", NULL, NULL, "POST"),
    ALLOW("POST on the models", "POST", "/v1/models", J, "{}", "GET"),
    ALLOW("PUT on weights", "PUT", "/v1/models/{MODEL}/weights", J, "{}", "GET"),

    /* content types */
    ROW("a dataset as text/plain", "POST", "/v1/datasets", "text/plain", "1,2,3\n", 415),
    ROW("a network as CSV", "POST", "/v1/networks", CSV, "inputs,4\n", 415),
    ROW("a network as XML", "POST", "/v1/networks", "application/xml", "<network/>", 415),
    ROW("a job as a form", "POST", "/v1/jobs", "application/x-www-form-urlencoded",
        "network=a&dataset=b", 415),
    ROW("a prediction as text/plain", "POST", "/v1/models/{MODEL}/predict", "text/plain",
        "1,2,3,4\n", 415),

    /* malformed JSON */
    ROW("unquoted key", "POST", "/v1/networks", J, "{bad", 400),
    ROW("trailing comma", "POST", "/v1/datasets", J, "{\"name\": \"a\",}", 400),
    ROW("truncated array", "POST", "/v1/jobs", J, "[1, 2", 400),
    ROW("truncated prediction", "POST", "/v1/models/{MODEL}/predict", J,
        "{\"inputs\": [[1, 2, 3, 4]]", 400),
    ROW("duplicate keys", "POST", "/v1/networks", J, "{\"inputs\": 4, \"inputs\": 5}", 400),
    ROW("invalid UTF-8 in a string", "POST", "/v1/networks", J, "{\"name\": \"\xff\xfe\"}", 400),
    ROW("empty dataset body", "POST", "/v1/datasets", J, "", 400),
    ROW("empty network body", "POST", "/v1/networks", J, "", 400),
    ROW("empty job body", "POST", "/v1/jobs", J, "", 400),
    ROW("empty prediction body", "POST", "/v1/models/{MODEL}/predict", J, "", 400),

    /* bodies over --max-json and --max-body, declared or not yet sent */
    ROW("a network over the limit", "POST", "/v1/networks", J, BIG, 413),
    ROW("a JSON dataset over the limit", "POST", "/v1/datasets", J, BIG, 413),
    ROW("a prediction over the limit", "POST", "/v1/models/{MODEL}/predict", J, BIG, 413),
    ROW("a CSV prediction over the limit", "POST", "/v1/models/{MODEL}/predict", CSV, BIGCSV,
        413),
    ROW("JSON of more values than its size may hold", "POST", "/v1/networks", J, DENSE, 413),
    ROW("JSON of more values than its size, predicted", "POST", "/v1/models/{MODEL}/predict", J,
        DENSE, 413),
    RAW("a declared body over the limit, answered before 100 Continue", "POST /v1/networks"
        H11 "Content-Type: application/json\r\nContent-Length: 100000000\r\n"
        "Expect: 100-continue\r\n\r\n", 413),
    RAW("a declared CSV upload over --max-upload, no body sent", "POST /v1/datasets"
        H11 "Content-Type: text/csv\r\nContent-Length: 5000000000\r\n\r\n", 413),

    /* framing that two parties could read two ways */
    RAW("two Content-Lengths that differ", "POST /v1/networks" H11 "Content-Type: "
        "application/json\r\nContent-Length: 2\r\nContent-Length: 41\r\n\r\n{}POST "
        "/v1/networks HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    RAW("Content-Length with Transfer-Encoding", "POST /v1/networks" H11 "Content-Type: "
        "application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
        "2\r\n{}\r\n0\r\n\r\n", 400),
    RAW("a transfer coding other than chunked", "POST /v1/networks" H11 "Content-Type: "
        "application/json\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    RAW("a coding before chunked", "POST /v1/networks" H11 "Content-Type: application/json"
        "\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
    RAW("chunked twice", "POST /v1/networks" H11 "Content-Type: application/json\r\n"
        "Transfer-Encoding: chunked, chunked\r\n\r\n", 400),
    RAW("two Transfer-Encoding headers", "POST /v1/networks" H11 "Content-Type: "
        "application/json\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"
        "\r\n", 400),
    RAW("white space before a header's colon", "POST /v1/networks" H11 "Content-Type: "
        "application/json\r\nContent-Length : 2\r\n\r\n{}", 400),
    RAW("a tab in a header's name", "GET /healthz" H11 "X-A\tB: 1\r\n\r\n", 400),
    RAW("HTTP/1.1 without Host", "GET /healthz HTTP/1.1\r\n\r\n", 400),
    RAW("two Hosts", "GET /healthz" H11 "Host: u\r\n\r\n", 400),
    RAW("an absolute-form target for https", "GET https://t/healthz" H11 "\r\n", 421),
    ROW("%00 in the path", "GET", "/v1/jobs/%00", NULL, NULL, 400),
    ROW("%00 in a path parameter", "GET", "/v1/jobs/job_%00x", NULL, NULL, 400),
    PARAM("%00 in a query value", "POST", "/v1/datasets?name=a%00b", CSV, "1,2,0\n", 400,
          "name"),
    PARAM("%00 in a query key", "GET", "/v1/jobs?st%00ate=queued", NULL, NULL, 400, "st"),

    /* query parameters a route does not take */
    PARAM("a misspelt filter of a list", "GET", "/v1/jobs?stat=running", NULL, NULL, 400,
          "stat"),
    PARAM("a misspelt format of metrics", "GET", "/v1/jobs/{JOB}/metrics?fromat=csv", NULL,
          NULL, 400, "fromat"),
    PARAM("metrics for metric on a chart", "GET", "/v1/jobs/{JOB}/loss.svg?metrics=accuracy",
          NULL, NULL, 400, "metrics"),
    PARAM("a query on a route that takes none", "GET", "/v1/datasets/{DS}?verbose=1", NULL,
          NULL, 400, "verbose"),
    PARAM("a misspelt name of a CSV upload", "POST", "/v1/datasets?nmae=a", CSV, "1,2,0\n",
          400, "nmae"),
    PARAM("dry_run on jobs", "POST", "/v1/jobs?dry_run=true", J, "{}", 400, "dry_run"),
    PARAM("a prediction with a query", "POST", "/v1/models/{MODEL}/predict?format=csv", J,
          "{\"inputs\": [[1, 2, 3, 4]]}", 400, "format"),

    /* where newcomers go wrong (the hints themselves: test_api_jobs, test_api_datasets) */
    WHO("JSON sent as text/csv", "POST", "/v1/datasets", CSV,
        "{\"name\": \"a\", \"features\": [[1]], \"labels\": [0]}", 415, "Content-Type", NULL),
    FIELD("a CSV file sent with curl -d, its line breaks dropped", "POST", "/v1/datasets", CSV,
          "5.1,3.5,1.4,0.2,04.9,3.0,1.4,0.2,04.7,3.2,1.3,0.2,04.6,3.1,1.5,0.2,0", 422, "/rows"),
    FIELD("an lstm layer without timesteps", "POST", "/v1/networks", J,
          "{\"inputs\": 4, \"layers\": [{\"type\": \"lstm\", \"units\": 8}, "
          "{\"type\": \"dense\", \"units\": 1}], \"loss\": \"mse\"}", 422, "/layers/0"),
    FIELD("timesteps negative", "POST", "/v1/networks", J,
          "{\"inputs\": 4, \"timesteps\": -1, \"layers\": [{\"type\": \"lstm\", "
          "\"units\": 8}, {\"type\": \"dense\", \"units\": 1}], \"loss\": \"mse\"}", 422,
          "/timesteps"),
    FIELD("timesteps a string", "POST", "/v1/networks", J,
          "{\"inputs\": 4, \"timesteps\": \"5\", \"layers\": [{\"type\": \"dense\", "
          "\"units\": 1}], \"loss\": \"mse\"}", 422, "/timesteps"),
    FIELD("a gru layer without timesteps in a job's network", "POST", "/v1/jobs", J,
          "{\"network\": {\"inputs\": 4, \"layers\": [{\"type\": \"gru\", \"units\": 8}, "
          "{\"type\": \"dense\", \"units\": 1}], \"loss\": \"mse\"}, \"dataset\": \"{DS}\"}",
          422, "/network/layers/0"),
    FIELD("batchnorm over a sequence", "POST", "/v1/networks", J,
          "{\"inputs\": 2, \"timesteps\": 3, \"layers\": [{\"type\": \"lstm\", \"units\": 4, "
          "\"return_sequences\": true}, {\"type\": \"batchnorm\"}, {\"type\": \"dense\", "
          "\"units\": 1}], \"loss\": \"mse\"}", 422, "/layers/1"),
    FIELD("a sequence row of fewer steps than the first", "POST", "/v1/datasets", J,
          "{\"name\": \"s\", \"features\": [[[1, 2], [3, 4]], [[1, 2]]], \"labels\": [0, 1]}",
          422, "/features/1"),
    FIELD("a sequence step of another width", "POST", "/v1/datasets", J,
          "{\"name\": \"s\", \"features\": [[[1, 2], [3, 4]], [[1, 2], [3]]], "
          "\"labels\": [0, 1]}", 422, "/features/1/1"),
    PARAM("?timesteps=0 on a CSV upload", "POST", "/v1/datasets?timesteps=0", CSV,
          "1,2,3,4,0\n", 400, "timesteps"),
    PARAM("?timesteps that does not divide a CSV row", "POST", "/v1/datasets?timesteps=3", CSV,
          "1,2,3,4,0\n5,6,7,8,1\n", 422, "timesteps"),
    FIELD("a sequence network on a dataset of plain rows", "POST", "/v1/jobs", J,
          "{\"network\": {\"inputs\": 4, \"timesteps\": 2, \"layers\": [{\"type\": "
          "\"gru\", \"units\": 4}, {\"type\": \"dense\", \"units\": 3, \"activation\": "
          "\"softmax\"}], \"loss\": \"categorical_crossentropy\"}, \"dataset\": \"{DS}\"}",
          422, "/dataset"),
    FIELD("a dataset id as a job's network", "POST", "/v1/jobs", J,
          "{\"network\": \"{DS}\", \"dataset\": \"{DS}\"}", 422, "/network"),
    ROW("a dataset id as a network's", "GET", "/v1/networks/{DS}", NULL, NULL, 404),
    FIELD("lr at the top of a job", "POST", "/v1/jobs", J,
          "{\"network\": \"{NET}\", \"dataset\": \"{DS}\", \"lr\": 0.1}", 422, "/lr"),
    FIELD("momentum without type sgd", "POST", "/v1/jobs", J,
          "{\"network\": \"{NET}\", \"dataset\": \"{DS}\", \"optimizer\": {\"momentum\": 0.9}}",
          422, "/optimizer/momentum"),
    FIELD("Keras's sparse loss", "POST", "/v1/networks", J,
          "{\"inputs\": 4, \"layers\": [{\"type\": \"dense\", \"units\": 3}], "
          "\"loss\": \"sparse_categorical_crossentropy\"}", 422, "/loss"),

    /* unknown ids */
    ROW("no such dataset", "GET", "/v1/datasets/ds_nope", NULL, NULL, 404),
    ROW("no such job, an id that is not UTF-8", "GET", "/v1/jobs/job_%C1%BF", NULL,
        NULL, 404),
    ROW("delete no such dataset", "DELETE", "/v1/datasets/ds_nope", NULL, NULL, 404),
    ROW("no such network", "GET", "/v1/networks/net_nope", NULL, NULL, 404),
    ROW("delete no such network", "DELETE", "/v1/networks/net_nope", NULL, NULL, 404),
    ROW("no such job", "GET", "/v1/jobs/job_nope", NULL, NULL, 404),
    ROW("cancel no such job", "POST", "/v1/jobs/job_nope/cancel", NULL, NULL, 404),
    ROW("metrics of no such job", "GET", "/v1/jobs/job_nope/metrics", NULL, NULL, 404),
    ROW("no such model", "GET", "/v1/models/mdl_nope", NULL, NULL, 404),
    ROW("delete no such model", "DELETE", "/v1/models/mdl_nope", NULL, NULL, 404),
    ROW("weights of no such model", "GET", "/v1/models/mdl_nope/weights", NULL, NULL, 404),
    ROW("predict with no such model", "POST", "/v1/models/mdl_nope/predict", J,
        "{\"inputs\": [[1, 2, 3, 4]]}", 404),

    /* datasets as JSON, field by field */
    FIELD("dataset not an object", "POST", "/v1/datasets", J, "[]", 422, ""),
    FIELD("a misspelt field of a dataset", "POST", "/v1/datasets", J,
          "{\"name\": \"a\", \"features\": [[1]], \"labels\": [0], \"colums\": [\"x\"]}", 422,
          "/colums"),
    FIELD("dataset without name", "POST", "/v1/datasets", J,
          "{\"features\": [[1]], \"labels\": [0]}", 422, "/name"),
    FIELD("dataset name a number", "POST", "/v1/datasets", J,
          "{\"name\": 5, \"features\": [[1]], \"labels\": [0]}", 422, "/name"),
    FIELD("dataset name empty", "POST", "/v1/datasets", J,
          "{\"name\": \"\", \"features\": [[1]], \"labels\": [0]}", 422, "/name"),
    FIELD("dataset name with a control character", "POST", "/v1/datasets", J,
          "{\"name\": \"a\\u0001b\", \"features\": [[1]], \"labels\": [0]}", 422, "/name"),
    FIELD("dataset without features", "POST", "/v1/datasets", J,
          "{\"name\": \"a\", \"labels\": [0]}", 422, "/features"),
    FIELD("features a number", "POST", "/v1/datasets", J,
          "{\"name\": \"a\", \"features\": 3, \"labels\": [0]}", 422, "/features"),
    FIELD("features without rows", "POST", "/v1/datasets", J,
          "{\"name\": \"a\", \"features\": [], \"labels\": []}", 422, "/features"),
    FIELD("a row that is not an array", "POST", "/v1/datasets", J,
          "{\"name\": \"a\", \"features\": [1, 2], \"labels\": [0, 1]}", 422, "/features/0"),
    FIELD("ragged features", "POST", "/v1/datasets", J,
          "{\"name\": \"a\", \"features\": [[1, 2], [3]], \"labels\": [0, 1]}", 422, "/features/1"),
    FIELD("a feature that is a string", "POST", "/v1/datasets", J,
          "{\"name\": \"a\", \"features\": [[1, \"x\"]], \"labels\": [0]}", 422, "/features/0/1"),
    FIELD("a feature past float32", "POST", "/v1/datasets", J,
          "{\"name\": \"a\", \"features\": [[1e39]], \"labels\": [0]}", 422, "/features/0/0"),
    FIELD("dataset without labels", "POST", "/v1/datasets", J,
          "{\"name\": \"a\", \"features\": [[1]]}", 422, "/labels"),
    FIELD("fewer labels than rows", "POST", "/v1/datasets", J,
          "{\"name\": \"a\", \"features\": [[1], [2]], \"labels\": [0]}", 422, "/labels"),
    FIELD("labels of two kinds", "POST", "/v1/datasets", J,
          "{\"name\": \"a\", \"features\": [[1], [2]], \"labels\": [0, \"b\"]}", 422, "/labels/1"),
    FIELD("null labels", "POST", "/v1/datasets", J,
          "{\"name\": \"a\", \"features\": [[1], [2]], \"labels\": [null, null]}", 422,
          "/labels/0"),
    FIELD("ragged one-hot labels", "POST", "/v1/datasets", J,
          "{\"name\": \"a\", \"features\": [[1], [2]], \"labels\": [[1, 0], [0]]}", 422,
          "/labels/1"),
    FIELD("an empty class name", "POST", "/v1/datasets", J,
          "{\"name\": \"a\", \"features\": [[1], [2]], \"labels\": [\"a\", \"\"]}", 422,
          "/labels/1"),
    FIELD("more column names than features", "POST", "/v1/datasets", J,
          "{\"name\": \"a\", \"features\": [[1]], \"labels\": [0], \"columns\": [\"a\", \"b\"]}",
          422, "/columns"),
    FIELD("a column name that is a number", "POST", "/v1/datasets", J,
          "{\"name\": \"a\", \"features\": [[1]], \"labels\": [0], \"columns\": [7]}", 422,
          "/columns/0"),

    /* datasets as CSV */
    FIELD("CSV ragged row", "POST", "/v1/datasets?name=t", CSV, "a,b,c\n1,2,0\n3,4\n", 422,
          "/rows/1"),
    FIELD("CSV non-numeric feature", "POST", "/v1/datasets?name=t", CSV, "a,b,c\n1,x,0\n3,4,1\n",
          422, "/rows/0/columns/1"),
    FIELD("CSV NaN", "POST", "/v1/datasets?name=t", CSV, "1,2,0\n3,nan,1\n", 422,
          "/rows/1/columns/1"),
    ROW("CSV empty", "POST", "/v1/datasets?name=t", CSV, "", 422),
    FIELD("CSV header without rows", "POST", "/v1/datasets?name=t", CSV, "a,b,c\n", 422, "/rows"),
    FIELD("CSV quote never closed", "POST", "/v1/datasets?name=t", CSV, "a,b,\"c\n1,2,3\n", 400,
          "/rows/0/columns/2"),
    PARAM("CSV ?label= names no column", "POST", "/v1/datasets?name=t&label=zz", CSV,
          "a,b,c\n1,2,0\n", 422, "label"),
    PARAM("CSV ?header= neither true nor false", "POST", "/v1/datasets?name=t&header=maybe", CSV,
          "1,2,0\n", 400, "header"),
    PARAM("CSV ?name= empty", "POST", "/v1/datasets?name=", CSV, "1,2,0\n", 400, "name"),

    /* network definitions */
    FIELD("network not an object", "POST", "/v1/networks", J, "[]", 422, ""),
    FIELD("network without its fields", "POST", "/v1/networks", J, "{}", 422, "/inputs", "/layers",
          "/loss"),
    FIELD("no inputs and no layers", "POST", "/v1/networks", J,
          "{\"inputs\": 0, \"layers\": [], \"loss\": \"mse\"}", 422, "/inputs", "/layers"),
    FIELD("units 0", "POST", "/v1/networks", J,
          "{\"inputs\": 4, \"layers\": [{\"type\": \"dense\", \"units\": 0}], \"loss\": \"mse\"}",
          422, "/layers/0/units"),
    FIELD("a layer that is not an object", "POST", "/v1/networks", J,
          "{\"inputs\": 4, \"layers\": [5], \"loss\": \"mse\"}", 422, "/layers/0"),
    FIELD("unknown layer type", "POST", "/v1/networks", J,
          "{\"inputs\": 4, \"layers\": [{\"type\": \"conv\"}], \"loss\": \"mse\"}", 422,
          "/layers/0/type"),
    FIELD("unknown activation and loss", "POST", "/v1/networks", J, "{\"inputs\": 4, \"layers\": "
          "[{\"type\": \"dense\", \"units\": 3, \"activation\": \"gelu\"}], \"loss\": \"hinge\"}",
          422, "/layers/0/activation", "/loss"),
    FIELD("a residual block that changes the width", "POST", "/v1/networks", J,
          "{\"inputs\": 4, \"layers\": [{\"type\": \"residual\", \"layers\": [{\"type\": "
          "\"dense\", \"units\": 3}]}], \"loss\": \"mse\"}", 422, "/layers/0"),
    FIELD("faults nested in residual blocks", "POST", "/v1/networks", J, "{\"inputs\": 4, "
          "\"layers\": [{\"type\": \"residual\", \"layers\": [{\"type\": \"dropout\", \"rate\": "
          "1.5}, {\"type\": \"residual\", \"layers\": [{\"type\": \"dense\"}]}]}], \"loss\": "
          "\"mse\"}", 422, "/layers/0/layers/0/rate", "/layers/0/layers/1/layers/0/units"),
    FIELD("unknown layer field and metric", "POST", "/v1/networks", J, "{\"inputs\": 4, "
          "\"layers\": [{\"type\": \"dense\", \"units\": 2, \"colour\": 1}], \"loss\": \"mse\", "
          "\"metrics\": [\"f1\"]}", 422, "/layers/0/colour", "/metrics/0"),
    FIELD("unknown top-level field", "POST", "/v1/networks", J, "{\"inputs\": 4, \"layers\": "
          "[{\"type\": \"dense\", \"units\": 2}], \"loss\": \"mse\", \"colour\": 1}", 422,
          "/colour"),
    FIELD("fractional units and a misplaced alpha", "POST", "/v1/networks", J, "{\"inputs\": 4, "
          "\"layers\": [{\"type\": \"dense\", \"units\": 2.5, \"activation\": \"relu\", \"alpha\": "
          "0.1}], \"loss\": \"mse\"}", 422, "/layers/0/units", "/layers/0/alpha"),
    FIELD("categorical_crossentropy with one output", "POST", "/v1/networks", J,
          "{\"inputs\": 4, \"layers\": [{\"type\": \"dense\", \"units\": 1}], \"loss\": "
          "\"categorical_crossentropy\"}", 422, "/loss"),
    PARAM("?dry_run= neither true nor false", "POST", "/v1/networks?dry_run=maybe", J,
          "{\"inputs\": 4, \"layers\": [{\"type\": \"dense\", \"units\": 2}], \"loss\": \"mse\"}",
          400, "dry_run"),

    /* jobs, field by field */
    FIELD("job not an object", "POST", "/v1/jobs", J, "[]", 422, ""),
    FIELD("job without network and dataset", "POST", "/v1/jobs", J, "{}", 422, "/network",
          "/dataset"),
    FIELD("job name a number", "POST", "/v1/jobs", J,
          "{\"network\": \"{NET}\", \"dataset\": \"{DS}\", \"name\": 5}", 422, "/name"),
    FIELD("network a number", "POST", "/v1/jobs", J, "{\"network\": 5, \"dataset\": \"{DS}\"}", 422,
          "/network"),
    FIELD("no such network", "POST", "/v1/jobs", J,
          "{\"network\": \"net_nope\", \"dataset\": \"{DS}\"}", 422, "/network"),
    FIELD("an inline network with a fault", "POST", "/v1/jobs", J, "{\"network\": {\"inputs\": 4, "
          "\"layers\": [{\"type\": \"dense\"}], \"loss\": \"mse\"}, \"dataset\": \"{DS}\"}", 422,
          "/network/layers/0/units"),
    FIELD("dataset a number", "POST", "/v1/jobs", J, "{\"network\": \"{NET}\", \"dataset\": 5}",
          422, "/dataset"),
    FIELD("no such dataset", "POST", "/v1/jobs", J,
          "{\"network\": \"{NET}\", \"dataset\": \"ds_nope\"}", 422, "/dataset"),
    FIELD("dataset width against network inputs", "POST", "/v1/jobs", J,
          "{\"network\": \"{NET}\", \"dataset\": \"{RUNDS}\"}", 422, "/dataset"),
    FIELD("class names for a regression", "POST", "/v1/jobs", J, "{\"network\": {\"inputs\": 4, "
          "\"layers\": [{\"type\": \"dense\", \"units\": 1}], \"loss\": \"mse\"}, \"dataset\": "
          "\"{DS}\"}", 422, "/dataset"),
    FIELD("validation a number", "POST", "/v1/jobs", J,
          "{\"network\": \"{NET}\", \"dataset\": \"{DS}\", \"validation\": 0.2}", 422,
          "/validation"),
    FIELD("validation split 1.5", "POST", "/v1/jobs", J,
          "{\"network\": \"{NET}\", \"dataset\": \"{DS}\", \"validation\": {\"split\": 1.5}}", 422,
          "/validation/split"),
    FIELD("validation split and dataset", "POST", "/v1/jobs", J, "{\"network\": \"{NET}\", "
          "\"dataset\": \"{DS}\", \"validation\": {\"split\": 0.2, \"dataset\": \"{DS}\"}}", 422,
          "/validation"),
    FIELD("no such validation dataset", "POST", "/v1/jobs", J, "{\"network\": \"{NET}\", "
          "\"dataset\": \"{DS}\", \"validation\": {\"dataset\": \"ds_nope\"}}", 422,
          "/validation/dataset"),
    FIELD("a validation dataset of another width", "POST", "/v1/jobs", J, "{\"network\": "
          "\"{NET}\", \"dataset\": \"{DS}\", \"validation\": {\"dataset\": \"{RUNDS}\"}}", 422,
          "/validation/dataset"),
    FIELD("epochs 0", "POST", "/v1/jobs", J,
          "{\"network\": \"{NET}\", \"dataset\": \"{DS}\", \"epochs\": 0}", 422, "/epochs"),
    FIELD("epochs 2.5", "POST", "/v1/jobs", J,
          "{\"network\": \"{NET}\", \"dataset\": \"{DS}\", \"epochs\": 2.5}", 422, "/epochs"),
    FIELD("batch_size 0", "POST", "/v1/jobs", J,
          "{\"network\": \"{NET}\", \"dataset\": \"{DS}\", \"batch_size\": 0}", 422, "/batch_size"),
    FIELD("seed -1", "POST", "/v1/jobs", J,
          "{\"network\": \"{NET}\", \"dataset\": \"{DS}\", \"seed\": -1}", 422, "/seed"),
    FIELD("shuffle a string", "POST", "/v1/jobs", J,
          "{\"network\": \"{NET}\", \"dataset\": \"{DS}\", \"shuffle\": \"yes\"}", 422, "/shuffle"),
    FIELD("standardize a number", "POST", "/v1/jobs", J,
          "{\"network\": \"{NET}\", \"dataset\": \"{DS}\", \"standardize\": 1}", 422,
          "/standardize"),
    FIELD("clip_norm -1", "POST", "/v1/jobs", J,
          "{\"network\": \"{NET}\", \"dataset\": \"{DS}\", \"clip_norm\": -1}", 422, "/clip_norm"),
    FIELD("optimizer a string", "POST", "/v1/jobs", J,
          "{\"network\": \"{NET}\", \"dataset\": \"{DS}\", \"optimizer\": \"adam\"}", 422,
          "/optimizer"),
    FIELD("unknown optimizer", "POST", "/v1/jobs", J,
          "{\"network\": \"{NET}\", \"dataset\": \"{DS}\", \"optimizer\": {\"type\": \"rmsprop\"}}",
          422, "/optimizer/type"),
    FIELD("learning_rate -1", "POST", "/v1/jobs", J,
          "{\"network\": \"{NET}\", \"dataset\": \"{DS}\", \"optimizer\": {\"learning_rate\": -1}}",
          422, "/optimizer/learning_rate"),
    FIELD("beta1 1", "POST", "/v1/jobs", J,
          "{\"network\": \"{NET}\", \"dataset\": \"{DS}\", \"optimizer\": {\"beta1\": 1}}", 422,
          "/optimizer/beta1"),
    FIELD("nesterov without momentum", "POST", "/v1/jobs", J, "{\"network\": \"{NET}\", "
          "\"dataset\": \"{DS}\", \"optimizer\": {\"type\": \"sgd\", \"nesterov\": true}}", 422,
          "/optimizer/nesterov"),
    FIELD("unknown optimizer field", "POST", "/v1/jobs", J,
          "{\"network\": \"{NET}\", \"dataset\": \"{DS}\", \"optimizer\": {\"lr\": 0.1}}", 422,
          "/optimizer/lr"),
    FIELD("momentum given to adam", "POST", "/v1/jobs", J, "{\"network\": \"{NET}\", \"dataset\": "
          "\"{DS}\", \"optimizer\": {\"type\": \"adam\", \"momentum\": 0.9}}", 422,
          "/optimizer/momentum"),
    FIELD("beta1 given to sgd", "POST", "/v1/jobs", J, "{\"network\": \"{NET}\", \"dataset\": "
          "\"{DS}\", \"optimizer\": {\"type\": \"sgd\", \"beta1\": 0.5}}", 422, "/optimizer/beta1"),
    FIELD("early_stopping a number", "POST", "/v1/jobs", J,
          "{\"network\": \"{NET}\", \"dataset\": \"{DS}\", \"early_stopping\": 5}", 422,
          "/early_stopping"),
    FIELD("unknown monitor", "POST", "/v1/jobs", J, "{\"network\": \"{NET}\", \"dataset\": "
          "\"{DS}\", \"early_stopping\": {\"monitor\": \"f1\"}}", 422, "/early_stopping/monitor"),
    FIELD("val_loss without validation", "POST", "/v1/jobs", J, "{\"network\": \"{NET}\", "
          "\"dataset\": \"{DS}\", \"early_stopping\": {\"monitor\": \"val_loss\"}}", 422,
          "/early_stopping/monitor"),
    FIELD("patience -1", "POST", "/v1/jobs", J,
          "{\"network\": \"{NET}\", \"dataset\": \"{DS}\", \"early_stopping\": {\"patience\": -1}}",
          422, "/early_stopping/patience"),
    FIELD("restore_best a number", "POST", "/v1/jobs", J, "{\"network\": \"{NET}\", \"dataset\": "
          "\"{DS}\", \"early_stopping\": {\"restore_best\": 1}}", 422,
          "/early_stopping/restore_best"),
    FIELD("unknown job field", "POST", "/v1/jobs", J,
          "{\"network\": \"{NET}\", \"dataset\": \"{DS}\", \"colour\": 1}", 422, "/colour"),
    FIELD("unknown job field with / and ~", "POST", "/v1/jobs", J,
          "{\"network\": \"{NET}\", \"dataset\": \"{DS}\", \"a/b~c\": 1}", 422, "/a~1b~0c"),
    FIELD("three faults at once", "POST", "/v1/jobs", J, "{\"network\": \"{NET}\", \"dataset\": "
          "\"{DS}\", \"epochs\": 0, \"batch_size\": 0, \"optimizer\": {\"type\": \"x\"}}", 422,
          "/epochs", "/batch_size", "/optimizer/type"),

    /* predictions */
    FIELD("predict a row too short", "POST", "/v1/models/{MODEL}/predict", J,
          "{\"inputs\": [[1, 2, 3]]}", 422, "/inputs/0"),
    FIELD("predict a string", "POST", "/v1/models/{MODEL}/predict", J,
          "{\"inputs\": [[1, 2, 3, \"x\"]]}", 422, "/inputs/0/3"),
    FIELD("predict a null", "POST", "/v1/models/{MODEL}/predict", J,
          "{\"inputs\": [[1, 2, 3, 4], [1, 2, null, 4]]}", 422, "/inputs/1/2"),
    FIELD("predict no rows", "POST", "/v1/models/{MODEL}/predict", J, "{\"inputs\": []}", 422,
          "/inputs"),
    FIELD("predict without inputs", "POST", "/v1/models/{MODEL}/predict", J, "{}", 422, "/inputs"),
    FIELD("predict a flat row", "POST", "/v1/models/{MODEL}/predict", J,
          "{\"inputs\": [1, 2, 3, 4]}", 422, "/inputs/0"),
    FIELD("predict instances too long", "POST", "/v1/models/{MODEL}/predict", J,
          "{\"instances\": [[1, 2, 3, 4, 5]]}", 422, "/instances/0"),
    FIELD("predict a value past float32", "POST", "/v1/models/{MODEL}/predict", J,
          "{\"inputs\": [[1e39, 1, 2, 3]]}", 422, "/inputs/0/0"),
    ROW("predict a number JSON has not", "POST", "/v1/models/{MODEL}/predict", J,
        "{\"inputs\": [[.5, 1, 2, 3]]}", 400),
    FIELD("predict a CSV row too short", "POST", "/v1/models/{MODEL}/predict", CSV, "1,2,3\n", 422,
          "/rows/0"),
    FIELD("predict a CSV non-number", "POST", "/v1/models/{MODEL}/predict", CSV,
          "1,2,3,4\n5,6,x,8\n", 422, "/rows/1/columns/2"),
    FIELD("predict an empty CSV", "POST", "/v1/models/{MODEL}/predict", CSV, "", 422, "/rows"),

    /* conflicts */
    ROW("cancel a job that ended", "POST", "/v1/jobs/{JOB}/cancel", NULL, NULL, 409),
    ROW("delete a dataset a running job uses", "DELETE", "/v1/datasets/{RUNDS}", NULL, NULL, 409),

    /* query parameters */
    PARAM("datasets limit=0", "GET", "/v1/datasets?limit=0", NULL, NULL, 400, "limit"),
    PARAM("datasets limit=abc", "GET", "/v1/datasets?limit=abc", NULL, NULL, 400, "limit"),
    PARAM("datasets limit=1001", "GET", "/v1/datasets?limit=1001", NULL, NULL, 400, "limit"),
    PARAM("datasets after no such id", "GET", "/v1/datasets?after=ds_nope", NULL, NULL, 400,
          "after"),
    PARAM("networks limit=0", "GET", "/v1/networks?limit=0", NULL, NULL, 400, "limit"),
    PARAM("networks limit=abc", "GET", "/v1/networks?limit=abc", NULL, NULL, 400, "limit"),
    PARAM("networks after no such id", "GET", "/v1/networks?after=net_nope", NULL, NULL, 400,
          "after"),
    PARAM("jobs limit=0", "GET", "/v1/jobs?limit=0", NULL, NULL, 400, "limit"),
    PARAM("jobs limit=abc", "GET", "/v1/jobs?limit=abc", NULL, NULL, 400, "limit"),
    PARAM("jobs limit=+5", "GET", "/v1/jobs?limit=%2B5", NULL, NULL, 400, "limit"),
    PARAM("networks limit=' 5'", "GET", "/v1/networks?limit=%205", NULL, NULL, 400, "limit"),
    PARAM("jobs state=bogus", "GET", "/v1/jobs?state=bogus", NULL, NULL, 400, "state"),
    PARAM("jobs after no such id", "GET", "/v1/jobs?after=job_nope", NULL, NULL, 400, "after"),
    PARAM("metrics format=xml", "GET", "/v1/jobs/{JOB}/metrics?format=xml", NULL, NULL, 400,
          "format"),
    PARAM("metrics follow=maybe", "GET", "/v1/jobs/{RUNJOB}/metrics?follow=maybe", NULL, NULL,
          400, "follow"),
    PARAM("metrics followed as CSV", "GET", "/v1/jobs/{RUNJOB}/metrics?follow=true&format=csv",
          NULL, NULL, 400, "format"),
    ROW("events of no such job", "GET", "/v1/jobs/job_nope/events", NULL, NULL, 404),
    ALLOW("POST on events", "POST", "/v1/jobs/{JOB}/events", J, "{}", "GET"),
    PARAM("models limit=0", "GET", "/v1/models?limit=0", NULL, NULL, 400, "limit"),
    PARAM("models limit=abc", "GET", "/v1/models?limit=abc", NULL, NULL, 400, "limit"),
    PARAM("models after no such id", "GET", "/v1/models?after=mdl_nope", NULL, NULL, 400, "after"),

    /* who may ask: tokens (401 with a Bearer challenge, 403 for a read token that
     * writes), other sites (403), other host names (421) */
    WHO("no token", "GET", "/v1/jobs", NULL, NULL, 401, "Authorization", "Authorization:"),
    WHO("no token, a job's stream", "GET", "/v1/jobs/{RUNJOB}/events", NULL, NULL, 401,
        "Authorization", "Authorization:"),
    WHO("a token the service does not know", "GET", "/v1/datasets", NULL, NULL, 401,
        "Authorization", "Authorization: Bearer e2e-stolen-0123456789abcdefg"),
    WHO("the write token with a character more", "GET", "/v1/models", NULL, NULL, 401,
        "Authorization", "Authorization: Bearer " WRITE_TOKEN "x"),
    WHO("Basic, not Bearer", "GET", "/v1/networks", NULL, NULL, 401, "Authorization",
        "Authorization: Basic ZTJlOnNlY3JldA=="),
    WHO("Bearer and no token", "GET", "/v1/jobs/{JOB}", NULL, NULL, 401, "Authorization",
        "Authorization: Bearer"),
    WHO("the token as a query parameter", "GET", "/v1/jobs?access_token={READ}", NULL, NULL,
        401, "Authorization", "Authorization:"),
    WHO("/metrics without a token (--metrics-token)", "GET", "/metrics", NULL, NULL, 401,
        "Authorization", "Authorization:"),
    WHO("a read token queues a job", "POST", "/v1/jobs", J,
        "{\"network\": \"{NET}\", \"dataset\": \"{DS}\"}", 403, "Authorization",
        "Authorization: Bearer {READ}"),
    WHO("a read token cancels the running job", "POST", "/v1/jobs/{RUNJOB}/cancel", NULL, NULL,
        403, "Authorization", "Authorization: Bearer {READ}"),
    WHO("a read token deletes a dataset", "DELETE", "/v1/datasets/{DS}", NULL, NULL, 403,
        "Authorization", "Authorization: Bearer {READ}"),
    WHO("a read token uploads a CSV", "POST", "/v1/datasets?name=t", CSV, "a,b\n1,0\n", 403,
        "Authorization", "Authorization: Bearer {READ}"),
    WHO("a form on another site cancels the running job", "POST", "/v1/jobs/{RUNJOB}/cancel",
        "application/x-www-form-urlencoded", "x=1", 403, "Origin",
        "Origin: https://evil.example", "Sec-Fetch-Site: cross-site"),
    WHO("sendBeacon from another site queues a job", "POST", "/v1/jobs", "text/plain",
        "{\"network\": \"{NET}\", \"dataset\": \"{DS}\"}", 403, "Origin",
        "Origin: https://evil.example"),
    WHO("a no-cors fetch from another site deletes a model", "DELETE", "/v1/models/{MODEL}",
        NULL, NULL, 403, "Origin", "Origin: http://evil.example:8080"),
    WHO("a sandboxed page (Origin: null) deletes a network", "DELETE", "/v1/networks/{NET}",
        NULL, NULL, 403, "Origin", "Origin: null"),
    WHO("this host on another port", "POST", "/v1/jobs/{RUNJOB}/cancel", NULL, NULL, 403,
        "Origin", "Origin: http://127.0.0.1:1"),
    WHO("cross-site without an Origin", "POST", "/v1/networks", J, "{}", 403, "Sec-Fetch-Site",
        "Sec-Fetch-Site: cross-site"),
    WHO("a preflight from an origin not on --cors-origin", "OPTIONS", "/v1/jobs", NULL, NULL,
        403, "Origin", "Origin: https://evil.example", "Access-Control-Request-Method: POST"),
    WHO("a rebound name", "GET", "/v1/jobs", NULL, NULL, 421, "Host", "Host: evil.example:8080"),
    WHO("a rebound name cancels", "POST", "/v1/jobs/{RUNJOB}/cancel", NULL, NULL, 421, "Host",
        "Host: evil.example"),
    WHO("a name that starts with an allowed one", "GET", "/v1/models/{MODEL}/weights", NULL,
        NULL, 421, "Host", "Host: 127.0.0.1.evil.example"),
    WHO("a rebound name, the dashboard", "GET", "/", NULL, NULL, 421, "Host",
        "Host: localhost.evil.example"),
};
#define NBAD ((int)(sizeof bad / sizeof bad[0]))

/* s with the fixture's ids in place of {DS}, {NET}, ... (new). */
static char *subst(const char *s)
{
    static const char *const keys[] = {"{DS}", "{NET}", "{JOB}", "{MODEL}", "{RUNDS}",
                                       "{RUNJOB}", "{READ}"};
    const char *vals[] = {ds, net, done_job, model, run_ds, run_job, READ_TOKEN};
    const size_t nk = sizeof keys / sizeof *keys;
    size_t cap = strlen(s) * 4 + 256, n = 0;
    char *out = malloc(cap);
    ck_assert_ptr_nonnull(out);
    while (*s) {
        size_t k = 0;
        while (k < nk && strncmp(s, keys[k], strlen(keys[k])) != 0)
            k++;
        const char *piece = k < nk ? vals[k] : s;
        size_t len = k < nk ? strlen(vals[k]) : 1;
        ck_assert(n + len + 1 < cap);
        memcpy(out + n, piece, len);
        n += len;
        s += k < nk ? strlen(keys[k]) : 1;
    }
    out[n] = 0;
    return out;
}

/* Why an answer to row b is wrong, into why (empty when it is right): the status, the
 * content type, RFC 9457's members with the status as sent, the request_id of the
 * answer's X-Request-Id, each errors[] entry a detail with one pointer, parameter or
 * header, the Allow header of a 405, a Bearer challenge with a 401, the expected pointers,
 * parameter and header. Asserts nothing, so that the caller frees everything first. */
static void judge(const struct bad *b, const struct http_reply *h, char *why, size_t cap)
{
    *why = 0;
    if (h->status != b->status) {
        snprintf(why, cap, "answered %ld, not %d: %.600s", h->status, b->status, h->body);
        return;
    }
    if (strcmp(h->ctype, "application/problem+json") != 0) {
        snprintf(why, cap, "Content-Type '%s', not application/problem+json", h->ctype);
        return;
    }
    if (b->raw && (strcasecmp(h->connection, "close") != 0 || !h->closed)) {
        snprintf(why, cap, "the connection stays open (Connection: '%s')", h->connection);
        return;
    }
    json_t *p = json_loadb(h->body, h->len, 0, NULL), *errors = json_object_get(p, "errors");
    const char *detail = json_string_value(json_object_get(p, "detail"));
    if (!json_is_object(p))
        snprintf(why, cap, "the body is not a JSON object: %.300s", h->body);
    else if (!json_is_string(json_object_get(p, "type")) ||
             !json_is_string(json_object_get(p, "title")) || !detail || !*detail)
        snprintf(why, cap, "type, title or detail missing: %.600s", h->body);
    else if (json_integer_value(json_object_get(p, "status")) != h->status)
        snprintf(why, cap, "the status member is not %ld: %.600s", h->status, h->body);
    else if (!*h->request_id || !json_is_string(json_object_get(p, "request_id")) ||
             strcmp(h->request_id, json_string_value(json_object_get(p, "request_id"))))
        snprintf(why, cap, "request_id is not the X-Request-Id '%s': %.600s", h->request_id,
                 h->body);
    else if (errors && !json_is_array(errors))
        snprintf(why, cap, "errors is not an array: %.600s", h->body);
    else if (b->allow && strcmp(h->allow, b->allow) != 0)
        snprintf(why, cap, "Allow '%s', not '%s'", h->allow, b->allow);
    char www[200];
    if (!*why && b->status == 401 &&
        strncmp(su_header(h, "WWW-Authenticate", www, sizeof www), "Bearer realm=", 13) != 0)
        snprintf(why, cap, "a 401 with WWW-Authenticate '%s', not a Bearer challenge", www);
    size_t i;
    json_t *e;
    json_array_foreach(errors, i, e) {
        const char *ptr = json_string_value(json_object_get(e, "pointer"));
        const char *par = json_string_value(json_object_get(e, "parameter"));
        const char *hdr = json_string_value(json_object_get(e, "header"));
        if (*why)
            break;
        if (!json_is_string(json_object_get(e, "detail")) || !!ptr + !!par + !!hdr != 1)
            snprintf(why, cap, "errors/%zu needs a detail and one of pointer, parameter and "
                     "header: %.600s", i, h->body);
        else if (ptr && *ptr && *ptr != '/')
            snprintf(why, cap, "errors/%zu: '%s' is not a JSON pointer", i, ptr);
    }
    for (int k = 0; k < 3 && b->pointer[k] && !*why; k++) {
        int found = 0;
        json_array_foreach(errors, i, e) {
            const char *v = json_string_value(json_object_get(e, "pointer"));
            found |= v && !strcmp(v, b->pointer[k]);
        }
        if (!found)
            snprintf(why, cap, "no errors[].pointer \"%s\" in %.600s", b->pointer[k], h->body);
    }
    if (b->parameter && !*why) {
        int found = 0;
        json_array_foreach(errors, i, e) {
            const char *v = json_string_value(json_object_get(e, "parameter"));
            found |= v && !strcmp(v, b->parameter);
        }
        if (!found)
            snprintf(why, cap, "no errors[].parameter \"%s\" in %.600s", b->parameter, h->body);
    }
    if (b->header && !*why) {
        int found = 0;
        json_array_foreach(errors, i, e) {
            const char *v = json_string_value(json_object_get(e, "header"));
            found |= v && !strcmp(v, b->header);
        }
        if (!found)
            snprintf(why, cap, "no errors[].header \"%s\" in %.600s", b->header, h->body);
    }
    json_decref(p);
}

START_TEST(bad_request)
{
    ck_assert_msg(!*fixture_error, "fixture: %s", fixture_error);
    const struct bad *b = &bad[_i];
    char *path = b->raw ? NULL : subst(b->path), *body = NULL, why[1024];
    size_t len = 0;
    if (b->body && (!strcmp(b->body, BIG) || !strcmp(b->body, BIGCSV) ||
                    !strcmp(b->body, DENSE))) {
        len = !strcmp(b->body, BIG) ? 70000 : !strcmp(b->body, DENSE) ? 60000 : 5000;
        body = malloc(len + 1);
        ck_assert_ptr_nonnull(body);
        for (size_t i = 0; i < len; i++)   /* 1,2,3,4 rows; {},{},... */
            body[i] = !strcmp(b->body, BIGCSV) ? "1,2,3,4\n"[i % 8] : "{},"[(i + 2) % 3];
        if (!strcmp(b->body, BIG)) {   /* {"name": "xxx..."} */
            memset(body, 'x', len);
            memcpy(body, "{\"name\": \"", 10);
            memcpy(body + len - 2, "\"}", 2);
        } else if (!strcmp(b->body, DENSE)) {   /* [{},{},...,{}] */
            body[0] = '[';
            memcpy(body + len - 3, "{}]", 3);
        }
        body[len] = 0;
    } else if (b->body) {
        body = subst(b->body);
        len = strlen(body);
    }
    char *send[4] = {NULL};
    for (int k = 0; k < 3 && b->send[k]; k++)
        send[k] = subst(b->send[k]);
    struct http_reply h = b->raw ? su_raw(&srv, b->raw, strlen(b->raw))
                                 : su_http_h(&srv, b->method, path, body, len,
                                             body ? b->ctype : NULL, (const char *const *)send);
    for (int k = 0; k < 3; k++)
        free(send[k]);
    long health = http_status(&srv, "GET", "/healthz");
    judge(b, &h, why, sizeof why);
    char req[300];
    if (b->raw)
        snprintf(req, sizeof req, "%.*s", (int)strcspn(b->raw, "\r"), b->raw);
    else
        snprintf(req, sizeof req, "%s %.200s", b->method, path);
    su_http_free(&h);
    free(path);
    free(body);
    ck_assert_msg(health == 200, "%s (%s): /healthz answered %ld after it", b->what, req,
                  health);
    ck_assert_msg(!*why, "%s (%s): %s", b->what, req, why);
}
END_TEST

/* The table covers what it says it does, so it cannot shrink unnoticed. */
START_TEST(table_is_whole)
{
    int by[600] = {0}, with_field = 0;
    for (int i = 0; i < NBAD; i++) {
        ck_assert(bad[i].status >= 400 && bad[i].status < 600);
        by[bad[i].status]++;
        with_field += bad[i].pointer[0] || bad[i].parameter;
        ck_assert_msg(bad[i].status != 405 || bad[i].allow, "%s: a 405 row names no Allow",
                      bad[i].what);
    }
    ck_assert_int_ge(NBAD, 40);
    static const int statuses[] = {400, 401, 403, 404, 405, 409, 413, 415, 421, 422, 501};
    for (size_t k = 0; k < sizeof statuses / sizeof *statuses; k++)
        ck_assert_msg(by[statuses[k]] > 0, "no row expects %d", statuses[k]);
    ck_assert_int_ge(with_field, 40);
}
END_TEST

/* ---- the examples of api/examples/ ---- */

/* Sends every example to the route it is for, so that the files stay true: dataset_X.json
 * and dataset_X.csv are uploaded, network_X.json defined, job_X.json queued with the ids
 * of dataset_X.json and network_X.json in place of the ids it shows (ids cannot be known
 * before), and predict_X.json and predict_X.csv sent to the model job_X made. A data set
 * kept under its own name (X.csv, scikit-learn's copies) is uploaded as dataset_X.csv
 * is; README.md says where each comes from. */
START_TEST(examples_are_accepted)
{
    struct server s = {0};
    static const char *const args[] = {"--threads", "1", NULL};
    start(&s, args);
    DIR *d = opendir("api/examples");
    ck_assert_msg(d != NULL, "api/examples/ not found (run from the top of the repository)");
    char names[64][256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 64)
        if (e->d_name[0] != '.' && strcmp(e->d_name, "README.md") != 0)
            snprintf(names[n++], sizeof names[0], "%.200s", e->d_name);
    closedir(d);
    ck_assert_int_ge(n, 6);
    char ids[64][32] = {{0}}, why[512] = "", path[320], file[320];
    int used[64] = {0};
    /* in rounds, so that each kind finds what it needs: datasets and networks, jobs,
     * predictions */
    static const char *const rounds[3][2] = {{"dataset_", "network_"}, {"job_", NULL},
                                            {"predict_", NULL}};
    for (int r = 0; r < 3; r++)
        for (int i = 0; i < n; i++) {
            const char *nm = names[i], *kind = NULL, *dot = strrchr(nm, '.');
            size_t skip = 0;   /* the kind's prefix, before the stem */
            int named = 0;     /* the name starts with a kind */
            for (int rr = 0; rr < 3; rr++)
                for (int k = 0; k < 2; k++)
                    named |= rounds[rr][k] && !strncmp(nm, rounds[rr][k], strlen(rounds[rr][k]));
            for (int k = 0; k < 2; k++)
                if (rounds[r][k] && !strncmp(nm, rounds[r][k], strlen(rounds[r][k])))
                    kind = rounds[r][k], skip = strlen(kind);
            if (r == 0 && !named && dot && !strcmp(dot, ".csv"))
                kind = "dataset_";   /* a data set under its own name */
            if (!kind)
                continue;
            ck_assert_msg(dot && (!strcmp(dot, ".json") || !strcmp(dot, ".csv")), "%s: an "
                          "example is .json or .csv", nm);
            int csv = !strcmp(dot, ".csv");
            char stem[64];   /* "iris" of "job_iris.json" and of "iris.csv" */
            snprintf(stem, sizeof stem, "%.*s", (int)(dot - nm - (int)skip), nm + skip);
            size_t len;
            snprintf(file, sizeof file, "api/examples/%.200s", nm);
            char *body = tu_slurp(file, &len);
            used[i] = 1;
            if (!strcmp(kind, "dataset_")) {
                snprintf(path, sizeof path, "/v1/datasets%s%s", csv ? "?name=" : "",
                         csv ? stem : "");
                ck_assert_msg(post_for_id(&s, path, body, len, csv ? "text/csv" : J, 201, ids[i],
                                          why, sizeof why) == 0, "%s: %s", nm, why);
                snprintf(path, sizeof path, "/v1/datasets/%.31s", ids[i]);
                struct http_reply h = su_http(&s, "GET", path, NULL, 0, NULL);
                json_t *j = su_http_json(&h);
                ck_assert_int_gt(json_integer_value(json_object_get(j, "rows")), 0);
                json_decref(j);
                su_http_free(&h);
            } else if (!strcmp(kind, "network_")) {
                ck_assert_msg(!csv, "%s: a network is JSON", nm);
                ck_assert_msg(post_for_id(&s, "/v1/networks", body, len, J, 201, ids[i], why,
                                          sizeof why) == 0, "%s: %s", nm, why);
            } else if (!strcmp(kind, "job_")) {
                ck_assert_msg(!csv, "%s: a job is JSON", nm);
                char want[2][300];
                snprintf(want[0], sizeof want[0], "dataset_%s.json", stem);
                snprintf(want[1], sizeof want[1], "network_%s.json", stem);
                const char *dsid = NULL, *netid = NULL;
                for (int k = 0; k < n; k++) {
                    dsid = !strcmp(names[k], want[0]) ? ids[k] : dsid;
                    netid = !strcmp(names[k], want[1]) ? ids[k] : netid;
                }
                json_error_t err;
                json_t *job = json_loadb(body, len, 0, &err);
                ck_assert_msg(job != NULL, "%s is not JSON: %s", nm, err.text);
                if (json_is_string(json_object_get(job, "dataset"))) {
                    ck_assert_msg(dsid && *dsid, "%s needs %s", nm, want[0]);
                    json_object_set_new(job, "dataset", json_string(dsid));
                }
                if (json_is_string(json_object_get(job, "network"))) {
                    ck_assert_msg(netid && *netid, "%s needs %s", nm, want[1]);
                    json_object_set_new(job, "network", json_string(netid));
                }
                char *sent = json_dumps(job, JSON_COMPACT);
                struct http_reply h = su_http(&s, "POST", "/v1/jobs", sent, strlen(sent), J);
                ck_assert_msg(h.status == 202, "%s: %ld %s", nm, h.status, h.body);
                json_t *got = su_http_json(&h);
                /* every field of the example is taken as it was sent */
                const char *key;
                json_t *v;
                json_object_foreach(job, key, v) {
                    json_t *back = json_object_get(got, key);
                    if (!strcmp(key, "network"))
                        continue;   /* an id comes back as the definition */
                    if (!strcmp(key, "optimizer") || !strcmp(key, "early_stopping")) {
                        const char *k2;   /* defaults are added; what was sent stays */
                        json_t *v2;
                        json_object_foreach(v, k2, v2)
                            ck_assert_msg(json_equal(v2, json_object_get(back, k2)), "%s: "
                                          "%s/%s came back otherwise", nm, key, k2);
                        continue;
                    }
                    ck_assert_msg(json_equal(v, back), "%s: %s came back otherwise", nm, key);
                }
                snprintf(ids[i], sizeof ids[i], "%s",
                         json_string_value(json_object_get(got, "id")));
                json_decref(got);
                json_decref(job);
                free(sent);
                su_http_free(&h);
                char mdl[32] = "";
                const char *st = job_wait(&s, ids[i], "succeeded", 120, mdl);
                ck_assert_msg(!strcmp(st, "succeeded") && *mdl, "%s: the job ended '%s'", nm, st);
                snprintf(ids[i], sizeof ids[i], "%s", mdl);   /* predict_X needs the model */
            } else {
                char want[300];
                snprintf(want, sizeof want, "job_%s.json", stem);
                const char *mdl = NULL;
                for (int k = 0; k < n; k++)
                    mdl = !strcmp(names[k], want) ? ids[k] : mdl;
                ck_assert_msg(mdl && *mdl, "%s needs %s", nm, want);
                snprintf(path, sizeof path, "/v1/models/%.31s/predict", mdl);
                struct http_reply h = su_http(&s, "POST", path, body, len, csv ? "text/csv" : J);
                ck_assert_msg(h.status == 200, "%s: %ld %s", nm, h.status, h.body);
                json_t *got = su_http_json(&h);
                json_t *preds = json_object_get(got, "predictions");
                ck_assert_int_gt(json_array_size(preds), 0);
                ck_assert_int_eq(json_array_size(preds),
                                 json_array_size(json_object_get(got, "outputs")));
                if (!strcmp(stem, "iris")) {   /* a setosa is the easy one */
                    ck_assert_int_eq(json_array_size(preds), 2);
                    ck_assert_str_eq(json_string_value(json_array_get(preds, 0)), "setosa");
                    ck_assert(json_is_string(json_array_get(preds, 1)));
                }
                json_decref(got);
                su_http_free(&h);
            }
            free(body);
        }
    for (int i = 0; i < n; i++)
        ck_assert_msg(used[i], "api/examples/%s: no test sends it (name it dataset_, network_, "
                      "job_ or predict_, or make it a data set X.csv)", names[i]);
    stop(&s);
}
END_TEST

/* ---- the routes of api/openapi.yaml ---- */

#define MAX_OPS 96

/* "METHOD /path" for each operation of api/openapi.yaml (crudely: a path is a line
 * "  /...:", its operations the lines "    get:" ... under it). Returns how many. */
static int openapi_ops(char ops[][160])
{
    static const char *const methods[] = {"get", "put", "post", "delete", "options", "head",
                                          "patch", "trace"};
    char *y = tu_slurp("api/openapi.yaml", NULL);
    char path[128] = "";
    int n = 0;
    for (char *line = strtok(y, "\n"); line; line = strtok(NULL, "\n")) {
        size_t len = strlen(line);
        if (!strncmp(line, "  /", 3) && len > 3 && line[len - 1] == ':') {
            snprintf(path, sizeof path, "%.*s", (int)(len - 3), line + 2);
            continue;
        }
        if (line[0] != ' ' && line[0] != '#')   /* a top-level key ends paths: */
            *path = 0;
        if (!*path || strncmp(line, "    ", 4) != 0 || line[4] == ' ')
            continue;
        for (size_t m = 0; m < sizeof methods / sizeof *methods; m++) {
            size_t ml = strlen(methods[m]);
            if (!strncmp(line + 4, methods[m], ml) && line[4 + ml] == ':' && n < MAX_OPS) {
                char up[16];
                for (size_t c = 0; c <= ml; c++)
                    up[c] = (char)(methods[m][c] >= 'a' ? methods[m][c] - 32 : methods[m][c]);
                snprintf(ops[n++], 160, "%s %s", up, path);
            }
        }
    }
    free(y);
    return n;
}

/* "METHOD /path" for each route of server/api/routes.c, ":id" written "{id}". */
static int table_routes(char ops[][160])
{
    char *src = tu_slurp("server/api/routes.c", NULL);
    int n = 0;
    for (char *line = strtok(src, "\n"); line; line = strtok(NULL, "\n")) {
        char m[16], p[128], out[140];
        if (sscanf(line, " {\"%15[A-Z]\", \"%127[^\"]\"", m, p) != 2 || n == MAX_OPS)
            continue;
        size_t k = 0;
        for (const char *c = p; *c && k + 4 < sizeof out; c++) {
            if (*c == ':' && c > p && c[-1] == '/') {   /* ":id" -> "{id}", ":name:predict"
                                                       -> "{name}:predict" */
                out[k++] = '{';
                while (c[1] && c[1] != '/' && c[1] != ':' && k + 2 < sizeof out)
                    out[k++] = *++c;
                out[k++] = '}';
            } else {
                out[k++] = *c;
            }
        }
        out[k] = 0;
        snprintf(ops[n++], 160, "%s %s", m, out);
    }
    free(src);
    return n;
}

static int listed(char ops[][160], int n, const char *op)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(ops[i], op))
            return 1;
    return 0;
}

/* Every route of the service is in the contract, and the contract has no route the
 * service lacks. */
START_TEST(openapi_lists_every_route)
{
    char spec[MAX_OPS][160], table[MAX_OPS][160];
    int ns = openapi_ops(spec), nt = table_routes(table);
    ck_assert_int_ge(nt, 15);
    for (int i = 0; i < nt; i++)
        ck_assert_msg(listed(spec, ns, table[i]), "server/api/routes.c has %s; api/openapi.yaml "
                      "does not", table[i]);
    for (int i = 0; i < ns; i++)
        ck_assert_msg(listed(table, nt, spec[i]), "api/openapi.yaml has %s; server/api/routes.c "
                      "does not", spec[i]);
}
END_TEST

/* Each operation of api/openapi.yaml, sent without a body to the path with the ids of
 * real resources, gets an answer that is neither 404 nor 405. Deletions go last. */
START_TEST(openapi_routes_are_served)
{
    struct server s = {0};
    static const char *const args[] = {"--threads", "1", NULL};
    start(&s, args);
    char *iris = tu_slurp("api/examples/dataset_iris.json", NULL);
    char *netj = tu_slurp("api/examples/network_iris.json", NULL);
    char dsid[32], netid[32], jobid[32], mdl[32] = "", why[512], body[256];
    ck_assert_msg(post_for_id(&s, "/v1/datasets", iris, strlen(iris), J, 201, dsid, why,
                              sizeof why) == 0, "%s", why);
    ck_assert_msg(post_for_id(&s, "/v1/networks", netj, strlen(netj), J, 201, netid, why,
                              sizeof why) == 0, "%s", why);
    snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\", \"epochs\": 2, "
             "\"model_name\": \"e2e\"}", netid, dsid);
    ck_assert_msg(post_for_id(&s, "/v1/jobs", body, strlen(body), J, 202, jobid, why,
                              sizeof why) == 0, "%s", why);
    ck_assert_str_eq(job_wait(&s, jobid, "succeeded", 60, mdl), "succeeded");
    free(iris);
    free(netj);
    /* the model's name and an alias, for the routes of {name} and {alias} */
    static const char to_v1[] = "{\"version\": 1}";
    struct http_reply a = su_http(&s, "PUT", "/v1/models/e2e/aliases/live", to_v1,
                                  strlen(to_v1), J);
    ck_assert_msg(a.status == 201, "%ld %s", a.status, a.body);
    su_http_free(&a);

    char ops[MAX_OPS][160];
    int n = openapi_ops(ops);
    ck_assert_int_ge(n, 15);
    for (int pass = 0; pass < 2; pass++)   /* everything but DELETE, then DELETE */
        for (int i = 0; i < n; i++) {
            char method[16], tmpl[140], path[200];
            ck_assert_int_eq(sscanf(ops[i], "%15s %139s", method, tmpl), 2);
            if ((pass == 0) == !strcmp(method, "DELETE"))
                continue;
            const char *id = !strncmp(tmpl, "/v1/datasets/", 13)   ? dsid
                             : !strncmp(tmpl, "/v1/networks/", 13) ? netid
                             : !strncmp(tmpl, "/v1/jobs/", 9)      ? jobid
                             : !strncmp(tmpl, "/v1/models/", 11)   ? mdl
                                                                   : NULL;
            const char *brace = strstr(tmpl, "{id}");
            ck_assert_msg(!brace || id, "%s: no id to put in its path", ops[i]);
            if (brace)
                snprintf(path, sizeof path, "%.*s%s%s", (int)(brace - tmpl), tmpl, id, brace + 4);
            else
                snprintf(path, sizeof path, "%s", tmpl);
            /* a model's name, its alias (a label), a version */
            static const char *const names[][2] = {{"{name}", "e2e"}, {"{alias}", "live"},
                                                   {"{label}", "live"}, {"{version}", "1"}};
            for (int k = 0; k < 4; k++)
                if ((brace = strstr(path, names[k][0]))) {
                    char was[200];
                    snprintf(was, sizeof was, "%s", path);
                    size_t at = (size_t)(brace - path);
                    snprintf(path, sizeof path, "%.*s%s%s", (int)at, was, names[k][1],
                             was + at + strlen(names[k][0]));
                }
            struct http_reply h = su_http(&s, method, path, NULL, 0, NULL);
            ck_assert_msg(h.status != 404 && h.status != 405 && h.status >= 200,
                          "%s (%s): %ld %s", ops[i], path, h.status, h.body);
            su_http_free(&h);
        }
    stop(&s);
}
END_TEST

/* The status of a HEAD request (su_http would wait for the body a HEAD never gets). */
static long head_status(const struct server *s, const char *path)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", s->base, path);
    CURL *c = curl_easy_init();
    ck_assert_ptr_nonnull(c);
    long st = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
    curl_easy_cleanup(c);
    return st;
}

/* HEAD is GET without the body (RFC 9110, 9.3.2): probes and `curl -I` use it. */
START_TEST(head_is_answered_like_get)
{
    struct server s = {0};
    start(&s, NULL);
    static const char *const paths[] = {"/healthz", "/readyz", "/v1/datasets", "/v1/jobs"};
    long st[4];
    for (size_t i = 0; i < 4; i++)
        st[i] = head_status(&s, paths[i]);
    stop(&s);
    for (size_t i = 0; i < 4; i++)
        ck_assert_msg(st[i] == 200, "HEAD %s: %ld", paths[i], st[i]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("e2e");
    TCase *tc = tcase_create("bad_requests");
    tcase_set_timeout(tc, 120);
    tcase_add_unchecked_fixture(tc, fixture_start, fixture_stop);
    tcase_add_test(tc, table_is_whole);
    tcase_add_loop_test(tc, bad_request, 0, NBAD);
    suite_add_tcase(s, tc);
    TCase *tc2 = tcase_create("contract");
    tcase_set_timeout(tc2, 300);
    tcase_add_test(tc2, examples_are_accepted);
    tcase_add_test(tc2, openapi_lists_every_route);
    tcase_add_test(tc2, openapi_routes_are_served);
    tcase_add_test(tc2, head_is_answered_like_get);
    suite_add_tcase(s, tc2);
    int failed = tu_run(s);
    stop_all();
    return failed != 0;
}
