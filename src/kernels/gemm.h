/* gemm.h - matrix products: the entry point nb__sgemm (gemm.c) and what gemm.c and
 * gemm_avx512.c (the AVX-512 implementation) share.
 *
 * Layouts, row-major: op(A) is (M, K), op(B) is (K, N), C is (M, N):
 *   transA = 0: A(m, k) = A[m*lda + k]      transA = 1: A(m, k) = A[k*lda + m]
 *   transB = 0: B(k, n) = B[k*ldb + n]      transB = 1: B(k, n) = B[n*ldb + k]
 *   C[m*ldc + n] = alpha · Σ_k A(m, k)·B(k, n) + beta · C[m*ldc + n]
 */
#ifndef NB_KERNELS_GEMM_H
#define NB_KERNELS_GEMM_H

#include <stdint.h>

/* The entry point (gemm.c): row-major C (M,N) = alpha·op(A)·op(B) + beta·C with cblas_sgemm(CblasRowMajor, ...)'s
 * semantics: op(A) (M,K) is A[m*lda+k] (transA = 0) or A[k*lda+m]; op(B) (K,N) is
 * B[k*ldb+n] (transB = 0) or B[n*ldb+k]; beta = 0 does not read C. AVX-512 kernels when
 * the CPU has them (any OPENBLAS_CORETYPE), else cblas_sgemm; the context's threads; no
 * allocation after a thread's first call; results identical for any thread count. */
void nb__sgemm(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
               const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

/* acc (N) += the column sums of g (M, N), row by row (the bias gradient of a product). */
void nb__add_col_sums(const float *g, int64_t M, int64_t N, float *acc);

/* C (M,N) = op(A)·op(B) + bias, bias[n] added to every row (a layer's bias): the same
 * values as filling C's rows with bias and calling nb__sgemm with alpha = beta = 1, but
 * each thread fills its own block of C just before it computes it (no serial pass). */
void nb__sgemm_bias(int transA, int transB, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                    const float *B, int64_t ldb, const float *bias, float *C, int64_t ldc);

/* C's rows [m0, m1) × columns [n0, n1) set to bias[n0..n1) */
void nb__gemm_fill_bias(const float *bias, float *C, int64_t ldc, int64_t m0, int64_t m1, int64_t n0, int64_t n1);

typedef struct {
    int transA, transB;
    int64_t M, N, K;
    float alpha, beta;
    const float *A, *B;
    float *C;
    int64_t lda, ldb, ldc;
    const float *bias; /* not NULL (with beta 1): C is filled with the bias rows first, block by block */
} nb__gemm_args;

/* The AVX-512 GEMM for M, N, K > 0 and alpha != 0; the caller has checked that
 * the CPU has AVX-512F. Uses up to `threads` OpenMP threads (1: no parallel
 * region). Returns 0, or -1 if a pack buffer could not be allocated (C untouched). */
int nb__sgemm_avx512(const nb__gemm_args *g, int threads);

/* The portable path (gemm.c): plain loops, any CPU, one thread. */
void nb__sgemm_portable(const nb__gemm_args *g);

#endif
