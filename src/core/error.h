/* error.h - setting the calling thread's error message (src/core/error.c). */
#ifndef NB_CORE_ERROR_H
#define NB_CORE_ERROR_H

#include "nabla.h"

/* Set the thread's message (printf format) and status (nb_last_status); returns code. */
nb_status nb__fail(nb_status code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Where in its input the thread's last error lies, as data, when the failing call
 * said so with nb__fail_at: col (1-based, in code points; 0 when not said), kind (a
 * fault code of the failing module, 0 when none, e.g. nb__spec_syntax) and text (the
 * message without its " at column N"). Any other nb__fail resets it to col 0. */
typedef struct {
    int col, kind;
    char text[1024];
} nb__error_pos;
/* nb__fail with the message "TEXT at column COL" (just TEXT when col <= 0), the
 * column and kind kept as data for nb__last_error_pos. */
nb_status nb__fail_at(nb_status code, int col, int kind, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
const nb__error_pos *nb__last_error_pos(void);
/* Keep an existing message but prefix context: "loading x.safetensors: ..." (the
 * text of nb__last_error_pos too). */
void nb__error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
