/* networks.c -- /v1/networks: define a network (validate, summarise, store), list, get,
 * delete. The JSON <-> spec translation is the domain's (networks.c there).
 *
 * A definition is answered as it will be used: normalized by spec_to_json, every default
 * written out. The summary needs a built network; it is built without initialising its
 * weights (nn_new with no random state), so its parameter buffers, allocated zeroed, are
 * never touched and a network at the parameter cap costs address space, not memory.
 */
#include "api.h"

#include "domain/domain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* POST /v1/networks[?dry_run=true]: a definition -> 201 with Location and {"id", "name",
 * "created_at", "definition", "summary", "warnings"}; with dry_run, 200 and the same
 * without id and created_at, nothing stored. Every fault -> 422. */
int h_networks_create(struct req *r, struct reply *out)
{
    int dry;
    if (req_bool(r, out, "dry_run", 0, &dry) < 0)
        return 0;
    if (!r->json)
        return reply_problem(out, 400, NULL, "the body must be a network definition in JSON "
                             "(Content-Type: application/json): {\"inputs\", \"layers\", "
                             "\"loss\"}");
    struct spec_json s;
    json_t *errors;
    if (spec_from_json(r->json, "", r->app->cfg.max_params, &s, &errors) < 0) {
        if (!errors)
            return reply_problem(out, 500, NULL, "the service ran out of memory");
        return reply_faults(out, "the network definition", (long)json_array_size(errors),
                            errors);
    }
    struct nn_error err = {{0}, {0}};
    struct nn_net *net = nn_new(&s.spec, r->app->cfg.max_params, NULL, &err);
    if (!net) {
        spec_json_free(&s);
        return reply_problem(out, 500, NULL, "cannot build the network: %s", err.msg);
    }
    struct network n = {.name = s.name, .summary = spec_summary(net),
                        .warnings = spec_warnings(&s.spec, ""),
                        .definition = spec_to_json(&s.spec, s.name)};
    nn_free(net);
    int rc = n.summary && n.warnings && n.definition ? STORE_OK : STORE_ERROR;
    if (rc == STORE_OK && !dry) {
        new_id(n.id, "net_");
        now_iso(n.created_at);
        rc = store_network_insert(&n);
        if (rc == STORE_OK)
            snprintf(out->location, sizeof out->location, "/v1/networks/%s", n.id);
    }
    json_t *body = NULL;
    if (rc == STORE_OK && (body = network_json(&n)) && dry) {
        json_object_del(body, "id");
        json_object_del(body, "created_at");
    }
    n.name = NULL;   /* s's */
    network_free(&n);
    spec_json_free(&s);
    if (!body)
        return reply_store_failed(out, rc);
    return reply_json(out, dry ? 200 : 201, body);
}

static int network_page(struct req *r, int limit, const char *after, void **rows, int *n,
                        int *more)
{
    (void)r;
    return store_network_list(limit, after, (struct network **)rows, n, more);
}
static json_t *network_row(const void *row) { return network_item_json(row); }
static void network_row_free(void *row) { network_free(row); }
static const struct lister networks = {"network", sizeof(struct network), network_page,
                                       network_row, network_row_free};

/* GET /v1/networks[?limit=&after=]: {"items": [{"id", "name", "created_at", "inputs",
 * "outputs", "params"}...], "next": the id to pass as after, or null}. */
int h_networks_list(struct req *r, struct reply *out) { return api_list(r, out, &networks); }

/* GET /v1/networks/{id}: as POST answered it; 404 for an unknown id. */
int h_networks_get(struct req *r, struct reply *out)
{
    struct network n;
    int rc = store_network_get(r->param[0], &n);
    rc = reply_row(out, rc, "network", r->param[0], rc == STORE_OK ? network_json(&n) : NULL);
    network_free(&n);
    return rc;
}

/* DELETE /v1/networks/{id}: 204; 404 for an unknown id. Jobs keep their own copy of the
 * definition, so deleting a network that jobs used is fine. */
int h_networks_delete(struct req *r, struct reply *out)
{
    return reply_deleted(out, store_network_delete(r->param[0]), "network", r->param[0]);
}
