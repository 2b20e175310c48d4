/* ctx.c - the context: arena, tape, generator and thread count. */
#include "core/error.h"
#include "core/arena.h"
#include "core/ctx.h"
#include "core/isa.h"
#include "core/threads.h"

#include <stdlib.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#ifdef NB_HAVE_OPENBLAS
void openblas_set_num_threads(int);
#endif

void nb__set_threads(int n)
{
#ifdef NB_HAVE_OPENBLAS
    /* OpenBLAS on one thread: nb__sgemm cuts its calls into parts fixed by the shape and
     * threads them itself (kernels/gemm.c), so results do not depend on the thread count.
     * Its OpenMP build sets OpenMP's count too, hence first (and it follows OpenMP's
     * count again at its next call: nb__sgemm sees to that). */
    openblas_set_num_threads(1);
#endif
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
}

int nb__max_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

nb_ctx *nb_ctx_new(const nb_ctx_opts *opts)
{
    nb_ctx_opts o = opts ? *opts : (nb_ctx_opts){0};
    if (nb__isa_check() != NB_OK) return NULL; /* NB_ISA names an instruction set this CPU cannot run */
    nb_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        nb__fail(NB_ERR_MEM, "out of memory creating a context");
        return NULL;
    }
    c->grad_enabled = 1;
    c->seed = o.seed;
    nb_rng_seed(&c->rng, o.seed);
    int t = o.threads;
    if (t <= 0) {
        const char *e = getenv("NB_THREADS");
        t = e ? atoi(e) : 0;
    }
    if (t <= 0) t = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (t <= 0) t = 1;
    c->threads = t;
    nb__set_threads(t);
    return c;
}

void nb_ctx_free(nb_ctx *c)
{
    if (!c) return;
    nb__arena_free(&c->arena);
    free(c->tape);
    free(c);
}

void nb_ctx_reset(nb_ctx *c)
{
    if (!c) return;
    nb__arena_reset(&c->arena);
    c->tape_len = 0;
}

int nb_set_grad_enabled(nb_ctx *c, int enabled)
{
    int old = c->grad_enabled;
    c->grad_enabled = enabled != 0;
    return old;
}

int nb_ctx_threads(const nb_ctx *c) { return c->threads; }
size_t nb_ctx_arena_bytes(const nb_ctx *c) { return c->arena.total; }
size_t nb_ctx_arena_mallocs(const nb_ctx *c) { return c->arena.mallocs; }
nb_rng *nb_ctx_rng(nb_ctx *c) { return &c->rng; }
