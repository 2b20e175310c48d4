/* reduce.c - sum and mean over all elements or along one dim (double accumulation).
 * Layout: x viewed as (outer, D, inner) with D the reduced dim. */
#include "core/error.h"
#include "core/tensor.h"
#include "core/tape.h"

/* What sum_all_backward needs. */
typedef struct {
    float scale; /* mean: 1/numel, else 1 */
} sum_all_saved;

static void sum_all_backward(nb_node *n)
{
    const sum_all_saved *st = n->saved;
    float g = n->out->grad[0] * st->scale;
    float *ga = n->in[0]->grad;
    for (int64_t i = 0; i < n->in[0]->numel; i++) ga[i] += g;
}

static nb_tensor *reduce_all(nb_tensor *x, int mean)
{
    if (!x) return NULL;
    if (x->dtype != NB_F32) {
        nb__fail(NB_ERR_ARG, "%s: needs an F32 tensor", mean ? "mean" : "sum");
        return NULL;
    }
    nb_tensor *out = nb__empty(x->ctx, NB_F32, 0, NULL);
    if (!out) return NULL;
    const float *v = nb__f(x);
    double s = 0;
    for (int64_t i = 0; i < x->numel; i++) s += v[i];
    float scale = mean ? 1.0f / (float)x->numel : 1.0f;
    nb__f(out)[0] = (float)(mean ? s / (double)x->numel : s);
    if (nb__needs_grad(x->ctx, x, NULL, NULL)) {
        sum_all_saved *st = nb__record_with(out, sum_all_backward, x, NULL, NULL, sizeof *st);
        if (!st) return NULL;
        st->scale = scale;
    }
    return out;
}

nb_tensor *nb_sum(nb_tensor *x) { return reduce_all(x, 0); }
nb_tensor *nb_mean(nb_tensor *x) { return reduce_all(x, 1); }

/* What sum_dim_backward needs. */
typedef struct {
    int d; /* the reduced dim */
    float scale; /* mean: 1/D, else 1 */
} sum_dim_saved;

static void sum_dim_backward(nb_node *n)
{
    const sum_dim_saved *st = n->saved;
    nb_tensor *a = n->in[0];
    int d = st->d;
    float scale = st->scale;
    int64_t outer = 1, inner = 1, D = a->shape[d];
    for (int i = 0; i < d; i++) outer *= a->shape[i];
    for (int i = d + 1; i < a->ndim; i++) inner *= a->shape[i];
    const float *g = n->out->grad;
    float *ga = a->grad;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < D; j++)
            for (int64_t in = 0; in < inner; in++)
                ga[(o * D + j) * inner + in] += g[o * inner + in] * scale;
}

static nb_tensor *reduce_dim(nb_tensor *x, int dim, int keepdim, int mean)
{
    if (!x) return NULL;
    if (x->dtype != NB_F32) {
        nb__fail(NB_ERR_ARG, "%s: needs an F32 tensor", mean ? "mean" : "sum");
        return NULL;
    }
    int d = nb__dim(x, dim, mean ? "mean" : "sum");
    if (d < 0) return NULL;
    int64_t shape[NB_MAX_DIMS];
    int nd = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (i == d) {
            if (keepdim) shape[nd++] = 1;
        } else {
            shape[nd++] = x->shape[i];
        }
    }
    nb_tensor *out = nb__empty(x->ctx, NB_F32, nd, shape);
    if (!out) return NULL;
    int64_t outer = 1, inner = 1, D = x->shape[d];
    for (int i = 0; i < d; i++) outer *= x->shape[i];
    for (int i = d + 1; i < x->ndim; i++) inner *= x->shape[i];
    const float *v = nb__f(x);
    float *y = nb__f(out);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t in = 0; in < inner; in++) {
            double s = 0;
            for (int64_t j = 0; j < D; j++) s += v[(o * D + j) * inner + in];
            y[o * inner + in] = (float)(mean ? s / (double)D : s);
        }
    if (nb__needs_grad(x->ctx, x, NULL, NULL)) {
        sum_dim_saved *st = nb__record_with(out, sum_dim_backward, x, NULL, NULL, sizeof *st);
        if (!st) return NULL;
        st->d = d;
        st->scale = mean ? 1.0f / (float)D : 1.0f;
    }
    return out;
}

nb_tensor *nb_sum_dim(nb_tensor *x, int dim, int keepdim) { return reduce_dim(x, dim, keepdim, 0); }
nb_tensor *nb_mean_dim(nb_tensor *x, int dim, int keepdim) { return reduce_dim(x, dim, keepdim, 1); }
