/* threads.h - the thread count and the parallel loop (src/core/ctx.c). */
#ifndef NB_CORE_THREADS_H
#define NB_CORE_THREADS_H

#include <stdint.h>

void nb__set_threads(int n);
/* The number of threads parallel loops use (the context's setting). */
int nb__max_threads(void);

/* Elements below which a loop stays on one thread (a fork costs more). */
#define NB_PAR_MIN 32768
/* NB_FOR(work, i, n, body): for i in [0, n) run body, over the threads when `work` is
 * above NB_PAR_MIN and more than one thread is set: in 8 chunks per thread handed out as
 * threads come free, so a thread that loses its core to another process delays one chunk,
 * not half the loop (each i is one body whichever thread runs it: the results do not
 * change). The plain loop otherwise is deliberate: libgomp allocates a new team for every
 * parallel region that runs with one thread, and a training step must not allocate. */
#define NB_FOR(work, i, n, ...)                                                              \
    do {                                                                                     \
        int64_t nb_n_ = (n);                                                                 \
        if ((work) > NB_PAR_MIN && nb__max_threads() > 1) {                                  \
            int64_t nb_ch_ = nb_n_ / (8 * (int64_t)nb__max_threads()) + 1;                   \
            _Pragma("omp parallel for schedule(dynamic, nb_ch_)") for (int64_t i = 0; i < nb_n_; i++) \
            {                                                                                \
                __VA_ARGS__;                                                                 \
            }                                                                                \
        } else {                                                                             \
            for (int64_t i = 0; i < nb_n_; i++) {                                            \
                __VA_ARGS__;                                                                 \
            }                                                                                \
        }                                                                                    \
    } while (0)

/* NB_CLONES before a function: GCC compiles it (and its parallel loops) for AVX-512,
 * for AVX2+FMA and for any x86-64, and the loader picks the copy for the CPU (an ifunc;
 * NB_ISA does not reach it, so only for code whose results do not depend on the copy:
 * fmaf is exact on all three, a call into libm without FMA). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define NB_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define NB_CLONES
#endif

#endif
