/* atomic.h - atomic file writes (src/io/atomic.c).
 * Write to "PATH.tmp.<pid>", then fflush + fsync + rename over PATH + fsync the
 * directory; on any failure the temp file is removed and PATH is left as it was. */
#ifndef NB_IO_ATOMIC_H
#define NB_IO_ATOMIC_H

#include "nabla.h"

#include <stdio.h>

typedef struct {
    FILE *fp;
    char *path, *tmp;
    int failed;
} nb_atomic_file;
nb_status nb__atomic_begin(nb_atomic_file *af, const char *path);
/* Append n bytes; after a failure further writes are no-ops and commit fails. */
nb_status nb__atomic_write(nb_atomic_file *af, const void *p, size_t n);
nb_status nb__atomic_commit(nb_atomic_file *af); /* always releases af */
void nb__atomic_abort(nb_atomic_file *af);       /* removes the temp file */

#endif
