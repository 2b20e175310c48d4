/* tensor.c - dense row-major tensors: heap tensors the user owns and arena
 * tensors that ops make and nb_ctx_reset releases. */
#include "core/error.h"
#include "core/arena.h"
#include "core/tensor.h"
#include "core/tape.h"
#include "core/ctx.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static size_t dtype_size(nb_dtype dt) { return dt == NB_I64 ? 8 : 4; }

int64_t nb__numel(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

static nb_status check_shape(int ndim, const int64_t *shape)
{
    if (ndim < 0 || ndim > NB_MAX_DIMS)
        return nb__fail(NB_ERR_SHAPE, "a tensor has %d dimensions; nabla supports 0 to %d", ndim,
                        NB_MAX_DIMS);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return nb__fail(NB_ERR_SHAPE, "dimension %d has negative size %lld", i,
                            (long long)shape[i]);
        if (shape[i] && n > INT64_MAX / 8 / shape[i])
            return nb__fail(NB_ERR_SHAPE, "tensor too large");
        n *= shape[i];
    }
    return NB_OK;
}

static void set_shape(nb_tensor *t, nb_dtype dt, int ndim, const int64_t *shape)
{
    t->dtype = dt;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->numel = nb__numel(ndim, shape);
}

nb_tensor *nb_tensor_new(nb_ctx *ctx, nb_dtype dt, int ndim, const int64_t *shape)
{
    if (!ctx) {
        nb__fail(NB_ERR_ARG, "nb_tensor_new: ctx is NULL");
        return NULL;
    }
    if (check_shape(ndim, shape)) return NULL;
    size_t bytes = (size_t)nb__numel(ndim, shape) * dtype_size(dt);
    if (ctx->arena.max_block && bytes > ctx->arena.max_block) {
        nb__fail(NB_ERR_MEM, "a tensor of %zu bytes is more than the context's max_tensor_bytes (%zu)", bytes,
                 ctx->arena.max_block);
        return NULL;
    }
    nb_tensor *t = calloc(1, sizeof *t);
    if (!t) goto oom;
    t->ctx = ctx;
    set_shape(t, dt, ndim, shape);
    t->data = calloc(bytes ? bytes : 1, 1);
    if (!t->data) {
        free(t);
        goto oom;
    }
    t->owns_data = 1;
    static uint64_t next_id; /* ids from 1; 0 marks arena tensors */
    t->id = __atomic_add_fetch(&next_id, 1, __ATOMIC_RELAXED);
    return t;
oom:
    nb__fail(NB_ERR_MEM, "out of memory allocating a tensor");
    return NULL;
}

nb_tensor *nb_tensor_from(nb_ctx *ctx, nb_dtype dt, int ndim, const int64_t *shape,
                          const void *data)
{
    nb_tensor *t = nb_tensor_new(ctx, dt, ndim, shape);
    if (t && data) memcpy(t->data, data, (size_t)t->numel * dtype_size(dt));
    return t;
}

void nb_tensor_free(nb_tensor *t)
{
    if (!t || t->in_arena) return;
    if (t->owns_data) free(t->data);
    if (!t->grad_in_arena) free(t->grad);
    free(t);
}

nb_tensor *nb__empty(nb_ctx *ctx, nb_dtype dt, int ndim, const int64_t *shape)
{
    if (check_shape(ndim, shape)) return NULL;
    nb_tensor *t = nb__arena_alloc(&ctx->arena, sizeof *t);
    if (!t) return NULL;
    memset(t, 0, sizeof *t);
    t->ctx = ctx;
    set_shape(t, dt, ndim, shape);
    t->in_arena = 1;
    t->data = nb__arena_alloc(&ctx->arena, (size_t)t->numel * dtype_size(dt));
    return t->data ? t : NULL;
}

nb_tensor *nb__empty_like(const nb_tensor *t) { return nb__empty(t->ctx, t->dtype, t->ndim, t->shape); }

nb_tensor *nb__zeros_like(const nb_tensor *t)
{
    nb_tensor *z = nb__empty_like(t);
    if (z) memset(z->data, 0, (size_t)z->numel * dtype_size(z->dtype));
    return z;
}

void *nb__scratch(nb_ctx *ctx, size_t bytes) { return nb__arena_alloc(&ctx->arena, bytes); }

float *nb__grad(nb_tensor *t)
{
    if (t->grad) return t->grad;
    size_t bytes = (size_t)t->numel * sizeof(float);
    if (t->in_arena && t->data_as_grad && t->dtype == NB_F32) {
        t->grad = t->data; /* read by nobody any more (nb__data_as_grad) */
        t->data_as_grad = 0;
        t->grad_in_arena = 1;
    } else if (t->in_arena) {
        /* a block of the same size given back by this step's backward, else the arena's */
        nb__grad_block **p = &t->ctx->grad_free;
        while (*p && (*p)->bytes != bytes) p = &(*p)->next;
        if (*p) {
            t->grad = (float *)*p;
            *p = (*p)->next;
        } else {
            t->grad = nb__arena_alloc(&t->ctx->arena, bytes);
        }
        t->grad_in_arena = 1;
    } else {
        t->grad = malloc(bytes ? bytes : 1);
    }
    if (t->grad) memset(t->grad, 0, bytes);
    return t->grad;
}

void nb__data_as_grad(nb_tensor *t)
{
    if (t && t->in_arena && !t->grad) t->data_as_grad = 1;
}

int nb_tensor_ndim(const nb_tensor *t) { return t->ndim; }
const int64_t *nb_tensor_shape(const nb_tensor *t) { return t->shape; }
int64_t nb_tensor_numel(const nb_tensor *t) { return t->numel; }
nb_dtype nb_tensor_dtype(const nb_tensor *t) { return t->dtype; }
nb_ctx *nb_tensor_ctx(const nb_tensor *t) { return t->ctx; }
/* A writable pointer counts as a write: the caller may store through it. */
float *nb_tensor_data(nb_tensor *t)
{
    if (!t || t->dtype != NB_F32) return NULL;
    nb__bump_version(t);
    return nb__f(t);
}
int64_t *nb_tensor_data_i64(nb_tensor *t)
{
    if (!t || t->dtype != NB_I64) return NULL;
    nb__bump_version(t);
    return nb__i(t);
}
uint64_t nb_tensor_version(const nb_tensor *t) { return t ? nb__data_owner(t)->version : 0; }
void nb_tensor_bump_version(nb_tensor *t) { nb__bump_version(t); }
float *nb_tensor_grad(nb_tensor *t) { return t ? t->grad : NULL; }
int nb_tensor_requires_grad(const nb_tensor *t) { return t->requires_grad; }

int64_t nb_tensor_dim(const nb_tensor *t, int i)
{
    if (i < 0) i += t->ndim;
    return i >= 0 && i < t->ndim ? t->shape[i] : 0;
}

float nb_tensor_item(const nb_tensor *t)
{
    if (!t || t->numel < 1) return NAN;
    return t->dtype == NB_F32 ? nb__f(t)[0] : (float)nb__i(t)[0];
}

void nb__shape_str(int ndim, const int64_t *shape, char *buf, size_t n)
{
    size_t k = 0;
    k += (size_t)snprintf(buf + k, n - k, "[");
    for (int i = 0; i < ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
}

const char *nb__tshape(const nb_tensor *t)
{
    static _Thread_local char bufs[4][128];
    static _Thread_local int k;
    char *b = bufs[k++ & 3];
    nb__shape_str(t->ndim, t->shape, b, sizeof bufs[0]);
    return b;
}

char *nb_shape_str(const nb_tensor *t, char *buf, size_t n)
{
    nb__shape_str(t->ndim, t->shape, buf, n);
    return buf;
}

void nb_tensor_set_requires_grad(nb_tensor *t, int on)
{
    if (t) t->requires_grad = on != 0 && t->dtype == NB_F32;
}

void nb_tensor_zero_grad(nb_tensor *t)
{
    if (t && t->grad) memset(t->grad, 0, (size_t)t->numel * sizeof(float));
}

nb_status nb_tensor_copy_in(nb_tensor *t, const float *src, int64_t n)
{
    if (!t || t->dtype != NB_F32)
        return nb__fail(NB_ERR_ARG, "nb_tensor_copy_in: needs an F32 tensor");
    if (n != t->numel)
        return nb__fail(NB_ERR_SHAPE, "nb_tensor_copy_in: %lld values for a tensor of %lld",
                        (long long)n, (long long)t->numel);
    memcpy(t->data, src, (size_t)n * sizeof(float));
    nb__bump_version(t);
    return NB_OK;
}

bool nb__same_shape(const nb_tensor *a, const nb_tensor *b)
{
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

int nb__dim(const nb_tensor *t, int dim, const char *op)
{
    int d = dim < 0 ? dim + t->ndim : dim;
    if (d < 0 || d >= t->ndim) {
        char s[128];
        nb__shape_str(t->ndim, t->shape, s, sizeof s);
        nb__fail(NB_ERR_ARG, "%s: dim %d is out of range for a tensor of shape %s", op, dim, s);
        return -1;
    }
    return d;
}
