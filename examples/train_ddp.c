/* train_ddp.c - data-parallel training with the C API (docs/distributed.md): the cnn on
 * Fashion-MNIST, one shard of every epoch per rank, gradients averaged over the ranks
 * during backward, the loss and the test accuracy over all ranks, rank 0 printing.
 *
 *   cc train_ddp.c $(pkg-config --cflags --libs nabla) -o train_ddp
 *   mpirun -np 2 ./train_ddp [DATA_DIR]       # or ./train_ddp: one process
 *
 * NB_EXAMPLE_QUICK=1 stops after 30 steps (what CI runs, as one process). */
#include <nabla.h>

#include <stdio.h>
#include <stdlib.h>

static int fail(const char *what)
{
    fprintf(stderr, "train_ddp: rank %d: %s: %s\n", nb_dist_rank(), what, nb_last_error());
    nb_dist_abort(1); /* the other ranks would wait for this one */
    return 1;
}

int main(int argc, char **argv)
{
    if (nb_dist_init(&argc, &argv)) { /* e.g. several ranks but a build without MPI */
        fprintf(stderr, "train_ddp: %s\n", nb_last_error());
        return 1;
    }
    int rank = nb_dist_rank(), world = nb_dist_world(), quick = getenv("NB_EXAMPLE_QUICK") != NULL;
    const char *dir = argc > 1 ? argv[1] : NULL;
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.seed = 42, .threads = world > 1 ? 1 : 0});
    nb_dataset *train = ctx ? nb_fashion_mnist_new(dir, 1) : NULL;
    nb_dataset *test = train ? nb_fashion_mnist_new(dir, 0) : NULL;
    /* every rank agrees on errors before the first collective that could hang */
    if (nb_dist_agree(test ? NB_OK : NB_ERR_IO)) {
        fprintf(stderr, "train_ddp: %s\n", nb_last_error());
        return 1;
    }
    nb_module *net = nb_model_new(ctx, "cnn", NULL);
    /* DistributedDataParallel(net): rank 0's weights everywhere, gradients averaged */
    nb_ddp *ddp = nb_ddp_new(net, &(nb_ddp_opts){.sync_bn = 0});
    if (!ddp) return fail("DDP");
    nb_dist_seed_ctx(ctx, 42); /* dropout: one stream per rank */
    int n;
    nb_tensor **params = nb_module_parameters(net, &n);
    nb_optim *opt = nb_sgd_new(params, n, &(nb_sgd_opts){.lr = 0.05f, .momentum = 0.9f, .weight_decay = 5e-4f});
    /* DistributedSampler: batch 128 per rank, this rank's shard of each shuffled epoch */
    nb_loader *loader = nb_loader_new(ctx, train, &(nb_loader_opts){.batch_size = 128, .shuffle = 1, .seed = 42,
                                                                    .num_replicas = world, .rank = rank});
    nb_dataset *shard = nb_dataset_shard(test, rank, world); /* evaluation: every rank a part */
    if (!opt || !loader || !shard) return fail("setup");
    int epochs = quick ? 1 : 2, steps = 0;
    for (int epoch = 0; epoch < epochs; epoch++) {
        nb_module_train(net, 1);
        nb_loader_start_epoch(loader, epoch);
        double sum[2] = {0, 0}; /* loss x samples, samples */
        for (nb_tensor *x, *y;;) {
            nb_ctx_reset(ctx);
            if (!nb_loader_next(loader, &x, &y) || (quick && steps == 30)) break;
            nb_optim_zero_grad(opt);
            nb_tensor *loss = nb_cross_entropy(nb_ddp_forward(ddp, x), y, NULL);
            if (nb_backward(loss) || nb_optim_step(opt)) return fail("step"); /* averaged by then */
            sum[0] += nb_tensor_item(loss) * (double)nb_tensor_numel(y);
            sum[1] += (double)nb_tensor_numel(y);
            steps++;
        }
        nb_eval_result ev;
        if (nb_ddp_broadcast_buffers(ddp) || nb_evaluate(net, shard, 1000, &ev)) return fail("evaluate");
        double all[4] = {sum[0], sum[1], ev.accuracy * (double)ev.count, (double)ev.count};
        nb_dist_allreduce(all, 4, NB_DIST_SUM);
        if (rank == 0)
            printf("epoch %d: %d ranks, train loss %.4f, test accuracy %.4f\n", epoch + 1, world, all[0] / all[1],
                   all[2] / all[3]);
    }
    nb_dataset_free(shard);
    nb_loader_free(loader);
    nb_optim_free(opt);
    nb_ddp_free(ddp);
    nb_module_free(net);
    nb_dataset_free(test);
    nb_dataset_free(train);
    nb_ctx_free(ctx);
    nb_dist_finalize();
    return 0;
}
