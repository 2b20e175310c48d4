/* test_losses.c - loss semantics beyond the PyTorch goldens of test_ops.c:
 * values worked out by hand, edge cases (all targets ignored, clamped logs,
 * saturated logits), the parallel cross-entropy path against a double
 * reference, no-grad mode, gradient accumulation, and every bad input (shapes,
 * out-of-range targets, dtypes, options) giving NULL with a message that names
 * the problem. */
#include "check.h"
#include "nabla.h"

#include <stdint.h>

static nb_ctx *ctx;

static nb_tensor *f32(int nd, const int64_t *shape, const float *v)
{
    return v ? nb_tensor_from(ctx, NB_F32, nd, shape, v) : nb_tensor_new(ctx, NB_F32, nd, shape);
}

static nb_tensor *i64(int nd, const int64_t *shape, const int64_t *v)
{
    return v ? nb_tensor_from(ctx, NB_I64, nd, shape, v) : nb_tensor_new(ctx, NB_I64, nd, shape);
}

#define T(...) (int64_t[]){__VA_ARGS__}
#define V(...) (float[]){__VA_ARGS__}
#define L(...) (int64_t[]){__VA_ARGS__}

/* expect NULL and a message containing each of the (up to 3) fragments */
static void expect_fail(const char *name, nb_tensor *got, const char *frag1, const char *frag2, const char *frag3)
{
    const char *m = nb_last_error();
    int ok = !got && *m && (!frag1 || strstr(m, frag1)) && (!frag2 || strstr(m, frag2)) && (!frag3 || strstr(m, frag3));
    CHECK(name, ok, "%s; message: \"%s\" (wanted \"%s\" \"%s\" \"%s\")", got ? "returned a tensor" : "NULL", m,
          frag1 ? frag1 : "", frag2 ? frag2 : "", frag3 ? frag3 : "");
    nb_clear_error();
}

static int near(double a, double b, double tol) { return fabs(a - b) <= tol * fmax(1.0, fabs(b)); }

static void hand_values(void)
{
    nb_ctx_reset(ctx);
    /* MSE / SSE */
    nb_tensor *x = f32(1, T(3), V(1, 2, 4)), *t = f32(1, T(3), V(0, 2, 1));
    CHECK("MSELoss mean by hand", near(nb_tensor_item(nb_mse_loss(x, t, NB_MEAN)), 10.0 / 3, 1e-6), "%g",
          nb_tensor_item(nb_mse_loss(x, t, NB_MEAN)));
    CHECK("MSELoss sum by hand", near(nb_tensor_item(nb_mse_loss(x, t, NB_SUM)), 10.0, 1e-6), "wrong");
    CHECK("SSE = 1/2 sum of squares", near(nb_tensor_item(nb_sse_loss(x, t)), 5.0, 1e-6), "%g",
          nb_tensor_item(nb_sse_loss(x, t)));
    nb_tensor *none = nb_mse_loss(x, t, NB_NONE);
    CHECK("MSELoss none keeps the shape", none && nb_tensor_ndim(none) == 1 && nb_tensor_dim(none, 0) == 3 &&
                                              nb_tensor_data(none)[2] == 9.0f, "wrong");
    nb_tensor *mean = nb_mse_loss(x, t, NB_MEAN);
    CHECK("MSELoss mean is a 0-d tensor", mean && nb_tensor_ndim(mean) == 0 && nb_tensor_numel(mean) == 1, "wrong");
    /* SSE gradient is (x - t), MSE mean's 2(x - t)/n */
    nb_tensor_set_requires_grad(x, 1);
    nb_status st = nb_backward(nb_sse_loss(x, t));
    CHECK("SSE gradient is x - t", !st && nb_tensor_grad(x)[0] == 1.0f && nb_tensor_grad(x)[2] == 3.0f, "%s",
          nb_last_error());
    nb_tensor_free(x);
    nb_tensor_free(t);

    /* cross-entropy: logits [0, ln 3] target 1 -> -log(3/4); gradient (p - y)/N */
    nb_ctx_reset(ctx);
    float l3 = logf(3.0f);
    nb_tensor *z = f32(2, T(2, 2), V(0, l3, l3, 0)), *y = i64(1, T(2), L(1, 1));
    nb_tensor_set_requires_grad(z, 1);
    nb_tensor *ce = nb_cross_entropy(z, y, NULL);
    double want = (-log(0.75) - log(0.25)) / 2;
    CHECK("CrossEntropyLoss mean by hand", ce && near(nb_tensor_item(ce), want, 1e-6), "%g want %g",
          ce ? nb_tensor_item(ce) : NAN, want);
    st = nb_backward(ce);
    const float *g = nb_tensor_grad(z);
    CHECK("CrossEntropyLoss backward is (p - y)/N", !st && g && near(g[0], 0.25 / 2, 1e-6) &&
                                                        near(g[1], (0.75 - 1) / 2, 1e-6) && near(g[2], 0.75 / 2, 1e-6) &&
                                                        near(g[3], (0.25 - 1) / 2, 1e-6),
          "%g %g %g %g", g ? g[0] : 0, g ? g[1] : 0, g ? g[2] : 0, g ? g[3] : 0);
    nb_tensor_free(y);
    /* class weights: mean divides by the sum of the targets' weights */
    nb_tensor *w = f32(1, T(2), V(1, 3));
    y = i64(1, T(2), L(1, 0));
    nb_tensor *cw = nb_cross_entropy(z, y, &(nb_cross_entropy_opts){.weight = w});
    want = (3 * -log(0.75) + 1 * -log(0.75)) / 4;
    CHECK("CrossEntropyLoss weighted mean divides by sum of w[y]", cw && near(nb_tensor_item(cw), want, 1e-6),
          "%g want %g", cw ? nb_tensor_item(cw) : NAN, want);
    nb_tensor_free(y);
    /* ignore_index: the default -100, and a given 0 */
    y = i64(1, T(2), L(-100, 1));
    nb_tensor *ci = nb_cross_entropy(z, y, NULL);
    CHECK("CrossEntropyLoss skips target -100 by default", ci && near(nb_tensor_item(ci), -log(0.25), 1e-6), "%g",
          ci ? nb_tensor_item(ci) : NAN);
    nb_tensor_free(y);
    y = i64(1, T(2), L(0, 1));
    ci = nb_cross_entropy(z, y, &(nb_cross_entropy_opts){.ignore_index = 0, .has_ignore_index = 1});
    CHECK("CrossEntropyLoss ignore_index 0 with has_ignore_index", ci && near(nb_tensor_item(ci), -log(0.25), 1e-6),
          "%g", ci ? nb_tensor_item(ci) : NAN);
    ci = nb_cross_entropy(z, y, &(nb_cross_entropy_opts){.ignore_index = 0});
    CHECK("CrossEntropyLoss ignore_index 0 without the flag means -100", ci && near(nb_tensor_item(ci), want = (-log(0.25) - log(0.25)) / 2, 1e-6),
          "%g want %g", ci ? nb_tensor_item(ci) : NAN, want);
    nb_tensor_free(y);
    /* every target ignored: mean is 0/0 = NaN (as PyTorch), sum is 0 and the gradient 0 */
    y = i64(1, T(2), L(-100, -100));
    ci = nb_cross_entropy(z, y, NULL);
    CHECK("CrossEntropyLoss mean with every target ignored is NaN", ci && isnan(nb_tensor_item(ci)), "%g",
          ci ? nb_tensor_item(ci) : 0);
    nb_tensor_zero_grad(z);
    ci = nb_cross_entropy(z, y, &(nb_cross_entropy_opts){.reduction = NB_SUM});
    st = ci ? nb_backward(ci) : NB_ERR_ARG;
    g = nb_tensor_grad(z);
    CHECK("CrossEntropyLoss sum with every target ignored is 0 with a zero gradient",
          !st && nb_tensor_item(ci) == 0.0f && g[0] == 0 && g[1] == 0 && g[2] == 0 && g[3] == 0, "%s", nb_last_error());
    nb_tensor_free(y);
    /* label smoothing 1 with uniform logits: loss log C */
    nb_ctx_reset(ctx);
    nb_tensor *u = f32(2, T(1, 4), V(2, 2, 2, 2));
    y = i64(1, T(1), L(3));
    ci = nb_cross_entropy(u, y, &(nb_cross_entropy_opts){.label_smoothing = 1.0f});
    CHECK("CrossEntropyLoss uniform logits give log C", ci && near(nb_tensor_item(ci), log(4.0), 1e-6), "%g",
          ci ? nb_tensor_item(ci) : NAN);
    /* probability target equal to one-hot gives the index loss */
    nb_tensor *oh = f32(2, T(2, 2), V(0, 1, 0, 1));
    nb_tensor *cp = nb_cross_entropy(z, oh, NULL);
    CHECK("CrossEntropyLoss one-hot probabilities equal class indices",
          cp && near(nb_tensor_item(cp), (-log(0.75) - log(0.25)) / 2, 1e-6), "%g", cp ? nb_tensor_item(cp) : NAN);
    /* huge logits: no overflow */
    nb_tensor *big = f32(2, T(1, 3), V(1e4f, -1e4f, 0)), *y0 = i64(1, T(1), L(1));
    nb_tensor *cb = nb_cross_entropy(big, y0, NULL);
    CHECK("CrossEntropyLoss with logits of 1e4 is finite", cb && near(nb_tensor_item(cb), 2e4, 1e-6), "%g",
          cb ? nb_tensor_item(cb) : NAN);
    nb_tensor_free(big);
    nb_tensor_free(y0);
    nb_tensor_free(oh);
    nb_tensor_free(u);
    nb_tensor_free(y);
    nb_tensor_free(w);
    nb_tensor_free(z);

    /* BCE: clamp at -100; BCEWithLogits saturated */
    nb_ctx_reset(ctx);
    nb_tensor *p = f32(1, T(4), V(0, 1, 0, 1)), *q = f32(1, T(4), V(1, 0, 0, 1));
    nb_tensor *b = nb_bce(p, q, &(nb_bce_opts){.reduction = NB_NONE});
    CHECK("BCELoss clamps each log at -100", b && nb_tensor_data(b)[0] == 100 && nb_tensor_data(b)[1] == 100 &&
                                                 nb_tensor_data(b)[2] == 0 && nb_tensor_data(b)[3] == 0, "wrong");
    nb_tensor *lg = f32(1, T(4), V(100, -100, 100, -100));
    b = nb_bce_with_logits(lg, q, &(nb_bce_opts){.reduction = NB_NONE});
    CHECK("BCEWithLogitsLoss is stable for logits of ±100",
          b && near(nb_tensor_data(b)[0], 0, 1e-6) && near(nb_tensor_data(b)[1], 0, 1e-6) &&
              near(nb_tensor_data(b)[2], 100, 1e-6) && near(nb_tensor_data(b)[3], 100, 1e-6),
          "%g %g %g %g", b ? nb_tensor_data(b)[0] : 0, b ? nb_tensor_data(b)[1] : 0, b ? nb_tensor_data(b)[2] : 0,
          b ? nb_tensor_data(b)[3] : 0);
    nb_tensor *pw = f32(1, T(1), V(3));
    nb_tensor *l0 = f32(1, T(1), V(0)), *t1 = f32(1, T(1), V(1));
    b = nb_bce_with_logits(l0, t1, &(nb_bce_opts){.pos_weight = pw});
    CHECK("BCEWithLogitsLoss pos_weight scales the positive term", b && near(nb_tensor_item(b), 3 * log(2.0), 1e-6),
          "%g", b ? nb_tensor_item(b) : NAN);
    nb_tensor_free(p);
    nb_tensor_free(q);
    nb_tensor_free(lg);
    nb_tensor_free(pw);
    nb_tensor_free(l0);
    nb_tensor_free(t1);

    /* penalties */
    nb_ctx_reset(ctx);
    nb_tensor *a = f32(1, T(3), V(1, -2, 0)), *c = f32(2, T(1, 1), V(3));
    nb_tensor_set_requires_grad(a, 1);
    nb_tensor *ps[] = {a, c};
    nb_tensor *l1 = nb_l1_penalty(ps, 2, 0.5f);
    CHECK("L1 penalty by hand", l1 && near(nb_tensor_item(l1), 3.0, 1e-6), "%g", l1 ? nb_tensor_item(l1) : NAN);
    st = nb_backward(l1);
    g = nb_tensor_grad(a);
    CHECK("L1 gradient is λ·sign(θ), sign(0) = 0", !st && g[0] == 0.5f && g[1] == -0.5f && g[2] == 0.0f, "%s",
          nb_last_error());
    CHECK("a parameter without requires_grad gets no gradient", nb_tensor_grad(c) == NULL, "wrote one");
    nb_tensor_zero_grad(a);
    nb_tensor *l2 = nb_l2_penalty(ps, 2, 0.25f);
    CHECK("L2 penalty by hand", l2 && near(nb_tensor_item(l2), 0.25 * 14, 1e-6), "%g", l2 ? nb_tensor_item(l2) : NAN);
    st = nb_backward(l2);
    CHECK("L2 penalty λ/2 gives the weight-decay gradient λ·θ", !st && g[0] == 0.5f && g[1] == -1.0f && g[2] == 0,
          "%g %g %g", g[0], g[1], g[2]);
    nb_tensor *en = nb_elastic_net_penalty(ps, 2, 0.5f, 0.25f);
    CHECK("elastic net = L1 + L2", en && near(nb_tensor_item(en), 3.0 + 3.5, 1e-6), "%g",
          en ? nb_tensor_item(en) : NAN);
    nb_tensor_free(a);
    nb_tensor_free(c);
}

static void grad_modes(void)
{
    nb_ctx_reset(ctx);
    nb_tensor *z = f32(2, T(2, 3), V(1, 2, 3, 0, -1, 1)), *y = i64(1, T(2), L(2, 0));
    nb_tensor_set_requires_grad(z, 1);
    int old = nb_set_grad_enabled(ctx, 0);
    nb_tensor *l = nb_cross_entropy(z, y, NULL);
    CHECK("no-grad mode: the loss is computed but not recorded", l && !nb_tensor_requires_grad(l), "recorded");
    nb_set_grad_enabled(ctx, old);
    nb_tensor_zero_grad(z);
    nb_backward(nb_cross_entropy(z, y, NULL));
    float g1 = nb_tensor_grad(z)[0];
    nb_ctx_reset(ctx);
    nb_backward(nb_cross_entropy(z, y, NULL));
    CHECK("gradients accumulate over two backward passes", near(nb_tensor_grad(z)[0], 2 * g1, 1e-6), "%g vs %g",
          nb_tensor_grad(z)[0], g1);
    nb_tensor_free(z);
    nb_tensor_free(y);
}

/* A cross-entropy large enough for the threaded log-sum-exp, against double math. */
static void big_ce(void)
{
    nb_ctx_reset(ctx);
    int64_t N = 300, C = 257;
    nb_tensor *z = nb_tensor_new(ctx, NB_F32, 2, T(N, C)), *y = nb_tensor_new(ctx, NB_I64, 1, T(N));
    nb_rng r;
    nb_rng_seed(&r, 9);
    float *zv = nb_tensor_data(z);
    for (int64_t i = 0; i < N * C; i++) zv[i] = 4 * nb_rng_normal(&r);
    for (int64_t i = 0; i < N; i++) nb_tensor_data_i64(y)[i] = (int64_t)nb_rng_below(&r, (uint64_t)C);
    nb_tensor_set_requires_grad(z, 1);
    nb_tensor *l = nb_cross_entropy(z, y, NULL);
    nb_status st = l ? nb_backward(l) : NB_ERR_ARG;
    double total = 0, worst = 0;
    for (int64_t n = 0; n < N; n++) {
        double m = -INFINITY, s = 0;
        for (int64_t c = 0; c < C; c++) m = fmax(m, zv[n * C + c]);
        for (int64_t c = 0; c < C; c++) s += exp(zv[n * C + c] - m);
        double lse = m + log(s);
        int64_t yn = nb_tensor_data_i64(y)[n];
        total += lse - zv[n * C + yn];
        for (int64_t c = 0; c < C; c++) {
            double gw = (exp(zv[n * C + c] - lse) - (c == yn)) / (double)N;
            worst = fmax(worst, fabs(nb_tensor_grad(z)[n * C + c] - gw) * N);
        }
    }
    CHECK("CrossEntropyLoss [300, 257] equals a double reference", l && near(nb_tensor_item(l), total / N, 1e-6),
          "%.9g want %.9g", l ? nb_tensor_item(l) : NAN, total / N);
    CHECK("CrossEntropyLoss [300, 257] gradient equals a double reference", !st && worst < 1e-6,
          "max |error|·N %.3g", worst);
    nb_tensor_free(z);
    nb_tensor_free(y);
}

static void bad_inputs(void)
{
    nb_ctx_reset(ctx);
    nb_clear_error();
    nb_tensor *x23 = f32(2, T(2, 3), V(.1f, .2f, .3f, .4f, .5f, .6f)), *x32 = f32(2, T(3, 2), V(.1f, .2f, .3f, .4f, .5f, .6f));
    nb_tensor *i23 = i64(2, T(2, 3), L(0, 1, 0, 1, 0, 1));
    /* MSE */
    expect_fail("MSELoss: shapes [2, 3] and [3, 2] are named", nb_mse_loss(x23, x32, NB_MEAN), "MSELoss", "[2, 3]",
                "[3, 2]");
    expect_fail("MSELoss: an I64 target is refused", nb_mse_loss(x23, i23, NB_MEAN), "MSELoss", "target", "F32");
    expect_fail("MSELoss: an unknown reduction is refused", nb_mse_loss(x23, x23, (nb_reduction)7), "reduction", "7",
                NULL);
    expect_fail("SSE loss: shapes are named", nb_sse_loss(x23, x32), "[2, 3]", "[3, 2]", NULL);
    nb_clear_error();
    CHECK("MSELoss: a NULL input gives NULL", nb_mse_loss(NULL, x23, NB_MEAN) == NULL, "returned a tensor");

    /* cross-entropy */
    nb_tensor *z = f32(2, T(2, 3), V(0, 1, 2, 3, 4, 5));
    nb_tensor *y_hi = i64(1, T(2), L(0, 3)), *y_neg = i64(1, T(2), L(-1, 0)), *y_n3 = i64(1, T(3), L(0, 1, 2));
    nb_tensor *y_2d = i64(2, T(2, 1), L(0, 1)), *y_f = f32(1, T(2), V(0, 1)), *w2 = f32(1, T(2), V(1, 1));
    nb_tensor *wi = i64(1, T(3), L(1, 1, 1)), *ok = i64(1, T(2), L(0, 2));
    expect_fail("CrossEntropyLoss: target 3 for 3 classes is out of bounds", nb_cross_entropy(z, y_hi, NULL),
                "target 3", "out of bounds", "3 classes");
    expect_fail("CrossEntropyLoss: target -1 is out of bounds (not the ignore_index)", nb_cross_entropy(z, y_neg, NULL),
                "target -1", "out of bounds", NULL);
    expect_fail("CrossEntropyLoss: 3 targets for 2 samples name both shapes", nb_cross_entropy(z, y_n3, NULL),
                "[2, 3]", "[3]", NULL);
    expect_fail("CrossEntropyLoss: a target with an extra dim is refused", nb_cross_entropy(z, y_2d, NULL), "[2, 3]",
                "[2, 1]", NULL);
    expect_fail("CrossEntropyLoss: F32 targets must be probabilities shaped like the input",
                nb_cross_entropy(z, y_f, NULL), "probability target", "[2, 3]", "class-index targets must be I64");
    nb_tensor *pt = f32(2, T(2, 3), V(.2f, .3f, .5f, 1, 0, 0));
    expect_fail("CrossEntropyLoss: ignore_index with probability targets is refused",
                nb_cross_entropy(z, pt, &(nb_cross_entropy_opts){.ignore_index = 1}), "ignore_index 1",
                "probability", NULL);
    nb_clear_error();
    CHECK("CrossEntropyLoss: a negative ignore_index with probability targets is accepted",
          nb_cross_entropy(z, pt, &(nb_cross_entropy_opts){.ignore_index = -5}) != NULL, "%s", nb_last_error());
    nb_tensor_free(pt);
    expect_fail("CrossEntropyLoss: 2 class weights for 3 classes",
                nb_cross_entropy(z, ok, &(nb_cross_entropy_opts){.weight = w2}), "weight", "[2]", "[3]");
    expect_fail("CrossEntropyLoss: I64 class weights are refused",
                nb_cross_entropy(z, ok, &(nb_cross_entropy_opts){.weight = wi}), "weight", "F32", NULL);
    expect_fail("CrossEntropyLoss: label_smoothing 1.5 is refused",
                nb_cross_entropy(z, ok, &(nb_cross_entropy_opts){.label_smoothing = 1.5f}), "label_smoothing", "1.5",
                NULL);
    expect_fail("CrossEntropyLoss: NaN label_smoothing is refused",
                nb_cross_entropy(z, ok, &(nb_cross_entropy_opts){.label_smoothing = NAN}), "label_smoothing", NULL,
                NULL);
    expect_fail("CrossEntropyLoss: I64 logits are refused", nb_cross_entropy(i23, ok, NULL), "logits", "F32", NULL);
    nb_tensor *z0 = f32(0, T(1), V(1));
    expect_fail("CrossEntropyLoss: a 0-d input has no class dim", nb_cross_entropy(z0, ok, NULL), "class", "[]", NULL);
    expect_fail("CrossEntropyLoss: bad reduction", nb_cross_entropy(z, ok, &(nb_cross_entropy_opts){.reduction = 9}),
                "reduction", NULL, NULL);
    nb_tensor *zs = f32(3, T(1, 3, 2), V(0, 1, 2, 3, 4, 5)), *ys = i64(2, T(1, 3), L(0, 1, 2));
    expect_fail("CrossEntropyLoss: spatial target of the wrong size names both shapes", nb_cross_entropy(zs, ys, NULL),
                "[1, 3, 2]", "[1, 3]", NULL);
    nb_tensor *c = nb_cross_entropy(z, ok, NULL);
    CHECK("CrossEntropyLoss: valid input after the failures works", c != NULL, "%s", nb_last_error());

    /* BCE */
    nb_tensor *p = f32(1, T(3), V(0.2f, 1.5f, 0.5f)), *t3 = f32(1, T(3), V(0, 1, 0)), *t2 = f32(1, T(2), V(0, 1));
    nb_tensor *pr = f32(1, T(3), V(0.2f, 0.5f, 0.5f)), *w4 = f32(1, T(4), V(1, 1, 1, 1)), *pw3 = f32(1, T(3), V(1, 1, 1));
    expect_fail("BCELoss: input 1.5 is not a probability", nb_bce(p, t3, NULL), "between 0 and 1", "1.5",
                "BCEWithLogitsLoss");
    nb_tensor *pn = f32(1, T(1), V(NAN)), *t1 = f32(1, T(1), V(1));
    expect_fail("BCELoss: a NaN input is not a probability", nb_bce(pn, t1, NULL), "between 0 and 1", NULL, NULL);
    expect_fail("BCELoss: target [2] for input [3]", nb_bce(pr, t2, NULL), "[3]", "[2]", NULL);
    expect_fail("BCELoss: weight [4] does not broadcast to [3]", nb_bce(pr, t3, &(nb_bce_opts){.weight = w4}), "weight",
                "[4]", "[3]");
    expect_fail("BCELoss: pos_weight belongs to BCEWithLogitsLoss", nb_bce(pr, t3, &(nb_bce_opts){.pos_weight = pw3}),
                "pos_weight", NULL, NULL);
    expect_fail("BCEWithLogitsLoss: pos_weight [4] for input [2, 3]",
                nb_bce_with_logits(x23, x23, &(nb_bce_opts){.pos_weight = w4}), "pos_weight", "[4]", "[2, 3]");
    expect_fail("BCEWithLogitsLoss: target shape [3, 2] for input [2, 3]", nb_bce_with_logits(x23, x32, NULL),
                "[2, 3]", "[3, 2]", NULL);
    expect_fail("BCEWithLogitsLoss: an I64 target is refused", nb_bce_with_logits(x23, i23, NULL), "target", "F32",
                NULL);
    expect_fail("BCEWithLogitsLoss: an I64 weight is refused",
                nb_bce_with_logits(x23, x23, &(nb_bce_opts){.weight = i23}), "weight", "F32", NULL);

    /* penalties */
    nb_tensor *ps[] = {x23, NULL}, *pi[] = {i23};
    expect_fail("L1 penalty: no parameters", nb_l1_penalty(ps, 0, 0.1f), "at least one", NULL, NULL);
    expect_fail("L2 penalty: a NULL array", nb_l2_penalty(NULL, 3, 0.1f), "at least one", NULL, NULL);
    expect_fail("elastic net penalty: an I64 parameter", nb_elastic_net_penalty(pi, 1, 0.1f, 0.1f), "parameter 0",
                "F32", NULL);
    expect_fail("L1 penalty: an infinite coefficient", nb_l1_penalty(ps, 1, INFINITY), "finite", NULL, NULL);
    nb_clear_error();
    CHECK("L1 penalty: a NULL parameter (a failed op) gives NULL", nb_l1_penalty(ps, 2, 0.1f) == NULL, "returned");

    nb_tensor *all[] = {x23, x32, i23, z, y_hi, y_neg, y_n3, y_2d, y_f, w2, wi, ok, z0, zs, ys, p, t3, t2, pr, w4, pw3, pn, t1};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) nb_tensor_free(all[i]);
}

/* Ops given bad input fail with a message too (the cases fixed in src/ops). */
static void bad_ops(void)
{
    nb_ctx_reset(ctx);
    nb_clear_error();
    nb_tensor *s = f32(0, T(1), V(2)), *w = f32(2, T(3, 4), NULL), *x = f32(2, T(2, 4), NULL);
    nb_tensor *v6 = f32(1, T(6), NULL), *w6 = f32(1, T(6), NULL), *iv = i64(2, T(2, 4), NULL);
    expect_fail("linear: a 0-d input", nb_linear(s, w, NULL), "Linear", "[]", NULL);
    expect_fail("linear: 6 features for in_features 4", nb_linear(w6, w, NULL), "in_features=4", "[6]", NULL);
    expect_fail("linear: an I64 input", nb_linear(iv, w, NULL), "F32", NULL, NULL);
    expect_fail("prelu: 6 parameters for a 1-D input (one channel, as PyTorch)", nb_prelu(v6, w6), "6 parameters",
                "[6]", NULL);
    expect_fail("softmax: an I64 input", nb_softmax(iv, 1), "softmax", "F32", NULL);
    expect_fail("sum: an I64 input", nb_sum(iv), "sum", "F32", NULL);
    expect_fail("mean_dim: an I64 input", nb_mean_dim(iv, 0, 0), "mean", "F32", NULL);
    expect_fail("matmul: [2, 4] by [2, 4]", nb_matmul(x, x), "[2, 4]", "(M,K)x(K,N)", NULL);
    expect_fail("matmul: an I64 operand", nb_matmul(iv, w), "F32", NULL, NULL);
    expect_fail("add: [2, 4] and [6] do not broadcast", nb_add(x, v6), "[2, 4]", "[6]", NULL);
    expect_fail("dropout: an I64 input", nb_dropout(iv, 0.5f, 1), "dropout", "F32", NULL);
    /* empty dims: linear with in_features 0 gives the bias, matmul with K 0 gives zeros */
    nb_tensor *x0 = f32(2, T(2, 0), NULL), *w0 = f32(2, T(3, 0), NULL), *b3 = f32(1, T(3), V(1, 2, 3));
    nb_tensor *y = nb_linear(x0, w0, b3);
    CHECK("linear with in_features 0 gives the bias", y && nb_tensor_dim(y, 0) == 2 && nb_tensor_dim(y, 1) == 3 &&
                                                          nb_tensor_data(y)[3] == 1 && nb_tensor_data(y)[5] == 3,
          "%s", nb_last_error());
    nb_tensor *k0 = f32(2, T(0, 3), NULL), *m = nb_matmul(x0, k0);
    CHECK("matmul with K = 0 gives zeros", m && nb_tensor_numel(m) == 6 && nb_tensor_data(m)[0] == 0 &&
                                               nb_tensor_data(m)[5] == 0, "%s", nb_last_error());
    nb_tensor *all[] = {s, w, x, v6, w6, iv, x0, w0, b3, k0};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) nb_tensor_free(all[i]);
}

int main(void)
{
    ctx = nb_ctx_new(&(nb_ctx_opts){.seed = 2});
    hand_values();
    grad_modes();
    big_ce();
    bad_inputs();
    bad_ops();
    nb_ctx_free(ctx);
    CHECK_DONE();
}
