/* text.h - what the files of src/text share (not installed, not for other modules).
 *
 * A line is UTF-8 split into tokens that point into it (tokenize.c): words, single
 * punctuation/symbol characters and whitespace runs, so joining the tokens gives the
 * line back byte for byte. Augmenters (word_aug.c, char_aug.c, synonym.c,
 * backtranslate.c, pipeline.c) fill a vtable whose run() edits a batch of malloc'd
 * lines in place, line i drawing only from rngs[i]; pipeline.c owns the public
 * nb_text_* entry points and the spec names. */
#ifndef NB_TEXT_H
#define NB_TEXT_H

#include "core/arena.h"
#include "core/spec.h"

#include <regex.h>

/* ---- UTF-8 (utf8.c) ---- */
/* Decode the code point at s (n bytes left, n > 0): returns its byte length, or 0
 * for an invalid sequence (overlong, surrogate, > U+10FFFF, truncated). */
int nb__utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);
/* Append the encoding of cp to out (4 bytes room); returns the length. */
int nb__utf8_encode(uint32_t cp, char *out);
/* Character classes; everything not listed as space, punctuation/symbol or an
 * extender counts as a letter (CJK, Hangul, accented Latin, ...). */
int nb__cp_is_space(uint32_t cp);
int nb__cp_is_punct(uint32_t cp);  /* punctuation and symbols, emoji included */
/* Combining marks, variation selectors, ZWJ, emoji modifiers, tags, Hangul
 * medial/final jamo: they belong to the character before them. */
int nb__cp_is_extender(uint32_t cp);
int nb__cp_is_upper(uint32_t cp);
int nb__cp_is_lower(uint32_t cp);
uint32_t nb__cp_to_upper(uint32_t cp);
uint32_t nb__cp_to_lower(uint32_t cp);
/* Byte length of the character (a code point and its extenders, a regional-indicator
 * pair, or a ZWJ emoji sequence) starting at s; s is valid UTF-8, n > 0. */
size_t nb__char_len(const char *s, size_t n);

/* ---- tokens (tokenize.c) ---- */
/* NB__TK_DEL marks a token an augmenter removed (skipped when joining). */
typedef enum { NB__TK_WORD = 0, NB__TK_PUNCT = 1, NB__TK_SPACE = 2, NB__TK_DEL = 3 } nb__tk_kind;
typedef struct {
    const char *s;
    int32_t len;  /* bytes */
    uint8_t kind; /* nb__tk_kind */
} nb__tok;
typedef struct {
    nb__tok *t;
    int n, cap;
} nb__toks;
/* Tokenize s[0..n) (valid UTF-8) into tk (cleared first). A word is a run of
 * letters, digits, marks and '_', with an apostrophe or hyphen between two such
 * characters kept inside ("don't", "well-known"), and '.'/',' between digits
 * ("3.14"); every other non-space character is one punctuation token; whitespace
 * runs are one token. */
nb_status nb__tokenize(const char *s, size_t n, nb__toks *tk);
nb_status nb__toks_push(nb__toks *tk, const char *s, int32_t len, int kind);
/* Join the tokens (except deleted ones) into a new malloc'd string. */
char *nb__toks_join(const nb__toks *tk);
void nb__toks_free(nb__toks *tk);

/* ---- augmenter vtable ---- */
typedef struct nb__text_vt {
    const char *name;
    /* Edit lines[0..n) in place (each malloc'd; replace with a new malloc'd string,
     * freeing the old); line i draws from rngs[i] only. */
    nb_status (*run)(nb_text_aug *a, char **lines, int64_t n, nb_rng *rngs);
    void (*free)(nb_text_aug *a); /* frees impl */
} nb__text_vt;

struct nb_text_aug {
    const nb__text_vt *vt;
    void *impl;
    int64_t calls; /* external processes started (Apertium) */
    /* per-augmenter scratch: one thread uses an augmenter at a time */
    nb__toks toks, out;
    nb_arena pool;
    int *idx;
    int idx_cap;
};
nb_text_aug *nb__text_aug_new(const nb__text_vt *vt, void *impl);
/* Scratch index array of at least n ints (NULL on OOM). */
int *nb__text_idx(nb_text_aug *a, int n);
/* Replace *line by the join of tk (freeing the old line). */
nb_status nb__text_emit(const nb__toks *tk, char **line);
/* Tokenize *line into a->toks (a->pool reset). */
nb_status nb__text_load(nb_text_aug *a, const char *line);

/* ---- WordNet (synonym.c) ---- */
/* The synonyms of word (s, len; any case) for its likely part of speech given the
 * previous word (prev may be NULL): *out gets an array of *n pointers to
 * NUL-terminated lower-case synonyms, valid until the augmenter is freed. *n = 0 when
 * the word is not a content word in WordNet. Fails when WordNet is missing. */
typedef struct nb__wordnet_cache nb__wordnet_cache;
nb_status nb__wordnet_synonyms(nb__wordnet_cache **cache, const char *s, int len, const char *prev, int prev_len,
                               const char *const **out, int *n);
void nb__wordnet_cache_free(nb__wordnet_cache *c);
/* Empty a cache past 2^20 words; call between lines only (it frees what
 * nb__wordnet_synonyms returned). */
void nb__wordnet_cache_trim(nb__wordnet_cache *c);
/* Check that WordNet can be opened (library built in and data present). */
nb_status nb__wordnet_ready(void);

/* ---- constructors for the spec names (pipeline.c dispatches) ---- */
nb_text_aug *nb__text_from_item(const nb__spec_item *it);

#endif
