/* models.h - the built-in models' constructors (rows of src/nn/models.c). */
#ifndef NB_NN_MODELS_H
#define NB_NN_MODELS_H

#include "nabla.h"

/* Dropout probability of a Dropout module (for models that override it). (activation_modules.c) */
void nb__dropout_set_p(nb_module *m, float p);
int nb__is_dropout(const nb_module *m);
nb_module *nb__model_cnn(nb_ctx *ctx, const nb_model_opts *o);    /* conv_modules.c */
nb_module *nb__model_lenet5(nb_ctx *ctx, const nb_model_opts *o); /* conv_modules.c */
nb_module *nb__model_resnet18(nb_ctx *ctx, const nb_model_opts *o);     /* resnet.c */
nb_module *nb__model_resnet34(nb_ctx *ctx, const nb_model_opts *o);     /* resnet.c */
nb_module *nb__model_resnet_small(nb_ctx *ctx, const nb_model_opts *o); /* resnet.c */
nb_module *nb__model_vgg11(nb_ctx *ctx, const nb_model_opts *o);        /* vgg.c */
nb_module *nb__model_vgg11_bn(nb_ctx *ctx, const nb_model_opts *o);     /* vgg.c */
nb_module *nb__model_vgg16(nb_ctx *ctx, const nb_model_opts *o);        /* vgg.c */
nb_module *nb__model_vgg16_bn(nb_ctx *ctx, const nb_model_opts *o);     /* vgg.c */

#endif
