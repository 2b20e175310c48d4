/* ctx.c - the context: arena, tape and generator; the thread count is the process's (core/threadpool.c). */
#include "core/error.h"
#include "core/arena.h"
#include "core/ctx.h"
#include "core/isa.h"
#include "core/threadpool.h"

#include <stdlib.h>
#include <unistd.h>

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
    c->arena.max_block = o.max_tensor_bytes;
    nb_rng_seed(&c->rng, o.seed);
    if (o.threads > 0) nb__set_threads(o.threads); /* the process's count (nb_set_threads) */
    else nb__set_threads(nb__max_threads());         /* NB_THREADS or all cores, once */
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
    c->grad_free = NULL;
    c->tape_len = 0;
}

int nb_set_grad_enabled(nb_ctx *c, int enabled)
{
    int old = c->grad_enabled;
    c->grad_enabled = enabled != 0;
    return old;
}

int nb_ctx_threads(const nb_ctx *c)
{
    (void)c;
    return nb__max_threads();
}
void nb_set_threads(int n) { nb__set_threads(n); }
int nb_threads(void) { return nb__max_threads(); }
size_t nb_ctx_arena_bytes(const nb_ctx *c) { return c->arena.total; }
size_t nb_ctx_arena_mallocs(const nb_ctx *c) { return c->arena.mallocs; }
nb_rng *nb_ctx_rng(nb_ctx *c) { return &c->rng; }
