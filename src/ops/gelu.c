/* gelu.c - GELU, PyTorch's F.gelu(x, approximate='none' | 'tanh'): forward and backward.
 *   erf:  y = x·Φ(x) = ½x(1 + erf(x/√2)),          y' = Φ(x) + x·φ(x), φ(x) = e^(-x²/2)/√(2π)
 *   tanh: y = ½x(1 + tanh(u)), u = √(2/π)(x + 0.044715x³),
 *         y' = ½(1 + t) + ½x(1 - t²)·√(2/π)(1 + 3·0.044715x²), t = tanh(u)
 * BERT's "gelu" is the erf form; GPT-2's "gelu_new" the tanh form. With a gradient to
 * come, the forward keeps Φ(x) or t for the backward.
 * Layout: contiguous, elementwise. */
#include "core/error.h"
#include "core/tensor.h"
#include "core/tape.h"
#include "core/ctx.h"
#include "core/random.h"
#include "core/threads.h"

#include <math.h>

#define SQRT1_2 0.70710678118654752440f
#define SQRT_2_PI 0.79788456080286535588f     /* √(2/π) */
#define INV_SQRT_2PI 0.39894228040143267794f  /* 1/√(2π) */
#define GELU_C 0.044715f

/* y and the value the gradient reuses: Φ(x) (erf form) or t = tanh(u) (tanh form). */
static inline float gelu_fwd(float x, int tanh_form, float *keep)
{
    if (tanh_form) {
        float t = tanhf(SQRT_2_PI * (x + GELU_C * x * x * x));
        *keep = t;
        return 0.5f * x * (1.0f + t);
    }
    float cdf = 0.5f * (1.0f + erff(x * SQRT1_2));
    *keep = cdf;
    return x * cdf;
}

static inline float gelu_grad(float x, float kept, int tanh_form)
{
    if (tanh_form) {
        float t = kept;
        return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * SQRT_2_PI * (1.0f + 3.0f * GELU_C * x * x);
    }
    return kept + x * INV_SQRT_2PI * expf(-0.5f * x * x);
}

typedef struct {
    int tanh_form;     /* NB_GELU_TANH */
    const float *kept; /* per value Φ(x) (erf form) or tanh(u) (tanh form) */
} gelu_saved;

/* a chunk of gelu_backward's loop over i (nb__parallel_if) */
typedef struct {
    float *ga;
    const float *g;
    const float *x;
    const float *kept;
    int tf;
} gelu_backward_i_ctx;
static void gelu_backward_i_chunk(void *ctx_, int64_t b_, int64_t e_, int slot_)
{
    const gelu_backward_i_ctx *c_ = ctx_;
    float *ga = c_->ga;
    const float *g = c_->g;
    const float *x = c_->x;
    const float *kept = c_->kept;
    int tf = c_->tf;
    for (int64_t i = b_; i < e_; i++) {
        ga[i] += g[i] * gelu_grad(x[i], kept[i], tf);
    }
}

static void gelu_backward(nb_node *n)
{
    nb_tensor *a = n->in[0];
    const gelu_saved *st = n->saved;
    int tf = st->tanh_form;
    const float *x = nb__f(a), *g = n->out->grad, *kept = st->kept;
    float *ga = a->grad;
    int64_t N = a->numel;
    nb__parallel_if(N * 8, N, nb__chunk_for(N), gelu_backward_i_chunk, &(gelu_backward_i_ctx){ga, g, x, kept, tf});
}

/* a chunk of nb_gelu's loop over i (nb__parallel_if) */
typedef struct {
    float *y;
    const float *xv;
    int tf;
} gelu_i_ctx;
static void gelu_i_chunk(void *ctx_, int64_t b_, int64_t e_, int slot_)
{
    const gelu_i_ctx *c_ = ctx_;
    float *y = c_->y;
    const float *xv = c_->xv;
    int tf = c_->tf;
    for (int64_t i = b_; i < e_; i++) {
        float k_; y[i] = gelu_fwd(xv[i], tf, &k_);
    }
}

/* a chunk of nb_gelu's loop over i (nb__parallel_if) */
typedef struct {
    float *y;
    const float *xv;
    int tf;
    float *kept;
} gelu_i2_ctx;
static void gelu_i2_chunk(void *ctx_, int64_t b_, int64_t e_, int slot_)
{
    const gelu_i2_ctx *c_ = ctx_;
    float *y = c_->y;
    const float *xv = c_->xv;
    int tf = c_->tf;
    float *kept = c_->kept;
    for (int64_t i = b_; i < e_; i++) {
        y[i] = gelu_fwd(xv[i], tf, &kept[i]);
    }
}

nb_tensor *nb_gelu(nb_tensor *x, nb_gelu_approx approximate)
{
    if (!x) return NULL;
    if (x->dtype != NB_F32) {
        nb__fail(NB_ERR_ARG, "gelu: needs an F32 tensor");
        return NULL;
    }
    if (approximate != NB_GELU_ERF && approximate != NB_GELU_TANH) {
        nb__fail(NB_ERR_ARG, "gelu: approximate must be NB_GELU_ERF ('none') or NB_GELU_TANH ('tanh'), got %d",
                 (int)approximate);
        return NULL;
    }
    nb_tensor *out = nb__empty_like(x);
    if (!out) return NULL;
    const float *xv = nb__f(x);
    float *y = nb__f(out);
    int tf = approximate == NB_GELU_TANH, grad = nb__needs_grad(x->ctx, x, NULL, NULL);
    int64_t N = x->numel;
    /* with a gradient to come, Φ(x) or tanh(u) is kept for it (one erf or tanh per value in all) */
    float *kept = grad ? nb__scratch(x->ctx, sizeof(float) * (size_t)(N + 1)) : NULL;
    if (grad && !kept) return NULL;
    if (kept) nb__parallel_if(N * 8, N, nb__chunk_for(N), gelu_i2_chunk, &(gelu_i2_ctx){y, xv, tf, kept});
    else nb__parallel_if(N * 8, N, nb__chunk_for(N), gelu_i_chunk, &(gelu_i_ctx){y, xv, tf});
    if (grad) {
        nb_node *n = nb__record(out, gelu_backward, x, NULL, NULL);
        gelu_saved *st = n ? nb__node_save(n, sizeof *st) : NULL;
        if (!st) return NULL;
        *st = (gelu_saved){tf, kept};
    }
    return out;
}
