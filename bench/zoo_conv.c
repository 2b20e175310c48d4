/* zoo_conv.c - the convolution layers of resnet_small, resnet18 and vgg11_bn at their
 * bench inputs, each pass (forward; backward = input and weight gradients) on three
 * paths: the stride-1 kernels of conv_fast.c (where they apply), im2col + sgemm per image
 * (im2col.c) and im2col over a chunk of the batch (conv_batch.c). Milliseconds and
 * GFLOP/s (2·N·OC·OH·OW·C/G·KH·KW per pass; backward counts two), best of `reps`.
 *   make bench/zoo_conv && build/bench/zoo_conv [threads] [reps] [model]
 * model: cnn (1x28x28, batch 128; cnn3 adds a 64->64 layer at 7x7), resnet_small (1x28x28, batch 128), resnet18 (3x32x32, 64), resnet18_224
 * (3x224x224, 8), vgg11_bn (3x32x32, 64); default all. */
#include <nabla.h>

#include "kernels/conv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* CPU time of the process with NB_CPU_TIME=1 (1 thread on a busy machine), else wall time */
static double now(void)
{
    static int cpu = -1;
    if (cpu < 0) cpu = getenv("NB_CPU_TIME") && atoi(getenv("NB_CPU_TIME"));
    struct timespec t;
    clock_gettime(cpu ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

typedef struct {
    const char *model;
    int N, C, H, OC, K, S, P;
} layer;

static const layer layers[] = {
    {"cnn", 128, 1, 28, 32, 3, 1, 1},            {"cnn", 128, 32, 14, 64, 3, 1, 1},
    {"cnn3", 128, 64, 7, 64, 3, 1, 1},
    {"resnet_small", 128, 1, 28, 16, 3, 1, 1},   {"resnet_small", 128, 16, 28, 16, 3, 1, 1},
    {"resnet_small", 128, 16, 28, 32, 3, 2, 1},  {"resnet_small", 128, 32, 14, 32, 3, 1, 1},
    {"resnet_small", 128, 16, 28, 32, 1, 2, 0},  {"resnet_small", 128, 32, 14, 64, 3, 2, 1},
    {"resnet_small", 128, 64, 7, 64, 3, 1, 1},   {"resnet_small", 128, 32, 14, 64, 1, 2, 0},
    {"resnet18", 64, 3, 32, 64, 7, 2, 3},        {"resnet18", 64, 64, 8, 64, 3, 1, 1},
    {"resnet18", 64, 64, 8, 128, 3, 2, 1},       {"resnet18", 64, 128, 4, 128, 3, 1, 1},
    {"resnet18", 64, 64, 8, 128, 1, 2, 0},       {"resnet18", 64, 128, 4, 256, 3, 2, 1},
    {"resnet18", 64, 256, 2, 256, 3, 1, 1},      {"resnet18", 64, 128, 4, 256, 1, 2, 0},
    {"resnet18", 64, 256, 2, 512, 3, 2, 1},      {"resnet18", 64, 512, 1, 512, 3, 1, 1},
    {"resnet18", 64, 256, 2, 512, 1, 2, 0},      {"resnet18_224", 8, 3, 224, 64, 7, 2, 3},
    {"resnet18_224", 8, 64, 56, 64, 3, 1, 1},    {"resnet18_224", 8, 64, 56, 128, 3, 2, 1},
    {"resnet18_224", 8, 128, 28, 128, 3, 1, 1},  {"resnet18_224", 8, 64, 56, 128, 1, 2, 0},
    {"resnet18_224", 8, 128, 28, 256, 3, 2, 1},  {"resnet18_224", 8, 256, 14, 256, 3, 1, 1},
    {"resnet18_224", 8, 256, 14, 512, 3, 2, 1},  {"resnet18_224", 8, 512, 7, 512, 3, 1, 1},
    {"vgg11_bn", 64, 3, 32, 64, 3, 1, 1},        {"vgg11_bn", 64, 64, 16, 128, 3, 1, 1},
    {"vgg11_bn", 64, 128, 8, 256, 3, 1, 1},      {"vgg11_bn", 64, 256, 8, 256, 3, 1, 1},
    {"vgg11_bn", 64, 256, 4, 512, 3, 1, 1},      {"vgg11_bn", 64, 512, 4, 512, 3, 1, 1},
    {"vgg11_bn", 64, 512, 2, 512, 3, 1, 1},
};

static void fill(float *p, size_t n)
{
    uint32_t r = 1;
    for (size_t i = 0; i < n; i++) {
        r = r * 1664525u + 1013904223u;
        p[i] = (float)(r >> 8) / 16777216.0f - 0.5f;
    }
}

int main(int argc, char **argv)
{
    int nt = argc > 1 ? atoi(argv[1]) : 1, reps = argc > 2 ? atoi(argv[2]) : 5;
    const char *only = argc > 3 ? argv[3] : NULL;
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.seed = 1, .threads = nt});
    printf("# threads %d, isa %s, best of %d; ms (GFLOP/s)\n", nt, nb_isa(), reps);
    printf("%-13s %-28s %-22s %-22s %-22s\n", "model", "layer", "fast fwd / bwd", "im2col fwd / bwd",
           "batch fwd / bwd");
    double tot[3][2] = {{0}};
    for (size_t li = 0; li < sizeof layers / sizeof *layers; li++) {
        const layer *l = &layers[li];
        if (only && strcmp(only, l->model)) continue;
        nb__conv_shape s = {.N = l->N, .C = l->C, .H = l->H, .W = l->H, .OC = l->OC, .KH = l->K, .KW = l->K,
                            .sh = l->S, .sw = l->S, .dh = 1, .dw = 1, .pt = l->P, .pl = l->P, .G = 1};
        s.OH = s.OW = (l->H + 2 * l->P - l->K) / l->S + 1;
        size_t nx = (size_t)s.N * s.C * s.H * s.W, nw = (size_t)s.OC * s.C * s.KH * s.KW,
               ny = (size_t)s.N * s.OC * s.OH * s.OW;
        double flop = 2.0 * (double)ny * (double)(s.C * s.KH * s.KW);
        float *x = malloc(nx * 4), *w = malloc(nw * 4), *dy = malloc(ny * 4), *y = malloc(ny * 4);
        float *dx = calloc(nx, 4), *dw = calloc(nw, 4);
        fill(x, nx), fill(w, nw), fill(dy, ny);
        size_t sc = nb__conv2d_gemm_scratch(&s), sb = nb__conv2d_batch_scratch(&s);
        int fast = nb__conv2d_fast_ok(&s);
        if (fast) {
            size_t a = nb__conv2d_fast_scratch_fwd(&s, nt), b = nb__conv2d_fast_scratch_bwd_x(&s, nt),
                   c = nb__conv2d_fast_scratch_bwd_w(&s, nt);
            sc = sc > a ? sc : a, sc = sc > b ? sc : b, sc = sc > c ? sc : c;
        }
        sc = sc > sb ? sc : sb;
        float *scr = malloc(sc * 4);
        double best[3][2];
        for (int p = 0; p < 3; p++) best[p][0] = best[p][1] = 1e30;
        for (int r = 0; r < reps; r++)
            for (int p = 0; p < 3; p++) {
                if (p == 0 && !fast) continue;
                double t0 = now();
                if (p == 0) nb__conv2d_fast_fwd(&s, x, w, &(nb__conv_epilogue){0}, y, scr, nt);
                if (p == 1) nb__conv2d_gemm_fwd(&s, x, w, NULL, y, scr);
                if (p == 2) nb__conv2d_batch_fwd(&s, x, w, NULL, y, scr);
                double t1 = now();
                if (p == 0) nb__conv2d_fast_bwd_x(&s, dy, w, dx, scr, nt), nb__conv2d_fast_bwd_w(&s, x, dy, dw, NULL, scr, nt);
                if (p == 1) nb__conv2d_gemm_bwd_x(&s, dy, w, dx, scr), nb__conv2d_gemm_bwd_w(&s, x, dy, dw, scr);
                if (p == 2) nb__conv2d_batch_bwd(&s, x, w, dy, dx, dw, NULL, scr);
                double t2 = now();
                if (t1 - t0 < best[p][0]) best[p][0] = t1 - t0;
                if (t2 - t1 < best[p][1]) best[p][1] = t2 - t1;
            }
        char desc[64], cell[3][32];
        snprintf(desc, sizeof desc, "%dx%dx%d->%d k%d s%d", l->C, l->H, l->H, l->OC, l->K, l->S);
        for (int p = 0; p < 3; p++) {
            if (best[p][0] > 1e29) {
                snprintf(cell[p], sizeof cell[p], "-");
                continue;
            }
            snprintf(cell[p], sizeof cell[p], "%.2f/%.2f (%.0f/%.0f)", best[p][0] * 1e3, best[p][1] * 1e3,
                     flop / best[p][0] / 1e9, 2 * flop / best[p][1] / 1e9);
            tot[p][0] += best[p][0], tot[p][1] += best[p][1];
        }
        printf("%-13s %-28s %-22s %-22s %-22s\n", l->model, desc, cell[0], cell[1], cell[2]);
        free(x), free(w), free(dy), free(y), free(dx), free(dw), free(scr);
    }
    nb_ctx_free(ctx);
    return 0;
}
