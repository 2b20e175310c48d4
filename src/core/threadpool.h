/* threadpool.h - the process's thread count and its parallel loops (src/core/threadpool.c).
 *
 * nb__parallel(n, chunk, fn, ctx) runs fn(ctx, b, e, slot) over [0, n) cut into chunks of
 * `chunk` indices ([b, e), the last one shorter), each chunk once, on the calling thread
 * and the pool's workers. Chunks are handed out one at a time from an atomic counter as
 * threads come free: a worker the system has descheduled takes no chunk and the caller
 * does not wait for it (it waits only for chunks a thread has claimed). The caller takes
 * chunks too. `slot` in [0, nb__max_threads()) names the thread running the chunk (0 is
 * the caller), for per-thread scratch; no two chunks run on one slot at a time.
 *
 * Two implementations (NB_POOL=own, the default, or NB_POOL=omp: the same chunks on an
 * OpenMP team), read once at the first use. A call from inside a chunk (nesting), with one
 * thread set, with one chunk, or while another thread's job holds the pool runs the
 * chunks in order on the calling thread with its own slot. Which thread runs a chunk never
 * changes what it computes: code that must not depend on the thread count keeps each
 * index's work and each sum's order independent of the slot. */
#ifndef NB_CORE_THREADPOOL_H
#define NB_CORE_THREADPOOL_H

#include <stdint.h>

typedef void (*nb__chunk_fn)(void *ctx, int64_t begin, int64_t end, int slot);

/* The process's thread count (nb_set_threads). */
void nb__set_threads(int n);
int nb__max_threads(void);

void nb__parallel(int64_t n, int64_t chunk, nb__chunk_fn fn, void *ctx);
/* nb__parallel when `work` (about one unit per element touched) is above NB_PAR_MIN,
 * else the chunks in order on the calling thread (a wake-up costs more than the work). */
void nb__parallel_if(int64_t work, int64_t n, int64_t chunk, nb__chunk_fn fn, void *ctx);
/* A chunk size giving about 8 chunks a thread (at least 1). */
int64_t nb__chunk_for(int64_t n);
/* 1 on a thread that is running a chunk (a worker, or the caller inside nb__parallel). */
int nb__in_parallel(void);
/* On a worker thread of nabla's own pool its slot (>= 1, the same for every job), else 0. */
int nb__pool_worker(void);
/* "own" or "omp": the pool in use (NB_POOL). */
const char *nb__pool_kind(void);
/* Use the pool named ("own" or "omp"; for tests and benchmarks, between jobs); -1 if unknown. */
int nb__pool_use(const char *kind);

/* What the pool did since the process started (for tests and NB_POOL_TRACE): jobs shared
 * with the workers, small jobs run on the caller alone because that measured faster, and
 * because the machine was busy; shared jobs whose workers had to be woken; workers' moves
 * off a CPU that the caller or another worker held. Not from inside a chunk (it waits for
 * the pool). */
typedef struct {
    long shared, alone, alone_busy, wakes, moves;
} nb__pool_counts;
void nb__pool_counts_get(nb__pool_counts *c);

/* Elements below which a loop stays on one thread (a wake-up costs more). */
#define NB_PAR_MIN 32768

#endif
