/* hf_dir.c - Hugging Face model directories: config.json (read with cJSON) and
 * model.safetensors, for BERT and GPT-2: text models read from a directory and saved
 * back as one.
 *
 * Config keys (BERT / GPT-2) and Hugging Face's defaults when absent:
 *   vocab_size, hidden_size / n_embd, num_hidden_layers / n_layer,
 *   num_attention_heads / n_head                                   required
 *   intermediate_size 3072 / n_inner null (4·n_embd)
 *   max_position_embeddings 512 / n_positions 1024, type_vocab_size 2
 *   layer_norm_eps 1e-12 / layer_norm_epsilon 1e-5
 *   hidden_dropout_prob 0.1 / resid_pdrop 0.1, attention_probs_dropout_prob / attn_pdrop 0.1,
 *   embd_pdrop 0.1, classifier_dropout null (hidden_dropout_prob)
 *   hidden_act "gelu" / activation_function "gelu_new", initializer_range 0.02,
 *   pad_token_id 0 (BERT), num_labels (or the size of id2label) 2
 * Keys that would change the math to something nabla does not implement are errors:
 * position_embedding_type other than "absolute", is_decoder, add_cross_attention,
 * scale_attn_weights false, other activations. GPT-2's scale_attn_by_inverse_layer_idx
 * (false) divides layer l's attention scores also by l + 1.
 * Keys nabla does not use otherwise (use_cache, torch_dtype, ...) are ignored.
 * Architectures: the four nabla builds; the other BERT and GPT-2 heads (BertForMaskedLM,
 * BertForPreTraining, GPT2DoubleHeadsModel, ...) load as their base model, as AutoModel
 * does, their head's tensors ignored; a checkpoint without pooler keeps a fresh one.
 * The models themselves (built fresh, run) are models/text_model.c. */
#include "core/error.h"
#include "core/file.h"
#include "core/ctx.h"
#include "models/text_model.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- config.json ---- */

typedef struct {
    const char *path;
    const cJSON *root;
    nb_status st;
} cfg_reader;

/* The number under key (def when absent or null); an error naming the key when it is not a number. */
static double num(cfg_reader *r, const char *key, double def, int required)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->root, key);
    if (r->st) return def;
    if (!v || cJSON_IsNull(v)) {
        if (required) r->st = nb__fail(NB_ERR_FORMAT, "%s: the key \"%s\" is missing", r->path, key);
        return def;
    }
    if (!cJSON_IsNumber(v)) {
        r->st = nb__fail(NB_ERR_FORMAT, "%s: \"%s\" must be a number", r->path, key);
        return def;
    }
    return v->valuedouble;
}

static int64_t count(cfg_reader *r, const char *key, int64_t def, int required, int64_t min)
{
    double v = num(r, key, (double)def, required);
    if (!r->st && (v != floor(v) || v < (double)min || v > 1e12))
        r->st = nb__fail(NB_ERR_FORMAT, "%s: \"%s\" must be an integer >= %lld, got %g", r->path, key, (long long)min, v);
    return r->st ? def : (int64_t)v;
}

static float prob(cfg_reader *r, const char *key, double def)
{
    double v = num(r, key, def, 0);
    if (!r->st && !(v >= 0 && v < 1)) r->st = nb__fail(NB_ERR_FORMAT, "%s: \"%s\" must be in [0, 1), got %g", r->path, key, v);
    return (float)v;
}

static const char *str(cfg_reader *r, const char *key, const char *def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->root, key);
    if (r->st || !v || cJSON_IsNull(v)) return def;
    if (!cJSON_IsString(v)) {
        r->st = nb__fail(NB_ERR_FORMAT, "%s: \"%s\" must be a string", r->path, key);
        return def;
    }
    return v->valuestring;
}

/* A boolean key that must have the value `want` (nabla implements only that). */
static void must_be(cfg_reader *r, const char *key, int want, const char *why)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->root, key);
    if (r->st || !v || cJSON_IsNull(v)) return;
    if (!cJSON_IsBool(v)) {
        r->st = nb__fail(NB_ERR_FORMAT, "%s: \"%s\" must be true or false", r->path, key);
        return;
    }
    if (cJSON_IsTrue(v) != want)
        r->st = nb__fail(NB_ERR_FORMAT, "%s: \"%s\": %s is not supported (%s)", r->path, key, want ? "false" : "true", why);
}

static nb_status parse_config(const char *path, const char *text, nb_text_config *c)
{
    cJSON *root = cJSON_Parse(text);
    if (!root || !cJSON_IsObject(root)) {
        const char *at = cJSON_GetErrorPtr();
        nb_status st = nb__fail(NB_ERR_FORMAT, "%s: not a JSON object%s%.20s%s", path, at ? " (error near \"" : "",
                                at ? at : "", at ? "\")" : "");
        cJSON_Delete(root);
        return st;
    }
    cfg_reader r = {.path = path, .root = root};
    memset(c, 0, sizeof *c);
    const char *mt = str(&r, "model_type", NULL);
    const cJSON *archs = cJSON_GetObjectItemCaseSensitive(root, "architectures");
    const char *an = NULL;
    if (!r.st && archs && !cJSON_IsNull(archs)) {
        const cJSON *a0 = cJSON_IsArray(archs) ? cJSON_GetArrayItem(archs, 0) : NULL;
        if (!a0 || !cJSON_IsString(a0))
            r.st = nb__fail(NB_ERR_FORMAT, "%s: \"architectures\" must be a list of class names", path);
        else an = a0->valuestring;
    }
    int arch = -1;
    if (!r.st && an) {
        for (int i = 0; i < NB__TEXT_N_ARCH; i++)
            if (!strcmp(an, nb_text_arch_name((nb_text_arch)i))) arch = i;
        /* checkpoints of heads nabla does not have load their base model, as AutoModel does
         * (bert-base-uncased says BertForMaskedLM): the head's tensors are ignored */
        static const char *const bert_heads[] = {"BertForPreTraining", "BertLMHeadModel",
                                                 "BertForNextSentencePrediction", "BertForTokenClassification",
                                                 "BertForQuestionAnswering", "BertForMultipleChoice"};
        static const char *const gpt2_heads[] = {"GPT2DoubleHeadsModel", "GPT2ForSequenceClassification",
                                                 "GPT2ForTokenClassification", "GPT2ForQuestionAnswering"};
        for (size_t i = 0; arch < 0 && i < sizeof bert_heads / sizeof *bert_heads; i++)
            if (!strcmp(an, bert_heads[i])) arch = NB_BERT_MODEL;
        for (size_t i = 0; arch < 0 && i < sizeof gpt2_heads / sizeof *gpt2_heads; i++)
            if (!strcmp(an, gpt2_heads[i])) arch = NB_GPT2_MODEL;
        if (arch < 0)
            r.st = nb__fail(NB_ERR_FORMAT,
                            "%s: \"architectures\": %s is not supported (nabla has BertModel, "
                            "BertForSequenceClassification, BertForMaskedLM, GPT2Model, GPT2LMHeadModel, and the base model of "
                            "the other BERT and GPT-2 heads)",
                            path, an);
    }
    if (!r.st) {
        if (!mt && arch < 0)
            r.st = nb__fail(NB_ERR_FORMAT, "%s: the key \"model_type\" is missing (\"bert\" or \"gpt2\")", path);
        else if (mt && strcmp(mt, "bert") && strcmp(mt, "gpt2"))
            r.st = nb__fail(NB_ERR_FORMAT, "%s: \"model_type\": %s is not supported (nabla has \"bert\" and \"gpt2\")",
                            path, mt);
        else if (mt && arch >= 0 && nb__text_is_bert((nb_text_arch)arch) != !strcmp(mt, "bert"))
            r.st = nb__fail(NB_ERR_FORMAT, "%s: \"model_type\" %s contradicts \"architectures\" %s", path, mt, an);
        else if (arch < 0)
            arch = !strcmp(mt, "bert") ? NB_BERT_MODEL : NB_GPT2_MODEL;
    }
    if (r.st) {
        cJSON_Delete(root);
        return r.st;
    }
    c->arch = (nb_text_arch)arch;
    c->initializer_range = (float)num(&r, "initializer_range", 0.02, 0);
    const char *act;
    const char *hk, *lk;
    if (nb__text_is_bert(c->arch)) {
        c->vocab_size = count(&r, "vocab_size", 0, 1, 1);
        c->hidden_size = count(&r, "hidden_size", 0, 1, 1);
        c->num_layers = count(&r, "num_hidden_layers", 0, 1, 0);
        c->num_heads = count(&r, "num_attention_heads", 0, 1, 1);
        c->intermediate_size = count(&r, "intermediate_size", 3072, 0, 1);
        c->max_positions = count(&r, "max_position_embeddings", 512, 0, 1);
        c->type_vocab_size = count(&r, "type_vocab_size", 2, 0, 1);
        c->pad_token_id = count(&r, "pad_token_id", 0, 0, 0);
        c->layer_norm_eps = (float)num(&r, "layer_norm_eps", 1e-12, 0);
        c->hidden_dropout = prob(&r, "hidden_dropout_prob", 0.1);
        c->attention_dropout = prob(&r, "attention_probs_dropout_prob", 0.1);
        c->embedding_dropout = c->hidden_dropout;
        c->classifier_dropout = prob(&r, "classifier_dropout", c->hidden_dropout);
        act = str(&r, "hidden_act", "gelu");
        hk = "hidden_act";
        const char *pe = str(&r, "position_embedding_type", "absolute");
        if (!r.st && strcmp(pe, "absolute"))
            r.st = nb__fail(NB_ERR_FORMAT, "%s: \"position_embedding_type\": %s is not supported (only \"absolute\")",
                            path, pe);
        must_be(&r, "is_decoder", 0, "nabla's BERT is an encoder");
        must_be(&r, "add_cross_attention", 0, "no cross-attention");
        lk = "num_attention_heads";
    } else {
        c->vocab_size = count(&r, "vocab_size", 0, 1, 1);
        c->hidden_size = count(&r, "n_embd", 0, 1, 1);
        c->num_layers = count(&r, "n_layer", 0, 1, 0);
        c->num_heads = count(&r, "n_head", 0, 1, 1);
        c->intermediate_size = count(&r, "n_inner", 4 * c->hidden_size, 0, 1);
        c->max_positions = count(&r, "n_positions", 1024, 0, 1);
        c->type_vocab_size = 0;
        c->pad_token_id = -1;
        c->layer_norm_eps = (float)num(&r, "layer_norm_epsilon", 1e-5, 0);
        c->hidden_dropout = prob(&r, "resid_pdrop", 0.1);
        c->attention_dropout = prob(&r, "attn_pdrop", 0.1);
        c->embedding_dropout = prob(&r, "embd_pdrop", 0.1);
        act = str(&r, "activation_function", "gelu_new");
        hk = "activation_function";
        must_be(&r, "scale_attn_weights", 1, "attention scores are divided by sqrt(head size)");
        const cJSON *sl = cJSON_GetObjectItemCaseSensitive(root, "scale_attn_by_inverse_layer_idx");
        if (!r.st && sl && !cJSON_IsNull(sl) && !cJSON_IsBool(sl))
            r.st = nb__fail(NB_ERR_FORMAT, "%s: \"scale_attn_by_inverse_layer_idx\" must be true or false", path);
        c->scale_attn_by_inverse_layer_idx = sl && cJSON_IsTrue(sl);
        must_be(&r, "add_cross_attention", 0, "no cross-attention");
        lk = "n_head";
    }
    const cJSON *id2label = cJSON_GetObjectItemCaseSensitive(root, "id2label");
    int64_t nl_def = id2label && cJSON_IsObject(id2label) ? cJSON_GetArraySize(id2label) : 2;
    c->num_labels = (int)count(&r, "num_labels", nl_def, 0, 1);
    if (!r.st) {
        if (!strcmp(act, "gelu")) c->activation = NB_GELU_ERF;
        else if (!strcmp(act, "gelu_new") || !strcmp(act, "gelu_pytorch_tanh")) c->activation = NB_GELU_TANH;
        else
            r.st = nb__fail(NB_ERR_FORMAT, "%s: \"%s\": %s is not supported (nabla has gelu, gelu_new, gelu_pytorch_tanh)",
                            path, hk, act);
    }
    if (!r.st && c->hidden_size % c->num_heads)
        r.st = nb__fail(NB_ERR_FORMAT, "%s: the hidden size %lld does not divide into \"%s\" = %lld heads", path,
                        (long long)c->hidden_size, lk, (long long)c->num_heads);
    if (!r.st && nb__text_is_bert(c->arch) && c->pad_token_id >= c->vocab_size)
        r.st = nb__fail(NB_ERR_FORMAT, "%s: \"pad_token_id\" %lld is outside the vocabulary (vocab_size %lld)", path,
                        (long long)c->pad_token_id, (long long)c->vocab_size);
    if (!r.st && !(c->layer_norm_eps > 0 && c->initializer_range >= 0))
        r.st = nb__fail(NB_ERR_FORMAT, "%s: the layer-norm epsilon must be > 0 and initializer_range >= 0", path);
    cJSON_Delete(root);
    return r.st;
}

nb_status nb_text_config_read(const char *path, nb_text_config *c)
{
    char *text = nb__read_file(path, 1 << 22, NULL, "larger than a config file can be");
    if (!text) return NB_ERR_IO;
    nb_status st = parse_config(path, text, c);
    free(text);
    return st;
}

/* config.json; with labels, also id2label and label2id naming the n classes */
static nb_status config_write(const char *path, const nb_text_config *c, const char *const *labels, int nlabels);

nb_status nb_text_config_write(const char *path, const nb_text_config *c) { return config_write(path, c, NULL, 0); }

static nb_status config_write(const char *path, const nb_text_config *c, const char *const *labels, int nlabels)
{
    cJSON *o = cJSON_CreateObject(), *a = cJSON_CreateArray();
    if (!o || !a) {
        cJSON_Delete(o), cJSON_Delete(a);
        return nb__fail(NB_ERR_MEM, "out of memory");
    }
    cJSON_AddItemToArray(a, cJSON_CreateString(nb_text_arch_name(c->arch)));
    cJSON_AddItemToObject(o, "architectures", a);
    if (nb__text_is_bert(c->arch)) {
        cJSON_AddStringToObject(o, "model_type", "bert");
        cJSON_AddNumberToObject(o, "vocab_size", (double)c->vocab_size);
        cJSON_AddNumberToObject(o, "hidden_size", (double)c->hidden_size);
        cJSON_AddNumberToObject(o, "num_hidden_layers", (double)c->num_layers);
        cJSON_AddNumberToObject(o, "num_attention_heads", (double)c->num_heads);
        cJSON_AddNumberToObject(o, "intermediate_size", (double)c->intermediate_size);
        cJSON_AddNumberToObject(o, "max_position_embeddings", (double)c->max_positions);
        cJSON_AddNumberToObject(o, "type_vocab_size", (double)c->type_vocab_size);
        cJSON_AddNumberToObject(o, "pad_token_id", (double)c->pad_token_id);
        cJSON_AddNumberToObject(o, "layer_norm_eps", c->layer_norm_eps);
        cJSON_AddNumberToObject(o, "hidden_dropout_prob", c->hidden_dropout);
        cJSON_AddNumberToObject(o, "attention_probs_dropout_prob", c->attention_dropout);
        cJSON_AddNumberToObject(o, "classifier_dropout", c->classifier_dropout);
        cJSON_AddStringToObject(o, "hidden_act", c->activation == NB_GELU_ERF ? "gelu" : "gelu_new");
        cJSON_AddStringToObject(o, "position_embedding_type", "absolute");
    } else {
        cJSON_AddStringToObject(o, "model_type", "gpt2");
        cJSON_AddNumberToObject(o, "vocab_size", (double)c->vocab_size);
        cJSON_AddNumberToObject(o, "n_embd", (double)c->hidden_size);
        cJSON_AddNumberToObject(o, "n_layer", (double)c->num_layers);
        cJSON_AddNumberToObject(o, "n_head", (double)c->num_heads);
        cJSON_AddNumberToObject(o, "n_inner", (double)c->intermediate_size);
        cJSON_AddNumberToObject(o, "n_positions", (double)c->max_positions);
        cJSON_AddNumberToObject(o, "layer_norm_epsilon", c->layer_norm_eps);
        cJSON_AddNumberToObject(o, "resid_pdrop", c->hidden_dropout);
        cJSON_AddNumberToObject(o, "attn_pdrop", c->attention_dropout);
        cJSON_AddNumberToObject(o, "embd_pdrop", c->embedding_dropout);
        cJSON_AddStringToObject(o, "activation_function", c->activation == NB_GELU_ERF ? "gelu" : "gelu_new");
        cJSON_AddBoolToObject(o, "scale_attn_by_inverse_layer_idx", c->scale_attn_by_inverse_layer_idx != 0);
    }
    cJSON_AddNumberToObject(o, "num_labels", c->num_labels);
    cJSON_AddNumberToObject(o, "initializer_range", c->initializer_range);
    if (labels && nlabels > 0) {
        cJSON *id2 = cJSON_AddObjectToObject(o, "id2label"), *to = cJSON_AddObjectToObject(o, "label2id");
        for (int k = 0; id2 && to && k < nlabels; k++) {
            char key[32], fallback[32];
            snprintf(key, sizeof key, "%d", k);
            snprintf(fallback, sizeof fallback, "LABEL_%d", k);
            const char *name = labels[k] ? labels[k] : fallback;
            cJSON_AddStringToObject(id2, key, name);
            cJSON_AddNumberToObject(to, name, k);
        }
    }
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    if (!text) return nb__fail(NB_ERR_MEM, "out of memory");
    size_t n = strlen(text);
    text[n] = '\n'; /* cJSON_Print's buffer has room for its terminator, which becomes the newline */
    nb_status st = nb_write_file_atomic(path, text, n + 1);
    free(text);
    return st;
}

/* ---- directories ---- */

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* Tensors of a file that a model ignores: buffers, and heads of other architectures. */
static int ignorable(const char *name, nb_text_arch arch)
{
    if (ends_with(name, "embeddings.position_ids") || ends_with(name, ".attn.bias") ||
        ends_with(name, ".attn.masked_bias"))
        return 1;
    if (!strcmp(name, "lm_head.weight")) return 1; /* tied to wte (or a head nabla's model does not have) */
    if (arch == NB_BERT_MODEL && (!strncmp(name, "classifier.", 11) || !strncmp(name, "cls.", 4) ||
                                  !strncmp(name, "qa_outputs.", 11)))
        return 1;
    if (arch == NB_GPT2_MODEL && (!strncmp(name, "score.", 6) || !strncmp(name, "multiple_choice_head.", 21) ||
                                  !strncmp(name, "classifier.", 11) || !strncmp(name, "qa_outputs.", 11)))
        return 1;
    if (arch == NB_BERT_SEQ_CLS && !strncmp(name, "cls.", 4)) return 1;
    if (arch == NB_BERT_MLM && (!strncmp(name, "classifier.", 11) || !strncmp(name, "cls.predictions.decoder.", 24) ||
                                !strncmp(name, "cls.seq_relationship.", 21)))
        return 1; /* the decoder is the word embeddings (tied) and its bias cls.predictions.bias */
    return 0;
}

/* The weights of file f (at path) into m, built from c: Hugging Face's names with or
 * without the base-model prefix, TensorFlow's gamma/beta, tied and buffer tensors
 * skipped; a missing head or pooler stays fresh, as in Hugging Face. */
static nb_status load_hf_weights(nb_ctx *ctx, nb_module *m, const nb_text_config *c, nb_safetensors *f,
                                 const char *path, const char *config_name)
{
    int nf = nb_safetensors_count(f);
    char *used = calloc((size_t)nf + 1, 1);
    if (!used) return nb__fail(NB_ERR_MEM, "out of memory");
    const char *prefix = nb__text_is_bert(c->arch) ? "bert." : "transformer.";
    int head_model = c->arch == NB_BERT_SEQ_CLS || c->arch == NB_GPT2_LM_HEAD || c->arch == NB_BERT_MLM;
    size_t pl = strlen(prefix);
    int n;
    nb_status s = NB_OK;
    const nb_named_tensor *st = nb_module_state(m, &n);
    for (int i = 0; !s && i < n; i++) {
        const char *name = st[i].name;
        char alt[512] = "";
        if (head_model && !strncmp(name, prefix, pl)) snprintf(alt, sizeof alt, "%s", name + pl);
        else if (!head_model) snprintf(alt, sizeof alt, "%s%s", prefix, name);
        int k = nb_safetensors_find(f, name);
        if (k < 0 && alt[0]) k = nb_safetensors_find(f, alt);
        if (k < 0 && strstr(name, "LayerNorm.")) { /* old TensorFlow conversions: gamma, beta (HF renames them) */
            char g1[512], g2[512];
            const char *suffix = ends_with(name, ".weight") ? "gamma" : "beta";
            snprintf(g1, sizeof g1, "%.*s%s", (int)(strrchr(name, '.') + 1 - name), name, suffix);
            k = nb_safetensors_find(f, g1);
            if (k < 0 && alt[0]) {
                snprintf(g2, sizeof g2, "%.*s%s", (int)(strrchr(alt, '.') + 1 - alt), alt, suffix);
                k = nb_safetensors_find(f, g2);
            }
        }
        if (k < 0) {
            if (c->arch == NB_BERT_SEQ_CLS && !strncmp(name, "classifier.", 11)) continue; /* a new head */
            if (c->arch == NB_BERT_MLM && !strncmp(name, "cls.", 4)) continue;
            if (strstr(name, "pooler.dense.")) continue; /* a checkpoint without pooler: fresh, as HF */
            s = nb__fail(NB_ERR_FORMAT, "%s: %s is missing (%s with %lld layers expects it)", path, name,
                         nb_text_arch_name(c->arch), (long long)c->num_layers);
            break;
        }
        int64_t shape[NB_MAX_DIMS];
        int nd = nb_safetensors_shape(f, k, shape);
        const nb_tensor *t = st[i].tensor;
        int same = nd == t->ndim;
        for (int d = 0; same && d < nd; d++) same = shape[d] == t->shape[d];
        if (!same) {
            char a[128];
            nb__shape_str(nd, shape, a, sizeof a);
            s = nb__fail(NB_ERR_SHAPE, "%s: %s has shape %s, %s makes it %s", path, nb_safetensors_name(f, k), a,
                         config_name, nb__tshape(t));
            break;
        }
        nb_tensor *v = nb_safetensors_get(f, ctx, nb_safetensors_name(f, k));
        s = v ? nb_tensor_copy_in(st[i].tensor, nb_tensor_data(v), nb_tensor_numel(v)) : NB_ERR_FORMAT;
        nb_tensor_free(v);
        used[k] = 1;
    }
    for (int k = 0; !s && k < nf; k++) {
        const char *name = nb_safetensors_name(f, k);
        if (used[k] || ignorable(name, c->arch)) continue;
        if (!strncmp(name, prefix, pl) && ignorable(name + pl, c->arch)) continue;
        s = nb__fail(NB_ERR_FORMAT, "%s: unexpected tensor %s (not part of %s)", path, name, nb_text_arch_name(c->arch));
    }
    free(used);
    return s;
}

nb_module *nb_model_from_dir(nb_ctx *ctx, const char *dir, const nb_model_dir_opts *o)
{
    char path[4096];
    nb_text_config c;
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (nb_text_config_read(path, &c)) return NULL;
    if (o && o->arch_set) {
        if (nb__text_is_bert(o->arch) != nb__text_is_bert(c.arch)) {
            nb__fail(NB_ERR_ARG, "%s: cannot build %s from a %s configuration", dir, nb_text_arch_name(o->arch),
                     nb_text_arch_name(c.arch));
            return NULL;
        }
        c.arch = o->arch;
    }
    if (o && o->num_labels > 0) c.num_labels = o->num_labels;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    struct stat sb;
    if (stat(path, &sb)) {
        nb__fail(NB_ERR_IO, "%s: no model.safetensors (a PyTorch pytorch_model.bin converts with tools/pth2safetensors.py)",
                 dir);
        return NULL;
    }
    nb_safetensors *f = nb_safetensors_open(path);
    if (!f) return NULL;
    nb_module *m = nb_text_model_new(ctx, &c);
    if (m && load_hf_weights(ctx, m, &c, f, path, "config.json")) {
        nb_module_free(m);
        m = NULL;
    }
    nb_safetensors_close(f);
    return m;
}

/* Dimension d of the tensor name (with or without prefix) in f, or def when absent. */
static int64_t file_dim(nb_safetensors *f, const char *prefix, const char *name, int d, int64_t def)
{
    char alt[512];
    int64_t shape[NB_MAX_DIMS];
    snprintf(alt, sizeof alt, "%s%s", prefix, name);
    int k = nb_safetensors_find(f, name);
    if (k < 0) k = nb_safetensors_find(f, alt);
    return k >= 0 && nb_safetensors_shape(f, k, shape) > d ? shape[d] : def;
}

nb_module *nb_text_model_from_weights(nb_ctx *ctx, const nb_text_config *base, const char *path)
{
    if (!base || !path) {
        nb__fail(NB_ERR_ARG, "nb_text_model_from_weights: a configuration and a path are needed");
        return NULL;
    }
    nb_safetensors *f = nb_safetensors_open(path);
    if (!f) return NULL;
    nb_text_config c = *base;
    if (nb__text_is_bert(c.arch)) {
        c.vocab_size = file_dim(f, "bert.", "embeddings.word_embeddings.weight", 0, c.vocab_size);
        c.max_positions = file_dim(f, "bert.", "embeddings.position_embeddings.weight", 0, c.max_positions);
        c.type_vocab_size = file_dim(f, "bert.", "embeddings.token_type_embeddings.weight", 0, c.type_vocab_size);
        if (c.arch == NB_BERT_SEQ_CLS) c.num_labels = (int)file_dim(f, "", "classifier.weight", 0, c.num_labels);
    } else {
        c.vocab_size = file_dim(f, "transformer.", "wte.weight", 0, c.vocab_size);
        c.max_positions = file_dim(f, "transformer.", "wpe.weight", 0, c.max_positions);
    }
    nb_module *m = nb_text_model_new(ctx, &c);
    if (m && load_hf_weights(ctx, m, &c, f, path, "the built-in configuration")) {
        nb_module_free(m);
        m = NULL;
    }
    nb_safetensors_close(f);
    return m;
}

nb_status nb_text_model_save_dir(nb_module *m, const char *dir) { return nb_text_model_save_dir_labels(m, dir, NULL, 0); }

nb_status nb_text_model_save_dir_labels(nb_module *m, const char *dir, const char *const *labels, int n)
{
    const nb_text_config *c = nb_text_model_config(m);
    if (!c) return nb__fail(NB_ERR_ARG, "nb_text_model_save_dir: not a text model");
    if (mkdir(dir, 0777) && errno != EEXIST) return nb__fail(NB_ERR_IO, "%s: cannot create: %s", dir, strerror(errno));
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    nb_status st = config_write(path, c, labels, n);
    if (st) return st;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    return nb_save_safetensors(m, path);
}
