/* backtranslate.c - BackTranslationAug through Apertium: source -> pivot -> source
 * with `apertium -u MODE` (Debian's apertium and apertium-eng-spa), many lines per
 * process. A batch of texts is written to one `apertium` process as lines, and the
 * output is split by lines again (Apertium keeps line breaks); if the line count
 * ever differs, the batch is halved and retried so one odd text cannot misalign the
 * others. Blank texts are not sent. Leading/trailing whitespace of each text is kept
 * from the original and each translated line is trimmed (Apertium adds a space after
 * a sentence end at a line break).
 *
 * The process is started with posix_spawnp (no shell) with three pipes, written and
 * drained with poll() so neither side blocks. stdin must be a pipe (apertium opens
 * /dev/stdin, which a socket cannot be); SIGPIPE is blocked in this thread while we
 * write and a pending one consumed after, so a child that dies early gives EPIPE and
 * a message, never a killed process. */
#include "text/text.h"
#include "core/error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h> /* environ, with _GNU_SOURCE */

#define DEFAULT_DATA_DIR "/usr/share/apertium"
#define PACKAGES "install Debian's apertium and apertium-eng-spa (apt-get install apertium apertium-eng-spa)"

typedef struct {
    char *forward, *backward, *command, *data_dir;
    int batch;
    int timeout; /* seconds without a byte from Apertium before it is killed */
} bt_impl;

/* ---- growable byte buffer ---- */
typedef struct {
    char *p;
    size_t n, cap;
} buf_t;

static int buf_add(buf_t *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 4096;
        while (nc < b->n + n + 1) nc *= 2;
        char *np = realloc(b->p, nc);
        if (!np) return -1;
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return 0;
}

/* ---- running one process ---- */

/* The pipes to a running Apertium: its stdin (written), stdout and stderr (read). */
typedef struct {
    pid_t pid;
    int wfd, ofd, efd;
    int in_open, out_open, err_open;
} child_io;

/* Start `command -u [-d DATA_DIR] MODE` in its own process group (a timeout kills the
 * whole pipeline apertium runs) with three pipes. */
static nb_status spawn_apertium(const bt_impl *bt, const char *mode, child_io *c)
{
    int sv[2] = {-1, -1}, po[2] = {-1, -1}, pe[2] = {-1, -1};
    if (pipe2(sv, O_CLOEXEC) || pipe2(po, O_CLOEXEC) || pipe2(pe, O_CLOEXEC)) {
        int e = errno;
        for (int i = 0; i < 2; i++) {
            if (sv[i] >= 0) close(sv[i]);
            if (po[i] >= 0) close(po[i]);
            if (pe[i] >= 0) close(pe[i]);
        }
        return nb__fail(NB_ERR_IO, "back_translation: cannot create pipes: %s", strerror(e));
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, sv[0], 0);
    posix_spawn_file_actions_adddup2(&fa, po[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
    char *argv[8];
    int k = 0;
    argv[k++] = bt->command;
    argv[k++] = "-u"; /* no '*' marks on unknown words */
    if (bt->data_dir) {
        argv[k++] = "-d";
        argv[k++] = bt->data_dir;
    }
    argv[k++] = (char *)mode;
    argv[k] = NULL;
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&at, 0);
    int rc = posix_spawnp(&c->pid, bt->command, &fa, &at, argv, environ);
    posix_spawnattr_destroy(&at);
    posix_spawn_file_actions_destroy(&fa);
    close(sv[0]);
    close(po[1]);
    close(pe[1]);
    if (rc) {
        close(sv[1]);
        close(po[0]);
        close(pe[0]);
        if (rc == ENOENT || rc == EACCES)
            return nb__fail(NB_ERR_STATE, "back_translation: cannot run '%s' (%s): " PACKAGES, bt->command,
                            strerror(rc));
        return nb__fail(NB_ERR_IO, "back_translation: cannot start '%s': %s", bt->command, strerror(rc));
    }
    *c = (child_io){c->pid, sv[1], po[0], pe[0], 1, 1, 1};
    fcntl(c->wfd, F_SETFL, fcntl(c->wfd, F_GETFL) | O_NONBLOCK);
    return NB_OK;
}

/* Write in[0..in_n) to the child and read its stdout into out and the start of its
 * stderr into err, with poll() so neither side blocks, until it closes both; killed
 * after bt->timeout seconds without progress (*timed_out). *oom when a buffer could
 * not grow. */
static void exchange(const bt_impl *bt, child_io *c, const char *in, size_t in_n, buf_t *out, buf_t *err,
                     int *timed_out, int *oom)
{
    size_t sent = 0;
    struct timespec last;
    clock_gettime(CLOCK_MONOTONIC, &last);
    if (in_n == 0) {
        close(c->wfd);
        c->in_open = 0;
    }
    while (c->out_open || c->err_open) {
        struct pollfd pf[3];
        int np = 0, ii = -1, io = -1, ie = -1;
        if (c->in_open) pf[ii = np++] = (struct pollfd){c->wfd, POLLOUT, 0};
        if (c->out_open) pf[io = np++] = (struct pollfd){c->ofd, POLLIN, 0};
        if (c->err_open) pf[ie = np++] = (struct pollfd){c->efd, POLLIN, 0};
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double idle = (double)(now.tv_sec - last.tv_sec) + 1e-9 * (double)(now.tv_nsec - last.tv_nsec);
        double left = bt->timeout - idle;
        if (left <= 0) { /* it hangs: kill it rather than wait forever */
            kill(-c->pid, SIGKILL);
            *timed_out = 1;
            break;
        }
        int pr = poll(pf, (nfds_t)np, (int)(left * 1000) + 1);
        if (pr < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (pr > 0) last = now; /* progress: the idle clock restarts */
        if (ii >= 0 && pf[ii].revents) {
            ssize_t w = write(c->wfd, in + sent, in_n - sent);
            if (w > 0) sent += (size_t)w;
            if (w < 0 && errno != EAGAIN && errno != EINTR) sent = in_n; /* the child stopped reading */
            if (sent == in_n) {
                close(c->wfd);
                c->in_open = 0;
            }
        }
        char tmp[65536];
        if (io >= 0 && pf[io].revents) {
            ssize_t r = read(c->ofd, tmp, sizeof tmp);
            if (r > 0) *oom |= buf_add(out, tmp, (size_t)r);
            else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
                close(c->ofd);
                c->out_open = 0;
            }
        }
        if (ie >= 0 && pf[ie].revents) {
            ssize_t r = read(c->efd, tmp, sizeof tmp);
            if (r > 0) {
                if (err->n < 4096) *oom |= buf_add(err, tmp, (size_t)r);
            } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
                close(c->efd);
                c->err_open = 0;
            }
        }
    }
}

/* The message for a child that did not exit with 0 (status as waitpid gives it; err
 * the start of what it wrote to stderr). */
static nb_status exit_failure(const bt_impl *bt, const char *mode, int status, const buf_t *err)
{
    char msg[512] = ""; /* the first line of what it said */
    if (err->p) {
        size_t l = strcspn(err->p, "\n");
        snprintf(msg, sizeof msg, ": %.*s", (int)(l < 400 ? l : 400), err->p);
    }
    if (err->p && strstr(err->p, "does not exist"))
        return nb__fail(NB_ERR_STATE,
                        "back_translation: Apertium has no mode %s%s: install the Debian package of that language "
                        "pair (apertium-eng-spa for eng-spa and spa-eng; apt-cache search apertium lists them)",
                        mode, msg);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        return nb__fail(NB_ERR_STATE, "back_translation: '%s %s' could not run a program%s: " PACKAGES, bt->command,
                        mode, msg);
    if (WIFEXITED(status))
        return nb__fail(NB_ERR_IO, "back_translation: '%s -u %s' failed with exit status %d%s", bt->command, mode,
                        WEXITSTATUS(status), msg);
    return nb__fail(NB_ERR_IO, "back_translation: '%s -u %s' was killed by signal %d", bt->command, mode,
                    WTERMSIG(status));
}

/* Translate in[0..in_n) with one `apertium -u MODE` process into out: spawn, exchange
 * (SIGPIPE blocked in this thread meanwhile, a pending one consumed after), reap. */
static nb_status run_apertium(nb_text_aug *a, const bt_impl *bt, const char *mode, const char *in, size_t in_n,
                              buf_t *out)
{
    child_io c = {0};
    nb_status st = spawn_apertium(bt, mode, &c);
    if (st) return st;
    a->calls++;
    sigset_t pipe_set, old_set, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigpending(&pending);
    int pipe_was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
    buf_t err = {0};
    int oom = 0, timed_out = 0;
    exchange(bt, &c, in, in_n, out, &err, &timed_out, &oom);
    if (c.in_open) close(c.wfd);
    if (c.out_open) close(c.ofd);
    if (timed_out) kill(-c.pid, SIGKILL);
    if (!pipe_was_pending) { /* take the SIGPIPE our writes may have raised */
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR) {
        }
    }
    pthread_sigmask(SIG_SETMASK, &old_set, NULL);
    if (c.err_open) close(c.efd);
    int status = 0;
    while (waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (timed_out)
        st = nb__fail(NB_ERR_IO, "back_translation: '%s -u %s' timed out: it sent nothing for %d s; killed it",
                      bt->command, mode, bt->timeout);
    else if (oom) st = nb__fail(NB_ERR_MEM, "back_translation: out of memory reading Apertium's output");
    else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) st = exit_failure(bt, mode, status, &err);
    free(err.p);
    return st;
}

/* ---- a batch ---- */

typedef struct {
    const char *s; /* the text without its leading/trailing whitespace */
    size_t n;
    int lines;     /* 1 + its line breaks */
    char *result;  /* malloc'd translation (core only) */
} bt_text;

/* Translate texts[0..n) through one mode, replacing each core by its translation. */
static nb_status translate(nb_text_aug *a, const bt_impl *bt, const char *mode, bt_text *t, int n)
{
    buf_t in = {0}, out = {0};
    int want = 0;
    for (int i = 0; i < n; i++) {
        if (buf_add(&in, t[i].s, t[i].n) || buf_add(&in, "\n", 1)) {
            free(in.p);
            return nb__fail(NB_ERR_MEM, "back_translation: out of memory");
        }
        want += t[i].lines;
    }
    nb_status st = run_apertium(a, bt, mode, in.p, in.n, &out);
    free(in.p);
    if (st) {
        free(out.p);
        return st;
    }
    /* split into lines */
    int got = 0;
    for (size_t i = 0; i < out.n; i++) got += out.p[i] == '\n';
    if (out.n && out.p[out.n - 1] != '\n') got++;
    if (got != want) {
        free(out.p);
        if (n == 1) return nb__fail(NB_ERR_FORMAT, "back_translation: Apertium returned %d lines for %d", got, want);
        /* realign by halves */
        int h = n / 2;
        if ((st = translate(a, bt, mode, t, h))) return st;
        return translate(a, bt, mode, t + h, n - h);
    }
    char *p = out.p ? out.p : "";
    for (int i = 0; i < n; i++) {
        buf_t r = {0};
        for (int l = 0; l < t[i].lines; l++) {
            char *e = strchr(p, '\n');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            size_t b = 0;
            while (b < len && (p[b] == ' ' || p[b] == '\t' || p[b] == '\r')) b++;
            while (len > b && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '\r')) len--;
            if ((l && buf_add(&r, "\n", 1)) || buf_add(&r, p + b, len - b)) {
                free(r.p);
                free(out.p);
                return nb__fail(NB_ERR_MEM, "back_translation: out of memory");
            }
            p = e ? e + 1 : p + strlen(p);
        }
        free(t[i].result);
        t[i].result = r.p ? r.p : strdup("");
        if (!t[i].result) {
            free(out.p);
            return nb__fail(NB_ERR_MEM, "back_translation: out of memory");
        }
        t[i].s = t[i].result;
        t[i].n = strlen(t[i].result);
    }
    free(out.p);
    return NB_OK;
}

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

static nb_status bt_run(nb_text_aug *a, char **lines, int64_t n, nb_rng *rngs)
{
    (void)rngs;
    bt_impl *bt = a->impl;
    bt_text *t = calloc((size_t)(n > 0 ? n : 1), sizeof *t);
    int64_t *which = calloc((size_t)(n > 0 ? n : 1), sizeof *which);
    if (!t || !which) {
        free(t);
        free(which);
        return nb__fail(NB_ERR_MEM, "back_translation: out of memory");
    }
    int m = 0;
    for (int64_t i = 0; i < n; i++) {
        const char *s = lines[i];
        size_t len = strlen(s), b = 0;
        while (b < len && is_ws(s[b])) b++;
        while (len > b && is_ws(s[len - 1])) len--;
        if (b == len) continue; /* blank: nothing to translate */
        t[m].s = s + b;
        t[m].n = len - b;
        t[m].lines = 1;
        for (size_t k = b; k < len; k++) t[m].lines += s[k] == '\n';
        which[m++] = i;
    }
    nb_status st = NB_OK;
    for (int start = 0; start < m && !st; start += bt->batch) {
        int cnt = m - start < bt->batch ? m - start : bt->batch;
        st = translate(a, bt, bt->forward, t + start, cnt);
        if (!st) st = translate(a, bt, bt->backward, t + start, cnt);
    }
    for (int j = 0; j < m && !st; j++) {
        /* original leading whitespace + translation + original trailing whitespace */
        const char *s = lines[which[j]];
        size_t len = strlen(s), b = 0, e = len;
        while (b < len && is_ws(s[b])) b++;
        while (e > b && is_ws(s[e - 1])) e--;
        size_t rn = strlen(t[j].result);
        char *nl = malloc(b + rn + (len - e) + 1);
        if (!nl) {
            st = nb__fail(NB_ERR_MEM, "back_translation: out of memory");
            break;
        }
        memcpy(nl, s, b);
        memcpy(nl + b, t[j].result, rn);
        memcpy(nl + b + rn, s + e, len - e);
        nl[b + rn + len - e] = 0;
        if (nb_utf8_check(nl, strlen(nl)) >= 0) { /* never trust a child's bytes */
            char *fixed = nb_utf8_repair(nl, strlen(nl));
            free(nl);
            if (!(nl = fixed)) {
                st = NB_ERR_MEM;
                break;
            }
        }
        free(lines[which[j]]);
        lines[which[j]] = nl;
    }
    for (int j = 0; j < m; j++) free(t[j].result);
    free(t);
    free(which);
    return st;
}

static void bt_free(nb_text_aug *a)
{
    bt_impl *bt = a->impl;
    if (!bt) return;
    free(bt->forward);
    free(bt->backward);
    free(bt->command);
    free(bt->data_dir);
    free(bt);
}

static const nb__text_vt vt_bt = {"back_translation", bt_run, bt_free};

static int valid_code(const char *s)
{
    if (!s || !*s || strlen(s) > 64) return 0;
    for (const char *q = s; *q; q++)
        if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') || *q == '_' ||
              *q == '-'))
            return 0;
    return 1;
}

/* Is cmd an executable file (with a '/') or found in PATH? */
static int find_command(const char *cmd)
{
    if (strchr(cmd, '/')) return access(cmd, X_OK) == 0;
    const char *path = getenv("PATH");
    if (!path) path = "/usr/bin:/bin";
    char full[4096];
    for (const char *p = path;;) {
        const char *e = strchr(p, ':');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        snprintf(full, sizeof full, "%.*s/%s", (int)l, l ? p : ".", cmd);
        struct stat sb;
        if (stat(full, &sb) == 0 && S_ISREG(sb.st_mode) && access(full, X_OK) == 0) return 1;
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

/* The modes installed in dir/modes, comma-separated, into buf. */
static void list_modes(const char *dir, char *buf, size_t cap)
{
    char md[1100];
    snprintf(md, sizeof md, "%s/modes", dir);
    buf[0] = 0;
    DIR *d = opendir(md);
    if (!d) return;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l > 5 && !strcmp(de->d_name + l - 5, ".mode") && n + l + 2 < cap)
            n += (size_t)snprintf(buf + n, cap - n, "%s%.*s", n ? ", " : "", (int)(l - 5), de->d_name);
    }
    closedir(d);
}

static nb_status check_mode(const char *dir, const char *mode, const char *source, const char *pivot)
{
    char path[1300];
    snprintf(path, sizeof path, "%s/modes/%s.mode", dir, mode);
    if (access(path, R_OK) == 0) return NB_OK;
    char have[1024];
    list_modes(dir, have, sizeof have);
    return nb__fail(NB_ERR_STATE,
                    "back_translation: Apertium has no %s language pair (%s not found; installed: %s): install the "
                    "Debian package apertium-%s-%s or apertium-%s-%s (apt-cache search apertium lists the pairs; "
                    "apertium-eng-spa gives eng-spa and spa-eng)",
                    mode, path, *have ? have : "none", source, pivot, pivot, source);
}

nb_text_aug *nb_text_backtranslation_new(const nb_text_backtranslation_opts *o)
{
    static const nb_text_backtranslation_opts zero;
    if (!o) o = &zero;
    const char *source = o->source ? o->source : "eng", *pivot = o->pivot ? o->pivot : "spa";
    char fw[160], bw[160];
    snprintf(fw, sizeof fw, "%s-%s", source, pivot);
    snprintf(bw, sizeof bw, "%s-%s", pivot, source);
    const char *forward = o->forward ? o->forward : fw, *backward = o->backward ? o->backward : bw;
    if (!valid_code(source) || !valid_code(pivot) || !valid_code(forward) || !valid_code(backward)) {
        nb__fail(NB_ERR_ARG, "back_translation: language codes and modes are letters, digits, '-' and '_' "
                             "(source '%s', pivot '%s', forward '%s', backward '%s')",
                 source, pivot, forward, backward);
        return NULL;
    }
    if (o->timeout_seconds < 0) {
        nb__fail(NB_ERR_ARG, "back_translation: timeout_seconds must be positive, got %d", o->timeout_seconds);
        return NULL;
    }
    if (o->batch_lines < 0) {
        nb__fail(NB_ERR_ARG, "back_translation: batch_lines must be positive, got %d", o->batch_lines);
        return NULL;
    }
    const char *cmd = o->command ? o->command : "apertium";
    if (!*cmd || !find_command(cmd)) {
        nb__fail(NB_ERR_STATE, "back_translation: Apertium not found ('%s' is not %s): " PACKAGES, cmd,
                 strchr(cmd, '/') ? "an executable file" : "in PATH");
        return NULL;
    }
    const char *dir = o->data_dir ? o->data_dir : DEFAULT_DATA_DIR;
    if (check_mode(dir, forward, source, pivot) || check_mode(dir, backward, source, pivot)) return NULL;
    bt_impl *bt = calloc(1, sizeof *bt);
    if (!bt) {
        nb__fail(NB_ERR_MEM, "out of memory");
        return NULL;
    }
    bt->forward = strdup(forward);
    bt->backward = strdup(backward);
    bt->command = strdup(cmd);
    bt->data_dir = o->data_dir ? strdup(o->data_dir) : NULL;
    bt->batch = o->batch_lines ? o->batch_lines : 10000;
    bt->timeout = o->timeout_seconds ? o->timeout_seconds : 300;
    if (!bt->forward || !bt->backward || !bt->command || (o->data_dir && !bt->data_dir)) {
        bt_free(&(nb_text_aug){.impl = bt});
        nb__fail(NB_ERR_MEM, "out of memory");
        return NULL;
    }
    nb_text_aug *a = nb__text_aug_new(&vt_bt, bt);
    if (!a) bt_free(&(nb_text_aug){.impl = bt});
    return a;
}
