/* cmd_generate.c - `nabla generate --model DIR --prompt TEXT`: sample a continuation from
 * a GPT-2 model directory (config.json, model.safetensors, vocab.json, merges.txt):
 * each new token from softmax(logits of the last position / temperature), restricted
 * to the top-k when --top-k is given, drawn from a generator seeded by --seed;
 * --temperature 0 takes the most likely token (greedy). Keys and values are cached
 * (nb_text_forward_cached) while prompt and continuation fit in n_positions; beyond, each
 * step runs the last n_positions tokens anew. Prints
 * the prompt and the continuation, decoded byte for byte. */
#include "cli.h"
#include "options.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SYNOPSIS "--model DIR --prompt TEXT [--max-new-tokens N] [--temperature T] [--top-k K] [--seed S]"

int cmd_generate(int argc, char **argv)
{
    const char *model_dir = NULL, *prompt = "";
    long max_new = 50, top_k = 0, seed = 0, threads = 0;
    double temperature = 1.0;
    const cli_option opts[] = {
        {"--model", OPT_STRING, &model_dir, "DIR", "a GPT-2 model directory (GPT2LMHeadModel with vocab.json, merges.txt)"},
        {"--prompt", OPT_STRING, &prompt, "TEXT", "the text to continue (empty: start from <|endoftext|>)"},
        {"--max-new-tokens", OPT_INT, &max_new, "N", "tokens to generate (50)"},
        {"--temperature", OPT_FLOAT, &temperature, "T", "softmax temperature (1.0); 0: greedy"},
        {"--top-k", OPT_INT, &top_k, "K", "sample among the K most likely tokens only (0: all)"},
        {"--seed", OPT_INT, &seed, "S", "random seed (0)"},
        {"--threads", OPT_INT, &threads, "T", "threads (default: all cores)"},
        {NULL, 0, NULL, NULL, NULL},
    };
    int rc = cli_parse("generate", SYNOPSIS, opts, argc, argv, NULL, 0, NULL);
    if (rc == 1) return 0;
    if (rc || !model_dir) {
        if (!rc) cli_error("generate: --model DIR is required");
        fprintf(stderr, "usage: nabla generate " SYNOPSIS "\n");
        return 2;
    }
    if (max_new < 0 || top_k < 0 || !(temperature >= 0)) {
        cli_error("generate: --max-new-tokens and --top-k must be >= 0, --temperature >= 0");
        return 2;
    }
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.seed = (uint64_t)seed, .threads = (int)threads});
    nb_module *m = nb_model_from_dir(ctx, model_dir, &(nb_model_dir_opts){.arch_set = 1, .arch = NB_GPT2_LM_HEAD});
    nb_tokenizer *tok = m ? nb_tokenizer_from_dir(model_dir) : NULL;
    int64_t *ids = NULL, n = 0;
    float *probs = NULL;
    nb_text_cache *kc = NULL;
    rc = 1;
    if (!m || !tok) goto fail;
    if (!nb_tokenizer_is_bpe(tok)) {
        cli_error("generate: %s has no GPT-2 tokenizer (vocab.json, merges.txt)", model_dir);
        goto done;
    }
    const nb_text_config *c = nb_text_model_config(m);
    int64_t *p;
    int64_t np = nb_tokenizer_encode(tok, prompt, &p);
    if (np < 0) goto fail;
    ids = malloc(sizeof *ids * (size_t)(np + max_new + 1));
    probs = malloc(sizeof *probs * (size_t)c->vocab_size);
    if (!ids || !probs) {
        free(p);
        goto fail;
    }
    memcpy(ids, p, sizeof *ids * (size_t)np);
    free(p);
    n = np;
    if (!n) {
        int64_t eos = nb_tokenizer_token_to_id(tok, "<|endoftext|>");
        ids[n++] = eos >= 0 ? eos : 0;
    }
    nb_module_train(m, 0);
    nb_set_grad_enabled(ctx, 0);
    nb_rng rng;
    nb_rng_seed(&rng, (uint64_t)seed);
    int64_t V = c->vocab_size;
    /* with a key/value cache while the whole text fits in n_positions, else the last
     * n_positions tokens run anew each step */
    kc = n + max_new <= c->max_positions ? nb_text_cache_new(m, 1, n + max_new) : NULL;
    for (long s = 0; s < max_new; s++) {
        int64_t start = n > c->max_positions ? n - c->max_positions : 0, T = n - start;
        if (kc) start = s ? n - 1 : 0, T = n - start;
        nb_ctx_reset(ctx);
        nb_tensor *x = nb_tensor_from(ctx, NB_I64, 2, (int64_t[]){1, T}, ids + start);
        nb_tensor *logits = !x ? NULL : kc ? nb_text_forward_cached(m, x, kc) : nb_text_forward(m, x, NULL, NULL);
        nb_tensor_free(x);
        if (!logits) goto fail;
        const float *l = nb_tensor_data(logits) + (T - 1) * V;
        int64_t next = 0;
        if (temperature == 0) {
            for (int64_t v = 1; v < V; v++)
                if (l[v] > l[next]) next = v;
        } else {
            float kth = -INFINITY; /* the k-th largest logit: smaller ones are left out */
            if (top_k > 0 && top_k < V) {
                memcpy(probs, l, sizeof *probs * (size_t)V);
                for (long k = 0; k < top_k; k++) { /* partial selection, fine for small k */
                    int64_t best = -1;
                    for (int64_t v = 0; v < V; v++)
                        if (probs[v] > -INFINITY && (best < 0 || probs[v] > probs[best])) best = v;
                    kth = probs[best];
                    probs[best] = -INFINITY;
                }
            }
            float mx = -INFINITY;
            for (int64_t v = 0; v < V; v++) mx = fmaxf(mx, l[v]);
            double sum = 0;
            for (int64_t v = 0; v < V; v++) {
                probs[v] = l[v] >= kth ? expf((float)((l[v] - mx) / temperature)) : 0.0f;
                sum += probs[v];
            }
            double u = nb_rng_uniform(&rng) * sum, acc = 0;
            next = V - 1;
            for (int64_t v = 0; v < V; v++) {
                acc += probs[v];
                if (u < acc) {
                    next = v;
                    break;
                }
            }
        }
        ids[n++] = next;
    }
    char *text = nb_tokenizer_decode(tok, ids, n);
    if (!text) goto fail;
    fputs(text, stdout);
    putchar('\n');
    free(text);
    rc = 0;
    goto done;
fail:
    cli_error("generate: %s", nb_last_error());
done:
    free(ids), free(probs);
    nb_text_cache_free(kc);
    nb_tokenizer_free(tok);
    nb_module_free(m);
    nb_ctx_free(ctx);
    return rc;
}
