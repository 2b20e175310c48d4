/* test_tokenizer.c - BERT's WordPiece and GPT-2's byte-level BPE against a Python
 * reference of the published algorithms (tools/goldens/tokenizers_ref.py) on
 * vocabularies it built from WordNet's glosses (tests/goldens/tokenizers/): the ids of
 * test lines (Korean, emoji, accents, CJK, contractions, whitespace runs, special
 * tokens, control and format characters, a 150-character word), BERT pairs with
 * truncation and padding, and a hash of the ids of every one of WordNet's 117,659
 * glosses (Debian's wordnet-base); GPT-2 decoding gives the text back byte for byte;
 * bad vocabularies, merges and input give errors naming the problem; `nabla tokenize`. */
#include "check.h"
#include "cli.h"
#include "nabla.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <unistd.h>

#define DIR_ "tests/goldens/tokenizers"

static nb_tokenizer *bert, *gpt2;

static int parse_ids(const char *s, int64_t *dst, int max)
{
    int n = 0;
    char *e;
    while (*s && n < max) {
        long long v = strtoll(s, &e, 10);
        if (e == s) break;
        dst[n++] = v;
        s = e;
    }
    return n;
}

static char *json_string(const char *s)
{
    cJSON *j = cJSON_Parse(s);
    char *r = j && cJSON_IsString(j) ? strdup(j->valuestring) : NULL;
    cJSON_Delete(j);
    return r;
}

static void cases(void)
{
    FILE *f = fopen(DIR_ "/cases.txt", "r");
    CHECK("cases.txt opens", f != NULL, "missing");
    if (!f) return;
    char *line = NULL;
    size_t cap = 0;
    int nb = 0, ng = 0, np = 0, bad_b = 0, bad_g = 0, bad_p = 0, bad_rt = 0;
    int64_t want[4096], want2[4096], want3[4096];
    while (getline(&line, &cap, f) > 0) {
        line[strcspn(line, "\n")] = 0;
        if (line[0] == '#') continue;
        char *f1 = strchr(line, '\t');
        if (!f1) continue;
        *f1++ = 0;
        if (!strcmp(line, "bert") || !strcmp(line, "gpt2")) {
            char *f2 = strchr(f1, '\t');
            if (!f2) continue;
            *f2++ = 0;
            char *text = json_string(f1);
            int nw = parse_ids(f2, want, 4096);
            int is_bert = !strcmp(line, "bert");
            int64_t *ids;
            int64_t n = nb_tokenizer_encode(is_bert ? bert : gpt2, text, &ids);
            int ok = n == nw && (n <= 0 || !memcmp(ids, want, sizeof(int64_t) * (size_t)n));
            if (!ok) {
                printf("  %s mismatch on %s: got", line, f1);
                for (int64_t i = 0; i < n && i < 40; i++) printf(" %lld", (long long)ids[i]);
                printf(" (%s)\n", n < 0 ? nb_last_error() : "");
            }
            if (is_bert) nb++, bad_b += !ok;
            else {
                ng++, bad_g += !ok;
                char *back = n >= 0 ? nb_tokenizer_decode(gpt2, ids, n) : NULL;
                if (!back || strcmp(back, text)) {
                    bad_rt++;
                    printf("  gpt2 decode mismatch on %s: %s\n", f1, back ? back : nb_last_error());
                }
                free(back);
            }
            free(ids);
            free(text);
        } else if (!strcmp(line, "pair")) {
            char *fld[8];
            int k = 0;
            for (char *p = f1; k < 7; k++) {
                fld[k] = p;
                p = strchr(p, '\t');
                if (!p) break;
                *p++ = 0;
            }
            if (k < 6) continue;
            char *a = json_string(fld[0]), *b = json_string(fld[1]);
            nb_encode_opts o = {.max_length = atoll(fld[2]), .pad_to = atoll(fld[3])};
            int nw = parse_ids(fld[4], want, 4096);
            parse_ids(fld[5], want2, 4096);
            parse_ids(fld[6], want3, 4096);
            nb_encoding e;
            nb_status st = nb_tokenizer_encode_pair(bert, a, *b ? b : NULL, &o, &e);
            int ok = !st && e.n == nw && !memcmp(e.ids, want, sizeof(int64_t) * (size_t)nw) &&
                     !memcmp(e.type_ids, want2, sizeof(int64_t) * (size_t)nw) &&
                     !memcmp(e.mask, want3, sizeof(int64_t) * (size_t)nw);
            if (!ok) printf("  pair mismatch on %s / %s (n %lld vs %d) %s\n", a, b, (long long)e.n, nw, st ? nb_last_error() : "");
            np++, bad_p += !ok;
            nb_encoding_free(&e);
            free(a), free(b);
        }
    }
    free(line);
    fclose(f);
    char name[200];
    snprintf(name, sizeof name, "BERT ids equal the reference's on all %d test lines", nb);
    CHECK(name, nb > 20 && !bad_b, "%d differ", bad_b);
    snprintf(name, sizeof name, "GPT-2 ids equal the reference's on all %d test lines", ng);
    CHECK(name, ng > 20 && !bad_g, "%d differ", bad_g);
    snprintf(name, sizeof name, "GPT-2 decode gives each of the %d lines back byte for byte", ng);
    CHECK(name, ng > 20 && !bad_rt, "%d differ", bad_rt);
    snprintf(name, sizeof name, "BERT pairs: ids, token types, masks (truncation longest_first, padding) on %d cases", np);
    CHECK(name, np >= 5 && !bad_p, "%d differ", bad_p);
}

static uint64_t fnv(uint64_t h, const char *s)
{
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001B3ULL;
    return h;
}

static void wordnet(void)
{
    FILE *f = fopen(DIR_ "/cases.txt", "r");
    char *line = NULL;
    size_t cap = 0;
    long want_n = -1;
    unsigned long long want_b = 0, want_g = 0;
    while (f && getline(&line, &cap, f) > 0)
        if (!strncmp(line, "wordnet\t", 8)) sscanf(line + 8, "%ld\t%llx\t%llx", &want_n, &want_b, &want_g);
    if (f) fclose(f);
    uint64_t hb = 0xCBF29CE484222325ULL, hg = hb;
    long n = 0;
    int missing = 0;
    char buf[64];
    const char *pos[] = {"noun", "verb", "adj", "adv"};
    for (int k = 0; k < 4; k++) {
        char path[128];
        snprintf(path, sizeof path, "/usr/share/wordnet/data.%s", pos[k]);
        FILE *w = fopen(path, "r");
        if (!w) {
            missing = 1;
            continue;
        }
        ssize_t len;
        while ((len = getline(&line, &cap, w)) > 0) {
            if (!strncmp(line, "  ", 2)) continue;
            char *bar = strstr(line, " | ");
            if (!bar) continue;
            char *g = bar + 3;
            size_t gl = strlen(g);
            while (gl && strchr(" \t\r\n\v\f", g[gl - 1])) g[--gl] = 0;
            for (int which = 0; which < 2; which++) {
                int64_t *ids;
                int64_t m = nb_tokenizer_encode(which ? gpt2 : bert, g, &ids);
                uint64_t *h = which ? &hg : &hb;
                for (int64_t i = 0; i < m; i++) {
                    snprintf(buf, sizeof buf, i ? " %lld" : "%lld", (long long)ids[i]);
                    *h = fnv(*h, buf);
                }
                *h = fnv(*h, "\n");
                free(ids);
            }
            n++;
        }
        fclose(w);
    }
    free(line);
    CHECK("WordNet's data files are there (Debian's wordnet-base)", !missing, "install wordnet-base");
    char name[200];
    snprintf(name, sizeof name, "BERT ids of all %ld WordNet glosses hash as the reference's", n);
    CHECK(name, n == want_n && hb == want_b, "%ld glosses (want %ld), hash %016llx want %016llx", n, want_n,
          (unsigned long long)hb, want_b);
    snprintf(name, sizeof name, "GPT-2 ids of all %ld WordNet glosses hash as the reference's", n);
    CHECK(name, n == want_n && hg == want_g, "hash %016llx want %016llx", (unsigned long long)hg, want_g);
}

static void write_file(const char *path, const char *s, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) exit(2);
    fwrite(s, 1, n, f);
    fclose(f);
}

static void errors(void)
{
    char dir[] = "/tmp/nb_tokXXXXXX";
    if (!mkdtemp(dir)) return;
    char v[256], m[256];
    snprintf(v, sizeof v, "%s/vocab.txt", dir);
    snprintf(m, sizeof m, "%s/merges.txt", dir);
    write_file(v, "[PAD]\n[UNK]\nhello\nworld\nhello\n", 31);
    nb_clear_error();
    CHECK("vocab.txt with a duplicate token: error naming line 5 and line 3",
          !nb_wordpiece_load(v, NULL) && strstr(nb_last_error(), ":5:") && strstr(nb_last_error(), "line 3"), "%s",
          nb_last_error());
    write_file(v, "[UNK]\nab\xff\n", 9);
    CHECK("vocab.txt that is not UTF-8: error naming line 2", !nb_wordpiece_load(v, NULL) && strstr(nb_last_error(), ":2:") &&
                                                                  strstr(nb_last_error(), "UTF-8"),
          "%s", nb_last_error());
    write_file(v, "[PAD]\nhello\n", 12);
    CHECK("vocab.txt without [UNK]: error", !nb_wordpiece_load(v, NULL) && strstr(nb_last_error(), "[UNK]"), "%s",
          nb_last_error());
    snprintf(v, sizeof v, "%s/vocab.json", dir);
    write_file(v, "{\"a\": 0, \"b\": 1, \"ab\": 2}", 25);
    write_file(m, "#version: 0.2\na b\nab c\n", 23);
    CHECK("merges naming a token not in vocab.json: error naming the line and the token",
          !nb_bpe_load(v, m) && strstr(nb_last_error(), ":3:") && strstr(nb_last_error(), "\"c\""), "%s", nb_last_error());
    write_file(m, "a b c\n", 6);
    CHECK("a merge line of three tokens: error", !nb_bpe_load(v, m) && strstr(nb_last_error(), ":1:"), "%s", nb_last_error());
    write_file(v, "{\"a\": 0, \"b\": 0}", 16);
    write_file(m, "", 0);
    CHECK("vocab.json with an id given twice: error", !nb_bpe_load(v, m) && strstr(nb_last_error(), "id 0"), "%s",
          nb_last_error());
    write_file(v, "[1, 2]", 6);
    CHECK("vocab.json that is not an object: error", !nb_bpe_load(v, m) && strstr(nb_last_error(), "JSON object"), "%s",
          nb_last_error());
    int64_t *ids;
    CHECK("invalid UTF-8 input: error naming the byte",
          nb_tokenizer_encode(bert, "ok \xc3\x28 bad", &ids) < 0 && strstr(nb_last_error(), "byte 4"), "%s", nb_last_error());
    CHECK("GPT-2 on invalid UTF-8 input: error", nb_tokenizer_encode(gpt2, "\xe2\x82", &ids) < 0, "accepted");
    CHECK("a directory without tokenizer files: error naming both kinds",
          !nb_tokenizer_from_dir(dir) && strstr(nb_last_error(), "vocab.txt"), "%s", nb_last_error());
    remove(v), remove(m);
    snprintf(v, sizeof v, "%s/vocab.txt", dir);
    remove(v);
    rmdir(dir);
    CHECK("empty text: no ids", nb_tokenizer_encode(gpt2, "", &ids) == 0, "%s", nb_last_error());
    free(ids);
}

static int copy_file(const char *from, const char *to)
{
    return run("cp %s %s", from, to);
}

static void cli(void)
{
    char dir[] = "/tmp/nb_tokcliXXXXXX", dst[300];
    if (!mkdtemp(dir)) return;
    snprintf(dst, sizeof dst, "%s/vocab.txt", dir);
    copy_file(DIR_ "/bert_vocab.txt", dst);
    int64_t *ids;
    int64_t n = nb_tokenizer_encode(bert, "Hello, world! This is a test.", &ids);
    char want[1024] = "2";
    for (int64_t i = 0; i < n; i++) snprintf(want + strlen(want), sizeof want - strlen(want), " %lld", (long long)ids[i]);
    strcat(want, " 3\n");
    free(ids);
    int rc = run("printf 'Hello, world! This is a test.\\n' | " NABLA " tokenize --model %s", dir);
    CHECK("nabla tokenize --model BERT_DIR: [CLS] ids [SEP]", rc == 0 && !strcmp(out, want), "rc %d: %s (want %s)", rc, out,
          want);
    rc = run("printf 'ok\\n\\377 bad\\n' | " NABLA " tokenize --model %s", dir);
    CHECK("nabla tokenize on invalid UTF-8: status 1 naming line 2", rc == 1 && strstr(out, "<stdin>:2:"), "rc %d: %s", rc, out);
    remove(dst);
    snprintf(dst, sizeof dst, "%s/vocab.json", dir);
    copy_file(DIR_ "/gpt2_vocab.json", dst);
    snprintf(dst, sizeof dst, "%s/merges.txt", dir);
    copy_file(DIR_ "/gpt2_merges.txt", dst);
    n = nb_tokenizer_encode(gpt2, "a dog's toy", &ids);
    want[0] = 0;
    for (int64_t i = 0; i < n; i++) snprintf(want + strlen(want), sizeof want - strlen(want), i ? " %lld" : "%lld", (long long)ids[i]);
    strcat(want, "\n");
    free(ids);
    rc = run("printf \"a dog's toy\\n\" | " NABLA " tokenize --model %s", dir);
    CHECK("nabla tokenize --model GPT2_DIR: the BPE ids", rc == 0 && !strcmp(out, want), "rc %d: %s (want %s)", rc, out, want);
    rc = run(NABLA " tokenize < /dev/null");
    CHECK("nabla tokenize without --model: usage error (2)", rc == 2 && strstr(out, "--model"), "rc %d: %s", rc, out);
    remove(dst);
    snprintf(dst, sizeof dst, "%s/vocab.json", dir);
    remove(dst);
    rmdir(dir);
}

int main(void)
{
    bert = nb_wordpiece_load(DIR_ "/bert_vocab.txt", NULL);
    gpt2 = nb_bpe_load(DIR_ "/gpt2_vocab.json", DIR_ "/gpt2_merges.txt");
    CHECK("the reference's vocabularies load", bert && gpt2, "%s", nb_last_error());
    if (!bert || !gpt2) CHECK_DONE();
    cases();
    wordnet();
    errors();
    cli();
    nb_tokenizer_free(bert);
    nb_tokenizer_free(gpt2);
    CHECK_DONE();
}
