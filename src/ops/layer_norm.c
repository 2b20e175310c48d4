/* layer_norm.c - nb_layer_norm (F.layer_norm) (the module LayerNorm is in
 * src/nn/layernorm.c).
 *
 * Layout: x (R, D) row-major where D = product of normalized_shape (the trailing
 * dims) and R the product of the leading ones. Each row is normalized by its own
 * mean and biased variance; weight and bias (shaped like normalized_shape) scale
 * element j of every row. Same in train and eval. The kernel is the contiguous-
 * group one of group_norm.c with one group per row and one parameter per position.
 */
#include "core/error.h"
#include "core/tensor.h"
#include "ops/norm.h"

#include <stdlib.h>
#include <string.h>

/* "[3, 5]" */
static void ns_str(int ndim, const int64_t *ns, char *buf, size_t n) { nb__shape_str(ndim, ns, buf, n); }

nb_tensor *nb__layer_norm_layer(const char *layer, nb_tensor *x, int nd, const int64_t *ns, nb_tensor *w,
                                nb_tensor *b, float eps)
{
    if (!x) return NULL;
    char s[128], nss[128];
    nb__shape_str(x->ndim, x->shape, s, sizeof s);
    if (x->dtype != NB_F32) {
        nb__fail(NB_ERR_ARG, "%s: input %s must be F32", layer, s);
        return NULL;
    }
    if (nd < 1 || nd > NB_MAX_DIMS || !ns) {
        nb__fail(NB_ERR_ARG, "%s: normalized_shape needs 1 to %d dims, got %d", layer, NB_MAX_DIMS, nd);
        return NULL;
    }
    ns_str(nd, ns, nss, sizeof nss);
    int ok = x->ndim >= nd;
    for (int d = 0; ok && d < nd; d++) ok = x->shape[x->ndim - nd + d] == ns[d];
    if (!ok) {
        /* nss + 1 drops the '[': "[*, 3, 5]" */
        nb__fail(NB_ERR_SHAPE, "%s: input %s does not end with normalized_shape %s (expected [*, %s)", layer, s,
                 nss, nss + 1);
        return NULL;
    }
    nb_tensor *pv[2] = {w, b};
    for (int k = 0; k < 2; k++) {
        if (!pv[k]) continue;
        int same = pv[k]->dtype == NB_F32 && pv[k]->ndim == nd;
        for (int d = 0; same && d < nd; d++) same = pv[k]->shape[d] == ns[d];
        if (!same) {
            char ps[128];
            nb__shape_str(pv[k]->ndim, pv[k]->shape, ps, sizeof ps);
            nb__fail(NB_ERR_SHAPE, "%s: %s has shape %s; expected normalized_shape %s (F32)", layer,
                     k ? "bias" : "weight", ps, nss);
            return NULL;
        }
    }
    int64_t R = 1;
    for (int d = 0; d < x->ndim - nd; d++) R *= x->shape[d];
    return nb__group_norm_impl(x, R, 1, 1, w, b, eps, NULL, NULL);
}

nb_tensor *nb_layer_norm(nb_tensor *x, int ndim, const int64_t *normalized_shape, nb_tensor *weight,
                         nb_tensor *bias, float eps)
{
    return nb__layer_norm_layer("layer_norm", x, ndim, normalized_shape, weight, bias, eps);
}
