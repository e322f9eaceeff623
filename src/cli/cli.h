/*
 * cli.h - the gradguard command's files to each other: main.c parses the
 * command line and runs the commands it holds; the others live in their own
 * files and are declared here. The command uses the library through
 * gradguard.h alone. Not installed.
 */
#ifndef GG_CLI_H
#define GG_CLI_H

#include "gradguard.h"

#include <stdio.h>

/* `gradguard prune RUN_DIR ...` (prune_cmd.c): argv holds the arguments
 * after "prune"; returns the exit status. */
int gg_cli_prune(int argc, char **argv);
/* `gradguard predict RUN_DIR ...` (model_cmd.c); returns the exit status. */
int gg_cli_predict(int argc, char **argv);
/* The model's table (layer, type, output shape, parameters), printed to f
 * at the start of `train` (model_cmd.c). */
void gg_cli_summary(gg_trainer *t, FILE *f);
/* The test set's confusion matrix of a classifier, printed to f by `eval`
 * (model_cmd.c); returns 0, or 1 when it could not be made. */
int gg_cli_confusion(gg_trainer *t, FILE *f);

#endif
