/* cmd_eval.c - `nabla eval`: test accuracy and loss of saved weights. */
#include "cli.h"
#include "options.h"

#include <stdio.h>

int cmd_eval(int argc, char **argv)
{
    const char *model = "mlp", *weights = NULL, *data = NULL, *classes = NULL;
    long threads = 0, batch = 1000, per_class = 0, seed = 0;
    const cli_option opts[] = {
        {"--model", OPT_STRING, &model, "NAME", "built-in model the weights belong to (mlp)"},
        {"--weights", OPT_STRING, &weights, "FILE", "safetensors weights (required)"},
        {"--data", OPT_STRING, &data, "DIR", "IDX dataset directory (default /usr/share/datasets/fashion-mnist)"},
        {"--batch-size", OPT_INT, &batch, "B", "evaluation batch size (1000)"},
        {"--classes", OPT_STRING, &classes, "LIST", "only these classes, relabelled 0..K-1 (as given to train)"},
        {"--per-class", OPT_INT, &per_class, "N", "only the first N test images of each class (under --seed)"},
        {"--seed", OPT_INT, &seed, "S", "seed of --per-class's choice (0)"},
        {"--threads", OPT_INT, &threads, "T", "threads (default: all cores)"},
        {NULL, 0, NULL, NULL, NULL},
    };
    int rc = cli_parse("eval", "--model NAME --weights FILE [--data DIR]", opts, argc, argv, NULL, 0, NULL);
    if (rc) return rc == 1 ? 0 : rc;
    if (!weights) {
        cli_error("eval: --weights FILE is required");
        return 2;
    }
    if (batch < 1) {
        cli_error("eval: --batch-size must be positive");
        return 2;
    }
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.threads = (int)threads});
    nb_dataset *test = ctx ? nb_fashion_mnist_new(data, 0) : NULL;
    if (test && (classes || per_class > 0) && !(test = cli_subset("eval", test, classes, per_class, (uint64_t)seed))) {
        nb_ctx_free(ctx);
        return 1;
    }
    nb_module *m = NULL;
    nb_eval_result ev;
    rc = 1;
    if (test) {
        int64_t chw[3];
        nb_dataset_sample_shape(test, chw);
        m = nb_model_new(ctx, model,
                         &(nb_model_opts){.num_classes = nb_dataset_num_classes(test), .in_channels = (int)chw[0]});
    }
    if (m && !nb_load_safetensors(m, weights, 1) && !nb_evaluate(m, test, (int)batch, &ev)) {
        printf("test_acc=%.4f test_loss=%.4f\n", ev.accuracy, ev.loss);
        rc = 0;
    } else {
        cli_error("eval: %s", nb_last_error());
    }
    nb_module_free(m);
    nb_dataset_free(test);
    nb_ctx_free(ctx);
    return rc;
}
