/* file.h - opening input files safely (file.c). Not installed. */
#ifndef GG_FILE_H
#define GG_FILE_H

#include <stdio.h>

/* Opens path for reading ("rb") without blocking on a FIFO or a device:
 * NULL if it cannot be opened (errno says why) or is not a regular file
 * (*not_regular set to 1). */
FILE *gg_fopen_regular(const char *path, int *not_regular);
/* Whether path names something (stat succeeds), and a directory. */
int gg_path_exists(const char *path);
int gg_path_is_dir(const char *path);

#endif
