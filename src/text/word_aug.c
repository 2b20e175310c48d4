/* word_aug.c - nlpaug's RandomWordAug (delete, swap, substitute, crop), EDA's random
 * insertion, and what every word-level augmenter shares: the edit count
 * ceil(aug_p·len) clamped to [aug_min, aug_max], stopwords (list and regex),
 * sampling without replacement, and nlpaug's capitalization rules. */
#include "text/text.h"
#include "core/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double nb__opt_p(float p) { return nearbyint((double)p * 1e7) / 1e7; }

int nb__aug_count(double p, int len, int mn, int mx)
{
    double c = ceil(p * (double)len);
    int cnt = c > 1e9 ? 1000000000 : (int)c;
    if (cnt < mn) return mn;
    if (mx >= 0 && cnt > mx) return mx;
    return cnt;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

nb_status nb__word_sel_init(nb__word_sel *ws, float aug_p, int aug_min, int aug_max, float def_p, int def_min,
                            int def_max, const char *const *stopwords, int n_stopwords, const char *regex,
                            const char *what)
{
    memset(ws, 0, sizeof *ws);
    if (!(aug_p <= 1.0f)) return nb__fail(NB_ERR_ARG, "%s: aug_p must be in [0, 1], got %g", what, (double)aug_p);
    ws->aug_p = aug_p == 0 ? nb__opt_p(def_p) : aug_p < 0 ? 0.0 : nb__opt_p(aug_p);
    ws->aug_min = aug_min == 0 ? def_min : aug_min < 0 ? 0 : aug_min;
    ws->aug_max = aug_max == 0 ? def_max : aug_max < 0 ? -1 : aug_max;
    if (n_stopwords < 0 || (n_stopwords > 0 && !stopwords))
        return nb__fail(NB_ERR_ARG, "%s: %d stopwords given without a list", what, n_stopwords);
    if (n_stopwords > 0) {
        ws->stopwords = calloc((size_t)n_stopwords, sizeof *ws->stopwords);
        if (!ws->stopwords) return nb__fail(NB_ERR_MEM, "%s: out of memory", what);
        for (int i = 0; i < n_stopwords; i++) {
            if (!stopwords[i]) {
                nb__word_sel_free(ws);
                return nb__fail(NB_ERR_ARG, "%s: stopword %d is NULL", what, i);
            }
            ws->stopwords[ws->n_stopwords] = strdup(stopwords[i]);
            if (!ws->stopwords[ws->n_stopwords++]) {
                nb__word_sel_free(ws);
                return nb__fail(NB_ERR_MEM, "%s: out of memory", what);
            }
        }
        qsort(ws->stopwords, (size_t)ws->n_stopwords, sizeof *ws->stopwords, cmp_str);
    }
    if (regex && *regex) {
        int rc = regcomp(&ws->regex, regex, REG_EXTENDED);
        if (rc) {
            char buf[256];
            regerror(rc, &ws->regex, buf, sizeof buf);
            nb__word_sel_free(ws);
            return nb__fail(NB_ERR_ARG, "%s: stopwords_regex '%s': %s", what, regex, buf);
        }
        ws->has_regex = 1;
    }
    return NB_OK;
}

void nb__word_sel_free(nb__word_sel *ws)
{
    for (int i = 0; i < ws->n_stopwords; i++) free(ws->stopwords[i]);
    free(ws->stopwords);
    if (ws->has_regex) regfree(&ws->regex);
    memset(ws, 0, sizeof *ws);
}

static int regex_starts(const regex_t *re, const char *s)
{
    regmatch_t m;
    return regexec(re, s, 1, &m, 0) == 0 && m.rm_so == 0;
}

int nb__is_stopword(const nb__word_sel *ws, const char *s, int len)
{
    int lo = 0, hi = ws->n_stopwords - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        const char *w = ws->stopwords[mid];
        size_t wl = strlen(w);
        int c = memcmp(s, w, (size_t)len < wl ? (size_t)len : wl);
        if (!c) c = (size_t)len < wl ? -1 : (size_t)len > wl ? 1 : 0;
        if (!c) return 1;
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    if (!ws->has_regex) return 0;
    /* nlpaug: match(w) or match(' w ') or match(' w') or match('w ') */
    char small[256], *buf = (size_t)len + 3 <= sizeof small ? small : malloc((size_t)len + 3);
    if (!buf) return 0;
    int hit = 0;
    for (int v = 0; v < 4 && !hit; v++) {
        size_t o = 0;
        if (v == 1 || v == 2) buf[o++] = ' ';
        memcpy(buf + o, s, (size_t)len);
        o += (size_t)len;
        if (v == 1 || v == 3) buf[o++] = ' ';
        buf[o] = 0;
        hit = regex_starts(&ws->regex, buf);
    }
    if (buf != small) free(buf);
    return hit;
}

void nb__sample(int *idx, int n, int k, nb_rng *r)
{
    for (int i = 0; i < k && i < n; i++) {
        int j = i + (int)nb_rng_below(r, (uint64_t)(n - i));
        int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

/* ---- case ---- */

nb__case nb__word_case(const char *s, int len)
{
    if (len <= 0) return NB__CASE_EMPTY;
    const unsigned char *u = (const unsigned char *)s;
    int nchars = 0, n_up = 0, n_low = 0, first_up = 0, later_up = 0;
    for (int i = 0; i < len;) {
        uint32_t cp;
        int l = nb__utf8_decode(u + i, (size_t)(len - i), &cp);
        if (!l) l = 1, cp = 0;
        int up = nb__cp_is_upper(cp), low = nb__cp_is_lower(cp);
        if (nchars == 0) first_up = up;
        else if (up) later_up = 1;
        n_up += up;
        n_low += low;
        nchars++;
        i += l;
    }
    if (nchars == 1 && first_up) return NB__CASE_CAPITALIZE;
    if (n_up > 0 && n_low == 0) return NB__CASE_UPPER;
    if (n_low > 0 && n_up == 0) return NB__CASE_LOWER;
    if (later_up) return NB__CASE_MIXED;
    if (first_up) return NB__CASE_CAPITALIZE;
    return NB__CASE_OTHER;
}

/* Map the case of code points [from, to) of s (in chars; to < 0: all). */
static const char *recase(nb__pool *p, const char *s, int len, int upper, int to, int *out_len)
{
    char *o = nb__pool_alloc(p, (size_t)len * 2 + 1);
    if (!o) {
        *out_len = len;
        return s;
    }
    const unsigned char *u = (const unsigned char *)s;
    int n = 0, ci = 0;
    for (int i = 0; i < len; ci++) {
        uint32_t cp;
        int l = nb__utf8_decode(u + i, (size_t)(len - i), &cp);
        if (!l) { /* cannot happen on validated text; copy the byte */
            o[n++] = s[i++];
            continue;
        }
        if (to < 0 || ci < to) {
            uint32_t m = upper ? nb__cp_to_upper(cp) : nb__cp_to_lower(cp);
            n += nb__utf8_encode(m, o + n);
        } else {
            memcpy(o + n, s + i, (size_t)l);
            n += l;
        }
        i += l;
    }
    o[n] = 0;
    *out_len = n;
    return o;
}

const char *nb__case_first(nb__pool *p, const char *s, int len, int upper, int *out_len)
{
    return recase(p, s, len, upper, 1, out_len);
}

const char *nb__case_all(nb__pool *p, const char *s, int len, int upper, int *out_len)
{
    return recase(p, s, len, upper, -1, out_len);
}

const char *nb__align_case(nb__pool *p, const char *like, int like_len, const char *s, int len, int *out_len)
{
    nb__case lc = nb__word_case(like, like_len), sc = nb__word_case(s, len);
    if (lc == NB__CASE_UPPER && like_len > 1) return nb__case_all(p, s, len, 1, out_len);
    if (lc == NB__CASE_CAPITALIZE && sc == NB__CASE_LOWER) return nb__case_first(p, s, len, 1, out_len);
    *out_len = len;
    return s;
}

/* ---- the line view ---- */

nb_status nb__line_view_build(nb_text_aug *a, const nb__word_sel *ws, nb__line_view *v)
{
    int n = a->toks.n;
    int *idx = nb__text_idx(a, 3 * n + 3);
    if (!idx) return nb__fail(NB_ERR_MEM, "out of memory");
    v->nt = idx;
    v->cand = idx + n + 1;
    v->spare = idx + 2 * n + 2;
    v->nnt = v->ncand = 0;
    v->first = -1;
    for (int i = 0; i < n; i++) {
        const nb__tok *t = &a->toks.t[i];
        if (t->kind == NB__TK_SPACE) continue;
        if (v->first < 0) v->first = i;
        v->nt[v->nnt++] = i;
        if (t->kind == NB__TK_WORD && !(ws && nb__is_stopword(ws, t->s, t->len))) v->cand[v->ncand++] = i;
    }
    return NB_OK;
}

void nb__delete_token(nb__toks *tk, int t)
{
    tk->t[t].kind = NB__TK_DEL;
    if (t > 0 && tk->t[t - 1].kind == NB__TK_SPACE) tk->t[t - 1].kind = NB__TK_DEL;
    else if (t + 1 < tk->n && tk->t[t + 1].kind == NB__TK_SPACE) tk->t[t + 1].kind = NB__TK_DEL;
}

const nb__tok *nb__prev_word(const nb__toks *tk, int t)
{
    for (int i = t - 1; i >= 0; i--) {
        if (tk->t[i].kind == NB__TK_SPACE || tk->t[i].kind == NB__TK_DEL) continue;
        return tk->t[i].kind == NB__TK_WORD ? &tk->t[i] : NULL;
    }
    return NULL;
}

/* After the first token was removed: the new first word takes a capital if the old
 * one had it (nlpaug's align_capitalization on token 1). */
static void recapitalize_first(nb_text_aug *a, const nb__tok *old_first)
{
    nb__toks *tk = &a->toks;
    for (int i = 0; i < tk->n; i++) {
        nb__tok *t = &tk->t[i];
        if (t->kind == NB__TK_SPACE || t->kind == NB__TK_DEL) continue;
        if (t->kind == NB__TK_WORD && nb__word_case(old_first->s, old_first->len) == NB__CASE_CAPITALIZE &&
            nb__word_case(t->s, t->len) == NB__CASE_LOWER) {
            int l;
            t->s = nb__case_first(&a->pool, t->s, t->len, 1, &l);
            t->len = l;
        }
        return;
    }
}

static int is_single_i(const char *s, int len) { return len == 1 && (s[0] == 'I' || s[0] == 'i'); }

/* Swap the texts of word tokens i and j; when one is the line's first token, follow
 * nlpaug's change_case: the word moving to the front takes its capital, the word
 * leaving it is lower-cased ("I" stays "I"). */
static void swap_words(nb_text_aug *a, int i, int j, int first)
{
    nb__tok *ti = &a->toks.t[i], *tj = &a->toks.t[j];
    nb__tok tmp = *ti;
    ti->s = tj->s, ti->len = tj->len;
    tj->s = tmp.s, tj->len = tmp.len;
    if (i != first && j != first) return;
    nb__tok *f = i == first ? ti : tj; /* now holds the word that moved to the front */
    nb__tok *o = i == first ? tj : ti; /* now holds the old first word */
    nb__case oc = nb__word_case(o->s, o->len), fc = nb__word_case(f->s, f->len);
    int l;
    if (oc == NB__CASE_CAPITALIZE && fc == NB__CASE_LOWER) {
        f->s = nb__case_first(&a->pool, f->s, f->len, 1, &l);
        f->len = l;
    }
    if (oc == NB__CASE_CAPITALIZE && !is_single_i(o->s, o->len)) {
        o->s = nb__case_first(&a->pool, o->s, o->len, 0, &l);
        o->len = l;
    }
}

/* ---- RandomWordAug and random insertion ---- */

/* an insertion of random_insert: text s before token `before`, the k-th drawn */
typedef struct {
    int before;
    const char *s;
    int len;
    int k;
} ins_t;

static int cmp_ins(const void *pa, const void *pb)
{
    const ins_t *a = pa, *b = pb;
    if (a->before != b->before) return a->before < b->before ? -1 : 1;
    return a->k < b->k ? -1 : a->k > b->k;
}

typedef struct {
    nb_text_action action;
    nb__word_sel ws;
    char **targets;
    int n_targets;
    nb__wordnet_cache *wn; /* insertion */
} word_impl;

static nb_status word_line(nb_text_aug *a, word_impl *w, char **line, nb_rng *r)
{
    nb_status st = nb__text_load(a, *line);
    if (st) return st;
    nb__line_view v;
    if ((st = nb__line_view_build(a, &w->ws, &v))) return st;
    nb__toks *tk = &a->toks;
    int cnt = nb__aug_count(w->ws.aug_p, v.nnt, w->ws.aug_min, w->ws.aug_max);
    if (v.nnt == 0 || cnt <= 0) return NB_OK;
    switch (w->action) {
    case NB_TEXT_DELETE: {
        if (v.nnt < 2 || v.ncand == 0) return NB_OK; /* nlpaug: nothing when the text has < 2 tokens */
        if (cnt > v.ncand) cnt = v.ncand;
        nb__sample(v.cand, v.ncand, cnt, r);
        nb__tok old_first = tk->t[v.first];
        int first_gone = 0;
        for (int k = 0; k < cnt; k++) first_gone |= v.cand[k] == v.first;
        /* delete in line order so whitespace is removed consistently */
        int *mark = v.spare;
        memset(mark, 0, sizeof(int) * (size_t)tk->n);
        for (int k = 0; k < cnt; k++) mark[v.cand[k]] = 1;
        for (int t = 0; t < tk->n; t++)
            if (mark[t]) nb__delete_token(tk, t);
        if (first_gone) recapitalize_first(a, &old_first);
        break;
    }
    case NB_TEXT_SWAP: {
        if (v.nnt < 2 || v.ncand < 2) return NB_OK;
        if (cnt > v.ncand) cnt = v.ncand;
        int *pos = v.spare;
        for (int k = 0; k < v.ncand; k++) pos[k] = k;
        nb__sample(pos, v.ncand, cnt, r);
        for (int k = 0; k < cnt; k++) {
            int p = pos[k], q;
            if (p == 0) q = 1;
            else if (p == v.ncand - 1) q = p - 1;
            else q = p + (nb_rng_below(r, 2) ? 1 : -1);
            swap_words(a, v.cand[p], v.cand[q], v.first);
        }
        break;
    }
    case NB_TEXT_SUBSTITUTE: {
        if (cnt > v.ncand) cnt = v.ncand;
        nb__sample(v.cand, v.ncand, cnt, r);
        for (int k = 0; k < cnt; k++) {
            nb__tok *t = &tk->t[v.cand[k]];
            const char *nw = w->targets[nb_rng_below(r, (uint64_t)w->n_targets)];
            int l = (int)strlen(nw);
            if (v.cand[k] == v.first) nw = nb__align_case(&a->pool, t->s, t->len, nw, l, &l);
            t->s = nw;
            t->len = l;
        }
        break;
    }
    case NB_TEXT_CROP: {
        if (v.nnt < 2) return NB_OK;
        if (cnt > v.nnt - 1) cnt = v.nnt - 1; /* keep at least one token */
        int start = (int)nb_rng_below(r, (uint64_t)(v.nnt - cnt + 1));
        int t0 = v.nt[start], t1 = v.nt[start + cnt - 1];
        nb__tok old_first = tk->t[v.first];
        for (int t = t0; t <= t1; t++) tk->t[t].kind = NB__TK_DEL;
        if (t0 > 0 && tk->t[t0 - 1].kind == NB__TK_SPACE) tk->t[t0 - 1].kind = NB__TK_DEL;
        else if (t1 + 1 < tk->n && tk->t[t1 + 1].kind == NB__TK_SPACE) tk->t[t1 + 1].kind = NB__TK_DEL;
        if (start == 0) recapitalize_first(a, &old_first);
        break;
    }
    case NB_TEXT_INSERT: {
        /* candidates that have synonyms */
        nb__wordnet_cache_trim(w->wn);
        int nc = 0;
        int *has = v.spare;
        for (int k = 0; k < v.ncand; k++) {
            const nb__tok *t = &tk->t[v.cand[k]];
            const nb__tok *pw = nb__prev_word(tk, v.cand[k]);
            const char *const *syn;
            int ns;
            st = nb__wordnet_synonyms(&w->wn, t->s, t->len, pw ? pw->s : NULL, pw ? pw->len : 0, &syn, &ns);
            if (st) return st;
            if (ns > 0) has[nc++] = v.cand[k];
        }
        if (nc == 0) return NB_OK;
        if (cnt > nc) cnt = nc;
        /* the words before which an insertion may go (EDA: any word of the line) */
        int nw = 0, *words = v.cand; /* reuse: cand is no longer needed */
        for (int i = 0; i < tk->n; i++)
            if (tk->t[i].kind == NB__TK_WORD) words[nw++] = i;
        /* insertions as (before token, text); built into a->out */
        ins_t *ins = (ins_t *)nb__pool_alloc(&a->pool, sizeof(ins_t) * (size_t)cnt);
        if (!ins) return nb__fail(NB_ERR_MEM, "out of memory");
        for (int k = 0; k < cnt; k++) {
            int src = has[nb_rng_below(r, (uint64_t)nc)];
            const nb__tok *t = &tk->t[src];
            const nb__tok *pw = nb__prev_word(tk, src);
            const char *const *syn;
            int ns;
            st = nb__wordnet_synonyms(&w->wn, t->s, t->len, pw ? pw->s : NULL, pw ? pw->len : 0, &syn, &ns);
            if (st) return st;
            ins[k].s = syn[nb_rng_below(r, (uint64_t)ns)];
            ins[k].len = (int)strlen(ins[k].s);
            ins[k].before = words[nb_rng_below(r, (uint64_t)nw)];
            ins[k].k = k;
        }
        /* in token order, those before one token in draw order: one pass over the line
         * (a scan of every insertion per token was quadratic on long lines) */
        qsort(ins, (size_t)cnt, sizeof *ins, cmp_ins);
        int next = 0;
        /* capital at the front moves to the first word inserted there */
        int capital_done = 0;
        a->out.n = 0;
        for (int i = 0; i < tk->n; i++) {
            for (; next < cnt && ins[next].before == i; next++) {
                int k = next;
                const char *s = ins[k].s;
                int l = ins[k].len;
                if (i == v.first && !capital_done) {
                    nb__tok *f = &tk->t[i];
                    if (nb__word_case(f->s, f->len) == NB__CASE_CAPITALIZE) {
                        s = nb__case_first(&a->pool, s, l, 1, &l);
                        if (!is_single_i(f->s, f->len)) {
                            int fl;
                            f->s = nb__case_first(&a->pool, f->s, f->len, 0, &fl);
                            f->len = fl;
                        }
                    }
                    capital_done = 1;
                }
                if ((st = nb__toks_push(&a->out, s, l, NB__TK_WORD)) || (st = nb__toks_push(&a->out, " ", 1, NB__TK_SPACE)))
                    return st;
            }
            if ((st = nb__toks_push(&a->out, tk->t[i].s, tk->t[i].len, tk->t[i].kind))) return st;
        }
        return nb__text_emit(&a->out, line);
    }
    }
    return nb__text_emit(tk, line);
}

static nb_status word_run(nb_text_aug *a, char **lines, int64_t n, nb_rng *rngs)
{
    word_impl *w = a->impl;
    for (int64_t i = 0; i < n; i++) {
        nb_status st = word_line(a, w, &lines[i], &rngs[i]);
        if (st) return st;
    }
    return NB_OK;
}

static void word_free(nb_text_aug *a)
{
    word_impl *w = a->impl;
    if (!w) return;
    nb__word_sel_free(&w->ws);
    for (int i = 0; i < w->n_targets; i++) free(w->targets[i]);
    free(w->targets);
    nb__wordnet_cache_free(w->wn);
    free(w);
}

static const nb__text_vt vt_delete = {"random_delete", word_run, word_free};
static const nb__text_vt vt_swap = {"random_swap", word_run, word_free};
static const nb__text_vt vt_substitute = {"random_substitute", word_run, word_free};
static const nb__text_vt vt_crop = {"random_crop", word_run, word_free};
static const nb__text_vt vt_insert = {"random_insert", word_run, word_free};

static nb_text_aug *word_new(nb_text_action action, const nb_text_word_opts *o, const char *const *targets,
                             int n_targets)
{
    static const nb_text_word_opts zero;
    if (!o) o = &zero;
    const nb__text_vt *vt;
    switch (action) {
    case NB_TEXT_DELETE: vt = &vt_delete; break;
    case NB_TEXT_SWAP: vt = &vt_swap; break;
    case NB_TEXT_SUBSTITUTE: vt = &vt_substitute; break;
    case NB_TEXT_CROP: vt = &vt_crop; break;
    case NB_TEXT_INSERT: vt = &vt_insert; break;
    default: nb__fail(NB_ERR_ARG, "RandomWordAug: unknown action %d", (int)action); return NULL;
    }
    word_impl *w = calloc(1, sizeof *w);
    if (!w) {
        nb__fail(NB_ERR_MEM, "out of memory");
        return NULL;
    }
    w->action = action;
    if (nb__word_sel_init(&w->ws, o->aug_p, o->aug_min, o->aug_max, 0.3f, 1, 10, o->stopwords, o->n_stopwords,
                          o->stopwords_regex, vt->name)) {
        free(w);
        return NULL;
    }
    if (action == NB_TEXT_SUBSTITUTE) {
        static const char *const underscore[] = {"_"};
        if (n_targets < 0 || (n_targets > 0 && !targets)) {
            word_free(&(nb_text_aug){.impl = w});
            nb__fail(NB_ERR_ARG, "random_substitute: %d target words given without a list", n_targets);
            return NULL;
        }
        if (n_targets == 0) targets = underscore, n_targets = 1;
        w->targets = calloc((size_t)n_targets, sizeof *w->targets);
        for (int i = 0; w->targets && i < n_targets; i++) {
            if (!targets[i] || nb_utf8_check(targets[i], strlen(targets[i])) >= 0) {
                word_free(&(nb_text_aug){.impl = w});
                nb__fail(NB_ERR_ARG, "random_substitute: target word %d is %s", i,
                         targets[i] ? "not valid UTF-8" : "NULL");
                return NULL;
            }
            if (!(w->targets[w->n_targets++] = strdup(targets[i]))) break;
        }
        if (!w->targets || w->n_targets < n_targets) {
            word_free(&(nb_text_aug){.impl = w});
            nb__fail(NB_ERR_MEM, "out of memory");
            return NULL;
        }
    }
    if (action == NB_TEXT_INSERT && nb__wordnet_ready()) {
        nb__error_prefix("random_insert");
        word_free(&(nb_text_aug){.impl = w});
        return NULL;
    }
    nb_text_aug *a = nb__text_aug_new(vt, w);
    if (!a) word_free(&(nb_text_aug){.impl = w});
    return a;
}

nb_text_aug *nb_text_random_word_new(nb_text_action action, const nb_text_word_opts *o,
                                     const char *const *target_words, int n_target_words)
{
    if (action == NB_TEXT_INSERT) {
        nb__fail(NB_ERR_ARG, "RandomWordAug: action INSERT is nb_text_random_insert_new (EDA)");
        return NULL;
    }
    return word_new(action, o, target_words, n_target_words);
}

nb_text_aug *nb_text_random_insert_new(const nb_text_word_opts *o) { return word_new(NB_TEXT_INSERT, o, NULL, 0); }
