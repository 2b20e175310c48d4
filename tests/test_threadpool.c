/* test_threadpool.c - the thread pool (src/core/threadpool.c) and the process's thread
 * count: every index runs exactly once for many sizes, chunk sizes and thread counts on
 * both pools (own and omp); slots stay below the thread count and no slot runs two chunks
 * at once; a call from inside a chunk runs inline on the caller's slot; two threads calling
 * at once both finish; nb_set_threads is one setting for every context; and a small
 * training step (a stride-1 and a stride-2 conv, BatchNorm, ReLU, max pooling, linear,
 * cross-entropy, backward) gives the same bits on 1, 2 and 3 threads and on both pools, for
 * batches larger and smaller than the thread count (tests/isa.sh runs it on every ISA);
 * and on the own pool, a small job that a worker makes slower runs on the caller alone once
 * the pool has measured both ways, and a worker put on the caller's CPU moves off it.
 *
 * Under ThreadSanitizer, the pool alone (without the library, OpenMP or the training step):
 *   clang -std=c11 -D_GNU_SOURCE -O1 -g -fsanitize=thread -DNB_TEST_POOL_ONLY -Iinclude -Isrc -Itests \
 *     tests/test_threadpool.c src/core/threadpool.c -o test_threadpool_tsan -lpthread */
#include "check.h"
#include "core/threadpool.h"
#include "nabla.h"

#ifdef NB_TEST_POOL_ONLY
#define nb_set_threads nb__set_threads
#define nb_threads nb__max_threads
#endif

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#define MAXN 5000

static atomic_int hits[MAXN];
static atomic_int busy[64];
static atomic_int bad_slot, overlap, max_slot;

static void count_chunk(void *ctx, int64_t b, int64_t e, int slot)
{
    int threads = *(const int *)ctx;
    if (slot < 0 || slot >= threads || slot >= 64) {
        atomic_store(&bad_slot, 1);
        return;
    }
    if (atomic_fetch_add(&busy[slot], 1) != 0) atomic_store(&overlap, 1);
    int m = atomic_load(&max_slot);
    while (slot > m && !atomic_compare_exchange_weak(&max_slot, &m, slot)) {
    }
    for (int64_t i = b; i < e; i++) atomic_fetch_add(&hits[i], 1);
    atomic_fetch_sub(&busy[slot], 1);
}

/* every index of [0, n) once, slots in range and never shared */
static int once(int64_t n, int64_t chunk, int threads)
{
    for (int64_t i = 0; i < n; i++) atomic_store(&hits[i], 0);
    atomic_store(&bad_slot, 0);
    atomic_store(&overlap, 0);
    nb__parallel(n, chunk, count_chunk, &threads);
    for (int64_t i = 0; i < n; i++)
        if (atomic_load(&hits[i]) != 1) return 0;
    return !atomic_load(&bad_slot) && !atomic_load(&overlap);
}

static void sizes(const char *pool)
{
    static const int64_t ns[] = {0, 1, 2, 3, 7, 16, 63, 64, 65, 100, 1000, 4999};
    static const int64_t chunks[] = {0, 1, 2, 3, 8, 64, 1000, 100000};
    static const int threads[] = {1, 2, 3, 4, 2, 1, 8, 2};
    int omp = strcmp(pool, "omp") == 0; /* libgomp's threads spin at each barrier: fewer, smaller runs */
    for (size_t t = 0; t < sizeof threads / sizeof *threads; t++) {
        if (omp && threads[t] > 4) continue;
        nb_set_threads(threads[t]);
        int good = 1;
        int64_t bad_n = -1, bad_c = -1;
        for (size_t a = 0; a < sizeof ns / sizeof *ns; a++)
            for (size_t c = 0; c < sizeof chunks / sizeof *chunks; c++)
                if (!once(ns[a], chunks[c], threads[t]) && good) good = 0, bad_n = ns[a], bad_c = chunks[c];
        char label[160];
        snprintf(label, sizeof label, "%s pool, %d threads: every index once, slots below the count, one chunk a slot",
                 pool, threads[t]);
        CHECK(label, good, "n %lld chunk %lld", (long long)bad_n, (long long)bad_c);
        CHECK("nb_threads reads the count back", nb_threads() == threads[t], "%d != %d", nb_threads(), threads[t]);
    }
    /* many small jobs back to back: a worker that wakes late must not touch a later job */
    nb_set_threads(2);
    int good = 1, jobs = omp ? 500 : 20000;
    for (int r = 0; r < jobs && good; r++) good = once(1 + r % 37, 1 + r % 5, 2);
    char label[120];
    snprintf(label, sizeof label, "%s pool: %d small jobs in a row, every index once", pool, jobs);
    CHECK(label, good, "a job lost or repeated an index");
}

/* ---- a worker that keeps a chunk long (as one that lost its core) ---- */

static void slow_chunk(void *ctx, int64_t b, int64_t e, int slot)
{
    if (slot != 0) usleep(3000);
    count_chunk(ctx, b, e, slot);
}

static void stalls(const char *pool)
{
    nb_set_threads(2);
    int threads = 2, good = 1;
    for (int r = 0; r < 20 && good; r++) {
        for (int64_t i = 0; i < 64; i++) atomic_store(&hits[i], 0);
        nb__parallel(64, 1, slow_chunk, &threads); /* the caller may take them all: then no stall */
        for (int64_t i = 0; i < 64; i++) good &= atomic_load(&hits[i]) == 1;
        for (int k = 0; k < 50 && good; k++) good = once(1 + k % 29, 1 + k % 3, 2); /* perhaps on the caller alone */
    }
    char label[120];
    snprintf(label, sizeof label, "%s pool: jobs after workers held chunks for 3 ms, every index once", pool);
    CHECK(label, good, "an index ran 0 or 2+ times");
}

/* ---- a job that sharing makes slower runs on the caller alone ---- */

static atomic_int worker_ran;

/* fast on the caller; a worker's chunk spins 50 µs (a worker far away) */
static void far_chunk(void *ctx, int64_t b, int64_t e, int slot)
{
    if (slot != 0) {
        atomic_store(&worker_ran, 1);
        struct timespec t0, t;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        do clock_gettime(CLOCK_MONOTONIC, &t);
        while ((t.tv_sec - t0.tv_sec) * 1000000000L + t.tv_nsec - t0.tv_nsec < 50000);
    }
    count_chunk(ctx, b, e, slot);
}

static void measured(void)
{
    nb_set_threads(2);
    int threads = 2, shared = 0, good = 1;
    nb__pool_counts c0, c1;
    nb__pool_counts_get(&c0);
    for (int r = 0; r < 2000; r++) {
        for (int64_t i = 0; i < 16; i++) atomic_store(&hits[i], 0);
        atomic_store(&worker_ran, 0);
        nb__parallel(16, 1, far_chunk, &threads);
        for (int64_t i = 0; i < 16; i++) good &= atomic_load(&hits[i]) == 1;
        if (r >= 1000) shared += atomic_load(&worker_ran);
    }
    nb__pool_counts_get(&c1);
    CHECK("own pool: a small job that a worker makes slower, every index once", good, "an index ran 0 or 2+ times");
    /* (shared once a millisecond to measure again: about 1 in 20 of these 1-50 µs jobs) */
    CHECK("... runs on the caller alone once measured (a worker ran <= 300 of the last 1000)", shared <= 300,
          "%d", shared);
    /* (while other processes hold cores, the busy-machine rule runs them alone first) */
    long alone = c1.alone - c0.alone, on_busy = c1.alone_busy - c0.alone_busy;
    CHECK("... and the pool counts those jobs as alone", alone >= 700 || (on_busy > 0 && alone + on_busy >= 700),
          "%ld alone, %ld alone on a busy machine", alone, on_busy);
}

/* ---- a worker on the caller's CPU moves ---- */

static atomic_int crowd_cpu;

static void spin_chunk(void *ctx, int64_t b, int64_t e, int slot)
{
    volatile double x = 1;
    for (int64_t i = b; i < e; i++)
        for (int k = 0; k < 8000; k++) x = x * 1.0000001 + 1e-9; /* (jobs of 64: over a millisecond) */
}

/* a worker's first chunk puts the worker on the CPU crowd_cpu (then widens its mask again) */
static void crowd_chunk(void *ctx, int64_t b, int64_t e, int slot)
{
    const cpu_set_t *all = ctx;
    spin_chunk(NULL, b, e, slot);
    if (slot == 0 || atomic_load(&worker_ran)) return;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(atomic_load(&crowd_cpu), &one);
    if (sched_setaffinity(0, sizeof one, &one) == 0 && sched_setaffinity(0, sizeof *all, all) == 0)
        atomic_store(&worker_ran, 1);
}

static void crowded(void)
{
    cpu_set_t all, one;
    int cpu = sched_getcpu();
    if (sched_getaffinity(0, sizeof all, &all) || CPU_COUNT(&all) < 2 || cpu < 0) {
        printf("ok own pool: a worker on the caller's CPU moves (skipped: one CPU)\n");
        return;
    }
    nb_set_threads(1);
    nb_set_threads(2);
    nb__parallel(64, 1, spin_chunk, NULL); /* new workers, started with the whole mask */
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    sched_setaffinity(0, sizeof one, &one); /* the caller stays on its CPU */
    atomic_store(&crowd_cpu, cpu);
    nb__pool_counts c0, c1;
    nb__pool_counts_get(&c0);
    atomic_store(&worker_ran, 0);
    for (int r = 0; r < 200 && !atomic_load(&worker_ran); r++) {
        nb__parallel(64, 1, crowd_chunk, &all); /* until the worker took a chunk */
        usleep(100);
    }
    int put = atomic_load(&worker_ran);
    for (int r = 0; r < 50; r++) nb__parallel(64, 1, spin_chunk, NULL);
    nb__pool_counts_get(&c1);
    sched_setaffinity(0, sizeof all, &all);
    CHECK("own pool: a worker put on the caller's CPU moves off it", put && c1.moves > c0.moves,
          "worker put there: %d, moves %ld", put, c1.moves - c0.moves);
}

/* ---- nesting ---- */

typedef struct {
    atomic_int inner_hits[64];
    atomic_int wrong_slot, not_inside;
} nest_ctx;

typedef struct {
    nest_ctx *n;
    int outer_slot;
    int64_t base;
} inner_arg;

static void inner_chunk(void *ctx, int64_t b, int64_t e, int slot)
{
    inner_arg *a = ctx;
    if (slot != a->outer_slot) atomic_store(&a->n->wrong_slot, 1);
    for (int64_t i = b; i < e; i++) atomic_fetch_add(&a->n->inner_hits[a->base + i], 1);
}

static void outer_chunk(void *ctx, int64_t b, int64_t e, int slot)
{
    nest_ctx *n = ctx;
    if (!nb__in_parallel()) atomic_store(&n->not_inside, 1);
    for (int64_t i = b; i < e; i++) {
        inner_arg a = {n, slot, i * 8};
        nb__parallel(8, 1, inner_chunk, &a); /* runs inline on this thread */
    }
}

static void nesting(void)
{
    nb_set_threads(2);
    static nest_ctx n;
    for (int i = 0; i < 64; i++) atomic_store(&n.inner_hits[i], 0);
    nb__parallel(8, 1, outer_chunk, &n);
    int good = 1;
    for (int i = 0; i < 64; i++) good &= atomic_load(&n.inner_hits[i]) == 1;
    CHECK("a call from inside a chunk runs every index once", good, "an inner index ran 0 or 2+ times");
    CHECK("... on the calling chunk's slot", !atomic_load(&n.wrong_slot), "the inner call used another slot");
    CHECK("nb__in_parallel() inside a chunk", !atomic_load(&n.not_inside), "it said 0");
    CHECK("nb__in_parallel() outside", !nb__in_parallel(), "it said 1");
}

/* ---- two callers at once ---- */

#define CONC 3000
static atomic_int conc_hits[2][CONC];

static void conc_chunk(void *ctx, int64_t b, int64_t e, int slot)
{
    atomic_int *h = ctx;
    for (int64_t i = b; i < e; i++) atomic_fetch_add(&h[i], 1);
}

static void *conc_thread(void *arg)
{
    atomic_int *h = arg;
    for (int r = 0; r < 300; r++) nb__parallel(CONC, 7 + r % 50, conc_chunk, h);
    return NULL;
}

static void concurrent(void)
{
    nb_set_threads(2);
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < CONC; i++) atomic_store(&conc_hits[k][i], 0);
    pthread_t a, b;
    int ok = pthread_create(&a, NULL, conc_thread, conc_hits[0]) == 0;
    ok = ok && pthread_create(&b, NULL, conc_thread, conc_hits[1]) == 0;
    if (ok) {
        pthread_join(a, NULL);
        pthread_join(b, NULL);
    }
    int good = ok;
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < CONC; i++) good &= atomic_load(&conc_hits[k][i]) == 300;
    CHECK("two threads calling at once: every index of both 300 times", good, "a count differs");
}

#ifndef NB_TEST_POOL_ONLY
/* ---- one count for the process ---- */

static void process_wide(void)
{
    nb_set_threads(3);
    nb_ctx *a = nb_ctx_new(NULL);
    CHECK("a context made with threads = 0 keeps the process's count", nb_ctx_threads(a) == 3, "%d", nb_ctx_threads(a));
    nb_ctx *b = nb_ctx_new(&(nb_ctx_opts){.threads = 2});
    CHECK("a context made with threads = 2 sets it for every context", nb_ctx_threads(a) == 2 && nb_threads() == 2,
          "%d %d", nb_ctx_threads(a), nb_threads());
    nb_set_threads(1);
    CHECK("nb_set_threads reaches existing contexts", nb_ctx_threads(a) == 1 && nb_ctx_threads(b) == 1, "%d %d",
          nb_ctx_threads(a), nb_ctx_threads(b));
    nb_set_threads(0);
    CHECK("nb_set_threads(0): back to the default (>= 1)", nb_threads() >= 1, "%d", nb_threads());
    nb_ctx_free(a);
    nb_ctx_free(b);
}

/* ---- the same bits on any count and pool ---- */

static float ref_out[3][1 << 16];
static int64_t ref_n[3] = {-1, -1, -1};

static void fill(nb_tensor *t, nb_rng *r, float scale)
{
    float *d = nb_tensor_data(t);
    for (int64_t i = 0; i < nb_tensor_numel(t); i++) d[i] = nb_rng_normal(r) * scale;
}

/* One training step on a small conv net; its loss, gradients and updated weights into out. */
static int64_t step(float *out, int64_t NIMG)
{
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_rng r;
    nb_rng_seed(&r, 7);
    nb_tensor *x = nb_tensor_new(ctx, NB_F32, 4, (int64_t[]){NIMG, 3, 18, 18});
    nb_tensor *w1 = nb_tensor_new(ctx, NB_F32, 4, (int64_t[]){16, 3, 3, 3});
    nb_tensor *w2 = nb_tensor_new(ctx, NB_F32, 4, (int64_t[]){32, 16, 3, 3});
    nb_tensor *g = nb_tensor_new(ctx, NB_F32, 1, (int64_t[]){32});
    nb_tensor *bb = nb_tensor_new(ctx, NB_F32, 1, (int64_t[]){32});
    nb_tensor *fc = nb_tensor_new(ctx, NB_F32, 2, (int64_t[]){10, 32 * 4 * 4});
    nb_tensor *y = nb_tensor_new(ctx, NB_I64, 1, (int64_t[]){NIMG});
    fill(x, &r, 1.0f);
    fill(w1, &r, 0.3f);
    fill(w2, &r, 0.1f);
    fill(g, &r, 1.0f);
    fill(bb, &r, 0.1f);
    fill(fc, &r, 0.05f);
    for (int i = 0; i < NIMG; i++) nb_tensor_data_i64(y)[i] = i % 10;
    nb_tensor *params[] = {w1, w2, g, bb, fc};
    for (int i = 0; i < 5; i++) nb_tensor_set_requires_grad(params[i], 1);
    nb_tensor *h = nb_relu(nb_conv2d(x, w1, NULL, &(nb_conv2d_opts){.padding = {1, 1}}));
    h = nb_conv2d(h, w2, NULL, &(nb_conv2d_opts){.stride = {2, 2}, .padding = {1, 1}}); /* im2col + GEMM */
    h = nb_relu(nb_batch_norm(h, NULL, NULL, g, bb, 1, 0.1f, 1e-5f));
    h = nb_max_pool2d(h, &(nb_pool2d_opts){.kernel = {2, 2}});
    h = nb_reshape(h, 2, (int64_t[]){NIMG, 32 * 4 * 4});
    nb_tensor *loss = nb_cross_entropy(nb_linear(h, fc, NULL), y, NULL);
    int64_t n = 0;
    if (loss && nb_backward(loss) == NB_OK) {
        out[n++] = nb_tensor_item(loss);
        for (int i = 0; i < 5; i++) {
            int64_t k = nb_tensor_numel(params[i]);
            memcpy(out + n, nb_tensor_grad(params[i]), (size_t)k * sizeof(float));
            n += k;
        }
    }
    for (int i = 0; i < 5; i++) nb_tensor_free(params[i]);
    nb_tensor_free(x);
    nb_tensor_free(y);
    nb_ctx_free(ctx);
    return n;
}

static void same_bits(const char *pool)
{
    static float out[1 << 16];
    static const int threads[] = {1, 2, 3};
    static const int64_t batch[] = {12, 2, 1}; /* whole images a thread; images shared by the threads */
    for (int bi = 0; bi < 3; bi++)
        for (int t = 0; t < 3; t++) {
            nb_set_threads(threads[t]);
            int64_t n = step(out, batch[bi]);
            char label[200];
            snprintf(label, sizeof label, "%s pool, %d threads, batch %lld: a conv/BatchNorm/pool/linear training "
                     "step's loss and gradients equal the reference bit for bit",
                     pool, threads[t], (long long)batch[bi]);
            if (ref_n[bi] < 0) {
                CHECK(label, n > 0, "the step failed: %s", nb_last_error());
                ref_n[bi] = n;
                memcpy(ref_out[bi], out, (size_t)n * sizeof(float));
                continue;
            }
            int64_t d = 0;
            while (d < n && d < ref_n[bi] && out[d] == ref_out[bi][d]) d++;
            CHECK(label, n == ref_n[bi] && d == n, "%lld values, first differing %lld", (long long)n, (long long)d);
        }
}

#endif

int main(void)
{
    const char *pools[] = {"own", "omp"};
    for (int p = 0; p < 2; p++) {
        if (nb__pool_use(pools[p])) {
            printf("ok %s pool: not built (no OpenMP)\n", pools[p]);
            continue;
        }
        CHECK("nb__pool_kind names the pool in use", strcmp(nb__pool_kind(), pools[p]) == 0, "%s", nb__pool_kind());
        sizes(pools[p]);
        stalls(pools[p]);
        const char *adapt = getenv("NB_POOL_ADAPT");
        if (p == 0 && !(adapt && strcmp(adapt, "0") == 0)) { /* (NB_POOL_ADAPT=0 turns both off) */
            measured();
            crowded();
        }
#ifndef NB_TEST_POOL_ONLY
        same_bits(pools[p]);
#endif
        nesting();
    }
    nb__pool_use("own");
    concurrent();
#ifndef NB_TEST_POOL_ONLY
    process_wide();
#endif
    return check_failed_ ? 1 : 0;
}
