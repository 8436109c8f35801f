/* blas.c -- every matrix multiply of the engine goes through mm (OpenBLAS sgemm), but
 * the forward products of inference, which go through mm_rows (below), whose result for
 * a row does not depend on the other rows of the call. mm_ref is the same product as a
 * plain loop, kept as the reference the tests use. */
#include "nn_internal.h"

#include <cblas.h>

void mm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
        const float *B, int ldb, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0)
        return;
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void mm_ref(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
            const float *B, int ldb, float beta, float *C, int ldc)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++)
                s += (double)(ta ? A[k * lda + i] : A[i * lda + k]) *
                     (tb ? B[j * ldb + k] : B[k * ldb + j]);
            C[i * ldc + j] = (float)(alpha * s + (beta != 0 ? beta * C[i * ldc + j] : 0));
        }
}

/* ---- mm_rows: the inference product, the same bits for a row in any batch ----
 *
 * DESIGN. OpenBLAS picks its blocking and kernels by the shape of the call, so a row's
 * outputs change with the rows around it, and a one-row call pays for packing all of W.
 * mm_rows computes each C[i][j] as one dot product whose float operations are fixed by K
 * alone: eight lanes over k (lane l takes k ≡ l mod 8), one fused multiply-add per k, a
 * K tail that is not a multiple of 8 read as if zero-padded, then the lanes reduced as
 * ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)), added to C[i][j]. A tile keeps twelve such dot
 * products in registers for speed: 4 rows of A by 3 rows of W, and for a call's last 2
 * or 3 rows 2 by 6 or 3 by 4; a last single row (a one-row prediction's only one) takes
 * 1 by 8. The edges run the same dot products fewer at a time. Which code runs (AVX2
 * with FMA, or the plain loop) depends only on the machine, so every call of a process
 * takes the same one. */

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(NN_NO_CLONES)
#include <immintrin.h>
#define MM_ROWS_AVX2 1

#define AVX2 __attribute__((target("avx2,fma")))

AVX2 static inline float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* C[0..mr)[0..nr) += A[0..mr) · W[0..nr)ᵀ over K; mr <= 4, nr <= 8, mr * nr <= 12
 * (constants where inlined, so the unused accumulators vanish). */
AVX2 static inline __attribute__((always_inline)) void
tile_avx2(int mr, int nr, int K, const float *A, int lda, const float *W, int ldw, float *C,
          int ldc)
{
    __m256 acc[4][8], a[4], w[8];
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++)
            acc[i][j] = _mm256_setzero_ps();
    /* the smaller of the tile's two sets of 8 k is loaded first and the other streamed,
     * so that accumulators and loads fit the 16 registers (4x3: 12 + 3 + 1) */
    int k = 0;
    for (; k + 8 <= K; k += 8) {
        if (mr <= nr) {
            for (int i = 0; i < mr; i++)
                a[i] = _mm256_loadu_ps(A + (size_t)i * lda + k);
            for (int j = 0; j < nr; j++) {
                __m256 x = _mm256_loadu_ps(W + (size_t)j * ldw + k);
                for (int i = 0; i < mr; i++)
                    acc[i][j] = _mm256_fmadd_ps(a[i], x, acc[i][j]);
            }
        } else {
            for (int j = 0; j < nr; j++)
                w[j] = _mm256_loadu_ps(W + (size_t)j * ldw + k);
            for (int i = 0; i < mr; i++) {
                __m256 x = _mm256_loadu_ps(A + (size_t)i * lda + k);
                for (int j = 0; j < nr; j++)
                    acc[i][j] = _mm256_fmadd_ps(x, w[j], acc[i][j]);
            }
        }
    }
    if (k < K) {
        static const int ramp[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
        __m256i m = _mm256_loadu_si256((const __m256i *)(ramp + 8 - (K - k)));
        for (int i = 0; i < mr; i++)
            a[i] = _mm256_maskload_ps(A + (size_t)i * lda + k, m);
        for (int j = 0; j < nr; j++) {
            __m256 x = _mm256_maskload_ps(W + (size_t)j * ldw + k, m);
            for (int i = 0; i < mr; i++)
                acc[i][j] = _mm256_fmadd_ps(a[i], x, acc[i][j]);
        }
    }
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++)
            C[(size_t)i * ldc + j] += hsum8(acc[i][j]);
}

/* C[i0..i0+mr) over all N columns, mr <= 4 rows at once: tiles of mr rows by NR rows
 * of W, the last tile narrower. One row takes 8 rows of W at a time, more rows 12 / mr:
 * more accumulators keep more loads and multiply-adds in flight, but one row's tiles
 * of 12 streamed a W that does not fit in L2 (2048 x 2048) about a third slower than
 * tiles of 8 (mm_rows(1, N, K) on this project's machine, best of 5: 1 x 3 8.8-9.4 us at
 * 256 x 784 and 285-458 us at 2048 x 2048; 1 x 8 8.0-8.3 and 260-338; 1 x 12 9.2-9.6 and
 * 481-516). Every (mr, nr) is spelled out, so that each is a tile with constant loops. */
AVX2 static void rows_avx2(int mr, int N, int K, const float *a, int lda, const float *W,
                           int ldw, float *c, int ldc)
{
    const int NR = mr == 1 ? 8 : 12 / mr;
    for (int j = 0; j < N; j += NR) {
        const int nr = N - j < NR ? N - j : NR;
        const float *w = W + (size_t)j * ldw;
#define T(m, n) case m * 16 + n: tile_avx2(m, n, K, a, lda, w, ldw, c + j, ldc); break;
        switch (mr * 16 + nr) {
        T(1, 1) T(1, 2) T(1, 3) T(1, 4) T(1, 5) T(1, 6) T(1, 7) T(1, 8)
        T(2, 1) T(2, 2) T(2, 3) T(2, 4) T(2, 5) T(2, 6)
        T(3, 1) T(3, 2) T(3, 3) T(3, 4)
        T(4, 1) T(4, 2) T(4, 3)
        }
#undef T
    }
}

AVX2 static void mm_rows_avx2(int M, int N, int K, const float *A, int lda, const float *W,
                              int ldw, float *C, int ldc)
{
    /* 32 rows of A at a time (100 KB at K = 784, in L2), and over them 3 rows of W at a
     * time, 4 rows of A by 3 of W to a tile; the last 1-3 rows of the 32 go together over
     * all of W. The order changes which loads hit the cache, never an element's sum. */
    enum { MB = 32 };
    for (int i0 = 0; i0 < M; i0 += MB) {
        const int i1 = M - i0 < MB ? M : i0 + MB, i4 = i0 + (i1 - i0) / 4 * 4;
        for (int j = 0; j < N && i4 > i0; j += 3) {
            const int nr = N - j < 3 ? N - j : 3;
            for (int i = i0; i < i4; i += 4)
                rows_avx2(4, nr, K, A + (size_t)i * lda, lda, W + (size_t)j * ldw, ldw,
                          C + (size_t)i * ldc + j, ldc);
        }
        if (i4 < i1)
            rows_avx2(i1 - i4, N, K, A + (size_t)i4 * lda, lda, W, ldw, C + (size_t)i4 * ldc,
                      ldc);
    }
}
#undef AVX2
#endif

/* The plain path: the same lane layout and reduction order with a multiply and an add
 * (no fused multiply-add, which a machine without FMA would have to emulate). noinline,
 * so that every element goes through this one compiled sequence. */
__attribute__((noinline)) static float dot_plain(int K, const float *a, const float *w)
{
    float l[8] = {0};
    int k = 0;
    for (; k + 8 <= K; k += 8)
        for (int q = 0; q < 8; q++) {
            float p = a[k + q] * w[k + q];
            l[q] = l[q] + p;
        }
    for (int q = 0; k + q < K; q++) {
        float p = a[k + q] * w[k + q];
        l[q] = l[q] + p;
    }
    return ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]));
}

static void mm_rows_plain(int M, int N, int K, const float *A, int lda, const float *W,
                          int ldw, float *C, int ldc)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++)
            C[(size_t)i * ldc + j] += dot_plain(K, A + (size_t)i * lda, W + (size_t)j * ldw);
}

int mm_rows_path(void)
{
#ifdef MM_ROWS_AVX2
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return 1;
#endif
    return 0;
}

void mm_rows(int M, int N, int K, const float *A, int lda, const float *W, int ldw, float *C,
             int ldc)
{
    if (M <= 0 || N <= 0 || K <= 0)
        return;
#ifdef MM_ROWS_AVX2
    if (mm_rows_path()) {
        mm_rows_avx2(M, N, K, A, lda, W, ldw, C, ldc);
        return;
    }
#endif
    mm_rows_plain(M, N, K, A, lda, W, ldw, C, ldc);
}
