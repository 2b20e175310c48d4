/* mix.c - batch-level MixUp and CutMix with soft targets, as torchvision's
 * (references/classification/transforms.py RandomMixup/RandomCutmix, v2 MixUp/CutMix
 * with p = 1): each sample is mixed with the batch rolled by one along dim 0, and the
 * one-hot targets the same way (CutMix with the box-corrected λ). λ ~ Beta(α, α).
 *
 * Layout: x (B, C, H, W), y (B) I64 or (B, K) F32; outputs (B, C, H, W), (B, K). */
#include "augment/augment.h"
#include "core/error.h"
#include "core/tensor.h"

#include <math.h>
#include <string.h>

/* log of a Gamma(k, 1) draw, Marsaglia & Tsang (2000); k < 1 boosted by U^(1/k) */
static double log_gamma_draw(nb_rng *r, double k)
{
    double boost = 0;
    if (k < 1) {
        double u = 1.0 - (double)nb_rng_uniform(r); /* (0, 1] */
        boost = log(u) / k;
        k += 1;
    }
    double d = k - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x = nb_rng_normal(r), v = 1.0 + c * x;
        if (v <= 0) continue;
        v = v * v * v;
        double u = 1.0 - (double)nb_rng_uniform(r);
        if (u < 1.0 - 0.0331 * x * x * x * x || log(u) < 0.5 * x * x + d * (1.0 - v + log(v)))
            return log(d * v) + boost;
    }
}

double nb_rng_beta(nb_rng *rng, double a, double b)
{
    if (!rng || !(a > 0) || !(b > 0)) return NAN;
    double lx = log_gamma_draw(rng, a), ly = log_gamma_draw(rng, b);
    return 1.0 / (1.0 + exp(ly - lx)); /* X / (X + Y) without underflow */
}

/* Check x, y and write the soft targets of y into t (B, K). */
static nb_status prepare(nb_tensor *x, nb_tensor *y, int64_t K, const char *op, float *t)
{
    int64_t B = x->shape[0];
    if (y->dtype == NB_I64) {
        if (y->ndim != 1 || y->shape[0] != B)
            return nb__fail(NB_ERR_SHAPE, "%s: class-index targets must be (%lld), one per sample", op, (long long)B);
        const int64_t *l = nb__i(y);
        memset(t, 0, (size_t)(B * K) * sizeof(float));
        for (int64_t b = 0; b < B; b++) {
            if (l[b] < 0 || l[b] >= K)
                return nb__fail(NB_ERR_ARG, "%s: target %lld of sample %lld is not a class in [0, %lld)", op,
                                (long long)l[b], (long long)b, (long long)K);
            t[b * K + l[b]] = 1.0f;
        }
        return NB_OK;
    }
    if (y->ndim != 2 || y->shape[0] != B || y->shape[1] != K)
        return nb__fail(NB_ERR_SHAPE, "%s: probability targets must be (%lld, %lld)", op, (long long)B, (long long)K);
    memcpy(t, nb__f(y), (size_t)(B * K) * sizeof(float));
    return NB_OK;
}

static nb_status check_inputs(nb_tensor *x, nb_tensor *y, int64_t K, nb_tensor **xo, nb_tensor **yo, const char *op)
{
    if (!xo || !yo) return nb__fail(NB_ERR_ARG, "%s: x_out and y_out are required", op);
    *xo = *yo = NULL;
    if (!x || !y) return NB_ERR_ARG;
    if (x->dtype != NB_F32 || x->ndim != 4) {
        char s[96];
        nb__shape_str(x->ndim, x->shape, s, sizeof s);
        return nb__fail(NB_ERR_SHAPE, "%s needs an F32 batch (B, C, H, W), got %s", op, s);
    }
    if (x->numel == 0) return nb__fail(NB_ERR_SHAPE, "%s needs a non-empty batch", op);
    if (K < 1 || K > (1 << 24)) return nb__fail(NB_ERR_ARG, "%s: num_classes %lld must be positive", op, (long long)K);
    return NB_OK;
}

/* *xo (a copy of x), *yo (soft targets of y) as arena tensors */
static nb_status outputs(nb_tensor *x, nb_tensor *y, int64_t K, nb_tensor **xo, nb_tensor **yo, const char *op)
{
    nb_status st = check_inputs(x, y, K, xo, yo, op);
    if (st) return st;
    nb_tensor *a = nb__empty(x->ctx, NB_F32, 4, x->shape);
    nb_tensor *b = a ? nb__empty(x->ctx, NB_F32, 2, (int64_t[]){x->shape[0], K}) : NULL;
    if (!b) return NB_ERR_MEM;
    st = prepare(x, y, K, op, nb__f(b));
    if (st) return st;
    *xo = a;
    *yo = b;
    return NB_OK;
}

/* rows of t (B, K) mixed: t[b] = l·t[b] + (1-l)·t[b-1], t[-1] = t[B-1] */
static void mix_rows(float *t, int64_t B, int64_t K, double lam, float *tmp_last)
{
    float a = (float)lam, c = (float)(1.0 - lam);
    memcpy(tmp_last, t + (B - 1) * K, (size_t)K * sizeof(float));
    for (int64_t b = B - 1; b >= 0; b--) {
        const float *prev = b > 0 ? t + (b - 1) * K : tmp_last;
        float *row = t + b * K;
        for (int64_t k = 0; k < K; k++) row[k] = row[k] * a + prev[k] * c;
    }
}

nb_status nb_mixup(nb_tensor *x, nb_tensor *y, int64_t num_classes, float lambda, nb_tensor **x_out,
                   nb_tensor **y_out)
{
    nb_tensor *xo, *yo;
    nb_status st = outputs(x, y, num_classes, &xo, &yo, "mixup");
    if (!st && !(lambda >= 0 && lambda <= 1)) st = nb__fail(NB_ERR_ARG, "mixup: lambda %g is not in [0, 1]", (double)lambda);
    if (st) return st;
    int64_t B = x->shape[0], per = x->numel / B;
    float *tmp = nb__scratch(x->ctx, (size_t)(per > num_classes ? per : num_classes) * sizeof(float));
    if (!tmp) return NB_ERR_MEM;
    const float *s = nb__f(x);
    float *o = nb__f(xo), a = lambda, c = (float)(1.0 - (double)lambda);
    for (int64_t b = 0; b < B; b++) {
        const float *prev = s + ((b + B - 1) % B) * per, *cur = s + b * per;
        for (int64_t i = 0; i < per; i++) o[b * per + i] = cur[i] * a + prev[i] * c;
    }
    mix_rows(nb__f(yo), B, num_classes, lambda, tmp);
    *x_out = xo;
    *y_out = yo;
    return NB_OK;
}

nb_status nb_cutmix(nb_tensor *x, nb_tensor *y, int64_t num_classes, float lambda, int64_t cx, int64_t cy,
                    nb_tensor **x_out, nb_tensor **y_out, float *lambda_adj)
{
    nb_tensor *xo, *yo;
    nb_status st = outputs(x, y, num_classes, &xo, &yo, "cutmix");
    if (!st && !(lambda >= 0 && lambda <= 1)) st = nb__fail(NB_ERR_ARG, "cutmix: lambda %g is not in [0, 1]", (double)lambda);
    if (st) return st;
    int64_t B = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3], per = C * H * W;
    if (cx < 0 || cx >= W || cy < 0 || cy >= H)
        return nb__fail(NB_ERR_ARG, "cutmix: the box centre (%lld, %lld) is outside the %lldx%lld image", (long long)cx,
                        (long long)cy, (long long)H, (long long)W);
    double r = 0.5 * sqrt(1.0 - (double)lambda);
    int64_t rw = (int64_t)(r * (double)W), rh = (int64_t)(r * (double)H);
    int64_t x1 = cx - rw < 0 ? 0 : cx - rw, y1 = cy - rh < 0 ? 0 : cy - rh;
    int64_t x2 = cx + rw > W ? W : cx + rw, y2 = cy + rh > H ? H : cy + rh;
    const float *s = nb__f(x);
    float *o = nb__f(xo);
    memcpy(o, s, (size_t)x->numel * sizeof(float));
    for (int64_t b = 0; b < B; b++) {
        const float *prev = s + ((b + B - 1) % B) * per;
        for (int64_t c = 0; c < C; c++)
            for (int64_t yy = y1; yy < y2; yy++)
                memcpy(o + b * per + (c * H + yy) * W + x1, prev + (c * H + yy) * W + x1, (size_t)(x2 - x1) * sizeof(float));
    }
    double adj = 1.0 - (double)((x2 - x1) * (y2 - y1)) / (double)(W * H);
    float *tmp = nb__scratch(x->ctx, (size_t)num_classes * sizeof(float));
    if (!tmp) return NB_ERR_MEM;
    mix_rows(nb__f(yo), B, num_classes, adj, tmp);
    if (lambda_adj) *lambda_adj = (float)adj;
    *x_out = xo;
    *y_out = yo;
    return NB_OK;
}

static nb_status check_alpha(float *alpha, nb_rng *rng, const char *op)
{
    if (*alpha == 0) *alpha = 1.0f;
    if (!(*alpha > 0) || !isfinite(*alpha)) return nb__fail(NB_ERR_ARG, "%s: alpha %g must be positive", op, (double)*alpha);
    if (!rng) return nb__fail(NB_ERR_ARG, "%s needs a random generator", op);
    return NB_OK;
}

nb_status nb_random_mixup(nb_tensor *x, nb_tensor *y, int64_t num_classes, float alpha, nb_rng *rng,
                          nb_tensor **x_out, nb_tensor **y_out, float *lambda)
{
    nb_status st = check_alpha(&alpha, rng, "mixup");
    if (st) return st;
    float lam = (float)nb_rng_beta(rng, alpha, alpha);
    st = nb_mixup(x, y, num_classes, lam, x_out, y_out);
    if (!st && lambda) *lambda = lam;
    return st;
}

nb_status nb_random_cutmix(nb_tensor *x, nb_tensor *y, int64_t num_classes, float alpha, nb_rng *rng,
                           nb_tensor **x_out, nb_tensor **y_out, float *lambda)
{
    nb_status st = check_alpha(&alpha, rng, "cutmix");
    if (!st) st = check_inputs(x, y, num_classes, x_out, y_out, "cutmix");
    if (st) return st;
    float lam = (float)nb_rng_beta(rng, alpha, alpha);
    int64_t cx = (int64_t)nb_rng_below(rng, (uint64_t)x->shape[3]);
    int64_t cy = (int64_t)nb_rng_below(rng, (uint64_t)x->shape[2]);
    return nb_cutmix(x, y, num_classes, lam, cx, cy, x_out, y_out, lambda);
}
