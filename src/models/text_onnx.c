/* text_onnx.c - ONNX export of the text models (the to_onnx hooks of bert.c and
 * gpt2.c; nn/onnx_export.h): input_ids (batch, sequence) int64 and, when the writer
 * declares it, attention_mask (batch, sequence) int64 (1 token, 0 padding), made into
 * Hugging Face's extended mask (1 - mask)·float32's lowest of shape (batch, 1, 1,
 * sequence) that every attention adds to its scores; token types 0, positions 0..T-1
 * (a Slice of the position table up to the input's length, so the sequence length
 * stays symbolic). The blocks are transformer_onnx.c's; the
 * output is nb_module_forward's: BertModel's last hidden state, the classifier's or
 * the language model's logits (MatMul by the tied embeddings, transposed). */
#include "core/error.h"
#include "core/tensor.h"
#include "models/text_model.h"
#include "nn/onnx_export.h"

#include <stdio.h>

static int sub(nb_module *m, nb__ox *e, const char *path, int x) { return nb__ox_sub(e, m, path, x); }

static int add(nb__ox *e, int a, int b)
{
    nb_tensor *s = nb_add(nb__ox_rt(e, a), nb__ox_rt(e, b));
    return s ? nb__ox_node2(e, "Add", a, b, s) : -1;
}

/* rows 0..T-1 of table w (T: dim 1 of ids), T from the input's Shape */
static int first_rows(nb__ox *e, nb_tensor *w, int ids)
{
    nb_tensor *it = nb__ox_rt(e, ids), *rows = it ? nb_narrow(w, 0, 0, it->shape[1]) : NULL;
    int shape = nb__ox_node1(e, "Shape", ids, NULL);
    int one = nb__ox_ints(e, 1, (int64_t[]){1}), zero = nb__ox_ints(e, 1, (int64_t[]){0});
    int T = nb__ox_node(e, "Slice", (int[]){shape, one, nb__ox_ints(e, 1, (int64_t[]){2})}, 3, NULL, 0, NULL);
    int in[4] = {nb__ox_param(e, w), zero, T, zero};
    return rows && T >= 0 && in[0] >= 0 ? nb__ox_node(e, "Slice", in, 4, NULL, 0, rows) : -1;
}

/* row k of table w as a vector */
static int row(nb__ox *e, nb_tensor *w, int64_t k)
{
    nb_tensor *r = nb_reshape(nb_narrow(w, 0, k, 1), 1, (int64_t[]){w->shape[1]});
    int in[2] = {nb__ox_param(e, w), nb__ox_int(e, k)};
    return r && in[0] >= 0 ? nb__ox_node(e, "Gather", in, 2, &NB__OX_INT("axis", 0), 1, r) : -1;
}

static nb_tensor *param(nb_module *m, const char *path, int k) { return nb__param(m, path, k); }

/* e->attn_bias from the attention_mask input: Unsqueeze((1 - Cast(mask)) · lowest, [1, 2]);
 * -1 on failure, 0 (and no bias) without the input. */
static int mask_bias(nb__ox *e)
{
    e->attn_bias = -1;
    if (e->attention_mask < 0) return 0;
    int f = nb__ox_node(e, "Cast", &e->attention_mask, 1, &NB__OX_INT("to", 1), 1, NULL); /* FLOAT */
    int inv = nb__ox_node2(e, "Sub", nb__ox_scalar(e, 1.0f), f, NULL);
    int add = nb__ox_node2(e, "Mul", inv, nb__ox_scalar(e, -3.4028234663852886e38f), NULL);
    e->attn_bias = nb__ox_node2(e, "Unsqueeze", add, nb__ox_ints(e, 2, (int64_t[]){1, 2}), NULL);
    return e->attn_bias < 0 ? -1 : 0;
}

int nb__bert_to_onnx(nb_module *top, nb__ox *e, int ids)
{
    const nb_text_config *c = top->impl;
    int base = c->arch != NB_BERT_MODEL;
    nb_module *m = base ? nb__child(top, "bert") : top;
    char p[128];
#define PATH(s) (snprintf(p, sizeof p, "%s%s", base ? "bert." : "", s), p)
    if (mask_bias(e)) return -1;
    int x = sub(top, e, PATH("embeddings.word_embeddings"), ids);
    x = x < 0 ? -1 : add(e, x, row(e, param(m, "embeddings.token_type_embeddings", 0), 0));
    x = x < 0 ? -1 : add(e, x, first_rows(e, param(m, "embeddings.position_embeddings", 0), ids));
    x = sub(top, e, PATH("embeddings.LayerNorm"), x);
    for (int64_t l = 0; l < c->num_layers && x >= 0; l++) {
        char layer[64];
        snprintf(layer, sizeof layer, "encoder.layer.%lld", (long long)l);
        x = sub(top, e, PATH(layer), x);
    }
    if (x < 0 || c->arch == NB_BERT_MODEL) return x;
    if (c->arch == NB_BERT_MLM) { /* LayerNorm(act(dense(x)))·Eᵀ + bias */
        int t = sub(top, e, "cls.predictions.transform.dense", x);
        nb_tensor *g = t < 0 ? NULL : nb_gelu(nb__ox_rt(e, t), c->activation);
        t = sub(top, e, "cls.predictions.transform.LayerNorm", g ? nb__ox_gelu(e, t, c->activation, g) : -1);
        nb_tensor *E = param(m, "embeddings.word_embeddings", 0), *b = param(top, "cls.predictions", 0);
        nb_tensor *y = t < 0 ? NULL : nb_linear(nb__ox_rt(e, t), E, b);
        return y ? nb__ox_linear(e, t, E, b, y) : -1;
    }
    /* the classifier: Linear(tanh(pooler.dense(x[:, 0]))) */
    nb_tensor *xt = nb__ox_rt(e, x);
    nb_tensor *first = nb_reshape(nb_narrow(xt, 1, 0, 1), 2, (int64_t[]){xt->shape[0], xt->shape[2]});
    int in[2] = {x, nb__ox_int(e, 0)};
    int f = first ? nb__ox_node(e, "Gather", in, 2, &NB__OX_INT("axis", 1), 1, first) : -1;
    int pd = sub(top, e, "bert.pooler.dense", f);
    nb_tensor *th = pd < 0 ? NULL : nb_tanh(nb__ox_rt(e, pd));
    return sub(top, e, "classifier", th ? nb__ox_node1(e, "Tanh", pd, th) : -1);
#undef PATH
}

int nb__gpt2_to_onnx(nb_module *top, nb__ox *e, int ids)
{
    const nb_text_config *c = top->impl;
    int base = c->arch == NB_GPT2_LM_HEAD;
    nb_module *m = base ? nb__child(top, "transformer") : top;
    char p[128];
#define PATH(s) (snprintf(p, sizeof p, "%s%s", base ? "transformer." : "", s), p)
    if (mask_bias(e)) return -1;
    int x = sub(top, e, PATH("wte"), ids);
    x = x < 0 ? -1 : add(e, x, first_rows(e, param(m, "wpe", 0), ids));
    for (int64_t l = 0; l < c->num_layers && x >= 0; l++) {
        char layer[32];
        snprintf(layer, sizeof layer, "h.%lld", (long long)l);
        x = sub(top, e, PATH(layer), x);
    }
    x = sub(top, e, PATH("ln_f"), x);
    if (x < 0 || c->arch == NB_GPT2_MODEL) return x;
    nb_tensor *wte = param(m, "wte", 0), *y = nb_linear(nb__ox_rt(e, x), wte, NULL);
    return y ? nb__ox_linear(e, x, wte, NULL, y) : -1;
#undef PATH
}
