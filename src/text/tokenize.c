/* tokenize.c - split a line into words, punctuation/symbol characters and whitespace
 * runs that point into the line, so that joining them gives it back byte for byte. */
#include "text/text.h"
#include "core/error.h"

#include <stdlib.h>
#include <string.h>

nb_status nb__toks_push(nb__toks *tk, const char *s, int32_t len, int kind)
{
    if (tk->n == tk->cap) {
        int nc = tk->cap ? tk->cap * 2 : 64;
        nb__tok *nt = realloc(tk->t, sizeof *nt * (size_t)nc);
        if (!nt) return nb__fail(NB_ERR_MEM, "out of memory tokenizing text");
        tk->t = nt;
        tk->cap = nc;
    }
    tk->t[tk->n++] = (nb__tok){s, len, (uint8_t)kind};
    return NB_OK;
}

void nb__toks_free(nb__toks *tk)
{
    free(tk->t);
    tk->t = NULL;
    tk->n = tk->cap = 0;
}

typedef enum { C_SPACE, C_PUNCT, C_WORD } cclass;

/* Class of the code point at s[i] and its length (invalid bytes: punctuation of length 1). */
static inline cclass class_at(const unsigned char *u, size_t i, size_t n, uint32_t *cpo, int *len)
{
    unsigned c = u[i];
    if (c < 0x80) {
        *cpo = c;
        *len = 1;
        if (c == ' ' || (c >= 0x09 && c <= 0x0D)) return C_SPACE;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_') return C_WORD;
        return C_PUNCT;
    }
    uint32_t cp;
    int l = nb__utf8_decode(u + i, n - i, &cp);
    if (!l) {
        *cpo = 0xFFFD;
        *len = 1;
        return C_PUNCT;
    }
    *cpo = cp;
    *len = l;
    if (nb__cp_is_space(cp)) return C_SPACE;
    if (nb__cp_is_punct(cp)) return C_PUNCT;
    return C_WORD; /* letters, digits of any script, marks */
}

static int is_digit_cp(uint32_t cp) { return cp >= '0' && cp <= '9'; }

nb_status nb__tokenize(const char *s, size_t n, nb__toks *tk)
{
    tk->n = 0;
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        int l;
        cclass c = class_at(u, i, n, &cp, &l);
        size_t start = i;
        if (c == C_SPACE) {
            i += (size_t)l;
            while (i < n && class_at(u, i, n, &cp, &l) == C_SPACE) i += (size_t)l;
            if (nb__toks_push(tk, s + start, (int32_t)(i - start), NB__TK_SPACE)) return NB_ERR_MEM;
        } else if (c == C_PUNCT) {
            /* one character (with its extenders: an emoji ZWJ sequence, a flag) */
            size_t cl = nb__char_len(s + i, n - i);
            i += cl;
            if (nb__toks_push(tk, s + start, (int32_t)(i - start), NB__TK_PUNCT)) return NB_ERR_MEM;
        } else {
            uint32_t prev = cp;
            i += (size_t)l;
            while (i < n) {
                uint32_t c2;
                int l2;
                cclass k = class_at(u, i, n, &c2, &l2);
                if (k == C_WORD) {
                    prev = c2;
                    i += (size_t)l2;
                    continue;
                }
                /* an apostrophe or hyphen between word characters, '.' or ',' between digits */
                int joiner = c2 == '\'' || c2 == 0x2019 || c2 == '-' || c2 == 0x2010;
                int numsep = (c2 == '.' || c2 == ',') && is_digit_cp(prev);
                if (k == C_PUNCT && (joiner || numsep) && i + (size_t)l2 < n) {
                    uint32_t c3;
                    int l3;
                    cclass k3 = class_at(u, i + (size_t)l2, n, &c3, &l3);
                    if (k3 == C_WORD && (joiner || is_digit_cp(c3))) {
                        prev = c3;
                        i += (size_t)l2 + (size_t)l3;
                        continue;
                    }
                }
                break;
            }
            if (nb__toks_push(tk, s + start, (int32_t)(i - start), NB__TK_WORD)) return NB_ERR_MEM;
        }
    }
    return NB_OK;
}

char *nb__toks_join(const nb__toks *tk)
{
    size_t total = 0;
    for (int i = 0; i < tk->n; i++)
        if (tk->t[i].kind != NB__TK_DEL) total += (size_t)tk->t[i].len;
    char *r = malloc(total + 1);
    if (!r) {
        nb__fail(NB_ERR_MEM, "out of memory joining text");
        return NULL;
    }
    char *o = r;
    for (int i = 0; i < tk->n; i++) {
        if (tk->t[i].kind == NB__TK_DEL) continue;
        memcpy(o, tk->t[i].s, (size_t)tk->t[i].len);
        o += tk->t[i].len;
    }
    *o = 0;
    return r;
}
