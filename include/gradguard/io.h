/*
 * gradguard/io.h - files (src/io): tensors and checkpoints in safetensors
 * files, atomic writes, and the YAML configuration tree with its strict
 * getters and --set overrides.
 *
 * Part of the public API; include "gradguard.h" for all of it, or this file
 * alone (it includes gradguard/graph.h).
 */
#ifndef GRADGUARD_IO_H
#define GRADGUARD_IO_H

#include "graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ==== checkpoints (src/io) =============================================== */
/*
 * Tensors on disk in the safetensors format (an 8-byte little-endian header
 * length, a JSON header of names, dtypes, shapes and offsets, padded with
 * spaces to a multiple of 8, then the raw data), readable by other tools.
 * gradguard adds to the header's __metadata__: gg_format ("gradguard-1"),
 * gg_crc32 (zlib CRC-32 of the data buffer, 8 lowercase hex digits) and
 * gg_header_crc32 (CRC-32 of the names, dtypes, shapes and metadata), and
 * checks them on load, so a flipped bit anywhere in a gradguard file is
 * refused. Files are written to a temporary name (.NAME.tmp.PID.N in the
 * same directory), fsynced, renamed, and the directory fsynced.
 */

typedef struct gg_st_entry {
    const char *name;
    gg_shape shape;
    const float *data;   /* float32, numel(shape) values */
} gg_st_entry;

/* Writes entries[0..n) (F32, in this order) and metadata pairs
 * meta[0..2*nmeta) (key, value UTF-8 strings) to path atomically. Names
 * must be unique, non-empty and not "__metadata__"; 0 to 4 dims (0: a
 * scalar); data may be NULL only for empty tensors. Keys gg_crc32,
 * gg_format and gg_header_crc32 in meta are replaced by fresh values.
 * GG_E_ARG for bad entries, GG_E_IO (naming the path and the system's
 * reason) if the file cannot be written; either way the old file, if any,
 * is untouched and no temporary is left. Streams the data: no copy of the
 * tensors is made. */
GG_API gg_status gg_safetensors_write(const char *path, const gg_st_entry *entries, int n, const char *const *meta,
                                      int nmeta);

typedef struct gg_safetensors gg_safetensors;
/* Reads and validates a whole file: the header length against the file size
 * (before allocating), strict JSON, no duplicate names, at most 4 dims,
 * dtype sizes, offsets that tile the data buffer exactly (no overlap, gap or
 * trailing bytes), and the checksums when present. F32, F64, F16, BF16, I64,
 * I32, U8 tensors load as float32. GG_E_IO if the file cannot be read,
 * GG_E_FORMAT if it is malformed; the message names the file and the tensor
 * or byte offset. Free with gg_safetensors_close. */
GG_API gg_status gg_safetensors_open(const char *path, gg_safetensors **out);
/* Reads and validates only the header of path (length, strict JSON, names,
 * shapes, offsets against the file size, format and header checksum), not
 * the data: a cheap look at a file's metadata (e.g. which run a checkpoint
 * belongs to). Its tensors have no data (gg_safetensors_get/find give
 * NULL); a damaged data buffer is not noticed. Fails like
 * gg_safetensors_open; free with gg_safetensors_close. */
GG_API gg_status gg_safetensors_open_header(const char *path, gg_safetensors **out);
GG_API void gg_safetensors_close(gg_safetensors *st);
GG_API int gg_safetensors_count(const gg_safetensors *st);
/* The i-th tensor (header order): name and shape; data owned by st. Any
 * output pointer may be NULL. GG_E_ARG if i is out of range. */
GG_API gg_status gg_safetensors_get(const gg_safetensors *st, int i, const char **name, gg_shape *shape,
                                    const float **data);
/* Looks a tensor up by name: GG_E_FORMAT naming it if absent. */
GG_API gg_status gg_safetensors_find(const gg_safetensors *st, const char *name, gg_shape *shape, const float **data);
/* A metadata value (owned by st), or NULL. */
GG_API const char *gg_safetensors_meta(const gg_safetensors *st, const char *key);
/* The dtype tensor i has in the file ("F32", "F64", "F16", "BF16", "I64",
 * "I32" or "U8"; its data was converted to float32 on load), a constant
 * string; NULL if i is out of range. Lets a reader give the tensor its
 * type back (an I64 counter stays an integer). */
GG_API const char *gg_safetensors_dtype(const gg_safetensors *st, int i);
/* The metadata pairs in file order: count, then the i-th key (returned) and
 * value (*value, may be NULL), both owned by st; NULL if i is out of range.
 * gradguard's own keys (gg_format, gg_crc32, gg_header_crc32) are listed
 * like any other. */
GG_API int gg_safetensors_meta_count(const gg_safetensors *st);
GG_API const char *gg_safetensors_meta_at(const gg_safetensors *st, int i, const char **value);

/* Imports weights written by another tool (a PyTorch state_dict saved as
 * safetensors, by name) into the compiled model g (src/io/import.c),
 * strictly, as torch's load_state_dict(strict=True): every parameter and
 * buffer of g must be in the file with its shape, and every tensor of the
 * file must be one of g's. PyTorch's single-layer recurrent names are
 * accepted for gradguard's ("lstm1.weight_ih_l0" for "lstm1.weight_ih", the
 * same for weight_hh, bias_ih, bias_hh); BatchNorm's num_batches_tracked,
 * and the optimizer and early-stopping tensors of a gradguard checkpoint,
 * are skipped. Any dtype gg_safetensors_open reads converts to float32.
 * Fails, leaving g untouched, with GG_E_SHAPE naming the tensor and both
 * shapes, GG_E_FORMAT naming a missing, unexpected or doubled tensor (or
 * the file's own defect), GG_E_IO if it cannot be read, GG_E_STATE if g is
 * not compiled. */
GG_API gg_status gg_model_import(gg_graph *g, const char *path);

/* Writes a whole file atomically: temp file in the same directory, write,
 * fsync, rename over path, fsync the directory. On failure (GG_E_IO naming
 * path and the system's reason) the temp file is removed and the old file
 * is untouched. */
GG_API gg_status gg_write_atomic(const char *path, const void *data, size_t n);

/* ==== configuration (src/io/config.c) ===================================== */
/*
 * A YAML document (libyaml) as a tree with line numbers. Access is strict:
 * typed getters fail with the key path, the line and the expected type
 * ("cfg.yaml:12: key 'train.epochs': expected an integer in [1, 100000],
 * got 'abc'"), and gg_cfg_unused() names any key nobody read, so typos are
 * errors. Duplicate keys, a second document and syntax errors (with line
 * and column) fail the parse. Scalars keep their text and are typed by the
 * getter that reads them; a quoted scalar is always a string ("5" is not a
 * number). A plain empty value, ~ or null is GG_CFG_NULL, which the typed
 * getters treat as absent. The core-schema tags are honoured: !!str makes
 * a string (like quotes), !!int, !!float and !!bool fix the type (the text
 * must be one; only a getter of that type takes it, and an integer is a
 * number too), !!null makes null, !!map and !!seq must match the node; any
 * other tag (!!python/object:..., !!binary, !local) fails the parse naming
 * it, the file and the line. Aliases are copied; merge keys (`<<: *base` or
 * `<<: [*a, *b]`) copy in the entries of the merged maps that the map does
 * not write itself (the map's own keys win, then the earlier merged map).
 * Nodes, keys and strings are
 * owned by the gg_cfg and valid until gg_cfg_free (or a gg_cfg_set that
 * replaces them).
 */

typedef struct gg_cfg gg_cfg;
typedef struct gg_cfg_node gg_cfg_node;
typedef enum gg_cfg_type { GG_CFG_NULL, GG_CFG_SCALAR, GG_CFG_MAP, GG_CFG_SEQ } gg_cfg_type;

/* Parses a file (GG_E_IO if unreadable, GG_E_CONFIG if malformed) or a
 * text; source_name is the file name used in messages. An empty document
 * is an empty map. */
GG_API gg_status gg_cfg_load(const char *path, gg_cfg **out);
GG_API gg_status gg_cfg_parse(const char *text, size_t len, const char *source_name, gg_cfg **out);
GG_API void gg_cfg_free(gg_cfg *c);
/* Applies "a.b.c=value". The value is parsed as YAML (64, 1e-3, "text",
 * [32, 64]; empty is null); a missing map key is created (with any missing
 * maps on the way, or in place of a null); a sequence element is addressed
 * by its index (model.2.units=64), which must exist. Set values have line 0
 * and messages about them say "--set"; a set key nobody reads is reported
 * by gg_cfg_unused like any other. */
GG_API gg_status gg_cfg_set(gg_cfg *c, const char *assignment);
/* The root node (a map for any config file). */
GG_API gg_cfg_node *gg_cfg_root(gg_cfg *c);
/* Child of a map by key (marks it used), or NULL (also for a NULL or
 * non-map node). */
GG_API gg_cfg_node *gg_cfg_get(gg_cfg_node *map, const char *key);
/* The type of a node; GG_CFG_NULL for NULL. */
GG_API gg_cfg_type gg_cfg_node_type(const gg_cfg_node *n);
/* Entries of a map or sequence; 0 for anything else. */
GG_API int gg_cfg_len(const gg_cfg_node *seq_or_map);
/* The i-th element of a sequence, or NULL (out of range, not a sequence). */
GG_API gg_cfg_node *gg_cfg_at(gg_cfg_node *seq, int i);
/* Key and value of the i-th entry of a map (marks it used); NULL if out of
 * range. value may be NULL. */
GG_API const char *gg_cfg_key_at(gg_cfg_node *map, int i, gg_cfg_node **value);
/* The line of a node (of its key, for a map entry); 0 for --set values and
 * for NULL. */
GG_API int gg_cfg_line(const gg_cfg_node *n);
/* "train.epochs", "model.layers.2"; "" for the root and for NULL. */
GG_API const char *gg_cfg_path(const gg_cfg_node *n);
/* "cfg.yaml:12" (or "--set" for a value given on the command line) into
 * buf, for messages; returns buf. */
GG_API const char *gg_cfg_where(const gg_cfg_node *n, char *buf, size_t cap);
/* Typed reads of map[key]: absent or null keys (and a NULL map) leave *out
 * alone and return GG_OK; a value of the wrong type or out of [lo, hi] is
 * GG_E_CONFIG with file, line, key path and what was expected. Integers are
 * decimal (strtol, whole text); numbers are decimal or .inf/-.inf; booleans
 * are true/false, yes/no, on/off (any case). */
GG_API gg_status gg_cfg_int(gg_cfg_node *map, const char *key, long lo, long hi, long *out);
GG_API gg_status gg_cfg_float(gg_cfg_node *map, const char *key, double lo, double hi, double *out);
/* gg_cfg_float for a setting kept as a 32-bit float: also GG_E_CONFIG when
 * float32 cannot hold the value (beyond FLT_MAX, or nonzero and below
 * FLT_MIN, where it would become 0 or lose its precision). Numbers a
 * 64-bit double cannot hold (1e-400, 1e400) fail in both getters. Choose
 * bounds a float can tell apart from what they exclude (not 0.999999999,
 * which is 1.0f). */
GG_API gg_status gg_cfg_f32(gg_cfg_node *map, const char *key, double lo, double hi, float *out);
GG_API gg_status gg_cfg_bool(gg_cfg_node *map, const char *key, int *out);
/* The string stays owned by the config. */
GG_API gg_status gg_cfg_str(gg_cfg_node *map, const char *key, const char **out);
/* One of choices[0..n): *out gets its index. */
GG_API gg_status gg_cfg_enum(gg_cfg_node *map, const char *key, const char *const *choices, int n, int *out);
/* Typed reads of a scalar node itself (a sequence element); errors name
 * the file, line and path like the getters above ("item 'model.layers.0'").
 * A NULL or null node is GG_E_CONFIG. */
GG_API gg_status gg_cfg_as_int(gg_cfg_node *n, long lo, long hi, long *out);
GG_API gg_status gg_cfg_as_float(gg_cfg_node *n, double lo, double hi, double *out);
GG_API gg_status gg_cfg_as_bool(gg_cfg_node *n, int *out);
/* The text of a scalar node, or NULL for other types. */
GG_API const char *gg_cfg_scalar(const gg_cfg_node *n);
/* GG_E_CONFIG naming the first key, in document order, that was never read
 * by gg_cfg_get, a typed getter or gg_cfg_key_at: "cfg.yaml:12: unknown key
 * 'train.epoks'" ("--set: unknown key ..." for a set key). Keys under an
 * unread key are not reported separately. */
GG_API gg_status gg_cfg_unused(gg_cfg *c);
/* Writes the document, with its --set values, back as YAML (the resolved
 * config of a run) atomically, through libyaml's emitter: quoted strings
 * stay quoted, plain values plain, flow lists flow; comments are not kept.
 * Re-reading the file gives the same tree. */
GG_API gg_status gg_cfg_write(gg_cfg *c, const char *path);

#ifdef __cplusplus
}
#endif
#endif /* GRADGUARD_IO_H */
