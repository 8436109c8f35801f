/* h_jobs.c -- (being written) */
#include "handlers.h"
static int todo(struct req *r, struct reply *out) { (void)r; return reply_problem(out, 501, NULL, "not yet"); }
int h_jobs_create(struct req *r, struct reply *out) { return todo(r, out); }
int h_jobs_list(struct req *r, struct reply *out) { return todo(r, out); }
int h_jobs_get(struct req *r, struct reply *out) { return todo(r, out); }
int h_jobs_cancel(struct req *r, struct reply *out) { return todo(r, out); }
int h_jobs_metrics(struct req *r, struct reply *out) { return todo(r, out); }
