/* norm_check.c - the argument checks every normalization op makes (ops/norm.h):
 * batch_norm.c, instance_norm.c, group_norm.c. */
#include "core/error.h"
#include "core/tensor.h"
#include "ops/norm.h"

nb_status nb__norm_input(const char *layer, const nb_tensor *x, int min_dims, const char *dims, int64_t *N, int64_t *C,
                         int64_t *S)
{
    if (x->dtype != NB_F32) return nb__fail(NB_ERR_ARG, "%s: input %s must be F32", layer, nb__tshape(x));
    if (x->ndim < min_dims)
        return nb__fail(NB_ERR_SHAPE, "%s: input %s needs at least %d dims %s", layer, nb__tshape(x), min_dims, dims);
    *N = x->shape[0], *C = x->shape[1], *S = 1;
    for (int d = 2; d < x->ndim; d++) *S *= x->shape[d];
    return NB_OK;
}

nb_status nb__norm_check_vec(const char *layer, const char *what, const nb_tensor *t, int64_t C)
{
    if (!t || (t->dtype == NB_F32 && t->numel == C)) return NB_OK;
    return nb__fail(NB_ERR_SHAPE, "%s: %s has shape %s%s; expected %lld F32 values (one per channel)", layer, what,
                    nb__tshape(t), t->dtype != NB_F32 ? " and is not F32" : "", (long long)C);
}
