/* text.c -- numbers as text, timestamps, ids and the clock: the one copy of each that
 * the service's modules share. */
#include "format.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

int text_number(const char *s, size_t n, double *v)
{
    const char *p = s;
    while (*p == ' ' || *p == '\t')
        p++;
    const char *q = p + (*p == '+' || *p == '-');
    if (!*p || (q[0] == '0' && (q[1] == 'x' || q[1] == 'X')))
        return 0;
    char *end;
    errno = 0;
    double d = strtod(p, &end);
    if (end == p)
        return 0;
    while (*end == ' ' || *end == '\t')
        end++;
    if (end != s + n)
        return 0;
    *v = d;
    return 1;
}

double shortest_double(float f)
{
    char buf[32];
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
        if (strtof(buf, NULL) == f)
            return strtod(buf, NULL);
    }
    return (double)f;   /* NaN: nothing reads back as it */
}

double clock_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

void now_iso(char *buf)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    struct tm tm;
    gmtime_r(&t.tv_sec, &tm);
    size_t n = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, 32 - n, ".%03dZ", (int)(t.tv_nsec / 1000000));
}

void deadline_in(struct timespec *t, double seconds)
{
    clock_gettime(CLOCK_REALTIME, t);
    long ns = t->tv_nsec + (long)((seconds - (long)seconds) * 1e9);
    t->tv_sec += (time_t)seconds + ns / 1000000000;
    t->tv_nsec = ns % 1000000000;
}

const char *id_kind(const char *id)
{
    static const char *const kinds[][2] = {{"ds_", "dataset"}, {"net_", "network"},
                                           {"job_", "job"}, {"mdl_", "model"}};
    for (size_t i = 0; id && i < sizeof kinds / sizeof kinds[0]; i++)
        if (strncmp(id, kinds[i][0], strlen(kinds[i][0])) == 0)
            return kinds[i][1];
    return NULL;
}

void new_id(char *buf, const char *prefix)
{
    static const char digits[] = "0123456789abcdefghjkmnpqrstvwxyz";
    unsigned char r[12];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
        /* getrandom does not fail for 12 bytes once the pool is ready; fall back anyway */
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        for (size_t i = 0; i < sizeof r; i++)
            r[i] = (unsigned char)((t.tv_nsec >> (i % 4 * 8)) ^ (i * 131) ^ rand());
    }
    int n = snprintf(buf, 32, "%s", prefix);
    for (size_t i = 0; i < sizeof r && n < 31; i++)
        buf[n++] = digits[r[i] & 31];
    buf[n] = 0;
}
