/* color.c - ColorJitter's adjustments, Grayscale and Normalize with the formulas of
 * torchvision's tensor path (functional_tensor.py), and ColorJitter's sampler.
 *
 * Layout: in, out (n, c, h, w); c is 1 or 3 (RGB planes) for the colour functions.
 * Blends are ratio·a + (1 - ratio)·b in float, clamped to [0, 1], as _blend. */
#include "augment/augment.h"
#include "core/error.h"
#include "core/tensor.h"

#include <math.h>
#include <string.h>

static nb_status need_1_or_3(const nb__img *in, const char *op)
{
    if (in->c != 1 && in->c != 3)
        return nb__fail(NB_ERR_SHAPE, "%s needs an image with 1 or 3 channels, got %lld", op, (long long)in->c);
    return NB_OK;
}

static nb_status need_factor(float f, const char *op)
{
    if (!(f >= 0) || !isfinite(f)) return nb__fail(NB_ERR_ARG, "%s: the factor %g must be a number >= 0", op, (double)f);
    return NB_OK;
}

static inline float clamp01(float v) { return v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v; }

/* gray = 0.2989 R + 0.587 G + 0.114 B of one image's planes r, g, b (hw values) */
static void gray_plane(const float *r, const float *g, const float *b, int64_t hw, float *out)
{
    for (int64_t i = 0; i < hw; i++) out[i] = 0.2989f * r[i] + 0.587f * g[i] + 0.114f * b[i];
}

/* out = clamp(f·x + (1-f)·y) with y a plane (ystride 1) or one value (ystride 0) */
static void blend(const float *x, const float *y, int64_t ystride, float f, int64_t n, float *out)
{
    float a = f, b = (float)(1.0 - (double)f);
    for (int64_t i = 0; i < n; i++) out[i] = clamp01(a * x[i] + b * y[i * ystride]);
}

nb_status nb__k_brightness(const nb__img *in, nb__img *out, float f)
{
    if (need_1_or_3(in, "adjust_brightness") || need_factor(f, "adjust_brightness")) return NB_ERR_ARG;
    float zero = 0.0f;
    blend(in->p, &zero, 0, f, nb__img_numel(in), out->p);
    return NB_OK;
}

nb_status nb__k_contrast(const nb__img *in, nb__img *out, float f)
{
    if (need_1_or_3(in, "adjust_contrast") || need_factor(f, "adjust_contrast")) return NB_ERR_ARG;
    int64_t hw = in->h * in->w, per = in->c * hw;
    for (int64_t k = 0; k < in->n; k++) {
        const float *x = in->p + k * per;
        double sum = 0; /* mean of the grayscale image */
        if (in->c == 3)
            for (int64_t i = 0; i < hw; i++) sum += (double)(0.2989f * x[i] + 0.587f * x[hw + i] + 0.114f * x[2 * hw + i]);
        else
            for (int64_t i = 0; i < hw; i++) sum += (double)x[i];
        float mean = (float)(sum / (double)hw);
        blend(x, &mean, 0, f, per, out->p + k * per);
    }
    return NB_OK;
}

/* out = in (same shape). */
static nb_status copy_img(const nb__img *in, nb__img *out)
{
    memcpy(out->p, in->p, (size_t)nb__img_numel(in) * sizeof(float));
    return NB_OK;
}

nb_status nb__k_saturation(const nb__img *in, nb__img *out, float f)
{
    if (need_1_or_3(in, "adjust_saturation") || need_factor(f, "adjust_saturation")) return NB_ERR_ARG;
    if (in->c == 1) return copy_img(in, out); /* as PIL: nothing to saturate */
    int64_t hw = in->h * in->w;
    for (int64_t k = 0; k < in->n; k++) {
        const float *x = in->p + k * 3 * hw;
        float *o = out->p + k * 3 * hw;
        /* the gray plane goes to the output's last plane first, which is read before written */
        float *gray = o + 2 * hw;
        gray_plane(x, x + hw, x + 2 * hw, hw, gray);
        blend(x, gray, 1, f, hw, o);
        blend(x + hw, gray, 1, f, hw, o + hw);
        blend(x + 2 * hw, gray, 1, f, hw, gray);
    }
    return NB_OK;
}

/* torch.remainder for floats: the sign of the divisor */
static inline float remainder1(float a)
{
    float m = fmodf(a, 1.0f);
    if (m != 0 && m < 0) m += 1.0f;
    return m;
}

/* _rgb2hsv then _hsv2rgb with h shifted by hue, one pixel, in float as torchvision */
static void hue_pixel(float r, float g, float b, float hue, float *ro, float *go, float *bo)
{
    float maxc = fmaxf(r, fmaxf(g, b)), minc = fminf(r, fminf(g, b));
    int eqc = maxc == minc;
    float cr = maxc - minc;
    float s = cr / (eqc ? 1.0f : maxc);
    float crd = eqc ? 1.0f : cr;
    float rc = (maxc - r) / crd, gc = (maxc - g) / crd, bc = (maxc - b) / crd;
    float hr = maxc == r ? bc - gc : 0.0f;
    float hg = maxc == g && maxc != r ? 2.0f + rc - bc : 0.0f;
    float hb = maxc != g && maxc != r ? 4.0f + gc - rc : 0.0f;
    float h = fmodf((hr + hg + hb) / 6.0f + 1.0f, 1.0f);
    h = remainder1(h + hue);
    float v = maxc;
    float i = floorf(h * 6.0f);
    float f = h * 6.0f - i;
    int ii = i >= 0.0f && i < 6.0f ? (int)i : 0; /* torch: i % 6 (i = 6 when h rounds to 1) */
    float p = clamp01(v * (1.0f - s)), q = clamp01(v * (1.0f - s * f)), t = clamp01(v * (1.0f - s * (1.0f - f)));
    const float R[6] = {v, q, p, p, t, v}, G[6] = {t, v, v, q, p, p}, B[6] = {p, p, t, v, v, q};
    *ro = R[ii];
    *go = G[ii];
    *bo = B[ii];
}

nb_status nb__k_hue(const nb__img *in, nb__img *out, float f)
{
    if (need_1_or_3(in, "adjust_hue")) return NB_ERR_ARG;
    if (!(f >= -0.5f && f <= 0.5f)) return nb__fail(NB_ERR_ARG, "adjust_hue: hue_factor %g is not in [-0.5, 0.5]", (double)f);
    if (in->c == 1) return copy_img(in, out); /* gray: no hue to shift */
    int64_t hw = in->h * in->w;
    for (int64_t k = 0; k < in->n; k++) {
        const float *x = in->p + k * 3 * hw;
        float *o = out->p + k * 3 * hw;
        for (int64_t i = 0; i < hw; i++) hue_pixel(x[i], x[hw + i], x[2 * hw + i], f, o + i, o + hw + i, o + 2 * hw + i);
    }
    return NB_OK;
}

nb_status nb__k_grayscale(const nb__img *in, nb__img *out)
{
    if (need_1_or_3(in, "grayscale")) return NB_ERR_ARG;
    if (out->c != 1 && out->c != 3)
        return nb__fail(NB_ERR_ARG, "grayscale: num_output_channels must be 1 or 3, got %lld", (long long)out->c);
    int64_t hw = in->h * in->w;
    for (int64_t k = 0; k < in->n; k++) {
        const float *x = in->p + k * in->c * hw;
        float *o = out->p + k * out->c * hw;
        if (in->c == 3)
            gray_plane(x, x + hw, x + 2 * hw, hw, o);
        else
            memcpy(o, x, (size_t)hw * sizeof(float));
        for (int64_t c = 1; c < out->c; c++) memcpy(o + c * hw, o, (size_t)hw * sizeof(float));
    }
    return NB_OK;
}

nb_status nb__k_normalize(const nb__img *in, nb__img *out, const float *mean, const float *std, int n)
{
    if (!mean || !std || (n != 1 && n != in->c))
        return nb__fail(NB_ERR_ARG, "normalize: mean and std need 1 or %lld values (one per channel), got %d",
                        (long long)in->c, n);
    for (int k = 0; k < n; k++)
        if (std[k] == 0 || !isfinite(std[k]) || !isfinite(mean[k]))
            return nb__fail(NB_ERR_ARG, "normalize: std[%d] = %g; every std must be finite and non-zero", k, (double)std[k]);
    int64_t hw = in->h * in->w;
    for (int64_t k = 0; k < in->n; k++)
        for (int64_t c = 0; c < in->c; c++) {
            float m = mean[n == 1 ? 0 : c], s = std[n == 1 ? 0 : c];
            const float *x = in->p + (k * in->c + c) * hw;
            float *o = out->p + (k * in->c + c) * hw;
            for (int64_t i = 0; i < hw; i++) o[i] = (x[i] - m) / s;
        }
    return NB_OK;
}

/* ---- public functions ---- */

typedef nb_status (*factor_kernel)(const nb__img *, nb__img *, float);

static nb_tensor *apply_factor(nb_tensor *img, float f, factor_kernel k, const char *op)
{
    nb__img in, out;
    if (nb__img_view(img, op, &in)) return NULL;
    nb_tensor *t = nb__img_tensor(img->ctx, img, in.c, in.h, in.w, &out);
    return t && !k(&in, &out, f) ? t : NULL;
}

nb_tensor *nb_img_adjust_brightness(nb_tensor *img, float factor)
{
    return apply_factor(img, factor, nb__k_brightness, "adjust_brightness");
}
nb_tensor *nb_img_adjust_contrast(nb_tensor *img, float factor)
{
    return apply_factor(img, factor, nb__k_contrast, "adjust_contrast");
}
nb_tensor *nb_img_adjust_saturation(nb_tensor *img, float factor)
{
    return apply_factor(img, factor, nb__k_saturation, "adjust_saturation");
}
nb_tensor *nb_img_adjust_hue(nb_tensor *img, float hue_factor)
{
    return apply_factor(img, hue_factor, nb__k_hue, "adjust_hue");
}

nb_tensor *nb_img_grayscale(nb_tensor *img, int num_output_channels)
{
    nb__img in, out;
    if (nb__img_view(img, "grayscale", &in)) return NULL;
    if (num_output_channels != 1 && num_output_channels != 3) {
        nb__fail(NB_ERR_ARG, "grayscale: num_output_channels must be 1 or 3, got %d", num_output_channels);
        return NULL;
    }
    if (need_1_or_3(&in, "grayscale")) return NULL;
    nb_tensor *t = nb__img_tensor(img->ctx, img, num_output_channels, in.h, in.w, &out);
    return t && !nb__k_grayscale(&in, &out) ? t : NULL;
}

nb_tensor *nb_img_normalize(nb_tensor *img, const float *mean, const float *std, int n)
{
    nb__img in, out;
    if (nb__img_view(img, "normalize", &in)) return NULL;
    nb_tensor *t = nb__img_tensor(img->ctx, img, in.c, in.h, in.w, &out);
    return t && !nb__k_normalize(&in, &out, mean, std, n) ? t : NULL;
}

void nb_color_jitter_params(const float brightness[2], const float contrast[2], const float saturation[2],
                            const float hue[2], nb_rng *rng, int order[4], float factors[4])
{
    /* torch.randperm(4) (Fisher-Yates here), then the factors in the order b, c, s, h */
    for (int k = 0; k < 4; k++) order[k] = k;
    for (int k = 3; k > 0; k--) {
        int j = (int)nb_rng_below(rng, (uint64_t)k + 1);
        int t = order[k];
        order[k] = order[j];
        order[j] = t;
    }
    const float *rg[4] = {brightness, contrast, saturation, hue};
    for (int k = 0; k < 4; k++)
        factors[k] = rg[k] ? rg[k][0] + (rg[k][1] - rg[k][0]) * nb_rng_uniform(rng) : (k == 3 ? 0.0f : 1.0f);
}
