/* cmd_predict.c - `nabla predict`: classify image files with saved weights. Each
 * image is decoded as the datasets decode theirs (stb_image, grayscale for a
 * 1-channel model, ToTensor's byte/255 and no other normalization, as in training),
 * and the model runs in eval mode; the top classes and their softmax
 * probabilities are printed per image. */
#include "cli.h"
#include "options.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *SYNOPSIS =
    "--model NAME --weights FILE [--data DIR | --classes-from DIR] [--resize HxW] IMAGE...";

/* "28x28" or "28" (square) */
static int parse_size(const char *s, long hw[2])
{
    char *end;
    hw[0] = strtol(s, &end, 10);
    hw[1] = hw[0];
    if (*end == 'x' || *end == 'X') hw[1] = strtol(end + 1, &end, 10);
    return end != s && !*end && hw[0] > 0 && hw[1] > 0;
}

/* The dataset the model was trained on, for its class names and image shape. */
static nb_dataset *open_classes(const char *classes_from, const char *kind, const char *data, const char *classes)
{
    nb_dataset *d;
    if (classes_from) {
        d = nb_image_folder_new(classes_from, NULL);
    } else {
        d = nb_dataset_open(kind, data, 0);
        if (!d && data) d = nb_dataset_open(kind, data, 1); /* an image folder without test/ or val/ */
    }
    if (!d) {
        cli_error("predict: %s", nb_last_error());
        return NULL;
    }
    return cli_subset("predict", d, classes, 0, 0);
}

/* Indices of the k largest of p[0..n) in decreasing order. */
static void top_k(const float *p, int n, int k, int *idx)
{
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int c = 0; c < n; c++) {
            int taken = 0;
            for (int t = 0; t < j; t++) taken |= idx[t] == c;
            if (!taken && (best < 0 || p[c] > p[best])) best = c;
        }
        idx[j] = best;
    }
}

/* One image: 0 ok, 1 error (printed). */
static int predict_one(nb_ctx *ctx, nb_module *m, const nb_dataset *d, const char *path, const long resize[2],
                       int top)
{
    int64_t chw[3];
    nb_dataset_sample_shape(d, chw);
    nb_ctx_reset(ctx);
    nb_tensor *x = nb_img_load(ctx, path, (int)chw[0]);
    if (x && resize[0]) x = nb_img_resize(x, resize[0], resize[1], NB_INTERP_BILINEAR, 1);
    if (!x) {
        cli_error("predict: %s", nb_last_error());
        return 1;
    }
    const int64_t *s = nb_tensor_shape(x);
    if (s[1] != chw[1] || s[2] != chw[2]) {
        cli_error("predict: %s is %lldx%lld (HxW)%s but the model takes %lldx%lld images; pass --resize %lldx%lld", path,
                  (long long)s[1], (long long)s[2], resize[0] ? " after --resize" : "", (long long)chw[1],
                  (long long)chw[2], (long long)chw[1], (long long)chw[2]);
        return 1;
    }
    nb_tensor *z = nb_module_forward(m, nb_reshape(x, 4, (int64_t[]){1, chw[0], chw[1], chw[2]}));
    nb_tensor *p = z ? nb_softmax(z, 1) : NULL;
    if (!p) {
        cli_error("predict: %s: %s", path, nb_last_error());
        return 1;
    }
    int n = (int)nb_tensor_shape(p)[1], idx[64];
    if (top > n) top = n;
    top_k(nb_tensor_data(p), n, top, idx);
    printf("%s\n", path);
    for (int j = 0; j < top; j++) {
        const char *name = nb_dataset_class_name(d, idx[j]);
        char num[32];
        if (!name) snprintf(num, sizeof num, "class %d", idx[j]), name = num;
        printf("  %.4f  %s\n", nb_tensor_data(p)[idx[j]], name);
    }
    return 0;
}

int cmd_predict(int argc, char **argv)
{
    const char *model = "cnn3", *weights = NULL, *data = NULL, *dataset = NULL, *classes_from = NULL,
               *classes = NULL, *resize_s = NULL;
    long top = 5, threads = 0;
    const cli_option opts[] = {
        {"--model", OPT_STRING, &model, "NAME", "built-in model or model file (.nbm) the weights belong to (cnn3, train's default)"},
        {"--weights", OPT_STRING, &weights, "FILE", "safetensors weights from nabla train --save (required)"},
        {"--data", OPT_STRING, &data, "DIR", "the training data: class names and image size (default Fashion-MNIST)"},
        {"--dataset", OPT_STRING, &dataset, "KIND", "fashion-mnist, mnist, cifar10 or folder (default: from --data)"},
        {"--classes-from", OPT_STRING, &classes_from, "DIR",
         "class names from an image folder's subdirectories (e.g. DIR/train)"},
        {"--classes", OPT_STRING, &classes, "LIST", "the --classes the model was trained with"},
        {"--resize", OPT_STRING, &resize_s, "HxW", "resize each image (bilinear, antialiased) first, e.g. 28x28"},
        {"--top", OPT_INT, &top, "K", "classes printed per image (5)"},
        {"--threads", OPT_INT, &threads, "T", "threads (default: all cores)"},
        {NULL, 0, NULL, NULL, NULL},
    };
    const char **images = malloc(sizeof *images * (size_t)argc);
    int nimages = 0;
    if (!images) {
        cli_error("predict: out of memory");
        return 1;
    }
    int rc = cli_parse("predict", SYNOPSIS, opts, argc, argv, images, argc, &nimages);
    long resize[2] = {0, 0};
    if (!rc && !weights) cli_error("predict: --weights FILE is required"), rc = 2;
    if (!rc && !nimages) cli_error("predict: no image files given"), rc = 2;
    if (!rc && (top < 1 || top > 64)) cli_error("predict: --top must be between 1 and 64"), rc = 2;
    if (!rc && resize_s && !parse_size(resize_s, resize))
        cli_error("predict: --resize needs HxW (e.g. 28x28) or one size N, got '%s'", resize_s), rc = 2;
    if (rc) {
        free(images);
        return rc == 1 ? 0 : rc;
    }
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.threads = (int)threads});
    nb_dataset *d = ctx ? open_classes(classes_from, dataset, data, classes) : NULL;
    nb_module *m = NULL;
    rc = 1;
    if (!ctx) cli_error("predict: %s", nb_last_error());
    if (d) {
        int64_t chw[3];
        nb_dataset_sample_shape(d, chw);
        m = nb_model_new(ctx, model,
                         &(nb_model_opts){.num_classes = nb_dataset_num_classes(d), .in_channels = (int)chw[0],
                                          .input_size = {(int)chw[1], (int)chw[2]}});
        if (!m || nb_load_safetensors(m, weights, 1) || nb_module_check_finite(m)) cli_error("predict: %s", nb_last_error());
        else rc = 0;
    }
    if (!rc) {
        nb_module_train(m, 0);
        nb_set_grad_enabled(ctx, 0);
        for (int i = 0; i < nimages; i++) rc |= predict_one(ctx, m, d, images[i], resize, (int)top);
    }
    nb_module_free(m);
    nb_dataset_free(d);
    nb_ctx_free(ctx);
    free(images);
    return rc;
}
