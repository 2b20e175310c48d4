/* vmath.h - vectorised exp and the row reductions of softmax (vmath.c). */
#ifndef NB_KERNELS_VMATH_H
#define NB_KERNELS_VMATH_H

#include <stdint.h>

/* max of x[0..n): NaNs are skipped (as fmaxf does); -inf for n = 0 or all NaN. */
float nb__vmax(const float *x, int64_t n);
/* y[i] = exp(x[i] - shift) (y may be x, or NULL to only sum); returns Σ exp(x[i] - shift)
 * summed in 16 float lanes, then the lanes pairwise: the same for every ISA. */
float nb__vexp_sum(const float *x, float shift, float *y, int64_t n);
/* y[i] += a·exp(x[i] - shift) */
void nb__vexp_axpy(float *y, const float *x, float shift, float a, int64_t n);
/* x[i] = exp(x[i]) */
void nb__vexp_inplace(float *x, int64_t n);
/* y[i] = tanh(x[i]) within 3 ulp: an odd Taylor polynomial below |x| = 0.2, else
 * sign(x)·(1 - e)/(1 + e) with e = exp(-2|x|) (y may be x) */
void nb__vtanh(const float *x, float *y, int64_t n);
/* y[i] = erf(x[i]) by Abramowitz and Stegun 7.1.26 (absolute error 1.5e-7 in exact
 * arithmetic, 6.1e-7 evaluated in float; the approximation PyTorch's vectorised CPU
 * kernels use), odd (y may be x) */
void nb__verf(const float *x, float *y, int64_t n);
/* exp(x) as the vector code computes it (within 2 ulp of the exact value; NaN stays NaN,
 * below -104 0, above 89 inf): the scalar reference of the loops above. */
float nb__exp1(float x);

#endif
