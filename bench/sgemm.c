/* sgemm.c - GFLOP/s of cblas_sgemm at the shapes of the mlp's step, as nabla sets
 * OpenBLAS up (nb_ctx_new picks the kernels and threads).
 *   make bench/sgemm && NB_THREADS=2 build/bench/sgemm
 *   NB_BLAS_NO_RETUNE=1 NB_THREADS=2 build/bench/sgemm    # OpenBLAS's own choice */
#include <nabla.h>

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

char *openblas_get_corename(void);

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(void)
{
    nb_ctx *ctx = nb_ctx_new(NULL);
    printf("openblas core %s, %d threads\n", openblas_get_corename(), nb_ctx_threads(ctx));
    int shapes[][3] = {{128, 512, 784}, {128, 784, 512}, {512, 784, 128}, {1024, 1024, 1024}};
    for (int s = 0; s < 4; s++) {
        int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2], reps = s == 3 ? 20 : 300;
        float *A = calloc((size_t)M * K, 4), *B = calloc((size_t)K * N, 4), *C = calloc((size_t)M * N, 4);
        for (int i = 0; i < M * K; i++) A[i] = (float)(i % 7) * 0.1f;
        for (int i = 0; i < K * N; i++) B[i] = (float)(i % 5) * 0.1f;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1, A, K, B, N, 0, C, N);
        double t = now();
        for (int r = 0; r < reps; r++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1, A, K, B, N, 0, C, N);
        t = now() - t;
        printf("M=%d N=%d K=%d: %.1f GFLOP/s\n", M, N, K, 2.0 * M * N * K * reps / t / 1e9);
        free(A), free(B), free(C);
    }
    nb_ctx_free(ctx);
    return 0;
}
