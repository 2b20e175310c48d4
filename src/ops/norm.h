/* norm.h - the normalization ops as the modules of src/nn call them: the functional
 * op with the calling layer's name for its messages ("BatchNorm2d(32): ...").
 * (src/ops/batch_norm.c, group_norm.c, instance_norm.c, layer_norm.c) */
#ifndef NB_OPS_NORM_H
#define NB_OPS_NORM_H

#include "nabla.h"

/* F.batch_norm; relu: relu(batch_norm(x)) as one op, the ReLU applied in place and
 * folded into the backward (no tensor or gradient for the normalized values).
 * Checks everything before touching the running statistics. */
nb_tensor *nb__batch_norm_layer(const char *layer, nb_tensor *x, nb_tensor *rm, nb_tensor *rv, nb_tensor *w,
                                nb_tensor *b, int training, float momentum, float eps, int relu);
/* relu(batch_norm(x) + res) as one op (a residual block's last BatchNorm, its sum and
 * ReLU): the same values and gradients as nb__batch_norm_layer, nb_add and nb_relu, without
 * a tensor or gradient for the normalized values and the sum; res has x's shape. */
nb_tensor *nb__batch_norm_add_relu(const char *layer, nb_tensor *x, nb_tensor *rm, nb_tensor *rv, nb_tensor *w,
                                   nb_tensor *b, int training, float momentum, float eps, nb_tensor *res);
/* SyncBatchNorm's training forward (ops/sync_batch_norm.c), what BatchNorm modules run
 * when ctx->sync_bn is set: batch_norm over x (N, C, S) with the statistics of every
 * rank's batch (all-reduced sums), running statistics updated with the global count;
 * its backward all-reduces Σdy and Σdy·(x-μ). relu as nb__batch_norm_layer's. */
nb_tensor *nb__sync_batch_norm(const char *layer, nb_tensor *x, nb_tensor *rm, nb_tensor *rv, nb_tensor *w,
                               nb_tensor *b, float momentum, float eps, int relu);
/* F.group_norm with GroupNorm's checks. */
nb_tensor *nb__group_norm_layer(const char *layer, nb_tensor *x, int64_t G, nb_tensor *w, nb_tensor *b, float eps);
/* F.instance_norm (batched input). */
nb_tensor *nb__instance_norm_layer(const char *layer, nb_tensor *x, nb_tensor *rm, nb_tensor *rv, nb_tensor *w,
                                   nb_tensor *b, int use_input_stats, float momentum, float eps);
/* F.layer_norm over the last nd dims, shaped ns. */
nb_tensor *nb__layer_norm_layer(const char *layer, nb_tensor *x, int nd, const int64_t *ns, nb_tensor *w,
                                nb_tensor *b, float eps);

/* The checks every normalization makes (norm_check.c): x is F32 with at least
 * min_dims dims (dims describes them: "(N, C, ...)"), then *N, *C and *S, the product
 * of the dims after C; a per-channel tensor t (NULL: absent) holds C F32 values. Both
 * fail naming layer. */
nb_status nb__norm_input(const char *layer, const nb_tensor *x, int min_dims, const char *dims, int64_t *N, int64_t *C,
                         int64_t *S);
nb_status nb__norm_check_vec(const char *layer, const char *what, const nb_tensor *t, int64_t C);

/* Normalize `groups` contiguous groups of x (numel/groups values each) by their
 * own mean and biased variance; value j of group g is scaled by parameter
 * p = (g % pg)·(L/pin) + j/pin of w and b (NULL: 1, 0). GroupNorm, InstanceNorm
 * (pg = C, pin = spatial) and LayerNorm (pg = pin = 1) use it; no shape checks.
 * mean/var (groups doubles) receive the statistics when not NULL. (group_norm.c) */
nb_tensor *nb__group_norm_impl(nb_tensor *x, int64_t groups, int64_t pg, int64_t pin, nb_tensor *w, nb_tensor *b,
                               float eps, double *mean, double *var);

#endif
