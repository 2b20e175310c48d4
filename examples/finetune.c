/* finetune.c - transfer learning with the C API: pretrain the cnn on Fashion-MNIST
 * classes 0-4, then fine-tune it on 100 training images of each of classes 5-9
 * with a new 5-class head, the backbone frozen (BatchNorm in eval mode) or trained
 * with a smaller learning rate, and report test accuracy on classes 5-9.
 *
 *   cc finetune.c $(pkg-config --cflags --libs nabla) -o finetune
 *   ./finetune [PRETRAINED.safetensors] [DATA_DIR]
 *
 * With a PRETRAINED file (e.g. from `nabla train --model cnn --classes 0-4 --save
 * pre.safetensors`) the pretraining step is skipped. NB_EXAMPLE_QUICK=1 makes every
 * phase a few steps long (what CI runs). */
#include <nabla.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void die(const char *what)
{
    fprintf(stderr, "finetune: %s: %s\n", what, nb_last_error());
    exit(1);
}

/* SGD with momentum over the optimizer's groups for `epochs` epochs (or max_steps). */
static void train(nb_ctx *ctx, nb_module *m, nb_optim *opt, nb_dataset *d, int epochs, int max_steps)
{
    nb_loader *l = nb_loader_new(ctx, d, &(nb_loader_opts){.batch_size = 64, .shuffle = 1, .seed = 1});
    if (!l) die("loader");
    int steps = 0;
    for (int e = 0; e < epochs && (!max_steps || steps < max_steps); e++) {
        nb_module_train(m, 1); /* frozen BatchNorm layers stay in eval mode */
        nb_loader_start_epoch(l, e);
        nb_tensor *x, *y;
        for (;;) {
            nb_ctx_reset(ctx);
            if ((max_steps && steps == max_steps) || !nb_loader_next(l, &x, &y)) break;
            nb_optim_zero_grad(opt);
            if (nb_backward(nb_cross_entropy(nb_module_forward(m, x), y, NULL)) || nb_optim_step(opt)) die("step");
            steps++;
        }
    }
    nb_loader_free(l);
}

int main(int argc, char **argv)
{
    const char *pretrained = argc > 1 ? argv[1] : NULL, *dir = argc > 2 ? argv[2] : NULL;
    int quick = getenv("NB_EXAMPLE_QUICK") != NULL;
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.seed = 7});
    if (!ctx) die("context");
    int old[] = {0, 1, 2, 3, 4}, new_[] = {5, 6, 7, 8, 9};
    char tmp_path[64];

    /* 1. pretraining on classes 0-4 (unless a file is given) */
    if (!pretrained) {
        nb_dataset *d = nb_subset_new(nb_fashion_mnist_new(dir, 1), &(nb_subset_opts){.classes = old, .n_classes = 5});
        nb_module *m = d ? nb_model_new(ctx, "cnn", &(nb_model_opts){.num_classes = 5}) : NULL;
        if (!m) die("pretraining setup");
        int n;
        nb_tensor **p = nb_module_parameters(m, &n);
        nb_optim *opt = nb_sgd_new(p, n, &(nb_sgd_opts){.lr = 0.05, .momentum = 0.9, .weight_decay = 5e-4});
        if (!opt) die("optimizer");
        train(ctx, m, opt, d, 2, quick ? 20 : 0);
        snprintf(tmp_path, sizeof tmp_path, "/tmp/nb_finetune_%ld.safetensors", (long)getpid());
        if (nb_save_safetensors(m, tmp_path)) die("saving the pretrained weights");
        pretrained = tmp_path;
        printf("pretrained cnn on classes 0-4 -> %s\n", tmp_path);
        nb_optim_free(opt);
        nb_module_free(m);
        nb_dataset_free(d);
    }

    /* 2. fine-tuning on 100 images per class of 5-9, frozen and unfrozen */
    nb_dataset *few = nb_subset_new(nb_fashion_mnist_new(dir, 1),
                                    &(nb_subset_opts){.classes = new_, .n_classes = 5, .per_class = 100, .seed = 0});
    nb_dataset *test = nb_subset_new(nb_fashion_mnist_new(dir, 0), &(nb_subset_opts){.classes = new_, .n_classes = 5});
    if (!few || !test) die("datasets");
    for (int frozen = 1; frozen >= 0; frozen--) {
        nb_module *m = nb_model_new(ctx, "cnn", &(nb_model_opts){.num_classes = 5}); /* new 5-class head */
        nb_pretrained_report rep;
        if (!m || nb_load_pretrained(m, pretrained, NULL, &rep)) die("loading the backbone");
        if (frozen && nb_module_freeze(m, "backbone", NULL)) die("freezing");
        /* group 0: the head at lr 0.05; group 1: the trainable backbone at lr 0.005 */
        nb_tensor *backbone[64], *head[8];
        int nb, nh;
        if (nb_module_split_head(m, backbone, &nb, head, &nh)) die("head");
        nb_optim *opt = nb_sgd_new(head, nh, &(nb_sgd_opts){.lr = 0.05, .momentum = 0.9, .weight_decay = 5e-4});
        if (!opt || (nb && nb_optim_add_group(opt, &(nb_param_group){.params = backbone, .n = nb, .lr = 0.005})))
            die("optimizer");
        train(ctx, m, opt, few, quick ? 1 : 15, quick ? 5 : 0);
        nb_eval_result ev;
        if (nb_evaluate(m, test, 1000, &ev)) die("evaluation");
        printf("%s backbone (%d tensors loaded, new head '%s'): test accuracy on classes 5-9 %.4f\n",
               frozen ? "frozen  " : "unfrozen", rep.loaded, rep.head, ev.accuracy);
        nb_optim_free(opt);
        nb_module_free(m);
    }
    if (pretrained == tmp_path) remove(tmp_path);
    nb_dataset_free(few);
    nb_dataset_free(test);
    nb_ctx_free(ctx);
    return 0;
}
