/* svg.c -- line charts as SVG 1.1 (format.h): a plot area with axes, ticks at "nice" steps
 * (1, 2 or 5 times a power of ten; powers of ten on a log axis), one polyline for each
 * series with a circle per point (up to SVG_MAX_DOTS points), and a legend on the right.
 * What a log axis cannot place is still shown, marked: a zero on the axis's floor (a
 * hollow square), a non-finite value at its top (a triangle). */
#include "format.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PW 450                 /* the plot area's width */
#define H 420
#define L 80                   /* margins of the plot area, at the least: the left one grows
                                  for wide tick labels, the right one for long names */
#define R 190
#define T 50
#define B 60

static const char *const palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
#define NPAL ((int)(sizeof palette / sizeof palette[0]))

/* Text with &, <, > and " escaped. */
static void esc(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default:
            if ((unsigned char)*s >= 0x20 || *s == '\t')
                fputc(*s, f);
        }
    }
}

/* The document's start, w px wide, up to its background. */
static void svg_head(FILE *f, int w, const char *title)
{
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" "
               "height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" "
               "font-size=\"12\">\n<title>", w, H, w, H);
    esc(f, title);
    fputs("</title>\n<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n", f);
}

/* What a value of a series is on the chart. */
enum kind { SKIP, VALUE, ZERO, WILD };

/* y is a value (drawn where it is), a zero on a log axis (drawn on the axis's floor), a
 * recorded non-finite value, an infinity (drawn at the top), or missing (NaN: left out). */
static enum kind kind_of(double x, double y, int logy)
{
    if (!isfinite(x) || isnan(y))
        return SKIP;
    if (isinf(y))
        return WILD;
    if (logy && y == 0)
        return ZERO;
    return logy && y < 0 ? SKIP : VALUE;
}

/* A step of 1, 2 or 5 times a power of ten giving about n ticks over span. */
static double nice_step(double span, int n)
{
    double raw = span / n, p = pow(10, floor(log10(raw))), m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

/* Log or linear for SVG_AUTO: log when every finite value is 0 or more and the positive
 * ones span AUTO_DECADES decades or more (a loss that diverged, or fell by as much). */
#define AUTO_DECADES 4
static int auto_log(const struct svg_series *s, int ns)
{
    double lo = INFINITY, hi = 0;
    for (int i = 0; i < ns; i++)
        for (int k = 0; k < s[i].n; k++) {
            double y = s[i].y[k];
            if (!isfinite(y))
                continue;
            if (y < 0)
                return 0;
            if (y > 0)
                lo = fmin(lo, y), hi = fmax(hi, y);
        }
    return hi > 0 && log10(hi) - log10(lo) >= AUTO_DECADES;
}

#define MAX_TICKS 64
#define CHAR_W 8               /* px a character of the 12 px labels takes, at most (a
                                  digit of DejaVu Sans is 7.6) */

void svg_chart(FILE *f, const char *title, const char *xlabel, const char *ylabel,
               const struct svg_series *s, int ns, enum svg_scale scale, const char *empty)
{
    int logy = scale == SVG_LOG || (scale == SVG_AUTO && auto_log(s, ns));
    int named = 0;   /* the longest name in the legend */
    for (int i = 0; i < ns; i++)
        named = (int)strlen(s[i].name) > named ? (int)strlen(s[i].name) : named;
    const int mr = R > 56 + CHAR_W * named ? R : 56 + CHAR_W * named;
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    int points = 0, values = 0, floored = 0;
    for (int i = 0; i < ns; i++)
        for (int k = 0; k < s[i].n; k++) {
            enum kind kd = kind_of(s[i].x[k], s[i].y[k], logy);
            if (kd == SKIP)
                continue;
            points++;
            floored |= kd == ZERO;
            x0 = fmin(x0, s[i].x[k]), x1 = fmax(x1, s[i].x[k]);
            if (kd == VALUE) {
                double y = logy ? log10(s[i].y[k]) : s[i].y[k];
                values++;
                y0 = fmin(y0, y), y1 = fmax(y1, y);
            }
        }
    if (!points) {
        svg_head(f, L + PW + R, title);
        fprintf(f, "<text class=\"title\" x=\"%d\" y=\"28\" text-anchor=\"middle\" "
                   "font-size=\"15\">", L + PW / 2);
        esc(f, title);
        fprintf(f, "</text>\n<text class=\"empty\" x=\"%d\" y=\"%d\" text-anchor=\"middle\" "
                   "fill=\"#666666\">", (L + PW + R) / 2, H / 2);
        esc(f, empty);
        fputs("</text>\n</svg>\n", f);
        return;
    }
    if (!values)   /* only zeros and non-finite values: an axis of one decade, or 0 to 1 */
        y0 = logy ? -1 : 0, y1 = logy ? 0 : 1;
    /* x: whole epochs; y: padded, snapped to ticks */
    if (x1 - x0 < 1)
        x0 -= 0.5, x1 += 0.5;
    double xstep = fmax(1, round(nice_step(x1 - x0, 8)));
    double ystep;
    if (logy) {
        y0 = floor(y0) - (floored && values), y1 = ceil(y1);   /* zeros a decade below */
        if (y1 - y0 < 1)
            y1 = y0 + 1;
        ystep = ceil((y1 - y0) / 8);
    } else {
        if (y1 - y0 < 1e-12 * fmax(1, fabs(y1)))
            y0 -= fmax(fabs(y0) * 0.1, 1e-6), y1 += fmax(fabs(y1) * 0.1, 1e-6);
        ystep = nice_step(y1 - y0, 6);
        y0 = floor(y0 / ystep) * ystep, y1 = ceil(y1 / ystep) * ystep;
    }
    /* the y tick labels first: the widest sets the left margin, so that the axis title
     * keeps clear of them */
    char ylab[MAX_TICKS][32];
    double yat[MAX_TICKS];
    int nyt = 0, widest = 0;
    for (double y = y0; y <= y1 + ystep * 1e-6 && nyt < MAX_TICKS; y += ystep, nyt++) {
        double v = fabs(y) < ystep * 1e-6 ? 0 : y;
        int e = (int)lround(v);
        if (logy && abs(e) <= 3)   /* 0.001 to 1000 read best as they are */
            snprintf(ylab[nyt], sizeof ylab[nyt], "%g", pow(10, e));
        else if (logy)
            snprintf(ylab[nyt], sizeof ylab[nyt], "1e%d", e);
        else
            snprintf(ylab[nyt], sizeof ylab[nyt], "%.4g", v);
        yat[nyt] = y;
        int w = (int)strlen(ylab[nyt]);
        widest = w > widest ? w : widest;
    }
    const int ml = L > 8 + CHAR_W * widest + 34 ? L : 8 + CHAR_W * widest + 34;
    const int pw = PW, ph = H - T - B;
    const int ytitle = ml - 8 - CHAR_W * widest - 14;   /* the rotated title's centre line */
    svg_head(f, ml + PW + mr, title);
    fprintf(f, "<text class=\"title\" x=\"%d\" y=\"28\" text-anchor=\"middle\" "
               "font-size=\"15\">", ml + pw / 2);
    esc(f, title);
    fputs("</text>\n", f);
#define PX(x) (ml + ((x) - x0) / (x1 - x0) * pw)
#define PY(y) (T + ph - ((y) - y0) / (y1 - y0) * ph)
    fputs("<g class=\"grid\" stroke=\"#e0e0e0\" stroke-width=\"1\">\n", f);
    for (int t = 0; t < nyt; t++)
        fprintf(f, "<line x1=\"%d\" y1=\"%.2f\" x2=\"%d\" y2=\"%.2f\"/>\n", ml, PY(yat[t]),
                ml + pw, PY(yat[t]));
    fputs("</g>\n<g class=\"axes\" stroke=\"#333333\" stroke-width=\"1\">\n", f);
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n", ml, T + ph, ml + pw, T + ph);
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n", ml, T, ml, T + ph);
    double xs = ceil(x0 / xstep) * xstep;
    for (double x = xs; x <= x1 + 1e-9; x += xstep)
        fprintf(f, "<line class=\"tick x\" x1=\"%.2f\" y1=\"%d\" x2=\"%.2f\" y2=\"%d\"/>\n",
                PX(x), T + ph, PX(x), T + ph + 5);
    for (int t = 0; t < nyt; t++)
        fprintf(f, "<line class=\"tick y\" x1=\"%d\" y1=\"%.2f\" x2=\"%d\" y2=\"%.2f\"/>\n",
                ml - 5, PY(yat[t]), ml, PY(yat[t]));
    fputs("</g>\n<g class=\"labels\" fill=\"#333333\">\n", f);
    for (double x = xs; x <= x1 + 1e-9; x += xstep)
        fprintf(f, "<text x=\"%.2f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n", PX(x),
                T + ph + 18, x);
    for (int t = 0; t < nyt; t++)
        fprintf(f, "<text class=\"ytick\" x=\"%d\" y=\"%.2f\" text-anchor=\"end\">%s</text>\n",
                ml - 8, PY(yat[t]) + 4, ylab[t]);
    fprintf(f, "<text class=\"xlabel\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">", ml + pw / 2,
            H - 18);
    esc(f, xlabel);
    fprintf(f, "</text>\n<text class=\"ylabel\" x=\"%d\" y=\"%d\" text-anchor=\"middle\" "
               "transform=\"rotate(-90 %d %d)\">", ytitle, T + ph / 2, ytitle, T + ph / 2);
    esc(f, ylabel);
    if (logy)
        fputs(" (log scale)", f);
    fputs("</text>\n</g>\n", f);
    int shown = 0, zeros = 0, wild = 0;
    for (int i = 0; i < ns; i++) {
        const char *color = palette[i % NPAL];
        int dashed = strncmp(s[i].cls, "val_", 4) == 0, drawn = 0;
        for (int k = 0; k < s[i].n; k++)
            drawn += kind_of(s[i].x[k], s[i].y[k], logy) != SKIP;
        fputs("<g class=\"series\" data-series=\"", f);
        esc(f, s[i].name);
        fprintf(f, "\" stroke=\"%s\" fill=\"%s\">\n<polyline fill=\"none\" stroke-width=\"2\"%s "
                   "points=\"", color, color, dashed ? " stroke-dasharray=\"6 4\"" : "");
        /* zeros lie on the floor, non-finite values at the top: the line goes there */
        int any = 0;
        for (int k = 0; k < s[i].n; k++) {
            enum kind kd = kind_of(s[i].x[k], s[i].y[k], logy);
            if (kd == SKIP)
                continue;
            double py = kd == ZERO ? PY(y0) : kd == WILD ? PY(y1)
                        : PY(logy ? log10(s[i].y[k]) : s[i].y[k]);
            fprintf(f, "%s%.2f,%.2f", any++ ? " " : "", PX(s[i].x[k]), py);
        }
        fputs("\"/>\n", f);
        /* a dot per point, unless there are too many to tell apart; the marked ones always:
         * a zero as a hollow square on the floor, a non-finite value as a triangle at the
         * top */
        for (int k = 0; k < s[i].n; k++) {
            enum kind kd = kind_of(s[i].x[k], s[i].y[k], logy);
            if (kd == SKIP || (kd == VALUE && drawn > SVG_MAX_DOTS))
                continue;
            double px = PX(s[i].x[k]);
            if (kd == VALUE) {
                fputs("<circle class=\"point ", f);
                esc(f, s[i].cls);
                fputs("\" data-series=\"", f);
                esc(f, s[i].name);
                fprintf(f, "\" cx=\"%.2f\" cy=\"%.2f\" r=\"3\"><title>", px,
                        PY(logy ? log10(s[i].y[k]) : s[i].y[k]));
            } else if (kd == ZERO) {
                zeros++;
                fputs("<rect class=\"point zero ", f);
                esc(f, s[i].cls);
                fputs("\" data-series=\"", f);
                esc(f, s[i].name);
                fprintf(f, "\" x=\"%.2f\" y=\"%.2f\" width=\"7\" height=\"7\" fill=\"#ffffff\" "
                           "stroke-width=\"1.5\"><title>", px - 3.5, PY(y0) - 3.5);
            } else {
                wild++;
                double py = PY(y1);
                fputs("<path class=\"point nonfinite ", f);
                esc(f, s[i].cls);
                fputs("\" data-series=\"", f);
                esc(f, s[i].name);
                fprintf(f, "\" d=\"M%.2f %.2fl5 9h-10z\" stroke-width=\"1\"><title>", px,
                        py - 4);
            }
            esc(f, s[i].name);
            if (kd == VALUE)
                fprintf(f, " at epoch %g: %.6g</title></circle>\n", s[i].x[k], s[i].y[k]);
            else if (kd == ZERO)
                fprintf(f, " at epoch %g: 0</title></rect>\n", s[i].x[k]);
            else
                fprintf(f, " at epoch %g: not finite</title></path>\n", s[i].x[k]);
        }
        fputs("</g>\n", f);
        if (!any)
            continue;
        /* legend entry */
        int ly = T + 10 + 22 * shown++;
        fprintf(f, "<g class=\"legend\"><line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" "
                   "stroke=\"%s\" stroke-width=\"2\"%s/><text x=\"%d\" y=\"%d\">",
                ml + pw + 16, ly, ml + pw + 40, ly, color,
                dashed ? " stroke-dasharray=\"6 4\"" : "", ml + pw + 46, ly + 4);
        esc(f, s[i].name);
        fputs("</text></g>\n", f);
    }
    /* what the marks mean, under the legend */
    int ly = T + 10 + 22 * shown + 8;
    if (zeros)
        fprintf(f, "<g class=\"legend key zero\"><rect x=\"%d\" y=\"%d\" width=\"7\" "
                   "height=\"7\" fill=\"#ffffff\" stroke=\"#333333\" stroke-width=\"1.5\"/>"
                   "<text x=\"%d\" y=\"%d\">0, on the floor</text></g>\n",
                ml + pw + 24, ly - 4, ml + pw + 46, ly + 4), ly += 22;
    if (wild)
        fprintf(f, "<g class=\"legend key nonfinite\"><path d=\"M%d %dl5 9h-10z\" "
                   "fill=\"#333333\"/><text x=\"%d\" y=\"%d\">not finite, at the top</text>"
                   "</g>\n", ml + pw + 28, ly - 5, ml + pw + 46, ly + 4);
#undef PX
#undef PY
    fputs("</svg>\n", f);
}
