/* test_api_timeseries.c -- a real time series through the service, against the real
 * binary on 127.0.0.1: yearly sunspot activity, 1700 to 2008 (309 values, the sunspots
 * data set Debian's python3-statsmodels ships; read here from its installed path, no
 * Python at test time).
 *
 * Each window of T = 12 years is a sequence of 12 steps of one value whose label is the
 * next year's value. The windows whose next year falls in the last fifth are held out,
 * never uploaded; the others go up as CSV with ?timesteps=12 and train an lstm through a
 * job. The model then forecasts each held-out year one step ahead (from the 12 years
 * before it, which are known by then) through /v1/models/{id}/predict, and its mean
 * squared error must be under half the naive forecast's (next year as this year): about
 * 1100 on these years, where a least-squares linear forecast from the same 12 years
 * scores about 370. */
#include "srvutil.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SUNSPOTS "/usr/lib/python3/dist-packages/statsmodels/datasets/sunspots/sunspots.csv"

enum { T = 12, MAXYEARS = 1000 };

/* Reads the sunspots CSV ("YEAR","SUNACTIVITY" then a line a year) into year[] and v[]
 * (MAXYEARS each); returns how many years. Fails the test when the file is not there or
 * a line is not two numbers, or the years are not consecutive. */
static int sunspots(int *year, double *v)
{
    ck_assert_msg(access(SUNSPOTS, R_OK) == 0, "no %s: install python3-statsmodels "
                  "(.ci/deps test)", SUNSPOTS);
    char *text = tu_slurp(SUNSPOTS, NULL);
    char *line = strchr(text, '\n');   /* past the header */
    ck_assert_ptr_nonnull(line);
    int n = 0;
    for (line++; *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : line + strlen(line)) {
        if (*line == '\n' || *line == '\r')
            continue;
        double y;
        ck_assert_int_lt(n, MAXYEARS);
        ck_assert_msg(sscanf(line, "%lf,%lf", &y, &v[n]) == 2, "line %d: %.40s", n + 2, line);
        year[n] = (int)y;
        ck_assert_msg(n == 0 || year[n] == year[n - 1] + 1, "year %d after %d", year[n],
                      year[n - 1]);
        n++;
    }
    free(text);
    return n;
}

START_TEST(sunspots_forecast)
{
    static int year[MAXYEARS];
    static double v[MAXYEARS];
    int n = sunspots(year, v);
    ck_assert_int_eq(n, 309);
    ck_assert_int_eq(year[0], 1700);
    /* window w: the values of years w .. w+T-1, the label year w+T */
    int windows = n - T, held = (windows + 2) / 5, train = windows - held;

    struct server s = {0};
    su_start(&s, (const char *const[]){"--threads", "1", NULL});
    /* the training windows as CSV: y0..y11,next */
    size_t cap = (size_t)windows * (T + 1) * 16 + 256, len = 0;
    char *csv = malloc(cap);
    ck_assert_ptr_nonnull(csv);
    for (int t = 0; t < T; t++)
        len += (size_t)snprintf(csv + len, cap - len, "y%d,", t);
    len += (size_t)snprintf(csv + len, cap - len, "next\n");
    for (int w = 0; w < train; w++) {
        for (int t = 0; t < T; t++)
            len += (size_t)snprintf(csv + len, cap - len, "%g,", v[w + t]);
        len += (size_t)snprintf(csv + len, cap - len, "%g\n", v[w + T]);
    }
    struct http_reply h = su_http(&s, "POST", "/v1/datasets?name=sunspots&timesteps=12", csv,
                                  len, "text/csv");
    ck_assert_msg(h.status == 201, "%ld %s", h.status, h.body);
    json_t *d = su_http_json(&h);
    ck_assert_int_eq(su_int(d, "rows"), train);
    ck_assert_int_eq(su_int(d, "timesteps"), T);
    ck_assert_int_eq(su_int(d, "features"), 1);
    char body[1024];
    snprintf(body, sizeof body, "{\"network\": {\"inputs\": 1, \"timesteps\": %d, \"layers\": "
             "[{\"type\": \"lstm\", \"units\": 16}, {\"type\": \"dense\", \"units\": 1}], "
             "\"loss\": \"mse\"}, \"dataset\": \"%s\", \"epochs\": 100, \"batch_size\": 16, "
             "\"clip_norm\": 1.0, \"seed\": 3, \"optimizer\": {\"type\": \"adam\", "
             "\"learning_rate\": 0.005}}", T, su_str(d, "id"));
    json_decref(d);
    su_http_free(&h);
    free(csv);
    double t0 = su_now();
    char *job = su_post_id(&s, "/v1/jobs", body, 202);
    json_t *j = su_job_wait(&s, job, "succeeded", 120);
    ck_assert_str_eq(su_str(j, "state"), "succeeded");
    ck_assert_ptr_null(json_object_get(j, "warnings"));
    char path[96];
    snprintf(path, sizeof path, "/v1/models/%s/predict", su_str(j, "model"));
    double took = su_now() - t0;
    json_decref(j);

    /* the held-out years, each from the 12 before it */
    json_t *rows = json_array();
    for (int w = train; w < windows; w++) {
        json_t *r = json_array();
        for (int t = 0; t < T; t++)
            json_array_append_new(r, json_pack("[f]", v[w + t]));
        json_array_append_new(rows, r);
    }
    json_t *req = json_pack("{s:o}", "inputs", rows);
    char *pbody = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    h = su_http(&s, "POST", path, pbody, strlen(pbody), "application/json");
    ck_assert_msg(h.status == 200, "%ld %.300s", h.status, h.body);
    json_t *p = su_http_json(&h);
    json_t *out = json_object_get(p, "outputs");
    ck_assert_int_eq(json_array_size(out), held);
    double mse = 0, naive = 0;
    for (int i = 0; i < held; i++) {
        double want = v[train + i + T];
        double got = json_number_value(json_array_get(json_array_get(out, (size_t)i), 0));
        double last = v[train + i + T - 1];
        mse += (got - want) * (got - want) / held;
        naive += (last - want) * (last - want) / held;
    }
    fprintf(stderr, "sunspots: %d windows of %d years trained (to %d) in %.1f s; %d held-out "
            "years (%d-%d) forecast one step ahead: mse %.1f, naive (the previous year) "
            "%.1f\n", train, T, year[train + T - 1], took, held, year[train + T],
            year[n - 1], mse, naive);
    ck_assert_msg(mse < naive / 2, "mse %g, naive %g", mse, naive);
    json_decref(p);
    su_http_free(&h);
    free(pbody), free(job);
    su_stop(&s, 0);
    su_cleanup(&s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("api_timeseries");
    TCase *tc = tcase_create("timeseries");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, sunspots_forecast);
    suite_add_tcase(s, tc);
    return tu_run(s) != 0;
}
