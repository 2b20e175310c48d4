/* activation_modules.c - ReLU, Sigmoid, Tanh, LeakyReLU, ELU, PReLU, Softmax,
 * LogSoftmax, Dropout and Flatten as modules (PyTorch's defaults). */
#include "core/error.h"
#include "core/tensor.h"
#include "nn/module.h"
#include "nn/layers.h"
#include "nn/onnx_export.h"

/* Kind state (m->impl) of the modules that have one. */
typedef struct {
    float slope;
} leaky_state;
typedef struct {
    float alpha;
} elu_state;
typedef struct {
    int dim;
} softmax_state; /* Softmax, LogSoftmax */
typedef struct {
    float p;
} dropout_state;
typedef struct {
    int start_dim, end_dim;
} flatten_state;

static nb_tensor *relu_fwd(nb_module *m, nb_tensor *x) { return nb_relu(x); }
static nb_tensor *sigmoid_fwd(nb_module *m, nb_tensor *x) { return nb_sigmoid(x); }
static nb_tensor *tanh_fwd(nb_module *m, nb_tensor *x) { return nb_tanh(x); }
static nb_tensor *leaky_fwd(nb_module *m, nb_tensor *x) { return nb_leaky_relu(x, ((leaky_state *)m->impl)->slope); }
static nb_tensor *elu_fwd(nb_module *m, nb_tensor *x) { return nb_elu(x, ((elu_state *)m->impl)->alpha); }
static nb_tensor *prelu_fwd(nb_module *m, nb_tensor *x) { return nb_prelu(x, m->own[0].tensor); }
static nb_tensor *softmax_fwd(nb_module *m, nb_tensor *x) { return nb_softmax(x, ((softmax_state *)m->impl)->dim); }
static nb_tensor *log_softmax_fwd(nb_module *m, nb_tensor *x)
{
    return nb_log_softmax(x, ((softmax_state *)m->impl)->dim);
}
static nb_tensor *dropout_fwd(nb_module *m, nb_tensor *x) { return nb_dropout(x, ((dropout_state *)m->impl)->p, m->training); }
static nb_tensor *flatten_fwd(nb_module *m, nb_tensor *x)
{
    const flatten_state *s = m->impl;
    return nb_flatten(x, s->start_dim, s->end_dim);
}

/* ---- ONNX export (nn/onnx_export.h): one node each; Dropout is the identity in eval ---- */

static int relu_ox(nb_module *m, nb__ox *e, int x) { return nb__ox_leaf(m, e, "Relu", &x, 1, NULL, 0); }
static int sigmoid_ox(nb_module *m, nb__ox *e, int x) { return nb__ox_leaf(m, e, "Sigmoid", &x, 1, NULL, 0); }
static int tanh_ox(nb_module *m, nb__ox *e, int x) { return nb__ox_leaf(m, e, "Tanh", &x, 1, NULL, 0); }
static int leaky_ox(nb_module *m, nb__ox *e, int x)
{
    return nb__ox_leaf(m, e, "LeakyRelu", &x, 1, &NB__OX_FLOAT("alpha", ((leaky_state *)m->impl)->slope), 1);
}
static int elu_ox(nb_module *m, nb__ox *e, int x)
{
    return nb__ox_leaf(m, e, "Elu", &x, 1, &NB__OX_FLOAT("alpha", ((elu_state *)m->impl)->alpha), 1);
}
/* the slope as (P, 1, ...) so that it broadcasts over dim 1 as PyTorch's does */
static int prelu_ox(nb_module *m, nb__ox *e, int x)
{
    nb_tensor *xt = nb__ox_rt(e, x);
    int64_t P = m->own[0].tensor->numel, shape[NB_MAX_DIMS];
    int w = nb__ox_param(e, m->own[0].tensor);
    if (!xt || w < 0) return -1;
    if (P > 1 && xt->ndim > 2) {
        shape[0] = P;
        for (int d = 1; d < xt->ndim - 1; d++) shape[d] = 1;
        w = nb__ox_node2(e, "Reshape", w, nb__ox_ints(e, xt->ndim - 1, shape), NULL);
    }
    int in[2] = {x, w};
    return w < 0 ? -1 : nb__ox_leaf(m, e, "PRelu", in, 2, NULL, 0);
}
static int softmax_ox(nb_module *m, nb__ox *e, int x)
{
    return nb__ox_leaf(m, e, "Softmax", &x, 1, &NB__OX_INT("axis", ((softmax_state *)m->impl)->dim), 1);
}
static int log_softmax_ox(nb_module *m, nb__ox *e, int x)
{
    return nb__ox_leaf(m, e, "LogSoftmax", &x, 1, &NB__OX_INT("axis", ((softmax_state *)m->impl)->dim), 1);
}
static int dropout_ox(nb_module *m, nb__ox *e, int x) { return x; }
static int flatten_ox(nb_module *m, nb__ox *e, int x)
{
    const flatten_state *s = m->impl;
    return nb__ox_flatten(e, x, s->start_dim, s->end_dim);
}

static const nb_module_vtable relu_vt = {.kind = "ReLU", .forward = relu_fwd, .to_onnx = relu_ox};
static const nb_module_vtable sigmoid_vt = {.kind = "Sigmoid", .forward = sigmoid_fwd, .to_onnx = sigmoid_ox};
static const nb_module_vtable tanh_vt = {.kind = "Tanh", .forward = tanh_fwd, .to_onnx = tanh_ox};
static const nb_module_vtable leaky_vt = {.kind = "LeakyReLU", .forward = leaky_fwd, .to_onnx = leaky_ox};
static const nb_module_vtable elu_vt = {.kind = "ELU", .forward = elu_fwd, .to_onnx = elu_ox};
static const nb_module_vtable prelu_vt = {.kind = "PReLU", .forward = prelu_fwd, .to_onnx = prelu_ox};
static const nb_module_vtable softmax_vt = {.kind = "Softmax", .forward = softmax_fwd, .to_onnx = softmax_ox};
static const nb_module_vtable log_softmax_vt = {.kind = "LogSoftmax", .forward = log_softmax_fwd,
                                                .to_onnx = log_softmax_ox};
static const nb_module_vtable dropout_vt = {.kind = "Dropout", .forward = dropout_fwd, .to_onnx = dropout_ox};
static const nb_module_vtable flatten_vt = {.kind = "Flatten", .forward = flatten_fwd, .to_onnx = flatten_ox};

nb_module *nb_relu_new(nb_ctx *ctx) { return nb__module_new(ctx, &relu_vt); }
nb_module *nb_sigmoid_new(nb_ctx *ctx) { return nb__module_new(ctx, &sigmoid_vt); }
nb_module *nb_tanh_new(nb_ctx *ctx) { return nb__module_new(ctx, &tanh_vt); }

nb_module *nb_leaky_relu_new(nb_ctx *ctx, float slope)
{
    nb_module *m = nb__module_new_with(ctx, &leaky_vt, sizeof(leaky_state));
    if (m) ((leaky_state *)m->impl)->slope = slope == 0 ? 0.01f : slope;
    return m;
}

nb_module *nb_elu_new(nb_ctx *ctx, float alpha)
{
    nb_module *m = nb__module_new_with(ctx, &elu_vt, sizeof(elu_state));
    if (m) ((elu_state *)m->impl)->alpha = alpha == 0 ? 1.0f : alpha;
    return m;
}

nb_module *nb_prelu_new(nb_ctx *ctx, int64_t num_parameters, float init)
{
    if (num_parameters < 0) {
        nb__fail(NB_ERR_ARG, "PReLU: num_parameters must be positive, got %lld", (long long)num_parameters);
        return NULL;
    }
    nb_module *m = nb__module_new(ctx, &prelu_vt);
    if (!m) return NULL;
    nb_tensor *w = nb_tensor_new(ctx, NB_F32, 1, (int64_t[]){num_parameters ? num_parameters : 1});
    if (nb__module_add(m, "weight", w, 0) || nb_init_constant(w, init == 0 ? 0.25f : init)) {
        nb_module_free(m);
        return NULL;
    }
    return m;
}

nb_module *nb_softmax_new(nb_ctx *ctx, int dim)
{
    nb_module *m = nb__module_new_with(ctx, &softmax_vt, sizeof(softmax_state));
    if (m) ((softmax_state *)m->impl)->dim = dim;
    return m;
}

nb_module *nb_log_softmax_new(nb_ctx *ctx, int dim)
{
    nb_module *m = nb__module_new_with(ctx, &log_softmax_vt, sizeof(softmax_state));
    if (m) ((softmax_state *)m->impl)->dim = dim;
    return m;
}

nb_module *nb_dropout_new(nb_ctx *ctx, float p)
{
    if (p < 0) p = 0.5f;
    if (p > 1) {
        nb__fail(NB_ERR_ARG, "Dropout: p must be in [0, 1], got %g", p);
        return NULL;
    }
    nb_module *m = nb__module_new_with(ctx, &dropout_vt, sizeof(dropout_state));
    if (m) ((dropout_state *)m->impl)->p = p;
    return m;
}

int nb__flatten_dims(const nb_module *m, int *start_dim, int *end_dim)
{
    if (!m || m->vt != &flatten_vt) return 0;
    const flatten_state *s = m->impl;
    *start_dim = s->start_dim, *end_dim = s->end_dim;
    return 1;
}

nb_module *nb_flatten_new(nb_ctx *ctx, int start_dim, int end_dim)
{
    nb_module *m = nb__module_new_with(ctx, &flatten_vt, sizeof(flatten_state));
    if (m) *(flatten_state *)m->impl = (flatten_state){start_dim, end_dim};
    return m;
}

/* Dropout probability of a Dropout module (for models that override it). */
void nb__dropout_set_p(nb_module *m, float p)
{
    if (m && m->vt == &dropout_vt) ((dropout_state *)m->impl)->p = p;
}

void nb__leaky_relu_set_slope(nb_module *m, float slope)
{
    if (m && m->vt == &leaky_vt) ((leaky_state *)m->impl)->slope = slope;
}

void nb__elu_set_alpha(nb_module *m, float alpha)
{
    if (m && m->vt == &elu_vt) ((elu_state *)m->impl)->alpha = alpha;
}
int nb__is_dropout(const nb_module *m) { return m && m->vt == &dropout_vt; }
