/* plot.h - figures drawn with cairo for the CLI (`nabla plot`, `nabla eval --confusion`).
 * Only the CLI links cairo; libnabla does not depend on it. Every function writes a PNG
 * and returns 0, or prints "nabla: ..." naming the file and returns 1. */
#ifndef NB_CLI_PLOT_H
#define NB_CLI_PLOT_H
#include <stdint.h>

/* One line of a panel: points (x[i], y[i]); a NAN y is left out. */
typedef struct {
    const char *label;   /* legend text; NULL: not in the legend */
    const double *x, *y;
    int n;
    int color;           /* index into the palette (tab10) */
    int dashed;          /* dashed line */
    int faint;           /* thin, translucent (per-step losses) */
    int markers;         /* a dot at each point (always drawn for a lone point) */
} plot_line;

typedef struct {
    const char *title, *xlabel, *ylabel;
    const plot_line *lines;
    int nlines;
    int percent;         /* y are fractions, shown as 0-100 % */
    int integer_x;       /* x ticks at whole numbers (epochs) */
    const char *empty;   /* text shown when no line has a point */
} plot_panel;

/* Panels side by side under a title, width x height pixels, to the PNG path. */
int plot_panels_png(const char *path, const char *title, const plot_panel *panels, int npanels, int width,
                    int height);

/* Heatmap of a k x k confusion matrix counts[true * k + pred]: colours are each row's
 * shares, cells show the counts, names (may be NULL, then 0..k-1) on both axes. The
 * size follows k; its width and height in *w, *h (may be NULL). */
int plot_confusion_png(const char *path, const char *title, const int64_t *counts, int k,
                       const char *const *names, int *w, int *h);

#endif
