/* dataset.c - the public nb_dataset_* calls, dispatched to each kind's vtable
 * (struct nb_dataset and its vtable are in data/dataset.h). */
#include "core/error.h"
#include "core/random.h"
#include "data/dataset.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

nb_dataset *nb__dataset_new(const nb_dataset_vtable *vt, void *impl)
{
    nb_dataset *d = calloc(1, sizeof *d);
    if (!d) {
        nb__fail(NB_ERR_MEM, "out of memory creating a dataset");
        return NULL;
    }
    d->vt = vt;
    d->impl = impl;
    return d;
}

void nb_dataset_free(nb_dataset *d)
{
    if (!d) return;
    if (d->vt && d->vt->free) d->vt->free(d);
    free(d);
}

int64_t nb_dataset_len(const nb_dataset *d) { return d ? d->len : 0; }

void nb_dataset_sample_shape(const nb_dataset *d, int64_t chw[3])
{
    for (int i = 0; i < 3; i++) chw[i] = d ? d->chw[i] : 0;
}

int nb_dataset_num_classes(const nb_dataset *d) { return d ? d->num_classes : 0; }

const char *nb_dataset_class_name(const nb_dataset *d, int c)
{
    if (!d || !d->class_names || c < 0 || c >= d->num_classes) return NULL;
    return d->class_names[c];
}

void nb__sample_rng(nb_rng *r, uint64_t key, int64_t i)
{
    nb_rng_seed(r, nb__mix64(key ^ nb__mix64((uint64_t)i + 0x632be59bd9b4e019ULL)));
}

nb_status nb__dataset_get_batch(nb_dataset *d, const int64_t *idx, int64_t n, float *out, int64_t *labels,
                                uint64_t key)
{
    for (int64_t k = 0; k < n; k++)
        if (idx[k] < 0 || idx[k] >= d->len)
            return nb__fail(NB_ERR_ARG, "dataset index %lld is out of range [0, %lld)", (long long)idx[k],
                            (long long)d->len);
    if (d->vt->get_batch) return d->vt->get_batch(d, idx, n, out, labels);
    int64_t per = d->chw[0] * d->chw[1] * d->chw[2];
    for (int64_t k = 0; k < n; k++) {
        nb_rng r;
        nb__sample_rng(&r, key, idx[k]);
        nb_status st = d->vt->get(d, idx[k], out + k * per, labels + k, &r);
        if (st) return st;
    }
    return NB_OK;
}

/* ------------------------------------------------------------------------ */
/* datasets by name (what the CLI's --dataset and --data give)               */
/* ------------------------------------------------------------------------ */

static int exists(const char *dir, const char *name, int want_dir)
{
    char p[4400];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return !stat(p, &sb) && (want_dir ? S_ISDIR(sb.st_mode) : S_ISREG(sb.st_mode));
}

/* The kind of dataset in dir, or NULL. */
static const char *detect(const char *dir)
{
    if (exists(dir, "train-images-idx3-ubyte.gz", 0) || exists(dir, "train-images-idx3-ubyte", 0) ||
        exists(dir, "t10k-images-idx3-ubyte.gz", 0) || exists(dir, "t10k-images-idx3-ubyte", 0))
        return "fashion-mnist";
    if (exists(dir, "data_batch_1.bin", 0) || exists(dir, "test_batch.bin", 0) ||
        exists(dir, "cifar-10-batches-bin", 1))
        return "cifar10";
    if (exists(dir, "train", 1) || exists(dir, "test", 1) || exists(dir, "val", 1)) return "folder";
    return NULL;
}

nb_dataset *nb_dataset_open(const char *kind, const char *dir, int train)
{
    if (dir && !*dir) dir = NULL;
    if (!kind || !*kind) {
        kind = dir ? detect(dir) : "fashion-mnist";
        if (!kind) {
            /* the default kind, whose message says how to install it, plus the others */
            nb_dataset *d = nb_fashion_mnist_new(dir, train);
            if (!d) {
                char msg[3000];
                snprintf(msg, sizeof msg, "%s", nb_last_error());
                nb__fail(NB_ERR_IO,
                         "%s. %.1000s holds no CIFAR-10 batches (data_batch_1.bin ... test_batch.bin) or image "
                         "folders (train/CLASS/*.png, test/ or val/) either; name the kind with --dataset",
                         msg, dir);
            }
            return d;
        }
    }
    if (!strcmp(kind, "fashion-mnist")) return nb_fashion_mnist_new(dir, train);
    if (!strcmp(kind, "mnist")) return nb_mnist_new(dir, train);
    if (!strcmp(kind, "cifar10") || !strcmp(kind, "cifar-10")) return nb_cifar10_new(dir, train);
    if (!strcmp(kind, "folder") || !strcmp(kind, "imagefolder")) {
        if (!dir) {
            nb__fail(NB_ERR_ARG, "an image-folder dataset needs a directory (DIR/train/CLASS/*.png, DIR/test/...)");
            return NULL;
        }
        const char *split = train ? "train" : exists(dir, "test", 1) || !exists(dir, "val", 1) ? "test" : "val";
        char root[4400];
        snprintf(root, sizeof root, "%s/%s", dir, split);
        if (!exists(dir, split, 1)) {
            nb__fail(NB_ERR_IO, "the image folder %.3000s does not exist (an image-folder dataset is DIR/train/CLASS/* "
                                "and DIR/test/CLASS/* or DIR/val/CLASS/*)", root);
            return NULL;
        }
        return nb_image_folder_new(root, NULL);
    }
    nb__fail(NB_ERR_ARG, "unknown dataset '%.200s' (fashion-mnist, mnist, cifar10, folder)", kind);
    return NULL;
}
