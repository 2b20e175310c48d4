/* ops_shape.c - ONNX ops that move data without arithmetic: Reshape, Flatten,
 * Transpose, Squeeze, Unsqueeze, Concat, Split, Slice, Gather, Expand, Tile, Pad,
 * Shape, Size, Constant, ConstantOfShape, Cast, CastLike, Identity, Range,
 * DepthToSpace, SpaceToDepth.
 *
 * Most are one index map: out[i] = x[map[i]] (ox_gather_map), whose backward adds
 * the output's gradient back at map[i], so every op built on it is differentiable
 * for free. Layout: contiguous row-major, any rank up to NB_MAX_DIMS. */
#include "onnx/onnx_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void ox_strides(int nd, const int64_t *shape, int64_t *st)
{
    int64_t s = 1;
    for (int d = nd - 1; d >= 0; d--) {
        st[d] = s;
        s *= shape[d];
    }
}

nb_status ox_elem_offset(ox_model *m, const ox_node *n, const nb_tensor *x, const nb_tensor *idx, int axis,
                         const int64_t *xs, const int64_t *is, int64_t i, int64_t *off)
{
    int64_t rem = i, L = x->shape[axis];
    *off = 0;
    for (int d = 0; d < idx->ndim; d++) {
        int64_t c = rem / is[d];
        rem %= is[d];
        if (d == axis) {
            c = ox_get_i(idx, i);
            if (c < -L || c >= L) return ox_fail(m, n, NB_ERR_ARG, "index %lld out of range", (long long)c);
            if (c < 0) c += L;
        } else if (c >= x->shape[d]) return ox_fail(m, n, NB_ERR_SHAPE, "indices larger than data");
        *off += c * xs[d];
    }
    return NB_OK;
}

/* map[i] = Σ_d tab[d][i_d]·coef[d] over the out index (i_0..), tab[d] NULL meaning
 * i_d itself; -1 when any tab entry is negative. */
static void build_map(int nd, const int64_t *shape, int64_t *const *tab, const int64_t *coef, int64_t *map)
{
    int64_t total = nb__numel(nd, shape);
    if (!total) return;
    int64_t idx[NB_MAX_DIMS] = {0};
    for (int64_t i = 0; i < total; i++) {
        int64_t off = 0;
        int bad = 0;
        for (int d = 0; d < nd; d++) {
            int64_t v = tab && tab[d] ? tab[d][idx[d]] : idx[d];
            if (v < 0) bad = 1;
            off += v * coef[d];
        }
        map[i] = bad ? -1 : off;
        for (int d = nd - 1; d >= 0; d--) {
            if (++idx[d] < shape[d]) break;
            idx[d] = 0;
        }
    }
}

static void gather_map_backward(nb_node *n)
{
    const int64_t *map = n->saved;
    const float *g = n->out->grad;
    float *gx = n->in[0]->grad;
    for (int64_t i = 0; i < n->out->numel; i++)
        if (map[i] >= 0) gx[map[i]] += g[i];
}

nb_tensor *ox_gather_map(nb_tensor *x, int ndim, const int64_t *shape, int64_t *map, float fill)
{
    if (!x || !map || ox_too_big(ndim, shape)) return NULL;
    nb_tensor *o = nb__empty(x->ctx, x->dtype, ndim, shape);
    if (!o) return NULL;
    for (int64_t i = 0; i < o->numel; i++) /* a safety net: every op checks its indices before */
        if (map[i] >= x->numel) {
            nb__fail(NB_ERR_ARG, "index %lld outside an input of %lld elements", (long long)map[i], (long long)x->numel);
            return NULL;
        }
    if (x->dtype == NB_F32) {
        const float *s = nb__f(x);
        float *d = nb__f(o);
        for (int64_t i = 0; i < o->numel; i++) d[i] = map[i] >= 0 ? s[map[i]] : fill;
        if (nb__needs_grad(x->ctx, x, NULL, NULL)) {
            nb_node *n = nb__record(o, gather_map_backward, x, NULL, NULL);
            if (!n) return NULL;
            n->saved = map;
        }
    } else {
        const int64_t *s = nb__i(x);
        int64_t *d = nb__i(o);
        for (int64_t i = 0; i < o->numel; i++) d[i] = map[i] >= 0 ? s[map[i]] : (int64_t)fill;
    }
    return o;
}

static int64_t *new_map(nb_ctx *ctx, int nd, const int64_t *shape)
{
    if (ox_too_big(nd, shape)) return NULL;
    int64_t n = nb__numel(nd, shape);
    return nb__scratch(ctx, (size_t)(n ? n : 1) * sizeof(int64_t));
}

nb_tensor *ox_transpose(nb_tensor *x, const int64_t *perm)
{
    if (!x) return NULL;
    int64_t xs[NB_MAX_DIMS], shape[NB_MAX_DIMS], coef[NB_MAX_DIMS];
    ox_strides(x->ndim, x->shape, xs);
    for (int d = 0; d < x->ndim; d++) {
        shape[d] = x->shape[perm[d]];
        coef[d] = xs[perm[d]];
    }
    int64_t *map = new_map(x->ctx, x->ndim, shape);
    if (!map) return NULL;
    build_map(x->ndim, shape, NULL, coef, map);
    return ox_gather_map(x, x->ndim, shape, map, 0);
}

/* numpy broadcast of a and b's shapes into out; 0 or -1 when they do not fit */
static int bcast_shape(int na, const int64_t *a, int nb, const int64_t *b, int *no, int64_t *o)
{
    int n = na > nb ? na : nb;
    for (int i = 0; i < n; i++) {
        int64_t da = i < n - na ? 1 : a[i - (n - na)], db = i < n - nb ? 1 : b[i - (n - nb)];
        if (da != db && da != 1 && db != 1) return -1;
        o[i] = da == 1 ? db : da;
    }
    *no = n;
    return 0;
}

nb_tensor *ox_expand(nb_tensor *x, int ndim, const int64_t *shape)
{
    if (!x) return NULL;
    if (ndim < x->ndim) return NULL;
    int64_t xs[NB_MAX_DIMS], coef[NB_MAX_DIMS];
    ox_strides(x->ndim, x->shape, xs);
    int off = ndim - x->ndim;
    for (int d = 0; d < ndim; d++) {
        int sd = d - off;
        coef[d] = sd < 0 || x->shape[sd] == 1 ? 0 : xs[sd];
    }
    int64_t *map = new_map(x->ctx, ndim, shape);
    if (!map) return NULL;
    build_map(ndim, shape, NULL, coef, map);
    return ox_gather_map(x, ndim, shape, map, 0);
}

/* Pad with per-dim tables: mode 0 constant, 1 edge, 2 reflect. */
nb_tensor *ox_pad(nb_tensor *x, const int64_t *pads, int mode, float value)
{
    if (!x) return NULL;
    int nd = x->ndim;
    int64_t xs[NB_MAX_DIMS], shape[NB_MAX_DIMS];
    int64_t *tab[NB_MAX_DIMS];
    ox_strides(nd, x->shape, xs);
    for (int d = 0; d < nd; d++) {
        if (pads[d] > (1 << 24) || pads[d] < -(1 << 30) || pads[d + nd] > (1 << 24) || pads[d + nd] < -(1 << 30)) {
            nb__fail(NB_ERR_ARG, "Pad: pads %lld, %lld out of range", (long long)pads[d], (long long)pads[d + nd]);
            return NULL;
        }
        shape[d] = x->shape[d] + pads[d] + pads[d + nd];
        if (shape[d] < 0) {
            nb__fail(NB_ERR_SHAPE, "Pad: pads crop dimension %d (size %lld) below zero", d, (long long)x->shape[d]);
            return NULL;
        }
        if (mode == 2 && x->shape[d] < 2 && (pads[d] > 0 || pads[d + nd] > 0)) {
            nb__fail(NB_ERR_SHAPE, "Pad: reflect needs at least 2 elements along dimension %d", d);
            return NULL;
        }
        if (mode != 0 && x->shape[d] == 0 && shape[d] > 0) {
            nb__fail(NB_ERR_SHAPE, "Pad: cannot pad an empty dimension %d in edge/reflect mode", d);
            return NULL;
        }
        tab[d] = nb__scratch(x->ctx, (size_t)(shape[d] + 1) * sizeof(int64_t));
        if (!tab[d]) return NULL;
        int64_t L = x->shape[d];
        for (int64_t k = 0; k < shape[d]; k++) {
            int64_t s = k - pads[d];
            if (s < 0 || s >= L) {
                if (mode == 0) s = -1;
                else if (mode == 1) s = s < 0 ? 0 : L - 1;
                else {
                    int64_t period = 2 * (L - 1);
                    s = ((s % period) + period) % period;
                    if (s >= L) s = period - s;
                }
            }
            tab[d][k] = s;
        }
    }
    int64_t *map = new_map(x->ctx, nd, shape);
    if (!map) return NULL;
    build_map(nd, shape, tab, xs, map);
    return ox_gather_map(x, nd, shape, map, value);
}

/* ---- concat with backward ---- */

typedef struct {
    int64_t outer, inner_out;   /* rows before the axis; elements per row of the output */
    int64_t inner[NB_NODE_MAX_IN]; /* elements per row of each input */
} concat_saved;

static void concat_backward(nb_node *n)
{
    const concat_saved *st = n->saved;
    int64_t outer = st->outer, inner_out = st->inner_out;
    const float *g = n->out->grad;
    int64_t off = 0;
    for (int k = 0; k < n->n_in; k++) {
        nb_tensor *x = n->in[k];
        int64_t inner = st->inner[k];
        if (x->requires_grad) {
            float *gx = x->grad;
            for (int64_t o = 0; o < outer; o++)
                for (int64_t j = 0; j < inner; j++) gx[o * inner + j] += g[o * inner_out + off + j];
        }
        off += inner;
    }
}

static nb_tensor *concat_some(nb_tensor **xs, int n, int axis)
{
    nb_tensor *x0 = xs[0];
    int64_t shape[NB_MAX_DIMS];
    memcpy(shape, x0->shape, sizeof shape);
    shape[axis] = 0;
    for (int k = 0; k < n; k++) {
        if (xs[k]->ndim != x0->ndim || xs[k]->dtype != x0->dtype) {
            nb__fail(NB_ERR_SHAPE, "Concat: inputs %s and %s differ in rank or type", nb__tshape(x0), nb__tshape(xs[k]));
            return NULL;
        }
        for (int d = 0; d < x0->ndim; d++)
            if (d != axis && xs[k]->shape[d] != x0->shape[d]) {
                nb__fail(NB_ERR_SHAPE, "Concat on axis %d: shapes %s and %s differ in dimension %d", axis, nb__tshape(x0),
                         nb__tshape(xs[k]), d);
                return NULL;
            }
        shape[axis] += xs[k]->shape[axis];
    }
    nb_tensor *o = nb__empty(x0->ctx, x0->dtype, x0->ndim, shape);
    if (!o) return NULL;
    int64_t outer = 1, esz = x0->dtype == NB_F32 ? 4 : 8;
    for (int d = 0; d < axis; d++) outer *= shape[d];
    int64_t inner_out = outer ? o->numel / outer : 0, off = 0;
    for (int k = 0; k < n; k++) {
        int64_t inner = outer ? xs[k]->numel / outer : 0;
        for (int64_t q = 0; q < outer; q++)
            memcpy((char *)o->data + (q * inner_out + off) * esz, (char *)xs[k]->data + q * inner * esz, (size_t)(inner * esz));
        off += inner;
    }
    if (x0->dtype == NB_F32 && nb__needs_grad(x0->ctx, xs[0], n > 1 ? xs[1] : NULL, n > 2 ? xs[2] : NULL)) {
        nb_node *nd = nb__record(o, concat_backward, xs[0], n > 1 ? xs[1] : NULL, n > 2 ? xs[2] : NULL);
        if (!nd) return NULL;
        /* nb__record skips NULLs; keep positions by recording every input */
        nd->n_in = n;
        for (int k = 0; k < n; k++) nd->in[k] = xs[k];
        concat_saved *st = nb__node_save(nd, sizeof *st);
        if (!st) return NULL;
        st->outer = outer;
        st->inner_out = inner_out;
        for (int k = 0; k < n; k++) st->inner[k] = outer ? xs[k]->numel / outer : 0;
    }
    return o;
}

nb_tensor *ox_concat(nb_tensor **xs, int n, int axis)
{
    nb_tensor *acc = xs[0];
    for (int k = 1; k < n && acc; k += 2) {
        nb_tensor *grp[3] = {acc, xs[k], k + 1 < n ? xs[k + 1] : NULL};
        acc = concat_some(grp, grp[2] ? 3 : 2, axis);
    }
    if (n == 1 && acc) acc = concat_some(xs, 1, axis);
    return acc;
}

/* ---- helpers ---- */

static int norm_axis(int64_t a, int nd, int *out)
{
    if (a < -nd || a >= nd) return -1;
    *out = (int)(a < 0 ? a + nd : a);
    return 0;
}

#define AXIS(a, nd, res)                                                                                     \
    do {                                                                                                   \
        if (norm_axis((a), (nd), &(res)))                                                                  \
            return ox_fail(m, n, NB_ERR_SHAPE, "axis %lld out of range for rank %d", (long long)(a), (int)(nd)); \
    } while (0)

static nb_tensor *view_as(nb_tensor *x, int nd, const int64_t *shape)
{
    if (x->dtype == NB_F32) return nb_reshape(x, nd, shape);
    nb_tensor *o = nb__scratch(x->ctx, sizeof *o);
    if (!o) return NULL;
    *o = *x;
    o->ndim = nd;
    memcpy(o->shape, shape, sizeof(int64_t) * (size_t)nd);
    o->in_arena = 1;
    o->owns_data = 0;
    o->node = NULL;
    o->grad = NULL;
    return o;
}

/* ---- ops ---- */

OX_OP(identity)
{
    (void)m;
    (void)n;
    out[0] = in[0];
    return NB_OK;
}

OX_OP(reshape)
{
    int64_t want[NB_MAX_DIMS], shape[NB_MAX_DIMS];
    int nd;
    if (n->n_in >= 2) {
        nb_status st = ox_ints_of(m, n, in[1], want, NB_MAX_DIMS, &nd, "shape");
        if (st) return st;
    } else {
        const int64_t *s = ox_attr_ints(n, "shape", &nd);
        if (nd < 0 || nd > NB_MAX_DIMS) return ox_fail(m, n, NB_ERR_ARG, "needs a shape of at most %d dims", NB_MAX_DIMS);
        memcpy(want, s, (size_t)nd * sizeof *want);
    }
    int allowzero = (int)ox_attr_i(n, "allowzero", 0);
    nb_tensor *x = in[0].t;
    int infer = -1;
    int64_t known = 1;
    for (int d = 0; d < nd; d++) {
        shape[d] = want[d];
        if (want[d] == 0 && !allowzero) {
            if (d >= x->ndim) return ox_fail(m, n, NB_ERR_SHAPE, "shape[%d] = 0 copies a dimension %s lacks", d, nb__tshape(x));
            shape[d] = x->shape[d];
        }
        if (shape[d] == -1) {
            if (infer >= 0) return ox_fail(m, n, NB_ERR_SHAPE, "two -1 in the shape");
            infer = d;
        } else if (shape[d] < 0) return ox_fail(m, n, NB_ERR_SHAPE, "shape[%d] = %lld", d, (long long)shape[d]);
        else if (shape[d] && known > INT64_MAX / shape[d])
            return ox_fail(m, n, NB_ERR_SHAPE, "shape[%d] = %lld overflows", d, (long long)shape[d]);
        else known *= shape[d];
    }
    if (infer >= 0) {
        if (!known || x->numel % known)
            return ox_fail(m, n, NB_ERR_SHAPE, "cannot reshape %s with a -1 into %lld-element blocks", nb__tshape(x), (long long)known);
        shape[infer] = x->numel / known;
        known *= shape[infer];
    }
    if (known != x->numel) {
        char b[128];
        nb__shape_str(nd, shape, b, sizeof b);
        return ox_fail(m, n, NB_ERR_SHAPE, "cannot reshape %s into %s", nb__tshape(x), b);
    }
    out[0] = (ox_val){view_as(x, nd, shape), in[0].et};
    return out[0].t ? NB_OK : NB_ERR_MEM;
}

OX_OP(flatten)
{
    nb_tensor *x = in[0].t;
    int axis;
    int64_t a = ox_attr_i(n, "axis", 1);
    if (a < -x->ndim || a > x->ndim) return ox_fail(m, n, NB_ERR_SHAPE, "axis %lld out of range for %s", (long long)a, nb__tshape(x));
    axis = (int)(a < 0 ? a + x->ndim : a);
    int64_t s[2] = {1, 1};
    for (int d = 0; d < x->ndim; d++) s[d < axis ? 0 : 1] *= x->shape[d];
    out[0] = (ox_val){view_as(x, 2, s), in[0].et};
    return out[0].t ? NB_OK : NB_ERR_MEM;
}

OX_OP(transpose)
{
    nb_tensor *x = in[0].t;
    int np;
    const int64_t *p = ox_attr_ints(n, "perm", &np);
    int64_t perm[NB_MAX_DIMS];
    int seen[NB_MAX_DIMS] = {0};
    if (np < 0)
        for (int d = 0; d < x->ndim; d++) perm[d] = x->ndim - 1 - d;
    else {
        if (np != x->ndim) return ox_fail(m, n, NB_ERR_SHAPE, "perm has %d entries for input %s", np, nb__tshape(x));
        for (int d = 0; d < np; d++) {
            int a;
            AXIS(p[d], x->ndim, a);
            if (seen[a]++) return ox_fail(m, n, NB_ERR_ARG, "perm repeats axis %d", a);
            perm[d] = a;
        }
    }
    out[0] = (ox_val){ox_transpose(x, perm), in[0].et};
    return out[0].t ? NB_OK : NB_ERR_MEM;
}

/* axes from the attribute (before opset 13 for Squeeze/Unsqueeze/ReduceX...) or input 1 */
static nb_status get_axes(ox_model *m, const ox_node *n, ox_val *in, int slot, int64_t *axes, int *na)
{
    *na = -1;
    if (n->n_in > slot && in[slot].t) return ox_ints_of(m, n, in[slot], axes, NB_MAX_DIMS * 2, na, "axes");
    const int64_t *a = ox_attr_ints(n, "axes", na);
    if (*na > NB_MAX_DIMS * 2) return ox_fail(m, n, NB_ERR_ARG, "too many axes");
    if (*na > 0) memcpy(axes, a, (size_t)*na * sizeof *axes);
    return NB_OK;
}

OX_OP(squeeze)
{
    nb_tensor *x = in[0].t;
    int64_t axes[NB_MAX_DIMS * 2], shape[NB_MAX_DIMS];
    int na, drop[NB_MAX_DIMS] = {0};
    nb_status st = get_axes(m, n, in, 1, axes, &na);
    if (st) return st;
    if (na < 0)
        for (int d = 0; d < x->ndim; d++) drop[d] = x->shape[d] == 1;
    for (int i = 0; i < na; i++) {
        int a;
        AXIS(axes[i], x->ndim, a);
        if (x->shape[a] != 1) return ox_fail(m, n, NB_ERR_SHAPE, "cannot squeeze axis %d of %s", a, nb__tshape(x));
        drop[a] = 1;
    }
    int nd = 0;
    for (int d = 0; d < x->ndim; d++)
        if (!drop[d]) shape[nd++] = x->shape[d];
    out[0] = (ox_val){view_as(x, nd, shape), in[0].et};
    return out[0].t ? NB_OK : NB_ERR_MEM;
}

OX_OP(unsqueeze)
{
    nb_tensor *x = in[0].t;
    int64_t axes[NB_MAX_DIMS * 2], shape[NB_MAX_DIMS];
    int na, ins[NB_MAX_DIMS] = {0};
    nb_status st = get_axes(m, n, in, 1, axes, &na);
    if (st) return st;
    if (na < 0) return ox_fail(m, n, NB_ERR_ARG, "axes are missing");
    int nd = x->ndim + na;
    if (nd > NB_MAX_DIMS) return ox_fail(m, n, NB_ERR_SHAPE, "the result would have %d dims", nd);
    for (int i = 0; i < na; i++) {
        int a;
        AXIS(axes[i], nd, a);
        if (ins[a]++) return ox_fail(m, n, NB_ERR_ARG, "axis %d given twice", a);
    }
    for (int d = 0, k = 0; d < nd; d++) shape[d] = ins[d] ? 1 : x->shape[k++];
    out[0] = (ox_val){view_as(x, nd, shape), in[0].et};
    return out[0].t ? NB_OK : NB_ERR_MEM;
}

OX_OP(concat)
{
    nb_tensor *xs[64];
    int k = 0;
    for (int i = 0; i < n->n_in; i++)
        if (in[i].t) xs[k++] = in[i].t;
    if (!k) return ox_fail(m, n, NB_ERR_ARG, "no inputs");
    int axis;
    AXIS(ox_attr_i(n, "axis", m->opset < 4 ? 1 : 0), xs[0]->ndim, axis);
    out[0] = (ox_val){ox_concat(xs, k, axis), in[0].et};
    return out[0].t ? NB_OK : NB_ERR_SHAPE;
}

/* a slice along one axis: [start, start+len) */
static nb_tensor *narrow_any(nb_tensor *x, int axis, int64_t start, int64_t len, int64_t step)
{
    int64_t xs[NB_MAX_DIMS], shape[NB_MAX_DIMS];
    int64_t *tab[NB_MAX_DIMS] = {0};
    ox_strides(x->ndim, x->shape, xs);
    memcpy(shape, x->shape, sizeof shape);
    shape[axis] = len;
    tab[axis] = nb__scratch(x->ctx, (size_t)(len + 1) * sizeof(int64_t));
    if (!tab[axis]) return NULL;
    for (int64_t k = 0; k < len; k++) tab[axis][k] = start + k * step;
    int64_t *map = new_map(x->ctx, x->ndim, shape);
    if (!map) return NULL;
    build_map(x->ndim, shape, tab, xs, map);
    return ox_gather_map(x, x->ndim, shape, map, 0);
}

OX_OP(split)
{
    nb_tensor *x = in[0].t;
    int axis;
    AXIS(ox_attr_i(n, "axis", 0), x->ndim, axis);
    int64_t sizes[16];
    int ns = -1;
    if (n->n_in >= 2 && in[1].t) {
        nb_status st = ox_ints_of(m, n, in[1], sizes, 16, &ns, "split");
        if (st) return st;
    } else {
        const int64_t *s = ox_attr_ints(n, "split", &ns);
        if (ns > 16) return ox_fail(m, n, NB_ERR_ARG, "too many parts");
        if (ns > 0) memcpy(sizes, s, (size_t)ns * sizeof *sizes);
    }
    int64_t L = x->shape[axis];
    if (ns < 0) {
        ns = n->n_out;
        int64_t each = (L + ns - 1) / ns;
        for (int i = 0; i < ns; i++) sizes[i] = i < ns - 1 ? each : L - each * (ns - 1);
        if (sizes[ns - 1] < 0) return ox_fail(m, n, NB_ERR_SHAPE, "cannot split %lld into %d parts", (long long)L, ns);
    }
    if (ns != n->n_out) return ox_fail(m, n, NB_ERR_ARG, "split has %d sizes for %d outputs", ns, n->n_out);
    int64_t off = 0;
    for (int i = 0; i < ns; i++) {
        if (sizes[i] < 0 || sizes[i] > L - off) return ox_fail(m, n, NB_ERR_SHAPE, "split sizes exceed %lld", (long long)L);
        out[i] = (ox_val){narrow_any(x, axis, off, sizes[i], 1), in[0].et};
        if (!out[i].t) return NB_ERR_MEM;
        off += sizes[i];
    }
    if (off != L) return ox_fail(m, n, NB_ERR_SHAPE, "split sizes add up to %lld, the axis has %lld", (long long)off, (long long)L);
    return NB_OK;
}

OX_OP(slice)
{
    nb_tensor *x = in[0].t;
    int nd = x->ndim;
    int64_t starts[NB_MAX_DIMS * 2], ends[NB_MAX_DIMS * 2], axes[NB_MAX_DIMS * 2], steps[NB_MAX_DIMS * 2];
    int ns, ne, na = -1, nst = -1;
    nb_status st;
    if (m->opset < 10) {
        const int64_t *a = ox_attr_ints(n, "starts", &ns), *b = ox_attr_ints(n, "ends", &ne), *c = ox_attr_ints(n, "axes", &na);
        if (ns < 0 || ne < 0 || ns > 16 || ne > 16 || na > 16) return ox_fail(m, n, NB_ERR_ARG, "starts and ends are needed");
        memcpy(starts, a, (size_t)ns * 8);
        memcpy(ends, b, (size_t)ne * 8);
        if (na > 0) memcpy(axes, c, (size_t)na * 8);
    } else {
        if ((st = ox_ints_of(m, n, in[1], starts, 16, &ns, "starts")) || (st = ox_ints_of(m, n, in[2], ends, 16, &ne, "ends")))
            return st;
        if (n->n_in > 3 && in[3].t && (st = ox_ints_of(m, n, in[3], axes, 16, &na, "axes"))) return st;
        if (n->n_in > 4 && in[4].t && (st = ox_ints_of(m, n, in[4], steps, 16, &nst, "steps"))) return st;
    }
    if (ns != ne || (na >= 0 && na != ns) || (nst >= 0 && nst != ns))
        return ox_fail(m, n, NB_ERR_ARG, "starts, ends, axes and steps differ in length");
    if (na < 0)
        for (int i = 0; i < ns; i++) axes[i] = i;
    int64_t shape[NB_MAX_DIMS], xs[NB_MAX_DIMS];
    int64_t *tab[NB_MAX_DIMS] = {0};
    memcpy(shape, x->shape, sizeof shape);
    ox_strides(nd, x->shape, xs);
    for (int i = 0; i < ns; i++) {
        int a;
        AXIS(axes[i], nd, a);
        int64_t L = x->shape[a], step = nst >= 0 ? steps[i] : 1, s = starts[i], e = ends[i];
        if (!step) return ox_fail(m, n, NB_ERR_ARG, "step 0");
        if (step < -((int64_t)1 << 62)) step = -((int64_t)1 << 62);
        if (step > ((int64_t)1 << 62)) step = (int64_t)1 << 62;
        if (s < 0) s += L;
        if (e < 0) e += L;
        if (step > 0) {
            s = s < 0 ? 0 : s > L ? L : s;
            e = e < 0 ? 0 : e > L ? L : e;
        } else {
            s = s < 0 ? -1 : s > L - 1 ? L - 1 : s;
            e = e < -1 ? -1 : e > L - 1 ? L - 1 : e;
        }
        int64_t len = step > 0 ? (e > s ? (e - s + step - 1) / step : 0) : (s > e ? (s - e + (-step) - 1) / (-step) : 0);
        shape[a] = len;
        tab[a] = nb__scratch(x->ctx, (size_t)(len + 1) * 8);
        if (!tab[a]) return NB_ERR_MEM;
        for (int64_t k = 0; k < len; k++) tab[a][k] = s + k * step;
    }
    int64_t *map = new_map(x->ctx, nd, shape);
    if (!map) return NB_ERR_MEM;
    build_map(nd, shape, tab, xs, map);
    out[0] = (ox_val){ox_gather_map(x, nd, shape, map, 0), in[0].et};
    return out[0].t ? NB_OK : NB_ERR_MEM;
}

OX_OP(gather)
{
    nb_tensor *x = in[0].t, *idx = in[1].t;
    int axis;
    AXIS(ox_attr_i(n, "axis", 0), x->ndim, axis);
    int nd = x->ndim - 1 + idx->ndim;
    if (nd > NB_MAX_DIMS) return ox_fail(m, n, NB_ERR_SHAPE, "the result would have %d dims", nd);
    int64_t shape[NB_MAX_DIMS];
    int k = 0;
    for (int d = 0; d < axis; d++) shape[k++] = x->shape[d];
    for (int d = 0; d < idx->ndim; d++) shape[k++] = idx->shape[d];
    for (int d = axis + 1; d < x->ndim; d++) shape[k++] = x->shape[d];
    int64_t outer = 1, inner = 1, L = x->shape[axis];
    for (int d = 0; d < axis; d++) outer *= x->shape[d];
    for (int d = axis + 1; d < x->ndim; d++) inner *= x->shape[d];
    int64_t *map = new_map(x->ctx, nd, shape);
    if (!map) return NB_ERR_MEM;
    int64_t ni = idx->numel, p = 0;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < ni; j++) {
            int64_t v = ox_get_i(idx, j);
            if (v < -L || v >= L) return ox_fail(m, n, NB_ERR_ARG, "index %lld out of range for axis size %lld", (long long)v, (long long)L);
            if (v < 0) v += L;
            for (int64_t q = 0; q < inner; q++) map[p++] = (o * L + v) * inner + q;
        }
    out[0] = (ox_val){ox_gather_map(x, nd, shape, map, 0), in[0].et};
    return out[0].t ? NB_OK : NB_ERR_MEM;
}

OX_OP(gather_elements)
{
    nb_tensor *x = in[0].t, *idx = in[1].t;
    int axis;
    AXIS(ox_attr_i(n, "axis", 0), x->ndim, axis);
    if (idx->ndim != x->ndim) return ox_fail(m, n, NB_ERR_SHAPE, "indices %s and data %s differ in rank", nb__tshape(idx), nb__tshape(x));
    int64_t xs[NB_MAX_DIMS], is[NB_MAX_DIMS];
    ox_strides(x->ndim, x->shape, xs);
    ox_strides(idx->ndim, idx->shape, is);
    int64_t *map = new_map(x->ctx, idx->ndim, idx->shape);
    if (!map) return NB_ERR_MEM;
    for (int64_t i = 0; i < idx->numel; i++) {
        int64_t off;
        if (ox_elem_offset(m, n, x, idx, axis, xs, is, i, &off)) return NB_ERR_ARG;
        map[i] = off;
    }
    out[0] = (ox_val){ox_gather_map(x, idx->ndim, idx->shape, map, 0), in[0].et};
    return out[0].t ? NB_OK : NB_ERR_MEM;
}

OX_OP(expand)
{
    nb_tensor *x = in[0].t;
    int64_t want[NB_MAX_DIMS], shape[NB_MAX_DIMS];
    int nw, nd;
    nb_status st = ox_ints_of(m, n, in[1], want, NB_MAX_DIMS, &nw, "shape");
    if (st) return st;
    if (bcast_shape(x->ndim, x->shape, nw, want, &nd, shape)) {
        char b[128];
        nb__shape_str(nw, want, b, sizeof b);
        return ox_fail(m, n, NB_ERR_SHAPE, "cannot expand %s to %s", nb__tshape(x), b);
    }
    out[0] = (ox_val){ox_expand(x, nd, shape), in[0].et};
    return out[0].t ? NB_OK : NB_ERR_MEM;
}

OX_OP(tile)
{
    nb_tensor *x = in[0].t;
    int64_t rep[NB_MAX_DIMS], shape[NB_MAX_DIMS], xs[NB_MAX_DIMS];
    int64_t *tab[NB_MAX_DIMS];
    int nr;
    nb_status st = ox_ints_of(m, n, in[1], rep, NB_MAX_DIMS, &nr, "repeats");
    if (st) return st;
    if (nr != x->ndim) return ox_fail(m, n, NB_ERR_SHAPE, "repeats has %d values for %s", nr, nb__tshape(x));
    ox_strides(x->ndim, x->shape, xs);
    for (int d = 0; d < x->ndim; d++) {
        if (rep[d] < 0 || rep[d] > (1 << 30)) return ox_fail(m, n, NB_ERR_ARG, "repeat %lld out of range", (long long)rep[d]);
        shape[d] = x->shape[d] * rep[d];
        tab[d] = nb__scratch(x->ctx, (size_t)(shape[d] + 1) * 8);
        if (!tab[d]) return NB_ERR_MEM;
        for (int64_t k = 0; k < shape[d]; k++) tab[d][k] = k % x->shape[d];
    }
    int64_t *map = new_map(x->ctx, x->ndim, shape);
    if (!map) return NB_ERR_MEM;
    build_map(x->ndim, shape, tab, xs, map);
    out[0] = (ox_val){ox_gather_map(x, x->ndim, shape, map, 0), in[0].et};
    return out[0].t ? NB_OK : NB_ERR_MEM;
}

OX_CHECK(pad)
{
    char buf[32];
    const char *mode = ox_attr_s(n, "mode", "constant", buf, sizeof buf);
    if (strcmp(mode, "constant") && strcmp(mode, "edge") && strcmp(mode, "reflect"))
        return ox_fail(m, n, NB_ERR_FORMAT, "mode '%s' not supported (constant, edge, reflect)", mode);
    return NB_OK;
}

OX_OP(pad)
{
    nb_tensor *x = in[0].t;
    int nd = x->ndim;
    int64_t raw[4 * NB_MAX_DIMS], pads[2 * NB_MAX_DIMS] = {0}, axes[NB_MAX_DIMS * 2];
    int np, na = -1;
    float value = 0;
    nb_status st;
    if (m->opset < 11) {
        const int64_t *p = ox_attr_ints(n, m->opset < 2 ? "paddings" : "pads", &np);
        if (np < 0 || np > 2 * NB_MAX_DIMS) return ox_fail(m, n, NB_ERR_ARG, "pads are missing");
        memcpy(raw, p, (size_t)np * 8);
        value = ox_attr_f(n, "value", 0);
    } else {
        if ((st = ox_ints_of(m, n, in[1], raw, 4 * NB_MAX_DIMS, &np, "pads"))) return st;
        if (n->n_in > 2 && in[2].t && in[2].t->numel) value = (float)ox_get_f(in[2].t, 0);
        if (n->n_in > 3 && in[3].t && (st = ox_ints_of(m, n, in[3], axes, NB_MAX_DIMS * 2, &na, "axes"))) return st;
    }
    if (na < 0) {
        if (np != 2 * nd) return ox_fail(m, n, NB_ERR_SHAPE, "pads has %d values for %s", np, nb__tshape(x));
        memcpy(pads, raw, (size_t)np * 8);
    } else {
        if (np != 2 * na) return ox_fail(m, n, NB_ERR_SHAPE, "pads has %d values for %d axes", np, na);
        for (int i = 0; i < na; i++) {
            int a;
            AXIS(axes[i], nd, a);
            pads[a] = raw[i];
            pads[a + nd] = raw[i + na];
        }
    }
    char buf[32];
    const char *mode = ox_attr_s(n, "mode", "constant", buf, sizeof buf);
    int md = !strcmp(mode, "edge") ? 1 : !strcmp(mode, "reflect") ? 2 : 0;
    out[0] = (ox_val){ox_pad(x, pads, md, value), in[0].et};
    return out[0].t ? NB_OK : NB_ERR_SHAPE;
}

OX_OP(shape)
{
    nb_tensor *x = in[0].t;
    int64_t nd = x->ndim, s = ox_attr_i(n, "start", 0), e = ox_attr_i(n, "end", nd);
    if (s < 0) s += nd;
    if (e < 0) e += nd;
    s = s < 0 ? 0 : s > nd ? nd : s;
    e = e < 0 ? 0 : e > nd ? nd : e;
    int64_t len = e > s ? e - s : 0;
    nb_tensor *o = nb__empty(m->ctx, NB_I64, 1, &len);
    if (!o) return NB_ERR_MEM;
    for (int64_t i = 0; i < len; i++) nb__i(o)[i] = x->shape[s + i];
    out[0] = (ox_val){o, OX_INT64};
    return NB_OK;
}

OX_OP(size)
{
    nb_tensor *o = nb__empty(m->ctx, NB_I64, 0, NULL);
    if (!o) return NB_ERR_MEM;
    nb__i(o)[0] = in[0].t->numel;
    out[0] = (ox_val){o, OX_INT64};
    (void)n;
    return NB_OK;
}

/* Constant: the value attribute decoded once at load (kept in the node's init slot) */
OX_CHECK(constant)
{
    const Onnx__AttributeProto *a;
    int cnt = 0;
    for (size_t i = 0; i < n->p->n_attribute; i++) cnt++;
    if (cnt != 1) return ox_fail(m, n, NB_ERR_FORMAT, "needs exactly one value attribute, has %d", cnt);
    if ((a = ox_attr(n, "sparse_value"))) return ox_fail(m, n, NB_ERR_FORMAT, "attribute 'sparse_value' not supported");
    if ((a = ox_attr(n, "value_strings")) || (a = ox_attr(n, "value_string")))
        return ox_fail(m, n, NB_ERR_FORMAT, "string constants not supported");
    nb_tensor *t = NULL;
    int et = 0;
    if ((a = ox_attr(n, "value"))) {
        if (!a->t) return ox_fail(m, n, NB_ERR_FORMAT, "attribute 'value' holds no tensor");
        t = ox_tensor_decode(m->ctx, a->t, m->dir, &et);
        if (!t) {
            nb__error_prefix("node '%s' (Constant, opset %d): value", n->name, m->opset);
            return NB_ERR_FORMAT;
        }
    } else if ((a = ox_attr(n, "value_float"))) {
        t = nb_tensor_new(m->ctx, NB_F32, 0, NULL);
        if (t) nb__f(t)[0] = a->f;
        et = OX_FLOAT;
    } else if ((a = ox_attr(n, "value_int"))) {
        t = nb_tensor_new(m->ctx, NB_I64, 0, NULL);
        if (t) nb__i(t)[0] = a->i;
        et = OX_INT64;
    } else if ((a = ox_attr(n, "value_floats"))) {
        int64_t len = (int64_t)a->n_floats;
        t = nb_tensor_new(m->ctx, NB_F32, 1, &len);
        if (t) memcpy(t->data, a->floats, a->n_floats * 4);
        et = OX_FLOAT;
    } else if ((a = ox_attr(n, "value_ints"))) {
        int64_t len = (int64_t)a->n_ints;
        t = nb_tensor_new(m->ctx, NB_I64, 1, &len);
        if (t) memcpy(t->data, a->ints, a->n_ints * 8);
        et = OX_INT64;
    }
    if (!t) return NB_ERR_MEM;
    /* the constant becomes an initializer of its output (not a parameter) */
    if (n->n_out < 1 || n->out[0] < 0) {
        nb_tensor_free(t);
        return NB_OK;
    }
    if (m->init[n->out[0]].t) return ox_fail(m, n, NB_ERR_STATE, "checked twice");
    if (t->dtype == NB_F32) {
        /* float constants are held by the module as buffers, named after the output */
        nb_status st = nb__module_add(m->mod, m->vname[n->out[0]], t, 1);
        if (st) return st;
        m->mod_owned[n->out[0]] = 1;
    }
    m->init[n->out[0]] = (ox_val){t, et};
    return NB_OK;
}

OX_OP(constant)
{
    out[0] = m->init[n->out[0]];
    return NB_OK;
}

OX_OP(constant_of_shape)
{
    int64_t shape[NB_MAX_DIMS];
    int nd;
    nb_status st = ox_ints_of(m, n, in[0], shape, NB_MAX_DIMS, &nd, "shape");
    if (st) return st;
    for (int d = 0; d < nd; d++)
        if (shape[d] < 0) return ox_fail(m, n, NB_ERR_SHAPE, "negative dimension %lld", (long long)shape[d]);
    const Onnx__AttributeProto *a = ox_attr(n, "value");
    int et = OX_FLOAT;
    double v = 0;
    if (a && a->t) {
        int e = 0;
        nb_tensor *t = ox_tensor_decode(m->ctx, a->t, NULL, &e);
        if (!t) return NB_ERR_FORMAT;
        if (t->numel != 1) {
            nb_tensor_free(t);
            return ox_fail(m, n, NB_ERR_ARG, "value must hold one element");
        }
        v = ox_get_f(t, 0);
        int64_t iv = ox_get_i(t, 0);
        et = e;
        nb_tensor_free(t);
        nb_tensor *o = ox_new(m->ctx, et, nd, shape);
        if (!o) return NB_ERR_MEM;
        for (int64_t i = 0; i < o->numel; i++)
            if (o->dtype == NB_F32) nb__f(o)[i] = (float)v;
            else nb__i(o)[i] = iv;
        out[0] = (ox_val){o, et};
        return NB_OK;
    }
    nb_tensor *o = ox_new(m->ctx, et, nd, shape);
    if (!o) return NB_ERR_MEM;
    memset(o->data, 0, (size_t)o->numel * 4);
    out[0] = (ox_val){o, et};
    return NB_OK;
}

OX_CHECK(cast)
{
    int64_t to = ox_attr_i(n, "to", -1);
    if (!strcmp(n->p->op_type, "CastLike")) return NB_OK;
    if (to == OX_STRING || to == OX_COMPLEX64 || to == OX_COMPLEX128 || to <= 0 || to > 16)
        return ox_fail(m, n, NB_ERR_FORMAT, "cast to %s not supported", ox_type_name((int)to));
    return NB_OK;
}

OX_OP(cast)
{
    int to = !strcmp(n->p->op_type, "CastLike") ? in[1].et : (int)ox_attr_i(n, "to", OX_FLOAT);
    if (to == in[0].et || (ox_storage(to) == NB_F32 && to == OX_FLOAT && in[0].et == OX_FLOAT)) {
        out[0] = in[0];
        return NB_OK;
    }
    out[0] = (ox_val){ox_cast(in[0].t, in[0].et, to), to};
    return out[0].t ? NB_OK : NB_ERR_MEM;
}

OX_OP(range)
{
    double s = ox_get_f(in[0].t, 0), l = ox_get_f(in[1].t, 0), d = ox_get_f(in[2].t, 0);
    if (d == 0) return ox_fail(m, n, NB_ERR_ARG, "delta 0");
    double cnt = ceil((l - s) / d);
    int64_t len = cnt > 0 ? ox_f2i(cnt) : 0;
    if (len > ((int64_t)1 << 30)) return ox_fail(m, n, NB_ERR_ARG, "%lld elements", (long long)len);
    nb_tensor *o = ox_new(m->ctx, in[0].et, 1, &len);
    if (!o) return NB_ERR_MEM;
    for (int64_t i = 0; i < len; i++)
        if (o->dtype == NB_F32) nb__f(o)[i] = (float)(ox_get_f(in[0].t, 0) + (double)i * ox_get_f(in[2].t, 0));
        else nb__i(o)[i] = ox_get_i(in[0].t, 0) + i * ox_get_i(in[2].t, 0);
    out[0] = (ox_val){o, in[0].et};
    return NB_OK;
}

/* DepthToSpace / SpaceToDepth as reshape + transpose + reshape */
OX_OP(depth_to_space)
{
    nb_tensor *x = in[0].t;
    if (x->ndim != 4) return ox_fail(m, n, NB_ERR_SHAPE, "needs a 4-D input, got %s", nb__tshape(x));
    int64_t b = ox_attr_i(n, "blocksize", 0), N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    if (b <= 0 || b > 4096) return ox_fail(m, n, NB_ERR_ARG, "blocksize %lld", (long long)b);
    int d2s = !strcmp(n->p->op_type, "DepthToSpace");
    char buf[8];
    int crd = d2s && !strcmp(ox_attr_s(n, "mode", "DCR", buf, sizeof buf), "CRD");
    nb_tensor *v, *t;
    if (d2s) {
        if (C % (b * b)) return ox_fail(m, n, NB_ERR_SHAPE, "channels %lld not divisible by blocksize²", (long long)C);
        int64_t c = C / (b * b);
        int64_t s1[6] = {N, b, b, c, H, W}, s2[6] = {N, c, b, b, H, W};
        int64_t p1[6] = {0, 3, 4, 1, 5, 2}, p2[6] = {0, 1, 4, 2, 5, 3};
        v = view_as(x, 6, crd ? s2 : s1);
        t = v ? ox_transpose(v, crd ? p2 : p1) : NULL;
        int64_t so[4] = {N, c, H * b, W * b};
        out[0] = (ox_val){t ? view_as(t, 4, so) : NULL, in[0].et};
    } else {
        if (H % b || W % b) return ox_fail(m, n, NB_ERR_SHAPE, "H, W not divisible by blocksize");
        int64_t s1[6] = {N, C, H / b, b, W / b, b}, p1[6] = {0, 3, 5, 1, 2, 4};
        v = view_as(x, 6, s1);
        t = v ? ox_transpose(v, p1) : NULL;
        int64_t so[4] = {N, C * b * b, H / b, W / b};
        out[0] = (ox_val){t ? view_as(t, 4, so) : NULL, in[0].et};
    }
    return out[0].t ? NB_OK : NB_ERR_MEM;
}

/* Resize (opset 10+) and Upsample: nearest, linear and cubic, any rank, as separable
 * 1-D interpolations over the axes whose size changes. Each output coordinate maps
 * to an input coordinate by coordinate_transformation_mode; taps outside the input
 * take the edge value (ONNX's reference pads by edge), or weigh nothing with
 * exclude_outside; tf_crop_and_resize coordinates outside the input give
 * extrapolation_value. */
OX_CHECK(resize)
{
    char buf[64];
    const char *mode = ox_attr_s(n, "mode", "nearest", buf, sizeof buf);
    if (strcmp(mode, "nearest") && strcmp(mode, "linear") && strcmp(mode, "bilinear") && strcmp(mode, "cubic"))
        return ox_fail(m, n, NB_ERR_FORMAT, "mode '%s' not supported (nearest, linear, cubic)", mode);
    const char *ct = ox_attr_s(n, "coordinate_transformation_mode", "half_pixel", buf, sizeof buf);
    if (strcmp(ct, "half_pixel") && strcmp(ct, "pytorch_half_pixel") && strcmp(ct, "align_corners") && strcmp(ct, "asymmetric") &&
        strcmp(ct, "tf_half_pixel_for_nn") && strcmp(ct, "tf_crop_and_resize"))
        return ox_fail(m, n, NB_ERR_FORMAT, "coordinate_transformation_mode '%s' not supported", ct);
    const char *nm = ox_attr_s(n, "nearest_mode", "round_prefer_floor", buf, sizeof buf);
    if (strcmp(nm, "round_prefer_floor") && strcmp(nm, "round_prefer_ceil") && strcmp(nm, "floor") && strcmp(nm, "ceil"))
        return ox_fail(m, n, NB_ERR_FORMAT, "nearest_mode '%s' not supported", nm);
    if (ox_attr_i(n, "antialias", 0)) return ox_fail(m, n, NB_ERR_FORMAT, "attribute antialias=1 not supported");
    if (ox_attr(n, "axes")) return ox_fail(m, n, NB_ERR_FORMAT, "attribute 'axes' not supported");
    if (ox_attr(n, "keep_aspect_ratio_policy")) return ox_fail(m, n, NB_ERR_FORMAT, "attribute 'keep_aspect_ratio_policy' not supported");
    return NB_OK;
}

/* the input coordinate of output coordinate o; flen is the unrounded in_len·scale
 * when scales are given (ONNX's reference uses it for align_corners); roi (start, end)
 * for tf_crop_and_resize */
static double src_coord(const char *ct, double o, double scale, int64_t in_len, double flen, int64_t out_len,
                        const double *roi)
{
    if (!strcmp(ct, "align_corners")) return flen == 1 ? 0 : o * (double)(in_len - 1) / (flen - 1);
    if (!strcmp(ct, "asymmetric")) return o / scale;
    if (!strcmp(ct, "pytorch_half_pixel")) return flen > 1 ? (o + 0.5) / scale - 0.5 : 0;
    if (!strcmp(ct, "tf_half_pixel_for_nn")) return (o + 0.5) / scale;
    if (!strcmp(ct, "tf_crop_and_resize"))
        return out_len > 1 ? roi[0] * (double)(in_len - 1) + o * (roi[1] - roi[0]) * (double)(in_len - 1) / (double)(out_len - 1)
                           : 0.5 * (roi[0] + roi[1]) * (double)(in_len - 1);
    return (o + 0.5) / scale - 0.5; /* half_pixel */
}

#define TAPS 4
typedef struct {
    int64_t idx[TAPS];
    float w[TAPS];
} taps;

typedef struct {
    const int64_t *src; /* per output element, TAPS source offsets (-1: none) */
    const float *w;     /* and their weights */
} interp_saved;

static void interp_backward(nb_node *nd)
{
    const interp_saved *st = nd->saved;
    const int64_t *src = st->src;
    const float *w = st->w;
    const float *g = nd->out->grad;
    float *gx = nd->in[0]->grad;
    for (int64_t i = 0; i < nd->out->numel; i++)
        for (int k = 0; k < TAPS; k++)
            if (src[i * TAPS + k] >= 0) gx[src[i * TAPS + k]] += g[i] * w[i * TAPS + k];
}

/* out[.., k, ..] = Σ_t tp[k].w[t]·x[.., tp[k].idx[t], ..] (+ fill where every idx < 0) along axis */
static nb_tensor *interp_axis(nb_tensor *x, int axis, int64_t L2, const taps *tp, float fill)
{
    int64_t shape[NB_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    int64_t L = x->shape[axis];
    shape[axis] = L2;
    nb_tensor *o = nb__empty(x->ctx, NB_F32, x->ndim, shape);
    if (!o) return NULL;
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++) outer *= x->shape[d];
    for (int d = axis + 1; d < x->ndim; d++) inner *= x->shape[d];
    int64_t *src = nb__scratch(x->ctx, (size_t)(o->numel + 1) * TAPS * 8);
    float *ws = nb__scratch(x->ctx, (size_t)(o->numel + 1) * TAPS * 4);
    if (!src || !ws) return NULL;
    const float *s = nb__f(x);
    float *d = nb__f(o);
    for (int64_t p = 0; p < outer; p++)
        for (int64_t k = 0; k < L2; k++)
            for (int64_t q = 0; q < inner; q++) {
                int64_t oi = (p * L2 + k) * inner + q;
                double acc = 0;
                int any = 0;
                for (int t = 0; t < TAPS; t++) {
                    int64_t j = tp[k].idx[t];
                    src[oi * TAPS + t] = j >= 0 ? (p * L + j) * inner + q : -1;
                    ws[oi * TAPS + t] = tp[k].w[t];
                    if (j >= 0) {
                        acc += (double)tp[k].w[t] * s[(p * L + j) * inner + q];
                        any = 1;
                    }
                }
                d[oi] = any ? (float)acc : fill;
            }
    if (nb__needs_grad(x->ctx, x, NULL, NULL)) {
        nb_node *nd = nb__record(o, interp_backward, x, NULL, NULL);
        interp_saved *st = nd ? nb__node_save(nd, sizeof *st) : NULL;
        if (!st) return NULL;
        *st = (interp_saved){src, ws};
    }
    return o;
}

OX_OP(resize)
{
    nb_tensor *x = in[0].t;
    int nd = x->ndim;
    double scales[NB_MAX_DIMS], roi[2 * NB_MAX_DIMS];
    int64_t sizes[NB_MAX_DIMS];
    int have_sizes = 0, have_roi = 0;
    char cbuf[64], mbuf[32], nbuf[32];
    int upsample = !strcmp(n->p->op_type, "Upsample");
    const char *ct = upsample ? "asymmetric"
                              : ox_attr_s(n, "coordinate_transformation_mode", m->opset < 11 ? "asymmetric" : "half_pixel", cbuf, sizeof cbuf);
    const char *mode = ox_attr_s(n, "mode", "nearest", mbuf, sizeof mbuf);
    const char *nm = ox_attr_s(n, "nearest_mode", upsample || m->opset < 11 ? "floor" : "round_prefer_floor", nbuf, sizeof nbuf);
    double A = ox_attr_f(n, "cubic_coeff_a", -0.75f);
    int exclude = (int)ox_attr_i(n, "exclude_outside", 0);
    float extrap = ox_attr_f(n, "extrapolation_value", 0);
    ox_val sv = {0}, zv = {0}, rv = {0};
    if (upsample || m->opset < 11) sv = n->n_in > 1 ? in[1] : (ox_val){0};
    else {
        rv = n->n_in > 1 ? in[1] : (ox_val){0};
        sv = n->n_in > 2 ? in[2] : (ox_val){0};
        zv = n->n_in > 3 ? in[3] : (ox_val){0};
    }
    if (!strcmp(ct, "tf_crop_and_resize")) {
        if (!rv.t || rv.t->numel != 2 * nd) return ox_fail(m, n, NB_ERR_ARG, "tf_crop_and_resize needs roi with %d values", 2 * nd);
        for (int d = 0; d < 2 * nd; d++) roi[d] = ox_get_f(rv.t, d);
        have_roi = 1;
    }
    if (upsample && m->opset < 9) {
        int c;
        const float *f = ox_attr_floats(n, "scales", &c);
        if (c != nd) return ox_fail(m, n, NB_ERR_ARG, "scales has %d values for %s", c, nb__tshape(x));
        for (int d = 0; d < nd; d++) scales[d] = f[d];
    } else if (zv.t && zv.t->numel) {
        if (zv.t->numel != nd) return ox_fail(m, n, NB_ERR_ARG, "sizes has %lld values for %s", (long long)zv.t->numel, nb__tshape(x));
        have_sizes = 1;
        for (int d = 0; d < nd; d++) {
            sizes[d] = ox_get_i(zv.t, d);
            scales[d] = x->shape[d] ? (double)sizes[d] / (double)x->shape[d] : 1;
        }
    } else if (sv.t && sv.t->numel) {
        if (sv.t->numel != nd) return ox_fail(m, n, NB_ERR_ARG, "scales has %lld values for %s", (long long)sv.t->numel, nb__tshape(x));
        for (int d = 0; d < nd; d++) scales[d] = (float)ox_get_f(sv.t, d);
    } else return ox_fail(m, n, NB_ERR_ARG, "neither scales nor sizes given");
    int64_t shape[NB_MAX_DIMS];
    double flen[NB_MAX_DIMS];
    for (int d = 0; d < nd; d++) {
        if (!(scales[d] > 0)) return ox_fail(m, n, NB_ERR_ARG, "scale %g", scales[d]);
        shape[d] = have_sizes ? sizes[d] : ox_f2i(floor((double)x->shape[d] * scales[d] + 1e-9));
        flen[d] = have_sizes ? (double)shape[d] : (double)x->shape[d] * scales[d];
        if (shape[d] < 0 || shape[d] > ((int64_t)1 << 24)) return ox_fail(m, n, NB_ERR_ARG, "output size %lld", (long long)shape[d]);
    }
    if (!strcmp(mode, "nearest")) {
        int64_t xs[NB_MAX_DIMS], *tab[NB_MAX_DIMS];
        ox_strides(nd, x->shape, xs);
        for (int d = 0; d < nd; d++) {
            tab[d] = nb__scratch(m->ctx, (size_t)(shape[d] + 1) * 8);
            if (!tab[d]) return NB_ERR_MEM;
            for (int64_t k = 0; k < shape[d]; k++) {
                double c = src_coord(ct, (double)k, scales[d], x->shape[d], flen[d], shape[d], have_roi ? (double[2]){roi[d], roi[d + nd]} : NULL);
                if (have_roi && (c < 0 || c > (double)(x->shape[d] - 1))) {
                    tab[d][k] = -1;
                    continue;
                }
                int64_t i;
                if (!strcmp(nm, "round_prefer_ceil")) i = ox_f2i(floor(c + 0.5));
                else if (!strcmp(nm, "floor")) i = ox_f2i(floor(c));
                else if (!strcmp(nm, "ceil")) i = ox_f2i(ceil(c));
                else i = (c - floor(c)) == 0.5 ? ox_f2i(floor(c)) : ox_f2i(floor(c + 0.5));
                tab[d][k] = i < 0 ? 0 : i >= x->shape[d] ? x->shape[d] - 1 : i;
            }
        }
        int64_t *map = new_map(m->ctx, nd, shape);
        if (!map) return NB_ERR_MEM;
        build_map(nd, shape, tab, xs, map);
        out[0] = (ox_val){ox_gather_map(x, nd, shape, map, extrap), in[0].et};
        return out[0].t ? NB_OK : NB_ERR_MEM;
    }
    int cubic = !strcmp(mode, "cubic");
    nb_tensor *y = ox_as_float(in[0]);
    for (int d = 0; d < nd && y; d++) {
        if (shape[d] == x->shape[d] && scales[d] == 1 && !have_roi) continue;
        int64_t L = x->shape[d];
        taps *tp = nb__scratch(m->ctx, (size_t)(shape[d] + 1) * sizeof *tp);
        if (!tp) return NB_ERR_MEM;
        for (int64_t k = 0; k < shape[d]; k++) {
            double c = src_coord(ct, (double)k, scales[d], L, flen[d], shape[d], have_roi ? (double[2]){roi[d], roi[d + nd]} : NULL);
            for (int t = 0; t < TAPS; t++) tp[k].idx[t] = -1, tp[k].w[t] = 0;
            if (L == 0 || !(c == c)) continue; /* nothing to interpolate from */
            if (have_roi && (c < 0 || c > (double)(L - 1))) continue; /* extrapolation_value */
            if (!cubic) {
                if (c < 0) c = 0;
                if (c > (double)(L - 1)) c = (double)(L - 1);
                int64_t i0 = ox_f2i(floor(c)), i1 = i0 + 1 < L ? i0 + 1 : i0;
                tp[k].idx[0] = i0, tp[k].w[0] = (float)(1.0 - (c - (double)i0));
                tp[k].idx[1] = i1, tp[k].w[1] = (float)(c - (double)i0);
                continue;
            }
            int64_t i0 = ox_f2i(floor(c));
            double t0 = c - (double)i0, wsum = 0, wv[TAPS];
            for (int t = 0; t < TAPS; t++) {
                int64_t j = i0 - 1 + t;
                wv[t] = ox_cubic(t0 - (double)(t - 1), A);
                if (exclude && (j < 0 || j >= L)) wv[t] = 0;
                wsum += wv[t];
                tp[k].idx[t] = j < 0 ? 0 : j >= L ? L - 1 : j;
            }
            for (int t = 0; t < TAPS; t++) tp[k].w[t] = (float)(exclude && wsum != 0 ? wv[t] / wsum : wv[t]);
        }
        y = interp_axis(y, d, shape[d], tp, extrap);
    }
    out[0] = (ox_val){y, in[0].et};
    return y ? NB_OK : NB_ERR_MEM;
}
