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
 * after the caller's latest job (run shared or alone; not while other processes hold
 * cores, below), then
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
#include <sched.h>
#include <stdio.h>
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
static atomic_int g_nslots;        /* 1 + workers, set before they start */
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
#define NSAMPLES 16
static int g_adapt = 1; /* NB_POOL_ADAPT: 0 off */
static _Atomic int64_t g_degraded_until; /* workers read it to skip their spin */
static _Atomic int64_t g_active_at;      /* the caller's latest job (run either way) */
static int g_stat_fd = -1, g_self_fd = -1, g_no_proc; /* (g_no_proc: /proc unreadable, the stall rule) */
static struct {
    int64_t at, others; /* time (ns), others' CPU time (clock ticks) so far */
} g_samples[NSAMPLES];
static int g_nsamples, g_sample_next;
/* What each job took, per (function, n, chunk): the latest time (for the rule above) and,
 * for jobs under MEASURED_NS (batch-1 inference's are 1-40 µs), an estimate of each way to
 * run it (shared with the workers, or on the caller alone). How much a second thread
 * gains on a small job changes with the machine: two CPUs that the host runs on one
 * physical core (a virtual machine's vCPUs can be two hyperthreads of one core for a
 * while) or a worker that lost its cache give a batch-1 job no gain, and the job's fork
 * and join then make it slower than the caller alone. So the pool measures: it runs such
 * a job the way whose estimate is lower and the other way now and then (alone once every
 * PROBE_ALONE_NS, or PROBE_RATIO times the shared estimate if longer, so that the probes
 * cost about 0.5% at most; shared once every PROBE_SHARED_NS while alone wins), and each
 * run updates that way's estimate (an average over the last few runs in which a run more
 * than twice the estimate counts as twice, so that a run the system interrupted does not
 * decide). A shared run whose
 * workers had to be woken is not counted (the wake-up is not the job's cost: a worker
 * keeps spinning while the caller keeps running jobs, either way). */
#define MEASURED_NS 200000
#define PROBE_ALONE_NS 8000000
#define PROBE_SHARED_NS 1000000
#define PROBE_RATIO 200
#define NKEY 256
static struct {
    nb__chunk_fn fn;
    int64_t n, chunk;
    int64_t ns;      /* the latest run */
    int64_t est[2];  /* estimate shared (0) and alone (1); 0: none yet */
    int64_t probe_at;
} g_keys[NKEY];

static unsigned key_hash(nb__chunk_fn fn, int64_t n, int64_t chunk)
{
    uint64_t h = ((uint64_t)(uintptr_t)fn >> 4) * 0x9E3779B97F4A7C15u;
    h ^= (uint64_t)n * 0xC2B2AE3D27D4EB4Fu;
    h ^= (uint64_t)chunk * 0x165667B19E3779F9u;
    return (unsigned)(h >> 40) % NKEY;
}

/* The entry of a job (the pool held), emptied for a new job in its place. */
static __typeof__(g_keys[0]) *key_of(nb__chunk_fn fn, int64_t n, int64_t chunk)
{
    __typeof__(g_keys[0]) *k = &g_keys[key_hash(fn, n, chunk)];
    if (k->fn != fn || k->n != n || k->chunk != chunk) {
        memset(k, 0, sizeof *k);
        k->fn = fn;
        k->n = n;
        k->chunk = chunk;
    }
    return k;
}

static void estimate(int64_t *est, int64_t ns)
{
    if (*est == 0) *est = ns;
    else *est += ((ns < 2 * *est ? ns : 2 * *est) - *est) / 4;
}

/* 1: run the small job on the caller alone; 0: share it */
static int run_alone(__typeof__(g_keys[0]) *k, int64_t now)
{
    if (!k->est[0]) return 0;
    if (!k->est[1]) return 1;
    int best = k->est[1] < k->est[0];
    int64_t every = best ? PROBE_SHARED_NS : PROBE_ALONE_NS;
    if (!best && every < PROBE_RATIO * k->est[0]) every = PROBE_RATIO * k->est[0]; /* (a probe costs at most ~0.5%) */
    if (now - k->probe_at < every) return best;
    k->probe_at = now;
    return !best;
}

/* Threads of one job sharing a CPU. When a sleeping worker wakes while the other CPUs run
 * other processes (niced ones too: the system does not count them idle), the system may
 * put it on the caller's CPU, where the two take turns in time slices and a job runs
 * slower than on the caller alone; the load balancer separates them only after many
 * slices (seconds at batch 1, with the threads handing the CPU to each other). So every
 * thread notes the CPU it last ran a job on (g_cpu[slot]: the caller's at the start of
 * each job, a worker's when it sees a job and while it spins), and a worker that finds
 * the caller or a lower slot on its CPU moves itself to a CPU of its mask that no other
 * slot holds (or at least not the caller's) by narrowing its affinity for a moment and
 * widening it again (the system keeps a thread where it is when its mask widens, and
 * may move it later as it likes). A worker that cannot move does not spin there. */
static _Atomic int g_cpu[MAX_THREADS];

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

/* NB_POOL_TRACE=1: at exit, one line on stderr counting the jobs shared, run alone by
 * measurement and run alone on a busy machine, the shared jobs whose workers were asleep,
 * the caller's sleeps, the workers' moves and the windows that found the machine busy;
 * NB_POOL_TRACE=2 adds each job's entry (function as an offset from nb__parallel).
 * The counts are the caller's, written with the pool held (moves: the workers'). */
static int g_trace;
static struct {
    long shared, alone[2], wakes, sleeps, busy;
} g_st;
static _Atomic long g_moves;

static void trace_dump(void)
{
    fprintf(stderr,
            "nabla pool: shared=%ld alone=%ld alone_busy=%ld wakes=%ld caller_sleeps=%ld moves=%ld busy_windows=%ld\n",
            g_st.shared, g_st.alone[0], g_st.alone[1], g_st.wakes, g_st.sleeps, (long)atomic_load(&g_moves), g_st.busy);
    for (int i = 0; g_trace > 1 && i < NKEY; i++)
        if (g_keys[i].fn)
            fprintf(stderr, "nabla pool: job %+lld n=%lld chunk=%lld last_ns=%lld est_shared=%lld est_alone=%lld\n",
                    (long long)((char *)(uintptr_t)g_keys[i].fn - (char *)(uintptr_t)nb__parallel),
                    (long long)g_keys[i].n, (long long)g_keys[i].chunk, (long long)g_keys[i].ns,
                    (long long)g_keys[i].est[0], (long long)g_keys[i].est[1]);
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
    const char *t = getenv("NB_POOL_TRACE");
    if (t && atoi(t) > 0) {
        g_trace = atoi(t);
        atexit(trace_dump);
    }
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

/* The affinity mask a worker started with (its creator's). */
static _Thread_local cpu_set_t tl_mask;
static _Thread_local int tl_mask_ok;

/* 1 if this worker (slot >= 1) now runs on a CPU that the caller or a lower slot holds;
 * it then moves if its mask has a CPU for it and returns 0 if it did. */
static int crowded(int slot, int nslots)
{
    int cpu = g_adapt ? sched_getcpu() : -1;
    if (cpu < 0) return 0;
    atomic_store_explicit(&g_cpu[slot], cpu, memory_order_relaxed);
    int clash = 0;
    for (int s = 0; s < slot && !clash; s++) clash = atomic_load_explicit(&g_cpu[s], memory_order_relaxed) == cpu;
    if (!clash || !tl_mask_ok) return clash;
    cpu_set_t free_, other;
    CPU_ZERO(&free_);
    CPU_OR(&free_, &free_, &tl_mask);
    other = free_;
    CPU_CLR(cpu, &free_);
    CPU_CLR(cpu, &other);
    for (int s = 0; s < nslots; s++) {
        int c = s == slot ? -1 : atomic_load_explicit(&g_cpu[s], memory_order_relaxed);
        if (c >= 0 && c < CPU_SETSIZE) CPU_CLR(c, &free_);
    }
    int c0 = atomic_load_explicit(&g_cpu[0], memory_order_relaxed);
    if (c0 >= 0 && c0 < CPU_SETSIZE) CPU_CLR(c0, &other);
    cpu_set_t *to = CPU_COUNT(&free_) ? &free_ : CPU_COUNT(&other) ? &other : NULL;
    if (!to || sched_setaffinity(0, sizeof *to, to)) return 1;
    sched_setaffinity(0, sizeof tl_mask, &tl_mask);
    atomic_fetch_add_explicit(&g_moves, 1, memory_order_relaxed);
    cpu = sched_getcpu();
    atomic_store_explicit(&g_cpu[slot], cpu, memory_order_relaxed);
    return cpu == c0;
}

static void *worker_main(void *arg)
{
    int slot = (int)(intptr_t)arg;
    tl_slot = slot;
    tl_worker = slot;
    tl_mask_ok = sched_getaffinity(0, sizeof tl_mask, &tl_mask) == 0 && CPU_COUNT(&tl_mask) > 1;
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
                if (i & 63) continue;
                int64_t t = now_ns(), a = atomic_load_explicit(&g_active_at, memory_order_relaxed);
                if (t - (a > t0 ? a : t0) > g_spin_ns ||
                    crowded(slot, atomic_load_explicit(&g_nslots, memory_order_relaxed)))
                    break;
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
        crowded(slot, atomic_load_explicit(&g_nslots, memory_order_relaxed));
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
    atomic_store(&g_nslots, want + 1);
    for (int i = 0; i <= want; i++) atomic_store(&g_cpu[i], -1);
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

void nb__pool_counts_get(nb__pool_counts *c)
{
    while (!try_hold()) sched_yield(); /* (the counts are written with the pool held) */
    *c = (nb__pool_counts){.shared = g_st.shared, .alone = g_st.alone[0], .alone_busy = g_st.alone[1],
                           .wakes = g_st.wakes, .moves = atomic_load(&g_moves)};
    release();
}

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
        g_st.busy += cores >= BUSY_CORES;
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
    atomic_store_explicit(&g_active_at, t0, memory_order_relaxed);
    __typeof__(g_keys[0]) *k = key_of(fn, n, chunk);
    /* (measured: by the shared estimate once there is one, steadier than the latest run) */
    int small = k->ns < SMALL_NS, measured = (k->est[0] ? k->est[0] : k->ns) < MEASURED_NS;
    /* a busy machine (the rule above): small jobs on the caller alone; else the faster way */
    int degraded = g_adapt && t0 < atomic_load_explicit(&g_degraded_until, memory_order_relaxed);
    int alone = g_adapt && ((small && degraded) || (measured && run_alone(k, t0)));
    if (alone) {
        tl_slot = 0;
        g_st.alone[degraded]++;
        run_inline(n, chunk, fn, ctx);
        tl_slot = -1;
        int64_t t3 = now_ns();
        k->ns = t3 - t0;
        if (!degraded) estimate(&k->est[1], t3 - t0);
        adapt(t3, 0);
        release();
        return;
    }
    uint32_t count = (uint32_t)((n + chunk - 1) / chunk);
    atomic_store_explicit(&g_cpu[0], sched_getcpu(), memory_order_relaxed);
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
    g_st.shared++;
    g_st.wakes += woken;
    claim_chunks(0);
    int64_t t1 = now_ns(), t2 = t1;
    if (atomic_load_explicit(&g_done, memory_order_acquire) != count) {
        for (int i = 1; atomic_load_explicit(&g_done, memory_order_acquire) != count; i++) {
            cpu_relax();
            if (!(i & 63) && now_ns() - t1 > g_spin_ns) {
                g_st.sleeps++;
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
    k->ns = t2 - t0;
    if (!woken || !k->est[0]) estimate(&k->est[0], t2 - t0);
    release();
}

void nb__parallel_if(int64_t work, int64_t n, int64_t chunk, nb__chunk_fn fn, void *ctx)
{
    if (work > NB_PAR_MIN) nb__parallel(n, chunk, fn, ctx);
    else run_inline(n, chunk < 1 ? 1 : chunk, fn, ctx);
}
