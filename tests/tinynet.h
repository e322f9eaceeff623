/* tinynet.h - the small classifier the guard tests train (test_guard.c,
 * test_quiet.c): x (in) -> dense layers -> softmax cross-entropy over the
 * last layer's classes, one fixed batch of inputs (labels i % classes), an
 * optimizer; and the count of a guard signal's events. */
#ifndef GG_TINYNET_H
#define GG_TINYNET_H

#include "gt.h"

#include "gradguard.h"

#include <string.h>

typedef struct net {
    gg_graph *g;
    gg_node x, y, loss;
    gg_optim *o;
} net;

typedef struct net_spec {
    int in, layers;
    int width[4];
    gg_act act[4];
    uint64_t init_seed, data_seed;
    int normal; /* inputs N(0, 1); else U(-1, 1) */
    gg_optim_kind opt;
    float lr; /* 0: the optimizer's default */
} net_spec;

static void net_make(net *n, int batch, const net_spec *s)
{
    n->g = gg_graph_new(batch);
    n->x = gg_input(n->g, "x", gg_shape1(s->in));
    n->y = gg_input(n->g, "y", gg_shape1(1));
    gg_node h = n->x;
    for (int l = 0; l < s->layers; l++) {
        char name[8];
        snprintf(name, sizeof name, "fc%d", l + 1);
        h = gg_dense(n->g, h, name, s->width[l], s->act[l], gg_init_default(s->act[l]), 1);
    }
    n->loss = gg_softmax_xent(n->g, h, n->y, 0);
    GT_OK(gg_graph_compile(n->g));
    GT_OK(gg_graph_init_params(n->g, s->init_seed));
    gg_rng r;
    gg_rng_seed(&r, s->data_seed);
    float *xv = gg_graph_data(n->g, n->x), *yv = gg_graph_data(n->g, n->y);
    for (int i = 0; i < batch * s->in; i++)
        xv[i] = (float)(s->normal ? gg_rng_normal(&r) : 2 * gg_rng_uniform(&r) - 1);
    for (int i = 0; i < batch; i++) yv[i] = (float)(i % s->width[s->layers - 1]);
    gg_optim_config oc = gg_optim_defaults(s->opt);
    if (s->lr > 0) oc.lr = s->lr;
    n->o = gg_optim_new(n->g, &oc);
    GT_CHECK(n->o != NULL, "optimizer: %s", gg_errmsg());
}

static void net_free(net *n)
{
    gg_optim_free(n->o);
    gg_graph_free(n->g);
}

/* Zeroed gradients, forward, backward; the first failing status. */
static gg_status net_pass(net *n)
{
    gg_graph_zero_grad(n->g);
    gg_status s = gg_graph_forward(n->g, GG_TRAIN, n->loss);
    return s ? s : gg_graph_backward(n->g, n->loss, 1);
}

/* Events of signal sig; *detail (if given) gets the last one's detail. */
static int count_signal(gg_guard *gd, const char *sig, const char **detail)
{
    int ne, k = 0;
    const gg_guard_event *ev = gg_guard_events(gd, &ne);
    for (int i = 0; i < ne; i++)
        if (strcmp(ev[i].signal, sig) == 0) {
            k++;
            if (detail) *detail = ev[i].detail;
        }
    return k;
}

#endif
