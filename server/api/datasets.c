/* datasets.c -- /v1/datasets: upload (a JSON body, or text/csv built as it streams in),
 * describe, list, delete. Building a dataset is the domain's (datasets.c, csv_dataset.c
 * there); this file turns requests into those calls and faults into replies.
 *
 * Errors: a JSON upload's fault names its field as a JSON pointer ("/features/12/3"); a
 * CSV's names its place as format.h says ("/rows/12/columns/3"); a query parameter's
 * fault is {"parameter": "label", "detail": ...}. 400 for a malformed CSV or parameter,
 * 413 for a dataset over what one holds, 422 for content that cannot be a dataset, 507
 * when the disk holding the database is full.
 */
#include "api.h"

#include "domain/domain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Stores d (its name set) and answers 201 with its description as stored, and
 * Location; 507 on a full disk, 503 when the database file is gone or cannot be reached,
 * 500 on another storage error. d stays the caller's. */
static int store_and_reply(struct dataset *d, struct reply *out)
{
    int rc = dataset_create(d);
    if (rc == STORE_TOO_BIG)
        return reply_problem(out, 413, NULL, "the dataset (%d rows of %d features) is over the "
                             "largest the storage holds", d->rows, d->features);
    if (rc != STORE_OK)
        return reply_store_failed(out, rc);
    snprintf(out->location, sizeof out->location, "/v1/datasets/%s", d->id);
    struct dataset stored;
    if (store_dataset_get(d->id, &stored) != STORE_OK)
        return reply_json(out, 201, dataset_json(d));   /* it is stored: as it was sent */
    rc = reply_json(out, 201, dataset_json(&stored));
    dataset_free(&stored);
    return rc;
}

static int reply_fault(struct reply *out, const struct fault *f)
{
    return reply_field(out, f->status, f->pointer, "%s", f->detail);
}

/* POST /v1/datasets with {"name", "features", "labels"} (and optional "columns"). */
int h_datasets_create(struct req *r, struct reply *out)
{
    const json_t *body = r->json;
    if (!body)
        return reply_problem(out, 400, NULL, "the body is empty: send JSON {\"name\", "
                             "\"features\", \"labels\"}, or a CSV as text/csv");
    struct dataset d;
    struct fault f;
    if (dataset_from_json(body, r->app->cfg.max_dataset_values, &d, &f) < 0)
        return f.status ? reply_fault(out, &f) : -1;
    int rc = store_and_reply(&d, out);
    dataset_free(&d);
    return rc;
}

/* ---- CSV uploads, streamed ---- */

struct csv_upload {
    struct csv_dataset *csv;
    int timesteps;             /* ?timesteps=: rows of this many steps; 0: not sequences */
    char name[DATASET_MAX_NAME + 1];
};

static int reply_csv_error(struct reply *out, const struct csv_error *e)
{
    json_t *errors = NULL;
    if (e->status == 415)   /* the body's content is not what its type says */
        errors = json_pack("[{s:s, s:s}]", "header", "Content-Type", "detail", e->detail);
    else if (e->parameter[0])
        errors = json_pack("[{s:s, s:s}]", "parameter", e->parameter, "detail", e->detail);
    else if (e->pointer[0])
        errors = json_pack("[{s:s, s:s}]", "pointer", e->pointer, "detail", e->detail);
    return reply_problem(out, e->status, errors, "%s", e->detail);
}

/* ?name= (default "unnamed"), ?label=, ?header=auto|true|false, ?timesteps=T (each row
 * is T steps of features, time-major, besides its label). Refused before the body
 * is read when it could not be stored (a full disk, the database file gone). */
static void *csv_begin(struct req *r, struct reply *out)
{
    int cond = store_condition();
    if (cond != STORE_OK) {
        reply_store_failed(out, cond);
        return NULL;
    }
    const char *name = req_query(r, "name"), *label = req_query(r, "label");
    const char *header = req_query(r, "header");
    if (!name)
        name = "unnamed";
    const char *why = dataset_bad_name(name, strlen(name));
    if (why) {
        reply_param(out, 400, "name", "?name= %s", why);
        return NULL;
    }
    const char *steps = req_query(r, "timesteps");
    long T = 0;
    if (steps) {
        char *end, e[80];
        T = strtol(steps, &end, 10);
        if (!*steps || *end || T < 1 || T > 65536) {
            reply_param(out, 400, "timesteps", "?timesteps=%s: say how many steps a row's "
                        "sequence has, a whole number from 1 to 65536",
                        text_echo(e, sizeof e, steps, strlen(steps), 40));
            return NULL;
        }
    }
    enum csv_header mode = CSV_HEADER_AUTO;
    if (header && *header && strcmp(header, "auto") != 0) {
        int yes = req_bool_value(header);
        if (yes < 0) {
            char e[80];
            reply_param(out, 400, "header", "?header=%s: say true (the first row names the "
                        "columns), false (it is data) or auto (the default: detected)",
                        text_echo(e, sizeof e, header, strlen(header), 40));
            return NULL;
        }
        mode = yes ? CSV_HEADER_YES : CSV_HEADER_NO;
    }
    struct csv_error err;
    struct csv_upload *u = calloc(1, sizeof *u);
    if (!u) {
        reply_problem(out, 500, NULL, "out of memory");
        return NULL;
    }
    if (!(u->csv = csv_dataset_new(label, mode, r->app->cfg.max_dataset_values, &err))) {
        free(u);
        reply_csv_error(out, &err);
        return NULL;
    }
    snprintf(u->name, sizeof u->name, "%s", name);
    u->timesteps = (int)T;
    return u;
}

static int csv_chunk(void *ctx, const char *data, size_t len, struct reply *out)
{
    struct csv_upload *u = ctx;
    struct csv_error err;
    if (csv_dataset_feed(u->csv, data, len, &err) == 0)
        return 0;
    reply_csv_error(out, &err);
    return -1;
}

static int csv_end(void *ctx, struct req *r, struct reply *out)
{
    (void)r;
    struct csv_upload *u = ctx;
    int rc = 0;
    if (out) {
        struct dataset d;
        struct csv_error err;
        struct fault f;
        if (csv_dataset_end(u->csv, &d, &err) < 0) {
            rc = reply_csv_error(out, &err);
        } else if (u->timesteps > 0 && dataset_sequences(&d, u->timesteps, &f) < 0) {
            rc = f.status ? reply_param(out, f.status, "timesteps", "?timesteps=%d: %s",
                                        u->timesteps, f.detail) : -1;
            dataset_free(&d);
        } else {
            rc = (d.name = strdup(u->name)) ? store_and_reply(&d, out) : -1;
            dataset_free(&d);
        }
    }
    csv_dataset_free(u->csv);
    free(u);
    return rc;
}

const struct stream datasets_csv_stream = {csv_begin, csv_chunk, csv_end};

/* ---- describe, list, delete ---- */

int h_datasets_get(struct req *r, struct reply *out)
{
    struct dataset d;
    int rc = store_dataset_get(r->param[0], &d);
    rc = reply_row(out, rc, "dataset", r->param[0], rc == STORE_OK ? dataset_json(&d) : NULL);
    dataset_free(&d);
    return rc;
}

static int dataset_page(struct req *r, int limit, const char *after, void **rows, int *n,
                        int *more)
{
    (void)r;
    return store_dataset_list(limit, after, (struct dataset **)rows, n, more);
}
static json_t *dataset_row(const void *row) { return dataset_json(row); }
static void dataset_row_free(void *row) { dataset_free(row); }
static const struct lister datasets = {"dataset", sizeof(struct dataset), dataset_page,
                                       dataset_row, dataset_row_free};

int h_datasets_list(struct req *r, struct reply *out) { return api_list(r, out, &datasets); }

int h_datasets_delete(struct req *r, struct reply *out)
{
    int rc = store_dataset_delete(r->param[0]);
    if (rc == STORE_IN_USE)
        return reply_problem(out, 409, NULL, "dataset %s is used by a queued or running job: "
                             "cancel the job, or wait until it ends", r->param[0]);
    return reply_deleted(out, rc, "dataset", r->param[0]);
}
