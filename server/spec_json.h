/* spec_json.h -- network definitions: JSON (the shape in DESIGN.md) to the engine's
 * spec and back, with every fault named by a JSON pointer ("/layers/2/units"). */
#ifndef SPEC_JSON_H
#define SPEC_JSON_H

#include "nn.h"

#include <jansson.h>

/* A spec built from JSON, with the memory it points into. */
struct spec_json {
    struct nn_spec spec;
    struct nn_layer_spec *layers;   /* all layers of the tree, owned */
    char *name;                     /* the definition's "name", or NULL */
};

/* Builds a spec from a definition. base is the pointer prefix of the definition in
 * the request ("" for a network body, "/network" inside a job). Returns 0, or -1 with
 * *errors a new array of {"pointer", "detail"} naming every fault it found (at least one);
 * the engine's own check (nn_spec_check, with max_params) runs last. */
int spec_from_json(const json_t *def, const char *base, size_t max_params,
                   struct spec_json *out, json_t **errors);
void spec_json_free(struct spec_json *s);

/* The summary of a built network: {"layers": [{"path","type","outputs","params"}...],
 * "params": total, "inputs", "outputs"}; new. */
json_t *spec_summary(const struct nn_net *net);
/* The engine's warnings for a spec: [{"pointer", "detail"}...]; new. */
json_t *spec_warnings(const struct nn_spec *spec, const char *base);

#endif
