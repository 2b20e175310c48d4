/* test_pool.c - MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, global average pooling:
 *   - PyTorch goldens (tests/goldens/conv_pool.safetensors, tools/goldens/gen_conv.py):
 *     forward and input gradient for kernels, strides (default = kernel), padding,
 *     dilation, ceil_mode, count_include_pad, divisor_override, overlapping and
 *     adaptive windows, unbatched inputs; within 1e-4 relative (floor 1% of max);
 *   - the 2x2 stride-2 max pooling fast path against a plain loop over odd sizes,
 *     with ties, -inf and NaN (values and argmax indices);
 *   - shape and option errors: message, NULL, no crash. */
#include "check.h"
#include "golden.h"
#include "core/error.h"
#include "kernels/conv.h"

#include <math.h>

#define TOL 1e-4

static nb_ctx *ctx;

static nb_tensor *get(nb_safetensors *f, const char *fmt, int k)
{
    char name[128];
    snprintf(name, sizeof name, fmt, k);
    return nb_safetensors_get(f, ctx, name);
}

static void test_goldens(void)
{
    nb_safetensors *f = nb_safetensors_open("tests/goldens/conv_pool.safetensors");
    CHECK("pool goldens open", f != NULL, "%s", nb_last_error());
    if (!f) return;
    int cases = atoi(nb_safetensors_metadata(f, "cases"));
    int seen[4] = {0};
    for (int k = 0; k < cases; k++) {
        char key[32], name[200], op[16];
        snprintf(key, sizeof key, "case%d", k);
        const char *cfg = nb_safetensors_metadata(f, key);
        cfg_get(cfg, "op", op, sizeof op);
        nb_pool2d_opts o = {0};
        cfg_pair(cfg, "kernel", o.kernel);
        cfg_pair(cfg, "stride", o.stride);
        cfg_pair(cfg, "padding", o.padding);
        cfg_pair(cfg, "dilation", o.dilation);
        o.ceil_mode = (int)cfg_int(cfg, "ceil", 0);
        o.exclude_pad = !cfg_int(cfg, "include_pad", 1);
        o.divisor_override = (int)cfg_int(cfg, "divisor", 0);
        int out[2] = {1, 1};
        cfg_pair(cfg, "out", out);
        nb_tensor *x = get(f, "%d.x", k), *dy = get(f, "%d.dy", k), *y = get(f, "%d.y", k), *dx = get(f, "%d.dx", k);
        nb_tensor_set_requires_grad(x, 1);
        nb_ctx_reset(ctx);
        nb_tensor *r;
        if (!strcmp(op, "max")) r = nb_max_pool2d(x, &o), seen[0]++;
        else if (!strcmp(op, "avg")) r = nb_avg_pool2d(x, &o), seen[1]++;
        else if (!strcmp(op, "adaptive")) r = nb_adaptive_avg_pool2d(x, out[0], out[1]), seen[2]++;
        else r = nb_global_avg_pool2d(x), seen[3]++;
        snprintf(name, sizeof name, "pool golden %d [%s]: forward", k, cfg);
        int same = r && nb_tensor_ndim(r) == nb_tensor_ndim(y);
        for (int d = 0; same && d < nb_tensor_ndim(y); d++) same = nb_tensor_dim(r, d) == nb_tensor_dim(y, d);
        CHECK(name, same, "%s", r ? "shape differs" : nb_last_error());
        if (same) {
            CHECK_CLOSE_SCALED(name, nb_tensor_data(r), nb_tensor_data(y), (long)nb_tensor_numel(y), TOL);
            nb_status st = nb_backward(nb_sum(nb_mul(r, dy)));
            snprintf(name, sizeof name, "pool golden %d [%s]: dx", k, cfg);
            CHECK(name, st == NB_OK, "%s", nb_last_error());
            if (st == NB_OK) CHECK_CLOSE_SCALED(name, nb_tensor_grad(x), nb_tensor_data(dx), (long)nb_tensor_numel(dx), TOL);
        }
        nb_tensor_free(x), nb_tensor_free(dy), nb_tensor_free(y), nb_tensor_free(dx);
    }
    CHECK("pool goldens: every op", seen[0] >= 8 && seen[1] >= 6 && seen[2] >= 3 && seen[3] >= 2, "%d %d %d %d",
          seen[0], seen[1], seen[2], seen[3]);
    nb_safetensors_close(f);
}

/* the 2x2 stride-2 max pooling (fast path on AVX-512) against a plain loop */
static void test_max2x2(void)
{
    uint64_t r = 99;
    int bad = 0, shapes = 0;
    for (int H = 2; H <= 21; H += 3)
        for (int W = 2; W <= 41; W += 3) {
            int N = 2, C = 3;
            nb_tensor *x = nb_tensor_new(ctx, NB_F32, 4, (int64_t[]){N, C, H, W});
            float *xd = nb_tensor_data(x);
            for (int i = 0; i < N * C * H * W; i++) {
                r = r * 6364136223846793005ULL + 1442695040888963407ULL;
                int v = (int)(r >> 60); /* 16 values: many ties */
                xd[i] = v == 0 ? -INFINITY : v == 1 && (r >> 40 & 7) == 0 ? NAN : (float)v;
            }
            nb_tensor_set_requires_grad(x, 1);
            nb_ctx_reset(ctx);
            nb_tensor *y = nb_max_pool2d(x, &(nb_pool2d_opts){.kernel = {2, 2}});
            if (!y) {
                bad++;
                nb_tensor_free(x);
                continue;
            }
            nb_tensor *g = nb_tensor_new(ctx, NB_F32, 4, nb_tensor_shape(y));
            for (int64_t i = 0; i < nb_tensor_numel(g); i++) nb_tensor_data(g)[i] = (float)(i + 1);
            nb_backward(nb_sum(nb_mul(y, g)));
            int OH = H / 2, OW = W / 2;
            float *dx = nb_tensor_grad(x);
            for (int p = 0; p < N * C; p++)
                for (int i = 0; i < OH; i++)
                    for (int j = 0; j < OW; j++) {
                        float best = -INFINITY;
                        int bi = (2 * i) * W + 2 * j;
                        for (int u = 0; u < 2; u++)
                            for (int v = 0; v < 2; v++) {
                                float t = xd[p * H * W + (2 * i + u) * W + 2 * j + v];
                                if (t > best || isnan(t)) best = t, bi = (2 * i + u) * W + 2 * j + v;
                            }
                        float got = nb_tensor_data(y)[(p * OH + i) * OW + j];
                        if (!(got == best || (isnan(got) && isnan(best)))) bad++;
                        /* the gradient lands on the argmax */
                        float gv = (float)((p * OH + i) * OW + j + 1);
                        if (dx[p * H * W + bi] != gv) bad++;
                    }
            shapes++;
            nb_tensor_free(g);
            nb_tensor_free(x);
        }
    CHECK("max pool 2x2: values and argmax as the plain loop (ties, -inf, NaN)", bad == 0 && shapes == 98,
          "%d mismatches over %d shapes", bad, shapes);
}

static void test_errors(void)
{
    nb_tensor *x = nb_tensor_new(ctx, NB_F32, 4, (int64_t[]){2, 3, 5, 4});
    nb_ctx_reset(ctx);
    nb_tensor *y = nb_max_pool2d(x, &(nb_pool2d_opts){.kernel = {3, 3}, .padding = {2, 2}});
    CHECK("max pool: padding above half the kernel", y == NULL && strstr(nb_last_error(),
          "MaxPool2d(kernel_size=3, stride=3, padding=2, dilation=1, ceil_mode=False): pad should be at most half of kernel size"),
          "%s", nb_last_error());
    y = nb_max_pool2d(x, &(nb_pool2d_opts){.kernel = {6, 2}});
    CHECK("max pool: output below 1", y == NULL && strstr(nb_last_error(), "input [2, 3, 5, 4] is too small: output size would be 0 x 2"),
          "%s", nb_last_error());
    y = nb_avg_pool2d(x, &(nb_pool2d_opts){.kernel = {0, 2}});
    CHECK("avg pool: kernel 0", y == NULL && strstr(nb_last_error(), "must be positive"), "%s", nb_last_error());
    y = nb_avg_pool2d(x, &(nb_pool2d_opts){.kernel = {2, 2}, .dilation = {2, 2}});
    CHECK("avg pool: no dilation", y == NULL && strstr(nb_last_error(), "no dilation"), "%s", nb_last_error());
    y = nb_max_pool2d(x, &(nb_pool2d_opts){.kernel = {2, 2}, .divisor_override = 3});
    CHECK("max pool: divisor_override is for avg", y == NULL && strstr(nb_last_error(), "for average pooling"), "%s",
          nb_last_error());
    y = nb_max_pool2d(x, NULL);
    CHECK("max pool: no options", y == NULL && strstr(nb_last_error(), "must be positive"), "%s", nb_last_error());
    y = nb_adaptive_avg_pool2d(x, 0, 2);
    CHECK("adaptive: output 0", y == NULL && strstr(nb_last_error(), "AdaptiveAvgPool2d(output_size=(0, 2))"), "%s",
          nb_last_error());
    nb_tensor *x2 = nb_tensor_new(ctx, NB_F32, 2, (int64_t[]){5, 4});
    y = nb_global_avg_pool2d(x2);
    CHECK("global pool: 2-D input", y == NULL && strstr(nb_last_error(), "(N, C, H, W) or (C, H, W)"), "%s",
          nb_last_error());
    nb__fail(NB_ERR_ARG, "first");
    CHECK("pool: NULL input keeps the message", nb_max_pool2d(NULL, &(nb_pool2d_opts){.kernel = {2, 2}}) == NULL &&
          !strcmp(nb_last_error(), "first"), "%s", nb_last_error());
    CHECK("MaxPool2d module: bad padding", nb_maxpool2d_new(ctx, &(nb_pool2d_opts){.kernel = {2, 2}, .padding = {2, 0}}) == NULL,
          "%s", nb_last_error());
    CHECK("AdaptiveAvgPool2d module: bad size", nb_adaptive_avgpool2d_new(ctx, 1, -1) == NULL, "%s", nb_last_error());
    /* ceil_mode drops a last window that would start in the padding: PyTorch's rule */
    nb_tensor *x3 = nb_tensor_new(ctx, NB_F32, 4, (int64_t[]){1, 1, 5, 5});
    y = nb_max_pool2d(x3, &(nb_pool2d_opts){.kernel = {2, 2}, .stride = {2, 2}, .padding = {1, 1}, .ceil_mode = 1});
    CHECK("max pool ceil_mode: 5 with pad 1, k2 s2 -> 3", y && nb_tensor_dim(y, 2) == 3 && nb_tensor_dim(y, 3) == 3,
          "%s", nb_last_error());
    nb_tensor_free(x), nb_tensor_free(x2), nb_tensor_free(x3);
}

int main(void)
{
    ctx = nb_ctx_new(&(nb_ctx_opts){.seed = 1, .threads = 2});
    test_goldens();
    test_max2x2();
    test_errors();
    nb_ctx_free(ctx);
    CHECK_DONE();
}
