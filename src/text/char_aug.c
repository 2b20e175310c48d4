/* char_aug.c - nlpaug's character augmenters: RandomCharAug (insert, substitute,
 * swap, delete), KeyboardAug (neighbouring keys of a QWERTY keyboard) and OcrAug
 * (look-alike characters). Words are chosen as by word augmenters (aug_word_p,
 * aug_word_min, aug_word_max over all tokens; words shorter than min_char and
 * stopwords skipped), then in each word ceil(aug_char_p·chars) characters clamped to
 * [aug_char_min, aug_char_max] and to the characters that have a replacement. A
 * character is a code point with its combining marks, so accents and emoji are
 * never split and unedited characters are kept byte for byte. */
#include "text/text.h"
#include "text/words.h"
#include "core/error.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef enum { K_RANDOM = 0, K_KEYBOARD, K_OCR } char_kind;

typedef struct {
    char_kind kind;
    nb_text_action action;
    double char_p;
    int char_min, char_max, min_char;
    nb__word_sel ws;             /* word choice: aug_word_p, aug_word_min, aug_word_max, stopwords */
    char **model;                /* RandomCharAug: candidate strings */
    int n_model;
    nb_text_swap_mode swap_mode;
    int no_upper, no_numeric, no_special; /* KeyboardAug */
} char_impl;

/* ---- QWERTY neighbours ---- */
static const char *const rows_lower[4] = {"1234567890-=", "qwertyuiop[]", "asdfghjkl;'", "zxcvbnm,./"};
static const char *const rows_upper[4] = {"!@#$%^&*()_+", "QWERTYUIOP{}", "ASDFGHJKL:\"", "ZXCVBNM<>?"};
static char kb_next[128][12]; /* neighbours of each key, same shift level */
static pthread_once_t kb_once = PTHREAD_ONCE_INIT;

static void kb_add(char *list, char c)
{
    size_t n = strlen(list);
    if (c && !strchr(list, c) && n < 11) list[n] = c, list[n + 1] = 0;
}

static void kb_build(void)
{
    for (int shift = 0; shift < 2; shift++) {
        const char *const *rows = shift ? rows_upper : rows_lower;
        for (int r = 0; r < 4; r++) {
            int len = (int)strlen(rows[r]);
            for (int c = 0; c < len; c++) {
                char *l = kb_next[(unsigned char)rows[r][c]];
                if (c > 0) kb_add(l, rows[r][c - 1]);
                if (c + 1 < len) kb_add(l, rows[r][c + 1]);
                if (r > 0) { /* the row above sits half a key to the left */
                    int la = (int)strlen(rows[r - 1]);
                    if (c < la) kb_add(l, rows[r - 1][c]);
                    if (c + 1 < la) kb_add(l, rows[r - 1][c + 1]);
                }
                if (r < 3) {
                    int lb = (int)strlen(rows[r + 1]);
                    if (c > 0 && c - 1 < lb) kb_add(l, rows[r + 1][c - 1]);
                    if (c < lb) kb_add(l, rows[r + 1][c]);
                }
            }
        }
    }
}

static int is_alpha_c(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_digit_c(char c) { return c >= '0' && c <= '9'; }

/* Keyboard replacements of character c allowed by the options, into out (NUL-terminated). */
static int kb_options(const char_impl *ci, uint32_t cp, char *out)
{
    int n = 0;
    if (cp >= 128) return 0;
    const char *src = kb_next[cp];
    /* an upper-case letter without include_upper_case types its lower-case neighbours */
    if (cp >= 'A' && cp <= 'Z' && ci->no_upper) src = kb_next[cp - 'A' + 'a'];
    for (const char *q = src; *q; q++) {
        char c = *q;
        if (is_digit_c(c) && ci->no_numeric) continue;
        if (!is_alpha_c(c) && !is_digit_c(c) && ci->no_special) continue;
        if (c >= 'A' && c <= 'Z' && ci->no_upper) continue;
        out[n++] = c;
    }
    out[n] = 0;
    return n;
}

/* ---- OCR look-alikes: pairs, used both ways ---- */
static const char *const ocr_pairs[] = {"0o", "0O", "0D", "OD", "OQ", "1l", "1I", "lI", "17", "2z", "2Z",
                                        "5s", "5S", "6b", "6G", "8B", "8S", "9g", "9q", "gq", "ce", "uv",
                                        "CG", "EF", "hb", "tf", "rk", "3B"};

static int ocr_options(uint32_t cp, char *out)
{
    int n = 0;
    if (cp >= 128) return 0;
    for (size_t i = 0; i < sizeof ocr_pairs / sizeof ocr_pairs[0]; i++) {
        const char *p = ocr_pairs[i];
        char other = 0;
        if ((uint32_t)(unsigned char)p[0] == cp) other = p[1];
        else if ((uint32_t)(unsigned char)p[1] == cp) other = p[0];
        if (other && !memchr(out, other, (size_t)n)) out[n++] = other;
    }
    out[n] = 0;
    return n;
}

/* ---- one word ---- */

typedef struct {
    const char *s;
    int len;
} piece;

static uint32_t first_cp(const char *s, int len)
{
    uint32_t cp = 0;
    if (len > 0 && !nb__utf8_decode((const unsigned char *)s, (size_t)len, &cp)) cp = 0;
    return cp;
}

/* Give piece p the case of a character that was (not) upper case. */
/* Append p to out (o bytes used of *cap), moving it to a larger block of the pool
 * when it is full (long candidate strings). */
static int put_piece(nb_arena *pool, char **out, size_t *cap, size_t *o, piece p)
{
    if (*o + (size_t)p.len + 1 > *cap) {
        size_t bigger_cap = *cap * 2 + (size_t)p.len;
        char *bigger = nb__arena_alloc(pool, bigger_cap);
        if (!bigger) return -1;
        memcpy(bigger, *out, *o);
        *out = bigger, *cap = bigger_cap;
    }
    memcpy(*out + *o, p.s, (size_t)p.len);
    *o += (size_t)p.len;
    return 0;
}

static piece with_case(nb_arena *pool, piece p, int upper)
{
    uint32_t cp = first_cp(p.s, p.len);
    if (upper ? nb__cp_is_upper(cp) || !nb__cp_is_lower(cp) : nb__cp_is_lower(cp) || !nb__cp_is_upper(cp)) return p;
    int l;
    p.s = nb__case_first(pool, p.s, p.len, upper, &l);
    p.len = l;
    return p;
}

static int swap_position(int pos, int last, nb_text_swap_mode mode, nb_rng *r)
{
    if (mode == NB_TEXT_SWAP_ADJACENT) {
        if (pos == 0) return 1;
        if (pos == last) return pos - 1;
        return pos + (nb_rng_below(r, 2) ? 1 : -1);
    }
    /* middle: any character but the first, last and itself; random: any but itself
     * (nlpaug draws from range(last), so the last character is never a target) */
    int cand[4096], n = 0;
    for (int i = 0; i < last && n < 4096; i++)
        if (i != pos && (mode == NB_TEXT_SWAP_RANDOM || i != 0)) cand[n++] = i;
    if (!n) return pos;
    return cand[nb_rng_below(r, (uint64_t)n)];
}

/* Edit the characters of one word token; returns 0, or -1 on OOM. */
static int edit_word(nb_text_aug *a, char_impl *ci, nb__tok *t, nb_rng *r)
{
    nb_arena *pool = &a->pool;
    int cap = t->len + 1;
    piece *ch = (piece *)nb__arena_alloc(pool, sizeof(piece) * (size_t)cap * 2);
    int *cand = (int *)nb__arena_alloc(pool, sizeof(int) * (size_t)cap);
    if (!ch || !cand) return -1;
    piece *opts_p = ch + cap; /* replacement per chosen char (substitute) */
    int n = 0;
    for (int i = 0; i < t->len;) {
        int l = (int)nb__char_len(t->s + i, (size_t)(t->len - i));
        ch[n++] = (piece){t->s + i, l};
        i += l;
    }
    /* characters that can be edited */
    int nc = 0;
    char opt[16];
    for (int i = 0; i < n; i++) {
        if (ci->kind == K_RANDOM) cand[nc++] = i;
        else {
            uint32_t cp = ch[i].len == 1 ? (uint32_t)(unsigned char)ch[i].s[0] : 0x80;
            int k = ci->kind == K_KEYBOARD ? kb_options(ci, cp, opt) : ocr_options(cp, opt);
            if (k > 0) cand[nc++] = i;
        }
    }
    int cnt = nb__aug_count(ci->char_p, n, ci->char_min, ci->char_max);
    if (cnt > nc) cnt = nc;
    if (ci->action == NB_TEXT_DELETE && cnt >= n) cnt = n - 1; /* a word never vanishes */
    if (cnt <= 0) return 0;
    nb__sample(cand, nc, cnt, r);
    size_t out_cap = (size_t)t->len + (size_t)cnt * 64 + 1;
    char *out = nb__arena_alloc(pool, out_cap);
    if (!out) return -1;
    size_t o = 0;
    int written = 0; /* out holds the word already */
    switch (ci->action) {
    case NB_TEXT_SUBSTITUTE: {
        for (int k = 0; k < cnt; k++) {
            int i = cand[k];
            if (ci->kind == K_RANDOM) {
                const char *m = ci->model[nb_rng_below(r, (uint64_t)ci->n_model)];
                opts_p[i] = (piece){m, (int)strlen(m)};
            } else {
                uint32_t cp = (uint32_t)(unsigned char)ch[i].s[0];
                int m = ci->kind == K_KEYBOARD ? kb_options(ci, cp, opt) : ocr_options(cp, opt);
                char *c1 = nb__arena_alloc(pool, 1);
                if (!c1) return -1;
                *c1 = opt[nb_rng_below(r, (uint64_t)m)];
                opts_p[i] = (piece){c1, 1};
            }
            ch[i] = opts_p[i];
        }
        break;
    }
    case NB_TEXT_INSERT: {
        /* insert before each chosen character: build the word with the insertions */
        int *mark = (int *)nb__arena_alloc(pool, sizeof(int) * (size_t)n);
        piece *ins = (piece *)nb__arena_alloc(pool, sizeof(piece) * (size_t)n);
        if (!mark || !ins) return -1;
        memset(mark, 0, sizeof(int) * (size_t)n);
        for (int k = 0; k < cnt; k++) {
            const char *m = ci->model[nb_rng_below(r, (uint64_t)ci->n_model)];
            mark[cand[k]] = 1;
            ins[cand[k]] = (piece){m, (int)strlen(m)};
        }
        for (int i = 0; i < n; i++)
            if ((mark[i] && put_piece(pool, &out, &out_cap, &o, ins[i])) || put_piece(pool, &out, &out_cap, &o, ch[i]))
                return -1;
        written = 1;
        break;
    }
    case NB_TEXT_SWAP: {
        if (n < 2) return 0;
        for (int k = 0; k < cnt; k++) {
            int i = cand[k], j = swap_position(i, n - 1, ci->swap_mode, r);
            if (j == i) continue;
            /* the case stays with the position (nlpaug) */
            int ui = nb__cp_is_upper(first_cp(ch[i].s, ch[i].len));
            int uj = nb__cp_is_upper(first_cp(ch[j].s, ch[j].len));
            piece pi = ch[i], pj = ch[j];
            ch[i] = with_case(pool, pj, ui);
            ch[j] = with_case(pool, pi, uj);
        }
        break;
    }
    case NB_TEXT_DELETE: {
        for (int k = 0; k < cnt; k++) ch[cand[k]].len = 0;
        break;
    }
    default: break;
    }
    for (int i = 0; !written && i < n; i++)
        if (put_piece(pool, &out, &out_cap, &o, ch[i])) return -1;
    out[o] = 0;
    t->s = out;
    t->len = (int32_t)o;
    return 0;
}

static int n_chars(const char *s, int len)
{
    int n = 0;
    for (int i = 0; i < len; n++) i += (int)nb__char_len(s + i, (size_t)(len - i));
    return n;
}

static nb_status char_line(nb_text_aug *a, char_impl *ci, char **line, nb_rng *r)
{
    nb_status st = nb__text_load(a, *line);
    if (st) return st;
    nb__line_view v;
    if ((st = nb__line_view_build(a, &ci->ws, &v))) return st;
    nb__toks *tk = &a->toks;
    int nw = 0;
    for (int k = 0; k < v.ncand; k++) {
        const nb__tok *t = &tk->t[v.cand[k]];
        if (n_chars(t->s, t->len) >= ci->min_char) v.spare[nw++] = v.cand[k];
    }
    int cnt = nb__aug_count(ci->ws.aug_p, v.nnt, ci->ws.aug_min, ci->ws.aug_max);
    if (cnt > nw) cnt = nw;
    if (cnt <= 0) return NB_OK;
    nb__sample(v.spare, nw, cnt, r);
    /* edit in line order (each word draws its own characters) */
    int *mark = v.cand; /* cand is consumed */
    memset(mark, 0, sizeof(int) * (size_t)(tk->n + 1));
    for (int k = 0; k < cnt; k++) mark[v.spare[k]] = 1;
    for (int i = 0; i < tk->n; i++)
        if (mark[i] && edit_word(a, ci, &tk->t[i], r)) return nb__fail(NB_ERR_MEM, "out of memory");
    return nb__text_emit(tk, line);
}

static nb_status char_run(nb_text_aug *a, char **lines, int64_t n, nb_rng *rngs)
{
    char_impl *ci = a->impl;
    for (int64_t i = 0; i < n; i++) {
        nb_status st = char_line(a, ci, &lines[i], &rngs[i]);
        if (st) return st;
    }
    return NB_OK;
}

static void char_free(nb_text_aug *a)
{
    char_impl *ci = a->impl;
    if (!ci) return;
    nb__word_sel_free(&ci->ws);
    for (int i = 0; i < ci->n_model; i++) free(ci->model[i]);
    free(ci->model);
    free(ci);
}

static const nb__text_vt vt_random_char = {"random_char", char_run, char_free};
static const nb__text_vt vt_keyboard = {"keyboard", char_run, char_free};
static const nb__text_vt vt_ocr = {"ocr", char_run, char_free};

static int model_add(char_impl *ci, const char *s, size_t n)
{
    char **nm = realloc(ci->model, sizeof *nm * (size_t)(ci->n_model + 1));
    if (!nm) return -1;
    ci->model = nm;
    if (!(nm[ci->n_model] = malloc(n + 1))) return -1;
    memcpy(nm[ci->n_model], s, n);
    nm[ci->n_model++][n] = 0;
    return 0;
}

static nb_text_aug *char_new(char_kind kind, nb_text_action action, const nb_text_char_opts *o)
{
    static const nb_text_char_opts zero;
    if (!o) o = &zero;
    const nb__text_vt *vt = kind == K_RANDOM ? &vt_random_char : kind == K_KEYBOARD ? &vt_keyboard : &vt_ocr;
    if (kind == K_RANDOM && action != NB_TEXT_INSERT && action != NB_TEXT_SUBSTITUTE && action != NB_TEXT_SWAP &&
        action != NB_TEXT_DELETE) {
        nb__fail(NB_ERR_ARG, "random_char: action must be INSERT, SUBSTITUTE, SWAP or DELETE");
        return NULL;
    }
    if (!(o->aug_char_p <= 1.0f)) {
        nb__fail(NB_ERR_ARG, "%s: aug_char_p must be in [0, 1], got %g", vt->name, (double)o->aug_char_p);
        return NULL;
    }
    if (o->swap_mode < NB_TEXT_SWAP_ADJACENT || o->swap_mode > NB_TEXT_SWAP_RANDOM) {
        nb__fail(NB_ERR_ARG, "%s: unknown swap_mode %d", vt->name, (int)o->swap_mode);
        return NULL;
    }
    char_impl *ci = calloc(1, sizeof *ci);
    if (!ci) {
        nb__fail(NB_ERR_MEM, "out of memory");
        return NULL;
    }
    ci->kind = kind;
    ci->action = kind == K_RANDOM ? action : NB_TEXT_SUBSTITUTE;
    ci->char_p = o->aug_char_p == 0 ? 0.3 : o->aug_char_p < 0 ? 0.0 : nb__opt_p(o->aug_char_p);
    int def_cmin = kind == K_OCR ? 2 : 1, def_minc = kind == K_OCR ? 1 : 4;
    ci->char_min = o->aug_char_min == 0 ? def_cmin : o->aug_char_min < 0 ? 0 : o->aug_char_min;
    ci->char_max = o->aug_char_max == 0 ? 10 : o->aug_char_max < 0 ? -1 : o->aug_char_max;
    ci->min_char = o->min_char == 0 ? def_minc : o->min_char < 0 ? 0 : o->min_char;
    ci->swap_mode = o->swap_mode;
    ci->no_upper = o->no_upper_case;
    ci->no_numeric = o->no_numeric;
    ci->no_special = o->no_special_char;
    if (nb__word_sel_init(&ci->ws, o->aug_word_p, o->aug_word_min, o->aug_word_max, 0.3f, 1, 10, o->stopwords,
                          o->n_stopwords, o->stopwords_regex, vt->name)) {
        free(ci);
        return NULL;
    }
    int oom = 0;
    if (kind == K_RANDOM) {
        if (o->n_candidates > 0) {
            for (int i = 0; i < o->n_candidates && !oom; i++) {
                const char *c = o->candidates ? o->candidates[i] : NULL;
                if (!c || !*c || nb_utf8_check(c, strlen(c)) >= 0) {
                    char_free(&(nb_text_aug){.impl = ci});
                    nb__fail(NB_ERR_ARG, "random_char: candidate %d is %s", i,
                             !c ? "NULL" : !*c ? "empty" : "not valid UTF-8");
                    return NULL;
                }
                oom |= model_add(ci, c, strlen(c));
            }
        } else {
            char set[128];
            size_t n = 0;
            if (!o->no_upper_case)
                for (char c = 'A'; c <= 'Z'; c++) set[n++] = c;
            if (!o->no_lower_case)
                for (char c = 'a'; c <= 'z'; c++) set[n++] = c;
            if (!o->no_numeric)
                for (char c = '0'; c <= '9'; c++) set[n++] = c;
            for (size_t i = 0; i < n && !oom; i++) oom |= model_add(ci, &set[i], 1);
            const char *spec = o->no_special_char ? "" : o->spec_char ? o->spec_char : "!@#$%^&*()_+";
            if (nb_utf8_check(spec, strlen(spec)) >= 0) {
                char_free(&(nb_text_aug){.impl = ci});
                nb__fail(NB_ERR_ARG, "random_char: spec_char is not valid UTF-8");
                return NULL;
            }
            for (size_t i = 0; spec[i] && !oom;) {
                size_t l = nb__char_len(spec + i, strlen(spec + i));
                oom |= model_add(ci, spec + i, l);
                i += l;
            }
        }
        if (!oom && ci->n_model == 0 && (action == NB_TEXT_INSERT || action == NB_TEXT_SUBSTITUTE)) {
            char_free(&(nb_text_aug){.impl = ci});
            nb__fail(NB_ERR_ARG, "random_char: no candidate characters (upper case, lower case, digits and special "
                                 "characters are all excluded)");
            return NULL;
        }
    }
    if (kind == K_KEYBOARD) pthread_once(&kb_once, kb_build);
    nb_text_aug *a = oom ? NULL : nb__text_aug_new(vt, ci);
    if (!a) {
        char_free(&(nb_text_aug){.impl = ci});
        if (oom) nb__fail(NB_ERR_MEM, "out of memory");
    }
    return a;
}

nb_text_aug *nb_text_random_char_new(nb_text_action action, const nb_text_char_opts *o)
{
    return char_new(K_RANDOM, action, o);
}

nb_text_aug *nb_text_keyboard_new(const nb_text_char_opts *o) { return char_new(K_KEYBOARD, NB_TEXT_SUBSTITUTE, o); }

nb_text_aug *nb_text_ocr_new(const nb_text_char_opts *o) { return char_new(K_OCR, NB_TEXT_SUBSTITUTE, o); }
