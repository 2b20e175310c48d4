/* groupnorm.c - the module GroupNorm over nb__group_norm_layer (src/ops/group_norm.c). */
#include "core/error.h"
#include "core/tensor.h"
#include "nn/module.h"
#include "ops/norm.h"
#include "nn/onnx_export.h"

#include <stdio.h>

/* GroupNorm's kind state (m->impl). */
typedef struct {
    int64_t G; /* num_groups */
    int64_t C; /* num_channels */
    int affine;
    float eps;
} gn_state;

static nb_tensor *gn_module_forward(nb_module *m, nb_tensor *x)
{
    const gn_state *st = m->impl;
    char layer[96];
    snprintf(layer, sizeof layer, "GroupNorm(%lld, %lld)", (long long)st->G, (long long)st->C);
    if (x->ndim >= 2 && x->shape[1] != st->C) {
        char s[128];
        nb__shape_str(x->ndim, x->shape, s, sizeof s);
        nb__fail(NB_ERR_SHAPE, "%s: input %s has %lld channels in dim 1, expected %lld", layer, s,
                 (long long)x->shape[1], (long long)st->C);
        return NULL;
    }
    nb_tensor *w = st->affine ? m->own[0].tensor : NULL, *b = st->affine ? m->own[1].tensor : NULL;
    return nb__group_norm_layer(layer, x, st->G, w, b, st->eps);
}

/* ONNX, as torch.onnx.export writes GroupNorm: x viewed as (N, G, -1), normalized per
 * group by InstanceNormalization (scale 1, bias 0), viewed back as x's shape, then the
 * per-channel weight and bias. */
static int gn_ox(nb_module *m, nb__ox *e, int x)
{
    const gn_state *st = m->impl;
    nb_tensor *xt = nb__ox_rt(e, x), *y = xt ? nb_module_forward(m, xt) : NULL;
    if (!y) return -1;
    int g = nb__ox_node2(e, "Reshape", x, nb__ox_ints(e, 3, (int64_t[]){0, st->G, -1}), NULL);
    int in[3] = {g, nb__ox_fill(e, st->G, 1.0f), nb__ox_fill(e, st->G, 0.0f)};
    if (g < 0 || in[1] < 0 || in[2] < 0) return -1;
    int v = nb__ox_node(e, "InstanceNormalization", in, 3, &NB__OX_FLOAT("epsilon", st->eps), 1, NULL);
    v = nb__ox_node2(e, "Reshape", v, nb__ox_node1(e, "Shape", x, NULL), st->affine ? NULL : y);
    if (!st->affine) return v;
    v = nb__ox_node2(e, "Mul", v, nb__ox_channels(e, nb__ox_param(e, m->own[0].tensor), st->C, xt->ndim), NULL);
    return nb__ox_node2(e, "Add", v, nb__ox_channels(e, nb__ox_param(e, m->own[1].tensor), st->C, xt->ndim), y);
}

static const nb_module_vtable gn_vt = {.kind = "GroupNorm", .forward = gn_module_forward, .to_onnx = gn_ox};

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
    nb_module *m = nb__module_new_with(ctx, &gn_vt, sizeof(gn_state));
    if (!m) return NULL;
    gn_state *st = m->impl;
    st->G = G;
    st->C = C;
    st->affine = !d.no_affine;
    st->eps = d.eps > 0 ? d.eps : 1e-5f;
    if (st->affine) {
        nb_tensor *w = nb_tensor_new(ctx, NB_F32, 1, &C);
        if (nb__module_add(m, "weight", w, 0) || nb__module_add(m, "bias", nb_tensor_new(ctx, NB_F32, 1, &C), 0)) {
            nb_module_free(m);
            return NULL;
        }
        for (int64_t c = 0; c < C; c++) nb__f(w)[c] = 1.0f;
    }
    return m;
}
