/* synonym.c - SynonymAug(aug_src='wordnet') on Princeton WordNet 3.0 through its C
 * library (Debian's wordnet-dev: <wn.h>, -lwordnet) and data (wordnet-base in
 * /usr/share/wordnet, or $WNSEARCHDIR).
 *
 * nlpaug tags parts of speech with NLTK and asks WordNet for the synonyms of that
 * part of speech. Without a tagger, the likely part of speech of a word is the one
 * whose senses WordNet's sense-tagged corpus (SemCor) counts most often, weighted by
 * the previous word: after a determiner a noun or adjective, after "to", a pronoun
 * or a modal a verb, after an intensifier ("very") an adjective or adverb. Closed-
 * class words (pronouns, auxiliaries, determiners, prepositions, conjunctions) and
 * words with digits are never looked up. Synonyms are the other lemmas of the
 * synsets of that part of speech, '_' and '-' read as spaces, lower case (as
 * nlpaug), without the word itself, its base form or proper nouns (lemmas with
 * capitals: "Charles_James_Fox" is not a synonym of fox).
 *
 * libwordnet keeps global state (open files, static buffers), so every call into it
 * holds one process-wide lock; results are cached per augmenter. */
#include "text/text.h"
#include "text/words.h"
#include "core/error.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__has_include) && !defined(NB_NO_WORDNET)
#if __has_include(<wn.h>)
#include <wn.h>
#define NB_HAVE_WORDNET 1
#endif
#endif

#define WN_NOUN 1
#define WN_VERB 2
#define WN_ADJ 3
#define WN_ADV 4

#ifdef NB_HAVE_WORDNET
static pthread_mutex_t wn_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int wn_ok; /* set once wninit() succeeded; read without the lock */

/* libwordnet prints its errors through this hook; we report our own. */
static int wn_quiet(char *msg)
{
    (void)msg;
    return -1;
}
#endif

nb_status nb__wordnet_ready(void)
{
#ifndef NB_HAVE_WORDNET
    return nb__fail(NB_ERR_STATE, "WordNet support was not built: install Debian's wordnet-dev and wordnet-base "
                                  "(apt-get install wordnet-dev wordnet-base) and rebuild nabla");
#else
    if (wn_ok) return NB_OK;
    pthread_mutex_lock(&wn_lock);
    if (wn_ok) {
        pthread_mutex_unlock(&wn_lock);
        return NB_OK;
    }
    /* where libwordnet will look (its SetSearchdir): $WNSEARCHDIR, $WNHOME/dict, else Debian's path */
    char dir[1024];
    const char *env = getenv("WNSEARCHDIR"), *home = getenv("WNHOME");
    if (env && *env) snprintf(dir, sizeof dir, "%s", env);
    else if (home && *home) snprintf(dir, sizeof dir, "%s/dict", home);
    else snprintf(dir, sizeof dir, "/usr/share/wordnet");
    static const char *const files[] = {"index.noun", "data.noun", "index.verb", "data.verb",
                                        "index.adj",  "data.adj",  "index.adv",  "data.adv"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        if (access(path, R_OK)) {
            pthread_mutex_unlock(&wn_lock);
            return nb__fail(NB_ERR_IO,
                            "WordNet data not found (%s is missing): install Debian's wordnet-base "
                            "(apt-get install wordnet-base)%s",
                            path, env ? ", or fix WNSEARCHDIR" : "");
        }
    }
    display_message = wn_quiet;
    if (wninit()) {
        pthread_mutex_unlock(&wn_lock);
        return nb__fail(NB_ERR_IO, "WordNet could not open its files in %s: reinstall Debian's wordnet-base", dir);
    }
    wn_ok = 1;
    pthread_mutex_unlock(&wn_lock);
    return NB_OK;
#endif
}

/* ---- closed-class words: never looked up ---- */
static const char *const closed_words[] = {
    "a", "about", "above", "across", "after", "against", "all", "along", "alongside", "am", "amid", "among",
    "an", "and", "any", "are", "around", "as", "at", "be", "because", "been", "before", "behind", "being",
    "below", "beneath", "beside", "besides", "between", "beyond", "both", "but", "by", "can", "could", "did",
    "do", "does", "doing", "done", "down", "during", "each", "either", "every", "for", "from", "had", "has",
    "have", "having", "he", "her", "hers", "herself", "him", "himself", "his", "how", "i", "if", "in", "inside",
    "into", "is", "it", "its", "itself", "may", "me", "might", "mine", "must", "my", "myself", "near",
    "neither", "no", "nor", "not", "of", "off", "on", "onto", "or", "our", "ours", "ourselves", "out",
    "outside", "over", "past", "per", "round", "shall", "she", "should", "since", "so", "than", "that", "the",
    "their", "theirs", "them", "themselves", "then", "there", "these", "they", "this", "those", "though",
    "through", "till", "to", "toward", "towards", "under", "unless", "until", "up", "upon", "us", "via", "was",
    "we", "were", "what", "when", "where", "whether", "which", "while", "who", "whom", "whose", "why", "will",
    "with", "within", "without", "would", "yet", "you", "your", "yours", "yourself", "yourselves",
};
static const char *const determiners[] = {"a",    "an",  "any",   "each", "every", "her",  "his",
                                          "its",  "my",  "no",    "our",  "some",  "that", "the",
                                          "their", "these", "this", "those", "your"};
static const char *const verb_cues[] = {"can",    "could", "did", "do",    "does", "he",   "i",    "may", "might",
                                        "must",   "not",   "shall", "she", "should", "they", "to", "we",  "will",
                                        "would", "you"};
static const char *const intensifiers[] = {"extremely", "fairly", "least", "less",   "more", "most", "pretty",
                                           "quite",     "rather", "really", "so",    "too",  "very"};

static int in_list(const char *const *list, size_t n, const char *w)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(w, list[mid]);
        if (!c) return 1;
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    return 0;
}
#define IN(list, w) in_list(list, sizeof list / sizeof list[0], w)

/* ---- the cache: lower-case word -> per part of speech score and synonyms ---- */
typedef struct {
    char *word;      /* lower case; NULL: empty slot */
    float score[5];  /* [pos]: tagged-sense count + 0.1 per sense; 0: not in WordNet */
    char **syn[5];
    int nsyn[5];
} wn_entry;

struct nb__wordnet_cache {
    wn_entry *slots;
    size_t cap, used;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    while (*s) h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
    return h;
}

static void entry_free(wn_entry *e)
{
    free(e->word);
    for (int p = 1; p <= 4; p++) {
        for (int i = 0; i < e->nsyn[p]; i++) free(e->syn[p][i]);
        free(e->syn[p]);
    }
}

void nb__wordnet_cache_trim(nb__wordnet_cache *c)
{
    if (!c || c->used < (1u << 20)) return;
    for (size_t i = 0; i < c->cap; i++)
        if (c->slots[i].word) entry_free(&c->slots[i]);
    memset(c->slots, 0, sizeof *c->slots * c->cap);
    c->used = 0;
}

void nb__wordnet_cache_free(nb__wordnet_cache *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->cap; i++)
        if (c->slots[i].word) entry_free(&c->slots[i]);
    free(c->slots);
    free(c);
}

#ifdef NB_HAVE_WORDNET
/* Add s to the synonym list unless it is the word, its lemma or already there. */
static int add_syn(wn_entry *e, int pos, const char *raw, const char *word, const char *lemma)
{
    char buf[256];
    size_t n = 0;
    for (const char *q = raw; *q && *q != '(' && n + 1 < sizeof buf; q++) {
        char ch = *q;
        if (ch == '_' || ch == '-') ch = ' ';
        else if (ch >= 'A' && ch <= 'Z') ch = (char)(ch - 'A' + 'a');
        buf[n++] = ch;
    }
    while (n > 0 && buf[n - 1] == ' ') n--;
    buf[n] = 0;
    for (const char *q = raw; *q && *q != '('; q++)
        if (*q >= 'A' && *q <= 'Z') return 0; /* a proper noun (Charles_James_Fox for fox) */
    if (!n || !strcmp(buf, word) || !strcmp(buf, lemma)) return 0;
    if (nb_utf8_check(buf, n) >= 0) return 0;
    for (int i = 0; i < e->nsyn[pos]; i++)
        if (!strcmp(e->syn[pos][i], buf)) return 0;
    char **ns = realloc(e->syn[pos], sizeof *ns * (size_t)(e->nsyn[pos] + 1));
    if (!ns) return -1;
    e->syn[pos] = ns;
    if (!(ns[e->nsyn[pos]] = strdup(buf))) return -1;
    e->nsyn[pos]++;
    return 0;
}

/* Look word up in WordNet (the lock is held). */
static int wn_fill(wn_entry *e, const char *word)
{
    char w[256];
    snprintf(w, sizeof w, "%s", word);
    for (int pos = 1; pos <= 4; pos++) {
        IndexPtr idx = index_lookup(w, pos);
        char lemma[256];
        snprintf(lemma, sizeof lemma, "%s", w);
        if (!idx) { /* an inflected form: its base forms (dogs -> dog, ran -> run) */
            for (char *m = morphstr(w, pos); m && !idx; m = morphstr(NULL, pos)) {
                idx = index_lookup(m, pos);
                if (idx) snprintf(lemma, sizeof lemma, "%s", m);
            }
        }
        if (!idx) continue;
        int tags = 0;
        for (int s = 1; s <= idx->off_cnt; s++) {
            int t = GetTagcnt(idx, s);
            if (t > 0) tags += t;
        }
        e->score[pos] = (float)tags + 0.1f * (float)idx->off_cnt + 0.01f;
        for (int s = 0; s < idx->off_cnt; s++) {
            SynsetPtr ss = read_synset(pos, (long)idx->offset[s], "");
            if (!ss) continue;
            for (int k = 0; k < ss->wcount; k++)
                if (add_syn(e, pos, ss->words[k], word, lemma)) {
                    free_synset(ss);
                    free_index(idx);
                    return -1;
                }
            free_synset(ss);
        }
        free_index(idx);
    }
    return 0;
}
#endif

static nb_status cache_grow(nb__wordnet_cache *c)
{
    size_t ncap = c->cap ? c->cap * 2 : 1024;
    wn_entry *ns = calloc(ncap, sizeof *ns);
    if (!ns) return nb__fail(NB_ERR_MEM, "out of memory caching WordNet synonyms");
    for (size_t i = 0; i < c->cap; i++) {
        if (!c->slots[i].word) continue;
        size_t h = hash_str(c->slots[i].word) & (ncap - 1);
        while (ns[h].word) h = (h + 1) & (ncap - 1);
        ns[h] = c->slots[i];
    }
    free(c->slots);
    c->slots = ns;
    c->cap = ncap;
    return NB_OK;
}

static nb_status cache_get(nb__wordnet_cache *c, const char *word, wn_entry **out)
{
    if (c->used * 2 >= c->cap) {
        nb_status st = cache_grow(c);
        if (st) return st;
    }
    size_t h = hash_str(word) & (c->cap - 1);
    while (c->slots[h].word) {
        if (!strcmp(c->slots[h].word, word)) {
            *out = &c->slots[h];
            return NB_OK;
        }
        h = (h + 1) & (c->cap - 1);
    }
    wn_entry *e = &c->slots[h];
    memset(e, 0, sizeof *e);
    if (!(e->word = strdup(word))) return nb__fail(NB_ERR_MEM, "out of memory caching WordNet synonyms");
    c->used++;
#ifdef NB_HAVE_WORDNET
    int bad = 0;
    if (strlen(word) < 200) {
        pthread_mutex_lock(&wn_lock);
        bad = wn_fill(e, word);
        pthread_mutex_unlock(&wn_lock);
    }
    if (bad) return nb__fail(NB_ERR_MEM, "out of memory reading WordNet");
#endif
    *out = e;
    return NB_OK;
}

/* Lower-case ASCII copy of (s, len) into buf; 0 if the word is not a plain English
 * word (non-ASCII, digits, too long). */
static int lower_ascii(const char *s, int len, char *buf, size_t cap)
{
    if (len <= 0 || (size_t)len >= cap) return 0;
    for (int i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x80 || (ch >= '0' && ch <= '9')) return 0;
        buf[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
    }
    buf[len] = 0;
    return 1;
}

nb_status nb__wordnet_synonyms(nb__wordnet_cache **cache, const char *s, int len, const char *prev, int prev_len,
                               const char *const **out, int *n)
{
    *out = NULL;
    *n = 0;
    char w[128], pw[128];
    if (!lower_ascii(s, len, w, sizeof w) || IN(closed_words, w)) return NB_OK;
    nb_status st = nb__wordnet_ready();
    if (st) return st;
    if (!*cache) {
        *cache = calloc(1, sizeof **cache);
        if (!*cache) return nb__fail(NB_ERR_MEM, "out of memory");
    }
    wn_entry *e = NULL;
    if ((st = cache_get(*cache, w, &e))) return st;
    float weight[5] = {0, 1, 1, 1, 1};
    if (prev && lower_ascii(prev, prev_len, pw, sizeof pw)) {
        if (IN(determiners, pw)) weight[WN_NOUN] = 4, weight[WN_ADJ] = 2, weight[WN_VERB] = 0.1f, weight[WN_ADV] = 0.1f;
        else if (IN(intensifiers, pw)) weight[WN_ADJ] = 4, weight[WN_ADV] = 4, weight[WN_NOUN] = 0.1f, weight[WN_VERB] = 0.1f;
        else if (IN(verb_cues, pw)) weight[WN_VERB] = 4;
    }
    if (len > 4 && !strcmp(w + len - 2, "ly")) weight[WN_ADV] *= 2;
    int best = 0;
    float bs = 0;
    for (int p = 1; p <= 4; p++) {
        float sc = e->score[p] * weight[p];
        if (sc > bs) bs = sc, best = p;
    }
    if (!best) return NB_OK;
    *out = (const char *const *)e->syn[best];
    *n = e->nsyn[best];
    return NB_OK;
}

/* ---- SynonymAug ---- */

typedef struct {
    nb__word_sel ws;
    nb__wordnet_cache *wn;
} syn_impl;

static nb_status syn_line(nb_text_aug *a, syn_impl *si, char **line, nb_rng *r)
{
    nb_status st = nb__text_load(a, *line);
    if (st) return st;
    nb__line_view v;
    if ((st = nb__line_view_build(a, &si->ws, &v))) return st;
    nb__toks *tk = &a->toks;
    if (v.ncand == 0) return NB_OK;
    nb__wordnet_cache_trim(si->wn);
    int cnt = nb__aug_count(si->ws.aug_p, v.nnt, si->ws.aug_min, si->ws.aug_max);
    /* nlpaug's skip_aug: only words that have synonyms take part in the draw */
    typedef struct {
        int tok;
        int ns;
        const char *const *syn;
    } cand_t;
    cand_t *c = (cand_t *)nb__arena_alloc(&a->pool, sizeof(cand_t) * (size_t)v.ncand);
    const char **pick = (const char **)nb__arena_alloc(&a->pool, sizeof(char *) * (size_t)v.ncand);
    if (!c || !pick) return nb__fail(NB_ERR_MEM, "out of memory");
    int nh = 0;
    for (int k = 0; k < v.ncand; k++) {
        const nb__tok *t = &tk->t[v.cand[k]];
        const nb__tok *pw = nb__prev_word(tk, v.cand[k]);
        const char *const *syn;
        int ns;
        if ((st = nb__wordnet_synonyms(&si->wn, t->s, t->len, pw ? pw->s : NULL, pw ? pw->len : 0, &syn, &ns)))
            return st;
        if (ns > 0) {
            c[nh] = (cand_t){v.cand[k], ns, syn};
            v.spare[nh] = nh;
            nh++;
        }
    }
    if (cnt > nh) cnt = nh;
    if (cnt <= 0) return NB_OK;
    nb__sample(v.spare, nh, cnt, r);
    /* choose every synonym before editing (the previous word was the context) */
    for (int k = 0; k < cnt; k++) {
        const cand_t *ck = &c[v.spare[k]];
        pick[k] = ck->syn[nb_rng_below(r, (uint64_t)ck->ns)];
        v.spare[k] = ck->tok;
    }
    for (int k = 0; k < cnt; k++) {
        nb__tok *t = &tk->t[v.spare[k]];
        int l = (int)strlen(pick[k]);
        t->s = nb__align_case(&a->pool, t->s, t->len, pick[k], l, &l);
        t->len = l;
    }
    return nb__text_emit(tk, line);
}

static nb_status syn_run(nb_text_aug *a, char **lines, int64_t n, nb_rng *rngs)
{
    syn_impl *si = a->impl;
    for (int64_t i = 0; i < n; i++) {
        nb_status st = syn_line(a, si, &lines[i], &rngs[i]);
        if (st) return st;
    }
    return NB_OK;
}

static void syn_free(nb_text_aug *a)
{
    syn_impl *si = a->impl;
    if (!si) return;
    nb__word_sel_free(&si->ws);
    nb__wordnet_cache_free(si->wn);
    free(si);
}

static const nb__text_vt vt_synonym = {"synonym", syn_run, syn_free};

nb_text_aug *nb_text_synonym_new(const nb_text_word_opts *o)
{
    static const nb_text_word_opts zero;
    if (!o) o = &zero;
    if (nb__wordnet_ready()) {
        nb__error_prefix("synonym");
        return NULL;
    }
    syn_impl *si = calloc(1, sizeof *si);
    if (!si) {
        nb__fail(NB_ERR_MEM, "out of memory");
        return NULL;
    }
    if (nb__word_sel_init(&si->ws, o->aug_p, o->aug_min, o->aug_max, 0.3f, 1, 10, o->stopwords, o->n_stopwords,
                          o->stopwords_regex, "synonym")) {
        free(si);
        return NULL;
    }
    nb_text_aug *a = nb__text_aug_new(&vt_synonym, si);
    if (!a) syn_free(&(nb_text_aug){.impl = si});
    return a;
}
