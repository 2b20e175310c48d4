/* models.h - the built-in models' constructors (rows of src/models/models.c). */
#ifndef NB_MODELS_MODELS_H
#define NB_MODELS_MODELS_H

#include "nabla.h"

nb_module *nb__model_cnn(nb_ctx *ctx, const nb_model_opts *o);    /* cnn.c */
nb_module *nb__model_cnn3(nb_ctx *ctx, const nb_model_opts *o);   /* cnn.c */
nb_module *nb__model_lenet5(nb_ctx *ctx, const nb_model_opts *o); /* cnn.c */
nb_module *nb__model_resnet18(nb_ctx *ctx, const nb_model_opts *o);     /* resnet.c */
nb_module *nb__model_resnet34(nb_ctx *ctx, const nb_model_opts *o);     /* resnet.c */
nb_module *nb__model_resnet_small(nb_ctx *ctx, const nb_model_opts *o); /* resnet.c */
nb_module *nb__model_vgg11(nb_ctx *ctx, const nb_model_opts *o);        /* vgg.c */
nb_module *nb__model_vgg11_bn(nb_ctx *ctx, const nb_model_opts *o);     /* vgg.c */
nb_module *nb__model_vgg16(nb_ctx *ctx, const nb_model_opts *o);        /* vgg.c */
nb_module *nb__model_vgg16_bn(nb_ctx *ctx, const nb_model_opts *o);     /* vgg.c */

#endif
