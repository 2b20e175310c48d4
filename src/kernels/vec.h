/* vec.h - a vector of VL floats per instruction set: the wrappers that the convolution
 * kernels built once per ISA (conv_fast.c, conv_pool.c: the Makefile's ISA_SRC) share.
 * Include it from such a file only; which branch is taken depends on its -m flags.
 *
 *   AVX-512 (__AVX512F__):    vf is one zmm, VL 16;
 *   AVX2+FMA:                 vf is one ymm, VL 8;
 *   otherwise (any CPU):      vf is 4 floats of GCC's/clang's vector extensions (SSE2 on
 *                             x86-64, the baseline), VL 4.
 *
 * Semantics, the same on every branch except where said:
 *   v_zero()          all lanes 0
 *   v_load(p)         p[0..VL-1], unaligned
 *   v_set1(a)         a in every lane
 *   v_fma(a, b, c)    a·b + c per lane: one fused multiply-add (one rounding) on AVX-512
 *                     and AVX2+FMA; on the generic branch c + a*b, a multiply and an add
 *                     (two roundings: contraction is off in ISO C mode)
 *   v_store(p, a)     a to p[0..VL-1], unaligned
 *   v_relu(a)         a <= 0 ? 0 : a per lane, as nb_relu: NaN stays NaN (PyTorch's relu)
 * What only one file uses (masks, tile sizes, ...) stays in that file. */
#ifndef NB_KERNELS_VEC_H
#define NB_KERNELS_VEC_H

#include <string.h>
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#define ALWAYS_INLINE static inline __attribute__((always_inline))

#ifdef __AVX512F__
#define VL 16
typedef __m512 vf;
ALWAYS_INLINE vf v_zero(void) { return _mm512_setzero_ps(); }
ALWAYS_INLINE vf v_load(const float *p) { return _mm512_loadu_ps(p); }
ALWAYS_INLINE vf v_set1(float a) { return _mm512_set1_ps(a); }
ALWAYS_INLINE vf v_fma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
ALWAYS_INLINE void v_store(float *p, vf a) { _mm512_storeu_ps(p, a); }
ALWAYS_INLINE vf v_relu(vf a)
{
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, _mm512_setzero_ps(), _CMP_LE_OQ), a, _mm512_setzero_ps());
}
#elif defined(__AVX2__) && defined(__FMA__)
#define VL 8
typedef __m256 vf;
ALWAYS_INLINE vf v_zero(void) { return _mm256_setzero_ps(); }
ALWAYS_INLINE vf v_load(const float *p) { return _mm256_loadu_ps(p); }
ALWAYS_INLINE vf v_set1(float a) { return _mm256_set1_ps(a); }
ALWAYS_INLINE vf v_fma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
ALWAYS_INLINE void v_store(float *p, vf a) { _mm256_storeu_ps(p, a); }
ALWAYS_INLINE vf v_relu(vf a)
{
    return _mm256_blendv_ps(a, _mm256_setzero_ps(), _mm256_cmp_ps(a, _mm256_setzero_ps(), _CMP_LE_OQ));
}
#else
#define VL 4
typedef float vf __attribute__((vector_size(16)));
ALWAYS_INLINE vf v_zero(void) { return (vf){0, 0, 0, 0}; }
ALWAYS_INLINE vf v_load(const float *p)
{
    vf r;
    memcpy(&r, p, sizeof r);
    return r;
}
ALWAYS_INLINE vf v_set1(float a) { return (vf){a, a, a, a}; }
ALWAYS_INLINE vf v_fma(vf a, vf b, vf c) { return c + a * b; }
ALWAYS_INLINE void v_store(float *p, vf a) { memcpy(p, &a, sizeof a); }
ALWAYS_INLINE vf v_relu(vf a)
{
    for (int j = 0; j < VL; j++) a[j] = a[j] <= 0 ? 0.0f : a[j];
    return a;
}
#endif

#endif
