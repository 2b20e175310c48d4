/* test_image_folder.c - image folders like torchvision's ImageFolder: a tree of
 * small PNG/JPEG/BMP files written with stb_image_write in /tmp gives classes
 * sorted by name, files in torchvision's order (directories by path, then file
 * names; non-images ignored), pixels decoded exactly as (C, H, W) bytes/255, and
 * errors naming the file for corrupt images, images of another size or channel
 * count, unsupported formats and empty classes; a corrupt image met by a loader
 * worker ends the epoch with that message after the batches before it. */
#include "check.h"
#include "nabla.h"

#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stb/stb_image_write.h>

#define W 5
#define H 4

static char g_root[256];

static const char *P(const char *rel)
{
    static char buf[8][600];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 600, "%s/%s", g_root, rel);
    return p;
}

/* Pixel byte of image `id` at (y, x, channel c) of a c-channel image. */
static unsigned char px_of(int id, int y, int x, int c) { return (unsigned char)(id * 37 + y * 11 + x * 5 + c * 71); }

static int write_png(const char *rel, int id, int w, int h, int ch)
{
    unsigned char buf[64 * 64 * 4];
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < ch; c++) buf[(y * w + x) * ch + c] = px_of(id, y, x, c);
    return stbi_write_png(P(rel), w, h, ch, buf, w * ch) ? 0 : -1;
}

static int write_text(const char *rel, const char *text)
{
    FILE *fp = fopen(P(rel), "wb");
    if (!fp) return -1;
    fputs(text, fp);
    return fclose(fp);
}

/* Does sample x (C, H, W) hold image id exactly? */
static int holds(const float *x, int id, int ch)
{
    for (int c = 0; c < ch; c++)
        for (int y = 0; y < H; y++)
            for (int xx = 0; xx < W; xx++)
                if (x[(c * H + y) * W + xx] != (float)px_of(id, y, xx, c) / 255.0f) return 0;
    return 1;
}

/* All samples of d in order, through a loader with `workers` threads, into out (n, C*H*W). */
static int read_all(nb_dataset *d, int workers, float *out, int64_t *labels, int64_t max)
{
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_loader *l = nb_loader_new(ctx, d, &(nb_loader_opts){.batch_size = 3, .workers = workers});
    int64_t chw[3], n = 0;
    nb_dataset_sample_shape(d, chw);
    int64_t per = chw[0] * chw[1] * chw[2];
    nb_tensor *x, *y;
    while (l && nb_loader_next(l, &x, &y)) {
        for (int64_t b = 0; b < nb_tensor_dim(x, 0) && n < max; b++, n++) {
            memcpy(out + n * per, nb_tensor_data(x) + b * per, (size_t)per * sizeof(float));
            labels[n] = nb_tensor_data_i64(y)[b];
        }
        nb_ctx_reset(ctx);
    }
    nb_loader_free(l);
    nb_ctx_free(ctx);
    return (int)n;
}

static void rm_tree(const char *dir)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) fprintf(stderr, "cannot remove %s\n", dir);
}

int main(void)
{
    snprintf(g_root, sizeof g_root, "/tmp/nb_test_image_folder.%ld", (long)getpid());
    mkdir(g_root, 0755);
    mkdir(P("zebra"), 0755);
    mkdir(P("apple"), 0755);
    mkdir(P("apple/sub"), 0755);
    mkdir(P("Mango"), 0755);
    /* expected order: Mango < apple < zebra (byte order, as Python's sorted);
     * in apple: "10.png" < "9.png" < "a.PNG" < "b.png", then apple/sub/... */
    int wr = write_png("zebra/z.png", 1, W, H, 3) | write_png("apple/b.png", 2, W, H, 3) |
             write_png("apple/a.PNG", 3, W, H, 3) | write_png("apple/10.png", 4, W, H, 3) |
             write_png("apple/9.png", 5, W, H, 3) | write_png("apple/sub/c.png", 6, W, H, 3) |
             write_png("Mango/m.png", 7, W, H, 3) | write_text("apple/notes.txt", "not an image") |
             write_png("stray.png", 8, W, H, 3);
    /* a BMP is decoded exactly too */
    unsigned char bmp[W * H * 3];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < 3; c++) bmp[(y * W + x) * 3 + c] = px_of(9, y, x, c);
    wr |= stbi_write_bmp(P("zebra/y.bmp"), W, H, 3, bmp) ? 0 : -1;
    if (wr) {
        CHECK("write the image tree", 0, "cannot write in %s", g_root);
        CHECK_DONE();
    }
    const int order[] = {7, 4, 5, 3, 2, 6, 9, 1};
    const int labels_expected[] = {0, 1, 1, 1, 1, 1, 2, 2};
    const char *files[] = {"Mango/m.png", "apple/10.png", "apple/9.png", "apple/a.PNG",
                           "apple/b.png", "apple/sub/c.png", "zebra/y.bmp", "zebra/z.png"};

    nb_dataset *d = nb_image_folder_new(g_root, NULL);
    CHECK("image folder opens", d != NULL, "%s", nb_last_error());
    if (!d) CHECK_DONE();
    int64_t chw[3];
    nb_dataset_sample_shape(d, chw);
    CHECK("8 images (3, 4, 5) in 3 classes (stray root file and notes.txt ignored)",
          nb_dataset_len(d) == 8 && nb_dataset_num_classes(d) == 3 && chw[0] == 3 && chw[1] == H && chw[2] == W,
          "len %lld classes %d shape %lld %lld %lld", (long long)nb_dataset_len(d), nb_dataset_num_classes(d),
          (long long)chw[0], (long long)chw[1], (long long)chw[2]);
    CHECK("classes sorted by name: Mango, apple, zebra",
          !strcmp(nb_dataset_class_name(d, 0), "Mango") && !strcmp(nb_dataset_class_name(d, 1), "apple") &&
              !strcmp(nb_dataset_class_name(d, 2), "zebra"),
          "%s %s %s", nb_dataset_class_name(d, 0), nb_dataset_class_name(d, 1), nb_dataset_class_name(d, 2));
    int paths_ok = 1;
    for (int i = 0; i < 8; i++) {
        const char *p = nb_image_folder_path(d, i);
        if (!p || strcmp(p, P(files[i]))) paths_ok = 0;
    }
    CHECK("files in torchvision's order (sorted by directory, then name; subdirectories recursed)",
          paths_ok && !nb_image_folder_path(d, 8), "sample 1 is %s", nb_image_folder_path(d, 1));
    float all[8 * 3 * H * W];
    int64_t labels[8];
    int got = read_all(d, 0, all, labels, 8);
    int pix = got == 8, lab = got == 8;
    for (int i = 0; i < got; i++) {
        pix &= holds(all + i * 3 * H * W, order[i], 3);
        lab &= labels[i] == labels_expected[i];
    }
    CHECK("PNG and BMP pixels decoded exactly as (C, H, W) bytes / 255", pix, "%d samples", got);
    CHECK("labels are the class ranks", lab, "%d samples", got);
    memset(all, 0, sizeof all);
    got = read_all(d, 2, all, labels, 8);
    pix = got == 8;
    for (int i = 0; i < got; i++) pix &= holds(all + i * 3 * H * W, order[i], 3) && labels[i] == labels_expected[i];
    CHECK("the same through 2 loader workers", pix, "%d samples", got);
    nb_dataset_free(d);

    /* JPEG (lossy): a flat colour comes back within a few levels */
    char jroot[600], jdir[700], jf[800], jg[800];
    snprintf(jroot, sizeof jroot, "%s.jpeg", g_root);
    snprintf(jdir, sizeof jdir, "%s/only", jroot);
    snprintf(jf, sizeof jf, "%s/f.jpg", jdir);
    snprintf(jg, sizeof jg, "%s/g.jpeg", jdir);
    mkdir(jroot, 0755);
    mkdir(jdir, 0755);
    unsigned char flat[16 * 16 * 3];
    for (int i = 0; i < 16 * 16; i++) flat[3 * i] = 200, flat[3 * i + 1] = 100, flat[3 * i + 2] = 30;
    stbi_write_jpg(jf, 16, 16, 3, flat, 95);
    stbi_write_jpg(jg, 16, 16, 3, flat, 95);
    d = nb_image_folder_new(jroot, NULL);
    float jx[2 * 3 * 16 * 16];
    int64_t jl[2];
    got = d ? read_all(d, 1, jx, jl, 2) : 0;
    double worst = 0;
    for (int i = 0; i < got * 3 * 256; i++) {
        int c = (i / 256) % 3;
        double want = (c == 0 ? 200 : c == 1 ? 100 : 30) / 255.0;
        worst = fabs(jx[i] - want) > worst ? fabs(jx[i] - want) : worst;
    }
    CHECK("JPEG (.jpg, .jpeg): flat colour within 4/255", got == 2 && worst <= 4 / 255.0, "%d samples, worst %.4f: %s",
          got, worst, nb_last_error());
    nb_dataset_free(d);
    rm_tree(jroot);

    /* channels: a grayscale image among RGB ones */
    write_png("zebra/x_gray.png", 10, W, H, 1);
    d = nb_image_folder_new(g_root, NULL);
    got = d ? read_all(d, 0, all, labels, 8) : 0;
    CHECK("a grayscale image in an RGB folder: error naming the file and the channels option",
          got == 6 && strstr(nb_last_error(), "x_gray.png") && strstr(nb_last_error(), "channels"), "%d samples: %s", got,
          nb_last_error());
    nb_dataset_free(d);
    d = nb_image_folder_new(g_root, &(nb_image_folder_opts){.channels = 3});
    float all9[9 * 3 * H * W];
    int64_t labels9[9];
    got = d ? read_all(d, 0, all9, labels9, 9) : 0;
    int gray_ok = got == 9;
    for (int c = 0; c < 3 && gray_ok; c++)
        for (int k = 0; k < H * W; k++)
            if (all9[6 * 3 * H * W + c * H * W + k] != (float)px_of(10, k / W, k % W, 0) / 255.0f) gray_ok = 0;
    CHECK("channels = 3 converts a grayscale image (gray in R, G and B)", gray_ok && holds(all9 + 7 * 3 * H * W, 9, 3),
          "%d samples: %s", got, nb_last_error());
    nb_dataset_free(d);
    d = nb_image_folder_new(g_root, &(nb_image_folder_opts){.channels = 1});
    nb_dataset_sample_shape(d, chw);
    CHECK("channels = 1: every sample (1, H, W)", d && chw[0] == 1 && chw[1] == H, "%s", nb_last_error());
    nb_dataset_free(d);
    unlink(P("zebra/x_gray.png"));

    /* size: another size is an error that suggests a resize */
    write_png("zebra/x_big.png", 11, W + 1, H, 3);
    d = nb_image_folder_new(g_root, NULL);
    got = d ? read_all(d, 0, all, labels, 8) : 0;
    CHECK("an image of another size: error naming the file, both shapes and a resize",
          got == 6 && strstr(nb_last_error(), "x_big.png") && strstr(nb_last_error(), "3x4x6") &&
              strstr(nb_last_error(), "3x4x5") && strstr(nb_last_error(), "resize"),
          "%d samples: %s", got, nb_last_error());
    nb_dataset_free(d);
    unlink(P("zebra/x_big.png"));
    d = nb_image_folder_new(g_root, &(nb_image_folder_opts){.height = 8, .width = 8});
    got = d ? read_all(d, 0, all, labels, 8) : 0;
    CHECK("a requested size the images do not have: error at the first image", got == 0 &&
                                                                                    strstr(nb_last_error(), "m.png") &&
                                                                                    strstr(nb_last_error(), "asked for"),
          "%d samples: %s", got, nb_last_error());
    nb_dataset_free(d);

    /* corrupt files: named in the message, also from a worker thread */
    write_text("apple/9.png", "\x89PNG\r\n\x1a\n this is not really a PNG");
    d = nb_image_folder_new(g_root, NULL);
    for (int workers = 0; workers <= 2; workers += 2) {
        nb_ctx *ctx = nb_ctx_new(NULL);
        nb_loader *l = nb_loader_new(ctx, d, &(nb_loader_opts){.batch_size = 1, .workers = workers});
        nb_tensor *x, *y;
        int n = 0;
        nb_clear_error();
        while (nb_loader_next(l, &x, &y)) n++, nb_ctx_reset(ctx);
        char name[128];
        snprintf(name, sizeof name, "a corrupt PNG with %d workers: the 2 batches before it, then an error naming it",
                 workers);
        CHECK(name, n == 2 && !x && !y && strstr(nb_last_error(), P("apple/9.png")) && strstr(nb_last_error(), "corrupt"),
              "%d batches: %s", n, nb_last_error());
        CHECK(workers ? "after the error the epoch stays ended (2 workers)" : "after the error the epoch stays ended",
              !nb_loader_next(l, &x, &y), "a batch came");
        nb_loader_start_epoch(l, 1);
        n = 0;
        while (nb_loader_next(l, &x, &y)) n++, nb_ctx_reset(ctx);
        CHECK(workers ? "a new epoch starts over and meets it again (2 workers)" : "a new epoch starts over and meets it again",
              n == 2 && strstr(nb_last_error(), "9.png"), "%d: %s", n, nb_last_error());
        nb_loader_free(l);
        nb_ctx_free(ctx);
    }
    nb_dataset_free(d);
    write_text("apple/9.png", "");
    d = nb_image_folder_new(g_root, NULL);
    got = d ? read_all(d, 0, all, labels, 8) : 0;
    CHECK("an empty .png: error naming the file (its batch of 3 is the first)", got == 0 && strstr(nb_last_error(), "9.png"), "%d: %s", got,
          nb_last_error());
    nb_dataset_free(d);
    write_png("apple/9.png", 5, W, H, 3);
    write_text("Mango/m.png", "garbage");
    d = nb_image_folder_new(g_root, NULL);
    CHECK("a corrupt first image: error at open naming it", !d && strstr(nb_last_error(), P("Mango/m.png")), "%s",
          nb_last_error());
    write_png("Mango/m.png", 7, W, H, 3);

    /* other bad trees */
    write_text("zebra/scan.tiff", "II*");
    d = nb_image_folder_new(g_root, NULL);
    CHECK("a .tiff file: error naming it (stb_image cannot read TIFF)",
          !d && strstr(nb_last_error(), "scan.tiff") && strstr(nb_last_error(), "TIFF"), "%s", nb_last_error());
    unlink(P("zebra/scan.tiff"));
    mkdir(P("empty"), 0755);
    d = nb_image_folder_new(g_root, NULL);
    CHECK("a class directory without images: error naming it", !d && strstr(nb_last_error(), P("empty")), "%s",
          nb_last_error());
    d = nb_image_folder_new(P("empty"), NULL);
    CHECK("a root without class directories: error", !d && strstr(nb_last_error(), "no class directories"), "%s",
          nb_last_error());
    d = nb_image_folder_new(P("missing"), NULL);
    CHECK("a missing root: error naming it", !d && strstr(nb_last_error(), P("missing")), "%s", nb_last_error());
    rmdir(P("empty"));
    d = nb_image_folder_new(g_root, &(nb_image_folder_opts){.height = 8});
    CHECK("height without width is rejected", !d && strstr(nb_last_error(), "width"), "%s", nb_last_error());
    d = nb_image_folder_new(g_root, NULL);
    CHECK("after the fixes the tree opens again", d && nb_dataset_len(d) == 8, "%s", nb_last_error());
    nb_dataset_free(d);

    /* images of several sizes: a loader whose transform has a resize takes them */
    char sroot[600], sdir[700], sp1[800], sp2[800];
    snprintf(sroot, sizeof sroot, "%s.sizes", g_root);
    snprintf(sdir, sizeof sdir, "%s/a", sroot);
    snprintf(sp1, sizeof sp1, "%s/p.png", sdir);
    snprintf(sp2, sizeof sp2, "%s/q.png", sdir);
    mkdir(sroot, 0755);
    mkdir(sdir, 0755);
    unsigned char big[9 * 7 * 3];
    for (int i = 0; i < 9 * 7 * 3; i++) big[i] = (unsigned char)(i * 5);
    stbi_write_png(sp1, W, H, 3, bmp, W * 3);
    stbi_write_png(sp2, 9, 7, 3, big, 9 * 3);
    d = nb_image_folder_new(sroot, NULL);
    nb_transform *rs = nb_transform_parse("resize((4, 5))"), *flip = nb_transform_parse("hflip");
    for (int w = 0; w <= 2; w += 2) {
        nb_ctx *ctx = nb_ctx_new(NULL);
        nb_loader *l = nb_loader_new(ctx, d, &(nb_loader_opts){.batch_size = 2, .transform = rs, .workers = w});
        nb_tensor *x, *y;
        int ok = l && nb_loader_next(l, &x, &y) && nb_tensor_dim(x, 0) == 2 && nb_tensor_dim(x, 2) == H &&
                 nb_tensor_dim(x, 3) == W;
        /* the 5x4 image is resized to its own size: unchanged */
        ok = ok && holds(nb_tensor_data(x), 9, 3);
        CHECK(w ? "5x4 and 9x7 images with resize((4, 5)), 2 workers: one batch (2, 3, 4, 5)"
                : "5x4 and 9x7 images with resize((4, 5)): one batch (2, 3, 4, 5), the 5x4 one unchanged",
              ok, "%s", nb_last_error());
        nb_loader_free(l);
        l = nb_loader_new(ctx, d, &(nb_loader_opts){.batch_size = 2, .transform = flip, .workers = w});
        ok = l && nb_loader_next(l, &x, &y);
        CHECK(w ? "with a transform that keeps sizes (2 workers): error naming the file and a resize"
                : "with a transform that keeps sizes: error naming the 9x7 file, both shapes and a resize",
              !ok && strstr(nb_last_error(), sp2) && strstr(nb_last_error(), "3x7x9") &&
                  strstr(nb_last_error(), "3x4x5") && strstr(nb_last_error(), "resize"),
              "%s", nb_last_error());
        nb_loader_free(l);
        nb_ctx_free(ctx);
    }
    nb_transform_free(rs);
    nb_transform_free(flip);
    nb_dataset_free(d);
    rm_tree(sroot);

    /* nb_dataset_open: DIR/train and DIR/val (no test/) found without a kind */
    char split_root[600], sp[3200];
    snprintf(split_root, sizeof split_root, "%s.split", g_root);
    mkdir(split_root, 0755);
    snprintf(sp, sizeof sp, "mv '%s' '%s/train' && cp -r '%s/train' '%s/val' && rm -r '%s/val/zebra'", g_root,
             split_root, split_root, split_root, split_root);
    int mv = system(sp);
    nb_dataset *tr = nb_dataset_open(NULL, split_root, 1), *va = nb_dataset_open(NULL, split_root, 0);
    CHECK("nb_dataset_open(NULL, DIR) with DIR/train and DIR/val: image folders, 8 and 6 images",
          !mv && tr && va && nb_dataset_len(tr) == 8 && nb_dataset_len(va) == 6 && nb_dataset_num_classes(va) == 2,
          "%s", nb_last_error());
    nb_dataset_free(tr);
    nb_dataset_free(va);
    snprintf(sp, sizeof sp, "%s/train", split_root);
    d = nb_dataset_open(NULL, sp, 1);
    CHECK("nb_dataset_open(NULL, DIR) on a directory of class folders: cannot tell, says --dataset",
          !d && strstr(nb_last_error(), "--dataset"), "%s", nb_last_error());
    d = nb_dataset_open("imagenet", split_root, 1);
    CHECK("an unknown dataset kind is an error listing the kinds", !d && strstr(nb_last_error(), "cifar10"), "%s",
          nb_last_error());
    d = nb_dataset_open(NULL, P("nowhere"), 1);
    CHECK("a missing data directory is an error naming it", !d && strstr(nb_last_error(), "nowhere"), "%s",
          nb_last_error());
    rm_tree(split_root);

    rm_tree(g_root);
    CHECK_DONE();
}
