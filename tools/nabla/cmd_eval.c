/* cmd_eval.c - `nabla eval`: test accuracy and loss of saved weights, and with
 * --confusion the confusion matrix as a heatmap PNG or as text. */
#include "cli.h"
#include "options.h"
#include "plot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The matrix counts[t * k + p] as a table: a header of predicted classes, then one
 * row per true class (its name, then k counts); columns as wide as their name. */
static int print_confusion(FILE *f, const int64_t *counts, int k, const char *const *names)
{
    int nw = (int)strlen("true\\pred");
    char buf[32];
    int *cw = malloc(sizeof *cw * (size_t)k);
    if (!cw) return 1;
    for (int i = 0; i < k; i++) {
        int l = names[i] ? (int)strlen(names[i]) : snprintf(buf, sizeof buf, "%d", i);
        nw = l > nw ? l : nw;
        cw[i] = l;
    }
    for (int64_t i = 0; i < (int64_t)k * k; i++) {
        int l = snprintf(buf, sizeof buf, "%lld", (long long)counts[i]);
        if (l > cw[i % k]) cw[i % k] = l;
    }
    fprintf(f, "confusion matrix: rows are the true classes, columns the predicted ones\n%-*s", nw, "true\\pred");
    for (int p = 0; p < k; p++) {
        snprintf(buf, sizeof buf, "%d", p);
        fprintf(f, "  %*s", cw[p], names[p] ? names[p] : buf);
    }
    fputc('\n', f);
    for (int t = 0; t < k; t++) {
        snprintf(buf, sizeof buf, "%d", t);
        fprintf(f, "%-*s", nw, names[t] ? names[t] : buf);
        for (int p = 0; p < k; p++) fprintf(f, "  %*lld", cw[p], (long long)counts[(int64_t)t * k + p]);
        fputc('\n', f);
    }
    free(cw);
    return 0;
}

int cmd_eval(int argc, char **argv)
{
    const char *model = "cnn3", *weights = NULL, *data = NULL, *dataset = NULL, *classes = NULL, *confusion = NULL;
    long threads = 0, batch = 1000, per_class = 0, seed = 0;
    const cli_option opts[] = {
        {"--model", OPT_STRING, &model, "NAME", "built-in model or model file (.nbm) the weights belong to (cnn3, train's default)"},
        {"--weights", OPT_STRING, &weights, "FILE", "safetensors weights (required)"},
        {"--data", OPT_STRING, &data, "DIR", "dataset directory (default /usr/share/datasets/fashion-mnist)"},
        {"--dataset", OPT_STRING, &dataset, "KIND", "fashion-mnist, mnist, cifar10 or folder (default: from --data)"},
        {"--batch-size", OPT_INT, &batch, "B", "evaluation batch size (1000)"},
        {"--classes", OPT_STRING, &classes, "LIST", "only these classes, relabelled 0..K-1 (as given to train)"},
        {"--per-class", OPT_INT, &per_class, "N", "only the first N test images of each class (under --seed)"},
        {"--seed", OPT_INT, &seed, "S", "seed of --per-class's choice (0)"},
        {"--confusion", OPT_STRING, &confusion, "FILE",
         "draw the confusion matrix as a PNG heatmap (FILE.png), or print it (-)"},
        {"--threads", OPT_INT, &threads, "T", "threads (default: all cores)"},
        {NULL, 0, NULL, NULL, NULL},
    };
    int rc = cli_parse("eval", "--model NAME --weights FILE [--data DIR] [--confusion FILE.png|-]", opts, argc, argv,
                       NULL, 0, NULL);
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
    nb_dataset *test = ctx ? nb_dataset_open(dataset, data, 0) : NULL;
    if (test && (classes || per_class > 0) && !(test = cli_subset("eval", test, classes, per_class, (uint64_t)seed))) {
        nb_ctx_free(ctx);
        return 1;
    }
    nb_module *m = NULL;
    nb_eval_result ev;
    int k = test ? nb_dataset_num_classes(test) : 0;
    int64_t *counts = NULL;
    rc = 1;
    if (test) {
        int64_t chw[3];
        nb_dataset_sample_shape(test, chw);
        m = nb_model_new(ctx, model, &(nb_model_opts){.num_classes = k, .in_channels = (int)chw[0],
                                                      .input_size = {(int)chw[1], (int)chw[2]}});
    }
    if (m && confusion && !(counts = calloc((size_t)k * (size_t)k, sizeof *counts))) {
        cli_error("eval: out of memory for a %dx%d confusion matrix", k, k);
        goto done;
    }
    if (!m || nb_load_safetensors(m, weights, 1) || nb_module_check_finite(m) || nb_evaluate_confusion(m, test, (int)batch, &ev, counts)) {
        cli_error("eval: %s", nb_last_error());
        goto done;
    }
    printf("test_acc=%.4f test_loss=%.4f\n", ev.accuracy, ev.loss);
    rc = 0;
    if (counts) {
        const char **names = malloc(sizeof *names * (size_t)k);
        if (!names) {
            cli_error("eval: out of memory");
            rc = 1;
            goto done;
        }
        for (int i = 0; i < k; i++) names[i] = nb_dataset_class_name(test, i);
        if (!strcmp(confusion, "-")) {
            if ((rc = print_confusion(stdout, counts, k, names))) cli_error("eval: out of memory");
        } else {
            char title[200];
            int w, h;
            snprintf(title, sizeof title, "Confusion matrix: %s, accuracy %.2f%% on %lld images", model,
                     100 * ev.accuracy, (long long)ev.count);
            rc = plot_confusion_png(confusion, title, counts, k, names, &w, &h);
            if (!rc) printf("wrote %s (%dx%d)\n", confusion, w, h);
        }
        free(names);
    }
done:
    free(counts);
    nb_module_free(m);
    nb_dataset_free(test);
    nb_ctx_free(ctx);
    return rc;
}
