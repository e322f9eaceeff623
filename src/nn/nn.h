/* nn.h - what the layer builders (layers.c, seq.c) share: the checks of a
 * layer's name and input, and the names of its parameters and parts. Not
 * installed; only src/nn includes it (others build layers through the
 * public API). */
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

#endif
