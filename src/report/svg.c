/* svg.c - the report's charts as inline SVG: line charts with nice ticks
 * (linear or log y), legends, guard-event markers with tooltips, reference
 * lines and bands, and a heat map with a colour bar. Everything is drawn
 * from numbers here, so the page needs no script to show it; an
 * interactive chart also writes its series as JSON after the SVG, for the
 * page's script to draw again as the reader changes it. */
#include "report.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- string buffer ---------------------------------------------------------- */

void gg_sb_free(gg_sb *b)
{
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

static int sb_room(gg_sb *b, size_t add)
{
    if (b->oom) return 0;
    if (add < b->cap && b->n + add + 1 <= b->cap) return 1;
    size_t cap = b->cap ? b->cap : 1u << 14;
    while (cap < b->n + add + 1) {
        if (cap > SIZE_MAX / 4) {
            b->oom = 1;
            return 0;
        }
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return 0;
    }
    b->p = p;
    b->cap = cap;
    return 1;
}

void gg_sb_put(gg_sb *b, const char *s, size_t n)
{
    if (!n || !sb_room(b, n)) return;
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

void gg_sb_puts(gg_sb *b, const char *s)
{
    if (s) gg_sb_put(b, s, strlen(s));
}

void gg_sb_printf(gg_sb *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k <= 0) return;
    if ((size_t)k < sizeof tmp) {
        gg_sb_put(b, tmp, (size_t)k);
        return;
    }
    if (!sb_room(b, (size_t)k)) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)k + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)k;
}

void gg_sb_html(gg_sb *b, const char *s, size_t n)
{
    size_t run = 0; /* start of the pending unescaped run */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *rep = NULL;
        switch (c) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        default:
            if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) rep = "?";
        }
        if (rep) {
            gg_sb_put(b, s + run, i - run);
            gg_sb_puts(b, rep);
            run = i + 1;
        }
    }
    gg_sb_put(b, s + run, n - run);
}

void gg_sb_htmls(gg_sb *b, const char *s)
{
    if (s) gg_sb_html(b, s, strlen(s));
}

/* ---- numbers ---------------------------------------------------------------- */

/* "1e-05" -> "1e-5", "2.5e+12" -> "2.5e12" */
static void tidy_exponent(char *s)
{
    char *e = strchr(s, 'e');
    if (!e) return;
    char *src = e + 1, *dst = e + 1;
    if (*src == '+') src++;
    else if (*src == '-') *dst++ = *src++;
    while (*src == '0' && src[1]) src++;
    memmove(dst, src, strlen(src) + 1);
}

void gg_fmt_num(char *buf, size_t cap, double v)
{
    double a = fabs(v);
    if (isnan(v)) snprintf(buf, cap, "n/a");
    else if (isinf(v)) snprintf(buf, cap, v > 0 ? "inf" : "-inf");
    else if (a < 1e-300) snprintf(buf, cap, "0");
    else if (a >= 1e9 || a < 1e-3) snprintf(buf, cap, "%.3g", v);
    else if (a >= 1e6) snprintf(buf, cap, "%.4gM", v / 1e6);
    else if (a >= 1e4) snprintf(buf, cap, "%.4gk", v / 1e3);
    else snprintf(buf, cap, "%.4g", v);
    tidy_exponent(buf);
}

static double nice_step(double raw)
{
    double e = floor(log10(raw));
    double f = raw / pow(10, e);
    double nf = f <= 1.0000001 ? 1 : f <= 2.0000001 ? 2 : f <= 2.5000001 ? 2.5 : f <= 5.0000001 ? 5 : 10;
    return nf * pow(10, e);
}

int gg_ticks_linear(double lo, double hi, int target, double *t, int max)
{
    if (!isfinite(lo) || !isfinite(hi)) lo = 0, hi = 1;
    if (hi < lo) {
        double s = lo;
        lo = hi;
        hi = s;
    }
    if (hi - lo <= 1e-12 * fmax(fabs(lo), fabs(hi)) || hi == lo) {
        double d = lo == 0 ? 1 : fabs(lo) * 0.1;
        lo -= d;
        hi += d;
    }
    if (target < 2) target = 2;
    if (max < 2) return 0;
    double step = nice_step((hi - lo) / (target - 1));
    double k0, k1;
    for (;;) {
        k0 = floor(lo / step + 1e-9);
        k1 = ceil(hi / step - 1e-9);
        if (k1 - k0 + 1 <= max) break;
        step = nice_step(step * 1.5);
    }
    if (k1 <= k0) k1 = k0 + 1;
    int n = (int)(k1 - k0) + 1;
    for (int i = 0; i < n; i++) {
        double v = (k0 + i) * step;
        t[i] = fabs(v) < step * 1e-9 ? 0 : v;
    }
    return n;
}

int gg_ticks_log(double lo, double hi, double *t, int max)
{
    if (!(lo > 0) || !isfinite(lo)) lo = 1e-3;
    if (!(hi > 0) || !isfinite(hi)) hi = lo * 10;
    if (hi < lo) {
        double s = lo;
        lo = hi;
        hi = s;
    }
    if (max < 2) return 0;
    int e0 = (int)floor(log10(lo) + 1e-9), e1 = (int)ceil(log10(hi) - 1e-9);
    if (e0 < -300) e0 = -300;
    if (e1 > 300) e1 = 300;
    if (e1 <= e0) e1 = e0 + 1;
    int k = 1; /* decades per tick */
    while ((e1 - e0 + k - 1) / k > 7 || (e1 - e0 + k - 1) / k + 1 > max) k++;
    /* align to multiples of k so that 1 (10^0) stays a tick when it is in range */
    int a0 = (int)floor((double)e0 / k) * k;
    int a1 = a0 + (int)ceil((double)(e1 - a0) / k) * k;
    int n = 0;
    for (int e = a0; e <= a1 && n < max; e += k) t[n++] = pow(10, e);
    return n;
}

size_t gg_decimate_idx(const double *x, const double *y, size_t n, size_t maxpts, size_t *idx)
{
    (void)x;
    if (n <= maxpts) {
        for (size_t i = 0; i < n; i++) idx[i] = i;
        return n;
    }
    size_t nb = maxpts / 2, out = 0;
    for (size_t b = 0; b < nb; b++) {
        size_t i0 = (size_t)((double)b * (double)n / (double)nb);
        size_t i1 = (size_t)((double)(b + 1) * (double)n / (double)nb);
        if (b + 1 == nb) i1 = n;
        size_t imin = SIZE_MAX, imax = SIZE_MAX;
        int gap = 0;
        for (size_t i = i0; i < i1; i++) {
            if (!isfinite(y[i])) {
                gap = 1;
                continue;
            }
            if (imin == SIZE_MAX || y[i] < y[imin]) imin = i;
            if (imax == SIZE_MAX || y[i] > y[imax]) imax = i;
        }
        if (imin == SIZE_MAX) {
            /* the bucket's first point, whose y is missing: a gap */
            if (gap && i1 > i0) idx[out++] = i0;
            continue;
        }
        size_t a = imin < imax ? imin : imax, c = imin < imax ? imax : imin;
        idx[out++] = a;
        if (c != a) idx[out++] = c;
    }
    return out;
}

size_t gg_decimate(const double *x, const double *y, size_t n, size_t maxpts, double *ox, double *oy)
{
    if (n <= maxpts) {
        memcpy(ox, x, n * sizeof *x);
        memcpy(oy, y, n * sizeof *y);
        return n;
    }
    size_t *idx = malloc(maxpts * sizeof *idx);
    if (!idx) return 0;
    size_t m = gg_decimate_idx(x, y, n, maxpts, idx);
    for (size_t k = 0; k < m; k++) {
        ox[k] = x[idx[k]];
        oy[k] = isfinite(y[idx[k]]) ? y[idx[k]] : NAN;
    }
    free(idx);
    return m;
}

void gg_viridis(double t, char out[8])
{
    /* nine evenly spaced samples of the viridis scale */
    static const unsigned char v[9][3] = {{68, 1, 84},    {71, 45, 123},  {59, 82, 139},
                                          {44, 114, 142}, {33, 145, 140}, {40, 174, 128},
                                          {94, 201, 98},  {173, 220, 48}, {253, 231, 37}};
    if (!(t >= 0)) t = 0;
    if (t > 1) t = 1;
    double u = t * 8;
    int i = (int)u;
    if (i > 7) i = 7;
    double f = u - i;
    int c[3];
    for (int k = 0; k < 3; k++) c[k] = (int)lround(v[i][k] + f * (v[i + 1][k] - v[i][k]));
    snprintf(out, 8, "#%02x%02x%02x", c[0], c[1], c[2]);
}

/* ---- shapes and text -------------------------------------------------------- */

#define PI 3.14159265358979323846

static void shape(gg_sb *b, gg_shape_kind k, double cx, double cy, double r, const char *color)
{
    switch (k) {
    case GG_MK_CIRCLE:
        gg_sb_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\" stroke=\"#fff\" stroke-width=\"1\"/>",
                     cx, cy, r * 0.85, color);
        break;
    case GG_MK_TRIANGLE:
        gg_sb_printf(b, "<path d=\"M%.1f %.1fL%.1f %.1fL%.1f %.1fZ\" fill=\"%s\" stroke=\"#fff\" stroke-width=\"1\"/>",
                     cx - r, cy - r * 0.8, cx + r, cy - r * 0.8, cx, cy + r, color);
        break;
    case GG_MK_SQUARE:
        gg_sb_printf(b,
                     "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" stroke=\"#fff\" "
                     "stroke-width=\"1\"/>",
                     cx - r * 0.8, cy - r * 0.8, r * 1.6, r * 1.6, color);
        break;
    case GG_MK_DIAMOND:
        gg_sb_printf(b,
                     "<path d=\"M%.1f %.1fL%.1f %.1fL%.1f %.1fL%.1f %.1fZ\" fill=\"%s\" stroke=\"#fff\" "
                     "stroke-width=\"1\"/>",
                     cx, cy - r, cx + r, cy, cx, cy + r, cx - r, cy, color);
        break;
    case GG_MK_CROSS:
        gg_sb_printf(b,
                     "<path d=\"M%.1f %.1fL%.1f %.1fM%.1f %.1fL%.1f %.1f\" stroke=\"%s\" stroke-width=\"2.6\" "
                     "stroke-linecap=\"round\" fill=\"none\"/>",
                     cx - r * 0.8, cy - r * 0.8, cx + r * 0.8, cy + r * 0.8, cx - r * 0.8, cy + r * 0.8, cx + r * 0.8,
                     cy - r * 0.8, color);
        break;
    case GG_MK_STAR: {
        gg_sb_puts(b, "<path d=\"");
        for (int i = 0; i < 10; i++) {
            double a = -PI / 2 + i * PI / 5, rr = i % 2 ? r * 0.45 : r * 1.1;
            gg_sb_printf(b, "%c%.1f %.1f", i ? 'L' : 'M', cx + rr * cos(a), cy + rr * sin(a));
        }
        gg_sb_printf(b, "Z\" fill=\"%s\" stroke=\"#fff\" stroke-width=\"0.8\"/>", color);
        break;
    }
    case GG_MK_LINE:
        gg_sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2.5\"/>",
                     cx - r * 2, cy, cx + r * 2, cy, color);
        break;
    }
}

/* Rough width of a string in the chart font (px at 11.5px). */
static double text_w(const char *s, double px) { return (double)strlen(s) * px * 0.56; }

static void text(gg_sb *b, double x, double y, const char *anchor, const char *cls, const char *s)
{
    gg_sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\"", x, y);
    if (anchor) gg_sb_printf(b, " text-anchor=\"%s\"", anchor);
    if (cls) gg_sb_printf(b, " class=\"%s\"", cls);
    gg_sb_puts(b, ">");
    gg_sb_htmls(b, s);
    gg_sb_puts(b, "</text>");
}

/* ---- legend ------------------------------------------------------------------- */

typedef struct legend_entry {
    const char *name, *color;
    gg_shape_kind shape;
    int dash;
    double opacity;
} legend_entry;

#define LEGEND_ROW 18.0
#define MARKER_LANES 3

/* Lays the legend out in rows across width w starting at x0; returns the
 * number of rows and draws it at top y when draw is set. */
static int legend(gg_sb *b, const legend_entry *e, int n, double x0, double w, double y, int draw)
{
    if (n == 0) return 0;
    int rows = 1;
    double x = x0;
    for (int i = 0; i < n; i++) {
        double iw = 26 + text_w(e[i].name, 11.5) + 14;
        if (x > x0 && x + iw > x0 + w) {
            rows++;
            x = x0;
        }
        if (draw) {
            double cy = y + (rows - 1) * LEGEND_ROW + 9;
            if (e[i].shape == GG_MK_LINE)
                gg_sb_printf(b,
                             "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                             "stroke-width=\"2.5\"%s stroke-opacity=\"%.2g\"/>",
                             x, cy, x + 20, cy, e[i].color, e[i].dash ? " stroke-dasharray=\"5 3\"" : "",
                             e[i].opacity > 0 ? e[i].opacity : 1);
            else
                shape(b, e[i].shape, x + 10, cy, 5, e[i].color);
            text(b, x + 26, cy + 4, NULL, "lg", e[i].name);
        }
        x += iw;
    }
    return rows;
}

/* ---- line charts ----------------------------------------------------------------- */

typedef struct frame {
    double x0, x1, y0, y1; /* data range; for a log axis y0, y1 are log10 */
    double L, T, W, H;
    int logy;
} frame;

static double clampd(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }
static double px_x(const frame *f, double x) { return clampd(f->L + (x - f->x0) / (f->x1 - f->x0) * f->W, -1e4, 1e4); }
static double px_y(const frame *f, double y)
{
    double v = f->logy ? log10(y) : y;
    return clampd(f->T + f->H - (v - f->y0) / (f->y1 - f->y0) * f->H, -1e4, 1e4);
}
static int usable(const frame *f, double x, double y) { return isfinite(x) && isfinite(y) && (!f->logy || y > 0); }

static int has_points(const frame *f, const gg_plot_series *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (usable(f, s->x[i], s->y[i])) return 1;
    return 0;
}

static void draw_line(gg_sb *b, const frame *f, const gg_plot_series *s, const double *x, const double *y, size_t n)
{
    gg_sb_printf(b, "<path class=\"ln\" fill=\"none\" stroke=\"%s\" stroke-width=\"%.2g\"%s", s->color,
                 s->width > 0 ? s->width : 1.5, s->line == 2 ? " stroke-dasharray=\"6 4\"" : "");
    if (s->opacity > 0) gg_sb_printf(b, " stroke-opacity=\"%.2g\"", s->opacity);
    gg_sb_puts(b, " d=\"");
    int open = 0; /* points in the current sub-path */
    double px = 0;
    for (size_t i = 0; i < n; i++) {
        if (!usable(f, x[i], y[i])) {
            if (open == 1) gg_sb_puts(b, "h0");
            open = 0;
            continue;
        }
        /* a replay after a rollback goes back in steps: start a new piece there */
        if (open && x[i] < px) {
            if (open == 1) gg_sb_puts(b, "h0");
            open = 0;
        }
        gg_sb_printf(b, "%c%.1f %.1f", open ? 'L' : 'M', px_x(f, x[i]), px_y(f, y[i]));
        open++;
        px = x[i];
    }
    if (open == 1) gg_sb_puts(b, "h0");
    gg_sb_puts(b, "\">");
    if (s->name) {
        gg_sb_puts(b, "<title>");
        gg_sb_htmls(b, s->name);
        gg_sb_puts(b, "</title>");
    }
    gg_sb_puts(b, "</path>");
}

static void draw_dots(gg_sb *b, const frame *f, const gg_plot_series *s, const char *xlabel)
{
    for (size_t i = 0; i < s->n; i++) {
        if (!usable(f, s->x[i], s->y[i])) continue;
        char xs[32], ys[32];
        snprintf(xs, sizeof xs, "%.15g", s->x[i]);
        snprintf(ys, sizeof ys, "%.5g", s->y[i]);
        gg_sb_puts(b, "<g class=\"pt\"><title>");
        gg_sb_htmls(b, s->name ? s->name : "");
        if (s->tag && s->tag_name && isfinite(s->tag[i]))
            gg_sb_printf(b, " \xe2\x80\x94 %s %.15g,", s->tag_name, s->tag[i]);
        else gg_sb_puts(b, " \xe2\x80\x94");
        gg_sb_puts(b, " ");
        gg_sb_htmls(b, xlabel ? xlabel : "x");
        gg_sb_printf(b, " %s: %s</title>", xs, ys);
        shape(b, s->dot, px_x(f, s->x[i]), px_y(f, s->y[i]), s->dot == GG_MK_STAR ? 7 : 4.2, s->color);
        gg_sb_puts(b, "</g>");
    }
}

/* ---- the chart as JSON, for the page's script ------------------------------------- */

/* A JSON string that is also safe inside <script>: '<' is written \u003c. */
static void json_str(gg_sb *b, const char *s)
{
    gg_sb_puts(b, "\"");
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') gg_sb_printf(b, "\\%c", c);
        else if (c == '\n') gg_sb_puts(b, "\\n");
        else if (c < 0x20 || c == '<' || c == '>' || c == '&') gg_sb_printf(b, "\\u%04x", c);
        else gg_sb_put(b, (const char *)&c, 1);
    }
    gg_sb_puts(b, "\"");
}

static void json_num(gg_sb *b, double v, const char *fmt)
{
    if (isfinite(v)) gg_sb_printf(b, fmt, v);
    else gg_sb_puts(b, "null");
}

static void json_arr(gg_sb *b, const char *key, const double *v, const size_t *idx, size_t m, const char *fmt)
{
    gg_sb_printf(b, ",\"%s\":[", key);
    for (size_t k = 0; k < m; k++) {
        if (k) gg_sb_puts(b, ",");
        json_num(b, v[idx[k]], fmt);
    }
    gg_sb_puts(b, "]");
}

/* Everything the script needs to draw the chart again: its axes, its series
 * (decimated like the SVG's lines, with their wall times), markers,
 * reference lines and extra legend entries. */
static void plot_json(gg_sb *b, const gg_plot *p, size_t budget)
{
    gg_sb_puts(b, "<script type=\"application/json\" class=\"gg-plot\">{\"xl\":");
    json_str(b, p->xlabel);
    gg_sb_puts(b, ",\"yl\":");
    json_str(b, p->ylabel);
    gg_sb_printf(b, ",\"logy\":%d,\"zero\":%d,\"ymin\":", p->logy, p->zero);
    json_num(b, p->ymin, "%.17g");
    gg_sb_puts(b, ",\"ymax\":");
    json_num(b, p->ymax, "%.17g");
    gg_sb_puts(b, ",\"empty\":");
    json_str(b, p->empty_text);
    gg_sb_puts(b, ",\"s\":[");
    size_t *idx = malloc((budget + 1) * sizeof *idx);
    if (!idx) b->oom = 1;
    for (int k = 0; k < p->ns && idx; k++) {
        const gg_plot_series *s = &p->s[k];
        size_t m = s->line ? gg_decimate_idx(s->x, s->y, s->n, budget, idx) : 0;
        if (!s->line) /* dots are few (epochs, the final test value) */
            for (size_t i = 0; i < s->n && m < budget; i++) idx[m++] = i;
        gg_sb_puts(b, k ? ",{\"n\":" : "{\"n\":");
        json_str(b, s->name);
        gg_sb_puts(b, ",\"c\":");
        json_str(b, s->color);
        gg_sb_printf(b, ",\"l\":%d,\"w\":%.3g,\"o\":%.3g,\"d\":%d,\"dots\":%d,\"nl\":%d,\"run\":%d,\"sm\":%d",
                     s->line, s->width > 0 ? s->width : 1.5, s->opacity > 0 ? s->opacity : 1, (int)s->dot, s->dots,
                     s->nolegend || !s->name, s->run, s->smooth);
        if (s->tag_name) {
            gg_sb_puts(b, ",\"tn\":");
            json_str(b, s->tag_name);
        }
        json_arr(b, "x", s->x, idx, m, "%.10g");
        json_arr(b, "y", s->y, idx, m, "%.6g");
        if (s->t) json_arr(b, "t", s->t, idx, m, "%.6g");
        if (s->tag) json_arr(b, "g", s->tag, idx, m, "%.10g");
        gg_sb_puts(b, "}");
    }
    free(idx);
    gg_sb_puts(b, "],\"m\":[");
    for (int k = 0; k < p->nm; k++) {
        const gg_plot_marker *m = &p->m[k];
        gg_sb_puts(b, k ? ",{\"x\":" : "{\"x\":");
        json_num(b, m->x, "%.10g");
        gg_sb_puts(b, ",\"t\":");
        json_num(b, m->t, "%.6g");
        gg_sb_printf(b, ",\"s\":%d,\"run\":%d,\"c\":", (int)m->shape, m->run);
        json_str(b, m->color);
        gg_sb_puts(b, ",\"tip\":");
        json_str(b, m->tip);
        gg_sb_puts(b, "}");
    }
    gg_sb_puts(b, "],\"h\":[");
    for (int k = 0; k < p->nh; k++) {
        gg_sb_puts(b, k ? ",{\"y\":" : "{\"y\":");
        json_num(b, p->h[k].y, "%.10g");
        gg_sb_printf(b, ",\"run\":%d,\"lab\":", p->h[k].run);
        json_str(b, p->h[k].label);
        gg_sb_puts(b, ",\"c\":");
        json_str(b, p->h[k].color);
        gg_sb_puts(b, "}");
    }
    gg_sb_puts(b, "],\"e\":[");
    for (int k = 0; k < p->nextra; k++) {
        gg_sb_puts(b, k ? ",{\"n\":" : "{\"n\":");
        json_str(b, p->extra[k].name);
        gg_sb_puts(b, ",\"c\":");
        json_str(b, p->extra[k].color);
        gg_sb_printf(b, ",\"s\":%d,\"dash\":%d,\"o\":%.3g}", (int)p->extra[k].shape, p->extra[k].dash,
                     p->extra[k].opacity > 0 ? p->extra[k].opacity : 1);
    }
    gg_sb_puts(b, "]}</script>\n");
}

/* One function (about 220 lines): the chart is drawn in the order of its
 * layers (data ranges, ticks and margins, marker lanes, grid, band and
 * reference lines, series, guard events, legend), and every layer reads the
 * same geometry (the frame's scales and margins, the ticks, the marker
 * lanes); what draws one thing on a given frame (a line, dots, a marker's
 * shape, the legend, the data as JSON) is a function above. */
void gg_plot_svg(gg_sb *b, const gg_plot *p)
{
    double Wt = p->width > 0 ? p->width : 640, Ht = p->height > 0 ? p->height : 330;
    size_t budget = p->max_points > 0 ? (size_t)p->max_points : 2000;
    frame f;
    memset(&f, 0, sizeof f);
    f.logy = p->logy;

    /* data ranges */
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    int nlines = 0;
    for (int k = 0; k < p->ns; k++) {
        const gg_plot_series *s = &p->s[k];
        if (s->line) nlines++;
        for (size_t i = 0; i < s->n; i++) {
            if (!usable(&f, s->x[i], s->y[i])) continue;
            if (isfinite(p->ymin) && s->y[i] < p->ymin) continue;
            if (isfinite(p->ymax) && s->y[i] > p->ymax) continue;
            xmin = fmin(xmin, s->x[i]);
            xmax = fmax(xmax, s->x[i]);
            ymin = fmin(ymin, s->y[i]);
            ymax = fmax(ymax, s->y[i]);
        }
    }
    int have_data = ymin <= ymax;
    for (int k = 0; k < p->nm; k++)
        if (isfinite(p->m[k].x)) xmin = fmin(xmin, p->m[k].x), xmax = fmax(xmax, p->m[k].x);
    if (have_data) {
        for (int k = 0; k < p->nh; k++)
            if (usable(&f, 0, p->h[k].y)) ymin = fmin(ymin, p->h[k].y), ymax = fmax(ymax, p->h[k].y);
        if (p->band_lo < p->band_hi && (!p->logy || p->band_lo > 0))
            ymin = fmin(ymin, p->band_lo), ymax = fmax(ymax, p->band_hi);
    }
    if (!(xmin <= xmax)) xmin = 0, xmax = 1;
    if (!have_data) {
        ymin = p->logy ? 0.1 : 0;
        ymax = p->logy ? 10 : 1;
    }
    if (have_data && p->zero && !p->logy) ymin = fmin(ymin, 0), ymax = fmax(ymax, 0);
    double xt[64], yt[64];
    int nxt = gg_ticks_linear(xmin, xmax, 7, xt, 64), nyt;
    if (xmin >= 0 && xt[0] < 0) xt[0] = 0; /* steps never go below 0 */
    /* the x axis ends at the last step, not at the next round number */
    double xend = xmax > xt[0] ? xmax : xt[nxt - 1];
    while (nxt > 2 && xt[nxt - 1] > xend + 1e-9 * (xend - xt[0])) nxt--;
    if (p->logy) {
        nyt = gg_ticks_log(ymin, ymax, yt, 64);
        f.y0 = log10(yt[0]);
        f.y1 = log10(yt[nyt - 1]);
    } else {
        nyt = gg_ticks_linear(ymin, ymax, 6, yt, 64);
        /* keep the axis inside its natural bounds (accuracy 0..100) */
        int k0 = 0, k1 = nyt - 1;
        while (isfinite(p->ymin) && k0 < k1 - 1 && yt[k0 + 1] <= p->ymin) k0++;
        while (isfinite(p->ymax) && k1 > k0 + 1 && yt[k1 - 1] >= p->ymax) k1--;
        memmove(yt, yt + k0, (size_t)(k1 - k0 + 1) * sizeof *yt);
        nyt = k1 - k0 + 1;
        f.y0 = yt[0];
        f.y1 = yt[nyt - 1];
    }
    f.x0 = xt[0];
    f.x1 = xend;

    /* labels and margins */
    char ylab[64][32];
    double maxw = 0;
    for (int i = 0; i < nyt; i++) {
        gg_fmt_num(ylab[i], sizeof ylab[i], yt[i]);
        maxw = fmax(maxw, text_w(ylab[i], 11));
    }
    f.L = 30 + maxw + 8;
    double R = 18;
    legend_entry le[96];
    int nle = 0;
    for (int k = 0; k < p->ns && nle < 96; k++)
        if (p->s[k].name && !p->s[k].nolegend && (p->s[k].line || p->s[k].dots) && has_points(&f, &p->s[k]))
            le[nle++] = (legend_entry){p->s[k].name, p->s[k].color, p->s[k].line ? GG_MK_LINE : p->s[k].dot,
                                       p->s[k].line == 2, p->s[k].opacity};
    for (int k = 0; k < p->nextra && nle < 96; k++)
        le[nle++] = (legend_entry){p->extra[k].name, p->extra[k].color, p->extra[k].shape, p->extra[k].dash,
                                   p->extra[k].opacity};
    int lrows = legend(b, le, nle, f.L, Wt - f.L - R, 0, 0);
    f.W = Wt - f.L - R;
    /* markers closer than their size go to another lane of the strip (up to 3) */
    unsigned char *lane = p->nm > 0 ? calloc((size_t)p->nm, 1) : NULL;
    int nlanes = p->nm > 0 ? 1 : 0;
    if (p->nm > 0 && !lane) b->oom = 1;
    if (lane) {
        double last[MARKER_LANES];
        for (int l = 0; l < MARKER_LANES; l++) last[l] = -1e9;
        for (int k = 0; k < p->nm; k++) {
            double x = px_x(&f, p->m[k].x);
            int l = 0;
            while (l < MARKER_LANES && fabs(x - last[l]) < 10) l++;
            if (l == MARKER_LANES) l = 0;
            lane[k] = (unsigned char)l;
            last[l] = x;
            if (l + 1 > nlanes) nlanes = l + 1;
        }
    }
    double strip = nlanes ? 20 + 12 * (nlanes - 1) : 0;
    f.T = 8 + lrows * LEGEND_ROW + strip + 6;
    double B = 44;
    Ht += (lrows > 1 ? (lrows - 1) * LEGEND_ROW : 0) + (nlanes > 1 ? 12 * (nlanes - 1) : 0);
    f.H = Ht - f.T - B;
    int id = ++b->ids;

    gg_sb_printf(b, "<svg class=\"chart\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"", Wt, Ht);
    gg_sb_htmls(b, p->title);
    /* lines are clipped to the plot; dots get room to sit on its edge (the final test value is on the last step) */
    gg_sb_printf(b, "\"><clipPath id=\"c%d\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>", id,
                 f.L, f.T - 1, f.W, f.H + 2);
    gg_sb_printf(b, "</clipPath><clipPath id=\"d%d\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>",
                 id, f.L - 8, f.T - 8, f.W + 16, f.H + 16);
    gg_sb_puts(b, "</clipPath>");
    gg_sb_printf(b, "<rect class=\"bg\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>", f.L, f.T, f.W, f.H);

    /* grid, ticks and tick labels */
    for (int i = 0; i < nyt; i++) {
        double y = f.T + f.H - (i * f.H / (nyt - 1));
        gg_sb_printf(b, "<line class=\"gr\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", f.L, y, f.L + f.W, y);
        text(b, f.L - 6, y + 4, "end", "tk", ylab[i]);
    }
    if (p->logy) {
        /* minor ticks at 2..9 times each decade when there are few decades */
        double dec = (f.y1 - f.y0) / (nyt - 1);
        if (dec <= 1.5 && f.y1 - f.y0 <= 6)
            for (double e = f.y0; e < f.y1; e += 1)
                for (int m = 2; m <= 9; m++) {
                    double y = f.T + f.H - (e + log10(m) - f.y0) / (f.y1 - f.y0) * f.H;
                    gg_sb_printf(b, "<line class=\"ax\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", f.L - 3, y,
                                 f.L, y);
                }
    }
    for (int i = 0; i < nxt; i++) {
        double x = px_x(&f, xt[i]);
        char lab[32];
        gg_fmt_num(lab, sizeof lab, xt[i]);
        gg_sb_printf(b, "<line class=\"gr gx\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", x, f.T, x,
                     f.T + f.H);
        gg_sb_printf(b, "<line class=\"ax\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", x, f.T + f.H, x,
                     f.T + f.H + 4);
        text(b, x, f.T + f.H + 17, "middle", "tk", lab);
    }
    gg_sb_printf(b, "<path class=\"ax\" fill=\"none\" d=\"M%.1f %.1fV%.1fH%.1f\"/>", f.L, f.T, f.T + f.H, f.L + f.W);
    text(b, f.L + f.W / 2, Ht - 8, "middle", "al", p->xlabel);
    gg_sb_printf(b, "<text class=\"al\" text-anchor=\"middle\" transform=\"translate(14 %.1f) rotate(-90)\">",
                 f.T + f.H / 2);
    gg_sb_htmls(b, p->ylabel);
    gg_sb_puts(b, "</text>");

    /* reference band and lines */
    gg_sb_printf(b, "<g clip-path=\"url(#c%d)\">", id);
    if (have_data && p->band_lo < p->band_hi && (!p->logy || p->band_lo > 0)) {
        double y0 = px_y(&f, p->band_hi), y1 = px_y(&f, p->band_lo);
        gg_sb_printf(b, "<rect class=\"band\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"><title>", f.L, y0,
                     f.W, y1 - y0);
        gg_sb_htmls(b, p->band_label);
        gg_sb_puts(b, "</title></rect>");
    }
    for (int k = 0; k < p->nh && have_data; k++) {
        if (!usable(&f, 0, p->h[k].y)) continue;
        double y = px_y(&f, p->h[k].y);
        gg_sb_printf(b,
                     "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"1.4\" "
                     "stroke-dasharray=\"7 4\"/>",
                     f.L, y, f.L + f.W, y, p->h[k].color);
        if (p->h[k].label) {
            gg_sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" class=\"hl\" fill=\"%s\">", f.L + f.W - 4,
                         y - 4 - 12 * k, p->h[k].color);
            gg_sb_htmls(b, p->h[k].label);
            gg_sb_puts(b, "</text>");
        }
    }
    if (have_data && p->band_lo < p->band_hi && p->band_label && (!p->logy || p->band_lo > 0))
        text(b, f.L + 6, px_y(&f, p->band_lo) - 5, NULL, "bl", p->band_label);

    /* series: lines first, dots on top */
    size_t per = nlines ? budget / (size_t)nlines : budget;
    if (per < 100) per = 100;
    double *dx = malloc(per * sizeof *dx), *dy = malloc(per * sizeof *dy);
    if (!dx || !dy) b->oom = 1;
    for (int k = 0; k < p->ns && dx && dy; k++) {
        const gg_plot_series *s = &p->s[k];
        if (!s->line || !s->n) continue;
        size_t m = gg_decimate(s->x, s->y, s->n, per, dx, dy);
        draw_line(b, &f, s, dx, dy, m);
    }
    free(dx);
    free(dy);
    gg_sb_printf(b, "</g><g clip-path=\"url(#d%d)\">", id);
    for (int k = 0; k < p->ns; k++)
        if (p->s[k].dots) draw_dots(b, &f, &p->s[k], p->xlabel);
    gg_sb_puts(b, "</g>");
    if (!have_data && p->empty_text) text(b, f.L + f.W / 2, f.T + f.H / 2, "middle", "empty", p->empty_text);

    /* guard events: a guide line through the plot and a marker in the strip */
    if (p->nm > 0) {
        gg_sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" class=\"tk\">events</text>", f.L - 6,
                     f.T - 10);
        for (int k = 0; k < p->nm; k++) {
            const gg_plot_marker *m = &p->m[k];
            if (!isfinite(m->x)) continue;
            double x = px_x(&f, m->x), y = f.T - 12 - 12 * (lane ? lane[k] : 0);
            gg_sb_puts(b, "<g class=\"ev\"><title>");
            gg_sb_htmls(b, m->tip);
            gg_sb_printf(b,
                         "</title><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                         "stroke-width=\"1\" stroke-dasharray=\"3 3\" opacity=\"0.55\"/>",
                         x, y + 6, x, f.T + f.H, m->color);
            shape(b, m->shape, x, y, 5.5, m->color);
            gg_sb_puts(b, "</g>");
        }
    }
    free(lane);
    legend(b, le, nle, f.L, Wt - f.L - R, 6, 1);
    gg_sb_puts(b, "</svg>\n");
    if (p->interactive) plot_json(b, p, per);
}

/* ---- heat map ----------------------------------------------------------------------- */

#define HEAT_LEVELS 64

/* One function (about 150 lines), as gg_plot_svg: the map's layers (colour
 * range, cells and row names, x axis, guard events, colour bar) drawn in order
 * over one geometry (margins, row height, the x and colour scales). */
void gg_heat_svg(gg_sb *b, const gg_heat *h)
{
    double Wt = 1200;
    double maxname = 0;
    for (int r = 0; r < h->nrows; r++) maxname = fmax(maxname, text_w(h->rows[r], 11));
    double L = fmin(fmax(maxname, 40), 230) + 12, R = 120, T = h->nm > 0 ? 24 : 10, B = 46;
    double rowh = clampd(420.0 / (h->nrows > 0 ? h->nrows : 1), 9, 24);
    double H = rowh * h->nrows, W = Wt - L - R;
    if (H < 150) H = 150, rowh = H / (h->nrows > 0 ? h->nrows : 1);
    double Ht = T + H + B;
    int id = ++b->ids;
    double x0 = h->x0, x1 = h->x1 > h->x0 ? h->x1 : h->x0 + 1;

    /* colour range over the finite positive values */
    double zlo = INFINITY, zhi = -INFINITY;
    size_t cells = (size_t)h->nrows * (size_t)h->ncols;
    for (size_t i = 0; i < cells; i++)
        if (isfinite(h->v[i]) && h->v[i] > 0) zlo = fmin(zlo, log10(h->v[i])), zhi = fmax(zhi, log10(h->v[i]));
    int have = zlo <= zhi;
    if (!have) zlo = -3, zhi = 0;
    if (zhi - zlo < 1e-6) zlo -= 0.5, zhi += 0.5;

    gg_sb_printf(b, "<svg class=\"chart heat\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"", Wt, Ht);
    gg_sb_htmls(b, h->title);
    gg_sb_puts(b, "\">");
    gg_sb_printf(b, "<defs><linearGradient id=\"g%d\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">", id);
    for (int i = 0; i <= 8; i++) {
        char c[8];
        gg_viridis(i / 8.0, c);
        gg_sb_printf(b, "<stop offset=\"%.3f\" stop-color=\"%s\"/>", i / 8.0, c);
    }
    gg_sb_puts(b, "</linearGradient></defs>");
    gg_sb_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#eeeeee\"/>", L, T, W, H);

    double cw = W / h->ncols;
    for (int r = 0; r < h->nrows; r++) {
        const double *v = h->v + (size_t)r * h->ncols;
        const unsigned char *bad = h->bad + (size_t)r * h->ncols;
        double y = T + r * rowh;
        int j = 0;
        while (j < h->ncols) {
            /* level: -1 no data, -2 non-finite, else 0..HEAT_LEVELS-1 */
            int q;
            if (bad[j]) q = -2;
            else if (!isfinite(v[j])) q = -1;
            else if (v[j] <= 0) q = 0;
            else q = (int)lround((log10(v[j]) - zlo) / (zhi - zlo) * (HEAT_LEVELS - 1));
            int j1 = j + 1;
            double lo = v[j], hi = v[j];
            while (j1 < h->ncols) {
                int q1;
                if (bad[j1]) q1 = -2;
                else if (!isfinite(v[j1])) q1 = -1;
                else if (v[j1] <= 0) q1 = 0;
                else q1 = (int)lround((log10(v[j1]) - zlo) / (zhi - zlo) * (HEAT_LEVELS - 1));
                if (q1 != q) break;
                lo = fmin(lo, v[j1]);
                hi = fmax(hi, v[j1]);
                j1++;
            }
            if (q != -1) {
                char col[8] = "#e15759";
                if (q >= 0) gg_viridis(q / (double)(HEAT_LEVELS - 1), col);
                double sa = x0 + (x1 - x0) * j / h->ncols, sb = x0 + (x1 - x0) * j1 / h->ncols;
                char as[32], bs[32], ls[32], hs[32];
                gg_fmt_num(as, sizeof as, round(sa));
                gg_fmt_num(bs, sizeof bs, round(sb));
                gg_sb_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>",
                             L + j * cw, y, (j1 - j) * cw + 0.4, rowh + 0.3, col);
                gg_sb_htmls(b, h->rows[r]);
                gg_sb_printf(b, ", steps %s\xe2\x80\x93%s: ", as, bs);
                if (q == -2) {
                    gg_sb_puts(b, "non-finite gradient");
                } else {
                    snprintf(ls, sizeof ls, "%.3g", lo);
                    snprintf(hs, sizeof hs, "%.3g", hi);
                    if (strcmp(ls, hs) == 0) gg_sb_printf(b, "%s %s", h->zlabel, ls);
                    else gg_sb_printf(b, "%s %s\xe2\x80\x93%s", h->zlabel, ls, hs);
                }
                gg_sb_puts(b, "</title></rect>");
            }
            j = j1;
        }
        /* row label, shortened from the left when long (the end names the tensor) */
        char lab[80];
        size_t len = strlen(h->rows[r]), maxc = (size_t)((L - 12) / (11 * 0.56));
        if (len > maxc && maxc > 4) snprintf(lab, sizeof lab, "\xe2\x80\xa6%s", h->rows[r] + len - (maxc - 1));
        else snprintf(lab, sizeof lab, "%s", h->rows[r]);
        gg_sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" class=\"%s\"><title>", L - 6,
                     y + rowh / 2 + (rowh < 12 ? 3 : 4), rowh < 12 ? "tk sm" : "tk");
        gg_sb_htmls(b, h->rows[r]);
        gg_sb_puts(b, "</title>");
        gg_sb_htmls(b, lab);
        gg_sb_puts(b, "</text>");
    }

    /* x axis: ticks inside the covered range only */
    double xt[64];
    int nxt = gg_ticks_linear(x0, x1, 10, xt, 64);
    for (int i = 0; i < nxt; i++) {
        if (xt[i] < x0 - 1e-9 || xt[i] > x1 + 1e-9) continue;
        double x = L + (xt[i] - x0) / (x1 - x0) * W;
        char lab[32];
        gg_fmt_num(lab, sizeof lab, xt[i]);
        gg_sb_printf(b, "<line class=\"ax\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", x, T + H, x, T + H + 4);
        text(b, x, T + H + 17, "middle", "tk", lab);
    }
    gg_sb_printf(b, "<path class=\"ax\" fill=\"none\" d=\"M%.1f %.1fV%.1fH%.1f\"/>", L, T, T + H, L + W);
    text(b, L + W / 2, Ht - 8, "middle", "al", h->xlabel);

    /* guard events as small ticks above the map */
    for (int k = 0; k < h->nm; k++) {
        double x = h->m[k].x;
        if (!isfinite(x) || x < x0 || x > x1) continue;
        x = L + (x - x0) / (x1 - x0) * W;
        gg_sb_printf(b, "<path class=\"evtick\" d=\"M%.1f %.1fL%.1f %.1fL%.1f %.1fZ\" fill=\"%s\"/>", x - 4, T - 12,
                     x + 4, T - 12, x, T - 3, h->m[k].color);
    }

    /* colour bar with decade ticks */
    double cx = L + W + 18;
    gg_sb_printf(b,
                 "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"%.1f\" fill=\"url(#g%d)\" stroke=\"#999\" "
                 "stroke-width=\"0.5\"/>",
                 cx, T, H, id);
    double zt[64];
    int nzt = gg_ticks_log(pow(10, zlo), pow(10, zhi), zt, 64), shown = 0;
    for (int i = 0; i < nzt; i++) {
        double e = log10(zt[i]);
        if (e < zlo - 1e-9 || e > zhi + 1e-9) continue;
        double y = T + H - (e - zlo) / (zhi - zlo) * H;
        char lab[32];
        gg_fmt_num(lab, sizeof lab, zt[i]);
        gg_sb_printf(b, "<line class=\"ax\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", cx + 14, y, cx + 18, y);
        text(b, cx + 21, y + 4, NULL, "tk", lab);
        shown++;
    }
    if (shown < 2) {
        /* less than two decades inside: label the ends */
        char lab[32];
        gg_fmt_num(lab, sizeof lab, pow(10, zhi));
        text(b, cx + 21, T + 8, NULL, "tk", lab);
        gg_fmt_num(lab, sizeof lab, pow(10, zlo));
        text(b, cx + 21, T + H, NULL, "tk", lab);
    }
    gg_sb_printf(b, "<text class=\"al\" text-anchor=\"middle\" transform=\"translate(%.1f %.1f) rotate(-90)\">",
                 Wt - 8, T + H / 2);
    gg_sb_htmls(b, h->zlabel);
    gg_sb_puts(b, " (log scale)</text>");
    if (!have) text(b, L + W / 2, T + H / 2, "middle", "empty", "no finite values logged");
    gg_sb_puts(b, "</svg>\n");
}
