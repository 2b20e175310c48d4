/* cmd_bench.c - `nabla bench`: what bench/torch_bench.py measures, printed in its format
 * so the two lines compare key by key:
 *   train_img_per_s  steady-state SGD steps (10 warm-up steps, then --steps timed)
 *   infer_b1_us      batch-1 eval latency (50 warm-up, 500 timed)
 *   peak_rss_mb      the process's peak resident memory
 * and isa=, the instruction set the kernels ran (NB_ISA or the CPU's best).
 * Fashion-MNIST batches by default; with --input C,H,W one batch of uniform [0,1) images
 * of that shape and random labels of 10 classes, trained on again and again (the
 * torchvision models at 3x32x32 or 3x224x224; the PyTorch script does the same).
 * Under mpirun (N ranks, DDP, each rank --batch-size): rank 0 prints ranks=N,
 * train_img_per_s over all ranks, comm_wait_ms (a rank's mean wait on the gradient
 * all-reduce per step, the mean over ranks) and comm_share (that wait over the step). */
#include "cli.h"
#include "dist_cli.h"
#include "options.h"
#include "progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

/* --input C,H,W into chw; 2 with a message if it is not three positive integers */
static int parse_input(const char *input, int64_t chw[3])
{
    char end = 0;
    long long c, h, w;
    if (sscanf(input, "%lld,%lld,%lld%c", &c, &h, &w, &end) != 3 || c < 1 || h < 1 || w < 1) {
        cli_error("bench: --input wants C,H,W (three positive integers, e.g. 3,32,32), got '%s'", input);
        return 2;
    }
    chw[0] = c, chw[1] = h, chw[2] = w;
    return 0;
}

int cmd_bench(int argc, char **argv)
{
    const char *model = "cnn", *data = NULL, *input = NULL;
    long threads = 0, batch = 128, steps = 100;
    const cli_option opts[] = {
        {"--model", OPT_STRING, &model, "NAME", "built-in model or model file (.nbm) (cnn)"},
        {"--threads", OPT_INT, &threads, "T", "threads (2)"},
        {"--batch-size", OPT_INT, &batch, "B", "training batch size (128)"},
        {"--steps", OPT_INT, &steps, "K", "timed training steps (100)"},
        {"--data", OPT_STRING, &data, "DIR", "IDX dataset directory (default /usr/share/datasets/fashion-mnist)"},
        {"--input", OPT_STRING, &input, "C,H,W", "synthetic images of this shape instead of Fashion-MNIST"},
        {NULL, 0, NULL, NULL, NULL},
    };
    int rc = cli_parse("bench", "[--model NAME] [--threads T] [--batch-size B] [--steps K] [--input C,H,W]", opts,
                       argc, argv, NULL, 0, NULL);
    if (rc) return rc == 1 ? 0 : rc;
    if (threads < 0 || batch < 1 || steps < 1) {
        cli_error("bench: %s must be positive", threads < 0 ? "--threads" : batch < 1 ? "--batch-size" : "--steps");
        return 2;
    }
    int64_t chw[3] = {0, 0, 0};
    if (input && parse_input(input, chw)) return 2;
    if (cli_dist_start("bench", &threads)) return 1;
    int R = nb_dist_rank(), W = nb_dist_world();
    if (!threads) threads = 2;
    nb_ddp *ddp = NULL;
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.threads = (int)threads});
    nb_dataset *train = NULL, *test = NULL;
    nb_tensor *sx = NULL, *sy = NULL; /* the synthetic batch (--input) */
    nb_module *m = NULL;
    nb_optim *opt = NULL;
    nb_loader *tl = NULL, *il = NULL;
    rc = 1;
    if (!ctx) goto fail;
    int classes = 10;
    if (input) {
        int64_t xs[4] = {batch, chw[0], chw[1], chw[2]}, ys[1] = {batch};
        sx = nb_tensor_new(ctx, NB_F32, 4, xs);
        sy = nb_tensor_new(ctx, NB_I64, 1, ys);
        if (!sx || !sy) goto fail;
        float *px = nb_tensor_data(sx);
        for (int64_t i = 0; i < nb_tensor_numel(sx); i++) px[i] = nb_rng_uniform(nb_ctx_rng(ctx));
        int64_t *py = nb_tensor_data_i64(sy);
        for (int64_t i = 0; i < batch; i++) py[i] = (int64_t)nb_rng_below(nb_ctx_rng(ctx), (uint64_t)classes);
    } else {
        train = nb_fashion_mnist_new(data, 1);
        test = train ? nb_fashion_mnist_new(data, 0) : NULL;
        if (!test) goto fail;
        nb_dataset_sample_shape(train, chw);
        classes = nb_dataset_num_classes(train);
    }
    m = nb_model_new(ctx, model, &(nb_model_opts){.num_classes = classes, .in_channels = (int)chw[0],
                                                 .input_size = {(int)chw[1], (int)chw[2]}});
    if (!m) goto fail;
    int n;
    nb_tensor **params = nb_module_parameters(m, &n);
    opt = nb_sgd_new(params, n, &(nb_sgd_opts){.lr = 0.05f, .momentum = 0.9f, .weight_decay = 5e-4f});
    if (!opt || !(ddp = nb_ddp_new(m, NULL))) goto fail;
    if (!input) {
        tl = nb_loader_new(ctx, train,
                           &(nb_loader_opts){.batch_size = (int)batch, .drop_last = 1, .num_replicas = W, .rank = R});
        il = nb_loader_new(ctx, test, &(nb_loader_opts){.batch_size = 1});
        if (!tl || !il) goto fail;
        if (nb_loader_num_batches(tl) == 0) { /* each epoch would end before its first batch */
            cli_error("bench: --batch-size %ld is larger than the training set (%lld images)", batch,
                      (long long)nb_dataset_len(train));
            goto done;
        }
    }
    nb_module_train(m, 1);
    double t0 = 0, comm0 = 0, sync[2] = {0, 0};
    int epoch = 0;
    if (tl) nb_loader_start_epoch(tl, epoch);
    for (long i = 0; i < 10 + steps; i++) {
        if (i == 10) {
            nb_dist_allreduce(sync, 1, NB_DIST_SUM); /* the ranks start the timed steps together */
            t0 = now_seconds();
            comm0 = nb_dist_comm_seconds();
        }
        nb_ctx_reset(ctx);
        nb_tensor *x = sx, *y = sy;
        if (tl && !nb_loader_next(tl, &x, &y)) {
            nb_loader_start_epoch(tl, ++epoch);
            i--;
            continue;
        }
        nb_optim_zero_grad(opt);
        nb_tensor *loss = nb_cross_entropy(nb_ddp_forward(ddp, x), y, NULL);
        if (nb_backward(loss) || nb_optim_step(opt)) goto fail;
    }
    sync[0] = nb_dist_comm_seconds() - comm0; /* this rank's wait, then the slowest rank's time */
    sync[1] = now_seconds() - t0;
    double comm = sync[0] / W;
    nb_dist_allreduce(&comm, 1, NB_DIST_SUM);
    nb_dist_allreduce(sync + 1, 1, NB_DIST_MAX);
    double train_ips = (double)steps * (double)batch * W / sync[1];
    nb_module_train(m, 0);
    nb_set_grad_enabled(ctx, 0);
    nb_tensor *img;
    nb_ctx_reset(ctx);
    if (il) {
        nb_loader_start_epoch(il, 0);
        nb_tensor *x1, *y1;
        if (!nb_loader_next(il, &x1, &y1)) goto fail;
        /* keep the one test image outside the arena that each call resets */
        img = nb_tensor_from(ctx, NB_F32, nb_tensor_ndim(x1), nb_tensor_shape(x1), nb_tensor_data(x1));
    } else {
        int64_t s1[4] = {1, chw[0], chw[1], chw[2]};
        img = nb_tensor_from(ctx, NB_F32, 4, s1, nb_tensor_data(sx));
    }
    if (!img) goto fail;
    for (int i = 0; i < 50; i++) {
        nb_ctx_reset(ctx);
        nb_module_forward(m, img);
    }
    t0 = now_seconds();
    for (int i = 0; i < 500; i++) {
        nb_ctx_reset(ctx);
        if (!nb_module_forward(m, img)) {
            nb_tensor_free(img);
            goto fail;
        }
    }
    double infer_us = (now_seconds() - t0) / 500 * 1e6;
    nb_tensor_free(img);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    char shape[64] = "";
    if (input) snprintf(shape, sizeof shape, " input=%lld,%lld,%lld", (long long)chw[0], (long long)chw[1], (long long)chw[2]);
    if (W > 1 && R == 0)
        printf("nabla=%s isa=%s model=%s%s ranks=%d threads=%ld batch=%ld train_img_per_s=%.0f comm_wait_ms=%.2f "
               "comm_share=%.3f infer_b1_us=%.1f peak_rss_mb=%.0f\n",
               NB_VERSION, nb_isa(), model, shape, W, threads, batch, train_ips, comm / (double)steps * 1e3,
               comm / sync[1], infer_us, (double)ru.ru_maxrss / 1024.0);
    else if (W == 1)
        printf("nabla=%s isa=%s model=%s%s threads=%ld batch=%ld train_img_per_s=%.0f infer_b1_us=%.1f "
               "peak_rss_mb=%.0f\n",
               NB_VERSION, nb_isa(), model, shape, threads, batch, train_ips, infer_us, (double)ru.ru_maxrss / 1024.0);
    rc = 0;
    goto done;
fail:
    if (W > 1) cli_error("bench: rank %d: %s", R, nb_last_error());
    else cli_error("bench: %s", nb_last_error());
    nb_dist_abort(1); /* an error on one rank: end every rank */
done:
    nb_ddp_free(ddp);
    nb_tensor_free(sx);
    nb_tensor_free(sy);
    nb_loader_free(il);
    nb_loader_free(tl);
    nb_optim_free(opt);
    nb_module_free(m);
    nb_dataset_free(test);
    nb_dataset_free(train);
    nb_ctx_free(ctx);
    nb_dist_finalize();
    return rc;
}
