/* gpt2.c - GPT2Model and GPT2LMHeadModel with Hugging Face's state_dict names
 * (transformers' modeling_gpt2.py):
 *
 *   wte.weight (vocab, H), wpe.weight (positions, H),
 *   h.N.ln_1.*, h.N.attn.c_attn.* (Conv1D H -> 3H, weight (in, out)), h.N.attn.c_proj.*,
 *   h.N.ln_2.*, h.N.mlp.c_fc.* (H -> inner), h.N.mlp.c_proj.*, ln_f.*
 *   GPT2LMHeadModel: "transformer." + the above; lm_head.weight is wte.weight (tied, not
 *   a parameter of its own): logits = hidden · wteᵀ.
 *
 * hidden = ln_f(blocks(dropout(wte[ids] + wpe[0..T)))), causal attention with the
 * padding mask (positions are 0..T-1 whatever the padding, as HF without position_ids). */
#include "core/error.h"
#include "core/ctx.h"
#include "models/text_model.h"

#include <stdlib.h>
#include <string.h>


static nb_tensor *gpt2_fwd(nb_module *m, nb_tensor *ids) { return nb__gpt2_forward(m, ids, NULL); }

static nb_tensor *no_forward(nb_module *m, nb_tensor *x)
{
    (void)x;
    nb__fail(NB_ERR_ARG, "%s: runs inside GPT2Model (nb_text_forward), not on its own", m->vt->kind);
    return NULL;
}

static const nb_module_vtable gpt2_vt = {.kind = "GPT2Model", .forward = gpt2_fwd, .to_onnx = nb__gpt2_to_onnx};
static const nb_module_vtable gpt2_lm_vt = {.kind = "GPT2LMHeadModel", .forward = gpt2_fwd, .to_onnx = nb__gpt2_to_onnx};
static const nb_module_vtable list_vt = {.kind = "ModuleList", .forward = no_forward};

static void *copy_config(const nb_text_config *c)
{
    nb_text_config *p = malloc(sizeof *p);
    if (p) *p = *c;
    else nb__fail(NB_ERR_MEM, "out of memory");
    return p;
}

static nb_module *gpt2_model(nb_ctx *ctx, const nb_text_config *c)
{
    int64_t H = c->hidden_size;
    float s = c->initializer_range;
    nb_module *m = nb__container_new(ctx, &gpt2_vt), *list;
    if (!m) return NULL;
    if (!(m->impl = copy_config(c)) || nb__add(m, "wte", nb__hf_embedding(ctx, c->vocab_size, H, s, -1)) ||
        nb__add(m, "wpe", nb__hf_embedding(ctx, c->max_positions, H, s, -1)) ||
        nb__add(m, "h", list = nb__container_new(ctx, &list_vt)))
        goto fail;
    for (int64_t l = 0; l < c->num_layers; l++) {
        char name[32];
        snprintf(name, sizeof name, "%lld", (long long)l);
        if (nb__add(list, name, nb__gpt2_block_new(ctx, c, l))) goto fail;
    }
    if (nb__add(m, "ln_f", nb__hf_layernorm(ctx, H, c->layer_norm_eps))) goto fail;
    return m;
fail:
    nb_module_free(m);
    return NULL;
}

nb_module *nb__gpt2_new(nb_ctx *ctx, const nb_text_config *c)
{
    if (c->arch == NB_GPT2_MODEL) return gpt2_model(ctx, c);
    nb_module *m = nb__container_new(ctx, &gpt2_lm_vt);
    if (!m) return NULL;
    nb_text_config base = *c;
    base.arch = NB_GPT2_MODEL;
    if (!(m->impl = copy_config(c)) || nb__add(m, "transformer", gpt2_model(ctx, &base))) {
        nb_module_free(m);
        return NULL;
    }
    return m;
}

nb_tensor *nb__gpt2_forward(nb_module *top, nb_tensor *ids, const nb_text_inputs *in)
{
    const nb_text_config *c = top->impl;
    if (nb__text_check_ids(ids, in, c)) return NULL;
    nb_module *m = c->arch == NB_GPT2_LM_HEAD ? nb__child(top, "transformer") : top;
    nb_ctx *ctx = ids->ctx;
    int64_t T = ids->shape[1], H = c->hidden_size;
    nb_tensor *pos = nb__empty(ctx, NB_I64, 1, (int64_t[]){T});
    if (!pos) return NULL;
    for (int64_t t = 0; t < T; t++) nb__i(pos)[t] = t;
    nb_tensor *wte = nb__param(m, "wte", 0);
    nb_tensor *x = nb_add(nb_embedding(ids, wte, -1), nb_embedding(pos, nb__param(m, "wpe", 0), -1));
    x = nb_dropout(x, c->embedding_dropout, m->training);
    nb_module *blocks = nb__child(m, "h");
    nb_tensor *mask = in ? in->attention_mask : NULL;
    for (int64_t l = 0; l < c->num_layers && x; l++) x = nb__gpt2_block_forward(blocks->children[l], x, mask, c, NULL);
    x = nb_layer_norm(x, 1, (int64_t[]){H}, nb__param(m, "ln_f", 0), nb__param(m, "ln_f", 1), c->layer_norm_eps);
    if (c->arch == NB_GPT2_MODEL) return x;
    return nb_linear(x, wte, NULL);
}

/* ---- key/value cache for generation ---- */

struct nb_text_cache {
    nb_module *model;
    nb__kv_layer *layers;
    int64_t n_layers, len;
};

nb_text_cache *nb_text_cache_new(nb_module *m, int64_t batch, int64_t max_len)
{
    const nb_text_config *c = nb_text_model_config(m);
    if (!c || (c->arch != NB_GPT2_MODEL && c->arch != NB_GPT2_LM_HEAD)) {
        nb__fail(NB_ERR_ARG, "nb_text_cache_new: a GPT-2 model is needed");
        return NULL;
    }
    if (batch < 1 || max_len < 1 || max_len > c->max_positions) {
        nb__fail(NB_ERR_ARG, "nb_text_cache_new: batch %lld and length %lld must be >= 1, the length at most n_positions %lld",
                 (long long)batch, (long long)max_len, (long long)c->max_positions);
        return NULL;
    }
    nb_text_cache *k = calloc(1, sizeof *k);
    if (k) k->layers = calloc((size_t)(c->num_layers + 1), sizeof *k->layers);
    if (!k || !k->layers) goto oom;
    k->model = m;
    k->n_layers = c->num_layers;
    size_t n = (size_t)(batch * max_len * c->hidden_size);
    for (int64_t l = 0; l < c->num_layers; l++) {
        k->layers[l] = (nb__kv_layer){.k = malloc(sizeof(float) * n), .v = malloc(sizeof(float) * n), .B = batch,
                                      .max = max_len};
        if (!k->layers[l].k || !k->layers[l].v) goto oom;
    }
    return k;
oom:
    nb_text_cache_free(k);
    nb__fail(NB_ERR_MEM, "out of memory for a GPT-2 cache of %lld x %lld tokens", (long long)batch, (long long)max_len);
    return NULL;
}

void nb_text_cache_free(nb_text_cache *k)
{
    if (!k) return;
    for (int64_t l = 0; k->layers && l < k->n_layers; l++) free(k->layers[l].k), free(k->layers[l].v);
    free(k->layers);
    free(k);
}

int64_t nb_text_cache_len(const nb_text_cache *k) { return k ? k->len : 0; }

nb_tensor *nb_text_forward_cached(nb_module *top, nb_tensor *ids, nb_text_cache *kc)
{
    const nb_text_config *c = nb_text_model_config(top);
    if (!ids) return NULL;
    if (!kc || kc->model != top) {
        nb__fail(NB_ERR_ARG, "nb_text_forward_cached: the cache was made for another model");
        return NULL;
    }
    if (ids->ctx->grad_enabled) {
        nb__fail(NB_ERR_STATE, "nb_text_forward_cached: for inference only; turn gradients off (nb_set_grad_enabled)");
        return NULL;
    }
    if (ids->dtype != NB_I64 || ids->ndim != 2 || ids->shape[0] != kc->layers[0].B) {
        nb__fail(NB_ERR_SHAPE, "nb_text_forward_cached: input_ids %s must be I64 (batch %lld, length)", nb__tshape(ids),
                 (long long)kc->layers[0].B);
        return NULL;
    }
    nb_module *m = c->arch == NB_GPT2_LM_HEAD ? nb__child(top, "transformer") : top;
    nb_ctx *ctx = ids->ctx;
    int64_t T = ids->shape[1], H = c->hidden_size;
    if (kc->len + T > kc->layers[0].max) {
        nb__fail(NB_ERR_SHAPE, "GPT-2 cache: %lld more tokens do not fit (%lld of %lld positions used)", (long long)T,
                 (long long)kc->len, (long long)kc->layers[0].max);
        return NULL;
    }
    nb_tensor *pos = nb__empty(ctx, NB_I64, 1, (int64_t[]){T});
    if (!pos) return NULL;
    for (int64_t t = 0; t < T; t++) nb__i(pos)[t] = kc->len + t;
    nb_tensor *wte = nb__param(m, "wte", 0);
    nb_tensor *x = nb_add(nb_embedding(ids, wte, -1), nb_embedding(pos, nb__param(m, "wpe", 0), -1));
    x = nb_dropout(x, c->embedding_dropout, m->training);
    nb_module *blocks = nb__child(m, "h");
    for (int64_t l = 0; l < c->num_layers && x; l++) {
        kc->layers[l].len = kc->len;
        x = nb__gpt2_block_forward(blocks->children[l], x, NULL, c, &kc->layers[l]);
    }
    if (!x) return NULL;
    kc->len += T;
    x = nb_layer_norm(x, 1, (int64_t[]){H}, nb__param(m, "ln_f", 0), nb__param(m, "ln_f", 1), c->layer_norm_eps);
    if (c->arch == NB_GPT2_MODEL) return x;
    return nb_linear(x, wte, NULL);
}
