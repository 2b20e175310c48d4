/* test_text_cli.c - `nabla augment-text` as a user runs it: the commands of issue 5
 * as written, --tsv keeping labels, -n, --seed, stdin and files, help and usage
 * errors, invalid UTF-8 (error naming the line, or --replace-invalid), empty lines,
 * missing WordNet/Apertium. Runs build/nabla (or build-san/nabla) through the shell. */
#include "check.h"
#include "cli.h"


static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* the i-th line (0-based) of s into buf */
static const char *line_at(const char *s, int i, char *buf, size_t cap)
{
    for (; i > 0 && s; i--) {
        s = strchr(s, '\n');
        if (s) s++;
    }
    if (!s) return "";
    size_t l = strcspn(s, "\n");
    snprintf(buf, cap, "%.*s", (int)(l < cap - 1 ? l : cap - 1), s);
    return buf;
}

int main(void)
{
    char dir[] = "/tmp/nb_text_cli_XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK("temp dir", 0, "mkdtemp failed");
        CHECK_DONE();
    }
    char cmd[4096], path[512], buf[1024], buf2[1024];

    /* echo "I am very happy today" | nabla augment-text --aug "synonym(p=0.5)" -n 3 --seed 1 */
    int rc =
        run_stdout("echo \"I am very happy today\" | " NABLA " augment-text --aug \"synonym(p=0.5)\" -n 3 --seed 1");
    char first[sizeof out];
    snprintf(first, sizeof first, "%s", out);
    int ok = rc == 0 && count_lines(out) == 3;
    /* each line: "I am X Y today" with X a synonym of very and/or Y of happy */
    static const char *const syn[] = {"really", "real", "rattling", "felicitous", "glad", "well chosen"};
    for (int i = 0; ok && i < 3; i++) {
        line_at(out, i, buf, sizeof buf);
        int has = 0;
        for (size_t k = 0; k < sizeof syn / sizeof syn[0]; k++) has |= strstr(buf, syn[k]) != NULL;
        ok &= has && strcmp(buf, "I am very happy today") && !strncmp(buf, "I am ", 5) && strstr(buf, " today");
    }
    CHECK("synonym(p=0.5) -n 3 --seed 1: three lines with WordNet synonyms", ok, "rc %d:\n%s", rc, out);
    CHECK("the three variants differ (redrawn as nlpaug does)",
          strcmp(line_at(out, 0, buf, sizeof buf), line_at(out, 1, buf2, sizeof buf2)) &&
              strcmp(buf, line_at(out, 2, buf2, sizeof buf2)) && strcmp(line_at(out, 1, buf, sizeof buf), buf2),
          "%s", out);
    rc = run_stdout("echo \"I am very happy today\" | " NABLA " augment-text --aug \"synonym(p=0.5)\" -n 3 --seed 1");
    CHECK("the same seed prints the same lines", rc == 0 && !strcmp(out, first), "%s", out);
    /* 9 possible lines: two seeds may coincide, but not four */
    int differs = 0;
    for (int s = 2; s <= 4; s++) {
        rc = run_stdout("echo \"I am very happy today\" | " NABLA
                        " augment-text --aug \"synonym(p=0.5)\" -n 3 --seed %d", s);
        differs |= rc == 0 && count_lines(out) == 3 && strcmp(out, first);
    }
    CHECK("other seeds, other lines", differs, "%s", out);

    /* nabla augment-text --aug "random_swap(p=0.2), random_delete(p=0.1)" --seed 7 FILE */
    snprintf(path, sizeof path, "%s/sentences.txt", dir);
    write_text(path, "The quick brown fox jumps over the lazy dog.\n"
                     "\n"
                     "Korean 안녕하세요 and emoji 😀 stay whole here.\n"
                     "Machine learning needs a lot of data to work well.\n");
    rc = run_stdout(NABLA " augment-text --aug \"random_swap(p=0.2), random_delete(p=0.1)\" --seed 7 %s", path);
    ok = rc == 0 && count_lines(out) == 4 && !strcmp(line_at(out, 1, buf, sizeof buf), "");
    /* every output word is a word of its input line */
    const char *inputs[] = {"The quick brown fox jumps over the lazy dog.", "",
                            "Korean 안녕하세요 and emoji 😀 stay whole here.",
                            "Machine learning needs a lot of data to work well."};
    for (int i = 0; ok && i < 4; i++) {
        line_at(out, i, buf, sizeof buf);
        char *save, *w = strtok_r(buf, " ", &save);
        for (; w; w = strtok_r(NULL, " ", &save)) {
            char lw[128], lin[256];
            size_t k;
            for (k = 0; w[k] && k < sizeof lw - 1; k++) lw[k] = (char)((w[k] >= 'A' && w[k] <= 'Z') ? w[k] + 32 : w[k]);
            lw[k] = 0;
            for (k = 0; inputs[i][k] && k < sizeof lin - 1; k++)
                lin[k] = (char)((inputs[i][k] >= 'A' && inputs[i][k] <= 'Z') ? inputs[i][k] + 32 : inputs[i][k]);
            lin[k] = 0;
            ok &= strstr(lin, lw) != NULL;
        }
    }
    CHECK("random_swap + random_delete on a FILE: same line count, only the line's own words", ok, "rc %d:\n%s", rc,
          out);

    /* nabla augment-text --aug "back_translation(pivot=spa)" FILE */
    if (access("/usr/share/apertium/modes/eng-spa.mode", R_OK) == 0) {
        rc = run_stdout(NABLA " augment-text --aug \"back_translation(pivot=spa)\" %s", path);
        line_at(out, 0, buf, sizeof buf);
        CHECK("back_translation(pivot=spa) FILE: English lines, the fox sentence changed",
              rc == 0 && count_lines(out) == 4 && strstr(buf, "fox") && strcmp(buf, inputs[0]) &&
                  !strcmp(line_at(out, 1, buf2, sizeof buf2), "") && strstr(out, "안녕하세요") && strstr(out, "😀"),
              "rc %d:\n%s", rc, out);
        /* missing Apertium: the message names the packages */
        rc = run("PATH=/nonexistent " NABLA " augment-text --aug back_translation %s", path);
        CHECK("Apertium missing: status 1 and 'apt-get install apertium apertium-eng-spa'",
              rc == 1 && strstr(out, "apt-get install apertium apertium-eng-spa"), "rc %d: %s", rc, out);
    } else {
        printf("SKIP back-translation CLI checks: apertium-eng-spa is not installed\n");
    }

    /* --tsv: the label column is kept */
    snprintf(path, sizeof path, "%s/labelled.tsv", dir);
    write_text(path, "label\ttext\tid\n"
                     "pos\tI am very happy with this phone\t1\n"
                     "neg\tThe battery died after two days\t2\n");
    rc = run_stdout(NABLA " augment-text --tsv 2 --header --include-original -n 2 --seed 3 "
                          "--aug \"random_substitute(p=0.5, target_words='X')\" %s",
                    path);
    ok = rc == 0 && count_lines(out) == 7 && !strcmp(line_at(out, 0, buf, sizeof buf), "label\ttext\tid") &&
         !strcmp(line_at(out, 1, buf, sizeof buf), "pos\tI am very happy with this phone\t1");
    for (int i = 2; ok && i <= 3; i++) {
        line_at(out, i, buf, sizeof buf);
        ok &= !strncmp(buf, "pos\t", 4) && !strcmp(buf + strlen(buf) - 2, "\t1") && strstr(buf, "X");
    }
    for (int i = 5; ok && i <= 6; i++) {
        line_at(out, i, buf, sizeof buf);
        ok &= !strncmp(buf, "neg\t", 4) && !strcmp(buf + strlen(buf) - 2, "\t2") && strstr(buf, "X");
    }
    CHECK("--tsv 2 --header --include-original -n 2: labels and ids kept, text column augmented", ok, "rc %d:\n%s", rc,
          out);
    rc = run(NABLA " augment-text --tsv 5 --aug random_swap %s", path);
    CHECK("--tsv past the last column: names the line", rc == 1 && strstr(out, "labelled.tsv:1") &&
                                                            strstr(out, "fewer columns"),
          "rc %d: %s", rc, out);

    /* invalid UTF-8: an error naming the line, or U+FFFD with --replace-invalid */
    snprintf(path, sizeof path, "%s/bad.txt", dir);
    write_text(path, "good line here\nbad \xFF\xFE line\nlast line\n");
    rc = run(NABLA " augment-text --aug random_swap %s", path);
    CHECK("invalid UTF-8: status 1 naming FILE:2 and byte 5", rc == 1 && strstr(out, "bad.txt:2: invalid UTF-8 at byte 5") &&
                                                              strstr(out, "--replace-invalid"),
          "rc %d: %s", rc, out);
    rc = run_stdout(NABLA " augment-text --replace-invalid --aug \"random_swap(p=0)\" %s", path);
    CHECK("--replace-invalid: U+FFFD in its place", rc == 0 && count_lines(out) == 3 && strstr(out, "\xEF\xBF\xBD"),
          "rc %d: %s", rc, out);

    /* empty input, empty lines, stdin via '-' */
    rc = run_stdout("printf '' | " NABLA " augment-text --aug random_delete");
    CHECK("empty input: no output, status 0", rc == 0 && out[0] == 0, "rc %d: %s", rc, out);
    rc = run_stdout("printf '\\n\\n' | " NABLA " augment-text --aug \"keyboard, ocr\" -n 2 -");
    CHECK("empty lines stay empty (-n 2 gives 4 lines)", rc == 0 && !strcmp(out, "\n\n\n\n"), "rc %d: [%s]", rc, out);

    /* usage errors and help */
    rc = run_stdout(NABLA " augment-text --help");
    CHECK("--help: status 0, lists --aug, -n, --seed, --tsv", rc == 0 && strstr(out, "--aug") && strstr(out, "-n N") &&
                                                              strstr(out, "--seed") && strstr(out, "--tsv"),
          "rc %d", rc);
    rc = run(NABLA " augment-text --bogus --aug synonym");
    CHECK("unknown option: status 2 with the usage", rc == 2 && strstr(out, "--bogus") && strstr(out, "usage:"),
          "rc %d: %s", rc, out);
    rc = run("echo hi | " NABLA " augment-text");
    CHECK("no --aug: status 2", rc == 2 && strstr(out, "--aug SPEC is required"), "rc %d: %s", rc, out);
    rc = run("echo hi | " NABLA " augment-text --aug \"synonym(p=0.3), frobnicate\"");
    CHECK("unknown augmenter: status 2, named with its column",
          rc == 2 && strstr(out, "unknown text augmenter 'frobnicate' at column 17"), "rc %d: %s", rc, out);
    rc = run("echo hi | " NABLA " augment-text --aug \"random_swap(p=2)\"");
    CHECK("bad parameter value: status 2", rc == 2 && strstr(out, "must be in [0, 1]"), "rc %d: %s", rc, out);
    rc = run("echo hi | " NABLA " augment-text --aug random_swap -n 0");
    CHECK("-n 0: status 2", rc == 2 && strstr(out, "-n must be"), "rc %d: %s", rc, out);
    rc = run(NABLA " augment-text --aug random_swap /nonexistent/file.txt");
    CHECK("missing file: status 1 naming it", rc == 1 && strstr(out, "/nonexistent/file.txt"), "rc %d: %s", rc, out);

    /* missing WordNet: the message names the Debian package */
    rc = run("echo hi | WNSEARCHDIR=/nonexistent " NABLA " augment-text --aug synonym");
    CHECK("WordNet missing: status 1 and 'apt-get install wordnet-base'",
          rc == 1 && strstr(out, "apt-get install wordnet-base"), "rc %d: %s", rc, out);

    /* a 1,000-line file with -n 2 in one go */
    snprintf(path, sizeof path, "%s/big.txt", dir);
    FILE *f = fopen(path, "wb");
    for (int i = 0; f && i < 1000; i++) fprintf(f, "line %d has some words to shuffle around\n", i);
    if (f) fclose(f);
    rc = run_stdout(NABLA " augment-text --aug \"random_swap(p=0.3), ocr\" -n 2 --seed 5 %s | wc -l", path);
    CHECK("1,000 lines with -n 2: 2,000 lines out", rc == 0 && atoi(out) == 2000, "rc %d: %s", rc, out);

    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) printf("# could not remove %s\n", dir);
    CHECK_DONE();
}
