/* embedding.c - nn.Embedding(num_embeddings, embedding_dim, padding_idx) over
 * nb_embedding (src/ops/embedding.c), with from_pretrained(embeddings, freeze=True).
 * Init: N(0, 1) from the context generator, padding row zero (as reset_parameters);
 * from_pretrained copies the weights as they are (the padding row is not zeroed,
 * as PyTorch). */
#include "core/error.h"
#include "core/tensor.h"
#include "core/ctx.h"
#include "nn/module.h"
#include "nn/onnx_export.h"

#include <string.h>

/* Embedding's kind state (m->impl). */
typedef struct {
    int64_t padding_idx; /* -1: none */
} embedding_state;

static nb_tensor *embedding_forward(nb_module *m, nb_tensor *x)
{
    return nb_embedding(x, m->own[0].tensor, ((embedding_state *)m->impl)->padding_idx);
}

/* ONNX: Gather of the weight's rows */
static int embedding_ox(nb_module *m, nb__ox *e, int x)
{
    int in[2] = {nb__ox_param(e, m->own[0].tensor), x};
    nb_tensor *y = nb_module_forward(m, nb__ox_rt(e, x));
    return y && in[0] >= 0 ? nb__ox_node(e, "Gather", in, 2, &NB__OX_INT("axis", 0), 1, y) : -1;
}

static const nb_module_vtable embedding_vt = {.kind = "Embedding", .forward = embedding_forward,
                                              .to_onnx = embedding_ox};

/* padding_idx as PyTorch: negative counts from the end; -1 here after the check
 * means none. */
static int resolve_padding(const nb_embedding_opts *o, int64_t num, int64_t *pad)
{
    *pad = -1;
    if (!o || !o->has_padding_idx) return 0;
    int64_t p = o->padding_idx;
    if (p >= num || p < -num) {
        nb__fail(NB_ERR_ARG, "Embedding: padding_idx %lld must be within num_embeddings (%lld)", (long long)p,
                 (long long)num);
        return -1;
    }
    *pad = p < 0 ? p + num : p;
    return 0;
}

nb_module *nb_embedding_new(nb_ctx *ctx, int64_t num_embeddings, int64_t embedding_dim, const nb_embedding_opts *o)
{
    if (num_embeddings <= 0 || embedding_dim <= 0) {
        nb__fail(NB_ERR_ARG, "Embedding(%lld, %lld): sizes must be positive", (long long)num_embeddings,
                 (long long)embedding_dim);
        return NULL;
    }
    int64_t pad;
    if (resolve_padding(o, num_embeddings, &pad)) return NULL;
    nb_module *m = nb__module_new_with(ctx, &embedding_vt, sizeof(embedding_state));
    if (!m) return NULL;
    nb_tensor *w = nb_tensor_new(ctx, NB_F32, 2, (int64_t[]){num_embeddings, embedding_dim});
    if (nb__module_add(m, "weight", w, 0) || nb_init_normal(w, 0.0f, 1.0f, &ctx->rng)) {
        nb_module_free(m);
        return NULL;
    }
    if (pad >= 0) memset(nb__f(w) + pad * embedding_dim, 0, sizeof(float) * (size_t)embedding_dim);
    ((embedding_state *)m->impl)->padding_idx = pad;
    return m;
}

nb_module *nb_embedding_from_pretrained(nb_ctx *ctx, const nb_tensor *embeddings, int freeze,
                                        const nb_embedding_opts *o)
{
    if (!embeddings) {
        nb__fail(NB_ERR_ARG, "Embedding.from_pretrained: embeddings is NULL");
        return NULL;
    }
    if (embeddings->ndim != 2 || embeddings->dtype != NB_F32) {
        nb__fail(NB_ERR_SHAPE, "Embeddings parameter is expected to be 2-dimensional (F32), got %d dims",
                 embeddings->ndim);
        return NULL;
    }
    int64_t num = embeddings->shape[0], dim = embeddings->shape[1];
    int64_t pad;
    if (num <= 0 || dim <= 0) {
        nb__fail(NB_ERR_ARG, "Embedding.from_pretrained: empty embeddings (%lld, %lld)", (long long)num, (long long)dim);
        return NULL;
    }
    if (resolve_padding(o, num, &pad)) return NULL;
    nb_module *m = nb__module_new_with(ctx, &embedding_vt, sizeof(embedding_state));
    if (!m) return NULL;
    nb_tensor *w = nb_tensor_from(ctx, NB_F32, 2, embeddings->shape, embeddings->data);
    if (nb__module_add(m, "weight", w, 0)) {
        nb_module_free(m);
        return NULL;
    }
    if (freeze) nb_tensor_set_requires_grad(w, 0);
    ((embedding_state *)m->impl)->padding_idx = pad;
    return m;
}

int64_t nb_embedding_padding_idx(const nb_module *m)
{
    return m && m->vt == &embedding_vt ? ((const embedding_state *)m->impl)->padding_idx : -1;
}
