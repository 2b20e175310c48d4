/* gemm.c - GFLOP/s of nabla's nb__sgemm beside cblas_sgemm (OpenBLAS, with the
 * kernels OPENBLAS_CORETYPE selects) at 1 and 2 threads, for the mlp's products
 * (forward x·Wᵀ, backward dx = g·W and dW = gᵀ·x, batch-1 inference) and
 * conv-like shapes. Each figure is the best of 7 trials of ~15 ms.
 *   make bench/gemm && build/bench/gemm
 *   env -u OPENBLAS_CORETYPE build/bench/gemm     # OpenBLAS's AVX-512 kernels */
#include "nabla.h"
#include "core/threads.h"
#include "kernels/gemm.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

char *openblas_get_corename(void);

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

typedef struct {
    const char *what;
    int ta, tb, M, N, K;
} shape;

static void call(int nabla, const shape *s, const float *A, const float *B, float *C)
{
    int lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
    if (nabla)
        nb__sgemm(s->ta, s->tb, s->M, s->N, s->K, 1.0f, A, lda, B, ldb, 0.0f, C, s->N);
    else
        cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans, s->tb ? CblasTrans : CblasNoTrans, s->M, s->N,
                    s->K, 1.0f, A, lda, B, ldb, 0.0f, C, s->N);
}

static double gflops(int nabla, const shape *s, const float *A, const float *B, float *C)
{
    double flop = 2.0 * s->M * s->N * s->K, best = 1e30;
    call(nabla, s, A, B, C);
    double t = now();
    int reps = 1;
    call(nabla, s, A, B, C);
    while (now() - t < 0.015) call(nabla, s, A, B, C), reps++;
    for (int trial = 0; trial < 7; trial++) {
        t = now();
        for (int r = 0; r < reps; r++) call(nabla, s, A, B, C);
        t = (now() - t) / reps;
        if (t < best) best = t;
    }
    return flop / best / 1e9;
}

int main(int argc, char **argv)
{
    static const shape shapes[] = {
        {"mlp fwd L1   x·Wᵀ", 0, 1, 128, 512, 784},  {"mlp fwd L2   x·Wᵀ", 0, 1, 128, 256, 512},
        {"mlp fwd L3   x·Wᵀ", 0, 1, 128, 10, 256},   {"mlp dx  L2   g·W", 0, 0, 128, 784, 512},
        {"mlp dW  L1   gᵀ·x", 1, 0, 512, 784, 128},  {"mlp dW  L2   gᵀ·x", 1, 0, 256, 512, 128},
        {"batch-1 L1   x·Wᵀ", 0, 1, 1, 512, 784},    {"batch-8 L1   x·Wᵀ", 0, 1, 8, 512, 784},
        {"conv 3x3 C=1", 0, 0, 25088, 32, 9},        {"conv 3x3 C=32", 0, 0, 6272, 64, 288},
        {"square", 0, 0, 1024, 1024, 1024},
    };
    int ns = (int)(sizeof shapes / sizeof shapes[0]);
    const char *only = argc > 1 ? argv[1] : NULL;
    nb_ctx *ctx = nb_ctx_new(NULL);
    printf("OpenBLAS core %s; GFLOP/s, best of 7\n\n", openblas_get_corename());
    printf("| shape | tA tB | M, N, K | nabla 1T | OpenBLAS 1T | nabla 2T | OpenBLAS 2T |\n|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < ns; i++) {
        const shape *s = &shapes[i];
        if (only && !strstr(s->what, only)) continue;
        size_t na = (size_t)s->M * s->K, nbb = (size_t)s->K * s->N, nc = (size_t)s->M * s->N;
        float *A = aligned_alloc(64, (na + 16) * 4), *B = aligned_alloc(64, (nbb + 16) * 4),
              *C = aligned_alloc(64, (nc + 16) * 4);
        for (size_t j = 0; j < na; j++) A[j] = (float)(j % 7) * 0.1f - 0.3f;
        for (size_t j = 0; j < nbb; j++) B[j] = (float)(j % 5) * 0.1f - 0.2f;
        double g[4];
        for (int t = 1; t <= 2; t++) {
            nb__set_threads(t);
            g[2 * (t - 1)] = gflops(1, s, A, B, C);
            g[2 * (t - 1) + 1] = gflops(0, s, A, B, C);
        }
        printf("| %s | %c %c | %d, %d, %d | %.1f | %.1f | %.1f | %.1f |\n", s->what, s->ta ? 'T' : 'N',
               s->tb ? 'T' : 'N', s->M, s->N, s->K, g[0], g[1], g[2], g[3]);
        fflush(stdout);
        free(A), free(B), free(C);
    }
    nb_ctx_free(ctx);
    return 0;
}
