/* wait_policy.c - how the CLI's OpenMP threads wait: OMP_WAIT_POLICY=passive unless the
 * environment says otherwise (OMP_WAIT_POLICY or GOMP_SPINCOUNT set).
 *
 * nabla's kernels run on its own pool (src/core/threadpool.c), which spins briefly and
 * then sleeps by itself; OpenMP's threads remain for NB_POOL=omp (and NB_FOR), and
 * passive ones never spin beside the pool's workers.
 *
 * libgomp's default is to spin about 3 ms at every barrier before sleeping. On a machine
 * where other processes hold the cores, the spinning thread takes the time slice the
 * descheduled one needs: a 2-thread cnn trained 3-10x slower than on 1 thread and its
 * batch-1 latency went from ~40 us to milliseconds (BENCHMARKS.md, "Busy machine").
 * Passive threads sleep on a futex at once. libgomp reads the variable once, when it is
 * loaded, before main (and before any constructor or .preinit_array entry whose
 * setenv would survive libc's start-up), so the CLI sets it and executes itself again;
 * a program linking libnabla sets it in its own environment (docs/internals.md). */
#include "cli.h"

#include <stdlib.h>
#include <unistd.h>

void cli_wait_policy(char **argv)
{
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
    if (setenv("OMP_WAIT_POLICY", "passive", 1)) return;
    execv("/proc/self/exe", argv); /* returns only on failure: then libgomp's default stays */
}
