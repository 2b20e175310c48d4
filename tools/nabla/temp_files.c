/* temp_files.c - a run's private working files (the vocabulary text training builds
 * from its texts before it has a model directory): a directory made by mkdtemp under
 * $TMPDIR (else /tmp), mode 0700 and an unpredictable name, holding files named by the
 * caller. cli_temp_remove deletes the files and the directory; it runs on every
 * return path of the command, and a handler does the same when SIGINT, SIGTERM or
 * SIGHUP ends the process (unlink and rmdir are async-signal-safe). Only SIGKILL can
 * leave the directory behind. One set of temporary files per process. */
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_FILES 4

static char tdir[4096];
static char tfiles[MAX_FILES][4200];
static volatile sig_atomic_t nfiles, active;

static void remove_all(void)
{
    for (int i = 0; i < nfiles; i++) unlink(tfiles[i]);
    if (active) rmdir(tdir);
    active = 0, nfiles = 0;
}

static void on_signal(int sig)
{
    remove_all();
    signal(sig, SIG_DFL);
    raise(sig);
}

const char *cli_temp_file(const char *name)
{
    if (!active) {
        const char *t = getenv("TMPDIR");
        snprintf(tdir, sizeof tdir, "%s/nabla-XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(tdir)) {
            cli_error("cannot create a temporary directory in %s: %s", t && *t ? t : "/tmp", strerror(errno));
            return NULL;
        }
        active = 1;
        const int sigs[3] = {SIGINT, SIGTERM, SIGHUP};
        for (int i = 0; i < 3; i++) {
            struct sigaction sa, old;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = on_signal;
            sigemptyset(&sa.sa_mask);
            if (!sigaction(sigs[i], NULL, &old) && old.sa_handler == SIG_DFL) sigaction(sigs[i], &sa, NULL);
        }
    }
    if (nfiles >= MAX_FILES) {
        cli_error("too many temporary files");
        return NULL;
    }
    snprintf(tfiles[nfiles], sizeof tfiles[nfiles], "%s/%s", tdir, name);
    return tfiles[nfiles++];
}

void cli_temp_remove(void) { remove_all(); }
