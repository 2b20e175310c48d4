/* threads.h - the thread count and the parallel loop (src/core/ctx.c). */
#ifndef NB_CORE_THREADS_H
#define NB_CORE_THREADS_H

#include <stdint.h>

void nb__set_threads(int n);
/* The number of threads parallel loops use (the context's setting). */
int nb__max_threads(void);

/* Elements below which a loop stays on one thread (a fork costs more). */
#define NB_PAR_MIN 32768
/* NB_FOR(work, i, n, body): for i in [0, n) run body, split statically over the
 * threads when `work` is above NB_PAR_MIN and more than one thread is set. The
 * plain loop otherwise is deliberate: libgomp allocates a new team for every
 * parallel region that runs with one thread, and a training step must not allocate. */
#define NB_FOR(work, i, n, ...)                                                              \
    do {                                                                                     \
        int64_t nb_n_ = (n);                                                                 \
        if ((work) > NB_PAR_MIN && nb__max_threads() > 1) {                                  \
            _Pragma("omp parallel for schedule(static)") for (int64_t i = 0; i < nb_n_; i++) \
            {                                                                                \
                __VA_ARGS__;                                                                 \
            }                                                                                \
        } else {                                                                             \
            for (int64_t i = 0; i < nb_n_; i++) {                                            \
                __VA_ARGS__;                                                                 \
            }                                                                                \
        }                                                                                    \
    } while (0)

#endif
