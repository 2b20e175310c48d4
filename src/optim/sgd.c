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
        NB_FOR(n, i, n, {
            float g = maximize ? -gr[i] : gr[i];
            if (decay) g = fmaf(wd, th[i], g);
            if (use_mom) {
                b[i] = first ? g : fmaf(keep, g, b[i] * mu);
                g = nesterov ? fmaf(mu, b[i], g) : b[i];
            }
            th[i] = fmaf(neg_lr, g, th[i]);
        });
        if (use_mom) *step += 1;
    }
}
