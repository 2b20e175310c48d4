/* noise.c - GaussianNoise (torchvision v2), imgaug's AdditiveGaussianNoise and
 * SaltAndPepper on [0, 1] images. Layout: in, out (n, c, h, w); draws go image by
 * image, pixel by pixel in row-major order (channel innermost when per_channel). */
#include "augment/augment.h"
#include "core/error.h"
#include "core/tensor.h"

#include <math.h>

static inline float clamp01(float v) { return v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v; }

void nb__k_gaussian_noise(const nb__img *in, nb__img *out, float mean, float sigma, int clip, nb_rng *r)
{
    int64_t n = nb__img_numel(in);
    for (int64_t i = 0; i < n; i++) {
        float v = in->p[i] + (mean + nb_rng_normal(r) * sigma);
        out->p[i] = clip ? clamp01(v) : v;
    }
}

void nb__k_additive_gaussian_noise(const nb__img *in, nb__img *out, float loc, float scale, int per_channel,
                                   nb_rng *r)
{
    int64_t hw = in->h * in->w, c = in->c;
    for (int64_t k = 0; k < in->n; k++) {
        const float *x = in->p + k * c * hw;
        float *o = out->p + k * c * hw;
        for (int64_t i = 0; i < hw; i++) {
            float z = loc + scale * nb_rng_normal(r);
            for (int64_t ch = 0; ch < c; ch++) {
                if (per_channel && ch > 0) z = loc + scale * nb_rng_normal(r);
                o[ch * hw + i] = clamp01(x[ch * hw + i] + z);
            }
        }
    }
}

/* A Beta(0.5, 0.5) draw: sin²(πU/2) has the arcsine distribution. */
static inline float beta_half(nb_rng *r)
{
    float s = sinf(1.5707963267948966f * nb_rng_uniform(r));
    return s * s;
}

void nb__k_salt_and_pepper(const nb__img *in, nb__img *out, float p, int per_channel, nb_rng *r)
{
    int64_t hw = in->h * in->w, c = in->c;
    for (int64_t k = 0; k < in->n; k++) {
        const float *x = in->p + k * c * hw;
        float *o = out->p + k * c * hw;
        for (int64_t i = 0; i < hw; i++) {
            if (per_channel) {
                for (int64_t ch = 0; ch < c; ch++)
                    o[ch * hw + i] = nb_rng_uniform(r) < p ? beta_half(r) : x[ch * hw + i];
                continue;
            }
            int hit = nb_rng_uniform(r) < p;
            float v = hit ? beta_half(r) : 0.0f;
            for (int64_t ch = 0; ch < c; ch++) o[ch * hw + i] = hit ? v : x[ch * hw + i];
        }
    }
}

static nb_tensor *noise_out(nb_tensor *img, const char *op, nb_rng *rng, nb__img *in, nb__img *out)
{
    if (nb__img_view(img, op, in)) return NULL;
    if (!rng) {
        nb__fail(NB_ERR_ARG, "%s needs a random generator", op);
        return NULL;
    }
    return nb__img_tensor(img->ctx, img, in->c, in->h, in->w, out);
}

nb_tensor *nb_img_gaussian_noise(nb_tensor *img, float mean, float sigma, int clip, nb_rng *rng)
{
    nb__img in, out;
    if (!isfinite(mean) || !(sigma >= 0) || !isfinite(sigma)) {
        nb__fail(NB_ERR_ARG, "gaussian_noise: mean must be finite and sigma >= 0 (got %g, %g)", (double)mean,
                 (double)sigma);
        return NULL;
    }
    nb_tensor *t = noise_out(img, "gaussian_noise", rng, &in, &out);
    if (t) nb__k_gaussian_noise(&in, &out, mean, sigma, clip, rng);
    return t;
}

nb_tensor *nb_img_additive_gaussian_noise(nb_tensor *img, float loc, float scale, int per_channel, nb_rng *rng)
{
    nb__img in, out;
    if (!isfinite(loc) || !(scale >= 0) || !isfinite(scale)) {
        nb__fail(NB_ERR_ARG, "additive_gaussian_noise: loc must be finite and scale >= 0 (got %g, %g)", (double)loc,
                 (double)scale);
        return NULL;
    }
    nb_tensor *t = noise_out(img, "additive_gaussian_noise", rng, &in, &out);
    if (t) nb__k_additive_gaussian_noise(&in, &out, loc, scale, per_channel, rng);
    return t;
}

nb_tensor *nb_img_salt_and_pepper(nb_tensor *img, float p, int per_channel, nb_rng *rng)
{
    nb__img in, out;
    if (!(p >= 0 && p <= 1)) {
        nb__fail(NB_ERR_ARG, "salt_and_pepper: p = %g must be in [0, 1]", (double)p);
        return NULL;
    }
    nb_tensor *t = noise_out(img, "salt_and_pepper", rng, &in, &out);
    if (t) nb__k_salt_and_pepper(&in, &out, p, per_channel, rng);
    return t;
}
