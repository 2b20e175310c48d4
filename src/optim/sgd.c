/* sgd.c - torch.optim.SGD, PyTorch 1.13's _single_tensor_sgd, per element in float32:
 *   g ← ∇ (−∇ if maximize);  g ← g + λ·θ
 *   b ← g at the first momentum step, else b·μ + (1-τ)·g
 *   g ← g + μ·b (nesterov) or b;  θ ← θ - lr·g
 * torch's `x.add(y, alpha=a)` computes fma(a, y, x) on this build (checked against
 * torch 1.13 bit for bit), so each of those is an fmaf here; scalars are formed in
 * double (1 - τ, -lr) and rounded to float once, as torch's Scalar arguments are. */
#include "optim/optim.h"
#include "core/tensor.h"
#include "core/threads.h"

#include <math.h>

/* One parameter's step, as its chunks (nb__parallel_if) read it: the scalars of the
 * formulas above; θ, ∇, b (numel floats each, same layout; b NULL without momentum). */
typedef struct {
    int maximize, decay, use_mom, first, nesterov;
    float wd, keep, mu, neg_lr;
    float *th, *gr, *b;
} sgd_job;

/* Elements [b, e) of one parameter's step. */
NB_CLONES static void sgd_step_chunk(void *ctx, int64_t b, int64_t e, int slot)
{
    sgd_job job = *(const sgd_job *)ctx; /* a copy: the stores below cannot alias it */
    float *th = job.th, *gr = job.gr, *buf = job.b;
    for (int64_t i = b; i < e; i++) {
        float g = job.maximize ? -gr[i] : gr[i];
        if (job.decay) g = fmaf(job.wd, th[i], g);
        if (job.use_mom) {
            buf[i] = job.first ? g : fmaf(job.keep, g, buf[i] * job.mu);
            g = job.nesterov ? fmaf(job.mu, buf[i], g) : buf[i];
        }
        th[i] = fmaf(job.neg_lr, g, th[i]);
    }
}

NB_CLONES void nb__sgd_step(nb_optim *o)
{
    int nesterov = o->sgd.nesterov, maximize = o->sgd.maximize;
    float keep = (float)(1.0 - o->sgd.dampening);
    for (int k = 0; k < o->n; k++) {
        nb__param_state *s = &o->ps[k];
        nb_tensor *p = s->p;
        if (!p->grad) continue; /* p.grad is None */
        const nb__group *grp = &o->groups[s->group];
        float neg_lr = (float)-grp->lr, wd = (float)grp->weight_decay, mu = (float)grp->momentum;
        int decay = grp->weight_decay != 0, use_mom = grp->momentum != 0 && s->buf1;
        float *th = nb__f(p), *gr = p->grad, *b = use_mom ? nb__f(s->buf1) : NULL;
        float *step = nb__f(s->step);
        int first = *step == 0;
        int64_t n = p->numel;
        /* θ, ∇, b: numel floats each, same layout */
        nb__parallel_if(n, n, nb__chunk_for(n), sgd_step_chunk,
                        &(sgd_job){.maximize = maximize, .decay = decay, .use_mom = use_mom, .first = first,
                                   .nesterov = nesterov, .wd = wd, .keep = keep, .mu = mu, .neg_lr = neg_lr,
                                   .th = th, .gr = gr, .b = b});
        if (use_mom) *step += 1;
    }
}
