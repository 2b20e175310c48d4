/* cmd_tokenize.c - `nabla tokenize --model DIR [FILE]`: the token ids of each line of
 * a file (or stdin) with the model directory's tokenizer (BERT's vocab.txt or GPT-2's
 * vocab.json + merges.txt), one line of space-separated ids per input line, as Hugging
 * Face's tokenizer(line)["input_ids"] (BERT with [CLS]/[SEP] unless --no-special).
 * --pair reads "A<TAB>B" lines as pairs; --tokens prints the tokens instead of ids;
 * --types and --mask print token types and the attention mask on lines of their own. */
#include "cli.h"
#include "options.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SYNOPSIS "--model DIR [--pair] [--max-length N] [--pad-to N] [--no-special] [--tokens] [--types] [--mask] [FILE]"

static void print_row(const int64_t *v, int64_t n)
{
    for (int64_t i = 0; i < n; i++) printf(i ? " %lld" : "%lld", (long long)v[i]);
    putchar('\n');
}

int cmd_tokenize(int argc, char **argv)
{
    const char *model = NULL;
    long max_length = 0, pad_to = 0;
    int pair = 0, no_special = 0, tokens = 0, types = 0, mask = 0;
    const cli_option opts[] = {
        {"--model", OPT_STRING, &model, "DIR", "a model directory with vocab.txt, or vocab.json and merges.txt"},
        {"--pair", OPT_FLAG, &pair, NULL, "lines are \"A<TAB>B\" pairs (BERT: [CLS] A [SEP] B [SEP], types 0 and 1)"},
        {"--max-length", OPT_INT, &max_length, "N", "truncate to N ids, special tokens included (longest first)"},
        {"--pad-to", OPT_INT, &pad_to, "N", "pad to N ids ([PAD]; GPT-2: <|endoftext|>)"},
        {"--no-special", OPT_FLAG, &no_special, NULL, "no [CLS]/[SEP]"},
        {"--tokens", OPT_FLAG, &tokens, NULL, "print the tokens instead of their ids"},
        {"--types", OPT_FLAG, &types, NULL, "print the token types on a second line"},
        {"--mask", OPT_FLAG, &mask, NULL, "print the attention mask on a further line"},
        {NULL, 0, NULL, NULL, NULL},
    };
    const char *pos[1];
    int npos = 0;
    int rc = cli_parse("tokenize", SYNOPSIS, opts, argc, argv, pos, 1, &npos);
    if (rc == 1) return 0;
    if (rc || !model) {
        if (!rc) cli_error("tokenize: --model DIR is required");
        fprintf(stderr, "usage: nabla tokenize " SYNOPSIS "\n");
        return 2;
    }
    if (max_length < 0 || pad_to < 0) {
        cli_error("tokenize: --max-length and --pad-to must be >= 0");
        return 2;
    }
    nb_tokenizer *t = nb_tokenizer_from_dir(model);
    if (!t) {
        cli_error("tokenize: %s", nb_last_error());
        return 1;
    }
    const char *src = npos && strcmp(pos[0], "-") ? pos[0] : "<stdin>";
    FILE *in = npos && strcmp(pos[0], "-") ? fopen(pos[0], "rb") : stdin;
    if (!in) {
        cli_error("tokenize: cannot open %s: %s", pos[0], strerror(errno));
        nb_tokenizer_free(t);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    nb_encode_opts eo = {.max_length = max_length, .pad_to = pad_to, .no_special_tokens = no_special};
    while ((len = getline(&line, &cap, in)) >= 0) {
        lineno++;
        if (len > 0 && line[len - 1] == '\n') line[--len] = 0;
        if (len > 0 && line[len - 1] == '\r') line[--len] = 0;
        char *b = NULL;
        if (pair) {
            b = strchr(line, '\t');
            if (!b) {
                cli_error("tokenize: %s:%ld: --pair needs \"A<TAB>B\"", src, lineno);
                rc = 1;
                break;
            }
            *b++ = 0;
        }
        nb_encoding e;
        if (nb_tokenizer_encode_pair(t, line, b, &eo, &e)) {
            cli_error("tokenize: %s:%ld: %s", src, lineno, nb_last_error());
            rc = 1;
            break;
        }
        if (tokens) {
            for (int64_t i = 0; i < e.n; i++) {
                if (i) putchar(' ');
                fputs(nb_tokenizer_id_to_token(t, e.ids[i]), stdout);
            }
            putchar('\n');
        } else {
            print_row(e.ids, e.n);
        }
        if (types) print_row(e.type_ids, e.n);
        if (mask) print_row(e.mask, e.n);
        nb_encoding_free(&e);
    }
    free(line);
    if (in != stdin) fclose(in);
    nb_tokenizer_free(t);
    return rc;
}
