/* gemm_avx512.c - single-precision GEMM with AVX-512 (the fast path of nb__sgemm).
 *
 * C (M,N) = alpha·op(A) (M,K) · op(B) (K,N) + beta·C, row-major; the layouts of
 * the four transpose cases are in gemm.h. GotoBLAS/BLIS structure:
 *
 *   for jc in N, NC columns at a time
 *     for pc in K, kc at a time (the same split of K for every thread count)
 *       pack op(B)[pc.., jc..] into NR-column panels  Bp[q][k][j] = B(pc+k, jc+q·NR+j)
 *       for ic in M, MC rows at a time
 *         pack op(A)[ic.., pc..] into MR-row panels   Ap[p][k][i] = A(ic+p·MR+i, pc+k)
 *         for jr (NR panels of Bp), for ir (MR panels of Ap):
 *           micro-kernel: C[MR×NR tile] = alpha·Ap·Bp + (first pc ? beta : 1)·C
 *
 * Panels are zero-padded past M and N; the micro-kernel (MR = 14 rows × NR = 32
 * columns: 28 zmm accumulators, two B vectors, A broadcast from memory) has a
 * copy for each row count 1..14 and masked loads/stores for columns, so edge
 * tiles do only their own rows' work. Every C element is one FMA chain over k in
 * order inside each kc block, whichever tile, thread or path of this file's main
 * loop computes it, so the result does not depend on the thread count.
 *
 * Small M (M ≤ 8, op(B) row-major or A not transposed) skips packing: batch-1
 * inference and matrix-vector products stream B once, either as rows (transB = 0:
 * M×W vectors of C in registers) or as dot products (transB = 1: both operands
 * contiguous in k, 16 k per FMA, summed across lanes at the end).
 *
 * Threads: C is cut into a grid of tm × tn blocks on MR/NR boundaries, one per
 * thread, each with its own packing (the grid minimises the slowest thread's
 * multiply-adds plus packed elements). Pack buffers are per thread, allocated at
 * the thread's first call and kept (freed when the thread exits).
 *
 * Compiled for AVX-512 with target pragmas (GCC's, or clang's attribute pragma) so the
 * library builds for any x86-64; gemm.c calls it only when the CPU has AVX-512F.
 */
#if defined(__x86_64__) && defined(__GNUC__)
#include "core/threadpool.h"
#include "kernels/gemm.h"

#include <immintrin.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#ifdef __clang__
#pragma clang attribute push(__attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")
#endif
#include "kernels/transpose16.h" /* after the pragma: compiled for AVX-512 */

#define MR 14
#define NR 32
#ifndef KC
#define KC 256   /* kc ≤ KC: a B micro-panel (KC×NR floats, 32 KB) stays in the 48 KB L1 */
#endif
#ifndef MC
#define MC 280   /* MC×KC floats of packed A (280 KB) stay in the 1 MB L2 */
#endif
#ifndef NC
#define NC 3072  /* KC×NC floats of packed B (3 MB) in L3 */
#endif
#define SMALL_M 8     /* rows of the small-M kernels */
#ifndef SMALL_ROWS
#define SMALL_ROWS 28 /* M up to this takes the small-M path (in groups of ≤ SMALL_M rows) */
#endif
#define SMALL_B_MAX ((int64_t)1 << 19) /* ... when B (K×N floats) is at most this (L2-sized) */
#define SMALL_KB 256        /* transB = 0: B in blocks of SMALL_KB rows × SMALL_NB columns */
#define SMALL_NB 1024
#define SMALL_PF 16         /* transB = 0, B larger than SMALL_B_MAX: prefetch this many rows ahead */
#define SMALL_DOT_PF 256    /* transB = 1: prefetch this many floats ahead along B's rows */
#define PACK_FLOATS ((size_t)MC * KC + (size_t)KC * NC)
/* A call below this many multiply-adds runs on one thread (a fork costs ~2 µs). */
#define PAR_MIN_MACS ((int64_t)1 << 18)
/* What packing one element costs, in multiply-adds (for the thread grid). */
#define PACK_COST 8

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* ---- per-thread pack buffers ---- */

static pthread_key_t g_key;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static _Thread_local float *t_pack;

static void make_key(void) { pthread_key_create(&g_key, free); }

/* The packing buffers of the pool's workers, by slot: made by any product called outside
 * the workers (so a worker's first part, or a product inside a chunk, does not allocate in
 * the middle of a training step) and kept for the process. */
static float *_Atomic g_worker_pack[256];

static int worker_buffers(int threads)
{
    for (int s = 1; s < threads && s < 256; s++) {
        if (atomic_load_explicit(&g_worker_pack[s], memory_order_acquire)) continue;
        float *p = aligned_alloc(64, PACK_FLOATS * sizeof(float)), *none = NULL;
        if (!p) return -1;
        if (!atomic_compare_exchange_strong(&g_worker_pack[s], &none, p)) free(p);
    }
    return 0;
}

/* This thread's PACK_FLOATS-float buffer (64-byte aligned), or NULL. */
static float *pack_buffer(void)
{
    if (t_pack) return t_pack;
    int w = nb__pool_worker(); /* a pool worker: the buffer made for its slot, if there is one */
    if (w > 0 && w < 256 && (t_pack = atomic_load_explicit(&g_worker_pack[w], memory_order_acquire))) return t_pack;
    pthread_once(&g_once, make_key);
    float *p = aligned_alloc(64, PACK_FLOATS * sizeof(float));
    if (p) pthread_setspecific(g_key, p);
    return t_pack = p;
}

static inline __mmask16 mask16(int64_t n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n > 0 ? n : 0)) - 1u); }

/* ---- packing ---- */

/* Rows r0..r0+rows (rows ≤ 16) of a row-major source, columns c0..c0+kc, written
 * transposed: dst[k*dstride + i] = src[(r0+i)*ld + c0+k] for i < width (rows past
 * `rows` are 0; `width` ≤ 16 floats are stored per k). pf > 0: the same columns of the
 * 16 rows pf rows further down are prefetched as these are read (a source from DRAM:
 * the hardware prefetchers do not keep 16 row streams ahead). */
static void pack_transposed(const float *src, int64_t ld, int64_t rows, int64_t kc, float *dst, int64_t dstride,
                            int width, int64_t pf)
{
    __mmask16 wm = mask16(width);
    if (rows <= 0) { /* all padding */
        for (int64_t k = 0; k < kc; k++) _mm512_mask_storeu_ps(dst + k * dstride, wm, _mm512_setzero_ps());
        return;
    }
    for (int64_t k0 = 0; k0 < kc; k0 += 16) {
        __mmask16 km = mask16(kc - k0);
        __m512 r[16];
        for (int i = 0; i < 16; i++)
            r[i] = i < rows ? _mm512_maskz_loadu_ps(km, src + i * ld + k0) : _mm512_setzero_ps();
        if (pf)
            for (int i = 0; i < 16; i++) _mm_prefetch((const char *)(src + (pf + i) * ld + k0), _MM_HINT_T0);
        nb__transpose16(r);
        int64_t kn = kc - k0 < 16 ? kc - k0 : 16;
        for (int64_t k = 0; k < kn; k++) _mm512_mask_storeu_ps(dst + (k0 + k) * dstride, wm, r[k]);
    }
}

/* Ap[p][k][i] = A(m0 + p·MR + i, k0 + k) for mc rows, kc columns. */
static void pack_a(const nb__gemm_args *g, int64_t m0, int64_t mc, int64_t k0, int64_t kc, float *ap)
{
    if (!g->transA) {
        for (int64_t p = 0; p < mc; p += MR, ap += MR * kc)
            pack_transposed(g->A + (m0 + p) * g->lda + k0, g->lda, mc - p < MR ? mc - p : MR, kc, ap, MR, MR, 0);
        return;
    }
    for (int64_t k1 = 0; k1 < kc; k1 += 8) { /* 8 rows at a time along A's rows: whole lines and pages */
        int64_t k2 = kc - k1 < 8 ? kc : k1 + 8;
        for (int64_t p = 0; p < mc; p += MR)
            for (int64_t k = k1; k < k2; k++)
                _mm512_mask_storeu_ps(ap + p * kc + k * MR, mask16(MR),
                                      _mm512_maskz_loadu_ps(mask16(mc - p), g->A + (k0 + k) * g->lda + m0 + p));
    }
}

/* Bp[q][k][j] = B(k0 + k, n0 + q·NR + j) for kc rows, nc columns. */
static void pack_b(const nb__gemm_args *g, int64_t n0, int64_t nc, int64_t k0, int64_t kc, float *bp)
{
    if (g->transB) {
        /* B larger than L2 comes from DRAM: prefetch the next panel's rows (not past B's last row) */
        int dram = g->K * g->N > SMALL_B_MAX;
        for (int64_t q = 0; q < nc; q += NR, bp += NR * kc) {
            int64_t nr = nc - q < NR ? nc - q : NR, left = g->N - (n0 + q); /* rows of B from s on */
            const float *s = g->B + (n0 + q) * g->ldb + k0;
            pack_transposed(s, g->ldb, nr, kc, bp, NR, 16, dram && left >= NR + 16 ? NR : 0);
            pack_transposed(s + 16 * g->ldb, g->ldb, nr - 16, kc, bp + 16, NR, 16, dram && left >= NR + 32 ? NR : 0);
        }
        return;
    }
    for (int64_t k1 = 0; k1 < kc; k1 += 8) { /* 8 rows at a time along B's rows: whole lines and pages */
        int64_t k2 = kc - k1 < 8 ? kc : k1 + 8;
        for (int64_t q = 0; q < nc; q += NR) {
            __mmask16 m0 = mask16(nc - q), m1 = mask16(nc - q - 16);
            for (int64_t k = k1; k < k2; k++) {
                const float *s = g->B + (k0 + k) * g->ldb + n0 + q;
                float *d = bp + q * kc + k * NR;
                _mm512_store_ps(d, _mm512_maskz_loadu_ps(m0, s));
                _mm512_store_ps(d + 16, _mm512_maskz_loadu_ps(m1, s + 16));
            }
        }
    }
}

/* ---- micro-kernel ---- */

/* The epilogue every path shares: c = alpha·acc (beta = 0, c not read) or
 * c = alpha·acc + beta·c, on the lanes of mask m. */
ALWAYS_INLINE void store_c(float *c, __mmask16 m, __m512 acc, __m512 va, float beta)
{
    if (beta == 0.0f)
        _mm512_mask_storeu_ps(c, m, _mm512_mul_ps(va, acc));
    else
        _mm512_mask_storeu_ps(c, m, _mm512_fmadd_ps(va, acc, _mm512_mul_ps(_mm512_set1_ps(beta), _mm512_maskz_loadu_ps(m, c))));
}

/* C (mr × 32, columns masked by m0, m1) = alpha·Ap·Bp + beta·C over kc. */
ALWAYS_INLINE void ukernel(const int mr, int64_t kc, const float *restrict a, const float *restrict b,
                           float *restrict c, int64_t ldc, __mmask16 m0, __mmask16 m1, float alpha, float beta)
{
    __m512 c0[MR], c1[MR];
#pragma GCC unroll 14
    for (int i = 0; i < mr; i++) {
        c0[i] = c1[i] = _mm512_setzero_ps();
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * ldc + 31), _MM_HINT_T0);
    }
#pragma GCC unroll 2
    for (int64_t k = 0; k < kc; k++) {
        __m512 b0 = _mm512_load_ps(b + k * NR), b1 = _mm512_load_ps(b + k * NR + 16);
#pragma GCC unroll 14
        for (int i = 0; i < mr; i++) {
            __m512 ai = _mm512_set1_ps(a[k * MR + i]);
            c0[i] = _mm512_fmadd_ps(ai, b0, c0[i]);
            c1[i] = _mm512_fmadd_ps(ai, b1, c1[i]);
        }
    }
    __m512 va = _mm512_set1_ps(alpha);
#pragma GCC unroll 14
    for (int i = 0; i < mr; i++) {
        store_c(c + i * ldc, m0, c0[i], va, beta);
        store_c(c + i * ldc + 16, m1, c1[i], va, beta);
    }
}

#define UK(R) \
    static void uk##R(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, __mmask16 m0, __mmask16 m1, \
                      float alpha, float beta) { ukernel(R, kc, a, b, c, ldc, m0, m1, alpha, beta); }
UK(1) UK(2) UK(3) UK(4) UK(5) UK(6) UK(7) UK(8) UK(9) UK(10) UK(11) UK(12) UK(13) UK(14)
#undef UK
typedef void (*ukernel_fn)(int64_t, const float *, const float *, float *, int64_t, __mmask16, __mmask16, float, float);
static const ukernel_fn ukernels[MR + 1] = {NULL, uk1, uk2, uk3, uk4, uk5, uk6, uk7, uk8, uk9, uk10, uk11, uk12, uk13, uk14};

/* The split of K into blocks: a function of K alone, so that results do not depend on threads. */
static int64_t k_block(int64_t K) { return (K + (K + KC - 1) / KC - 1) / ((K + KC - 1) / KC); }

/* Rows [m0, m1) × columns [n0, n1) of C, packing into buf. */
static void gemm_block(const nb__gemm_args *g, int64_t m0, int64_t m1, int64_t n0, int64_t n1, float *buf)
{
    float *ap = buf, *bp = buf + (size_t)MC * KC;
    int64_t kb = k_block(g->K);
    for (int64_t jc = n0; jc < n1; jc += NC) {
        int64_t nc = n1 - jc < NC ? n1 - jc : NC;
        for (int64_t pc = 0; pc < g->K; pc += kb) {
            int64_t kc = g->K - pc < kb ? g->K - pc : kb;
            float beta = pc == 0 ? g->beta : 1.0f;
            if (pc == 0 && g->bias) nb__gemm_fill_bias(g->bias, g->C, g->ldc, m0, m1, jc, jc + nc);
            pack_b(g, jc, nc, pc, kc, bp);
            for (int64_t ic = m0; ic < m1; ic += MC) {
                int64_t mc = m1 - ic < MC ? m1 - ic : MC;
                pack_a(g, ic, mc, pc, kc, ap);
                for (int64_t jr = 0; jr < nc; jr += NR) {
                    __mmask16 k0 = mask16(nc - jr), k1 = mask16(nc - jr - 16);
                    for (int64_t ir = 0; ir < mc; ir += MR) {
                        int64_t mr = mc - ir < MR ? mc - ir : MR;
                        ukernels[mr](kc, ap + ir * kc, bp + jr * kc, g->C + (ic + ir) * g->ldc + jc + jr, g->ldc, k0,
                                     k1, g->alpha, beta);
                    }
                }
            }
        }
    }
}

/* ---- small M: no packing ---- */

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* transB = 0: C[0..M, n0..n1) with W vectors of 16 columns per row in registers,
 * over rows k0..k1 of B. The sums of earlier k blocks come from acc (M rows of ld
 * floats, column n at acc[n - n0]) unless first; the block's sums go back there
 * unless last, when the epilogue writes C. Storing a float sum and loading it back
 * is exact, so the blocking does not change the result. */
ALWAYS_INLINE void small_rows(const int M, const int W, const nb__gemm_args *g, int64_t n0, int64_t n1, int64_t k0,
                              int64_t k1, float *accbuf, int64_t ld, int first, int last, int64_t pf)
{
    const float *A = g->A, *B = g->B;
    int64_t lda = g->lda, ldb = g->ldb, ldc = g->ldc;
    int64_t am = g->transA ? 1 : lda, ak = g->transA ? lda : 1; /* A(m, k) = A[m*am + k*ak] */
    __m512 va = _mm512_set1_ps(g->alpha);
    for (int64_t n = n0; n < n1; n += 16 * W) {
        __mmask16 mk[8];
        for (int v = 0; v < W; v++) mk[v] = mask16(n1 - n - 16 * v);
        __m512 acc[8][8];
        float *ab = accbuf + (n - n0);
#pragma GCC unroll 8
        for (int m = 0; m < M; m++)
#pragma GCC unroll 8
            for (int v = 0; v < W; v++)
                acc[m][v] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(mk[v], ab + m * ld + 16 * v);
        for (int64_t k = k0; k < k1; k++) {
            __m512 bv[8];
            const float *br = B + k * ldb + n;
#pragma GCC unroll 8
            for (int v = 0; v < W; v++) bv[v] = _mm512_maskz_loadu_ps(mk[v], br + 16 * v);
            if (pf) /* rows of B in separate pages: the hardware prefetchers do not follow */
#pragma GCC unroll 8
                for (int v = 0; v < W; v++) _mm_prefetch((const char *)(br + pf * ldb + 16 * v), _MM_HINT_T0);
#pragma GCC unroll 8
            for (int m = 0; m < M; m++) {
                __m512 a = _mm512_set1_ps(A[m * am + k * ak]);
#pragma GCC unroll 8
                for (int v = 0; v < W; v++) acc[m][v] = _mm512_fmadd_ps(a, bv[v], acc[m][v]);
            }
        }
#pragma GCC unroll 8
        for (int m = 0; m < M; m++)
#pragma GCC unroll 8
            for (int v = 0; v < W; v++) {
                if (last)
                    store_c(g->C + m * ldc + n + 16 * v, mk[v], acc[m][v], va, g->beta);
                else
                    _mm512_mask_storeu_ps(ab + m * ld + 16 * v, mk[v], acc[m][v]);
            }
    }
}

/* transB = 1, transA = 0: C[0..M, n0..n1) as dot products of A's rows with B's
 * rows (both contiguous in k), J columns at a time. */
ALWAYS_INLINE void small_dots(const int M, const int J, const nb__gemm_args *g, int64_t n0, int64_t n1, int64_t pf)
{
    const float *A = g->A, *B = g->B;
    int64_t lda = g->lda, ldb = g->ldb, ldc = g->ldc, K = g->K;
    for (int64_t n = n0; n + J <= n1; n += J) {
        __m512 acc[8][8];
#pragma GCC unroll 8
        for (int m = 0; m < M; m++)
#pragma GCC unroll 8
            for (int j = 0; j < J; j++) acc[m][j] = _mm512_setzero_ps();
        /* whole vectors, then the masked tail; the rows of B through base pointers and
         * one stride (fewer registers than a pointer a row: no spills at J = 8) */
        const float *b0 = B + n * ldb, *b3 = b0 + 3 * ldb, *b6 = b0 + 6 * ldb;
        int64_t k = 0;
#define SMALL_DOTS_ROW(j) ((j) < 3 ? b0 + (j) * ldb : (j) < 6 ? b3 + ((j) - 3) * ldb : b6 + ((j) - 6) * ldb)
        for (; k + 16 <= K; k += 16) {
            __m512 av[8];
#pragma GCC unroll 8
            for (int m = 0; m < M; m++) av[m] = _mm512_loadu_ps(A + m * lda + k);
#pragma GCC unroll 8
            for (int j = 0; j < J; j++) {
                __m512 b = _mm512_loadu_ps(SMALL_DOTS_ROW(j) + k);
                if (pf) _mm_prefetch((const char *)(SMALL_DOTS_ROW(j) + k + pf), _MM_HINT_T0);
#pragma GCC unroll 8
                for (int m = 0; m < M; m++) acc[m][j] = _mm512_fmadd_ps(av[m], b, acc[m][j]);
            }
        }
        if (k < K) {
            __mmask16 km = mask16(K - k);
            __m512 av[8];
#pragma GCC unroll 8
            for (int m = 0; m < M; m++) av[m] = _mm512_maskz_loadu_ps(km, A + m * lda + k);
#pragma GCC unroll 8
            for (int j = 0; j < J; j++) {
                __m512 b = _mm512_maskz_loadu_ps(km, SMALL_DOTS_ROW(j) + k);
#pragma GCC unroll 8
                for (int m = 0; m < M; m++) acc[m][j] = _mm512_fmadd_ps(av[m], b, acc[m][j]);
            }
        }
#undef SMALL_DOTS_ROW
#pragma GCC unroll 8
        for (int m = 0; m < M; m++)
#pragma GCC unroll 8
            for (int j = 0; j < J; j++) {
                float s = _mm512_reduce_add_ps(acc[m][j]), *c = g->C + m * ldc + n + j;
                *c = g->beta == 0.0f ? g->alpha * s : __builtin_fmaf(g->alpha, s, g->beta * *c);
            }
    }
}

#define SMALL(M, W, J)                                                                                          \
    static void small_rows##M(const nb__gemm_args *g, int64_t n0, int64_t n1, int64_t k0, int64_t k1, float *acc, \
                              int64_t ld, int first, int last, int64_t pf)                                     \
    {                                                                                                          \
        small_rows(M, W, g, n0, n1, k0, k1, acc, ld, first, last, pf);                                         \
    }                                                                                                          \
    static void small_dots##M(const nb__gemm_args *g, int64_t n0, int64_t n1, int64_t pf)                      \
    {                                                                                                          \
        int64_t n = n0 + (n1 - n0) / J * J;                                                                    \
        small_dots(M, J, g, n0, n, pf);                                                                        \
        small_dots(M, 1, g, n, n1, pf);                                                                        \
    }
/* registers: M·W (or M·J) accumulators ≤ 24 */
SMALL(1, 8, 8) SMALL(2, 8, 8) SMALL(3, 8, 8) SMALL(4, 6, 6) SMALL(5, 4, 4) SMALL(6, 4, 4) SMALL(7, 3, 3) SMALL(8, 3, 2)
#undef SMALL
typedef void (*rows_fn)(const nb__gemm_args *, int64_t, int64_t, int64_t, int64_t, float *, int64_t, int, int, int64_t);
typedef void (*dots_fn)(const nb__gemm_args *, int64_t, int64_t, int64_t);
static const rows_fn small_rows_fn[SMALL_M + 1] = {NULL, small_rows1, small_rows2, small_rows3, small_rows4,
                                                   small_rows5, small_rows6, small_rows7, small_rows8};
static const dots_fn small_dots_fn[SMALL_M + 1] = {NULL, small_dots1, small_dots2, small_dots3, small_dots4,
                                                   small_dots5, small_dots6, small_dots7, small_dots8};
static const int small_width[SMALL_M + 1] = {0, 128, 128, 128, 96, 64, 64, 48, 48}; /* columns per step */
/* transB = 1: columns per share of a thread (two steps of J dot products) */
static const int small_dot_width[SMALL_M + 1] = {0, 16, 16, 16, 12, 8, 8, 6, 4};

/* Columns [n0, n1) of a small-M product, rows in groups of at most SMALL_M.
 * transB = 1: the groups take turns on slabs of 192 rows of B (192×K floats stay
 * in L2 for the next group). transB = 0: B is read in blocks of SMALL_KB rows ×
 * SMALL_NB columns (whole pages, few TLB entries; in L2 for the next group), the
 * partial sums kept in buf (M × SMALL_NB floats). */
static void small(const nb__gemm_args *g, int64_t n0, int64_t n1, float *buf)
{
    if (g->bias) nb__gemm_fill_bias(g->bias, g->C, g->ldc, 0, g->M, n0, n1);
    int64_t groups = cdiv(g->M, SMALL_M), K = g->K;
    int64_t slab = g->transB ? (groups > 1 ? 192 : n1 - n0) : SMALL_NB;
    /* B from DRAM: prefetch ahead (from L2 or L3 the hardware prefetcher does better alone:
     * the cnn's Linear(3136, 128) at batch 1 took 6.4 µs with prefetches, 5.9 without) */
    int from_dram = K * g->N > SMALL_B_MAX;
    int64_t pf = from_dram ? SMALL_PF : 0, dot_pf = from_dram ? SMALL_DOT_PF : 0;
    for (int64_t n = n0; n < n1; n += slab) {
        int64_t ne = n1 - n < slab ? n1 : n + slab;
        for (int64_t k = 0; k < (g->transB ? 1 : K); k += SMALL_KB) {
            int64_t ke = K - k < SMALL_KB ? K : k + SMALL_KB;
            for (int64_t i = 0; i < groups; i++) {
                int64_t m0 = g->M * i / groups, m1 = g->M * (i + 1) / groups;
                nb__gemm_args s = *g;
                s.M = m1 - m0;
                s.A = g->A + (g->transA ? m0 : m0 * g->lda);
                s.C = g->C + m0 * g->ldc;
                if (g->transB)
                    small_dots_fn[s.M](&s, n, ne, dot_pf);
                else
                    small_rows_fn[s.M](&s, n, ne, k, ke, buf + m0 * SMALL_NB, SMALL_NB, k == 0, ke == K, pf);
            }
        }
    }
}

/* ---- driver ---- */

/* Thread t's share [b, e) of `units` units of `size` elements out of n. */
static void share(int64_t n, int64_t size, int parts, int t, int64_t *b, int64_t *e)
{
    int64_t units = cdiv(n, size);
    *b = units * t / parts * size;
    *e = units * (t + 1) / parts * size;
    if (*b > n) *b = n;
    if (*e > n) *e = n;
}

/* How the threads cut the product. */
typedef struct {
    const nb__gemm_args *g;
    int small;      /* the small-M path, columns in units of w */
    int64_t w;
    int tm, tn;     /* the grid of the packed path */
    int parts;      /* tm·tn, or the small path's column shares */
} plan;

/* Thread t of nt's part of the product. */
static void run_part(const plan *p, int t, int nt, float *buf)
{
    const nb__gemm_args *g = p->g;
    int64_t mb, me, nb, ne;
    if (p->small) {
        share(g->N, p->w, nt, t, &nb, &ne);
        if (nb < ne) small(g, nb, ne, buf);
    } else if (nt == p->tm * p->tn) {
        share(g->M, MR, p->tm, t / p->tn, &mb, &me);
        share(g->N, NR, p->tn, t % p->tn, &nb, &ne);
        if (mb < me && nb < ne) gemm_block(g, mb, me, nb, ne, buf);
    } else if (t == 0) { /* fewer threads than asked for: one does it all */
        gemm_block(g, 0, g->M, 0, g->N, buf);
    }
}

/* Parts [b, e) of the plan, on whichever thread claims them (core/threadpool.h). A part
 * computes the same whichever thread runs it; a thread that cannot get its packing buffer
 * computes its part with the portable loop (same values up to rounding). */
static void run_parts(void *ctx, int64_t b, int64_t e, int slot)
{
    const plan *p = ctx;
    float *buf = pack_buffer();
    for (int64_t t = b; t < e; t++) {
        if (buf) {
            run_part(p, (int)t, p->parts, buf);
            continue;
        }
        const nb__gemm_args *g = p->g;
        int64_t mb = 0, me = g->M, nb, ne;
        if (p->small) {
            share(g->N, p->w, p->parts, (int)t, &nb, &ne);
        } else {
            share(g->M, MR, p->tm, (int)t / p->tn, &mb, &me);
            share(g->N, NR, p->tn, (int)t % p->tn, &nb, &ne);
        }
        if (mb >= me || nb >= ne) continue;
        if (g->bias) nb__gemm_fill_bias(g->bias, g->C, g->ldc, mb, me, nb, ne);
        nb__gemm_args s = *g;
        s.bias = NULL;
        s.M = me - mb, s.N = ne - nb;
        s.A = g->A + (g->transA ? mb : mb * g->lda);
        s.B = g->B + (g->transB ? nb * g->ldb : nb);
        s.C = g->C + mb * g->ldc + nb;
        nb__sgemm_portable(&s);
    }
}

int nb__sgemm_avx512(const nb__gemm_args *g, int threads)
{
    int64_t M = g->M, N = g->N, K = g->K;
    if (!nb__pool_worker() && worker_buffers(nb__max_threads())) return -1;
    if (threads < 1 || M * N * K < PAR_MIN_MACS || nb__in_parallel()) threads = 1;
    plan p = {g, 0, 0, 1, 1, 1};
    p.small = M <= SMALL_M || (M <= SMALL_ROWS && K * N <= SMALL_B_MAX);
    p.small = p.small && (!g->transB || !g->transA);
    if (p.small) {
        int rows = (int)cdiv(M, cdiv(M, SMALL_M)); /* the widest group's */
        p.w = g->transB ? small_dot_width[rows] : small_width[rows];
        if (threads > (int)cdiv(N, p.w)) threads = (int)cdiv(N, p.w);
    } else if (threads > 1) { /* the grid tm × tn whose slowest block does the least multiply-adds plus packing */
        double best = -1;
        for (int a = 1; a <= threads; a++) {
            if (threads % a) continue;
            int b = threads / a;
            if (cdiv(M, MR) < a || cdiv(N, NR) < b) continue;
            double mb = (double)cdiv(cdiv(M, MR), a) * MR, nb = (double)cdiv(cdiv(N, NR), b) * NR;
            double cost = mb * nb * (double)K + PACK_COST * (double)K * (mb * cdiv((int64_t)nb, NC) + nb * cdiv((int64_t)mb, MC));
            if (best < 0 || cost < best) best = cost, p.tm = a, p.tn = b;
        }
        if (best < 0) threads = 1;
    }
    if (threads <= 1) {
        float *buf = pack_buffer();
        if (!buf) return -1;
        p.tm = p.tn = 1;
        run_part(&p, 0, 1, buf);
        return 0;
    }
    p.parts = threads;
    nb__parallel(threads, 1, run_parts, &p);
    return 0;
}

#ifdef __clang__
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#else
#include "kernels/gemm.h"
int nb__sgemm_avx512(const nb__gemm_args *g, int threads)
{
    (void)g, (void)threads;
    return -1;
}
#endif
