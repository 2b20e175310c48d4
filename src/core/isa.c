/* isa.c - choosing the instruction set of the kernels at run time (core/isa.h).
 *
 * CPUID through __builtin_cpu_supports: AVX-512 needs avx512f/dq/bw/vl (what the
 * AVX-512 kernels are compiled for), AVX2 needs avx2 and fma. NB_ISA overrides the
 * choice; it is read once, at the first call. */
#include "core/error.h"
#include "core/isa.h"

#include <stdlib.h>
#include <string.h>

static const char *const NAMES[NB__ISA_COUNT] = {"generic", "avx2", "avx512"};

static int g_isa = -1;   /* chosen ISA, -1 before the first call */
static int g_bad = 0;    /* NB_ISA was unknown (1) or unsupported (2) */
static char g_env[32];   /* its value, for the message */

const char *nb__isa_name(int isa) { return isa >= 0 && isa < NB__ISA_COUNT ? NAMES[isa] : "unknown"; }

int nb__isa_supported(int isa)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    switch (isa) {
    case NB__ISA_GENERIC: return 1;
    case NB__ISA_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case NB__ISA_AVX512:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
               nb__isa_supported(NB__ISA_AVX2);
    default: return 0;
    }
#else
    return isa == NB__ISA_GENERIC;
#endif
}

static int choose(void)
{
    int best = NB__ISA_GENERIC;
    for (int i = NB__ISA_COUNT - 1; i > 0; i--)
        if (nb__isa_supported(i)) {
            best = i;
            break;
        }
    const char *e = getenv("NB_ISA");
    if (!e || !*e) return best;
    size_t n = strlen(e) < sizeof g_env - 1 ? strlen(e) : sizeof g_env - 1;
    memcpy(g_env, e, n);
    g_env[n] = 0;
    for (int i = 0; i < NB__ISA_COUNT; i++)
        if (!strcmp(e, NAMES[i])) {
            if (nb__isa_supported(i)) return i;
            g_bad = 2;
            return best;
        }
    g_bad = 1;
    return best;
}

int nb__isa(void)
{
    int v = __atomic_load_n(&g_isa, __ATOMIC_ACQUIRE);
    if (v >= 0) return v;
    v = choose(); /* two threads may both choose: they choose the same */
    __atomic_store_n(&g_isa, v, __ATOMIC_RELEASE);
    return v;
}

int nb__isa_check(void)
{
    nb__isa();
    if (g_bad == 1)
        return nb__fail(NB_ERR_ARG, "NB_ISA=%s: unknown instruction set (use avx512, avx2 or generic)", g_env);
    if (g_bad == 2)
        return nb__fail(NB_ERR_ARG, "NB_ISA=%s: this CPU does not support it (it runs %s)", g_env,
                        nb__isa_name(nb__isa()));
    return NB_OK;
}

int nb__isa_set(int isa)
{
    if (isa < 0 || isa >= NB__ISA_COUNT || !nb__isa_supported(isa)) return -1;
    int old = nb__isa();
    __atomic_store_n(&g_isa, isa, __ATOMIC_RELEASE);
    return old;
}

const char *nb_isa(void) { return nb__isa_check() == NB_OK ? nb__isa_name(nb__isa()) : NULL; }
