/* bpe.c - GPT-2's byte-level BPE (openai/gpt-2 encoder.py, as Hugging Face's
 * GPT2Tokenizer):
 *   pre-tokenization by the pattern
 *     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *   matched by hand, leftmost alternative first (\p{L}, \p{N}: Unicode categories L*,
 *   N*; \s: the White_Space property); each piece's UTF-8 bytes become the characters
 *   of bytes_to_unicode; then the adjacent pair of lowest merge rank is merged
 *   (every occurrence, left to right) until no pair has a rank; tokens map to ids by
 *   vocab.json.
 * merges.txt: an optional "#version" first line, then "a b" per line, rank = order (a
 * pair listed twice takes its last rank, as HF); both parts and their concatenation
 * must be in the vocabulary. */
#include "text/hf_tok.h"
#include "text/unicode.h"

#include <cjson/cJSON.h>

#include <stdlib.h>
#include <string.h>

/* ---- bytes_to_unicode ---- */

static int printable_byte(int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); }

uint32_t nb__bpe_byte_cp(int b)
{
    if (printable_byte(b)) return (uint32_t)b;
    int n = 0;
    for (int x = 0; x < b; x++)
        if (!printable_byte(x)) n++;
    return 256u + (uint32_t)n;
}

int nb__bpe_cp_byte(uint32_t cp)
{
    if (cp < 256) return printable_byte((int)cp) ? (int)cp : -1;
    if (cp >= 256 + 68) return -1;
    int n = (int)(cp - 256);
    for (int b = 0; b < 256; b++)
        if (!printable_byte(b) && n-- == 0) return b;
    return -1;
}

/* ---- pre-tokenization ---- */

static int is_l(uint32_t c) { return nb__uc_class(c) == NB__UC_L; }
static int is_n(uint32_t c) { return nb__uc_class(c) == NB__UC_N; }
static int is_s(uint32_t c) { return nb__uc_white_space(c); }
static int is_other(uint32_t c) { return !is_s(c) && !is_l(c) && !is_n(c); }

size_t nb__bpe_piece(const uint32_t *t, size_t n, size_t i)
{
    uint32_t c = t[i];
    if (c == '\'' && i + 1 < n) {
        static const char *const con[] = {"s", "t", "re", "ve", "m", "ll", "d"};
        for (int k = 0; k < 7; k++) {
            size_t l = strlen(con[k]), j = 0;
            while (j < l && i + 1 + j < n && t[i + 1 + j] == (uint32_t)con[k][j]) j++;
            if (j == l) return 1 + l;
        }
    }
    int (*cls[3])(uint32_t) = {is_l, is_n, is_other};
    for (int k = 0; k < 3; k++) {
        size_t j = c == ' ' && i + 1 < n && cls[k](t[i + 1]) ? i + 1 : i;
        if (j < n && cls[k](t[j])) {
            while (j < n && cls[k](t[j])) j++;
            return j - i;
        }
    }
    /* whitespace: \s+(?!\S) takes the run but its last character when a non-space follows;
     * a single space before a non-space is \s+ */
    size_t k = i;
    while (k < n && is_s(t[k])) k++;
    if (k == n || k - i == 1) return k - i;
    return k - i - 1;
}

/* ---- merges ---- */

static uint64_t mix(uint64_t z)
{
    z ^= z >> 33;
    z *= 0xff51afd7ed558ccdULL;
    z ^= z >> 33;
    return z;
}

static int merge_put(nb_tokenizer *t, uint64_t key, uint64_t val)
{
    if ((size_t)(t->n_merges + 1) * 2 > t->mcap) {
        size_t cap = t->mcap ? t->mcap * 2 : 1024;
        uint64_t *k = malloc(sizeof *k * cap), *v = malloc(sizeof *v * cap);
        if (!k || !v) {
            free(k), free(v);
            return -1;
        }
        memset(k, 0xff, sizeof *k * cap);
        for (size_t i = 0; i < t->mcap; i++)
            if (t->mkey[i] != UINT64_MAX) {
                size_t j = mix(t->mkey[i]) & (cap - 1);
                while (k[j] != UINT64_MAX) j = (j + 1) & (cap - 1);
                k[j] = t->mkey[i], v[j] = t->mval[i];
            }
        free(t->mkey), free(t->mval);
        t->mkey = k, t->mval = v, t->mcap = cap;
    }
    size_t j = mix(key) & (t->mcap - 1);
    while (t->mkey[j] != UINT64_MAX) {
        if (t->mkey[j] == key) { /* a repeated merge takes its last rank, as HF's dict(zip(merges, range)) */
            t->mval[j] = val;
            return 0;
        }
        j = (j + 1) & (t->mcap - 1);
    }
    t->mkey[j] = key, t->mval[j] = val;
    t->n_merges++;
    return 1;
}

/* rank << 32 | merged id of (a, b), or UINT64_MAX */
static uint64_t merge_get(const nb_tokenizer *t, int64_t a, int64_t b)
{
    if (!t->mcap) return UINT64_MAX;
    uint64_t key = (uint64_t)a << 32 | (uint64_t)b;
    for (size_t j = mix(key) & (t->mcap - 1);; j = (j + 1) & (t->mcap - 1)) {
        if (t->mkey[j] == UINT64_MAX) return UINT64_MAX;
        if (t->mkey[j] == key) return t->mval[j];
    }
}

nb_status nb__bpe_load_merges(nb_tokenizer *t, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return nb__fail(NB_ERR_IO, "%s: cannot open", path);
    char *line = NULL, *cat = NULL;
    size_t cap = 0, catcap = 0;
    ssize_t len;
    long ln = 0;
    int64_t rank = 0;
    nb_status st = NB_OK;
    while (!st && (len = getline(&line, &cap, f)) >= 0) {
        ln++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if ((ln == 1 && !strncmp(line, "#version", 8)) || len == 0) continue;
        if (nb_utf8_check(line, (size_t)len) >= 0) {
            st = nb__fail(NB_ERR_FORMAT, "%s:%ld: not valid UTF-8", path, ln);
            break;
        }
        char *sp = strchr(line, ' ');
        if (!sp || sp == line || !sp[1] || strchr(sp + 1, ' ')) {
            st = nb__fail(NB_ERR_FORMAT, "%s:%ld: a merge is two tokens separated by one space, got \"%.60s\"", path, ln,
                          line);
            break;
        }
        *sp = 0;
        const char *a = line, *b = sp + 1;
        int64_t ia = nb_tokenizer_token_to_id(t, a), ib = nb_tokenizer_token_to_id(t, b);
        size_t la = strlen(a), lb = strlen(b);
        if (la + lb + 1 > catcap) {
            catcap = la + lb + 64;
            char *c2 = realloc(cat, catcap);
            if (!c2) {
                st = nb__fail(NB_ERR_MEM, "out of memory");
                break;
            }
            cat = c2;
        }
        memcpy(cat, a, la);
        memcpy(cat + la, b, lb + 1);
        int64_t iab = nb_tokenizer_token_to_id(t, cat);
        if (ia < 0 || ib < 0 || iab < 0) {
            st = nb__fail(NB_ERR_FORMAT, "%s:%ld: the merge \"%s %s\" uses \"%s\", which is not in the vocabulary", path,
                          ln, a, b, ia < 0 ? a : ib < 0 ? b : cat);
            break;
        }
        int r = merge_put(t, (uint64_t)ia << 32 | (uint64_t)ib, (uint64_t)rank << 32 | (uint64_t)iab);
        if (r < 0) st = nb__fail(NB_ERR_MEM, "out of memory");
        rank++;
    }
    if (!st && ferror(f)) st = nb__fail(NB_ERR_IO, "%s: read error", path);
    free(line), free(cat);
    fclose(f);
    return st;
}

/* ---- encoding ---- */

/* BPE of the bytes s[0..n) appended to out. */
static nb_status bpe_word(const nb_tokenizer *t, const unsigned char *s, size_t n, int64_t *sym, nb__ids *out)
{
    for (size_t i = 0; i < n; i++) {
        sym[i] = t->byte_id[s[i]];
        if (sym[i] < 0)
            return nb__fail(NB_ERR_ARG, "tokenize: byte 0x%02X has no token in vocab.json (not a byte-level vocabulary?)",
                            s[i]);
    }
    size_t m = n;
    while (m > 1) {
        uint64_t best = UINT64_MAX;
        for (size_t i = 0; i + 1 < m; i++) {
            uint64_t v = merge_get(t, sym[i], sym[i + 1]);
            if (v < best) best = v;
        }
        if (best == UINT64_MAX) break;
        /* the pair of that rank: every occurrence, left to right */
        int64_t a = -1, b = -1;
        for (size_t i = 0; i + 1 < m; i++)
            if (merge_get(t, sym[i], sym[i + 1]) == best) {
                a = sym[i], b = sym[i + 1];
                break;
            }
        size_t w = 0;
        for (size_t i = 0; i < m;) {
            if (i + 1 < m && sym[i] == a && sym[i + 1] == b) {
                sym[w++] = (int64_t)(best & 0xffffffffu);
                i += 2;
            } else {
                sym[w++] = sym[i++];
            }
        }
        m = w;
    }
    for (size_t i = 0; i < m; i++)
        if (nb__ids_push(out, sym[i])) return NB_ERR_MEM;
    return NB_OK;
}

nb_status nb__bpe_encode(const nb_tokenizer *t, const char *text, size_t n, nb__ids *out)
{
    uint32_t *cps = malloc(sizeof *cps * (n + 1));
    size_t *off = malloc(sizeof *off * (n + 1));
    int64_t *sym = malloc(sizeof *sym * (n + 1));
    if (!cps || !off || !sym) {
        free(cps), free(off), free(sym);
        return nb__fail(NB_ERR_MEM, "out of memory");
    }
    size_t nc = 0;
    for (size_t i = 0; i < n;) {
        off[nc] = i;
        i += (size_t)nb__utf8_decode((const unsigned char *)text + i, n - i, &cps[nc]);
        nc++;
    }
    off[nc] = n;
    nb_status st = NB_OK;
    for (size_t i = 0; i < nc && !st;) {
        size_t l = nb__bpe_piece(cps, nc, i);
        st = bpe_word(t, (const unsigned char *)text + off[i], off[i + l] - off[i], sym, out);
        i += l;
    }
    free(cps), free(off), free(sym);
    return st;
}

/* ---- training ---- */

typedef struct {
    int64_t *sym;
    int64_t n, count;
} bpe_word_t;

/* The token string (bytes_to_unicode characters) of the bytes b[0..n) into out (4n+1). */
static size_t unicode_of(const unsigned char *b, size_t n, char *out)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) len += (size_t)nb__utf8_encode(nb__bpe_byte_cp(b[i]), out + len);
    out[len] = 0;
    return len;
}

/* What the steps of one training share. */
typedef struct {
    nb__strmap words;        /* distinct pre-tokenized pieces -> their index in w */
    nb_arena pool;           /* the pieces' and tokens' strings */
    bpe_word_t *w;           /* each piece as symbols, with its count */
    int64_t nw, cap_w;
    char **tok;              /* token strings: 256 bytes, then merges */
    int64_t (*merges)[2];
    int64_t done;            /* merges made */
    uint64_t *pk;            /* pair counts: open addressing on a << 32 | b */
    int64_t *pv;
    size_t pcap;
    uint32_t *cps;           /* a text's code points */
    size_t cps_cap;
} bpe_trainer;

/* Piece p (pl bytes) once more: counted, or added with its bytes as symbols. */
static nb_status add_piece(bpe_trainer *t, const char *p, size_t pl)
{
    int64_t *slot = nb__strmap_ref(&t->words, p, pl);
    if (slot) {
        t->w[*slot].count++;
        return NB_OK;
    }
    char *copy = nb__arena_strdup(&t->pool, p, pl);
    if (t->nw == t->cap_w) {
        t->cap_w = t->cap_w ? t->cap_w * 2 : 4096;
        bpe_word_t *w2 = realloc(t->w, sizeof *w2 * (size_t)t->cap_w);
        if (!w2) copy = NULL;
        else t->w = w2;
    }
    int64_t *sym = copy ? malloc(sizeof *sym * pl) : NULL;
    if (!copy || !sym || nb__strmap_put(&t->words, copy, pl, t->nw) < 0) {
        free(sym);
        return nb__fail(NB_ERR_MEM, "out of memory");
    }
    for (size_t k = 0; k < pl; k++) sym[k] = (unsigned char)copy[k];
    t->w[t->nw++] = (bpe_word_t){sym, (int64_t)pl, 1};
    return NB_OK;
}

/* Text number i's pre-tokenized pieces, counted. */
static nb_status count_pieces(bpe_trainer *t, const char *s, int64_t i)
{
    size_t len = strlen(s);
    if (nb_utf8_check(s, len) >= 0) return nb__fail(NB_ERR_ARG, "BPE training: text %lld is not valid UTF-8", (long long)i);
    if (len + 1 > t->cps_cap) {
        t->cps_cap = 2 * len + 16;
        uint32_t *c2 = realloc(t->cps, sizeof *c2 * t->cps_cap);
        if (!c2) return nb__fail(NB_ERR_MEM, "out of memory");
        t->cps = c2;
    }
    size_t nc = 0;
    size_t *off = malloc(sizeof *off * (len + 1));
    if (!off) return nb__fail(NB_ERR_MEM, "out of memory");
    for (size_t k = 0; k < len;) {
        off[nc] = k;
        k += (size_t)nb__utf8_decode((const unsigned char *)s + k, len - k, &t->cps[nc]);
        nc++;
    }
    off[nc] = len;
    nb_status st = NB_OK;
    for (size_t k = 0; k < nc && !st;) {
        size_t l = nb__bpe_piece(t->cps, nc, k);
        st = add_piece(t, s + off[k], off[k + l] - off[k]);
        k += l;
    }
    free(off);
    return st;
}

/* The most frequent adjacent pair of symbols (ties: the smallest key a << 32 | b) into
 * *best_key, its count into *best; *best_key UINT64_MAX when there is none. */
static nb_status best_pair(bpe_trainer *t, uint64_t *best_key, int64_t *best)
{
    size_t need = 1024;
    int64_t total = 0;
    for (int64_t i = 0; i < t->nw; i++) total += t->w[i].n;
    while (need < (size_t)total * 2) need *= 2;
    if (need > t->pcap) {
        free(t->pk), free(t->pv);
        t->pk = malloc(sizeof *t->pk * need), t->pv = malloc(sizeof *t->pv * need);
        t->pcap = need;
        if (!t->pk || !t->pv) return nb__fail(NB_ERR_MEM, "out of memory");
    }
    uint64_t *pk = t->pk;
    int64_t *pv = t->pv;
    size_t pcap = t->pcap;
    memset(pk, 0xff, sizeof *pk * pcap);
    *best_key = UINT64_MAX, *best = 0;
    for (int64_t i = 0; i < t->nw; i++) {
        const bpe_word_t *w = &t->w[i];
        for (int64_t k = 0; k + 1 < w->n; k++) {
            uint64_t key = (uint64_t)w->sym[k] << 32 | (uint64_t)w->sym[k + 1];
            size_t j = mix(key) & (pcap - 1);
            while (pk[j] != UINT64_MAX && pk[j] != key) j = (j + 1) & (pcap - 1);
            if (pk[j] == UINT64_MAX) pk[j] = key, pv[j] = 0;
            pv[j] += w->count;
            if (pv[j] > *best || (pv[j] == *best && key < *best_key)) *best = pv[j], *best_key = key;
        }
    }
    return NB_OK;
}

/* Merge number t->done: the pair (a, b) becomes token 256 + done in every piece. */
static nb_status merge_pair(bpe_trainer *t, int64_t a, int64_t b)
{
    int64_t id = 256 + t->done;
    size_t la = strlen(t->tok[a]), lb = strlen(t->tok[b]);
    char *s = nb__arena_alloc(&t->pool, la + lb + 1);
    if (!s) return nb__fail(NB_ERR_MEM, "out of memory");
    memcpy(s, t->tok[a], la);
    memcpy(s + la, t->tok[b], lb + 1);
    t->tok[id] = s;
    t->merges[t->done][0] = a, t->merges[t->done][1] = b;
    for (int64_t i = 0; i < t->nw; i++) {
        bpe_word_t *w = &t->w[i];
        int64_t m = 0;
        for (int64_t k = 0; k < w->n;) {
            if (k + 1 < w->n && w->sym[k] == a && w->sym[k + 1] == b) w->sym[m++] = id, k += 2;
            else w->sym[m++] = w->sym[k++];
        }
        w->n = m;
    }
    return NB_OK;
}

/* vocab.json: every token with its id, then <|endoftext|>. */
static nb_status write_vocab(const bpe_trainer *t, const char *path)
{
    cJSON *o = cJSON_CreateObject();
    for (int64_t i = 0; o && i < 256 + t->done; i++) cJSON_AddNumberToObject(o, t->tok[i], (double)i);
    if (o) cJSON_AddNumberToObject(o, "<|endoftext|>", (double)(256 + t->done));
    char *js = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    nb_status st = js ? nb_write_file_atomic(path, js, strlen(js)) : nb__fail(NB_ERR_MEM, "out of memory");
    free(js);
    return st;
}

/* merges.txt: the version line, then each merge's two tokens. */
static nb_status write_merges(const bpe_trainer *t, const char *path)
{
    size_t mcap = 64, ml = 0;
    char *mt = malloc(mcap);
    nb_status st = mt ? NB_OK : nb__fail(NB_ERR_MEM, "out of memory");
    for (int64_t k = -1; !st && k < t->done; k++) {
        char line[1024];
        int l = k < 0 ? snprintf(line, sizeof line, "#version: 0.2\n")
                      : snprintf(line, sizeof line, "%s %s\n", t->tok[t->merges[k][0]], t->tok[t->merges[k][1]]);
        if (l < 0 || (size_t)l >= sizeof line) continue;
        if (ml + (size_t)l + 1 > mcap) {
            while (ml + (size_t)l + 1 > mcap) mcap *= 2;
            char *m2 = realloc(mt, mcap);
            if (!m2) {
                st = nb__fail(NB_ERR_MEM, "out of memory");
                break;
            }
            mt = m2;
        }
        memcpy(mt + ml, line, (size_t)l);
        ml += (size_t)l;
    }
    if (!st) st = nb_write_file_atomic(path, mt, ml);
    free(mt);
    return st;
}

nb_status nb_bpe_train(const char *const *texts, int64_t n, int64_t n_merges, const char *vocab_json,
                       const char *merges_txt)
{
    bpe_trainer t = {.pool = NB__ARENA_SMALL};
    nb_status st = NB_OK;
    for (int64_t i = 0; i < n && !st; i++) st = count_pieces(&t, texts[i], i);
    t.tok = st ? NULL : calloc((size_t)(256 + n_merges + 1), sizeof *t.tok);
    t.merges = st ? NULL : malloc(sizeof *t.merges * (size_t)(n_merges + 1));
    if (!st && (!t.tok || !t.merges)) st = nb__fail(NB_ERR_MEM, "out of memory");
    for (int b = 0; b < 256 && !st; b++) { /* the 256 byte tokens */
        char u[8];
        unsigned char by = (unsigned char)b;
        size_t l = unicode_of(&by, 1, u);
        if (!(t.tok[b] = nb__arena_strdup(&t.pool, u, l))) st = nb__fail(NB_ERR_MEM, "out of memory");
    }
    for (; !st && t.done < n_merges; t.done++) {
        uint64_t key = UINT64_MAX;
        int64_t count = 0;
        if ((st = best_pair(&t, &key, &count))) break;
        if (key == UINT64_MAX || count < 2) break; /* nothing left worth merging */
        if ((st = merge_pair(&t, (int64_t)(key >> 32), (int64_t)(key & 0xffffffffu)))) break;
    }
    if (!st) st = write_vocab(&t, vocab_json);
    if (!st) st = write_merges(&t, merges_txt);
    for (int64_t i = 0; i < t.nw; i++) free(t.w[i].sym);
    free(t.w), free(t.tok), free(t.merges), free(t.pk), free(t.pv), free(t.cps);
    nb__strmap_free(&t.words);
    nb__arena_free(&t.pool);
    return st;
}
