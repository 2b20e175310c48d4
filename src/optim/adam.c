/* adam.c - torch.optim.Adam and AdamW, PyTorch 1.13's _single_tensor_adam(w), per
 * element in float32 at step t (the parameter's own count, 1 at its first step):
 *   g ← ∇ (−∇ if maximize)
 *   Adam: g ← g + λ·θ                    AdamW: θ ← θ·(1 - lr·λ)
 *   m ← m·β1 + (1-β1)·g;  v ← v·β2 + ((1-β2)·g)·g;  amsgrad: v̂ ← max(v̂, v), used for v
 *   θ ← θ + (-(lr/(1-β1ᵗ))·m) / (√v / √(1-β2ᵗ) + ε)
 * The add/addcmul steps are fmaf like torch's kernels on this build; the scalars
 * (1-β, lr/(1-β1ᵗ), √(1-β2ᵗ), 1-lr·λ) are computed in double and rounded once.
 * Matches torch 1.13 bit for bit on the goldens of tools/goldens/gen_optim.py. */
#include "optim/optim.h"
#include "core/tensor.h"
#include "core/threads.h"

#include <math.h>

/* One parameter's step, as its chunks (nb__parallel_if) read it: the scalars of the
 * formulas above; θ, ∇, m, v, v̂ (numel floats each, same layout; v̂ NULL without amsgrad). */
typedef struct {
    int maximize, decoupled, decay, amsgrad;
    float shrink, wd, c1, b1, c2, b2, bc2_sqrt, eps, neg_step;
    float *th, *gr, *m, *v, *vmax;
} adam_job;

/* Elements [b, e) of one parameter's step. */
NB_CLONES static void adam_step_chunk(void *ctx, int64_t b, int64_t e, int slot)
{
    adam_job job = *(const adam_job *)ctx; /* a copy: the stores below cannot alias it */
    float *th = job.th, *gr = job.gr, *m = job.m, *v = job.v, *vmax = job.vmax;
    for (int64_t i = b; i < e; i++) {
        float g = job.maximize ? -gr[i] : gr[i];
        if (job.decoupled) th[i] *= job.shrink;
        else if (job.decay) g = fmaf(job.wd, th[i], g);
        m[i] = fmaf(job.c1, g, m[i] * job.b1);
        v[i] = fmaf(job.c2 * g, g, v[i] * job.b2);
        float vv = v[i];
        if (job.amsgrad) vv = vmax[i] = fmaxf(vmax[i], vv);
        float denom = sqrtf(vv) / job.bc2_sqrt + job.eps;
        th[i] = th[i] + (job.neg_step * m[i]) / denom;
    }
}

NB_CLONES void nb__adam_step(nb_optim *o)
{
    double b2d = o->adam.beta2;
    float b2 = (float)b2d, c2 = (float)(1.0 - b2d), eps = (float)o->adam.eps;
    int amsgrad = o->adam.amsgrad, decoupled = o->kind == NB_OPT_ADAMW, maximize = o->adam.maximize;
    for (int k = 0; k < o->n; k++) {
        nb__param_state *s = &o->ps[k];
        nb_tensor *p = s->p;
        if (!p->grad) continue; /* p.grad is None */
        const nb__group *grp = &o->groups[s->group];
        double lr = grp->lr, wdd = grp->weight_decay, b1d = grp->momentum;
        float *stepv = nb__f(s->step);
        *stepv += 1; /* torch: step_t += 1 on a float32 tensor */
        double t = *stepv;
        double bc1 = 1.0 - pow(b1d, t), bc2 = 1.0 - pow(b2d, t);
        float neg_step = (float)-(lr / bc1), bc2_sqrt = (float)sqrt(bc2);
        float b1 = (float)b1d, c1 = (float)(1.0 - b1d), wd = (float)wdd, shrink = (float)(1.0 - lr * wdd);
        int decay = wdd != 0;
        float *th = nb__f(p), *gr = p->grad, *m = nb__f(s->buf1), *v = nb__f(s->buf2);
        float *vmax = amsgrad ? nb__f(s->buf3) : NULL;
        int64_t n = p->numel;
        /* θ, ∇, m, v, v̂: numel floats each, same layout */
        nb__parallel_if(n, n, nb__chunk_for(n), adam_step_chunk,
                        &(adam_job){.maximize = maximize, .decoupled = decoupled, .decay = decay, .amsgrad = amsgrad,
                                    .shrink = shrink, .wd = wd, .c1 = c1, .b1 = b1, .c2 = c2, .b2 = b2,
                                    .bc2_sqrt = bc2_sqrt, .eps = eps, .neg_step = neg_step,
                                    .th = th, .gr = gr, .m = m, .v = v, .vmax = vmax});
    }
}
