/* conv1d_hf.c - Hugging Face's Conv1D (GPT-2's projections) as an op: y = x·W + b with
 * W stored (in, out), the transpose of Linear's.
 *   x: (..., in) rows of `in` floats; w: (in, out) row-major; b: (out) or NULL; y: (..., out).
 * Backward: dx += dy·Wᵀ, dW += xᵀ·dy, db += Σ_rows dy. */
#include "core/error.h"
#include "core/tape.h"
#include "core/tensor.h"
#include "kernels/gemm.h"
#include "ops/conv1d_hf.h"

#include <string.h>


typedef struct {
    int64_t R, I, O; /* rows of x, in features, out features */
} conv1d_saved;

static void conv1d_backward(nb_node *n)
{
    nb_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    const conv1d_saved *st = n->saved;
    int64_t R = st->R, I = st->I, O = st->O;
    const float *g = n->out->grad;
    if (x->requires_grad) nb__sgemm(0, 1, R, I, O, 1.0f, g, O, nb__f(w), O, 1.0f, x->grad, I);
    if (w->requires_grad) nb__sgemm(1, 0, I, O, R, 1.0f, nb__f(x), I, g, O, 1.0f, w->grad, O);
    if (b && b->requires_grad) nb__add_col_sums(g, R, O, b->grad);
}

nb_tensor *nb__conv1d_hf(nb_tensor *x, nb_tensor *w, nb_tensor *b)
{
    if (!x || !w) return NULL;
    if (x->dtype != NB_F32 || w->dtype != NB_F32 || w->ndim != 2 || x->ndim < 1 ||
        x->shape[x->ndim - 1] != w->shape[0] || (b && (b->dtype != NB_F32 || b->numel != w->shape[1]))) {
        nb__fail(NB_ERR_SHAPE, "Conv1D(nf=%lld, nx=%lld): input %s, weight %s (in, out), bias %s do not fit",
                 (long long)(w->ndim == 2 ? w->shape[1] : 0), (long long)(w->ndim == 2 ? w->shape[0] : 0),
                 nb__tshape(x), nb__tshape(w), b ? nb__tshape(b) : "none");
        return NULL;
    }
    int64_t I = w->shape[0], O = w->shape[1], R = x->numel / (I ? I : 1);
    nb_tensor *out = nb__affine_out(x, O);
    if (!out) return NULL;
    float *y = nb__f(out);
    if (b && R && O) /* the bias rows filled by the threads, block by block, then y += x·w */
        nb__sgemm_bias(0, 0, R, O, I, nb__f(x), I, nb__f(w), O, nb__f(b), y, O);
    else {
        memset(y, 0, sizeof(float) * (size_t)(R * O));
        if (R && I && O) nb__sgemm(0, 0, R, O, I, 1.0f, nb__f(x), I, nb__f(w), O, 1.0f, y, O);
    }
    if (nb__needs_grad(x->ctx, x, w, b)) {
        nb_node *n = nb__record(out, conv1d_backward, x, w, b);
        conv1d_saved *st = n ? nb__node_save(n, sizeof *st) : NULL;
        if (!st) return NULL;
        *st = (conv1d_saved){R, I, O};
    }
    return out;
}
