/* Sequence ops: RNN (tanh, ReLU), LSTM, GRU and attention.
 *  - finite-difference gradients of every input, weight, bias and initial
 *    state, over several lengths, batch 1 and odd sizes, with variable
 *    lengths, the last-step output and a batch below max_batch;
 *  - BPTT of the fused RNN against the same RNN unrolled from linear, add,
 *    tanh, slice and concat ops (outputs and every gradient to 1e-4);
 *  - LSTM, GRU and RNN forward against direct loops of PyTorch's equations
 *    in double, with initial states and lengths (held state, zero output);
 *  - the parallel row loops against the serial ones;
 *  - carried state: two chunks with GG_RNN_CARRY equal one long sequence,
 *    and backward after a carry uses the state the chunk started from;
 *  - attention against a direct loop, causal and not, with and without a
 *    logit cap, and its statistics (max |logit|, entropy) against the loop
 *    and at the extremes (uniform, one-hot);
 *  - softmax_xent's z-loss (training only) and log Z statistics;
 *  - QK-clip on a block's W_q/W_k rows, and its refusals;
 *  - the layer builders: names, per-block recurrent initialisers, forget
 *    bias, state reset, the transformer blocks' gradients (qk_norm, logit
 *    cap included); build errors. */
#include "gradcheck.h"

#include <omp.h>
#include <string.h>

enum { RNN_TANH, RNN_RELU, LSTM, GRU };
static const char *const cell_names[4] = {"rnn_tanh", "rnn_relu", "lstm", "gru"};
static int gates_of(int cell) { return cell == LSTM ? 4 : cell == GRU ? 3 : 1; }

static gg_init zinit(void)
{
    gg_init z = {GG_INIT_ZEROS, 0, 0};
    return z;
}

/* loss = sum(y * r), r a random input of y's sample shape */
static gg_node weigh(gg_graph *g, gg_node y, const char *rname)
{
    gg_shape s = gg_graph_shape(g, y);
    gg_shape ss = {s.ndim - 1, {s.d[1], s.d[2], s.d[3], 0}};
    gg_node r = gg_input(g, rname, ss);
    return gg_sum(g, gg_mul(g, y, r), 1.0f);
}

/* Every input and parameter uniform in +-scale (away from 0 by gap). */
static void randomize(gg_graph *g, uint64_t seed, float scale, float gap)
{
    gg_rng r;
    gg_rng_seed(&r, seed);
    for (int i = 0; i < gg_graph_num_nodes(g); i++) {
        const char *op = gg_graph_node_op(g, i);
        if (strcmp(op, "input") == 0 || strcmp(op, "param") == 0 || strcmp(op, "buffer") == 0)
            gc_fill(gg_graph_data(g, i), gg_shape_numel(gg_graph_shape(g, i)), &r, scale, gap);
    }
}

/* Lengths T, T-1, ..., at least 1 (some are T, some shorter). */
static void set_lengths(gg_graph *g, gg_node len, int N, int T)
{
    float *l = gg_graph_data(g, len);
    for (int n = 0; n < N; n++) l[n] = (float)(T - (n % T));
}

typedef struct seq_case {
    int cell, N, T, F, H;
    int bias;    /* 0: none, 1: both */
    int state;   /* 0: none, 1: h0 (and c0) inputs with gradients, 2: buffers */
    int lengths; /* variable lengths */
    int last;    /* GG_RNN_LAST */
    int maxb;    /* max_batch (>= N); the graph runs at N */
} seq_case;

static gg_node build_cell(gg_graph *g, const seq_case *c, gg_node x, gg_node *p, gg_node h0, gg_node c0, gg_node len)
{
    int G = gates_of(c->cell), H = c->H;
    gg_graph_scope(g, "rnn1");
    p[0] = gg_param(g, "rnn1.weight_ih", gg_shape2(G * H, c->F), zinit());
    p[1] = gg_param(g, "rnn1.weight_hh", gg_shape2(G * H, H), zinit());
    p[2] = c->bias ? gg_param(g, "rnn1.bias_ih", gg_shape1(G * H), zinit()) : -1;
    p[3] = c->bias ? gg_param(g, "rnn1.bias_hh", gg_shape1(G * H), zinit()) : -1;
    int fl = c->last ? GG_RNN_LAST : 0;
    gg_node y = c->cell == LSTM  ? gg_lstm(g, x, p[0], p[1], p[2], p[3], h0, c0, len, fl)
                : c->cell == GRU ? gg_gru(g, x, p[0], p[1], p[2], p[3], h0, len, fl)
                                 : gg_rnn(g, x, p[0], p[1], p[2], p[3], h0, len, c->cell == RNN_RELU, fl);
    gg_graph_scope(g, NULL);
    return y;
}

static void ref_forward(int cell, const float *x, const float *wih, const float *whh, const float *bih,
                        const float *bhh, const float *h0, const float *c0, const float *len, int N, int T, int F,
                        int H, double *y, double *hT, double *cT);
/* The smallest |pre-activation| of a vanilla RNN's real steps in the last
 * ref_forward: a ReLU gradient check needs it clear of the kink. */
static double ref_min_pre;

static void check_cell_grad(seq_case c)
{
    char what[160];
    snprintf(what, sizeof what, "%s N=%d/%d T=%d F=%d H=%d bias=%d state=%d len=%d last=%d", cell_names[c.cell], c.N,
             c.maxb, c.T, c.F, c.H, c.bias, c.state, c.lengths, c.last);
    gg_graph *g = gg_graph_new(c.maxb);
    gg_node x = gg_input(g, "x", gg_shape2(c.T, c.F));
    gg_graph_requires_grad(g, x);
    gg_node h0 = -1, c0 = -1, len = -1;
    if (c.state == 1) {
        h0 = gg_input(g, "h0", gg_shape1(c.H));
        gg_graph_requires_grad(g, h0);
        if (c.cell == LSTM) {
            c0 = gg_input(g, "c0", gg_shape1(c.H));
            gg_graph_requires_grad(g, c0);
        }
    } else if (c.state == 2) {
        h0 = gg_buffer(g, "h0", gg_shape2(c.maxb, c.H), 0);
        if (c.cell == LSTM) c0 = gg_buffer(g, "c0", gg_shape2(c.maxb, c.H), 0);
    }
    if (c.lengths) len = gg_input(g, "len", gg_shape1(1));
    gg_node p[4];
    gg_node y = build_cell(g, &c, x, p, h0, c0, len);
    gg_node L = weigh(g, y, "r");
    GT_OK(gg_graph_compile(g));
    GT_CHECK(y >= 0, "%s: built: %s", what, gg_graph_errmsg(g));
    if (y < 0) {
        gg_graph_free(g);
        return;
    }
    GT_OK(gg_graph_set_batch(g, c.N));
    uint64_t seed = 100 + (uint64_t)(c.cell * 31 + c.T * 7 + c.N);
    for (int tries = 0; tries < 200; tries++) {
        randomize(g, seed + (uint64_t)tries * 1000, c.cell == RNN_RELU ? 1.0f : 0.6f, 0);
        if (len >= 0) set_lengths(g, len, c.N, c.T);
        if (c.cell != RNN_RELU) break;
        /* perturbing one value by 1e-2 moves a pre-activation by a few
         * 1e-2 at most: redraw until none is that close to the kink */
        double *yr = malloc(sizeof(double) * (size_t)c.N * c.T * c.H * 3);
        ref_forward(c.cell, gg_graph_data(g, x), gg_graph_data(g, p[0]), gg_graph_data(g, p[1]),
                    p[2] >= 0 ? gg_graph_data(g, p[2]) : NULL, p[3] >= 0 ? gg_graph_data(g, p[3]) : NULL,
                    h0 >= 0 ? gg_graph_data(g, h0) : NULL, NULL, len >= 0 ? gg_graph_data(g, len) : NULL, c.N, c.T, c.F,
                    c.H, yr, yr + (size_t)c.N * c.T * c.H, yr + (size_t)c.N * c.T * c.H * 2);
        free(yr);
        if (ref_min_pre > 0.03) break;
        GT_CHECK(tries < 199, "%s: no draw clear of the ReLU kink", what);
    }
    gg_node nodes[8];
    int k = 0;
    nodes[k++] = x;
    for (int i = 0; i < 4; i++)
        if (p[i] >= 0) nodes[k++] = p[i];
    if (c.state == 1) {
        nodes[k++] = h0;
        if (c0 >= 0) nodes[k++] = c0;
    }
    gradcheck(g, L, nodes, k, 24, what);
    gg_graph_free(g);
}

/* ---- BPTT against an unrolled RNN ---- */

static void check_unrolled(int relu, int N, int T, int F, int H, int with_h0)
{
    char what[96];
    snprintf(what, sizeof what, "unrolled %s N=%d T=%d F=%d H=%d h0=%d", relu ? "relu" : "tanh", N, T, F, H, with_h0);
    gg_graph *gs[2];
    gg_node xs[2], ps[2][4], h0s[2], ys[2], Ls[2], rs[2];
    for (int v = 0; v < 2; v++) {
        gg_graph *g = gs[v] = gg_graph_new(N);
        gg_node x = xs[v] = gg_input(g, "x", gg_shape2(T, F));
        gg_graph_requires_grad(g, x);
        gg_node h0 = h0s[v] = with_h0 ? gg_input(g, "h0", gg_shape1(H)) : -1;
        if (with_h0) gg_graph_requires_grad(g, h0);
        gg_node *p = ps[v];
        p[0] = gg_param(g, "r.weight_ih", gg_shape2(H, F), zinit());
        p[1] = gg_param(g, "r.weight_hh", gg_shape2(H, H), zinit());
        p[2] = gg_param(g, "r.bias_ih", gg_shape1(H), zinit());
        p[3] = gg_param(g, "r.bias_hh", gg_shape1(H), zinit());
        gg_node y;
        if (v == 0) {
            y = gg_rnn(g, x, p[0], p[1], p[2], p[3], h0, -1, relu, 0);
        } else {
            /* h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), step by step */
            gg_node h = h0;
            y = -1;
            for (int t = 0; t < T; t++) {
                gg_node xt = gg_reshape(g, gg_slice(g, x, 0, t, 1), gg_shape1(F));
                gg_node a = gg_linear(g, xt, p[0], p[2], GG_ACT_NONE);
                if (h >= 0)
                    a = gg_add(g, a, gg_linear(g, h, p[1], p[3], GG_ACT_NONE));
                else
                    a = gg_add(g, a, p[3]);
                h = relu ? gg_relu(g, a) : gg_tanh(g, a);
                gg_node yt = gg_reshape(g, h, gg_shape2(1, H));
                y = y < 0 ? yt : gg_concat(g, y, yt, 0);
            }
        }
        ys[v] = y;
        Ls[v] = weigh(g, y, "r");
        rs[v] = gg_graph_find(g, "r");
        GT_OK(gg_graph_compile(g));
    }
    if (gg_graph_status(gs[0]) || gg_graph_status(gs[1])) {
        GT_CHECK(0, "%s: build failed: %s / %s", what, gg_graph_errmsg(gs[0]), gg_graph_errmsg(gs[1]));
        gg_graph_free(gs[0]);
        gg_graph_free(gs[1]);
        return;
    }
    randomize(gs[0], 77 + (uint64_t)T, 0.7f, relu ? 0.05f : 0);
    /* the same values in the unrolled graph */
    gg_node pairs[7][2] = {{xs[0], xs[1]}, {rs[0], rs[1]}, {h0s[0], h0s[1]}};
    for (int i = 0; i < 4; i++) {
        pairs[3 + i][0] = ps[0][i];
        pairs[3 + i][1] = ps[1][i];
    }
    for (int i = 0; i < 7; i++) {
        if (pairs[i][0] < 0) continue;
        size_t n = gg_shape_numel(gg_graph_shape(gs[0], pairs[i][0]));
        memcpy(gg_graph_data(gs[1], pairs[i][1]), gg_graph_data(gs[0], pairs[i][0]), n * sizeof(float));
    }
    for (int v = 0; v < 2; v++) {
        GT_OK(gg_graph_forward(gs[v], GG_TRAIN, Ls[v]));
        gg_graph_zero_grad(gs[v]);
        GT_OK(gg_graph_backward(gs[v], Ls[v], 1.0f));
    }
    const float *y0 = gg_graph_data(gs[0], ys[0]), *y1 = gg_graph_data(gs[1], ys[1]);
    int bad = 0;
    for (int i = 0; i < N * T * H; i++)
        if (!(fabs(y0[i] - y1[i]) <= 1e-4 * fmax(fabs(y0[i]), fabs(y1[i])) + 1e-6)) bad++;
    GT_CHECK(bad == 0, "%s: %d outputs differ", what, bad);
    static const char *const names[7] = {"x", "r", "h0", "weight_ih", "weight_hh", "bias_ih", "bias_hh"};
    for (int i = 0; i < 7; i++) {
        if (pairs[i][0] < 0 || i == 1) continue;
        const float *g0 = gg_graph_grad(gs[0], pairs[i][0]), *g1 = gg_graph_grad(gs[1], pairs[i][1]);
        size_t n = gg_shape_numel(gg_graph_shape(gs[0], pairs[i][0]));
        double mx = 0;
        for (size_t k = 0; k < n; k++) mx = fmax(mx, fabs(g1[k]));
        bad = 0;
        size_t worst = 0;
        for (size_t k = 0; k < n; k++)
            if (!(fabs(g0[k] - g1[k]) <= 1e-4 * fmax(fabs(g0[k]), fabs(g1[k])) + 1e-6 * mx)) {
                if (!bad) worst = k;
                bad++;
            }
        GT_CHECK(bad == 0, "%s: gradient of %s: %d of %zu differ (first [%zu]: fused %g, unrolled %g)", what, names[i],
                 bad, n, worst, (double)g0[worst], (double)g1[worst]);
    }
    gg_graph_free(gs[0]);
    gg_graph_free(gs[1]);
}

/* ---- direct loops of PyTorch's equations, in double ---- */

static double sigd(double v) { return 1 / (1 + exp(-v)); }


/* y (N, T, H) (0 past the length), hT, cT (N, H): the final states. */
static void ref_forward(int cell, const float *x, const float *wih, const float *whh, const float *bih,
                        const float *bhh, const float *h0, const float *c0, const float *len, int N, int T, int F,
                        int H, double *y, double *hT, double *cT)
{
    int G = gates_of(cell);
    double h[64], c[64], ai[256], ah[256];
    ref_min_pre = 1e300;
    for (int n = 0; n < N; n++) {
        for (int j = 0; j < H; j++) {
            h[j] = h0 ? h0[n * H + j] : 0;
            c[j] = c0 ? c0[n * H + j] : 0;
        }
        int L = len ? (int)len[n] : T;
        for (int t = 0; t < T; t++) {
            double *yr = y + ((size_t)n * T + t) * H;
            if (t >= L) {
                for (int j = 0; j < H; j++) yr[j] = 0;
                continue;
            }
            for (int k = 0; k < G * H; k++) {
                double a = bih ? bih[k] : 0, b = bhh ? bhh[k] : 0;
                for (int f = 0; f < F; f++) a += (double)wih[k * F + f] * x[((size_t)n * T + t) * F + f];
                for (int j = 0; j < H; j++) b += (double)whh[k * H + j] * h[j];
                ai[k] = a;
                ah[k] = b;
            }
            for (int j = 0; j < H; j++) {
                if (cell == LSTM) {
                    double i = sigd(ai[j] + ah[j]), f = sigd(ai[H + j] + ah[H + j]);
                    double gg = tanh(ai[2 * H + j] + ah[2 * H + j]), o = sigd(ai[3 * H + j] + ah[3 * H + j]);
                    c[j] = f * c[j] + i * gg;
                    yr[j] = o * tanh(c[j]);
                } else if (cell == GRU) {
                    double r = sigd(ai[j] + ah[j]), z = sigd(ai[H + j] + ah[H + j]);
                    double nn = tanh(ai[2 * H + j] + r * ah[2 * H + j]);
                    yr[j] = (1 - z) * nn + z * h[j];
                } else {
                    double a = ai[j] + ah[j];
                    ref_min_pre = fmin(ref_min_pre, fabs(a));
                    yr[j] = cell == RNN_RELU ? (a > 0 ? a : 0) : tanh(a);
                }
            }
            for (int j = 0; j < H; j++) h[j] = yr[j];
        }
        for (int j = 0; j < H; j++) {
            hT[n * H + j] = h[j];
            cT[n * H + j] = c[j];
        }
    }
}

/* The op's forward (all steps and last step) against the loops, with
 * initial states in buffers and lengths; the carry flag's write-back. */
static void check_reference(int cell, int N, int T, int F, int H, int lengths)
{
    char what[96];
    snprintf(what, sizeof what, "reference %s N=%d T=%d F=%d H=%d len=%d", cell_names[cell], N, T, F, H, lengths);
    int G = gates_of(cell);
    gg_graph *g = gg_graph_new(N);
    gg_node x = gg_input(g, "x", gg_shape2(T, F));
    gg_node len = lengths ? gg_input(g, "len", gg_shape1(1)) : -1;
    gg_node h0 = gg_buffer(g, "s.h0", gg_shape2(N, H), 0);
    gg_node c0 = cell == LSTM ? gg_buffer(g, "s.c0", gg_shape2(N, H), 0) : -1;
    gg_node wih = gg_param(g, "s.weight_ih", gg_shape2(G * H, F), zinit());
    gg_node whh = gg_param(g, "s.weight_hh", gg_shape2(G * H, H), zinit());
    gg_node bih = gg_param(g, "s.bias_ih", gg_shape1(G * H), zinit());
    gg_node bhh = gg_param(g, "s.bias_hh", gg_shape1(G * H), zinit());
    gg_node ys[3];
    for (int k = 0; k < 3; k++) {
        /* all steps, the last step, and the last step carried into h0/c0 */
        int fl = k == 0 ? 0 : k == 1 ? GG_RNN_LAST : GG_RNN_LAST | GG_RNN_CARRY;
        ys[k] = cell == LSTM ? gg_lstm(g, x, wih, whh, bih, bhh, h0, c0, len, fl)
                : cell == GRU ? gg_gru(g, x, wih, whh, bih, bhh, h0, len, fl)
                              : gg_rnn(g, x, wih, whh, bih, bhh, h0, len, cell == RNN_RELU, fl);
    }
    GT_OK(gg_graph_compile(g));
    if (gg_graph_status(g)) {
        gg_graph_free(g);
        return;
    }
    randomize(g, 5 + (uint64_t)cell, 0.8f, 0);
    if (lengths) {
        float *l = gg_graph_data(g, len);
        for (int n = 0; n < N; n++) l[n] = (float)(n == 0 ? T : n == 1 ? 0 : 1 + (n * 3) % T);
    }
    size_t nh = (size_t)N * H;
    double *y = malloc(sizeof(double) * (size_t)N * T * H), *hT = malloc(sizeof(double) * nh);
    double *cT = malloc(sizeof(double) * nh);
    ref_forward(cell, gg_graph_data(g, x), gg_graph_data(g, wih), gg_graph_data(g, whh), gg_graph_data(g, bih),
                gg_graph_data(g, bhh), gg_graph_data(g, h0), c0 >= 0 ? gg_graph_data(g, c0) : NULL,
                lengths ? gg_graph_data(g, len) : NULL, N, T, F, H, y, hT, cT);
    for (int k = 0; k < 3; k++) GT_OK(gg_graph_forward(g, GG_EVAL, ys[k]));
    const float *y0 = gg_graph_data(g, ys[0]), *y1 = gg_graph_data(g, ys[1]), *y2 = gg_graph_data(g, ys[2]);
    int bad = 0, zero_bad = 0;
    for (int n = 0; n < N; n++)
        for (int t = 0; t < T; t++)
            for (int j = 0; j < H; j++) {
                size_t i = ((size_t)n * T + t) * H + j;
                if (!(fabs(y0[i] - y[i]) <= 2e-5 + 2e-5 * fabs(y[i]))) bad++;
                if (lengths && t >= (int)gg_graph_data(g, len)[n] && y0[i] != 0) zero_bad++;
            }
    GT_CHECK(bad == 0, "%s: %d outputs differ from the loop", what, bad);
    GT_CHECK(zero_bad == 0, "%s: %d outputs past the length are not 0", what, zero_bad);
    bad = 0;
    for (size_t i = 0; i < nh; i++)
        if (!(fabs(y1[i] - hT[i]) <= 2e-5 + 2e-5 * fabs(hT[i])) || y1[i] != y2[i]) bad++;
    GT_CHECK(bad == 0, "%s: %d final states differ", what, bad);
    /* held state: the last output is the one at step length-1 */
    if (lengths)
        for (int n = 0; n < N; n++) {
            int L = (int)gg_graph_data(g, len)[n];
            for (int j = 0; j < H && L > 0; j++)
                if (y1[n * H + j] != y0[((size_t)n * T + L - 1) * H + j]) {
                    GT_CHECK(0, "%s: sample %d: last state is not the state at step %d", what, n, L - 1);
                    break;
                }
        }
    /* the carry wrote the final state into the buffers */
    bad = 0;
    const float *hb = gg_graph_data(g, h0), *cb = c0 >= 0 ? gg_graph_data(g, c0) : NULL;
    for (size_t i = 0; i < nh; i++) {
        if (hb[i] != y2[i]) bad++;
        if (cb && !(fabs(cb[i] - cT[i]) <= 2e-5 + 2e-5 * fabs(cT[i]))) bad++;
    }
    GT_CHECK(bad == 0, "%s: carried state differs in %d places", what, bad);
    free(y);
    free(hT);
    free(cT);
    gg_graph_free(g);
}

/* ---- carried state (truncated BPTT over a stream) ---- */

static void check_carry(int cell)
{
    char what[64];
    snprintf(what, sizeof what, "carry %s", cell_names[cell]);
    int N = 3, T = 4, F = 2, H = 5, G = gates_of(cell);
    /* graph 0: chunks of T with carry; graph 1: the whole 2T at once;
     * graph 2: one chunk from h0/c0 buffers set by hand, no carry */
    gg_graph *g[3];
    gg_node x[3], y[3], L[3], w[3][4], hb[3], cb[3];
    for (int v = 0; v < 3; v++) {
        g[v] = gg_graph_new(N);
        int Tv = v == 1 ? 2 * T : T;
        x[v] = gg_input(g[v], "x", gg_shape2(Tv, F));
        w[v][0] = gg_param(g[v], "s.weight_ih", gg_shape2(G * H, F), zinit());
        w[v][1] = gg_param(g[v], "s.weight_hh", gg_shape2(G * H, H), zinit());
        w[v][2] = gg_param(g[v], "s.bias_ih", gg_shape1(G * H), zinit());
        w[v][3] = gg_param(g[v], "s.bias_hh", gg_shape1(G * H), zinit());
        hb[v] = v == 1 ? -1 : gg_buffer(g[v], "s.h0", gg_shape2(N, H), 0);
        cb[v] = v == 1 || cell != LSTM ? -1 : gg_buffer(g[v], "s.c0", gg_shape2(N, H), 0);
        int fl = v == 0 ? GG_RNN_CARRY : 0;
        y[v] = cell == LSTM ? gg_lstm(g[v], x[v], w[v][0], w[v][1], w[v][2], w[v][3], hb[v], cb[v], -1, fl)
               : cell == GRU ? gg_gru(g[v], x[v], w[v][0], w[v][1], w[v][2], w[v][3], hb[v], -1, fl)
                             : gg_rnn(g[v], x[v], w[v][0], w[v][1], w[v][2], w[v][3], hb[v], -1, 0, fl);
        L[v] = gg_sum(g[v], y[v], 1.0f);
        GT_OK(gg_graph_compile(g[v]));
    }
    randomize(g[1], 9, 0.8f, 0);
    for (int v = 0; v < 3; v += 2)
        for (int i = 0; i < 4; i++)
            memcpy(gg_graph_data(g[v], w[v][i]), gg_graph_data(g[1], w[1][i]),
                   gg_shape_numel(gg_graph_shape(g[1], w[1][i])) * sizeof(float));
    const float *xl = gg_graph_data(g[1], x[1]);
    GT_OK(gg_graph_forward(g[1], GG_TRAIN, L[1]));
    const float *yl = gg_graph_data(g[1], y[1]);
    float *x0 = gg_graph_data(g[0], x[0]);
    int bad = 0;
    for (int chunk = 0; chunk < 2; chunk++) {
        for (int n = 0; n < N; n++)
            memcpy(x0 + (size_t)n * T * F, xl + ((size_t)n * 2 * T + chunk * T) * F, (size_t)T * F * sizeof(float));
        if (chunk == 1) {
            /* graph 2 starts from the state graph 0 carries into chunk 1 */
            memcpy(gg_graph_data(g[2], hb[2]), gg_graph_data(g[0], hb[0]), (size_t)N * H * sizeof(float));
            if (cell == LSTM)
                memcpy(gg_graph_data(g[2], cb[2]), gg_graph_data(g[0], cb[0]), (size_t)N * H * sizeof(float));
            memcpy(gg_graph_data(g[2], x[2]), x0, (size_t)N * T * F * sizeof(float));
        }
        GT_OK(gg_graph_forward(g[0], GG_TRAIN, L[0]));
        const float *yc = gg_graph_data(g[0], y[0]);
        for (int n = 0; n < N; n++)
            for (int k = 0; k < T * H; k++) {
                float a = yc[(size_t)n * T * H + k], b = yl[((size_t)n * 2 * T + chunk * T) * H + k];
                if (!(fabsf(a - b) <= 1e-5f + 1e-5f * fabsf(b))) bad++;
            }
    }
    GT_CHECK(bad == 0, "%s: %d outputs of the carried chunks differ from the whole sequence", what, bad);
    /* backward after the carry overwrote h0 must use the chunk's start state */
    for (int v = 0; v < 3; v += 2) {
        if (v == 2) GT_OK(gg_graph_forward(g[2], GG_TRAIN, L[2]));
        gg_graph_zero_grad(g[v]);
        GT_OK(gg_graph_backward(g[v], L[v], 1.0f));
    }
    bad = 0;
    for (int i = 0; i < 4; i++) {
        const float *a = gg_graph_grad(g[0], w[0][i]), *b = gg_graph_grad(g[2], w[2][i]);
        for (size_t k = 0; k < gg_shape_numel(gg_graph_shape(g[0], w[0][i])); k++)
            if (!(fabsf(a[k] - b[k]) <= 1e-5f + 1e-5f * fabsf(b[k]))) bad++;
    }
    GT_CHECK(bad == 0, "%s: %d weight gradients after a carry differ", what, bad);
    for (int v = 0; v < 3; v++) gg_graph_free(g[v]);
}

/* ---- the parallel row loops (taken above SEQ_PAR_MIN gate values per
 * step) give the serial results. Not bit for bit: an OpenMP build of
 * OpenBLAS splits its GEMMs by the thread count too ---- */

static void check_parallel(int cell)
{
    int N = 66, T = 3, F = 2, H = 512, G = gates_of(cell);
    gg_graph *g = gg_graph_new(N);
    gg_node x = gg_input(g, "x", gg_shape2(T, F));
    gg_graph_requires_grad(g, x);
    gg_node len = gg_input(g, "len", gg_shape1(1));
    gg_node w[4];
    w[0] = gg_param(g, "s.weight_ih", gg_shape2(G * H, F), zinit());
    w[1] = gg_param(g, "s.weight_hh", gg_shape2(G * H, H), zinit());
    w[2] = gg_param(g, "s.bias_ih", gg_shape1(G * H), zinit());
    w[3] = gg_param(g, "s.bias_hh", gg_shape1(G * H), zinit());
    gg_node y = cell == LSTM ? gg_lstm(g, x, w[0], w[1], w[2], w[3], -1, -1, len, 0)
                             : gg_gru(g, x, w[0], w[1], w[2], w[3], -1, len, 0);
    gg_node L = weigh(g, y, "r");
    GT_OK(gg_graph_compile(g));
    randomize(g, 31, 0.1f, 0);
    set_lengths(g, len, N, T);
    size_t ny = (size_t)N * T * H, nw = (size_t)G * H * H, nx = (size_t)N * T * F;
    float *keep = malloc(sizeof(float) * (ny + nw + nx));
    int bad = 0;
    for (int threads = 1; threads <= 2; threads++) {
        omp_set_num_threads(threads);
        GT_OK(gg_graph_forward(g, GG_TRAIN, L));
        gg_graph_zero_grad(g);
        GT_OK(gg_graph_backward(g, L, 1.0f));
        const float *parts[3] = {gg_graph_data(g, y), gg_graph_grad(g, w[1]), gg_graph_grad(g, x)};
        size_t sizes[3] = {ny, nw, nx}, off = 0;
        for (int k = 0; k < 3; k++) {
            if (threads == 1)
                memcpy(keep + off, parts[k], sizes[k] * sizeof(float));
            else {
                double mx = 0;
                for (size_t q = 0; q < sizes[k]; q++) mx = fmax(mx, fabs(parts[k][q]));
                for (size_t q = 0; q < sizes[k]; q++)
                    bad += !(fabs(keep[off + q] - parts[k][q]) <= 1e-5 * mx + 1e-4 * fabs(parts[k][q]));
            }
            off += sizes[k];
        }
    }
    GT_CHECK(bad == 0, "%s: %d values of the output, dW_hh and dx differ between 1 and 2 threads", cell_names[cell],
             bad);
    free(keep);
    gg_graph_free(g);
}

/* ---- attention ---- */

static void check_attention(int N, int T, int D, int heads, int causal, float cap)
{
    char what[112];
    snprintf(what, sizeof what, "attention N=%d T=%d D=%d heads=%d causal=%d cap=%g", N, T, D, heads, causal, cap);
    gg_graph *g = gg_graph_new(N);
    gg_node qkv = gg_input(g, "qkv", gg_shape2(T, 3 * D));
    gg_graph_requires_grad(g, qkv);
    gg_node y = gg_attention_capped(g, qkv, heads, causal, cap);
    gg_node L = weigh(g, y, "r");
    GT_OK(gg_graph_compile(g));
    if (gg_graph_status(g)) {
        gg_graph_free(g);
        return;
    }
    gg_attention_stats as;
    GT_CHECK(gg_graph_attention_stats(g, y, 0, &as) == GG_E_STATE, "%s: no statistics before a forward", what);
    /* values up to 2 so the capped runs have logits near and past the cap */
    randomize(g, 21 + (uint64_t)(T + heads + causal), cap > 0 ? 2.0f : 1.0f, 0);
    GT_OK(gg_graph_forward(g, GG_TRAIN, L));
    /* direct loop, in double: outputs, and per head the max |s| and the mean row entropy */
    const float *q = gg_graph_data(g, qkv), *yv = gg_graph_data(g, y);
    int dh = D / heads, bad = 0;
    double amax[8] = {0}, ent[8] = {0}, uni = 0;
    for (int n = 0; n < N; n++)
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < T; i++) {
                double s[16], mx = -1e300, sum = 0, e = 0;
                int m = causal ? i + 1 : T;
                if (n == 0 && h == 0) uni += log((double)m) / T;
                for (int j = 0; j < m; j++) {
                    double d = 0;
                    for (int k = 0; k < dh; k++)
                        d += (double)q[((size_t)n * T + i) * 3 * D + h * dh + k] *
                             q[((size_t)n * T + j) * 3 * D + D + h * dh + k];
                    s[j] = d / sqrt((double)dh);
                    amax[h] = fmax(amax[h], fabs(s[j]));
                    if (cap > 0) s[j] = cap * tanh(s[j] / cap);
                    mx = fmax(mx, s[j]);
                }
                for (int j = 0; j < m; j++) sum += s[j] = exp(s[j] - mx);
                for (int j = 0; j < m; j++) e -= s[j] / sum * log(s[j] / sum);
                ent[h] += e / ((double)N * T);
                for (int k = 0; k < dh; k++) {
                    double o = 0;
                    for (int j = 0; j < m; j++) o += s[j] / sum * q[((size_t)n * T + j) * 3 * D + 2 * D + h * dh + k];
                    if (!(fabs(o - yv[((size_t)n * T + i) * D + h * dh + k]) <= 1e-5 + 1e-5 * fabs(o))) bad++;
                }
            }
    GT_CHECK(bad == 0, "%s: %d outputs differ from the loop", what, bad);
    GT_CHECK(gg_graph_attention_heads(g, y) == heads && gg_graph_attention_heads(g, L) == 0, "%s: heads", what);
    for (int h = 0; h < heads; h++) {
        GT_OK(gg_graph_attention_stats(g, y, h, &as));
        GT_NEAR(as.max_logit, amax[h], 1e-5, 1e-6, "%s: head %d max |logit|", what, h);
        GT_NEAR(as.entropy, ent[h], 1e-4, 1e-5, "%s: head %d entropy", what, h);
        GT_NEAR(as.entropy_uniform, uni, 1e-6, 1e-6, "%s: uniform entropy", what);
        GT_CHECK(as.entropy <= as.entropy_uniform + 1e-5, "%s: entropy %g above uniform %g", what, as.entropy,
                 as.entropy_uniform);
    }
    GT_CHECK(gg_graph_attention_stats(g, y, heads, &as) == GG_E_ARG, "%s: head out of range", what);
    GT_CHECK(gg_graph_attention_stats(g, L, 0, &as) == GG_E_ARG, "%s: not an attention op", what);
    gradcheck(g, L, &qkv, 1, 40, what);
    gg_graph_free(g);
}

/* One-hot attention has entropy 0, uniform attention log T (stats at the
 * extremes, where a formula that is only approximately right shows). */
static void check_attention_extremes(void)
{
    int T = 4, D = 2;
    gg_graph *g = gg_graph_new(1);
    gg_node qkv = gg_input(g, "qkv", gg_shape2(T, 3 * D));
    gg_node y = gg_attention(g, qkv, 1, 0);
    GT_OK(gg_graph_compile(g));
    float *q = gg_graph_data(g, qkv);
    memset(q, 0, sizeof(float) * (size_t)T * 3 * D);
    GT_OK(gg_graph_forward(g, GG_EVAL, y));
    gg_attention_stats as;
    GT_OK(gg_graph_attention_stats(g, y, 0, &as));
    GT_NEAR(as.entropy, log(4.0), 1e-6, 1e-6, "all-zero logits: uniform attention");
    GT_CHECK(as.max_logit == 0, "all-zero logits: max %g", as.max_logit);
    /* key j = (100 j, 0), queries (1, 0): row i puts all its weight on key 3 */
    for (int i = 0; i < T; i++) {
        q[i * 3 * D] = 1;
        q[i * 3 * D + D] = 100.0f * (float)i;
    }
    GT_OK(gg_graph_forward(g, GG_EVAL, y));
    GT_OK(gg_graph_attention_stats(g, y, 0, &as));
    GT_CHECK(as.entropy >= 0 && as.entropy < 1e-6, "one-hot attention: entropy %g", as.entropy);
    GT_NEAR(as.max_logit, 300 / sqrt(2.0), 1e-6, 0, "one-hot attention: max logit");
    gg_graph_free(g);
}

/* softmax_xent with a z-loss: the value against a loop, training and
 * evaluation mode, log Z statistics, and the gradient. */
static void check_z_loss(int R, int C, float z, float smoothing)
{
    char what[96];
    snprintf(what, sizeof what, "z-loss R=%d C=%d z=%g eps=%g", R, C, z, smoothing);
    gg_graph *g = gg_graph_new(R);
    gg_node x = gg_input(g, "x", gg_shape1(C));
    gg_node w = gg_param(g, "w", gg_shape1(C), zinit());
    gg_node lab = gg_input(g, "y", gg_shape1(1));
    gg_node L = gg_softmax_xent_z(g, gg_mul(g, x, w), lab, smoothing, z);
    gg_graph_requires_grad(g, x);
    GT_OK(gg_graph_compile(g));
    double mean, max;
    GT_CHECK(gg_graph_output_logz(g, L, &mean, &max) == GG_E_STATE, "%s: no log Z before a forward", what);
    GT_CHECK(gg_graph_output_logz(g, x, &mean, &max) == GG_E_ARG, "%s: not a softmax_xent op", what);
    gg_rng r;
    gg_rng_seed(&r, 5 + (uint64_t)C);
    gc_fill(gg_graph_data(g, x), (size_t)R * C, &r, 3.0f, 0);
    gc_fill(gg_graph_data(g, w), (size_t)C, &r, 2.0f, 0);
    float *y = gg_graph_data(g, lab);
    for (int i = 0; i < R; i++) y[i] = (float)(i % C);
    const float *xv = gg_graph_data(g, x), *wv = gg_graph_data(g, w);
    double xent = 0, zs = 0, lm = 0, lx = -1e300;
    for (int i = 0; i < R; i++) {
        double m = -1e300, s = 0, sx = 0;
        for (int c = 0; c < C; c++) m = fmax(m, (double)xv[i * C + c] * wv[c]);
        for (int c = 0; c < C; c++) {
            s += exp((double)xv[i * C + c] * wv[c] - m);
            sx += (double)xv[i * C + c] * wv[c];
        }
        double lse = m + log(s);
        int k = (int)y[i];
        xent += lse - (1 - smoothing) * xv[i * C + k] * wv[k] - smoothing / C * sx;
        zs += lse * lse;
        lm += lse / R;
        lx = fmax(lx, lse);
    }
    GT_OK(gg_graph_forward(g, GG_TRAIN, L));
    GT_NEAR(gg_graph_scalar(g, L), (xent + z * zs) / R, 1e-5, 1e-6, "%s: training loss", what);
    GT_OK(gg_graph_output_logz(g, L, &mean, &max));
    GT_NEAR(mean, lm, 1e-5, 1e-6, "%s: mean log Z", what);
    GT_NEAR(max, lx, 1e-5, 1e-6, "%s: max log Z", what);
    GT_OK(gg_graph_forward(g, GG_EVAL, L));
    GT_NEAR(gg_graph_scalar(g, L), xent / R, 1e-5, 1e-6, "%s: evaluation loss has no z term", what);
    gg_node nodes[2] = {x, w};
    gradcheck(g, L, nodes, 2, 30, what);
    /* switched at run time: off, then back on */
    GT_OK(gg_graph_set_z_loss(g, L, 0));
    GT_OK(gg_graph_forward(g, GG_TRAIN, L));
    GT_NEAR(gg_graph_scalar(g, L), xent / R, 1e-5, 1e-6, "%s: z-loss switched off", what);
    GT_OK(gg_graph_set_z_loss(g, L, 2 * z));
    GT_OK(gg_graph_forward(g, GG_TRAIN, L));
    GT_NEAR(gg_graph_scalar(g, L), (xent + 2 * z * zs) / R, 1e-5, 1e-6, "%s: z-loss doubled at run time", what);
    GT_CHECK(gg_graph_set_z_loss(g, x, 1) == GG_E_ARG && gg_graph_set_z_loss(g, L, -1) == GG_E_ARG,
             "%s: set_z_loss refusals", what);
    gg_graph_free(g);
}

/* ---- layers ---- *//* ---- layers ---- */

static gg_param_info param_named(gg_graph *g, const char *name)
{
    gg_param_info info;
    memset(&info, 0, sizeof info);
    for (int i = 0; i < gg_graph_num_params(g); i++) {
        gg_graph_param(g, i, &info);
        if (strcmp(info.name, name) == 0) return info;
    }
    memset(&info, 0, sizeof info);
    info.node = -1;
    return info;
}

/* max |B B^T - s I| over the (H, H) blocks of w (G H, H) */
static double block_dev(const float *w, int G, int H, double s, int orth)
{
    double dev = 0;
    for (int b = 0; b < G; b++) {
        const float *m = w + (size_t)b * H * H;
        for (int i = 0; i < H; i++)
            for (int j = 0; j < H; j++) {
                double v = 0;
                if (orth)
                    for (int k = 0; k < H; k++) v += (double)m[i * H + k] * m[j * H + k];
                else
                    v = m[i * H + j];
                dev = fmax(dev, fabs(v - (i == j ? s : 0)));
            }
    }
    return dev;
}

static void check_layers(void)
{
    int N = 2, T = 3, F = 3, H = 6;
    gg_graph *g = gg_graph_new(N);
    gg_node x = gg_input(g, "x", gg_shape2(T, F));
    gg_init orth = {GG_INIT_ORTHOGONAL, 0, 0}, ident = {GG_INIT_IDENTITY, 1, 0}, dflt = {GG_INIT_LECUN_UNIFORM, 0, 0};
    gg_node a = gg_lstm_layer(g, x, "lstm1", H, -1, orth, 1.0f, GG_RNN_CARRY);
    gg_node b = gg_gru_layer(g, a, "gru1", H, -1, ident, 0);
    gg_node c = gg_rnn_layer(g, b, "rnn1", H, 1, -1, ident, GG_RNN_LAST);
    gg_node d = gg_lstm_layer(g, x, "lstm2", H, -1, dflt, 0, 0);
    GT_CHECK(a >= 0 && b >= 0 && c >= 0 && d >= 0, "layers built: %s", gg_graph_errmsg(g));
    GT_OK(gg_graph_compile(g));
    GT_CHECK(gg_graph_shape(g, c).ndim == 2 && gg_graph_shape(g, c).d[1] == H, "GG_RNN_LAST gives (N, H)");
    GT_OK(gg_graph_init_params(g, 3));
    GT_OK(gg_graph_init_recurrent(g, 3));
    static const char *const names[] = {"lstm1.weight_ih", "lstm1.weight_hh", "lstm1.bias_ih", "lstm1.bias_hh",
                                        "gru1.weight_ih",  "gru1.weight_hh",  "rnn1.weight_hh", "rnn1.bias_hh"};
    int rows[] = {4 * H, 4 * H, 4 * H, 4 * H, 3 * H, 3 * H, H, H};
    for (int i = 0; i < 8; i++) {
        gg_param_info pi = param_named(g, names[i]);
        GT_CHECK(pi.node >= 0 && pi.shape.d[0] == rows[i], "parameter %s (%d rows)", names[i], rows[i]);
        if (strstr(names[i], "bias")) GT_CHECK(pi.no_decay, "%s has no weight decay", names[i]);
    }
    GT_CHECK(gg_graph_find(g, "lstm1.h0") >= 0 && gg_graph_find(g, "lstm1.c0") >= 0, "carry buffers exist");
    float *w = gg_graph_data(g, gg_graph_find(g, "lstm1.weight_hh"));
    double dev = block_dev(w, 4, H, 1, 1);
    GT_CHECK(dev < 1e-5, "lstm1 weight_hh: each block orthogonal (dev %g)", dev);
    w = gg_graph_data(g, gg_graph_find(g, "gru1.weight_hh"));
    GT_CHECK(block_dev(w, 3, H, 1, 0) == 0, "gru1 weight_hh: each block the identity");
    w = gg_graph_data(g, gg_graph_find(g, "rnn1.weight_hh"));
    GT_CHECK(block_dev(w, 1, H, 1, 0) == 0, "rnn1 weight_hh: the identity");
    const float *bi = gg_graph_data(g, gg_graph_find(g, "lstm1.bias_ih"));
    const float *bh = gg_graph_data(g, gg_graph_find(g, "lstm1.bias_hh"));
    int fb = 1, other = 1;
    float k = 1.0f / sqrtf((float)H);
    for (int j = 0; j < 4 * H; j++) {
        if (j >= H && j < 2 * H)
            fb &= bi[j] == 1.0f && bh[j] == 0.0f;
        else
            other &= fabsf(bi[j]) <= k && fabsf(bh[j]) <= k && bi[j] != 0;
    }
    GT_CHECK(fb, "forget bias: bias_ih f-block 1, bias_hh f-block 0");
    GT_CHECK(other, "other biases in U(-1/sqrt(H), 1/sqrt(H))");
    /* PyTorch's default: every weight in +-1/sqrt(H), and not all equal */
    const float *w2 = gg_graph_data(g, gg_graph_find(g, "lstm2.weight_hh"));
    const float *w3 = gg_graph_data(g, gg_graph_find(g, "lstm2.weight_ih"));
    int inrange = 1;
    for (int j = 0; j < 4 * H * H; j++) inrange &= fabsf(w2[j]) <= k;
    for (int j = 0; j < 4 * H * F; j++) inrange &= fabsf(w3[j]) <= k;
    GT_CHECK(inrange && w2[0] != w2[1], "default init in +-1/sqrt(H)");
    /* by hand: spectral radius 0.9 per block; forget bias 2 */
    gg_init spec = {GG_INIT_SPECTRAL, 0.9f, 0};
    GT_OK(gg_init_recurrent(g, "lstm2", spec, 11));
    GT_OK(gg_lstm_set_forget_bias(g, "lstm2", 2.0f));
    GT_CHECK(gg_graph_data(g, gg_graph_find(g, "lstm2.bias_ih"))[H] == 2.0f, "gg_lstm_set_forget_bias");
    GT_CHECK(gg_lstm_set_forget_bias(g, "gru1", 1.0f) == GG_E_SHAPE, "forget bias refused on a GRU: %s", gg_errmsg());
    GT_CHECK(gg_init_recurrent(g, "nope", spec, 1) == GG_E_ARG && strstr(gg_errmsg(), "nope.weight_hh"),
             "unknown layer named: %s", gg_errmsg());
    /* state reset */
    randomize(g, 4, 1, 0.1f);
    GT_OK(gg_graph_forward(g, GG_TRAIN, a));
    const float *hs = gg_graph_data(g, gg_graph_find(g, "lstm1.h0"));
    GT_CHECK(hs[0] != 0, "carry wrote the state");
    GT_OK(gg_rnn_reset_state(g, "lstm1"));
    GT_CHECK(hs[0] == 0 && gg_graph_data(g, gg_graph_find(g, "lstm1.c0"))[H - 1] == 0, "reset zeroes the state");
    GT_CHECK(gg_rnn_reset_state(g, "gru1") == GG_E_ARG, "no state to reset");
    gg_graph_free(g);
}

static void check_blocks(int N, int T, int D, int heads, int causal)
{
    char what[96];
    snprintf(what, sizeof what, "blocks N=%d T=%d D=%d heads=%d causal=%d", N, T, D, heads, causal);
    gg_graph *g = gg_graph_new(N);
    gg_node x = gg_input(g, "x", gg_shape2(T, D));
    gg_graph_requires_grad(g, x);
    gg_node h = gg_attention_block(g, x, "att", heads, causal);
    h = gg_mlp_block(g, h, "mlp", 2 * D + 1);
    gg_node L = weigh(g, h, "r");
    GT_OK(gg_graph_compile(g));
    if (gg_graph_status(g)) {
        gg_graph_free(g);
        return;
    }
    static const char *const names[] = {"att.ln.weight", "att.qkv.weight", "att.qkv.bias", "att.out.weight",
                                        "att.out.bias",  "mlp.ln.bias",    "mlp.fc1.weight", "mlp.fc2.weight"};
    gg_node nodes[9] = {x};
    for (int i = 0; i < 8; i++) {
        nodes[i + 1] = gg_graph_find(g, names[i]);
        GT_CHECK(nodes[i + 1] >= 0, "%s: parameter %s", what, names[i]);
    }
    gg_shape qs = gg_graph_shape(g, nodes[2]);
    GT_CHECK(qs.d[0] == 3 * D && qs.d[1] == D, "%s: qkv weight is (3D, D)", what);
    randomize(g, 8, 0.7f, 0.02f);
    gradcheck(g, L, nodes, 9, 15, what);
    gg_graph_free(g);
}

/* Attention blocks with qk_norm and a logit cap: gradients of every new
 * parameter and of the input, and the parameter shapes. */
static void check_blocks_opts(int N, int T, int D, int heads, int qk_norm, float cap)
{
    char what[112];
    snprintf(what, sizeof what, "block opts N=%d T=%d D=%d heads=%d qk_norm=%d cap=%g", N, T, D, heads, qk_norm, cap);
    gg_graph *g = gg_graph_new(N);
    gg_node x = gg_input(g, "x", gg_shape2(T, D));
    gg_graph_requires_grad(g, x);
    gg_attention_opts o = {heads, 1, qk_norm, cap};
    gg_node h = gg_attention_block_ex(g, x, "att", &o);
    gg_node L = weigh(g, h, "r");
    GT_OK(gg_graph_compile(g));
    if (gg_graph_status(g)) {
        gg_graph_free(g);
        return;
    }
    const char *names[] = {"att.qkv.weight", "att.qkv.bias", "att.q_norm.weight", "att.q_norm.bias",
                           "att.k_norm.weight", "att.k_norm.bias", "att.out.weight"};
    int n = qk_norm ? 7 : 2;
    gg_node nodes[8] = {x};
    for (int i = 0; i < n; i++) {
        nodes[i + 1] = gg_graph_find(g, names[i]);
        GT_CHECK(nodes[i + 1] >= 0, "%s: parameter %s", what, names[i]);
    }
    if (qk_norm) {
        gg_shape qs = gg_graph_shape(g, nodes[3]);
        GT_CHECK(qs.ndim == 1 && qs.d[0] == D / heads, "%s: q_norm.weight is (dh)", what);
    } else {
        GT_CHECK(gg_graph_find(g, "att.q_norm.weight") < 0, "%s: no q_norm without qk_norm", what);
    }
    randomize(g, 9, 1.5f, 0.02f);
    gradcheck(g, L, nodes, n + 1, 15, what);
    gg_graph_free(g);
}

/* The attention op of layer `layer`, -1 if none. */
static gg_node attention_of(gg_graph *g, const char *layer)
{
    for (int i = 0; i < gg_graph_num_nodes(g); i++)
        if (gg_graph_attention_heads(g, i) > 0 && strcmp(gg_graph_node_layer(g, i), layer) == 0) return i;
    return -1;
}

/* QK-clip: the head's max logit on the same batch becomes tau, the other
 * heads' statistics and the V rows stay; refusals. */
static void check_qk_clip(void)
{
    int N = 2, T = 5, D = 8, heads = 2, dh = D / heads;
    gg_graph *g = gg_graph_new(N);
    gg_node x = gg_input(g, "x", gg_shape2(T, D));
    gg_node h = gg_attention_block(g, x, "att", heads, 1);
    GT_OK(gg_graph_compile(g));
    gg_node a = attention_of(g, "att");
    GT_CHECK(a >= 0, "the block has an attention op");
    randomize(g, 31, 1.5f, 0);
    float f = 0;
    GT_CHECK(gg_attention_qk_clip(g, a, 0, 1, &f) == GG_E_STATE && f == 1, "no clip before a forward");
    GT_OK(gg_graph_forward(g, GG_EVAL, h));
    gg_attention_stats s0, s1, t0, t1;
    GT_OK(gg_graph_attention_stats(g, a, 0, &s0));
    GT_OK(gg_graph_attention_stats(g, a, 1, &t0));
    GT_CHECK(s0.max_logit > 1, "head 0's max logit %g is large enough to clip", s0.max_logit);
    gg_node w = gg_graph_find(g, "att.qkv.weight");
    float *wv = gg_graph_data(g, w);
    float v_before = wv[(size_t)(2 * D) * D], k1_before = wv[(size_t)(D + dh) * D];
    float tau = s0.max_logit / 4;
    GT_OK(gg_attention_qk_clip(g, a, 0, tau, &f));
    GT_NEAR(f, 0.5, 1e-6, 0, "factor sqrt(tau / max)");
    GT_OK(gg_graph_attention_stats(g, a, 0, &s1));
    GT_NEAR(s1.max_logit, tau, 1e-6, 0, "the recorded max becomes tau");
    GT_OK(gg_graph_forward(g, GG_EVAL, h));
    GT_OK(gg_graph_attention_stats(g, a, 0, &s1));
    GT_OK(gg_graph_attention_stats(g, a, 1, &t1));
    GT_NEAR(s1.max_logit, tau, 1e-4, 0, "head 0's max logit after the clip, on the same batch");
    GT_CHECK(s1.entropy > s0.entropy, "smaller logits: entropy %g above %g", s1.entropy, s0.entropy);
    GT_NEAR(t1.max_logit, t0.max_logit, 1e-6, 0, "head 1 untouched");
    GT_CHECK(wv[(size_t)(2 * D) * D] == v_before && wv[(size_t)(D + dh) * D] == k1_before,
             "V rows and head 1's K rows untouched");
    GT_OK(gg_attention_qk_clip(g, a, 0, s1.max_logit * 2, &f));
    GT_CHECK(f == 1, "under the threshold: nothing done (factor %g)", f);
    GT_CHECK(gg_attention_qk_clip(g, a, 2, 1, NULL) == GG_E_ARG, "head out of range");
    GT_CHECK(gg_attention_qk_clip(g, a, 0, 0, NULL) == GG_E_ARG, "tau 0");
    GT_CHECK(gg_attention_qk_clip(g, w, 0, 1, NULL) == GG_E_ARG && strstr(gg_errmsg(), "att.qkv.weight"),
             "not an attention op: %s", gg_errmsg());
    gg_graph_free(g);

    /* qk_norm: rescaling W_q, W_k would change nothing */
    g = gg_graph_new(1);
    x = gg_input(g, "x", gg_shape2(3, 4));
    gg_attention_opts o = {2, 1, 1, 0};
    h = gg_attention_block_ex(g, x, "att", &o);
    GT_OK(gg_graph_compile(g));
    randomize(g, 3, 1, 0);
    GT_OK(gg_graph_forward(g, GG_EVAL, h));
    GT_CHECK(gg_attention_qk_clip(g, attention_of(g, "att"), 0, 1e-3f, NULL) == GG_E_STATE &&
                 strstr(gg_errmsg(), "qk_norm"),
             "qk_norm refused: %s", gg_errmsg());
    gg_graph_free(g);

    /* a bare attention op: W_q and W_k unknown */
    g = gg_graph_new(1);
    gg_node q = gg_input(g, "qkv", gg_shape2(3, 12));
    gg_node y = gg_attention(g, q, 2, 1);
    GT_OK(gg_graph_compile(g));
    randomize(g, 4, 1, 0);
    GT_OK(gg_graph_forward(g, GG_EVAL, y));
    GT_CHECK(gg_attention_qk_clip(g, y, 0, 1e-3f, NULL) == GG_E_STATE && strstr(gg_errmsg(), "gg_attention_block"),
             "bare op refused: %s", gg_errmsg());
    gg_graph_free(g);
}

static void check_errors(void)
{
    gg_graph *g = gg_graph_new(2);
    gg_node x = gg_input(g, "x", gg_shape2(3, 4));
    gg_node wih = gg_param(g, "l.weight_ih", gg_shape2(20, 4), zinit());
    gg_node bad = gg_param(g, "l.weight_hh", gg_shape2(20, 4), zinit());
    GT_CHECK(gg_lstm(g, x, wih, bad, -1, -1, -1, -1, -1, 0) == -1, "bad weight_hh refused");
    GT_CHECK(gg_graph_status(g) == GG_E_SHAPE && strstr(gg_graph_errmsg(g), "(20, 4)") &&
                 strstr(gg_graph_errmsg(g), "l.weight_hh"),
             "message names the weight and its shape: %s", gg_graph_errmsg(g));
    gg_graph_free(g);

    g = gg_graph_new(2);
    x = gg_input(g, "x", gg_shape2(3, 4));
    wih = gg_param(g, "l.weight_ih", gg_shape2(15, 5), zinit());
    gg_node whh = gg_param(g, "l.weight_hh", gg_shape2(15, 5), zinit());
    GT_CHECK(gg_gru(g, x, wih, whh, -1, -1, -1, -1, 0) == -1 && strstr(gg_graph_errmsg(g), "(15, 5)") &&
                 strstr(gg_graph_errmsg(g), "(2, 3, 4)"),
             "weight_ih against x: %s", gg_graph_errmsg(g));
    gg_graph_free(g);

    g = gg_graph_new(2);
    x = gg_input(g, "x", gg_shape2(3, 4));
    wih = gg_param(g, "l.weight_ih", gg_shape2(5, 4), zinit());
    whh = gg_param(g, "l.weight_hh", gg_shape2(5, 5), zinit());
    gg_node h0 = gg_input(g, "h0", gg_shape1(5));
    GT_CHECK(gg_rnn(g, x, wih, whh, -1, -1, h0, -1, 0, GG_RNN_CARRY) == -1 && strstr(gg_graph_errmsg(g), "buffer"),
             "carry needs a buffer: %s", gg_graph_errmsg(g));
    gg_graph_free(g);

    g = gg_graph_new(2);
    x = gg_input(g, "x", gg_shape2(3, 4));
    wih = gg_param(g, "l.weight_ih", gg_shape2(5, 4), zinit());
    whh = gg_param(g, "l.weight_hh", gg_shape2(5, 5), zinit());
    gg_node len = gg_input(g, "len", gg_shape1(1));
    gg_node y = gg_rnn(g, x, wih, whh, -1, -1, -1, len, 0, 0);
    GT_OK(gg_graph_compile(g));
    float *l = gg_graph_data(g, len);
    l[0] = 3;
    l[1] = 4;
    gg_status s = gg_graph_forward(g, GG_EVAL, y);
    GT_CHECK(s == GG_E_ARG && strstr(gg_errmsg(), "lengths[1]") && strstr(gg_errmsg(), "0..3"), "bad length: %s",
             gg_errmsg());
    l[1] = 1.5f;
    GT_CHECK(gg_graph_forward(g, GG_EVAL, y) == GG_E_ARG, "fractional length refused");
    l[1] = 0;
    GT_OK(gg_graph_forward(g, GG_EVAL, y));
    gg_graph_free(g);

    g = gg_graph_new(2);
    gg_node q = gg_input(g, "qkv", gg_shape2(3, 12));
    GT_CHECK(gg_attention(g, q, 3, 1) == -1 && strstr(gg_graph_errmsg(g), "3 heads") &&
                 strstr(gg_graph_errmsg(g), "D = 4"),
             "heads must divide D: %s", gg_graph_errmsg(g));
    gg_graph_free(g);
}

int main(void)
{
    /* gradients: every cell, several lengths, batch 1 and odd sizes */
    int Ts[3] = {1, 3, 5};
    for (int cell = 0; cell < 4; cell++)
        for (int k = 0; k < 3; k++) {
            seq_case c = {cell, k == 1 ? 1 : 3, Ts[k], 3, 4, 1, 0, 0, 0, 0};
            c.maxb = c.N;
            check_cell_grad(c);
            c.state = 1; /* h0 (c0) with gradients */
            check_cell_grad(c);
        }
    for (int cell = 0; cell < 4; cell++) {
        /* variable lengths, last-step output, state buffers, no bias,
         * a batch below max_batch */
        seq_case c = {cell, 3, 5, 2, 3, 1, 1, 1, 0, 3};
        check_cell_grad(c);
        c.last = 1;
        check_cell_grad(c);
        seq_case d = {cell, 3, 4, 3, 5, 0, 2, 0, 0, 5};
        check_cell_grad(d);
        d.lengths = 1;
        d.last = 1;
        d.bias = 1;
        check_cell_grad(d);
    }
    /* BPTT against the unrolled graph */
    check_unrolled(0, 3, 5, 3, 4, 1);
    check_unrolled(0, 1, 1, 2, 3, 0);
    check_unrolled(0, 2, 6, 2, 5, 0);
    check_unrolled(1, 3, 4, 3, 4, 1);
    /* forward against PyTorch's equations */
    for (int cell = 0; cell < 4; cell++) {
        check_reference(cell, 4, 6, 3, 5, 1);
        check_reference(cell, 1, 2, 1, 3, 0);
    }
    for (int cell = 0; cell < 4; cell++) check_carry(cell);
    check_parallel(LSTM);
    check_parallel(GRU);
    int Ta[2] = {1, 4};
    for (int heads = 1; heads <= 2; heads++)
        for (int causal = 0; causal < 2; causal++)
            for (int k = 0; k < 2; k++) {
                check_attention(1, Ta[k], 4, heads, causal, 0);
                check_attention(3, Ta[k], 4, heads, causal, 0);
            }
    check_attention(2, 5, 6, 3, 1, 0);
    /* logit cap: below, near and past the logits' size */
    check_attention(2, 5, 6, 3, 1, 1.5f);
    check_attention(2, 4, 4, 2, 0, 0.5f);
    check_attention(1, 3, 4, 1, 1, 20.0f);
    check_attention_extremes();
    check_z_loss(6, 5, 0.1f, 0);
    check_z_loss(7, 3, 1.0f, 0.1f);
    check_z_loss(4, 4, 0, 0);
    check_layers();
    check_blocks(2, 3, 4, 2, 1);
    check_blocks(1, 4, 6, 1, 0);
    check_blocks_opts(2, 4, 8, 2, 1, 0);
    check_blocks_opts(1, 3, 6, 3, 1, 2.0f);
    check_blocks_opts(2, 3, 4, 1, 0, 0.7f);
    check_qk_clip();
    check_errors();
    return gt_done("test_ops_seq");
}
