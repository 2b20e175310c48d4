/* idx.c - MNIST-style IDX files (Fashion-MNIST, MNIST) as a dataset.
 *
 * Format (big-endian): magic 00 00 TYPE NDIM, NDIM u32 sizes, then the data in
 * row-major order. Images are 0x08 (unsigned byte) with 3 dims (count, rows,
 * cols), labels 0x08 with 1 dim (count). Files are read through zlib, so the
 * .gz files Debian ships and plain files both work. Nothing in the file is
 * trusted: the magic, the type, the sizes against the bytes actually present,
 * the image/label counts and the label range are all checked.
 *
 * Images stay as bytes in memory (60000 x 784 for Fashion-MNIST) and become
 * floats x/255 (torchvision's ToTensor) through a 256-entry table per batch. */
#include "core/error.h"
#include "core/tensor.h"
#include "data/dataset.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define IDX_MAX_BYTES (1ull << 36) /* 64 GB: larger sizes mean a corrupt header */
#define FASHION_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"
#define MNIST_DEFAULT_DIR "/usr/share/datasets/mnist"

static const char *const FASHION_CLASSES[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

static const char *idx_type_name(int t)
{
    switch (t) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "short";
    case 0x0C: return "int";
    case 0x0D: return "float";
    case 0x0E: return "double";
    default: return "unknown";
    }
}

/* gzread that reports its error; returns bytes read or -1. */
static long gz_read(gzFile g, void *buf, size_t n, const char *path)
{
    size_t got = 0;
    while (got < n) {
        size_t k = n - got > (1u << 30) ? (1u << 30) : n - got;
        int r = gzread(g, (char *)buf + got, (unsigned)k);
        if (r < 0) {
            int errnum;
            const char *m = gzerror(g, &errnum);
            nb__fail(NB_ERR_FORMAT, "cannot read %s: %s", path,
                     errnum == Z_ERRNO ? strerror(errno) : m ? m : "zlib error");
            return -1;
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    return (long)got;
}

/* Read a whole u8 IDX file: its dims and its data (malloc'ed). */
static nb_status read_idx(const char *path, int *ndim, int64_t dims[4], uint8_t **data, size_t *nbytes)
{
    *data = NULL;
    gzFile g = gzopen(path, "rb");
    if (!g) return nb__fail(NB_ERR_IO, "cannot open %s: %s", path, errno ? strerror(errno) : "zlib cannot open it");
    gzbuffer(g, 1 << 18);
    nb_status st = NB_OK;
    uint8_t *buf = NULL;
    unsigned char head[4 + 4 * 4];
    long r = gz_read(g, head, 4, path);
    if (r < 0) {
        st = NB_ERR_FORMAT;
        goto done;
    }
    if (r < 4) {
        st = nb__fail(NB_ERR_FORMAT, "%s: not an IDX file: it holds only %ld bytes (truncated?)", path, r);
        goto done;
    }
    if (head[0] || head[1]) {
        st = nb__fail(NB_ERR_FORMAT,
                      "%s: not an IDX file: wrong magic number %02x %02x %02x %02x (expected 00 00 08 followed by "
                      "the number of dimensions)",
                      path, head[0], head[1], head[2], head[3]);
        goto done;
    }
    if (head[2] != 0x08) {
        st = nb__fail(NB_ERR_FORMAT,
                      "%s: IDX element type 0x%02x (%s) is not supported: nabla reads unsigned-byte (0x08) IDX files",
                      path, head[2], idx_type_name(head[2]));
        goto done;
    }
    int nd = head[3];
    if (nd < 1 || nd > 4) {
        st = nb__fail(NB_ERR_FORMAT, "%s: IDX header has %d dimensions; expected 1 to 4", path, nd);
        goto done;
    }
    r = gz_read(g, head + 4, 4 * (size_t)nd, path);
    if (r < 0) {
        st = NB_ERR_FORMAT;
        goto done;
    }
    if (r < 4 * nd) {
        st = nb__fail(NB_ERR_FORMAT, "%s: truncated IDX header (%d dimension sizes expected)", path, nd);
        goto done;
    }
    uint64_t total = 1;
    for (int i = 0; i < nd; i++) {
        const unsigned char *p = head + 4 + 4 * i;
        dims[i] = (int64_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
        total *= (uint64_t)dims[i];
        if (total > IDX_MAX_BYTES) {
            st = nb__fail(NB_ERR_FORMAT, "%s: IDX header sizes describe more than 64 GB of data (corrupt header?)",
                          path);
            goto done;
        }
    }
    /* grow the buffer as data arrives (from 64 KB, doubling), so a lying header
     * cannot make us allocate more than twice what the file really holds */
    size_t cap = total < (64u << 10) ? (size_t)total : (64u << 10), got = 0;
    buf = malloc(cap ? cap : 1);
    if (!buf) {
        st = nb__fail(NB_ERR_MEM, "out of memory reading %s", path);
        goto done;
    }
    while (got < total) {
        if (got == cap) {
            size_t ncap = cap * 2 < total ? cap * 2 : (size_t)total;
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) {
                st = nb__fail(NB_ERR_MEM, "out of memory reading %s", path);
                goto done;
            }
            buf = nb, cap = ncap;
        }
        r = gz_read(g, buf + got, cap - got, path);
        if (r < 0) {
            st = NB_ERR_FORMAT;
            goto done;
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    if (got < total) {
        char shape[128];
        nb__shape_str(nd, dims, shape, sizeof shape);
        st = nb__fail(NB_ERR_FORMAT, "%s: truncated: the header says %s (%llu bytes of data) but the file holds only %zu",
                      path, shape, (unsigned long long)total, got);
        goto done;
    }
    unsigned char extra[1];
    r = gz_read(g, extra, 1, path);
    if (r < 0) {
        st = NB_ERR_FORMAT;
        goto done;
    }
    if (r > 0) {
        st = nb__fail(NB_ERR_FORMAT, "%s: the file has more data than its header describes (%llu bytes)", path,
                      (unsigned long long)total);
        goto done;
    }
    *ndim = nd;
    *data = buf;
    *nbytes = (size_t)total;
    buf = NULL;
done:
    free(buf);
    gzclose(g);
    return st;
}

/* ------------------------------------------------------------------------ */
/* the dataset                                                               */
/* ------------------------------------------------------------------------ */

typedef struct {
    uint8_t *images; /* (len, rows, cols) bytes */
    uint8_t *labels; /* (len) */
    int64_t per;     /* rows * cols */
    float lut[256];  /* byte -> byte / 255 */
} idx_impl;

/* out: (C=1, H, W) floats in [0, 1] */
static nb_status idx_get(nb_dataset *d, int64_t i, float *out, int64_t *label, nb_rng *rng)
{
    const idx_impl *p = d->impl;
    const uint8_t *src = p->images + i * p->per;
    for (int64_t k = 0; k < p->per; k++) out[k] = p->lut[src[k]];
    *label = p->labels[i];
    return NB_OK;
}

/* out: (n, 1, H, W) */
static nb_status idx_get_batch(nb_dataset *d, const int64_t *idx, int64_t n, float *out, int64_t *labels)
{
    const idx_impl *p = d->impl;
    for (int64_t b = 0; b < n; b++) {
        const uint8_t *src = p->images + idx[b] * p->per;
        float *dst = out + b * p->per;
        for (int64_t k = 0; k < p->per; k++) dst[k] = p->lut[src[k]];
        labels[b] = p->labels[idx[b]];
    }
    return NB_OK;
}

static void idx_free(nb_dataset *d)
{
    idx_impl *p = d->impl;
    if (!p) return;
    free(p->images);
    free(p->labels);
    free(p);
}

static const nb_dataset_vtable IDX_VT = {.kind = "IDX", .get = idx_get, .get_batch = idx_get_batch, .free = idx_free};

/* num_classes > 0: labels must be below it; 0: max label + 1. */
static nb_dataset *idx_open(const char *images_path, const char *labels_path, int num_classes,
                            const char *const *names)
{
    if (!images_path || !labels_path) {
        nb__fail(NB_ERR_ARG, "nb_idx_dataset_new: NULL path");
        return NULL;
    }
    idx_impl *p = calloc(1, sizeof *p);
    if (!p) {
        nb__fail(NB_ERR_MEM, "out of memory opening %s", images_path);
        return NULL;
    }
    int ind = 0, lnd = 0;
    int64_t idims[4] = {0}, ldims[4] = {0};
    size_t ibytes, lbytes;
    if (read_idx(images_path, &ind, idims, &p->images, &ibytes)) goto fail;
    if (ind != 3) {
        nb__fail(NB_ERR_FORMAT, "%s: an IDX image file has 3 dimensions (count, rows, cols); this one has %d",
                 images_path, ind);
        goto fail;
    }
    if (read_idx(labels_path, &lnd, ldims, &p->labels, &lbytes)) goto fail;
    if (lnd != 1) {
        nb__fail(NB_ERR_FORMAT, "%s: an IDX label file has 1 dimension (count); this one has %d", labels_path,
                 lnd);
        goto fail;
    }
    if (idims[0] != ldims[0]) {
        nb__fail(NB_ERR_FORMAT, "%s holds %lld images but %s holds %lld labels; the counts must match",
                 images_path, (long long)idims[0], labels_path, (long long)ldims[0]);
        goto fail;
    }
    int maxl = -1;
    for (int64_t i = 0; i < ldims[0]; i++) {
        if (num_classes > 0 && p->labels[i] >= num_classes) {
            nb__fail(NB_ERR_FORMAT, "%s: label %d of sample %lld is out of range (expected 0 to %d)", labels_path,
                     p->labels[i], (long long)i, num_classes - 1);
            goto fail;
        }
        if (p->labels[i] > maxl) maxl = p->labels[i];
    }
    p->per = idims[1] * idims[2];
    for (int v = 0; v < 256; v++) p->lut[v] = (float)v / 255.0f;
    nb_dataset *d = nb__dataset_new(&IDX_VT, p);
    if (!d) goto fail;
    d->len = idims[0];
    d->chw[0] = 1, d->chw[1] = idims[1], d->chw[2] = idims[2];
    d->num_classes = num_classes > 0 ? num_classes : maxl + 1;
    d->class_names = names;
    return d;
fail:
    free(p->images);
    free(p->labels);
    free(p);
    return NULL;
}

nb_dataset *nb_idx_dataset_new(const char *images_path, const char *labels_path)
{
    return idx_open(images_path, labels_path, 0, NULL);
}

/* dir/name.gz if it exists, else dir/name if it exists; 0 if neither. */
static int find_file(char *out, size_t n, const char *dir, const char *name)
{
    snprintf(out, n, "%s/%s.gz", dir, name);
    if (!access(out, R_OK)) return 1;
    snprintf(out, n, "%s/%s", dir, name);
    return !access(out, R_OK);
}

/* Fashion-MNIST or MNIST: the same four IDX files, other class names. */
static nb_dataset *mnist_like(const char *dir, int train, const char *default_dir, const char *title,
                              const char *install, const char *const *names)
{
    if (!dir || !*dir) dir = default_dir;
    const char *split = train ? "train" : "t10k";
    char iname[64], lname[64], ipath[4096], lpath[4096];
    snprintf(iname, sizeof iname, "%s-images-idx3-ubyte", split);
    snprintf(lname, sizeof lname, "%s-labels-idx1-ubyte", split);
    int have_i = find_file(ipath, sizeof ipath, dir, iname);
    int have_l = find_file(lpath, sizeof lpath, dir, lname);
    if (!have_i || !have_l) {
        nb__fail(NB_ERR_IO,
                 "%s not found in %.1000s: %s"
                 "point --data at a directory with train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
                 "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz (or the same without .gz); "
                 "missing: %s%s%s",
                 title, dir, install, have_i ? "" : iname, !have_i && !have_l ? ", " : "", have_l ? "" : lname);
        return NULL;
    }
    return idx_open(ipath, lpath, 10, names);
}

nb_dataset *nb_fashion_mnist_new(const char *dir, int train)
{
    return mnist_like(dir, train, FASHION_DEFAULT_DIR, "Fashion-MNIST",
                      "install it with `apt-get install dataset-fashion-mnist` or ", FASHION_CLASSES);
}

nb_dataset *nb_mnist_new(const char *dir, int train)
{
    static const char *const digits[10] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
    return mnist_like(dir, train, MNIST_DEFAULT_DIR, "MNIST", "", digits);
}
