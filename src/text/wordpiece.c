/* wordpiece.c - BERT's tokenizer (google-research/bert tokenization.py, as Hugging
 * Face's BertTokenizer with its defaults):
 *   special tokens of the vocabulary ([CLS], [SEP], [MASK], [PAD], [UNK]) written in
 *   the text are kept whole; the rest goes through
 *   BasicTokenizer: U+0000, U+FFFD and control characters (category C*, but not
 *     \t \n \r) dropped; whitespace (space, \t, \n, \r, Zs) splits words, and so do
 *     U+2028/U+2029 (Python's str.split); CJK ideographs are words of their own; with
 *     do_lower_case, each word is lower-cased (str.lower: full mappings, final sigma)
 *     and its accents stripped (NFD, nonspacing marks dropped: Hangul becomes jamo, as
 *     in Python); every punctuation character (category P*, ASCII symbols) is a token;
 *   WordpieceTokenizer: the longest prefix in the vocabulary, then the longest
 *     "##"-continuation, and so on; a word over 100 characters or with a remainder no
 *     piece matches becomes one [UNK].
 * Unicode data from unicode_tables.c (Python's unicodedata, as the tests' reference).
 * Not done: the NFC step transformers' slow tokenizer added in 2023 (the fast one and
 * Google's do not have it). */
#include "text/hf_tok.h"
#include "text/unicode.h"

#include <stdlib.h>
#include <string.h>

static int bert_space(uint32_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || nb__uc_class(c) == NB__UC_ZS; }

static int bert_control(uint32_t c)
{
    if (c == '\t' || c == '\n' || c == '\r') return 0;
    return nb__uc_class(c) == NB__UC_C;
}

static int bert_punct(uint32_t c)
{
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return 1;
    return nb__uc_class(c) == NB__UC_P;
}

static int cjk(uint32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

static int cased(uint32_t c) { return nb__uc_in(nb__uc_cased, nb__uc_n_cased, c); }
static int case_ign(uint32_t c) { return nb__uc_in(nb__uc_case_ignorable, nb__uc_n_case_ignorable, c); }

/* A growable code-point buffer. */
typedef struct {
    uint32_t *v;
    size_t n, cap;
} cpbuf;

static int cp_push(cpbuf *b, uint32_t c)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        uint32_t *v = realloc(b->v, sizeof *v * cap);
        if (!v) return -1;
        b->v = v, b->cap = cap;
    }
    b->v[b->n++] = c;
    return 0;
}

/* str.lower() of w[0..n) into out, with Python's final-sigma rule. */
static int lower_word(const uint32_t *w, size_t n, cpbuf *out)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t c = w[i];
        if (c == 0x3A3) {
            size_t j = i;
            while (j > 0 && case_ign(w[j - 1])) j--;
            int fin = j > 0 && cased(w[j - 1]);
            if (fin) {
                size_t k = i + 1;
                while (k < n && case_ign(w[k])) k++;
                fin = k == n || !cased(w[k]);
            }
            if (cp_push(out, fin ? 0x3C2 : 0x3C3)) return -1;
            continue;
        }
        const nb__uc_map *m = nb__uc_find(nb__uc_lower, nb__uc_n_lower, c);
        if (!m) {
            if (cp_push(out, c)) return -1;
        } else {
            for (int k = 0; k < m->n; k++)
                if (cp_push(out, m->to[k])) return -1;
        }
    }
    return 0;
}

/* NFD of w with the nonspacing marks dropped. */
static int strip_accents(const uint32_t *w, size_t n, cpbuf *out)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t c = w[i], d[4];
        int nd = 0;
        if (c >= 0xAC00 && c <= 0xD7A3) { /* Hangul syllable: L V (T) */
            uint32_t s = c - 0xAC00;
            d[nd++] = 0x1100 + s / 588;
            d[nd++] = 0x1161 + (s % 588) / 28;
            if (s % 28) d[nd++] = 0x11A7 + s % 28;
        } else {
            const nb__uc_map *m = nb__uc_find(nb__uc_nfd, nb__uc_n_nfd, c);
            if (m)
                for (int k = 0; k < m->n; k++) d[nd++] = m->to[k];
            else d[nd++] = c;
        }
        for (int k = 0; k < nd; k++)
            if (nb__uc_class(d[k]) != NB__UC_MN && cp_push(out, d[k])) return -1;
    }
    return 0;
}

/* WordPiece of one word w[0..n) appended to out. */
static nb_status wordpiece(const nb_tokenizer *t, const uint32_t *w, size_t n, nb__ids *out)
{
    if (!n) return NB_OK;
    if (n > 100) return nb__ids_push(out, t->unk);
    char *buf = malloc(4 * n + 3);
    size_t *off = malloc(sizeof *off * (n + 1));
    int64_t *pieces = malloc(sizeof *pieces * n);
    if (!buf || !off || !pieces) {
        free(buf), free(off), free(pieces);
        return nb__fail(NB_ERR_MEM, "out of memory");
    }
    buf[0] = buf[1] = '#';
    off[0] = 2;
    for (size_t i = 0; i < n; i++) off[i + 1] = off[i] + (size_t)nb__utf8_encode(w[i], buf + off[i]);
    size_t np = 0, start = 0;
    int bad = 0;
    while (start < n) {
        int64_t id = -1;
        size_t end = n;
        for (; end > start; end--) {
            /* a continuation keeps the "##" written just before its first byte */
            const char *s = start ? buf + off[start] - 2 : buf + off[0];
            size_t len = off[end] - off[start] + (start ? 2 : 0);
            if (start) {
                char save0 = buf[off[start] - 2], save1 = buf[off[start] - 1];
                buf[off[start] - 2] = '#', buf[off[start] - 1] = '#';
                id = nb__strmap_get(&t->vocab, s, len);
                buf[off[start] - 2] = save0, buf[off[start] - 1] = save1;
            } else {
                id = nb__strmap_get(&t->vocab, s, len);
            }
            if (id >= 0) break;
        }
        if (id < 0) {
            bad = 1;
            break;
        }
        pieces[np++] = id;
        start = end;
    }
    nb_status st = NB_OK;
    if (bad) st = nb__ids_push(out, t->unk);
    for (size_t i = 0; !bad && !st && i < np; i++) st = nb__ids_push(out, pieces[i]);
    free(buf), free(off), free(pieces);
    return st;
}

typedef nb_status (*word_fn)(const nb_tokenizer *t, const uint32_t *w, size_t n, void *arg);

static nb_status wordpiece_fn(const nb_tokenizer *t, const uint32_t *w, size_t n, void *arg)
{
    return wordpiece(t, w, n, arg);
}

/* Basic tokenization of s[0..n) (valid UTF-8, no special tokens): fn on each token. */
static nb_status basic(const nb_tokenizer *t, const char *s, size_t n, word_fn fn, void *out)
{
    cpbuf cps = {0}, low = {0}, stripped = {0};
    nb_status st = NB_OK;
    for (size_t i = 0; i < n;) {
        uint32_t c;
        i += (size_t)nb__utf8_decode((const unsigned char *)s + i, n - i, &c);
        if (c == 0 || c == 0xFFFD || bert_control(c)) continue;
        if (cp_push(&cps, bert_space(c) ? ' ' : c)) goto oom;
    }
    for (size_t i = 0; i < cps.n && !st;) {
        uint32_t c = cps.v[i];
        if (c == ' ' || c == 0x2028 || c == 0x2029) {
            i++;
            continue;
        }
        size_t e = i + 1;
        if (!cjk(c))
            while (e < cps.n && cps.v[e] != ' ' && cps.v[e] != 0x2028 && cps.v[e] != 0x2029 && !cjk(cps.v[e])) e++;
        const uint32_t *w = cps.v + i;
        size_t wn = e - i;
        if (t->lower) {
            low.n = stripped.n = 0;
            if (lower_word(w, wn, &low) || strip_accents(low.v, low.n, &stripped)) goto oom;
            w = stripped.v, wn = stripped.n;
        }
        if (!wn) { /* a word of nonspacing marks only strips to nothing */
            i = e;
            continue;
        }
        size_t run = 0;
        for (size_t k = 0; k < wn && !st; k++) {
            if (bert_punct(w[k])) {
                st = fn(t, w + run, k - run, out);
                if (!st) st = fn(t, w + k, 1, out);
                run = k + 1;
            }
        }
        if (!st) st = fn(t, w + run, wn - run, out);
        i = e;
    }
    free(cps.v), free(low.v), free(stripped.v);
    return st;
oom:
    free(cps.v), free(low.v), free(stripped.v);
    return nb__fail(NB_ERR_MEM, "out of memory");
}

nb_status nb__wordpiece_encode(const nb_tokenizer *t, const char *text, size_t n, nb__ids *out)
{
    static const char *const special[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    int64_t sid[5] = {t->pad, t->unk, t->cls, t->sep, t->mask};
    size_t seg = 0;
    for (size_t i = 0; i < n;) {
        int hit = -1;
        if (text[i] == '[')
            for (int k = 0; k < 5; k++)
                if (sid[k] >= 0 && !strncmp(text + i, special[k], strlen(special[k]))) hit = k;
        if (hit < 0) {
            i++;
            continue;
        }
        nb_status st = basic(t, text + seg, i - seg, wordpiece_fn, out);
        if (!st) st = nb__ids_push(out, sid[hit]);
        if (st) return st;
        i += strlen(special[hit]);
        seg = i;
    }
    return basic(t, text + seg, n - seg, wordpiece_fn, out);
}

/* ---- building a vocabulary ---- */

typedef struct {
    nb__strmap words, chars;
    nb_arena pool;
} counts;

static int count_in(nb__strmap *m, nb_arena *pool, const char *s, size_t n)
{
    int64_t *c = nb__strmap_ref(m, s, n);
    if (c) {
        ++*c;
        return 0;
    }
    char *copy = nb__arena_strdup(pool, s, n);
    return copy && nb__strmap_put(m, copy, n, 1) >= 0 ? 0 : -1;
}

static nb_status count_word(const nb_tokenizer *t, const uint32_t *w, size_t n, void *arg)
{
    (void)t;
    counts *c = arg;
    char buf[4 * 100 + 4];
    if (!n || n > 100) return NB_OK;
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        char one[4];
        int l = nb__utf8_encode(w[i], one);
        if (count_in(&c->chars, &c->pool, one, (size_t)l)) return nb__fail(NB_ERR_MEM, "out of memory");
        memcpy(buf + len, one, (size_t)l);
        len += (size_t)l;
    }
    return count_in(&c->words, &c->pool, buf, len) ? nb__fail(NB_ERR_MEM, "out of memory") : NB_OK;
}

typedef struct {
    const char *s;
    uint32_t n;
    int64_t count;
} entry;

static int by_count(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    size_t m = x->n < y->n ? x->n : y->n;
    int c = memcmp(x->s, y->s, m);
    return c ? c : (x->n > y->n) - (x->n < y->n);
}

static entry *sorted(const nb__strmap *m)
{
    entry *e = malloc(sizeof *e * (m->n + 1));
    if (!e) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < m->cap; i++)
        if (m->k[i]) e[k++] = (entry){m->k[i], m->klen[i], m->v[i]};
    qsort(e, k, sizeof *e, by_count);
    return e;
}

nb_status nb_wordpiece_build_vocab(const char *const *texts, int64_t n, int64_t vocab_size, const char *path)
{
    nb_tokenizer lower = {.lower = 1};
    counts c = {.pool = NB__ARENA_SMALL};
    nb_status st = NB_OK;
    for (int64_t i = 0; i < n && !st; i++) {
        size_t len = strlen(texts[i]);
        int64_t bad = nb_utf8_check(texts[i], len);
        if (bad >= 0) st = nb__fail(NB_ERR_ARG, "build vocab: text %lld is not valid UTF-8 (byte %lld)", (long long)i, (long long)bad + 1);
        else st = basic(&lower, texts[i], len, count_word, &c);
    }
    entry *ch = st ? NULL : sorted(&c.chars), *wd = st ? NULL : sorted(&c.words);
    size_t cap = 1 << 16, len = 0;
    char *out = st ? NULL : malloc(cap);
    nb__strmap seen = {0};
    if (!st && (!ch || !wd || !out)) st = nb__fail(NB_ERR_MEM, "out of memory");
    int64_t count = 0;
    /* specials, characters, "##" characters, then words by frequency */
    for (int pass = 0; !st && pass < 4; pass++) {
        static const char *const sp[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
        size_t m = pass == 0 ? 5 : pass == 3 ? c.words.n : c.chars.n;
        for (size_t i = 0; i < m && !st && (pass < 3 || count < vocab_size); i++) {
            char tok[512];
            size_t tl;
            if (pass == 0) tl = (size_t)snprintf(tok, sizeof tok, "%s", sp[i]);
            else if (pass == 1) tl = (size_t)snprintf(tok, sizeof tok, "%.*s", (int)ch[i].n, ch[i].s);
            else if (pass == 2) tl = (size_t)snprintf(tok, sizeof tok, "##%.*s", (int)ch[i].n, ch[i].s);
            else tl = (size_t)snprintf(tok, sizeof tok, "%.*s", (int)wd[i].n, wd[i].s);
            if (tl >= sizeof tok) continue;
            char *key = nb__arena_strdup(&c.pool, tok, tl);
            int r = key ? nb__strmap_put(&seen, key, tl, count) : -1;
            if (r < 0) {
                st = nb__fail(NB_ERR_MEM, "out of memory");
                break;
            }
            if (!r) continue; /* already listed (a word of one character) */
            if (len + tl + 2 > cap) {
                char *o2 = realloc(out, cap *= 2);
                if (!o2) {
                    st = nb__fail(NB_ERR_MEM, "out of memory");
                    break;
                }
                out = o2;
            }
            memcpy(out + len, tok, tl);
            len += tl;
            out[len++] = '\n';
            count++;
        }
    }
    if (!st) st = nb_write_file_atomic(path, out, len);
    free(ch), free(wd), free(out);
    nb__strmap_free(&seen);
    nb__strmap_free(&c.words);
    nb__strmap_free(&c.chars);
    nb__arena_free(&c.pool);
    return st;
}
