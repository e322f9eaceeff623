/*
 * gradguard/data.h - data sets in memory (src/data): loaders (IDX, CSV,
 * .npy, text), synthetic tasks, splits, batches and augmentation.
 *
 * Part of the public API; include "gradguard.h" for all of it, or this file
 * alone (it includes gradguard/core.h).
 */
#ifndef GRADGUARD_DATA_H
#define GRADGUARD_DATA_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ==== data (src/data) ==================================================== */
/*
 * A data set in memory: n samples of `per` features, stored as uint8 (raw
 * image bytes, converted per batch) or float32, and one label row per
 * sample. Loaders check headers against the file's real size before
 * allocating, refuse NaN/Inf features, and name the file and the place
 * (byte offset, line and column) of anything wrong.
 */

typedef struct gg_dataset {
    size_t n;            /* samples */
    int ndim;            /* sample shape, e.g. (28, 28) for IDX images or (784) */
    int shape[3];
    size_t per;          /* features per sample */
    uint8_t *u8;         /* n * per, or NULL */
    float *f32;          /* n * per, or NULL */
    float scale;         /* feature = (raw * scale - mean) / std */
    float mean, std;
    float *labels;       /* n * label_per: class ids or regression targets */
    int label_per;       /* values per label row (1 for classes) */
    int num_classes;     /* 1 + the largest label if all are integers >= 0, else 0 (regression targets) */
    char source[256];    /* file name for messages */
    char label_source[256]; /* the file that holds the labels (the CSV file itself), "" if none */
    size_t *origin;      /* where sample i's label is in label_source: a 1-based line (CSV) or a 0-based index;
                            NULL: index i (a set as loaded from an IDX or npy file). Owned; split keeps it */
    int origin_is_line;  /* origin holds file lines */
} gg_dataset;

/* Every loader overwrites *ds (it need not be initialised), sets mean 0,
 * std 1, and num_classes as above; on failure *ds is left empty (zeroed,
 * nothing to free). Every file may be plain or gzip (told by its magic).
 * Bad data is GG_E_FORMAT (GG_E_NONFINITE for NaN/Inf, GG_E_IO when a file
 * cannot be read, GG_E_NOMEM over the 16 GiB per-array limit). */
/* IDX files (MNIST, Fashion-MNIST): images 0x00000803 (n, rows, cols) uint8
 * and labels 0x00000801 (n) uint8 (labels may be NULL). The sample shape is
 * (rows, cols), kept as uint8 with scale 1/255. Wrong magic, truncation,
 * trailing bytes and an image/label count mismatch are errors. */
GG_API gg_status gg_dataset_load_idx(gg_dataset *ds, const char *images, const char *labels);
/* CSV with optional header; label_col is a column name (needs a header) or
 * a 0-based index as text ("0", "-1" for the last); NULL for no labels.
 * Every other column is a float feature (sample shape (per)). Quoted fields
 * (one line each) and blank lines are accepted; an empty or non-numeric
 * cell, NaN/Inf, a value outside float32 and a row with another number of
 * fields are errors naming the line and 1-based column. */
GG_API gg_status gg_dataset_load_csv(gg_dataset *ds, const char *path, const char *label_col, int has_header);
/* NumPy .npy (format 1.0-3.0): features (n, ...) with 1 to 3 dims per
 * sample, descr <f4, <f8, |u1, <i8 or <i4, C order (fortran_order True is
 * refused); uint8 stays uint8 with scale 1/255, the rest become float32
 * (non-finite or out-of-range values are refused). labels (n) or (n, k) of
 * any of those types (label_per = k), or NULL for none. */
GG_API gg_status gg_dataset_load_npy(gg_dataset *ds, const char *features, const char *labels);
/* GG_OK if every label is an integer class id in [0, num_classes) (any id
 * >= 0 if num_classes <= 0), one per sample; otherwise GG_E_FORMAT naming
 * the file that holds the label and its place there (the label's index in
 * an IDX or npy labels file, its line in a CSV file; after a split the
 * place in the file, not in the part) and the value (negative,
 * non-integer, out of range). Call it before a classification loss: a
 * negative or fractional label only makes num_classes 0 at load time,
 * since it may be a target. */
GG_API gg_status gg_dataset_check_classes(const gg_dataset *ds, int num_classes);
/* Frees the arrays and zeroes *ds; NULL is a no-op. */
GG_API void gg_dataset_free(gg_dataset *ds);
/* Splits src into train and val (round(val_fraction * n) samples, chosen
 * by a shuffle seeded with seed); both are new copies keeping src's order,
 * normalisation and num_classes; src is left as it was. val_fraction must
 * be in [0, 1]. On failure neither output needs freeing. */
GG_API gg_status gg_dataset_split(const gg_dataset *src, double val_fraction, uint64_t seed, gg_dataset *train,
                                  gg_dataset *val);
/* Sets mean and std from the data (over all features, after scale;
 * population std, 1 if the data are constant). */
GG_API void gg_dataset_standardize(gg_dataset *ds);
/* Writes samples idx[0..n) (each < ds->n, unchecked) into x (n * per
 * floats, (raw * scale - mean) / std) and their labels into y (n *
 * label_per floats; y may be NULL). One pass, no allocation: it runs
 * inside the training step. */
GG_API void gg_dataset_batch(const gg_dataset *ds, const size_t *idx, int n, float *x, float *y);
/* Fisher-Yates shuffle of perm[0..n) (filled with 0..n-1 first if fill). */
GG_API void gg_shuffle(size_t *perm, size_t n, int fill, gg_rng *r);

/* -- augmentation (src/data/augment.c) --
 * Random transforms of a training batch, applied in place after it is
 * gathered (gg_dataset_batch) and before the forward; evaluation batches
 * are never augmented. Each batch's draws are a pure function of (seed,
 * key), the key being the trainer's micro-batch counter, so every epoch sees
 * new draws and a resumed or rolled-back run replays the same ones. Per
 * sample, in this order: a random shift of up to `shift` pixels in each
 * direction (a random crop of the image padded by `shift` pixels of
 * pad_value on every side), a left-right flip with probability 1/2, and
 * Gaussian noise of std `noise` on every feature. Then, over the batch,
 * mixup (Zhang et al. 2018): one lambda ~ Beta(mixup, mixup) per batch and a
 * random pairing perm of the batch, x_i <- lambda x_i + (1 - lambda)
 * x_perm(i), and the same mix of the targets: regression targets are mixed
 * in place; class ids become soft targets (the mixed one-hot rows, with
 * label smoothing) for gg_softmax_xent_soft. */
typedef struct gg_augment_config {
    int shift;       /* images: pixels, 0 off */
    int flip;        /* images: mirror left-right */
    float noise;     /* std of additive Gaussian noise, 0 off */
    float mixup;     /* Beta(alpha, alpha) alpha, 0 off */
    float pad_value; /* the value of padding pixels (a zero pixel after normalisation) */
    uint64_t seed;
} gg_augment_config;

typedef struct gg_augment gg_augment;
/* An augmenter for batches of up to max_batch samples of shape `sample`
 * (shift and flip need an image, (C, H, W)); label_per label values per
 * sample; classes > 0 when the labels are class ids (mixup then writes soft
 * targets of label_per x classes values per sample, smoothed by
 * `smoothing`), 0 for regression targets. Allocates its scratch here: the
 * batch step never allocates. NULL on failure (GG_E_ARG naming the field:
 * shift/flip on a sample that is not (C, H, W), shift >= H or W, a negative
 * or non-finite noise or mixup). */
GG_API gg_augment *gg_augment_new(const gg_augment_config *cfg, gg_shape sample, int max_batch, int label_per,
                                  int classes, float smoothing);
GG_API void gg_augment_free(gg_augment *a);
/* 1 if the config changes anything (all zero: a no-op). */
GG_API int gg_augment_active(const gg_augment_config *cfg);
/* Augments x (n samples) and, with mixup, the targets y (n * label_per)
 * in place or into soft (n * label_per * classes; may be NULL without
 * mixup or for regression). n <= max_batch. No allocation. */
GG_API void gg_augment_batch(gg_augment *a, uint64_t key, float *x, float *y, float *soft, int n);
/* A Beta(alpha, alpha) draw (Marsaglia & Tsang gamma draws), for tests. */
GG_API double gg_rng_beta(gg_rng *r, double alpha);

/* -- sequence data (src/data/synthetic.c, src/data/text.c) --
 * Samples for sequence models have the sample shape (T, F): the graph sees
 * (N, T, F). Synthetic sets are deterministic by seed (sample i depends only
 * on the seed and i, not on n or the thread count); like the loaders they
 * overwrite *ds and leave it empty on failure, and fail with GG_E_ARG for a
 * bad argument (naming it and the allowed range), GG_E_NOMEM over the 16 GiB
 * per-array limit. */

/* Variants of the adding problem. */
#define GG_ADDING_UNIFORM 0  /* A: Le, Jaitly & Hinton 2015; Arjovsky et al. 2016 */
#define GG_ADDING_ORIGINAL 1 /* B: Hochreiter & Schmidhuber 1997, experiment 4 */
/* The adding problem: n samples of (T, 2) float features, column 0 a value
 * and column 1 a marker; one label, a regression target (num_classes 0).
 * A (GG_ADDING_UNIFORM, T >= 2): values U(0, 1); markers 1 at one step
 * uniform in [0, T/2) and one uniform in [T/2, T), 0 elsewhere; target the
 * sum of the two marked values (mean 1, variance 1/6: predicting 1 scores
 * MSE 0.167). B (GG_ADDING_ORIGINAL, T >= 20): values U(-1, 1); the first
 * marker on one of steps 0..9, the second on one of the other steps in
 * [0, T/2); the markers of steps 0 and T-1 are -1 unless marked; a marked
 * step 0 has its value set to 0; target 0.5 + (x1 + x2) / 4, in [0, 1].
 * The paper draws lengths in [T, T + T/10]; here every sequence has length T. */
GG_API gg_status gg_dataset_adding(gg_dataset *ds, size_t n, int T, int variant, uint64_t seed);

/* Symbol ids (one-hot columns) of the temporal order problem. */
#define GG_TEMPORAL_VOCAB 8 /* a, b, c, d (distractors 0..3), X 4, Y 5, E 6 (start), B 7 (end, the trigger) */
#define GG_TEMPORAL_X 4
#define GG_TEMPORAL_Y 5
#define GG_TEMPORAL_E 6
#define GG_TEMPORAL_B 7
#define GG_TEMPORAL_MIN_T 10
/* The temporal order problem (Hochreiter & Schmidhuber 1997, experiment 6a;
 * used by Pascanu, Mikolov & Bengio 2013): n samples of (T, 8) one-hot
 * rows, T >= GG_TEMPORAL_MIN_T. Step 0 is E, step T-1 is B, one step
 * uniform in [T/10, 2T/10] and one uniform in [T/2, 6T/10] (integer
 * division, inclusive: the paper's 10..20 and 50..60 at T = 100) each hold
 * X or Y (equally likely), every other step a uniform distractor a..d. One
 * label, the class of the order: XX 0, XY 1, YX 2, YY 3 (num_classes 4).
 * As for the adding problem, the length is T rather than drawn from
 * [100, 110]. */
GG_API gg_status gg_dataset_temporal_order(gg_dataset *ds, size_t n, int T, uint64_t seed);

/* A text for byte-level language models: the bytes of a file and its
 * vocabulary, the distinct bytes that occur in increasing order (id =
 * index in that order, so ids are stable for a given set of bytes). */
typedef struct gg_text gg_text;
#define GG_TEXT_MAX_BYTES ((uint64_t)1 << 30)
/* Reads a whole text file (plain, or gzip told by its magic) into a new
 * gg_text (*out; free with gg_text_free). Any bytes are accepted, valid
 * UTF-8 or not (gg_text_utf8_error tells), except that GG_E_FORMAT refuses
 * an empty file and a file holding a NUL byte (binary or UTF-16; the
 * message gives the offset of the first). GG_E_IO if it cannot be read,
 * GG_E_NOMEM over GG_TEXT_MAX_BYTES (checked before allocating) or out of
 * memory. Messages name the file. *out is NULL on failure.
 * A directory is read as one text: the concatenation of its regular files
 * (plain or gzip) in byte order of their names, leaving out symbolic links,
 * subdirectories, names starting with '.' and names ending in ".dat" (so
 * Debian's /usr/share/games/fortunes reads as its fortune files once each:
 * NAME.u8 links to NAME, NAME.dat is a binary index); each file is checked
 * as above, the 1 GiB limit applies to the sum, and a directory with no such
 * file is GG_E_FORMAT. */
GG_API gg_status gg_text_load(const char *path, gg_text **out);
/* NULL is a no-op. */
GG_API void gg_text_free(gg_text *tx);
/* Bytes of text held (0 for a vocabulary read by gg_text_load_vocab or NULL). */
GG_API size_t gg_text_size(const gg_text *tx);
/* Byte offset of the first byte that does not begin or continue a valid
 * UTF-8 sequence (RFC 3629: no overlong forms, surrogates or code points
 * over U+10FFFF; a sequence cut off by the end counts), or -1 if the whole
 * text is valid UTF-8 (or tx holds no text). */
GG_API long long gg_text_utf8_error(const gg_text *tx);
/* The vocabulary size, 1 to 256 (0 for NULL). */
GG_API int gg_text_vocab_size(const gg_text *tx);
/* The id of a byte, or -1 if it is not in the vocabulary. */
GG_API int gg_text_id(const gg_text *tx, unsigned char byte);
/* The byte of an id; 0 (a byte no vocabulary holds) if id is out of range. */
GG_API unsigned char gg_text_byte(const gg_text *tx, int id);
/* Windows of the text as a data set for next-byte prediction: features T
 * ids (sample shape (T), float32; feed them to gg_embedding), labels the T
 * ids that follow each (label_per T, class ids, num_classes the vocabulary
 * size, so that every part of one text agrees). Only the bytes [floor(
 * start_frac size), floor(end_frac size)) are used, and a window starts
 * every `stride` bytes from the first of them for as long as its T + 1
 * bytes fit inside: parts [0, 0.9) and [0.9, 1) of a text are contiguous,
 * disjoint training and validation sets that share no byte. Needs
 * 0 <= start_frac < end_frac <= 1, T >= 1, stride >= 1 (GG_E_ARG), a text
 * with bytes (GG_E_STATE for a vocabulary-only one), a part long enough for
 * one window (GG_E_ARG giving its length) and both arrays under the limit
 * (GG_E_NOMEM; a larger stride makes fewer windows). Overwrites *ds, empty
 * on failure. */
GG_API gg_status gg_text_dataset(const gg_text *tx, int T, size_t stride, double start_frac, double end_frac,
                                 gg_dataset *ds);
/* Writes the vocabulary to path atomically (gg_write_atomic): 8 bytes
 * "GGVOCAB" and version 1, the count (u16 little-endian, 1..256), the bytes
 * in increasing order, and the zlib CRC-32 of everything before it (u32
 * little-endian). GG_E_IO naming path if it cannot be written. */
GG_API gg_status gg_text_save_vocab(const gg_text *tx, const char *path);
/* Reads a vocabulary written by gg_text_save_vocab into a new gg_text with
 * no text (gg_text_size 0; ids and bytes as when it was saved). GG_E_IO if
 * it cannot be read; GG_E_FORMAT naming the file and byte offset for a bad
 * magic, version, count, size, order (bytes must strictly increase and not
 * be 0) or checksum. *out is NULL on failure. */
GG_API gg_status gg_text_load_vocab(const char *path, gg_text **out);

#ifdef __cplusplus
}
#endif
#endif /* GRADGUARD_DATA_H */
