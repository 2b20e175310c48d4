/* pool.c - max, average and adaptive average pooling, forward and backward, with
 * PyTorch 1.13's CPU window rules.
 *   x (N, C, H, W), y (N, C, OH, OW): each of the N·C planes is pooled on its own,
 *   window (i, j) starts at (i·sh - ph, j·sw - pw).
 * Threads: planes in chunks over the pool (nb__parallel_if; small work stays on the
 * calling thread). The 2x2 stride-2 max pooling of CNNs has its own
 * AVX-512 path (the same results and indices as the general loop). */
#include "kernels/conv.h"
#include "core/isa.h"
#include "core/threads.h"

#include <math.h>
#include <string.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_AVX512_2X2 1
/* the 2x2 path is compiled for AVX-512 whatever the build's flags; it runs when
 * core/isa.h chose AVX-512 */
#define AVX512_FN __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")))
#endif

/* ---- max pooling ---- */

/* One plane, any window. idx may be NULL. Each output row keeps its running maxima in y
 * (and idx) and takes the window's taps one at a time across the row: the chains of
 * compares are per output, so a row's outputs proceed side by side (one output's nine
 * dependent compares in a row were the 3x3/2 stem pool's cost). The taps of a window are
 * visited in the same order (row, then column), so values and indices are unchanged. */
/* y[j] (and idx[j]) take xr[j·st] (at index base + j·st) where it is larger or NaN, j in [j0, j1) */
NB_CLONES static void max_tap(const float *restrict xr, int64_t st, int32_t base, float *restrict y,
                              int32_t *restrict idx, int64_t j0, int64_t j1)
{
    if (idx)
        for (int64_t j = j0; j < j1; j++) {
            float val = xr[j * st], cur = y[j];
            int take = (val > cur) | (val != val); /* or val is NaN */
            y[j] = take ? val : cur;
            idx[j] = take ? base + (int32_t)(j * st) : idx[j];
        }
    else
        for (int64_t j = j0; j < j1; j++) {
            float val = xr[j * st], cur = y[j];
            y[j] = ((val > cur) | (val != val)) ? val : cur;
        }
}

static void max_plane(const nb__pool_shape *s, const float *x, float *y, int32_t *idx)
{
    for (int64_t i = 0; i < s->OH; i++) {
        int64_t h0 = i * s->sh - s->ph, h1 = h0 + (s->kh - 1) * s->dh + 1;
        if (h1 > s->H) h1 = s->H;
        while (h0 < 0) h0 += s->dh;
        float *yr = y + i * s->OW;
        int32_t *ir = idx ? idx + i * s->OW : NULL;
        for (int64_t j = 0; j < s->OW; j++) {
            int64_t w0 = j * s->sw - s->pw, w1 = w0 + (s->kw - 1) * s->dw + 1;
            if (w1 > s->W) w1 = s->W;
            while (w0 < 0) w0 += s->dw;
            yr[j] = -INFINITY;
            if (ir) ir[j] = (int32_t)(h0 < h1 && w0 < w1 ? h0 * s->W + w0 : -1); /* PyTorch's first index */
        }
        for (int64_t h = h0; h < h1; h += s->dh)
            for (int64_t v = 0; v < s->kw; v++) {
                /* the outputs j whose column j·sw - pw + v·dw lies in [0, W) */
                int64_t off = v * s->dw - s->pw, j0 = off >= 0 ? 0 : (-off + s->sw - 1) / s->sw;
                int64_t j1 = s->W - off <= 0 ? 0 : (s->W - off + s->sw - 1) / s->sw;
                if (j1 > s->OW) j1 = s->OW;
                max_tap(x + h * s->W + off, s->sw, (int32_t)(h * s->W + off), yr, ir, j0, j1);
            }
    }
}

static int is_2x2(const nb__pool_shape *s)
{
    return s->kh == 2 && s->kw == 2 && s->sh == 2 && s->sw == 2 && s->ph == 0 && s->pw == 0 && s->dh == 1 &&
           s->dw == 1 && s->OH == s->H / 2 && s->OW == s->W / 2;
}

#ifdef HAVE_AVX512_2X2
/* 2x2 stride 2 without padding: 16 outputs of a row at a time. The window order
 * (top-left, top-right, bottom-left, bottom-right) and the comparison
 * (v > best or v is NaN) are the general loop's, so values and indices agree. */
AVX512_FN static void max_plane_2x2(const nb__pool_shape *s, const float *x, float *y, int32_t *idx, const float *xend)
{
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    const __m512i lane2 = _mm512_slli_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), 1);
    for (int64_t i = 0; i < s->OH; i++) {
        const float *r0 = x + 2 * i * s->W, *r1 = r0 + s->W;
        for (int64_t j = 0; j < s->OW; j += 16) {
            int64_t n = s->OW - j < 16 ? s->OW - j : 16; /* outputs; inputs 2n */
            __mmask16 mlo = (__mmask16)(n >= 8 ? 0xFFFF : (1u << (2 * n)) - 1);
            __mmask16 mhi = (__mmask16)(n <= 8 ? 0 : (1u << (2 * (n - 8))) - 1);
            __m512 a0, a1, b0, b1;
            if (r1 + 2 * j + 32 <= xend) { /* plain loads (masked ones are slow from memory here); extra lanes unused */
                a0 = _mm512_loadu_ps(r0 + 2 * j), a1 = _mm512_loadu_ps(r0 + 2 * j + 16);
                b0 = _mm512_loadu_ps(r1 + 2 * j), b1 = _mm512_loadu_ps(r1 + 2 * j + 16);
            } else {
                a0 = _mm512_maskz_loadu_ps(mlo, r0 + 2 * j), a1 = _mm512_maskz_loadu_ps(mhi, r0 + 2 * j + 16);
                b0 = _mm512_maskz_loadu_ps(mlo, r1 + 2 * j), b1 = _mm512_maskz_loadu_ps(mhi, r1 + 2 * j + 16);
            }
            __m512 tl = _mm512_permutex2var_ps(a0, even, a1), tr = _mm512_permutex2var_ps(a0, odd, a1);
            __m512 bl = _mm512_permutex2var_ps(b0, even, b1), br = _mm512_permutex2var_ps(b0, odd, b1);
            __m512i base = _mm512_add_epi32(_mm512_set1_epi32((int)(2 * i * s->W + 2 * j)), lane2);
            __m512 best = tl;
            __m512i bi = base;
            /* take v where v > best or v is NaN; tl is first, so a NaN there stays unless a later NaN */
            __mmask16 t = _mm512_cmp_ps_mask(tr, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(tr, tr, _CMP_UNORD_Q);
            best = _mm512_mask_mov_ps(best, t, tr);
            bi = _mm512_mask_add_epi32(bi, t, base, _mm512_set1_epi32(1));
            t = _mm512_cmp_ps_mask(bl, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(bl, bl, _CMP_UNORD_Q);
            best = _mm512_mask_mov_ps(best, t, bl);
            bi = _mm512_mask_add_epi32(bi, t, base, _mm512_set1_epi32((int)s->W));
            t = _mm512_cmp_ps_mask(br, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(br, br, _CMP_UNORD_Q);
            best = _mm512_mask_mov_ps(best, t, br);
            bi = _mm512_mask_add_epi32(bi, t, base, _mm512_set1_epi32((int)s->W + 1));
            __mmask16 mo = (__mmask16)((1u << n) - 1);
            _mm512_mask_storeu_ps(y + i * s->OW + j, mo, best);
            if (idx) _mm512_mask_storeu_epi32(idx + i * s->OW + j, mo, bi);
        }
    }
}
#endif

/* One plane through the 2x2 path when fast, else the general loop. */
static void max_one_plane(const nb__pool_shape *s, const float *x, float *y, int32_t *idx, const float *xend, int fast)
{
#ifdef HAVE_AVX512_2X2
    if (fast) {
        max_plane_2x2(s, x, y, idx, xend);
        return;
    }
#else
    (void)xend, (void)fast;
#endif
    max_plane(s, x, y, idx);
}

/* a chunk of nb__max_pool2d_fwd's loop over p (nb__parallel_if) */
typedef struct {
    const nb__pool_shape *s;
    const float *x;
    float *y;
    int32_t *idx;
    int64_t HW;
    int64_t O;
    int64_t planes;
    int fast;
} max_pool2d_fwd_p_ctx;
static void max_pool2d_fwd_p_chunk(void *ctx_, int64_t b_, int64_t e_, int slot_)
{
    const max_pool2d_fwd_p_ctx *c_ = ctx_;
    const nb__pool_shape *s = c_->s;
    const float *x = c_->x;
    float *y = c_->y;
    int32_t *idx = c_->idx;
    int64_t HW = c_->HW;
    int64_t O = c_->O;
    int64_t planes = c_->planes;
    int fast = c_->fast;
    for (int64_t p = b_; p < e_; p++) {
        max_one_plane(s, x + p * HW, y + p * O, idx ? idx + p * O : NULL, x + planes * HW, fast);
    }
}

void nb__max_pool2d_fwd(const nb__pool_shape *s, const float *x, float *y, int32_t *idx)
{
    int64_t planes = s->N * s->C, HW = s->H * s->W, O = s->OH * s->OW;
    int fast = is_2x2(s) && nb__isa() == NB__ISA_AVX512;
    /* work: a window's compares and index updates cost about 4 copies per input value
     * (threading from 8k inputs: the cnn's batch-1 pools, 1.65 -> 1.35 µs) */
    nb__parallel_if(4 * planes * HW, planes, nb__chunk_for(planes), max_pool2d_fwd_p_chunk,
                    &(max_pool2d_fwd_p_ctx){s, x, y, idx, HW, O, planes, fast});
}

/* a chunk of nb__max_pool2d_bwd's loop over p (nb__parallel_if) */
typedef struct {
    float *dx;
    const float *dy;
    const int32_t *idx;
    int64_t HW;
    int64_t O;
} max_pool2d_bwd_p_ctx;
static void max_pool2d_bwd_p_chunk(void *ctx_, int64_t b_, int64_t e_, int slot_)
{
    const max_pool2d_bwd_p_ctx *c_ = ctx_;
    float *dx = c_->dx;
    const float *dy = c_->dy;
    const int32_t *idx = c_->idx;
    int64_t HW = c_->HW;
    int64_t O = c_->O;
    for (int64_t p = b_; p < e_; p++) {
        float *d = dx + p * HW;
        const float *g = dy + p * O;
        const int32_t *ix = idx + p * O;
        for (int64_t o = 0; o < O; o++)
            if (ix[o] >= 0) d[ix[o]] += g[o];;
    }
}

void nb__max_pool2d_bwd(const nb__pool_shape *s, const float *dy, const int32_t *idx, float *dx)
{
    int64_t planes = s->N * s->C, HW = s->H * s->W, O = s->OH * s->OW;
    nb__parallel_if(planes * HW, planes, nb__chunk_for(planes), max_pool2d_bwd_p_chunk,
                    &(max_pool2d_bwd_p_ctx){dx, dy, idx, HW, O});
}

/* ---- average pooling ---- */

/* The window of output (i, j) clipped to the input, and its divisor. 0 if empty. */
static int avg_window(const nb__pool_shape *s, int64_t i, int64_t j, int64_t *h0, int64_t *h1, int64_t *w0,
                      int64_t *w1, float *div)
{
    int64_t a0 = i * s->sh - s->ph, b0 = j * s->sw - s->pw;
    int64_t a1 = a0 + s->kh < s->H + s->ph ? a0 + s->kh : s->H + s->ph;
    int64_t b1 = b0 + s->kw < s->W + s->pw ? b0 + s->kw : s->W + s->pw;
    int64_t pool = (a1 - a0) * (b1 - b0);
    if (a0 < 0) a0 = 0;
    if (b0 < 0) b0 = 0;
    if (a1 > s->H) a1 = s->H;
    if (b1 > s->W) b1 = s->W;
    *h0 = a0, *h1 = a1, *w0 = b0, *w1 = b1;
    if (a0 >= a1 || b0 >= b1) return 0;
    *div = (float)(s->divisor ? s->divisor : s->exclude_pad ? (a1 - a0) * (b1 - b0) : pool);
    return 1;
}

/* a chunk of nb__avg_pool2d_fwd's loop over p (nb__parallel_if) */
typedef struct {
    const nb__pool_shape *s;
    const float *x;
    float *y;
    int64_t HW;
    int64_t O;
} avg_pool2d_fwd_p_ctx;
static void avg_pool2d_fwd_p_chunk(void *ctx_, int64_t b_, int64_t e_, int slot_)
{
    const avg_pool2d_fwd_p_ctx *c_ = ctx_;
    const nb__pool_shape *s = c_->s;
    const float *x = c_->x;
    float *y = c_->y;
    int64_t HW = c_->HW;
    int64_t O = c_->O;
    for (int64_t p = b_; p < e_; p++) {
        const float *xp = x + p * HW;
        for (int64_t i = 0; i < s->OH; i++)
            for (int64_t j = 0; j < s->OW; j++) {
                int64_t h0, h1, w0, w1;
                float div;
                if (!avg_window(s, i, j, &h0, &h1, &w0, &w1, &div)) {
                    y[p * O + i * s->OW + j] = 0;
                    continue;
                }
                float sum = 0;
                for (int64_t h = h0; h < h1; h++)
                    for (int64_t w = w0; w < w1; w++) sum += xp[h * s->W + w];
                y[p * O + i * s->OW + j] = sum / div;
            };
    }
}

void nb__avg_pool2d_fwd(const nb__pool_shape *s, const float *x, float *y)
{
    int64_t planes = s->N * s->C, HW = s->H * s->W, O = s->OH * s->OW;
    nb__parallel_if(planes * HW, planes, nb__chunk_for(planes), avg_pool2d_fwd_p_chunk,
                    &(avg_pool2d_fwd_p_ctx){s, x, y, HW, O});
}

/* a chunk of nb__avg_pool2d_bwd's loop over p (nb__parallel_if) */
typedef struct {
    const nb__pool_shape *s;
    const float *dy;
    float *dx;
    int64_t HW;
    int64_t O;
} avg_pool2d_bwd_p_ctx;
static void avg_pool2d_bwd_p_chunk(void *ctx_, int64_t b_, int64_t e_, int slot_)
{
    const avg_pool2d_bwd_p_ctx *c_ = ctx_;
    const nb__pool_shape *s = c_->s;
    const float *dy = c_->dy;
    float *dx = c_->dx;
    int64_t HW = c_->HW;
    int64_t O = c_->O;
    for (int64_t p = b_; p < e_; p++) {
        float *d = dx + p * HW;
        for (int64_t i = 0; i < s->OH; i++)
            for (int64_t j = 0; j < s->OW; j++) {
                int64_t h0, h1, w0, w1;
                float div;
                if (!avg_window(s, i, j, &h0, &h1, &w0, &w1, &div)) continue;
                float g = dy[p * O + i * s->OW + j] / div;
                for (int64_t h = h0; h < h1; h++)
                    for (int64_t w = w0; w < w1; w++) d[h * s->W + w] += g;
            };
    }
}

void nb__avg_pool2d_bwd(const nb__pool_shape *s, const float *dy, float *dx)
{
    int64_t planes = s->N * s->C, HW = s->H * s->W, O = s->OH * s->OW;
    nb__parallel_if(planes * HW, planes, nb__chunk_for(planes), avg_pool2d_bwd_p_chunk,
                    &(avg_pool2d_bwd_p_ctx){s, dy, dx, HW, O});
}

/* ---- adaptive average pooling: window i spans [⌊i·H/OH⌋, ⌈(i+1)·H/OH⌉) ---- */

static int64_t start_index(int64_t a, int64_t b, int64_t c) { return a * c / b; }
static int64_t end_index(int64_t a, int64_t b, int64_t c) { return ((a + 1) * c + b - 1) / b; }

/* a chunk of nb__adaptive_avg_pool2d_fwd's loop over p (nb__parallel_if) */
typedef struct {
    const nb__pool_shape *s;
    const float *x;
    float *y;
    int64_t HW;
    int64_t O;
} adaptive_avg_pool2d_fwd_p_ctx;
static void adaptive_avg_pool2d_fwd_p_chunk(void *ctx_, int64_t b_, int64_t e_, int slot_)
{
    const adaptive_avg_pool2d_fwd_p_ctx *c_ = ctx_;
    const nb__pool_shape *s = c_->s;
    const float *x = c_->x;
    float *y = c_->y;
    int64_t HW = c_->HW;
    int64_t O = c_->O;
    for (int64_t p = b_; p < e_; p++) {
        const float *xp = x + p * HW;
        for (int64_t i = 0; i < s->OH; i++) {
            int64_t h0 = start_index(i, s->OH, s->H), h1 = end_index(i, s->OH, s->H);
            for (int64_t j = 0; j < s->OW; j++) {
                int64_t w0 = start_index(j, s->OW, s->W), w1 = end_index(j, s->OW, s->W);
                float sum = 0;
                for (int64_t h = h0; h < h1; h++)
                    for (int64_t w = w0; w < w1; w++) sum += xp[h * s->W + w];
                y[p * O + i * s->OW + j] = sum / (float)((h1 - h0) * (w1 - w0));
            }
        };
    }
}

void nb__adaptive_avg_pool2d_fwd(const nb__pool_shape *s, const float *x, float *y)
{
    int64_t planes = s->N * s->C, HW = s->H * s->W, O = s->OH * s->OW;
    nb__parallel_if(planes * HW, planes, nb__chunk_for(planes), adaptive_avg_pool2d_fwd_p_chunk,
                    &(adaptive_avg_pool2d_fwd_p_ctx){s, x, y, HW, O});
}

/* a chunk of nb__adaptive_avg_pool2d_bwd's loop over p (nb__parallel_if) */
typedef struct {
    const nb__pool_shape *s;
    const float *dy;
    float *dx;
    int64_t HW;
    int64_t O;
} adaptive_avg_pool2d_bwd_p_ctx;
static void adaptive_avg_pool2d_bwd_p_chunk(void *ctx_, int64_t b_, int64_t e_, int slot_)
{
    const adaptive_avg_pool2d_bwd_p_ctx *c_ = ctx_;
    const nb__pool_shape *s = c_->s;
    const float *dy = c_->dy;
    float *dx = c_->dx;
    int64_t HW = c_->HW;
    int64_t O = c_->O;
    for (int64_t p = b_; p < e_; p++) {
        float *d = dx + p * HW;
        for (int64_t i = 0; i < s->OH; i++) {
            int64_t h0 = start_index(i, s->OH, s->H), h1 = end_index(i, s->OH, s->H);
            for (int64_t j = 0; j < s->OW; j++) {
                int64_t w0 = start_index(j, s->OW, s->W), w1 = end_index(j, s->OW, s->W);
                float g = dy[p * O + i * s->OW + j] / (float)((h1 - h0) * (w1 - w0));
                for (int64_t h = h0; h < h1; h++)
                    for (int64_t w = w0; w < w1; w++) d[h * s->W + w] += g;
            }
        };
    }
}

void nb__adaptive_avg_pool2d_bwd(const nb__pool_shape *s, const float *dy, float *dx)
{
    int64_t planes = s->N * s->C, HW = s->H * s->W, O = s->OH * s->OW;
    nb__parallel_if(planes * HW, planes, nb__chunk_for(planes), adaptive_avg_pool2d_bwd_p_chunk,
                    &(adaptive_avg_pool2d_bwd_p_ctx){s, dy, dx, HW, O});
}
