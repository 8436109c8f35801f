/* fuzz_predict.c -- the bodies of POST /v1/models/{id}/predict (server/api/models.c), on
 * arbitrary bytes, for a model of 1 to 8 inputs.
 *
 * JSON: the handler's fast path (fast_rows, its own number scanner) must never accept
 * what the slow path (jansson, then rows_from_json) would not, nor read other numbers:
 * whenever the fast path takes a body, the slow path alone takes it too and gives the
 * same rows, bit for bit; the handler's answer with and without the fast path is the
 * same, but for a body past the row limit, which the fast path refuses (413) before it
 * reads the rest. CSV: rows are read as a dataset upload reads them (server/format/csv.c, a first line
 * that is not all numbers being a header): whatever rows_from_csv accepts, the dataset
 * reader reads as the same numbers. Both: accepted rows are 1 to PREDICT_MAX_ROWS of F
 * finite floats; a refusal is a problem+json of status 400, 413 or 422.
 *
 * Input: byte 0 = the model's inputs F (1 + bits 0-2) and the type (bit 3: text/csv,
 * else application/json); the rest is the body, in an exact-size heap buffer. The
 * handler's file is included whole to reach its static parsers.
 */
#include "fuzz.h"

#include "../server/api/models.c"

#include "domain/domain.h"

static void check_refusal(const struct reply *out, int rc)
{
    CHECK(rc == -1);
    CHECK(out->status == 400 || out->status == 413 || out->status == 422);
    json_error_t e;
    json_t *p = json_loadb(out->body, out->len, 0, &e);
    CHECK(p);
    CHECK(json_integer_value(json_object_get(p, "status")) == out->status);
    CHECK(json_is_string(json_object_get(p, "detail")));
    json_decref(p);
}

static void check_rows(const float *x, int n, int F)
{
    CHECK(x && n >= 1 && n <= PREDICT_MAX_ROWS);
    for (size_t i = 0; i < (size_t)n * (size_t)F; i++)
        CHECK(isfinite(x[i]));
}

/* ---- CSV: the rows as the dataset reader reads them ---- */

struct ref {
    int F;
    int ok;                    /* every row so far is F finite numbers */
    float *x;
    int n, cap;
};

static int all_numbers(char **f, const size_t *lens, int n)
{
    for (int i = 0; i < n; i++) {
        double v;
        if (!text_number(f[i], lens[i], &v) || !isfinite((float)v))
            return 0;
    }
    return 1;
}

static int on_ref(void *ctx, char **f, const size_t *lens, int n, long record, long line,
                  struct csv_error *err)
{
    (void)line, (void)err;
    struct ref *r = ctx;
    int numbers = all_numbers(f, lens, n);
    if (record == 0 && !numbers)
        return 0;   /* a header */
    if (!numbers || n != r->F) {
        r->ok = 0;
        return 0;
    }
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 16;
        r->x = realloc(r->x, sizeof(float) * (size_t)r->cap * (size_t)r->F);
        CHECK(r->x);
    }
    for (int i = 0; i < n; i++) {
        double v;
        text_number(f[i], lens[i], &v);
        r->x[(size_t)r->n * (size_t)r->F + (size_t)i] = (float)v;
    }
    r->n++;
    return 0;
}

static void check_csv(const char *body, size_t len, int F)
{
    struct reply out = {0};
    float *x;
    int n, col;
    int rc = parse_rows("text/csv", body, len, 0, F, NULL, 1, &x, &n, &col, &out);
    if (rc < 0) {
        check_refusal(&out, rc);
        CHECK(out.status != 400);
        free(out.body);
        return;
    }
    check_rows(x, n, F);
    struct ref ref = {.F = F, .ok = 1};
    struct csv_reader *rd = csv_reader_new(on_ref, &ref);
    CHECK(rd);
    struct csv_error err;
    int rr = csv_reader_feed(rd, body, len, &err);
    if (rr == 0)
        rr = csv_reader_end(rd, &err);
    csv_reader_free(rd);
    CHECK(rr == 0);       /* the dataset reader reads it */
    CHECK(ref.ok);        /* as rows of F numbers */
    CHECK(ref.n == n);    /* as many */
    CHECK(!memcmp(ref.x, x, sizeof(float) * (size_t)n * (size_t)F));   /* the same ones */
    free(ref.x);
    free(x);
}

/* ---- JSON: the fast path against the slow one ---- */

static void check_json(const char *body, size_t len, int F)
{
    float *fx = NULL;
    int fn = 0, fcol = -1;
    int fast = fast_rows(body, len, F, &fx, &fn, &fcol);
    CHECK(fast == 0 || fast == -1 || fast == -2);

    struct reply so = {0}, fo = {0};
    float *sx, *hx;
    int sn, hn, scol, hcol;
    int rs = parse_rows("application/json", body, len, 0, F, NULL, 0, &sx, &sn, &scol, &so);
    int rh = parse_rows("application/json", body, len, 0, F, NULL, 1, &hx, &hn, &hcol, &fo);
    if (fast == 0) {
        check_rows(fx, fn, F);
        CHECK(rs == 0);   /* the slow path takes it too */
        CHECK(sn == fn && !memcmp(sx, fx, sizeof(float) * (size_t)fn * (size_t)F));
        CHECK(scol == fcol);   /* as "inputs" (columns) or "instances" (rows) alike */
    }
    if (fast == -2) {   /* past the row limit: refused before the rest is read */
        CHECK(rh == -1 && fo.status == 413);
        CHECK(rs == -1 && (so.status == 413 || so.status == 400));
    } else {
        CHECK(rh == rs);
        if (rs == 0) {
            check_rows(sx, sn, F);
            CHECK(hn == sn && !memcmp(hx, sx, sizeof(float) * (size_t)sn * (size_t)F));
            CHECK(hcol == scol);
        } else {
            check_refusal(&so, rs);
            check_refusal(&fo, rh);
            CHECK(so.status == fo.status && so.len == fo.len &&
                  !memcmp(so.body, fo.body, so.len));
        }
    }
    free(fx);
    free(sx);
    free(hx);
    free(so.body);
    free(fo.body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int F = 1 + (data[0] & 7), csv = data[0] & 8;
    size_t len = size - 1;
    char *body = malloc(len ? len : 1);
    CHECK(body);
    memcpy(body, data + 1, len);
    if (csv)
        check_csv(body, len, F);
    else
        check_json(body, len, F);
    free(body);
    return 0;
}
