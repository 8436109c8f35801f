/* protobuf.c -- protocol buffers, written (format.h): a message is built whole in a
 * growing buffer, since a length-delimited field's length comes before its bytes, and
 * nested messages are built in their own buffer first, then copied into their parent's.
 *
 * DESIGN. Only the four wire types that proto3 messages need when written are here:
 * varint (0), 64-bit (1), length-delimited (2) and 32-bit (5). Fixed-width values are
 * written little-endian byte by byte, so the bytes are the same on any host. A buffer
 * that failed to grow is marked (oom) and takes nothing more; a parent given a marked
 * child is marked too, so a caller checks once, at the end. TensorBoard's event files
 * (tfevents.c) and the service's ONNX export (domain/onnx.c) are built with it.
 */
#include "format.h"

#include <stdlib.h>
#include <string.h>

void pb_bytes(struct pb *b, const void *data, size_t len)
{
    if (b->oom || len == 0)   /* an empty message's bytes may be NULL */
        return;
    if (b->n + len > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + len)
            cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, len);
    b->n += len;
}

void pb_varint(struct pb *b, uint64_t v)
{
    unsigned char buf[10];
    size_t n = 0;
    do {
        buf[n++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    pb_bytes(b, buf, n);
}

void pb_key(struct pb *b, int field, int wire)
{
    pb_varint(b, (uint64_t)field << 3 | (uint64_t)wire);
}

/* Little-endian bytes of v, n of them. */
static void pb_le(struct pb *b, uint64_t v, int n)
{
    unsigned char buf[8];
    for (int i = 0; i < n; i++)
        buf[i] = (unsigned char)(v >> (8 * i));
    pb_bytes(b, buf, (size_t)n);
}

void pb_int(struct pb *b, int field, int64_t v)
{
    pb_key(b, field, PB_VARINT);
    pb_varint(b, (uint64_t)v);   /* a negative int64 takes ten bytes, as protobuf's */
}

void pb_double(struct pb *b, int field, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    pb_key(b, field, PB_I64);
    pb_le(b, u, 8);
}

void pb_float(struct pb *b, int field, float v)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    pb_key(b, field, PB_I32);
    pb_le(b, u, 4);
}

void pb_len(struct pb *b, int field, const void *data, size_t len)
{
    pb_key(b, field, PB_LEN);
    pb_varint(b, len);
    pb_bytes(b, data, len);
}

void pb_str(struct pb *b, int field, const char *s)
{
    pb_len(b, field, s, strlen(s));
}

void pb_msg(struct pb *b, int field, const struct pb *m)
{
    if (m->oom)
        b->oom = 1;
    else
        pb_len(b, field, m->p, m->n);
}

void pb_floats(struct pb *b, int field, const float *v, size_t n)
{
    pb_key(b, field, PB_LEN);
    pb_varint(b, 4 * (uint64_t)n);
    for (size_t i = 0; i < n && !b->oom; i++) {
        uint32_t u;
        memcpy(&u, &v[i], sizeof u);
        pb_le(b, u, 4);
    }
}

void pb_ints(struct pb *b, int field, const int64_t *v, size_t n)
{
    struct pb m = {0};
    for (size_t i = 0; i < n; i++)
        pb_varint(&m, (uint64_t)v[i]);
    if (m.oom)
        b->oom = 1;
    else
        pb_len(b, field, m.p, m.n);
    pb_free(&m);
}

void pb_free(struct pb *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}
