/* test_text_models.c - BERT and GPT-2 from Hugging Face model directories against a
 * tiny BERT and GPT-2 written in PyTorch after transformers' modelling code
 * (tools/goldens/gen_text_models.py; tests/goldens/bert_tiny, gpt2_tiny and
 * text_models.safetensors): last hidden states, pooler output and logits within 1e-5
 * (of max(|want|, 1% of max|want|)) with padding masks (right and left) and batch 3;
 * the loss and every parameter's gradient; names with and without the base-model
 * prefix, the tied lm_head absent, buffers ignored; save and reload as a directory;
 * bad configs and files give errors naming the key or tensor. */
#include "check.h"
#include "golden.h"
#include "nabla.h"

#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#define G "tests/goldens/text_models.safetensors"
#define BERT_DIR "tests/goldens/bert_tiny"
#define GPT2_DIR "tests/goldens/gpt2_tiny"

static nb_ctx *ctx;
static nb_safetensors *g;

static nb_tensor *get(const char *name) { return nb_safetensors_get(g, ctx, name); }

/* max |a - b| / max |b|: the error relative to the tensor's scale */
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

/* got against PyTorch float32 ("key") and the float64 run ("key.f64"): max |got - want| /
 * max |want| within tol for both; the elementwise error (rel_err_scaled) of nabla and of
 * PyTorch float32 against float64 printed beside. */
static void close_to(const char *what, nb_tensor *got, const char *key, double tol)
{
    char k64[200], name[300], kerr[200];
    snprintf(k64, sizeof k64, "%s.f64", key);
    snprintf(kerr, sizeof kerr, "%s.torch_err", key);
    nb_tensor *want = get(key), *w64 = get(k64);
    if (!got || !want || !w64 || nb_tensor_numel(got) != nb_tensor_numel(want)) {
        snprintf(name, sizeof name, "%s within %g", what, tol);
        CHECK(name, 0, "%s", got ? "sizes differ" : nb_last_error());
    } else {
        int64_t n = nb_tensor_numel(want);
        double e32 = maxnorm_err(nb_tensor_data(got), nb_tensor_data(want), n);
        double e64 = maxnorm_err(nb_tensor_data(got), nb_tensor_data(w64), n);
        double el = rel_err_scaled(nb_tensor_data(got), nb_tensor_data(w64), (long)n, NULL);
        const char *te = nb_safetensors_metadata(g, kerr);
        snprintf(name, sizeof name,
                 "%s within %g of max|y| (vs PyTorch f32 %.2g, vs f64 %.2g; elementwise vs f64: nabla %.2g, PyTorch f32 %s)",
                 what, tol, e32, e64, el, te ? te : "?");
        CHECK(name, e32 <= tol && e64 <= tol, "too far");
    }
    nb_tensor_free(want);
    nb_tensor_free(w64);
}

/* Every parameter's gradient against "<prefix><name without strip>.f64" (the float64 run):
 * max-normalized within 1e-4. key.bias gets no gradient in exact arithmetic (softmax
 * ignores a constant added to a row), so it is compared with the scale of query.bias's. */
static void grads(nb_module *m, const char *prefix, const char *strip, const char *label)
{
    int n, bad = 0, checked = 0;
    double worst = 0;
    const char *wn = "";
    const nb_named_tensor *s = nb_module_state(m, &n);
    for (int i = 0; i < n; i++) {
        if (s[i].is_buffer) continue;
        const char *nm = s[i].name;
        if (strip && !strncmp(nm, strip, strlen(strip))) nm += strlen(strip);
        char key[256], k64[270];
        snprintf(key, sizeof key, "%s%s", prefix, nm);
        snprintf(k64, sizeof k64, "%s.f64", key);
        nb_tensor *w64 = get(k64);
        float *gr = nb_tensor_grad(s[i].tensor);
        double r = INFINITY;
        if (w64 && gr) {
            int64_t cnt = nb_tensor_numel(w64);
            char *kb = strstr(key, "key.bias");
            if (kb) { /* the scale of the layer's query.bias gradient */
                char qk[256];
                snprintf(qk, sizeof qk, "%.*squery.bias.f64", (int)(kb - key), key);
                nb_tensor *q = get(qk);
                double qm = 0, gm = 0;
                for (int64_t j = 0; q && j < nb_tensor_numel(q); j++) qm = fmax(qm, fabs(nb_tensor_data(q)[j]));
                for (int64_t j = 0; j < cnt; j++) gm = fmax(gm, fabs(gr[j]));
                r = gm / (qm > 0 ? qm : 1e-30);
                nb_tensor_free(q);
            } else {
                r = maxnorm_err(gr, nb_tensor_data(w64), cnt);
            }
            checked++;
        } else {
            bad++;
        }
        if (getenv("NB_VERBOSE")) printf("  %-60s %.3g\n", s[i].name, r);
        if (!(r <= worst)) worst = r, wn = s[i].name;
        nb_tensor_free(w64);
    }
    char name[200];
    snprintf(name, sizeof name, "%s: all %d parameter gradients within 1e-4 of max|g| of the float64 run", label,
             checked);
    CHECK(name, !bad && worst <= 1e-4, "%d missing; worst %.3g at %s", bad, worst, wn);
}

static void bert(void)
{
    nb_module *cls = nb_model_from_dir(ctx, BERT_DIR, NULL);
    CHECK("bert_tiny (BertForSequenceClassification, bert. prefix, position_ids buffer) loads", cls != NULL, "%s",
          nb_last_error());
    nb_module *base = nb_model_from_dir(ctx, BERT_DIR, &(nb_model_dir_opts){.arch_set = 1, .arch = NB_BERT_MODEL});
    CHECK("the same directory loads as BertModel (prefix stripped, classifier ignored)", base != NULL, "%s",
          nb_last_error());
    if (!cls || !base) return;
    int n;
    const nb_named_tensor *s = nb_module_state(cls, &n);
    CHECK("state_dict names are Hugging Face's", n > 5 && !strcmp(s[0].name, "bert.embeddings.word_embeddings.weight") &&
                                                    !strcmp(s[5].name, "bert.encoder.layer.0.attention.self.query.weight") &&
                                                    !strcmp(s[n - 1].name, "classifier.bias"),
          "%s %s %s", s[0].name, s[5].name, s[n - 1].name);
    const nb_text_config *c = nb_text_model_config(cls);
    CHECK("config: 3 labels (from id2label), eps 1e-12, erf GELU, hidden 32",
          c && c->num_labels == 3 && c->layer_norm_eps == 1e-12f && c->activation == NB_GELU_ERF && c->hidden_size == 32,
          "labels %d", c ? c->num_labels : -1);
    nb_module_train(cls, 0);
    nb_module_train(base, 0);
    nb_tensor *ids = get("bert.ids"), *mask = get("bert.mask"), *tt = get("bert.tt"), *labels = get("bert.labels");
    nb_text_inputs in = {.attention_mask = mask, .token_type_ids = tt};
    nb_ctx_reset(ctx);
    nb_tensor *pooled = NULL;
    nb_tensor *h = nb_text_forward(base, ids, &in, &pooled);
    close_to("BertModel last_hidden_state (3x9, padding 0/4/7)", h, "bert.hidden", 1e-5);
    close_to("BertModel pooler_output", pooled, "bert.pooled", 1e-5);
    nb_ctx_reset(ctx);
    nb_module_zero_grad(cls);
    nb_tensor *logits = nb_text_forward(cls, ids, &in, NULL);
    close_to("BertForSequenceClassification logits", logits, "bert.logits", 1e-5);
    nb_tensor *loss = nb_cross_entropy(logits, labels, NULL);
    close_to("BertForSequenceClassification cross-entropy", loss, "bert.loss", 1e-5);
    CHECK("backward runs", !nb_backward(loss), "%s", nb_last_error());
    grads(cls, "bert.grad.", NULL, "BertForSequenceClassification");

    /* save as a directory and load back */
    char dir[] = "/tmp/nb_text_modelXXXXXX";
    CHECK("temp dir", mkdtemp(dir) != NULL, "mkdtemp");
    CHECK("save_dir", !nb_text_model_save_dir(cls, dir), "%s", nb_last_error());
    nb_module *back = nb_model_from_dir(ctx, dir, NULL);
    nb_ctx_reset(ctx);
    if (back) nb_module_train(back, 0);
    nb_tensor *l2 = back ? nb_text_forward(back, ids, &in, NULL) : NULL;
    nb_tensor *l1 = nb_text_forward(cls, ids, &in, NULL);
    CHECK("saved directory loads back with identical logits", l2 && l1 && !memcmp(nb_tensor_data(l1), nb_tensor_data(l2), 9 * sizeof(float)),
          "%s", nb_last_error());
    nb_module_free(back);
    char p[300];
    snprintf(p, sizeof p, "%s/config.json", dir), remove(p);
    snprintf(p, sizeof p, "%s/model.safetensors", dir), remove(p);
    rmdir(dir);

    /* a classifier with a new number of labels on the base weights */
    nb_module *c5 = nb_model_from_dir(ctx, BERT_DIR, &(nb_model_dir_opts){.num_labels = 5});
    CHECK("num_labels 5 on a 3-label file: error naming classifier.weight's shapes",
          !c5 && strstr(nb_last_error(), "classifier.weight") && strstr(nb_last_error(), "[3, 32]"), "%s", nb_last_error());
    nb_module_free(c5);

    nb_tensor *longer = nb_tensor_new(ctx, NB_I64, 2, (int64_t[]){1, 17});
    nb_ctx_reset(ctx);
    CHECK("17 tokens for 16 positions: error naming max_position_embeddings",
          !nb_text_forward(base, longer, NULL, NULL) && strstr(nb_last_error(), "max_position_embeddings"), "%s",
          nb_last_error());
    nb_tensor *big = nb_tensor_from(ctx, NB_I64, 2, (int64_t[]){1, 2}, (int64_t[]){5, 99});
    CHECK("token id 99 of 99: error", !nb_text_forward(base, big, NULL, NULL) && strstr(nb_last_error(), "99"), "%s",
          nb_last_error());
    nb_tensor_free(longer), nb_tensor_free(big);
    nb_tensor_free(ids), nb_tensor_free(mask), nb_tensor_free(tt), nb_tensor_free(labels);
    nb_module_free(cls), nb_module_free(base);
}

/* scale_attn_by_inverse_layer_idx: layer l's scores also divided by l + 1 (3 layers) */
static void gpt2_layer_idx(void)
{
    nb_module *lm = nb_model_from_dir(ctx, "tests/goldens/gpt2_layer_idx", NULL);
    CHECK("gpt2_layer_idx (scale_attn_by_inverse_layer_idx true) loads", lm && nb_text_model_config(lm)->scale_attn_by_inverse_layer_idx,
          "%s", nb_last_error());
    if (!lm) return;
    nb_module_train(lm, 0);
    nb_tensor *ids = get("gpt2li.ids"), *mask = get("gpt2li.mask");
    nb_ctx_reset(ctx);
    close_to("GPT2LMHeadModel logits with scale_attn_by_inverse_layer_idx (3 layers, right padding)",
             nb_text_forward(lm, ids, &(nb_text_inputs){.attention_mask = mask}, NULL), "gpt2li.logits", 1e-5);
    nb_tensor_free(ids), nb_tensor_free(mask);
    nb_module_free(lm);
}

static void gpt2(void)
{
    nb_module *lm = nb_model_from_dir(ctx, GPT2_DIR, NULL);
    CHECK("gpt2_tiny (GPT2LMHeadModel config, GPT2Model names, no lm_head, attn.bias buffers) loads", lm != NULL, "%s",
          nb_last_error());
    nb_module *base = nb_model_from_dir(ctx, GPT2_DIR, &(nb_model_dir_opts){.arch_set = 1, .arch = NB_GPT2_MODEL});
    CHECK("the same directory loads as GPT2Model", base != NULL, "%s", nb_last_error());
    if (!lm || !base) return;
    int n;
    const nb_named_tensor *s = nb_module_state(lm, &n);
    CHECK("state_dict names are Hugging Face's (transformer.h.0.attn.c_attn.weight (in, out))",
          n > 4 && !strcmp(s[4].name, "transformer.h.0.attn.c_attn.weight") && nb_tensor_dim(s[4].tensor, 0) == 32 &&
              nb_tensor_dim(s[4].tensor, 1) == 96,
          "%s", n > 4 ? s[4].name : "");
    nb_module_train(lm, 0);
    nb_module_train(base, 0);
    nb_tensor *ids = get("gpt2.ids"), *mask = get("gpt2.mask"), *labels = get("gpt2.labels");
    nb_text_inputs in = {.attention_mask = mask};
    nb_ctx_reset(ctx);
    close_to("GPT2Model last_hidden_state (3x9, left and right padding)", nb_text_forward(base, ids, &in, NULL),
             "gpt2.hidden", 1e-5);
    nb_ctx_reset(ctx);
    nb_module_zero_grad(lm);
    nb_tensor *logits = nb_text_forward(lm, ids, &in, NULL);
    close_to("GPT2LMHeadModel logits", logits, "gpt2.logits", 1e-5);
    nb_tensor *shifted = nb_reshape(nb_narrow(logits, 1, 0, 8), 2, (int64_t[]){-1, 101});
    nb_tensor *flat = nb_reshape(labels, 1, (int64_t[]){-1});
    nb_tensor *loss = nb_cross_entropy(shifted, flat, NULL);
    close_to("GPT2LMHeadModel next-token cross-entropy (padding ignored)", loss, "gpt2.loss", 1e-5);
    CHECK("backward runs", !nb_backward(loss), "%s", nb_last_error());
    grads(lm, "gpt2.grad.", "transformer.", "GPT2LMHeadModel (tied wte gets both gradients)");
    /* the key/value cache: 5 tokens, then 4 one at a time, each step's logits as the full forward's */
    {
        int old = nb_set_grad_enabled(ctx, 0);
        int64_t seq[9] = {5, 17, 99, 3, 42, 7, 7, 88, 1};
        nb_text_cache *kc = nb_text_cache_new(lm, 1, 16);
        double worst = 0;
        int ok = kc != NULL;
        for (int step = 0; ok && step < 5; step++) {
            int64_t start = step ? 4 + step : 0, len = step ? 1 : 5, end = start + len;
            nb_ctx_reset(ctx);
            nb_tensor *x = nb_tensor_from(ctx, NB_I64, 2, (int64_t[]){1, len}, seq + start);
            nb_tensor *full = nb_tensor_from(ctx, NB_I64, 2, (int64_t[]){1, end}, seq);
            nb_tensor *lc = nb_text_forward_cached(lm, x, kc), *lf = nb_text_forward(lm, full, NULL, NULL);
            ok = lc && lf && nb_text_cache_len(kc) == end;
            if (ok) {
                double e = maxnorm_err(nb_tensor_data(lc) + (len - 1) * 101, nb_tensor_data(lf) + (end - 1) * 101, 101);
                worst = fmax(worst, e);
            }
            nb_tensor_free(x), nb_tensor_free(full);
        }
        CHECK("GPT-2 key/value cache: 5 + 4 cached steps give the full forward's last logits within 1e-5", ok && worst <= 1e-5,
              "worst %.3g %s", worst, nb_last_error());
        nb_ctx_reset(ctx);
        nb_tensor *more = nb_tensor_new(ctx, NB_I64, 2, (int64_t[]){1, 8});
        CHECK("a cache overflow (9 + 8 > 16): error", !nb_text_forward_cached(lm, more, kc) && strstr(nb_last_error(), "cache"),
              "%s", nb_last_error());
        nb_set_grad_enabled(ctx, 1);
        nb_tensor *one = nb_tensor_new(ctx, NB_I64, 2, (int64_t[]){1, 1});
        CHECK("cached forward with gradients on: error", !nb_text_forward_cached(lm, one, kc) && strstr(nb_last_error(), "gradients"),
              "%s", nb_last_error());
        nb_tensor_free(more), nb_tensor_free(one);
        nb_text_cache_free(kc);
        nb_set_grad_enabled(ctx, old);
    }
    nb_tensor_free(ids), nb_tensor_free(mask), nb_tensor_free(labels);
    nb_module_free(lm), nb_module_free(base);
}

/* 50 SGD steps (lr 0.05, momentum 0.9, eval mode: no dropout) from the golden weights on
 * 5 cycled batches (tools/goldens/gen_text_trajectory.py): every loss within 1e-4
 * (relative) of PyTorch's float64 run. */
static void trajectory(const char *dir, const char *key, int is_gpt)
{
    nb_safetensors *t = nb_safetensors_open("tests/goldens/text_trajectory.safetensors");
    nb_module *m = nb_model_from_dir(ctx, dir, NULL);
    char k[64], name[256];
    if (!t || !m) {
        CHECK("trajectory goldens and model", 0, "%s", nb_last_error());
        nb_module_free(m);
        nb_safetensors_close(t);
        return;
    }
#define TGET(suffix) (snprintf(k, sizeof k, "%s.%s", key, suffix), nb_safetensors_get(t, ctx, k))
    nb_tensor *ids = TGET("ids"), *mask = TGET("mask"), *labels = TGET("labels"), *losses = TGET("losses");
    nb_module_train(m, 0);
    int np;
    nb_tensor **params = nb_module_parameters(m, &np);
    nb_optim *opt = nb_sgd_new(params, np, &(nb_sgd_opts){.lr = 0.05, .momentum = 0.9});
    int64_t NB = nb_tensor_dim(ids, 0), B = nb_tensor_dim(ids, 1), T = nb_tensor_dim(ids, 2);
    int64_t V = nb_text_model_config(m)->vocab_size;
    int steps = (int)nb_tensor_numel(losses);
    double worst = 0;
    int at = 0;
    float first = 0, last = 0;
    size_t mallocs_at_5 = 0;
    for (int s = 0; s < steps && opt; s++) {
        if (s == 5) mallocs_at_5 = nb_ctx_arena_mallocs(ctx);
        int64_t b = s % NB;
        nb_ctx_reset(ctx);
        nb_optim_zero_grad(opt);
        nb_tensor *x = nb_reshape(nb_narrow(ids, 0, b, 1), 2, (int64_t[]){B, T});
        nb_tensor *mk = nb_reshape(nb_narrow(mask, 0, b, 1), 2, (int64_t[]){B, T});
        nb_tensor *out = nb_text_forward(m, x, &(nb_text_inputs){.attention_mask = mk}, NULL);
        nb_tensor *loss;
        if (is_gpt) {
            nb_tensor *lg = nb_reshape(nb_narrow(out, 1, 0, T - 1), 2, (int64_t[]){-1, V});
            nb_tensor *y = nb_reshape(nb_narrow(labels, 0, b, 1), 1, (int64_t[]){-1});
            loss = nb_cross_entropy(lg, y, NULL);
        } else {
            loss = nb_cross_entropy(out, nb_reshape(nb_narrow(labels, 0, b, 1), 1, (int64_t[]){B}), NULL);
        }
        if (!loss || nb_backward(loss) || nb_optim_step(opt)) {
            worst = INFINITY;
            printf("  step %d: %s\n", s, nb_last_error());
            break;
        }
        double want = nb_tensor_data(losses)[s], got = nb_tensor_item(loss);
        double r = fabs(got - want) / fmax(fabs(want), 1e-6);
        if (!(r <= worst)) worst = r, at = s;
        if (!s) first = (float)got;
        last = (float)got;
    }
    snprintf(name, sizeof name, "%s: %d SGD steps, losses %.4f -> %.4f, each within 1e-4 of PyTorch float64's (worst %.2g at step %d)",
             nb_text_arch_name(nb_text_model_config(m)->arch), steps, first, last, worst, at);
    CHECK(name, worst <= 1e-4, "too far");
    snprintf(name, sizeof name, "%s: the arena stops growing after 5 steps (batches of one shape)",
             nb_text_arch_name(nb_text_model_config(m)->arch));
    CHECK(name, nb_ctx_arena_mallocs(ctx) == mallocs_at_5, "%zu -> %zu", mallocs_at_5, nb_ctx_arena_mallocs(ctx));
    nb_optim_free(opt);
    nb_tensor_free(ids), nb_tensor_free(mask), nb_tensor_free(labels), nb_tensor_free(losses);
    nb_module_free(m);
    nb_safetensors_close(t);
}

/* BertForMaskedLM: the golden BERT's weights with the head of tests/goldens/text_mlm.safetensors
 * (tools/goldens/gen_text_mlm.py): logits, the masked-LM loss and every gradient. */
static void mlm(void)
{
    nb_safetensors *t = nb_safetensors_open("tests/goldens/text_mlm.safetensors");
    nb_module *m = nb_model_from_dir(ctx, BERT_DIR, &(nb_model_dir_opts){.arch_set = 1, .arch = NB_BERT_MLM});
    CHECK("BertForMaskedLM from a classifier's directory (bert.* loaded, a fresh MLM head)", t && m, "%s", nb_last_error());
    if (!t || !m) {
        nb_module_free(m);
        nb_safetensors_close(t);
        return;
    }
    int n;
    const nb_named_tensor *s = nb_module_state(m, &n);
    int copied = 0;
    for (int i = 0; i < n; i++)
        if (!strncmp(s[i].name, "cls.", 4)) {
            nb_tensor *v = nb_safetensors_get(t, ctx, s[i].name);
            if (v && !nb_tensor_copy_in(s[i].tensor, nb_tensor_data(v), nb_tensor_numel(v))) copied++;
            nb_tensor_free(v);
        }
    CHECK("its state_dict has HF's head names (cls.predictions.bias, .transform.dense, .transform.LayerNorm)", copied == 5,
          "%d", copied);
    nb_module_train(m, 0);
    nb_tensor *ids = get("bert.ids"), *mask = get("bert.mask"), *tt = get("bert.tt"),
              *labels = nb_safetensors_get(t, ctx, "mlm.labels"), *want = nb_safetensors_get(t, ctx, "mlm.logits"),
              *wl = nb_safetensors_get(t, ctx, "mlm.loss");
    nb_ctx_reset(ctx);
    nb_module_zero_grad(m);
    nb_tensor *logits = nb_text_forward(m, ids, &(nb_text_inputs){.attention_mask = mask, .token_type_ids = tt}, NULL);
    double e = logits ? maxnorm_err(nb_tensor_data(logits), nb_tensor_data(want), nb_tensor_numel(want)) : INFINITY;
    CHECK("BertForMaskedLM logits within 1e-5 of max|y| of PyTorch's", e <= 1e-5, "%.3g %s", e, nb_last_error());
    nb_tensor *loss = nb_cross_entropy(nb_reshape(logits, 2, (int64_t[]){-1, 99}), nb_reshape(labels, 1, (int64_t[]){-1}), NULL);
    CHECK("masked-LM loss (5 masked positions) within 1e-5", loss && fabs(nb_tensor_item(loss) - nb_tensor_data(wl)[0]) <=
                                                                     1e-5 * fabs(nb_tensor_data(wl)[0]),
          "%g vs %g", loss ? nb_tensor_item(loss) : NAN, nb_tensor_data(wl)[0]);
    nb_backward(loss);
    double worst = 0;
    const char *wn = "";
    int checked = 0;
    for (int i = 0; i < n; i++) {
        char key[256];
        snprintf(key, sizeof key, "mlm.grad.%s.f64", s[i].name);
        if (nb_safetensors_find(t, key) < 0 || strstr(key, "key.bias")) continue; /* the pooler is not used */
        nb_tensor *w = nb_safetensors_get(t, ctx, key);
        float *gr = nb_tensor_grad(s[i].tensor);
        double r = gr ? maxnorm_err(gr, nb_tensor_data(w), nb_tensor_numel(w)) : INFINITY;
        if (!(r <= worst)) worst = r, wn = s[i].name;
        checked++;
        nb_tensor_free(w);
    }
    char name[200];
    snprintf(name, sizeof name, "BertForMaskedLM: %d gradients (tied word embeddings included) within 1e-4 of the float64 run",
             checked);
    CHECK(name, checked > 30 && worst <= 1e-4, "worst %.3g at %s", worst, wn);
    nb_tensor_free(ids), nb_tensor_free(mask), nb_tensor_free(tt), nb_tensor_free(labels), nb_tensor_free(want),
        nb_tensor_free(wl);
    nb_module_free(m);
    nb_safetensors_close(t);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) exit(2);
    fputs(text, f);
    fclose(f);
}

static void bad_configs(void)
{
    char dir[] = "/tmp/nb_text_cfgXXXXXX";
    if (!mkdtemp(dir)) return;
    char path[300];
    snprintf(path, sizeof path, "%s/config.json", dir);
    struct {
        const char *json, *want, *label;
    } cases[] = {
        {"{\"model_type\": \"bert\", \"hidden_size\": 32, \"num_hidden_layers\": 2, \"num_attention_heads\": 4}",
         "\"vocab_size\" is missing", "missing vocab_size"},
        {"{\"model_type\": \"bert\", \"vocab_size\": 10, \"hidden_size\": 30, \"num_hidden_layers\": 2, "
         "\"num_attention_heads\": 4}",
         "num_attention_heads", "hidden 30 with 4 heads"},
        {"{\"architectures\": [\"BertForMaskedXL\"], \"model_type\": \"bert\"}", "BertForMaskedXL", "unknown architecture"},
        {"{\"model_type\": \"t5\"}", "t5", "unknown model_type"},
        {"{\"architectures\": [\"GPT2Model\"], \"model_type\": \"bert\"}", "contradicts", "model_type vs architectures"},
        {"{\"model_type\": \"bert\", \"vocab_size\": 10, \"hidden_size\": 32, \"num_hidden_layers\": 2, "
         "\"num_attention_heads\": 4, \"position_embedding_type\": \"relative_key\"}",
         "position_embedding_type", "relative position embeddings"},
        {"{\"model_type\": \"gpt2\", \"vocab_size\": 10, \"n_embd\": 32, \"n_layer\": 2, \"n_head\": 4, "
         "\"scale_attn_by_inverse_layer_idx\": 1}",
         "\"scale_attn_by_inverse_layer_idx\" must be true or false", "scale_attn_by_inverse_layer_idx not a boolean"},
        {"{\"model_type\": \"gpt2\", \"vocab_size\": 10, \"n_embd\": 32, \"n_layer\": 2, \"n_head\": 4, "
         "\"activation_function\": \"relu\"}",
         "activation_function", "unsupported activation"},
        {"{\"model_type\": \"gpt2\", \"vocab_size\": \"ten\", \"n_embd\": 32, \"n_layer\": 2, \"n_head\": 4}",
         "\"vocab_size\" must be a number", "a string where a number belongs"},
        {"{\"model_type\": \"bert\", \"vocab_size\": 10", "not a JSON object", "truncated JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        write_text(path, cases[i].json);
        nb_text_config c;
        nb_clear_error();
        nb_status st = nb_text_config_read(path, &c);
        char name[200];
        snprintf(name, sizeof name, "config.json with %s: error naming %s", cases[i].label, cases[i].want);
        CHECK(name, st && strstr(nb_last_error(), cases[i].want), "%s", nb_last_error());
    }
    /* a model directory whose tensors do not fit */
    nb_text_config c;
    nb_text_config_read(BERT_DIR "/config.json", &c);
    nb_module *m = nb_text_model_new(ctx, &c);
    char st_path[300];
    snprintf(st_path, sizeof st_path, "%s/model.safetensors", dir);
    nb_text_config_write(path, &c);
    int n;
    const nb_named_tensor *s = nb_module_state(m, &n);
    nb_named_tensor *part = malloc(sizeof *part * (size_t)(n + 1));
    memcpy(part, s, sizeof *part * (size_t)n);
    nb_safetensors_write(st_path, part + 1, n - 1, NULL, 0);
    CHECK("a missing tensor: error naming it", !nb_model_from_dir(ctx, dir, NULL) && strstr(nb_last_error(), "word_embeddings.weight is missing"),
          "%s", nb_last_error());
    nb_tensor *extra = nb_tensor_new(ctx, NB_F32, 1, (int64_t[]){3});
    part[n] = (nb_named_tensor){.name = "bert.encoder.layer.7.output.dense.weight", .tensor = extra};
    nb_safetensors_write(st_path, part, n + 1, NULL, 0);
    CHECK("an unexpected tensor: error naming it",
          !nb_model_from_dir(ctx, dir, NULL) && strstr(nb_last_error(), "unexpected tensor bert.encoder.layer.7"), "%s",
          nb_last_error());
    /* a BertForPreTraining checkpoint (a head nabla lacks): its base model, cls.* ignored,
     * the pooler fresh when absent */
    write_text(path, "{\"architectures\": [\"BertForPreTraining\"], \"model_type\": \"bert\", \"vocab_size\": 99, "
                     "\"hidden_size\": 32, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
                     "\"intermediate_size\": 64, \"max_position_embeddings\": 16}");
    {
        int k = 0;
        nb_tensor *clsw = nb_tensor_new(ctx, NB_F32, 1, (int64_t[]){99});
        for (int i = 0; i < n; i++)
            if (!strstr(s[i].name, "classifier.") && !strstr(s[i].name, "pooler.")) part[k++] = s[i];
        part[k++] = (nb_named_tensor){.name = "cls.predictions.bias", .tensor = clsw};
        nb_safetensors_write(st_path, part, k, NULL, 0);
        nb_module *mlm = nb_model_from_dir(ctx, dir, NULL);
        CHECK("a BertForPreTraining checkpoint without pooler loads as BertModel (cls.* ignored, pooler fresh)",
              mlm && nb_text_model_config(mlm)->arch == NB_BERT_MODEL, "%s", nb_last_error());
        nb_module_free(mlm);
        nb_tensor_free(clsw);
        nb_text_config_write(path, &c);
    }
    /* LayerNorm.gamma / LayerNorm.beta (old TensorFlow conversions) load as weight / bias */
    char **renamed = malloc(sizeof *renamed * (size_t)n);
    for (int i = 0; i < n; i++) {
        const char *nm = s[i].name;
        renamed[i] = malloc(strlen(nm) + 8);
        if (strstr(nm, "LayerNorm.weight")) sprintf(renamed[i], "%.*sgamma", (int)(strlen(nm) - 6), nm);
        else if (strstr(nm, "LayerNorm.bias")) sprintf(renamed[i], "%.*sbeta", (int)(strlen(nm) - 4), nm);
        else strcpy(renamed[i], nm);
        part[i] = (nb_named_tensor){.name = renamed[i], .tensor = s[i].tensor};
    }
    nb_safetensors_write(st_path, part, n, NULL, 0);
    nb_module *gb = nb_model_from_dir(ctx, dir, NULL);
    CHECK("LayerNorm.gamma / LayerNorm.beta load as weight / bias", gb != NULL, "%s", nb_last_error());
    nb_module_free(gb);
    for (int i = 0; i < n; i++) free(renamed[i]);
    free(renamed);
    free(part);
    nb_tensor_free(extra);
    nb_module_free(m);
    remove(st_path);
    remove(path);
    rmdir(dir);
}

int main(void)
{
    ctx = nb_ctx_new(&(nb_ctx_opts){.seed = 1});
    g = nb_safetensors_open(G);
    CHECK("goldens open", g != NULL, "%s", nb_last_error());
    if (!g) CHECK_DONE();
    bert();
    gpt2();
    gpt2_layer_idx();
    bad_configs();
    mlm();
    trajectory(BERT_DIR, "bert", 0);
    trajectory(GPT2_DIR, "gpt2", 1);
    nb_safetensors_close(g);
    nb_ctx_free(ctx);
    CHECK_DONE();
}
