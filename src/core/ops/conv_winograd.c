/* conv_winograd.c - 2-D convolution by Winograd's minimal filtering
 * algorithm (Lavin & Gray 2015), for stride 1, dilation 1, square kernels.
 *
 * One output tile Y (m x m) of one (input channel, output channel) pair is
 *     Y = At [ (G g Gt) .* (Bt d Btt) ] Att
 * with g the r x r kernel, d the n x n input tile (n = m + r - 1), and the
 * sum over input channels taken in the n x n transformed space. So a layer
 * is: transform every kernel (U = G g Gt), transform every input tile
 * (V = Bt d Btt), n*n GEMMs M_p = V_p U_p (tiles x C) (C x O), one for each
 * position p of the n x n space, and transform every result tile back
 * (Y = At M Att). The GEMMs do n*n multiply-adds per tile where direct
 * convolution does m*m*r*r: 64 against 400 for F(4x4, 5x5), 36 against
 * 144 for F(4x4, 3x3).
 *
 * The matrices come from polynomial interpolation at the points 0, 1, -1, 2,
 * -2, 1/2, -1/2 and infinity (Toom-Cook): with E the n x n evaluation
 * matrix of a polynomial of degree n-1 at those points, A (n x m) and G
 * (n x r) the evaluation matrices of degrees m-1 and r-1, linear
 * convolution is c = E^-1 [(A a) .* (G g)], and correlation, its transpose,
 * is y = At [(G g) .* (E^-T d)]: Bt = E^-T. They are built here in double
 * for the (m, r) at hand. Larger tiles mean fewer multiplications but
 * larger transform entries and so more rounding: at n = 8 (F(4x4, 5x5))
 * the small CNN's conv2 stays within 7e-6 of im2col relative to each
 * tensor's largest value, at n = 6 (F(4x4, 3x3)) within 3e-4 on the
 * chunked test's sums of 15,000 terms (test_ops_conv.c).
 *
 * Backward is the exact adjoint of that forward (so the gradient checks
 * hold to rounding):
 *   dM = A dY At            per output tile (zero past the map's edge)
 *   dU_p += V_p^T dM_p      (C x T)(T x O);   dw += Gt dU G
 *   dV_p = dM_p U_p^T       (T x O)(O x C)
 *   dx += Btt dV Bt         per tile, added into its (overlapping) window
 *
 * Layouts (row-major, p = a*n + b the transformed position):
 *   U, dU: [p][C][O];  V, dV: [p][T][C];  M, dM: [p][T][O]
 * Tile t of a chunk is (sample s, tile row i, tile column j) in that order.
 * A tile transform works on VB channels at a time, the channel the vector
 * lane, so its loops vectorise whatever the tile size. For that the chunk's
 * input, output and their gradients pass through channel-last (NHWC)
 * copies: a tile reads or writes whole channel vectors, and the one
 * transposition per chunk is cheap next to n*n scattered accesses per tile.
 * Workspace: [U][dU][V][M][X: input NHWC][Y: output NHWC], sizes in
 * gg_wino_ws. */
#include "conv.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* Floats of V + M per chunk the chunk size aims at (8 MiB). */
#ifndef WINO_TARGET
#define WINO_TARGET ((size_t)1 << 21)
#endif
/* Output tile size m: 4 for 3x3 kernels (n = 6), 4 for larger ones where
 * n = m + r - 1 <= 8 allows (F(4x4, 5x5), n = 8: on the small CNN 1.3x
 * faster a step than F(2x2, 5x5), for 2x the rounding: gg_bench cnn at 1
 * thread, 33.7 against 44.7 CPU ms, this build against one configured with
 * -DCMAKE_C_FLAGS=-DWINO_M_LARGE=2, taking turns). */
#ifndef WINO_M_SMALL
#define WINO_M_SMALL 4
#endif
#ifndef WINO_M_LARGE
#define WINO_M_LARGE 4
#endif
#define NMAX 8  /* largest input tile side */
#define VB 16   /* channels per tile-transform block: one AVX-512 vector */

/* The distance between two positions' planes of U, V or M: the plane
 * rounded up to whole 4 KiB, plus one cache line. A tile transform touches
 * all n*n planes at once; at a distance of a multiple of 4 KiB they would
 * all fall into the same few L1 sets and evict each other. */
static size_t plane_stride(size_t floats) { return (floats + 1023) / 1024 * 1024 + 16; }

int gg_wino_plan_make(gg_wino_plan *p, int C, int H, int W, int O, int kh, int kw, int stride, int pad, int dil,
                      int Ho, int Wo, int max_batch)
{
    if (stride != 1 || dil != 1 || kh != kw || kh < 2 || kh > 7) return 0;
    int m = kh <= 3 ? WINO_M_SMALL : WINO_M_LARGE;
    if (m + kh - 1 > NMAX) m = NMAX - kh + 1;
    memset(p, 0, sizeof *p);
    p->C = C;
    p->H = H;
    p->W = W;
    p->O = O;
    p->r = kh;
    p->pad = pad;
    p->Ho = Ho;
    p->Wo = Wo;
    p->m = m;
    p->n = m + kh - 1;
    p->th = (Ho + m - 1) / m;
    p->tw = (Wo + m - 1) / m;
    size_t per = (size_t)p->n * p->n * p->th * p->tw * (size_t)(C + O);
    size_t nb = WINO_TARGET / (per ? per : 1);
    if (nb < 1) nb = 1;
    if (nb > (size_t)max_batch) nb = (size_t)max_batch;
    p->nb = (int)nb;
    p->T = nb * p->th * p->tw;
    p->sU = plane_stride((size_t)C * O);
    p->sV = plane_stride(p->T * C);
    p->sM = plane_stride(p->T * O);
    return 1;
}

size_t gg_wino_ws(const gg_wino_plan *p)
{
    size_t nn = (size_t)p->n * p->n;
    return nn * (2 * p->sU + p->sV + p->sM) +
           (size_t)p->nb * ((size_t)p->H * p->W * p->C + (size_t)p->Ho * p->Wo * p->O);
}

/* At (m x n), Bt (n x n), G (n x r) for F(m, r), as described at the top,
 * and the transposes A (n x m) and Btt (n x n) the backward pass applies. */
static void wino_mats(int m, int r, float *At, float *Bt, float *G, float *A, float *Btt)
{
    static const double pts[NMAX - 1] = {0, 1, -1, 2, -2, 0.5, -0.5};
    int n = m + r - 1;
    double E[NMAX][2 * NMAX];
    for (int j = 0; j < n; j++) {
        double v = 1;
        for (int k = 0; k < n; k++) {
            E[j][k] = j < n - 1 ? v : (k == n - 1);
            if (j < n - 1) v *= pts[j];
            E[j][n + k] = j == k; /* the identity, to become E^-1 */
        }
    }
    /* Gauss-Jordan with partial pivoting; E is a (confluent) Vandermonde
     * matrix at distinct points, so it is invertible */
    for (int c = 0; c < n; c++) {
        int piv = c;
        for (int i = c + 1; i < n; i++)
            if (fabs(E[i][c]) > fabs(E[piv][c])) piv = i;
        if (piv != c)
            for (int k = 0; k < 2 * n; k++) {
                double s = E[c][k];
                E[c][k] = E[piv][k];
                E[piv][k] = s;
            }
        double d = E[c][c];
        for (int k = 0; k < 2 * n; k++) E[c][k] /= d;
        for (int i = 0; i < n; i++) {
            if (i == c || E[i][c] == 0) continue;
            double f = E[i][c];
            for (int k = 0; k < 2 * n; k++) E[i][k] -= f * E[c][k];
        }
    }
    for (int a = 0; a < n; a++)
        for (int j = 0; j < n; j++) Bt[a * n + j] = (float)E[j][n + a]; /* (E^-1)^T */
    for (int j = 0; j < n; j++) {
        double v = 1;
        for (int k = 0; k < (m > r ? m : r); k++) {
            double e = j < n - 1 ? v : 0;
            if (k < m) At[k * n + j] = (float)(j < n - 1 ? e : (k == m - 1));
            if (k < r) G[j * r + k] = (float)(j < n - 1 ? e : (k == r - 1));
            if (j < n - 1) v *= pts[j];
        }
    }
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) A[j * m + i] = At[i * n + j];
    for (int a = 0; a < n; a++)
        for (int j = 0; j < n; j++) Btt[j * n + a] = Bt[a * n + j];
}

/* U[p][c][o] = (G w[o][c] Gt)[p] */
static void filter_tf(const gg_wino_plan *p, const float *G, const float *w, float *U)
{
    int n = p->n, r = p->r, C = p->C, O = p->O;
    size_t co = p->sU;
#pragma omp parallel for if ((size_t)C * O * n * n * r > GG_PAR_MIN)
    for (int o = 0; o < O; o++)
        for (int c = 0; c < C; c++) {
            const float *g = w + ((size_t)o * C + c) * r * r;
            float tmp[NMAX * NMAX];
            for (int a = 0; a < n; a++)
                for (int l = 0; l < r; l++) {
                    float s = 0;
                    for (int k = 0; k < r; k++) s += G[a * r + k] * g[k * r + l];
                    tmp[a * r + l] = s;
                }
            for (int a = 0; a < n; a++)
                for (int b = 0; b < n; b++) {
                    float s = 0;
                    for (int l = 0; l < r; l++) s += tmp[a * r + l] * G[b * r + l];
                    U[(size_t)(a * n + b) * co + (size_t)c * O + o] = s;
                }
        }
}

/* dw[o][c] += Gt dU[.][c][o] G, the adjoint of filter_tf */
static void filter_adj(const gg_wino_plan *p, const float *G, const float *dU, float *dw)
{
    int n = p->n, r = p->r, C = p->C, O = p->O;
    size_t co = p->sU;
#pragma omp parallel for if ((size_t)C * O * n * n * r > GG_PAR_MIN)
    for (int o = 0; o < O; o++)
        for (int c = 0; c < C; c++) {
            float *g = dw + ((size_t)o * C + c) * r * r;
            float tmp[NMAX * NMAX]; /* tmp[k][b] = sum_a G[a][k] dU[a][b] */
            for (int k = 0; k < r; k++)
                for (int b = 0; b < n; b++) {
                    float s = 0;
                    for (int a = 0; a < n; a++) s += G[a * r + k] * dU[(size_t)(a * n + b) * co + (size_t)c * O + o];
                    tmp[k * n + b] = s;
                }
            for (int k = 0; k < r; k++)
                for (int l = 0; l < r; l++) {
                    float s = 0;
                    for (int b = 0; b < n; b++) s += tmp[k * n + b] * G[b * r + l];
                    g[k * r + l] += s;
                }
        }
}

/* in (nb, C, HW) -> out (nb, HW, C) */
static void to_nhwc(const float *in, int nb, int C, int HW, float *out)
{
#pragma omp parallel for if ((size_t)nb * C * HW > GG_PAR_MIN)
    for (int s = 0; s < nb; s++) {
        const float *a = in + (size_t)s * C * HW;
        float *b = out + (size_t)s * C * HW;
        for (int c = 0; c < C; c++)
            for (int q = 0; q < HW; q++) b[(size_t)q * C + c] = a[(size_t)c * HW + q];
    }
}

/* out (nb, C, HW) = in (nb, HW, C) [+ bias[c], ReLU] (mode 0), or
 * out += in (mode 1) */
static void from_nhwc(const float *in, int nb, int C, int HW, const float *bias, int relu, int add, float *out)
{
#pragma omp parallel for if ((size_t)nb * C * HW > GG_PAR_MIN)
    for (int s = 0; s < nb; s++) {
        const float *a = in + (size_t)s * C * HW;
        float *b = out + (size_t)s * C * HW;
        for (int c = 0; c < C; c++) {
            float *o = b + (size_t)c * HW;
            const float *i = a + c;
            if (add) {
                for (int q = 0; q < HW; q++) o[q] += i[(size_t)q * C];
                continue;
            }
            float bv = bias ? bias[c] : 0.0f;
            for (int q = 0; q < HW; q++) {
                float v = i[(size_t)q * C] + bv;
                o[q] = relu && v < 0 ? 0 : v; /* NaN passes */
            }
        }
    }
}

/* The one tile transform all four passes use, on one block of VB channels
 * (the vector lanes):
 *     Z = L X Lt     X ni x ni, L no x ni, Z no x no
 * X[k][l] is the vector at in[k*ni + l]; Z[a][b] is stored to (or, with
 * add, added to) out[a*no + b]. Written on GCC/Clang vector types and
 * inlined with constant sizes, so that it compiles to independent vector
 * multiply-adds on registers (this file is built with -ffp-contract=fast:
 * fused where the CPU has FMA). */
typedef float vec __attribute__((vector_size(VB * sizeof(float))));

/* (a macro: a function returning a 64-byte vector has an ABI that
 * depends on -march) */
#define VLOAD(v, p) memcpy(&(v), (p), sizeof(v))

static inline __attribute__((always_inline)) void tile2d(int no, int ni, const float *L, const float *const *in,
                                                         float *const *out, int add)
{
    vec tmp[NMAX * NMAX]; /* tmp[a][l] = sum_k L[a][k] X[k][l] */
    for (int l = 0; l < ni; l++) {
        vec x[NMAX];
        for (int k = 0; k < ni; k++) VLOAD(x[k], in[k * ni + l]);
        for (int a = 0; a < no; a++) {
            vec acc = x[0] * L[a * ni];
            for (int k = 1; k < ni; k++) acc += x[k] * L[a * ni + k];
            tmp[a * ni + l] = acc;
        }
    }
    for (int a = 0; a < no; a++)
        for (int b = 0; b < no; b++) {
            vec acc = tmp[a * ni] * L[b * ni];
            for (int l = 1; l < ni; l++) acc += tmp[a * ni + l] * L[b * ni + l];
            if (add) {
                vec z;
                VLOAD(z, out[a * no + b]);
                acc += z;
            }
            memcpy(out[a * no + b], &acc, sizeof acc);
        }
}

/* The same for a last block of cb < VB channels: through zero-padded
 * copies, so that it runs as vectors too. */
static void tile2d_tail(int no, int ni, const float *L, const float *const *in, float *const *out, int cb, int add)
{
    float xb[NMAX * NMAX][VB], zb[NMAX * NMAX][VB];
    const float *ip[NMAX * NMAX];
    float *op[NMAX * NMAX];
    for (int q = 0; q < ni * ni; q++) {
        memset(xb[q], 0, sizeof xb[q]);
        memcpy(xb[q], in[q], (size_t)cb * sizeof(float));
        ip[q] = xb[q];
    }
    for (int q = 0; q < no * no; q++) {
        memset(zb[q], 0, sizeof zb[q]);
        if (add) memcpy(zb[q], out[q], (size_t)cb * sizeof(float));
        op[q] = zb[q];
    }
    if (add)
        tile2d(no, ni, L, ip, op, 1);
    else
        tile2d(no, ni, L, ip, op, 0);
    for (int q = 0; q < no * no; q++) memcpy(out[q], zb[q], (size_t)cb * sizeof(float));
}

static const float zeros[VB];

/* tile2d over channels 0..C in blocks of VB. A NULL in[] reads as zeros
 * (padding, past the map's edge), a NULL out[] is dropped. */
static inline __attribute__((always_inline)) void tile_blocks(int no, int ni, const float *L, const float *const *in,
                                                              float *const *out, int C, int add)
{
    const float *ib[NMAX * NMAX];
    float *ob[NMAX * NMAX], sink[VB];
    for (int c0 = 0; c0 < C; c0 += VB) {
        for (int q = 0; q < ni * ni; q++) ib[q] = in[q] ? in[q] + c0 : zeros;
        for (int q = 0; q < no * no; q++) ob[q] = out[q] ? out[q] + c0 : sink;
        if (c0 + VB > C)
            tile2d_tail(no, ni, L, ib, ob, C - c0, add);
        else if (add)
            tile2d(no, ni, L, ib, ob, 1);
        else
            tile2d(no, ni, L, ib, ob, 0);
    }
}

/* tile_blocks, compiled for the (no, ni) of F(4x4, 3x3), F(4x4, 5x5) and
 * F(2x2, 5..7) and generic otherwise. */
static void tile_all(int no, int ni, const float *L, const float *const *in, float *const *out, int C, int add)
{
#define TILE_CASE(NO, NI)                                                                                              \
    if (no == NO && ni == NI) {                                                                                        \
        tile_blocks(NO, NI, L, in, out, C, add);                                                                       \
        return;                                                                                                        \
    }
    TILE_CASE(6, 6) TILE_CASE(4, 6) TILE_CASE(6, 4) TILE_CASE(2, 6) TILE_CASE(6, 2)
    TILE_CASE(8, 8) TILE_CASE(4, 8) TILE_CASE(8, 4)
#undef TILE_CASE
    tile_blocks(no, ni, L, in, out, C, add);
}

/* Pointers to the channel vectors of a rows x cols window at (y0, x0) of
 * sample s of an NHWC map (H, W, C), NULL outside the map. */
static void window_ptrs(const float *map, int s, int H, int W, int C, int y0, int x0, int rows, int cols,
                        const float **ptr)
{
    for (int k = 0; k < rows; k++)
        for (int l = 0; l < cols; l++) {
            int yy = y0 + k, xx = x0 + l;
            ptr[k * cols + l] =
                yy >= 0 && yy < H && xx >= 0 && xx < W ? map + (((size_t)s * H + yy) * W + xx) * C : NULL;
        }
}

/* Pointers to tile t's n*n rows of a [p][T][C] array, planes sp apart. */
static void tf_ptrs(const float *a, size_t sp, int C, size_t t, int nn, const float **ptr)
{
    for (int q = 0; q < nn; q++) ptr[q] = a + (size_t)q * sp + t * C;
}

/* One transform pass over the tiles of a chunk of nb samples, between an
 * NHWC map (H, W, ch) and a transformed [p][T][ch] array (planes sp
 * apart). Each tile's window is win x win pixels at the tile's corner +
 * off; Z = L X Lt (L no x ni) runs either from the window to the n*n
 * planes (to_map 0), or from the planes into the window (to_map 1,
 * clipped at the map's edge, added if add). One task per sample walks its
 * tiles in order, so overlapping windows that are added into never race. */
typedef struct tf_pass {
    const float *L;
    int no, ni;
    float *map;
    int H, W, ch, off, win;
    float *tf;
    size_t sp;
    int to_map, add;
} tf_pass;

static void tile_pass(const gg_wino_plan *p, int nb, const tf_pass *q)
{
    int per = p->th * p->tw, nn = p->n * p->n;
#pragma omp parallel for if ((size_t)nb * per * nn * q->ch > GG_PAR_MIN)
    for (int s = 0; s < nb; s++)
        for (int u = 0; u < per; u++) {
            size_t t = (size_t)s * per + u; /* tile row u / tw, column u % tw */
            int y0 = u / p->tw * p->m - p->pad, x0 = u % p->tw * p->m - p->pad; /* its input window's corner */
            const float *win[NMAX * NMAX], *pl[NMAX * NMAX];
            window_ptrs(q->map, s, q->H, q->W, q->ch, y0 + q->off, x0 + q->off, q->win, q->win, win);
            tf_ptrs(q->tf, q->sp, q->ch, t, nn, pl);
            if (q->to_map)
                tile_all(q->no, q->ni, q->L, pl, (float *const *)win, q->ch, q->add);
            else
                tile_all(q->no, q->ni, q->L, win, (float *const *)pl, q->ch, 0);
        }
}

/* The four passes:
 *   input_tf    V = Bt d Btt        from the input (zero in the padding)
 *   input_adj   dx += Btt dV Bt     into the input gradient
 *   output_tf   y = At M Att        into the output, clipped at its edge
 *   output_adj  dM = A dY At        from the output gradient (zero past it) */
static void input_tf(const gg_wino_plan *p, const float *Bt, const float *xt, int nb, float *V)
{
    tf_pass q = {Bt, p->n, p->n, (float *)xt, p->H, p->W, p->C, 0, p->n, V, p->sV, 0, 0};
    tile_pass(p, nb, &q);
}

static void input_adj(const gg_wino_plan *p, const float *Btt, const float *dV, int nb, float *dxt)
{
    tf_pass q = {Btt, p->n, p->n, dxt, p->H, p->W, p->C, 0, p->n, (float *)dV, p->sV, 1, 1};
    tile_pass(p, nb, &q);
}

static void output_tf(const gg_wino_plan *p, const float *At, const float *M, int nb, float *yt)
{
    tf_pass q = {At, p->m, p->n, yt, p->Ho, p->Wo, p->O, p->pad, p->m, (float *)M, p->sM, 1, 0};
    tile_pass(p, nb, &q);
}

static void output_adj(const gg_wino_plan *p, const float *A, const float *dyt, int nb, float *dM)
{
    tf_pass q = {A, p->n, p->m, (float *)dyt, p->Ho, p->Wo, p->O, p->pad, p->m, dM, p->sM, 0, 0};
    tile_pass(p, nb, &q);
}

/* The n*n independent GEMMs of one pass, C_q = A_q B_q (+ beta C_q), planes
 * sA, sB, sC apart, shared among the OpenMP threads: each is too small for
 * OpenBLAS to split well, and OpenBLAS runs single-threaded inside a
 * parallel region. */
static void pos_gemms(int nn, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, const float *A, size_t sA,
                      int lda, const float *B, size_t sB, int ldb, float beta, float *C, size_t sC, int ldc)
{
#pragma omp parallel for schedule(static) if ((size_t)nn * M * N * K > GG_PAR_MIN)
    for (int q = 0; q < nn; q++)
        cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, 1.0f, A + q * sA, lda, B + q * sB, ldb, beta, C + q * sC, ldc);
}

typedef struct wino_ws {
    float *U, *dU, *V, *M, *X, *Y;
} wino_ws;

static wino_ws ws_split(const gg_wino_plan *p, float *ws)
{
    size_t nn = (size_t)p->n * p->n;
    wino_ws w;
    w.U = ws;
    w.dU = w.U + nn * p->sU;
    w.V = w.dU + nn * p->sU;
    w.M = w.V + nn * p->sV;
    w.X = w.M + nn * p->sM;
    w.Y = w.X + (size_t)p->nb * p->H * p->W * p->C;
    return w;
}

void gg_wino_fwd(const gg_wino_plan *p, int N, const float *x, const float *w, const float *b, int relu, float *y,
                 float *ws)
{
    float At[NMAX * NMAX], Bt[NMAX * NMAX], G[NMAX * NMAX], A[NMAX * NMAX], Btt[NMAX * NMAX];
    wino_mats(p->m, p->r, At, Bt, G, A, Btt);
    wino_ws s = ws_split(p, ws);
    int nn = p->n * p->n, C = p->C, O = p->O;
    size_t xs = (size_t)C * p->H * p->W, ys = (size_t)O * p->Ho * p->Wo;
    filter_tf(p, G, w, s.U);
    for (int n0 = 0; n0 < N; n0 += p->nb) {
        int nb = N - n0 < p->nb ? N - n0 : p->nb;
        int Tc = nb * p->th * p->tw;
        to_nhwc(x + (size_t)n0 * xs, nb, C, p->H * p->W, s.X);
        input_tf(p, Bt, s.X, nb, s.V);
        /* M_p (Tc x O) = V_p (Tc x C) U_p (C x O) */
        pos_gemms(nn, CblasNoTrans, CblasNoTrans, Tc, O, C, s.V, p->sV, C, s.U, p->sU, O, 0.0f, s.M, p->sM, O);
        output_tf(p, At, s.M, nb, s.Y);
        from_nhwc(s.Y, nb, O, p->Ho * p->Wo, b, relu, 0, y + (size_t)n0 * ys);
    }
}

void gg_wino_bwd(const gg_wino_plan *p, int N, const float *x, const float *dy, float *dw, float *dx,
                 float *ws)
{
    if (!dw && !dx) return;
    float At[NMAX * NMAX], Bt[NMAX * NMAX], G[NMAX * NMAX], A[NMAX * NMAX], Btt[NMAX * NMAX];
    wino_mats(p->m, p->r, At, Bt, G, A, Btt);
    wino_ws s = ws_split(p, ws);
    int nn = p->n * p->n, C = p->C, O = p->O;
    size_t xs = (size_t)C * p->H * p->W, ys = (size_t)O * p->Ho * p->Wo;
    /* U still holds the transformed weights of the forward pass */
    for (int n0 = 0; n0 < N; n0 += p->nb) {
        int nb = N - n0 < p->nb ? N - n0 : p->nb;
        int Tc = nb * p->th * p->tw;
        to_nhwc(dy + (size_t)n0 * ys, nb, O, p->Ho * p->Wo, s.Y);
        output_adj(p, A, s.Y, nb, s.M);
        if (dw) {
            to_nhwc(x + (size_t)n0 * xs, nb, C, p->H * p->W, s.X);
            input_tf(p, Bt, s.X, nb, s.V);
            /* dU_p (C x O) (+)= V_p^T (C x Tc) dM_p (Tc x O) */
            pos_gemms(nn, CblasTrans, CblasNoTrans, C, O, Tc, s.V, p->sV, C, s.M, p->sM, O, n0 ? 1.0f : 0.0f, s.dU,
                      p->sU, O);
        }
        if (dx) {
            /* dV_p (Tc x C) = dM_p (Tc x O) U_p^T (O x C), over V */
            pos_gemms(nn, CblasNoTrans, CblasTrans, Tc, C, O, s.M, p->sM, O, s.U, p->sU, O, 0.0f, s.V, p->sV, C);
            memset(s.X, 0, (size_t)nb * xs * sizeof *s.X);
            input_adj(p, Btt, s.V, nb, s.X);
            from_nhwc(s.X, nb, C, p->H * p->W, NULL, 0, 1, dx + (size_t)n0 * xs);
        }
    }
    if (dw) filter_adj(p, G, s.dU, dw);
}
