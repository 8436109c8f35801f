/* spec_json.h -- network definitions: JSON (the shape in DESIGN.md) to the engine's
 * spec and back, with every fault named by a JSON pointer ("/layers/2/units"); and the
 * stored networks of /v1/networks (db_networks.c). */
#ifndef SPEC_JSON_H
#define SPEC_JSON_H

#include "nn.h"

#include <jansson.h>

/* A spec built from JSON, with the memory it points into. */
struct spec_json {
    struct nn_spec spec;
    struct nn_layer_spec *layers;   /* all layers of the tree, owned; spec.layers and the
                                       residual bodies point into it */
    char *name;                     /* the definition's "name" (new), or NULL */
};

/* At most this many faults are listed; one more entry then says how many were left out. */
#define SPEC_MAX_ERRORS 100

/* Builds a spec from a definition. base is the pointer prefix of the definition in
 * the request ("" for a network body, "/network" inside a job; at most 255 bytes).
 * Returns 0 with *out filled (free it with spec_json_free), or -1 with *out zeroed and
 * *errors a new array of {"pointer", "detail"} naming every fault it found (at least
 * one): unknown or missing fields, wrong JSON types, out-of-range values, unknown names
 * (the detail lists the allowed ones), nesting or layer counts past the engine's limits.
 * Only when all fields are right does the engine's own check (nn_spec_check, with
 * max_params; 0: no cap) run, for what only it knows: residual widths, the parameter
 * cap, categorical_crossentropy with one output. def is only read; its depth is never
 * followed past NN_MAX_DEPTH, whatever the client sent. */
int spec_from_json(const json_t *def, const char *base, size_t max_params,
                   struct spec_json *out, json_t **errors);
/* Frees what spec_from_json filled and zeroes it; NULL or a zeroed struct is fine. */
void spec_json_free(struct spec_json *s);

/* A spec as a definition, every default written out ({"name"?, "inputs", "layers",
 * "loss", "metrics"}); spec_from_json of it gives the same spec. name may be NULL.
 * New; NULL when memory runs out. */
json_t *spec_to_json(const struct nn_spec *spec, const char *name);

/* The summary of a built network: {"inputs", "outputs", "params" (total), "layers":
 * [{"path", "type", "activation" (dense and activation layers), "depth", "outputs",
 * "params"}...]}, one row per layer of the tree in spec order (nn_summary). A network
 * built with nn_new(spec, max, NULL, ...) -- weights not initialised -- is enough.
 * New; NULL when memory runs out. */
json_t *spec_summary(const struct nn_net *net);
/* The engine's warnings for a valid spec: [{"pointer": base + where, "detail"}...].
 * New; NULL when memory runs out. */
json_t *spec_warnings(const struct nn_spec *spec, const char *base);

/* ---- stored networks (db_networks.c, the only place with their SQL) ---- */

/* Stores a network; the JSON texts are stored as given. name may be NULL. Returns 0, or
 * -1 on a storage error (logged). */
int network_insert(const char *id, const char *name, const char *created_at,
                   const char *definition, const char *summary, const char *warnings);
/* A stored network as GET /v1/networks/{id} answers it: {"id", "name", "created_at",
 * "definition", "summary", "warnings"}. Returns 0 with *out new, 1 when there is no
 * such network, -1 on a storage error. Jobs take json_object_get(*out, "definition"). */
int network_get(const char *id, json_t **out);
/* Up to limit networks in the order they were stored, starting after the network `after`
 * (NULL: from the first), as {"id", "name", "created_at", "inputs", "outputs",
 * "params"}. Returns 0 with *items a new array and *more set when there are more after
 * these, 1 when `after` names no network, -1 on a storage error. */
int network_list(int limit, const char *after, json_t **items, int *more);
/* Deletes a network. Returns 0, 1 when there is no such network, -1 on a storage error. */
int network_delete(const char *id);

#endif
