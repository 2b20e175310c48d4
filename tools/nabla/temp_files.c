/* temp_files.c - a run's private working files (the vocabulary text training builds
 * from its texts before it has a model directory): a directory made by mkdtemp under
 * $TMPDIR (else /tmp), mode 0700 and an unpredictable name, holding files named by the
 * caller. cli_temp_remove deletes the files and the directory; it runs on every
 * return path of the command, and when SIGTERM or SIGINT ends the process the
 * library's handler for atomic writes removes them (nb_remove_on_signal). Only SIGKILL
 * can leave the directory behind. One set of temporary files per process. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_FILES 4

static char tdir[4096];
static char tfiles[MAX_FILES][4200];
static int nfiles, active;

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
        if (nb_remove_on_signal(tdir)) {
            cli_error("%s", nb_last_error());
            cli_temp_remove();
            return NULL;
        }
    }
    if (nfiles >= MAX_FILES) {
        cli_error("too many temporary files");
        return NULL;
    }
    snprintf(tfiles[nfiles], sizeof tfiles[nfiles], "%s/%s", tdir, name);
    if (nb_remove_on_signal(tfiles[nfiles])) {
        cli_error("%s", nb_last_error());
        return NULL;
    }
    return tfiles[nfiles++];
}

void cli_temp_remove(void)
{
    for (int i = 0; i < nfiles; i++) {
        nb_keep_on_signal(tfiles[i]);
        unlink(tfiles[i]);
    }
    if (active) {
        nb_keep_on_signal(tdir);
        rmdir(tdir);
    }
    active = 0, nfiles = 0;
}
