/* h_datasets.c -- (being written) */
#include "handlers.h"
#include "datasets.h"
static int todo(struct req *r, struct reply *out) { (void)r; return reply_problem(out, 501, NULL, "not yet"); }
int h_datasets_create(struct req *r, struct reply *out) { return todo(r, out); }
int h_datasets_list(struct req *r, struct reply *out) { return todo(r, out); }
int h_datasets_get(struct req *r, struct reply *out) { return todo(r, out); }
int h_datasets_delete(struct req *r, struct reply *out) { return todo(r, out); }
static void *b(struct req *r, struct reply *out) { (void)r; reply_problem(out, 501, NULL, "not yet"); return NULL; }
static int c(void *ctx, const char *d, size_t n, struct reply *out) { (void)ctx; (void)d; (void)n; (void)out; return -1; }
static int e(void *ctx, struct req *r, struct reply *out) { (void)ctx; (void)r; (void)out; return -1; }
const struct stream datasets_csv_stream = {b, c, e};
int dataset_load(const char *id, struct dataset *d) { (void)id; (void)d; return -1; }
void dataset_free(struct dataset *d) { (void)d; }
json_t *dataset_describe(const char *id) { (void)id; return NULL; }
