/* fuzz_text_files.c - libFuzzer target for the readers of Hugging Face text-model files
 * and for the tokenizers' input.
 *
 * The first byte picks what the rest is: 0 a config.json (nb_text_config_read; a
 * config that reads is checked with nb_text_model_new on a model kept tiny), 1 a
 * vocab.txt (nb_wordpiece_load, then the file's own text encoded with it), 2 a
 * vocab.json and a merges.txt separated by the first NUL byte (nb_bpe_load, then
 * encoded likewise), 3 text for the WordPiece and BPE tokenizers of
 * tests/goldens/tokenizers (encode, encode_pair with truncation, decode). Files are
 * in-memory (memfd) opened through /proc/self/fd. Nothing may crash, leak or read out
 * of bounds. Build and run: sh tests/fuzz/run.sh [SECONDS] fuzz_text_files. */
#include "nabla.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static nb_tokenizer *g_wp, *g_bpe;

static int memfile(const uint8_t *data, size_t size, char *path, size_t n)
{
    int fd = memfd_create("fuzz", 0);
    if (fd < 0) return -1;
    for (size_t off = 0; off < size;) {
        ssize_t k = write(fd, data + off, size - off);
        if (k <= 0) break;
        off += (size_t)k;
    }
    snprintf(path, n, "/proc/self/fd/%d", fd);
    return fd;
}

static void exercise(nb_tokenizer *t, const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text || !t) {
        free(text);
        return;
    }
    memcpy(text, data, size);
    text[size] = 0;
    int64_t *ids;
    int64_t n = nb_tokenizer_encode(t, text, &ids);
    if (n >= 0) {
        for (int64_t i = 0; i < n; i++)
            if (ids[i] < 0 || ids[i] >= nb_tokenizer_vocab_size(t)) __builtin_trap();
        free(nb_tokenizer_decode(t, ids, n));
        free(ids);
    }
    char *tab = strchr(text, '\t');
    if (tab) *tab++ = 0;
    nb_encoding e;
    if (!nb_tokenizer_encode_pair(t, text, tab, &(nb_encode_opts){.max_length = 7, .pad_to = 9}, &e)) {
        if (e.n < 7 || e.n > 9) __builtin_trap();
        nb_encoding_free(&e);
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_wp) {
        g_wp = nb_wordpiece_load("tests/goldens/tokenizers/bert_vocab.txt", NULL);
        g_bpe = nb_bpe_load("tests/goldens/tokenizers/gpt2_vocab.json", "tests/goldens/tokenizers/gpt2_merges.txt");
        if (!g_wp || !g_bpe) {
            fprintf(stderr, "fuzz_text_files: run from the repository root (%s)\n", nb_last_error());
            abort();
        }
    }
    if (size < 1) return 0;
    int kind = data[0] % 4;
    data++, size--;
    char p1[64], p2[64];
    if (kind == 0) {
        int fd = memfile(data, size, p1, sizeof p1);
        nb_text_config c;
        if (fd >= 0 && !nb_text_config_read(p1, &c) && c.vocab_size * c.hidden_size < 4096 && c.num_layers <= 2 &&
            c.intermediate_size * c.hidden_size < 4096 && c.max_positions * c.hidden_size < 4096 && c.num_labels < 64 &&
            c.type_vocab_size < 64) {
            nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.threads = 1});
            nb_module_free(nb_text_model_new(ctx, &c));
            nb_ctx_free(ctx);
        }
        if (fd >= 0) close(fd);
    } else if (kind == 1) {
        int fd = memfile(data, size, p1, sizeof p1);
        nb_tokenizer *t = fd >= 0 ? nb_wordpiece_load(p1, NULL) : NULL;
        exercise(t, data, size);
        nb_tokenizer_free(t);
        if (fd >= 0) close(fd);
    } else if (kind == 2) {
        const uint8_t *nul = memchr(data, 0, size);
        size_t a = nul ? (size_t)(nul - data) : size;
        int fa = memfile(data, a, p1, sizeof p1);
        int fb = memfile(nul ? nul + 1 : data + size, nul ? size - a - 1 : 0, p2, sizeof p2);
        nb_tokenizer *t = fa >= 0 && fb >= 0 ? nb_bpe_load(p1, p2) : NULL;
        exercise(t, data, a);
        nb_tokenizer_free(t);
        if (fa >= 0) close(fa);
        if (fb >= 0) close(fb);
    } else {
        exercise(g_wp, data, size);
        exercise(g_bpe, data, size);
    }
    nb_clear_error();
    return 0;
}
