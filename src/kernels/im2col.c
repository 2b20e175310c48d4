/* im2col.c - convolution as matrix products: im2col, col2im and the im2col +
 * nb__sgemm convolution, for any stride, padding, dilation and groups.
 *   x (N, C, H, W), w (OC, Cg, KH, KW), y (N, OC, OH, OW), Cg = C/G, OCg = OC/G
 *   col of image n, group g: (Cg·KH·KW, OH·OW), row (c, u, v), column i·OW + j:
 *     col[(c·KH + u)·KW + v][i·OW + j] = x[n, g·Cg + c, i·sh - pt + u·dh, j·sw - pl + v·dw] (0 outside)
 *   forward   y[n, g] (OCg, P)   = w[g] (OCg, K) · col (K, P) + b
 *   input     dcol (K, P)        = w[g]ᵀ · dy[n, g], then dx[n] += col2im(dcol)
 *   weight    dw[g] (OCg, K)    += dy[n, g] · colᵀ
 * The matrix products are nb__sgemm (threaded inside); the loops here are serial, except
 * in nb__conv2d_gemm_fwd_split (an image shared by the threads: batch-1 inference). */
#include "core/threadpool.h"
#include "kernels/conv.h"
#include "kernels/gemm.h"

#include <string.h>

/* Columns of output rows [i0, i1) of col (the others are not touched). */
static void im2col_rows(const nb__conv_shape *s, const float *x_img, int64_t g, float *col, int64_t i0, int64_t i1)
{
    int64_t Cg = s->C / s->G, P = s->OH * s->OW;
    for (int64_t c = 0; c < Cg; c++) {
        const float *xc = x_img + (g * Cg + c) * s->H * s->W;
        for (int64_t u = 0; u < s->KH; u++)
            for (int64_t v = 0; v < s->KW; v++) {
                float *row = col + ((c * s->KH + u) * s->KW + v) * P;
                int64_t off = v * s->dw - s->pl, j0, j1;
                nb__valid_range(off, s->sw, s->W, s->OW, &j0, &j1);
                for (int64_t i = i0; i < i1; i++) {
                    float *r = row + i * s->OW;
                    int64_t ih = i * s->sh - s->pt + u * s->dh;
                    if (ih < 0 || ih >= s->H) {
                        memset(r, 0, (size_t)s->OW * sizeof(float));
                        continue;
                    }
                    const float *xr = xc + ih * s->W + off;
                    for (int64_t j = 0; j < j0; j++) r[j] = 0;
                    if (s->sw == 1)
                        memcpy(r + j0, xr + j0, (size_t)(j1 - j0) * sizeof(float));
                    else
                        for (int64_t j = j0; j < j1; j++) r[j] = xr[j * s->sw];
                    for (int64_t j = j1; j < s->OW; j++) r[j] = 0;
                }
            }
    }
}

void nb__im2col(const nb__conv_shape *s, const float *x_img, int64_t g, float *col)
{
    im2col_rows(s, x_img, g, col, 0, s->OH);
}

void nb__col2im(const nb__conv_shape *s, const float *col, int64_t g, float *dx_img)
{
    int64_t Cg = s->C / s->G, P = s->OH * s->OW;
    for (int64_t c = 0; c < Cg; c++) {
        float *xc = dx_img + (g * Cg + c) * s->H * s->W;
        for (int64_t u = 0; u < s->KH; u++)
            for (int64_t v = 0; v < s->KW; v++) {
                const float *row = col + ((c * s->KH + u) * s->KW + v) * P;
                int64_t off = v * s->dw - s->pl, j0, j1;
                nb__valid_range(off, s->sw, s->W, s->OW, &j0, &j1);
                for (int64_t i = 0; i < s->OH; i++) {
                    int64_t ih = i * s->sh - s->pt + u * s->dh;
                    if (ih < 0 || ih >= s->H) continue;
                    const float *r = row + i * s->OW;
                    float *xr = xc + ih * s->W + off;
                    for (int64_t j = j0; j < j1; j++) xr[j * s->sw] += r[j];
                }
            }
    }
}

size_t nb__conv2d_gemm_scratch(const nb__conv_shape *s)
{
    return (size_t)(s->C / s->G * s->KH * s->KW) * (size_t)(s->OH * s->OW);
}

/* A 1x1 convolution with stride 1 and no padding needs no im2col: col is x itself. */
static int is_pointwise(const nb__conv_shape *s)
{
    return s->KH == 1 && s->KW == 1 && s->sh == 1 && s->sw == 1 && s->pt == 0 && s->pl == 0 && s->OH == s->H &&
           s->OW == s->W;
}

/* Group g of image n of x (N, C, H, W) as the GEMM's columns (C/G·KH·KW, OH·OW): x
 * itself for a pointwise convolution, else unfolded into scratch. */
static const float *group_cols(const nb__conv_shape *s, const float *x, int64_t n, int64_t g, float *scratch)
{
    if (is_pointwise(s)) return x + (n * s->C + g * (s->C / s->G)) * s->OH * s->OW;
    nb__im2col(s, x + n * s->C * s->H * s->W, g, scratch);
    return scratch;
}

void nb__conv2d_gemm_fwd(const nb__conv_shape *s, const float *x, const float *w, const float *b, float *y,
                         float *scratch)
{
    int64_t Cg = s->C / s->G, OCg = s->OC / s->G, K = Cg * s->KH * s->KW, P = s->OH * s->OW;
    for (int64_t n = 0; n < s->N; n++)
        for (int64_t g = 0; g < s->G; g++) {
            const float *col = group_cols(s, x, n, g, scratch);
            float *yg = y + (n * s->OC + g * OCg) * P;
            if (b)
                for (int64_t o = 0; o < OCg; o++)
                    for (int64_t p = 0; p < P; p++) yg[o * P + p] = b[g * OCg + o];
            nb__sgemm(0, 0, OCg, P, K, 1.0f, w + g * OCg * K, K, col, P, b ? 1.0f : 0.0f, yg, P);
        }
}

/* The epilogue on n planes of P outputs, y[i] of channel c0 + i. */
static void epilogue_planes(const nb__conv_epilogue *ep, float *y, int64_t c0, int64_t n, int64_t P)
{
    for (int64_t i = 0; i < n; i++) {
        int64_t c = c0 + i;
        float a = ep->scale ? ep->scale[c] : 1.0f, t = ep->shift ? ep->shift[c] : 0.0f, *yc = y + i * P;
        if (ep->relu)
            for (int64_t q = 0; q < P; q++) {
                float v = yc[q] * a + t;
                yc[q] = v <= 0.0f ? 0.0f : v; /* relu; NaN stays NaN */
            }
        else if (ep->scale || ep->shift)
            for (int64_t q = 0; q < P; q++) yc[q] = yc[q] * a + t;
    }
}

/* Output channels [o0, o1) of group g of image n from col: product and epilogue. */
static void fwd_channels(const nb__conv_shape *s, const float *col, const float *w, const nb__conv_epilogue *ep,
                         float *y, int64_t n, int64_t g, int64_t o0, int64_t o1)
{
    int64_t Cg = s->C / s->G, OCg = s->OC / s->G, K = Cg * s->KH * s->KW, P = s->OH * s->OW;
    float *yo = y + (n * s->OC + g * OCg + o0) * P;
    if (o1 <= o0) return;
    nb__sgemm(0, 0, o1 - o0, P, K, 1.0f, w + (g * OCg + o0) * K, K, col, P, 0.0f, yo, P);
    epilogue_planes(ep, yo, g * OCg + o0, o1 - o0, P);
}

typedef struct {
    const nb__conv_shape *s;
    const float *x, *w;
    const nb__conv_epilogue *ep;
    float *y, *col;
    int64_t n, g, och; /* image, group, output channels a chunk */
} split_job;

static void split_rows(void *ctx, int64_t b, int64_t e, int slot)
{
    const split_job *j = ctx;
    im2col_rows(j->s, j->x + j->n * j->s->C * j->s->H * j->s->W, j->g, j->col, b, e);
}

static void split_channels(void *ctx, int64_t b, int64_t e, int slot)
{
    const split_job *j = ctx;
    for (int64_t c = b; c < e; c++) {
        int64_t o0 = c * j->och, o1 = o0 + j->och < j->s->OC / j->s->G ? o0 + j->och : j->s->OC / j->s->G;
        fwd_channels(j->s, j->col, j->w, j->ep, j->y, j->n, j->g, o0, o1);
    }
}

/* Image by image and group by group: the im2col rows, then the output channels in nt
 * parts, each part a chunk of the pool (core/threadpool.h). */
void nb__conv2d_gemm_fwd_split(const nb__conv_shape *s, const float *x, const float *w, const nb__conv_epilogue *ep,
                               float *y, float *scratch, int nt)
{
    int64_t Cg = s->C / s->G, OCg = s->OC / s->G, P = s->OH * s->OW;
    int pw = is_pointwise(s);
    split_job j = {s, x, w, ep, y, scratch, 0, 0, (OCg + nt - 1) / nt};
    for (j.n = 0; j.n < s->N; j.n++)
        for (j.g = 0; j.g < s->G; j.g++) {
            if (pw) j.col = (float *)(x + (j.n * s->C + j.g * Cg) * P); /* read only */
            else nb__parallel(s->OH, (s->OH + nt - 1) / nt, split_rows, &j);
            nb__parallel((OCg + j.och - 1) / j.och, 1, split_channels, &j);
        }
}

void nb__conv_epilogue_apply(const nb__conv_epilogue *ep, float *y, int64_t N, int64_t OC, int64_t P)
{
    for (int64_t n = 0; n < N; n++) epilogue_planes(ep, y + n * OC * P, 0, OC, P);
}

void nb__conv2d_gemm_bwd_x(const nb__conv_shape *s, const float *dy, const float *w, float *dx, float *scratch)
{
    int64_t Cg = s->C / s->G, OCg = s->OC / s->G, K = Cg * s->KH * s->KW, P = s->OH * s->OW;
    int pw = is_pointwise(s);
    for (int64_t n = 0; n < s->N; n++)
        for (int64_t g = 0; g < s->G; g++) {
            const float *dyg = dy + (n * s->OC + g * OCg) * P;
            if (pw) { /* dx[n, g] += wᵀ · dy directly */
                nb__sgemm(1, 0, K, P, OCg, 1.0f, w + g * OCg * K, K, dyg, P, 1.0f, dx + (n * s->C + g * Cg) * P, P);
                continue;
            }
            nb__sgemm(1, 0, K, P, OCg, 1.0f, w + g * OCg * K, K, dyg, P, 0.0f, scratch, P);
            nb__col2im(s, scratch, g, dx + n * s->C * s->H * s->W);
        }
}

void nb__conv2d_gemm_bwd_w(const nb__conv_shape *s, const float *x, const float *dy, float *dw, float *scratch)
{
    int64_t Cg = s->C / s->G, OCg = s->OC / s->G, K = Cg * s->KH * s->KW, P = s->OH * s->OW;
    for (int64_t n = 0; n < s->N; n++)
        for (int64_t g = 0; g < s->G; g++) {
            const float *col = group_cols(s, x, n, g, scratch);
            nb__sgemm(0, 1, OCg, K, P, 1.0f, dy + (n * s->OC + g * OCg) * P, P, col, P, 1.0f, dw + g * OCg * K, K);
        }
}
