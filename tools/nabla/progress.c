/* progress.c - see progress.h. */
#include "progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void progress_init(progress *p, int64_t total, int quiet)
{
    p->enabled = !quiet && isatty(2);
    p->start = now_seconds();
    p->last_draw = 0;
    p->total = total;
}

void progress_update(progress *p, int64_t done, int epoch, int epochs, double loss, double img_per_s)
{
    if (!p->enabled) return;
    double t = now_seconds();
    if (t - p->last_draw < 0.1 && done < p->total) return;
    p->last_draw = t;
    double frac = p->total ? (double)done / (double)p->total : 1;
    double eta = frac > 0 ? (t - p->start) * (1 - frac) / frac : 0;
    int width = 30, fill = (int)(frac * width);
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    fprintf(stderr, "\repoch %d/%d [%s] step %lld/%lld loss %.4f %.0f img/s ETA %.0fs   ", epoch, epochs, bar,
            (long long)done, (long long)p->total, loss, img_per_s, eta);
    fflush(stderr);
}

void progress_end(progress *p)
{
    if (p->enabled) fputs("\r\033[K", stderr);
}
