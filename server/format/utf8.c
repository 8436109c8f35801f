/* utf8.c -- UTF-8 text: the one decoder of the service, and what is built on it (checking
 * names and labels, cleaning text echoed into problems, cutting and quoting it). */
#include "format.h"

#include <string.h>

size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c == 0 || n == 0)
        return 0;
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned min;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, min = 0x10000;
    else
        return 0;
    if (n < len)
        return 0;
    unsigned cp = c & (0x3f >> (len - 1));
    for (size_t i = 1; i < len; i++) {   /* a NUL is no continuation byte: never reads past it */
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

int utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(u + i, n - i);
        if (!k)
            return 0;
        i += k;
    }
    return 1;
}

void utf8_clean(char *s)
{
    unsigned char *p = (unsigned char *)s;
    size_t left = strlen(s);
    while (left) {
        size_t k = utf8_seq(p, left);
        if (!k) {
            *p = '?';
            k = 1;
        }
        p += k;
        left -= k;
    }
}

size_t utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)   /* s[n] starts the rest */
        n--;
    return n;
}

char *text_echo(char *dst, size_t cap, const char *s, size_t n, size_t max)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t o = 0, i = 0;
    while (i < n && o + 8 < cap) {
        if (i >= max) {
            memcpy(dst + o, "...", 3);
            o += 3;
            break;
        }
        size_t k = utf8_seq(u + i, n - i);
        if (k == 1 && (u[i] < 0x20 || u[i] == 0x7f))
            k = 0;
        if (k == 0) {
            dst[o++] = '?';
            i++;
        } else {
            memcpy(dst + o, s + i, k);
            o += k;
            i += k;
        }
    }
    dst[o] = 0;
    return dst;
}
