/* loader.c - mini-batches from a dataset, like torch.utils.data.DataLoader.
 *
 * Each epoch visits every sample once: in order, or in a permutation that
 * depends only on (seed, epoch) (Fisher-Yates driven by nb_rng), so a run is
 * reproducible and resuming at epoch e reshuffles as the original run did.
 * Batches are arena tensors x (B, C, H, W) F32 and y (B) I64 on the loader's
 * context; the caller's nb_ctx_reset at each step releases them.
 *
 * Filling a batch is split from handing it out (fill_batch writes into
 * caller-given buffers with its own generator) so that worker threads can later
 * fill batches ahead of time without changing what the batches contain. */
#include "internal.h"

#include <stdlib.h>

struct nb_loader {
    nb_ctx *ctx;
    nb_dataset *d;
    nb_loader_opts o;
    int64_t *perm; /* this epoch's order */
    int64_t pos;   /* next position in perm */
    int64_t batch; /* batches handed out this epoch */
    int epoch;
};

/* A generator for (seed, epoch, stream); stream 0 shuffles, stream b+1 is batch b's
 * random transforms. */
static void derive_rng(nb_rng *r, uint64_t seed, int epoch, uint64_t stream)
{
    nb_rng_seed(r, nb__mix64(nb__mix64(seed) ^ nb__mix64((uint64_t)(uint32_t)epoch + 0x5851f42d4c957f2dULL * stream)));
}

nb_loader *nb_loader_new(nb_ctx *ctx, nb_dataset *d, const nb_loader_opts *o)
{
    if (!ctx || !d) {
        nb__fail(NB_ERR_ARG, "nb_loader_new: %s is NULL", ctx ? "dataset" : "ctx");
        return NULL;
    }
    nb_loader_opts opts = o ? *o : (nb_loader_opts){0};
    if (opts.batch_size < 0) {
        nb__fail(NB_ERR_ARG, "nb_loader_new: batch_size %d must be positive", opts.batch_size);
        return NULL;
    }
    if (!opts.batch_size) opts.batch_size = 1;
    nb_loader *l = calloc(1, sizeof *l);
    int64_t n = nb_dataset_len(d);
    if (l) l->perm = malloc((size_t)(n ? n : 1) * sizeof *l->perm);
    if (!l || !l->perm) {
        free(l);
        nb__fail(NB_ERR_MEM, "out of memory creating a loader");
        return NULL;
    }
    l->ctx = ctx, l->d = d, l->o = opts;
    nb_loader_start_epoch(l, 0);
    return l;
}

void nb_loader_free(nb_loader *l)
{
    if (!l) return;
    free(l->perm);
    free(l);
}

void nb_loader_start_epoch(nb_loader *l, int epoch)
{
    if (!l) return;
    int64_t n = nb_dataset_len(l->d);
    for (int64_t i = 0; i < n; i++) l->perm[i] = i;
    if (l->o.shuffle) {
        nb_rng r;
        derive_rng(&r, l->o.seed, epoch, 0);
        for (int64_t i = n - 1; i > 0; i--) {
            int64_t j = (int64_t)nb_rng_below(&r, (uint64_t)i + 1);
            int64_t t = l->perm[i];
            l->perm[i] = l->perm[j];
            l->perm[j] = t;
        }
    }
    l->epoch = epoch;
    l->pos = 0;
    l->batch = 0;
}

int64_t nb_loader_num_batches(const nb_loader *l)
{
    if (!l) return 0;
    int64_t n = nb_dataset_len(l->d), b = l->o.batch_size;
    return l->o.drop_last ? n / b : (n + b - 1) / b;
}

/* Samples perm[start .. start+n) of the epoch into x (n, C, H, W) and y (n). */
static nb_status fill_batch(const nb_loader *l, int64_t batch, int64_t start, int64_t n, float *x, int64_t *y)
{
    nb_rng r;
    derive_rng(&r, l->o.seed, l->epoch, (uint64_t)batch + 1);
    return nb__dataset_get_batch(l->d, l->perm + start, n, x, y, &r);
}

int nb_loader_next(nb_loader *l, nb_tensor **x, nb_tensor **y)
{
    if (x) *x = NULL;
    if (y) *y = NULL;
    if (!l || !x || !y) {
        nb__fail(NB_ERR_ARG, "nb_loader_next: NULL argument");
        return 0;
    }
    int64_t left = nb_dataset_len(l->d) - l->pos, b = l->o.batch_size;
    if (left <= 0 || (l->o.drop_last && left < b)) return 0;
    if (b > left) b = left;
    int64_t chw[3];
    nb_dataset_sample_shape(l->d, chw);
    nb_tensor *bx = nb__empty(l->ctx, NB_F32, 4, (int64_t[]){b, chw[0], chw[1], chw[2]});
    nb_tensor *by = bx ? nb__empty(l->ctx, NB_I64, 1, (int64_t[]){b}) : NULL;
    if (!by) {
        nb__error_prefix("loading a batch of %lld samples", (long long)b);
        return 0;
    }
    if (fill_batch(l, l->batch, l->pos, b, nb__f(bx), nb__i(by))) return 0;
    l->pos += b;
    l->batch++;
    *x = bx;
    *y = by;
    return 1;
}
