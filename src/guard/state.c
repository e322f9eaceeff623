/*
 * state.c - the guard's state structs (state.h): allocation, copies, and
 * the table that names every field for checkpoints.
 *
 * A field is a name, the part it lives in (the history, the memory, the
 * quiet monitor's windows), its type and its offset. One table drives
 * writing and reading, so a field added to a struct and to the table is
 * saved and restored, and a checkpoint names each value it holds. The
 * detector table's state (core.c) comes first, its names made from the
 * detectors' rows: a detector's state needs no row here.
 */
#include "state.h"
#include "core/error.h"
#include "quiet.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int gg_guard_hist_alloc(gg_guard_hist *h, const gg_guard_config *c)
{
    memset(h, 0, sizeof *h);
    h->ring = calloc((size_t)c->trend_window + 1, sizeof *h->ring);
    h->hist = calloc((size_t)c->history + 1, sizeof *h->hist);
    return h->ring && h->hist;
}

void gg_guard_hist_free(gg_guard_hist *h)
{
    free(h->ring);
    free(h->hist);
    h->ring = h->hist = NULL;
}

void gg_guard_hist_init(gg_guard_hist *h)
{
    double *ring = h->ring, *hist = h->hist;
    memset(h, 0, sizeof *h);
    h->ring = ring;
    h->hist = hist;
    gg_guard_detectors_init(h);
}

void gg_guard_hist_copy(gg_guard_hist *dst, const gg_guard_hist *src, const gg_guard_config *c)
{
    double *ring = dst->ring, *hist = dst->hist;
    *dst = *src;
    dst->ring = ring;
    dst->hist = hist;
    memcpy(ring, src->ring, sizeof *ring * (size_t)c->trend_window);
    memcpy(hist, src->hist, sizeof *hist * (size_t)c->history);
}

void gg_guard_memory_copy(gg_guard_memory *dst, const gg_guard_memory *src)
{
    double *tlr = dst->tensor_lr;
    *dst = *src;
    dst->tensor_lr = tlr;
    memcpy(tlr, src->tensor_lr, sizeof *tlr * (size_t)src->n_tensors);
}

void gg_guard_memory_init(gg_guard_memory *m)
{
    double *tlr = m->tensor_lr;
    int n = m->n_tensors;
    memset(m, 0, sizeof *m);
    m->tensor_lr = tlr;
    m->n_tensors = n;
    for (int i = 0; tlr && i < n; i++) tlr[i] = 1;
    m->lr_scale = 1;
    m->lr_ceiling = 1;
    m->last_failure = -1;
    m->last_skipped = -1;
    m->jump_step = -1;
    m->stuck_from = -1;
}

/* ---- the table ---------------------------------------------------------- */

typedef enum { T_DOUBLE, T_LONG, T_INT, T_DOUBLES, T_INTS, T_LONGS } ftype;
enum { P_HIST, P_MEMORY, P_QUIET };
/* array lengths */
enum { N_ONE, N_TREND, N_HISTORY, N_QRING, N_SIGNALS, N_TENSORS };

typedef struct sfield {
    const char *name;
    int part;
    ftype type;
    size_t off; /* of the value, or of the array's pointer (T_DOUBLES in a history) */
    int len;
} sfield;

#define H(name, type, member) {name, P_HIST, type, offsetof(gg_guard_hist, member), N_ONE}
#define M(name, type, member) {name, P_MEMORY, type, offsetof(gg_guard_memory, member), N_ONE}
#define Q(name, type, member) {name, P_QUIET, type, offsetof(gg_quiet_hist, member), N_ONE}
#define EMA(prefix, member)                                                                                            \
    H(prefix ".mean", T_DOUBLE, member.mean), H(prefix ".var", T_DOUBLE, member.var), H(prefix ".n", T_LONG, member.n)

static const sfield fields[] = {
    EMA("hist.ema_log_grad_norm", ema_g),
    EMA("hist.ema_log_loss", ema_l),
    EMA("hist.ema_clip_norm", ema_clip),
    H("hist.first_loss", T_DOUBLE, loss_first),
    EMA("hist.loss_jump.level", jump_level),
    EMA("hist.loss_jump.change", jump_change),
    H("hist.loss_jump.last", T_DOUBLE, jump_last),
    H("hist.trend_pos", T_INT, ring_pos),
    H("hist.trend_cool", T_INT, trend_cool),
    H("hist.autoclip_n", T_INT, hist_n),
    H("hist.autoclip_pos", T_INT, hist_pos),
    H("hist.good_steps", T_LONG, good_steps),
    H("hist.noise_t", T_LONG, noise_t),
    {"hist.trend_window", P_HIST, T_DOUBLES, offsetof(gg_guard_hist, ring), N_TREND},
    {"hist.autoclip_norms", P_HIST, T_DOUBLES, offsetof(gg_guard_hist, hist), N_HISTORY},
    M("memory.lr_scale", T_DOUBLE, lr_scale),
    M("memory.lr_ceiling", T_DOUBLE, lr_ceiling),
    M("memory.last_failure", T_LONG, last_failure),
    M("memory.last_skipped", T_LONG, last_skipped),
    M("memory.after_skip", T_INT, after_skip),
    M("memory.good_since_backoff", T_LONG, good_since_backoff),
    M("memory.rollbacks_used", T_LONG, rollbacks_used),
    M("memory.consecutive_skips", T_INT, consecutive_skips),
    M("memory.skip_probes", T_INT, skip_probes),
    M("memory.noise_on", T_INT, noise_on),
    M("memory.z_loss_on", T_INT, z_loss_on),
    M("memory.collapse_ceiling", T_INT, collapse_ceiling),
    M("memory.blowup_pending", T_INT, blowup_pending),
    M("memory.slow_state", T_INT, slow_state),
    M("memory.slow_passes", T_INT, slow_passes),
    M("memory.slow_lr", T_DOUBLE, slow_lr),
    M("memory.slow_peak", T_DOUBLE, slow_peak),
    M("memory.jump_held", T_DOUBLE, jump_held),
    M("memory.jump_cap", T_DOUBLE, jump_cap),
    M("memory.jump_step", T_LONG, jump_step),
    M("memory.jump_loss", T_DOUBLE, jump_loss),
    M("memory.jump_rate", T_DOUBLE, jump_rate),
    M("memory.jump_pending", T_INT, jump_pending),
    M("memory.stuck_from", T_LONG, stuck_from),
    M("memory.stuck_steps", T_INT, stuck_steps),
    M("memory.stuck_tries", T_INT, stuck_tries),
    M("memory.count.clipped", T_LONG, cnt.clipped),
    M("memory.count.skipped", T_LONG, cnt.skipped),
    M("memory.count.backoffs", T_LONG, cnt.backoffs),
    M("memory.count.rollbacks", T_LONG, cnt.rollbacks),
    M("memory.count.nonfinite", T_LONG, cnt.nonfinite),
    M("memory.count.spikes", T_LONG, cnt.spikes),
    M("memory.count.trends", T_LONG, cnt.trends),
    M("memory.count.collapses", T_LONG, cnt.collapses),
    M("memory.count.stalls", T_LONG, cnt.stalls),
    M("memory.count.vanishing", T_LONG, cnt.vanishing),
    M("memory.count.dead", T_LONG, cnt.dead),
    M("memory.count.saturated", T_LONG, cnt.saturated),
    M("memory.count.update_ratio", T_LONG, cnt.update_ratio),
    M("memory.count.attention", T_LONG, cnt.attention),
    M("memory.count.logit_drift", T_LONG, cnt.logit_drift),
    M("memory.count.slow_rate", T_LONG, cnt.slow_rate),
    M("memory.count.rate_jump", T_LONG, cnt.rate_jump),
    M("memory.count.worse_than_chance", T_LONG, cnt.worse_than_chance),
    M("memory.count.plateau", T_LONG, cnt.plateau),
    {"memory.tensor_lr", P_MEMORY, T_DOUBLES, offsetof(gg_guard_memory, tensor_lr), N_TENSORS},
    {"quiet.loss_window", P_QUIET, T_DOUBLES, offsetof(gg_quiet_hist, ring), N_QRING},
    Q("quiet.loss_window_pos", T_INT, ring_pos),
    Q("quiet.loss_window_fill", T_INT, ring_fill),
    {"quiet.persist", P_QUIET, T_INTS, offsetof(gg_quiet_hist, persist), N_SIGNALS},
    {"quiet.active", P_QUIET, T_INTS, offsetof(gg_quiet_hist, active), N_SIGNALS},
    {"quiet.last_report", P_QUIET, T_LONGS, offsetof(gg_quiet_hist, last_report), N_SIGNALS},
    Q("quiet.peak_lr", T_DOUBLE, peak_lr),
    Q("quiet.first_profile", T_DOUBLE, ratio0),
    Q("quiet.first_dead", T_DOUBLE, dead0),
    Q("quiet.first_saturated", T_DOUBLE, sat0),
    Q("quiet.rebase", T_INT, rebase),
    Q("quiet.unhealthy", T_INT, unhealthy),
    Q("quiet.passes", T_INT, passes),
};
#define NFIELDS ((int)(sizeof fields / sizeof fields[0]))

/* The detector table's state values, "hist.<signal>.<name>", made once
 * from the rows (core.c). */
static sfield dfields[GG_DETECTORS * GG_DET_STATE];
static char dnames[GG_DETECTORS * GG_DET_STATE][80];
static int ndfields;
static pthread_once_t dfields_once = PTHREAD_ONCE_INIT;

static void make_dfields(void)
{
    const char *const *names;
    const char *sig;
    for (int d = 0; d < GG_DETECTORS && (sig = gg_guard_detector(d, &names)); d++)
        for (int k = 0; k < GG_DET_STATE && names[k]; k++) {
            snprintf(dnames[ndfields], sizeof dnames[ndfields], "hist.%s.%s", sig, names[k]);
            dfields[ndfields] = (sfield){dnames[ndfields], P_HIST, T_DOUBLE,
                                         offsetof(gg_guard_hist, det) + sizeof(double) * ((size_t)d * GG_DET_STATE + (size_t)k),
                                         N_ONE};
            ndfields++;
        }
}

static void *base_of(const gg_guard_state_parts *s, int part)
{
    return part == P_HIST ? (void *)s->hist : part == P_MEMORY ? (void *)s->memory : (void *)s->quiet;
}

static int length_of(const gg_guard_state_parts *s, int len)
{
    switch (len) {
    case N_TREND: return s->trend_len;
    case N_HISTORY: return s->history_len;
    case N_QRING: return s->quiet_ring_len;
    case N_SIGNALS: return GG_Q_COUNT;
    case N_TENSORS: return s->memory->n_tensors;
    default: return 1;
    }
}

/* The i-th field that applies (the quiet ones only with a monitor). */
static const sfield *nth(const gg_guard_state_parts *s, int i)
{
    pthread_once(&dfields_once, make_dfields);
    if (i < ndfields) return i >= 0 ? &dfields[i] : NULL;
    i -= ndfields;
    for (int k = 0; k < NFIELDS; k++) {
        if (fields[k].part == P_QUIET && !s->quiet) continue;
        if (i-- == 0) return &fields[k];
    }
    return NULL;
}

int gg_guard_parts_count(const gg_guard_state_parts *s)
{
    int n = 0;
    while (nth(s, n)) n++;
    return n;
}

/* Appends to buf like snprintf: the length it needed in all. */
static size_t put(char *buf, size_t cap, size_t at, const char *fmt, double d, long l)
{
    int k = strchr(fmt, 'g') ? snprintf(at < cap ? buf + at : NULL, at < cap ? cap - at : 0, fmt, d)
                              : snprintf(at < cap ? buf + at : NULL, at < cap ? cap - at : 0, fmt, l);
    return at + (size_t)(k > 0 ? k : 0);
}

int gg_guard_parts_get(const gg_guard_state_parts *s, int i, const char **name, char *buf, size_t cap)
{
    const sfield *f = nth(s, i);
    if (!f) return -1;
    *name = f->name;
    if (cap) buf[0] = 0;
    char *b = (char *)base_of(s, f->part) + f->off;
    size_t at = 0;
    int n = length_of(s, f->len);
    switch (f->type) {
    case T_DOUBLE: at = put(buf, cap, at, "%.17g", *(double *)b, 0); break;
    case T_LONG: at = put(buf, cap, at, "%ld", 0, *(long *)b); break;
    case T_INT: at = put(buf, cap, at, "%ld", 0, *(int *)b); break;
    case T_DOUBLES:
        for (int k = 0; k < n; k++) at = put(buf, cap, at, k ? ",%.17g" : "%.17g", (*(double **)b)[k], 0);
        break;
    case T_INTS:
        for (int k = 0; k < n; k++) at = put(buf, cap, at, k ? ",%ld" : "%ld", 0, ((int *)b)[k]);
        break;
    case T_LONGS:
        for (int k = 0; k < n; k++) at = put(buf, cap, at, k ? ",%ld" : "%ld", 0, ((long *)b)[k]);
        break;
    }
    return (int)at;
}

/* One number of a list: a double, or an integer in [lo, hi]. */
static gg_status number(const char *name, int k, const char **c, int integer, double *out)
{
    char *end;
    errno = 0;
    double v = integer ? (double)strtoll(*c, &end, 10) : strtod(*c, &end);
    if (end == *c || errno == ERANGE)
        return gg_fail(GG_E_FORMAT, "guard state '%s': value %d ('%.24s') is not a%s number", name, k + 1, *c,
                       integer ? "n integer" : "");
    if (*end != ',' && *end != 0)
        return gg_fail(GG_E_FORMAT, "guard state '%s': unexpected '%c' after value %d", name, *end, k + 1);
    *c = *end == ',' ? end + 1 : end;
    *out = v;
    return GG_OK;
}

gg_status gg_guard_parts_set(gg_guard_state_parts *s, const char *name, const char *text)
{
    const sfield *f = NULL;
    pthread_once(&dfields_once, make_dfields);
    for (int k = 0; k < ndfields && !f; k++)
        if (strcmp(dfields[k].name, name) == 0) f = &dfields[k];
    for (int k = 0; k < NFIELDS && !f; k++)
        if (strcmp(fields[k].name, name) == 0) f = &fields[k];
    if (!f) return gg_fail(GG_E_FORMAT, "guard state: unknown field '%s'", name);
    if (f->part == P_QUIET && !s->quiet) return GG_OK; /* saved with the quiet monitor on, resumed with it off */
    char *b = (char *)base_of(s, f->part) + f->off;
    int n = f->type == T_DOUBLE || f->type == T_LONG || f->type == T_INT ? 1 : length_of(s, f->len);
    int integer = f->type != T_DOUBLE && f->type != T_DOUBLES;
    /* count first: an array of another length was saved under another config */
    int have = *text ? 1 : 0;
    for (const char *c = text; *c; c++) have += *c == ',';
    if (have != n)
        return gg_fail(GG_E_FORMAT, "guard state '%s' holds %d value%s, this guard's config needs %d (was the run's "
                       "guard config changed between the checkpoint and the resume?)", name, have, have == 1 ? "" : "s", n);
    const char *c = text;
    for (int k = 0; k < n; k++) {
        double v = 0;
        gg_status st = number(name, k, &c, integer, &v);
        if (st) return st;
        switch (f->type) {
        case T_DOUBLE: *(double *)b = v; break;
        case T_LONG: *(long *)b = (long)v; break;
        case T_INT: *(int *)b = (int)v; break;
        case T_DOUBLES: (*(double **)b)[k] = v; break;
        case T_INTS: ((int *)b)[k] = (int)v; break;
        case T_LONGS: ((long *)b)[k] = (long)v; break;
        }
    }
    return GG_OK;
}
