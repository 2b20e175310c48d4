/* subset.c - a dataset restricted to some classes and/or a few samples per class,
 * for few-shot and transfer-learning experiments (--classes 5,6,7,8,9 --per-class 100).
 *
 * The wrapper keeps a table map[i] = the base dataset's index of sample i and a
 * label table remap[base label] = new label (or -1: dropped). Building it reads
 * every base label once: through get_batch in chunks when the base kind has it
 * (IDX, CIFAR-10: a memcpy per sample), else through get (image folders decode
 * each image once). With per_class = N the base indices are visited in the order
 * of a permutation drawn from the seed (Fisher-Yates on nb_rng, as the loader
 * shuffles) and the first N of each kept class are kept: "the first N images of
 * each class under the seed"; the kept samples are then listed in base order. */
#include "core/error.h"
#include "core/random.h"
#include "data/dataset.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    nb_dataset *base;
    int64_t *map;        /* len entries: base index */
    int *remap;          /* base num_classes entries: new label or -1 */
    const char **names;  /* num_classes names (pointing into the base's) or NULL */
} subset_impl;

static nb_status subset_get(nb_dataset *d, int64_t i, float *out, int64_t *label, nb_rng *rng)
{
    subset_impl *s = d->impl;
    int64_t y;
    nb_status st = s->base->vt->get(s->base, s->map[i], out, &y, rng);
    if (st) return st;
    *label = s->remap[y];
    return NB_OK;
}

static nb_status subset_get_batch(nb_dataset *d, const int64_t *idx, int64_t n, float *out, int64_t *labels)
{
    subset_impl *s = d->impl;
    enum { CHUNK = 256 };
    int64_t bidx[CHUNK];
    for (int64_t k = 0; k < n; k += CHUNK) {
        int64_t m = n - k < CHUNK ? n - k : CHUNK;
        for (int64_t j = 0; j < m; j++) bidx[j] = s->map[idx[k + j]];
        nb_status st = s->base->vt->get_batch(s->base, bidx, m, out + k * d->chw[0] * d->chw[1] * d->chw[2], labels + k);
        if (st) return st;
        for (int64_t j = 0; j < m; j++) labels[k + j] = s->remap[labels[k + j]];
    }
    return NB_OK;
}

static void subset_free(nb_dataset *d)
{
    subset_impl *s = d->impl;
    if (!s) return;
    nb_dataset_free(s->base);
    free(s->map);
    free(s->remap);
    free(s->names);
    free(s);
}

static const nb_dataset_vtable subset_vt = {.kind = "subset", .get = subset_get, .free = subset_free};
static const nb_dataset_vtable subset_batch_vt = {
    .kind = "subset", .get = subset_get, .get_batch = subset_get_batch, .free = subset_free};

/* Every label of the base dataset into labels (len entries). */
static nb_status read_labels(nb_dataset *b, int64_t *labels)
{
    enum { CHUNK = 256 };
    int64_t per = b->chw[0] * b->chw[1] * b->chw[2];
    float *buf = malloc(sizeof *buf * (size_t)(per ? per : 1) * (b->vt->get_batch ? CHUNK : 1));
    if (!buf) return nb__fail(NB_ERR_MEM, "out of memory reading the labels of a dataset");
    nb_status st = NB_OK;
    if (b->vt->get_batch) {
        int64_t idx[CHUNK];
        for (int64_t i = 0; i < b->len && !st; i += CHUNK) {
            int64_t m = b->len - i < CHUNK ? b->len - i : CHUNK;
            for (int64_t j = 0; j < m; j++) idx[j] = i + j;
            st = b->vt->get_batch(b, idx, m, buf, labels + i);
        }
    } else {
        for (int64_t i = 0; i < b->len && !st; i++) {
            nb_rng r;
            nb__sample_rng(&r, 0, i);
            st = b->vt->get(b, i, buf, labels + i, &r);
        }
    }
    free(buf);
    for (int64_t i = 0; i < b->len && !st; i++)
        if (labels[i] < 0 || labels[i] >= b->num_classes)
            st = nb__fail(NB_ERR_FORMAT, "dataset sample %lld has label %lld, outside [0, %d)", (long long)i,
                          (long long)labels[i], b->num_classes);
    return st;
}

nb_dataset *nb_subset_new(nb_dataset *base, const nb_subset_opts *opts)
{
    nb_subset_opts o = opts ? *opts : (nb_subset_opts){0};
    subset_impl *s = NULL;
    int64_t *labels = NULL, *order = NULL, *count = NULL;
    nb_dataset *d = NULL;
    if (!base) {
        nb__fail(NB_ERR_ARG, "nb_subset_new: the base dataset is NULL");
        return NULL;
    }
    int C = base->num_classes;
    if (o.n_classes < 0 || (o.n_classes > 0 && !o.classes) || o.per_class < 0) {
        nb__fail(NB_ERR_ARG, "nb_subset_new: bad options (n_classes %d, classes %s, per_class %lld)", o.n_classes,
                 o.classes ? "given" : "NULL", (long long)o.per_class);
        goto fail;
    }
    if (C <= 0) {
        nb__fail(NB_ERR_ARG, "nb_subset_new: the base dataset has no classes");
        goto fail;
    }
    s = calloc(1, sizeof *s);
    labels = malloc(sizeof *labels * (size_t)(base->len ? base->len : 1));
    count = calloc((size_t)C, sizeof *count);
    if (!s || !labels || !count || !(s->remap = malloc(sizeof *s->remap * (size_t)C))) {
        nb__fail(NB_ERR_MEM, "out of memory creating a dataset subset");
        goto fail;
    }
    int K = o.n_classes ? o.n_classes : C;
    for (int c = 0; c < C; c++) s->remap[c] = o.n_classes ? -1 : c;
    for (int k = 0; k < o.n_classes; k++) {
        int c = o.classes[k];
        if (c < 0 || c >= C) {
            nb__fail(NB_ERR_ARG, "class %d is not a class of the dataset (its classes are 0..%d)", c, C - 1);
            goto fail;
        }
        if (s->remap[c] >= 0) {
            nb__fail(NB_ERR_ARG, "class %d is listed twice", c);
            goto fail;
        }
        s->remap[c] = k;
    }
    if (read_labels(base, labels)) goto fail;

    /* visit order: the base order, or a permutation from the seed for per_class */
    order = malloc(sizeof *order * (size_t)(base->len ? base->len : 1));
    if (!order || !(s->map = malloc(sizeof *s->map * (size_t)(base->len ? base->len : 1)))) {
        nb__fail(NB_ERR_MEM, "out of memory creating a dataset subset");
        goto fail;
    }
    for (int64_t i = 0; i < base->len; i++) order[i] = i;
    if (o.per_class) {
        nb_rng r;
        nb_rng_seed(&r, nb__mix64(o.seed ^ 0x5ab5e7c1a55e5ULL));
        for (int64_t i = base->len - 1; i > 0; i--) {
            int64_t j = (int64_t)nb_rng_below(&r, (uint64_t)i + 1), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
    }
    /* keep[i] marks the base samples kept */
    char *keep = calloc((size_t)(base->len ? base->len : 1), 1);
    if (!keep) {
        nb__fail(NB_ERR_MEM, "out of memory creating a dataset subset");
        goto fail;
    }
    for (int64_t k = 0; k < base->len; k++) {
        int64_t i = order[k];
        int c = (int)labels[i];
        if (s->remap[c] < 0 || (o.per_class && count[c] >= o.per_class)) continue;
        count[c]++;
        keep[i] = 1;
    }
    int64_t n = 0;
    for (int64_t i = 0; i < base->len; i++)
        if (keep[i]) s->map[n++] = i;
    free(keep);
    for (int c = 0; c < C; c++)
        if (s->remap[c] >= 0 && count[c] == 0) {
            const char *nm = nb_dataset_class_name(base, c);
            nb__fail(NB_ERR_ARG, "class %d%s%s%s has no samples in the dataset", c, nm ? " (" : "", nm ? nm : "",
                     nm ? ")" : "");
            goto fail;
        }
    if (base->class_names) {
        if (!(s->names = malloc(sizeof *s->names * (size_t)K))) {
            nb__fail(NB_ERR_MEM, "out of memory creating a dataset subset");
            goto fail;
        }
        for (int c = 0; c < C; c++)
            if (s->remap[c] >= 0) s->names[s->remap[c]] = base->class_names[c];
    }
    if (!(d = nb__dataset_new(base->vt->get_batch ? &subset_batch_vt : &subset_vt, s))) goto fail;
    s->base = base;
    d->len = n;
    memcpy(d->chw, base->chw, sizeof d->chw);
    d->num_classes = K;
    d->class_names = s->names;
    free(labels);
    free(order);
    free(count);
    return d;
fail:
    if (s) {
        free(s->map);
        free(s->remap);
        free(s->names);
        free(s);
    }
    free(labels);
    free(order);
    free(count);
    nb_dataset_free(base);
    return NULL;
}

int64_t nb_subset_base_index(const nb_dataset *d, int64_t i)
{
    if (!d || (d->vt != &subset_vt && d->vt != &subset_batch_vt) || i < 0 || i >= d->len) return -1;
    return ((const subset_impl *)d->impl)->map[i];
}

nb_status nb_parse_class_list(const char *s, int *classes, int max, int *n)
{
    *n = 0;
    if (!s) return nb__fail(NB_ERR_ARG, "empty class list");
    const char *p = s;
    for (;;) {
        while (*p == ' ') p++;
        char *end;
        long a = strtol(p, &end, 10), b = a;
        if (end == p || a < 0) return nb__fail(NB_ERR_ARG, "bad class list '%.100s': expected a class number at '%.20s'", s, p);
        p = end;
        if (*p == '-') { /* a range 5-9 */
            const char *q = p + 1;
            b = strtol(q, &end, 10);
            if (end == q || b < a) return nb__fail(NB_ERR_ARG, "bad class list '%.100s': bad range at '%.20s'", s, p);
            p = end;
        }
        for (long c = a; c <= b; c++) {
            if (*n >= max) return nb__fail(NB_ERR_ARG, "class list '%.100s' has more than %d classes", s, max);
            if (c > 1000000) return nb__fail(NB_ERR_ARG, "class list '%.100s': class %ld is too large", s, c);
            classes[(*n)++] = (int)c;
        }
        while (*p == ' ') p++;
        if (!*p) return NB_OK;
        if (*p != ',') return nb__fail(NB_ERR_ARG, "bad class list '%.100s': expected ',' at '%.20s'", s, p);
        p++;
    }
}
