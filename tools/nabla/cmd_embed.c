/* cmd_embed.c - `nabla embed`: the penultimate-layer features (the input of the
 * model's last Linear) of every image of a dataset split, as a NumPy .npy file
 * (N, F) float32, and the labels as (N) int64, for use in NumPy / scikit-learn.
 * The model is built with the head the weights file has (its output count is read
 * from the file), so weights trained on any number of classes work. */
#include "cli.h"
#include "options.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *SYNOPSIS = "--model NAME --weights FILE --out FEATS.npy [--data DIR] [options]";

/* The number of outputs of the head stored in path, or 0 (message set). */
static int head_outputs(nb_ctx *ctx, const char *model, const int64_t chw[3], const char *path)
{
    nb_module *m = nb_model_new(
        ctx, model, &(nb_model_opts){.in_channels = (int)chw[0], .input_size = {(int)chw[1], (int)chw[2]}});
    char head[512];
    if (!m || !nb_module_head(m, head, sizeof head)) {
        nb_module_free(m);
        return 0;
    }
    nb_module_free(m);
    nb_safetensors *f = nb_safetensors_open(path);
    if (!f) return 0;
    char key[600];
    snprintf(key, sizeof key, "%s.weight", head);
    int k = nb_safetensors_find(f, key);
    int64_t shape[NB_MAX_DIMS];
    int out = 0;
    if (k < 0) {
        cli_error("embed: %s has no '%s' (the head of %s); is it weights for another model?", path, key, model);
    } else if (nb_safetensors_shape(f, k, shape) != 2 || shape[0] < 1 || shape[0] > 1000000) {
        cli_error("embed: %s: '%s' is not a Linear weight", path, key);
    } else {
        out = (int)shape[0];
    }
    nb_safetensors_close(f);
    return out;
}

/* DIR/labels.npy beside the features file. */
static void default_labels_path(const char *out, char *buf, size_t n)
{
    const char *slash = strrchr(out, '/');
    if (slash) snprintf(buf, n, "%.*s/labels.npy", (int)(slash - out), out);
    else snprintf(buf, n, "labels.npy");
}

int cmd_embed(int argc, char **argv)
{
    if (cli_is_text_model_arg(argc, argv)) return cmd_embed_text(argc, argv);
    const char *model = "cnn3", *weights = NULL, *data = NULL, *dataset = NULL, *out = NULL, *labels_out = NULL;
    const char *split = "train", *classes = NULL;
    long threads = 0, batch = 500, per_class = 0, seed = 0, num_classes = 0;
    const cli_option opts[] = {
        {"--model", OPT_STRING, &model, "NAME", "built-in model or model file (.nbm) the weights belong to (cnn3, train's default)"},
        {"--weights", OPT_STRING, &weights, "FILE", "safetensors weights (required)"},
        {"--out", OPT_STRING, &out, "FILE", "features as .npy, shape (N, F) float32 (required)"},
        {"--labels-out", OPT_STRING, &labels_out, "FILE", "labels as .npy, shape (N) int64 (default: labels.npy beside --out)"},
        {"--data", OPT_STRING, &data, "DIR", "dataset directory (default /usr/share/datasets/fashion-mnist)"},
        {"--dataset", OPT_STRING, &dataset, "KIND", "fashion-mnist, mnist, cifar10 or folder (default: from --data)"},
        {"--split", OPT_STRING, &split, "S", "train (default) or test"},
        {"--classes", OPT_STRING, &classes, "LIST", "only these classes, labels 0..K-1 in this order (e.g. 5-9)"},
        {"--per-class", OPT_INT, &per_class, "N", "only the first N images of each class (under --seed)"},
        {"--seed", OPT_INT, &seed, "S", "seed of --per-class's choice (0)"},
        {"--num-classes", OPT_INT, &num_classes, "K", "outputs of the weights' head (default: read from the file)"},
        {"--batch-size", OPT_INT, &batch, "B", "batch size (500)"},
        {"--threads", OPT_INT, &threads, "T", "threads (default: all cores)"},
        {NULL, 0, NULL, NULL, NULL},
    };
    int rc = cli_parse("embed", SYNOPSIS, opts, argc, argv, NULL, 0, NULL);
    if (rc) return rc == 1 ? 0 : rc;
    if (!weights || !out) {
        cli_error("embed: --weights FILE and --out FILE are required");
        return 2;
    }
    if (strcmp(split, "train") && strcmp(split, "test")) {
        cli_error("embed: --split is train or test, not '%s'", split);
        return 2;
    }
    if (batch < 1 || num_classes < 0) {
        cli_error(batch < 1 ? "embed: --batch-size must be positive" : "embed: --num-classes must not be negative");
        return 2;
    }
    char lpath[4096];
    if (!labels_out) {
        default_labels_path(out, lpath, sizeof lpath);
        labels_out = lpath;
    }
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.threads = (int)threads});
    nb_dataset *d = NULL;
    nb_module *m = NULL;
    nb_loader *l = NULL;
    float *feats = NULL;
    int64_t *labs = NULL;
    nb_tensor *tf = NULL, *tl = NULL;
    rc = 1;
    if (!ctx || !(d = nb_dataset_open(dataset, data, !strcmp(split, "train")))) goto fail;
    if (!(d = cli_subset("embed", d, classes, per_class, (uint64_t)seed))) goto done;
    int64_t chw[3];
    nb_dataset_sample_shape(d, chw);
    if (!num_classes && !(num_classes = head_outputs(ctx, model, chw, weights))) {
        if (*nb_last_error()) goto fail;
        goto done;
    }
    m = nb_model_new(ctx, model, &(nb_model_opts){.num_classes = (int)num_classes, .in_channels = (int)chw[0],
                                                  .input_size = {(int)chw[1], (int)chw[2]}});
    if (!m || nb_load_safetensors(m, weights, 1) || nb_module_check_finite(m)) goto fail;
    nb_module_train(m, 0);
    nb_set_grad_enabled(ctx, 0);
    l = nb_loader_new(ctx, d, &(nb_loader_opts){.batch_size = (int)batch});
    if (!l) goto fail;
    nb_loader_start_epoch(l, 0);
    nb_clear_error();
    int64_t n = nb_dataset_len(d), done_n = 0, F = 0;
    if (!(labs = malloc(sizeof *labs * (size_t)(n ? n : 1)))) {
        cli_error("embed: out of memory");
        goto done;
    }
    for (;;) {
        nb_ctx_reset(ctx);
        nb_tensor *x, *y;
        if (!nb_loader_next(l, &x, &y)) break;
        nb_tensor *f = nb_module_features(m, x, NULL);
        if (!f) goto fail;
        int64_t b = nb_tensor_dim(f, 0);
        if (!feats) {
            F = nb_tensor_dim(f, 1);
            if (!(feats = malloc(sizeof *feats * (size_t)(n * F > 0 ? n * F : 1)))) {
                cli_error("embed: out of memory for %lld x %lld features", (long long)n, (long long)F);
                goto done;
            }
        }
        memcpy(feats + done_n * F, nb_tensor_data(f), sizeof *feats * (size_t)(b * F));
        memcpy(labs + done_n, nb_tensor_data_i64(y), sizeof *labs * (size_t)b);
        done_n += b;
    }
    if (*nb_last_error() && done_n < n) goto fail;
    if (!(tf = nb_tensor_from(ctx, NB_F32, 2, (int64_t[]){done_n, F}, feats)) ||
        !(tl = nb_tensor_from(ctx, NB_I64, 1, (int64_t[]){done_n}, labs)) || nb_save_npy(out, tf) ||
        nb_save_npy(labels_out, tl))
        goto fail;
    printf("features=%s shape=(%lld, %lld) labels=%s classes=%d\n", out, (long long)done_n, (long long)F, labels_out,
           nb_dataset_num_classes(d));
    rc = 0;
    goto done;
fail:
    cli_error("embed: %s", nb_last_error());
    rc = 1;
done:
    nb_tensor_free(tf);
    nb_tensor_free(tl);
    free(feats);
    free(labs);
    nb_loader_free(l);
    nb_module_free(m);
    nb_dataset_free(d);
    nb_ctx_free(ctx);
    return rc;
}
