/* softmax.c - softmax and log_softmax along any dim, max-subtracted.
 * Layout: x viewed as (outer, D, inner) with D the softmax dim. */
#include "core/error.h"
#include "core/tensor.h"
#include "core/tape.h"
#include "core/threads.h"

#include <math.h>

static void dims3(const nb_tensor *x, int d, int64_t *outer, int64_t *D, int64_t *inner)
{
    *outer = 1;
    *inner = 1;
    for (int i = 0; i < d; i++) *outer *= x->shape[i];
    for (int i = d + 1; i < x->ndim; i++) *inner *= x->shape[i];
    *D = x->shape[d];
}

/* One call, as its chunks (nb__parallel_if) read it. */
typedef struct {
    const float *x;
    float *y;
    int64_t D, inner;
    int logm;
} softmax_job;

/* Outer indices [b, e) of softmax_kernel. */
static void softmax_chunk(void *ctx, int64_t b, int64_t e, int slot)
{
    const softmax_job *job = ctx;
    int64_t D = job->D, inner = job->inner;
    for (int64_t o = b; o < e; o++) {
        for (int64_t in = 0; in < inner; in++) {
            const float *xs = job->x + o * D * inner + in;
            float *ys = job->y + o * D * inner + in;
            float m = -INFINITY;
            for (int64_t j = 0; j < D; j++) m = fmaxf(m, xs[j * inner]);
            double s = 0;
            for (int64_t j = 0; j < D; j++) s += expf(xs[j * inner] - m);
            if (job->logm) {
                float ls = (float)log(s);
                for (int64_t j = 0; j < D; j++) ys[j * inner] = xs[j * inner] - m - ls;
            } else {
                float inv = (float)(1.0 / s);
                for (int64_t j = 0; j < D; j++) ys[j * inner] = expf(xs[j * inner] - m) * inv;
            }
        }
    }
}

/* y (outer, D, inner) = softmax or log_softmax of x over D */
static void softmax_kernel(const float *x, float *y, int64_t outer, int64_t D, int64_t inner, int logm)
{
    nb__parallel_if(outer * D * inner, outer, nb__chunk_for(outer), softmax_chunk,
                    &(softmax_job){.x = x, .y = y, .D = D, .inner = inner, .logm = logm});
}

/* What softmax_backward needs. */
typedef struct {
    int d;
    int logm; /* log_softmax */
} softmax_saved;

static void softmax_backward(nb_node *n)
{
    const softmax_saved *st = n->saved;
    nb_tensor *a = n->in[0];
    int logm = st->logm;
    int64_t outer, D, inner;
    dims3(a, st->d, &outer, &D, &inner);
    const float *y = nb__f(n->out), *g = n->out->grad;
    float *ga = a->grad;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t in = 0; in < inner; in++) {
            int64_t base = o * D * inner + in;
            double s = 0;
            if (logm) {
                for (int64_t j = 0; j < D; j++) s += g[base + j * inner];
                for (int64_t j = 0; j < D; j++)
                    ga[base + j * inner] += g[base + j * inner] - expf(y[base + j * inner]) * (float)s;
            } else {
                for (int64_t j = 0; j < D; j++) s += (double)g[base + j * inner] * y[base + j * inner];
                for (int64_t j = 0; j < D; j++)
                    ga[base + j * inner] += y[base + j * inner] * (g[base + j * inner] - (float)s);
            }
        }
}

static nb_tensor *softmax_op(nb_tensor *x, int dim, int logm)
{
    if (!x) return NULL;
    if (x->dtype != NB_F32) {
        nb__fail(NB_ERR_ARG, "%s: needs an F32 tensor", logm ? "log_softmax" : "softmax");
        return NULL;
    }
    int d = nb__dim(x, dim, logm ? "log_softmax" : "softmax");
    if (d < 0) return NULL;
    nb_tensor *out = nb__empty_like(x);
    if (!out) return NULL;
    int64_t outer, D, inner;
    dims3(x, d, &outer, &D, &inner);
    softmax_kernel(nb__f(x), nb__f(out), outer, D, inner, logm);
    if (nb__needs_grad(x->ctx, x, NULL, NULL)) {
        softmax_saved *st = nb__record_with(out, softmax_backward, x, NULL, NULL, sizeof *st);
        if (!st) return NULL;
        st->d = d;
        st->logm = logm;
    }
    return out;
}

nb_tensor *nb_softmax(nb_tensor *x, int dim) { return softmax_op(x, dim, 0); }
nb_tensor *nb_log_softmax(nb_tensor *x, int dim) { return softmax_op(x, dim, 1); }
