/* bce.c - BCELoss and BCEWithLogitsLoss, one fused op each (PyTorch 1.13).
 * Layout: input and target contiguous with the same shape; weight (and
 * pos_weight) broadcast to the input's shape by NumPy rules, e.g. pos_weight (C)
 * over the last dim. Mean divides by numel.
 *
 * BCELoss, x probabilities in [0, 1] (checked), each log clamped at -100:
 *   l = w·((t - 1)·max(log(1 - x), -100) - t·max(log x, -100))
 *   dx = w·(x - t) / max((1 - x)·x, 1e-12),  dt = w·(log(1 - x) - log x)
 * BCEWithLogitsLoss, x logits, stable log-sigmoid, lw = 1 + (pos_weight - 1)·t:
 *   l = w·((1 - t)·x - lw·logσ(x)),  logσ(x) = min(x, 0) - log1p(e^-|x|)
 *   dx = w·(lw·σ(x) - pos_weight·t),  dt = w·((1 - pos_weight)·logσ(x) - x)
 * (each times the upstream gradient and 1/numel for mean). weight and pos_weight
 * get no gradient. */
#include "loss/loss.h"
#include "ops/broadcast.h"
#include "core/error.h"
#include "core/tensor.h"
#include "core/tape.h"

#include <string.h>

#define BCE_EPS 1e-12f

/* w broadcast to like's shape into n floats of arena memory; NULL with a message. */
static float *expand_to(nb_tensor *w, nb_tensor *like, const char *op, const char *role)
{
    char sw[128], sx[128];
    nb__shape_str(w->ndim, w->shape, sw, sizeof sw);
    nb__shape_str(like->ndim, like->shape, sx, sizeof sx);
    if (w->dtype != NB_F32) {
        nb__fail(NB_ERR_ARG, "%s: %s must be an F32 tensor, got I64", op, role);
        return NULL;
    }
    nb_bcast bc;
    int fits = nb__bcast_init(&bc, like, w, op) == NB_OK && bc.ndim == like->ndim;
    for (int d = 0; fits && d < bc.ndim; d++) fits = bc.shape[d] == like->shape[d];
    if (!fits) {
        nb__fail(NB_ERR_SHAPE, "%s: %s of shape %s does not broadcast to the input's shape %s", op, role, sw, sx);
        return NULL;
    }
    float *out = nb__scratch(like->ctx, (size_t)like->numel * sizeof(float) + 1);
    if (!out) return NULL;
    const float *src = nb__f(w);
    NB_BCAST_FOR(&bc, { (void)ia; out[i] = src[ib]; });
    return out;
}

static inline float log_sigmoid(float x) { return fminf(x, 0.0f) - log1pf(expf(-fabsf(x))); }

typedef struct {
    const float *w, *pw; /* expanded to numel, or NULL */
    nb_reduction r;
    float scale;
    int logits;
} bce_info;

static void bce_backward(nb_node *n)
{
    const bce_info *bi = n->saved;
    nb_tensor *x = n->in[0], *t = n->in[1];
    const float *xv = nb__f(x), *tv = nb__f(t);
    float *gx = x->requires_grad ? x->grad : NULL, *gt = t->requires_grad ? t->grad : NULL;
    for (int64_t i = 0; i < x->numel; i++) {
        float g = nb__loss_gscale(n, bi->r, i, bi->scale) * (bi->w ? bi->w[i] : 1.0f);
        float xi = xv[i], ti = tv[i];
        if (bi->logits) {
            float pw = bi->pw ? bi->pw[i] : 1.0f, lw = 1.0f + (pw - 1.0f) * ti;
            if (gx) gx[i] += g * (lw / (1.0f + expf(-xi)) - pw * ti);
            if (gt) gt[i] += g * ((1.0f - pw) * log_sigmoid(xi) - xi);
        } else {
            if (gx) gx[i] += g * (xi - ti) / fmaxf((1.0f - xi) * xi, BCE_EPS);
            if (gt) gt[i] += g * (logf(1.0f - xi) - logf(xi));
        }
    }
}

static nb_tensor *bce_op(nb_tensor *x, nb_tensor *t, const nb_bce_opts *opts, int logits)
{
    const char *op = logits ? "BCEWithLogitsLoss" : "BCELoss";
    if (!x || !t) return NULL;
    static const nb_bce_opts dflt;
    const nb_bce_opts *o = opts ? opts : &dflt;
    if (nb__loss_check_reduction(o->reduction, op) || nb__loss_check_f32(x, op, "input") ||
        nb__loss_check_f32(t, op, "target") || nb__loss_check_same(x, t, op))
        return NULL;
    if (o->pos_weight && !logits) {
        nb__fail(NB_ERR_ARG, "BCELoss has no pos_weight (it is an option of BCEWithLogitsLoss)");
        return NULL;
    }
    const float *xv = nb__f(x), *tv = nb__f(t);
    int64_t N = x->numel;
    if (!logits)
        for (int64_t i = 0; i < N; i++)
            if (!(xv[i] >= 0.0f && xv[i] <= 1.0f)) {
                nb__fail(NB_ERR_ARG, "BCELoss: all elements of input should be between 0 and 1 (element %lld is %g); "
                                     "for logits use BCEWithLogitsLoss", (long long)i, (double)xv[i]);
                return NULL;
            }
    nb_ctx *ctx = x->ctx;
    bce_info bi = {.r = o->reduction, .logits = logits};
    if (o->weight && !(bi.w = expand_to(o->weight, x, op, "weight"))) return NULL;
    if (o->pos_weight && !(bi.pw = expand_to(o->pos_weight, x, op, "pos_weight"))) return NULL;
    nb_tensor *out = nb__loss_out(ctx, bi.r, x->ndim, x->shape);
    if (!out) return NULL;
    double total = 0;
    for (int64_t i = 0; i < N; i++) {
        float xi = xv[i], ti = tv[i], l;
        if (logits) {
            float lw = bi.pw ? 1.0f + (bi.pw[i] - 1.0f) * ti : 1.0f;
            l = (1.0f - ti) * xi - lw * log_sigmoid(xi);
        } else {
            l = (ti - 1.0f) * fmaxf(logf(1.0f - xi), -100.0f) - ti * fmaxf(logf(xi), -100.0f);
        }
        if (bi.w) l *= bi.w[i];
        if (bi.r == NB_NONE)
            nb__f(out)[i] = l;
        else
            total += l;
    }
    nb__loss_store(out, bi.r, total, (double)N);
    if (nb__needs_grad(ctx, x, t, NULL)) {
        bce_info *saved = nb__scratch(ctx, sizeof *saved);
        if (!saved) return NULL;
        bi.scale = bi.r == NB_MEAN ? (N ? 1.0f / (float)N : NAN) : 1.0f;
        *saved = bi;
        nb_node *n = nb__record(out, bce_backward, x, t, NULL);
        if (!n) return NULL;
        n->saved = saved;
    }
    return out;
}

nb_tensor *nb_bce(nb_tensor *input, nb_tensor *target, const nb_bce_opts *o) { return bce_op(input, target, o, 0); }

nb_tensor *nb_bce_with_logits(nb_tensor *input, nb_tensor *target, const nb_bce_opts *o)
{
    return bce_op(input, target, o, 1);
}
