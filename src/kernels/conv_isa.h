/* conv_isa.h - the per-ISA copies of conv_fast.c's and conv_pool.c's entry points (kernels/conv_isa.c
 * dispatches to them; core/isa.h chooses). Each takes the arguments of the function of
 * kernels/conv.h with the same name without the suffix. */
#ifndef NB_KERNELS_CONV_ISA_H
#define NB_KERNELS_CONV_ISA_H

#include "kernels/conv.h"

#define NB__ISA_NAME2(a, b) a##b
#define NB__ISA_NAME(a, b) NB__ISA_NAME2(a, b)

#define NB__CONV_FAST_DECLARE(sfx)                                                                                   \
    int nb__conv2d_fast_ok##sfx(const nb__conv_shape *s);                                                          \
    int nb__conv2d_fast_fwd_ok##sfx(const nb__conv_shape *s);                                                      \
    size_t nb__conv2d_fast_scratch_fwd##sfx(const nb__conv_shape *s, int nthreads);                                \
    size_t nb__conv2d_fast_scratch_bwd_x##sfx(const nb__conv_shape *s, int nthreads);                              \
    size_t nb__conv2d_fast_scratch_bwd_w##sfx(const nb__conv_shape *s, int nthreads);                              \
    void nb__conv2d_fast_fwd##sfx(const nb__conv_shape *s, const float *x, const float *w,                         \
                                  const nb__conv_epilogue *ep, float *y, float *scratch, int nthreads);            \
    void nb__conv2d_fast_bwd_x##sfx(const nb__conv_shape *s, const float *dy, const float *w, float *dx,           \
                                    float *scratch, int nthreads);                                                 \
    void nb__conv2d_fast_bwd_w##sfx(const nb__conv_shape *s, const float *x, const float *dy, float *dw, float *db, \
                                    float *scratch, int nthreads);

NB__CONV_FAST_DECLARE(_avx512)
NB__CONV_FAST_DECLARE(_avx2)
NB__CONV_FAST_DECLARE(_generic)

/* conv_pool.c's */
#define NB__CONV_POOL_DECLARE(sfx)                                                                                   \
    int nb__conv2d_pool_ok##sfx(const nb__conv_shape *s);                                                          \
    size_t nb__conv2d_pool_scratch##sfx(const nb__conv_shape *s, int nthreads);                                    \
    void nb__conv2d_pool_fwd##sfx(const nb__conv_shape *s, const float *x, const float *w,                         \
                                  const nb__conv_epilogue *ep, float *y, float *scratch, int nthreads);

NB__CONV_POOL_DECLARE(_avx512)
NB__CONV_POOL_DECLARE(_avx2)
NB__CONV_POOL_DECLARE(_generic)

#endif
