/* gemm.c - nb__sgemm: nabla's single-precision matrix product.
 *
 * Row-major, the semantics of cblas_sgemm(CblasRowMajor, ...):
 *   op(A) (M, K): transA = 0: A(m, k) = A[m*lda + k];  transA = 1: A(m, k) = A[k*lda + m]
 *   op(B) (K, N): transB = 0: B(k, n) = B[k*ldb + n];  transB = 1: B(k, n) = B[n*ldb + k]
 *   C (M, N):     C[m*ldc + n] = alpha · Σ_k A(m, k)·B(k, n) + beta · C[m*ldc + n]
 * beta = 0 does not read C (NaN there does not leak); alpha = 0 or K = 0 scales C
 * by beta only. Uses the context's thread count (nb__max_threads).
 *
 * Paths: the AVX-512 GEMM of gemm_avx512.c when the kernels run AVX-512 (core/isa.h:
 * the CPU has it and NB_ISA does not say otherwise; whatever OPENBLAS_CORETYPE says),
 * else cblas_sgemm (OpenBLAS picks its own kernels for the CPU), else a portable loop.
 */
#include "core/isa.h"
#include "core/threadpool.h"
#include "kernels/gemm.h"

#include <limits.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#ifdef NB_HAVE_OPENBLAS
#include <cblas.h>
#endif

/* C = beta·C without reading C when beta = 0. */
static void scale_c(int64_t M, int64_t N, float beta, float *C, int64_t ldc)
{
    for (int64_t m = 0; m < M; m++) {
        float *c = C + m * ldc;
        if (beta == 0.0f)
            for (int64_t n = 0; n < N; n++) c[n] = 0.0f;
        else if (beta != 1.0f)
            for (int64_t n = 0; n < N; n++) c[n] *= beta;
    }
}

/* The portable path: C = beta·C, then rank-1 updates in row order (vectorisable along n). */
void nb__sgemm_portable(const nb__gemm_args *g)
{
    scale_c(g->M, g->N, g->beta, g->C, g->ldc);
    for (int64_t m = 0; m < g->M; m++) {
        float *c = g->C + m * g->ldc;
        for (int64_t k = 0; k < g->K; k++) {
            float a = g->alpha * (g->transA ? g->A[k * g->lda + m] : g->A[m * g->lda + k]);
            if (g->transB)
                for (int64_t n = 0; n < g->N; n++) c[n] += a * g->B[n * g->ldb + k];
            else
                for (int64_t n = 0; n < g->N; n++) c[n] += a * g->B[k * g->ldb + n];
        }
    }
}

#ifdef NB_HAVE_OPENBLAS
/* Part p of P of C through cblas_sgemm: rows (split_m) or columns [p·n/P, (p+1)·n/P) on
 * multiples of 16. */
static void blas_part(const nb__gemm_args *g, int split_m, int64_t p, int64_t P)
{
    int64_t n = split_m ? g->M : g->N, b = n * p / P / 16 * 16, e = p + 1 == P ? n : n * (p + 1) / P / 16 * 16;
    if (e <= b) return;
    const float *A = g->A, *B = g->B;
    float *C = g->C;
    int64_t M = g->M, N = g->N;
    if (split_m) {
        A += g->transA ? b : b * g->lda;
        C += b * g->ldc;
        M = e - b;
    } else {
        B += g->transB ? b * g->ldb : b;
        C += b;
        N = e - b;
    }
    cblas_sgemm(CblasRowMajor, g->transA ? CblasTrans : CblasNoTrans, g->transB ? CblasTrans : CblasNoTrans, (int)M,
                (int)N, (int)g->K, g->alpha, A, (int)g->lda, B, (int)g->ldb, g->beta, C, (int)g->ldc);
}

typedef struct {
    const nb__gemm_args *g;
    int split_m;
    int64_t P;
} blas_job;

/* Parts [b, e) on a pool thread: OpenBLAS on one thread there (OpenMP's count is 1 on
 * the pool's workers; the caller's is set to 1 around its parts). */
static void blas_chunk(void *ctx, int64_t b, int64_t e, int slot)
{
    const blas_job *j = ctx;
#ifdef _OPENMP
    int saved = omp_in_parallel() ? 1 : omp_get_max_threads();
    if (saved > 1) omp_set_num_threads(1);
#endif
    for (int64_t p = b; p < e; p++) blas_part(j->g, j->split_m, p, j->P);
#ifdef _OPENMP
    if (saved > 1) omp_set_num_threads(saved);
#endif
}

/* cblas_sgemm on parts of C fixed by the shape alone (the longer of M and N cut into
 * up to 16 parts of at least 128), handed out one at a time to the threads; inside a
 * parallel region OpenBLAS runs on one thread. Every element is computed by one
 * OpenBLAS call of the same shape whatever the thread count, so the result does not
 * depend on it (OpenBLAS's own threading, splitting as it likes, made a cnn run differ
 * between 1 and 2 threads), and a thread the system deschedules delays one part, not
 * half of C. */
static void blas_parts(const nb__gemm_args *g, int threads)
{
    int split_m = g->M > g->N;
    int64_t n = split_m ? g->M : g->N, P = n / 128;
    if (P > 16) P = 16;
    if (P < 1 || g->M * g->N * g->K < ((int64_t)1 << 18)) P = 1;
    if (threads > 1 && P > 1 && !nb__in_parallel()) {
        blas_job j = {g, split_m, P};
        nb__parallel(P, 1, blas_chunk, &j);
        return;
    }
    /* OpenBLAS's OpenMP build threads a call outside a parallel region on OpenMP's
     * thread count (whatever openblas_set_num_threads said): one thread for these */
#ifdef _OPENMP
    int saved = omp_in_parallel() ? 1 : omp_get_max_threads();
    if (saved > 1) omp_set_num_threads(1);
#endif
    for (int64_t p = 0; p < P; p++) blas_part(g, split_m, p, P);
#ifdef _OPENMP
    if (saved > 1) omp_set_num_threads(saved);
#endif
}
#endif

void nb__gemm_fill_bias(const float *bias, float *C, int64_t ldc, int64_t m0, int64_t m1, int64_t n0, int64_t n1)
{
    for (int64_t m = m0; m < m1; m++) memcpy(C + m * ldc + n0, bias + n0, sizeof(float) * (size_t)(n1 - n0));
}

void nb__sgemm_bias(int transA, int transB, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                    const float *B, int64_t ldb, const float *bias, float *C, int64_t ldc)
{
    if (M <= 0 || N <= 0) return;
    nb__gemm_args g = {transA != 0, transB != 0, M, N, K, 1.0f, 1.0f, A, B, C, lda, ldb, ldc, bias};
    if (K > 0 && nb__isa() == NB__ISA_AVX512 && nb__sgemm_avx512(&g, nb__max_threads()) == 0) return;
    nb__gemm_fill_bias(bias, C, ldc, 0, M, 0, N); /* the other paths: bias first, then C += op(A)·op(B) */
    if (K > 0) nb__sgemm(transA, transB, M, N, K, 1.0f, A, lda, B, ldb, 1.0f, C, ldc);
}

void nb__sgemm(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
               const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) {
        scale_c(M, N, beta, C, ldc);
        return;
    }
    nb__gemm_args g = {transA != 0, transB != 0, M, N, K, alpha, beta, A, B, C, lda, ldb, ldc, NULL};
    if (nb__isa() == NB__ISA_AVX512 && nb__sgemm_avx512(&g, nb__max_threads()) == 0) return;
#ifdef NB_HAVE_OPENBLAS
    if (M <= INT_MAX && N <= INT_MAX && K <= INT_MAX && lda <= INT_MAX && ldb <= INT_MAX && ldc <= INT_MAX) {
        blas_parts(&g, nb__max_threads());
        return;
    }
#endif
    nb__sgemm_portable(&g);
}

void nb__add_col_sums(const float *g, int64_t M, int64_t N, float *acc)
{
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) acc[n] += g[m * N + n];
}
