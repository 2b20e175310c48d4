/* schedule.c - learning-rate schedules as closed forms of the step (or epoch) t:
 *   StepLR:             base · γ^⌊t/step_size⌋
 *   CosineAnnealingLR:  η_min + (base-η_min)·(1 + cos(π·t/T_max))/2
 *   linear warm-up:     for t < warmup, base · (f + (1-f)·t/warmup) (torch LinearLR with
 *                       start_factor f, default 1/3), then the schedule with t - warmup
 *                       (torch SequentialLR([LinearLR, S], milestones=[warmup])). */
#include "internal.h"

#include <math.h>

float nb_sched_lr(const nb_sched_opts *o, float base, int t)
{
    if (!o) return base;
    if (o->warmup > 0 && t < o->warmup) {
        float f = o->warmup_start_factor > 0 ? o->warmup_start_factor : 1.0f / 3.0f;
        return base * (f + (1 - f) * (float)t / (float)o->warmup);
    }
    t -= o->warmup > 0 ? o->warmup : 0;
    switch (o->kind) {
    case NB_SCHED_STEP: {
        float g = o->gamma > 0 ? o->gamma : 0.1f;
        int s = o->step_size > 0 ? o->step_size : 1;
        return base * powf(g, (float)(t / s));
    }
    case NB_SCHED_COSINE: {
        int T = o->t_max > 0 ? o->t_max : 1;
        if (t > T) t = T;
        return o->eta_min + (base - o->eta_min) * (1 + cosf((float)M_PI * (float)t / (float)T)) / 2;
    }
    default: return base;
    }
}
