/* test_report.c - the HTML report: ticks, number labels and decimation on
 * known values; then synthetic run directories (a full one with a spike,
 * guard events, a non-finite layer and malformed lines; one without
 * layers.csv; an empty one; a long one) turned into pages whose HTML is
 * checked: one SVG per chart, axis labels, one marker per guard event with
 * its tooltip, escaping, no external references, warnings naming file and
 * line, and a comparison naming both runs.
 *
 * With GG_BUILD set the runs are kept in $GG_BUILD/report-sample (the
 * rendering test tests/report_render.sh looks at them). */
#include "gradguard.h"
#include "gt.h"
#include "report/report.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char base[1024];

static void path_of(char *out, size_t cap, const char *run, const char *name)
{
    if (name) snprintf(out, cap, "%s/%s/%s", base, run, name);
    else snprintf(out, cap, "%s/%s", base, run);
}

static FILE *create(const char *run, const char *name)
{
    char p[1400];
    path_of(p, sizeof p, run, NULL);
    mkdir(p, 0755);
    path_of(p, sizeof p, run, name);
    FILE *f = fopen(p, "w");
    if (!f) {
        fprintf(stderr, "cannot create %s: %s\n", p, strerror(errno));
        exit(1);
    }
    return f;
}

static void put(const char *run, const char *name, const char *text)
{
    FILE *f = create(run, name);
    fputs(text, f);
    fclose(f);
}

static void drop(const char *run, const char *name)
{
    char p[1400];
    path_of(p, sizeof p, run, name);
    unlink(p);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = 0;
    fclose(f);
    if (len) *len = got;
    return s;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    size_t l = strlen(needle);
    for (const char *p = strstr(hay, needle); p; p = strstr(p + l, needle)) n++;
    return n;
}

/* ---- synthetic runs ----------------------------------------------------------- */

#define STEPS 3000
#define EVERY 10
#define SPIKE 1200

static double loss_at(long s) { return 2.3 * exp(-s / 900.0) + 0.28 + 0.04 * sin(s * 0.37); }

/* The metrics of a 3-epoch run logged every 10 steps: a loss and gradient
 * spike at step 1200, a rollback at step 2000 back to step 1900 (the rows
 * 1910-2000 of branch 0 discarded, replayed on branch 1 at half the rate),
 * and (bad != 0) two malformed lines at known places. */
static void write_metrics(const char *run, double lr0, int bad, int *bad_line1, int *bad_line2)
{
    FILE *f = create(run, "metrics.csv");
    int line = 1, branch = 0;
    double scale = 1;
    fprintf(f, "kind,step,epoch,loss,accuracy,lr,grad_norm,val_loss,val_accuracy,samples_per_second,wall_seconds,"
               "branch\n");
    fprintf(f, "lr,0,1,,,%.6g,,,,,0.01,0\n", lr0);
    line++;
    for (long s = EVERY; s <= STEPS; s += EVERY) {
        int ep = (int)((s - 1) / 1000) + 1;
        double lr = lr0 * 0.5 * (1 + cos(3.14159265 * s / STEPS)) * scale;
        double l = loss_at(s) * (lr0 > 2e-3 ? 1.15 : 1), gn = 2.0 + 1.5 * sin(s * 0.05) + 3.0 * exp(-s / 300.0);
        if (s == SPIKE) l = 9.7, gn = 812.5;
        if (s > 1900 && s <= 2000 && branch == 0) l += 0.4 * (double)(s - 1900) / 100; /* the branch drifts off */
        fprintf(f, "step,%ld,%d,%.6f,%.5f,%.6g,%.5f,,,%.1f,%.3f,%d\n", s, ep, l, 1 - l / 2.6, lr, gn,
                5000 + 100 * sin(s), 0.03 * (double)s + (branch ? 3.0 : 0), branch);
        line++;
        if (bad && s == 400) {
            fprintf(f, "step,410,1,1.5x,0.5,0.001,2,,,5000,12.3,0\n"); /* not a number */
            *bad_line1 = ++line;
        }
        if (bad && s == 800) {
            fprintf(f, "step,810,1,0.7\n"); /* a line cut short */
            *bad_line2 = ++line;
        }
        if (s == 2000 && branch == 0) {
            /* the guard rolls back to step 1900 and halves the rate */
            fprintf(f, "rollback,2000,2,,,%.6g,,,,,60.1,0\n", lr);
            branch = 1;
            scale = 0.5;
            fprintf(f, "lr,1900,2,,,%.6g,,,,,60.2,1\n", lr0 * 0.5 * (1 + cos(3.14159265 * 1900 / STEPS)) * scale);
            line += 2;
            s = 1900;
            continue;
        }
        if (s % 1000 == 0) {
            double vl = loss_at(s) + 0.05;
            fprintf(f, "epoch,%ld,%d,%.6f,%.5f,%.6g,,%.6f,%.5f,%.1f,%.3f,%d\n", s, ep, loss_at(s) + 0.02,
                    1 - (loss_at(s) + 0.02) / 2.6, lr, vl, 1 - vl / 2.6, 5000.0, 0.03 * (double)s + (branch ? 3.0 : 0),
                    branch);
            line++;
        }
    }
    fclose(f);
}

static const char *tensors[6][2] = {{"fc1.weight", "fc1"}, {"fc1.bias", "fc1"}, {"fc2.weight", "fc2"},
                                    {"fc2.bias", "fc2"},   {"fc3.weight", "fc3"}, {"fc3.bias", "fc3"}};

static void write_layers(const char *run)
{
    FILE *f = create(run, "layers.csv");
    fprintf(f, "step,tensor,layer,grad_norm,weight_norm,update_norm,update_ratio\n");
    for (long s = 50; s <= STEPS; s += 50) {
        for (int t = 0; t < 6; t++) {
            double g = (0.3 + t * 0.4) * (1 + 0.3 * sin(s * 0.01 + t)) * (s == SPIKE ? 300 : 1);
            double w = 10.0 / (1 + t), u = w * 1e-3 * (1 + t * 0.8) * exp(-s / 2500.0);
            if (s == 2000 && t == 2) fprintf(f, "%ld,%s,%s,,%.6g,,\n", s, tensors[t][0], tensors[t][1], w);
            else fprintf(f, "%ld,%s,%s,%.6g,%.6g,%.6g,%.6g\n", s, tensors[t][0], tensors[t][1], g, w, u, u / w);
        }
    }
    fclose(f);
}

static const char *events_text =
    "{\"type\":\"guard\",\"step\":1200,\"epoch\":2,\"signal\":\"grad_spike\",\"value\":812.5,\"threshold\":41.3,"
    "\"action\":\"clip\",\"detail\":\"fc1.weight carries 93% of the norm\"}\n"
    "{\"type\":\"checkpoint\",\"step\":1000,\"epoch\":1,\"detail\":\"checkpoints/ckpt-1000.safetensors\"}\n"
    "{\"type\":\"guard\",\"step\":1300,\"epoch\":2,\"signal\":\"loss_spike\" \"value\":1}\n"
    "{\"type\":\"guard\",\"step\":1210,\"epoch\":2,\"signal\":\"loss_spike\",\"value\":9.7,\"threshold\":null,"
    "\"action\":\"warn\",\"detail\":\"caf\\u00e9 \\ud83d\\ude00\"}\n"
    "\n"
    "{\"type\":\"guard\",\"step\":2000,\"epoch\":2,\"signal\":\"nonfinite\",\"value\":4096,\"threshold\":0,"
    "\"action\":\"rollback\",\"detail\":\"first non-finite op: fc2/linear <tag> & \\\"quotes\\\"\"}\n"
    "{\"type\":\"guard\",\"step\":2600,\"epoch\":3,\"signal\":\"trend\",\"value\":150.2,\"threshold\":100,"
    "\"action\":\"backoff\",\"detail\":\"lr scale 0.5\"}\n";

static const char *summary_text =
    "{\n  \"status\": \"completed\",\n  \"epochs\": 3,\n  \"steps\": 3000,\n  \"train_loss\": 0.3012,\n"
    "  \"train_accuracy\": 0.8871,\n  \"val_loss\": 0.3427,\n  \"val_accuracy\": 0.8712,\n  \"test_loss\": 0.3561,\n"
    "  \"test_accuracy\": 0.8694,\n  \"wall_seconds\": 95.250,\n  \"samples_per_second\": 5012.3,\n"
    "  \"world_size\": 1,\n  \"guard\": {\"enabled\": true, \"clipped\": 1, \"skipped\": 0, \"backoffs\": 1, "
    "\"rollbacks\": 1, \"nonfinite\": 1, \"spikes\": 2, \"trends\": 1}\n}\n";

static const char *config_text = "# a <b>comment</b> & more\n"
                                 "data: {train: /usr/share/datasets/fashion-mnist}\n"
                                 "model:\n  - {type: dense, units: 256, act: relu}\n  - {type: dense, units: 10}\n"
                                 "optimizer: {name: adam, lr: 1.0e-3}\n"
                                 "guard:\n  enabled: true\n  clip: norm\n  max_norm: 5.0\n  layer_every: 50\n"
                                 "train: {epochs: 3, batch: 128}\n";

/* ---- page checks -------------------------------------------------------------- */

/* Removes the text of every <script> element in place, so that what is
 * counted afterwards is the page's markup. */
static void strip_scripts(char *html)
{
    char *p;
    while ((p = strstr(html, "<script"))) {
        char *e = strstr(p, "</script>");
        if (!e) break;
        memmove(p, e + 9, strlen(e + 9) + 1);
    }
}

/* A page that a browser reads as intended: whole, balanced, self-contained.
 * Its scripts are the page's own (inline) and the charts' data (JSON);
 * afterwards html holds the markup alone. */
#define JSON_TAG "<script type=\"application/json\" class=\"gg-plot\">"
static void check_page(char *html, const char *what)
{
    GT_CHECK(strncmp(html, "<!DOCTYPE html>", 15) == 0, "%s: doctype", what);
    int plain = 0, data = 0, other = 0;
    for (const char *p = strstr(html, "<script"); p; p = strstr(p + 7, "<script")) {
        if (strncmp(p, "<script>", 8) == 0) plain++;
        else if (strncmp(p, JSON_TAG, strlen(JSON_TAG)) == 0) data++;
        else other++;
    }
    GT_CHECK(plain == 1 && other == 0, "%s: %d inline scripts and %d others, want 1 and 0", what, plain, other);
    GT_CHECK(data == 4, "%s: %d charts carry their data, want the 4 training curves", what, data);
    size_t n = strlen(html);
    GT_CHECK(n > 8 && strcmp(html + n - 8, "</html>\n") == 0, "%s: ends with </html>", what);
    /* nothing from the network: no scripts or style sheets by address, no URLs at all */
    GT_CHECK(!strstr(html, "http"), "%s: an external reference", what);
    GT_CHECK(!strstr(html, "<link"), "%s: a linked resource", what);
    GT_CHECK(!strstr(html, "src="), "%s: a src attribute", what);
    for (const char *p = strstr(html, "url("); p; p = strstr(p + 4, "url("))
        GT_CHECK(p[4] == '#', "%s: url() to something other than a fragment", what);
    /* attribute values never contain a raw '<' (escaping slipped) */
    GT_CHECK(!strstr(html, "=\"<"), "%s: raw '<' in an attribute", what);
    strip_scripts(html);
    static const char *const tags[][2] = {{"<svg", "</svg>"},         {"<figure", "</figure>"}, {"<table", "</table>"},
                                          {"<section", "</section>"}, {"<div", "</div>"},      {"<text", "</text>"},
                                          {"<title>", "</title>"},    {"<tr>", "</tr>"},       {"<pre>", "</pre>"}};
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++)
        GT_CHECK(count(html, tags[i][0]) == count(html, tags[i][1]), "%s: %s opened %d times, closed %d", what,
                 tags[i][0], count(html, tags[i][0]), count(html, tags[i][1]));
    GT_CHECK(count(html, "<g ") + count(html, "<g>") == count(html, "</g>"), "%s: <g> balanced", what);
}

static void test_numbers(void)
{
    double t[64];
    int n = gg_ticks_linear(0, 0.93, 6, t, 64);
    GT_CHECK(n == 6, "ticks 0..0.93: %d", n);
    for (int i = 0; i < n && n == 6; i++) GT_NEAR(t[i], 0.2 * i, 1e-12, 1e-12, "tick %d", i);
    n = gg_ticks_linear(37, 4690, 7, t, 64);
    GT_CHECK(n == 6 && t[0] == 0 && t[5] == 5000 && t[1] == 1000, "ticks 37..4690: %d [%g, %g]", n, t[0], t[n - 1]);
    n = gg_ticks_linear(-3.2, 7.9, 5, t, 64);
    GT_CHECK(n == 4 && t[0] == -5 && t[3] == 10, "ticks -3.2..7.9: %d [%g, %g]", n, t[0], t[n - 1]);
    n = gg_ticks_linear(4, 4, 5, t, 64); /* a flat series still gets an axis */
    GT_CHECK(n >= 2 && t[0] < 4 && t[n - 1] > 4, "ticks for a constant: %d [%g, %g]", n, t[0], t[n - 1]);
    n = gg_ticks_log(0.03, 850, t, 64);
    GT_CHECK(n == 6 && fabs(t[0] - 0.01) < 1e-15 && fabs(t[5] - 1000) < 1e-9, "log ticks 0.03..850: %d", n);
    n = gg_ticks_log(1e-9, 1e6, t, 64); /* 15 decades: every third */
    GT_CHECK(n == 6 && fabs(t[0] - 1e-9) < 1e-20 && fabs(t[1] - 1e-6) < 1e-18 && fabs(t[5] - 1e6) < 1e-6,
             "log ticks 1e-9..1e6: %d", n);

    static const struct {
        double v;
        const char *s;
    } f[] = {{0, "0"},       {0.25, "0.25"}, {0.001, "0.001"}, {1e-5, "1e-5"},   {2.5e-7, "2.5e-7"},
             {5000, "5000"}, {12000, "12k"}, {2.5e6, "2.5M"},  {3e12, "3e12"},   {-0.5, "-0.5"},
             {NAN, "n/a"}};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        char buf[32];
        gg_fmt_num(buf, sizeof buf, f[i].v);
        GT_CHECK(strcmp(buf, f[i].s) == 0, "gg_fmt_num(%g) = '%s', want '%s'", f[i].v, buf, f[i].s);
    }

    /* decimation keeps a one-sample spike and a dip, in order, and a gap */
    enum { N = 100000, M = 2000 };
    double *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y), *ox = malloc(M * sizeof *ox),
           *oy = malloc(M * sizeof *oy);
    for (int i = 0; i < N; i++) x[i] = i, y[i] = 1 + 1e-3 * sin(i);
    y[77777] = 1000;
    y[12345] = -50;
    for (int i = 50000; i < 50500; i++) y[i] = NAN;
    size_t m = gg_decimate(x, y, N, M, ox, oy);
    GT_CHECK(m <= M && m > M / 2, "decimated to %zu points", m);
    int spike = -1, dip = -1, gap = 0, ordered = 1;
    for (size_t i = 0; i < m; i++) {
        if (oy[i] == 1000) spike = (int)i;
        if (oy[i] == -50) dip = (int)i;
        if (isnan(oy[i])) gap = 1;
        if (i && ox[i] <= ox[i - 1]) ordered = 0;
    }
    GT_CHECK(spike >= 0 && ox[spike] == 77777, "the spike survives at its step");
    GT_CHECK(dip >= 0 && ox[dip] == 12345, "the dip survives at its step");
    GT_CHECK(gap, "a stretch of missing values stays a gap");
    GT_CHECK(ordered, "points stay in step order");
    m = gg_decimate(x, y, 10, M, ox, oy);
    GT_CHECK(m == 10 && oy[3] == y[3], "a short series is copied");
    free(x);
    free(y);
    free(ox);
    free(oy);

    char c[8];
    gg_viridis(0, c);
    GT_CHECK(strcmp(c, "#440154") == 0, "viridis(0) = %s", c);
    gg_viridis(1, c);
    GT_CHECK(strcmp(c, "#fde725") == 0, "viridis(1) = %s", c);

    gg_sb b = {0};
    gg_sb_htmls(&b, "a<b>&\"c'\x01");
    GT_CHECK(b.p && strcmp(b.p, "a&lt;b&gt;&amp;&quot;c&#39;?") == 0, "html escaping: %s", b.p ? b.p : "(null)");
    gg_sb_free(&b);
}

static char *report_of(const char *run)
{
    char dir[1400], out[1500];
    path_of(dir, sizeof dir, run, NULL);
    GT_OK(gg_report_write(dir, NULL));
    snprintf(out, sizeof out, "%s/report.html", dir);
    char *html = slurp(out, NULL);
    GT_CHECK(html != NULL, "%s not written", out);
    return html;
}

static void test_full(void)
{
    int bad1 = 0, bad2 = 0;
    write_metrics("sample", 1e-3, 1, &bad1, &bad2);
    write_layers("sample");
    put("sample", "events.jsonl", events_text);
    put("sample", "summary.json", summary_text);
    put("sample", "config.yaml", config_text);
    char *html = report_of("sample");
    if (!html) return;
    check_page(html, "full run");

    /* one chart each: loss, accuracy, lr, gradient norm, heat map, update ratio */
    GT_CHECK(count(html, "<svg") == 6, "%d charts, want 6", count(html, "<svg"));
    static const char *const labels[] = {
        ">loss<", ">accuracy (%)<", ">learning rate<", ">gradient L2 norm (log scale)<", ">step<",
        ">||update|| / ||weight|| (log scale)<", "gradient L2 norm (log scale)</text>"};
    for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++)
        GT_CHECK(strstr(html, labels[i]) != NULL, "axis label %s", labels[i]);
    GT_CHECK(count(html, "class=\"al\"") >= 11, "axis labels: %d", count(html, "class=\"al\""));
    /* legends */
    GT_CHECK(strstr(html, "class=\"lg\">train (logged steps)<") && strstr(html, "class=\"lg\">validation (epoch)<") &&
                 strstr(html, "class=\"lg\">test (final)<"),
             "loss legend");
    GT_CHECK(strstr(html, "class=\"lg\">fc1<") && strstr(html, "class=\"lg\">fc3<"), "ratio legend names layers");
    GT_CHECK(strstr(html, "class=\"lg\">rollback<") && strstr(html, "class=\"lg\">clip<"), "event legend");

    /* every guard event has a marker with its tooltip (4 well-formed guard lines), and the rollback and the
     * back-off have one on the learning rate's chart too */
    GT_CHECK(count(html, "<g class=\"ev\">") == 6, "%d event markers, want 6", count(html, "<g class=\"ev\">"));
    /* the rolled-back branch (steps 1910-2000 of branch 0): faded on all four charts, once in each legend */
    GT_CHECK(count(html, "stroke-opacity=\"0.35\" d=\"M") == 4, "%d faded lines, want 4",
             count(html, "stroke-opacity=\"0.35\" d=\"M"));
    GT_CHECK(count(html, ">rolled back (discarded branch)<") == 4, "legend of the discarded branch");
    GT_CHECK(strstr(html, "<title>rolled back here \xe2\x80\x94 step 2000: ") != NULL, "the branch's end on the rate");
    GT_CHECK(strstr(html, "<title>new rate \xe2\x80\x94 step 1900: ") != NULL, "the new rate where it went on");
    GT_CHECK(strstr(html, "1 step clipped, 1 clip, 1 warn, 1 backoff, 1 rollback") != NULL, "the guard card counts clips");
    GT_CHECK(strstr(html, "<g class=\"ev\"><title>step 1200, epoch 2\nsignal: grad_spike\nvalue: 812.5, threshold: "
                          "41.3\naction: clip\nfc1.weight carries 93% of the norm</title>") != NULL,
             "the spike's tooltip");
    GT_CHECK(strstr(html, "<title>step 1210, epoch 2\nsignal: loss_spike\nvalue: 9.7, threshold: \xe2\x80\x94\n"
                          "action: warn\ncaf\xc3\xa9 \xf0\x9f\x98\x80</title>") != NULL,
             "a null threshold and \\u escapes in a tooltip");
    GT_CHECK(strstr(html, "fc2/linear &lt;tag&gt; &amp; &quot;quotes&quot;") != NULL && !strstr(html, "<tag>"),
             "event detail escaped");
    GT_CHECK(count(html, "class=\"act\"") == 4, "event table rows: %d", count(html, "class=\"act\""));
    GT_CHECK(strstr(html, "checkpoints/ckpt-1000.safetensors") != NULL, "other events listed");
    GT_CHECK(count(html, "class=\"evtick\"") == 4, "event ticks on the heat map");
    /* the clip threshold from config.yaml */
    GT_CHECK(strstr(html, "clip threshold (max_norm 5)") != NULL, "clip threshold line");

    /* heat map: all six tensors, the non-finite cell named */
    for (int t = 0; t < 6; t++) {
        char want[64];
        snprintf(want, sizeof want, "<title>%s</title>", tensors[t][0]);
        GT_CHECK(strstr(html, want) != NULL, "heat map row %s", tensors[t][0]);
    }
    GT_CHECK(strstr(html, "<title>fc2.weight, steps 2000\xe2\x80\x93") && strstr(html, ": non-finite gradient</title>"),
             "non-finite cell");
    GT_CHECK(strstr(html, "typical: about 1e-3 per step") != NULL, "ratio band");

    /* warnings name file and line */
    char w1[128], w2[128];
    snprintf(w1, sizeof w1, "metrics.csv line %d: column &#39;loss&#39;: &#39;1.5x&#39; is not a number", bad1);
    snprintf(w2, sizeof w2, "metrics.csv line %d: 4 fields where the header has 12", bad2);
    GT_CHECK(strstr(html, w1) != NULL, "warning %s", w1);
    GT_CHECK(strstr(html, w2) != NULL, "warning %s", w2);
    GT_CHECK(strstr(html, "events.jsonl line 3, column 61: expected &#39;,&#39; or &#39;}&#39;") != NULL,
             "malformed JSON line warned with its column");
    GT_CHECK(count(html, "<li>") == 3, "%d warnings, want 3", count(html, "<li>"));

    /* summary and config */
    GT_CHECK(strstr(html, "<span class=\"badge ok\">completed</span>") != NULL, "status badge");
    GT_CHECK(strstr(html, "<th class=\"k\">guard.rollbacks</th><td class=\"n\">1</td>") != NULL, "nested summary key");
    GT_CHECK(strstr(html, ">86.94%<") != NULL, "test accuracy card");
    GT_CHECK(strstr(html, "# a &lt;b&gt;comment&lt;/b&gt; &amp; more") != NULL && !strstr(html, "<b>comment"),
             "config escaped");
    GT_CHECK(strlen(html) < 400000, "page size %zu", strlen(html));
    free(html);
}

/* A transformer's layers.csv: tensor rows, then one row per attention head
 * and one for the output's log Z; they are drawn apart from the tensors. */
static void test_attention(void)
{
    int b1, b2;
    write_metrics("sample-attn", 1e-3, 0, &b1, &b2);
    FILE *f = create("sample-attn", "layers.csv");
    fprintf(f, "step,tensor,layer,grad_norm,weight_norm,update_norm,update_ratio,dead_fraction,saturated_fraction,"
               "head,max_logit,entropy,log_z\n");
    for (long s = 100; s <= 1000; s += 100) {
        fprintf(f, "%ld,attn1.qkv.weight,attn1,0.5,10,0.01,0.001,,,,,,\n", s);
        for (int h = 0; h < 2; h++)
            fprintf(f, "%ld,attn1/attention,attn1,,,,,,,%d,%g,%g,\n", s, h, 2.0 + s * 0.01 * (h + 1), 3.0 - s * 0.002);
        fprintf(f, "%ld,softmax_xent,fc1,,,,,,,,,,%g\n", s, 4.0 + s * 0.001);
    }
    fclose(f);
    put("sample-attn", "events.jsonl", "");
    put("sample-attn", "summary.json", "{\"status\": \"completed\", \"steps\": 1000}\n");
    put("sample-attn", "config.yaml", "model: []\n");
    char *html = report_of("sample-attn");
    if (!html) return;
    check_page(html, "attention rows");
    /* loss, accuracy, lr, gradient norm, heat map, ratio; max logit, entropy, log Z */
    GT_CHECK(count(html, "<svg") == 9, "%d charts with attention rows, want 9", count(html, "<svg"));
    GT_CHECK(strstr(html, "class=\"lg\">attn1 head 0<") && strstr(html, "class=\"lg\">attn1 head 1<"),
             "attention legend names the heads");
    GT_CHECK(strstr(html, ">max |logit| (log scale)<") && strstr(html, ">entropy (nats)<") &&
                 strstr(html, ">mean log Z<"),
             "attention axis labels");
    GT_CHECK(!strstr(html, ">attn1/attention<") && !strstr(html, ">softmax_xent<"),
             "attention and output rows are not heat-map tensors");
    GT_CHECK(!strstr(html, "class=\"warn\""), "no warnings for the new columns");
    free(html);
}

static void test_partial(void)
{
    int b1, b2;
    /* no layers.csv, a different learning rate: the second run of the comparison */
    write_metrics("sample-nolayers", 3e-3, 0, &b1, &b2);
    put("sample-nolayers", "events.jsonl", "");
    put("sample-nolayers", "summary.json", "{\"status\": \"diverged\", \"steps\": 3000, \"test_accuracy\": null}\n");
    put("sample-nolayers", "config.yaml", "guard: {clip: zscore}\n");
    drop("sample-nolayers", "layers.csv");
    char *html = report_of("sample-nolayers");
    if (html) {
        check_page(html, "no layers.csv");
        GT_CHECK(count(html, "<svg") == 4, "%d charts without layers.csv, want 4", count(html, "<svg"));
        GT_CHECK(strstr(html, "layers.csv is absent") != NULL, "missing layers.csv noted");
        GT_CHECK(!strstr(html, "clip threshold"), "no threshold unless clipping by norm");
        GT_CHECK(strstr(html, "badge bad\">diverged<") != NULL, "diverged badge");
        GT_CHECK(!strstr(html, "class=\"warn\""), "no warnings for a clean partial run");
        free(html);
    }

    /* an empty directory is not a run directory: an error that names the
     * files it lacks, and no page written into it or anywhere else */
    char dir[1400], out[1500];
    path_of(dir, sizeof dir, "empty", NULL);
    mkdir(dir, 0755);
    drop("empty", "report.html");
    GT_CHECK(gg_report_write(dir, NULL) == GG_E_IO && strstr(gg_errmsg(), "is not a run directory") &&
                 strstr(gg_errmsg(), "none of config.yaml, metrics.csv, events.jsonl, summary.json"),
             "empty dir: %s", gg_errmsg());
    snprintf(out, sizeof out, "%s/report.html", dir);
    GT_CHECK(access(out, F_OK) != 0, "a report was written into a directory that is not a run's");
    {
        char good[1400];
        path_of(good, sizeof good, "sample-nolayers", NULL);
        const char *dirs[2] = {good, dir};
        path_of(out, sizeof out, "empty-compare.html", NULL);
        unlink(out);
        GT_CHECK(gg_report_compare(dirs, 2, out) == GG_E_IO && strstr(gg_errmsg(), "empty' is not a run directory"),
                 "compare with an empty dir: %s", gg_errmsg());
        GT_CHECK(access(out, F_OK) != 0, "compare wrote %s although a directory is not a run's", out);
    }

    /* a run that has only its config (killed as it started): every other
     * file missing, still a page */
    put("started", "config.yaml", "train: {epochs: 1}\n");
    drop("started", "report.html");
    html = report_of("started");
    if (html) {
        check_page(html, "empty run");
        GT_CHECK(count(html, "<svg") == 4, "%d charts for an empty run", count(html, "<svg"));
        GT_CHECK(strstr(html, "metrics.csv: not found") && strstr(html, "summary.json: not found") &&
                     !strstr(html, "config.yaml: not found"),
                 "missing files warned");
        GT_CHECK(strstr(html, ">no loss logged<") != NULL, "empty chart says so");
        free(html);
    }

    /* a truncated summary and a header-less metrics file */
    put("broken", "summary.json", "{\"status\": \"completed\",\n \"steps\": 12");
    put("broken", "metrics.csv", "step,10,1,0.5,0.9,0.1,1,,,100\nstep,20,1,0.4,0.9,0.1,1,,,100\n");
    html = report_of("broken");
    if (html) {
        check_page(html, "broken run");
        GT_CHECK(strstr(html, "summary.json line 2, column 13: expected &#39;,&#39; or &#39;}&#39;") != NULL,
                 "truncated summary warned with line and column");
        GT_CHECK(strstr(html, "metrics.csv line 1: no header") != NULL, "header-less metrics warned");
        GT_CHECK(count(html, "class=\"ln\"") >= 3, "header-less rows still drawn");
        free(html);
    }

    /* not a directory */
    char bad[1400];
    path_of(bad, sizeof bad, "does-not-exist", NULL);
    GT_CHECK(gg_report_write(bad, NULL) == GG_E_IO && strstr(gg_errmsg(), "does-not-exist"), "missing run dir: %s",
             gg_errmsg());
    GT_CHECK(gg_report_write(NULL, NULL) == GG_E_ARG, "NULL run dir");
}

static void test_long(void)
{
    /* 60000 logged steps: the page stays small, the spike stays visible */
    FILE *f = create("long", "metrics.csv");
    fprintf(f, "kind,step,epoch,loss,accuracy,lr,grad_norm,val_loss,val_accuracy,samples_per_second\n");
    for (long s = 1; s <= 60000; s++)
        fprintf(f, "step,%ld,1,%.5f,0.5,0.001,%.4f,,,100\n", s, 1 + 0.1 * sin(s * 0.3), s == 31337 ? 5e4 : 1.5);
    fclose(f);
    char *html = report_of("long");
    if (!html) return;
    check_page(html, "long run");
    size_t n = strlen(html);
    GT_CHECK(n < 250000, "page of %zu bytes for 60000 steps", n);
    /* the grad-norm path holds the spike: its y is the top of the plot */
    GT_CHECK(strstr(html, ">100k<") != NULL, "log axis reaches the spike");
    int pts = 0;
    const char *p = strstr(html, "<path class=\"ln\"");
    for (const char *e = p ? strstr(p, "\">") : NULL; p && p < e; p++) pts += *p == 'L' || *p == 'M';
    GT_CHECK(pts > 500 && pts <= 2001, "the loss line has %d points", pts);
    free(html);
}

static void test_compare(void)
{
    char a[1400], b[1400], out[1400];
    path_of(a, sizeof a, "sample", NULL);
    path_of(b, sizeof b, "sample-nolayers", NULL);
    snprintf(out, sizeof out, "%s/compare.html", base);
    const char *dirs[2] = {a, b};
    GT_OK(gg_report_compare(dirs, 2, out));
    char *html = slurp(out, NULL);
    GT_CHECK(html != NULL, "compare page written");
    if (!html) return;
    check_page(html, "comparison");
    GT_CHECK(count(html, "<svg") == 4, "%d charts in a comparison, want 4", count(html, "<svg"));
    GT_CHECK(count(html, "class=\"lg\">sample<") == 4 && count(html, "class=\"lg\">sample-nolayers<") == 4,
             "both runs named in every legend");
    GT_CHECK(strstr(html, "class=\"lg\">validation (dashed)<") != NULL, "style key");
    GT_CHECK(count(html, "<g class=\"ev\">") == 6, "the first run's events marked (and its rate's on that chart)");
    GT_CHECK(strstr(html, ">learning rate (log scale)<") != NULL, "rates on a log axis");
    GT_CHECK(strstr(html, "data-run=\"1\" checked") != NULL, "a toggle per run");
    GT_CHECK(strstr(html, "<g class=\"ev\"><title>sample\nstep 1200") != NULL, "marker tooltip names the run");
    GT_CHECK(strstr(html, "sample: clip threshold (max_norm 5)") != NULL, "per-run threshold");
    GT_CHECK(strstr(html, "stroke=\"#4e79a7\"") && strstr(html, "stroke=\"#f28e2b\""), "one colour per run");
    free(html);

    GT_CHECK(gg_report_compare(dirs, 0, out) == GG_E_ARG, "no runs");
    GT_CHECK(gg_report_compare(dirs, 2, NULL) == GG_E_ARG, "no output");
    const char *missing[2] = {a, "/nonexistent/run"};
    GT_CHECK(gg_report_compare(missing, 2, out) == GG_E_IO, "a missing run dir fails");
}

int main(void)
{
    const char *build = getenv("GG_BUILD");
    int keep = build && *build;
    if (keep) {
        snprintf(base, sizeof base, "%s/report-sample", build);
        mkdir(base, 0755);
    } else {
        snprintf(base, sizeof base, "/tmp/gg-report-XXXXXX");
        if (!mkdtemp(base)) {
            perror("mkdtemp");
            return 1;
        }
    }
    test_numbers();
    test_full();
    test_attention();
    test_partial();
    test_long();
    test_compare();
    if (!keep) {
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", base);
    } else {
        printf("report samples in %s\n", base);
    }
    return gt_done("test_report");
}
