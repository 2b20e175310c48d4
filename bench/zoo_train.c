/* zoo_train.c - training steps only (no data loading, no batch-1 loop) of a zoo model on one
 * synthetic batch, as `nabla bench` trains it (SGD lr 0.05, momentum 0.9, weight decay 5e-4):
 * CPU and wall milliseconds per step over the timed steps, the arena's bytes and the peak
 * RSS. For profiles (`perf record build/bench/zoo_train ...`) and A/B runs of two trees on a
 * busy machine (CPU time per step moves much less with the load than wall time).
 *   make bench/zoo_train && build/bench/zoo_train MODEL C,H,W BATCH [threads] [steps]
 * e.g. resnet_small 1,28,28 128; resnet18 3,32,32 64; vgg11_bn 3,32,32 64. */
#include <nabla.h>

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

static double clock_s(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: zoo_train MODEL C,H,W BATCH [threads] [steps]\n");
        return 2;
    }
    int c, h, w, batch = atoi(argv[3]), nt = argc > 4 ? atoi(argv[4]) : 1, steps = argc > 5 ? atoi(argv[5]) : 10;
    if (sscanf(argv[2], "%d,%d,%d", &c, &h, &w) != 3 || batch < 1 || steps < 1) {
        fprintf(stderr, "zoo_train: bad input shape, batch or steps\n");
        return 2;
    }
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.seed = 1, .threads = nt});
    nb_module *m = ctx ? nb_model_new(ctx, argv[1], &(nb_model_opts){.num_classes = 10, .in_channels = c,
                                                                     .input_size = {h, w}})
                       : NULL;
    if (!m) {
        fprintf(stderr, "zoo_train: %s\n", nb_last_error());
        return 1;
    }
    int n;
    nb_tensor **params = nb_module_parameters(m, &n);
    nb_optim *opt = nb_sgd_new(params, n, &(nb_sgd_opts){.lr = 0.05f, .momentum = 0.9f, .weight_decay = 5e-4f});
    int64_t xs[4] = {batch, c, h, w}, ys[1] = {batch};
    nb_tensor *x = nb_tensor_new(ctx, NB_F32, 4, xs), *y = nb_tensor_new(ctx, NB_I64, 1, ys);
    if (!opt || !x || !y) return 1;
    float *px = nb_tensor_data(x);
    for (int64_t i = 0; i < nb_tensor_numel(x); i++) px[i] = nb_rng_uniform(nb_ctx_rng(ctx));
    int64_t *py = nb_tensor_data_i64(y);
    for (int64_t i = 0; i < batch; i++) py[i] = (int64_t)nb_rng_below(nb_ctx_rng(ctx), 10);
    nb_module_train(m, 1);
    double cpu0 = 0, wall0 = 0, loss_v = 0;
    for (int i = 0; i < 3 + steps; i++) { /* 3 warm-up steps */
        if (i == 3) cpu0 = clock_s(CLOCK_PROCESS_CPUTIME_ID), wall0 = clock_s(CLOCK_MONOTONIC);
        nb_ctx_reset(ctx);
        nb_optim_zero_grad(opt);
        nb_tensor *loss = nb_cross_entropy(nb_module_forward(m, x), y, NULL);
        if (!loss || nb_backward(loss) || nb_optim_step(opt)) {
            fprintf(stderr, "zoo_train: %s\n", nb_last_error());
            return 1;
        }
        loss_v = nb_tensor_item(loss);
    }
    double cpu = (clock_s(CLOCK_PROCESS_CPUTIME_ID) - cpu0) / steps, wall = (clock_s(CLOCK_MONOTONIC) - wall0) / steps;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("model=%s input=%d,%d,%d batch=%d threads=%d isa=%s cpu_ms_per_step=%.2f wall_ms_per_step=%.2f "
           "img_per_cpu_s=%.0f img_per_s=%.0f arena_mb=%.1f peak_rss_mb=%.0f loss=%.6f\n",
           argv[1], c, h, w, batch, nt, nb_isa(), cpu * 1e3, wall * 1e3, batch / cpu, batch / wall,
           (double)nb_ctx_arena_bytes(ctx) / (1 << 20), (double)ru.ru_maxrss / 1024.0, loss_v);
    nb_optim_free(opt);
    nb_module_free(m);
    nb_ctx_free(ctx);
    return 0;
}
