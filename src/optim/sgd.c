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

/* a chunk of nb__sgd_step's loop over i (nb__parallel_if) */
typedef struct {
    int maximize;
    int decay;
    int use_mom;
    int first;
    int nesterov;
    float wd;
    float keep;
    float mu;
    float neg_lr;
    float *th;
    float *gr;
    float *b;
} sgd_step_i_ctx;
NB_CLONES static void sgd_step_i_chunk(void *ctx_, int64_t b_, int64_t e_, int slot_)
{
    const sgd_step_i_ctx *c_ = ctx_;
    int maximize = c_->maximize;
    int decay = c_->decay;
    int use_mom = c_->use_mom;
    int first = c_->first;
    int nesterov = c_->nesterov;
    float wd = c_->wd;
    float keep = c_->keep;
    float mu = c_->mu;
    float neg_lr = c_->neg_lr;
    float *th = c_->th;
    float *gr = c_->gr;
    float *b = c_->b;
    for (int64_t i = b_; i < e_; i++) {
        float g = maximize ? -gr[i] : gr[i];
            if (decay) g = fmaf(wd, th[i], g);
            if (use_mom) {
                b[i] = first ? g : fmaf(keep, g, b[i] * mu);
                g = nesterov ? fmaf(mu, b[i], g) : b[i];
            }
            th[i] = fmaf(neg_lr, g, th[i]);;
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
        nb__parallel_if(n, n, nb__chunk_for(n), sgd_step_i_chunk,
                        &(sgd_step_i_ctx){maximize, decay, use_mom, first, nesterov, wd, keep, mu, neg_lr, th, gr, b});
        if (use_mom) *step += 1;
    }
}
