/* cnn_ops.c - the cnn's batch-1 eval forward op by op: each op of the forward timed on
 * its own, call after call (minimum and median in µs), with BatchNorm folded into the
 * convolution's epilogue as Conv2d's fuse hook does (a fixed scale and shift here):
 *   conv1, conv2     Conv2d + BatchNorm2d + ReLU (nb__conv2d_ep), then MaxPool2d(2) alone;
 *   conv1+pool, ...  the same four modules in one pass (nb__conv2d_ep_pool, conv_pool.c);
 *   fc1, fc2         Linear(3136, 128) + ReLU, Linear(128, 10);
 *   model            the whole nb_module_forward (what bench/latency times).
 *   make bench/cnn_ops && build/bench/cnn_ops [threads] [calls]     (defaults 1, 2000) */
#include "nabla.h"
#include "ops/conv2d.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { CONV1, POOL1, CONV2, POOL2, CONV1_POOL, CONV2_POOL, FC1, FC2, MODEL, NOPS };
static const char *names[NOPS] = {"conv1+bn+relu", "maxpool1", "conv2+bn+relu", "maxpool2", "conv1+bn+relu+pool",
                                  "conv2+bn+relu+pool", "fc1+relu", "fc2", "model"};

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec * 1e-3;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static nb_tensor *param(nb_module *m, const char *name)
{
    int n = 0;
    const nb_named_tensor *st = nb_module_state(m, &n);
    for (int i = 0; i < n; i++)
        if (!strcmp(st[i].name, name)) return st[i].tensor;
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 1, calls = argc > 2 ? atoi(argv[2]) : 2000;
    if (threads < 1 || calls < 1) {
        fprintf(stderr, "cnn_ops: threads and calls must be positive\n");
        return 2;
    }
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.threads = threads});
    nb_module *m = ctx ? nb_model_new(ctx, "cnn", NULL) : NULL;
    nb_tensor *x = m ? nb_tensor_new(ctx, NB_F32, 4, (int64_t[]){1, 1, 28, 28}) : NULL;
    double *t = malloc(sizeof(double) * NOPS * (size_t)calls);
    nb_tensor *w1 = m ? param(m, "0.weight") : NULL, *b1 = m ? param(m, "0.bias") : NULL;
    nb_tensor *w2 = m ? param(m, "4.weight") : NULL, *b2 = m ? param(m, "4.bias") : NULL;
    nb_tensor *f1 = m ? param(m, "9.weight") : NULL, *c1 = m ? param(m, "9.bias") : NULL;
    nb_tensor *f2 = m ? param(m, "12.weight") : NULL, *c2 = m ? param(m, "12.bias") : NULL;
    if (!x || !t || !w1 || !b1 || !w2 || !b2 || !f1 || !c1 || !f2 || !c2) {
        fprintf(stderr, "cnn_ops: %s\n", nb_last_error());
        return 1;
    }
    float *px = nb_tensor_data(x);
    for (int i = 0; i < 784; i++) px[i] = nb_rng_uniform(nb_ctx_rng(ctx));
    nb_module_train(m, 0);
    nb_set_grad_enabled(ctx, 0);
    float scale[64], shift[64];
    for (int i = 0; i < 64; i++) scale[i] = 1.0f + 0.01f * (float)i, shift[i] = 0.01f * (float)i;
    nb_conv2d_opts p1 = {.padding = {1, 1}};
    nb_pool2d_opts mp = {.kernel = {2, 2}};
    for (int c = -50; c < calls; c++) {
        double s[NOPS + 1];
        nb_ctx_reset(ctx);
        s[0] = now_us();
        nb_tensor *a = nb__conv2d_ep(x, w1, b1, &p1, scale, shift, 1);
        s[1] = now_us();
        a = nb_max_pool2d(a, &mp);
        s[2] = now_us();
        a = nb__conv2d_ep(a, w2, b2, &p1, scale, shift, 1);
        s[3] = now_us();
        a = nb_max_pool2d(a, &mp);
        s[4] = now_us();
        nb_tensor *q = nb__conv2d_ep_pool(x, w1, b1, &p1, scale, shift, 1, &mp);
        s[5] = now_us();
        q = nb__conv2d_ep_pool(q, w2, b2, &p1, scale, shift, 1, &mp);
        s[6] = now_us();
        a = nb_relu(nb_linear(nb_reshape(q, 2, (int64_t[]){1, 3136}), f1, c1));
        s[7] = now_us();
        a = nb_linear(a, f2, c2);
        s[8] = now_us();
        nb_ctx_reset(ctx);
        double m0 = now_us();
        nb_tensor *y = nb_module_forward(m, x);
        s[9] = now_us() - m0 + s[8];
        if (!a || !y) {
            fprintf(stderr, "cnn_ops: %s\n", nb_last_error());
            return 1;
        }
        for (int o = 0; c >= 0 && o < NOPS; o++) t[(size_t)o * calls + c] = s[o + 1] - s[o];
    }
    printf("cnn batch 1, eval, %d thread(s), %d calls: min / median us\n", threads, calls);
    for (int o = 0; o < NOPS; o++) {
        double *to = t + (size_t)o * calls;
        qsort(to, (size_t)calls, sizeof *to, cmp);
        printf("  %-20s %7.2f %7.2f\n", names[o], to[0], to[calls / 2]);
    }
    free(t);
    nb_tensor_free(x);
    nb_module_free(m);
    nb_ctx_free(ctx);
    return 0;
}
