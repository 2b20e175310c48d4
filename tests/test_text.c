/* test_text.c - text augmentation (src/text): UTF-8, the tokenizer's round trip,
 * nlpaug's edit-count formula for every augmenter, stopwords, WordNet synonyms,
 * character augmenters on Korean/emoji/accented text, pipelines, determinism,
 * back-translation through Apertium (and the number of calls), and bad input:
 * invalid UTF-8, empty lines, missing WordNet/Apertium, unknown names in a spec. */
#include "check.h"
#include "text/text.h"
#include "text/words.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- helpers ---- */

#define MAXW 256
typedef struct {
    char w[MAXW][64];
    int n;
} words_t;

/* split on single spaces */
static void split(const char *s, words_t *out)
{
    out->n = 0;
    while (*s && out->n < MAXW) {
        while (*s == ' ') s++;
        if (!*s) break;
        size_t l = strcspn(s, " ");
        snprintf(out->w[out->n++], 64, "%.*s", (int)l, s);
        s += l;
    }
}

static int count_word(const words_t *w, const char *x)
{
    int c = 0;
    for (int i = 0; i < w->n; i++) c += !strcmp(w->w[i], x);
    return c;
}

static int is_subsequence(const words_t *sub, const words_t *all)
{
    int j = 0;
    for (int i = 0; i < all->n && j < sub->n; i++)
        if (!strcmp(all->w[i], sub->w[j])) j++;
    return j == sub->n;
}

static int same_multiset(const words_t *a, const words_t *b)
{
    if (a->n != b->n) return 0;
    for (int i = 0; i < a->n; i++)
        if (count_word(a, a->w[i]) != count_word(b, a->w[i])) return 0;
    return 1;
}

static int valid_utf8(const char *s) { return s && nb_utf8_check(s, strlen(s)) < 0; }

static int nlpaug_count(double p, int len, int mn, int mx)
{
    int c = (int)ceil(p * len);
    if (c < mn) return mn;
    if (mx >= 0 && c > mx) return mx;
    return c;
}

/* augment once with a spec and seed */
static char *aug1(const char *spec, const char *text, uint64_t seed)
{
    nb_text_aug *a = nb_text_aug_from_spec(spec);
    if (!a) {
        printf("# spec '%s': %s\n", spec, nb_last_error());
        return NULL;
    }
    nb_rng r;
    nb_rng_seed(&r, seed);
    char *o = nb_text_augment(a, text, &r);
    nb_text_aug_free(a);
    return o;
}

static const char *errmsg(void) { return nb_last_error(); }

/* A line "w0 w1 ... w{n-1}" of distinct lower-case words. */
static void make_line(char *buf, size_t cap, int n, const char *stem)
{
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; i < n; i++) o += (size_t)snprintf(buf + o, cap - o, "%s%s%d", i ? " " : "", stem, i);
}

/* missing WordNet must be checked in a process that never opened it */
static void check_missing_wordnet(void)
{
    int fd[2];
    if (pipe(fd)) return;
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        setenv("WNSEARCHDIR", "/nonexistent-wordnet", 1);
        nb_text_aug *a = nb_text_synonym_new(NULL);
        nb_text_aug *b = nb_text_aug_from_spec("random_insert(p=0.2)");
        char msg[2048];
        snprintf(msg, sizeof msg, "%d|%s", a == NULL && b == NULL, nb_last_error());
        ssize_t w = write(fd[1], msg, strlen(msg));
        (void)w;
        _exit(0);
    }
    close(fd[1]);
    char buf[2048] = {0};
    ssize_t n = read(fd[0], buf, sizeof buf - 1);
    (void)n;
    close(fd[0]);
    waitpid(pid, NULL, 0);
    CHECK("missing WordNet: constructors fail naming the Debian package",
          buf[0] == '1' && strstr(buf, "wordnet-base") && strstr(buf, "apt-get install"), "%s", buf);
}

int main(void)
{
    check_missing_wordnet();

    /* ---- UTF-8 ---- */
    CHECK("valid UTF-8", nb_utf8_check("añ한😀", strlen("añ한😀")) == -1, "(no detail)");
    struct {
        const char *s;
        int64_t at;
    } bad[] = {{"ab\xC3", 2},         {"a\xC0\xAFz", 1},    {"\xED\xA0\x80", 0}, {"x\xF4\x90\x80\x80", 1},
               {"ok\xE2\x82", 2},     {"\x80", 0},          {"a\xFF", 1},        {"abc\xE0\x80\xAF", 3}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "invalid UTF-8 case %zu found at its byte", i);
        int64_t got = nb_utf8_check(bad[i].s, strlen(bad[i].s));
        CHECK(name, got == bad[i].at, "got %lld want %lld", (long long)got, (long long)bad[i].at);
    }
    char *rep = nb_utf8_repair("a\xFF" "b\xC3", 4);
    CHECK("repair replaces each bad sequence by U+FFFD", rep && !strcmp(rep, "a\xEF\xBF\xBD" "b\xEF\xBF\xBD"), "%s",
          rep ? rep : "NULL");
    free(rep);

    /* ---- tokenizer: exact round trip, classes ---- */
    {
        const char *samples[] = {
            "",
            "   ",
            "Hello, world!  It's a well-known fact: 3.14 > 3,0.",
            "안녕하세요 세계! 😀 café naïve 👍🏽 e\xCC\x81t\xC3\xA9 🇰🇷 👨‍👩‍👧 done\t\r\n",
            "tabs\tand\u00a0nbsp\u3000ideographic space",
            "«quotes» — dash… ¿qué? ¡sí! 「日本語」 Ελληνικά Русский",
        };
        nb__toks tk = {0};
        int ok = 1;
        for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
            nb__tokenize(samples[i], strlen(samples[i]), &tk);
            char *j = nb__toks_join(&tk);
            ok &= j && !strcmp(j, samples[i]);
            free(j);
        }
        CHECK("tokens join back to the exact line", ok, "(no detail)");
        /* random valid UTF-8 strings round-trip too */
        nb_rng r;
        nb_rng_seed(&r, 5);
        static const uint32_t pool[] = {'a', 'Z', '7', ' ', '\t', '.', ',', '\'', '-', 0xE9, 0x301, 0xD55C, 0x1F600,
                                        0x1F3FD, 0x200D, 0xFE0F, 0x1F1F0, 0x3000, 0x2014, 0x5B57};
        for (int t = 0; t < 2000 && ok; t++) {
            char s[256];
            int n = 0, len = (int)nb_rng_below(&r, 30);
            for (int k = 0; k < len; k++) n += nb__utf8_encode(pool[nb_rng_below(&r, 20)], s + n);
            s[n] = 0;
            nb__tokenize(s, (size_t)n, &tk);
            char *j = nb__toks_join(&tk);
            ok &= j && !strcmp(j, s);
            free(j);
        }
        CHECK("2000 random UTF-8 strings round-trip", ok, "(no detail)");
        nb__tokenize("It's well-known: 3.14, ok.", 26, &tk);
        CHECK("word tokens keep apostrophes, hyphens and decimals",
              tk.n == 10 && tk.t[0].len == 4 && tk.t[2].len == 10 && tk.t[5].len == 4 && tk.t[6].kind == NB__TK_PUNCT,
              "n %d", tk.n);
        const char *emo = "👨‍👩‍👧";
        nb__tokenize(emo, strlen(emo), &tk);
        CHECK("a ZWJ emoji sequence is one token", tk.n == 1 && tk.t[0].len == (int)strlen(emo), "n %d", tk.n);
        nb__toks_free(&tk);
    }

    /* ---- the count formula: ceil(aug_p·len) clamped to [aug_min, aug_max] ---- */
    CHECK("count formula", nb__aug_count(0.3, 10, 1, 10) == 3 && nb__aug_count(0.3, 11, 1, 10) == 4 &&
                               nb__aug_count(0.1, 3, 1, 10) == 1 && nb__aug_count(0.9, 100, 1, 10) == 10 &&
                               nb__aug_count(0.9, 100, 1, -1) == 90 && nb__aug_count(0.0, 5, 0, 10) == 0 &&
                               nb__aug_count(0.5, 4, 5, 3) == 5,
          "(no detail)");
    CHECK("0.3f counts as 0.3 (ceil(0.3*10) = 3, not 4)", nb__aug_count(nb__opt_p(0.3f), 10, 1, 10) == 3, "(no detail)");

    /* ---- RandomWordAug: delete / substitute / swap / crop edit counts ---- */
    {
        char line[2048], spec[256];
        int ok_del = 1, ok_sub = 1, ok_swap = 1, ok_crop = 1;
        const double ps[] = {0.1, 0.3, 0.5, 0.77, 1.0};
        const int lens[] = {2, 3, 7, 10, 23, 60};
        const int mins[] = {1, 2}, maxs[] = {10, 4, -1};
        for (size_t pi = 0; pi < 5; pi++)
            for (size_t li = 0; li < 6; li++)
                for (size_t mi = 0; mi < 2; mi++)
                    for (size_t xi = 0; xi < 3; xi++) {
                        int n = lens[li];
                        make_line(line, sizeof line, n, "w");
                        words_t in, out;
                        split(line, &in);
                        const char *mx = maxs[xi] < 0 ? "None" : NULL;
                        char mxs[16];
                        snprintf(mxs, sizeof mxs, "%d", maxs[xi]);
                        int want = nlpaug_count(ps[pi], n, mins[mi], maxs[xi]);
                        if (want > n) want = n;
                        uint64_t seed = pi * 100 + li * 10 + mi * 3 + xi;
                        /* delete */
                        snprintf(spec, sizeof spec, "random_delete(p=%g, aug_min=%d, aug_max=%s)", ps[pi], mins[mi],
                                 mx ? mx : mxs);
                        char *o = aug1(spec, line, seed);
                        split(o ? o : "", &out);
                        ok_del &= o && out.n == n - want && is_subsequence(&out, &in);
                        if (o && !(out.n == n - want)) printf("# delete n=%d p=%g: %d words left, want %d\n", n, ps[pi], out.n, n - want);
                        free(o);
                        /* substitute */
                        snprintf(spec, sizeof spec, "random_substitute(p=%g, aug_min=%d, aug_max=%s)", ps[pi],
                                 mins[mi], mx ? mx : mxs);
                        o = aug1(spec, line, seed);
                        split(o ? o : "", &out);
                        ok_sub &= o && out.n == n && count_word(&out, "_") == want;
                        for (int k = 0; o && k < n; k++)
                            ok_sub &= !strcmp(out.w[k], "_") || !strcmp(out.w[k], in.w[k]);
                        free(o);
                        /* swap: a permutation; with one swap, two neighbours exchanged */
                        snprintf(spec, sizeof spec, "random_swap(p=%g, aug_min=%d, aug_max=%s)", ps[pi], mins[mi],
                                 mx ? mx : mxs);
                        o = aug1(spec, line, seed);
                        split(o ? o : "", &out);
                        ok_swap &= o && same_multiset(&out, &in);
                        if (o && want == 1) {
                            int moved = 0, first = -1;
                            for (int k = 0; k < n; k++)
                                if (strcmp(out.w[k], in.w[k])) {
                                    moved++;
                                    if (first < 0) first = k;
                                }
                            ok_swap &= moved == 2 && !strcmp(out.w[first], in.w[first + 1]) &&
                                       !strcmp(out.w[first + 1], in.w[first]);
                        }
                        free(o);
                        /* crop: a contiguous run of `want` tokens removed (at least one token kept) */
                        snprintf(spec, sizeof spec, "random_crop(p=%g, aug_min=%d, aug_max=%s)", ps[pi], mins[mi],
                                 mx ? mx : mxs);
                        o = aug1(spec, line, seed);
                        split(o ? o : "", &out);
                        int wc = want > n - 1 ? n - 1 : want;
                        int contiguous = 0;
                        if (o && out.n == n - wc) {
                            int s = 0;
                            while (s < out.n && !strcmp(out.w[s], in.w[s])) s++;
                            contiguous = 1;
                            for (int k = s; k < out.n; k++) contiguous &= !strcmp(out.w[k], in.w[k + wc]);
                        }
                        ok_crop &= contiguous;
                        free(o);
                    }
        CHECK("random_delete removes exactly min(clamp(ceil(p*len)), candidates) words, keeping order", ok_del, "(no detail)");
        CHECK("random_substitute puts '_' at exactly that many places", ok_sub, "(no detail)");
        CHECK("random_swap permutes the words; a single swap exchanges neighbours", ok_swap, "(no detail)");
        CHECK("random_crop removes one contiguous run of that many tokens", ok_crop, "(no detail)");
    }

    /* punctuation counts in len but is never a candidate; case moves to the new first word */
    {
        /* len 5 (3 words, 2 punctuation marks): ceil(0.5*5) = 3 edits, 3 candidate words */
        char *o = aug1("random_delete(p=0.5)", "Happy days, friends.", 3);
        CHECK("delete: punctuation counts in len but is never deleted", o && !strcmp(o, ",."), "%s", o ? o : errmsg());
        free(o);
        int saw = 0, capital = 1;
        for (uint64_t s = 0; s < 30; s++) {
            o = aug1("random_delete(aug_min=1, aug_max=1)", "Happy days are here", s);
            saw |= o && !strncmp(o, "Days are here", 13);
            capital &= o && isupper((unsigned char)o[0]);
            free(o);
        }
        CHECK("delete of the first word: the next one takes its capital", saw && capital, "(no detail)");
        int saw_front = 0, ok_case = 1;
        for (uint64_t s = 0; s < 40; s++) {
            o = aug1("random_swap(aug_min=1, aug_max=1)", "Happy days are here", s);
            if (o && strncmp(o, "Happy", 5)) {
                saw_front = 1;
                ok_case &= isupper((unsigned char)o[0]) && strstr(o, "happy") != NULL;
            }
            free(o);
        }
        CHECK("swap with the first word: capital moves to the front, old first word lower-cased", saw_front && ok_case,
              "(no detail)");
        o = aug1("random_substitute(aug_min=4, target_words='x')", "HELLO Big World now", 1);
        CHECK("substitute at the front aligns case", o && !strcmp(o, "X x x x"), "%s", o ? o : errmsg());
        free(o);
    }

    /* ---- stopwords are never edited, by list or regex, for every word augmenter ---- */
    {
        const char *line = "the cat and the dog sat on the mat with a hat and the bat ran to the cab";
        const char *specs[] = {
            "random_delete(p=1, aug_max=None, stopwords='the|and|a|on|to|with')",
            "random_substitute(p=1, aug_max=None, stopwords='the,and,a,on,to,with')",
            "random_swap(p=1, aug_max=None, stopwords='the and a on to with')",
            "random_delete(p=1, aug_max=None, stopwords_regex='^(the|and|a|on|to|with)$')",
            "synonym(p=1, aug_max=None, stopwords='the|and|a|on|to|with')",
            "random_char(p=1, aug_word_max=None, min_char=1, stopwords='the|and|a|on|to|with')",
            "keyboard(p=1, aug_word_max=None, min_char=1, stopwords='the|and|a|on|to|with')",
            "ocr(p=1, aug_word_max=None, stopwords='the|and|a|on|to|with')",
            "random_insert(p=1, aug_max=None, stopwords='the|and|a|on|to|with')",
        };
        static const char *const stop[] = {"the", "and", "a", "on", "to", "with"};
        words_t in, out;
        split(line, &in);
        for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) {
            int ok = 1, changed = 0;
            for (uint64_t seed = 0; seed < 10; seed++) {
                char *o = aug1(specs[k], line, seed);
                if (!o) {
                    ok = 0;
                    break;
                }
                split(o, &out);
                changed |= strcmp(o, line) != 0;
                /* every stopword occurrence survives, in order */
                words_t sw_in = {.n = 0}, sw_out = {.n = 0};
                for (int i = 0; i < in.n; i++)
                    for (int s = 0; s < 6; s++)
                        if (!strcmp(in.w[i], stop[s])) snprintf(sw_in.w[sw_in.n++], 64, "%s", in.w[i]);
                for (int i = 0; i < out.n; i++)
                    for (int s = 0; s < 6; s++)
                        if (!strcmp(out.w[i], stop[s])) snprintf(sw_out.w[sw_out.n++], 64, "%s", out.w[i]);
                ok &= is_subsequence(&sw_in, &sw_out);
                /* synonyms may be phrases ("take to the woods"); the others keep the count and the places */
                int phrases = strstr(specs[k], "synonym") || strstr(specs[k], "insert");
                if (!phrases) ok &= sw_out.n == sw_in.n;
                if (!phrases && !strstr(specs[k], "delete"))
                    for (int i = 0; i < in.n && i < out.n; i++)
                        for (int s = 0; s < 6; s++)
                            if (!strcmp(in.w[i], stop[s])) ok &= !strcmp(out.w[i], in.w[i]);
                free(o);
            }
            char name[160];
            snprintf(name, sizeof name, "stopwords never edited: %.60s", specs[k]);
            CHECK(name, ok && changed, "ok %d changed %d: %s", ok, changed, errmsg());
        }
    }

    /* ---- WordNet ---- */
    {
        nb__wordnet_cache *c = NULL;
        const char *const *syn;
        int ns;
        nb_status st = nb__wordnet_synonyms(&c, "happy", 5, NULL, 0, &syn, &ns);
        int ok = st == NB_OK && ns == 3;
        for (int i = 0; ok && i < ns; i++)
            ok &= !strcmp(syn[i], "felicitous") || !strcmp(syn[i], "glad") || !strcmp(syn[i], "well chosen");
        CHECK("synonyms of happy are WordNet's: felicitous, glad, well chosen", ok, "st %d n %d: %s", st, ns,
              ns > 0 ? syn[0] : errmsg());
        st = nb__wordnet_synonyms(&c, "dogs", 4, "the", 3, &syn, &ns);
        ok = st == NB_OK && ns > 0;
        int has_domestic = 0;
        for (int i = 0; ok && i < ns; i++) {
            has_domestic |= !strcmp(syn[i], "domestic dog");
            ok &= strcmp(syn[i], "dog") && strcmp(syn[i], "dogs");
        }
        CHECK("an inflected noun after 'the': noun synonyms of its base form, not the form itself", ok && has_domestic,
              "n %d", ns);
        st = nb__wordnet_synonyms(&c, "ran", 3, "she", 3, &syn, &ns);
        int has_go = 0;
        for (int i = 0; st == NB_OK && i < ns; i++) has_go |= !strcmp(syn[i], "go") || !strcmp(syn[i], "operate");
        CHECK("a past tense after a pronoun: verb synonyms of run", st == NB_OK && has_go, "n %d", ns);
        st = nb__wordnet_synonyms(&c, "the", 3, NULL, 0, &syn, &ns);
        CHECK("closed-class words have no synonyms", st == NB_OK && ns == 0, "n %d", ns);
        st = nb__wordnet_synonyms(&c, "xqzzyv", 6, NULL, 0, &syn, &ns);
        CHECK("unknown words have none", st == NB_OK && ns == 0, "n %d", ns);
        st = nb__wordnet_synonyms(&c, "fox", 3, "brown", 5, &syn, &ns);
        ok = st == NB_OK && ns > 0;
        for (int i = 0; ok && i < ns; i++) ok &= strcmp(syn[i], "charles james fox") != 0;
        CHECK("proper nouns are not synonyms (fox is not Charles James Fox)", ok, "n %d", ns);
        nb__wordnet_cache_free(c);

        /* SynonymAug on "happy": every output is a WordNet synonym, all three appear, case kept */
        int seen[3] = {0}, all_ok = 1;
        for (uint64_t s = 0; s < 60; s++) {
            char *o = aug1("synonym(p=1)", "happy", s);
            if (!o) {
                all_ok = 0;
                break;
            }
            int k = !strcmp(o, "felicitous") ? 0 : !strcmp(o, "glad") ? 1 : !strcmp(o, "well chosen") ? 2 : -1;
            if (k < 0) all_ok = 0;
            else seen[k] = 1;
            free(o);
        }
        CHECK("SynonymAug('happy') gives glad / felicitous / well chosen", all_ok && seen[0] && seen[1] && seen[2],
              "%d %d %d", seen[0], seen[1], seen[2]);
        char *o1 = aug1("synonym(p=1)", "Happy", 2), *o2 = aug1("synonym(p=1)", "HAPPY", 2);
        CHECK("case of the original kept", o1 && o2 && isupper((unsigned char)o1[0]) && islower((unsigned char)o1[1]) &&
                                               (!strcmp(o2, "GLAD") || !strcmp(o2, "FELICITOUS") || !strcmp(o2, "WELL CHOSEN")),
              "%s %s", o1 ? o1 : errmsg(), o2 ? o2 : "");
        free(o1);
        free(o2);
        /* the count: 10 x "glad" (synonyms happy, beaming), p = 0.3 -> 3 replaced */
        int ok_cnt = 1;
        for (uint64_t s = 0; s < 10; s++) {
            char *o = aug1("synonym(p=0.3)", "glad glad glad glad glad glad glad glad glad glad", s);
            words_t w;
            split(o ? o : "", &w);
            int changed = 0;
            for (int i = 0; i < w.n; i++)
                if (strcmp(w.w[i], "glad")) {
                    changed++;
                    ok_cnt &= !strcmp(w.w[i], "happy") || !strcmp(w.w[i], "beaming");
                }
            ok_cnt &= o && w.n == 10 && changed == 3;
            free(o);
        }
        CHECK("SynonymAug edits ceil(0.3*10) = 3 words", ok_cnt, "(no detail)");
        /* words without synonyms are not drawn: "glad today" p=1 -> only glad changes */
        char *o = aug1("synonym(p=1)", "I am glad today", 4);
        CHECK("only words with synonyms are edited", o && !strncmp(o, "I am ", 5) && strstr(o, " today") &&
                                                         !strstr(o, "glad"),
              "%s", o ? o : errmsg());
        free(o);
        /* EDA insertion: count words added, each a synonym of a word of the line */
        int ok_ins = 1;
        for (uint64_t s = 0; s < 10; s++) {
            char *oi = aug1("random_insert(p=0.3)", "glad glad glad glad glad glad glad glad glad glad", s);
            words_t w;
            split(oi ? oi : "", &w);
            ok_ins &= oi && w.n == 13 && count_word(&w, "glad") == 10 &&
                      count_word(&w, "happy") + count_word(&w, "beaming") == 3;
            free(oi);
        }
        CHECK("random_insert adds ceil(0.3*10) = 3 synonyms of the line's words", ok_ins, "(no detail)");
    }

    /* ---- character augmenters ---- */
    {
        const char *line = "abcdefghij abcdefghij abcdefghij abcdefghij abcdefghij abcdefghij abcdefghij "
                           "abcdefghij abcdefghij abcdefghij";
        int ok_sub = 1, ok_ins = 1, ok_del = 1, ok_swap = 1;
        for (uint64_t s = 0; s < 10; s++) {
            char *o = aug1("random_char(action=substitute, candidates='§')", line, s);
            words_t w;
            split(o ? o : "", &w);
            int words_changed = 0;
            for (int i = 0; i < w.n; i++) {
                int marks = 0, bytes = (int)strlen(w.w[i]);
                for (const char *q = w.w[i]; (q = strstr(q, "§")); q += 2) marks++;
                if (marks) {
                    words_changed++;
                    ok_sub &= marks == 3 && bytes == 10 + 3; /* § is 2 bytes, replaces 1-byte letters */
                    /* unedited characters stay in place */
                    for (int k = 0, pos = 0; k < bytes; pos++) {
                        if (!strncmp(w.w[i] + k, "§", 2)) k += 2;
                        else ok_sub &= w.w[i][k++] == "abcdefghij"[pos];
                    }
                }
            }
            ok_sub &= o && w.n == 10 && words_changed == 3;
            free(o);
            o = aug1("random_char(action=insert, aug_char_p=0.2, aug_word_p=0.5)", line, s);
            split(o ? o : "", &w);
            int longer = 0;
            for (int i = 0; i < w.n; i++) longer += strlen(w.w[i]) == 12;
            ok_ins &= o && w.n == 10 && longer == 5;
            free(o);
            o = aug1("random_char(action=delete)", line, s);
            split(o ? o : "", &w);
            int shorter = 0;
            for (int i = 0; i < w.n; i++) shorter += strlen(w.w[i]) == 7;
            ok_del &= o && shorter == 3;
            free(o);
            o = aug1("random_char(action=swap)", line, s);
            split(o ? o : "", &w);
            for (int i = 0; o && i < w.n; i++) {
                int cnt[26] = {0};
                for (const char *q = w.w[i]; *q; q++) cnt[*q - 'a']++;
                for (int k = 0; k < 10; k++) ok_swap &= cnt[k] == 1;
            }
            ok_swap &= o != NULL;
            free(o);
        }
        CHECK("RandomCharAug substitute: 3 of 10 words, 3 of 10 chars each, others in place", ok_sub, "(no detail)");
        CHECK("RandomCharAug insert: aug_word_p=0.5 -> 5 words gain ceil(0.2*10) = 2 chars", ok_ins, "(no detail)");
        CHECK("RandomCharAug delete: 3 words lose 3 chars", ok_del, "(no detail)");
        CHECK("RandomCharAug swap keeps each word's letters", ok_swap, "(no detail)");
        char *o = aug1("random_char(p=1, aug_word_max=None)", "abc defg hi", 1);
        CHECK("min_char=4: shorter words untouched", o && !strncmp(o, "abc ", 4) && !strcmp(o + strlen(o) - 3, " hi"),
              "%s", o ? o : errmsg());
        free(o);
        /* keyboard: replacements are QWERTY neighbours */
        int ok_kb = 1;
        for (uint64_t s = 0; s < 20; s++) {
            char *ok = aug1("keyboard(p=1, aug_char_p=1, aug_char_max=None)", "aaaa ssss", s);
            ok_kb &= ok && strlen(ok) == 9;
            for (int i = 0; ok && i < 4; i++) ok_kb &= strchr("qwsz", ok[i]) != NULL;
            for (int i = 5; ok && i < 9; i++) ok_kb &= strchr("awedxz", ok[i]) != NULL;
            free(ok);
        }
        CHECK("KeyboardAug: a -> q/w/s/z, s -> a/w/e/d/x/z", ok_kb, "(no detail)");
        int ok_kn = 1;
        for (uint64_t s = 0; s < 20; s++) {
            char *ok = aug1("keyboard(p=1, aug_char_p=1, aug_char_max=None, include_numeric=False, "
                            "include_special_char=False)",
                            "qqqq pppp", s);
            for (int i = 0; ok && ok[i]; i++) ok_kn &= !isdigit((unsigned char)ok[i]) && ok[i] != '[' && ok[i] != ';';
            ok_kn &= ok != NULL;
            free(ok);
        }
        CHECK("KeyboardAug: include_numeric/include_special_char=False", ok_kn, "(no detail)");
        int ok_ocr = 1;
        for (uint64_t s = 0; s < 20; s++) {
            char *oo = aug1("ocr(p=1, aug_char_p=1, aug_char_max=None)", "0000 llll", s);
            for (int i = 0; oo && i < 4; i++) ok_ocr &= strchr("oOD", oo[i]) != NULL;
            for (int i = 5; oo && i < 9; i++) ok_ocr &= strchr("1I", oo[i]) != NULL;
            ok_ocr &= oo != NULL;
            free(oo);
        }
        CHECK("OcrAug: 0 -> o/O/D, l -> 1/I", ok_ocr, "(no detail)");
        /* the counts: 10 words of 10 editable characters -> 3 words, 3 characters each */
        const char *kinds[2][2] = {{"keyboard", "aaaaaaaaaa"}, {"ocr", "0000000000"}};
        for (int k = 0; k < 2; k++) {
            char l10[160];
            size_t o10 = 0;
            for (int i = 0; i < 10; i++) o10 += (size_t)snprintf(l10 + o10, sizeof l10 - o10, "%s%s", i ? " " : "", kinds[k][1]);
            int okc = 1;
            for (uint64_t s = 0; s < 10; s++) {
                char *oc = aug1(kinds[k][0], l10, s);
                words_t w;
                split(oc ? oc : "", &w);
                int words_changed = 0;
                for (int i = 0; i < w.n; i++) {
                    int diff = 0;
                    for (int c = 0; c < 10; c++) diff += w.w[i][c] != kinds[k][1][c];
                    if (diff) {
                        words_changed++;
                        okc &= diff == 3 && strlen(w.w[i]) == 10;
                    }
                }
                okc &= oc && w.n == 10 && words_changed == 3;
                free(oc);
            }
            char name[96];
            snprintf(name, sizeof name, "%s: 3 of 10 words, ceil(0.3*10) = 3 characters each", kinds[k][0]);
            CHECK(name, okc, "(no detail)");
        }
    }

    /* ---- Korean, emoji and accents: valid UTF-8, untouched characters in place ---- */
    {
        const char *line = "안녕하세요 세계 😀 café naïve 👍🏽 e\xCC\x81te\xCC\x81 👨‍👩‍👧 한국어를 공부합니다";
        const char *specs[] = {"random_delete(p=0.5)", "random_swap(p=0.5)", "random_crop(p=0.3)",
                               "random_substitute(p=0.5)", "synonym(p=1)", "random_insert(p=0.3)",
                               "random_char(action=substitute, p=1, min_char=2)",
                               "random_char(action=insert, p=1, min_char=2)", "random_char(action=swap, p=1, min_char=2)",
                               "random_char(action=delete, p=1, min_char=2)", "keyboard(p=1)", "ocr(p=1)"};
        words_t in;
        split(line, &in);
        for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) {
            int ok = 1;
            for (uint64_t s = 0; s < 10 && ok; s++) {
                char *o = aug1(specs[k], line, s);
                ok &= valid_utf8(o);
                words_t out;
                split(o ? o : "", &out);
                if (k < 3) ok &= is_subsequence(&out, &in) || same_multiset(&out, &in);
                if (k >= 10 && o) { /* QWERTY/OCR edit ASCII letters only: everything else in place */
                    ok &= out.n == in.n;
                    for (int wi = 0; ok && wi < in.n; wi++) {
                        const char *a = in.w[wi], *b = out.w[wi];
                        while (*a && *b) {
                            size_t la = nb__char_len(a, strlen(a)), lb = nb__char_len(b, strlen(b));
                            if (la > 1 || (unsigned char)*a >= 0x80) ok &= la == lb && !strncmp(a, b, la);
                            else ok &= lb == 1;
                            a += la;
                            b += lb;
                        }
                        ok &= !*a && !*b;
                    }
                }
                if (k >= 6 && k < 10 && o) {
                    /* every character of the output is one of the input's characters or an ASCII candidate */
                    for (size_t i = 0; o[i];) {
                        size_t l = nb__char_len(o + i, strlen(o + i));
                        char ch[64];
                        snprintf(ch, sizeof ch, "%.*s", (int)l, o + i);
                        ok &= (l == 1) || strstr(line, ch) != NULL;
                        i += l;
                    }
                }
                free(o);
            }
            char name[128];
            snprintf(name, sizeof name, "Korean/emoji/accents stay valid and whole: %s", specs[k]);
            CHECK(name, ok, "%s", errmsg());
        }
        /* a swap on Korean words moves whole syllables */
        char *o = aug1("random_char(action=substitute, p=1, candidates='X', aug_char_p=0.4, min_char=2)",
                       "한국어를공부 안녕하세요", 3);
        int ok = o != NULL;
        /* each syllable is either unchanged in its position or X */
        const char *orig = "한국어를공부 안녕하세요";
        size_t i = 0, j = 0;
        while (ok && orig[i] && o[j]) {
            size_t li = nb__char_len(orig + i, strlen(orig + i));
            if (o[j] == 'X') j++;
            else {
                ok &= !strncmp(o + j, orig + i, li);
                j += li;
            }
            i += li;
        }
        CHECK("substituted Hangul syllables leave the others in place", ok && !orig[i] && !o[j], "%s", o ? o : "");
        free(o);
    }

    /* ---- pipelines, determinism, batches ---- */
    {
        const char *line = "the quick brown fox jumps over the lazy dog near the river bank today";
        char *a1 = aug1("synonym(p=0.3), random_swap(p=0.2), keyboard", line, 42);
        char *a2 = aug1("synonym(p=0.3), random_swap(p=0.2), keyboard", line, 42);
        char *a3 = aug1("synonym(p=0.3), random_swap(p=0.2), keyboard", line, 43);
        CHECK("same seed, same output; another seed, another", a1 && a2 && a3 && !strcmp(a1, a2) && strcmp(a1, a3),
              "%s | %s", a1 ? a1 : errmsg(), a3 ? a3 : "");
        free(a1);
        free(a2);
        free(a3);
        char *o = aug1("sometimes(random_delete(p=0.5), synonym, p=0)", line, 1);
        CHECK("sometimes(p=0) never applies", o && !strcmp(o, line), "%s", o ? o : errmsg());
        free(o);
        o = aug1("sequential(random_delete(p=0.5), random_substitute(p=1, aug_max=None))", line, 1);
        words_t w;
        split(o ? o : "", &w);
        CHECK("sequential applies every augmenter in turn", o && w.n == 7 && count_word(&w, "_") == 7, "%s", o ? o : "");
        free(o);
        /* sometimes(p=0.5): about half of 400 lines edited */
        nb_text_aug *s = nb_text_aug_from_spec("Sometimes(RandomWordAug(action=substitute, aug_p=1), aug_p=0.5)");
        nb_rng r;
        nb_rng_seed(&r, 9);
        int edited = 0;
        for (int i = 0; s && i < 400; i++) {
            char *x = nb_text_augment(s, "one two three", &r);
            edited += x && strcmp(x, "one two three") != 0;
            free(x);
        }
        CHECK("Sometimes(aug_p=0.5) with nlpaug class names: about half the lines", s && edited > 160 && edited < 240,
              "%d of 400", edited);
        nb_text_aug_free(s);
        /* a batch equals the same texts one by one */
        nb_text_aug *a = nb_text_aug_from_spec("synonym(p=0.4), sometimes(random_swap(p=0.3), p=0.5), ocr");
        const char *texts[4] = {"The quick brown fox", "", "happy days are here again", "안녕 world 😀 goodbye"};
        char *out[4];
        nb_rng r1, r2;
        nb_rng_seed(&r1, 77);
        nb_rng_seed(&r2, 77);
        nb_status st = a ? nb_text_augment_batch(a, texts, 4, &r1, out) : NB_ERR_ARG;
        int same = st == NB_OK;
        for (int i = 0; i < 4 && same; i++) {
            char *x = nb_text_augment(a, texts[i], &r2);
            same &= x && !strcmp(x, out[i]);
            free(x);
        }
        CHECK("a batch gives what the same texts one by one give", same, "%s", errmsg());
        if (st == NB_OK)
            for (int i = 0; i < 4; i++) free(out[i]);
        nb_text_aug_free(a);
    }

    /* ---- bad input ---- */
    {
        nb_text_aug *a = nb_text_aug_from_spec("random_swap(p=0.5)");
        nb_rng r;
        nb_rng_seed(&r, 1);
        char *o = nb_text_augment(a, "good \xC3\x28 bad", &r);
        CHECK("invalid UTF-8: NULL and the byte (counted from 1)", !o && strstr(errmsg(), "invalid UTF-8 at byte 6"), "%s",
              errmsg());
        const char *texts[2] = {"fine", "bad\xFF"};
        char *out[2] = {(char *)1, (char *)1};
        nb_status st = nb_text_augment_batch(a, texts, 2, &r, out);
        CHECK("invalid UTF-8 in a batch names the text", st == NB_ERR_ARG && strstr(errmsg(), "text 1") && !out[0] && !out[1],
              "%s", errmsg());
        nb_text_aug_free(a);
        const char *specs[] = {"random_delete", "random_swap", "random_crop", "random_substitute", "synonym",
                               "random_insert", "random_char", "keyboard", "ocr", "back_translation"};
        int ok_empty = 1, ok_blank = 1;
        for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) {
            char *e = aug1(specs[k], "", 1), *b = aug1(specs[k], "  \t ", 1);
            ok_empty &= e && !strcmp(e, "");
            ok_blank &= b && !strcmp(b, "  \t ");
            if (!e || !b || strcmp(e, "") || strcmp(b, "  \t "))
                printf("# %s: [%s] [%s] %s\n", specs[k], e ? e : "NULL", b ? b : "NULL", errmsg());
            free(e);
            free(b);
        }
        CHECK("an empty line comes back empty from every augmenter", ok_empty, "(no detail)");
        CHECK("a blank line comes back as it was", ok_blank, "(no detail)");
        o = aug1("random_delete(p=1)", "word", 1);
        CHECK("a one-token line is left alone by delete (nlpaug)", o && !strcmp(o, "word"), "%s", o ? o : errmsg());
        free(o);

        struct {
            const char *spec, *want;
        } bads[] = {
            {"synonym(p=0.3), frobnicate", "unknown text augmenter 'frobnicate' at column 17"},
            {"synonym(q=1)", "unknown parameter 'q' for synonym at column 9"},
            {"random_delete(p=1.5)", "'p' must be in [0, 1], got 1.5 at column 17"},
            {"random_delete(p=0.1, aug_p=0.2)", "give 'p' or 'aug_p', not both"},
            {"random_word(action=explode)", "unknown action 'explode' at column 20"},
            {"random_char(action=crop)", "unknown action 'crop'"},
            {"random_swap(target_words='a')", "unknown parameter 'target_words' for random_swap"},
            {"random_delete(aug_min=-2)", "'aug_min' must be between 0 and 1000000"},
            {"random_delete(aug_max=1.5)", "'aug_max' needs an integer at column 23"},
            {"random_delete(0.3)", "random_delete takes no positional arguments"},
            {"synonym(aug_src=ppdb)", "only wordnet is available"},
            {"random_char(swap_mode=sideways)", "swap_mode 'sideways'"},
            {"random_delete(stopwords_regex='(')", "stopwords_regex '('"},
            {"sometimes(random_delete, q=2)", "unknown parameter 'q' for sometimes"},
            {"sometimes(3)", "is not an augmenter"},
            {"random_char(include_numeric=maybe)", "'include_numeric' needs True or False"},
            {"synonym(p=0.3,", "unclosed '(' of synonym"},
            {"", "no augmenter given"},
            {"back_translation(pivot='x y')", "language codes"},
        };
        for (size_t k = 0; k < sizeof bads / sizeof bads[0]; k++) {
            nb_clear_error();
            nb_text_aug *b = nb_text_aug_from_spec(bads[k].spec);
            char name[128];
            snprintf(name, sizeof name, "bad spec: %s", bads[k].spec);
            CHECK(name, !b && strstr(errmsg(), bads[k].want), "got \"%s\"", errmsg());
            nb_text_aug_free(b);
        }
        CHECK("NULL arguments are errors, not crashes",
              !nb_text_augment(NULL, "x", &r) && !nb_text_random_word_new((nb_text_action)99, NULL, NULL, 0) &&
                  nb_text_augment_batch(NULL, NULL, 1, &r, NULL) == NB_ERR_ARG,
              "(no detail)");
        nb_text_aug *seq = nb_text_sequential_new((nb_text_aug *[]){nb_text_ocr_new(NULL), NULL}, 2);
        CHECK("a NULL child is refused (and the others freed)", !seq && strstr(errmsg(), "augmenter 1 is NULL"), "%s",
              errmsg());
    }

    /* ---- back-translation through Apertium ---- */
    if (access("/usr/share/apertium/modes/eng-spa.mode", R_OK) != 0) {
        printf("SKIP back-translation: apertium-eng-spa is not installed\n");
    } else {
        nb_text_aug *bt = nb_text_backtranslation_new(NULL);
        nb_rng r;
        nb_rng_seed(&r, 1);
        const char *fox = "The quick brown fox jumps over the lazy dog.";
        char *o = bt ? nb_text_augment(bt, fox, &r) : NULL;
        int english = o && strstr(o, "fox") && strstr(o, "dog") && !strstr(o, "zorro") && !strstr(o, "perro");
        for (const char *q = o; english && *q; q++) english &= (unsigned char)*q < 0x80;
        CHECK("back-translation of the fox sentence: different, English", o && strcmp(o, fox) && english, "%s",
              o ? o : errmsg());
        CHECK("one text, two Apertium calls", nb_text_aug_calls(bt) == 2, "%lld", (long long)nb_text_aug_calls(bt));
        free(o);
        /* 1,000 lines (with blank ones and whitespace kept) in one batch */
        static const char *const base[] = {"I am very happy today.", "The weather is nice in the summer.",
                                           "She reads a book every evening.", "We will travel to Madrid next year.",
                                           "This house is very big and old."};
        enum { N = 1000 };
        const char **texts = malloc(sizeof *texts * N);
        char **out = calloc(N, sizeof *out);
        char(*bufs)[96] = malloc(96 * N);
        for (int i = 0; i < N; i++) {
            if (i % 97 == 5) snprintf(bufs[i], 96, "%s", i % 2 ? "" : "   ");
            else snprintf(bufs[i], 96, "%s%s", i % 50 == 1 ? "  " : "", base[i % 5]);
            texts[i] = bufs[i];
        }
        int64_t before = nb_text_aug_calls(bt);
        nb_status st = nb_text_augment_batch(bt, texts, N, &r, out);
        int64_t calls = nb_text_aug_calls(bt) - before;
        int ok = st == NB_OK;
        for (int i = 0; ok && i < N; i++) {
            ok &= valid_utf8(out[i]) && strchr(out[i], '\n') == NULL;
            if (i % 97 == 5) ok &= !strcmp(out[i], texts[i]);
            else ok &= strlen(out[i]) > 5 && (i % 50 != 1 || !strncmp(out[i], "  ", 2));
        }
        /* line i must be the translation of its own sentence */
        char *one = nb_text_augment(bt, base[2], &r);
        ok &= one && out[2] && !strcmp(one, out[2]) && !strcmp(out[7], out[2]);
        free(one);
        CHECK("1,000 lines in one batch: 2 Apertium calls, aligned, blanks kept", ok && calls == 2, "st %d calls %lld: %s",
              st, (long long)calls, errmsg());
        for (int i = 0; i < N; i++) free(out[i]);
        nb_text_aug_free(bt);
        /* smaller batches: more calls, same result */
        nb_text_aug *bt2 = nb_text_backtranslation_new(&(nb_text_backtranslation_opts){.batch_lines = 250});
        char **out2 = calloc(N, sizeof *out2);
        st = bt2 ? nb_text_augment_batch(bt2, texts, N, &r, out2) : NB_ERR_ARG;
        CHECK("batch_lines=250: 8 calls", st == NB_OK && nb_text_aug_calls(bt2) == 8, "%lld",
              (long long)nb_text_aug_calls(bt2));
        for (int i = 0; i < N; i++) free(out2[i]);
        free(out2);
        nb_text_aug_free(bt2);
        /* multi-line text and a Korean/emoji line pass through */
        bt = nb_text_backtranslation_new(&(nb_text_backtranslation_opts){.source = "eng", .pivot = "spa"});
        o = bt ? nb_text_augment(bt, "I am happy.\nYou are sad.", &r) : NULL;
        CHECK("a text with a line break keeps it", o && strchr(o, '\n') && !strchr(strchr(o, '\n') + 1, '\n'), "%s",
              o ? o : errmsg());
        free(o);
        o = bt ? nb_text_augment(bt, "안녕하세요 😀 I like tea.", &r) : NULL;
        CHECK("Korean and emoji survive the round trip", o && strstr(o, "안녕하세요") && strstr(o, "😀") && valid_utf8(o),
              "%s", o ? o : errmsg());
        free(o);
        nb_text_aug_free(bt);
        free(texts);
        free(out);
        free(bufs);

        /* missing Apertium, missing pair */
        nb_text_aug *m = nb_text_backtranslation_new(&(nb_text_backtranslation_opts){.command = "/nonexistent/apertium"});
        CHECK("missing Apertium: names the Debian packages",
              !m && strstr(errmsg(), "apt-get install apertium apertium-eng-spa"), "%s", errmsg());
        char *saved = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
        setenv("PATH", "/nonexistent", 1);
        m = nb_text_aug_from_spec("back_translation");
        CHECK("Apertium not in PATH: names the Debian packages", !m && strstr(errmsg(), "not in PATH") &&
                                                                    strstr(errmsg(), "apertium-eng-spa"),
              "%s", errmsg());
        if (saved) setenv("PATH", saved, 1);
        free(saved);
        m = nb_text_aug_from_spec("back_translation(pivot=xyz)");
        CHECK("missing language pair: names it and the package", !m && strstr(errmsg(), "no eng-xyz language pair") &&
                                                                   strstr(errmsg(), "apertium-eng-xyz") &&
                                                                   strstr(errmsg(), "installed: "),
              "%s", errmsg());
        m = nb_text_aug_from_spec("back_translation(data_dir='/nonexistent')");
        CHECK("a data dir without modes: the pair is missing", !m && strstr(errmsg(), "no eng-spa language pair"), "%s",
              errmsg());
        /* a command that fails at run time (false exits 1) */
        m = nb_text_backtranslation_new(&(nb_text_backtranslation_opts){.command = "false"});
        o = m ? nb_text_augment(m, "hello", &r) : NULL;
        CHECK("a failing command is an error with its status", m && !o && strstr(errmsg(), "exit status 1"), "%s",
              errmsg());
        nb_text_aug_free(m);
    }
    CHECK_DONE();
}
