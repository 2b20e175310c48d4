/* embedding.c - F.embedding (the module nn.Embedding is in src/nn/embedding.c).
 *
 * Layout: weight (num, dim) row-major; indices I64 of any shape; output
 * indices.shape + (dim), row k = weight[indices[k]].
 * Backward: a scatter-add of the output gradient's rows into the weight gradient
 * (a row looked up twice gets both gradients); the padding row gets none. It runs
 * on one thread, in index order, so its sums do not depend on the thread count. */
#include "core/error.h"
#include "core/tensor.h"
#include "core/tape.h"
#include "core/ctx.h"
#include "core/threads.h"

#include <string.h>

/* What embedding_backward needs. */
typedef struct {
    const int64_t *idx; /* the indices (arena copy) */
    int64_t count;
    int64_t dim;
    int64_t pad; /* padding_idx or -1 */
} embedding_saved;

static void embedding_backward(nb_node *n)
{
    const embedding_saved *st = n->saved;
    nb_tensor *w = n->in[0];
    const int64_t *idx = st->idx;
    int64_t count = st->count, dim = st->dim, pad = st->pad;
    const float *g = n->out->grad;
    float *gw = w->grad;
    for (int64_t k = 0; k < count; k++) {
        if (idx[k] == pad) continue;
        float *row = gw + idx[k] * dim;
        const float *gk = g + k *dim;
        for (int64_t j = 0; j < dim; j++) row[j] += gk[j];
    }
}

/* One lookup, as its chunks (nb__parallel_if) read it: rows idx[k] of w (_, dim) into
 * rows k of y. */
typedef struct {
    float *y;
    const float *w;
    const int64_t *idx;
    int64_t dim;
} embedding_job;

static void embedding_rows(void *ctx, int64_t b, int64_t e, int slot)
{
    const embedding_job *job = ctx;
    for (int64_t k = b; k < e; k++)
        memcpy(job->y + k * job->dim, job->w + job->idx[k] * job->dim, sizeof(float) * (size_t)job->dim);
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
    nb__parallel_if(count * dim, count, nb__chunk_for(count), embedding_rows,
                    &(embedding_job){.y = y, .w = w, .idx = idx, .dim = dim});
    if (nb__needs_grad(weight->ctx, weight, NULL, NULL)) {
        /* the indices may change or go away before backward: keep a copy */
        int64_t *saved = nb__scratch(weight->ctx, sizeof(int64_t) * (size_t)(count ? count : 1));
        if (!saved) return NULL;
        memcpy(saved, idx, sizeof(int64_t) * (size_t)count);
        embedding_saved *st = nb__record_with(out, embedding_backward, weight, NULL, NULL, sizeof *st);
        if (!st) return NULL;
        st->idx = saved;
        st->count = count;
        st->dim = dim;
        st->pad = padding_idx;
    }
    return out;
}
