/* contract_dump.c -- what the code accepts, as JSON on stdout, for tests/contract.test.mjs
 * to hold api/openapi.yaml against: every layer kind's fields (nn_kind_desc), the network's
 * (nn_spec_desc), and a job's options (nn_train_desc, the service's tables, each
 * optimizer's nn_opt_desc). Each field: its name, JSON type, bounds as JSON Schema words
 * (minimum or exclusiveMinimum, maximum or exclusiveMaximum), default, names (enum), and
 * whether it is required. And the route table: each route's method, pattern and the query
 * parameters it takes ("*": any). */
#include "api/api.h"
#include "domain/domain.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static json_t *field_json(const struct nn_field *f)
{
    static const char *const types[] = {[NN_FT_INT] = "integer", [NN_FT_FLOAT] = "number",
                                        [NN_FT_BOOL] = "boolean", [NN_FT_NAME] = "string",
                                        [NN_FT_U64] = "integer", [NN_FT_LAYERS] = "layers",
                                        [NN_FT_DOUBLE] = "number"};
    json_t *o = json_pack("{s:s, s:s, s:b}", "name", f->name, "type", types[f->type],
                          "required", (f->flags & NN_FIELD_REQUIRED) != 0);
    int number = f->type == NN_FT_INT || f->type == NN_FT_U64 || f->type == NN_FT_FLOAT ||
                 f->type == NN_FT_DOUBLE;
    if (number && isfinite(f->lo))
        json_object_set_new(o, f->flags & NN_FIELD_LO_OPEN ? "exclusiveMinimum" : "minimum",
                            json_real(f->lo));
    if (number && isfinite(f->hi))
        json_object_set_new(o, f->flags & NN_FIELD_HI_OPEN ? "exclusiveMaximum" : "maximum",
                            json_real(f->hi));
    if (f->type == NN_FT_NAME) {
        json_t *names = json_array();
        for (int i = 0; i < f->nnames; i++)
            json_array_append_new(names, json_string(f->names[i]));
        json_object_set_new(o, "enum", names);
    }
    if (!(f->flags & (NN_FIELD_REQUIRED | NN_FIELD_DEFAULT_VARIES)) && f->type != NN_FT_LAYERS) {
        json_t *def = f->type == NN_FT_BOOL   ? json_boolean(f->def != 0)
                      : f->type == NN_FT_NAME ? json_string(f->names[(int)f->def])
                                              : json_real(f->def);
        json_object_set_new(o, "default", def);
    }
    return o;
}

static json_t *table_json(const struct nn_field *t, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, field_json(&t[i]));
    return a;
}

int main(void)
{
    json_t *layers = json_object(), *optimizers = json_object();
    for (int k = 0; k < NN_KIND_COUNT; k++) {
        const struct nn_kind_desc *d = nn_kind_desc(k);
        json_object_set_new(layers, d->name, table_json(d->fields, d->nfields));
    }
    for (int t = 0; t < NN_OPT_COUNT; t++) {
        const struct nn_kind_desc *d = nn_opt_desc(t);
        json_object_set_new(optimizers, d->name, table_json(d->fields, d->nfields));
    }
    json_t *job = table_json(nn_train_desc.fields, nn_train_desc.nfields), *parts = json_object();
    const struct named_table *tables;
    int n = job_tables(&tables);
    for (int i = 0; i < n; i++) {
        json_t *fields = table_json(tables[i].table.t, tables[i].table.n);
        if (!*tables[i].where)
            json_array_extend(job, fields);
        else
            json_object_set(parts, tables[i].where + 1, fields);
        json_decref(fields);
    }
    json_t *rts = json_array();
    for (int i = 0; i < nroutes; i++) {
        const char *q = routes[i].query;
        json_t *names = q && !strcmp(q, "*") ? json_string("*") : json_array();
        for (const char *p = q; json_is_array(names) && p && *p;) {
            size_t w = strcspn(p, " ");
            json_array_append_new(names, json_stringn(p, w));
            p += w + strspn(p + w, " ");
        }
        json_array_append_new(rts, json_pack("{s:s, s:s, s:o}", "method", routes[i].method,
                                             "pattern", routes[i].pattern, "query", names));
    }
    json_t *all = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "layers", layers, "network",
                            table_json(nn_spec_desc.fields, nn_spec_desc.nfields), "job", job,
                            "job_parts", parts, "optimizers", optimizers, "routes", rts);
    char *s = json_dumps(all, JSON_INDENT(1) | JSON_REAL_PRECISION(17));
    puts(s);
    free(s);
    json_decref(all);
    return 0;
}
