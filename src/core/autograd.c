/* autograd.c - the tape and reverse-mode differentiation.
 *
 * Ops append nodes in execution order, which is a topological order, so
 * backward walks the tape from the end and calls each reached node once.
 */
#include "core/error.h"
#include "core/arena.h"
#include "core/tensor.h"
#include "core/tape.h"
#include "core/ctx.h"

#include <stdlib.h>
#include <string.h>

bool nb__needs_grad(nb_ctx *ctx, nb_tensor *a, nb_tensor *b, nb_tensor *c)
{
    if (!ctx->grad_enabled) return false;
    return (a && a->requires_grad) || (b && b->requires_grad) || (c && c->requires_grad);
}

nb_node *nb__record(nb_tensor *out, nb_backward_fn fn, nb_tensor *a, nb_tensor *b, nb_tensor *c)
{
    nb_ctx *ctx = out->ctx;
    if (ctx->tape_len == ctx->tape_cap) {
        int cap = ctx->tape_cap ? ctx->tape_cap * 2 : 256;
        nb_node **t = realloc(ctx->tape, (size_t)cap * sizeof *t);
        if (!t) {
            nb__fail(NB_ERR_MEM, "out of memory growing the tape");
            return NULL;
        }
        ctx->tape = t;
        ctx->tape_cap = cap;
    }
    nb_node *n = nb__arena_alloc(&ctx->arena, sizeof *n);
    if (!n) return NULL;
    *n = (nb_node){.backward = fn, .out = out};
    nb_tensor *ins[3] = {a, b, c};
    for (int k = 0; k < 3; k++)
        n->in[k] = ins[k];
    n->n_in = 3;
    out->node = n;
    out->requires_grad = 1;
    ctx->tape[ctx->tape_len++] = n;
    return n;
}

void *nb__record_with(nb_tensor *out, nb_backward_fn fn, nb_tensor *a, nb_tensor *b, nb_tensor *c, size_t bytes)
{
    nb_node *n = nb__record(out, fn, a, b, c);
    return n ? nb__node_save(n, bytes) : NULL;
}

void *nb__node_save(nb_node *n, size_t bytes)
{
    void *p = nb__arena_alloc(&n->out->ctx->arena, bytes);
    if (p) {
        memset(p, 0, bytes);
        n->saved = p;
    }
    return p;
}

/* Node n's backward has run: its output's gradient is read by nobody after it (every
 * consumer of the output was recorded later and has run), so an intermediate tensor's
 * gradient block goes to ctx->grad_free for nb__grad to hand out again, and the tensor's
 * gradient becomes NULL (PyTorch keeps no .grad for non-leaf tensors). This keeps a
 * step's gradients to those alive at once instead of one per activation. */
static void give_back(nb_ctx *ctx, nb_node *n, const nb_tensor *loss)
{
    nb_tensor *o = n->out;
    size_t bytes = (size_t)o->numel * sizeof(float);
    if (o == loss || o->node != n || !o->in_arena || !o->grad_in_arena || !o->grad || bytes < NB__GRAD_REUSE_MIN)
        return;
    nb__grad_block *b = (nb__grad_block *)o->grad;
    b->bytes = bytes;
    b->next = ctx->grad_free;
    ctx->grad_free = b;
    o->grad = NULL;
    o->grad_in_arena = 0;
}

/* Node n may write its input in[k]'s gradient over its output's (n->grad_inplace = 1 + k):
 * when in[k] is an arena tensor (a heap tensor's gradient outlives the step) with no
 * gradient yet, and the output's block is an intermediate one that
 * nothing reads after this node (as in give_back), the block becomes in[k]'s gradient
 * before the backward runs; returns in[k], else NULL. One block instead of two, and the
 * same values: the backward writes 0 + value where it would have added into zeros. */
static nb_tensor *hand_over(nb_node *n, const nb_tensor *loss)
{
    if (!n->grad_inplace || n->grad_inplace > n->n_in) return NULL;
    nb_tensor *o = n->out, *in = n->in[n->grad_inplace - 1];
    if (!in || !in->in_arena || !in->requires_grad || in->grad || in->dtype != NB_F32 || in->numel != o->numel || o == loss ||
        o->node != n || !o->in_arena || !o->grad_in_arena || !o->grad)
        return NULL;
    for (int k = 0; k < n->n_in; k++) /* an input given twice would get both gradients in one block */
        if (k != n->grad_inplace - 1 && n->in[k] == in) return NULL;
    in->grad = o->grad;
    in->grad_in_arena = 1;
    in->data_as_grad = 0;
    return in;
}

nb_status nb_backward(nb_tensor *loss)
{
    if (!loss) return nb__fail(NB_ERR_ARG, "backward: the loss is NULL (an earlier op failed: %s)", nb_last_error());
    if (loss->numel != 1) {
        char s[128];
        nb__shape_str(loss->ndim, loss->shape, s, sizeof s);
        return nb__fail(NB_ERR_SHAPE, "backward: the loss must have one element, not shape %s", s);
    }
    if (!loss->requires_grad)
        return nb__fail(NB_ERR_STATE, "backward: the loss does not require grad (no parameter "
                                      "requires grad, or gradients were disabled)");
    nb_ctx *ctx = loss->ctx;
    if (loss->node && (ctx->tape_len == 0))
        return nb__fail(NB_ERR_STATE, "backward: the graph was already used by a backward call; "
                                      "run the forward pass again");
    float *g = nb__grad(loss);
    if (!g) return NB_ERR_MEM;
    g[0] += 1.0f;
    nb_status st;
    if (ctx->backward_hook && (st = ctx->backward_hook(ctx, ctx->tape_len, ctx->backward_hook_user))) return st;
    for (int i = ctx->tape_len - 1; i >= 0; i--) {
        nb_node *n = ctx->tape[i];
        if (n->out->grad) { /* else not on a path from the loss */
            nb_tensor *took = hand_over(n, loss);
            for (int k = 0; k < n->n_in; k++)
                if (n->in[k] && n->in[k]->requires_grad && !nb__grad(n->in[k])) return NB_ERR_MEM;
            n->backward(n);
            if (took) { /* the block is the input's now */
                n->out->grad = NULL;
                n->out->grad_in_arena = 0;
            } else {
                give_back(ctx, n, loss);
            }
        }
        if (ctx->backward_hook && (st = ctx->backward_hook(ctx, i, ctx->backward_hook_user))) return st;
    }
    ctx->tape_len = 0;
    if (ctx->backward_hook && (st = ctx->backward_hook(ctx, -1, ctx->backward_hook_user))) return st;
    return NB_OK;
}
