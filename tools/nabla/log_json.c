/* log_json.c - the JSON-lines log of `nabla train --log-json FILE`, written whole
 * and atomically.
 *
 * The lines of a run are kept in memory and the whole log is written with
 * nb_write_file_atomic (a temporary file beside FILE, synced and renamed over it) at
 * the end of every epoch and when the run ends. So FILE always holds the previous
 * log or a whole new one, never a truncated or empty file: a full disk, a read-only
 * directory, a kill or a power cut during a write leave the previous content, and a
 * write error stops the run with a non-zero status and a message naming FILE. A new
 * run replaces an older log only when its first epoch ends; `--resume` reads the log
 * there is and adds to it. Step lines (--log-every) reach FILE with their epoch's
 * line (or when the run stops). */
#include "cli.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct cli_log {
    char *path;
    char *buf;
    size_t len, cap, written; /* written: bytes FILE holds now */
    int oom, failed; /* failed: a write failed and was reported; no more tries */
};

static int reserve(cli_log *l, size_t more)
{
    if (l->len + more + 1 <= l->cap) return 0;
    size_t cap = l->cap ? l->cap : 4096;
    while (cap < l->len + more + 1) cap *= 2;
    char *b = realloc(l->buf, cap);
    if (!b) return -1;
    l->buf = b, l->cap = cap;
    return 0;
}

/* The directory path names is writable (a read-only file system or a directory
 * without write permission found before training starts). */
static int dir_writable(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    if (!access(dir, W_OK)) return 1;
    cli_error("train: cannot write %s: its directory %s is not writable: %s", path, dir, strerror(errno));
    return 0;
}

cli_log *cli_log_open(const char *path, int resume)
{
    cli_log *l = calloc(1, sizeof *l);
    if (!l || !(l->path = strdup(path))) {
        free(l);
        cli_error("train: out of memory opening %s", path);
        return NULL;
    }
    struct stat sb;
    if (!stat(path, &sb) && !S_ISREG(sb.st_mode)) {
        cli_error("train: cannot write %s: it is not a regular file (refusing to replace it)", path);
        cli_log_close(l);
        return NULL;
    }
    if (!dir_writable(path)) {
        cli_log_close(l);
        return NULL;
    }
    if (resume) { /* the lines there are stay, the new ones follow */
        FILE *f = fopen(path, "rb");
        if (!f && errno != ENOENT) {
            cli_error("train: cannot read %s: %s", path, strerror(errno));
            cli_log_close(l);
            return NULL;
        }
        if (f) {
            char chunk[65536];
            size_t n;
            while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
                if (reserve(l, n)) {
                    l->oom = 1;
                    break;
                }
                memcpy(l->buf + l->len, chunk, n);
                l->len += n;
            }
            int bad = ferror(f) || l->oom;
            fclose(f);
            if (bad) {
                cli_error("train: cannot read %s: %s", path, l->oom ? "out of memory" : strerror(errno));
                cli_log_close(l);
                return NULL;
            }
            if (l->len && l->buf[l->len - 1] != '\n') { /* a line cut by an older nabla's crash */
                if (reserve(l, 1)) l->oom = 1;
                else l->buf[l->len++] = '\n';
            }
            l->written = l->len;
        }
    }
    return l;
}

void cli_log_json(cli_log *l, cJSON *line)
{
    char *text = line ? cJSON_PrintUnformatted(line) : NULL;
    cJSON_Delete(line);
    size_t n = text ? strlen(text) : 0;
    if (!text || reserve(l, n + 1)) {
        l->oom = 1;
        free(text);
        return;
    }
    memcpy(l->buf + l->len, text, n);
    l->len += n;
    l->buf[l->len++] = '\n';
    free(text);
}

int cli_json_number(cJSON *o, const char *key, const char *fmt, double v)
{
    char buf[64] = "null";
    if (isfinite(v)) snprintf(buf, sizeof buf, fmt, v);
    return o && cJSON_AddRawToObject(o, key, buf) ? 0 : -1;
}

int cli_log_write(cli_log *l)
{
    if (l->failed) return -1;
    l->failed = 1;
    if (l->oom) {
        cli_error("train: cannot write %s: out of memory", l->path);
        return -1;
    }
    if (l->len == l->written) return l->failed = 0;
    if (nb_write_file_atomic(l->path, l->buf ? l->buf : "", l->len)) {
        cli_error("train: %s", nb_last_error()); /* names the log */
        return -1;
    }
    l->written = l->len;
    l->failed = 0;
    return 0;
}

void cli_log_close(cli_log *l)
{
    if (!l) return;
    free(l->path);
    free(l->buf);
    free(l);
}
