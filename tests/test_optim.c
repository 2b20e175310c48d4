/* test_optim.c - optimizers, gradient clipping and learning-rate schedules against
 * PyTorch 1.13 (tests/goldens/optim.safetensors from tools/goldens/gen_optim.py):
 * ten steps of every configuration from the same parameters and gradients, each
 * step's parameters within 1e-5 relative; then init statistics and bad options. */
#include "check.h"
#include "nabla.h"

#define GOLDEN "tests/goldens/optim.safetensors"

static nb_safetensors *g;
static nb_ctx *ctx;

static nb_tensor *get(const char *fmt, int a, int b)
{
    char key[128];
    snprintf(key, sizeof key, fmt, a, b);
    return nb_safetensors_get(g, ctx, key);
}

typedef nb_optim *(*make_fn)(nb_tensor **p);

static nb_optim *m_sgd(nb_tensor **p) { return nb_sgd_new(p, 3, &(nb_sgd_opts){.lr = 0.1f}); }
static nb_optim *m_sgd_mom(nb_tensor **p) { return nb_sgd_new(p, 3, &(nb_sgd_opts){.lr = 0.1f, .momentum = 0.9f}); }
static nb_optim *m_sgd_damp(nb_tensor **p)
{
    return nb_sgd_new(p, 3, &(nb_sgd_opts){.lr = 0.1f, .momentum = 0.9f, .dampening = 0.3f});
}
static nb_optim *m_sgd_nest(nb_tensor **p)
{
    return nb_sgd_new(p, 3, &(nb_sgd_opts){.lr = 0.05f, .momentum = 0.8f, .nesterov = 1, .weight_decay = 0.01f});
}
static nb_optim *m_adam(nb_tensor **p) { return nb_adam_new(p, 3, &(nb_adam_opts){.lr = 0.01f}); }
static nb_optim *m_adam_ams(nb_tensor **p)
{
    return nb_adam_new(p, 3, &(nb_adam_opts){.lr = 0.01f, .beta1 = 0.8f, .beta2 = 0.99f, .eps = 1e-6f,
                                             .weight_decay = 0.1f, .amsgrad = 1});
}
static nb_optim *m_adamw(nb_tensor **p) { return nb_adamw_new(p, 3, &(nb_adam_opts){.lr = 0.01f}); }
static nb_optim *m_adamw_ams(nb_tensor **p)
{
    return nb_adamw_new(p, 3, &(nb_adam_opts){.lr = 0.02f, .weight_decay = 0.05f, .amsgrad = 1});
}
static nb_optim *m_groups(nb_tensor **p)
{
    nb_optim *o = nb_sgd_new(p, 2, &(nb_sgd_opts){.lr = 0.1f, .momentum = 0.9f, .weight_decay = 0.001f});
    if (o && nb_optim_add_group(o, &(nb_param_group){.params = p + 2, .n = 1, .lr = 0.01f, .weight_decay = 0.5f})) {
        nb_optim_free(o);
        return NULL;
    }
    return o;
}

static void run(const char *name, make_fn make)
{
    nb_tensor *p[3];
    for (int k = 0; k < 3; k++) {
        p[k] = get("init.%d", k, 0);
        nb_tensor_set_requires_grad(p[k], 1);
    }
    nb_optim *o = make(p);
    char label[128];
    snprintf(label, sizeof label, "%s: create", name);
    CHECK(label, o != NULL, "%s", nb_last_error());
    if (!o) return;
    double worst = 0;
    int bad_step = -1;
    for (int s = 0; s < 10; s++) {
        nb_optim_zero_grad(o);
        for (int k = 0; k < 3; k++) {
            nb_tensor *gr = get("grad.%d.%d", s, k);
            float *dst = nb_tensor_grad(p[k]);
            if (!dst) { /* first step: make the gradient buffer exist through a backward */
                nb_ctx_reset(ctx);
                nb_backward(nb_sum(nb_mul_scalar(p[k], 0.0f)));
                dst = nb_tensor_grad(p[k]);
            }
            memcpy(dst, nb_tensor_data(gr), sizeof(float) * (size_t)nb_tensor_numel(gr));
            nb_tensor_free(gr);
        }
        nb_optim_step(o);
        for (int k = 0; k < 3; k++) {
            char key[96];
            snprintf(key, sizeof key, "%s.%d.%d", name, s, k);
            nb_tensor *want = nb_safetensors_get(g, ctx, key);
            double r = check_max_rel(nb_tensor_data(p[k]), nb_tensor_data(want), nb_tensor_numel(want), 1.0, NULL);
            if (r > worst) {
                worst = r;
                bad_step = s;
            }
            nb_tensor_free(want);
        }
    }
    snprintf(label, sizeof label, "%s: 10 steps equal PyTorch's (1e-5 rel)", name);
    CHECK(label, worst <= 1e-5, "max rel err %g at step %d", worst, bad_step);
    nb_optim_free(o);
    for (int k = 0; k < 3; k++) nb_tensor_free(p[k]);
}

static void clip_checks(void)
{
    const char *keys[3] = {"2", "inf", "1"};
    float types[3] = {2.0f, INFINITY, 1.0f};
    for (int t = 0; t < 3; t++) {
        nb_tensor *p[3];
        for (int k = 0; k < 3; k++) {
            p[k] = get("init.%d", k, 0);
            nb_tensor_set_requires_grad(p[k], 1);
            nb_ctx_reset(ctx);
            nb_backward(nb_sum(nb_mul_scalar(p[k], 0.0f)));
            nb_tensor *gr = get("grad.0.%d", k, 0);
            memcpy(nb_tensor_grad(p[k]), nb_tensor_data(gr), sizeof(float) * (size_t)nb_tensor_numel(gr));
            nb_tensor_free(gr);
        }
        float total = nb_clip_grad_norm(p, 3, 1.5f, types[t]);
        char key[64], label[96];
        snprintf(key, sizeof key, "clip_norm.%s.total", keys[t]);
        nb_tensor *want = nb_safetensors_get(g, ctx, key);
        snprintf(label, sizeof label, "clip_grad_norm_ norm_type=%s: returned total norm", keys[t]);
        CHECK_CLOSE(label, &total, nb_tensor_data(want), 1, 1e-6);
        nb_tensor_free(want);
        for (int k = 0; k < 3; k++) {
            snprintf(key, sizeof key, "clip_norm.%s.%d", keys[t], k);
            want = nb_safetensors_get(g, ctx, key);
            snprintf(label, sizeof label, "clip_grad_norm_ norm_type=%s: gradient %d", keys[t], k);
            CHECK_CLOSE(label, nb_tensor_grad(p[k]), nb_tensor_data(want), nb_tensor_numel(want), 1e-6);
            nb_tensor_free(want);
        }
        if (t == 0) {
            for (int k = 0; k < 3; k++) {
                nb_tensor *gr = get("grad.0.%d", k, 0);
                memcpy(nb_tensor_grad(p[k]), nb_tensor_data(gr), sizeof(float) * (size_t)nb_tensor_numel(gr));
                nb_tensor_free(gr);
            }
            nb_clip_grad_value(p, 3, 0.5f);
            for (int k = 0; k < 3; k++) {
                want = get("clip_value.%d", k, 0);
                snprintf(label, sizeof label, "clip_grad_value_: gradient %d", k);
                CHECK_CLOSE(label, nb_tensor_grad(p[k]), nb_tensor_data(want), nb_tensor_numel(want), 0);
                nb_tensor_free(want);
            }
        }
        for (int k = 0; k < 3; k++) nb_tensor_free(p[k]);
    }
}

static void sched_check(const char *key, nb_sched_opts o)
{
    nb_tensor *want = nb_safetensors_get(g, ctx, key);
    float got[30];
    for (int t = 0; t < 30; t++) got[t] = nb_sched_lr(&o, 0.1f, t);
    char label[96];
    snprintf(label, sizeof label, "schedule %s: 30 learning rates equal torch's (1e-5 rel)", key);
    if (want)
        CHECK_CLOSE(label, got, nb_tensor_data(want), 30, 1e-5);
    else
        CHECK(label, 0, "%s", nb_last_error());
    nb_tensor_free(want);
}

static void init_checks(void)
{
    nb_rng r;
    nb_rng_seed(&r, 7);
    nb_tensor *w = nb_tensor_new(ctx, NB_F32, 4, (int64_t[]){64, 32, 3, 3});
    int64_t fi, fo;
    nb_init_fans(w, &fi, &fo);
    CHECK("fans of a conv weight (64,32,3,3)", fi == 288 && fo == 576, "fan_in %lld fan_out %lld", (long long)fi,
          (long long)fo);
    CHECK("calculate_gain values", fabsf(nb_calculate_gain(NB_GAIN_TANH, 0) - 5.0f / 3) < 1e-6f &&
                                       fabsf(nb_calculate_gain(NB_GAIN_RELU, 0) - sqrtf(2)) < 1e-6f &&
                                       fabsf(nb_calculate_gain(NB_GAIN_LEAKY_RELU, 0.2f) - sqrtf(2 / 1.04f)) < 1e-6f &&
                                       nb_calculate_gain(NB_GAIN_SELU, 0) == 0.75f,
          "gains differ");
    struct {
        const char *name;
        int kind;
        double want_std, bound;
    } cases[] = {
        {"kaiming_uniform(a=sqrt(5)) (PyTorch's default) bound 1/sqrt(fan_in)", 0, 1 / sqrt(3.0 * 288), 1 / sqrt(288.0)},
        {"kaiming_normal(relu, fan_out) std sqrt(2/fan_out)", 1, sqrt(2.0 / 576), 0},
        {"xavier_uniform std sqrt(2/(fan_in+fan_out))", 2, sqrt(2.0 / 864), sqrt(6.0 / 864)},
        {"xavier_normal(gain 5/3) std gain*sqrt(2/(fan_in+fan_out))", 3, 5.0 / 3 * sqrt(2.0 / 864), 0},
    };
    for (int c = 0; c < 4; c++) {
        if (cases[c].kind == 0) nb_init_kaiming_uniform(w, sqrtf(5), NB_FAN_IN, NB_GAIN_LEAKY_RELU, &r);
        if (cases[c].kind == 1) nb_init_kaiming_normal(w, 0, NB_FAN_OUT, NB_GAIN_RELU, &r);
        if (cases[c].kind == 2) nb_init_xavier_uniform(w, 1, &r);
        if (cases[c].kind == 3) nb_init_xavier_normal(w, 5.0f / 3, &r);
        double s = 0, ss = 0, mx = 0;
        const float *d = nb_tensor_data(w);
        int64_t n = nb_tensor_numel(w);
        for (int64_t i = 0; i < n; i++) {
            s += d[i];
            ss += (double)d[i] * d[i];
            if (fabs(d[i]) > mx) mx = fabs(d[i]);
        }
        double mean = s / n, sd = sqrt(ss / n - mean * mean);
        /* std of the sample std is about sd/sqrt(2n); allow 5 of those, and the mean 5 sd/sqrt(n) */
        int ok = fabs(sd - cases[c].want_std) < 5 * cases[c].want_std / sqrt(2.0 * n) &&
                 fabs(mean) < 5 * cases[c].want_std / sqrt((double)n) && (cases[c].bound == 0 || mx <= cases[c].bound);
        CHECK(cases[c].name, ok, "mean %g std %g (want %g) max %g (bound %g)", mean, sd, cases[c].want_std, mx,
              cases[c].bound);
    }
    nb_tensor_free(w);
    int64_t shapes[3][2] = {{16, 16}, {40, 12}, {12, 40}};
    for (int k = 0; k < 3; k++) {
        nb_tensor *q = nb_tensor_new(ctx, NB_F32, 2, shapes[k]);
        nb_init_orthogonal(q, 2.0f, &r);
        int64_t R = shapes[k][0], C = shapes[k][1];
        /* rows >= cols: QᵀQ = gain²·I (C x C); rows < cols: QQᵀ = gain²·I (R x R) */
        double worst = 0;
        int64_t m = R >= C ? C : R;
        const float *d = nb_tensor_data(q);
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < m; j++) {
                double dot = 0;
                for (int64_t t = 0; t < (R >= C ? R : C); t++)
                    dot += R >= C ? (double)d[t * C + i] * d[t * C + j] : (double)d[i * C + t] * d[j * C + t];
                double e = fabs(dot - (i == j ? 4.0 : 0.0));
                if (e > worst) worst = e;
            }
        char label[96];
        snprintf(label, sizeof label, "orthogonal(gain 2) of (%lld, %lld) is gain^2 * identity", (long long)R,
                 (long long)C);
        CHECK(label, worst < 1e-5 * 4 * 10, "max deviation %g", worst);
        nb_tensor_free(q);
    }
    nb_tensor *v = nb_tensor_new(ctx, NB_F32, 1, (int64_t[]){5});
    CHECK("fans of a 1-D tensor: error", nb_init_xavier_uniform(v, 1, &r) == NB_ERR_SHAPE &&
                                             strstr(nb_last_error(), "fewer than 2 dimensions"),
          "%s", nb_last_error());
    nb_tensor_free(v);
}

static void bad_options(void)
{
    nb_tensor *p = nb_tensor_new(ctx, NB_F32, 1, (int64_t[]){3});
    CHECK("SGD: nesterov without momentum is refused",
          !nb_sgd_new(&p, 1, &(nb_sgd_opts){.lr = 0.1f, .nesterov = 1}) && strstr(nb_last_error(), "Nesterov"), "%s",
          nb_last_error());
    CHECK("SGD: a negative learning rate is refused", !nb_sgd_new(&p, 1, &(nb_sgd_opts){.lr = -1}), "accepted");
    CHECK("Adam: beta1 = 1 is refused", !nb_adam_new(&p, 1, &(nb_adam_opts){.beta1 = 1.0f}), "accepted");
    nb_tensor_free(p);
}

int main(void)
{
    ctx = nb_ctx_new(&(nb_ctx_opts){.threads = 1});
    g = nb_safetensors_open(GOLDEN);
    CHECK("open goldens", g != NULL, "%s", nb_last_error());
    if (!g) CHECK_DONE();
    run("sgd", m_sgd);
    run("sgd_momentum", m_sgd_mom);
    run("sgd_dampening", m_sgd_damp);
    run("sgd_nesterov_wd", m_sgd_nest);
    run("adam", m_adam);
    run("adam_wd_amsgrad", m_adam_ams);
    run("adamw", m_adamw);
    run("adamw_amsgrad", m_adamw_ams);
    run("sgd_groups", m_groups);
    clip_checks();
    sched_check("sched.step", (nb_sched_opts){.kind = NB_SCHED_STEP, .step_size = 7, .gamma = 0.5f});
    sched_check("sched.cosine", (nb_sched_opts){.kind = NB_SCHED_COSINE, .t_max = 30, .eta_min = 0.001f});
    sched_check("sched.warmup_cosine", (nb_sched_opts){.kind = NB_SCHED_COSINE, .t_max = 25, .warmup = 5});
    sched_check("sched.warmup_step", (nb_sched_opts){.kind = NB_SCHED_STEP, .step_size = 10, .gamma = 0.1f,
                                                     .warmup = 4, .warmup_start_factor = 0.25f});
    init_checks();
    bad_options();
    nb_safetensors_close(g);
    nb_ctx_free(ctx);
    CHECK_DONE();
}
