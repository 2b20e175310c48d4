/* test_augment_cli.c - `nabla augment` as a user runs it: the PNG it writes decodes
 * (stb_image) to the size it reports, its left halves are the loader's samples and
 * its right halves what a training loader with the pipeline and the seed gives (other
 * batch size, 2 workers), pixel for pixel; bad
 * SPEC strings and options give the documented exit status and messages. */
#include "check.h"
#include "cli.h"
#include "nabla.h"

#include <stb/stb_image.h>

/* The pixel of value v as the grid paints it. */
static int byte_of(float v, float lo, float hi)
{
    v = (v - lo) / (hi - lo);
    v = v < 0 ? 0 : v > 1 ? 1 : v;
    return (int)lrintf(v * 255.0f);
}

int main(void)
{
    int rc = run(NABLA " augment --help");
    CHECK("augment --help lists --augment and --out", rc == 0 && strstr(out, "--augment") && strstr(out, "--out"), "rc %d",
          rc);
    rc = run(NABLA " --help");
    CHECK("nabla --help lists augment", rc == 0 && strstr(out, "augment"), "rc %d", rc);
    rc = run(NABLA " augment --augment hflip");
    CHECK("augment without --out: status 2", rc == 2 && strstr(out, "--out"), "rc %d: %s", rc, out);
    rc = run(NABLA " augment --augment 'random_crop(28, padding=2), hflp' --out /tmp/x.png");
    CHECK("bad SPEC: status 2, the column and a caret", rc == 2 && strstr(out, "unknown transform 'hflp' at column 29") &&
                                                            strstr(out, "did you mean hflip") && strstr(out, "^"),
          "rc %d: %s", rc, out);
    rc = run(NABLA " augment --augment 'random_crop(28, pading=2)' --out /tmp/x.png");
    CHECK("bad parameter: status 2 and its column", rc == 2 && strstr(out, "'pading'") && strstr(out, "column 17"),
          "rc %d: %s", rc, out);
    if (!have_fashion_mnist()) {
        printf("SKIP augment grid checks: Fashion-MNIST is not installed\n");
        CHECK_DONE();
    }
    rc = run(NABLA " augment --augment hflip --out /nonexistent/dir/grid.png --n 2");
    CHECK("unwritable output: status 1 naming the file", rc == 1 && strstr(out, "/nonexistent/dir/grid.png"), "rc %d: %s",
          rc, out);

    char path[] = "/tmp/nb_aug_XXXXXX.png";
    int fd = mkstemps(path, 4);
    CHECK("temp file", fd >= 0, "mkstemps");
    close(fd);
    const char *spec = "random_crop(28, padding=2), hflip, random_erasing(p=0.5)";
    rc = run(NABLA " augment --augment '%s' --out %s --n 16 --seed 5", spec, path);
    CHECK("augment writes a grid", rc == 0 && strstr(out, "wrote") && strstr(out, "730x386"), "rc %d: %s", rc, out);
    int w, h, c;
    unsigned char *png = stbi_load(path, &w, &h, &c, 3);
    CHECK("the PNG decodes to the size reported", png && w == 730 && h == 386 && c == 3, "%s: %dx%d c %d",
          png ? "ok" : stbi_failure_reason(), w, h, c);
    if (png) {
        /* the same samples and augmentations through the library */
        nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.seed = 5, .threads = 1});
        nb_dataset *d = nb_fashion_mnist_new(NULL, 1);
        nb_transform *tf = nb_transform_parse(spec);
        /* what training with --seed 5 --augment SPEC (batch size 64, 2 workers) gets for
         * the first 16 samples of its first epoch */
        nb_loader *l = nb_loader_new(ctx, d, &(nb_loader_opts){.batch_size = 16, .shuffle = 1, .seed = 5});
        nb_loader *la = nb_loader_new(
            ctx, d, &(nb_loader_opts){.batch_size = 64, .shuffle = 1, .seed = 5, .workers = 2, .transform = tf});
        nb_tensor *x, *y, *ax, *ay;
        nb_loader_start_epoch(l, 0);
        nb_loader_start_epoch(la, 0);
        nb_loader_next(l, &x, &y);
        nb_loader_next(la, &ax, &ay);
        int same_labels = 1;
        for (int i = 0; i < 16; i++) same_labels &= nb_tensor_data_i64(y)[i] == nb_tensor_data_i64(ay)[i];
        CHECK("the plain and augmenting loaders give the same samples", same_labels, "labels differ");
        int bad_orig = 0, bad_aug = 0, changed = 0;
        for (int i = 0; i < 16; i++) {
            int px = 10 + (i % 4) * 180, py = 10 + (i / 4) * 94;
            for (int yy = 0; yy < 28; yy++)
                for (int xx = 0; xx < 28; xx++) {
                    float o = nb_tensor_data(x)[i * 784 + yy * 28 + xx], a = nb_tensor_data(ax)[i * 784 + yy * 28 + xx];
                    const unsigned char *po = png + ((py + 3 * yy + 1) * w + px + 3 * xx + 1) * 3;
                    const unsigned char *pa = png + ((py + 3 * yy + 1) * w + px + 84 + 2 + 3 * xx + 1) * 3;
                    bad_orig += po[0] != byte_of(o, 0, 1) || po[1] != po[0] || po[2] != po[0];
                    bad_aug += pa[0] != byte_of(a, 0, 1);
                    changed += o != a;
                }
        }
        CHECK("left halves are the loader's samples", bad_orig == 0, "%d pixels differ", bad_orig);
        CHECK("right halves are what training with the seed gets", bad_aug == 0, "%d pixels differ", bad_aug);
        CHECK("and the augmentation changed the images", changed > 16 * 784 / 4, "%d values changed", changed);
        CHECK("the gap between pairs is background", png[(5 * w + 5) * 3] == 48, "%d", png[(5 * w + 5) * 3]);
        stbi_image_free(png);
        nb_loader_free(la);
        nb_loader_free(l);
        nb_transform_free(tf);
        nb_dataset_free(d);
        nb_ctx_free(ctx);
    }
    /* after Normalize, values are min-max scaled for display, and the message says so */
    rc = run(NABLA " augment --augment 'normalize((0.2860,), (0.3530,)), grayscale(3)' --out %s --n 3 "
                   "--scale 1 --per-row 3",
             path);
    png = rc == 0 ? stbi_load(path, &w, &h, &c, 3) : NULL;
    CHECK("normalized samples: min-max scaled, 1x scale, 3 per row", png && w == 10 + 3 * (58 + 10) && h == 48 &&
                                                                         strstr(out, "min-max scaled"),
          "rc %d %dx%d: %s", rc, png ? w : 0, png ? h : 0, out);
    stbi_image_free(png);
    unlink(path);
    CHECK_DONE();
}
