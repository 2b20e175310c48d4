/* test_loader.c - mini-batches: shapes, drop_last, file order without shuffle,
 * every sample exactly once per epoch, the same (seed, epoch) gives the same
 * order and another epoch or seed another one, and a steady-state epoch makes no
 * arena allocation. Runs on a small synthetic IDX dataset written to /tmp:
 * sample i has every pixel (i % 251) and label i % 7, so a batch tells which
 * samples it holds.
 *
 * Worker threads: a dataset kind defined here (through data/dataset.h) fills each
 * sample from the random stream it is given, so the batches show whether every
 * sample's stream depends only on (seed, epoch, index): 0, 1, 2 and 4 workers
 * and any batch size must give bit-identical samples. Also: restarting epochs
 * mid-way, freeing a loader mid-epoch, a failing sample ending the epoch with
 * its message (from a worker thread, in batch order), and no heap allocation
 * in a steady-state epoch with workers (malloc counted process-wide, except
 * under AddressSanitizer).
 *
 * Augmentation, on a synthetic 28x28 IDX set: the pipeline
 * "random_crop(28, padding=2), hflip, random_erasing(p=0.5)" and MixUp/CutMix
 * give bit-identical batches with 0, 1, 2 and 4 workers; hflip flips about half
 * the samples and leaves the others exact; a shape-changing pipeline sets the
 * batch shape; MixUp batches are λ·x + (1-λ)·roll(x) of the plain batches with
 * targets mixed by the same λ; CutMix pixels come from x or roll(x) and the
 * targets' λ is the share of pixels kept. */
#include "check.h"
#include "core/error.h"
#include "data/dataset.h"
#include "nabla.h"

#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#define N 103
#define H 2
#define W 3

static char g_img[512], g_lab[512];

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16), p[2] = (unsigned char)(v >> 8),
    p[3] = (unsigned char)v;
}

static int make_files(void)
{
    unsigned char h[16] = {0, 0, 8, 3};
    put_be32(h + 4, N), put_be32(h + 8, H), put_be32(h + 12, W);
    FILE *fp = fopen(g_img, "wb");
    if (!fp) return -1;
    fwrite(h, 1, 16, fp);
    for (int i = 0; i < N; i++)
        for (int k = 0; k < H * W; k++) fputc(i % 251, fp);
    if (fclose(fp)) return -1;
    unsigned char l[8] = {0, 0, 8, 1};
    put_be32(l + 4, N);
    fp = fopen(g_lab, "wb");
    if (!fp) return -1;
    fwrite(l, 1, 8, fp);
    for (int i = 0; i < N; i++) fputc(i % 7, fp);
    return fclose(fp) ? -1 : 0;
}

/* One epoch; the sample order into order[] (returns how many), batch sizes into
 * sizes[]; *consistent = 0 if a batch is malformed. */
static int run_epoch(nb_ctx *ctx, nb_loader *l, int epoch, int64_t *order, int *sizes, int *nbatches,
                     int *consistent)
{
    int n = 0, b = 0;
    nb_tensor *x, *y;
    nb_loader_start_epoch(l, epoch);
    while (nb_loader_next(l, &x, &y)) {
        int64_t bs = nb_tensor_dim(x, 0);
        if (nb_tensor_ndim(x) != 4 || nb_tensor_dim(x, 1) != 1 || nb_tensor_dim(x, 2) != H || nb_tensor_dim(x, 3) != W ||
            nb_tensor_dtype(x) != NB_F32 || nb_tensor_ndim(y) != 1 || nb_tensor_dim(y, 0) != bs ||
            nb_tensor_dtype(y) != NB_I64)
            *consistent = 0;
        const float *px = nb_tensor_data(x);
        const int64_t *py = nb_tensor_data_i64(y);
        for (int64_t i = 0; i < bs && n < N + 8; i++) {
            float v = px[i * H * W];
            int64_t idx = (int64_t)lroundf(v * 255.0f);
            for (int k = 0; k < H * W; k++)
                if (px[i * H * W + k] != (float)idx / 255.0f) *consistent = 0;
            if (py[i] != idx % 7) *consistent = 0;
            order[n++] = idx;
        }
        if (b < 64) sizes[b] = (int)bs;
        b++;
        nb_ctx_reset(ctx);
    }
    *nbatches = b;
    return n;
}

/* ---- malloc counting (not under ASan or TSan, which own malloc) ---- */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define COUNT_MALLOC 0
static long mallocs_now(void) { return 0; }
#else
#define COUNT_MALLOC 1
#include <errno.h>
#include <stdatomic.h>
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);
static atomic_long g_allocs;
void *malloc(size_t n) { atomic_fetch_add(&g_allocs, 1); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { atomic_fetch_add(&g_allocs, 1); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { atomic_fetch_add(&g_allocs, 1); return __libc_realloc(p, n); }
void *aligned_alloc(size_t al, size_t n) { atomic_fetch_add(&g_allocs, 1); return __libc_memalign(al, n); }
void *memalign(size_t al, size_t n) { atomic_fetch_add(&g_allocs, 1); return __libc_memalign(al, n); }
int posix_memalign(void **p, size_t al, size_t n)
{
    atomic_fetch_add(&g_allocs, 1);
    *p = __libc_memalign(al, n);
    return *p ? 0 : ENOMEM;
}
void free(void *p) { __libc_free(p); }
static long mallocs_now(void) { return atomic_load(&g_allocs); }
#endif

/* ---- a dataset kind whose samples come from their random stream ----
 * sample i: x[0] = i, x[1..] = uniform draws from the stream it is given,
 * label i % 5; sample fail_at fails with a message naming a file. */
#define RC 2
#define RH 3
#define RW 4
#define RPER (RC * RH * RW)
typedef struct {
    int64_t fail_at;
} rnd_impl;

static nb_status rnd_get(nb_dataset *d, int64_t i, float *out, int64_t *label, nb_rng *rng)
{
    const rnd_impl *p = d->impl;
    if (i == p->fail_at) return nb__fail(NB_ERR_FORMAT, "cannot decode the image /data/broken_%lld.png", (long long)i);
    out[0] = (float)i;
    for (int k = 1; k < RPER; k++) out[k] = nb_rng_uniform(rng);
    *label = i % 5;
    return NB_OK;
}

static void rnd_free(nb_dataset *d) { free(d->impl); }

static const nb_dataset_vtable RND_VT = {.kind = "random", .get = rnd_get, .free = rnd_free};

static nb_dataset *rnd_new(int64_t len, int64_t fail_at)
{
    rnd_impl *p = calloc(1, sizeof *p);
    p->fail_at = fail_at;
    nb_dataset *d = nb__dataset_new(&RND_VT, p);
    d->len = len;
    d->chw[0] = RC, d->chw[1] = RH, d->chw[2] = RW;
    d->num_classes = 5;
    return d;
}

/* One epoch of a loader into xs (by sample index: every sample's values) and the
 * order of samples; returns the number of samples, -1 if a batch is malformed. */
static int epoch_by_index(nb_ctx *ctx, nb_loader *l, int epoch, float *xs, int64_t *order)
{
    nb_tensor *x, *y;
    int n = 0;
    nb_loader_start_epoch(l, epoch);
    while (nb_loader_next(l, &x, &y)) {
        const float *px = nb_tensor_data(x);
        for (int64_t b = 0; b < nb_tensor_dim(x, 0); b++, n++) {
            int64_t i = (int64_t)px[b * RPER];
            if (i < 0 || i >= N || nb_tensor_data_i64(y)[b] != i % 5) return -1;
            memcpy(xs + i * RPER, px + b * RPER, RPER * sizeof(float));
            order[n] = i;
        }
        nb_ctx_reset(ctx);
    }
    return n;
}

static void worker_tests(nb_ctx *ctx, nb_dataset *idx_ds)
{
    nb_dataset *d = rnd_new(N, -1);
    static float ref[2][N * RPER], got[N * RPER];
    int64_t ref_order[2][N], order[N];
    nb_loader *l = nb_loader_new(ctx, d, &(nb_loader_opts){.batch_size = 7, .shuffle = 1, .seed = 11});
    int n0 = epoch_by_index(ctx, l, 0, ref[0], ref_order[0]);
    int n1 = epoch_by_index(ctx, l, 1, ref[1], ref_order[1]);
    nb_loader_free(l);
    CHECK("random dataset, 0 workers: two epochs of 103 samples", n0 == N && n1 == N, "%d %d", n0, n1);
    CHECK("another epoch draws other random values", memcmp(ref[0], ref[1], sizeof ref[0]), "the same");
    const int workers[] = {1, 2, 4, 4};
    const int prefetch[] = {0, 0, 0, 1};
    for (int w = 0; w < 4; w++) {
        l = nb_loader_new(ctx, d, &(nb_loader_opts){.batch_size = 7, .shuffle = 1, .seed = 11, .workers = workers[w],
                                                     .prefetch = prefetch[w]});
        int same = 1;
        for (int e = 0; e < 2; e++) {
            int n = epoch_by_index(ctx, l, e, got, order);
            same &= n == N && !memcmp(got, ref[e], sizeof got) && !memcmp(order, ref_order[e], sizeof order);
        }
        char name[160];
        snprintf(name, sizeof name, "%d workers (prefetch %d): two epochs bit-identical to 0 workers", workers[w],
                 prefetch[w] ? prefetch[w] : 2 * workers[w]);
        CHECK(name, same, "differs");
        nb_loader_free(l);
    }
    /* a sample's stream does not depend on the batch it lands in */
    l = nb_loader_new(ctx, d, &(nb_loader_opts){.batch_size = 16, .shuffle = 1, .seed = 11, .workers = 2});
    int n = epoch_by_index(ctx, l, 1, got, order);
    CHECK("batch size 16 instead of 7: the same samples, the same order", n == N && !memcmp(got, ref[1], sizeof got) &&
                                                                          !memcmp(order, ref_order[1], sizeof order),
          "differs");
    nb_loader_free(l);
    l = nb_loader_new(ctx, d, &(nb_loader_opts){.batch_size = 7, .shuffle = 1, .seed = 12, .workers = 2});
    n = epoch_by_index(ctx, l, 0, got, order);
    CHECK("another seed: other random values", n == N && memcmp(got, ref[0], sizeof got), "the same");

    /* restarting epochs mid-way: the first batch is always the epoch's own */
    nb_loader *l0 = nb_loader_new(ctx, d, &(nb_loader_opts){.batch_size = 7, .shuffle = 1, .seed = 12});
    int restarts_ok = 1;
    for (int e = 0; e < 300; e++) {
        nb_tensor *x, *y, *x0, *y0;
        nb_loader_start_epoch(l, e % 7);
        nb_loader_start_epoch(l0, e % 7);
        int k = e % 3; /* take 1 to 3 batches, then restart */
        for (int b = 0; b <= k; b++) {
            if (!nb_loader_next(l, &x, &y) || !nb_loader_next(l0, &x0, &y0) ||
                memcmp(nb_tensor_data(x), nb_tensor_data(x0), 7 * RPER * sizeof(float)))
                restarts_ok = 0;
        }
        nb_ctx_reset(ctx);
    }
    CHECK("300 epochs restarted after 1-3 batches (2 workers): every batch as without workers", restarts_ok, "differs");
    nb_loader_free(l0);
    nb_loader_free(l);

    /* freeing mid-epoch, right after creation, and with every slot full */
    int freed = 1;
    for (int i = 0; i < 30; i++) {
        l = nb_loader_new(ctx, d, &(nb_loader_opts){.batch_size = 5, .shuffle = 1, .workers = 1 + i % 4,
                                                     .prefetch = i % 3});
        nb_tensor *x, *y;
        for (int b = 0; b < i % 4; b++) freed &= nb_loader_next(l, &x, &y);
        if (i % 5 == 0) nb_loader_start_epoch(l, 3);
        nb_loader_free(l);
        nb_ctx_reset(ctx);
    }
    CHECK("30 loaders freed mid-epoch (1-4 workers, right after creation or after 1-3 batches)", freed, "a batch failed");

    /* a failing sample: the batches before it, then 0 with its message */
    nb_dataset *bad = rnd_new(N, 50);
    for (int w = 0; w <= 4; w += 2) {
        l = nb_loader_new(ctx, bad, &(nb_loader_opts){.batch_size = 10, .workers = w});
        nb_tensor *x, *y;
        int batches = 0;
        nb_clear_error();
        while (nb_loader_next(l, &x, &y)) batches++, nb_ctx_reset(ctx);
        int after = nb_loader_next(l, &x, &y);
        char name[160];
        snprintf(name, sizeof name,
                 "sample 50 fails (%d workers): 5 batches, then 0 with the message naming the file; stays ended", w);
        CHECK(name, batches == 5 && !after && strstr(nb_last_error(), "/data/broken_50.png"), "%d batches: '%s'",
              batches, nb_last_error());
        nb_loader_start_epoch(l, 1);
        batches = 0;
        while (nb_loader_next(l, &x, &y)) batches++, nb_ctx_reset(ctx);
        CHECK(w ? "the next epoch starts over (workers)" : "the next epoch starts over", batches == 5, "%d", batches);
        nb_loader_free(l);
    }
    /* shuffled: the failing sample's batch is wherever the permutation puts it */
    l = nb_loader_new(ctx, bad, &(nb_loader_opts){.batch_size = 10, .shuffle = 1, .seed = 3, .workers = 3});
    nb_loader *lref = nb_loader_new(ctx, bad, &(nb_loader_opts){.batch_size = 10, .shuffle = 1, .seed = 3});
    nb_tensor *x, *y;
    int bw = 0, b0 = 0;
    while (nb_loader_next(l, &x, &y)) bw++, nb_ctx_reset(ctx);
    while (nb_loader_next(lref, &x, &y)) b0++, nb_ctx_reset(ctx);
    CHECK("shuffled, 3 workers: the error comes at the same batch as without workers", bw == b0 && b0 < 10,
          "%d vs %d", bw, b0);
    nb_loader_free(lref);
    nb_loader_free(l);
    nb_dataset_free(bad);

    CHECK("negative workers rejected", !nb_loader_new(ctx, d, &(nb_loader_opts){.workers = -1}) &&
                                           strstr(nb_last_error(), "workers"),
          "%s", nb_last_error());

    /* steady state with workers on the IDX dataset: no heap allocation in an epoch */
    l = nb_loader_new(ctx, idx_ds, &(nb_loader_opts){.batch_size = 8, .shuffle = 1, .workers = 2});
    epoch_by_index(ctx, l, 0, got, order); /* warm the arena up (values are not checked here) */
    long m0 = mallocs_now();
    int nb = 0;
    for (int e = 1; e < 4; e++) {
        nb_loader_start_epoch(l, e);
        while (nb_loader_next(l, &x, &y)) nb++, nb_ctx_reset(ctx);
    }
    long m1 = mallocs_now();
    if (COUNT_MALLOC)
        CHECK("3 epochs with 2 workers make no heap allocation (malloc counted process-wide)", m1 == m0 && nb == 39,
              "%ld allocations, %d batches", m1 - m0, nb);
    else
        printf("SKIP no-allocation check: malloc is the sanitizer's in this build\n");
    nb_loader_free(l);
    nb_dataset_free(d);
}

/* ---- augmentation ---- */
#define AN 50
#define AS 28

/* A 28x28 IDX set of AN images with hashed pixels; label i % 10. */
static int make_aug_files(const char *img, const char *lab)
{
    unsigned char h[16] = {0, 0, 8, 3};
    put_be32(h + 4, AN), put_be32(h + 8, AS), put_be32(h + 12, AS);
    FILE *fp = fopen(img, "wb");
    if (!fp) return -1;
    fwrite(h, 1, 16, fp);
    for (uint32_t i = 0; i < AN * AS * AS; i++) fputc((int)((i * 2654435761u) >> 24), fp);
    if (fclose(fp)) return -1;
    unsigned char l[8] = {0, 0, 8, 1};
    put_be32(l + 4, AN);
    fp = fopen(lab, "wb");
    if (!fp) return -1;
    fwrite(l, 1, 8, fp);
    for (int i = 0; i < AN; i++) fputc(i % 10, fp);
    return fclose(fp) ? -1 : 0;
}

/* Every batch of one epoch concatenated: x into xs, y (labels) into ys, soft targets
 * into soft (if mixing); returns the number of samples or -1. */
static int aug_epoch(nb_ctx *ctx, nb_loader *l, int epoch, float *xs, int64_t *ys, float *soft, int64_t per)
{
    nb_tensor *x, *y, *t;
    int n = 0;
    nb_loader_start_epoch(l, epoch);
    while (nb_loader_next_mixed(l, &x, &y, &t)) {
        int64_t b = nb_tensor_dim(x, 0);
        if (n + b > AN || nb_tensor_numel(x) != b * per) return -1;
        memcpy(xs + n * per, nb_tensor_data(x), (size_t)(b * per) * sizeof(float));
        memcpy(ys + n, nb_tensor_data_i64(y), (size_t)b * sizeof(int64_t));
        if (soft && (!t || nb_tensor_dim(t, 1) != 10)) return -1;
        if (soft) memcpy(soft + n * 10, nb_tensor_data(t), (size_t)b * 10 * sizeof(float));
        if (!soft && t) return -1;
        n += (int)b;
        nb_ctx_reset(ctx);
    }
    return n;
}

static void aug_tests(nb_ctx *ctx)
{
    char img[512], lab[512];
    snprintf(img, sizeof img, "/tmp/nb_test_loader_aug.%ld.img", (long)getpid());
    snprintf(lab, sizeof lab, "/tmp/nb_test_loader_aug.%ld.lab", (long)getpid());
    if (make_aug_files(img, lab)) {
        CHECK("write the 28x28 set", 0, "cannot write %s", img);
        return;
    }
    nb_dataset *d = nb_idx_dataset_new(img, lab);
    const int64_t per = AS * AS;
    static float plain[AN * AS * AS], ref[AN * AS * AS], got[AN * AS * AS], rsoft[AN * 10], gsoft[AN * 10];
    int64_t py[AN], ry[AN], gy[AN];
    nb_loader_opts base = {.batch_size = 8, .shuffle = 1, .seed = 9};
    nb_loader *l = nb_loader_new(ctx, d, &base);
    int np = aug_epoch(ctx, l, 2, plain, py, NULL, per);
    nb_loader_free(l);

    /* the pipeline, 0/1/2/4 workers */
    nb_transform *tf = nb_transform_parse("random_crop(28, padding=2), hflip, random_erasing(p=0.5)");
    CHECK("the issue's pipeline parses", tf != NULL, "%s", nb_last_error());
    if (!tf) return;
    const char *what[3] = {"random_crop(28, padding=2), hflip, random_erasing(p=0.5)", "the same + MixUp(0.4) + CutMix(1.0)",
                           "CutMix(1.0) alone"};
    for (int v = 0; v < 3; v++) {
        nb_loader_opts o = base;
        o.transform = v < 2 ? tf : NULL;
        o.mixup_alpha = v == 1 ? 0.4f : 0;
        o.cutmix_alpha = v >= 1 ? 1.0f : 0;
        float *soft_r = v ? rsoft : NULL, *soft_g = v ? gsoft : NULL;
        l = nb_loader_new(ctx, d, &o);
        int nr = aug_epoch(ctx, l, 2, ref, ry, soft_r, per);
        nb_loader_free(l);
        int same = nr == AN;
        for (int w = 1; w <= 4; w *= 2) {
            o.workers = w;
            l = nb_loader_new(ctx, d, &o);
            int ng = aug_epoch(ctx, l, 2, got, gy, soft_g, per);
            same &= ng == AN && !memcmp(ref, got, sizeof ref) && !memcmp(ry, gy, sizeof ry) &&
                    (!v || !memcmp(rsoft, gsoft, sizeof rsoft));
            nb_loader_free(l);
        }
        char name[200];
        snprintf(name, sizeof name, "%s: bit-identical batches with 0, 1, 2 and 4 workers", what[v]);
        CHECK(name, same, "differs (%d samples)", nr);
        CHECK(v ? "... and the batches are augmented (differ from the plain ones)"
                : "the pipeline changes the batches (differ from the plain ones)",
              np == AN && memcmp(ref, plain, sizeof ref) && !memcmp(ry, py, sizeof ry), "unchanged");
    }
    /* steady state with the pipeline and 2 workers: no heap allocation per epoch */
    l = nb_loader_new(ctx, d, &(nb_loader_opts){.batch_size = 8, .shuffle = 1, .transform = tf, .workers = 2,
                                                 .cutmix_alpha = 1.0f});
    aug_epoch(ctx, l, 0, got, gy, gsoft, per);
    long m0 = mallocs_now();
    for (int e = 1; e < 4; e++) aug_epoch(ctx, l, e, got, gy, gsoft, per);
    if (COUNT_MALLOC)
        CHECK("3 epochs with the pipeline, CutMix and 2 workers make no heap allocation", mallocs_now() == m0,
              "%ld allocations", mallocs_now() - m0);
    nb_loader_free(l);
    nb_transform_free(tf);

    /* hflip alone: each sample is exactly itself or its mirror, about half mirrored */
    tf = nb_transform_parse("hflip");
    l = nb_loader_new(ctx, d, &(nb_loader_opts){.batch_size = 8, .shuffle = 1, .seed = 9, .transform = tf, .workers = 2});
    int n = aug_epoch(ctx, l, 2, got, gy, NULL, per), flipped = 0, exact = n == AN;
    for (int i = 0; i < n; i++) {
        int same = !memcmp(got + i * per, plain + i * per, (size_t)per * sizeof(float)), mirror = 1;
        for (int r = 0; r < AS && mirror; r++)
            for (int c = 0; c < AS; c++)
                if (got[i * per + r * AS + c] != plain[i * per + r * AS + AS - 1 - c]) mirror = 0;
        exact &= same || mirror;
        flipped += mirror;
    }
    CHECK("hflip: every sample exact or mirrored, 15 to 35 of 50 mirrored", exact && flipped >= 15 && flipped <= 35,
          "exact %d, %d mirrored", exact, flipped);
    nb_loader_free(l);
    nb_transform_free(tf);

    /* a pipeline that changes the shape sets the batch shape */
    tf = nb_transform_parse("center_crop(20)");
    l = nb_loader_new(ctx, d, &(nb_loader_opts){.batch_size = 8, .transform = tf, .workers = 1});
    int64_t chw[3] = {0};
    nb_loader_sample_shape(l, chw);
    nb_tensor *x, *y;
    int ok = l && nb_loader_next(l, &x, &y);
    CHECK("center_crop(20): batches (8, 1, 20, 20)", ok && chw[1] == 20 && chw[2] == 20 && nb_tensor_dim(x, 2) == 20 &&
                                                         nb_tensor_dim(x, 3) == 20 && nb_tensor_dim(x, 0) == 8,
          "%s", nb_last_error());
    nb_ctx_reset(ctx);
    nb_loader_free(l);
    nb_transform_free(tf);
    tf = nb_transform_parse("random_crop(40)");
    l = nb_loader_new(ctx, d, &(nb_loader_opts){.batch_size = 8, .transform = tf});
    CHECK("a crop larger than the samples: the loader is refused with a message", !l && strstr(nb_last_error(), "28"),
          "%s", nb_last_error());
    nb_transform_free(tf);

    /* MixUp: x' = λ·x + (1-λ)·roll(x), targets mixed with the same λ */
    l = nb_loader_new(ctx, d, &(nb_loader_opts){.batch_size = 10, .shuffle = 1, .seed = 9, .mixup_alpha = 0.4f});
    nb_loader *lp = nb_loader_new(ctx, d, &(nb_loader_opts){.batch_size = 10, .shuffle = 1, .seed = 9});
    int mix_ok = 1, lam_seen = 0;
    double worst = 0;
    for (int b = 0; b < 5; b++) {
        nb_tensor *mx, *my, *ms, *px, *pyt;
        if (!nb_loader_next_mixed(l, &mx, &my, &ms) || !nb_loader_next(lp, &px, &pyt)) {
            mix_ok = 0;
            break;
        }
        const float *a = nb_tensor_data(mx), *o = nb_tensor_data(px), *t = nb_tensor_data(ms);
        const int64_t *lb = nb_tensor_data_i64(my);
        float lam = -1;
        for (int i = 0; i < 10 && lam < 0; i++)
            if (lb[i] != lb[(i + 9) % 10]) lam = t[i * 10 + lb[i]];
        lam_seen += lam > 0 && lam < 1;
        for (int i = 0; i < 10; i++) {
            int j = (i + 9) % 10;
            float rowsum = 0;
            for (int c = 0; c < 10; c++) {
                float want = (c == lb[i] ? lam : 0) + (c == lb[j] ? 1 - lam : 0);
                rowsum += t[i * 10 + c];
                if (fabsf(t[i * 10 + c] - want) > 1e-6f) mix_ok = 0;
            }
            if (fabsf(rowsum - 1) > 1e-5f || lb[i] != nb_tensor_data_i64(pyt)[i]) mix_ok = 0;
            for (int k = 0; k < per; k++) {
                double e = fabs(a[i * per + k] - (lam * o[i * per + k] + (1 - lam) * o[j * per + k]));
                worst = e > worst ? e : worst;
            }
        }
        nb_ctx_reset(ctx);
    }
    CHECK("MixUp: x = λ·x + (1-λ)·roll(x) and targets λ·onehot(y) + (1-λ)·onehot(roll(y)), λ in (0, 1)",
          mix_ok && worst < 1e-6 && lam_seen == 5, "targets %d, worst pixel error %g, %d batches with 0 < λ < 1", mix_ok,
          worst, lam_seen);
    nb_loader_start_epoch(l, 0);
    ok = nb_loader_next(l, &x, &y);
    CHECK("with mixing, nb_loader_next's y is the soft targets (B, 10) F32",
          ok && nb_tensor_dtype(y) == NB_F32 && nb_tensor_ndim(y) == 2 && nb_tensor_dim(y, 1) == 10, "%s",
          nb_last_error());
    nb_ctx_reset(ctx);
    nb_loader_free(l);
    nb_loader_free(lp);

    /* CutMix: each pixel from x or roll(x); the targets' λ is the share kept */
    l = nb_loader_new(ctx, d, &(nb_loader_opts){.batch_size = 10, .shuffle = 1, .seed = 9, .cutmix_alpha = 1.0f,
                                                 .workers = 2});
    lp = nb_loader_new(ctx, d, &(nb_loader_opts){.batch_size = 10, .shuffle = 1, .seed = 9});
    int cut_ok = 1, boxes = 0;
    for (int b = 0; b < 5; b++) {
        nb_tensor *mx, *my, *ms, *px, *pyt;
        if (!nb_loader_next_mixed(l, &mx, &my, &ms) || !nb_loader_next(lp, &px, &pyt)) {
            cut_ok = 0;
            break;
        }
        const float *a = nb_tensor_data(mx), *o = nb_tensor_data(px), *t = nb_tensor_data(ms);
        const int64_t *lb = nb_tensor_data_i64(my);
        int from_roll = 0; /* pixels of sample 0 that come from sample 9 and differ from its own */
        for (int i = 0; i < 10; i++) {
            int j = (i + 9) % 10;
            for (int k = 0; k < per; k++) {
                int own = a[i * per + k] == o[i * per + k], other = a[i * per + k] == o[j * per + k];
                if (!own && !other) cut_ok = 0;
                if (i == 0 && other && !own) from_roll++;
            }
        }
        /* the hashed pixels make ties rare: the rolled share of sample 0 is about 1 - λ */
        float lam = lb[0] != lb[9] ? t[lb[0]] : -1;
        if (lam >= 0 && fabsf((1 - lam) - (float)from_roll / (float)per) > 0.02f) cut_ok = 0;
        boxes += from_roll > 0;
        nb_ctx_reset(ctx);
    }
    CHECK("CutMix (2 workers): every pixel from x or roll(x), target λ = share of pixels kept, boxes pasted",
          cut_ok && boxes >= 3, "ok %d, %d batches with a box", cut_ok, boxes);
    nb_loader_free(l);
    nb_loader_free(lp);
    l = nb_loader_new(ctx, d, &(nb_loader_opts){.mixup_alpha = -1});
    CHECK("negative mixup_alpha rejected", !l && strstr(nb_last_error(), "mixup_alpha"), "%s", nb_last_error());

    nb_dataset_free(d);
    unlink(img);
    unlink(lab);
}

static int is_permutation(const int64_t *order, int n)
{
    int seen[N] = {0};
    if (n != N) return 0;
    for (int i = 0; i < n; i++) {
        if (order[i] < 0 || order[i] >= N || seen[order[i]]) return 0;
        seen[order[i]] = 1;
    }
    return 1;
}

static int distinct(const int64_t *order, int n)
{
    int seen[N] = {0}, k = 0;
    for (int i = 0; i < n; i++)
        if (order[i] >= 0 && order[i] < N && !seen[order[i]]) seen[order[i]] = 1, k++;
    return k;
}

int main(void)
{
    snprintf(g_img, sizeof g_img, "/tmp/nb_test_loader.%ld.img", (long)getpid());
    snprintf(g_lab, sizeof g_lab, "/tmp/nb_test_loader.%ld.lab", (long)getpid());
    if (make_files()) {
        CHECK("write the synthetic dataset", 0, "cannot write %s", g_img);
        CHECK_DONE();
    }
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_dataset *d = nb_idx_dataset_new(g_img, g_lab);
    CHECK("synthetic dataset opens", d && nb_dataset_len(d) == N, "%s", nb_last_error());
    if (!d) CHECK_DONE();

    int64_t order[N + 8], order2[N + 8];
    int sizes[64], nb, consistent = 1;

    /* no shuffle: file order, last batch partial */
    nb_loader *l = nb_loader_new(ctx, d, &(nb_loader_opts){.batch_size = 10});
    CHECK("num_batches 103 / 10 = 11", nb_loader_num_batches(l) == 11, "%lld", (long long)nb_loader_num_batches(l));
    int n = run_epoch(ctx, l, 0, order, sizes, &nb, &consistent);
    int in_order = n == N;
    for (int i = 0; i < n && in_order; i++) in_order = order[i] == i;
    CHECK("no shuffle: every sample in file order", in_order, "n %d, order[1] %lld", n, (long long)order[1]);
    CHECK("batches (10,1,2,3) x 10 then (3,1,2,3); y (B) I64 matching x", consistent && nb == 11 && sizes[0] == 10 &&
                                                                             sizes[9] == 10 && sizes[10] == 3,
          "consistent %d, %d batches, last %d", consistent, nb, nb > 0 && nb <= 64 ? sizes[nb - 1] : -1);
    nb_tensor *x, *y;
    CHECK("next after the end returns 0 with NULL tensors", !nb_loader_next(l, &x, &y) && !x && !y, "returned a batch");
    nb_loader_free(l);

    /* drop_last */
    l = nb_loader_new(ctx, d, &(nb_loader_opts){.batch_size = 10, .drop_last = 1, .shuffle = 1, .seed = 5});
    CHECK("drop_last: num_batches 10", nb_loader_num_batches(l) == 10, "%lld", (long long)nb_loader_num_batches(l));
    n = run_epoch(ctx, l, 0, order, sizes, &nb, &consistent);
    int all10 = nb == 10;
    for (int i = 0; i < nb && i < 64; i++) all10 &= sizes[i] == 10;
    CHECK("drop_last: 10 full batches, 100 samples, no repeats", all10 && n == 100 && distinct(order, n) == 100 && consistent, "%d batches, %d samples",
          nb, n);
    nb_loader_free(l);

    /* shuffling */
    nb_loader *a = nb_loader_new(ctx, d, &(nb_loader_opts){.batch_size = 16, .shuffle = 1, .seed = 42});
    nb_loader *b = nb_loader_new(ctx, d, &(nb_loader_opts){.batch_size = 16, .shuffle = 1, .seed = 42});
    n = run_epoch(ctx, a, 3, order, sizes, &nb, &consistent);
    CHECK("shuffled epoch: every index exactly once", is_permutation(order, n) && consistent && nb == 7, "n %d nb %d", n, nb);
    int identity = 1;
    for (int i = 0; i < n; i++) identity &= order[i] == i;
    CHECK("shuffled epoch is not file order", !identity, "identity permutation");
    int n2 = run_epoch(ctx, b, 3, order2, sizes, &nb, &consistent);
    CHECK("same seed and epoch: same order (another loader)", n2 == n && !memcmp(order, order2, sizeof(int64_t) * (size_t)n),
          "differs");
    n2 = run_epoch(ctx, a, 3, order2, sizes, &nb, &consistent);
    CHECK("same epoch again: same order", n2 == n && !memcmp(order, order2, sizeof(int64_t) * (size_t)n), "differs");
    n2 = run_epoch(ctx, a, 4, order2, sizes, &nb, &consistent);
    CHECK("another epoch: another order, still a permutation",
          is_permutation(order2, n2) && memcmp(order, order2, sizeof(int64_t) * (size_t)n), "same order");
    nb_loader *c = nb_loader_new(ctx, d, &(nb_loader_opts){.batch_size = 16, .shuffle = 1, .seed = 43});
    n2 = run_epoch(ctx, c, 3, order2, sizes, &nb, &consistent);
    CHECK("another seed: another order", is_permutation(order2, n2) && memcmp(order, order2, sizeof(int64_t) * (size_t)n),
          "same order");
    /* position spread: over many epochs each index visits the first slot about equally */
    int firsts[N] = {0};
    for (int e = 0; e < 2000; e++) {
        nb_loader_start_epoch(c, e);
        if (nb_loader_next(c, &x, &y)) firsts[(int64_t)lroundf(nb_tensor_data(x)[0] * 255.0f) % N]++;
        nb_ctx_reset(ctx);
    }
    int maxf = 0, hit = 0;
    for (int i = 0; i < N; i++) maxf = firsts[i] > maxf ? firsts[i] : maxf, hit += firsts[i] > 0;
    CHECK("Fisher-Yates: over 2000 epochs every index comes first, none more than 2.5x its share",
          hit == N && maxf < 2.5 * 2000 / N, "%d indices seen first, max %d", hit, maxf);

    /* steady state: after the first epoch the arena does not grow */
    run_epoch(ctx, a, 5, order, sizes, &nb, &consistent);
    size_t m0 = nb_ctx_arena_mallocs(ctx);
    run_epoch(ctx, a, 6, order, sizes, &nb, &consistent);
    CHECK("an epoch with nb_ctx_reset per step makes no arena allocation", nb_ctx_arena_mallocs(ctx) == m0, "%zu -> %zu", m0,
          nb_ctx_arena_mallocs(ctx));
    nb_loader_free(a);
    nb_loader_free(b);
    nb_loader_free(c);

    /* options */
    l = nb_loader_new(ctx, d, NULL);
    CHECK("NULL options: batch_size 1, 103 batches", l && nb_loader_num_batches(l) == N, "%s", nb_last_error());
    nb_loader_free(l);
    l = nb_loader_new(ctx, d, &(nb_loader_opts){.batch_size = 1000});
    CHECK("batch larger than the dataset: one batch of 103",
          l && nb_loader_num_batches(l) == 1 && nb_loader_next(l, &x, &y) && nb_tensor_dim(x, 0) == N, "%s", nb_last_error());
    nb_loader_free(l);
    nb_ctx_reset(ctx);
    l = nb_loader_new(ctx, d, &(nb_loader_opts){.batch_size = 1000, .drop_last = 1});
    CHECK("drop_last with a batch larger than the dataset: no batch",
          l && nb_loader_num_batches(l) == 0 && !nb_loader_next(l, &x, &y), "batches %lld", (long long)nb_loader_num_batches(l));
    nb_loader_free(l);
    l = nb_loader_new(ctx, d, &(nb_loader_opts){.batch_size = -4});
    CHECK("negative batch_size rejected", !l && strstr(nb_last_error(), "batch_size"), "%s", nb_last_error());
    l = nb_loader_new(ctx, NULL, NULL);
    CHECK("NULL dataset rejected", !l && strstr(nb_last_error(), "dataset"), "%s", nb_last_error());

    worker_tests(ctx, d);
    aug_tests(ctx);

    nb_dataset_free(d);
    nb_ctx_free(ctx);
    unlink(g_img);
    unlink(g_lab);
    CHECK_DONE();
}
