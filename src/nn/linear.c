/* linear.c - Linear(in_features, out_features, bias): y = x·Wᵀ + b.
 * Default init as PyTorch: W ~ kaiming_uniform(a=√5) = U(±1/√in), b ~ U(±1/√in). */
#include "core/error.h"
#include "core/ctx.h"
#include "nn/module.h"
#include "nn/onnx_export.h"

#include <math.h>

static nb_tensor *linear_forward(nb_module *m, nb_tensor *x)
{
    nb_tensor *b = m->n_own > 1 ? m->own[1].tensor : NULL;
    return nb_linear(x, m->own[0].tensor, b);
}

/* ONNX: Gemm (transB) on 2-D input, MatMul and Add on more dims (nb__ox_linear) */
static int linear_ox(nb_module *m, nb__ox *e, int x)
{
    nb_tensor *y = nb_module_forward(m, nb__ox_rt(e, x));
    return y ? nb__ox_linear(e, x, m->own[0].tensor, m->n_own > 1 ? m->own[1].tensor : NULL, y) : -1;
}

static const nb_module_vtable linear_vt = {.kind = "Linear", .forward = linear_forward, .to_onnx = linear_ox};

nb_module *nb_linear_new(nb_ctx *ctx, int64_t in, int64_t out, const nb_linear_opts *o)
{
    if (in <= 0 || out <= 0) {
        nb__fail(NB_ERR_ARG, "Linear(%lld, %lld): features must be positive", (long long)in, (long long)out);
        return NULL;
    }
    nb_module *m = nb__module_new(ctx, &linear_vt);
    if (!m) return NULL;
    nb_tensor *w = nb_tensor_new(ctx, NB_F32, 2, (int64_t[]){out, in});
    if (nb__module_add(m, "weight", w, 0) ||
        nb_init_kaiming_uniform(w, sqrt(5.0), NB_FAN_IN, NB_GAIN_LEAKY_RELU, &ctx->rng))
        goto fail;
    if (!(o && o->no_bias)) {
        nb_tensor *b = nb_tensor_new(ctx, NB_F32, 1, (int64_t[]){out});
        float bound = (float)(1.0 / sqrt((double)in)); /* torch: 1 / math.sqrt(fan_in) */
        if (nb__module_add(m, "bias", b, 0) || nb_init_uniform(b, -bound, bound, &ctx->rng)) goto fail;
    }
    return m;
fail:
    nb_module_free(m);
    return NULL;
}
