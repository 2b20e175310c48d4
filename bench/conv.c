/* conv.c - speed of the convolution kernels at the cnn's shapes, and of the whole
 * cnn (training step at batch 128, batch-1 inference) on random data.
 *   make bench/conv && NB_THREADS=2 build/bench/conv [reps]
 * Per layer (batch 128, 8 and 1): the fast stride-1 kernels and im2col + nb__sgemm, forward, input
 * gradient and weight gradient, in GFLOP/s (2·N·OC·OH·OW·C/G·KH·KW per pass; best of
 * `reps` runs, so other processes on the machine matter less). */
#include <nabla.h>

#include "kernels/conv.h"

#include <math.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* The machine's FMA peak: 24 independent chains of 16-lane FMAs per thread. */
static double fma_peak(int nt)
{
#ifdef __AVX512F__
    double best = 0;
    for (int rep = 0; rep < 200; rep++) { /* short runs: on a shared machine some run alone */
        long iters = 50000;
        float sink = 0;
        double t = now();
#pragma omp parallel num_threads(nt) reduction(+ : sink)
        {
            /* 24 named accumulators (an array may live in memory) with different values (so
             * the compiler cannot merge them), one FMA each per iteration */
            __m512 b = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
#define ACC(i) __m512 a##i = _mm512_set1_ps((float)i + 0.5f);
#define FMA(i) a##i = _mm512_fmadd_ps(a##i, b, c);
#define SUM(i) s = _mm512_add_ps(s, a##i);
#define ALL(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11) M(12) M(13) M(14) M(15) \
               M(16) M(17) M(18) M(19) M(20) M(21) M(22) M(23)
            ALL(ACC)
            for (long it = 0; it < iters; it++) {
                __asm__ volatile("" : "+v"(b));
                ALL(FMA)
            }
            __m512 s = _mm512_setzero_ps();
            ALL(SUM)
            sink += _mm512_reduce_add_ps(s);
#undef ACC
#undef FMA
#undef SUM
#undef ALL
        }
        t = now() - t;
        double g = 2.0 * 24 * 16 * (double)iters * nt / t / 1e9;
        if (g > best) best = g;
        if (sink == 12345) printf(" ");
    }
    return best;
#else
    (void)nt;
    return 0;
#endif
}

typedef enum { FWD, BWD_X, BWD_W } pass;

static double run(const nb__conv_shape *s, int fast, pass p, const float *x, const float *w, const float *b,
                  float *y, float *dx, float *dw, float *db, float *scr, int nt)
{
    double t = now();
    if (fast) {
        nb__conv_epilogue ep = {.shift = b};
        if (p == FWD) nb__conv2d_fast_fwd(s, x, w, &ep, y, scr, nt);
        else if (p == BWD_X) nb__conv2d_fast_bwd_x(s, y, w, dx, scr, nt);
        else nb__conv2d_fast_bwd_w(s, x, y, dw, db, scr, nt);
    } else {
        if (p == FWD) nb__conv2d_gemm_fwd(s, x, w, b, y, scr);
        else if (p == BWD_X) nb__conv2d_gemm_bwd_x(s, y, w, dx, scr);
        else {
            nb__conv2d_gemm_bwd_w(s, x, y, dw, scr);
            nb__conv2d_naive_bwd_b(s, y, db);
        }
    }
    return now() - t;
}

static void bench_layer(const char *name, nb__conv_shape s, int nt, int reps)
{
    int64_t nx = s.N * s.C * s.H * s.W, nw = s.OC * s.C / s.G * s.KH * s.KW, ny = s.N * s.OC * s.OH * s.OW;
    float *x = malloc(nx * 4), *w = malloc(nw * 4), *b = calloc(s.OC, 4), *y = malloc(ny * 4), *dx = calloc(nx, 4),
          *dw = calloc(nw, 4), *db = calloc(s.OC, 4);
    for (int64_t i = 0; i < nx; i++) x[i] = (float)(i % 13) * 0.1f;
    for (int64_t i = 0; i < nw; i++) w[i] = (float)(i % 7) * 0.1f;
    size_t ns = nb__conv2d_fast_scratch_fwd(&s, nt);
    if (nb__conv2d_fast_scratch_bwd_x(&s, nt) > ns) ns = nb__conv2d_fast_scratch_bwd_x(&s, nt);
    if (nb__conv2d_fast_scratch_bwd_w(&s, nt) > ns) ns = nb__conv2d_fast_scratch_bwd_w(&s, nt);
    if (nb__conv2d_gemm_scratch(&s) > ns) ns = nb__conv2d_gemm_scratch(&s);
    float *scr = malloc(ns * 4);
    double flop = 2.0 * (double)ny * (double)(s.C / s.G * s.KH * s.KW);
    const char *pn[] = {"fwd", "dx", "dw+db"};
    for (int fast = 1; fast >= 0; fast--) {
        printf("  %-16s %-12s", name, fast ? "fast" : "im2col+sgemm");
        for (int p = 0; p < 3; p++) {
            double best = 1e9;
            for (int r = 0; r < reps; r++) {
                double t = run(&s, fast, (pass)p, x, w, b, y, dx, dw, db, scr, nt);
                if (t < best) best = t;
            }
            printf("  %s %7.3f ms %6.1f GFLOP/s", pn[p], best * 1e3, flop / best / 1e9);
        }
        printf("\n");
    }
    free(x), free(w), free(b), free(y), free(dx), free(dw), free(db), free(scr);
}

static void bench_model(nb_ctx *ctx, const char *model, int reps)
{
    nb_module *m = nb_model_new(ctx, model, NULL);
    int n;
    nb_tensor **ps = nb_module_parameters(m, &n);
    nb_optim *opt = nb_sgd_new(ps, n, &(nb_sgd_opts){.lr = 0.05f, .momentum = 0.9f, .weight_decay = 5e-4f});
    nb_tensor *x = nb_tensor_new(ctx, NB_F32, 4, (int64_t[]){128, 1, 28, 28});
    nb_tensor *y = nb_tensor_new(ctx, NB_I64, 1, (int64_t[]){128});
    for (int i = 0; i < 128 * 784; i++) nb_tensor_data(x)[i] = (float)((i * 7919) % 256) / 255.0f;
    for (int i = 0; i < 128; i++) nb_tensor_data_i64(y)[i] = i % 10;
    nb_module_train(m, 1);
    double best = 1e9, total = 0;
    int steps = 0;
    for (int i = 0; i < 10 + reps; i++) {
        double t = now();
        nb_ctx_reset(ctx);
        nb_optim_zero_grad(opt);
        nb_tensor *loss = nb_cross_entropy(nb_module_forward(m, x), y, NULL);
        if (!loss || nb_backward(loss) || nb_optim_step(opt)) {
            printf("step failed: %s\n", nb_last_error());
            return;
        }
        t = now() - t;
        if (i >= 10) {
            total += t, steps++;
            if (t < best) best = t;
        }
    }
    printf("%s training step, batch 128: best %.2f ms (%.0f img/s), mean %.2f ms (%.0f img/s)\n", model, best * 1e3,
           128 / best, total / steps * 1e3, 128 / (total / steps));
    nb_module_train(m, 0);
    int old = nb_set_grad_enabled(ctx, 0);
    nb_tensor *x1 = nb_tensor_from(ctx, NB_F32, 4, (int64_t[]){1, 1, 28, 28}, nb_tensor_data(x));
    double b1 = 1e9;
    for (int rep = 0; rep < 5; rep++) {
        for (int i = 0; i < 50; i++) {
            nb_ctx_reset(ctx);
            nb_module_forward(m, x1);
        }
        double t = now();
        for (int i = 0; i < 200; i++) {
            nb_ctx_reset(ctx);
            nb_module_forward(m, x1);
        }
        t = (now() - t) / 200;
        if (t < b1) b1 = t;
    }
    printf("%s batch-1 inference: %.1f us (best of 5 runs of 200)\n", model, b1 * 1e6);
    nb_set_grad_enabled(ctx, old);
    nb_tensor_free(x1), nb_tensor_free(x), nb_tensor_free(y);
    nb_optim_free(opt);
    nb_module_free(m);
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 20;
    const char *only = argc > 2 ? argv[2] : "";
    nb_ctx *ctx = nb_ctx_new(NULL);
    int nt = nb_ctx_threads(ctx);
    printf("threads %d, FMA peak %.0f GFLOP/s (best of 200 runs of 2.4 MFLOP per thread)\n", nt, fma_peak(nt));
    if (!strcmp(only, "") || !strcmp(only, "layers")) {
        nb__conv_shape c1 = {.N = 128, .C = 1, .H = 28, .W = 28, .OC = 32, .KH = 3, .KW = 3, .OH = 28, .OW = 28,
                             .sh = 1, .sw = 1, .dh = 1, .dw = 1, .pt = 1, .pl = 1, .G = 1};
        nb__conv_shape c2 = {.N = 128, .C = 32, .H = 14, .W = 14, .OC = 64, .KH = 3, .KW = 3, .OH = 14, .OW = 14,
                             .sh = 1, .sw = 1, .dh = 1, .dw = 1, .pt = 1, .pl = 1, .G = 1};
        bench_layer("conv1 batch 128", c1, nt, reps);
        bench_layer("conv2 batch 128", c2, nt, reps);
        /* short runs (a few hundred microseconds): on a shared machine some of them run
         * alone, so their best is the kernels' speed on an idle machine */
        c1.N = c2.N = 8;
        bench_layer("conv1 batch 8", c1, nt, reps * 10);
        bench_layer("conv2 batch 8", c2, nt, reps * 10);
        c1.N = c2.N = 1;
        bench_layer("conv1 batch 1", c1, nt, reps * 20);
        bench_layer("conv2 batch 1", c2, nt, reps * 20);
    }
    if (!strcmp(only, "") || !strcmp(only, "model")) bench_model(ctx, "cnn", reps);
    nb_ctx_free(ctx);
    return 0;
}
