/* ctx.h - the context: arena, tape, generator and thread count (src/core/ctx.c). */
#ifndef NB_CORE_CTX_H
#define NB_CORE_CTX_H

#include "core/arena.h"
#include "core/tensor.h"

struct nb_ctx {
    nb_arena arena;
    nb_node **tape;
    int tape_len, tape_cap;
    int grad_enabled;
    int threads;
    nb_rng rng;
    uint64_t seed;
    uint64_t step_counter; /* bumps at every dropout call etc. for counter-based randomness */
};

#endif
