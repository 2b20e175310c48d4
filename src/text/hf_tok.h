/* hf_tok.h - the BERT (WordPiece) and GPT-2 (byte-level BPE) tokenizers' shared state
 * (private): tokenizer.c loads vocabularies and holds the public API, wordpiece.c and
 * bpe.c the two algorithms. */
#ifndef NB_HF_TOK_H
#define NB_HF_TOK_H
#include "core/error.h"
#include "text/text.h"

/* A string -> id hash map over (pointer, length) keys that live elsewhere. */
typedef struct {
    const char **k;
    uint32_t *klen;
    int64_t *v;
    size_t cap, n;
} nb__strmap;
int64_t nb__strmap_get(const nb__strmap *m, const char *s, size_t n); /* -1 if absent */
/* 1 added, 0 already there (unchanged), negative on OOM */
int nb__strmap_put(nb__strmap *m, const char *s, size_t n, int64_t v);
void nb__strmap_free(nb__strmap *m);
int64_t *nb__strmap_ref(nb__strmap *m, const char *s, size_t n); /* the value's slot, or NULL */

enum { NB__TOK_WORDPIECE = 1, NB__TOK_BPE = 2 };

/* A growable id list. */
typedef struct {
    int64_t *v;
    int64_t n, cap;
} nb__ids;
nb_status nb__ids_push(nb__ids *a, int64_t id);

struct nb_tokenizer {
    int kind;
    nb__strmap vocab;   /* token -> id */
    char **tokens;      /* id -> token (NULL for ids without one) */
    int64_t n_tokens;   /* max id + 1 */
    nb_arena pool;
    /* WordPiece */
    int lower;
    int64_t unk, cls, sep, pad, mask;
    /* BPE: merge (a, b) -> rank and merged id, open addressing on a << 32 | b */
    uint64_t *mkey, *mval; /* mval = rank << 32 | merged id; mkey UINT64_MAX = empty */
    size_t mcap;
    int64_t n_merges;
    int64_t byte_id[256];  /* the token of each byte, -1 if the vocabulary lacks it */
    int64_t eos;           /* <|endoftext|> or -1 */
};

/* Append the ids of text[0..n) (valid UTF-8) without special tokens. */
nb_status nb__wordpiece_encode(const nb_tokenizer *t, const char *text, size_t n, nb__ids *out);
nb_status nb__bpe_encode(const nb_tokenizer *t, const char *text, size_t n, nb__ids *out);
/* Read merges.txt into t (vocab loaded); errors name the file and line. */
nb_status nb__bpe_load_merges(nb_tokenizer *t, const char *path);
/* bytes_to_unicode: the code point standing for byte b, and back (-1 if none). */
uint32_t nb__bpe_byte_cp(int b);
int nb__bpe_cp_byte(uint32_t cp);
/* GPT-2's pre-tokenization: the length in code points of the piece starting at cps[i]. */
size_t nb__bpe_piece(const uint32_t *cps, size_t n, size_t i);
#endif
