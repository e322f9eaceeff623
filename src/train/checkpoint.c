/* checkpoint.c - a run's full state in one safetensors file per checkpoint:
 * the model's parameters and buffers under their own names (so any
 * safetensors reader sees the weights), the optimizer's state arena as
 * "optimizer.state", and the trainer's position, schedule, guard and
 * early-stopping state in the metadata. checkpoints/ckpt-<step>.safetensors;
 * the newest keep_checkpoints are kept; each is written atomically, so the
 * previous one survives any failure while the next is written. */
#include "train.h"

#include "core/error.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define META_MAX 28

static int cmp_str_desc(const void *a, const void *b) { return strcmp(*(char *const *)b, *(char *const *)a); }

/* Names of checkpoint files in dir, newest first (names sort by step);
 * -1 (errno set) if dir cannot be opened. */
static int list_ckpts(const char *dir, char ***out)
{
    DIR *d = opendir(dir);
    *out = NULL;
    if (!d) return -1;
    int n = 0, cap = 0;
    char **v = NULL;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, "ckpt-", 5) != 0 || len < 17 || strcmp(e->d_name + len - 12, ".safetensors") != 0) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            char **nv = realloc(v, sizeof(char *) * (size_t)cap);
            if (!nv) break;
            v = nv;
        }
        v[n] = strdup(e->d_name);
        if (v[n]) n++;
    }
    closedir(d);
    if (n) qsort(v, (size_t)n, sizeof *v, cmp_str_desc);
    *out = v;
    return n;
}

static void free_list(char **v, int n)
{
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* The run a checkpoint belongs to, from its header alone: 1 and its run_id
 * ("" for one written before run ids), or 0 if the header is unreadable or
 * the file is not a checkpoint (resume then says what is wrong with it). */
static int ckpt_run(const char *path, char *id, size_t cap)
{
    gg_safetensors *st = NULL;
    if (gg_safetensors_open_header(path, &st)) return 0;
    const char *kind = gg_safetensors_meta(st, "gg_kind");
    const char *v = gg_safetensors_meta(st, "run_id");
    int ok = kind && strcmp(kind, "checkpoint") == 0;
    snprintf(id, cap, "%s", v ? v : "");
    gg_safetensors_close(st);
    return ok;
}

/* The model's tensor i: its parameters (0 .. np-1), then its buffers.
 * Fills *pi and returns where its values are. */
static float *model_tensor(gg_graph *g, int i, gg_param_info *pi)
{
    int np = gg_graph_num_params(g);
    size_t n;
    if (i < np) {
        gg_graph_param(g, i, pi);
        return gg_graph_params(g, &n) + pi->offset;
    }
    gg_graph_buffer(g, i - np, pi);
    return gg_graph_buffers(g, &n) + pi->offset;
}

/* The model's parameters, then its buffers, by name into e (room for
 * both); returns how many. */
static int model_tensors(gg_graph *g, gg_st_entry *e)
{
    int nt = gg_graph_num_params(g) + gg_graph_num_buffers(g);
    for (int i = 0; i < nt; i++) {
        gg_param_info pi;
        e[i].data = model_tensor(g, i, &pi);
        e[i].name = pi.name;
        e[i].shape = pi.shape;
    }
    return nt;
}

gg_status gg_model_save(gg_graph *g, const char *path)
{
    int np = gg_graph_num_params(g), nb = gg_graph_num_buffers(g);
    gg_st_entry *e = malloc(sizeof *e * (size_t)(np + nb + 1));
    if (!e) return gg_fail(GG_E_NOMEM, "saving %s: out of memory", path);
    model_tensors(g, e);
    const char *meta[2] = {"gg_kind", "model"};
    gg_status st = gg_safetensors_write(path, e, np + nb, meta, 1);
    free(e);
    return st;
}

/* Copies every model tensor from an open file, checking shapes, and with
 * finite_only that every value is finite. */
static gg_status load_model_from(gg_graph *g, const gg_safetensors *st, const char *path, int finite_only)
{
    int nt = gg_graph_num_params(g) + gg_graph_num_buffers(g);
    for (int i = 0; i < nt; i++) {
        gg_param_info pi;
        float *dst = model_tensor(g, i, &pi);
        gg_shape sh;
        const float *data;
        gg_status s = gg_safetensors_find(st, pi.name, &sh, &data);
        if (s) return gg_fail(s, "%s: the model's tensor '%s' is missing", path, pi.name);
        int same = sh.ndim == pi.shape.ndim;
        for (int k = 0; k < sh.ndim && same; k++) same = sh.d[k] == pi.shape.d[k];
        if (!same) {
            char s1[64], s2[64];
            return gg_fail(GG_E_SHAPE, "%s: tensor '%s' has shape %s, the model needs %s", path, pi.name,
                           gg_shape_str(sh, s1, sizeof s1), gg_shape_str(pi.shape, s2, sizeof s2));
        }
        for (size_t k = 0; finite_only && k < pi.numel; k++)
            if (!isfinite(data[k]))
                return gg_fail(GG_E_FORMAT, "%s: tensor '%s' element %zu is %g: a model with non-finite weights cannot "
                               "be used", path, pi.name, k, (double)data[k]);
        memcpy(dst, data, pi.numel * sizeof(float));
    }
    return GG_OK;
}

gg_status gg_model_load(gg_graph *g, const char *path)
{
    gg_safetensors *st = NULL;
    gg_status s = gg_safetensors_open(path, &st);
    if (s) return s;
    /* A model file for eval or sample comes from anywhere (no checksum is
     * required of other tools' files): refuse non-finite weights by name
     * instead of evaluating to a NaN loss. */
    s = load_model_from(g, st, path, 1);
    gg_safetensors_close(st);
    return s;
}

/* The checkpoint's tensors: the parameters and buffers by name, the
 * optimizer's state, early stopping's best weights and the pruning masks
 * (e has room for all); returns how many. */
static int ckpt_tensors(gg_trainer *t, gg_st_entry *e)
{
    gg_graph *g = t->g;
    int np = gg_graph_num_params(g), nb = gg_graph_num_buffers(g);
    size_t n, ns = 0;
    float *p = gg_graph_params(g, &n), *b = gg_graph_buffers(g, &n);
    int k = 0;
    for (int i = 0; i < np + nb; i++) {
        gg_param_info pi;
        if (i < np) gg_graph_param(g, i, &pi);
        else gg_graph_buffer(g, i - np, &pi);
        e[k].name = pi.name;
        e[k].shape = pi.shape;
        e[k].data = (i < np ? p : b) + pi.offset;
        k++;
    }
    float *os = gg_optim_state(t->o, &ns);
    if (ns > 0) {
        e[k].name = "optimizer.state";
        e[k].shape = gg_shape1((int)ns);
        e[k].data = os;
        k++;
    }
    size_t npar;
    gg_graph_params(g, &npar);
    if (t->best_params && t->s.es_patience > 0 && npar > 0) {
        e[k].name = "early_stopping.params";
        e[k].shape = gg_shape1((int)npar);
        e[k].data = t->best_params;
        k++;
    }
    size_t nmask = 0;
    float *mask = gg_pruner_masks(t->pr, &nmask);
    if (mask && nmask > 0) {
        /* pruning masks, parallel to the parameter arena */
        e[k].name = "prune.mask";
        e[k].shape = gg_shape1((int)nmask);
        e[k].data = mask;
        k++;
    }
    return k;
}

/* The checkpoint's numbers as metadata: keys in meta0[2 i], their text
 * (in vals) in meta0[2 i + 1]; returns how many. */
static int ckpt_numbers(const gg_trainer *t, char vals[][64], const char **meta0)
{
    int m = 0;
#define META(key, fmt, val)                                                                                            \
    do {                                                                                                               \
        snprintf(vals[m], sizeof vals[m], fmt, val);                                                                   \
        meta0[2 * m] = key;                                                                                            \
        meta0[2 * m + 1] = vals[m];                                                                                    \
        m++;                                                                                                           \
    } while (0)
    META("gg_kind", "%s", "checkpoint");
    if (t->run_id[0]) META("run_id", "%s", t->run_id);
    META("step", "%ld", t->pos.step);
    META("epoch", "%d", t->pos.epoch);
    META("batch", "%ld", t->pos.batch);
    META("optim_steps", "%llu", (unsigned long long)gg_optim_steps(t->o));
    gg_schedule_state ss = gg_schedule_save(&t->sched);
    META("plateau_scale", "%.17g", ss.plateau_scale);
    META("plateau_best", "%.17g", ss.best);
    META("plateau_bad", "%d", ss.bad_epochs);
    META("plateau_cooldown", "%d", ss.cooldown_left);
    META("plateau_seen", "%d", ss.seen);
    META("best_metric", "%.17g", t->best_metric);
    META("best_epoch", "%d", t->best_epoch);
    META("bad_epochs", "%d", t->bad_epochs);
    META("samples_seen", "%ld", t->samples_seen);
    META("wall_seconds", "%.17g", t->wall_seconds);
    META("val_loss", "%.17g", t->last_val_loss);
    META("val_acc", "%.17g", t->last_val_acc);
    META("train_loss", "%.17g", t->last_train_loss);
    META("train_acc", "%.17g", t->last_train_acc);
    META("first_loss", "%.17g", t->first_loss);
    META("max_loss", "%.17g", t->max_loss);
    META("nonfinite_steps", "%ld", t->nonfinite_steps);
    /* for the record only: any number of ranks can resume the run */
    META("world_size", "%d", t->world);
#undef META
    return m;
}

/* Keeps the newest train.keep_checkpoints of this run's checkpoints in dir;
 * other runs' files and unreadable ones are not this run's to delete. */
static void keep_newest(gg_trainer *t, const char *dir)
{
    char owner[GG_RUN_ID_MAX + 16];
    char **names;
    int nn = list_ckpts(dir, &names), kept = 0;
    for (int i = 0; i < nn; i++) {
        char old[GG_PATH_MAX + 320];
        snprintf(old, sizeof old, "%s/%s", dir, names[i]);
        if (!ckpt_run(old, owner, sizeof owner) || strcmp(owner, t->run_id) != 0) continue;
        if (++kept > t->s.keep_checkpoints) unlink(old);
    }
    free_list(names, nn);
}

gg_status gg_ckpt_save(gg_trainer *t)
{
    /* a run without a guard can go non-finite; a checkpoint of that would
     * push the last good one out of the kept set */
    if (!gg_train_params_finite(t)) {
        gg_runlog_info(t, "checkpoint_skipped", "the weights are not finite: the kept checkpoints stay as they are");
        return GG_OK;
    }
    gg_graph *g = t->g;
    int np = gg_graph_num_params(g), nb = gg_graph_num_buffers(g);
    gg_st_entry *e = malloc(sizeof *e * (size_t)(np + nb + 4));
    if (!e) return gg_fail(GG_E_NOMEM, "checkpoint: out of memory");
    int k = ckpt_tensors(t, e);
    /* metadata: every number as text, doubles with 17 digits */
    char vals[META_MAX][64];
    const char *meta0[2 * META_MAX];
    int m = ckpt_numbers(t, vals, meta0);
    /* the skipped-batch list, comma-separated, and the guard's state, one
     * metadata key per field ("guard.hist.ema_log_loss.mean", ...) */
    int ng = gg_guard_state_count(t->gd);
    size_t cap = 64 + 28 * (size_t)GG_MAX_BAD_BATCHES;
    char *bad = malloc(cap);
    char **gkey = calloc((size_t)ng + 1, sizeof *gkey), **gval = calloc((size_t)ng + 1, sizeof *gval);
    const char **meta = malloc(sizeof *meta * 2 * ((size_t)m + (size_t)ng + 2));
    gg_status st = bad && gkey && gval && meta ? GG_OK : gg_fail(GG_E_NOMEM, "checkpoint: out of memory");
    for (int i = 0; i < m && !st; i++) meta[2 * i] = meta0[2 * i], meta[2 * i + 1] = meta0[2 * i + 1];
    for (int i = 0; i < ng && !st; i++) {
        const char *name;
        int len = gg_guard_state_get(t->gd, i, &name, NULL, 0);
        gkey[i] = malloc(strlen(name) + 8);
        gval[i] = malloc((size_t)(len > 0 ? len : 0) + 1);
        if (len < 0 || !gkey[i] || !gval[i]) {
            st = gg_fail(GG_E_NOMEM, "checkpoint: out of memory for the guard's state");
            break;
        }
        snprintf(gkey[i], strlen(name) + 8, "guard.%s", name);
        gg_guard_state_get(t->gd, i, &name, gval[i], (size_t)len + 1);
        meta[2 * m] = gkey[i];
        meta[2 * m + 1] = gval[i];
        m++;
    }
    if (!st) {
        size_t o = 0;
        bad[0] = 0;
        for (int i = 0; i < t->nbad && o + 24 < cap; i++)
            o += (size_t)snprintf(bad + o, cap - o, i ? ",%llu" : "%llu", (unsigned long long)t->bad[i]);
        meta[2 * m] = "bad_batches";
        meta[2 * m + 1] = bad;
        m++;
    }
    char path[GG_PATH_MAX + 64], dir[GG_PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/checkpoints", t->run_dir);
    snprintf(path, sizeof path, "%s/ckpt-%010ld.safetensors", dir, t->pos.step);
    /* another run's checkpoint under this name stays (one of this run's,
     * or a damaged file, is replaced) */
    char owner[GG_RUN_ID_MAX + 16];
    int foreign = !st && access(path, F_OK) == 0 && ckpt_run(path, owner, sizeof owner) &&
                  strcmp(owner, t->run_id) != 0;
    if (!st && !foreign) st = gg_safetensors_write(path, e, k, meta, m);
    for (int i = 0; i < ng && gkey && gval; i++) {
        free(gkey[i]);
        free(gval[i]);
    }
    free(gkey);
    free(gval);
    free(meta);
    free(bad);
    free(e);
    if (st) return st;
    if (foreign) {
        snprintf(t->msg, sizeof t->msg, "checkpoint skipped: %.400s belongs to another run (run_id %.40s)", path,
                 owner[0] ? owner : "none");
        gg_runlog_info(t, "checkpoint_skipped", t->msg);
        gg_train_emit(t, GG_EV_INFO, t->msg);
        return GG_OK;
    }
    keep_newest(t, dir);
    t->last_ckpt_step = t->pos.step;
    snprintf(t->msg, sizeof t->msg, "checkpoint %.480s", path);
    gg_runlog_info(t, "checkpoint", path);
    return GG_OK;
}

static int meta_num(const gg_safetensors *st, const char *key, double *out)
{
    const char *v = gg_safetensors_meta(st, key);
    if (!v) return 0;
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (end == v || *end || errno == ERANGE) {
        /* "nan", "inf" parse fine with strtod; anything else is damage */
        return 0;
    }
    *out = d;
    return 1;
}

/* The guard's fields of a checkpoint, by name. A checkpoint of an earlier
 * version holds them as one positional list, "guard_state": its values map
 * to the names below (that list knew no windows; they start empty). */
static gg_status restore_guard(gg_guard *gd, const gg_safetensors *st, const char *path)
{
    static const char *const legacy[] = {
        "hist.ema_log_grad_norm.mean", "hist.ema_log_grad_norm.var", "hist.ema_log_grad_norm.n",
        "hist.ema_log_loss.mean",      "hist.ema_log_loss.var",      "hist.ema_log_loss.n",
        "hist.ema_clip_norm.mean",     "hist.ema_clip_norm.var",     "hist.ema_clip_norm.n",
        "memory.lr_scale",             "memory.good_since_backoff",  "memory.rollbacks_used",
        "hist.good_steps",             "hist.noise_t",               "memory.consecutive_skips",
        "memory.lr_ceiling",           "memory.last_failure",        "memory.noise_on",
        "hist.first_loss"};
    const char *old = gg_safetensors_meta(st, "guard_state");
    if (old && *old) {
        const char *c = old;
        for (int i = 0; i < (int)(sizeof legacy / sizeof legacy[0]) && *c; i++) {
            char num[64];
            size_t l = strcspn(c, ",");
            snprintf(num, sizeof num, "%.*s", (int)(l < 63 ? l : 63), c);
            gg_status s = gg_guard_state_set(gd, legacy[i], num);
            if (s) return gg_fail(s, "%s: %s", path, gg_errmsg());
            c += l + (c[l] == ',');
        }
        return GG_OK;
    }
    int n = gg_guard_state_count(gd);
    for (int i = 0; i < n; i++) {
        const char *name;
        char key[128];
        gg_guard_state_get(gd, i, &name, NULL, 0);
        snprintf(key, sizeof key, "guard.%s", name);
        const char *v = gg_safetensors_meta(st, key);
        /* a checkpoint of a run without the guard has none of them */
        if (!v) continue;
        gg_status s = gg_guard_state_set(gd, name, v);
        if (s) return gg_fail(s, "%s: %s", path, gg_errmsg());
    }
    return GG_OK;
}

static gg_status restore_from(gg_trainer *t, const char *path)
{
    gg_safetensors *st = NULL;
    gg_status s = gg_safetensors_open(path, &st);
    if (s) return s;
    const char *kind = gg_safetensors_meta(st, "gg_kind");
    if (!kind || strcmp(kind, "checkpoint") != 0) {
        gg_safetensors_close(st);
        return gg_fail(GG_E_FORMAT, "%s is not a gradguard checkpoint (no gg_kind: checkpoint in its metadata)", path);
    }
    s = load_model_from(t->g, st, path, 0);
    size_t ns = 0;
    float *os = gg_optim_state(t->o, &ns);
    if (!s && ns > 0) {
        gg_shape sh;
        const float *d;
        s = gg_safetensors_find(st, "optimizer.state", &sh, &d);
        if (!s && gg_shape_numel(sh) != ns)
            s = gg_fail(GG_E_SHAPE, "%s: optimizer.state has %zu values, this optimizer needs %zu", path,
                        gg_shape_numel(sh), ns);
        if (!s) memcpy(os, d, ns * sizeof(float));
    }
    if (!s && t->best_params) {
        gg_shape sh;
        const float *d;
        size_t np;
        gg_graph_params(t->g, &np);
        if (gg_safetensors_find(st, "early_stopping.params", &sh, &d) == GG_OK && gg_shape_numel(sh) == np)
            memcpy(t->best_params, d, np * sizeof(float));
    }
    size_t nmask = 0;
    float *mask = gg_pruner_masks(t->pr, &nmask);
    if (!s && mask) {
        /* a checkpoint from before pruning began has no masks: all kept */
        gg_shape sh;
        const float *d;
        if (gg_safetensors_find(st, "prune.mask", &sh, &d) == GG_OK) {
            if (gg_shape_numel(sh) != nmask)
                s = gg_fail(GG_E_SHAPE, "%s: prune.mask has %zu values, the model has %zu parameters", path,
                            gg_shape_numel(sh), nmask);
            else
                memcpy(mask, d, nmask * sizeof(float));
        }
        gg_pruner_sync(t->pr);
    }
    double v[21];
    static const char *const keys[21] = {"step", "epoch", "batch", "optim_steps", "plateau_scale", "plateau_best",
                                         "plateau_bad", "plateau_cooldown", "plateau_seen", "best_metric",
                                         "best_epoch", "bad_epochs", "samples_seen", "wall_seconds", "val_loss",
                                         "val_acc", "train_loss", "train_acc", "first_loss", "max_loss",
                                         "nonfinite_steps"};
    for (int i = 0; i < 21 && !s; i++)
        if (!meta_num(st, keys[i], &v[i]))
            s = gg_fail(GG_E_FORMAT, "%s: metadata '%s' is missing or not a number", path, keys[i]);
    if (!s) {
        t->pos.step = (long)v[0];
        t->pos.epoch = (int)v[1];
        t->pos.batch = (long)v[2];
        gg_optim_set_steps(t->o, (uint64_t)v[3]);
        gg_schedule_state ss = {v[4], v[5], (int)v[6], (int)v[7], (int)v[8]};
        gg_schedule_restore(&t->sched, &ss);
        t->best_metric = v[9];
        t->best_epoch = (int)v[10];
        t->bad_epochs = (int)v[11];
        t->samples_seen = (long)v[12];
        t->wall_seconds = v[13];
        t->last_val_loss = v[14];
        t->last_val_acc = v[15];
        t->last_train_loss = v[16];
        t->last_train_acc = v[17];
        t->first_loss = v[18];
        t->max_loss = v[19];
        t->nonfinite_steps = (long)v[20];
        if (t->pos.epoch < 0 || t->pos.step < 0 || t->pos.batch < 0)
            s = gg_fail(GG_E_FORMAT, "%s: negative position in the metadata", path);
    }
    if (!s && t->gd) s = restore_guard(t->gd, st, path);
    const char *bad = gg_safetensors_meta(st, "bad_batches");
    t->nbad = 0;
    if (!s && bad) {
        const char *c = bad;
        while (*c && t->nbad < GG_MAX_BAD_BATCHES) {
            char *end;
            unsigned long long x = strtoull(c, &end, 10);
            if (end == c) break;
            t->bad[t->nbad++] = x;
            c = *end == ',' ? end + 1 : end;
        }
    }
    gg_safetensors_close(st);
    return s;
}

gg_status gg_ckpt_load(gg_trainer *t, const char *path)
{
    gg_status st = restore_from(t, path);
    return st ? gg_fail(st, "resume: %s", gg_errmsg()) : GG_OK;
}

gg_status gg_ckpt_load_latest(gg_trainer *t, char *used, size_t cap)
{
    char dir[GG_PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/checkpoints", t->run_dir);
    char **names;
    int n = list_ckpts(dir, &names);
    if (n < 0 && errno == ENOTDIR)
        return gg_fail(GG_E_IO, "resume: %s is a file, not a directory: a run keeps its checkpoints in the directory "
                       "RUN_DIR/checkpoints/", dir);
    if (n < 0 && errno == ENOENT)
        return gg_fail(GG_E_IO, "resume: %s does not exist: %s holds no checkpoints (not a run directory, or a run "
                       "that stopped before its first checkpoint)", dir, t->run_dir);
    if (n < 0) return gg_fail(GG_E_IO, "resume: cannot read the checkpoint directory %s: %s", dir, strerror(errno));
    if (n == 0) return gg_fail(GG_E_IO, "resume: no checkpoint in %s", dir);
    char errs[1024] = "", foreign[700] = "";
    gg_status st = GG_E_FORMAT;
    int nforeign = 0, tried = 0;
    for (int i = 0; i < n; i++) {
        char path[GG_PATH_MAX + 320], owner[GG_RUN_ID_MAX + 16];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        /* another run's checkpoint is never loaded (nor touched) */
        if (ckpt_run(path, owner, sizeof owner) && strcmp(owner, t->run_id) != 0) {
            size_t l = strlen(foreign);
            snprintf(foreign + l, sizeof foreign - l, "%s%s (run_id %s)", l ? ", " : "", names[i],
                     owner[0] ? owner : "none");
            nforeign++;
            continue;
        }
        tried++;
        st = restore_from(t, path);
        if (!st) {
            snprintf(used, cap, "%s", path);
            if (errs[0]) {
                char m[1400];
                snprintf(m, sizeof m, "skipped unreadable newer checkpoint(s): %s", errs);
                gg_runlog_open(t, 1);
                gg_runlog_info(t, "checkpoint_fallback", m);
                gg_runlog_close(t);
                snprintf(t->msg, sizeof t->msg, "%.500s", m);
            }
            break;
        }
        size_t l = strlen(errs);
        snprintf(errs + l, sizeof errs - l, "%s%s", l ? "; " : "", gg_errmsg());
    }
    free_list(names, n);
    char mine[GG_RUN_ID_MAX + 32];
    if (t->run_id[0]) snprintf(mine, sizeof mine, "run_id %s", t->run_id);
    else snprintf(mine, sizeof mine, "no run_id");
    if (st && tried == 0)
        return gg_fail(GG_E_STATE, "resume: no checkpoint of this run (%s, from %s/run_id) in %s; left alone %d of "
                       "another run: %s", mine, t->run_dir, dir, nforeign, foreign);
    if (st)
        return gg_fail(st, "resume: no readable checkpoint in %s: %s%s%s", dir, errs,
                       nforeign ? "; left alone, of another run: " : "", foreign);
    if (nforeign)
        gg_rundir_note(t, "foreign_checkpoints", "left alone %d checkpoint(s) of another run in %s (this run: %s): %s",
                       nforeign, dir, mine, foreign);
    return GG_OK;
}
