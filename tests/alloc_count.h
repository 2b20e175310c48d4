/* alloc_count.h - for the no-allocation tests (test_noalloc, test_text_noalloc):
 * replaces malloc and friends in the including executable (glibc's __libc_*) and,
 * between count_start() and count_stop(), counts the allocations by who called:
 * OpenBLAS's own (its sgemm job tables) apart from everyone else's.
 * Include it once, in a build without AddressSanitizer (which owns malloc). */
#ifndef NB_TESTS_ALLOC_COUNT_H
#define NB_TESTS_ALLOC_COUNT_H

#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/resource.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static atomic_long g_allocs, g_blas_allocs;
static void *_Atomic g_first_caller; /* the first counted allocation's caller, for the message */
static atomic_int g_counting;
static _Thread_local int t_inside; /* dladdr may allocate: do not count ourselves */

static long g_before, g_blas_before;

static int from_openblas(void *caller)
{
    Dl_info info;
    return dladdr(caller, &info) && info.dli_fname && strstr(info.dli_fname, "openblas");
}

#define COUNT()                                                                                     \
    do {                                                                                            \
        if (atomic_load_explicit(&g_counting, memory_order_relaxed) && !t_inside) {                 \
            t_inside = 1;                                                                           \
            void *c_ = __builtin_return_address(0);                                                 \
            if (from_openblas(c_)) atomic_fetch_add(&g_blas_allocs, 1);                             \
            else if (atomic_fetch_add(&g_allocs, 1) == g_before) atomic_store(&g_first_caller, c_); \
            t_inside = 0;                                                                           \
        }                                                                                           \
    } while (0)
void *malloc(size_t n) { COUNT(); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { COUNT(); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { COUNT(); return __libc_realloc(p, n); }
void *aligned_alloc(size_t al, size_t n) { COUNT(); return __libc_memalign(al, n); }
void *memalign(size_t al, size_t n) { COUNT(); return __libc_memalign(al, n); }
int posix_memalign(void **p, size_t al, size_t n)
{
    COUNT();
    *p = __libc_memalign(al, n);
    return *p ? 0 : ENOMEM;
}
void free(void *p) { __libc_free(p); }


/* Count from now on; count_stop ends it and returns the allocations since (OpenBLAS's
 * into *blas unless NULL). */
static void count_start(void)
{
    g_before = atomic_load(&g_allocs);
    g_blas_before = atomic_load(&g_blas_allocs);
    atomic_store(&g_first_caller, NULL);
    atomic_store(&g_counting, 1);
}

static long count_stop(long *blas)
{
    atomic_store(&g_counting, 0);
    if (blas) *blas = atomic_load(&g_blas_allocs) - g_blas_before;
    return atomic_load(&g_allocs) - g_before;
}

/* Who made the first allocation counted since count_start: "function (library)", for a
 * failure message (the symbol needs -rdynamic for the executable's own functions). */
static const char *count_culprit(void)
{
    static char buf[256];
    void *c = atomic_load(&g_first_caller);
    Dl_info info;
    if (!c) return "none";
    if (dladdr(c, &info) && info.dli_fname)
        snprintf(buf, sizeof buf, "%s+%#lx in %s", info.dli_sname ? info.dli_sname : "?",
                 (unsigned long)((char *)c - (char *)(info.dli_saddr ? info.dli_saddr : info.dli_fbase)), info.dli_fname);
    else
        snprintf(buf, sizeof buf, "%p", c);
    return buf;
}

#endif
