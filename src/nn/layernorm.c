/* layernorm.c - the module LayerNorm over nb__layer_norm_layer (src/ops/layer_norm.c). */
#include "core/error.h"
#include "core/tensor.h"
#include "nn/module.h"
#include "ops/norm.h"
#include "nn/onnx_export.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* LayerNorm's kind state (m->impl). */
typedef struct {
    int ndim;                  /* dims of normalized_shape */
    int64_t ns[NB_MAX_DIMS];   /* normalized_shape */
    int affine;                /* elementwise_affine */
    float eps;
} ln_state;

static nb_tensor *ln_module_forward(nb_module *m, nb_tensor *x)
{
    const ln_state *st = m->impl;
    char layer[160], nss[128];
    nb__shape_str(st->ndim, st->ns, nss, sizeof nss);
    snprintf(layer, sizeof layer, "LayerNorm(%s)", nss);
    nb_tensor *w = st->affine ? m->own[0].tensor : NULL, *b = st->affine ? m->own[1].tensor : NULL;
    return nb__layer_norm_layer(layer, x, st->ndim, st->ns, w, b, st->eps);
}

/* ONNX: LayerNormalization from opset 17, its decomposition before (nb__ox_layer_norm) */
static int ln_ox(nb_module *m, nb__ox *e, int x)
{
    const ln_state *st = m->impl;
    nb_tensor *y = nb_module_forward(m, nb__ox_rt(e, x));
    int w = st->affine ? nb__ox_param(e, m->own[0].tensor) : -1, b = st->affine ? nb__ox_param(e, m->own[1].tensor) : -1;
    if (!y || (st->affine && (w < 0 || b < 0))) return -1;
    return nb__ox_layer_norm(e, x, st->ndim, w, b, st->eps, y);
}

static const nb_module_vtable ln_vt = {.kind = "LayerNorm", .forward = ln_module_forward, .to_onnx = ln_ox};

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
    nb_module *m = nb__module_new_with(ctx, &ln_vt, sizeof(ln_state));
    if (!m) return NULL;
    ln_state *st = m->impl;
    st->ndim = ndim;
    memcpy(st->ns, ns, (size_t)ndim * sizeof(int64_t));
    st->affine = !d.no_elementwise_affine;
    st->eps = d.eps > 0 ? d.eps : 1e-5f;
    if (st->affine) {
        nb_tensor *w = nb_tensor_new(ctx, NB_F32, ndim, ns);
        if (nb__module_add(m, "weight", w, 0) || nb__module_add(m, "bias", nb_tensor_new(ctx, NB_F32, ndim, ns), 0)) {
            nb_module_free(m);
            return NULL;
        }
        for (int64_t j = 0; j < w->numel; j++) nb__f(w)[j] = 1.0f;
    }
    return m;
}
