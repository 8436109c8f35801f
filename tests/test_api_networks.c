/* test_api_networks.c -- server/api/networks.c and server/store/networks.c: the handlers of
 * /v1/networks called directly against a temporary database (create, dry run, faults,
 * get, list with paging, delete, 404s), then the real binary on 127.0.0.1 driven with
 * libcurl using the example bodies of api/examples/. Expected counts are worked out by
 * hand: iris 4*16+16 + 16*3+3 = 131 parameters; fashion (docs/DESIGN.md) 269834. */
#include "api/api.h"
#include "srvutil.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char iris[] =
    "{\"name\": \"iris\", \"inputs\": 4, \"layers\": ["
    "{\"type\": \"dense\", \"units\": 16, \"activation\": \"relu\"},"
    "{\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}],"
    " \"loss\": \"categorical_crossentropy\", \"metrics\": [\"accuracy\"]}";

static void setup(void) { su_db_open(); }
static void teardown(void) { su_db_close(); }

/* POSTs a definition that must be stored; returns the reply body (new) and its id. */
static json_t *create(const char *body, char id[32])
{
    struct reply rp = su_call(h_networks_create, "POST", body, NULL, NULL);
    ck_assert_msg(rp.status == 201, "%d: %.*s", rp.status, (int)rp.len, rp.body);
    ck_assert_str_eq(rp.content_type, "application/json");
    json_t *j = su_json(&rp);
    const char *s = json_string_value(json_object_get(j, "id"));
    ck_assert_ptr_nonnull(s);
    snprintf(id, 32, "%s", s);
    char loc[128];
    snprintf(loc, sizeof loc, "/v1/networks/%s", id);
    ck_assert_str_eq(rp.location, loc);
    su_reply_free(&rp);
    return j;
}

/* The number of stored networks, through the list handler. */
static size_t stored(void)
{
    const char *q[] = {"limit", "500", NULL};
    struct reply rp = su_call(h_networks_list, "GET", NULL, NULL, q);
    ck_assert_int_eq(rp.status, 200);
    json_t *j = su_json(&rp);
    size_t n = json_array_size(json_object_get(j, "items"));
    json_decref(j);
    su_reply_free(&rp);
    return n;
}

/* ---- handlers ---- */

START_TEST(create_and_get)
{
    char id[32];
    json_t *made = create(iris, id);
    ck_assert(strncmp(id, "net_", 4) == 0 && strlen(id) > 10);
    ck_assert_str_eq(json_string_value(json_object_get(made, "name")), "iris");
    const char *at = json_string_value(json_object_get(made, "created_at"));
    ck_assert(at && strlen(at) == 24 && at[10] == 'T' && at[23] == 'Z');
    json_t *sum = json_object_get(made, "summary");
    ck_assert_int_eq(json_integer_value(json_object_get(sum, "params")), 131);
    ck_assert_int_eq(json_integer_value(json_object_get(sum, "inputs")), 4);
    ck_assert_int_eq(json_integer_value(json_object_get(sum, "outputs")), 3);
    ck_assert_int_eq(json_array_size(json_object_get(sum, "layers")), 2);
    ck_assert_int_eq(json_array_size(json_object_get(made, "warnings")), 0);
    /* the definition comes back with its defaults */
    json_t *l0 = json_array_get(json_object_get(json_object_get(made, "definition"), "layers"),
                                0);
    ck_assert_str_eq(json_string_value(json_object_get(l0, "init")), "auto");

    struct reply rp = su_call(h_networks_get, "GET", NULL, id, NULL);
    ck_assert_int_eq(rp.status, 200);
    json_t *got = su_json(&rp);
    ck_assert_msg(json_equal(got, made), "GET differs from POST: %.*s", (int)rp.len, rp.body);
    su_reply_free(&rp);
    json_decref(got);
    json_decref(made);
}
END_TEST

/* A sequence network: timesteps written back, per-layer steps and parameters in the
 * summary. lstm of 8 over 2 inputs: 4*8*2 + 4*8*8 + 4*8 = 352; dense 8+1 = 9. gru of 4
 * over 2 returning its 30 steps: 3*4*2 + 3*4*4 + 2*3*4 = 96, then dense 4+1 at every step. */
START_TEST(create_sequence_network)
{
    char id[32];
    json_t *made = create("{\"inputs\": 2, \"timesteps\": 30, \"layers\": ["
                          "{\"type\": \"lstm\", \"units\": 8},"
                          "{\"type\": \"dense\", \"units\": 1}], \"loss\": \"mse\"}", id);
    json_t *def = json_object_get(made, "definition");
    ck_assert_int_eq(json_integer_value(json_object_get(def, "timesteps")), 30);
    json_t *sum = json_object_get(made, "summary");
    ck_assert_int_eq(json_integer_value(json_object_get(sum, "inputs")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(sum, "timesteps")), 30);
    ck_assert_int_eq(json_integer_value(json_object_get(sum, "outputs")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(sum, "params")), 361);
    json_t *l0 = json_array_get(json_object_get(sum, "layers"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(l0, "type")), "lstm");
    ck_assert_int_eq(json_integer_value(json_object_get(l0, "params")), 352);
    ck_assert_int_eq(json_integer_value(json_object_get(l0, "outputs")), 8);
    ck_assert_ptr_null(json_object_get(l0, "steps"));   /* the last step only */
    struct reply rp = su_call(h_networks_get, "GET", NULL, id, NULL);
    json_t *got = su_json(&rp);
    ck_assert_msg(json_equal(got, made), "GET differs from POST: %.*s", (int)rp.len, rp.body);
    su_reply_free(&rp);
    json_decref(got);
    json_decref(made);

    made = create("{\"inputs\": 2, \"timesteps\": 30, \"layers\": ["
                  "{\"type\": \"gru\", \"units\": 4, \"return_sequences\": true},"
                  "{\"type\": \"dense\", \"units\": 1}], \"loss\": \"mse\"}", id);
    sum = json_object_get(made, "summary");
    ck_assert_int_eq(json_integer_value(json_object_get(sum, "outputs")), 30);
    json_t *ls = json_object_get(sum, "layers");
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(ls, 0), "params")), 96);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(ls, i), "steps")),
                         30);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(ls, 1), "params")), 5);
    json_decref(made);

    /* an ordinary network has no timesteps */
    made = create(iris, id);
    ck_assert_ptr_null(json_object_get(json_object_get(made, "definition"), "timesteps"));
    ck_assert_ptr_null(json_object_get(json_object_get(made, "summary"), "timesteps"));
    json_decref(made);
}
END_TEST

START_TEST(create_with_warnings)
{
    char id[32];
    json_t *made = create("{\"inputs\": 2, \"layers\": [{\"type\": \"dense\", \"units\": 1}],"
                          " \"loss\": \"mse\", \"metrics\": [\"accuracy\"]}", id);
    json_t *w = json_object_get(made, "warnings");
    ck_assert_int_eq(json_array_size(w), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(w, 0), "pointer")),
                     "/metrics");
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(json_array_get(w, 0),
                                                                   "detail")),
                                 "accuracy means nothing for a regression"));
    ck_assert(json_is_null(json_object_get(made, "name")));
    json_decref(made);
}
END_TEST

START_TEST(dry_run_stores_nothing)
{
    const char *q[] = {"dry_run", "true", NULL};
    struct reply rp = su_call(h_networks_create, "POST", iris, NULL, q);
    ck_assert_int_eq(rp.status, 200);
    ck_assert_str_eq(rp.location, "");
    json_t *j = su_json(&rp);
    ck_assert_ptr_null(json_object_get(j, "id"));
    ck_assert_ptr_nonnull(json_object_get(j, "definition"));
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "summary"),
                                                        "params")), 131);
    ck_assert_ptr_nonnull(json_object_get(j, "warnings"));
    json_decref(j);
    su_reply_free(&rp);
    ck_assert_int_eq(stored(), 0);

    /* a faulty one in a dry run: the same 422 */
    rp = su_call(h_networks_create, "POST", "{\"inputs\": 0}", NULL, q);
    ck_assert_int_eq(rp.status, 422);
    su_reply_free(&rp);

    /* dry_run=false stores */
    const char *no[] = {"dry_run", "false", NULL};
    rp = su_call(h_networks_create, "POST", iris, NULL, no);
    ck_assert_int_eq(rp.status, 201);
    su_reply_free(&rp);
    ck_assert_int_eq(stored(), 1);

    const char *bad[] = {"dry_run", "maybe", NULL};
    rp = su_call(h_networks_create, "POST", iris, NULL, bad);
    ck_assert_int_eq(rp.status, 400);
    ck_assert_str_eq(rp.content_type, "application/problem+json");
    su_reply_free(&rp);
    ck_assert_int_eq(stored(), 1);
}
END_TEST

START_TEST(invalid_is_422_with_every_fault)
{
    struct reply rp = su_call(h_networks_create, "POST",
                              "{\"inputs\": 4, \"layers\": [{\"type\": \"dense\", \"units\": "
                              "\"16\"}, {\"type\": \"dropout\", \"rate\": 1.5}], \"loss\": "
                              "\"mse\", \"metrics\": [\"recall\"]}", NULL, NULL);
    ck_assert_int_eq(rp.status, 422);
    ck_assert_str_eq(rp.content_type, "application/problem+json");
    json_t *j = su_json(&rp);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "status")), 422);
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(j, "detail")),
                                 "/layers/0/units"));
    json_t *errors = json_object_get(j, "errors");
    ck_assert_int_eq(json_array_size(errors), 3);
    const char *want[] = {"/layers/0/units", "/layers/1/rate", "/metrics/0"};
    for (int i = 0; i < 3; i++)
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(errors, i),
                                                            "pointer")), want[i]);
    json_decref(j);
    su_reply_free(&rp);

    /* a relu output under categorical_crossentropy learns nothing: refused at its
     * activation, saying to use softmax */
    rp = su_call(h_networks_create, "POST",
                 "{\"inputs\": 4, \"layers\": [{\"type\": \"dense\", \"units\": 8, "
                 "\"activation\": \"relu\"}, {\"type\": \"dense\", \"units\": 3, "
                 "\"activation\": \"relu\"}], \"loss\": \"categorical_crossentropy\"}",
                 NULL, NULL);
    ck_assert_int_eq(rp.status, 422);
    j = su_json(&rp);
    json_t *e0 = json_array_get(json_object_get(j, "errors"), 0);
    ck_assert_int_eq(json_array_size(json_object_get(j, "errors")), 1);
    ck_assert_str_eq(json_string_value(json_object_get(e0, "pointer")), "/layers/1/activation");
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(e0, "detail")),
                                 "use softmax"));
    json_decref(j);
    su_reply_free(&rp);
    ck_assert_int_eq(stored(), 0);

    /* over the service's parameter cap (50M): 8192 x 8192 twice */
    rp = su_call(h_networks_create, "POST",
                 "{\"inputs\": 8192, \"layers\": [{\"type\": \"dense\", \"units\": 8192}, "
                 "{\"type\": \"dense\", \"units\": 8192}], \"loss\": \"mse\"}", NULL, NULL);
    ck_assert_int_eq(rp.status, 422);
    j = su_json(&rp);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(j, "errors"), 0), "pointer")), "");
    json_decref(j);
    su_reply_free(&rp);

    /* no body at all */
    rp = su_call(h_networks_create, "POST", NULL, NULL, NULL);
    ck_assert_int_eq(rp.status, 400);
    su_reply_free(&rp);

    /* a body that is JSON but not an object */
    rp = su_call(h_networks_create, "POST", "[]", NULL, NULL);
    ck_assert_int_eq(rp.status, 422);
    su_reply_free(&rp);
    ck_assert_int_eq(stored(), 0);
}
END_TEST

START_TEST(list_pages)
{
    char ids[5][32];
    for (int i = 0; i < 5; i++) {
        char body[512];
        snprintf(body, sizeof body, "{\"name\": \"n%d\", \"inputs\": %d, \"layers\": "
                 "[{\"type\": \"dense\", \"units\": 2}], \"loss\": \"mse\"}", i, i + 1);
        json_decref(create(body, ids[i]));
    }
    /* default limit: all five, in the order they were stored */
    struct reply rp = su_call(h_networks_list, "GET", NULL, NULL, NULL);
    ck_assert_int_eq(rp.status, 200);
    json_t *j = su_json(&rp);
    json_t *items = json_object_get(j, "items");
    ck_assert_int_eq(json_array_size(items), 5);
    ck_assert(json_is_null(json_object_get(j, "next")));
    json_t *it = json_array_get(items, 2);
    ck_assert_str_eq(json_string_value(json_object_get(it, "id")), ids[2]);
    ck_assert_str_eq(json_string_value(json_object_get(it, "name")), "n2");
    ck_assert_int_eq(json_integer_value(json_object_get(it, "inputs")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(it, "outputs")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(it, "params")), 3 * 2 + 2);
    ck_assert_ptr_nonnull(json_object_get(it, "created_at"));
    json_decref(j);
    su_reply_free(&rp);

    /* pages of two: 2 + 2 + 1, following next */
    char after[32] = "";
    int seen = 0;
    for (int page = 0; page < 3; page++) {
        const char *q[] = {"limit", "2", *after ? "after" : NULL, after, NULL};
        rp = su_call(h_networks_list, "GET", NULL, NULL, q);
        ck_assert_int_eq(rp.status, 200);
        j = su_json(&rp);
        items = json_object_get(j, "items");
        ck_assert_int_eq(json_array_size(items), page < 2 ? 2 : 1);
        for (size_t i = 0; i < json_array_size(items); i++)
            ck_assert_str_eq(json_string_value(json_object_get(json_array_get(items, i), "id")),
                             ids[seen++]);
        json_t *next = json_object_get(j, "next");
        if (page < 2) {
            ck_assert_str_eq(json_string_value(next), ids[seen - 1]);
            snprintf(after, sizeof after, "%s", json_string_value(next));
        } else {
            ck_assert(json_is_null(next));
        }
        json_decref(j);
        su_reply_free(&rp);
    }
    ck_assert_int_eq(seen, 5);

    /* exactly a page's worth left: next is null */
    const char *q4[] = {"limit", "4", "after", ids[0], NULL};
    rp = su_call(h_networks_list, "GET", NULL, NULL, q4);
    j = su_json(&rp);
    ck_assert_int_eq(json_array_size(json_object_get(j, "items")), 4);
    ck_assert(json_is_null(json_object_get(j, "next")));
    json_decref(j);
    su_reply_free(&rp);

    /* bad paging parameters, as on every list: a limit is digits only (it took "+5"), up
     * to 1000 */
    const char *bad[][4] = {{"limit", "0"}, {"limit", "1001"}, {"limit", "2x"},
                            {"limit", ""}, {"after", "net_nosuchthing"}, {"limit", "+5"},
                            {"limit", " 5"}};
    for (int i = 0; i < 7; i++) {
        const char *q[] = {bad[i][0], bad[i][1], NULL};
        rp = su_call(h_networks_list, "GET", NULL, NULL, q);
        ck_assert_msg(rp.status == 400, "%s=%s gave %d", bad[i][0], bad[i][1], rp.status);
        ck_assert_str_eq(rp.content_type, "application/problem+json");
        su_reply_free(&rp);
    }
}
END_TEST

START_TEST(delete_and_404)
{
    char id[32], other[32];
    json_decref(create(iris, id));
    json_decref(create(iris, other));
    struct reply rp = su_call(h_networks_delete, "DELETE", NULL, id, NULL);
    ck_assert_int_eq(rp.status, 204);
    ck_assert_uint_eq(rp.len, 0);
    su_reply_free(&rp);

    rp = su_call(h_networks_get, "GET", NULL, id, NULL);
    ck_assert_int_eq(rp.status, 404);
    ck_assert_str_eq(rp.content_type, "application/problem+json");
    su_reply_free(&rp);
    rp = su_call(h_networks_delete, "DELETE", NULL, id, NULL);
    ck_assert_int_eq(rp.status, 404);
    su_reply_free(&rp);
    rp = su_call(h_networks_get, "GET", NULL, "net_'; DROP TABLE networks; --", NULL);
    ck_assert_int_eq(rp.status, 404);
    su_reply_free(&rp);

    /* the other one is untouched */
    rp = su_call(h_networks_get, "GET", NULL, other, NULL);
    ck_assert_int_eq(rp.status, 200);
    su_reply_free(&rp);
    ck_assert_int_eq(stored(), 1);
}
END_TEST

/* ---- the real binary ---- */

/* POSTs an example file; checks 201, Location, and that GET Location gives the same. */
static void post_example(const struct server *s, const char *file, long params,
                         const char *name)
{
    size_t len;
    char *body = tu_slurp(file, &len);
    struct http_reply h = su_http(s, "POST", "/v1/networks", body, len, "application/json");
    ck_assert_msg(h.status == 201, "%s: %ld %s", file, h.status, h.body);
    ck_assert_str_eq(h.ctype, "application/json");
    json_t *made = su_http_json(&h);
    const char *id = json_string_value(json_object_get(made, "id"));
    char loc[128];
    snprintf(loc, sizeof loc, "/v1/networks/%s", id);
    ck_assert_str_eq(h.location, loc);
    ck_assert_str_eq(json_string_value(json_object_get(made, "name")), name);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(made, "summary"),
                                                        "params")), params);
    /* the definition answered is the example with its defaults filled in */
    json_error_t e;
    json_t *posted = json_loads(body, 0, &e);
    json_t *def = json_object_get(made, "definition");
    ck_assert_int_eq(json_integer_value(json_object_get(def, "inputs")),
                     json_integer_value(json_object_get(posted, "inputs")));
    ck_assert_int_eq(json_array_size(json_object_get(def, "layers")),
                     json_array_size(json_object_get(posted, "layers")));
    ck_assert(json_equal(json_object_get(def, "loss"), json_object_get(posted, "loss")));
    ck_assert(json_equal(json_object_get(def, "metrics"), json_object_get(posted, "metrics")));
    json_decref(posted);

    struct http_reply g = su_http(s, "GET", loc, NULL, 0, NULL);
    ck_assert_int_eq(g.status, 200);
    json_t *got = su_http_json(&g);
    ck_assert_msg(json_equal(got, made), "GET %s differs from the POST's answer", loc);
    json_decref(got);
    su_http_free(&g);
    json_decref(made);
    su_http_free(&h);
    free(body);
}

START_TEST(e2e_examples)
{
    struct server s = {0};
    su_start(&s, NULL);
    post_example(&s, "api/examples/network_iris.json", 131, "iris-mlp");
    post_example(&s, "api/examples/network_fashion.json", 269834, "fashion-mlp");

    struct http_reply h = su_http(&s, "GET", "/v1/networks?limit=1", NULL, 0, NULL);
    ck_assert_int_eq(h.status, 200);
    json_t *j = su_http_json(&h);
    ck_assert_int_eq(json_array_size(json_object_get(j, "items")), 1);
    const char *next = json_string_value(json_object_get(j, "next"));
    ck_assert_ptr_nonnull(next);
    char path[128];
    snprintf(path, sizeof path, "/v1/networks?limit=1&after=%s", next);
    struct http_reply h2 = su_http(&s, "GET", path, NULL, 0, NULL);
    json_t *j2 = su_http_json(&h2);
    json_t *second = json_array_get(json_object_get(j2, "items"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(second, "name")), "fashion-mlp");
    ck_assert(json_is_null(json_object_get(j2, "next")));

    /* dry run over HTTP */
    size_t len;
    char *body = tu_slurp("api/examples/network_iris.json", &len);
    struct http_reply d = su_http(&s, "POST", "/v1/networks?dry_run=true", body, len,
                                  "application/json");
    ck_assert_int_eq(d.status, 200);
    ck_assert_str_eq(d.location, "");
    su_http_free(&d);
    free(body);

    /* delete the second; it is gone, the first stays */
    snprintf(path, sizeof path, "/v1/networks/%s",
             json_string_value(json_object_get(second, "id")));
    d = su_http(&s, "DELETE", path, NULL, 0, NULL);
    ck_assert_int_eq(d.status, 204);
    su_http_free(&d);
    d = su_http(&s, "GET", path, NULL, 0, NULL);
    ck_assert_int_eq(d.status, 404);
    ck_assert_str_eq(d.ctype, "application/problem+json");
    su_http_free(&d);
    d = su_http(&s, "GET", "/v1/networks", NULL, 0, NULL);
    json_t *all = su_http_json(&d);
    ck_assert_int_eq(json_array_size(json_object_get(all, "items")), 1);
    json_decref(all);
    su_http_free(&d);

    json_decref(j2);
    su_http_free(&h2);
    json_decref(j);
    su_http_free(&h);
    su_stop(&s, 0);
    su_cleanup(&s);
}
END_TEST

/* Builds "{inputs, layers: [residual: [residual: ... [dense] ...]], loss}" n deep. */
static char *deep_body(int n)
{
    const char *open = "[{\"type\": \"residual\", \"layers\": ", *close = "}]";
    const char *head = "{\"inputs\": 4, \"layers\": ", *mid = "[{\"type\": \"dense\", "
                       "\"units\": 4}]", *tail = ", \"loss\": \"mse\"}";
    size_t len = strlen(head) + n * (strlen(open) + strlen(close)) + strlen(mid) +
                 strlen(tail) + 1;
    char *b = malloc(len), *p = b;
    p += sprintf(p, "%s", head);
    for (int i = 0; i < n; i++)
        p += sprintf(p, "%s", open);
    p += sprintf(p, "%s", mid);
    for (int i = 0; i < n; i++)
        p += sprintf(p, "%s", close);
    sprintf(p, "%s", tail);
    return b;
}

START_TEST(e2e_hostile_bodies)
{
    struct server s = {0};
    su_start(&s, NULL);
    /* nested 1000 deep (jansson parses it): one fault, at the 16th residual */
    char *b = deep_body(1000);
    struct http_reply h = su_http(&s, "POST", "/v1/networks", b, strlen(b), "application/json");
    ck_assert_int_eq(h.status, 422);
    ck_assert_str_eq(h.ctype, "application/problem+json");
    json_t *j = su_http_json(&h);
    ck_assert_int_eq(json_array_size(json_object_get(j, "errors")), 1);
    json_decref(j);
    su_http_free(&h);
    free(b);
    /* nested 100000 deep: refused by the JSON parser */
    b = deep_body(100000);
    h = su_http(&s, "POST", "/v1/networks", b, strlen(b), "application/json");
    ck_assert_int_eq(h.status, 400);
    su_http_free(&h);
    free(b);
    /* 100000 layers in one array: refused at the 4097th (written with room to spare:
     * compact, its values would take over 16 times its size, a 413) */
    const char *layer = "{\"type\": \"dense\", \"units\": 4}            ,";
    size_t n = 100000, len = n * strlen(layer) + 64;
    b = malloc(len);
    char *p = b + sprintf(b, "{\"inputs\": 4, \"loss\": \"mse\", \"layers\": [");
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s", layer);
    sprintf(p - 1, "]}");
    h = su_http(&s, "POST", "/v1/networks", b, strlen(b), "application/json");
    ck_assert_int_eq(h.status, 422);
    j = su_http_json(&h);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(j, "errors"), 0), "pointer")),
                     "/layers/4096");
    json_decref(j);
    su_http_free(&h);
    free(b);
    /* malformed JSON, a wrong type */
    h = su_http(&s, "POST", "/v1/networks", "{\"inputs\": ", 11, "application/json");
    ck_assert_int_eq(h.status, 400);
    su_http_free(&h);
    h = su_http(&s, "POST", "/v1/networks", "inputs=4", 8, "text/plain");
    ck_assert_int_eq(h.status, 415);
    su_http_free(&h);
    /* still up, nothing stored */
    h = su_http(&s, "GET", "/v1/networks", NULL, 0, NULL);
    ck_assert_int_eq(h.status, 200);
    j = su_http_json(&h);
    ck_assert_int_eq(json_array_size(json_object_get(j, "items")), 0);
    json_decref(j);
    su_http_free(&h);
    su_stop(&s, 0);
    su_cleanup(&s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("h_networks");
    TCase *h = tcase_create("handlers");
    tcase_add_checked_fixture(h, setup, teardown);
    tcase_add_test(h, create_and_get);
    tcase_add_test(h, create_sequence_network);
    tcase_add_test(h, create_with_warnings);
    tcase_add_test(h, dry_run_stores_nothing);
    tcase_add_test(h, invalid_is_422_with_every_fault);
    tcase_add_test(h, list_pages);
    tcase_add_test(h, delete_and_404);
    suite_add_tcase(s, h);
    TCase *e = tcase_create("e2e");
    tcase_set_timeout(e, 60);
    tcase_add_test(e, e2e_examples);
    tcase_add_test(e, e2e_hostile_bodies);
    suite_add_tcase(s, e);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
