/* fuzz_checkpoint.c - libFuzzer target for checkpoints (nb_checkpoint_load): the
 * input is the checkpoint file, loaded into a small model (linear + batch norm)
 * with an SGD optimizer with momentum, as `train --resume` does. The loader must
 * refuse what does not fit without changing anything, and never crash. */
#include "fuzz_common.h"

static nb_module *g_m;
static nb_optim *g_opt;

static void setup(void)
{
    nb_ctx *ctx = fuzz_ctx();
    nb_module *kids[2] = {nb_linear_new(ctx, 3, 2, &(nb_linear_opts){0}), nb_batchnorm1d_new(ctx, 2, NULL)};
    g_m = nb_sequential_new(ctx, kids, 2);
    int n;
    nb_tensor **p = nb_module_parameters(g_m, &n);
    g_opt = nb_sgd_new(p, n, &(nb_sgd_opts){.lr = 0.1f, .momentum = 0.9f});
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_m) setup();
    char path[64];
    int fd = fuzz_file(data, size, path);
    if (fd < 0) return 0;
    nb_train_position pos;
    nb_checkpoint_load(path, g_m, g_opt, fuzz_ctx(), &pos);
    nb_checkpoint_load(path, g_m, NULL, fuzz_ctx(), NULL);
    close(fd);
    nb_clear_error();
    return 0;
}
