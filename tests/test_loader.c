/* test_loader.c - mini-batches: shapes, drop_last, file order without shuffle,
 * every sample exactly once per epoch, the same (seed, epoch) gives the same
 * order and another epoch or seed another one, and a steady-state epoch makes no
 * arena allocation. Runs on a small synthetic IDX dataset written to /tmp:
 * sample i has every pixel (i % 251) and label i % 7, so a batch tells which
 * samples it holds. */
#include "check.h"
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

    nb_dataset_free(d);
    nb_ctx_free(ctx);
    unlink(g_img);
    unlink(g_lab);
    CHECK_DONE();
}
