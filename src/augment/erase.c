/* erase.c - F.erase and RandomErasing's sampler (torchvision 0.14), Cutout (DeVries
 * & Taylor 2017, one square hole). Layout: in, out (n, c, h, w); the box is the same
 * in every image and channel. */
#include "augment/augment.h"
#include "core/error.h"
#include "core/tensor.h"

#include <math.h>
#include <string.h>

nb_status nb__k_erase(const nb__img *in, nb__img *out, int64_t top, int64_t left, int64_t h, int64_t w,
                      const float *v, int64_t nv)
{
    int64_t c = in->c, H = in->h, W = in->w;
    if (top < 0 || left < 0 || h < 0 || w < 0 || top + h > H || left + w > W)
        return nb__fail(NB_ERR_ARG, "erase: the box (top %lld, left %lld, %lldx%lld) is not inside the %lldx%lld image",
                        (long long)top, (long long)left, (long long)h, (long long)w, (long long)H, (long long)W);
    if (!v || (nv != 1 && nv != c && nv != c * h * w))
        return nb__fail(NB_ERR_ARG, "erase: the value needs 1, %lld (per channel) or %lld (C·h·w) numbers, got %lld",
                        (long long)c, (long long)(c * h * w), (long long)nv);
    if (out->p != in->p) memcpy(out->p, in->p, (size_t)nb__img_numel(in) * sizeof(float));
    for (int64_t k = 0; k < in->n; k++)
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t y = 0; y < h; y++) {
                float *o = out->p + ((k * c + ch) * H + top + y) * W + left;
                for (int64_t x = 0; x < w; x++)
                    o[x] = nv == 1 ? v[0] : nv == c ? v[ch] : v[(ch * h + y) * w + x];
            }
    return NB_OK;
}

void nb__k_cutout(const nb__img *in, nb__img *out, int64_t cy, int64_t cx, int64_t length, float value)
{
    int64_t H = in->h, W = in->w, half = length / 2;
#define CLIP(v, hi) ((v) < 0 ? 0 : (v) > (hi) ? (hi) : (v))
    int64_t y1 = CLIP(cy - half, H), y2 = CLIP(cy + half, H), x1 = CLIP(cx - half, W), x2 = CLIP(cx + half, W);
#undef CLIP
    if (out->p != in->p) memcpy(out->p, in->p, (size_t)nb__img_numel(in) * sizeof(float));
    for (int64_t p = 0; p < in->n * in->c; p++)
        for (int64_t y = y1; y < y2; y++)
            for (int64_t x = x1; x < x2; x++) out->p[(p * H + y) * W + x] = value;
}

int nb_random_erasing_params(int64_t h, int64_t w, const float scale[2], const float ratio[2], nb_rng *rng,
                             int64_t box[4])
{
    box[0] = box[1] = 0;
    box[2] = h;
    box[3] = w;
    if (!scale || !ratio || !rng || h < 1 || w < 1 || !(scale[0] >= 0 && scale[0] <= scale[1] && scale[1] <= 1) ||
        !(ratio[0] > 0 && ratio[0] <= ratio[1]) || !isfinite(ratio[1]))
        return 0; /* nothing sensible to draw: no erasing */
    double area = (double)h * (double)w;
    float lr0 = logf(ratio[0]), lr1 = logf(ratio[1]);
    for (int t = 0; t < 10; t++) {
        double ea = area * (scale[0] + (scale[1] - scale[0]) * nb_rng_uniform(rng));
        double ar = exp(lr0 + (lr1 - lr0) * nb_rng_uniform(rng));
        int64_t eh = (int64_t)nearbyint(sqrt(ea * ar)), ew = (int64_t)nearbyint(sqrt(ea / ar));
        if (!(eh < h && ew < w)) continue;
        box[0] = (int64_t)nb_rng_below(rng, (uint64_t)(h - eh + 1));
        box[1] = (int64_t)nb_rng_below(rng, (uint64_t)(w - ew + 1));
        box[2] = eh;
        box[3] = ew;
        return 1;
    }
    box[0] = box[1] = 0;
    box[2] = h;
    box[3] = w;
    return 0;
}

nb_tensor *nb_img_erase(nb_tensor *img, int64_t top, int64_t left, int64_t height, int64_t width,
                        const float *v, int64_t nv)
{
    nb__img in, out;
    if (nb__img_view(img, "erase", &in)) return NULL;
    nb_tensor *t = nb__img_tensor(img->ctx, img, in.c, in.h, in.w, &out);
    return t && !nb__k_erase(&in, &out, top, left, height, width, v, nv) ? t : NULL;
}

nb_tensor *nb_img_cutout(nb_tensor *img, int64_t cy, int64_t cx, int64_t length, float value)
{
    nb__img in, out;
    if (nb__img_view(img, "cutout", &in)) return NULL;
    if (length < 0) {
        nb__fail(NB_ERR_ARG, "cutout: length %lld must be >= 0", (long long)length);
        return NULL;
    }
    nb_tensor *t = nb__img_tensor(img->ctx, img, in.c, in.h, in.w, &out);
    if (t) nb__k_cutout(&in, &out, cy, cx, length, value);
    return t;
}
