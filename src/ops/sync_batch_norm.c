/* syncbn.c - SyncBatchNorm (PyTorch 1.13's torch.nn.SyncBatchNorm): BatchNorm in
 * training mode whose batch statistics are those of the union of every rank's
 * batch, so N ranks with batch B normalise as one process with batch N·B.
 *
 * Layout: x, y (N, C, S) row-major (S = 1 for (N, C), H·W for (N, C, H, W)).
 * Forward, per channel, in double: Σx and the count are all-reduced (the global
 * mean μ), then Σ(x-μ)² (the biased global variance σ², two passes so nothing
 * cancels); y = (x-μ)·r·γ + β with r = 1/√(σ²+eps); running_var takes the unbiased
 * σ²·M/(M-1) with M the global count, as batch_norm_gather_stats_with_counts does.
 * Backward: Σdy and Σdy·(x-μ) per channel are all-reduced; dγ and dβ are the local
 * sums (DDP then averages them, as it does PyTorch's), and
 *   dx = γ·r·(dy - ΣΣdy/M - (x-μ)·r²·ΣΣdy(x-μ)/M)
 * with the global sums ΣΣ. relu: the forward was relu(bn(x)) and dy is masked where
 * the output is 0 (as batchnorm.c's fused BatchNorm + ReLU). */
#include "core/tape.h"
#include "core/threads.h"
#include "dist/dist.h"
#include "ops/norm.h"

#include <math.h>
#include <string.h>

/* One kernel call, as its chunks (nb__parallel_if) read it. x, y, dy, dx, relu_out:
 * (N, C, S); the rest per channel (C). */
typedef struct {
    const float *x;
    float *y;
    const float *dy, *relu_out; /* backward: the output's gradient; the output, when it went through a ReLU */
    float *dx;
    int64_t N, C, S;
    const float *w, *b;         /* γ, β, or NULL */
    const float *mean, *rstd;   /* μ and 1/√(σ²+eps) */
    double M;                   /* values per channel over all ranks */
    const double *k;            /* channel_sums: the shift per channel, or NULL */
    int p;                      /* channel_sums: the power, 1 or 2 */
    double *sums;               /* channel_sums: out (C); backward: Σdy (C), then Σdy·(x-μ) (C) */
    int relu;                   /* forward: y = relu(bn(x)) */
} sbn_job;

/* Channels [b, e) of channel_sums. */
static void channel_sums_chunk(void *ctx, int64_t b, int64_t e, int slot)
{
    const sbn_job *job = ctx;
    int64_t N = job->N, C = job->C, S = job->S;
    for (int64_t c = b; c < e; c++) {
        double kc = job->k ? job->k[c] : 0, s = 0;
        for (int64_t n = 0; n < N; n++) {
            const float *xs = job->x + (n * C + c) * S;
            double a = 0;
            if (job->p == 1) {
#pragma omp simd reduction(+ : a)
                for (int64_t i = 0; i < S; i++) a += (double)xs[i] - kc;
            } else {
#pragma omp simd reduction(+ : a)
                for (int64_t i = 0; i < S; i++) {
                    double dd = (double)xs[i] - kc;
                    a += dd * dd;
                }
            }
            s += a;
        }
        job->sums[c] = s;
    }
}

/* per channel of x (N, C, S): out[c] = Σ (x - k[c])^p, p = 1 or 2 (k NULL: 0) */
static void channel_sums(const float *x, int64_t N, int64_t C, int64_t S, const double *k, int p, double *out)
{
    nb__parallel_if(N * C * S, C, nb__chunk_for(C), channel_sums_chunk,
                    &(sbn_job){.x = x, .N = N, .C = C, .S = S, .k = k, .p = p, .sums = out});
}

/* Bytes of mean and rstd (C floats each) and a pad, rounded up to 8: the doubles follow. */
static size_t stat_bytes(int64_t C) { return ((size_t)(2 * C + 1) * sizeof(float) + 7) & ~(size_t)7; }

typedef struct {
    float *stat;       /* mean, rstd (C floats each), a pad, then 2C doubles for the sums */
    int64_t S;         /* values per (sample, channel) */
    int relu;          /* the forward was relu(bn(x)) */
    double M;          /* values per channel over all ranks */
} sync_bn_saved;

/* Channels [b, e) of the backward's dx: the global sums in job->sums. */
static void sync_bn_dx_chunk(void *ctx, int64_t b, int64_t e, int slot)
{
    const sbn_job *job = ctx;
    int64_t N = job->N, C = job->C, S = job->S;
    const double *sums = job->sums;
    for (int64_t c = b; c < e; c++) {
        float r = job->rstd[c], k = (job->w ? job->w[c] : 1.0f) * r, muf = job->mean[c];
        float mdy = (float)(sums[c] / job->M), proj = (float)(sums[C + c] * r * r / job->M);
        for (int64_t q = 0; q < N; q++) {
            const float *xs = job->x + (q * C + c) * S, *gs = job->dy + (q * C + c) * S;
            const float *rs = job->relu_out ? job->relu_out + (q * C + c) * S : NULL;
            float *ds = job->dx + (q * C + c) * S;
            for (int64_t i = 0; i < S; i++) {
                float g = rs && !(rs[i] > 0.0f) ? 0.0f : gs[i];
                ds[i] += k * (g - mdy - (xs[i] - muf) * proj);
            }
        }
    }
}

/* Channels [b, e) of the backward's local sums Σdy and Σdy·(x-μ). */
static void sync_bn_sums_chunk(void *ctx, int64_t b, int64_t e, int slot)
{
    const sbn_job *job = ctx;
    int64_t N = job->N, C = job->C, S = job->S;
    for (int64_t c = b; c < e; c++) {
        double sdy = 0, sdyx = 0, mu = job->mean[c];
        for (int64_t k = 0; k < N; k++) {
            const float *xs = job->x + (k * C + c) * S, *gs = job->dy + (k * C + c) * S;
            const float *rs = job->relu_out ? job->relu_out + (k * C + c) * S : NULL;
            for (int64_t i = 0; i < S; i++) {
                float g = rs && !(rs[i] > 0.0f) ? 0.0f : gs[i];
                sdy += g;
                sdyx += (double)g * ((double)xs[i] - mu);
            }
        }
        job->sums[c] = sdy;
        job->sums[C + c] = sdyx;
    }
}

static void sync_bn_backward(nb_node *n)
{
    nb_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2], *out = n->out;
    const sync_bn_saved *sv = n->saved;
    int64_t N = x->shape[0], C = x->shape[1], S = sv->S, relu = sv->relu;
    double M = sv->M;
    const float *mean = sv->stat, *rstd = mean + C;
    double *sums = (double *)((char *)sv->stat + stat_bytes(C)); /* 2C: Σdy, Σdy·(x-μ) */
    sbn_job job = {.x = nb__f(x), .dy = out->grad, .relu_out = relu ? nb__f(out) : NULL, .N = N, .C = C, .S = S,
                   .w = w ? nb__f(w) : NULL, .mean = mean, .rstd = rstd, .M = M, .sums = sums};
    nb__parallel_if(N * C * S, C, nb__chunk_for(C), sync_bn_sums_chunk, &job);
    for (int64_t c = 0; c < C; c++) { /* the local sums for the affine parameters */
        if (nb__wants_grad(w)) w->grad[c] += (float)(sums[C + c] * rstd[c]);
        if (nb__wants_grad(b)) b->grad[c] += (float)sums[c];
    }
    if (!nb__wants_grad(x)) return;
    nb_dist_allreduce(sums, (int)(2 * C), NB_DIST_SUM);
    job.dx = x->grad;
    nb__parallel_if(N * C * S, C, nb__chunk_for(C), sync_bn_dx_chunk, &job);
}

/* Planes [b, e) (index n·C + c) of the forward's y = x·γ·r + β - μ·γ·r (then relu). */
static void sync_bn_forward_chunk(void *ctx, int64_t b, int64_t e, int slot)
{
    const sbn_job *job = ctx;
    int64_t C = job->C, S = job->S;
    for (int64_t nc = b; nc < e; nc++) {
        int64_t c = nc % C;
        float a = (job->w ? job->w[c] : 1.0f) * job->rstd[c], sh = (job->b ? job->b[c] : 0.0f) - job->mean[c] * a;
        const float *xs = job->x + nc * S;
        float *ys = job->y + nc * S;
        for (int64_t i = 0; i < S; i++) {
            float v = xs[i] * a + sh;
            ys[i] = job->relu && !(v > 0.0f) ? 0.0f : v;
        }
    }
}

nb_tensor *nb__sync_batch_norm(const char *layer, nb_tensor *x, nb_tensor *rm, nb_tensor *rv, nb_tensor *w,
                               nb_tensor *b, float momentum, float eps, int relu)
{
    if (!x) return NULL;
    if (x->dtype != NB_F32 || x->ndim < 2) {
        nb__fail(NB_ERR_SHAPE, "Sync%s: input %s must be F32 with at least 2 dims (N, C, ...)", layer, nb__tshape(x));
        return NULL;
    }
    int64_t N = x->shape[0], C = x->shape[1], S = 1;
    for (int d = 2; d < x->ndim; d++) S *= x->shape[d];
    nb_ctx *ctx = x->ctx;
    nb_tensor *out = nb__empty_like(x);
    /* mean, rstd (C floats each), a pad float, then 2C doubles for the backward's sums */
    float *stat = nb__scratch(ctx, stat_bytes(C) + (size_t)(2 * C) * sizeof(double));
    double *st = nb__scratch(ctx, (size_t)(2 * C + 1) * sizeof(double)); /* Σx (C) then Σ(x-μ)², count, μ (C) */
    if (!out || !stat || !st) return NULL;
    double *sx = st, *cnt = st + C, *mu = st + C + 1;
    const float *xv = nb__f(x);
    channel_sums(xv, N, C, S, NULL, 1, sx);
    cnt[0] = (double)(N * S);
    nb_dist_allreduce(sx, (int)C + 1, NB_DIST_SUM);
    double M = cnt[0];
    if (M <= 1) {
        nb__fail(NB_ERR_SHAPE, "Sync%s: expected more than 1 value per channel over all ranks, got input %s", layer,
                 nb__tshape(x));
        return NULL;
    }
    for (int64_t c = 0; c < C; c++) mu[c] = sx[c] / M;
    double *var = sx; /* reuse: Σ(x-μ)² per channel */
    channel_sums(xv, N, C, S, mu, 2, var);
    nb_dist_allreduce(var, (int)C, NB_DIST_SUM);
    float *mean = stat, *rstd = stat + C;
    const float *wv = w ? nb__f(w) : NULL, *bv = b ? nb__f(b) : NULL;
    for (int64_t c = 0; c < C; c++) {
        double v = var[c] / M;
        mean[c] = (float)mu[c];
        rstd[c] = (float)(1.0 / sqrt(v + (double)eps));
        if (rm) nb__f(rm)[c] = (float)(momentum * mu[c] + (1.0 - momentum) * nb__f(rm)[c]);
        if (rv) nb__f(rv)[c] = (float)(momentum * v * M / (M - 1) + (1.0 - momentum) * nb__f(rv)[c]);
    }
    nb__bump_version(rm);
    nb__bump_version(rv);
    nb__parallel_if(N * C * S, N * C, nb__chunk_for(N * C), sync_bn_forward_chunk,
                    &(sbn_job){.x = xv, .y = nb__f(out), .C = C, .S = S, .w = wv, .b = bv, .mean = mean, .rstd = rstd,
                               .relu = relu});
    if (nb__needs_grad(ctx, x, w, b)) {
        nb_node *n = nb__record(out, sync_bn_backward, x, w, b);
        sync_bn_saved *sv = n ? nb__node_save(n, sizeof *sv) : NULL;
        if (!sv) return NULL;
        *sv = (sync_bn_saved){stat, S, relu, M};
    }
    return out;
}
