/* bert.c - BertModel and BertForSequenceClassification with Hugging Face's
 * state_dict names (transformers' modeling_bert.py):
 *
 *   embeddings.{word,position,token_type}_embeddings.weight, embeddings.LayerNorm.{weight,bias}
 *   encoder.layer.N.attention.self.{query,key,value}.{weight,bias}
 *   encoder.layer.N.attention.output.{dense,LayerNorm}.*, encoder.layer.N.intermediate.dense.*,
 *   encoder.layer.N.output.{dense,LayerNorm}.*, pooler.dense.{weight,bias}
 *   BertForSequenceClassification: "bert." + the above, classifier.{weight,bias}
 *   BertForMaskedLM: "bert." + the above, cls.predictions.bias,
 *     cls.predictions.transform.{dense,LayerNorm}.*; the decoder is the word embeddings
 *
 * embeddings: LayerNorm(word[ids] + token_type[tt] + position[0..T)), dropout;
 * encoder: the BertLayers (src/nn/transformer.c) with the padding mask;
 * pooler: tanh(dense(hidden[:, 0])); classifier: Linear(dropout(pooled)); MLM head:
 * LayerNorm(act(dense(hidden)))·word_embeddingsᵀ + bias. */
#include "core/error.h"
#include "core/ctx.h"
#include "models/text_model.h"

#include <stdlib.h>
#include <string.h>


static nb_tensor *bert_fwd(nb_module *m, nb_tensor *ids) { return nb__bert_forward(m, ids, NULL, NULL); }

static nb_tensor *no_forward(nb_module *m, nb_tensor *x)
{
    (void)x;
    nb__fail(NB_ERR_ARG, "%s: runs inside BertModel (nb_text_forward), not on its own", m->vt->kind);
    return NULL;
}

static const nb_module_vtable bert_vt = {.kind = "BertModel", .forward = bert_fwd, .to_onnx = nb__bert_to_onnx};
static const nb_module_vtable bert_cls_vt = {.kind = "BertForSequenceClassification", .forward = bert_fwd,
                                             .to_onnx = nb__bert_to_onnx};
static const nb_module_vtable bert_mlm_vt = {.kind = "BertForMaskedLM", .forward = bert_fwd, .to_onnx = nb__bert_to_onnx};
static const nb_module_vtable mlm_head_vt = {.kind = "BertOnlyMLMHead", .forward = no_forward};
static const nb_module_vtable pred_vt = {.kind = "BertLMPredictionHead", .forward = no_forward};
static const nb_module_vtable transform_vt = {.kind = "BertPredictionHeadTransform", .forward = no_forward};
static const nb_module_vtable emb_vt = {.kind = "BertEmbeddings", .forward = no_forward};
static const nb_module_vtable enc_vt = {.kind = "BertEncoder", .forward = no_forward};
static const nb_module_vtable list_vt = {.kind = "ModuleList", .forward = no_forward};
static const nb_module_vtable pool_vt = {.kind = "BertPooler", .forward = no_forward};

static nb_module *bert_model(nb_ctx *ctx, const nb_text_config *c)
{
    int64_t H = c->hidden_size;
    float s = c->initializer_range;
    nb_module *m = nb__container_new(ctx, &bert_vt);
    if (!m) return NULL;
    if (!(m->impl = nb__text_config_copy(c))) goto fail;
    nb_module *emb, *enc, *list, *pool;
    if (nb__add(m, "embeddings", emb = nb__container_new(ctx, &emb_vt)) ||
        nb__add(emb, "word_embeddings", nb__hf_embedding(ctx, c->vocab_size, H, s, c->pad_token_id)) ||
        nb__add(emb, "position_embeddings", nb__hf_embedding(ctx, c->max_positions, H, s, -1)) ||
        nb__add(emb, "token_type_embeddings", nb__hf_embedding(ctx, c->type_vocab_size, H, s, -1)) ||
        nb__add(emb, "LayerNorm", nb__hf_layernorm(ctx, H, c->layer_norm_eps)) ||
        nb__add(m, "encoder", enc = nb__container_new(ctx, &enc_vt)) ||
        nb__add(enc, "layer", list = nb__container_new(ctx, &list_vt)))
        goto fail;
    if (nb__add_blocks(list, ctx, c, nb__bert_layer_new)) goto fail;
    if (nb__add(m, "pooler", pool = nb__container_new(ctx, &pool_vt)) ||
        nb__add(pool, "dense", nb__hf_linear(ctx, H, H, s)))
        goto fail;
    return m;
fail:
    nb_module_free(m);
    return NULL;
}

/* BertForMaskedLM: bert, cls.predictions.{bias, transform.dense, transform.LayerNorm};
 * the decoder's weight is the word embeddings (tied), its bias cls.predictions.bias. */
static nb_module *bert_mlm(nb_ctx *ctx, const nb_text_config *c)
{
    nb_module *m = nb__container_new(ctx, &bert_mlm_vt), *cls, *pred, *tr;
    if (!m) return NULL;
    nb_text_config base = *c;
    base.arch = NB_BERT_MODEL;
    if (!(m->impl = nb__text_config_copy(c)) || nb__add(m, "bert", bert_model(ctx, &base)) ||
        nb__add(m, "cls", cls = nb__container_new(ctx, &mlm_head_vt)) ||
        nb__add(cls, "predictions", pred = nb__container_new(ctx, &pred_vt)) ||
        nb__module_add(pred, "bias", nb_tensor_new(ctx, NB_F32, 1, (int64_t[]){c->vocab_size}), 0) ||
        nb__add(pred, "transform", tr = nb__container_new(ctx, &transform_vt)) ||
        nb__add(tr, "dense", nb__hf_linear(ctx, c->hidden_size, c->hidden_size, c->initializer_range)) ||
        nb__add(tr, "LayerNorm", nb__hf_layernorm(ctx, c->hidden_size, c->layer_norm_eps))) {
        nb_module_free(m);
        return NULL;
    }
    return m;
}

nb_module *nb__bert_new(nb_ctx *ctx, const nb_text_config *c)
{
    if (c->arch == NB_BERT_MODEL) return bert_model(ctx, c);
    if (c->arch == NB_BERT_MLM) return bert_mlm(ctx, c);
    if (c->num_labels <= 0) {
        nb__fail(NB_ERR_ARG, "BertForSequenceClassification: num_labels must be positive, got %d", c->num_labels);
        return NULL;
    }
    nb_module *m = nb__container_new(ctx, &bert_cls_vt);
    if (!m) return NULL;
    nb_text_config base = *c;
    base.arch = NB_BERT_MODEL;
    if (!(m->impl = nb__text_config_copy(c)) || nb__add(m, "bert", bert_model(ctx, &base)) ||
        nb__add(m, "classifier", nb__hf_linear(ctx, c->hidden_size, c->num_labels, c->initializer_range))) {
        nb_module_free(m);
        return NULL;
    }
    return m;
}

nb_tensor *nb__bert_forward(nb_module *top, nb_tensor *ids, const nb_text_inputs *in, nb_tensor **pooled)
{
    const nb_text_config *c = top->impl;
    if (nb__text_check_ids(ids, in, c)) return NULL;
    nb_module *m = c->arch != NB_BERT_MODEL ? nb__child(top, "bert") : top;
    nb_ctx *ctx = ids->ctx;
    int tr = m->training;
    int64_t B = ids->shape[0], T = ids->shape[1], H = c->hidden_size;
    nb_tensor *pos = nb__empty(ctx, NB_I64, 1, (int64_t[]){T});
    nb_tensor *tt = in && in->token_type_ids ? in->token_type_ids : nb__empty(ctx, NB_I64, 2, (int64_t[]){B, T});
    if (!pos || !tt) return NULL;
    for (int64_t t = 0; t < T; t++) nb__i(pos)[t] = t;
    if (!(in && in->token_type_ids)) memset(tt->data, 0, sizeof(int64_t) * (size_t)(B * T));
    nb_module *emb = nb__child(m, "embeddings");
    nb_tensor *x = nb_embedding(ids, nb__param(emb, "word_embeddings", 0), c->pad_token_id);
    x = nb_add(x, nb_embedding(tt, nb__param(emb, "token_type_embeddings", 0), -1));
    x = nb_add(x, nb_embedding(pos, nb__param(emb, "position_embeddings", 0), -1));
    x = nb_layer_norm(x, 1, (int64_t[]){H}, nb__param(emb, "LayerNorm", 0), nb__param(emb, "LayerNorm", 1),
                      c->layer_norm_eps);
    x = nb_dropout(x, c->hidden_dropout, tr);
    nb_module *layers = nb__child(nb__child(m, "encoder"), "layer");
    nb_tensor *mask = in ? in->attention_mask : NULL;
    for (int64_t l = 0; l < c->num_layers && x; l++) x = nb__bert_layer_forward(layers->children[l], x, mask, c);
    if (!x) return NULL;
    if (c->arch == NB_BERT_MLM) { /* logits = LayerNorm(act(dense(x)))·Eᵀ + bias */
        nb_tensor *t = nb_gelu(nb_linear(x, nb__param(top, "cls.predictions.transform.dense", 0),
                                         nb__param(top, "cls.predictions.transform.dense", 1)),
                               c->activation);
        t = nb_layer_norm(t, 1, (int64_t[]){H}, nb__param(top, "cls.predictions.transform.LayerNorm", 0),
                          nb__param(top, "cls.predictions.transform.LayerNorm", 1), c->layer_norm_eps);
        return nb_linear(t, nb__param(emb, "word_embeddings", 0), nb__param(top, "cls.predictions", 0));
    }
    if (!pooled && c->arch == NB_BERT_MODEL) return x;
    nb_tensor *first = nb_reshape(nb_narrow(x, 1, 0, 1), 2, (int64_t[]){B, H});
    nb_tensor *p = nb_tanh(nb_linear(first, nb__param(m, "pooler.dense", 0), nb__param(m, "pooler.dense", 1)));
    if (c->arch == NB_BERT_MODEL) {
        *pooled = p;
        return p ? x : NULL;
    }
    if (pooled) *pooled = p;
    p = nb_dropout(p, c->classifier_dropout, top->training);
    return nb_linear(p, nb__param(top, "classifier", 0), nb__param(top, "classifier", 1));
}
