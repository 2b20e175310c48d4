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

void progress_init(progress *p, int64_t first, int64_t total, int64_t per_epoch, int epochs, int quiet)
{
    *p = (progress){.mode = quiet ? PROGRESS_QUIET : isatty(2) ? PROGRESS_BAR : PROGRESS_LINES, .epochs = epochs,
                    .start = now_seconds(), .first = first, .total = total, .per_epoch = per_epoch};
}

static void format_time(double s, char *buf, size_t n)
{
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

void progress_step(progress *p, int64_t done, int epoch, int64_t batch, double loss, double acc, double img_per_s)
{
    if (p->mode != PROGRESS_BAR) return;
    double t = now_seconds();
    if (t - p->last_draw < 0.1 && done < p->total) return;
    p->last_draw = t;
    int64_t span = p->total - p->first, did = done - p->first;
    double frac = p->per_epoch > 0 ? (double)batch / (double)p->per_epoch : 1;
    char eta[32], bar[32];
    format_time(did > 0 ? (t - p->start) * (double)(span - did) / (double)did : 0, eta, sizeof eta);
    int width = 24, fill = (int)(frac * width);
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    fprintf(stderr, "\repoch %d/%d [%s] %3.0f%% loss %.4f acc %.4f %.0f img/s ETA %s\033[K", epoch, p->epochs, bar,
            100 * frac, loss, acc, img_per_s, eta);
    fflush(stderr);
    p->drawn = 1;
}

void progress_end(progress *p)
{
    if (p->drawn) fputs("\r\033[K", stderr);
    p->drawn = 0;
}

void progress_epoch(progress *p, int epoch, double loss, double acc, double test_acc, double img_per_s,
                    double seconds)
{
    if (p->mode == PROGRESS_QUIET) return;
    progress_end(p);
    char test[48] = "";
    if (test_acc >= 0) snprintf(test, sizeof test, " test_acc %.4f", test_acc);
    fprintf(stderr, "epoch %d/%d loss %.4f acc %.4f%s %.0f img/s %.1fs\n", epoch, p->epochs, loss, acc, test, img_per_s,
            seconds);
    fflush(stderr);
}
