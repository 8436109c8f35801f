/* test_api_tfevents.c -- TensorBoard event files (GET /v1/jobs/{id}/tfevents, and the
 * live files of --tensorboard-dir) against the real binary on 127.0.0.1.
 *
 * Two readers independent of the service's encoder check the bytes: one here (a bitwise
 * CRC-32C, the TFRecord framing, and the few protobuf wire types event.proto's Event and
 * summary.proto's Summary use, field numbers written out by hand), and Google's protobuf
 * runtime for Python with classes protoc generates at test time from tests/tfevents/
 * event.proto (TensorBoard's field numbers; read by tests/tfevents/read_events.py). The values must
 * be those GET /v1/jobs/{id}/metrics answers. The encoder (format/tfevents.c) and the
 * folder names (domain/tensorboard.c) are also called directly. */
#include "srvutil.h"
#include "testutil.h"

#include "domain/domain.h"
#include "format/format.h"

#include <dirent.h>
#include <math.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- an independent reader ---- */

static uint32_t crc32c_bitwise(const unsigned char *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1)));
    }
    return ~c;
}

static uint32_t masked(const unsigned char *p, size_t n)
{
    uint32_t c = crc32c_bitwise(p, n);
    return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

static uint64_t le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

#define MAX_VALUES 32
#define MAX_EVENTS 256

struct event {
    double wall_time;
    long long step;
    char version[32];          /* file_version, "" when none */
    int summary;               /* has a summary */
    int n;                     /* its values */
    char tag[MAX_VALUES][96];
    float value[MAX_VALUES];
};

static uint64_t varint(const unsigned char *p, size_t n, size_t *at)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        ck_assert_msg(*at < n, "a varint runs past its message");
        unsigned char b = p[(*at)++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    ck_abort_msg("a varint of more than 10 bytes");
    return 0;
}

/* A length-delimited field's bytes at *at: start in *start, length returned. */
static size_t delimited(const unsigned char *p, size_t n, size_t *at, size_t *start)
{
    size_t len = varint(p, n, at);
    ck_assert_msg(len <= n - *at, "a field runs past its message");
    *start = *at;
    *at += len;
    return len;
}

static void decode_value(const unsigned char *p, size_t n, struct event *e)
{
    ck_assert_int_lt(e->n, MAX_VALUES);
    int has_tag = 0, has_value = 0;
    for (size_t at = 0; at < n;) {
        uint64_t key = varint(p, n, &at);
        if (key == (1 << 3 | 2)) {   /* tag */
            size_t s, len = delimited(p, n, &at, &s);
            ck_assert_uint_lt(len, sizeof e->tag[0]);
            memcpy(e->tag[e->n], p + s, len);
            e->tag[e->n][len] = 0;
            has_tag = 1;
        } else if (key == (2 << 3 | 5)) {   /* simple_value, fixed32 */
            ck_assert_uint_le(at + 4, n);
            uint32_t u = (uint32_t)le(p + at, 4);
            memcpy(&e->value[e->n], &u, 4);
            at += 4;
            has_value = 1;
        } else {
            ck_abort_msg("Summary.Value field key %llu", (unsigned long long)key);
        }
    }
    ck_assert_msg(has_tag && has_value, "a Summary.Value without tag or simple_value");
    e->n++;
}

static void decode_event(const unsigned char *p, size_t n, struct event *e)
{
    memset(e, 0, sizeof *e);
    for (size_t at = 0; at < n;) {
        uint64_t key = varint(p, n, &at);
        size_t s, len;
        switch (key) {
        case 1 << 3 | 1: {   /* wall_time, double */
            ck_assert_uint_le(at + 8, n);
            uint64_t u = le(p + at, 8);
            memcpy(&e->wall_time, &u, 8);
            at += 8;
            break;
        }
        case 2 << 3 | 0:     /* step */
            e->step = (long long)varint(p, n, &at);
            break;
        case 3 << 3 | 2:     /* file_version */
            len = delimited(p, n, &at, &s);
            ck_assert_uint_lt(len, sizeof e->version);
            memcpy(e->version, p + s, len);
            break;
        case 5 << 3 | 2: {   /* summary: repeated Value value = 1 */
            len = delimited(p, n, &at, &s);
            e->summary = 1;
            for (size_t k = s; k < s + len;) {
                ck_assert_uint_eq(varint(p, s + len, &k), 1 << 3 | 2);
                size_t vs, vlen = delimited(p, s + len, &k, &vs);
                decode_value(p + vs, vlen, e);
            }
            break;
        }
        default:
            ck_abort_msg("Event field key %llu", (unsigned long long)key);
        }
    }
}

/* Reads the records of a file's bytes, checking every length and CRC; returns how many
 * events it decoded into ev. */
static int read_events(const unsigned char *b, size_t len, struct event *ev)
{
    int n = 0;
    for (size_t at = 0; at < len; n++) {
        ck_assert_msg(len - at >= 12, "record %d: its header is cut", n);
        uint64_t dlen = le(b + at, 8);
        ck_assert_msg((uint32_t)le(b + at + 8, 4) == masked(b + at, 8),
                      "record %d: the length's CRC is wrong", n);
        ck_assert_msg(dlen <= len - at - 12 && len - at - 12 - dlen >= 4,
                      "record %d: cut (%llu bytes of data)", n, (unsigned long long)dlen);
        const unsigned char *d = b + at + 12;
        ck_assert_msg((uint32_t)le(d + dlen, 4) == masked(d, dlen),
                      "record %d: the data's CRC is wrong", n);
        ck_assert_int_lt(n, MAX_EVENTS);
        decode_event(d, dlen, &ev[n]);
        at += 12 + dlen + 4;
    }
    return n;
}

/* ---- what the events must hold ---- */

/* The value of tag in e, or NAN when e does not have it (and whether it had it twice). */
static double value_of(const struct event *e, const char *tag)
{
    double v = NAN;
    int seen = 0;
    for (int i = 0; i < e->n; i++)
        if (!strcmp(e->tag[i], tag))
            v = e->value[i], seen++;
    ck_assert_msg(seen <= 1, "tag %s twice in the event of step %lld", tag, e->step);
    return v;
}

/* Expects tag = v (as float32) in e when v is a number; counts it in *n. The answer's 9
 * significant digits read back as the float32 of the stored value, or as its neighbour:
 * the file holds the float nearest to the stored double, and a double rounded to 9 digits
 * may then round to the next float (231451.2106 is written 231451.211, whose nearest float
 * is one above 231451.2106's). */
static void expect(const struct event *e, const char *tag, const json_t *v, int *n)
{
    if (!json_is_number(v))
        return;
    float got = (float)value_of(e, tag), want = (float)json_number_value(v);
    ck_assert_msg(got == want || nextafterf(got, INFINITY) == want ||
                  nextafterf(got, -INFINITY) == want, "step %lld: %s is %.9g, not %.9g",
                  e->step, tag, got, json_number_value(v));
    (*n)++;
}

/* Seconds since 1970 of "2026-12-03T21:47:38.072Z". */
static double iso_seconds(const char *s)
{
    struct tm tm = {0};
    int ms = 0;
    ck_assert_int_eq(sscanf(s, "%d-%d-%dT%d:%d:%d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                            &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms), 7);
    tm.tm_year -= 1900;
    tm.tm_mon--;
    return (double)timegm(&tm) + ms / 1000.0;
}

/* The events ev[0..n) are the job's file: the file_version first, then exactly one event
 * per epoch of GET /metrics, step = epoch, with its values and nothing else. */
static void check_events(const struct server *s, const char *id, const struct event *ev,
                         int n)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/jobs/%s", id);
    json_t *job = su_get_json(s, path);
    snprintf(path, sizeof path, "/v1/jobs/%s/metrics", id);
    json_t *m = su_get_json(s, path), *rows = json_object_get(m, "epochs");
    ck_assert_int_ge(n, 1);
    ck_assert_str_eq(ev[0].version, "brain.Event:2");
    ck_assert(!ev[0].summary);
    ck_assert_int_eq(ev[0].step, 0);
    const char *t0 = json_string_value(json_object_get(job, "started_at"));
    if (!t0)
        t0 = su_str(job, "created_at");
    ck_assert(fabs(ev[0].wall_time - iso_seconds(t0)) < 1e-6);
    ck_assert_int_eq(n, 1 + (int)json_array_size(rows));
    const json_t *lr = json_object_get(json_object_get(job, "optimizer"), "learning_rate");
    ck_assert(json_is_number(lr));
    for (int i = 1; i < n; i++) {
        const json_t *row = json_array_get(rows, (size_t)i - 1);
        const struct event *e = &ev[i];
        ck_assert(e->summary && !*e->version);
        ck_assert_int_eq(e->step, su_int(row, "epoch"));
        ck_assert(fabs(e->wall_time - iso_seconds(su_str(row, "ended_at"))) < 1e-6);
        int want = 0;
        char tag[128];
        expect(e, "loss", json_object_get(row, "loss"), &want);
        expect(e, "val_loss", json_object_get(row, "val_loss"), &want);
        static const char *const groups[][2] = {{"metrics", "metrics/"},
                                                 {"val_metrics", "val_metrics/"},
                                                 {"grad_norms", "grad_norm"},
                                                 {"dead_relu", "dead_relu"}};
        for (int g = 0; g < 4; g++) {
            const char *key;
            json_t *v;
            json_object_foreach(json_object_get(row, groups[g][0]), key, v) {
                snprintf(tag, sizeof tag, "%s%s", groups[g][1], key);
                expect(e, tag, v, &want);
            }
        }
        expect(e, "learning_rate", lr, &want);
        expect(e, "samples_per_second", json_object_get(row, "samples_per_second"), &want);
        ck_assert_msg(e->n == want, "step %lld has %d values, not %d", e->step, e->n, want);
    }
    json_decref(job);
    json_decref(m);
}

/* ---- jobs ---- */

/* Queues a job (name may be NULL; "" leaves out validation) on a blobs dataset; id (new). */
static char *queue_job(const struct server *s, const char *name, int rows, int hidden,
                       int epochs, int batch, int val)
{
    char *ds = su_dataset(s, rows, 8, 0), *net = su_network(s, 8, hidden), body[1024];
    json_t *b = json_pack("{s:s, s:s, s:i, s:i, s:i, s:{s:s, s:f}}", "network", net,
                          "dataset", ds, "epochs", epochs, "batch_size", batch, "seed", 3,
                          "optimizer", "type", "sgd", "learning_rate", 0.05);
    if (name)
        json_object_set_new(b, "name", json_string(name));
    if (val)
        json_object_set_new(b, "validation", json_pack("{s:f}", "split", 0.25));
    char *text = json_dumps(b, 0);
    snprintf(body, sizeof body, "%s", text);
    free(text);
    json_decref(b);
    char *id = su_post_id(s, "/v1/jobs", body, 202);
    free(ds), free(net);
    return id;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    *len = 0;
    if (!f)
        return NULL;
    unsigned char *buf = NULL;
    size_t cap = 0, n = 0, k;
    do {
        if (n == cap && !(buf = realloc(buf, cap = cap ? 2 * cap : 4096)))
            break;
        k = fread(buf + n, 1, cap - n, f);
        n += k;
    } while (k > 0);
    fclose(f);
    *len = n;
    return buf;
}

/* The one events.out.tfevents.* file in dir (its path into out); 0 when there is none. */
static int event_file(const char *dir, char *out, size_t cap)
{
    DIR *d = opendir(dir);
    int found = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (!strncmp(e->d_name, "events.out.tfevents.", 20)) {
            ck_assert_msg(!found, "two event files in %s", dir);
            snprintf(out, cap, "%s/%s", dir, e->d_name);
            found = 1;
        }
    if (d)
        closedir(d);
    return found;
}

/* GET the job's event file: 200, octet-stream, named as TensorBoard names them. */
static struct http_reply get_file(const struct server *s, const char *id)
{
    char path[128], disp[512];
    snprintf(path, sizeof path, "/v1/jobs/%s/tfevents", id);
    struct http_reply h = su_http(s, "GET", path, NULL, 0, NULL);
    ck_assert_msg(h.status == 200, "GET %s: %ld %s", path, h.status, h.body);
    ck_assert_str_eq(h.ctype, "application/octet-stream");
    su_header(&h, "Content-Disposition", disp, sizeof disp);
    regex_t re;
    ck_assert_int_eq(regcomp(&re, "^attachment; filename=\"events\\.out\\.tfevents\\.[0-9]{10}\\."
                                  "[A-Za-z0-9._-]+\"$", REG_EXTENDED | REG_NOSUB), 0);
    ck_assert_msg(regexec(&re, disp, 0, NULL, 0) == 0, "Content-Disposition: %s", disp);
    regfree(&re);
    char host[256] = "", want[300];
    gethostname(host, sizeof host - 1);
    snprintf(want, sizeof want, ".%s\"", host);
    if (strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") ==
        strlen(host))
        ck_assert_msg(strstr(disp, want) != NULL, "%s does not name host %s", disp, host);
    return h;
}

/* ---- Google's protobuf, from TensorBoard's field numbers (tests/tfevents/event.proto) ---- */

/* The events as read_events.py prints them (new), after compiling event.proto. */
static json_t *python_events(const char *dir, const unsigned char *b, size_t len)
{
    char file[400], cmd[2048];
    snprintf(file, sizeof file, "%s/events.bin", dir);
    FILE *f = fopen(file, "wb");
    ck_assert(f && fwrite(b, 1, len, f) == len && fclose(f) == 0);
    const char *py = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
    snprintf(cmd, sizeof cmd, "mkdir -p %s/gen && protoc -I tests/tfevents --python_out=%s/gen "
             "tests/tfevents/event.proto", dir, dir);
    ck_assert_msg(system(cmd) == 0, "protoc failed (Debian: protobuf-compiler): %s", cmd);
    snprintf(cmd, sizeof cmd, "%s tests/tfevents/read_events.py %s/gen %s", py, dir, file);
    FILE *p = popen(cmd, "r");
    ck_assert(p != NULL);
    json_error_t err;
    json_t *v = json_loadf(p, 0, &err);
    int rc = pclose(p);
    ck_assert_msg(rc == 0 && v, "%s failed (Debian: python3-protobuf): %s", cmd, err.text);
    return v;
}

/* Google's reader sees what ours saw, value for value. */
static void check_python(const char *dir, const unsigned char *b, size_t len,
                         const struct event *ev, int n)
{
    json_t *py = python_events(dir, b, len);
    ck_assert_int_eq(json_array_size(py), n);
    for (int i = 0; i < n; i++) {
        const json_t *e = json_array_get(py, (size_t)i);
        ck_assert(json_real_value(json_object_get(e, "wall_time")) == ev[i].wall_time);
        ck_assert_int_eq(json_integer_value(json_object_get(e, "step")), ev[i].step);
        const json_t *fv = json_object_get(e, "file_version"), *vals = json_object_get(e, "values");
        if (*ev[i].version) {
            ck_assert_str_eq(json_string_value(fv), ev[i].version);
            ck_assert(!vals);
            continue;
        }
        ck_assert(!fv && json_is_object(vals));
        ck_assert_int_eq(json_object_size(vals), ev[i].n);
        for (int k = 0; k < ev[i].n; k++) {
            const json_t *v = json_object_get(vals, ev[i].tag[k]);
            ck_assert_msg(json_is_number(v), "python has no %s", ev[i].tag[k]);
            ck_assert((float)json_number_value(v) == ev[i].value[k]);
        }
    }
    json_decref(py);
}

/* ---- tests ---- */

static struct event events[MAX_EVENTS];

/* A finished job's file, read by both readers and held against its metrics; an unknown
 * job; a queued job (no epochs: the file_version alone); the live file of a job while it
 * trains and once it ended. */
START_TEST(download_and_live)
{
    struct server s = {0};
    char tb[320], folder[512], live[800], path[160];
    su_tmpdir(s.dir, sizeof s.dir, "tfevents");
    snprintf(s.db, sizeof s.db, "%s/neurond.db", s.dir);
    snprintf(tb, sizeof tb, "%s/tb", s.dir);
    const char *const args[] = {"--workers", "1", "--threads", "1", "--tensorboard-dir", tb, NULL};
    su_start(&s, args);

    /* a short named job with validation */
    char *id = queue_job(&s, "sgd/../0.05\x01run", 120, 8, 6, 16, 1);
    json_t *j = su_job_wait(&s, id, NULL, 60);
    ck_assert_str_eq(su_str(j, "state"), "succeeded");
    json_decref(j);
    struct http_reply h = get_file(&s, id);
    int n = read_events((unsigned char *)h.body, h.len, events);
    ck_assert_int_eq(n, 7);
    check_events(&s, id, events, n);
    ck_assert(!isnan(value_of(&events[1], "val_loss")));
    ck_assert(value_of(&events[1], "metrics/accuracy") >= 0);
    ck_assert(value_of(&events[1], "grad_norm/layers/0") > 0);
    ck_assert(value_of(&events[1], "learning_rate") == 0.05f);
    check_python(s.dir, (unsigned char *)h.body, h.len, events, n);

    /* its live file: the folder named by the job's name made safe, the same bytes */
    snprintf(folder, sizeof folder, "%s/sgd_.._0.05_run_%s", tb, id);
    ck_assert_msg(event_file(folder, live, sizeof live), "no event file in %s", folder);
    size_t len;
    unsigned char *b = slurp(live, &len);
    ck_assert(b && len == h.len && !memcmp(b, h.body, len));
    free(b);
    su_http_free(&h);

    /* unknown job; a query parameter the route does not take */
    h = su_http(&s, "GET", "/v1/jobs/job_nosuchjob000/tfevents", NULL, 0, NULL);
    ck_assert_int_eq(h.status, 404);
    ck_assert_str_eq(h.ctype, "application/problem+json");
    ck_assert(strstr(h.body, "job_nosuchjob000") != NULL);
    su_http_free(&h);
    snprintf(path, sizeof path, "/v1/jobs/%s/tfevents?format=csv", id);
    h = su_http(&s, "GET", path, NULL, 0, NULL);
    ck_assert_int_eq(h.status, 400);
    ck_assert_str_eq(h.ctype, "application/problem+json");
    ck_assert(strstr(h.body, "\"parameter\":\"format\"") || strstr(h.body, "\"parameter\": \"format\""));
    su_http_free(&h);
    free(id);

    /* a job that trains a while, and one queued behind it */
    char *slow = queue_job(&s, NULL, 3000, 256, 400, 4, 0);
    char *queued = queue_job(&s, "behind", 120, 8, 3, 16, 0);
    su_job_wait_epoch(&s, slow, 1, 60);
    snprintf(path, sizeof path, "/v1/jobs/%s", queued);
    j = su_get_json(&s, path);
    ck_assert_str_eq(su_str(j, "state"), "queued");
    json_decref(j);
    h = get_file(&s, queued);
    ck_assert_int_eq(read_events((unsigned char *)h.body, h.len, events), 1);
    check_events(&s, queued, events, 1);
    su_http_free(&h);

    /* the slow job's live file has its first epoch while it still trains (a job without
     * a name: its folder is its id) */
    snprintf(folder, sizeof folder, "%s/%s", tb, slow);
    ck_assert(event_file(folder, live, sizeof live));
    b = slurp(live, &len);
    n = read_events(b, len, events);
    free(b);
    ck_assert_int_ge(n, 2);
    ck_assert_int_eq(events[1].step, 1);
    snprintf(path, sizeof path, "/v1/jobs/%s", slow);
    j = su_get_json(&s, path);
    ck_assert_str_eq(su_str(j, "state"), "running");
    json_decref(j);

    /* once it ends, as many events as epochs */
    snprintf(path, sizeof path, "/v1/jobs/%s/cancel", slow);
    h = su_http(&s, "POST", path, NULL, 0, NULL);
    ck_assert_int_eq(h.status, 202);
    su_http_free(&h);
    json_decref(su_job_wait(&s, slow, "cancelled", 60));
    json_decref(su_job_wait(&s, queued, "succeeded", 60));
    b = slurp(live, &len);
    n = read_events(b, len, events);
    check_events(&s, slow, events, n);
    free(b);
    snprintf(folder, sizeof folder, "%s/behind_%s", tb, queued);
    ck_assert(event_file(folder, live, sizeof live));
    b = slurp(live, &len);
    n = read_events(b, len, events);
    ck_assert_int_eq(n, 4);
    check_events(&s, queued, events, n);
    free(b);

    su_stop(&s, 0);
    su_cleanup(&s);
    free(slow), free(queued);
}
END_TEST

/* A job killed with the service resumes: its file is written anew, one event per epoch,
 * no step twice. */
START_TEST(restart_keeps_one_event_per_epoch)
{
    struct server s = {0};
    char tb[320], folder[512], live[800];
    su_tmpdir(s.dir, sizeof s.dir, "tfevents");
    snprintf(s.db, sizeof s.db, "%s/neurond.db", s.dir);
    snprintf(tb, sizeof tb, "%s/tb", s.dir);
    const char *const args[] = {"--threads", "1", "--tensorboard-dir", tb, NULL};
    su_start(&s, args);
    char *id = queue_job(&s, "resumed", 3000, 256, 12, 4, 1);
    su_job_wait_epoch(&s, id, 2, 60);
    su_stop(&s, 1);   /* SIGKILL, mid-epoch */
    snprintf(folder, sizeof folder, "%s/resumed_%s", tb, id);
    ck_assert(event_file(folder, live, sizeof live));
    size_t len;
    unsigned char *b = slurp(live, &len);
    int before = read_events(b, len, events);
    free(b);
    ck_assert_int_ge(before, 3);
    ck_assert_int_lt(before, 13);

    su_start(&s, args);
    json_t *j = su_job_wait(&s, id, NULL, 120);
    ck_assert_str_eq(su_str(j, "state"), "succeeded");
    json_decref(j);
    ck_assert(event_file(folder, live, sizeof live));
    b = slurp(live, &len);
    int n = read_events(b, len, events);
    ck_assert_int_eq(n, 13);
    for (int i = 1; i < n; i++)
        ck_assert_int_eq(events[i].step, i);
    check_events(&s, id, events, n);
    struct http_reply h = get_file(&s, id);
    ck_assert(h.len == len && !memcmp(h.body, b, len));
    su_http_free(&h);
    free(b);
    su_stop(&s, 0);
    su_cleanup(&s);
    free(id);
}
END_TEST

/* A directory that cannot be made (a file is in the way) fails no job: it is logged
 * once, and GET still answers the file. */
START_TEST(unwritable_dir_fails_no_job)
{
    struct server s = {0};
    char block[320], tb[400], log[320];
    su_tmpdir(s.dir, sizeof s.dir, "tfevents");
    snprintf(s.db, sizeof s.db, "%s/neurond.db", s.dir);
    snprintf(block, sizeof block, "%s/file", s.dir);
    FILE *f = fopen(block, "w");
    ck_assert(f && fclose(f) == 0);
    snprintf(tb, sizeof tb, "%s/tb", block);   /* under a regular file: ENOTDIR, even as root */
    const char *const args[] = {"--threads", "1", "--tensorboard-dir", tb, NULL};
    su_start(&s, args);
    char *id = queue_job(&s, "nowhere", 120, 8, 4, 16, 0);
    json_t *j = su_job_wait(&s, id, NULL, 60);
    ck_assert_str_eq(su_str(j, "state"), "succeeded");
    ck_assert_int_eq(su_int(j, "epoch"), 4);
    json_decref(j);
    struct http_reply h = get_file(&s, id);
    ck_assert_int_eq(read_events((unsigned char *)h.body, h.len, events), 5);
    su_http_free(&h);
    su_stop(&s, 0);
    snprintf(log, sizeof log, "%s/neurond.log", s.dir);
    size_t len;
    char *text = (char *)slurp(log, &len);
    ck_assert(text);
    text = realloc(text, len + 1);
    text[len] = 0;
    ck_assert_msg(su_count(text, "TensorBoard") == 1, "the log:\n%s", text);
    ck_assert(strstr(text, id) != NULL);
    free(text);
    su_cleanup(&s);
    free(id);
}
END_TEST

/* The encoder and the names, called directly: CRC-32C's check value, a float's bits,
 * negative zero and a large step through the independent reader, and folder names. */
START_TEST(encoder_and_names)
{
    ck_assert_uint_eq(crc32c("123456789", 9), 0xe3069283u);   /* RFC 3720's check value */
    ck_assert_uint_eq(crc32c_bitwise((const unsigned char *)"neurond", 7), crc32c("neurond", 7));
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    const struct tf_scalar v[] = {{"a", 0.1f}, {"b", -0.0f}, {"c", 0.0f}, {"d", -3e38f}};
    ck_assert_int_eq(tfevents_version(f, 1.5), 0);
    ck_assert_int_eq(tfevents_scalars(f, 1796334469.981, 3000000000LL, v, 4), 0);
    ck_assert_int_eq(tfevents_scalars(f, 0, 1, NULL, 0), 0);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(read_events((unsigned char *)buf, len, events), 3);
    ck_assert(events[0].wall_time == 1.5 && !strcmp(events[0].version, "brain.Event:2"));
    ck_assert(events[1].wall_time == 1796334469.981 && events[1].step == 3000000000LL);
    ck_assert_int_eq(events[1].n, 4);
    for (int i = 0; i < 4; i++) {
        ck_assert_str_eq(events[1].tag[i], v[i].tag);
        ck_assert(!memcmp(&events[1].value[i], &v[i].value, 4));
    }
    ck_assert(events[2].summary && events[2].n == 0 && events[2].step == 1);
    free(buf);

    ck_assert(time_parse_iso("2026-12-03T21:47:38.072Z") == 1796334458.072);
    ck_assert(isnan(time_parse_iso("2026-12-03 21:47:38")));
    char name[300];
    json_t *job = json_pack("{s:s, s:s}", "id", "job_abc", "created_at",
                            "2026-12-03T21:47:38.072Z");
    tb_file_name(name, sizeof name, job);
    ck_assert(!strncmp(name, "events.out.tfevents.1796334458.", 31));
    static const char *const names[][2] = {
        {NULL, "job_abc"}, {"", "job_abc"}, {"iris", "iris_job_abc"},
        {"../..", "_._.._job_abc"}, {".hidden", "_hidden_job_abc"},
        {"a/b\\c\nd\x7f", "a_b_c_d__job_abc"}, {"caf\xc3\xa9 \xff", "caf\xc3\xa9 __job_abc"}};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        if (names[i][0])   /* bytes as they are, not checked as UTF-8 */
            json_object_set_new(job, "name", json_stringn_nocheck(names[i][0],
                                                                  strlen(names[i][0])));
        tb_folder(name, sizeof name, job);
        ck_assert_str_eq(name, names[i][1]);
    }
    char longname[400] = "";
    for (int i = 0; i < 80; i++)
        strcat(longname, "\xc3\xa9");   /* 160 bytes: cut at 100, between two characters */
    json_object_set_new(job, "name", json_string(longname));
    tb_folder(name, sizeof name, job);
    ck_assert_uint_eq(strlen(name), 100 + strlen("_job_abc"));
    ck_assert(utf8_valid(name, strlen(name)));
    json_decref(job);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tfevents");
    TCase *tc = tcase_create("e2e");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, encoder_and_names);
    tcase_add_test(tc, download_and_live);
    tcase_add_test(tc, restart_keeps_one_event_per_epoch);
    tcase_add_test(tc, unwritable_dir_fails_no_job);
    suite_add_tcase(s, tc);
    return tu_run(s) != 0;
}
