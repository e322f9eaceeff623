/*
 * nn.h - src/nn's own header: what the layer builders (layers.c, seq.c)
 * share (the checks of a layer's name and input, the names of its
 * parameters and parts), and the layer kinds a config's `model:` list
 * names (model.c: one row of a table per kind, with the keys it reads and
 * its build function), which the trainer's set-up calls. Not installed.
 */
#ifndef GG_NN_H
#define GG_NN_H

#include "core/node.h"

/* 1 if the graph has no error, name is not empty and x is a valid node;
 * otherwise fails the build ("<what> layer '<name>': ...") and returns 0
 * (layers.c). */
int gg_nn_layer_ok(gg_graph *g, gg_node x, const char *name, const char *what);
/* "name.suffix" into buf (GG_NAME_MAX); 1, or 0 after failing the build
 * with "layer '<name>': <word> '<name>.<suffix>' is too long" (layers.c). */
int gg_nn_name(gg_graph *g, char *buf, const char *name, const char *suffix, const char *word);

/* Where a config node is ("config.yaml:12:5"), for messages; four calls'
 * results stay valid at a time (per thread). */
const char *gg_setup_at(const gg_cfg_node *n);

/* What the data tells the layers: the defaults of the last dense layer's
 * units and of an embedding's vocabulary. */
typedef struct gg_model_data {
    int classes;  /* class ids of the labels (0 when they are not class ids) */
    int out_per;  /* target values per sample */
    int xent;     /* the loss is softmax cross-entropy: the last dense layer's units are the classes */
    /* called when the last dense layer has no units and the classes would
     * size it: a failure (with its message) says why the labels cannot */
    gg_status (*check_classes)(void *arg);
    void *arg;
} gg_model_data;

/* One layer of the model as built: its name, its kind's name (static) and
 * its output node. */
typedef struct gg_layer_rec {
    char name[GG_NAME_MAX];
    const char *type;
    gg_node out;
} gg_layer_rec;

/* A layer being built: the config entry and what the table's loop read of
 * it already. */
typedef struct gg_layer_ctx {
    gg_graph *g;
    gg_cfg_node *e;            /* the entry model[i] */
    int i, last;               /* its index; whether it is the last layer */
    const char *kind, *name;   /* its kind's name; its name (parameters "<name>.weight") */
    gg_act act;                /* `act` for the kinds that read it (else none) */
    gg_init init;              /* `init` for the kinds that read it (else the act's default) */
    const gg_model_data *data;
} gg_layer_ctx;

/* The keys every entry may have, whatever its kind. */
#define GG_LAYER_COMMON_KEYS "type", "name"
#define GG_LAYER_MAX_KEYS 12

enum {
    GG_LK_ACT = 1,  /* reads `act` */
    GG_LK_RELU = 2, /* `act` defaults to relu, none on the model's last layer */
    GG_LK_INIT = 4, /* reads `init` and its parameters (init_a, init_b, gain, std) */
};

/* A row of the layer-kind table. build gets the layer's input in *h and
 * leaves its output there; it reads the entry's own keys through the
 * config's typed getters (ranges there) and fails with the entry's place
 * for a missing or wrong one. A builder's error (h < 0) is reported by the
 * loop with the layer's kind and name. */
typedef struct gg_layer_kind {
    const char *name;                           /* its `type:` */
    const char *prefix;                         /* default names: prefix1, prefix2, ... per kind */
    unsigned flags;                             /* GG_LK_* */
    const char *keys[GG_LAYER_MAX_KEYS];        /* the keys build reads (besides those of flags) */
    gg_status (*build)(const gg_layer_ctx *c, gg_node *h);
} gg_layer_kind;

/* The table's rows (n of them), in the order of the docs. */
const gg_layer_kind *gg_layer_kinds(int *n);

/* The layers of the config's `model` list (a non-empty list of maps) on
 * input x of g, in order: recs[0..n) gets each layer (recs has room for
 * the list's length), *out the last one's output. Fails naming the
 * entry's place, index and kind: not a map, no or an unknown type, a bad
 * name, a key out of range or a required one missing, or the builder's
 * error (both shapes). */
gg_status gg_model_layers(gg_graph *g, gg_cfg_node *model, gg_node x, const gg_model_data *data, gg_layer_rec *recs,
                          gg_node *out);

#endif
