/* text.c -- numbers as text, timestamps, ids and the clock: the one copy of each that
 * the service's modules share. */
#include "format.h"

#include <errno.h>
#include <math.h>
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

/* jansson's touches to printf's "%.9g" in buf[0..n): ".0" when there is neither '.' nor
 * 'e', and no '+' or leading zeros in the exponent. */
static size_t jansson_real(char *buf, size_t n)
{
    if (!strchr(buf, '.') && !strchr(buf, 'e')) {
        memcpy(buf + n, ".0", 3);
        return n + 2;
    }
    char *e = strchr(buf, 'e');
    if (e) {
        char *from = e + 1 + (e[1] == '-' || e[1] == '+'), *to = e + 1 + (e[1] == '-');
        while (*from == '0' && from[1])
            from++;
        memmove(to, from, strlen(from) + 1);
        n = strlen(buf);
    }
    return n;
}

typedef unsigned __int128 u128;

/* 10^k as a 128-bit integer, k <= 38. */
static u128 pow10_128(int k)
{
    u128 p = 1;
    while (k--)
        p *= 10;
    return p;
}

/* m 2^e 10^s rounded to an integer, ties to even, as printf rounds the exact value; -1
 * when that would need more than 128 bits on the way (the caller then asks printf). */
static int scaled(uint64_t m, int e, int s, uint64_t *d)
{
    u128 q;
    if (s >= 0) {
        if (s > 27)
            return -1;
        u128 p = (u128)m * pow10_128(s);   /* < 2^24 10^27 < 2^114 */
        if (e >= 0) {
            if (e > 40 || p >> (64 - e))
                return -1;
            q = p << e;
        } else {
            int sh = -e;
            if (sh >= 127)
                return -1;
            q = p >> sh;
            u128 r = p - (q << sh), half = (u128)1 << (sh - 1);
            q += r > half || (r == half && (q & 1));
        }
    } else {
        if (-s > 30 || e < 0 || e > 100)
            return -1;
        u128 n = (u128)m << e, p = pow10_128(-s);   /* < 2^124, < 2^100 */
        q = n / p;
        u128 r = n - q * p;
        q += 2 * r > p || (2 * r == p && (q & 1));
    }
    if (q >> 63)
        return -1;
    *d = (uint64_t)q;
    return 0;
}

size_t text_real9(char *buf, double v)
{
    float f = (float)v;
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    unsigned be = bits >> 23 & 0xff;
    uint64_t m = be ? (bits & 0x7fffff) | 1u << 23 : bits & 0x7fffff, d = 0;
    int e = be ? (int)be - 150 : -149, k = 0, ok = (double)f == v && be != 0xff && m;
    if (ok) {
        /* the decimal exponent k of |f|, and its 9 significant digits d: 10^8 <= d <
         * 10^9, the first estimate off by at most one either way */
        int bitlen = 64 - __builtin_clzll(m);
        k = (int)floor((e + bitlen - 1) * 0.30102999566398120);
        ok = scaled(m, e, 8 - k, &d) == 0;
        while (ok && d >= 1000000000)
            ok = scaled(m, e, 8 - ++k, &d) == 0;
        while (ok && d < 100000000)
            ok = scaled(m, e, 8 - --k, &d) == 0;
    }
    if (!ok) {   /* zero, a double that is no float, or past the range above */
        int n = snprintf(buf, 32, "%.9g", v);
        return jansson_real(buf, n > 0 && n < 32 ? (size_t)n : 0);
    }
    char dig[9], *p = buf;
    for (int i = 8; i >= 0; i--, d /= 10)
        dig[i] = (char)('0' + d % 10);
    int last = 8;   /* the last digit printed: trailing zeros go, as %g drops them */
    while (last > 0 && dig[last] == '0')
        last--;
    if (bits >> 31)
        *p++ = '-';
    if (k < -4 || k >= 9) {   /* d.ddde[-]x */
        *p++ = dig[0];
        if (last > 0) {
            *p++ = '.';
            memcpy(p, dig + 1, (size_t)last);
            p += last;
        }
        *p++ = 'e';
        if (k < 0)
            *p++ = '-', k = -k;
        if (k >= 10)
            *p++ = (char)('0' + k / 10);
        *p++ = (char)('0' + k % 10);
    } else if (k >= 0) {   /* ddd.ddd, or ddd.0 */
        memcpy(p, dig, (size_t)k + 1);
        p += k + 1;
        *p++ = '.';
        if (last > k) {
            memcpy(p, dig + k + 1, (size_t)(last - k));
            p += last - k;
        } else {
            *p++ = '0';
        }
    } else {   /* 0.000ddd */
        memcpy(p, "0.000", (size_t)(1 - k));
        p += 1 - k;
        memcpy(p, dig, (size_t)last + 1);
        p += last + 1;
    }
    *p = 0;
    return (size_t)(p - buf);
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
