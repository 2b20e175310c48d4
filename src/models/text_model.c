/* text_model.c - the text models (BERT and GPT-2, models/bert.c and gpt2.c) as one
 * family: Hugging Face's architecture names, built-in configurations (bert_tiny,
 * gpt2_tiny), a fresh model from a config, its checks and nb_text_forward. Reading
 * and writing model directories (config.json, model.safetensors) is io/hf_dir.c. */
#include "core/error.h"
#include "core/ctx.h"
#include "models/text_model.h"

#include <stdlib.h>
#include <string.h>

static const char *const arch_names[] = {"BertModel", "BertForSequenceClassification", "GPT2Model",
                                         "GPT2LMHeadModel", "BertForMaskedLM"};

const char *nb_text_arch_name(nb_text_arch a)
{
    return (unsigned)a < sizeof arch_names / sizeof *arch_names ? arch_names[a] : "?";
}

int nb__text_is_bert(nb_text_arch a) { return a == NB_BERT_MODEL || a == NB_BERT_SEQ_CLS || a == NB_BERT_MLM; }

/* ---- models ---- */

static nb_status check_config(const nb_text_config *c)
{
    if ((unsigned)c->arch > NB_BERT_MLM) return nb__fail(NB_ERR_ARG, "text model: unknown architecture %d", (int)c->arch);
    if (c->vocab_size < 1 || c->hidden_size < 1 || c->num_layers < 0 || c->num_heads < 1 || c->intermediate_size < 1 ||
        c->max_positions < 1 || (nb__text_is_bert(c->arch) && c->type_vocab_size < 1))
        return nb__fail(NB_ERR_ARG, "%s: sizes must be positive (vocab %lld, hidden %lld, layers %lld, heads %lld, "
                                    "intermediate %lld, positions %lld, token types %lld)",
                        nb_text_arch_name(c->arch), (long long)c->vocab_size, (long long)c->hidden_size,
                        (long long)c->num_layers, (long long)c->num_heads, (long long)c->intermediate_size,
                        (long long)c->max_positions, (long long)c->type_vocab_size);
    if (c->hidden_size % c->num_heads)
        return nb__fail(NB_ERR_ARG, "%s: hidden size %lld does not divide into %lld heads", nb_text_arch_name(c->arch),
                        (long long)c->hidden_size, (long long)c->num_heads);
    if (!(c->layer_norm_eps > 0))
        return nb__fail(NB_ERR_ARG, "%s: layer_norm_eps must be > 0", nb_text_arch_name(c->arch));
    return NB_OK;
}

nb_module *nb_text_model_new(nb_ctx *ctx, const nb_text_config *c)
{
    if (!ctx || !c) {
        nb__fail(NB_ERR_ARG, "nb_text_model_new: ctx and config are required");
        return NULL;
    }
    if (check_config(c)) return NULL;
    return nb__text_is_bert(c->arch) ? nb__bert_new(ctx, c) : nb__gpt2_new(ctx, c);
}

const nb_text_config *nb_text_model_config(const nb_module *m)
{
    if (!m) return NULL;
    const char *k = m->vt->kind;
    for (int i = 0; i < NB__TEXT_N_ARCH; i++)
        if (!strcmp(k, arch_names[i])) return m->impl;
    return NULL;
}

nb_status nb__text_check_ids(const nb_tensor *ids, const nb_text_inputs *in, const nb_text_config *c)
{
    const char *an = nb_text_arch_name(c->arch);
    if (!ids) return NB_ERR_ARG;
    if (ids->dtype != NB_I64 || ids->ndim != 2)
        return nb__fail(NB_ERR_SHAPE, "%s: input_ids must be I64 (batch, length), got %s%s", an, nb__tshape(ids),
                        ids->dtype != NB_I64 ? " F32" : "");
    if (ids->shape[1] > c->max_positions)
        return nb__fail(NB_ERR_SHAPE, "%s: a sequence of %lld tokens is longer than the %lld positions of the model (%s)",
                        an, (long long)ids->shape[1], (long long)c->max_positions,
                        nb__text_is_bert(c->arch) ? "max_position_embeddings" : "n_positions");
    if (ids->shape[1] < 1) return nb__fail(NB_ERR_SHAPE, "%s: empty sequences (input_ids %s)", an, nb__tshape(ids));
    if (in && in->attention_mask && !nb__same_shape(in->attention_mask, ids))
        return nb__fail(NB_ERR_SHAPE, "%s: attention_mask %s must have input_ids' shape %s", an,
                        nb__tshape(in->attention_mask), nb__tshape(ids));
    if (in && in->token_type_ids && (!nb__same_shape(in->token_type_ids, ids) || in->token_type_ids->dtype != NB_I64))
        return nb__fail(NB_ERR_SHAPE, "%s: token_type_ids %s must be I64 with input_ids' shape %s", an,
                        nb__tshape(in->token_type_ids), nb__tshape(ids));
    if (in && in->token_type_ids && !nb__text_is_bert(c->arch))
        return nb__fail(NB_ERR_ARG, "%s: takes no token_type_ids", an);
    return NB_OK;
}

nb_tensor *nb_text_forward(nb_module *m, nb_tensor *input_ids, const nb_text_inputs *in, nb_tensor **pooled)
{
    if (pooled) *pooled = NULL;
    const nb_text_config *c = nb_text_model_config(m);
    if (!c) {
        nb__fail(NB_ERR_ARG, "nb_text_forward: %s is not a text model", m ? m->vt->kind : "NULL");
        return NULL;
    }
    if (!input_ids) return NULL;
    return nb__text_is_bert(c->arch) ? nb__bert_forward(m, input_ids, in, pooled) : nb__gpt2_forward(m, input_ids, in);
}

nb_status nb_text_config_preset(const char *name, nb_text_config *c)
{
    if (!name || (strcmp(name, "bert_tiny") && strcmp(name, "gpt2_tiny")))
        return nb__fail(NB_ERR_ARG, "no built-in text model '%s' (bert_tiny, gpt2_tiny)", name ? name : "");
    int bert = !strcmp(name, "bert_tiny");
    *c = (nb_text_config){.arch = bert ? NB_BERT_SEQ_CLS : NB_GPT2_LM_HEAD, .vocab_size = 30522, .hidden_size = 128,
                          .num_layers = 2, .num_heads = 2, .intermediate_size = 512, .max_positions = bert ? 512 : 1024,
                          .type_vocab_size = bert ? 2 : 0, .pad_token_id = bert ? 0 : -1, .num_labels = 2,
                          .layer_norm_eps = bert ? 1e-12f : 1e-5f, .hidden_dropout = 0.1f, .attention_dropout = 0.1f,
                          .embedding_dropout = 0.1f, .classifier_dropout = 0.1f,
                          .activation = bert ? NB_GELU_ERF : NB_GELU_TANH, .initializer_range = 0.02f};
    return NB_OK;
}

void *nb__text_config_copy(const nb_text_config *c)
{
    nb_text_config *p = malloc(sizeof *p);
    if (p) *p = *c;
    else nb__fail(NB_ERR_MEM, "out of memory");
    return p;
}
