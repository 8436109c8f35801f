/* svg.c -- line charts as SVG 1.1 (format.h): a plot area with axes, ticks at "nice" steps
 * (1, 2 or 5 times a power of ten; powers of ten on a log axis), one polyline and one
 * circle per point for each series, and a legend on the right. */
#include "format.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define W 720
#define H 420
#define L 80                   /* margins of the plot area */
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

static int usable(double y, int logy) { return isfinite(y) && (!logy || y > 0); }

/* A step of 1, 2 or 5 times a power of ten giving about n ticks over span. */
static double nice_step(double span, int n)
{
    double raw = span / n, p = pow(10, floor(log10(raw))), m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

void svg_chart(FILE *f, const char *title, const char *xlabel, const char *ylabel,
               const struct svg_series *s, int ns, int logy, const char *empty)
{
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    int points = 0;
    for (int i = 0; i < ns; i++)
        for (int k = 0; k < s[i].n; k++) {
            double y = s[i].y[k];
            if (!usable(y, logy) || !isfinite(s[i].x[k]))
                continue;
            y = logy ? log10(y) : y;
            points++;
            x0 = fmin(x0, s[i].x[k]), x1 = fmax(x1, s[i].x[k]);
            y0 = fmin(y0, y), y1 = fmax(y1, y);
        }
    const int pw = W - L - R, ph = H - T - B;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" "
               "height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" "
               "font-size=\"12\">\n<title>", W, H, W, H);
    esc(f, title);
    fputs("</title>\n<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n", f);
    fprintf(f, "<text class=\"title\" x=\"%d\" y=\"28\" text-anchor=\"middle\" "
               "font-size=\"15\">", L + pw / 2);
    esc(f, title);
    fputs("</text>\n", f);
    if (!points) {
        fprintf(f, "<text class=\"empty\" x=\"%d\" y=\"%d\" text-anchor=\"middle\" "
                   "fill=\"#666666\">", W / 2, H / 2);
        esc(f, empty);
        fputs("</text>\n</svg>\n", f);
        return;
    }
    /* x: whole epochs; y: padded, snapped to ticks */
    if (x1 - x0 < 1)
        x0 -= 0.5, x1 += 0.5;
    double xstep = fmax(1, round(nice_step(x1 - x0, 8)));
    double ystep;
    if (logy) {
        y0 = floor(y0), y1 = ceil(y1);
        if (y1 - y0 < 1)
            y1 = y0 + 1;
        ystep = ceil((y1 - y0) / 8);
    } else {
        if (y1 - y0 < 1e-12 * fmax(1, fabs(y1)))
            y0 -= fmax(fabs(y0) * 0.1, 1e-6), y1 += fmax(fabs(y1) * 0.1, 1e-6);
        ystep = nice_step(y1 - y0, 6);
        y0 = floor(y0 / ystep) * ystep, y1 = ceil(y1 / ystep) * ystep;
    }
#define PX(x) (L + ((x) - x0) / (x1 - x0) * pw)
#define PY(y) (T + ph - ((y) - y0) / (y1 - y0) * ph)
    fputs("<g class=\"grid\" stroke=\"#e0e0e0\" stroke-width=\"1\">\n", f);
    for (double y = y0; y <= y1 + ystep * 1e-6; y += ystep)
        fprintf(f, "<line x1=\"%d\" y1=\"%.2f\" x2=\"%d\" y2=\"%.2f\"/>\n", L, PY(y), L + pw,
                PY(y));
    fputs("</g>\n<g class=\"axes\" stroke=\"#333333\" stroke-width=\"1\">\n", f);
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n", L, T + ph, L + pw, T + ph);
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n", L, T, L, T + ph);
    double xs = ceil(x0 / xstep) * xstep;
    for (double x = xs; x <= x1 + 1e-9; x += xstep)
        fprintf(f, "<line class=\"tick x\" x1=\"%.2f\" y1=\"%d\" x2=\"%.2f\" y2=\"%d\"/>\n",
                PX(x), T + ph, PX(x), T + ph + 5);
    for (double y = y0; y <= y1 + ystep * 1e-6; y += ystep)
        fprintf(f, "<line class=\"tick y\" x1=\"%d\" y1=\"%.2f\" x2=\"%d\" y2=\"%.2f\"/>\n",
                L - 5, PY(y), L, PY(y));
    fputs("</g>\n<g class=\"labels\" fill=\"#333333\">\n", f);
    for (double x = xs; x <= x1 + 1e-9; x += xstep)
        fprintf(f, "<text x=\"%.2f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n", PX(x),
                T + ph + 18, x);
    for (double y = y0; y <= y1 + ystep * 1e-6; y += ystep) {
        double v = fabs(y) < ystep * 1e-6 ? 0 : y;
        int e = (int)lround(v);
        if (logy && abs(e) <= 3)   /* 0.001 to 1000 read best as they are */
            fprintf(f, "<text x=\"%d\" y=\"%.2f\" text-anchor=\"end\">%g</text>\n", L - 8,
                    PY(y) + 4, pow(10, e));
        else if (logy)
            fprintf(f, "<text x=\"%d\" y=\"%.2f\" text-anchor=\"end\">1e%d</text>\n", L - 8,
                    PY(y) + 4, e);
        else
            fprintf(f, "<text x=\"%d\" y=\"%.2f\" text-anchor=\"end\">%.4g</text>\n", L - 8,
                    PY(y) + 4, v);
    }
    fprintf(f, "<text class=\"xlabel\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">", L + pw / 2,
            H - 18);
    esc(f, xlabel);
    fprintf(f, "</text>\n<text class=\"ylabel\" x=\"%d\" y=\"%d\" text-anchor=\"middle\" "
               "transform=\"rotate(-90 %d %d)\">", 22, T + ph / 2, 22, T + ph / 2);
    esc(f, ylabel);
    if (logy)
        fputs(" (log scale)", f);
    fputs("</text>\n</g>\n", f);
    int shown = 0;
    for (int i = 0; i < ns; i++) {
        const char *color = palette[i % NPAL];
        int dashed = strncmp(s[i].cls, "val_", 4) == 0;
        fputs("<g class=\"series\" data-series=\"", f);
        esc(f, s[i].name);
        fprintf(f, "\" stroke=\"%s\" fill=\"%s\">\n<polyline fill=\"none\" stroke-width=\"2\"%s "
                   "points=\"", color, color, dashed ? " stroke-dasharray=\"6 4\"" : "");
        int any = 0;
        for (int k = 0; k < s[i].n; k++)
            if (usable(s[i].y[k], logy) && isfinite(s[i].x[k]))
                fprintf(f, "%s%.2f,%.2f", any++ ? " " : "", PX(s[i].x[k]),
                        PY(logy ? log10(s[i].y[k]) : s[i].y[k]));
        fputs("\"/>\n", f);
        for (int k = 0; k < s[i].n; k++) {
            if (!usable(s[i].y[k], logy) || !isfinite(s[i].x[k]))
                continue;
            fputs("<circle class=\"point ", f);
            esc(f, s[i].cls);
            fputs("\" data-series=\"", f);
            esc(f, s[i].name);
            fprintf(f, "\" cx=\"%.2f\" cy=\"%.2f\" r=\"3\"><title>", PX(s[i].x[k]),
                    PY(logy ? log10(s[i].y[k]) : s[i].y[k]));
            esc(f, s[i].name);
            fprintf(f, " at epoch %g: %.6g</title></circle>\n", s[i].x[k], s[i].y[k]);
        }
        fputs("</g>\n", f);
        if (!any)
            continue;
        /* legend entry */
        int ly = T + 10 + 22 * shown++;
        fprintf(f, "<g class=\"legend\"><line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" "
                   "stroke=\"%s\" stroke-width=\"2\"%s/><text x=\"%d\" y=\"%d\">",
                L + pw + 16, ly, L + pw + 40, ly, color,
                dashed ? " stroke-dasharray=\"6 4\"" : "", L + pw + 46, ly + 4);
        esc(f, s[i].name);
        fputs("</text></g>\n", f);
    }
#undef PX
#undef PY
    fputs("</svg>\n", f);
}
