/* plot.c - line charts and a confusion-matrix heatmap drawn with cairo's path and
 * text API (no pixels by hand) and written with cairo_surface_write_to_png. */
#include "plot.h"
#include "cli.h"

#include <cairo.h>
#include <fontconfig/fontconfig.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FONT "DejaVu Sans"

/* matplotlib's tab10 */
static const double PALETTE[10][3] = {
    {0.122, 0.467, 0.706}, {1.000, 0.498, 0.055}, {0.173, 0.627, 0.173}, {0.839, 0.153, 0.157},
    {0.580, 0.404, 0.741}, {0.549, 0.337, 0.294}, {0.890, 0.467, 0.761}, {0.498, 0.498, 0.498},
    {0.737, 0.741, 0.133}, {0.090, 0.745, 0.812},
};

static void set_color(cairo_t *cr, int k, double alpha)
{
    const double *c = PALETTE[(k % 10 + 10) % 10];
    cairo_set_source_rgba(cr, c[0], c[1], c[2], alpha);
}

static void set_font(cairo_t *cr, double size, int bold)
{
    cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL, bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
}

static double text_width(cairo_t *cr, const char *s)
{
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    return e.x_advance;
}

/* Draw s with its anchor at (x, y) turned by angle (radians, counter-clockwise is
 * negative as on screen): ha 0 left, 0.5 centre, 1 right; va 0 top, 0.5 middle, 1
 * bottom of the font's ascent..descent box. With max_w > 0 the font shrinks (down to 7
 * px) until s fits. The current font and colour are used and the font size restored. */
static void text_at(cairo_t *cr, double x, double y, const char *s, double ha, double va, double angle, double max_w)
{
    double size0 = 0;
    cairo_font_extents_t fe;
    cairo_matrix_t m;
    cairo_get_font_matrix(cr, &m);
    size0 = m.yy;
    double w = text_width(cr, s);
    if (max_w > 0 && w > max_w) {
        double size = size0 * max_w / w;
        cairo_set_font_size(cr, size < 7 ? 7 : size);
        w = text_width(cr, s);
    }
    cairo_font_extents(cr, &fe);
    cairo_save(cr);
    cairo_translate(cr, x, y);
    cairo_rotate(cr, angle);
    cairo_move_to(cr, -ha * w, fe.ascent - va * (fe.ascent + fe.descent));
    cairo_show_text(cr, s);
    cairo_restore(cr);
    cairo_set_font_size(cr, size0);
}

/* The PNG bytes cairo writes, in memory. */
typedef struct {
    unsigned char *p;
    size_t n, cap;
} png_bytes;

static cairo_status_t png_append(void *closure, const unsigned char *data, unsigned int len)
{
    png_bytes *b = closure;
    if (b->n + len > b->cap) {
        size_t cap = 2 * (b->n + len);
        unsigned char *t = realloc(b->p, cap);
        if (!t) return CAIRO_STATUS_NO_MEMORY;
        b->p = t, b->cap = cap;
    }
    memcpy(b->p + b->n, data, len);
    b->n += len;
    return CAIRO_STATUS_SUCCESS;
}

/* The surface to path as PNG, written atomically (a full disk leaves the old
 * file); 0 or 1 with a message. */
static int write_png(cairo_surface_t *s, cairo_t *cr, const char *path)
{
    cairo_status_t st = cairo_status(cr);
    png_bytes b = {0};
    if (st == CAIRO_STATUS_SUCCESS) {
        cairo_surface_flush(s);
        st = cairo_surface_write_to_png_stream(s, png_append, &b);
    }
    if (st != CAIRO_STATUS_SUCCESS) {
        free(b.p);
        cli_error("cannot write %s: %s", path, cairo_status_to_string(st));
        return 1;
    }
    nb_status ws = nb_write_file_atomic(path, b.p, b.n);
    free(b.p);
    if (ws) {
        cli_error("%s", nb_last_error());
        return 1;
    }
    return 0;
}

/* Every cairo object is destroyed: free cairo's font caches, then fontconfig's
 * configuration, so that a leak checker (make SAN=1) sees a clean exit. */
static void release_fonts(void)
{
    cairo_debug_reset_static_data();
    FcFini();
}

/* A new white ARGB surface and its context; 1 with a message if cairo fails. */
static int new_canvas(int w, int h, cairo_surface_t **s, cairo_t **cr)
{
    *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    *cr = cairo_create(*s);
    if (cairo_status(*cr) != CAIRO_STATUS_SUCCESS) {
        cli_error("cannot draw a %dx%d image: %s", w, h, cairo_status_to_string(cairo_status(*cr)));
        cairo_destroy(*cr);
        cairo_surface_destroy(*s);
        return 1;
    }
    cairo_set_source_rgb(*cr, 1, 1, 1);
    cairo_paint(*cr);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* line charts                                                               */
/* ------------------------------------------------------------------------ */

/* A round step near range/target: 1, 2, 2.5 or 5 times a power of ten. */
static double nice_step(double range, int target)
{
    double raw = range / target, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * mag;
}

/* Decimals that print every multiple of step exactly. */
static int decimals(double step)
{
    int d = 0;
    while (d < 6 && fabs(step * pow(10, d) - floor(step * pow(10, d) + 0.5)) > 1e-6) d++;
    return d;
}

typedef struct {
    double x0, x1, y0, y1, xstep, ystep; /* data ranges and tick steps */
    double left, top, w, h;               /* plot area in pixels */
} axes;

static double px(const axes *a, double x) { return a->left + (x - a->x0) / (a->x1 - a->x0) * a->w; }
static double py(const axes *a, double y) { return a->top + a->h - (y - a->y0) / (a->y1 - a->y0) * a->h; }

/* Data ranges of a panel with round ends; 0 if the panel has no point. */
static int panel_ranges(const plot_panel *p, axes *a)
{
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    double scale = p->percent ? 100 : 1;
    for (int l = 0; l < p->nlines; l++)
        for (int i = 0; i < p->lines[l].n; i++) {
            double x = p->lines[l].x[i], y = p->lines[l].y[i] * scale;
            if (!isfinite(x) || !isfinite(y)) continue;
            xlo = fmin(xlo, x), xhi = fmax(xhi, x), ylo = fmin(ylo, y), yhi = fmax(yhi, y);
        }
    if (!(xlo <= xhi)) return 0;
    if (p->integer_x && xlo > 0 && xlo < 1) xlo = 0; /* per-step points: the axis starts at epoch 0 */
    if (xhi - xlo < 1e-9) xlo -= 0.5, xhi += 0.5; /* one epoch */
    if (p->integer_x) {
        a->xstep = fmax(1, nice_step(xhi - xlo, 8));
        if (a->xstep != floor(a->xstep)) a->xstep = ceil(a->xstep);
    } else {
        a->xstep = nice_step(xhi - xlo, 8);
    }
    a->x0 = xlo - 0.02 * (xhi - xlo), a->x1 = xhi + 0.02 * (xhi - xlo); /* end markers whole */
    double span = yhi - ylo;
    if (span < 1e-9 * fmax(1, fabs(yhi))) span = fmax(fabs(yhi) * 0.1, p->percent ? 1 : 0.01);
    double lo = ylo - 0.06 * span, hi = yhi + 0.06 * span;
    if (ylo >= 0 && lo < 0) lo = 0;
    if (p->percent && hi > 100) hi = 100;
    a->ystep = nice_step(hi - lo, 6);
    a->y0 = floor(lo / a->ystep + 1e-9) * a->ystep;
    a->y1 = ceil(hi / a->ystep - 1e-9) * a->ystep;
    if (a->y1 - a->y0 < a->ystep) a->y1 = a->y0 + a->ystep;
    return 1;
}

/* Number of points of the panel inside the rectangle (pixels). */
static int points_in(const plot_panel *p, const axes *a, double x, double y, double w, double h)
{
    int n = 0;
    double scale = p->percent ? 100 : 1;
    for (int l = 0; l < p->nlines; l++)
        for (int i = 0; i < p->lines[l].n; i++) {
            double X = px(a, p->lines[l].x[i]), Y = py(a, p->lines[l].y[i] * scale);
            n += X >= x && X <= x + w && Y >= y && Y <= y + h;
        }
    return n;
}

static void draw_legend(cairo_t *cr, const plot_panel *p, const axes *a, double fs)
{
    int n = 0;
    double tw = 0;
    set_font(cr, fs, 0);
    for (int l = 0; l < p->nlines; l++)
        if (p->lines[l].label) n++, tw = fmax(tw, text_width(cr, p->lines[l].label));
    if (!n) return;
    double row = fs * 1.45, sample = 2.2 * fs, pad = 0.6 * fs;
    double bw = fmin(pad + sample + 0.5 * fs + tw + pad, a->w - 2 * pad), bh = n * row + pad;
    /* the corner that hides the fewest points */
    double cx[4] = {a->left + a->w - bw - pad, a->left + pad, a->left + a->w - bw - pad, a->left + pad};
    double cy[4] = {a->top + pad, a->top + pad, a->top + a->h - bh - pad, a->top + a->h - bh - pad};
    int best = 0, fewest = 1 << 30;
    for (int k = 0; k < 4; k++) {
        int c = points_in(p, a, cx[k] - 4, cy[k] - 4, bw + 8, bh + 8);
        if (c < fewest) fewest = c, best = k;
    }
    double x = cx[best], y = cy[best];
    cairo_rectangle(cr, x, y, bw, bh);
    cairo_set_source_rgba(cr, 1, 1, 1, 0.88);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.8, 0.8, 0.8);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
    int k = 0;
    for (int l = 0; l < p->nlines; l++) {
        const plot_line *ln = &p->lines[l];
        if (!ln->label) continue;
        double yy = y + pad / 2 + (k++ + 0.5) * row;
        set_color(cr, ln->color, 1);
        cairo_set_line_width(cr, 2.2);
        double dash[2] = {6, 4};
        cairo_set_dash(cr, dash, ln->dashed ? 2 : 0, 0);
        cairo_move_to(cr, x + pad, yy);
        cairo_line_to(cr, x + pad + sample, yy);
        cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0);
        if (ln->markers) {
            cairo_arc(cr, x + pad + sample / 2, yy, 3.5, 0, 2 * M_PI);
            cairo_fill(cr);
        }
        cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
        text_at(cr, x + pad + sample + 0.5 * fs, yy, ln->label, 0, 0.5, 0, bw - 2 * pad - sample - 0.5 * fs);
    }
}

static void draw_panel(cairo_t *cr, const plot_panel *p, double X, double Y, double W, double H, double fs)
{
    /* margins: title above, tick labels and axis label left and below */
    set_font(cr, fs * 1.15, 1);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    if (p->title) text_at(cr, X + W / 2, Y, p->title, 0.5, 0, 0, W);
    axes a = {0};
    int have = panel_ranges(p, &a);
    set_font(cr, fs, 0);
    double label_w = 0;
    if (have) {
        int yd = decimals(a.ystep);
        char buf[64];
        for (double v = a.y0; v <= a.y1 + a.ystep * 1e-6; v += a.ystep) {
            snprintf(buf, sizeof buf, "%.*f", yd, v);
            label_w = fmax(label_w, text_width(cr, buf));
        }
    }
    a.left = X + 2.2 * fs + label_w + 0.6 * fs;
    a.top = Y + 2.3 * fs;
    a.w = X + W - a.left - 0.5 * fs;
    a.h = Y + H - a.top - 3.4 * fs;
    /* axis labels */
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    if (p->xlabel) text_at(cr, a.left + a.w / 2, Y + H, p->xlabel, 0.5, 1, 0, a.w);
    if (p->ylabel) text_at(cr, X, a.top + a.h / 2, p->ylabel, 0.5, 0, -M_PI / 2, a.h);
    if (!have) {
        cairo_rectangle(cr, a.left, a.top, a.w, a.h);
        cairo_set_source_rgb(cr, 0.6, 0.6, 0.6);
        cairo_set_line_width(cr, 1);
        cairo_stroke(cr);
        set_font(cr, fs, 0);
        text_at(cr, a.left + a.w / 2, a.top + a.h / 2, p->empty ? p->empty : "no data", 0.5, 0.5, 0, a.w - fs);
        return;
    }
    /* grid and tick labels */
    char buf[64];
    int yd = decimals(a.ystep), xd = p->integer_x ? 0 : decimals(a.xstep);
    cairo_set_line_width(cr, 1);
    for (double v = a.y0; v <= a.y1 + a.ystep * 1e-6; v += a.ystep) {
        double yy = floor(py(&a, v)) + 0.5;
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, a.left, yy);
        cairo_line_to(cr, a.left + a.w, yy);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.25, 0.25, 0.25);
        snprintf(buf, sizeof buf, "%.*f", yd, fabs(v) < 1e-6 * a.ystep ? 0 : v);
        text_at(cr, a.left - 0.5 * fs, yy, buf, 1, 0.5, 0, 0);
    }
    double first = ceil(a.x0 / a.xstep - 1e-9) * a.xstep;
    for (double v = first; v <= a.x1 + a.xstep * 1e-6; v += a.xstep) {
        double xx = floor(px(&a, v)) + 0.5;
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, xx, a.top);
        cairo_line_to(cr, xx, a.top + a.h);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.25, 0.25, 0.25);
        cairo_move_to(cr, xx, a.top + a.h);
        cairo_line_to(cr, xx, a.top + a.h + 4);
        cairo_stroke(cr);
        snprintf(buf, sizeof buf, "%.*f", xd, fabs(v) < 1e-6 * a.xstep ? 0 : v);
        text_at(cr, xx, a.top + a.h + 6, buf, 0.5, 0, 0, 0);
    }
    /* the lines, clipped to the plot area */
    cairo_save(cr);
    cairo_rectangle(cr, a.left, a.top, a.w, a.h);
    cairo_clip(cr);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
    double scale = p->percent ? 100 : 1;
    for (int l = 0; l < p->nlines; l++) {
        const plot_line *ln = &p->lines[l];
        set_color(cr, ln->color, ln->faint ? 0.35 : 1);
        cairo_set_line_width(cr, ln->faint ? 1.2 : 2.2);
        double dash[2] = {6, 4};
        cairo_set_dash(cr, dash, ln->dashed ? 2 : 0, 0);
        int pen = 0, npts = 0;
        for (int i = 0; i < ln->n; i++) {
            if (!isfinite(ln->x[i]) || !isfinite(ln->y[i])) {
                pen = 0;
                continue;
            }
            double xx = px(&a, ln->x[i]), yy = py(&a, ln->y[i] * scale);
            if (pen) cairo_line_to(cr, xx, yy);
            else cairo_move_to(cr, xx, yy);
            pen = 1;
            npts++;
        }
        cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0);
        if (ln->markers || npts == 1)
            for (int i = 0; i < ln->n; i++) {
                if (!isfinite(ln->x[i]) || !isfinite(ln->y[i])) continue;
                cairo_arc(cr, px(&a, ln->x[i]), py(&a, ln->y[i] * scale), 3.5, 0, 2 * M_PI);
                cairo_fill(cr);
            }
    }
    cairo_restore(cr);
    cairo_rectangle(cr, floor(a.left) + 0.5, floor(a.top) + 0.5, floor(a.w), floor(a.h));
    cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
    draw_legend(cr, p, &a, fs * 0.95);
}

int plot_panels_png(const char *path, const char *title, const plot_panel *panels, int npanels, int width, int height)
{
    cairo_surface_t *s;
    cairo_t *cr;
    if (new_canvas(width, height, &s, &cr)) return 1;
    double fs = fmax(9, fmin(width / (npanels * 42.0), height / 32.0)); /* base font size in pixels */
    double top = 0.8 * fs;
    if (title) {
        set_font(cr, fs * 1.4, 1);
        cairo_set_source_rgb(cr, 0.05, 0.05, 0.05);
        text_at(cr, width / 2.0, top, title, 0.5, 0, 0, width - 2 * fs);
        top += fs * 2.6;
    }
    double margin = 1.2 * fs, gap = 2.5 * fs;
    double pw = (width - 2 * margin - (npanels - 1) * gap) / npanels;
    for (int i = 0; i < npanels; i++)
        draw_panel(cr, &panels[i], margin + i * (pw + gap), top, pw, height - top - 0.8 * fs, fs);
    int rc = write_png(s, cr, path);
    cairo_destroy(cr);
    cairo_surface_destroy(s);
    release_fonts();
    return rc;
}

/* ------------------------------------------------------------------------ */
/* confusion matrix                                                          */
/* ------------------------------------------------------------------------ */

/* matplotlib's "Blues" at t in [0, 1] */
static void blues(double t, double rgb[3])
{
    static const double stops[5][3] = {
        {0.969, 0.984, 1.000}, {0.776, 0.859, 0.937}, {0.420, 0.682, 0.839}, {0.129, 0.443, 0.710}, {0.031, 0.188, 0.420},
    };
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    int i = t >= 1 ? 3 : (int)(t * 4);
    double f = t * 4 - i;
    for (int c = 0; c < 3; c++) rgb[c] = stops[i][c] + f * (stops[i + 1][c] - stops[i][c]);
}

int plot_confusion_png(const char *path, const char *title, const int64_t *counts, int k, const char *const *names,
                       int *out_w, int *out_h)
{
    char num[32];
    const char *label[k > 0 ? k : 1];
    char digits[k > 0 ? k : 1][16];
    for (int i = 0; i < k; i++) {
        snprintf(digits[i], sizeof digits[i], "%d", i);
        label[i] = names && names[i] ? names[i] : digits[i];
    }
    double cell = k <= 10 ? 60 : fmax(14, fmin(60, 640.0 / k));
    double fs = fmin(14, fmax(8, cell * 0.42)); /* class-name font size */
    double af = fmax(13, fs * 1.1);             /* axis titles */
    /* measure with a scratch surface */
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1);
    cairo_t *cr = cairo_create(s);
    set_font(cr, fs, 0);
    double name_w = 0;
    for (int i = 0; i < k; i++) name_w = fmin(fmax(name_w, text_width(cr, label[i])), 180);
    cairo_destroy(cr);
    cairo_surface_destroy(s);
    double diag = name_w * M_SQRT1_2 + fs; /* extent of a 45-degree label */
    double grid = cell * k;
    double left = 20 + 1.3 * af + name_w + 10, top = 64, bar = 16, right = 80;
    left = fmax(left, diag - cell / 2 + 10);
    int W = (int)ceil(left + grid + 24 + bar + right), H = (int)ceil(top + grid + 6 + diag + 1.3 * af + 10);
    if (W < 640) { /* room for the title: centre the figure */
        left += (640 - W) / 2.0;
        W = 640;
    }
    if (new_canvas(W, H, &s, &cr)) return 1;
    cairo_set_source_rgb(cr, 0.05, 0.05, 0.05);
    set_font(cr, 17, 1);
    if (title) text_at(cr, W / 2.0, 18, title, 0.5, 0, 0, W - 40);
    /* cells */
    for (int t = 0; t < k; t++) {
        int64_t row = 0;
        for (int p = 0; p < k; p++) row += counts[(int64_t)t * k + p];
        for (int p = 0; p < k; p++) {
            int64_t c = counts[(int64_t)t * k + p];
            double share = row ? (double)c / (double)row : 0, rgb[3];
            blues(share, rgb);
            double x = left + p * cell, y = top + t * cell;
            cairo_rectangle(cr, x, y, cell, cell);
            cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
            cairo_fill(cr);
            if (cell >= 22) {
                snprintf(num, sizeof num, "%lld", (long long)c);
                set_font(cr, fmin(13, cell * 0.3), t == p);
                if (share > 0.5) cairo_set_source_rgb(cr, 1, 1, 1);
                else cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
                text_at(cr, x + cell / 2, y + cell / 2, num, 0.5, 0.5, 0, cell - 4);
            }
        }
    }
    /* thin separators and the frame */
    cairo_set_source_rgba(cr, 1, 1, 1, 0.7);
    cairo_set_line_width(cr, 1);
    for (int i = 1; i < k && cell >= 10; i++) {
        cairo_move_to(cr, left + i * cell, top);
        cairo_line_to(cr, left + i * cell, top + grid);
        cairo_move_to(cr, left, top + i * cell);
        cairo_line_to(cr, left + grid, top + i * cell);
    }
    cairo_stroke(cr);
    cairo_rectangle(cr, left, top, grid, grid);
    cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
    cairo_stroke(cr);
    /* class names: true classes left of the rows, predicted ones under the columns at 45 degrees */
    set_font(cr, fs, 0);
    cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
    for (int i = 0; i < k; i++) {
        text_at(cr, left - 6, top + (i + 0.5) * cell, label[i], 1, 0.5, 0, 180);
        text_at(cr, left + (i + 0.5) * cell + fs * 0.25, top + grid + 6, label[i], 1, 0.5, -M_PI / 4, 180);
    }
    set_font(cr, af, 1);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    text_at(cr, left - 14 - name_w - 1.2 * af, top + grid / 2, "true class", 0.5, 0, -M_PI / 2, grid);
    text_at(cr, left + grid / 2, H - 10, "predicted class", 0.5, 1, 0, grid);
    /* colour bar: share of the row */
    double bx = left + grid + 24;
    cairo_pattern_t *g = cairo_pattern_create_linear(0, top + grid, 0, top);
    for (int i = 0; i <= 8; i++) {
        double rgb[3];
        blues(i / 8.0, rgb);
        cairo_pattern_add_color_stop_rgb(g, i / 8.0, rgb[0], rgb[1], rgb[2]);
    }
    cairo_rectangle(cr, bx, top, bar, grid);
    cairo_set_source(cr, g);
    cairo_fill_preserve(cr);
    cairo_pattern_destroy(g);
    cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
    cairo_stroke(cr);
    set_font(cr, 12, 0);
    for (int i = 0; i <= 4; i++) {
        double yy = top + grid - i / 4.0 * grid;
        cairo_move_to(cr, bx + bar, yy);
        cairo_line_to(cr, bx + bar + 4, yy);
        cairo_stroke(cr);
        snprintf(num, sizeof num, "%d%%", i * 25);
        text_at(cr, bx + bar + 7, yy, num, 0, 0.5, 0, 0);
    }
    text_at(cr, bx + bar + 50, top + grid / 2, "share of the true class", 0.5, 0, -M_PI / 2, grid);
    if (out_w) *out_w = W;
    if (out_h) *out_h = H;
    int rc = write_png(s, cr, path);
    cairo_destroy(cr);
    cairo_surface_destroy(s);
    release_fonts();
    return rc;
}
