/* options.h - table-driven option parsing for the CLI commands: one table per
 * command gives each option's name, kind, destination and help line, so help
 * text and parsing never disagree. */
#ifndef NB_CLI_OPTIONS_H
#define NB_CLI_OPTIONS_H

typedef enum { OPT_FLAG, OPT_INT, OPT_FLOAT, OPT_STRING } opt_kind;

typedef struct {
    const char *name; /* "--epochs" */
    opt_kind kind;
    void *dest;       /* int*, long*, double*, const char** */
    const char *arg;  /* "N" shown in help */
    const char *help;
} cli_option;

/* Parse argv[1..]; positional arguments go to pos (up to max_pos, count in *npos;
 * pos may be NULL when none are allowed). Returns 0 ok, 1 --help printed, 2 usage error (printed). */
int cli_parse(const char *cmd, const char *synopsis, const cli_option *opts, int argc, char **argv,
              const char **pos, int max_pos, int *npos);
void cli_print_help(const char *cmd, const char *synopsis, const cli_option *opts);

#endif
