/* clip.c - torch.nn.utils.clip_grad_norm_ and clip_grad_value_. */
#include "internal.h"

#include <math.h>

float nb_clip_grad_norm(nb_tensor **params, int n, float max_norm, float norm_type)
{
    double total = 0;
    int inf = isinf(norm_type);
    for (int k = 0; k < n; k++) {
        nb_tensor *p = params[k];
        if (!p || !p->grad) continue;
        double part = 0;
        for (int64_t i = 0; i < p->numel; i++) {
            double a = fabs((double)p->grad[i]);
            if (inf) part = a > part ? a : part;
            else part += norm_type == 2 ? a * a : pow(a, norm_type);
        }
        /* torch: the norm of the per-parameter norms */
        if (inf) total = part > total ? part : total;
        else total += part; /* sum of |g|^p over all parameters */
    }
    float tn = inf ? (float)total : (float)(norm_type == 2 ? sqrt(total) : pow(total, 1.0 / norm_type));
    float coef = max_norm / (tn + 1e-6f);
    if (coef < 1.0f)
        for (int k = 0; k < n; k++) {
            nb_tensor *p = params[k];
            if (!p || !p->grad) continue;
            for (int64_t i = 0; i < p->numel; i++) p->grad[i] *= coef;
        }
    return tn;
}

void nb_clip_grad_value(nb_tensor **params, int n, float v)
{
    for (int k = 0; k < n; k++) {
        nb_tensor *p = params[k];
        if (!p || !p->grad) continue;
        for (int64_t i = 0; i < p->numel; i++) p->grad[i] = fminf(fmaxf(p->grad[i], -v), v);
    }
}
