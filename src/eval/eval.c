/* eval.c -- the NAB window score, its threshold sweep, and event metrics.
 *
 * Everything here is a pure function of caller-owned arrays (see eval.h for
 * the rules). Each file's windows are first mapped from timestamps to row
 * spans; a row's contribution to the raw score then depends only on where it
 * sits relative to those spans, so the optimiser can price every scorable row
 * once, sort all rows of all files by anomaly score, and sweep the threshold
 * downwards in a single pass. */
#include "mend/eval.h"
#include "mend/common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* NAB: first 15% of a file, at most 15% of 5000 rows. */
#define PROBATION_PERCENT 0.15
#define PROBATION_BASE_ROWS 5000.0

static const struct mend_eval_profile profiles[MEND_EVAL_NPROFILES] = {
    {"standard", 1.0, 0.11, 1.0},
    {"reward_low_FP_rate", 1.0, 0.22, 1.0},
    {"reward_low_FN_rate", 1.0, 0.11, 2.0},
};

const struct mend_eval_profile *mend_eval_profile_get(int which)
{
    if (which < 0 || which >= MEND_EVAL_NPROFILES)
        return NULL;
    return &profiles[which];
}

/* A window as rows of its file, both ends inclusive. */
struct span {
    size_t s, e;
};

/* Rows before this index are probation. Computed in doubles exactly as NAB
 * does, so files of any length agree with it row for row. */
static size_t probation_rows(size_t n)
{
    double pl = fmin(floor(PROBATION_PERCENT * (double)n), PROBATION_PERCENT * PROBATION_BASE_ROWS);
    return (size_t)ceil(pl);
}

/* NAB's scaled sigmoid: +0.98661 at the left edge of a window (x = -1),
 * 0 at its right edge, down to -1 for far false positives. */
static double scaled_sigmoid(double x)
{
    if (x >= 3.0)
        return -1.0;
    return 2.0 / (1.0 + exp(5.0 * x)) - 1.0;
}

/* Weight of the earliest detection in a window at row i; exactly tp at s so
 * that the perfect detector's score is an integer multiple of tp. */
static double tp_value(const struct span *w, size_t i, double tp)
{
    if (i == w->s)
        return tp;
    double width = (double)(w->e - w->s + 1);
    double x = -(double)(w->e - i + 1) / width;
    return tp * scaled_sigmoid(x) / scaled_sigmoid(-1.0);
}

/* Cost (negative) of a detection at row i outside windows; prev is the last
 * window ending before i, or NULL. */
static double fp_value(const struct span *prev, size_t i, double fp)
{
    if (!prev)
        return -fp;
    size_t d = prev->e - prev->s;   /* width - 1; NAB divides by zero at 1 row */
    if (d == 0)
        d = 1;
    return fp * scaled_sigmoid((double)(i - prev->e) / (double)d);
}

/* Checks one file and maps its windows to spans (*sp, caller frees; empty
 * windows dropped). */
static int file_spans(const struct mend_eval_file *f, struct span **sp, size_t *nsp)
{
    *sp = NULL;
    *nsp = 0;
    if ((f->n && (!f->time_ns || !f->score)) || (f->nwin && !f->windows))
        return MEND_EINVAL;
    for (size_t i = 0; i < f->n; i++) {
        if (!isfinite(f->score[i]))
            return MEND_ERANGE;
        if (i && f->time_ns[i] < f->time_ns[i - 1])
            return MEND_EINVAL;
    }
    for (size_t k = 0; k < f->nwin; k++) {
        if (f->windows[k].end_ns < f->windows[k].start_ns)
            return MEND_EINVAL;
        if (k && f->windows[k].start_ns <= f->windows[k - 1].end_ns)
            return MEND_EINVAL;
    }
    if (!f->nwin)
        return MEND_OK;
    struct span *v = malloc(f->nwin * sizeof *v);
    if (!v)
        return MEND_ENOMEM;
    size_t m = 0, lo = 0;
    for (size_t k = 0; k < f->nwin; k++) {
        /* first row at or after the start, then last row at or before the end */
        while (lo < f->n && f->time_ns[lo] < f->windows[k].start_ns)
            lo++;
        size_t hi = lo;
        while (hi < f->n && f->time_ns[hi] <= f->windows[k].end_ns)
            hi++;
        if (hi > lo) {
            v[m].s = lo;
            v[m].e = hi - 1;
            m++;
        }
        lo = hi;
    }
    *sp = v;
    *nsp = m;
    return MEND_OK;
}

static int check_args(const struct mend_eval_file *files, size_t nfiles, const void *out)
{
    if ((nfiles && !files) || !out)
        return MEND_EINVAL;
    return MEND_OK;
}

/* Raw, null and perfect scores of one file. */
static void score_file(const struct mend_eval_file *f, const struct span *sp, size_t nsp,
                       const struct mend_eval_profile *prof, double thr,
                       struct mend_eval_result *acc)
{
    size_t p = probation_rows(f->n);
    double fp_sum = 0.0, tp_sum = 0.0;
    size_t k = 0, last = SIZE_MAX, detected = 0, scorable = 0;
    for (size_t i = p; i < f->n; i++) {
        while (k < nsp && sp[k].e < i)
            k++;
        if (!(f->score[i] >= thr))
            continue;
        if (k < nsp && sp[k].s <= i) {
            if (last != k) {   /* rows ascend, so the first one is the earliest */
                last = k;
                tp_sum += tp_value(&sp[k], i, prof->tp_weight);
                detected++;
            }
        } else {
            fp_sum += fp_value(k ? &sp[k - 1] : NULL, i, prof->fp_weight);
            acc->fp_rows++;
        }
    }
    for (size_t j = 0; j < nsp; j++) {
        if (sp[j].e < p)
            continue;
        scorable++;
        acc->perfect += tp_value(&sp[j], sp[j].s >= p ? sp[j].s : p, prof->tp_weight);
    }
    acc->windows += scorable;
    acc->detected += detected;
    acc->null_score -= prof->fn_weight * (double)scorable;
    acc->raw += tp_sum - prof->fn_weight * (double)(scorable - detected) + fp_sum;
}

static void finish(struct mend_eval_result *r)
{
    double span = r->perfect - r->null_score;
    r->normalized = span > 0.0 ? 100.0 * (r->raw - r->null_score) / span : NAN;
}

int mend_eval_score(const struct mend_eval_file *files, size_t nfiles,
                    const struct mend_eval_profile *prof, double threshold,
                    struct mend_eval_result *out)
{
    int rc = check_args(files, nfiles, out);
    if (rc)
        return rc;
    if (!prof || isnan(threshold))
        return MEND_EINVAL;
    struct mend_eval_result r;
    memset(&r, 0, sizeof r);
    r.threshold = threshold;
    for (size_t fi = 0; fi < nfiles; fi++) {
        struct span *sp;
        size_t nsp;
        rc = file_spans(&files[fi], &sp, &nsp);
        if (rc)
            return rc;
        score_file(&files[fi], sp, nsp, prof, threshold, &r);
        free(sp);
    }
    finish(&r);
    *out = r;
    return MEND_OK;
}

/* One scorable row, priced for the sweep. */
struct priced {
    double score;
    double value;   /* tp value inside a window, (negative) fp cost outside */
    size_t win;     /* global window id, or SIZE_MAX outside windows */
};

static int by_score_desc(const void *a, const void *b)
{
    double x = ((const struct priced *)a)->score, y = ((const struct priced *)b)->score;
    return (x < y) - (x > y);
}

int mend_eval_optimize(const struct mend_eval_file *files, size_t nfiles,
                       const struct mend_eval_profile *prof,
                       struct mend_eval_result *out)
{
    int rc = check_args(files, nfiles, out);
    if (rc)
        return rc;
    if (!prof)
        return MEND_EINVAL;
    size_t nrows = 0, nwin = 0;
    for (size_t fi = 0; fi < nfiles; fi++) {
        if (files[fi].n > SIZE_MAX / 2 - nrows || files[fi].nwin > SIZE_MAX / 2 - nwin)
            return MEND_ENOMEM;
        nrows += files[fi].n;
        nwin += files[fi].nwin;
    }
    if (nrows > SIZE_MAX / sizeof(struct priced))
        return MEND_ENOMEM;
    struct priced *rows = malloc((nrows ? nrows : 1) * sizeof *rows);
    double *best = malloc((nwin ? nwin : 1) * sizeof *best);
    if (!rows || !best) {
        rc = MEND_ENOMEM;
        goto out;
    }
    size_t m = 0, wbase = 0, scorable_windows = 0;
    for (size_t fi = 0; fi < nfiles; fi++) {
        const struct mend_eval_file *f = &files[fi];
        struct span *sp;
        size_t nsp;
        rc = file_spans(f, &sp, &nsp);
        if (rc)
            goto out;
        size_t p = probation_rows(f->n), k = 0;
        for (size_t i = p; i < f->n; i++) {
            while (k < nsp && sp[k].e < i)
                k++;
            rows[m].score = f->score[i];
            if (k < nsp && sp[k].s <= i) {
                rows[m].value = tp_value(&sp[k], i, prof->tp_weight);
                rows[m].win = wbase + k;
            } else {
                rows[m].value = fp_value(k ? &sp[k - 1] : NULL, i, prof->fp_weight);
                rows[m].win = SIZE_MAX;
            }
            m++;
        }
        for (size_t j = 0; j < nsp; j++) {
            best[wbase + j] = -prof->fn_weight;
            if (sp[j].e >= p)
                scorable_windows++;
        }
        wbase += nsp;
        free(sp);
    }
    qsort(rows, m, sizeof *rows, by_score_desc);

    /* Lowering the threshold past a group of equal scores switches all of
     * them on at once; a window keeps the best (= earliest) detection. */
    double total = -prof->fn_weight * (double)scorable_windows;
    double best_total = total, best_thr = INFINITY;
    for (size_t i = 0; i < m;) {
        double s = rows[i].score;
        for (; i < m && rows[i].score == s; i++) {
            if (rows[i].win == SIZE_MAX) {
                total += rows[i].value;
            } else if (rows[i].value > best[rows[i].win]) {
                total += rows[i].value - best[rows[i].win];
                best[rows[i].win] = rows[i].value;
            }
        }
        if (total > best_total) {
            best_total = total;
            best_thr = s;
        }
    }
    rc = mend_eval_score(files, nfiles, prof, best_thr, out);
out:
    free(rows);
    free(best);
    return rc;
}

int mend_eval_events(const struct mend_eval_file *files, size_t nfiles,
                     double threshold, struct mend_eval_events *out)
{
    int rc = check_args(files, nfiles, out);
    if (rc)
        return rc;
    if (isnan(threshold))
        return MEND_EINVAL;
    struct mend_eval_events ev;
    memset(&ev, 0, sizeof ev);
    ev.threshold = threshold;
    double delay_rows = 0.0, delay_s = 0.0;
    for (size_t fi = 0; fi < nfiles; fi++) {
        const struct mend_eval_file *f = &files[fi];
        struct span *sp;
        size_t nsp;
        rc = file_spans(f, &sp, &nsp);
        if (rc)
            return rc;
        size_t p = probation_rows(f->n), k = 0, done = SIZE_MAX;
        int in_run = 0;
        for (size_t j = 0; j < nsp; j++)
            if (sp[j].e >= p)
                ev.windows++;
        for (size_t i = p; i < f->n; i++) {
            while (k < nsp && sp[k].e < i)
                k++;
            int det = f->score[i] >= threshold;
            if (k < nsp && sp[k].s <= i) {
                in_run = 0;
                if (det && done != k) {
                    done = k;
                    ev.detected++;
                    delay_rows += (double)(i - sp[k].s);
                    delay_s += (double)(f->time_ns[i] - f->time_ns[sp[k].s]) / 1e9;
                }
            } else if (det) {
                if (!in_run)
                    ev.false_events++;
                in_run = 1;
            } else {
                in_run = 0;
            }
        }
        free(sp);
    }
    size_t predicted = ev.detected + ev.false_events;
    ev.precision = predicted ? (double)ev.detected / (double)predicted : 0.0;
    ev.recall = ev.windows ? (double)ev.detected / (double)ev.windows : 0.0;
    ev.f1 = ev.precision + ev.recall > 0.0
                ? 2.0 * ev.precision * ev.recall / (ev.precision + ev.recall) : 0.0;
    ev.mean_delay_rows = ev.detected ? delay_rows / (double)ev.detected : NAN;
    ev.mean_delay_s = ev.detected ? delay_s / (double)ev.detected : NAN;
    *out = ev;
    return MEND_OK;
}

/* ---- leave one group out ------------------------------------------------ */

int mend_eval_loco(const struct mend_eval_file *files, const size_t *group, size_t nfiles,
                   const struct mend_eval_profile *prof, struct mend_eval_result *out)
{
    if (!files || !group || !prof || !out)
        return MEND_EINVAL;
    memset(out, 0, sizeof *out);
    out->threshold = NAN;
    out->normalized = NAN;
    struct mend_eval_file *rest = malloc((nfiles ? nfiles : 1) * sizeof *rest);
    struct mend_eval_file *own = malloc((nfiles ? nfiles : 1) * sizeof *own);
    if (!rest || !own) {
        free(rest);
        free(own);
        return MEND_ENOMEM;
    }
    int rc = MEND_OK;
    size_t groups = 0;
    for (size_t i = 0; i < nfiles && rc == MEND_OK; i++) {
        /* each group once: at its first file */
        size_t j = 0;
        while (j < i && group[j] != group[i])
            j++;
        if (j < i)
            continue;
        size_t nrest = 0, nown = 0;
        for (size_t k = 0; k < nfiles; k++) {
            if (group[k] == group[i])
                own[nown++] = files[k];
            else
                rest[nrest++] = files[k];
        }
        groups++;
        struct mend_eval_result train, test;
        double thr = INFINITY;
        if (nrest) {
            rc = mend_eval_optimize(rest, nrest, prof, &train);
            if (rc)
                break;
            thr = train.threshold;
        }
        rc = mend_eval_score(own, nown, prof, thr, &test);
        if (rc)
            break;
        out->raw += test.raw;
        out->null_score += test.null_score;
        out->perfect += test.perfect;
        out->windows += test.windows;
        out->detected += test.detected;
        out->fp_rows += test.fp_rows;
    }
    free(rest);
    free(own);
    if (rc)
        return rc;
    if (groups >= 2 && out->perfect > out->null_score)
        out->normalized = 100.0 * (out->raw - out->null_score) / (out->perfect - out->null_score);
    return MEND_OK;
}
