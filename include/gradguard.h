/*
 * gradguard.h - the public API of libgradguard.
 *
 * gradguard trains neural networks whose training does not blow up. These
 * headers are the library's documentation: every function says what it
 * does, who owns what it returns and how it fails.
 *
 * Conventions
 *  - Functions that can fail return gg_status; GG_OK (0) is success. On
 *    failure gg_errmsg() returns a message for the calling thread that names
 *    what was wrong and where (file, line, key, tensor, both shapes).
 *  - Objects come in gg_X_new / gg_X_free pairs; gg_X_free(NULL) is a no-op.
 *  - The library never prints, aborts or exits on bad input.
 *  - Tensors are float32, row-major, at most 4-D. Activations carry a batch
 *    dimension first: (N, features), (N, time, features) or (N, C, H, W).
 *
 * The API is in include/gradguard/, one header per part, included here in
 * the order a user meets them; each section names the source folder that
 * implements it:
 *   core.h   version, GG_API, errors, shapes, random numbers
 *   graph.h  graph (build), ops, graph (run), parameters, initialisers
 *   nn.h     layers
 *   optim.h  optimizers, schedules, regularisation, pruning
 *   data.h   data sets, batches, augmentation
 *   io.h     checkpoints (safetensors), atomic writes, configuration
 *   guard.h  the guard, the initialisation check, the decision core
 *   train.h  the trainer, the report, data parallel
 * A new public declaration goes in the header of its part, with GG_API and
 * a comment (tests/public_symbols.sh reads all of them).
 */
#ifndef GRADGUARD_H
#define GRADGUARD_H

#include "gradguard/core.h"
#include "gradguard/graph.h"
#include "gradguard/nn.h"
#include "gradguard/optim.h"
#include "gradguard/data.h"
#include "gradguard/io.h"
#include "gradguard/guard.h"
#include "gradguard/train.h"

#endif /* GRADGUARD_H */
