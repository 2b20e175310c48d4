/* progress.h - training progress on stderr: a live bar redrawn in place (at most
 * 10 times a second) when stderr is a terminal, one line per epoch otherwise and
 * after each epoch's bar; nothing with --quiet. */
#ifndef NB_CLI_PROGRESS_H
#define NB_CLI_PROGRESS_H
#include <stdint.h>

typedef enum { PROGRESS_QUIET, PROGRESS_LINES, PROGRESS_BAR } progress_mode;

typedef struct {
    progress_mode mode;
    int epochs;
    double start, last_draw;
    int64_t first, total; /* steps: where the run starts (a resume), where it stops */
    int64_t per_epoch;    /* steps of an epoch */
    int drawn;            /* a bar is on the screen */
} progress;

double now_seconds(void);
/* total: the step the run stops at; first: the step it starts from. */
void progress_init(progress *p, int64_t first, int64_t total, int64_t per_epoch, int epochs, int quiet);
/* After step `done` of the run, batch `batch` of epoch (both 1-based): the bar shows
 * the epoch, the epoch's mean loss and accuracy so far, and the run's ETA. */
void progress_step(progress *p, int64_t done, int epoch, int64_t batch, double loss, double acc, double img_per_s);
/* The end of an epoch: its line; test_acc < 0 when the test set was not evaluated. */
void progress_epoch(progress *p, int epoch, double loss, double acc, double test_acc, double img_per_s,
                    double seconds);
/* Clear a bar left on the screen (before an error message). */
void progress_end(progress *p);

#endif
