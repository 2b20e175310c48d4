/* dataset.h - the dataset vtable (src/data/dataset.c).
 * A dataset is a table of samples (C, H, W) floats with an integer label. Each
 * kind (IDX, CIFAR-10, image folders) fills a vtable; src/data/dataset.c
 * dispatches the public nb_dataset_* calls. get must be safe to call from
 * several threads at once for different samples: random transforms draw only
 * from the rng passed in, which is the sample's own stream (nb__sample_rng). */
#ifndef NB_DATA_DATASET_H
#define NB_DATA_DATASET_H

#include "core/arena.h"
#include "nabla.h"

typedef struct nb_dataset_vtable {
    const char *kind;
    /* Sample i into out (C*H*W floats) and *label; rng may be NULL for kinds that
     * draw no random numbers. */
    nb_status (*get)(nb_dataset *d, int64_t i, float *out, int64_t *label, nb_rng *rng);
    /* Optional fast path for kinds that draw no random numbers: samples idx[0..n)
     * into out (n, C, H, W) and labels (n). */
    nb_status (*get_batch)(nb_dataset *d, const int64_t *idx, int64_t n, float *out, int64_t *labels);
    void (*free)(nb_dataset *d); /* frees impl */
    /* Optional, for kinds whose samples may differ in size (image folders): sample i
     * at its own size, *out in arena a with its shape in chw. The loader uses it when
     * it has a transform, which must bring every sample to one shape (a resize). */
    nb_status (*get_sized)(nb_dataset *d, int64_t i, nb_arena *a, float **out, int64_t chw[3], int64_t *label,
                           nb_rng *rng);
} nb_dataset_vtable;

struct nb_dataset {
    const nb_dataset_vtable *vt;
    int64_t len;
    int64_t chw[3];
    int num_classes;
    const char *const *class_names; /* num_classes names or NULL; static or owned by impl */
    void *impl;
};

/* A dataset with the given vtable and impl (freed with it); NULL on OOM. */
nb_dataset *nb__dataset_new(const nb_dataset_vtable *vt, void *impl);
/* The random stream of sample i under key (the loader's key is a hash of (seed,
 * epoch)): the same on any thread, whichever batch or worker the sample is in. */
void nb__sample_rng(nb_rng *r, uint64_t key, int64_t i);
/* Fill n samples idx[0..n) into caller-given buffers, sample idx[k] with the
 * stream nb__sample_rng(key, idx[k]) (what loader workers call). */
/* Decode an image file held in buf[0..n) (PNG, JPEG, BMP, binary PGM/PPM) to HWC bytes
 * *px (malloc'ed) of *c channels (want_c: 0 the file's, else converted); path names
 * it in messages (src/data/image_decode.c). */
nb_status nb__image_decode(const char *path, const unsigned char *buf, size_t n, int want_c, unsigned char **px,
                           int *w, int *h, int *c);
nb_status nb__dataset_get_batch(nb_dataset *d, const int64_t *idx, int64_t n, float *out, int64_t *labels,
                                uint64_t key);

#endif
