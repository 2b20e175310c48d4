/* sgd.c - torch.optim.SGD (PyTorch 1.13 _single_tensor_sgd), per element:
 *   g ← ∇ + λθ;  b ← g on the first step, else μb + (1-τ)g;
 *   g ← g + μb (nesterov) or b;  θ ← θ - lr·g */
#include "optim.h"

void nb__sgd_step(nb_optim *o)
{
    float mu = o->sgd.momentum, damp = o->sgd.dampening;
    int nesterov = o->sgd.nesterov;
    for (int k = 0; k < o->n; k++) {
        nb__param_state *s = &o->ps[k];
        nb_tensor *p = s->p;
        if (!p->grad || !p->requires_grad) continue; /* p.grad is None */
        float lr = o->groups[s->group].lr, wd = o->groups[s->group].weight_decay;
        float *th = nb__f(p), *gr = p->grad, *b = s->buf1;
        int64_t n = p->numel;
        int first = s->step == 0;
        NB_FOR(n, i, n, {
            float g = gr[i];
            if (wd != 0) g += wd * th[i];
            if (mu != 0) {
                b[i] = first ? g : mu * b[i] + (1 - damp) * g;
                g = nesterov ? g + mu * b[i] : b[i];
            }
            th[i] -= lr * g;
        });
        s->step++;
    }
}
