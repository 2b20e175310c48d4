/* ops_misc.c - Einsum, Unique, NonMaxSuppression, the integer and QLinear products
 * (through the float Conv/MatMul on exactly representable values), DFT and STFT;
 * forward only. */
#include "onnx/onnx_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- Einsum: one loop over every letter's range ---- */

#define EIN_MAX_IN 8

OX_OP(einsum)
{
    char eq[256];
    ox_attr_s(n, "equation", "", eq, sizeof eq);
    int nin = n->n_in;
    if (nin > EIN_MAX_IN) return ox_fail(m, n, NB_ERR_ARG, "more than %d inputs", EIN_MAX_IN);
    for (int t = 0; t < nin; t++)
        if (!in[t].t) return ox_fail(m, n, NB_ERR_ARG, "input %d has no value", t);
    /* split "a,b->c"; "..." becomes letters '0'.. for the broadcast dims */
    char terms[EIN_MAX_IN + 1][64];
    int nt = 0, has_out = 0;
    size_t k = 0;
    char cur[64];
    int cl = 0;
    for (k = 0;; k++) {
        char ch = eq[k];
        if (ch == ' ') continue;
        if (ch == ',' || ch == 0 || (ch == '-' && eq[k + 1] == '>')) {
            cur[cl] = 0;
            if (nt > EIN_MAX_IN) return ox_fail(m, n, NB_ERR_ARG, "equation '%s' has too many terms", eq);
            strcpy(terms[nt++], cur);
            cl = 0;
            if (ch == '-') {
                has_out = 1;
                k++;
            }
            if (!ch) break;
            continue;
        }
        if (cl >= 60) return ox_fail(m, n, NB_ERR_ARG, "equation '%s' too long", eq);
        cur[cl++] = ch;
    }
    if (nt != nin + has_out) return ox_fail(m, n, NB_ERR_ARG, "equation '%s' has %d terms for %d inputs", eq, nt - has_out, nin);
    int64_t size[128];
    int seen[128] = {0}, count[128] = {0};
    for (int c = 0; c < 128; c++) size[c] = -1;
    char lett[EIN_MAX_IN + 1][NB_MAX_DIMS + 1];
    int nl[EIN_MAX_IN + 1];
    int ell_dims = 0;
    for (int t = 0; t < nin; t++) {
        nb_tensor *x = in[t].t;
        const char *s = terms[t];
        const char *e = strstr(s, "...");
        int named = (int)strlen(s) - (e ? 3 : 0);
        int ed = e ? x->ndim - named : 0;
        if (ed < 0 || x->ndim > NB_MAX_DIMS) return ox_fail(m, n, NB_ERR_SHAPE, "term '%s' does not fit input %s", s, nb__tshape(x));
        if (e) ell_dims = ed > ell_dims ? ed : ell_dims;
        int q = 0;
        for (const char *p = s; *p;) {
            if (q + (p[0] == '.' ? ed : 1) > x->ndim)
                return ox_fail(m, n, NB_ERR_SHAPE, "term '%s' has more letters than input %s has dims", s, nb__tshape(x));
            if (p[0] == '.' && p[1] == '.' && p[2] == '.') {
                for (int i = 0; i < ed; i++) lett[t][q++] = (char)('0' + (ell_dims - ed) + i);
                p += 3;
                continue;
            }
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) return ox_fail(m, n, NB_ERR_ARG, "bad letter in '%s'", s);
            lett[t][q++] = *p++;
        }
        if (q != x->ndim) return ox_fail(m, n, NB_ERR_SHAPE, "term '%s' has %d letters for input %s", s, q, nb__tshape(x));
        nl[t] = q;
        for (int i = 0; i < q; i++) {
            int c = (unsigned char)lett[t][i];
            int64_t d = x->shape[i];
            if (size[c] < 0 || size[c] == 1) size[c] = d;
            else if (d != size[c] && d != 1) return ox_fail(m, n, NB_ERR_SHAPE, "letter '%c' is %lld and %lld", c, (long long)size[c], (long long)d);
            seen[c] = 1;
            count[c]++;
        }
    }
    /* output letters: given, or the ellipsis then the letters seen once, sorted */
    char ol[NB_MAX_DIMS + 1];
    int no = 0;
    if (has_out) {
        const char *s = terms[nin];
        for (const char *p = s; *p;) {
            if (p[0] == '.' && p[1] == '.' && p[2] == '.') {
                for (int i = 0; i < ell_dims; i++) ol[no++] = (char)('0' + i);
                p += 3;
                continue;
            }
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) return ox_fail(m, n, NB_ERR_ARG, "bad letter in '%s'", s);
            if (no >= NB_MAX_DIMS || !seen[(unsigned char)*p]) return ox_fail(m, n, NB_ERR_ARG, "output letter '%c' is in no input", *p);
            ol[no++] = *p++;
        }
    } else {
        for (int i = 0; i < ell_dims; i++) ol[no++] = (char)('0' + i);
        for (int c = 'A'; c <= 'z'; c++)
            if (seen[c] && count[c] == 1 && c > '9' && no < NB_MAX_DIMS) ol[no++] = (char)c;
    }
    int is_out[128] = {0};
    int64_t oshape[NB_MAX_DIMS];
    for (int i = 0; i < no; i++) {
        is_out[(unsigned char)ol[i]] = 1;
        oshape[i] = size[(unsigned char)ol[i]];
    }
    char all[64];
    int na = 0;
    for (int i = 0; i < no; i++) all[na++] = ol[i];
    for (int c = 0; c < 128; c++)
        if (seen[c] && !is_out[c]) all[na++] = (char)c;
    double total = 1;
    for (int i = 0; i < na; i++) total *= (double)size[(unsigned char)all[i]];
    if (total > 1e8) return ox_fail(m, n, NB_ERR_ARG, "equation '%s' needs %.3g products", eq, total);
    nb_tensor *o = ox_new(m->ctx, in[0].et, no, oshape);
    if (!o) return NB_ERR_MEM;
    double *acc = nb__scratch(m->ctx, (size_t)(o->numel + 1) * 8);
    if (!acc) return NB_ERR_MEM;
    memset(acc, 0, (size_t)(o->numel + 1) * 8);
    int64_t idx[64] = {0}, val[128] = {0};
    int64_t T = (int64_t)total;
    for (int64_t it = 0; it < T; it++) {
        for (int i = 0; i < na; i++) val[(unsigned char)all[i]] = idx[i];
        double prod = 1;
        for (int t = 0; t < nin; t++) {
            nb_tensor *x = in[t].t;
            int64_t off = 0;
            for (int i = 0; i < nl[t]; i++) off = off * x->shape[i] + (x->shape[i] == 1 ? 0 : val[(unsigned char)lett[t][i]]);
            prod *= ox_get_f(x, off);
        }
        int64_t oo = 0;
        for (int i = 0; i < no; i++) oo = oo * oshape[i] + idx[i];
        acc[oo] += prod;
        for (int i = na - 1; i >= 0; i--) {
            if (++idx[i] < size[(unsigned char)all[i]]) break;
            idx[i] = 0;
        }
    }
    for (int64_t i = 0; i < o->numel; i++)
        if (o->dtype == NB_F32) nb__f(o)[i] = (float)acc[i];
        else nb__i(o)[i] = ox_f2i(acc[i]);
    out[0] = (ox_val){o, in[0].et};
    return NB_OK;
}

/* ---- Unique ---- */

/* qsort has no context argument: the comparators read these (per thread) */
static _Thread_local const nb_tensor *g_u_x;
static _Thread_local int64_t g_u_inner, g_u_L, g_u_outer;

/* compare slices a and b along the axis (lexicographic over outer, inner) */
static int slice_cmp(int64_t a, int64_t b)
{
    for (int64_t o = 0; o < g_u_outer; o++)
        for (int64_t q = 0; q < g_u_inner; q++) {
            double x = ox_get_f(g_u_x, (o * g_u_L + a) * g_u_inner + q), y = ox_get_f(g_u_x, (o * g_u_L + b) * g_u_inner + q);
            if (x != y) return x < y ? -1 : 1;
        }
    return 0;
}

static int slice_qcmp(const void *a, const void *b)
{
    int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
    int c = slice_cmp(i, j);
    return c ? c : (i > j) - (i < j);
}

OX_OP(unique)
{
    nb_tensor *x = in[0].t;
    const Onnx__AttributeProto *aa = ox_attr(n, "axis");
    int sorted = (int)ox_attr_i(n, "sorted", 1), axis = -1;
    if (aa) {
        int64_t a = aa->i;
        if (a < -x->ndim || a >= x->ndim) return ox_fail(m, n, NB_ERR_SHAPE, "axis out of range");
        axis = (int)(a < 0 ? a + x->ndim : a);
    }
    g_u_x = x;
    g_u_outer = 1, g_u_inner = 1;
    g_u_L = axis < 0 ? x->numel : x->shape[axis];
    if (axis >= 0) {
        for (int d = 0; d < axis; d++) g_u_outer *= x->shape[d];
        for (int d = axis + 1; d < x->ndim; d++) g_u_inner *= x->shape[d];
    }
    int64_t L = g_u_L;
    int64_t *order = nb__scratch(m->ctx, (size_t)(L + 1) * 8), *first = nb__scratch(m->ctx, (size_t)(L + 1) * 8);
    int64_t *inv = nb__scratch(m->ctx, (size_t)(L + 1) * 8), *cnt = nb__scratch(m->ctx, (size_t)(L + 1) * 8);
    int64_t *grp = nb__scratch(m->ctx, (size_t)(L + 1) * 8);
    if (!order || !first || !inv || !cnt || !grp) return NB_ERR_MEM;
    for (int64_t i = 0; i < L; i++) order[i] = i;
    qsort(order, (size_t)L, 8, slice_qcmp);
    /* groups in sorted order; first occurrence = smallest index of each group */
    int64_t ng = 0;
    for (int64_t i = 0; i < L; i++) {
        if (i == 0 || slice_cmp(order[i - 1], order[i])) {
            first[ng] = order[i];
            cnt[ng] = 0;
            ng++;
        }
        grp[order[i]] = ng - 1;
        cnt[ng - 1]++;
    }
    int64_t *rank = nb__scratch(m->ctx, (size_t)(ng + 1) * 8), *pos = nb__scratch(m->ctx, (size_t)(ng + 1) * 8);
    if (!rank || !pos) return NB_ERR_MEM;
    for (int64_t g = 0; g < ng; g++) pos[g] = g;
    if (!sorted) { /* order of first occurrence */
        for (int64_t a = 1; a < ng; a++)
            for (int64_t b = a; b > 0 && first[pos[b - 1]] > first[pos[b]]; b--) {
                int64_t t = pos[b];
                pos[b] = pos[b - 1];
                pos[b - 1] = t;
            }
    }
    for (int64_t g = 0; g < ng; g++) rank[pos[g]] = g;
    int64_t shape[NB_MAX_DIMS];
    int nd = axis < 0 ? 1 : x->ndim;
    if (axis < 0) shape[0] = ng;
    else {
        memcpy(shape, x->shape, sizeof shape);
        shape[axis] = ng;
    }
    int64_t *map = nb__scratch(m->ctx, (size_t)(g_u_outer * ng * g_u_inner + 1) * 8);
    nb_tensor *ind = nb__empty(m->ctx, NB_I64, 1, &ng), *iv = nb__empty(m->ctx, NB_I64, 1, &L), *ct = nb__empty(m->ctx, NB_I64, 1, &ng);
    if (!map || !ind || !iv || !ct) return NB_ERR_MEM;
    for (int64_t o = 0; o < g_u_outer; o++)
        for (int64_t g = 0; g < ng; g++)
            for (int64_t q = 0; q < g_u_inner; q++) map[(o * ng + g) * g_u_inner + q] = (o * L + first[pos[g]]) * g_u_inner + q;
    for (int64_t g = 0; g < ng; g++) {
        nb__i(ind)[g] = first[pos[g]];
        nb__i(ct)[g] = cnt[pos[g]];
    }
    for (int64_t i = 0; i < L; i++) nb__i(iv)[i] = rank[grp[i]];
    out[0] = (ox_val){ox_gather_map(x, nd, shape, map, 0), in[0].et};
    if (n->n_out > 1) out[1] = (ox_val){ind, OX_INT64};
    if (n->n_out > 2) out[2] = (ox_val){iv, OX_INT64};
    if (n->n_out > 3) out[3] = (ox_val){ct, OX_INT64};
    return out[0].t ? NB_OK : NB_ERR_MEM;
}

/* ---- NonMaxSuppression ---- */

static _Thread_local const float *g_nms_s;

static int nms_cmp(const void *a, const void *b)
{
    int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
    if (g_nms_s[i] != g_nms_s[j]) return g_nms_s[i] < g_nms_s[j] ? 1 : -1;
    return (i > j) - (i < j);
}

static void corners(const float *b, int center, double *y1, double *x1, double *y2, double *x2)
{
    if (center) {
        *x1 = b[0] - b[2] / 2, *x2 = b[0] + b[2] / 2, *y1 = b[1] - b[3] / 2, *y2 = b[1] + b[3] / 2;
    } else {
        *y1 = fmin(b[0], b[2]), *y2 = fmax(b[0], b[2]), *x1 = fmin(b[1], b[3]), *x2 = fmax(b[1], b[3]);
    }
}

OX_OP(nms)
{
    nb_tensor *boxes = ox_as_float(in[0]), *scores = ox_as_float(in[1]);
    if (boxes->ndim != 3 || boxes->shape[2] != 4 || scores->ndim != 3 || scores->shape[0] != boxes->shape[0] || scores->shape[2] != boxes->shape[1])
        return ox_fail(m, n, NB_ERR_SHAPE, "boxes %s and scores %s do not fit (N, B, 4), (N, C, B)", nb__tshape(boxes), nb__tshape(scores));
    int64_t maxo = n->n_in > 2 && in[2].t && in[2].t->numel ? ox_get_i(in[2].t, 0) : 0;
    double iou_t = n->n_in > 3 && in[3].t && in[3].t->numel ? ox_get_f(in[3].t, 0) : 0;
    int has_st = n->n_in > 4 && in[4].t && in[4].t->numel;
    double st = has_st ? ox_get_f(in[4].t, 0) : 0;
    int center = (int)ox_attr_i(n, "center_point_box", 0);
    int64_t N = boxes->shape[0], B = boxes->shape[1], C = scores->shape[1];
    int64_t *cand = nb__scratch(m->ctx, (size_t)(B + 1) * 8), *sel = nb__scratch(m->ctx, (size_t)(N * C * B + 1) * 3 * 8);
    int64_t *chosen = nb__scratch(m->ctx, (size_t)(B + 1) * 8), ns = 0;
    if (!cand || !sel || !chosen) return NB_ERR_MEM;
    for (int64_t b = 0; b < N; b++)
        for (int64_t c = 0; c < C; c++) {
            g_nms_s = nb__f(scores) + (b * C + c) * B;
            int64_t nc = 0, nch = 0;
            for (int64_t i = 0; i < B; i++)
                if (!has_st || g_nms_s[i] > st) cand[nc++] = i;
            qsort(cand, (size_t)nc, 8, nms_cmp);
            for (int64_t k = 0; k < nc && nch < maxo; k++) {
                double ay1, ax1, ay2, ax2;
                corners(nb__f(boxes) + (b * B + cand[k]) * 4, center, &ay1, &ax1, &ay2, &ax2);
                int keep = 1;
                for (int64_t q = 0; q < nch && keep; q++) {
                    double by1, bx1, by2, bx2;
                    corners(nb__f(boxes) + (b * B + chosen[q]) * 4, center, &by1, &bx1, &by2, &bx2);
                    double iw = fmin(ax2, bx2) - fmax(ax1, bx1), ih = fmin(ay2, by2) - fmax(ay1, by1);
                    double inter = iw > 0 && ih > 0 ? iw * ih : 0;
                    double uni = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter;
                    if (inter > 0 && uni > 0 && inter / uni > iou_t) keep = 0;
                }
                if (!keep) continue;
                chosen[nch++] = cand[k];
                sel[ns * 3] = b, sel[ns * 3 + 1] = c, sel[ns * 3 + 2] = cand[k];
                ns++;
            }
        }
    int64_t shape[2] = {ns, 3};
    nb_tensor *o = nb__empty(m->ctx, NB_I64, 2, shape);
    if (!o) return NB_ERR_MEM;
    memcpy(o->data, sel, (size_t)ns * 3 * 8);
    out[0] = (ox_val){o, OX_INT64};
    return NB_OK;
}

/* ---- integer and QLinear products: exact in float for 8-bit inputs ---- */

/* (x - zp) as float; zp per tensor, or per channel along axis 0 (weights) */
static nb_tensor *dequant(ox_model *m, ox_val x, ox_val zp, ox_val scale, int axis0)
{
    nb_tensor *o = nb__empty(m->ctx, NB_F32, x.t->ndim, x.t->shape);
    if (!o) return NULL;
    int64_t inner = x.t->ndim ? x.t->numel / (x.t->shape[0] ? x.t->shape[0] : 1) : 1;
    for (int64_t i = 0; i < o->numel; i++) {
        int64_t c = axis0 && inner ? i / inner : 0;
        double z = zp.t && zp.t->numel ? (double)ox_get_i(zp.t, zp.t->numel > 1 ? c : 0) : 0;
        double s = scale.t && scale.t->numel ? ox_get_f(scale.t, scale.t->numel > 1 ? c : 0) : 1;
        nb__f(o)[i] = (float)(((double)ox_get_i(x.t, i) - z) * s);
    }
    return o;
}

static nb_tensor *requant(ox_model *m, nb_tensor *y, ox_val scale, ox_val zp, int et)
{
    nb_tensor *o = nb__empty(m->ctx, NB_I64, y->ndim, y->shape);
    if (!o) return NULL;
    double s = ox_get_f(scale.t, 0), z = zp.t && zp.t->numel ? (double)ox_get_i(zp.t, 0) : 0;
    double lo = et == OX_UINT8 ? 0 : -128, hi = et == OX_UINT8 ? 255 : 127;
    for (int64_t i = 0; i < o->numel; i++) {
        double v = nearbyint(nb__f(y)[i] / s) + z;
        nb__i(o)[i] = ox_f2i(v < lo ? lo : v > hi ? hi : v);
    }
    return o;
}

OX_OP(conv_integer)
{
    ox_val none = {0}, xi[3];
    xi[0] = (ox_val){dequant(m, in[0], n->n_in > 2 ? in[2] : none, none, 0), OX_FLOAT};
    xi[1] = (ox_val){dequant(m, in[1], n->n_in > 3 ? in[3] : none, none, 1), OX_FLOAT};
    if (!xi[0].t || !xi[1].t) return NB_ERR_MEM;
    ox_node n2 = *n;
    n2.n_in = 2;
    nb_status st = ox_op_conv(m, &n2, xi, out);
    if (st) return st;
    out[0] = (ox_val){ox_cast(out[0].t, OX_FLOAT, OX_INT32), OX_INT32};
    return out[0].t ? NB_OK : NB_ERR_MEM;
}

OX_OP(matmul_integer)
{
    ox_val none = {0}, xi[2];
    xi[0] = (ox_val){dequant(m, in[0], n->n_in > 2 ? in[2] : none, none, 0), OX_FLOAT};
    xi[1] = (ox_val){dequant(m, in[1], none, none, 0), OX_FLOAT};
    if (!xi[0].t || !xi[1].t) return NB_ERR_MEM;
    if (!xi[0].t->ndim || !xi[1].t->ndim) return ox_fail(m, n, NB_ERR_SHAPE, "scalars cannot be multiplied as matrices");
    if (n->n_in > 3 && in[3].t) { /* b's zero point: per column */
        nb_tensor *b = xi[1].t, *z = in[3].t;
        int64_t N = b->shape[b->ndim - 1];
        for (int64_t i = 0; i < b->numel; i++) nb__f(b)[i] -= (float)ox_get_i(z, z->numel > 1 ? i % N : 0);
    }
    nb_status st = ox_op_matmul(m, n, xi, out);
    if (st) return st;
    out[0] = (ox_val){ox_cast(out[0].t, OX_FLOAT, OX_INT32), OX_INT32};
    return out[0].t ? NB_OK : NB_ERR_MEM;
}

OX_OP(qlinear_matmul)
{
    ox_val xi[2];
    xi[0] = (ox_val){dequant(m, in[0], in[2], in[1], 0), OX_FLOAT};
    xi[1] = (ox_val){dequant(m, in[3], in[5], in[4], 0), OX_FLOAT};
    if (!xi[0].t || !xi[1].t) return NB_ERR_MEM;
    nb_status st = ox_op_matmul(m, n, xi, out);
    if (st) return st;
    int et = in[7].t ? in[7].et : OX_UINT8;
    out[0] = (ox_val){requant(m, out[0].t, in[6], in[7], et), et};
    return out[0].t ? NB_OK : NB_ERR_MEM;
}

OX_OP(qlinear_conv)
{
    ox_val xi[3];
    xi[0] = (ox_val){dequant(m, in[0], in[2], in[1], 0), OX_FLOAT};
    xi[1] = (ox_val){dequant(m, in[3], in[5], in[4], 1), OX_FLOAT};
    xi[2] = (ox_val){NULL, 0};
    if (!xi[0].t || !xi[1].t) return NB_ERR_MEM;
    if (n->n_in > 8 && in[8].t) { /* int32 bias in units of x_scale·w_scale */
        int64_t M = in[8].t->numel;
        nb_tensor *b = nb__empty(m->ctx, NB_F32, 1, &M);
        if (!b) return NB_ERR_MEM;
        for (int64_t i = 0; i < M; i++)
            nb__f(b)[i] = (float)((double)ox_get_i(in[8].t, i) * ox_get_f(in[1].t, 0) * ox_get_f(in[4].t, in[4].t->numel > 1 ? i : 0));
        xi[2] = (ox_val){b, OX_FLOAT};
    }
    ox_node n2 = *n;
    n2.n_in = xi[2].t ? 3 : 2;
    nb_status st = ox_op_conv(m, &n2, xi, out);
    if (st) return st;
    int et = in[7].t ? in[7].et : OX_UINT8;
    out[0] = (ox_val){requant(m, out[0].t, in[6], in[7], et), et};
    return out[0].t ? NB_OK : NB_ERR_MEM;
}

/* ---- DFT (opset 17) and STFT: direct sums in double ---- */

OX_OP(dft)
{
    nb_tensor *x = ox_as_float(in[0]);
    int inverse = (int)ox_attr_i(n, "inverse", 0), onesided = (int)ox_attr_i(n, "onesided", 0);
    int64_t a = ox_attr_i(n, "axis", 1);
    if (x->ndim < 2 || (x->shape[x->ndim - 1] != 1 && x->shape[x->ndim - 1] != 2)) return ox_fail(m, n, NB_ERR_SHAPE, "input %s must end in 1 or 2", nb__tshape(x));
    int nd = x->ndim;
    if (a < 0) a += nd;
    if (a < 0 || a >= nd - 1) return ox_fail(m, n, NB_ERR_SHAPE, "axis out of range");
    int64_t L = x->shape[a], len = n->n_in > 1 && in[1].t && in[1].t->numel ? ox_get_i(in[1].t, 0) : L, cplx = x->shape[nd - 1];
    if (len <= 0 || len > (1 << 20)) return ox_fail(m, n, NB_ERR_ARG, "dft_length %lld", (long long)len);
    int64_t K = onesided ? len / 2 + 1 : len, outer = 1, inner = 1;
    for (int d = 0; d < a; d++) outer *= x->shape[d];
    for (int d = (int)a + 1; d < nd - 1; d++) inner *= x->shape[d];
    int64_t shape[NB_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[a] = K;
    shape[nd - 1] = 2;
    nb_tensor *o = nb__empty(m->ctx, NB_F32, nd, shape);
    if (!o) return NB_ERR_MEM;
    double sign = inverse ? 1 : -1;
    for (int64_t p = 0; p < outer; p++)
        for (int64_t q = 0; q < inner; q++)
            for (int64_t k = 0; k < K; k++) {
                double re = 0, im = 0;
                for (int64_t t = 0; t < len && t < L; t++) {
                    const float *v = nb__f(x) + ((p * L + t) * inner + q) * cplx;
                    double xr = v[0], xi = cplx == 2 ? v[1] : 0, ang = sign * 2 * M_PI * (double)(k * t % len) / (double)len;
                    re += xr * cos(ang) - xi * sin(ang);
                    im += xr * sin(ang) + xi * cos(ang);
                }
                if (inverse) re /= (double)len, im /= (double)len;
                float *w = nb__f(o) + ((p * K + k) * inner + q) * 2;
                w[0] = (float)re;
                w[1] = (float)im;
            }
    out[0] = (ox_val){o, in[0].et};
    return NB_OK;
}

OX_OP(stft)
{
    nb_tensor *x = ox_as_float(in[0]);
    if (x->ndim != 3 || (x->shape[2] != 1 && x->shape[2] != 2)) return ox_fail(m, n, NB_ERR_SHAPE, "signal %s must be (batch, length, 1 or 2)", nb__tshape(x));
    int64_t step = ox_get_i(in[1].t, 0), B = x->shape[0], L = x->shape[1], cplx = x->shape[2];
    nb_tensor *win = n->n_in > 2 && in[2].t ? ox_as_float(in[2]) : NULL;
    int64_t flen = n->n_in > 3 && in[3].t ? ox_get_i(in[3].t, 0) : win ? win->numel : 0;
    int onesided = (int)ox_attr_i(n, "onesided", 1);
    if (step <= 0 || flen <= 0 || flen > L || (win && win->numel != flen)) return ox_fail(m, n, NB_ERR_ARG, "frame_step %lld, frame_length %lld", (long long)step, (long long)flen);
    int64_t frames = (L - flen) / step + 1, K = onesided ? flen / 2 + 1 : flen;
    int64_t shape[4] = {B, frames, K, 2};
    nb_tensor *o = nb__empty(m->ctx, NB_F32, 4, shape);
    if (!o) return NB_ERR_MEM;
    for (int64_t b = 0; b < B; b++)
        for (int64_t f = 0; f < frames; f++)
            for (int64_t k = 0; k < K; k++) {
                double re = 0, im = 0;
                for (int64_t t = 0; t < flen; t++) {
                    const float *v = nb__f(x) + (b * L + f * step + t) * cplx;
                    double w = win ? nb__f(win)[t] : 1, xr = v[0] * w, xi = (cplx == 2 ? v[1] : 0) * w;
                    double ang = -2 * M_PI * (double)(k * t % flen) / (double)flen;
                    re += xr * cos(ang) - xi * sin(ang);
                    im += xr * sin(ang) + xi * cos(ang);
                }
                float *w = nb__f(o) + ((b * frames + f) * K + k) * 2;
                w[0] = (float)re;
                w[1] = (float)im;
            }
    out[0] = (ox_val){o, in[0].et};
    return NB_OK;
}
