/*
 * monitor.h - per-layer statistics measured on gradguard's own graph, for
 * the guard's quiet-failure detectors (quiet.h): each layer's gradient
 * norm, share of dead ReLU units, share of saturated tanh/sigmoid units,
 * update/weight ratio. Statistics in; the decisions are quiet.c's.
 */
#ifndef GG_MONITOR_H
#define GG_MONITOR_H

#include "gradguard.h"

typedef struct gg_monitor gg_monitor;

/* A monitor over g's layers (pi[0..np) are its parameter tensors, and must
 * outlive it). NULL on failure (out of memory; the message is set). */
gg_monitor *gg_monitor_new(gg_graph *g, const gg_guard_config *c, const gg_param_info *pi, int np);
void gg_monitor_free(gg_monitor *m);

/* Measures every layer: sq[i] the squared gradient norm of tensor i
 * (before clipping), un[i] the update norm of its last step (NULL if none
 * yet). The activations are the graph's, as the last forward left them. */
void gg_monitor_measure(gg_monitor *m, const double *sq, const double *un);

/* Adds the last forward's activations to the dead and saturated tallies
 * when the batch is smaller than GG_GUARD_ACT_SAMPLES rows (a no-op
 * otherwise): call it after every forward, before gg_monitor_measure, so
 * that a small batch's shares are measured over enough samples. */
void gg_monitor_observe(gg_monitor *m);

/* The layers in depth order, as last measured (NaN where not measured). */
const gg_guard_layer *gg_monitor_layers(const gg_monitor *m, int *n);
/* The layer index of parameter tensor i (-1 if none). */
int gg_monitor_layer_of(const gg_monitor *m, int i);
/* The number of watched activations (ReLU, tanh, sigmoid outputs). */
int gg_monitor_activations(const gg_monitor *m);

#endif
