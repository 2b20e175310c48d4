/* penalty.c - weight penalties a user adds to the loss, one op over any number of
 * parameter tensors (one tape node):
 *   L1:          λ1·Σ|θ|        gradient λ1·sign(θ), sign(0) = 0
 *   L2:          λ2·Σθ²         gradient 2·λ2·θ
 *   elastic net: λ1·Σ|θ| + λ2·Σθ² (the sum of the two above; no α/l1_ratio mix)
 * SGD's weight_decay λ equals an L2 penalty with λ2 = λ/2.
 * Layout: each parameter contiguous F32, any shape; the result is a scalar []. */
#include "core/error.h"
#include "core/tensor.h"
#include "core/tape.h"
#include "core/ctx.h"

#include <math.h>
#include <string.h>

/* What penalty_backward needs. */
typedef struct {
    nb_tensor **ps; /* the parameters (arena copy of the array) */
    int count;
    float l1;
    float l2;
} penalty_saved;

static void penalty_backward(nb_node *n)
{
    const penalty_saved *st = n->saved;
    nb_tensor **ps = st->ps;
    int count = st->count;
    float l1 = st->l1, l2 = st->l2, g = n->out->grad[0];
    for (int k = 0; k < count; k++) {
        nb_tensor *p = ps[k];
        if (!p->requires_grad) continue;
        float *gp = nb__grad(p);
        if (!gp) return;
        const float *v = nb__f(p);
        for (int64_t i = 0; i < p->numel; i++) {
            float s = (float)((v[i] > 0) - (v[i] < 0));
            gp[i] += g * (l1 * s + 2.0f * l2 * v[i]);
        }
    }
}

static nb_tensor *penalty(nb_tensor **params, int count, float l1, float l2, const char *op)
{
    if (!params || count < 1) {
        nb__fail(NB_ERR_ARG, "%s: needs at least one parameter tensor (got %d)", op, params ? count : 0);
        return NULL;
    }
    for (int k = 0; k < count; k++) {
        if (!params[k]) return NULL;
        if (params[k]->dtype != NB_F32) {
            nb__fail(NB_ERR_ARG, "%s: parameter %d must be an F32 tensor, got I64", op, k);
            return NULL;
        }
        if (params[k]->ctx != params[0]->ctx) {
            nb__fail(NB_ERR_ARG, "%s: parameter %d belongs to another context than parameter 0", op, k);
            return NULL;
        }
    }
    if (!isfinite(l1) || !isfinite(l2)) {
        nb__fail(NB_ERR_ARG, "%s: the coefficients must be finite (got %g, %g)", op, l1, l2);
        return NULL;
    }
    nb_ctx *ctx = params[0]->ctx;
    nb_tensor *out = nb__empty(ctx, NB_F32, 0, NULL);
    if (!out) return NULL;
    double s1 = 0, s2 = 0;
    int grad = 0;
    for (int k = 0; k < count; k++) {
        const float *v = nb__f(params[k]);
        for (int64_t i = 0; i < params[k]->numel; i++) {
            s1 += fabs((double)v[i]);
            s2 += (double)v[i] * v[i];
        }
        grad |= params[k]->requires_grad;
    }
    nb__f(out)[0] = (float)((double)l1 * s1 + (double)l2 * s2);
    if (grad && ctx->grad_enabled) {
        nb_tensor **saved = nb__scratch(ctx, (size_t)count * sizeof *saved);
        if (!saved) return NULL;
        memcpy(saved, params, (size_t)count * sizeof *saved);
        penalty_saved *st = nb__record_with(out, penalty_backward, NULL, NULL, NULL, sizeof *st);
        if (!st) return NULL;
        st->ps = saved;
        st->count = count;
        st->l1 = l1;
        st->l2 = l2;
    }
    return out;
}

nb_tensor *nb_l1_penalty(nb_tensor **params, int n, float lambda1)
{
    return penalty(params, n, lambda1, 0.0f, "L1 penalty");
}

nb_tensor *nb_l2_penalty(nb_tensor **params, int n, float lambda2)
{
    return penalty(params, n, 0.0f, lambda2, "L2 penalty");
}

nb_tensor *nb_elastic_net_penalty(nb_tensor **params, int n, float lambda1, float lambda2)
{
    return penalty(params, n, lambda1, lambda2, "elastic net penalty");
}
