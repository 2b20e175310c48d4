/* tape.h - the autograd tape: nodes, recording and gradient buffers
 * (src/core/autograd.c, src/core/tensor.c).
 *
 * How an op is written (see src/ops/activation.c for a short example):
 *   1. check the inputs (NULL propagates, shapes give nb__fail(NB_ERR_SHAPE, ...));
 *   2. out = nb__empty(ctx, ...) takes the result from the arena;
 *   3. run the forward kernel;
 *   4. if nb__needs_grad(ctx, inputs...), st = nb__record_with(out, backward_fn,
 *      inputs..., sizeof *st) puts a node on the tape with a typed struct (the op's
 *      own `xxx_saved`) for what backward needs (nb__record: a node without one).
 * backward_fn(n) reads its struct at n->saved and n->out->grad, and adds into
 * nb__grad(n->in[k]) for every input with requires_grad (nb__grad allocates a zeroed
 * gradient on first use).
 */
#ifndef NB_CORE_TAPE_H
#define NB_CORE_TAPE_H

#include "core/tensor.h"

#include <stdbool.h>

typedef void (*nb_backward_fn)(nb_node *n);

#define NB_NODE_MAX_IN 4
struct nb_node {
    nb_backward_fn backward;
    nb_tensor *out;
    nb_tensor *in[NB_NODE_MAX_IN];
    int n_in;
    void *saved; /* the op's typed state for its backward, in the arena (nb__node_save) */
    /* 1 + k: in[k] (same element count as out) may take over out's gradient block when it
     * has no gradient yet (nb_backward checks the rest): the backward then finds
     * in[k]->grad == out->grad and must write in[k]'s gradient elementwise over dy as
     * 0.0f + value (the bits of adding into a zeroed buffer), after reading dy at that
     * element; 0: never (the default) */
    int grad_inplace;
};

/* Does an op on these inputs record a node? (grad mode on and any input requires grad) */
bool nb__needs_grad(nb_ctx *ctx, nb_tensor *a, nb_tensor *b, nb_tensor *c);
/* Append a node that made `out` from the inputs (NULLs skipped); marks out requires_grad. */
nb_node *nb__record(nb_tensor *out, nb_backward_fn fn, nb_tensor *a, nb_tensor *b, nb_tensor *c);
/* A zeroed struct of `bytes` bytes from the arena at n->saved, the op's typed state for
 * its backward; NULL with a message when the arena cannot grow. */
void *nb__node_save(nb_node *n, size_t bytes);
/* nb__record then nb__node_save: the new node's typed state, NULL on failure. */
void *nb__record_with(nb_tensor *out, nb_backward_fn fn, nb_tensor *a, nb_tensor *b, nb_tensor *c, size_t bytes);
/* The gradient buffer of t, allocated and zeroed on first use. */
float *nb__grad(nb_tensor *t);
/* t's data is read by nobody from now on (no later op, no backward, not the user: the
 * caller's own intermediate): its block serves as t's gradient when one is needed. */
void nb__data_as_grad(nb_tensor *t);
/* Whether t wants a gradient from a backward pass. */
static inline bool nb__wants_grad(const nb_tensor *t) { return t && t->requires_grad; }

#endif
