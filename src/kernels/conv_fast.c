/* conv_fast.c - stride-1 convolution on zero-padded planes, AVX-512 micro-kernels.
 *
 * Layouts: x (N, C, H, W), w (OC, Cg, KH, KW), y (N, OC, OH, OW), Cg = C/G, OCg = OC/G.
 *
 * The trick (no im2col): each input plane is copied once into a zero-padded plane
 * xp of Hp = OH + (KH-1)·dh rows and Wp = OW + (KW-1)·dw columns. Output position
 * (i, j) is given the "wide" index q = i·Wp + j (j < Wp; the columns j >= OW are
 * computed and thrown away), and then tap (c, u, v) of the kernel reads
 *     xp[c·Hp·Wp + u·dh·Wp + v·dw + q],
 * so for a fixed tap, consecutive q are consecutive addresses. The convolution of
 * one image and group is the matrix product
 *     Y (OCg, Q) = A (OCg, K) · B (K, Q),   B[k][q] = xp[off[k] + q],  K = Cg·KH·KW,
 * with B never stored: the micro-kernel loads its vectors straight from xp.
 *
 *   forward   A = w packed in tiles of MR output channels: [k][MR]. A micro-tile is
 *             MR channels x NV·16 wide positions held in MR·NV zmm accumulators; the
 *             epilogue (bias or BatchNorm scale/shift, ReLU) stores the valid lanes of
 *             each vector to the NCHW output with one masked store per output row.
 *   input     dx is the stride-1 convolution of dy (padded by (K-1)·d - p) with the
 *             weight flipped in both spatial dims and transposed (c <-> oc): the same
 *             forward kernel, accumulating into dx.
 *   weight    dwᵀ (K, OCg) = Σ_q B[k][q] · dyᵀ[q][oc], with dyᵀ the wide transpose of
 *             dy (zero in the thrown-away columns): a micro-tile is MRK taps x up to CHW
 *             channels, a broadcast of xp and vector loads of dyᵀ rows, reducing over q
 *             without horizontal sums. The images are summed in chunks fixed by the
 *             batch size (NCHUNK), each from zero into a thread's own dwᵀ, and the
 *             chunks are added into dw in order: the same bits on any number of threads.
 *
 * Unpadded (AVX-512, stride 1, OW <= W; geom_direct): the forward and input-gradient
 * kernels read the planes in place, Wp = W, the zeros of the padding given by masked
 * loads; the same sums bit for bit without the copy (NB_CONV_DIRECT=0 turns it off).
 *
 * Threads (the pool of core/threadpool.h): with N >= threads, whole images are the chunks
 * (each thread pads into its own copy); otherwise the threads share one image at a time
 * and split its planes, then its tiles.
 * The same code runs on AVX-512 (16-float zmm), AVX2+FMA (8-float ymm) or, on any
 * CPU, 4-float vectors: one object per ISA (see below). */
#include "kernels/conv.h"

#include "core/threadpool.h"
#include "kernels/vec.h"

#include <string.h>

/* Compiled once per instruction set (the Makefile passes the -m flags and
 * -DNB_ISA_SUFFIX=_avx512, _avx2 or _generic): the entry points get the suffix and
 * kernels/conv_isa.c calls the one core/isa.h chose. */
#ifdef NB_ISA_SUFFIX
#include "kernels/conv_isa.h"
#define nb__conv2d_fast_ok NB__ISA_NAME(nb__conv2d_fast_ok, NB_ISA_SUFFIX)
#define nb__conv2d_fast_fwd_ok NB__ISA_NAME(nb__conv2d_fast_fwd_ok, NB_ISA_SUFFIX)
#define nb__conv2d_fast_scratch_fwd NB__ISA_NAME(nb__conv2d_fast_scratch_fwd, NB_ISA_SUFFIX)
#define nb__conv2d_fast_scratch_bwd_x NB__ISA_NAME(nb__conv2d_fast_scratch_bwd_x, NB_ISA_SUFFIX)
#define nb__conv2d_fast_scratch_bwd_w NB__ISA_NAME(nb__conv2d_fast_scratch_bwd_w, NB_ISA_SUFFIX)
#define nb__conv2d_fast_fwd NB__ISA_NAME(nb__conv2d_fast_fwd, NB_ISA_SUFFIX)
#define nb__conv2d_fast_bwd_x NB__ISA_NAME(nb__conv2d_fast_bwd_x, NB_ISA_SUFFIX)
#define nb__conv2d_fast_bwd_w NB__ISA_NAME(nb__conv2d_fast_bwd_w, NB_ISA_SUFFIX)
#endif

#define MRK 12 /* weight gradient: most taps per micro-tile */
#ifndef QB
#define QB 64  /* weight gradient: rows of dyT per block (with 64 channels: 16 KiB) */
#endif

/* ---- per instruction set, besides kernels/vec.h's vf and its wrappers ----
 *   AVX-512: 32 registers: 24 accumulators per micro-tile;
 *   AVX2+FMA: 16 registers: 12 accumulators;
 *   otherwise 4-float vectors (any CPU: SSE2 on x86-64; v_fma rounds twice).
 * MR x NV: the forward micro-tile; ACC: accumulators of a weight-gradient tile, which
 * covers up to NVO vectors of output channels (CHW = NVO·VL channels per chunk). */
#ifdef __AVX512F__
#define ACC 24
#define NVO 4
#ifndef MR
#define MR 8
#endif
#ifndef NV
#define NV 3
#endif
typedef __mmask16 vmask;
ALWAYS_INLINE vf v_add(vf a, vf b) { return _mm512_add_ps(a, b); }
/* lanes j with bit j of m set go to base[off + j] */
ALWAYS_INLINE void v_mstore(float *base, int64_t off, vmask m, vf a) { _mm512_mask_storeu_ps(base + off, m, a); }
ALWAYS_INLINE vf v_mload(const float *base, int64_t off, vmask m) { return _mm512_maskz_loadu_ps(m, base + off); }
#elif defined(__AVX2__) && defined(__FMA__)
#define ACC 12
#define NVO 2
#ifndef MR
#define MR 6
#endif
#ifndef NV
#define NV 2
#endif
typedef uint32_t vmask;
ALWAYS_INLINE vf v_add(vf a, vf b) { return _mm256_add_ps(a, b); }
ALWAYS_INLINE __m256i v_maskv(vmask m)
{
    const __m256i bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    return _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32((int)m), bit), bit);
}
ALWAYS_INLINE void v_mstore(float *base, int64_t off, vmask m, vf a)
{
    if (m == 0xFFu) _mm256_storeu_ps(base + off, a);
    else _mm256_maskstore_ps(base + off, v_maskv(m), a);
}
ALWAYS_INLINE vf v_mload(const float *base, int64_t off, vmask m) { return _mm256_maskload_ps(base + off, v_maskv(m)); }
#else
#define ACC 12
#define NVO 2
#ifndef MR
#define MR 4
#endif
#ifndef NV
#define NV 2
#endif
typedef uint32_t vmask;
ALWAYS_INLINE vf v_add(vf a, vf b) { return a + b; }
ALWAYS_INLINE void v_mstore(float *base, int64_t off, vmask m, vf a)
{
    if (m == 0xFu) {
        memcpy(base + off, &a, sizeof a);
        return;
    }
    for (int j = 0; j < VL; j++)
        if (m >> j & 1) base[off + j] = a[j];
}
ALWAYS_INLINE vf v_mload(const float *base, int64_t off, vmask m)
{
    vf r = v_zero();
    for (int j = 0; j < VL; j++)
        if (m >> j & 1) r[j] = base[off + j];
    return r;
}
#endif
#define CHW (NVO * VL) /* weight gradient: output channels per chunk */
/* weight gradient: taps of a tile with nvo vectors of channels */
#define TAPS(nvo) (ACC / (nvo) < MRK ? ACC / (nvo) : MRK)

static int64_t round_up(int64_t a, int64_t m) { return (a + m - 1) / m * m; }

/* fn over [0, n) in chunks of `chunk` on the pool (core/threadpool.h) when the scratch
 * has a buffer for every pool thread (nt of them), else in order on this thread. */
static void run(int nt, int64_t n, int64_t chunk, nb__chunk_fn fn, void *ctx)
{
    if (nt > 1 && nb__max_threads() <= nt)
        nb__parallel(n, chunk, fn, ctx);
    else if (n > 0)
        fn(ctx, 0, n, 0);
}

/* About two chunks a thread: ceil(n / 2nt). */
static int64_t halves(int64_t n, int nt) { return (n + 2 * nt - 1) / (2 * nt); }

/* ---- geometry of one convolution on padded planes ----
 * Strided (forward only): the padded plane xpad of a channel is kept as its sh·sw phases
 * (those the kernel reaches), phase (a, b) holding xpad[sh·r + a][sw·c + b] in Hp rows
 * and Wp columns. Tap (u, v) with u·dh = sh·i + a, v·dw = sw·j + b reads phase (a, b)
 * at row i, column j: output (r, c) is the same "wide" position q = r·Wp + c of every
 * tap, as at stride 1 (where there is one phase, the padded plane). */
typedef struct {
    int64_t N, C, H, W;       /* input planes */
    int64_t O, OH, OW;        /* output channels and size */
    int64_t KH, KW, dh, dw;   /* kernel, dilation */
    int64_t sh, sw, Sh, Sw;   /* strides, phases kept per dim (min(stride, reach)) */
    int64_t pt, pl, G;        /* top/left padding (negative: crop), groups */
    int64_t Cg, Og, K;        /* per group: input channels, output channels, taps Cg·KH·KW */
    int64_t Hp, Wp, PH, PL;   /* a phase: rows, columns, floats; floats of a channel's phases */
    int64_t Q, nvec;          /* wide positions OH·Wp, vectors covering them */
    int64_t XP;               /* floats of one padded image, with zeroed slack */
    int direct;               /* forward kernel on the unpadded planes (see geom_direct) */
    int64_t KK;               /* KH·KW */
} geom;

static geom geom_make(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t OH, int64_t OW, int64_t KH,
                      int64_t KW, int64_t dh, int64_t dw, int64_t sh, int64_t sw, int64_t pt, int64_t pl, int64_t G)
{
    geom g = {.N = N, .C = C, .H = H, .W = W, .O = O, .OH = OH, .OW = OW, .KH = KH, .KW = KW, .dh = dh, .dw = dw,
              .sh = sh, .sw = sw, .pt = pt, .pl = pl, .G = G};
    g.Cg = C / G;
    g.Og = O / G;
    g.K = g.Cg * KH * KW;
    g.Sh = sh < (KH - 1) * dh + 1 ? sh : (KH - 1) * dh + 1;
    g.Sw = sw < (KW - 1) * dw + 1 ? sw : (KW - 1) * dw + 1;
    g.Hp = OH + (KH - 1) * dh / sh;
    g.Wp = OW + (KW - 1) * dw / sw;
    g.PH = g.Hp * g.Wp;
    g.PL = g.Sh * g.Sw * g.PH;
    g.Q = OH * g.Wp;
    g.nvec = (g.Q + VL - 1) / VL;
    /* the last vector of the last phase reads up to C·PL + (KW-1)·dw/sw + VL - 2 */
    g.XP = round_up(C * g.PL + (KW - 1) * dw / sw + VL, VL);
    g.KK = KH * KW;
    return g;
}

/* The forward kernel straight on the input planes, no padded copy (AVX-512 only: it
 * needs masked loads that cost what plain loads do). At stride 1 with OW <= W, tap
 * (c, u, v) of output (i, j) reads x[c][i + u·dh - pt][j + v·dw - pl], which is
 *     x_plane[c·H·W + q + (u·dh - pt)·W + (v·dw - pl)]   with q = i·W + j,
 * the same "wide" indexing as on a padded plane with Wp = W (columns j >= OW thrown
 * away: none when OW = W, as for 3x3 with padding 1). The reads that the padded plane
 * would give as zeros (row or column outside the input, and lanes past the plane) are
 * the lanes a mask per (tap u·KW + v, vector) leaves out; the masked loads give zeros
 * there, so every sum runs the same FMAs in the same order on the same values as on
 * the padded plane: the same bits, without the copy and with fewer thrown-away
 * columns (14x14: 13 vectors instead of 14, 7x7 pad 1 the same 4, 28x28 49 not 53). */
#ifdef __AVX512F__
#define DIRECT_OK 1
#else
#define DIRECT_OK 0
#endif

static void geom_direct(geom *g)
{
    if (!DIRECT_OK || g->sh != 1 || g->sw != 1 || g->OW > g->W || g->OH < 1 || g->OW < 1) return;
    g->direct = 1;
    g->Hp = g->H;
    g->Wp = g->W;
    g->PH = g->PL = g->H * g->W;
    g->Q = g->OH * g->Wp;
    g->nvec = (g->Q + VL - 1) / VL;
    g->XP = 0;
}

/* direct: whether the forward may run on the unpadded planes (not the weight gradient,
 * which reads the padded planes with scalar broadcasts) */
static geom geom_fwd(const nb__conv_shape *s, int direct)
{
    geom g = geom_make(s->N, s->C, s->H, s->W, s->OC, s->OH, s->OW, s->KH, s->KW, s->dh, s->dw, s->sh, s->sw, s->pt,
                       s->pl, s->G);
    if (direct) geom_direct(&g);
    return g;
}

/* dx = conv(dy padded by (K-1)·d - p, flipped transposed w); stride 1 only */
static geom geom_bwd_x(const nb__conv_shape *s, int direct)
{
    geom g = geom_make(s->N, s->OC, s->OH, s->OW, s->C, s->H, s->W, s->KH, s->KW, s->dh, s->dw, 1, 1,
                       (s->KH - 1) * s->dh - s->pt, (s->KW - 1) * s->dw - s->pl, s->G);
    if (direct) geom_direct(&g);
    return g;
}

int nb__conv2d_fast_fwd_ok(const nb__conv_shape *s)
{
    if (s->sh < 1 || s->sw < 1 || s->sh > 4 || s->sw > 4) return 0;
    geom a = geom_fwd(s, 0);
    const int64_t lim = (int64_t)1 << 30; /* offsets are int32 */
    return a.XP < lim && a.K < lim;
}

int nb__conv2d_fast_ok(const nb__conv_shape *s)
{
    if (s->sh != 1 || s->sw != 1) return 0;
    geom a = geom_fwd(s, 0), b = geom_bwd_x(s, 0);
    const int64_t lim = (int64_t)1 << 30; /* offsets are int32 */
    return a.XP < lim && b.XP < lim && a.K < lim && b.K < lim;
}

/* GCC turns copy and zeroing loops back into memcpy/memset calls; not for short rows. */
#if defined(__GNUC__) && !defined(__clang__)
#define NO_LIBCALLS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define NO_LIBCALLS
#endif

/* Planes [c0, c1) of one image x (C, H, W) into xp (C, Hp, Wp), zero outside. */
NO_LIBCALLS static void pad_planes(const geom *g, const float *x, float *xp, int64_t c0, int64_t c1)
{
    int64_t j0 = g->pl > 0 ? g->pl : 0, j1 = g->W + g->pl < g->Wp ? g->W + g->pl : g->Wp;
    for (int64_t c = c0; c < c1; c++)
        for (int64_t i = 0; i < g->Hp; i++) {
            float *r = xp + c * g->PL + i * g->Wp;
            int64_t si = i - g->pt;
            /* plain loops, not memset/memcpy: rows are short (16-30 floats in the cnn),
             * and a library call per row and border cost more than the copy */
            if (si < 0 || si >= g->H || j1 <= j0) {
                for (int64_t j = 0; j < g->Wp; j++) r[j] = 0.0f;
                continue;
            }
            const float *src = x + (c * g->H + si) * g->W - g->pl; /* column j reads src[j] */
            for (int64_t j = 0; j < j0; j++) r[j] = 0.0f;
            for (int64_t j = j0; j < j1; j++) r[j] = src[j];
            for (int64_t j = j1; j < g->Wp; j++) r[j] = 0.0f;
        }
}

/* Strided: planes [c0, c1) of one image into their phases (C, Sh, Sw, Hp, Wp), zero outside. */
NO_LIBCALLS static void pad_phases(const geom *g, const float *x, float *xp, int64_t c0, int64_t c1)
{
    for (int64_t c = c0; c < c1; c++)
        for (int64_t a = 0; a < g->Sh; a++)
            for (int64_t b = 0; b < g->Sw; b++) {
                float *ph = xp + c * g->PL + (a * g->Sw + b) * g->PH;
                for (int64_t i = 0; i < g->Hp; i++) {
                    float *r = ph + i * g->Wp;
                    int64_t si = g->sh * i + a - g->pt;
                    if (si < 0 || si >= g->H) {
                        for (int64_t j = 0; j < g->Wp; j++) r[j] = 0.0f;
                        continue;
                    }
                    /* columns [j0, j1) read src[sw·j + b - pl], the others are padding */
                    const float *src = x + (c * g->H + si) * g->W + b - g->pl;
                    int64_t j0 = g->pl - b > 0 ? (g->pl - b + g->sw - 1) / g->sw : 0;
                    int64_t j1 = g->W + g->pl - b > 0 ? (g->W + g->pl - b + g->sw - 1) / g->sw : 0;
                    if (j1 > g->Wp) j1 = g->Wp;
                    if (j0 > j1) j0 = j1;
                    for (int64_t j = 0; j < j0; j++) r[j] = 0.0f;
                    for (int64_t j = j0; j < j1; j++) r[j] = src[g->sw * j];
                    for (int64_t j = j1; j < g->Wp; j++) r[j] = 0.0f;
                }
            }
}

static void pad_any(const geom *g, const float *x, float *xp, int64_t c0, int64_t c1)
{
    if (g->sh == 1 && g->sw == 1) pad_planes(g, x, xp, c0, c1);
    else pad_phases(g, x, xp, c0, c1);
}

static void pad_slack(const geom *g, float *xp)
{
    memset(xp + g->C * g->PL, 0, (size_t)(g->XP - g->C * g->PL) * sizeof(float));
}

/* off[k] for tap k = (c·KH + u)·KW + v of a group: c·PL + u·dh·Wp + v·dw at stride 1,
 * c·PL + (phase of (u·dh, v·dw))·PH + (u·dh/sh)·Wp + v·dw/sw strided; taps past K get 0. */
static void make_offsets(const geom *g, int32_t *off, int64_t n)
{
    int64_t k = 0; /* nested loops: three divisions per tap cost microseconds at batch 1 */
    for (int64_t c = 0; c < g->Cg; c++)
        for (int64_t u = 0; u < g->KH; u++)
            for (int64_t v = 0; v < g->KW; v++, k++)
                if (k < n) {
                    int64_t ru = u * g->dh, rv = v * g->dw;
                    off[k] = g->direct ? (int32_t)(c * g->PL + (ru - g->pt) * g->Wp + rv - g->pl)
                                       : (int32_t)(c * g->PL + ((ru % g->sh) * g->Sw + rv % g->sw) * g->PH +
                                                   ru / g->sh * g->Wp + rv / g->sw);
                }
    for (; k < n; k++) off[k] = 0;
}

/* The weights of the input gradient packed for the forward kernel: [G][ceil(Og/MR)][K][MR],
 * zero rows past Og; the flipped transpose of w, A[g][o][(c·KH + u)·KW + v] =
 * w[g·Cg' + c][o][KH-1-u][KW-1-v], where g->Cg = OCg of the original convolution and
 * g->Og = its Cg. */
static void pack_a(const geom *g, const float *w, float *A)
{
    int64_t nob = (g->Og + MR - 1) / MR, KK = g->KH * g->KW;
    for (int64_t gr = 0; gr < g->G; gr++)
        for (int64_t ob = 0; ob < nob; ob++)
            for (int64_t i = 0; i < MR; i++) {
                float *a = A + (gr * nob + ob) * g->K * MR + i;
                int64_t o = ob * MR + i;
                if (o >= g->Og) {
                    for (int64_t k = 0; k < g->K; k++) a[k * MR] = 0;
                    continue;
                }
                for (int64_t c = 0; c < g->Cg; c++) { /* original w (OC, Cg, KH, KW): oc = gr·Cg' + c */
                    const float *src = w + ((gr * g->Cg + c) * g->Og + o) * KK + KK - 1;
                    for (int64_t uv = 0; uv < KK; uv++) a[(c * KK + uv) * MR] = src[-uv];
                }
            }
}

/* ---- forward micro-kernel ---- */

/* Where the 16 lanes of the vector at wide position q go: segment t stores lanes
 * m[t] at plane[off[t] + lane]. Returns the number of segments. */
typedef struct {
    vmask m;
    int64_t off;
} segment;

static int make_segments(const geom *g, int64_t q, segment *sg)
{
    if (g->OW == g->Wp) { /* rows without thrown-away columns: q is the output's index */
        int64_t left = g->OH * g->OW - q;
        if (left <= 0) return 0;
        sg[0] = (segment){.m = (vmask)(left >= VL ? (1u << VL) - 1 : (1u << left) - 1), .off = q};
        return 1;
    }
    int n = 0;
    int64_t oh = q / g->Wp, ow = q % g->Wp, j0 = 0;
    while (j0 < VL && oh < g->OH) {
        int64_t len = g->Wp - ow, valid = g->OW - ow;
        int64_t end = j0 + (valid < len ? valid : len);
        if (end > VL) end = VL;
        if (valid > 0 && end > j0) {
            vmask m = (vmask)(((1u << (end - j0)) - 1) << j0);
            sg[n++] = (segment){.m = m, .off = oh * g->OW + ow - j0};
        }
        j0 += len;
        ow = 0;
        oh++;
    }
    return n;
}

/* acc[i][v] = Σ_k a[i][k·ks] · xq[off[k] + 16v], k < K. direct (geom_direct): tap
 * k = c·KK + uv reads its vector v through mask mt[uv·nvec + v] (mt: the panel's first
 * vector in the table of make_masks), the same sums in the same order. */
ALWAYS_INLINE void fwd_acc(int nv, int direct, int64_t K, const float *const a[MR], int64_t ks, const float *xq,
                           const int32_t *off, const vmask *mt, int64_t KK, int64_t nvec, vf acc[MR][NV])
{
    /* local sums copied out at the end: summing into acc itself, GCC kept acc in memory
     * around the masked loads (a store per FMA) */
    vf r[MR][NV];
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 6
        for (int v = 0; v < nv; v++) r[i][v] = v_zero();
    const vmask *m = mt, *mend = direct ? mt + KK * nvec : NULL;
    for (int64_t k = 0; k < K; k++) {
        const float *bp = xq + off[k];
        vf b[NV];
#pragma GCC unroll 6
        for (int v = 0; v < nv; v++) b[v] = direct ? v_mload(bp, v * VL, m[v]) : v_load(bp + v * VL);
        if (direct) { /* the next tap's masks: uv + 1, back to 0 at the next channel */
            m += nvec;
            if (m == mend) m = mt;
        }
        int64_t ka = k * ks;
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++) {
            vf ai = v_set1(a[i][ka]);
#pragma GCC unroll 6
            for (int v = 0; v < nv; v++) r[i][v] = v_fma(ai, b[v], r[i][v]);
        }
    }
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 6
        for (int v = 0; v < nv; v++) acc[i][v] = r[i][v];
}

/* direct: mt[uv·nvec + t] has lane l set where wide position q = t·VL + l is an output
 * (q < Q, column below OW) whose tap uv = u·KW + v reads inside the input plane: per
 * tap, a run of bits per valid output row (no division per lane: the table is built on
 * every call, and at batch 1 a lane-by-lane build cost a quarter of a 28x28 layer). */
static void make_masks(const geom *g, vmask *mt)
{
    memset(mt, 0, (size_t)(g->KK * g->nvec) * sizeof(vmask));
    for (int64_t u = 0; u < g->KH; u++)
        for (int64_t v = 0; v < g->KW; v++) {
            vmask *m = mt + (u * g->KW + v) * g->nvec;
            int64_t j0, j1; /* output columns whose input column j + v·dw - pl is inside */
            nb__valid_range(v * g->dw - g->pl, 1, g->W, g->OW, &j0, &j1);
            for (int64_t i = 0; i < g->OH && j1 > j0; i++) {
                int64_t si = i + u * g->dh - g->pt;
                if (si < 0 || si >= g->H) continue;
                for (int64_t q = i * g->Wp + j0, e = i * g->Wp + j1; q < e;) { /* bits [q, e) */
                    int64_t t = q / VL, l = q % VL, n = e - q < VL - l ? e - q : VL - l;
                    m[t] = (vmask)(m[t] | (((1u << n) - 1) << l));
                    q += n;
                }
            }
        }
}

typedef struct {
    const geom *g;
    const vmask *mt;          /* direct: make_masks's table */
    const float *w;           /* weights (OC, K) read in place, or NULL */
    const float *A;           /* else weights packed by pack_a */
    const float *zero;        /* K zeros: the rows of a tile past Og */
    const int32_t *off;
    const nb__conv_epilogue *ep;
} fwd_job;

/* One micro-tile: channels [ob·MR, ob·MR + MR) of group gr, vectors [p·NV, p·NV + nv)
 * of image n, from the padded image xp, into y (N, O, OH, OW). */
ALWAYS_INLINE void fwd_tile_nv(int nv, int direct, const fwd_job *j, const float *xp, int64_t n, int64_t gr, int64_t ob,
                               int64_t p, const segment *sg, const int *nseg, float *y)
{
    const geom *g = j->g;
    int64_t nob = (g->Og + MR - 1) / MR;
    vf acc[MR][NV];
#ifdef __AVX512F__
    /* the output lines are fetched for writing while the sums run: masked stores to lines
     * that are not in the cache are slow on this CPU */
    for (int i = 0; i < MR && ob * MR + i < g->Og; i++) {
        const float *plane = y + (n * g->O + gr * g->Og + ob * MR + i) * g->OH * g->OW;
        for (int v = 0; v < nv; v++)
            for (int t = 0; t < nseg[v]; t++) {
                const segment *s = &sg[v * VL + t];
                const char *first = (const char *)(plane + s->off + __builtin_ctz(s->m));
                const char *last = (const char *)(plane + s->off + 31 - __builtin_clz(s->m));
                _mm_prefetch(first, _MM_HINT_ET0);
                _mm_prefetch(last, _MM_HINT_ET0);
            }
    }
#endif
    const float *a[MR];
    int64_t ks = MR;
    if (j->w) { /* rows of w in place: no packing (that would cost as much as a batch-1 sum) */
        ks = 1;
        for (int i = 0; i < MR; i++)
            a[i] = ob * MR + i < g->Og ? j->w + (gr * g->Og + ob * MR + i) * g->K : j->zero;
    } else {
        for (int i = 0; i < MR; i++) a[i] = j->A + (gr * nob + ob) * g->K * MR + i;
    }
    fwd_acc(nv, direct, g->K, a, ks, xp + gr * g->Cg * g->PL + p * NV * VL, j->off, direct ? j->mt + p * NV : NULL,
            g->KK, g->nvec, acc);
    const nb__conv_epilogue *ep = j->ep;
    for (int i = 0; i < MR; i++) {
        int64_t o = ob * MR + i;
        if (o >= g->Og) break;
        int64_t oc = gr * g->Og + o;
        float *plane = y + (n * g->O + oc) * g->OH * g->OW;
        vf sc = v_set1(ep->scale ? ep->scale[oc] : 1.0f), sh = v_set1(ep->shift ? ep->shift[oc] : 0.0f);
        const float *res = ep->residual ? ep->residual + (n * g->O + oc) * g->OH * g->OW : NULL;
        for (int v = 0; v < nv; v++) {
            vf r = acc[i][v];
            if (ep->scale) r = v_fma(r, sc, sh);
            else if (ep->shift) r = v_add(r, sh);
            if (ep->relu && !res) r = v_relu(r);
            for (int t = 0; t < nseg[v]; t++) {
                const segment *s = &sg[v * VL + t];
                vf out = r;
                if (res) {
                    out = v_add(out, v_mload(res, s->off, s->m));
                    if (ep->relu) out = v_relu(out);
                }
                if (ep->accumulate) out = v_add(out, v_mload(plane, s->off, s->m));
                v_mstore(plane, s->off, s->m, out);
            }
        }
    }
}

/* The panel p (its segments computed once) for every channel tile of group gr. */
static void fwd_panel(const fwd_job *j, const float *xp, int64_t n, int64_t gr, int64_t p, int64_t ob0, int64_t ob1,
                      float *y)
{
    const geom *g = j->g;
    int nv = (int)(g->nvec - p * NV < NV ? g->nvec - p * NV : NV);
    segment sg[NV * VL];
    int nseg[NV];
    for (int v = 0; v < nv; v++) nseg[v] = make_segments(g, (p * NV + v) * VL, sg + v * VL);
    /* one copy of the tile per (nv, direct): with both loops in one copy GCC kept the
     * accumulators in memory */
#define TILE(nv_, ...)                                                    \
    do {                                                                  \
        if (DIRECT_OK && g->direct) fwd_tile_nv(nv_, 1, __VA_ARGS__);      \
        else fwd_tile_nv(nv_, 0, __VA_ARGS__);                            \
    } while (0)
    for (int64_t ob = ob0; ob < ob1; ob++) {
        switch (nv) {
#if NV >= 6
        case 6: TILE(6, j, xp, n, gr, ob, p, sg, nseg, y); break;
#endif
#if NV >= 5
        case 5: TILE(5, j, xp, n, gr, ob, p, sg, nseg, y); break;
#endif
#if NV >= 4
        case 4: TILE(4, j, xp, n, gr, ob, p, sg, nseg, y); break;
#endif
#if NV >= 3
        case 3: TILE(3, j, xp, n, gr, ob, p, sg, nseg, y); break;
#endif
        case 2: TILE(2, j, xp, n, gr, ob, p, sg, nseg, y); break;
        default: TILE(1, j, xp, n, gr, ob, p, sg, nseg, y); break;
        }
    }
}
#undef TILE

static size_t fwd_scratch(const geom *g, int nt)
{
    int64_t nob = (g->Og + MR - 1) / MR;
    int64_t masks = g->direct ? round_up((g->KK * g->nvec * (int64_t)sizeof(vmask) + 3) / 4, VL) : 0;
    return (size_t)(round_up(g->G * nob * g->K * MR, VL) + 2 * round_up(g->K, VL) + masks + (int64_t)nt * g->XP);
}

/* Image n through the padded buffer xp (direct: read in place). */
static void fwd_image(const fwd_job *j, const float *x, float *y, float *xp, int64_t n)
{
    const geom *g = j->g;
    int64_t nob = (g->Og + MR - 1) / MR, npan = (g->nvec + NV - 1) / NV;
    const float *src = x + n * g->C * g->H * g->W;
    if (!g->direct) {
        pad_any(g, src, xp, 0, g->C);
        src = xp;
    }
    for (int64_t gr = 0; gr < g->G; gr++)
        for (int64_t p = 0; p < npan; p++) fwd_panel(j, src, n, gr, p, 0, nob, y);
}

typedef struct {
    const fwd_job *j;
    const float *x;
    float *y, *xps;
    int64_t n;
} fwd_task;

/* Whole images, one a chunk: each thread pads its images into its own plane buffer
 * (its slot's). Each output is computed by one thread whichever it is, so the result
 * does not depend on the schedule, and a thread the system deschedules holds up the
 * others for at most the image it has claimed. */
static void fwd_images(void *ctx, int64_t b, int64_t e, int slot)
{
    const fwd_task *t = ctx;
    float *xp = t->xps + (int64_t)slot * t->j->g->XP;
    for (int64_t n = b; n < e; n++) fwd_image(t->j, t->x, t->y, xp, n);
}

/* Image t->n shared by the threads: planes [b, e) padded ... */
static void fwd_shared_pad(void *ctx, int64_t b, int64_t e, int slot)
{
    const fwd_task *t = ctx;
    const geom *g = t->j->g;
    pad_any(g, t->x + t->n * g->C * g->H * g->W, t->xps, b, e);
}

/* ... then its tiles [b, e) (group, channel tile, panel), contiguous so that a thread's
 * channels' weights stay its own. */
static void fwd_shared_tiles(void *ctx, int64_t b, int64_t e, int slot)
{
    const fwd_task *t = ctx;
    const geom *g = t->j->g;
    int64_t nob = (g->Og + MR - 1) / MR, npan = (g->nvec + NV - 1) / NV;
    const float *xp = g->direct ? t->x + t->n * g->C * g->H * g->W : t->xps;
    for (int64_t i = b; i < e; i++) {
        int64_t p = i % npan, ob = i / npan % nob, gr = i / npan / nob;
        fwd_panel(t->j, xp, t->n, gr, p, ob, ob + 1, t->y);
    }
}

/* y (=|+=) ep(conv) for geometry g with weights w in place (w != NULL) or packed in
 * the scratch by pack_a; scratch as fwd_scratch */
static void fwd_run(const geom *g, const float *x, const float *w, const nb__conv_epilogue *ep, float *y,
                    float *scratch, int nt)
{
    int64_t nob = (g->Og + MR - 1) / MR, npan = (g->nvec + NV - 1) / NV;
    float *zero = scratch + round_up(g->G * nob * g->K * MR, VL);
    int32_t *off = (int32_t *)(zero + round_up(g->K, VL));
    vmask *mt = (vmask *)((float *)off + round_up(g->K, VL));
    float *xps = (float *)mt + (g->direct ? round_up((g->KK * g->nvec * (int64_t)sizeof(vmask) + 3) / 4, VL) : 0);
    memset(zero, 0, (size_t)g->K * sizeof(float));
    make_offsets(g, off, g->K);
    if (g->direct) make_masks(g, mt);
    fwd_job j = {.g = g, .mt = mt, .w = w, .A = scratch, .zero = zero, .off = off, .ep = ep};
    fwd_task t = {&j, x, y, xps, 0};
    if (g->N >= nt) {
        if (!g->direct)
            for (int i = 0; i < nt; i++) pad_slack(g, xps + (int64_t)i * g->XP);
        run(nt, g->N, 1, fwd_images, &t);
        return;
    }
    if (!g->direct) pad_slack(g, xps);
    for (t.n = 0; t.n < g->N; t.n++) {
        if (!g->direct) run(nt, g->C, halves(g->C, nt), fwd_shared_pad, &t);
        run(nt, g->G * nob * npan, halves(g->G * nob * npan, nt), fwd_shared_tiles, &t);
    }
}

size_t nb__conv2d_fast_scratch_fwd(const nb__conv_shape *s, int nt)
{
    geom g = geom_fwd(s, nb__conv_fast_direct());
    return fwd_scratch(&g, nt);
}

size_t nb__conv2d_fast_scratch_bwd_x(const nb__conv_shape *s, int nt)
{
    geom g = geom_bwd_x(s, nb__conv_fast_direct());
    return fwd_scratch(&g, nt);
}

void nb__conv2d_fast_fwd(const nb__conv_shape *s, const float *x, const float *w, const nb__conv_epilogue *ep,
                         float *y, float *scratch, int nt)
{
    geom g = geom_fwd(s, nb__conv_fast_direct());
    fwd_run(&g, x, w, ep, y, scratch, nt);
}

void nb__conv2d_fast_bwd_x(const nb__conv_shape *s, const float *dy, const float *w, float *dx, float *scratch,
                           int nt)
{
    geom g = geom_bwd_x(s, nb__conv_fast_direct());
    pack_a(&g, w, scratch);
    nb__conv_epilogue ep = {.accumulate = 1};
    fwd_run(&g, dy, NULL, &ep, dx, scratch, nt);
}

/* ---- weight gradient ---- */

#ifdef __AVX512F__
#include "kernels/transpose16.h"
#endif

/* dyT (Q, Ogp) of group gr of image n: dyT[q][o] = dy[n, gr·Og + o, q / Wp, q % Wp]
 * for columns q % Wp < OW and o < Og, else 0. Output rows [oh0, oh1) (Wp values of q each). */
static void transpose_dy(const geom *g, const float *dy, int64_t n, int64_t gr, int64_t Ogp, float *dyT, int64_t oh0,
                         int64_t oh1)
{
    int64_t P = g->OH * g->OW;
    const float *d = dy + (n * g->O + gr * g->Og) * P;
    for (int64_t oh = oh0; oh < oh1; oh++) {
        float *rows = dyT + oh * g->Wp * Ogp;
        if (g->Wp > g->OW) memset(rows + g->OW * Ogp, 0, (size_t)((g->Wp - g->OW) * Ogp) * sizeof(float));
#ifdef __AVX512F__
        const float *dend = dy + (n + 1) * g->O * P; /* the rest of dy is readable too; stay inside image n */
        for (int64_t o0 = 0; o0 < Ogp; o0 += VL)
            for (int64_t w0 = 0; w0 < g->OW; w0 += VL) {
                int64_t nw = g->OW - w0 < VL ? g->OW - w0 : VL;
                __m512 r[16];
                for (int i = 0; i < VL; i++) {
                    const float *src = d + (o0 + i) * P + oh * g->OW + w0;
                    if (o0 + i >= g->Og)
                        r[i] = _mm512_setzero_ps();
                    else if (src + VL <= dend) /* lanes past the row are garbage and dropped below */
                        r[i] = _mm512_loadu_ps(src);
                    else
                        r[i] = _mm512_maskz_loadu_ps((__mmask16)((1u << nw) - 1), src);
                }
                nb__transpose16(r);
                for (int64_t j = 0; j < nw; j++) _mm512_storeu_ps(rows + (w0 + j) * Ogp + o0, r[j]);
            }
#else
        for (int64_t ow = 0; ow < g->OW; ow++) {
            float *r = rows + ow * Ogp;
            const float *src = d + oh * g->OW + ow;
            for (int64_t o = 0; o < g->Og; o++) r[o] = src[o * P];
            for (int64_t o = g->Og; o < Ogp; o++) r[o] = 0;
        }
#endif
    }
}

/* out[o] += Σ_q rows[q][o] for o < n (a multiple of VL) */
static void sum_rows(const float *rows, int64_t Q, int64_t n, float *out)
{
    for (int64_t o = 0; o < n; o += VL) {
        vf a0 = v_zero(), a1 = v_zero();
        int64_t q = 0;
        for (; q + 1 < Q; q += 2) {
            a0 = v_add(a0, v_load(rows + q * n + o));
            a1 = v_add(a1, v_load(rows + (q + 1) * n + o));
        }
        if (q < Q) a0 = v_add(a0, v_load(rows + q * n + o));
        v_store(out + o, v_add(v_load(out + o), v_add(a0, a1)));
    }
}

/* acc[j][v] = Σ_{q<Q} xq[off[j] + q] · dyT[q][16v]; then dwT[j][16v] += acc for j < nk */
ALWAYS_INLINE void bww_tile(int mk, int nvo, int64_t Q, const float *xq, const int32_t *off, const float *dyT,
                            int64_t Ogp, float *dwT, int nk)
{
    vf acc[MRK][NVO];
#pragma GCC unroll 12
    for (int i = 0; i < mk; i++)
#pragma GCC unroll 4
        for (int v = 0; v < nvo; v++) acc[i][v] = v_zero();
    const float *xk[MRK];
#pragma GCC unroll 12
    for (int i = 0; i < mk; i++) xk[i] = xq + off[i];
    for (int64_t q = 0; q < Q; q++) {
        vf b[NVO];
        const float *r = dyT + q * Ogp;
#pragma GCC unroll 4
        for (int v = 0; v < nvo; v++) b[v] = v_load(r + v * VL);
#pragma GCC unroll 12
        for (int i = 0; i < mk; i++) {
            vf a = v_set1(xk[i][q]);
#pragma GCC unroll 4
            for (int v = 0; v < nvo; v++) acc[i][v] = v_fma(a, b[v], acc[i][v]);
        }
    }
    for (int i = 0; i < nk && i < mk; i++)
        for (int v = 0; v < nvo; v++) v_store(dwT + i * Ogp + v * VL, v_add(v_load(dwT + i * Ogp + v * VL), acc[i][v]));
}

/* Taps per micro-tile for nvo vectors of channels. */
static int taps_for(int nvo) { return TAPS(nvo); }

/* Tile t of (channel chunk of 64, tap block) for group gr: dwT (K, Ogp) += ... */
static void bww_block(const geom *g, const float *xg, const int32_t *off, const float *dyT, int64_t Ogp, float *dwT,
                      int64_t oc0, int64_t k0, int64_t q0, int64_t q1)
{
    int nvo = (int)((Ogp - oc0) / VL < NVO ? (Ogp - oc0) / VL : NVO);
    int mk = taps_for(nvo), nk = (int)(g->K - k0 < mk ? g->K - k0 : mk);
    const float *d = dyT + q0 * Ogp + oc0, *xq = xg + q0;
    float *o = dwT + k0 * Ogp + oc0;
    int64_t Q = q1 - q0;
    switch (nvo) {
#if NVO >= 4
    case 4: bww_tile(TAPS(4), 4, Q, xq, off + k0, d, Ogp, o, nk); break;
    case 3: bww_tile(TAPS(3), 3, Q, xq, off + k0, d, Ogp, o, nk); break;
#endif
    case 2: bww_tile(TAPS(2), 2, Q, xq, off + k0, d, Ogp, o, nk); break;
    default: bww_tile(TAPS(1), 1, Q, xq, off + k0, d, Ogp, o, nk); break;
    }
}

/* per thread: padded image, dyT of one group, dwT (G, K, Ogp), db (G, Ogp) */
static void bww_sizes(const geom *g, int64_t *Ogp, int64_t *per_thread, int64_t *noff)
{
    *Ogp = round_up(g->Og, VL);
    *noff = round_up(g->K + MRK, VL);
    *per_thread = g->XP + round_up(g->Q * *Ogp, VL) + g->G * g->K * *Ogp + g->G * *Ogp;
}

size_t nb__conv2d_fast_scratch_bwd_w(const nb__conv_shape *s, int nt)
{
    geom g = geom_fwd(s, 0);
    int64_t Ogp, per, noff;
    bww_sizes(&g, &Ogp, &per, &noff);
    return (size_t)(noff + (int64_t)nt * per + g.G * g.K * Ogp + g.G * Ogp);
}

typedef struct {
    const geom *g;
    const float *x, *dy;
    const int32_t *off;
    int64_t Ogp, per;
    float *base;
    float *tot; /* (G, K, Ogp) then (G, Ogp): dw and db transposed while the chunks are added */
    int want_w, want_b;
} bww_job;

/* Buffer b of the job (thread b's): padded image, dyT, then the sums dwT (G, K, Ogp) and dbT (G, Ogp). */
typedef struct {
    float *xp, *dyT, *dwT, *dbT;
} bww_buf;

static bww_buf buf_of(const bww_job *j, int b)
{
    const geom *g = j->g;
    bww_buf r;
    r.xp = j->base + (int64_t)b * j->per;
    r.dyT = r.xp + g->XP;
    r.dwT = r.dyT + round_up(g->Q * j->Ogp, VL);
    r.dbT = r.dwT + g->G * g->K * j->Ogp;
    return r;
}

/* Rows of dyT per block, kept in L1 while every tap block reads them. Every path sums a
 * weight over q in these blocks, so the sums are the same whichever path runs. */
static int64_t q_block(const bww_job *j) { return QB * 64 / (j->Ogp < 64 ? j->Ogp : 64); }

/* The taps of every channel chunk of group gr of the padded image in xp, into dwT. */
static void bww_group(const bww_job *j, const float *xp, const float *dyT, float *dwT, int64_t gr)
{
    const geom *g = j->g;
    int64_t qb = q_block(j);
    for (int64_t q0 = 0; q0 < g->Q; q0 += qb)
        for (int64_t c0 = 0; c0 < j->Ogp; c0 += CHW) {
            int mk = taps_for((int)((j->Ogp - c0) / VL < NVO ? (j->Ogp - c0) / VL : NVO));
            for (int64_t k0 = 0; k0 < g->K; k0 += mk)
                bww_block(g, xp + gr * g->Cg * g->PL, j->off, dyT, j->Ogp, dwT + gr * g->K * j->Ogp, c0, k0, q0,
                          q0 + qb < g->Q ? q0 + qb : g->Q);
        }
}

/* The weight gradient sums over images in NCHUNK chunks (fewer for small batches), fixed
 * by the batch size alone: each chunk is summed on its own from zero and the chunks are
 * added into dw in order, so the result is the same whatever the number of threads (a
 * training run repeats bit for bit on 1 or 2 threads). */
#define NCHUNK 8
static int64_t chunks_of(int64_t N) { return N < NCHUNK ? N : NCHUNK; }

typedef struct {
    const bww_job *j;
    float *dw, *db;
    int out;          /* move_sums: tot -> dw, db (else dw, db -> tot) */
    int nb;           /* add_sums: buffers */
    int64_t c0, n, gr; /* the round's first chunk; the shared image and group */
} bww_task;

/* tot += the sums dwT (G, K, Ogp) and dbT (G, Ogp) of buffers 0..nb-1, in that order
 * for each element: rows [b, e) of 1024 values. */
static void add_sums(void *ctx, int64_t b, int64_t e, int slot)
{
    const bww_task *t = ctx;
    const bww_job *j = t->j;
    const geom *g = j->g;
    int64_t n = g->G * g->K * j->Ogp + g->G * j->Ogp;
    for (int64_t r = b; r < e; r++) {
        int64_t a = r * 1024, z = a + 1024 < n ? a + 1024 : n;
        for (int k = 0; k < t->nb; k++) {
            const float *u = buf_of(j, k).dwT; /* dbT follows dwT */
            for (int64_t i = a; i < z; i++) j->tot[i] += u[i];
        }
    }
}

static int64_t sum_rows_of(const bww_job *j)
{
    const geom *g = j->g;
    return (g->G * g->K * j->Ogp + g->G * j->Ogp + 1023) / 1024;
}

/* tot <- dw, db transposed (in) or dw, db <- tot (out), blocks [b, e) of 16 output
 * channels. dw (OC, K) with K = Cg·KH·KW; tot (G, K, Ogp). Taking dw in and out once
 * (instead of a strided pass per chunk) keeps each element's sum dw + chunk 0 +
 * chunk 1 + ... in the same order. */
static void move_sums(void *ctx, int64_t b, int64_t e, int slot)
{
    const bww_task *t = ctx;
    const bww_job *j = t->j;
    const geom *g = j->g;
    float *dw = t->dw, *db = t->db;
    int out = t->out;
    int64_t Ogp = j->Ogp;
    float *tb = j->tot + g->G * g->K * Ogp;
    for (int64_t blk = b; blk < e; blk++) { /* 16 channels at a time: rows of 16 floats in tot */
        int64_t oc0 = blk * 16, oc1 = oc0 + 16 < g->G * g->Og ? oc0 + 16 : g->G * g->Og;
        for (int64_t oc = oc0; oc < oc1; oc++) {
            int64_t gr = oc / g->Og, o = oc % g->Og;
            float *tt = j->tot + gr * g->K * Ogp + o;
            if (dw) {
                float *d = dw + oc * g->K;
                if (out)
                    for (int64_t k = 0; k < g->K; k++) d[k] = tt[k * Ogp];
                else
                    for (int64_t k = 0; k < g->K; k++) tt[k * Ogp] = d[k];
            }
            if (db) {
                if (out) db[oc] = tb[gr * Ogp + o];
                else tb[gr * Ogp + o] = db[oc];
            }
        }
    }
}

static void run_move_sums(bww_task *t, int out, int nt)
{
    const geom *g = t->j->g;
    int64_t nb16 = (g->G * g->Og + 15) / 16;
    t->out = out;
    run(nt, nb16, halves(nb16, nt), move_sums, t);
}

static void run_add_sums(bww_task *t, int nb, int nt)
{
    int64_t rows = sum_rows_of(t->j);
    t->nb = nb;
    run(nt, rows, halves(rows, nt), add_sums, t);
}

static void zero_sums(const bww_job *j, const bww_buf *u)
{
    const geom *g = j->g;
    memset(u->dwT, 0, (size_t)(g->G * g->K * j->Ogp + g->G * j->Ogp) * sizeof(float));
}

/* Chunks t->c0 + [b, e) of images, chunk c0 + r summed from zero into buffer r. */
static void bww_round(void *ctx, int64_t b, int64_t e, int slot)
{
    const bww_task *t = ctx;
    const bww_job *j = t->j;
    const geom *g = j->g;
    int64_t img = g->C * g->H * g->W, nch = chunks_of(g->N);
    for (int64_t r = b; r < e; r++) {
        int64_t c = t->c0 + r;
        bww_buf u = buf_of(j, (int)r);
        zero_sums(j, &u);
        for (int64_t n = g->N * c / nch; n < g->N * (c + 1) / nch; n++) {
            if (j->want_w) pad_planes(g, j->x + n * img, u.xp, 0, g->C);
            for (int64_t gr = 0; gr < g->G; gr++) {
                transpose_dy(g, j->dy, n, gr, j->Ogp, u.dyT, 0, g->OH);
                if (j->want_b) sum_rows(u.dyT, g->Q, j->Ogp, u.dbT + gr * j->Ogp);
                if (j->want_w) bww_group(j, u.xp, u.dyT, u.dwT, gr);
            }
        }
    }
}

/* Whole chunks of images in rounds of nt chunks: chunk c0 + r into buffer r (whichever
 * thread claims it), then the round's chunks go into dw in order. */
static void bww_images(const bww_job *j, float *dw, float *db, int nt)
{
    const geom *g = j->g;
    int64_t nch = chunks_of(g->N);
    bww_task t = {.j = j, .dw = dw, .db = db};
    for (int i = 0; i < nt; i++) pad_slack(g, buf_of(j, i).xp);
    run_move_sums(&t, 0, nt);
    for (t.c0 = 0; t.c0 < nch; t.c0 += nt) {
        int nb = (int)(nch - t.c0 < nt ? nch - t.c0 : nt);
        run(nt, nb, 1, bww_round, &t);
        run_add_sums(&t, nb, nt);
    }
    run_move_sums(&t, 1, nt);
}

/* Group t->gr of image t->n shared by the threads: planes [b, e) padded ... */
static void bww_shared_pad(void *ctx, int64_t b, int64_t e, int slot)
{
    const bww_task *t = ctx;
    const geom *g = t->j->g;
    pad_planes(g, t->j->x + t->n * g->C * g->H * g->W, buf_of(t->j, 0).xp, b, e);
}

/* ... output rows [b, e) of dy transposed ... */
static void bww_shared_transpose(void *ctx, int64_t b, int64_t e, int slot)
{
    const bww_task *t = ctx;
    transpose_dy(t->j->g, t->j->dy, t->n, t->gr, t->j->Ogp, buf_of(t->j, 0).dyT, b, e);
}

/* ... tiles [b, e) of (64-channel chunk, tap block), each with the row blocks of
 * bww_group, so the sums are the same as there; blocks past K are empty. */
static void bww_shared_tiles(void *ctx, int64_t b, int64_t e, int slot)
{
    const bww_task *t = ctx;
    const bww_job *j = t->j;
    const geom *g = j->g;
    int64_t Ogp = j->Ogp, gr = t->gr;
    bww_buf u = buf_of(j, 0);
    int64_t nkb = (g->K + taps_for(NVO) - 1) / taps_for(NVO), qb = q_block(j);
    for (int64_t i = b; i < e; i++) {
        int64_t c0 = i / nkb * CHW, kb = i % nkb;
        int mk = taps_for((int)((Ogp - c0) / VL < NVO ? (Ogp - c0) / VL : NVO));
        if (kb * mk < g->K)
            for (int64_t q0 = 0; q0 < g->Q; q0 += qb)
                bww_block(g, u.xp + gr * g->Cg * g->PL, j->off, u.dyT, Ogp, u.dwT + gr * g->K * Ogp, c0, kb * mk, q0,
                          q0 + qb < g->Q ? q0 + qb : g->Q);
    }
}

/* A batch smaller than the thread count: chunk by chunk, each image shared by the threads. */
static void bww_shared(const bww_job *j, float *dw, float *db, int nt)
{
    const geom *g = j->g;
    int64_t nch = chunks_of(g->N), Ogp = j->Ogp;
    int64_t nkb = (g->K + taps_for(NVO) - 1) / taps_for(NVO), ncw = (Ogp + CHW - 1) / CHW;
    bww_buf u = buf_of(j, 0);
    bww_task t = {.j = j, .dw = dw, .db = db};
    run_move_sums(&t, 0, nt);
    for (int64_t c = 0; c < nch; c++) {
        zero_sums(j, &u);
        for (t.n = g->N * c / nch; t.n < g->N * (c + 1) / nch; t.n++)
            for (t.gr = 0; t.gr < g->G; t.gr++) {
                if (t.gr == 0 && j->want_w) run(nt, g->C, halves(g->C, nt), bww_shared_pad, &t);
                run(nt, g->OH, halves(g->OH, nt), bww_shared_transpose, &t);
                if (j->want_b) sum_rows(u.dyT, g->Q, Ogp, u.dbT + t.gr * Ogp);
                if (j->want_w) run(nt, ncw * nkb, halves(ncw * nkb, nt), bww_shared_tiles, &t);
            }
        run_add_sums(&t, 1, nt);
    }
    run_move_sums(&t, 1, nt);
}

void nb__conv2d_fast_bwd_w(const nb__conv_shape *s, const float *x, const float *dy, float *dw, float *db,
                           float *scratch, int nt)
{
    geom gm = geom_fwd(s, 0);
    const geom *g = &gm;
    int64_t Ogp, per, noff;
    bww_sizes(g, &Ogp, &per, &noff);
    int32_t *off = (int32_t *)scratch;
    make_offsets(g, off, g->K + MRK);
    bww_job j = {.g = g, .x = x, .dy = dy, .off = off, .Ogp = Ogp, .per = per, .base = scratch + noff,
                 .tot = scratch + noff + (int64_t)nt * per,
                 .want_w = dw != NULL, .want_b = db != NULL};
    if (g->N >= nt) {
        bww_images(&j, dw, db, nt);
    } else {
        pad_slack(g, j.base);
        bww_shared(&j, dw, db, nt);
    }
}
