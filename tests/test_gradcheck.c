/* test_gradcheck.c - every op's and every loss's backward against central finite
 * differences, independent of PyTorch.
 *
 * For inputs x (small, seeded random, kept away from kinks: relu/abs/PReLU
 * inputs |x| >= 0.1, BCE probabilities in [0.1, 0.9], log/sqrt/pow/div away
 * from 0) and a fixed random upstream G, L(x) = Σ out·G is summed in double from
 * the float32 output, and for every element
 *     fd_h = (L(x + h·e_i) - L(x - h·e_i)) / 2h
 * is taken at two step sizes, h = 1e-2 (rounding error small, truncation O(h²))
 * and h = 1e-3 (truncation negligible, rounding larger): the check is
 * double-checked, and the closer of the two must agree with the analytic
 * gradient:
 *     min_h |fd_h - g_i| <= TOL · max(|g_i|, FLOOR · max_j |g_j|)
 * with TOL = 2e-3 and FLOOR = 0.05 (float32 forward rounding makes the
 * differences noisy at about 1e-4 of the largest gradient; a wrong backward
 * is off by O(1)). Every input that takes a gradient is checked on its own line.
 * Dropout draws a new mask per call, so it is tested by its properties in
 * test_ops.c instead. */
#include "check.h"
#include "nabla.h"

#include <stdint.h>

#define TOL 2e-3
#define FLOOR 0.05
#define MAXIN 4

static nb_ctx *ctx;
static nb_rng rng;
static int verbose;
static const int64_t no_dims[1] = {0}; /* shape of a 0-d tensor */

typedef struct {
    const char *op;
    float s, s2;
    int i0, i1, i2; /* dims, keepdim, start/len ... */
    nb_reduction red;
    nb_tensor *weight, *pos_weight;
    float eps;
    int64_t ignore;
    int has_ignore;
} args;

static nb_tensor *apply(const args *a, nb_tensor **x, int n)
{
    const char *op = a->op;
    if (!strcmp(op, "add")) return nb_add(x[0], x[1]);
    if (!strcmp(op, "sub")) return nb_sub(x[0], x[1]);
    if (!strcmp(op, "mul")) return nb_mul(x[0], x[1]);
    if (!strcmp(op, "div")) return nb_div(x[0], x[1]);
    if (!strcmp(op, "adds")) return nb_add_scalar(x[0], a->s);
    if (!strcmp(op, "muls")) return nb_mul_scalar(x[0], a->s);
    if (!strcmp(op, "neg")) return nb_neg(x[0]);
    if (!strcmp(op, "exp")) return nb_exp(x[0]);
    if (!strcmp(op, "log")) return nb_log(x[0]);
    if (!strcmp(op, "sqrt")) return nb_sqrt(x[0]);
    if (!strcmp(op, "square")) return nb_square(x[0]);
    if (!strcmp(op, "abs")) return nb_abs(x[0]);
    if (!strcmp(op, "pow")) return nb_pow_scalar(x[0], a->s);
    if (!strcmp(op, "sum")) return nb_sum(x[0]);
    if (!strcmp(op, "mean")) return nb_mean(x[0]);
    if (!strcmp(op, "sum_dim")) return nb_sum_dim(x[0], a->i0, a->i1);
    if (!strcmp(op, "mean_dim")) return nb_mean_dim(x[0], a->i0, a->i1);
    if (!strcmp(op, "matmul")) return nb_matmul(x[0], x[1]);
    if (!strcmp(op, "linear")) return nb_linear(x[0], x[1], n > 2 ? x[2] : NULL);
    if (!strcmp(op, "reshape")) return nb_reshape(x[0], 2, (int64_t[]){a->i0, -1});
    if (!strcmp(op, "flatten")) return nb_flatten(x[0], a->i0, a->i1);
    if (!strcmp(op, "transpose")) return nb_transpose(x[0], a->i0, a->i1);
    if (!strcmp(op, "narrow")) return nb_narrow(x[0], a->i0, a->i1, a->i2);
    if (!strcmp(op, "sigmoid")) return nb_sigmoid(x[0]);
    if (!strcmp(op, "tanh")) return nb_tanh(x[0]);
    if (!strcmp(op, "relu")) return nb_relu(x[0]);
    if (!strcmp(op, "leaky_relu")) return nb_leaky_relu(x[0], a->s);
    if (!strcmp(op, "elu")) return nb_elu(x[0], a->s);
    if (!strcmp(op, "prelu")) return nb_prelu(x[0], x[1]);
    if (!strcmp(op, "softmax")) return nb_softmax(x[0], a->i0);
    if (!strcmp(op, "log_softmax")) return nb_log_softmax(x[0], a->i0);
    if (!strcmp(op, "mse")) return nb_mse_loss(x[0], x[1], a->red);
    if (!strcmp(op, "sse")) return nb_sse_loss(x[0], x[1]);
    if (!strcmp(op, "ce"))
        return nb_cross_entropy(x[0], x[1],
                                &(nb_cross_entropy_opts){.weight = a->weight, .ignore_index = a->ignore,
                                                         .has_ignore_index = a->has_ignore,
                                                         .label_smoothing = a->eps, .reduction = a->red});
    if (!strcmp(op, "bce")) return nb_bce(x[0], x[1], &(nb_bce_opts){.weight = a->weight, .reduction = a->red});
    if (!strcmp(op, "bcel"))
        return nb_bce_with_logits(x[0], x[1],
                                  &(nb_bce_opts){.weight = a->weight, .pos_weight = a->pos_weight, .reduction = a->red});
    if (!strcmp(op, "l1")) return nb_l1_penalty(x, n, a->s);
    if (!strcmp(op, "l2")) return nb_l2_penalty(x, n, a->s);
    if (!strcmp(op, "elastic")) return nb_elastic_net_penalty(x, n, a->s, a->s2);
    return NULL;
}

/* ---- inputs ---- */

typedef enum { GEN_NORMAL, GEN_AWAY, GEN_POS, GEN_PROB, GEN_SIMPLEX } gen_kind;

/* A heap tensor: normal, |x| >= 0.1 (AWAY), in [0.5, 2] (POS), in [0.1, 0.9] (PROB),
 * or rows summing to 1 over dim 1 (SIMPLEX: a probability target). */
static nb_tensor *gen(gen_kind k, int nd, const int64_t *shape)
{
    nb_tensor *t = nb_tensor_new(ctx, NB_F32, nd, shape);
    float *v = nb_tensor_data(t);
    int64_t n = nb_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) {
        float z = nb_rng_normal(&rng);
        switch (k) {
        case GEN_AWAY: v[i] = z >= 0 ? z + 0.1f : z - 0.1f; break;
        case GEN_POS: v[i] = 0.5f + 1.5f * nb_rng_uniform(&rng); break;
        case GEN_PROB: v[i] = 0.1f + 0.8f * nb_rng_uniform(&rng); break;
        case GEN_SIMPLEX: v[i] = 0.05f + nb_rng_uniform(&rng); break;
        default: v[i] = z;
        }
    }
    if (k == GEN_SIMPLEX) { /* normalise over the class dim (dim 1, or 0 for 1-D) */
        int cd = nd == 1 ? 0 : 1;
        int64_t C = shape[cd], outer = cd ? shape[0] : 1, inner = n / (outer * C);
        for (int64_t o = 0; o < outer; o++)
            for (int64_t s = 0; s < inner; s++) {
                double sum = 0;
                for (int64_t c = 0; c < C; c++) sum += v[(o * C + c) * inner + s];
                for (int64_t c = 0; c < C; c++) v[(o * C + c) * inner + s] = (float)(v[(o * C + c) * inner + s] / sum);
            }
    }
    return t;
}

#define SHAPE(...) (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__}

static nb_tensor *labels(int nd, const int64_t *shape, int64_t C, int64_t ignore, int every)
{
    nb_tensor *t = nb_tensor_new(ctx, NB_I64, nd, shape);
    int64_t *y = nb_tensor_data_i64(t);
    for (int64_t i = 0; i < nb_tensor_numel(t); i++)
        y[i] = every && i % every == every - 1 ? ignore : (int64_t)nb_rng_below(&rng, (uint64_t)C);
    return t;
}

/* ---- the check ---- */

static double loss_of(const args *a, nb_tensor **x, int n, nb_tensor *G)
{
    nb_ctx_reset(ctx);
    nb_tensor *out = apply(a, x, n);
    if (!out || nb_tensor_numel(out) != nb_tensor_numel(G)) return NAN;
    const float *o = nb_tensor_data(out), *g = nb_tensor_data(G);
    double L = 0;
    for (int64_t i = 0; i < nb_tensor_numel(out); i++) L += (double)o[i] * g[i];
    return L;
}

static long n_checked;

/* x[i] with requires_grad set are checked; the tensors are freed here. */
static void gradcheck(const char *label, const args *a, nb_tensor **x, int n)
{
    char name[256];
    nb_ctx_reset(ctx);
    nb_clear_error();
    for (int i = 0; i < n; i++) nb_tensor_zero_grad(x[i]);
    nb_tensor *out = apply(a, x, n);
    nb_tensor *G = NULL;
    nb_status st = NB_ERR_ARG;
    if (out) {
        G = gen(GEN_NORMAL, nb_tensor_ndim(out), nb_tensor_shape(out));
        st = nb_backward(nb_sum(nb_mul(out, G)));
    }
    snprintf(name, sizeof name, "gradcheck %s: runs", label);
    CHECK(name, out && st == NB_OK, "%s", nb_last_error());
    if (out && st == NB_OK) {
        int old = nb_set_grad_enabled(ctx, 0);
        for (int i = 0; i < n; i++) {
            if (!nb_tensor_requires_grad(x[i])) continue;
            int64_t m = nb_tensor_numel(x[i]);
            float *v = nb_tensor_data(x[i]);
            const float *g = nb_tensor_grad(x[i]);
            double gmax = 0, worst = 0;
            int64_t at = 0;
            double fd_at = 0;
            for (int64_t j = 0; g && j < m; j++) gmax = fmax(gmax, fabs(g[j]));
            for (int64_t j = 0; g && j < m; j++) {
                float v0 = v[j];
                double best = INFINITY, best_fd = 0;
                const float hs[2] = {1e-2f, 1e-3f};
                for (int k = 0; k < 2; k++) {
                    v[j] = v0 + hs[k];
                    double hp = (double)v[j] - v0;
                    double lp = loss_of(a, x, n, G);
                    v[j] = v0 - hs[k];
                    double hm = (double)v0 - v[j];
                    double lm = loss_of(a, x, n, G);
                    double fd = (lp - lm) / (hp + hm);
                    double e = fabs(fd - g[j]);
                    if (e < best || e != e) best = e, best_fd = fd;
                }
                v[j] = v0;
                double r = best / fmax(fabs(g[j]), fmax(FLOOR * gmax, 1e-6));
                if (r > worst || r != r) worst = r != r ? INFINITY : r, at = j, fd_at = best_fd;
            }
            snprintf(name, sizeof name, "gradcheck %s: d/dx%d", label, i);
            if (verbose) printf("  worst %.3g %s\n", worst, name);
            CHECK(name, g && worst <= TOL, "rel err %.3g at %lld (analytic %.7g, finite difference %.7g)", worst,
                  (long long)at, g ? (double)g[at] : 0.0, fd_at);
            n_checked++;
        }
        nb_set_grad_enabled(ctx, old);
    }
    nb_tensor_free(G);
    for (int i = 0; i < n; i++) nb_tensor_free(x[i]);
}

/* Build inputs, mark the F32 ones as requiring grad (mask bit i clear = frozen) and check. */
static void run(const char *label, args a, int n, nb_tensor **x, unsigned frozen)
{
    for (int i = 0; i < n; i++)
        if (nb_tensor_dtype(x[i]) == NB_F32 && !(frozen >> i & 1)) nb_tensor_set_requires_grad(x[i], 1);
    gradcheck(label, &a, x, n);
}

#define RUN(label, a, ...)                                                               \
    do {                                                                                 \
        nb_tensor *xs_[] = {__VA_ARGS__};                                                \
        run(label, a, (int)(sizeof xs_ / sizeof *xs_), xs_, 0);                          \
    } while (0)

static void ops(void)
{
    /* elementwise, with broadcasting both ways */
    const char *bins[] = {"add", "sub", "mul", "div"};
    for (int k = 0; k < 4; k++) {
        char l[64];
        gen_kind bk = k == 3 ? GEN_AWAY : GEN_NORMAL;
        snprintf(l, sizeof l, "%s [2,3]x[2,3]", bins[k]);
        RUN(l, ((args){.op = bins[k]}), gen(GEN_NORMAL, SHAPE(2, 3)), gen(bk, SHAPE(2, 3)));
        snprintf(l, sizeof l, "%s [2,3]x[3]", bins[k]);
        RUN(l, ((args){.op = bins[k]}), gen(GEN_NORMAL, SHAPE(2, 3)), gen(bk, SHAPE(3)));
        snprintf(l, sizeof l, "%s [2,1,3]x[4,1]", bins[k]);
        RUN(l, ((args){.op = bins[k]}), gen(GEN_NORMAL, SHAPE(2, 1, 3)), gen(bk, SHAPE(4, 1)));
        snprintf(l, sizeof l, "%s []x[2,3]", bins[k]);
        RUN(l, ((args){.op = bins[k]}), gen(GEN_NORMAL, 0, no_dims), gen(bk, SHAPE(2, 3)));
    }
    RUN("add_scalar", ((args){.op = "adds", .s = 0.7f}), gen(GEN_NORMAL, SHAPE(2, 3)));
    RUN("mul_scalar", ((args){.op = "muls", .s = -1.3f}), gen(GEN_NORMAL, SHAPE(2, 3)));
    RUN("neg", ((args){.op = "neg"}), gen(GEN_NORMAL, SHAPE(2, 3)));
    RUN("exp", ((args){.op = "exp"}), gen(GEN_NORMAL, SHAPE(2, 3)));
    RUN("log", ((args){.op = "log"}), gen(GEN_POS, SHAPE(2, 3)));
    RUN("sqrt", ((args){.op = "sqrt"}), gen(GEN_POS, SHAPE(2, 3)));
    RUN("square", ((args){.op = "square"}), gen(GEN_NORMAL, SHAPE(2, 3)));
    RUN("abs", ((args){.op = "abs"}), gen(GEN_AWAY, SHAPE(2, 3)));
    RUN("pow_scalar 3", ((args){.op = "pow", .s = 3.0f}), gen(GEN_NORMAL, SHAPE(2, 3)));
    RUN("pow_scalar 2.5", ((args){.op = "pow", .s = 2.5f}), gen(GEN_POS, SHAPE(2, 3)));
    RUN("pow_scalar -0.5", ((args){.op = "pow", .s = -0.5f}), gen(GEN_POS, SHAPE(2, 3)));
    /* reductions */
    RUN("sum", ((args){.op = "sum"}), gen(GEN_NORMAL, SHAPE(2, 3, 2)));
    RUN("mean", ((args){.op = "mean"}), gen(GEN_NORMAL, SHAPE(2, 3, 2)));
    RUN("sum_dim 1", ((args){.op = "sum_dim", .i0 = 1}), gen(GEN_NORMAL, SHAPE(2, 3, 2)));
    RUN("sum_dim -1 keepdim", ((args){.op = "sum_dim", .i0 = -1, .i1 = 1}), gen(GEN_NORMAL, SHAPE(2, 3, 2)));
    RUN("mean_dim 0", ((args){.op = "mean_dim", .i0 = 0}), gen(GEN_NORMAL, SHAPE(2, 3, 2)));
    RUN("mean_dim 2 keepdim", ((args){.op = "mean_dim", .i0 = 2, .i1 = 1}), gen(GEN_NORMAL, SHAPE(2, 3, 2)));
    /* linear algebra */
    RUN("matmul [3,4]x[4,2]", ((args){.op = "matmul"}), gen(GEN_NORMAL, SHAPE(3, 4)), gen(GEN_NORMAL, SHAPE(4, 2)));
    RUN("matmul [2,2,3]x[2,3,2]", ((args){.op = "matmul"}), gen(GEN_NORMAL, SHAPE(2, 2, 3)),
        gen(GEN_NORMAL, SHAPE(2, 3, 2)));
    RUN("linear [3,4] bias", ((args){.op = "linear"}), gen(GEN_NORMAL, SHAPE(3, 4)), gen(GEN_NORMAL, SHAPE(2, 4)),
        gen(GEN_NORMAL, SHAPE(2)));
    RUN("linear [2,2,3] no bias", ((args){.op = "linear"}), gen(GEN_NORMAL, SHAPE(2, 2, 3)),
        gen(GEN_NORMAL, SHAPE(3, 3)));
    RUN("linear [3] one row", ((args){.op = "linear"}), gen(GEN_NORMAL, SHAPE(3)), gen(GEN_NORMAL, SHAPE(2, 3)),
        gen(GEN_NORMAL, SHAPE(2)));
    /* shapes */
    RUN("reshape", ((args){.op = "reshape", .i0 = 4}), gen(GEN_NORMAL, SHAPE(2, 3, 2)));
    RUN("flatten 1..2", ((args){.op = "flatten", .i0 = 1, .i1 = 2}), gen(GEN_NORMAL, SHAPE(2, 3, 2)));
    RUN("transpose 0,2", ((args){.op = "transpose", .i0 = 0, .i1 = 2}), gen(GEN_NORMAL, SHAPE(2, 3, 2)));
    RUN("narrow dim 1", ((args){.op = "narrow", .i0 = 1, .i1 = 1, .i2 = 2}), gen(GEN_NORMAL, SHAPE(2, 3, 2)));
    /* activations */
    RUN("sigmoid", ((args){.op = "sigmoid"}), gen(GEN_NORMAL, SHAPE(2, 3)));
    RUN("tanh", ((args){.op = "tanh"}), gen(GEN_NORMAL, SHAPE(2, 3)));
    RUN("relu", ((args){.op = "relu"}), gen(GEN_AWAY, SHAPE(2, 3)));
    RUN("leaky_relu 0.1", ((args){.op = "leaky_relu", .s = 0.1f}), gen(GEN_AWAY, SHAPE(2, 3)));
    RUN("elu 1", ((args){.op = "elu", .s = 1.0f}), gen(GEN_AWAY, SHAPE(2, 3)));
    RUN("elu 0.5", ((args){.op = "elu", .s = 0.5f}), gen(GEN_AWAY, SHAPE(2, 3)));
    RUN("prelu 1 param [3,4]", ((args){.op = "prelu"}), gen(GEN_AWAY, SHAPE(3, 4)), gen(GEN_POS, SHAPE(1)));
    RUN("prelu C params [2,3,2,2]", ((args){.op = "prelu"}), gen(GEN_AWAY, SHAPE(2, 3, 2, 2)), gen(GEN_POS, SHAPE(3)));
    for (int d = -1; d <= 1; d++) {
        char l[64];
        snprintf(l, sizeof l, "softmax dim %d [2,3,2]", d);
        RUN(l, ((args){.op = "softmax", .i0 = d}), gen(GEN_NORMAL, SHAPE(2, 3, 2)));
        snprintf(l, sizeof l, "log_softmax dim %d [2,3,2]", d);
        RUN(l, ((args){.op = "log_softmax", .i0 = d}), gen(GEN_NORMAL, SHAPE(2, 3, 2)));
    }
}

static void losses(void)
{
    const nb_reduction reds[] = {NB_MEAN, NB_SUM, NB_NONE};
    const char *rn[] = {"mean", "sum", "none"};
    char l[128];
    for (int r = 0; r < 3; r++) {
        snprintf(l, sizeof l, "MSELoss %s", rn[r]);
        RUN(l, ((args){.op = "mse", .red = reds[r]}), gen(GEN_NORMAL, SHAPE(3, 2)), gen(GEN_NORMAL, SHAPE(3, 2)));
    }
    RUN("SSE", ((args){.op = "sse"}), gen(GEN_NORMAL, SHAPE(3, 2)), gen(GEN_NORMAL, SHAPE(3, 2)));
    /* cross-entropy, class indices */
    nb_tensor *w4 = gen(GEN_POS, SHAPE(4));
    for (int r = 0; r < 3; r++)
        for (int opt = 0; opt < 4; opt++) {
            /* opt 0 plain, 1 weight, 2 weight + ignore_index 2 + smoothing, 3 ignore -100 + smoothing */
            args a = {.op = "ce", .red = reds[r], .weight = opt == 1 || opt == 2 ? w4 : NULL,
                      .eps = opt >= 2 ? 0.15f : 0.0f};
            int every = opt >= 2 ? 3 : 0;
            int64_t ig = -100;
            if (opt == 2) a.ignore = ig = 2, a.has_ignore = 1;
            const char *on[] = {"", " weight", " weight ignore=2 smoothing", " ignore=-100 smoothing"};
            snprintf(l, sizeof l, "CrossEntropyLoss %s%s [5,4]", rn[r], on[opt]);
            RUN(l, a, gen(GEN_NORMAL, SHAPE(5, 4)), labels(SHAPE(5), 4, ig, every));
            snprintf(l, sizeof l, "CrossEntropyLoss %s%s [2,4,3]", rn[r], on[opt]);
            RUN(l, a, gen(GEN_NORMAL, SHAPE(2, 4, 3)), labels(SHAPE(2, 3), 4, ig, every));
        }
    RUN("CrossEntropyLoss unbatched [4]", ((args){.op = "ce", .eps = 0.1f}), gen(GEN_NORMAL, SHAPE(4)),
        labels(0, no_dims, 4, -100, 0));
    /* probability targets: gradients of logits and targets */
    for (int r = 0; r < 3; r++) {
        snprintf(l, sizeof l, "CrossEntropyLoss probabilities %s [3,4]", rn[r]);
        RUN(l, ((args){.op = "ce", .red = reds[r]}), gen(GEN_NORMAL, SHAPE(3, 4)), gen(GEN_SIMPLEX, SHAPE(3, 4)));
        snprintf(l, sizeof l, "CrossEntropyLoss probabilities %s weight smoothing [2,4,2]", rn[r]);
        RUN(l, ((args){.op = "ce", .red = reds[r], .weight = w4, .eps = 0.2f}), gen(GEN_NORMAL, SHAPE(2, 4, 2)),
            gen(GEN_SIMPLEX, SHAPE(2, 4, 2)));
    }
    /* binary cross-entropy */
    nb_tensor *w3 = gen(GEN_POS, SHAPE(3)), *pw3 = gen(GEN_POS, SHAPE(3));
    for (int r = 0; r < 3; r++) {
        snprintf(l, sizeof l, "BCELoss %s [2,3]", rn[r]);
        RUN(l, ((args){.op = "bce", .red = reds[r]}), gen(GEN_PROB, SHAPE(2, 3)), gen(GEN_PROB, SHAPE(2, 3)));
        snprintf(l, sizeof l, "BCELoss %s weight [2,3]", rn[r]);
        RUN(l, ((args){.op = "bce", .red = reds[r], .weight = w3}), gen(GEN_PROB, SHAPE(2, 3)),
            gen(GEN_PROB, SHAPE(2, 3)));
        snprintf(l, sizeof l, "BCEWithLogitsLoss %s [2,3]", rn[r]);
        RUN(l, ((args){.op = "bcel", .red = reds[r]}), gen(GEN_NORMAL, SHAPE(2, 3)), gen(GEN_PROB, SHAPE(2, 3)));
        snprintf(l, sizeof l, "BCEWithLogitsLoss %s weight pos_weight [2,3]", rn[r]);
        RUN(l, ((args){.op = "bcel", .red = reds[r], .weight = w3, .pos_weight = pw3}), gen(GEN_NORMAL, SHAPE(2, 3)),
            gen(GEN_PROB, SHAPE(2, 3)));
    }
    /* penalties over several parameters */
    RUN("L1 penalty", ((args){.op = "l1", .s = 0.3f}), gen(GEN_AWAY, SHAPE(2, 3)), gen(GEN_AWAY, SHAPE(3)));
    RUN("L2 penalty", ((args){.op = "l2", .s = 0.2f}), gen(GEN_NORMAL, SHAPE(2, 3)), gen(GEN_NORMAL, SHAPE(3)));
    RUN("elastic net penalty", ((args){.op = "elastic", .s = 0.3f, .s2 = 0.2f}), gen(GEN_AWAY, SHAPE(2, 3)),
        gen(GEN_AWAY, SHAPE(3)));
    nb_tensor_free(w4);
    nb_tensor_free(w3);
    nb_tensor_free(pw3);
}

/* The check must be able to fail: a deliberately wrong analytic gradient
 * (mul_scalar by s, whose gradient is s, compared against a forward of 1.01·s). */
static void self_test(void)
{
    nb_tensor *x = gen(GEN_NORMAL, SHAPE(2, 3));
    nb_tensor_set_requires_grad(x, 1);
    nb_ctx_reset(ctx);
    nb_tensor *G = gen(GEN_NORMAL, SHAPE(2, 3));
    nb_status st = nb_backward(nb_sum(nb_mul(nb_mul_scalar(x, 2.0f), G)));
    int old = nb_set_grad_enabled(ctx, 0);
    args a = {.op = "muls", .s = 2.02f};
    float *v = nb_tensor_data(x);
    float v0 = v[0];
    v[0] = v0 + 1e-2f;
    double lp = loss_of(&a, &x, 1, G);
    v[0] = v0 - 1e-2f;
    double lm = loss_of(&a, &x, 1, G);
    v[0] = v0;
    double fd = (lp - lm) / 2e-2, g = nb_tensor_grad(x)[0];
    nb_set_grad_enabled(ctx, old);
    CHECK("gradcheck detects a 1% wrong gradient", st == NB_OK && fabs(fd - g) / fabs(g) > TOL,
          "analytic %g, finite difference %g", g, fd);
    nb_tensor_free(G);
    nb_tensor_free(x);
}

int main(void)
{
    verbose = getenv("NB_GRADCHECK_VERBOSE") != NULL;
    ctx = nb_ctx_new(&(nb_ctx_opts){.seed = 5, .threads = 1});
    nb_rng_seed(&rng, 12345);
    ops();
    losses();
    self_test();
    CHECK("gradcheck count", n_checked >= 100, "%ld inputs checked", n_checked);
    printf("%ld inputs checked by finite differences\n", n_checked);
    nb_ctx_free(ctx);
    CHECK_DONE();
}
