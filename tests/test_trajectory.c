/* test_trajectory.c - the mlp trained by nabla follows PyTorch step by step.
 * From the PyTorch-initialised weights of tests/goldens/traj_mlp.safetensors
 * (tools/goldens/gen_trajectory.py), 50 steps of SGD(momentum, weight decay) and
 * 50 of AdamW + clip_grad_norm on the first Fashion-MNIST batches in file order:
 * every step's loss within 1e-4 relative of PyTorch's.
 * The cnn (tests/goldens/traj_cnn.safetensors): from PyTorch's initial weights, 30
 * steps of SGD(0.05, momentum 0.9, weight decay 5e-4) in train mode with dropout 0
 * on the first batches in file order, against PyTorch's float64 run of the same
 * steps. From step 6 on this recipe amplifies rounding differences (the loss climbs
 * back to 2.26 at step 8): PyTorch's own float32 run ends 5% (loss) and 1.8
 * (relative, BatchNorm statistics) away from its float64 run. nabla's float32 run
 * stays within 6e-6 (losses) and 1.1e-4 of the largest value (statistics) of it, but
 * that is not a property a test can hold: adding the weight gradient's partial sums
 * in 1, 4 or 16 chunks instead of 8 (equally exact) moves the 30-step losses to
 * 1.6e-5, 6.5e-4 and 1.2e-3 and the statistics to 4.6e-4, 6.8e-4 and 1.1e-2. Checked:
 * the losses of the first 7 steps within 1e-3 (PyTorch's float32: 4.1e-4), the
 * statistics after 5 steps within 1e-2 (PyTorch: 2.7e-3), and the runs on 1 and 2
 * threads identical bit for bit; the 30-step figures are printed. */
#include "check.h"
#include "nabla.h"

#include <math.h>
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

#define GOLDEN_CNN "tests/goldens/traj_cnn.safetensors"

/* The BatchNorm running statistics against the golden's "<prefix>.<name>" after
 * `steps` steps: max |got - want| / max(|want|, 1% of max |want|) <= tol (an infinite
 * tol: the figures are printed, not checked). */
static void stats_check(nb_module *m, nb_safetensors *g, nb_ctx *ctx, int threads, const char *prefix, int steps,
                        double tol)
{
    char label[200], key[96];
    int cnt, stats = 0;
    const nb_named_tensor *st = nb_module_state(m, &cnt);
    for (int i = 0; i < cnt; i++) {
        if (!st[i].is_buffer || !strstr(st[i].name, "running")) continue;
        snprintf(key, sizeof key, "%s.%s", prefix, st[i].name);
        snprintf(label, sizeof label, "cnn (%d threads): %s after %d steps equals PyTorch's float64 run (%g rel)",
                 threads, st[i].name, steps, tol);
        nb_tensor *a = nb_safetensors_get(g, ctx, key);
        if (!a) {
            CHECK(label, 0, "missing %s: %s", key, nb_last_error());
            continue;
        }
        const float *want = nb_tensor_data(a);
        int64_t n = nb_tensor_numel(a);
        double mx = 0;
        for (int64_t k = 0; k < n; k++) mx = fmax(mx, fabs(want[k]));
        long at;
        double r = check_max_rel(nb_tensor_data(st[i].tensor), want, n, 0.01 * mx, &at);
        if (isinf(tol)) { /* reported, not checked */
            double d = 0;
            for (int64_t k = 0; k < n; k++) d = fmax(d, fabs((double)nb_tensor_data(st[i].tensor)[k] - want[k]));
            printf("    cnn (%d threads): %s after %d steps against PyTorch's float64 run: max rel err %.3g, largest "
                   "error %.3g of the largest value\n",
                   threads, st[i].name, steps, r, d / mx);
        } else {
            CHECK(label, r <= tol, "max rel err %.3g at %ld (got %.9g want %.9g)", r, at,
                  (double)nb_tensor_data(st[i].tensor)[at], (double)want[at]);
        }
        nb_tensor_free(a);
        stats++;
    }
    snprintf(label, sizeof label, "cnn (%d threads): all 4 running statistics found after %d steps", threads, steps);
    CHECK(label, stats == 4, "%d", stats);
}

/* The losses and running statistics of run_cnn's runs, by thread count (1, 2). */
static float cnn_loss[3][30], cnn_stats[3][512];
static int cnn_nstats[3];

static void run_cnn(nb_dataset *d, int threads)
{
    char label[160];
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.seed = 0, .threads = threads});
    nb_module *m = nb_model_new(ctx, "cnn", &(nb_model_opts){.dropout = 0.0f, .dropout_set = 1});
    nb_safetensors *g = nb_safetensors_open(GOLDEN_CNN);
    snprintf(label, sizeof label, "cnn (%d threads): load PyTorch initial weights", threads);
    CHECK(label, m && g && nb_load_safetensors(m, GOLDEN_CNN, 0) == NB_OK, "%s", nb_last_error());
    nb_tensor *want = g ? nb_safetensors_get(g, ctx, "loss64") : NULL;
    int n;
    nb_tensor **params = m ? nb_module_parameters(m, &n) : NULL;
    nb_optim *opt = params ? nb_sgd_new(params, n, &(nb_sgd_opts){.lr = 0.05, .momentum = 0.9, .weight_decay = 5e-4})
                           : NULL;
    nb_loader *l = nb_loader_new(ctx, d, &(nb_loader_opts){.batch_size = 128});
    if (!want || !opt || !l) {
        CHECK(label, 0, "setup failed: %s", nb_last_error());
        return;
    }
    nb_module_train(m, 1);
    float got[30], w[30];
    nb_loader_start_epoch(l, 0);
    for (int s = 0; s < 30; s++) {
        nb_ctx_reset(ctx);
        nb_tensor *x, *y;
        nb_loader_next(l, &x, &y);
        nb_optim_zero_grad(opt);
        nb_tensor *loss = nb_cross_entropy(nb_module_forward(m, x), y, NULL);
        got[s] = loss ? nb_tensor_item(loss) : NAN;
        if (loss) nb_backward(loss);
        nb_optim_step(opt);
        w[s] = (float)nb_tensor_data(want)[s];
        if (s == 4) stats_check(m, g, ctx, threads, "after564", 5, 1e-2);
    }
    /* Steps 1-7 come before the chaotic phase: PyTorch's own float32 losses are within
     * 4.1e-4 of float64 there (1e-3 at step 8, 5% by step 28). */
    snprintf(label, sizeof label, "cnn (%d threads): first 7 step losses equal PyTorch's float64 run (1e-3 rel)",
             threads);
    CHECK_CLOSE(label, got, w, 7, 1e-3);
    long at;
    printf("    cnn (%d threads): 30 step losses: max rel err %.3g against float64 (PyTorch float32: 5e-2)\n", threads,
           check_max_rel(got, w, 30, 1.0, &at));
    /* after 30 steps PyTorch's own float32 statistics are up to 1.8 (relative) off the
     * float64 ones: reported, not checked */
    stats_check(m, g, ctx, threads, "after64", 30, INFINITY);
    memcpy(cnn_loss[threads], got, sizeof got);
    int cnt;
    const nb_named_tensor *st = nb_module_state(m, &cnt);
    for (int i = 0; i < cnt; i++) {
        if (!st[i].is_buffer || !strstr(st[i].name, "running")) continue;
        int64_t k = nb_tensor_numel(st[i].tensor);
        if (cnn_nstats[threads] + k <= 512) memcpy(cnn_stats[threads] + cnn_nstats[threads], nb_tensor_data(st[i].tensor), (size_t)k * sizeof(float));
        cnn_nstats[threads] += (int)k;
    }
    nb_tensor_free(want);
    nb_loader_free(l);
    nb_optim_free(opt);
    nb_safetensors_close(g);
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
    run_cnn(d, 1);
    run_cnn(d, 2);
    /* every sum is split the same way whatever the number of threads */
    CHECK("cnn: 30 steps on 1 and 2 threads give the same losses bit for bit",
          !memcmp(cnn_loss[1], cnn_loss[2], sizeof cnn_loss[1]), "step 30: %.9g vs %.9g", (double)cnn_loss[1][29],
          (double)cnn_loss[2][29]);
    CHECK("cnn: and the same running statistics", cnn_nstats[1] == 192 && cnn_nstats[2] == 192 &&
          !memcmp(cnn_stats[1], cnn_stats[2], sizeof cnn_stats[1]), "%d statistics", cnn_nstats[1]);
    nb_dataset_free(d);
    nb_safetensors_close(g);
    CHECK_DONE();
}
