/* gemm.h - what gemm.c (the entry point nb__sgemm, declared in internal.h) and
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

typedef struct {
    int transA, transB;
    int64_t M, N, K;
    float alpha, beta;
    const float *A, *B;
    float *C;
    int64_t lda, ldb, ldc;
} nb__gemm_args;

/* The AVX-512 GEMM for M, N, K > 0 and alpha != 0; the caller has checked that
 * the CPU has AVX-512F. Uses up to `threads` OpenMP threads (1: no parallel
 * region). Returns 0, or -1 if a pack buffer could not be allocated (C untouched). */
int nb__sgemm_avx512(const nb__gemm_args *g, int threads);

/* The portable path (gemm.c): plain loops, any CPU, one thread. */
void nb__sgemm_portable(const nb__gemm_args *g);

#endif
