/* error.c - the per-thread message behind every failing gg_status. */
#include "core.h"

#include <stdio.h>

static _Thread_local char errbuf[1024];

gg_status gg_fail(gg_status s, const char *fmt, ...)
{
    char tmp[sizeof errbuf];
    va_list ap;
    va_start(ap, fmt);
    /* format into a temporary: callers may pass gg_errmsg() as an argument */
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    snprintf(errbuf, sizeof errbuf, "%s", tmp);
    return s;
}

const char *gg_errmsg(void) { return errbuf; }

const char *gg_status_name(gg_status s)
{
    switch (s) {
    case GG_OK: return "ok";
    case GG_E_ARG: return "argument";
    case GG_E_SHAPE: return "shape";
    case GG_E_NOMEM: return "memory";
    case GG_E_IO: return "io";
    case GG_E_FORMAT: return "format";
    case GG_E_CONFIG: return "config";
    case GG_E_STATE: return "state";
    case GG_E_NONFINITE: return "nonfinite";
    case GG_E_INTERNAL: return "internal";
    }
    return "unknown";
}
