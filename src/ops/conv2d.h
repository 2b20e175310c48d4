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

#endif
