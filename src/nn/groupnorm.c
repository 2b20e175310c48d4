/* groupnorm.c - the module GroupNorm over nb__group_norm_layer (src/ops/group_norm.c). */
#include "core/error.h"
#include "core/tensor.h"
#include "nn/module.h"
#include "ops/norm.h"

#include <stdio.h>

/* ---- module: m->i[0] groups, [1] channels, [2] affine; m->f[0] eps ---- */

static nb_tensor *gn_module_forward(nb_module *m, nb_tensor *x)
{
    char layer[96];
    snprintf(layer, sizeof layer, "GroupNorm(%lld, %lld)", (long long)m->i[0], (long long)m->i[1]);
    if (x->ndim >= 2 && x->shape[1] != m->i[1]) {
        char s[128];
        nb__shape_str(x->ndim, x->shape, s, sizeof s);
        nb__fail(NB_ERR_SHAPE, "%s: input %s has %lld channels in dim 1, expected %lld", layer, s,
                 (long long)x->shape[1], (long long)m->i[1]);
        return NULL;
    }
    nb_tensor *w = m->i[2] ? m->own[0].tensor : NULL, *b = m->i[2] ? m->own[1].tensor : NULL;
    return nb__group_norm_layer(layer, x, m->i[0], w, b, m->f[0]);
}

static const nb_module_vtable gn_vt = {.kind = "GroupNorm", .forward = gn_module_forward};

nb_module *nb_groupnorm_new(nb_ctx *ctx, int64_t G, int64_t C, const nb_groupnorm_opts *o)
{
    nb_groupnorm_opts d = o ? *o : (nb_groupnorm_opts){0};
    if (G <= 0 || C <= 0 || C % G) {
        nb__fail(NB_ERR_ARG, "GroupNorm(%lld, %lld): num_channels %lld must be positive and divisible by "
                 "num_groups %lld", (long long)G, (long long)C, (long long)C, (long long)G);
        return NULL;
    }
    if (d.eps < 0) {
        nb__fail(NB_ERR_ARG, "GroupNorm(%lld, %lld): eps %g must be >= 0", (long long)G, (long long)C, (double)d.eps);
        return NULL;
    }
    nb_module *m = nb__module_new(ctx, &gn_vt);
    if (!m) return NULL;
    m->i[0] = G;
    m->i[1] = C;
    m->i[2] = !d.no_affine;
    m->f[0] = d.eps > 0 ? d.eps : 1e-5f;
    if (m->i[2]) {
        nb_tensor *w = nb_tensor_new(ctx, NB_F32, 1, &C);
        if (nb__module_add(m, "weight", w, 0) || nb__module_add(m, "bias", nb_tensor_new(ctx, NB_F32, 1, &C), 0)) {
            nb_module_free(m);
            return NULL;
        }
        for (int64_t c = 0; c < C; c++) nb__f(w)[c] = 1.0f;
    }
    return m;
}
