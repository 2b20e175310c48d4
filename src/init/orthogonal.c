/* orthogonal.c - torch.nn.init.orthogonal_(tensor, gain).
 *
 * As torch: the tensor is viewed as (rows = shape[0], cols = numel/rows); A ~ N(0,1)
 * of that shape is drawn row by row; when rows < cols A is transposed, so the
 * matrix factored is m×n with m >= n; A = QR; Q's column j is multiplied by
 * sign(R[j][j]) (which makes the result the unique Q with a positive diagonal R,
 * Haar-distributed); transposed back; times gain.
 *
 * The QR is Householder in double (torch uses LAPACK's geqrf/orgqr in float32),
 * with the matrix stored column-major, a: m×n, column j at a + j·m, as LAPACK does:
 * geqr2 leaves R on and above the diagonal and the reflector vectors v_j (with an
 * implicit 1 at row j) below it; org2r then forms Q's n columns in place. Large
 * matrices (m·n² above LAPACK_MIN_WORK) use OpenBLAS's LAPACK dgeqrf/dorgqr, which
 * are the same algorithm blocked. */
#include "core/error.h"
#include "core/tensor.h"
#include "core/ctx.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LAPACK_MIN_WORK 1e9 /* m·n² multiply-adds: about a second unblocked */

/* Apply H_j = I - tau·v·vᵀ, v = (1, a[j+1..m) of column j), to the columns k > j
 * of a (m×n, column-major): c ← c - tau·v·(vᵀc). */
static void apply_reflector(double *a, int m, int n, int j, double tau)
{
    const double *col = a + (size_t)j * m;
    for (int k = j + 1; k < n; k++) {
        double *c = a + (size_t)k * m;
        double dot = c[j];
        for (int i = j + 1; i < m; i++) dot += col[i] * c[i];
        dot *= tau;
        c[j] -= dot;
        for (int i = j + 1; i < m; i++) c[i] -= dot * col[i];
    }
}

/* Householder QR of a (m×n, column-major, m >= n): R in the upper triangle, v_j
 * below the diagonal, the reflector scales in tau (H_j = I - tau_j v_j v_jᵀ). */
static void geqr2(double *a, int m, int n, double *tau)
{
    for (int j = 0; j < n; j++) {
        double *col = a + (size_t)j * m;
        double xnorm = 0;
        for (int i = j + 1; i < m; i++) xnorm += col[i] * col[i];
        xnorm = sqrt(xnorm);
        double alpha = col[j];
        if (xnorm == 0) { /* already zero below the diagonal: H = I */
            tau[j] = 0;
            continue;
        }
        double beta = -copysign(hypot(alpha, xnorm), alpha);
        tau[j] = (beta - alpha) / beta;
        double scale = 1.0 / (alpha - beta);
        for (int i = j + 1; i < m; i++) col[i] *= scale;
        col[j] = beta;
        apply_reflector(a, m, n, j, tau[j]); /* to the columns on the right */
    }
}

/* Overwrite the output of geqr2 with Q's first n columns (LAPACK's org2r). */
static void org2r(double *a, int m, int n, const double *tau)
{
    for (int j = n - 1; j >= 0; j--) {
        double *col = a + (size_t)j * m;
        apply_reflector(a, m, n, j, tau[j]); /* to the columns already formed on its right */
        for (int i = j + 1; i < m; i++) col[i] *= -tau[j];
        col[j] = 1 - tau[j];
        for (int i = 0; i < j; i++) col[i] = 0;
    }
}

#ifdef NB_HAVE_OPENBLAS
#include "kernels/lapack.h"

/* geqrf + orgqr; the diagonal of R into d. NB_ERR_MEM or NB_ERR_ARG on failure. */
static nb_status qr_lapack(double *a, int m, int n, double *tau, double *d)
{
    int info = 0, lwork = -1;
    double q1 = 0, q2 = 0;
    dgeqrf_(&m, &n, a, &m, tau, &q1, &lwork, &info);
    if (info == 0) dorgqr_(&m, &n, &n, a, &m, tau, &q2, &lwork, &info);
    if (info != 0) return nb__fail(NB_ERR_ARG, "orthogonal init: LAPACK workspace query failed (info %d)", info);
    lwork = (int)fmax(fmax(q1, q2), (double)n);
    double *work = malloc(sizeof(double) * (size_t)lwork);
    if (!work) return nb__fail(NB_ERR_MEM, "out of memory in orthogonal init");
    dgeqrf_(&m, &n, a, &m, tau, work, &lwork, &info);
    if (info == 0) {
        for (int j = 0; j < n; j++) d[j] = a[(size_t)j * m + j];
        dorgqr_(&m, &n, &n, a, &m, tau, work, &lwork, &info);
    }
    free(work);
    if (info != 0) return nb__fail(NB_ERR_ARG, "orthogonal init: LAPACK QR failed (info %d)", info);
    return NB_OK;
}
#endif

nb_status nb_init_orthogonal(nb_tensor *t, double gain, nb_rng *r)
{
    if (!t) return nb__fail(NB_ERR_ARG, "orthogonal init: the tensor is NULL");
    if (t->dtype != NB_F32) return nb__fail(NB_ERR_ARG, "orthogonal init: needs an F32 tensor");
    if (t->ndim < 2)
        return nb__fail(NB_ERR_SHAPE, "orthogonal init: only tensors with 2 or more dimensions are supported "
                        "(got %d)", t->ndim);
    if (!isfinite(gain)) return nb__fail(NB_ERR_ARG, "orthogonal init: gain must be finite (got %g)", gain);
    if (t->numel == 0) return NB_OK; /* torch: a no-op */
    if (!r) r = &t->ctx->rng;
    int64_t rows = t->shape[0], cols = t->numel / rows;
    int transpose = rows < cols;
    int64_t m = transpose ? cols : rows, n = transpose ? rows : cols;
    if (m > INT32_MAX / 2)
        return nb__fail(NB_ERR_SHAPE, "orthogonal init: a %lld x %lld matrix is too large", (long long)rows,
                        (long long)cols);
    double *a = malloc(sizeof(double) * (size_t)(m * n)), *tau = malloc(sizeof(double) * (size_t)n),
           *d = malloc(sizeof(double) * (size_t)n);
    if (!a || !tau || !d) {
        free(a), free(tau), free(d);
        return nb__fail(NB_ERR_MEM, "out of memory in orthogonal init (%lld x %lld doubles)", (long long)m,
                        (long long)n);
    }
    /* a = A (rows × cols) or Aᵀ, column-major m×n: element (i, j) of a at a[j·m + i] */
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) {
            double x = nb_rng_normal(r);
            if (transpose) a[(size_t)(i * m + j)] = x; /* a(j, i) */
            else a[(size_t)(j * m + i)] = x;           /* a(i, j) */
        }
    nb_status st = NB_OK;
#ifdef NB_HAVE_OPENBLAS
    if ((double)m * (double)n * (double)n > LAPACK_MIN_WORK) {
        st = qr_lapack(a, (int)m, (int)n, tau, d);
    } else
#endif
    {
        geqr2(a, (int)m, (int)n, tau);
        for (int64_t j = 0; j < n; j++) d[j] = a[(size_t)(j * m + j)];
        org2r(a, (int)m, (int)n, tau);
    }
    if (st == NB_OK) {
        float *out = nb__f(t);
        nb__bump_version(t);
        for (int64_t j = 0; j < n; j++) {
            double s = (d[j] > 0 ? 1.0 : d[j] < 0 ? -1.0 : 0.0) * gain;
            const double *q = a + (size_t)(j * m);
            /* Q(i, j)·s goes to out(i, j), or to out(j, i) when transposed */
            if (transpose)
                for (int64_t i = 0; i < m; i++) out[j * cols + i] = (float)(q[i] * s);
            else
                for (int64_t i = 0; i < m; i++) out[i * cols + j] = (float)(q[i] * s);
        }
    }
    free(a), free(tau), free(d);
    return st;
}
