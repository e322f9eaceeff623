/*
 * load.c - a run's data sets from its data section (gg_data_spec): the
 * training, validation and test sets of an IDX, CSV or .npy source, or a
 * synthetic task or text generated or cut into windows; the validation
 * split and the normalisation fitted on the training part.
 */
#include "data.h"

#include "core/error.h"
#include "core/file.h"

#include <string.h>

#define PATH_CAP 1024

/* An IDX pair from a directory (train-* or t10k-*, .gz or not), or from an
 * images file whose labels file is named alike. */
static gg_status idx_paths(const char *path, const char *labels, int test, char *img, char *lab)
{
    if (gg_path_is_dir(path)) {
        const char *pre = test ? "t10k" : "train";
        static const char *const ext[] = {".gz", ""};
        for (int i = 0; i < 2; i++) {
            snprintf(img, PATH_CAP, "%s/%s-images-idx3-ubyte%s", path, pre, ext[i]);
            snprintf(lab, PATH_CAP, "%s/%s-labels-idx1-ubyte%s", path, pre, ext[i]);
            if (gg_path_exists(img)) break;
        }
        if (!gg_path_exists(img))
            return gg_fail(GG_E_IO, "data.%s: no %s-images-idx3-ubyte[.gz] in directory %s%s", test ? "test" : "train",
                           pre, path,
                           strstr(path, "/usr/share/datasets") ? " (install the Debian package dataset-fashion-mnist)" : "");
    } else {
        if (!gg_path_exists(path))
            return gg_fail(GG_E_IO, "data.%s: %s does not exist%s", test ? "test" : "train", path,
                           strstr(path, "/usr/share/datasets") ? " (install the Debian package dataset-fashion-mnist)" : "");
        snprintf(img, PATH_CAP, "%s", path);
        if (labels && *labels) {
            snprintf(lab, PATH_CAP, "%s", labels);
        } else {
            const char *p = strstr(path, "images-idx3");
            if (!p)
                return gg_fail(GG_E_CONFIG, "data.%s_labels: give the labels file for %s", test ? "test" : "train", path);
            snprintf(lab, PATH_CAP, "%.*slabels-idx1%s", (int)(p - path), path, p + strlen("images-idx3"));
        }
    }
    return GG_OK;
}

static gg_status load_one(const gg_data_spec *s, int test, gg_dataset *d)
{
    const char *path = test ? s->test_path : s->train_path;
    const char *labels = test ? s->test_labels : s->train_labels;
    if (strcmp(s->format, "idx") == 0) {
        char img[PATH_CAP], lab[PATH_CAP];
        gg_status st = idx_paths(path, labels, test, img, lab);
        if (st) return st;
        return gg_dataset_load_idx(d, img, lab);
    }
    if (strcmp(s->format, "csv") == 0)
        return gg_dataset_load_csv(d, path, s->label_col[0] ? s->label_col : "-1", s->csv_header);
    return gg_dataset_load_npy(d, path, labels[0] ? labels : NULL);
}

static void limit(gg_dataset *d, long n)
{
    if (n > 0 && (size_t)n < d->n) d->n = (size_t)n;
}

/* Text, cut into windows of `length` bytes every `stride`; the last
 * val_fraction of the text validates. */
static gg_status load_text(const gg_data_spec *s, gg_data_sets *o)
{
    gg_status st;
    if ((st = gg_text_load(s->train_path, o->text))) return st;
    size_t stride = s->stride > 0 ? (size_t)s->stride : (size_t)s->length;
    double vf = s->val_fraction;
    if ((st = gg_text_dataset(*o->text, s->length, stride, 0, 1 - vf, o->train))) return st;
    if (vf > 0) {
        if ((st = gg_text_dataset(*o->text, s->length, stride, 1 - vf, 1, o->val))) return st;
        *o->have_val = o->val->n > 0;
    }
    limit(o->train, s->limit_train);
    return GG_OK;
}

/* The adding problem or the temporal-order task, generated from the seed. */
static gg_status load_synthetic(const gg_data_spec *s, gg_data_sets *o)
{
    gg_status st;
    int adding = strcmp(s->format, "adding") == 0;
    uint64_t seed = s->seed * 0x9e3779b97f4a7c15ull;
    st = adding ? gg_dataset_adding(o->train, (size_t)s->train_size, s->length, s->variant, seed)
                : gg_dataset_temporal_order(o->train, (size_t)s->train_size, s->length, seed);
    if (st) return st;
    limit(o->train, s->limit_train);
    if (s->val_fraction > 0) {
        size_t nv = s->test_size > 0 ? (size_t)s->test_size / 5 : 2000;
        if (nv < 100) nv = 100;
        st = adding ? gg_dataset_adding(o->val, nv, s->length, s->variant, seed + 1)
                    : gg_dataset_temporal_order(o->val, nv, s->length, seed + 1);
        if (st) return st;
        *o->have_val = 1;
    }
    if (s->test_size > 0 && s->test_path[0]) {
        st = adding ? gg_dataset_adding(o->test, (size_t)s->test_size, s->length, s->variant, seed + 2)
                    : gg_dataset_temporal_order(o->test, (size_t)s->test_size, s->length, seed + 2);
        if (st) return st;
        limit(o->test, s->limit_test);
        *o->have_test = 1;
    }
    return GG_OK;
}

/* A data set read from files: the training file split into training and
 * validation, the test file checked against it, the normalisation's
 * statistics taken from the training part and applied to all. */
static gg_status load_files(const gg_data_spec *s, gg_data_sets *o)
{
    gg_dataset all;
    memset(&all, 0, sizeof all);
    gg_status st = load_one(s, 0, &all);
    if (st) return st;
    limit(&all, s->limit_train);
    if (s->val_fraction > 0 && all.n >= 10) {
        st = gg_dataset_split(&all, s->val_fraction, s->seed ^ 0x5eed5eedull, o->train, o->val);
        gg_dataset_free(&all);
        if (st) return st;
        *o->have_val = o->val->n > 0;
    } else {
        *o->train = all;
    }
    if (s->test_path[0]) {
        st = load_one(s, 1, o->test);
        if (st) return st;
        limit(o->test, s->limit_test);
        *o->have_test = 1;
        if (o->test->per != o->train->per)
            return gg_fail(GG_E_FORMAT, "the test set %s has %zu features per sample, the training set %s has %zu",
                           o->test->source, o->test->per, o->train->source, o->train->per);
        if (o->test->num_classes > o->train->num_classes) o->train->num_classes = o->test->num_classes;
    }
    if (*o->have_val && o->val->num_classes > o->train->num_classes) o->train->num_classes = o->val->num_classes;
    if (s->normalize == GG_NORMALIZE_NONE) {
        o->train->scale = 1;
    } else if (s->normalize == GG_NORMALIZE_STANDARDIZE) {
        gg_dataset_standardize(o->train);
    }
    gg_dataset *others[2] = {o->val, o->test};
    for (int i = 0; i < 2; i++) {
        others[i]->scale = o->train->scale;
        others[i]->mean = o->train->mean;
        others[i]->std = o->train->std;
    }
    if (o->train->n == 0) return gg_fail(GG_E_FORMAT, "the training set %s is empty", o->train->source);
    return GG_OK;
}

gg_status gg_data_load_for(const gg_data_spec *s, gg_data_sets *o)
{
    int text = strcmp(s->format, "text") == 0;
    if (!text && strcmp(s->format, "adding") != 0 && strcmp(s->format, "temporal_order") != 0) return load_files(s, o);
    gg_status st = text ? load_text(s, o) : load_synthetic(s, o);
    if (st) return st;
    o->train->scale = 1;
    o->val->scale = o->test->scale = 1;
    return GG_OK;
}
