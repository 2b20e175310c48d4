/* word_vectors.c - pretrained word vectors: GloVe text files and word2vec binary
 * files, into a table of words (with a hash index) and one (count, dim) matrix
 * that nb_embedding_from_pretrained takes.
 *
 * GloVe text: one "word v1 v2 ... vd" a line, separated by spaces (tabs too);
 * d comes from the first line. A first line of exactly two integers "N D" is
 * the word2vec text header and is skipped (its D must then match). A line with
 * another number of values, or a value that is not a number, is an error naming
 * the file and the line (as torchtext refuses vectors of different lengths).
 * Blank lines are skipped; "\r\n" endings are accepted.
 *
 * word2vec binary (Mikolov's word2vec -binary 1, gensim's save_word2vec_format
 * binary=True): an ASCII header line "N D", then N records: the word up to a
 * space, D little-endian float32, and an optional '\n'. Truncated files, a
 * count or dimension that is absurd or larger than the file, and words longer
 * than 1000 bytes are errors naming the file and the record.
 *
 * max_words > 0 keeps only the first max_words vectors (files are usually sorted
 * by frequency). Duplicate words keep the first vector for lookups. */
#include "core/error.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_WORD 1000
#define MAX_DIM 100000

struct nb_word_vectors {
    char **words;
    float *vec;     /* count x dim */
    int64_t count, cap, dim;
    int64_t *slots; /* open addressing: index + 1, 0 empty */
    int64_t nslots;
};

void nb_word_vectors_free(nb_word_vectors *wv)
{
    if (!wv) return;
    for (int64_t i = 0; i < wv->count; i++) free(wv->words[i]);
    free(wv->words);
    free(wv->vec);
    free(wv->slots);
    free(wv);
}

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* Append a word and its vector (dim floats). */
static nb_status push(nb_word_vectors *wv, const char *word, size_t len, const float *v, const char *path)
{
    if (wv->count == wv->cap) {
        int64_t cap = wv->cap ? 2 * wv->cap : 1024;
        char **w = realloc(wv->words, sizeof *w * (size_t)cap);
        if (w) wv->words = w;
        float *vec = w ? realloc(wv->vec, sizeof *vec * (size_t)cap * (size_t)wv->dim) : NULL;
        if (!w || !vec) return nb__fail(NB_ERR_MEM, "%s: out of memory after %lld vectors", path, (long long)wv->count);
        wv->vec = vec;
        wv->cap = cap;
    }
    char *s = malloc(len + 1);
    if (!s) return nb__fail(NB_ERR_MEM, "%s: out of memory", path);
    memcpy(s, word, len);
    s[len] = 0;
    wv->words[wv->count] = s;
    memcpy(wv->vec + wv->count * wv->dim, v, sizeof(float) * (size_t)wv->dim);
    wv->count++;
    return NB_OK;
}

static nb_status build_index(nb_word_vectors *wv)
{
    int64_t n = 16;
    while (n < 2 * wv->count) n *= 2;
    wv->slots = calloc((size_t)n, sizeof *wv->slots);
    if (!wv->slots) return nb__fail(NB_ERR_MEM, "out of memory indexing %lld words", (long long)wv->count);
    wv->nslots = n;
    for (int64_t i = 0; i < wv->count; i++) {
        uint64_t h = hash(wv->words[i]) & (uint64_t)(n - 1);
        int dup = 0;
        while (wv->slots[h]) {
            if (!strcmp(wv->words[wv->slots[h] - 1], wv->words[i])) {
                dup = 1; /* the first one wins */
                break;
            }
            h = (h + 1) & (uint64_t)(n - 1);
        }
        if (!dup) wv->slots[h] = i + 1;
    }
    return NB_OK;
}

int64_t nb_word_vectors_find(const nb_word_vectors *wv, const char *word)
{
    if (!wv || !word || !wv->nslots) return -1;
    uint64_t h = hash(word) & (uint64_t)(wv->nslots - 1);
    while (wv->slots[h]) {
        if (!strcmp(wv->words[wv->slots[h] - 1], word)) return wv->slots[h] - 1;
        h = (h + 1) & (uint64_t)(wv->nslots - 1);
    }
    return -1;
}

int64_t nb_word_vectors_count(const nb_word_vectors *wv) { return wv ? wv->count : 0; }
int64_t nb_word_vectors_dim(const nb_word_vectors *wv) { return wv ? wv->dim : 0; }
const char *nb_word_vectors_word(const nb_word_vectors *wv, int64_t i)
{
    return wv && i >= 0 && i < wv->count ? wv->words[i] : NULL;
}
const float *nb_word_vectors_vector(const nb_word_vectors *wv, int64_t i)
{
    return wv && i >= 0 && i < wv->count ? wv->vec + i * wv->dim : NULL;
}

nb_tensor *nb_word_vectors_tensor(const nb_word_vectors *wv, nb_ctx *ctx)
{
    if (!wv || !ctx) {
        nb__fail(NB_ERR_ARG, "nb_word_vectors_tensor: NULL argument");
        return NULL;
    }
    return nb_tensor_from(ctx, NB_F32, 2, (int64_t[]){wv->count, wv->dim}, wv->vec);
}

/* ------------------------------------------------------------------------ */
/* GloVe / word2vec text                                                     */
/* ------------------------------------------------------------------------ */

static int is_sep(char c) { return c == ' ' || c == '\t'; }

/* Split line (NUL-terminated, no newline) into tokens in place; returns count. */
static int64_t split(char *line, char ***tok, int64_t *cap)
{
    int64_t n = 0;
    for (char *p = line; *p;) {
        while (is_sep(*p)) *p++ = 0;
        if (!*p) break;
        if (n == *cap) {
            int64_t c = *cap ? 2 * *cap : 512;
            char **t = realloc(*tok, sizeof *t * (size_t)c);
            if (!t) return -1;
            *tok = t;
            *cap = c;
        }
        (*tok)[n++] = p;
        while (*p && !is_sep(*p)) p++;
    }
    return n;
}

static int is_uint(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

nb_word_vectors *nb_glove_load(const char *path, int64_t max_words)
{
    if (!path) {
        nb__fail(NB_ERR_ARG, "nb_glove_load: path is NULL");
        return NULL;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        nb__fail(NB_ERR_IO, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    nb_word_vectors *wv = calloc(1, sizeof *wv);
    char *line = NULL, **tok = NULL;
    size_t lcap = 0;
    int64_t tcap = 0, lineno = 0, header_dim = 0;
    float *v = NULL;
    if (!wv) {
        nb__fail(NB_ERR_MEM, "out of memory reading %s", path);
        goto fail;
    }
    for (;;) {
        errno = 0;
        ssize_t len = getline(&line, &lcap, f);
        if (len < 0) {
            if (ferror(f) || errno == ENOMEM) {
                nb__fail(NB_ERR_IO, "cannot read %s after line %lld: %s", path, (long long)lineno,
                         strerror(errno ? errno : EIO));
                goto fail;
            }
            break;
        }
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if ((size_t)len != strlen(line)) {
            nb__fail(NB_ERR_FORMAT, "%s:%lld: the line holds a NUL byte (not a text vectors file)", path,
                     (long long)lineno);
            goto fail;
        }
        int64_t n = split(line, &tok, &tcap);
        if (n < 0) {
            nb__fail(NB_ERR_MEM, "out of memory reading %s", path);
            goto fail;
        }
        if (n == 0) continue;
        if (lineno == 1 && n == 2 && is_uint(tok[0]) && is_uint(tok[1])) { /* word2vec text header "N D" */
            header_dim = strtoll(tok[1], NULL, 10);
            if (header_dim <= 0 || header_dim > MAX_DIM) {
                nb__fail(NB_ERR_FORMAT, "%s:1: header dimension %s is out of range (1..%d)", path, tok[1], MAX_DIM);
                goto fail;
            }
            continue;
        }
        if (!wv->dim) {
            wv->dim = n - 1;
            if (wv->dim < 1) {
                nb__fail(NB_ERR_FORMAT, "%s:%lld: a line is \"word v1 v2 ... vd\"; this one has no values", path,
                         (long long)lineno);
                goto fail;
            }
            if (header_dim && header_dim != wv->dim) {
                nb__fail(NB_ERR_FORMAT, "%s:%lld: the header says %lld dimensions but the first vector has %lld",
                         path, (long long)lineno, (long long)header_dim, (long long)wv->dim);
                goto fail;
            }
            if (wv->dim > MAX_DIM) {
                nb__fail(NB_ERR_FORMAT, "%s:%lld: %lld values on a line; more than %d is not a word vector", path,
                         (long long)lineno, (long long)wv->dim, MAX_DIM);
                goto fail;
            }
            if (!(v = malloc(sizeof *v * (size_t)wv->dim))) {
                nb__fail(NB_ERR_MEM, "out of memory reading %s", path);
                goto fail;
            }
        }
        if (n - 1 != wv->dim) {
            nb__fail(NB_ERR_FORMAT,
                     "%s:%lld: the vector of '%.100s' has %lld values, but the vectors before it have %lld (a ragged "
                     "line: every line must be \"word\" and %lld numbers)",
                     path, (long long)lineno, tok[0], (long long)(n - 1), (long long)wv->dim, (long long)wv->dim);
            goto fail;
        }
        for (int64_t k = 0; k < wv->dim; k++) {
            char *end;
            errno = 0;
            float x = strtof(tok[k + 1], &end);
            if (end == tok[k + 1] || *end || !isfinite(x)) {
                nb__fail(NB_ERR_FORMAT, "%s:%lld: value %lld of '%.100s' is '%.40s', not a finite number", path,
                         (long long)lineno, (long long)k + 1, tok[0], tok[k + 1]);
                goto fail;
            }
            v[k] = x;
        }
        if (strlen(tok[0]) > MAX_WORD) {
            nb__fail(NB_ERR_FORMAT, "%s:%lld: a word of %zu bytes (more than %d)", path, (long long)lineno,
                     strlen(tok[0]), MAX_WORD);
            goto fail;
        }
        if (push(wv, tok[0], strlen(tok[0]), v, path)) goto fail;
        if (max_words > 0 && wv->count >= max_words) break;
    }
    if (!wv->count) {
        nb__fail(NB_ERR_FORMAT, "%s holds no word vectors", path);
        goto fail;
    }
    if (build_index(wv)) goto fail;
    free(line);
    free(tok);
    free(v);
    fclose(f);
    return wv;
fail:
    free(line);
    free(tok);
    free(v);
    fclose(f);
    nb_word_vectors_free(wv);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* word2vec binary                                                           */
/* ------------------------------------------------------------------------ */

nb_word_vectors *nb_word2vec_load(const char *path, int64_t max_words)
{
    if (!path) {
        nb__fail(NB_ERR_ARG, "nb_word2vec_load: path is NULL");
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        nb__fail(NB_ERR_IO, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat sb;
    nb_word_vectors *wv = calloc(1, sizeof *wv);
    unsigned char *raw = NULL;
    float *v = NULL;
    char word[MAX_WORD + 1];
    if (!wv) {
        nb__fail(NB_ERR_MEM, "out of memory reading %s", path);
        goto fail;
    }
    if (fstat(fileno(f), &sb)) {
        nb__fail(NB_ERR_IO, "cannot read %s: %s", path, strerror(errno));
        goto fail;
    }
    char head[64];
    int hl = 0, c;
    while ((c = fgetc(f)) != EOF && c != '\n' && hl < (int)sizeof head - 1) head[hl++] = (char)c;
    head[hl] = 0;
    long long count = -1, dim = -1;
    char extra;
    if (c != '\n' || sscanf(head, "%lld %lld %c", &count, &dim, &extra) != 2 || count < 0 || dim < 1) {
        nb__fail(NB_ERR_FORMAT, "%s: a word2vec binary file starts with a line \"COUNT DIM\"; this one starts with "
                 "\"%.40s\"", path, head);
        goto fail;
    }
    if (dim > MAX_DIM) {
        nb__fail(NB_ERR_FORMAT, "%s: dimension %lld in the header is out of range (1..%d)", path, dim, MAX_DIM);
        goto fail;
    }
    /* each record needs at least 2 bytes of word and separator plus the vector */
    if ((double)count * (double)(dim * 4 + 2) > (double)sb.st_size) {
        nb__fail(NB_ERR_FORMAT, "%s: the header promises %lld vectors of %lld floats, more than the file's %lld bytes "
                 "can hold", path, count, dim, (long long)sb.st_size);
        goto fail;
    }
    wv->dim = dim;
    raw = malloc((size_t)dim * 4);
    v = malloc(sizeof *v * (size_t)dim);
    if (!raw || !v) {
        nb__fail(NB_ERR_MEM, "out of memory reading %s", path);
        goto fail;
    }
    long long want = max_words > 0 && max_words < count ? max_words : count;
    for (long long r = 0; r < want; r++) {
        int len = 0;
        while ((c = fgetc(f)) == '\n' || c == '\r') /* gensim skips the newline after a vector */
            ;
        while (c != EOF && c != ' ') {
            if (len == MAX_WORD) {
                nb__fail(NB_ERR_FORMAT, "%s: word %lld of %lld is longer than %d bytes (not a word2vec binary file?)",
                         path, r + 1, count, MAX_WORD);
                goto fail;
            }
            word[len++] = (char)c;
            c = fgetc(f);
        }
        if (c == EOF) {
            nb__fail(NB_ERR_FORMAT, "%s: the file ends at word %lld of %lld (truncated)", path, r + 1, count);
            goto fail;
        }
        if (!len || memchr(word, 0, (size_t)len)) {
            nb__fail(NB_ERR_FORMAT, "%s: word %lld of %lld is empty or holds a NUL byte", path, r + 1, count);
            goto fail;
        }
        if (fread(raw, 4, (size_t)dim, f) != (size_t)dim) {
            nb__fail(NB_ERR_FORMAT, "%s: the file ends inside the vector of word %lld of %lld ('%.*s'; truncated)", path,
                     r + 1, count, len > 100 ? 100 : len, word);
            goto fail;
        }
        for (long long k = 0; k < dim; k++) {
            uint32_t u = (uint32_t)raw[4 * k] | (uint32_t)raw[4 * k + 1] << 8 | (uint32_t)raw[4 * k + 2] << 16 |
                         (uint32_t)raw[4 * k + 3] << 24;
            memcpy(&v[k], &u, 4);
        }
        if (push(wv, word, (size_t)len, v, path)) goto fail;
    }
    if (!wv->count) {
        nb__fail(NB_ERR_FORMAT, "%s holds no word vectors", path);
        goto fail;
    }
    if (build_index(wv)) goto fail;
    free(raw);
    free(v);
    fclose(f);
    return wv;
fail:
    free(raw);
    free(v);
    fclose(f);
    nb_word_vectors_free(wv);
    return NULL;
}
