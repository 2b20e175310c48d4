/* shard.c - one rank's share of a dataset for sharded evaluation: the samples
 * rank, rank + world, rank + 2·world, ... of the base, without the padding that
 * DistributedSampler adds for training (so every sample is counted once when the
 * ranks' counts are all-reduced). A view: the base is borrowed. */
#include "data/dataset.h"
#include "dist/dist.h"

#include <stdlib.h>

typedef struct {
    nb_dataset *base;
    int64_t rank, world;
} shard;

static int64_t base_index(const nb_dataset *d, int64_t i)
{
    const shard *s = d->impl;
    return s->rank + i * s->world;
}

static nb_status shard_get(nb_dataset *d, int64_t i, float *out, int64_t *label, nb_rng *rng)
{
    shard *s = d->impl;
    return s->base->vt->get(s->base, base_index(d, i), out, label, rng);
}

static nb_status shard_get_batch(nb_dataset *d, const int64_t *idx, int64_t n, float *out, int64_t *labels)
{
    shard *s = d->impl;
    enum { CHUNK = 256 };
    int64_t b[CHUNK], per = d->chw[0] * d->chw[1] * d->chw[2];
    for (int64_t k = 0; k < n; k += CHUNK) {
        int64_t m = n - k < CHUNK ? n - k : CHUNK;
        for (int64_t j = 0; j < m; j++) b[j] = base_index(d, idx[k + j]);
        nb_status st = s->base->vt->get_batch(s->base, b, m, out + k * per, labels + k);
        if (st) return st;
    }
    return NB_OK;
}

static nb_status shard_get_sized(nb_dataset *d, int64_t i, nb_arena *a, float **out, int64_t chw[3], int64_t *label,
                                 nb_rng *rng)
{
    shard *s = d->impl;
    return s->base->vt->get_sized(s->base, base_index(d, i), a, out, chw, label, rng);
}

static void shard_free(nb_dataset *d) { free(d->impl); }

nb_dataset *nb_dataset_shard(nb_dataset *base, int rank, int world)
{
    if (!base || world < 1 || rank < 0 || rank >= world) {
        nb__fail(NB_ERR_ARG, "nb_dataset_shard: rank %d of %d ranks%s", rank, world, base ? "" : " of a NULL dataset");
        return NULL;
    }
    /* one vtable per combination of the base's optional entries */
    static const nb_dataset_vtable vts[4] = {
        {.kind = "shard", .get = shard_get, .free = shard_free},
        {.kind = "shard", .get = shard_get, .get_batch = shard_get_batch, .free = shard_free},
        {.kind = "shard", .get = shard_get, .get_sized = shard_get_sized, .free = shard_free},
        {.kind = "shard", .get = shard_get, .get_batch = shard_get_batch, .get_sized = shard_get_sized,
         .free = shard_free},
    };
    shard *s = malloc(sizeof *s);
    if (!s) {
        nb__fail(NB_ERR_MEM, "out of memory for a dataset shard");
        return NULL;
    }
    *s = (shard){base, rank, world};
    int v = (base->vt->get_batch ? 1 : 0) + (base->vt->get_sized ? 2 : 0);
    nb_dataset *d = nb__dataset_new(&vts[v], s);
    if (!d) {
        free(s);
        return NULL;
    }
    d->len = base->len > rank ? (base->len - rank + world - 1) / world : 0;
    for (int k = 0; k < 3; k++) d->chw[k] = base->chw[k];
    d->num_classes = base->num_classes;
    d->class_names = base->class_names;
    return d;
}
