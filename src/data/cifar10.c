/* cifar10.c - the CIFAR-10 binary version as a dataset.
 *
 * Format: data_batch_1.bin .. data_batch_5.bin (training, 50,000 images) and
 * test_batch.bin (10,000), each exactly 10,000 records of 1 label byte (0-9)
 * followed by 3072 pixel bytes: the R, G and B planes of a 32x32 image, rows
 * top to bottom. A record is therefore already (C, H, W); pixels become x/255
 * (torchvision's ToTensor). batches.meta.txt, when present, names the classes
 * one a line; otherwise the standard names airplane .. truck are used.
 *
 * Nothing in a file is trusted: its size must be exactly 30,730,000 bytes and
 * every label below 10; an error names the file (and the record).
 *
 * No Debian package ships CIFAR-10: users download
 * https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz and extract it
 * (`tar xzf cifar-10-binary.tar.gz` makes cifar-10-batches-bin/). */
#include "core/error.h"
#include "data/dataset.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CIFAR_CLASSES 10
#define CIFAR_PIXELS 3072                          /* 3 x 32 x 32 */
#define CIFAR_RECORD (1 + CIFAR_PIXELS)            /* 3073 bytes */
/* records per batch file: 10,000; the fuzz build (tests/fuzz/run.sh) makes it 2, so
 * each input is a whole batch file of a few KB instead of 30 MB and every byte of it
 * can come from the fuzzer; the checks are the same */
#ifdef NB_CIFAR_RECORDS
#define CIFAR_PER_FILE NB_CIFAR_RECORDS
#else
#define CIFAR_PER_FILE 10000
#endif
#define CIFAR_CHUNK (CIFAR_PER_FILE < 1000 ? CIFAR_PER_FILE : 1000) /* records read at a time */
#define CIFAR_FILE_BYTES ((long long)CIFAR_RECORD * CIFAR_PER_FILE) /* 30,730,000 */
#define CIFAR_URL "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"

static const char *const CIFAR_NAMES[CIFAR_CLASSES] = {"airplane", "automobile", "bird",  "cat",  "deer",
                                                       "dog",      "frog",       "horse", "ship", "truck"};

typedef struct {
    uint8_t *pixels; /* (len, 3, 32, 32) */
    uint8_t *labels; /* (len) */
    float lut[256];  /* byte -> byte / 255 */
    char *names[CIFAR_CLASSES];
    const char *name_ptrs[CIFAR_CLASSES];
} cifar_impl;

/* out: (3, 32, 32) floats in [0, 1] */
static nb_status cifar_get(nb_dataset *d, int64_t i, float *out, int64_t *label, nb_rng *rng)
{
    const cifar_impl *p = d->impl;
    const uint8_t *src = p->pixels + i * CIFAR_PIXELS;
    for (int k = 0; k < CIFAR_PIXELS; k++) out[k] = p->lut[src[k]];
    *label = p->labels[i];
    return NB_OK;
}

/* out: (n, 3, 32, 32) */
static nb_status cifar_get_batch(nb_dataset *d, const int64_t *idx, int64_t n, float *out, int64_t *labels)
{
    for (int64_t b = 0; b < n; b++) cifar_get(d, idx[b], out + b * CIFAR_PIXELS, labels + b, NULL);
    return NB_OK;
}

static void cifar_free_impl(cifar_impl *p)
{
    if (!p) return;
    free(p->pixels);
    free(p->labels);
    for (int c = 0; c < CIFAR_CLASSES; c++) free(p->names[c]);
    free(p);
}

static void cifar_free(nb_dataset *d) { cifar_free_impl(d->impl); }

static const nb_dataset_vtable CIFAR_VT = {
    .kind = "CIFAR-10", .get = cifar_get, .get_batch = cifar_get_batch, .free = cifar_free};

/* Read one batch file into records [first, first + 10000) of p. */
static nb_status read_batch(cifar_impl *p, const char *path, int64_t first)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return nb__fail(NB_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    nb_status st = NB_OK;
    struct stat sb;
    uint8_t *rec = malloc(CIFAR_RECORD * CIFAR_CHUNK);
    if (!rec) {
        st = nb__fail(NB_ERR_MEM, "out of memory reading %s", path);
        goto done;
    }
    if (fstat(fileno(fp), &sb)) {
        st = nb__fail(NB_ERR_IO, "cannot read %s: %s", path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(sb.st_mode) || (long long)sb.st_size != CIFAR_FILE_BYTES) {
        if (!S_ISREG(sb.st_mode))
            st = nb__fail(NB_ERR_FORMAT, "%s is not a regular file (a CIFAR-10 batch file is expected)", path);
        else
            st = nb__fail(NB_ERR_FORMAT,
                          "%s: not a CIFAR-10 binary batch file: it holds %lld bytes, but a batch file holds "
                          "exactly %lld (%d records of 1 label byte + 3072 pixel bytes)%s",
                          path, (long long)sb.st_size, CIFAR_FILE_BYTES, CIFAR_PER_FILE,
                          (long long)sb.st_size % CIFAR_RECORD ? "" : "; is it a truncated or partial download?");
        goto done;
    }
    /* CIFAR_CHUNK records at a time: labels and pixels go to separate arrays */
    for (int64_t r0 = 0; r0 < CIFAR_PER_FILE; r0 += CIFAR_CHUNK) {
        size_t got = fread(rec, CIFAR_RECORD, CIFAR_CHUNK, fp);
        if (got != CIFAR_CHUNK) {
            st = nb__fail(NB_ERR_IO, "cannot read %s: %s", path,
                          ferror(fp) ? strerror(errno) : "the file ended early (was it changed while reading?)");
            goto done;
        }
        for (int64_t r = 0; r < CIFAR_CHUNK; r++) {
            const uint8_t *q = rec + r * CIFAR_RECORD;
            if (q[0] >= CIFAR_CLASSES) {
                st = nb__fail(NB_ERR_FORMAT, "%s: record %lld has label %d; CIFAR-10 labels are 0 to 9 (corrupt file?)",
                              path, (long long)(r0 + r), q[0]);
                goto done;
            }
            p->labels[first + r0 + r] = q[0];
            memcpy(p->pixels + (first + r0 + r) * CIFAR_PIXELS, q + 1, CIFAR_PIXELS);
        }
    }
done:
    free(rec);
    fclose(fp);
    return st;
}

/* Class names from dir/batches.meta.txt (10 non-empty lines) if it is there. */
static void read_names(cifar_impl *p, const char *dir)
{
    char path[4400], line[256];
    snprintf(path, sizeof path, "%s/batches.meta.txt", dir);
    for (int c = 0; c < CIFAR_CLASSES; c++) p->name_ptrs[c] = CIFAR_NAMES[c];
    FILE *fp = fopen(path, "r");
    if (!fp) return;
    int c = 0;
    while (c < CIFAR_CLASSES && fgets(line, sizeof line, fp)) {
        size_t n = strlen(line);
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
            line[--n] = 0;
        if (!n) continue;
        p->names[c] = strdup(line);
        if (p->names[c]) p->name_ptrs[c] = p->names[c];
        c++;
    }
    fclose(fp);
}

/* dir itself, or dir/cifar-10-batches-bin (what the tarball extracts to), whichever
 * holds the first file; NULL if neither. */
static const char *find_dir(const char *dir, const char *first, char *buf, size_t n)
{
    snprintf(buf, n, "%s/%s", dir, first);
    if (!access(buf, F_OK)) {
        snprintf(buf, n, "%s", dir);
        return buf;
    }
    snprintf(buf, n, "%s/cifar-10-batches-bin/%s", dir, first);
    if (!access(buf, F_OK)) {
        snprintf(buf, n, "%s/cifar-10-batches-bin", dir);
        return buf;
    }
    return NULL;
}

nb_dataset *nb_cifar10_new(const char *dir, int train)
{
    if (!dir || !*dir) {
        nb__fail(NB_ERR_ARG, "nb_cifar10_new: no directory given: download " CIFAR_URL
                             ", extract it (tar xzf) and pass the cifar-10-batches-bin directory");
        return NULL;
    }
    static const char *const TRAIN[] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                        "data_batch_4.bin", "data_batch_5.bin"};
    static const char *const TEST[] = {"test_batch.bin"};
    const char *const *files = train ? TRAIN : TEST;
    int nfiles = train ? 5 : 1;
    char dbuf[4200], path[4300];
    const char *d = find_dir(dir, files[0], dbuf, sizeof dbuf);
    if (!d) {
        nb__fail(NB_ERR_IO,
                 "CIFAR-10 not found in %.2000s: %s is missing. No Debian package ships CIFAR-10: download " CIFAR_URL
                 " and extract it with `tar xzf cifar-10-binary.tar.gz` (it makes cifar-10-batches-bin/ with "
                 "data_batch_1..5.bin and test_batch.bin)",
                 dir, files[0]);
        return NULL;
    }
    cifar_impl *p = calloc(1, sizeof *p);
    int64_t len = (int64_t)nfiles * CIFAR_PER_FILE;
    if (p) {
        p->pixels = malloc((size_t)len * CIFAR_PIXELS);
        p->labels = malloc((size_t)len);
    }
    if (!p || !p->pixels || !p->labels) {
        nb__fail(NB_ERR_MEM, "out of memory loading CIFAR-10 from %.2000s", d);
        cifar_free_impl(p);
        return NULL;
    }
    for (int f = 0; f < nfiles; f++) {
        snprintf(path, sizeof path, "%s/%s", d, files[f]);
        if (read_batch(p, path, (int64_t)f * CIFAR_PER_FILE)) {
            cifar_free_impl(p);
            return NULL;
        }
    }
    for (int v = 0; v < 256; v++) p->lut[v] = (float)v / 255.0f;
    read_names(p, d);
    nb_dataset *ds = nb__dataset_new(&CIFAR_VT, p);
    if (!ds) {
        cifar_free_impl(p);
        return NULL;
    }
    ds->len = len;
    ds->chw[0] = 3, ds->chw[1] = 32, ds->chw[2] = 32;
    ds->num_classes = CIFAR_CLASSES;
    ds->class_names = p->name_ptrs;
    return ds;
}
