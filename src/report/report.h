/*
 * report.h - internals of src/report shared by report.c (reading a run
 * directory, assembling the page) and svg.c (the charts). Not installed.
 *
 * Charts are drawn here as inline SVG so that the report is one file that
 * renders without scripts or network access. The training curves also
 * carry their series as JSON beside the SVG, which the page's own inline
 * script (report.js) draws again when the reader smooths, zooms, changes
 * an axis or hides a run.
 */
#ifndef GG_REPORT_H
#define GG_REPORT_H

#include "gradguard.h"

#include <stddef.h>

/* ---- a growing string ------------------------------------------------------ */

/* Appends never fail: an allocation failure sets oom and later appends are
 * dropped, so the writer checks once at the end. */
typedef struct gg_sb {
    char *p;
    size_t n, cap;
    int oom;
    int ids; /* counter for ids unique within the page (clip paths) */
} gg_sb;

void gg_sb_free(gg_sb *b);
void gg_sb_put(gg_sb *b, const char *s, size_t n);
void gg_sb_puts(gg_sb *b, const char *s);
void gg_sb_printf(gg_sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s[0..n) as HTML text or attribute value: & < > " ' escaped, control
 * characters other than newline and tab replaced by '?'. */
void gg_sb_html(gg_sb *b, const char *s, size_t n);
/* The same for a NUL-terminated string (NULL appends nothing). */
void gg_sb_htmls(gg_sb *b, const char *s);

/* ---- numbers, ticks and decimation ---------------------------------------- */

/* A short label for v: "0", "0.25", "1.5k", "2M", "1e-5", "3.2e+12". */
void gg_fmt_num(char *buf, size_t cap, double v);
/* Ticks at 1, 2, 2.5 or 5 times a power of ten covering [lo, hi], about
 * `target` of them; at most max written to t. The first and last tick
 * enclose [lo, hi] and are the axis range. Returns the count (>= 2). */
int gg_ticks_linear(double lo, double hi, int target, double *t, int max);
/* Ticks for a log axis over [lo, hi] (both > 0): every power of ten (or
 * every k-th when there are many decades), enclosing the range. Returns the
 * count (>= 2); minor (unlabelled) ticks are left to the caller. */
int gg_ticks_log(double lo, double hi, double *t, int max);
/* Reduces (x[i], y[i]) to at most maxpts points (maxpts >= 4) keeping the
 * shape: the points are cut into buckets of consecutive indices and each
 * bucket keeps its smallest and largest finite y, in index order, so spikes
 * survive. A bucket with no finite y but a missing value keeps one NaN
 * point (a gap in the line). Returns the number of points written to ox,
 * oy (each of room maxpts). n <= maxpts copies the input. */
size_t gg_decimate(const double *x, const double *y, size_t n, size_t maxpts, double *ox, double *oy);
/* The same, as the indices of the points kept (idx has room for maxpts), so
 * other arrays of the series can follow. */
size_t gg_decimate_idx(const double *x, const double *y, size_t n, size_t maxpts, size_t *idx);
/* A colour of the viridis scale for t in [0, 1] as "#rrggbb". */
void gg_viridis(double t, char out[8]);

/* ---- charts ---------------------------------------------------------------- */

typedef enum gg_shape_kind {
    GG_MK_CIRCLE,
    GG_MK_TRIANGLE, /* pointing down, at the step */
    GG_MK_SQUARE,
    GG_MK_DIAMOND,
    GG_MK_CROSS,
    GG_MK_STAR,
    GG_MK_LINE /* legend only: a short line */
} gg_shape_kind;

typedef struct gg_plot_series {
    const char *name;  /* legend and tooltip text; NULL keeps it out of the legend */
    const char *color; /* "#rrggbb" */
    const double *x, *y;
    size_t n;
    int line;          /* 0: none, 1: solid, 2: dashed */
    double width;      /* stroke width (0: 1.5) */
    gg_shape_kind dot; /* with dots != 0, a marker per point with a tooltip */
    int dots;
    int nolegend;      /* name only in tooltips, not in the legend */
    const double *tag; /* optional per-point number shown in the dot tooltip ("epoch 3") */
    const char *tag_name;
    double opacity;    /* 0: opaque; a rolled-back branch is drawn faded */
    const double *t;   /* optional per-point wall time in seconds (the script's time axis) */
    int run;           /* which run of a comparison (the script hides runs by it) */
    int smooth;        /* the script may smooth this line (per-step values) */
} gg_plot_series;

/* A guard event: a marker in the strip above the plot at its step and a
 * guide line down through the plot; tip is its tooltip. */
typedef struct gg_plot_marker {
    double x;
    const char *color;
    gg_shape_kind shape;
    const char *tip;
    double t;           /* its wall time (NaN: unknown) */
    int run;
} gg_plot_marker;

/* A horizontal reference line (a clip threshold). */
typedef struct gg_plot_hline {
    double y;
    const char *label, *color;
    int run;
} gg_plot_hline;

typedef struct gg_legend_item {
    const char *name, *color;
    gg_shape_kind shape;
    int dash;
    double opacity; /* 0: opaque */
} gg_legend_item;

typedef struct gg_plot {
    const char *title; /* the SVG's accessible name */
    const char *xlabel, *ylabel;
    int logy;
    int zero;               /* a linear y axis reaches down (or up) to 0 */
    double ymin, ymax;      /* NaN, or a bound the y axis never goes beyond (accuracy in [0, 100]) */
    int width, height;      /* 0: 640 x 330 */
    int max_points;         /* points per chart after decimation (0: 2000) */
    const gg_plot_series *s;
    int ns;
    const gg_plot_marker *m;
    int nm;
    const gg_plot_hline *h;
    int nh;
    double band_lo, band_hi; /* a shaded y band when band_lo < band_hi */
    const char *band_label;
    const gg_legend_item *extra; /* more legend entries (event kinds, line styles) */
    int nextra;
    const char *empty_text; /* shown when no series has a point ("no data") */
    int interactive;        /* also write the series as JSON for the page's script */
} gg_plot;

void gg_plot_svg(gg_sb *b, const gg_plot *p);

/* A heat map: rows (tensors) by columns (step ranges), log colour scale. */
typedef struct gg_heat {
    const char *title, *xlabel, *zlabel;
    const char *const *rows;
    int nrows, ncols;
    double x0, x1;            /* the step range the columns cover */
    const double *v;          /* nrows * ncols, row-major; NaN: no data */
    const unsigned char *bad; /* nrows * ncols: 1 where a non-finite value was logged */
    const gg_plot_marker *m;  /* guard events, drawn as ticks above the map */
    int nm;
} gg_heat;

void gg_heat_svg(gg_sb *b, const gg_heat *h);

/* The page's inline script (src/report/report.js, compiled in): redraws the charts that carry
 * JSON, with smoothing, a log/linear y toggle, zoom on the x axis, a
 * wall-time x axis and runs that can be hidden. No network, no eval. */
extern const char gg_report_js[];

#endif
