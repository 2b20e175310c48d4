/* main.c - `nabla COMMAND [options]`: dispatch to the command files. */
#include "cli.h"
#include "options.h"

#include <math.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"train", cmd_train, "train a model on a dataset"},
    {"eval", cmd_eval, "evaluate saved weights on the test set (--confusion: confusion matrix)"},
    {"predict", cmd_predict, "classify image files with saved weights (top-5 classes and probabilities)"},
    {"plot", cmd_plot, "draw loss and accuracy curves from `train --log-json` logs as a PNG"},
    {"bench", cmd_bench, "measure training throughput, inference latency and memory"},
    {"embed", cmd_embed, "write penultimate-layer features of a dataset as .npy"},
    {"augment", cmd_augment, "draw a PNG grid of samples beside their augmented versions"},
    {"augment-text", cmd_augment_text, "augment the lines of a text file (nlpaug augmenters, WordNet, Apertium)"},
    {"run", cmd_run, "run an ONNX model, a built-in or model file, or a model directory on .npy inputs (or text)"},
    {"export", cmd_export, "write a model (built-in, model file, text model or imported) as an ONNX file"},
    {"generate", cmd_generate, "sample a continuation of a prompt from a GPT-2 model directory"},
    {"tokenize", cmd_tokenize, "print the token ids of text lines with a model directory's BERT or GPT-2 tokenizer"},
    {"info", cmd_info, "describe a model file (.nbm: layers, shapes, parameters) or a safetensors file"},
};
#define NCOMMANDS (int)(sizeof commands / sizeof commands[0])

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("nabla: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_int(const char *opt, const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || errno || end == s || *end) {
        cli_error("%s needs an integer, got '%s'", opt, s ? s : "");
        return 0;
    }
    *out = v;
    return 1;
}

int cli_float(const char *opt, const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = s ? strtod(s, &end) : 0;
    if (!s || errno || end == s || *end || !isfinite(v)) {
        cli_error("%s needs a finite number, got '%s'", opt, s ? s : "");
        return 0;
    }
    *out = v;
    return 1;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: nabla COMMAND [options]   (nabla COMMAND --help for its options)\n\ncommands:\n");
    for (int i = 0; i < NCOMMANDS; i++) fprintf(f, "  %-14s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv)
{
    cli_wait_policy(argv);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("nabla %s\n", NB_VERSION);
        return 0;
    }
    for (int i = 0; i < NCOMMANDS; i++)
        if (!strcmp(argv[1], commands[i].name)) {
            int rc = commands[i].run(argc - 1, argv + 1);
            cli_release();
            return rc;
        }
    cli_error("unknown command '%s'", argv[1]);
    usage(stderr);
    return 2;
}
