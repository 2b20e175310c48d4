/* test_dist.c - data parallelism (src/dist). As one process (tests/run.sh): the
 * process group of one, DistributedSampler's shards against the single-process
 * order, dataset shards, DDP as a no-op. Under `mpirun -np 2` (tests/dist.sh): rank
 * 0's weights reach every rank, parameters and buffers are bit-identical on every
 * rank after every step (checksums compared across ranks), with one bucket or many,
 * with and without SyncBatchNorm, and a model that differs across ranks is an error
 * naming the parameter on every rank. Needs Fashion-MNIST (dataset-fashion-mnist). */
#include "check.h"
#include "ops/norm.h" /* nb__sync_batch_norm */
#include "nabla.h"

#include <stdint.h>

static char name_buf[256];
/* a check name with this rank's prefix under mpirun */
static const char *nm(const char *s)
{
    if (nb_dist_world() > 1) snprintf(name_buf, sizeof name_buf, "rank%d/%s", nb_dist_rank(), s);
    else snprintf(name_buf, sizeof name_buf, "%s", s);
    return name_buf;
}

/* FNV-1a over the bits of every parameter and (with_buffers) buffer */
static uint64_t checksum(nb_module *m, int with_buffers)
{
    int n;
    const nb_named_tensor *st = nb_module_state(m, &n);
    uint64_t h = 1469598103934665603ULL;
    for (int i = 0; i < n; i++) {
        if (st[i].is_buffer && !with_buffers) continue;
        nb_tensor *t = st[i].tensor;
        int i64 = nb_tensor_dtype(t) == NB_I64;
        const unsigned char *p = i64 ? (const unsigned char *)nb_tensor_data_i64(t) : (const unsigned char *)nb_tensor_data(t);
        size_t bytes = (size_t)nb_tensor_numel(t) * (i64 ? 8 : 4);
        for (size_t k = 0; k < bytes; k++) h = (h ^ p[k]) * 1099511628211ULL;
    }
    return h;
}

/* Is h the same on every rank? (its two 32-bit halves, min == max) */
static int same_everywhere(uint64_t h)
{
    double lo[2] = {(double)(h & 0xffffffffu), (double)(h >> 32)}, hi[2] = {lo[0], lo[1]};
    nb_dist_allreduce(lo, 2, NB_DIST_MIN);
    nb_dist_allreduce(hi, 2, NB_DIST_MAX);
    return lo[0] == hi[0] && lo[1] == hi[1];
}

static const char *SMOOTH = "conv2d(1, 4, 3, padding=1)\n tanh()\n avgpool2d(2)\n flatten()\n linear(784, 16)\n"
                            "elu()\n linear(16, 10)\n";
static const char *SMOOTH_BN = "conv2d(1, 4, 3, padding=1)\n batchnorm2d(4)\n tanh()\n avgpool2d(2)\n flatten()\n"
                               "linear(784, 16)\n batchnorm1d(16)\n elu()\n linear(16, 10)\n";

/* Train k steps of text's model under DDP with opts; every step's checksum must agree
 * across ranks: of the parameters, and with SyncBatchNorm also of the buffers (else
 * each rank's running statistics follow its own batches until the next forward
 * broadcasts rank 0's, as in DDP). *sum receives the last checksum. */
static void train_steps(nb_dataset *d, const char *what, const char *text, const nb_ddp_opts *o, int k,
                        uint64_t *sum)
{
    char nbuf[160];
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.seed = (uint64_t)(1 + nb_dist_rank()), .threads = 1});
    nb_module *m = nb_model_file_parse(ctx, text, NULL);
    nb_ddp *ddp = m ? nb_ddp_new(m, o) : NULL;
    int np;
    nb_tensor **params = m ? nb_module_parameters(m, &np) : NULL;
    nb_optim *opt = params ? nb_sgd_new(params, np, &(nb_sgd_opts){.lr = 0.1f, .momentum = 0.9f}) : NULL;
    nb_loader *l = opt ? nb_loader_new(ctx, d,
                                       &(nb_loader_opts){.batch_size = 32, .shuffle = 1, .seed = 7,
                                                         .num_replicas = nb_dist_world(), .rank = nb_dist_rank()})
                       : NULL;
    snprintf(nbuf, sizeof nbuf, "%s: set up", what);
    CHECK(nm(nbuf), l, "%s", nb_last_error());
    if (!l) goto out;
    snprintf(nbuf, sizeof nbuf, "%s: rank 0's weights on every rank at the start", what);
    CHECK(nm(nbuf), same_everywhere(checksum(m, 1)), "checksums differ");
    int bufs = o && o->sync_bn;
    nb_module_train(m, 1);
    int all_same = 1, bad_step = -1;
    for (int s = 0; s < k; s++) {
        nb_ctx_reset(ctx);
        nb_tensor *x, *y;
        if (!nb_loader_next(l, &x, &y)) break;
        nb_optim_zero_grad(opt);
        nb_tensor *loss = nb_cross_entropy(nb_ddp_forward(ddp, x), y, NULL);
        if (nb_backward(loss) || nb_optim_step(opt)) {
            all_same = 0;
            break;
        }
        if (!same_everywhere(checksum(m, bufs)) && all_same) all_same = 0, bad_step = s + 1;
    }
    snprintf(nbuf, sizeof nbuf, "%s: parameters%s bit-identical on every rank after each of %d steps", what,
             bufs ? " and buffers" : "", k);
    CHECK(nm(nbuf), all_same, "they differ after step %d (%s)", bad_step, nb_last_error());
    if (!bufs) {
        nb_ddp_broadcast_buffers(ddp);
        snprintf(nbuf, sizeof nbuf, "%s: buffers bit-identical once broadcast", what);
        CHECK(nm(nbuf), same_everywhere(checksum(m, 1)), "checksums differ");
    }
    *sum = checksum(m, 1);
out:
    nb_loader_free(l);
    nb_optim_free(opt);
    nb_ddp_free(ddp);
    nb_module_free(m);
    nb_ctx_free(ctx);
}

static void sampler_checks(nb_dataset *d)
{
    /* the single-process order of epoch 3, then each of 3 ranks' shard of it */
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.threads = 1});
    int64_t N = nb_dataset_len(d), W = 3, per = 784, len = (N + W - 1) / W;
    nb_loader *all = nb_loader_new(ctx, d, &(nb_loader_opts){.batch_size = (int)N, .shuffle = 1, .seed = 5});
    nb_tensor *xa, *ya, *x, *y;
    nb_loader_start_epoch(all, 3);
    int ok = nb_loader_next(all, &xa, &ya);
    CHECK("sampler: the single-process epoch", ok, "%s", nb_last_error());
    if (!ok) goto out;
    const float *fa = nb_tensor_data(xa);
    for (int r = 0; r < W; r++) {
        nb_loader *l = nb_loader_new(ctx, d, &(nb_loader_opts){.batch_size = (int)len, .shuffle = 1, .seed = 5,
                                                               .num_replicas = (int)W, .rank = r});
        CHECK("sampler: ceil(N/W) samples per rank", l && nb_loader_num_batches(l) == 1,
              "%lld batches of %lld", (long long)nb_loader_num_batches(l), (long long)len);
        nb_loader_start_epoch(l, 3);
        int got = l && nb_loader_next(l, &x, &y);
        int64_t bad = -1;
        if (got && nb_tensor_numel(y) != len) bad = -2;
        for (int64_t k = 0; got && bad == -1 && k < len; k++) {
            int64_t j = (r + k * W) % N; /* padded by repeating from the start */
            if (memcmp((const float *)nb_tensor_data(x) + k * per, fa + j * per, (size_t)per * sizeof(float)))
                bad = k;
        }
        char nbuf[96];
        snprintf(nbuf, sizeof nbuf, "sampler: rank %d of %lld takes r, r+W, ... of the epoch's order", r,
                 (long long)W);
        CHECK(nbuf, got && bad == -1, "sample %lld differs (got %d)", (long long)bad, got);
        nb_loader_free(l);
    }
    /* augmentation streams per rank: sample 0 is rank 0's first and (padding) rank 1's last */
    nb_transform *tf = nb_transform_parse("random_crop(28, padding=4)");
    float *first[2] = {NULL, NULL};
    int repro = 1;
    for (int r = 0; r < 2 && tf; r++)
        for (int again = 0; again < 2; again++) {
            nb_loader *l = nb_loader_new(ctx, d, &(nb_loader_opts){.batch_size = (int)len, .seed = 5, .transform = tf,
                                                                   .num_replicas = (int)W, .rank = r});
            nb_ctx_reset(ctx);
            if (!l || !nb_loader_next(l, &x, &y)) {
                repro = 0;
                nb_loader_free(l);
                continue;
            }
            const float *s = (const float *)nb_tensor_data(x) + (r == 0 ? 0 : (len - 1) * per);
            if (!again) {
                first[r] = malloc((size_t)per * sizeof(float));
                memcpy(first[r], s, (size_t)per * sizeof(float));
            } else if (memcmp(first[r], s, (size_t)per * sizeof(float))) {
                repro = 0;
            }
            nb_loader_free(l);
        }
    CHECK("sampler: augmentation is reproducible per rank", tf && repro, "%s", nb_last_error());
    CHECK("sampler: the same sample is augmented differently on two ranks",
          first[0] && first[1] && memcmp(first[0], first[1], (size_t)per * sizeof(float)), "identical");
    free(first[0]);
    free(first[1]);
    nb_transform_free(tf);
    nb_loader *bad = nb_loader_new(ctx, d, &(nb_loader_opts){.num_replicas = 2, .rank = 2});
    CHECK("sampler: a rank outside num_replicas is an error", !bad && strstr(nb_last_error(), "rank 2"), "%s",
          nb_last_error());
    nb_loader_free(bad);
    /* shards for evaluation: no padding */
    nb_dataset *s0 = nb_dataset_shard(d, 0, 3), *s2 = nb_dataset_shard(d, 2, 3);
    CHECK("shard: lengths without padding", nb_dataset_len(s0) == (N + 2) / 3 && nb_dataset_len(s2) == N / 3,
          "%lld %lld", (long long)nb_dataset_len(s0), (long long)nb_dataset_len(s2));
    nb_dataset_free(s0);
    nb_dataset_free(s2);
out:
    nb_loader_free(all);
    nb_ctx_free(ctx);
}

/* SyncBatchNorm's op against nb_batch_norm: as one process they must agree (forward,
 * running statistics and the gradients of x, weight and bias), with and without the
 * fused ReLU, for (N, C, H, W) and (N, C) input. */
static void syncbn_single_checks(void)
{
    for (int v = 0; v < 4; v++) {
        int relu = v & 1, four = !(v & 2);
        nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.seed = 11, .threads = 1});
        int64_t shp4[4] = {4, 3, 5, 5}, shp2[2] = {6, 3}, C = 3;
        nb_rng *r = nb_ctx_rng(ctx);
        nb_tensor *x[2], *w[2], *b[2], *rm[2], *rv[2], *y[2], *g = NULL;
        for (int k = 0; k < 2; k++) {
            x[k] = nb_tensor_new(ctx, NB_F32, four ? 4 : 2, four ? shp4 : shp2);
            w[k] = nb_tensor_new(ctx, NB_F32, 1, &C);
            b[k] = nb_tensor_new(ctx, NB_F32, 1, &C);
            rm[k] = nb_tensor_new(ctx, NB_F32, 1, &C);
            rv[k] = nb_tensor_new(ctx, NB_F32, 1, &C);
        }
        for (int64_t i = 0; i < nb_tensor_numel(x[0]); i++)
            nb_tensor_data(x[0])[i] = nb_tensor_data(x[1])[i] = 2.0f * nb_rng_normal(r) + 0.5f;
        for (int64_t c = 0; c < C; c++) {
            nb_tensor_data(w[0])[c] = nb_tensor_data(w[1])[c] = 1.0f + 0.3f * nb_rng_normal(r);
            nb_tensor_data(b[0])[c] = nb_tensor_data(b[1])[c] = 0.2f * nb_rng_normal(r);
            nb_tensor_data(rm[0])[c] = nb_tensor_data(rm[1])[c] = 0.1f;
            nb_tensor_data(rv[0])[c] = nb_tensor_data(rv[1])[c] = 0.9f;
        }
        for (int k = 0; k < 2; k++) {
            nb_tensor_set_requires_grad(x[k], 1);
            nb_tensor_set_requires_grad(w[k], 1);
            nb_tensor_set_requires_grad(b[k], 1);
        }
        y[0] = nb_batch_norm(x[0], rm[0], rv[0], w[0], b[0], 1, 0.1f, 1e-5f);
        if (relu) y[0] = nb_relu(y[0]);
        y[1] = nb__sync_batch_norm("BatchNorm", x[1], rm[1], rv[1], w[1], b[1], 0.1f, 1e-5f, relu);
        /* a loss with a gradient that differs per element */
        g = nb_tensor_new(ctx, NB_F32, nb_tensor_ndim(x[0]), nb_tensor_shape(x[0]));
        for (int64_t i = 0; i < nb_tensor_numel(g); i++) nb_tensor_data(g)[i] = nb_rng_normal(r);
        nb_status st = nb_backward(nb_add(nb_sum(nb_mul(y[0], g)), nb_sum(nb_mul(y[1], g)))); /* one tape */
        CHECK("SyncBatchNorm as one process: backward", st == NB_OK && nb_tensor_grad(x[1]) && nb_tensor_grad(w[1]),
              "%s", nb_last_error());
        if (st) return;
        char nbuf[96];
        const char *what = relu ? (four ? "(N,C,H,W) + ReLU" : "(N,C) + ReLU") : (four ? "(N,C,H,W)" : "(N,C)");
        int64_t n = nb_tensor_numel(x[0]);
        snprintf(nbuf, sizeof nbuf, "SyncBatchNorm as one process = BatchNorm %s: output", what);
        CHECK_CLOSE(nbuf, nb_tensor_data(y[1]), nb_tensor_data(y[0]), n, 1e-5);
        snprintf(nbuf, sizeof nbuf, "SyncBatchNorm as one process = BatchNorm %s: running stats", what);
        CHECK(nbuf, check_max_rel(nb_tensor_data(rm[1]), nb_tensor_data(rm[0]), C, 1.0, NULL) < 1e-6 &&
                        check_max_rel(nb_tensor_data(rv[1]), nb_tensor_data(rv[0]), C, 1.0, NULL) < 1e-6,
              "differ");
        snprintf(nbuf, sizeof nbuf, "SyncBatchNorm as one process = BatchNorm %s: dx", what);
        CHECK_CLOSE(nbuf, nb_tensor_grad(x[1]), nb_tensor_grad(x[0]), n, 1e-4);
        snprintf(nbuf, sizeof nbuf, "SyncBatchNorm as one process = BatchNorm %s: dweight, dbias", what);
        CHECK(nbuf, check_max_rel(nb_tensor_grad(w[1]), nb_tensor_grad(w[0]), C, 1.0, NULL) < 1e-5 &&
                        check_max_rel(nb_tensor_grad(b[1]), nb_tensor_grad(b[0]), C, 1.0, NULL) < 1e-5,
              "differ");
        for (int k = 0; k < 2; k++) {
            nb_tensor_free(x[k]);
            nb_tensor_free(w[k]);
            nb_tensor_free(b[k]);
            nb_tensor_free(rm[k]);
            nb_tensor_free(rv[k]);
        }
        nb_tensor_free(g);
        nb_ctx_free(ctx);
    }
}

int main(int argc, char **argv)
{
    nb_status st = nb_dist_init(&argc, &argv);
    CHECK(nm("init"), st == NB_OK, "%s", nb_last_error());
    int W = nb_dist_world();
    nb_dataset *d = nb_fashion_mnist_new(NULL, 0);
    if (!d) {
        printf("SKIP test_dist: %s\n", nb_last_error());
        nb_dist_finalize();
        return 0;
    }
    if (W == 1) {
        CHECK("one process: rank 0 of 1", nb_dist_rank() == 0 && nb_dist_world() == 1, "rank %d world %d",
              nb_dist_rank(), nb_dist_world());
        double v[2] = {1.5, -2};
        CHECK("one process: all-reduce is the identity", !nb_dist_allreduce(v, 2, NB_DIST_SUM) && v[0] == 1.5,
              "%g", v[0]);
        sampler_checks(d);
        syncbn_single_checks();
    }
    uint64_t one, many, bn;
    train_steps(d, "ddp", SMOOTH, NULL, 8, &one);
    train_steps(d, "ddp with 1 KB buckets", SMOOTH, &(nb_ddp_opts){.bucket_cap_mb = 0.001f, .first_bucket_mb = 0.001f}, 8,
                &many);
    CHECK(nm("bucket sizes do not change the result"), one == many, "%016llx vs %016llx", (unsigned long long)one,
          (unsigned long long)many);
    train_steps(d, "ddp with BatchNorm", SMOOTH_BN, NULL, 8, &bn);
    train_steps(d, "ddp with SyncBatchNorm", SMOOTH_BN, &(nb_ddp_opts){.sync_bn = 1}, 8, &bn);
    { /* dropout streams: rank 0's is one process's, the others differ */
        nb_ctx *c1 = nb_ctx_new(&(nb_ctx_opts){.seed = 3, .threads = 1});
        nb_ctx *c2 = nb_ctx_new(&(nb_ctx_opts){.seed = 99, .threads = 1});
        nb_dist_seed_ctx(c2, 3);
        nb_tensor *ones1 = nb_tensor_new(c1, NB_F32, 1, (int64_t[]){4096});
        nb_tensor *ones2 = nb_tensor_new(c2, NB_F32, 1, (int64_t[]){4096});
        for (int i = 0; i < 4096; i++) nb_tensor_data(ones1)[i] = nb_tensor_data(ones2)[i] = 1.0f;
        nb_tensor *m1 = nb_dropout(ones1, 0.5f, 1), *m2 = nb_dropout(ones2, 0.5f, 1);
        int same = m1 && m2 && !memcmp(nb_tensor_data(m1), nb_tensor_data(m2), 4096 * sizeof(float));
        CHECK(nm("dropout: rank 0 draws one process's mask"), nb_dist_rank() != 0 || same, "masks differ");
        CHECK(nm("dropout: other ranks draw their own"), nb_dist_rank() == 0 || !same, "the same mask as seed 3");
        uint64_t h = 1469598103934665603ULL;
        const unsigned char *p = m2 ? (const unsigned char *)nb_tensor_data(m2) : NULL;
        for (size_t k = 0; p && k < 4096 * sizeof(float); k++) h = (h ^ p[k]) * 1099511628211ULL;
        if (W > 1) CHECK(nm("dropout: masks differ across ranks"), !same_everywhere(h), "the same on every rank");
        nb_tensor_free(ones1);
        nb_tensor_free(ones2);
        nb_ctx_free(c1);
        nb_ctx_free(c2);
    }
    if (W > 1) { /* rank 1 builds a wider first layer */
        nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.threads = 1});
        nb_module *m = nb_model_file_parse(
            ctx, nb_dist_rank() == 1 ? "conv2d(1, 5, 3)\n flatten()\n" : "conv2d(1, 4, 3)\n flatten()\n", NULL);
        nb_ddp *ddp = nb_ddp_new(m, NULL);
        CHECK(nm("a model that differs across ranks is an error naming the parameter"),
              !ddp && strstr(nb_last_error(), "'0.weight'") && strstr(nb_last_error(), "rank 1"), "%s",
              ddp ? "no error" : nb_last_error());
        nb_ddp_free(ddp);
        nb_module_free(m);
        nb_ctx_free(ctx);
    }
    nb_dataset_free(d);
    nb_dist_finalize();
    CHECK_DONE();
}
