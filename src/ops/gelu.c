/* gelu.c - GELU, PyTorch's F.gelu(x, approximate='none' | 'tanh'): forward and backward.
 *   erf:  y = x·Φ(x) = ½x(1 + erf(x/√2)),          y' = Φ(x) + x·φ(x), φ(x) = e^(-x²/2)/√(2π)
 *   tanh: y = ½x(1 + tanh(u)), u = √(2/π)(x + 0.044715x³),
 *         y' = ½(1 + t) + ½x(1 - t²)·√(2/π)(1 + 3·0.044715x²), t = tanh(u)
 * BERT's "gelu" is the erf form; GPT-2's "gelu_new" the tanh form. With a gradient to
 * come, the forward keeps Φ(x) or t for the backward. tanh, erf (Abramowitz and Stegun
 * 7.1.26, as PyTorch's vectorised kernel) and exp run vectorised on blocks of GB values
 * (kernels/vmath.c).
 * Layout: contiguous, elementwise. */
#include "core/error.h"
#include "core/tensor.h"
#include "core/tape.h"
#include "core/ctx.h"
#include "core/random.h"
#include "core/threads.h"
#include "kernels/vmath.h"

#include <math.h>
#include <string.h>

#define SQRT1_2 0.70710678118654752440f
#define SQRT_2_PI 0.79788456080286535588f     /* √(2/π) */
#define INV_SQRT_2PI 0.39894228040143267794f  /* 1/√(2π) */
#define GELU_C 0.044715f

/* Elements per block: the tanh/erf/exp of a block run as one vector call (kernels/vmath.c). */
#define GB 256

/* x[0..n) (n <= GB): y and, when keep is not NULL, the value the gradient reuses: Φ(x)
 * (erf form) or t = tanh(u) (tanh form). */
static void gelu_fwd_block(const float *x, float *y, float *keep, int64_t n, int tanh_form)
{
    float t[GB]; /* y holds the argument of tanh or erf first */
    if (tanh_form) {
        for (int64_t i = 0; i < n; i++) y[i] = SQRT_2_PI * (x[i] + GELU_C * x[i] * x[i] * x[i]);
        nb__vtanh(y, t, n);
        for (int64_t i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1.0f + t[i]);
    } else {
        for (int64_t i = 0; i < n; i++) y[i] = x[i] * SQRT1_2;
        nb__verf(y, t, n);
        for (int64_t i = 0; i < n; i++) {
            t[i] = 0.5f * (1.0f + t[i]);
            y[i] = x[i] * t[i];
        }
    }
    if (keep) memcpy(keep, t, sizeof(float) * (size_t)n);
}

/* ga[0..n) += g·y'(x), from the kept Φ(x) or t */
static void gelu_bwd_block(const float *x, const float *kept, const float *g, float *ga, int64_t n, int tanh_form)
{
    if (tanh_form) {
        for (int64_t i = 0; i < n; i++) {
            float t = kept[i];
            ga[i] += g[i] * (0.5f * (1.0f + t) +
                             0.5f * x[i] * (1.0f - t * t) * SQRT_2_PI * (1.0f + 3.0f * GELU_C * x[i] * x[i]));
        }
        return;
    }
    float e[GB];
    for (int64_t i = 0; i < n; i++) e[i] = -0.5f * x[i] * x[i];
    nb__vexp_inplace(e, n);
    for (int64_t i = 0; i < n; i++) ga[i] += g[i] * (kept[i] + x[i] * INV_SQRT_2PI * e[i]);
}

typedef struct {
    int tanh_form;     /* NB_GELU_TANH */
    const float *kept; /* per value Φ(x) (erf form) or tanh(u) (tanh form) */
} gelu_saved;

/* a chunk of GB-value blocks [b, e) of gelu's forward or backward (nb__parallel_if) */
typedef struct {
    const float *x, *g, *kept;
    float *y, *ga, *keep;
    int64_t N;
    int tf;
} gelu_blocks_ctx;
static void gelu_fwd_blocks(void *ctx_, int64_t b, int64_t e, int slot)
{
    const gelu_blocks_ctx *c = ctx_;
    for (int64_t k = b; k < e; k++) {
        int64_t o = k * GB, m = c->N - o < GB ? c->N - o : GB;
        gelu_fwd_block(c->x + o, c->y + o, c->keep ? c->keep + o : NULL, m, c->tf);
    }
}
static void gelu_bwd_blocks(void *ctx_, int64_t b, int64_t e, int slot)
{
    const gelu_blocks_ctx *c = ctx_;
    for (int64_t k = b; k < e; k++) {
        int64_t o = k * GB, m = c->N - o < GB ? c->N - o : GB;
        gelu_bwd_block(c->x + o, c->kept + o, c->g + o, c->ga + o, m, c->tf);
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
    int64_t nb = (N + GB - 1) / GB;
    nb__parallel_if(N * 8, nb, nb__chunk_for(nb), gelu_bwd_blocks,
                    &(gelu_blocks_ctx){.x = x, .g = g, .kept = kept, .ga = ga, .N = N, .tf = tf});
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
    int64_t nb = (N + GB - 1) / GB;
    nb__parallel_if(N * 8, nb, nb__chunk_for(nb), gelu_fwd_blocks,
                    &(gelu_blocks_ctx){.x = xv, .y = y, .keep = kept, .N = N, .tf = tf});
    if (grad) {
        nb_node *n = nb__record(out, gelu_backward, x, NULL, NULL);
        gelu_saved *st = n ? nb__node_save(n, sizeof *st) : NULL;
        if (!st) return NULL;
        *st = (gelu_saved){tf, kept};
    }
    return out;
}
