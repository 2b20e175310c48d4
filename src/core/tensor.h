/* tensor.h - the tensor struct and arena tensors (src/core/tensor.c). */
#ifndef NB_CORE_TENSOR_H
#define NB_CORE_TENSOR_H

#include "nabla.h"
#include <stdbool.h>
#include <stddef.h>

typedef struct nb_node nb_node; /* core/tape.h */

struct nb_tensor {
    nb_ctx *ctx;
    nb_dtype dtype;
    int ndim;
    int64_t shape[NB_MAX_DIMS];
    int64_t numel;
    void *data;
    float *grad;
    nb_node *node;          /* the op that made it; NULL for leaves */
    unsigned requires_grad : 1;
    unsigned in_arena : 1;  /* struct and data owned by the arena */
    unsigned owns_data : 1; /* heap tensor that frees data */
    unsigned grad_in_arena : 1;
    unsigned data_as_grad : 1; /* nb__data_as_grad: nb__grad hands out the data block */
    /* Versions, for caches of values derived from a tensor (a weight folded with the
     * pooling before it, ops/pool_linear.c): id is unique in the process for a heap
     * tensor (0 for arena tensors); version counts the writes to its data through the
     * library since it was made (PyTorch's _version); base is the tensor whose data a
     * view shares (its id and version are the view's), NULL for others. */
    uint64_t id;
    uint64_t version;
    nb_tensor *base;
};

/* A gradient block given back during backward (core/autograd.c), kept in its own first bytes. */
typedef struct nb__grad_block {
    struct nb__grad_block *next;
    size_t bytes;
} nb__grad_block;
/* Blocks smaller than this are not given back (not worth a list entry). */
#define NB__GRAD_REUSE_MIN ((size_t)4096)

/* t's data was written (or handed out for writing): its version goes up, the base's
 * for a view. Every library path that writes a tensor it did not just make calls it. */
static inline void nb__bump_version(nb_tensor *t)
{
    if (t) (t->base ? t->base : t)->version++;
}
/* The tensor that owns t's data (t itself unless t is a view). */
static inline const nb_tensor *nb__data_owner(const nb_tensor *t) { return t->base ? t->base : t; }

static inline float *nb__f(const nb_tensor *t) { return (float *)t->data; }
static inline int64_t *nb__i(const nb_tensor *t) { return (int64_t *)t->data; }

/* A new arena tensor (data uninitialised); NULL with a message on failure. */
nb_tensor *nb__empty(nb_ctx *ctx, nb_dtype dt, int ndim, const int64_t *shape);
nb_tensor *nb__empty_like(const nb_tensor *t);
nb_tensor *nb__zeros_like(const nb_tensor *t);
/* Arena scratch memory for the current step. */
void *nb__scratch(nb_ctx *ctx, size_t bytes);
bool nb__same_shape(const nb_tensor *a, const nb_tensor *b);
void nb__shape_str(int ndim, const int64_t *shape, char *buf, size_t n);
/* t's shape as "[2, 3]" in one of 4 rotating thread-local buffers: for error
 * messages, formatted only when one is written. */
const char *nb__tshape(const nb_tensor *t);
/* Normalise a possibly negative dim; -1 with an error if out of range. */
int nb__dim(const nb_tensor *t, int dim, const char *op);
int64_t nb__numel(int ndim, const int64_t *shape);

#endif
