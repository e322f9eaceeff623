/* idx.c - IDX files (MNIST, Fashion-MNIST), plain or gzip.
 *
 * Layout: magic (4 bytes: 0, 0, type, ndim), ndim big-endian u32 dims, then
 * the data in C order. gradguard reads unsigned bytes (type 0x08): images
 * 0x00000803 (n, rows, cols) and labels 0x00000801 (n). Both headers are
 * read and checked against each other and against the files' sizes before
 * the data is allocated. */
#include "data.h"
#include "../core/error.h"

#include <stdlib.h>
#include <string.h>

#define IDX_IMAGES 0x00000803u
#define IDX_LABELS 0x00000801u

typedef struct idx_head {
    int ndim;
    uint64_t dim[3];
    uint64_t bytes; /* of the data after the header */
} idx_head;

static const char *idx_type_name(unsigned t)
{
    switch (t) {
    case 0x08: return "uint8";
    case 0x09: return "int8";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    }
    return "unknown";
}

static gg_status read_head(gg_reader *r, uint32_t want, idx_head *h)
{
    const char *kind = want == IDX_IMAGES ? "image" : "label";
    unsigned char b[16];
    size_t got = 0;
    gg_status st = gg_reader_read(r, b, 4, &got);
    if (st) return st;
    if (got < 4)
        return gg_fail(GG_E_FORMAT, "%s: truncated: %zu bytes, too short for the 4-byte magic of an IDX %s file",
                       r->path, got, kind);
    uint32_t magic = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    if (magic != want) {
        char hint[96] = "";
        if (magic == IDX_LABELS || magic == IDX_IMAGES)
            snprintf(hint, sizeof hint, " (it is an IDX %s file)", magic == IDX_LABELS ? "label" : "image");
        else if (b[0] == 0 && b[1] == 0 && b[2] != 0x08)
            snprintf(hint, sizeof hint, " (IDX of %s elements; gradguard reads uint8 IDX files)", idx_type_name(b[2]));
        return gg_fail(GG_E_FORMAT, "%s: wrong magic 0x%08x at byte offset 0: an IDX %s file starts with 0x%08x%s",
                       r->path, (unsigned)magic, kind, (unsigned)want, hint);
    }
    h->ndim = b[3];
    st = gg_reader_read(r, b, 4 * (size_t)h->ndim, &got);
    if (st) return st;
    if (got < 4 * (size_t)h->ndim)
        return gg_fail(GG_E_FORMAT, "%s: truncated header: it ends at byte offset %llu, the %d dims need %d bytes",
                       r->path, (unsigned long long)r->pos, h->ndim, 4 + 4 * h->ndim);
    uint64_t total = 1;
    for (int i = 0; i < h->ndim; i++) {
        h->dim[i] = (uint64_t)b[4 * i] << 24 | (uint64_t)b[4 * i + 1] << 16 | (uint64_t)b[4 * i + 2] << 8 | b[4 * i + 3];
        if (h->dim[i] == 0)
            return gg_fail(GG_E_FORMAT, "%s: byte offset %d: dim %d is 0 (an IDX %s file with no data)", r->path,
                           4 + 4 * i, i, kind);
        if (!gg_mul_ok(total, h->dim[i], &total)) total = UINT64_MAX;
    }
    h->bytes = total;
    if (h->ndim == 3 && h->dim[1] * h->dim[2] > GG_DATA_MAX_DIM)
        return gg_fail(GG_E_FORMAT, "%s: byte offset 8: images of %llu x %llu pixels are over the limit of %llu "
                       "features per sample", r->path, (unsigned long long)h->dim[1], (unsigned long long)h->dim[2],
                       (unsigned long long)GG_DATA_MAX_DIM);
    return GG_OK;
}

gg_status gg_dataset_load_idx(gg_dataset *ds, const char *images, const char *labels)
{
    if (!ds) return gg_fail(GG_E_ARG, "gg_dataset_load_idx: NULL data set");
    memset(ds, 0, sizeof *ds);
    gg_reader ri, rl;
    memset(&rl, 0, sizeof rl);
    gg_status st = gg_reader_open(&ri, images);
    if (st) return st;
    idx_head hi, hl;
    uint8_t *img = NULL, *lab = NULL;
    char what[160];
    st = read_head(&ri, IDX_IMAGES, &hi);
    if (st) goto done;
    snprintf(what, sizeof what, "the header's %llu images of %llu x %llu", (unsigned long long)hi.dim[0],
             (unsigned long long)hi.dim[1], (unsigned long long)hi.dim[2]);
    st = gg_reader_check_claim(&ri, hi.bytes, what, 4, 1);
    if (st) goto done;
    if (labels) {
        st = gg_reader_open(&rl, labels);
        if (st) goto done;
        st = read_head(&rl, IDX_LABELS, &hl);
        if (st) goto done;
        if (hl.dim[0] != hi.dim[0]) {
            st = gg_fail(GG_E_FORMAT, "count mismatch: %s has %llu images but %s has %llu labels (byte offset 4 of each)",
                         images, (unsigned long long)hi.dim[0], labels, (unsigned long long)hl.dim[0]);
            goto done;
        }
        char lwhat[96];
        snprintf(lwhat, sizeof lwhat, "the header's %llu labels", (unsigned long long)hl.dim[0]);
        st = gg_reader_check_claim(&rl, hl.bytes, lwhat, 4, 1);
        if (st) goto done;
    }
    st = gg_reader_read_alloc(&ri, hi.bytes, what, 1, (void **)&img);
    if (st) goto done;
    if (labels) {
        st = gg_reader_read_alloc(&rl, hl.bytes, "the labels", 1, (void **)&lab);
        if (st) goto done;
        ds->labels = malloc(hl.bytes * sizeof(float));
        if (!ds->labels) {
            st = gg_fail(GG_E_NOMEM, "out of memory for the %llu labels of %s", (unsigned long long)hl.bytes, labels);
            goto done;
        }
        for (uint64_t i = 0; i < hl.bytes; i++) ds->labels[i] = lab[i];
        ds->label_per = 1;
    }
    ds->n = (size_t)hi.dim[0];
    ds->ndim = 2;
    ds->shape[0] = (int)hi.dim[1];
    ds->shape[1] = (int)hi.dim[2];
    ds->per = (size_t)(hi.dim[1] * hi.dim[2]);
    ds->u8 = img;
    img = NULL;
    ds->scale = 1.0f / 255.0f;
    snprintf(ds->source, sizeof ds->source, "%s", images);
    st = gg_dataset_finish(ds, labels ? labels : images);
done:
    free(img);
    free(lab);
    gg_reader_close(&ri);
    gg_reader_close(&rl);
    if (st) gg_dataset_free(ds);
    return st;
}
