/* cmd_augment.c - `nabla augment`: a PNG grid of training samples, each original
 * beside its augmented version, so a person can see what a pipeline does before
 * training with it. Two loaders with the same seed give the same shuffled samples,
 * one plain and one through the pipeline; since each sample's draws come from
 * (seed, epoch, index) only, the right-hand images are exactly what
 * `nabla train --augment SPEC --seed S` feeds for those samples in the first epoch. */
#include "cli.h"
#include "options.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_image_write.h>

static const char *SYNOPSIS = "--augment SPEC --out FILE.png [--data DIR] [--n N] [--seed S]";

#define GAP 2     /* pixels between an original and its augmented version */
#define PAIR_GAP 10 /* pixels between pairs */
#define BG 48     /* background grey */

/* Paint image (C, H, W) (C = 1 or 3) at (x0, y0) of rgb (width W_img), each pixel a
 * scale×scale block; values mapped by (v - lo) / (hi - lo), clamped to [0, 1]. */
static void paint(unsigned char *rgb, int64_t stride, const float *img, int64_t c, int64_t h, int64_t w, int64_t x0,
                  int64_t y0, int scale, float lo, float hi)
{
    for (int64_t y = 0; y < h * scale; y++)
        for (int64_t x = 0; x < w * scale; x++) {
            unsigned char *p = rgb + (y0 + y) * stride + (x0 + x) * 3;
            for (int k = 0; k < 3; k++) {
                float v = img[((c == 3 ? k : 0) * h + y / scale) * w + x / scale];
                v = (v - lo) / (hi - lo);
                v = v < 0 ? 0 : v > 1 ? 1 : v;
                p[k] = (unsigned char)lrintf(v * 255.0f);
            }
        }
}

/* stbi_write_png_to_func's sink: the PNG in memory, written atomically after. */
typedef struct {
    unsigned char *p;
    size_t n, cap;
    int failed;
} png_buf;

static void png_sink(void *ctx, void *data, int size)
{
    png_buf *b = ctx;
    if (b->failed || size <= 0) return;
    if (b->n + (size_t)size > b->cap) {
        size_t cap = 2 * (b->n + (size_t)size);
        unsigned char *t = realloc(b->p, cap);
        if (!t) {
            b->failed = 1;
            return;
        }
        b->p = t, b->cap = cap;
    }
    memcpy(b->p + b->n, data, (size_t)size);
    b->n += (size_t)size;
}

int cmd_augment(int argc, char **argv)
{
    const char *data = NULL, *dataset = NULL, *spec = NULL, *out = NULL;
    long n = 16, seed = 0, scale = 0, per_row = 0;
    const cli_option opts[] = {
        {"--augment", OPT_STRING, &spec, "SPEC", "pipeline, e.g. \"random_crop(28, padding=2), hflip\" (required)"},
        {"--out", OPT_STRING, &out, "FILE", "PNG file to write (required)"},
        {"--data", OPT_STRING, &data, "DIR", "dataset directory (default /usr/share/datasets/fashion-mnist)"},
        {"--dataset", OPT_STRING, &dataset, "KIND", "fashion-mnist, mnist, cifar10 or folder (default: from --data)"},
        {"--n", OPT_INT, &n, "N", "number of samples (16)"},
        {"--seed", OPT_INT, &seed, "S", "which samples and which augmentations (0)"},
        {"--scale", OPT_INT, &scale, "K", "enlarge each pixel K times (default: images at least 84 pixels)"},
        {"--per-row", OPT_INT, &per_row, "P", "pairs per row (default: about the square root of N)"},
        {NULL, 0, NULL, NULL, NULL},
    };
    int rc = cli_parse("augment", SYNOPSIS, opts, argc, argv, NULL, 0, NULL);
    if (rc) return rc == 1 ? 0 : rc;
    if (!spec || !out) {
        cli_error("augment: --augment SPEC and --out FILE are required");
        return 2;
    }
    if (n < 1 || n > 1024 || scale < 0 || scale > 64 || per_row < 0 || seed < 0) {
        cli_error("augment: --n must be in [1, 1024], --scale in [0, 64], --per-row and --seed >= 0");
        return 2;
    }
    nb_transform *tf = nb_transform_parse(spec);
    if (!tf) {
        cli_error("augment: --augment: %s", nb_last_error());
        return 2;
    }
    rc = 1;
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.seed = (uint64_t)seed, .threads = 1});
    nb_dataset *d = ctx ? nb_dataset_open(dataset, data, 1) : NULL;
    nb_loader *l = NULL, *la = NULL;
    unsigned char *rgb = NULL;
    nb_tensor *x = NULL, *y = NULL, *ax = NULL, *ay = NULL;
    if (!d) goto fail;
    if (n > nb_dataset_len(d)) n = nb_dataset_len(d);
    nb_loader_opts lopt = {.batch_size = (int)n, .shuffle = 1, .seed = (uint64_t)seed};
    l = nb_loader_new(ctx, d, &lopt);
    lopt.transform = tf;
    la = l ? nb_loader_new(ctx, d, &lopt) : NULL;
    if (!la) goto fail;
    nb_loader_start_epoch(l, 0);
    nb_loader_start_epoch(la, 0);
    if (!nb_loader_next(l, &x, &y) || !nb_loader_next(la, &ax, &ay)) goto fail;
    int64_t c0 = nb_tensor_dim(x, 1), h0 = nb_tensor_dim(x, 2), w0 = nb_tensor_dim(x, 3);
    int64_t c1 = nb_tensor_dim(ax, 1), h1 = nb_tensor_dim(ax, 2), w1 = nb_tensor_dim(ax, 3);
    if ((c0 != 1 && c0 != 3) || (c1 != 1 && c1 != 3)) {
        cli_error("augment: can only draw images with 1 or 3 channels (the pipeline gives %lld)", (long long)c1);
        goto done;
    }
    /* values outside [0, 1] are clamped (random erasing's N(0, 1) patches, noise);
     * after a Normalize the whole range is shown, min-max scaled */
    char repr[4096];
    nb_transform_str(tf, repr, sizeof repr);
    float lo = 0, hi = 1, mn = INFINITY, mx = -INFINITY;
    const float *av = nb_tensor_data(ax);
    for (int64_t i = 0; i < nb_tensor_numel(ax); i++) {
        if (av[i] < mn) mn = av[i];
        if (av[i] > mx) mx = av[i];
    }
    int rescaled = strstr(repr, "Normalize(") && mx > mn;
    if (rescaled) {
        lo = mn;
        hi = mx;
    }
    int64_t ch = h0 > h1 ? h0 : h1, cw = w0 > w1 ? w0 : w1;
    if (!scale) scale = (84 + (ch > cw ? ch : cw) - 1) / (ch > cw ? ch : cw);
    if (!per_row) per_row = (long)ceil(sqrt((double)n));
    if (per_row > n) per_row = n;
    int64_t rows = (n + per_row - 1) / per_row;
    int64_t pair_w = 2 * cw * scale + GAP, cell_h = ch * scale;
    int64_t W = PAIR_GAP + per_row * (pair_w + PAIR_GAP), H = PAIR_GAP + rows * (cell_h + PAIR_GAP);
    if (W > 16384 || H > 16384) {
        cli_error("augment: the grid would be %lldx%lld pixels; use a smaller --scale or --n", (long long)W, (long long)H);
        goto done;
    }
    rgb = malloc((size_t)(W * H * 3));
    if (!rgb) {
        cli_error("augment: out of memory for a %lldx%lld image", (long long)W, (long long)H);
        goto done;
    }
    memset(rgb, BG, (size_t)(W * H * 3));
    const float *xv = nb_tensor_data(x);
    for (int64_t i = 0; i < n; i++) {
        int64_t px = PAIR_GAP + (i % per_row) * (pair_w + PAIR_GAP), py = PAIR_GAP + (i / per_row) * (cell_h + PAIR_GAP);
        paint(rgb, W * 3, xv + i * c0 * h0 * w0, c0, h0, w0, px, py, (int)scale, 0, 1);
        paint(rgb, W * 3, av + i * c1 * h1 * w1, c1, h1, w1, px + cw * scale + GAP, py, (int)scale, lo, hi);
    }
    png_buf png = {0};
    if (!stbi_write_png_to_func(png_sink, &png, (int)W, (int)H, 3, rgb, (int)(W * 3)) || png.failed) {
        free(png.p);
        cli_error("augment: cannot encode %s: out of memory", out);
        goto done;
    }
    nb_status wst = nb_write_file_atomic(out, png.p, png.n); /* a full disk is an error, not a short PNG */
    free(png.p);
    if (wst) {
        cli_error("augment: %s", nb_last_error());
        goto done;
    }
    printf("%s\n", repr);
    printf("wrote %s (%lldx%lld): %ld samples, each original (left, %lldx%lldx%lld) beside its augmented version "
           "(right, %lldx%lldx%lld)%s\n",
           out, (long long)W, (long long)H, n, (long long)c0, (long long)h0, (long long)w0, (long long)c1, (long long)h1,
           (long long)w1, rescaled ? "; normalized values are shown min-max scaled" : "");
    printf("classes, row by row:");
    for (int64_t i = 0; i < n; i++) {
        int64_t lab = nb_tensor_data_i64(y)[i];
        const char *cn = nb_dataset_class_name(d, (int)lab);
        if (i % per_row == 0) printf("\n ");
        if (cn) printf(" %s", cn);
        else printf(" %lld", (long long)lab);
    }
    printf("\n");
    rc = 0;
    goto done;
fail:
    cli_error("augment: %s", nb_last_error());
done:
    free(rgb);
    nb_loader_free(la);
    nb_loader_free(l);
    nb_dataset_free(d);
    nb_ctx_free(ctx);
    nb_transform_free(tf);
    return rc;
}
