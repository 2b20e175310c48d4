/* onnx_export.c - what the modules' to_onnx hooks share (nn/onnx_export.h): constants,
 * a module as one node, the children of a container in order, and the layers more than
 * one module kind writes (layer norm, flatten, linear). */
#include "core/error.h"
#include "core/tensor.h"
#include "nn/module.h"
#include "nn/onnx_export.h"

#include <math.h>
#include <string.h>

int nb__ox_ints(nb__ox *e, int n, const int64_t *v)
{
    nb_tensor *t = nb__empty(e->ctx, NB_I64, 1, (int64_t[]){n});
    if (!t) return -1;
    memcpy(t->data, v, sizeof(int64_t) * (size_t)n);
    return e->vt->constant(e, t);
}

int nb__ox_int(nb__ox *e, int64_t v)
{
    nb_tensor *t = nb__empty(e->ctx, NB_I64, 0, NULL);
    if (!t) return -1;
    nb__i(t)[0] = v;
    return e->vt->constant(e, t);
}

int nb__ox_fill_shape(nb__ox *e, int ndim, const int64_t *shape, float value)
{
    nb_tensor *t = nb__empty(e->ctx, NB_F32, ndim, shape);
    if (!t) return -1;
    for (int64_t i = 0; i < t->numel; i++) nb__f(t)[i] = value;
    return e->vt->constant(e, t);
}

int nb__ox_fill(nb__ox *e, int64_t n, float value) { return nb__ox_fill_shape(e, 1, &n, value); }
int nb__ox_scalar(nb__ox *e, float value) { return nb__ox_fill_shape(e, 0, NULL, value); }

int nb__ox_leaf(nb_module *m, nb__ox *e, const char *op, const int *in, int n_in, const nb__ox_attr *at, int n_at)
{
    nb_tensor *y = nb_module_forward(m, nb__ox_rt(e, in[0]));
    return y ? nb__ox_node(e, op, in, n_in, at, n_at, y) : -1;
}

int nb__ox_children(nb__ox *e, nb_module *m, int x)
{
    for (int i = 0; i < m->n_children && x >= 0; i++) x = nb__ox_child(e, m->children[i], m->child_names[i], x);
    return x;
}

int nb__ox_sub(nb__ox *e, nb_module *m, const char *path, int x)
{
    nb_module *c = m;
    for (const char *s = path; c && *s;) {
        size_t k = strcspn(s, ".");
        nb_module *next = NULL;
        for (int i = 0; i < c->n_children && !next; i++)
            if (strlen(c->child_names[i]) == k && !strncmp(c->child_names[i], s, k)) next = c->children[i];
        c = next;
        s += k + (s[k] == '.');
    }
    return nb__ox_child(e, c, path, x);
}

int nb__ox_layer_norm(nb__ox *e, int x, int k, int w, int b, float eps, nb_tensor *rt)
{
    nb_tensor *xt = nb__ox_rt(e, x);
    if (!xt || !rt || k < 1 || k > xt->ndim) return -1;
    const int64_t *ns = xt->shape + xt->ndim - k;
    if (e->opset >= 17) {
        if (w < 0) w = nb__ox_fill_shape(e, k, ns, 1.0f);
        int in[3] = {x, w, b};
        nb__ox_attr at[2] = {NB__OX_INT("axis", -k), NB__OX_FLOAT("epsilon", eps)};
        return w < 0 ? -1 : nb__ox_node(e, "LayerNormalization", in, b >= 0 ? 3 : 2, at, 2, rt);
    }
    /* as torch.onnx.export writes it before opset 17 */
    int64_t axes[NB_MAX_DIMS];
    for (int d = 0; d < k; d++) axes[d] = d - k;
    nb__ox_attr red = NB__OX_INTS("axes", axes, k);
    int mean = nb__ox_node(e, "ReduceMean", &x, 1, &red, 1, NULL);
    int d = nb__ox_node2(e, "Sub", x, mean, NULL);
    int sq = nb__ox_node2(e, "Pow", d, nb__ox_scalar(e, 2.0f), NULL);
    int var = sq < 0 ? -1 : nb__ox_node(e, "ReduceMean", &sq, 1, &red, 1, NULL);
    int sd = nb__ox_node1(e, "Sqrt", nb__ox_node2(e, "Add", var, nb__ox_scalar(e, eps), NULL), NULL);
    int y = nb__ox_node2(e, "Div", d, sd, w < 0 && b < 0 ? rt : NULL);
    if (w >= 0) y = nb__ox_node2(e, "Mul", y, w, b < 0 ? rt : NULL);
    if (b >= 0) y = nb__ox_node2(e, "Add", y, b, rt);
    return y;
}

int nb__ox_flatten(nb__ox *e, int x, int start_dim, int end_dim)
{
    nb_tensor *xt = nb__ox_rt(e, x), *y = nb_flatten(xt, start_dim, end_dim);
    if (!y) return -1;
    int nd = xt->ndim, s = start_dim < 0 ? start_dim + nd : start_dim, t = end_dim < 0 ? end_dim + nd : end_dim;
    if (s == 1 && t == nd - 1) return nb__ox_node(e, "Flatten", &x, 1, &NB__OX_INT("axis", 1), 1, y);
    if (s >= t) return nb__ox_node1(e, "Identity", x, y);
    /* the sample's shape, the batch dimension copied (0) or, merged, inferred (-1) */
    int64_t shape[NB_MAX_DIMS];
    for (int d = 0; d < y->ndim; d++) shape[d] = y->shape[d];
    shape[0] = s > 0 ? 0 : -1;
    return nb__ox_node2(e, "Reshape", x, nb__ox_ints(e, y->ndim, shape), y);
}

int nb__ox_linear(nb__ox *e, int x, nb_tensor *w, nb_tensor *b, nb_tensor *rt)
{
    nb_tensor *xt = nb__ox_rt(e, x);
    if (!xt || !rt || !w) return -1;
    if (xt->ndim == 2) {
        int in[3] = {x, nb__ox_param(e, w), b ? nb__ox_param(e, b) : 0};
        nb__ox_attr at[3] = {NB__OX_FLOAT("alpha", 1.0f), NB__OX_FLOAT("beta", 1.0f), NB__OX_INT("transB", 1)};
        if (in[1] < 0 || in[2] < 0) return -1;
        return nb__ox_node(e, "Gemm", in, b ? 3 : 2, at, 3, rt);
    }
    /* MatMul by Transpose(W): the weight keeps its name (and is shared when tied) */
    int wv = nb__ox_param(e, w);
    int wt = wv < 0 ? -1 : nb__ox_node(e, "Transpose", &wv, 1, &NB__OX_INTS("perm", ((int64_t[]){1, 0}), 2), 1, NULL);
    int y = nb__ox_node2(e, "MatMul", x, wt, b ? NULL : rt);
    return b ? nb__ox_node2(e, "Add", y, nb__ox_param(e, b), rt) : y;
}

int nb__ox_channels(nb__ox *e, int v, int64_t C, int ndim)
{
    if (v < 0 || ndim <= 2) return v;
    int64_t shape[NB_MAX_DIMS];
    shape[0] = C;
    for (int d = 1; d < ndim - 1; d++) shape[d] = 1;
    return nb__ox_node2(e, "Reshape", v, nb__ox_ints(e, ndim - 1, shape), NULL);
}

int nb__ox_gelu(nb__ox *e, int x, nb_gelu_approx approximate, nb_tensor *rt)
{
    int inner;
    if (approximate == NB_GELU_TANH) { /* tanh(√(2/π)(x + 0.044715x³)) */
        int cube = nb__ox_node2(e, "Pow", x, nb__ox_scalar(e, 3.0f), NULL);
        int sum = nb__ox_node2(e, "Add", x, nb__ox_node2(e, "Mul", cube, nb__ox_scalar(e, 0.044715f), NULL), NULL);
        inner = nb__ox_node1(e, "Tanh", nb__ox_node2(e, "Mul", sum, nb__ox_scalar(e, 0.7978845608028654f), NULL), NULL);
    } else /* erf(x/√2) */
        inner = nb__ox_node1(e, "Erf", nb__ox_node2(e, "Div", x, nb__ox_scalar(e, 1.4142135623730951f), NULL), NULL);
    int half = nb__ox_node2(e, "Mul", x, nb__ox_node2(e, "Add", inner, nb__ox_scalar(e, 1.0f), NULL), NULL);
    return nb__ox_node2(e, "Mul", half, nb__ox_scalar(e, 0.5f), rt);
}

/* (B, T, heads·D) -> (B, heads, T, D), or (B, heads, D, T) for the keys */
static int split_heads(nb__ox *e, int x, int64_t heads, int64_t D, int keys)
{
    int r = nb__ox_node2(e, "Reshape", x, nb__ox_ints(e, 4, (int64_t[]){0, 0, heads, D}), NULL);
    int64_t perm[4] = {0, 2, keys ? 3 : 1, keys ? 1 : 3};
    return r < 0 ? -1 : nb__ox_node(e, "Transpose", &r, 1, &NB__OX_INTS("perm", perm, 4), 1, NULL);
}

int nb__ox_attention(nb__ox *e, int q, int k, int v, int64_t heads, int causal, nb_tensor *rt)
{
    nb_tensor *qt = nb__ox_rt(e, q);
    if (!qt || !rt || qt->ndim != 3 || heads < 1 || qt->shape[2] % heads) return -1;
    int64_t H = qt->shape[2], D = H / heads;
    int qh = split_heads(e, q, heads, D, 0), kh = split_heads(e, k, heads, D, 1), vh = split_heads(e, v, heads, D, 0);
    int s = nb__ox_node2(e, "Div", nb__ox_node2(e, "MatMul", qh, kh, NULL), nb__ox_scalar(e, sqrtf((float)D)), NULL);
    if (causal) { /* s_ij = float32's lowest for j > i, the positions counted from the input's length */
        int T = nb__ox_node(e, "Gather", (int[]){nb__ox_node1(e, "Shape", q, NULL), nb__ox_int(e, 1)}, 2,
                            &NB__OX_INT("axis", 0), 1, NULL);
        int r = nb__ox_node(e, "Range", (int[]){nb__ox_int(e, 0), T, nb__ox_int(e, 1)}, 3, NULL, 0, NULL);
        int rows = nb__ox_node2(e, "Unsqueeze", r, nb__ox_ints(e, 1, (int64_t[]){1}), NULL);
        int cols = nb__ox_node2(e, "Unsqueeze", r, nb__ox_ints(e, 1, (int64_t[]){0}), NULL);
        int later = nb__ox_node2(e, "Greater", cols, rows, NULL);
        s = nb__ox_node(e, "Where", (int[]){later, nb__ox_scalar(e, -3.4028234663852886e38f), s}, 3, NULL, 0, NULL);
    }
    if (e->attn_bias >= 0) s = nb__ox_node2(e, "Add", s, e->attn_bias, NULL); /* the padding mask */
    int p = s < 0 ? -1 : nb__ox_node(e, "Softmax", &s, 1, &NB__OX_INT("axis", -1), 1, NULL);
    int o = nb__ox_node2(e, "MatMul", p, vh, NULL);
    o = o < 0 ? -1 : nb__ox_node(e, "Transpose", &o, 1, &NB__OX_INTS("perm", ((int64_t[]){0, 2, 1, 3}), 4), 1, NULL);
    return nb__ox_node2(e, "Reshape", o, nb__ox_ints(e, 3, (int64_t[]){0, 0, H}), rt);
}
