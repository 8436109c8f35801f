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
/* prediction batches: rows per forward pass, and seconds a request's rows waited */
static const double batch_buckets[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
#define NBATCH ((int)(sizeof batch_buckets / sizeof batch_buckets[0]))
static const double wait_buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                      0.025, 0.05, 0.1};
#define NWAIT ((int)(sizeof wait_buckets / sizeof wait_buckets[0]))
static atomic_ullong batch_count[NBATCH + 1], batch_rows, runner_passes;
static atomic_ullong wait_count[NWAIT + 1], wait_ns;
static atomic_llong queued_rows;
static _Atomic double samples_per_second;

/* Adds one observation of v to a histogram of fixed buckets (not cumulative; the last
 * is +Inf) and its sum. */
static void observe(const double *le, int n, atomic_ullong *count, atomic_ullong *sum, double v,
                    double unit)
{
    int b = 0;
    while (b < n && v > le[b])
        b++;
    atomic_fetch_add_explicit(&count[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(sum, (unsigned long long)(v > 0 ? v * unit : 0),
                              memory_order_relaxed);
}

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
    observe(buckets, NBUCKET, bucket_count, &latency_ns, seconds, 1e9);
}

void stats_epoch(double sps)
{
    atomic_fetch_add_explicit(&epochs, 1, memory_order_relaxed);
    atomic_store_explicit(&samples_per_second, sps, memory_order_relaxed);
}

void stats_batch(int rows, int runner)
{
    observe(batch_buckets, NBATCH, batch_count, &batch_rows, rows, 1);
    if (runner)
        atomic_fetch_add_explicit(&runner_passes, 1, memory_order_relaxed);
}

void stats_batch_wait(double seconds)
{
    observe(wait_buckets, NWAIT, wait_count, &wait_ns, seconds, 1e9);
}

void stats_batch_queued(int rows)
{
    atomic_fetch_add_explicit(&queued_rows, rows, memory_order_relaxed);
}

/* Writes a histogram that observe() kept, its sum divided by unit. */
static void write_histogram(FILE *f, const char *name, const char *help, const double *le,
                            int n, atomic_ullong *count, atomic_ullong *sum, double unit)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    unsigned long long cum = 0;
    for (int b = 0; b <= n; b++) {
        cum += atomic_load_explicit(&count[b], memory_order_relaxed);
        if (b < n)
            fprintf(f, "%s_bucket{le=\"%g\"} %llu\n", name, le[b], cum);
        else
            fprintf(f, "%s_bucket{le=\"+Inf\"} %llu\n", name, cum);
    }
    fprintf(f, "%s_sum %.9g\n%s_count %llu\n", name,
            atomic_load_explicit(sum, memory_order_relaxed) / unit, name, cum);
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
    write_histogram(f, "neurond_http_request_duration_seconds", "Time from a request's "
                    "arrival to its reply.", buckets, NBUCKET, bucket_count, &latency_ns, 1e9);
    fprintf(f, "# HELP neurond_epochs_trained_total Epochs trained since the service started.\n"
               "# TYPE neurond_epochs_trained_total counter\nneurond_epochs_trained_total %llu\n",
            atomic_load_explicit(&epochs, memory_order_relaxed));
    fprintf(f, "# HELP neurond_training_samples_per_second Training rate of the last epoch.\n"
               "# TYPE neurond_training_samples_per_second gauge\n"
               "neurond_training_samples_per_second %.9g\n",
            atomic_load_explicit(&samples_per_second, memory_order_relaxed));
    write_histogram(f, "neurond_predict_batch_rows", "Rows in each forward pass of batched "
                    "prediction.", batch_buckets, NBATCH, batch_count, &batch_rows, 1);
    fprintf(f, "# HELP neurond_predict_batch_thread_passes_total Forward passes of batched "
               "prediction run on a batch thread (the others ran on the thread that read "
               "their requests).\n# TYPE neurond_predict_batch_thread_passes_total counter\n"
               "neurond_predict_batch_thread_passes_total %llu\n",
            atomic_load_explicit(&runner_passes, memory_order_relaxed));
    write_histogram(f, "neurond_predict_queue_wait_seconds", "Time a prediction's rows "
                    "waited for their batch's forward pass.", wait_buckets, NWAIT, wait_count,
                    &wait_ns, 1e9);
    fprintf(f, "# HELP neurond_predict_queue_rows Rows of predictions waiting for a batch.\n"
               "# TYPE neurond_predict_queue_rows gauge\nneurond_predict_queue_rows %lld\n",
            atomic_load_explicit(&queued_rows, memory_order_relaxed));
}
