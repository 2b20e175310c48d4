/* file.h - reading a whole (small) file into memory (src/core/file.c). */
#ifndef NB_CORE_FILE_H
#define NB_CORE_FILE_H

#include <stddef.h>

/* The whole file at path, NUL-terminated, malloc'd; its length in *len (len may be
 * NULL). Grows as it reads, so pipes and /proc files work. NULL with a message naming
 * path: NB_ERR_IO when it cannot be opened or read, NB_ERR_FORMAT "PATH: TOO_LARGE"
 * when it holds more than max bytes, NB_ERR_MEM. */
char *nb__read_file(const char *path, size_t max, size_t *len, const char *too_large);

#endif
