/* conv.c - speed of the convolution kernels at the cnn's shapes, and of the whole
 * cnn (training step at batch 128, batch-1 inference) on random data.
 *   make bench/conv && NB_THREADS=2 build/bench/conv [reps]
 * Per layer: the fast stride-1 kernels and im2col + nb__sgemm, forward, input
 * gradient and weight gradient, in GFLOP/s (2·N·OC·OH·OW·C/G·KH·KW per pass; best of
 * `reps` runs, so other processes on the machine matter less). */
#include <nabla.h>

#include "../src/kernels/conv.h"

#include <math.h>
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
        printf("  %-26s %-12s", name, fast ? "fast" : "im2col+sgemm");
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
    printf("threads %d\n", nt);
    if (!strcmp(only, "") || !strcmp(only, "layers")) {
        nb__conv_shape c1 = {.N = 128, .C = 1, .H = 28, .W = 28, .OC = 32, .KH = 3, .KW = 3, .OH = 28, .OW = 28,
                             .sh = 1, .sw = 1, .dh = 1, .dw = 1, .pt = 1, .pl = 1, .G = 1};
        nb__conv_shape c2 = {.N = 128, .C = 32, .H = 14, .W = 14, .OC = 64, .KH = 3, .KW = 3, .OH = 14, .OW = 14,
                             .sh = 1, .sw = 1, .dh = 1, .dw = 1, .pt = 1, .pl = 1, .G = 1};
        bench_layer("conv1 128x1x28x28 -> 32", c1, nt, reps);
        bench_layer("conv2 128x32x14x14 -> 64", c2, nt, reps);
        c1.N = c2.N = 1;
        bench_layer("conv1 batch 1", c1, nt, reps * 20);
        bench_layer("conv2 batch 1", c2, nt, reps * 20);
    }
    if (!strcmp(only, "") || !strcmp(only, "model")) bench_model(ctx, "cnn", reps);
    nb_ctx_free(ctx);
    return 0;
}
