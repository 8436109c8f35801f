/* test_svg.c -- the SVG line charts (server/format/svg.c) on series made by hand: zeros
 * on a log axis drawn on its floor and marked, values that were not finite marked at the
 * top, the automatic log scale, a line without dots past SVG_MAX_DOTS points, and every
 * chart well-formed XML (xmllint, independent of the writer) that librsvg renders. */
#include "format/format.h"
#include "srvutil.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The chart of ns series as a new string. */
static char *chart(const struct svg_series *s, int ns, enum svg_scale scale)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    svg_chart(f, "t", "epoch", "value", s, ns, scale, "nothing to draw");
    ck_assert_int_eq(fclose(f), 0);
    FILE *p = popen("xmllint --noout - 2>&1", "w");
    ck_assert_msg(p != NULL, "cannot run xmllint");
    fwrite(buf, 1, len, p);
    ck_assert_msg(pclose(p) == 0, "not well-formed XML:\n%s", buf);
    /* and it renders, where librsvg's rsvg-convert is installed (make deps installs it) */
    if (system("command -v rsvg-convert >/dev/null 2>&1") == 0) {
        p = popen("rsvg-convert >/dev/null", "w");
        ck_assert_msg(p != NULL, "cannot run rsvg-convert");
        fwrite(buf, 1, len, p);
        ck_assert_msg(pclose(p) == 0, "rsvg-convert cannot render:\n%s", buf);
    }
    return buf;
}

/* The y coordinates of the first polyline's points, into ys (at most max); how many. */
static int line_ys(const char *svg, double *ys, int max)
{
    const char *at = strstr(svg, "<polyline");
    ck_assert_ptr_nonnull(at);
    at = strstr(at, "points=\"");
    ck_assert_ptr_nonnull(at);
    at += 8;
    int n = 0;
    while (*at != '"' && n < max) {
        char *end;
        strtod(at, &end);   /* x */
        ck_assert(*end == ',');
        ys[n++] = strtod(end + 1, &end);
        at = *end == ' ' ? end + 1 : end;
    }
    return n;
}

/* The y of the x axis: the first line of the axes group (the plot area's bottom). */
static double floor_y(const char *svg)
{
    const char *at = strstr(svg, "<g class=\"axes\"");
    ck_assert_ptr_nonnull(at);
    at = strstr(at, "y1=\"");
    return strtod(at + 4, NULL);
}

static const double ep[] = {1, 2, 3, 4, 5, 6};

START_TEST(zeros_on_a_log_axis)
{
    /* a saturated layer: its norm falls to exactly 0 and stays there */
    const double y[] = {0.5, 0.01, 0, 0, 0.02, 0};
    struct svg_series s = {"/layers/0 dense 8 tanh", "grad", ep, y, 6};
    char *svg = chart(&s, 1, SVG_LOG);
    ck_assert_int_eq(su_count(svg, "<circle class=\"point grad\""), 3);
    ck_assert_int_eq(su_count(svg, "<rect class=\"point zero grad\""), 3);
    ck_assert(strstr(svg, "at epoch 3: 0</title>") != NULL);
    ck_assert(strstr(svg, "class=\"legend key zero\"") != NULL);
    /* the line goes on through them, on the floor, below the smallest value */
    double ys[8], bottom = floor_y(svg);
    ck_assert_int_eq(line_ys(svg, ys, 8), 6);
    ck_assert_msg(fabs(ys[2] - bottom) < 0.01 && fabs(ys[3] - bottom) < 0.01 &&
                  fabs(ys[5] - bottom) < 0.01, "zeros at %g %g %g, the floor at %g", ys[2],
                  ys[3], ys[5], bottom);
    ck_assert(ys[1] < bottom - 10);   /* 0.01 is above the floor, not on it */
    ck_assert(strstr(svg, "nothing to draw") == NULL);
    free(svg);

    /* only zeros: still a chart */
    const double z[] = {0, 0};
    s = (struct svg_series){"g", "grad", ep, z, 2};
    svg = chart(&s, 1, SVG_LOG);
    ck_assert(strstr(svg, "nothing to draw") == NULL);
    ck_assert_int_eq(su_count(svg, "<rect class=\"point zero grad\""), 2);
    free(svg);

    /* on a linear axis a zero is a value like another */
    s = (struct svg_series){"g", "grad", ep, y, 6};
    svg = chart(&s, 1, SVG_LINEAR);
    ck_assert_int_eq(su_count(svg, "<circle class=\"point grad\""), 6);
    ck_assert_int_eq(su_count(svg, "class=\"point zero"), 0);
    free(svg);
}
END_TEST

START_TEST(values_that_were_not_finite)
{
    /* exploding: finite, then not; a NaN is no value and is left out */
    const double y[] = {1, 30, INFINITY, NAN};
    struct svg_series s = {"/layers/1", "grad", ep, y, 4};
    char *svg = chart(&s, 1, SVG_LOG);
    ck_assert_int_eq(su_count(svg, "<circle class=\"point grad\""), 2);
    ck_assert_int_eq(su_count(svg, "<path class=\"point nonfinite grad\""), 1);
    ck_assert(strstr(svg, "at epoch 3: not finite</title>") != NULL);
    ck_assert(strstr(svg, "class=\"legend key nonfinite\"") != NULL);
    double ys[8];
    ck_assert_int_eq(line_ys(svg, ys, 8), 3);
    ck_assert_msg(ys[2] < ys[1] && ys[2] <= 50.01, "the non-finite point at %g, 30 at %g",
                  ys[2], ys[1]);   /* the top of the plot area (T = 50) */
    free(svg);

    /* a job whose only norms were not finite: marked, not "nothing to draw" */
    const double w[] = {INFINITY, -INFINITY};
    const double w2[] = {INFINITY, NAN};
    struct svg_series two[2] = {{"/layers/0", "grad", ep, w, 2}, {"/layers/1", "grad", ep, w2, 2}};
    svg = chart(two, 2, SVG_LOG);
    ck_assert(strstr(svg, "nothing to draw") == NULL);
    ck_assert_int_eq(su_count(svg, "class=\"point nonfinite grad\""), 3);
    free(svg);

    /* no value at all: the message */
    const double none[] = {NAN, NAN};
    s = (struct svg_series){"g", "grad", ep, none, 2};
    svg = chart(&s, 1, SVG_LOG);
    ck_assert(strstr(svg, "nothing to draw") != NULL);
    free(svg);
}
END_TEST

START_TEST(automatic_log_scale)
{
    /* a loss that diverges over five decades: log; one that halves: linear */
    const double wild[] = {0.9, 3, 80, 4000, 90000, 2e6}, tame[] = {0.9, 0.7, 0.6, 0.5, 0.45, 0.44};
    const double neg[] = {-1, 3, 80, 4000, 90000, 2e6}, zero[] = {0, 1e-5, 1, 1, 1, 1};
    struct { const double *y; enum svg_scale scale; int log; } cases[] = {
        {wild, SVG_AUTO, 1}, {tame, SVG_AUTO, 0}, {neg, SVG_AUTO, 0}, {zero, SVG_AUTO, 1},
        {wild, SVG_LINEAR, 0}, {tame, SVG_LOG, 1},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        struct svg_series s = {"loss", "loss", ep, cases[k].y, 6};
        char *svg = chart(&s, 1, cases[k].scale);
        ck_assert_msg((strstr(svg, "(log scale)") != NULL) == cases[k].log, "case %zu", k);
        free(svg);
    }
}
END_TEST

START_TEST(many_epochs_without_dots)
{
    enum { N = 400 };
    double *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    for (int i = 0; i < N; i++)
        x[i] = i + 1, y[i] = 1.0 / (i + 1);
    y[200] = 0;
    struct svg_series s[2] = {{"loss", "loss", x, y, N}, {"val_loss", "val_loss", x, y, SVG_MAX_DOTS}};
    char *svg = chart(s, 2, SVG_LOG);
    double *ys = malloc(N * sizeof *ys);
    ck_assert_int_eq(line_ys(svg, ys, N), N);   /* the line has every epoch */
    ck_assert_int_eq(su_count(svg, "<circle class=\"point loss\""), 0);
    ck_assert_int_eq(su_count(svg, "<rect class=\"point zero loss\""), 1);   /* still marked */
    ck_assert_int_eq(su_count(svg, "<circle class=\"point val_loss\""), SVG_MAX_DOTS);
    free(svg), free(ys), free(x), free(y);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("svg");
    TCase *tc = tcase_create("svg");
    tcase_add_test(tc, zeros_on_a_log_axis);
    tcase_add_test(tc, values_that_were_not_finite);
    tcase_add_test(tc, automatic_log_scale);
    tcase_add_test(tc, many_epochs_without_dots);
    suite_add_tcase(s, tc);
    return tu_run(s) != 0;
}
