/* residual.c - the residual block module: out = act(body(x) + shortcut(x)), as
 * torchvision's BasicBlock ("BasicBlock") and model files' residual ("Residual"). */
#include "core/error.h"
#include "nn/module.h"
#include "nn/residual.h"
#include "nn/onnx_export.h"
#include "nn/layers.h"

#include <string.h>

/* out = act(body(x) + shortcut(x)): the children run in order on x, except the
 * shortcut, which maps the block's input. BasicBlock is one (its "relu" child runs in
 * the body, the sum's ReLU is the block's activation); model files build the others.
 * The kind state (m->impl): */
typedef struct {
    int shortcut;   /* index of the shortcut child, -1: the identity */
    int activation; /* NB__RES_* after the sum */
} residual_state;

/* Training, with a ReLU after the sum and a body that ends with a BatchNorm (BasicBlock):
 * the body's BatchNorm + ReLU pairs run as one op each (their fuse hook), the shortcut before
 * the last BatchNorm, which takes the sum and the ReLU (nb__bn_add_relu): the same values and
 * gradients, without the tensors and gradients of the normalized values, the sum and the
 * body's first ReLU's input. */
static nb_tensor *residual_forward_fused(nb_module *m, nb_tensor *x, int last)
{
    const residual_state *s = m->impl;
    nb_tensor *out = x, *identity = x;
    for (int i = 0; i < last && out;) {
        int end = s->shortcut > i && s->shortcut < last ? s->shortcut : last, used = 0;
        nb_tensor *y = i == s->shortcut ? NULL : nb__module_fuse(m->children + i, end - i, out, 1, &used);
        if (used > 0) {
            out = y;
            i += used;
            continue;
        }
        if (i != s->shortcut) out = nb_module_forward(m->children[i], out);
        i++;
    }
    if (s->shortcut >= 0 && out) identity = nb_module_forward(m->children[s->shortcut], x);
    if (!out || !identity) return NULL;
    return nb__bn_add_relu(m->children[last], out, identity);
}

/* The sum and activation of an unfused block. */
static nb_tensor *finish(const residual_state *s, nb_tensor *out, nb_tensor *identity)
{
    if (!out || !identity) return NULL;
    out = nb_add(out, identity);
    switch (s->activation) {
    case NB__RES_RELU: return nb_relu(out);
    case NB__RES_TANH: return nb_tanh(out);
    case NB__RES_SIGMOID: return nb_sigmoid(out);
    default: return out;
    }
}

/* Eval mode: the body's children as a Sequential runs them (Conv2d + BatchNorm2d + ReLU
 * fused), the shortcut first, and the body's last Conv2d (+ BatchNorm2d) with the sum and
 * the ReLU as one convolution (nb__conv_bn_residual); NULL with *ran = 0 when the block
 * does not end that way (the caller runs it unfused). */
static nb_tensor *fused_forward(nb_module *m, nb_tensor *x, int *ran)
{
    const residual_state *s = m->impl;
    nb_module *body[16];
    int n = 0;
    *ran = 0;
    if (m->n_children - (s->shortcut >= 0) > 16) return NULL;
    for (int i = 0; i < m->n_children; i++)
        if (i != s->shortcut) body[n++] = m->children[i];
    if (s->activation != NB__RES_RELU && s->activation != NB__RES_NONE) return NULL;
    int tail = n >= 2 && !strcmp(nb_module_kind(body[n - 1]), "BatchNorm2d") &&
                       !strcmp(nb_module_kind(body[n - 2]), "Conv2d") ? 2
               : n >= 1 && !strcmp(nb_module_kind(body[n - 1]), "Conv2d") ? 1
                                                                          : 0;
    if (!tail) return NULL;
    *ran = 1;
    nb_tensor *h = x;
    for (int i = 0; i < n - tail && h;) {
        int used = 0;
        nb_tensor *y = nb__module_fuse(body + i, n - tail - i, h, 0, &used);
        if (used > 0) {
            h = y;
            i += used;
            continue;
        }
        h = nb_module_forward(body[i], h);
        i++;
    }
    nb_tensor *identity = s->shortcut >= 0 ? nb_module_forward(m->children[s->shortcut], x) : x;
    if (!h || !identity) return NULL;
    nb_tensor *y = nb__conv_bn_residual(body[n - tail], tail == 2 ? body[n - 1] : NULL, h, identity,
                                        s->activation == NB__RES_RELU);
    if (y) return y;
    nb_tensor *out = h; /* not fusable after all (gradients to record, say): the tail alone */
    for (int i = n - tail; i < n && out; i++) out = nb_module_forward(body[i], out);
    return finish(s, out, identity);
}

static nb_tensor *residual_forward(nb_module *m, nb_tensor *x)
{
    const residual_state *s = m->impl;
    if (!m->training) {
        int ran;
        nb_tensor *y = fused_forward(m, x, &ran);
        if (ran) return y;
    }
    int last = m->n_children - 1 == s->shortcut ? m->n_children - 2 : m->n_children - 1;
    if (m->training && s->activation == NB__RES_RELU && last >= 0 && nb__bn_add_relu_ok(m->children[last]))
        return residual_forward_fused(m, x, last);
    nb_tensor *out = x, *identity = x;
    for (int i = 0; i < m->n_children && out; i++)
        if (i != s->shortcut) out = nb_module_forward(m->children[i], out);
    if (s->shortcut >= 0) identity = nb_module_forward(m->children[s->shortcut], x);
    return finish(s, out, identity);
}

/* ONNX: the body, the shortcut, Add and the activation */
static int residual_ox(nb_module *m, nb__ox *e, int x)
{
    const residual_state *s = m->impl;
    int out = x, identity = x;
    for (int i = 0; i < m->n_children && out >= 0; i++)
        if (i != s->shortcut) out = nb__ox_child(e, m->children[i], m->child_names[i], out);
    if (s->shortcut >= 0) identity = nb__ox_child(e, m->children[s->shortcut], m->child_names[s->shortcut], x);
    nb_tensor *sum = out >= 0 && identity >= 0 ? nb_add(nb__ox_rt(e, out), nb__ox_rt(e, identity)) : NULL;
    if (!sum) return -1;
    static const char *const act[] = {[NB__RES_RELU] = "Relu", [NB__RES_TANH] = "Tanh", [NB__RES_SIGMOID] = "Sigmoid"};
    if (s->activation == NB__RES_NONE) return nb__ox_node2(e, "Add", out, identity, sum);
    nb_tensor *y = s->activation == NB__RES_RELU ? nb_relu(sum) : s->activation == NB__RES_TANH ? nb_tanh(sum) : nb_sigmoid(sum);
    return nb__ox_node1(e, act[s->activation], nb__ox_node2(e, "Add", out, identity, sum), y);
}

static const nb_module_vtable block_vt = {.kind = "BasicBlock", .forward = residual_forward, .to_onnx = residual_ox};
static const nb_module_vtable residual_vt = {.kind = "Residual", .forward = residual_forward, .to_onnx = residual_ox};

nb_module *nb__residual_new(nb_ctx *ctx, int activation)
{
    nb_module *m = nb__module_new_with(ctx, &residual_vt, sizeof(residual_state));
    if (m) *(residual_state *)m->impl = (residual_state){-1, activation};
    return m;
}

nb_module *nb__basic_block_new(nb_ctx *ctx)
{
    nb_module *m = nb__module_new_with(ctx, &block_vt, sizeof(residual_state));
    if (m) *(residual_state *)m->impl = (residual_state){-1, NB__RES_RELU};
    return m;
}

nb_status nb__residual_add(nb_module *block, const char *name, nb_module *child, int is_shortcut)
{
    residual_state *s = block->impl;
    if (is_shortcut && s->shortcut >= 0)
        return nb__fail(NB_ERR_ARG, "%s: a residual block has one shortcut", block->vt->kind);
    nb_status st = nb__module_add_child(block, name, child);
    if (!st && is_shortcut) s->shortcut = block->n_children - 1;
    return st;
}

int nb__residual_has_shortcut(const nb_module *block) { return ((const residual_state *)block->impl)->shortcut >= 0; }
