/* test_vmath.c - the vectorised exp and softmax reductions (src/kernels/vmath.c):
 * nb__exp1 within 2 ulp of exp in double over a strided sweep of every float in
 * [-104, 89] (every 31st bit pattern) and at the edges (0, ±inf, NaN, overflow,
 * subnormal results); the row functions give nb__exp1's bits at every length and
 * alignment; nb__vmax skips NaNs like fmaxf; sums match double sums within float
 * rounding. */
#include "check.h"
#include "kernels/vmath.h"

#include <float.h>
#include <stdint.h>
#include <string.h>

static float bits_f(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* |got - exact| in units of the float spacing at the exact value (subnormals: 2^-149) */
static double ulps(float got, double exact)
{
    if (exact == 0) return got == 0 ? 0 : fabs((double)got) / ldexp(1, -149);
    int e;
    frexp(exact, &e);
    double ulp = ldexp(1, (e - 24) < -149 ? -149 : e - 24);
    return fabs((double)got - exact) / ulp;
}

static void sweep(void)
{
    double worst = 0;
    float at = 0;
    long n = 0;
    for (int sign = 0; sign < 2; sign++) {
        float lim = sign ? 104.0f : 89.0f;
        uint32_t top;
        memcpy(&top, &lim, 4);
        for (uint32_t u = 0; u <= top; u += 31, n++) {
            float x = bits_f(u | (sign ? 0x80000000u : 0));
            double ex = exp((double)x);
            if (ex > FLT_MAX) continue;
            double e = ulps(nb__exp1(x), ex);
            if (e > worst) worst = e, at = x;
        }
    }
    char name[200];
    snprintf(name, sizeof name, "exp within 2 ulp over %ld floats in [-104, 89] (worst %.2f ulp)", n, worst);
    CHECK(name, worst <= 2.0, "worst %.3f ulp at x = %.9g (got %.9g, exp %.9g)", worst, (double)at,
          (double)nb__exp1(at), exp((double)at));
}

/* tanh within 3 ulp and erf within 1e-6 absolute over every 31st float in [-12, 12]; edges */
static void tanh_erf(void)
{
    enum { B = 4096 };
    static float x[B], t[B], e[B];
    double wt = 0, we = 0;
    float at = 0, ae = 0;
    long n = 0;
    float lim = 12.0f;
    uint32_t top;
    memcpy(&top, &lim, 4);
    int k = 0;
    for (int sign = 0; sign < 2; sign++)
        for (uint32_t u = 0; u <= top + 31; u += 31) {
            if (u <= top) x[k++] = bits_f(u | (sign ? 0x80000000u : 0));
            if (k == B || (u > top && k)) {
                nb__vtanh(x, t, k);
                nb__verf(x, e, k);
                for (int i = 0; i < k; i++, n++) {
                    double ut = ulps(fabsf(t[i]), fabs(tanh((double)x[i]))), de = fabs(e[i] - erf((double)x[i]));
                    if (signbit(t[i]) != signbit(x[i])) ut = 1e9; /* odd: the sign of x, -0 included */
                    if (ut > wt) wt = ut, at = x[i];
                    if (de > we) we = de, ae = x[i];
                }
                k = 0;
            }
        }
    char name[200];
    snprintf(name, sizeof name, "tanh within 3 ulp over %ld floats in [-12, 12] (worst %.2f ulp)", n, wt);
    CHECK(name, wt <= 3.0, "worst %.3f ulp at x = %.9g", wt, (double)at);
    snprintf(name, sizeof name, "erf within 1e-6 absolute over the same floats (worst %.2g)", we);
    CHECK(name, we <= 1e-6, "worst %.3g at x = %.9g", we, (double)ae);
    float ex[6] = {INFINITY, -INFINITY, NAN, 0.0f, -0.0f, 100.0f}, et[6], ee[6];
    nb__vtanh(ex, et, 6);
    nb__verf(ex, ee, 6);
    CHECK("tanh and erf of ±inf are ±1, of NaN NaN, of ±0 ±0, of 100 1",
          et[0] == 1 && et[1] == -1 && isnan(et[2]) && et[3] == 0 && signbit(et[4]) && et[5] == 1 && ee[0] == 1 &&
              ee[1] == -1 && isnan(ee[2]) && ee[3] == 0 && signbit(ee[4]) && ee[5] == 1,
          "tanh %g %g %g %g %g; erf %g %g %g %g", (double)et[0], (double)et[1], (double)et[2], (double)et[3],
          (double)et[5], (double)ee[0], (double)ee[1], (double)ee[2], (double)ee[3]);
}

static void edges(void)
{
    CHECK("exp(0) = 1, exp(1) = e to a float", nb__exp1(0) == 1.0f && fabs(nb__exp1(1) - 2.7182817f) <= 2.4e-7f, "%.9g",
          (double)nb__exp1(1));
    CHECK("exp(-inf) = 0, exp(+inf) = inf, exp(NaN) = NaN",
          nb__exp1(-INFINITY) == 0 && isinf(nb__exp1(INFINITY)) && isnan(nb__exp1(NAN)), "%g %g %g",
          (double)nb__exp1(-INFINITY), (double)nb__exp1(INFINITY), (double)nb__exp1(NAN));
    CHECK("exp(88.72) is FLT_MAX's neighbourhood, exp(88.73) inf", isfinite(nb__exp1(88.72f)) && isinf(nb__exp1(88.73f)),
          "%g %g", (double)nb__exp1(88.72f), (double)nb__exp1(88.73f));
    CHECK("exp(-100) is subnormal and right to 2 ulp, exp(-104) 0",
          nb__exp1(-100.0f) > 0 && nb__exp1(-100.0f) < FLT_MIN && ulps(nb__exp1(-100.0f), exp(-100.0)) <= 2 &&
              nb__exp1(-104.0f) == 0,
          "%g %g", (double)nb__exp1(-100.0f), (double)nb__exp1(-104.0f));
    CHECK("exp(-FLT_MAX) = 0 (a -FLT_MAX mask minus the row max)", nb__exp1(-FLT_MAX) == 0 && nb__exp1(-FLT_MAX - 1e38f) == 0,
          "%g", (double)nb__exp1(-FLT_MAX));
}

static void rows(void)
{
    float x[300], y[300], z[300];
    int bad = 0, badsum = 0, badaxpy = 0, badmax = 0;
    uint64_t s = 1;
    for (int i = 0; i < 300; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (float)((double)(s >> 40) / (double)(1 << 24) * 40 - 30);
    }
    x[17] = -INFINITY;
    for (int off = 0; off < 3; off++)
        for (int n = 0; n <= 100; n++) {
            const float *xs = x + off;
            float sh = 1.5f;
            float sum = nb__vexp_sum(xs, sh, y, n), sum2 = nb__vexp_sum(xs, sh, NULL, n);
            double ds = 0;
            for (int i = 0; i < n; i++) {
                bad += memcmp(&y[i], &(float){nb__exp1(xs[i] - sh)}, 4) != 0;
                ds += (double)y[i];
            }
            badsum += sum != sum2 || fabs(sum - ds) > 1e-6 * ds + 1e-30;
            for (int i = 0; i < n; i++) z[i] = 0.5f;
            nb__vexp_axpy(z, xs, sh, 2.0f, n);
            for (int i = 0; i < n; i++) badaxpy += z[i] != 0.5f + 2.0f * nb__exp1(xs[i] - sh);
            float m = -INFINITY;
            for (int i = 0; i < n; i++) m = fmaxf(m, xs[i]);
            badmax += nb__vmax(xs, n) != m;
        }
    CHECK("nb__vexp_sum's exps are nb__exp1's bits at every length 0-100 and 3 alignments", !bad, "%d differ", bad);
    CHECK("its sums equal with and without output, within 1e-6 of the double sum", !badsum, "%d differ", badsum);
    CHECK("nb__vexp_axpy: y + a·exp, the same bits", !badaxpy, "%d differ", badaxpy);
    CHECK("nb__vmax is the fmaxf loop's max", !badmax, "%d differ", badmax);
    float nan_row[20];
    for (int i = 0; i < 20; i++) nan_row[i] = (float)i;
    nan_row[3] = NAN, nan_row[19] = NAN;
    CHECK("nb__vmax skips NaNs as fmaxf does; empty: -inf", nb__vmax(nan_row, 20) == 18.0f && isinf(nb__vmax(nan_row, 0)),
          "%g", (double)nb__vmax(nan_row, 20));
    nb__vexp_sum(nan_row, 0, y, 20);
    CHECK("a NaN input gives a NaN exp", isnan(y[3]) && !isnan(y[4]), "%g", (double)y[3]);
}

int main(void)
{
    sweep();
    edges();
    rows();
    tanh_erf();
    CHECK_DONE();
}
