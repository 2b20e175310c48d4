/* loss.h - what the loss files share: argument checks, result tensors and the
 * per-element scale of a reduction. Every loss is one fused op (one tape node).
 *
 * Reductions: NB_NONE keeps one value per element (or per sample), NB_SUM adds
 * them, NB_MEAN divides the sum by a loss-specific count. */
#ifndef NB_LOSS_H
#define NB_LOSS_H
#include "core/error.h"
#include "core/tensor.h"
#include "core/tape.h"

#include <math.h>

/* NB_OK or an NB_ERR_ARG naming the loss. */
static inline nb_status nb__loss_check_reduction(nb_reduction r, const char *op)
{
    if (r != NB_MEAN && r != NB_SUM && r != NB_NONE)
        return nb__fail(NB_ERR_ARG, "%s: reduction %d is not one of NB_MEAN, NB_SUM, NB_NONE", op, (int)r);
    return NB_OK;
}

/* NB_OK when t is a non-NULL F32 tensor, else an NB_ERR_ARG naming the loss and role. */
static inline nb_status nb__loss_check_f32(const nb_tensor *t, const char *op, const char *role)
{
    if (t->dtype != NB_F32)
        return nb__fail(NB_ERR_ARG, "%s: %s must be an F32 tensor, got I64", op, role);
    return NB_OK;
}

/* NB_OK when input and target have the same shape, else an NB_ERR_SHAPE naming both. */
static inline nb_status nb__loss_check_same(const nb_tensor *input, const nb_tensor *target, const char *op)
{
    if (nb__same_shape(input, target)) return NB_OK;
    char a[128], b[128];
    nb__shape_str(input->ndim, input->shape, a, sizeof a);
    nb__shape_str(target->ndim, target->shape, b, sizeof b);
    return nb__fail(NB_ERR_SHAPE, "%s: input of shape %s and target of shape %s must have the same shape", op, a, b);
}

/* The result: a scalar [] for mean and sum, else the given per-element shape. */
static inline nb_tensor *nb__loss_out(nb_ctx *ctx, nb_reduction r, int ndim, const int64_t *shape)
{
    return r == NB_NONE ? nb__empty(ctx, NB_F32, ndim, shape) : nb__empty(ctx, NB_F32, 0, NULL);
}

/* Write a reduced total (sum, or sum / count for mean; 0/0 is NaN as in PyTorch). */
static inline void nb__loss_store(nb_tensor *out, nb_reduction r, double sum, double count)
{
    if (r == NB_SUM)
        nb__f(out)[0] = (float)sum;
    else if (r == NB_MEAN)
        nb__f(out)[0] = count != 0 ? (float)(sum / count) : NAN;
}

/* The upstream gradient of element i times the reduction's scale (1 or 1/count). */
static inline float nb__loss_gscale(const nb_node *n, nb_reduction r, int64_t i, float scale)
{
    return r == NB_NONE ? n->out->grad[i] : n->out->grad[0] * scale;
}

#endif
