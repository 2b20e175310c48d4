/* conv_small.c - the convolution of a few images on small output planes (batch-1
 * inference on the 1x1 to 4x4 planes of resnet18's and VGG's last stages).
 *
 * Layouts: x (N, C, H, W), w (OC, Cg, KH, KW) = (OC, K) row-major with K = Cg·KH·KW and
 * Cg = C/G, y (N, OC, OH, OW); P = OH·OW output positions.
 *
 * Per group: colᵀ (N·P, K), the im2col of the images transposed (row n·P + p holds the K
 * taps of position p of image n, zero in the padding), then
 *     yᵀ (N·P, OCg) = colᵀ · w[g]ᵀ
 * on nb__sgemm's small-M path, which takes w[g] (OCg, K) as it is: each output is a dot
 * product of a row of colᵀ with a row of w along K. The weights are read once, in place:
 * the batch GEMM (conv_batch.c) packs them first, a copy of every weight per call that
 * was half of resnet18's batch-1 time at 3x32x32. Then y (OC, P) of each image is yᵀ
 * transposed, and the epilogue's scale, shift and ReLU (kernels/conv.h) run on it
 * (nb__conv_epilogue_apply; a residual is the caller's). Threads: those of nb__sgemm (its
 * columns, the output channels, split over the pool; each sum is one thread's, in one
 * order, so the result does not depend on the thread count). */
#include "kernels/conv.h"
#include "kernels/gemm.h"

#include <string.h>

size_t nb__conv2d_small_scratch(const nb__conv_shape *s)
{
    int64_t K = s->C / s->G * s->KH * s->KW, NP = s->N * s->OH * s->OW;
    return (size_t)(NP * K + NP * (s->OC / s->G));
}

/* Row r = n·P + p of colᵀ for group g: the taps (c, u, v) of output (i, j) = (p / OW, p % OW). */
static void col_row(const nb__conv_shape *s, const float *x, int64_t g, int64_t n, int64_t p, float *row)
{
    int64_t Cg = s->C / s->G, i = p / s->OW, j = p % s->OW;
    for (int64_t c = 0; c < Cg; c++) {
        const float *xc = x + (n * s->C + g * Cg + c) * s->H * s->W;
        for (int64_t u = 0; u < s->KH; u++) {
            int64_t ih = i * s->sh - s->pt + u * s->dh;
            float *r = row + (c * s->KH + u) * s->KW;
            if (ih < 0 || ih >= s->H) {
                for (int64_t v = 0; v < s->KW; v++) r[v] = 0.0f;
                continue;
            }
            for (int64_t v = 0; v < s->KW; v++) {
                int64_t iw = j * s->sw - s->pl + v * s->dw;
                r[v] = iw >= 0 && iw < s->W ? xc[ih * s->W + iw] : 0.0f;
            }
        }
    }
}

void nb__conv2d_small_fwd(const nb__conv_shape *s, const float *x, const float *w, const nb__conv_epilogue *ep,
                          float *y, float *scratch)
{
    int64_t Cg = s->C / s->G, OCg = s->OC / s->G, K = Cg * s->KH * s->KW, P = s->OH * s->OW, NP = s->N * P;
    float *colt = scratch, *yt = scratch + NP * K;
    for (int64_t g = 0; g < s->G; g++) {
        for (int64_t n = 0; n < s->N; n++)
            for (int64_t p = 0; p < P; p++) col_row(s, x, g, n, p, colt + (n * P + p) * K);
        nb__sgemm(0, 1, NP, OCg, K, 1.0f, colt, K, w + g * OCg * K, K, 0.0f, yt, OCg);
        for (int64_t n = 0; n < s->N; n++)
            for (int64_t o = 0; o < OCg; o++) {
                float *yo = y + (n * s->OC + g * OCg + o) * P;
                for (int64_t p = 0; p < P; p++) yo[p] = yt[(n * P + p) * OCg + o];
            }
    }
    nb__conv_epilogue_apply(ep, y, s->N, s->OC, P);
}
