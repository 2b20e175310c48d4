/* threadpool.c - the process's thread count and the pool behind nb__parallel (threadpool.h).
 *
 * A job is one function, its context and a number of chunks. Its whole claim state is one
 * 64-bit word: generation (32 bits) | next chunk (16) | chunk count (16). A thread claims
 * chunk `next` by a compare-and-swap of that word to next + 1, so a claim made by a worker
 * that read an older job's word fails (the generation differs) and a late worker cannot
 * touch a finished job. The job's description is read only after a successful claim, and
 * the caller does not publish the next job before every claimed chunk is done, so it stays
 * valid while it is read. The caller claims chunks like the workers; when none is left it
 * waits for `done` to reach the chunk count, that is for chunks some thread claimed and is
 * running, never for a worker that has not woken up (that worker finds nothing to claim).
 *
 * Waiting: a worker spins on the job counter for NB_SPIN_US microseconds (default 50)
 * after its last chunk (not while other processes hold cores, below), then
 * sleeps on it (futex); the caller wakes sleepers only when there are any. The caller
 * waiting for running chunks spins as long, then sleeps on
 * `done` and the worker that finishes the last chunk wakes it (its core is then free for
 * the worker, if the system had put that worker on a busy core).
 *
 * Only one job runs at a time: a second thread that calls nb__parallel meanwhile (a data
 * loader's worker, say) runs its chunks itself. */
#include "core/threadpool.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

#ifdef NB_HAVE_OPENBLAS
void openblas_set_num_threads(int);
#endif

#define MAX_THREADS 256
#define MAX_CHUNKS 65535

enum { POOL_UNSET, POOL_OWN, POOL_OMP };

static atomic_int g_threads;      /* 0 until set or first read */
static atomic_int g_kind;         /* POOL_UNSET until first read */
static atomic_int g_busy;         /* 1 while a job (or a resize) holds the pool */
static int g_spin_ns = 50000;

/* the current job: written by its caller before the word below is published */
static struct {
    nb__chunk_fn fn;
    void *ctx;
    int64_t n, chunk;
} g_job;
static _Atomic uint64_t g_word;    /* gen << 32 | next << 16 | count */
static _Atomic uint32_t g_gen;     /* futex word: bumped for every job (and to stop) */
static _Atomic uint32_t g_done;    /* futex word: chunks of the current job done */
static atomic_int g_sleepers;      /* workers asleep (or about to be) on g_gen */
static atomic_int g_caller_asleep; /* the caller sleeps on g_done */
static atomic_int g_quit;
static pthread_t g_workers[MAX_THREADS];
static int g_nworkers;             /* started; the caller is slot 0, worker i slot i + 1 */
static atomic_int g_ready;         /* workers past their set-up (start_workers waits for it) */
static uint32_t g_start_gen;       /* g_gen when the workers were started (the pool held) */

/* Adapting to a busy machine. Every SAMPLE_NS or so (at the end of a job, the pool held)
 * the pool reads the user CPU time the machine spent in processes at this process's
 * priority or above (/proc/stat's user column, and the niced one too when this process is
 * niced itself) less this process's own (/proc/self/stat). System time does not count:
 * /proc/stat does not split it by priority, and niced processes that fault in memory or
 * make many system calls filled it with 0.3 core here. When other processes used
 * BUSY_CORES or more of it over the last WINDOW_NS, they take cores from this one's
 * threads for whole time slices (milliseconds): until a window shows otherwise, jobs
 * whose function took less than SMALL_NS last time run on the caller alone (batch-1
 * inference, small layers), larger ones still share their chunks, and workers sleep at
 * once instead of spinning. Niced processes do not count (they yield to this one), nor
 * does the noise of an idle machine (a few ms a second). Without /proc, a stall does it:
 * the caller waited for a claimed chunk STALL_NS longer than its own share took, which
 * means the worker lost its core; then for DEGRADED_NS. NB_POOL_ADAPT=0 turns it off.
 * The last duration of each chunk function is kept in a small table (the pool held). */
#define SAMPLE_NS 50000000
#define WINDOW_NS 200000000
#define OLDEST_NS 600000000 /* a window reaching further back than this is not used */
#define BUSY_CORES 0.3
#define STALL_NS 100000
#define DEGRADED_NS 200000000
#define SMALL_NS 1000000
#define NFN 64
#define NSAMPLES 16
static int g_adapt = 1; /* NB_POOL_ADAPT: 0 off */
static _Atomic int64_t g_degraded_until; /* workers read it to skip their spin */
static int g_stat_fd = -1, g_self_fd = -1, g_no_proc; /* (g_no_proc: /proc unreadable, the stall rule) */
static struct {
    int64_t at, others; /* time (ns), others' CPU time (clock ticks) so far */
} g_samples[NSAMPLES];
static int g_nsamples, g_sample_next;
static struct {
    nb__chunk_fn fn;
    int64_t ns;
} g_last[NFN];

static unsigned fn_hash(nb__chunk_fn fn) { return (unsigned)(((uintptr_t)fn >> 4) * 0x9E3779B1u >> 26) % NFN; }

static int64_t last_ns(nb__chunk_fn fn)
{
    unsigned h = fn_hash(fn);
    return g_last[h].fn == fn ? g_last[h].ns : 0;
}

static void note_ns(nb__chunk_fn fn, int64_t ns)
{
    unsigned h = fn_hash(fn);
    g_last[h].fn = fn;
    g_last[h].ns = ns;
}

static _Thread_local int tl_slot = -1; /* >= 0 while this thread runs a chunk */
static _Thread_local int tl_worker;     /* this worker's slot (0: not a worker) */

static long futex(_Atomic uint32_t *addr, int op, uint32_t val)
{
    return syscall(SYS_futex, (uint32_t *)addr, op | FUTEX_PRIVATE_FLAG, val, NULL, NULL, 0);
}

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static pthread_once_t g_env_once = PTHREAD_ONCE_INIT;

/* NB_POOL, NB_POOL_ADAPT and NB_SPIN_US, once (before any worker starts) */
static void read_env(void)
{
    const char *e = getenv("NB_POOL");
    int k = e && strcmp(e, "omp") == 0 ? POOL_OMP : POOL_OWN;
#ifndef _OPENMP
    k = POOL_OWN;
#endif
    const char *a = getenv("NB_POOL_ADAPT");
    if (a && strcmp(a, "0") == 0) g_adapt = 0;
    const char *s = getenv("NB_SPIN_US");
    if (s && *s) {
        long us = strtol(s, NULL, 10);
        g_spin_ns = us < 0 ? 0 : us > 100000 ? 100000000 : (int)us * 1000;
    }
    atomic_store_explicit(&g_kind, k, memory_order_release);
}

static int pool_kind(void)
{
    int k = atomic_load_explicit(&g_kind, memory_order_acquire);
    if (k != POOL_UNSET) return k;
    pthread_once(&g_env_once, read_env);
    return atomic_load_explicit(&g_kind, memory_order_acquire);
}

const char *nb__pool_kind(void) { return pool_kind() == POOL_OMP ? "omp" : "own"; }

int nb__pool_use(const char *kind)
{
    pool_kind(); /* NB_SPIN_US read */
    if (strcmp(kind, "own") == 0) atomic_store(&g_kind, POOL_OWN);
#ifdef _OPENMP
    else if (strcmp(kind, "omp") == 0) atomic_store(&g_kind, POOL_OMP);
#endif
    else return -1;
    return 0;
}

static int default_threads(void)
{
    const char *e = getenv("NB_THREADS");
    int t = e ? atoi(e) : 0;
    if (t <= 0) t = (int)sysconf(_SC_NPROCESSORS_ONLN);
    return t <= 0 ? 1 : t > MAX_THREADS ? MAX_THREADS : t;
}

int nb__max_threads(void)
{
    int t = atomic_load_explicit(&g_threads, memory_order_relaxed);
    if (t > 0) return t;
    t = default_threads();
    int zero = 0;
    if (!atomic_compare_exchange_strong(&g_threads, &zero, t)) t = zero;
    return t;
}

int nb__in_parallel(void)
{
#ifdef _OPENMP
    if (omp_in_parallel()) return 1;
#endif
    return tl_slot >= 0;
}

int nb__pool_worker(void) { return tl_worker; }

int64_t nb__chunk_for(int64_t n) { return n / (8 * (int64_t)nb__max_threads()) + 1; }

/* Chunks of the current job while there are any; returns when none is left to claim,
 * with how many this thread ran. */
static uint32_t claim_chunks(int slot)
{
    uint64_t w = atomic_load_explicit(&g_word, memory_order_acquire);
    for (uint32_t mine = 0;; mine++) {
        uint32_t next = (uint32_t)(w >> 16) & 0xffff, count = (uint32_t)w & 0xffff;
        if (next >= count) return mine;
        if (!atomic_compare_exchange_weak_explicit(&g_word, &w, w + (1u << 16), memory_order_acq_rel,
                                                   memory_order_acquire))
            continue;
        int64_t b = (int64_t)next * g_job.chunk, e = b + g_job.chunk < g_job.n ? b + g_job.chunk : g_job.n;
        g_job.fn(g_job.ctx, b, e, slot);
        uint32_t d = atomic_fetch_add_explicit(&g_done, 1, memory_order_acq_rel) + 1;
        if (d == count && atomic_load(&g_caller_asleep)) futex(&g_done, FUTEX_WAKE, 1);
        w = atomic_load_explicit(&g_word, memory_order_acquire);
    }
}

static void *worker_main(void *arg)
{
    int slot = (int)(intptr_t)arg;
    tl_slot = slot;
    tl_worker = slot;
#ifdef _OPENMP
    omp_set_num_threads(1); /* OpenBLAS's OpenMP build called from a chunk: one thread */
#endif
    atomic_fetch_add(&g_ready, 1);
    uint32_t seen = g_start_gen; /* the job counter when the pool started this worker */
    for (;;) {
        uint32_t g = atomic_load_explicit(&g_gen, memory_order_acquire);
        if (g == seen && g_spin_ns > 0 && now_ns() >= atomic_load_explicit(&g_degraded_until, memory_order_relaxed)) {
            int64_t t0 = now_ns();
            for (int i = 1; (g = atomic_load_explicit(&g_gen, memory_order_acquire)) == seen; i++) {
                cpu_relax();
                if (!(i & 63) && now_ns() - t0 > g_spin_ns) break;
            }
        }
        if (atomic_load(&g_quit)) break; /* (a worker that starts after the pool stopped it) */
        if (g == seen) {
            atomic_fetch_add(&g_sleepers, 1);
            if (atomic_load(&g_gen) == seen && !atomic_load(&g_quit)) futex(&g_gen, FUTEX_WAIT, seen);
            atomic_fetch_sub(&g_sleepers, 1);
            continue;
        }
        seen = g;
        if (atomic_load(&g_quit)) break;
        claim_chunks(slot);
    }
    return NULL;
}

/* Stops every worker (the pool is held). */
static void stop_workers(void)
{
    if (!g_nworkers) return;
    atomic_store(&g_quit, 1);
    atomic_fetch_add(&g_gen, 1);
    futex(&g_gen, FUTEX_WAKE, INT_MAX);
    for (int i = 0; i < g_nworkers; i++) pthread_join(g_workers[i], NULL);
    g_nworkers = 0;
    atomic_store(&g_ready, 0);
    atomic_store(&g_quit, 0);
}

/* Starts workers up to the thread count (the pool is held); fewer if the system refuses. */
static void start_workers(int want)
{
    if (want > MAX_THREADS - 1) want = MAX_THREADS - 1;
    g_start_gen = atomic_load(&g_gen);
    while (g_nworkers < want) {
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setstacksize(&a, (size_t)8 << 20);
        int rc = pthread_create(&g_workers[g_nworkers], &a, worker_main, (void *)(intptr_t)(g_nworkers + 1));
        pthread_attr_destroy(&a);
        if (rc) break;
        g_nworkers++;
    }
    /* each worker's set-up done before the job: libgomp allocates the thread's state at its
     * first omp_set_num_threads, which a loaded machine could otherwise delay into a later
     * step (a steady step allocates nothing: tests/test_noalloc.c) */
    while (atomic_load(&g_ready) < g_nworkers) sched_yield();
}

static int try_hold(void)
{
    int z = 0;
    return atomic_compare_exchange_strong_explicit(&g_busy, &z, 1, memory_order_acquire, memory_order_relaxed);
}

static void release(void) { atomic_store_explicit(&g_busy, 0, memory_order_release); }

void nb__set_threads(int n)
{
    if (n <= 0) n = default_threads();
    if (n > MAX_THREADS) n = MAX_THREADS;
#ifdef NB_HAVE_OPENBLAS
    /* OpenBLAS on one thread: nb__sgemm cuts its calls into parts fixed by the shape and
     * threads them itself (kernels/gemm.c), so results do not depend on the thread count.
     * Its OpenMP build sets OpenMP's count too, hence first. */
    openblas_set_num_threads(1);
#endif
#ifdef _OPENMP
    /* OpenMP's count: the team of NB_POOL=omp and of OpenBLAS's OpenMP build, which
     * follows it at its next call (nb__sgemm keeps that to one thread) */
    omp_set_num_threads(n);
#endif
    if (atomic_load(&g_threads) == n) return;
    while (!try_hold()) sched_yield(); /* a job of another thread is running */
    atomic_store(&g_threads, n);
    if (g_nworkers > n - 1) stop_workers(); /* restarted at the next job */
    release();
}

static void run_inline(int64_t n, int64_t chunk, nb__chunk_fn fn, void *ctx)
{
    int slot = tl_slot >= 0 ? tl_slot : 0;
#ifdef _OPENMP
    if (slot == 0 && omp_in_parallel()) slot = omp_get_thread_num();
#endif
    for (int64_t b = 0; b < n; b += chunk) fn(ctx, b, b + chunk < n ? b + chunk : n, slot);
}

#ifdef _OPENMP
static void run_omp(int nt, int64_t n, int64_t chunk, nb__chunk_fn fn, void *ctx)
{
    int64_t count = (n + chunk - 1) / chunk;
    if (nt > count) nt = (int)count;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (int64_t c = 0; c < count; c++) {
        int64_t b = c * chunk;
        fn(ctx, b, b + chunk < n ? b + chunk : n, omp_get_thread_num());
    }
}
#endif

/* n numbers of a /proc file read through fd from its start, after `skip` fields (split at
 * spaces; with `paren`, counted from after the last ')', the end of /proc/self/stat's
 * second field, a command name that may hold spaces); -1 if unreadable. */
static int read_fields(int fd, int paren, int skip, long long *v, int n)
{
    char b[1024];
    ssize_t k = pread(fd, b, sizeof b - 1, 0);
    if (k <= 0) return -1;
    b[k] = 0;
    char *p = b;
    if (paren) {
        p = strrchr(b, ')');
        if (!p) return -1;
        p++;
    }
    for (int i = 0; i < skip; i++) {
        while (*p == ' ') p++;
        while (*p && *p != ' ') p++;
    }
    for (int i = 0; i < n; i++) {
        char *e;
        v[i] = strtoll(p, &e, 10);
        if (e == p) return -1;
        p = e;
    }
    return 0;
}

/* Others' CPU time so far in clock ticks (see above) in *o; -1 if /proc cannot tell. */
static int others_ticks(int64_t *o)
{
    static pid_t pid; /* (a forked child opens its own /proc/self/stat) */
    if (g_stat_fd < 0 || pid != getpid()) {
        if (g_stat_fd >= 0) close(g_stat_fd);
        if (g_self_fd >= 0) close(g_self_fd);
        pid = getpid();
        g_nsamples = 0; /* (a child's own time starts at 0) */
        g_stat_fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);
        g_self_fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
        if (g_stat_fd < 0 || g_self_fd < 0) return -1;
    }
    long long cpu[2], self[1]; /* user nice; utime */
    if (read_fields(g_stat_fd, 0, 1, cpu, 2) || read_fields(g_self_fd, 1, 11, self, 1)) return -1;
    int niced = getpriority(PRIO_PROCESS, 0) > 0;
    *o = cpu[0] + (niced ? cpu[1] : 0) - self[0];
    return 0;
}

/* A sample of others' CPU time and, over the last window, the decision (the pool held). */
static void sample_machine(int64_t now)
{
    int64_t o;
    if (others_ticks(&o)) {
        g_no_proc = 1;
        return;
    }
    g_samples[g_sample_next].at = now;
    g_samples[g_sample_next].others = o;
    g_sample_next = (g_sample_next + 1) % NSAMPLES;
    if (g_nsamples < NSAMPLES) g_nsamples++;
    /* the newest earlier sample at least WINDOW_NS old, if not too old */
    for (int k = 1; k < g_nsamples; k++) {
        int i = ((g_sample_next - 1 - k) % NSAMPLES + NSAMPLES) % NSAMPLES;
        int64_t age = now - g_samples[i].at;
        if (age < WINDOW_NS) continue;
        if (age > OLDEST_NS) break;
        double cores = (double)(o - g_samples[i].others) / (double)sysconf(_SC_CLK_TCK) / ((double)age * 1e-9);
        atomic_store_explicit(&g_degraded_until, cores >= BUSY_CORES ? now + DEGRADED_NS : 0,
                              memory_order_relaxed);
        break;
    }
}

/* After a job (the pool held): a sample when one is due; without /proc, the stall rule. */
static void adapt(int64_t now, int stalled)
{
    if (!g_adapt) return;
    if (g_no_proc) {
        if (stalled) atomic_store_explicit(&g_degraded_until, now + DEGRADED_NS, memory_order_relaxed);
        return;
    }
    int last = ((g_sample_next - 1) % NSAMPLES + NSAMPLES) % NSAMPLES;
    if (g_nsamples == 0 || now - g_samples[last].at >= SAMPLE_NS) sample_machine(now);
}

void nb__parallel(int64_t n, int64_t chunk, nb__chunk_fn fn, void *ctx)
{
    if (n <= 0) return;
    if (chunk < 1) chunk = 1;
    if ((n + chunk - 1) / chunk > MAX_CHUNKS) chunk = (n + MAX_CHUNKS - 1) / MAX_CHUNKS;
    int nt = nb__max_threads();
    if (nt <= 1 || chunk >= n || nb__in_parallel()) {
        run_inline(n, chunk, fn, ctx);
        return;
    }
#ifdef _OPENMP
    if (pool_kind() == POOL_OMP) {
        run_omp(nt, n, chunk, fn, ctx);
        return;
    }
#else
    pool_kind();
#endif
    if (!try_hold()) { /* another thread's job */
        run_inline(n, chunk, fn, ctx);
        return;
    }
    if (g_nworkers < nt - 1) start_workers(nt - 1);
    if (g_nworkers == 0) {
        release();
        run_inline(n, chunk, fn, ctx);
        return;
    }
    int64_t t0 = now_ns();
    /* a worker stalled lately: small jobs on the caller alone */
    if (g_adapt && t0 < atomic_load_explicit(&g_degraded_until, memory_order_relaxed) && last_ns(fn) < SMALL_NS) {
        tl_slot = 0;
        run_inline(n, chunk, fn, ctx);
        tl_slot = -1;
        int64_t t3 = now_ns();
        note_ns(fn, t3 - t0);
        adapt(t3, 0);
        release();
        return;
    }
    uint32_t count = (uint32_t)((n + chunk - 1) / chunk);
    g_job.fn = fn;
    g_job.ctx = ctx;
    g_job.n = n;
    g_job.chunk = chunk;
    atomic_store_explicit(&g_done, 0, memory_order_relaxed);
    uint32_t gen = atomic_load_explicit(&g_gen, memory_order_relaxed) + 1;
    atomic_store_explicit(&g_word, (uint64_t)gen << 32 | count, memory_order_release);
    atomic_store(&g_gen, gen); /* seq_cst: ordered before the read of g_sleepers */
    int woken = atomic_load(&g_sleepers) > 0;
    if (woken) futex(&g_gen, FUTEX_WAKE, INT_MAX);
    tl_slot = 0;
    claim_chunks(0);
    int64_t t1 = now_ns(), t2 = t1;
    if (atomic_load_explicit(&g_done, memory_order_acquire) != count) {
        for (int i = 1; atomic_load_explicit(&g_done, memory_order_acquire) != count; i++) {
            cpu_relax();
            if (!(i & 63) && now_ns() - t1 > g_spin_ns) {
                atomic_store(&g_caller_asleep, 1);
                uint32_t d;
                while ((d = atomic_load(&g_done)) != count) futex(&g_done, FUTEX_WAIT, d);
                atomic_store(&g_caller_asleep, 0);
                break;
            }
        }
        t2 = now_ns();
    }
    tl_slot = -1;
    /* (a stall: waited for a claimed chunk much longer than the caller's own share took) */
    adapt(t2, t2 - t1 > STALL_NS + (t1 - t0));
    note_ns(fn, t2 - t0);
    release();
}

void nb__parallel_if(int64_t work, int64_t n, int64_t chunk, nb__chunk_fn fn, void *ctx)
{
    if (work > NB_PAR_MIN) nb__parallel(n, chunk, fn, ctx);
    else run_inline(n, chunk < 1 ? 1 : chunk, fn, ctx);
}
