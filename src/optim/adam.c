/* adam.c - torch.optim.Adam and AdamW (PyTorch 1.13 _single_tensor_adam(w)), per element:
 *   AdamW: θ ← θ·(1 - lr·λ)          Adam: g ← ∇ + λθ
 *   m ← β1·m + (1-β1)·g;  v ← β2·v + (1-β2)·g²   (amsgrad: v̂ ← max(v̂, v))
 *   θ ← θ - lr/(1-β1ᵗ) · m / (√v/√(1-β2ᵗ) + ε) */
#include "optim.h"

#include <math.h>

void nb__adam_step(nb_optim *o)
{
    float b1 = o->adam.beta1, b2 = o->adam.beta2, eps = o->adam.eps;
    int amsgrad = o->adam.amsgrad, decoupled = o->kind == NB_OPT_ADAMW;
    for (int k = 0; k < o->n; k++) {
        nb__param_state *s = &o->ps[k];
        nb_tensor *p = s->p;
        if (!p->grad || !p->requires_grad) continue;
        float lr = o->groups[s->group].lr, wd = o->groups[s->group].weight_decay;
        s->step++;
        float bc1 = 1 - powf(b1, (float)s->step), bc2 = 1 - powf(b2, (float)s->step);
        float step_size = lr / bc1, bc2_sqrt = sqrtf(bc2);
        float *th = nb__f(p), *gr = p->grad, *m = s->buf1, *v = s->buf2, *vmax = s->buf3;
        int64_t n = p->numel;
        NB_FOR(n, i, n, {
            float g = gr[i];
            if (decoupled) th[i] *= 1 - lr * wd;
            else if (wd != 0) g += wd * th[i];
            m[i] += (g - m[i]) * (1 - b1); /* torch: exp_avg.lerp_(grad, 1-beta1) */
            v[i] = v[i] * b2 + (1 - b2) * g * g;
            float vv = v[i];
            if (amsgrad) {
                if (vv > vmax[i]) vmax[i] = vv;
                vv = vmax[i];
            }
            float denom = sqrtf(vv) / bc2_sqrt + eps;
            th[i] -= step_size * m[i] / denom;
        });
    }
}
