/* h_networks.c -- (being written) */
#include "handlers.h"
#include "spec_json.h"
static int todo(struct req *r, struct reply *out) { (void)r; return reply_problem(out, 501, NULL, "not yet"); }
int h_networks_create(struct req *r, struct reply *out) { return todo(r, out); }
int h_networks_list(struct req *r, struct reply *out) { return todo(r, out); }
int h_networks_get(struct req *r, struct reply *out) { return todo(r, out); }
int h_networks_delete(struct req *r, struct reply *out) { return todo(r, out); }
int spec_from_json(const json_t *def, const char *base, size_t max_params, struct spec_json *out, json_t **errors) { (void)def; (void)base; (void)max_params; (void)out; *errors = json_array(); return -1; }
void spec_json_free(struct spec_json *s) { (void)s; }
json_t *spec_summary(const struct nn_net *net) { (void)net; return json_object(); }
json_t *spec_warnings(const struct nn_spec *spec, const char *base) { (void)spec; (void)base; return json_array(); }
