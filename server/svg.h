/* svg.h -- line charts as standalone SVG 1.1 documents (no scripts, no external
 * resources), for the job charts of h_charts.c. */
#ifndef SVG_H
#define SVG_H

#include <stdio.h>

/* One line of a chart: n points (x[i], y[i]); points whose y is not finite (or, on a log
 * axis, not above 0) are left out. name is shown in the legend; cls is the class of its
 * points: each drawn point is <circle class="point CLS" data-series="NAME" .../>. All
 * borrowed. */
struct svg_series {
    const char *name;
    const char *cls;
    const double *x, *y;
    int n;
};

/* Writes a chart to f: title, axis labels, ns series, y on a log10 axis when logy.
 * empty: the message shown instead of lines when no series has a point. */
void svg_chart(FILE *f, const char *title, const char *xlabel, const char *ylabel,
               const struct svg_series *s, int ns, int logy, const char *empty);

#endif
