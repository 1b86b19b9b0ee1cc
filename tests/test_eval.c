/* test_eval.c -- the NAB scorer on tiny hand-computed cases, the event
 * metrics, the loaders, and `mend eval` end to end (when MEND_BIN is set).
 *
 * Most cases use one 20-row file, rows one minute apart, with one window on
 * rows 10..14 (width W = 5). Probation is floor(0.15 * 20) = 3 rows, so rows
 * 0..2 are never scored. S(x) = 2 / (1 + exp(5x)) - 1, S(-1) = 0.9866143. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "mend/common.h"
#include "mend/eval.h"

#define MIN_NS INT64_C(60000000000)
#define T0 INT64_C(1577836800000000000)   /* 2020-01-01 00:00:00 UTC */
#define EPS 1e-6

/* cmocka 1.1 compares floats only; scores need doubles. */
static void near_(double a, double b, double eps, const char *file, int line)
{
    if (!(fabs(a - b) <= eps)) {
        print_error("%.10g != %.10g (eps %g)\n", a, b, eps);
        _fail(file, line);
    }
}
#define assert_near(a, b, eps) near_((a), (b), (eps), __FILE__, __LINE__)

struct fix {
    int64_t t[6000];
    double s[6000];
    struct mend_eval_window w[4];
    struct mend_eval_file f;
};

/* n rows one minute apart from T0, all scores 0, window on rows [ws, we]. */
static void fix_init(struct fix *x, size_t n, size_t ws, size_t we)
{
    memset(x, 0, sizeof *x);
    for (size_t i = 0; i < n; i++)
        x->t[i] = T0 + (int64_t)i * MIN_NS;
    x->w[0].start_ns = T0 + (int64_t)ws * MIN_NS;
    x->w[0].end_ns = T0 + (int64_t)we * MIN_NS;
    x->f.name = "a";
    x->f.time_ns = x->t;
    x->f.score = x->s;
    x->f.n = n;
    x->f.windows = x->w;
    x->f.nwin = 1;
}

static struct fix *fx;

static int setup(void **state)
{
    (void)state;
    fx = malloc(sizeof *fx);
    return fx ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    free(fx);
    return 0;
}

static const struct mend_eval_profile *std_prof(void)
{
    return mend_eval_profile_get(MEND_EVAL_STANDARD);
}

static void test_profiles(void **state)
{
    (void)state;
    const struct mend_eval_profile *p = mend_eval_profile_get(MEND_EVAL_STANDARD);
    assert_non_null(p);
    assert_string_equal(p->name, "standard");
    assert_true(p->tp_weight == 1.0 && p->fp_weight == 0.11 && p->fn_weight == 1.0);
    p = mend_eval_profile_get(MEND_EVAL_LOW_FP);
    assert_true(p->tp_weight == 1.0 && p->fp_weight == 0.22 && p->fn_weight == 1.0);
    p = mend_eval_profile_get(MEND_EVAL_LOW_FN);
    assert_true(p->tp_weight == 1.0 && p->fp_weight == 0.11 && p->fn_weight == 2.0);
    assert_null(mend_eval_profile_get(3));
    assert_null(mend_eval_profile_get(-1));
}

/* (a) one detection on the window's first row: raw = +1 (exactly tp),
 * null = -1, perfect = +1, normalised 100. */
static void test_perfect(void **state)
{
    (void)state;
    fix_init(fx, 20, 10, 14);
    fx->s[10] = 1.0;
    struct mend_eval_result r;
    for (int p = 0; p < MEND_EVAL_NPROFILES; p++) {
        assert_int_equal(mend_eval_score(&fx->f, 1, mend_eval_profile_get(p), 0.5, &r), 0);
        assert_near(r.raw, 1.0, 1e-12);
        assert_near(r.perfect, 1.0, 1e-12);
        assert_near(r.null_score, -mend_eval_profile_get(p)->fn_weight, 1e-12);
        assert_near(r.normalized, 100.0, 1e-9);
        assert_int_equal(r.windows, 1);
        assert_int_equal(r.detected, 1);
        assert_int_equal(r.fp_rows, 0);
        assert_int_equal(mend_eval_optimize(&fx->f, 1, mend_eval_profile_get(p), &r), 0);
        assert_near(r.normalized, 100.0, 1e-9);
        assert_true(r.threshold == 1.0);
    }
}

/* (b) never firing: raw = null = -1, normalised 0. */
static void test_all_zero(void **state)
{
    (void)state;
    fix_init(fx, 20, 10, 14);
    struct mend_eval_result r;
    assert_int_equal(mend_eval_score(&fx->f, 1, std_prof(), 0.5, &r), 0);
    assert_near(r.raw, -1.0, 1e-12);
    assert_near(r.normalized, 0.0, 1e-9);
    /* The optimiser may only choose 0 (everything fires) or never. Here,
     * firing everywhere is worth -0.2473658 (case (c) below) > -1, so it wins
     * on this tiny file... */
    assert_int_equal(mend_eval_optimize(&fx->f, 1, std_prof(), &r), 0);
    assert_true(r.threshold == 0.0);
    assert_near(r.normalized, 37.6317080, EPS);
    /* ...but with 200 rows (probation 30, window 100..104) the 165 FPs cost
     * more than 0.11 * 70 = 7.7 > 2, so never firing is best: 0. */
    fix_init(fx, 200, 100, 104);
    assert_int_equal(mend_eval_optimize(&fx->f, 1, std_prof(), &r), 0);
    assert_true(isinf(r.threshold));
    assert_near(r.normalized, 0.0, 1e-9);
    assert_int_equal(r.detected, 0);
    assert_int_equal(r.fp_rows, 0);
}

/* (c) firing on every row (threshold 0.5):
 *  window: earliest detection row 10           -> +1
 *  rows 3..9 (no window before them)           -> 7 * -0.11 = -0.77
 *  rows 15..19 after the window, x = (i-14)/4 = 0.25 .. 1.25:
 *    S = -0.554600 -0.848284 -0.954046 -0.986614 -0.996147 = -4.339689
 *    * 0.11                                    -> -0.477366
 *  raw = -0.247366, normalised = 100 * (raw + 1) / 2 = 37.6317 */
static void test_all_one(void **state)
{
    (void)state;
    fix_init(fx, 20, 10, 14);
    for (size_t i = 0; i < 20; i++)
        fx->s[i] = 1.0;
    struct mend_eval_result r;
    assert_int_equal(mend_eval_score(&fx->f, 1, std_prof(), 0.5, &r), 0);
    assert_near(r.raw, -0.2473658, EPS);
    assert_near(r.normalized, 37.6317080, EPS);
    assert_int_equal(r.fp_rows, 12);
    assert_int_equal(r.detected, 1);
    /* with the FP cost doubled: 1 - 2 * (0.77 + 0.477366) = -1.494732 -> -24.7366 */
    assert_int_equal(mend_eval_score(&fx->f, 1, mend_eval_profile_get(MEND_EVAL_LOW_FP), 0.5,
                                     &r), 0);
    assert_near(r.raw, -1.4947317, EPS);
    assert_true(r.normalized < 0.0);
}

/* A longer all-ones file: so many FPs that the standard score is negative. */
static void test_all_one_negative(void **state)
{
    (void)state;
    fix_init(fx, 200, 100, 104);
    for (size_t i = 0; i < 200; i++)
        fx->s[i] = 1.0;
    struct mend_eval_result r;
    assert_int_equal(mend_eval_score(&fx->f, 1, std_prof(), 0.5, &r), 0);
    assert_true(r.normalized < 0.0);
    /* probation = 30 rows; rows 30..99 before (70) + 105..199 after (95) */
    assert_int_equal(r.fp_rows, 165);
}

/* Inside a window only the earliest detection counts:
 *  row 12: x = -(14 - 12 + 1) / 5 = -0.6, S(-0.6) / S(-1) = 0.9174287
 *  row 14: x = -0.2, S(-0.2) / S(-1) = 0.4683868 (ignored once row 12 fires) */
static void test_earliest_counts(void **state)
{
    (void)state;
    fix_init(fx, 20, 10, 14);
    fx->s[12] = 1.0;
    fx->s[13] = 1.0;
    fx->s[14] = 1.0;
    struct mend_eval_result r;
    assert_int_equal(mend_eval_score(&fx->f, 1, std_prof(), 0.5, &r), 0);
    assert_near(r.raw, 0.9174287, EPS);
    assert_near(r.normalized, 95.8714340, EPS);
    assert_int_equal(r.fp_rows, 0);
    fx->s[12] = fx->s[13] = 0.0;
    assert_int_equal(mend_eval_score(&fx->f, 1, std_prof(), 0.5, &r), 0);
    assert_near(r.raw, 0.4683868, EPS);
}

/* The sweep: row 13 = 0.9, row 5 = 0.7 (FP, no window before: -fp), row 11 =
 * 0.5, everything else 0.
 *  thr inf: -1
 *  thr 0.9: row 13, x = -0.4 -> 0.7719269
 *  thr 0.7: + FP -0.11 -> 0.6619269
 *  thr 0.5: row 11 (x = -0.8 -> 0.9771080) replaces row 13 -> 0.8671068
 *  thr 0:   every row fires, row 10 now earns +1: as case (c), -0.2473658
 * standard best: 0.5 (normalised 93.3553); with fp = 0.22 the 0.5 step is
 * worth 0.9771080 - 0.22 = 0.7571068 < 0.7719269, so low-FP picks 0.9
 * (normalised 88.5963). */
static void test_optimize(void **state)
{
    (void)state;
    fix_init(fx, 20, 10, 14);
    fx->s[13] = 0.9;
    fx->s[5] = 0.7;
    fx->s[11] = 0.5;
    struct mend_eval_result r;
    assert_int_equal(mend_eval_optimize(&fx->f, 1, std_prof(), &r), 0);
    assert_true(r.threshold == 0.5);
    assert_near(r.raw, 0.8671068, EPS);
    assert_near(r.normalized, 93.3553420, EPS);
    assert_int_equal(r.fp_rows, 1);
    assert_int_equal(mend_eval_score(&fx->f, 1, std_prof(), 0.0, &r), 0);
    assert_near(r.raw, -0.2473658, EPS);
    assert_int_equal(mend_eval_optimize(&fx->f, 1, mend_eval_profile_get(MEND_EVAL_LOW_FP), &r), 0);
    assert_true(r.threshold == 0.9);
    assert_near(r.normalized, 88.5963470, EPS);
    /* low-FN: null = -2, perfect = 1: 100 * (0.8671068 + 2) / 3 = 95.5702 */
    assert_int_equal(mend_eval_optimize(&fx->f, 1, mend_eval_profile_get(MEND_EVAL_LOW_FN), &r), 0);
    assert_true(r.threshold == 0.5);
    assert_near(r.normalized, 95.5702280, EPS);
}

/* Probation rows never count, with the NAB cap of 750 rows. */
static void test_probation(void **state)
{
    (void)state;
    fix_init(fx, 20, 10, 14);
    fx->s[2] = 1.0;   /* last probation row of 20: floor(3.0) = 3 */
    struct mend_eval_result r;
    assert_int_equal(mend_eval_score(&fx->f, 1, std_prof(), 0.5, &r), 0);
    assert_int_equal(r.fp_rows, 0);
    assert_near(r.raw, -1.0, 1e-12);
    fx->s[3] = 1.0;   /* first scored row: FP, no window before it */
    assert_int_equal(mend_eval_score(&fx->f, 1, std_prof(), 0.5, &r), 0);
    assert_int_equal(r.fp_rows, 1);
    assert_near(r.raw, -1.11, 1e-12);

    /* 6000 rows: 15% would be 900, the cap makes it 750 */
    fix_init(fx, 6000, 3000, 3009);
    fx->s[749] = 1.0;
    assert_int_equal(mend_eval_score(&fx->f, 1, std_prof(), 0.5, &r), 0);
    assert_int_equal(r.fp_rows, 0);
    fx->s[750] = 1.0;
    assert_int_equal(mend_eval_score(&fx->f, 1, std_prof(), 0.5, &r), 0);
    assert_int_equal(r.fp_rows, 1);

    /* a window wholly inside probation is not scored at all */
    fix_init(fx, 20, 0, 2);
    assert_int_equal(mend_eval_score(&fx->f, 1, std_prof(), 0.5, &r), 0);
    assert_int_equal(r.windows, 0);
    assert_near(r.raw, 0.0, 1e-12);
    assert_true(isnan(r.normalized));
}

/* FPs far behind a window (x >= 3) cost the full weight; just before, almost
 * as much. 40 rows, probation 6, window 10..14, x = (i - 14) / 4. */
static void test_fp_decay(void **state)
{
    (void)state;
    fix_init(fx, 40, 10, 14);
    fx->s[26] = 1.0;   /* x = 3 */
    struct mend_eval_result r;
    assert_int_equal(mend_eval_score(&fx->f, 1, std_prof(), 0.5, &r), 0);
    assert_near(r.raw, -1.0 - 0.11, 1e-12);
    fx->s[26] = 0.0;
    fx->s[25] = 1.0;   /* x = 2.75: S = -0.9999979 */
    assert_int_equal(mend_eval_score(&fx->f, 1, std_prof(), 0.5, &r), 0);
    assert_near(r.raw, -1.0 - 0.11 * 0.9999979, 1e-7);
    fx->s[25] = 0.0;
    fx->s[15] = 1.0;   /* x = 0.25: S = -0.5546000 */
    assert_int_equal(mend_eval_score(&fx->f, 1, std_prof(), 0.5, &r), 0);
    assert_near(r.raw, -1.0 - 0.11 * 0.5546000, 1e-7);
}

/* Window ends between rows snap inwards; windows covering no row vanish. */
static void test_window_mapping(void **state)
{
    (void)state;
    fix_init(fx, 20, 10, 14);
    fx->w[0].start_ns -= MIN_NS / 2;   /* 00:09:30 -> first row 10 */
    fx->w[0].end_ns += MIN_NS / 2;     /* 00:14:30 -> last row 14 */
    fx->w[1].start_ns = T0 + 30 * MIN_NS;   /* after the last row */
    fx->w[1].end_ns = T0 + 31 * MIN_NS;
    fx->f.nwin = 2;
    fx->s[10] = 1.0;
    struct mend_eval_result r;
    assert_int_equal(mend_eval_score(&fx->f, 1, std_prof(), 0.5, &r), 0);
    assert_int_equal(r.windows, 1);
    assert_near(r.raw, 1.0, 1e-12);
}

/* Totals add over files; a file without windows only contributes FPs. */
static void test_two_files(void **state)
{
    (void)state;
    fix_init(fx, 20, 10, 14);
    fx->s[10] = 1.0;
    double s2[20] = {0};
    s2[5] = s2[6] = 1.0;
    struct mend_eval_file files[2] = {fx->f, {"b", fx->t, s2, 20, NULL, 0}};
    struct mend_eval_result r;
    assert_int_equal(mend_eval_score(files, 2, std_prof(), 0.5, &r), 0);
    /* 1 - 2 * 0.11 = 0.78; null -1, perfect 1: 100 * 1.78 / 2 = 89 */
    assert_near(r.raw, 0.78, 1e-12);
    assert_near(r.normalized, 89.0, 1e-9);
    assert_int_equal(r.fp_rows, 2);
    assert_int_equal(mend_eval_optimize(files, 2, std_prof(), &r), 0);
    assert_true(r.threshold == 1.0);
    assert_near(r.normalized, 89.0, 1e-9);
}

/* Leave one group out, by hand. Group 0: A (window rows 10-14, 0.9 on its
 * first row) and B (no window, 0.6 on rows 5 and 6); group 1: C (window rows
 * 10-14, 0.6 on its first row). Chosen on C alone the threshold is 0.6:
 * group 0 scores 1 - 2 * 0.11 = 0.78. Chosen on A and B it is 0.9 (1 beats
 * 0.78): C misses, -1. Sum -0.22 against null -2 and perfect 2: 44.5, where
 * one threshold for all (0.6: 1.78) scores 94.5 -- the gap overfitting shows. */
static void test_loco(void **state)
{
    (void)state;
    fix_init(fx, 20, 10, 14);
    fx->s[10] = 0.9;
    double sb[20] = {0}, sc[20] = {0};
    sb[5] = sb[6] = 0.6;
    sc[10] = 0.6;
    struct mend_eval_file files[3] = {fx->f, {"b", fx->t, sb, 20, NULL, 0},
                                      {"c", fx->t, sc, 20, fx->w, 1}};
    size_t group[3] = {0, 0, 1};
    struct mend_eval_result r;
    assert_int_equal(mend_eval_loco(files, group, 3, std_prof(), &r), 0);
    assert_near(r.raw, -0.22, 1e-12);
    assert_near(r.null_score, -2.0, 1e-12);
    assert_near(r.perfect, 2.0, 1e-12);
    assert_near(r.normalized, 44.5, 1e-9);
    assert_int_equal(r.detected, 1);
    assert_int_equal(r.fp_rows, 2);
    assert_true(isnan(r.threshold));
    assert_int_equal(mend_eval_optimize(files, 3, std_prof(), &r), 0);
    assert_near(r.normalized, 94.5, 1e-9);
    /* one group leaves nothing to choose on */
    size_t one[3] = {7, 7, 7};
    assert_int_equal(mend_eval_loco(files, one, 3, std_prof(), &r), 0);
    assert_true(isnan(r.normalized));
    assert_int_equal(mend_eval_loco(NULL, group, 3, std_prof(), &r), MEND_EINVAL);
}

/* Events: false runs 5-6, 8 and 16-18, the window detected at row 12 (delay
 * 2 rows = 120 s): precision 1/4, recall 1, F1 = 2 * 0.25 / 1.25 = 0.4. */
static void test_events(void **state)
{
    (void)state;
    fix_init(fx, 20, 10, 14);
    size_t on[] = {5, 6, 8, 12, 13, 16, 17, 18};
    for (size_t i = 0; i < sizeof on / sizeof on[0]; i++)
        fx->s[on[i]] = 1.0;
    struct mend_eval_events ev;
    assert_int_equal(mend_eval_events(&fx->f, 1, 0.5, &ev), 0);
    assert_int_equal(ev.windows, 1);
    assert_int_equal(ev.detected, 1);
    assert_int_equal(ev.false_events, 3);
    assert_near(ev.precision, 0.25, 1e-12);
    assert_near(ev.recall, 1.0, 1e-12);
    assert_near(ev.f1, 0.4, 1e-12);
    assert_near(ev.mean_delay_rows, 2.0, 1e-12);
    assert_near(ev.mean_delay_s, 120.0, 1e-9);
    /* a run touching the window's edge ends there: 15 starts a new one */
    fx->s[14] = fx->s[15] = 1.0;
    assert_int_equal(mend_eval_events(&fx->f, 1, 0.5, &ev), 0);
    assert_int_equal(ev.false_events, 3);
    /* nothing fires: all zero, delay undefined */
    assert_int_equal(mend_eval_events(&fx->f, 1, INFINITY, &ev), 0);
    assert_int_equal(ev.detected + ev.false_events, 0);
    assert_near(ev.f1, 0.0, 0.0);
    assert_true(isnan(ev.mean_delay_rows));
}

static void test_bad_input(void **state)
{
    (void)state;
    struct mend_eval_result r;
    fix_init(fx, 20, 10, 14);
    fx->t[7] = fx->t[6] - 1;   /* time goes backwards */
    assert_int_equal(mend_eval_score(&fx->f, 1, std_prof(), 0.5, &r), MEND_EINVAL);
    assert_int_equal(mend_eval_optimize(&fx->f, 1, std_prof(), &r), MEND_EINVAL);
    fix_init(fx, 20, 10, 14);
    fx->s[4] = NAN;
    assert_int_equal(mend_eval_score(&fx->f, 1, std_prof(), 0.5, &r), MEND_ERANGE);
    fix_init(fx, 20, 10, 14);
    fx->w[1] = fx->w[0];   /* overlapping windows */
    fx->f.nwin = 2;
    assert_int_equal(mend_eval_score(&fx->f, 1, std_prof(), 0.5, &r), MEND_EINVAL);
    fix_init(fx, 20, 10, 14);
    assert_int_equal(mend_eval_score(&fx->f, 1, std_prof(), NAN, &r), MEND_EINVAL);
    assert_int_equal(mend_eval_score(&fx->f, 1, NULL, 0.5, &r), MEND_EINVAL);
    assert_int_equal(mend_eval_score(NULL, 1, std_prof(), 0.5, &r), MEND_EINVAL);
    /* no files at all: nothing to score, defined zeros */
    assert_int_equal(mend_eval_optimize(NULL, 0, std_prof(), &r), 0);
    assert_near(r.raw, 0.0, 0.0);
    assert_true(isnan(r.normalized));
}

static void test_parse_time(void **state)
{
    (void)state;
    int64_t ns;
    assert_int_equal(mend_eval_parse_time("2014-04-10 07:15:00.000000", 26, &ns), 0);
    assert_true(ns == INT64_C(1397114100) * 1000000000);
    assert_int_equal(mend_eval_parse_time("2014-04-10T07:15:00.25Z", 23, &ns), 0);
    assert_true(ns == INT64_C(1397114100) * 1000000000 + 250000000);
    assert_int_equal(mend_eval_parse_time("2014-04-10 07:15", 16, &ns), 0);
    assert_true(ns == INT64_C(1397114100) * 1000000000);
    assert_int_equal(mend_eval_parse_time("2020-01-01", 10, &ns), 0);
    assert_true(ns == T0);
    assert_int_equal(mend_eval_parse_time("1577836800", 10, &ns), 0);
    assert_true(ns == T0);
    assert_int_equal(mend_eval_parse_time("1577836800.5", 12, &ns), 0);
    assert_true(ns == T0 + 500000000);
    assert_int_equal(mend_eval_parse_time("1577836800250", 13, &ns), 0);   /* ms */
    assert_true(ns == T0 + 250000000);
    assert_int_equal(mend_eval_parse_time("1577836800000000001", 19, &ns), 0);   /* ns */
    assert_true(ns == T0 + 1);
    assert_int_equal(mend_eval_parse_time("-1.5", 4, &ns), 0);
    assert_true(ns == -1500000000);
    assert_int_equal(mend_eval_parse_time("12.", 3, &ns), MEND_EPARSE);
    assert_int_equal(mend_eval_parse_time(".5", 2, &ns), MEND_EPARSE);
    assert_int_equal(mend_eval_parse_time("-9223372036854775808", 20, &ns), MEND_EPARSE);
    assert_int_equal(mend_eval_parse_time("2019-02-29 00:00:00", 19, &ns), MEND_EPARSE);
    assert_int_equal(mend_eval_parse_time("2020-13-01 00:00:00", 19, &ns), MEND_EPARSE);
    assert_int_equal(mend_eval_parse_time("2020-01-01 24:00:00", 19, &ns), MEND_EPARSE);
    assert_int_equal(mend_eval_parse_time("2020-01-01 00:00:00x", 20, &ns), MEND_EPARSE);
    assert_int_equal(mend_eval_parse_time("timestamp", 9, &ns), MEND_EPARSE);
    assert_int_equal(mend_eval_parse_time("", 0, &ns), MEND_EPARSE);
    /* the length is honoured, no NUL needed */
    assert_int_equal(mend_eval_parse_time("2020-01-01 00:00:00junk", 19, &ns), 0);
    assert_true(ns == T0);
}

static void test_load_series(void **state)
{
    (void)state;
    struct mend_eval_series s;
    char err[256];
    assert_int_equal(mend_eval_series_load("tests/fixtures/eval/perfect/cat/a.csv", &s, err,
                                           sizeof err), 0);
    assert_int_equal(s.n, 20);
    assert_true(s.time_ns[0] == T0 && s.time_ns[19] == T0 + 19 * MIN_NS);
    assert_near(s.score[10], 1.0, 0.0);
    assert_near(s.score[9], 0.0, 0.0);
    mend_eval_series_fini(&s);

    /* no header: first column time (epoch), last column score */
    assert_int_equal(mend_eval_series_load("tests/fixtures/eval/noheader.csv", &s, err,
                                           sizeof err), 0);
    assert_int_equal(s.n, 2);
    assert_true(s.time_ns[1] == T0 + 60500000000);
    assert_near(s.score[1], 0.5, 0.0);
    mend_eval_series_fini(&s);

    assert_int_equal(mend_eval_series_load("tests/fixtures/eval/bad/cat/a.csv", &s, err,
                                           sizeof err), MEND_EPARSE);
    assert_non_null(strstr(err, "bad/cat/a.csv:5:25: bad anomaly_score 'abc'"));
    assert_null(s.time_ns);
    assert_int_equal(mend_eval_series_load("tests/fixtures/eval/backwards.csv", &s, err,
                                           sizeof err), MEND_EPARSE);
    assert_non_null(strstr(err, "backwards.csv:3:1: timestamp goes backwards"));
    assert_int_equal(mend_eval_series_load("tests/fixtures/eval/nonexistent.csv", &s, err,
                                           sizeof err), MEND_EIO);
    assert_non_null(strstr(err, "nonexistent.csv: cannot open"));
    mend_eval_series_fini(NULL);
}

static void test_load_labels(void **state)
{
    (void)state;
    struct mend_eval_labels l;
    char err[256];
    assert_int_equal(mend_eval_labels_load("tests/fixtures/eval/windows.csv", &l, err,
                                           sizeof err), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.v[0].file, "cat/a.csv");
    assert_true(l.v[0].win.start_ns == T0 + 10 * MIN_NS);
    assert_true(l.v[0].win.end_ns == T0 + 14 * MIN_NS);
    assert_int_equal(l.v[0].line, 2);
    mend_eval_labels_fini(&l);
    assert_int_equal(mend_eval_labels_load("tests/fixtures/eval/overlap_windows.csv", &l, err,
                                           sizeof err), MEND_EPARSE);
    assert_non_null(strstr(err, "overlap_windows.csv:4: window overlaps the one on line 2"));
    /* a results file is not a windows file: 3 fields but bad times */
    assert_int_equal(mend_eval_labels_load("tests/fixtures/eval/backwards.csv", &l, err,
                                           sizeof err), MEND_EPARSE);
    assert_non_null(strstr(err, "backwards.csv:1:"));
    mend_eval_labels_fini(NULL);
}

/* Runs `$MEND_BIN eval ARGS`, returns its exit status and the last stdout
 * line in last (empty when none). */
static int run_eval(const char *args, char *last, size_t lastlen)
{
    const char *bin = getenv("MEND_BIN");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s eval %s 2>/dev/null", bin, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[1024];
    last[0] = '\0';
    while (fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = '\0';
        snprintf(last, lastlen, "%s", line);
    }
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_cli(void **state)
{
    (void)state;
    const char *bin = getenv("MEND_BIN");
    if (!bin || !*bin) {
        skip();
        return;
    }
    char last[1024];
    assert_int_equal(run_eval("--windows tests/fixtures/eval/windows.csv tests/fixtures/eval/perfect",
                              last, sizeof last), 0);
    assert_string_equal(last, "nab standard=100.0 low_fp=100.0 low_fn=100.0 files=2");
    /* fixed threshold 0: rows 3..9 of a.csv and 3..19 of b.csv are FPs */
    assert_int_equal(run_eval("--threshold 0 --windows tests/fixtures/eval/windows.csv "
                              "tests/fixtures/eval/perfect", last, sizeof last), 0);
    assert_non_null(strstr(last, "files=2"));
    assert_int_equal(run_eval("--windows tests/fixtures/eval/windows.csv tests/fixtures/eval/bad",
                              last, sizeof last), 1);
    assert_int_equal(run_eval("--windows tests/fixtures/eval/windows.csv", last, sizeof last), 2);
    assert_int_equal(run_eval("--bogus x", last, sizeof last), 2);
    assert_int_equal(run_eval("--threshold nan --windows w x", last, sizeof last), 2);
    assert_int_equal(run_eval("--help", last, sizeof last), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_profiles),
        cmocka_unit_test(test_perfect),
        cmocka_unit_test(test_all_zero),
        cmocka_unit_test(test_all_one),
        cmocka_unit_test(test_all_one_negative),
        cmocka_unit_test(test_earliest_counts),
        cmocka_unit_test(test_optimize),
        cmocka_unit_test(test_probation),
        cmocka_unit_test(test_fp_decay),
        cmocka_unit_test(test_window_mapping),
        cmocka_unit_test(test_two_files),
        cmocka_unit_test(test_loco),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_load_series),
        cmocka_unit_test(test_load_labels),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
