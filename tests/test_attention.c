/* test_attention.c - GELU and the attention core (issue 16) against PyTorch 1.13
 * goldens (tests/goldens/transformer_ops.safetensors from
 * tools/goldens/gen_transformer_ops.py: forward and every input's gradient, padding
 * and causal masks, Tq < Tk), the merged-heads layout against the same goldens,
 * central finite differences (as test_gradcheck.c: the closer of h = 1e-2 and 1e-3
 * within 2e-3 of max(|g|, 0.05·max|g|)), attention dropout's properties, and errors. */
#include "check.h"
#include "golden.h"
#include "nabla.h"

#define GOLDEN "tests/goldens/transformer_ops.safetensors"

static nb_ctx *ctx;
static nb_rng rng;

static nb_tensor *randn(int nd, const int64_t *shape)
{
    nb_tensor *t = nb_tensor_new(ctx, NB_F32, nd, shape);
    float *v = nb_tensor_data(t);
    for (int64_t i = 0; i < nb_tensor_numel(t); i++) v[i] = nb_rng_normal(&rng);
    return t;
}

/* (B, H, T, D) <-> (B, T, H·D) */
static void bhtd_to_bthd(const float *src, float *dst, int64_t B, int64_t H, int64_t T, int64_t D, int back)
{
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t t = 0; t < T; t++)
                for (int64_t d = 0; d < D; d++) {
                    int64_t i = ((b * H + h) * T + t) * D + d, j = ((b * T + t) * H + h) * D + d;
                    if (back) dst[i] = src[j];
                    else dst[j] = src[i];
                }
}

static nb_tensor *merged(nb_tensor *x)
{
    const int64_t *s = nb_tensor_shape(x);
    nb_tensor *m = nb_tensor_new(ctx, NB_F32, 3, (int64_t[]){s[0], s[2], s[1] * s[3]});
    bhtd_to_bthd(nb_tensor_data(x), nb_tensor_data(m), s[0], s[1], s[2], s[3], 0);
    return m;
}

static void golden(void)
{
    nb_safetensors *g = nb_safetensors_open(GOLDEN);
    CHECK("goldens open", g != NULL, "%s", nb_last_error());
    if (!g) return;
    char key[64], name[200];
#define GET(...) (snprintf(key, sizeof key, __VA_ARGS__), nb_safetensors_get(g, ctx, key))
    int ng = atoi(nb_safetensors_metadata(g, "gelu.cases"));
    for (int k = 0; k < ng; k++) {
        snprintf(key, sizeof key, "gelu.%d", k);
        const char *cfg = nb_safetensors_metadata(g, key);
        int tanh_form = strstr(cfg, "tanh") != NULL;
        nb_tensor *x = GET("gelu.%d.x", k), *dy = GET("gelu.%d.dy", k), *y = GET("gelu.%d.y", k),
                  *dx = GET("gelu.%d.dx", k);
        nb_tensor_set_requires_grad(x, 1);
        nb_ctx_reset(ctx);
        nb_tensor *got = nb_gelu(x, tanh_form ? NB_GELU_TANH : NB_GELU_ERF);
        /* PyTorch's vectorized CPU kernels use their own erf (Abramowitz-Stegun 7.1.26, absolute
         * error 1.5e-7) and tanh (which saturates to ±1 earlier than glibc's); nabla uses the C
         * library's correctly rounded erff/tanhf. The differences are ~2e-7 absolute, hence
         * 1e-5 of max(|y|, 1% of max|y|) and 1e-4 for the gradient in the saturated tails. */
        snprintf(name, sizeof name, "gelu case %d (%s, %lld values): forward within 1e-5", k, cfg,
                 (long long)nb_tensor_numel(x));
        if (got) CHECK_CLOSE_SCALED(name, nb_tensor_data(got), nb_tensor_data(y), nb_tensor_numel(y), 1e-5);
        else CHECK(name, 0, "%s", nb_last_error());
        nb_status st = nb_backward(nb_sum(nb_mul(got, dy)));
        snprintf(name, sizeof name, "gelu case %d (%s): gradient within 1e-4", k, cfg);
        if (!st) CHECK_CLOSE_SCALED(name, nb_tensor_grad(x), nb_tensor_data(dx), nb_tensor_numel(dx), 1e-4);
        else CHECK(name, 0, "%s", nb_last_error());
        nb_tensor_free(x), nb_tensor_free(dy), nb_tensor_free(y), nb_tensor_free(dx);
    }
    int na = atoi(nb_safetensors_metadata(g, "att.cases"));
    for (int c = 0; c < na; c++) {
        snprintf(key, sizeof key, "att.%d", c);
        const char *cfg = nb_safetensors_metadata(g, key);
        nb_attention_opts o = {.is_causal = cfg_int(cfg, "causal", 0)};
        if (cfg_int(cfg, "mask", 0)) o.attn_mask = GET("att.%d.mask", c);
        nb_tensor *t[8];
        const char *names[8] = {"q", "k", "v", "dy", "y", "dq", "dk", "dv"};
        for (int i = 0; i < 8; i++) t[i] = GET("att.%d.%s", c, names[i]);
        const int64_t *qs = nb_tensor_shape(t[0]), *ks = nb_tensor_shape(t[1]);
        char shp[120];
        snprintf(shp, sizeof shp, "B=%lld H=%lld Tq=%lld Tk=%lld D=%lld %s", (long long)qs[0], (long long)qs[1],
                 (long long)qs[2], (long long)ks[2], (long long)qs[3], cfg);
        for (int layout = 0; layout < 2; layout++) {
            nb_tensor *in[3];
            for (int i = 0; i < 3; i++) {
                in[i] = layout ? merged(t[i]) : t[i];
                nb_tensor_zero_grad(in[i]);
                nb_tensor_set_requires_grad(in[i], 1);
            }
            nb_ctx_reset(ctx);
            nb_tensor *dy = layout ? merged(t[3]) : t[3];
            nb_tensor *y = layout ? nb_multihead_attention(in[0], in[1], in[2], qs[1], &o)
                                  : nb_scaled_dot_product_attention(in[0], in[1], in[2], &o);
            const char *ln = layout ? "merged heads (B, T, H*D)" : "(B, H, T, D)";
            float *yv = NULL, *gr[3] = {0};
            int64_t n = nb_tensor_numel(t[4]);
            float *buf = malloc(sizeof(float) * 4 * (size_t)(n > nb_tensor_numel(t[1]) ? n : nb_tensor_numel(t[1])));
            nb_status st = y ? nb_backward(nb_sum(nb_mul(y, dy))) : NB_ERR_ARG;
            if (y && !st) {
                yv = nb_tensor_data(y);
                for (int i = 0; i < 3; i++) gr[i] = nb_tensor_grad(in[i]);
                if (layout) { /* back to (B, H, T, D) */
                    bhtd_to_bthd(yv, buf, qs[0], qs[1], qs[2], qs[3], 1);
                    yv = buf;
                }
            }
            /* float32 sums in another order than PyTorch's matmul: a few ulps of the largest value */
            snprintf(name, sizeof name, "attention %d %s [%s]: forward within 3e-5", c, ln, shp);
            if (yv) CHECK_CLOSE_SCALED(name, yv, nb_tensor_data(t[4]), n, 3e-5);
            else CHECK(name, 0, "%s", nb_last_error());
            for (int i = 0; i < 3; i++) {
                snprintf(name, sizeof name, "attention %d %s [%s]: d%s within 1e-4", c, ln, shp, names[i]);
                float *gi = gr[i];
                if (gi && layout) {
                    const int64_t *s = nb_tensor_shape(t[i]);
                    bhtd_to_bthd(gi, buf, s[0], s[1], s[2], s[3], 1);
                    gi = buf;
                }
                if (gi) CHECK_CLOSE_SCALED(name, gi, nb_tensor_data(t[5 + i]), nb_tensor_numel(t[5 + i]), 1e-4);
                else CHECK(name, 0, "%s", nb_last_error());
            }
            free(buf);
            if (layout) {
                for (int i = 0; i < 3; i++) nb_tensor_free(in[i]);
                nb_tensor_free(dy);
            }
        }
        for (int i = 0; i < 8; i++) nb_tensor_free(t[i]);
        nb_tensor_free(o.attn_mask);
    }
    nb_safetensors_close(g);
}

/* ---- finite differences ---- */

typedef nb_tensor *(*fn_t)(nb_tensor **x, const void *arg);

static double loss_of(fn_t f, nb_tensor **x, const void *arg, nb_tensor *G)
{
    nb_ctx_reset(ctx);
    nb_tensor *out = f(x, arg);
    if (!out) return NAN;
    const float *o = nb_tensor_data(out), *g = nb_tensor_data(G);
    double L = 0;
    for (int64_t i = 0; i < nb_tensor_numel(out); i++) L += (double)o[i] * g[i];
    return L;
}

static void fdcheck(const char *label, fn_t f, nb_tensor **x, int n, const void *arg)
{
    char name[200];
    nb_ctx_reset(ctx);
    for (int i = 0; i < n; i++) {
        nb_tensor_zero_grad(x[i]);
        nb_tensor_set_requires_grad(x[i], 1);
    }
    nb_tensor *out = f(x, arg);
    nb_tensor *G = out ? randn(nb_tensor_ndim(out), nb_tensor_shape(out)) : NULL;
    nb_status st = out ? nb_backward(nb_sum(nb_mul(out, G))) : NB_ERR_ARG;
    snprintf(name, sizeof name, "fd %s: runs", label);
    CHECK(name, st == NB_OK, "%s", nb_last_error());
    if (st) return;
    int old = nb_set_grad_enabled(ctx, 0);
    for (int i = 0; i < n; i++) {
        float *v = nb_tensor_data(x[i]);
        const float *g = nb_tensor_grad(x[i]);
        int64_t m = nb_tensor_numel(x[i]), at = 0;
        double gmax = 0, worst = 0;
        for (int64_t j = 0; j < m; j++) gmax = fmax(gmax, fabs(g[j]));
        for (int64_t j = 0; j < m; j++) {
            float v0 = v[j];
            double best = INFINITY;
            const float hs[2] = {1e-2f, 1e-3f};
            for (int k = 0; k < 2; k++) {
                v[j] = v0 + hs[k];
                double hp = (double)v[j] - v0, lp = loss_of(f, x, arg, G);
                v[j] = v0 - hs[k];
                double hm = (double)v0 - v[j], lm = loss_of(f, x, arg, G);
                best = fmin(best, fabs((lp - lm) / (hp + hm) - g[j]));
            }
            v[j] = v0;
            double r = best / fmax(fabs(g[j]), fmax(0.05 * gmax, 1e-6));
            if (!(r <= worst)) worst = r, at = j;
        }
        snprintf(name, sizeof name, "fd %s: d/dx%d", label, i);
        CHECK(name, worst <= 2e-3, "rel err %.3g at %lld", worst, (long long)at);
    }
    nb_set_grad_enabled(ctx, old);
    nb_tensor_free(G);
}

static nb_tensor *f_gelu(nb_tensor **x, const void *arg) { return nb_gelu(x[0], *(const nb_gelu_approx *)arg); }

typedef struct {
    nb_attention_opts o;
    int64_t heads; /* 0: (B, H, T, D) */
} att_arg;

static nb_tensor *f_att(nb_tensor **x, const void *arg)
{
    const att_arg *a = arg;
    return a->heads ? nb_multihead_attention(x[0], x[1], x[2], a->heads, &a->o)
                    : nb_scaled_dot_product_attention(x[0], x[1], x[2], &a->o);
}

#define SHAPE(...) (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__}

static void finite_differences(void)
{
    for (int k = 0; k < 2; k++) {
        nb_gelu_approx ap = k ? NB_GELU_TANH : NB_GELU_ERF;
        nb_tensor *x = randn(SHAPE(4, 5));
        fdcheck(k ? "gelu tanh" : "gelu erf", f_gelu, &x, 1, &ap);
        nb_tensor_free(x);
    }
    nb_tensor *mask = nb_tensor_from(ctx, NB_I64, 2, (int64_t[]){2, 5}, (int64_t[]){1, 1, 1, 1, 1, 1, 1, 1, 0, 0});
    struct {
        const char *label;
        att_arg a;
        int64_t q[4], k[4];
        int nd;
    } cases[] = {
        {"sdpa (2,2,4,3)", {{0}, 0}, {2, 2, 4, 3}, {2, 2, 4, 3}, 4},
        {"sdpa causal Tq 3 < Tk 5", {{.is_causal = 1}, 0}, {2, 2, 3, 3}, {2, 2, 5, 3}, 4},
        {"sdpa padding mask", {{.attn_mask = mask}, 0}, {2, 1, 5, 3}, {2, 1, 5, 3}, 4},
        {"merged heads causal + padding", {{.attn_mask = mask, .is_causal = 1}, 2}, {2, 5, 6}, {2, 5, 6}, 3},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        nb_tensor *x[3] = {randn(cases[c].nd, cases[c].q), randn(cases[c].nd, cases[c].k),
                           randn(cases[c].nd, cases[c].k)};
        fdcheck(cases[c].label, f_att, x, 3, &cases[c].a);
        for (int i = 0; i < 3; i++) nb_tensor_free(x[i]);
    }
    nb_tensor_free(mask);
}

static void dropout_and_errors(void)
{
    nb_tensor *q = randn(SHAPE(2, 2, 6, 4)), *k = randn(SHAPE(2, 2, 6, 4)), *v = randn(SHAPE(2, 2, 6, 4));
    nb_ctx_reset(ctx);
    nb_tensor *ref = nb_scaled_dot_product_attention(q, k, v, NULL);
    nb_tensor *same = nb_scaled_dot_product_attention(q, k, v, &(nb_attention_opts){.dropout_p = 0.5f});
    CHECK("dropout_p without training: identical to no dropout",
          ref && same && !memcmp(nb_tensor_data(ref), nb_tensor_data(same), sizeof(float) * 96), "%s", nb_last_error());
    /* the mean over many draws approaches the output without dropout */
    double *acc = calloc(96, sizeof *acc);
    int draws = 4000;
    for (int r = 0; r < draws; r++) {
        nb_ctx_reset(ctx);
        nb_tensor *y = nb_scaled_dot_product_attention(q, k, v, &(nb_attention_opts){.dropout_p = 0.3f, .training = 1});
        for (int i = 0; i < 96; i++) acc[i] += nb_tensor_data(y)[i];
    }
    nb_ctx_reset(ctx);
    ref = nb_scaled_dot_product_attention(q, k, v, NULL);
    double worst = 0, rmax = 0;
    for (int i = 0; i < 96; i++) rmax = fmax(rmax, fabs(nb_tensor_data(ref)[i]));
    for (int i = 0; i < 96; i++) worst = fmax(worst, fabs(acc[i] / draws - nb_tensor_data(ref)[i]));
    CHECK("dropout 0.3: mean of 4000 draws within 0.05 of max|y| of the output without dropout", worst < 0.05 * rmax,
          "worst %g of %g", worst, rmax);
    free(acc);
    /* the backward uses the forward's mask: y is linear in v, so Σ dv·v = Σ y·G */
    nb_tensor_set_requires_grad(v, 1);
    nb_tensor_zero_grad(v);
    nb_tensor *G = randn(SHAPE(2, 2, 6, 4));
    nb_ctx_reset(ctx);
    nb_tensor *y = nb_scaled_dot_product_attention(q, k, v, &(nb_attention_opts){.dropout_p = 0.5f, .training = 1});
    double lhs = 0, rhs = 0;
    for (int i = 0; i < 96; i++) rhs += (double)nb_tensor_data(y)[i] * nb_tensor_data(G)[i];
    nb_backward(nb_sum(nb_mul(y, G)));
    for (int i = 0; i < 96; i++) lhs += (double)nb_tensor_grad(v)[i] * nb_tensor_data(v)[i];
    CHECK("dropout: backward uses the forward's mask (sum dv*v == sum y*G)", fabs(lhs - rhs) <= 1e-4 * fmax(1, fabs(rhs)),
          "%.9g vs %.9g", lhs, rhs);
    nb_ctx_reset(ctx);
    y = nb_scaled_dot_product_attention(q, k, v, &(nb_attention_opts){.dropout_p = 1, .training = 1});
    int zeros = 1;
    for (int i = 0; y && i < 96; i++) zeros &= nb_tensor_data(y)[i] == 0;
    CHECK("dropout 1: zeros", y && zeros, "%s", nb_last_error());
    /* errors */
    nb_clear_error();
    CHECK("merged heads that do not divide: error naming the heads",
          !nb_multihead_attention(nb_reshape(q, 3, (int64_t[]){2, 12, 4}), nb_reshape(k, 3, (int64_t[]){2, 12, 4}),
                                  nb_reshape(v, 3, (int64_t[]){2, 12, 4}), 3, NULL) &&
              strstr(nb_last_error(), "3 heads"),
          "%s", nb_last_error());
    nb_tensor *bad = randn(SHAPE(2, 2, 6, 5));
    CHECK("k of another size: error naming the shapes",
          !nb_scaled_dot_product_attention(q, bad, bad, NULL) && strstr(nb_last_error(), "[2, 2, 6, 5]"), "%s",
          nb_last_error());
    nb_tensor *m = nb_tensor_new(ctx, NB_I64, 2, (int64_t[]){2, 5});
    CHECK("mask of the wrong length: error", !nb_scaled_dot_product_attention(q, k, v, &(nb_attention_opts){.attn_mask = m}) &&
                                                strstr(nb_last_error(), "attn_mask"),
          "%s", nb_last_error());
    CHECK("dropout_p 1.5: error", !nb_scaled_dot_product_attention(q, k, v, &(nb_attention_opts){.dropout_p = 1.5f}) &&
                                     strstr(nb_last_error(), "dropout_p"),
          "%s", nb_last_error());
    CHECK("gelu approximate 7: error", !nb_gelu(q, (nb_gelu_approx)7) && strstr(nb_last_error(), "approximate"), "%s",
          nb_last_error());
    nb_tensor_free(m), nb_tensor_free(bad), nb_tensor_free(G);
    nb_tensor_free(q), nb_tensor_free(k), nb_tensor_free(v);
}

int main(void)
{
    ctx = nb_ctx_new(&(nb_ctx_opts){.seed = 3});
    nb_rng_seed(&rng, 16);
    golden();
    finite_differences();
    dropout_and_errors();
    nb_ctx_free(ctx);
    CHECK_DONE();
}
