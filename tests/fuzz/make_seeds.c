/* make_seeds.c - writes the seed corpora of the fuzz targets into tests/fuzz/corpus/
 * (committed; rerun after a format change): small valid inputs of every reader.
 *   cc ... make_seeds.c -lnabla ... && ./make_seeds tests/fuzz/corpus */
#include "nabla.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <stb/stb_image_write.h> /* Debian's libstb */

static const char *root;

static void put(const char *target, const char *name, const void *p, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, target);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s", root, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f)) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
}

static void puts_(const char *target, const char *name, const char *s) { put(target, name, s, strlen(s)); }

typedef struct {
    unsigned char b[1 << 16];
    size_t n;
} mem;

static void sink(void *ctx, void *data, int size)
{
    mem *m = ctx;
    memcpy(m->b + m->n, data, (size_t)size);
    m->n += (size_t)size;
}

static void be32(unsigned char *p, unsigned v) { p[0] = v >> 24, p[1] = v >> 16, p[2] = v >> 8, p[3] = v; }

int main(int argc, char **argv)
{
    root = argc > 1 ? argv[1] : "tests/fuzz/corpus";
    mkdir(root, 0755);
    /* images: byte 0 the channel conversion, then the file */
    unsigned char px[8 * 6 * 4];
    for (int i = 0; i < (int)sizeof px; i++) px[i] = (unsigned char)(i * 37);
    const char *fmt[] = {"png", "bmp", "jpg"};
    for (int f = 0; f < 3; f++)
        for (int c = 1; c <= 4; c += 2) {
            mem m = {.n = 1};
            m.b[0] = (unsigned char)(c == 1 ? 0 : 3);
            if (f == 0) stbi_write_png_to_func(sink, &m, 8, 6, c, px, 8 * c);
            if (f == 1) stbi_write_bmp_to_func(sink, &m, 8, 6, c, px);
            if (f == 2) stbi_write_jpg_to_func(sink, &m, 8, 6, c, px, 80);
            char name[32];
            snprintf(name, sizeof name, "c%d.%s", c, fmt[f]);
            put("image", name, m.b, m.n);
        }
    {
        char pgm[64 + 48];
        int h = snprintf(pgm, 64, "%cP5\n# a comment\n8 6\n255\n", 0);
        memcpy(pgm + h, px, 48);
        put("image", "gray.pgm", pgm, (size_t)h + 48);
        h = snprintf(pgm, 64, "%cP6\n4 4\n255\n", 1);
        memcpy(pgm + h, px, 48);
        put("image", "rgb.ppm", pgm, (size_t)h + 48);
    }
    /* IDX: mode, images length (2 bytes LE), cut, images file, labels file */
    {
        unsigned char b[4 + 16 + 3 * 4 + 8 + 3];
        memset(b, 0, sizeof b);
        size_t ni = 16 + 3 * 4;
        b[1] = (unsigned char)ni, b[2] = 0;
        unsigned char *im = b + 4;
        be32(im, 0x803), be32(im + 4, 3), be32(im + 8, 2), be32(im + 12, 2);
        for (int i = 0; i < 12; i++) im[16 + i] = (unsigned char)(i * 20);
        unsigned char *lb = im + ni;
        be32(lb, 0x801), be32(lb + 4, 3);
        lb[8] = 0, lb[9] = 9, lb[10] = 4;
        for (int mode = 0; mode < 4; mode++) {
            b[0] = (unsigned char)mode;
            char name[32];
            snprintf(name, sizeof name, "idx_gz%d", mode);
            put("idx", name, b, sizeof b);
        }
    }
    /* CIFAR-10: mode (bit 1: zero-extend to full size), records of 1 + 3072 bytes */
    {
        static unsigned char b[1 + 2 * 3073 + 64];
        b[0] = 2;
        for (int r = 0; r < 2; r++) {
            b[1 + r * 3073] = (unsigned char)(r * 7);
            for (int i = 0; i < 3072; i++) b[2 + r * 3073 + i] = (unsigned char)(i * 13 + r);
        }
        put("cifar10", "two_records", b, 1 + 2 * 3073);
        const char *meta = "\x03" "airplane automobile bird cat deer dog frog horse ship truck\n";
        size_t ml = strlen(meta);
        memmove(b + 64, b + 1, 3073);
        memcpy(b, meta, ml);
        memmove(b + ml, b + 64, 3073);
        put("cifar10", "meta_and_record", b, ml + 3073);
    }
    /* word vectors: mode (bit 0 binary), then the file */
    static const char glove[] = "\x00the 0.1 -0.2 0.3\nof 1e-3 2 3\n\xc3\xa9t\xc3\xa9 0 0 1\n";
    put("word_vectors", "glove.txt", glove, sizeof glove - 1);
    static const char w2v_text[] = "\x02" "2 3\nthe 0.1 0.2 0.3\nand 1 2 3\n";
    put("word_vectors", "w2v_header.txt", w2v_text, sizeof w2v_text - 1);
    {
        unsigned char b[128];
        size_t n = 0;
        b[n++] = 1;
        n += (size_t)sprintf((char *)b + n, "2 2\n");
        float v[2] = {0.5f, -1.0f};
        n += (size_t)sprintf((char *)b + n, "cat ");
        memcpy(b + n, v, 8), n += 8;
        b[n++] = '\n';
        n += (size_t)sprintf((char *)b + n, "dog ");
        memcpy(b + n, v, 8), n += 8;
        b[n++] = '\n';
        put("word_vectors", "w2v.bin", b, n);
    }
    /* model files */
    puts_("model_file", "mlp.nbm", "input(1, 28, 28)\nflatten()\nfc1: linear(784, 32)\nrelu()\ndropout(p=0.2)\nlinear(32, 10)\n");
    puts_("model_file", "cnn.nbm",
          "conv2d(1, 4, 3, padding=1)\nbatchnorm2d(4)\nrelu()\nmaxpool2d(2)\n"
          "avgpool2d(2, stride=2, ceil_mode=True, divisor_override=3)\nflatten()\nlinear(196, 10)\n");
    puts_("model_file", "residual.nbm",
          "input(2, 8, 8)\nconv2d(2, 4, 3, padding=1, bias=False)\nlayer1: sequential {\n"
          "    0: residual(activation=relu) {\n        conv2d(4, 4, 3, padding=1)\n        groupnorm(2, 4)\n"
          "        downsample: sequential {\n            conv2d(4, 4, 1)\n        }\n    }\n}\n"
          "adaptive_avgpool2d(1)\nflatten()\nlayernorm(4)\nleaky_relu(0.1)\nlinear(4, 3, weight_init=kaiming_uniform(a=0))\n"
          "log_softmax(dim=1)   # comment\n");
    /* config files */
    puts_("config", "train.conf",
          "# a run\nmodel = mlp\nepochs = 3\nlr = 0.05  # the rate\nweight-decay = 5e-4\nquiet = true\n"
          "name = \"a # not a comment\"\nseed =\n");
    puts_("config", "dashes.conf", "--epochs=2\n--quiet = off\n");
    /* image augmentation specs */
    puts_("augment_spec", "crop_flip", "random_crop(28, padding=2), hflip, random_erasing(p=0.5)");
    puts_("augment_spec", "many",
          "resize(32), center_crop(30), pad((1, 2), padding_mode=reflect), random_rotation(15), "
          "color_jitter(0.2, 0.2, 0.2, 0.1), gaussian_noise(sigma=0.1), normalize((0.5,), (0.25,))");
    puts_("augment_spec", "affine", "random_affine(10, translate=(0.1, 0.1), scale=(0.9, 1.1), shear=5), vflip(p=1)");
    puts_("augment_spec", "resized_crop", "random_resized_crop(24, scale=(0.5, 1.0)), grayscale(3), cutout(8)");
    /* text augmentation specs */
    puts_("text_spec", "eda", "synonym(p=0.3), random_swap(p=0.1), random_delete(p=0.1), random_insert(p=0.1)");
    puts_("text_spec", "chars", "sometimes(keyboard(aug_char_p=0.2), ocr, aug_p=0.5), random_char(action=swap)");
    puts_("text_spec", "word", "random_word(action=crop, aug_max=None), random_word(action=substitute)");
    /* .npy files: the types nb_save_npy_as writes, a 0-d and an empty array, and a
     * format 2.0 float16 file written here byte by byte */
    {
        nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.threads = 1});
        nb_tensor *t = nb_tensor_new(ctx, NB_F32, 2, (int64_t[]){2, 3});
        for (int i = 0; i < 6; i++) nb_tensor_data(t)[i] = (float)i - 2.5f;
        nb_tensor *s = nb_tensor_new(ctx, NB_F32, 0, NULL);
        nb_tensor_data(s)[0] = 7;
        nb_tensor *e = nb_tensor_new(ctx, NB_F32, 2, (int64_t[]){0, 4});
        const char *descr[] = {"<f4", "<f8", "<i8", "<i4", "<i2", "|i1", "|u1", "<u8", "|b1"};
        const char *name[] = {"f4", "f8", "i8", "i4", "i2", "i1", "u1", "u8", "b1"};
        char path[512];
        snprintf(path, sizeof path, "%s/npy", root);
        mkdir(path, 0755);
        for (int k = 0; k < 9; k++) {
            snprintf(path, sizeof path, "%s/npy/%s.npy", root, name[k]);
            if (nb_save_npy_as(path, t, descr[k])) return fprintf(stderr, "%s\n", nb_last_error()), 1;
        }
        snprintf(path, sizeof path, "%s/npy/scalar.npy", root);
        if (nb_save_npy(path, s)) return fprintf(stderr, "%s\n", nb_last_error()), 1;
        snprintf(path, sizeof path, "%s/npy/empty.npy", root);
        if (nb_save_npy(path, e)) return fprintf(stderr, "%s\n", nb_last_error()), 1;
        static const char dict[] = "{'descr': '<f2', 'fortran_order': False, 'shape': (3,), }";
        unsigned char b[128] = "\x93NUMPY\x02\x00";
        size_t hl = 64 - 12;
        b[8] = (unsigned char)hl, b[9] = b[10] = b[11] = 0;
        memset(b + 12, ' ', hl);
        memcpy(b + 12, dict, sizeof dict - 1);
        b[12 + hl - 1] = '\n';
        static const unsigned char half[6] = {0x00, 0x3c, 0x00, 0xc0, 0x00, 0x7c}; /* 1, -2, inf */
        memcpy(b + 64, half, 6);
        put("npy", "v2_f2.npy", b, 70);
        nb_tensor_free(t);
        nb_tensor_free(s);
        nb_tensor_free(e);
        nb_ctx_free(ctx);
    }
    /* a checkpoint of fuzz_checkpoint.c's model and optimizer */
    {
        nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.threads = 1});
        nb_module *kids[2] = {nb_linear_new(ctx, 3, 2, &(nb_linear_opts){0}), nb_batchnorm1d_new(ctx, 2, NULL)};
        nb_module *m = nb_sequential_new(ctx, kids, 2);
        int n;
        nb_tensor **p = nb_module_parameters(m, &n);
        nb_optim *opt = nb_sgd_new(p, n, &(nb_sgd_opts){.lr = 0.1f, .momentum = 0.9f});
        char path[512];
        snprintf(path, sizeof path, "%s/checkpoint", root);
        mkdir(path, 0755);
        snprintf(path, sizeof path, "%s/checkpoint/sgd.ckpt", root);
        const char *meta[2] = {"model", "fuzz"};
        nb_train_position pos = {.epoch = 1, .batch = 2, .step = 3};
        if (nb_checkpoint_save(path, m, opt, ctx, &pos, meta, 1)) {
            fprintf(stderr, "%s\n", nb_last_error());
            return 1;
        }
        snprintf(path, sizeof path, "%s/checkpoint/weights_only.ckpt", root);
        if (nb_checkpoint_save(path, m, NULL, ctx, &pos, NULL, 0)) {
            fprintf(stderr, "%s\n", nb_last_error());
            return 1;
        }
        nb_optim_free(opt);
        nb_module_free(m);
        nb_ctx_free(ctx);
    }
    return 0;
}
