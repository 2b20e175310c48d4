/* progress.h - a progress bar on stderr when it is a terminal, silent otherwise. */
#ifndef NB_CLI_PROGRESS_H
#define NB_CLI_PROGRESS_H
#include <stdint.h>

typedef struct {
    int enabled;
    double start, last_draw;
    int64_t total;
} progress;

double now_seconds(void);
void progress_init(progress *p, int64_t total, int quiet);
/* step done of total; loss and images/s shown; ETA from the rate so far. */
void progress_update(progress *p, int64_t done, int epoch, int epochs, double loss, double img_per_s);
void progress_end(progress *p);

#endif
