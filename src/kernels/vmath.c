/* vmath.c - exp for whole rows, written so that GCC vectorises it (no calls, no
 * branches), compiled per ISA (NB_CLONES); the softmax of attention and of
 * cross-entropy run on it instead of a libm call per element.
 *
 * exp(x) = 2^k · e^r with k = rint(x·log2 e) and r = x - k·ln 2 (ln 2 in two parts,
 * Cody-Waite), e^r ≈ 1 + r + r²·P(r) with Cephes expf's degree-5 polynomial on
 * |r| ≤ ln2/2; 2^k applied as two halves 2^(k/2)·2^(k-k/2) built from exponent bits, so
 * results that are subnormal, zero or infinite come out right. x is first clamped to
 * [-104, 89] (beyond, the result is 0 or inf anyway); NaN passes through. No
 * operation depends on the ISA (GCC contracts no a·b+c into an FMA in ISO C mode), so
 * every copy gives the same bits. Accuracy: within 2 ulp of the exact value
 * (tests/test_vmath.c sweeps every 31st float in [-104, 89] against exp in double:
 * worst 0.98 ulp). */
#include "kernels/vmath.h"
#include "core/threads.h"

#include <math.h>
#include <string.h>

static inline float pow2i(int32_t k)
{
    int32_t e = (k + 127) << 23;
    float f;
    memcpy(&f, &e, sizeof f);
    return f;
}

static inline float exp_kernel(float x)
{
    float xc = x < -104.0f ? -104.0f : x;
    xc = xc > 89.0f ? 89.0f : xc;
    xc = x != x ? 0.0f : xc;
    float t = xc * 1.44269504088896341f;
    float kf = (t + 12582912.0f) - 12582912.0f; /* rint for |t| < 2^22 */
    float r = xc - kf * 0.693359375f;
    r = r - kf * -2.12194440e-4f;
    float z = r * r;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float y = p * z + r + 1.0f;
    int32_t k = (int32_t)kf, k1 = k / 2;
    y = y * pow2i(k1) * pow2i(k - k1);
    return x != x ? x : y;
}

float nb__exp1(float x) { return exp_kernel(x); }

NB_CLONES float nb__vmax(const float *x, int64_t n)
{
    float m[16];
    for (int j = 0; j < 16; j++) m[j] = -INFINITY;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) m[j] = x[i + j] > m[j] ? x[i + j] : m[j];
    for (; i < n; i++) m[0] = x[i] > m[0] ? x[i] : m[0];
    for (int w = 8; w; w /= 2)
        for (int j = 0; j < w; j++) m[j] = m[j + w] > m[j] ? m[j + w] : m[j];
    return m[0];
}

NB_CLONES float nb__vexp_sum(const float *x, float shift, float *y, int64_t n)
{
    float s[16] = {0};
    int64_t i = 0;
    if (y) {
        for (; i + 16 <= n; i += 16)
            for (int j = 0; j < 16; j++) {
                float e = exp_kernel(x[i + j] - shift);
                y[i + j] = e;
                s[j] += e;
            }
        for (; i < n; i++) s[0] += (y[i] = exp_kernel(x[i] - shift));
    } else {
        for (; i + 16 <= n; i += 16)
            for (int j = 0; j < 16; j++) s[j] += exp_kernel(x[i + j] - shift);
        for (; i < n; i++) s[0] += exp_kernel(x[i] - shift);
    }
    for (int w = 8; w; w /= 2)
        for (int j = 0; j < w; j++) s[j] += s[j + w];
    return s[0];
}

NB_CLONES void nb__vexp_axpy(float *y, const float *x, float shift, float a, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] += a * exp_kernel(x[i] - shift);
}

NB_CLONES void nb__vexp_inplace(float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) x[i] = exp_kernel(x[i]);
}

static inline float tanh_kernel(float x)
{
    float a = x < 0 ? -x : x, z = x * x;
    float p = 62.0f / 2835.0f; /* tanh x = x - x³/3 + 2x⁵/15 - 17x⁷/315 + 62x⁹/2835 - ... */
    p = p * z - 17.0f / 315.0f;
    p = p * z + 2.0f / 15.0f;
    p = p * z - 1.0f / 3.0f;
    float small = a + a * z * p;
    float e = exp_kernel(-2.0f * a);
    float big = (1.0f - e) / (1.0f + e);
    float r = copysignf(a < 0.2f ? small : big, x); /* odd, -0 included */
    return x != x ? x : r;
}

NB_CLONES void nb__vtanh(const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] = tanh_kernel(x[i]);
}

static inline float erf_kernel(float x)
{
    float a = x < 0 ? -x : x;
    float t = 1.0f / (1.0f + 0.3275911f * a);
    float p = 1.061405429f;
    p = p * t - 1.453152027f;
    p = p * t + 1.421413741f;
    p = p * t - 0.284496736f;
    p = p * t + 0.254829592f;
    float r = copysignf(1.0f - p * t * exp_kernel(-a * a), x);
    return x != x ? x : r;
}

NB_CLONES void nb__verf(const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] = erf_kernel(x[i]);
}
