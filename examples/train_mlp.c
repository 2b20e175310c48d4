/* train_mlp.c - train the mlp on Fashion-MNIST with the C API and report test accuracy.
 *
 *   cc train_mlp.c $(pkg-config --cflags --libs nabla) -o train_mlp && ./train_mlp [DATA_DIR]
 *
 * NB_EXAMPLE_QUICK=1 stops after 50 steps (what CI runs). */
#include <nabla.h>

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : NULL; /* NULL: /usr/share/datasets/fashion-mnist */
    int quick = getenv("NB_EXAMPLE_QUICK") != NULL;
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.seed = 42});
    nb_dataset *train = nb_fashion_mnist_new(dir, 1), *test = nb_fashion_mnist_new(dir, 0);
    if (!ctx || !train || !test) {
        fprintf(stderr, "train_mlp: %s\n", nb_last_error());
        return 1;
    }
    /* the same network written out layer by layer (nb_model_new(ctx, "mlp", NULL) builds it too) */
    nb_module *layers[] = {
        nb_flatten_new(ctx, 1, -1),
        nb_linear_new(ctx, 784, 512, NULL), nb_relu_new(ctx),
        nb_linear_new(ctx, 512, 256, NULL), nb_relu_new(ctx),
        nb_linear_new(ctx, 256, 10, NULL),
    };
    nb_module *net = nb_sequential_new(ctx, layers, 6);
    int n;
    nb_tensor **params = nb_module_parameters(net, &n);
    nb_optim *opt = nb_sgd_new(params, n, &(nb_sgd_opts){.lr = 0.05f, .momentum = 0.9f, .weight_decay = 5e-4f});
    nb_loader *loader = nb_loader_new(ctx, train, &(nb_loader_opts){.batch_size = 128, .shuffle = 1, .seed = 42});
    if (!net || !opt || !loader) {
        fprintf(stderr, "train_mlp: %s\n", nb_last_error());
        return 1;
    }
    int epochs = quick ? 1 : 3, steps = 0;
    for (int epoch = 0; epoch < epochs; epoch++) {
        nb_loader_start_epoch(loader, epoch);
        nb_tensor *x, *y;
        double sum = 0;
        int batches = 0;
        for (;;) {
            nb_ctx_reset(ctx); /* frees the previous step's activations */
            if (!nb_loader_next(loader, &x, &y) || (quick && steps == 50)) break;
            nb_optim_zero_grad(opt);
            nb_tensor *loss = nb_cross_entropy(nb_module_forward(net, x), y, NULL);
            if (nb_backward(loss) || nb_optim_step(opt)) {
                fprintf(stderr, "train_mlp: %s\n", nb_last_error());
                return 1;
            }
            sum += nb_tensor_item(loss);
            batches++;
            steps++;
        }
        nb_eval_result ev;
        if (nb_evaluate(net, test, 1000, &ev)) {
            fprintf(stderr, "train_mlp: %s\n", nb_last_error());
            return 1;
        }
        printf("epoch %d: train loss %.4f, test accuracy %.4f\n", epoch + 1, sum / batches, ev.accuracy);
    }
    nb_loader_free(loader);
    nb_optim_free(opt);
    nb_module_free(net);
    nb_dataset_free(test);
    nb_dataset_free(train);
    nb_ctx_free(ctx);
    return 0;
}
