/* ops.h -- the service's counters for GET /metrics: HTTP requests by route and status,
 * request latency, epochs trained and the training rate, and how they are written in
 * the Prometheus text format, and the prediction batches' sizes and queue waits. Updated with C11 atomics from the HTTP threads and the
 * training workers; nothing is allocated when a counter moves. */
#ifndef OPS_H
#define OPS_H

#include <stdio.h>

/* Counts one answered request: route is the index in the route table of the route whose
 * pattern its path matches (-1: none; with another method, a 405, the first that matches),
 * method the request's (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS; any other is
 * counted as "other"), status the HTTP status sent, seconds from its first byte to its
 * reply. */
void stats_request(int route, const char *method, int status, double seconds);
/* Counts one epoch trained at samples_per_second (the training workers). */
void stats_epoch(double samples_per_second);

/* Counts one batched forward pass of rows rows (domain/batch.c), run on a batch thread
 * (runner) or on the thread that read a request, and a request's rows waiting seconds
 * before their pass began (0 for rows run at once). */
void stats_batch(int rows, int runner);
void stats_batch_wait(double seconds);
/* Rows join (rows > 0) or leave (rows < 0) the batch queue. */
void stats_batch_queued(int rows);

/* A route as the request counter labels it: its pattern (the method is the request's). */
struct stats_route {
    const char *pattern;
};
/* Writes the counters above in the Prometheus text format 0.0.4 to f; routes[i] labels
 * the requests counted for route i (n of them). */
void stats_write(FILE *f, const struct stats_route *routes, int n);

#endif
