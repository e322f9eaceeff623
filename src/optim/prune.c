/*
 * prune.c - magnitude and random pruning with masks that stay applied.
 *
 * The mask arena has one float per parameter element (1 keep, 0 pruned), so
 * keeping weights pruned is one multiply pass over the parameter arena after
 * each optimizer step (and one over the gradients after backward), whatever
 * the optimizer's momentum would do to them.
 *
 * A prune ranks "units" by score and zeroes the lowest until the target is
 * reached. A unit is one element (unstructured) or one row of a tensor
 * (structured: dim 0 of a (out, in) or (out, in, kh, kw) weight). Scores:
 *   magnitude, unstructured  |w|
 *   magnitude, structured    sqrt(sum_row w^2 / row length)  (an RMS, so rows of different widths compare)
 *   random                   a hash of (seed, step, unit) in [0, 1)
 * Units already pruned score -1: they sort first and always stay pruned.
 * The unit table and its sort buffer are allocated once, in gg_pruner_new:
 * a prune allocates nothing.
 */
#include "core/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ptensor {
    int pidx;          /* parameter index */
    const char *name;  /* owned by the graph */
    size_t off, n;     /* into the parameter arena */
    size_t rows, cols; /* units of this tensor: rows of cols elements */
    size_t unit0;      /* its first unit in the unit table */
    size_t pruned;     /* elements with mask 0 */
} ptensor;

/* One rankable unit: 12 bytes, sorted by (score, t, row). */
typedef struct unit {
    float score;
    uint32_t t, row;
} unit;

struct gg_pruner {
    gg_graph *g;
    gg_prune_config c;
    ptensor *t;
    int nt;
    float *mask;  /* np floats, parallel to the parameter arena */
    size_t np;
    size_t total; /* prunable elements */
    size_t pruned;
    unit *u;      /* every unit of every prunable tensor */
    unit *tmp;    /* the merge sort's second buffer */
    size_t nu;
    int stepped;  /* gg_pruner_step has run once (catch-up on the first call) */
};

static const char *const method_names[GG_PRUNE_COUNT] = {"magnitude", "random"};

const char *gg_prune_method_name(gg_prune_method m)
{
    return m >= 0 && m < GG_PRUNE_COUNT ? method_names[m] : NULL;
}

gg_prune_method gg_prune_method_parse(const char *name)
{
    for (int i = 0; name && i < GG_PRUNE_COUNT; i++)
        if (strcmp(name, method_names[i]) == 0) return (gg_prune_method)i;
    return GG_PRUNE_COUNT;
}

gg_prune_config gg_prune_defaults(void)
{
    gg_prune_config c;
    memset(&c, 0, sizeof c);
    c.method = GG_PRUNE_MAGNITUDE;
    c.global = 1;
    c.every = 1;
    return c;
}

double gg_prune_target(const gg_prune_config *c, long step)
{
    if (step < c->start) return 0;
    if (c->end <= c->start || step >= c->end) return c->sparsity;
    double f = 1.0 - (double)(step - c->start) / (double)(c->end - c->start);
    return c->sparsity + (c->initial_sparsity - c->sparsity) * f * f * f;
}

int gg_prune_due(const gg_prune_config *c, long step)
{
    if (step == c->start) return 1;
    if (step < c->start || c->end <= c->start || step > c->end) return 0;
    return step == c->end || (step - c->start) % (c->every > 0 ? c->every : 1) == 0;
}

static gg_status check_config(const gg_prune_config *c)
{
    if (c->method < 0 || c->method >= GG_PRUNE_COUNT)
        return gg_fail(GG_E_ARG, "prune: method %d is not magnitude or random", (int)c->method);
    if (!(c->sparsity >= 0 && c->sparsity < 1))
        return gg_fail(GG_E_ARG, "prune: sparsity %g is outside [0, 1)", (double)c->sparsity);
    if (!(c->initial_sparsity >= 0 && c->initial_sparsity < 1))
        return gg_fail(GG_E_ARG, "prune: initial_sparsity %g is outside [0, 1)", (double)c->initial_sparsity);
    if (c->initial_sparsity > c->sparsity)
        return gg_fail(GG_E_ARG, "prune: initial_sparsity %g is above the final sparsity %g", (double)c->initial_sparsity,
                       (double)c->sparsity);
    if (c->start < 0) return gg_fail(GG_E_ARG, "prune: start %ld is negative", c->start);
    if (c->every < 1) return gg_fail(GG_E_ARG, "prune: every %ld must be >= 1", c->every);
    return GG_OK;
}

gg_pruner *gg_pruner_new(gg_graph *g, const gg_prune_config *cfg)
{
    if (!g || !cfg) {
        gg_fail(GG_E_ARG, "gg_pruner_new: NULL graph or config");
        return NULL;
    }
    if (check_config(cfg)) return NULL;
    size_t np = 0;
    float *params = gg_graph_params(g, &np);
    if (!params) {
        gg_fail(GG_E_STATE, "gg_pruner_new: the graph is not compiled");
        return NULL;
    }
    int npar = gg_graph_num_params(g);
    gg_pruner *p = calloc(1, sizeof *p);
    if (!p) goto nomem;
    p->g = g;
    p->c = *cfg;
    p->np = np;
    p->t = calloc((size_t)(npar > 0 ? npar : 1), sizeof *p->t);
    p->mask = malloc(sizeof(float) * (np ? np : 1));
    if (!p->t || !p->mask) goto nomem;
    for (size_t i = 0; i < np; i++) p->mask[i] = 1;
    for (int i = 0; i < npar; i++) {
        gg_param_info pi;
        gg_graph_param(g, i, &pi);
        int weight = !pi.no_decay && pi.shape.ndim >= 2;
        if (!weight && !cfg->include_biases) continue;
        if (pi.numel == 0) continue;
        ptensor *t = &p->t[p->nt++];
        t->pidx = i;
        t->name = pi.name;
        t->off = pi.offset;
        t->n = pi.numel;
        if (cfg->structured && pi.shape.ndim >= 2) {
            t->rows = (size_t)pi.shape.d[0];
            t->cols = pi.numel / t->rows;
        } else {
            t->rows = pi.numel;
            t->cols = 1;
        }
    }
    /* the model's last prunable tensor holds its outputs */
    if (cfg->keep_last && p->nt > 0) p->nt--;
    if (p->nt == 0) {
        gg_fail(GG_E_ARG, "prune: the model has no prunable weights%s", cfg->keep_last ? " besides its last layer" : "");
        gg_pruner_free(p);
        return NULL;
    }
    for (int k = 0; k < p->nt; k++) {
        p->t[k].unit0 = p->nu;
        p->nu += p->t[k].rows;
        p->total += p->t[k].n;
        if (p->t[k].rows > UINT32_MAX) {
            gg_fail(GG_E_ARG, "prune: tensor '%s' has more than 2^32 units", p->t[k].name);
            gg_pruner_free(p);
            return NULL;
        }
    }
    p->u = malloc(sizeof(unit) * p->nu);
    p->tmp = malloc(sizeof(unit) * p->nu);
    if (!p->u || !p->tmp) goto nomem;
    return p;
nomem:
    gg_pruner_free(p);
    gg_fail(GG_E_NOMEM, "prune: out of memory");
    return NULL;
}

void gg_pruner_free(gg_pruner *p)
{
    if (!p) return;
    free(p->t);
    free(p->mask);
    free(p->u);
    free(p->tmp);
    free(p);
}

static int cmp_unit(const void *a, const void *b)
{
    const unit *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? -1 : 1;
    if (x->t != y->t) return x->t < y->t ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row;
}

/* Bottom-up merge sort of u[0 .. n) with the preallocated tmp[0 .. n):
 * glibc's qsort may allocate, and a pruning step runs inside training. */
static void sort_units(unit *u, unit *tmp, size_t n)
{
    unit *src = u, *dst = tmp;
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) dst[k++] = cmp_unit(&src[j], &src[i]) < 0 ? src[j++] : src[i++];
            while (i < mid) dst[k++] = src[i++];
            while (j < hi) dst[k++] = src[j++];
        }
        unit *t = src;
        src = dst;
        dst = t;
    }
    if (src != u) memcpy(u, src, n * sizeof *u);
}

/* Scores tensor k's rows into u[0 .. rows). */
static void score_tensor(gg_pruner *p, int k, uint64_t key, unit *u)
{
    const ptensor *t = &p->t[k];
    size_t np;
    const float *w = gg_graph_params(p->g, &np) + t->off;
    const float *m = p->mask + t->off;
    for (size_t r = 0; r < t->rows; r++) {
        const float *wr = w + r * t->cols, *mr = m + r * t->cols;
        double ss = 0;
        size_t live = 0;
        for (size_t c = 0; c < t->cols; c++)
            if (mr[c] != 0) {
                ss += (double)wr[c] * wr[c];
                live++;
            }
        float s;
        if (live == 0) s = -1;
        else if (p->c.method == GG_PRUNE_RANDOM) s = gg_hash_uniform(key, (uint64_t)(t->unit0 + r));
        else s = (float)sqrt(ss / (double)t->cols);
        u[r].score = s;
        u[r].t = (uint32_t)k;
        u[r].row = (uint32_t)r;
    }
}

/* Prunes the units u[0 .. n) (sorted) until `target` elements are pruned:
 * units already pruned count first; then a unit is taken while taking it
 * brings the count nearer the target. */
static void take(gg_pruner *p, unit *u, size_t n, size_t target)
{
    size_t done = 0;
    for (size_t i = 0; i < n; i++) {
        const ptensor *t = &p->t[u[i].t];
        if (u[i].score < 0) {
            done += t->cols;
            continue;
        }
        if (done >= target) break;
        size_t over = done + t->cols > target ? done + t->cols - target : 0;
        if (over > target - done) break;
        float *m = p->mask + t->off + (size_t)u[i].row * t->cols;
        for (size_t c = 0; c < t->cols; c++) m[c] = 0;
        done += t->cols;
    }
}

void gg_pruner_sync(gg_pruner *p)
{
    p->pruned = 0;
    for (int k = 0; k < p->nt; k++) {
        ptensor *t = &p->t[k];
        size_t z = 0;
        for (size_t i = 0; i < t->n; i++) z += p->mask[t->off + i] == 0;
        t->pruned = z;
        p->pruned += z;
    }
}

double gg_pruner_prune(gg_pruner *p, double sparsity, long step)
{
    if (!p) return 0;
    if (!(sparsity >= 0)) sparsity = 0;
    if (sparsity > 1) sparsity = 1;
    uint64_t key = p->c.seed * 0x9e3779b97f4a7c15ull ^ ((uint64_t)step + 0x7072756e65ull);
    if (p->c.global) {
        for (int k = 0; k < p->nt; k++) score_tensor(p, k, key, p->u + p->t[k].unit0);
        sort_units(p->u, p->tmp, p->nu);
        take(p, p->u, p->nu, (size_t)llround(sparsity * (double)p->total));
    } else {
        for (int k = 0; k < p->nt; k++) {
            unit *u = p->u + p->t[k].unit0;
            score_tensor(p, k, key, u);
            sort_units(u, p->tmp + p->t[k].unit0, p->t[k].rows);
            take(p, u, p->t[k].rows, (size_t)llround(sparsity * (double)p->t[k].n));
        }
    }
    gg_pruner_sync(p);
    gg_pruner_apply(p);
    return gg_pruner_sparsity(p);
}

int gg_pruner_step(gg_pruner *p, long step)
{
    if (!p) return 0;
    int first = !p->stepped;
    p->stepped = 1;
    long at = step;
    if (!gg_prune_due(&p->c, step)) {
        /* the first call catches up a run that starts past a due step to
         * that step's target: a resumed run whose masks came back with its
         * checkpoint has reached it already and goes on exactly as before */
        if (!first || step < p->c.start) return 0;
        const gg_prune_config *c = &p->c;
        if (c->end <= c->start) at = c->start;
        else if (step >= c->end) at = c->end;
        else at = c->start + (step - c->start) / c->every * c->every;
    }
    double target = gg_prune_target(&p->c, at);
    if (target <= 0 || (long long)p->pruned >= llround(target * (double)p->total)) return 0;
    size_t before = p->pruned;
    gg_pruner_prune(p, target, at);
    return p->pruned != before;
}

void gg_pruner_apply(gg_pruner *p)
{
    if (!p || p->pruned == 0) return;
    size_t n;
    float *w = gg_graph_params(p->g, &n);
    const float *m = p->mask;
    for (int k = 0; k < p->nt; k++) {
        const ptensor *t = &p->t[k];
        if (t->pruned == 0) continue;
        for (size_t i = t->off; i < t->off + t->n; i++) w[i] *= m[i];
    }
}

void gg_pruner_mask_grads(gg_pruner *p)
{
    if (!p || p->pruned == 0) return;
    size_t n;
    float *gr = gg_graph_grads(p->g, &n);
    const float *m = p->mask;
    for (int k = 0; k < p->nt; k++) {
        const ptensor *t = &p->t[k];
        if (t->pruned == 0) continue;
        for (size_t i = t->off; i < t->off + t->n; i++) gr[i] *= m[i];
    }
}

float *gg_pruner_masks(gg_pruner *p, size_t *n)
{
    if (n) *n = p ? p->np : 0;
    return p ? p->mask : NULL;
}

double gg_pruner_sparsity(const gg_pruner *p)
{
    return p && p->total ? (double)p->pruned / (double)p->total : 0;
}

int gg_pruner_count(const gg_pruner *p) { return p ? p->nt : 0; }

gg_status gg_pruner_tensor(const gg_pruner *p, int k, int *param_index, double *sparsity)
{
    if (!p || k < 0 || k >= p->nt)
        return gg_fail(GG_E_ARG, "gg_pruner_tensor: index %d outside 0..%d", k, p ? p->nt - 1 : -1);
    if (param_index) *param_index = p->t[k].pidx;
    if (sparsity) *sparsity = (double)p->t[k].pruned / (double)p->t[k].n;
    return GG_OK;
}

void gg_pruner_describe(const gg_pruner *p, char *buf, size_t cap)
{
    if (!buf || cap == 0) return;
    buf[0] = 0;
    if (!p) return;
    size_t o = (size_t)snprintf(buf, cap, "%.3f of %zu weights", gg_pruner_sparsity(p), p->total);
    for (int k = 0; k < p->nt && o < cap; k++)
        o += (size_t)snprintf(buf + o, cap - o, "%s %s %.3f", k ? "," : ":", p->t[k].name,
                              (double)p->t[k].pruned / (double)p->t[k].n);
}
