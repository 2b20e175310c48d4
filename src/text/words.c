/* words.c - what every word-level augmenter shares (text/words.h): the edit count
 * ceil(aug_p·len) clamped to [aug_min, aug_max], stopwords (list and regex),
 * sampling without replacement, nlpaug's capitalization rules, the line's word view. */
#include "text/words.h"
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
static const char *recase(nb_arena *p, const char *s, int len, int upper, int to, int *out_len)
{
    char *o = nb__arena_alloc(p, (size_t)len * 2 + 1);
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

const char *nb__case_first(nb_arena *p, const char *s, int len, int upper, int *out_len)
{
    return recase(p, s, len, upper, 1, out_len);
}

const char *nb__case_all(nb_arena *p, const char *s, int len, int upper, int *out_len)
{
    return recase(p, s, len, upper, -1, out_len);
}

const char *nb__align_case(nb_arena *p, const char *like, int like_len, const char *s, int len, int *out_len)
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
