/* test_conv_pool.c - convolution + epilogue + 2x2 max pool in one pass (kernels/conv_pool.c,
 * nb__conv2d_ep_pool, Conv2d's fuse hook), on every ISA this CPU runs:
 *   - the kernel against conv_fast.c's forward with the same epilogue followed by the max
 *     pool kernel: the same sums in the same order, so equal bit for bit (NaN included),
 *     and against the naive double reference within 1e-4, over random shapes, with 1 to 3
 *     threads (whole images per thread and one image shared);
 *   - the op against nb__conv2d_ep then nb_max_pool2d at batch 1 and 3 (the cnn's
 *     layers), and its fallback (a pool it does not fuse, gradients recorded);
 *   - the cnn and cnn3 in eval mode without gradients (fused) against the same models
 *     with gradients recorded (nothing fused), at batch 1 and 3. */
#include "check.h"
#include "golden.h"
#include "core/isa.h"
#include "ops/conv2d.h"
#include "nn/module.h"
#include "kernels/conv.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TOL 1e-4

static nb_ctx *ctx;

static uint64_t rs = 4242;
static int rnd(int lo, int hi) /* [lo, hi] */
{
    rs = rs * 6364136223846793005ULL + 1442695040888963407ULL;
    return lo + (int)((rs >> 33) % (uint64_t)(hi - lo + 1));
}

static void fill(float *p, int64_t n)
{
    for (int64_t i = 0; i < n; i++) p[i] = (float)rnd(-1000, 1000) / 500.0f;
}

static int64_t first_diff(const float *a, const float *b, int64_t n)
{
    int64_t i = 0;
    while (i < n && !memcmp(a + i, b + i, 4)) i++;
    return i;
}

static nb__pool_shape pool_of(const nb__conv_shape *s)
{
    return (nb__pool_shape){.N = s->N, .C = s->OC, .H = s->OH, .W = s->OW, .OH = s->OH / 2, .OW = s->OW / 2,
                            .kh = 2, .kw = 2, .sh = 2, .sw = 2, .dh = 1, .dw = 1};
}

/* One shape on the current ISA: epilogue variants (bias only; scale, shift and ReLU; a NaN
 * in the input) with 1 to 3 threads. Returns the number of comparisons made. */
static int check_shape(const nb__conv_shape *s, const char *desc)
{
    int64_t nx = s->N * s->C * s->H * s->W, nw = s->OC * s->C * s->KH * s->KW, ny = s->N * s->OC * s->OH * s->OW;
    int64_t np = s->N * s->OC * (s->OH / 2) * (s->OW / 2);
    float *x = malloc(nx * 4), *w = malloc(nw * 4), *b = malloc(s->OC * 4), *scale = malloc(s->OC * 4);
    float *shift = malloc(s->OC * 4), *y0 = malloc(ny * 4), *yc = malloc(ny * 4), *want = malloc(np * 4);
    float *naive = malloc(np * 4), *got = malloc(np * 4);
    fill(x, nx), fill(w, nw), fill(b, s->OC);
    for (int64_t c = 0; c < s->OC; c++) { /* negative scales too: the max comes after them */
        scale[c] = (c % 5 == 3 ? -1.0f : 1.0f) * (0.25f + 0.125f * (float)(c % 7));
        shift[c] = b[c] * scale[c] + 0.05f * (float)(c % 3);
    }
    nb__pool_shape ps = pool_of(s);
    int checks = 0;
    for (int variant = 0; variant < 3; variant++) {
        nb__conv_epilogue ep = variant == 0 ? (nb__conv_epilogue){.shift = b}
                                            : (nb__conv_epilogue){.scale = scale, .shift = shift, .relu = 1};
        if (variant == 2) x[nx / 2] = NAN;
        /* reference 1: the naive sums, then the epilogue and the pool in float */
        nb__conv2d_naive_fwd(s, x, w, NULL, y0);
        int64_t P = s->OH * s->OW;
        for (int64_t i = 0; i < ny; i++) {
            int64_t c = i / P % s->OC;
            float v = ep.scale ? y0[i] * scale[c] + shift[c] : y0[i] + b[c];
            y0[i] = ep.relu && v <= 0.0f ? 0.0f : v;
        }
        nb__max_pool2d_fwd(&ps, y0, naive, NULL);
        /* reference 2: conv_fast.c's forward with the same epilogue, then the pool kernel */
        float *scr = malloc(nb__conv2d_fast_scratch_fwd(s, 1) * 4);
        nb__conv2d_fast_fwd(s, x, w, &ep, yc, scr, 1);
        free(scr);
        nb__max_pool2d_fwd(&ps, yc, want, NULL);
        for (int nt = 1; nt <= 3; nt++) {
            float *sp = malloc(nb__conv2d_pool_scratch(s, nt) * 4);
            memset(got, 0xFF, (size_t)np * 4);
            nb__conv2d_pool_fwd(s, x, w, &ep, got, sp, nt);
            free(sp);
            char name[300];
            const char *what = variant == 0 ? "bias" : variant == 1 ? "scale, shift, relu" : "with a NaN";
            snprintf(name, sizeof name, "%s %s %s t%d: equals conv_fast + max pool bit for bit", nb_isa(), desc, what, nt);
            CHECK(name, !memcmp(got, want, (size_t)np * 4), "first difference at %lld of %lld",
                  (long long)first_diff(got, want, np), (long long)np);
            if (variant < 2) {
                snprintf(name, sizeof name, "%s %s %s t%d: against the naive reference", nb_isa(), desc, what, nt);
                CHECK_CLOSE_SCALED(name, got, naive, (long)np, TOL);
            }
            checks++;
        }
    }
    free(x), free(w), free(b), free(scale), free(shift), free(y0), free(yc), free(want), free(naive), free(got);
    return checks;
}

static void describe(const nb__conv_shape *s, char *desc, size_t n)
{
    snprintf(desc, n, "N%lld C%lld %lldx%lld OC%lld k%lldx%lld p%lld,%lld -> %lldx%lld", (long long)s->N,
             (long long)s->C, (long long)s->H, (long long)s->W, (long long)s->OC, (long long)s->KH, (long long)s->KW,
             (long long)s->pt, (long long)s->pl, (long long)s->OH, (long long)s->OW);
}

static void test_kernel(void)
{
    /* the cnn's two blocks, batch 1 and 2, then random shapes */
    static const int cnn[][6] = {{1, 1, 28, 32, 3, 1}, {1, 32, 14, 64, 3, 1}, {2, 1, 28, 32, 3, 1}, {2, 32, 14, 64, 3, 1},
                                 {1, 64, 7, 64, 3, 1}};
    for (int isa = 0; isa < NB__ISA_COUNT; isa++) {
        int old = nb__isa_set(isa);
        if (old < 0) continue;
        int checks = 0, shapes = 0;
        for (int k = 0; k < 5; k++) {
            const int *c = cnn[k];
            nb__conv_shape s = {.N = c[0], .C = c[1], .H = c[2], .W = c[2], .OC = c[3], .KH = c[4], .KW = c[4],
                                .OH = c[2], .OW = c[2], .sh = 1, .sw = 1, .dh = 1, .dw = 1, .pt = c[5], .pl = c[5],
                                .G = 1};
            char desc[200];
            describe(&s, desc, sizeof desc);
            checks += check_shape(&s, desc);
            shapes++;
        }
        for (int trial = 0; trial < 200 && shapes < 45; trial++) {
            nb__conv_shape s = {.N = rnd(1, 3), .C = rnd(0, 4) ? rnd(1, 5) : rnd(16, 40), .OC = rnd(0, 2) ? rnd(1, 20)
                                                                                                           : rnd(21, 70),
                                .KH = rnd(1, 5), .KW = rnd(1, 5), .H = rnd(1, 19), .W = rnd(1, 19), .sh = 1, .sw = 1,
                                .dh = 1, .dw = 1, .pt = rnd(0, 2), .pl = rnd(0, 2), .G = 1};
            int64_t pb = rnd(0, 2), pr = rnd(0, 2); /* bottom/right padding may differ */
            s.OH = s.H + s.pt + pb - s.KH + 1, s.OW = s.W + s.pl + pr - s.KW + 1;
            if (s.OH < 2 || s.OW < 2) continue;
            CHECK("conv_pool takes a stride-1 ungrouped shape", nb__conv2d_pool_ok(&s), "refused");
            char desc[200];
            describe(&s, desc, sizeof desc);
            checks += check_shape(&s, desc);
            shapes++;
        }
        char name[120];
        snprintf(name, sizeof name, "%s: conv_pool shapes tested", nb_isa());
        CHECK(name, shapes >= 45 && checks >= 45 * 9, "%d shapes, %d checks", shapes, checks);
        nb__isa_set(old);
    }
    nb__conv_shape strided = {.N = 1, .C = 2, .H = 9, .W = 9, .OC = 3, .KH = 3, .KW = 3, .OH = 4, .OW = 4, .sh = 2,
                              .sw = 2, .dh = 1, .dw = 1, .G = 1};
    CHECK("conv_pool refuses a strided convolution", !nb__conv2d_pool_ok(&strided), "accepted");
    nb__conv_shape tiny = {.N = 1, .C = 2, .H = 1, .W = 5, .OC = 3, .KH = 1, .KW = 1, .OH = 1, .OW = 5, .sh = 1,
                           .sw = 1, .dh = 1, .dw = 1, .G = 1};
    CHECK("conv_pool refuses a 1-row output", !nb__conv2d_pool_ok(&tiny), "accepted");
}

/* The op: nb__conv2d_ep_pool against nb__conv2d_ep then nb_max_pool2d. */
static void test_op(void)
{
    nb_pool2d_opts mp = {.kernel = {2, 2}}, mp_ceil = {.kernel = {2, 2}, .ceil_mode = 1},
                   mp3 = {.kernel = {3, 3}, .stride = {2, 2}};
    static const int cases[][5] = {{1, 1, 28, 32, 1}, {3, 1, 28, 32, 1}, {1, 32, 14, 64, 1}, {3, 32, 14, 64, 1},
                                   {1, 4, 9, 10, 0},  {1, 4, 9, 10, 1},  {2, 3, 11, 5, 1}};
    for (int isa = 0; isa < NB__ISA_COUNT; isa++) {
        int old = nb__isa_set(isa);
        if (old < 0) continue;
        for (int k = 0; k < 7; k++) {
            const int *c = cases[k];
            int64_t N = c[0], C = c[1], H = c[2], OC = c[3];
            nb_ctx_reset(ctx);
            nb_tensor *x = nb_tensor_new(ctx, NB_F32, 4, (int64_t[]){N, C, H, H});
            nb_tensor *w = nb_tensor_new(ctx, NB_F32, 4, (int64_t[]){OC, C, 3, 3});
            nb_tensor *b = nb_tensor_new(ctx, NB_F32, 1, (int64_t[]){OC});
            fill(nb_tensor_data(x), N * C * H * H), fill(nb_tensor_data(w), OC * C * 9), fill(nb_tensor_data(b), OC);
            float *scale = malloc(OC * 4), *shift = malloc(OC * 4);
            for (int64_t i = 0; i < OC; i++) scale[i] = 0.5f + 0.1f * (float)(i % 9), shift[i] = 0.3f - 0.07f * (float)(i % 11);
            nb_conv2d_opts o = {.padding = {c[4], c[4]}};
            for (int v = 0; v < 4; v++) {
                /* v 0: MaxPool2d(2); 1: ceil_mode (odd sizes: not fused); 2: 3x3 stride 2 (not
                 * fused); 3: unbatched (C, H, W) */
                const nb_pool2d_opts *p = v == 1 ? &mp_ceil : v == 2 ? &mp3 : &mp;
                nb_tensor *xi = v == 3 ? nb_reshape(x, 3, (int64_t[]){N * C, H, H}) : x;
                nb_tensor *wi = w;
                if (v == 3 && N != 1) continue;
                nb_tensor *ref = nb_max_pool2d(nb__conv2d_ep(xi, wi, b, &o, scale, shift, 1), p);
                nb_tensor *got = nb__conv2d_ep_pool(xi, wi, b, &o, scale, shift, 1, p);
                char name[200];
                snprintf(name, sizeof name, "%s op N%lld C%lld %lldx%lld OC%lld p%d pool %d: equals conv then pool",
                         nb_isa(), (long long)N, (long long)C, (long long)H, (long long)H, (long long)OC, c[4], v);
                CHECK(name, ref && got && nb_tensor_ndim(ref) == nb_tensor_ndim(got) &&
                                nb_tensor_numel(ref) == nb_tensor_numel(got) &&
                                !memcmp(nb_tensor_shape(ref), nb_tensor_shape(got), sizeof(int64_t) * nb_tensor_ndim(ref)),
                      "%s", nb_last_error());
                if (ref && got) CHECK_CLOSE_SCALED(name, nb_tensor_data(got), nb_tensor_data(ref), (long)nb_tensor_numel(ref), 1e-5);
            }
            /* with gradients recorded: the two ops (and their backward) */
            nb_tensor_set_requires_grad(w, 1);
            nb_tensor *g = nb__conv2d_ep_pool(x, w, b, &o, NULL, NULL, 0, &mp);
            CHECK("op with gradients: conv then pool, recorded", g && nb_tensor_requires_grad(g) &&
                                                                     nb_backward(nb_sum(g)) == NB_OK && nb_tensor_grad(w),
                  "%s", nb_last_error());
            CHECK("op with gradients: a fused epilogue is refused",
                  !nb__conv2d_ep_pool(x, w, b, &o, scale, shift, 1, &mp) && strstr(nb_last_error(), "cannot record"),
                  "%s", nb_last_error());
            nb_clear_error();
            CHECK("op without pooling options: refused", !nb__conv2d_ep_pool(x, w, b, &o, NULL, NULL, 0, NULL), "accepted");
            nb_clear_error();
            free(scale), free(shift);
            nb_tensor_free(x), nb_tensor_free(w), nb_tensor_free(b);
        }
        nb__isa_set(old);
    }
}

/* Whole models: eval without gradients (Conv2d + BatchNorm2d + ReLU + MaxPool2d fused) against
 * the same model with gradients recorded (nothing fused), after a few training forwards
 * (running statistics that are not the defaults). */
static void test_models(void)
{
    const char *models[] = {"cnn", "cnn3"};
    for (int isa = 0; isa < NB__ISA_COUNT; isa++) {
        int old = nb__isa_set(isa);
        if (old < 0) continue;
        for (int k = 0; k < 2; k++) {
            nb_module *m = nb_model_new(ctx, models[k], NULL);
            nb_tensor *x = nb_tensor_new(ctx, NB_F32, 4, (int64_t[]){3, 1, 28, 28});
            fill(nb_tensor_data(x), 3 * 784);
            for (int i = 0; i < 2; i++) {
                nb_ctx_reset(ctx);
                nb_module_forward(m, x);
            }
            nb_module_train(m, 0);
            for (int64_t N = 1; N <= 3; N += 2) {
                nb_tensor *xn = nb_tensor_new(ctx, NB_F32, 4, (int64_t[]){N, 1, 28, 28});
                memcpy(nb_tensor_data(xn), nb_tensor_data(x), (size_t)(N * 784) * sizeof(float));
                nb_ctx_reset(ctx);
                nb_tensor *ref = nb_module_forward(m, xn);
                float want[30];
                if (ref) memcpy(want, nb_tensor_data(ref), (size_t)(N * 10) * sizeof(float));
                int g = nb_set_grad_enabled(ctx, 0);
                nb_ctx_reset(ctx);
                nb_tensor *got = nb_module_forward(m, xn);
                nb_set_grad_enabled(ctx, g);
                char name[160];
                snprintf(name, sizeof name, "%s: %s batch %lld, fused eval equals the unfused modules", nb_isa(), models[k],
                         (long long)N);
                CHECK(name, ref && got, "%s", nb_last_error());
                /* 1e-4 as test_conv's residual fusion: BatchNorm folded into scale and shift rounds
                 * otherwise than (x - mean) / sqrt(var + eps) · weight + bias */
                if (ref && got) CHECK_CLOSE_SCALED(name, nb_tensor_data(got), want, (long)(N * 10), 1e-4);
                nb_tensor_free(xn);
            }
            nb_tensor_free(x);
            nb_module_free(m);
        }
        nb__isa_set(old);
    }
}

int main(void)
{
    ctx = nb_ctx_new(&(nb_ctx_opts){.seed = 1, .threads = 2});
    test_kernel();
    test_op();
    test_models();
    nb_ctx_free(ctx);
    CHECK_DONE();
}
