/* atomic.c - write a file so that readers see the old content or the whole new
 * content, never a half-written file: write "PATH.tmp.<pid>", flush and fsync
 * it, rename it over PATH, fsync the directory. Any failure removes the temp
 * file and leaves PATH untouched. */
#include "core/error.h"
#include "core/atomic.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void release(nb_atomic_file *af)
{
    free(af->path);
    free(af->tmp);
    af->path = af->tmp = NULL;
    af->fp = NULL;
}

nb_status nb__atomic_begin(nb_atomic_file *af, const char *path)
{
    memset(af, 0, sizeof *af);
    if (!path || !*path) return nb__fail(NB_ERR_ARG, "cannot write a file: the path is empty");
    size_t n = strlen(path);
    af->path = malloc(n + 1);
    af->tmp = malloc(n + 32);
    if (!af->path || !af->tmp) {
        release(af);
        return nb__fail(NB_ERR_MEM, "out of memory writing %s", path);
    }
    memcpy(af->path, path, n + 1);
    snprintf(af->tmp, n + 32, "%s.tmp.%ld", path, (long)getpid());
    af->fp = fopen(af->tmp, "wb");
    if (!af->fp) {
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
