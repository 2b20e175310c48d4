/* group_norm.c - nb_group_norm (F.group_norm) with its backward (the module GroupNorm is
 * in src/nn/group_norm.c); and the contiguous-group normalization kernel that LayerNorm and
 * InstanceNorm reuse (GroupNorm is their general case: InstanceNorm is G = C,
 * LayerNorm normalizes each row of the trailing dims).
 *
 * Layout: x, y are `groups` groups of L contiguous values each. Value j of group
 * g uses parameter p = (g % pg)·(L/pin) + j/pin of weight and bias:
 *   GroupNorm  x (N, C, S): groups N·G, L = (C/G)·S, pg = G, pin = S  (p = channel)
 *   InstanceNorm           : groups N·C, L = S,       pg = C, pin = S  (p = channel)
 *   LayerNorm  x (R, D)    : groups R,   L = D,       pg = 1, pin = 1  (p = j)
 * Statistics per group, in double, shifted by the group's first value; biased
 * variance. Threads split the groups (and, for the parameter gradients, the
 * parameters); every sum is made by one thread in a fixed order.
 * Backward with x̂ = (x-μ)·r, g = dy·γ_p:
 *   dx = r·(g - mean(g) - x̂·mean(g·x̂)),  dγ_p = Σ dy·x̂,  dβ_p = Σ dy.
 */
#include "core/error.h"
#include "core/tensor.h"
#include "core/tape.h"
#include "core/threads.h"
#include "ops/norm.h"

#include <math.h>
#include <string.h>

typedef struct {
    int64_t groups, L, pg, pin;
    float *mean, *rstd; /* (groups) */
} gn_plan;

static inline float param(const float *v, int64_t p, float dflt) { return v ? v[p] : dflt; }

/* One kernel call, as its chunks (nb__parallel_if) read it: x, y, dy, dx are the
 * plan's groups of L values; w, b, dw, db per parameter (or NULL). */
typedef struct {
    const gn_plan *pl;
    const float *x;
    float *y;
    const float *dy;
    float *dx;
    const float *w, *b;
    float *dw, *db;     /* accumulate */
    double *mean, *var; /* gn_stats: per group */
} gn_job;

/* Groups [b, e) of gn_stats. */
static void gn_stats_chunk(void *ctx, int64_t b, int64_t e, int slot)
{
    const gn_job *job = ctx;
    int64_t L = job->pl->L;
    for (int64_t g = b; g < e; g++) {
        const float *xs = job->x + g * L;
        double k = xs[0], s = 0, ss = 0;
#pragma omp simd reduction(+ : s, ss)
        for (int64_t j = 0; j < L; j++) {
            double d = (double)xs[j] - k;
            s += d;
            ss += d * d;
        }
        double m = s / (double)L, v = ss / (double)L - m * m;
        job->mean[g] = k + m;
        job->var[g] = v > 0 ? v : 0;
    }
}

/* Per-group mean and biased variance of the plan's groups of L values. */
static void gn_stats(const float *x, const gn_plan *pl, double *mean, double *var)
{
    nb__parallel_if(pl->groups * pl->L, pl->groups, nb__chunk_for(pl->groups), gn_stats_chunk,
                    &(gn_job){.pl = pl, .x = x, .mean = mean, .var = var});
}

/* Groups [b, e) of gn_forward_kernel. */
static void gn_forward_chunk(void *ctx, int64_t b, int64_t e, int slot)
{
    const gn_job *job = ctx;
    const gn_plan *pl = job->pl;
    const float *w = job->w, *bias = job->b;
    int64_t L = pl->L, nb = L / pl->pin;
    for (int64_t g = b; g < e; g++) {
        const float *xs = job->x + g * L;
        float *ys = job->y + g * L;
        float mu = pl->mean[g], r = pl->rstd[g];
        int64_t p0 = (g % pl->pg) * nb;
        if (pl->pin == 1) {
#pragma omp simd
            for (int64_t j = 0; j < L; j++)
                ys[j] = (xs[j] - mu) * r * param(w, p0 + j, 1.0f) + param(bias, p0 + j, 0.0f);
            continue;
        }
        for (int64_t k = 0; k < nb; k++) {
            float a = param(w, p0 + k, 1.0f) * r, sh = param(bias, p0 + k, 0.0f) - mu * a;
            const float *xk = xs + k * pl->pin;
            float *yk = ys + k * pl->pin;
#pragma omp simd
            for (int64_t i = 0; i < pl->pin; i++) yk[i] = xk[i] * a + sh;
        }
    }
}

static void gn_forward_kernel(const float *x, float *y, const gn_plan *pl, const float *w, const float *b)
{
    nb__parallel_if(pl->groups * pl->L, pl->groups, nb__chunk_for(pl->groups), gn_forward_chunk,
                    &(gn_job){.pl = pl, .x = x, .y = y, .w = w, .b = b});
}

/* Groups [b, e) of gn_backward_dx. */
static void gn_backward_dx_chunk(void *ctx, int64_t b, int64_t e, int slot)
{
    const gn_job *job = ctx;
    const gn_plan *pl = job->pl;
    const float *w = job->w;
    int64_t L = pl->L, pin = pl->pin, nb = L / pin;
    for (int64_t g = b; g < e; g++) {
        const float *xs = job->x + g * L, *gs = job->dy + g * L;
        float *ds = job->dx + g * L;
        float mu = pl->mean[g], r = pl->rstd[g];
        int64_t p0 = (g % pl->pg) * nb;
        double s1 = 0, s2 = 0; /* Σ g, Σ g·(x-μ) */
        if (pin == 1) {
#pragma omp simd reduction(+ : s1, s2)
            for (int64_t j = 0; j < L; j++) {
                double gw = (double)gs[j] * param(w, p0 + j, 1.0f);
                s1 += gw;
                s2 += gw * ((double)xs[j] - mu);
            }
        } else {
            for (int64_t k = 0; k < nb; k++) {
                const float *xk = xs + k * pin, *gk = gs + k * pin;
                double a = 0, c = 0;
#pragma omp simd reduction(+ : a, c)
                for (int64_t i = 0; i < pin; i++) {
                    a += gk[i];
                    c += (double)gk[i] * ((double)xk[i] - mu);
                }
                double wp = param(w, p0 + k, 1.0f);
                s1 += a * wp;
                s2 += c * wp;
            }
        }
        float m1 = (float)(s1 / (double)L), m2 = (float)(s2 * r * r / (double)L);
        if (pin == 1) {
#pragma omp simd
            for (int64_t j = 0; j < L; j++)
                ds[j] += r * (gs[j] * param(w, p0 + j, 1.0f) - m1 - (xs[j] - mu) * m2);
            continue;
        }
        for (int64_t k = 0; k < nb; k++) {
            float wr = param(w, p0 + k, 1.0f) * r, m1r = m1 * r, m2r = m2 * r;
            const float *xk = xs + k * pin, *gk = gs + k * pin;
            float *dk = ds + k * pin;
#pragma omp simd
            for (int64_t i = 0; i < pin; i++) dk[i] += wr * gk[i] - m1r - (xk[i] - mu) * m2r;
        }
    }
}

/* dx accumulates r·(g - mean(g) - x̂·mean(g·x̂)) with g = dy·γ_p. */
static void gn_backward_dx(const float *x, const float *dy, float *dx, const gn_plan *pl, const float *w)
{
    nb__parallel_if(pl->groups * pl->L, pl->groups, nb__chunk_for(pl->groups), gn_backward_dx_chunk,
                    &(gn_job){.pl = pl, .x = x, .dy = dy, .dx = dx, .w = w});
}

/* Parameters [b, e) of gn_backward_params: each a sum over the groups that use it. */
static void gn_backward_params_chunk(void *ctx, int64_t b, int64_t e, int slot)
{
    const gn_job *job = ctx;
    const gn_plan *pl = job->pl;
    int64_t L = pl->L, pin = pl->pin, nb = L / pin, outer = pl->groups / pl->pg;
    for (int64_t p = b; p < e; p++) {
        int64_t gi = p / nb, k = p % nb;
        double sw = 0, sb = 0;
        for (int64_t o = 0; o < outer; o++) {
            int64_t g = o * pl->pg + gi;
            const float *xs = job->x + g * L + k * pin, *gs = job->dy + g * L + k * pin;
            double mu = pl->mean[g], a = 0, c = 0;
#pragma omp simd reduction(+ : a, c)
            for (int64_t i = 0; i < pin; i++) {
                a += gs[i];
                c += (double)gs[i] * ((double)xs[i] - mu);
            }
            sw += c * pl->rstd[g];
            sb += a;
        }
        if (job->dw) job->dw[p] += (float)sw;
        if (job->db) job->db[p] += (float)sb;
    }
}

/* LayerNorm's (pin = 1, pg = 1) parameter gradients: one parameter per position, blocks
 * [b, e) of GN_POS positions, each summed over every group in order. */
enum { GN_POS = 256 };
static void gn_backward_positions_chunk(void *ctx, int64_t b, int64_t e, int slot)
{
    const gn_job *job = ctx;
    const gn_plan *pl = job->pl;
    int64_t L = pl->L;
    for (int64_t blk = b; blk < e; blk++) {
        int64_t j0 = blk * GN_POS, n = L - j0 < GN_POS ? L - j0 : GN_POS;
        double aw[GN_POS], ab[GN_POS];
        memset(aw, 0, sizeof aw);
        memset(ab, 0, sizeof ab);
        for (int64_t g = 0; g < pl->groups; g++) { /* pg = 1: group g covers every position */
            const float *xs = job->x + g * L + j0, *gs = job->dy + g * L + j0;
            double mu = pl->mean[g], r = pl->rstd[g];
#pragma omp simd
            for (int64_t j = 0; j < n; j++) {
                aw[j] += (double)gs[j] * ((double)xs[j] - mu) * r;
                ab[j] += gs[j];
            }
        }
        for (int64_t j = 0; j < n; j++) {
            if (job->dw) job->dw[j0 + j] += (float)aw[j];
            if (job->db) job->db[j0 + j] += (float)ab[j];
        }
    }
}

/* dγ_p += Σ dy·x̂, dβ_p += Σ dy over every value that uses parameter p. */
static void gn_backward_params(const float *x, const float *dy, float *dw, float *db, const gn_plan *pl)
{
    int64_t P = pl->pg * (pl->L / pl->pin);
    gn_job job = {.pl = pl, .x = x, .dy = dy, .dw = dw, .db = db};
    if (pl->pin == 1 && pl->pg == 1) { /* LayerNorm: threads split the positions */
        int64_t blocks = (P + GN_POS - 1) / GN_POS;
        nb__parallel_if(pl->groups * pl->L, blocks, nb__chunk_for(blocks), gn_backward_positions_chunk, &job);
        return;
    }
    nb__parallel_if(pl->groups * pl->L, P, nb__chunk_for(P), gn_backward_params_chunk, &job);
}

/* What group_norm_backward needs (see nb__group_norm_impl). */
typedef struct {
    float *stat; /* mean[groups], then rstd[groups] */
    int64_t groups;
    int64_t L;
    int64_t pg;
    int64_t pin;
} group_norm_saved;

static void group_norm_backward(nb_node *n)
{
    const group_norm_saved *st = n->saved;
    nb_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    gn_plan pl = {.groups = st->groups, .L = st->L, .pg = st->pg, .pin = st->pin};
    pl.mean = st->stat;
    pl.rstd = pl.mean + pl.groups;
    const float *dy = n->out->grad;
    if (nb__wants_grad(x)) gn_backward_dx(nb__f(x), dy, x->grad, &pl, w ? nb__f(w) : NULL);
    if (nb__wants_grad(w) || nb__wants_grad(b))
        gn_backward_params(nb__f(x), dy, nb__wants_grad(w) ? w->grad : NULL, nb__wants_grad(b) ? b->grad : NULL,
                           &pl);
}

nb_tensor *nb__group_norm_impl(nb_tensor *x, int64_t groups, int64_t pg, int64_t pin, nb_tensor *w, nb_tensor *b,
                               float eps, double *mean, double *var)
{
    nb_ctx *ctx = x->ctx;
    int64_t L = groups ? x->numel / groups : 0;
    nb_tensor *out = nb__empty_like(x);
    float *stat = nb__scratch(ctx, (size_t)(2 * groups + 1) * sizeof(float));
    double *dm = mean, *dv = var;
    if (!dm) dm = nb__scratch(ctx, (size_t)(groups + 1) * sizeof(double));
    if (!dv) dv = nb__scratch(ctx, (size_t)(groups + 1) * sizeof(double));
    if (!out || !stat || !dm || !dv) return NULL;
    gn_plan pl = {.groups = groups, .L = L, .pg = pg, .pin = pin, .mean = stat, .rstd = stat + groups};
    if (L > 0) gn_stats(nb__f(x), &pl, dm, dv);
    for (int64_t g = 0; g < groups && L > 0; g++) {
        pl.mean[g] = (float)dm[g];
        pl.rstd[g] = (float)(1.0 / sqrt(dv[g] + (double)eps));
    }
    if (L > 0) gn_forward_kernel(nb__f(x), nb__f(out), &pl, w ? nb__f(w) : NULL, b ? nb__f(b) : NULL);
    if (nb__needs_grad(ctx, x, w, b)) {
        group_norm_saved *st = nb__record_with(out, group_norm_backward, x, w, b, sizeof *st);
        if (!st) return NULL;
        st->stat = stat;
        st->groups = groups;
        st->L = L;
        st->pg = pg;
        st->pin = pin;
    }
    return out;
}

/* GroupNorm's checks with the caller's name ("GroupNorm(2, 8)" or "group_norm"). */
nb_tensor *nb__group_norm_layer(const char *layer, nb_tensor *x, int64_t G, nb_tensor *w, nb_tensor *b,
                                float eps)
{
    if (!x) return NULL;
    int64_t N, C, S;
    if (nb__norm_input(layer, x, 2, "(N, C, ...)", &N, &C, &S)) return NULL;
    const char *s = nb__tshape(x);
    if (G <= 0 || C % G) {
        nb__fail(NB_ERR_SHAPE, "%s: input %s has %lld channels, which do not divide into %lld groups", layer, s,
                 (long long)C, (long long)G);
        return NULL;
    }
    nb_tensor *pv[2] = {w, b};
    for (int k = 0; k < 2; k++)
        if (pv[k] && (pv[k]->dtype != NB_F32 || pv[k]->numel != C)) {
            char ps[128];
            nb__shape_str(pv[k]->ndim, pv[k]->shape, ps, sizeof ps);
            nb__fail(NB_ERR_SHAPE, "%s: %s has shape %s; expected %lld F32 values (one per channel of input %s)",
                     layer, k ? "bias" : "weight", ps, (long long)C, s);
            return NULL;
        }
    return nb__group_norm_impl(x, N * G, G, S ? S : 1, w, b, eps, NULL, NULL);
}

nb_tensor *nb_group_norm(nb_tensor *x, int64_t num_groups, nb_tensor *weight, nb_tensor *bias, float eps)
{
    return nb__group_norm_layer("group_norm", x, num_groups, weight, bias, eps);
}
