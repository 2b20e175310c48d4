/* residual.c - the residual block module: out = act(body(x) + shortcut(x)), as
 * torchvision's BasicBlock ("BasicBlock") and model files' residual ("Residual"). */
#include "core/error.h"
#include "nn/module.h"
#include "nn/residual.h"

/* out = act(body(x) + shortcut(x)): the children run in order on x, except child
 * i[0] (the shortcut, -1: none, identity) which maps the block's input; i[1] is
 * the activation after the sum (NB__RES_*). BasicBlock is one (its "relu" child
 * runs in the body, the sum's ReLU is i[1]); model files build the others. */
static nb_tensor *residual_forward(nb_module *m, nb_tensor *x)
{
    nb_tensor *out = x, *identity = x;
    for (int i = 0; i < m->n_children && out; i++)
        if (i != m->i[0]) out = nb_module_forward(m->children[i], out);
    if (m->i[0] >= 0) identity = nb_module_forward(m->children[m->i[0]], x);
    if (!out || !identity) return NULL;
    out = nb_add(out, identity);
    switch ((int)m->i[1]) {
    case NB__RES_RELU: return nb_relu(out);
    case NB__RES_TANH: return nb_tanh(out);
    case NB__RES_SIGMOID: return nb_sigmoid(out);
    default: return out;
    }
}

static const nb_module_vtable block_vt = {.kind = "BasicBlock", .forward = residual_forward};
static const nb_module_vtable residual_vt = {.kind = "Residual", .forward = residual_forward};

nb_module *nb__residual_new(nb_ctx *ctx, int activation)
{
    nb_module *m = nb__module_new(ctx, &residual_vt);
    if (m) m->i[0] = -1, m->i[1] = activation;
    return m;
}

nb_module *nb__basic_block_new(nb_ctx *ctx)
{
    nb_module *m = nb__module_new(ctx, &block_vt);
    if (m) m->i[0] = -1, m->i[1] = NB__RES_RELU;
    return m;
}

nb_status nb__residual_add(nb_module *block, const char *name, nb_module *child, int is_shortcut)
{
    if (is_shortcut && block->i[0] >= 0)
        return nb__fail(NB_ERR_ARG, "%s: a residual block has one shortcut", block->vt->kind);
    nb_status st = nb__module_add_child(block, name, child);
    if (!st && is_shortcut) block->i[0] = block->n_children - 1;
    return st;
}

int nb__residual_has_shortcut(const nb_module *block) { return block->i[0] >= 0; }
