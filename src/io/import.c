/* import.c - weights from another tool (a PyTorch state_dict written as
 * safetensors) into a model, strictly: every model tensor must be in the
 * file with its shape, and every tensor of the file must belong to the
 * model, as torch's load_state_dict(strict=True). Nothing is copied until
 * the whole file has been matched, so a failed import leaves the model as
 * it was. */
#include "io.h"

#include "../core/error.h"
#include "../core/node.h" /* the graph's compiled flag */

#include <stdlib.h>
#include <string.h>

typedef struct slot {
    gg_param_info pi;
    int buffer;
    const float *src; /* matched file data, NULL until matched */
    const char *from; /* the file's name for it */
} slot;

static int cmp_slot(const void *a, const void *b)
{
    return strcmp(((const slot *)a)->pi.name, ((const slot *)b)->pi.name);
}

/* PyTorch's single-layer recurrent names: "lstm1.weight_ih_l0" is
 * gradguard's "lstm1.weight_ih". Writes the gradguard name into buf and
 * returns it, or returns name unchanged. */
static const char *canonical(const char *name, char *buf, size_t cap)
{
    static const char *const suffix[] = {".weight_ih_l0", ".weight_hh_l0", ".bias_ih_l0", ".bias_hh_l0"};
    size_t n = strlen(name);
    for (int i = 0; i < 4; i++) {
        size_t k = strlen(suffix[i]);
        if (n > k && n - 3 < cap && strcmp(name + n - k, suffix[i]) == 0) {
            memcpy(buf, name, n - 3);
            buf[n - 3] = 0;
            return buf;
        }
    }
    return name;
}

/* Tensors a PyTorch or gradguard file may hold that are not model weights. */
static int ignorable(const char *name, int checkpoint)
{
    const char *dot = strrchr(name, '.');
    if (strcmp(dot ? dot + 1 : name, "num_batches_tracked") == 0) return 1;
    return checkpoint && (strcmp(name, "optimizer.state") == 0 || strcmp(name, "early_stopping.params") == 0 ||
                          strcmp(name, "prune.mask") == 0);
}

static gg_status match(const gg_safetensors *st, const char *path, slot *s, int ns)
{
    const char *kind = gg_safetensors_meta(st, "gg_kind");
    int checkpoint = kind && strcmp(kind, "checkpoint") == 0;
    char buf[GG_NAME_MAX + 8], s1[64], s2[64];
    int nt = gg_safetensors_count(st);
    for (int i = 0; i < nt; i++) {
        const char *name;
        gg_shape sh;
        const float *data;
        gg_safetensors_get(st, i, &name, &sh, &data);
        slot key;
        key.pi.name = canonical(name, buf, sizeof buf);
        slot *hit = bsearch(&key, s, (size_t)ns, sizeof *s, cmp_slot);
        if (!hit) {
            if (ignorable(name, checkpoint)) continue;
            return gg_fail(GG_E_FORMAT, "%s: tensor '%s' %s is not in the model", path, name,
                           gg_shape_str(sh, s1, sizeof s1));
        }
        if (hit->src)
            return gg_fail(GG_E_FORMAT, "%s: tensors '%s' and '%s' are both the model's '%s'", path, hit->from, name,
                           hit->pi.name);
        int same = sh.ndim == hit->pi.shape.ndim;
        for (int k = 0; k < sh.ndim && same; k++) same = sh.d[k] == hit->pi.shape.d[k];
        if (!same)
            return gg_fail(GG_E_SHAPE, "%s: tensor '%s' has shape %s, the model's '%s' is %s", path, name,
                           gg_shape_str(sh, s1, sizeof s1), hit->pi.name, gg_shape_str(hit->pi.shape, s2, sizeof s2));
        hit->src = data;
        hit->from = name;
    }
    for (int i = 0; i < ns; i++)
        if (!s[i].src)
            return gg_fail(GG_E_FORMAT, "%s: the model's tensor '%s' %s is missing", path, s[i].pi.name,
                           gg_shape_str(s[i].pi.shape, s1, sizeof s1));
    return GG_OK;
}

gg_status gg_model_import(gg_graph *g, const char *path)
{
    if (!g || !path) return gg_fail(GG_E_ARG, "gg_model_import: %s is NULL", g ? "the path" : "the graph");
    if (!gg_graph_compiled(g))
        return gg_fail(GG_E_STATE, "gg_model_import: the graph is not compiled");
    int np = gg_graph_num_params(g), nb = gg_graph_num_buffers(g), ns = np + nb;
    slot *s = calloc((size_t)ns + 1, sizeof *s);
    if (!s) return gg_fail(GG_E_NOMEM, "importing %s: out of memory", path);
    for (int i = 0; i < ns; i++) {
        s[i].buffer = i >= np;
        if (i < np) gg_graph_param(g, i, &s[i].pi);
        else gg_graph_buffer(g, i - np, &s[i].pi);
    }
    qsort(s, (size_t)ns, sizeof *s, cmp_slot);
    gg_safetensors *st = NULL;
    gg_status r = gg_safetensors_open(path, &st);
    if (!r) r = match(st, path, s, ns);
    if (!r) {
        size_t n;
        float *p = gg_graph_params(g, &n), *b = gg_graph_buffers(g, &n);
        for (int i = 0; i < ns; i++)
            memcpy((s[i].buffer ? b : p) + s[i].pi.offset, s[i].src, s[i].pi.numel * sizeof(float));
    }
    gg_safetensors_close(st);
    free(s);
    return r;
}
