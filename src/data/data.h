/*
 * data.h - internals of src/data shared by the loaders: a reader that takes
 * plain and gzip files alike, the limits every header is checked against,
 * and the steps every loader ends with. Not installed.
 */
#ifndef GG_DATA_H
#define GG_DATA_H

#include "gradguard.h"

#include <stdio.h>
#include <zlib.h>

/* Sanity limits, checked before any allocation: no array of a data set may
 * exceed GG_DATA_MAX_BYTES, and every dim must fit the graph's int shapes. */
#define GG_DATA_MAX_BYTES ((uint64_t)16 << 30)
#define GG_DATA_MAX_DIM 0x7fffffffull
/* Labels that are integers >= 0 below this count as class ids. */
#define GG_DATA_MAX_CLASSES (1 << 24)

/* A file open for reading, plain or gzip (told by the magic 1f 8b). For a
 * gzip file `pos` counts decompressed bytes. */
typedef struct gg_reader {
    const char *path;
    FILE *f;
    gzFile gz;
    uint64_t disk_size; /* bytes on disk (compressed size for gzip) */
    uint64_t pos;       /* bytes delivered so far */
} gg_reader;

gg_status gg_reader_open(gg_reader *r, const char *path);
void gg_reader_close(gg_reader *r);
/* Reads up to n bytes; *got gets how many (fewer only at the end of the
 * data). A read error or corrupt gzip data fails naming the file and offset
 * (for a damaged CRC-32 or length in the trailer, which no offset locates,
 * naming the check). */
gg_status gg_reader_read(gg_reader *r, void *buf, size_t n, size_t *got);
/* Checks that `bytes` more bytes can be in the file (plain: exactly what
 * is left; gzip: no more than deflate's best ratio allows) and under the
 * limit, before anything is allocated. `what` describes the claim for the
 * message ("the header's 60000 x 28 x 28 images"); `at` is the byte offset
 * of the field that claims it. exact = 0 allows more data after it. */
gg_status gg_reader_check_claim(gg_reader *r, uint64_t bytes, const char *what, uint64_t at, int exact);
/* Reads exactly `bytes` more bytes into a new buffer (*out, owned by the
 * caller). For gzip the buffer grows with the data that really arrives, so
 * a false claim cannot make it allocate much more than the file holds. With
 * exact, any data after them is an error too. */
gg_status gg_reader_read_alloc(gg_reader *r, uint64_t bytes, const char *what, int exact, void **out);
/* The whole file (after what was read so far) into a NUL-terminated buffer
 * of *len bytes (+1), at most `limit` bytes. */
gg_status gg_reader_slurp(gg_reader *r, uint64_t limit, char **out, size_t *len);

/* a * b with overflow detection: returns 0 and leaves *out alone on
 * overflow of uint64_t. */
int gg_mul_ok(uint64_t a, uint64_t b, uint64_t *out);

/* The end of every loader: checks labels[0..n*label_per) are finite (the
 * message names the file, sample and value), sets num_classes (1 + the
 * largest label if all are integers in [0, GG_DATA_MAX_CLASSES), else 0),
 * and the default normalisation (mean 0, std 1). */
gg_status gg_dataset_finish(gg_dataset *ds, const char *label_source);
/* "labels.idx: label 99", "data.csv: line 18", "labels.npy: label 3,
 * value 1": where label value j of sample i is, in the file that holds it. */
const char *gg_label_where(const gg_dataset *ds, size_t i, int j, char *buf, size_t cap);
/* The first non-finite value of x[0..n), or -1. */
long gg_first_nonfinite(const float *x, size_t n);

/* ---- a run's data sets (load.c) ------------------------------------------ */

typedef enum gg_norm_mode { GG_NORMALIZE_NONE, GG_NORMALIZE_SCALE, GG_NORMALIZE_STANDARDIZE } gg_norm_mode;

/* What a run's `data:` section asks for (the trainer's settings; the
 * strings are borrowed). */
typedef struct gg_data_spec {
    const char *format;                     /* idx, csv, npy, text, adding, temporal_order */
    const char *train_path, *train_labels;  /* labels: "" for none */
    const char *test_path, *test_labels;    /* test_path "" for no test set */
    const char *label_col;                  /* csv: "" for the last column */
    int csv_header;
    double val_fraction;                    /* the share of the training data that validates */
    gg_norm_mode normalize;
    long limit_train, limit_test;           /* use only the first N samples (0: all) */
    int length;                             /* synthetic tasks and text: sequence length T */
    long train_size, test_size;             /* synthetic samples */
    int variant;                            /* adding problem variant */
    long stride;                            /* text: bytes between window starts (0: length) */
    uint64_t seed;
} gg_data_spec;

/* Where the sets go; have_val, have_test are set to 1 for a set loaded,
 * text to the text of a text run. */
typedef struct gg_data_sets {
    gg_dataset *train, *val, *test;
    gg_text **text;
    int *have_val, *have_test;
} gg_data_sets;

/* Loads the data sets `s` asks for into `o` (zeroed sets; on failure what
 * was loaded stays there for the caller to free). Fails with the file and
 * what is wrong: a missing file or directory, an unreadable set, a test set
 * whose sample size differs from the training set's, an empty training set. */
gg_status gg_data_load_for(const gg_data_spec *s, gg_data_sets *o);

#endif
