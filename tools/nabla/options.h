/* options.h - table-driven option parsing for the CLI commands: one table per
 * command gives each option's name, kind, destination and help line, so help
 * text, parsing, config files and the saved effective config never disagree. */
#ifndef NB_CLI_OPTIONS_H
#define NB_CLI_OPTIONS_H
#include <stddef.h>

typedef enum { OPT_FLAG, OPT_INT, OPT_FLOAT, OPT_STRING } opt_kind;

typedef struct {
    const char *name; /* "--epochs" */
    opt_kind kind;
    void *dest;       /* int* (OPT_FLAG), long*, double*, const char** (NULL: not set) */
    const char *arg;  /* "N" shown in help */
    const char *help;
} cli_option;

/* Parse argv[1..]; positional arguments go to pos (up to max_pos, count in *npos;
 * pos may be NULL when none are allowed). Every command also takes --config FILE:
 * `key = value` lines (key: an option's name without "--"; flags true/false; `#`
 * comments; an empty value leaves a string option unset), read before the command
 * line so that flags override the file wherever they stand. String values from a
 * file stay valid until cli_release(). Returns 0 ok, 1 --help printed, 2 usage
 * error (printed, a file's errors with file and line). */
int cli_parse(const char *cmd, const char *synopsis, const cli_option *opts, int argc, char **argv,
              const char **pos, int max_pos, int *npos);
void cli_print_help(const char *cmd, const char *synopsis, const cli_option *opts);
/* Free what cli_parse kept of config files (main calls it after the command). */
void cli_release(void);
/* "FILE:LINE: " when the option whose value is at dest was set by a config file
 * (and not overridden on the command line), else "": for messages about its value. */
const char *cli_where(const void *dest);
/* Write every option's current value in the --config format (unset strings as
 * `key =`), atomically, to path; header is a comment line or NULL. Returns 0, or 1
 * after printing an error. */
int cli_write_config(const char *path, const char *cmd, const cli_option *opts, const char *header);
/* path with its extension (after the last '.' of the file name) replaced by ext,
 * e.g. ("w.safetensors", ".conf") -> "w.conf"; out of n bytes. */
void cli_replace_ext(const char *path, const char *ext, char *out, size_t n);

#endif
