/* test_ops.c - every op and loss of nabla.h against PyTorch 1.13, and dropout's
 * properties.
 *
 * Goldens: tests/goldens/ops_*.safetensors from tools/goldens/gen_ops.py (its
 * docstring describes the cases). For each case the inputs are loaded (those the
 * case marks require grad), the op runs, loss = sum(out * G) is backpropagated,
 * and the output and the gradient of every input are compared with PyTorch's.
 *
 * Criterion: max_i |got_i - want_i| / max(|want_i|, 1e-3 · max_j |want_j|) <= 1e-5
 * (a case may loosen it with tol=...). The floor keeps elements that cancel to
 * nearly zero from demanding more than float32 can give, while everything
 * within three orders of magnitude of the largest value is held to 1e-5 relative.
 * The output's shape must match exactly, and an input that does not require grad
 * must get no gradient.
 *
 * Dropout cannot match PyTorch bit for bit (another generator), so its
 * properties are tested: zero fraction near p, kept values scaled by 1/(1-p),
 * the mean preserved, backward through the same mask, identity in eval and for
 * p = 0, all zeros for p = 1, a fresh mask per call, reproducible per seed. */
#include "check.h"
#include "golden.h"
#include "nabla.h"

#include <stdint.h>

#define TOL 1e-5
#define FLOOR (1.0 / 16)
#define MAXIN 4

static nb_ctx *ctx;
static long n_cases;

/* ---- case configuration "k1=v1 k2=v2" ---- */

static int cfg_has(const char *cfg, const char *key)
{
    char v[64];
    return *cfg_get(cfg, key, v, sizeof v) != 0;
}

static float cfg_float(const char *cfg, const char *key, float dflt)
{
    char v[64];
    return *cfg_get(cfg, key, v, sizeof v) ? (float)atof(v) : dflt;
}

static nb_reduction cfg_red(const char *cfg)
{
    char v[16];
    cfg_get(cfg, "red", v, sizeof v);
    return !strcmp(v, "sum") ? NB_SUM : !strcmp(v, "none") ? NB_NONE : NB_MEAN;
}

/* "4,-1" -> dims; "-" or "" -> 0 dims */
static int parse_dims(const char *s, int64_t *d)
{
    int n = 0;
    if (!strcmp(s, "-")) return 0;
    while (*s && n < 8) {
        d[n++] = strtoll(s, (char **)&s, 10);
        if (*s == ',') s++;
    }
    return n;
}

/* ---- comparison ---- */

/* max_i |a_i - b_i| / max(|b_i|, 1e-3·max|b|); equal values (infinities too) count 0 */
static double rel_err(const float *a, const float *b, int64_t n, int64_t *at)
{
    double mx = 0, worst = 0;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(b[i]) && fabs(b[i]) > mx) mx = fabs(b[i]);
    double floor_ = mx * FLOOR > 1e-30 ? mx * FLOOR : 1e-30;
    *at = 0;
    for (int64_t i = 0; i < n; i++) {
        double r;
        if (a[i] == b[i] || (a[i] != a[i] && b[i] != b[i]))
            r = 0;
        else if (!isfinite(a[i]) || !isfinite(b[i]))
            r = INFINITY;
        else
            r = fabs((double)a[i] - b[i]) / (fabs(b[i]) > floor_ ? fabs(b[i]) : floor_);
        if (r > worst || r != r) {
            worst = r != r ? INFINITY : r;
            *at = i;
        }
    }
    return worst;
}

static void check_vs(const char *name, nb_tensor *want, const float *got, int64_t n, double tol)
{
    if (!want || !got || nb_tensor_numel(want) != n) {
        CHECK(name, 0, "missing: got %s, want %s, %lld vs %lld values", got ? "data" : "NULL",
              want ? "data" : "NULL", want ? (long long)nb_tensor_numel(want) : -1LL, (long long)n);
        return;
    }
    int64_t at;
    const float *w = nb_tensor_data(want);
    double r = rel_err(got, w, n, &at);
    CHECK(name, r <= tol, "max rel err %.3g at %lld (got %.9g want %.9g, tol %g)", r, (long long)at,
          n ? (double)got[at] : 0.0, n ? (double)w[at] : 0.0, tol);
}

/* ---- running one case ---- */

static nb_tensor *get(nb_safetensors *f, int k, const char *key)
{
    char name[64];
    snprintf(name, sizeof name, "%d.%s", k, key);
    return nb_safetensors_find(f, name) < 0 ? NULL : nb_safetensors_get(f, ctx, name);
}

static nb_tensor *run_op(const char *cfg, nb_tensor **x, int n, nb_tensor *weight, nb_tensor *pos_weight)
{
    char op[32], v[64];
    cfg_get(cfg, "op", op, sizeof op);
    float s = cfg_float(cfg, "s", 0);
    int dim = (int)cfg_int(cfg, "dim", 0), keep = (int)cfg_int(cfg, "keepdim", 0);
    nb_reduction red = cfg_red(cfg);
    if (!strcmp(op, "add")) return nb_add(x[0], x[1]);
    if (!strcmp(op, "sub")) return nb_sub(x[0], x[1]);
    if (!strcmp(op, "mul")) return nb_mul(x[0], x[1]);
    if (!strcmp(op, "div")) return nb_div(x[0], x[1]);
    if (!strcmp(op, "adds")) return nb_add_scalar(x[0], s);
    if (!strcmp(op, "muls")) return nb_mul_scalar(x[0], s);
    if (!strcmp(op, "neg")) return nb_neg(x[0]);
    if (!strcmp(op, "exp")) return nb_exp(x[0]);
    if (!strcmp(op, "log")) return nb_log(x[0]);
    if (!strcmp(op, "sqrt")) return nb_sqrt(x[0]);
    if (!strcmp(op, "square")) return nb_square(x[0]);
    if (!strcmp(op, "abs")) return nb_abs(x[0]);
    if (!strcmp(op, "pow")) return nb_pow_scalar(x[0], s);
    if (!strcmp(op, "sum")) return nb_sum(x[0]);
    if (!strcmp(op, "mean")) return nb_mean(x[0]);
    if (!strcmp(op, "sum_dim")) return nb_sum_dim(x[0], dim, keep);
    if (!strcmp(op, "mean_dim")) return nb_mean_dim(x[0], dim, keep);
    if (!strcmp(op, "matmul")) return nb_matmul(x[0], x[1]);
    if (!strcmp(op, "linear")) return nb_linear(x[0], x[1], n > 2 ? x[2] : NULL);
    if (!strcmp(op, "reshape")) {
        int64_t d[8];
        int nd = parse_dims(cfg_get(cfg, "shape", v, sizeof v), d);
        return nb_reshape(x[0], nd, d);
    }
    if (!strcmp(op, "flatten")) return nb_flatten(x[0], (int)cfg_int(cfg, "start", 0), (int)cfg_int(cfg, "end", -1));
    if (!strcmp(op, "transpose")) return nb_transpose(x[0], (int)cfg_int(cfg, "d0", 0), (int)cfg_int(cfg, "d1", 1));
    if (!strcmp(op, "narrow")) return nb_narrow(x[0], dim, cfg_int(cfg, "start", 0), cfg_int(cfg, "len", 0));
    if (!strcmp(op, "sigmoid")) return nb_sigmoid(x[0]);
    if (!strcmp(op, "tanh")) return nb_tanh(x[0]);
    if (!strcmp(op, "relu")) return nb_relu(x[0]);
    if (!strcmp(op, "leaky_relu")) return nb_leaky_relu(x[0], s);
    if (!strcmp(op, "elu")) return nb_elu(x[0], s);
    if (!strcmp(op, "prelu")) return nb_prelu(x[0], x[1]);
    if (!strcmp(op, "softmax")) return nb_softmax(x[0], dim);
    if (!strcmp(op, "log_softmax")) return nb_log_softmax(x[0], dim);
    if (!strcmp(op, "mse")) return nb_mse_loss(x[0], x[1], red);
    if (!strcmp(op, "sse")) return nb_sse_loss(x[0], x[1]);
    if (!strcmp(op, "ce")) {
        nb_cross_entropy_opts o = {.weight = weight, .label_smoothing = cfg_float(cfg, "eps", 0), .reduction = red};
        if (cfg_has(cfg, "ignore")) {
            o.ignore_index = cfg_int(cfg, "ignore", 0);
            o.has_ignore_index = 1;
        }
        return nb_cross_entropy(x[0], x[1], &o);
    }
    if (!strcmp(op, "bce")) return nb_bce(x[0], x[1], &(nb_bce_opts){.weight = weight, .reduction = red});
    if (!strcmp(op, "bcel"))
        return nb_bce_with_logits(x[0], x[1], &(nb_bce_opts){.weight = weight, .pos_weight = pos_weight, .reduction = red});
    if (!strcmp(op, "l1")) return nb_l1_penalty(x, n, s);
    if (!strcmp(op, "l2")) return nb_l2_penalty(x, n, s);
    if (!strcmp(op, "elastic")) return nb_elastic_net_penalty(x, n, s, cfg_float(cfg, "s2", 0));
    fprintf(stderr, "unknown op %s\n", op);
    return NULL;
}

static int same_shape(nb_tensor *a, nb_tensor *b)
{
    if (nb_tensor_ndim(a) != nb_tensor_ndim(b)) return 0;
    for (int i = 0; i < nb_tensor_ndim(a); i++)
        if (nb_tensor_dim(a, i) != nb_tensor_dim(b, i)) return 0;
    return 1;
}

static void run_case(nb_safetensors *f, const char *file, int k, const char *cfg)
{
    char label[512], name[640], sh[128], gv[64];
    int n = (int)cfg_int(cfg, "n", 0), len;
    len = snprintf(label, sizeof label, "%s#%d %s", file, k, cfg);
    double tol = cfg_has(cfg, "tol") ? cfg_float(cfg, "tol", (float)TOL) : TOL;
    cfg_get(cfg, "grad", gv, sizeof gv);
    nb_tensor *x[MAXIN] = {0};
    int rg[MAXIN] = {0};
    for (int i = 0; i < n && i < MAXIN; i++) {
        char key[16];
        snprintf(key, sizeof key, "x%d", i);
        x[i] = get(f, k, key);
        rg[i] = gv[2 * i] == '1';
        if (x[i] && rg[i]) nb_tensor_set_requires_grad(x[i], 1);
        if (x[i] && len < (int)sizeof label - 64)
            len += snprintf(label + len, sizeof label - (size_t)len, " x%d%s", i, nb_shape_str(x[i], sh, sizeof sh));
    }
    nb_tensor *weight = get(f, k, "weight"), *pos_weight = get(f, k, "pos_weight"), *G = get(f, k, "G"),
              *want = get(f, k, "y");
    nb_ctx_reset(ctx);
    nb_clear_error();
    nb_tensor *out = run_op(cfg, x, n, weight, pos_weight);
    int any = 0;
    for (int i = 0; i < n; i++) any |= rg[i];
    nb_status st = NB_OK;
    if (out && any) st = nb_backward(nb_sum(nb_mul(out, G)));
    snprintf(name, sizeof name, "%s: runs", label);
    CHECK(name, out && want && G && st == NB_OK, "%s", nb_last_error());
    if (out && want && st == NB_OK) {
        char s1[128], s2[128];
        snprintf(name, sizeof name, "%s: forward", label);
        if (!same_shape(out, want))
            CHECK(name, 0, "shape %s, want %s", nb_shape_str(out, s1, sizeof s1), nb_shape_str(want, s2, sizeof s2));
        else
            check_vs(name, want, nb_tensor_data(out), nb_tensor_numel(out), tol);
        for (int i = 0; i < n; i++) {
            if (!x[i]) continue;
            if (rg[i]) {
                char key[16];
                snprintf(key, sizeof key, "g%d", i);
                nb_tensor *gw = get(f, k, key);
                snprintf(name, sizeof name, "%s: grad x%d", label, i);
                check_vs(name, gw, nb_tensor_grad(x[i]), nb_tensor_numel(x[i]), tol);
                nb_tensor_free(gw);
            } else if (nb_tensor_dtype(x[i]) == NB_F32) {
                snprintf(name, sizeof name, "%s: no grad for frozen x%d", label, i);
                CHECK(name, nb_tensor_grad(x[i]) == NULL, "a gradient was written");
            }
        }
    }
    n_cases++;
    for (int i = 0; i < MAXIN; i++) nb_tensor_free(x[i]);
    nb_tensor_free(weight);
    nb_tensor_free(pos_weight);
    nb_tensor_free(G);
    nb_tensor_free(want);
}

static void run_file(const char *file)
{
    char path[256];
    snprintf(path, sizeof path, "tests/goldens/ops_%s.safetensors", file);
    nb_safetensors *f = nb_safetensors_open(path);
    CHECK(path, f != NULL, "%s", nb_last_error());
    if (!f) return;
    const char *nc = nb_safetensors_metadata(f, "cases");
    int cases = nc ? atoi(nc) : 0;
    CHECK(file, cases > 5, "%d cases in %s", cases, path);
    for (int k = 0; k < cases; k++) {
        char key[32];
        snprintf(key, sizeof key, "case%d", k);
        const char *cfg = nb_safetensors_metadata(f, key);
        if (!cfg) {
            CHECK(path, 0, "%s missing", key);
            continue;
        }
        run_case(f, file, k, cfg);
    }
    nb_safetensors_close(f);
}

/* ---- dropout ---- */

static nb_tensor *filled(int64_t n, float v)
{
    nb_tensor *t = nb_tensor_new(ctx, NB_F32, 1, &n);
    for (int64_t i = 0; i < n; i++) nb_tensor_data(t)[i] = v + (float)(i % 7) * 0.125f;
    return t;
}

static void test_dropout(void)
{
    const int64_t N = 200000;
    nb_tensor *x = filled(N, 1.0f);
    nb_tensor_set_requires_grad(x, 1);
    const float ps[] = {0.1f, 0.5f, 0.8f};
    for (int q = 0; q < 3; q++) {
        float p = ps[q];
        char name[128];
        nb_ctx_reset(ctx);
        nb_tensor_zero_grad(x);
        nb_tensor *y = nb_dropout(x, p, 1);
        snprintf(name, sizeof name, "dropout p=%g: runs", p);
        CHECK(name, y && y != x, "%s", nb_last_error());
        if (!y) continue;
        const float *xv = nb_tensor_data(x), *yv = nb_tensor_data(y);
        int64_t zeros = 0, bad = 0;
        double sx = 0, sy = 0;
        for (int64_t i = 0; i < N; i++) {
            sx += xv[i];
            sy += yv[i];
            if (yv[i] == 0)
                zeros++;
            else if (fabsf(yv[i] - xv[i] / (1 - p)) > 1e-6f * fabsf(yv[i]))
                bad++;
        }
        /* binomial: sd of the fraction = sqrt(p(1-p)/N) <= 0.0012; allow 5 sd */
        double frac = (double)zeros / (double)N, sd = sqrt(p * (1 - p) / (double)N);
        snprintf(name, sizeof name, "dropout p=%g: zero fraction within 5 sd of p", p);
        CHECK(name, fabs(frac - p) < 5 * sd, "zero fraction %.5f, p %g, sd %.5f", frac, p, sd);
        snprintf(name, sizeof name, "dropout p=%g: kept values scaled by 1/(1-p)", p);
        CHECK(name, bad == 0, "%lld values are neither 0 nor x/(1-p)", (long long)bad);
        /* mean: sd of sy/sx is about sqrt(p/(1-p)/N)·(rms/mean); allow 6 sd */
        double msd = sqrt(p / (1 - p) / (double)N) * 1.2;
        snprintf(name, sizeof name, "dropout p=%g: mean preserved (inverted dropout)", p);
        CHECK(name, fabs(sy / sx - 1) < 6 * msd, "sum ratio %.5f (sd %.5f)", sy / sx, msd);
        /* backward through the same mask: loss = sum(y·G), G = 1 + i%3 */
        nb_tensor *G = filled(N, 1.0f);
        nb_status st = nb_backward(nb_sum(nb_mul(y, G)));
        const float *gx = nb_tensor_grad(x), *gv = nb_tensor_data(G);
        int64_t mism = st ? N : 0;
        for (int64_t i = 0; !st && i < N; i++) {
            float want = yv[i] == 0 ? 0.0f : gv[i] / (1 - p);
            if (fabsf(gx[i] - want) > 1e-6f * fabsf(want)) mism++;
        }
        snprintf(name, sizeof name, "dropout p=%g: backward uses the forward mask and scale", p);
        CHECK(name, mism == 0, "%lld gradients differ (%s)", (long long)mism, st ? nb_last_error() : "");
        nb_tensor_free(G);
    }
    nb_ctx_reset(ctx);
    /* masks differ between calls, are reproducible from the seed */
    nb_tensor *a = nb_dropout(x, 0.5f, 1), *b = nb_dropout(x, 0.5f, 1);
    int64_t diff = 0;
    for (int64_t i = 0; a && b && i < N; i++) diff += (nb_tensor_data(a)[i] == 0) != (nb_tensor_data(b)[i] == 0);
    CHECK("dropout: two calls draw different masks", a && b && diff > N / 4, "%lld of %lld differ", (long long)diff,
          (long long)N);
    nb_ctx *c2 = nb_ctx_new(&(nb_ctx_opts){.seed = 77}), *c3 = nb_ctx_new(&(nb_ctx_opts){.seed = 77});
    int64_t n = 1000;
    nb_tensor *x2 = nb_tensor_new(c2, NB_F32, 1, &n), *x3 = nb_tensor_new(c3, NB_F32, 1, &n);
    for (int64_t i = 0; i < n; i++) nb_tensor_data(x2)[i] = nb_tensor_data(x3)[i] = 1.0f;
    nb_tensor *y2 = nb_dropout(x2, 0.3f, 1), *y3 = nb_dropout(x3, 0.3f, 1);
    CHECK("dropout: the same seed gives the same mask", y2 && y3 && !memcmp(nb_tensor_data(y2), nb_tensor_data(y3), 4000),
          "masks differ");
    nb_tensor_free(x2);
    nb_tensor_free(x3);
    nb_ctx_free(c2);
    nb_ctx_free(c3);
    /* eval and p = 0: identity, gradient passes unchanged; p = 1: zeros, zero gradient */
    nb_ctx_reset(ctx);
    nb_tensor_zero_grad(x);
    nb_tensor *e = nb_dropout(x, 0.5f, 0);
    CHECK("dropout: identity when not training", e && !memcmp(nb_tensor_data(e), nb_tensor_data(x), (size_t)N * 4),
          "values changed");
    nb_tensor *z = nb_dropout(x, 0.0f, 1);
    CHECK("dropout: p=0 is the identity", z && !memcmp(nb_tensor_data(z), nb_tensor_data(x), (size_t)N * 4),
          "values changed");
    nb_status st = nb_backward(nb_sum(nb_add(e, z)));
    int64_t bad = 0;
    for (int64_t i = 0; !st && i < N; i++) bad += nb_tensor_grad(x)[i] != 2.0f;
    CHECK("dropout: eval and p=0 pass the gradient unchanged", !st && bad == 0, "%lld wrong (%s)", (long long)bad,
          st ? nb_last_error() : "");
    nb_ctx_reset(ctx);
    nb_tensor_zero_grad(x);
    nb_tensor *one = nb_dropout(x, 1.0f, 1);
    int64_t nz = 0;
    for (int64_t i = 0; one && i < N; i++) nz += nb_tensor_data(one)[i] != 0;
    st = one ? nb_backward(nb_sum(one)) : NB_ERR_ARG;
    for (int64_t i = 0; !st && i < N; i++) nz += nb_tensor_grad(x)[i] != 0;
    CHECK("dropout: p=1 gives zeros and a zero gradient", one && !st && nz == 0, "%lld nonzero (%s)", (long long)nz,
          nb_last_error());
    nb_clear_error();
    CHECK("dropout: p outside [0, 1] is an error", !nb_dropout(x, 1.5f, 1) && strstr(nb_last_error(), "p must be"),
          "message: %s", nb_last_error());
    nb_clear_error();
    CHECK("dropout: NaN p is an error", !nb_dropout(x, NAN, 1) && *nb_last_error(), "message: %s", nb_last_error());
    nb_tensor_free(x);
}

int main(void)
{
    ctx = nb_ctx_new(&(nb_ctx_opts){.seed = 1});
    const char *files[] = {"elementwise", "reduce", "linalg", "shape", "activation", "softmax",
                           "loss_mse", "loss_ce", "loss_bce"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) run_file(files[i]);
    CHECK("golden cases run", n_cases > 500, "%ld cases", n_cases);
    test_dropout();
    nb_ctx_free(ctx);
    printf("%ld golden cases\n", n_cases);
    CHECK_DONE();
}
