/* cmd_run_text.c - `nabla run` on a Hugging Face model directory or a built-in text
 * model (issue 16):
 *   nabla run --model DIR IDS.npy [MASK.npy [TOKEN_TYPES.npy]] --out OUT
 *   nabla run --model bert_tiny|gpt2_tiny [--weights W.safetensors] IDS.npy [MASK.npy ...] --out OUT
 *   nabla run --model DIR --text FILE|- [--top K] [--max-length N]
 * The first form runs token ids (integers, (batch, length); a 1-D array is one
 * sequence) with an optional attention mask (1 token, 0 padding; "" leaves it out)
 * and BERT's token types, and writes the outputs in Hugging Face's order as
 * OUT/output_0.npy, ...: BertModel last_hidden_state and pooler_output, GPT2Model
 * last_hidden_state, the logits of BertForSequenceClassification, BertForMaskedLM and
 * GPT2LMHeadModel. The second tokenizes each line of text with the directory's
 * tokenizer (BERT: [CLS] line [SEP]) and prints, per line, the classifier's K most
 * likely labels (config.json's id2label names), GPT-2's K most likely next tokens, or
 * BertForMaskedLM's K most likely tokens at each [MASK], with their probabilities.
 * Eval mode, no gradients; --arch runs the directory as another architecture (e.g. a
 * classifier checkpoint as BertModel, as AutoModel would). A built-in text model
 * (bert_tiny: BertForSequenceClassification, gpt2_tiny: GPT2LMHeadModel) takes its
 * weights from --weights (Hugging Face's names, with or without the base-model prefix;
 * the vocabulary, positions and classes as the file's tensors have them), fresh from
 * --seed without. cmd_run hands over when --model or the first argument is a directory
 * with a config.json or a built-in text model's name. */
#include "cli.h"
#include "options.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SYNOPSIS                                                                                                       \
    "--model DIR|bert_tiny|gpt2_tiny [--weights W.safetensors] IDS.npy [MASK.npy [TOKEN_TYPES.npy]] --out OUT\n"      \
    "   or: nabla run --model DIR --text FILE|- [--top K]"

static int is_builtin_text(const char *name) { return !strcmp(name, "bert_tiny") || !strcmp(name, "gpt2_tiny"); }

int cli_is_text_run(int argc, char **argv)
{
    if (cli_is_text_model_arg(argc, argv)) return 1;
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--model")) return is_builtin_text(argv[i + 1]);
    return argc > 1 && argv[1][0] != '-' && (cli_is_model_dir(argv[1]) || is_builtin_text(argv[1]));
}

/* The k largest of p[0..n) in decreasing order into idx[0..k). */
static void top_k(const float *p, int64_t n, int k, int64_t *idx)
{
    for (int j = 0; j < k; j++) {
        int64_t best = -1;
        for (int64_t c = 0; c < n; c++) {
            int taken = 0;
            for (int t = 0; t < j && !taken; t++) taken = idx[t] == c;
            if (!taken && (best < 0 || p[c] > p[best])) best = c;
        }
        idx[j] = best;
    }
}

/* softmax of row[0..n) into p */
static void softmax_row(const float *row, int64_t n, float *p)
{
    float mx = row[0];
    for (int64_t v = 1; v < n; v++) mx = row[v] > mx ? row[v] : mx;
    double s = 0;
    for (int64_t v = 0; v < n; v++) s += (p[v] = expf(row[v] - mx));
    for (int64_t v = 0; v < n; v++) p[v] = (float)(p[v] / s);
}

/* Print the top k of logits row (n wide): label names, or the tokenizer's tokens. */
static void print_top(const float *row, int64_t n, int k, float *p, char **labels, const nb_tokenizer *tok,
                      const char *indent)
{
    int64_t idx[64];
    softmax_row(row, n, p);
    if (k > n) k = (int)n;
    top_k(p, n, k, idx);
    for (int j = 0; j < k; j++) {
        char *dec = NULL;
        const char *name = labels ? labels[idx[j]] : NULL;
        if (!name && nb_tokenizer_is_bpe(tok)) name = dec = nb_tokenizer_decode(tok, &idx[j], 1);
        if (!name) name = nb_tokenizer_id_to_token(tok, idx[j]);
        printf("%s%.4f  %s\n", indent, (double)p[idx[j]], name ? name : "?");
        free(dec);
    }
}

static char **read_text_lines(const char *path, int64_t *n)
{
    FILE *in = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!in) {
        cli_error("run: cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    char **lines = NULL, *line = NULL;
    size_t lcap = 0;
    int64_t cap = 0, k = 0;
    ssize_t len;
    int bad = 0;
    while (!bad && (len = getline(&line, &lcap, in)) >= 0) {
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (k == cap) {
            cap = cap ? cap * 2 : 64;
            char **l2 = realloc(lines, sizeof *l2 * (size_t)cap);
            if (!l2) {
                bad = 1;
                break;
            }
            lines = l2;
        }
        if (!(lines[k] = strdup(line))) bad = 1;
        else k++;
    }
    free(line);
    if (in != stdin) fclose(in);
    if (bad) {
        for (int64_t i = 0; i < k; i++) free(lines[i]);
        free(lines);
        cli_error("run: out of memory reading %s", path);
        return NULL;
    }
    *n = k;
    return lines ? lines : calloc(1, sizeof *lines);
}

/* --text: each line tokenized and run alone; the top k printed. */
static int run_text(nb_ctx *ctx, nb_module *m, const char *dir, const char *path, long k, long max_length)
{
    const nb_text_config *c = nb_text_model_config(m);
    if (c->arch == NB_BERT_MODEL || c->arch == NB_GPT2_MODEL) {
        cli_error("run: --text needs a model with a head (a classifier or a language model); %s gives hidden states: "
                  "use ids in .npy with --out, or nabla embed",
                  nb_text_arch_name(c->arch));
        return 2;
    }
    nb_tokenizer *tok = nb_tokenizer_from_dir(dir);
    if (!tok) {
        cli_error("run: %s", nb_last_error());
        return 1;
    }
    int64_t n = 0, width = c->arch == NB_BERT_SEQ_CLS ? c->num_labels : c->vocab_size;
    char **lines = read_text_lines(path, &n);
    char **labels = c->arch == NB_BERT_SEQ_CLS ? cli_hf_labels(dir, c->num_labels) : NULL;
    float *p = malloc(sizeof *p * (size_t)width);
    int rc = lines && p && (labels || c->arch != NB_BERT_SEQ_CLS) ? 0 : 1;
    int64_t mask_id = nb_tokenizer_token_to_id(tok, "[MASK]"), eos = nb_tokenizer_token_to_id(tok, "<|endoftext|>");
    if (max_length <= 0 || max_length > c->max_positions) max_length = c->max_positions;
    for (int64_t i = 0; !rc && i < n; i++) {
        nb_encoding e;
        if (nb_tokenizer_encode_pair(tok, lines[i], NULL, &(nb_encode_opts){.max_length = max_length}, &e)) {
            cli_error("run: line %lld: %s", (long long)i + 1, nb_last_error());
            rc = 1;
            break;
        }
        if (!e.n) e.ids[0] = eos >= 0 ? eos : 0, e.type_ids[0] = 0, e.n = 1; /* GPT-2, an empty line */
        nb_ctx_reset(ctx);
        nb_tensor *ids = nb_tensor_from(ctx, NB_I64, 2, (int64_t[]){1, e.n}, e.ids);
        nb_tensor *tt = c->arch == NB_GPT2_LM_HEAD ? NULL : nb_tensor_from(ctx, NB_I64, 2, (int64_t[]){1, e.n}, e.type_ids);
        nb_tensor *out = ids ? nb_text_forward(m, ids, &(nb_text_inputs){.token_type_ids = tt}, NULL) : NULL;
        if (!out) {
            cli_error("run: line %lld: %s", (long long)i + 1, nb_last_error());
            rc = 1;
        } else {
            const float *o = nb_tensor_data(out);
            printf("%s\n", lines[i]);
            if (c->arch == NB_BERT_SEQ_CLS) print_top(o, width, (int)k, p, labels, tok, "  ");
            else if (c->arch == NB_GPT2_LM_HEAD) print_top(o + (e.n - 1) * width, width, (int)k, p, NULL, tok, "  ");
            else {
                int masks = 0;
                for (int64_t j = 0; j < e.n; j++)
                    if (e.ids[j] == mask_id) {
                        printf("  [MASK] at token %lld:\n", (long long)j);
                        print_top(o + j * width, width, (int)k, p, NULL, tok, "    ");
                        masks++;
                    }
                if (!masks) printf("  (no [MASK] token)\n");
            }
        }
        nb_tensor_free(ids), nb_tensor_free(tt);
        nb_encoding_free(&e);
    }
    for (int64_t i = 0; lines && i < n; i++) free(lines[i]);
    cli_hf_labels_free(labels, c->arch == NB_BERT_SEQ_CLS ? c->num_labels : 0);
    free(lines), free(p);
    nb_tokenizer_free(tok);
    return rc;
}

/* An integer array from a .npy file as (B, T) I64 (the attention mask may be float):
 * a 1-D array is one sequence. */
static nb_tensor *load_ids(nb_ctx *ctx, const char *path, const char *what, int float_ok)
{
    nb_tensor *t = nb_load_npy(ctx, path);
    if (!t) {
        cli_error("run: %s: %s", what, nb_last_error());
        return NULL;
    }
    if ((nb_tensor_dtype(t) != NB_I64 && !float_ok) || nb_tensor_ndim(t) < 1 || nb_tensor_ndim(t) > 2) {
        char s[128];
        cli_error("run: %s (%s) must be an integer array (batch, length) or (length), got %s %s", what, path,
                  nb_tensor_dtype(t) == NB_I64 ? "integers" : "floats", nb_shape_str(t, s, sizeof s));
        nb_tensor_free(t);
        return NULL;
    }
    if (nb_tensor_ndim(t) == 1) {
        nb_dtype dt = nb_tensor_dtype(t);
        nb_tensor *u = nb_tensor_from(ctx, dt, 2, (int64_t[]){1, nb_tensor_dim(t, 0)},
                                      dt == NB_I64 ? (const void *)nb_tensor_data_i64(t) : (const void *)nb_tensor_data(t));
        nb_tensor_free(t);
        t = u;
    }
    return t;
}

static int run_npy(nb_ctx *ctx, nb_module *m, const char **in, int n_in, const char *out)
{
    static const char *names[2] = {"last_hidden_state", "pooler_output"};
    const nb_text_config *c = nb_text_model_config(m);
    const char *what[3] = {"input_ids", "attention_mask", "token_type_ids"};
    nb_tensor *t[3] = {0};
    int rc = 1;
    if (n_in > 3 || (n_in > 2 && (c->arch == NB_GPT2_MODEL || c->arch == NB_GPT2_LM_HEAD))) {
        cli_error("run: %s takes input_ids, attention_mask%s; %d .npy files given", nb_text_arch_name(c->arch),
                  c->arch == NB_GPT2_MODEL || c->arch == NB_GPT2_LM_HEAD ? "" : " and token_type_ids", n_in);
        return 2;
    }
    for (int i = 0; i < n_in; i++)
        if (*in[i] && !(t[i] = load_ids(ctx, in[i], what[i], i == 1))) goto done;
    if (!t[0]) {
        cli_error("run: input_ids are required");
        rc = 2;
        goto done;
    }
    const int64_t *iv = nb_tensor_data_i64(t[0]);
    for (int64_t i = 0; i < nb_tensor_numel(t[0]); i++)
        if (iv[i] < 0 || iv[i] >= c->vocab_size) {
            cli_error("run: input_ids[%lld] = %lld is outside the vocabulary (0..%lld)", (long long)i, (long long)iv[i],
                      (long long)c->vocab_size - 1);
            goto done;
        }
    if (mkdir(out, 0777) && errno != EEXIST) {
        cli_error("run: cannot create %s: %s", out, strerror(errno));
        goto done;
    }
    nb_tensor *pooled = NULL;
    nb_tensor *y = nb_text_forward(m, t[0], &(nb_text_inputs){.attention_mask = t[1], .token_type_ids = t[2]},
                                   c->arch == NB_BERT_MODEL ? &pooled : NULL);
    if (!y) {
        cli_error("run: %s", nb_last_error());
        goto done;
    }
    nb_tensor *outs[2] = {y, pooled};
    int base = c->arch == NB_BERT_MODEL || c->arch == NB_GPT2_MODEL;
    for (int k = 0; k < 2 && outs[k]; k++) {
        char path[4096], shape[128];
        snprintf(path, sizeof path, "%s/output_%d.npy", out, k);
        if (nb_save_npy(path, outs[k])) {
            cli_error("run: %s", nb_last_error());
            goto done;
        }
        printf("%s: %s <f4 %s\n", path, base ? names[k] : "logits", nb_shape_str(outs[k], shape, sizeof shape));
    }
    rc = 0;
done:
    for (int i = 0; i < 3; i++) nb_tensor_free(t[i]);
    return rc;
}

/* --arch NAME: Hugging Face's class name; -1 if unknown */
static int arch_by_name(const char *name)
{
    for (int a = NB_BERT_MODEL; a <= NB_BERT_MLM; a++)
        if (!strcmp(nb_text_arch_name((nb_text_arch)a), name)) return a;
    return -1;
}

int cmd_run_text(int argc, char **argv)
{
    const char *model = NULL, *out = NULL, *text = NULL, *arch = NULL, *weights = NULL;
    long threads = 0, top = 5, max_length = 0, seed = 0;
    const cli_option opts[] = {
        {"--model", OPT_STRING, &model, "DIR",
         "a Hugging Face model directory (config.json, model.safetensors), or bert_tiny / gpt2_tiny"},
        {"--weights", OPT_STRING, &weights, "FILE",
         "bert_tiny / gpt2_tiny: safetensors weights under Hugging Face's names (a directory brings its own)"},
        {"--seed", OPT_INT, &seed, "S", "bert_tiny / gpt2_tiny without --weights: fresh weights from seed S (0)"},
        {"--out", OPT_STRING, &out, "DIR", "directory for output_0.npy, output_1.npy, ... (with .npy inputs)"},
        {"--text", OPT_STRING, &text, "FILE", "run each line of FILE (- for stdin) and print the top predictions"},
        {"--top", OPT_INT, &top, "K", "--text: predictions printed per line or [MASK] (5)"},
        {"--max-length", OPT_INT, &max_length, "N", "--text: tokens per line, truncated (the model's positions)"},
        {"--arch", OPT_STRING, &arch, "NAME",
         "run as this architecture instead of config.json's: BertModel, BertForSequenceClassification, "
         "BertForMaskedLM, GPT2Model, GPT2LMHeadModel"},
        {"--threads", OPT_INT, &threads, "T", "threads (default: all cores)"},
        {NULL, 0, NULL, NULL, NULL},
    };
    const char *pos[8];
    int npos = 0;
    int rc = cli_parse("run", SYNOPSIS, opts, argc, argv, pos, 8, &npos);
    if (rc) return rc == 1 ? 0 : rc;
    const char **in = pos;
    if (!model && npos > 0) model = pos[0], in = pos + 1, npos--;
    int a = arch ? arch_by_name(arch) : -1;
    if (!model || (text && npos) || (!text && (!npos || !out)) || top < 1 || top > 64 || (arch && a < 0)) {
        if (arch && a < 0) cli_error("run: --arch '%s' is not BertModel, BertForSequenceClassification, BertForMaskedLM, "
                                     "GPT2Model or GPT2LMHeadModel", arch);
        else if (top < 1 || top > 64) cli_error("run: --top must be between 1 and 64");
        else cli_error("run: usage: nabla run %s", SYNOPSIS);
        return 2;
    }
    int builtin = is_builtin_text(model);
    if (!builtin && weights) {
        cli_error("run: --weights is for bert_tiny and gpt2_tiny; a model directory brings its own model.safetensors");
        return 2;
    }
    if (builtin && text) {
        cli_error("run: --text needs the tokenizer files of a model directory; %s has none (give ids in .npy)", model);
        return 2;
    }
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.threads = (int)threads, .seed = (uint64_t)seed});
    nb_module *m = NULL;
    if (ctx && builtin) {
        nb_text_config c;
        nb_text_config_preset(model, &c);
        int bert_arch = a == NB_BERT_MODEL || a == NB_BERT_SEQ_CLS || a == NB_BERT_MLM;
        if (a >= 0 && bert_arch != (model[0] == 'b')) {
            cli_error("run: --arch %s is not a %s architecture", arch, model[0] == 'b' ? "BERT" : "GPT-2");
            nb_ctx_free(ctx);
            return 2;
        }
        if (a >= 0) c.arch = (nb_text_arch)a;
        m = weights ? nb_text_model_from_weights(ctx, &c, weights) : nb_text_model_new(ctx, &c);
    } else if (ctx)
        m = nb_model_from_dir(ctx, model, &(nb_model_dir_opts){.arch_set = a >= 0, .arch = a >= 0 ? (nb_text_arch)a : 0});
    if (!m) {
        cli_error("run: %s", nb_last_error());
        nb_ctx_free(ctx);
        return 1;
    }
    nb_module_train(m, 0);
    nb_set_grad_enabled(ctx, 0);
    rc = text ? run_text(ctx, m, model, text, top, max_length) : run_npy(ctx, m, in, npos, out);
    nb_module_free(m);
    nb_ctx_free(ctx);
    return rc;
}
