/* fusion.h - inference fusion of Conv2d/BatchNorm/ReLU runs in a Sequential. */
#ifndef NB_NN_FUSION_H
#define NB_NN_FUSION_H

#include "nabla.h"

/* ---- BatchNorm followed by ReLU (src/norm/batchnorm.c) ----
 * relu(bn(x)) as one op: the module's forward (running statistics included) with the
 * ReLU applied in place and folded into its backward, so the normalized values get no
 * tensor and no gradient of their own. Sequential uses it for BatchNorm + ReLU. */
nb_tensor *nb__batchnorm_relu_forward(nb_module *bn, nb_tensor *x);
int nb__is_batchnorm(const nb_module *m);


/* Inference fusion for a Sequential (src/nn/conv_modules.c): mods[0..n) are consecutive
 * children, mods[0] a Conv2d. In eval mode with no gradient to record, a following
 * eval-mode BatchNorm2d (its running statistics folded into scale and shift) and ReLU
 * run in the convolution's epilogue: returns the output of the last module fused and
 * sets *used to their count (2 or 3). Otherwise returns NULL with *used = 0 and no
 * error, and the caller runs the modules one by one. */
nb_tensor *nb__conv2d_fused_forward(nb_module *const *mods, int n, nb_tensor *x, int *used);

#endif
