/* batchnorm.c - the modules BatchNorm1d/2d with PyTorch's buffers (weight, bias,
 * running_mean, running_var, num_batches_tracked) over nb__batch_norm_layer
 * (src/ops/batch_norm.c); their fuse hook (BatchNorm + ReLU as one op) and the
 * eval-mode scale/shift that lets a conv fold a BatchNorm in. */
#include "core/error.h"
#include "core/tensor.h"
#include "core/ctx.h"
#include "nn/module.h"
#include "nn/layers.h"
#include "nn/onnx_export.h"
#include "ops/norm.h"

#include <math.h>
#include <string.h>

/* ---- modules ---- */

/* BatchNorm's kind state (m->impl). */
typedef struct {
    int64_t C;          /* num_features */
    int dims;           /* 1 or 2: BatchNorm1d/2d */
    int cumulative;     /* momentum=None: cumulative average */
    float eps, momentum;
    int own[5];         /* index in m->own of weight, bias, running_mean, running_var,
                         * num_batches_tracked, or -1 */
} bn_state;
enum { BN_W, BN_B, BN_RM, BN_RV, BN_NBT };

static nb_tensor *own_or_null(nb_module *m, int slot)
{
    const bn_state *s = m->impl;
    return s->own[slot] >= 0 ? m->own[s->own[slot]].tensor : NULL;
}

/* relu: relu(bn(x)); res (with relu; not under SyncBatchNorm): relu(bn(x) + res) */
static nb_tensor *bn_forward(nb_module *m, nb_tensor *x, int relu, nb_tensor *res)
{
    const bn_state *s = m->impl;
    const char *kind = m->vt->kind;
    int64_t C = s->C;
    if (s->dims == 2 ? x->ndim != 4 : (x->ndim != 2 && x->ndim != 3)) {
        nb__fail(NB_ERR_SHAPE, "%s(%lld): expected %s input, got %s (%dD)", kind, (long long)C,
                 s->dims == 2 ? "4D (N, C, H, W)" : "2D (N, C) or 3D (N, C, L)", nb__tshape(x), x->ndim);
        return NULL;
    }
    if (x->shape[1] != C) {
        nb__fail(NB_ERR_SHAPE, "%s(%lld): input %s has %lld channels in dim 1, expected %lld", kind,
                 (long long)C, nb__tshape(x), (long long)x->shape[1], (long long)C);
        return NULL;
    }
    nb_tensor *rm = own_or_null(m, BN_RM), *rv = own_or_null(m, BN_RV), *nbt = own_or_null(m, BN_NBT);
    float factor = s->momentum;
    if (m->training && nbt && s->cumulative) factor = (float)(1.0 / (double)(nb__i(nbt)[0] + 1));
    int use_batch = m->training || !rm;
    if (m->training && x->ctx->sync_bn) { /* SyncBatchNorm (ops/sync_batch_norm.c) */
        nb_tensor *ys = nb__sync_batch_norm(kind, x, rm, rv, own_or_null(m, BN_W), own_or_null(m, BN_B), factor,
                                            s->eps, relu);
        if (ys && nbt) {
            nb__i(nbt)[0] += 1;
            nb__bump_version(nbt);
        }
        return ys;
    }
    nb_tensor *y = res ? nb__batch_norm_add_relu(kind, x, rm, rv, own_or_null(m, BN_W), own_or_null(m, BN_B),
                                                 use_batch, factor, s->eps, res)
                       : nb__batch_norm_layer(kind, x, rm, rv, own_or_null(m, BN_W), own_or_null(m, BN_B), use_batch,
                                              factor, s->eps, relu);
    if (y && m->training && nbt) {
        nb__i(nbt)[0] += 1;
        nb__bump_version(nbt);
    }
    return y;
}

static nb_tensor *bn_module_forward(nb_module *m, nb_tensor *x) { return bn_forward(m, x, 0, NULL); }

/* BatchNorm followed by ReLU, in training or eval: one op (nb__batch_norm_layer with relu). */
static nb_tensor *bn_fuse(nb_module *const *mods, int n, nb_tensor *x, int training, int *used)
{
    *used = 0;
    if (n < 2 || strcmp(nb_module_kind(mods[1]), "ReLU")) return NULL;
    *used = 2;
    return bn_forward(mods[0], x, 1, NULL);
}

static int is_bn(const nb_module *m);

int nb__bn_add_relu_ok(const nb_module *m)
{
    return m && is_bn(m) && !m->ctx->sync_bn && !m->capture;
}

nb_tensor *nb__bn_add_relu(nb_module *m, nb_tensor *x, nb_tensor *res)
{
    if (!nb__bn_add_relu_ok(m)) {
        nb__fail(NB_ERR_ARG, "%s: not a BatchNorm that can take the residual sum", nb_module_kind(m));
        return NULL;
    }
    return x && res ? bn_forward(m, x, 1, res) : NULL;
}


static void fill(nb_tensor *t, float v)
{
    for (int64_t i = 0; i < t->numel; i++) nb__f(t)[i] = v;
}

/* ONNX (eval): BatchNormalization with the running statistics (momentum written as
 * ONNX counts it, 1 - PyTorch's); without running statistics PyTorch normalizes with
 * the batch's, so the mean and biased variance over every dim but 1 are computed. */
static int bn_ox(nb_module *m, nb__ox *e, int x)
{
    const bn_state *s = m->impl;
    nb_tensor *xt = nb__ox_rt(e, x), *y = xt ? nb_module_forward(m, xt) : NULL;
    if (!y) return -1;
    nb_tensor *w = own_or_null(m, BN_W), *b = own_or_null(m, BN_B), *rm = own_or_null(m, BN_RM);
    int wv = w ? nb__ox_param(e, w) : nb__ox_fill(e, s->C, 1.0f);
    int bv = b ? nb__ox_param(e, b) : nb__ox_fill(e, s->C, 0.0f);
    if (rm) {
        int in[5] = {x, wv, bv, nb__ox_param(e, rm), nb__ox_param(e, own_or_null(m, BN_RV))};
        nb__ox_attr at[2] = {NB__OX_FLOAT("epsilon", s->eps), NB__OX_FLOAT("momentum", 1.0f - s->momentum)};
        for (int i = 1; i < 5; i++)
            if (in[i] < 0) return -1;
        return nb__ox_node(e, "BatchNormalization", in, 5, at, 2, y);
    }
    int64_t axes[NB_MAX_DIMS];
    int na = 0;
    for (int d = 0; d < xt->ndim; d++)
        if (d != 1) axes[na++] = d;
    nb__ox_attr red = NB__OX_INTS("axes", axes, na);
    int mean = nb__ox_node(e, "ReduceMean", &x, 1, &red, 1, NULL);
    int d = nb__ox_node2(e, "Sub", x, mean, NULL);
    int sq = nb__ox_node2(e, "Mul", d, d, NULL);
    int var = sq < 0 ? -1 : nb__ox_node(e, "ReduceMean", &sq, 1, &red, 1, NULL);
    int sd = nb__ox_node1(e, "Sqrt", nb__ox_node2(e, "Add", var, nb__ox_scalar(e, s->eps), NULL), NULL);
    int v = nb__ox_node2(e, "Mul", nb__ox_node2(e, "Div", d, sd, NULL), nb__ox_channels(e, wv, s->C, xt->ndim), NULL);
    return nb__ox_node2(e, "Add", v, nb__ox_channels(e, bv, s->C, xt->ndim), y);
}

static const nb_module_vtable bn1d_vt = {.kind = "BatchNorm1d", .forward = bn_module_forward, .fuse = bn_fuse,
                                         .to_onnx = bn_ox};
static const nb_module_vtable bn2d_vt = {.kind = "BatchNorm2d", .forward = bn_module_forward, .fuse = bn_fuse,
                                         .to_onnx = bn_ox};

static int is_bn(const nb_module *m) { return m->vt == &bn1d_vt || m->vt == &bn2d_vt; }

nb_status nb__norm_module_check(const char *kind, int64_t C, float eps, float momentum)
{
    if (C <= 0) return nb__fail(NB_ERR_ARG, "%s(%lld): num_features must be positive", kind, (long long)C);
    if (eps < 0 || momentum < 0 || momentum > 1)
        return nb__fail(NB_ERR_ARG, "%s(%lld): eps %g must be >= 0 and momentum %g in [0, 1]", kind, (long long)C,
                        (double)eps, (double)momentum);
    return NB_OK;
}

nb_status nb__norm_module_tensors(nb_module *m, int64_t C, int affine, int running, int own[5])
{
    static const char *const names[5] = {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"};
    for (int k = 0; k < 5; k++) {
        if (own) own[k] = -1;
        if (k < 2 ? !affine : !running) continue;
        nb_tensor *t = k == 4 ? nb_tensor_new(m->ctx, NB_I64, 0, NULL) : nb_tensor_new(m->ctx, NB_F32, 1, &C);
        nb_status st = nb__module_add(m, names[k], t, k >= 2);
        if (st) return st;
        if (own) own[k] = m->n_own - 1;
        if (k == 0 || k == 3) fill(t, 1.0f); /* weight, running_var */
    }
    return NB_OK;
}

static nb_module *bn_new(nb_ctx *ctx, const nb_module_vtable *vt, int dims, int64_t C, const nb_batchnorm_opts *o)
{
    nb_batchnorm_opts d = o ? *o : (nb_batchnorm_opts){0};
    if (nb__norm_module_check(vt->kind, C, d.eps, d.momentum)) return NULL;
    nb_module *m = nb__module_new_with(ctx, vt, sizeof(bn_state));
    if (!m) return NULL;
    bn_state *s = m->impl;
    s->eps = d.eps > 0 ? d.eps : 1e-5f;
    s->momentum = d.momentum_set || d.momentum > 0 ? d.momentum : 0.1f;
    s->C = C;
    s->dims = dims;
    s->cumulative = d.cumulative_average != 0;
    if (nb__norm_module_tensors(m, C, !d.no_affine, !d.no_running_stats, s->own)) {
        nb_module_free(m);
        return NULL;
    }
    return m;
}

nb_module *nb_batchnorm1d_new(nb_ctx *ctx, int64_t num_features, const nb_batchnorm_opts *o)
{
    return bn_new(ctx, &bn1d_vt, 1, num_features, o);
}

nb_module *nb_batchnorm2d_new(nb_ctx *ctx, int64_t num_features, const nb_batchnorm_opts *o)
{
    return bn_new(ctx, &bn2d_vt, 2, num_features, o);
}

nb_status nb__batchnorm_eval_scale_shift(nb_module *m, float *scale, float *shift)
{
    if (!m || (m->vt != &bn1d_vt && m->vt != &bn2d_vt))
        return nb__fail(NB_ERR_ARG, "batchnorm scale/shift: not a BatchNorm module");
    nb_tensor *rm = own_or_null(m, BN_RM), *rv = own_or_null(m, BN_RV);
    nb_tensor *w = own_or_null(m, BN_W), *b = own_or_null(m, BN_B);
    if (!rm || !rv)
        return nb__fail(NB_ERR_STATE, "%s: no running statistics (track_running_stats=False) to fold",
                        m->vt->kind);
    const bn_state *s = m->impl;
    for (int64_t c = 0; c < s->C; c++) {
        float r = (float)(1.0 / sqrt((double)nb__f(rv)[c] + (double)s->eps));
        float a = (w ? nb__f(w)[c] : 1.0f) * r;
        scale[c] = a;
        shift[c] = (b ? nb__f(b)[c] : 0.0f) - nb__f(rm)[c] * a;
    }
    return NB_OK;
}
