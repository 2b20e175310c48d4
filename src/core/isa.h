/* isa.h - the instruction set nabla's own kernels run (src/core/isa.c).
 *
 * The library is built for any x86-64; the hot kernels (src/kernels/) are compiled once
 * per ISA and the one to run is chosen here, once per process: NB_ISA=avx512|avx2|generic
 * if set (an error if unknown or not supported by this CPU), else the best the CPU has. */
#ifndef NB_CORE_ISA_H
#define NB_CORE_ISA_H

enum { NB__ISA_GENERIC = 0, NB__ISA_AVX2 = 1, NB__ISA_AVX512 = 2, NB__ISA_COUNT = 3 };

/* The kernels' ISA (decided at the first call; a bad NB_ISA falls back to the CPU's best,
 * and nb__isa_check says what was wrong). */
int nb__isa(void);
/* "avx512", "avx2", "generic" */
const char *nb__isa_name(int isa);
/* Whether this CPU can run isa. */
int nb__isa_supported(int isa);
/* NB_OK, or NB_ERR_ARG with a message naming NB_ISA's value when it is unknown or not
 * supported by this CPU (nb_ctx_new calls it). */
int nb__isa_check(void);
/* For tests: run isa from now on (it must be supported); returns the previous one, or
 * -1 (nothing changed) if this CPU cannot run isa. Not for use while kernels run. */
int nb__isa_set(int isa);

#endif
