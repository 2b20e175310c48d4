/* test_init.c - torch.nn.init semantics.
 *   - calculate_gain for every nonlinearity (leaky_relu with None, 0, 0.2, √5)
 *     against PyTorch's values (tests/goldens/optim_init.safetensors, written by
 *     tools/goldens/gen_optim.py), within 1e-7;
 *   - the exact bound / std of xavier_uniform/normal (gain 1, 5/3) and
 *     kaiming_uniform/normal (a, mode, nonlinearity grid) for 6 shapes (2-D to 5-D),
 *     captured from torch's calls to uniform_/normal_: replaying the same generator,
 *     every element must equal -b + 2b·u (uniform) or std·z (normal) with torch's
 *     b or std rounded to float;
 *   - moments over large tensors: mean and variance within 5 standard errors
 *     (computed from n and the distribution's 4th moment), every value within the
 *     bound and the extremes near it;
 *   - orthogonal: QᵀQ = gain²·I within 1e-5 for square, tall, wide, 4-D and a large
 *     (LAPACK) shape; and the Q is the QR's Q of the drawn matrix with a positive
 *     diagonal R (Qᵀ·A upper triangular, diagonal > 0), replaying the generator;
 *   - the context generator when r is NULL, zero-element tensors, bad input messages. */
#include "check.h"
#include "golden.h"
#include "core/tensor.h"

#include <math.h>

#define GOLDEN "tests/goldens/optim_init.safetensors"

static nb_ctx *ctx;

static nb_nonlinearity nl_of(const char *s)
{
    if (!strcmp(s, "tanh")) return NB_GAIN_TANH;
    if (!strcmp(s, "relu")) return NB_GAIN_RELU;
    if (!strcmp(s, "leaky_relu")) return NB_GAIN_LEAKY_RELU;
    if (!strcmp(s, "selu")) return NB_GAIN_SELU;
    if (!strcmp(s, "sigmoid")) return NB_GAIN_SIGMOID;
    if (!strncmp(s, "conv", 4)) return NB_GAIN_CONV;
    return NB_GAIN_LINEAR;
}

static nb_tensor *tensor_of(const char *shape)
{
    int64_t dims[NB_MAX_DIMS];
    int nd = 0;
    for (const char *s = shape; *s && nd < NB_MAX_DIMS;) {
        dims[nd++] = strtoll(s, (char **)&s, 10);
        if (*s == ',') s++;
    }
    return nb_tensor_new(ctx, NB_F32, nd, dims);
}

/* ---- goldens: gains and exact bounds ---- */

static void goldens(void)
{
    nb_safetensors *f = nb_safetensors_open(GOLDEN);
    CHECK("open " GOLDEN, f != NULL, "%s", nb_last_error());
    if (!f) return;
    nb_tensor *gains = nb_safetensors_get(f, ctx, "gain"), *vals = nb_safetensors_get(f, ctx, "init");
    int ng = atoi(nb_safetensors_metadata(f, "gains")), ni = atoi(nb_safetensors_metadata(f, "inits"));
    CHECK("init goldens: 10 gains, 108 bounds", gains && vals && ng == 10 && ni == 108, "%d %d", ng, ni);
    if (!gains || !vals) return;
    for (int k = 0; k < ng; k++) {
        char key[32], cfg[128], nl[32], param[64], label[200];
        snprintf(key, sizeof key, "gain%d", k);
        snprintf(cfg, sizeof cfg, "%s", nb_safetensors_metadata(f, key));
        cfg_get(cfg, "nl", nl, sizeof nl);
        cfg_get(cfg, "param", param, sizeof param);
        double p = strcmp(param, "None") ? strtod(param, NULL) : NB_GAIN_DEFAULT_SLOPE;
        float got = (float)nb_calculate_gain(nl_of(nl), p);
        snprintf(label, sizeof label, "calculate_gain [%s]", cfg);
        CHECK_CLOSE(label, &got, nb_tensor_data(gains) + k, 1, 1e-7);
    }
    /* Each case: init a tensor from a copy of a generator, replay the copy. The
     * golden values are F64 read as F32, i.e. torch's bound rounded to float. */
    int exact_cases = 0;
    for (int k = 0; k < ni; k++) {
        char key[32], cfg[256], fn[32], v[64], label[400];
        snprintf(key, sizeof key, "init%d", k);
        snprintf(cfg, sizeof cfg, "%s", nb_safetensors_metadata(f, key));
        cfg_get(cfg, "fn", fn, sizeof fn);
        nb_tensor *t = tensor_of(cfg_get(cfg, "shape", v, sizeof v));
        float want = nb_tensor_data(vals)[k];
        double gain = strtod(cfg_get(cfg, "gain", v, sizeof v), NULL);
        double a = strtod(cfg_get(cfg, "a", v, sizeof v), NULL);
        nb_fan_mode mode = !strcmp(cfg_get(cfg, "mode", v, sizeof v), "fan_out") ? NB_FAN_OUT : NB_FAN_IN;
        nb_nonlinearity nl = nl_of(cfg_get(cfg, "nl", v, sizeof v));
        nb_rng r, replay;
        nb_rng_seed(&r, 100 + (uint64_t)k);
        replay = r;
        nb_status st;
        int uniform = strstr(fn, "uniform") != NULL;
        if (!strcmp(fn, "xavier_uniform")) st = nb_init_xavier_uniform(t, gain, &r);
        else if (!strcmp(fn, "xavier_normal")) st = nb_init_xavier_normal(t, gain, &r);
        else if (!strcmp(fn, "kaiming_uniform")) st = nb_init_kaiming_uniform(t, a, mode, nl, &r);
        else st = nb_init_kaiming_normal(t, a, mode, nl, &r);
        int same = st == NB_OK;
        int64_t bad = -1;
        const float *x = nb_tensor_data(t);
        for (int64_t i = 0; same && i < t->numel; i++) {
            float e = uniform ? -want + (2.0f * want) * nb_rng_uniform(&replay) : 0.0f + want * nb_rng_normal(&replay);
            if (x[i] != e) same = 0, bad = i;
        }
        exact_cases += same;
        snprintf(label, sizeof label, "init golden %d [%s]: every value from torch's %s %.9g", k, cfg,
                 uniform ? "bound" : "std", want);
        CHECK(label, same, "status %d, element %lld differs (%.9g)", st, (long long)bad, bad >= 0 ? x[bad] : 0.0);
        nb_tensor_free(t);
    }
    printf("note: %d of %d xavier/kaiming cases reproduce torch's bound or std exactly\n", exact_cases, ni);
    nb_tensor_free(gains), nb_tensor_free(vals);
    nb_safetensors_close(f);
}

/* ---- moments ---- */

/* uniform U(lo, hi): mean, variance within 5 standard errors; all values inside,
 * extremes within 40/n of the ends. */
static void check_uniform(const char *name, nb_tensor *t, double lo, double hi)
{
    const float *x = nb_tensor_data(t);
    int64_t n = t->numel;
    double s = 0, s2 = 0, mn = INFINITY, mx = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        s += x[i];
        mn = fmin(mn, x[i]);
        mx = fmax(mx, x[i]);
    }
    double mean = s / n;
    for (int64_t i = 0; i < n; i++) s2 += (x[i] - mean) * (x[i] - mean);
    double var = s2 / (n - 1), w = hi - lo, tv = w * w / 12;
    double se_mean = sqrt(tv / n), se_var = sqrt((w * w * w * w / 80 - tv * tv) / n); /* μ4 = w⁴/80 */
    char label[200];
    snprintf(label, sizeof label, "%s: U(%.6g, %.6g) over %lld values: mean, variance, range", name, lo, hi,
             (long long)n);
    CHECK(label,
          fabs(mean - (lo + hi) / 2) < 5 * se_mean && fabs(var - tv) < 5 * se_var && mn >= lo && mx <= hi &&
              mn < lo + 40 * w / n && mx > hi - 40 * w / n,
          "mean %.6g (se %.3g) var %.6g want %.6g (se %.3g) min %.9g max %.9g", mean, se_mean, var, tv, se_var, mn,
          mx);
}

static void check_normal(const char *name, nb_tensor *t, double mu, double sd)
{
    const float *x = nb_tensor_data(t);
    int64_t n = t->numel;
    double s = 0, s2 = 0, s4 = 0;
    for (int64_t i = 0; i < n; i++) s += x[i];
    double mean = s / n;
    for (int64_t i = 0; i < n; i++) {
        double d = x[i] - mean;
        s2 += d * d;
        s4 += d * d * d * d;
    }
    double var = s2 / (n - 1), kurt = (s4 / n) / ((s2 / n) * (s2 / n));
    double se_mean = sd / sqrt((double)n), se_var = sd * sd * sqrt(2.0 / n), se_kurt = sqrt(24.0 / n);
    char label[200];
    snprintf(label, sizeof label, "%s: N(%.6g, %.6g²) over %lld values: mean, variance, kurtosis 3", name, mu, sd,
             (long long)n);
    CHECK(label, fabs(mean - mu) < 5 * se_mean && fabs(var - sd * sd) < 5 * se_var && fabs(kurt - 3) < 5 * se_kurt,
          "mean %.6g (se %.3g) var %.6g want %.6g (se %.3g) kurtosis %.4g", mean, se_mean, var, sd * sd, se_var, kurt);
}

static void moments(void)
{
    nb_rng r;
    nb_rng_seed(&r, 7);
    int64_t conv[4] = {256, 128, 3, 3}; /* fan_in 1152, fan_out 2304, 294,912 values */
    nb_tensor *t = nb_tensor_new(ctx, NB_F32, 4, conv);
    nb_init_kaiming_uniform(t, 0, NB_FAN_IN, NB_GAIN_LEAKY_RELU, &r);
    double b = sqrt(2.0) * sqrt(3.0 / 1152);
    check_uniform("kaiming_uniform default (a=0: gain √2, fan_in)", t, -b, b);
    nb_init_kaiming_uniform(t, sqrt(5.0), NB_FAN_IN, NB_GAIN_LEAKY_RELU, &r);
    check_uniform("kaiming_uniform(a=√5), Linear/Conv default: 1/√fan_in", t, -1 / sqrt(1152.0), 1 / sqrt(1152.0));
    nb_init_kaiming_normal(t, 0, NB_FAN_OUT, NB_GAIN_RELU, &r);
    check_normal("kaiming_normal(fan_out, relu)", t, 0, sqrt(2.0 / 2304));
    nb_init_xavier_uniform(t, 1, &r);
    b = sqrt(6.0 / (1152 + 2304));
    check_uniform("xavier_uniform", t, -b, b);
    nb_init_xavier_normal(t, 5.0f / 3, &r);
    check_normal("xavier_normal(gain 5/3)", t, 0, 5.0 / 3 * sqrt(2.0 / (1152 + 2304)));
    nb_init_uniform(t, -2, 3, &r);
    check_uniform("uniform(-2, 3)", t, -2, 3);
    nb_init_normal(t, 1, 0.5f, &r);
    check_normal("normal(1, 0.5)", t, 1, 0.5);
    nb_init_constant(t, 0.25f);
    int all = 1;
    for (int64_t i = 0; i < t->numel; i++) all &= nb__f(t)[i] == 0.25f;
    nb_init_ones(t);
    for (int64_t i = 0; i < t->numel; i++) all &= nb__f(t)[i] == 1.0f;
    nb_init_zeros(t);
    for (int64_t i = 0; i < t->numel; i++) all &= nb__f(t)[i] == 0.0f;
    CHECK("constant, ones, zeros fill every value", all, "a value differs");
    /* NULL rng: the context's generator */
    nb_tensor *u = nb_tensor_new(ctx, NB_F32, 4, conv);
    nb_rng saved = *nb_ctx_rng(ctx), copy = saved;
    nb_init_kaiming_normal(t, 0, NB_FAN_IN, NB_GAIN_RELU, NULL);
    nb_init_kaiming_normal(u, 0, NB_FAN_IN, NB_GAIN_RELU, &copy);
    CHECK("r NULL draws from the context generator (and advances it)",
          !memcmp(t->data, u->data, sizeof(float) * (size_t)t->numel) && !memcmp(nb_ctx_rng(ctx), &copy, sizeof copy),
          "differs");
    nb_tensor_free(t), nb_tensor_free(u);
}

/* ---- orthogonal ---- */

/* W = orthogonal(shape, gain) from generator r; A replayed from a copy. */
static void orthogonal_case(int nd, const int64_t *shape, double gain, int full)
{
    nb_tensor *t = nb_tensor_new(ctx, NB_F32, nd, shape);
    nb_rng r, replay;
    nb_rng_seed(&r, 2024 + (uint64_t)shape[0]);
    replay = r;
    nb_status st = nb_init_orthogonal(t, gain, &r);
    int64_t rows = shape[0], cols = t->numel / rows;
    int wide = rows < cols;
    int64_t m = wide ? cols : rows, n = wide ? rows : cols; /* Q is m x n */
    double *A = malloc(sizeof(double) * (size_t)(rows * cols));
    for (int64_t i = 0; i < rows * cols; i++) A[i] = nb_rng_normal(&replay);
    const float *w = nb_tensor_data(t);
    /* Q(i, j) = W(i, j)/gain (tall) or W(j, i)/gain (wide); M(i, j) likewise from A */
#define QV(i, j) ((double)(wide ? w[(j) * cols + (i)] : w[(i) * cols + (j)]) / gain)
#define AV(i, j) (wide ? A[(j) * cols + (i)] : A[(i) * cols + (j)])
    /* pairs (j, k) of Q's columns: all of them, or a sample for the large case */
    double orth = 0, tri = 0, scale = 0, mindiag = INFINITY;
    nb_rng pick;
    nb_rng_seed(&pick, 5);
    int64_t pairs = full ? n * n : 3000;
    for (int64_t pk = 0; pk < pairs; pk++) {
        int64_t j = full ? pk / n : (int64_t)nb_rng_below(&pick, (uint64_t)n);
        int64_t k = full ? pk % n : pk < 100 ? j : (int64_t)nb_rng_below(&pick, (uint64_t)n); /* 100 diagonal */
        double qq = 0, qa = 0;
        for (int64_t i = 0; i < m; i++) {
            qq += QV(i, j) * QV(i, k);
            qa += QV(i, j) * AV(i, k); /* R(j, k) = (QᵀM)(j, k) */
        }
        orth = fmax(orth, fabs(qq - (j == k)));
        if (j > k) tri = fmax(tri, fabs(qa));
        if (j == k) mindiag = fmin(mindiag, qa);
        scale = fmax(scale, fabs(qa));
    }
    /* gain² in W's own terms: WᵀW (tall) or WWᵀ (wide) = gain²·I, checked on one pair */
    double g2 = 0;
    for (int64_t i = 0; i < m; i++) g2 += (double)(wide ? w[i] : w[i * cols]) * (wide ? w[i] : w[i * cols]);
    char label[200], sh[64];
    nb__shape_str(nd, shape, sh, sizeof sh);
    snprintf(label, sizeof label, "orthogonal %s gain %g: QᵀQ = I (so WᵀW or WWᵀ = gain²·I) within 1e-5%s", sh, gain,
             full ? "" : " (3,000 sampled pairs)");
    CHECK(label, st == NB_OK && orth < 1e-5 && fabs(g2 - (double)gain * gain) < 1e-5 * gain * gain,
          "status %d: max |QᵀQ - I| %.3g, |w_0|² %.9g", st, orth, g2);
    snprintf(label, sizeof label, "orthogonal %s: Q is the QR's Q with R = QᵀA upper triangular, diag(R) > 0", sh);
    CHECK(label, st == NB_OK && tri < 1e-5 * scale && mindiag > 0, "below-diagonal %.3g (scale %.3g), min diag %.3g",
          tri, scale, mindiag);
#undef QV
#undef AV
    free(A);
    nb_tensor_free(t);
}

static void orthogonal(void)
{
    orthogonal_case(2, (int64_t[]){64, 64}, 1, 1);
    orthogonal_case(2, (int64_t[]){100, 30}, 1, 1);
    orthogonal_case(2, (int64_t[]){30, 100}, 2, 1);
    orthogonal_case(4, (int64_t[]){16, 8, 3, 3}, sqrt(2.0), 1);
    orthogonal_case(4, (int64_t[]){100, 2, 2, 2}, 0.5, 1);
    orthogonal_case(2, (int64_t[]){1, 7}, 1, 1);
    orthogonal_case(2, (int64_t[]){7, 1}, 3, 1);
    /* m·n² > 1e9: the LAPACK path */
    orthogonal_case(2, (int64_t[]){1000, 1100}, 1, 0);
}

/* ---- bad input ---- */

static int fails(nb_status st, nb_status code, const char *needle)
{
    return st == code && strstr(nb_last_error(), needle) != NULL;
}

static void errors(void)
{
    nb_rng r;
    nb_rng_seed(&r, 1);
    nb_tensor *v = nb_tensor_new(ctx, NB_F32, 1, (int64_t[]){5});
    nb_tensor *m = nb_tensor_new(ctx, NB_F32, 2, (int64_t[]){3, 4});
    nb_tensor *ints = nb_tensor_new(ctx, NB_I64, 2, (int64_t[]){3, 4});
    nb_tensor *empty = nb_tensor_new(ctx, NB_F32, 2, (int64_t[]){0, 4});
    int64_t fi = -1, fo = -1;
    CHECK("fans of a 1-D tensor: NB_ERR_SHAPE with PyTorch's message",
          fails(nb_init_fans(v, &fi, &fo), NB_ERR_SHAPE, "fewer than 2 dimensions"), "%s", nb_last_error());
    CHECK("fans of (3, 4): in 4, out 3", nb_init_fans(m, &fi, &fo) == NB_OK && fi == 4 && fo == 3, "%lld %lld",
          (long long)fi, (long long)fo);
    nb_tensor *c = nb_tensor_new(ctx, NB_F32, 4, (int64_t[]){16, 8, 3, 5});
    CHECK("fans of (16, 8, 3, 5): in 120, out 240", nb_init_fans(c, &fi, &fo) == NB_OK && fi == 120 && fo == 240,
          "%lld %lld", (long long)fi, (long long)fo);
    nb_tensor_free(c);
    CHECK("xavier_uniform of a 1-D tensor names the function",
          fails(nb_init_xavier_uniform(v, 1, &r), NB_ERR_SHAPE, "xavier_uniform: Fan in"), "%s", nb_last_error());
    CHECK("kaiming_normal of a 1-D tensor fails",
          fails(nb_init_kaiming_normal(v, 0, NB_FAN_IN, NB_GAIN_RELU, &r), NB_ERR_SHAPE, "kaiming_normal"), "%s",
          nb_last_error());
    CHECK("orthogonal of a 1-D tensor fails",
          fails(nb_init_orthogonal(v, 1, &r), NB_ERR_SHAPE, "2 or more dimensions"), "%s", nb_last_error());
    CHECK("kaiming of an I64 tensor fails",
          fails(nb_init_kaiming_uniform(ints, 0, NB_FAN_IN, NB_GAIN_RELU, &r), NB_ERR_ARG, "F32"), "%s",
          nb_last_error());
    CHECK("uniform of NULL fails", fails(nb_init_uniform(NULL, 0, 1, &r), NB_ERR_ARG, "NULL"), "%s", nb_last_error());
    CHECK("uniform with a > b fails", fails(nb_init_uniform(m, 1, 0, &r), NB_ERR_ARG, "a <= b"), "%s",
          nb_last_error());
    CHECK("normal with std < 0 fails", fails(nb_init_normal(m, 0, -1, &r), NB_ERR_ARG, "std >= 0"), "%s",
          nb_last_error());
    CHECK("kaiming with a bad mode fails",
          fails(nb_init_kaiming_uniform(m, 0, (nb_fan_mode)7, NB_GAIN_RELU, &r), NB_ERR_ARG, "mode"), "%s",
          nb_last_error());
    CHECK("kaiming with a bad nonlinearity fails",
          fails(nb_init_kaiming_uniform(m, 0, NB_FAN_IN, (nb_nonlinearity)42, &r), NB_ERR_ARG, "nonlinearity"), "%s",
          nb_last_error());
    nb_rng before = r;
    CHECK("zero-element tensors: a no-op that draws nothing",
          nb_init_kaiming_uniform(empty, 0, NB_FAN_IN, NB_GAIN_RELU, &r) == NB_OK &&
              nb_init_xavier_normal(empty, 1, &r) == NB_OK && nb_init_orthogonal(empty, 1, &r) == NB_OK &&
              !memcmp(&before, &r, sizeof r),
          "%s", nb_last_error());
    CHECK("calculate_gain: leaky_relu slope 0 is √2, the default slope gives √(2/1.0001)",
          nb_calculate_gain(NB_GAIN_LEAKY_RELU, 0) == sqrt(2) &&
              nb_calculate_gain(NB_GAIN_LEAKY_RELU, NB_GAIN_DEFAULT_SLOPE) == sqrt(2 / 1.0001),
          "%.9g %.9g", nb_calculate_gain(NB_GAIN_LEAKY_RELU, 0),
          nb_calculate_gain(NB_GAIN_LEAKY_RELU, NB_GAIN_DEFAULT_SLOPE));
    nb_tensor_free(v), nb_tensor_free(m), nb_tensor_free(ints), nb_tensor_free(empty);
}

int main(void)
{
    ctx = nb_ctx_new(&(nb_ctx_opts){.seed = 3});
    goldens();
    moments();
    orthogonal();
    errors();
    nb_ctx_free(ctx);
    CHECK_DONE();
}
