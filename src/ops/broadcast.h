/* broadcast.h - the iteration shared by binary elementwise ops.
 * Shapes align on the right; a dimension of size 1 (or a missing one) repeats. */
#ifndef NB_BROADCAST_H
#define NB_BROADCAST_H
#include "core/tensor.h"

typedef struct {
    int ndim;
    int64_t shape[NB_MAX_DIMS];
    int64_t sa[NB_MAX_DIMS], sb[NB_MAX_DIMS]; /* element strides of a and b per out dim (0 = repeat) */
} nb_bcast;

/* Fill bc for a op b; 0 or an NB_ERR_SHAPE naming the op and both shapes. */
nb_status nb__bcast_init(nb_bcast *bc, const nb_tensor *a, const nb_tensor *b, const char *op);

/* Call body(i, ia, ib) for every output element i with the input offsets. */
#define NB_BCAST_FOR(bc, body)                                                           \
    do {                                                                                 \
        int nd_ = (bc)->ndim;                                                            \
        int64_t idx_[NB_MAX_DIMS] = {0};                                                 \
        int64_t inner_ = nd_ ? (bc)->shape[nd_ - 1] : 1;                                 \
        int64_t ina_ = nd_ ? (bc)->sa[nd_ - 1] : 0, inb_ = nd_ ? (bc)->sb[nd_ - 1] : 0;  \
        int64_t total_ = 1;                                                              \
        for (int d_ = 0; d_ < nd_; d_++) total_ *= (bc)->shape[d_];                      \
        int64_t oa_ = 0, ob_ = 0;                                                        \
        for (int64_t base_ = 0; base_ < total_; base_ += inner_) {                       \
            for (int64_t j_ = 0; j_ < inner_; j_++) {                                    \
                int64_t i = base_ + j_, ia = oa_ + j_ * ina_, ib = ob_ + j_ * inb_;      \
                body;                                                                    \
            }                                                                            \
            for (int d_ = nd_ - 2; d_ >= 0; d_--) {                                      \
                idx_[d_]++;                                                              \
                oa_ += (bc)->sa[d_];                                                     \
                ob_ += (bc)->sb[d_];                                                     \
                if (idx_[d_] < (bc)->shape[d_]) break;                                   \
                oa_ -= (bc)->sa[d_] * idx_[d_];                                          \
                ob_ -= (bc)->sb[d_] * idx_[d_];                                          \
                idx_[d_] = 0;                                                            \
            }                                                                            \
        }                                                                                \
    } while (0)

#endif
