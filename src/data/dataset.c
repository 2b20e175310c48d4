/* dataset.c - the public nb_dataset_* calls, dispatched to each kind's vtable
 * (struct nb_dataset and its vtable are in data/dataset.h). Datasets by name, the
 * factory of the kinds, are data/open.c. */
#include "core/error.h"
#include "core/random.h"
#include "data/dataset.h"

#include <stdlib.h>

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
