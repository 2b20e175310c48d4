/* error.h - setting the calling thread's error message (src/core/error.c). */
#ifndef NB_CORE_ERROR_H
#define NB_CORE_ERROR_H

#include "nabla.h"

/* Set the thread's message (printf format) and status (nb_last_status); returns code. */
nb_status nb__fail(nb_status code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Keep an existing message but prefix context: "loading x.safetensors: ..." */
void nb__error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
