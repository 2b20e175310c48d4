/* threads.h - the parallel loop macros over the thread count and pool of core/threadpool.h. */
#ifndef NB_CORE_THREADS_H
#define NB_CORE_THREADS_H

#include <stdint.h>

#include "core/threadpool.h"

/* NB_FOR(work, i, n, body): for i in [0, n) run body, over the threads when `work` is
 * above NB_PAR_MIN and more than one thread is set, in 8 chunks per thread handed out as
 * threads come free (each i is one body whichever thread runs it: the results do not
 * change). The body may use the enclosing function's variables, which C can only hand to
 * other threads through a compiler's outlining: so this runs on an OpenMP team, whatever
 * NB_POOL says, beside the pool's workers; the library's loops all use nb__parallel
 * (core/threadpool.h) with an explicit context (NB_RANGE below) instead. Inside a chunk of nb__parallel, or with one thread, it is a
 * plain loop (libgomp allocates a new team for every parallel region that runs with one
 * thread, and a training step must not allocate). */
#define NB_FOR(work, i, n, ...)                                                              \
    do {                                                                                     \
        int64_t nb_n_ = (n);                                                                 \
        int nb_nt_ = nb__max_threads();                                                      \
        if ((work) > NB_PAR_MIN && nb_nt_ > 1 && !nb__in_parallel()) {                        \
            int64_t nb_ch_ = nb_n_ / (8 * (int64_t)nb_nt_) + 1;                              \
            _Pragma("omp parallel for schedule(dynamic, nb_ch_) num_threads(nb_nt_)")          \
            for (int64_t i = 0; i < nb_n_; i++) {                                            \
                __VA_ARGS__;                                                                 \
            }                                                                                \
        } else {                                                                             \
            for (int64_t i = 0; i < nb_n_; i++) {                                            \
                __VA_ARGS__;                                                                 \
            }                                                                                \
        }                                                                                    \
    } while (0)

/* NB_RANGE(name, type, c) { ... }: defines `static void name(void *, int64_t b, int64_t e,
 * int slot)` whose body sees `const type *c` (the context) and the range [b, e): the
 * function nb__parallel and nb__parallel_if take. */
#define NB_RANGE(name, type, c)                                                              \
    static void name##_body(const type *c, int64_t b, int64_t e, int slot);                  \
    static void name(void *c_, int64_t b, int64_t e, int slot) { name##_body(c_, b, e, slot); } \
    static void name##_body(const type *c, int64_t b, int64_t e, int slot)

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
