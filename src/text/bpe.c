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

nb_status nb_bpe_train(const char *const *texts, int64_t n, int64_t n_merges, const char *vocab_json,
                       const char *merges_txt)
{
    nb__strmap words = {0};
    nb_arena pool = NB__ARENA_SMALL;
    bpe_word_t *w = NULL;
    int64_t nw = 0, cap_w = 0;
    char **tok = NULL;      /* token strings: 256 bytes, then merges */
    int64_t (*merges)[2] = NULL;
    uint64_t *pk = NULL;    /* pair counts: open addressing on a << 32 | b */
    int64_t *pv = NULL;
    size_t pcap = 0;
    nb_status st = NB_OK;
    uint32_t *cps = NULL;
    size_t cps_cap = 0;
    /* distinct pre-tokenized pieces with their counts */
    for (int64_t t = 0; t < n && !st; t++) {
        const char *s = texts[t];
        size_t len = strlen(s);
        if (nb_utf8_check(s, len) >= 0) {
            st = nb__fail(NB_ERR_ARG, "BPE training: text %lld is not valid UTF-8", (long long)t);
            break;
        }
        if (len + 1 > cps_cap) {
            cps_cap = 2 * len + 16;
            uint32_t *c2 = realloc(cps, sizeof *c2 * cps_cap);
            if (!c2) {
                st = nb__fail(NB_ERR_MEM, "out of memory");
                break;
            }
            cps = c2;
        }
        size_t nc = 0;
        size_t *off = malloc(sizeof *off * (len + 1));
        if (!off) {
            st = nb__fail(NB_ERR_MEM, "out of memory");
            break;
        }
        for (size_t i = 0; i < len;) {
            off[nc] = i;
            i += (size_t)nb__utf8_decode((const unsigned char *)s + i, len - i, &cps[nc]);
            nc++;
        }
        off[nc] = len;
        for (size_t i = 0; i < nc && !st;) {
            size_t l = nb__bpe_piece(cps, nc, i);
            const char *p = s + off[i];
            size_t pl = off[i + l] - off[i];
            int64_t *slot = nb__strmap_ref(&words, p, pl);
            if (slot) {
                w[*slot].count++;
            } else {
                char *copy = nb__arena_strdup(&pool, p, pl);
                if (nw == cap_w) {
                    cap_w = cap_w ? cap_w * 2 : 4096;
                    bpe_word_t *w2 = realloc(w, sizeof *w2 * (size_t)cap_w);
                    if (!w2) copy = NULL;
                    else w = w2;
                }
                int64_t *sym = copy ? malloc(sizeof *sym * pl) : NULL;
                if (!copy || !sym || nb__strmap_put(&words, copy, pl, nw) < 0) {
                    free(sym);
                    st = nb__fail(NB_ERR_MEM, "out of memory");
                    break;
                }
                for (size_t k = 0; k < pl; k++) sym[k] = (unsigned char)copy[k];
                w[nw++] = (bpe_word_t){sym, (int64_t)pl, 1};
            }
            i += l;
        }
        free(off);
    }
    tok = st ? NULL : calloc((size_t)(256 + n_merges + 1), sizeof *tok);
    merges = st ? NULL : malloc(sizeof *merges * (size_t)(n_merges + 1));
    if (!st && (!tok || !merges)) st = nb__fail(NB_ERR_MEM, "out of memory");
    for (int b = 0; b < 256 && !st; b++) {
        char u[8];
        unsigned char by = (unsigned char)b;
        size_t l = unicode_of(&by, 1, u);
        if (!(tok[b] = nb__arena_strdup(&pool, u, l))) st = nb__fail(NB_ERR_MEM, "out of memory");
    }
    int64_t done = 0;
    for (; !st && done < n_merges; done++) {
        /* count the pairs */
        size_t need = 1024;
        int64_t total = 0;
        for (int64_t i = 0; i < nw; i++) total += w[i].n;
        while (need < (size_t)total * 2) need *= 2;
        if (need > pcap) {
            free(pk), free(pv);
            pk = malloc(sizeof *pk * need), pv = malloc(sizeof *pv * need);
            pcap = need;
            if (!pk || !pv) {
                st = nb__fail(NB_ERR_MEM, "out of memory");
                break;
            }
        }
        memset(pk, 0xff, sizeof *pk * pcap);
        uint64_t best_key = UINT64_MAX;
        int64_t best = 0;
        for (int64_t i = 0; i < nw; i++)
            for (int64_t k = 0; k + 1 < w[i].n; k++) {
                uint64_t key = (uint64_t)w[i].sym[k] << 32 | (uint64_t)w[i].sym[k + 1];
                size_t j = mix(key) & (pcap - 1);
                while (pk[j] != UINT64_MAX && pk[j] != key) j = (j + 1) & (pcap - 1);
                if (pk[j] == UINT64_MAX) pk[j] = key, pv[j] = 0;
                pv[j] += w[i].count;
                if (pv[j] > best || (pv[j] == best && key < best_key)) best = pv[j], best_key = key;
            }
        if (best_key == UINT64_MAX || best < 2) break; /* nothing left worth merging */
        int64_t a = (int64_t)(best_key >> 32), b = (int64_t)(best_key & 0xffffffffu), id = 256 + done;
        size_t la = strlen(tok[a]), lb = strlen(tok[b]);
        char *s = nb__arena_alloc(&pool, la + lb + 1);
        if (!s) {
            st = nb__fail(NB_ERR_MEM, "out of memory");
            break;
        }
        memcpy(s, tok[a], la);
        memcpy(s + la, tok[b], lb + 1);
        tok[id] = s;
        merges[done][0] = a, merges[done][1] = b;
        for (int64_t i = 0; i < nw; i++) {
            int64_t m = 0;
            for (int64_t k = 0; k < w[i].n;) {
                if (k + 1 < w[i].n && w[i].sym[k] == a && w[i].sym[k + 1] == b) w[i].sym[m++] = id, k += 2;
                else w[i].sym[m++] = w[i].sym[k++];
            }
            w[i].n = m;
        }
    }
    if (!st) {
        cJSON *o = cJSON_CreateObject();
        for (int64_t i = 0; o && i < 256 + done; i++) cJSON_AddNumberToObject(o, tok[i], (double)i);
        if (o) cJSON_AddNumberToObject(o, "<|endoftext|>", (double)(256 + done));
        char *js = o ? cJSON_PrintUnformatted(o) : NULL;
        cJSON_Delete(o);
        if (!js) st = nb__fail(NB_ERR_MEM, "out of memory");
        if (!st) st = nb_write_file_atomic(vocab_json, js, strlen(js));
        free(js);
        size_t mcap = 64, ml = 0;
        char *mt = st ? NULL : malloc(mcap);
        if (!st && !mt) st = nb__fail(NB_ERR_MEM, "out of memory");
        for (int64_t k = -1; !st && k < done; k++) {
            char line[1024];
            int l = k < 0 ? snprintf(line, sizeof line, "#version: 0.2\n")
                          : snprintf(line, sizeof line, "%s %s\n", tok[merges[k][0]], tok[merges[k][1]]);
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
        if (!st) st = nb_write_file_atomic(merges_txt, mt, ml);
        free(mt);
    }
    for (int64_t i = 0; i < nw; i++) free(w[i].sym);
    free(w), free(tok), free(merges), free(pk), free(pv), free(cps);
    nb__strmap_free(&words);
    nb__arena_free(&pool);
    return st;
}
