/* test_idx.c - IDX files: the real Fashion-MNIST (counts, labels, pixel sums
 * and values checked against Python/numpy/torch: see the numbers below), and
 * every malformed file (small files written to /tmp) rejected with a message
 * that says what is wrong. Without /usr/share/datasets/fashion-mnist the real
 * data checks print SKIP lines (apt-get install dataset-fashion-mnist). */
#include "check.h"
#include "cli.h"
#include "nabla.h"

#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define FMNIST "/usr/share/datasets/fashion-mnist"

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16), p[2] = (unsigned char)(v >> 8),
    p[3] = (unsigned char)v;
}

/* An IDX file: magic 00 00 type ndim, dims, then `n` bytes of data (value i*7 % 256,
 * or labels[i] when labels is given); gz != 0 writes it gzip-compressed. */
static void write_idx(const char *path, int type, int ndim, const uint32_t *dims, size_t n,
                      const unsigned char *values, int gz)
{
    unsigned char head[4 + 4 * 8] = {0, 0, (unsigned char)type, (unsigned char)ndim};
    for (int i = 0; i < ndim; i++) put_be32(head + 4 + 4 * i, dims[i]);
    unsigned char *data = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) data[i] = values ? values[i] : (unsigned char)(i * 7 % 256);
    if (gz) {
        gzFile g = gzopen(path, "wb");
        gzwrite(g, head, (unsigned)(4 + 4 * ndim));
        if (n) gzwrite(g, data, (unsigned)n);
        gzclose(g);
    } else {
        FILE *fp = fopen(path, "wb");
        fwrite(head, 1, (size_t)(4 + 4 * ndim), fp);
        fwrite(data, 1, n, fp);
        fclose(fp);
    }
    free(data);
}

/* Expect nb_idx_dataset_new(images, labels) to fail with all '|'-separated words in the message. */
static void bad(const char *check, const char *images, const char *labels, const char *words)
{
    nb_clear_error();
    nb_dataset *d = nb_idx_dataset_new(images, labels);
    const char *msg = nb_last_error();
    int ok = d == NULL;
    char w[256];
    snprintf(w, sizeof w, "%s", words);
    for (char *tok = strtok(w, "|"); tok && ok; tok = strtok(NULL, "|")) ok = strstr(msg, tok) != NULL;
    CHECK(check, ok, "%s; message: \"%s\" (want \"%s\")", d ? "accepted" : "rejected", msg, words);
    if (getenv("NB_TEST_VERBOSE")) printf("    message: %s\n", msg);
    nb_dataset_free(d);
}

static void test_malformed(void)
{
    const char *img = tmp_path("img"), *lab = tmp_path("lab");
    unsigned char labels[5] = {0, 1, 2, 3, 4};
    write_idx(lab, 8, 1, (uint32_t[]){5}, 5, labels, 0);

    write_idx(img, 8, 3, (uint32_t[]){5, 2, 3}, 30, NULL, 0);
    nb_dataset *d = nb_idx_dataset_new(img, lab);
    CHECK("small plain IDX pair opens", d && nb_dataset_len(d) == 5, "%s", nb_last_error());
    int64_t chw[3] = {0};
    nb_dataset_sample_shape(d, chw);
    CHECK("sample shape (1, 2, 3), classes = max label + 1",
          chw[0] == 1 && chw[1] == 2 && chw[2] == 3 && nb_dataset_num_classes(d) == 5 && !nb_dataset_class_name(d, 0),
          "chw %lld %lld %lld classes %d", (long long)chw[0], (long long)chw[1], (long long)chw[2],
          nb_dataset_num_classes(d));
    nb_dataset_free(d);

    const char *imgz = tmp_path("img.gz");
    write_idx(imgz, 8, 3, (uint32_t[]){5, 2, 3}, 30, NULL, 1);
    d = nb_idx_dataset_new(imgz, lab);
    CHECK("gzip IDX file opens", d && nb_dataset_len(d) == 5, "%s", nb_last_error());
    nb_dataset_free(d);

    const char *f = tmp_path("magic");
    write_idx(f, 8, 3, (uint32_t[]){5, 2, 3}, 30, NULL, 0);
    FILE *fp = fopen(f, "r+b");
    fputc(0x01, fp);
    fclose(fp);
    bad("wrong magic rejected", f, lab, "magic|01 00 08 03");
    write_idx(f, 0x0D, 3, (uint32_t[]){5, 2, 3}, 120, NULL, 0);
    bad("float IDX (type 0x0D) rejected", f, lab, "0x0d|float|not supported");
    write_idx(f, 8, 3, (uint32_t[]){5, 2, 3}, 29, NULL, 0);
    bad("truncated data rejected", f, lab, "truncated|[5, 2, 3]|30 bytes|only 29");
    write_idx(f, 8, 3, (uint32_t[]){5, 2, 3}, 17, NULL, 1);
    bad("truncated gzip data rejected", f, lab, "truncated|only 17");
    fp = fopen(f, "wb");
    fwrite("\0\0\x08\x03\0\0", 1, 6, fp);
    fclose(fp);
    bad("truncated header rejected", f, lab, "truncated IDX header");
    fp = fopen(f, "wb");
    fwrite("\0\0", 1, 2, fp);
    fclose(fp);
    bad("2-byte file rejected", f, lab, "not an IDX file|only 2 bytes");
    write_idx(f, 8, 3, (uint32_t[]){5, 2, 3}, 31, NULL, 0);
    bad("extra data after the described size rejected", f, lab, "more data than its header");
    write_idx(f, 8, 2, (uint32_t[]){5, 6}, 30, NULL, 0);
    bad("images with 2 dims rejected", f, lab, "3 dimensions|has 2");
    write_idx(f, 8, 3, (uint32_t[]){0xffffffffu, 0xffffffffu, 0xffffffffu}, 0, NULL, 0);
    bad("absurd sizes rejected without allocating them", f, lab, "64 GB");
    write_idx(f, 8, 3, (uint32_t[]){4, 2, 3}, 24, NULL, 0);
    bad("image/label count mismatch rejected", f, lab, "4 images|5 labels|must match");
    bad("missing file rejected", tmp_path("nope"), lab, "cannot open|nope");

    /* a gzip stream cut short */
    write_idx(f, 8, 3, (uint32_t[]){50, 20, 30}, 30000, NULL, 1);
    struct stat sb;
    stat(f, &sb);
    if (truncate(f, sb.st_size / 2)) perror("truncate");
    nb_clear_error();
    d = nb_idx_dataset_new(f, lab);
    CHECK("gzip file cut in half rejected naming the file", !d && strstr(nb_last_error(), f), "%s", nb_last_error());
    nb_dataset_free(d);

    /* a Fashion-MNIST directory of plain files; a label out of range */
    char dir[600];
    snprintf(dir, sizeof dir, "%s/fm", tmp_dir);
    mkdir(dir, 0755);
    char p1[700], p2[700];
    snprintf(p1, sizeof p1, "%s/t10k-images-idx3-ubyte", dir);
    snprintf(p2, sizeof p2, "%s/t10k-labels-idx1-ubyte", dir);
    write_idx(p1, 8, 3, (uint32_t[]){5, 28, 28}, 5 * 784, NULL, 0);
    write_idx(p2, 8, 1, (uint32_t[]){5}, 5, (unsigned char[]){9, 0, 3, 10, 1}, 0);
    nb_clear_error();
    d = nb_fashion_mnist_new(dir, 0);
    CHECK("Fashion-MNIST label 10 rejected as out of range", !d && strstr(nb_last_error(), "label 10 of sample 3") &&
                                                                  strstr(nb_last_error(), "out of range"),
          "%s", nb_last_error());
    nb_dataset_free(d);
    write_idx(p2, 8, 1, (uint32_t[]){5}, 5, (unsigned char[]){9, 0, 3, 8, 1}, 0);
    d = nb_fashion_mnist_new(dir, 0);
    CHECK("Fashion-MNIST from plain (not .gz) files", d && nb_dataset_len(d) == 5 && nb_dataset_num_classes(d) == 10,
          "%s", nb_last_error());
    CHECK("class names", d && !strcmp(nb_dataset_class_name(d, 0), "T-shirt/top") &&
                             !strcmp(nb_dataset_class_name(d, 9), "Ankle boot") && !nb_dataset_class_name(d, 10),
          "names");
    nb_dataset_free(d);
    nb_clear_error();
    d = nb_fashion_mnist_new(dir, 1);
    const char *msg = nb_last_error();
    CHECK("train split missing: message says what to install and which files",
          !d && strstr(msg, "Fashion-MNIST not found in") && strstr(msg, dir) &&
              strstr(msg, "apt-get install dataset-fashion-mnist") && strstr(msg, "--data") &&
              strstr(msg, "train-images-idx3-ubyte.gz"),
          "%s", msg);
    nb_dataset_free(d);
    d = nb_fashion_mnist_new("/nonexistent/fashion", 1);
    msg = nb_last_error();
    CHECK("missing directory: apt-get install dataset-fashion-mnist", !d && strstr(msg, "/nonexistent/fashion") &&
                                                                          strstr(msg, "apt-get install dataset-fashion-mnist"),
          "%s", msg);
    unlink(p1);
    unlink(p2);
    rmdir(dir);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Reference numbers from Python (numpy over the .gz files, torch for x/255):
 * train: 60000 images, labels[:10] = 9 0 0 3 0 2 7 2 5 5, pixel byte sum
 * 3431114169, image 0 sum 76247, image 59999 sum 16684, 6000 per class;
 * t10k: 10000, labels[:10] = 9 2 1 1 6 1 4 6 5 7, pixel sum 573469082,
 * image 0 row 14 cols 10..17 = 0 0 98 136 110 109 110 162, as float32 / 255 below. */
static void test_real(void)
{
    if (access(FMNIST, R_OK)) {
        printf("SKIP idx: %s is missing (apt-get install dataset-fashion-mnist)\n", FMNIST);
        return;
    }
    nb_ctx *ctx = nb_ctx_new(NULL);
    double t0 = now();
    nb_dataset *train = nb_fashion_mnist_new(NULL, 1);
    double t_open = now() - t0;
    nb_dataset *test = nb_fashion_mnist_new(FMNIST, 0);
    CHECK("Fashion-MNIST opens (default dir and explicit dir)", train && test, "%s", nb_last_error());
    if (!train || !test) {
        nb_ctx_free(ctx);
        return;
    }
    int64_t chw[3];
    nb_dataset_sample_shape(train, chw);
    CHECK("60000 train, 10000 test, (1, 28, 28), 10 classes",
          nb_dataset_len(train) == 60000 && nb_dataset_len(test) == 10000 && chw[0] == 1 && chw[1] == 28 &&
              chw[2] == 28 && nb_dataset_num_classes(train) == 10,
          "len %lld/%lld", (long long)nb_dataset_len(train), (long long)nb_dataset_len(test));
    CHECK("class 7 is Sneaker", !strcmp(nb_dataset_class_name(train, 7), "Sneaker"), "%s", nb_dataset_class_name(train, 7));

    static const int64_t want_train[10] = {9, 0, 0, 3, 0, 2, 7, 2, 5, 5};
    static const int64_t want_test[10] = {9, 2, 1, 1, 6, 1, 4, 6, 5, 7};
    static const float want_row[8] = {0.0f, 0.0f, 0.3843137323856354f, 0.5333333611488342f,
                                      0.4313725531101227f, 0.4274509847164154f, 0.4313725531101227f, 0.6352941393852234f};
    for (int split = 0; split < 2; split++) {
        nb_dataset *d = split ? test : train;
        nb_loader *l = nb_loader_new(ctx, d, &(nb_loader_opts){.batch_size = 1000});
        uint64_t sum = 0, first_sum = 0, last_sum = 0;
        int64_t counts[10] = {0}, first[10] = {0}, n = 0;
        int bad_value = 0, row_ok = 1;
        double t1 = now();
        nb_loader_start_epoch(l, 0);
        nb_tensor *x, *y;
        while (nb_loader_next(l, &x, &y)) {
            const float *px = nb_tensor_data(x);
            const int64_t *py = nb_tensor_data_i64(y);
            int64_t b = nb_tensor_dim(x, 0);
            for (int64_t i = 0; i < b * 784; i++) {
                float v = px[i] * 255.0f;
                long r = lroundf(v);
                if (fabsf(v - (float)r) > 1e-3f || r < 0 || r > 255) bad_value = 1;
                sum += (uint64_t)r;
                if (n == 0 && i < 784) first_sum += (uint64_t)r;
                if (n + b == nb_dataset_len(d) && i >= (b - 1) * 784) last_sum += (uint64_t)r;
            }
            if (n == 0) {
                for (int i = 0; i < 10; i++) first[i] = py[i];
                if (split)
                    for (int i = 0; i < 8; i++) row_ok &= !memcmp(&px[14 * 28 + 10 + i], &want_row[i], 4);
            }
            for (int64_t i = 0; i < b; i++) counts[py[i] >= 0 && py[i] < 10 ? py[i] : 0]++;
            n += b;
            nb_ctx_reset(ctx);
        }
        double t_epoch = now() - t1;
        nb_loader_free(l);
        char label[128];
        snprintf(label, sizeof label, "%s: first 10 labels as Python", split ? "test" : "train");
        CHECK(label, !memcmp(first, split ? want_test : want_train, sizeof first),
              "got %lld %lld %lld %lld %lld ...", (long long)first[0], (long long)first[1], (long long)first[2],
              (long long)first[3], (long long)first[4]);
        snprintf(label, sizeof label, "%s: pixel sums as numpy (all, first, last image)", split ? "test" : "train");
        CHECK(label, !bad_value && n == nb_dataset_len(d) &&
                         sum == (split ? 573469082ull : 3431114169ull) &&
                         first_sum == (split ? 33456u : 76247u) && last_sum == (split ? 24390u : 16684u),
              "sum %llu first %llu last %llu n %lld bad %d", (unsigned long long)sum, (unsigned long long)first_sum,
              (unsigned long long)last_sum, (long long)n, bad_value);
        int64_t per = split ? 1000 : 6000;
        int balanced = 1;
        for (int c = 0; c < 10; c++) balanced &= counts[c] == per;
        snprintf(label, sizeof label, "%s: %lld samples per class", split ? "test" : "train", (long long)per);
        CHECK(label, balanced, "class 0 has %lld", (long long)counts[0]);
        if (split) CHECK("test image 0 row 14 equals torch x/255 bit for bit", row_ok, "differs");
        printf("# %s: one pass over %lld samples in batches of 1000: %.3f s\n", split ? "test" : "train",
               (long long)n, t_epoch);
    }
    printf("# opening the 26 MB train .gz: %.3f s\n", t_open);

    /* converting a 128 x 784 batch is cheap: a shuffled epoch of 469 batches */
    nb_loader *l = nb_loader_new(ctx, train, &(nb_loader_opts){.batch_size = 128, .shuffle = 1, .seed = 1});
    nb_loader_start_epoch(l, 0);
    double t1 = now();
    nb_tensor *x, *y;
    int64_t batches = 0;
    while (nb_loader_next(l, &x, &y)) {
        batches++;
        nb_ctx_reset(ctx);
    }
    double dt = now() - t1;
    printf("# shuffled epoch, batch 128: %lld batches in %.3f s (%.1f us per batch)\n", (long long)batches, dt,
           1e6 * dt / (double)batches);
    /* the time is printed, not asserted: timing belongs to the benchmarks */
    CHECK("shuffled epoch: 469 batches of 128", batches == 469, "%lld batches", (long long)batches);
    nb_loader_free(l);
    nb_dataset_free(train);
    nb_dataset_free(test);
    nb_ctx_free(ctx);
}

int main(void)
{
    if (tmp_dir_init("test_idx")) {
        perror("mkdtemp");
        return 2;
    }
    test_malformed();
    test_real();
    if (tmp_dir_remove()) printf("note: could not remove %s\n", tmp_dir);
    CHECK_DONE();
}
