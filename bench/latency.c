/* latency.c - batch-1 eval latency of a built-in model, call by call: `nabla bench`'s
 * infer_b1_us is one mean over 500 calls, which hides whether a run was slow all the time
 * or in bursts. This prints, for `rounds` rounds of `calls` forwards each (after 50
 * warm-up calls), the mean, the median, the 10th and 90th percentiles and the slowest
 * call, in microseconds. Random input; BatchNorm in eval mode with its initial statistics.
 *   make bench/latency && build/bench/latency [model] [C,H,W] [threads] [rounds] [calls]
 * Defaults: cnn 1,28,28, 2 threads, 5 rounds of 500. */
#include <nabla.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <dirent.h>
#include <string.h>

/* With LATENCY_THREADS=1: each thread's CPU (stat field 39) and run/wait time (schedstat) */
static void print_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[320], buf[1024];
        long long run = 0, wait = 0, slices = 0;
        int cpu = -1;
        snprintf(path, sizeof path, "/proc/self/task/%s/schedstat", e->d_name);
        FILE *f = fopen(path, "r");
        if (f) {
            if (fscanf(f, "%lld %lld %lld", &run, &wait, &slices) != 3) run = wait = slices = 0;
            fclose(f);
        }
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
        f = fopen(path, "r");
        if (f) {
            size_t k = fread(buf, 1, sizeof buf - 1, f);
            buf[k] = 0;
            fclose(f);
            char *p = strrchr(buf, ')');
            for (int i = 0; p && i < 37; i++) p = strchr(p + 1, ' ');
            if (p) cpu = atoi(p + 1);
        }
        printf("  thread %s cpu %d run_ms %.1f wait_ms %.1f slices %lld\n", e->d_name, cpu, run * 1e-6, wait * 1e-6,
               slices);
    }
    closedir(d);
}

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec * 1e-3;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *model = argc > 1 ? argv[1] : "cnn";
    int c = 1, h = 28, w = 28;
    if (argc > 2 && sscanf(argv[2], "%d,%d,%d", &c, &h, &w) != 3) {
        fprintf(stderr, "latency: input must be C,H,W\n");
        return 2;
    }
    int threads = argc > 3 ? atoi(argv[3]) : 2, rounds = argc > 4 ? atoi(argv[4]) : 5;
    int calls = argc > 5 ? atoi(argv[5]) : 500;
    if (threads < 1 || rounds < 1 || calls < 1) {
        fprintf(stderr, "latency: threads, rounds and calls must be positive\n");
        return 2;
    }
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.threads = threads});
    nb_module *m = ctx ? nb_model_new(ctx, model, &(nb_model_opts){.num_classes = 10, .in_channels = c,
                                                                  .input_size = {h, w}})
                       : NULL;
    int64_t shape[4] = {1, c, h, w};
    nb_tensor *x = m ? nb_tensor_new(ctx, NB_F32, 4, shape) : NULL;
    double *t = malloc((size_t)calls * sizeof *t);
    if (!x || !t) {
        fprintf(stderr, "latency: %s\n", nb_last_error());
        return 1;
    }
    float *px = nb_tensor_data(x);
    for (int64_t i = 0; i < nb_tensor_numel(x); i++) px[i] = nb_rng_uniform(nb_ctx_rng(ctx));
    nb_module_train(m, 0);
    nb_set_grad_enabled(ctx, 0);
    for (int i = 0; i < 50; i++) {
        nb_ctx_reset(ctx);
        nb_module_forward(m, x);
    }
    for (int r = 0; r < rounds; r++) {
        double sum = 0;
        for (int i = 0; i < calls; i++) {
            double t0 = now_us();
            nb_ctx_reset(ctx);
            if (!nb_module_forward(m, x)) {
                fprintf(stderr, "latency: %s\n", nb_last_error());
                return 1;
            }
            t[i] = now_us() - t0;
            sum += t[i];
        }
        qsort(t, (size_t)calls, sizeof *t, cmp);
        printf("model=%s input=%d,%d,%d threads=%d round=%d mean=%.1f median=%.1f p10=%.1f p90=%.1f max=%.1f\n", model,
               c, h, w, threads, r, sum / calls, t[calls / 2], t[calls / 10], t[calls * 9 / 10], t[calls - 1]);
        if (getenv("LATENCY_THREADS")) print_threads();
    }
    free(t);
    nb_tensor_free(x);
    nb_module_free(m);
    nb_ctx_free(ctx);
    return 0;
}
