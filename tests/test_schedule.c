/* test_schedule.c - learning-rate schedules against torch.optim.lr_scheduler 1.13
 * (tests/goldens/optim_sched.safetensors, tools/goldens/gen_optim.py): StepLR,
 * MultiStepLR (a repeated milestone), CosineAnnealingLR (also 20 steps past T_max),
 * LinearLR warm-up followed by cosine / step / multistep through SequentialLR,
 * LinearLR alone, OneCycleLR (cos two-phase and linear three-phase, lr and
 * momentum): 30 steps of two groups (base lr 0.1 and 0.02), through nb_sched_lr
 * and through nb_sched_apply on an SGD optimizer, within 1e-12 relative (torch
 * steps most of them recursively, nabla uses the closed forms; both in double).
 * Then bad options and their messages. */
#include "check.h"
#include "golden.h"
#include "nabla.h"

#include <math.h>

#define GOLDEN "tests/goldens/optim_sched.safetensors"
#define TOL 1e-12

static double num(const char *cfg, const char *key)
{
    char v[64];
    return *cfg_get(cfg, key, v, sizeof v) ? strtod(v, NULL) : 0;
}

static double rel(double got, double want)
{
    double d = fabs(got - want), s = fabs(want);
    return d / (s > 1e-300 ? s : 1);
}

/* Tensor `name` of the golden as n doubles: nb_safetensors_get would convert F64 to
 * F32, which is too coarse for 1e-12, so the data offsets are read from the header
 * (already validated by nb_safetensors_open) and the bytes directly. */
static int read_f64(const char *name, double *out, size_t n)
{
    FILE *fp = fopen(GOLDEN, "rb");
    uint64_t hl = 0;
    int ok = fp && fread(&hl, 8, 1, fp) == 1 && hl < (1u << 20);
    char *hdr = ok ? malloc(hl + 1) : NULL;
    ok = ok && hdr && fread(hdr, 1, hl, fp) == hl;
    if (ok) {
        hdr[hl] = 0;
        char quoted[64];
        snprintf(quoted, sizeof quoted, "\"%s\"", name);
        char *e = strstr(hdr, quoted), *off = e ? strstr(e, "\"data_offsets\":[") : NULL;
        ok = off && strstr(e, "\"F64\"") && strstr(e, "\"F64\"") < off;
        ok = ok && fseek(fp, (long)(8 + hl) + strtol(off + 16, NULL, 10), SEEK_SET) == 0 && fread(out, 8, n, fp) == n;
    }
    free(hdr);
    if (fp) fclose(fp);
    return ok;
}

int main(void)
{
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_safetensors *f = nb_safetensors_open(GOLDEN);
    CHECK("open " GOLDEN, f != NULL, "%s", nb_last_error());
    if (!f) CHECK_DONE();
    int cases = atoi(nb_safetensors_metadata(f, "cases")), T = atoi(nb_safetensors_metadata(f, "steps"));
    CHECK("schedule goldens: 11 cases of 30 steps", cases == 11 && T == 30, "%d cases, %d steps", cases, T);

    for (int k = 0; k < cases; k++) {
        char key[32], cfg[512], kind[32], ms[64], label[700];
        snprintf(key, sizeof key, "sched%d", k);
        snprintf(cfg, sizeof cfg, "%s", nb_safetensors_metadata(f, key));
        cfg_get(cfg, "kind", kind, sizeof kind);
        int milestones[8], nm = 0;
        cfg_get(cfg, "milestones", ms, sizeof ms);
        for (const char *s = ms; *s && nm < 8;) {
            milestones[nm++] = (int)strtol(s, (char **)&s, 10);
            if (*s == ',') s++;
        }
        nb_sched_opts o = {.step_size = (int)num(cfg, "step_size"), .gamma = num(cfg, "gamma"),
                           .milestones = milestones, .n_milestones = nm, .t_max = (int)num(cfg, "t_max"),
                           .eta_min = num(cfg, "eta_min"), .total_steps = (int)num(cfg, "total_steps"),
                           .pct_start = num(cfg, "pct_start"), .pct_start_set = 1,
                           .anneal_linear = (int)num(cfg, "linear"), .three_phase = (int)num(cfg, "three_phase"),
                           .div_factor = num(cfg, "div_factor"), .final_div_factor = num(cfg, "final_div_factor"),
                           .warmup = (int)num(cfg, "warmup"), .warmup_start_factor = num(cfg, "start_factor")};
        o.kind = !strcmp(kind, "step")        ? NB_SCHED_STEP
                 : !strcmp(kind, "multistep") ? NB_SCHED_MULTISTEP
                 : !strcmp(kind, "cosine")    ? NB_SCHED_COSINE
                 : !strcmp(kind, "onecycle")  ? NB_SCHED_ONECYCLE
                                              : NB_SCHED_NONE;
        double want_lr[64][2], want_mom[64];
        snprintf(key, sizeof key, "%d.lr", k);
        int has_lr = read_f64(key, &want_lr[0][0], (size_t)T * 2);
        snprintf(key, sizeof key, "%d.momentum", k);
        int mom = nb_safetensors_find(f, key) >= 0;
        if (mom) mom = read_f64(key, want_mom, (size_t)T);
        CHECK("read the F64 golden values", has_lr && (mom || strcmp(kind, "onecycle")), "%s", key);
        double worst = 0, worst_apply = 0, worst_mom = 0;
        int at = -1;
        nb_tensor *p0 = nb_tensor_new(ctx, NB_F32, 1, (int64_t[]){2}), *p1 = nb_tensor_new(ctx, NB_F32, 1, (int64_t[]){3});
        nb_optim *opt = nb_sgd_new(&p0, 1, &(nb_sgd_opts){.lr = 0.1, .momentum = 0.9});
        nb_optim_add_group(opt, &(nb_param_group){.params = &p1, .n = 1, .lr = 0.02});
        for (int t = 0; t < T; t++) {
            for (int g = 0; g < 2; g++) {
                double r = rel(nb_sched_lr(&o, g ? 0.02 : 0.1, t), want_lr[t][g]);
                if (!(r <= worst)) worst = r, at = t;
            }
            nb_status st = nb_sched_apply(&o, opt, t);
            for (int g = 0; g < 2; g++) {
                double r = st ? INFINITY : rel(nb_optim_get_lr(opt, g), want_lr[t][g]);
                if (!(r <= worst_apply)) worst_apply = r;
            }
            if (mom) {
                double r = rel(nb_sched_momentum(&o, t), want_mom[t]);
                double ra = rel(nb_optim_get_momentum(opt, 0), want_mom[t]);
                if (!(r <= worst_mom)) worst_mom = r;
                if (!(ra <= worst_mom)) worst_mom = ra;
            }
        }
        snprintf(label, sizeof label, "schedule %d [%s]: nb_sched_lr of both groups, 30 steps (1e-12)", k, cfg);
        CHECK(label, worst <= TOL, "max rel err %.3g at t=%d (got %.17g want %.17g)", worst, at,
              at >= 0 ? nb_sched_lr(&o, 0.1, at) : 0.0, at >= 0 ? want_lr[at][0] : 0.0);
        snprintf(label, sizeof label, "schedule %d: nb_sched_apply sets both groups' lr (1e-12)", k);
        CHECK(label, worst_apply <= TOL, "max rel err %.3g: %s", worst_apply, nb_last_error());
        if (mom) {
            snprintf(label, sizeof label, "schedule %d: OneCycleLR momentum, and the optimizer's (1e-12)", k);
            CHECK(label, worst_mom <= TOL, "max rel err %.3g", worst_mom);
        } else {
            snprintf(label, sizeof label, "schedule %d: momentum left alone", k);
            CHECK(label, nb_sched_momentum(&o, 3) == -1 && nb_optim_get_momentum(opt, 1) == 0.9, "changed");
        }
        nb_optim_free(opt);
        nb_tensor_free(p0), nb_tensor_free(p1);
    }
    nb_safetensors_close(f);

    /* bad options */
    CHECK("StepLR step_size 0: NaN with a message",
          isnan(nb_sched_lr(&(nb_sched_opts){.kind = NB_SCHED_STEP}, 0.1, 3)) && strstr(nb_last_error(), "step_size"),
          "%s", nb_last_error());
    CHECK("CosineAnnealingLR T_max 0: NB_ERR_ARG",
          nb_sched_check(&(nb_sched_opts){.kind = NB_SCHED_COSINE}) == NB_ERR_ARG && strstr(nb_last_error(), "T_max"),
          "%s", nb_last_error());
    CHECK("MultiStepLR decreasing milestones fail",
          nb_sched_check(&(nb_sched_opts){.kind = NB_SCHED_MULTISTEP, .milestones = (int[]){5, 3}, .n_milestones = 2}) ==
                  NB_ERR_ARG && strstr(nb_last_error(), "increasing"),
          "%s", nb_last_error());
    nb_sched_opts oc = {.kind = NB_SCHED_ONECYCLE, .total_steps = 10};
    CHECK("OneCycleLR: step total_steps is allowed, one more is NaN",
          !isnan(nb_sched_lr(&oc, 0.1, 10)) && isnan(nb_sched_lr(&oc, 0.1, 11)) && strstr(nb_last_error(), "total steps"),
          "%s", nb_last_error());
    CHECK("OneCycleLR: no total_steps fails", nb_sched_check(&(nb_sched_opts){.kind = NB_SCHED_ONECYCLE}) == NB_ERR_ARG,
          "accepted");
    CHECK("OneCycleLR defaults: starts at max_lr/25 with momentum 0.95, peaks at 30%",
          fabs(nb_sched_lr(&oc, 0.1, 0) - 0.004) < 1e-15 && nb_sched_momentum(&oc, 0) == 0.95 &&
              fabs(nb_sched_lr(&oc, 0.1, 2) - 0.1) < 1e-15 && fabs(nb_sched_momentum(&oc, 2) - 0.85) < 1e-15,
          "lr0 %.17g m0 %g lr2 %.17g", nb_sched_lr(&oc, 0.1, 0), nb_sched_momentum(&oc, 0), nb_sched_lr(&oc, 0.1, 2));
    CHECK("negative step is NaN", isnan(nb_sched_lr(&(nb_sched_opts){.kind = NB_SCHED_NONE}, 0.1, -1)), "not NaN");
    CHECK("warm-up start factor above 1 fails",
          nb_sched_check(&(nb_sched_opts){.warmup = 3, .warmup_start_factor = 1.5}) == NB_ERR_ARG, "accepted");
    CHECK("NULL options: the base lr", nb_sched_lr(NULL, 0.25, 7) == 0.25, "changed");
    CHECK("nb_sched_apply(NULL optimizer) fails", nb_sched_apply(NULL, NULL, 0) == NB_ERR_ARG, "accepted");
    nb_ctx_free(ctx);
    CHECK_DONE();
}
