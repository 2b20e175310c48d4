/* geometry.c - flips, crops, padding, resizing, rotation and affine warps as
 * torchvision's tensor path computes them (torchvision 0.14 functional_tensor.py and
 * ATen's interpolate / grid_sample kernels), plus the parameter samplers of
 * RandomCrop, RandomResizedCrop and RandomAffine.
 *
 * Layout: every kernel reads in (n, c, h, w) and writes out (n, c, oh, ow), both
 * contiguous; geometric kernels treat the n·c planes alike. Arithmetic follows the
 * reference in float where that decides a rounding (source coordinates of nearest
 * sampling), so results match to the last bit in most pixels. */
#include "augment/augment.h"
#include "core/error.h"
#include "core/arena.h"
#include "core/ctx.h"
#include "core/tensor.h"

#include <math.h>
#include <string.h>

/* ---- flips, crop, pad ---- */

void nb__k_hflip(const nb__img *in, nb__img *out)
{
    int64_t planes = in->n * in->c, h = in->h, w = in->w;
    for (int64_t p = 0; p < planes; p++)
        for (int64_t y = 0; y < h; y++) {
            const float *s = in->p + (p * h + y) * w;
            float *d = out->p + (p * h + y) * w;
            for (int64_t x = 0; x < w; x++) d[x] = s[w - 1 - x];
        }
}

void nb__k_vflip(const nb__img *in, nb__img *out)
{
    int64_t planes = in->n * in->c, h = in->h, w = in->w;
    for (int64_t p = 0; p < planes; p++)
        for (int64_t y = 0; y < h; y++)
            memcpy(out->p + (p * h + y) * w, in->p + (p * h + h - 1 - y) * w, (size_t)w * sizeof(float));
}

void nb__k_crop(const nb__img *in, nb__img *out, int64_t top, int64_t left, float fill)
{
    int64_t planes = in->n * in->c, h = in->h, w = in->w, oh = out->h, ow = out->w;
    for (int64_t p = 0; p < planes; p++)
        for (int64_t y = 0; y < oh; y++) {
            float *d = out->p + (p * oh + y) * ow;
            int64_t sy = top + y;
            if (sy < 0 || sy >= h) {
                for (int64_t x = 0; x < ow; x++) d[x] = fill;
                continue;
            }
            const float *s = in->p + (p * h + sy) * w;
            for (int64_t x = 0; x < ow; x++) {
                int64_t sx = left + x;
                d[x] = sx >= 0 && sx < w ? s[sx] : fill;
            }
        }
}

/* The source index of padded index i (in [-pad, n + pad)) for a non-constant mode. */
static inline int64_t pad_index(int64_t i, int64_t n, nb_pad_mode mode)
{
    if (i >= 0 && i < n) return i;
    switch (mode) {
    case NB_PAD_EDGE: return i < 0 ? 0 : n - 1;
    case NB_PAD_REFLECT: return i < 0 ? -i : 2 * (n - 1) - i; /* [1 2 3] -> 3 2 | 1 2 3 | 2 1 */
    default: return i < 0 ? -i - 1 : 2 * n - 1 - i;           /* symmetric: 2 1 | 1 2 3 | 3 2 */
    }
}

nb_status nb__pad_check(int64_t h, int64_t w, const int64_t ltrb[4], nb_pad_mode mode)
{
    static const char *side[4] = {"left", "top", "right", "bottom"};
    if ((unsigned)mode > NB_PAD_SYMMETRIC) return nb__fail(NB_ERR_ARG, "pad: unknown padding mode %d", (int)mode);
    for (int k = 0; k < 4; k++) {
        int64_t n = k % 2 ? h : w;
        if (ltrb[k] < 0)
            return nb__fail(NB_ERR_ARG, "pad: the %s padding is %lld; padding must be >= 0", side[k], (long long)ltrb[k]);
        if (ltrb[k] > (1 << 20))
            return nb__fail(NB_ERR_ARG, "pad: the %s padding %lld is too large", side[k], (long long)ltrb[k]);
        if (mode == NB_PAD_REFLECT && ltrb[k] >= n)
            return nb__fail(NB_ERR_ARG,
                            "pad: reflect padding must be smaller than the image size along it (%s padding %lld, "
                            "size %lld)",
                            side[k], (long long)ltrb[k], (long long)n);
        if (mode == NB_PAD_SYMMETRIC && ltrb[k] > n)
            return nb__fail(NB_ERR_ARG,
                            "pad: symmetric padding must be at most the image size along it (%s padding %lld, "
                            "size %lld)",
                            side[k], (long long)ltrb[k], (long long)n);
    }
    return NB_OK;
}

void nb__k_pad(const nb__img *in, nb__img *out, int64_t left, int64_t top, nb_pad_mode mode, float fill)
{
    if (mode == NB_PAD_CONSTANT) {
        nb__k_crop(in, out, -top, -left, fill);
        return;
    }
    int64_t planes = in->n * in->c, h = in->h, w = in->w, oh = out->h, ow = out->w;
    for (int64_t p = 0; p < planes; p++)
        for (int64_t y = 0; y < oh; y++) {
            const float *s = in->p + (p * h + pad_index(y - top, h, mode)) * w;
            float *d = out->p + (p * oh + y) * ow;
            for (int64_t x = 0; x < ow; x++) d[x] = s[pad_index(x - left, w, mode)];
        }
}

void nb__center_crop_origin(int64_t h, int64_t w, int64_t th, int64_t tw, int64_t *top, int64_t *left)
{
    /* F.center_crop: where the crop is larger, pad by (d//2, (d+1)//2) first; then
     * crop at int(round((size - crop) / 2.0)), Python's round half to even (rint) */
    int64_t pt = th > h ? (th - h) / 2 : 0, pl = tw > w ? (tw - w) / 2 : 0;
    int64_t hp = th > h ? th : h, wp = tw > w ? tw : w;
    *top = (int64_t)rint((double)(hp - th) / 2.0) - pt;
    *left = (int64_t)rint((double)(wp - tw) / 2.0) - pl;
}

/* ---- resize ---- */

/* interpolate(mode="bilinear", align_corners=False, antialias=False) along one axis:
 * output i reads i0[i] and i0[i] + d[i] with weights l0, l1 (upsample_bilinear2d). */
static void linear_weights(int64_t in, int64_t out, int64_t *i0, int64_t *d, float *l0, float *l1)
{
    float scale = (float)in / (float)out;
    for (int64_t i = 0; i < out; i++) {
        float src = scale * ((float)i + 0.5f) - 0.5f;
        if (src < 0) src = 0;
        int64_t k = (int64_t)src;
        float lam = src - (float)k;
        if (lam > 1) lam = 1;
        i0[i] = k;
        d[i] = k < in - 1 ? 1 : 0;
        l1[i] = lam;
        l0[i] = 1.0f - lam;
    }
}

/* interpolate(mode="nearest"): floor(i·in/out) in float, clamped. */
static int64_t nearest_index(int64_t i, int64_t in, int64_t out)
{
    if (in == out) return i;
    if (out == 2 * in) return i >> 1;
    float scale = (float)in / (float)out;
    int64_t k = (int64_t)floorf((float)i * scale);
    return k < in - 1 ? k : in - 1;
}

/* _upsample_bilinear2d_aa weights along one axis: output i reads xsize[i] inputs from
 * xmin[i] with normalized triangle-filter weights wt[i·ks ...] (PIL's resampling). */
static int64_t aa_weights(nb_arena *a, int64_t in, int64_t out, int64_t **xmin, int64_t **xsize, float **wt)
{
    float scale = (float)in / (float)out;
    float support = scale >= 1.0f ? 1.0f * scale : 1.0f;
    int64_t ks = (int64_t)ceilf(support) * 2 + 1;
    float invscale = scale >= 1.0f ? 1.0f / scale : 1.0f;
    *xmin = nb__arena_alloc(a, (size_t)out * sizeof(int64_t));
    *xsize = nb__arena_alloc(a, (size_t)out * sizeof(int64_t));
    *wt = nb__arena_alloc(a, (size_t)(out * ks) * sizeof(float));
    if (!*xmin || !*xsize || !*wt) return -1;
    for (int64_t i = 0; i < out; i++) {
        float center = scale * ((float)i + 0.5f);
        int64_t lo = (int64_t)(center - support + 0.5f);
        if (lo < 0) lo = 0;
        int64_t hi = (int64_t)(center + support + 0.5f);
        if (hi > in) hi = in;
        int64_t n = hi - lo;
        if (n > ks) n = ks;
        float *w = *wt + i * ks, total = 0;
        for (int64_t j = 0; j < n; j++) {
            float x = ((float)(j + lo) - center + 0.5f) * invscale;
            x = fabsf(x);
            w[j] = x < 1.0f ? 1.0f - x : 0.0f;
            total += w[j];
        }
        for (int64_t j = 0; j < n; j++)
            if (total != 0.0f) w[j] /= total;
        (*xmin)[i] = lo;
        (*xsize)[i] = n;
    }
    return ks;
}

nb_status nb__k_resize(nb_arena *a, const nb__img *in, int64_t top, int64_t left, int64_t wh, int64_t ww,
                       nb__img *out, nb_interp interp, int antialias)
{
    int64_t planes = in->n * in->c, H = in->h, W = in->w, oh = out->h, ow = out->w;
    const float *src = in->p + top * W + left; /* window origin in plane 0 */
    if (interp == NB_INTERP_NEAREST) {
        for (int64_t p = 0; p < planes; p++)
            for (int64_t y = 0; y < oh; y++) {
                const float *s = src + (p * H + nearest_index(y, wh, oh)) * W;
                float *d = out->p + (p * oh + y) * ow;
                for (int64_t x = 0; x < ow; x++) d[x] = s[nearest_index(x, ww, ow)];
            }
        return NB_OK;
    }
    if (!antialias) {
        int64_t *iy = nb__arena_alloc(a, (size_t)(2 * (oh + ow)) * sizeof(int64_t));
        float *ly = nb__arena_alloc(a, (size_t)(2 * (oh + ow)) * sizeof(float));
        if (!iy || !ly) return NB_ERR_MEM;
        int64_t *dy = iy + oh, *ix = dy + oh, *dx = ix + ow;
        float *my = ly + oh, *lx = my + oh, *mx = lx + ow;
        linear_weights(wh, oh, iy, dy, ly, my);
        linear_weights(ww, ow, ix, dx, lx, mx);
        for (int64_t p = 0; p < planes; p++)
            for (int64_t y = 0; y < oh; y++) {
                const float *r0 = src + (p * H + iy[y]) * W, *r1 = r0 + dy[y] * W;
                float h0 = ly[y], h1 = my[y];
                float *d = out->p + (p * oh + y) * ow;
                for (int64_t x = 0; x < ow; x++) {
                    int64_t x0 = ix[x], x1 = x0 + dx[x];
                    d[x] = h0 * (lx[x] * r0[x0] + mx[x] * r0[x1]) + h1 * (lx[x] * r1[x0] + mx[x] * r1[x1]);
                }
            }
        return NB_OK;
    }
    /* antialias: separable, width first into (planes, wh, ow), then height */
    int64_t *xmin, *xsize, *ymin, *ysize;
    float *wx, *wy;
    int64_t ksx = aa_weights(a, ww, ow, &xmin, &xsize, &wx);
    int64_t ksy = aa_weights(a, wh, oh, &ymin, &ysize, &wy);
    float *tmp = nb__arena_alloc(a, (size_t)(planes * wh * ow) * sizeof(float));
    if (ksx < 0 || ksy < 0 || !tmp) return NB_ERR_MEM;
    for (int64_t p = 0; p < planes; p++)
        for (int64_t y = 0; y < wh; y++) {
            const float *s = src + (p * H + y) * W;
            float *d = tmp + (p * wh + y) * ow;
            for (int64_t x = 0; x < ow; x++) {
                const float *w = wx + x * ksx, *sx = s + xmin[x];
                float t = 0;
                for (int64_t j = 0; j < xsize[x]; j++) t += sx[j] * w[j];
                d[x] = t;
            }
        }
    for (int64_t p = 0; p < planes; p++)
        for (int64_t y = 0; y < oh; y++) {
            const float *w = wy + y * ksy;
            float *d = out->p + (p * oh + y) * ow;
            for (int64_t x = 0; x < ow; x++) {
                const float *s = tmp + (p * wh + ymin[y]) * ow + x;
                float t = 0;
                for (int64_t j = 0; j < ysize[y]; j++) t += s[j * ow] * w[j];
                d[x] = t;
            }
        }
    return NB_OK;
}

nb_status nb__resize_short_size(int64_t h, int64_t w, int64_t size, int64_t max_size, int64_t *oh, int64_t *ow)
{
    /* F._compute_resized_output_size with one size */
    int64_t sh = w <= h ? w : h, lg = w <= h ? h : w;
    int64_t ns = size, nl = (int64_t)((double)size * (double)lg / (double)sh);
    if (max_size > 0) {
        if (max_size <= size)
            return nb__fail(NB_ERR_ARG, "resize: max_size = %lld must be larger than size = %lld",
                            (long long)max_size, (long long)size);
        if (nl > max_size) {
            ns = (int64_t)((double)max_size * (double)ns / (double)nl);
            nl = max_size;
        }
    }
    *ow = w <= h ? ns : nl;
    *oh = w <= h ? nl : ns;
    if (*oh < 1 || *ow < 1) return nb__fail(NB_ERR_ARG, "resize: the result of %lldx%lld would be empty", (long long)h, (long long)w);
    return NB_OK;
}

/* ---- rotation and affine: an inverse matrix and grid sampling ---- */

/* torchvision's _get_inverse_affine_matrix(center, angle, translate, scale, shear),
 * in double as Python computes it. */
static void inverse_affine(double cx, double cy, double angle, double tx, double ty, double scale, double shx,
                           double shy, double m[6])
{
    const double d2r = 3.14159265358979323846 / 180.0;
    double rot = angle * d2r, sx = shx * d2r, sy = shy * d2r;
    double a = cos(rot - sy) / cos(sy);
    double b = -cos(rot - sy) * tan(sx) / cos(sy) - sin(rot);
    double c = sin(rot - sy) / cos(sy);
    double d = -sin(rot - sy) * tan(sx) / cos(sy) + cos(rot);
    m[0] = d / scale;
    m[1] = -b / scale;
    m[2] = 0.0 / scale;
    m[3] = -c / scale;
    m[4] = a / scale;
    m[5] = 0.0 / scale;
    m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty);
    m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty);
    m[2] += cx;
    m[5] += cy;
}

static void center_offset(int64_t h, int64_t w, const nb_warp_opts *o, double *cx, double *cy)
{
    /* F.rotate/F.affine (tensor): centre relative to the image centre */
    *cx = o && o->has_center ? 1.0 * ((double)o->center[0] - (double)w * 0.5) : 0.0;
    *cy = o && o->has_center ? 1.0 * ((double)o->center[1] - (double)h * 0.5) : 0.0;
}

void nb__rotate_matrix(int64_t h, int64_t w, float angle, const nb_warp_opts *o, double m[6])
{
    double cx, cy;
    center_offset(h, w, o, &cx, &cy);
    inverse_affine(cx, cy, -(double)angle, 0, 0, 1.0, 0, 0, m);
}

void nb__affine_matrix(int64_t h, int64_t w, float angle, float tx, float ty, float scale, float shear_x,
                       float shear_y, const nb_warp_opts *o, double m[6])
{
    double cx, cy;
    center_offset(h, w, o, &cx, &cy);
    inverse_affine(cx, cy, angle, tx, ty, scale, shear_x, shear_y, m);
}

void nb__rotate_expand_size(int64_t h, int64_t w, const double m[6], int64_t *oh, int64_t *ow)
{
    /* _compute_affine_output_size, in float32 as torch computes it */
    float th[6];
    for (int k = 0; k < 6; k++) th[k] = (float)m[k];
    float hw = (float)w * 0.5f, hh = (float)h * 0.5f;
    float pts[4][2] = {{-hw, -hh}, {-hw, hh}, {hw, hh}, {hw, -hh}};
    float mn[2] = {INFINITY, INFINITY}, mx[2] = {-INFINITY, -INFINITY};
    for (int k = 0; k < 4; k++)
        for (int r = 0; r < 2; r++) {
            float v = pts[k][0] * th[3 * r] + pts[k][1] * th[3 * r + 1] + th[3 * r + 2];
            if (v < mn[r]) mn[r] = v;
            if (v > mx[r]) mx[r] = v;
        }
    float half[2] = {hw, hh}, size[2];
    const float tol = 1e-4f;
    for (int r = 0; r < 2; r++) {
        float hi = mx[r] + half[r], lo = mn[r] + half[r];
        float cmax = ceilf(truncf(hi / tol) * tol), cmin = floorf(truncf(lo / tol) * tol);
        size[r] = cmax - cmin;
    }
    *ow = (int64_t)size[0];
    *oh = (int64_t)size[1];
}

void nb__k_warp(const nb__img *in, nb__img *out, const double m[6], nb_interp interp, float fill)
{
    int64_t planes = in->n * in->c, H = in->h, W = in->w, oh = out->h, ow = out->w;
    /* _gen_affine_grid: base (x, y, 1) at pixel centres about the output centre, times
     * theta^T / (W/2, H/2); grid_sample unnormalizes with (g + 1)·size/2 - 0.5 */
    float r00 = (float)m[0] / (0.5f * (float)W), r10 = (float)m[1] / (0.5f * (float)W),
          r20 = (float)m[2] / (0.5f * (float)W);
    float r01 = (float)m[3] / (0.5f * (float)H), r11 = (float)m[4] / (0.5f * (float)H),
          r21 = (float)m[5] / (0.5f * (float)H);
    float sw = (float)W * 0.5f, sh = (float)H * 0.5f;
    for (int64_t y = 0; y < oh; y++) {
        float by = -(float)oh * 0.5f + 0.5f + (float)y;
        for (int64_t x = 0; x < ow; x++) {
            float bx = -(float)ow * 0.5f + 0.5f + (float)x;
            float gx = bx * r00 + by * r10 + r20, gy = bx * r01 + by * r11 + r21;
            float ix = (gx + 1.0f) * sw - 0.5f, iy = (gy + 1.0f) * sh - 0.5f;
            int64_t o = y * ow + x;
            if (!(ix > -1.0f && ix < (float)W && iy > -1.0f && iy < (float)H)) { /* no corner inside (or NaN) */
                for (int64_t p = 0; p < planes; p++) out->p[p * oh * ow + o] = fill;
                continue;
            }
            if (interp == NB_INTERP_NEAREST) {
                float rx = nearbyintf(ix), ry = nearbyintf(iy);
                int inside = rx >= 0 && rx < (float)W && ry >= 0 && ry < (float)H;
                /* the mask channel is 1 inside, 0 outside: mask < 0.5 takes the fill */
                int64_t s = inside ? (int64_t)ry * W + (int64_t)rx : 0;
                for (int64_t p = 0; p < planes; p++) out->p[p * oh * ow + o] = inside ? in->p[p * H * W + s] : fill;
                continue;
            }
            float fx = floorf(ix), fy = floorf(iy);
            float we = ix - fx, ww = 1.0f - we, ws = iy - fy, wn = 1.0f - ws;
            float wnw = wn * ww, wne = wn * we, wsw = ws * ww, wse = ws * we;
            int64_t x0 = (int64_t)fx, y0 = (int64_t)fy;
            int in_x0 = x0 >= 0 && x0 < W, in_x1 = x0 + 1 >= 0 && x0 + 1 < W;
            int in_y0 = y0 >= 0 && y0 < H, in_y1 = y0 + 1 >= 0 && y0 + 1 < H;
            float knw = in_y0 && in_x0 ? wnw : 0, kne = in_y0 && in_x1 ? wne : 0;
            float ksw = in_y1 && in_x0 ? wsw : 0, kse = in_y1 && in_x1 ? wse : 0;
            float mask = knw + kne + ksw + kse; /* the sampled mask channel of ones */
            int64_t base = y0 * W + x0;
            for (int64_t p = 0; p < planes; p++) {
                const float *s = in->p + p * H * W;
                float v = 0;
                v += knw != 0 ? s[base] * knw : 0;
                v += kne != 0 ? s[base + 1] * kne : 0;
                v += ksw != 0 ? s[base + W] * ksw : 0;
                v += kse != 0 ? s[base + W + 1] * kse : 0;
                out->p[p * oh * ow + o] = v * mask + (1.0f - mask) * fill;
            }
        }
    }
}

/* ---- public deterministic functions ---- */

nb_tensor *nb_img_hflip(nb_tensor *img)
{
    nb__img in, out;
    if (nb__img_view(img, "hflip", &in)) return NULL;
    nb_tensor *t = nb__img_tensor(img->ctx, img, in.c, in.h, in.w, &out);
    if (t) nb__k_hflip(&in, &out);
    return t;
}

nb_tensor *nb_img_vflip(nb_tensor *img)
{
    nb__img in, out;
    if (nb__img_view(img, "vflip", &in)) return NULL;
    nb_tensor *t = nb__img_tensor(img->ctx, img, in.c, in.h, in.w, &out);
    if (t) nb__k_vflip(&in, &out);
    return t;
}

nb_tensor *nb_img_crop(nb_tensor *img, int64_t top, int64_t left, int64_t height, int64_t width)
{
    nb__img in, out;
    if (nb__img_view(img, "crop", &in)) return NULL;
    if (height < 1 || width < 1) {
        nb__fail(NB_ERR_ARG, "crop: size %lldx%lld must be positive", (long long)height, (long long)width);
        return NULL;
    }
    nb_tensor *t = nb__img_tensor(img->ctx, img, in.c, height, width, &out);
    if (t) nb__k_crop(&in, &out, top, left, 0.0f);
    return t;
}

nb_tensor *nb_img_center_crop(nb_tensor *img, int64_t height, int64_t width)
{
    nb__img in, out;
    if (nb__img_view(img, "center_crop", &in)) return NULL;
    if (height < 1 || width < 1) {
        nb__fail(NB_ERR_ARG, "center_crop: size %lldx%lld must be positive", (long long)height, (long long)width);
        return NULL;
    }
    int64_t top, left;
    nb__center_crop_origin(in.h, in.w, height, width, &top, &left);
    nb_tensor *t = nb__img_tensor(img->ctx, img, in.c, height, width, &out);
    if (t) nb__k_crop(&in, &out, top, left, 0.0f);
    return t;
}

nb_tensor *nb_img_pad(nb_tensor *img, const int64_t ltrb[4], nb_pad_mode mode, float fill)
{
    nb__img in, out;
    if (nb__img_view(img, "pad", &in)) return NULL;
    if (!ltrb) {
        nb__fail(NB_ERR_ARG, "pad: no padding given");
        return NULL;
    }
    if (nb__pad_check(in.h, in.w, ltrb, mode)) return NULL;
    nb_tensor *t = nb__img_tensor(img->ctx, img, in.c, in.h + ltrb[1] + ltrb[3], in.w + ltrb[0] + ltrb[2], &out);
    if (t) nb__k_pad(&in, &out, ltrb[0], ltrb[1], mode, fill);
    return t;
}

static int check_interp(nb_interp interp, int antialias, const char *op)
{
    if (interp != NB_INTERP_NEAREST && interp != NB_INTERP_BILINEAR) {
        nb__fail(NB_ERR_ARG, "%s: unknown interpolation %d (nearest or bilinear)", op, (int)interp);
        return -1;
    }
    if (antialias && interp != NB_INTERP_BILINEAR) {
        nb__fail(NB_ERR_ARG, "%s: antialias is supported for bilinear interpolation only", op);
        return -1;
    }
    return 0;
}

nb_status nb__resized_crop(nb_arena *a, const nb__img *in, int64_t top, int64_t left, int64_t height, int64_t width,
                          nb__img *out, nb_interp interp, int antialias)
{
    nb__img src = *in;
    if (out->h == height && out->w == width) { /* F.resize returns the crop when the size is unchanged */
        nb__k_crop(in, out, top, left, 0.0f);
        return NB_OK;
    }
    if (top < 0 || left < 0 || top + height > in->h || left + width > in->w) {
        /* F.crop pads with zeros outside the image: crop first, then resize all of it */
        src = nb__img_alloc(a, in->n, in->c, height, width);
        if (!src.p) return NB_ERR_MEM;
        nb__k_crop(in, &src, top, left, 0.0f);
        top = left = 0;
    }
    return nb__k_resize(a, &src, top, left, height, width, out, interp, antialias);
}

nb_tensor *nb_img_resized_crop(nb_tensor *img, int64_t top, int64_t left, int64_t height, int64_t width,
                               int64_t out_h, int64_t out_w, nb_interp interp, int antialias)
{
    nb__img in, out;
    if (nb__img_view(img, "resize", &in) || check_interp(interp, antialias, "resize")) return NULL;
    if (height < 1 || width < 1 || out_h < 1 || out_w < 1 || out_h > (1 << 20) || out_w > (1 << 20)) {
        nb__fail(NB_ERR_ARG, "resize: sizes must be positive (crop %lldx%lld, output %lldx%lld)", (long long)height,
                 (long long)width, (long long)out_h, (long long)out_w);
        return NULL;
    }
    nb_tensor *t = nb__img_tensor(img->ctx, img, in.c, out_h, out_w, &out);
    if (!t) return NULL;
    return nb__resized_crop(&img->ctx->arena, &in, top, left, height, width, &out, interp, antialias) ? NULL : t;
}

nb_tensor *nb_img_resize(nb_tensor *img, int64_t height, int64_t width, nb_interp interp, int antialias)
{
    nb__img in;
    if (nb__img_view(img, "resize", &in)) return NULL;
    return nb_img_resized_crop(img, 0, 0, in.h, in.w, height, width, interp, antialias);
}

static int check_warp(const nb_warp_opts *o, const char *op)
{
    if (o && check_interp(o->interpolation, 0, op)) return -1;
    if (o && !isfinite(o->fill)) {
        nb__fail(NB_ERR_ARG, "%s: fill must be finite", op);
        return -1;
    }
    return 0;
}

nb_tensor *nb_img_rotate(nb_tensor *img, float angle, const nb_warp_opts *o)
{
    nb__img in, out;
    if (nb__img_view(img, "rotate", &in) || check_warp(o, "rotate")) return NULL;
    if (!isfinite(angle)) {
        nb__fail(NB_ERR_ARG, "rotate: the angle must be finite");
        return NULL;
    }
    double m[6];
    nb__rotate_matrix(in.h, in.w, angle, o, m);
    int64_t oh = in.h, ow = in.w;
    if (o && o->expand) nb__rotate_expand_size(in.h, in.w, m, &oh, &ow);
    nb_tensor *t = nb__img_tensor(img->ctx, img, in.c, oh, ow, &out);
    if (t) nb__k_warp(&in, &out, m, o ? o->interpolation : NB_INTERP_NEAREST, o ? o->fill : 0.0f);
    return t;
}

nb_tensor *nb_img_affine(nb_tensor *img, float angle, float tx, float ty, float scale, float shear_x,
                         float shear_y, const nb_warp_opts *o)
{
    nb__img in, out;
    if (nb__img_view(img, "affine", &in) || check_warp(o, "affine")) return NULL;
    if (!(scale > 0) || !isfinite(scale) || !isfinite(angle) || !isfinite(tx) || !isfinite(ty) ||
        !isfinite(shear_x) || !isfinite(shear_y)) {
        nb__fail(NB_ERR_ARG, "affine: scale must be positive and every parameter finite (scale %g)", (double)scale);
        return NULL;
    }
    double m[6];
    nb__affine_matrix(in.h, in.w, angle, tx, ty, scale, shear_x, shear_y, o, m);
    nb_tensor *t = nb__img_tensor(img->ctx, img, in.c, in.h, in.w, &out);
    if (t) nb__k_warp(&in, &out, m, o ? o->interpolation : NB_INTERP_NEAREST, o ? o->fill : 0.0f);
    return t;
}

/* ---- parameter samplers ---- */

static inline float uniform(nb_rng *r, float a, float b) { return a + (b - a) * nb_rng_uniform(r); }

nb_status nb_random_crop_params(int64_t h, int64_t w, int64_t th, int64_t tw, nb_rng *rng, int64_t *top,
                                int64_t *left)
{
    if (!rng || !top || !left) return nb__fail(NB_ERR_ARG, "random_crop: missing generator or output");
    if (th < 1 || tw < 1) return nb__fail(NB_ERR_ARG, "random_crop: the crop size %lldx%lld must be positive", (long long)th, (long long)tw);
    if (th > h || tw > w)
        return nb__fail(NB_ERR_ARG, "random_crop: the crop %lldx%lld is larger than the image %lldx%lld (add padding or "
                                    "pad_if_needed=true)",
                        (long long)th, (long long)tw, (long long)h, (long long)w);
    if (th == h && tw == w) {
        *top = *left = 0;
        return NB_OK;
    }
    *top = (int64_t)nb_rng_below(rng, (uint64_t)(h - th + 1));
    *left = (int64_t)nb_rng_below(rng, (uint64_t)(w - tw + 1));
    return NB_OK;
}

void nb_random_resized_crop_params(int64_t h, int64_t w, const float scale[2], const float ratio[2], nb_rng *rng,
                                   int64_t box[4])
{
    box[0] = box[1] = 0;
    box[2] = h;
    box[3] = w;
    if (!scale || !ratio || !rng || h < 1 || w < 1 || !(scale[0] > 0 && scale[0] <= scale[1]) ||
        !(ratio[0] > 0 && ratio[0] <= ratio[1]) || !isfinite(scale[1]) || !isfinite(ratio[1]))
        return; /* nothing sensible to draw: the whole image */
    double area = (double)h * (double)w;
    float lr0 = logf(ratio[0]), lr1 = logf(ratio[1]);
    for (int t = 0; t < 10; t++) {
        double target = area * uniform(rng, scale[0], scale[1]);
        double ar = exp(uniform(rng, lr0, lr1));
        int64_t cw = (int64_t)nearbyint(sqrt(target * ar)), ch = (int64_t)nearbyint(sqrt(target / ar));
        if (cw > 0 && cw <= w && ch > 0 && ch <= h) {
            box[0] = (int64_t)nb_rng_below(rng, (uint64_t)(h - ch + 1));
            box[1] = (int64_t)nb_rng_below(rng, (uint64_t)(w - cw + 1));
            box[2] = ch;
            box[3] = cw;
            return;
        }
    }
    /* fallback to the central crop */
    double in_ratio = (double)w / (double)h;
    float rmin = ratio[0] < ratio[1] ? ratio[0] : ratio[1], rmax = ratio[0] < ratio[1] ? ratio[1] : ratio[0];
    int64_t cw = w, ch = h;
    if (in_ratio < rmin)
        ch = (int64_t)nearbyint((double)cw / rmin);
    else if (in_ratio > rmax)
        cw = (int64_t)nearbyint((double)ch * rmax);
    box[0] = (h - ch) / 2;
    box[1] = (w - cw) / 2;
    box[2] = ch;
    box[3] = cw;
}

void nb_random_affine_params(const float degrees[2], const float *translate, const float *scale,
                             const float *shear, int64_t h, int64_t w, nb_rng *rng, float out[6])
{
    out[0] = degrees ? uniform(rng, degrees[0], degrees[1]) : 0.0f;
    out[1] = out[2] = 0;
    if (translate) {
        float mdx = translate[0] * (float)w, mdy = translate[1] * (float)h;
        out[1] = nearbyintf(uniform(rng, -mdx, mdx));
        out[2] = nearbyintf(uniform(rng, -mdy, mdy));
    }
    out[3] = scale ? uniform(rng, scale[0], scale[1]) : 1.0f;
    out[4] = out[5] = 0;
    if (shear) {
        out[4] = uniform(rng, shear[0], shear[1]);
        out[5] = uniform(rng, shear[2], shear[3]);
    }
}
