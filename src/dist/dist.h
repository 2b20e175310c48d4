/* dist.h - what src/dist's files share: the few collectives DDP and SyncBatchNorm use,
 * over MPI when built with it (NB_HAVE_MPI, dist.c) and trivial for one process.
 * Every call is collective: all ranks make the same calls in the same order, from the
 * thread that called nb_dist_init (MPI_THREAD_FUNNELED). */
#ifndef NB_DIST_H
#define NB_DIST_H

#include "core/error.h"
#include "core/tensor.h"
#include "core/ctx.h"
#include "core/random.h"

typedef struct nb__dist_req nb__dist_req; /* an outstanding nonblocking all-reduce */

/* A request (free with free()); NULL with a message when out of memory. */
nb__dist_req *nb__dist_req_new(void);
/* Start buf[0..n) = Σ over ranks of buf (in place, F32) on request q (not live). */
nb_status nb__dist_iallreduce_f32(float *buf, int64_t n, nb__dist_req *q);
/* Let MPI progress the live requests among reqs[0..n) (returns at once). */
void nb__dist_progress(nb__dist_req **reqs, int n);
/* Wait for the live requests among reqs[0..n); the time spent here counts as
 * communication wait (nb_dist_comm_seconds). */
void nb__dist_wait_all(nb__dist_req **reqs, int n);
/* Seconds since an arbitrary start (monotonic). */
double nb__dist_now(void);
/* Add seconds to the communication-wait total. */
void nb__dist_add_wait(double s);

#endif
