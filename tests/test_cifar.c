/* test_cifar.c - CIFAR-10 binary files: synthetic batch files in the real format
 * (written sparse to /tmp, so each is the real 30,730,000 bytes without using the
 * disk) are read back record by record (label byte, then R, G, B planes of 32x32
 * -> (3, 32, 32) floats x/255), the training split concatenates data_batch_1..5
 * in order, class names come from batches.meta.txt or the standard list, and bad
 * files (wrong size, label > 9, missing files) are errors naming the file. */
#include "check.h"
#include "nabla.h"

#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#define REC 3073
#define PER_FILE 10000
#define FILE_BYTES (30730000L)

static char g_dir[256];

static const char *path_of(const char *sub, const char *name)
{
    static char buf[4][600];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, 600, "%s%s%s/%s", g_dir, sub[0] ? "/" : "", sub, name);
    return p;
}

/* The pixel byte k (0..3071) of the record numbered `global` (marked records only). */
static int pixel_of(long global, int k) { return (int)((global * 7 + k * 13 + k / 1024) % 256); }
static int label_of(long global) { return (int)(global * 3 % 10); }

/* Records worth checking in each file; all other records stay zero (label 0, black). */
static const int MARKED[] = {0, 1, 2, 999, 1000, 4321, 9998, 9999};
#define NMARKED ((int)(sizeof MARKED / sizeof MARKED[0]))

/* A sparse batch file of `bytes` bytes whose MARKED records hold label_of/pixel_of of
 * first + record (global numbering); bad_label_at >= 0 puts label 10 there. */
static int write_batch(const char *path, long first, long bytes, int bad_label_at)
{
    FILE *fp = fopen(path, "wb");
    if (!fp) return -1;
    unsigned char rec[REC];
    for (int m = 0; m < NMARKED; m++) {
        long r = MARKED[m];
        if ((r + 1) * REC > bytes) continue;
        rec[0] = (unsigned char)label_of(first + r);
        for (int k = 0; k < 3072; k++) rec[1 + k] = (unsigned char)pixel_of(first + r, k);
        fseek(fp, r * REC, SEEK_SET);
        fwrite(rec, 1, REC, fp);
    }
    if (bad_label_at >= 0) {
        fseek(fp, (long)bad_label_at * REC, SEEK_SET);
        fputc(10, fp);
    }
    fflush(fp);
    int rc = ftruncate(fileno(fp), bytes);
    return fclose(fp) || rc ? -1 : 0;
}

static int is_marked(long r)
{
    for (int m = 0; m < NMARKED; m++)
        if (MARKED[m] == r) return 1;
    return 0;
}

/* Read every sample through a loader and compare with what was written: marked records
 * (global number g = 10000 * file + record) have their pattern, others are zero. */
static int check_contents(nb_dataset *d, int workers, long *bad_at)
{
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_loader *l = nb_loader_new(ctx, d, &(nb_loader_opts){.batch_size = 500, .workers = workers});
    nb_tensor *x, *y;
    long i = 0;
    int ok = l != NULL;
    while (ok && nb_loader_next(l, &x, &y)) {
        const float *px = nb_tensor_data(x);
        const int64_t *py = nb_tensor_data_i64(y);
        for (int64_t b = 0; b < nb_tensor_dim(x, 0) && ok; b++, i++) {
            int marked = is_marked(i % PER_FILE);
            if (py[b] != (marked ? label_of(i) : 0)) ok = 0;
            /* channel c, row yy, column xx is byte c*1024 + yy*32 + xx of the record */
            for (int k = 0; k < 3072 && ok; k++)
                if (px[b * 3072 + k] != (float)(marked ? pixel_of(i, k) : 0) / 255.0f) ok = 0;
            if (!ok) *bad_at = i;
        }
        nb_ctx_reset(ctx);
    }
    if (i != nb_dataset_len(d)) ok = 0;
    nb_loader_free(l);
    nb_ctx_free(ctx);
    return ok;
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/nb_test_cifar.%ld", (long)getpid());
    mkdir(g_dir, 0755);
    mkdir(path_of("", "cifar-10-batches-bin"), 0755);
    mkdir(path_of("", "bad"), 0755);
    const char *sub = "cifar-10-batches-bin";
    int wr = write_batch(path_of(sub, "test_batch.bin"), 0, FILE_BYTES, -1);
    char name[64];
    for (int f = 0; f < 5; f++) {
        snprintf(name, sizeof name, "data_batch_%d.bin", f + 1);
        wr |= write_batch(path_of(sub, name), (long)f * PER_FILE, FILE_BYTES, -1);
    }
    if (wr) {
        CHECK("write the synthetic CIFAR-10 files", 0, "cannot write in %s", g_dir);
        CHECK_DONE();
    }

    /* the test split, found under dir/cifar-10-batches-bin */
    nb_dataset *d = nb_cifar10_new(g_dir, 0);
    CHECK("test split opens (dir holding cifar-10-batches-bin/)", d != NULL, "%s", nb_last_error());
    if (!d) CHECK_DONE();
    int64_t chw[3];
    nb_dataset_sample_shape(d, chw);
    CHECK("10,000 samples (3, 32, 32), 10 classes",
          nb_dataset_len(d) == 10000 && chw[0] == 3 && chw[1] == 32 && chw[2] == 32 && nb_dataset_num_classes(d) == 10,
          "len %lld shape %lld %lld %lld classes %d", (long long)nb_dataset_len(d), (long long)chw[0], (long long)chw[1],
          (long long)chw[2], nb_dataset_num_classes(d));
    CHECK("standard class names without batches.meta.txt",
          nb_dataset_class_name(d, 0) && !strcmp(nb_dataset_class_name(d, 0), "airplane") &&
              !strcmp(nb_dataset_class_name(d, 9), "truck") && !strcmp(nb_dataset_class_name(d, 3), "cat"),
          "%s", nb_dataset_class_name(d, 0) ? nb_dataset_class_name(d, 0) : "NULL");
    long bad = -1;
    CHECK("every record: label byte, then R, G, B planes as (3, 32, 32) / 255", check_contents(d, 0, &bad),
          "first wrong sample %ld", bad);
    CHECK("the same through 2 loader workers", check_contents(d, 2, &bad), "first wrong sample %ld", bad);
    nb_dataset_free(d);

    /* the training split: data_batch_1..5 in order, dir given directly */
    d = nb_cifar10_new(path_of("", sub), 1);
    CHECK("train split opens: 50,000 samples", d && nb_dataset_len(d) == 50000, "%s", nb_last_error());
    if (d) CHECK("data_batch_1..5 concatenated in order", check_contents(d, 1, &bad), "first wrong sample %ld", bad);
    nb_dataset_free(d);

    /* batches.meta.txt names the classes */
    FILE *fp = fopen(path_of(sub, "batches.meta.txt"), "w");
    fputs("plane\ncar\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n", fp);
    fclose(fp);
    d = nb_cifar10_new(g_dir, 0);
    CHECK("class names from batches.meta.txt",
          d && !strcmp(nb_dataset_class_name(d, 0), "plane") && !strcmp(nb_dataset_class_name(d, 1), "car") &&
              !strcmp(nb_dataset_class_name(d, 9), "truck") && !nb_dataset_class_name(d, 10),
          "%s", d ? nb_dataset_class_name(d, 0) : nb_last_error());
    nb_dataset_free(d);

    /* found by nb_dataset_open without a kind */
    d = nb_dataset_open(NULL, g_dir, 0);
    CHECK("nb_dataset_open(NULL, dir) detects CIFAR-10 (cifar-10-batches-bin/ inside)",
          d && nb_dataset_len(d) == 10000 && nb_dataset_num_classes(d) == 10, "%s", nb_last_error());
    nb_dataset_free(d);
    d = nb_dataset_open("cifar10", path_of("", sub), 0);
    CHECK("nb_dataset_open(\"cifar10\", dir)", d && nb_dataset_len(d) == 10000, "%s", nb_last_error());
    nb_dataset_free(d);

    /* bad files */
    char bt[600];
    snprintf(bt, sizeof bt, "%s", path_of("bad", "test_batch.bin"));
    write_batch(bt, 0, FILE_BYTES + 1, -1);
    d = nb_cifar10_new(path_of("", "bad"), 0);
    CHECK("a file one byte too long is an error naming the file and the size",
          !d && strstr(nb_last_error(), bt) && strstr(nb_last_error(), "30730001") && strstr(nb_last_error(), "30730000"),
          "%s", nb_last_error());
    write_batch(bt, 0, 100L * REC, -1);
    d = nb_cifar10_new(path_of("", "bad"), 0);
    CHECK("a truncated file (100 records) is an error naming the file", !d && strstr(nb_last_error(), bt) &&
                                                                             strstr(nb_last_error(), "307300 bytes"),
          "%s", nb_last_error());
    write_batch(bt, 0, 0, -1);
    d = nb_cifar10_new(path_of("", "bad"), 0);
    CHECK("an empty file is an error naming the file", !d && strstr(nb_last_error(), bt), "%s", nb_last_error());
    write_batch(bt, 0, FILE_BYTES, 4567);
    d = nb_cifar10_new(path_of("", "bad"), 0);
    CHECK("label 10 is an error naming the file and the record",
          !d && strstr(nb_last_error(), bt) && strstr(nb_last_error(), "record 4567") && strstr(nb_last_error(), "label 10"),
          "%s", nb_last_error());
    unlink(bt);
    d = nb_cifar10_new(path_of("", "bad"), 0);
    CHECK("a directory without the files: error with the download hint",
          !d && strstr(nb_last_error(), "test_batch.bin") && strstr(nb_last_error(), "cifar-10-binary.tar.gz"), "%s",
          nb_last_error());
    /* a training split with data_batch_4.bin missing */
    for (int f = 0; f < 5; f++) {
        snprintf(name, sizeof name, "data_batch_%d.bin", f + 1);
        if (f != 3) write_batch(path_of("bad", name), (long)f * PER_FILE, FILE_BYTES, -1);
    }
    d = nb_cifar10_new(path_of("", "bad"), 1);
    CHECK("train split with data_batch_4.bin missing names it", !d && strstr(nb_last_error(), "data_batch_4.bin"), "%s",
          nb_last_error());
    d = nb_cifar10_new(NULL, 1);
    CHECK("no directory: error with the download hint", !d && strstr(nb_last_error(), "cifar-10-binary.tar.gz"), "%s",
          nb_last_error());

    /* clean up */
    for (int f = 0; f < 5; f++) {
        snprintf(name, sizeof name, "data_batch_%d.bin", f + 1);
        unlink(path_of(sub, name));
        unlink(path_of("bad", name));
    }
    unlink(path_of(sub, "test_batch.bin"));
    unlink(path_of(sub, "batches.meta.txt"));
    rmdir(path_of("", sub));
    rmdir(path_of("", "bad"));
    rmdir(g_dir);
    CHECK_DONE();
}
