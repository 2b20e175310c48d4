/* test_text_run.c - `nabla run` on Hugging Face model directories (issue 16): the
 * golden BERT and GPT-2 (tools/goldens/gen_text_models.py, written after transformers'
 * modelling code) run on the golden token ids, masks and token types given as .npy
 * files give PyTorch's logits, last_hidden_state and pooler_output within 1e-5 of the
 * tensor's largest value, in Hugging Face's output order; --text prints what the
 * library computes for the same tokenized lines (top labels with config.json's
 * id2label names, GPT-2's next tokens, BertForMaskedLM's tokens at [MASK]); bad inputs
 * (ids outside the vocabulary, float ids, too many inputs, too long a sequence, an
 * unknown --arch, --text on a model without a head) are errors that say so. The
 * built-in bert_tiny and gpt2_tiny with --weights (a file saved from a model of another
 * vocabulary, positions and classes) give exactly the outputs of the same weights run as
 * a model directory; without --weights they are fresh models of the preset's sizes. */
#include "check.h"
#include "cli.h"
#include "nabla.h"

#include <math.h>

#define G "tests/goldens/text_models.safetensors"
#define BERT_DIR "tests/goldens/bert_tiny"
#define GPT2_DIR "tests/goldens/gpt2_tiny"

static nb_ctx *ctx;
static nb_safetensors *g;

/* max |a - b| / max |b| */
static double maxnorm_err(const float *a, const float *b, int64_t n)
{
    double d = 0, m = 0;
    for (int64_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        if (d != d) return INFINITY;
        m = fmax(m, fabs((double)b[i]));
    }
    return d / (m > 0 ? m : 1e-30);
}

/* golden tensor key saved as tmp_dir/file (.npy) */
static const char *golden_npy(const char *key, const char *file)
{
    nb_tensor *t = nb_safetensors_get(g, ctx, key);
    const char *p = tmp_path(file);
    if (!t || nb_save_npy(p, t)) p = "missing";
    nb_tensor_free(t);
    return p;
}

/* tmp_dir/outdir/output_k.npy against golden key within 1e-5 of its largest value */
static void output_is(const char *what, const char *outdir, int k, const char *key)
{
    char p[600], name[300];
    snprintf(p, sizeof p, "%s/%s/output_%d.npy", tmp_dir, outdir, k);
    nb_tensor *got = nb_load_npy(ctx, p), *want = nb_safetensors_get(g, ctx, key);
    double e = got && want && nb_tensor_numel(got) == nb_tensor_numel(want) &&
                       nb_tensor_ndim(got) == nb_tensor_ndim(want)
                   ? maxnorm_err(nb_tensor_data(got), nb_tensor_data(want), nb_tensor_numel(want))
                   : INFINITY;
    snprintf(name, sizeof name, "%s: output_%d.npy is PyTorch's %s within 1e-5 of max|y| (%.2g)", what, k, key, e);
    CHECK(name, e <= 1e-5, "%s", got ? "too far or another shape" : nb_last_error());
    nb_tensor_free(got), nb_tensor_free(want);
}

static void npy_inputs(void)
{
    const char *ids = golden_npy("bert.ids", "bert_ids.npy"), *mask = golden_npy("bert.mask", "bert_mask.npy"),
               *tt = golden_npy("bert.tt", "bert_tt.npy");
    int rc = run(NABLA " run %s %s %s %s --out %s --threads 1", BERT_DIR, ids, mask, tt, tmp_path("o_cls"));
    CHECK("nabla run DIR ids mask token_types (BertForSequenceClassification) prints its one output, logits",
          rc == 0 && strstr(out, "output_0.npy: logits <f4 [3, 3]") && !strstr(out, "output_1"), "rc %d: %s", rc, out);
    output_is("BertForSequenceClassification", "o_cls", 0, "bert.logits");
    rc = run(NABLA " run --model %s --arch BertModel %s %s %s --out %s --threads 1", BERT_DIR, ids, mask, tt,
             tmp_path("o_bert"));
    CHECK("--arch BertModel: last_hidden_state and pooler_output, in Hugging Face's order",
          rc == 0 && strstr(out, "output_0.npy: last_hidden_state <f4 [3, 9, 32]") &&
              strstr(out, "output_1.npy: pooler_output <f4 [3, 32]"),
          "rc %d: %s", rc, out);
    output_is("BertModel", "o_bert", 0, "bert.hidden");
    output_is("BertModel", "o_bert", 1, "bert.pooled");

    const char *gids = golden_npy("gpt2.ids", "gpt2_ids.npy"), *gmask = golden_npy("gpt2.mask", "gpt2_mask.npy");
    rc = run(NABLA " run --model %s %s %s --out %s --threads 1", GPT2_DIR, gids, gmask, tmp_path("o_lm"));
    CHECK("nabla run --model DIR ids mask (GPT2LMHeadModel, left and right padding): logits",
          rc == 0 && strstr(out, "output_0.npy: logits <f4 [3, 9, 101]"), "rc %d: %s", rc, out);
    output_is("GPT2LMHeadModel", "o_lm", 0, "gpt2.logits");
    rc = run(NABLA " run --model %s --arch GPT2Model %s %s --out %s --threads 1", GPT2_DIR, gids, gmask, tmp_path("o_gpt"));
    CHECK("--arch GPT2Model: last_hidden_state", rc == 0 && strstr(out, "last_hidden_state <f4 [3, 9, 32]"), "rc %d: %s", rc,
          out);
    output_is("GPT2Model", "o_gpt", 0, "gpt2.hidden");

    /* a 1-D int32 array is one sequence; no mask means every token */
    int32_t one[5] = {2, 17, 5, 40, 3};
    nb_tensor *t = nb_tensor_new(ctx, NB_I64, 1, (int64_t[]){5});
    for (int i = 0; i < 5; i++) nb_tensor_data_i64(t)[i] = one[i];
    nb_save_npy_as(tmp_path("one.npy"), t, "<i4");
    rc = run(NABLA " run %s %s --out %s --threads 1", GPT2_DIR, tmp_path("one.npy"), tmp_path("o_one"));
    nb_module *m = nb_model_from_dir(ctx, GPT2_DIR, NULL);
    nb_tensor *want = NULL, *got = nb_load_npy(ctx, tmp_path("o_one/output_0.npy"));
    if (m) {
        nb_module_train(m, 0);
        nb_tensor *ids2 = nb_tensor_from(ctx, NB_I64, 2, (int64_t[]){1, 5}, nb_tensor_data_i64(t));
        want = nb_text_forward(m, ids2, NULL, NULL);
        nb_tensor_free(ids2);
    }
    CHECK("a 1-D int32 .npy runs as one sequence: nb_text_forward's logits, bit for bit",
          rc == 0 && got && want && nb_tensor_numel(got) == 505 && nb_tensor_ndim(got) == 3 &&
              !memcmp(nb_tensor_data(got), nb_tensor_data(want), 505 * sizeof(float)),
          "rc %d: %s", rc, out);
    nb_tensor_free(got);
    nb_module_free(m);
    nb_ctx_reset(ctx);

    /* bad input */
    nb_tensor_data_i64(t)[2] = 101;
    nb_save_npy(tmp_path("bad.npy"), t);
    rc = run(NABLA " run %s %s --out %s", GPT2_DIR, tmp_path("bad.npy"), tmp_path("o_bad"));
    CHECK("an id outside the vocabulary: an error naming it", rc != 0 && strstr(out, "input_ids[2] = 101") &&
                                                                   strstr(out, "vocabulary"),
          "rc %d: %s", rc, out);
    nb_tensor *f = nb_tensor_new(ctx, NB_F32, 2, (int64_t[]){1, 3});
    nb_save_npy(tmp_path("float.npy"), f);
    rc = run(NABLA " run %s %s --out %s", GPT2_DIR, tmp_path("float.npy"), tmp_path("o_bad"));
    CHECK("float ids: an error", rc != 0 && strstr(out, "must be an integer array"), "rc %d: %s", rc, out);
    rc = run(NABLA " run %s %s %s %s --out %s", GPT2_DIR, gids, gmask, gmask, tmp_path("o_bad"));
    CHECK("token types for GPT-2: an error naming its inputs", rc == 2 && strstr(out, "takes input_ids, attention_mask"),
          "rc %d: %s", rc, out);
    nb_tensor *longer = nb_tensor_new(ctx, NB_I64, 2, (int64_t[]){1, 20});
    nb_save_npy(tmp_path("long.npy"), longer);
    rc = run(NABLA " run %s %s --out %s", BERT_DIR, tmp_path("long.npy"), tmp_path("o_bad"));
    CHECK("a sequence longer than the positions: an error naming max_position_embeddings",
          rc != 0 && strstr(out, "max_position_embeddings"), "rc %d: %s", rc, out);
    rc = run(NABLA " run %s %s --mask-of-nothing x --out %s", BERT_DIR, ids, tmp_path("o_bad"));
    CHECK("an unknown option: a usage error", rc == 2, "rc %d: %s", rc, out);
    rc = run(NABLA " run %s %s --arch BertForNothing --out %s", BERT_DIR, ids, tmp_path("o_bad"));
    CHECK("an unknown --arch: an error listing the architectures", rc == 2 && strstr(out, "GPT2LMHeadModel"), "rc %d: %s",
          rc, out);
    rc = run(NABLA " run %s %s", BERT_DIR, ids);
    CHECK("no --out: a usage error", rc == 2 && strstr(out, "usage"), "rc %d: %s", rc, out);
    rc = run(NABLA " run %s %s --out %s", tmp_path("no_such_dir"), ids, tmp_path("o_bad"));
    CHECK("not a model: the ONNX reader's error (cmd_run keeps its ONNX path)", rc != 0, "rc %d: %s", rc, out);
    nb_tensor_free(t), nb_tensor_free(f), nb_tensor_free(longer);
}

/* A copy of the golden directory dir with tokenizer files; the copy's path. */
static const char *with_tokenizer(const char *dir, const char *name, int bpe)
{
    const char *d = tmp_path(name);
    run("mkdir -p %s && cp %s/config.json %s/model.safetensors %s/", d, dir, dir, d);
    char p[600];
    if (!bpe) { /* 99 WordPiece tokens */
        snprintf(p, sizeof p, "%s/vocab.txt", d);
        FILE *f = fopen(p, "w");
        const char *words[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on",
                               "mat",   "a",     "dog",   "ran",   "in",     "park", "##s", "."};
        int n = (int)(sizeof words / sizeof *words);
        for (int i = 0; i < 99; i++) i < n ? fprintf(f, "%s\n", words[i]) : fprintf(f, "w%d\n", i);
        fclose(f);
    } else { /* 101 byte-level tokens: <|endoftext|>, Ġ (space), a-z, then fillers; no merges */
        snprintf(p, sizeof p, "%s/vocab.json", d);
        FILE *f = fopen(p, "w");
        fprintf(f, "{\"<|endoftext|>\": 0, \"\\u0120\": 1");
        for (int c = 0; c < 26; c++) fprintf(f, ", \"%c\": %d", 'a' + c, 2 + c);
        for (int c = 0; c < 26; c++) fprintf(f, ", \"%c\": %d", 'A' + c, 28 + c);
        for (int i = 54; i < 101; i++) fprintf(f, ", \"x%d\": %d", i, i);
        fprintf(f, "}\n");
        fclose(f);
        snprintf(p, sizeof p, "%s/merges.txt", d);
        write_text(p, "#version: 0.2\n");
    }
    return d;
}

/* The top-1 label/token of text and its probability as `nabla run --text` prints it. */
static void expect_top1(const char *dir, const char *text, const char *const *labels, char *line, size_t n)
{
    nb_module *m = nb_model_from_dir(ctx, dir, NULL);
    nb_tokenizer *tok = nb_tokenizer_from_dir(dir);
    nb_encoding e = {0};
    line[0] = 0;
    if (!m || !tok || nb_tokenizer_encode_pair(tok, text, NULL, NULL, &e)) return;
    nb_module_train(m, 0);
    nb_ctx_reset(ctx);
    nb_tensor *ids = nb_tensor_from(ctx, NB_I64, 2, (int64_t[]){1, e.n}, e.ids);
    nb_tensor *y = nb_text_forward(m, ids, NULL, NULL);
    int64_t V = nb_tensor_dim(y, -1);
    const float *row = nb_tensor_data(y) + (labels ? 0 : (e.n - 1) * V);
    int64_t best = 0;
    double s = 0;
    for (int64_t v = 0; v < V; v++) best = row[v] > row[best] ? v : best;
    for (int64_t v = 0; v < V; v++) s += exp((double)row[v] - row[best]);
    char *dec = labels ? NULL : nb_tokenizer_decode(tok, &best, 1);
    snprintf(line, n, "%s\n  %.4f  %s\n", text, 1 / s, labels ? labels[best] : dec);
    free(dec);
    nb_tensor_free(ids);
    nb_encoding_free(&e);
    nb_tokenizer_free(tok);
    nb_module_free(m);
}

static void text_inputs(void)
{
    const char *bert = with_tokenizer(BERT_DIR, "bert_tok", 0), *gpt = with_tokenizer(GPT2_DIR, "gpt_tok", 1);
    const char *labels[] = {"a", "b", "c"}; /* the golden config's id2label */
    char want1[300], want2[300];
    write_text(tmp_path("lines.txt"), "the cat sat on the mat.\nA dog ran in the parks\n");
    expect_top1(bert, "the cat sat on the mat.", labels, want1, sizeof want1);
    expect_top1(bert, "A dog ran in the parks", labels, want2, sizeof want2);
    int rc = run_stdout(NABLA " run --model %s --text %s --top 1 --threads 1", bert, tmp_path("lines.txt"));
    CHECK("--text on a classifier: each line's top label (id2label's name) and probability, as the library computes",
          rc == 0 && want1[0] && strstr(out, want1) && strstr(out, want2), "rc %d: %s (want %s%s)", rc, out, want1, want2);
    rc = run_stdout("printf 'the cat\\nthe dog\\n' | " NABLA " run --model %s --text - --top 3 --threads 1", bert);
    int lines = 0;
    for (char *p = out; (p = strchr(p, '\n')); p++) lines++;
    CHECK("--text - reads stdin; --top 3 prints 3 labels a line", rc == 0 && lines == 8, "rc %d: %s", rc, out);
    rc = run_stdout("echo 'the [MASK] sat on the [MASK]' | " NABLA " run --model %s --arch BertForMaskedLM --text - --top 2",
                    bert);
    char *m1 = strstr(out, "[MASK] at token 2:"), *m2 = strstr(out, "[MASK] at token 6:");
    CHECK("--text on BertForMaskedLM: the top tokens at each [MASK]", rc == 0 && m1 && m2 && m2 > m1, "rc %d: %s", rc, out);
    expect_top1(gpt, "the cat", NULL, want1, sizeof want1);
    rc = run_stdout("echo 'the cat' | " NABLA " run --model %s --text - --top 1", gpt);
    CHECK("--text on GPT2LMHeadModel: the most likely next token and its probability", rc == 0 && want1[0] && strstr(out, want1),
          "rc %d: %s (want %s)", rc, out, want1);
    rc = run("echo 'the cat' | " NABLA " run --model %s --arch GPT2Model --text -", gpt);
    CHECK("--text on a model without a head: an error pointing to nabla embed", rc == 2 && strstr(out, "nabla embed"),
          "rc %d: %s", rc, out);
    rc = run("printf 'the \\377 cat\\n' | " NABLA " run --model %s --text -", bert);
    CHECK("--text with invalid UTF-8: an error naming the line", rc != 0 && strstr(out, "line 1"), "rc %d: %s", rc, out);
    rc = run("echo hi | " NABLA " run --model %s --text - %s --out %s", bert, tmp_path("lines.txt"), tmp_path("x"));
    CHECK("--text with .npy inputs too: a usage error", rc == 2, "rc %d: %s", rc, out);
}

/* max |a - b| of the output_k.npy files of two run directories (INFINITY if they differ in shape) */
static double outputs_diff(const char *d1, const char *d2, int k)
{
    char p1[600], p2[600];
    snprintf(p1, sizeof p1, "%s/%s/output_%d.npy", tmp_dir, d1, k);
    snprintf(p2, sizeof p2, "%s/%s/output_%d.npy", tmp_dir, d2, k);
    nb_tensor *a = nb_load_npy(ctx, p1), *b = nb_load_npy(ctx, p2);
    double d = a && b && nb_tensor_numel(a) == nb_tensor_numel(b) && nb_tensor_ndim(a) == nb_tensor_ndim(b) ? 0 : INFINITY;
    for (int64_t i = 0; d == 0 && i < nb_tensor_numel(a); i++) {
        double e = fabs((double)nb_tensor_data(a)[i] - nb_tensor_data(b)[i]);
        if (!(e <= d)) d = e == e ? e : INFINITY;
    }
    nb_tensor_free(a), nb_tensor_free(b);
    return d;
}

/* bert_tiny / gpt2_tiny --weights W: the same outputs as the directory W came from. */
static void builtin_weights(void)
{
    const char *names[2] = {"bert_tiny", "gpt2_tiny"};
    int64_t ids[2 * 7] = {2, 17, 33, 5, 59, 8, 3, 2, 44, 12, 9, 0, 0, 0};
    int64_t mask[2 * 7] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0};
    nb_tensor *ti = nb_tensor_from(ctx, NB_I64, 2, (int64_t[]){2, 7}, ids);
    nb_tensor *tm = nb_tensor_from(ctx, NB_I64, 2, (int64_t[]){2, 7}, mask);
    char idp[512], mp[512]; /* tmp_path's buffers are reused */
    snprintf(idp, sizeof idp, "%s", tmp_path("bw_ids.npy"));
    snprintf(mp, sizeof mp, "%s", tmp_path("bw_mask.npy"));
    CHECK("built-in weights: inputs written", ti && tm && !nb_save_npy(idp, ti) && !nb_save_npy(mp, tm), "%s",
          nb_last_error());
    nb_tensor_free(ti), nb_tensor_free(tm);
    for (int k = 0; k < 2; k++) {
        int bert = k == 0;
        nb_text_config c;
        nb_text_config_preset(names[k], &c);
        c.vocab_size = 60, c.max_positions = 24, c.num_labels = 3; /* not the preset's: read from the weights */
        nb_ctx *mc = nb_ctx_new(&(nb_ctx_opts){.threads = 1, .seed = 11 + (uint64_t)k});
        nb_module *m = mc ? nb_text_model_new(mc, &c) : NULL;
        char dir[300], w[400], name[300];
        snprintf(dir, sizeof dir, "%s", tmp_path(bert ? "bw_bert" : "bw_gpt2"));
        snprintf(w, sizeof w, "%s/model.safetensors", dir);
        nb_status st = m ? nb_text_model_save_dir(m, dir) : NB_ERR_MEM;
        CHECK(bert ? "bert_tiny-sized directory saved" : "gpt2_tiny-sized directory saved", st == NB_OK, "%s",
              nb_last_error());
        nb_module_free(m);
        nb_ctx_free(mc);
        int rc = run(NABLA " run --model %s --weights %s %s %s --out %s --threads 1", names[k], w, idp, mp,
                     tmp_path(bert ? "bw_b1" : "bw_g1"));
        snprintf(name, sizeof name, "nabla run --model %s --weights W ids mask: logits %s", names[k],
                 bert ? "[2, 3] (3 classes from the weights)" : "[2, 7, 60] (vocabulary 60 from the weights)");
        CHECK(name, rc == 0 && strstr(out, bert ? "output_0.npy: logits <f4 [2, 3]" : "output_0.npy: logits <f4 [2, 7, 60]"),
              "rc %d: %s", rc, out);
        rc = run(NABLA " run --model %s %s %s --out %s --threads 1", dir, idp, mp, tmp_path(bert ? "bw_b2" : "bw_g2"));
        double d = rc ? INFINITY : outputs_diff(bert ? "bw_b1" : "bw_g1", bert ? "bw_b2" : "bw_g2", 0);
        snprintf(name, sizeof name, "%s --weights W: the same logits as W's directory (max diff %.3g)", names[k], d);
        CHECK(name, d == 0, "rc %d: %s", rc, out);
        const char *arch = bert ? "BertModel" : "GPT2Model";
        rc = run(NABLA " run %s --weights %s --arch %s %s %s --out %s --threads 1", names[k], w, arch, idp, mp,
                 tmp_path(bert ? "bw_b3" : "bw_g3"));
        int rc2 = run(NABLA " run --model %s --arch %s %s %s --out %s --threads 1", dir, arch, idp, mp,
                      tmp_path(bert ? "bw_b4" : "bw_g4"));
        d = rc || rc2 ? INFINITY : outputs_diff(bert ? "bw_b3" : "bw_g3", bert ? "bw_b4" : "bw_g4", 0);
        if (bert && d == 0) d = outputs_diff("bw_b3", "bw_b4", 1);
        snprintf(name, sizeof name, "%s --weights W --arch %s (first argument): %s as W's directory gives (max diff %.3g)",
                 names[k], arch, bert ? "last_hidden_state and pooler_output" : "last_hidden_state", d);
        CHECK(name, d == 0, "rc %d %d: %s", rc, rc2, out);
        rc = run(NABLA " run --model %s %s %s --out %s --threads 1", names[k], idp, mp, tmp_path(bert ? "bw_b5" : "bw_g5"));
        snprintf(name, sizeof name, "%s without --weights: a fresh model of the preset's sizes", names[k]);
        CHECK(name, rc == 0 && strstr(out, bert ? "logits <f4 [2, 2]" : "logits <f4 [2, 7, 30522]"), "rc %d: %s", rc, out);
        rc = run(NABLA " run --model %s --weights %s %s --out %s", names[1 - k], w, idp, tmp_path("bw_x"));
        snprintf(name, sizeof name, "%s with %s's weights: an error naming a missing tensor", names[1 - k], names[k]);
        CHECK(name, rc != 0 && strstr(out, "missing"), "rc %d: %s", rc, out);
        rc = run(NABLA " run --model %s --weights %s %s --out %s", dir, w, idp, tmp_path("bw_x"));
        CHECK("--weights with a model directory: a usage error", rc == 2 && strstr(out, "brings its own"), "rc %d: %s", rc,
              out);
    }
}

int main(void)
{
    if (tmp_dir_init("text_run")) return 2;
    ctx = nb_ctx_new(&(nb_ctx_opts){.threads = 1});
    g = nb_safetensors_open(G);
    CHECK("goldens open", g != NULL, "%s", nb_last_error());
    if (!g) return 1;
    npy_inputs();
    text_inputs();
    builtin_weights();
    nb_safetensors_close(g);
    nb_ctx_free(ctx);
    tmp_dir_remove();
    CHECK_DONE();
}
