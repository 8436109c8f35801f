/* h_models.c -- (being written) */
#include "handlers.h"
static int todo(struct req *r, struct reply *out) { (void)r; return reply_problem(out, 501, NULL, "not yet"); }
int h_models_list(struct req *r, struct reply *out) { return todo(r, out); }
int h_models_get(struct req *r, struct reply *out) { return todo(r, out); }
int h_models_delete(struct req *r, struct reply *out) { return todo(r, out); }
int h_models_weights(struct req *r, struct reply *out) { return todo(r, out); }
int h_models_predict(struct req *r, struct reply *out) { return todo(r, out); }
