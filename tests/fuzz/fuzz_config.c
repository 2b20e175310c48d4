/* fuzz_config.c - libFuzzer target for the CLI's config files (`--config FILE`,
 * tools/nabla/options.c, compiled into this target): the input is read as a config
 * for a command with options of every kind (flag, integer, number, string), then
 * written back with cli_write_config (to a memfd), and that is read again: what
 * nabla writes must read back. */
#include "../../tools/nabla/options.c"

#include "fuzz_common.h"

#include <stdarg.h>

/* main.c's helpers, quiet */
void cli_error(const char *fmt, ...) { (void)fmt; }
int cli_int(const char *opt, const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || errno || end == s || *end) return 0;
    *out = v;
    return 1;
}
int cli_float(const char *opt, const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = s ? strtod(s, &end) : 0;
    if (!s || errno || end == s || *end || !isfinite(v)) return 0;
    *out = v;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_file(data, size, path);
    if (fd < 0) return 0;
    const char *model = "cnn", *name = NULL;
    long epochs = 10, seed = 0;
    double lr = 0.05, wd = 0;
    int quiet = 0;
    const cli_option opts[] = {
        {"--model", OPT_STRING, &model, "NAME", "model"}, {"--epochs", OPT_INT, &epochs, "N", "epochs"},
        {"--seed", OPT_INT, &seed, "S", "seed"},          {"--lr", OPT_FLOAT, &lr, "X", "lr"},
        {"--weight-decay", OPT_FLOAT, &wd, "W", "wd"},    {"--quiet", OPT_FLAG, &quiet, NULL, "quiet"},
        {"--name", OPT_STRING, &name, "S", "a string"},   {NULL, 0, NULL, NULL, NULL},
    };
    char *argv[] = {"train", "--config", path, NULL};
    int rc = cli_parse("train", "", opts, 3, argv, NULL, 0, NULL);
    if (rc == 0) {
        /* written and read back: the same values */
        char back[128]; /* in memory where there is a tmpfs: the write fsyncs */
        snprintf(back, sizeof back, "%s/nb_fuzz_conf_%ld.conf", access("/dev/shm", W_OK) ? "/tmp" : "/dev/shm",
                 (long)getpid());
        if (!cli_write_config(back, "train", opts, "fuzz")) {
            long e0 = epochs, s0 = seed;
            double l0 = lr, w0 = wd;
            int q0 = quiet;
            char m0[4200], n0[4200];
            snprintf(m0, sizeof m0, "%.4000s", model ? model : "(null)");
            snprintf(n0, sizeof n0, "%.4000s", name ? name : "(null)");
            cli_release();
            char *argv2[] = {"train", "--config", back, NULL};
            if (cli_parse("train", "", opts, 3, argv2, NULL, 0, NULL)) __builtin_trap();
            char m1[4200], n1[4200];
            snprintf(m1, sizeof m1, "%.4000s", model ? model : "(null)");
            snprintf(n1, sizeof n1, "%.4000s", name ? name : "(null)");
            if (e0 != epochs || s0 != seed || l0 != lr || w0 != wd || q0 != quiet) __builtin_trap();
            if (strlen(m0) < 4000 && strlen(n0) < 4000 && (strcmp(m0, m1) || strcmp(n0, n1))) __builtin_trap();
            unlink(back);
        }
    }
    cli_release();
    close(fd);
    return 0;
}
