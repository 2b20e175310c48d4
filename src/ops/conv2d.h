/* conv2d.h - the convolution op with an inference epilogue (src/ops/conv2d.c). */
#ifndef NB_OPS_CONV2D_H
#define NB_OPS_CONV2D_H

#include "nabla.h"

/* nb_conv2d with an inference epilogue per output channel c:
 * y = act((conv + b)·scale[c] + shift[c]) (scale/shift NULL: 1/0; relu: max(·,0)).
 * With scale, shift or relu set it records no gradient (NB_ERR_STATE if one is needed). */
nb_tensor *nb__conv2d_ep(nb_tensor *x, nb_tensor *w, nb_tensor *b, const nb_conv2d_opts *o, const float *scale,
                         const float *shift, int relu);
/* The same with a residual r of the output's shape added before the relu (inference):
 * y = act((conv + b)·scale[c] + shift[c] + r). */
nb_tensor *nb__conv2d_ep_res(nb_tensor *x, nb_tensor *w, nb_tensor *b, const nb_conv2d_opts *o, const float *scale,
                             const float *shift, int relu, const nb_tensor *r);

/* nb__conv2d_ep followed by nb_max_pool2d(·, pool) (pool required): without gradients and
 * for MaxPool2d(2) (a 2x2 window, stride 2, no padding) on a stride-1, undilated,
 * ungrouped convolution, one pass that never stores the convolution's output
 * (kernels/conv_pool.c, the same values); otherwise the two ops. */
nb_tensor *nb__conv2d_ep_pool(nb_tensor *x, nb_tensor *w, nb_tensor *b, const nb_conv2d_opts *o, const float *scale,
                              const float *shift, int relu, const nb_pool2d_opts *pool);

#endif
