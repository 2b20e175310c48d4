/* layers.h - what the layer files of src/nn offer each other and the models above
 * them beyond the public API. */
#ifndef NB_NN_LAYERS_H
#define NB_NN_LAYERS_H

#include "nabla.h"

/* Dropout probability of a Dropout module (for models that override it).
 * (activation_modules.c) */
void nb__dropout_set_p(nb_module *m, float p);
int nb__is_dropout(const nb_module *m);
/* LeakyReLU's slope and ELU's alpha as given, 0 included (the constructors take 0 for
 * PyTorch's default); no-ops on other kinds. (activation_modules.c) */
void nb__leaky_relu_set_slope(nb_module *m, float slope);
void nb__elu_set_alpha(nb_module *m, float alpha);
/* Whether m is a Flatten, and its start_dim and end_dim as given. (activation_modules.c) */
int nb__flatten_dims(const nb_module *m, int *start_dim, int *end_dim);

/* pool (an AdaptiveAvgPool2d), flatten(1) and lin (a Linear) as one op (ops/pool_linear.c)
 * when the pool upsamples x (H·W below its output's), as VGG's avgpool at 32x32 input:
 * sets *ran and returns the Linear's output (NULL on failure, with a message), or leaves
 * *ran 0 and returns NULL with no error when that does not apply (the caller runs the
 * modules). In eval without gradients, the folded weight is kept in pool's state.
 * (adaptive_pool.c) */
nb_tensor *nb__adaptive_pool_linear(nb_module *pool, nb_module *lin, nb_tensor *x, int *ran);

/* An eval-mode BatchNorm1d/2d as y = x·scale[c] + shift[c] with scale = γ/√(running_var+eps)
 * and shift = β - running_mean·scale (for folding into a preceding conv); NB_ERR_STATE
 * without running statistics. (batchnorm.c) */
nb_status nb__batchnorm_eval_scale_shift(nb_module *bn, float *scale, float *shift);

/* relu(bn(x) + res) as one op (nb__batch_norm_add_relu) for a residual block whose body ends
 * with the BatchNorm1d/2d bn: whether bn can take it (a BatchNorm, not under SyncBatchNorm,
 * not capturing its input), and the op. (batchnorm.c) */
int nb__bn_add_relu_ok(const nb_module *bn);
nb_tensor *nb__bn_add_relu(nb_module *bn, nb_tensor *x, nb_tensor *res);

/* conv (a Conv2d) + bn (an eval-mode BatchNorm2d, or NULL) + res + ReLU (relu) as one
 * convolution, a residual block's end in eval mode without gradients to record: its
 * output, or NULL with no error when that does not apply (the caller runs the modules).
 * (conv_modules.c) */
nb_tensor *nb__conv_bn_residual(nb_module *conv, nb_module *bn, nb_tensor *x, const nb_tensor *res, int relu);

/* The options BatchNorm and InstanceNorm share: num_features C positive, eps >= 0,
 * momentum in [0, 1]; NB_ERR_ARG naming "KIND(C)" otherwise. (batchnorm.c) */
nb_status nb__norm_module_check(const char *kind, int64_t C, float eps, float momentum);

/* The tensors of a norm module over C channels, in PyTorch's order: with affine, weight
 * (ones) and bias (zeros); with running, the buffers running_mean (zeros), running_var
 * (ones) and num_batches_tracked. own (or NULL): their indices in m's own tensors, in
 * that order, -1 for those not added. (batchnorm.c) */
nb_status nb__norm_module_tensors(nb_module *m, int64_t C, int affine, int running, int own[5]);

#endif
