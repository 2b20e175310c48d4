/* lapack.h - the LAPACK routines nabla calls (Fortran calling convention, 32-bit
 * integers), from libopenblas, whose Debian package ships no lapack.h. Only with
 * NB_HAVE_OPENBLAS. */
#ifndef NB_KERNELS_LAPACK_H
#define NB_KERNELS_LAPACK_H

/* QR factorization of the column-major m x n matrix a (lda rows): R on and above
 * the diagonal, the reflectors below it and in tau. */
void dgeqrf_(const int *m, const int *n, double *a, const int *lda, double *tau, double *work, const int *lwork,
             int *info);
/* The m x n matrix Q with orthonormal columns from dgeqrf_'s k reflectors, over a. */
void dorgqr_(const int *m, const int *n, const int *k, double *a, const int *lda, const double *tau,
             double *work, const int *lwork, int *info);

#endif
