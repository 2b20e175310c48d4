/* pool_linear.c - adaptive average pooling, flatten and Linear as one op.
 *
 * The pool is linear: pooled = P·x plane by plane, P (OH·OW, H·W) with row (i, j) the mean
 * over PyTorch's window [⌊i·H/OH⌋, ⌈(i+1)·H/OH⌉) × [⌊j·W/OW⌋, ⌈(j+1)·W/OW⌉). So
 *   y = flatten(pool(x))·Wᵀ + b = x·W_effᵀ + b,  W_eff = W·P per channel block (NO, C·H·W),
 *   dx = g·W_eff,  dW = gᵀ·pool(x) = (gᵀ·x)·Pᵀ,  db = Σ_rows g.
 * When the pool upsamples (VGG's AdaptiveAvgPool2d((7, 7)) at 32x32 input sees 1x1 maps),
 * W_eff is 49 times smaller than W: one read of W (the fold, kernels/pool.c) replaces three
 * products with it, and a batch-1 forward in eval reads the kept W_eff alone.
 * Layouts: x (N, C, H, W), w (NO, C·OH·OW) with column c·OH·OW + i·OW + j (flatten's order),
 * W_eff (NO, C·H·W) with column c·H·W + h·W + w, y (N, NO). */
#include "ops/pool_linear.h"
#include "core/error.h"
#include "core/arena.h"
#include "core/ctx.h"
#include "core/tensor.h"
#include "core/tape.h"
#include "kernels/conv.h"
#include "kernels/gemm.h"

#include <stdlib.h>
#include <string.h>

void nb__fold_cache_clear(nb__fold_cache *c)
{
    if (!c) return;
    free(c->weff);
    memset(c, 0, sizeof *c);
}

/* What the backward needs; weff lives in the arena until the step's reset. */
typedef struct {
    int64_t N, C, H, W, OH, OW, NO;
    const float *weff;
} pool_linear_saved;

/* The pooling's shape over the NO·C planes of a weight (one plane per output and channel). */
static nb__pool_shape weight_planes(int64_t NO, int64_t C, int64_t H, int64_t W, int64_t OH, int64_t OW)
{
    return (nb__pool_shape){.N = NO, .C = C, .H = H, .W = W, .OH = OH, .OW = OW};
}

static void pool_linear_backward(nb_node *n)
{
    const pool_linear_saved *st = n->saved;
    nb_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    nb_ctx *ctx = n->out->ctx;
    int64_t N = st->N, NO = st->NO, K = st->C * st->H * st->W;
    const float *g = n->out->grad;
    if (N == 0 || NO == 0) return; /* nothing reached the inputs */
    if (x->requires_grad && K > 0) /* dx (N, K) += g (N, NO) · W_eff (NO, K) */
        nb__sgemm(0, 0, N, K, NO, 1.0f, g, NO, st->weff, K, 1.0f, x->grad, K);
    if (w->requires_grad && K > 0) { /* dW (NO, C·OH·OW) += (gᵀ·x) (NO, C·H·W) · Pᵀ */
        nb_arena_mark mark = nb__arena_mark(&ctx->arena);
        float *gx = nb__scratch(ctx, sizeof(float) * (size_t)(NO * K));
        int64_t *win = nb__scratch(ctx, sizeof(int64_t) * (size_t)(2 * (st->OH + st->OW)));
        if (gx && win) {
            nb__sgemm(1, 0, NO, K, N, 1.0f, g, NO, nb__f(x), K, 0.0f, gx, K);
            nb__pool_shape s = weight_planes(NO, st->C, st->H, st->W, st->OH, st->OW);
            nb__adaptive_avg_pool2d_acc(&s, gx, w->grad, win);
        } else {
            nb__fail(NB_ERR_MEM, "adaptive_avg_pool2d + linear backward: out of memory for %lld x %lld floats",
                     (long long)NO, (long long)K);
        }
        nb__arena_release(&ctx->arena, mark);
    }
    if (b && b->requires_grad) nb__add_col_sums(g, N, NO, b->grad);
}

/* W_eff of w into weff (NO·K floats). */
static nb_status fold(nb_ctx *ctx, const nb_tensor *w, float *weff, int64_t NO, int64_t C, int64_t H, int64_t W,
                      int64_t OH, int64_t OW)
{
    nb_arena_mark mark = nb__arena_mark(&ctx->arena);
    int64_t *win = nb__scratch(ctx, sizeof(int64_t) * (size_t)(2 * (OH + OW)));
    if (!win) return nb__fail(NB_ERR_MEM, "adaptive_avg_pool2d + linear: out of memory");
    nb__pool_shape s = weight_planes(NO, C, H, W, OH, OW);
    nb__adaptive_avg_pool2d_fold(&s, nb__f(w), weff, win);
    nb__arena_release(&ctx->arena, mark);
    return NB_OK;
}

/* The kept W_eff of w, recomputed if w or the sizes changed since; NULL with a message. */
static const float *cached_weff(nb__fold_cache *c, nb_ctx *ctx, const nb_tensor *w, int64_t NO, int64_t C, int64_t H,
                                int64_t W, int64_t OH, int64_t OW)
{
    const nb_tensor *own = nb__data_owner(w);
    if (c->weff && c->id == own->id && c->version == own->version && c->NO == NO && c->C == C && c->H == H &&
        c->W == W && c->OH == OH && c->OW == OW)
        return c->weff;
    size_t need = (size_t)(NO * C * H * W);
    if (need > c->cap || !c->weff) {
        float *p = realloc(c->weff, sizeof(float) * (need ? need : 1));
        if (!p) {
            nb__fail(NB_ERR_MEM, "adaptive_avg_pool2d + linear: out of memory for the folded weight (%zu floats)",
                     need);
            return NULL;
        }
        c->weff = p, c->cap = need;
    }
    c->id = 0; /* invalid until the fold is complete */
    if (fold(ctx, w, c->weff, NO, C, H, W, OH, OW)) return NULL;
    c->id = own->id, c->version = own->version;
    c->NO = NO, c->C = C, c->H = H, c->W = W, c->OH = OH, c->OW = OW;
    return c->weff;
}

nb_tensor *nb__pool_linear(nb_tensor *x, int64_t oh, int64_t ow, nb_tensor *w, nb_tensor *b, nb__fold_cache *cache)
{
    if (!x || !w) return NULL;
    if (x->dtype != NB_F32 || w->dtype != NB_F32 || (b && b->dtype != NB_F32)) {
        nb__fail(NB_ERR_ARG, "adaptive_avg_pool2d + linear: input, weight and bias must be F32 tensors");
        return NULL;
    }
    if (x->ndim != 4 || oh < 1 || ow < 1 || x->shape[2] < 1 || x->shape[3] < 1) {
        nb__fail(NB_ERR_SHAPE, "adaptive_avg_pool2d + linear: needs an input (N, C, H, W) with H, W >= 1 and an "
                               "output size >= 1 (got %s to (%lld, %lld))",
                 nb__tshape(x), (long long)oh, (long long)ow);
        return NULL;
    }
    int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    if (w->ndim != 2 || w->shape[1] != C * oh * ow) {
        nb__fail(NB_ERR_SHAPE, "Linear: weight of shape %s does not take the %lld features of the pooled input "
                               "(%lld, %lld, %lld) flattened",
                 nb__tshape(w), (long long)(C * oh * ow), (long long)C, (long long)oh, (long long)ow);
        return NULL;
    }
    int64_t NO = w->shape[0], K = C * H * W;
    if (b && b->numel != NO) {
        nb__fail(NB_ERR_SHAPE, "Linear: bias has %lld elements for %lld outputs (weight %s)", (long long)b->numel,
                 (long long)NO, nb__tshape(w));
        return NULL;
    }
    nb_ctx *ctx = x->ctx;
    int grad = nb__needs_grad(ctx, x, w, b);
    const float *weff;
    if (cache && !grad && nb__data_owner(w)->id) {
        weff = cached_weff(cache, ctx, w, NO, C, H, W, oh, ow);
    } else { /* for this call (and its backward): in the arena */
        float *f = nb__scratch(ctx, sizeof(float) * (size_t)(NO * K > 0 ? NO * K : 1));
        weff = f && !fold(ctx, w, f, NO, C, H, W, oh, ow) ? f : NULL;
    }
    nb_tensor *out = weff ? nb__empty(ctx, NB_F32, 2, (int64_t[]){N, NO}) : NULL;
    if (!out) return NULL;
    float *y = nb__f(out);
    if (K == 0 || N == 0 || NO == 0) { /* empty sums: y = b, or 0 without a bias */
        if (b) nb__gemm_fill_bias(nb__f(b), y, NO, 0, N, 0, NO);
        else memset(y, 0, (size_t)out->numel * sizeof(float));
    } else if (b) /* as nb_linear: the bias rows, then y += x·W_effᵀ */
        nb__sgemm_bias(0, 1, N, NO, K, nb__f(x), K, weff, K, nb__f(b), y, NO);
    else
        nb__sgemm(0, 1, N, NO, K, 1.0f, nb__f(x), K, weff, K, 0.0f, y, NO);
    if (grad) {
        pool_linear_saved *st = nb__record_with(out, pool_linear_backward, x, w, b, sizeof *st);
        if (!st) return NULL;
        *st = (pool_linear_saved){.N = N, .C = C, .H = H, .W = W, .OH = oh, .OW = ow, .NO = NO, .weff = weff};
    }
    return out;
}
