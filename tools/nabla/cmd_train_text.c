/* cmd_train_text.c - `nabla train` on text: a BERT classifier on a labelled text
 * dataset, fine-tuned from a Hugging Face directory or trained from scratch
 * (bert_tiny), e.g.
 *     nabla train --model bert_tiny --dataset wordnet-glosses --epochs 3 --save glosses_bert
 *     nabla train --model DIR --dataset tsv --data train.tsv --test-data test.tsv --freeze bert.embeddings
 * cmd_train hands over when --dataset is wordnet-glosses or tsv or --model is
 * bert_tiny or a model directory. From scratch, the WordPiece vocabulary is built
 * from the training texts (--vocab-size). Texts are tokenized once ([CLS] text [SEP],
 * truncated to --max-length); each batch is padded to its longest text with an
 * attention mask. AdamW (HF's fine-tuning default) or SGD; --save DIR writes a model
 * directory (config.json, model.safetensors, vocab.txt) that loads back. --aug SPEC
 * augments each training batch's texts (nlpaug's augmenters, docs/text-augmentation.md)
 * before tokenizing them; --lr-backbone gives all but the classifier its own rate. */
#include "cli.h"
#include "options.h"
#include "progress.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *SYNOPSIS = "--dataset wordnet-glosses|tsv [--model bert_tiny|DIR] [--data PATH] [options]";

typedef struct {
    int64_t *ids; /* per text: its ids, n[i] of them */
    int64_t *off, *n, *label;
    int64_t count;
    int64_t len, cap; /* ids used and allocated */
} tokenized;

static void tokenized_free(tokenized *t) { free(t->ids), free(t->off), free(t->n), free(t->label); }

/* Room for count texts (labels 0) and their ids. */
static int tokenized_alloc(tokenized *t, int64_t count)
{
    int64_t cap = count * 16 + 16;
    *t = (tokenized){.ids = malloc(sizeof(int64_t) * (size_t)cap), .off = malloc(sizeof(int64_t) * (size_t)(count + 1)),
                     .n = malloc(sizeof(int64_t) * (size_t)(count + 1)),
                     .label = calloc((size_t)(count + 1), sizeof(int64_t)), .count = count, .cap = cap};
    return t->ids && t->off && t->n && t->label ? 0 : -1;
}

/* Text i's k ids. */
static int tokenized_add(tokenized *t, int64_t i, const int64_t *ids, int64_t k)
{
    if (t->len + k > t->cap) {
        int64_t cap = t->cap;
        while (t->len + k > cap) cap *= 2;
        int64_t *v = realloc(t->ids, sizeof(int64_t) * (size_t)cap);
        if (!v) return -1;
        t->ids = v, t->cap = cap;
    }
    memcpy(t->ids + t->len, ids, sizeof(int64_t) * (size_t)k);
    t->off[i] = t->len, t->n[i] = k;
    t->len += k;
    return 0;
}

static int tokenize_all(nb_tokenizer *tok, nb_text_dataset *d, long max_length, tokenized *out)
{
    int64_t n = nb_text_dataset_len(d);
    if (tokenized_alloc(out, n)) return -1;
    for (int64_t i = 0; i < n; i++) {
        nb_encoding e;
        if (nb_tokenizer_encode_pair(tok, nb_text_dataset_text(d, i), NULL, &(nb_encode_opts){.max_length = max_length},
                                     &e)) {
            cli_error("train: text %lld: %s", (long long)i + 1, nb_last_error());
            return -1;
        }
        int bad = tokenized_add(out, i, e.ids, e.n);
        nb_encoding_free(&e);
        if (bad) return -1;
        out->label[i] = nb_text_dataset_label(d, i);
    }
    return 0;
}

/* Heap tensors (B, L) of the texts idx[0..B): ids padded with pad, mask, labels (B). */
static int make_batch(nb_ctx *ctx, const tokenized *t, const int64_t *idx, int64_t B, int64_t pad, nb_tensor **ids,
                      nb_tensor **mask, nb_tensor **labels)
{
    int64_t L = 1;
    for (int64_t b = 0; b < B; b++) L = t->n[idx[b]] > L ? t->n[idx[b]] : L;
    *ids = nb_tensor_new(ctx, NB_I64, 2, (int64_t[]){B, L});
    *mask = nb_tensor_new(ctx, NB_I64, 2, (int64_t[]){B, L});
    *labels = nb_tensor_new(ctx, NB_I64, 1, (int64_t[]){B});
    if (!*ids || !*mask || !*labels) return -1;
    int64_t *iv = nb_tensor_data_i64(*ids), *mv = nb_tensor_data_i64(*mask), *lv = nb_tensor_data_i64(*labels);
    for (int64_t b = 0; b < B; b++) {
        int64_t k = idx[b];
        for (int64_t j = 0; j < L; j++) {
            iv[b * L + j] = j < t->n[k] ? t->ids[t->off[k] + j] : pad;
            mv[b * L + j] = j < t->n[k];
        }
        lv[b] = t->label[k];
    }
    return 0;
}

static void free_batch(nb_tensor *a, nb_tensor *b, nb_tensor *c) { nb_tensor_free(a), nb_tensor_free(b), nb_tensor_free(c); }

/* Accuracy and mean loss over t in eval mode. */
static int evaluate(nb_module *m, nb_ctx *ctx, const tokenized *t, int64_t batch, int64_t pad, double *acc, double *loss)
{
    int train = nb_module_is_training(m);
    nb_module_train(m, 0);
    int old = nb_set_grad_enabled(ctx, 0);
    int64_t correct = 0, *idx = malloc(sizeof(int64_t) * (size_t)batch);
    double sum = 0;
    int rc = idx ? 0 : -1;
    for (int64_t s = 0; !rc && s < t->count; s += batch) {
        int64_t B = t->count - s < batch ? t->count - s : batch;
        for (int64_t b = 0; b < B; b++) idx[b] = s + b;
        nb_tensor *ids, *mask, *labels;
        nb_ctx_reset(ctx);
        if (make_batch(ctx, t, idx, B, pad, &ids, &mask, &labels)) rc = -1;
        nb_tensor *logits = rc ? NULL : nb_text_forward(m, ids, &(nb_text_inputs){.attention_mask = mask}, NULL);
        nb_tensor *l = logits ? nb_cross_entropy(logits, labels, &(nb_cross_entropy_opts){.reduction = NB_SUM}) : NULL;
        if (!l) rc = -1;
        else {
            correct += nb_count_correct(logits, labels);
            sum += nb_tensor_item(l);
        }
        free_batch(ids, mask, labels);
    }
    free(idx);
    nb_set_grad_enabled(ctx, old);
    nb_module_train(m, train);
    *acc = t->count ? (double)correct / (double)t->count : 0;
    *loss = t->count ? sum / (double)t->count : 0;
    return rc;
}

static int copy_file(const char *from, const char *to)
{
    FILE *f = fopen(from, "rb");
    if (!f) return -1;
    char *buf = NULL;
    size_t n = 0, cap = 0, k;
    char chunk[65536];
    while ((k = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (n + k > cap) {
            cap = (n + k) * 2;
            char *b = realloc(buf, cap);
            if (!b) {
                free(buf);
                fclose(f);
                return -1;
            }
            buf = b;
        }
        memcpy(buf + n, chunk, k);
        n += k;
    }
    fclose(f);
    int rc = nb_write_file_atomic(to, buf ? buf : "", n) ? -1 : 0;
    free(buf);
    return rc;
}

int cli_is_text_train(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i++) {
        const char *v = argv[i + 1];
        if (!strcmp(argv[i], "--dataset") && (!strcmp(v, "wordnet-glosses") || !strcmp(v, "tsv"))) return 1;
        if (!strcmp(argv[i], "--model") && (!strcmp(v, "bert_tiny") || !strcmp(v, "gpt2_tiny"))) return 1;
        if (!strcmp(argv[i], "--task") && (!strcmp(v, "lm") || !strcmp(v, "mlm"))) return 1;
        if (!strcmp(argv[i], "--model")) {
            char p[4096];
            snprintf(p, sizeof p, "%s/config.json", v);
            if (!access(p, R_OK)) return 1;
        }
    }
    return 0;
}

static int is_dir(const char *p)
{
    struct stat sb;
    return p && !stat(p, &sb) && S_ISDIR(sb.st_mode);
}

typedef struct {
    const char *model, *data, *save, *optimizer;
    long epochs, batch, max_length, vocab_size, seed, threads, max_steps;
    double lr, weight_decay;
    int quiet, glosses; /* glosses: WordNet's glosses as the corpus */
} lm_args;

/* Lines of a text file (blank ones skipped), malloc'd. */
static char **read_lines(const char *path, int64_t *n)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        cli_error("train: cannot open %s", path);
        return NULL;
    }
    char **v = NULL, *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int64_t k = 0, vc = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (!len) continue;
        if (k == vc) {
            vc = vc ? vc * 2 : 1024;
            char **v2 = realloc(v, sizeof *v2 * (size_t)vc);
            if (!v2) break;
            v = v2;
        }
        v[k++] = strdup(line);
    }
    free(line);
    fclose(f);
    *n = k;
    return v;
}

/* A language-modelling run, --task lm (GPT-2) or mlm (BERT): what both share. */
typedef struct lm_run {
    const lm_args *a;
    nb_ctx *ctx;
    char **lines; /* the corpus: n texts, the first ntrain for training */
    int64_t n, ntrain;
    nb_text_dataset *gtr, *gte;
    nb_tokenizer *tok;
    nb_module *model;
    nb_optim *opt;
    tokenized tt, te; /* training and held-out texts */
    int64_t pad, V;
    /* The task: the loss of a batch (ids and mask (B, T)) over its *cnt target
     * tokens, NULL when it has none (or on an error, *cnt > 0); *y: the targets. */
    nb_tensor *(*batch_loss)(struct lm_run *r, nb_tensor *ids, nb_tensor *mask, nb_tensor **y, int64_t *cnt);
    int64_t mask_id, cls_id, sep_id; /* mlm's special tokens */
    nb_rng mrng;                     /* mlm: which tokens are masked */
    int64_t step, tokens;
    double held, secs; /* the last held-out loss; the training time */
} lm_run;

/* What a step returns: 0, FAILED (a library error, its message in nb_last_error()
 * and not printed yet) or the exit status of an error already printed. */
enum { FAILED = -1 };

static void lm_run_free(lm_run *r)
{
    for (int64_t i = 0; r->lines && i < r->n; i++) free(r->lines[i]);
    free(r->lines);
    tokenized_free(&r->tt), tokenized_free(&r->te);
    nb_optim_free(r->opt);
    nb_module_free(r->model);
    nb_tokenizer_free(r->tok);
    nb_text_dataset_free(r->gtr), nb_text_dataset_free(r->gte);
    nb_ctx_free(r->ctx);
}

/* The corpus: WordNet's training glosses then its test glosses (held out), or the
 * lines of --data, the last 5% held out. */
static int load_corpus(lm_run *r)
{
    if (r->a->glosses) {
        if (!(r->gtr = nb_wordnet_glosses_new(NULL, 1)) || !(r->gte = nb_wordnet_glosses_new(NULL, 0))) return FAILED;
        r->ntrain = nb_text_dataset_len(r->gtr);
        r->n = r->ntrain + nb_text_dataset_len(r->gte);
        if (!(r->lines = malloc(sizeof *r->lines * (size_t)(r->n + 1)))) return FAILED;
        for (int64_t i = 0; i < r->n; i++)
            r->lines[i] = strdup(i < r->ntrain ? nb_text_dataset_text(r->gtr, i)
                                               : nb_text_dataset_text(r->gte, i - r->ntrain));
        return 0;
    }
    if (!(r->lines = read_lines(r->a->data, &r->n))) return 1;
    r->ntrain = r->n - r->n / 20;
    return 0;
}

/* Each text as ids cut to --max-length (and the model's positions): BERT's
 * [CLS] text [SEP] (special), GPT-2's ids without special tokens. */
static int tokenize_corpus(lm_run *r, int special)
{
    long L = r->a->max_length > nb_text_model_config(r->model)->max_positions
                 ? nb_text_model_config(r->model)->max_positions
                 : r->a->max_length;
    for (int part = 0; part < 2; part++) {
        tokenized *t = part ? &r->te : &r->tt;
        int64_t lo = part ? r->ntrain : 0, hi = part ? r->n : r->ntrain;
        if (tokenized_alloc(t, hi - lo)) return FAILED;
        for (int64_t i = lo; i < hi; i++) {
            int64_t *ids, k;
            nb_encoding e;
            if (special) {
                if (nb_tokenizer_encode_pair(r->tok, r->lines[i], NULL, &(nb_encode_opts){.max_length = L}, &e))
                    return FAILED;
                ids = e.ids, k = e.n;
            } else {
                if ((k = nb_tokenizer_encode(r->tok, r->lines[i], &ids)) < 0) return FAILED;
                if (k > L) k = L;
            }
            int bad = tokenized_add(t, i - lo, ids, k);
            if (special) nb_encoding_free(&e);
            else free(ids);
            if (bad) return FAILED;
        }
    }
    return 0;
}

/* AdamW (or --optimizer sgd with momentum 0.9 for lm); learning rate 5e-5 when
 * fine-tuning a directory, 1e-3 from scratch, 0.05 for SGD. */
static int make_lm_optimizer(lm_run *r, int from_dir)
{
    const lm_args *a = r->a;
    int np, sgd = !strcmp(a->optimizer, "sgd");
    nb_tensor **params = nb_module_parameters(r->model, &np);
    double lr = a->lr >= 0 ? a->lr : sgd ? 0.05 : from_dir ? 5e-5 : 1e-3;
    double wd = a->weight_decay >= 0 ? a->weight_decay : !strcmp(a->optimizer, "adamw") ? 0.01 : 0;
    r->opt = sgd ? nb_sgd_new(params, np, &(nb_sgd_opts){.lr = lr, .momentum = 0.9, .weight_decay = wd})
                 : nb_adamw_new(params, np, &(nb_adam_opts){.lr = lr, .weight_decay = wd});
    return r->opt ? 0 : FAILED;
}

/* --task lm: the target of each position is the next token, -100 (ignored) where
 * the next position is padding. */
static nb_tensor *lm_loss(lm_run *r, nb_tensor *ids, nb_tensor *mask, nb_tensor **y, int64_t *cnt)
{
    int64_t B = nb_tensor_dim(ids, 0), T = nb_tensor_dim(ids, 1);
    if (T < 2) return NULL;
    *y = nb_tensor_new(r->ctx, NB_I64, 1, (int64_t[]){B * (T - 1)});
    const int64_t *iv = nb_tensor_data_i64(ids), *mv = nb_tensor_data_i64(mask);
    int64_t *yv = nb_tensor_data_i64(*y);
    for (int64_t b = 0; b < B; b++)
        for (int64_t j = 0; j + 1 < T; j++) {
            int ok = mv[b * T + j + 1] != 0;
            yv[b * (T - 1) + j] = ok ? iv[b * T + j + 1] : -100;
            *cnt += ok;
        }
    nb_tensor *logits = nb_text_forward(r->model, ids, &(nb_text_inputs){.attention_mask = mask}, NULL);
    nb_tensor *lg = nb_reshape(nb_narrow(logits, 1, 0, T - 1), 2, (int64_t[]){-1, r->V});
    return *cnt ? nb_cross_entropy(lg, *y, NULL) : NULL;
}

/* --task mlm (DataCollatorForLanguageModeling's recipe): 15% of the tokens that
 * are not [CLS]/[SEP]/padding are chosen; 80% of those become [MASK], 10% a random
 * token, 10% stay; the targets are the chosen tokens, -100 elsewhere. */
static nb_tensor *mlm_loss(lm_run *r, nb_tensor *ids, nb_tensor *mask, nb_tensor **y, int64_t *cnt)
{
    int64_t B = nb_tensor_dim(ids, 0), T = nb_tensor_dim(ids, 1);
    *y = nb_tensor_new(r->ctx, NB_I64, 1, (int64_t[]){B * T});
    int64_t *iv = nb_tensor_data_i64(ids), *yv = nb_tensor_data_i64(*y);
    const int64_t *mv = nb_tensor_data_i64(mask);
    for (int64_t k = 0; k < B * T; k++) {
        yv[k] = -100;
        if (!mv[k] || iv[k] == r->cls_id || iv[k] == r->sep_id || nb_rng_uniform(&r->mrng) >= 0.15f) continue;
        yv[k] = iv[k];
        (*cnt)++;
        float u = nb_rng_uniform(&r->mrng);
        if (u < 0.8f) iv[k] = r->mask_id;
        else if (u < 0.9f) iv[k] = (int64_t)nb_rng_below(&r->mrng, (uint64_t)r->V);
    }
    nb_tensor *logits = *cnt ? nb_text_forward(r->model, ids, &(nb_text_inputs){.attention_mask = mask}, NULL) : NULL;
    return logits ? nb_cross_entropy(nb_reshape(logits, 2, (int64_t[]){-1, r->V}), *y, NULL) : NULL;
}

/* One pass of epoch ep: pass 0 trains on the texts in order[] (a step a batch,
 * until --max-steps) and adds to *sum and *seen; pass 1 measures the held-out
 * loss (r->held) without gradients. mlm's masks are drawn anew each training
 * pass and the same each held-out pass. */
static int run_pass(lm_run *r, int pass, long ep, const int64_t *order, double *sum, int64_t *seen)
{
    const lm_args *a = r->a;
    const tokenized *t = pass ? &r->te : &r->tt;
    nb_module_train(r->model, !pass);
    int old = nb_set_grad_enabled(r->ctx, !pass);
    nb_rng_seed(&r->mrng, pass ? 99 : (uint64_t)a->seed * 1000 + (uint64_t)ep);
    double hsum = 0;
    int64_t hcount = 0;
    for (int64_t s = 0; s < t->count && (pass || !a->max_steps || r->step < a->max_steps); s += a->batch) {
        int64_t B = t->count - s < a->batch ? t->count - s : a->batch, idx[4096];
        if (B > 4096) B = 4096;
        for (int64_t b = 0; b < B; b++) idx[b] = pass ? s + b : order[s + b];
        nb_tensor *ids, *mask, *labels, *y = NULL;
        nb_ctx_reset(r->ctx);
        if (!pass) nb_optim_zero_grad(r->opt);
        if (make_batch(r->ctx, t, idx, B, r->pad, &ids, &mask, &labels)) return FAILED;
        int64_t T = nb_tensor_dim(ids, 1), cnt = 0;
        nb_tensor *loss = r->batch_loss(r, ids, mask, &y, &cnt);
        nb_status st = loss || !cnt ? NB_OK : NB_ERR_ARG;
        if (loss && !pass) {
            st = nb_backward(loss);
            if (!st) st = nb_optim_step(r->opt);
            if (!st) *sum += nb_tensor_item(loss) * (double)cnt, *seen += cnt, r->tokens += B * T, r->step++;
        } else if (loss) {
            hsum += nb_tensor_item(loss) * (double)cnt, hcount += cnt;
        }
        free_batch(ids, mask, labels);
        nb_tensor_free(y);
        if (st) return FAILED;
    }
    nb_set_grad_enabled(r->ctx, old);
    if (pass) r->held = hcount ? hsum / (double)hcount : 0;
    return 0;
}

/* The epochs (each a shuffled training pass and a held-out pass, and its line
 * "epoch E: train_NAME=.. heldout_NAME=.." unless --quiet), then the result line. */
static int run_epochs(lm_run *r, const char *name, int perplexity)
{
    const lm_args *a = r->a;
    int64_t *order = malloc(sizeof *order * (size_t)(r->tt.count + 1));
    if (!order) return FAILED;
    nb_rng rng;
    nb_rng_seed(&rng, (uint64_t)a->seed ^ 0x5eedULL);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = 0;
    for (long ep = 0; !rc && ep < a->epochs && (!a->max_steps || r->step < a->max_steps); ep++) {
        for (int64_t i = 0; i < r->tt.count; i++) order[i] = i;
        for (int64_t i = r->tt.count - 1; i > 0; i--) {
            int64_t j = (int64_t)nb_rng_below(&rng, (uint64_t)i + 1), x = order[i];
            order[i] = order[j], order[j] = x;
        }
        double sum = 0;
        int64_t seen = 0;
        for (int pass = 0; !rc && pass < 2; pass++) rc = run_pass(r, pass, ep, order, &sum, &seen);
        if (!rc && !a->quiet) {
            fprintf(stderr, "epoch %ld: train_%s=%.4f heldout_%s=%.4f", ep + 1, name, seen ? sum / (double)seen : 0,
                    name, r->held);
            if (perplexity) fprintf(stderr, " perplexity=%.1f", exp(r->held));
            fputc('\n', stderr);
        }
    }
    free(order);
    if (rc) return rc;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    printf("heldout_%s=%.4f", name, r->held);
    if (perplexity) printf(" perplexity=%.2f", exp(r->held));
    printf(" train_seconds=%.1f tokens_per_s=%.0f steps=%lld\n", secs, secs > 0 ? (double)r->tokens / secs : 0,
           (long long)r->step);
    return 0;
}

/* --save DIR: the model, and the tokenizer's files from[i] as DIR/name[i]. */
static int save_lm(const lm_run *r, int nfiles, const char *const from[], const char *const name[])
{
    if (!r->a->save) return 0;
    int bad = nb_text_model_save_dir(r->model, r->a->save) != NB_OK;
    for (int i = 0; !bad && i < nfiles; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", r->a->save, name[i]);
        bad = copy_file(from[i], p) != 0;
    }
    if (bad) {
        cli_error("train: saving %s: %s", r->a->save, nb_last_error());
        return 1;
    }
    return 0;
}

/* GPT-2 language modelling: next-token cross-entropy, padding ignored; the last 5% of a
 * file's lines (or WordNet's test glosses) measure the held-out loss and perplexity. */
static int train_lm(const lm_args *a)
{
    int from_dir = is_dir(a->model);
    if (!from_dir && strcmp(a->model, "gpt2_tiny")) {
        cli_error("train: --task lm takes gpt2_tiny or a GPT-2 model directory, not '%s'", a->model);
        return 2;
    }
    if (!a->data && !a->glosses) {
        cli_error("train: --task lm needs --data FILE (a text a line) or --dataset wordnet-glosses");
        return 2;
    }
    lm_run r = {.a = a, .batch_loss = lm_loss};
    char vj[4096] = "", mt[4096] = "";
    int temp = 0;
    r.ctx = nb_ctx_new(&(nb_ctx_opts){.seed = (uint64_t)a->seed, .threads = (int)a->threads});
    int rc = load_corpus(&r);
    if (!rc && from_dir) {
        if (!(r.model = nb_model_from_dir(r.ctx, a->model, &(nb_model_dir_opts){.arch_set = 1, .arch = NB_GPT2_LM_HEAD})) ||
            !(r.tok = nb_tokenizer_from_dir(a->model)))
            rc = FAILED;
        snprintf(vj, sizeof vj, "%s/vocab.json", a->model);
        snprintf(mt, sizeof mt, "%s/merges.txt", a->model);
    } else if (!rc) { /* from scratch: byte-level BPE trained on the training texts */
        const char *tv = cli_temp_file("vocab.json"), *tm = tv ? cli_temp_file("merges.txt") : NULL;
        snprintf(vj, sizeof vj, "%s", tv ? tv : ""), snprintf(mt, sizeof mt, "%s", tm ? tm : "");
        temp = 1;
        long merges = a->vocab_size > 257 ? a->vocab_size - 257 : 0;
        nb_text_config c;
        nb_text_config_preset("gpt2_tiny", &c);
        if (!tm) rc = 1;
        else if (nb_bpe_train((const char *const *)r.lines, r.ntrain, merges, vj, mt) || !(r.tok = nb_bpe_load(vj, mt)) ||
            (c.vocab_size = nb_tokenizer_vocab_size(r.tok), !(r.model = nb_text_model_new(r.ctx, &c))))
            rc = FAILED;
    }
    if (!rc && !nb_tokenizer_is_bpe(r.tok)) {
        cli_error("train: --task lm needs a GPT-2 model directory (vocab.json, merges.txt)");
        rc = 1;
    }
    if (!rc) rc = tokenize_corpus(&r, 0);
    if (!rc) rc = make_lm_optimizer(&r, from_dir);
    if (!rc) {
        r.pad = nb_tokenizer_token_to_id(r.tok, "<|endoftext|>");
        if (r.pad < 0) r.pad = 0;
        r.V = nb_text_model_config(r.model)->vocab_size;
        if (!a->quiet)
            fprintf(stderr, "GPT2LMHeadModel: %lld parameters, vocabulary %lld; %lld training, %lld held-out texts\n",
                    (long long)nb_module_num_params(r.model), (long long)r.V, (long long)r.tt.count,
                    (long long)r.te.count);
        rc = run_epochs(&r, "loss", 1);
    }
    if (!rc) rc = save_lm(&r, 2, (const char *const[]){vj, mt}, (const char *const[]){"vocab.json", "merges.txt"});
    if (rc == FAILED) cli_error("train: %s", nb_last_error()), rc = 1;
    if (temp) cli_temp_remove();
    lm_run_free(&r);
    return rc;
}

/* Masked-LM pretraining of BERT (mlm_loss): the corpus is wordnet-glosses' training
 * glosses (their test glosses measure the held-out loss) or a text file (--data, a
 * text a line; its last 5% held out). --save DIR writes a BertForMaskedLM directory
 * that `--model DIR` fine-tunes as a classifier. */
static int train_mlm(const lm_args *a)
{
    int from_dir = is_dir(a->model);
    if (!from_dir && strcmp(a->model, "bert_tiny")) {
        cli_error("train: --task mlm takes bert_tiny or a BERT model directory, not '%s'", a->model);
        return 2;
    }
    lm_run r = {.a = a, .batch_loss = mlm_loss};
    char vocab_path[4096] = "";
    int temp_vocab = 0;
    r.ctx = nb_ctx_new(&(nb_ctx_opts){.seed = (uint64_t)a->seed, .threads = (int)a->threads});
    int rc = load_corpus(&r);
    if (!rc && from_dir) {
        if (!(r.model = nb_model_from_dir(r.ctx, a->model, &(nb_model_dir_opts){.arch_set = 1, .arch = NB_BERT_MLM})) ||
            !(r.tok = nb_tokenizer_from_dir(a->model)))
            rc = FAILED;
        snprintf(vocab_path, sizeof vocab_path, "%s/vocab.txt", a->model);
    } else if (!rc) { /* from scratch: a WordPiece vocabulary built from the training texts */
        const char *tv = cli_temp_file("vocab.txt");
        snprintf(vocab_path, sizeof vocab_path, "%s", tv ? tv : "");
        temp_vocab = 1;
        nb_text_config c;
        nb_text_config_preset("bert_tiny", &c);
        c.arch = NB_BERT_MLM;
        if (!tv) rc = 1;
        else if (nb_wordpiece_build_vocab((const char *const *)r.lines, r.ntrain, a->vocab_size, vocab_path) ||
            !(r.tok = nb_wordpiece_load(vocab_path, NULL)) ||
            (c.vocab_size = nb_tokenizer_vocab_size(r.tok), !(r.model = nb_text_model_new(r.ctx, &c))))
            rc = FAILED;
    }
    if (!rc && nb_tokenizer_is_bpe(r.tok)) {
        cli_error("train: --task mlm needs a BERT model directory (vocab.txt)");
        rc = 1;
    }
    if (!rc) {
        r.mask_id = nb_tokenizer_token_to_id(r.tok, "[MASK]"), r.pad = nb_tokenizer_token_to_id(r.tok, "[PAD]");
        r.cls_id = nb_tokenizer_token_to_id(r.tok, "[CLS]"), r.sep_id = nb_tokenizer_token_to_id(r.tok, "[SEP]");
        if (r.mask_id < 0) {
            cli_error("train: --task mlm needs a [MASK] token in the vocabulary");
            rc = 1;
        }
        if (r.pad < 0) r.pad = 0;
    }
    if (!rc) rc = tokenize_corpus(&r, 1);
    if (!rc) rc = make_lm_optimizer(&r, from_dir);
    if (!rc) {
        r.V = nb_text_model_config(r.model)->vocab_size;
        if (!a->quiet)
            fprintf(stderr, "BertForMaskedLM: %lld parameters, vocabulary %lld; %lld training, %lld held-out texts\n",
                    (long long)nb_module_num_params(r.model), (long long)r.V, (long long)r.tt.count,
                    (long long)r.te.count);
        rc = run_epochs(&r, "mlm_loss", 0);
    }
    if (!rc) rc = save_lm(&r, 1, (const char *const[]){vocab_path}, (const char *const[]){"vocab.txt"});
    if (rc == FAILED) cli_error("train: %s", nb_last_error()), rc = 1;
    if (temp_vocab) cli_temp_remove();
    lm_run_free(&r);
    return rc;
}

/* --task classify: the checked options of a BERT classifier's run. */
typedef struct {
    const char *model, *dataset, *data, *test_data, *save, *optimizer, *freeze, *aug;
    long epochs, batch, max_length, vocab_size, seed, threads, max_steps;
    double lr, weight_decay, momentum, lr_backbone;
    int quiet, from_dir; /* from_dir: --model names a Hugging Face directory */
} cls_args;

/* What the steps of a classifier's run share. */
typedef struct {
    cls_args *a;
    nb_ctx *ctx;
    nb_text_dataset *train, *test;
    int classes;
    nb_tokenizer *tok;
    char vocab_path[4096]; /* vocab.txt, copied beside --save */
    int temp_vocab;        /* vocab_path is this run's, removed at the end */
    nb_module *model;
    nb_optim *opt;
    nb_text_aug *aug;
    tokenized tt, te, tb; /* training, test and (with --aug) the batch's augmented texts */
    int64_t *order, *order_b; /* the epoch's shuffled training texts; the augmented batch's */
    int64_t pad;
    nb_rng rng; /* shuffling and augmentation */
    int64_t step, tokens;
    double acc, tloss; /* the last test accuracy and loss */
} cls_run;

/* The options' checks (2: an error printed) and the optimizer's defaults. */
static int check_cls_args(cls_args *a)
{
    a->from_dir = is_dir(a->model);
    if (!a->from_dir && strcmp(a->model, "bert_tiny")) {
        cli_error("train: text models are bert_tiny or a model directory, not '%s'", a->model);
        return 2;
    }
    if (strcmp(a->dataset, "wordnet-glosses") && strcmp(a->dataset, "tsv")) {
        cli_error("train: --dataset for text is wordnet-glosses or tsv, not '%s'", a->dataset);
        return 2;
    }
    if (!strcmp(a->dataset, "tsv") && (!a->data || !a->test_data)) {
        cli_error("train: --dataset tsv needs --data TRAIN.tsv and --test-data TEST.tsv");
        return 2;
    }
    if (a->epochs < 1 || a->batch < 1 || a->max_length < 3 || a->vocab_size < 16 || a->max_steps < 0) {
        cli_error("train: --epochs, --batch-size, --vocab-size must be positive, --max-length at least 3");
        return 2;
    }
    int sgd = !strcmp(a->optimizer, "sgd");
    if (!sgd && strcmp(a->optimizer, "adam") && strcmp(a->optimizer, "adamw")) {
        cli_error("train: --optimizer is adamw, adam or sgd, not '%s'", a->optimizer);
        return 2;
    }
    if (a->lr < 0) a->lr = sgd ? 0.05 : a->from_dir ? 5e-5 : 1e-3;
    if (a->weight_decay < 0) a->weight_decay = !strcmp(a->optimizer, "adamw") ? 0.01 : 0;
    return 0;
}

/* The training and test sets: a TSV pair (the test labels among the training
 * ones) or WordNet's glosses. */
static int load_text_data(cls_run *r)
{
    const cls_args *a = r->a;
    if (!strcmp(a->dataset, "tsv")) {
        r->train = nb_tsv_dataset_new(a->data);
        r->test = r->train ? nb_tsv_dataset_new(a->test_data) : NULL;
        if (r->test && nb_text_dataset_num_classes(r->test) > nb_text_dataset_num_classes(r->train)) {
            cli_error("train: %s has labels %s does not", a->test_data, a->data);
            return 1;
        }
    } else {
        r->train = nb_wordnet_glosses_new(a->data, 1);
        r->test = r->train ? nb_wordnet_glosses_new(a->data, 0) : NULL;
    }
    if (!r->train || !r->test) return FAILED;
    r->classes = nb_text_dataset_num_classes(r->train);
    return 0;
}

/* The model and its tokenizer: a directory's BertForSequenceClassification, or
 * bert_tiny from scratch with a WordPiece vocabulary built from the training texts. */
static int build_classifier(cls_run *r)
{
    const cls_args *a = r->a;
    if (a->from_dir) {
        r->model = nb_model_from_dir(r->ctx, a->model,
                                     &(nb_model_dir_opts){.arch_set = 1, .arch = NB_BERT_SEQ_CLS, .num_labels = r->classes});
        if (!r->model) return FAILED;
        if (!(r->tok = nb_tokenizer_from_dir(a->model))) return FAILED;
        snprintf(r->vocab_path, sizeof r->vocab_path, "%s/vocab.txt", a->model);
    } else {
        int64_t n = nb_text_dataset_len(r->train);
        const char **texts = malloc(sizeof *texts * (size_t)(n ? n : 1));
        if (!texts) return FAILED;
        for (int64_t i = 0; i < n; i++) texts[i] = nb_text_dataset_text(r->train, i);
        const char *tv = cli_temp_file("vocab.txt");
        if (!tv) {
            free(texts);
            return 1;
        }
        snprintf(r->vocab_path, sizeof r->vocab_path, "%s", tv);
        r->temp_vocab = 1;
        nb_status st = nb_wordpiece_build_vocab(texts, n, a->vocab_size, r->vocab_path);
        free(texts);
        if (st || !(r->tok = nb_wordpiece_load(r->vocab_path, NULL))) return FAILED;
        nb_text_config c;
        nb_text_config_preset("bert_tiny", &c);
        c.vocab_size = nb_tokenizer_vocab_size(r->tok);
        c.num_labels = r->classes;
        if (!(r->model = nb_text_model_new(r->ctx, &c))) return FAILED;
    }
    if (nb_tokenizer_is_bpe(r->tok)) {
        cli_error("train: text classification needs a BERT model directory (vocab.txt)");
        return 1;
    }
    if (a->max_length > nb_text_model_config(r->model)->max_positions)
        r->a->max_length = nb_text_model_config(r->model)->max_positions;
    if (a->freeze && nb_module_freeze(r->model, a->freeze, NULL)) return FAILED;
    return 0;
}

/* SGD, Adam or AdamW over the trainable parameters; with --lr-backbone, group 0
 * is the classifier at --lr and group 1 the rest at --lr-backbone. */
static int make_cls_optimizer(cls_run *r)
{
    const cls_args *a = r->a;
    int np, nbk = 0, nh = 0;
    nb_tensor **params = nb_module_parameters(r->model, &np), **backbone = NULL, **head = NULL;
    if (a->lr_backbone > 0) {
        backbone = malloc(sizeof *backbone * (size_t)(np + 1));
        head = malloc(sizeof *head * (size_t)(np + 1));
        if (!backbone || !head || nb_module_split_head(r->model, backbone, &nbk, head, &nh)) {
            free(backbone), free(head);
            return FAILED;
        }
        params = head, np = nh;
    }
    nb_adam_opts ao = {.lr = a->lr, .weight_decay = a->weight_decay};
    r->opt = !strcmp(a->optimizer, "sgd")
                 ? nb_sgd_new(params, np, &(nb_sgd_opts){.lr = a->lr, .momentum = a->momentum, .weight_decay = a->weight_decay})
             : !strcmp(a->optimizer, "adam") ? nb_adam_new(params, np, &ao)
                                             : nb_adamw_new(params, np, &ao);
    if (r->opt && a->lr_backbone > 0 && nbk &&
        nb_optim_add_group(r->opt, &(nb_param_group){.params = backbone, .n = nbk, .lr = a->lr_backbone})) {
        nb_optim_free(r->opt);
        r->opt = NULL;
    }
    free(backbone), free(head);
    return r->opt ? 0 : FAILED;
}

/* The training batch at s of the epoch's order, augmented (--aug) and tokenized
 * afresh into r->tb; r->order_b then indexes it. */
static int augment_batch(cls_run *r, int64_t s)
{
    int64_t batch = r->a->batch, L = r->a->max_length;
    const char **txt = malloc(sizeof *txt * (size_t)batch);
    char **augd = calloc((size_t)batch, sizeof *augd);
    int bad = !txt || !augd;
    for (int64_t b = 0; !bad && b < batch; b++) txt[b] = nb_text_dataset_text(r->train, r->order[s + b]);
    bad = bad || nb_text_augment_batch(r->aug, txt, batch, &r->rng, augd);
    tokenized_free(&r->tb);
    r->tb = (tokenized){.ids = malloc(sizeof(int64_t) * (size_t)(batch * L)), .off = malloc(sizeof(int64_t) * (size_t)batch),
                        .n = malloc(sizeof(int64_t) * (size_t)batch), .label = malloc(sizeof(int64_t) * (size_t)batch),
                        .count = batch};
    bad = bad || !r->tb.ids || !r->tb.off || !r->tb.n || !r->tb.label;
    for (int64_t b = 0; !bad && b < batch; b++) {
        nb_encoding e;
        bad = nb_tokenizer_encode_pair(r->tok, augd[b], NULL, &(nb_encode_opts){.max_length = L}, &e);
        if (bad) break;
        memcpy(r->tb.ids + b * L, e.ids, sizeof(int64_t) * (size_t)e.n);
        r->tb.off[b] = b * L, r->tb.n[b] = e.n, r->tb.label[b] = r->tt.label[r->order[s + b]];
        nb_encoding_free(&e);
    }
    for (int64_t b = 0; augd && b < batch; b++) free(augd[b]);
    free(augd), free(txt);
    if (bad) return FAILED;
    for (int64_t b = 0; b < batch; b++) r->order_b[b] = b;
    return 0;
}

/* The texts tokenized, --aug parsed, the buffers of the epochs, the summary line. */
static int prepare_cls_run(cls_run *r)
{
    const cls_args *a = r->a;
    if (tokenize_all(r->tok, r->train, a->max_length, &r->tt) || tokenize_all(r->tok, r->test, a->max_length, &r->te))
        return FAILED;
    int rc = make_cls_optimizer(r);
    if (rc) return rc;
    if (a->aug && !(r->aug = nb_text_aug_from_spec(a->aug))) return FAILED;
    r->pad = nb_tokenizer_token_to_id(r->tok, "[PAD]");
    if (r->pad < 0) r->pad = 0;
    if (!a->quiet)
        fprintf(stderr, "%s: %lld parameters, vocabulary %lld; %s: %lld training, %lld test texts, %d classes\n",
                nb_text_arch_name(nb_text_model_config(r->model)->arch), (long long)nb_module_num_params(r->model),
                (long long)nb_tokenizer_vocab_size(r->tok), a->dataset, (long long)r->tt.count, (long long)r->te.count,
                r->classes);
    r->order = malloc(sizeof *r->order * (size_t)(r->tt.count ? r->tt.count : 1));
    r->order_b = malloc(sizeof *r->order_b * (size_t)a->batch);
    if (!r->order || !r->order_b) return FAILED;
    nb_rng_seed(&r->rng, (uint64_t)a->seed ^ 0x5eedULL);
    return 0;
}

/* One training step on the batch at s of the epoch's order, as PyTorch writes it:
 * zero_grad, forward, loss, backward, step. Adds the loss to *sum over *seen texts. */
static int cls_train_step(cls_run *r, int64_t s, double *sum, int64_t *seen)
{
    int64_t batch = r->a->batch;
    nb_tensor *ids, *mask, *labels;
    nb_ctx_reset(r->ctx);
    nb_optim_zero_grad(r->opt);
    if (r->aug && augment_batch(r, s)) return FAILED;
    if (make_batch(r->ctx, r->aug ? &r->tb : &r->tt, r->aug ? r->order_b : r->order + s, batch, r->pad, &ids, &mask,
                   &labels))
        return FAILED;
    nb_tensor *logits = nb_text_forward(r->model, ids, &(nb_text_inputs){.attention_mask = mask}, NULL);
    nb_tensor *loss = nb_cross_entropy(logits, labels, NULL);
    nb_status st = loss ? nb_backward(loss) : NB_ERR_ARG;
    if (!st) st = nb_optim_step(r->opt);
    if (!st) {
        *sum += nb_tensor_item(loss) * (double)batch;
        *seen += batch;
        r->tokens += nb_tensor_numel(ids);
    }
    free_batch(ids, mask, labels);
    if (st) return FAILED;
    r->step++;
    return 0;
}

/* One epoch: the training texts shuffled, a step a full batch (until --max-steps),
 * then the test set measured and the epoch's line printed unless --quiet. */
static int cls_train_epoch(cls_run *r, long ep)
{
    const cls_args *a = r->a;
    for (int64_t i = 0; i < r->tt.count; i++) r->order[i] = i;
    for (int64_t i = r->tt.count - 1; i > 0; i--) { /* Fisher-Yates */
        int64_t j = (int64_t)nb_rng_below(&r->rng, (uint64_t)i + 1), x = r->order[i];
        r->order[i] = r->order[j], r->order[j] = x;
    }
    nb_module_train(r->model, 1);
    double sum = 0;
    int64_t seen = 0;
    for (int64_t s = 0; s + a->batch <= r->tt.count && (!a->max_steps || r->step < a->max_steps); s += a->batch)
        if (cls_train_step(r, s, &sum, &seen)) return FAILED;
    if (evaluate(r->model, r->ctx, &r->te, 256, r->pad, &r->acc, &r->tloss)) return FAILED;
    if (!a->quiet)
        fprintf(stderr, "epoch %ld: train_loss=%.4f test_loss=%.4f test_acc=%.4f\n", ep + 1,
                seen ? sum / (double)seen : 0, r->tloss, r->acc);
    return 0;
}

/* --save DIR: the model as a directory (the class names as config.json's id2label)
 * and its vocab.txt. */
static int save_classifier(const cls_run *r)
{
    const char *save = r->a->save;
    if (!save) return 0;
    char vp[4096];
    snprintf(vp, sizeof vp, "%s/vocab.txt", save);
    const char *names[4096];
    int nn = r->classes < 4096 ? r->classes : 4096;
    for (int k = 0; k < nn; k++) names[k] = nb_text_dataset_class_name(r->train, k);
    if (nb_text_model_save_dir_labels(r->model, save, names, nn) || copy_file(r->vocab_path, vp)) {
        cli_error("train: saving %s: %s", save, nb_last_error());
        return 1;
    }
    return 0;
}

static int close_cls_run(cls_run *r, int rc)
{
    if (rc == FAILED) cli_error("train: %s", nb_last_error()), rc = 1;
    if (r->temp_vocab) cli_temp_remove();
    free(r->order), free(r->order_b);
    nb_text_aug_free(r->aug);
    tokenized_free(&r->tt), tokenized_free(&r->te), tokenized_free(&r->tb);
    nb_optim_free(r->opt);
    nb_module_free(r->model);
    nb_tokenizer_free(r->tok);
    nb_text_dataset_free(r->train), nb_text_dataset_free(r->test);
    nb_ctx_free(r->ctx);
    return rc;
}

/* A text classifier's run of checked options: data, model, the epochs, the result. */
static int train_classifier(cls_args *a)
{
    cls_run r = {.a = a};
    r.ctx = nb_ctx_new(&(nb_ctx_opts){.seed = (uint64_t)a->seed, .threads = (int)a->threads});
    int rc = r.ctx ? load_text_data(&r) : FAILED;
    if (!rc) rc = build_classifier(&r);
    if (!rc) rc = prepare_cls_run(&r);
    double t0 = now_seconds();
    for (long ep = 0; !rc && ep < a->epochs && (!a->max_steps || r.step < a->max_steps); ep++)
        rc = cls_train_epoch(&r, ep);
    double secs = now_seconds() - t0;
    if (!rc)
        printf("test_acc=%.4f test_loss=%.4f train_seconds=%.1f tokens_per_s=%.0f steps=%lld\n", r.acc, r.tloss, secs,
               secs > 0 ? (double)r.tokens / secs : 0, (long long)r.step);
    if (!rc) rc = save_classifier(&r);
    return close_cls_run(&r, rc);
}

int cmd_train_text(int argc, char **argv)
{
    cls_args a = {.model = "bert_tiny", .dataset = "wordnet-glosses", .optimizer = "adamw", .epochs = 3, .batch = 32,
                  .max_length = 64, .vocab_size = 8000, .lr = -1, .weight_decay = -1, .momentum = 0.9};
    const char *task = "classify";
    const cli_option opts[] = {
        {"--model", OPT_STRING, &a.model, "NAME",
         "bert_tiny (from scratch, default), gpt2_tiny (--task lm) or a Hugging Face model directory"},
        {"--task", OPT_STRING, &task, "TASK",
         "classify (default), lm: causal language modelling (GPT-2), or mlm: masked-LM pretraining (BERT)"},
        {"--dataset", OPT_STRING, &a.dataset, "KIND",
         "wordnet-glosses (default, 45 supersenses), tsv (label<TAB>text), or text (--task mlm: a text a line)"},
        {"--data", OPT_STRING, &a.data, "PATH",
         "wordnet-glosses: WordNet's directory (/usr/share/wordnet); tsv: the training file; lm: a text file (a sample a line)"},
        {"--test-data", OPT_STRING, &a.test_data, "FILE", "tsv: the test file"},
        {"--epochs", OPT_INT, &a.epochs, "N", "passes over the training set (3)"},
        {"--batch-size", OPT_INT, &a.batch, "B", "texts per step (32)"},
        {"--max-length", OPT_INT, &a.max_length, "N", "tokens per text, [CLS] and [SEP] included (64)"},
        {"--vocab-size", OPT_INT, &a.vocab_size, "N",
         "from scratch: vocabulary built from the training texts (8000: WordPiece tokens, or 256 bytes + BPE merges)"},
        {"--optimizer", OPT_STRING, &a.optimizer, "NAME", "adamw (default), adam or sgd"},
        {"--lr", OPT_FLOAT, &a.lr, "X", "learning rate (adamw/adam 1e-3 from scratch, 5e-5 fine-tuning; sgd 0.05)"},
        {"--weight-decay", OPT_FLOAT, &a.weight_decay, "W", "weight decay (adamw 0.01, else 0)"},
        {"--momentum", OPT_FLOAT, &a.momentum, "M", "SGD momentum (0.9)"},
        {"--freeze", OPT_STRING, &a.freeze, "PREFIXES", "freeze parameters by name prefix, e.g. bert.embeddings or backbone"},
        {"--lr-backbone", OPT_FLOAT, &a.lr_backbone, "X", "learning rate of everything but the classifier (--lr for it)"},
        {"--aug", OPT_STRING, &a.aug, "SPEC",
         "augment each training text anew every epoch, e.g. \"synonym(p=0.3), random_swap(p=0.1)\" (docs/text-augmentation.md)"},
        {"--seed", OPT_INT, &a.seed, "S", "seed for init, shuffling and dropout (0)"},
        {"--threads", OPT_INT, &a.threads, "T", "threads (default: all cores)"},
        {"--max-steps", OPT_INT, &a.max_steps, "K", "stop after K optimizer steps"},
        {"--save", OPT_STRING, &a.save, "DIR", "write the trained model as a Hugging Face directory"},
        {"--quiet", OPT_FLAG, &a.quiet, NULL, "print only the final result"},
        {NULL, 0, NULL, NULL, NULL},
    };
    int rc = cli_parse("train", SYNOPSIS, opts, argc, argv, NULL, 0, NULL);
    if (rc) return rc == 1 ? 0 : rc;
    if (!strcmp(task, "mlm")) {
        /* AdamW always; the corpus: --data, else WordNet's glosses */
        lm_args ma = {a.model, a.data, a.save, "adamw", a.epochs, a.batch, a.max_length, a.vocab_size, a.seed, a.threads,
                      a.max_steps, a.lr, a.weight_decay, a.quiet, !a.data};
        return train_mlm(&ma);
    }
    if (!strcmp(task, "lm") || !strcmp(a.model, "gpt2_tiny")) {
        if (!strcmp(a.model, "bert_tiny")) a.model = "gpt2_tiny";
        lm_args la = {a.model, a.data, a.save, a.optimizer, a.epochs, a.batch, a.max_length, a.vocab_size, a.seed,
                      a.threads, a.max_steps, a.lr, a.weight_decay, a.quiet,
                      !strcmp(a.dataset, "wordnet-glosses") && !a.data};
        return train_lm(&la);
    }
    if (strcmp(task, "classify")) {
        cli_error("train: --task is classify or lm, not '%s'", task);
        return 2;
    }
    if ((rc = check_cls_args(&a))) return rc;
    return train_classifier(&a);
}
