/* test_norm.c - BatchNorm1d/2d, LayerNorm, InstanceNorm1d/2d, GroupNorm:
 *   - PyTorch goldens (tests/goldens/norm_*.safetensors, tools/goldens/gen_norm.py):
 *     forward, gradients of x, weight, bias and running statistics after training
 *     forwards, in train and eval, over a grid of shapes; within 1e-5 relative
 *     (floor 1), num_batches_tracked exactly;
 *   - finite differences of every backward (batch statistics and eval);
 *   - the threaded BatchNorm2d against a plain double reference on a shape large
 *     enough to use threads, and bit-identical results with 1 and 2 threads;
 *   - the same bits with 1 and 2 threads for LayerNorm, GroupNorm, InstanceNorm;
 *   - relu(batch_norm(x) + res) as one op (a residual block's end) and a BasicBlock in
 *     training: the same bits as batch_norm, add and relu run one by one, forward and
 *     every gradient;
 *   - defaults, state_dict names, PyTorch's state_dict loaded strictly and a save/load
 *     round trip, shape errors (message and NULL, state untouched), the eval
 *     scale/shift used to fold BatchNorm into a conv. */
#include "check.h"
#include "core/ctx.h"
#include "golden.h"
#include "nn/layers.h"
#include "nn/module.h"
#include "nn/residual.h"
#include "ops/norm.h"

#include <omp.h>

#define TOL 1e-5

static nb_ctx *ctx;

/* ---- golden cases ---- */

static int parse_dims(const char *s, int64_t *dims)
{
    int n = 0;
    while (*s && n < NB_MAX_DIMS) {
        dims[n++] = strtoll(s, (char **)&s, 10);
        if (*s == ',') s++;
    }
    return n;
}

static nb_tensor *state_get(nb_module *m, const char *name)
{
    int n;
    const nb_named_tensor *s = nb_module_state(m, &n);
    for (int i = 0; i < n; i++)
        if (!strcmp(s[i].name, name)) return s[i].tensor;
    return NULL;
}

static nb_module *make_module(const char *cfg)
{
    char layer[64], v[64];
    cfg_get(cfg, "layer", layer, sizeof layer);
    long C = cfg_int(cfg, "C", 0), affine = cfg_int(cfg, "affine", 1), track = cfg_int(cfg, "track", 1);
    float eps = *cfg_get(cfg, "eps", v, sizeof v) ? (float)atof(v) : 0.0f;
    cfg_get(cfg, "momentum", v, sizeof v);
    int cumulative = !strcmp(v, "None");
    float momentum = *v && !cumulative ? (float)atof(v) : 0.1f;
    if (!strncmp(layer, "BatchNorm", 9)) {
        nb_batchnorm_opts o = {.eps = eps, .momentum = momentum, .cumulative_average = cumulative,
                               .no_affine = !affine, .no_running_stats = !track};
        return layer[9] == '1' ? nb_batchnorm1d_new(ctx, C, &o) : nb_batchnorm2d_new(ctx, C, &o);
    }
    if (!strncmp(layer, "InstanceNorm", 12)) {
        nb_instancenorm_opts o = {.eps = eps, .momentum = momentum, .affine = (int)affine,
                                  .track_running_stats = (int)track};
        return layer[12] == '1' ? nb_instancenorm1d_new(ctx, C, &o) : nb_instancenorm2d_new(ctx, C, &o);
    }
    if (!strcmp(layer, "LayerNorm")) {
        int64_t ns[NB_MAX_DIMS];
        int nd = parse_dims(cfg_get(cfg, "ns", v, sizeof v), ns);
        return nb_layernorm_new(ctx, nd, ns, &(nb_layernorm_opts){.eps = eps, .no_elementwise_affine = !affine});
    }
    if (!strcmp(layer, "GroupNorm"))
        return nb_groupnorm_new(ctx, cfg_int(cfg, "groups", 1), C, &(nb_groupnorm_opts){.eps = eps, .no_affine = !affine});
    return NULL;
}

/* Compare the golden `key` of case k with got (n floats); 1 if it matched. */
static int cmp(nb_safetensors *f, int k, const char *key, const float *got, int64_t n, const char *label,
               double tol)
{
    char name[64], what[256];
    snprintf(name, sizeof name, "%d.%s", k, key);
    snprintf(what, sizeof what, "%s %s", label, key);
    nb_tensor *want = nb_safetensors_get(f, ctx, name);
    if (!want || !got || nb_tensor_numel(want) != n) {
        CHECK(what, 0, "missing (%s) or size %lld vs %lld", want ? "got" : nb_last_error(),
              want ? (long long)nb_tensor_numel(want) : -1LL, (long long)n);
        nb_tensor_free(want);
        return 0;
    }
    long at;
    double r = check_max_rel(got, nb_tensor_data(want), (long)n, 1.0, &at);
    CHECK(what, r <= tol, "max rel err %.3g at %ld (got %.9g want %.9g)", r, at, (double)got[at],
          (double)nb_tensor_data(want)[at]);
    nb_tensor_free(want);
    return r <= tol;
}

/* Copy golden `key` of case k into the module's tensor `name` (if both exist). */
static void load_into(nb_safetensors *f, int k, const char *key, nb_module *m, const char *name)
{
    char gk[64];
    snprintf(gk, sizeof gk, "%d.%s", k, key);
    nb_tensor *dst = state_get(m, name);
    if (!dst || nb_safetensors_find(f, gk) < 0) return;
    nb_tensor *src = nb_safetensors_get(f, ctx, gk);
    if (src) nb_tensor_copy_in(dst, nb_tensor_data(src), nb_tensor_numel(src));
    nb_tensor_free(src);
}

static void run_golden_file(const char *path)
{
    nb_safetensors *f = nb_safetensors_open(path);
    CHECK(path, f != NULL, "%s", nb_last_error());
    if (!f) return;
    const char *nc = nb_safetensors_metadata(f, "cases");
    int cases = nc ? atoi(nc) : 0;
    CHECK("golden case count", cases > 5, "%d cases in %s", cases, path);
    int all = 1;
    for (int k = 0; k < cases; k++) {
        char key[32], label[320];
        snprintf(key, sizeof key, "case%d", k);
        const char *cfg = nb_safetensors_metadata(f, key);
        if (!cfg) {
            CHECK("case metadata", 0, "%s missing", key);
            continue;
        }
        snprintf(label, sizeof label, "%s [%s]", key, cfg);
        char tv[32];
        double tol = *cfg_get(cfg, "tol", tv, sizeof tv) ? atof(tv) : TOL;
        nb_ctx_reset(ctx);
        nb_module *m = make_module(cfg);
        if (!m) {
            CHECK(label, 0, "module: %s", nb_last_error());
            all = 0;
            continue;
        }
        const char *names[4] = {"weight", "bias", "running_mean", "running_var"};
        if (cfg_int(cfg, "steps", 0)) { /* three training forwards from the default buffers */
            nb_module_train(m, 1);
            int ok = 1;
            for (int s = 0; s < 3 && ok; s++) {
                char xk[32];
                snprintf(xk, sizeof xk, "%d.x%d", k, s);
                nb_tensor *x = nb_safetensors_get(f, ctx, xk);
                ok = x && nb_module_forward(m, x);
                nb_tensor_free(x);
            }
            CHECK(label, ok, "forward: %s", nb_last_error());
            nb_tensor *rm = state_get(m, "running_mean"), *rv = state_get(m, "running_var");
            all &= cmp(f, k, "running_mean", nb_tensor_data(rm), nb_tensor_numel(rm), label, tol);
            all &= cmp(f, k, "running_var", nb_tensor_data(rv), nb_tensor_numel(rv), label, tol);
            snprintf(key, sizeof key, "%d.num_batches_tracked", k);
            nb_tensor *want = nb_safetensors_get(f, ctx, key), *got = state_get(m, "num_batches_tracked");
            CHECK(label, want && got && nb_tensor_data_i64(want)[0] == nb_tensor_data_i64(got)[0],
                  "num_batches_tracked %lld, want %lld", got ? (long long)nb_tensor_data_i64(got)[0] : -1LL,
                  want ? (long long)nb_tensor_data_i64(want)[0] : -1LL);
            nb_tensor_free(want);
            nb_module_free(m);
            continue;
        }
        for (int i = 0; i < 4; i++) load_into(f, k, names[i], m, names[i]);
        nb_module_train(m, (int)cfg_int(cfg, "train", 1));
        snprintf(key, sizeof key, "%d.x", k);
        nb_tensor *x = nb_safetensors_get(f, ctx, key);
        snprintf(key, sizeof key, "%d.dy", k);
        nb_tensor *dy = nb_safetensors_get(f, ctx, key);
        nb_tensor_set_requires_grad(x, 1);
        nb_tensor *y = nb_module_forward(m, x);
        nb_status st = y ? nb_backward(nb_sum(nb_mul(y, dy))) : NB_ERR_ARG;
        CHECK(label, y && st == NB_OK, "forward/backward: %s", nb_last_error());
        if (y && st == NB_OK) {
            all &= cmp(f, k, "y", nb_tensor_data(y), nb_tensor_numel(y), label, tol);
            all &= cmp(f, k, "dx", nb_tensor_grad(x), nb_tensor_numel(x), label, tol);
            nb_tensor *w = state_get(m, "weight"), *b = state_get(m, "bias");
            if (w) all &= cmp(f, k, "dweight", nb_tensor_grad(w), nb_tensor_numel(w), label, tol);
            if (b) all &= cmp(f, k, "dbias", nb_tensor_grad(b), nb_tensor_numel(b), label, tol);
            nb_tensor *rm = state_get(m, "running_mean"), *rv = state_get(m, "running_var");
            if (rm) all &= cmp(f, k, "running_mean_after", nb_tensor_data(rm), nb_tensor_numel(rm), label, tol);
            if (rv) all &= cmp(f, k, "running_var_after", nb_tensor_data(rv), nb_tensor_numel(rv), label, tol);
            snprintf(key, sizeof key, "%d.dweight", k);
            CHECK("parameters as in PyTorch", (w != NULL) == (nb_safetensors_find(f, key) >= 0),
                  "%s: has weight %d, PyTorch's %d", label, w != NULL, nb_safetensors_find(f, key) >= 0);
        }
        nb_tensor_free(x);
        nb_tensor_free(dy);
        nb_module_free(m);
    }
    CHECK(path, all, "some cases differ from PyTorch (see above)");
    nb_safetensors_close(f);
}

/* ---- finite differences ---- */

static nb_tensor *rand_tensor(int ndim, const int64_t *shape, float scale, float offset, nb_rng *r)
{
    nb_tensor *t = nb_tensor_new(ctx, NB_F32, ndim, shape);
    float *d = nb_tensor_data(t);
    for (int64_t i = 0; i < nb_tensor_numel(t); i++) d[i] = nb_rng_normal(r) * scale + offset;
    return t;
}

/* loss = Σ f(x)·dy in double, computed without recording. */
typedef nb_tensor *(*fwd_fn)(nb_tensor *x, nb_tensor *w, nb_tensor *b, void *arg);

static double loss_of(fwd_fn fn, nb_tensor *x, nb_tensor *w, nb_tensor *b, nb_tensor *dy, void *arg)
{
    nb_ctx_reset(ctx);
    int old = nb_set_grad_enabled(ctx, 0);
    nb_tensor *y = fn(x, w, b, arg);
    nb_set_grad_enabled(ctx, old);
    if (!y) return NAN;
    double s = 0;
    for (int64_t i = 0; i < nb_tensor_numel(y); i++) s += (double)nb_tensor_data(y)[i] * nb_tensor_data(dy)[i];
    return s;
}

/* Central differences on up to 12 entries of each of x, w, b against the backward. */
static void fd_check(const char *name, fwd_fn fn, nb_tensor *x, nb_tensor *w, nb_tensor *b, void *arg, nb_rng *r)
{
    nb_ctx_reset(ctx);
    nb_tensor *ts[3] = {x, w, b};
    for (int k = 0; k < 3; k++)
        if (ts[k]) {
            nb_tensor_set_requires_grad(ts[k], 1);
            nb_tensor_zero_grad(ts[k]);
        }
    nb_tensor *y = fn(x, w, b, arg);
    if (!y) {
        CHECK(name, 0, "forward: %s", nb_last_error());
        return;
    }
    nb_tensor *dy = nb_tensor_new(ctx, NB_F32, nb_tensor_ndim(y), nb_tensor_shape(y));
    for (int64_t i = 0; i < nb_tensor_numel(dy); i++) nb_tensor_data(dy)[i] = nb_rng_normal(r);
    nb_status st = nb_backward(nb_sum(nb_mul(y, dy)));
    CHECK(name, st == NB_OK, "backward: %s", nb_last_error());
    double worst = 0;
    const char *tn[3] = {"x", "weight", "bias"};
    char at[64] = "";
    for (int k = 0; k < 3; k++) {
        if (!ts[k]) continue;
        float *d = nb_tensor_data(ts[k]), *g = nb_tensor_grad(ts[k]);
        int64_t n = nb_tensor_numel(ts[k]);
        for (int j = 0; j < 12 && j < n; j++) {
            int64_t i = n <= 12 ? j : (int64_t)nb_rng_below(r, (uint64_t)n);
            float keep = d[i], h = 1e-2f;
            d[i] = keep + h;
            double lp = loss_of(fn, x, w, b, dy, arg);
            d[i] = keep - h;
            double lm = loss_of(fn, x, w, b, dy, arg);
            d[i] = keep;
            double fd = (lp - lm) / (2.0 * (double)h), an = g ? g[i] : 0;
            double e = fabs(fd - an) / fmax(1.0, fabs(fd));
            if (!(e <= worst)) {
                worst = e;
                snprintf(at, sizeof at, "%s[%lld]: fd %.6g analytic %.6g", tn[k], (long long)i, fd, an);
            }
        }
    }
    CHECK(name, worst < 2e-3, "max err %.3g at %s", worst, at);
    nb_tensor_free(dy);
}

typedef struct {
    int training;
    nb_tensor *rm, *rv;
    int64_t groups;
    int nd;
    const int64_t *ns;
} fd_arg;

static nb_tensor *f_bn(nb_tensor *x, nb_tensor *w, nb_tensor *b, void *arg)
{
    fd_arg *a = arg; /* momentum 0 keeps the running statistics fixed across evaluations */
    return nb_batch_norm(x, a->rm, a->rv, w, b, a->training, 0.0f, 1e-5f);
}
static nb_tensor *f_in(nb_tensor *x, nb_tensor *w, nb_tensor *b, void *arg)
{
    fd_arg *a = arg;
    return nb_instance_norm(x, a->rm, a->rv, w, b, a->training, 0.0f, 1e-5f);
}
static nb_tensor *f_gn(nb_tensor *x, nb_tensor *w, nb_tensor *b, void *arg)
{
    return nb_group_norm(x, ((fd_arg *)arg)->groups, w, b, 1e-5f);
}
static nb_tensor *f_ln(nb_tensor *x, nb_tensor *w, nb_tensor *b, void *arg)
{
    fd_arg *a = arg;
    return nb_layer_norm(x, a->nd, a->ns, w, b, 1e-5f);
}

static void test_finite_differences(void)
{
    nb_rng r;
    nb_rng_seed(&r, 7);
    int64_t s4[4] = {3, 4, 3, 2}, c4[1] = {4}, s2[2] = {5, 3}, c2[1] = {3}, s3[3] = {2, 3, 5};
    nb_tensor *x = rand_tensor(4, s4, 1.5f, 2.0f, &r), *w = rand_tensor(1, c4, 0.5f, 1.0f, &r),
              *b = rand_tensor(1, c4, 1.0f, 0.0f, &r), *rm = rand_tensor(1, c4, 1.0f, 2.0f, &r),
              *rv = rand_tensor(1, c4, 0.2f, 1.5f, &r);
    fd_arg a = {.training = 1, .rm = rm, .rv = rv};
    fd_check("finite differences: batch_norm train (N, C, H, W)", f_bn, x, w, b, &a, &r);
    a.training = 0;
    fd_check("finite differences: batch_norm eval (running statistics)", f_bn, x, w, b, &a, &r);
    a = (fd_arg){.training = 1};
    fd_check("finite differences: batch_norm train, no affine, no running stats", f_bn, x, NULL, NULL, &a, &r);
    fd_check("finite differences: instance_norm (input statistics)", f_in, x, w, b, &a, &r);
    a.groups = 2;
    fd_check("finite differences: group_norm G=2", f_gn, x, w, b, &a, &r);
    a.groups = 4;
    fd_check("finite differences: group_norm G=C", f_gn, x, w, b, &a, &r);
    a.groups = 1;
    fd_check("finite differences: group_norm G=1, no affine", f_gn, x, NULL, NULL, &a, &r);
    nb_tensor *x2 = rand_tensor(2, s2, 1.0f, -1.0f, &r), *w2 = rand_tensor(1, c2, 0.5f, 1.0f, &r),
              *b2 = rand_tensor(1, c2, 1.0f, 0.0f, &r);
    a = (fd_arg){.training = 1};
    fd_check("finite differences: batch_norm (N, C)", f_bn, x2, w2, b2, &a, &r);
    a.nd = 1;
    a.ns = c2;
    fd_check("finite differences: layer_norm over the last dim", f_ln, x2, w2, b2, &a, &r);
    nb_tensor *x3 = rand_tensor(3, s3, 2.0f, 3.0f, &r), *w3 = rand_tensor(2, s3 + 1, 0.5f, 1.0f, &r),
              *b3 = rand_tensor(2, s3 + 1, 1.0f, 0.0f, &r);
    a.nd = 2;
    a.ns = s3 + 1;
    fd_check("finite differences: layer_norm over 2 dims", f_ln, x3, w3, b3, &a, &r);
    nb_tensor *all[] = {x, w, b, rm, rv, x2, w2, b2, x3, w3, b3};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) nb_tensor_free(all[i]);
}

/* ---- the threaded BatchNorm2d against a double reference ---- */

/* x of `shape` (more than BN_PAR_MIN values: the threaded path) */
static void test_batchnorm_reference(const char *name, int ndim, const int64_t *shape)
{
    nb_rng r;
    nb_rng_seed(&r, 11);
    int64_t N = shape[0], C = shape[1], S = 1;
    for (int d = 2; d < ndim; d++) S *= shape[d];
    nb_tensor *x = rand_tensor(ndim, shape, 3.0f, 5.0f, &r), *dy = rand_tensor(ndim, shape, 1.0f, 0.0f, &r);
    nb_tensor *w = rand_tensor(1, &C, 0.5f, 1.0f, &r), *b = rand_tensor(1, &C, 1.0f, 0.0f, &r);
    float *got[2][4]; /* threads 1 and 2: y, dx, dw, db */
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t + 1);
        nb_ctx_reset(ctx);
        nb_tensor_set_requires_grad(x, 1);
        nb_tensor_set_requires_grad(w, 1);
        nb_tensor_set_requires_grad(b, 1);
        nb_tensor_zero_grad(x);
        nb_tensor_zero_grad(w);
        nb_tensor_zero_grad(b);
        nb_tensor *y = nb_batch_norm(x, NULL, NULL, w, b, 1, 0.1f, 1e-5f);
        char lab[160];
        snprintf(lab, sizeof lab, "%s: forward and backward", name);
        CHECK(lab, y && nb_backward(nb_sum(nb_mul(y, dy))) == NB_OK, "%s", nb_last_error());
        if (!y) return;
        int64_t ns[4] = {nb_tensor_numel(x), nb_tensor_numel(x), C, C};
        const float *src[4] = {nb_tensor_data(y), nb_tensor_grad(x), nb_tensor_grad(w), nb_tensor_grad(b)};
        for (int k = 0; k < 4; k++) {
            got[t][k] = malloc((size_t)ns[k] * sizeof(float));
            memcpy(got[t][k], src[k], (size_t)ns[k] * sizeof(float));
        }
    }
    omp_set_num_threads(nb_ctx_threads(ctx));
    int same = 1;
    for (int k = 0; k < 4; k++)
        same &= !memcmp(got[0][k], got[1][k], (size_t)(k < 2 ? nb_tensor_numel(x) : C) * sizeof(float));
    char lab[160];
    snprintf(lab, sizeof lab, "%s: 1 and 2 threads give identical bits", name);
    CHECK(lab, same, "results differ with the thread count");
    /* reference in double, two-pass, straight from the formulas */
    float *ry = malloc((size_t)nb_tensor_numel(x) * sizeof(float)), *rdx = malloc((size_t)nb_tensor_numel(x) * sizeof(float));
    float *rdw = malloc((size_t)C * sizeof(float)), *rdb = malloc((size_t)C * sizeof(float));
    const float *xv = nb_tensor_data(x), *gv = nb_tensor_data(dy), *wv = nb_tensor_data(w), *bv = nb_tensor_data(b);
    for (int64_t c = 0; c < C; c++) {
        double mu = 0, var = 0, sg = 0, sgx = 0, M = (double)(N * S);
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < S; i++) mu += xv[(n * C + c) * S + i];
        mu /= M;
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < S; i++) var += pow(xv[(n * C + c) * S + i] - mu, 2);
        var /= M;
        double rs = 1 / sqrt(var + 1e-5);
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < S; i++) {
                int64_t j = (n * C + c) * S + i;
                double xh = (xv[j] - mu) * rs;
                ry[j] = (float)(xh * wv[c] + bv[c]);
                sg += gv[j];
                sgx += gv[j] * xh;
            }
        rdw[c] = (float)sgx;
        rdb[c] = (float)sg;
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < S; i++) {
                int64_t j = (n * C + c) * S + i;
                double xh = (xv[j] - mu) * rs;
                rdx[j] = (float)(wv[c] * rs * (gv[j] - sg / M - xh * sgx / M));
            }
    }
    snprintf(lab, sizeof lab, "%s: y vs double reference", name);
    CHECK_CLOSE(lab, got[1][0], ry, nb_tensor_numel(x), 1e-5);
    snprintf(lab, sizeof lab, "%s: dx vs double reference", name);
    CHECK_CLOSE(lab, got[1][1], rdx, nb_tensor_numel(x), 1e-5);
    snprintf(lab, sizeof lab, "%s: dweight vs double reference", name);
    CHECK_CLOSE(lab, got[1][2], rdw, C, 1e-5);
    snprintf(lab, sizeof lab, "%s: dbias vs double reference", name);
    CHECK_CLOSE(lab, got[1][3], rdb, C, 1e-5);
    for (int t = 0; t < 2; t++)
        for (int k = 0; k < 4; k++) free(got[t][k]);
    free(ry);
    free(rdx);
    free(rdw);
    free(rdb);
    nb_tensor *all[] = {x, dy, w, b};
    for (int i = 0; i < 4; i++) nb_tensor_free(all[i]);
}

/* ---- modules: defaults, names, eval, folding ---- */

static void test_modules(void)
{
    nb_module *bn = nb_batchnorm2d_new(ctx, 3, NULL);
    int n;
    const nb_named_tensor *s = nb_module_state(bn, &n);
    const char *want[5] = {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"};
    int names_ok = n == 5;
    for (int i = 0; i < 5 && names_ok; i++) names_ok = !strcmp(s[i].name, want[i]) && s[i].is_buffer == (i >= 2);
    CHECK("BatchNorm2d state_dict names and order", names_ok, "%d entries", n);
    CHECK("BatchNorm2d kind", !strcmp(nb_module_kind(bn), "BatchNorm2d"), "%s", nb_module_kind(bn));
    nb_tensor *nbt = state_get(bn, "num_batches_tracked");
    CHECK("num_batches_tracked is I64 of shape []", nbt && nb_tensor_dtype(nbt) == NB_I64 && nb_tensor_ndim(nbt) == 0 &&
          nb_tensor_data_i64(nbt)[0] == 0, "bad buffer");
    float *wv = nb_tensor_data(state_get(bn, "weight")), *bv = nb_tensor_data(state_get(bn, "bias"));
    float *rm = nb_tensor_data(state_get(bn, "running_mean")), *rv = nb_tensor_data(state_get(bn, "running_var"));
    int init_ok = 1;
    for (int c = 0; c < 3; c++) init_ok &= wv[c] == 1 && bv[c] == 0 && rm[c] == 0 && rv[c] == 1;
    CHECK("BatchNorm init: weight 1, bias 0, running_mean 0, running_var 1", init_ok, "bad init");
    CHECK("BatchNorm2d has 6 parameters", nb_module_num_params(bn) == 6, "%lld", (long long)nb_module_num_params(bn));

    /* eval leaves the buffers alone; the folded scale/shift equal the eval forward */
    nb_rng r;
    nb_rng_seed(&r, 3);
    for (int c = 0; c < 3; c++) {
        wv[c] = 0.5f + (float)c;
        bv[c] = (float)c - 1;
        rm[c] = 2.0f * (float)c;
        rv[c] = 0.5f + (float)c;
    }
    int64_t shp[4] = {2, 3, 4, 5};
    nb_tensor *x = rand_tensor(4, shp, 1, 0, &r);
    nb_module_train(bn, 0);
    nb_ctx_reset(ctx);
    nb_tensor *y = nb_module_forward(bn, x);
    CHECK("eval forward", y != NULL, "%s", nb_last_error());
    CHECK("eval leaves running stats and num_batches_tracked", rm[1] == 2.0f && rv[2] == 2.5f &&
          nb_tensor_data_i64(nbt)[0] == 0, "changed");
    float scale[3], shift[3];
    CHECK("eval scale/shift", nb__batchnorm_eval_scale_shift(bn, scale, shift) == NB_OK, "%s", nb_last_error());
    double worst = 0;
    for (int64_t i = 0; y && i < nb_tensor_numel(x); i++) {
        int c = (int)(i / 20 % 3);
        worst = fmax(worst, fabs(nb_tensor_data(x)[i] * scale[c] + shift[c] - nb_tensor_data(y)[i]));
    }
    CHECK("folded scale/shift reproduce the eval forward", worst < 1e-6, "max diff %g", worst);
    nb_module_train(bn, 1);
    y = nb_module_forward(bn, x);
    CHECK("training forward bumps num_batches_tracked", y && nb_tensor_data_i64(nbt)[0] == 1 && rm[1] != 2.0f,
          "nbt %lld", (long long)nb_tensor_data_i64(nbt)[0]);
    nb_module *nors = nb_batchnorm2d_new(ctx, 3, &(nb_batchnorm_opts){.no_running_stats = 1, .no_affine = 1});
    nb_module_state(nors, &n);
    CHECK("BatchNorm2d(affine=False, track_running_stats=False) has no state", n == 0, "%d entries", n);
    CHECK("no running stats: nothing to fold", nb__batchnorm_eval_scale_shift(nors, scale, shift) == NB_ERR_STATE,
          "folded");
    nb_module_free(nors);

    /* inside a Sequential: PyTorch's dotted names */
    nb_module *ch[2] = {nb_batchnorm2d_new(ctx, 3, NULL), nb_batchnorm1d_new(ctx, 3, NULL)};
    nb_module *seq = nb_sequential_new(ctx, ch, 2);
    s = nb_module_state(seq, &n);
    CHECK("Sequential names 1.running_mean, 1.num_batches_tracked", n == 10 && !strcmp(s[7].name, "1.running_mean") &&
          !strcmp(s[9].name, "1.num_batches_tracked"), "%d entries", n);
    nb_module_free(seq);

    nb_module *in = nb_instancenorm2d_new(ctx, 3, NULL);
    nb_module_state(in, &n);
    CHECK("InstanceNorm2d default: no parameters, no buffers", n == 0, "%d entries", n);
    nb_module_free(in);
    in = nb_instancenorm1d_new(ctx, 3, &(nb_instancenorm_opts){.affine = 1, .track_running_stats = 1});
    s = nb_module_state(in, &n);
    CHECK("InstanceNorm1d(affine, track) state names", n == 5 && !strcmp(s[2].name, "running_mean") &&
          !strcmp(s[4].name, "num_batches_tracked"), "%d entries", n);
    nb_module_free(in);
    nb_module *gn = nb_groupnorm_new(ctx, 2, 6, NULL);
    s = nb_module_state(gn, &n);
    CHECK("GroupNorm(2, 6): weight (6) = 1, bias (6) = 0", n == 2 && nb_tensor_numel(s[0].tensor) == 6 &&
          nb_tensor_data(s[0].tensor)[5] == 1 && nb_tensor_data(s[1].tensor)[5] == 0, "bad");
    nb_module_free(gn);
    nb_module *ln = nb_layernorm_new(ctx, 2, (int64_t[]){3, 5}, NULL);
    s = nb_module_state(ln, &n);
    CHECK("LayerNorm([3, 5]): weight and bias of shape [3, 5]", n == 2 && nb_tensor_ndim(s[0].tensor) == 2 &&
          nb_tensor_dim(s[1].tensor, 1) == 5 && nb_tensor_data(s[0].tensor)[14] == 1, "bad");
    nb_module_free(ln);
    nb_tensor_free(x);
    nb_module_free(bn);
}

/* ---- state: PyTorch's state_dict loads; save and load round-trip the buffers ---- */

static void test_state(void)
{
    nb_module *ch[2] = {nb_batchnorm2d_new(ctx, 3, NULL),
                        nb_batchnorm1d_new(ctx, 4, &(nb_batchnorm_opts){.cumulative_average = 1})};
    nb_module *seq = nb_sequential_new(ctx, ch, 2);
    nb_status st = nb_load_safetensors(seq, "tests/goldens/norm_state.safetensors", 1);
    CHECK("PyTorch's BatchNorm state_dict loads strictly", st == NB_OK, "%s", nb_last_error());
    nb_tensor *nbt = state_get(seq, "1.num_batches_tracked");
    CHECK("loaded num_batches_tracked", nbt && nb_tensor_data_i64(nbt)[0] == 3, "%lld",
          nbt ? (long long)nb_tensor_data_i64(nbt)[0] : -1LL);
    nb_safetensors *f = nb_safetensors_open("tests/goldens/norm_state_eval.safetensors");
    nb_tensor *x = f ? nb_safetensors_get(f, ctx, "x") : NULL, *want = f ? nb_safetensors_get(f, ctx, "y") : NULL;
    nb_module_train(seq, 0);
    nb_ctx_reset(ctx);
    nb_tensor *y = nb_module_forward(nb_sequential_child(seq, 0), x);
    CHECK("eval forward with the loaded statistics", y && want, "%s", nb_last_error());
    if (y && want) CHECK_CLOSE("eval output with PyTorch's running statistics", nb_tensor_data(y), nb_tensor_data(want),
                               nb_tensor_numel(want), TOL);
    /* one more cumulative-average step, then a round trip through a file */
    nb_module_train(seq, 1);
    nb_rng r;
    nb_rng_seed(&r, 17);
    nb_tensor *x2 = rand_tensor(2, (int64_t[]){6, 4}, 1, 2, &r);
    float rm_before = nb_tensor_data(state_get(seq, "1.running_mean"))[2];
    nb_module_forward(nb_sequential_child(seq, 1), x2);
    double mean2 = 0;
    for (int n = 0; n < 6; n++) mean2 += nb_tensor_data(x2)[n * 4 + 2];
    mean2 /= 6;
    float rm_after = nb_tensor_data(state_get(seq, "1.running_mean"))[2];
    CHECK("momentum=None: the 4th batch enters the running mean with factor 1/4",
          fabs(rm_after - (0.75 * rm_before + 0.25 * mean2)) < 1e-5, "got %g want %g", rm_after,
          0.75 * rm_before + 0.25 * mean2);
    const char *path = "build-norm-state.safetensors";
    st = nb_save_safetensors(seq, path);
    nb_module *ch2[2] = {nb_batchnorm2d_new(ctx, 3, NULL), nb_batchnorm1d_new(ctx, 4, NULL)};
    nb_module *seq2 = nb_sequential_new(ctx, ch2, 2);
    CHECK("save and load a BatchNorm Sequential", st == NB_OK && nb_load_safetensors(seq2, path, 1) == NB_OK, "%s",
          nb_last_error());
    remove(path);
    int n1, n2, same = 1;
    const nb_named_tensor *s1 = nb_module_state(seq, &n1), *s2 = nb_module_state(seq2, &n2);
    for (int i = 0; i < n1 && n1 == n2; i++) {
        size_t bytes = (size_t)nb_tensor_numel(s1[i].tensor) * 4 * (nb_tensor_dtype(s1[i].tensor) == NB_I64 ? 2 : 1);
        const void *a = nb_tensor_dtype(s1[i].tensor) == NB_I64 ? (void *)nb_tensor_data_i64(s1[i].tensor)
                                                                : (void *)nb_tensor_data(s1[i].tensor);
        const void *b = nb_tensor_dtype(s2[i].tensor) == NB_I64 ? (void *)nb_tensor_data_i64(s2[i].tensor)
                                                                : (void *)nb_tensor_data(s2[i].tensor);
        same &= !strcmp(s1[i].name, s2[i].name) && a && b && !memcmp(a, b, bytes);
    }
    CHECK("round trip keeps every parameter and buffer (num_batches_tracked 4)", same && n1 == n2 && n1 == 10 &&
          nb_tensor_data_i64(state_get(seq2, "1.num_batches_tracked"))[0] == 4, "differs");
    nb_tensor_free(x);
    nb_tensor_free(x2);
    nb_tensor_free(want);
    nb_safetensors_close(f);
    nb_module_free(seq);
    nb_module_free(seq2);
}

/* ---- relu(batch_norm(x) + res) as one op: the same bits as the three ops ---- */

/* Copies of y and the gradients of x, w, b, res after backward of Σ y·dy. */
typedef struct {
    float *v[5];
    int64_t n[5];
} grads;

static void grads_take(grads *g, nb_tensor *y, nb_tensor *const in[4])
{
    nb_tensor *src[5] = {y, in[0], in[1], in[2], in[3]};
    for (int k = 0; k < 5; k++) {
        g->v[k] = NULL;
        g->n[k] = 0;
        float *d = !src[k] ? NULL : k ? nb_tensor_grad(src[k]) : nb_tensor_data(src[k]);
        if (!d) continue;
        g->n[k] = nb_tensor_numel(src[k]);
        g->v[k] = malloc((size_t)g->n[k] * sizeof(float));
        memcpy(g->v[k], d, (size_t)g->n[k] * sizeof(float));
    }
}

static int grads_same(const grads *a, const grads *b)
{
    for (int k = 0; k < 5; k++)
        if (a->n[k] != b->n[k] || (!a->v[k]) != (!b->v[k]) ||
            (a->v[k] && memcmp(a->v[k], b->v[k], (size_t)a->n[k] * sizeof(float))))
            return 0;
    return 1;
}

static void grads_free(grads *g)
{
    for (int k = 0; k < 5; k++) free(g->v[k]);
}

/* in: x, w, b, res; res_grad: whether res requires a gradient */
static void add_relu_case(const char *name, int ndim, const int64_t *shape, int training, int res_grad, int affine)
{
    nb_rng r;
    nb_rng_seed(&r, 41);
    int64_t C = shape[1];
    nb_tensor *x = rand_tensor(ndim, shape, 1.5f, 0.5f, &r), *res = rand_tensor(ndim, shape, 1.0f, -0.2f, &r);
    nb_tensor *w = affine ? rand_tensor(1, &C, 0.5f, 1.0f, &r) : NULL, *b = affine ? rand_tensor(1, &C, 1.0f, 0.0f, &r) : NULL;
    nb_tensor *rm = rand_tensor(1, &C, 0.3f, 0.1f, &r), *rv = rand_tensor(1, &C, 0.1f, 1.0f, &r);
    float *d = nb_tensor_data(x);
    d[0] = NAN; /* NaN goes through both the same way */
    nb_tensor *dy = rand_tensor(ndim, shape, 1.0f, 0.0f, &r);
    nb_tensor *in[4] = {x, w, b, res};
    grads got[2];
    for (int fused = 0; fused < 2; fused++) {
        nb_ctx_reset(ctx);
        for (int k = 0; k < 4; k++)
            if (in[k]) {
                nb_tensor_set_requires_grad(in[k], k < 3 || res_grad);
                nb_tensor_zero_grad(in[k]);
            }
        nb_tensor *y = fused ? nb__batch_norm_add_relu("BatchNorm", x, rm, rv, w, b, training, 0.1f, 1e-5f, res)
                             : nb_relu(nb_add(nb_batch_norm(x, rm, rv, w, b, training, 0.1f, 1e-5f), res));
        if (!y || nb_backward(nb_sum(nb_mul(y, dy)))) {
            CHECK(name, 0, "%s", nb_last_error());
            for (int f = 0; f < fused; f++) grads_free(&got[f]);
            goto out;
        }
        grads_take(&got[fused], y, in);
    }
    CHECK(name, grads_same(&got[0], &got[1]) && got[0].v[1] && (!res_grad || got[0].v[4]),
          "y or a gradient differs from batch_norm, add and relu");
    grads_free(&got[0]);
    grads_free(&got[1]);
out:;
    nb_tensor *all[] = {x, res, w, b, rm, rv, dy};
    for (int i = 0; i < 7; i++) nb_tensor_free(all[i]);
}

/* ---- BatchNorm's backward writing x's gradient over the output's (autograd's hand-over) ---- */

/* x's gradient when BatchNorm reads x itself (a heap tensor: no hand-over) and when it reads
 * an arena view of x (the view takes the output's gradient block, the kernel writes over
 * dy): the same bits, for BatchNorm, BatchNorm + ReLU and relu(batch_norm(x) + res), the
 * (N, C, S) and (N, C) kernels, batch and running statistics. */
static void handover_case(const char *name, int ndim, const int64_t *shape, int relu, int with_res, int training)
{
    nb_rng r;
    nb_rng_seed(&r, 47);
    int64_t C = shape[1];
    nb_tensor *x = rand_tensor(ndim, shape, 1.5f, 0.5f, &r), *res = rand_tensor(ndim, shape, 1.0f, -0.2f, &r);
    nb_tensor *w = rand_tensor(1, &C, 0.5f, 1.0f, &r), *b = rand_tensor(1, &C, 1.0f, 0.0f, &r);
    nb_tensor *rm = rand_tensor(1, &C, 0.3f, 0.1f, &r), *rv = rand_tensor(1, &C, 0.1f, 1.0f, &r);
    nb_tensor *dy = rand_tensor(ndim, shape, 1.0f, 0.0f, &r);
    nb_tensor *in[4] = {x, w, b, with_res ? res : NULL};
    grads got[2];
    int ok = 1;
    for (int view = 0; view < 2; view++) {
        nb_ctx_reset(ctx);
        for (int k = 0; k < 4; k++)
            if (in[k]) {
                nb_tensor_set_requires_grad(in[k], 1);
                nb_tensor_zero_grad(in[k]);
            }
        nb_tensor *xv = view ? nb_reshape(x, ndim, shape) : x;
        nb_tensor *y = with_res ? nb__batch_norm_add_relu("BatchNorm", xv, rm, rv, w, b, training, 0.1f, 1e-5f, res)
                                : nb__batch_norm_layer("BatchNorm", xv, rm, rv, w, b, training, 0.1f, 1e-5f, relu);
        ok = y && !nb_backward(nb_sum(nb_mul(y, dy)));
        if (!ok) {
            for (int f = 0; f < view; f++) grads_free(&got[f]);
            break;
        }
        grads_take(&got[view], y, in);
        ok = !view || nb_tensor_grad(xv) == NULL; /* the view's gradient is not kept */
    }
    CHECK(name, ok && grads_same(&got[0], &got[1]) && got[0].v[1], "x's gradient differs through the hand-over (%s)",
          ok ? "bits" : nb_last_error());
    if (ok) {
        grads_free(&got[0]);
        grads_free(&got[1]);
    }
    nb_tensor *all[] = {x, res, w, b, rm, rv, dy};
    for (int i = 0; i < 7; i++) nb_tensor_free(all[i]);
}

static void test_handover(void)
{
    int64_t s4[4] = {5, 6, 7, 9}, s2[2] = {300, 70};
    for (int training = 0; training < 2; training++) {
        char lab[160];
        snprintf(lab, sizeof lab, "hand-over, %s: BatchNorm2d (5, 6, 7, 9)", training ? "training" : "eval");
        handover_case(lab, 4, s4, 0, 0, training);
        snprintf(lab, sizeof lab, "hand-over, %s: BatchNorm2d + ReLU", training ? "training" : "eval");
        handover_case(lab, 4, s4, 1, 0, training);
        snprintf(lab, sizeof lab, "hand-over, %s: relu(BatchNorm2d + res)", training ? "training" : "eval");
        handover_case(lab, 4, s4, 1, 1, training);
        snprintf(lab, sizeof lab, "hand-over, %s: BatchNorm1d + ReLU (300, 70)", training ? "training" : "eval");
        handover_case(lab, 2, s2, 1, 0, training);
    }
    /* the memory: y = BatchNorm(v) of an arena tensor v, loss = Σ y; the backward makes y's
     * gradient and hands it to v, so it grows by one gradient block, not two */
    nb_rng r;
    nb_rng_seed(&r, 53);
    int64_t s[4] = {16, 8, 16, 16};
    nb_tensor *x = rand_tensor(4, s, 1.0f, 0.0f, &r);
    nb_tensor_set_requires_grad(x, 1);
    nb_ctx_reset(ctx);
    nb_tensor *v = nb_mul_scalar(x, 2.0f);
    nb_tensor *loss = nb_sum(nb_batch_norm(v, NULL, NULL, NULL, NULL, 1, 0.1f, 1e-5f));
    size_t before = ctx->arena.in_use, block = (size_t)nb_tensor_numel(x) * sizeof(float);
    int ok = loss && !nb_backward(loss);
    size_t grew = ctx->arena.in_use - before;
    CHECK("hand-over: BatchNorm's backward takes one gradient block for its input and output", ok && grew < block + block / 2,
          "the backward took %zu bytes, gradient blocks of %zu", grew, block);
    nb_tensor_free(x);
}

/* A BasicBlock (conv, bn, relu, conv, bn, downsample) in training against its children run
 * one by one with nb_add and nb_relu: output and every parameter's and x's gradient. */
static void basic_block_case(const char *name, int stride)
{
    nb_module *blk = nb__basic_block_new(ctx);
    nb_conv2d_opts o1 = {.stride = {stride, stride}, .padding = {1, 1}, .no_bias = 1}, o2 = {.padding = {1, 1}, .no_bias = 1};
    nb__residual_add(blk, "conv1", nb_conv2d_new(ctx, 8, 16, 3, 3, &o1), 0);
    nb__residual_add(blk, "bn1", nb_batchnorm2d_new(ctx, 16, NULL), 0);
    nb__residual_add(blk, "relu", nb_relu_new(ctx), 0);
    nb__residual_add(blk, "conv2", nb_conv2d_new(ctx, 16, 16, 3, 3, &o2), 0);
    nb__residual_add(blk, "bn2", nb_batchnorm2d_new(ctx, 16, NULL), 0);
    nb_module *ds = nb_sequential_new(ctx, (nb_module *[]){nb_conv2d_new(ctx, 8, 16, 1, 1, &(nb_conv2d_opts){.stride = {stride, stride}, .no_bias = 1}),
                                                           nb_batchnorm2d_new(ctx, 16, NULL)}, 2);
    nb__residual_add(blk, "downsample", ds, 1);
    nb_rng r;
    nb_rng_seed(&r, 43);
    int64_t xs[4] = {4, 8, 9, 9};
    int64_t oh = (9 + 2 - 3) / stride + 1, ys[4] = {4, 16, oh, oh};
    nb_tensor *x = rand_tensor(4, xs, 1.0f, 0.0f, &r), *dy = rand_tensor(4, ys, 1.0f, 0.0f, &r);
    int np;
    nb_tensor **ps = nb_module_parameters(blk, &np);
    nb_module_train(blk, 1);
    float *got[2] = {NULL, NULL};
    size_t len = 0;
    for (int fused = 0; fused < 2; fused++) {
        nb_ctx_reset(ctx);
        nb_tensor_set_requires_grad(x, 1);
        nb_tensor_zero_grad(x);
        for (int i = 0; i < np; i++) nb_tensor_zero_grad(ps[i]);
        nb_tensor *y;
        if (fused) {
            y = nb_module_forward(blk, x);
        } else {
            nb_tensor *h = x;
            for (int i = 0; i < 5; i++) h = nb_module_forward(blk->children[i], h);
            y = nb_relu(nb_add(h, nb_module_forward(ds, x)));
        }
        if (!y || nb_backward(nb_sum(nb_mul(y, dy)))) break;
        len = (size_t)nb_tensor_numel(y) + (size_t)nb_tensor_numel(x);
        for (int i = 0; i < np; i++) len += (size_t)nb_tensor_numel(ps[i]);
        float *p = got[fused] = malloc(len * sizeof(float));
        memcpy(p, nb_tensor_data(y), (size_t)nb_tensor_numel(y) * sizeof(float)), p += nb_tensor_numel(y);
        memcpy(p, nb_tensor_grad(x), (size_t)nb_tensor_numel(x) * sizeof(float)), p += nb_tensor_numel(x);
        for (int i = 0; i < np; i++) {
            memcpy(p, nb_tensor_grad(ps[i]), (size_t)nb_tensor_numel(ps[i]) * sizeof(float));
            p += nb_tensor_numel(ps[i]);
        }
    }
    CHECK(name, got[0] && got[1] && !memcmp(got[0], got[1], len * sizeof(float)),
          "the output or a gradient differs from the children run one by one (%s)", nb_last_error());
    free(got[0]);
    free(got[1]);
    nb_tensor_free(x);
    nb_tensor_free(dy);
    nb_module_free(blk);
}

static void test_add_relu(void)
{
    int64_t s4[4] = {5, 6, 7, 9}, s2[2] = {40, 12};
    add_relu_case("bn+add+relu (5, 6, 7, 9) training: the bits of batch_norm, add, relu", 4, s4, 1, 1, 1);
    add_relu_case("bn+add+relu (5, 6, 7, 9) training, no affine", 4, s4, 1, 1, 0);
    add_relu_case("bn+add+relu (5, 6, 7, 9) training, residual without gradient", 4, s4, 1, 0, 1);
    add_relu_case("bn+add+relu (5, 6, 7, 9) eval", 4, s4, 0, 1, 1);
    add_relu_case("bn+add+relu (N, C) (40, 12) training", 2, s2, 1, 1, 1);
    add_relu_case("bn+add+relu (N, C) (40, 12) eval", 2, s2, 0, 1, 1);
    basic_block_case("BasicBlock training (stride 1): the bits of its children one by one", 1);
    basic_block_case("BasicBlock training (stride 2): the bits of its children one by one", 2);
    int64_t s3[4] = {2, 3, 4, 4}, s5[4] = {2, 3, 4, 5};
    nb_rng r;
    nb_rng_seed(&r, 47);
    nb_tensor *x = rand_tensor(4, s3, 1, 0, &r), *bad = rand_tensor(4, s5, 1, 0, &r);
    nb_ctx_reset(ctx);
    nb_tensor *y = nb__batch_norm_add_relu("BatchNorm2d(3)", x, NULL, NULL, NULL, NULL, 1, 0.1f, 1e-5f, bad);
    CHECK("bn+add+relu: a residual of another shape is refused naming both",
          !y && strstr(nb_last_error(), "[2, 3, 4, 5]") && strstr(nb_last_error(), "BatchNorm2d(3)"), "%s", nb_last_error());
    nb_tensor_free(x);
    nb_tensor_free(bad);
}

/* ---- LayerNorm, GroupNorm, InstanceNorm: threaded paths give the same bits as one thread ---- */

static void same_bits(const char *name, fwd_fn fn, nb_tensor *x, nb_tensor *w, nb_tensor *b, void *arg)
{
    nb_rng r;
    nb_rng_seed(&r, 23);
    float *got[2][4] = {{0}};
    int64_t ns[4] = {0};
    nb_tensor *dy = NULL;
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t + 1);
        nb_ctx_reset(ctx);
        nb_tensor *ts[3] = {x, w, b};
        for (int k = 0; k < 3; k++)
            if (ts[k]) {
                nb_tensor_set_requires_grad(ts[k], 1);
                nb_tensor_zero_grad(ts[k]);
            }
        nb_tensor *y = fn(x, w, b, arg);
        if (!y) break;
        if (!dy) dy = rand_tensor(nb_tensor_ndim(y), nb_tensor_shape(y), 1, 0, &r);
        if (nb_backward(nb_sum(nb_mul(y, dy)))) break;
        nb_tensor *src[4] = {y, x, w, b};
        for (int k = 0; k < 4; k++) {
            if (!src[k]) continue;
            ns[k] = nb_tensor_numel(src[k]);
            got[t][k] = malloc((size_t)ns[k] * sizeof(float));
            memcpy(got[t][k], k ? nb_tensor_grad(src[k]) : nb_tensor_data(src[k]), (size_t)ns[k] * sizeof(float));
        }
    }
    omp_set_num_threads(nb_ctx_threads(ctx));
    int same = got[0][0] && got[1][0];
    for (int k = 0; k < 4 && same; k++)
        if (ns[k]) same = got[0][k] && got[1][k] && !memcmp(got[0][k], got[1][k], (size_t)ns[k] * sizeof(float));
    CHECK(name, same, "y or a gradient differs between 1 and 2 threads (%s)", nb_last_error());
    for (int t = 0; t < 2; t++)
        for (int k = 0; k < 4; k++) free(got[t][k]);
    nb_tensor_free(dy);
}

static void test_thread_determinism(void)
{
    nb_rng r;
    nb_rng_seed(&r, 29);
    int64_t s4[4] = {6, 12, 23, 29}, c = 12, s2[2] = {300, 700}, d = 700;
    nb_tensor *x = rand_tensor(4, s4, 2, 1, &r), *w = rand_tensor(1, &c, 0.3f, 1, &r), *b = rand_tensor(1, &c, 1, 0, &r);
    fd_arg a = {.training = 1, .groups = 4};
    same_bits("GroupNorm (6, 12, 23, 29) G=4: 1 and 2 threads give identical bits", f_gn, x, w, b, &a);
    same_bits("InstanceNorm (6, 12, 23, 29): 1 and 2 threads give identical bits", f_in, x, w, b, &a);
    nb_tensor *x2 = rand_tensor(2, s2, 2, 1, &r), *w2 = rand_tensor(1, &d, 0.3f, 1, &r), *b2 = rand_tensor(1, &d, 1, 0, &r);
    a.nd = 1;
    a.ns = &d;
    same_bits("LayerNorm (300, 700): 1 and 2 threads give identical bits", f_ln, x2, w2, b2, &a);
    nb_tensor *all[] = {x, w, b, x2, w2, b2};
    for (int i = 0; i < 6; i++) nb_tensor_free(all[i]);
}

/* After the first step, training steps through every norm layer take all their
 * memory from the arena it already has. */
static void test_steady_state_memory(void)
{
    nb_rng r;
    nb_rng_seed(&r, 31);
    nb_module *ms[4] = {nb_batchnorm2d_new(ctx, 6, NULL), nb_groupnorm_new(ctx, 3, 6, NULL),
                        nb_instancenorm2d_new(ctx, 6, &(nb_instancenorm_opts){.affine = 1, .track_running_stats = 1}),
                        nb_layernorm_new(ctx, 2, (int64_t[]){7, 9}, NULL)};
    nb_tensor *x = rand_tensor(4, (int64_t[]){5, 6, 7, 9}, 1, 0, &r);
    nb_tensor_set_requires_grad(x, 1);
    size_t after_first = 0;
    int ok = 1;
    for (int step = 0; step < 5 && ok; step++) {
        nb_ctx_reset(ctx);
        nb_tensor *y = x;
        for (int i = 0; i < 4; i++) y = nb_module_forward(ms[i], y);
        ok = y && nb_backward(nb_sum(y)) == NB_OK;
        if (step == 0) after_first = nb_ctx_arena_mallocs(ctx);
    }
    CHECK("norm layers: steady-state steps make no arena allocation", ok && nb_ctx_arena_mallocs(ctx) == after_first,
          "%s; %zu mallocs after step 1, %zu after 5", nb_last_error(), after_first, nb_ctx_arena_mallocs(ctx));
    for (int i = 0; i < 4; i++) nb_module_free(ms[i]);
    nb_tensor_free(x);
}

/* ---- errors ---- */

static void expect_error(const char *name, nb_tensor *y, const char *const *parts)
{
    const char *msg = nb_last_error();
    int ok = y == NULL;
    for (int i = 0; ok && parts[i]; i++) ok = strstr(msg, parts[i]) != NULL;
    CHECK(name, ok, "%s; message \"%s\"", y ? "no error" : "message lacks a part", msg);
    nb_clear_error();
}

static void test_errors(void)
{
    nb_rng r;
    nb_rng_seed(&r, 5);
    nb_ctx_reset(ctx);
    nb_module *bn = nb_batchnorm2d_new(ctx, 3, NULL);
    nb_tensor *x4 = rand_tensor(4, (int64_t[]){7, 4, 5, 5}, 1, 0, &r), *x3 = rand_tensor(3, (int64_t[]){7, 3, 5}, 1, 0, &r);
    nb_tensor *x1 = rand_tensor(2, (int64_t[]){1, 3}, 1, 0, &r), *x2 = rand_tensor(3, (int64_t[]){2, 3, 1}, 1, 0, &r);
    expect_error("BatchNorm2d: wrong channel count",
                 nb_module_forward(bn, x4), (const char *[]){"BatchNorm2d(3)", "[7, 4, 5, 5]", "channels", NULL});
    expect_error("BatchNorm2d: 3D input", nb_module_forward(bn, x3),
                 (const char *[]){"BatchNorm2d(3)", "4D", "[7, 3, 5]", NULL});
    CHECK("failed forwards leave num_batches_tracked", nb_tensor_data_i64(state_get(bn, "num_batches_tracked"))[0] == 0,
          "bumped");
    nb_module *bn1 = nb_batchnorm1d_new(ctx, 3, NULL);
    expect_error("BatchNorm1d: 4D input", nb_module_forward(bn1, x4), (const char *[]){"BatchNorm1d(3)", "2D", NULL});
    expect_error("BatchNorm1d: one value per channel in training", nb_module_forward(bn1, x1),
                 (const char *[]){"BatchNorm1d", "more than 1 value per channel", "[1, 3]", NULL});
    nb_module_train(bn1, 0);
    CHECK("BatchNorm1d: batch of one in eval works", nb_module_forward(bn1, x1) != NULL, "%s", nb_last_error());
    expect_error("BatchNorm1d: NULL input propagates", nb_module_forward(bn1, NULL), (const char *[]){NULL});
    expect_error("batch_norm: weight of the wrong size",
                 nb_batch_norm(x4, NULL, NULL, state_get(bn, "weight"), NULL, 1, 0.1f, 1e-5f),
                 (const char *[]){"batch_norm", "weight", "[3]", NULL});
    expect_error("batch_norm: eval without running stats", nb_batch_norm(x3, NULL, NULL, NULL, NULL, 0, 0.1f, 1e-5f),
                 (const char *[]){"running_mean", NULL});
    expect_error("BatchNorm2d(0)", (nb_tensor *)nb_batchnorm2d_new(ctx, 0, NULL),
                 (const char *[]){"BatchNorm2d(0)", "positive", NULL});

    expect_error("GroupNorm(3, 8): channels not divisible", (nb_tensor *)nb_groupnorm_new(ctx, 3, 8, NULL),
                 (const char *[]){"GroupNorm(3, 8)", "num_channels 8", "num_groups 3", NULL});
    nb_tensor *x8 = rand_tensor(3, (int64_t[]){2, 8, 3}, 1, 0, &r);
    expect_error("group_norm: 8 channels in 3 groups", nb_group_norm(x8, 3, NULL, NULL, 1e-5f),
                 (const char *[]){"group_norm", "[2, 8, 3]", "8 channels", "3 groups", NULL});
    nb_module *gn = nb_groupnorm_new(ctx, 2, 4, NULL);
    expect_error("GroupNorm(2, 4): input with 8 channels", nb_module_forward(gn, x8),
                 (const char *[]){"GroupNorm(2, 4)", "[2, 8, 3]", "8 channels", NULL});
    nb_module *ln = nb_layernorm_new(ctx, 2, (int64_t[]){3, 5}, NULL);
    expect_error("LayerNorm: trailing dims differ", nb_module_forward(ln, x8),
                 (const char *[]){"LayerNorm([3, 5])", "[2, 8, 3]", "[*, 3, 5]", NULL});
    expect_error("LayerNorm: empty normalized_shape", (nb_tensor *)nb_layernorm_new(ctx, 0, NULL, NULL),
                 (const char *[]){"LayerNorm", "normalized_shape", NULL});
    nb_module *in = nb_instancenorm2d_new(ctx, 3, &(nb_instancenorm_opts){.affine = 1});
    expect_error("InstanceNorm2d(3, affine): 4 channels", nb_module_forward(in, x4),
                 (const char *[]){"InstanceNorm2d(3)", "[7, 4, 5, 5]", "4 channels", NULL});
    expect_error("InstanceNorm2d: 2D input", nb_module_forward(in, x1),
                 (const char *[]){"InstanceNorm2d(3)", "3D or 4D", "[1, 3]", NULL});
    nb_module *in1 = nb_instancenorm1d_new(ctx, 3, NULL);
    expect_error("InstanceNorm1d: one spatial element in training", nb_module_forward(in1, x2),
                 (const char *[]){"InstanceNorm1d(3)", "more than 1 spatial element", "[2, 3, 1]", NULL});
    nb_tensor *x5 = rand_tensor(3, (int64_t[]){2, 5, 4}, 1, 0, &r);
    CHECK("InstanceNorm1d(3) without affine or running stats accepts 5 channels (PyTorch warns)",
          nb_module_forward(in1, x5) != NULL, "%s", nb_last_error());
    nb_module *mods[] = {bn, bn1, gn, ln, in, in1};
    for (int i = 0; i < 6; i++) nb_module_free(mods[i]);
    nb_tensor *ts[] = {x4, x3, x1, x2, x8, x5};
    for (int i = 0; i < 6; i++) nb_tensor_free(ts[i]);
}

int main(void)
{
    ctx = nb_ctx_new(&(nb_ctx_opts){.seed = 1, .threads = 2});
    run_golden_file("tests/goldens/norm_batchnorm.safetensors");
    run_golden_file("tests/goldens/norm_layernorm.safetensors");
    run_golden_file("tests/goldens/norm_instancenorm.safetensors");
    run_golden_file("tests/goldens/norm_groupnorm.safetensors");
    test_finite_differences();
    test_batchnorm_reference("BatchNorm2d (9, 24, 17, 15)", 4, (int64_t[]){9, 24, 17, 15});
    test_batchnorm_reference("BatchNorm1d (N, C) (700, 75)", 2, (int64_t[]){700, 75});
    test_batchnorm_reference("BatchNorm1d (N, C, L) (50, 40, 21)", 3, (int64_t[]){50, 40, 21});
    test_thread_determinism();
    test_add_relu();
    test_handover();
    test_modules();
    test_state();
    test_steady_state_memory();
    test_errors();
    nb_ctx_free(ctx);
    CHECK_DONE();
}
