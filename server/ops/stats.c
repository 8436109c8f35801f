/* stats.c -- counters for GET /metrics (ops.h).
 *
 * DESIGN: every counter is a slot of fixed arrays sized at compile time: requests by
 * (route index, method, status) with a slot for "no route", one for methods outside the
 * known list and one for statuses outside it, and latency in fixed buckets. Each is an
 * atomic updated with relaxed order, so the hot path is a few atomic adds and no lock; a
 * scrape reads them one by one, so it may see a request in the counters and not yet in
 * the histogram (Prometheus accepts such skew). */
#include "ops.h"

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#define MAX_ROUTES 96
static const int statuses[] = {200, 201, 202, 204, 400, 404, 405, 409, 413, 415, 422, 500,
                               501, 503};
#define NSTATUS ((int)(sizeof statuses / sizeof statuses[0]))
static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE",
                                      "OPTIONS"};
#define NMETHOD ((int)(sizeof methods / sizeof methods[0]))
static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                 2.5, 5, 10};
#define NBUCKET ((int)(sizeof buckets / sizeof buckets[0]))

/* [route + 1][method index][status index]; route slot 0 is "no route", method slot
 * NMETHOD and status slot NSTATUS "other" */
static atomic_ullong requests[MAX_ROUTES + 1][NMETHOD + 1][NSTATUS + 1];
static atomic_ullong other_status[MAX_ROUTES + 1][NMETHOD + 1];   /* the last other seen */
static atomic_ullong bucket_count[NBUCKET + 1];       /* not cumulative; last is +Inf */
static atomic_ullong latency_ns;
static atomic_ullong epochs;
static _Atomic double samples_per_second;

void stats_request(int route, const char *method, int status, double seconds)
{
    int ri = route >= 0 && route < MAX_ROUTES ? route + 1 : 0;
    int mi = 0, si = 0;
    while (mi < NMETHOD && !(method && strcmp(methods[mi], method) == 0))
        mi++;
    while (si < NSTATUS && statuses[si] != status)
        si++;
    if (si == NSTATUS)
        atomic_store_explicit(&other_status[ri][mi], (unsigned long long)status,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&requests[ri][mi][si], 1, memory_order_relaxed);
    int b = 0;
    while (b < NBUCKET && seconds > buckets[b])
        b++;
    atomic_fetch_add_explicit(&bucket_count[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&latency_ns, (unsigned long long)(seconds > 0 ? seconds * 1e9 : 0),
                              memory_order_relaxed);
}

void stats_epoch(double sps)
{
    atomic_fetch_add_explicit(&epochs, 1, memory_order_relaxed);
    atomic_store_explicit(&samples_per_second, sps, memory_order_relaxed);
}

void stats_write(FILE *f, const struct stats_route *routes, int nroutes)
{
    fputs("# HELP neurond_http_requests_total HTTP requests answered, by route pattern, "
          "method and status.\n# TYPE neurond_http_requests_total counter\n", f);
    for (int ri = 0; ri <= MAX_ROUTES && ri <= nroutes; ri++) {
        const char *route = ri ? routes[ri - 1].pattern : "unmatched";
        for (int mi = 0; mi <= NMETHOD; mi++)
            for (int si = 0; si <= NSTATUS; si++) {
                unsigned long long n = atomic_load_explicit(&requests[ri][mi][si],
                                                            memory_order_relaxed);
                if (!n)
                    continue;
                int status = si < NSTATUS ? statuses[si]
                                          : (int)atomic_load_explicit(&other_status[ri][mi],
                                                                      memory_order_relaxed);
                fprintf(f, "neurond_http_requests_total{route=\"%s\",method=\"%s\","
                           "status=\"%d\"} %llu\n", route, mi < NMETHOD ? methods[mi] : "other",
                        status, n);
            }
    }
    fputs("# HELP neurond_http_request_duration_seconds Time from a request's arrival to "
          "its reply.\n# TYPE neurond_http_request_duration_seconds histogram\n", f);
    unsigned long long cum = 0;
    for (int b = 0; b <= NBUCKET; b++) {
        cum += atomic_load_explicit(&bucket_count[b], memory_order_relaxed);
        if (b < NBUCKET)
            fprintf(f, "neurond_http_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
                    buckets[b], cum);
        else
            fprintf(f, "neurond_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n", cum);
    }
    fprintf(f, "neurond_http_request_duration_seconds_sum %.9f\n",
            atomic_load_explicit(&latency_ns, memory_order_relaxed) / 1e9);
    fprintf(f, "neurond_http_request_duration_seconds_count %llu\n", cum);
    fprintf(f, "# HELP neurond_epochs_trained_total Epochs trained since the service started.\n"
               "# TYPE neurond_epochs_trained_total counter\nneurond_epochs_trained_total %llu\n",
            atomic_load_explicit(&epochs, memory_order_relaxed));
    fprintf(f, "# HELP neurond_training_samples_per_second Training rate of the last epoch.\n"
               "# TYPE neurond_training_samples_per_second gauge\n"
               "neurond_training_samples_per_second %.9g\n",
            atomic_load_explicit(&samples_per_second, memory_order_relaxed));
}
