/* pool.c - F.max_pool2d, F.avg_pool2d, F.adaptive_avg_pool2d and global average
 * pooling: shape checks, forward and backward (kernels in src/kernels/pool.c).
 * x (N, C, H, W) or (C, H, W); output (N, C, OH, OW) or (C, OH, OW). */
#include "core/error.h"
#include "core/tensor.h"
#include "core/tape.h"
#include "kernels/conv.h"
#include "ops/window.h"

#include <stdio.h>

typedef enum { POOL_MAX, POOL_AVG, POOL_ADAPTIVE } pool_kind;

typedef struct {
    nb__pool_shape s;
    int32_t *idx; /* max: argmax per output */
    pool_kind kind;
} pool_saved;

static void pair_str(char *buf, size_t n, int64_t a, int64_t b)
{
    if (a == b)
        snprintf(buf, n, "%lld", (long long)a);
    else
        snprintf(buf, n, "(%lld, %lld)", (long long)a, (long long)b);
}

/* "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)" as PyTorch prints it */
static void layer_name(char *buf, size_t n, pool_kind k, const nb__pool_shape *s, int ceil_mode)
{
    char ks[48], ss[48], ps[48], ds[48];
    pair_str(ks, sizeof ks, s->kh, s->kw);
    pair_str(ss, sizeof ss, s->sh, s->sw);
    pair_str(ps, sizeof ps, s->ph, s->pw);
    pair_str(ds, sizeof ds, s->dh, s->dw);
    if (k == POOL_MAX)
        snprintf(buf, n, "MaxPool2d(kernel_size=%s, stride=%s, padding=%s, dilation=%s, ceil_mode=%s)", ks, ss, ps, ds,
                 ceil_mode ? "True" : "False");
    else
        snprintf(buf, n, "AvgPool2d(kernel_size=%s, stride=%s, padding=%s%s%s)", ks, ss, ps,
                 ceil_mode ? ", ceil_mode=True" : "", s->exclude_pad ? ", count_include_pad=False" : "");
}

/* The layer a message names, formatted only when one is written (on every call the
 * snprintf calls would cost about as much as pooling a batch-1 image). */
typedef struct {
    pool_kind kind;
    const nb__pool_shape *s; /* window pooling: kernel, stride, padding, dilation */
    int ceil_mode;
    int64_t oh, ow;          /* adaptive pooling: output size */
} pool_layer;

static const char *name_of(const pool_layer *l)
{
    static _Thread_local char buf[512];
    if (l->kind == POOL_ADAPTIVE)
        snprintf(buf, sizeof buf, "AdaptiveAvgPool2d(output_size=(%lld, %lld))", (long long)l->oh, (long long)l->ow);
    else
        layer_name(buf, sizeof buf, l->kind, l->s, l->ceil_mode);
    return buf;
}

/* Checks x and fills the plane fields of s (N, C, H, W); *batched says whether x is 4-D. */
static nb_status input_dims(nb_tensor *x, const pool_layer *l, nb__pool_shape *s, int *batched)
{
    if (x->dtype != NB_F32 || (x->ndim != 3 && x->ndim != 4))
        return nb__fail(NB_ERR_SHAPE, "%s: input %s must be F32 (N, C, H, W) or (C, H, W)", name_of(l), nb__tshape(x));
    *batched = x->ndim == 4;
    s->N = *batched ? x->shape[0] : 1;
    s->C = x->shape[*batched];
    s->H = x->shape[*batched + 1];
    s->W = x->shape[*batched + 2];
    if (s->N * s->C == 0 || s->H < 1 || s->W < 1)
        return nb__fail(NB_ERR_SHAPE, "%s: input %s is empty", name_of(l), nb__tshape(x));
    return NB_OK;
}

static nb_tensor *make_out(nb_tensor *x, const nb__pool_shape *s, int batched)
{
    int64_t shape[4] = {s->N, s->C, s->OH, s->OW};
    return batched ? nb__empty(x->ctx, NB_F32, 4, shape) : nb__empty(x->ctx, NB_F32, 3, shape + 1);
}

static void pool_backward(nb_node *n)
{
    nb_tensor *x = n->in[0];
    const pool_saved *ps = n->saved;
    const float *g = n->out->grad;
    switch (ps->kind) {
    case POOL_MAX: nb__max_pool2d_bwd(&ps->s, g, ps->idx, x->grad); break;
    case POOL_AVG: nb__avg_pool2d_bwd(&ps->s, g, x->grad); break;
    default: nb__adaptive_avg_pool2d_bwd(&ps->s, g, x->grad); break;
    }
}

static nb_tensor *pool_window(nb_tensor *x, const nb_pool2d_opts *opts, pool_kind kind)
{
    if (!x) return NULL;
    nb_pool2d_opts o = opts ? *opts : (nb_pool2d_opts){0};
    nb__pool_shape s = {0};
    s.kh = o.kernel[0], s.kw = o.kernel[1];
    s.sh = o.stride[0] ? o.stride[0] : o.kernel[0];
    s.sw = o.stride[1] ? o.stride[1] : o.kernel[1];
    s.ph = o.padding[0], s.pw = o.padding[1];
    s.dh = o.dilation[0] ? o.dilation[0] : 1, s.dw = o.dilation[1] ? o.dilation[1] : 1;
    s.exclude_pad = kind == POOL_AVG && o.exclude_pad;
    s.divisor = kind == POOL_AVG ? o.divisor_override : 0;
    pool_layer L = {kind, &s, o.ceil_mode, 0, 0};
    if (s.kh < 1 || s.kw < 1 || s.sh < 1 || s.sw < 1 || s.dh < 1 || s.dw < 1) {
        nb__fail(NB_ERR_ARG, "%s: kernel size, stride and dilation must be positive", name_of(&L));
        return NULL;
    }
    if (kind == POOL_AVG && (o.dilation[0] > 1 || o.dilation[1] > 1)) {
        nb__fail(NB_ERR_ARG, "%s: average pooling has no dilation", name_of(&L));
        return NULL;
    }
    if (s.ph < 0 || s.pw < 0 || s.ph > s.kh / 2 || s.pw > s.kw / 2) {
        nb__fail(NB_ERR_ARG, "%s: pad should be at most half of kernel size, but got pad=(%lld, %lld) and "
                             "kernel_size=(%lld, %lld)",
                 name_of(&L), (long long)s.ph, (long long)s.pw, (long long)s.kh, (long long)s.kw);
        return NULL;
    }
    if (o.divisor_override < 0 || (kind == POOL_MAX && (o.divisor_override || o.exclude_pad))) {
        nb__fail(NB_ERR_ARG, "%s: divisor_override must be positive and count_include_pad/divisor_override "
                             "are for average pooling",
                 name_of(&L));
        return NULL;
    }
    int batched;
    if (input_dims(x, &L, &s, &batched)) return NULL;
    s.OH = nb__window_out(s.H, s.kh, s.sh, s.ph, s.ph, s.dh, o.ceil_mode);
    s.OW = nb__window_out(s.W, s.kw, s.sw, s.pw, s.pw, s.dw, o.ceil_mode);
    if (s.OH < 1 || s.OW < 1) {
        nb__fail(NB_ERR_SHAPE, "%s: input %s is too small: output size would be %lld x %lld", name_of(&L), nb__tshape(x),
                 (long long)s.OH, (long long)s.OW);
        return NULL;
    }
    nb_tensor *out = make_out(x, &s, batched);
    if (!out) return NULL;
    int grad = nb__needs_grad(x->ctx, x, NULL, NULL);
    pool_saved *ps = NULL;
    if (grad) {
        ps = nb__scratch(x->ctx, sizeof *ps);
        if (!ps) return NULL;
        ps->s = s;
        ps->idx = NULL;
        ps->kind = kind;
        if (kind == POOL_MAX && !(ps->idx = nb__scratch(x->ctx, (size_t)nb_tensor_numel(out) * sizeof(int32_t))))
            return NULL;
    }
    if (kind == POOL_MAX) {
        if (s.H * s.W > INT32_MAX) {
            nb__fail(NB_ERR_SHAPE, "%s: planes of more than 2^31 elements are not supported", name_of(&L));
            return NULL;
        }
        nb__max_pool2d_fwd(&s, nb__f(x), nb__f(out), ps ? ps->idx : NULL);
    } else {
        nb__avg_pool2d_fwd(&s, nb__f(x), nb__f(out));
    }
    if (grad) {
        nb_node *n = nb__record(out, pool_backward, x, NULL, NULL);
        if (!n) return NULL;
        n->saved = ps;
    }
    return out;
}

nb_tensor *nb_max_pool2d(nb_tensor *x, const nb_pool2d_opts *o) { return pool_window(x, o, POOL_MAX); }
nb_tensor *nb_avg_pool2d(nb_tensor *x, const nb_pool2d_opts *o) { return pool_window(x, o, POOL_AVG); }

nb_tensor *nb_adaptive_avg_pool2d(nb_tensor *x, int64_t oh, int64_t ow)
{
    if (!x) return NULL;
    pool_layer L = {POOL_ADAPTIVE, NULL, 0, oh, ow};
    if (oh < 1 || ow < 1) {
        nb__fail(NB_ERR_ARG, "%s: output size must be positive", name_of(&L));
        return NULL;
    }
    nb__pool_shape s = {0};
    int batched;
    if (input_dims(x, &L, &s, &batched)) return NULL;
    s.OH = oh;
    s.OW = ow;
    nb_tensor *out = make_out(x, &s, batched);
    if (!out) return NULL;
    nb__adaptive_avg_pool2d_fwd(&s, nb__f(x), nb__f(out));
    if (nb__needs_grad(x->ctx, x, NULL, NULL)) {
        pool_saved *ps = nb__scratch(x->ctx, sizeof *ps);
        if (!ps) return NULL;
        *ps = (pool_saved){.s = s, .kind = POOL_ADAPTIVE};
        nb_node *n = nb__record(out, pool_backward, x, NULL, NULL);
        if (!n) return NULL;
        n->saved = ps;
    }
    return out;
}

nb_tensor *nb_global_avg_pool2d(nb_tensor *x) { return nb_adaptive_avg_pool2d(x, 1, 1); }
