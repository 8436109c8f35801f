/* test_format.c -- JSON text written without jansson's json_dumps (text_real9 in
 * server/format/text.c, json_text in server/http/reply.c) against json_dumps itself, the
 * writer the replies used before and the one a reader of their code knows: reals over a
 * spread of every float's exponent and mantissa, the floats next to each power of ten
 * (where the digits carry), doubles that are no float; and documents with every kind of
 * value, strings with every ASCII byte and UTF-8, keys in the order they were set. */
#include "format/format.h"
#include "http/http.h"
#include "testutil.h"

#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(9) | JSON_ENCODE_ANY)

/* text_real9(v) is what json_dumps writes for the real v; counts the values tried. */
static void same_real(double v, long *tried)
{
    char mine[32];
    size_t n = text_real9(mine, v);
    json_t *j = json_real(v);
    ck_assert_ptr_nonnull(j);
    char *theirs = json_dumps(j, FLAGS);
    ck_assert_msg(!strcmp(mine, theirs) && n == strlen(theirs), "%a: \"%s\", jansson \"%s\"",
                  v, mine, theirs);
    free(theirs);
    json_decref(j);
    ++*tried;
}

static void same_float_bits(uint32_t bits, long *tried)
{
    float f;
    memcpy(&f, &bits, sizeof f);
    if (isfinite(f))
        same_real(f, tried);
}

/* Every 65,521st bit pattern (a prime step, so every mantissa's low bits vary), and the
 * first and last 40 mantissas of every exponent, both signs. */
START_TEST(reals_over_every_exponent)
{
    long tried = 0;
    for (uint64_t b = 0; b < (1ull << 32); b += 65521)
        same_float_bits((uint32_t)b, &tried);
    for (uint32_t sign = 0; sign < 2; sign++)
        for (uint32_t e = 0; e < 255; e++)
            for (uint32_t m = 0; m < 40; m++) {
                same_float_bits(sign << 31 | e << 23 | m, &tried);
                same_float_bits(sign << 31 | e << 23 | (0x7fffff - m), &tried);
            }
    ck_assert_int_gt(tried, 80000);
}
END_TEST

/* Around each power of ten a float can reach, 10^-45 to 10^38: the 2,000 floats on
 * either side, where 9 digits round up to the next decade (9.99999999e(k) and
 * 1.00000000e(k+1)) and printf's exponent and %g's choice of style change; and the
 * decimals 0.001 to 1000 with up to 3 places, as inputs and outputs often are. */
START_TEST(reals_around_powers_of_ten)
{
    long tried = 0;
    for (int k = -45; k <= 38; k++) {
        float p = (float)pow(10, k);
        uint32_t bits;
        memcpy(&bits, &p, sizeof bits);
        for (int64_t d = -2000; d <= 2000; d++)
            if ((int64_t)bits + d > 0 && (int64_t)bits + d < 0x7f800000)
                same_float_bits((uint32_t)((int64_t)bits + d), &tried);
    }
    for (int i = 1; i <= 1000000; i += 7)
        same_real((float)(i / 1000.0), &tried);
    same_real(0.0, &tried);
    same_real(-0.0, &tried);
    same_real(FLT_TRUE_MIN, &tried);
    same_real(-FLT_MIN, &tried);
    same_real(FLT_MAX, &tried);
    ck_assert_int_gt(tried, 400000);
}
END_TEST

/* Doubles that are no float go through printf, with jansson's touches. */
START_TEST(reals_that_are_no_float)
{
    long tried = 0;
    static const double v[] = {0.1, 1.0 / 3, 1e300, -1e-300, 123456789012.5, 5e-324,
                               1.7976931348623157e308, 2.5e-5, 1e21, 100.0 + 1e-9};
    for (size_t i = 0; i < sizeof v / sizeof *v; i++)
        same_real(v[i], &tried);
    srand(7);
    for (int i = 0; i < 20000; i++) {
        uint64_t b = (uint64_t)rand() << 33 ^ (uint64_t)rand() << 11 ^ (uint64_t)rand();
        double d;
        memcpy(&d, &b, sizeof d);
        if (isfinite(d))
            same_real(d, &tried);
    }
    ck_assert_int_gt(tried, 15000);
}
END_TEST

static void same_text(json_t *v)
{
    size_t len = 0;
    char *mine = json_text(v, &len), *theirs = json_dumps(v, FLAGS);
    ck_assert_ptr_nonnull(mine);
    ck_assert_ptr_nonnull(theirs);
    ck_assert_msg(!strcmp(mine, theirs) && len == strlen(theirs), "\"%s\"\njansson \"%s\"",
                  mine, theirs);
    free(mine);
    free(theirs);
}

/* Every kind of value, nested; keys in the order set, a deleted one set again last;
 * strings with each byte 1..127, a NUL, two-, three- and four-byte UTF-8. */
START_TEST(documents_as_json_dumps_writes_them)
{
    char all[128];
    for (int c = 1; c < 128; c++)
        all[c - 1] = (char)c;
    all[127] = 0;
    json_t *doc = json_pack("{s:n, s:b, s:b, s:I, s:I, s:I, s:f, s:f, s:[], s:{}, s:s, s:s%}",
                            "null", "yes", 1, "no", 0, "zero", (json_int_t)0,
                            "min", (json_int_t)INT64_MIN, "max", (json_int_t)INT64_MAX,
                            "real", 0.1, "float", (double)0.1f, "empty", "nothing",
                            "ascii", all, "nul", "a\0b", (size_t)3);
    ck_assert_ptr_nonnull(doc);
    json_object_set_new(doc, "utf-8 \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",
                        json_string("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe2\x80\xa8"));
    json_object_del(doc, "zero");
    json_object_set_new(doc, "zero", json_integer(0));
    json_t *rows = json_array();
    for (int i = 0; i < 5; i++) {
        json_t *row = json_array();
        for (int j = 0; j < 10; j++)
            json_array_append_new(row, json_real((float)(i * 10 + j) / 7.0f));
        json_array_append_new(rows, row);
    }
    json_object_set_new(doc, "outputs", rows);
    json_object_set_new(doc, "nested", json_pack("[[[{s:[i,{}]}]],[]]", "\"q\\", 1));
    same_text(doc);
    same_text(rows);
    same_text(json_object_get(doc, "ascii"));
    json_decref(doc);
    json_t *empty = json_object();
    same_text(empty);
    json_decref(empty);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("format");
    TCase *tc = tcase_create("json text");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, reals_over_every_exponent);
    tcase_add_test(tc, reals_around_powers_of_ten);
    tcase_add_test(tc, reals_that_are_no_float);
    tcase_add_test(tc, documents_as_json_dumps_writes_them);
    suite_add_tcase(s, tc);
    return tu_run(s) != 0;
}
