/* transformer_onnx.c - ONNX export of the transformer blocks of transformer.c (their
 * to_onnx hooks, nn/onnx_export.h): BertLayer and GPT2Block in eval mode (dropout is
 * the identity) from their Linear, LayerNorm and Conv1D children, the attention core
 * and GELU decomposed (nb__ox_attention, nb__ox_gelu), and Conv1D as MatMul and Add
 * (its weight (in, out) is the MatMul's right operand under its own name). */
#include "core/error.h"
#include "core/tensor.h"
#include "nn/transformer.h"
#include "nn/onnx_export.h"

#include <string.h>

static int sub(nb_module *m, nb__ox *e, const char *path, int x) { return nb__ox_sub(e, m, path, x); }

/* a + b, with the sample values' sum */
static int add(nb__ox *e, int a, int b)
{
    nb_tensor *s = nb_add(nb__ox_rt(e, a), nb__ox_rt(e, b));
    return s ? nb__ox_node2(e, "Add", a, b, s) : -1;
}

int nb__conv1d_hf_to_onnx(nb_module *m, nb__ox *e, int x)
{
    nb_tensor *y = nb_module_forward(m, nb__ox_rt(e, x));
    int w = nb__ox_param(e, m->own[0].tensor);
    if (!y || w < 0) return -1;
    if (m->n_own < 2) return nb__ox_node2(e, "MatMul", x, w, y);
    return nb__ox_node2(e, "Add", nb__ox_node2(e, "MatMul", x, w, NULL), nb__ox_param(e, m->own[1].tensor), y);
}

int nb__bert_layer_to_onnx(nb_module *m, nb__ox *e, int x)
{
    const nb_text_config *c = m->impl;
    int q = sub(m, e, "attention.self.query", x), k = sub(m, e, "attention.self.key", x),
        v = sub(m, e, "attention.self.value", x);
    nb_tensor *at = q < 0 || k < 0 || v < 0 ? NULL
                                            : nb_multihead_attention(nb__ox_rt(e, q), nb__ox_rt(e, k), nb__ox_rt(e, v),
                                                                     c->num_heads, &(nb_attention_opts){0});
    int a = at ? nb__ox_attention(e, q, k, v, c->num_heads, 0, at) : -1;
    a = sub(m, e, "attention.output.dense", a);
    a = a < 0 ? -1 : sub(m, e, "attention.output.LayerNorm", add(e, a, x));
    int i = sub(m, e, "intermediate.dense", a);
    nb_tensor *g = i < 0 ? NULL : nb_gelu(nb__ox_rt(e, i), c->activation);
    i = g ? nb__ox_gelu(e, i, c->activation, g) : -1;
    int o = sub(m, e, "output.dense", i);
    return o < 0 ? -1 : sub(m, e, "output.LayerNorm", add(e, o, a));
}

/* columns [from, from + n) of the last dim */
static int columns(nb__ox *e, int x, int64_t from, int64_t n)
{
    nb_tensor *y = nb_narrow(nb__ox_rt(e, x), -1, from, n);
    int in[4] = {x, nb__ox_ints(e, 1, &from), nb__ox_ints(e, 1, (int64_t[]){from + n}), nb__ox_ints(e, 1, (int64_t[]){-1})};
    return y ? nb__ox_node(e, "Slice", in, 4, NULL, 0, y) : -1;
}

int nb__gpt2_block_to_onnx(nb_module *m, nb__ox *e, int x)
{
    const nb_text_config *c = m->impl;
    int64_t H = c->hidden_size;
    int qkv = sub(m, e, "attn.c_attn", sub(m, e, "ln_1", x));
    int q = columns(e, qkv, 0, H), k = columns(e, qkv, H, H), v = columns(e, qkv, 2 * H, H);
    float div = nb__gpt2_score_div(m, c);
    if (div > 0 && q >= 0) { /* scale_attn_by_inverse_layer_idx: q / (layer + 1), so the scores are divided too */
        nb_tensor *qd = nb_mul_scalar(nb__ox_rt(e, q), 1.0f / div);
        q = qd ? nb__ox_node2(e, "Div", q, nb__ox_scalar(e, div), qd) : -1;
    }
    nb_tensor *at = q < 0 || k < 0 || v < 0 ? NULL
                                            : nb_multihead_attention(nb__ox_rt(e, q), nb__ox_rt(e, k), nb__ox_rt(e, v),
                                                                     c->num_heads, &(nb_attention_opts){.is_causal = 1});
    int a = at ? nb__ox_attention(e, q, k, v, c->num_heads, 1, at) : -1;
    a = sub(m, e, "attn.c_proj", a);
    x = a < 0 ? -1 : add(e, x, a);
    int h = sub(m, e, "mlp.c_fc", sub(m, e, "ln_2", x));
    nb_tensor *g = h < 0 ? NULL : nb_gelu(nb__ox_rt(e, h), c->activation);
    h = sub(m, e, "mlp.c_proj", g ? nb__ox_gelu(e, h, c->activation, g) : -1);
    return h < 0 ? -1 : add(e, x, h);
}
