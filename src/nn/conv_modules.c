/* conv_modules.c - Conv2d, MaxPool2d, AvgPool2d as modules
 * (PyTorch's defaults and parameter names), and Conv2d's fuse hook: in eval mode,
 * Conv2d + BatchNorm2d (+ ReLU) (+ MaxPool2d) as one convolution with an epilogue. */
#include "core/error.h"
#include "core/tensor.h"
#include "core/tape.h"
#include "core/ctx.h"
#include "ops/conv2d.h"
#include "nn/module.h"
#include "nn/layers.h"
#include "nn/onnx_export.h"
#include "kernels/conv.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- Conv2d ---- */

static nb_tensor *conv_forward(nb_module *m, nb_tensor *x)
{
    const nb_conv2d_opts *o = m->impl;
    nb_tensor *b = m->n_own > 1 ? m->own[1].tensor : NULL;
    return nb_conv2d(x, m->own[0].tensor, b, o);
}

/* ONNX: Conv with explicit pads ('same' as PyTorch: the odd pixel at the bottom/right) */
static int conv_ox(nb_module *m, nb__ox *e, int x)
{
    const nb_conv2d_opts *o = m->impl;
    const nb_tensor *w = m->own[0].tensor;
    int64_t k[2] = {w->shape[2], w->shape[3]}, st[2], dil[2], pads[4] = {0, 0, 0, 0};
    for (int d = 0; d < 2; d++) {
        st[d] = o->stride[d] ? o->stride[d] : 1;
        dil[d] = o->dilation[d] ? o->dilation[d] : 1;
        if (o->padding_mode == NB_PADDING_EXPLICIT) pads[d] = pads[d + 2] = o->padding[d];
        else if (o->padding_mode == NB_PADDING_SAME) {
            int64_t total = dil[d] * (k[d] - 1);
            pads[d] = total / 2;
            pads[d + 2] = total - total / 2;
        }
    }
    nb__ox_attr at[5] = {NB__OX_INTS("dilations", dil, 2), NB__OX_INT("group", o->groups ? o->groups : 1),
                         NB__OX_INTS("kernel_shape", k, 2), NB__OX_INTS("pads", pads, 4),
                         NB__OX_INTS("strides", st, 2)};
    int in[3] = {x, nb__ox_param(e, m->own[0].tensor), m->n_own > 1 ? nb__ox_param(e, m->own[1].tensor) : 0};
    if (in[1] < 0 || in[2] < 0) return -1;
    return nb__ox_leaf(m, e, "Conv", in, m->n_own > 1 ? 3 : 2, at, 5);
}

static nb_tensor *conv_fuse(nb_module *const *mods, int n, nb_tensor *x, int training, int *used);
static const nb_module_vtable conv_vt = {
    .kind = "Conv2d", .forward = conv_forward, .fuse = conv_fuse, .to_onnx = conv_ox};

nb_module *nb_conv2d_new(nb_ctx *ctx, int64_t in, int64_t out, int kh, int kw, const nb_conv2d_opts *opts)
{
    nb_conv2d_opts o = opts ? *opts : (nb_conv2d_opts){0};
    int64_t G = o.groups ? o.groups : 1;
    if (in <= 0 || out <= 0 || kh <= 0 || kw <= 0 || G <= 0) {
        nb__fail(NB_ERR_ARG, "Conv2d(%lld, %lld, kernel_size=(%d, %d), groups=%lld): channels, kernel size and groups "
                             "must be positive",
                 (long long)in, (long long)out, kh, kw, (long long)G);
        return NULL;
    }
    if (in % G || out % G) {
        nb__fail(NB_ERR_ARG, "Conv2d(%lld, %lld, kernel_size=(%d, %d), groups=%lld): %s must be divisible by groups",
                 (long long)in, (long long)out, kh, kw, (long long)G, in % G ? "in_channels" : "out_channels");
        return NULL;
    }
    for (int d = 0; d < 2; d++)
        if (o.stride[d] < 0 || o.padding[d] < 0 || o.dilation[d] < 0) {
            nb__fail(NB_ERR_ARG, "Conv2d(%lld, %lld, kernel_size=(%d, %d)): stride, padding and dilation must not be "
                                 "negative",
                     (long long)in, (long long)out, kh, kw);
            return NULL;
        }
    if (o.padding_mode == NB_PADDING_SAME && (o.stride[0] > 1 || o.stride[1] > 1)) {
        nb__fail(NB_ERR_ARG, "Conv2d(%lld, %lld, kernel_size=(%d, %d)): padding='same' is not supported for strided "
                             "convolutions",
                 (long long)in, (long long)out, kh, kw);
        return NULL;
    }
    if (o.padding_mode < NB_PADDING_EXPLICIT || o.padding_mode > NB_PADDING_VALID) {
        nb__fail(NB_ERR_ARG, "Conv2d: unknown padding mode %d", (int)o.padding_mode);
        return NULL;
    }
    nb_module *m = nb__module_new_with(ctx, &conv_vt, sizeof(nb_conv2d_opts)); /* kind state: the options */
    if (!m) return NULL;
    *(nb_conv2d_opts *)m->impl = o;
    nb_tensor *w = nb_tensor_new(ctx, NB_F32, 4, (int64_t[]){out, in / G, kh, kw});
    if (nb__module_add(m, "weight", w, 0) ||
        nb_init_kaiming_uniform(w, sqrt(5.0), NB_FAN_IN, NB_GAIN_LEAKY_RELU, &ctx->rng))
        goto fail;
    if (!o.no_bias) {
        nb_tensor *b = nb_tensor_new(ctx, NB_F32, 1, (int64_t[]){out});
        float bound = (float)(1.0 / sqrt((double)(in / G * kh * kw))); /* torch: 1 / math.sqrt(fan_in) */
        if (nb__module_add(m, "bias", b, 0) || nb_init_uniform(b, -bound, bound, &ctx->rng)) goto fail;
    }
    return m;
fail:
    nb_module_free(m);
    return NULL;
}

/* ---- pooling ---- */

static nb_tensor *maxpool_forward(nb_module *m, nb_tensor *x) { return nb_max_pool2d(x, m->impl); }
static nb_tensor *avgpool_forward(nb_module *m, nb_tensor *x) { return nb_avg_pool2d(x, m->impl); }
/* (AdaptiveAvgPool2d: src/nn/adaptive_pool.c) */

/* ONNX: MaxPool/AveragePool. PyTorch's ceil_mode drops a last window that would start
 * in the right/bottom padding and ONNX's does not: where the two counts differ, a max
 * pool gets floor mode with the end padding that gives PyTorch's count (padding with
 * -inf changes no maximum); an average pool, whose divisor would change, is refused. */
static int pool_ox(nb_module *m, nb__ox *e, int x, int is_max)
{
    const nb_pool2d_opts *o = m->impl;
    nb_tensor *xt = nb__ox_rt(e, x), *y = xt ? nb_module_forward(m, xt) : NULL;
    if (!y) return -1;
    int64_t k[2], st[2], dil[2], pads[4];
    int ceil = o->ceil_mode;
    for (int d = 0; d < 2; d++) {
        k[d] = o->kernel[d];
        st[d] = o->stride[d] ? o->stride[d] : o->kernel[d];
        dil[d] = o->dilation[d] ? o->dilation[d] : 1;
        pads[d] = pads[d + 2] = o->padding[d];
    }
    for (int d = 0; o->ceil_mode && d < 2; d++) {
        int64_t in = xt->shape[2 + d], eff = dil[d] * (k[d] - 1) + 1, want = y->shape[2 + d];
        int64_t span = in + 2 * pads[d] - eff, onnx_ceil = (span + st[d] - 1) / st[d] + 1;
        if (onnx_ceil == want) continue;
        if (!is_max) {
            nb__fail(NB_ERR_ARG, "AvgPool2d with ceil_mode=True: its last window starts in the padding, which ONNX's "
                                 "AveragePool does not drop; no exact ONNX form");
            return -1;
        }
        ceil = 0;
    }
    if (!ceil && o->ceil_mode) /* floor mode with the end padding that gives PyTorch's count */
        for (int d = 0; d < 2; d++) {
            int64_t in = xt->shape[2 + d], eff = dil[d] * (k[d] - 1) + 1;
            pads[d + 2] = (y->shape[2 + d] - 1) * st[d] + eff - in - pads[d];
            if (pads[d + 2] < 0) pads[d + 2] = 0;
        }
    nb__ox_attr at[6];
    int n = 0;
    at[n++] = NB__OX_INT("ceil_mode", ceil);
    if (is_max) at[n++] = NB__OX_INTS("dilations", dil, 2);
    else at[n++] = NB__OX_INT("count_include_pad", o->divisor_override ? 1 : !o->exclude_pad);
    at[n++] = NB__OX_INTS("kernel_shape", k, 2);
    at[n++] = NB__OX_INTS("pads", pads, 4);
    at[n++] = NB__OX_INTS("strides", st, 2);
    if (!is_max && o->divisor_override) { /* the sum over the window, divided by the override */
        int v = nb__ox_node(e, "AveragePool", &x, 1, at, n, NULL);
        return nb__ox_node2(e, "Mul", v, nb__ox_scalar(e, (float)(k[0] * k[1]) / (float)o->divisor_override), y);
    }
    return nb__ox_node(e, is_max ? "MaxPool" : "AveragePool", &x, 1, at, n, y);
}
static int maxpool_ox(nb_module *m, nb__ox *e, int x) { return pool_ox(m, e, x, 1); }
static int avgpool_ox(nb_module *m, nb__ox *e, int x) { return pool_ox(m, e, x, 0); }

static const nb_module_vtable maxpool_vt = {.kind = "MaxPool2d", .forward = maxpool_forward, .to_onnx = maxpool_ox};
static const nb_module_vtable avgpool_vt = {.kind = "AvgPool2d", .forward = avgpool_forward, .to_onnx = avgpool_ox};

static nb_module *pool_new(nb_ctx *ctx, const nb_module_vtable *vt, const nb_pool2d_opts *o)
{
    if (!o || o->kernel[0] < 1 || o->kernel[1] < 1) {
        nb__fail(NB_ERR_ARG, "%s: kernel_size must be positive", vt->kind);
        return NULL;
    }
    for (int d = 0; d < 2; d++)
        if (o->stride[d] < 0 || o->dilation[d] < 0 || o->padding[d] < 0 || o->padding[d] > o->kernel[d] / 2) {
            nb__fail(NB_ERR_ARG, "%s: stride and dilation must not be negative and padding must be in [0, kernel/2]",
                     vt->kind);
            return NULL;
        }
    nb_module *m = nb__module_new_with(ctx, vt, sizeof(nb_pool2d_opts)); /* kind state: the options */
    if (m) *(nb_pool2d_opts *)m->impl = *o;
    return m;
}

nb_module *nb_maxpool2d_new(nb_ctx *ctx, const nb_pool2d_opts *o) { return pool_new(ctx, &maxpool_vt, o); }
nb_module *nb_avgpool2d_new(nb_ctx *ctx, const nb_pool2d_opts *o) { return pool_new(ctx, &avgpool_vt, o); }

/* ---- inference fusion ---- */

/* mods[0..n) consecutive children of a Sequential, mods[0] this Conv2d. In eval mode
 * (the container's and the modules') with no gradient to record, a following eval-mode
 * BatchNorm2d (its running statistics folded into scale and shift) and ReLU run in the
 * convolution's epilogue (nb__conv2d_ep), and a MaxPool2d after them with it
 * (nb__conv2d_ep_pool: one pass for MaxPool2d(2)). */
/* The scale and shift of bn (an eval-mode BatchNorm2d over conv's output channels) in
 * scratch; 0 if it cannot be folded (another kind or width, no running statistics). */
static int fold_bn(nb_module *conv, nb_module *bn, float **scale, float **shift)
{
    if (strcmp(nb_module_kind(bn), "BatchNorm2d") || bn->training) return 0;
    int64_t OC = nb_tensor_dim(conv->own[0].tensor, 0);
    *scale = nb__scratch(conv->ctx, (size_t)OC * sizeof(float));
    *shift = nb__scratch(conv->ctx, (size_t)OC * sizeof(float));
    if (!*scale || !*shift) return 0;
    /* a BatchNorm of another width or without running statistics: run unfused (it reports) */
    int64_t nbn = 0;
    const nb_named_tensor *st = bn->own;
    for (int i = 0; i < bn->n_own; i++)
        if (!strcmp(st[i].name, "running_mean")) nbn = nb_tensor_numel(st[i].tensor);
    if (nbn != OC) return 0;
    if (nb__batchnorm_eval_scale_shift(bn, *scale, *shift)) {
        nb_clear_error();
        return 0;
    }
    return 1;
}

static nb_tensor *conv_fuse(nb_module *const *mods, int n, nb_tensor *x, int training, int *used)
{
    *used = 0;
    if (training) return NULL;
    nb_module *conv = n > 0 ? mods[0] : NULL;
    if (!conv || !x || conv->vt != &conv_vt || conv->training || n < 2) return NULL;
    nb_tensor *w = conv->own[0].tensor, *b = conv->n_own > 1 ? conv->own[1].tensor : NULL;
    if (nb__needs_grad(conv->ctx, x, w, b)) return NULL;
    float *scale, *shift;
    if (!fold_bn(conv, mods[1], &scale, &shift)) return NULL;
    int relu = n > 2 && !strcmp(nb_module_kind(mods[2]), "ReLU");
    /* and a MaxPool2d after them: in one pass where nb__conv2d_ep_pool can (MaxPool2d(2)) */
    nb_module *mp = n > 2 + relu && mods[2 + relu]->vt == &maxpool_vt ? mods[2 + relu] : NULL;
    nb_tensor *y = mp ? nb__conv2d_ep_pool(x, w, b, conv->impl, scale, shift, relu, mp->impl)
                      : nb__conv2d_ep(x, w, b, conv->impl, scale, shift, relu);
    if (y) *used = 2 + relu + (mp != NULL);
    return y;
}

nb_tensor *nb__conv_bn_residual(nb_module *conv, nb_module *bn, nb_tensor *x, const nb_tensor *res, int relu)
{
    if (!conv || !x || !res || conv->vt != &conv_vt || conv->training) return NULL;
    nb_tensor *w = conv->own[0].tensor, *b = conv->n_own > 1 ? conv->own[1].tensor : NULL;
    if (nb__needs_grad(conv->ctx, x, w, b) || res->requires_grad) return NULL;
    float *scale = NULL, *shift = NULL;
    if (bn && !fold_bn(conv, bn, &scale, &shift)) return NULL;
    return nb__conv2d_ep_res(x, w, b, conv->impl, scale, shift, relu, res);
}
