/* test_noalloc.c - a steady-state training step makes no heap allocation.
 * The test replaces malloc and friends in its own executable, trains a model with
 * SGD for warm-up steps, then counts the allocations of 2,000 more steps (300 for
 * the slower cnn) by who
 * called: nabla (and libc/OpenMP on its behalf) must make none. OpenBLAS's sgemm
 * mallocs a small job table per threaded call inside the library; those are
 * counted apart and printed, not asserted (they are not nabla's to remove short
 * of its own GEMM). The resident set must also stay flat over those steps.
 * Skipped under AddressSanitizer, which owns malloc itself. */
#include "check.h"
#include "nabla.h"

#if defined(__SANITIZE_ADDRESS__)
int main(void)
{
    printf("SKIP noalloc: malloc is the sanitizer's in this build\n");
    return 0;
}
#else
#include "alloc_count.h"

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2) res = 0;
        fclose(f);
    }
    return res * 4;
}

static long g_rss_growth_kb, g_blas_made;

static long steps_allocs(const char *model, int threads, int steps)
{
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.seed = 3, .threads = threads});
    nb_module *m = nb_model_new(ctx, model, NULL);
    if (!m) return -1;
    int n;
    nb_tensor **p = nb_module_parameters(m, &n);
    nb_optim *opt = nb_sgd_new(p, n, &(nb_sgd_opts){.lr = 0.01f, .momentum = 0.9f, .weight_decay = 5e-4f});
    nb_tensor *x = nb_tensor_new(ctx, NB_F32, 4, (int64_t[]){32, 1, 28, 28});
    nb_tensor *y = nb_tensor_new(ctx, NB_I64, 1, (int64_t[]){32});
    nb_rng r;
    nb_rng_seed(&r, 1);
    for (int i = 0; i < 32 * 784; i++) nb_tensor_data(x)[i] = nb_rng_uniform(&r);
    for (int i = 0; i < 32; i++) nb_tensor_data_i64(y)[i] = i % 10;
    long rss_before = 0;
    for (int s = 0; s < 5 + steps; s++) {
        if (s == 5) {
            rss_before = rss_kb();
            count_start();
        }
        nb_ctx_reset(ctx);
        nb_optim_zero_grad(opt);
        nb_tensor *loss = nb_cross_entropy(nb_module_forward(m, x), y, NULL);
        if (nb_backward(loss) || nb_optim_step(opt)) {
            count_stop(NULL);
            return -1;
        }
    }
    long made = count_stop(&g_blas_made);
    g_rss_growth_kb = rss_kb() - rss_before;
    nb_tensor_free(x);
    nb_tensor_free(y);
    nb_optim_free(opt);
    nb_module_free(m);
    nb_ctx_free(ctx);
    return made;
}

int main(void)
{
    const char *const *names = nb_model_names();
    for (int i = 0; names[i]; i++) {
        if (strcmp(names[i], "mlp") && strcmp(names[i], "cnn")) continue;
        for (int threads = 1; threads <= 2; threads++) {
            int steps = strcmp(names[i], "cnn") ? 2000 : 300;
            long a = steps_allocs(names[i], threads, steps);
            char label[96];
            snprintf(label, sizeof label, "%s, %d thread(s): %d training steps, no heap allocation", names[i],
                     threads, steps);
            CHECK(label, a == 0, "%ld allocations (%s; the first by %s)", a, a < 0 ? nb_last_error() : "", count_culprit());
            printf("   (OpenBLAS's own sgemm job tables: %ld allocations; resident set grew %ld KiB)\n", g_blas_made,
                   g_rss_growth_kb);
            snprintf(label, sizeof label, "%s, %d thread(s): resident memory flat over %d steps (< 1 MiB growth)",
                     names[i], threads, steps);
            CHECK(label, g_rss_growth_kb < 1024, "grew %ld KiB", g_rss_growth_kb);
        }
    }
    CHECK_DONE();
}
#endif
