/* conv2d.c - F.conv2d: shape checks, forward, backward for input, weight and bias.
 * x (N, C, H, W) or (C, H, W), w (OC, C/G, KH, KW), b (OC), y (N, OC, OH, OW).
 * Each pass picks its kernels (measured on the cnn's layers, BENCHMARKS.md, and the zoo's,
 * bench/zoo_conv.c): the stride-1 kernels of src/kernels/conv_fast.c when the output
 * plane is larger than 4x4 and the pass has at least 8 output channels per group (their
 * micro-tile height) and, for the forward and input-gradient passes, at least 32 taps per
 * output (a short sum cannot pay for the epilogue's masked stores); otherwise im2col over
 * a chunk of the batch and one sgemm (src/kernels/conv_batch.c: strided, 1x1, 7x7 stems,
 * small planes), except a batch smaller than the team on a large plane (batch-1
 * inference), where each image's im2col + sgemm is split over the threads
 * (src/kernels/im2col.c); in inference, up to 28 output positions in all (batch 1 on 4x4
 * planes and below) take kernels/conv_small.c (the weights read in place, not packed).
 * nb__conv2d_ep_pool adds a 2x2 max pool, in one pass with the convolution in inference
 * (kernels/conv_pool.c). Scratch is given back to the arena after each pass. */
#include "core/error.h"
#include "core/tensor.h"
#include "core/tape.h"
#include "core/ctx.h"
#include "core/threadpool.h"
#include "core/isa.h"
#include "ops/conv2d.h"
#include "ops/window.h"
#include "kernels/conv.h"

#include <stdio.h>
#include <string.h>

/* The options with PyTorch's defaults filled in and "same"/"valid" resolved
 * against the kernel size: top/left padding in pad[], total padding in tot[]. */
typedef struct {
    int64_t stride[2], dil[2], pad[2], tot[2], groups;
} conv_params;

/* "Conv2d(1, 32, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1))" as PyTorch prints it */
static void layer_name(char *buf, size_t n, int64_t in, int64_t out, int64_t kh, int64_t kw,
                       const nb_conv2d_opts *o, int has_bias)
{
    int len = snprintf(buf, n, "Conv2d(%lld, %lld, kernel_size=(%lld, %lld)", (long long)in, (long long)out,
                       (long long)kh, (long long)kw);
#define ADD(...)                                                                   \
    do {                                                                           \
        if (len >= 0 && (size_t)len < n) len += snprintf(buf + len, n - (size_t)len, __VA_ARGS__); \
    } while (0)
    if (o->stride[0] > 1 || o->stride[1] > 1 || o->stride[0] < 0 || o->stride[1] < 0)
        ADD(", stride=(%d, %d)", o->stride[0] ? o->stride[0] : 1, o->stride[1] ? o->stride[1] : 1);
    if (o->padding_mode == NB_PADDING_SAME)
        ADD(", padding=same");
    else if (o->padding_mode == NB_PADDING_VALID)
        ADD(", padding=valid");
    else if (o->padding[0] || o->padding[1])
        ADD(", padding=(%d, %d)", o->padding[0], o->padding[1]);
    if (o->dilation[0] > 1 || o->dilation[1] > 1 || o->dilation[0] < 0 || o->dilation[1] < 0)
        ADD(", dilation=(%d, %d)", o->dilation[0] ? o->dilation[0] : 1, o->dilation[1] ? o->dilation[1] : 1);
    if (o->groups > 1 || o->groups < 0) ADD(", groups=%d", o->groups);
    if (!has_bias) ADD(", bias=False");
    ADD(")");
#undef ADD
}

/* What layer_name prints, formatted only when a message needs it (on every call it
 * would cost a microsecond of a 40 µs batch-1 forward). */
typedef struct {
    int64_t in, out, kh, kw;
    const nb_conv2d_opts *o;
    int has_bias;
} layer;

static const char *name_of(const layer *l)
{
    static _Thread_local char buf[256];
    layer_name(buf, sizeof buf, l->in, l->out, l->kh, l->kw, l->o, l->has_bias);
    return buf;
}

/* Fill p from o and the kernel size; a message naming the layer l on bad options. */
static nb_status resolve(const nb_conv2d_opts *o, int64_t kh, int64_t kw, const layer *l, conv_params *p)
{
    int64_t k[2] = {kh, kw};
    for (int d = 0; d < 2; d++) {
        if (o->stride[d] < 0 || o->dilation[d] < 0 || o->padding[d] < 0)
            return nb__fail(NB_ERR_ARG, "%s: stride, padding and dilation must not be negative", name_of(l));
        p->stride[d] = o->stride[d] ? o->stride[d] : 1;
        p->dil[d] = o->dilation[d] ? o->dilation[d] : 1;
    }
    if (o->groups < 0) return nb__fail(NB_ERR_ARG, "%s: groups must be positive", name_of(l));
    p->groups = o->groups ? o->groups : 1;
    switch (o->padding_mode) {
    case NB_PADDING_EXPLICIT:
        for (int d = 0; d < 2; d++) p->pad[d] = o->padding[d], p->tot[d] = 2 * (int64_t)o->padding[d];
        break;
    case NB_PADDING_VALID:
        for (int d = 0; d < 2; d++) p->pad[d] = p->tot[d] = 0;
        break;
    case NB_PADDING_SAME:
        if (p->stride[0] != 1 || p->stride[1] != 1)
            return nb__fail(NB_ERR_ARG, "%s: padding='same' is not supported for strided convolutions", name_of(l));
        for (int d = 0; d < 2; d++) { /* the odd one goes to the bottom/right, as PyTorch */
            p->tot[d] = p->dil[d] * (k[d] - 1);
            p->pad[d] = p->tot[d] / 2;
        }
        break;
    default:
        return nb__fail(NB_ERR_ARG, "%s: unknown padding mode %d", name_of(l), (int)o->padding_mode);
    }
    return NB_OK;
}

/* An image smaller than this many multiply-adds is not split over threads (a fork
 * costs about a microsecond). */
#define GEMM_SPLIT_MIN (1 << 16)

/* kernels/conv_pool.c: at most this many weights, at least this many pooled positions */
#define POOL_W_MAX ((int64_t)1 << 18)
#define POOL_POS_MIN 16

static int threads_of(const nb_ctx *ctx) { (void)ctx; return nb__max_threads(); }

/* forward: OCg outputs of Cg·KH·KW taps; input gradient: Cg outputs of OCg·KH·KW taps.
 * Strided convolutions take the fast forward only in inference (strided: without a
 * gradient to record), so training keeps the numerics of the GEMM path. */
static int fast_fwd(const nb__conv_shape *s, int strided_ok)
{
    return (strided_ok ? nb__conv2d_fast_fwd_ok(s) : nb__conv2d_fast_ok(s)) && s->OC / s->G >= 8 &&
           s->C / s->G * s->KH * s->KW >= 32;
}
static int fast_bwd_x(const nb__conv_shape *s)
{
    return nb__conv2d_fast_ok(s) && s->C / s->G >= 8 && s->OC / s->G * s->KH * s->KW >= 32;
}
static int fast_bwd_w(const nb__conv_shape *s) { return nb__conv2d_fast_ok(s) && s->OC / s->G >= 8; }

/* The batch GEMM (kernels/conv_batch.c) for small output planes, where conv_fast.c's
 * vectors along an output row are mostly empty (measured with bench/zoo_conv.c:
 * at 4x4 and below it is faster on every pass; at 8x8 and above the fast kernels are). */
#define SMALL_PLANE 16
static int small_plane(const nb__conv_shape *s) { return s->OH * s->OW <= SMALL_PLANE; }

/* A few images on small planes in inference (batch 1 on resnet18's and VGG's last stages):
 * kernels/conv_small.c, dot products with the weights in place, where the batch GEMM would
 * pack every weight for a handful of outputs. Only where nabla's GEMM runs (its small-M
 * path; OpenBLAS would pack them itself). */
#define SMALL_POSITIONS 28
static int small_batch(const nb__conv_shape *s)
{
    return small_plane(s) && s->N * s->OH * s->OW <= SMALL_POSITIONS && nb__isa() == NB__ISA_AVX512;
}

static void conv_backward(nb_node *n)
{
    nb_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    const nb__conv_shape *s = n->saved;
    nb_ctx *ctx = n->out->ctx;
    int nt = threads_of(ctx);
    const float *dy = n->out->grad;
    int want_x = x->requires_grad, want_w = w->requires_grad, want_b = b && b->requires_grad;
    /* every scratch buffer here is given back before returning */
    nb_arena_mark mark = nb__arena_mark(&ctx->arena);
    int fast_x = want_x && fast_bwd_x(s) && !small_plane(s);
    int fast_w = (want_w || want_b) && fast_bwd_w(s) && !small_plane(s);
    if (fast_x) {
        float *scr = nb__scratch(ctx, nb__conv2d_fast_scratch_bwd_x(s, nt) * sizeof(float));
        if (scr) nb__conv2d_fast_bwd_x(s, dy, nb__f(w), x->grad, scr, nt);
        nb__arena_release(&ctx->arena, mark);
    }
    if (fast_w) {
        float *scr = nb__scratch(ctx, nb__conv2d_fast_scratch_bwd_w(s, nt) * sizeof(float));
        if (scr)
            nb__conv2d_fast_bwd_w(s, nb__f(x), dy, want_w ? w->grad : NULL, want_b ? b->grad : NULL, scr, nt);
        nb__arena_release(&ctx->arena, mark);
    }
    /* what is left: one pass over the batch in chunks for both gradients */
    int rest_x = want_x && !fast_x, rest_w = want_w && !fast_w, rest_b = want_b && !fast_w;
    if (rest_x || rest_w || rest_b) {
        float *scr = nb__scratch(ctx, nb__conv2d_batch_scratch(s) * sizeof(float));
        if (scr)
            nb__conv2d_batch_bwd(s, nb__f(x), nb__f(w), dy, rest_x ? x->grad : NULL, rest_w ? w->grad : NULL,
                                 rest_b ? b->grad : NULL, scr);
        nb__arena_release(&ctx->arena, mark);
    }
}

static nb_tensor *conv_ep(nb_tensor *x, nb_tensor *w, nb_tensor *b, const nb_conv2d_opts *opts,
                          const float *scale, const float *shift, int relu, const nb_tensor *res,
                          const nb_pool2d_opts *pool);

nb_tensor *nb__conv2d_ep(nb_tensor *x, nb_tensor *w, nb_tensor *b, const nb_conv2d_opts *opts,
                         const float *scale, const float *shift, int relu)
{
    return nb__conv2d_ep_res(x, w, b, opts, scale, shift, relu, NULL);
}

nb_tensor *nb__conv2d_ep_res(nb_tensor *x, nb_tensor *w, nb_tensor *b, const nb_conv2d_opts *opts,
                             const float *scale, const float *shift, int relu, const nb_tensor *res)
{
    return conv_ep(x, w, b, opts, scale, shift, relu, res, NULL);
}

nb_tensor *nb__conv2d_ep_pool(nb_tensor *x, nb_tensor *w, nb_tensor *b, const nb_conv2d_opts *opts,
                              const float *scale, const float *shift, int relu, const nb_pool2d_opts *pool)
{
    if (!pool) {
        nb__fail(NB_ERR_ARG, "conv2d: no pooling options");
        return NULL;
    }
    return conv_ep(x, w, b, opts, scale, shift, relu, NULL, pool);
}

/* Whether pool is MaxPool2d(2) as conv_pool.c computes it on an OH x OW output: a 2x2
 * window, stride 2, no padding or dilation, and no partial last window (ceil_mode on
 * odd sizes). */
static int pool_2x2(const nb_pool2d_opts *p, int64_t OH, int64_t OW)
{
    for (int d = 0; d < 2; d++)
        if (p->kernel[d] != 2 || (p->stride[d] != 0 && p->stride[d] != 2) || p->padding[d] != 0 ||
            p->dilation[d] > 1)
            return 0;
    return !p->ceil_mode || (OH % 2 == 0 && OW % 2 == 0);
}

/* The convolution with its epilogue, then pool's max pooling if pool is set: in one pass
 * (kernels/conv_pool.c) where it applies, else the convolution's output pooled by
 * nb_max_pool2d. */
static nb_tensor *conv_ep(nb_tensor *x, nb_tensor *w, nb_tensor *b, const nb_conv2d_opts *opts,
                          const float *scale, const float *shift, int relu, const nb_tensor *res,
                          const nb_pool2d_opts *pool)
{
    if (!x || !w) return NULL;
    nb_conv2d_opts o = opts ? *opts : (nb_conv2d_opts){0};
    if (w->ndim != 4 || w->dtype != NB_F32) {
        nb__fail(NB_ERR_SHAPE, "conv2d: weight %s must be F32 and 4-D (out_channels, in_channels/groups, kH, kW)", nb__tshape(w));
        return NULL;
    }
    int64_t G = o.groups > 0 ? o.groups : 1;
    int64_t OC = w->shape[0], KH = w->shape[2], KW = w->shape[3], Cin = w->shape[1] * G;
    layer L = {Cin, OC, KH, KW, &o, b != NULL};
    conv_params p;
    memset(&p, 0, sizeof p);
    if (resolve(&o, KH, KW, &L, &p)) return NULL;
    if (OC % G) {
        nb__fail(NB_ERR_SHAPE, "%s: out_channels %lld is not divisible by groups %lld", name_of(&L), (long long)OC,
                 (long long)G);
        return NULL;
    }
    if (x->dtype != NB_F32 || (x->ndim != 3 && x->ndim != 4)) {
        nb__fail(NB_ERR_SHAPE, "%s: input %s must be F32 (N, C, H, W) or (C, H, W)", name_of(&L), nb__tshape(x));
        return NULL;
    }
    int batched = x->ndim == 4;
    int64_t N = batched ? x->shape[0] : 1, C = x->shape[batched], H = x->shape[batched + 1],
            W = x->shape[batched + 2];
    if (C != Cin) {
        nb__fail(NB_ERR_SHAPE, "%s: input %s has %lld channels, expected %lld", name_of(&L), nb__tshape(x), (long long)C,
                 (long long)Cin);
        return NULL;
    }
    if (b && (b->dtype != NB_F32 || b->numel != OC)) {
        nb__fail(NB_ERR_SHAPE, "%s: bias %s must have out_channels = %lld elements", name_of(&L), nb__tshape(b),
                 (long long)OC);
        return NULL;
    }
    int64_t eh = p.dil[0] * (KH - 1) + 1, ew = p.dil[1] * (KW - 1) + 1; /* dilated kernel */
    int64_t OH = nb__window_out(H, KH, p.stride[0], p.pad[0], p.tot[0] - p.pad[0], p.dil[0], 0);
    int64_t OW = nb__window_out(W, KW, p.stride[1], p.pad[1], p.tot[1] - p.pad[1], p.dil[1], 0);
    if (OH < 1 || OW < 1 || KH < 1 || KW < 1) {
        nb__fail(NB_ERR_SHAPE,
                 "%s: input %s is too small: padded input %lld x %lld is smaller than the (dilated) kernel "
                 "%lld x %lld, output size would be %lld x %lld",
                 name_of(&L), nb__tshape(x), (long long)(H + p.tot[0]), (long long)(W + p.tot[1]), (long long)eh, (long long)ew,
                 (long long)OH, (long long)OW);
        return NULL;
    }
    if (N == 0 || OC == 0) {
        nb__fail(NB_ERR_SHAPE, "%s: input %s has no samples or no output channels", name_of(&L), nb__tshape(x));
        return NULL;
    }
    nb_ctx *ctx = x->ctx;
    if ((scale || shift || relu || res) && nb__needs_grad(ctx, x, w, b)) {
        nb__fail(NB_ERR_STATE, "%s: a fused inference epilogue cannot record gradients", name_of(&L));
        return NULL;
    }
    if (res && (res->dtype != NB_F32 || res->numel != N * OC * OH * OW)) {
        nb__fail(NB_ERR_SHAPE, "%s: residual %s does not have the output's %lld elements", name_of(&L), nb__tshape(res),
                 (long long)(N * OC * OH * OW));
        return NULL;
    }
    nb__conv_shape *s = nb__scratch(ctx, sizeof *s);
    if (!s) return NULL;
    *s = (nb__conv_shape){.N = N, .C = C, .H = H, .W = W, .OC = OC, .KH = KH, .KW = KW, .OH = OH, .OW = OW,
                          .sh = p.stride[0], .sw = p.stride[1], .dh = p.dil[0], .dw = p.dil[1],
                          .pt = p.pad[0], .pl = p.pad[1], .G = G};
    int nt = threads_of(ctx);
    /* conv + epilogue + max pool in one pass: inference, a 2x2 pool, where conv_pool.c applies
     * and its per-call packing of the weights pays: weights up to POOL_W_MAX (VGG's 256- and
     * 512-channel layers stream megabytes of weights at batch 1: packed they would be read
     * three times) and at least POOL_POS_MIN pooled positions to share the packing */
    int pooled = pool && !res && !nb__needs_grad(ctx, x, w, b) && pool_2x2(pool, OH, OW) && nb__conv2d_pool_ok(s) &&
                 OC * C / G * KH * KW <= POOL_W_MAX && N * (OH / 2) * (OW / 2) >= POOL_POS_MIN;
    int64_t shape[4] = {N, OC, pooled ? OH / 2 : OH, pooled ? OW / 2 : OW};
    nb_tensor *out = batched ? nb__empty(ctx, NB_F32, 4, shape) : nb__empty(ctx, NB_F32, 3, shape + 1);
    if (!out) return NULL;
    const float *bias = b ? nb__f(b) : NULL;
    /* bias folds into the shift: (Σ + b)·scale + shift = Σ·scale + (b·scale + shift) */
    float *sh = NULL;
    if (bias && (scale || shift)) {
        if (!(sh = nb__scratch(ctx, (size_t)OC * sizeof(float)))) return NULL;
        for (int64_t c = 0; c < OC; c++) sh[c] = bias[c] * (scale ? scale[c] : 1.0f) + (shift ? shift[c] : 0.0f);
    }
    nb__conv_epilogue ep = {.scale = scale, .shift = sh ? sh : bias ? bias : shift, .relu = relu};
    nb_arena_mark mark = nb__arena_mark(&ctx->arena); /* the scratch is given back below */
    if (pooled) {
        float *scr = nb__scratch(ctx, nb__conv2d_pool_scratch(s, nt) * sizeof(float));
        if (!scr) return NULL;
        nb__conv2d_pool_fwd(s, nb__f(x), nb__f(w), &ep, nb__f(out), scr, nt);
        nb__arena_release(&ctx->arena, mark);
        return out;
    }
    int fast = fast_fwd(s, !nb__needs_grad(ctx, x, w, b)) && !small_plane(s);
    if (res && fast) ep.residual = nb__f(res);
    else if (res) ep.relu = 0; /* the other paths: the residual and the relu after them */
    if (fast) {
        float *scr = nb__scratch(ctx, nb__conv2d_fast_scratch_fwd(s, nt) * sizeof(float));
        if (!scr) return NULL;
        nb__conv2d_fast_fwd(s, nb__f(x), nb__f(w), &ep, nb__f(out), scr, nt);
    } else if (small_batch(s) && !nb__needs_grad(ctx, x, w, b)) {
        float *scr = nb__scratch(ctx, nb__conv2d_small_scratch(s) * sizeof(float));
        if (!scr) return NULL;
        nb__conv2d_small_fwd(s, nb__f(x), nb__f(w), &ep, nb__f(out), scr);
    } else if (N < nt && nb__isa() == NB__ISA_AVX512 && !small_plane(s) &&
               OC / G * OH * OW * (C / G * KH * KW) >= GEMM_SPLIT_MIN) {
        /* split over output channels only where nabla's GEMM runs (its sums do not depend on
         * how the rows are cut; OpenBLAS's do, and the result would change with the count) */
        float *scr = nb__scratch(ctx, nb__conv2d_gemm_scratch(s) * sizeof(float));
        if (!scr) return NULL;
        nb__conv2d_gemm_fwd_split(s, nb__f(x), nb__f(w), &ep, nb__f(out), scr, nt);
    } else {
        float *scr = nb__scratch(ctx, nb__conv2d_batch_scratch(s) * sizeof(float));
        if (!scr) return NULL;
        nb__conv2d_batch_fwd(s, nb__f(x), nb__f(w), &ep, nb__f(out), scr);
    }
    nb__arena_release(&ctx->arena, mark);
    if (res && !fast) {
        float *y = nb__f(out);
        const float *r = nb__f(res);
        for (int64_t i = 0; i < out->numel; i++) {
            float v = y[i] + r[i];
            y[i] = relu && v <= 0.0f ? 0.0f : v;
        }
    }
    if (nb__needs_grad(ctx, x, w, b)) {
        nb_node *n = nb__record(out, conv_backward, x, w, b);
        if (!n) return NULL;
        n->saved = s;
    }
    return pool ? nb_max_pool2d(out, pool) : out;
}

nb_tensor *nb_conv2d(nb_tensor *x, nb_tensor *w, nb_tensor *b, const nb_conv2d_opts *o)
{
    return nb__conv2d_ep(x, w, b, o, NULL, NULL, 0);
}
