/* onnx_export.h - how a module describes its eval-mode forward as ONNX nodes, for the
 * ONNX writer (src/onnx/export.c, docs/onnx.md "Export").
 *
 * Each module kind that can be exported gives its vtable a `to_onnx` hook: it receives
 * the graph value of its input and returns the value of its output (or -1 with a
 * message), adding nodes through the writer's functions below. The writer lives in the
 * onnx layer above; modules reach it only through this table of function pointers, so
 * nn and models never call onnx. A container exports its children with nb__ox_child,
 * which names the nodes after the module path as torch.onnx.export does
 * ("/layer1/layer1.0/conv1/Conv") and fails naming the module and kind when a child
 * has no hook.
 *
 * Every value also carries the tensor it holds in a run of the model on a sample
 * input (nb__ox_rt), so a hook knows shapes: a leaf computes its own with
 * nb_module_forward, nodes in between may pass NULL. Only the batch dimension (and a
 * text model's sequence) is dynamic in the graph; every other size is the sample's. */
#ifndef NB_NN_ONNX_EXPORT_H
#define NB_NN_ONNX_EXPORT_H

#include "nabla.h"

enum { NB__OXA_INT = 1, NB__OXA_FLOAT, NB__OXA_INTS, NB__OXA_STRING };

/* A node attribute: an int, a float, a list of ints or a string. */
typedef struct {
    const char *name;
    int kind; /* NB__OXA_* */
    int64_t i;
    float f;
    const int64_t *ints;
    int n;
    const char *s;
} nb__ox_attr;

#define NB__OX_INT(nm, v) ((nb__ox_attr){.name = (nm), .kind = NB__OXA_INT, .i = (v)})
#define NB__OX_FLOAT(nm, v) ((nb__ox_attr){.name = (nm), .kind = NB__OXA_FLOAT, .f = (v)})
#define NB__OX_INTS(nm, p, cnt) ((nb__ox_attr){.name = (nm), .kind = NB__OXA_INTS, .ints = (p), .n = (cnt)})
#define NB__OX_STR(nm, v) ((nb__ox_attr){.name = (nm), .kind = NB__OXA_STRING, .s = (v)})

typedef struct nb__ox nb__ox;

typedef struct {
    /* Add a node with one output; its run value rt (may be NULL for an intermediate). */
    int (*node)(nb__ox *e, const char *op, const int *in, int n_in, const nb__ox_attr *at, int n_at, nb_tensor *rt);
    /* Export child (one of the module's children, named name in its parent) on x. */
    int (*child)(nb__ox *e, nb_module *child, const char *name, int x);
    /* A parameter or buffer of the model: an initializer under its state_dict name. */
    int (*param)(nb__ox *e, nb_tensor *t);
    /* A constant tensor (float32 or int64 data of t, copied) as an initializer. */
    int (*constant)(nb__ox *e, nb_tensor *t);
    /* The value's tensor in the sample run (NULL when the hook gave none). */
    nb_tensor *(*rt)(nb__ox *e, int v);
} nb__ox_vt;

struct nb__ox {
    const nb__ox_vt *vt;
    int opset;          /* the ONNX opset written (13..17) */
    nb_ctx *ctx;        /* where sample-run tensors and constants are made */
    int attention_mask; /* the graph input "attention_mask" (batch, length) int64, or -1 */
    int attn_bias;      /* the additive mask (batch, 1, 1, length) a text model made of it for
                         * nb__ox_attention to add to the scores, or -1 */
};

static inline int nb__ox_node(nb__ox *e, const char *op, const int *in, int n_in, const nb__ox_attr *at, int n_at,
                              nb_tensor *rt)
{
    return e->vt->node(e, op, in, n_in, at, n_at, rt);
}
/* A node of one input and no attributes. */
static inline int nb__ox_node1(nb__ox *e, const char *op, int x, nb_tensor *rt)
{
    return x < 0 ? -1 : e->vt->node(e, op, &x, 1, NULL, 0, rt);
}
/* A node of two inputs and no attributes. */
static inline int nb__ox_node2(nb__ox *e, const char *op, int a, int b, nb_tensor *rt)
{
    int in[2] = {a, b};
    return a < 0 || b < 0 ? -1 : e->vt->node(e, op, in, 2, NULL, 0, rt);
}
static inline int nb__ox_child(nb__ox *e, nb_module *child, const char *name, int x)
{
    return x < 0 ? -1 : e->vt->child(e, child, name, x);
}
static inline int nb__ox_param(nb__ox *e, nb_tensor *t) { return e->vt->param(e, t); }
static inline nb_tensor *nb__ox_rt(nb__ox *e, int v) { return v < 0 ? NULL : e->vt->rt(e, v); }

/* Helpers (nn/onnx_export.c): an int64 1-D constant; float constants filled with one
 * value (of a shape, of shape [n], a scalar); a leaf module as one node whose first
 * input is the module's input (its sample value from nb_module_forward); all children
 * of m in order, each on the previous one's output. */
int nb__ox_ints(nb__ox *e, int n, const int64_t *v);
int nb__ox_int(nb__ox *e, int64_t v); /* a 0-d int64 constant */
int nb__ox_fill_shape(nb__ox *e, int ndim, const int64_t *shape, float value);
int nb__ox_fill(nb__ox *e, int64_t n, float value);
int nb__ox_scalar(nb__ox *e, float value);
int nb__ox_leaf(nb_module *m, nb__ox *e, const char *op, const int *in, int n_in, const nb__ox_attr *at, int n_at);
int nb__ox_children(nb__ox *e, nb_module *m, int x);
/* Export the module at a dotted path of children below m ("attention.self.query") on x. */
int nb__ox_sub(nb__ox *e, nb_module *m, const char *path, int x);
/* A per-channel vector v of C values reshaped to (C, 1, ...) so that it broadcasts over
 * dim 1 of an ndim-dimensional input (v itself when ndim <= 2). */
int nb__ox_channels(nb__ox *e, int v, int64_t C, int ndim);
/* Layer normalization over the last k dims of x: LayerNormalization from opset 17,
 * else ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div as torch.onnx exports it for
 * earlier opsets; w and b are values or -1 (none); rt the result of the sample run. */
int nb__ox_layer_norm(nb__ox *e, int x, int k, int w, int b, float eps, nb_tensor *rt);
/* Flatten(start_dim, end_dim) as PyTorch's: ONNX Flatten when it is one, else a Reshape
 * to the sample's output shape with the batch dimension copied (0) or inferred (-1). */
int nb__ox_flatten(nb__ox *e, int x, int start_dim, int end_dim);
/* y = x·Wᵀ + b (nn.Linear): Gemm with transB on 2-D input, else MatMul by Transpose(W)
 * (W keeps its name; onnxruntime folds the Transpose) and Add of the bias; b may be
 * NULL. rt the sample result. */
int nb__ox_linear(nb__ox *e, int x, nb_tensor *w, nb_tensor *b, nb_tensor *rt);
/* F.gelu(x, approximate) from Erf (or Tanh for 'tanh'), Div/Add/Mul/Pow: ONNX has no Gelu
 * before opset 20. */
int nb__ox_gelu(nb__ox *e, int x, nb_gelu_approx approximate, nb_tensor *rt);
/* nb_multihead_attention in eval mode on q, k, v (B, T, heads·D): heads split by Reshape
 * and Transpose, MatMul, Div by √D, with causal a Where that gives the scores of later
 * keys float32's lowest value (as Hugging Face's GPT-2), the length taken from q's
 * Shape, then e->attn_bias added when a text model set it (the padding mask), Softmax,
 * MatMul, heads merged; rt the sample result. */
int nb__ox_attention(nb__ox *e, int q, int k, int v, int64_t heads, int causal, nb_tensor *rt);

#endif
