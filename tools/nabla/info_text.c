/* info_text.c - `nabla info DIR` for a Hugging Face model directory: the architecture
 * and sizes config.json gives, the parameters per top-level part and in all, and the
 * tokenizer (kind, vocabulary size). cmd_info hands over when its argument is a
 * directory with a config.json. */
#include "cli.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

int cli_is_model_dir(const char *path)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/config.json", path);
    return !access(p, R_OK);
}

int cli_info_dir(const char *dir)
{
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.threads = 1});
    nb_module *m = nb_model_from_dir(ctx, dir, NULL);
    if (!m) {
        cli_error("info: %s", nb_last_error());
        nb_ctx_free(ctx);
        return 1;
    }
    const nb_text_config *c = nb_text_model_config(m);
    printf("%s: %s, %lld layers, hidden %lld, %lld heads, intermediate %lld, vocabulary %lld, %lld positions", dir,
           nb_text_arch_name(c->arch), (long long)c->num_layers, (long long)c->hidden_size, (long long)c->num_heads,
           (long long)c->intermediate_size, (long long)c->vocab_size, (long long)c->max_positions);
    if (c->arch == NB_BERT_SEQ_CLS) printf(", %d labels", c->num_labels);
    printf("\n  activation %s, layer-norm eps %g, dropout %g (attention %g)\n",
           c->activation == NB_GELU_ERF ? "gelu (erf)" : "gelu_new (tanh)", (double)c->layer_norm_eps,
           (double)c->hidden_dropout, (double)c->attention_dropout);
    int n;
    const nb_named_tensor *s = nb_module_state(m, &n);
    char part[128] = "";
    int64_t count = 0, total = 0;
    for (int i = 0; i <= n; i++) {
        char here[128] = "";
        if (i < n) { /* the part: the name up to its second dot ("bert.encoder", "transformer.h") */
            const char *d = strchr(s[i].name, '.');
            if (d && (!strncmp(s[i].name, "bert.", 5) || !strncmp(s[i].name, "transformer.", 12))) d = strchr(d + 1, '.');
            snprintf(here, sizeof here, "%.*s", d ? (int)(d - s[i].name) : (int)strlen(s[i].name), s[i].name);
        }
        if (i == n || (part[0] && strcmp(here, part))) {
            printf("  %-28s %12lld parameters\n", part, (long long)count);
            count = 0;
        }
        if (i < n) {
            snprintf(part, sizeof part, "%s", here);
            count += nb_tensor_numel(s[i].tensor);
            total += nb_tensor_numel(s[i].tensor);
        }
    }
    printf("  %-28s %12lld parameters\n", "total", (long long)total);
    nb_tokenizer *t = nb_tokenizer_from_dir(dir);
    if (t)
        printf("  tokenizer: %s, %lld tokens\n", nb_tokenizer_is_bpe(t) ? "byte-level BPE (vocab.json, merges.txt)" : "WordPiece (vocab.txt)",
               (long long)nb_tokenizer_vocab_size(t));
    else
        printf("  tokenizer: none (%s)\n", nb_last_error());
    nb_tokenizer_free(t);
    nb_module_free(m);
    nb_ctx_free(ctx);
    return 0;
}
