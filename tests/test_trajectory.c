/* test_trajectory.c - the mlp trained by nabla follows PyTorch step by step.
 * From the PyTorch-initialised weights of tests/goldens/traj_mlp.safetensors
 * (tools/goldens/gen_trajectory.py), 50 steps of SGD(momentum, weight decay) and
 * 50 of AdamW + clip_grad_norm on the first Fashion-MNIST batches in file order:
 * every step's loss within 1e-4 relative of PyTorch's. */
#include "check.h"
#include "nabla.h"

#include <unistd.h>

#define GOLDEN "tests/goldens/traj_mlp.safetensors"

static void run(const char *name, nb_safetensors *g, nb_dataset *d)
{
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.seed = 0, .threads = 2});
    nb_module *m = nb_model_new(ctx, "mlp", NULL);
    char label[128];
    snprintf(label, sizeof label, "%s: load PyTorch initial weights", name);
    CHECK(label, m && nb_load_safetensors(m, GOLDEN, 0) == NB_OK, "%s", nb_last_error());
    int n;
    nb_tensor **params = nb_module_parameters(m, &n);
    int adamw = !strcmp(name, "adamw");
    nb_optim *opt = adamw ? nb_adamw_new(params, n, &(nb_adam_opts){.lr = 1e-3f, .weight_decay = 1e-2f})
                          : nb_sgd_new(params, n, &(nb_sgd_opts){.lr = 0.05f, .momentum = 0.9f, .weight_decay = 5e-4f});
    nb_loader *l = nb_loader_new(ctx, d, &(nb_loader_opts){.batch_size = 128});
    char key[64];
    snprintf(key, sizeof key, "loss.%s", name);
    nb_tensor *want = nb_safetensors_get(g, ctx, key);
    snprintf(key, sizeof key, "norm.%s", name);
    nb_tensor *want_norm = adamw ? nb_safetensors_get(g, ctx, key) : NULL;
    if (!opt || !l || !want || (adamw && !want_norm)) {
        CHECK(name, 0, "setup failed: %s", nb_last_error());
        return;
    }
    float got[50], gotn[50];
    nb_loader_start_epoch(l, 0);
    for (int s = 0; s < 50; s++) {
        nb_ctx_reset(ctx);
        nb_tensor *x, *y;
        nb_loader_next(l, &x, &y);
        nb_optim_zero_grad(opt);
        nb_tensor *loss = nb_cross_entropy(nb_module_forward(m, x), y, NULL);
        got[s] = nb_tensor_item(loss);
        nb_backward(loss);
        if (adamw) gotn[s] = nb_clip_grad_norm(params, n, 1.0f, 2.0f);
        nb_optim_step(opt);
    }
    float w[50], wn[50];
    for (int s = 0; s < 50; s++) {
        w[s] = (float)nb_tensor_data(want)[s];
        if (adamw) wn[s] = nb_tensor_data(want_norm)[s];
    }
    snprintf(label, sizeof label, "%s: 50 step losses equal PyTorch's (1e-4 rel)", name);
    CHECK_CLOSE(label, got, w, 50, 1e-4);
    if (adamw) {
        snprintf(label, sizeof label, "%s: clip_grad_norm totals equal PyTorch's (1e-4 rel)", name);
        CHECK_CLOSE(label, gotn, wn, 50, 1e-4);
    }
    snprintf(key, sizeof key, "final.%s.5.weight", name);
    nb_tensor *fw = nb_safetensors_get(g, ctx, key);
    int cnt;
    const nb_named_tensor *st = nb_module_state(m, &cnt);
    nb_tensor *w5 = NULL;
    for (int i = 0; i < cnt; i++)
        if (!strcmp(st[i].name, "5.weight")) w5 = st[i].tensor;
    snprintf(label, sizeof label, "%s: final 5.weight equals PyTorch's (1e-3 rel, floor 1e-2)", name);
    if (fw && w5) {
        long at;
        double r = check_max_rel(nb_tensor_data(w5), nb_tensor_data(fw), nb_tensor_numel(fw), 1e-2, &at);
        CHECK(label, r < 1e-3, "max rel %g at %ld", r, at);
    } else {
        CHECK(label, 0, "missing: %s", nb_last_error());
    }
    nb_tensor_free(fw);
    nb_tensor_free(want);
    nb_tensor_free(want_norm);
    nb_loader_free(l);
    nb_optim_free(opt);
    nb_module_free(m);
    nb_ctx_free(ctx);
}

int main(void)
{
    if (access("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", R_OK)) {
        printf("SKIP trajectory: Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)\n");
        return 0;
    }
    nb_safetensors *g = nb_safetensors_open(GOLDEN);
    nb_dataset *d = nb_fashion_mnist_new(NULL, 1);
    CHECK("open goldens and dataset", g && d, "%s", nb_last_error());
    if (!g || !d) CHECK_DONE();
    run("sgd", g, d);
    run("adamw", g, d);
    nb_dataset_free(d);
    nb_safetensors_close(g);
    CHECK_DONE();
}
