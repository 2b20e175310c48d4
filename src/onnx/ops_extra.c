/* ops_extra.c - ONNX's losses (NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss),
 * index ops (Trilu, OneHot, TopK, ScatterElements, ScatterND, GatherND, NonZero,
 * Compress, ReverseSequence, EyeLike), MeanVarianceNormalization, Det, the
 * (de)quantizers and the window functions.
 *
 * The losses are composed of differentiable pieces (log_softmax, an index map that
 * picks each target's log-probability, a weighted sum), so they have a backward;
 * Trilu, TopK's values and ReverseSequence are index maps too. The rest are
 * forward only. Layout: contiguous row-major. */
#include "onnx/onnx_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


static int axis_of(int64_t a, int nd, int *out)
{
    if (a < -nd || a >= nd) return -1;
    *out = (int)(a < 0 ? a + nd : a);
    return 0;
}

/* ---- losses ---- */

OX_CHECK(loss)
{
    char buf[16];
    const char *r = ox_attr_s(n, "reduction", "mean", buf, sizeof buf);
    if (strcmp(r, "mean") && strcmp(r, "sum") && strcmp(r, "none")) return ox_fail(m, n, NB_ERR_FORMAT, "reduction '%s' not supported", r);
    return NB_OK;
}

/* -Σ w[t]·logp[n, t, ...] over targets t (ignore_index skipped), reduced as asked */
static nb_status nll(ox_model *m, const ox_node *n, nb_tensor *logp, nb_tensor *target, nb_tensor *weight, ox_val *out)
{
    if (logp->ndim < 2 || target->ndim != logp->ndim - 1 || target->shape[0] != logp->shape[0])
        return ox_fail(m, n, NB_ERR_SHAPE, "input %s and target %s do not fit", nb__tshape(logp), nb__tshape(target));
    int64_t N = logp->shape[0], C = logp->shape[1], inner = 1;
    for (int d = 2; d < logp->ndim; d++) {
        if (logp->shape[d] != target->shape[d - 1])
            return ox_fail(m, n, NB_ERR_SHAPE, "input %s and target %s do not fit", nb__tshape(logp), nb__tshape(target));
        inner *= logp->shape[d];
    }
    if (weight && weight->numel != C) return ox_fail(m, n, NB_ERR_SHAPE, "weight %s for %lld classes", nb__tshape(weight), (long long)C);
    const Onnx__AttributeProto *ia = ox_attr(n, "ignore_index");
    int64_t ignore = ia ? ia->i : INT64_MIN;
    char buf[16];
    const char *red = ox_attr_s(n, "reduction", "mean", buf, sizeof buf);
    int64_t *map = nb__scratch(m->ctx, (size_t)(target->numel + 1) * 8);
    nb_tensor *w = nb__empty(m->ctx, NB_F32, target->ndim, target->shape);
    if (!map || !w) return NB_ERR_MEM;
    double wsum = 0;
    for (int64_t b = 0; b < N; b++)
        for (int64_t j = 0; j < inner; j++) {
            int64_t i = b * inner + j, t = ox_get_i(target, i);
            if (t == ignore) {
                map[i] = -1;
                nb__f(w)[i] = 0;
                continue;
            }
            if (t < 0 || t >= C) return ox_fail(m, n, NB_ERR_ARG, "target %lld outside [0, %lld)", (long long)t, (long long)C);
            map[i] = (b * C + t) * inner + j;
            nb__f(w)[i] = weight ? nb__f(weight)[t] : 1.0f;
            wsum += nb__f(w)[i];
        }
    nb_tensor *picked = ox_gather_map(logp, target->ndim, target->shape, map, 0);
    nb_tensor *l = nb_neg(nb_mul(picked, w));
    if (!strcmp(red, "sum")) l = nb_sum(l);
    else if (!strcmp(red, "mean")) l = nb_mul_scalar(nb_sum(l), (float)(1.0 / wsum));
    out[0] = (ox_val){l, OX_FLOAT};
    return l ? NB_OK : NB_ERR_MEM;
}

OX_OP(nll_loss)
{
    nb_tensor *x = ox_as_float(in[0]);
    return nll(m, n, x, in[1].t, n->n_in > 2 ? ox_as_float(in[2]) : NULL, out);
}

OX_OP(softmax_cross_entropy)
{
    nb_tensor *x = ox_as_float(in[0]);
    nb_tensor *lp = x ? nb_log_softmax(x, 1) : NULL;
    if (!lp) return NB_ERR_SHAPE;
    nb_status st = nll(m, n, lp, in[1].t, n->n_in > 2 ? ox_as_float(in[2]) : NULL, out);
    out[0].et = in[0].et;
    if (!st && n->n_out > 1) out[1] = (ox_val){lp, in[0].et};
    return st;
}

/* ---- index ops ---- */

OX_OP(trilu)
{
    nb_tensor *x = in[0].t;
    if (x->ndim < 2) return ox_fail(m, n, NB_ERR_SHAPE, "needs at least 2 dims, got %s", nb__tshape(x));
    int64_t k = n->n_in > 1 && in[1].t ? ox_get_i(in[1].t, 0) : 0;
    int upper = (int)ox_attr_i(n, "upper", 1);
    int64_t R = x->shape[x->ndim - 2], C = x->shape[x->ndim - 1];
    int64_t *map = nb__scratch(m->ctx, (size_t)(x->numel + 1) * 8);
    if (!map) return NB_ERR_MEM;
    for (int64_t i = 0; i < x->numel; i++) {
        int64_t c = i % C, r = (i / C) % (R ? R : 1);
        int keep = upper ? c - r >= k : c - r <= k;
        map[i] = keep ? i : -1;
    }
    out[0] = (ox_val){ox_gather_map(x, x->ndim, x->shape, map, 0), in[0].et};
    return out[0].t ? NB_OK : NB_ERR_MEM;
}

OX_OP(one_hot)
{
    nb_tensor *idx = in[0].t, *vals = in[2].t;
    int64_t depth = ox_f2i(ox_get_f(in[1].t, 0));
    if (depth <= 0 || depth > (1 << 24) || vals->numel != 2) return ox_fail(m, n, NB_ERR_ARG, "depth %lld, values %s", (long long)depth, nb__tshape(vals));
    int nd = idx->ndim + 1, axis;
    if (nd > NB_MAX_DIMS || axis_of(ox_attr_i(n, "axis", -1), nd, &axis)) return ox_fail(m, n, NB_ERR_SHAPE, "axis out of range");
    int64_t shape[NB_MAX_DIMS], outer = 1, inner = 1;
    for (int d = 0, k = 0; d < nd; d++) {
        shape[d] = d == axis ? depth : idx->shape[k++];
        if (d < axis) outer *= shape[d];
        if (d > axis) inner *= shape[d];
    }
    nb_tensor *o = ox_new(m->ctx, in[2].et, nd, shape);
    if (!o) return NB_ERR_MEM;
    for (int64_t p = 0; p < outer; p++)
        for (int64_t j = 0; j < depth; j++)
            for (int64_t q = 0; q < inner; q++) {
                int64_t v = ox_f2i(ox_get_f(idx, p * inner + q));
                if (v < 0) v += depth;
                int on = v == j;
                int64_t oi = (p * depth + j) * inner + q;
                if (o->dtype == NB_F32) nb__f(o)[oi] = nb__f(vals)[on];
                else nb__i(o)[oi] = nb__i(vals)[on];
            }
    out[0] = (ox_val){o, in[2].et};
    return NB_OK;
}

/* qsort has no context argument: the comparators read these (per thread) */
static _Thread_local const nb_tensor *g_topk_x;
static _Thread_local int64_t g_topk_base, g_topk_inner;
static _Thread_local int g_topk_largest;

static int topk_cmp(const void *a, const void *b)
{
    int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
    double x = ox_get_f(g_topk_x, g_topk_base + i * g_topk_inner), y = ox_get_f(g_topk_x, g_topk_base + j * g_topk_inner);
    if (x != y) return g_topk_largest ? (x < y) - (x > y) : (x > y) - (x < y);
    return (i > j) - (i < j);
}

OX_OP(topk)
{
    nb_tensor *x = in[0].t;
    int axis;
    if (axis_of(ox_attr_i(n, "axis", -1), x->ndim, &axis)) return ox_fail(m, n, NB_ERR_SHAPE, "axis out of range");
    if (m->opset >= 10 && (n->n_in < 2 || !in[1].t || in[1].t->numel != 1)) return ox_fail(m, n, NB_ERR_ARG, "input K (one value) is missing");
    int64_t K = m->opset < 10 ? ox_attr_i(n, "k", 1) : ox_get_i(in[1].t, 0), L = x->shape[axis], outer = 1, inner = 1;
    if (K < 0 || K > L) return ox_fail(m, n, NB_ERR_ARG, "k = %lld for an axis of %lld", (long long)K, (long long)L);
    for (int d = 0; d < axis; d++) outer *= x->shape[d];
    for (int d = axis + 1; d < x->ndim; d++) inner *= x->shape[d];
    int64_t shape[NB_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[axis] = K;
    nb_tensor *ind = nb__empty(m->ctx, NB_I64, x->ndim, shape);
    int64_t *order = nb__scratch(m->ctx, (size_t)(L + 1) * 8), *map = nb__scratch(m->ctx, (size_t)(outer * K * inner + 1) * 8);
    if (!ind || !order || !map) return NB_ERR_MEM;
    g_topk_x = x;
    g_topk_inner = inner;
    g_topk_largest = (int)ox_attr_i(n, "largest", 1);
    for (int64_t p = 0; p < outer; p++)
        for (int64_t q = 0; q < inner; q++) {
            for (int64_t j = 0; j < L; j++) order[j] = j;
            g_topk_base = p * L * inner + q;
            qsort(order, (size_t)L, 8, topk_cmp);
            for (int64_t j = 0; j < K; j++) {
                int64_t oi = (p * K + j) * inner + q;
                nb__i(ind)[oi] = order[j];
                map[oi] = (p * L + order[j]) * inner + q;
            }
        }
    out[0] = (ox_val){ox_gather_map(x, x->ndim, shape, map, 0), in[0].et};
    if (n->n_out > 1) out[1] = (ox_val){ind, OX_INT64};
    return out[0].t ? NB_OK : NB_ERR_MEM;
}

static double reduce1(const char *red, double a, double b)
{
    if (!strcmp(red, "add")) return a + b;
    if (!strcmp(red, "mul")) return a * b;
    if (!strcmp(red, "max")) return a > b ? a : b;
    if (!strcmp(red, "min")) return a < b ? a : b;
    return b;
}

static void set_any(nb_tensor *t, int64_t i, double v)
{
    if (t->dtype == NB_F32) nb__f(t)[i] = (float)v;
    else nb__i(t)[i] = ox_f2i(v);
}

static nb_tensor *copy_of(nb_ctx *ctx, ox_val v)
{
    nb_tensor *o = ox_new(ctx, v.et, v.t->ndim, v.t->shape);
    if (o) memcpy(o->data, v.t->data, (size_t)v.t->numel * (v.t->dtype == NB_F32 ? 4 : 8));
    return o;
}

OX_OP(scatter_elements)
{
    nb_tensor *x = in[0].t, *idx = in[1].t, *up = in[2].t;
    int axis;
    if (axis_of(ox_attr_i(n, "axis", 0), x->ndim, &axis)) return ox_fail(m, n, NB_ERR_SHAPE, "axis out of range");
    if (idx->ndim != x->ndim || !nb__same_shape(idx, up)) return ox_fail(m, n, NB_ERR_SHAPE, "indices %s, updates %s, data %s", nb__tshape(idx), nb__tshape(up), nb__tshape(x));
    char buf[8];
    const char *red = ox_attr_s(n, "reduction", "none", buf, sizeof buf);
    nb_tensor *o = copy_of(m->ctx, in[0]);
    if (!o) return NB_ERR_MEM;
    int64_t xs[NB_MAX_DIMS], is[NB_MAX_DIMS];
    ox_strides(x->ndim, x->shape, xs);
    ox_strides(idx->ndim, idx->shape, is);
    for (int64_t i = 0; i < idx->numel; i++) {
        int64_t off;
        if (ox_elem_offset(m, n, x, idx, axis, xs, is, i, &off)) return NB_ERR_ARG;
        set_any(o, off, reduce1(red, ox_get_f(o, off), ox_get_f(up, i)));
    }
    out[0] = (ox_val){o, in[0].et};
    return NB_OK;
}

OX_OP(scatter_nd)
{
    nb_tensor *x = in[0].t, *idx = in[1].t, *up = in[2].t;
    if (!idx->ndim) return ox_fail(m, n, NB_ERR_SHAPE, "indices must have at least 1 dim");
    int64_t k = idx->shape[idx->ndim - 1];
    if (k > x->ndim) return ox_fail(m, n, NB_ERR_SHAPE, "indices %s for data %s", nb__tshape(idx), nb__tshape(x));
    char buf[8];
    const char *red = ox_attr_s(n, "reduction", "none", buf, sizeof buf);
    nb_tensor *o = copy_of(m->ctx, in[0]);
    if (!o) return NB_ERR_MEM;
    int64_t xs[NB_MAX_DIMS], slice = 1, cnt = idx->numel / (k ? k : 1);
    ox_strides(x->ndim, x->shape, xs);
    for (int d = (int)k; d < x->ndim; d++) slice *= x->shape[d];
    if (up->numel != cnt * slice) return ox_fail(m, n, NB_ERR_SHAPE, "updates %s do not fit", nb__tshape(up));
    for (int64_t i = 0; i < cnt; i++) {
        int64_t off = 0;
        for (int64_t d = 0; d < k; d++) {
            int64_t c = ox_get_i(idx, i * k + d);
            if (c < -x->shape[d] || c >= x->shape[d]) return ox_fail(m, n, NB_ERR_ARG, "index %lld out of range", (long long)c);
            off += (c < 0 ? c + x->shape[d] : c) * xs[d];
        }
        for (int64_t j = 0; j < slice; j++) set_any(o, off + j, reduce1(red, ox_get_f(o, off + j), ox_get_f(up, i * slice + j)));
    }
    out[0] = (ox_val){o, in[0].et};
    return NB_OK;
}

OX_OP(gather_nd)
{
    nb_tensor *x = in[0].t, *idx = in[1].t;
    int64_t b = ox_attr_i(n, "batch_dims", 0);
    if (!idx->ndim) return ox_fail(m, n, NB_ERR_SHAPE, "indices must have at least 1 dim");
    int64_t k = idx->shape[idx->ndim - 1];
    if (b < 0 || b + k > x->ndim || b >= idx->ndim) return ox_fail(m, n, NB_ERR_SHAPE, "indices %s for data %s", nb__tshape(idx), nb__tshape(x));
    for (int d = 0; d < b; d++)
        if (idx->shape[d] != x->shape[d])
            return ox_fail(m, n, NB_ERR_SHAPE, "indices %s and data %s differ in batch dimension %d", nb__tshape(idx), nb__tshape(x), d);
    int64_t shape[NB_MAX_DIMS], bsz = 1, slice = 1, xs[NB_MAX_DIMS];
    int nd = 0;
    for (int d = 0; d < idx->ndim - 1; d++) shape[nd++] = idx->shape[d];
    for (int d = (int)(b + k); d < x->ndim; d++) {
        if (nd == NB_MAX_DIMS) return ox_fail(m, n, NB_ERR_SHAPE, "too many dims");
        shape[nd++] = x->shape[d];
        slice *= x->shape[d];
    }
    for (int d = 0; d < b; d++) bsz *= x->shape[d];
    ox_strides(x->ndim, x->shape, xs);
    int64_t per_batch = idx->numel / (k ? k : 1) / (bsz ? bsz : 1), bstride = b ? xs[b - 1] : 0;
    int64_t *map = nb__scratch(m->ctx, (size_t)(bsz * per_batch * slice + 1) * 8);
    if (!map) return NB_ERR_MEM;
    int64_t p = 0;
    for (int64_t bi = 0; bi < bsz; bi++)
        for (int64_t i = 0; i < per_batch; i++) {
            int64_t off = bi * bstride;
            for (int64_t d = 0; d < k; d++) {
                int64_t c = ox_get_i(idx, (bi * per_batch + i) * k + d), L = x->shape[b + d];
                if (c < -L || c >= L) return ox_fail(m, n, NB_ERR_ARG, "index %lld out of range", (long long)c);
                off += (c < 0 ? c + L : c) * xs[b + d];
            }
            for (int64_t j = 0; j < slice; j++) map[p++] = off + j;
        }
    out[0] = (ox_val){ox_gather_map(x, nd, shape, map, 0), in[0].et};
    return out[0].t ? NB_OK : NB_ERR_MEM;
}

OX_OP(nonzero)
{
    nb_tensor *x = in[0].t;
    int64_t cnt = 0, xs[NB_MAX_DIMS];
    for (int64_t i = 0; i < x->numel; i++) cnt += ox_get_f(x, i) != 0;
    int64_t shape[2] = {x->ndim, cnt};
    nb_tensor *o = nb__empty(m->ctx, NB_I64, 2, shape);
    if (!o) return NB_ERR_MEM;
    ox_strides(x->ndim, x->shape, xs);
    int64_t k = 0;
    for (int64_t i = 0; i < x->numel; i++)
        if (ox_get_f(x, i) != 0) {
            int64_t rem = i;
            for (int d = 0; d < x->ndim; d++) {
                nb__i(o)[d * cnt + k] = rem / xs[d];
                rem %= xs[d];
            }
            k++;
        }
    (void)n;
    out[0] = (ox_val){o, OX_INT64};
    return NB_OK;
}

OX_OP(compress)
{
    nb_tensor *x = in[0].t, *c = in[1].t;
    const Onnx__AttributeProto *aa = ox_attr(n, "axis");
    int axis = -1;
    if (aa && axis_of(aa->i, x->ndim, &axis)) return ox_fail(m, n, NB_ERR_SHAPE, "axis out of range");
    int64_t L = axis < 0 ? x->numel : x->shape[axis], sel = 0;
    for (int64_t i = 0; i < c->numel && i < L; i++) sel += ox_get_i(c, i) != 0;
    int64_t shape[NB_MAX_DIMS], outer = 1, inner = 1;
    int nd = axis < 0 ? 1 : x->ndim;
    if (axis < 0) shape[0] = sel;
    else {
        memcpy(shape, x->shape, sizeof shape);
        shape[axis] = sel;
        for (int d = 0; d < axis; d++) outer *= x->shape[d];
        for (int d = axis + 1; d < x->ndim; d++) inner *= x->shape[d];
    }
    int64_t *map = nb__scratch(m->ctx, (size_t)(outer * sel * inner + 1) * 8), p = 0;
    if (!map) return NB_ERR_MEM;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < L && j < c->numel; j++)
            if (ox_get_i(c, j))
                for (int64_t q = 0; q < inner; q++) map[p++] = (o * L + j) * inner + q;
    out[0] = (ox_val){ox_gather_map(x, nd, shape, map, 0), in[0].et};
    return out[0].t ? NB_OK : NB_ERR_MEM;
}

OX_OP(reverse_sequence)
{
    nb_tensor *x = in[0].t, *lens = in[1].t;
    int ba = (int)ox_attr_i(n, "batch_axis", 1), ta = (int)ox_attr_i(n, "time_axis", 0);
    if (x->ndim < 2 || ba < 0 || ta < 0 || ba >= x->ndim || ta >= x->ndim || ba == ta || lens->numel != x->shape[ba])
        return ox_fail(m, n, NB_ERR_SHAPE, "input %s, sequence_lens %s", nb__tshape(x), nb__tshape(lens));
    int64_t xs[NB_MAX_DIMS];
    ox_strides(x->ndim, x->shape, xs);
    int64_t *map = nb__scratch(m->ctx, (size_t)(x->numel + 1) * 8);
    if (!map) return NB_ERR_MEM;
    for (int64_t i = 0; i < x->numel; i++) {
        int64_t b = (i / xs[ba]) % x->shape[ba], t = (i / xs[ta]) % x->shape[ta], len = ox_get_i(lens, b);
        map[i] = t < len ? i + (len - 1 - 2 * t) * xs[ta] : i;
    }
    out[0] = (ox_val){ox_gather_map(x, x->ndim, x->shape, map, 0), in[0].et};
    return out[0].t ? NB_OK : NB_ERR_MEM;
}

OX_OP(eye_like)
{
    nb_tensor *x = in[0].t;
    if (x->ndim != 2) return ox_fail(m, n, NB_ERR_SHAPE, "needs a 2-D input, got %s", nb__tshape(x));
    int et = (int)ox_attr_i(n, "dtype", in[0].et);
    int64_t k = ox_attr_i(n, "k", 0);
    nb_tensor *o = ox_new(m->ctx, et, 2, x->shape);
    if (!o) return NB_ERR_MEM;
    for (int64_t i = 0; i < o->numel; i++) set_any(o, i, (i % x->shape[1]) - (i / x->shape[1]) == k);
    out[0] = (ox_val){o, et};
    return NB_OK;
}

OX_OP(mvn)
{
    nb_tensor *x = in[0].t;
    int na;
    const int64_t *ax = ox_attr_ints(n, "axes", &na);
    int64_t def[3] = {0, 2, 3};
    if (na < 0) {
        ax = def;
        na = 3;
    }
    int red[NB_MAX_DIMS] = {0};
    for (int i = 0; i < na; i++) {
        int a;
        if (axis_of(ax[i], x->ndim, &a)) return ox_fail(m, n, NB_ERR_SHAPE, "axis %lld out of range", (long long)ax[i]);
        red[a] = 1;
    }
    int64_t xs[NB_MAX_DIMS], ks[NB_MAX_DIMS], ostr[NB_MAX_DIMS], on = 1;
    ox_strides(x->ndim, x->shape, xs);
    for (int d = 0; d < x->ndim; d++) ks[d] = red[d] ? 1 : x->shape[d];
    ox_strides(x->ndim, ks, ostr);
    for (int d = 0; d < x->ndim; d++) on *= ks[d];
    double *s = nb__scratch(m->ctx, (size_t)(on + 1) * 16);
    int64_t *map = nb__scratch(m->ctx, (size_t)(x->numel + 1) * 8);
    nb_tensor *o = nb__empty_like(x);
    if (!s || !map || !o) return NB_ERR_MEM;
    memset(s, 0, (size_t)(on + 1) * 16);
    for (int64_t i = 0; i < x->numel; i++) {
        int64_t off = 0;
        for (int d = 0; d < x->ndim; d++)
            if (!red[d]) off += ((i / xs[d]) % x->shape[d]) * ostr[d];
        map[i] = off;
        double v = nb__f(x)[i];
        s[2 * off] += v;
        s[2 * off + 1] += v * v;
    }
    double cnt = on ? (double)x->numel / (double)on : 1;
    for (int64_t i = 0; i < x->numel; i++) {
        double mu = s[2 * map[i]] / cnt, var = s[2 * map[i] + 1] / cnt - mu * mu;
        nb__f(o)[i] = (float)((nb__f(x)[i] - mu) / (sqrt(var < 0 ? 0 : var) + 1e-9));
    }
    out[0] = (ox_val){o, in[0].et};
    return NB_OK;
}

OX_OP(det)
{
    nb_tensor *x = in[0].t;
    if (x->ndim < 2 || x->shape[x->ndim - 1] != x->shape[x->ndim - 2]) return ox_fail(m, n, NB_ERR_SHAPE, "needs square matrices, got %s", nb__tshape(x));
    int64_t k = x->shape[x->ndim - 1], batch = x->numel / (k != 0 ? k * k : 1);
    nb_tensor *o = nb__empty(m->ctx, NB_F32, x->ndim - 2, x->shape);
    double *a = nb__scratch(m->ctx, (size_t)(k * k + 1) * 8);
    if (!o || !a) return NB_ERR_MEM;
    for (int64_t b = 0; b < batch; b++) {
        for (int64_t i = 0; i < k * k; i++) a[i] = nb__f(x)[b * k * k + i];
        double det = 1;
        for (int64_t c = 0; c < k; c++) { /* Gaussian elimination with partial pivoting */
            int64_t p = c;
            for (int64_t r = c + 1; r < k; r++)
                if (fabs(a[r * k + c]) > fabs(a[p * k + c])) p = r;
            if (a[p * k + c] == 0) {
                det = 0;
                break;
            }
            if (p != c) {
                for (int64_t j = 0; j < k; j++) {
                    double t = a[c * k + j];
                    a[c * k + j] = a[p * k + j];
                    a[p * k + j] = t;
                }
                det = -det;
            }
            det *= a[c * k + c];
            for (int64_t r = c + 1; r < k; r++) {
                double f = a[r * k + c] / a[c * k + c];
                for (int64_t j = c; j < k; j++) a[r * k + j] -= f * a[c * k + j];
            }
        }
        nb__f(o)[b] = (float)det;
    }
    out[0] = (ox_val){o, in[0].et};
    return NB_OK;
}

/* ---- quantization ---- */

static int64_t clamp_q(double v, int et)
{
    double lo = et == OX_UINT8 ? 0 : -128, hi = et == OX_UINT8 ? 255 : 127;
    v = nearbyint(v); /* round half to even */
    return ox_f2i(v < lo ? lo : v > hi ? hi : v);
}

OX_OP(quantize_linear)
{
    nb_tensor *x = in[0].t, *sc = in[1].t, *zp = n->n_in > 2 ? in[2].t : NULL;
    int et = zp ? in[2].et : OX_UINT8;
    int axis = 1;
    if (sc->numel > 1 && axis_of(ox_attr_i(n, "axis", 1), x->ndim, &axis)) return ox_fail(m, n, NB_ERR_SHAPE, "axis out of range");
    int64_t inner = 1;
    for (int d = axis + 1; d < x->ndim; d++) inner *= x->shape[d];
    nb_tensor *o = nb__empty(m->ctx, NB_I64, x->ndim, x->shape);
    if (!o) return NB_ERR_MEM;
    for (int64_t i = 0; i < x->numel; i++) {
        int64_t c = sc->numel > 1 ? (i / inner) % x->shape[axis] : 0;
        float q = nearbyintf((float)ox_get_f(x, i) / (float)ox_get_f(sc, c)); /* in float32, as ONNX's reference */
        nb__i(o)[i] = clamp_q((double)q + (zp ? (double)ox_get_i(zp, zp->numel > 1 ? c : 0) : 0), et);
    }
    out[0] = (ox_val){o, et};
    return NB_OK;
}

OX_OP(dequantize_linear)
{
    nb_tensor *x = in[0].t, *sc = in[1].t, *zp = n->n_in > 2 ? in[2].t : NULL;
    int axis = 1;
    if (sc->numel > 1 && axis_of(ox_attr_i(n, "axis", 1), x->ndim, &axis)) return ox_fail(m, n, NB_ERR_SHAPE, "axis out of range");
    int64_t inner = 1;
    for (int d = axis + 1; d < x->ndim; d++) inner *= x->shape[d];
    nb_tensor *o = nb__empty(m->ctx, NB_F32, x->ndim, x->shape);
    if (!o) return NB_ERR_MEM;
    for (int64_t i = 0; i < x->numel; i++) {
        int64_t c = sc->numel > 1 ? (i / inner) % x->shape[axis] : 0;
        nb__f(o)[i] = (float)(((double)ox_get_i(x, i) - (zp ? (double)ox_get_i(zp, zp->numel > 1 ? c : 0) : 0)) * ox_get_f(sc, c));
    }
    out[0] = (ox_val){o, OX_FLOAT};
    return NB_OK;
}

OX_OP(dynamic_quantize_linear)
{
    nb_tensor *x = in[0].t;
    double lo = 0, hi = 0;
    for (int64_t i = 0; i < x->numel; i++) {
        double v = nb__f(x)[i];
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    float scale = (float)((hi - lo) / 255.0);
    double zpf = scale != 0 ? nearbyintf((float)(0 - lo) / scale) : 0;
    int64_t zp = ox_f2i(zpf < 0 ? 0 : zpf > 255 ? 255 : zpf);
    nb_tensor *o = nb__empty(m->ctx, NB_I64, x->ndim, x->shape), *s = nb__empty(m->ctx, NB_F32, 0, NULL), *z = nb__empty(m->ctx, NB_I64, 0, NULL);
    if (!o || !s || !z) return NB_ERR_MEM;
    for (int64_t i = 0; i < x->numel; i++) nb__i(o)[i] = clamp_q(scale != 0 ? (double)nearbyintf(nb__f(x)[i] / scale) + (double)zp : (double)zp, OX_UINT8);
    nb__f(s)[0] = scale;
    nb__i(z)[0] = zp;
    (void)n;
    out[0] = (ox_val){o, OX_UINT8};
    out[1] = (ox_val){s, OX_FLOAT};
    out[2] = (ox_val){z, OX_UINT8};
    return NB_OK;
}

/* ---- windows: Hann, Hamming, Blackman ---- */

OX_OP(window)
{
    int64_t N = ox_get_i(in[0].t, 0);
    if (N < 0 || N > (1 << 24)) return ox_fail(m, n, NB_ERR_ARG, "size %lld", (long long)N);
    int periodic = (int)ox_attr_i(n, "periodic", 1), et = (int)ox_attr_i(n, "output_datatype", OX_FLOAT);
    const char *op = n->p->op_type;
    nb_tensor *o = ox_new(m->ctx, et, 1, &N);
    if (!o) return NB_ERR_MEM;
    double D = periodic ? (double)N : (double)(N - 1);
    for (int64_t i = 0; i < N; i++) {
        double t = 2 * M_PI * (double)i / D, v;
        if (!strcmp(op, "HannWindow")) v = 0.5 - 0.5 * cos(t);
        else if (!strcmp(op, "HammingWindow")) v = 25.0 / 46 - (1 - 25.0 / 46) * cos(t);
        else v = 0.42 - 0.5 * cos(t) + 0.08 * cos(2 * t);
        set_any(o, i, v);
    }
    out[0] = (ox_val){o, et};
    return NB_OK;
}
