/* options.c - see options.h. */
#include "options.h"

#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { MAX_CONFIGS = 16 };
static char *config_text[MAX_CONFIGS]; /* the files' contents; string options point into them */
static int n_config_text;

/* Where each option given in a config file was set ("FILE:LINE"), for messages and
 * to refuse a key given twice; a command-line flag clears it (it overrides). */
enum { MAX_SET = 128 };
static struct {
    const void *dest;
    char where[300];
    char file[256];
    int line;
} set_at[MAX_SET];
static int n_set;

static int set_find(const void *dest)
{
    for (int i = 0; i < n_set; i++)
        if (set_at[i].dest == dest) return i;
    return -1;
}

const char *cli_where(const void *dest)
{
    int i = set_find(dest);
    return i >= 0 && set_at[i].where[0] ? set_at[i].where : "";
}

void cli_release(void)
{
    for (int i = 0; i < n_config_text; i++) free(config_text[i]);
    n_config_text = 0;
}

void cli_print_help(const char *cmd, const char *synopsis, const cli_option *opts)
{
    printf("usage: nabla %s %s\n\noptions:\n", cmd, synopsis);
    for (const cli_option *o = opts; o->name; o++) {
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        printf("  %-26s %s\n", left, o->help);
    }
    printf("  %-26s %s\n", "--config FILE", "read options from FILE (`key = value` lines, e.g. lr = 0.05);");
    printf("  %-26s %s\n", "", "flags on the command line override it");
    printf("  %-26s %s\n", "--help", "show this help");
}

static void usage_hint(const char *cmd) { fprintf(stderr, "run 'nabla %s --help' for the options\n", cmd); }

/* The option name closest to name (both with "--"), if close enough to be a typo. */
static const char *suggest(const cli_option *opts, const char *name)
{
    const char *best = NULL;
    int bd = 3;
    for (const cli_option *o = opts; o->name; o++) {
        int d = nb_edit_distance(name, o->name);
        if (d < bd) bd = d, best = o->name;
    }
    return best;
}

static const cli_option *find(const cli_option *opts, const char *name)
{
    while (opts->name && strcmp(opts->name, name)) opts++;
    return opts->name ? opts : NULL;
}

static int parse_long(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end) return 0;
    *out = v;
    return 1;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v)) return 0;
    *out = v;
    return 1;
}

static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (!strcasecmp(s, yes[i])) return *out = 1, 1;
        if (!strcasecmp(s, no[i])) return *out = 0, 1;
    }
    return 0;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = 0;
    return s;
}

/* Read one --config file into opts. */
static int read_config(const char *cmd, const cli_option *opts, const char *path)
{
    if (n_config_text == MAX_CONFIGS) {
        cli_error("%s: more than %d --config files", cmd, MAX_CONFIGS);
        return 2;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        cli_error("%s: --config: cannot read %s: %s", cmd, path, strerror(errno));
        return 2;
    }
    size_t cap = 4096, n = 0;
    char *text = malloc(cap);
    for (size_t got; text && (got = fread(text + n, 1, cap - n - 1, f)) > 0;) {
        n += got;
        if (n + 1 == cap) {
            char *t = realloc(text, cap *= 2);
            if (!t) free(text);
            text = t;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (!text || bad) {
        cli_error("%s: --config: cannot read %s", cmd, path);
        free(text);
        return 2;
    }
    text[n] = 0;
    config_text[n_config_text++] = text;
    const char *nul = memchr(text, 0, n);
    if (nul) { /* a value would end there silently */
        int l = 1;
        for (const char *q = text; q < nul; q++) l += *q == '\n';
        cli_error("%s: %s:%d: a NUL byte: a config file is text", cmd, path, l);
        return 2;
    }
    if (!strncmp(text, "\xEF\xBB\xBF", 3)) text += 3; /* a UTF-8 byte order mark */
    int lineno = 0;
    for (char *line = text, *next; line; line = next) {
        lineno++;
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        /* a comment: '#' at the start or after a space; a value starting with '"' runs to
         * the last '"' of the line (so every value cli_write_config quotes reads back) */
        char *from = line, *eq0 = strchr(line, '=');
        if (eq0 && line[strspn(line, " \t")] != '#') {
            char *v0 = eq0 + 1 + strspn(eq0 + 1, " \t"), *last = strrchr(v0, '"');
            if (*v0 == '"' && last > v0) from = last;
        }
        for (char *h = from; *h; h++)
            if (*h == '#' && (h == line || isspace((unsigned char)h[-1]))) {
                *h = 0;
                break;
            }
        char *s = trim(line);
        if (!*s) continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            cli_error("%s: %s:%d: expected 'key = value', got '%s'", cmd, path, lineno, s);
            return 2;
        }
        *eq = 0;
        char *key = trim(s), *v = trim(eq + 1);
        if (!strncmp(key, "--", 2)) key += 2;
        char name[72];
        snprintf(name, sizeof name, "--%s", key);
        const cli_option *o = find(opts, name);
        if (!o) {
            const char *s2 = suggest(opts, name);
            if (s2)
                cli_error("%s: %s:%d: unknown option '%s' (did you mean '%s'?)", cmd, path, lineno, key, s2 + 2);
            else
                cli_error("%s: %s:%d: unknown option '%s'", cmd, path, lineno, key);
            usage_hint(cmd);
            return 2;
        }
        int k = set_find(o->dest);
        if (k >= 0 && set_at[k].where[0]) {
            if (!strcmp(set_at[k].file, path))
                cli_error("%s: %s:%d: '%s' is given a second time (first at line %d); give each option once", cmd, path,
                          lineno, key, set_at[k].line);
            else
                cli_error("%s: %s:%d: '%s' is given a second time (first at %s:%d); give each option once", cmd, path,
                          lineno, key, set_at[k].file, set_at[k].line);
            return 2;
        }
        if (k < 0 && n_set < MAX_SET) k = n_set++;
        if (k >= 0) {
            set_at[k].dest = o->dest;
            snprintf(set_at[k].where, sizeof set_at[k].where, "%.250s:%d: ", path, lineno);
            snprintf(set_at[k].file, sizeof set_at[k].file, "%s", path);
            set_at[k].line = lineno;
        }
        size_t vn = strlen(v);
        int quoted = vn >= 2 && v[0] == '"' && v[vn - 1] == '"';
        if (quoted) v[vn - 1] = 0, v++;
        int ok = 1;
        if (o->kind == OPT_STRING)
            *(const char **)o->dest = *v || quoted ? v : NULL;
        else if (o->kind == OPT_FLAG)
            ok = parse_bool(v, (int *)o->dest);
        else if (o->kind == OPT_INT)
            ok = parse_long(v, (long *)o->dest);
        else
            ok = parse_double(v, (double *)o->dest);
        if (!ok) {
            cli_error("%s: %s:%d: %s needs %s, got '%s'", cmd, path, lineno, key,
                      o->kind == OPT_FLAG ? "true or false" : o->kind == OPT_INT ? "an integer" : "a number", v);
            return 2;
        }
    }
    return 0;
}

static int is_config(const char *a) { return !strcmp(a, "--config") || !strncmp(a, "--config=", 9); }

int cli_parse(const char *cmd, const char *synopsis, const cli_option *opts, int argc, char **argv,
              const char **pos, int max_pos, int *npos)
{
    if (npos) *npos = 0;
    n_set = 0;
    /* first --help and the --config files, stepping over other options' values */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            cli_print_help(cmd, synopsis, opts);
            return 1;
        }
        if (is_config(a)) {
            const char *path = a[8] == '=' ? a + 9 : i + 1 < argc ? argv[++i] : NULL;
            if (!path || !*path) {
                cli_error("%s: --config needs a value (FILE)", cmd);
                return 2;
            }
            int rc = read_config(cmd, opts, path);
            if (rc) return rc;
            continue;
        }
        const cli_option *o = a[0] == '-' && !strchr(a, '=') ? find(opts, a) : NULL;
        if (o && o->kind != OPT_FLAG) i++;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || !strcmp(a, "-")) {
            if (!pos || *npos >= max_pos) {
                cli_error("%s: unexpected argument '%s'", cmd, a);
                usage_hint(cmd);
                return 2;
            }
            pos[(*npos)++] = a;
            continue;
        }
        if (is_config(a)) { /* read above */
            i += a[8] != '=';
            continue;
        }
        /* --name=value or --name value */
        char name[64];
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        if (len >= sizeof name) len = sizeof name - 1;
        memcpy(name, a, len);
        name[len] = 0;
        const cli_option *o = find(opts, name);
        if (!o) {
            const char *s = suggest(opts, name);
            if (s)
                cli_error("%s: unknown option '%s' (did you mean '%s'?)", cmd, name, s);
            else
                cli_error("%s: unknown option '%s'", cmd, name);
            usage_hint(cmd);
            return 2;
        }
        if (o->kind == OPT_FLAG) {
            if (eq) {
                cli_error("%s: %s takes no value", cmd, name);
                return 2;
            }
            *(int *)o->dest = 1;
            continue;
        }
        int k = set_find(o->dest);
        if (k >= 0) set_at[k].where[0] = 0; /* the command line overrides the file */
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) {
            cli_error("%s: %s needs a value (%s)", cmd, name, o->arg ? o->arg : "value");
            usage_hint(cmd);
            return 2;
        }
        if (o->kind == OPT_INT) {
            if (!cli_int(name, v, (long *)o->dest)) return 2;
        } else if (o->kind == OPT_FLOAT) {
            if (!cli_float(name, v, (double *)o->dest)) return 2;
        } else {
            *(const char **)o->dest = v;
        }
    }
    return 0;
}

/* The shortest %g form that reads back as exactly v. */
static void format_double(double v, char *buf, size_t n)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v || !isfinite(v)) return;
    }
}

typedef struct {
    char *p;
    size_t n, cap;
    int failed;
} text_buf;

static void append(text_buf *b, const char *s)
{
    size_t ln = strlen(s);
    if (b->failed) return;
    if (b->n + ln + 1 > b->cap) {
        size_t cap = 2 * (b->n + ln + 1);
        char *t = realloc(b->p, cap);
        if (!t) {
            b->failed = 1;
            return;
        }
        b->p = t, b->cap = cap;
    }
    memcpy(b->p + b->n, s, ln + 1);
    b->n += ln;
}

int cli_write_config(const char *path, const char *cmd, const cli_option *opts, const char *header)
{
    text_buf b = {0};
    char line[4200], val[64];
    snprintf(line, sizeof line, "# %s\n", header ? header : cmd);
    append(&b, line);
    for (const cli_option *o = opts; o->name; o++) {
        const char *v = val;
        if (o->kind == OPT_FLAG)
            v = *(int *)o->dest ? "true" : "false";
        else if (o->kind == OPT_INT)
            snprintf(val, sizeof val, "%ld", *(long *)o->dest);
        else if (o->kind == OPT_FLOAT)
            format_double(*(double *)o->dest, val, sizeof val);
        else
            v = *(const char **)o->dest;
        if (!v) { /* an unset string option */
            snprintf(line, sizeof line, "%s =\n", o->name + 2);
        } else {
            /* quoted when it would not read back as itself */
            size_t vn = strlen(v);
            int q = !vn || strchr(v, '#') || isspace((unsigned char)v[0]) || isspace((unsigned char)v[vn - 1]) ||
                    v[0] == '"';
            snprintf(line, sizeof line, "%s = %s%.4000s%s\n", o->name + 2, q ? "\"" : "", v, q ? "\"" : "");
        }
        append(&b, line);
    }
    if (b.failed) {
        free(b.p);
        cli_error("%s: out of memory writing %s", cmd, path);
        return 1;
    }
    nb_status st = nb_write_file_atomic(path, b.p, b.n);
    free(b.p);
    if (st) {
        cli_error("%s: %s", cmd, nb_last_error());
        return 1;
    }
    return 0;
}

void cli_replace_ext(const char *path, const char *ext, char *out, size_t n)
{
    const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
    size_t keep = dot && dot > (slash ? slash : path) && dot[-1] != '/' ? (size_t)(dot - path) : strlen(path);
    snprintf(out, n, "%.*s%s", (int)keep, path, ext);
}
