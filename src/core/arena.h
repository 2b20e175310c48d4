/* arena.h - bump allocator that is reset once per step (src/core/arena.c): a
 * step's tensors and tape nodes, and the text code's strings (tokenizers,
 * augmenters, BPE/WordPiece training). */
#ifndef NB_CORE_ARENA_H
#define NB_CORE_ARENA_H

#include <stddef.h>

typedef struct nb_arena_chunk {
    struct nb_arena_chunk *next;
    size_t cap, used;
    unsigned char *mem;
} nb_arena_chunk;

typedef struct {
    size_t align;         /* of every block, a power of two; 0: 64 (tensors) */
    size_t min_chunk;     /* the first chunk's size; 0: 1 MiB */
    size_t max_block;     /* > 0: a larger block fails (NB_ERR_MEM) without allocating */
    nb_arena_chunk *head; /* current chunk (first in the list) */
    size_t total;         /* sum of capacities */
    size_t peak;          /* most bytes used in one step */
    size_t in_use;        /* bytes used in this step */
    size_t mallocs;       /* heap allocations made */
} nb_arena;

/* Small arenas for strings: 8-byte blocks, a 4 KiB first chunk. */
#define NB__ARENA_SMALL ((nb_arena){.align = 8, .min_chunk = 4096})

void *nb__arena_alloc(nb_arena *a, size_t bytes); /* aligned to a->align, not zeroed */
char *nb__arena_strdup(nb_arena *a, const char *s, size_t n); /* NUL-terminated copy of n bytes */
void nb__arena_reset(nb_arena *a); /* blocks handed out before are invalid after */
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
