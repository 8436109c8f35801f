/* test_protobuf.c -- the protocol-buffers writer (server/format/protobuf.c) against the
 * bytes that protobuf's encoding guide (protobuf.dev/programming-guides/encoding) gives
 * for its examples, and bytes worked out by hand from its rules: varints, a negative
 * int64 in ten bytes, fixed-width values little-endian, strings, nested messages, packed
 * repeated fields, and a failed allocation passed from a child to its parent. The writer's
 * messages as a whole are read back by independent parsers elsewhere: Google's for
 * TensorBoard's events (test_api_tfevents.c), onnx's and ONNX Runtime's for the ONNX
 * export (tests/onnx/onnx.test.mjs). */
#include "format/format.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

/* b holds exactly the n bytes of want. */
static void bytes_are(const struct pb *b, const unsigned char *want, size_t n)
{
    ck_assert_int_eq(b->oom, 0);
    ck_assert_uint_eq(b->n, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(b->p[i] == want[i], "byte %zu is %02x, not %02x", i, b->p[i], want[i]);
}

START_TEST(guide_examples)
{
    /* Test1 {int32 a = 1} with a = 150 */
    struct pb b = {0};
    pb_int(&b, 1, 150);
    bytes_are(&b, (const unsigned char[]){0x08, 0x96, 0x01}, 3);
    /* Test2 {string b = 2} with b = "testing" */
    struct pb s = {0};
    pb_str(&s, 2, "testing");
    bytes_are(&s, (const unsigned char[]){0x12, 0x07, 0x74, 0x65, 0x73, 0x74, 0x69, 0x6e, 0x67},
              9);
    /* Test3 {Test1 c = 3} with c.a = 150: the nested message's bytes after its length */
    struct pb m = {0};
    pb_msg(&m, 3, &b);
    bytes_are(&m, (const unsigned char[]){0x1a, 0x03, 0x08, 0x96, 0x01}, 5);
    /* Test5 {repeated int32 f = 6 [packed]} with 3, 270, 86942 */
    struct pb p = {0};
    pb_ints(&p, 6, (const int64_t[]){3, 270, 86942}, 3);
    bytes_are(&p, (const unsigned char[]){0x32, 0x06, 0x03, 0x8e, 0x02, 0x9e, 0xa7, 0x05}, 8);
    pb_free(&b), pb_free(&s), pb_free(&m), pb_free(&p);
    pb_free(&b);   /* a zeroed struct is fine */
}
END_TEST

START_TEST(fixed_width_and_negative)
{
    struct pb b = {0};
    pb_int(&b, 1, -1);   /* an int64 of -1: ten bytes, as protobuf writes it */
    bytes_are(&b, (const unsigned char[]){0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                          0xff, 0x01}, 11);
    pb_free(&b);
    pb_float(&b, 2, 1.0f);   /* 0x3f800000, little-endian, wire type 5 */
    bytes_are(&b, (const unsigned char[]){0x15, 0x00, 0x00, 0x80, 0x3f}, 5);
    pb_free(&b);
    pb_double(&b, 1, -2.0);   /* 0xc000000000000000, wire type 1 */
    bytes_are(&b, (const unsigned char[]){0x09, 0, 0, 0, 0, 0, 0, 0, 0xc0}, 9);
    pb_free(&b);
    pb_floats(&b, 9, (const float[]){1.0f, -0.5f}, 2);   /* 8 bytes, length-delimited */
    bytes_are(&b, (const unsigned char[]){0x4a, 0x08, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00,
                                          0xbf}, 10);
    pb_free(&b);
    pb_int(&b, 16, 0);   /* a field past 15 takes a key of two bytes; 0 is still written */
    bytes_are(&b, (const unsigned char[]){0x80, 0x01, 0x00}, 3);
    pb_free(&b);
    pb_len(&b, 1, NULL, 0);   /* empty bytes: a key and a length of 0 */
    bytes_are(&b, (const unsigned char[]){0x0a, 0x00}, 2);
    pb_free(&b);
}
END_TEST

START_TEST(a_lost_child_marks_its_parent)
{
    struct pb child = {0}, parent = {0};
    pb_int(&parent, 1, 1);
    child.oom = 1;   /* as when an allocation failed */
    pb_int(&child, 1, 150);
    ck_assert_uint_eq(child.n, 0);   /* a marked buffer takes nothing more */
    pb_msg(&parent, 2, &child);
    ck_assert_int_eq(parent.oom, 1);
    pb_free(&child), pb_free(&parent);
    ck_assert_ptr_null(parent.p);
    ck_assert_int_eq(parent.oom, 0);
}
END_TEST

START_TEST(large_message)
{
    /* 2^18 + 1 floats, 2^20 + 4 bytes: a length of three bytes, and the buffer grows */
    const size_t n = (1u << 18) + 1;
    float *v = malloc(n * sizeof *v);
    ck_assert_ptr_nonnull(v);
    for (size_t i = 0; i < n; i++)
        v[i] = (float)i;
    struct pb b = {0};
    pb_floats(&b, 1, v, n);
    ck_assert_int_eq(b.oom, 0);
    ck_assert_uint_eq(b.n, 1 + 3 + 4 * n);
    /* 4n = 1048580 = 0x100004: varint 84 80 40 */
    ck_assert_uint_eq(b.p[1], 0x84);
    ck_assert_uint_eq(b.p[2], 0x80);
    ck_assert_uint_eq(b.p[3], 0x40);
    float last;
    unsigned char le[4] = {b.p[b.n - 4], b.p[b.n - 3], b.p[b.n - 2], b.p[b.n - 1]};
    uint32_t u = (uint32_t)le[0] | (uint32_t)le[1] << 8 | (uint32_t)le[2] << 16 |
                 (uint32_t)le[3] << 24;
    memcpy(&last, &u, sizeof last);
    ck_assert(last == (float)(n - 1));
    pb_free(&b);
    free(v);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("protobuf");
    TCase *tc = tcase_create("protobuf");
    tcase_add_test(tc, guide_examples);
    tcase_add_test(tc, fixed_width_and_negative);
    tcase_add_test(tc, a_lost_child_marks_its_parent);
    tcase_add_test(tc, large_message);
    suite_add_tcase(s, tc);
    return tu_run(s) != 0;
}
