/* bench/transformer.c - nabla's side of the transformer speed comparison (issue 16),
 * the same models and steps as bench/torch_transformer.py:
 *   bert: BERT-Tiny classifier (2 layers, hidden 128, 2 heads, intermediate 512, vocab
 *         30522), batches of 32 x 128 tokens, AdamW: training tokens/s; batch-1
 *         latency of 128 tokens (eval, no gradients)
 *   gpt2: GPT-2 of 6 layers, hidden 256, 4 heads (inner 1024, vocab 50257, 1024
 *         positions), batches of 8 x 128 tokens, AdamW: training tokens/s; batch-1
 *         latency of 128 tokens; generation tokens/s (greedy, 64 new tokens after 16):
 *         the whole context each step (as bench/torch_transformer.py does), and with
 *         nabla's key/value cache
 * Random weights and ids from a fixed seed; the best of the timed repetitions, in wall
 * time and in the process's CPU time (*_cpu_*: on 1 thread, what a quiet machine's wall
 * time would be; the load does not change it much).
 *   make bench/transformer && build/bench/transformer [THREADS] [STEPS] [bert|gpt2]
 * Run beside `python3 bench/torch_transformer.py` by bench/transformer.sh. */
#include "nabla.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU time of the process (all threads): on a busy machine the 1-thread figures from it
 * do not depend on how much of a core the process got */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static nb_tensor *random_ids(nb_ctx *ctx, nb_rng *r, int64_t B, int64_t T, int64_t V)
{
    nb_tensor *t = nb_tensor_new(ctx, NB_I64, 2, (int64_t[]){B, T});
    for (int64_t i = 0; i < B * T; i++) nb_tensor_data_i64(t)[i] = (int64_t)nb_rng_below(r, (uint64_t)V);
    return t;
}

static void run(const char *name, nb_text_config c, int64_t B, int64_t T, int steps, int threads)
{
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.seed = 1, .threads = threads});
    nb_module *m = nb_text_model_new(ctx, &c);
    int np;
    nb_tensor **params = nb_module_parameters(m, &np);
    nb_optim *opt = nb_adamw_new(params, np, &(nb_adam_opts){.lr = 1e-4});
    nb_rng r;
    nb_rng_seed(&r, 7);
    nb_tensor *ids = random_ids(ctx, &r, B, T, c.vocab_size);
    nb_tensor *labels = c.arch == NB_BERT_SEQ_CLS ? random_ids(ctx, &r, B, 1, c.num_labels) : random_ids(ctx, &r, B, T, c.vocab_size);
    double best = 1e30, cbest = 1e30;
    nb_module_train(m, 1);
    for (int s = 0; s < steps + 2; s++) {
        double t0 = now(), c0 = cpu_now();
        nb_ctx_reset(ctx);
        nb_optim_zero_grad(opt);
        nb_tensor *out = nb_text_forward(m, ids, NULL, NULL);
        nb_tensor *loss = c.arch == NB_BERT_SEQ_CLS
                              ? nb_cross_entropy(out, nb_reshape(labels, 1, (int64_t[]){B}), NULL)
                              : nb_cross_entropy(nb_reshape(out, 2, (int64_t[]){-1, c.vocab_size}),
                                                 nb_reshape(labels, 1, (int64_t[]){-1}), NULL);
        if (nb_backward(loss) || nb_optim_step(opt)) {
            fprintf(stderr, "%s: %s\n", name, nb_last_error());
            exit(1);
        }
        double dt = now() - t0, dc = cpu_now() - c0;
        if (s >= 2 && dt < best) best = dt; /* two warm-up steps */
        if (s >= 2 && dc < cbest) cbest = dc;
    }
    printf("nabla %s threads=%d train_tokens_per_s=%.0f train_tokens_per_cpu_s=%.0f", name, threads, (double)(B * T) / best,
           (double)(B * T) / cbest);
    nb_module_train(m, 0);
    nb_set_grad_enabled(ctx, 0);
    nb_tensor *one = random_ids(ctx, &r, 1, 128, c.vocab_size);
    best = cbest = 1e30;
    for (int s = 0; s < steps + 2; s++) {
        double t0 = now(), c0 = cpu_now();
        nb_ctx_reset(ctx);
        nb_text_forward(m, one, NULL, NULL);
        double dt = now() - t0, dc = cpu_now() - c0;
        if (s >= 2 && dt < best) best = dt;
        if (s >= 2 && dc < cbest) cbest = dc;
    }
    printf(" latency_128_ms=%.2f latency_128_cpu_ms=%.2f", best * 1e3, cbest * 1e3);
    if (c.arch == NB_GPT2_LM_HEAD) {
        int64_t ctxlen = 16, gen = 64, V = c.vocab_size;
        int64_t *seq = malloc(sizeof *seq * (size_t)(ctxlen + gen));
        for (int64_t i = 0; i < ctxlen; i++) seq[i] = (int64_t)nb_rng_below(&r, (uint64_t)V);
        double t0 = now();
        for (int64_t k = 0; k < gen; k++) {
            int64_t n = ctxlen + k;
            nb_ctx_reset(ctx);
            nb_tensor *x = nb_tensor_from(ctx, NB_I64, 2, (int64_t[]){1, n}, seq);
            nb_tensor *lg = nb_text_forward(m, x, NULL, NULL);
            const float *l = nb_tensor_data(lg) + (n - 1) * V;
            int64_t a = 0;
            for (int64_t v = 1; v < V; v++)
                if (l[v] > l[a]) a = v;
            seq[n] = a;
            nb_tensor_free(x);
        }
        printf(" generate_tokens_per_s=%.1f", (double)gen / (now() - t0));
        nb_text_cache *kc = nb_text_cache_new(m, 1, ctxlen + gen);
        t0 = now();
        double c0 = cpu_now();
        for (int64_t k = 0; kc && k < gen; k++) {
            int64_t n = ctxlen + k, start = k ? n - 1 : 0;
            nb_ctx_reset(ctx);
            nb_tensor *x = nb_tensor_from(ctx, NB_I64, 2, (int64_t[]){1, n - start}, seq + start);
            nb_tensor *lg = nb_text_forward_cached(m, x, kc);
            const float *l = nb_tensor_data(lg) + (n - start - 1) * V;
            int64_t a = 0;
            for (int64_t v = 1; v < V; v++)
                if (l[v] > l[a]) a = v;
            seq[n] = a;
            nb_tensor_free(x);
        }
        printf(" generate_cached_tokens_per_s=%.1f generate_cached_tokens_per_cpu_s=%.1f", (double)gen / (now() - t0),
               (double)gen / (cpu_now() - c0));
        nb_text_cache_free(kc);
        free(seq);
    }
    printf("\n");
    nb_tensor_free(ids), nb_tensor_free(labels), nb_tensor_free(one);
    nb_optim_free(opt);
    nb_module_free(m);
    nb_ctx_free(ctx);
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 1, steps = argc > 2 ? atoi(argv[2]) : 5;
    const char *only = argc > 3 ? argv[3] : "";
    nb_text_config bert, gpt;
    nb_text_config_preset("bert_tiny", &bert);
    bert.vocab_size = 30522;
    bert.num_labels = 2;
    if (strcmp(only, "gpt2")) run("bert_tiny", bert, 32, 128, steps, threads);
    nb_text_config_preset("gpt2_tiny", &gpt);
    gpt.vocab_size = 50257;
    gpt.num_layers = 6, gpt.hidden_size = 256, gpt.num_heads = 4, gpt.intermediate_size = 1024;
    if (strcmp(only, "bert")) run("gpt2_6x256", gpt, 8, 128, steps, threads);
    return 0;
}
