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

#define BN_PAR_MIN 32768 /* elements below which one thread does it all */

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

/* (N, C) input (S = 1): threads split the channels into blocks of BN_CB and each
 * block walks the rows in order, so every channel is still summed by one thread
 * in a fixed order while the loops over a block's channels vectorize. */
#define BN_CB 64

/* a chunk of bn_forward_train_rows's loop over blk_ (nb__parallel_if) */
typedef struct {
    const float *x;
    float *y;
    int64_t N;
    int64_t C;
    const float *w;
    const float *b;
    float eps;
    double *dmean;
    double *dvar;
    float *mean;
    float *rstd;
} bn_forward_train_rows_blk_ctx;
NB_CLONES static void bn_forward_train_rows_blk_chunk(void *ctx_, int64_t b_, int64_t e_, int slot_)
{
    const bn_forward_train_rows_blk_ctx *c_ = ctx_;
    const float *x = c_->x;
    float *y = c_->y;
    int64_t N = c_->N;
    int64_t C = c_->C;
    const float *w = c_->w;
    const float *b = c_->b;
    float eps = c_->eps;
    double *dmean = c_->dmean;
    double *dvar = c_->dvar;
    float *mean = c_->mean;
    float *rstd = c_->rstd;
    for (int64_t blk_ = b_; blk_ < e_; blk_++) {
        int64_t c0 = blk_ *BN_CB;
        int64_t nc = C - c0 < BN_CB ? C - c0 : BN_CB;
        double k[BN_CB], s[BN_CB], ss[BN_CB];
        float a[BN_CB], sh[BN_CB];
        for (int64_t j = 0; j < nc; j++) {
            k[j] = x[c0 + j];
            s[j] = ss[j] = 0;
        }
        for (int64_t n = 0; n < N; n++) {
            const float *xr = x + n * C + c0;
            _Pragma("omp simd")
            for (int64_t j = 0; j < nc; j++) {
                double d = (double)xr[j] - k[j];
                s[j] += d;
                ss[j] += d *d;
            }
        }
        for (int64_t j = 0; j < nc; j++) {
            double m = s[j] / (double)N, v = ss[j] / (double)N - m *m;
            v = v > 0 ? v : 0;
            dmean[c0 + j] = k[j] + m;
            dvar[c0 + j] = v;
            mean[c0 + j] = (float)(k[j] + m);
            rstd[c0 + j] = (float)(1.0 / sqrt(v + (double)eps));
            a[j] = (w ? w[c0 + j] : 1.0f) * rstd[c0 + j];
            sh[j] = (b ? b[c0 + j] : 0.0f) - mean[c0 + j] * a[j];
        }
        for (int64_t n = 0; n < N; n++) {
            const float *xr = x + n * C + c0;
            float *yr = y + n * C + c0;
            _Pragma("omp simd")
            for (int64_t j = 0; j < nc; j++) yr[j] = xr[j] * a[j] + sh[j];
        };
    }
}

NB_CLONES static void bn_forward_train_rows(const float *x, float *y, int64_t N, int64_t C, const float *w, const float *b,
                                  float eps, double *dmean, double *dvar, float *mean, float *rstd)
{
    nb__parallel_if(N * C, (C + BN_CB - 1) / BN_CB, nb__chunk_for((C + BN_CB - 1) / BN_CB),
                    bn_forward_train_rows_blk_chunk,
                    &(bn_forward_train_rows_blk_ctx){x, y, N, C, w, b, eps, dmean, dvar, mean, rstd});
}

/* relu_out: the forward was relu(batch_norm(x)) with this output; the gradient
 * reaching the normalization is dy where relu_out > 0, else 0 (ReLU's backward). */
#define RELU_G(g, ro, i) ((ro) && !((ro)[i] > 0.0f) ? 0.0f : (g)[i])
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

/* a chunk of bn_backward_rows's loop over blk_ (nb__parallel_if) */
typedef struct {
    const float *x;
    const float *dy;
    const float *relu_out;
    float *dx;
    float *dw;
    float *db;
    int64_t N;
    int64_t C;
    const float *w;
    const float *mean;
    const float *rstd;
    int batch_stats;
} bn_backward_rows_blk_ctx;
static void bn_backward_rows_blk_chunk(void *ctx_, int64_t b_, int64_t e_, int slot_)
{
    const bn_backward_rows_blk_ctx *c_ = ctx_;
    const float *x = c_->x;
    const float *dy = c_->dy;
    const float *relu_out = c_->relu_out;
    float *dx = c_->dx;
    float *dw = c_->dw;
    float *db = c_->db;
    int64_t N = c_->N;
    int64_t C = c_->C;
    const float *w = c_->w;
    const float *mean = c_->mean;
    const float *rstd = c_->rstd;
    int batch_stats = c_->batch_stats;
    for (int64_t blk_ = b_; blk_ < e_; blk_++) {
        int64_t c0 = blk_ *BN_CB;
        int64_t nc = C - c0 < BN_CB ? C - c0 : BN_CB;
        double sdy[BN_CB], sdyx[BN_CB], mu[BN_CB];
        float k[BN_CB], mdy[BN_CB], proj[BN_CB], muf[BN_CB];
        for (int64_t j = 0; j < nc; j++) {
            sdy[j] = sdyx[j] = 0;
            mu[j] = mean[c0 + j];
        }
        for (int64_t n = 0; n < N; n++) {
            const float *xr = x + n * C + c0, *gr = dy + n * C + c0, *ro = relu_out ? relu_out + n * C + c0 : NULL;
            _Pragma("omp simd")
            for (int64_t j = 0; j < nc; j++) {
                float g = RELU_G(gr, ro, j);
                sdy[j] += g;
                sdyx[j] += (double)g * ((double)xr[j] - mu[j]);
            }
        }
        for (int64_t j = 0; j < nc; j++) {
            float r = rstd[c0 + j];
            if (dw) dw[c0 + j] += (float)(sdyx[j] * r);
            if (db) db[c0 + j] += (float)sdy[j];
            k[j] = (w ? w[c0 + j] : 1.0f) * r;
            mdy[j] = batch_stats ? (float)(sdy[j] / (double)N) : 0.0f;
            proj[j] = batch_stats ? (float)(sdyx[j] * r * r / (double)N) : 0.0f;
            muf[j] = (float)mu[j];
        }
        if (!dx) continue;
        for (int64_t n = 0; n < N; n++) {
            const float *xr = x + n * C + c0, *gr = dy + n * C + c0, *ro = relu_out ? relu_out + n * C + c0 : NULL;
            float *dr = dx + n * C + c0;
            _Pragma("omp simd")
            for (int64_t j = 0; j < nc; j++) dr[j] += k[j] * (RELU_G(gr, ro, j) - mdy[j] - (xr[j] - muf[j]) * proj[j]);
        };
    }
}

static void bn_backward_rows(const float *x, const float *dy, const float *relu_out, float *dx, float *dw, float *db,
                             int64_t N, int64_t C, const float *w, const float *mean, const float *rstd,
                             int batch_stats)
{
    nb__parallel_if(N * C, (C + BN_CB - 1) / BN_CB, nb__chunk_for((C + BN_CB - 1) / BN_CB),
                    bn_backward_rows_blk_chunk,
                    &(bn_backward_rows_blk_ctx){x, dy, relu_out, dx, dw, db, N, C, w, mean, rstd, batch_stats});
}

/* a chunk of bn_forward_train's loop over c (nb__parallel_if) */
typedef struct {
    const float *x;
    float *y;
    int64_t N;
    int64_t C;
    int64_t S;
    const float *w;
    const float *b;
    float eps;
    double *dmean;
    double *dvar;
    float *mean;
    float *rstd;
    int64_t M;
    int relu;
} bn_forward_train_c_ctx;
NB_CLONES static void bn_forward_train_c_chunk(void *ctx_, int64_t b_, int64_t e_, int slot_)
{
    const bn_forward_train_c_ctx *c_ = ctx_;
    const float *x = c_->x;
    float *y = c_->y;
    int64_t N = c_->N;
    int64_t C = c_->C;
    int64_t S = c_->S;
    const float *w = c_->w;
    const float *b = c_->b;
    float eps = c_->eps;
    double *dmean = c_->dmean;
    double *dvar = c_->dvar;
    float *mean = c_->mean;
    float *rstd = c_->rstd;
    int64_t M = c_->M;
    int relu = c_->relu;
    for (int64_t c = b_; c < e_; c++) {
        double k = x[c * S], s = 0, ss = 0;
        for (int64_t n = 0; n < N; n++) seg_sums(x + (n * C + c) * S, S, k, &s, &ss);
        double m = s / (double)M, v = ss / (double)M - m *m;
        v = v > 0 ? v : 0;
        dmean[c] = k + m;
        dvar[c] = v;
        float r = (float)(1.0 / sqrt(v + (double)eps)), mu = (float)(k + m);
        mean[c] = mu;
        rstd[c] = r;
        float ac = (w ? w[c] : 1.0f) * r, bc = (b ? b[c] : 0.0f) - mu *ac;
        for (int64_t n = 0; n < N; n++) {
            const float *xs = x + (n * C + c) * S;
            float *ys = y + (n * C + c) * S;
            if (relu) {
                _Pragma("omp simd")
                for (int64_t i = 0; i < S; i++) ys[i] = BN_RELU(xs[i] * ac + bc);
            } else {
                _Pragma("omp simd")
                for (int64_t i = 0; i < S; i++) ys[i] = xs[i] * ac + bc;
            }
        };
    }
}

/* Training forward over x, y (N, C, S), one channel per iteration so that its
 * values are still in this core's cache for the second pass: mean and biased
 * variance (dmean, dvar: C doubles), then y = x·a + b with a = γ·r, b = β - μ·a,
 * r = 1/√(σ²+eps). w, b (C) or NULL; mean, rstd (C) receive μ and r for backward.
 * relu: y = relu(x·a + b) in the same pass (S > 1; returns 0), else returns 1 and
 * the caller applies the ReLU. */
NB_CLONES static int bn_forward_train(const float *x, float *y, int64_t N, int64_t C, int64_t S, const float *w,
                             const float *b, float eps, double *dmean, double *dvar, float *mean, float *rstd, int relu)
{
    if (S == 1) {
        bn_forward_train_rows(x, y, N, C, w, b, eps, dmean, dvar, mean, rstd);
        return relu;
    }
    int64_t M = N *S;
    nb__parallel_if(N * C * S, C, nb__chunk_for(C), bn_forward_train_c_chunk,
                    &(bn_forward_train_c_ctx){x, y, N, C, S, w, b, eps, dmean, dvar, mean, rstd, M, relu});
    return 0;
}

/* a chunk of bn_affine's loop over ij_ (nb__parallel_if) */
typedef struct {
    const float *x;
    float *y;
    int64_t C;
    int64_t S;
    const float *a;
    const float *b;
} bn_affine_ij_ctx;
static void bn_affine_ij_chunk(void *ctx_, int64_t b_, int64_t e_, int slot_)
{
    const bn_affine_ij_ctx *c_ = ctx_;
    const float *x = c_->x;
    float *y = c_->y;
    int64_t C = c_->C;
    int64_t S = c_->S;
    const float *a = c_->a;
    const float *b = c_->b;
    for (int64_t ij_ = b_; ij_ < e_; ij_++) {
        int64_t n = ij_ / C, c = ij_ % C;
            const float *xs = x + (n * C + c) * S;
            float *ys = y + (n * C + c) * S;
            float ac = a[c], bc = b[c];
            _Pragma("omp simd")
            for (int64_t i = 0; i < S; i++) ys[i] = xs[i] * ac + bc;;
    }
}

/* a chunk of bn_affine's loop over n (nb__parallel_if) */
typedef struct {
    const float *x;
    float *y;
    int64_t C;
    const float *a;
    const float *b;
} bn_affine_n_ctx;
static void bn_affine_n_chunk(void *ctx_, int64_t b_, int64_t e_, int slot_)
{
    const bn_affine_n_ctx *c_ = ctx_;
    const float *x = c_->x;
    float *y = c_->y;
    int64_t C = c_->C;
    const float *a = c_->a;
    const float *b = c_->b;
    for (int64_t n = b_; n < e_; n++) {
        const float *xr = x + n *C;
            float *yr = y + n *C;
            _Pragma("omp simd")
            for (int64_t c = 0; c < C; c++) yr[c] = xr[c] * a[c] + b[c];;
    }
}

/* y = x·a[c] + b[c] over x, y (N, C, S). */
static void bn_affine(const float *x, float *y, int64_t N, int64_t C, int64_t S, const float *a,
                      const float *b)
{
    if (S == 1) {
    nb__parallel_if(N * C, N, nb__chunk_for(N), bn_affine_n_chunk, &(bn_affine_n_ctx){x, y, C, a, b});
        return;
    }
    nb__parallel_if(N * C * S, N * C, nb__chunk_for(N * C), bn_affine_ij_chunk,
                    &(bn_affine_ij_ctx){x, y, C, S, a, b});
}

/* a chunk of bn_backward_kernel's loop over c (nb__parallel_if) */
typedef struct {
    const float *x;
    const float *dy;
    const float *relu_out;
    float *dx;
    float *dw;
    float *db;
    int64_t N;
    int64_t C;
    int64_t S;
    const float *w;
    const float *mean;
    const float *rstd;
    int batch_stats;
    int64_t M;
    const float *beta;
} bn_backward_kernel_c_ctx;
NB_CLONES static void bn_backward_kernel_c_chunk(void *ctx_, int64_t b_, int64_t e_, int slot_)
{
    const bn_backward_kernel_c_ctx *c_ = ctx_;
    const float *x = c_->x;
    const float *dy = c_->dy;
    const float *relu_out = c_->relu_out;
    float *dx = c_->dx;
    float *dw = c_->dw;
    float *db = c_->db;
    int64_t N = c_->N;
    int64_t C = c_->C;
    int64_t S = c_->S;
    const float *w = c_->w;
    const float *mean = c_->mean;
    const float *rstd = c_->rstd;
    int batch_stats = c_->batch_stats;
    int64_t M = c_->M;
    const float *beta = c_->beta;
    for (int64_t c = b_; c < e_; c++) {
        double sdy = 0, sdyx = 0, mu = mean[c];
        /* relu_out > 0 exactly where the forward's x·a + b > 0 (bn_forward_train_c_chunk
         * with the same a, b and the same expression, no contraction in ISO C mode): read
         * from x, which this channel reads anyway, the second pass finds x and dy still in
         * this core's cache */
        float ac = (w ? w[c] : 1.0f) * rstd[c], bc = (beta ? beta[c] : 0.0f) - mean[c] * ac;
        int remask = relu_out && batch_stats;
        for (int64_t n = 0; n < N; n++) {
            const float *xs = x + (n * C + c) * S, *gs = dy + (n * C + c) * S;
            const float *ro = relu_out ? relu_out + (n * C + c) * S : NULL;
            v8d a = {0}, b = {0};
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
                    v8i keep = rv > 0.0f, gi;
                    memcpy(&gi, &gv, sizeof gi);
                    gi &= keep;
                    memcpy(&gv, &gi, sizeof gv);
                }
                v8d g = __builtin_convertvector(gv, v8d);
                a += g;
                b += g * (__builtin_convertvector(xv, v8d) - mu);
            }
            for (int l = 0; i < S; i++, l++) {
                float g = remask ? keep_if(gs[i], xs[i] * ac + bc > 0.0f) : RELU_G(gs, ro, i);
                a[l] += g;
                b[l] += (double)g * ((double)xs[i] - mu);
            }
            sdy += lanes_sum(&a);
            sdyx += lanes_sum(&b);
        }
        float r = rstd[c];
        if (dw) dw[c] += (float)(sdyx * r);
        if (db) db[c] += (float)sdy;
        if (!dx) continue;
        float k = (w ? w[c] : 1.0f) * r;
        float mdy = batch_stats ? (float)(sdy / (double)M) : 0.0f;
        float proj = batch_stats ? (float)(sdyx * r * r / (double)M) : 0.0f;
        float muf = (float)mu;
        for (int64_t n = 0; n < N; n++) {
            const float *xs = x + (n * C + c) * S, *gs = dy + (n * C + c) * S;
            const float *ro = relu_out ? relu_out + (n * C + c) * S : NULL;
            float *ds = dx + (n * C + c) * S;
            if (remask) {
                _Pragma("omp simd")
                for (int64_t i = 0; i < S; i++) {
                    float g = keep_if(gs[i], xs[i] * ac + bc > 0.0f);
                    ds[i] += k * (g - mdy - (xs[i] - muf) * proj);
                }
            } else {
                _Pragma("omp simd")
                for (int64_t i = 0; i < S; i++) ds[i] += k * (RELU_G(gs, ro, i) - mdy - (xs[i] - muf) * proj);
            }
        };
    }
}

/* Backward over x, dy, dx (N, C, S); mean, rstd (C) as used in the forward; w (C)
 * or NULL. dx, dw, db may be NULL; all three accumulate. batch_stats: the forward
 * used this batch's statistics (full backward through μ and σ²). relu_out (N, C, S)
 * or NULL: the forward was relu(batch_norm(x)) with this output. */
NB_CLONES static void bn_backward_kernel(const float *x, const float *dy, const float *relu_out, float *dx, float *dw,
                               float *db, int64_t N, int64_t C, int64_t S, const float *w, const float *beta,
                               const float *mean, const float *rstd, int batch_stats)
{
    if (S == 1) {
        bn_backward_rows(x, dy, relu_out, dx, dw, db, N, C, w, mean, rstd, batch_stats);
        return;
    }
    int64_t M = N *S;
    nb__parallel_if(N * C * S, C, nb__chunk_for(C), bn_backward_kernel_c_chunk,
                    &(bn_backward_kernel_c_ctx){x, dy, relu_out, dx, dw, db, N, C, S, w, mean, rstd, batch_stats, M,
                                                beta});
}

/* ---- the op ---- */

/* What batch_norm_backward needs. */
typedef struct {
    const float *stat; /* mean[C], then rstd[C] */
    int training; /* batch statistics */
    int64_t S; /* values per channel and sample */
    int relu; /* the output went through a ReLU */
} batch_norm_saved;

static void batch_norm_backward(nb_node *n)
{
    const batch_norm_saved *st = n->saved;
    nb_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    const float *mean = st->stat, *rstd = mean + x->shape[1];
    int64_t N = x->shape[0], C = x->shape[1], S = st->S;
    bn_backward_kernel(nb__f(x), n->out->grad, st->relu ? nb__f(n->out) : NULL, nb__wants_grad(x) ? x->grad : NULL,
                       nb__wants_grad(w) ? w->grad : NULL, nb__wants_grad(b) ? b->grad : NULL, N, C, S,
                       w ? nb__f(w) : NULL, b ? nb__f(b) : NULL, mean, rstd, st->training);
}

/* a chunk of nb__batch_norm_layer's loop over i (nb__parallel_if) */
typedef struct {
    float *o;
} batch_norm_layer_i_ctx;
static void batch_norm_layer_i_chunk(void *ctx_, int64_t b_, int64_t e_, int slot_)
{
    const batch_norm_layer_i_ctx *c_ = ctx_;
    float *o = c_->o;
    for (int64_t i = b_; i < e_; i++) {
        o[i] = o[i] <= 0.0f ? 0.0f : o[i]; /* NaN stays NaN */;
    }
}

/* F.batch_norm with the calling layer's name for messages. Checks everything
 * before touching the running statistics. */
nb_tensor *nb__batch_norm_layer(const char *layer, nb_tensor *x, nb_tensor *rm, nb_tensor *rv, nb_tensor *w,
                                nb_tensor *b, int training, float momentum, float eps, int relu)
{
    if (!x) return NULL;
    int64_t N, C, S;
    if (nb__norm_input(layer, x, 2, "(N, C, ...)", &N, &C, &S)) return NULL;
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
    int pending = relu; /* the ReLU still to apply */
    if (training) {
        pending = bn_forward_train(nb__f(x), nb__f(out), N, C, S, wv, bv, eps, dstat, dstat + C, mean, rstd, relu);
        double f = momentum, unb = (double)(N * S) / (double)(N * S - 1);
        for (int64_t c = 0; c < C; c++) {
            if (rm) nb__f(rm)[c] = (float)(f * dstat[c] + (1.0 - f) * nb__f(rm)[c]);
            if (rv) nb__f(rv)[c] = (float)(f * dstat[C + c] * unb + (1.0 - f) * nb__f(rv)[c]);
        }
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
    if (pending) { /* relu(batch_norm(x)) in place: no tensor (or gradient) for the normalized values */
        float *o = nb__f(out);
        nb__parallel_if(out->numel, out->numel, nb__chunk_for(out->numel), batch_norm_layer_i_chunk,
                        &(batch_norm_layer_i_ctx){o});
    }
    if (nb__needs_grad(ctx, x, w, b)) {
        batch_norm_saved *st = nb__record_with(out, batch_norm_backward, x, w, b, sizeof *st);
        if (!st) return NULL;
        st->stat = stat;
        st->training = training;
        st->S = S;
        st->relu = relu;
    }
    return out;
}

nb_tensor *nb_batch_norm(nb_tensor *x, nb_tensor *running_mean, nb_tensor *running_var, nb_tensor *weight,
                         nb_tensor *bias, int training, float momentum, float eps)
{
    return nb__batch_norm_layer("batch_norm", x, running_mean, running_var, weight, bias, training, momentum, eps, 0);
}
