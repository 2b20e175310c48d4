/* error.c - the thread's last error message and status. The library reports, never
 * exits. */
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char g_msg[4096];
static _Thread_local nb_status g_status;
static _Thread_local nb__error_pos g_pos;

const char *nb_last_error(void) { return g_msg; }

nb_status nb_last_status(void) { return g_status; }

void nb_clear_error(void)
{
    g_msg[0] = 0;
    g_status = NB_OK;
    g_pos.col = g_pos.kind = 0;
    g_pos.text[0] = 0;
}

nb_status nb__fail(nb_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_msg, sizeof g_msg, fmt, ap);
    va_end(ap);
    g_status = code;
    g_pos.col = g_pos.kind = 0;
    g_pos.text[0] = 0;
    return code;
}

nb_status nb__fail_at(nb_status code, int col, int kind, const char *fmt, ...)
{
    char text[sizeof g_pos.text];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (col > 0) nb__fail(code, "%s at column %d", text, col);
    else nb__fail(code, "%s", text);
    g_pos.col = col > 0 ? col : 0;
    g_pos.kind = kind;
    memcpy(g_pos.text, text, sizeof text);
    return code;
}

const nb__error_pos *nb__last_error_pos(void) { return &g_pos; }

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
    if (g_pos.col) { /* the text without the column gets the same context */
        memcpy(old, g_pos.text, sizeof g_pos.text);
        snprintf(g_pos.text, sizeof g_pos.text, "%.500s: %.500s", head, old);
    }
}
