/* cli.h - helpers shared by the tests that run the nabla command through the shell
 * or write temporary files: the binary's path, run() capturing its output, a
 * temporary directory with paths in it, small text files, the Fashion-MNIST check.
 * Included by tests only (tests/check.h keeps the CHECK macros). */
#ifndef NB_TEST_CLI_H
#define NB_TEST_CLI_H
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* The CLI of the build under test: the sanitizer build runs build-san/nabla. */
#ifdef __SANITIZE_ADDRESS__
#define NABLA "build-san/nabla"
#else
#define NABLA "build/nabla"
#endif

#define FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

/* Is Fashion-MNIST installed (apt-get install dataset-fashion-mnist)? */
static inline int have_fashion_mnist(void)
{
    return access(FASHION_MNIST_DIR "/train-images-idx3-ubyte.gz", R_OK) == 0;
}

/* The output of the last run() or run_stdout(), NUL-terminated (cut at 1 MiB). */
static char out[1 << 20];

static inline int run_v_(const char *redirect, const char *fmt, va_list ap)
{
    char cmd[8192];
    int n = vsnprintf(cmd, sizeof cmd, fmt, ap);
    if (n < 0 || (size_t)n + strlen(redirect) >= sizeof cmd) {
        snprintf(out, sizeof out, "run: command too long");
        return -1;
    }
    strcat(cmd, redirect);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t got = fread(out, 1, sizeof out - 1, p);
    out[got] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Run a shell command line (printf-style), capture stdout+stderr into out; the exit
 * status, or -1 when it could not run or did not exit (killed by a signal). */
static inline int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int run(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = run_v_(" 2>&1", fmt, ap);
    va_end(ap);
    return rc;
}

/* As run(), capturing stdout only (stderr goes to /dev/null). */
static inline int run_stdout(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int run_stdout(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = run_v_(" 2>/dev/null", fmt, ap);
    va_end(ap);
    return rc;
}

/* This run's temporary directory, made by tmp_dir_init(). */
static char tmp_dir[256];

/* Make a new directory /tmp/nb_<name>_XXXXXX (mkdtemp); 0 on success. */
static inline int tmp_dir_init(const char *name)
{
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/nb_%s_XXXXXX", name);
    return mkdtemp(tmp_dir) ? 0 : -1;
}

/* tmp_dir/name; the last 8 results stay valid. */
static inline const char *tmp_path(const char *name)
{
    static char buf[8][512];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 512, "%s/%s", tmp_dir, name);
    return p;
}

/* The whole of a small file of the temporary directory (up to 16 KiB), or "" */
static inline const char *read_text(const char *name)
{
    static char buf[16384];
    buf[0] = 0;
    FILE *f = fopen(tmp_path(name), "r");
    if (f) {
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = 0;
        fclose(f);
    }
    return buf;
}

/* rm -rf the temporary directory; the status of system(). */
static inline int tmp_dir_remove(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
    return system(cmd);
}

/* Write text to path; 0 on success. */
static inline int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f) ? -1 : 0;
}

#endif
