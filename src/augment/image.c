/* image.c - the image representation the transforms share: nb__img views of F32
 * (C, H, W) / (B, C, H, W) tensors, output tensors, and ToTensor from bytes. */
#include "augment/augment.h"
#include "core/error.h"
#include "core/arena.h"
#include "core/tensor.h"

#include <string.h>

nb__img nb__img_alloc(nb_arena *a, int64_t n, int64_t c, int64_t h, int64_t w)
{
    nb__img m = {NULL, n, c, h, w};
    if (n < 1 || c < 1 || h < 1 || w < 1) {
        nb__fail(NB_ERR_SHAPE, "an image must have at least one pixel, got (%lld, %lld, %lld, %lld)",
                 (long long)n, (long long)c, (long long)h, (long long)w);
        return m;
    }
    if (h > ((int64_t)1 << 31) / w || n * c > ((int64_t)1 << 40) / (h * w)) {
        nb__fail(NB_ERR_SHAPE, "image of (%lld, %lld, %lld, %lld) values is too large", (long long)n, (long long)c,
                 (long long)h, (long long)w);
        return m;
    }
    m.p = nb__arena_alloc(a, (size_t)(n * c * h * w) * sizeof(float));
    return m;
}

nb_status nb__img_view(nb_tensor *t, const char *op, nb__img *out)
{
    if (!t) return NB_ERR_ARG; /* keep the message of whatever made the NULL */
    if (t->dtype != NB_F32) return nb__fail(NB_ERR_ARG, "%s needs an F32 image tensor", op);
    if (t->ndim != 3 && t->ndim != 4) {
        char s[96];
        nb__shape_str(t->ndim, t->shape, s, sizeof s);
        return nb__fail(NB_ERR_SHAPE, "%s needs an image (C, H, W) or a batch (B, C, H, W), got %s", op, s);
    }
    const int64_t *d = t->shape + (t->ndim - 3);
    if (t->numel == 0) return nb__fail(NB_ERR_SHAPE, "%s needs a non-empty image", op);
    out->p = nb__f(t);
    out->n = t->ndim == 4 ? t->shape[0] : 1;
    out->c = d[0];
    out->h = d[1];
    out->w = d[2];
    return NB_OK;
}

nb_tensor *nb__img_tensor(nb_ctx *ctx, const nb_tensor *like, int64_t c, int64_t h, int64_t w, nb__img *view)
{
    int64_t shape[4];
    int nd = like->ndim;
    if (nd == 4) shape[0] = like->shape[0];
    shape[nd - 3] = c;
    shape[nd - 2] = h;
    shape[nd - 1] = w;
    if (c < 1 || h < 1 || w < 1) {
        nb__fail(NB_ERR_SHAPE, "the result would be an empty image (%lld, %lld, %lld)", (long long)c, (long long)h,
                 (long long)w);
        return NULL;
    }
    nb_tensor *t = nb__empty(ctx, NB_F32, nd, shape);
    if (!t) return NULL;
    view->p = nb__f(t);
    view->n = nd == 4 ? shape[0] : 1;
    view->c = c;
    view->h = h;
    view->w = w;
    return t;
}

nb_tensor *nb_img_from_bytes(nb_ctx *ctx, const uint8_t *hwc, int64_t h, int64_t w, int64_t c)
{
    if (!ctx || !hwc) {
        nb__fail(NB_ERR_ARG, "nb_img_from_bytes needs a context and data");
        return NULL;
    }
    if (h < 1 || w < 1 || c < 1) {
        nb__fail(NB_ERR_SHAPE, "nb_img_from_bytes: bad image size %lld x %lld x %lld", (long long)h, (long long)w,
                 (long long)c);
        return NULL;
    }
    nb_tensor *t = nb__empty(ctx, NB_F32, 3, (int64_t[]){c, h, w});
    if (!t) return NULL;
    float *o = nb__f(t);
    /* ToTensor divides by 255 in float: a table of the 256 quotients is the same */
    float lut[256];
    for (int v = 0; v < 256; v++) lut[v] = (float)v / 255.0f;
    for (int64_t ch = 0; ch < c; ch++)
        for (int64_t i = 0; i < h * w; i++) o[ch * h * w + i] = lut[hwc[i * c + ch]];
    return t;
}
