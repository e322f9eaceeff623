/* test_seqdata.c - data for sequence models: the adding problem (both
 * variants) and the temporal order problem checked sample by sample against
 * their definitions, their statistics and determinism; byte-level texts
 * (vocabulary, windows and next-byte labels, contiguous splits, refusals
 * naming the file, vocabulary files, a directory read as one text); and,
 * when installed, a real licence text and Debian's fortunes. */
#include "gradguard.h"
#include "fixture.h"
#include "gt.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* The call failed with status want and its message holds every one of the
 * NULL-terminated strings. */
static void expect_fail_(int line, gg_status got, gg_status want, ...)
{
    const char *msg = gg_errmsg();
    GT_CHECK(got == want, "line %d: status %d (want %d): %s", line, (int)got, (int)want, msg);
    va_list ap;
    va_start(ap, want);
    for (const char *s; (s = va_arg(ap, const char *));)
        GT_CHECK(strstr(msg, s) != NULL, "line %d: message lacks '%s': %s", line, s, msg);
    va_end(ap);
}
#define EXPECT_FAIL(call, want, ...) expect_fail_(__LINE__, (call), (want), __VA_ARGS__, (const char *)NULL)

static int is_empty(const gg_dataset *ds) { return ds->n == 0 && !ds->f32 && !ds->u8 && !ds->labels; }

/* ---- the adding problem ---- */

static void test_adding_uniform(void)
{
    const int T = 50;
    const size_t n = 2000;
    gg_dataset ds;
    GT_OK(gg_dataset_adding(&ds, n, T, GG_ADDING_UNIFORM, 7));
    GT_CHECK(ds.n == n && ds.ndim == 2 && ds.shape[0] == T && ds.shape[1] == 2 && ds.per == (size_t)(2 * T),
             "shape n %zu ndim %d (%d, %d) per %zu", ds.n, ds.ndim, ds.shape[0], ds.shape[1], ds.per);
    GT_CHECK(ds.f32 && !ds.u8 && ds.labels && ds.label_per == 1 && ds.num_classes == 0,
             "storage f32 %p u8 %p labels %p label_per %d num_classes %d", (void *)ds.f32, (void *)ds.u8,
             (void *)ds.labels, ds.label_per, ds.num_classes);
    GT_CHECK(ds.scale == 1 && ds.mean == 0 && ds.std == 1, "normalisation %g %g %g", ds.scale, ds.mean, ds.std);
    int bad_markers = 0, bad_halves = 0, bad_values = 0, bad_target = 0;
    int pmin[2] = {T, T}, pmax[2] = {-1, -1};
    for (size_t i = 0; i < n; i++) {
        const float *x = ds.f32 + i * ds.per;
        int pos[2], k = 0;
        for (int t = 0; t < T; t++) {
            float v = x[2 * t], m = x[2 * t + 1];
            if (!(v >= 0 && v < 1)) bad_values++;
            if (m == 1) {
                if (k < 2) pos[k] = t;
                k++;
            } else if (m != 0)
                bad_markers++;
        }
        if (k != 2) {
            bad_markers++;
            continue;
        }
        if (!(pos[0] < T / 2 && pos[1] >= T / 2)) bad_halves++;
        for (int j = 0; j < 2; j++) {
            if (pos[j] < pmin[j]) pmin[j] = pos[j];
            if (pos[j] > pmax[j]) pmax[j] = pos[j];
        }
        float want = x[2 * pos[0]] + x[2 * pos[1]];
        if (ds.labels[i] != want) bad_target++;
    }
    GT_CHECK(bad_markers == 0, "%d samples without exactly two markers of 1 (others 0)", bad_markers);
    GT_CHECK(bad_halves == 0, "%d samples with markers not one per half", bad_halves);
    GT_CHECK(bad_values == 0, "%d values outside [0, 1)", bad_values);
    GT_CHECK(bad_target == 0, "%d targets that are not the sum of the marked values", bad_target);
    /* over 2000 samples each of the 25 positions of a half is hit */
    GT_CHECK(pmin[0] == 0 && pmax[0] == T / 2 - 1 && pmin[1] == T / 2 && pmax[1] == T - 1,
             "marker ranges [%d, %d] and [%d, %d]", pmin[0], pmax[0], pmin[1], pmax[1]);

    /* determinism: the same seed gives the same set, a prefix for a smaller n,
     * and another seed another set */
    gg_dataset a, b;
    GT_OK(gg_dataset_adding(&a, n, T, GG_ADDING_UNIFORM, 7));
    GT_OK(gg_dataset_adding(&b, 10, T, GG_ADDING_UNIFORM, 7));
    GT_CHECK(memcmp(a.f32, ds.f32, n * ds.per * sizeof(float)) == 0 &&
                 memcmp(a.labels, ds.labels, n * sizeof(float)) == 0,
             "same seed, different data");
    GT_CHECK(memcmp(b.f32, ds.f32, 10 * ds.per * sizeof(float)) == 0 &&
                 memcmp(b.labels, ds.labels, 10 * sizeof(float)) == 0,
             "sample i depends on n");
    gg_dataset_free(&a);
    GT_OK(gg_dataset_adding(&a, n, T, GG_ADDING_UNIFORM, 8));
    GT_CHECK(memcmp(a.f32, ds.f32, n * ds.per * sizeof(float)) != 0, "another seed, the same data");
    gg_dataset_free(&a);
    gg_dataset_free(&b);
    gg_dataset_free(&ds);

    /* predicting the mean 1 scores the variance of a sum of two U(0, 1), 1/6;
     * the estimate's standard error over 20000 samples is 0.0014 */
    const size_t big = 20000;
    GT_OK(gg_dataset_adding(&ds, big, 10, GG_ADDING_UNIFORM, 123));
    double mean = 0, mse = 0;
    for (size_t i = 0; i < big; i++) {
        mean += ds.labels[i];
        mse += (ds.labels[i] - 1.0) * (ds.labels[i] - 1.0);
    }
    mean /= (double)big;
    mse /= (double)big;
    printf("adding problem A, T 10: mean target %.4f, MSE of predicting 1: %.4f (1/6 = 0.1667)\n", mean, mse);
    GT_NEAR(mean, 1.0, 0, 0.01, "mean target");
    GT_NEAR(mse, 1.0 / 6.0, 0, 0.007, "MSE of predicting the mean");
    /* this set is made on several threads, a set of 10 on one: same samples */
    GT_OK(gg_dataset_adding(&b, 10, 10, GG_ADDING_UNIFORM, 123));
    GT_CHECK(memcmp(b.f32, ds.f32, 10 * b.per * sizeof(float)) == 0 &&
                 memcmp(b.labels, ds.labels, 10 * sizeof(float)) == 0,
             "threaded and serial sets differ");
    gg_dataset_free(&b);
    gg_dataset_free(&ds);

    /* the shortest sequences: T 2 puts one marker on each step; T 3 has
     * halves [0, 1) and [1, 3) */
    GT_OK(gg_dataset_adding(&ds, 50, 2, GG_ADDING_UNIFORM, 1));
    int ok = 1;
    for (size_t i = 0; i < ds.n; i++) {
        const float *x = ds.f32 + i * 4;
        ok &= x[1] == 1 && x[3] == 1 && ds.labels[i] == x[0] + x[2];
    }
    GT_CHECK(ok, "T 2: both steps marked, target their sum");
    gg_dataset_free(&ds);
    GT_OK(gg_dataset_adding(&ds, 200, 3, GG_ADDING_UNIFORM, 1));
    ok = 1;
    int seen[3] = {0, 0, 0};
    for (size_t i = 0; i < ds.n; i++) {
        const float *x = ds.f32 + i * 6;
        ok &= x[1] == 1 && x[3] + x[5] == 1;
        for (int t = 0; t < 3; t++) seen[t] += x[2 * t + 1] == 1;
    }
    GT_CHECK(ok && seen[0] == 200 && seen[1] > 50 && seen[2] > 50, "T 3: markers at 0 and in 1..2 (%d %d %d)",
             seen[0], seen[1], seen[2]);
    gg_dataset_free(&ds);
}

static void test_adding_original(void)
{
    const int T = 30;
    const size_t n = 5000;
    gg_dataset ds;
    GT_OK(gg_dataset_adding(&ds, n, T, GG_ADDING_ORIGINAL, 11));
    GT_CHECK(ds.n == n && ds.shape[0] == T && ds.shape[1] == 2 && ds.label_per == 1 && ds.num_classes == 0,
             "shape (%d, %d), label_per %d, num_classes %d", ds.shape[0], ds.shape[1], ds.label_per, ds.num_classes);
    int bad_markers = 0, bad_pos = 0, bad_ends = 0, bad_values = 0, bad_target = 0, first_marked = 0;
    int pmax = -1;
    double tmin = 1, tmax = 0;
    for (size_t i = 0; i < n; i++) {
        const float *x = ds.f32 + i * ds.per;
        int pos[2], k = 0;
        for (int t = 0; t < T; t++) {
            float v = x[2 * t], m = x[2 * t + 1];
            if (!(v >= -1 && v < 1)) bad_values++;
            if (m == 1) {
                if (k < 2) pos[k] = t;
                k++;
            } else if (m == -1) {
                if (t != 0 && t != T - 1) bad_ends++;
            } else if (m != 0)
                bad_markers++;
        }
        if (k != 2) {
            bad_markers++;
            continue;
        }
        /* one marker in the first 10 steps, both in the first half */
        if (!(pos[0] < 10 && pos[1] < T / 2)) bad_pos++;
        if (pos[1] > pmax) pmax = pos[1];
        if (x[2 * (T - 1) + 1] != -1) bad_ends++;
        if (pos[0] == 0) {
            first_marked++;
            if (x[0] != 0) bad_values++; /* a marked first step has value 0 */
        } else if (x[1] != -1)
            bad_ends++;
        float want = 0.5f + (x[2 * pos[0]] + x[2 * pos[1]]) / 4.0f;
        if (fabsf(ds.labels[i] - want) > 1e-7f) bad_target++;
        if (ds.labels[i] < tmin) tmin = ds.labels[i];
        if (ds.labels[i] > tmax) tmax = ds.labels[i];
    }
    GT_CHECK(bad_markers == 0, "%d samples without exactly two markers of 1", bad_markers);
    GT_CHECK(bad_pos == 0, "%d samples with markers outside the first 10 steps / the first half", bad_pos);
    GT_CHECK(bad_ends == 0, "%d samples with a -1 marker misplaced or missing", bad_ends);
    GT_CHECK(bad_values == 0, "%d values outside [-1, 1) or a marked first step not 0", bad_values);
    GT_CHECK(bad_target == 0, "%d targets not 0.5 + (x1 + x2) / 4", bad_target);
    /* the first step is marked with probability 1/10 + (9/10) / (T/2 - 1) =
     * 0.164: 821 expected, standard deviation 26 */
    GT_CHECK(first_marked > 700 && first_marked < 950, "first step marked %d times in %zu", first_marked, n);
    GT_CHECK(pmax == T / 2 - 1, "second marker reaches step %d (want %d)", pmax, T / 2 - 1);
    GT_CHECK(tmin >= 0 && tmax <= 1 && tmin < 0.1 && tmax > 0.9, "targets in [%g, %g]", tmin, tmax);
    gg_dataset_free(&ds);
    GT_OK(gg_dataset_adding(&ds, 3, 20, GG_ADDING_ORIGINAL, 11)); /* the shortest allowed */
    gg_dataset_free(&ds);
}

static void test_adding_args(void)
{
    gg_dataset ds;
    EXPECT_FAIL(gg_dataset_adding(&ds, 10, 1, GG_ADDING_UNIFORM, 1), GG_E_ARG, "T = 1", "at least 2");
    GT_CHECK(is_empty(&ds), "failed call left data");
    EXPECT_FAIL(gg_dataset_adding(&ds, 10, 19, GG_ADDING_ORIGINAL, 1), GG_E_ARG, "variant B", "T = 19",
                "at least 20");
    EXPECT_FAIL(gg_dataset_adding(&ds, 0, 10, GG_ADDING_UNIFORM, 1), GG_E_ARG, "n = 0");
    EXPECT_FAIL(gg_dataset_adding(&ds, 10, 10, 2, 1), GG_E_ARG, "unknown variant 2");
    EXPECT_FAIL(gg_dataset_adding(NULL, 10, 10, 0, 1), GG_E_ARG, "NULL");
    /* refused before anything is allocated */
    EXPECT_FAIL(gg_dataset_adding(&ds, (size_t)1 << 40, 100, GG_ADDING_UNIFORM, 1), GG_E_NOMEM, "over the limit");
    EXPECT_FAIL(gg_dataset_adding(&ds, SIZE_MAX, 100, GG_ADDING_UNIFORM, 1), GG_E_NOMEM, "over the limit");
    GT_CHECK(is_empty(&ds), "failed call left data");
}

/* ---- the temporal order problem ---- */

static void test_temporal(void)
{
    const int T = 40, V = GG_TEMPORAL_VOCAB;
    const size_t n = 3000;
    gg_dataset ds;
    GT_OK(gg_dataset_temporal_order(&ds, n, T, 5));
    GT_CHECK(ds.n == n && ds.ndim == 2 && ds.shape[0] == T && ds.shape[1] == 8 && ds.per == (size_t)(T * 8) &&
                 ds.label_per == 1 && ds.num_classes == 4 && ds.f32 && !ds.u8,
             "shape (%d, %d), label_per %d, num_classes %d", ds.shape[0], ds.shape[1], ds.label_per, ds.num_classes);
    int bad_onehot = 0, bad_ends = 0, bad_count = 0, bad_pos = 0, bad_class = 0;
    int cls[4] = {0}, distract[4] = {0};
    int pmin[2] = {T, T}, pmax[2] = {-1, -1};
    for (size_t i = 0; i < n; i++) {
        const float *x = ds.f32 + i * ds.per;
        int sym[T], pos[2], rel[2], k = 0;
        for (int t = 0; t < T; t++) {
            int ones = 0, zeros = 0;
            sym[t] = -1;
            for (int v = 0; v < V; v++) {
                if (x[t * V + v] == 1) {
                    ones++;
                    sym[t] = v;
                } else if (x[t * V + v] == 0)
                    zeros++;
            }
            if (ones != 1 || zeros != V - 1) {
                bad_onehot++;
                break;
            }
        }
        if (sym[T - 1] < 0) continue;
        if (sym[0] != GG_TEMPORAL_E || sym[T - 1] != GG_TEMPORAL_B) bad_ends++;
        for (int t = 1; t < T - 1; t++) {
            if (sym[t] == GG_TEMPORAL_X || sym[t] == GG_TEMPORAL_Y) {
                if (k < 2) {
                    pos[k] = t;
                    rel[k] = sym[t] == GG_TEMPORAL_Y;
                }
                k++;
            } else if (sym[t] >= 0 && sym[t] < 4)
                distract[sym[t]]++;
            else
                bad_ends++; /* E or B inside */
        }
        if (k != 2) {
            bad_count++;
            continue;
        }
        /* windows [T/10, 2T/10] = [4, 8] and [T/2, 6T/10] = [20, 24] */
        if (!(pos[0] >= 4 && pos[0] <= 8 && pos[1] >= 20 && pos[1] <= 24)) bad_pos++;
        for (int j = 0; j < 2; j++) {
            if (pos[j] < pmin[j]) pmin[j] = pos[j];
            if (pos[j] > pmax[j]) pmax[j] = pos[j];
        }
        int want = 2 * rel[0] + rel[1]; /* XX 0, XY 1, YX 2, YY 3 */
        if (ds.labels[i] != (float)want) bad_class++;
        cls[want]++;
    }
    GT_CHECK(bad_onehot == 0, "%d samples with a row that is not one-hot", bad_onehot);
    GT_CHECK(bad_ends == 0, "%d samples not starting with E and ending with B", bad_ends);
    GT_CHECK(bad_count == 0, "%d samples without exactly two X/Y", bad_count);
    GT_CHECK(bad_pos == 0, "%d samples with X/Y outside their windows", bad_pos);
    GT_CHECK(bad_class == 0, "%d labels not the class of the order", bad_class);
    GT_CHECK(pmin[0] == 4 && pmax[0] == 8 && pmin[1] == 20 && pmax[1] == 24, "positions [%d, %d] and [%d, %d]",
             pmin[0], pmax[0], pmin[1], pmax[1]);
    /* 750 expected per class; 4.5 standard deviations is 107 */
    for (int c = 0; c < 4; c++) GT_CHECK(cls[c] > 640 && cls[c] < 860, "class %d: %d of %zu", c, cls[c], n);
    for (int s = 0; s < 4; s++) GT_CHECK(distract[s] > 25000, "distractor %d: %d", s, distract[s]);

    gg_dataset a;
    GT_OK(gg_dataset_temporal_order(&a, n, T, 5));
    GT_CHECK(memcmp(a.f32, ds.f32, n * ds.per * sizeof(float)) == 0 &&
                 memcmp(a.labels, ds.labels, n * sizeof(float)) == 0,
             "same seed, different data");
    gg_dataset_free(&a);
    GT_OK(gg_dataset_temporal_order(&a, 10, T, 5)); /* made on one thread */
    GT_CHECK(memcmp(a.f32, ds.f32, 10 * ds.per * sizeof(float)) == 0 &&
                 memcmp(a.labels, ds.labels, 10 * sizeof(float)) == 0,
             "threaded and serial sets differ");
    gg_dataset_free(&a);
    GT_OK(gg_dataset_temporal_order(&a, n, T, 6));
    GT_CHECK(memcmp(a.labels, ds.labels, n * sizeof(float)) != 0, "another seed, the same labels");
    gg_dataset_free(&a);
    gg_dataset_free(&ds);

    /* at T 100 the windows are the paper's 10..20 and 50..60 */
    GT_OK(gg_dataset_temporal_order(&ds, 2000, 100, 9));
    int lo[2] = {100, 100}, hi[2] = {-1, -1};
    for (size_t i = 0; i < ds.n; i++) {
        int k = 0;
        for (int t = 0; t < 100 && k < 2; t++) {
            const float *row = ds.f32 + i * ds.per + (size_t)t * 8;
            if (row[GG_TEMPORAL_X] == 1 || row[GG_TEMPORAL_Y] == 1) {
                if (t < lo[k]) lo[k] = t;
                if (t > hi[k]) hi[k] = t;
                k++;
            }
        }
    }
    GT_CHECK(lo[0] == 10 && hi[0] == 20 && lo[1] == 50 && hi[1] == 60, "T 100: [%d, %d] and [%d, %d]", lo[0], hi[0],
             lo[1], hi[1]);
    gg_dataset_free(&ds);

    GT_OK(gg_dataset_temporal_order(&ds, 5, GG_TEMPORAL_MIN_T, 1));
    gg_dataset_free(&ds);
    EXPECT_FAIL(gg_dataset_temporal_order(&ds, 5, GG_TEMPORAL_MIN_T - 1, 1), GG_E_ARG, "T = 9", "at least 10");
    GT_CHECK(is_empty(&ds), "failed call left data");
    EXPECT_FAIL(gg_dataset_temporal_order(&ds, 0, 50, 1), GG_E_ARG, "n = 0");
    EXPECT_FAIL(gg_dataset_temporal_order(&ds, (size_t)1 << 36, 100, 1), GG_E_NOMEM, "over the limit");
}

/* ---- texts ---- */

static const char TEXT[] = "the quick brown fox jumps over the lazy dog.\n"
                           "caf\xc3\xa9 na\xc3\xafve: \"quoted\" (and 12 digits 345678901)\n"
                           "last line without a newline";

static void test_text_load(void)
{
    const size_t L = sizeof TEXT - 1;
    write_file("a.txt", TEXT, L);
    gg_text *tx = NULL;
    GT_OK(gg_text_load(path_of("a.txt"), &tx));
    if (!tx) return;
    GT_CHECK(gg_text_size(tx) == L, "size %zu, want %zu", gg_text_size(tx), L);
    GT_CHECK(gg_text_utf8_error(tx) == -1, "valid UTF-8 reported invalid at %lld", gg_text_utf8_error(tx));
    /* the vocabulary: exactly the bytes that occur, increasing */
    int present[256] = {0}, want_v = 0;
    for (size_t i = 0; i < L; i++) present[(unsigned char)TEXT[i]] = 1;
    for (int b = 0; b < 256; b++) want_v += present[b];
    int V = gg_text_vocab_size(tx);
    GT_CHECK(V == want_v, "vocab %d, want %d", V, want_v);
    int sorted = 1, complete = 1;
    for (int id = 1; id < V; id++) sorted &= gg_text_byte(tx, id) > gg_text_byte(tx, id - 1);
    for (int b = 0; b < 256; b++) {
        int id = gg_text_id(tx, (unsigned char)b);
        if (present[b])
            complete &= id >= 0 && id < V && gg_text_byte(tx, id) == b;
        else
            complete &= id == -1;
    }
    GT_CHECK(sorted, "vocabulary not increasing");
    GT_CHECK(complete, "byte <-> id maps wrong");
    GT_CHECK(gg_text_byte(tx, 0) == '\n' && gg_text_byte(tx, 1) == ' ', "lowest bytes %02x %02x",
             gg_text_byte(tx, 0), gg_text_byte(tx, 1));
    GT_CHECK(gg_text_byte(tx, V - 1) == 0xc3 && gg_text_byte(tx, V - 2) == 0xaf, "highest bytes %02x %02x",
             gg_text_byte(tx, V - 1), gg_text_byte(tx, V - 2));
    GT_CHECK(gg_text_byte(tx, -1) == 0 && gg_text_byte(tx, V) == 0, "out-of-range ids give 0");
    GT_CHECK(gg_text_vocab_size(NULL) == 0 && gg_text_id(NULL, 'a') == -1 && gg_text_size(NULL) == 0,
             "NULL text accessors");

    /* windows of T = 5 every 3 bytes over the whole text */
    const int T = 5;
    gg_dataset ds;
    GT_OK(gg_text_dataset(tx, T, 3, 0, 1, &ds));
    size_t k = (L - (T + 1)) / 3 + 1;
    GT_CHECK(ds.n == k && ds.ndim == 1 && ds.shape[0] == T && ds.per == (size_t)T && ds.label_per == T &&
                 ds.num_classes == V && ds.f32 && !ds.u8 && ds.labels,
             "n %zu (want %zu), shape (%d), label_per %d, num_classes %d", ds.n, k, ds.shape[0], ds.label_per,
             ds.num_classes);
    int bad = 0;
    for (size_t w = 0; w < ds.n; w++)
        for (int j = 0; j < T; j++) {
            size_t at = 3 * w + (size_t)j;
            bad += ds.f32[w * T + j] != (float)gg_text_id(tx, (unsigned char)TEXT[at]);
            bad += ds.labels[w * T + j] != (float)gg_text_id(tx, (unsigned char)TEXT[at + 1]);
        }
    GT_CHECK(bad == 0, "%d window ids or next-byte labels wrong", bad);
    /* the last window ends within the text and the next would not */
    GT_CHECK(3 * (k - 1) + T + 1 <= L && 3 * k + T + 1 > L, "window count");
    GT_OK(gg_dataset_check_classes(&(gg_dataset){.n = 1, .labels = ds.labels, .label_per = 1, .source = "x"}, V));
    gg_dataset_free(&ds);

    /* contiguous split: [0, 0.6) and [0.6, 1) with stride 1 share no byte,
     * and together they make every window that does not straddle the cut */
    gg_dataset tr, va;
    GT_OK(gg_text_dataset(tx, T, 1, 0, 0.6, &tr));
    GT_OK(gg_text_dataset(tx, T, 1, 0.6, 1, &va));
    size_t cut = (size_t)(0.6 * (double)L);
    GT_CHECK(tr.n == cut - T && va.n == L - cut - T, "split sizes %zu + %zu (cut at %zu of %zu)", tr.n, va.n, cut, L);
    bad = 0;
    for (size_t w = 0; w < tr.n; w++)
        for (int j = 0; j < T; j++)
            bad += tr.labels[w * T + j] != (float)gg_text_id(tx, (unsigned char)TEXT[w + j + 1]);
    for (size_t w = 0; w < va.n; w++)
        for (int j = 0; j < T; j++)
            bad += va.f32[w * T + j] != (float)gg_text_id(tx, (unsigned char)TEXT[cut + w + j]);
    GT_CHECK(bad == 0, "%d split ids wrong", bad);
    /* the last training label is the byte just before the cut */
    GT_CHECK(tr.labels[tr.n * T - 1] == (float)gg_text_id(tx, (unsigned char)TEXT[cut - 1]), "last training label");
    GT_CHECK(va.num_classes == V && tr.num_classes == V, "parts share num_classes %d %d", tr.num_classes,
             va.num_classes);
    char want_src[64];
    snprintf(want_src, sizeof want_src, "[bytes %zu..%zu)", cut, L);
    GT_CHECK(strstr(va.source, "a.txt") && strstr(va.source, want_src), "source '%s'", va.source);
    gg_dataset_free(&tr);
    gg_dataset_free(&va);

    /* refusals */
    EXPECT_FAIL(gg_text_dataset(tx, (int)L, 1, 0, 1, &ds), GG_E_ARG, "a.txt", "too short", "T + 1");
    GT_CHECK(is_empty(&ds), "failed call left data");
    EXPECT_FAIL(gg_text_dataset(tx, 4, 1, 0.97, 1, &ds), GG_E_ARG, "too short", "bytes 117..121 (4 bytes)");
    EXPECT_FAIL(gg_text_dataset(tx, 0, 1, 0, 1, &ds), GG_E_ARG, "T = 0");
    EXPECT_FAIL(gg_text_dataset(tx, 4, 0, 0, 1, &ds), GG_E_ARG, "stride 0");
    EXPECT_FAIL(gg_text_dataset(tx, 4, 1, 0.5, 0.5, &ds), GG_E_ARG, "[0.5, 0.5)");
    EXPECT_FAIL(gg_text_dataset(tx, 4, 1, -0.1, 0.5, &ds), GG_E_ARG, "0 <= start < end <= 1");
    EXPECT_FAIL(gg_text_dataset(tx, 4, 1, 0, 1.5, &ds), GG_E_ARG, "0 <= start < end <= 1");
    EXPECT_FAIL(gg_text_dataset(tx, 4, 1, 0, NAN, &ds), GG_E_ARG, "0 <= start < end <= 1");
    EXPECT_FAIL(gg_text_dataset(NULL, 4, 1, 0, 1, &ds), GG_E_ARG, "NULL");

    /* the vocabulary file round trip */
    GT_OK(gg_text_save_vocab(tx, path_of("vocab.bin")));
    unsigned char raw[400];
    size_t rn = read_file("vocab.bin", raw, sizeof raw);
    GT_CHECK(rn == (size_t)(14 + V) && memcmp(raw, "GGVOCAB\1", 8) == 0 && raw[8] == V && raw[9] == 0,
             "vocab file %zu bytes", rn);
    gg_text *vo = NULL;
    GT_OK(gg_text_load_vocab(path_of("vocab.bin"), &vo));
    if (vo) {
        int same = gg_text_vocab_size(vo) == V;
        for (int b = 0; b < 256; b++) same &= gg_text_id(vo, (unsigned char)b) == gg_text_id(tx, (unsigned char)b);
        for (int id = 0; id < V; id++) same &= gg_text_byte(vo, id) == gg_text_byte(tx, id);
        GT_CHECK(same, "loaded vocabulary differs");
        GT_CHECK(gg_text_size(vo) == 0 && gg_text_utf8_error(vo) == -1, "vocabulary-only text has size %zu",
                 gg_text_size(vo));
        EXPECT_FAIL(gg_text_dataset(vo, 4, 1, 0, 1, &ds), GG_E_STATE, "vocab.bin", "only a vocabulary");
        GT_OK(gg_text_save_vocab(vo, path_of("vocab2.bin"))); /* and saves the same file again */
        unsigned char raw2[400];
        GT_CHECK(read_file("vocab2.bin", raw2, sizeof raw2) == rn && memcmp(raw, raw2, rn) == 0, "resaved differs");
        gg_text_free(vo);
    }
    /* damaged vocabulary files */
    unsigned char bad_file[400];
    memcpy(bad_file, raw, rn);
    bad_file[12] ^= 0x01;
    write_file("flip.bin", bad_file, rn);
    EXPECT_FAIL(gg_text_load_vocab(path_of("flip.bin"), &vo), GG_E_FORMAT, "flip.bin", "checksum");
    GT_CHECK(vo == NULL, "failed load returned a text");
    write_file("short.bin", raw, rn - 1);
    EXPECT_FAIL(gg_text_load_vocab(path_of("short.bin"), &vo), GG_E_FORMAT, "short.bin", "truncated");
    memcpy(bad_file, raw, rn);
    bad_file[rn] = 'x';
    write_file("long.bin", bad_file, rn + 1);
    EXPECT_FAIL(gg_text_load_vocab(path_of("long.bin"), &vo), GG_E_FORMAT, "long.bin", "trailing");
    write_file("magic.bin", "GGVOCAX\1", 8);
    EXPECT_FAIL(gg_text_load_vocab(path_of("magic.bin"), &vo), GG_E_FORMAT, "magic.bin", "magic");
    memcpy(bad_file, raw, rn);
    bad_file[7] = 2;
    write_file("version.bin", bad_file, rn);
    EXPECT_FAIL(gg_text_load_vocab(path_of("version.bin"), &vo), GG_E_FORMAT, "version 2");
    /* a valid checksum over bytes out of order is still refused */
    unsigned char order[] = {'G', 'G', 'V', 'O', 'C', 'A', 'B', 1, 2, 0, 'b', 'a', 0, 0, 0, 0};
    uLong c = crc32(0L, Z_NULL, 0);
    c = crc32(c, order, 12);
    for (int i = 0; i < 4; i++) order[12 + i] = (unsigned char)(c >> (8 * i));
    write_file("order.bin", order, sizeof order);
    EXPECT_FAIL(gg_text_load_vocab(path_of("order.bin"), &vo), GG_E_FORMAT, "order.bin", "byte offset 11",
                "increasing");
    EXPECT_FAIL(gg_text_load_vocab(path_of("none.bin"), &vo), GG_E_IO, "none.bin");
    EXPECT_FAIL(gg_text_save_vocab(tx, path_of("no/such/dir/v.bin")), GG_E_IO, "no/such/dir/v.bin");
    gg_text_free(tx);
    gg_text_free(NULL);
}

static void test_text_refusals(void)
{
    gg_text *tx = (gg_text *)1;
    EXPECT_FAIL(gg_text_load(path_of("missing.txt"), &tx), GG_E_IO, "missing.txt", "No such file");
    GT_CHECK(tx == NULL, "failed load left *out set");
    write_file("empty.txt", "", 0);
    EXPECT_FAIL(gg_text_load(path_of("empty.txt"), &tx), GG_E_FORMAT, "empty.txt", "empty");
    GT_CHECK(tx == NULL, "failed load left *out set");
    write_file("nul.txt", "abc\0def", 7);
    EXPECT_FAIL(gg_text_load(path_of("nul.txt"), &tx), GG_E_FORMAT, "nul.txt", "NUL", "byte offset 3");
    write_file("zeros.bin", "\0\0\0\0", 4);
    EXPECT_FAIL(gg_text_load(path_of("zeros.bin"), &tx), GG_E_FORMAT, "zeros.bin", "byte offset 0");
    EXPECT_FAIL(gg_text_load(NULL, &tx), GG_E_ARG, "no text file");

    /* over 1 GiB: refused before reading (a sparse file costs no disk) */
    FILE *f = fopen(path_of("huge.txt"), "wb");
    if (f && ftruncate(fileno(f), (off_t)GG_TEXT_MAX_BYTES + 1) == 0) {
        fclose(f);
        EXPECT_FAIL(gg_text_load(path_of("huge.txt"), &tx), GG_E_NOMEM, "huge.txt", "1073741825 bytes", "limit");
    } else if (f)
        fclose(f);
    unlink(path_of("huge.txt"));

    /* not UTF-8 (Latin-1) is still a byte-level text, with the offset told */
    write_file("latin1.txt", "caf\xe9 au lait", 12);
    GT_OK(gg_text_load(path_of("latin1.txt"), &tx));
    GT_CHECK(tx && gg_text_utf8_error(tx) == 3 && gg_text_id(tx, 0xe9) >= 0, "latin-1 text: utf8 error at %lld",
             tx ? gg_text_utf8_error(tx) : -2);
    gg_text_free(tx);
    /* the validator's edge cases: overlong, surrogate, over U+10FFFF, cut */
    struct {
        const char *s;
        long long at;
    } u[] = {{"ok \xe2\x82\xac \xf0\x9f\x98\x80", -1}, {"x\xc0\xaf", 1},     {"ab\xe0\x80\xaf", 2},
             {"\xed\xa0\x80", 0},                      {"\xf4\x90\x80\x80", 0}, {"abc\xe2\x82", 3},
             {"a\x80", 1},                             {"\xef\xbf\xbf", -1}};
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++) {
        write_file("u.txt", u[i].s, strlen(u[i].s));
        GT_OK(gg_text_load(path_of("u.txt"), &tx));
        GT_CHECK(tx && gg_text_utf8_error(tx) == u[i].at, "case %zu: utf8 error %lld, want %lld", i,
                 tx ? gg_text_utf8_error(tx) : -2, u[i].at);
        gg_text_free(tx);
    }

    /* a gzip text reads as the plain one */
    gzFile g = gzopen(path_of("a.txt.gz"), "wb");
    if (g) {
        gzwrite(g, TEXT, (unsigned)(sizeof TEXT - 1));
        gzclose(g);
        GT_OK(gg_text_load(path_of("a.txt.gz"), &tx));
        GT_CHECK(tx && gg_text_size(tx) == sizeof TEXT - 1, "gzip text size %zu", tx ? gg_text_size(tx) : 0);
        gg_dataset ds;
        if (tx) {
            GT_OK(gg_text_dataset(tx, 8, 8, 0, 1, &ds));
            GT_CHECK(ds.n > 0 && ds.f32[0] == (float)gg_text_id(tx, 't'), "gzip text windows");
            gg_dataset_free(&ds);
        }
        gg_text_free(tx);
    }
}

/* A directory is the concatenation of its text files in name order:
 * links, hidden files, NAME.dat and subdirectories are left out. */
static void test_text_dir(void)
{
    char sub[300], nested[320], p[400];
    snprintf(sub, sizeof sub, "%s/corpus", dir);
    snprintf(nested, sizeof nested, "%s/nested", sub);
    GT_CHECK(mkdir(sub, 0755) == 0 && mkdir(nested, 0755) == 0, "fixture directories");
    gg_text *tx = (gg_text *)1;
    EXPECT_FAIL(gg_text_load(sub, &tx), GG_E_FORMAT, "corpus", "no text file");
    GT_CHECK(tx == NULL, "failed load left *out set");
    write_file("corpus/b", "second\n%\n", 9);
    write_file("corpus/a", "first\n%\n", 8);
    write_file("corpus/a.dat", "\0\0\0\2index", 9); /* a binary index: would fail if read */
    write_file("corpus/.hidden", "\0", 1);
    write_file("corpus/nested/c", "third\n", 6);
    snprintf(p, sizeof p, "%s/a", sub);
    char link[400];
    snprintf(link, sizeof link, "%s/a.u8", sub);
    GT_CHECK(symlink(p, link) == 0, "fixture link");
    GT_OK(gg_text_load(sub, &tx));
    if (tx) {
        const char *want = "first\n%\nsecond\n%\n";
        gg_dataset ds;
        GT_CHECK(gg_text_size(tx) == strlen(want), "directory text: %zu bytes, want %zu", gg_text_size(tx),
                 strlen(want));
        GT_OK(gg_text_dataset(tx, (int)strlen(want) - 1, 1, 0, 1, &ds));
        int same = ds.n == 1;
        for (size_t i = 0; same && i + 1 < strlen(want); i++)
            same = gg_text_byte(tx, (int)ds.f32[i]) == (unsigned char)want[i] &&
                   gg_text_byte(tx, (int)ds.labels[i]) == (unsigned char)want[i + 1];
        GT_CHECK(same, "directory text: files a then b, nothing else");
        gg_dataset_free(&ds);
        gg_text_free(tx);
    }
    write_file("corpus/c-nul", "x\0y", 3);
    EXPECT_FAIL(gg_text_load(sub, &tx), GG_E_FORMAT, "corpus/c-nul", "NUL", "byte offset 1");
    const char *names[] = {"b", "a", "a.dat", ".hidden", "a.u8", "c-nul"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", sub, names[i]);
        unlink(p);
    }
    snprintf(p, sizeof p, "%s/c", nested);
    unlink(p);
    rmdir(nested);
    rmdir(sub);
}

/* A text Debian installs at p, loaded, with a line giving its size,
 * vocabulary and UTF-8 validity; NULL (and a line saying the `what` check
 * is skipped) when it is not installed. */
static gg_text *system_text(const char *p, const char *what, size_t *n, int *V)
{
    if (access(p, R_OK) != 0) {
        printf("%s not found: %s check skipped\n", p, what);
        return NULL;
    }
    gg_text *tx = NULL;
    GT_OK(gg_text_load(p, &tx));
    if (!tx) return NULL;
    *n = gg_text_size(tx);
    *V = gg_text_vocab_size(tx);
    printf("%s: %zu bytes, vocabulary %d bytes, UTF-8 %s\n", p, *n, *V, gg_text_utf8_error(tx) < 0 ? "valid" : "invalid");
    return tx;
}

/* Debian's fortunes, when installed (scripts/install-deps.sh --with-fortunes):
 * the corpus of the transformer learning-rate sweep. */
static void test_fortunes(void)
{
    size_t n;
    int V;
    gg_text *tx = system_text("/usr/share/games/fortunes", "fortunes", &n, &V);
    if (!tx) return;
    GT_CHECK(n > 2000000 && n < 4000000 && V > 80 && V < 256, "fortunes: %zu bytes, vocabulary %d", n, V);
    GT_CHECK(gg_text_id(tx, '%') >= 0, "fortunes hold their '%%' separators");
    gg_text_free(tx);
}

/* A real text: the GPL version 3 as Debian installs it. */
static void test_real_text(void)
{
    size_t n;
    int V;
    gg_text *tx = system_text("/usr/share/common-licenses/GPL-3", "real-text", &n, &V);
    if (!tx) return;
    GT_CHECK(n > 30000 && V > 60 && V < 100, "GPL-3: %zu bytes, vocabulary %d", n, V);
    GT_CHECK(gg_text_id(tx, 'G') >= 0 && gg_text_id(tx, '\n') == 0, "GPL-3 ids");
    gg_dataset tr, va;
    GT_OK(gg_text_dataset(tx, 64, 64, 0, 0.9, &tr));
    GT_OK(gg_text_dataset(tx, 64, 64, 0.9, 1, &va));
    size_t cut = (size_t)(0.9 * (double)n);
    GT_CHECK(tr.n == (cut - 65) / 64 + 1 && va.n == (n - cut - 65) / 64 + 1, "GPL-3 windows %zu + %zu", tr.n, va.n);
    GT_CHECK(tr.num_classes == V && va.num_classes == V, "num_classes");
    gg_dataset_free(&tr);
    gg_dataset_free(&va);
    gg_text_free(tx);
}

int main(void)
{
    if (fixture_begin("gg_test_seqdata")) return 2;
    test_adding_uniform();
    test_adding_original();
    test_adding_args();
    test_temporal();
    test_text_load();
    test_text_refusals();
    test_text_dir();
    test_real_text();
    test_fortunes();
    fixture_end();
    return gt_done("test_seqdata");
}
