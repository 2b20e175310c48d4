/* shape.c - reshape, flatten (views that share data), transpose and narrow (copies), detach. */
#include "core/error.h"
#include "core/tensor.h"
#include "core/tape.h"

#include <string.h>

static void view_backward(nb_node *n)
{
    const float *g = n->out->grad;
    float *ga = n->in[0]->grad;
    for (int64_t i = 0; i < n->out->numel; i++) ga[i] += g[i];
}

/* A tensor struct sharing x's data with another shape. */
static nb_tensor *view(nb_tensor *x, int ndim, const int64_t *shape)
{
    nb_tensor *out = nb__scratch(x->ctx, sizeof *out);
    if (!out) return NULL;
    memset(out, 0, sizeof *out);
    out->ctx = x->ctx;
    out->dtype = x->dtype;
    out->ndim = ndim;
    memcpy(out->shape, shape, sizeof(int64_t) * (size_t)ndim);
    out->numel = x->numel;
    out->data = x->data;
    out->base = x->base ? x->base : x; /* writes through the view count for the data's owner */
    out->in_arena = 1;
    if (nb__needs_grad(x->ctx, x, NULL, NULL) && !nb__record(out, view_backward, x, NULL, NULL)) return NULL;
    return out;
}

nb_tensor *nb_reshape(nb_tensor *x, int ndim, const int64_t *shape)
{
    if (!x) return NULL;
    if (ndim < 0 || ndim > NB_MAX_DIMS) {
        nb__fail(NB_ERR_SHAPE, "reshape: %d dimensions", ndim);
        return NULL;
    }
    int64_t s[NB_MAX_DIMS], known = 1;
    int infer = -1;
    for (int i = 0; i < ndim; i++) {
        s[i] = shape[i];
        if (s[i] == -1) {
            if (infer >= 0) {
                nb__fail(NB_ERR_SHAPE, "reshape: only one dimension can be -1");
                return NULL;
            }
            infer = i;
        } else {
            known *= s[i];
        }
    }
    if (infer >= 0 && known > 0 && x->numel % known == 0) s[infer] = x->numel / known;
    if (nb__numel(ndim, s) != x->numel || (infer >= 0 && known == 0)) {
        char a[128], b[128];
        nb__shape_str(x->ndim, x->shape, a, sizeof a);
        nb__shape_str(ndim, shape, b, sizeof b);
        nb__fail(NB_ERR_SHAPE, "reshape: shape %s is invalid for input of shape %s (%lld elements)", b, a,
                 (long long)x->numel);
        return NULL;
    }
    return view(x, ndim, s);
}

nb_tensor *nb_flatten(nb_tensor *x, int start_dim, int end_dim)
{
    if (!x) return NULL;
    if (x->ndim == 0) return view(x, 1, (int64_t[]){1});
    int s = nb__dim(x, start_dim, "flatten"), e = nb__dim(x, end_dim, "flatten");
    if (s < 0 || e < 0) return NULL;
    if (s > e) {
        nb__fail(NB_ERR_ARG, "flatten: start_dim %d comes after end_dim %d", start_dim, end_dim);
        return NULL;
    }
    int64_t shape[NB_MAX_DIMS];
    int nd = 0;
    for (int i = 0; i < s; i++) shape[nd++] = x->shape[i];
    int64_t m = 1;
    for (int i = s; i <= e; i++) m *= x->shape[i];
    shape[nd++] = m;
    for (int i = e + 1; i < x->ndim; i++) shape[nd++] = x->shape[i];
    return view(x, nd, shape);
}

nb_tensor *nb_detach(nb_tensor *x)
{
    if (!x) return NULL;
    int old = nb_set_grad_enabled(x->ctx, 0);
    nb_tensor *out = view(x, x->ndim, x->shape);
    nb_set_grad_enabled(x->ctx, old);
    return out;
}

/* transpose: out index (.., i_d0, .., i_d1, ..) = x index with d0 and d1 swapped */
static void transpose_copy(const float *src, float *dst, const nb_tensor *x, int d0, int d1, int reverse)
{
    int nd = x->ndim;
    int64_t xs[NB_MAX_DIMS], os[NB_MAX_DIMS], oshape[NB_MAX_DIMS];
    for (int i = 0; i < nd; i++) oshape[i] = x->shape[i];
    oshape[d0] = x->shape[d1];
    oshape[d1] = x->shape[d0];
    int64_t st = 1;
    for (int i = nd - 1; i >= 0; i--) {
        xs[i] = st;
        st *= x->shape[i];
    }
    st = 1;
    for (int i = nd - 1; i >= 0; i--) {
        os[i] = st;
        st *= oshape[i];
    }
    /* stride in x for each out dim */
    int64_t sx[NB_MAX_DIMS];
    for (int i = 0; i < nd; i++) sx[i] = xs[i];
    sx[d0] = xs[d1];
    sx[d1] = xs[d0];
    int64_t idx[NB_MAX_DIMS] = {0};
    for (int64_t o = 0; o < x->numel; o++) {
        int64_t off = 0;
        for (int i = 0; i < nd; i++) off += idx[i] * sx[i];
        if (reverse)
            dst[off] += src[o];
        else
            dst[o] = src[off];
        for (int i = nd - 1; i >= 0; i--) {
            if (++idx[i] < oshape[i]) break;
            idx[i] = 0;
        }
    }
    (void)os;
}

/* What transpose_backward needs. */
typedef struct {
    int d0;
    int d1;
} transpose_saved;

static void transpose_backward(nb_node *n)
{
    const transpose_saved *st = n->saved;
    transpose_copy(n->out->grad, n->in[0]->grad, n->in[0], st->d0, st->d1, 1);
}

nb_tensor *nb_transpose(nb_tensor *x, int dim0, int dim1)
{
    if (!x) return NULL;
    int d0 = nb__dim(x, dim0, "transpose"), d1 = nb__dim(x, dim1, "transpose");
    if (d0 < 0 || d1 < 0) return NULL;
    int64_t shape[NB_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[d0] = x->shape[d1];
    shape[d1] = x->shape[d0];
    nb_tensor *out = nb__empty(x->ctx, x->dtype, x->ndim, shape);
    if (!out) return NULL;
    if (x->dtype != NB_F32) {
        nb__fail(NB_ERR_ARG, "transpose: needs an F32 tensor");
        return NULL;
    }
    transpose_copy(nb__f(x), nb__f(out), x, d0, d1, 0);
    if (nb__needs_grad(x->ctx, x, NULL, NULL)) {
        transpose_saved *st = nb__record_with(out, transpose_backward, x, NULL, NULL, sizeof *st);
        if (!st) return NULL;
        st->d0 = d0;
        st->d1 = d1;
    }
    return out;
}

/* What narrow_backward needs. */
typedef struct {
    int d;
    int64_t start;
    int64_t len;
} narrow_saved;

static void narrow_backward(nb_node *n)
{
    const narrow_saved *st = n->saved;
    nb_tensor *x = n->in[0];
    int d = st->d;
    int64_t start = st->start, len = st->len, outer = 1, inner = 1;
    for (int i = 0; i < d; i++) outer *= x->shape[i];
    for (int i = d + 1; i < x->ndim; i++) inner *= x->shape[i];
    const float *g = n->out->grad;
    float *gx = x->grad;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < len * inner; k++)
            gx[(o * x->shape[d] + start) * inner + k] += g[o * len * inner + k];
}

nb_tensor *nb_narrow(nb_tensor *x, int dim, int64_t start, int64_t length)
{
    if (!x) return NULL;
    int d = nb__dim(x, dim, "narrow");
    if (d < 0) return NULL;
    if (start < 0) start += x->shape[d];
    if (start < 0 || length < 0 || start + length > x->shape[d]) {
        nb__fail(NB_ERR_ARG, "narrow: start %lld length %lld exceeds dimension %d of size %lld",
                 (long long)start, (long long)length, d, (long long)x->shape[d]);
        return NULL;
    }
    int64_t shape[NB_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[d] = length;
    nb_tensor *out = nb__empty(x->ctx, x->dtype, x->ndim, shape);
    if (!out) return NULL;
    size_t es = x->dtype == NB_I64 ? 8 : 4;
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < d; i++) outer *= x->shape[i];
    for (int i = d + 1; i < x->ndim; i++) inner *= x->shape[i];
    for (int64_t o = 0; o < outer; o++)
        memcpy((char *)out->data + (size_t)(o * length * inner) * es,
               (char *)x->data + (size_t)((o * x->shape[d] + start) * inner) * es, (size_t)(length * inner) * es);
    if (nb__needs_grad(x->ctx, x, NULL, NULL)) {
        narrow_saved *st = nb__record_with(out, narrow_backward, x, NULL, NULL, sizeof *st);
        if (!st) return NULL;
        st->d = d;
        st->start = start;
        st->len = length;
    }
    return out;
}
