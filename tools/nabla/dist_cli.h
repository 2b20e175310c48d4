/* dist_cli.h - what `nabla train` and `nabla bench` add under mpirun (docs/distributed.md). */
#ifndef NB_DIST_CLI_H
#define NB_DIST_CLI_H
#include "nabla.h"

/* nb_dist_init for command cmd; prints the error and returns 1 when it fails. When
 * several ranks run and *threads is 0, sets it to this rank's share of the cores it
 * may run on (its CPU affinity, the machine's cores split among the local ranks). */
int cli_dist_start(const char *cmd, long *threads);
/* nb_evaluate over every rank's shard of d (shard: this rank's nb_dataset_shard, or d
 * itself for one process), the counts all-reduced: every rank gets the whole set's
 * result. ddp's buffers are broadcast first so every rank evaluates rank 0's model. */
nb_status cli_dist_evaluate(nb_module *m, nb_ddp *ddp, nb_dataset *shard, nb_eval_result *out);
#endif
