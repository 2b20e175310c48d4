/* cmd_plot.c - `nabla plot LOG.jsonl... --out FILE.png`: training curves from the
 * JSON-lines logs of `nabla train --log-json`. Two panels, loss and accuracy per
 * epoch (train dashed, test solid), the per-step losses faint behind when the log
 * has them (--log-every); several logs are overlaid, one colour per file. */
#include "cli.h"
#include "options.h"
#include "plot.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *SYNOPSIS = "LOG.jsonl [LOG2.jsonl ...] --out FILE.png [--title TEXT]";

#define MAX_LOGS 10

/* The fields of one log line that the plot uses; NAN when absent. */
enum { F_EPOCH, F_STEP, F_LOSS, F_TRAIN_LOSS, F_TRAIN_ACC, F_TEST_LOSS, F_TEST_ACC, NFIELDS };
static const char *const FIELD_NAMES[NFIELDS] = {"epoch", "step", "loss", "train_loss", "train_acc", "test_loss",
                                                 "test_acc"};

typedef struct {
    const char *path;
    char name[120]; /* the file name without directories and .jsonl/.json, for the legend */
    /* per epoch (sorted by epoch; a repeated epoch keeps its last line) */
    double *epoch, *train_loss, *train_acc, *test_loss, *test_acc;
    int nepochs;
    /* per step: x in epochs (step / steps per epoch), loss */
    double *step_x, *step_loss;
    int nsteps;
} run_log;

/* ---- one log line: a JSON object (cJSON), numbers kept by field name ---- */

/* line with the bare words printf writes for non-finite losses made JSON: nan and -nan
 * become null (a NAN field reads as absent), inf and -inf become 1e999 and -1e999 (which
 * read as infinities); NULL when out of memory. */
static char *nonfinite_to_json(const char *line)
{
    size_t n = strlen(line);
    char *out = malloc(2 * n + 1), *o = out;
    if (!out) return NULL;
    int in_str = 0;
    for (const char *p = line; *p;) {
        if (in_str) {
            if (*p == '\\' && p[1]) *o++ = *p++;
            else if (*p == '"') in_str = 0;
            *o++ = *p++;
        } else if (*p == '"') {
            in_str = 1;
            *o++ = *p++;
        } else if (!strncmp(p, "nan", 3) || !strncmp(p, "-nan", 4)) {
            p += *p == '-' ? 4 : 3;
            memcpy(o, "null", 4), o += 4;
        } else if (!strncmp(p, "inf", 3)) {
            p += 3;
            memcpy(o, "1e999", 5), o += 5;
        } else {
            *o++ = *p++;
        }
    }
    *o = 0;
    return out;
}

/* What is wrong at byte err of a line cJSON refused. */
static void describe(const char *line, const char *err, char *why, size_t n)
{
    int col = (int)(err - line) + 1;
    const char *q = err;
    while (q > line && strchr(" \t\r\n", q[-1])) q--;
    if (!*err || *err == '\n' || *err == '\r') {
        snprintf(why, n, "the line ends early at column %d", col);
        return;
    }
    if (q > line && q[-1] == '"') { /* after a string: was it a key? */
        const char *open = q - 2;
        while (open > line && !(open[0] == '"' && open[-1] != '\\')) open--;
        const char *b = open;
        while (b > line && strchr(" \t\r\n", b[-1])) b--;
        if (b > line && (b[-1] == '{' || b[-1] == ',')) {
            snprintf(why, n, "expected ':' after a key at column %d", col);
            return;
        }
    }
    snprintf(why, n, "unexpected '%c' at column %d", *err, col);
}

/* One line: a JSON object; its known fields in fields[] (NAN when absent or not a
 * number). */
static int parse_line(const char *line, double fields[NFIELDS], char *why, size_t n)
{
    for (int f = 0; f < NFIELDS; f++) fields[f] = NAN;
    char *text = nonfinite_to_json(line);
    if (!text) {
        snprintf(why, n, "out of memory");
        return 0;
    }
    const char *end = NULL;
    cJSON *o = cJSON_ParseWithOpts(text, &end, 1);
    int ok = o && cJSON_IsObject(o);
    if (!o) describe(text, end ? end : text, why, n);
    else if (!ok) snprintf(why, n, "expected a JSON object '{' at column %d", (int)strspn(text, " \t") + 1);
    for (int f = 0; ok && f < NFIELDS; f++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, FIELD_NAMES[f]);
        if (cJSON_IsNumber(v)) fields[f] = v->valuedouble;
    }
    cJSON_Delete(o);
    free(text);
    return ok;
}

/* ---- reading a log ---- */

static int grow(double **a, int n)
{
    if (n & (n - 1) && n) return 1; /* capacity doubles at powers of two */
    double *b = realloc(*a, sizeof *b * (size_t)(n ? 2 * n : 16));
    if (!b) return 0;
    *a = b;
    return 1;
}

static void free_log(run_log *r)
{
    free(r->epoch), free(r->train_loss), free(r->train_acc), free(r->test_loss), free(r->test_acc);
    free(r->step_x), free(r->step_loss);
}

/* Read path into r; 0, or 1 after printing an error naming the file (and line). */
static int read_log(const char *path, run_log *r)
{
    memset(r, 0, sizeof *r);
    r->path = path;
    snprintf(r->name, sizeof r->name, "%s", strrchr(path, '/') ? strrchr(path, '/') + 1 : path);
    char *dot = strrchr(r->name, '.');
    if (dot && dot != r->name && (!strcmp(dot, ".jsonl") || !strcmp(dot, ".json"))) *dot = 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        cli_error("plot: cannot read %s: %s", path, strerror(errno));
        return 1;
    }
    char *line = NULL, why[200];
    size_t cap = 0;
    long lineno = 0;
    double *step = NULL, *step_epoch = NULL;
    int rc = 1, nlines = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (strspn(line, " \t\r\n") == (size_t)len) continue; /* blank */
        double v[NFIELDS];
        if (!parse_line(line, v, why, sizeof why)) {
            cli_error("plot: %s:%ld: not a JSON object: %s", path, lineno, why);
            goto done;
        }
        nlines++;
        if (!isnan(v[F_STEP])) { /* {"step", "epoch", "loss", "lr"} */
            if (isnan(v[F_LOSS])) continue;
            if (!grow(&step, r->nsteps) || !grow(&step_epoch, r->nsteps) || !grow(&r->step_loss, r->nsteps))
                goto oom;
            step[r->nsteps] = v[F_STEP];
            step_epoch[r->nsteps] = v[F_EPOCH];
            r->step_loss[r->nsteps++] = v[F_LOSS];
        } else if (!isnan(v[F_EPOCH])) { /* the epoch summary */
            int i = 0;
            while (i < r->nepochs && r->epoch[i] < v[F_EPOCH]) i++;
            if (i == r->nepochs || r->epoch[i] != v[F_EPOCH]) { /* insert at i */
                if (!grow(&r->epoch, r->nepochs) || !grow(&r->train_loss, r->nepochs) ||
                    !grow(&r->train_acc, r->nepochs) || !grow(&r->test_loss, r->nepochs) ||
                    !grow(&r->test_acc, r->nepochs))
                    goto oom;
                double **cols[5] = {&r->epoch, &r->train_loss, &r->train_acc, &r->test_loss, &r->test_acc};
                for (int c = 0; c < 5; c++)
                    memmove(*cols[c] + i + 1, *cols[c] + i, sizeof(double) * (size_t)(r->nepochs - i));
                r->nepochs++;
            }
            r->epoch[i] = v[F_EPOCH];
            r->train_loss[i] = v[F_TRAIN_LOSS];
            r->train_acc[i] = v[F_TRAIN_ACC];
            r->test_loss[i] = v[F_TEST_LOSS];
            r->test_acc[i] = v[F_TEST_ACC];
        }
    }
    if (ferror(f)) {
        cli_error("plot: cannot read %s: %s", path, strerror(errno));
        goto done;
    }
    if (!nlines) {
        cli_error("plot: %s is empty (write it with `nabla train --log-json %s`)", path, path);
        goto done;
    }
    if (!r->nepochs && !r->nsteps) {
        cli_error("plot: %s has no epoch or step lines (objects with \"epoch\" or \"step\", as `nabla train "
                  "--log-json` writes)", path);
        goto done;
    }
    /* steps per epoch: every step s of epoch e has (e-1)*S < s <= e*S, so S >= s/e */
    if (r->nsteps > 0) {
        double spe = 0;
        for (int i = 0; i < r->nsteps; i++)
            if (step_epoch[i] >= 1) spe = fmax(spe, ceil(step[i] / step_epoch[i]));
        if (!(r->step_x = malloc(sizeof(double) * (size_t)r->nsteps))) goto oom;
        for (int i = 0; i < r->nsteps; i++) r->step_x[i] = spe > 0 ? step[i] / spe : NAN;
    }
    rc = 0;
    goto done;
oom:
    cli_error("plot: out of memory reading %s", path);
done:
    free(line);
    free(step);
    free(step_epoch);
    fclose(f);
    if (rc) free_log(r);
    return rc;
}

int cmd_plot(int argc, char **argv)
{
    const char *out = NULL, *title = NULL, *files[MAX_LOGS + 1];
    long width = 1200, height = 500;
    int nfiles = 0;
    const cli_option opts[] = {
        {"--out", OPT_STRING, &out, "FILE", "PNG file to write (required)"},
        {"--title", OPT_STRING, &title, "TEXT", "figure title (default: the log's name)"},
        {"--width", OPT_INT, &width, "W", "image width in pixels (1200)"},
        {"--height", OPT_INT, &height, "H", "image height in pixels (500)"},
        {NULL, 0, NULL, NULL, NULL},
    };
    int rc = cli_parse("plot", SYNOPSIS, opts, argc, argv, files, MAX_LOGS + 1, &nfiles);
    if (rc) return rc == 1 ? 0 : rc;
    if (!nfiles || !out) {
        cli_error("plot: a log file (from `nabla train --log-json FILE`) and --out FILE.png are required");
        return 2;
    }
    if (nfiles > MAX_LOGS) {
        cli_error("plot: at most %d logs in one figure", MAX_LOGS);
        return 2;
    }
    if (width < 300 || height < 200 || width > 8000 || height > 8000) {
        cli_error("plot: --width must be 300..8000 and --height 200..8000 pixels");
        return 2;
    }
    run_log logs[MAX_LOGS];
    for (int i = 0; i < nfiles; i++)
        if (read_log(files[i], &logs[i])) {
            while (i--) free_log(&logs[i]);
            return 1;
        }
    /* per panel: for each log a train line, a test line (and the step losses on the loss panel) */
    plot_line loss[3 * MAX_LOGS], acc[2 * MAX_LOGS];
    char labels[MAX_LOGS][2][160];
    int nl = 0, na = 0, one = nfiles == 1;
    for (int i = 0; i < nfiles; i++) {
        run_log *r = &logs[i];
        snprintf(labels[i][0], sizeof labels[i][0], "%s%strain", one ? "" : r->name, one ? "" : " ");
        snprintf(labels[i][1], sizeof labels[i][1], "%s%stest", one ? "" : r->name, one ? "" : " ");
        int ctrain = one ? 0 : i, ctest = one ? 1 : i;
        int markers = r->nepochs <= 30;
        if (r->nsteps)
            loss[nl++] = (plot_line){.x = r->step_x, .y = r->step_loss, .n = r->nsteps, .color = ctrain, .faint = 1};
        loss[nl++] = (plot_line){labels[i][0], r->epoch, r->train_loss, r->nepochs, ctrain, !one, 0, markers};
        loss[nl++] = (plot_line){labels[i][1], r->epoch, r->test_loss, r->nepochs, ctest, 0, 0, markers};
        acc[na++] = (plot_line){labels[i][0], r->epoch, r->train_acc, r->nepochs, ctrain, !one, 0, markers};
        acc[na++] = (plot_line){labels[i][1], r->epoch, r->test_acc, r->nepochs, ctest, 0, 0, markers};
    }
    const plot_panel panels[2] = {
        {.title = "Loss", .xlabel = "epoch", .ylabel = "cross-entropy", .lines = loss, .nlines = nl,
         .integer_x = 1, .empty = "no loss in the log"},
        {.title = "Accuracy", .xlabel = "epoch", .ylabel = "accuracy (%)", .lines = acc, .nlines = na,
         .percent = 1, .integer_x = 1, .empty = "no per-epoch accuracy in the log"},
    };
    char deftitle[320];
    if (!title) {
        if (nfiles == 2) snprintf(deftitle, sizeof deftitle, "Training curves: %s vs %s", logs[0].name, logs[1].name);
        else
            snprintf(deftitle, sizeof deftitle, one ? "Training curves: %s" : "Training curves: %s and %d more",
                     logs[0].name, nfiles - 1);
        title = deftitle;
    }
    rc = plot_panels_png(out, title, panels, 2, (int)width, (int)height);
    if (!rc) printf("wrote %s (%ldx%ld)\n", out, width, height);
    for (int i = 0; i < nfiles; i++) free_log(&logs[i]);
    return rc;
}
