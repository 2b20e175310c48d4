/* norm.h - normalization internals (src/norm). */
#ifndef NB_NORM_NORM_H
#define NB_NORM_NORM_H

#include "nabla.h"

/* Normalize `groups` contiguous groups of x (numel/groups values each) by their
 * own mean and biased variance; value j of group g is scaled by parameter
 * p = (g % pg)·(L/pin) + j/pin of w and b (NULL: 1, 0). GroupNorm, InstanceNorm
 * (pg = C, pin = spatial) and LayerNorm (pg = pin = 1) use it; no shape checks.
 * mean/var (groups doubles) receive the statistics when not NULL. (groupnorm.c) */
nb_tensor *nb__group_norm_impl(nb_tensor *x, int64_t groups, int64_t pg, int64_t pin, nb_tensor *w, nb_tensor *b,
                               float eps, double *mean, double *var);
/* An eval-mode BatchNorm1d/2d as y = x·scale[c] + shift[c] with scale = γ/√(running_var+eps)
 * and shift = β - running_mean·scale (for folding into a preceding conv); NB_ERR_STATE
 * without running statistics. (batchnorm.c) */
nb_status nb__batchnorm_eval_scale_shift(nb_module *bn, float *scale, float *shift);

#endif
