/* activation.c - sigmoid, tanh, relu, leaky_relu, elu, prelu: forward and backward.
 * Layout: contiguous; prelu's channel is dim 1 ((N, C, ...)); an input with fewer
 * than 2 dims has one channel (as PyTorch), so it takes a single parameter. */
#include "core/error.h"
#include "core/tensor.h"
#include "core/tape.h"
#include "core/threads.h"

#include <math.h>

typedef enum { ACT_SIGMOID, ACT_TANH, ACT_RELU, ACT_LEAKY, ACT_ELU } act_kind;

static inline float act_fwd(act_kind k, float x, float s)
{
    switch (k) {
    case ACT_SIGMOID: return 1.0f / (1.0f + expf(-x));
    case ACT_TANH: return tanhf(x);
    case ACT_RELU: return x <= 0 ? 0.0f : x; /* NaN stays NaN, as PyTorch */
    case ACT_LEAKY: return x > 0 ? x : x * s;
    default: return x > 0 ? x : s * expm1f(x);
    }
}

static inline float act_bwd(act_kind k, float x, float y, float s)
{
    switch (k) {
    case ACT_SIGMOID: return y * (1.0f - y);
    case ACT_TANH: return 1.0f - y *y;
    case ACT_RELU: return x > 0 ? 1.0f : 0.0f;
    case ACT_LEAKY: return x > 0 ? 1.0f : s;
    default: return x > 0 ? 1.0f : y + s; /* α·eˣ = y + α */
    }
}

/* What act_backward needs. */
typedef struct {
    act_kind k;
    float s; /* slope or alpha */
} act_saved;

#define RELU_BLOCK 4096
/* ga[i] += x[i] > 0 ? g[i] : 0 for i in [i0, min(i0 + RELU_BLOCK, n)); no branch, so it vectorises */
NB_CLONES static void relu_bwd_block(const float *restrict x, const float *restrict g, float *restrict ga, int64_t i0, int64_t n)
{
    int64_t i1 = i0 + RELU_BLOCK < n ? i0 + RELU_BLOCK : n;
    for (int64_t i = i0; i < i1; i++) {
        float gi = g[i];
        ga[i] += x[i] > 0 ? gi : 0.0f;
    }
}

static void act_backward(nb_node *n)
{
    const act_saved *st = n->saved;
    act_kind k = st->k;
    float s = st->s;
    nb_tensor *a = n->in[0];
    const float *x = nb__f(a), *y = nb__f(n->out), *g = n->out->grad;
    float *ga = a->grad;
    int64_t N = a->numel;
    if (k == ACT_RELU) /* PyTorch's threshold_backward, in blocks of a loop that vectorises */
        NB_FOR(N, blk, (N + RELU_BLOCK - 1) / RELU_BLOCK, relu_bwd_block(x, g, ga, blk * RELU_BLOCK, N));
    else
        NB_FOR(N, i, N, ga[i] += g[i] * act_bwd(k, x[i], y[i], s));
}

static nb_tensor *act(nb_tensor *a, act_kind k, float s)
{
    if (!a) return NULL;
    if (a->dtype != NB_F32) {
        nb__fail(NB_ERR_ARG, "activation needs an F32 tensor");
        return NULL;
    }
    nb_tensor *out = nb__empty_like(a);
    if (!out) return NULL;
    const float *x = nb__f(a);
    float *y = nb__f(out);
    int64_t N = a->numel;
    NB_FOR(N, i, N, y[i] = act_fwd(k, x[i], s));
    if (nb__needs_grad(a->ctx, a, NULL, NULL)) {
        act_saved *st = nb__record_with(out, act_backward, a, NULL, NULL, sizeof *st);
        if (!st) return NULL;
        st->k = k;
        st->s = s;
    }
    return out;
}

nb_tensor *nb_sigmoid(nb_tensor *x) { return act(x, ACT_SIGMOID, 0); }
nb_tensor *nb_tanh(nb_tensor *x) { return act(x, ACT_TANH, 0); }
nb_tensor *nb_relu(nb_tensor *x) { return act(x, ACT_RELU, 0); }
nb_tensor *nb_leaky_relu(nb_tensor *x, float slope) { return act(x, ACT_LEAKY, slope); }
nb_tensor *nb_elu(nb_tensor *x, float alpha) { return act(x, ACT_ELU, alpha); }

/* prelu: x (N, C, *) or (C) ; w (1) or (C). inner = prod(dims after the channel) */
static void prelu_dims(const nb_tensor *x, int64_t *outer, int64_t *C, int64_t *inner)
{
    *outer = 1;
    *inner = 1;
    *C = 1;
    if (x->ndim < 2) {
        *outer = x->numel;
        return;
    }
    *outer = x->shape[0];
    *C = x->shape[1];
    for (int d = 2; d < x->ndim; d++) *inner *= x->shape[d];
}

static void prelu_backward(nb_node *n)
{
    nb_tensor *a = n->in[0], *w = n->in[1];
    const float *x = nb__f(a), *wv = nb__f(w), *g = n->out->grad;
    float *ga = a->requires_grad ? a->grad : NULL, *gw = w->requires_grad ? w->grad : NULL;
    int64_t outer, C, inner;
    prelu_dims(a, &outer, &C, &inner);
    int shared = w->numel == 1;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t c = 0; c < C; c++) {
            float wc = wv[shared ? 0 : c];
            double acc = 0;
            const float *xs = x + (o * C + c) * inner, *gs = g + (o * C + c) * inner;
            for (int64_t i = 0; i < inner; i++) {
                if (xs[i] > 0) {
                    if (ga) ga[(o * C + c) * inner + i] += gs[i];
                } else {
                    if (ga) ga[(o * C + c) * inner + i] += wc * gs[i];
                    acc += (double)xs[i] * gs[i];
                }
            }
            if (gw) gw[shared ? 0 : c] += (float)acc;
        }
}

nb_tensor *nb_prelu(nb_tensor *a, nb_tensor *w)
{
    if (!a || !w) return NULL;
    if (a->dtype != NB_F32 || w->dtype != NB_F32) {
        nb__fail(NB_ERR_ARG, "PReLU: input and weight must be F32 tensors");
        return NULL;
    }
    int64_t outer, C, inner;
    prelu_dims(a, &outer, &C, &inner);
    if (w->numel != 1 && w->numel != C) {
        char s[128];
        nb__shape_str(a->ndim, a->shape, s, sizeof s);
        nb__fail(NB_ERR_SHAPE, "PReLU: %lld parameters for input %s; needs 1 or the %lld channel(s) of dim 1",
                 (long long)w->numel, s, (long long)C);
        return NULL;
    }
    nb_tensor *out = nb__empty_like(a);
    if (!out) return NULL;
    const float *x = nb__f(a), *wv = nb__f(w);
    float *y = nb__f(out);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t c = 0; c < C; c++) {
            float wc = wv[w->numel == 1 ? 0 : c];
            int64_t base = (o * C + c) * inner;
            for (int64_t i = 0; i < inner; i++) {
                float v = x[base + i];
                y[base + i] = v > 0 ? v : wc *v;
            }
        }
    if (nb__needs_grad(a->ctx, a, w, NULL) && !nb__record(out, prelu_backward, a, w, NULL)) return NULL;
    return out;
}
