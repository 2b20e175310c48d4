/* cmd_augment_text.c - `nabla augment-text`: augmented variants of every line of a
 * file (or stdin) on stdout, with nlpaug's augmenters named in a spec:
 *     nabla augment-text --aug "synonym(p=0.3), random_swap(p=0.1)" -n 3 --seed 1 FILE
 * Lines are read in batches, so back-translation makes two Apertium calls per batch.
 * With --tsv COL only that tab-separated column is augmented and the others (the
 * label) are copied, so a labelled dataset grows in one command. */
#include "cli.h"
#include "options.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SYNOPSIS "--aug SPEC [-n N] [--seed S] [--tsv COL] [FILE]"

typedef struct {
    char *line;       /* the whole input line without its '\n' */
    long lineno;
    char *col;        /* start of the augmented column inside line (NUL-cut in place) */
    char *prefix_end; /* line[0..prefix_end) precedes the column */
    char *rest;       /* what follows the column, from its '\t' (NULL: nothing) */
} in_line;

static void free_batch(in_line *b, long n)
{
    for (long i = 0; i < n; i++) free(b[i].line);
}

/* What one run needs besides the lines. */
typedef struct {
    nb_text_aug *aug;
    nb_rng rng;
    long variants, tsv, batch;
    int original, replace, header;
    const char *src; /* the input's name for messages */
} aug_run;

/* Like nlpaug's augment(n): redraw variants equal to the original or to an earlier
 * variant of the same line, up to 3 more rounds (each one batch); what is still equal
 * then is kept, so every line has exactly N variants. texts is scratch of n*variants. */
static void redraw_duplicates(aug_run *R, const in_line *b, long n, const char **texts, char **out)
{
    long variants = R->variants;
    long total = n * variants;
    long *redo = malloc(sizeof *redo * (size_t)(total > 0 ? total : 1));
    for (int round = 0; redo && variants > 0 && round < 3; round++) {
        long nr = 0;
        for (long i = 0; i < n; i++)
            for (long v = 0; v < variants; v++) {
                const char *x = out[i * variants + v];
                int dup = !strcmp(x, b[i].col);
                for (long u = 0; u < v && !dup; u++) dup = !strcmp(x, out[i * variants + u]);
                if (dup) {
                    redo[nr] = i * variants + v;
                    texts[nr++] = b[i].col;
                }
            }
        if (!nr) break;
        char **again = calloc((size_t)nr, sizeof *again);
        if (!again || nb_text_augment_batch(R->aug, texts, nr, &R->rng, again)) {
            free(again);
            break; /* keep what we have */
        }
        for (long k = 0; k < nr; k++) {
            free(out[redo[k]]);
            out[redo[k]] = again[k];
        }
        free(again);
    }
    free(redo);
}

/* Each line's variants (after the original with --include-original), the other TSV
 * columns around them. */
static void print_batch(const aug_run *R, const in_line *b, long n, char *const *out)
{
    for (long i = 0; i < n; i++) {
        for (long v = -1; v < R->variants; v++) {
            if (v < 0 && !R->original) continue;
            const char *text = v < 0 ? b[i].col : out[i * R->variants + v];
            fwrite(b[i].line, 1, (size_t)(b[i].prefix_end - b[i].line), stdout);
            fputs(text, stdout);
            if (b[i].rest) {
                putchar('\t');
                fputs(b[i].rest, stdout);
            }
            putchar('\n');
        }
    }
}

/* Print variants of batch[0..n): returns 0, or 1 on failure (message printed). */
static int run_batch(aug_run *R, in_line *b, long n)
{
    long total = n * R->variants;
    const char **texts = malloc(sizeof *texts * (size_t)(total ? total : 1));
    char **out = calloc((size_t)(total ? total : 1), sizeof *out);
    int rc = 0;
    if (!texts || !out) {
        cli_error("augment-text: out of memory");
        rc = 1;
    } else {
        for (long i = 0; i < n; i++)
            for (long v = 0; v < R->variants; v++) texts[i * R->variants + v] = b[i].col;
        if (nb_text_augment_batch(R->aug, texts, total, &R->rng, out)) {
            cli_error("augment-text: %s (lines %ld-%ld of %s)", nb_last_error(), b[0].lineno, b[n - 1].lineno, R->src);
            rc = 1;
        } else {
            redraw_duplicates(R, b, n, texts, out);
            print_batch(R, b, n, out);
            for (long i = 0; i < total; i++) free(out[i]);
        }
    }
    free(texts);
    free(out);
    return rc;
}

/* The option values in range: 0, or 2 (usage error, message printed). */
static int check_options(const char *spec, long variants, long tsv, long batch)
{
    if (!spec) {
        cli_error("augment-text: --aug SPEC is required, e.g. --aug \"synonym(p=0.3), random_swap(p=0.1)\"");
        fprintf(stderr, "usage: nabla augment-text " SYNOPSIS "\n");
        return 2;
    }
    if (variants < 1 || variants > 1000000) {
        cli_error("augment-text: -n must be between 1 and 1000000, got %ld", variants);
        return 2;
    }
    if (tsv < 0) {
        cli_error("augment-text: --tsv COL counts from 1, got %ld", tsv);
        return 2;
    }
    if (batch < 1 || batch > 10000000) {
        cli_error("augment-text: --batch must be between 1 and 10000000, got %ld", batch);
        return 2;
    }
    return 0;
}

/* The augmenters of spec into *aug: 0, or the exit status (message printed): a
 * malformed spec names its column, a usage error (2); otherwise it cannot run here,
 * e.g. WordNet or Apertium is not installed (1). */
static int open_augmenter(const char *spec, nb_text_aug **aug)
{
    if ((*aug = nb_text_aug_from_spec(spec))) return 0;
    cli_error("--aug: %s", nb_last_error());
    nb_status why = nb_last_status();
    if (why != NB_ERR_ARG && why != NB_ERR_FORMAT) return 1; /* a malformed spec (naming its column) is NB_ERR_ARG */
    fprintf(stderr, "usage: nabla augment-text " SYNOPSIS "\n");
    return 2;
}

/* One input line (len bytes, its '\n' cut) into *L: UTF-8 checked (or repaired with
 * --replace-invalid) and, with --tsv, the column found. 0, or 1 (message printed). */
static int take_line(const aug_run *R, const char *line, size_t len, long lineno, in_line *L)
{
    if (len != strlen(line)) {
        cli_error("augment-text: %s:%ld: the line holds a NUL byte", R->src, lineno);
        return 1;
    }
    int64_t bad = nb_utf8_check(line, len);
    if (bad >= 0 && !R->replace) {
        cli_error("augment-text: %s:%ld: invalid UTF-8 at byte %lld (--replace-invalid replaces bad bytes "
                  "with U+FFFD)",
                  R->src, lineno, (long long)bad + 1);
        return 1;
    }
    char *text = bad >= 0 ? nb_utf8_repair(line, len) : strdup(line);
    if (!text) {
        cli_error("augment-text: out of memory");
        return 1;
    }
    *L = (in_line){text, lineno, text, text, NULL};
    if (!R->tsv) return 0;
    char *c = text;
    for (long k = 1; k < R->tsv && c; k++) {
        c = strchr(c, '\t');
        if (c) c++;
    }
    if (!c) {
        cli_error("augment-text: %s:%ld: --tsv %ld but the line has fewer columns", R->src, lineno, R->tsv);
        free(text);
        return 1;
    }
    L->col = L->prefix_end = c;
    char *tab = strchr(c, '\t');
    if (tab) {
        *tab = 0;
        L->rest = tab + 1;
    }
    return 0;
}

/* Every line of in, batch by batch: 0, or 1 (message printed). */
static int augment_stream(aug_run *R, FILE *in)
{
    in_line *b = calloc((size_t)R->batch, sizeof *b);
    if (!b) {
        cli_error("augment-text: out of memory");
        return 1;
    }
    long nb = 0, lineno = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;
    while (!rc && (len = getline(&line, &cap, in)) >= 0) {
        lineno++;
        if (len > 0 && line[len - 1] == '\n') line[--len] = 0;
        if (R->header && lineno == 1) { /* copied as it is, once checked */
            in_line h;
            if (!(rc = take_line(&(aug_run){.src = R->src, .replace = R->replace}, line, (size_t)len, lineno, &h))) {
                puts(h.line);
                free(h.line);
            }
            continue;
        }
        if ((rc = take_line(R, line, (size_t)len, lineno, &b[nb]))) break;
        if (++nb == R->batch) {
            rc = run_batch(R, b, nb);
            free_batch(b, nb);
            nb = 0;
        }
    }
    if (!rc && ferror(in)) {
        cli_error("augment-text: error reading %s: %s", R->src, strerror(errno));
        rc = 1;
    }
    if (!rc && nb) rc = run_batch(R, b, nb);
    free_batch(b, nb);
    free(b);
    free(line);
    return rc;
}

int cmd_augment_text(int argc, char **argv)
{
    const char *spec = NULL;
    long variants = 1, seed = 0, tsv = 0, batch = 10000;
    int replace = 0, original = 0, header = 0;
    const cli_option opts[] = {
        {"--aug", OPT_STRING, &spec, "SPEC",
         "augmenters, e.g. \"synonym(p=0.3), random_swap(p=0.1)\" (see docs/text-augmentation.md)"},
        {"-n", OPT_INT, &variants, "N", "augmented variants per line (1), redrawn up to 3 times to differ"},
        {"--seed", OPT_INT, &seed, "S", "random seed (0); the same seed gives the same output"},
        {"--tsv", OPT_INT, &tsv, "COL", "input is tab-separated: augment column COL (1-based), copy the others"},
        {"--header", OPT_FLAG, &header, NULL, "copy the first line as it is (a TSV header)"},
        {"--include-original", OPT_FLAG, &original, NULL, "print each original line before its variants"},
        {"--replace-invalid", OPT_FLAG, &replace, NULL,
         "replace invalid UTF-8 by U+FFFD instead of stopping with an error"},
        {"--batch", OPT_INT, &batch, "LINES", "lines augmented together, e.g. per Apertium call (10000)"},
        {NULL, 0, NULL, NULL, NULL},
    };
    const char *pos[1];
    int npos = 0;
    int rc = cli_parse("augment-text", SYNOPSIS, opts, argc, argv, pos, 1, &npos);
    if (rc == 1) return 0;
    if (rc) {
        fprintf(stderr, "usage: nabla augment-text " SYNOPSIS "\n");
        return rc;
    }
    aug_run R = {.variants = variants, .tsv = tsv, .batch = batch, .original = original, .replace = replace,
                 .header = header};
    if ((rc = check_options(spec, variants, tsv, batch)) || (rc = open_augmenter(spec, &R.aug))) return rc;
    R.src = npos && strcmp(pos[0], "-") ? pos[0] : "<stdin>";
    FILE *in = npos && strcmp(pos[0], "-") ? fopen(pos[0], "rb") : stdin;
    if (!in) {
        cli_error("augment-text: cannot open %s: %s", pos[0], strerror(errno));
        nb_text_aug_free(R.aug);
        return 1;
    }
    nb_rng_seed(&R.rng, (uint64_t)seed);
    rc = augment_stream(&R, in);
    if (in != stdin) fclose(in);
    if (fflush(stdout) || ferror(stdout)) {
        cli_error("augment-text: error writing the output: %s", strerror(errno));
        rc = 1;
    }
    nb_text_aug_free(R.aug);
    return rc;
}
