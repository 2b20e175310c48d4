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

int cmd_train_text(int argc, char **argv)
{
    const char *model_name = "bert_tiny", *dataset = "wordnet-glosses", *data = NULL, *test_data = NULL, *save = NULL;
    const char *optimizer = "adamw", *freeze = NULL, *task = "classify";
    long epochs = 3, batch = 32, max_length = 64, vocab_size = 8000, seed = 0, threads = 0, max_steps = 0;
    double lr = -1, weight_decay = -1, momentum = 0.9, lr_backbone = 0;
    int quiet = 0;
    const char *aug_spec = NULL;
    const cli_option opts[] = {
        {"--model", OPT_STRING, &model_name, "NAME",
         "bert_tiny (from scratch, default), gpt2_tiny (--task lm) or a Hugging Face model directory"},
        {"--task", OPT_STRING, &task, "TASK",
         "classify (default), lm: causal language modelling (GPT-2), or mlm: masked-LM pretraining (BERT)"},
        {"--dataset", OPT_STRING, &dataset, "KIND",
         "wordnet-glosses (default, 45 supersenses), tsv (label<TAB>text), or text (--task mlm: a text a line)"},
        {"--data", OPT_STRING, &data, "PATH",
         "wordnet-glosses: WordNet's directory (/usr/share/wordnet); tsv: the training file; lm: a text file (a sample a line)"},
        {"--test-data", OPT_STRING, &test_data, "FILE", "tsv: the test file"},
        {"--epochs", OPT_INT, &epochs, "N", "passes over the training set (3)"},
        {"--batch-size", OPT_INT, &batch, "B", "texts per step (32)"},
        {"--max-length", OPT_INT, &max_length, "N", "tokens per text, [CLS] and [SEP] included (64)"},
        {"--vocab-size", OPT_INT, &vocab_size, "N",
         "from scratch: vocabulary built from the training texts (8000: WordPiece tokens, or 256 bytes + BPE merges)"},
        {"--optimizer", OPT_STRING, &optimizer, "NAME", "adamw (default), adam or sgd"},
        {"--lr", OPT_FLOAT, &lr, "X", "learning rate (adamw/adam 1e-3 from scratch, 5e-5 fine-tuning; sgd 0.05)"},
        {"--weight-decay", OPT_FLOAT, &weight_decay, "W", "weight decay (adamw 0.01, else 0)"},
        {"--momentum", OPT_FLOAT, &momentum, "M", "SGD momentum (0.9)"},
        {"--freeze", OPT_STRING, &freeze, "PREFIXES", "freeze parameters by name prefix, e.g. bert.embeddings or backbone"},
        {"--lr-backbone", OPT_FLOAT, &lr_backbone, "X", "learning rate of everything but the classifier (--lr for it)"},
        {"--aug", OPT_STRING, &aug_spec, "SPEC",
         "augment each training text anew every epoch, e.g. \"synonym(p=0.3), random_swap(p=0.1)\" (docs/text-augmentation.md)"},
        {"--seed", OPT_INT, &seed, "S", "seed for init, shuffling and dropout (0)"},
        {"--threads", OPT_INT, &threads, "T", "threads (default: all cores)"},
        {"--max-steps", OPT_INT, &max_steps, "K", "stop after K optimizer steps"},
        {"--save", OPT_STRING, &save, "DIR", "write the trained model as a Hugging Face directory"},
        {"--quiet", OPT_FLAG, &quiet, NULL, "print only the final result"},
        {NULL, 0, NULL, NULL, NULL},
    };
    int rc = cli_parse("train", SYNOPSIS, opts, argc, argv, NULL, 0, NULL);
    if (rc) return rc == 1 ? 0 : rc;
    if (!strcmp(task, "mlm")) {
        /* AdamW always; the corpus: --data, else WordNet's glosses */
        lm_args ma = {model_name, data, save, "adamw", epochs, batch, max_length, vocab_size, seed, threads, max_steps,
                      lr, weight_decay, quiet, !data};
        return train_mlm(&ma);
    }
    if (!strcmp(task, "lm") || !strcmp(model_name, "gpt2_tiny")) {
        if (!strcmp(model_name, "bert_tiny")) model_name = "gpt2_tiny";
        lm_args la = {model_name, data, save, optimizer, epochs, batch, max_length, vocab_size, seed, threads, max_steps, lr,
                      weight_decay, quiet, !strcmp(dataset, "wordnet-glosses") && !data};
        return train_lm(&la);
    }
    if (strcmp(task, "classify")) {
        cli_error("train: --task is classify or lm, not '%s'", task);
        return 2;
    }
    int from_dir = is_dir(model_name);
    if (!from_dir && strcmp(model_name, "bert_tiny")) {
        cli_error("train: text models are bert_tiny or a model directory, not '%s'", model_name);
        return 2;
    }
    if (strcmp(dataset, "wordnet-glosses") && strcmp(dataset, "tsv")) {
        cli_error("train: --dataset for text is wordnet-glosses or tsv, not '%s'", dataset);
        return 2;
    }
    if (!strcmp(dataset, "tsv") && (!data || !test_data)) {
        cli_error("train: --dataset tsv needs --data TRAIN.tsv and --test-data TEST.tsv");
        return 2;
    }
    if (epochs < 1 || batch < 1 || max_length < 3 || vocab_size < 16 || max_steps < 0) {
        cli_error("train: --epochs, --batch-size, --vocab-size must be positive, --max-length at least 3");
        return 2;
    }
    int sgd = !strcmp(optimizer, "sgd");
    if (!sgd && strcmp(optimizer, "adam") && strcmp(optimizer, "adamw")) {
        cli_error("train: --optimizer is adamw, adam or sgd, not '%s'", optimizer);
        return 2;
    }
    if (lr < 0) lr = sgd ? 0.05 : from_dir ? 5e-5 : 1e-3;
    if (weight_decay < 0) weight_decay = !strcmp(optimizer, "adamw") ? 0.01 : 0;

    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.seed = (uint64_t)seed, .threads = (int)threads});
    nb_text_dataset *train = NULL, *test = NULL;
    nb_tokenizer *tok = NULL;
    nb_module *model = NULL;
    nb_optim *opt = NULL;
    tokenized tt = {0}, te = {0}, tb = {0};
    int64_t *order = NULL, *order_b = NULL;
    nb_text_aug *aug = NULL;
    char vocab_path[4096] = "";
    int temp_vocab = 0;
    rc = 1;
    if (!ctx) goto fail;
    if (!strcmp(dataset, "tsv")) {
        train = nb_tsv_dataset_new(data);
        test = train ? nb_tsv_dataset_new(test_data) : NULL;
        if (test && nb_text_dataset_num_classes(test) > nb_text_dataset_num_classes(train)) {
            cli_error("train: %s has labels %s does not", test_data, data);
            goto done;
        }
    } else {
        train = nb_wordnet_glosses_new(data, 1);
        test = train ? nb_wordnet_glosses_new(data, 0) : NULL;
    }
    if (!train || !test) goto fail;
    int classes = nb_text_dataset_num_classes(train);
    if (from_dir) {
        model = nb_model_from_dir(ctx, model_name,
                                  &(nb_model_dir_opts){.arch_set = 1, .arch = NB_BERT_SEQ_CLS, .num_labels = classes});
        if (!model) goto fail;
        if (!(tok = nb_tokenizer_from_dir(model_name))) goto fail;
        snprintf(vocab_path, sizeof vocab_path, "%s/vocab.txt", model_name);
    } else {
        int64_t n = nb_text_dataset_len(train);
        const char **texts = malloc(sizeof *texts * (size_t)(n ? n : 1));
        if (!texts) goto fail;
        for (int64_t i = 0; i < n; i++) texts[i] = nb_text_dataset_text(train, i);
        const char *tv = cli_temp_file("vocab.txt");
        if (!tv) {
            free(texts);
            goto done;
        }
        snprintf(vocab_path, sizeof vocab_path, "%s", tv);
        temp_vocab = 1;
        nb_status st = nb_wordpiece_build_vocab(texts, n, vocab_size, vocab_path);
        free(texts);
        if (st || !(tok = nb_wordpiece_load(vocab_path, NULL))) goto fail;
        nb_text_config c;
        nb_text_config_preset("bert_tiny", &c);
        c.vocab_size = nb_tokenizer_vocab_size(tok);
        c.num_labels = classes;
        if (!(model = nb_text_model_new(ctx, &c))) goto fail;
    }
    if (nb_tokenizer_is_bpe(tok)) {
        cli_error("train: text classification needs a BERT model directory (vocab.txt)");
        goto done;
    }
    if (max_length > nb_text_model_config(model)->max_positions) max_length = nb_text_model_config(model)->max_positions;
    if (freeze && nb_module_freeze(model, freeze, NULL)) goto fail;
    if (tokenize_all(tok, train, max_length, &tt) || tokenize_all(tok, test, max_length, &te)) goto fail;
    int np, nbk = 0, nh = 0;
    nb_tensor **params = nb_module_parameters(model, &np), **backbone = NULL, **head = NULL;
    if (lr_backbone > 0) { /* group 0: the classifier at --lr; group 1: the rest at --lr-backbone */
        backbone = malloc(sizeof *backbone * (size_t)(np + 1));
        head = malloc(sizeof *head * (size_t)(np + 1));
        if (!backbone || !head || nb_module_split_head(model, backbone, &nbk, head, &nh)) {
            free(backbone), free(head);
            goto fail;
        }
        params = head, np = nh;
    }
    opt = sgd ? nb_sgd_new(params, np, &(nb_sgd_opts){.lr = lr, .momentum = momentum, .weight_decay = weight_decay})
          : !strcmp(optimizer, "adam") ? nb_adam_new(params, np, &(nb_adam_opts){.lr = lr, .weight_decay = weight_decay})
                                       : nb_adamw_new(params, np, &(nb_adam_opts){.lr = lr, .weight_decay = weight_decay});
    if (opt && lr_backbone > 0 && nbk &&
        nb_optim_add_group(opt, &(nb_param_group){.params = backbone, .n = nbk, .lr = lr_backbone})) {
        nb_optim_free(opt);
        opt = NULL;
    }
    free(backbone), free(head);
    if (!opt) goto fail;
    if (aug_spec && !(aug = nb_text_aug_from_spec(aug_spec))) goto fail;
    int64_t pad = nb_tokenizer_token_to_id(tok, "[PAD]");
    if (pad < 0) pad = 0;
    if (!quiet)
        fprintf(stderr, "%s: %lld parameters, vocabulary %lld; %s: %lld training, %lld test texts, %d classes\n",
                nb_text_arch_name(nb_text_model_config(model)->arch), (long long)nb_module_num_params(model),
                (long long)nb_tokenizer_vocab_size(tok), dataset, (long long)tt.count, (long long)te.count, classes);
    order = malloc(sizeof *order * (size_t)(tt.count ? tt.count : 1));
    order_b = malloc(sizeof *order_b * (size_t)batch);
    if (!order || !order_b) goto fail;
    nb_rng rng;
    nb_rng_seed(&rng, (uint64_t)seed ^ 0x5eedULL);
    int64_t step = 0;
    double acc = 0, tloss = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int64_t tokens = 0;
    for (long ep = 0; ep < epochs && (!max_steps || step < max_steps); ep++) {
        for (int64_t i = 0; i < tt.count; i++) order[i] = i;
        for (int64_t i = tt.count - 1; i > 0; i--) { /* Fisher-Yates */
            int64_t j = (int64_t)nb_rng_below(&rng, (uint64_t)i + 1), x = order[i];
            order[i] = order[j], order[j] = x;
        }
        nb_module_train(model, 1);
        double sum = 0;
        int64_t seen = 0;
        for (int64_t s = 0; s + batch <= tt.count && (!max_steps || step < max_steps); s += batch) {
            nb_tensor *ids, *mask, *labels;
            nb_ctx_reset(ctx);
            nb_optim_zero_grad(opt);
            if (aug) { /* the batch's texts augmented, tokenized afresh */
                const char **txt = malloc(sizeof *txt * (size_t)batch);
                char **augd = calloc((size_t)batch, sizeof *augd);
                int bad = !txt || !augd;
                for (int64_t b = 0; !bad && b < batch; b++) txt[b] = nb_text_dataset_text(train, order[s + b]);
                bad = bad || nb_text_augment_batch(aug, txt, batch, &rng, augd);
                tokenized_free(&tb);
                tb = (tokenized){.ids = malloc(sizeof(int64_t) * (size_t)(batch * max_length)),
                                 .off = malloc(sizeof(int64_t) * (size_t)batch), .n = malloc(sizeof(int64_t) * (size_t)batch),
                                 .label = malloc(sizeof(int64_t) * (size_t)batch), .count = batch};
                bad = bad || !tb.ids || !tb.off || !tb.n || !tb.label;
                for (int64_t b = 0; !bad && b < batch; b++) {
                    nb_encoding e;
                    bad = nb_tokenizer_encode_pair(tok, augd[b], NULL, &(nb_encode_opts){.max_length = max_length}, &e);
                    if (bad) break;
                    memcpy(tb.ids + b * max_length, e.ids, sizeof(int64_t) * (size_t)e.n);
                    tb.off[b] = b * max_length, tb.n[b] = e.n, tb.label[b] = tt.label[order[s + b]];
                    nb_encoding_free(&e);
                }
                for (int64_t b = 0; augd && b < batch; b++) free(augd[b]);
                free(augd), free(txt);
                if (bad) goto fail;
                for (int64_t b = 0; b < batch; b++) order_b[b] = b;
            }
            if (make_batch(ctx, aug ? &tb : &tt, aug ? order_b : order + s, batch, pad, &ids, &mask, &labels)) goto fail;
            nb_tensor *logits = nb_text_forward(model, ids, &(nb_text_inputs){.attention_mask = mask}, NULL);
            nb_tensor *loss = nb_cross_entropy(logits, labels, NULL);
            nb_status st = loss ? nb_backward(loss) : NB_ERR_ARG;
            if (!st) st = nb_optim_step(opt);
            if (!st) {
                sum += nb_tensor_item(loss) * (double)batch;
                seen += batch;
                tokens += nb_tensor_numel(ids);
            }
            free_batch(ids, mask, labels);
            if (st) goto fail;
            step++;
        }
        if (evaluate(model, ctx, &te, 256, pad, &acc, &tloss)) goto fail;
        if (!quiet)
            fprintf(stderr, "epoch %ld: train_loss=%.4f test_loss=%.4f test_acc=%.4f\n", ep + 1, seen ? sum / (double)seen : 0,
                    tloss, acc);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    printf("test_acc=%.4f test_loss=%.4f train_seconds=%.1f tokens_per_s=%.0f steps=%lld\n", acc, tloss, secs,
           secs > 0 ? (double)tokens / secs : 0, (long long)step);
    if (save) {
        char vp[4096];
        snprintf(vp, sizeof vp, "%s/vocab.txt", save);
        const char *names[4096]; /* the class names as config.json's id2label */
        int nn = classes < 4096 ? classes : 4096;
        for (int k = 0; k < nn; k++) names[k] = nb_text_dataset_class_name(train, k);
        if (nb_text_model_save_dir_labels(model, save, names, nn) || copy_file(vocab_path, vp)) {
            cli_error("train: saving %s: %s", save, nb_last_error());
            goto done;
        }
    }
    rc = 0;
    goto done;
fail:
    cli_error("train: %s", nb_last_error());
done:
    if (temp_vocab) cli_temp_remove();
    free(order), free(order_b);
    nb_text_aug_free(aug);
    tokenized_free(&tt), tokenized_free(&te), tokenized_free(&tb);
    nb_optim_free(opt);
    nb_module_free(model);
    nb_tokenizer_free(tok);
    nb_text_dataset_free(train), nb_text_dataset_free(test);
    nb_ctx_free(ctx);
    return rc;
}
