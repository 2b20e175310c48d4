/* test_gemm.c - nb__sgemm (src/kernels/gemm.c) against a double-accumulation
 * reference: odd and prime shapes from 1 to ~300 in all four transpose cases,
 * leading dimensions above the minimum, alpha != 1, beta = 0 over NaN-filled C,
 * beta = 1 and other betas, K over several blocks, the small-M paths, the
 * portable fallback; results bit-identical for 1, 2 (and 3) threads. nb__sgemm_bias
 * gives the bits of filling C's rows with the bias and nb__sgemm with beta = 1, on the
 * packed, small-M and matrix-vector paths, with 1 and 2 threads. */
#include "check.h"
#include "nabla.h"
#include "kernels/gemm.h"

#include "kernels/gemm.h"

#include <stdint.h>

static uint64_t g_state = 0x9e3779b97f4a7c15ULL;
static float urand(void) /* uniform in [-1, 1) */
{
    g_state = g_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((g_state >> 40) * (1.0 / 8388608.0) - 1.0);
}

typedef struct {
    int ta, tb;
    int64_t M, N, K, lda, ldb, ldc;
    float alpha, beta;
    float *A, *B, *C0; /* C0: C before the call */
} problem;

static void problem_make(problem *p, int ta, int tb, int64_t M, int64_t N, int64_t K, int pad, float alpha,
                         float beta)
{
    p->ta = ta, p->tb = tb, p->M = M, p->N = N, p->K = K, p->alpha = alpha, p->beta = beta;
    int64_t ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
    p->lda = ac + pad, p->ldb = bc + 2 * pad, p->ldc = N + 3 * pad;
    p->A = malloc(sizeof(float) * (size_t)(ar * p->lda + 1));
    p->B = malloc(sizeof(float) * (size_t)(br * p->ldb + 1));
    p->C0 = malloc(sizeof(float) * (size_t)(M * p->ldc + 1));
    for (int64_t i = 0; i < ar * p->lda; i++) p->A[i] = urand();
    for (int64_t i = 0; i < br * p->ldb; i++) p->B[i] = urand();
    for (int64_t i = 0; i < M * p->ldc; i++) p->C0[i] = beta == 0.0f ? NAN : urand();
}

static void problem_free(problem *p) { free(p->A), free(p->B), free(p->C0); }

static float *run(const problem *p, int which, int threads)
{
    float *C = malloc(sizeof(float) * (size_t)(p->M * p->ldc + 1));
    memcpy(C, p->C0, sizeof(float) * (size_t)(p->M * p->ldc));
    nb__gemm_args g = {p->ta, p->tb, p->M, p->N, p->K, p->alpha, p->beta, p->A, p->B, C, p->lda, p->ldb, p->ldc, NULL};
    if (which == 0)
        nb__sgemm(p->ta, p->tb, p->M, p->N, p->K, p->alpha, p->A, p->lda, p->B, p->ldb, p->beta, C, p->ldc);
    else if (which == 1) {
        if (nb__sgemm_avx512(&g, threads) != 0) {
            free(C);
            return NULL;
        }
    } else
        nb__sgemm_portable(&g);
    return C;
}

/* Worst |C - ref| / scale, scale = |alpha|·Σ|a||b| + |beta·c0| (+ tiny); also
 * checks that the padding between rows of C was not written. */
static double max_err(const problem *p, const float *C, int *pad_ok)
{
    double worst = 0;
    *pad_ok = 1;
    for (int64_t m = 0; m < p->M; m++) {
        for (int64_t n = 0; n < p->N; n++) {
            double s = 0, s_abs = 0;
            for (int64_t k = 0; k < p->K; k++) {
                double a = p->ta ? p->A[k * p->lda + m] : p->A[m * p->lda + k];
                double b = p->tb ? p->B[n * p->ldb + k] : p->B[k * p->ldb + n];
                s += a * b, s_abs += fabs(a * b);
            }
            double c0 = p->C0[m * p->ldc + n];
            double ref = p->alpha * s + (p->beta == 0.0f ? 0.0 : p->beta * c0);
            double scale = fabs(p->alpha) * s_abs + (p->beta == 0.0f ? 0.0 : fabs(p->beta * c0)) + 1e-30;
            double e = fabs(C[m * p->ldc + n] - ref) / scale;
            if (!(e <= worst)) worst = e; /* NaN wins */
        }
        for (int64_t n = p->N; n < p->ldc; n++) {
            float a = C[m * p->ldc + n], b = p->C0[m * p->ldc + n];
            if (memcmp(&a, &b, sizeof a)) *pad_ok = 0;
        }
    }
    return worst;
}

static int g_cases, g_bad, g_nondet, g_pad, g_max_threads = 3;
static double g_worst;

/* One problem through nb__sgemm and through the AVX-512 path at 1, 2, 3 threads. */
static void check_case(int ta, int tb, int64_t M, int64_t N, int64_t K, int pad, float alpha, float beta)
{
    problem p;
    problem_make(&p, ta, tb, M, N, K, pad, alpha, beta);
    float *c = run(&p, 0, 0);
    int pad_ok;
    double e = max_err(&p, c, &pad_ok);
    g_cases++;
    if (e > g_worst || e != e) g_worst = e;
    if (!(e <= 1e-5)) {
        if (g_bad < 5)
            printf("  bad: ta=%d tb=%d M=%lld N=%lld K=%lld alpha=%g beta=%g: rel err %.3g\n", ta, tb, (long long)M,
                   (long long)N, (long long)K, alpha, beta, e);
        g_bad++;
    }
    if (!pad_ok) g_pad++;
    float *c1 = run(&p, 1, 1);
    if (c1) { /* the CPU has AVX-512 */
        for (int t = 2; t <= g_max_threads; t++) {
            float *ct = run(&p, 1, t);
            if (memcmp(c1, ct, sizeof(float) * (size_t)((M - 1) * p.ldc + N))) {
                if (g_nondet < 5)
                    printf("  threads: ta=%d tb=%d M=%lld N=%lld K=%lld: %d threads differ from 1\n", ta, tb,
                           (long long)M, (long long)N, (long long)K, t);
                g_nondet++;
            }
            free(ct);
        }
        free(c1);
    }
    free(c);
    problem_free(&p);
}

static void shapes_test(void)
{
    static const int64_t dims[] = {1, 2, 3, 5, 7, 8, 13, 14, 15, 16, 17, 29, 31, 32, 33, 47, 64, 97, 127, 128, 131, 257, 293};
    int nd = (int)(sizeof dims / sizeof dims[0]);
    static const float betas[] = {0.0f, 1.0f, -0.5f};
    g_cases = g_bad = g_nondet = g_pad = 0, g_worst = 0;
    /* every transpose case over a spread of shapes (cheap ones all, big ones sampled) */
    int c = 0;
    for (int i = 0; i < nd; i++)
        for (int j = 0; j < nd; j++)
            for (int l = 0; l < nd; l++) {
                int64_t M = dims[i], N = dims[j], K = dims[l];
                if (M * N * K > 2000 && (i * 7 + j * 5 + l * 3) % 29) continue;
                int ta = c & 1, tb = (c >> 1) & 1, pad = c % 3 == 0 ? 0 : (int)(c % 5) + 1;
                float beta = betas[c % 3], alpha = c % 4 == 0 ? 1.0f : (c % 4 == 1 ? 0.75f : -1.5f);
                check_case(ta, tb, M, N, K, pad, alpha, beta);
                c++;
            }
    printf("  %d shapes, worst rel err %.3g\n", g_cases, g_worst);
    CHECK("gemm shapes within 1e-5 of double reference", g_bad == 0 && g_cases > 500, "%d of %d cases bad", g_bad,
          g_cases);
    CHECK("gemm leaves C's row padding alone", g_pad == 0, "%d cases wrote padding", g_pad);
    CHECK("gemm bit-identical for 1 and 2 threads", g_nondet == 0, "%d cases differ", g_nondet);
}

static void cases_test(void)
{
    g_cases = g_bad = g_nondet = g_pad = 0, g_worst = 0;
    for (int t = 0; t < 4; t++) {
        int ta = t & 1, tb = t >> 1;
        /* small M (no-packing paths), every M 1..9, threaded widths */
        for (int64_t M = 1; M <= 9; M++) {
            check_case(ta, tb, M, 515, 301, 1, 1.0f, 0.0f);
            check_case(ta, tb, M, 1030, 260, 0, -0.5f, 1.0f);
            check_case(ta, tb, M, 10, 7, 3, 2.0f, 0.25f);
        }
        /* row groups of the small-M path; B over 2^19 floats (prefetching, or the packed path) */
        check_case(ta, tb, 20, 300, 600, 1, 1.0f, 1.0f);
        check_case(ta, tb, 28, 77, 333, 0, 1.5f, 0.0f);
        check_case(ta, tb, 3, 1100, 500, 2, 1.0f, 0.0f);
        check_case(ta, tb, 20, 1100, 500, 0, 1.0f, 0.5f);
        /* K over several blocks, M over several MC blocks, beta applied once */
        check_case(ta, tb, 300, 70, 700, 2, 1.0f, 1.0f);
        check_case(ta, tb, 61, 97, 1031, 0, 0.5f, 0.0f);
        check_case(ta, tb, 577, 45, 33, 1, 1.0f, -2.0f);
        /* N over several NC blocks */
        check_case(ta, tb, 20, 3100, 9, 1, 1.0f, 0.0f);
        /* the mlp's and conv-like shapes, reduced */
        check_case(ta, tb, 128, 256, 78, 0, 1.0f, 0.0f);
        check_case(ta, tb, 2000, 32, 9, 0, 1.0f, 0.0f);
        check_case(ta, tb, 130, 64, 288, 0, 1.0f, 1.0f);
    }
    printf("  %d cases, worst rel err %.3g\n", g_cases, g_worst);
    CHECK("gemm small M, deep K, wide N within 1e-5", g_bad == 0, "%d of %d cases bad", g_bad, g_cases);
    CHECK("gemm small M, deep K, wide N: padding untouched", g_pad == 0, "%d cases", g_pad);
    CHECK("gemm small M, deep K, wide N: bit-identical across threads", g_nondet == 0, "%d cases differ", g_nondet);
}

/* alpha = 0 and K = 0 scale C by beta; beta = 0 writes zeros over NaN. */
static void degenerate_test(void)
{
    float A[6] = {1, 2, 3, 4, 5, 6}, B[6] = {1, 1, 1, 1, 1, 1}, C[4];
    for (int i = 0; i < 4; i++) C[i] = NAN;
    nb__sgemm(0, 0, 2, 2, 0, 1.0f, A, 3, B, 2, 0.0f, C, 2);
    CHECK("gemm K=0 beta=0 zeroes C", C[0] == 0 && C[1] == 0 && C[2] == 0 && C[3] == 0, "C = %g %g %g %g", C[0],
          C[1], C[2], C[3]);
    for (int i = 0; i < 4; i++) C[i] = (float)i;
    nb__sgemm(0, 0, 2, 2, 3, 0.0f, A, 3, B, 2, 2.0f, C, 2);
    CHECK("gemm alpha=0 scales C by beta", C[0] == 0 && C[1] == 2 && C[2] == 4 && C[3] == 6, "C = %g %g %g %g", C[0],
          C[1], C[2], C[3]);
    for (int i = 0; i < 4; i++) C[i] = NAN;
    nb__sgemm(0, 0, 2, 2, 3, 1.0f, A, 3, B, 2, 0.0f, C, 2);
    CHECK("gemm 2x3 by 3x2", C[0] == 6 && C[1] == 6 && C[2] == 15 && C[3] == 15, "C = %g %g %g %g", C[0], C[1], C[2],
          C[3]);
    nb__sgemm(0, 0, 0, 2, 3, 1.0f, A, 3, B, 2, 0.0f, NULL, 2); /* M = 0: nothing touched */
    CHECK("gemm M=0 is a no-op", 1, " ");
}

/* The fallback for CPUs without AVX-512 (plain loops). */
static void portable_test(void)
{
    problem p;
    int bad = 0;
    for (int t = 0; t < 4; t++) {
        problem_make(&p, t & 1, t >> 1, 37, 29, 41, 2, -1.25f, t == 1 ? 0.0f : 0.5f);
        float *c = run(&p, 2, 1);
        int pad_ok;
        if (!(max_err(&p, c, &pad_ok) <= 1e-5) || !pad_ok) bad++;
        free(c);
        problem_free(&p);
    }
    CHECK("gemm portable fallback within 1e-5", bad == 0, "%d of 4 transpose cases bad", bad);
}

/* nb__sgemm_bias against bias rows + nb__sgemm(alpha 1, beta 1): bit for bit */
static void bias_test(void)
{
    static const int64_t shapes[][3] = {{128, 384, 128}, {128, 512, 128}, {1, 300, 70}, {5, 77, 33}, {20, 64, 40},
                                        {129, 50, 257}, {3, 1000, 256}};
    int bad = 0, n = 0;
    for (int t = 1; t <= 2; t++) {
        g_max_threads = t;
        nb_set_threads(t);
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
            for (int tb = 0; tb < 2; tb++) {
                int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2], ldc = N + 3;
                problem p;
                problem_make(&p, 0, tb, M, N, K, 1, 1.0f, 1.0f);
                float *bias = malloc(sizeof(float) * (size_t)N), *c1 = malloc(sizeof(float) * (size_t)(M * ldc));
                float *c2 = malloc(sizeof(float) * (size_t)(M * ldc));
                for (int64_t j = 0; j < N; j++) bias[j] = urand();
                for (int64_t i = 0; i < M * ldc; i++) c1[i] = c2[i] = -7.0f; /* the padding must stay */
                for (int64_t i = 0; i < M; i++) memcpy(c1 + i * ldc, bias, sizeof(float) * (size_t)N);
                nb__sgemm(0, tb, M, N, K, 1.0f, p.A, p.lda, p.B, p.ldb, 1.0f, c1, ldc);
                nb__sgemm_bias(0, tb, M, N, K, p.A, p.lda, p.B, p.ldb, bias, c2, ldc);
                bad += memcmp(c1, c2, sizeof(float) * (size_t)(M * ldc)) != 0;
                n++;
                free(bias), free(c1), free(c2);
                problem_free(&p);
            }
    }
    CHECK("nb__sgemm_bias: the bits of bias rows + nb__sgemm(beta 1) (7 shapes x 2 layouts x 1, 2 threads)", bad == 0,
          "%d of %d differ", bad, n);
}

int main(void)
{
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.threads = 2});
    degenerate_test();
    portable_test();
    bias_test();
    nb_set_threads(2);
    g_max_threads = 2;
    shapes_test();
    g_max_threads = 3;
    cases_test();
    nb_ctx_free(ctx);
    CHECK_DONE();
}
