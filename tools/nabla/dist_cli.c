/* dist_cli.c - the CLI's side of data parallelism: starting the process group with a
 * sensible thread count per rank, and sharded evaluation. */
#include "dist_cli.h"
#include "cli.h"

#include <math.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

int cli_dist_start(const char *cmd, long *threads)
{
    if (nb_dist_init(NULL, NULL)) {
        cli_error("%s: %s", cmd, nb_last_error());
        return 1;
    }
    if (nb_dist_world() == 1 || *threads > 0 || getenv("NB_THREADS")) return 0;
    long cores = sysconf(_SC_NPROCESSORS_ONLN), local = nb_dist_local_world(), t = cores / (local > 0 ? local : 1);
    cpu_set_t set;
    if (!sched_getaffinity(0, sizeof set, &set) && CPU_COUNT(&set) < t) t = CPU_COUNT(&set); /* mpirun's binding */
    *threads = t > 0 ? t : 1;
    return 0;
}

nb_status cli_dist_evaluate(nb_module *m, nb_ddp *ddp, nb_dataset *shard, nb_eval_result *out)
{
    nb_status st = ddp ? nb_ddp_broadcast_buffers(ddp) : NB_OK;
    nb_eval_result r = {0};
    if (!st) st = nb_evaluate(m, shard, 1000, &r);
    if (nb_dist_world() == 1) {
        if (!st) *out = r;
        return st;
    }
    if ((st = nb_dist_agree(st))) return st;
    double v[3] = {r.loss * (double)r.count, round(r.accuracy * (double)r.count), (double)r.count};
    nb_dist_allreduce(v, 3, NB_DIST_SUM);
    out->count = (int64_t)v[2];
    out->loss = v[2] > 0 ? v[0] / v[2] : 0;
    out->accuracy = v[2] > 0 ? v[1] / v[2] : 0;
    return NB_OK;
}
