/* rnn.c - vanilla RNN, LSTM and GRU, each fused over a whole sequence.
 *
 * x (N, T, F), H hidden units, G gate blocks of H (RNN 1; LSTM 4: i, f, g, o;
 * GRU 3: r, z, n), PyTorch's parameter layout: w_ih (GH, F), w_hh (GH, H),
 * b_ih, b_hh (GH), GH = G H.
 *
 * Forward
 *   P (N T, GH) = X W_ih^T + b           one GEMM for every step at once; b
 *                                        folds b_ih and b_hh (GRU: b_hh of r
 *                                        and z only, b_hn stays inside r * .)
 *   per step t: P[:, t] += h_{t-1} W_hh^T   one (N, H) x (H, GH) GEMM
 *               (GRU: R = h_{t-1} W_hh^T into a scratch, since r multiplies
 *               W_hn h + b_hn alone), then the gate math row by row:
 *     RNN   h = act(p)
 *     LSTM  i, f, o = sigmoid, g = tanh;  c = f c' + i g;  h = o tanh(c)
 *     GRU   r, z = sigmoid(p + R);  hn = R_n + b_hn;  n = tanh(p_n + r hn);
 *           h = (1 - z) n + z h'
 * Everything lives batch-major in the workspace; the step-t slice of an
 * (N, T, K) array is an (N, K) matrix with leading dimension T K, which is
 * how the per-step GEMMs read and write it without copies.
 *
 * Backward, t = T-1 .. 0 with dh = (gradient from step t+1) + dy[:, t]:
 *   the gate math backwards gives dP (gradient of the gate pre-activations;
 *   GRU also dR, which differs from dP in its n block), then
 *   dh_{t-1} = dh (RNN/LSTM: 0, GRU: z) + dP[:, t] W_hh    one GEMM per step.
 *   After the loop, single GEMMs over all N T rows:
 *   dX += dP W_ih,  dW_ih += dP^T X,  dW_hh += dR^T H_prev,  db += colsum.
 *
 * Lengths: from step lengths[n] on, sample n's state is copied forward,
 * its output is 0 and its gate gradients are 0, so dh passes through
 * unchanged to the last real step.
 *
 * Attributes (attr.h): relu (RNN), flags, the node of b_ih, b_hh, h0, c0,
 * lengths or -1 by role (read through gg_rnn_role: a node that did not fit
 * into in[] is only there), and the initialisation a layer builder recorded
 * for gg_graph_init_recurrent (src/nn/seq.c), which the kernels ignore. */
#include "../core.h"
#include "attr.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* The gate math (3 sigmoids and 2 tanh per LSTM unit and step) costs as much
 * as the GEMMs when done one call at a time. glibc's vector math library
 * (libmvec, pulled in by -lm) has SIMD expf and tanhf; glibc declares them
 * only under -ffast-math, so declare them here and let the `omp simd` loops
 * below call 8 or 16 at once. Elsewhere the loops call the scalar ones. */
#if defined(__GLIBC__) && defined(__x86_64__) && defined(_OPENMP) && \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
#pragma omp declare simd notinbranch
extern float expf(float);
#pragma omp declare simd notinbranch
extern float tanhf(float);
#endif

/* The row loops of one step go parallel above this many gate values: there
 * is one parallel region per step, and below this the fork/join (and waking
 * a sleeping thread on a busy machine) costs more than the vectorised gate
 * math it would split. */
#define SEQ_PAR_MIN (8 * (size_t)GG_PAR_MIN)

enum { CELL_RNN, CELL_LSTM, CELL_GRU };

static int cell_of(const gg_tensor *t)
{
    return t->op == GG_OP_LSTM ? CELL_LSTM : t->op == GG_OP_GRU ? CELL_GRU : CELL_RNN;
}

static gg_tensor *role(gg_graph *g, const gg_tensor *t, int r)
{
    int k = gg_rnn_role(t, r);
    return k >= 0 ? &g->t[k] : NULL;
}

typedef struct seq_dims {
    int N, T, F, H, GH;
} seq_dims;

static seq_dims dims_of(const gg_graph *g, const gg_tensor *t, int n)
{
    const gg_tensor *x = &g->t[t->in[0]], *whh = &g->t[t->in[2]];
    seq_dims d = {n, x->shape.d[1], x->shape.d[2], whh->shape.d[1], whh->shape.d[0]};
    return d;
}

/* The workspace, carved at fixed offsets for max_batch rows (so a smaller
 * batch uses the front of each array). */
typedef struct seq_ws {
    float *P;    /* (N, T, GH) gate pre-activations, then activations (GRU: r, z, n) */
    float *dP;   /* (N, T, GH) gradient of the input projection (RNN/LSTM: also of the recurrent one) */
    float *dR;   /* GRU (N, T, GH): gradient of the recurrent projection h W_hh^T + b_hh */
    float *S;    /* (N, T, H) the state entering each step, h_{t-1} */
    float *C;    /* LSTM (N, T, H): c_t */
    float *TC;   /* LSTM (N, T, H): tanh(c_t) */
    float *HN;   /* GRU (N, T, H): W_hn h_{t-1} + b_hn */
    float *c0;   /* LSTM (N, H): the initial cell state */
    float *hT;   /* (N, H): the final hidden state */
    float *dH;   /* (N, H): gradient flowing into h_{t-1} */
    float *dC;   /* LSTM (N, H): gradient flowing into c_{t-1} */
    float *R;    /* GRU (N, GH): the recurrent projection of the current step */
    float *bias; /* (GH): folded bias of the input projection; GRU: then b_hn (H) or 0 */
} seq_ws;

/* Carves ws (or only counts, when base is NULL); returns the float count. */
static size_t carve(float *base, int cell, seq_dims d, seq_ws *w)
{
    size_t ntg = (size_t)d.N * d.T * d.GH, nth = (size_t)d.N * d.T * d.H, nh = (size_t)d.N * d.H, off = 0;
    float **slot[13] = {&w->P, &w->dP, &w->dR, &w->S, &w->C, &w->TC, &w->HN, &w->c0, &w->hT, &w->dH, &w->dC, &w->R,
                        &w->bias};
    size_t size[13] = {ntg,
                       ntg,
                       cell == CELL_GRU ? ntg : 0,
                       nth,
                       cell == CELL_LSTM ? nth : 0,
                       cell == CELL_LSTM ? nth : 0,
                       cell == CELL_GRU ? nth : 0,
                       cell == CELL_LSTM ? nh : 0,
                       nh,
                       nh,
                       cell == CELL_LSTM ? nh : 0,
                       cell == CELL_GRU ? (size_t)d.N * d.GH : 0,
                       (size_t)d.GH + (cell == CELL_GRU ? (size_t)d.H : 0)};
    for (int i = 0; i < 13; i++) {
        *slot[i] = base && size[i] ? base + off : NULL;
        off += size[i];
    }
    return off;
}

size_t gg_rnn_ws(const gg_graph *g, const gg_tensor *t)
{
    seq_ws w;
    return carve(NULL, cell_of(t), dims_of(g, t, g->max_batch), &w);
}

static inline float sigm(float v) { return 1.0f / (1.0f + expf(-v)); }

/* Steps of sample n that are real (the rest hold the state). */
static inline int len_of(const float *lv, int n, int T) { return lv ? (int)lv[n] : T; }

/* Refuses lengths that are not integers in 0..T. */
static int lengths_ok(gg_graph *g, const gg_tensor *t, const float *lv, int N, int T)
{
    for (int n = 0; n < N && lv; n++)
        if (!(lv[n] >= 0 && lv[n] <= T && lv[n] == floorf(lv[n]))) {
            gg_run_fail(g, GG_E_ARG, "%s '%s': lengths[%d] = %g is not an integer in 0..%d", gg_opdefs[t->op].name,
                        t->name, n, (double)lv[n], T);
            return 0;
        }
    return 1;
}

/* h_t goes into the next step's S slice, or hT after the last step. */
static inline float *next_h(const seq_ws *w, seq_dims d, int n, int t)
{
    return t + 1 < d.T ? w->S + ((size_t)n * d.T + t + 1) * d.H : w->hT + (size_t)n * d.H;
}

/* ---- forward, one row (sample n, step t) of the gate math ---- */

static void rnn_row(const seq_ws *w, seq_dims d, int n, int t, int relu, float *y)
{
    float *p = w->P + ((size_t)n * d.T + t) * d.GH, *h = next_h(w, d, n, t);
    if (relu) {
#pragma omp simd
        for (int j = 0; j < d.H; j++) p[j] = p[j] > 0 ? p[j] : 0;
    } else {
#pragma omp simd
        for (int j = 0; j < d.H; j++) p[j] = tanhf(p[j]);
    }
    memcpy(h, p, (size_t)d.H * sizeof *h);
    if (y) memcpy(y, h, (size_t)d.H * sizeof *y);
}

static void lstm_row(const seq_ws *w, seq_dims d, int n, int t, float *y)
{
    int H = d.H;
    size_t r = (size_t)n * d.T + t;
    float *p = w->P + r * d.GH, *c = w->C + r * H, *tc = w->TC + r * H, *h = next_h(w, d, n, t);
    const float *cp = t ? w->C + (r - 1) * H : w->c0 + (size_t)n * H;
#pragma omp simd
    for (int j = 0; j < H; j++) {
        float i = sigm(p[j]), f = sigm(p[H + j]), gg = tanhf(p[2 * H + j]), o = sigm(p[3 * H + j]);
        p[j] = i;
        p[H + j] = f;
        p[2 * H + j] = gg;
        p[3 * H + j] = o;
        float cv = f * cp[j] + i * gg, tv = tanhf(cv);
        c[j] = cv;
        tc[j] = tv;
        h[j] = o * tv;
    }
    if (y) memcpy(y, h, (size_t)H * sizeof *y);
}

static void gru_row(const seq_ws *w, seq_dims d, int n, int t, float *y)
{
    int H = d.H;
    const float *bhn = w->bias + d.GH;
    size_t r = (size_t)n * d.T + t;
    float *p = w->P + r * d.GH, *hn = w->HN + r * H, *h = next_h(w, d, n, t);
    const float *R = w->R + (size_t)n * d.GH, *hp = w->S + r * H;
#pragma omp simd
    for (int j = 0; j < H; j++) {
        float rg = sigm(p[j] + R[j]), z = sigm(p[H + j] + R[H + j]);
        float hv = R[2 * H + j] + bhn[j];
        float nv = tanhf(p[2 * H + j] + rg * hv);
        p[j] = rg;
        p[H + j] = z;
        p[2 * H + j] = nv;
        hn[j] = hv;
        h[j] = (1 - z) * nv + z * hp[j];
    }
    if (y) memcpy(y, h, (size_t)H * sizeof *y);
}

/* A step past the sample's length: the state is held, the output is 0. */
static void hold_row(const seq_ws *w, seq_dims d, int cell, int n, int t, float *y)
{
    size_t r = (size_t)n * d.T + t, H = (size_t)d.H;
    memcpy(next_h(w, d, n, t), w->S + r * H, H * sizeof(float));
    if (cell == CELL_LSTM) {
        const float *cp = t ? w->C + (r - 1) * H : w->c0 + (size_t)n * H;
        memcpy(w->C + r * H, cp, H * sizeof(float));
    }
    if (y) memset(y, 0, H * sizeof *y);
}

/* Copies the initial state (rows 0..N-1 of a (max_batch, H) node) or zeros. */
static void load_state(float *dst, const gg_tensor *src, seq_dims d, size_t stride)
{
    for (int n = 0; n < d.N; n++) {
        float *o = dst + (size_t)n * stride;
        if (src)
            memcpy(o, src->val + (size_t)n * d.H, (size_t)d.H * sizeof *o);
        else
            memset(o, 0, (size_t)d.H * sizeof *o);
    }
}

static void seq_forward(gg_graph *g, gg_tensor *t)
{
    int cell = cell_of(t), relu = gg_rnn_relu(t), flags = gg_rnn_flags(t);
    const gg_tensor *x = gg_IN(g, t, 0), *wih = gg_IN(g, t, 1), *whh = gg_IN(g, t, 2);
    gg_tensor *bih = role(g, t, GG_RNN_R_BIH), *bhh = role(g, t, GG_RNN_R_BHH), *h0 = role(g, t, GG_RNN_R_H0), *c0 = role(g, t, GG_RNN_R_C0);
    gg_tensor *lt = role(g, t, GG_RNN_R_LEN);
    seq_dims d = dims_of(g, t, g->batch);
    int N = d.N, T = d.T, H = d.H, GH = d.GH;
    const float *lv = lt ? lt->val : NULL;
    if (!lengths_ok(g, t, lv, N, T)) return;
    seq_ws w;
    carve(t->ws, cell, dims_of(g, t, g->max_batch), &w);

    /* the input projection of every step, with the biases that add to it */
    for (int j = 0; j < GH; j++)
        w.bias[j] = (bih ? bih->val[j] : 0) + (bhh && !(cell == CELL_GRU && j >= 2 * H) ? bhh->val[j] : 0);
    if (cell == CELL_GRU)
        for (int j = 0; j < H; j++) w.bias[GH + j] = bhh ? bhh->val[2 * H + j] : 0;
    long rows = (long)N * T;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, GH, d.F, 1.0f, x->val, d.F, wih->val, d.F, 0.0f,
                w.P, GH);
#pragma omp parallel for if ((size_t)rows * GH > GG_PAR_MIN)
    for (long r = 0; r < rows; r++) {
        float *p = w.P + (size_t)r * GH;
#pragma omp simd
        for (int j = 0; j < GH; j++) p[j] += w.bias[j];
    }
    load_state(w.S, h0, d, (size_t)T * H);
    if (cell == CELL_LSTM) load_state(w.c0, c0, d, (size_t)H);
    float *y = flags & GG_RNN_LAST ? NULL : t->val;

    for (int s = 0; s < T; s++) {
        /* the recurrent projection; h_{-1} = 0 needs none */
        if (s > 0 || h0) {
            if (cell == CELL_GRU)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, GH, H, 1.0f, w.S + (size_t)s * H, T * H,
                            whh->val, H, 0.0f, w.R, GH);
            else
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, GH, H, 1.0f, w.S + (size_t)s * H, T * H,
                            whh->val, H, 1.0f, w.P + (size_t)s * GH, T * GH);
        } else if (cell == CELL_GRU) {
            memset(w.R, 0, (size_t)N * GH * sizeof *w.R);
        }
#pragma omp parallel for if ((size_t)N * GH > SEQ_PAR_MIN)
        for (int n = 0; n < N; n++) {
            float *yr = y ? y + ((size_t)n * T + s) * H : NULL;
            if (s >= len_of(lv, n, T))
                hold_row(&w, d, cell, n, s, yr);
            else if (cell == CELL_LSTM)
                lstm_row(&w, d, n, s, yr);
            else if (cell == CELL_GRU)
                gru_row(&w, d, n, s, yr);
            else
                rnn_row(&w, d, n, s, relu, yr);
        }
    }
    if (flags & GG_RNN_LAST) memcpy(t->val, w.hT, (size_t)N * H * sizeof *t->val);
    if (flags & GG_RNN_CARRY) {
        /* the next forward starts where this one ended */
        memcpy(h0->val, w.hT, (size_t)N * H * sizeof *h0->val);
        if (cell == CELL_LSTM)
            for (int n = 0; n < N; n++)
                memcpy(c0->val + (size_t)n * H, w.C + ((size_t)n * T + T - 1) * H, (size_t)H * sizeof *c0->val);
    }
}

/* ---- backward, one row: dh is the gradient into h_t; writes the gate
 * gradients and leaves in dh (and dc) what flows to step t-1 before the
 * recurrent GEMM adds its part ---- */

static void rnn_row_bwd(const seq_ws *w, seq_dims d, int n, int t, int relu, float *dh)
{
    size_t r = (size_t)n * d.T + t;
    const float *h = w->P + r * d.GH;
    float *dp = w->dP + r * d.GH;
#pragma omp simd
    for (int j = 0; j < d.H; j++) {
        dp[j] = relu ? (h[j] > 0 ? dh[j] : 0) : dh[j] * (1 - h[j] * h[j]);
        dh[j] = 0;
    }
}

static void lstm_row_bwd(const seq_ws *w, seq_dims d, int n, int t, float *dh, float *dc)
{
    int H = d.H;
    size_t r = (size_t)n * d.T + t;
    const float *p = w->P + r * d.GH, *tc = w->TC + r * H;
    const float *cp = t ? w->C + (r - 1) * H : w->c0 + (size_t)n * H;
    float *dp = w->dP + r * d.GH;
#pragma omp simd
    for (int j = 0; j < H; j++) {
        float i = p[j], f = p[H + j], gg = p[2 * H + j], o = p[3 * H + j], tv = tc[j];
        float c = dc[j] + dh[j] * o * (1 - tv * tv);
        dp[j] = c * gg * i * (1 - i);
        dp[H + j] = c * cp[j] * f * (1 - f);
        dp[2 * H + j] = c * i * (1 - gg * gg);
        dp[3 * H + j] = dh[j] * tv * o * (1 - o);
        dc[j] = c * f;
        dh[j] = 0;
    }
}

static void gru_row_bwd(const seq_ws *w, seq_dims d, int n, int t, float *dh)
{
    int H = d.H;
    size_t r = (size_t)n * d.T + t;
    const float *p = w->P + r * d.GH, *hn = w->HN + r * H, *hp = w->S + r * H;
    float *dp = w->dP + r * d.GH, *dr = w->dR + r * d.GH;
#pragma omp simd
    for (int j = 0; j < H; j++) {
        float rg = p[j], z = p[H + j], nv = p[2 * H + j], e = dh[j];
        float dn = e * (1 - z) * (1 - nv * nv);
        float drg = dn * hn[j] * rg * (1 - rg), dz = e * (hp[j] - nv) * z * (1 - z);
        dp[j] = dr[j] = drg;
        dp[H + j] = dr[H + j] = dz;
        dp[2 * H + j] = dn;
        dr[2 * H + j] = dn * rg;
        dh[j] = e * z;
    }
}

/* acc[j] += sum over rows of m (rows, cols). */
static void colsum_add(float *acc, const float *m, long rows, int cols)
{
    for (long r = 0; r < rows; r++) {
        const float *row = m + (size_t)r * cols;
#pragma omp simd
        for (int j = 0; j < cols; j++) acc[j] += row[j];
    }
}

static void seq_backward(gg_graph *g, gg_tensor *t)
{
    int cell = cell_of(t), relu = gg_rnn_relu(t), flags = gg_rnn_flags(t);
    gg_tensor *x = gg_IN(g, t, 0), *wih = gg_IN(g, t, 1), *whh = gg_IN(g, t, 2);
    gg_tensor *bih = role(g, t, GG_RNN_R_BIH), *bhh = role(g, t, GG_RNN_R_BHH), *h0 = role(g, t, GG_RNN_R_H0), *c0 = role(g, t, GG_RNN_R_C0);
    gg_tensor *lt = role(g, t, GG_RNN_R_LEN);
    seq_dims d = dims_of(g, t, g->batch);
    int N = d.N, T = d.T, H = d.H, GH = d.GH;
    const float *lv = lt ? lt->val : NULL, *dy = t->grad;
    seq_ws w;
    carve(t->ws, cell, dims_of(g, t, g->max_batch), &w);
    int dh0 = h0 && h0->needs_grad && h0->grad, dc0 = c0 && c0->needs_grad && c0->grad;
    float *dR = cell == CELL_GRU ? w.dR : w.dP; /* gradient of the recurrent projection */

    if (flags & GG_RNN_LAST)
        memcpy(w.dH, dy, (size_t)N * H * sizeof *w.dH);
    else
        memset(w.dH, 0, (size_t)N * H * sizeof *w.dH);
    if (cell == CELL_LSTM) memset(w.dC, 0, (size_t)N * H * sizeof *w.dC);

    for (int s = T - 1; s >= 0; s--) {
#pragma omp parallel for if ((size_t)N * GH > SEQ_PAR_MIN)
        for (int n = 0; n < N; n++) {
            float *dh = w.dH + (size_t)n * H;
            size_t r = (size_t)n * T + s;
            if (s >= len_of(lv, n, T)) {
                /* a held step: the output was a constant 0, the state a copy */
                memset(w.dP + r * GH, 0, (size_t)GH * sizeof(float));
                if (cell == CELL_GRU) memset(w.dR + r * GH, 0, (size_t)GH * sizeof(float));
                continue;
            }
            if (!(flags & GG_RNN_LAST)) {
                const float *dyr = dy + r * H;
#pragma omp simd
                for (int j = 0; j < H; j++) dh[j] += dyr[j];
            }
            if (cell == CELL_LSTM)
                lstm_row_bwd(&w, d, n, s, dh, w.dC + (size_t)n * H);
            else if (cell == CELL_GRU)
                gru_row_bwd(&w, d, n, s, dh);
            else
                rnn_row_bwd(&w, d, n, s, relu, dh);
        }
        /* dh_{t-1} += dR[:, t] W_hh; at t = 0 only if h0 wants it */
        if (s > 0 || dh0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, H, GH, 1.0f, dR + (size_t)s * GH, T * GH,
                        whh->val, H, 1.0f, w.dH, H);
    }
    if (dh0)
        for (size_t i = 0; i < (size_t)N * H; i++) h0->grad[i] += w.dH[i];
    if (dc0)
        for (size_t i = 0; i < (size_t)N * H; i++) c0->grad[i] += w.dC[i];

    /* the weight gradients: one GEMM each over all N T rows */
    int rows = N * T;
    if (x->needs_grad && x->grad)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, d.F, GH, 1.0f, w.dP, GH, wih->val, d.F, 1.0f,
                    x->grad, d.F);
    if (wih->needs_grad && wih->grad)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, GH, d.F, rows, 1.0f, w.dP, GH, x->val, d.F, 1.0f,
                    wih->grad, d.F);
    if (whh->needs_grad && whh->grad)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, GH, H, rows, 1.0f, dR, GH, w.S, H, 1.0f, whh->grad, H);
    if (bih && bih->needs_grad && bih->grad) colsum_add(bih->grad, w.dP, rows, GH);
    if (bhh && bhh->needs_grad && bhh->grad) colsum_add(bhh->grad, dR, rows, GH);
}

void gg_rnn_fwd(gg_graph *g, gg_tensor *t) { seq_forward(g, t); }
void gg_rnn_bwd(gg_graph *g, gg_tensor *t) { seq_backward(g, t); }

/* ---- builders ---- */

/* A state node: a buffer (max_batch, H) or a batched (N, H) node. */
static int state_ok(const gg_graph *g, const gg_tensor *s, int H)
{
    if (s->shape.ndim != 2 || s->shape.d[0] != g->max_batch || s->shape.d[1] != H) return 0;
    return s->batched || s->kind == GG_K_BUFFER;
}

static gg_node seq_build(gg_graph *g, int op, const char *opname, int G, gg_node x, gg_node w_ih, gg_node w_hh,
                         const gg_node opt[GG_RNN_R_COUNT], int relu, int flags)
{
    if (!g || g->err) return -1;
    static const char *const what[GG_RNN_R_COUNT] = {"bias_ih", "bias_hh", "h0", "c0", "lengths"};
    if (!gg_node_ok(g, x) || !gg_node_ok(g, w_ih) || !gg_node_ok(g, w_hh))
        return gg_build_fail(g, GG_E_ARG, "%s in '%s': bad input node (x %d, weight_ih %d, weight_hh %d)", opname,
                             g->scope, x, w_ih, w_hh);
    for (int r = 0; r < GG_RNN_R_COUNT; r++)
        if (opt[r] != -1 && !gg_node_ok(g, opt[r]))
            return gg_build_fail(g, GG_E_ARG, "%s in '%s': %s is not a node of this graph (%d)", opname, g->scope,
                                 what[r], opt[r]);
    if (flags & ~(GG_RNN_LAST | GG_RNN_CARRY))
        return gg_build_fail(g, GG_E_ARG, "%s in '%s': unknown flags 0x%x", opname, g->scope, (unsigned)flags);
    gg_tensor *xt = gg_T(g, x), *wi = gg_T(g, w_ih), *wh = gg_T(g, w_hh);
    char s1[64], s2[64];
    if (!xt->batched || xt->shape.ndim != 3)
        return gg_build_fail(g, GG_E_SHAPE, "%s in '%s': input '%s' %s is not a sequence batch (N, T, F)", opname,
                             g->scope, xt->name, gg_shape_str(xt->shape, s1, sizeof s1));
    int T = xt->shape.d[1], F = xt->shape.d[2];
    if (wh->batched || wh->shape.ndim != 2 || wh->shape.d[0] != G * wh->shape.d[1])
        return gg_build_fail(g, GG_E_SHAPE, "%s in '%s': weight_hh '%s' %s is not (%d H, H)", opname, g->scope,
                             wh->name, gg_shape_str(wh->shape, s1, sizeof s1), G);
    int H = wh->shape.d[1], GH = G * H;
    if (wi->batched || wi->shape.ndim != 2 || wi->shape.d[0] != GH || wi->shape.d[1] != F)
        return gg_build_fail(g, GG_E_SHAPE, "%s in '%s': weight_ih '%s' %s does not fit input '%s' %s (want (%d, %d))",
                             opname, g->scope, wi->name, gg_shape_str(wi->shape, s1, sizeof s1), xt->name,
                             gg_shape_str(xt->shape, s2, sizeof s2), GH, F);
    for (int r = GG_RNN_R_BIH; r <= GG_RNN_R_BHH; r++) {
        if (opt[r] < 0) continue;
        gg_tensor *b = gg_T(g, opt[r]);
        if (b->batched || b->shape.ndim != 1 || b->shape.d[0] != GH)
            return gg_build_fail(g, GG_E_SHAPE, "%s in '%s': %s '%s' %s does not fit weight_hh %s (want (%d))", opname,
                                 g->scope, what[r], b->name, gg_shape_str(b->shape, s1, sizeof s1),
                                 gg_shape_str(wh->shape, s2, sizeof s2), GH);
    }
    if (op != GG_OP_LSTM && opt[GG_RNN_R_C0] != -1)
        return gg_build_fail(g, GG_E_ARG, "%s in '%s': only an LSTM has a cell state c0", opname, g->scope);
    for (int r = GG_RNN_R_H0; r <= GG_RNN_R_C0; r++) {
        if (opt[r] < 0) continue;
        gg_tensor *s = gg_T(g, opt[r]);
        if (!state_ok(g, s, H))
            return gg_build_fail(g, GG_E_SHAPE,
                                 "%s in '%s': %s '%s' %s must be a buffer (%d, %d) or a batched node of sample "
                                 "shape (%d)",
                                 opname, g->scope, what[r], s->name, gg_shape_str(s->shape, s1, sizeof s1),
                                 g->max_batch, H, H);
    }
    if (flags & GG_RNN_CARRY) {
        int need_c = op == GG_OP_LSTM;
        if (opt[GG_RNN_R_H0] < 0 || gg_T(g, opt[GG_RNN_R_H0])->kind != GG_K_BUFFER ||
            (need_c && (opt[GG_RNN_R_C0] < 0 || gg_T(g, opt[GG_RNN_R_C0])->kind != GG_K_BUFFER)))
            return gg_build_fail(g, GG_E_ARG, "%s in '%s': GG_RNN_CARRY needs h0%s given as buffers (gg_buffer)",
                                 opname, g->scope, need_c ? " and c0" : "");
    }
    if (opt[GG_RNN_R_LEN] >= 0) {
        gg_tensor *l = gg_T(g, opt[GG_RNN_R_LEN]);
        if (!l->batched || l->per != 1)
            return gg_build_fail(g, GG_E_SHAPE, "%s in '%s': lengths '%s' %s must be batched with one value per sample",
                                 opname, g->scope, l->name, gg_shape_str(l->shape, s1, sizeof s1));
    }
    /* inputs: x, weights, then the optional ones while they fit */
    gg_node in[GG_MAX_IN] = {x, w_ih, w_hh};
    int nin = 3, extra_grad = 0;
    for (int r = 0; r < GG_RNN_R_COUNT; r++) {
        if (opt[r] < 0) continue;
        if (nin < GG_MAX_IN) {
            in[nin++] = opt[r];
            continue;
        }
        gg_tensor *o = gg_T(g, opt[r]);
        if (o->kind == GG_K_OP)
            return gg_build_fail(g, GG_E_ARG,
                                 "%s in '%s': %s '%s' is an op output but the op has no input slot left (%d in all); "
                                 "give it as a buffer or input",
                                 opname, g->scope, what[r], o->name, GG_MAX_IN);
        extra_grad |= o->needs_grad;
    }
    gg_shape s = flags & GG_RNN_LAST ? gg_shape2(g->max_batch, H) : gg_shape3(g->max_batch, T, H);
    gg_node n = gg_add_node(g, op, opname, in, nin, s, 1);
    if (n < 0) return n;
    gg_tensor *t = &g->t[n];
    gg_rnn_relu(t) = relu != 0;
    gg_rnn_flags(t) = flags;
    for (int r = 0; r < GG_RNN_R_COUNT; r++) gg_rnn_role(t, r) = opt[r];
    if (extra_grad) t->needs_grad = 1;
    return n;
}

gg_node gg_rnn(gg_graph *g, gg_node x, gg_node w_ih, gg_node w_hh, gg_node b_ih, gg_node b_hh, gg_node h0,
               gg_node lengths, int relu, int flags)
{
    gg_node opt[GG_RNN_R_COUNT] = {b_ih, b_hh, h0, -1, lengths};
    return seq_build(g, GG_OP_RNN, "rnn", 1, x, w_ih, w_hh, opt, relu, flags);
}

gg_node gg_lstm(gg_graph *g, gg_node x, gg_node w_ih, gg_node w_hh, gg_node b_ih, gg_node b_hh, gg_node h0, gg_node c0,
                gg_node lengths, int flags)
{
    gg_node opt[GG_RNN_R_COUNT] = {b_ih, b_hh, h0, c0, lengths};
    return seq_build(g, GG_OP_LSTM, "lstm", 4, x, w_ih, w_hh, opt, 0, flags);
}

gg_node gg_gru(gg_graph *g, gg_node x, gg_node w_ih, gg_node w_hh, gg_node b_ih, gg_node b_hh, gg_node h0,
               gg_node lengths, int flags)
{
    gg_node opt[GG_RNN_R_COUNT] = {b_ih, b_hh, h0, -1, lengths};
    return seq_build(g, GG_OP_GRU, "gru", 3, x, w_ih, w_hh, opt, 0, flags);
}
