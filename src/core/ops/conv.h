/* conv.h - what conv.c (im2col + GEMM) shares with conv_winograd.c (the
 * Winograd algorithm for stride-1 square kernels). */
#ifndef GG_OPS_CONV_H
#define GG_OPS_CONV_H

#include "../core.h"

/* A Winograd F(m x m, r x r) plan for one conv2d node: every output map is
 * cut into m x m tiles, each computed from an n x n input tile (n = m + r - 1)
 * with n*n multiplications per (input, output) channel pair instead of
 * m*m*r*r. The batch is processed in chunks of nb samples (T tiles). */
typedef struct gg_wino_plan {
    int C, H, W, O, r, pad, Ho, Wo;
    int m, n;   /* output tile m x m, input tile n x n */
    int th, tw; /* tiles down and across one output map */
    int nb;     /* samples per chunk */
    size_t T;   /* tiles in a full chunk: nb * th * tw */
    size_t sU, sV, sM; /* floats between two positions' planes of U, V, M */
} gg_wino_plan;

/* Whether a conv with these dims can run as Winograd (stride 1, dilation 1,
 * a square kernel of 2..7); if so, fill p for a largest batch of max_batch. */
int gg_wino_plan_make(gg_wino_plan *p, int C, int H, int W, int O, int kh, int kw, int stride, int pad, int dil,
                      int Ho, int Wo, int max_batch);
/* Floats of workspace the plan needs. */
size_t gg_wino_ws(const gg_wino_plan *p);
/* y (N, O, Ho, Wo) = conv(x, w) + b (b may be NULL), ReLU applied if relu. */
void gg_wino_fwd(const gg_wino_plan *p, int N, const float *x, const float *w, const float *b, int relu, float *y,
                 float *ws);
/* Given dy (already through the activation's backward) and the workspace
 * of the forward pass just run (its transformed weights): dw += dL/dw and
 * dx += dL/dx, each skipped when NULL. */
void gg_wino_bwd(const gg_wino_plan *p, int N, const float *x, const float *dy, float *dw, float *dx,
                 float *ws);

#endif
