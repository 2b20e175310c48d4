/* dropout.c - inverted dropout: keep with probability 1-p and scale by 1/(1-p).
 * The mask comes from a counter-based hash of (context seed, call number, element),
 * so it is the same for any number of threads. */
#include "core/error.h"
#include "core/tensor.h"
#include "core/tape.h"
#include "core/ctx.h"
#include "core/random.h"
#include "core/threads.h"

/* What dropout_backward needs. */
typedef struct {
    const unsigned char *mask; /* 1: kept */
    float scale; /* 1/(1-p) */
} dropout_saved;

/* Elements per call of dropout_chunk: the hash vectorises (AVX-512's 64-bit multiplies)
 * within a chunk; chunks go to the threads. */
#define DROP_CHUNK 4096

/* mask and y of elements [lo, hi): the same bits on every ISA (integer hash, exact
 * conversion of its top 24 bits) */
NB_CLONES static void dropout_chunk(const float *x, float *y, unsigned char *mask, int64_t lo, int64_t hi, uint64_t key,
                                    float p, float scale)
{
    for (int64_t i = lo; i < hi; i++) {
        unsigned char k = nb__hash_uniform(key, (uint64_t)i) >= p;
        mask[i] = k;
        y[i] = k ? x[i] * scale : 0.0f;
    }
}

static void dropout_backward(nb_node *n)
{
    const dropout_saved *st = n->saved;
    const unsigned char *mask = st->mask;
    float scale = st->scale;
    const float *g = n->out->grad;
    float *ga = n->in[0]->grad;
    for (int64_t i = 0; i < n->out->numel; i++)
        if (mask[i]) ga[i] += g[i] * scale;
}

/* One call, as its chunks (nb__parallel_if) read it. */
typedef struct {
    const float *x;
    float *y;
    unsigned char *mask;
    uint64_t key;
    float p, scale;
} dropout_job;

static void dropout_range(void *ctx, int64_t b, int64_t e, int slot)
{
    const dropout_job *job = ctx;
    dropout_chunk(job->x, job->y, job->mask, b, e, job->key, job->p, job->scale);
}

nb_tensor *nb_dropout(nb_tensor *x, float p, int training)
{
    if (!x) return NULL;
    if (!(p >= 0 && p <= 1)) {
        nb__fail(NB_ERR_ARG, "dropout: p must be in [0, 1], got %g", p);
        return NULL;
    }
    if (x->dtype != NB_F32) {
        nb__fail(NB_ERR_ARG, "dropout: needs an F32 tensor");
        return NULL;
    }
    if (!training || p == 0) return x;
    nb_ctx *ctx = x->ctx;
    nb_tensor *out = nb__empty_like(x);
    unsigned char *mask = nb__scratch(ctx, (size_t)x->numel);
    if (!out || !mask) return NULL;
    uint64_t key = nb__mix64(ctx->seed * 0x9e3779b97f4a7c15ULL + ++ctx->step_counter);
    float scale = p < 1 ? 1.0f / (1.0f - p) : 0.0f;
    const float *xv = nb__f(x);
    float *y = nb__f(out);
    int64_t N = x->numel;
    nb__parallel_if(N, N, nb__chunk_for(N) > DROP_CHUNK ? nb__chunk_for(N) : DROP_CHUNK, dropout_range,
                    &(dropout_job){.x = xv, .y = y, .mask = mask, .key = key, .p = p, .scale = scale});
    if (nb__needs_grad(ctx, x, NULL, NULL)) {
        dropout_saved *st = nb__record_with(out, dropout_backward, x, NULL, NULL, sizeof *st);
        if (!st) return NULL;
        st->mask = mask;
        st->scale = scale;
    }
    return out;
}
