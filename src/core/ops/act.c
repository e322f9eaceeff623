/* act.c - element-wise activations (forward and backward side by side),
 * shared by the ACT op and the fused bias+activation of linear and conv. */
#include "../core.h"
#include "attr.h"

#include <math.h>
#include <string.h>

/* SIMD erff and expf from glibc's libmvec (see rnn.c): GELU's loops run
 * vectorised. With scalar erff, GELU forward and backward were over a fifth
 * of a small transformer's training step. */
#if defined(__GLIBC__) && defined(__x86_64__) && defined(_OPENMP) && \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
#pragma omp declare simd notinbranch
extern float erff(float);
#pragma omp declare simd notinbranch
extern float expf(float);
#endif

static const char *act_names[GG_ACT_COUNT] = {"none", "relu", "leaky_relu", "elu", "gelu", "tanh", "sigmoid"};

const char *gg_act_name(gg_act a) { return a >= 0 && a < GG_ACT_COUNT ? act_names[a] : NULL; }

gg_act gg_act_parse(const char *name)
{
    for (int i = 0; i < GG_ACT_COUNT; i++)
        if (name && strcmp(name, act_names[i]) == 0) return (gg_act)i;
    return GG_ACT_COUNT;
}

int gg_act_needs_input(gg_act a) { return a == GG_ACT_GELU; }

/* y = act(x), n elements; y may alias x. */
void gg_act_forward(gg_act a, float p, const float *x, float *y, size_t n)
{
    long ln = (long)n;
    switch (a) {
    case GG_ACT_NONE:
        if (y != x) memcpy(y, x, n * sizeof *y);
        break;
    case GG_ACT_RELU:
#pragma omp parallel for simd if (parallel: n > GG_PAR_MIN)
        for (long i = 0; i < ln; i++) y[i] = x[i] < 0 ? 0 : x[i]; /* NaN passes, as in PyTorch */
        break;
    case GG_ACT_LEAKY_RELU: {
        float s = p != 0 ? p : 0.01f;
#pragma omp parallel for simd if (parallel: n > GG_PAR_MIN)
        for (long i = 0; i < ln; i++) y[i] = x[i] > 0 ? x[i] : s * x[i];
        break;
    }
    case GG_ACT_ELU: {
        float al = p != 0 ? p : 1.0f;
#pragma omp parallel for if (n > GG_PAR_MIN)
        for (long i = 0; i < ln; i++) y[i] = x[i] > 0 ? x[i] : al * expm1f(x[i]);
        break;
    }
    case GG_ACT_GELU:
#pragma omp parallel for simd if (parallel: n > GG_PAR_MIN)
        for (long i = 0; i < ln; i++) y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678f));
        break;
    case GG_ACT_TANH:
#pragma omp parallel for if (n > GG_PAR_MIN)
        for (long i = 0; i < ln; i++) y[i] = tanhf(x[i]);
        break;
    case GG_ACT_SIGMOID:
#pragma omp parallel for if (n > GG_PAR_MIN)
        for (long i = 0; i < ln; i++) y[i] = 1.0f / (1.0f + expf(-x[i]));
        break;
    case GG_ACT_COUNT:
        break;
    }
}

/* d <- d * act'(x), using the output y where it suffices. */
void gg_act_backward_inplace(gg_act a, float p, const float *x, const float *y, float *d, size_t n)
{
    long ln = (long)n;
    switch (a) {
    case GG_ACT_NONE:
        break;
    case GG_ACT_RELU:
#pragma omp parallel for simd if (parallel: n > GG_PAR_MIN)
        for (long i = 0; i < ln; i++) d[i] = y[i] > 0 ? d[i] : 0;
        break;
    case GG_ACT_LEAKY_RELU: {
        float s = p != 0 ? p : 0.01f;
        /* sign of y is sign of x for a positive slope */
#pragma omp parallel for simd if (parallel: n > GG_PAR_MIN)
        for (long i = 0; i < ln; i++) d[i] = y[i] > 0 ? d[i] : s * d[i];
        break;
    }
    case GG_ACT_ELU: {
        float al = p != 0 ? p : 1.0f;
        /* for x <= 0: y = al (e^x - 1), so dy/dx = y + al */
#pragma omp parallel for simd if (parallel: n > GG_PAR_MIN)
        for (long i = 0; i < ln; i++) d[i] = y[i] > 0 ? d[i] : d[i] * (y[i] + al);
        break;
    }
    case GG_ACT_GELU:
        /* y = x Phi(x): Phi(x) = y / x, without a second erff (a third of
         * GELU's cost); near 0, where the quotient loses its digits,
         * Phi's first-order series */
#pragma omp parallel for simd if (parallel: n > GG_PAR_MIN)
        for (long i = 0; i < ln; i++) {
            float v = x[i];
            float cdf = fabsf(v) > 1e-3f ? y[i] / v : 0.5f + 0.39894228f * v;
            float pdf = 0.39894228f * expf(-0.5f * v * v);
            d[i] *= cdf + v * pdf;
        }
        break;
    case GG_ACT_TANH:
#pragma omp parallel for simd if (parallel: n > GG_PAR_MIN)
        for (long i = 0; i < ln; i++) d[i] *= 1.0f - y[i] * y[i];
        break;
    case GG_ACT_SIGMOID:
#pragma omp parallel for simd if (parallel: n > GG_PAR_MIN)
        for (long i = 0; i < ln; i++) d[i] *= y[i] * (1.0f - y[i]);
        break;
    case GG_ACT_COUNT:
        break;
    }
}

/* ---- the ACT op: y = act(x), gg_attr_act and gg_attr_act_param ---- */

void gg_act_op_fwd(gg_graph *g, gg_tensor *t)
{
    gg_tensor *x = gg_IN(g, t, 0);
    gg_act_forward(gg_act_of(t), gg_attr_act_param(t), x->val, t->val, gg_numel(g, t));
}

void gg_act_op_bwd(gg_graph *g, gg_tensor *t)
{
    gg_tensor *x = gg_IN(g, t, 0);
    if (!x->needs_grad) return;
    size_t n = gg_numel(g, t);
    /* our own gradient buffer is ours to overwrite: no consumer reads it
     * after this op's backward */
    gg_act_backward_inplace(gg_act_of(t), gg_attr_act_param(t), x->val, t->val, t->grad, n);
    float *dx = x->grad;
    const float *d = t->grad;
    long ln = (long)n;
#pragma omp parallel for simd if (parallel: n > GG_PAR_MIN)
    for (long i = 0; i < ln; i++) dx[i] += d[i];
}

static gg_node act_node(gg_graph *g, gg_node x, gg_act a, float p)
{
    if (!g || g->err) return -1;
    if (!gg_node_ok(g, x)) return gg_build_fail(g, GG_E_ARG, "%s: bad input node %d", gg_act_name(a) ? gg_act_name(a) : "act", x);
    if (a < 0 || a >= GG_ACT_COUNT) return gg_build_fail(g, GG_E_ARG, "activation: unknown kind %d", (int)a);
    gg_tensor *xt = gg_T(g, x);
    gg_node n = gg_add_node(g, GG_OP_ACT, gg_act_name(a), &x, 1, xt->shape, xt->batched);
    if (n >= 0) {
        gg_attr_act(&g->t[n]) = a;
        gg_attr_act_param(&g->t[n]) = p;
    }
    return n;
}

gg_node gg_activation(gg_graph *g, gg_node x, gg_act a) { return act_node(g, x, a, 0); }
gg_node gg_relu(gg_graph *g, gg_node x) { return act_node(g, x, GG_ACT_RELU, 0); }
gg_node gg_leaky_relu(gg_graph *g, gg_node x, float slope) { return act_node(g, x, GG_ACT_LEAKY_RELU, slope); }
gg_node gg_elu(gg_graph *g, gg_node x, float alpha) { return act_node(g, x, GG_ACT_ELU, alpha); }
gg_node gg_gelu(gg_graph *g, gg_node x) { return act_node(g, x, GG_ACT_GELU, 0); }
gg_node gg_tanh(gg_graph *g, gg_node x) { return act_node(g, x, GG_ACT_TANH, 0); }
gg_node gg_sigmoid(gg_graph *g, gg_node x) { return act_node(g, x, GG_ACT_SIGMOID, 0); }
