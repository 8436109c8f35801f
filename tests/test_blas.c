/* test_blas.c -- core/blas.c's mm_rows: against mm_ref (the plain loop in double) on odd
 * shapes and strides, and each element the same bits whatever the call's shape and the
 * element's place in it (computed alone, as a 1x1 call, and inside calls of every
 * smaller M and N). */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

/* C (M,N) with ldc, A (M,K) with lda, W (N,K) with ldw: strides wider than K and N, the
 * extra columns filled with values that must not leak in. */
START_TEST(mm_rows_matches_ref)
{
    enum { MM = 9, NM = 13, KM = 37, PAD = 5 };
    float A[MM * (KM + PAD)], W[NM * (KM + PAD)], C[MM * (NM + PAD)], R[MM * (NM + PAD)];
    int shapes = 0;
    for (int M = 1; M <= MM; M++)
        for (int N = 1; N <= NM; N++)
            for (int K = 1; K <= KM; K++) {
                int lda = K + (M % 3) * PAD / 2, ldw = K + (N % 2) * PAD, ldc = N + (K % 4);
                uint64_t seed = (uint64_t)(M * 10000 + N * 100 + K);
                tu_fill(A, sizeof A / sizeof *A, -1, 1, seed);
                tu_fill(W, sizeof W / sizeof *W, -1, 1, seed + 1);
                tu_fill(C, sizeof C / sizeof *C, -1, 1, seed + 2);
                memcpy(R, C, sizeof C);
                mm_rows(M, N, K, A, lda, W, ldw, C, ldc);
                mm_ref(0, 1, M, N, K, 1, A, lda, W, ldw, 1, R, ldc);
                for (int i = 0; i < M; i++)
                    for (int j = 0; j < ldc; j++) {
                        float got = C[i * ldc + j], want = R[i * ldc + j];
                        ck_assert_msg(fabsf(got - want) <= 1e-5f * (1 + fabsf(want)),
                                      "M %d N %d K %d: C[%d][%d] = %.9g, expected %.9g", M,
                                      N, K, i, j, got, want);
                    }
                shapes++;
            }
    ck_assert_int_eq(shapes, MM * NM * KM);
}
END_TEST

/* A hand-computed case: K = 10 (one vector and a tail of 2), C starting at the bias. */
START_TEST(mm_rows_by_hand)
{
    float A[2 * 10], W[3 * 10], C[2 * 3] = {1, 2, 3, -1, -2, -3};
    for (int k = 0; k < 10; k++) {
        A[k] = (float)k;            /* 0 .. 9 */
        A[10 + k] = 1;
        W[k] = 1;
        W[10 + k] = (float)(k % 2); /* the odd ones */
        W[20 + k] = -2;
    }
    mm_rows(2, 3, 10, A, 10, W, 10, C, 3);
    const float want[6] = {1 + 45, 2 + 25, 3 - 90, -1 + 10, -2 + 5, -3 - 20};
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(C[i], want[i]);
}
END_TEST

/* Every element of a 9x13 product is the same bits computed alone, and inside a call of
 * any smaller shape starting at any row: the tile it lands in changes nothing. */
START_TEST(mm_rows_shape_independent)
{
    enum { M = 9, N = 13 };
    const int Ks[] = {1, 7, 8, 9, 33, 64, 100};
    for (size_t q = 0; q < sizeof Ks / sizeof *Ks; q++) {
        const int K = Ks[q];
        float *A = malloc(sizeof(float) * M * K), *W = malloc(sizeof(float) * N * K);
        float full[M * N], part[M * N];
        ck_assert(A && W);
        tu_fill(A, (size_t)M * K, -1, 1, 40 + q);
        tu_fill(W, (size_t)N * K, -1, 1, 50 + q);
        tu_fill(full, M * N, -1, 1, 60);
        float bias[M * N];
        memcpy(bias, full, sizeof full);
        mm_rows(M, N, K, A, K, W, K, full, N);
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                float c = bias[i * N + j];
                mm_rows(1, 1, K, A + i * K, K, W + j * K, K, &c, 1);
                ck_assert_msg(memcmp(&c, &full[i * N + j], sizeof c) == 0,
                              "K %d: C[%d][%d] alone %.9g, in the 9x13 call %.9g", K, i, j,
                              c, full[i * N + j]);
            }
        for (int r0 = 0; r0 < M; r0++)
            for (int m = 1; r0 + m <= M; m++)
                for (int n = 1; n <= N; n++) {
                    memcpy(part, bias, sizeof part);
                    mm_rows(m, n, K, A + r0 * K, K, W, K, part + r0 * N, N);
                    for (int i = r0; i < r0 + m; i++)
                        ck_assert_msg(memcmp(part + i * N, full + i * N, n * sizeof(float)) == 0,
                                      "K %d: row %d differs in a %dx%d call from row %d", K,
                                      i, m, n, r0);
                }
        free(A);
        free(W);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("blas");
    TCase *t = tcase_create("mm_rows");
    tcase_set_timeout(t, 30);
    tcase_add_test(t, mm_rows_by_hand);
    tcase_add_test(t, mm_rows_matches_ref);
    tcase_add_test(t, mm_rows_shape_independent);
    suite_add_tcase(s, t);
    return tu_run(s) != 0;
}
