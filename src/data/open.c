/* open.c - datasets by name: nb_dataset_open, what the CLI's --dataset KIND and --data
 * DIR reach; the factory of the dataset kinds (data/idx.c, cifar10.c, image_folder.c),
 * kept apart from their base (data/dataset.c). A new kind adds its name here. */
#include "core/error.h"
#include "nabla.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

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
