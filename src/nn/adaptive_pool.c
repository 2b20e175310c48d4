/* adaptive_pool.c - AdaptiveAvgPool2d as a module (PyTorch's bins), and its fusion with the
 * Flatten and Linear that follow it: when the pool upsamples (VGG's AdaptiveAvgPool2d((7, 7))
 * on the 1x1 maps of a 32x32 input), the Linear's weight is folded with the pooling
 * (ops/pool_linear.c) in training and eval; in eval without gradients the folded weight is
 * kept in the module's state and recomputed when the weight's version changes (core/tensor.h).
 * The parameters stay the Linear's own, of their PyTorch shape: the fold is how they are
 * applied. Sequential fuses AdaptiveAvgPool2d, Flatten(1, -1), Linear through the fuse hook;
 * VGG's forward (models/vgg.c), which flattens between its children, calls
 * nb__adaptive_pool_linear. */
#include "core/error.h"
#include "core/tensor.h"
#include "nn/module.h"
#include "nn/layers.h"
#include "nn/onnx_export.h"
#include "ops/pool_linear.h"

#include <string.h>

/* AdaptiveAvgPool2d's kind state (m->impl). */
typedef struct {
    int64_t oh, ow;
    nb__fold_cache fold; /* the following Linear's weight folded (eval, no gradients) */
} adaptive_state;

static nb_tensor *adaptive_forward(nb_module *m, nb_tensor *x)
{
    const adaptive_state *s = m->impl;
    return nb_adaptive_avg_pool2d(x, s->oh, s->ow);
}

static void adaptive_free(nb_module *m) { nb__fold_cache_clear(&((adaptive_state *)m->impl)->fold); }

/* ONNX: GlobalAveragePool for output 1x1, AveragePool when the bins tile the input,
 * else y = Ph·x·Pwᵀ, two MatMuls by the averaging matrices of PyTorch's bins
 * [floor(i·H/oh), ceil((i+1)·H/oh)). */
static int adaptive_ox(nb_module *m, nb__ox *e, int x)
{
    const adaptive_state *s = m->impl;
    nb_tensor *xt = nb__ox_rt(e, x), *y = xt ? nb_module_forward(m, xt) : NULL;
    if (!y) return -1;
    int64_t H = xt->shape[xt->ndim - 2], W = xt->shape[xt->ndim - 1];
    if (s->oh == 1 && s->ow == 1 && xt->ndim == 4) return nb__ox_node1(e, "GlobalAveragePool", x, y);
    if (H % s->oh == 0 && W % s->ow == 0 && xt->ndim == 4) {
        int64_t k[2] = {H / s->oh, W / s->ow}, pads[4] = {0, 0, 0, 0};
        nb__ox_attr at[3] = {NB__OX_INTS("kernel_shape", k, 2), NB__OX_INTS("pads", pads, 4),
                             NB__OX_INTS("strides", k, 2)};
        return nb__ox_node(e, "AveragePool", &x, 1, at, 3, y);
    }
    nb_tensor *ph = nb__empty(m->ctx, NB_F32, 2, (int64_t[]){s->oh, H});
    nb_tensor *pw = nb__empty(m->ctx, NB_F32, 2, (int64_t[]){W, s->ow});
    if (!ph || !pw) return -1;
    memset(ph->data, 0, sizeof(float) * (size_t)ph->numel);
    memset(pw->data, 0, sizeof(float) * (size_t)pw->numel);
    for (int64_t i = 0; i < s->oh; i++) {
        int64_t a = i * H / s->oh, b = ((i + 1) * H + s->oh - 1) / s->oh;
        for (int64_t j = a; j < b; j++) nb__f(ph)[i * H + j] = 1.0f / (float)(b - a);
    }
    for (int64_t i = 0; i < s->ow; i++) {
        int64_t a = i * W / s->ow, b = ((i + 1) * W + s->ow - 1) / s->ow;
        for (int64_t j = a; j < b; j++) nb__f(pw)[j * s->ow + i] = 1.0f / (float)(b - a);
    }
    int v = nb__ox_node2(e, "MatMul", x, e->vt->constant(e, pw), NULL);
    return nb__ox_node2(e, "MatMul", e->vt->constant(e, ph), v, y);
}


static nb_tensor *adaptive_fuse(nb_module *const *mods, int n, nb_tensor *x, int training, int *used);

static const nb_module_vtable adaptive_vt = {.kind = "AdaptiveAvgPool2d", .forward = adaptive_forward,
                                             .free = adaptive_free, .fuse = adaptive_fuse, .to_onnx = adaptive_ox};

nb_module *nb_adaptive_avgpool2d_new(nb_ctx *ctx, int64_t oh, int64_t ow)
{
    if (oh < 1 || ow < 1) {
        nb__fail(NB_ERR_ARG, "AdaptiveAvgPool2d: output size (%lld, %lld) must be positive", (long long)oh,
                 (long long)ow);
        return NULL;
    }
    nb_module *m = nb__module_new_with(ctx, &adaptive_vt, sizeof(adaptive_state));
    if (m) *(adaptive_state *)m->impl = (adaptive_state){.oh = oh, .ow = ow};
    return m;
}

/* ---- the fold with the following Linear ---- */

nb_tensor *nb__adaptive_pool_linear(nb_module *pool, nb_module *lin, nb_tensor *x, int *ran)
{
    *ran = 0;
    if (!pool || !lin || !x || pool->vt != &adaptive_vt || strcmp(lin->vt->kind, "Linear") || pool->capture ||
        lin->capture || x->ndim != 4 || x->dtype != NB_F32)
        return NULL;
    adaptive_state *s = pool->impl;
    nb_tensor *w = lin->own[0].tensor, *b = lin->n_own > 1 ? lin->own[1].tensor : NULL;
    if (!nb__pool_linear_pays(x->shape[2], x->shape[3], s->oh, s->ow) || w->ndim != 2 ||
        w->shape[1] != x->shape[1] * s->oh * s->ow)
        return NULL; /* the modules run (and report a weight that does not fit) */
    *ran = 1;
    return nb__pool_linear(x, s->oh, s->ow, w, b, &s->fold);
}

/* mods[0] this pool, then Flatten(1, -1) (or to the last of x's 4 dims) and a Linear. */
static nb_tensor *adaptive_fuse(nb_module *const *mods, int n, nb_tensor *x, int training, int *used)
{
    *used = 0;
    int start, end;
    if (n < 3 || !x || x->ndim != 4 || !nb__flatten_dims(mods[1], &start, &end) || mods[1]->capture ||
        !(start == 1 || start == -3) || !(end == -1 || end == 3))
        return NULL;
    int ran;
    nb_tensor *y = nb__adaptive_pool_linear(mods[0], mods[2], x, &ran);
    if (ran) *used = 3;
    return y;
}
