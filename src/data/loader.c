/* loader.c - mini-batches from a dataset, like torch.utils.data.DataLoader.
 *
 * Each epoch visits every sample once: in order, or in a permutation that
 * depends only on (seed, epoch) (Fisher-Yates driven by nb_rng), so a run is
 * reproducible and resuming at epoch e reshuffles as the original run did.
 * Batches are arena tensors x (B, C, H, W) F32 and y (B) I64 on the loader's
 * context; the caller's nb_ctx_reset at each step releases them.
 *
 * Augmentation: opts.transform (a pipeline of src/augment) runs on every sample
 * as it is loaded, through nb__transform_run on raw buffers in an arena the
 * filling thread owns; datasets whose samples differ in size (image folders)
 * hand their samples over at their own size (vtable get_sized), and the
 * pipeline must bring them to one shape (a resize). opts.mixup_alpha /
 * cutmix_alpha mix each batch (nb_random_mixup / nb_random_cutmix of
 * src/augment, with both: one of them per batch, p = 0.5 each) and add soft
 * targets (B, num_classes).
 *
 * Randomness: sample i of epoch e draws its random transforms from its own
 * stream nb__sample_rng(key(seed, e), i), and batch b's batch-level choices
 * from a stream of (seed, e, b); nothing depends on which thread fills what or
 * when, so 0, 1, 2 or 4 workers give bit-identical batches.
 *
 * Shards (DistributedSampler, opts.num_replicas = W > 1): the epoch's order above (the
 * same on every rank) padded to ceil(N/W)·W by repeating it from the start, and rank r
 * takes positions r, r+W, ...: an epoch is ceil(N/W) samples. The augmentation streams'
 * seed then has the rank mixed in, so ranks draw differently (src/dist, docs/distributed.md).
 *
 * Workers: with opts.workers = N > 0, N threads fill batches ahead of the
 * caller into a ring of `prefetch` preallocated slots (default 2N). Batch b
 * goes to slot b % prefetch; a worker claims the next unfilled batch only
 * while it is fewer than `prefetch` batches ahead of the caller, so a slot is
 * never refilled before the caller has copied it out. The caller takes batches
 * in order, copying the slot into arena tensors (the slot is free again at
 * once). A worker's error travels in its slot: the caller's nb_loader_next
 * returns 0 with the worker's message when it reaches that batch.
 *
 * Locking: one mutex guards the counters and the slots' ready flags; `work`
 * wakes workers (a slot freed, an epoch started, quit), `done` wakes the
 * caller (a slot filled, a worker went idle). perm and the epoch key change
 * only in nb_loader_start_epoch, under the mutex, after every worker is idle. */
#include "core/error.h"
#include "core/arena.h"
#include "core/tensor.h"
#include "core/random.h"
#include "data/dataset.h"
#include "augment/transform.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WORKERS 64
#define ERR_LEN 4096

typedef struct {
    float *x;     /* (B, C, H, W) */
    int64_t *y;   /* (B) */
    float *soft;  /* (B, num_classes) when mixing */
    int64_t batch; /* which batch of the epoch it holds, when ready */
    int64_t n;     /* samples in it */
    int ready;
    nb_status st;
    char err[ERR_LEN];
} slot;

/* What a filling thread owns: its scratch arena (reset per sample) and, when the
 * loader mixes batches, a context for the mixing ops (reset per batch). */
typedef struct {
    nb_loader *l;
    pthread_t tid;
    int started;
    nb_arena scratch;
    nb_ctx *mix_ctx;
} worker;

struct nb_loader {
    nb_ctx *ctx;
    nb_dataset *d;
    nb_loader_opts o;
    int64_t chw[3], per; /* shape of a sample in a batch (after the transform), C*H*W */
    int mixing;          /* mixup_alpha or cutmix_alpha > 0 */
    int64_t ncls;        /* width of the soft targets */
    worker self;         /* the calling thread's scratch (workers == 0) */
    int64_t *perm;       /* this epoch's order */
    /* DistributedSampler (o.num_replicas > 1): this rank's share of perm */
    int64_t len;         /* samples per epoch: the dataset's, or ceil(N / num_replicas) */
    int64_t *shard;      /* len indices when sharded */
    const int64_t *order; /* what the batches take: perm or shard */
    uint64_t aug_seed;   /* the seed of the augmentation streams (rank mixed in when sharded) */
    int epoch;
    uint64_t key;        /* this epoch's per-sample stream key */
    int64_t nbatches;    /* batches in an epoch */
    int64_t taken;       /* batches handed out this epoch */
    int failed;          /* an error ended this epoch */
    /* workers (nworkers == 0: the caller fills batches itself) */
    int nworkers, nslots;
    worker *workers;
    slot *slots;
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    int sync_ok;        /* mu and the conds are initialised */
    int64_t next_fill;  /* next batch a worker will claim */
    int busy;           /* workers filling a batch */
    int paused, quit;
};

/* A generator for (seed, epoch, stream); stream 0 shuffles, stream b+1 is batch b's
 * batch-level random choices. */
static void derive_rng(nb_rng *r, uint64_t seed, int epoch, uint64_t stream)
{
    nb_rng_seed(r, nb__mix64(nb__mix64(seed) ^ nb__mix64((uint64_t)(uint32_t)epoch + 0x5851f42d4c957f2dULL * stream)));
}

static uint64_t epoch_key(uint64_t seed, int epoch)
{
    return nb__mix64(nb__mix64(seed ^ 0xd1b54a32d192ed03ULL) + (uint64_t)(uint32_t)epoch);
}

/* ------------------------------------------------------------------------ */
/* filling a batch (any thread; reads only what is fixed during an epoch)    */
/* ------------------------------------------------------------------------ */

/* Sample i through the transform into out (the loader's sample shape). */
static nb_status transform_sample(const nb_loader *l, worker *w, int64_t i, float *out, int64_t *label)
{
    nb_dataset *d = l->d;
    nb_rng r;
    nb__sample_rng(&r, l->key, i);
    nb__arena_reset(&w->scratch);
    float *in;
    int64_t ichw[3] = {d->chw[0], d->chw[1], d->chw[2]}, ochw[3];
    nb_status st;
    if (d->vt->get_sized) {
        st = d->vt->get_sized(d, i, &w->scratch, &in, ichw, label, &r);
    } else {
        in = nb__arena_alloc(&w->scratch, (size_t)(ichw[0] * ichw[1] * ichw[2]) * sizeof(float));
        st = in ? d->vt->get(d, i, in, label, &r) : NB_ERR_MEM;
    }
    if (st) return st;
    float *o;
    const char *file = nb_image_folder_path(d, i);
    if ((st = nb__transform_run(l->o.transform, in, ichw, &w->scratch, &r, &o, ochw))) {
        nb__error_prefix("transforming sample %lld%s%s", (long long)i, file ? " " : "", file ? file : "");
        return st;
    }
    if (ochw[0] != l->chw[0] || ochw[1] != l->chw[1] || ochw[2] != l->chw[2])
        return nb__fail(NB_ERR_SHAPE,
                        "sample %lld%s%s is %lldx%lldx%lld (CxHxW) and the transform makes it %lldx%lldx%lld, but the "
                        "batches are %lldx%lldx%lld; add a resize to a fixed (height, width) to the transform",
                        (long long)i, file ? " " : "", file ? file : "", (long long)ichw[0], (long long)ichw[1],
                        (long long)ichw[2], (long long)ochw[0], (long long)ochw[1], (long long)ochw[2],
                        (long long)l->chw[0], (long long)l->chw[1], (long long)l->chw[2]);
    memcpy(out, o, (size_t)l->per * sizeof(float));
    return NB_OK;
}

/* Batch b of the epoch into x (n, C, H, W), y (n) and, when mixing, soft (n, K);
 * *n is its size. w is the filling thread's scratch. */
static nb_status fill(const nb_loader *l, worker *w, int64_t b, float *x, int64_t *y, float *soft, int64_t *n)
{
    int64_t len = l->len, start = b * l->o.batch_size;
    *n = len - start < l->o.batch_size ? len - start : l->o.batch_size;
    const int64_t *idx = l->order + start;
    nb_status st;
    if (!l->o.transform) {
        st = nb__dataset_get_batch(l->d, idx, *n, x, y, l->key);
    } else {
        st = NB_OK;
        for (int64_t k = 0; k < *n && !st; k++) st = transform_sample(l, w, idx[k], x + k * l->per, y + k);
    }
    if (st || !l->mixing) return st;
    /* batch-level mixing, from the batch's own stream */
    nb_ctx *mc = w->mix_ctx;
    nb_ctx_reset(mc);
    nb_tensor *bx = nb__empty(mc, NB_F32, 4, (int64_t[]){*n, l->chw[0], l->chw[1], l->chw[2]});
    nb_tensor *by = bx ? nb__empty(mc, NB_I64, 1, (int64_t[]){*n}) : NULL;
    if (!by) return NB_ERR_MEM;
    memcpy(nb__f(bx), x, (size_t)(*n * l->per) * sizeof(float));
    memcpy(nb__i(by), y, (size_t)*n * sizeof(int64_t));
    nb_rng r;
    derive_rng(&r, l->aug_seed, l->epoch, (uint64_t)b + 1);
    int cut = l->o.mixup_alpha <= 0 || (l->o.cutmix_alpha > 0 && nb_rng_uniform(&r) >= 0.5f);
    nb_tensor *xo, *yo;
    st = cut ? nb_random_cutmix(bx, by, l->ncls, l->o.cutmix_alpha, &r, &xo, &yo, NULL)
             : nb_random_mixup(bx, by, l->ncls, l->o.mixup_alpha, &r, &xo, &yo, NULL);
    if (st) return st;
    memcpy(x, nb__f(xo), (size_t)(*n * l->per) * sizeof(float));
    memcpy(soft, nb__f(yo), (size_t)(*n * l->ncls) * sizeof(float));
    return NB_OK;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    nb_loader *l = w->l;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->quit && (l->paused || l->next_fill >= l->nbatches || l->next_fill >= l->taken + l->nslots))
            pthread_cond_wait(&l->work, &l->mu);
        if (l->quit) break;
        int64_t b = l->next_fill++;
        slot *s = &l->slots[b % l->nslots];
        l->busy++;
        pthread_mutex_unlock(&l->mu);

        int64_t n = 0;
        nb_status st = fill(l, w, b, s->x, s->y, s->soft, &n);
        if (st) snprintf(s->err, sizeof s->err, "%s", nb_last_error());

        pthread_mutex_lock(&l->mu);
        s->st = st;
        s->n = n;
        s->batch = b;
        s->ready = 1;
        if (st) l->next_fill = l->nbatches; /* the epoch ends at this batch */
        l->busy--;
        pthread_cond_broadcast(&l->done);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* the loader                                                                */
/* ------------------------------------------------------------------------ */

static void stop_workers(nb_loader *l)
{
    if (!l->workers) return;
    pthread_mutex_lock(&l->mu);
    l->quit = 1;
    pthread_cond_broadcast(&l->work);
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < l->nworkers; i++)
        if (l->workers[i].started) pthread_join(l->workers[i].tid, NULL);
}

static void worker_release(worker *w)
{
    nb__arena_free(&w->scratch);
    nb_ctx_free(w->mix_ctx);
}

/* The scratch of a filling thread (contexts are made here, on the caller's thread). */
static nb_status worker_init(nb_loader *l, worker *w)
{
    w->l = l;
    if (l->mixing && !(w->mix_ctx = nb_ctx_new(&(nb_ctx_opts){.threads = nb_ctx_threads(l->ctx)})))
        return NB_ERR_MEM;
    /* the arenas' first chunks now, so that a worker's first batch (whenever the
     * scheduler gives it one) allocates nothing for small samples */
    if (l->o.transform && !nb__arena_alloc(&w->scratch, 1)) return NB_ERR_MEM;
    nb__arena_reset(&w->scratch);
    if (l->mixing) {
        if (!nb__scratch(w->mix_ctx, 1)) return NB_ERR_MEM;
        nb_ctx_reset(w->mix_ctx);
    }
    return NB_OK;
}

void nb_loader_free(nb_loader *l)
{
    if (!l) return;
    stop_workers(l);
    if (l->slots)
        for (int i = 0; i < l->nslots; i++) {
            free(l->slots[i].x);
            free(l->slots[i].y);
            free(l->slots[i].soft);
        }
    free(l->slots);
    if (l->workers)
        for (int i = 0; i < l->nworkers; i++) worker_release(&l->workers[i]);
    free(l->workers);
    worker_release(&l->self);
    if (l->sync_ok) {
        pthread_mutex_destroy(&l->mu);
        pthread_cond_destroy(&l->work);
        pthread_cond_destroy(&l->done);
    }
    free(l->perm);
    free(l->shard);
    free(l);
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
    if (opts.workers < 0 || opts.workers > MAX_WORKERS || opts.prefetch < 0) {
        nb__fail(NB_ERR_ARG, "nb_loader_new: workers %d must be 0 to %d and prefetch %d not negative", opts.workers,
                 MAX_WORKERS, opts.prefetch);
        return NULL;
    }
    if (!(opts.mixup_alpha >= 0) || !(opts.cutmix_alpha >= 0) || !isfinite(opts.mixup_alpha) ||
        !isfinite(opts.cutmix_alpha)) {
        nb__fail(NB_ERR_ARG, "nb_loader_new: mixup_alpha %g and cutmix_alpha %g must be 0 (off) or positive",
                 (double)opts.mixup_alpha, (double)opts.cutmix_alpha);
        return NULL;
    }
    int mixing = opts.mixup_alpha > 0 || opts.cutmix_alpha > 0;
    if (mixing && nb_dataset_num_classes(d) < 1) {
        nb__fail(NB_ERR_ARG, "nb_loader_new: MixUp/CutMix need the number of classes, and this dataset has none");
        return NULL;
    }
    int64_t chw[3];
    nb_dataset_sample_shape(d, chw);
    if (opts.transform && nb_transform_out_shape(opts.transform, d->chw, chw)) {
        nb__error_prefix("nb_loader_new: the transform does not fit the dataset's %lldx%lldx%lld (CxHxW) samples",
                         (long long)d->chw[0], (long long)d->chw[1], (long long)d->chw[2]);
        return NULL;
    }
    if (opts.num_replicas < 0 || (opts.num_replicas > 1 ? opts.rank < 0 || opts.rank >= opts.num_replicas
                                                         : opts.rank != 0)) {
        nb__fail(NB_ERR_ARG, "nb_loader_new: rank %d is not one of num_replicas %d", opts.rank, opts.num_replicas);
        return NULL;
    }
    if (!opts.batch_size) opts.batch_size = 1;
    int64_t n = nb_dataset_len(d), W = opts.num_replicas > 1 ? opts.num_replicas : 1;
    if (n == 0) { /* an empty set would train 0 steps, or score 0 of 0 */
        nb__fail(NB_ERR_ARG, "nb_loader_new: the dataset is empty (no samples)");
        return NULL;
    }
    nb_loader *l = calloc(1, sizeof *l);
    int64_t len = W > 1 ? (n + W - 1) / W : n;
    if (!l || !(l->perm = malloc((size_t)(n ? n : 1) * sizeof *l->perm)) ||
        (W > 1 && !(l->shard = malloc((size_t)(len ? len : 1) * sizeof *l->shard)))) {
        if (l) free(l->perm);
        free(l);
        nb__fail(NB_ERR_MEM, "out of memory creating a loader");
        return NULL;
    }
    l->len = len;
    l->order = W > 1 ? l->shard : l->perm;
    l->aug_seed = W > 1 ? nb__mix64(opts.seed ^ nb__mix64(0xbb67ae8584caa73bULL + (uint64_t)opts.rank)) : opts.seed;
    l->ctx = ctx, l->d = d, l->o = opts;
    l->chw[0] = chw[0], l->chw[1] = chw[1], l->chw[2] = chw[2];
    l->per = chw[0] * chw[1] * chw[2];
    l->mixing = mixing;
    l->ncls = nb_dataset_num_classes(d);
    l->epoch = -1;
    if (!opts.workers && worker_init(l, &l->self)) goto oom;
    if (opts.workers > 0) {
        l->nworkers = opts.workers;
        l->nslots = opts.prefetch > 0 ? opts.prefetch : 2 * opts.workers;
        int64_t bmax = opts.batch_size < len ? opts.batch_size : len; /* the largest batch */
        size_t bx = (size_t)(bmax * l->per) * sizeof(float), by = (size_t)bmax * sizeof(int64_t);
        size_t bs = mixing ? (size_t)(bmax * l->ncls) * sizeof(float) : 0;
        if (pthread_mutex_init(&l->mu, NULL)) goto oom;
        if (pthread_cond_init(&l->work, NULL)) {
            pthread_mutex_destroy(&l->mu);
            goto oom;
        }
        if (pthread_cond_init(&l->done, NULL)) {
            pthread_cond_destroy(&l->work);
            pthread_mutex_destroy(&l->mu);
            goto oom;
        }
        l->sync_ok = 1;
        if (!(l->slots = calloc((size_t)l->nslots, sizeof *l->slots))) goto oom;
        for (int i = 0; i < l->nslots; i++)
            if (!(l->slots[i].x = malloc(bx ? bx : 1)) || !(l->slots[i].y = malloc(by ? by : 1)) ||
                (bs && !(l->slots[i].soft = malloc(bs))))
                goto oom;
        if (!(l->workers = calloc((size_t)l->nworkers, sizeof *l->workers))) goto oom;
        for (int i = 0; i < l->nworkers; i++)
            if (worker_init(l, &l->workers[i])) goto oom;
        l->paused = 1; /* until the first epoch is set up */
        for (int i = 0; i < l->nworkers; i++) {
            if (pthread_create(&l->workers[i].tid, NULL, worker_main, &l->workers[i])) {
                nb_loader_free(l);
                nb__fail(NB_ERR_MEM, "nb_loader_new: cannot start worker thread %d of %d", i + 1, opts.workers);
                return NULL;
            }
            l->workers[i].started = 1;
        }
    }
    nb_loader_start_epoch(l, 0);
    return l;
oom:
    nb_loader_free(l);
    nb__fail(NB_ERR_MEM, "out of memory creating a loader with %d workers", opts.workers);
    return NULL;
}

/* The order and key of an epoch, and its batch count. */
static void setup_epoch(nb_loader *l, int epoch)
{
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
    if (l->shard) { /* DistributedSampler: pad by repeating from the start, take every W-th from rank */
        int64_t W = l->o.num_replicas;
        for (int64_t k = 0; k < l->len; k++) l->shard[k] = l->perm[(l->o.rank + k * W) % n];
    }
    l->epoch = epoch;
    l->key = epoch_key(l->aug_seed, epoch);
    l->nbatches = nb_loader_num_batches(l);
    l->taken = 0;
    l->failed = 0;
}

void nb_loader_start_epoch(nb_loader *l, int epoch)
{
    if (!l) return;
    if (!l->nworkers) {
        setup_epoch(l, epoch);
        return;
    }
    pthread_mutex_lock(&l->mu);
    /* the same epoch not yet begun: what the workers prefetched stays valid */
    if (epoch == l->epoch && l->taken == 0 && !l->failed && !l->paused) {
        pthread_mutex_unlock(&l->mu);
        return;
    }
    l->paused = 1;
    while (l->busy) pthread_cond_wait(&l->done, &l->mu);
    setup_epoch(l, epoch);
    for (int i = 0; i < l->nslots; i++) l->slots[i].ready = 0;
    l->next_fill = 0;
    l->paused = 0;
    pthread_cond_broadcast(&l->work);
    pthread_mutex_unlock(&l->mu);
}

int64_t nb_loader_num_batches(const nb_loader *l)
{
    if (!l) return 0;
    int64_t n = l->len, b = l->o.batch_size;
    return l->o.drop_last ? n / b : (n + b - 1) / b;
}

int nb_loader_next_mixed(nb_loader *l, nb_tensor **x, nb_tensor **y, nb_tensor **soft)
{
    if (x) *x = NULL;
    if (y) *y = NULL;
    if (soft) *soft = NULL;
    if (!l || !x || !y) {
        nb__fail(NB_ERR_ARG, "nb_loader_next: NULL argument");
        return 0;
    }
    if (l->failed || l->taken >= l->nbatches) return 0;
    int64_t b = l->taken, len = l->len, bs = l->o.batch_size;
    int64_t n = len - b * bs < bs ? len - b * bs : bs;
    nb_tensor *bx = nb__empty(l->ctx, NB_F32, 4, (int64_t[]){n, l->chw[0], l->chw[1], l->chw[2]});
    nb_tensor *by = bx ? nb__empty(l->ctx, NB_I64, 1, (int64_t[]){n}) : NULL;
    nb_tensor *bsoft = by && l->mixing ? nb__empty(l->ctx, NB_F32, 2, (int64_t[]){n, l->ncls}) : NULL;
    if (!by || (l->mixing && !bsoft)) {
        nb__error_prefix("loading a batch of %lld samples", (long long)n);
        return 0;
    }
    if (!l->nworkers) {
        int64_t got;
        if (fill(l, &l->self, b, nb__f(bx), nb__i(by), bsoft ? nb__f(bsoft) : NULL, &got)) {
            l->failed = 1;
            return 0;
        }
        l->taken++;
    } else {
        slot *s = &l->slots[b % l->nslots];
        pthread_mutex_lock(&l->mu);
        while (!(s->ready && s->batch == b)) pthread_cond_wait(&l->done, &l->mu);
        pthread_mutex_unlock(&l->mu);
        /* the slot is ours until it is marked free below */
        if (s->st) {
            l->failed = 1;
            nb__fail(s->st, "%s", s->err);
            return 0;
        }
        memcpy(nb__f(bx), s->x, (size_t)(n * l->per) * sizeof(float));
        memcpy(nb__i(by), s->y, (size_t)n * sizeof(int64_t));
        if (bsoft) memcpy(nb__f(bsoft), s->soft, (size_t)(n * l->ncls) * sizeof(float));
        pthread_mutex_lock(&l->mu);
        s->ready = 0;
        l->taken++;
        pthread_cond_broadcast(&l->work);
        pthread_mutex_unlock(&l->mu);
    }
    *x = bx;
    *y = by;
    if (soft) *soft = bsoft;
    return 1;
}

int nb_loader_next(nb_loader *l, nb_tensor **x, nb_tensor **y)
{
    nb_tensor *labels = NULL, *soft = NULL;
    int ok = nb_loader_next_mixed(l, x, y ? &labels : NULL, &soft);
    if (y) *y = soft ? soft : labels;
    return ok;
}

void nb_loader_sample_shape(const nb_loader *l, int64_t chw[3])
{
    for (int i = 0; i < 3; i++) chw[i] = l ? l->chw[i] : 0;
}
