/* schedule.c - learning-rate schedules of torch.optim.lr_scheduler as closed forms
 * of the step count t (how many times scheduler.step() has been called):
 *   StepLR:             base · γ^⌊t/step_size⌋
 *   MultiStepLR:        base · γ^(number of milestones <= t)
 *   CosineAnnealingLR:  η_min + (base-η_min)·(1 + cos(π·t/T_max))/2 (torch's closed
 *                       form; its recursive form agrees to rounding, also past T_max)
 *   OneCycleLR:         torch's phases (get_lr is already a closed form there)
 *   linear warm-up W:   base·(f + (1-f)·t/W) for t < W (LinearLR), then the schedule
 *                       at t - W: SequentialLR([LinearLR, S], milestones=[W]), whose
 *                       scheduler.step(0) at the milestone restarts S from base.
 * Everything in double, as torch's Python floats. */
#include "optim/optim.h"
#include "core/error.h"

#include <math.h>

static const double pi = 3.14159265358979323846;

nb_status nb_sched_check(const nb_sched_opts *o)
{
    if (!o) return NB_OK;
    if (o->warmup < 0) return nb__fail(NB_ERR_ARG, "schedule: warmup must be >= 0 (got %d)", o->warmup);
    if (o->warmup > 0 && !(o->warmup_start_factor >= 0 && o->warmup_start_factor <= 1))
        return nb__fail(NB_ERR_ARG, "schedule: warm-up start factor must be in (0, 1] (got %g)",
                        o->warmup_start_factor);
    switch (o->kind) {
    case NB_SCHED_NONE: return NB_OK;
    case NB_SCHED_STEP:
        if (o->step_size <= 0) return nb__fail(NB_ERR_ARG, "StepLR: step_size must be positive (got %d)", o->step_size);
        if (!(o->gamma >= 0)) return nb__fail(NB_ERR_ARG, "StepLR: gamma must be >= 0 (got %g)", o->gamma);
        return NB_OK;
    case NB_SCHED_MULTISTEP:
        if (o->n_milestones < 0 || (o->n_milestones > 0 && !o->milestones))
            return nb__fail(NB_ERR_ARG, "MultiStepLR: bad milestone list (n=%d)", o->n_milestones);
        for (int i = 1; i < o->n_milestones; i++)
            if (o->milestones[i] < o->milestones[i - 1])
                return nb__fail(NB_ERR_ARG, "MultiStepLR: milestones should be a list of increasing integers "
                                "(%d after %d)", o->milestones[i], o->milestones[i - 1]);
        if (!(o->gamma >= 0)) return nb__fail(NB_ERR_ARG, "MultiStepLR: gamma must be >= 0 (got %g)", o->gamma);
        return NB_OK;
    case NB_SCHED_COSINE:
        if (o->t_max <= 0) return nb__fail(NB_ERR_ARG, "CosineAnnealingLR: T_max must be positive (got %d)", o->t_max);
        if (!isfinite(o->eta_min)) return nb__fail(NB_ERR_ARG, "CosineAnnealingLR: eta_min is not finite");
        return NB_OK;
    case NB_SCHED_ONECYCLE:
        if (o->total_steps <= 0)
            return nb__fail(NB_ERR_ARG, "OneCycleLR: expected positive integer total_steps, but got %d", o->total_steps);
        if (o->pct_start_set && !(o->pct_start >= 0 && o->pct_start <= 1))
            return nb__fail(NB_ERR_ARG, "OneCycleLR: expected float between 0 and 1 pct_start, but got %g", o->pct_start);
        if (!(o->div_factor >= 0) || !(o->final_div_factor >= 0) || !(o->base_momentum >= 0) ||
            !(o->max_momentum >= 0))
            return nb__fail(NB_ERR_ARG, "OneCycleLR: div_factor, final_div_factor and momenta must be positive");
        return NB_OK;
    }
    return nb__fail(NB_ERR_ARG, "schedule: unknown kind %d", (int)o->kind);
}

static double or_default(double v, double d) { return v != 0 ? v : d; }

/* OneCycleLR's (lr, momentum) at step t for max_lr = base (torch's get_lr). */
static void one_cycle(const nb_sched_opts *o, double base, int t, double *lr, double *mom)
{
    double total = o->total_steps;
    double pct = o->pct_start_set ? o->pct_start : or_default(o->pct_start, 0.3);
    double initial = base / or_default(o->div_factor, 25.0);
    double min_lr = initial / or_default(o->final_div_factor, 1e4);
    double mom_base = or_default(o->base_momentum, 0.85), mom_max = or_default(o->max_momentum, 0.95);
    /* phases: end step, start/end lr, start/end momentum */
    double ph[3][5];
    int nph;
    if (o->three_phase) {
        double p0[5] = {pct * total - 1, initial, base, mom_max, mom_base};
        double p1[5] = {2 * pct * total - 2, base, initial, mom_base, mom_max};
        double p2[5] = {total - 1, initial, min_lr, mom_max, mom_max};
        for (int j = 0; j < 5; j++) ph[0][j] = p0[j], ph[1][j] = p1[j], ph[2][j] = p2[j];
        nph = 3;
    } else {
        double p0[5] = {pct * total - 1, initial, base, mom_max, mom_base};
        double p1[5] = {total - 1, base, min_lr, mom_base, mom_max};
        for (int j = 0; j < 5; j++) ph[0][j] = p0[j], ph[1][j] = p1[j];
        nph = 2;
    }
    double start = 0;
    for (int i = 0; i < nph; i++) {
        double end = ph[i][0];
        if (t <= end || i == nph - 1) {
            double f = (t - start) / (end - start);
            if (o->anneal_linear) {
                *lr = (ph[i][2] - ph[i][1]) * f + ph[i][1];
                *mom = (ph[i][4] - ph[i][3]) * f + ph[i][3];
            } else {
                double c = cos(pi * f) + 1;
                *lr = ph[i][2] + (ph[i][1] - ph[i][2]) / 2.0 * c;
                *mom = ph[i][4] + (ph[i][3] - ph[i][4]) / 2.0 * c;
            }
            return;
        }
        start = end;
    }
}

/* t after the warm-up, or -1 during it (then *warm holds the warm-up factor). */
static int after_warmup(const nb_sched_opts *o, int t, double *warm)
{
    if (o->warmup > 0 && t < o->warmup) {
        double f = or_default(o->warmup_start_factor, 1.0 / 3.0);
        *warm = f + (1.0 - f) * t / o->warmup; /* LinearLR with end_factor 1 */
        return -1;
    }
    return o->warmup > 0 ? t - o->warmup : t;
}

double nb_sched_lr(const nb_sched_opts *o, double base, int t)
{
    if (!o) return base;
    if (nb_sched_check(o)) return NAN;
    if (t < 0) {
        nb__fail(NB_ERR_ARG, "schedule: step %d is negative", t);
        return NAN;
    }
    double warm;
    int s = after_warmup(o, t, &warm);
    if (s < 0) return base * warm;
    double gamma = or_default(o->gamma, 0.1);
    switch (o->kind) {
    case NB_SCHED_STEP: return base * pow(gamma, s / o->step_size);
    case NB_SCHED_MULTISTEP: {
        int k = 0;
        while (k < o->n_milestones && o->milestones[k] <= s) k++;
        return base * pow(gamma, k);
    }
    case NB_SCHED_COSINE:
        return o->eta_min + (base - o->eta_min) * (1 + cos(pi * s / o->t_max)) / 2;
    case NB_SCHED_ONECYCLE: {
        if (s > o->total_steps) {
            nb__fail(NB_ERR_ARG, "OneCycleLR: tried to step %d times; the specified number of total steps is %d",
                     s, o->total_steps);
            return NAN;
        }
        double lr, mom;
        one_cycle(o, base, s, &lr, &mom);
        return lr;
    }
    default: return base;
    }
}

double nb_sched_momentum(const nb_sched_opts *o, int t)
{
    if (!o || o->kind != NB_SCHED_ONECYCLE || o->no_cycle_momentum || t < 0 || nb_sched_check(o)) return -1;
    double warm;
    int s = after_warmup(o, t, &warm);
    if (s < 0 || s > o->total_steps) return -1;
    double lr, mom;
    one_cycle(o, 1.0, s, &lr, &mom);
    return mom;
}

nb_status nb_sched_apply(const nb_sched_opts *o, nb_optim *opt, int t)
{
    if (!opt) return nb__fail(NB_ERR_ARG, "nb_sched_apply: NULL optimizer");
    nb_status st = nb_sched_check(o);
    if (st) return st;
    for (int g = 0; g < opt->n_groups; g++) {
        double lr = nb_sched_lr(o, opt->groups[g].base_lr, t);
        if (isnan(lr)) return NB_ERR_ARG;
        opt->groups[g].lr = lr;
    }
    double m = nb_sched_momentum(o, t);
    if (m >= 0) return nb_optim_set_momentum(opt, -1, m);
    return NB_OK;
}
