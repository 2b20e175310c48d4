/* layernorm.c - the module LayerNorm over nb__layer_norm_layer (src/ops/layer_norm.c). */
#include "core/error.h"
#include "core/tensor.h"
#include "nn/module.h"
#include "ops/norm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- module: impl = normalized_shape (m->i[0] dims), m->i[1] affine, m->f[0] eps ---- */

static nb_tensor *ln_module_forward(nb_module *m, nb_tensor *x)
{
    const int64_t *ns = m->impl;
    char layer[160], nss[128];
    nb__shape_str((int)m->i[0], ns, nss, sizeof nss);
    snprintf(layer, sizeof layer, "LayerNorm(%s)", nss);
    nb_tensor *w = m->i[1] ? m->own[0].tensor : NULL, *b = m->i[1] ? m->own[1].tensor : NULL;
    return nb__layer_norm_layer(layer, x, (int)m->i[0], ns, w, b, m->f[0]);
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
            nb__shape_str(ndim, ns, nss, sizeof nss);
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
