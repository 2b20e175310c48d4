/* gemm.c - nb__sgemm: nabla's single-precision matrix product.
 *
 * Row-major, the semantics of cblas_sgemm(CblasRowMajor, ...):
 *   op(A) (M, K): transA = 0: A(m, k) = A[m*lda + k];  transA = 1: A(m, k) = A[k*lda + m]
 *   op(B) (K, N): transB = 0: B(k, n) = B[k*ldb + n];  transB = 1: B(k, n) = B[n*ldb + k]
 *   C (M, N):     C[m*ldc + n] = alpha · Σ_k A(m, k)·B(k, n) + beta · C[m*ldc + n]
 * beta = 0 does not read C (NaN there does not leak); alpha = 0 or K = 0 scales C
 * by beta only. Uses the context's thread count (nb__max_threads).
 *
 * Paths: the AVX-512 GEMM of gemm_avx512.c when the CPU has AVX-512F (whatever
 * OPENBLAS_CORETYPE says), else cblas_sgemm, else a portable blocked loop.
 */
#include "core/threads.h"
#include "kernels/gemm.h"

#include "kernels/gemm.h"

#include <limits.h>

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

static int have_avx512(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    static int known = -1;
    if (known < 0) known = __builtin_cpu_supports("avx512f") ? 1 : 0;
    return known;
#else
    return 0;
#endif
}

void nb__sgemm(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
               const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) {
        scale_c(M, N, beta, C, ldc);
        return;
    }
    nb__gemm_args g = {transA != 0, transB != 0, M, N, K, alpha, beta, A, B, C, lda, ldb, ldc};
    if (have_avx512() && nb__sgemm_avx512(&g, nb__max_threads()) == 0) return;
#ifdef NB_HAVE_OPENBLAS
    if (M <= INT_MAX && N <= INT_MAX && K <= INT_MAX && lda <= INT_MAX && ldb <= INT_MAX && ldc <= INT_MAX) {
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, (int)M,
                    (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
        return;
    }
#endif
    nb__sgemm_portable(&g);
}
