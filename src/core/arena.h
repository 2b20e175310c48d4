/* arena.h - bump allocator that is reset once per step (src/core/arena.c). */
#ifndef NB_CORE_ARENA_H
#define NB_CORE_ARENA_H

#include <stddef.h>

typedef struct nb_arena_chunk {
    struct nb_arena_chunk *next;
    size_t cap, used;
    unsigned char *mem;
} nb_arena_chunk;

typedef struct {
    nb_arena_chunk *head; /* current chunk (first in the list) */
    size_t total;         /* sum of capacities */
    size_t peak;          /* most bytes used in one step */
    size_t in_use;        /* bytes used in this step */
    size_t mallocs;       /* heap allocations made */
} nb_arena;

void *nb__arena_alloc(nb_arena *a, size_t bytes); /* 64-byte aligned, not zeroed */
void nb__arena_reset(nb_arena *a);
/* A point to return to: nb__arena_release gives back everything allocated after the mark
 * (temporary buffers of one op), if it all came from the chunk the mark was taken in. */
typedef struct {
    nb_arena_chunk *chunk;
    size_t used, in_use;
} nb_arena_mark;
nb_arena_mark nb__arena_mark(const nb_arena *a);
void nb__arena_release(nb_arena *a, nb_arena_mark m);
void nb__arena_free(nb_arena *a);

#endif
