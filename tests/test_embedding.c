/* test_embedding.c - Embedding against PyTorch 1.13 goldens (forward and the
 * scatter-add backward, padding_idx, 0-d/1-d/3-d indices; tests/goldens/
 * embedding.safetensors from tools/goldens/gen_embedding.py), init N(0,1) with a
 * zero padding row, from_pretrained with freeze, errors; GloVe text and word2vec
 * binary loaders on files written here, with every malformed case named by file
 * and line (or record). */
#include "check.h"
#include "cli.h"
#include "nabla.h"


#define GOLDEN "tests/goldens/embedding.safetensors"

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f)) {
        perror(path);
        exit(2);
    }
}

static void golden_tests(nb_ctx *ctx)
{
    nb_safetensors *g = nb_safetensors_open(GOLDEN);
    CHECK("goldens open", g != NULL, "%s", nb_last_error());
    if (!g) return;
    int cases = atoi(nb_safetensors_metadata(g, "cases"));
    for (int k = 0; k < cases; k++) {
        char key[64], name[160];
        snprintf(key, sizeof key, "case%d", k);
        const char *pad_s = strchr(nb_safetensors_metadata(g, key), '=') + 1;
        nb_embedding_opts o = {0};
        if (strcmp(pad_s, "None")) o = (nb_embedding_opts){.padding_idx = atoll(pad_s), .has_padding_idx = 1};
#define GET(suffix) (snprintf(key, sizeof key, "%d." suffix, k), nb_safetensors_get(g, ctx, key))
        nb_tensor *w = GET("weight"), *idx = GET("idx"), *dy = GET("dy"), *y = GET("y"), *dw = GET("dweight");
        nb_module *m = nb_embedding_new(ctx, nb_tensor_dim(w, 0), nb_tensor_dim(w, 1), &o);
        int n;
        const nb_named_tensor *s = nb_module_state(m, &n);
        nb_tensor_copy_in(s[0].tensor, nb_tensor_data(w), nb_tensor_numel(w));
        nb_ctx_reset(ctx);
        nb_tensor *got = nb_module_forward(m, idx);
        int shape_ok = got && nb_tensor_ndim(got) == nb_tensor_ndim(y);
        for (int d = 0; shape_ok && d < nb_tensor_ndim(y); d++) shape_ok = nb_tensor_dim(got, d) == nb_tensor_dim(y, d);
        snprintf(name, sizeof name, "case %d (padding_idx=%s, %d-d indices): forward shape and values", k, pad_s,
                 nb_tensor_ndim(idx));
        CHECK(name, shape_ok && !memcmp(nb_tensor_data(got), nb_tensor_data(y), sizeof(float) * (size_t)nb_tensor_numel(y)),
              "%s", got ? "values differ" : nb_last_error());
        nb_module_zero_grad(m);
        nb_tensor *loss = shape_ok ? nb_sum(nb_mul(got, dy)) : NULL;
        nb_status st = nb_backward(loss);
        snprintf(name, sizeof name, "case %d (padding_idx=%s): weight gradient (scatter-add) within 1e-6", k, pad_s);
        float *gw = nb_tensor_grad(s[0].tensor);
        if (!st && gw) CHECK_CLOSE(name, gw, nb_tensor_data(dw), nb_tensor_numel(dw), 1e-6);
        else CHECK(name, 0, "backward: %s", nb_last_error());
        nb_module_free(m);
        nb_tensor_free(w), nb_tensor_free(idx), nb_tensor_free(dy), nb_tensor_free(y), nb_tensor_free(dw);
    }
    /* from_pretrained */
    nb_tensor *w = nb_safetensors_get(g, ctx, "pretrained.weight"), *y = nb_safetensors_get(g, ctx, "pretrained.y");
    nb_module *e = nb_embedding_from_pretrained(ctx, w, 1, &(nb_embedding_opts){.padding_idx = 1, .has_padding_idx = 1});
    nb_tensor *ix = nb_tensor_from(ctx, NB_I64, 1, (int64_t[]){3}, (int64_t[]){1, 5, 1});
    nb_tensor *got = nb_module_forward(e, ix);
    int np;
    nb_module_parameters(e, &np);
    CHECK("from_pretrained(freeze): rows as given (padding row not zeroed), no trainable parameter",
          got && !memcmp(nb_tensor_data(got), nb_tensor_data(y), 9 * sizeof(float)) && np == 0 &&
              !strcmp(nb_safetensors_metadata(g, "pretrained.requires_grad"), "0") && nb_embedding_padding_idx(e) == 1,
          "np %d", np);
    nb_module *e2 = nb_embedding_from_pretrained(ctx, w, 0, NULL);
    nb_module_parameters(e2, &np);
    CHECK("from_pretrained(freeze=False): one trainable parameter", np == 1 && !strcmp(nb_safetensors_metadata(g, "pretrained_unfrozen.requires_grad"), "1"),
          "np %d", np);
    int ns;
    const nb_named_tensor *st = nb_module_state(e2, &ns);
    CHECK("state_dict key is 'weight' (as nn.Embedding)", ns == 1 && !strcmp(st[0].name, "weight") && !strcmp(nb_module_kind(e2), "Embedding"),
          "n %d", ns);
    nb_module_free(e);
    nb_module_free(e2);
    nb_tensor_free(w), nb_tensor_free(y), nb_tensor_free(ix);
    nb_safetensors_close(g);
}

static void init_and_errors(nb_ctx *ctx)
{
    nb_module *m = nb_embedding_new(ctx, 1000, 64, &(nb_embedding_opts){.padding_idx = -2, .has_padding_idx = 1});
    int n;
    const nb_named_tensor *s = nb_module_state(m, &n);
    const float *w = nb_tensor_data(s[0].tensor);
    double sum = 0, sq = 0;
    int pad_zero = 1;
    for (int i = 0; i < 1000 * 64; i++) {
        if (i / 64 == 998) {
            pad_zero &= w[i] == 0;
            continue;
        }
        sum += w[i];
        sq += (double)w[i] * w[i];
    }
    double cnt = 999 * 64, mean = sum / cnt, var = sq / cnt - mean * mean;
    CHECK("init N(0,1): mean within 0.02, variance within 0.03 (63,936 draws)", fabs(mean) < 0.02 && fabs(var - 1) < 0.03,
          "mean %g var %g", mean, var);
    CHECK("padding_idx=-2 resolves to 998, whose row starts at zero", pad_zero && nb_embedding_padding_idx(m) == 998, "pad %lld",
          (long long)nb_embedding_padding_idx(m));

    nb_ctx_reset(ctx);
    nb_tensor *bad = nb_tensor_from(ctx, NB_I64, 1, (int64_t[]){3}, (int64_t[]){4, 1000, 2});
    nb_clear_error();
    CHECK("index 1000 of 1000 embeddings: error naming it", !nb_module_forward(m, bad) && strstr(nb_last_error(), "1000") &&
                                                                strstr(nb_last_error(), "out of range"),
          "%s", nb_last_error());
    nb_tensor *neg = nb_tensor_from(ctx, NB_I64, 1, (int64_t[]){1}, (int64_t[]){-1});
    CHECK("negative index: error", !nb_module_forward(m, neg) && strstr(nb_last_error(), "-1"), "%s", nb_last_error());
    nb_tensor *f = nb_tensor_new(ctx, NB_F32, 1, (int64_t[]){2});
    CHECK("F32 indices: error saying I64", !nb_module_forward(m, f) && strstr(nb_last_error(), "I64"), "%s", nb_last_error());
    CHECK("padding_idx outside: error", !nb_embedding_new(ctx, 5, 2, &(nb_embedding_opts){.padding_idx = 5, .has_padding_idx = 1}) &&
                                           strstr(nb_last_error(), "padding_idx"),
          "%s", nb_last_error());
    CHECK("zero sizes: error", !nb_embedding_new(ctx, 0, 3, NULL) && strstr(nb_last_error(), "Embedding(0, 3)"), "%s",
          nb_last_error());
    nb_tensor *w1 = nb_tensor_new(ctx, NB_F32, 1, (int64_t[]){4});
    CHECK("from_pretrained of a 1-d tensor: error", !nb_embedding_from_pretrained(ctx, w1, 1, NULL) && strstr(nb_last_error(), "2-dimensional"),
          "%s", nb_last_error());
    nb_tensor_free(bad), nb_tensor_free(neg), nb_tensor_free(f), nb_tensor_free(w1);
    nb_module_free(m);
}

static void glove_tests(nb_ctx *ctx)
{
    const char *txt = "the 0.418 0.24968 -0.41242\n"
                      ", 0.013441 0.23682 -0.16899\r\n"
                      "\n"
                      "café 1e-3 -2.5E+1 7\n"
                      "the 9 9 9\n";
    write_file(tmp_path("glove.txt"), txt, strlen(txt));
    nb_word_vectors *wv = nb_glove_load(tmp_path("glove.txt"), 0);
    CHECK("GloVe: 4 vectors of 3 values (blank line, CRLF, UTF-8 word, exponents)",
          wv && nb_word_vectors_count(wv) == 4 && nb_word_vectors_dim(wv) == 3, "%s", nb_last_error());
    if (wv) {
        int64_t c = nb_word_vectors_find(wv, "café");
        const float *v = nb_word_vectors_vector(wv, c);
        CHECK("GloVe: lookup and values (strtof)", c == 2 && v[0] == strtof("1e-3", NULL) && v[1] == -25.0f && v[2] == 7.0f &&
                                                      nb_word_vectors_find(wv, ",") == 1 && nb_word_vectors_find(wv, "nope") == -1,
              "c %lld", (long long)c);
        CHECK("GloVe: a duplicate word keeps its first vector for lookups", nb_word_vectors_find(wv, "the") == 0 &&
                                                                             nb_word_vectors_vector(wv, 0)[0] == 0.418f,
              "find %lld", (long long)nb_word_vectors_find(wv, "the"));
        nb_tensor *t = nb_word_vectors_tensor(wv, ctx);
        nb_module *e = nb_embedding_from_pretrained(ctx, t, 1, NULL);
        nb_tensor *ix = nb_tensor_from(ctx, NB_I64, 1, (int64_t[]){1}, (int64_t[]){2});
        nb_tensor *y = nb_module_forward(e, ix);
        CHECK("GloVe into from_pretrained: the row of 'café'", y && !memcmp(nb_tensor_data(y), v, 12), "%s", nb_last_error());
        nb_module_free(e);
        nb_tensor_free(t), nb_tensor_free(ix);
    }
    nb_word_vectors_free(wv);
    wv = nb_glove_load(tmp_path("glove.txt"), 2);
    CHECK("GloVe max_words 2", wv && nb_word_vectors_count(wv) == 2, "%s", nb_last_error());
    nb_word_vectors_free(wv);

    const char *w2vtxt = "2 3\nking 1 2 3\nqueen 4 5 6\n";
    write_file(tmp_path("w2v.txt"), w2vtxt, strlen(w2vtxt));
    wv = nb_glove_load(tmp_path("w2v.txt"), 0);
    CHECK("word2vec text header \"2 3\" is skipped", wv && nb_word_vectors_count(wv) == 2 && nb_word_vectors_find(wv, "queen") == 1,
          "%s", nb_last_error());
    nb_word_vectors_free(wv);

    struct {
        const char *name, *text, *words;
    } bad[] = {
        {"ragged line", "a 1 2 3\nb 1 2 3\nc 1 2\n", "glove_bad.txt:3|'c'|2 values|3"},
        {"ragged line (too many)", "a 1 2\nb 1 2 3\n", "glove_bad.txt:2|3 values"},
        {"not a number", "a 1 2\nb 1 x2\n", "glove_bad.txt:2|'x2'"},
        {"inf", "a 1 inf\n", "glove_bad.txt:1|not a finite number"},
        {"word without values", "lonely\n", "glove_bad.txt:1|no values"},
        {"header dim differs", "2 4\na 1 2 3\n", "glove_bad.txt:2|4 dimensions"},
        {"empty file", "", "no word vectors"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(tmp_path("glove_bad.txt"), bad[i].text, strlen(bad[i].text));
        nb_clear_error();
        wv = nb_glove_load(tmp_path("glove_bad.txt"), 0);
        char words[256], name[160];
        snprintf(words, sizeof words, "%s", bad[i].words);
        int ok = !wv;
        for (char *t = strtok(words, "|"); t && ok; t = strtok(NULL, "|")) ok = strstr(nb_last_error(), t) != NULL;
        snprintf(name, sizeof name, "GloVe %s: error naming file and line", bad[i].name);
        CHECK(name, ok, "message: %s (want %s)", nb_last_error(), bad[i].words);
        nb_word_vectors_free(wv);
    }
    CHECK("GloVe missing file", !nb_glove_load(tmp_path("none.txt"), 0) && strstr(nb_last_error(), "none.txt"), "%s",
          nb_last_error());
}

/* word2vec binary: header, then word ' ' floats '\n' per record. */
static size_t w2v_bytes(unsigned char *buf, int newline, int count_in_header)
{
    size_t k = (size_t)sprintf((char *)buf, "%d 2\n", count_in_header);
    const char *words[3] = {"alpha", "βeta", "</s>"};
    float vals[3][2] = {{1.5f, -2.0f}, {0.25f, 1e-8f}, {-0.0f, 3.0f}};
    for (int i = 0; i < 3; i++) {
        k += (size_t)sprintf((char *)buf + k, "%s ", words[i]);
        for (int j = 0; j < 2; j++) {
            uint32_t u;
            memcpy(&u, &vals[i][j], 4);
            for (int b = 0; b < 4; b++) buf[k++] = (unsigned char)(u >> (8 * b));
        }
        if (newline) buf[k++] = '\n';
    }
    return k;
}

static void word2vec_tests(void)
{
    unsigned char buf[256];
    for (int nl = 0; nl < 2; nl++) {
        size_t n = w2v_bytes(buf, nl, 3);
        write_file(tmp_path("v.bin"), buf, n);
        nb_word_vectors *wv = nb_word2vec_load(tmp_path("v.bin"), 0);
        char name[128];
        snprintf(name, sizeof name, "word2vec binary %s newlines: 3 words, values bit-exact", nl ? "with" : "without");
        int ok = wv && nb_word_vectors_count(wv) == 3 && nb_word_vectors_dim(wv) == 2;
        if (ok) {
            const float *b = nb_word_vectors_vector(wv, nb_word_vectors_find(wv, "βeta"));
            ok = b && b[0] == 0.25f && b[1] == 1e-8f && nb_word_vectors_find(wv, "</s>") == 2 &&
                 nb_word_vectors_vector(wv, 0)[1] == -2.0f;
        }
        CHECK(name, ok, "%s", nb_last_error());
        nb_word_vectors_free(wv);
    }
    size_t n = w2v_bytes(buf, 1, 3);
    write_file(tmp_path("v.bin"), buf, n);
    nb_word_vectors *wv = nb_word2vec_load(tmp_path("v.bin"), 2);
    CHECK("word2vec max_words 2", wv && nb_word_vectors_count(wv) == 2, "%s", nb_last_error());
    nb_word_vectors_free(wv);

    write_file(tmp_path("v.bin"), buf, n - 3);
    wv = nb_word2vec_load(tmp_path("v.bin"), 0);
    CHECK("word2vec truncated inside a vector: names the word", !wv && strstr(nb_last_error(), "word 3 of 3") && strstr(nb_last_error(), "truncated"),
          "%s", nb_last_error());
    n = w2v_bytes(buf, 1, 4);
    write_file(tmp_path("v.bin"), buf, n);
    wv = nb_word2vec_load(tmp_path("v.bin"), 0);
    CHECK("word2vec header count larger than the records: error", !wv && strstr(nb_last_error(), "v.bin"), "%s", nb_last_error());
    n = w2v_bytes(buf, 1, 1000000);
    write_file(tmp_path("v.bin"), buf, n);
    wv = nb_word2vec_load(tmp_path("v.bin"), 0);
    CHECK("word2vec header promising more than the file holds: error before reading", !wv && strstr(nb_last_error(), "more than the file"),
          "%s", nb_last_error());
    write_file(tmp_path("v.bin"), "hello world\n", 12);
    wv = nb_word2vec_load(tmp_path("v.bin"), 0);
    CHECK("word2vec bad header: error quoting it", !wv && strstr(nb_last_error(), "COUNT DIM") && strstr(nb_last_error(), "hello"),
          "%s", nb_last_error());
    unsigned char longw[1200 + 16];
    size_t k = (size_t)sprintf((char *)longw, "1 1\n");
    memset(longw + k, 'a', 1100);
    k += 1100;
    memcpy(longw + k, " \0\0\0\0", 5);
    write_file(tmp_path("v.bin"), longw, k + 5);
    wv = nb_word2vec_load(tmp_path("v.bin"), 0);
    CHECK("word2vec word over 1000 bytes: error", !wv && strstr(nb_last_error(), "longer than"), "%s", nb_last_error());
}

int main(void)
{
    if (tmp_dir_init("emb")) return 2;
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.seed = 3, .threads = 1});
    golden_tests(ctx);
    init_and_errors(ctx);
    glove_tests(ctx);
    word2vec_tests();
    nb_ctx_free(ctx);
    if (tmp_dir_remove()) return 2;
    CHECK_DONE();
}
