/* file.c - reading a whole (small) file into memory: config.json, vocabularies. */
#include "core/file.h"
#include "core/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *nb__read_file(const char *path, size_t max, size_t *len, const char *too_large)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        nb__fail(NB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    /* grow as the file is read (its size may not be known: a pipe, /proc) */
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap || n > max) break;
        cap *= 2;
        char *nb = realloc(buf, cap + 1);
        if (!nb) free(buf);
        buf = nb;
    }
    int err = ferror(f);
    fclose(f);
    if (!buf || err || n > max) {
        free(buf);
        nb__fail(!buf ? NB_ERR_MEM : err ? NB_ERR_IO : NB_ERR_FORMAT, "%s: %s", path,
                 !buf ? "out of memory" : err ? "read error" : too_large);
        return NULL;
    }
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}
