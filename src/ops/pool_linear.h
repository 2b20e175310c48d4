/* pool_linear.h - adaptive average pooling, flatten and Linear as one op, the Linear's
 * weight folded with the pooling (src/ops/pool_linear.c). */
#ifndef NB_OPS_POOL_LINEAR_H
#define NB_OPS_POOL_LINEAR_H

#include "nabla.h"

#include <stddef.h>

/* A folded weight kept between calls, valid while the weight's id and version (core/tensor.h)
 * and the sizes are those it was computed from. Zero-initialised is empty. */
typedef struct {
    uint64_t id, version;
    int64_t NO, C, H, W, OH, OW;
    float *weff; /* (NO, C·H·W), malloc'd */
    size_t cap;  /* floats at weff */
} nb__fold_cache;

/* Frees the folded weight; the struct is empty again. */
void nb__fold_cache_clear(nb__fold_cache *c);

/* y (N, NO) = linear(flatten(adaptive_avg_pool2d(x, (oh, ow)), 1), w, b) for x (N, C, H, W),
 * w (NO, C·oh·ow), b (NO) or NULL, as y = x·W_effᵀ + b: W_eff (NO, C·H·W) = W·P, P the pooling's
 * matrix (kernels/conv.h). Backward: dx = g·W_eff, dW = (gᵀ·x)·Pᵀ (PyTorch's dW = gᵀ·pool(x)),
 * db = Σ g. Less work than the three ops when H·W < oh·ow (nb__pool_linear_pays): at 1x1
 * the 49 copies of a 7x7 map become one column per channel. Results equal the three ops' to
 * float32 rounding (sums in another order). cache: with no gradient to record and a heap
 * weight, W_eff is kept there and recomputed only when w's version or the sizes changed;
 * NULL, or a gradient to record: W_eff is computed into the arena for this call. */
nb_tensor *nb__pool_linear(nb_tensor *x, int64_t oh, int64_t ow, nb_tensor *w, nb_tensor *b, nb__fold_cache *cache);

/* Whether the fold does less work than the pool and the product: a pool that upsamples. */
static inline int nb__pool_linear_pays(int64_t h, int64_t w, int64_t oh, int64_t ow) { return h * w < oh * ow; }

#endif
