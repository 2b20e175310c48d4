/* instancenorm.c - the modules InstanceNorm1d/2d over nb__instance_norm_layer
 * (src/ops/instance_norm.c); unbatched input is viewed as a batch of one. */
#include "core/error.h"
#include "core/tensor.h"
#include "nn/module.h"
#include "nn/layers.h"
#include "nn/onnx_export.h"
#include "ops/norm.h"

#include <stdio.h>

/* InstanceNorm's kind state (m->impl). own: weight, bias (affine), then running_mean,
 * running_var, num_batches_tracked (track). */
typedef struct {
    int64_t C; /* num_features */
    int sd; /* spatial dims (1 or 2) */
    int affine;
    int track; /* track_running_stats */
    float eps;
    float momentum;
} in_state;

static nb_tensor *in_module_forward(nb_module *m, nb_tensor *x)
{
    const in_state *st = m->impl;
    const char *kind = m->vt->kind;
    int64_t C = st->C;
    int sd = st->sd, affine = st->affine, track = st->track;
    char layer[96], s[128];
    snprintf(layer, sizeof layer, "%s(%lld)", kind, (long long)C);
    nb__shape_str(x->ndim, x->shape, s, sizeof s);
    if (x->ndim != sd + 1 && x->ndim != sd + 2) {
        nb__fail(NB_ERR_SHAPE, "%s: expected %dD or %dD input, got %s (%dD)", layer, sd + 1, sd + 2, s, x->ndim);
        return NULL;
    }
    int batched = x->ndim == sd + 2;
    int64_t ch = x->shape[batched ? 1 : 0];
    /* PyTorch only warns about a channel mismatch when there is nothing per channel */
    if (ch != C && (affine || track)) {
        nb__fail(NB_ERR_SHAPE, "%s: input %s has %lld channels in dim %d, expected %lld", layer, s, (long long)ch,
                 batched ? 1 : 0, (long long)C);
        return NULL;
    }
    nb_tensor *w = affine ? m->own[0].tensor : NULL, *b = affine ? m->own[1].tensor : NULL;
    nb_tensor *rm = track ? m->own[affine ? 2 : 0].tensor : NULL, *rv = track ? m->own[affine ? 3 : 1].tensor : NULL;
    nb_tensor *xb = x;
    if (!batched) {
        int64_t shape[NB_MAX_DIMS];
        shape[0] = 1;
        for (int d = 0; d < x->ndim; d++) shape[d + 1] = x->shape[d];
        xb = nb_reshape(x, x->ndim + 1, shape);
    }
    nb_tensor *y = nb__instance_norm_layer(layer, xb, rm, rv, w, b, m->training || !track, st->momentum, st->eps);
    if (y && !batched) y = nb_reshape(y, x->ndim, x->shape);
    return y;
}

/* ONNX: InstanceNormalization (scale 1 and bias 0 without affine); in eval mode with
 * running statistics PyTorch normalizes with those: BatchNormalization. */
static int in_ox(nb_module *m, nb__ox *e, int x)
{
    const in_state *st = m->impl;
    nb_tensor *xt = nb__ox_rt(e, x), *y = xt ? nb_module_forward(m, xt) : NULL;
    if (!y) return -1;
    if (xt->ndim != st->sd + 2) {
        nb__fail(NB_ERR_SHAPE, "%s: ONNX export needs batched input, got %s", m->vt->kind, nb__tshape(xt));
        return -1;
    }
    int64_t C = xt->shape[1];
    int w = st->affine ? nb__ox_param(e, m->own[0].tensor) : nb__ox_fill(e, C, 1.0f);
    int b = st->affine ? nb__ox_param(e, m->own[1].tensor) : nb__ox_fill(e, C, 0.0f);
    if (st->track) {
        int k = st->affine ? 2 : 0;
        int in[5] = {x, w, b, nb__ox_param(e, m->own[k].tensor), nb__ox_param(e, m->own[k + 1].tensor)};
        nb__ox_attr at[2] = {NB__OX_FLOAT("epsilon", st->eps), NB__OX_FLOAT("momentum", 1.0f - st->momentum)};
        for (int i = 1; i < 5; i++)
            if (in[i] < 0) return -1;
        return nb__ox_node(e, "BatchNormalization", in, 5, at, 2, y);
    }
    int in[3] = {x, w, b};
    if (w < 0 || b < 0) return -1;
    return nb__ox_node(e, "InstanceNormalization", in, 3, &NB__OX_FLOAT("epsilon", st->eps), 1, y);
}

static const nb_module_vtable in1d_vt = {.kind = "InstanceNorm1d", .forward = in_module_forward, .to_onnx = in_ox};
static const nb_module_vtable in2d_vt = {.kind = "InstanceNorm2d", .forward = in_module_forward, .to_onnx = in_ox};

static nb_module *in_new(nb_ctx *ctx, const nb_module_vtable *vt, int sd, int64_t C, const nb_instancenorm_opts *o)
{
    nb_instancenorm_opts d = o ? *o : (nb_instancenorm_opts){0};
    if (nb__norm_module_check(vt->kind, C, d.eps, d.momentum)) return NULL;
    nb_module *m = nb__module_new_with(ctx, vt, sizeof(in_state));
    if (!m) return NULL;
    in_state *st = m->impl;
    st->C = C;
    st->sd = sd;
    st->affine = d.affine != 0;
    st->track = d.track_running_stats != 0;
    st->eps = d.eps > 0 ? d.eps : 1e-5f;
    st->momentum = d.momentum_set || d.momentum > 0 ? d.momentum : 0.1f;
    if (nb__norm_module_tensors(m, C, d.affine, d.track_running_stats, NULL)) {
        nb_module_free(m);
        return NULL;
    }
    return m;
}

nb_module *nb_instancenorm1d_new(nb_ctx *ctx, int64_t num_features, const nb_instancenorm_opts *o)
{
    return in_new(ctx, &in1d_vt, 1, num_features, o);
}

nb_module *nb_instancenorm2d_new(nb_ctx *ctx, int64_t num_features, const nb_instancenorm_opts *o)
{
    return in_new(ctx, &in2d_vt, 2, num_features, o);
}
