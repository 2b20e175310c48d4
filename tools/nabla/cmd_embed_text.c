/* cmd_embed_text.c - `nabla embed --model DIR --out FEATS.npy [FILE]`: sentence
 * embeddings of text lines (a file or stdin) from a Hugging Face BERT or GPT-2
 * directory, as a NumPy .npy (N, hidden) float32: the last hidden state at [CLS]
 * (--pooling cls, BERT's default), or its mean over the tokens of the line (--pooling
 * mean, GPT-2's default); BERT's pooler output with --pooling pooler. Lines are run in
 * batches padded to their longest, in eval mode without gradients. cmd_embed hands over
 * when --model is a directory with a config.json. */
#include "cli.h"
#include "options.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SYNOPSIS "--model DIR --out FEATS.npy [--pooling cls|mean|pooler] [--max-length N] [FILE]"

int cli_is_text_model_arg(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--model")) {
            char p[4096];
            snprintf(p, sizeof p, "%s/config.json", argv[i + 1]);
            return !access(p, R_OK);
        }
    return 0;
}

int cmd_embed_text(int argc, char **argv)
{
    const char *model_dir = NULL, *out_path = NULL, *pooling = NULL;
    long max_length = 128, batch = 32, threads = 0;
    const cli_option opts[] = {
        {"--model", OPT_STRING, &model_dir, "DIR", "a BERT or GPT-2 model directory with its tokenizer files"},
        {"--out", OPT_STRING, &out_path, "FEATS.npy", "where to write the (N, hidden) embeddings"},
        {"--pooling", OPT_STRING, &pooling, "P", "cls (BERT's default), mean (GPT-2's default) or pooler (BERT)"},
        {"--max-length", OPT_INT, &max_length, "N", "tokens per line, truncated (128)"},
        {"--batch-size", OPT_INT, &batch, "B", "lines per forward pass (32)"},
        {"--threads", OPT_INT, &threads, "T", "threads (default: all cores)"},
        {NULL, 0, NULL, NULL, NULL},
    };
    const char *pos[1];
    int npos = 0;
    int rc = cli_parse("embed", SYNOPSIS, opts, argc, argv, pos, 1, &npos);
    if (rc == 1) return 0;
    if (rc || !model_dir || !out_path || max_length < 2 || batch < 1) {
        if (!rc) cli_error("embed: --model DIR and --out FILE are required (--max-length >= 2, --batch-size >= 1)");
        fprintf(stderr, "usage: nabla embed " SYNOPSIS "\n");
        return 2;
    }
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.threads = (int)threads});
    nb_module *m = nb_model_from_dir(ctx, model_dir, NULL);
    nb_tokenizer *tok = m ? nb_tokenizer_from_dir(model_dir) : NULL;
    FILE *in = NULL;
    char **lines = NULL, *line = NULL;
    int64_t n = 0, cap = 0;
    nb_tensor *feats = NULL;
    rc = 1;
    if (!m || !tok) goto fail;
    const nb_text_config *c = nb_text_model_config(m);
    int bert = c->arch == NB_BERT_MODEL || c->arch == NB_BERT_SEQ_CLS;
    if (!pooling) pooling = bert ? "cls" : "mean";
    int mode = !strcmp(pooling, "cls") ? 0 : !strcmp(pooling, "mean") ? 1 : !strcmp(pooling, "pooler") ? 2 : -1;
    if (mode < 0 || (mode == 2 && !bert)) {
        cli_error("embed: --pooling is cls, mean or pooler (BERT only), not '%s'", pooling);
        rc = 2;
        goto done;
    }
    /* the base model: its last hidden state (a head model's logits are not embeddings) */
    nb_module_free(m);
    m = nb_model_from_dir(ctx, model_dir, &(nb_model_dir_opts){.arch_set = 1, .arch = bert ? NB_BERT_MODEL : NB_GPT2_MODEL});
    if (!m) goto fail;
    c = nb_text_model_config(m);
    if (max_length > c->max_positions) max_length = c->max_positions;
    in = npos && strcmp(pos[0], "-") ? fopen(pos[0], "rb") : stdin;
    if (!in) {
        cli_error("embed: cannot open %s: %s", pos[0], strerror(errno));
        goto done;
    }
    size_t lcap = 0;
    ssize_t len;
    while ((len = getline(&line, &lcap, in)) >= 0) {
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            char **l2 = realloc(lines, sizeof *l2 * (size_t)cap);
            if (!l2) goto fail;
            lines = l2;
        }
        if (!(lines[n++] = strdup(line))) goto fail;
    }
    int64_t H = c->hidden_size;
    feats = nb_tensor_new(ctx, NB_F32, 2, (int64_t[]){n, H});
    if (!feats) goto fail;
    nb_module_train(m, 0);
    nb_set_grad_enabled(ctx, 0);
    int64_t pad = bert ? nb_tokenizer_token_to_id(tok, "[PAD]") : nb_tokenizer_token_to_id(tok, "<|endoftext|>");
    if (pad < 0) pad = 0;
    for (int64_t s = 0; s < n; s += batch) {
        int64_t B = n - s < batch ? n - s : batch, L = 1;
        nb_encoding *e = calloc((size_t)B, sizeof *e);
        if (!e) goto fail;
        int bad = 0;
        for (int64_t b = 0; b < B && !bad; b++) {
            bad = nb_tokenizer_encode_pair(tok, lines[s + b], NULL, &(nb_encode_opts){.max_length = max_length}, &e[b]);
            if (!bad && !e[b].n) e[b].ids[0] = pad, e[b].mask[0] = 1, e[b].type_ids[0] = 0, e[b].n = 1; /* GPT-2, empty line */
            if (!bad && e[b].n > L) L = e[b].n;
        }
        nb_tensor *ids = bad ? NULL : nb_tensor_new(ctx, NB_I64, 2, (int64_t[]){B, L});
        nb_tensor *mask = bad ? NULL : nb_tensor_new(ctx, NB_I64, 2, (int64_t[]){B, L});
        for (int64_t b = 0; ids && mask && b < B; b++)
            for (int64_t j = 0; j < L; j++) {
                nb_tensor_data_i64(ids)[b * L + j] = j < e[b].n ? e[b].ids[j] : pad;
                nb_tensor_data_i64(mask)[b * L + j] = j < e[b].n;
            }
        nb_ctx_reset(ctx);
        nb_tensor *pooled = NULL;
        nb_tensor *h = ids && mask ? nb_text_forward(m, ids, &(nb_text_inputs){.attention_mask = mask},
                                                     mode == 2 ? &pooled : NULL)
                                   : NULL;
        if (h) {
            const float *hv = nb_tensor_data(h);
            float *f = nb_tensor_data(feats) + s * H;
            for (int64_t b = 0; b < B; b++) {
                if (mode == 2) {
                    memcpy(f + b * H, nb_tensor_data(pooled) + b * H, sizeof(float) * (size_t)H);
                } else if (mode == 0) {
                    memcpy(f + b * H, hv + b * L * H, sizeof(float) * (size_t)H);
                } else {
                    for (int64_t k = 0; k < H; k++) {
                        double acc = 0;
                        for (int64_t j = 0; j < e[b].n; j++) acc += hv[(b * L + j) * H + k];
                        f[b * H + k] = (float)(acc / (double)e[b].n);
                    }
                }
            }
        }
        for (int64_t b = 0; b < B; b++) nb_encoding_free(&e[b]);
        free(e);
        nb_tensor_free(ids), nb_tensor_free(mask);
        if (!h) goto fail;
    }
    if (nb_save_npy(out_path, feats)) goto fail;
    fprintf(stderr, "embed: %lld lines -> %s (%lld, %lld), %s pooling\n", (long long)n, out_path, (long long)n,
            (long long)H, pooling);
    rc = 0;
    goto done;
fail:
    cli_error("embed: %s", nb_last_error());
done:
    for (int64_t i = 0; i < n; i++) free(lines[i]);
    free(lines), free(line);
    if (in && in != stdin) fclose(in);
    nb_tensor_free(feats);
    nb_tokenizer_free(tok);
    nb_module_free(m);
    nb_ctx_free(ctx);
    return rc;
}
