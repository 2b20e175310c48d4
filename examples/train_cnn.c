/* train_cnn.c - train the cnn on Fashion-MNIST with the library API: datasets, a
 * shuffling loader with an augmentation pipeline, the built-in "cnn" (Conv2d,
 * BatchNorm, ReLU, MaxPool, Dropout, Linear), SGD with Nesterov momentum and weight
 * decay, a per-step cosine learning-rate schedule after a linear warm-up, gradient
 * clipping, evaluation on the test set, and the weights saved as safetensors.
 *
 *   cc train_cnn.c $(pkg-config --cflags --libs nabla) -o train_cnn
 *   ./train_cnn [DATA_DIR] [OUT.safetensors]
 *
 * DATA_DIR defaults to Debian's /usr/share/datasets/fashion-mnist (apt-get install
 * dataset-fashion-mnist). A full run is 3 epochs (180,000 images: minutes on a
 * few cores, BENCHMARKS.md has the speed). NB_EXAMPLE_QUICK=1 trains 30 steps and evaluates on 500 test images
 * (what CI runs). The same run from the command line:
 *   nabla train --model cnn --epochs 3 --optimizer sgd --nesterov --lr-schedule cosine ...
 * (the command line steps its schedule once per epoch; here it steps every batch). */
#include <nabla.h>

#include <stdio.h>
#include <stdlib.h>

static int fail(const char *what)
{
    fprintf(stderr, "train_cnn: %s: %s\n", what, nb_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : NULL; /* NULL: Debian's Fashion-MNIST */
    const char *out = argc > 2 ? argv[2] : NULL;
    int quick = getenv("NB_EXAMPLE_QUICK") != NULL;
    int epochs = quick ? 1 : 3, max_steps = quick ? 30 : 0;

    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.seed = 1}); /* init, dropout and augmentation draws */
    if (!ctx) return fail("context");
    nb_dataset *train = nb_fashion_mnist_new(dir, 1);
    nb_dataset *test = nb_fashion_mnist_new(dir, 0);
    if (!train || !test) return fail("dataset");
    if (quick) /* the first 50 test images of each class (the subset owns and frees `test`) */
        test = nb_subset_new(test, &(nb_subset_opts){.per_class = 50, .seed = 0});
    if (!test) return fail("test subset");

    /* torchvision-style augmentation of the training samples, drawn per sample */
    nb_transform *augment = nb_transform_parse("random_crop(28, padding=2), hflip");
    if (!augment) return fail("augmentation spec");
    nb_loader *loader = nb_loader_new(ctx, train, &(nb_loader_opts){.batch_size = 128, .shuffle = 1, .seed = 1,
                                                                    .workers = 1, .transform = augment});
    if (!loader) return fail("loader");

    nb_module *net = nb_model_new(ctx, "cnn", NULL); /* 10 classes, 1 input channel */
    if (!net) return fail("model");
    int64_t n_weights = nb_module_num_params(net);
    /* the module's parameter array; a later nb_module_parameters, nb_module_state or
     * nb_module_num_params call (or saving the weights) rebuilds it, so take it last */
    int n;
    nb_tensor **params = nb_module_parameters(net, &n);
    nb_optim *opt = nb_sgd_new(params, n, &(nb_sgd_opts){.lr = 0.05, .momentum = 0.9, .nesterov = 1,
                                                          .weight_decay = 5e-4});
    if (!opt) return fail("optimizer");

    /* cosine annealing over all steps after 100 warm-up steps from lr/3 (LinearLR then
     * CosineAnnealingLR in torch's SequentialLR), stepped every batch */
    int64_t per_epoch = nb_loader_num_batches(loader);
    int total = max_steps ? max_steps : (int)(epochs * per_epoch);
    int warmup = total / 10 < 100 ? total / 10 : 100;
    nb_sched_opts sched = {.kind = NB_SCHED_COSINE, .t_max = total - warmup, .warmup = warmup};
    if (nb_sched_check(&sched)) return fail("schedule");
    printf("cnn: %lld parameters, %d steps of batch 128\n", (long long)n_weights, total);

    int step = 0;
    for (int epoch = 0; epoch < epochs; epoch++) {
        nb_module_train(net, 1);
        nb_loader_start_epoch(loader, epoch); /* reshuffles with (seed, epoch) */
        double sum = 0;
        int batches = 0;
        nb_tensor *x, *y;
        for (;;) {
            nb_ctx_reset(ctx); /* releases the last step's activations */
            if (step == total || !nb_loader_next(loader, &x, &y)) break;
            if (nb_sched_apply(&sched, opt, step)) return fail("schedule");
            nb_optim_zero_grad(opt);
            nb_tensor *loss = nb_cross_entropy(nb_module_forward(net, x), y, NULL);
            if (!loss || nb_backward(loss)) return fail("forward/backward");
            nb_clip_grad_norm(params, n, 5.0f, 2.0f);
            if (nb_optim_step(opt)) return fail("step");
            sum += nb_tensor_item(loss);
            batches++;
            step++;
            if (step % 100 == 0 || (quick && step % 10 == 0))
                printf("  step %d: loss %.4f, lr %.5f\n", step, sum / batches, nb_optim_get_lr(opt, 0));
        }
        nb_eval_result ev; /* eval mode (BatchNorm running stats, no dropout), no gradients */
        if (nb_evaluate(net, test, 500, &ev)) return fail("evaluation");
        printf("epoch %d: train loss %.4f, test loss %.4f, test accuracy %.4f (%lld images)\n", epoch + 1,
               sum / batches, ev.loss, ev.accuracy, (long long)ev.count);
    }
    if (out) {
        if (nb_save_safetensors(net, out)) return fail("saving");
        printf("weights written to %s (load with `nabla eval --model cnn --weights %s`)\n", out, out);
    }

    nb_loader_free(loader);
    nb_transform_free(augment);
    nb_optim_free(opt);
    nb_module_free(net);
    nb_dataset_free(test);
    nb_dataset_free(train);
    nb_ctx_free(ctx);
    return 0;
}
