/* matmul.c - matrix products through nb__sgemm (src/kernels/gemm.c).
 * matmul: a (M,K) x b (K,N) -> (M,N), or batched (B,M,K) x (B,K,N).
 * linear: x (rows, in) with W (out, in) and b (out): y = x·Wᵀ + b, rows = prod of x's leading dims. */
#include "core/error.h"
#include "core/tensor.h"
#include "core/tape.h"
#include "kernels/gemm.h"
#include "ops/conv1d_hf.h"

#include <string.h>

/* What matmul_backward needs: (B, M, K) @ (B, K, N). */
typedef struct {
    int64_t B;
    int64_t M;
    int64_t K;
    int64_t N;
} matmul_saved;

static void matmul_backward(nb_node *n)
{
    const matmul_saved *st = n->saved;
    nb_tensor *a = n->in[0], *b = n->in[1];
    int64_t B = st->B, M = st->M, K = st->K, N = st->N;
    const float *g = n->out->grad, *A = nb__f(a), *Bm = nb__f(b);
    if (M == 0 || K == 0 || N == 0) return; /* no products: the gradients stay 0 */
    for (int64_t t = 0; t < B; t++) {
        if (a->requires_grad) /* dA += dC · Bᵀ */
            nb__sgemm(0, 1, M, K, N, 1.0f, g + t * M * N, N, Bm + t * K * N, N, 1.0f, a->grad + t * M * K, K);
        if (b->requires_grad) /* dB += Aᵀ · dC */
            nb__sgemm(1, 0, K, N, M, 1.0f, A + t * M * K, K, g + t * M * N, N, 1.0f, b->grad + t * K * N, N);
    }
}

nb_tensor *nb_matmul(nb_tensor *a, nb_tensor *b)
{
    if (!a || !b) return NULL;
    if (a->dtype != NB_F32 || b->dtype != NB_F32) {
        nb__fail(NB_ERR_ARG, "matmul: needs F32 tensors (got %s %s and %s %s)", a->dtype == NB_F32 ? "F32" : "I64",
                 nb__tshape(a), b->dtype == NB_F32 ? "F32" : "I64", nb__tshape(b));
        return NULL;
    }
    int batched = a->ndim == 3 && b->ndim == 3;
    if (!((a->ndim == 2 && b->ndim == 2) || batched) || a->shape[a->ndim - 1] != b->shape[b->ndim - 2] ||
        (batched && a->shape[0] != b->shape[0])) {
        nb__fail(NB_ERR_SHAPE, "matmul: cannot multiply %s by %s (needs (M,K)x(K,N) or (B,M,K)x(B,K,N))", nb__tshape(a),
                 nb__tshape(b));
        return NULL;
    }
    int64_t B = batched ? a->shape[0] : 1, M = a->shape[a->ndim - 2], K = a->shape[a->ndim - 1],
            N = b->shape[b->ndim - 1];
    int64_t shape[3] = {B, M, N};
    nb_tensor *out = batched ? nb__empty(a->ctx, NB_F32, 3, shape) : nb__empty(a->ctx, NB_F32, 2, shape + 1);
    if (!out) return NULL;
    if (K == 0) /* empty sums */
        memset(nb__f(out), 0, (size_t)out->numel * sizeof(float));
    for (int64_t t = 0; t < B && K > 0 && M > 0 && N > 0; t++)
        nb__sgemm(0, 0, M, N, K, 1.0f, nb__f(a) + t * M * K, K, nb__f(b) + t * K * N, N, 0.0f, nb__f(out) + t * M * N,
                  N);
    if (nb__needs_grad(a->ctx, a, b, NULL)) {
        matmul_saved *st = nb__record_with(out, matmul_backward, a, b, NULL, sizeof *st);
        if (!st) return NULL;
        st->B = B, st->M = M, st->K = K, st->N = N;
    }
    return out;
}

/* What linear_backward needs. */
typedef struct {
    int64_t R; /* rows */
    int64_t NI; /* in features */
    int64_t NO; /* out features */
} linear_saved;

static void linear_backward(nb_node *n)
{
    const linear_saved *st = n->saved;
    nb_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    int64_t R = st->R, NI = st->NI, NO = st->NO;
    const float *g = n->out->grad;
    if (R == 0 || NO == 0) return; /* nothing reached the inputs */
    if (x->requires_grad && NI > 0) /* dx (R,NI) += g (R,NO) · W (NO,NI) */
        nb__sgemm(0, 0, R, NI, NO, 1.0f, g, NO, nb__f(w), NI, 1.0f, x->grad, NI);
    if (w->requires_grad && NI > 0) /* dW (NO,NI) += gᵀ (NO,R) · x (R,NI) */
        nb__sgemm(1, 0, NO, NI, R, 1.0f, g, NO, nb__f(x), NI, 1.0f, w->grad, NI);
    if (b && b->requires_grad) nb__add_col_sums(g, R, NO, b->grad);
}

nb_tensor *nb__affine_out(nb_tensor *x, int64_t O)
{
    int64_t shape[NB_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[x->ndim - 1] = O;
    return nb__empty(x->ctx, NB_F32, x->ndim, shape);
}

nb_tensor *nb_linear(nb_tensor *x, nb_tensor *w, nb_tensor *b)
{
    if (!x || !w) return NULL;
    if (x->dtype != NB_F32 || w->dtype != NB_F32 || (b && b->dtype != NB_F32)) {
        nb__fail(NB_ERR_ARG, "Linear: input, weight and bias must be F32 tensors");
        return NULL;
    }
    if (w->ndim != 2) {
        nb__fail(NB_ERR_SHAPE, "Linear: weight of shape %s must be (out_features, in_features)", nb__tshape(w));
        return NULL;
    }
    if (x->ndim < 1 || x->shape[x->ndim - 1] != w->shape[1]) {
        nb__fail(NB_ERR_SHAPE, "Linear(in_features=%lld, out_features=%lld): input of shape %s has %lld features, expected %lld",
                 (long long)w->shape[1], (long long)w->shape[0], nb__tshape(x), (long long)(x->ndim ? x->shape[x->ndim - 1] : 0),
                 (long long)w->shape[1]);
        return NULL;
    }
    int64_t NI = w->shape[1], NO = w->shape[0], R = 1;
    for (int d = 0; d < x->ndim - 1; d++) R *= x->shape[d];
    if (b && b->numel != NO) {
        nb__fail(NB_ERR_SHAPE, "Linear: bias has %lld elements for %lld outputs (weight %s)", (long long)b->numel,
                 (long long)NO, nb__tshape(w));
        return NULL;
    }
    nb_tensor *out = nb__affine_out(x, NO);
    if (!out) return NULL;
    float *y = nb__f(out);
    if (NI == 0 || R == 0 || NO == 0) { /* empty sums: y = b, or 0 without a bias */
        if (b) nb__gemm_fill_bias(nb__f(b), y, NO, 0, R, 0, NO);
        else memset(y, 0, (size_t)out->numel * sizeof(float));
    } else if (b) /* the bias rows filled by the threads, block by block, then y += x·wᵀ */
        nb__sgemm_bias(0, 1, R, NO, NI, nb__f(x), NI, nb__f(w), NI, nb__f(b), y, NO);
    else /* one row (batch-1 inference) takes nb__sgemm's matrix-vector path */
        nb__sgemm(0, 1, R, NO, NI, 1.0f, nb__f(x), NI, nb__f(w), NI, 0.0f, y, NO);
    if (nb__needs_grad(x->ctx, x, w, b)) {
        linear_saved *st = nb__record_with(out, linear_backward, x, w, b, sizeof *st);
        if (!st) return NULL;
        st->R = R, st->NI = NI, st->NO = NO;
    }
    return out;
}
