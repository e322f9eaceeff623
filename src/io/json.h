/*
 * json.h - the one JSON reader of gradguard: the safetensors header, and
 * the run directory's events.jsonl and summary.json (src/run/) are parsed
 * by jansson (Debian's libjansson-dev; why jansson: docs/results.md, "One
 * owner per format"). This wrapper sets the strict flags once and turns
 * jansson's errors into the project's wording with the byte where the
 * input went wrong. Not installed.
 */
#ifndef GG_IO_JSON_H
#define GG_IO_JSON_H

#include <jansson.h>
#include <stddef.h>

typedef struct gg_json_err {
    size_t at;       /* byte offset into the text of the token (or byte) at fault */
    long line, col;  /* 1-based; col counts bytes */
    char msg[200];   /* "expected ',' or '}'", "duplicate key 'w'", ... */
} gg_json_err;

/* Parses text[0..n) as one JSON object or array and nothing after it:
 * duplicate keys, invalid UTF-8, \u0000, NaN/Infinity, numbers out of
 * range and text after the value are refused. `what` names the value in
 * the message about trailing text ("the header object"). Returns the value
 * (the caller json_decref's it), or NULL with *err filled. */
json_t *gg_json_parse(const char *text, size_t n, const char *what, gg_json_err *err);

/* in as a JSON string's contents (no quotes) in out[0..cap), NUL-terminated:
 * '"' and '\\' escaped, control characters as \u00XX; cut short to fit. */
void gg_json_escape(char *out, size_t cap, const char *in);

#endif
