/* residual.h - the residual block module (src/nn/residual.c). */
#ifndef NB_NN_RESIDUAL_H
#define NB_NN_RESIDUAL_H

#include "nabla.h"

/* A residual block: out = act(body(x) + shortcut(x)). Children added with
 * nb__residual_add run in order as the body, except the one added as the shortcut
 * (without one the shortcut is the identity). Kind "Residual". */
enum { NB__RES_NONE = 0, NB__RES_RELU, NB__RES_TANH, NB__RES_SIGMOID };
nb_module *nb__residual_new(nb_ctx *ctx, int activation);
/* torchvision's BasicBlock: a residual block of kind "BasicBlock" with NB__RES_RELU. */
nb_module *nb__basic_block_new(nb_ctx *ctx);
/* Add a child to the body, or as the shortcut (is_shortcut; one per block, else
 * NB_ERR_ARG). The caller still owns child on failure. */
nb_status nb__residual_add(nb_module *block, const char *name, nb_module *child, int is_shortcut);
int nb__residual_has_shortcut(const nb_module *block);

#endif
