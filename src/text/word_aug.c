/* word_aug.c - nlpaug's RandomWordAug (delete, swap, substitute, crop) and EDA's random
 * insertion (what every word-level augmenter shares is text/words.c). */
#include "text/text.h"
#include "text/words.h"
#include "core/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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
        ins_t *ins = (ins_t *)nb__arena_alloc(&a->pool, sizeof(ins_t) * (size_t)cnt);
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
