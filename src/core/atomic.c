/* atomic.c - write a file so that readers see the old content or the whole new
 * content, never a half-written file: write "PATH.tmp.<pid>", flush and fsync
 * it, rename it over PATH, fsync the directory. Any failure removes the temp
 * file and leaves PATH untouched.
 *
 * PATH a symlink: the file it names is written (the link stays). PATH something
 * other than a regular file (a directory, device, FIFO, socket): refused, never
 * replaced. Temp files "PATH.tmp.<pid>" of writers that died (kill -9, power
 * loss) are removed by the next write of PATH; on SIGTERM or SIGINT, when the
 * program has no handler of its own, the temp files being written are removed
 * before the signal ends the process, and so are the paths given to
 * nb_remove_on_signal (files first, then empty directories). */
#include "core/error.h"
#include "core/atomic.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- temp files removed on SIGTERM / SIGINT ---- */

enum { N_ACTIVE = 16 };
static char active_path[N_ACTIVE][PATH_MAX + 40];
static volatile int active_used[N_ACTIVE]; /* 0 free, 1 claimed, 2 path set */

static void on_signal(int sig)
{
    for (int i = 0; i < N_ACTIVE; i++)
        if (__atomic_load_n(&active_used[i], __ATOMIC_SEQ_CST) == 2) unlink(active_path[i]);
    for (int i = 0; i < N_ACTIVE; i++) /* the directories, now that their files are gone */
        if (__atomic_load_n(&active_used[i], __ATOMIC_SEQ_CST) == 2) rmdir(active_path[i]);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void install_handlers(void)
{
    static int done;
    if (__atomic_exchange_n(&done, 1, __ATOMIC_SEQ_CST)) return;
    const int sigs[2] = {SIGTERM, SIGINT};
    for (int k = 0; k < 2; k++) {
        struct sigaction old;
        if (sigaction(sigs[k], NULL, &old) || old.sa_handler != SIG_DFL || (old.sa_flags & SA_SIGINFO)) continue;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(sigs[k], &sa, NULL);
    }
}

static int track(const char *tmp)
{
    if (strlen(tmp) >= sizeof active_path[0]) return -1;
    install_handlers();
    for (int i = 0; i < N_ACTIVE; i++) {
        int z = 0;
        if (__atomic_compare_exchange_n(&active_used[i], &z, 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
            strcpy(active_path[i], tmp);
            __atomic_store_n(&active_used[i], 2, __ATOMIC_SEQ_CST);
            return i;
        }
    }
    return -1; /* more than N_ACTIVE writes at once: not removed on a signal */
}

static void untrack(const char *tmp)
{
    for (int i = 0; i < N_ACTIVE; i++)
        if (__atomic_load_n(&active_used[i], __ATOMIC_SEQ_CST) == 2 && !strcmp(active_path[i], tmp)) {
            __atomic_store_n(&active_used[i], 0, __ATOMIC_SEQ_CST);
            return;
        }
}

nb_status nb_remove_on_signal(const char *path)
{
    if (!path || track(path) < 0)
        return nb__fail(NB_ERR_ARG, "nb_remove_on_signal: %s: too many paths at once, or too long",
                        path ? path : "(null)");
    return NB_OK;
}

void nb_keep_on_signal(const char *path)
{
    if (path) untrack(path);
}

/* ---- the target ---- */

/* The file path names, following symlinks (also dangling ones: the file they would
 * create); malloc'ed, NULL with a message. */
static char *resolve(const char *path)
{
    char *cur = strdup(path);
    for (int hops = 0; cur; hops++) {
        struct stat sb;
        if (lstat(cur, &sb) || !S_ISLNK(sb.st_mode)) return cur;
        if (hops == 40) {
            nb__fail(NB_ERR_IO, "cannot write %s: too many levels of symbolic links", path);
            free(cur);
            return NULL;
        }
        char link[PATH_MAX];
        ssize_t n = readlink(cur, link, sizeof link - 1);
        if (n < 0) {
            nb__fail(NB_ERR_IO, "cannot write %s: reading the symbolic link %s failed: %s", path, cur, strerror(errno));
            free(cur);
            return NULL;
        }
        link[n] = 0;
        const char *slash = strrchr(cur, '/');
        size_t dn = link[0] == '/' || !slash ? 0 : (size_t)(slash - cur) + 1; /* relative to the link's directory */
        char *next = malloc(dn + (size_t)n + 1);
        if (next) {
            memcpy(next, cur, dn);
            memcpy(next + dn, link, (size_t)n + 1);
        }
        free(cur);
        cur = next;
    }
    nb__fail(NB_ERR_MEM, "out of memory writing %s", path);
    return NULL;
}

static const char *kind_of(mode_t m)
{
    return S_ISDIR(m) ? "a directory" : S_ISCHR(m) ? "a character device" : S_ISBLK(m) ? "a block device"
           : S_ISFIFO(m) ? "a FIFO" : S_ISSOCK(m) ? "a socket" : "not a regular file";
}

/* Remove "<base>.tmp.<pid>" beside path whose writer is no longer running. */
static void remove_stale(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    char dir[PATH_MAX];
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    size_t bn = strlen(base);
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *n = e->d_name;
        if (strncmp(n, base, bn) || strncmp(n + bn, ".tmp.", 5)) continue;
        char *end;
        long pid = strtol(n + bn + 5, &end, 10);
        if (end == n + bn + 5 || *end || pid <= 0 || pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* alive (or not ours to judge) */
        char full[PATH_MAX + 300];
        snprintf(full, sizeof full, "%s/%s", dir, n);
        unlink(full);
    }
    closedir(d);
}

static void untrack(const char *tmp);

static void release(nb_atomic_file *af)
{
    if (af->tmp) untrack(af->tmp);
    free(af->path);
    free(af->tmp);
    af->path = af->tmp = NULL;
    af->fp = NULL;
}

nb_status nb__atomic_begin(nb_atomic_file *af, const char *path)
{
    memset(af, 0, sizeof *af);
    if (!path || !*path) return nb__fail(NB_ERR_ARG, "cannot write a file: the path is empty");
    char *target = resolve(path);
    if (!target) return NB_ERR_IO;
    struct stat sb;
    if (stat(target, &sb) == 0 && !S_ISREG(sb.st_mode)) {
        nb__fail(NB_ERR_IO, "cannot write %s: it is %s, not a regular file (refusing to replace it)", path,
                 kind_of(sb.st_mode));
        free(target);
        return NB_ERR_IO;
    }
    size_t n = strlen(target);
    af->path = target;
    af->tmp = malloc(n + 32);
    if (!af->tmp) {
        release(af);
        return nb__fail(NB_ERR_MEM, "out of memory writing %s", path);
    }
    snprintf(af->tmp, n + 32, "%s.tmp.%ld", target, (long)getpid());
    remove_stale(target);
    track(af->tmp);
    af->fp = fopen(af->tmp, "wb");
    if (!af->fp) {
        untrack(af->tmp);
        int e = errno;
        nb__fail(NB_ERR_IO, "cannot write %s: creating the temporary file %s failed: %s", path,
                 af->tmp, strerror(e));
        release(af);
        return NB_ERR_IO;
    }
    return NB_OK;
}

nb_status nb__atomic_write(nb_atomic_file *af, const void *p, size_t n)
{
    if (!af->fp || af->failed) return NB_ERR_IO;
    if (n && fwrite(p, 1, n, af->fp) != n) {
        int e = errno;
        af->failed = 1;
        return nb__fail(NB_ERR_IO, "cannot write %s: writing %s failed: %s", af->path, af->tmp,
                        strerror(e));
    }
    return NB_OK;
}

void nb__atomic_abort(nb_atomic_file *af)
{
    if (af->fp) fclose(af->fp);
    if (af->tmp) unlink(af->tmp);
    release(af);
}

/* fsync the directory holding path so the rename itself is durable. */
static nb_status sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return nb__fail(NB_ERR_IO, "wrote %s but cannot open its directory to sync it: %s", path, strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    /* some file systems cannot sync a directory; the rename has still happened */
    if (rc && e != EINVAL && e != EROFS && e != ENOTSUP)
        return nb__fail(NB_ERR_IO, "wrote %s but syncing its directory failed: %s", path, strerror(e));
    return NB_OK;
}

nb_status nb__atomic_commit(nb_atomic_file *af)
{
    if (!af->fp) {
        release(af);
        return NB_ERR_IO;
    }
    if (af->failed) {
        nb__atomic_abort(af);
        return NB_ERR_IO;
    }
    const char *step = NULL;
    int e = 0;
    if (fflush(af->fp))
        step = "flushing", e = errno;
    else if (fsync(fileno(af->fp)))
        step = "syncing", e = errno;
    int rc = fclose(af->fp);
    af->fp = NULL;
    if (!step && rc) step = "closing", e = errno;
    if (!step && rename(af->tmp, af->path)) step = "renaming", e = errno;
    if (step) {
        nb__fail(NB_ERR_IO, "cannot write %s: %s %s failed: %s (the old file, if any, is unchanged)",
                 af->path, step, af->tmp, strerror(e));
        nb__atomic_abort(af);
        return NB_ERR_IO;
    }
    nb_status st = sync_dir(af->path);
    release(af);
    return st;
}

nb_status nb_write_file_atomic(const char *path, const void *data, size_t n)
{
    nb_atomic_file af;
    nb_status st = nb__atomic_begin(&af, path);
    if (st) return st;
    if (nb__atomic_write(&af, data, n)) {
        nb__atomic_abort(&af);
        return NB_ERR_IO;
    }
    return nb__atomic_commit(&af);
}
