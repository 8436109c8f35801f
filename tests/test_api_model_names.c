/* test_api_model_names.c -- models by name and version, against the real binary on
 * 127.0.0.1: a job's model_name makes its model that name's next version (1, 2, 3, also
 * for jobs that end at once on several workers); every model route answers name,
 * name@version and name@alias with the model its id names; aliases are set, moved and
 * deleted; a version an alias points at cannot be deleted; names and aliases that could
 * be taken for something else are refused; and a database from before keeps its models,
 * unnamed. */
#include "api/api.h"
#include "domain/domain.h"
#include "srvutil.h"
#include "store/db.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define J "application/json"

/* A request with a JSON body (or none); its status must be want. The answer as JSON
 * (new), or NULL for a 204. */
static json_t *call(const struct server *s, const char *method, const char *path,
                    const char *body, long want)
{
    struct http_reply h = su_http(s, method, path, body, body ? strlen(body) : 0,
                                  body ? J : NULL);
    ck_assert_msg(h.status == want, "%s %s: %ld, not %ld: %s", method, path, h.status, want,
                  h.body);
    json_t *j = h.len ? su_http_json(&h) : NULL;
    su_http_free(&h);
    return j;
}

/* The detail of a problem answered with status want to method path (new string), which
 * must contain `has`. */
static void problem(const struct server *s, const char *method, const char *path,
                    const char *body, long want, const char *has)
{
    json_t *p = call(s, method, path, body, want);
    const char *d = su_str(p, "detail");
    ck_assert_msg(strstr(d, has), "%s %s: \"%s\" does not say \"%s\"", method, path, d, has);
    json_decref(p);
}

/* Queues a job of network net on dataset ds leaving a model named name (NULL: none),
 * with its seed; waits for it to succeed. Its model's id (new). */
static char *job(const struct server *s, const char *ds, const char *net, const char *name,
                 int seed)
{
    char body[512];
    snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\", \"epochs\": 3, "
             "\"seed\": %d%s%s%s}", net, ds, seed, name ? ", \"model_name\": \"" : "",
             name ? name : "", name ? "\"" : "");
    char *id = su_post_id(s, "/v1/jobs", body, 202);
    json_t *j = su_job_wait(s, id, NULL, 60);
    ck_assert_str_eq(su_str(j, "state"), "succeeded");
    if (name)
        ck_assert_str_eq(su_str(j, "model_name"), name);
    else
        ck_assert_ptr_null(json_object_get(j, "model_name"));
    char *model = strdup(su_str(j, "model"));
    json_decref(j);
    free(id);
    return model;
}

/* GET /v1/models/{ref}. New. */
static json_t *model(const struct server *s, const char *ref)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/models/%s", ref);
    return su_get_json(s, path);
}

/* The id the reference names, checked against the id expected. */
static void names(const struct server *s, const char *ref, const char *id)
{
    json_t *m = model(s, ref);
    ck_assert_msg(!strcmp(su_str(m, "id"), id), "%s names %s, not %s", ref, su_str(m, "id"), id);
    json_decref(m);
}

/* The ids of the items of a list (GET path) joined by spaces, into out. */
static char *ids(const struct server *s, const char *path, char *out, size_t cap)
{
    json_t *l = su_get_json(s, path);
    size_t i;
    json_t *v;
    *out = 0;
    json_array_foreach(json_object_get(l, "items"), i, v)
        snprintf(out + strlen(out), cap - strlen(out), "%s%s", i ? " " : "", su_str(v, "id"));
    json_decref(l);
    return out;
}

static void start(struct server *s, const char *workers, char **ds, char **net)
{
    const char *const args[] = {"--workers", workers, "--threads", "1", NULL};
    su_start(s, args);
    *ds = su_dataset(s, 60, 4, 1);
    *net = su_network(s, 4, 8);
}

static void finish(struct server *s, char *ds, char *net)
{
    su_stop(s, 0);
    su_cleanup(s);
    free(ds);
    free(net);
}

/* Three jobs under one name are its versions 1, 2 and 3; a job without model_name leaves
 * a model without a name; the lists of a name's versions are newest first and page. */
START_TEST(versions_from_jobs)
{
    struct server s = {0};
    char *ds, *net, *v[3], path[256], got[512], want[512];
    start(&s, "1", &ds, &net);
    for (int k = 0; k < 3; k++)
        v[k] = job(&s, ds, net, "iris", k + 1);
    char *plain = job(&s, ds, net, NULL, 9);
    for (int k = 0; k < 3; k++) {
        json_t *m = model(&s, v[k]);
        ck_assert_str_eq(su_str(m, "name"), "iris");
        ck_assert_int_eq(su_int(m, "version"), k + 1);
        ck_assert_int_eq(json_array_size(json_object_get(m, "aliases")), 0);
        json_decref(m);
    }
    json_t *m = model(&s, plain);
    ck_assert(json_is_null(json_object_get(m, "name")));
    ck_assert(json_is_null(json_object_get(m, "version")));
    json_decref(m);

    names(&s, "iris", v[2]);   /* the latest */
    for (int k = 0; k < 3; k++) {
        snprintf(path, sizeof path, "iris@%d", k + 1);
        names(&s, path, v[k]);
    }
    snprintf(want, sizeof want, "%s %s %s", v[2], v[1], v[0]);
    ck_assert_str_eq(ids(&s, "/v1/models?name=iris", got, sizeof got), want);
    ck_assert_str_eq(ids(&s, "/v1/models/iris/versions", got, sizeof got), want);
    /* paged: two, then the one after the second */
    json_t *l = su_get_json(&s, "/v1/models/iris/versions?limit=2");
    ck_assert_int_eq(json_array_size(json_object_get(l, "items")), 2);
    ck_assert_str_eq(su_str(l, "next"), v[1]);
    json_decref(l);
    snprintf(path, sizeof path, "/v1/models?name=iris&limit=2&after=%s", v[1]);
    ck_assert_str_eq(ids(&s, path, got, sizeof got), v[0]);
    /* an after that is not one of the name's versions */
    snprintf(path, sizeof path, "/v1/models?name=iris&after=%s", plain);
    problem(&s, "GET", path, NULL, 400, "after");
    /* every model, in the order they were stored, as before */
    snprintf(want, sizeof want, "%s %s %s %s", v[0], v[1], v[2], plain);
    ck_assert_str_eq(ids(&s, "/v1/models", got, sizeof got), want);
    /* a name no model has: no versions */
    ck_assert_str_eq(ids(&s, "/v1/models?name=nothing", got, sizeof got), "");
    for (int k = 0; k < 3; k++)
        free(v[k]);
    free(plain);
    finish(&s, ds, net);
}
END_TEST

/* Jobs under one name that end at once on three workers get distinct consecutive
 * versions, 1 to N, as do those of a second name trained beside them. */
START_TEST(versions_under_concurrent_jobs)
{
    enum { N = 6 };
    struct server s = {0};
    char *ds, *net, body[512], *jobs[2 * N];
    /* every job queued on a service without workers, which then restarts with three:
     * they find twelve jobs waiting, so three run at once from the start */
    start(&s, "0", &ds, &net);
    for (int k = 0; k < 2 * N; k++) {
        snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\", \"epochs\": 200, "
                 "\"seed\": %d, \"model_name\": \"%s\"}", net, ds, k, k % 2 ? "odd" : "even");
        jobs[k] = su_post_id(&s, "/v1/jobs", body, 202);
    }
    su_stop(&s, 0);
    static const char *const three[] = {"--workers", "3", "--threads", "1", NULL};
    su_start(&s, three);
    int seen[2][N + 1] = {{0}};
    char began[2 * N][32], ended[2 * N][32];
    for (int k = 0; k < 2 * N; k++) {
        json_t *j = su_job_wait(&s, jobs[k], NULL, 120);
        if (strcmp(su_str(j, "state"), "succeeded") != 0) {
            char *why = json_dumps(json_object_get(j, "error"), JSON_COMPACT);
            ck_abort_msg("job %d ended %s: %s", k, su_str(j, "state"), why ? why : "no error");
        }
        snprintf(began[k], sizeof began[k], "%s", su_str(j, "started_at"));
        snprintf(ended[k], sizeof ended[k], "%s", su_str(j, "finished_at"));
        json_t *m = model(&s, su_str(j, "model"));
        ck_assert_str_eq(su_str(m, "name"), k % 2 ? "odd" : "even");
        long v = su_int(m, "version");
        ck_assert_msg(v >= 1 && v <= N, "version %ld", v);
        ck_assert_msg(!seen[k % 2][v]++, "version %ld of %s given twice", v,
                      k % 2 ? "odd" : "even");
        json_decref(m);
        json_decref(j);
        free(jobs[k]);
    }
    /* they did train at once: jobs of one name whose runs overlap (the times are RFC
     * 3339 UTC with milliseconds, which sort as text) */
    int overlaps = 0;
    for (int a = 0; a < 2 * N; a++)
        for (int b = a + 2; b < 2 * N; b += 2)
            overlaps += strcmp(began[a], ended[b]) < 0 && strcmp(began[b], ended[a]) < 0;
    ck_assert_msg(overlaps > 0, "no two jobs of one name ran at once");
    json_t *l = su_get_json(&s, "/v1/models/even/versions");
    ck_assert_int_eq(json_array_size(json_object_get(l, "items")), N);
    for (int k = 0; k < N; k++)   /* newest first: N, N-1, ... 1 */
        ck_assert_int_eq(su_int(json_array_get(json_object_get(l, "items"), k), "version"),
                         N - k);
    json_decref(l);
    finish(&s, ds, net);
}
END_TEST

/* The answer of method path with a JSON body, as text (new). */
static char *text(const struct server *s, const char *method, const char *path,
                  const char *body)
{
    json_t *j = call(s, method, path, body, 200);
    char *t = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(j);
    return t;
}

/* Every model route -- GET, /weights, /predict -- answers the same by id, by name (the
 * latest), by name@version and by name@alias; another version answers otherwise. */
START_TEST(every_route_by_reference)
{
    struct server s = {0};
    char *ds, *net, *v[3];
    start(&s, "1", &ds, &net);
    for (int k = 0; k < 3; k++)
        v[k] = job(&s, ds, net, "flowers", 10 + k);
    json_decref(call(&s, "PUT", "/v1/models/flowers/aliases/production", "{\"version\": 2}",
                     201));
    static const char in[] = "{\"inputs\": [[0.1, 2.0, -1.0, 4.0], [2.0, 2.0, 2.0, 2.0]]}";
    struct { const char *ref; int k; } refs[] = {
        {"flowers", 2}, {"flowers@3", 2}, {"flowers@1", 0}, {"flowers@2", 1},
        {"flowers@production", 1},
    };
    for (size_t r = 0; r < sizeof refs / sizeof refs[0]; r++) {
        const char *id = v[refs[r].k];
        char by_id[128], by_ref[128];
        for (int route = 0; route < 3; route++) {
            const char *tail = route == 0 ? "" : route == 1 ? "/weights" : "/predict";
            const char *method = route == 2 ? "POST" : "GET", *body = route == 2 ? in : NULL;
            snprintf(by_id, sizeof by_id, "/v1/models/%s%s", id, tail);
            snprintf(by_ref, sizeof by_ref, "/v1/models/%s%s", refs[r].ref, tail);
            char *a = text(&s, method, by_id, body), *b = text(&s, method, by_ref, body);
            ck_assert_msg(!strcmp(a, b), "%s answers otherwise than %s", by_ref, by_id);
            free(a);
            free(b);
        }
        /* the predict answer names the model by its id */
        snprintf(by_ref, sizeof by_ref, "/v1/models/%s/predict", refs[r].ref);
        json_t *p = call(&s, "POST", by_ref, in, 200);
        ck_assert_str_eq(su_str(p, "model"), id);
        json_decref(p);
    }
    /* versions differ: their outputs are not the same */
    char *a = text(&s, "POST", "/v1/models/flowers@1/predict", in);
    char *b = text(&s, "POST", "/v1/models/flowers@2/predict", in);
    ck_assert_str_ne(a, b);
    free(a);
    free(b);
    /* the model answer shows its name, version and aliases */
    json_t *m = model(&s, "flowers@production");
    ck_assert_str_eq(su_str(m, "name"), "flowers");
    ck_assert_int_eq(su_int(m, "version"), 2);
    json_t *al = json_object_get(m, "aliases");
    ck_assert_int_eq(json_array_size(al), 1);
    ck_assert_str_eq(json_string_value(json_array_get(al, 0)), "production");
    json_decref(m);
    for (int k = 0; k < 3; k++)
        free(v[k]);
    finish(&s, ds, net);
}
END_TEST

/* An alias is set (201), moved (200), read and listed, and deleted (204). A version an
 * alias points at cannot be deleted (409 naming the alias; nothing deleted) until the
 * alias moves; deleting the latest version makes the name the one before; a deleted
 * version's number is not given again. */
START_TEST(aliases_and_refused_deletes)
{
    struct server s = {0};
    char *ds, *net, *v[4], path[256];
    start(&s, "1", &ds, &net);
    for (int k = 0; k < 3; k++)
        v[k] = job(&s, ds, net, "iris", k + 1);

    json_t *a = call(&s, "PUT", "/v1/models/iris/aliases/production", "{\"version\": 1}", 201);
    ck_assert_str_eq(su_str(a, "alias"), "production");
    ck_assert_int_eq(su_int(a, "version"), 1);
    ck_assert_str_eq(su_str(a, "model"), v[0]);
    json_decref(a);
    names(&s, "iris@production", v[0]);
    a = call(&s, "PUT", "/v1/models/iris/aliases/production", "{\"version\": 2}", 200);
    ck_assert_str_eq(su_str(a, "model"), v[1]);
    json_decref(a);
    names(&s, "iris@production", v[1]);
    json_decref(call(&s, "PUT", "/v1/models/iris/aliases/staging.eu", "{\"version\": 2}", 201));
    a = call(&s, "GET", "/v1/models/iris/aliases/production", NULL, 200);
    ck_assert_int_eq(su_int(a, "version"), 2);
    json_decref(a);
    a = call(&s, "GET", "/v1/models/iris/aliases", NULL, 200);
    json_t *list = json_object_get(a, "aliases");
    ck_assert_int_eq(json_array_size(list), 2);
    ck_assert_str_eq(su_str(json_array_get(list, 0), "alias"), "production");
    ck_assert_str_eq(su_str(json_array_get(list, 1), "alias"), "staging.eu");
    json_decref(a);

    /* refused while aliased, by any reference; the model stays */
    snprintf(path, sizeof path, "/v1/models/%s", v[1]);
    problem(&s, "DELETE", path, NULL, 409, "production, staging.eu");
    problem(&s, "DELETE", "/v1/models/iris@production", NULL, 409, "production");
    names(&s, "iris@2", v[1]);
    json_decref(call(&s, "PUT", "/v1/models/iris/aliases/production", "{\"version\": 1}", 200));
    problem(&s, "DELETE", "/v1/models/iris@2", NULL, 409, "staging.eu");
    json_decref(call(&s, "DELETE", "/v1/models/iris/aliases/staging.eu", NULL, 204));
    problem(&s, "GET", "/v1/models/iris/aliases/staging.eu", NULL, 404, "no alias staging.eu");
    problem(&s, "DELETE", "/v1/models/iris/aliases/staging.eu", NULL, 404, "staging.eu");
    json_decref(call(&s, "DELETE", "/v1/models/iris@2", NULL, 204));
    problem(&s, "GET", "/v1/models/iris@2", NULL, 404, "iris has no version 2");

    /* the latest deleted: the name is the one before */
    names(&s, "iris", v[2]);
    json_decref(call(&s, "DELETE", "/v1/models/iris", NULL, 204));
    names(&s, "iris", v[0]);
    /* versions count on: the next is 4, not 2 or 3 */
    v[3] = job(&s, ds, net, "iris", 4);
    json_t *m = model(&s, "iris");
    ck_assert_str_eq(su_str(m, "id"), v[3]);
    ck_assert_int_eq(su_int(m, "version"), 4);
    json_decref(m);
    /* an alias to a version that does not exist, or of a name no model has */
    problem(&s, "PUT", "/v1/models/iris/aliases/production", "{\"version\": 3}", 422,
            "iris has no version 3");
    problem(&s, "PUT", "/v1/models/iris/aliases/production", "{}", 422, "/version");
    problem(&s, "PUT", "/v1/models/iris/aliases/production", "{\"version\": 1.5}", 422,
            "/version");
    json_t *p = call(&s, "PUT", "/v1/models/iris/aliases/production",
                     "{\"version\": 1, \"a/b\": 2}", 422);
    ck_assert_str_eq(su_str(json_array_get(json_object_get(p, "errors"), 0), "pointer"), "/a~1b");
    json_decref(p);
    problem(&s, "PUT", "/v1/models/iris/aliases/production", "{\"version\": 1e300}", 422,
            "/version");
    problem(&s, "PUT", "/v1/models/iris/aliases/production", "{\"version\": \"1\"}", 422,
            "/version");
    problem(&s, "PUT", "/v1/models/lilac/aliases/production", "{\"version\": 1}", 404,
            "no model named lilac");
    names(&s, "iris@production", v[0]);   /* unmoved by the refusals */
    /* the version it holds goes once it moves */
    json_decref(call(&s, "PUT", "/v1/models/iris/aliases/production", "{\"version\": 4}", 200));
    snprintf(path, sizeof path, "/v1/models/%s", v[0]);
    json_decref(call(&s, "DELETE", path, NULL, 204));
    m = su_get_json(&s, "/v1/models/iris/versions");
    ck_assert_int_eq(json_array_size(json_object_get(m, "items")), 1);
    json_decref(m);
    for (int k = 0; k < 4; k++)
        free(v[k]);
    finish(&s, ds, net);
}
END_TEST

/* Names and aliases that could be taken for something else are refused, naming the
 * field or parameter; references to nothing are 404s that name them. */
START_TEST(invalid_names_and_unknown_references)
{
    struct server s = {0};
    char *ds, *net, body[512], path[256];
    start(&s, "1", &ds, &net);
    char *v1 = job(&s, ds, net, "Iris-2.x_b", 1);   /* every kind of character it takes */
    char long65[66], quoted[80];
    memset(long65, 'a', 65);
    long65[65] = 0;
    snprintf(quoted, sizeof quoted, "\"%s\"", long65);
    const char *bad[] = {quoted, "\"\"", "\"a@b\"", "\"a/b\"", "\"a:predict\"", "\"mdl_abc\"",
                         "\".hidden\"", "\"-x\"", "\"a b\"", "\"caf\\u00e9\"", "5", "true",
                         NULL};
    for (int i = 0; bad[i]; i++) {
        snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\", "
                 "\"model_name\": %s}", net, ds, bad[i]);
        json_t *p = call(&s, "POST", "/v1/jobs", body, 422);
        json_t *e = json_array_get(json_object_get(p, "errors"), 0);
        ck_assert_msg(json_array_size(json_object_get(p, "errors")) == 1 &&
                      !strcmp(su_str(e, "pointer"), "/model_name"), "%s: %s", bad[i],
                      su_str(p, "detail"));
        json_decref(p);
    }
    /* the fault says what is wrong */
    snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\", "
             "\"model_name\": \"a b\"}", net, ds);
    problem(&s, "POST", "/v1/jobs", body, 422, "/model_name: a model name is letters, "
            "digits, '.', '_' and '-', starting with a letter or digit: a b has ' ' at 1");
    snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\", "
             "\"model_name\": \"mdl_abc\"}", net, ds);
    problem(&s, "POST", "/v1/jobs", body, 422, "may not start with \"mdl_\"");
    /* 64 characters are a name */
    long65[64] = 0;
    free(job(&s, ds, net, long65, 2));

    /* aliases: all digits (name@3 is a version), other characters, too long */
    const char *bad_alias[] = {"123", "-x", "a%40b", "a:b", long65, NULL};
    char a65[70];
    snprintf(a65, sizeof a65, "%sa", long65);
    bad_alias[4] = a65;
    for (int i = 0; bad_alias[i]; i++) {
        snprintf(path, sizeof path, "/v1/models/Iris-2.x_b/aliases/%s", bad_alias[i]);
        json_t *p = call(&s, "PUT", path, "{\"version\": 1}", 422);
        json_t *e = json_array_get(json_object_get(p, "errors"), 0);
        ck_assert_msg(!strcmp(su_str(e, "parameter"), "alias"), "%s: %s", path,
                      su_str(p, "detail"));
        json_decref(p);
    }
    problem(&s, "GET", "/v1/models?name=a@b", NULL, 400, "name");
    problem(&s, "GET", "/v1/models?name=mdl_x", NULL, 400, "mdl_");

    /* unknown references, on every model route */
    const char *refs[] = {"nothing", "nothing@1", "Iris-2.x_b@2", "Iris-2.x_b@prod",
                          "Iris-2.x_b@0", "mdl_000000000000", "iris", NULL};
    const char *says[] = {"nothing", "no model named nothing", "has no version 2",
                          "has no alias prod", "Iris-2.x_b@0", "mdl_000000000000", "iris"};
    for (int i = 0; refs[i]; i++)
        for (int route = 0; route < 4; route++) {
            const char *tail = route == 1 ? "/weights" : route == 2 ? "/predict" : "";
            const char *method = route == 2 ? "POST" : route == 3 ? "DELETE" : "GET";
            snprintf(path, sizeof path, "/v1/models/%s%s", refs[i], tail);
            problem(&s, method, path, route == 2 ? "{\"inputs\": [[1, 2, 3, 4]]}" : NULL, 404,
                    says[i]);
        }
    problem(&s, "GET", "/v1/models/nothing/versions", NULL, 404, "no model named nothing");
    problem(&s, "GET", "/v1/models/nothing/aliases", NULL, 404, "no model named nothing");
    snprintf(path, sizeof path, "/v1/models/%s/versions", v1);   /* an id is not a name */
    problem(&s, "GET", path, NULL, 404, "no model named");
    names(&s, "Iris-2.x_b", v1);   /* names are told apart by case */
    free(v1);
    finish(&s, ds, net);
}
END_TEST

extern const char *const migrations[];

/* A database of the schema before names keeps its models: without a name or version,
 * their job's name kept as job_name; a model stored after is its name's version 1. */
START_TEST(migrated_database_keeps_its_models)
{
    char dir[64], path[80], err[512];
    su_tmpdir(dir, sizeof dir, "names");
    snprintf(path, sizeof path, "%s/v8.db", dir);
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    for (int m = 0; m < 8; m++)
        ck_assert_int_eq(sqlite3_exec(db, migrations[m], NULL, NULL, NULL), SQLITE_OK);
    const char *rows =
        "PRAGMA user_version = 8;"
        "INSERT INTO models (id, job_id, name, created_at, network, dataset_id, label_kind, "
        "  metrics, net) VALUES "
        "  ('mdl_old', 'job_old', 'nightly', 'now', '{}', 'ds', 'numbers', '{}', x'00'),"
        "  ('mdl_anon', 'job_anon', NULL, 'now', '{}', 'ds', 'numbers', '{}', x'00');";
    ck_assert_int_eq(sqlite3_exec(db, rows, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    ck_assert_msg(store_open(path, err, sizeof err) == 0, "store_open: %s", err);
    ck_assert_int_eq(store_schema_version(), store_schema_latest());
    struct model m;
    ck_assert_int_eq(store_model_get("mdl_old", &m), STORE_OK);
    ck_assert_str_eq(m.job_name, "nightly");
    ck_assert_ptr_null(m.name);
    ck_assert_int_eq(m.version, 0);
    json_t *j = model_json(&m);
    ck_assert(json_is_null(json_object_get(j, "name")));
    ck_assert(json_is_null(json_object_get(j, "version")));
    ck_assert_str_eq(su_str(j, "job_name"), "nightly");
    ck_assert_int_eq(json_array_size(json_object_get(j, "aliases")), 0);
    json_decref(j);
    model_free(&m);
    ck_assert_int_eq(store_model_get("mdl_anon", &m), STORE_OK);
    ck_assert_ptr_null(m.job_name);
    model_free(&m);
    /* "nightly" was a job's name, not a model's: it names no model */
    char id[32], msg[256];
    ck_assert_int_eq(model_resolve("nightly@1", id, msg, sizeof msg), STORE_NOT_FOUND);
    ck_assert_int_eq(store_model_name_known("nightly"), STORE_NOT_FOUND);
    /* a new model under a name: version 1 */
    struct model n = {.id = "mdl_new", .job_id = "job_new", .dataset_id = "ds",
                      .name = "nightly", .network = json_object(), .metrics = json_object(),
                      .net = "\0", .net_len = 1};
    ck_assert_int_eq(store_model_insert(&n), STORE_OK);
    json_decref(n.network);
    json_decref(n.metrics);
    ck_assert_int_eq(model_resolve("nightly", id, msg, sizeof msg), STORE_OK);
    ck_assert_str_eq(id, "mdl_new");
    ck_assert_int_eq(store_model_get("mdl_new", &m), STORE_OK);
    ck_assert_int_eq(m.version, 1);
    model_free(&m);
    store_close();
    su_rmdir(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("model names");
    TCase *tc = tcase_create("e2e");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, versions_from_jobs);
    tcase_add_test(tc, versions_under_concurrent_jobs);
    tcase_add_test(tc, every_route_by_reference);
    tcase_add_test(tc, aliases_and_refused_deletes);
    tcase_add_test(tc, invalid_names_and_unknown_references);
    suite_add_tcase(s, tc);
    TCase *st = tcase_create("store");
    tcase_add_test(st, migrated_database_keeps_its_models);
    suite_add_tcase(s, st);
    return tu_run(s) != 0;
}
