/* arena.c - bump allocator for a step's activations, gradients and tape nodes, and
 * for the text code's strings (with 8-byte blocks).
 *
 * Chunks are added while the first steps discover how much a step needs; at a
 * reset, several chunks are merged into one of the total size, so from then on a
 * step allocates nothing from the heap.
 */
#include "core/error.h"
#include "core/arena.h"

#include <stdlib.h>
#include <string.h>

#define NB_ALIGN 64
#define NB_MIN_CHUNK ((size_t)1 << 20)

static size_t align_of(const nb_arena *a) { return a->align ? a->align : NB_ALIGN; }

static nb_arena_chunk *chunk_new(nb_arena *a, size_t cap)
{
    nb_arena_chunk *c = malloc(sizeof *c);
    if (!c) return NULL;
    c->mem = aligned_alloc(align_of(a), cap);
    if (!c->mem) {
        free(c);
        return NULL;
    }
    c->cap = cap;
    c->used = 0;
    c->next = NULL;
    a->total += cap;
    a->mallocs++;
    return c;
}

void *nb__arena_alloc(nb_arena *a, size_t bytes)
{
    size_t align = align_of(a), min_chunk = a->min_chunk ? a->min_chunk : NB_MIN_CHUNK;
    if (a->max_block && bytes > a->max_block) {
        nb__fail(NB_ERR_MEM, "a block of %zu bytes is more than the context's max_tensor_bytes (%zu)", bytes,
                 a->max_block);
        return NULL;
    }
    bytes = (bytes + align - 1) & ~(align - 1);
    if (bytes == 0) bytes = align;
    nb_arena_chunk *c = a->head;
    if (!c || c->cap - c->used < bytes) {
        size_t cap = a->total > min_chunk ? a->total : min_chunk;
        if (cap < bytes) cap = bytes;
        nb_arena_chunk *n = chunk_new(a, cap);
        if (!n) {
            nb__fail(NB_ERR_MEM, "out of memory: the arena could not grow by %zu bytes", cap);
            return NULL;
        }
        n->next = c;
        a->head = c = n;
    }
    void *p = c->mem + c->used;
    c->used += bytes;
    a->in_use += bytes;
    if (a->in_use > a->peak) a->peak = a->in_use;
    return p;
}

char *nb__arena_strdup(nb_arena *a, const char *s, size_t n)
{
    char *r = nb__arena_alloc(a, n + 1);
    if (!r) return NULL;
    memcpy(r, s, n);
    r[n] = 0;
    return r;
}

void nb__arena_reset(nb_arena *a)
{
    nb_arena_chunk *c = a->head;
    if (c && c->next) { /* merge: one chunk big enough for the peak step */
        size_t want = a->total;
        nb__arena_free(a);
        a->head = chunk_new(a, want);
        return;
    }
    if (c) c->used = 0;
    a->in_use = 0;
}

nb_arena_mark nb__arena_mark(const nb_arena *a)
{
    return (nb_arena_mark){a->head, a->head ? a->head->used : 0, a->in_use};
}

void nb__arena_release(nb_arena *a, nb_arena_mark m)
{
    if (!m.chunk || a->head != m.chunk || m.used > m.chunk->used) return; /* a chunk was added since: kept to the reset */
    m.chunk->used = m.used;
    a->in_use = m.in_use;
}

void nb__arena_free(nb_arena *a)
{
    nb_arena_chunk *c = a->head;
    while (c) {
        nb_arena_chunk *n = c->next;
        free(c->mem);
        free(c);
        c = n;
    }
    a->head = NULL;
    a->total = 0;
    a->in_use = 0;
}
