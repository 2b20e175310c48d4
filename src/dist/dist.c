/* dist.c - the process group: torch.distributed's init_process_group("mpi"),
 * get_rank, get_world_size, all_reduce, broadcast, over MPI (Open MPI) when the
 * library is built with it (NB_HAVE_MPI: the Makefile finds mpicc), and a group of
 * one process otherwise.
 *
 * MPI is initialised only when the process was started by a launcher (mpirun sets
 * OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK): a plain `nabla train` never touches
 * MPI, whatever the build. Thread level MPI_THREAD_FUNNELED: every collective is
 * called from the thread that initialised MPI (nabla's OpenMP threads never call
 * MPI). Errors on communicators stay fatal (MPI_ERRORS_ARE_FATAL): when a rank dies,
 * Open MPI ends the whole job, and mpirun prints which rank it was. */
#include "dist/dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef NB_HAVE_MPI
#include <mpi.h>
#endif

static int g_rank = 0, g_world = 1, g_local = 1, g_inited = 0;
static double g_wait = 0;
#ifdef NB_HAVE_MPI
static int g_mpi = 0;     /* nb_dist_init called MPI_Init_thread */
static int g_comm_ok = 0; /* g_comm was made */
static MPI_Comm g_comm;
#endif

double nb__dist_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void nb__dist_add_wait(double s) { g_wait += s; }
double nb_dist_comm_seconds(void) { return g_wait; }

/* The world size a launcher announced in the environment, or 0 when none did. */
static int launcher_size(void)
{
    const char *v[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE", "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        const char *s = getenv(v[i]);
        if (s && atoi(s) > 0) return atoi(s);
    }
    return getenv("PMIX_RANK") ? 1 : 0;
}

int nb_dist_available(void)
{
#ifdef NB_HAVE_MPI
    return 1;
#else
    return 0;
#endif
}

nb_status nb_dist_init(int *argc, char ***argv)
{
    if (g_inited) return NB_OK;
    int n = launcher_size();
#ifdef NB_HAVE_MPI
    if (n > 0) {
        int provided = 0, already = 0;
        MPI_Initialized(&already);
        if (!already && MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
            return nb__fail(NB_ERR_STATE, "nb_dist_init: MPI_Init_thread failed");
        g_mpi = !already;
        MPI_Comm_dup(MPI_COMM_WORLD, &g_comm);
        g_comm_ok = 1;
        MPI_Comm_rank(g_comm, &g_rank);
        MPI_Comm_size(g_comm, &g_world);
        MPI_Comm local;
        MPI_Comm_split_type(g_comm, MPI_COMM_TYPE_SHARED, g_rank, MPI_INFO_NULL, &local);
        MPI_Comm_size(local, &g_local);
        MPI_Comm_free(&local);
    }
#else
    (void)argc, (void)argv;
    if (n > 1)
        return nb__fail(NB_ERR_STATE,
                        "nb_dist_init: started as one of %d ranks, but this nabla was built without MPI; install "
                        "Debian's libopenmpi-dev and openmpi-bin and rebuild (make clean && make)",
                        n);
#endif
    g_inited = 1;
    return NB_OK;
}

int nb_dist_rank(void) { return g_rank; }
int nb_dist_world(void) { return g_world; }
int nb_dist_local_world(void) { return g_local; }

void nb_dist_finalize(void)
{
#ifdef NB_HAVE_MPI
    if (g_comm_ok) MPI_Comm_free(&g_comm);
    if (g_mpi) MPI_Finalize();
    g_mpi = g_comm_ok = 0;
#endif
    g_inited = 0;
    g_rank = 0, g_world = 1, g_local = 1;
}

void nb_dist_abort(int code)
{
#ifdef NB_HAVE_MPI
    if (g_inited && g_world > 1) {
        fflush(stdout);
        fflush(stderr);
        MPI_Abort(g_comm, code ? code : 1);
    }
#else
    (void)code;
#endif
}

void nb_dist_seed_ctx(nb_ctx *ctx, uint64_t seed)
{
    if (!ctx) return;
    ctx->seed = g_rank == 0 ? seed : nb__mix64(seed ^ nb__mix64(0x6a09e667f3bcc909ULL + (uint64_t)g_rank));
}

nb_status nb_dist_allreduce(double *v, int n, nb_dist_op op)
{
    if (n < 0 || (n && !v)) return nb__fail(NB_ERR_ARG, "nb_dist_allreduce: %d values at %p", n, (void *)v);
    if (op != NB_DIST_SUM && op != NB_DIST_MIN && op != NB_DIST_MAX)
        return nb__fail(NB_ERR_ARG, "nb_dist_allreduce: unknown op %d", (int)op);
#ifdef NB_HAVE_MPI
    if (g_world > 1 && n > 0) {
        double t0 = nb__dist_now();
        MPI_Op mop = op == NB_DIST_SUM ? MPI_SUM : op == NB_DIST_MIN ? MPI_MIN : MPI_MAX;
        MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, mop, g_comm);
        g_wait += nb__dist_now() - t0;
    }
#endif
    return NB_OK;
}

nb_status nb_dist_broadcast(void *buf, size_t bytes, int root)
{
    if (root < 0 || root >= g_world)
        return nb__fail(NB_ERR_ARG, "nb_dist_broadcast: root %d is not a rank of %d", root, g_world);
    if (bytes && !buf) return nb__fail(NB_ERR_ARG, "nb_dist_broadcast: NULL buffer");
#ifdef NB_HAVE_MPI
    if (g_world > 1) {
        double t0 = nb__dist_now();
        for (size_t off = 0; off < bytes;) { /* MPI counts are ints */
            size_t k = bytes - off < ((size_t)1 << 30) ? bytes - off : ((size_t)1 << 30);
            MPI_Bcast((char *)buf + off, (int)k, MPI_BYTE, root, g_comm);
            off += k;
        }
        g_wait += nb__dist_now() - t0;
    }
#endif
    return NB_OK;
}

nb_status nb_dist_agree(nb_status st)
{
    if (g_world == 1) return st;
    /* the lowest failing rank (or g_world when none) */
    double v[1] = {st ? (double)g_rank : (double)g_world};
    nb_dist_allreduce(v, 1, NB_DIST_MIN);
    int bad = (int)v[0];
    if (bad >= g_world) return NB_OK;
    struct {
        int code;
        char msg[4000];
    } m = {0};
    if (bad == g_rank) {
        m.code = (int)st;
        snprintf(m.msg, sizeof m.msg, "%s", nb_last_error());
    }
    nb_dist_broadcast(&m, sizeof m, bad);
    m.msg[sizeof m.msg - 1] = 0;
    return nb__fail((nb_status)m.code, "rank %d: %s", bad, m.msg);
}

/* ---- nonblocking all-reduce for DDP's buckets ---- */

struct nb__dist_req {
#ifdef NB_HAVE_MPI
    MPI_Request r;
#endif
    int live;
};

nb__dist_req *nb__dist_req_new(void)
{
    nb__dist_req *q = calloc(1, sizeof *q);
    if (!q) nb__fail(NB_ERR_MEM, "out of memory for an all-reduce request");
    return q;
}

nb_status nb__dist_iallreduce_f32(float *buf, int64_t n, nb__dist_req *q)
{
    if (n > 2147483647) return nb__fail(NB_ERR_ARG, "all-reduce of %lld values: more than MPI's int count", (long long)n);
#ifdef NB_HAVE_MPI
    if (g_world > 1) {
        MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, g_comm, &q->r);
        q->live = 1;
    }
#else
    (void)buf, (void)q;
#endif
    return NB_OK;
}

void nb__dist_progress(nb__dist_req **reqs, int n)
{
#ifdef NB_HAVE_MPI
    for (int i = 0; i < n; i++)
        if (reqs[i]->live) {
            int done = 0;
            MPI_Test(&reqs[i]->r, &done, MPI_STATUS_IGNORE);
            if (done) reqs[i]->live = 0;
        }
#else
    (void)reqs, (void)n;
#endif
}

void nb__dist_wait_all(nb__dist_req **reqs, int n)
{
    double t0 = nb__dist_now();
#ifdef NB_HAVE_MPI
    for (int i = 0; i < n; i++)
        if (reqs[i]->live) {
            MPI_Wait(&reqs[i]->r, MPI_STATUS_IGNORE);
            reqs[i]->live = 0;
        }
#else
    (void)reqs, (void)n;
#endif
    g_wait += nb__dist_now() - t0;
}
