/* instance_norm.c - nb_instance_norm (F.instance_norm) (the modules InstanceNorm1d/2d
 * are in src/nn/instancenorm.c).
 *
 * Layout: x (N, C, S) row-major, S = product of the spatial dims. With input
 * statistics (training, or track_running_stats off) each (sample, channel) is
 * normalized over its S values: the contiguous-group kernel of group_norm.c with
 * one group per (n, c). Running statistics, when given, are updated as PyTorch
 * does (batch_norm over the (1, N·C, S) view with the running tensors repeated N
 * times, then averaged over N):
 *   running = (1-m)·running + m·mean_n(stat[n, c]), running_var from the unbiased
 *   variance (×S/(S-1)).
 * Without input statistics the running ones normalize, exactly batch_norm in eval.
 * Unbatched input ((C, L) or (C, H, W)) is viewed as a batch of one.
 */
#include "core/error.h"
#include "core/tensor.h"
#include "ops/norm.h"

#include <math.h>

nb_tensor *nb__instance_norm_layer(const char *layer, nb_tensor *x, nb_tensor *rm, nb_tensor *rv, nb_tensor *w,
                                   nb_tensor *b, int use_input_stats, float momentum, float eps)
{
    if (!x) return NULL;
    int64_t N, C, S;
    if (nb__norm_input(layer, x, 3, "(N, C, spatial...)", &N, &C, &S)) return NULL;
    if (nb__norm_check_vec(layer, "running_mean", rm, C) || nb__norm_check_vec(layer, "running_var", rv, C) ||
        nb__norm_check_vec(layer, "weight", w, C) || nb__norm_check_vec(layer, "bias", b, C))
        return NULL;
    if (!use_input_stats) {
        if (!rm || !rv) {
            nb__fail(NB_ERR_ARG, "%s: normalizing without input statistics needs running_mean and running_var",
                     layer);
            return NULL;
        }
        return nb_batch_norm(x, rm, rv, w, b, 0, momentum, eps);
    }
    if (S <= 1) {
        nb__fail(NB_ERR_SHAPE, "%s: expected more than 1 spatial element when training, got input %s", layer, nb__tshape(x));
        return NULL;
    }
    double *mean = NULL, *var = NULL;
    if (rm || rv) {
        mean = nb__scratch(x->ctx, (size_t)(N * C + 1) * sizeof(double));
        var = nb__scratch(x->ctx, (size_t)(N * C + 1) * sizeof(double));
        if (!mean || !var) return NULL;
    }
    nb_tensor *y = nb__group_norm_impl(x, N * C, C, S, w, b, eps, mean, var);
    if (!y || !mean || N == 0) return y;
    double f = momentum, unb = (double)S / (double)(S - 1);
    for (int64_t c = 0; c < C; c++) {
        double sm = 0, sv = 0;
        for (int64_t n = 0; n < N; n++) {
            sm += mean[n * C + c];
            sv += var[n * C + c] * unb;
        }
        if (rm) nb__f(rm)[c] = (float)((1.0 - f) * nb__f(rm)[c] + f * sm / (double)N);
        if (rv) nb__f(rv)[c] = (float)((1.0 - f) * nb__f(rv)[c] + f * sv / (double)N);
    }
    return y;
}

nb_tensor *nb_instance_norm(nb_tensor *x, nb_tensor *running_mean, nb_tensor *running_var, nb_tensor *weight,
                            nb_tensor *bias, int use_input_stats, float momentum, float eps)
{
    return nb__instance_norm_layer("instance_norm", x, running_mean, running_var, weight, bias, use_input_stats,
                                 momentum, eps);
}
