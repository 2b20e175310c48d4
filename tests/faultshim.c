/* faultshim.c - an LD_PRELOAD library for tests/test_faults.c: faults at every point
 * of every atomic write a program makes, without a hook in nabla.
 *
 * Every file nabla writes goes through nb_write_file_atomic (src/core/atomic.c):
 * fopen("PATH.tmp.<pid>", "wb"), fwrite..., fflush, fsync, fclose, rename over PATH,
 * fsync of the directory. The shim follows the libc calls made on such a temp file
 * (the calls go through the PLT, so a preloaded definition takes their place) and
 * numbers them, over all the files the program writes:
 *
 *   points (NB_FAULT=kill or term): after the temp file is created; in the middle of
 *     each fwrite (half of its bytes written and flushed to the file); after each
 *     fwrite, the fflush, the fsync, the fclose, the rename and the directory's fsync.
 *     At point NB_FAULT_AT the process sends itself SIGKILL or SIGTERM.
 *   calls (NB_FAULT=enospc): the fopen, each fwrite, the fflush, the fsync, the fclose,
 *     the rename and the directory's fsync. Call NB_FAULT_AT fails as on a full disk:
 *     fopen, fflush, fclose and rename with ENOSPC (fclose after closing), fwrite after
 *     writing half of its bytes with ENOSPC, fsync with EIO.
 *
 * NB_FAULT_COUNT=FILE: at exit, write "POINTS CALLS" (the numbers a run without a
 * fault reaches) and, after a failed call, the path that write was for, to FILE. Built by the Makefile as build/tests/faultshim.so. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static FILE *(*real_fopen)(const char *, const char *);
static size_t (*real_fwrite)(const void *, size_t, size_t, FILE *);
static int (*real_fflush)(FILE *);
static int (*real_fclose)(FILE *);
static int (*real_fsync)(int);
static int (*real_rename)(const char *, const char *);

static FILE *tracked;      /* the temp file being written */
static char tmp_path[4096]; /* its path, until renamed */
static int renamed;        /* the rename happened: the next directory fsync is its sync */
static char target[4096];  /* the path the current write is for (the temp path without .tmp.<pid>) */
static char failed[4096];  /* the target of the call made to fail */
static long points, calls, at;
static int mode; /* 0 count only, 1 SIGKILL, 2 SIGTERM, 3 ENOSPC */

/* also called by the first wrapper used: another library's constructor may open a
 * file before this one's runs (libselinux's reads /proc/filesystems) */
__attribute__((constructor)) static void init(void)
{
    if (real_fopen) return;
    real_fopen = (FILE * (*)(const char *, const char *)) dlsym(RTLD_NEXT, "fopen");
    real_fwrite = (size_t(*)(const void *, size_t, size_t, FILE *))dlsym(RTLD_NEXT, "fwrite");
    real_fflush = (int (*)(FILE *))dlsym(RTLD_NEXT, "fflush");
    real_fclose = (int (*)(FILE *))dlsym(RTLD_NEXT, "fclose");
    real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    real_rename = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
    const char *f = getenv("NB_FAULT"), *a = getenv("NB_FAULT_AT");
    at = a ? atol(a) : 0;
    mode = !f || !at ? 0 : !strcmp(f, "kill") ? 1 : !strcmp(f, "term") ? 2 : !strcmp(f, "enospc") ? 3 : 0;
}

__attribute__((destructor)) static void report(void)
{
    const char *p = getenv("NB_FAULT_COUNT");
    if (!p) return;
    FILE *f = real_fopen(p, "w");
    if (!f) return;
    fprintf(f, "%ld %ld %s\n", points, calls, failed[0] ? failed : "-");
    real_fclose(f);
}

/* one more point: the signal when it is the one */
static void point(void)
{
    points++;
    if ((mode == 1 || mode == 2) && points == at) raise(mode == 1 ? SIGKILL : SIGTERM);
}

/* one more call: 1 when it is to fail */
static int fail_call(void)
{
    calls++;
    if (mode != 3 || calls != at) return 0;
    strcpy(failed, target);
    return 1;
}

FILE *fopen(const char *path, const char *m)
{
    init();
    int ours = path && m && m[0] == 'w' && strstr(path, ".tmp.") && strlen(path) < sizeof tmp_path;
    if (ours) {
        strcpy(target, path);
        *strstr(target, ".tmp.") = 0;
    }
    if (ours && fail_call()) {
        errno = ENOSPC;
        return NULL;
    }
    FILE *f = real_fopen(path, m);
    if (ours && f) {
        tracked = f, renamed = 0;
        strcpy(tmp_path, path);
        point();
    }
    return f;
}

size_t fwrite(const void *p, size_t size, size_t n, FILE *f)
{
    init();
    if (f != tracked || size * n < 2) {
        if (f == tracked && fail_call()) {
            errno = ENOSPC;
            return 0;
        }
        size_t k = real_fwrite(p, size, n, f);
        if (f == tracked) point();
        return k;
    }
    size_t bytes = size * n, half = bytes / 2;
    int fail = fail_call();
    size_t k = real_fwrite(p, 1, half, f);
    real_fflush(f); /* the half reaches the file */
    if (fail) {
        errno = ENOSPC;
        return k / size;
    }
    point();
    k += real_fwrite((const char *)p + half, 1, bytes - half, f);
    point();
    return k / size;
}

int fflush(FILE *f)
{
    init();
    if (!f || f != tracked) return real_fflush(f);
    if (fail_call()) {
        errno = ENOSPC;
        return EOF;
    }
    int r = real_fflush(f);
    point();
    return r;
}

int fsync(int fd)
{
    init();
    int ours = tracked && fd == fileno(tracked), dir = 0;
    struct stat sb;
    if (!ours && renamed && !fstat(fd, &sb) && S_ISDIR(sb.st_mode)) dir = 1;
    if (!ours && !dir) return real_fsync(fd);
    if (dir) renamed = 0;
    if (fail_call()) {
        errno = EIO;
        return -1;
    }
    int r = real_fsync(fd);
    point();
    return r;
}

int fclose(FILE *f)
{
    init();
    if (!f || f != tracked) return real_fclose(f);
    int fail = fail_call();
    int r = real_fclose(f);
    tracked = NULL;
    if (fail) {
        errno = ENOSPC;
        return EOF;
    }
    point();
    return r;
}

int rename(const char *from, const char *to)
{
    init();
    if (!from || !tmp_path[0] || strcmp(from, tmp_path)) return real_rename(from, to);
    tmp_path[0] = 0;
    if (fail_call()) {
        errno = ENOSPC;
        return -1;
    }
    int r = real_rename(from, to);
    renamed = r == 0;
    point();
    return r;
}
