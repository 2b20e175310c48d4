/* augment_images.c - compose a torchvision-style augmentation pipeline and look at
 * what it does: 8 Fashion-MNIST training images (left column) and 5 augmented
 * versions of each (each image and each version with its own random draws), written
 * as a PNG grid. Also shows one deterministic transform (F.rotate) called directly.
 *
 *   cc augment_images.c $(pkg-config --cflags --libs nabla) -o augment_images
 *   ./augment_images [OUT.png] [DATA_DIR]
 *
 * OUT.png defaults to augment_grid.png. The PNG is written with stb_image_write
 * (Debian's libstb-dev, a dependency of nabla; header-only here). The pipeline spec
 * is the one `nabla train --augment SPEC` and `nabla augment --augment SPEC` take;
 * docs/augmentation.md lists every transform. NB_EXAMPLE_QUICK=1 changes nothing
 * (it is already brief). */
#include <nabla.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

enum { ROWS = 8, VARIANTS = 5, SCALE = 3, GAP = 2 };

static int fail(const char *what)
{
    fprintf(stderr, "augment_images: %s: %s\n", what, nb_last_error());
    return 1;
}

/* Copy image (C, H, W) in [0, 1] into the grey grid at tile (row, col), each pixel
 * enlarged SCALE times; values outside [0, 1] are clamped, colour is averaged. */
static void put_tile(unsigned char *grid, int grid_w, nb_tensor *img, int row, int col)
{
    int64_t c = nb_tensor_dim(img, -3), h = nb_tensor_dim(img, -2), w = nb_tensor_dim(img, -1);
    const float *p = nb_tensor_data(img);
    int x0 = GAP + col * (int)(w * SCALE + GAP), y0 = GAP + row * (int)(h * SCALE + GAP);
    for (int64_t y = 0; y < h * SCALE; y++)
        for (int64_t x = 0; x < w * SCALE; x++) {
            float v = 0;
            for (int64_t k = 0; k < c; k++) v += p[(k * h + y / SCALE) * w + x / SCALE];
            v /= (float)c;
            v = v < 0 ? 0 : v > 1 ? 1 : v;
            grid[(y0 + y) * grid_w + x0 + x] = (unsigned char)(v * 255.0f + 0.5f);
        }
}

int main(int argc, char **argv)
{
    const char *out = argc > 1 ? argv[1] : "augment_grid.png";
    const char *dir = argc > 2 ? argv[2] : NULL; /* NULL: Debian's Fashion-MNIST */
    const char *spec = "random_resized_crop(28, scale=(0.6, 1)), hflip, random_rotation(15), "
                       "color_jitter(brightness=0.5, contrast=0.5), random_erasing(p=0.5, scale=(0.02, 0.15))";

    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_dataset *train = ctx ? nb_fashion_mnist_new(dir, 1) : NULL;
    if (!train) return fail("dataset");
    nb_transform *tf = nb_transform_parse(spec); /* an error shows the column */
    if (!tf) return fail("spec");
    char repr[2048];
    printf("%s\n", nb_transform_str(tf, repr, sizeof repr)); /* torchvision's Compose(...) repr */

    /* the first ROWS training images, in file order, as one batch (ROWS, 1, 28, 28) */
    nb_loader *loader = nb_loader_new(ctx, train, &(nb_loader_opts){.batch_size = ROWS});
    nb_tensor *x, *y;
    nb_loader_start_epoch(loader, 0);
    if (!loader || !nb_loader_next(loader, &x, &y)) return fail("loading images");
    const int64_t *labels = nb_tensor_data_i64(y);

    int64_t h = nb_tensor_dim(x, 2), w = nb_tensor_dim(x, 3);
    int cols = 1 + VARIANTS + 1; /* original, the pipeline's versions, F.rotate(30) */
    int grid_w = GAP + cols * (int)(w * SCALE + GAP), grid_h = GAP + ROWS * (int)(h * SCALE + GAP);
    unsigned char *grid = malloc((size_t)grid_w * (size_t)grid_h);
    if (!grid) return 1;
    memset(grid, 96, (size_t)grid_w * (size_t)grid_h); /* grey lines between the tiles */

    nb_rng rng;
    nb_rng_seed(&rng, 2024); /* every random choice comes from this generator */
    for (int r = 0; r < ROWS; r++) {
        nb_tensor *img = nb_narrow(x, 0, r, 1); /* (1, 1, 28, 28): a batch of one */
        put_tile(grid, grid_w, img, r, 0);
        for (int v = 0; v < VARIANTS; v++) {
            nb_tensor *aug = nb_transform_apply(tf, img, &rng); /* new draws every call */
            if (!aug) return fail("augmenting");
            put_tile(grid, grid_w, aug, r, 1 + v);
        }
        /* a deterministic transform: torchvision.transforms.functional.rotate(img, 30) */
        nb_tensor *rot = nb_img_rotate(img, 30.0f, &(nb_warp_opts){.interpolation = NB_INTERP_BILINEAR});
        if (!rot) return fail("rotating");
        put_tile(grid, grid_w, rot, r, cols - 1);
        printf("row %d: %s\n", r + 1, nb_dataset_class_name(train, (int)labels[r]));
    }
    if (!stbi_write_png(out, grid_w, grid_h, 1, grid, grid_w)) {
        fprintf(stderr, "augment_images: cannot write %s\n", out);
        return 1;
    }
    printf("wrote %s (%dx%d): original, %d augmented versions, rotated by 30 degrees\n", out, grid_w, grid_h,
           VARIANTS);

    free(grid);
    nb_loader_free(loader);
    nb_transform_free(tf);
    nb_dataset_free(train);
    nb_ctx_free(ctx);
    return 0;
}
