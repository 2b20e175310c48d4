/* tokenizer.c - Hugging Face tokenizers' files and the public nb_tokenizer API:
 * BERT's vocab.txt (WordPiece, wordpiece.c) and GPT-2's vocab.json + merges.txt
 * (byte-level BPE, bpe.c); encoding single texts and pairs with special tokens,
 * truncation (longest_first) and padding; decoding.
 *
 * vocab.txt: one token a line, the id is the line number from 0 (a line's "\n" is not
 * part of the token, as HF's load_vocab); tokens must be valid UTF-8 and distinct.
 * vocab.json: {"token": id, ...} (cJSON), tokens distinct, ids distinct in [0, count).
 * Every error names the file and the line or token. */
#include "text/hf_tok.h"
#include "core/file.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- string map ---- */

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
    return h;
}

int64_t nb__strmap_get(const nb__strmap *m, const char *s, size_t n)
{
    if (!m->cap) return -1;
    for (size_t i = hash_bytes(s, n) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->k[i]) return -1;
        if (m->klen[i] == n && !memcmp(m->k[i], s, n)) return m->v[i];
    }
}

int64_t *nb__strmap_ref(nb__strmap *m, const char *s, size_t n)
{
    if (!m->cap) return NULL;
    for (size_t i = hash_bytes(s, n) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->k[i]) return NULL;
        if (m->klen[i] == n && !memcmp(m->k[i], s, n)) return &m->v[i];
    }
}

static int strmap_grow(nb__strmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 1024;
    nb__strmap g = {.k = calloc(cap, sizeof *g.k), .klen = calloc(cap, sizeof *g.klen),
                    .v = calloc(cap, sizeof *g.v), .cap = cap};
    if (!g.k || !g.klen || !g.v) {
        nb__strmap_free(&g);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++)
        if (m->k[i]) nb__strmap_put(&g, m->k[i], m->klen[i], m->v[i]);
    nb__strmap_free(m);
    *m = g;
    return 0;
}

int nb__strmap_put(nb__strmap *m, const char *s, size_t n, int64_t v)
{
    if ((m->n + 1) * 2 > m->cap && strmap_grow(m)) return -1;
    for (size_t i = hash_bytes(s, n) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->k[i]) {
            m->k[i] = s, m->klen[i] = (uint32_t)n, m->v[i] = v;
            m->n++;
            return 1;
        }
        if (m->klen[i] == n && !memcmp(m->k[i], s, n)) return 0;
    }
}

void nb__strmap_free(nb__strmap *m)
{
    free(m->k), free(m->klen), free(m->v);
    memset(m, 0, sizeof *m);
}

nb_status nb__ids_push(nb__ids *a, int64_t id)
{
    if (a->n == a->cap) {
        int64_t cap = a->cap ? a->cap * 2 : 64;
        int64_t *v = realloc(a->v, sizeof *v * (size_t)cap);
        if (!v) return nb__fail(NB_ERR_MEM, "out of memory");
        a->v = v, a->cap = cap;
    }
    a->v[a->n++] = id;
    return NB_OK;
}

/* ---- loading ---- */

static nb_tokenizer *tok_new(int kind)
{
    nb_tokenizer *t = calloc(1, sizeof *t);
    if (!t) {
        nb__fail(NB_ERR_MEM, "out of memory");
        return NULL;
    }
    t->kind = kind;
    t->unk = t->cls = t->sep = t->pad = t->mask = t->eos = -1;
    t->pool = NB__ARENA_SMALL;
    for (int b = 0; b < 256; b++) t->byte_id[b] = -1;
    return t;
}

/* Add token s[0..n) with id; errors name where (file and line or "token"). */
static nb_status add_token(nb_tokenizer *t, const char *path, long line, const char *s, size_t n, int64_t id)
{
    if (nb_utf8_check(s, n) >= 0)
        return line ? nb__fail(NB_ERR_FORMAT, "%s:%ld: the token is not valid UTF-8", path, line)
                    : nb__fail(NB_ERR_FORMAT, "%s: a token is not valid UTF-8 (id %lld)", path, (long long)id);
    char *copy = nb__arena_strdup(&t->pool, s, n);
    if (!copy) return nb__fail(NB_ERR_MEM, "out of memory");
    int r = nb__strmap_put(&t->vocab, copy, n, id);
    if (r < 0) return nb__fail(NB_ERR_MEM, "out of memory");
    if (r == 0) {
        int64_t first = nb__strmap_get(&t->vocab, s, n);
        return line ? nb__fail(NB_ERR_FORMAT, "%s:%ld: duplicate token \"%s\" (first at line %lld)", path, line, copy,
                               (long long)first + 1)
                    : nb__fail(NB_ERR_FORMAT, "%s: duplicate token \"%s\"", path, copy);
    }
    if (id >= t->n_tokens) {
        char **tk = realloc(t->tokens, sizeof *tk * (size_t)(id + 1));
        if (!tk) return nb__fail(NB_ERR_MEM, "out of memory");
        for (int64_t i = t->n_tokens; i <= id; i++) tk[i] = NULL;
        t->tokens = tk;
        t->n_tokens = id + 1;
    }
    if (t->tokens[id]) return nb__fail(NB_ERR_FORMAT, "%s: id %lld is given to \"%s\" and \"%s\"", path, (long long)id, t->tokens[id], copy);
    t->tokens[id] = copy;
    return NB_OK;
}

nb_tokenizer *nb_wordpiece_load(const char *vocab_txt, const nb_wordpiece_opts *o)
{
    size_t len;
    char *text = nb__read_file(vocab_txt, (size_t)1 << 28, &len, "too large for a vocabulary file");
    if (!text) return NULL;
    nb_tokenizer *t = tok_new(NB__TOK_WORDPIECE);
    if (!t) {
        free(text);
        return NULL;
    }
    t->lower = !(o && o->keep_case);
    long line = 0;
    for (size_t p = 0; p < len;) {
        const char *nl = memchr(text + p, '\n', len - p);
        size_t e = nl ? (size_t)(nl - text) : len;
        line++;
        if (add_token(t, vocab_txt, line, text + p, e - p, line - 1)) goto fail;
        p = e + 1;
    }
    free(text);
    text = NULL;
    t->unk = nb_tokenizer_token_to_id(t, "[UNK]");
    t->cls = nb_tokenizer_token_to_id(t, "[CLS]");
    t->sep = nb_tokenizer_token_to_id(t, "[SEP]");
    t->pad = nb_tokenizer_token_to_id(t, "[PAD]");
    t->mask = nb_tokenizer_token_to_id(t, "[MASK]");
    if (t->unk < 0) {
        nb__fail(NB_ERR_FORMAT, "%s: the vocabulary has no [UNK] token", vocab_txt);
        goto fail;
    }
    return t;
fail:
    free(text);
    nb_tokenizer_free(t);
    return NULL;
}

nb_tokenizer *nb_bpe_load(const char *vocab_json, const char *merges_txt)
{
    size_t len;
    char *text = nb__read_file(vocab_json, (size_t)1 << 28, &len, "too large for a vocabulary file");
    if (!text) return NULL;
    nb_tokenizer *t = tok_new(NB__TOK_BPE);
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!t) goto fail;
    if (!root || !cJSON_IsObject(root)) {
        nb__fail(NB_ERR_FORMAT, "%s: not a JSON object of token: id", vocab_json);
        goto fail;
    }
    int n_entries = cJSON_GetArraySize(root);
    for (const cJSON *it = root->child; it; it = it->next) {
        if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble >= n_entries ||
            it->valuedouble != (double)(int64_t)it->valuedouble) {
            nb__fail(NB_ERR_FORMAT, "%s: the id of \"%.40s\" is not an integer in [0, %d) (ids number the %d tokens)",
                     vocab_json, it->string, n_entries, n_entries);
            goto fail;
        }
        if (add_token(t, vocab_json, 0, it->string, strlen(it->string), (int64_t)it->valuedouble)) goto fail;
    }
    cJSON_Delete(root);
    root = NULL;
    for (int b = 0; b < 256; b++) {
        char u[4];
        int n = nb__utf8_encode(nb__bpe_byte_cp(b), u);
        t->byte_id[b] = nb__strmap_get(&t->vocab, u, (size_t)n);
    }
    t->eos = nb_tokenizer_token_to_id(t, "<|endoftext|>");
    if (nb__bpe_load_merges(t, merges_txt)) goto fail;
    return t;
fail:
    cJSON_Delete(root);
    nb_tokenizer_free(t);
    return NULL;
}

static int exists(const char *path)
{
    struct stat sb;
    return !stat(path, &sb);
}

nb_tokenizer *nb_tokenizer_from_dir(const char *dir)
{
    char a[4096], b[4096];
    snprintf(a, sizeof a, "%s/vocab.txt", dir);
    if (exists(a)) {
        nb_wordpiece_opts o = {0};
        snprintf(b, sizeof b, "%s/tokenizer_config.json", dir);
        size_t len;
        char *cfg = exists(b) ? nb__read_file(b, 1 << 22, &len, "too large for a vocabulary file") : NULL;
        if (cfg) {
            cJSON *root = cJSON_Parse(cfg);
            const cJSON *lc = cJSON_GetObjectItemCaseSensitive(root, "do_lower_case");
            if (cJSON_IsBool(lc)) o.keep_case = !cJSON_IsTrue(lc);
            cJSON_Delete(root);
            free(cfg);
        }
        return nb_wordpiece_load(a, &o);
    }
    snprintf(a, sizeof a, "%s/vocab.json", dir);
    snprintf(b, sizeof b, "%s/merges.txt", dir);
    if (exists(a) && exists(b)) return nb_bpe_load(a, b);
    nb__fail(NB_ERR_IO, "%s: no tokenizer files (vocab.txt for BERT, or vocab.json and merges.txt for GPT-2)", dir);
    return NULL;
}

void nb_tokenizer_free(nb_tokenizer *t)
{
    if (!t) return;
    nb__strmap_free(&t->vocab);
    free(t->tokens);
    free(t->mkey);
    free(t->mval);
    nb__arena_free(&t->pool);
    free(t);
}

int64_t nb_tokenizer_vocab_size(const nb_tokenizer *t) { return t ? t->n_tokens : 0; }

int64_t nb_tokenizer_token_to_id(const nb_tokenizer *t, const char *token)
{
    return t && token ? nb__strmap_get(&t->vocab, token, strlen(token)) : -1;
}

const char *nb_tokenizer_id_to_token(const nb_tokenizer *t, int64_t id)
{
    return t && id >= 0 && id < t->n_tokens ? t->tokens[id] : NULL;
}

int nb_tokenizer_is_bpe(const nb_tokenizer *t) { return t && t->kind == NB__TOK_BPE; }

/* ---- encoding ---- */

static nb_status encode_text(const nb_tokenizer *t, const char *text, nb__ids *out)
{
    size_t n = strlen(text);
    int64_t bad = nb_utf8_check(text, n);
    if (bad >= 0) return nb__fail(NB_ERR_ARG, "tokenize: the text is not valid UTF-8 (byte %lld)", (long long)bad + 1);
    return t->kind == NB__TOK_BPE ? nb__bpe_encode(t, text, n, out) : nb__wordpiece_encode(t, text, n, out);
}

int64_t nb_tokenizer_encode(const nb_tokenizer *t, const char *text, int64_t **ids)
{
    *ids = NULL;
    if (!t || !text) {
        nb__fail(NB_ERR_ARG, "nb_tokenizer_encode: tokenizer and text are required");
        return -1;
    }
    nb__ids a = {0};
    if (encode_text(t, text, &a)) {
        free(a.v);
        return -1;
    }
    if (!a.v && !(a.v = malloc(sizeof(int64_t)))) { /* a valid pointer for an empty result */
        nb__fail(NB_ERR_MEM, "out of memory");
        return -1;
    }
    *ids = a.v;
    return a.n;
}

void nb_encoding_free(nb_encoding *e)
{
    if (!e) return;
    free(e->ids), free(e->type_ids), free(e->mask);
    memset(e, 0, sizeof *e);
}

nb_status nb_tokenizer_encode_pair(const nb_tokenizer *t, const char *a, const char *b, const nb_encode_opts *o,
                                   nb_encoding *out)
{
    memset(out, 0, sizeof *out);
    nb_encode_opts d = o ? *o : (nb_encode_opts){0};
    if (!t || !a) return nb__fail(NB_ERR_ARG, "nb_tokenizer_encode_pair: tokenizer and text are required");
    nb__ids ia = {0}, ib = {0};
    nb_status st = encode_text(t, a, &ia);
    if (!st && b) st = encode_text(t, b, &ib);
    int special = t->kind == NB__TOK_WORDPIECE && !d.no_special_tokens;
    if (!st && special && (t->cls < 0 || t->sep < 0))
        st = nb__fail(NB_ERR_ARG, "tokenize: the vocabulary has no [CLS] or [SEP] for special tokens");
    int64_t extra = special ? (b ? 3 : 2) : 0;
    if (!st && d.max_length > 0) {
        if (d.max_length < extra)
            st = nb__fail(NB_ERR_ARG, "tokenize: max_length %lld leaves no room for the %lld special tokens",
                          (long long)d.max_length, (long long)extra);
        while (!st && ia.n + ib.n + extra > d.max_length) { /* longest_first, from the end */
            if (ib.n > ia.n) ib.n--;
            else ia.n--;
        }
    }
    int64_t n = ia.n + ib.n + extra, total = d.pad_to > n ? d.pad_to : n;
    if (!st) {
        out->ids = malloc(sizeof(int64_t) * (size_t)(total + 1));
        out->type_ids = malloc(sizeof(int64_t) * (size_t)(total + 1));
        out->mask = malloc(sizeof(int64_t) * (size_t)(total + 1));
        if (!out->ids || !out->type_ids || !out->mask) st = nb__fail(NB_ERR_MEM, "out of memory");
    }
    if (!st) {
        int64_t k = 0;
        if (special) out->ids[k] = t->cls, out->type_ids[k++] = 0;
        for (int64_t i = 0; i < ia.n; i++) out->ids[k] = ia.v[i], out->type_ids[k++] = 0;
        if (special) out->ids[k] = t->sep, out->type_ids[k++] = 0;
        for (int64_t i = 0; i < ib.n; i++) out->ids[k] = ib.v[i], out->type_ids[k++] = special ? 1 : 0;
        if (special && b) out->ids[k] = t->sep, out->type_ids[k++] = 1;
        for (int64_t i = 0; i < k; i++) out->mask[i] = 1;
        int64_t pad = t->kind == NB__TOK_WORDPIECE ? (t->pad >= 0 ? t->pad : 0) : (t->eos >= 0 ? t->eos : 0);
        for (; k < total; k++) out->ids[k] = pad, out->type_ids[k] = 0, out->mask[k] = 0;
        out->n = total;
    }
    free(ia.v), free(ib.v);
    if (st) nb_encoding_free(out);
    return st;
}

char *nb_tokenizer_decode(const nb_tokenizer *t, const int64_t *ids, int64_t n)
{
    size_t cap = 64, len = 0;
    char *s = malloc(cap);
    if (!s || !t) {
        free(s);
        nb__fail(t ? NB_ERR_MEM : NB_ERR_ARG, t ? "out of memory" : "nb_tokenizer_decode: no tokenizer");
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) {
        const char *tok = nb_tokenizer_id_to_token(t, ids[i]);
        if (!tok) {
            free(s);
            nb__fail(NB_ERR_ARG, "decode: id %lld is not in the vocabulary of %lld tokens", (long long)ids[i],
                     (long long)t->n_tokens);
            return NULL;
        }
        size_t tl = strlen(tok);
        if (len + tl + 2 > cap) {
            while (len + tl + 2 > cap) cap *= 2;
            char *ns = realloc(s, cap);
            if (!ns) {
                free(s);
                nb__fail(NB_ERR_MEM, "out of memory");
                return NULL;
            }
            s = ns;
        }
        if (t->kind == NB__TOK_BPE) { /* the token's characters stand for bytes */
            for (size_t p = 0; p < tl;) {
                uint32_t cp;
                int l = nb__utf8_decode((const unsigned char *)tok + p, tl - p, &cp);
                int b = l ? nb__bpe_cp_byte(cp) : -1;
                if (b < 0) { /* a token that is not byte-level (e.g. <|endoftext|>): as it is */
                    memcpy(s + len, tok + p, l ? (size_t)l : 1);
                    len += l ? (size_t)l : 1;
                    p += l ? (size_t)l : 1;
                } else {
                    s[len++] = (char)b;
                    p += (size_t)l;
                }
            }
        } else if (!strncmp(tok, "##", 2)) {
            memcpy(s + len, tok + 2, tl - 2);
            len += tl - 2;
        } else {
            if (len) s[len++] = ' ';
            memcpy(s + len, tok, tl);
            len += tl;
        }
    }
    s[len] = 0;
    return s;
}
