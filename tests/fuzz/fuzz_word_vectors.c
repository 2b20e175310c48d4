/* fuzz_word_vectors.c - libFuzzer target for the GloVe / word2vec text reader
 * and the word2vec binary reader. Byte 0 picks the reader (bit 0: binary) and a
 * word limit (bit 1: at most 3 words); the rest is the file. Vectors that load are
 * read in full and looked up by word. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int mode = data[0];
    char path[64];
    int fd = fuzz_file(data + 1, size - 1, path);
    if (fd < 0) return 0;
    int64_t max = mode & 2 ? 3 : 0;
    nb_word_vectors *wv = mode & 1 ? nb_word2vec_load(path, max) : nb_glove_load(path, max);
    if (wv) {
        int64_t n = nb_word_vectors_count(wv), dim = nb_word_vectors_dim(wv);
        volatile float s = 0;
        for (int64_t i = 0; i < n; i++) {
            const char *w = nb_word_vectors_word(wv, i);
            const float *v = nb_word_vectors_vector(wv, i);
            if (!w || !v || nb_word_vectors_find(wv, w) < 0) __builtin_trap();
            for (int64_t k = 0; k < dim; k++) s += v[k];
        }
        nb_tensor *t = nb_word_vectors_tensor(wv, fuzz_ctx());
        fuzz_touch(t);
        nb_tensor_free(t);
        (void)s;
    }
    nb_word_vectors_free(wv);
    close(fd);
    nb_clear_error();
    return 0;
}
