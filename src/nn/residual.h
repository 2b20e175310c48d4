/* residual.h - the residual block module (src/nn/resnet.c). */
#ifndef NB_NN_RESIDUAL_H
#define NB_NN_RESIDUAL_H

#include "nabla.h"

/* A residual block (resnet.c): out = act(body(x) + shortcut(x)). Children added
 * with nb__module_add_child run in order as the body, except child m->i[0] (set it
 * to the shortcut's index; -1, the default, is the identity). torchvision's
 * BasicBlock is one with activation NB__RES_RELU. */
enum { NB__RES_NONE = 0, NB__RES_RELU, NB__RES_TANH, NB__RES_SIGMOID };
nb_module *nb__residual_new(nb_ctx *ctx, int activation);

#endif
