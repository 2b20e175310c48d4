/* transformer.c - the blocks of BERT and GPT-2 with Hugging Face's module names.
 *
 * BertLayer (post-LN; transformers' modeling_bert.py), x (B, T, H):
 *   attention.self.{query,key,value}: Linear(H, H); heads split inside the attention op
 *   a = attention.output.dense(attn(q, k, v, mask)); a = LayerNorm(dropout(a) + x)   [attention.output.LayerNorm]
 *   i = act(intermediate.dense(a))                   Linear(H, I), GELU (erf)
 *   y = output.LayerNorm(dropout(output.dense(i)) + a)
 * GPT2Block (pre-LN; modeling_gpt2.py):
 *   a = ln_1(x); q, k, v = split(attn.c_attn(a)) (Conv1D(H, 3H), weights (in, out))
 *   x = x + dropout(attn.c_proj(causal attn(q, k, v, mask)))
 *   y = x + dropout(mlp.c_proj(gelu_new(mlp.c_fc(ln_2(x)))))
 * The attention core is nb_multihead_attention (src/ops/attention.c); the 4x MLP
 * goes through nb__sgemm. Conv1D: y (R, out) = x (R, in) · W (in, out) + b. */
#include "core/error.h"
#include "core/tape.h"
#include "core/ctx.h"
#include "core/random.h"
#include "kernels/gemm.h"
#include "nn/transformer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- Conv1D ---- */

static nb_tensor *conv1d_forward(nb_module *m, nb_tensor *x)
{
    return nb__conv1d_hf(x, m->own[0].tensor, m->n_own > 1 ? m->own[1].tensor : NULL);
}
static const nb_module_vtable conv1d_vt = {.kind = "Conv1D", .forward = conv1d_forward, .to_onnx = nb__conv1d_hf_to_onnx};

nb_module *nb__conv1d_hf_new(nb_ctx *ctx, int64_t in, int64_t out, float std)
{
    nb_module *m = nb__module_new(ctx, &conv1d_vt);
    if (!m) return NULL;
    nb_tensor *w = nb_tensor_new(ctx, NB_F32, 2, (int64_t[]){in, out});
    if (nb__module_add(m, "weight", w, 0) || nb_init_normal(w, 0, std, &ctx->rng) ||
        nb__module_add(m, "bias", nb_tensor_new(ctx, NB_F32, 1, (int64_t[]){out}), 0)) {
        nb_module_free(m);
        return NULL;
    }
    return m;
}

/* ---- containers and Hugging Face's initialisation ---- */

static nb_tensor *not_alone(nb_module *m, nb_tensor *x)
{
    (void)x;
    nb__fail(NB_ERR_ARG, "%s: runs inside its model (nb_text_forward), not on its own", m->vt->kind);
    return NULL;
}

nb_module *nb__container_new(nb_ctx *ctx, const nb_module_vtable *vt) { return nb__module_new(ctx, vt); }

int nb__add(nb_module *parent, const char *name, nb_module *child)
{
    if (!child) return -1;
    if (nb__module_add_child(parent, name, child)) {
        nb_module_free(child);
        return -1;
    }
    return 0;
}

int nb__add_blocks(nb_module *list, nb_ctx *ctx, const nb_text_config *c,
                   nb_module *(*block)(nb_ctx *ctx, const nb_text_config *c, int64_t layer))
{
    for (int64_t l = 0; l < c->num_layers; l++) {
        char name[32];
        snprintf(name, sizeof name, "%lld", (long long)l);
        if (nb__add(list, name, block(ctx, c, l))) return -1;
    }
    return 0;
}

nb_module *nb__child(const nb_module *m, const char *name)
{
    for (int i = 0; m && i < m->n_children; i++)
        if (!strcmp(m->child_names[i], name)) return m->children[i];
    return NULL;
}

nb_tensor *nb__param(const nb_module *m, const char *path, int k)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *s = buf, *dot; m && s; s = dot ? dot + 1 : NULL) {
        dot = strchr(s, '.');
        if (dot) *dot = 0;
        m = nb__child(m, s);
    }
    return m && k < m->n_own ? m->own[k].tensor : NULL;
}

nb_module *nb__hf_linear(nb_ctx *ctx, int64_t in, int64_t out, float std)
{
    nb_module *m = nb_linear_new(ctx, in, out, NULL);
    if (m && (nb_init_normal(m->own[0].tensor, 0, std, &ctx->rng) || nb_init_zeros(m->own[1].tensor))) {
        nb_module_free(m);
        return NULL;
    }
    return m;
}

nb_module *nb__hf_embedding(nb_ctx *ctx, int64_t num, int64_t dim, float std, int64_t padding_idx)
{
    nb_embedding_opts o = {.padding_idx = padding_idx, .has_padding_idx = padding_idx >= 0};
    nb_module *m = nb_embedding_new(ctx, num, dim, &o);
    if (!m) return NULL;
    float *w = nb_tensor_data(m->own[0].tensor);
    if (nb_init_normal(m->own[0].tensor, 0, std, &ctx->rng)) {
        nb_module_free(m);
        return NULL;
    }
    if (padding_idx >= 0 && padding_idx < num) memset(w + padding_idx * dim, 0, sizeof(float) * (size_t)dim);
    return m;
}

nb_module *nb__hf_layernorm(nb_ctx *ctx, int64_t dim, float eps)
{
    return nb_layernorm_new(ctx, 1, (int64_t[]){dim}, &(nb_layernorm_opts){.eps = eps});
}

static nb_tensor *ln(nb_module *m, const char *path, nb_tensor *x, const nb_text_config *c)
{
    return nb_layer_norm(x, 1, (int64_t[]){c->hidden_size}, nb__param(m, path, 0), nb__param(m, path, 1),
                         c->layer_norm_eps);
}

static nb_tensor *lin(nb_module *m, const char *path, nb_tensor *x)
{
    return nb_linear(x, nb__param(m, path, 0), nb__param(m, path, 1));
}

static nb_tensor *conv(nb_module *m, const char *path, nb_tensor *x)
{
    return nb__conv1d_hf(x, nb__param(m, path, 0), nb__param(m, path, 1));
}

/* ---- BertLayer ---- */

static nb_tensor *bert_layer_fwd(nb_module *m, nb_tensor *x) { return nb__bert_layer_forward(m, x, NULL, m->impl); }

static const nb_module_vtable bert_attention_vt = {.kind = "BertAttention", .forward = not_alone};
static const nb_module_vtable bert_self_vt = {.kind = "BertSelfAttention", .forward = not_alone};
static const nb_module_vtable bert_self_out_vt = {.kind = "BertSelfOutput", .forward = not_alone};
static const nb_module_vtable bert_inter_vt = {.kind = "BertIntermediate", .forward = not_alone};
static const nb_module_vtable bert_out_vt = {.kind = "BertOutput", .forward = not_alone};

static const nb_module_vtable bert_layer_owned_vt = {.kind = "BertLayer", .forward = bert_layer_fwd,
                                                     .to_onnx = nb__bert_layer_to_onnx};

/* A container module of vtable vt that keeps a copy of c and its layer index as its impl
 * (an nb__block_cfg, whose first member is the config). */
static nb_module *block_new(nb_ctx *ctx, const nb_module_vtable *vt, const nb_text_config *c, int64_t layer)
{
    nb_module *m = nb__container_new(ctx, vt);
    nb__block_cfg *b = m ? malloc(sizeof *b) : NULL;
    if (!b) {
        nb_module_free(m);
        nb__fail(NB_ERR_MEM, "out of memory");
        return NULL;
    }
    b->c = *c;
    b->layer = layer;
    m->impl = b;
    return m;
}

nb_module *nb__bert_layer_new(nb_ctx *ctx, const nb_text_config *c, int64_t layer)
{
    int64_t H = c->hidden_size, I = c->intermediate_size;
    float s = c->initializer_range;
    nb_module *m = block_new(ctx, &bert_layer_owned_vt, c, layer);
    if (!m) return NULL;
    /* children are attached before they are filled, so freeing m frees everything on failure */
    nb_module *att, *self, *so, *inter, *out;
    if (nb__add(m, "attention", att = nb__container_new(ctx, &bert_attention_vt)) ||
        nb__add(att, "self", self = nb__container_new(ctx, &bert_self_vt)) ||
        nb__add(att, "output", so = nb__container_new(ctx, &bert_self_out_vt)) ||
        nb__add(m, "intermediate", inter = nb__container_new(ctx, &bert_inter_vt)) ||
        nb__add(m, "output", out = nb__container_new(ctx, &bert_out_vt)) ||
        nb__add(self, "query", nb__hf_linear(ctx, H, H, s)) || nb__add(self, "key", nb__hf_linear(ctx, H, H, s)) ||
        nb__add(self, "value", nb__hf_linear(ctx, H, H, s)) || nb__add(so, "dense", nb__hf_linear(ctx, H, H, s)) ||
        nb__add(so, "LayerNorm", nb__hf_layernorm(ctx, H, c->layer_norm_eps)) ||
        nb__add(inter, "dense", nb__hf_linear(ctx, H, I, s)) || nb__add(out, "dense", nb__hf_linear(ctx, I, H, s)) ||
        nb__add(out, "LayerNorm", nb__hf_layernorm(ctx, H, c->layer_norm_eps))) {
        nb_module_free(m);
        return NULL;
    }
    return m;
}

nb_tensor *nb__bert_layer_forward(nb_module *m, nb_tensor *x, nb_tensor *mask, const nb_text_config *c)
{
    int tr = m->training;
    nb_tensor *q = lin(m, "attention.self.query", x), *k = lin(m, "attention.self.key", x),
              *v = lin(m, "attention.self.value", x);
    nb_tensor *a = nb_multihead_attention(
        q, k, v, c->num_heads,
        &(nb_attention_opts){.attn_mask = mask, .dropout_p = c->attention_dropout, .training = tr});
    a = nb_dropout(lin(m, "attention.output.dense", a), c->hidden_dropout, tr);
    a = ln(m, "attention.output.LayerNorm", nb_add(a, x), c);
    nb_tensor *i = nb_gelu(lin(m, "intermediate.dense", a), c->activation);
    nb_tensor *o = nb_dropout(lin(m, "output.dense", i), c->hidden_dropout, tr);
    return ln(m, "output.LayerNorm", nb_add(o, a), c);
}

/* ---- GPT2Block ---- */

float nb__gpt2_score_div(const nb_module *block, const nb_text_config *c)
{
    const nb__block_cfg *b = block->impl;
    return c->scale_attn_by_inverse_layer_idx ? (float)(b->layer + 1) : 0.0f;
}

static nb_tensor *gpt2_block_fwd(nb_module *m, nb_tensor *x) { return nb__gpt2_block_forward(m, x, NULL, m->impl, NULL); }

/* Append k, v (B, T, H) at rows kv->len.. of the cache; the arena tensors (B, len + T, H) of all of them. */
static int kv_append(nb__kv_layer *kv, nb_tensor *k, nb_tensor *v, nb_tensor **ka, nb_tensor **va)
{
    int64_t B = k->shape[0], T = k->shape[1], H = k->shape[2], L = kv->len + T;
    if (B != kv->B || L > kv->max) {
        nb__fail(NB_ERR_SHAPE, "GPT-2 cache: %lld more tokens of batch %lld do not fit (%lld of %lld positions used, batch %lld)",
                 (long long)T, (long long)B, (long long)kv->len, (long long)kv->max, (long long)kv->B);
        return -1;
    }
    *ka = nb__empty(k->ctx, NB_F32, 3, (int64_t[]){B, L, H});
    *va = nb__empty(k->ctx, NB_F32, 3, (int64_t[]){B, L, H});
    if (!*ka || !*va) return -1;
    for (int64_t b = 0; b < B; b++) {
        memcpy(kv->k + (b * kv->max + kv->len) * H, nb__f(k) + b * T * H, sizeof(float) * (size_t)(T * H));
        memcpy(kv->v + (b * kv->max + kv->len) * H, nb__f(v) + b * T * H, sizeof(float) * (size_t)(T * H));
        memcpy(nb__f(*ka) + b * L * H, kv->k + b * kv->max * H, sizeof(float) * (size_t)(L * H));
        memcpy(nb__f(*va) + b * L * H, kv->v + b * kv->max * H, sizeof(float) * (size_t)(L * H));
    }
    return 0;
}

static const nb_module_vtable gpt2_block_vt = {.kind = "GPT2Block", .forward = gpt2_block_fwd,
                                               .to_onnx = nb__gpt2_block_to_onnx};
static const nb_module_vtable gpt2_attn_vt = {.kind = "GPT2Attention", .forward = not_alone};
static const nb_module_vtable gpt2_mlp_vt = {.kind = "GPT2MLP", .forward = not_alone};

nb_module *nb__gpt2_block_new(nb_ctx *ctx, const nb_text_config *c, int64_t layer)
{
    int64_t H = c->hidden_size, I = c->intermediate_size;
    float s = c->initializer_range, sp = (float)(c->initializer_range / sqrt(2.0 * (double)c->num_layers));
    nb_module *m = block_new(ctx, &gpt2_block_vt, c, layer);
    if (!m) return NULL;
    nb_module *attn, *mlp;
    if (nb__add(m, "ln_1", nb__hf_layernorm(ctx, H, c->layer_norm_eps)) ||
        nb__add(m, "attn", attn = nb__container_new(ctx, &gpt2_attn_vt)) ||
        nb__add(m, "ln_2", nb__hf_layernorm(ctx, H, c->layer_norm_eps)) ||
        nb__add(m, "mlp", mlp = nb__container_new(ctx, &gpt2_mlp_vt)) ||
        nb__add(attn, "c_attn", nb__conv1d_hf_new(ctx, H, 3 * H, s)) ||
        nb__add(attn, "c_proj", nb__conv1d_hf_new(ctx, H, H, sp)) ||
        nb__add(mlp, "c_fc", nb__conv1d_hf_new(ctx, H, I, s)) || nb__add(mlp, "c_proj", nb__conv1d_hf_new(ctx, I, H, sp))) {
        nb_module_free(m);
        return NULL;
    }
    return m;
}

nb_tensor *nb__gpt2_block_forward(nb_module *m, nb_tensor *x, nb_tensor *mask, const nb_text_config *c,
                                  nb__kv_layer *kv)
{
    int tr = m->training;
    int64_t H = c->hidden_size;
    nb_tensor *qkv = conv(m, "attn.c_attn", ln(m, "ln_1", x, c));
    nb_tensor *q = nb_narrow(qkv, -1, 0, H), *k = nb_narrow(qkv, -1, H, H), *v = nb_narrow(qkv, -1, 2 * H, H);
    if (kv && q && k && v && kv_append(kv, k, v, &k, &v)) return NULL;
    nb_tensor *a = nb_multihead_attention(q, k, v, c->num_heads,
                                          &(nb_attention_opts){.attn_mask = mask, .is_causal = 1,
                                                               .dropout_p = c->attention_dropout, .training = tr,
                                                               .score_div = nb__gpt2_score_div(m, c)});
    a = nb_dropout(conv(m, "attn.c_proj", a), c->hidden_dropout, tr);
    x = nb_add(x, a);
    nb_tensor *h = nb_gelu(conv(m, "mlp.c_fc", ln(m, "ln_2", x, c)), c->activation);
    h = nb_dropout(conv(m, "mlp.c_proj", h), c->hidden_dropout, tr);
    return nb_add(x, h);
}
