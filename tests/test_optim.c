/* test_optim.c - optimizers and gradient clipping against PyTorch 1.13.
 *   - tests/goldens/optim_steps.safetensors (tools/goldens/gen_optim.py): 22
 *     configurations of SGD (momentum, dampening, nesterov, weight decay, maximize),
 *     Adam (weight decay, amsgrad, betas, eps, maximize), AdamW, two parameter groups,
 *     StepLR / OneCycleLR (lr and momentum) applied between steps; 4 parameters, 10
 *     steps of fixed gradients, with steps where a gradient is None (skipped) or
 *     zeroed (still a step). Every parameter after every step within 1e-6 relative
 *     (floor 1e-3); the bit-identical fraction is printed. torch's optimizer
 *     state_dict after the last step against nb_optim_state, same names.
 *   - tests/goldens/optim_clip.safetensors: clip_grad_norm_ (norm 2, inf, 1, 3,
 *     clipping or not, max_norm 0) returned totals and gradients, clip_grad_value_.
 *   - checkpoint: 5 steps, state copied out and into a fresh optimizer, 5 more
 *     steps equal 10 uninterrupted ones, bit for bit;
 *   - the threaded update (2 threads, 200,000-element parameters) bit-identical to
 *     the one-thread update; no heap allocation in nb_optim_step, clipping and
 *     nb_sched_apply after construction (malloc counted; skipped under ASan);
 *   - momentum switched on later (allocates, first step starts the buffer), lr and
 *     momentum getters/setters, defaults, bad options and their messages. */
#include "check.h"
#include "golden.h"
#include "core/tensor.h"
#include "core/tape.h"

#include <stdarg.h>
#include <math.h>
#include <omp.h>

#define STEPS_GOLDEN "tests/goldens/optim_steps.safetensors"
#define CLIP_GOLDEN "tests/goldens/optim_clip.safetensors"
#define NPARAM 4

static nb_ctx *ctx;

/* ---- malloc counting (not under ASan, which owns malloc) ---- */
#if defined(__SANITIZE_ADDRESS__)
#define COUNT_MALLOC 0
static long mallocs(void) { return 0; }
static void counting(int on) { (void)on; }
#else
#define COUNT_MALLOC 1
#include <stdatomic.h>
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
static atomic_long g_allocs;
static atomic_int g_counting;
void *malloc(size_t n)
{
    if (atomic_load(&g_counting)) atomic_fetch_add(&g_allocs, 1);
    return __libc_malloc(n);
}
void *calloc(size_t a, size_t b)
{
    if (atomic_load(&g_counting)) atomic_fetch_add(&g_allocs, 1);
    return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n)
{
    if (atomic_load(&g_counting)) atomic_fetch_add(&g_allocs, 1);
    return __libc_realloc(p, n);
}
static long mallocs(void) { return atomic_load(&g_allocs); }
static void counting(int on) { atomic_store(&g_counting, on); }
#endif

/* ---- helpers ---- */

static double cfg_num(const char *cfg, const char *key, double dflt)
{
    char v[64];
    return *cfg_get(cfg, key, v, sizeof v) ? strtod(v, NULL) : dflt;
}

static void set_grad(nb_tensor *p, const float *g)
{
    memcpy(nb__grad(p), g, sizeof(float) * (size_t)p->numel);
}

/* p.grad = None */
static void drop_grad(nb_tensor *p)
{
    if (!p->grad_in_arena) free(p->grad);
    p->grad = NULL;
    p->grad_in_arena = 0;
}

static nb_tensor *fget(nb_safetensors *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static nb_tensor *fget(nb_safetensors *f, const char *fmt, ...)
{
    char key[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(key, sizeof key, fmt, ap);
    va_end(ap);
    if (nb_safetensors_find(f, key) < 0) return NULL;
    return nb_safetensors_get(f, ctx, key);
}

static nb_tensor *named(nb_optim *o, const char *name)
{
    const nb_named_tensor *st;
    int n = nb_optim_state(o, &st);
    for (int i = 0; i < n; i++)
        if (!strcmp(st[i].name, name)) return st[i].tensor;
    return NULL;
}

/* ---- optimizer goldens ---- */

/* Build the optimizer of a golden case over p[0..NPARAM); group 1 as configured. */
static nb_optim *make_case(const char *cfg, nb_tensor **p, nb_sched_opts *so, int *has_sched)
{
    char opt[16], g1[64], v[64];
    cfg_get(cfg, "opt", opt, sizeof opt);
    cfg_get(cfg, "group1", g1, sizeof g1);
    int in1[NPARAM] = {0};
    for (const char *s = g1; *s;) {
        in1[strtol(s, (char **)&s, 10)] = 1;
        if (*s == ',') s++;
    }
    nb_tensor *grp0[NPARAM], *grp1[NPARAM];
    int n0 = 0, n1 = 0;
    for (int j = 0; j < NPARAM; j++) {
        if (in1[j]) grp1[n1++] = p[j];
        else grp0[n0++] = p[j];
    }
    nb_optim *o;
    if (!strcmp(opt, "sgd")) {
        nb_sgd_opts s = {.lr = cfg_num(cfg, "lr", 0), .momentum = cfg_num(cfg, "momentum", 0),
                         .dampening = cfg_num(cfg, "dampening", 0), .weight_decay = cfg_num(cfg, "weight_decay", 0),
                         .nesterov = (int)cfg_num(cfg, "nesterov", 0), .maximize = (int)cfg_num(cfg, "maximize", 0)};
        o = nb_sgd_new(grp0, n0, &s);
    } else {
        int adamw = !strcmp(opt, "adamw");
        nb_adam_opts a = {.lr = cfg_num(cfg, "lr", 0), .beta1 = cfg_num(cfg, "beta1", 0.9),
                          .beta2 = cfg_num(cfg, "beta2", 0.999), .betas_set = 1, .eps = cfg_num(cfg, "eps", 0),
                          .weight_decay = cfg_num(cfg, "weight_decay", 0), .amsgrad = (int)cfg_num(cfg, "amsgrad", 0),
                          .maximize = (int)cfg_num(cfg, "maximize", 0)};
        o = adamw ? nb_adamw_new(grp0, n0, &a) : nb_adam_new(grp0, n0, &a);
    }
    if (o && n1) {
        nb_param_group g = {.params = grp1, .n = n1, .lr = cfg_num(cfg, "lr1", 0)};
        if (*cfg_get(cfg, "wd1", v, sizeof v)) {
            g.weight_decay = strtod(v, NULL);
            g.weight_decay_set = 1;
        }
        if (nb_optim_add_group(o, &g)) {
            nb_optim_free(o);
            return NULL;
        }
    }
    *so = (nb_sched_opts){0};
    cfg_get(cfg, "sched", v, sizeof v);
    *has_sched = *v != 0;
    if (!strcmp(v, "step")) {
        so->kind = NB_SCHED_STEP;
        so->step_size = (int)cfg_num(cfg, "step_size", 0);
        so->gamma = cfg_num(cfg, "gamma", 0);
    } else if (!strcmp(v, "onecycle")) {
        so->kind = NB_SCHED_ONECYCLE;
        so->total_steps = (int)cfg_num(cfg, "total_steps", 0);
        so->three_phase = (int)cfg_num(cfg, "three_phase", 0);
        so->anneal_linear = (int)cfg_num(cfg, "linear", 0);
    }
    return o;
}

static long g_values, g_exact;

static void steps_case(nb_safetensors *f, int k, int nsteps)
{
    char mk[32], cfg[512], label[600];
    snprintf(mk, sizeof mk, "case%d", k);
    const char *c = nb_safetensors_metadata(f, mk);
    snprintf(cfg, sizeof cfg, "%s", c ? c : "");
    nb_tensor *p[NPARAM], *traj[NPARAM];
    for (int j = 0; j < NPARAM; j++) {
        p[j] = fget(f, "p.%d", j);
        traj[j] = fget(f, "%d.traj.%d", k, j);
        nb_tensor_set_requires_grad(p[j], 1);
    }
    nb_sched_opts so;
    int has_sched;
    nb_optim *o = make_case(cfg, p, &so, &has_sched);
    snprintf(label, sizeof label, "optim golden %d [%s]: create", k, cfg);
    CHECK(label, o != NULL, "%s", nb_last_error());
    double worst = 0;
    int worst_step = -1, worst_param = -1;
    for (int s = 0; o && s < nsteps; s++) {
        for (int j = 0; j < NPARAM; j++) {
            nb_tensor *g = fget(f, "g.%d.%d", s, j);
            if (g) set_grad(p[j], nb_tensor_data(g));
            else drop_grad(p[j]);
            nb_tensor_free(g);
        }
        if (has_sched && nb_sched_apply(&so, o, s)) {
            CHECK(label, 0, "nb_sched_apply: %s", nb_last_error());
            break;
        }
        nb_optim_step(o);
        for (int j = 0; j < NPARAM; j++) {
            int64_t n = p[j]->numel;
            const float *want = nb_tensor_data(traj[j]) + (size_t)s * (size_t)n, *got = nb_tensor_data(p[j]);
            double r = check_max_rel(got, want, (long)n, 1e-3, NULL);
            if (r > worst) worst = r, worst_step = s, worst_param = j;
            for (int64_t i = 0; i < n; i++) {
                g_values++;
                g_exact += memcmp(&got[i], &want[i], sizeof(float)) == 0;
            }
        }
    }
    snprintf(label, sizeof label, "optim golden %d [%s]: every step within 1e-6 of torch", k, cfg);
    CHECK(label, o && worst <= 1e-6, "max rel err %.3g at step %d, parameter %d", worst, worst_step, worst_param);

    /* torch's optimizer.state_dict()['state'] against nb_optim_state */
    if (o) {
        const nb_named_tensor *st;
        int n = nb_optim_state(o, &st), matched = 0, extra_ok = 1;
        double sw = 0;
        char bad[128] = "";
        for (int i = 0; i < n; i++) {
            nb_tensor *want = fget(f, "%d.%s", k, st[i].name);
            if (!want) {
                /* torch has no "step" for SGD, and no state at all for a parameter that
                 * never had a gradient (ours is there, zero, with step 0) */
                int K = atoi(st[i].name + strlen("state."));
                char sk[48];
                snprintf(sk, sizeof sk, "state.%d.step", K);
                nb_tensor *stp = named(o, sk);
                int zero = 1;
                for (int64_t e = 0; e < st[i].tensor->numel; e++) zero &= nb__f(st[i].tensor)[e] == 0;
                int sgd_step = strstr(st[i].name, ".step") && !strncmp(cfg, "opt=sgd", 7);
                if (!sgd_step && !(stp && nb__f(stp)[0] == 0 && zero)) {
                    extra_ok = 0;
                    snprintf(bad, sizeof bad, "unexpected %s", st[i].name);
                }
                continue;
            }
            matched++;
            double r = want->numel == st[i].tensor->numel
                           ? check_max_rel(nb_tensor_data(st[i].tensor), nb_tensor_data(want), (long)want->numel,
                                           1e-3, NULL)
                           : INFINITY;
            if (r > sw) sw = r, snprintf(bad, sizeof bad, "worst %s", st[i].name);
            nb_tensor_free(want);
        }
        /* every golden state entry of this case must have been matched */
        int golden_entries = 0;
        char prefix[32];
        snprintf(prefix, sizeof prefix, "%d.state.", k);
        for (int i = 0; i < nb_safetensors_count(f); i++)
            golden_entries += !strncmp(nb_safetensors_name(f, i), prefix, strlen(prefix));
        snprintf(label, sizeof label, "optim golden %d: nb_optim_state equals torch's state_dict (%d entries)", k,
                 golden_entries);
        CHECK(label, extra_ok && matched == golden_entries && sw <= 1e-6,
              "matched %d of %d, worst %.3g (%s)", matched, golden_entries, sw, bad);
    }
    nb_optim_free(o);
    for (int j = 0; j < NPARAM; j++) {
        nb_tensor_free(p[j]);
        nb_tensor_free(traj[j]);
    }
}

static void goldens(void)
{
    nb_safetensors *f = nb_safetensors_open(STEPS_GOLDEN);
    CHECK("open " STEPS_GOLDEN, f != NULL, "%s", nb_last_error());
    if (!f) return;
    const char *nc = nb_safetensors_metadata(f, "cases"), *ns = nb_safetensors_metadata(f, "steps");
    int cases = nc ? atoi(nc) : 0, steps = ns ? atoi(ns) : 0;
    CHECK("optim goldens: 22 cases of 10 steps", cases == 22 && steps == 10, "%d cases, %d steps", cases, steps);
    for (int k = 0; k < cases; k++) steps_case(f, k, steps);
    printf("note: %ld of %ld parameter values after each step are bit-identical to torch's\n", g_exact, g_values);
    CHECK("optim goldens: at least 99% of the values bit-identical to torch's", g_exact * 100 >= g_values * 99,
          "%ld of %ld", g_exact, g_values);
    nb_safetensors_close(f);
}

/* ---- clipping goldens ---- */

static void clip_goldens(void)
{
    nb_safetensors *f = nb_safetensors_open(CLIP_GOLDEN);
    CHECK("open " CLIP_GOLDEN, f != NULL, "%s", nb_last_error());
    if (!f) return;
    int cases = atoi(nb_safetensors_metadata(f, "cases") ? nb_safetensors_metadata(f, "cases") : "0");
    CHECK("clip goldens: 9 cases", cases == 9, "%d", cases);
    int64_t shapes[3][3] = {{6, 5}, {4}, {3, 3, 2}};
    int nd[3] = {2, 1, 3};
    for (int k = 0; k < cases; k++) {
        char key[32], cfg[256], fn[16], label[400];
        snprintf(key, sizeof key, "clip%d", k);
        snprintf(cfg, sizeof cfg, "%s", nb_safetensors_metadata(f, key));
        cfg_get(cfg, "fn", fn, sizeof fn);
        nb_tensor *p[3];
        for (int j = 0; j < 3; j++) {
            p[j] = nb_tensor_new(ctx, NB_F32, nd[j], shapes[j]);
            nb_tensor_set_requires_grad(p[j], 1);
            nb_tensor *g = j == 1 ? NULL : fget(f, "clip.g.%d", j);
            if (g) set_grad(p[j], nb_tensor_data(g));
            nb_tensor_free(g);
        }
        if (!strcmp(fn, "norm")) {
            char nt[16];
            cfg_get(cfg, "norm_type", nt, sizeof nt);
            float norm_type = strstr(nt, "inf") ? INFINITY : (float)strtod(nt, NULL);
            float total = nb_clip_grad_norm(p, 3, (float)cfg_num(cfg, "max_norm", 0), norm_type);
            nb_tensor *want = fget(f, "%d.total", k);
            snprintf(label, sizeof label, "clip golden %d [%s]: returned total norm", k, cfg);
            CHECK_CLOSE(label, &total, nb_tensor_data(want), 1, 1e-6);
            nb_tensor_free(want);
        } else {
            CHECK("clip_grad_value returns NB_OK", nb_clip_grad_value(p, 3, (float)cfg_num(cfg, "clip_value", 0)) == NB_OK,
                  "%s", nb_last_error());
        }
        double worst = 0;
        for (int j = 0; j < 3; j += 2) {
            nb_tensor *want = fget(f, "%d.g.%d", k, j);
            double r = check_max_rel(nb_tensor_grad(p[j]), nb_tensor_data(want), (long)want->numel, 1e-3, NULL);
            if (r > worst) worst = r;
            nb_tensor_free(want);
        }
        snprintf(label, sizeof label, "clip golden %d [%s]: gradients after (1e-6), the one without stays NULL", k,
                 cfg);
        CHECK(label, worst <= 1e-6 && nb_tensor_grad(p[1]) == NULL, "max rel err %.3g", worst);
        for (int j = 0; j < 3; j++) nb_tensor_free(p[j]);
    }
    nb_safetensors_close(f);
}

/* ---- behaviour beyond the goldens ---- */

static nb_tensor *vec(int64_t n, float scale, uint64_t seed)
{
    nb_tensor *t = nb_tensor_new(ctx, NB_F32, 1, &n);
    nb_rng r;
    nb_rng_seed(&r, seed);
    nb_init_normal(t, 0, scale, &r);
    nb_tensor_set_requires_grad(t, 1);
    return t;
}

/* Deterministic gradient of step s for parameter j. */
static void fake_grad(nb_tensor *p, int s, int j)
{
    nb_rng r;
    nb_rng_seed(&r, 1000u + 17u * (uint64_t)s + (uint64_t)j);
    float *g = nb__grad(p);
    for (int64_t i = 0; i < p->numel; i++) g[i] = nb_rng_normal(&r) * 0.3f;
}

typedef nb_optim *(*make_fn)(nb_tensor **p, int n);
static nb_optim *mk_sgd(nb_tensor **p, int n)
{
    return nb_sgd_new(p, n, &(nb_sgd_opts){.lr = 0.05, .momentum = 0.9, .weight_decay = 1e-3, .nesterov = 1});
}
static nb_optim *mk_adam(nb_tensor **p, int n)
{
    return nb_adam_new(p, n, &(nb_adam_opts){.lr = 0.01, .amsgrad = 1, .weight_decay = 0.01});
}
static nb_optim *mk_adamw(nb_tensor **p, int n) { return nb_adamw_new(p, n, &(nb_adam_opts){.lr = 0.01}); }

/* 10 steps straight vs 5 steps, state copied into a fresh optimizer, 5 steps. */
static void checkpoint(const char *name, make_fn make)
{
    nb_tensor *a[2] = {vec(50, 1, 1), vec(7, 1, 2)}, *b[2] = {vec(50, 1, 1), vec(7, 1, 2)};
    nb_optim *oa = make(a, 2), *ob = make(b, 2);
    for (int s = 0; s < 5; s++) {
        for (int j = 0; j < 2; j++) fake_grad(a[j], s, j), fake_grad(b[j], s, j);
        nb_optim_step(oa);
        nb_optim_step(ob);
    }
    /* "save" ob's state and parameters, "load" them into a fresh optimizer */
    nb_tensor *c[2] = {vec(50, 1, 9), vec(7, 1, 9)};
    for (int j = 0; j < 2; j++) nb_tensor_copy_in(c[j], nb_tensor_data(b[j]), b[j]->numel);
    nb_optim *oc = make(c, 2);
    const nb_named_tensor *sb, *sc;
    int nb = nb_optim_state(ob, &sb), nc = nb_optim_state(oc, &sc), names_ok = nb == nc && nb > 0;
    for (int i = 0; names_ok && i < nb; i++) {
        names_ok = !strcmp(sb[i].name, sc[i].name) && sb[i].tensor->numel == sc[i].tensor->numel;
        if (names_ok) nb_tensor_copy_in(sc[i].tensor, nb_tensor_data(sb[i].tensor), sb[i].tensor->numel);
    }
    for (int s = 5; s < 10; s++) {
        for (int j = 0; j < 2; j++) fake_grad(a[j], s, j), fake_grad(c[j], s, j);
        nb_optim_step(oa);
        nb_optim_step(oc);
    }
    int same = 1;
    for (int j = 0; j < 2; j++) same &= !memcmp(nb_tensor_data(a[j]), nb_tensor_data(c[j]), sizeof(float) * (size_t)a[j]->numel);
    char label[128];
    snprintf(label, sizeof label, "%s: state restored through nb_optim_state continues bit-identically (%d tensors)",
             name, nb);
    CHECK(label, names_ok && same, "names_ok=%d same=%d", names_ok, same);
    nb_optim_free(oa), nb_optim_free(ob), nb_optim_free(oc);
    for (int j = 0; j < 2; j++) nb_tensor_free(a[j]), nb_tensor_free(b[j]), nb_tensor_free(c[j]);
}

/* The parallel update against the serial one; no allocation per step. */
static void threads_and_alloc(const char *name, make_fn make)
{
    const int64_t N = 200000;
    float *res[2] = {NULL, NULL};
    long allocs = -1;
    for (int th = 1; th <= 2; th++) {
        nb_ctx *c = nb_ctx_new(&(nb_ctx_opts){.threads = th});
        nb_tensor *p[2] = {vec(N, 1, 5), vec(33, 1, 6)};
        nb_optim *o = make(p, 2);
        nb_sched_opts so = {.kind = NB_SCHED_COSINE, .t_max = 6, .warmup = 2};
        for (int s = 0; s < 6; s++) {
            for (int j = 0; j < 2; j++) fake_grad(p[j], s, j);
            if (s == 2 && th == 2) {
                counting(1);
                allocs = mallocs();
            }
            nb_clip_grad_norm(p, 2, 50.0f, 2.0f);
            nb_clip_grad_value(p, 2, 0.5f);
            nb_sched_apply(&so, o, s);
            nb_optim_step(o);
        }
        if (th == 2) {
            allocs = mallocs() - allocs;
            counting(0);
        }
        res[th - 1] = malloc(sizeof(float) * (size_t)N);
        memcpy(res[th - 1], nb_tensor_data(p[0]), sizeof(float) * (size_t)N);
        nb_optim_free(o);
        nb_tensor_free(p[0]), nb_tensor_free(p[1]);
        nb_ctx_free(c);
    }
    char label[160];
    snprintf(label, sizeof label, "%s: 2 threads give the same bits as 1 (200,000 elements)", name);
    CHECK(label, !memcmp(res[0], res[1], sizeof(float) * (size_t)N), "differ");
    if (COUNT_MALLOC) {
        snprintf(label, sizeof label, "%s: no heap allocation in 4 x (clip, schedule, step)", name);
        CHECK(label, allocs == 0, "%ld allocations", allocs);
    }
    free(res[0]), free(res[1]);
}

static int fails_with(void *made, const char *needle)
{
    return made == NULL && strstr(nb_last_error(), needle) != NULL;
}

static void behaviour(void)
{
    nb_tensor *p[3] = {vec(4, 1, 11), vec(3, 1, 12), vec(2, 1, 13)};

    /* defaults */
    nb_optim *o = nb_adam_new(p, 1, NULL);
    CHECK("Adam defaults: lr 1e-3, beta1 0.9", o && nb_optim_get_lr(o, 0) == 1e-3 && nb_optim_get_momentum(o, 0) == 0.9,
          "lr %g beta1 %g", nb_optim_get_lr(o, 0), nb_optim_get_momentum(o, 0));
    nb_optim_free(o);
    /* AdamW's default weight decay 1e-2 equals passing it explicitly */
    {
        nb_tensor *a = vec(6, 1, 3), *b = vec(6, 1, 3);
        nb_optim *oa = nb_adamw_new(&a, 1, NULL), *ob = nb_adamw_new(&b, 1, &(nb_adam_opts){.weight_decay = 1e-2});
        nb_tensor *c = vec(6, 1, 3);
        nb_optim *oc = nb_adamw_new(&c, 1, &(nb_adam_opts){.weight_decay = -1}); /* none */
        for (int s = 0; s < 3; s++) {
            fake_grad(a, s, 0), fake_grad(b, s, 0), fake_grad(c, s, 0);
            nb_optim_step(oa), nb_optim_step(ob), nb_optim_step(oc);
        }
        CHECK("AdamW: default weight_decay is 1e-2, negative means none",
              !memcmp(a->data, b->data, 24) && memcmp(a->data, c->data, 24) != 0, "mismatch");
        nb_optim_free(oa), nb_optim_free(ob), nb_optim_free(oc);
        nb_tensor_free(a), nb_tensor_free(b), nb_tensor_free(c);
    }

    /* bad options */
    nb_clear_error();
    CHECK("SGD without lr fails", fails_with(nb_sgd_new(p, 1, NULL), "lr is required"), "%s", nb_last_error());
    CHECK("SGD nesterov without momentum fails",
          fails_with(nb_sgd_new(p, 1, &(nb_sgd_opts){.lr = 0.1, .nesterov = 1}), "Nesterov"), "%s", nb_last_error());
    CHECK("SGD nesterov with dampening fails",
          fails_with(nb_sgd_new(p, 1, &(nb_sgd_opts){.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .nesterov = 1}),
                     "zero dampening"), "%s", nb_last_error());
    CHECK("SGD negative momentum fails",
          fails_with(nb_sgd_new(p, 1, &(nb_sgd_opts){.lr = 0.1, .momentum = -0.5}), "momentum"), "%s", nb_last_error());
    CHECK("Adam beta2 = 1 fails",
          fails_with(nb_adam_new(p, 1, &(nb_adam_opts){.beta2 = 1.0}), "invalid betas"), "%s", nb_last_error());
    CHECK("Adam negative eps fails", fails_with(nb_adam_new(p, 1, &(nb_adam_opts){.eps = -1}), "epsilon"), "%s",
          nb_last_error());
    CHECK("Adam negative weight decay fails",
          fails_with(nb_adam_new(p, 1, &(nb_adam_opts){.weight_decay = -0.1}), "weight_decay"), "%s", nb_last_error());
    nb_tensor *dup[2] = {p[0], p[0]};
    CHECK("a parameter given twice fails", fails_with(nb_adam_new(dup, 2, NULL), "given twice"), "%s",
          nb_last_error());
    nb_tensor *withnull[2] = {p[0], NULL};
    CHECK("a NULL parameter fails", fails_with(nb_adam_new(withnull, 2, NULL), "parameter 1 of group 0 is NULL"),
          "%s", nb_last_error());
    nb_tensor *ints = nb_tensor_new(ctx, NB_I64, 1, (int64_t[]){3});
    CHECK("an I64 parameter fails", fails_with(nb_sgd_new(&ints, 1, &(nb_sgd_opts){.lr = 1}), "not F32"), "%s",
          nb_last_error());
    nb_tensor_free(ints);
    nb_tensor *arena = nb_add_scalar(p[0], 1.0f);
    CHECK("an op result as parameter fails", fails_with(nb_sgd_new(&arena, 1, &(nb_sgd_opts){.lr = 1}), "arena"),
          "%s", nb_last_error());
    CHECK("a NULL parameter list with n > 0 fails", fails_with(nb_sgd_new(NULL, 2, &(nb_sgd_opts){.lr = 1}), "bad parameter list"),
          "%s", nb_last_error());

    /* groups */
    o = nb_sgd_new(p, 1, &(nb_sgd_opts){.lr = 0.1, .weight_decay = 0.01});
    CHECK("add_group: a parameter already in group 0 fails",
          nb_optim_add_group(o, &(nb_param_group){.params = p, .n = 2}) == NB_ERR_ARG &&
              strstr(nb_last_error(), "more than one parameter group") && nb_optim_num_groups(o) == 1,
          "%s (groups %d)", nb_last_error(), nb_optim_num_groups(o));
    CHECK("add_group: lr and weight_decay inherit",
          nb_optim_add_group(o, &(nb_param_group){.params = p + 1, .n = 1}) == NB_OK && nb_optim_num_groups(o) == 2 &&
              nb_optim_get_lr(o, 1) == 0.1,
          "%s", nb_last_error());
    CHECK("add_group: own lr",
          nb_optim_add_group(o, &(nb_param_group){.params = p + 2, .n = 1, .lr = 0.5}) == NB_OK &&
              nb_optim_get_lr(o, 2) == 0.5 && nb_optim_get_base_lr(o, 2) == 0.5,
          "%s", nb_last_error());
    CHECK("set_lr of every group", nb_optim_set_lr(o, -1, 0.25) == NB_OK && nb_optim_get_lr(o, 0) == 0.25 &&
                                       nb_optim_get_lr(o, 2) == 0.25 && nb_optim_get_base_lr(o, 2) == 0.5,
          "%s", nb_last_error());
    CHECK("set_base_lr keeps the current lr",
          nb_optim_set_base_lr(o, 1, 0.75) == NB_OK && nb_optim_get_base_lr(o, 1) == 0.75 &&
              nb_optim_get_lr(o, 1) == 0.25 && nb_optim_set_base_lr(o, 0, 0) == NB_ERR_ARG,
          "%s", nb_last_error());
    CHECK("set_lr of a missing group fails", nb_optim_set_lr(o, 3, 0.1) == NB_ERR_ARG && strstr(nb_last_error(), "no group 3"),
          "%s", nb_last_error());
    CHECK("set_lr negative fails", nb_optim_set_lr(o, 0, -1) == NB_ERR_ARG, "accepted");
    CHECK("get_lr of a missing group is NaN", isnan(nb_optim_get_lr(o, 7)), "not NaN");
    nb_optim_free(o);

    /* momentum turned on later: buffers appear, the first momentum step starts them at g */
    {
        nb_tensor *q = vec(3, 1, 21);
        float th0[3], g1[3], g2[3];
        memcpy(th0, q->data, sizeof th0);
        o = nb_sgd_new(&q, 1, &(nb_sgd_opts){.lr = 0.1});
        const nb_named_tensor *st;
        int before = nb_optim_state(o, &st);
        fake_grad(q, 0, 0);
        memcpy(g1, q->grad, sizeof g1);
        nb_optim_step(o); /* plain step */
        nb_status ms = nb_optim_set_momentum(o, 0, 0.9);
        int after = nb_optim_state(o, &st);
        fake_grad(q, 1, 0);
        memcpy(g2, q->grad, sizeof g2);
        nb_optim_step(o); /* b = g2 */
        fake_grad(q, 1, 0);
        nb_optim_step(o); /* b = 0.9 b + g2 */
        int ok = 1;
        for (int i = 0; i < 3; i++) {
            float t = fmaf(-0.1f, g1[i], th0[i]);
            t = fmaf(-0.1f, g2[i], t);
            float b = fmaf(1.0f, g2[i], g2[i] * 0.9f);
            t = fmaf(-0.1f, b, t);
            ok &= nb__f(q)[i] == t;
        }
        nb_tensor *buf = named(o, "state.0.momentum_buffer"), *step = named(o, "state.0.step");
        CHECK("SGD momentum switched on later: buffer allocated, started at the gradient, then μb + g",
              ms == NB_OK && before == 1 && after == 2 && ok && buf && step && nb__f(step)[0] == 2.0f,
              "status %d, entries %d -> %d, ok %d", ms, before, after, ok);
        CHECK("set_momentum negative fails", nb_optim_set_momentum(o, 0, -0.1) == NB_ERR_ARG, "accepted");
        nb_optim_free(o);
        o = nb_adam_new(&q, 1, NULL);
        CHECK("Adam set_momentum sets beta1, 1.0 fails",
              nb_optim_set_momentum(o, -1, 0.8) == NB_OK && nb_optim_get_momentum(o, 0) == 0.8 &&
                  nb_optim_set_momentum(o, 0, 1.0) == NB_ERR_ARG,
              "%s", nb_last_error());
        nb_optim_free(o);
        nb_tensor_free(q);
    }

    /* zero_grad zeroes in place; a NULL gradient stays NULL and the parameter does not move */
    {
        nb_tensor *a = vec(5, 1, 31), *b = vec(5, 1, 32);
        nb_tensor *ab[2] = {a, b};
        o = nb_sgd_new(ab, 2, &(nb_sgd_opts){.lr = 0.1, .momentum = 0.9, .weight_decay = 0.1});
        fake_grad(a, 0, 0);
        float b0[5];
        memcpy(b0, b->data, sizeof b0);
        nb_optim_step(o);
        int b_same = !memcmp(b0, b->data, sizeof b0);
        nb_optim_zero_grad(o);
        int zeroed = a->grad != NULL && b->grad == NULL;
        for (int i = 0; i < 5; i++) zeroed &= a->grad[i] == 0;
        float a1[5];
        memcpy(a1, a->data, sizeof a1);
        nb_optim_step(o); /* zero gradient: momentum and decay still move it, as torch 1.13 */
        CHECK("zero_grad zeroes in place; NULL gradients are skipped; zero gradients still step",
              b_same && zeroed && memcmp(a1, a->data, sizeof a1) != 0, "b_same %d zeroed %d", b_same, zeroed);
        nb_optim_free(o);
        nb_tensor_free(a), nb_tensor_free(b);
    }

    /* clipping: bad arguments, nothing to clip, non-finite gradients */
    CHECK("clip_grad_norm: norm_type 0 is NaN with a message",
          isnan(nb_clip_grad_norm(p, 1, 1, 0)) && strstr(nb_last_error(), "norm_type"), "%s", nb_last_error());
    CHECK("clip_grad_norm: NULL list is NaN", isnan(nb_clip_grad_norm(NULL, 2, 1, 2)), "not NaN");
    {
        nb_tensor *a = vec(4, 1, 41), *b = vec(4, 1, 42);
        nb_tensor *ab[2] = {a, b};
        CHECK("clip_grad_norm: no gradients gives 0", nb_clip_grad_norm(ab, 2, 1, 2) == 0.0f, "nonzero");
        fake_grad(a, 0, 0);
        a->grad[2] = INFINITY;
        float t = nb_clip_grad_norm(ab, 2, 1, 2);
        CHECK("clip_grad_norm: an infinite gradient gives an infinite total and NaN/0 gradients (as torch)",
              isinf(t) && a->grad[0] == 0 && isnan(a->grad[2]), "total %g g0 %g g2 %g", t, a->grad[0], a->grad[2]);
        CHECK("clip_grad_value: negative value fails",
              nb_clip_grad_value(ab, 2, -1) == NB_ERR_ARG && strstr(nb_last_error(), "clip_value"), "%s",
              nb_last_error());
        nb_tensor_free(a), nb_tensor_free(b);
    }
    CHECK("nb_optim_state(NULL) is -1", nb_optim_state(NULL, NULL) == -1, "not -1");
    CHECK("nb_optim_step(NULL) fails", nb_optim_step(NULL) == NB_ERR_ARG, "accepted");
    for (int j = 0; j < 3; j++) nb_tensor_free(p[j]);
}

int main(void)
{
    ctx = nb_ctx_new(&(nb_ctx_opts){.seed = 1, .threads = 1});
    goldens();
    clip_goldens();
    checkpoint("SGD nesterov", mk_sgd);
    checkpoint("Adam amsgrad", mk_adam);
    checkpoint("AdamW", mk_adamw);
    threads_and_alloc("SGD nesterov", mk_sgd);
    threads_and_alloc("Adam amsgrad", mk_adam);
    threads_and_alloc("AdamW", mk_adamw);
    behaviour();
    nb_ctx_free(ctx);
    CHECK_DONE();
}
