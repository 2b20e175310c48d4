/* error.c - the thread's last error message and status. The library reports, never
 * exits. */
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char g_msg[4096];
static _Thread_local nb_status g_status;

const char *nb_last_error(void) { return g_msg; }

nb_status nb_last_status(void) { return g_status; }

void nb_clear_error(void)
{
    g_msg[0] = 0;
    g_status = NB_OK;
}

nb_status nb__fail(nb_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_msg, sizeof g_msg, fmt, ap);
    va_end(ap);
    g_status = code;
    return code;
}

void nb__error_prefix(const char *fmt, ...)
{
    char head[512], old[4096];
    old[0] = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, g_msg, sizeof old);
    snprintf(g_msg, sizeof g_msg, "%.500s: %.3500s", head, old);
}
