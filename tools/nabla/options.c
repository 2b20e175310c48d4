/* options.c - see options.h. */
#include "options.h"

#include "cli.h"

#include <stdio.h>
#include <string.h>

void cli_print_help(const char *cmd, const char *synopsis, const cli_option *opts)
{
    printf("usage: nabla %s %s\n\noptions:\n", cmd, synopsis);
    for (const cli_option *o = opts; o->name; o++) {
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        printf("  %-26s %s\n", left, o->help);
    }
    printf("  %-26s %s\n", "--help", "show this help");
}

static void usage_hint(const char *cmd) { fprintf(stderr, "run 'nabla %s --help' for the options\n", cmd); }

int cli_parse(const char *cmd, const char *synopsis, const cli_option *opts, int argc, char **argv,
              const char **pos, int max_pos, int *npos)
{
    if (npos) *npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            cli_print_help(cmd, synopsis, opts);
            return 1;
        }
        if (a[0] != '-' || !strcmp(a, "-")) {
            if (!pos || *npos >= max_pos) {
                cli_error("%s: unexpected argument '%s'", cmd, a);
                usage_hint(cmd);
                return 2;
            }
            pos[(*npos)++] = a;
            continue;
        }
        /* --name=value or --name value */
        char name[64];
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        if (len >= sizeof name) len = sizeof name - 1;
        memcpy(name, a, len);
        name[len] = 0;
        const cli_option *o = opts;
        while (o->name && strcmp(o->name, name)) o++;
        if (!o->name) {
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
