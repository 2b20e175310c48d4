/* bench/loader.c - how fast the DataLoader hands out batches: samples per second
 * over one shuffled epoch of Fashion-MNIST's 60,000 training images (batch 128)
 * with 0, 1 and 2 worker threads, without augmentation and with the issue's
 * pipeline "random_crop(28, padding=2), hflip, random_erasing(p=0.5)". The
 * caller does nothing with the batches, so this is the loader's own throughput,
 * the most it can feed a training step.
 *
 *     make bench/loader && build/bench/loader [DIR]
 */
#include "nabla.h"

#include <stdio.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Samples per second of one epoch (after a warm-up epoch that sizes the arena). */
static double rate(nb_ctx *ctx, nb_dataset *d, int workers, const nb_transform *tf)
{
    nb_loader *l = nb_loader_new(ctx, d, &(nb_loader_opts){.batch_size = 128, .shuffle = 1, .seed = 1, .workers = workers,
                                                          .transform = tf});
    if (!l) return -1;
    nb_tensor *x, *y;
    double t0 = 0;
    long n = 0;
    for (int e = 0; e < 2; e++) {
        nb_loader_start_epoch(l, e);
        if (e == 1) t0 = now();
        while (nb_loader_next(l, &x, &y)) {
            if (e == 1) n += (long)nb_tensor_dim(x, 0);
            nb_ctx_reset(ctx);
        }
    }
    double t = now() - t0;
    nb_loader_free(l);
    return (double)n / t;
}

int main(int argc, char **argv)
{
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_dataset *d = nb_dataset_open(NULL, argc > 1 ? argv[1] : NULL, 1);
    if (!d) {
        fprintf(stderr, "loader: %s\n", nb_last_error());
        return 1;
    }
    const char *spec = "random_crop(28, padding=2), hflip, random_erasing(p=0.5)";
    nb_transform *tf = nb_transform_parse(spec);
    printf("%-58s %8s %12s\n", "transforms", "workers", "samples/s");
    for (int w = 0; w <= 2; w++) printf("%-58s %8d %12.0f\n", "none", w, rate(ctx, d, w, NULL));
    for (int w = 0; w <= 2; w++) printf("%-58s %8d %12.0f\n", spec, w, rate(ctx, d, w, tf));
    nb_transform_free(tf);
    nb_dataset_free(d);
    nb_ctx_free(ctx);
    return 0;
}
