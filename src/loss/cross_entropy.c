/* cross_entropy.c - CrossEntropyLoss as one fused op: log-softmax over the class
 * dim (max-subtracted) and the negative log-likelihood, PyTorch 1.13's semantics.
 *
 * Layout: input logits z (N, C, S) with S = d1·d2·… (1 for (N, C)); a 1-D input
 * (C) is one sample. Element (n, c, s) is at (n·C + c)·S + s; the log-sum-exp of
 * column (n, s) is lse[n·S + s], saved for backward; log p = z - lse.
 *
 * Class-index targets y (N, d1, …) I64, class weights w (C) (1 without):
 *   nll_ns    = -w[y]·log p[y]
 *   smooth_ns = -Σ_c w[c]·log p[c]                      (only when ε > 0)
 *   l_ns      = (1-ε)·nll_ns + ε/C·smooth_ns, 0 where y == ignore_index
 *   mean      = Σ l_ns / Σ w[y_ns] over samples not ignored (0/0 = NaN)
 * which is cross_entropy_loss_label_smoothing in ATen's LossNLL.cpp: nll_loss's
 * weighted mean plus the smoothing term normalised by the same weight sum.
 * Backward: dz_c = g·(a·p_c - ỹ_c) with a = (1-ε)·w[y] + ε/C·Σw and
 * ỹ_c = (1-ε)·w[y]·[c == y] + ε/C·w[c]: (p - y)·scale without weights/smoothing.
 *
 * Probability targets t shaped like input (F32); an ignore_index >= 0 is an error (as PyTorch):
 *   t̃ = (1-ε)·t + ε/C,  l_ns = -Σ_c w[c]·t̃_c·log p_c,  mean = Σ l_ns / (N·S)
 * Backward: dz_c = g·(p_c·Σ_k w[k]·t̃_k - w[c]·t̃_c), dt_c = -g·(1-ε)·w[c]·log p_c.
 * Class weights get no gradient (as in PyTorch's nll_loss). */
#include "loss/loss.h"
#include "core/error.h"
#include "core/tensor.h"
#include "core/tape.h"
#include "core/threads.h"
#include "kernels/vmath.h"

#include <string.h>

#define OP "CrossEntropyLoss"

typedef struct {
    int64_t N, C, S;
    int prob;          /* probability targets */
    int64_t ignore;    /* ignore_index (index targets) */
    float eps;         /* label smoothing */
    nb_reduction r;
    float scale;       /* mean: 1/denominator */
    const float *w;    /* class weights or NULL */
    const float *lse;  /* backward: the lse of every (n, s) column */
    double wsum;       /* Σ_c w[c] (C without weights) */
} ce_info;

/* One call of ce_lse, as its chunks (nb__parallel_if) read it; rows (S = 1) take the
 * vectorised max and exp-sum. */
typedef struct {
    const float *z;
    float *lse;
    int64_t C, S;
} ce_lse_job;

/* Samples [b, e) of ce_lse. */
static void ce_lse_chunk(void *ctx, int64_t b, int64_t e, int slot)
{
    const ce_lse_job *job = ctx;
    int64_t C = job->C, S = job->S;
    for (int64_t n = b; n < e; n++) {
        if (S == 1) {
            float m = nb__vmax(job->z + n * C, C);
            job->lse[n] = m + (float)log((double)nb__vexp_sum(job->z + n * C, m, NULL, C));
            continue;
        }
        for (int64_t s = 0; s < S; s++) {
            const float *zc = job->z + n * C * S + s;
            float m = -INFINITY;
            for (int64_t c = 0; c < C; c++) m = fmaxf(m, zc[c * S]);
            double sum = 0;
            for (int64_t c = 0; c < C; c++) sum += expf(zc[c * S] - m);
            job->lse[n * S + s] = m + (float)log(sum);
        }
    }
}

/* lse of every (n, s) column */
static void ce_lse(const float *z, float *lse, int64_t N, int64_t C, int64_t S)
{
    nb__parallel_if(N * C * S, N, nb__chunk_for(N), ce_lse_chunk, &(ce_lse_job){.z = z, .lse = lse, .C = C, .S = S});
}

/* rows [b, e) of dz = g·(p - onehot(y)) (ce_backward's plain case) */
typedef struct {
    const nb_node *n;
    const ce_info *ci;
    const int64_t *y;
    const float *z, *lse;
    float *gz;
    int64_t C;
} ce_rows_ctx;
NB_RANGE(ce_rows_chunk, ce_rows_ctx, c)
{
    int64_t C = c->C;
    for (int64_t i = b; i < e; i++) {
        int64_t y = c->y[i];
        if (y != c->ci->ignore) {
            float g = nb__loss_gscale(c->n, c->ci->r, i, c->ci->scale);
            nb__vexp_axpy(c->gz + i * C, c->z + i * C, c->lse[i], g, C);
            c->gz[i * C + y] -= g;
        }
    }
}

static void ce_backward(nb_node *n)
{
    const ce_info *ci = n->saved;
    nb_tensor *x = n->in[0], *t = n->in[1];
    const float *z = nb__f(x), *lse = ci->lse, *w = ci->w;
    float *gz = x->requires_grad ? x->grad : NULL;
    float *gt = ci->prob && t->requires_grad ? t->grad : NULL;
    int64_t N = ci->N, C = ci->C, S = ci->S;
    float eps = ci->eps, ec = eps / (float)C;
    if (S == 1 && !ci->prob && !w && eps == 0) { /* dz = g·(p - onehot(y)), rows over the threads */
        if (!gz) return;
        nb__parallel_if(N * C, N, nb__chunk_for(N), ce_rows_chunk, &(ce_rows_ctx){n, ci, nb__i(t), z, lse, gz, C});
        return;
    }
    for (int64_t i = 0; i < N; i++)
        for (int64_t s = 0; s < S; s++) {
            int64_t col = i * S + s, base = i * C * S + s;
            float g = nb__loss_gscale(n, ci->r, col, ci->scale), L = lse[col];
            if (!ci->prob) {
                int64_t y = nb__i(t)[col];
                if (y == ci->ignore || !gz) continue;
                float wy = w ? w[y] : 1.0f;
                float a = (1.0f - eps) * wy + ec * (float)ci->wsum;
                for (int64_t c = 0; c < C; c++) {
                    float p = expf(z[base + c * S] - L);
                    float yt = ec * (w ? w[c] : 1.0f) + (c == y ? (1.0f - eps) * wy : 0.0f);
                    gz[base + c * S] += g * (a * p - yt);
                }
            } else {
                const float *tv = nb__f(t);
                double a = 0;
                for (int64_t c = 0; c < C; c++)
                    a += (double)(w ? w[c] : 1.0f) * ((1.0f - eps) * tv[base + c * S] + ec);
                for (int64_t c = 0; c < C; c++) {
                    int64_t k = base + c *S;
                    float wc = w ? w[c] : 1.0f, lp = z[k] - L;
                    if (gz) gz[k] += g * (expf(lp) * (float)a - wc * ((1.0f - eps) * tv[k] + ec));
                    if (gt) gt[k] -= g * (1.0f - eps) * wc *lp;
                }
            }
        }
}

/* Shape and option checks; fills ci (not scale). */
static nb_status ce_check(nb_tensor *x, nb_tensor *t, const nb_cross_entropy_opts *o, ce_info *ci)
{
    char sx[128], st[128];
    nb__shape_str(x->ndim, x->shape, sx, sizeof sx);
    nb__shape_str(t->ndim, t->shape, st, sizeof st);
    if (nb__loss_check_reduction(o->reduction, OP) || nb__loss_check_f32(x, OP, "input (logits)")) return NB_ERR_ARG;
    if (x->ndim < 1)
        return nb__fail(NB_ERR_SHAPE, OP ": input of shape %s needs a class dimension: (C), (N, C) or (N, C, d1, ...)", sx);
    if (!(o->label_smoothing >= 0.0f && o->label_smoothing <= 1.0f))
        return nb__fail(NB_ERR_ARG, OP ": label_smoothing must be between 0.0 and 1.0, got %g", o->label_smoothing);
    int cd = x->ndim == 1 ? 0 : 1;
    ci->C = x->shape[cd];
    ci->N = cd ? x->shape[0] : 1;
    ci->S = 1;
    for (int d = 2; d < x->ndim; d++) ci->S *= x->shape[d];
    ci->prob = t->dtype == NB_F32;
    ci->ignore = o->ignore_index == 0 && !o->has_ignore_index ? -100 : o->ignore_index;
    ci->eps = o->label_smoothing;
    ci->r = o->reduction;
    if (o->weight) {
        nb_tensor *w = o->weight;
        if (w->dtype != NB_F32 || w->ndim != 1 || w->shape[0] != ci->C) {
            char sw[128];
            nb__shape_str(w->ndim, w->shape, sw, sizeof sw);
            return nb__fail(NB_ERR_SHAPE, OP ": weight of shape %s%s must be an F32 tensor of shape [%lld] (one per class of input %s)",
                            sw, w->dtype == NB_F32 ? "" : " (I64)", (long long)ci->C, sx);
        }
    }
    ci->w = o->weight ? nb__f(o->weight) : NULL;
    ci->wsum = 0;
    for (int64_t c = 0; c < ci->C; c++) ci->wsum += ci->w ? ci->w[c] : 1.0;
    if (ci->C < 1) return nb__fail(NB_ERR_SHAPE, OP ": input of shape %s has no classes", sx);
    if (ci->prob) {
        if (ci->ignore >= 0)
            return nb__fail(NB_ERR_ARG, OP ": ignore_index %lld is not supported for probability (F32) targets",
                            (long long)ci->ignore);
        if (!nb__same_shape(x, t))
            return nb__fail(NB_ERR_SHAPE, OP ": probability target of shape %s must have the input's shape %s%s", st, sx,
                            t->ndim == x->ndim - 1 ? " (class-index targets must be I64)" : "");
        return NB_OK;
    }
    /* class indices: target shape = input shape without the class dim */
    int ok = t->ndim == x->ndim - 1;
    for (int d = 0, e = 0; ok && d < x->ndim; d++)
        if (d != cd && x->shape[d] != t->shape[e++]) ok = 0;
    if (!ok)
        return nb__fail(NB_ERR_SHAPE, OP ": input of shape %s needs a class-index target of its shape without dim %d, got %s", sx, cd, st);
    const int64_t *y = nb__i(t);
    for (int64_t k = 0; k < t->numel; k++)
        if (y[k] != ci->ignore && (y[k] < 0 || y[k] >= ci->C))
            return nb__fail(NB_ERR_ARG, OP ": target %lld (element %lld) is out of bounds for %lld classes (input %s)",
                            (long long)y[k], (long long)k, (long long)ci->C, sx);
    return NB_OK;
}

nb_tensor *nb_cross_entropy(nb_tensor *x, nb_tensor *t, const nb_cross_entropy_opts *opts)
{
    if (!x || !t) return NULL;
    static const nb_cross_entropy_opts dflt;
    const nb_cross_entropy_opts *o = opts ? opts : &dflt;
    nb_ctx *ctx = x->ctx;
    ce_info ci;
    if (ce_check(x, t, o, &ci)) return NULL;
    int64_t N = ci.N, C = ci.C, S = ci.S;
    /* per-sample result shape: input's without the class dim */
    int64_t oshape[NB_MAX_DIMS];
    int ond = 0;
    for (int d = 0; d < x->ndim; d++)
        if (d != (x->ndim == 1 ? 0 : 1)) oshape[ond++] = x->shape[d];
    nb_tensor *out = nb__loss_out(ctx, ci.r, ond, oshape);
    float *lse = nb__scratch(ctx, (size_t)(N * S) * sizeof(float) + 1);
    if (!out || !lse) return NULL;
    const float *z = nb__f(x), *w = ci.w;
    ce_lse(z, lse, N, C, S);
    float eps = ci.eps, ec = eps / (float)C;
    double total = 0, denom = 0;
    for (int64_t i = 0; i < N; i++)
        for (int64_t s = 0; s < S; s++) {
            int64_t col = i * S + s, base = i * C * S + s;
            float L = lse[col];
            double l = 0;
            if (!ci.prob) {
                int64_t y = nb__i(t)[col];
                if (y != ci.ignore) {
                    double wy = w ? w[y] : 1.0;
                    l = (1.0 - eps) * wy * -(double)(z[base + y * S] - L);
                    if (eps > 0) {
                        double sm = 0;
                        for (int64_t c = 0; c < C; c++) sm -= (w ? w[c] : 1.0) * (double)(z[base + c * S] - L);
                        l += ec *sm;
                    }
                    denom += wy;
                }
            } else {
                const float *tv = nb__f(t);
                for (int64_t c = 0; c < C; c++) {
                    int64_t k = base + c *S;
                    l -= (w ? w[c] : 1.0) * ((1.0 - eps) * tv[k] + ec) * (double)(z[k] - L);
                }
            }
            if (ci.r == NB_NONE)
                nb__f(out)[col] = (float)l;
            else
                total += l;
        }
    if (ci.prob) denom = (double)(N * S);
    nb__loss_store(out, ci.r, total, denom);
    if (nb__needs_grad(ctx, x, ci.prob ? t : NULL, NULL)) {
        ce_info *saved = nb__scratch(ctx, sizeof *saved);
        if (!saved) return NULL;
        ci.scale = ci.r == NB_MEAN ? (denom != 0 ? (float)(1.0 / denom) : NAN) : 1.0f;
        *saved = ci;
        saved->lse = lse;
        nb_node *n = nb__record(out, ce_backward, x, t, NULL);
        if (!n) return NULL;
        n->saved = saved;
    }
    return out;
}
