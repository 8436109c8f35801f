/* bench.h -- what the benchmark programs share: a clock, one JSON line per figure, fatal
 * errors, checked allocation and argument parsing. Include it after defining BENCH_NAME
 * (the program's name, for messages) and BENCH_USAGE (its arguments), and after declaring
 * the program's `tag` (char[], the run's label in every line). */
#ifndef BENCH_H
#define BENCH_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Prints one JSON line; extra, when not NULL, is more members (", \"k\": v") to add. */
static void emit(const char *metric, double value, const char *unit, const char *extra)
{
    char v[32];
    if (isfinite(value))
        snprintf(v, sizeof v, "%.6g", value);
    else
        snprintf(v, sizeof v, "null");
    printf("{\"bench\": \"%s\", \"metric\": \"%s\", \"value\": %s, \"unit\": \"%s\"%s}\n", tag,
           metric, v, unit, extra ? extra : "");
    fflush(stdout);
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(BENCH_NAME ": ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p)
        die("out of memory (%zu bytes)", n);
    return p;
}

static long parse_arg(const char *s, const char *name, long lo, long hi)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo || v > hi)
        die("%s must be an integer from %ld to %ld, not \"%s\"\n"
            "usage: " BENCH_USAGE, name, lo, hi, s);
    return v;
}

#endif
