/* embedding.c - F.embedding and nn.Embedding(num_embeddings, embedding_dim,
 * padding_idx), with from_pretrained(embeddings, freeze=True).
 *
 * Layout: weight (num, dim) row-major; indices I64 of any shape; output
 * indices.shape + (dim), row k = weight[indices[k]].
 * Backward: a scatter-add of the output gradient's rows into the weight gradient
 * (a row looked up twice gets both gradients); the padding row gets none. It runs
 * on one thread, in index order, so its sums do not depend on the thread count.
 * Init: N(0, 1) from the context generator, padding row zero (as reset_parameters);
 * from_pretrained copies the weights as they are (the padding row is not zeroed,
 * as PyTorch). */
#include "core/error.h"
#include "core/tensor.h"
#include "core/tape.h"
#include "core/ctx.h"
#include "core/threads.h"
#include "nn/module.h"

#include <string.h>

static void embedding_backward(nb_node *n)
{
    nb_tensor *w = n->in[0];
    const int64_t *idx = n->saved;
    int64_t count = n->i[0], dim = n->i[1], pad = n->i[2];
    const float *g = n->out->grad;
    float *gw = w->grad;
    for (int64_t k = 0; k < count; k++) {
        if (idx[k] == pad) continue;
        float *row = gw + idx[k] * dim;
        const float *gk = g + k * dim;
        for (int64_t j = 0; j < dim; j++) row[j] += gk[j];
    }
}

nb_tensor *nb_embedding(nb_tensor *indices, nb_tensor *weight, int64_t padding_idx)
{
    if (!indices || !weight) return NULL;
    if (weight->dtype != NB_F32 || weight->ndim != 2) {
        char s[128];
        nb__shape_str(weight->ndim, weight->shape, s, sizeof s);
        nb__fail(NB_ERR_SHAPE, "embedding: the weight must be an F32 matrix (num_embeddings, embedding_dim), got %s%s", s,
                 weight->dtype != NB_F32 ? " of I64" : "");
        return NULL;
    }
    if (indices->dtype != NB_I64) {
        nb__fail(NB_ERR_ARG, "embedding: the indices must be an I64 tensor (class indices), not F32");
        return NULL;
    }
    int64_t num = weight->shape[0], dim = weight->shape[1];
    if (indices->ndim + 1 > NB_MAX_DIMS) {
        nb__fail(NB_ERR_SHAPE, "embedding: indices have %d dims; at most %d are supported", indices->ndim,
                 NB_MAX_DIMS - 1);
        return NULL;
    }
    if (padding_idx < -1 || padding_idx >= num) {
        nb__fail(NB_ERR_ARG, "embedding: padding_idx %lld is outside [0, %lld) (use -1 for none)",
                 (long long)padding_idx, (long long)num);
        return NULL;
    }
    const int64_t *idx = nb__i(indices);
    int64_t count = indices->numel;
    for (int64_t k = 0; k < count; k++)
        if (idx[k] < 0 || idx[k] >= num) {
            nb__fail(NB_ERR_ARG, "embedding: index %lld (at position %lld) is out of range for %lld embeddings",
                     (long long)idx[k], (long long)k, (long long)num);
            return NULL;
        }
    int64_t shape[NB_MAX_DIMS];
    memcpy(shape, indices->shape, sizeof(int64_t) * (size_t)indices->ndim);
    shape[indices->ndim] = dim;
    nb_tensor *out = nb__empty(weight->ctx, NB_F32, indices->ndim + 1, shape);
    if (!out) return NULL;
    const float *w = nb__f(weight);
    float *y = nb__f(out);
    NB_FOR(count * dim, k, count, memcpy(y + k * dim, w + idx[k] * dim, sizeof(float) * (size_t)dim));
    if (nb__needs_grad(weight->ctx, weight, NULL, NULL)) {
        /* the indices may change or go away before backward: keep a copy */
        int64_t *saved = nb__scratch(weight->ctx, sizeof(int64_t) * (size_t)(count ? count : 1));
        if (!saved) return NULL;
        memcpy(saved, idx, sizeof(int64_t) * (size_t)count);
        nb_node *n = nb__record(out, embedding_backward, weight, NULL, NULL);
        if (!n) return NULL;
        n->saved = saved;
        n->i[0] = count;
        n->i[1] = dim;
        n->i[2] = padding_idx;
    }
    return out;
}

/* ---- module ---- */

static nb_tensor *embedding_forward(nb_module *m, nb_tensor *x)
{
    return nb_embedding(x, m->own[0].tensor, m->i[0]);
}

static const nb_module_vtable embedding_vt = {.kind = "Embedding", .forward = embedding_forward};

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
    nb_module *m = nb__module_new(ctx, &embedding_vt);
    if (!m) return NULL;
    nb_tensor *w = nb_tensor_new(ctx, NB_F32, 2, (int64_t[]){num_embeddings, embedding_dim});
    if (nb__module_add(m, "weight", w, 0) || nb_init_normal(w, 0.0f, 1.0f, &ctx->rng)) {
        nb_module_free(m);
        return NULL;
    }
    if (pad >= 0) memset(nb__f(w) + pad * embedding_dim, 0, sizeof(float) * (size_t)embedding_dim);
    m->i[0] = pad;
    m->i[1] = num_embeddings;
    m->i[2] = embedding_dim;
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
    nb_module *m = nb__module_new(ctx, &embedding_vt);
    if (!m) return NULL;
    nb_tensor *w = nb_tensor_from(ctx, NB_F32, 2, embeddings->shape, embeddings->data);
    if (nb__module_add(m, "weight", w, 0)) {
        nb_module_free(m);
        return NULL;
    }
    if (freeze) nb_tensor_set_requires_grad(w, 0);
    m->i[0] = pad;
    m->i[1] = num;
    m->i[2] = dim;
    return m;
}

int64_t nb_embedding_padding_idx(const nb_module *m)
{
    return m && m->vt == &embedding_vt ? m->i[0] : -1;
}
