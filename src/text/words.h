/* words.h - what every word-level text augmenter shares (text/words.c): the edit count
 * ceil(aug_p·len) clamped to [aug_min, aug_max], stopwords (list and regex), sampling
 * without replacement, nlpaug's capitalization rules and the line's word view; used by
 * word_aug.c, char_aug.c and synonym.c. */
#ifndef NB_TEXT_WORDS_H
#define NB_TEXT_WORDS_H

#include "text/text.h"

typedef struct {
    double aug_p;         /* the float option rounded to 7 digits, so 0.3f counts as 0.3 */
    int aug_min, aug_max; /* aug_max < 0: none */
    char **stopwords;     /* sorted copies */
    int n_stopwords;
    regex_t regex;
    int has_regex;
} nb__word_sel;
/* Resolve the public defaults (0 -> aug_p, aug_min, aug_max given; negative -> 0 /
 * 0 / none) and copy the stopwords and compile the regex; *what names the augmenter
 * in messages. */
nb_status nb__word_sel_init(nb__word_sel *ws, float aug_p, int aug_min, int aug_max, float def_p, int def_min,
                            int def_max, const char *const *stopwords, int n_stopwords, const char *regex,
                            const char *what);
void nb__word_sel_free(nb__word_sel *ws);
/* nlpaug's count: ceil(p·len), raised to min, else lowered to max (max < 0: none). */
int nb__aug_count(double p, int len, int mn, int mx);
/* A float option as the decimal the user wrote (0.3f -> 0.3), so counts match Python. */
double nb__opt_p(float p);
/* Is this word a stopword (exact match) or matched by the regex (nlpaug tries
 * "w", " w ", " w", "w " and wants a match at the start)? */
int nb__is_stopword(const nb__word_sel *ws, const char *s, int len);
/* Uniformly choose k of the n values in idx (partial Fisher-Yates, in draw order,
 * like random.sample); idx is permuted, the chosen ones end up in idx[0..k). */
void nb__sample(int *idx, int n, int k, nb_rng *r);
/* Make `word` (s, len) follow the case of `like`: all upper, capitalized or as is
 * (nlpaug's align_capitalization); result in the pool. */
const char *nb__align_case(nb_arena *p, const char *like, int like_len, const char *s, int len, int *out_len);
/* Upper/lower-case the first character or the whole token into the pool. */
const char *nb__case_first(nb_arena *p, const char *s, int len, int upper, int *out_len);
const char *nb__case_all(nb_arena *p, const char *s, int len, int upper, int *out_len);
/* 'lower', 'upper', 'capitalize', 'mixed', 'empty' as nlpaug's get_word_case. */
typedef enum { NB__CASE_EMPTY, NB__CASE_LOWER, NB__CASE_UPPER, NB__CASE_CAPITALIZE, NB__CASE_MIXED, NB__CASE_OTHER } nb__case;
nb__case nb__word_case(const char *s, int len);

/* The line's tokens seen by word augmenters (arrays in a->idx): the non-space
 * tokens nt[0..nnt) (len of the count formula), the candidate words cand[0..ncand)
 * (words that are not stopwords), and first, the index of the first non-space token
 * (-1 if none). spare has room for ntoks more ints. */
typedef struct {
    int *nt, *cand, *spare;
    int nnt, ncand, first;
} nb__line_view;
nb_status nb__line_view_build(nb_text_aug *a, const nb__word_sel *ws, nb__line_view *v);
/* Remove token t and one whitespace run next to it (the one before, else after). */
void nb__delete_token(nb__toks *tk, int t);
/* The previous non-space token of t if it is a word (for part-of-speech context). */
const nb__tok *nb__prev_word(const nb__toks *tk, int t);

#endif
