/* test_augment.c - image augmentation (src/augment):
 *   - torchvision goldens (tools/goldens/gen_augment.py, tests/goldens/aug_*.safetensors):
 *     flips, crops, centre crops, pads (every mode), erase and cutout exactly; resize,
 *     resized crop, rotation and affine with >= 99% of the values within 1/255; colour
 *     adjustments within 1/255; grayscale, normalize, MixUp and CutMix within 1e-6;
 *     deterministic pipelines written as SPEC strings;
 *   - the samplers over many draws with fixed seeds: ranges, means and variances of
 *     RandomResizedCrop, RandomErasing, ColorJitter (and its order), RandomAffine,
 *     RandomCrop, Beta(α, α) for MixUp/CutMix, the noise transforms;
 *   - pipelines: same seed same result, tensor and buffer paths agree, two threads
 *     with their own arenas, output shapes, no arena growth in steady state;
 *   - bad input: SPEC errors with the column and a caret, bad shapes and parameters. */
#include "check.h"
#include "core/arena.h"
#include "augment/transform.h"

#include <pthread.h>

static nb_ctx *ctx;

/* ---- config strings "k1=v1 k2=v2 ... spec=rest of line" ---- */

static const char *cfg_get(const char *cfg, const char *key, char *out, size_t n)
{
    size_t kl = strlen(key);
    out[0] = 0;
    for (const char *p = cfg; p && *p;) {
        if (!strncmp(p, key, kl) && p[kl] == '=') {
            const char *v = p + kl + 1;
            size_t l = strcmp(key, "spec") ? strcspn(v, " ") : strlen(v);
            if (l >= n) l = n - 1;
            memcpy(out, v, l);
            out[l] = 0;
            return out;
        }
        p = strchr(p, ' ');
        if (p) p++;
    }
    return out;
}

static double cfg_num(const char *cfg, const char *key, double dflt)
{
    char v[64];
    return *cfg_get(cfg, key, v, sizeof v) ? atof(v) : dflt;
}

static int cfg_list(const char *cfg, const char *key, float *out, int max)
{
    char v[256];
    cfg_get(cfg, key, v, sizeof v);
    int n = 0;
    for (char *p = v; *p && n < max;) {
        out[n++] = strtof(p, &p);
        if (*p == ',') p++;
        else break;
    }
    return n;
}

/* ---- comparisons ---- */

typedef struct {
    int cases;
    double worst_frac; /* smallest fraction within 1/255 */
    double worst_max;  /* largest |diff| */
} stats;
static stats st_warp, st_color;

static int same_shape(nb_tensor *a, nb_tensor *b)
{
    if (!a || !b || nb_tensor_ndim(a) != nb_tensor_ndim(b)) return 0;
    for (int i = 0; i < nb_tensor_ndim(a); i++)
        if (nb_tensor_dim(a, i) != nb_tensor_dim(b, i)) return 0;
    return 1;
}

static void diff_stats(nb_tensor *got, nb_tensor *want, double *maxd, double *frac)
{
    const float *g = nb_tensor_data(got), *w = nb_tensor_data(want);
    int64_t n = nb_tensor_numel(want), within = 0;
    *maxd = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)g[i] - (double)w[i]);
        if (d != d) d = INFINITY;
        if (d > *maxd) *maxd = d;
        if (d <= 1.0 / 255.0) within++;
    }
    *frac = n ? (double)within / (double)n : 1.0;
}

typedef enum { EXACT, CLOSE, COLOR, WARP } tol_kind;

static void compare(const char *name, nb_tensor *got, nb_tensor *want, tol_kind k)
{
    char gs[64] = "NULL", ws[64];
    if (got) nb_shape_str(got, gs, sizeof gs);
    nb_shape_str(want, ws, sizeof ws);
    if (!same_shape(got, want)) {
        CHECK(name, 0, "shape %s, want %s (%s)", gs, ws, got ? "" : nb_last_error());
        return;
    }
    double maxd, frac;
    diff_stats(got, want, &maxd, &frac);
    switch (k) {
    case EXACT: CHECK(name, maxd == 0, "max |diff| %.3g, want exact", maxd); break;
    case CLOSE: CHECK(name, maxd <= 1e-6, "max |diff| %.3g > 1e-6", maxd); break;
    case COLOR:
        st_color.cases++;
        if (maxd > st_color.worst_max) st_color.worst_max = maxd;
        CHECK(name, maxd <= 1.0 / 255.0, "max |diff| %.3g > 1/255", maxd);
        break;
    case WARP:
        st_warp.cases++;
        if (maxd > st_warp.worst_max) st_warp.worst_max = maxd;
        if (st_warp.cases == 1 || frac < st_warp.worst_frac) st_warp.worst_frac = frac;
        if (frac < 1) printf("# %s: %.3f%% within 1/255, max %.3g\n", name, 100 * frac, maxd);
        CHECK(name, frac >= 0.99, "%.2f%% of values within 1/255 (max |diff| %.3g), want >= 99%%", 100 * frac, maxd);
        break;
    }
}

static nb_interp interp_of(const char *cfg)
{
    char v[32];
    return !strcmp(cfg_get(cfg, "interp", v, sizeof v), "bilinear") ? NB_INTERP_BILINEAR : NB_INTERP_NEAREST;
}

static nb_pad_mode mode_of(const char *s)
{
    return !strcmp(s, "edge") ? NB_PAD_EDGE : !strcmp(s, "reflect") ? NB_PAD_REFLECT
                                            : !strcmp(s, "symmetric") ? NB_PAD_SYMMETRIC
                                                                      : NB_PAD_CONSTANT;
}

/* Run one golden case; returns the result (arena) and the tolerance. */
static nb_tensor *run_case(nb_safetensors *f, const char *cfg, tol_kind *tol, nb_tensor **ins, int *nins)
{
    char op[32], inname[16], v[256];
    cfg_get(cfg, "op", op, sizeof op);
    cfg_get(cfg, "in", inname, sizeof inname);
    nb_tensor *x = NULL;
    if (*inname) {
        x = nb_safetensors_get(f, ctx, inname);
        ins[(*nins)++] = x;
    }
    *tol = EXACT;
#define N(k) cfg_num(cfg, k, 0)
#define I(k) (int64_t) cfg_num(cfg, k, 0)
    if (!strcmp(op, "hflip")) return nb_img_hflip(x);
    if (!strcmp(op, "vflip")) return nb_img_vflip(x);
    if (!strcmp(op, "crop")) return nb_img_crop(x, I("top"), I("left"), I("h"), I("w"));
    if (!strcmp(op, "center_crop")) return nb_img_center_crop(x, I("h"), I("w"));
    if (!strcmp(op, "pad")) {
        float p[4];
        cfg_list(cfg, "ltrb", p, 4);
        int64_t ltrb[4] = {(int64_t)p[0], (int64_t)p[1], (int64_t)p[2], (int64_t)p[3]};
        return nb_img_pad(x, ltrb, mode_of(cfg_get(cfg, "mode", v, sizeof v)), (float)N("fill"));
    }
    if (!strcmp(op, "resize")) {
        *tol = WARP;
        return nb_img_resize(x, I("h"), I("w"), interp_of(cfg), (int)I("aa"));
    }
    if (!strcmp(op, "resized_crop")) {
        *tol = WARP;
        return nb_img_resized_crop(x, I("top"), I("left"), I("h"), I("w"), I("oh"), I("ow"), interp_of(cfg), (int)I("aa"));
    }
    if (!strcmp(op, "rotate") || !strcmp(op, "affine")) {
        *tol = WARP;
        nb_warp_opts o = {.interpolation = interp_of(cfg), .fill = (float)N("fill"), .expand = (int)I("expand")};
        o.has_center = cfg_list(cfg, "center", o.center, 2) == 2;
        if (!strcmp(op, "rotate")) return nb_img_rotate(x, (float)N("angle"), &o);
        return nb_img_affine(x, (float)N("angle"), (float)N("tx"), (float)N("ty"), (float)N("scale"), (float)N("shx"),
                             (float)N("shy"), &o);
    }
    if (!strcmp(op, "brightness") || !strcmp(op, "contrast") || !strcmp(op, "saturation") || !strcmp(op, "hue")) {
        *tol = COLOR;
        float fa = (float)N("f");
        return op[0] == 'b' ? nb_img_adjust_brightness(x, fa)
             : op[0] == 'c' ? nb_img_adjust_contrast(x, fa)
             : op[0] == 's' ? nb_img_adjust_saturation(x, fa)
                            : nb_img_adjust_hue(x, fa);
    }
    if (!strcmp(op, "grayscale")) {
        *tol = CLOSE;
        return nb_img_grayscale(x, (int)I("n"));
    }
    if (!strcmp(op, "normalize")) {
        *tol = CLOSE;
        float m[4], s[4];
        int n = cfg_list(cfg, "mean", m, 4);
        cfg_list(cfg, "std", s, 4);
        return nb_img_normalize(x, m, s, n);
    }
    if (!strcmp(op, "erase")) {
        float vals[8];
        if (!strcmp(cfg_get(cfg, "v", v, sizeof v), "patch")) {
            nb_tensor *p = nb_safetensors_get(f, ctx, "patch");
            ins[(*nins)++] = p;
            return nb_img_erase(x, I("top"), I("left"), I("h"), I("w"), nb_tensor_data(p), nb_tensor_numel(p));
        }
        int n = cfg_list(cfg, "v", vals, 8);
        return nb_img_erase(x, I("top"), I("left"), I("h"), I("w"), vals, n);
    }
    if (!strcmp(op, "cutout")) return nb_img_cutout(x, I("cy"), I("cx"), I("length"), (float)N("v"));
    if (!strncmp(op, "mixup", 5) || !strncmp(op, "cutmix", 6)) {
        *tol = CLOSE;
        nb_tensor *xm = nb_safetensors_get(f, ctx, "xm"), *ym = nb_safetensors_get(f, ctx, "ym"), *xo = NULL, *yo = NULL;
        ins[(*nins)++] = xm;
        ins[(*nins)++] = ym;
        float adj = -1;
        nb_status s = op[0] == 'm' ? nb_mixup(xm, ym, I("K"), (float)N("lambda"), &xo, &yo)
                                   : nb_cutmix(xm, ym, I("K"), (float)N("lambda"), I("cx"), I("cy"), &xo, &yo, &adj);
        if (s) return NULL;
        if (op[0] == 'c') {
            char nm[96];
            snprintf(nm, sizeof nm, "cutmix lambda_adj (lambda %g)", N("lambda"));
            CHECK(nm, fabs(adj - N("adj")) < 1e-6, "got %.9g want %.9g", (double)adj, N("adj"));
        }
        return strchr(op, '_') ? yo : xo;
    }
    if (!strcmp(op, "pipeline")) {
        cfg_get(cfg, "spec", v, sizeof v);
        *tol = strstr(v, "resize") || strstr(v, "Resize") || strstr(v, "rotation") || strstr(v, "Affine") ? WARP
             : strstr(v, "jitter")                                                                         ? COLOR
                                                                                                           : CLOSE;
        nb_transform *t = nb_transform_parse(v);
        if (!t) {
            printf("# %s: %s\n", v, nb_last_error());
            return NULL;
        }
        nb_rng r;
        nb_rng_seed(&r, 5);
        nb_tensor *y = nb_transform_apply(t, x, &r);
        nb_transform_free(t);
        return y;
    }
#undef N
#undef I
    printf("# unknown golden op '%s'\n", op);
    return NULL;
}

static void golden_file(const char *path)
{
    nb_safetensors *f = nb_safetensors_open(path);
    CHECK(path, f != NULL, "%s", nb_last_error());
    if (!f) return;
    int n = nb_safetensors_count(f), cases = 0;
    for (int i = 0; i < n; i++) {
        const char *name = nb_safetensors_name(f, i);
        const char *cfg = nb_safetensors_metadata(f, name);
        if (!cfg || strncmp(cfg, "op=", 3)) continue; /* an input */
        nb_tensor *ins[4] = {0};
        int nins = 0;
        tol_kind tol;
        nb_tensor *got = run_case(f, cfg, &tol, ins, &nins);
        nb_tensor *want = nb_safetensors_get(f, ctx, name);
        char label[160];
        snprintf(label, sizeof label, "golden %s [%s]", name, cfg);
        compare(label, got, want, tol);
        nb_tensor_free(want);
        for (int k = 0; k < nins; k++) nb_tensor_free(ins[k]);
        nb_ctx_reset(ctx);
        cases++;
    }
    printf("# %s: %d cases\n", path, cases);
    nb_safetensors_close(f);
}

static void test_goldens(void)
{
    golden_file("tests/goldens/aug_geometry.safetensors");
    golden_file("tests/goldens/aug_color.safetensors");
    golden_file("tests/goldens/aug_erase_mix.safetensors");
    golden_file("tests/goldens/aug_pipeline.safetensors");
    printf("# resize/rotate/affine: %d cases, worst %.3f%% of values within 1/255, max |diff| %.3g\n", st_warp.cases,
           100 * st_warp.worst_frac, st_warp.worst_max);
    printf("# colour: %d cases, max |diff| %.3g\n", st_color.cases, st_color.worst_max);
}

/* ---- statistics helpers ---- */

typedef struct {
    double n, sum, sq, mn, mx;
} moments;
static void mo_add(moments *m, double v)
{
    if (m->n == 0 || v < m->mn) m->mn = v;
    if (m->n == 0 || v > m->mx) m->mx = v;
    m->n++;
    m->sum += v;
    m->sq += v * v;
}
static double mo_mean(const moments *m) { return m->sum / m->n; }
static double mo_var(const moments *m)
{
    double mu = mo_mean(m);
    return m->sq / m->n - mu * mu;
}

/* mean within `k` standard errors of mu, variance within rel of var */
static void check_uniform(const char *name, const moments *m, double lo, double hi, double slack)
{
    double mu = (lo + hi) / 2, var = (hi - lo) * (hi - lo) / 12, se = sqrt(var / m->n);
    CHECK(name, m->mn >= lo - slack && m->mx <= hi + slack && fabs(mo_mean(m) - mu) < 5 * se + slack / 2 &&
                    fabs(mo_var(m) - var) < 0.05 * var + slack,
          "range [%g, %g] mean %g var %g; want U[%g, %g]: mean %g var %g", m->mn, m->mx, mo_mean(m), mo_var(m), lo, hi, mu,
          var);
}

static void test_samplers(void)
{
    nb_rng r;
    const int N = 20000;

    /* RandomResizedCrop without rejections: scale (0.1, 0.5) never gives a side > the image */
    nb_rng_seed(&r, 1);
    moments area = {0}, lr = {0}, pos = {0};
    int inside = 1;
    for (int i = 0; i < N; i++) {
        int64_t b[4];
        nb_random_resized_crop_params(1000, 1000, (float[]){0.1f, 0.5f}, (float[]){0.75f, 4.0f / 3.0f}, &r, b);
        inside &= b[0] >= 0 && b[1] >= 0 && b[0] + b[2] <= 1000 && b[1] + b[3] <= 1000;
        mo_add(&area, (double)(b[2] * b[3]) / 1e6);
        mo_add(&lr, log((double)b[3] / (double)b[2]));
        if (b[2] < 1000) mo_add(&pos, (double)b[0] / (double)(1000 - b[2]));
    }
    CHECK("random_resized_crop boxes inside the image", inside, "a box left the image");
    check_uniform("random_resized_crop area fraction ~ U[0.1, 0.5]", &area, 0.1, 0.5, 0.003);
    check_uniform("random_resized_crop log(w/h) ~ U[log 3/4, log 4/3]", &lr, log(0.75), log(4.0 / 3.0), 0.01);
    check_uniform("random_resized_crop top ~ uniform", &pos, 0, 1, 0.001);
    /* defaults on Fashion-MNIST's size: every box inside, area and aspect in range */
    moments a2 = {0};
    int ok = 1;
    for (int i = 0; i < N; i++) {
        int64_t b[4];
        nb_random_resized_crop_params(28, 28, (float[]){0.08f, 1.0f}, (float[]){0.75f, 4.0f / 3.0f}, &r, b);
        ok &= b[0] >= 0 && b[1] >= 0 && b[2] >= 1 && b[3] >= 1 && b[0] + b[2] <= 28 && b[1] + b[3] <= 28;
        mo_add(&a2, (double)(b[2] * b[3]) / 784.0);
    }
    CHECK("random_resized_crop 28x28 defaults", ok && a2.mn > 0.05 && a2.mx <= 1.0 && mo_mean(&a2) > 0.45 && mo_mean(&a2) < 0.6,
          "inside %d, area in [%g, %g] mean %g", ok, a2.mn, a2.mx, mo_mean(&a2));
    int64_t fb[4];
    nb_random_resized_crop_params(30, 40, (float[]){0.9f, 1.0f}, (float[]){10.0f, 20.0f}, &r, fb);
    CHECK("random_resized_crop falls back to the central crop", fb[0] == 13 && fb[1] == 0 && fb[2] == 4 && fb[3] == 40,
          "box %lld %lld %lld %lld, want 13 0 4 40", (long long)fb[0], (long long)fb[1], (long long)fb[2], (long long)fb[3]);

    nb_random_resized_crop_params(30, 40, (float[]){0.5f, 0.1f}, (float[]){1.0f, 2.0f}, &r, fb);
    int64_t eb[4];
    CHECK("samplers given bad ranges: whole image / no erasing",
          fb[0] == 0 && fb[1] == 0 && fb[2] == 30 && fb[3] == 40 &&
              !nb_random_erasing_params(30, 40, (float[]){0.1f, 0.2f}, (float[]){0.0f, 2.0f}, &r, eb) &&
              isnan(nb_rng_beta(&r, 0, 1)),
          "box %lld %lld %lld %lld", (long long)fb[0], (long long)fb[1], (long long)fb[2], (long long)fb[3]);

    /* RandomErasing without rejections (scale ≤ 0.25, ratio in [0.3, 3.3] keeps h, w < the image) */
    moments ea = {0}, el = {0};
    int found = 0;
    ok = 1;
    for (int i = 0; i < N; i++) {
        int64_t b[4];
        if (!nb_random_erasing_params(200, 200, (float[]){0.02f, 0.25f}, (float[]){0.3f, 3.3f}, &r, b)) continue;
        found++;
        ok &= b[0] >= 0 && b[1] >= 0 && b[2] < 200 && b[3] < 200 && b[0] + b[2] <= 200 && b[1] + b[3] <= 200;
        mo_add(&ea, (double)(b[2] * b[3]) / 40000.0);
        mo_add(&el, log((double)b[2] / (double)b[3]));
    }
    CHECK("random_erasing boxes (always found, inside, h < H, w < W)", found == N && ok, "found %d of %d, ok %d", found, N, ok);
    check_uniform("random_erasing area fraction ~ U[0.02, 0.25]", &ea, 0.02, 0.25, 0.004);
    check_uniform("random_erasing log(h/w) ~ U[log 0.3, log 3.3]", &el, log(0.3), log(3.3), 0.02);
    /* defaults on 28x28: some tries are rejected (h or w >= 28), results always valid */
    found = 0;
    ok = 1;
    moments ed = {0};
    for (int i = 0; i < N; i++) {
        int64_t b[4];
        if (!nb_random_erasing_params(28, 28, (float[]){0.02f, 0.33f}, (float[]){0.3f, 3.3f}, &r, b)) continue;
        found++;
        ok &= b[2] < 28 && b[3] < 28 && b[0] + b[2] <= 28 && b[1] + b[3] <= 28;
        mo_add(&ed, (double)(b[2] * b[3]) / 784.0);
    }
    CHECK("random_erasing 28x28 defaults", found > N * 0.999 && ok && ed.mn >= 0.01 && ed.mx <= 0.36,
          "found %d of %d, area in [%g, %g]", found, N, ed.mn, ed.mx);
    int64_t nb[4];
    CHECK("random_erasing gives up after 10 tries", !nb_random_erasing_params(2, 2, (float[]){0.9f, 1.0f},
                                                                              (float[]){1.0f, 1.0f}, &r, nb),
          "found a box in a 2x2 image with area >= 90%%");

    /* ColorJitter: factor ranges and a uniform order */
    moments f[4] = {{0}};
    int perm_count[24] = {0};
    for (int i = 0; i < 24000; i++) {
        int order[4];
        float fa[4];
        nb_color_jitter_params((float[]){0.6f, 1.4f}, (float[]){0.5f, 1.5f}, (float[]){0.0f, 2.2f},
                               (float[]){-0.1f, 0.1f}, &r, order, fa);
        for (int k = 0; k < 4; k++) mo_add(&f[k], fa[k]);
        int code = 0, used = 0;
        for (int k = 0; k < 4; k++) { /* Lehmer code of the permutation */
            int smaller = 0;
            for (int j = 0; j < order[k]; j++) smaller += !(used >> j & 1);
            used |= 1 << order[k];
            code = code * (4 - k) + smaller;
        }
        perm_count[code]++;
    }
    check_uniform("color_jitter brightness ~ U[0.6, 1.4]", &f[0], 0.6, 1.4, 0);
    check_uniform("color_jitter contrast ~ U[0.5, 1.5]", &f[1], 0.5, 1.5, 0);
    check_uniform("color_jitter saturation ~ U[0, 2.2]", &f[2], 0.0, 2.2, 0);
    check_uniform("color_jitter hue ~ U[-0.1, 0.1]", &f[3], -0.1, 0.1, 0);
    int pmin = 1 << 30, pmax = 0;
    for (int k = 0; k < 24; k++) {
        if (perm_count[k] < pmin) pmin = perm_count[k];
        if (perm_count[k] > pmax) pmax = perm_count[k];
    }
    CHECK("color_jitter order: all 24 permutations about equally often", pmin > 850 && pmax < 1150,
          "counts in [%d, %d], want about 1000", pmin, pmax);
    int order[4];
    float fa[4];
    nb_color_jitter_params(NULL, NULL, NULL, NULL, &r, order, fa);
    CHECK("color_jitter without ranges gives identity factors", fa[0] == 1 && fa[1] == 1 && fa[2] == 1 && fa[3] == 0,
          "%g %g %g %g", fa[0], fa[1], fa[2], fa[3]);

    /* RandomAffine */
    moments ang = {0}, sc = {0}, shx = {0}, shy = {0};
    int tx_ok = 1, tx_min = 0, tx_max = 0;
    for (int i = 0; i < N; i++) {
        float p[6];
        nb_random_affine_params((float[]){-30, 30}, (float[]){0.1f, 0.2f}, (float[]){0.8f, 1.2f},
                                (float[]){-10, 10, 0, 5}, 28, 28, &r, p);
        mo_add(&ang, p[0]);
        tx_ok &= p[1] == floorf(p[1]) && p[2] == floorf(p[2]) && fabsf(p[1]) <= 3 && fabsf(p[2]) <= 6;
        if (p[1] < tx_min) tx_min = (int)p[1];
        if (p[1] > tx_max) tx_max = (int)p[1];
        mo_add(&sc, p[3]);
        mo_add(&shx, p[4]);
        mo_add(&shy, p[5]);
    }
    check_uniform("random_affine angle ~ U[-30, 30]", &ang, -30, 30, 0);
    CHECK("random_affine translations are integers within round(0.1·28), round(0.2·28)", tx_ok && tx_min == -3 && tx_max == 3,
          "ok %d, tx in [%d, %d]", tx_ok, tx_min, tx_max);
    check_uniform("random_affine scale ~ U[0.8, 1.2]", &sc, 0.8, 1.2, 0);
    check_uniform("random_affine shear x ~ U[-10, 10]", &shx, -10, 10, 0);
    check_uniform("random_affine shear y ~ U[0, 5]", &shy, 0, 5, 0);

    /* RandomCrop positions */
    moments top = {0}, left = {0};
    for (int i = 0; i < N; i++) {
        int64_t t, l;
        nb_random_crop_params(32, 32, 28, 28, &r, &t, &l);
        mo_add(&top, (double)t);
        mo_add(&left, (double)l);
    }
    CHECK("random_crop positions uniform over 0..4", top.mn == 0 && top.mx == 4 && fabs(mo_mean(&top) - 2) < 0.05 &&
                                                         fabs(mo_var(&top) - 2) < 0.1 && fabs(mo_mean(&left) - 2) < 0.05,
          "top in [%g, %g] mean %g var %g (want 2, 2)", top.mn, top.mx, mo_mean(&top), mo_var(&top));
    int64_t t0, l0;
    CHECK("random_crop larger than the image is an error",
          nb_random_crop_params(28, 28, 30, 28, &r, &t0, &l0) == NB_ERR_ARG && strstr(nb_last_error(), "pad_if_needed"),
          "%s", nb_last_error());

    /* Beta(α, α) for MixUp / CutMix: mean α/(2α) = 1/2, variance 1/(4(2α+1)) */
    double alphas[4] = {1.0, 0.2, 2.0, 0.4};
    for (int k = 0; k < 4; k++) {
        moments m = {0};
        for (int i = 0; i < N; i++) mo_add(&m, nb_rng_beta(&r, alphas[k], alphas[k]));
        double var = 1.0 / (4.0 * (2.0 * alphas[k] + 1.0)), se = sqrt(var / N);
        char name[64];
        snprintf(name, sizeof name, "Beta(%g, %g) mean 1/2, variance 1/(4(2a+1))", alphas[k], alphas[k]);
        CHECK(name, m.mn >= 0 && m.mx <= 1 && fabs(mo_mean(&m) - 0.5) < 5 * se && fabs(mo_var(&m) - var) < 0.04 * var,
              "range [%g, %g] mean %g var %g, want 0.5, %g", m.mn, m.mx, mo_mean(&m), mo_var(&m), var);
    }
    moments b25 = {0};
    for (int i = 0; i < N; i++) mo_add(&b25, nb_rng_beta(&r, 2, 5));
    CHECK("Beta(2, 5) mean 2/7, variance 10/392", fabs(mo_mean(&b25) - 2.0 / 7) < 0.004 && fabs(mo_var(&b25) - 10.0 / 392) < 0.0015,
          "mean %g var %g", mo_mean(&b25), mo_var(&b25));
}

static void test_noise(void)
{
    nb_rng r;
    nb_rng_seed(&r, 9);
    int64_t shape[3] = {3, 64, 64};
    nb_tensor *x = nb_tensor_new(ctx, NB_F32, 3, shape);
    float *xd = nb_tensor_data(x);
    for (int64_t i = 0; i < nb_tensor_numel(x); i++) xd[i] = 0.5f;

    nb_tensor *y = nb_img_gaussian_noise(x, 0.02f, 0.1f, 1, &r);
    moments m = {0};
    for (int64_t i = 0; i < nb_tensor_numel(y); i++) mo_add(&m, nb_tensor_data(y)[i] - 0.5);
    CHECK("gaussian_noise: x + N(mean, sigma²)", fabs(mo_mean(&m) - 0.02) < 0.003 && fabs(sqrt(mo_var(&m)) - 0.1) < 0.003,
          "mean %g std %g", mo_mean(&m), sqrt(mo_var(&m)));
    for (int64_t i = 0; i < nb_tensor_numel(x); i++) xd[i] = 0.95f;
    y = nb_img_gaussian_noise(x, 0, 0.2f, 1, &r);
    nb_tensor *yn = nb_img_gaussian_noise(x, 0, 0.2f, 0, &r);
    moments c = {0}, u = {0};
    for (int64_t i = 0; i < nb_tensor_numel(y); i++) {
        mo_add(&c, nb_tensor_data(y)[i]);
        mo_add(&u, nb_tensor_data(yn)[i]);
    }
    CHECK("gaussian_noise clip=True stays in [0, 1], clip=False does not", c.mn >= 0 && c.mx <= 1 && u.mx > 1.3,
          "clipped [%g, %g], unclipped max %g", c.mn, c.mx, u.mx);

    for (int64_t i = 0; i < nb_tensor_numel(x); i++) xd[i] = 0.5f;
    y = nb_img_additive_gaussian_noise(x, 0, 0.05f, 0, &r);
    int shared = 1;
    moments a = {0};
    for (int64_t i = 0; i < 64 * 64; i++) {
        const float *d = nb_tensor_data(y);
        shared &= d[i] == d[4096 + i] && d[i] == d[8192 + i];
        mo_add(&a, d[i] - 0.5);
    }
    CHECK("additive_gaussian_noise: one draw per pixel shared by its channels", shared && fabs(sqrt(mo_var(&a)) - 0.05) < 0.003,
          "shared %d std %g", shared, sqrt(mo_var(&a)));
    y = nb_img_additive_gaussian_noise(x, 0, 0.05f, 1, &r);
    int differ = 0;
    for (int64_t i = 0; i < 64 * 64; i++) differ += nb_tensor_data(y)[i] != nb_tensor_data(y)[4096 + i];
    CHECK("additive_gaussian_noise per_channel draws each value", differ > 4000, "%d of 4096 differ", differ);

    y = nb_img_salt_and_pepper(x, 0.2f, 0, &r);
    int hit = 0, same = 1;
    moments sv = {0};
    for (int64_t i = 0; i < 64 * 64; i++) {
        const float *d = nb_tensor_data(y);
        same &= d[i] == d[4096 + i] && d[i] == d[8192 + i];
        if (d[i] != 0.5f) {
            hit++;
            mo_add(&sv, d[i]);
        }
    }
    double frac = hit / 4096.0, se = sqrt(0.2 * 0.8 / 4096);
    CHECK("salt_and_pepper: a fraction p of the pixels, channels alike", same && fabs(frac - 0.2) < 5 * se, "fraction %g", frac);
    CHECK("salt_and_pepper values ~ Beta(0.5, 0.5) (mean 1/2, variance 1/8)",
          fabs(mo_mean(&sv) - 0.5) < 0.05 && fabs(mo_var(&sv) - 0.125) < 0.015 && sv.mn >= 0 && sv.mx <= 1,
          "mean %g var %g", mo_mean(&sv), mo_var(&sv));
    nb_tensor_free(x);
    nb_ctx_reset(ctx);
}

/* ---- pipelines ---- */

static nb_tensor *fmnist_like(int64_t c, int64_t h, int64_t w, uint64_t seed)
{
    nb_rng r;
    nb_rng_seed(&r, seed);
    nb_tensor *x = nb_tensor_new(ctx, NB_F32, 3, (int64_t[]){c, h, w});
    for (int64_t i = 0; i < nb_tensor_numel(x); i++) nb_tensor_data(x)[i] = nb_rng_uniform(&r);
    return x;
}

static int tensors_equal(nb_tensor *a, nb_tensor *b)
{
    return same_shape(a, b) && !memcmp(nb_tensor_data(a), nb_tensor_data(b), (size_t)nb_tensor_numel(a) * sizeof(float));
}

typedef struct {
    const nb_transform *tf;
    const float *in;
    int64_t chw[3];
    uint64_t seed;
    int reps;
    float *out; /* reps results of the output size */
    int64_t out_chw[3];
    nb_status st;
} job;

static void *worker(void *p)
{
    job *j = p;
    nb_arena a = {0};
    for (int k = 0; k < j->reps; k++) {
        nb_rng r;
        nb_rng_seed(&r, j->seed + (uint64_t)k);
        float *o;
        j->st = nb__transform_run(j->tf, j->in, j->chw, &a, &r, &o, j->out_chw);
        if (j->st) break;
        int64_t n = j->out_chw[0] * j->out_chw[1] * j->out_chw[2];
        memcpy(j->out + k * n, o, (size_t)n * sizeof(float));
        nb__arena_reset(&a);
    }
    nb__arena_free(&a);
    return NULL;
}

static void test_pipeline(void)
{
    const char *spec = "random_crop(28, padding=2), hflip, random_erasing(p=0.5)";
    nb_transform *tf = nb_transform_parse(spec);
    CHECK("parse the issue's pipeline", tf != NULL, "%s", nb_last_error());
    if (!tf) return;
    char buf[1024];
    nb_transform_str(tf, buf, sizeof buf);
    CHECK("transform repr", !strcmp(buf, "Compose(\n    RandomCrop(size=(28, 28), padding=(2, 2, 2, 2), pad_if_needed=False, "
                                         "fill=0, padding_mode=constant)\n    RandomHorizontalFlip(p=0.5)\n    "
                                         "RandomErasing(p=0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0, "
                                         "inplace=False)\n)"),
          "%s", buf);
    int64_t oshape[3];
    CHECK("pipeline output shape", !nb_transform_out_shape(tf, (int64_t[]){1, 28, 28}, oshape) && oshape[0] == 1 &&
                                       oshape[1] == 28 && oshape[2] == 28,
          "%s", nb_last_error());

    nb_tensor *x = fmnist_like(1, 28, 28, 3);
    nb_rng r1, r2;
    nb_rng_seed(&r1, 42);
    nb_rng_seed(&r2, 42);
    nb_tensor *a = nb_transform_apply(tf, x, &r1), *b = nb_transform_apply(tf, x, &r2);
    CHECK("same seed, same augmented image", a && tensors_equal(a, b), "%s", nb_last_error());
    int differ = 0;
    for (int k = 0; k < 8; k++) {
        nb_tensor *c = nb_transform_apply(tf, x, &r1);
        differ += !tensors_equal(a, c);
    }
    CHECK("further draws differ", differ >= 7, "%d of 8 differ", differ);

    /* erasing frequency: a pixel set to 0 that was not 0 (inputs are > 0 almost surely) */
    nb_transform *er = nb_transform_parse("random_erasing(p=0.5)");
    int erased = 0;
    moments frac = {0};
    for (int k = 0; k < 2000; k++) {
        nb_tensor *c = nb_transform_apply(er, x, &r1);
        int z = 0;
        for (int i = 0; i < 784; i++) z += nb_tensor_data(c)[i] == 0.0f;
        if (z) {
            erased++;
            mo_add(&frac, z / 784.0);
        }
        if (k % 200 == 199) nb_ctx_reset(ctx);
    }
    CHECK("random_erasing(p=0.5) erases about half the images, 2%-33% of the area",
          fabs(erased / 2000.0 - 0.5) < 0.05 && frac.mn >= 0.015 && frac.mx <= 0.36, "erased %d of 2000, area in [%g, %g]",
          erased, frac.mn, frac.mx);
    nb_transform_free(er);

    /* tensor path and buffer path agree; two threads with their own arenas agree with one */
    nb_rng_seed(&r1, 7);
    nb_tensor *ta = nb_transform_apply(tf, x, &r1);
    nb_arena ar = {0};
    nb_rng_seed(&r2, 7);
    float *o;
    int64_t och[3];
    nb_status s = nb__transform_run(tf, nb_tensor_data(x), (int64_t[]){1, 28, 28}, &ar, &r2, &o, och);
    CHECK("nb__transform_run equals nb_transform_apply", !s && ta && !memcmp(o, nb_tensor_data(ta), 784 * sizeof(float)),
          "%s", nb_last_error());
    nb__arena_free(&ar);

    const char *heavy = "random_resized_crop(24, scale=(0.3, 1)), random_rotation(20, interpolation=bilinear), "
                        "color_jitter(0.4, 0.4), random_affine(0, translate=(0.1, 0.1), shear=5), "
                        "random_erasing(value=random), gaussian_noise(sigma=0.05)";
    nb_transform *hv = nb_transform_parse(heavy);
    CHECK("parse a heavy pipeline", hv != NULL, "%s", nb_last_error());
    if (hv) {
        enum { REPS = 40 };
        nb_tensor *x3 = fmnist_like(3, 32, 32, 4);
        static float o1[REPS * 3 * 24 * 24], o2[REPS * 3 * 24 * 24], o0[2][REPS * 3 * 24 * 24];
        job j[2] = {{hv, nb_tensor_data(x3), {3, 32, 32}, 100, REPS, o1, {0}, 0},
                    {hv, nb_tensor_data(x3), {3, 32, 32}, 500, REPS, o2, {0}, 0}};
        pthread_t th[2];
        for (int k = 0; k < 2; k++) pthread_create(&th[k], NULL, worker, &j[k]);
        for (int k = 0; k < 2; k++) pthread_join(th[k], NULL);
        job s0[2] = {{hv, nb_tensor_data(x3), {3, 32, 32}, 100, REPS, o0[0], {0}, 0},
                     {hv, nb_tensor_data(x3), {3, 32, 32}, 500, REPS, o0[1], {0}, 0}};
        worker(&s0[0]);
        worker(&s0[1]);
        CHECK("two threads with their own arenas give the one-thread results",
              !j[0].st && !j[1].st && !memcmp(o1, o0[0], sizeof o1) && !memcmp(o2, o0[1], sizeof o2) &&
                  j[0].out_chw[1] == 24,
              "status %d %d", j[0].st, j[1].st);
        /* a steady state adds no arena chunks */
        nb_rng_seed(&r1, 3);
        size_t m0 = 0;
        for (int k = 0; k < 30; k++) {
            nb_ctx_reset(ctx);
            if (k == 3) m0 = nb_ctx_arena_mallocs(ctx);
            nb_transform_apply(hv, x3, &r1);
        }
        CHECK("nb_transform_apply in steady state allocates nothing", nb_ctx_arena_mallocs(ctx) == m0, "%zu -> %zu", m0,
              nb_ctx_arena_mallocs(ctx));
        /* a batch: each image its own draws */
        nb_tensor *xb = nb_tensor_new(ctx, NB_F32, 4, (int64_t[]){5, 3, 32, 32});
        for (int k = 0; k < 5; k++) memcpy(nb_tensor_data(xb) + k * 3072, nb_tensor_data(x3), 3072 * sizeof(float));
        nb_tensor *yb = nb_transform_apply(hv, xb, &r1);
        CHECK("a batch is augmented image by image", yb && nb_tensor_dim(yb, 0) == 5 && nb_tensor_dim(yb, 1) == 3 &&
                                                         nb_tensor_dim(yb, 2) == 24 &&
                                                         memcmp(nb_tensor_data(yb), nb_tensor_data(yb) + 1728, 1728 * 4),
              "%s", nb_last_error());
        nb_tensor_free(xb);
        nb_tensor_free(x3);
        nb_transform_free(hv);
    }
    /* shapes */
    nb_transform *t2 = nb_transform_parse("pad(4, padding_mode=reflect), random_crop(30), grayscale(3), resize(15), "
                                          "center_crop((10, 12))");
    int64_t sh[3];
    CHECK("output shape through pad, crop, grayscale, resize, centre crop",
          t2 && !nb_transform_out_shape(t2, (int64_t[]){1, 28, 28}, sh) && sh[0] == 3 && sh[1] == 10 && sh[2] == 12,
          "%s", nb_last_error());
    nb_transform_free(t2);
    t2 = nb_transform_parse("random_rotation(30, expand=true)");
    CHECK("rotation with expand has no fixed output shape",
          t2 && nb_transform_out_shape(t2, (int64_t[]){1, 28, 28}, sh) == NB_ERR_ARG && strstr(nb_last_error(), "expand"),
          "%s", nb_last_error());
    nb_transform_free(t2);
    t2 = nb_transform_parse("random_crop(32)");
    nb_tensor *bad = nb_transform_apply(t2, x, &r1);
    CHECK("random_crop larger than the image fails when applied", !bad && strstr(nb_last_error(), "larger"), "%s",
          nb_last_error());
    nb_transform_free(t2);
    t2 = nb_transform_parse("random_crop(32, pad_if_needed=true, padding_mode=edge)");
    nb_tensor *pe = nb_transform_apply(t2, x, &r1);
    CHECK("random_crop pad_if_needed", pe && nb_tensor_dim(pe, 1) == 32 && nb_tensor_dim(pe, 2) == 32, "%s",
          nb_last_error());
    nb_transform_free(t2);
    t2 = nb_transform_parse("color_jitter(brightness=0.5)");
    nb_tensor *g4 = nb_tensor_new(ctx, NB_F32, 3, (int64_t[]){4, 8, 8});
    CHECK("colour on a 4-channel image is an error naming the channels", !nb_transform_apply(t2, g4, &r1) &&
                                                                             strstr(nb_last_error(), "1 or 3 channels"),
          "%s", nb_last_error());
    nb_tensor_free(g4);
    nb_transform_free(t2);
    t2 = nb_transform_parse("");
    nb_tensor *same = t2 ? nb_transform_apply(t2, x, &r1) : NULL;
    CHECK("an empty pipeline copies the image", same && tensors_equal(same, x), "%s", nb_last_error());
    nb_transform_free(t2);
    nb_transform_free(tf);
    nb_tensor_free(x);
    nb_ctx_reset(ctx);
}

/* ---- bad SPEC strings ---- */

static void spec_error(const char *spec, int col, const char *needle)
{
    nb_transform *t = nb_transform_parse(spec);
    const char *e = nb_last_error();
    char want[32], caret[1100] = "\n    ";
    snprintf(want, sizeof want, "column %d", col);
    size_t k = strlen(caret);
    for (int i = 1; i < col && k < sizeof caret - 2; i++) caret[k++] = ' ';
    caret[k++] = '^';
    caret[k] = 0;
    char name[160];
    snprintf(name, sizeof name, "bad spec '%s' -> column %d", spec, col);
    CHECK(name, !t && strstr(e, want) && strstr(e, needle) && strstr(e, caret) && strstr(e, spec), "got: %s", e);
    nb_transform_free(t);
}

static void test_spec_errors(void)
{
    spec_error("random_crop(28), random_flip", 18, "unknown transform 'random_flip'");
    spec_error("random_crop(28), hflp", 18, "did you mean hflip");
    spec_error("random_crop(28, pading=2)", 17, "unknown parameter 'pading'");
    spec_error("random_crop(-3)", 13, "positive integers");
    spec_error("random_crop()", 1, "needs 'size'");
    spec_error("color_jitter(hue=0.7)", 18, "hue");
    spec_error("hflip(p=2)", 9, "probability");
    spec_error("resize(10, interpolation=bicubic)", 26, "nearest or bilinear");
    spec_error("random_erasing(value=foo)", 22, "random");
    spec_error("pad(2, padding_mode=wrap)", 21, "reflect");
    spec_error("normalize(mean=(0.5, 0.5), std=(0.5,))", 32, "as many values as mean");
    spec_error("random_crop(28, padding=(1, 2, 3))", 25, "1, 2 or 4");
    spec_error("random_affine(10, shear=-5)", 25, ">= 0");
    spec_error("hflip, , vflip", 8, "expected an augmentation name");
    spec_error("random_rotation(10", 16, "unclosed");
    spec_error("RandomCrop(28, 2, True, 0, 'constant', 5)", 40, "at most 5 positional");
    nb_transform *t = nb_transform_parse("RandomCrop(28, 2, True, 0.5, 'edge'), RandomHorizontalFlip(0.3), "
                                         "InterpolationModeTest");
    CHECK("unknown CamelCase name", !t && strstr(nb_last_error(), "column 66"), "%s", nb_last_error());
    t = nb_transform_parse("RandomCrop(size=28, padding=None), RandomResizedCrop(28, antialias=None), "
                           "Resize(28, interpolation=InterpolationMode.BILINEAR)");
    CHECK("None values and InterpolationMode names are accepted", t != NULL, "%s", nb_last_error());
    nb_transform_free(t);
    /* every class parses under its three names */
    const char *names[] = {"to_tensor", "hflip", "vflip(0.2)", "random_crop(8)", "center_crop(8)", "pad(1)",
                           "resize(8)", "random_resized_crop(8)", "random_rotation(5)", "random_affine(5)",
                           "color_jitter(0.1)", "grayscale", "random_grayscale", "normalize(0.5, 0.5)",
                           "gaussian_noise", "additive_gaussian_noise", "salt_and_pepper", "random_erasing",
                           "cutout(4)", "ToTensor", "RandomHorizontalFlip", "ColorJitter(hue=0.5)", "Cutout(length=3)"};
    int ok = 1;
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        t = nb_transform_parse(names[k]);
        if (!t) {
            printf("# %s: %s\n", names[k], nb_last_error());
            ok = 0;
        }
        nb_transform_free(t);
    }
    CHECK("every transform parses", ok, "see above");
}

/* ---- bad input to the functions ---- */

static void test_bad_input(void)
{
    nb_tensor *x = fmnist_like(3, 10, 12, 1);
    nb_tensor *v2 = nb_tensor_new(ctx, NB_F32, 2, (int64_t[]){10, 12});
    nb_tensor *lab = nb_tensor_new(ctx, NB_I64, 1, (int64_t[]){3});
    nb_clear_error();
    CHECK("NULL image gives NULL", !nb_img_hflip(NULL) && !nb_img_rotate(NULL, 3, NULL), "not NULL");
    CHECK("a 2-D tensor is not an image", !nb_img_vflip(v2) && strstr(nb_last_error(), "(C, H, W)"), "%s", nb_last_error());
    CHECK("I64 is not an image", !nb_img_vflip(lab) && strstr(nb_last_error(), "F32"), "%s", nb_last_error());
    CHECK("reflect padding larger than the image", !nb_img_pad(x, (int64_t[]){12, 0, 0, 0}, NB_PAD_REFLECT, 0) &&
                                                       strstr(nb_last_error(), "smaller than the image"),
          "%s", nb_last_error());
    CHECK("symmetric padding may equal the size", nb_img_pad(x, (int64_t[]){12, 10, 12, 10}, NB_PAD_SYMMETRIC, 0) != NULL,
          "%s", nb_last_error());
    CHECK("negative padding", !nb_img_pad(x, (int64_t[]){0, -1, 0, 0}, NB_PAD_EDGE, 0), "accepted");
    CHECK("normalize with a zero std", !nb_img_normalize(x, (float[]){0, 0, 0}, (float[]){1, 0, 1}, 3) &&
                                           strstr(nb_last_error(), "std[1]"),
          "%s", nb_last_error());
    CHECK("normalize with 2 values for 3 channels", !nb_img_normalize(x, (float[]){0, 0}, (float[]){1, 1}, 2), "accepted");
    CHECK("hue outside [-0.5, 0.5]", !nb_img_adjust_hue(x, 0.6f) && strstr(nb_last_error(), "hue_factor"), "%s",
          nb_last_error());
    CHECK("negative brightness", !nb_img_adjust_brightness(x, -1), "accepted");
    CHECK("erase box outside the image", !nb_img_erase(x, 5, 5, 6, 2, (float[]){0}, 1) && strstr(nb_last_error(), "inside"),
          "%s", nb_last_error());
    CHECK("erase value count", !nb_img_erase(x, 0, 0, 2, 2, (float[]){0, 1}, 2), "accepted");
    CHECK("affine scale 0", !nb_img_affine(x, 0, 0, 0, 0, 0, 0, NULL), "accepted");
    CHECK("resize to 0", !nb_img_resize(x, 0, 5, NB_INTERP_BILINEAR, 0), "accepted");
    CHECK("antialias with nearest", !nb_img_resize(x, 5, 5, NB_INTERP_NEAREST, 1), "accepted");
    CHECK("crop of size 0", !nb_img_crop(x, 0, 0, 0, 3), "accepted");
    /* MixUp / CutMix */
    nb_tensor *xb = nb_tensor_new(ctx, NB_F32, 4, (int64_t[]){3, 1, 4, 4}), *xo, *yo;
    nb_tensor_data_i64(lab)[0] = 0;
    nb_tensor_data_i64(lab)[1] = 5;
    CHECK("mixup label out of range", nb_mixup(xb, lab, 5, 0.5f, &xo, &yo) == NB_ERR_ARG && strstr(nb_last_error(), "sample 1"),
          "%s", nb_last_error());
    nb_tensor_data_i64(lab)[1] = 1;
    CHECK("mixup on a 3-D tensor", nb_mixup(x, lab, 5, 0.5f, &xo, &yo) == NB_ERR_SHAPE, "accepted");
    CHECK("mixup lambda outside [0, 1]", nb_mixup(xb, lab, 5, 1.5f, &xo, &yo) == NB_ERR_ARG, "accepted");
    CHECK("cutmix centre outside", nb_cutmix(xb, lab, 5, 0.5f, 4, 0, &xo, &yo, NULL) == NB_ERR_ARG, "accepted");
    nb_tensor *soft = nb_tensor_new(ctx, NB_F32, 2, (int64_t[]){3, 4});
    CHECK("mixup soft targets of the wrong width", nb_mixup(xb, soft, 5, 0.5f, &xo, &yo) == NB_ERR_SHAPE, "accepted");
    nb_rng r;
    nb_rng_seed(&r, 1);
    CHECK("random_mixup negative alpha", nb_random_mixup(xb, lab, 5, -1, &r, &xo, &yo, NULL) == NB_ERR_ARG, "accepted");
    nb_tensor_free(soft);
    nb_tensor_free(xb);
    nb_tensor_free(x);
    nb_tensor_free(v2);
    nb_tensor_free(lab);
    nb_ctx_reset(ctx);
}

static void test_mix_random(void)
{
    enum { B = 8, K = 10 };
    nb_tensor *x = nb_tensor_new(ctx, NB_F32, 4, (int64_t[]){B, 1, 28, 28});
    nb_tensor *y = nb_tensor_new(ctx, NB_I64, 1, (int64_t[]){B});
    for (int b = 0; b < B; b++) {
        nb_tensor_data_i64(y)[b] = b;
        for (int i = 0; i < 784; i++) nb_tensor_data(x)[b * 784 + i] = (float)b;
    }
    nb_rng r;
    nb_rng_seed(&r, 11);
    moments lm = {0}, lc = {0};
    int ok_m = 1, ok_c = 1;
    for (int it = 0; it < 4000; it++) {
        nb_tensor *xo, *yo;
        float lam;
        if (nb_random_mixup(x, y, K, 1.0f, &r, &xo, &yo, &lam)) {
            ok_m = 0;
            break;
        }
        mo_add(&lm, lam);
        const float *t = nb_tensor_data(yo), *p = nb_tensor_data(xo);
        /* sample 3: λ·3 + (1-λ)·2 in the image, λ on class 3 and 1-λ on class 2 */
        ok_m &= fabsf(t[3 * K + 3] - lam) < 1e-6f && fabsf(t[3 * K + 2] - (1 - lam)) < 1e-6f &&
                fabsf(p[3 * 784] - (3 * lam + 2 * (1 - lam))) < 1e-5f && fabsf(t[0 * K + 7] - (1 - lam)) < 1e-6f;
        if (nb_random_cutmix(x, y, K, 1.0f, &r, &xo, &yo, &lam)) {
            ok_c = 0;
            break;
        }
        mo_add(&lc, lam);
        /* λ' = the fraction of sample 5's own pixels */
        int own = 0;
        for (int i = 0; i < 784; i++) own += nb_tensor_data(xo)[5 * 784 + i] == 5.0f;
        t = nb_tensor_data(yo);
        ok_c &= fabsf(own / 784.0f - lam) < 1e-6f && fabsf(t[5 * K + 5] - lam) < 1e-6f &&
                fabsf(t[5 * K + 4] + t[5 * K + 5] - 1) < 1e-6f;
        nb_ctx_reset(ctx);
    }
    CHECK("random MixUp: soft targets and images mixed with the batch rolled by one", ok_m, "%s", nb_last_error());
    CHECK("MixUp lambda ~ Beta(1, 1): mean 1/2, variance 1/12",
          fabs(mo_mean(&lm) - 0.5) < 0.025 && fabs(mo_var(&lm) - 1.0 / 12) < 0.006, "mean %g var %g", mo_mean(&lm),
          mo_var(&lm));
    CHECK("random CutMix: lambda = 1 - box area / image area, targets mixed with it", ok_c, "%s", nb_last_error());
    /* With λ ~ U(0, 1) on 28x28, int() of the half sizes and clamping at the borders make
     * λ' = 1 - area/784 have mean 0.70387 and variance 0.03307 (summed exactly over the
     * 784 centres and 20,000 λ quantiles in NumPy); 4000 draws: standard error 0.0029. */
    CHECK("CutMix box-corrected lambda: mean 0.7039, variance 0.0331",
          fabs(mo_mean(&lc) - 0.70387) < 0.0145 && fabs(mo_var(&lc) - 0.03307) < 0.0035, "mean %g var %g",
          mo_mean(&lc), mo_var(&lc));
    /* the soft targets train through cross-entropy */
    nb_tensor *xo, *yo;
    nb_random_mixup(x, y, K, 0.4f, &r, &xo, &yo, NULL);
    nb_tensor *logits = nb_tensor_new(ctx, NB_F32, 2, (int64_t[]){B, K});
    nb_tensor *loss = nb_cross_entropy(logits, yo, NULL);
    CHECK("cross_entropy takes MixUp's soft targets", loss && fabsf(nb_tensor_item(loss) - logf((float)K)) < 1e-5f, "%s",
          loss ? "wrong value" : nb_last_error());
    nb_tensor_free(logits);
    nb_tensor_free(x);
    nb_tensor_free(y);
    nb_ctx_reset(ctx);
}

static void test_grayscale_1to3(void)
{
    nb_tensor *x = fmnist_like(1, 5, 6, 2);
    nb_tensor *g = nb_img_grayscale(x, 3);
    CHECK("grayscale(3) of a 1-channel image gives 3 copies (torchvision's tensor path keeps 1)",
          g && nb_tensor_dim(g, 0) == 3 && !memcmp(nb_tensor_data(g), nb_tensor_data(x), 30 * 4) &&
              !memcmp(nb_tensor_data(g) + 60, nb_tensor_data(x), 30 * 4),
          "%s", nb_last_error());
    nb_tensor_free(x);
    nb_ctx_reset(ctx);
}

static void test_from_bytes(void)
{
    uint8_t px[2 * 3 * 3]; /* h 2, w 3, c 3 */
    for (int i = 0; i < 18; i++) px[i] = (uint8_t)(i * 15);
    nb_tensor *t = nb_img_from_bytes(ctx, px, 2, 3, 3);
    int ok = t && nb_tensor_dim(t, 0) == 3 && nb_tensor_dim(t, 1) == 2 && nb_tensor_dim(t, 2) == 3;
    for (int c = 0; ok && c < 3; c++)
        for (int i = 0; i < 6; i++) ok &= nb_tensor_data(t)[c * 6 + i] == (float)px[i * 3 + c] / 255.0f;
    CHECK("from_bytes: HWC bytes to (C, H, W) byte/255 (ToTensor)", ok, "mismatch");
    nb_ctx_reset(ctx);
}

int main(void)
{
    ctx = nb_ctx_new(NULL);
    test_goldens();
    test_samplers();
    test_noise();
    test_pipeline();
    test_spec_errors();
    test_bad_input();
    test_mix_random();
    test_from_bytes();
    test_grayscale_1to3();
    nb_ctx_free(ctx);
    CHECK_DONE();
}
