/* layernorm.c - LayerNorm: nb_layer_norm (F.layer_norm) and the module.
 *
 * Layout: x (R, D) row-major where D = product of normalized_shape (the trailing
 * dims) and R the product of the leading ones. Each row is normalized by its own
 * mean and biased variance; weight and bias (shaped like normalized_shape) scale
 * element j of every row. Same in train and eval. The kernel is the contiguous-
 * group one of groupnorm.c with one group per row and one parameter per position.
 */
#include "core/error.h"
#include "core/tensor.h"
#include "nn/module.h"
#include "norm/norm.h"

#include <stdlib.h>
#include <string.h>

/* "[3, 5]" */
static void ns_str(int ndim, const int64_t *ns, char *buf, size_t n) { nb__shape_str(ndim, ns, buf, n); }

static nb_tensor *layer_norm_checked(const char *layer, nb_tensor *x, int nd, const int64_t *ns, nb_tensor *w,
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
    return layer_norm_checked("layer_norm", x, ndim, normalized_shape, weight, bias, eps);
}

/* ---- module: impl = normalized_shape (m->i[0] dims), m->i[1] affine, m->f[0] eps ---- */

static nb_tensor *ln_module_forward(nb_module *m, nb_tensor *x)
{
    const int64_t *ns = m->impl;
    char layer[160], nss[128];
    ns_str((int)m->i[0], ns, nss, sizeof nss);
    snprintf(layer, sizeof layer, "LayerNorm(%s)", nss);
    nb_tensor *w = m->i[1] ? m->own[0].tensor : NULL, *b = m->i[1] ? m->own[1].tensor : NULL;
    return layer_norm_checked(layer, x, (int)m->i[0], ns, w, b, m->f[0]);
}

static void ln_free(nb_module *m) { free(m->impl); }

static const nb_module_vtable ln_vt = {.kind = "LayerNorm", .forward = ln_module_forward, .free = ln_free};

nb_module *nb_layernorm_new(nb_ctx *ctx, int ndim, const int64_t *ns, const nb_layernorm_opts *o)
{
    nb_layernorm_opts d = o ? *o : (nb_layernorm_opts){0};
    if (ndim < 1 || ndim > NB_MAX_DIMS || !ns) {
        nb__fail(NB_ERR_ARG, "LayerNorm: normalized_shape needs 1 to %d dims, got %d", NB_MAX_DIMS, ndim);
        return NULL;
    }
    for (int k = 0; k < ndim; k++)
        if (ns[k] <= 0) {
            char nss[128];
            ns_str(ndim, ns, nss, sizeof nss);
            nb__fail(NB_ERR_ARG, "LayerNorm(%s): every size of normalized_shape must be positive", nss);
            return NULL;
        }
    if (d.eps < 0) {
        nb__fail(NB_ERR_ARG, "LayerNorm: eps %g must be >= 0", (double)d.eps);
        return NULL;
    }
    nb_module *m = nb__module_new(ctx, &ln_vt);
    if (!m) return NULL;
    m->impl = malloc((size_t)ndim * sizeof(int64_t));
    if (!m->impl) {
        nb__fail(NB_ERR_MEM, "out of memory creating LayerNorm");
        nb_module_free(m);
        return NULL;
    }
    memcpy(m->impl, ns, (size_t)ndim * sizeof(int64_t));
    m->i[0] = ndim;
    m->i[1] = !d.no_elementwise_affine;
    m->f[0] = d.eps > 0 ? d.eps : 1e-5f;
    if (m->i[1]) {
        nb_tensor *w = nb_tensor_new(ctx, NB_F32, ndim, ns);
        if (nb__module_add(m, "weight", w, 0) || nb__module_add(m, "bias", nb_tensor_new(ctx, NB_F32, ndim, ns), 0)) {
            nb_module_free(m);
            return NULL;
        }
        for (int64_t j = 0; j < w->numel; j++) nb__f(w)[j] = 1.0f;
    }
    return m;
}
