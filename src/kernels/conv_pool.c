/* conv_pool.c - inference: a stride-1 convolution, its per-channel epilogue (bias or
 * BatchNorm's scale and shift, ReLU) and a 2x2 stride-2 max pool in one pass (the cnn's
 * Conv2d + BatchNorm2d + ReLU + MaxPool2d(2) blocks, at batch 1 above all).
 *
 * Layouts: x (N, C, H, W), w (OC, C, KH, KW), y (N, OC, PH, PW) with PH = OH/2, PW = OW/2
 * for the convolution's output OH x OW (floor: the outputs of an odd last row or column
 * are not computed); groups 1, dilation 1.
 *
 * Output channels run along the vectors, so a small plane wastes no lanes (conv_fast.c's
 * rows of "wide" positions throw away KW-1 columns of every row: 1/8 of the cnn's 14x14
 * layer). Per call the weights are packed as Wt[ob][k][OCB] (OCB = 2 vectors of channels,
 * zero past OC; tap k = (c·KH + u)·KW + v) and each image padded into xp (C, Hp, Wp),
 * Hp = 2·PH + KH - 1, Wp = 2·PW + KW - 1. A micro-tile is PQ pooled positions of a row
 * (their 2x2 windows, 4·PQ convolution outputs) x OCB channels: per tap, 2 vector loads
 * of Wt, 4·PQ broadcasts from xp and 8·PQ FMAs into 8·PQ accumulators. Each sum runs over
 * k in order, one FMA per tap (a plain multiply and add on the generic path), as
 * conv_fast.c's forward does, so the sums are the same bits as there.
 *
 * Epilogue per window: v = sum·scale + shift for its 4 outputs, the maximum in pool.c's
 * order (top-left, top-right, bottom-left, bottom-right; a later value is taken when it
 * is greater or NaN), then the ReLU (max(relu(a), relu(b)) = relu(max(a, b)), NaN
 * included): the values of the convolution, ReLU and max pool one after the other. The
 * pooled values of up to 16 columns of a row go to a small buffer T (16 x OCB) and are
 * transposed into y's rows. Work unit: (pooled row, 16 pooled columns, channel block).
 *
 * Threads (core/threadpool.h): with N >= threads, whole images (each thread pads into its
 * own xp); otherwise the team pads one image (and packs the weights), then shares its
 * units. Every output is computed by one unit whichever thread runs it: the result does
 * not depend on the thread count.
 * Built once per instruction set (the Makefile's ISA_SRC; kernels/conv_isa.c dispatches). */
#include "kernels/conv.h"

#include "core/threadpool.h"
#include "kernels/vec.h"

#include <string.h>
#ifdef __AVX512F__
#include "kernels/transpose16.h"
#endif

#ifdef NB_ISA_SUFFIX
#include "kernels/conv_isa.h"
#define nb__conv2d_pool_ok NB__ISA_NAME(nb__conv2d_pool_ok, NB_ISA_SUFFIX)
#define nb__conv2d_pool_scratch NB__ISA_NAME(nb__conv2d_pool_scratch, NB_ISA_SUFFIX)
#define nb__conv2d_pool_fwd NB__ISA_NAME(nb__conv2d_pool_fwd, NB_ISA_SUFFIX)
#endif

#define TCOLS 16 /* pooled columns per work unit (one 16x16 transpose on AVX-512) */
#define PREP_SHARE_MIN 8192 /* floats packed and padded from which a shared image splits them */

/* ---- per instruction set, besides kernels/vec.h's vf and its wrappers: PQMAX, pooled
 * positions per micro-tile (8·PQMAX accumulators); v_load_range; v_maxnan ---- */
#ifdef __AVX512F__
#define PQMAX 3
/* lanes l with lo <= l < hi from p[l], the others 0 (masked lanes are not read) */
ALWAYS_INLINE vf v_load_range(const float *p, int64_t lo, int64_t hi)
{
    lo = lo < 0 ? 0 : lo, hi = hi > VL ? VL : hi;
    unsigned m = hi > lo ? ((1u << hi) - 1u) & ~((1u << lo) - 1u) : 0u;
    return _mm512_maskz_loadu_ps((__mmask16)m, p);
}
/* v where v > best or v is NaN, else best (pool.c's rule) */
ALWAYS_INLINE vf v_maxnan(vf best, vf v)
{
    __mmask16 t = _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    return _mm512_mask_mov_ps(best, t, v);
}
#elif defined(__AVX2__) && defined(__FMA__)
#define PQMAX 1
ALWAYS_INLINE vf v_load_range(const float *p, int64_t lo, int64_t hi)
{
    __m256i l = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i in = _mm256_and_si256(_mm256_cmpgt_epi32(l, _mm256_set1_epi32((int)(lo > -1 ? lo : -1) - 1)),
                                  _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(hi < VL + 1 ? hi : VL + 1)), l));
    return _mm256_maskload_ps(p, in);
}
ALWAYS_INLINE vf v_maxnan(vf best, vf v)
{
    __m256 t = _mm256_or_ps(_mm256_cmp_ps(v, best, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    return _mm256_blendv_ps(best, v, t);
}
#else
/* any CPU (v_fma rounds twice there, as in conv_fast.c's generic copy) */
#define PQMAX 1
ALWAYS_INLINE vf v_load_range(const float *p, int64_t lo, int64_t hi)
{
    vf r = v_zero();
    for (int64_t j = lo < 0 ? 0 : lo; j < hi && j < VL; j++) r[j] = p[j];
    return r;
}
ALWAYS_INLINE vf v_maxnan(vf best, vf v)
{
    for (int j = 0; j < VL; j++)
        if (v[j] > best[j] || v[j] != v[j]) best[j] = v[j];
    return best;
}
#endif
#define OCB (2 * VL) /* output channels of a block */

static int64_t round_up(int64_t a, int64_t m) { return (a + m - 1) / m * m; }

/* The geometry of one call. */
typedef struct {
    int64_t N, C, H, W, OC, KH, KW, pt, pl;
    int64_t PH, PW, Hp, Wp, PL; /* pooled output; padded plane rows, columns, floats */
    int64_t K, nob, ncj;        /* taps; channel blocks; column chunks of TCOLS per row */
    int64_t XP;                 /* floats of one padded image */
} geom;

static geom geom_of(const nb__conv_shape *s)
{
    geom g = {.N = s->N, .C = s->C, .H = s->H, .W = s->W, .OC = s->OC, .KH = s->KH, .KW = s->KW, .pt = s->pt,
              .pl = s->pl};
    g.PH = s->OH / 2;
    g.PW = s->OW / 2;
    g.Hp = 2 * g.PH + s->KH - 1;
    g.Wp = 2 * g.PW + s->KW - 1;
    g.PL = g.Hp * g.Wp;
    g.K = s->C * s->KH * s->KW;
    g.nob = (s->OC + OCB - 1) / OCB;
    g.ncj = (g.PW + TCOLS - 1) / TCOLS;
    g.XP = round_up(s->C * g.PL + VL, VL); /* a vector of slack: pad_planes' last store */
    return g;
}

int nb__conv2d_pool_ok(const nb__conv_shape *s)
{
    if (s->sh != 1 || s->sw != 1 || s->dh != 1 || s->dw != 1 || s->G != 1 || s->OH < 2 || s->OW < 2) return 0;
    geom g = geom_of(s);
    const int64_t lim = (int64_t)1 << 30; /* offsets are int32 */
    return g.XP < lim && g.K < lim;
}

/* Wt (nob·K·OCB) | offsets (K int32, rounded to VL) | scale, shift (nob·OCB each) |
 * nt padded images | nt buffers T (TCOLS·OCB) */
size_t nb__conv2d_pool_scratch(const nb__conv_shape *s, int nt)
{
    geom g = geom_of(s);
    if (nt < 1) nt = 1;
    return (size_t)(g.nob * g.K * OCB + round_up(g.K, VL) + 2 * g.nob * OCB + (int64_t)nt * (g.XP + TCOLS * OCB));
}

/* The first n < VL lanes of a at p, nothing past them. */
static void store_part(float *p, vf a, int64_t n)
{
    float t[VL];
    v_store(t, a);
    memcpy(p, t, (size_t)n * sizeof(float));
}

/* Planes [c0, c1) of image x (C, H, W) into xp (C, Hp, Wp), zero outside x: whole
 * vectors along each row, the lanes outside x masked (never read); a vector may run past
 * the row's end into the next row, which is written after it. The last row of plane
 * c1 - 1 stops at its end: plane c1 may be another thread's (shared_prep), already written. */
static void pad_planes(const geom *g, const float *x, float *xp, int64_t c0, int64_t c1)
{
    int64_t j0 = g->pl > 0 ? g->pl : 0, j1 = g->W + g->pl < g->Wp ? g->W + g->pl : g->Wp;
    if (j1 < j0) j1 = j0;
    for (int64_t c = c0; c < c1; c++)
        for (int64_t i = 0; i < g->Hp; i++) {
            float *r = xp + c * g->PL + i * g->Wp;
            int64_t si = i - g->pt;
            int last = c == c1 - 1 && i == g->Hp - 1;
            int pad = si < 0 || si >= g->H; /* a row of zeros */
            const float *src = pad ? x : x + (c * g->H + si) * g->W - g->pl; /* column j reads src[j] */
            for (int64_t j = 0; j < g->Wp; j += VL) {
                vf v = pad ? v_zero() : v_load_range(src + j, j0 - j, j1 - j);
                if (last && j + VL > g->Wp)
                    store_part(r + j, v, g->Wp - j);
                else
                    v_store(r + j, v);
            }
        }
}

/* Channel blocks [b0, b1) of w (OC, K) into Wt[ob][k][OCB], zero past OC. */
static void pack_w(const geom *g, const float *w, float *Wt, int64_t b0, int64_t b1)
{
    for (int64_t ob = b0; ob < b1; ob++) {
        float *dst = Wt + ob * g->K * OCB;
        int64_t n = g->OC - ob * OCB < OCB ? g->OC - ob * OCB : OCB;
#ifdef __AVX512F__
        if (n == OCB) { /* 16x16 blocks through registers */
            int64_t k = 0;
            for (; k + 16 <= g->K; k += 16)
                for (int v = 0; v < 2; v++) {
                    __m512 r[16];
                    for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(w + (ob * OCB + v * 16 + i) * g->K + k);
                    nb__transpose16(r);
                    for (int i = 0; i < 16; i++) _mm512_storeu_ps(dst + (k + i) * OCB + v * 16, r[i]);
                }
            for (; k < g->K; k++)
                for (int64_t o = 0; o < OCB; o++) dst[k * OCB + o] = w[(ob * OCB + o) * g->K + k];
            continue;
        }
#endif
        for (int64_t k = 0; k < g->K; k++) {
            for (int64_t o = 0; o < n; o++) dst[k * OCB + o] = w[(ob * OCB + o) * g->K + k];
            for (int64_t o = n; o < OCB; o++) dst[k * OCB + o] = 0.0f;
        }
    }
}

/* off[k] = c·PL + u·Wp + v for tap k = (c·KH + u)·KW + v */
static void make_offsets(const geom *g, int32_t *off)
{
    int64_t k = 0;
    for (int64_t c = 0; c < g->C; c++)
        for (int64_t u = 0; u < g->KH; u++)
            for (int64_t v = 0; v < g->KW; v++) off[k++] = (int32_t)(c * g->PL + u * g->Wp + v);
}

/* ---- the micro-tile ---- */

/* PQ pooled positions from xq (xp at the top-left output of the first window) and nv
 * vectors of the block's packed weights wt, into T's rows (OCB floats each). */
ALWAYS_INLINE void tile(const int PQ, const int nv, const geom *g, const float *xq, const float *wt, const int32_t *off,
                        const float *sc, const float *sh, int relu, float *T)
{
    vf acc[4 * PQMAX][2];
    const int64_t Wp = g->Wp, K = g->K;
#pragma GCC unroll 12
    for (int r = 0; r < 4 * PQ; r++)
#pragma GCC unroll 2
        for (int v = 0; v < nv; v++) acc[r][v] = v_zero();
    for (int64_t k = 0; k < K; k++) {
        const float *bp = xq + off[k];
        vf wv[2];
#pragma GCC unroll 2
        for (int v = 0; v < nv; v++) wv[v] = v_load(wt + k * OCB + v * VL);
#pragma GCC unroll 12
        for (int r = 0; r < 4 * PQ; r++) { /* window r/4, corner r%4: (r%4/2, r%2) */
            vf b = v_set1(bp[(r & 3) / 2 * Wp + (r / 4) * 2 + (r & 1)]);
#pragma GCC unroll 2
            for (int v = 0; v < nv; v++) acc[r][v] = v_fma(wv[v], b, acc[r][v]);
        }
    }
#pragma GCC unroll 2
    for (int v = 0; v < nv; v++) {
        vf s = v_load(sc + v * VL), t = v_load(sh + v * VL);
#pragma GCC unroll 3
        for (int p = 0; p < PQ; p++) {
            vf best = v_fma(acc[4 * p][v], s, t);
#pragma GCC unroll 3
            for (int r = 1; r < 4; r++) best = v_maxnan(best, v_fma(acc[4 * p + r][v], s, t));
            if (relu) best = v_relu(best);
            v_store(T + p * OCB + v * VL, best);
        }
    }
}

typedef struct {
    const geom *g;
    const float *x, *w, *Wt, *sc, *sh;
    const int32_t *off;
    int relu;
    float *y, *xps, *Ts; /* padded images and buffers T, one per slot (shared image: xps only) */
    int64_t n;           /* the shared image */
    int64_t npad;        /* groups of its planes to pad */
} job;

/* Unit u = (pooled row i, column chunk jc, channel block ob) of image n from xp. */
static void unit(const job *j, const float *xp, float *T, int64_t n, int64_t u)
{
    const geom *g = j->g;
    int64_t ob = u % g->nob, jc = u / g->nob % g->ncj, i = u / g->nob / g->ncj;
    int64_t c0 = jc * TCOLS, nc = g->PW - c0 < TCOLS ? g->PW - c0 : TCOLS;
    int nv = g->OC - ob * OCB > VL ? 2 : 1;
    const float *wt = j->Wt + ob * g->K * OCB, *sc = j->sc + ob * OCB, *sh = j->sh + ob * OCB;
    const float *xrow = xp + 2 * i * g->Wp;
    for (int64_t p = 0; p < nc;) {
        int64_t left = nc - p;
        const float *xq = xrow + 2 * (c0 + p);
        float *t = T + p * OCB;
#if PQMAX >= 3
        if (left >= 3) {
            if (nv == 2) tile(3, 2, g, xq, wt, j->off, sc, sh, j->relu, t);
            else tile(3, 1, g, xq, wt, j->off, sc, sh, j->relu, t);
            p += 3;
            continue;
        }
        if (left == 2) {
            if (nv == 2) tile(2, 2, g, xq, wt, j->off, sc, sh, j->relu, t);
            else tile(2, 1, g, xq, wt, j->off, sc, sh, j->relu, t);
            p += 2;
            continue;
        }
#endif
        (void)left;
        if (nv == 2) tile(1, 2, g, xq, wt, j->off, sc, sh, j->relu, t);
        else tile(1, 1, g, xq, wt, j->off, sc, sh, j->relu, t);
        p += 1;
    }
    /* T (nc pooled columns x OCB channels) into y[n][oc][i][c0 .. c0 + nc) */
    int64_t PP = g->PH * g->PW, noc = g->OC - ob * OCB < OCB ? g->OC - ob * OCB : OCB;
    float *yb = j->y + (n * g->OC + ob * OCB) * PP + i * g->PW + c0;
#ifdef __AVX512F__
    __mmask16 m = (__mmask16)((1u << nc) - 1);
    for (int v = 0; v * 16 < noc; v++) {
        __m512 r[16];
        for (int p = 0; p < 16; p++) r[p] = _mm512_loadu_ps(T + p * OCB + v * 16); /* rows past nc: unused lanes */
        nb__transpose16(r);
        for (int o = 0; o < 16 && v * 16 + o < noc; o++) _mm512_mask_storeu_ps(yb + (v * 16 + o) * PP, m, r[o]);
    }
#else
    for (int64_t o = 0; o < noc; o++)
        for (int64_t p = 0; p < nc; p++) yb[o * PP + p] = T[p * OCB + o];
#endif
}

static int64_t units_of(const geom *g) { return g->PH * g->ncj * g->nob; }

/* Whole images [b, e): each padded into the slot's own xp. */
static void images(void *ctx, int64_t b, int64_t e, int slot)
{
    const job *j = ctx;
    const geom *g = j->g;
    float *xp = j->xps + (int64_t)slot * g->XP, *T = j->Ts + (int64_t)slot * TCOLS * OCB;
    for (int64_t n = b; n < e; n++) {
        pad_planes(g, j->x + n * g->C * g->H * g->W, xp, 0, g->C);
        for (int64_t u = 0; u < units_of(g); u++) unit(j, xp, T, n, u);
    }
}

/* Image j->n shared: items [0, nob) pack a channel block of the weights (the first
 * image only), items [nob, nob + npad) pad a group of its planes ... */
static void shared_prep(void *ctx, int64_t b, int64_t e, int slot)
{
    const job *j = ctx;
    const geom *g = j->g;
    (void)slot;
    for (int64_t i = b; i < e; i++) {
        if (i < g->nob) {
            if (j->n == 0) pack_w(g, j->w, (float *)j->Wt, i, i + 1);
            continue;
        }
        int64_t t = i - g->nob;
        pad_planes(g, j->x + j->n * g->C * g->H * g->W, j->xps, g->C * t / j->npad, g->C * (t + 1) / j->npad);
    }
}

/* ... then its units [b, e). */
static void shared_units(void *ctx, int64_t b, int64_t e, int slot)
{
    const job *j = ctx;
    float *T = j->Ts + (int64_t)slot * TCOLS * OCB;
    for (int64_t u = b; u < e; u++) unit(j, j->xps, T, j->n, u);
}

/* fn over [0, n) in chunks on the pool when the scratch has a buffer for every pool
 * thread (nt of them), else in order on this thread. */
static void run(int nt, int64_t n, int64_t chunk, nb__chunk_fn fn, void *ctx)
{
    if (nt > 1 && nb__max_threads() <= nt) nb__parallel(n, chunk, fn, ctx);
    else if (n > 0) fn(ctx, 0, n, 0);
}

void nb__conv2d_pool_fwd(const nb__conv_shape *s, const float *x, const float *w, const nb__conv_epilogue *ep,
                         float *y, float *scratch, int nt)
{
    geom g = geom_of(s);
    if (nt < 1) nt = 1;
    float *Wt = scratch;
    int32_t *off = (int32_t *)(Wt + g.nob * g.K * OCB);
    float *sc = (float *)off + round_up(g.K, VL), *sh = sc + g.nob * OCB;
    float *xps = sh + g.nob * OCB, *Ts = xps + (int64_t)nt * g.XP;
    for (int64_t o = 0; o < g.nob * OCB; o++) {
        sc[o] = o < g.OC && ep && ep->scale ? ep->scale[o] : 1.0f;
        sh[o] = o < g.OC && ep && ep->shift ? ep->shift[o] : 0.0f;
    }
    make_offsets(&g, off);
    job j = {.g = &g, .x = x, .w = w, .Wt = Wt, .sc = sc, .sh = sh, .off = off, .relu = ep && ep->relu, .y = y,
             .xps = xps, .Ts = Ts};
    if (g.N >= nt || nt == 1) {
        pack_w(&g, w, Wt, 0, g.nob);
        run(nt, g.N, 1, images, &j);
        return;
    }
    /* packing and padding shared too when they are worth a fork (the cnn's second layer:
     * 18k weights, 8k padded floats; not its first: 288 and 900) */
    int share_prep = g.nob * g.K * OCB + g.C * g.PL >= PREP_SHARE_MIN;
    j.npad = share_prep ? 2 * nt : 1;
    if (!share_prep) pack_w(&g, w, Wt, 0, g.nob);
    for (j.n = 0; j.n < g.N; j.n++) {
        if (share_prep) run(nt, g.nob + j.npad, 1, shared_prep, &j);
        else pad_planes(&g, x + j.n * g.C * g.H * g.W, xps, 0, g.C);
        /* one unit a chunk: the cnn's layers have 14 units (a few µs each) for 2 threads */
        run(nt, units_of(&g), 1, shared_units, &j);
    }
}
