/* transformer.h - the transformer blocks and Hugging Face-style layers (private):
 * src/nn/transformer.c; the models on top of them are in src/models/ (text_model.h). */
#ifndef NB_NN_TRANSFORMER_H
#define NB_NN_TRANSFORMER_H
#include "core/tensor.h"
#include "nn/module.h"
#include "ops/conv1d_hf.h"

/* A Conv1D module: parameters "weight" (in, out) ~ N(0, std²), "bias" (out) = 0. */
nb_module *nb__conv1d_hf_new(nb_ctx *ctx, int64_t in, int64_t out, float std);

/* Containers with a kind name; forward as given (may be NULL: "not callable alone"). */
nb_module *nb__container_new(nb_ctx *ctx, const nb_module_vtable *vt);
/* Add child; on failure free it and return nonzero. */
int nb__add(nb_module *parent, const char *name, nb_module *child);
/* The child called name, or NULL. */
nb_module *nb__child(const nb_module *m, const char *name);
/* own tensor k (0 weight, 1 bias) of the child at dotted path ("attention.self.query"), or NULL */
nb_tensor *nb__param(const nb_module *m, const char *path, int k);

/* Hugging Face's _init_weights: Linear / Conv1D weight N(0, std²), bias 0; Embedding
 * N(0, std²) with the padding row 0; LayerNorm 1, 0. */
nb_module *nb__hf_linear(nb_ctx *ctx, int64_t in, int64_t out, float std);
nb_module *nb__hf_embedding(nb_ctx *ctx, int64_t num, int64_t dim, float std, int64_t padding_idx);
nb_module *nb__hf_layernorm(nb_ctx *ctx, int64_t dim, float eps);

/* Blocks (src/nn/transformer.c). x (B, T, hidden); mask (B, T) or NULL. A block's impl
 * is an nb__block_cfg: the model's config and the block's layer index. */
typedef struct {
    nb_text_config c;
    int64_t layer;
} nb__block_cfg;
nb_module *nb__bert_layer_new(nb_ctx *ctx, const nb_text_config *c, int64_t layer);
nb_tensor *nb__bert_layer_forward(nb_module *layer, nb_tensor *x, nb_tensor *mask, const nb_text_config *c);
/* c->num_layers blocks made by block(ctx, c, layer), added to list as "0", "1", ...;
 * nonzero on failure. */
int nb__add_blocks(nb_module *list, nb_ctx *ctx, const nb_text_config *c,
                   nb_module *(*block)(nb_ctx *ctx, const nb_text_config *c, int64_t layer));
nb_module *nb__gpt2_block_new(nb_ctx *ctx, const nb_text_config *c, int64_t layer);
/* What GPT-2 block's attention scores are also divided by (nb_attention_opts.score_div):
 * layer + 1 with c's scale_attn_by_inverse_layer_idx, else 0 (none). */
float nb__gpt2_score_div(const nb_module *block, const nb_text_config *c);
/* One layer's key/value cache: k, v (B, max, H) row-major, len rows of each filled. */
typedef struct {
    float *k, *v;
    int64_t B, max, len;
} nb__kv_layer;
/* kv NULL: the plain block; else the keys and values of x are appended to kv (which the
 * caller advances) and the queries attend to all kv->len + T of them (gradients off). */
nb_tensor *nb__gpt2_block_forward(nb_module *block, nb_tensor *x, nb_tensor *mask, const nb_text_config *c,
                                  nb__kv_layer *kv);

/* ONNX export of the blocks and of Conv1D, their vtables' to_onnx hooks
 * (transformer_onnx.c, nn/onnx_export.h). */
int nb__conv1d_hf_to_onnx(nb_module *m, struct nb__ox *e, int x);
int nb__bert_layer_to_onnx(nb_module *m, struct nb__ox *e, int x);
int nb__gpt2_block_to_onnx(nb_module *m, struct nb__ox *e, int x);

#endif
