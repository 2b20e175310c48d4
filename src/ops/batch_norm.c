/* batch_norm.c - the functional nb_batch_norm (F.batch_norm) with its backward, and
 * nb__batch_norm_layer, the same with the calling layer's name and an optional ReLU
 * (the modules BatchNorm1d/2d are in src/nn/batchnorm.c).
 *
 * Layout: x, y (N, C, S) row-major, S = product of the dims after the channel
 * (S = 1 for (N, C) input, H*W for (N, C, H, W)). Statistics per channel over
 * (N, S), accumulated in double, shifted by the channel's first value so the
 * one-pass variance does not cancel. Threads split the channels (chunks of
 * the pool; for (N, C) input, blocks of BN_CB channels that walk the rows): each
 * channel is reduced by one thread in a fixed order, so results do not depend
 * on the thread count. The training forward does stats and output channel by
 * channel, so x comes from memory once; everything here is bandwidth-bound
 * (BatchNorm2d (128, 32, 28, 28) forward + backward: ~1.5-2 ms on 2 threads).
 *
 * Training: y = (x - μ_B)/√(σ²_B + eps)·γ + β with the biased batch variance;
 * running = (1-m)·running + m·batch, running_var from the unbiased variance
 * σ²_B·M/(M-1), M = N·S. Backward (batch statistics), per channel with
 * x̂ = (x-μ)·r, r = 1/√(σ²+eps):
 *   dx = γ·r·(dy - mean(dy) - x̂·mean(dy·x̂)),  dγ = Σ dy·x̂,  dβ = Σ dy.
 * Eval: the running statistics are constants, dx = γ·r·dy.
 */
#include "core/error.h"
#include "core/tensor.h"
#include "core/tape.h"
#include "core/threads.h"
#include "ops/norm.h"

#include <math.h>
#include <string.h>

/* ---- kernels ---- */

/* The per-channel sums run in 8 double lanes (value i into lane i % 8) added in a fixed
 * tree at the end: GCC's vector types give every NB_CLONES copy (AVX-512, AVX2, SSE2) the
 * same additions in the same order, so the sums do not depend on the CPU, and the copy
 * for AVX-512 no longer runs them one value at a time. */
typedef double v8d __attribute__((vector_size(64)));
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

#define LOAD8(v, p) memcpy(&(v), (p), sizeof(v))

static inline double lanes_sum(const v8d *p)
{
    const double *v = (const double *)p;
    return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
}

/* Σ(x-k) and Σ(x-k)² of n values, in double. */
NB_CLONES static void seg_sums(const float *x, int64_t n, double k, double *s, double *ss)
{
    v8d a = {0}, b = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v8f xv;
        LOAD8(xv, x + i);
        v8d d = __builtin_convertvector(xv, v8d) - k;
        a += d;
        b += d * d;
    }
    for (int l = 0; i < n; i++, l++) {
        double d = (double)x[i] - k;
        a[l] += d;
        b[l] += d * d;
    }
    *s += lanes_sum(&a);
    *ss += lanes_sum(&b);
}

/* One kernel call, as its chunks (nb__parallel_if) read it. x, y, dy, dx, relu_out:
 * (N, C, S); the rest per channel (C). */
typedef struct {
    const float *x;
    float *y;
    const float *dy;       /* backward: the output's gradient */
    const float *relu_out; /* backward: the output of relu(batch_norm(x)), or NULL */
    float *dx, *dw, *db;   /* backward: accumulate; each may be NULL */
    int64_t N, C, S;
    const float *w, *b;    /* γ, β, or NULL */
    int relu;              /* training forward (S > 1): y = relu(x·a + b) in the same pass */
    float eps;
    double *dmean, *dvar;  /* training forward: the batch's mean and biased variance */
    float *mean_out, *rstd_out; /* training forward: μ and r = 1/√(σ²+eps) */
    const float *mean, *rstd;   /* backward: μ and r as the forward used them */
    int batch_stats;       /* backward: the forward used this batch's statistics */
    const float *scale, *shift; /* bn_affine: y = x·scale[c] + shift[c] */
    const float *res;      /* training forward (S > 1, relu): y = relu((x·a + b) + res) */
    float *dres;           /* backward: res's gradient, += the gradient after the ReLU, or NULL */
    int summed;            /* backward: the forward was relu(batch_norm(x) + res) */
    int inplace;           /* backward: dx is dy's block (autograd's hand-over): dx = 0 + value */
} bn_job;

/* Channel c's statistics from s = Σ(x-k), ss = Σ(x-k)² over its M values: dmean,
 * dvar, mean and rstd, and *scale = γ·r, *shift = β - μ·scale. */
static inline void bn_channel_stats(const bn_job *job, int64_t c, double k, double s, double ss, int64_t M,
                                    float *scale, float *shift)
{
    double m = s / (double)M, v = ss / (double)M - m * m;
    v = v > 0 ? v : 0;
    job->dmean[c] = k + m;
    job->dvar[c] = v;
    float r = (float)(1.0 / sqrt(v + (double)job->eps)), mu = (float)(k + m);
    job->mean_out[c] = mu;
    job->rstd_out[c] = r;
    *scale = (job->w ? job->w[c] : 1.0f) * r;
    *shift = (job->b ? job->b[c] : 0.0f) - mu * *scale;
}

/* Channel c's dγ += Σ dy·x̂ and dβ += Σ dy from sdy = Σ dy, sdyx = Σ dy·(x-μ) over
 * its M values, and the coefficients of dx = k·(dy - mdy - (x-μ)·proj). */
static inline void bn_channel_grads(const bn_job *job, int64_t c, double sdy, double sdyx, int64_t M, float *k,
                                    float *mdy, float *proj)
{
    float r = job->rstd[c];
    if (job->dw) job->dw[c] += (float)(sdyx * r);
    if (job->db) job->db[c] += (float)sdy;
    *k = (job->w ? job->w[c] : 1.0f) * r;
    *mdy = job->batch_stats ? (float)(sdy / (double)M) : 0.0f;
    *proj = job->batch_stats ? (float)(sdyx * r * r / (double)M) : 0.0f;
}

/* (N, C) input (S = 1): threads split the channels into blocks of BN_CB and each
 * block walks the rows in order, so every channel is still summed by one thread
 * in a fixed order while the loops over a block's channels vectorize. */
#define BN_CB 64
#define BN_BLOCKS(C) (((C) + BN_CB - 1) / BN_CB)

/* Blocks [b, e) of bn_forward_train's (N, C) case. */
NB_CLONES static void bn_forward_train_rows(void *ctx, int64_t b, int64_t e, int slot)
{
    const bn_job *job = ctx;
    const float *x = job->x;
    int64_t N = job->N, C = job->C;
    for (int64_t blk = b; blk < e; blk++) {
        int64_t c0 = blk * BN_CB, nc = C - c0 < BN_CB ? C - c0 : BN_CB;
        double k[BN_CB], s[BN_CB], ss[BN_CB];
        float a[BN_CB], sh[BN_CB];
        for (int64_t j = 0; j < nc; j++) {
            k[j] = x[c0 + j];
            s[j] = ss[j] = 0;
        }
        for (int64_t n = 0; n < N; n++) {
            const float *xr = x + n * C + c0;
#pragma omp simd
            for (int64_t j = 0; j < nc; j++) {
                double d = (double)xr[j] - k[j];
                s[j] += d;
                ss[j] += d * d;
            }
        }
        for (int64_t j = 0; j < nc; j++) bn_channel_stats(job, c0 + j, k[j], s[j], ss[j], N, &a[j], &sh[j]);
        for (int64_t n = 0; n < N; n++) {
            const float *xr = x + n * C + c0;
            float *yr = job->y + n * C + c0;
#pragma omp simd
            for (int64_t j = 0; j < nc; j++) yr[j] = xr[j] * a[j] + sh[j];
        }
    }
}

/* relu_out: the forward was relu(batch_norm(x)) with this output; the gradient
 * reaching the normalization is dy where relu_out > 0, else 0 (ReLU's backward). */
#define RELU_G(g, ro, i) ((ro) && (sum_mask ? (ro)[i] <= 0.0f : !((ro)[i] > 0.0f)) ? 0.0f : (g)[i])
/* sum_mask (relu(batch_norm(x) + res)): the mask of nb_relu's backward, which passes the
 * gradient where the input is NaN (PyTorch's threshold_backward), so that the op gives the
 * bits of batch_norm, add and relu run one by one; else 0 there (BatchNorm + ReLU). */
/* relu as the forward applies it (NaN stays NaN) */
#define BN_RELU(v) ((v) <= 0.0f ? 0.0f : (v))

/* g where c, else +0: relu's backward where relu(v) > 0 (that is v > 0, NaN excluded), as
 * bit operations so that GCC vectorizes the loops at AVX-512 too (a select on a float
 * comparison there is "control flow") */
static inline float keep_if(float g, int c)
{
    uint32_t u;
    memcpy(&u, &g, sizeof u);
    u &= 0u - (uint32_t)c;
    memcpy(&g, &u, sizeof g);
    return g;
}

/* Blocks [b, e) of bn_backward_kernel's (N, C) case. */
static void bn_backward_rows(void *ctx, int64_t b, int64_t e, int slot)
{
    const bn_job *job = ctx;
    const float *x = job->x, *dy = job->dy, *relu_out = job->relu_out;
    const int sum_mask = job->summed;
    int64_t N = job->N, C = job->C;
    for (int64_t blk = b; blk < e; blk++) {
        int64_t c0 = blk * BN_CB, nc = C - c0 < BN_CB ? C - c0 : BN_CB;
        double sdy[BN_CB], sdyx[BN_CB], mu[BN_CB];
        float k[BN_CB], mdy[BN_CB], proj[BN_CB], muf[BN_CB];
        for (int64_t j = 0; j < nc; j++) {
            sdy[j] = sdyx[j] = 0;
            mu[j] = job->mean[c0 + j];
        }
        for (int64_t n = 0; n < N; n++) {
            const float *xr = x + n * C + c0, *gr = dy + n * C + c0, *ro = relu_out ? relu_out + n * C + c0 : NULL;
#pragma omp simd
            for (int64_t j = 0; j < nc; j++) {
                float g = RELU_G(gr, ro, j);
                sdy[j] += g;
                sdyx[j] += (double)g * ((double)xr[j] - mu[j]);
            }
        }
        for (int64_t j = 0; j < nc; j++) {
            bn_channel_grads(job, c0 + j, sdy[j], sdyx[j], N, &k[j], &mdy[j], &proj[j]);
            muf[j] = (float)mu[j];
        }
        if (job->dres)
            for (int64_t n = 0; n < N; n++) {
                const float *gr = dy + n * C + c0, *ro = relu_out ? relu_out + n * C + c0 : NULL;
                float *rr = job->dres + n * C + c0;
                for (int64_t j = 0; j < nc; j++) rr[j] += RELU_G(gr, ro, j);
            }
        if (!job->dx) continue;
        for (int64_t n = 0; n < N; n++) {
            const float *xr = x + n * C + c0, *gr = dy + n * C + c0, *ro = relu_out ? relu_out + n * C + c0 : NULL;
            float *dr = job->dx + n * C + c0;
            const float z = 0.0f;
            if (job->inplace) { /* dr is gr: each element read, then written as 0 + value */
#pragma omp simd
                for (int64_t j = 0; j < nc; j++) dr[j] = z + k[j] * (RELU_G(gr, ro, j) - mdy[j] - (xr[j] - muf[j]) * proj[j]);
            } else {
#pragma omp simd
                for (int64_t j = 0; j < nc; j++) dr[j] += k[j] * (RELU_G(gr, ro, j) - mdy[j] - (xr[j] - muf[j]) * proj[j]);
            }
        }
    }
}

/* Channels [b, e) of bn_forward_train, one channel per iteration so that its values
 * are still in this core's cache for the second pass. */
NB_CLONES static void bn_forward_train_channels(void *ctx, int64_t b, int64_t e, int slot)
{
    const bn_job *job = ctx;
    const float *x = job->x;
    int64_t N = job->N, C = job->C, S = job->S;
    for (int64_t c = b; c < e; c++) {
        double k = x[c * S], s = 0, ss = 0;
        for (int64_t n = 0; n < N; n++) seg_sums(x + (n * C + c) * S, S, k, &s, &ss);
        float ac, bc;
        bn_channel_stats(job, c, k, s, ss, N * S, &ac, &bc);
        for (int64_t n = 0; n < N; n++) {
            const float *xs = x + (n * C + c) * S;
            float *ys = job->y + (n * C + c) * S;
            if (job->res) { /* the residual block's sum and ReLU: the same roundings as bn, add, relu */
                const float *rs = job->res + (n * C + c) * S;
#pragma omp simd
                for (int64_t i = 0; i < S; i++) {
                    float v = xs[i] * ac + bc;
                    ys[i] = BN_RELU(v + rs[i]);
                }
            } else if (job->relu) {
#pragma omp simd
                for (int64_t i = 0; i < S; i++) ys[i] = BN_RELU(xs[i] * ac + bc);
            } else {
#pragma omp simd
                for (int64_t i = 0; i < S; i++) ys[i] = xs[i] * ac + bc;
            }
        }
    }
}

/* Training forward over x, y (N, C, S): mean and biased variance (dmean, dvar: C
 * doubles), then y = x·a + b with a = γ·r, b = β - μ·a, r = 1/√(σ²+eps). w, b (C) or
 * NULL; mean, rstd (C) receive μ and r for backward. relu: y = relu(x·a + b) in the
 * same pass, res (N, C, S) or NULL (with relu): y = relu((x·a + b) + res) (S > 1;
 * returns 0), else returns relu and the caller applies the sum and the ReLU. */
static int bn_forward_train(const float *x, float *y, int64_t N, int64_t C, int64_t S, const float *w, const float *b,
                            float eps, double *dmean, double *dvar, float *mean, float *rstd, int relu,
                            const float *res)
{
    bn_job job = {.x = x, .y = y, .N = N, .C = C, .S = S, .w = w, .b = b, .eps = eps,
                  .dmean = dmean, .dvar = dvar, .mean_out = mean, .rstd_out = rstd, .relu = relu, .res = res};
    if (S == 1) {
        nb__parallel_if(N * C, BN_BLOCKS(C), nb__chunk_for(BN_BLOCKS(C)), bn_forward_train_rows, &job);
        return relu;
    }
    nb__parallel_if(N * C * S, C, nb__chunk_for(C), bn_forward_train_channels, &job);
    return 0;
}

/* Planes [b, e) (index n·C + c) of bn_affine. */
static void bn_affine_planes(void *ctx, int64_t b, int64_t e, int slot)
{
    const bn_job *job = ctx;
    int64_t C = job->C, S = job->S;
    for (int64_t p = b; p < e; p++) {
        const float *xs = job->x + p * S;
        float *ys = job->y + p * S;
        float ac = job->scale[p % C], bc = job->shift[p % C];
#pragma omp simd
        for (int64_t i = 0; i < S; i++) ys[i] = xs[i] * ac + bc;
    }
}

/* Rows [b, e) of bn_affine's (N, C) case. */
static void bn_affine_rows(void *ctx, int64_t b, int64_t e, int slot)
{
    const bn_job *job = ctx;
    const float *scale = job->scale, *shift = job->shift;
    int64_t C = job->C;
    for (int64_t n = b; n < e; n++) {
        const float *xr = job->x + n * C;
        float *yr = job->y + n * C;
#pragma omp simd
        for (int64_t c = 0; c < C; c++) yr[c] = xr[c] * scale[c] + shift[c];
    }
}

/* y = x·scale[c] + shift[c] over x, y (N, C, S). */
static void bn_affine(const float *x, float *y, int64_t N, int64_t C, int64_t S, const float *scale,
                      const float *shift)
{
    bn_job job = {.x = x, .y = y, .N = N, .C = C, .S = S, .scale = scale, .shift = shift};
    if (S == 1)
        nb__parallel_if(N * C, N, nb__chunk_for(N), bn_affine_rows, &job);
    else
        nb__parallel_if(N * C * S, N * C, nb__chunk_for(N * C), bn_affine_planes, &job);
}

/* Channels [b, e) of bn_backward_kernel. */
NB_CLONES static void bn_backward_channels(void *ctx, int64_t b, int64_t e, int slot)
{
    const bn_job *job = ctx;
    const float *x = job->x, *dy = job->dy, *relu_out = job->relu_out;
    const int sum_mask = job->summed;
    int64_t N = job->N, C = job->C, S = job->S;
    const float *w = job->w, *beta = job->b;
    for (int64_t c = b; c < e; c++) {
        double sdy = 0, sdyx = 0, mu = job->mean[c];
        /* relu_out > 0 exactly where the forward's x·a + b > 0 (bn_forward_train_channels
         * with the same a, b and the same expression, no contraction in ISO C mode): read
         * from x, which this channel reads anyway, the second pass finds x and dy still in
         * this core's cache */
        float ac = (w ? w[c] : 1.0f) * job->rstd[c], bc = (beta ? beta[c] : 0.0f) - job->mean[c] * ac;
        int remask = relu_out && job->batch_stats && !job->summed; /* with a residual: relu_out's mask */
        for (int64_t n = 0; n < N; n++) {
            const float *xs = x + (n * C + c) * S, *gs = dy + (n * C + c) * S;
            const float *ro = relu_out ? relu_out + (n * C + c) * S : NULL;
            v8d a = {0}, s = {0};
            int64_t i = 0;
            for (; i + 8 <= S; i += 8) { /* (lanes as in seg_sums) */
                v8f xv, gv;
                LOAD8(xv, xs + i);
                LOAD8(gv, gs + i);
                if (remask) {
                    v8i keep = xv * ac + bc > 0.0f, gi;
                    memcpy(&gi, &gv, sizeof gi);
                    gi &= keep;
                    memcpy(&gv, &gi, sizeof gv);
                } else if (ro) {
                    v8f rv;
                    LOAD8(rv, ro + i);
                    v8i keep = sum_mask ? ~(rv <= 0.0f) : rv > 0.0f, gi;
                    memcpy(&gi, &gv, sizeof gi);
                    gi &= keep;
                    memcpy(&gv, &gi, sizeof gv);
                }
                v8d g = __builtin_convertvector(gv, v8d);
                a += g;
                s += g * (__builtin_convertvector(xv, v8d) - mu);
            }
            for (int l = 0; i < S; i++, l++) {
                float g = remask ? keep_if(gs[i], xs[i] * ac + bc > 0.0f) : RELU_G(gs, ro, i);
                a[l] += g;
                s[l] += (double)g * ((double)xs[i] - mu);
            }
            sdy += lanes_sum(&a);
            sdyx += lanes_sum(&s);
        }
        float k, mdy, proj, muf = (float)mu;
        bn_channel_grads(job, c, sdy, sdyx, N * S, &k, &mdy, &proj);
        if (!job->dx && !job->dres) continue;
        const int inpl = job->inplace; /* ds is gs: each element read, then written as 0 + value */
        for (int64_t n = 0; n < N; n++) {
            const float *xs = x + (n * C + c) * S, *gs = dy + (n * C + c) * S;
            const float *ro = relu_out ? relu_out + (n * C + c) * S : NULL;
            float *ds = job->dx ? job->dx + (n * C + c) * S : NULL;
            if (job->dres) { /* the sum's other operand gets the gradient after the ReLU, as add's backward */
                float *rs = job->dres + (n * C + c) * S;
                if (!ds) {
#pragma omp simd
                    for (int64_t i = 0; i < S; i++) rs[i] += RELU_G(gs, ro, i);
                    continue;
                }
#pragma omp simd
                for (int64_t i = 0; i < S; i++) {
                    float g = RELU_G(gs, ro, i);
                    rs[i] += g;
                    ds[i] = (inpl ? 0.0f : ds[i]) + k * (g - mdy - (xs[i] - muf) * proj);
                }
            } else if (remask) {
#pragma omp simd
                for (int64_t i = 0; i < S; i++) {
                    float g = keep_if(gs[i], xs[i] * ac + bc > 0.0f);
                    ds[i] = (inpl ? 0.0f : ds[i]) + k * (g - mdy - (xs[i] - muf) * proj);
                }
            } else {
#pragma omp simd
                for (int64_t i = 0; i < S; i++)
                    ds[i] = (inpl ? 0.0f : ds[i]) + k * (RELU_G(gs, ro, i) - mdy - (xs[i] - muf) * proj);
            }
        }
    }
}

/* Backward over x, dy, dx (N, C, S); mean, rstd (C) as used in the forward; w (C)
 * or NULL. dx, dw, db may be NULL; all three accumulate. batch_stats: the forward
 * used this batch's statistics (full backward through μ and σ²). relu_out (N, C, S)
 * or NULL: the forward was relu(batch_norm(x)) with this output. beta (C) or NULL: β,
 * with which the forward's pre-ReLU values are recomputed from x. summed: the forward
 * was relu(batch_norm(x) + res) (relu_out given; its mask is read, not recomputed);
 * dres (N, C, S) or NULL: res's gradient, += the gradient after the ReLU. dx may be dy
 * itself (autograd handed dy's block over, tape.h): then dx = 0 + value, after dy is read. */
static void bn_backward_kernel(const float *x, const float *dy, const float *relu_out, float *dx, float *dw, float *db,
                               int64_t N, int64_t C, int64_t S, const float *w, const float *beta, const float *mean,
                               const float *rstd, int batch_stats, int summed, float *dres)
{
    bn_job job = {.x = x, .dy = dy, .relu_out = relu_out, .dx = dx, .dw = dw, .db = db, .N = N, .C = C, .S = S,
                  .w = w, .b = beta, .mean = mean, .rstd = rstd, .batch_stats = batch_stats, .summed = summed,
                  .dres = dres, .inplace = dx && dx == dy};
    if (S == 1)
        nb__parallel_if(N * C, BN_BLOCKS(C), nb__chunk_for(BN_BLOCKS(C)), bn_backward_rows, &job);
    else
        nb__parallel_if(N * C * S, C, nb__chunk_for(C), bn_backward_channels, &job);
}

/* ---- the op ---- */

/* What batch_norm_backward needs. */
typedef struct {
    const float *stat; /* mean[C], then rstd[C] */
    int training; /* batch statistics */
    int64_t S; /* values per channel and sample */
    int relu; /* the output went through a ReLU */
    int res; /* relu(batch_norm(x) + in[3]) */
} batch_norm_saved;

static void batch_norm_backward(nb_node *n)
{
    const batch_norm_saved *st = n->saved;
    nb_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    const float *mean = st->stat, *rstd = mean + x->shape[1];
    int64_t N = x->shape[0], C = x->shape[1], S = st->S;
    nb_tensor *res = st->res ? n->in[3] : NULL;
    bn_backward_kernel(nb__f(x), n->out->grad, st->relu ? nb__f(n->out) : NULL, nb__wants_grad(x) ? x->grad : NULL,
                       nb__wants_grad(w) ? w->grad : NULL, nb__wants_grad(b) ? b->grad : NULL, N, C, S,
                       w ? nb__f(w) : NULL, b ? nb__f(b) : NULL, mean, rstd, st->training, st->res,
                       nb__wants_grad(res) ? res->grad : NULL);
}

/* Values [b, e) of y: relu in place (NaN stays NaN), after adding res when given. */
static void bn_relu_inplace(void *ctx, int64_t b, int64_t e, int slot)
{
    const bn_job *job = ctx;
    float *y = job->y;
    if (job->res)
        for (int64_t i = b; i < e; i++) {
            float v = y[i] + job->res[i];
            y[i] = v <= 0.0f ? 0.0f : v;
        }
    else
        for (int64_t i = b; i < e; i++) y[i] = y[i] <= 0.0f ? 0.0f : y[i];
}

/* F.batch_norm with the calling layer's name for messages, then (relu) a ReLU, with
 * res (relu must be set) relu(batch_norm(x) + res). Checks everything before touching
 * the running statistics. */
static nb_tensor *bn_layer(const char *layer, nb_tensor *x, nb_tensor *rm, nb_tensor *rv, nb_tensor *w, nb_tensor *b,
                           int training, float momentum, float eps, int relu, nb_tensor *res)
{
    if (!x) return NULL;
    int64_t N, C, S;
    if (nb__norm_input(layer, x, 2, "(N, C, ...)", &N, &C, &S)) return NULL;
    if (res && (res->dtype != NB_F32 || res->ndim != x->ndim ||
                memcmp(res->shape, x->shape, (size_t)x->ndim * sizeof *x->shape))) {
        nb__fail(NB_ERR_SHAPE, "%s: the residual %s does not have the input's shape %s", layer, nb__tshape(res),
                 nb__tshape(x));
        return NULL;
    }
    if (nb__norm_check_vec(layer, "running_mean", rm, C) || nb__norm_check_vec(layer, "running_var", rv, C) ||
        nb__norm_check_vec(layer, "weight", w, C) || nb__norm_check_vec(layer, "bias", b, C))
        return NULL;
    if (!training && (!rm || !rv)) {
        nb__fail(NB_ERR_ARG, "%s: eval mode needs running_mean and running_var", layer);
        return NULL;
    }
    if (training && N * S <= 1) {
        nb__fail(NB_ERR_SHAPE, "%s: expected more than 1 value per channel when training, got input %s", layer,
                 nb__tshape(x));
        return NULL;
    }
    nb_ctx *ctx = x->ctx;
    nb_tensor *out = nb__empty_like(x);
    float *stat = nb__scratch(ctx, (size_t)(2 * C + 1) * sizeof(float));   /* mean, rstd */
    float *ab = nb__scratch(ctx, (size_t)(2 * C + 1) * sizeof(float));     /* scale, shift */
    double *dstat = nb__scratch(ctx, (size_t)(2 * C + 1) * sizeof(double)); /* mean, var */
    if (!out || !stat || !ab || !dstat) return NULL;
    float *mean = stat, *rstd = stat + C;
    const float *wv = w ? nb__f(w) : NULL, *bv = b ? nb__f(b) : NULL;
    int pending = relu; /* the ReLU (and the residual) still to apply */
    if (training) {
        pending = bn_forward_train(nb__f(x), nb__f(out), N, C, S, wv, bv, eps, dstat, dstat + C, mean, rstd, relu,
                                   res ? nb__f(res) : NULL);
        double f = momentum, unb = (double)(N * S) / (double)(N * S - 1);
        for (int64_t c = 0; c < C; c++) {
            if (rm) nb__f(rm)[c] = (float)(f * dstat[c] + (1.0 - f) * nb__f(rm)[c]);
            if (rv) nb__f(rv)[c] = (float)(f * dstat[C + c] * unb + (1.0 - f) * nb__f(rv)[c]);
        }
        nb__bump_version(rm);
        nb__bump_version(rv);
    } else {
        for (int64_t c = 0; c < C; c++) {
            mean[c] = nb__f(rm)[c];
            rstd[c] = (float)(1.0 / sqrt((double)nb__f(rv)[c] + (double)eps));
            float a = (wv ? wv[c] : 1.0f) * rstd[c];
            ab[c] = a;
            ab[C + c] = (bv ? bv[c] : 0.0f) - mean[c] * a;
        }
        bn_affine(nb__f(x), nb__f(out), N, C, S, ab, ab + C);
    }
    if (pending) { /* relu(batch_norm(x) (+ res)) in place: no tensor (or gradient) for the normalized values */
        nb__parallel_if(out->numel, out->numel, nb__chunk_for(out->numel), bn_relu_inplace,
                        &(bn_job){.y = nb__f(out), .res = res ? nb__f(res) : NULL});
    }
    if (nb__needs_grad(ctx, x, w, b) || (res && nb__needs_grad(ctx, res, NULL, NULL))) {
        nb_node *n = nb__record(out, batch_norm_backward, x, w, b);
        batch_norm_saved *st = n ? nb__node_save(n, sizeof *st) : NULL;
        if (!st) return NULL;
        n->in[3] = res; /* the sum's other operand: autograd gives it a gradient */
        n->n_in = res ? 4 : 3;
        n->grad_inplace = 1; /* x's gradient may be written over the output's (the kernel allows dx == dy) */
        st->stat = stat;
        st->training = training;
        st->S = S;
        st->relu = relu;
        st->res = res != NULL;
    }
    return out;
}

nb_tensor *nb__batch_norm_layer(const char *layer, nb_tensor *x, nb_tensor *rm, nb_tensor *rv, nb_tensor *w,
                                nb_tensor *b, int training, float momentum, float eps, int relu)
{
    return bn_layer(layer, x, rm, rv, w, b, training, momentum, eps, relu, NULL);
}

nb_tensor *nb__batch_norm_add_relu(const char *layer, nb_tensor *x, nb_tensor *rm, nb_tensor *rv, nb_tensor *w,
                                   nb_tensor *b, int training, float momentum, float eps, nb_tensor *res)
{
    if (!res) return NULL;
    return bn_layer(layer, x, rm, rv, w, b, training, momentum, eps, 1, res);
}

nb_tensor *nb_batch_norm(nb_tensor *x, nb_tensor *running_mean, nb_tensor *running_var, nb_tensor *weight,
                         nb_tensor *bias, int training, float momentum, float eps)
{
    return nb__batch_norm_layer("batch_norm", x, running_mean, running_var, weight, bias, training, momentum, eps, 0);
}
