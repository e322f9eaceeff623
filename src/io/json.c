/* json.c - jansson with the strict flags, and its errors in the project's
 * words (see json.h). */
#include "io/json.h"

#include <stdio.h>
#include <string.h>

void gg_json_escape(char *out, size_t cap, const char *in)
{
    size_t k = 0;
    for (; in && *in && k + 7 < cap; in++) {
        unsigned char c = (unsigned char)*in;
        if (c == '"' || c == '\\') {
            out[k++] = '\\';
            out[k++] = (char)c;
        } else if (c < 0x20) {
            k += (size_t)snprintf(out + k, cap - k, "\\u%04x", c);
        } else {
            out[k++] = (char)c;
        }
    }
    out[k] = 0;
}

/* The start of the last token that begins before byte end: jansson reports
 * where its lexer stopped, which is after the token it could not use. */
static size_t token_start(const char *s, size_t end)
{
    size_t i = 0, last = 0;
    while (i < end) {
        char c = s[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            i++;
            continue;
        }
        last = i;
        if (c == '"') {
            for (i++; i < end && s[i] != '"'; i++)
                if (s[i] == '\\') i++;
            i++;
        } else if (strchr("{}[],:", c)) {
            i++;
        } else {
            while (i < end && !strchr(" \t\n\r{}[],:\"", s[i])) i++;
        }
    }
    return last;
}

/* jansson's message (before " near ...") -> ours; NULL: keep jansson's */
static const char *ours(const char *t)
{
    static const struct {
        const char *theirs, *ours;
    } map[] = {
        {"string or '}' expected", "expected a key string"},
        {"'}' expected", "expected ',' or '}'"},
        {"']' expected", "expected ',' or ']'"},
        {"':' expected", "expected ':' after a key"},
        {"'[' or '{' expected", "expected a JSON object"},
        {"unable to decode byte", "invalid UTF-8 in a string"},
        {"control character", "control character in a string"},
        {"invalid escape", "bad escape in a string"},
        {"invalid Unicode", "bad \\u escape (an unpaired surrogate?)"},
        {"\\u0000 is not allowed", "NUL character in a string"},
        {"too big integer", "integer too large"},
        {"too big negative integer", "integer too large"},
        {"real number overflow", "number out of range"},
        {"maximum parsing depth reached", "nested too deeply"},
        {"premature end of input", "unterminated string"},
        {"unexpected newline", "unterminated string"},
        {"invalid token", "not a JSON value"},
        {"unexpected token", "expected a value"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strncmp(t, map[i].theirs, strlen(map[i].theirs))) return map[i].ours;
    return NULL;
}

json_t *gg_json_parse(const char *text, size_t n, const char *what, gg_json_err *err)
{
    json_error_t je;
    json_t *v = json_loadb(text, n, JSON_REJECT_DUPLICATES, &je);
    if (v) return v;
    enum json_error_code code = json_error_code(&je);
    size_t pos = je.position > 0 && (size_t)je.position <= n ? (size_t)je.position : 0;
    int at_end = strstr(je.text, "near end of file") != NULL;
    /* a bad byte is where the lexer stopped; anything else is the token */
    size_t at = at_end || code == json_error_invalid_utf8 || !strncmp(je.text, "control character", 17)
                    ? pos
                    : token_start(text, pos);
    err->at = at;
    err->line = 1;
    err->col = 1;
    for (size_t i = 0; i < at; i++) {
        if (text[i] == '\n') err->line++, err->col = 1;
        else err->col++;
    }
    char theirs[160];
    snprintf(theirs, sizeof theirs, "%s", je.text);
    char *near = strstr(theirs, " near ");
    if (near) *near = 0;
    const char *m = ours(theirs);
    if (code == json_error_duplicate_key) {
        /* the key as written, from its token */
        size_t e = at + 1;
        while (e < n && e - at < 80 && text[e] != '"') e += text[e] == '\\' ? 2 : 1;
        snprintf(err->msg, sizeof err->msg, "duplicate key '%.*s'", (int)(e > at + 1 ? e - at - 1 : 0), text + at + 1);
    } else if (code == json_error_end_of_input_expected) {
        snprintf(err->msg, sizeof err->msg, "unexpected text after %s", what);
    } else if (code == json_error_out_of_memory) {
        snprintf(err->msg, sizeof err->msg, "out of memory");
    } else if (at_end) {
        snprintf(err->msg, sizeof err->msg, "%s: unexpected end of the input", m ? m : theirs);
    } else if (code == json_error_invalid_syntax && m && !strcmp(m, "not a JSON value")) {
        size_t e = at;
        while (e < n && e - at < 24 && !strchr(" \t\n\r{}[],:\"", text[e])) e++;
        snprintf(err->msg, sizeof err->msg, "'%.*s' is not a JSON value", (int)(e - at), text + at);
    } else {
        snprintf(err->msg, sizeof err->msg, "%s", m ? m : theirs);
    }
    return NULL;
}
