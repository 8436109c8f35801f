/* stats.h -- the service's counters for GET /metrics: HTTP requests by route and status,
 * request latency, epochs trained and the training rate. Updated with C11 atomics from
 * HTTP threads and training workers; nothing is allocated when a counter moves. */
#ifndef STATS_H
#define STATS_H

#include <stdio.h>

/* Counts one answered request: route is its index in routes[] (-1: no route matched),
 * status the HTTP status sent, seconds from its first byte to its reply. */
void stats_request(int route, int status, double seconds);
/* Counts one epoch trained at samples_per_second (the training workers). */
void stats_epoch(double samples_per_second);
/* Writes the counters above in the Prometheus text format 0.0.4 to f. */
void stats_write(FILE *f);

/* db_stats.c: the number of jobs in each state, as {"queued": n, ...} (new; states
 * without jobs are absent), NULL on error. */
#include <jansson.h>
json_t *db_job_counts(void);

#endif
