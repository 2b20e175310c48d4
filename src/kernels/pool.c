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
                int64_t off = v * s->dw - s->pw, j0, j1;
                nb__valid_range(off, s->sw, s->W, s->OW, &j0, &j1);
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

/* ---- the passes over the planes ---- */

/* One pass over the N·C planes of x (N, C, H, W) and y (N, C, OH, OW), as its chunks
 * (nb__parallel_if) read it: plane p of x starts at p·HW, of y and idx at p·O. */
typedef struct pool_pass {
    const nb__pool_shape *s;
    const float *in;          /* x (forward) or dy (backward) */
    float *out;               /* y (forward) or dx (backward, accumulates) */
    int32_t *idx;             /* max forward: receives the argmax, or NULL */
    const int32_t *argmax;    /* max backward */
    const float *xend;        /* max forward: the end of x (the 2x2 path's loads) */
    int fast;                 /* max forward: the 2x2 path */
    /* average pooling: output (i, j)'s window [h0, h1) × [w0, w1) and divisor; 0 if empty */
    int (*window)(const nb__pool_shape *s, int64_t i, int64_t j, int64_t *h0, int64_t *h1, int64_t *w0,
                  int64_t *w1, float *div);
    int64_t HW, O;
    void (*plane)(const struct pool_pass *q, int64_t p);
} pool_pass;

static void pool_planes(void *ctx, int64_t b, int64_t e, int slot)
{
    const pool_pass *q = ctx;
    for (int64_t p = b; p < e; p++) q->plane(q, p);
}

/* q over every plane, threaded when work (about one unit per value touched) is large. */
static void run_pass(pool_pass q, int64_t work)
{
    int64_t planes = q.s->N * q.s->C;
    q.HW = q.s->H * q.s->W, q.O = q.s->OH * q.s->OW;
    nb__parallel_if(work, planes, nb__chunk_for(planes), pool_planes, &q);
}

static void max_fwd_plane(const pool_pass *q, int64_t p)
{
    max_one_plane(q->s, q->in + p * q->HW, q->out + p * q->O, q->idx ? q->idx + p * q->O : NULL, q->xend, q->fast);
}

void nb__max_pool2d_fwd(const nb__pool_shape *s, const float *x, float *y, int32_t *idx)
{
    int64_t planes = s->N * s->C, HW = s->H * s->W;
    int fast = is_2x2(s) && nb__isa() == NB__ISA_AVX512;
    /* work: a window's compares and index updates cost about 4 copies per input value
     * (threading from 8k inputs: the cnn's batch-1 pools, 1.65 -> 1.35 µs) */
    run_pass((pool_pass){.s = s, .in = x, .out = y, .idx = idx, .xend = x + planes * HW, .fast = fast,
                         .plane = max_fwd_plane},
             4 * planes * HW);
}

static void max_bwd_plane(const pool_pass *q, int64_t p)
{
    float *d = q->out + p * q->HW;
    const float *g = q->in + p * q->O;
    const int32_t *ix = q->argmax + p * q->O;
    for (int64_t o = 0; o < q->O; o++)
        if (ix[o] >= 0) d[ix[o]] += g[o];
}

void nb__max_pool2d_bwd(const nb__pool_shape *s, const float *dy, const int32_t *idx, float *dx)
{
    run_pass((pool_pass){.s = s, .in = dy, .out = dx, .argmax = idx, .plane = max_bwd_plane},
             s->N * s->C * s->H * s->W);
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

/* Average pooling's plane p through the pass's window rule: y = the window's sum / div
 * (0 for an empty window). */
static void mean_fwd_plane(const pool_pass *q, int64_t p)
{
    const nb__pool_shape *s = q->s;
    const float *xp = q->in + p * q->HW;
    float *yp = q->out + p * q->O;
    for (int64_t i = 0; i < s->OH; i++)
        for (int64_t j = 0; j < s->OW; j++) {
            int64_t h0, h1, w0, w1;
            float div;
            if (!q->window(s, i, j, &h0, &h1, &w0, &w1, &div)) {
                yp[i * s->OW + j] = 0;
                continue;
            }
            float sum = 0;
            for (int64_t h = h0; h < h1; h++)
                for (int64_t w = w0; w < w1; w++) sum += xp[h * s->W + w];
            yp[i * s->OW + j] = sum / div;
        }
}

/* Its backward: dx over each window += dy / div. */
static void mean_bwd_plane(const pool_pass *q, int64_t p)
{
    const nb__pool_shape *s = q->s;
    const float *gp = q->in + p * q->O;
    float *d = q->out + p * q->HW;
    for (int64_t i = 0; i < s->OH; i++)
        for (int64_t j = 0; j < s->OW; j++) {
            int64_t h0, h1, w0, w1;
            float div;
            if (!q->window(s, i, j, &h0, &h1, &w0, &w1, &div)) continue;
            float g = gp[i * s->OW + j] / div;
            for (int64_t h = h0; h < h1; h++)
                for (int64_t w = w0; w < w1; w++) d[h * s->W + w] += g;
        }
}

void nb__avg_pool2d_fwd(const nb__pool_shape *s, const float *x, float *y)
{
    run_pass((pool_pass){.s = s, .in = x, .out = y, .window = avg_window, .plane = mean_fwd_plane},
             s->N * s->C * s->H * s->W);
}

void nb__avg_pool2d_bwd(const nb__pool_shape *s, const float *dy, float *dx)
{
    run_pass((pool_pass){.s = s, .in = dy, .out = dx, .window = avg_window, .plane = mean_bwd_plane},
             s->N * s->C * s->H * s->W);
}

/* ---- adaptive average pooling: window i spans [⌊i·H/OH⌋, ⌈(i+1)·H/OH⌉) ---- */

static int64_t start_index(int64_t a, int64_t b, int64_t c) { return a * c / b; }
static int64_t end_index(int64_t a, int64_t b, int64_t c) { return ((a + 1) * c + b - 1) / b; }

/* The adaptive window of output (i, j) and its size (never empty). */
static int adaptive_window(const nb__pool_shape *s, int64_t i, int64_t j, int64_t *h0, int64_t *h1, int64_t *w0,
                           int64_t *w1, float *div)
{
    *h0 = start_index(i, s->OH, s->H), *h1 = end_index(i, s->OH, s->H);
    *w0 = start_index(j, s->OW, s->W), *w1 = end_index(j, s->OW, s->W);
    *div = (float)((*h1 - *h0) * (*w1 - *w0));
    return 1;
}

void nb__adaptive_avg_pool2d_fwd(const nb__pool_shape *s, const float *x, float *y)
{
    run_pass((pool_pass){.s = s, .in = x, .out = y, .window = adaptive_window, .plane = mean_fwd_plane},
             s->N * s->C * s->H * s->W);
}

void nb__adaptive_avg_pool2d_bwd(const nb__pool_shape *s, const float *dy, float *dx)
{
    run_pass((pool_pass){.s = s, .in = dy, .out = dx, .window = adaptive_window, .plane = mean_bwd_plane},
             s->N * s->C * s->H * s->W);
}

/* ---- adaptive average pooling as a matrix on the planes (ops/pool_linear.c) ----
 * P maps a plane (H, W) to (OH, OW): output (i, j) is the mean of window (i, j). The
 * fold applies Pᵀ to the weight planes of a Linear that follows the pool, the
 * accumulation applies P to the gradient planes of its weight. */

/* The windows [win[2i], win[2i+1]) of the OH rows, then of the OW columns. */
static void adaptive_windows(const nb__pool_shape *s, int64_t *win)
{
    for (int64_t i = 0; i < s->OH; i++) win[2 * i] = start_index(i, s->OH, s->H), win[2 * i + 1] = end_index(i, s->OH, s->H);
    int64_t *c = win + 2 * s->OH;
    for (int64_t j = 0; j < s->OW; j++) c[2 * j] = start_index(j, s->OW, s->W), c[2 * j + 1] = end_index(j, s->OW, s->W);
}

typedef struct {
    const nb__pool_shape *s;
    const float *in;
    float *out;
    const int64_t *rows, *cols; /* the windows (adaptive_windows) */
} fold_pass;

/* Planes [b, e): out (H, W) = Pᵀ in (OH, OW). From a 1x1 plane every window is that one
 * value with divisor 1: out is the plane's sum, in 8 partial sums. */
NB_CLONES static void fold_planes(void *ctx, int64_t b, int64_t e, int slot)
{
    const fold_pass *q = ctx;
    const nb__pool_shape *s = q->s;
    int64_t O = s->OH * s->OW, HW = s->H * s->W, W = s->W;
    for (int64_t p = b; p < e; p++) {
        const float *x = q->in + p * O;
        float *d = q->out + p * HW;
        if (HW == 1) {
            float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            int64_t k = 0;
            for (; k + 8 <= O; k += 8)
                for (int l = 0; l < 8; l++) acc[l] += x[k + l];
            float sum = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
            for (; k < O; k++) sum += x[k];
            d[0] = sum;
            continue;
        }
        memset(d, 0, sizeof(float) * (size_t)HW);
        for (int64_t i = 0; i < s->OH; i++) {
            int64_t h0 = q->rows[2 * i], h1 = q->rows[2 * i + 1];
            for (int64_t j = 0; j < s->OW; j++) {
                int64_t w0 = q->cols[2 * j], w1 = q->cols[2 * j + 1];
                float g = x[i * s->OW + j] / (float)((h1 - h0) * (w1 - w0));
                for (int64_t h = h0; h < h1; h++)
                    for (int64_t w = w0; w < w1; w++) d[h * W + w] += g;
            }
        }
    }
}

/* Planes [b, e): out (OH, OW) += P in (H, W). */
NB_CLONES static void acc_planes(void *ctx, int64_t b, int64_t e, int slot)
{
    const fold_pass *q = ctx;
    const nb__pool_shape *s = q->s;
    int64_t O = s->OH * s->OW, HW = s->H * s->W, W = s->W;
    for (int64_t p = b; p < e; p++) {
        const float *x = q->in + p * HW;
        float *d = q->out + p * O;
        if (HW == 1) { /* every window is the one value, divisor 1 */
            float v = x[0];
            for (int64_t k = 0; k < O; k++) d[k] += v;
            continue;
        }
        for (int64_t i = 0; i < s->OH; i++) {
            int64_t h0 = q->rows[2 * i], h1 = q->rows[2 * i + 1];
            for (int64_t j = 0; j < s->OW; j++) {
                int64_t w0 = q->cols[2 * j], w1 = q->cols[2 * j + 1];
                float sum = 0;
                for (int64_t h = h0; h < h1; h++)
                    for (int64_t w = w0; w < w1; w++) sum += x[h * W + w];
                d[i * s->OW + j] += sum / (float)((h1 - h0) * (w1 - w0));
            }
        }
    }
}

static void fold_run(const nb__pool_shape *s, const float *in, float *out, int64_t *win, nb__chunk_fn fn)
{
    adaptive_windows(s, win);
    int64_t planes = s->N * s->C;
    fold_pass q = {.s = s, .in = in, .out = out, .rows = win, .cols = win + 2 * s->OH};
    nb__parallel_if(planes * (s->OH * s->OW + s->H * s->W), planes, nb__chunk_for(planes), fn, &q);
}

void nb__adaptive_avg_pool2d_fold(const nb__pool_shape *s, const float *x, float *y, int64_t *win)
{
    fold_run(s, x, y, win, fold_planes);
}

void nb__adaptive_avg_pool2d_acc(const nb__pool_shape *s, const float *x, float *y, int64_t *win)
{
    fold_run(s, x, y, win, acc_planes);
}
