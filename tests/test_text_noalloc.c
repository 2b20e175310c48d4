/* test_text_noalloc.c - a steady-state training step of BERT and GPT-2 (attention
 * with a padding mask and dropout, GELU, LayerNorm, AdamW) and a cached GPT-2
 * generation step make no heap allocation: malloc and friends are replaced in this
 * executable (as tests/test_noalloc.c does), a model trains for warm-up steps, then
 * the allocations of 200 more steps are counted (OpenBLAS's own job tables apart,
 * printed). Skipped under AddressSanitizer, which owns malloc itself. */
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

static long g_blas_made;

static long text_steps(nb_text_arch arch, int threads, int steps)
{
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.seed = 3, .threads = threads});
    nb_text_config c;
    nb_text_config_preset(arch == NB_BERT_SEQ_CLS ? "bert_tiny" : "gpt2_tiny", &c);
    c.vocab_size = 500, c.hidden_size = 64, c.intermediate_size = 128, c.max_positions = 64;
    nb_module *m = nb_text_model_new(ctx, &c);
    if (!m) return -1;
    int n;
    nb_tensor **p = nb_module_parameters(m, &n);
    nb_optim *opt = nb_adamw_new(p, n, &(nb_adam_opts){.lr = 1e-3});
    int64_t B = 4, T = 16;
    nb_tensor *ids = nb_tensor_new(ctx, NB_I64, 2, (int64_t[]){B, T}), *mask = nb_tensor_new(ctx, NB_I64, 2, (int64_t[]){B, T});
    nb_tensor *y = nb_tensor_new(ctx, NB_I64, 1, (int64_t[]){arch == NB_BERT_SEQ_CLS ? B : B * T});
    nb_rng r;
    nb_rng_seed(&r, 1);
    for (int64_t i = 0; i < B * T; i++) {
        nb_tensor_data_i64(ids)[i] = (int64_t)nb_rng_below(&r, 500);
        nb_tensor_data_i64(mask)[i] = i % T < T - (i / T); /* row b: b padded positions */
    }
    for (int64_t i = 0; i < nb_tensor_numel(y); i++) nb_tensor_data_i64(y)[i] = i % 2;
    for (int s = 0; s < 5 + steps; s++) {
        if (s == 5) count_start();
        nb_ctx_reset(ctx);
        nb_optim_zero_grad(opt);
        nb_tensor *out = nb_text_forward(m, ids, &(nb_text_inputs){.attention_mask = mask}, NULL);
        if (arch != NB_BERT_SEQ_CLS) out = nb_reshape(out, 2, (int64_t[]){-1, 500});
        nb_tensor *loss = nb_cross_entropy(out, y, NULL);
        if (nb_backward(loss) || nb_optim_step(opt)) {
            count_stop(NULL);
            return -1;
        }
    }
    long made = count_stop(&g_blas_made);
    nb_tensor_free(ids), nb_tensor_free(mask), nb_tensor_free(y);
    nb_optim_free(opt);
    nb_module_free(m);
    nb_ctx_free(ctx);
    return made;
}

/* 40 cached generation steps after 8 warm-up ones */
static long cached_steps(void)
{
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.seed = 3, .threads = 1});
    nb_text_config c;
    nb_text_config_preset("gpt2_tiny", &c);
    c.vocab_size = 500, c.hidden_size = 64, c.intermediate_size = 128, c.max_positions = 64;
    nb_module *m = nb_text_model_new(ctx, &c);
    nb_text_cache *kc = m ? nb_text_cache_new(m, 1, 64) : NULL;
    if (!kc) return -1;
    nb_set_grad_enabled(ctx, 0);
    nb_module_train(m, 0);
    nb_tensor *x = nb_tensor_new(ctx, NB_I64, 2, (int64_t[]){1, 1});
    for (int s = 0; s < 48; s++) {
        if (s == 8) count_start();
        nb_ctx_reset(ctx);
        nb_tensor_data_i64(x)[0] = s * 7 % 500;
        if (!nb_text_forward_cached(m, x, kc)) {
            count_stop(NULL);
            return -1;
        }
    }
    long made = count_stop(NULL);
    nb_tensor_free(x);
    nb_text_cache_free(kc);
    nb_module_free(m);
    nb_ctx_free(ctx);
    return made;
}

int main(void)
{
    for (int k = 0; k < 2; k++)
        for (int threads = 1; threads <= 2; threads++) {
            nb_text_arch arch = k ? NB_GPT2_LM_HEAD : NB_BERT_SEQ_CLS;
            long a = text_steps(arch, threads, 200);
            char label[160];
            snprintf(label, sizeof label, "%s, %d thread(s): 200 AdamW steps with padding and dropout, no heap allocation",
                     nb_text_arch_name(arch), threads);
            CHECK(label, a == 0, "%ld allocations (%s; the first by %s)", a, a < 0 ? nb_last_error() : "", count_culprit());
            printf("   (OpenBLAS's own sgemm job tables: %ld allocations)\n", g_blas_made);
        }
    long a = cached_steps();
    CHECK("GPT-2 generation with the key/value cache: 40 steps, no heap allocation", a == 0,
          "%ld allocations (%s; the first by %s)", a, a < 0 ? nb_last_error() : "", count_culprit());
    CHECK_DONE();
}
#endif
