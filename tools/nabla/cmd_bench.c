/* cmd_bench.c - `nabla bench`: what bench/torch_bench.py measures, printed in its format
 * so the two lines compare key by key:
 *   train_img_per_s  steady-state SGD steps (10 warm-up steps, then --steps timed)
 *   infer_b1_us      batch-1 eval latency (50 warm-up, 500 timed): the mean, and
 *   infer_b1_median_us  their median (a few calls that lose the CPU for a 4 ms
 *                    scheduler tick to another process move the mean, not the median)
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

/* What the steps of one bench share. */
typedef struct {
    const char *model, *data, *input;
    long threads, batch, steps;
    int R, W;            /* this rank of W (mpirun) */
    int64_t chw[3];      /* a sample's shape */
    int classes;
    nb_ctx *ctx;
    nb_dataset *train, *test;
    nb_tensor *sx, *sy;  /* the synthetic batch (--input) */
    nb_module *m;
    nb_ddp *ddp;
    nb_optim *opt;
    nb_loader *tl, *il;  /* training batches, test images one at a time */
    double train_ips, comm, secs, infer_us, infer_median_us;
} bench;

enum { FAILED = -1 }; /* a library error, its message in nb_last_error() */

/* The training data: one synthetic batch (--input) or Fashion-MNIST. */
static int bench_data(bench *b)
{
    if (b->input) {
        int64_t xs[4] = {b->batch, b->chw[0], b->chw[1], b->chw[2]}, ys[1] = {b->batch};
        b->sx = nb_tensor_new(b->ctx, NB_F32, 4, xs);
        b->sy = nb_tensor_new(b->ctx, NB_I64, 1, ys);
        if (!b->sx || !b->sy) return FAILED;
        float *px = nb_tensor_data(b->sx);
        for (int64_t i = 0; i < nb_tensor_numel(b->sx); i++) px[i] = nb_rng_uniform(nb_ctx_rng(b->ctx));
        int64_t *py = nb_tensor_data_i64(b->sy);
        for (int64_t i = 0; i < b->batch; i++) py[i] = (int64_t)nb_rng_below(nb_ctx_rng(b->ctx), (uint64_t)b->classes);
        return 0;
    }
    b->train = nb_fashion_mnist_new(b->data, 1);
    b->test = b->train ? nb_fashion_mnist_new(b->data, 0) : NULL;
    if (!b->test) return FAILED;
    nb_dataset_sample_shape(b->train, b->chw);
    b->classes = nb_dataset_num_classes(b->train);
    return 0;
}

/* The model, its SGD (PyTorch's baseline: lr 0.05, momentum 0.9, weight decay 5e-4), the
 * data-parallel wrapper and the loaders. */
static int bench_model(bench *b)
{
    b->m = nb_model_new(b->ctx, b->model, &(nb_model_opts){.num_classes = b->classes, .in_channels = (int)b->chw[0],
                                                          .input_size = {(int)b->chw[1], (int)b->chw[2]}});
    if (!b->m) return FAILED;
    int n;
    nb_tensor **params = nb_module_parameters(b->m, &n);
    b->opt = nb_sgd_new(params, n, &(nb_sgd_opts){.lr = 0.05f, .momentum = 0.9f, .weight_decay = 5e-4f});
    if (!b->opt || !(b->ddp = nb_ddp_new(b->m, NULL))) return FAILED;
    if (b->input) return 0;
    b->tl = nb_loader_new(b->ctx, b->train,
                          &(nb_loader_opts){.batch_size = (int)b->batch, .drop_last = 1, .num_replicas = b->W, .rank = b->R});
    b->il = nb_loader_new(b->ctx, b->test, &(nb_loader_opts){.batch_size = 1});
    if (!b->tl || !b->il) return FAILED;
    if (nb_loader_num_batches(b->tl) == 0) { /* each epoch would end before its first batch */
        cli_error("bench: --batch-size %ld is larger than the training set (%lld images)", b->batch,
                  (long long)nb_dataset_len(b->train));
        return 1;
    }
    return 0;
}

/* 10 warm-up steps, then --steps timed: train_ips over every rank, comm (the mean
 * rank's wait on the gradient all-reduce) and secs (the slowest rank's time). */
static int time_training(bench *b)
{
    nb_module_train(b->m, 1);
    double t0 = 0, comm0 = 0, sync[2] = {0, 0};
    int epoch = 0;
    if (b->tl) nb_loader_start_epoch(b->tl, epoch);
    for (long i = 0; i < 10 + b->steps; i++) {
        if (i == 10) {
            nb_dist_allreduce(sync, 1, NB_DIST_SUM); /* the ranks start the timed steps together */
            t0 = now_seconds();
            comm0 = nb_dist_comm_seconds();
        }
        nb_ctx_reset(b->ctx);
        nb_tensor *x = b->sx, *y = b->sy;
        if (b->tl && !nb_loader_next(b->tl, &x, &y)) {
            nb_loader_start_epoch(b->tl, ++epoch);
            i--;
            continue;
        }
        nb_optim_zero_grad(b->opt);
        nb_tensor *loss = nb_cross_entropy(nb_ddp_forward(b->ddp, x), y, NULL);
        if (nb_backward(loss) || nb_optim_step(b->opt)) return FAILED;
    }
    sync[0] = nb_dist_comm_seconds() - comm0; /* this rank's wait, then the slowest rank's time */
    sync[1] = now_seconds() - t0;
    b->comm = sync[0] / b->W;
    nb_dist_allreduce(&b->comm, 1, NB_DIST_SUM);
    nb_dist_allreduce(sync + 1, 1, NB_DIST_MAX);
    b->secs = sync[1];
    b->train_ips = (double)b->steps * (double)b->batch * b->W / b->secs;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Batch-1 eval latency on one test image (or the synthetic batch's first): 50 warm-up
 * calls, 500 timed one by one (their mean and median). */
static int time_inference(bench *b)
{
    nb_module_train(b->m, 0);
    nb_set_grad_enabled(b->ctx, 0);
    nb_tensor *img;
    nb_ctx_reset(b->ctx);
    if (b->il) {
        nb_loader_start_epoch(b->il, 0);
        nb_tensor *x1, *y1;
        if (!nb_loader_next(b->il, &x1, &y1)) return FAILED;
        /* keep the one test image outside the arena that each call resets */
        img = nb_tensor_from(b->ctx, NB_F32, nb_tensor_ndim(x1), nb_tensor_shape(x1), nb_tensor_data(x1));
    } else {
        int64_t s1[4] = {1, b->chw[0], b->chw[1], b->chw[2]};
        img = nb_tensor_from(b->ctx, NB_F32, 4, s1, nb_tensor_data(b->sx));
    }
    if (!img) return FAILED;
    for (int i = 0; i < 50; i++) {
        nb_ctx_reset(b->ctx);
        nb_module_forward(b->m, img);
    }
    double t[500], t0 = now_seconds(), ti = t0;
    for (int i = 0; i < 500; i++) {
        nb_ctx_reset(b->ctx);
        if (!nb_module_forward(b->m, img)) {
            nb_tensor_free(img);
            return FAILED;
        }
        double tn = now_seconds();
        t[i] = tn - ti;
        ti = tn;
    }
    b->infer_us = (ti - t0) / 500 * 1e6;
    qsort(t, 500, sizeof t[0], cmp_double);
    b->infer_median_us = (t[249] + t[250]) / 2 * 1e6;
    nb_tensor_free(img);
    return 0;
}

/* The result line (rank 0 under mpirun), bench/torch_bench.py's keys. */
static void print_result(const bench *b)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    char shape[64] = "";
    if (b->input)
        snprintf(shape, sizeof shape, " input=%lld,%lld,%lld", (long long)b->chw[0], (long long)b->chw[1],
                 (long long)b->chw[2]);
    if (b->W > 1 && b->R == 0)
        printf("nabla=%s isa=%s model=%s%s ranks=%d threads=%ld batch=%ld train_img_per_s=%.0f comm_wait_ms=%.2f "
               "comm_share=%.3f infer_b1_us=%.1f infer_b1_median_us=%.1f peak_rss_mb=%.0f\n",
               NB_VERSION, nb_isa(), b->model, shape, b->W, b->threads, b->batch, b->train_ips,
               b->comm / (double)b->steps * 1e3, b->comm / b->secs, b->infer_us, b->infer_median_us,
               (double)ru.ru_maxrss / 1024.0);
    else if (b->W == 1)
        printf("nabla=%s isa=%s model=%s%s threads=%ld batch=%ld train_img_per_s=%.0f infer_b1_us=%.1f "
               "infer_b1_median_us=%.1f peak_rss_mb=%.0f\n",
               NB_VERSION, nb_isa(), b->model, shape, b->threads, b->batch, b->train_ips, b->infer_us,
               b->infer_median_us,
               (double)ru.ru_maxrss / 1024.0);
}

static int close_bench(bench *b, int rc)
{
    if (rc == FAILED) {
        if (b->W > 1) cli_error("bench: rank %d: %s", b->R, nb_last_error());
        else cli_error("bench: %s", nb_last_error());
        nb_dist_abort(1); /* an error on one rank: end every rank */
        rc = 1;
    }
    nb_ddp_free(b->ddp);
    nb_tensor_free(b->sx);
    nb_tensor_free(b->sy);
    nb_loader_free(b->il);
    nb_loader_free(b->tl);
    nb_optim_free(b->opt);
    nb_module_free(b->m);
    nb_dataset_free(b->test);
    nb_dataset_free(b->train);
    nb_ctx_free(b->ctx);
    nb_dist_finalize();
    return rc;
}

int cmd_bench(int argc, char **argv)
{
    bench b = {.model = "cnn", .batch = 128, .steps = 100, .classes = 10};
    const cli_option opts[] = {
        {"--model", OPT_STRING, &b.model, "NAME", "built-in model or model file (.nbm) (cnn)"},
        {"--threads", OPT_INT, &b.threads, "T", "threads (2)"},
        {"--batch-size", OPT_INT, &b.batch, "B", "training batch size (128)"},
        {"--steps", OPT_INT, &b.steps, "K", "timed training steps (100)"},
        {"--data", OPT_STRING, &b.data, "DIR", "IDX dataset directory (default /usr/share/datasets/fashion-mnist)"},
        {"--input", OPT_STRING, &b.input, "C,H,W", "synthetic images of this shape instead of Fashion-MNIST"},
        {NULL, 0, NULL, NULL, NULL},
    };
    int rc = cli_parse("bench", "[--model NAME] [--threads T] [--batch-size B] [--steps K] [--input C,H,W]", opts,
                       argc, argv, NULL, 0, NULL);
    if (rc) return rc == 1 ? 0 : rc;
    if (b.threads < 0 || b.batch < 1 || b.steps < 1) {
        cli_error("bench: %s must be positive", b.threads < 0 ? "--threads" : b.batch < 1 ? "--batch-size" : "--steps");
        return 2;
    }
    if (b.input && parse_input(b.input, b.chw)) return 2;
    if (cli_dist_start("bench", &b.threads)) return 1;
    b.R = nb_dist_rank(), b.W = nb_dist_world();
    if (!b.threads) b.threads = 2;
    b.ctx = nb_ctx_new(&(nb_ctx_opts){.threads = (int)b.threads});
    rc = b.ctx ? bench_data(&b) : FAILED;
    if (!rc) rc = bench_model(&b);
    if (!rc) rc = time_training(&b);
    if (!rc) rc = time_inference(&b);
    if (!rc) print_result(&b);
    return close_bench(&b, rc);
}
