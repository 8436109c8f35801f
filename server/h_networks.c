/* h_networks.c -- /v1/networks: define a network (validate, summarise, store), list, get,
 * delete. The JSON <-> spec translation is spec_json.c's, the SQL db_networks.c's.
 *
 * A definition is answered as it will be used: normalized by spec_to_json, every default
 * written out. The summary needs a built network; it is built without initialising its
 * weights (nn_new with no random state), so its parameter buffers, allocated zeroed, are
 * never touched and a network at the parameter cap costs address space, not memory.
 */
#include "handlers.h"
#include "spec_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_MAX 500

/* JSON text as the service stores and answers it: 15 significant digits, so a rate of
 * 0.2 reads 0.2 and not jansson's default 0.20000000000000001. New, NULL without memory. */
static char *dump(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(15));
}

static int storage_failed(struct reply *out)
{
    return reply_problem(out, 500, NULL, "the database failed; see the service's log");
}

/* A true/false query parameter: 0 with *out set (0 when absent), -1 when it is neither. */
static int bool_query(const struct req *r, const char *key, int *out)
{
    const char *v = req_query(r, key);
    *out = 0;
    if (!v || !strcmp(v, "false") || !strcmp(v, "0"))
        return 0;
    if (!strcmp(v, "true") || !strcmp(v, "1") || !*v)   /* "?dry_run" alone means true */
        return *out = 1, 0;
    return -1;
}

/* POST /v1/networks[?dry_run=true]: a definition (DESIGN.md) -> 201 with Location and
 * {"id", "name", "created_at", "definition", "summary", "warnings"}; with dry_run, 200
 * and the same without id and created_at, nothing stored. Every fault -> 422. */
int h_networks_create(struct req *r, struct reply *out)
{
    int dry;
    if (bool_query(r, "dry_run", &dry) < 0)
        return reply_param(out, 400, "dry_run", "dry_run must be true or false, not \"%.64s\"",
                             req_query(r, "dry_run"));
    if (!r->json)
        return reply_problem(out, 400, NULL, "the body must be a network definition in JSON "
                             "(Content-Type: application/json): {\"inputs\", \"layers\", "
                             "\"loss\"}");
    struct spec_json s;
    json_t *errors;
    if (spec_from_json(r->json, "", r->app->cfg.max_params, &s, &errors) < 0) {
        if (!errors)
            return reply_problem(out, 500, NULL, "the service ran out of memory");
        char first[1200];
        const json_t *e = json_array_get(errors, 0);
        const char *ptr = json_string_value(json_object_get(e, "pointer"));
        const char *detail = json_string_value(json_object_get(e, "detail"));
        snprintf(first, sizeof first, "%s: %s", ptr && *ptr ? ptr : "/", detail ? detail : "");
        size_t n = json_array_size(errors);
        return reply_problem(out, 422, errors, "the network definition is invalid (%zu "
                             "fault%s); %s", n, n == 1 ? "" : "s", first);
    }
    struct nn_error err = {{0}, {0}};
    struct nn_net *net = nn_new(&s.spec, r->app->cfg.max_params, NULL, &err);
    if (!net) {
        spec_json_free(&s);
        return reply_problem(out, 500, NULL, "cannot build the network: %s", err.msg);
    }
    json_t *summary = spec_summary(net);
    nn_free(net);
    json_t *warnings = spec_warnings(&s.spec, "");
    json_t *def = spec_to_json(&s.spec, s.name);
    json_t *body = json_object();
    char id[32], created[32];
    int rc = summary && warnings && def && body ? 0 : -1;
    if (!dry) {
        new_id(id, "net_");
        now_iso(created);
    }
    if (rc == 0 && ((!dry && json_object_set_new(body, "id", json_string(id)) < 0) ||
                    json_object_set_new(body, "name",
                                        s.name ? json_string(s.name) : json_null()) < 0 ||
                    (!dry && json_object_set_new(body, "created_at", json_string(created)) < 0) ||
                    json_object_set(body, "definition", def) < 0 ||
                    json_object_set(body, "summary", summary) < 0 ||
                    json_object_set(body, "warnings", warnings) < 0))
        rc = -1;
    if (rc == 0 && !dry) {
        char *d = dump(def), *su = dump(summary), *w = dump(warnings);
        rc = d && su && w ? network_insert(id, s.name, created, d, su, w) : -1;
        free(d);
        free(su);
        free(w);
        if (rc == 0)
            snprintf(out->location, sizeof out->location, "/v1/networks/%s", id);
    }
    json_decref(summary);
    json_decref(warnings);
    json_decref(def);
    spec_json_free(&s);
    if (rc < 0) {
        json_decref(body);
        return storage_failed(out);
    }
    return reply_json(out, dry ? 200 : 201, body);
}

/* GET /v1/networks[?limit=&after=]: {"items": [{"id", "name", "created_at", "inputs",
 * "outputs", "params"}...], "next": the id to pass as after, or null}. */
int h_networks_list(struct req *r, struct reply *out)
{
    int limit;
    if (req_limit(r, out, LIST_MAX, &limit) < 0)
        return 0;
    const char *after = req_query(r, "after");
    if (after && !*after)
        after = NULL;
    json_t *items;
    int more;
    int rc = network_list(limit, after, &items, &more);
    if (rc == 1)
        return reply_param(out, 400, "after", "after: no network with id %.64s (pass the "
                             "\"next\" of the previous page)", after);
    if (rc < 0)
        return storage_failed(out);
    json_t *last = json_array_get(items, json_array_size(items) - 1);
    json_t *next = more ? json_copy(json_object_get(last, "id")) : json_null();
    return reply_json(out, 200, json_pack("{s:o, s:o*}", "items", items, "next", next));
}

/* GET /v1/networks/{id}: as POST answered it; 404 for an unknown id. */
int h_networks_get(struct req *r, struct reply *out)
{
    json_t *v;
    int rc = network_get(r->param[0], &v);
    if (rc == 1)
        return reply_not_found(out, "network", r->param[0]);
    if (rc < 0)
        return storage_failed(out);
    return reply_json(out, 200, v);
}

/* DELETE /v1/networks/{id}: 204; 404 for an unknown id. Jobs keep their own copy of the
 * definition, so deleting a network that jobs used is fine. */
int h_networks_delete(struct req *r, struct reply *out)
{
    int rc = network_delete(r->param[0]);
    if (rc == 1)
        return reply_not_found(out, "network", r->param[0]);
    if (rc < 0)
        return storage_failed(out);
    out->status = 204;
    out->content_type = NULL;
    return 0;
}
