/* ops_sample.c - GridSample (PyTorch's grid_sample, which ONNX's reference data
 * comes from), MaxUnpool and RoiAlign; forward only.
 * Layout: X (N, C, H, W); grid (N, Ho, Wo, 2) holding (x, y) in [-1, 1]. */
#include "onnx/onnx_internal.h"

#include <math.h>
#include <string.h>

static double unnormalize(double c, int64_t size, int align)
{
    return align ? (c + 1) / 2 * (double)(size - 1) : ((c + 1) * (double)size - 1) / 2;
}

static double reflect(double in, double twice_low, double twice_high)
{
    if (twice_low == twice_high) return 0;
    double lo = twice_low / 2, span = (twice_high - twice_low) / 2;
    in = fabs(in - lo);
    double extra = fmod(in, span);
    int64_t flips = ox_f2i(floor(in / span));
    return flips % 2 == 0 ? extra + lo : span - extra + lo;
}

/* padding: 0 zeros, 1 border, 2 reflection */
static double compute_coord(double c, int64_t size, int pad, int align)
{
    if (pad == 1) c = fmin(fmax(c, 0), (double)(size - 1));
    else if (pad == 2) {
        c = align ? reflect(c, 0, 2.0 * (double)(size - 1)) : reflect(c, -1, 2.0 * (double)size - 1);
        c = fmin(fmax(c, 0), (double)(size - 1));
    }
    return c;
}

static double at(const float *p, int64_t H, int64_t W, int64_t y, int64_t x)
{
    return y >= 0 && y < H && x >= 0 && x < W ? p[y * W + x] : 0;
}

OX_CHECK(grid_sample)
{
    char b1[16], b2[16];
    const char *mode = ox_attr_s(n, "mode", "bilinear", b1, sizeof b1), *pad = ox_attr_s(n, "padding_mode", "zeros", b2, sizeof b2);
    if (strcmp(mode, "bilinear") && strcmp(mode, "nearest") && strcmp(mode, "bicubic"))
        return ox_fail(m, n, NB_ERR_FORMAT, "mode '%s' not supported", mode);
    if (strcmp(pad, "zeros") && strcmp(pad, "border") && strcmp(pad, "reflection"))
        return ox_fail(m, n, NB_ERR_FORMAT, "padding_mode '%s' not supported", pad);
    return NB_OK;
}

OX_OP(grid_sample)
{
    nb_tensor *x = ox_as_float(in[0]), *g = ox_as_float(in[1]);
    if (x->ndim != 4 || g->ndim != 4 || g->shape[0] != x->shape[0] || g->shape[3] != 2)
        return ox_fail(m, n, NB_ERR_SHAPE, "X %s and grid %s do not fit (N, C, H, W) and (N, Ho, Wo, 2)", nb__tshape(x), nb__tshape(g));
    char b1[16], b2[16];
    const char *mode = ox_attr_s(n, "mode", "bilinear", b1, sizeof b1), *pm = ox_attr_s(n, "padding_mode", "zeros", b2, sizeof b2);
    int pad = !strcmp(pm, "border") ? 1 : !strcmp(pm, "reflection") ? 2 : 0, align = (int)ox_attr_i(n, "align_corners", 0);
    int md = !strcmp(mode, "nearest") ? 1 : !strcmp(mode, "bicubic") ? 2 : 0;
    int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3], Ho = g->shape[1], Wo = g->shape[2];
    int64_t shape[4] = {N, C, Ho, Wo};
    nb_tensor *y = nb__empty(m->ctx, NB_F32, 4, shape);
    if (!y) return NB_ERR_MEM;
    for (int64_t b = 0; b < N; b++)
        for (int64_t i = 0; i < Ho * Wo; i++) {
            double gx = nb__f(g)[(b * Ho * Wo + i) * 2], gy = nb__f(g)[(b * Ho * Wo + i) * 2 + 1];
            double ix = unnormalize(gx, W, align), iy = unnormalize(gy, H, align);
            for (int64_t c = 0; c < C; c++) {
                const float *p = nb__f(x) + (b * C + c) * H * W;
                double v = 0;
                if (md == 2) { /* bicubic: taps fetched through the padding mode */
                    double fx = floor(ix), fy = floor(iy), tx = ix - fx, ty = iy - fy;
                    for (int r = 0; r < 4; r++) {
                        double row = 0;
                        for (int q = 0; q < 4; q++) {
                            double cx = compute_coord(fx - 1 + q, W, pad, align), cy = compute_coord(fy - 1 + r, H, pad, align);
                            row += ox_cubic(tx - (q - 1), -0.75) * at(p, H, W, ox_f2i(cy), ox_f2i(cx));
                        }
                        v += ox_cubic(ty - (r - 1), -0.75) * row;
                    }
                } else {
                    double cx = compute_coord(ix, W, pad, align), cy = compute_coord(iy, H, pad, align);
                    if (md == 1) v = at(p, H, W, ox_f2i(nearbyint(cy)), ox_f2i(nearbyint(cx)));
                    else {
                        double x0 = floor(cx), y0 = floor(cy), wx = cx - x0, wy = cy - y0;
                        int64_t a = (int64_t)x0, bb = (int64_t)y0;
                        v = (1 - wx) * (1 - wy) * at(p, H, W, bb, a) + wx * (1 - wy) * at(p, H, W, bb, a + 1) +
                            (1 - wx) * wy * at(p, H, W, bb + 1, a) + wx * wy * at(p, H, W, bb + 1, a + 1);
                    }
                }
                nb__f(y)[(b * C + c) * Ho * Wo + i] = (float)v;
            }
        }
    out[0] = (ox_val){y, in[0].et};
    return NB_OK;
}

/* MaxUnpool: X (N, C, *in) values to the flat positions in I of a (N, C, *out) of zeros */
OX_OP(max_unpool)
{
    nb_tensor *x = in[0].t, *ind = in[1].t;
    int k = x->ndim - 2, c;
    if (k < 1 || !nb__same_shape(x, ind)) return ox_fail(m, n, NB_ERR_SHAPE, "X %s and I %s", nb__tshape(x), nb__tshape(ind));
    const int64_t *ks = ox_attr_ints(n, "kernel_shape", &c), *pd, *st;
    int cp, cs;
    pd = ox_attr_ints(n, "pads", &cp);
    st = ox_attr_ints(n, "strides", &cs);
    if (c != k || (cp >= 0 && cp != 2 * k) || (cs >= 0 && cs != k)) return ox_fail(m, n, NB_ERR_ARG, "kernel_shape, pads, strides do not fit %s", nb__tshape(x));
    int64_t shape[NB_MAX_DIMS] = {x->shape[0], x->shape[1]}, def[NB_MAX_DIMS] = {x->shape[0], x->shape[1]};
    for (int i = 0; i < k; i++) {
        if (ks[i] <= 0 || ks[i] > (1 << 16) || (st && (st[i] <= 0 || st[i] > (1 << 16))) || (pd && (pd[i] < 0 || pd[i + k] < 0 || pd[i] > (1 << 16) || pd[i + k] > (1 << 16))))
            return ox_fail(m, n, NB_ERR_ARG, "kernel_shape, strides or pads out of range");
        def[2 + i] = (x->shape[2 + i] - 1) * (st ? st[i] : 1) - (pd ? pd[i] + pd[i + k] : 0) + ks[i];
        if (def[2 + i] <= 0) return ox_fail(m, n, NB_ERR_ARG, "the unpooled size would be %lld", (long long)def[2 + i]);
    }
    if (n->n_in > 2 && in[2].t) {
        int no;
        nb_status s = ox_ints_of(m, n, in[2], shape, NB_MAX_DIMS, &no, "output_shape");
        if (s) return s;
        if (no != x->ndim) return ox_fail(m, n, NB_ERR_SHAPE, "output_shape has %d values", no);
    } else
        memcpy(shape, def, sizeof def);
    nb_tensor *y = ox_new(m->ctx, in[0].et, x->ndim, shape);
    if (!y) return NB_ERR_MEM;
    memset(y->data, 0, (size_t)y->numel * (y->dtype == NB_F32 ? 4 : 8));
    for (int64_t i = 0; i < x->numel; i++) {
        int64_t j = ox_get_i(ind, i), dn = nb__numel(x->ndim, def);
        if (j < 0 || j >= dn) return ox_fail(m, n, NB_ERR_ARG, "index %lld outside the unpooled shape", (long long)j);
        /* indices address the default unpooled shape; place them at the same coordinates of output_shape */
        int64_t rem = j, off = 0, mul = 1;
        for (int d = x->ndim - 1; d >= 0; d--) {
            int64_t cd = rem % def[d];
            rem /= def[d];
            if (cd >= shape[d]) return ox_fail(m, n, NB_ERR_ARG, "index %lld outside output_shape", (long long)j);
            off += cd * mul;
            mul *= shape[d];
        }
        j = off;
        if (y->dtype == NB_F32) nb__f(y)[j] = nb__f(x)[i];
        else nb__i(y)[j] = nb__i(x)[i];
    }
    out[0] = (ox_val){y, in[0].et};
    return NB_OK;
}

/* RoiAlign (opset 16): average or max of sampled bilinear values per output bin */
OX_OP(roi_align)
{
    nb_tensor *x = ox_as_float(in[0]), *rois = ox_as_float(in[1]), *bi = in[2].t;
    if (x->ndim != 4 || rois->ndim != 2 || rois->shape[1] != 4 || bi->numel != rois->shape[0])
        return ox_fail(m, n, NB_ERR_SHAPE, "X %s, rois %s, batch_indices %s", nb__tshape(x), nb__tshape(rois), nb__tshape(bi));
    char b1[8], b2[24];
    int is_max = !strcmp(ox_attr_s(n, "mode", "avg", b1, sizeof b1), "max");
    const char *ctm = ox_attr_s(n, "coordinate_transformation_mode", m->opset < 16 ? "output_half_pixel" : "half_pixel", b2, sizeof b2);
    double off = !strcmp(ctm, "half_pixel") ? 0.5 : 0;
    int64_t oh = ox_attr_i(n, "output_height", 1), ow = ox_attr_i(n, "output_width", 1), sr = ox_attr_i(n, "sampling_ratio", 0);
    float scale = ox_attr_f(n, "spatial_scale", 1.0f);
    int64_t R = rois->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    if (oh <= 0 || ow <= 0 || oh > 4096 || ow > 4096 || sr > 64) return ox_fail(m, n, NB_ERR_ARG, "output size %lldx%lld, sampling_ratio %lld", (long long)oh, (long long)ow, (long long)sr);
    int64_t shape[4] = {R, C, oh, ow};
    nb_tensor *y = nb__empty(m->ctx, NB_F32, 4, shape);
    if (!y) return NB_ERR_MEM;
    for (int64_t r = 0; r < R; r++) {
        int64_t b = ox_get_i(bi, r);
        if (b < 0 || b >= x->shape[0]) return ox_fail(m, n, NB_ERR_ARG, "batch index %lld", (long long)b);
        const float *q = nb__f(rois) + r * 4;
        double x1 = q[0] * scale - off, y1 = q[1] * scale - off, x2 = q[2] * scale - off, y2 = q[3] * scale - off;
        double rw = x2 - x1, rh = y2 - y1;
        if (off == 0) rw = fmax(rw, 1), rh = fmax(rh, 1);
        double bw = rw / (double)ow, bh = rh / (double)oh;
        int64_t gh = sr > 0 ? sr : ox_f2i(ceil(rh / (double)oh)), gw = sr > 0 ? sr : ox_f2i(ceil(rw / (double)ow));
        if (gh < 1) gh = 1;
        if (gw < 1) gw = 1;
        for (int64_t c = 0; c < C; c++) {
            const float *p = nb__f(x) + (b * C + c) * H * W;
            for (int64_t i = 0; i < oh; i++)
                for (int64_t j = 0; j < ow; j++) {
                    double acc = 0, mx = 0;
                    int first = 1;
                    for (int64_t a = 0; a < gh; a++)
                        for (int64_t e = 0; e < gw; e++) {
                            double yy = y1 + (double)i * bh + ((double)a + 0.5) * bh / (double)gh;
                            double xx = x1 + (double)j * bw + ((double)e + 0.5) * bw / (double)gw;
                            double v = 0;
                            if (!(yy < -1.0 || yy > (double)H || xx < -1.0 || xx > (double)W)) {
                                if (yy <= 0) yy = 0;
                                if (xx <= 0) xx = 0;
                                int64_t y0 = ox_f2i(yy), x0 = ox_f2i(xx), y1i, x1i;
                                if (y0 >= H - 1) y0 = y1i = H - 1, yy = (double)y0;
                                else y1i = y0 + 1;
                                if (x0 >= W - 1) x0 = x1i = W - 1, xx = (double)x0;
                                else x1i = x0 + 1;
                                double ly = yy - (double)y0, lx = xx - (double)x0, hy = 1 - ly, hx = 1 - lx;
                                double w1 = hy * hx, w2 = hy * lx, w3 = ly * hx, w4 = ly * lx;
                                if (is_max) {
                                    v = fmax(fmax(w1 * p[y0 * W + x0], w2 * p[y0 * W + x1i]), fmax(w3 * p[y1i * W + x0], w4 * p[y1i * W + x1i]));
                                } else
                                    v = w1 * p[y0 * W + x0] + w2 * p[y0 * W + x1i] + w3 * p[y1i * W + x0] + w4 * p[y1i * W + x1i];
                            }
                            if (is_max) {
                                mx = first || v > mx ? v : mx;
                                first = 0;
                            } else acc += v;
                        }
                    nb__f(y)[((r * C + c) * oh + i) * ow + j] = (float)(is_max ? mx : acc / (double)(gh * gw));
                }
        }
    }
    out[0] = (ox_val){y, in[0].et};
    return NB_OK;
}
