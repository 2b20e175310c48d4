/* ctx.h - the context: arena, tape, generator (src/core/ctx.c). */
#ifndef NB_CORE_CTX_H
#define NB_CORE_CTX_H

#include "core/arena.h"
#include "core/tensor.h"

/* A backward hook (data parallelism, nn/ddp.c): nb_backward calls it with node =
 * tape_len before the walk (the tape is complete), with node = i after tape node i
 * (run or skipped: not on a path from the loss), and with node = -1 after the walk;
 * a leaf's gradient is final once the walk has passed its first use on the tape. A
 * non-OK status ends the backward with it. */
typedef nb_status (*nb__backward_hook)(nb_ctx *ctx, int node, void *user);

struct nb_ctx {
    nb_arena arena; /* its max_block is nb_ctx_opts.max_tensor_bytes, for every tensor */
    nb_node **tape;
    int tape_len, tape_cap;
    int grad_enabled;
    nb_rng rng;
    uint64_t seed;
    uint64_t step_counter; /* bumps at every dropout call etc. for counter-based randomness */
    /* data parallelism (src/dist, nn/ddp.c) */
    nb__backward_hook backward_hook; /* NULL: none */
    void *backward_hook_user;
    int sync_bn; /* training BatchNorm takes batch statistics over all ranks (nb__sync_batch_norm) */
    /* the gradients of intermediate tensors whose node's backward has run (nb_backward), for
     * nb__grad to hand out again in the same step: a list through the blocks themselves,
     * emptied at nb_ctx_reset with the arena */
    nb__grad_block *grad_free;
};

#endif
