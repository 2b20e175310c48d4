/* conv_batch.c - convolution as one matrix product over a chunk of the batch: im2col
 * of several images side by side, so the product's column count is images·OH·OW and
 * not OH·OW (at 1x1-8x8 output sizes a per-image product, or conv_fast.c's 16-lane
 * vectors along the output row, leaves most of the machine idle).
 *
 * Layouts: x (N, C, H, W), w (OC, Cg, KH, KW), y (N, OC, OH, OW), Cg = C/G, OCg = OC/G,
 * K = Cg·KH·KW, P = OH·OW. A chunk is images [n0, n0 + nb), L = nb·P columns:
 *   col (K, L):   col[(c·KH + u)·KW + v][m·P + i·OW + j]
 *                   = x[n0 + m, g·Cg + c, i·sh - pt + u·dh, j·sw - pl + v·dw] (0 outside)
 *   yt  (OCg, L): yt[o][m·P + p] = y[n0 + m, g·OCg + o, p] (or dy's)
 *   forward   yt = w[g] (OCg, K) · col, then y = epilogue(yt) scattered to NCHW
 *   weight    dw[g] (OCg, K) += dyt · colᵀ,   db[g·OCg + o] += Σ_l dyt[o][l]
 *   input     dcol (K, L) = w[g]ᵀ · dyt, then dx += col2im(dcol)
 * The products are nb__sgemm (AVX-512 or OpenBLAS, threaded inside, the same bits for
 * any thread count); the copies are chunks of the pool (nb__parallel_if) whose
 * iterations write disjoint rows.
 * nb is fixed by the shape (col at most COL_FLOATS), not by the thread count, so the
 * weight gradient's sum order does not depend on the threads either. */
#include "core/threads.h"
#include "kernels/conv.h"
#include "kernels/gemm.h"

#include <string.h>

/* col is kept to this many floats (8 MiB) unless one image needs more, */
#define COL_FLOATS ((int64_t)1 << 21)
/* and a chunk has about this many columns (measured: 512-2048 equally good at 1-8x8). */
#define COLS 1024
/* kernels with more taps than this are never compacted */
#define MAX_TAPS 64

/* The taps (u, v) that read at least one input element (at 1x1 and 2x2 outputs with
 * padding, most of a 3x3 kernel reads only padding): T of them, tap t is (u[t], v[t]).
 * K' = Cg·T; when T < KH·KW the weight is packed to (OC, Cg·T) and col has Cg·T rows. */
typedef struct {
    int64_t T, Cg, OCg, K, P;
    int compact;
    int16_t u[MAX_TAPS], v[MAX_TAPS];
} plan;

/* Whether some i in [0, n) has 0 <= i·stride + off < size. */
static int reads_input(int64_t n, int64_t stride, int64_t off, int64_t size)
{
    for (int64_t i = 0; i < n; i++) {
        int64_t p = i * stride + off;
        if (p >= 0 && p < size) return 1;
        if (p >= size) return 0;
    }
    return 0;
}

static plan plan_make(const nb__conv_shape *s)
{
    plan pl = {.Cg = s->C / s->G, .OCg = s->OC / s->G, .P = s->OH * s->OW};
    pl.T = s->KH * s->KW;
    if (pl.T <= MAX_TAPS) {
        int64_t t = 0;
        for (int64_t u = 0; u < s->KH; u++) {
            if (!reads_input(s->OH, s->sh, u * s->dh - s->pt, s->H)) continue;
            for (int64_t v = 0; v < s->KW; v++)
                if (reads_input(s->OW, s->sw, v * s->dw - s->pl, s->W)) pl.u[t] = (int16_t)u, pl.v[t++] = (int16_t)v;
        }
        pl.compact = t < pl.T;
        if (t == 0) t = 1, pl.u[0] = pl.v[0] = 0; /* every tap reads padding: keep one (col of zeros) */
        pl.T = pl.compact ? t : pl.T;
    }
    if (!pl.compact)
        for (int64_t t = 0; t < pl.T && t < MAX_TAPS; t++) pl.u[t] = (int16_t)(t / s->KW), pl.v[t] = (int16_t)(t % s->KW);
    pl.K = pl.Cg * pl.T;
    return pl;
}

/* tap t of the plan as (u, v) */
static void tap_of(const nb__conv_shape *s, const plan *pl, int64_t t, int64_t *u, int64_t *v)
{
    if (t < MAX_TAPS) {
        *u = pl->u[t], *v = pl->v[t];
    } else {
        *u = t / s->KW, *v = t % s->KW;
    }
}

int64_t nb__conv2d_batch_images(const nb__conv_shape *s)
{
    plan pl = plan_make(s);
    int64_t nb = (COLS + pl.P - 1) / pl.P;
    if (nb * pl.K * pl.P > COL_FLOATS) nb = COL_FLOATS / (pl.K * pl.P);
    if (nb < 1) nb = 1;
    return nb < s->N ? nb : s->N;
}

/* col (K'·L) + yt (OCg·L) + packed weight (OC·K') + compact weight gradient (OCg·K') */
size_t nb__conv2d_batch_scratch(const nb__conv_shape *s)
{
    plan pl = plan_make(s);
    int64_t L = nb__conv2d_batch_images(s) * pl.P;
    return (size_t)((pl.K + pl.OCg) * L + (pl.compact ? (s->OC + pl.OCg) * pl.K : 0));
}

/* What the copies below hand to their chunk functions (each uses what it names). */
typedef struct {
    const nb__conv_shape *s;
    const plan *pl;
    const float *src;
    float *dst;
    const nb__conv_epilogue *ep;
    int64_t n0, nb, g;
    const int32_t *tap;
} copy_ctx;

/* Planes up to this size take im2col through a map of source offsets (gather_rows). */
#define MAP_MAX 256

/* row[m·P + p] = map[p] >= 0 ? x_m[map[p]] : 0 for the nb images x_m = xc + m·step:
 * no branch and no short inner loops (a 4x4 plane is 4 rows of 4). */
NB_CLONES static void gather_rows(const float *restrict xc, int64_t step, const int32_t *restrict map, int64_t P,
                                  int64_t nb, float *restrict row)
{
    for (int64_t m = 0; m < nb; m++, xc += step, row += P)
        for (int64_t p = 0; p < P; p++) {
            int32_t o = map[p];
            float v = xc[o < 0 ? 0 : o];
            row[p] = o < 0 ? 0.0f : v;
        }
}

/* Row k = c·T + t of col, every image of the chunk [n0, n0 + nb): L floats at col + k·L. */
NB_CLONES static void im2col_row(const nb__conv_shape *s, const plan *pl, const float *x, int64_t n0, int64_t nb, int64_t g,
                       int64_t k, float *col)
{
    int64_t c = k / pl->T, u, v, P = pl->P, HW = s->H * s->W;
    tap_of(s, pl, k % pl->T, &u, &v);
    const float *xc = x + (n0 * s->C + g * pl->Cg + c) * HW;
    int64_t off = v * s->dw - s->pl, j0, j1;
    nb__valid_range(off, s->sw, s->W, s->OW, &j0, &j1);
    if (P <= MAP_MAX) {
        int32_t map[MAP_MAX];
        for (int64_t i = 0; i < s->OH; i++) {
            int64_t ih = i * s->sh - s->pt + u * s->dh;
            for (int64_t j = 0; j < s->OW; j++)
                map[i * s->OW + j] = ih < 0 || ih >= s->H || j < j0 || j >= j1 ? -1 : (int32_t)(ih * s->W + off + j * s->sw);
        }
        gather_rows(xc, s->C * HW, map, P, nb, col + k * nb * P);
        return;
    }
    for (int64_t m = 0; m < nb; m++, xc += s->C * HW) {
        float *row = col + (k * nb + m) * P;
        for (int64_t i = 0; i < s->OH; i++) {
            float *r = row + i * s->OW;
            int64_t ih = i * s->sh - s->pt + u * s->dh;
            if (ih < 0 || ih >= s->H) {
                for (int64_t j = 0; j < s->OW; j++) r[j] = 0.0f;
                continue;
            }
            const float *xr = xc + ih * s->W + off;
            for (int64_t j = 0; j < j0; j++) r[j] = 0.0f;
            if (s->sw == 1)
                for (int64_t j = j0; j < j1; j++) r[j] = xr[j];
            else
                for (int64_t j = j0; j < j1; j++) r[j] = xr[j * s->sw];
            for (int64_t j = j1; j < s->OW; j++) r[j] = 0.0f;
        }
    }
}

NB_RANGE(im2col_rows, copy_ctx, c)
{
    for (int64_t k = b; k < e; k++) im2col_row(c->s, c->pl, c->src, c->n0, c->nb, c->g, k, c->dst);
}

static void im2col_chunk(const nb__conv_shape *s, const plan *pl, const float *x, int64_t n0, int64_t nb, int64_t g,
                         float *col)
{
    nb__parallel_if(pl->K * nb * pl->P, pl->K, nb__chunk_for(pl->K), im2col_rows,
                    &(copy_ctx){.s = s, .pl = pl, .src = x, .dst = col, .n0 = n0, .nb = nb, .g = g});
}

/* dx[n0 + m, g·Cg + c] += the scatter of dcol's rows of channel c, every image m of the chunk. */
NB_CLONES static void col2im_channel(const nb__conv_shape *s, const plan *pl, const float *dcol, int64_t n0, int64_t nb,
                           int64_t g, int64_t c, float *dx)
{
    int64_t HW = s->H * s->W, L = nb * pl->P;
    for (int64_t t = 0; t < pl->T; t++) {
        int64_t u, v;
        tap_of(s, pl, t, &u, &v);
        int64_t off = v * s->dw - s->pl, j0, j1;
        nb__valid_range(off, s->sw, s->W, s->OW, &j0, &j1);
        float *xc = dx + (n0 * s->C + g * pl->Cg + c) * HW;
        const float *row = dcol + (c * pl->T + t) * L;
        for (int64_t m = 0; m < nb; m++, xc += s->C * HW, row += pl->P)
            for (int64_t i = 0; i < s->OH; i++) {
                int64_t ih = i * s->sh - s->pt + u * s->dh;
                if (ih < 0 || ih >= s->H) continue;
                const float *r = row + i * s->OW;
                float *xr = xc + ih * s->W + off;
                if (s->sw == 1)
                    for (int64_t j = j0; j < j1; j++) xr[j] += r[j];
                else
                    for (int64_t j = j0; j < j1; j++) xr[j * s->sw] += r[j];
            }
    }
}

/* dx[n0 + m, g·Cg + c] += col2im of dcol (c->src) for channels c in [b, e) */
NB_RANGE(col2im_channels, copy_ctx, c)
{
    for (int64_t ch = b; ch < e; ch++) col2im_channel(c->s, c->pl, c->src, c->n0, c->nb, c->g, ch, c->dst);
}

/* dst[p] = src[p]·a + b (relu: then max(·, 0), NaN stays NaN; neither: a copy) for p < P;
 * dst may be src. Cloned per ISA like the kernels (each element alone: the same bits). */
NB_CLONES static void plane_epilogue(float *dst, const float *src, int64_t P, float a, float b, int scale, int relu)
{
    if (relu)
        for (int64_t p = 0; p < P; p++) {
            float v = src[p] * a + b;
            dst[p] = v <= 0.0f ? 0.0f : v;
        }
    else if (scale)
        for (int64_t p = 0; p < P; p++) dst[p] = src[p] * a + b;
    else if (dst != src)
        memcpy(dst, src, (size_t)P * sizeof *dst);
}

NB_RANGE(gather_rows_o, copy_ctx, c)
{
    const nb__conv_shape *s = c->s;
    int64_t P = c->pl->P, L = c->nb * P;
    for (int64_t o = b; o < e; o++) {
        const float *src = c->src + (c->n0 * s->OC + c->g * c->pl->OCg + o) * P;
        float *dst = c->dst + o * L;
        for (int64_t m = 0; m < c->nb; m++, src += s->OC * P, dst += P) memcpy(dst, src, (size_t)P * sizeof *dst);
    }
}

/* yt (OCg, L) <- rows of dy of group g, images [n0, n0 + nb) */
static void gather_y(const nb__conv_shape *s, const plan *pl, const float *y, int64_t n0, int64_t nb, int64_t g,
                     float *yt)
{
    nb__parallel_if(pl->OCg * nb * pl->P, pl->OCg, nb__chunk_for(pl->OCg), gather_rows_o,
                    &(copy_ctx){.s = s, .pl = pl, .src = y, .dst = yt, .n0 = n0, .nb = nb, .g = g});
}

NB_RANGE(scatter_rows_o, copy_ctx, c)
{
    const nb__conv_shape *s = c->s;
    const nb__conv_epilogue *ep = c->ep;
    int64_t P = c->pl->P, L = c->nb * P;
    int scale = ep && (ep->scale || ep->shift), relu = ep && ep->relu;
    for (int64_t o = b; o < e; o++) {
        int64_t oc = c->g * c->pl->OCg + o;
        const float *src = c->src + o * L;
        float *dst = c->dst + (c->n0 * s->OC + oc) * P;
        float sa = ep && ep->scale ? ep->scale[oc] : 1.0f, sb = ep && ep->shift ? ep->shift[oc] : 0.0f;
        for (int64_t m = 0; m < c->nb; m++, src += P, dst += s->OC * P) plane_epilogue(dst, src, P, sa, sb, scale, relu);
    }
}

/* y[n0 + m, g·OCg + o, p] = epilogue(yt[o][m·P + p]) */
static void scatter_y(const nb__conv_shape *s, const plan *pl, const float *yt, const nb__conv_epilogue *ep,
                      int64_t n0, int64_t nb, int64_t g, float *y)
{
    nb__parallel_if(pl->OCg * nb * pl->P, pl->OCg, nb__chunk_for(pl->OCg), scatter_rows_o,
                    &(copy_ctx){.s = s, .pl = pl, .src = yt, .dst = y, .ep = ep, .n0 = n0, .nb = nb, .g = g});
}

NB_RANGE(pack_rows_o, copy_ctx, c)
{
    int64_t KK = c->s->KH * c->s->KW, T = c->pl->T, Cg = c->pl->Cg;
    for (int64_t o = b; o < e; o++) {
        const float *src = c->src + o * Cg * KK;
        float *dst = c->dst + o * c->pl->K;
        for (int64_t ch = 0; ch < Cg; ch++, src += KK, dst += T)
            for (int64_t t = 0; t < T; t++) dst[t] = src[c->tap[t]];
    }
}

/* wc (OC, Cg·T) <- the plan's taps of w (OC, Cg, KH, KW) */
static void pack_w(const nb__conv_shape *s, const plan *pl, const float *w, float *wc)
{
    int32_t tap[MAX_TAPS];
    for (int64_t t = 0; t < pl->T; t++) tap[t] = (int32_t)(pl->u[t] * s->KW + pl->v[t]);
    nb__parallel_if(s->OC * pl->K, s->OC, nb__chunk_for(s->OC), pack_rows_o,
                    &(copy_ctx){.s = s, .pl = pl, .src = w, .dst = wc, .tap = tap});
}

NB_RANGE(unpack_rows_o, copy_ctx, c)
{
    int64_t KK = c->s->KH * c->s->KW, T = c->pl->T, Cg = c->pl->Cg;
    for (int64_t o = b; o < e; o++) {
        float *dst = c->dst + (c->g * c->pl->OCg + o) * Cg * KK;
        const float *src = c->src + o * c->pl->K;
        for (int64_t ch = 0; ch < Cg; ch++, dst += KK, src += T)
            for (int64_t t = 0; t < T; t++) dst[c->tap[t]] += src[t];
    }
}

/* dw[g] += dwc (OCg, Cg·T) at the plan's taps */
static void unpack_dw(const nb__conv_shape *s, const plan *pl, const float *dwc, int64_t g, float *dw)
{
    int32_t tap[MAX_TAPS];
    for (int64_t t = 0; t < pl->T; t++) tap[t] = (int32_t)(pl->u[t] * s->KW + pl->v[t]);
    nb__parallel_if(pl->OCg * pl->K, pl->OCg, nb__chunk_for(pl->OCg), unpack_rows_o,
                    &(copy_ctx){.s = s, .pl = pl, .src = dwc, .dst = dw, .g = g, .tap = tap});
}

/* A 1x1 convolution with stride 1 and no padding reads x as col when the chunk is one image. */
static int is_pointwise(const nb__conv_shape *s)
{
    return s->KH == 1 && s->KW == 1 && s->sh == 1 && s->sw == 1 && s->pt == 0 && s->pl == 0 && s->OH == s->H &&
           s->OW == s->W;
}

NB_RANGE(epilogue_planes, copy_ctx, c)
{
    const nb__conv_epilogue *ep = c->ep;
    int64_t P = c->pl->P, nb = c->nb;
    for (int64_t t = b; t < e; t++) {
        int64_t o = t / nb, m = t % nb, oc = c->g * c->pl->OCg + o;
        float *d = c->dst + ((c->n0 + m) * c->s->OC + oc) * P;
        float sa = ep->scale ? ep->scale[oc] : 1.0f, sb = ep->shift ? ep->shift[oc] : 0.0f;
        plane_epilogue(d, d, P, sa, sb, 1, ep->relu);
    }
}

/* y (N, OC, P) = epilogue(y) in place for images [n0, n0 + nb), channels of group g */
static void epilogue_inplace(const nb__conv_shape *s, const plan *pl, const nb__conv_epilogue *ep, int64_t n0,
                             int64_t nb, int64_t g, float *y)
{
    if (!ep || (!ep->scale && !ep->shift && !ep->relu)) return;
    nb__parallel_if(pl->OCg * nb * pl->P, pl->OCg * nb, nb__chunk_for(pl->OCg * nb), epilogue_planes,
                    &(copy_ctx){.s = s, .pl = pl, .dst = y, .ep = ep, .n0 = n0, .nb = nb, .g = g});
}

/* Rows of x of group g of image n as col when that needs no copy, else NULL. */
static const float *direct_col(const nb__conv_shape *s, const plan *pl, const float *x, int64_t n, int64_t nb,
                               int64_t g)
{
    return nb == 1 && is_pointwise(s) ? x + (n * s->C + g * pl->Cg) * pl->P : NULL;
}

void nb__conv2d_batch_fwd(const nb__conv_shape *s, const float *x, const float *w, const nb__conv_epilogue *ep,
                          float *y, float *scratch)
{
    plan pl = plan_make(s);
    int64_t nbmax = nb__conv2d_batch_images(s), K = pl.K;
    float *col = scratch, *yt = col + K * nbmax * pl.P, *wc = yt + pl.OCg * nbmax * pl.P;
    if (pl.compact) pack_w(s, &pl, w, wc), w = wc;
    for (int64_t g = 0; g < s->G; g++)
        for (int64_t n0 = 0; n0 < s->N; n0 += nbmax) {
            int64_t nb = s->N - n0 < nbmax ? s->N - n0 : nbmax, L = nb * pl.P;
            const float *c = direct_col(s, &pl, x, n0, nb, g);
            if (!c) im2col_chunk(s, &pl, x, n0, nb, g, col), c = col;
            if (nb == 1) { /* one image: the product straight into y */
                float *yo = y + (n0 * s->OC + g * pl.OCg) * pl.P;
                nb__sgemm(0, 0, pl.OCg, L, K, 1.0f, w + g * pl.OCg * K, K, c, L, 0.0f, yo, L);
                epilogue_inplace(s, &pl, ep, n0, 1, g, y);
                continue;
            }
            nb__sgemm(0, 0, pl.OCg, L, K, 1.0f, w + g * pl.OCg * K, K, c, L, 0.0f, yt, L);
            scatter_y(s, &pl, yt, ep, n0, nb, g, y);
        }
}

void nb__conv2d_batch_bwd(const nb__conv_shape *s, const float *x, const float *w, const float *dy, float *dx,
                          float *dw, float *db, float *scratch)
{
    plan pl = plan_make(s);
    int64_t nbmax = nb__conv2d_batch_images(s), K = pl.K, OCg = pl.OCg;
    float *col = scratch, *dyt = col + K * nbmax * pl.P, *wc = dyt + OCg * nbmax * pl.P, *dwc = wc + s->OC * K;
    if (pl.compact && dx) pack_w(s, &pl, w, wc), w = wc;
    for (int64_t g = 0; g < s->G; g++) {
        for (int64_t n0 = 0; n0 < s->N; n0 += nbmax) {
            int64_t nb = s->N - n0 < nbmax ? s->N - n0 : nbmax, L = nb * pl.P;
            const float *d = dyt;
            if (nb == 1)
                d = dy + (n0 * s->OC + g * OCg) * pl.P;
            else
                gather_y(s, &pl, dy, n0, nb, g, dyt);
            if (db)
                for (int64_t o = 0; o < OCg; o++) {
                    const float *r = d + o * L;
                    double acc = 0.0;
                    for (int64_t l = 0; l < L; l++) acc += r[l];
                    db[g * OCg + o] += (float)acc;
                }
            if (dw) {
                const float *c = direct_col(s, &pl, x, n0, nb, g);
                if (!c) im2col_chunk(s, &pl, x, n0, nb, g, col), c = col;
                if (pl.compact)
                    nb__sgemm(0, 1, OCg, K, L, 1.0f, d, L, c, L, n0 ? 1.0f : 0.0f, dwc, K);
                else
                    nb__sgemm(0, 1, OCg, K, L, 1.0f, d, L, c, L, 1.0f, dw + g * OCg * K, K);
            }
            if (dx && nb == 1 && is_pointwise(s)) { /* dx[n, g] += wᵀ · dy directly */
                nb__sgemm(1, 0, K, L, OCg, 1.0f, w + g * OCg * K, K, d, L, 1.0f, dx + (n0 * s->C + g * pl.Cg) * L, L);
            } else if (dx) {
                nb__sgemm(1, 0, K, L, OCg, 1.0f, w + g * OCg * K, K, d, L, 0.0f, col, L);
                nb__parallel_if(K * L, pl.Cg, nb__chunk_for(pl.Cg), col2im_channels,
                                &(copy_ctx){.s = s, .pl = &pl, .src = col, .dst = dx, .n0 = n0, .nb = nb, .g = g});
            }
        }
        if (dw && pl.compact) unpack_dw(s, &pl, dwc, g, dw);
    }
}
