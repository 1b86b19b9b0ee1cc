/* test_detector.c -- the univariate detectors and their helpers against
 * hand-computed values: Welford and exponential mean/variance, median/MAD,
 * the surprise of each detector, the seasonal profile (configured and
 * detected period), and the likelihood layer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <gsl/gsl_cdf.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mend/detector.h"
#include "mend/likelihood.h"
#include "mend/scorer.h"

#define NS_PER_S 1000000000LL

/* cmocka's assert_float_equal works in float; these values need double. */
static void near_(double a, double b, double eps, const char *file, int line)
{
    if (!(fabs(a - b) <= eps)) {
        print_error("%.17g != %.17g (eps %g)\n", a, b, eps);
        _fail(file, line);
    }
}
#define assert_near(a, b, eps) near_((a), (b), (eps), __FILE__, __LINE__)

static void test_welford(void **unused)
{
    (void)unused;
    struct mend_welford w = {0};
    static const double v[] = {2, 4, 4, 4, 5, 5, 7, 9};
    assert_near(mend_welford_var(&w), 0.0, 0.0);
    for (size_t i = 0; i < 8; i++)
        mend_welford_add(&w, v[i]);
    assert_near(w.mean, 5.0, 1e-12);
    assert_near(mend_welford_var(&w), 32.0 / 7.0, 1e-12); /* sum sq dev 32, n-1 = 7 */
}

static void test_ewstat(void **unused)
{
    (void)unused;
    /* alpha 0.5 on 1, 3, 5: plain average for two samples (mean 2, var 1),
     * then weight 0.5: d = 3, mean 3.5, var 0.5 * (1 + 3 * 1.5) = 2.75. */
    struct mend_ewstat e = {0};
    mend_ewstat_add(&e, 0.5, 1);
    assert_near(e.mean, 1.0, 1e-12);
    assert_near(e.var, 0.0, 1e-12);
    mend_ewstat_add(&e, 0.5, 3);
    assert_near(e.mean, 2.0, 1e-12);
    assert_near(e.var, 1.0, 1e-12);
    mend_ewstat_add(&e, 0.5, 5);
    assert_near(e.mean, 3.5, 1e-12);
    assert_near(e.var, 2.75, 1e-12);
    /* alpha 0.1 stays a plain average for the first ten: population
     * variance of 1, 3, 5 is 8/3. */
    struct mend_ewstat f = {0};
    mend_ewstat_add(&f, 0.1, 1);
    mend_ewstat_add(&f, 0.1, 3);
    mend_ewstat_add(&f, 0.1, 5);
    assert_near(f.mean, 3.0, 1e-12);
    assert_near(f.var, 8.0 / 3.0, 1e-12);
}

static void test_median_mad(void **unused)
{
    (void)unused;
    double med, mad;
    double a[] = {9, 1, 4, 2, 6, 1, 2}; /* sorted 1 1 2 2 4 6 9; |dev| 0 0 1 1 2 4 7 */
    assert_int_equal(mend_median_mad(a, 7, &med, &mad), MEND_OK);
    assert_near(med, 2.0, 0);
    assert_near(mad, 1.0, 0);
    double b[] = {100, 1, 6, 2, 4, 3}; /* median 3.5; |dev| .5 .5 1.5 2.5 2.5 96.5 */
    assert_int_equal(mend_median_mad(b, 6, &med, &mad), MEND_OK);
    assert_near(med, 3.5, 0);
    assert_near(mad, 2.0, 0);
    double c[] = {5, 5, 5, 5};
    assert_int_equal(mend_median_mad(c, 4, &med, &mad), MEND_OK);
    assert_near(med, 5.0, 0);
    assert_near(mad, 0.0, 0);
    assert_int_equal(mend_median_mad(c, 0, &med, &mad), MEND_EINVAL);
    assert_int_equal(mend_median_mad(c, 1025, &med, &mad), MEND_EINVAL);
}

static void test_det_z(void **unused)
{
    (void)unused;
    assert_near(mend_det_z(5, 3, 4, 0), 1.0, 1e-12);
    assert_near(mend_det_z(1, 3, 4, 0), 1.0, 1e-12);
    /* Zero variance: the floor is 1e-3 of the level, so a 1% move is 10. */
    assert_near(mend_det_z(101, 100, 0, 100), 10.0, 1e-9);
    assert_near(mend_det_z(1e300, -1e300, 0, 0), MEND_DET_ZMAX, 0);
    assert_near(mend_det_z(NAN, 0, 1, 0), MEND_DET_ZMAX, 0);
}

/* Runs one detector from the registry on its own blob. */
struct det {
    const struct mend_detector_ops *ops;
    struct mend_scorer_conf c;
    void *st;
};

static void det_open(struct det *d, const struct mend_detector_ops *ops,
                     const struct mend_scorer_conf *c)
{
    d->ops = ops;
    d->c = *c;
    d->st = calloc(1, ops->state_size(c));
    assert_non_null(d->st);
    assert_int_equal(ops->init(d->st, &d->c), MEND_OK);
}

static void det_close(struct det *d)
{
    if (d->ops->fini)
        d->ops->fini(d->st, &d->c);
    free(d->st);
}

static double det_step(struct det *d, int64_t t, double x, double *ex)
{
    double e;
    return d->ops->step(d->st, &d->c, t, x, ex ? ex : &e);
}

static void test_registry(void **unused)
{
    (void)unused;
    size_t n;
    const struct mend_detector_ops *const *r = mend_detectors(&n);
    assert_true(n >= 5);
    unsigned seen = 0;
    for (size_t i = 0; i < n; i++) {
        assert_non_null(r[i]->name);
        assert_non_null(r[i]->step);
        assert_int_equal(seen & r[i]->bit, 0); /* bits are distinct */
        seen |= r[i]->bit;
    }
    assert_int_equal(seen, MEND_DET_GAUSS | MEND_DET_EWMA | MEND_DET_DIFF | MEND_DET_ROBUST |
                               MEND_DET_SEASONAL | MEND_DET_DRIFT);
}

static void test_gauss_and_ewma(void **unused)
{
    (void)unused;
    struct mend_scorer_conf c;
    mend_scorer_conf_defaults(&c);
    struct det g, e;
    det_open(&g, &mend_detector_gauss, &c);
    det_open(&e, &mend_detector_ewma, &c);
    double ex;
    /* Nothing to compare with yet: surprise 0, expected = x. */
    assert_near(det_step(&g, 0, 2, &ex), 0.0, 0);
    assert_near(ex, 2.0, 0);
    assert_near(det_step(&g, 1, 4, &ex), 0.0, 0);
    assert_near(ex, 2.0, 0);
    /* After {2,4}: mean 3, sample variance 2, so 6 is 3/sqrt(2) away. */
    assert_near(det_step(&g, 2, 6, &ex), 3.0 / sqrt(2.0), 1e-4);
    assert_near(ex, 3.0, 1e-12);
    /* EWMA: after {2,4} the plain average (3) and population variance (1). */
    det_step(&e, 0, 2, NULL);
    det_step(&e, 1, 4, NULL);
    assert_near(det_step(&e, 2, 6, &ex), 3.0, 1e-4);
    assert_near(ex, 3.0, 1e-12);
    det_close(&g);
    det_close(&e);
}

/* Time, not sample count: after a gap of 100 usual intervals the level
 * model gives the first new sample the weight of 100 samples (the level may
 * have moved meanwhile), 1 - (1 - 1/P)^100, instead of 1/P. */
static void test_ewma_gap(void **unused)
{
    (void)unused;
    struct mend_scorer_conf c;
    mend_scorer_conf_defaults(&c);
    struct det e, f;
    det_open(&e, &mend_detector_ewma, &c);
    det_open(&f, &mend_detector_ewma, &c);
    int64_t t = 0;
    for (int i = 0; i < 2000; i++, t += 60)
        for (int k = 0; k < 2; k++)
            det_step(k ? &f : &e, t * NS_PER_S, 10.0 + 0.01 * (i & 1), NULL);
    double ex;
    det_step(&e, t * NS_PER_S, 20.0, NULL);                 /* on time */
    det_step(&f, (t + 99 * 60) * NS_PER_S, 20.0, NULL);     /* after a gap */
    det_step(&e, (t + 60) * NS_PER_S, 20.0, &ex);
    double w = 1.0 / (double)c.probation;
    assert_near(ex, 10.005 + 10.0 * w, 0.01);
    det_step(&f, (t + 100 * 60) * NS_PER_S, 20.0, &ex);
    assert_near(ex, 10.005 + 10.0 * (1.0 - pow(1.0 - w, 100.0)), 0.05);
    det_close(&e);
    det_close(&f);
}

/* A level that creeps by one noise deviation per P samples: the level model
 * (memory P) follows it and stays unsurprised; the drift detector, whose
 * baseline remembers 8P, sees it. On stationary noise it stays near 0. */
static void test_drift(void **unused)
{
    (void)unused;
    struct mend_scorer_conf c;
    mend_scorer_conf_defaults(&c);
    struct det d, e;
    det_open(&d, &mend_detector_drift, &c);
    det_open(&e, &mend_detector_ewma, &c);
    assert_non_null(d.ops->settled);
    uint64_t lcg = 3;
    double zmax_flat = 0.0, z_d = 0.0, z_e = 0.0;
    int64_t n = 0;
    for (; n < 4 * (int64_t)c.probation; n++) {
        lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
        double x = 10.0 + 3.46 * ((double)(lcg >> 11) / 9007199254740992.0 - 0.5); /* sd 1 */
        double z = det_step(&d, n * 300 * NS_PER_S, x, NULL);
        det_step(&e, n * 300 * NS_PER_S, x, NULL);
        if (z > zmax_flat)
            zmax_flat = z;
    }
    assert_true(d.ops->settled(d.st, n * 300 * NS_PER_S));
    assert_true(zmax_flat < 1.0);
    for (int64_t k = 0; k < 4 * (int64_t)c.probation; k++, n++) {
        lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
        double x = 10.0 + (double)k / (double)c.probation +
                   3.46 * ((double)(lcg >> 11) / 9007199254740992.0 - 0.5);
        z_d = det_step(&d, n * 300 * NS_PER_S, x, NULL);
        z_e = det_step(&e, n * 300 * NS_PER_S, x, NULL);
    }
    print_message("creep of 4 sd over 4P: drift z %.2f (flat max %.2f), level z %.2f\n", z_d,
                  zmax_flat, z_e);
    /* the likelihood layer judges it against its own quiet history */
    assert_true(z_d > 1.0);
    assert_true(z_d > 5.0 * zmax_flat);
    det_close(&d);
    det_close(&e);
}

static void test_diff(void **unused)
{
    (void)unused;
    struct mend_scorer_conf c;
    mend_scorer_conf_defaults(&c);
    struct det d;
    det_open(&d, &mend_detector_diff, &c);
    double ex;
    /* A steady ramp of +1 with one wobble: differences 1,1,1,1.5,0.5. */
    static const double ramp[] = {1, 2, 3, 4, 5.5, 6};
    for (size_t i = 0; i < 6; i++)
        det_step(&d, (int64_t)i, ramp[i], NULL);
    /* Next value 7 continues the trend: small surprise, expected about 7. */
    double z_on = det_step(&d, 6, 7, &ex);
    assert_true(z_on < 1.0);
    assert_near(ex, 7.0, 0.01);
    /* A jump of +10 instead of +1 is far outside. */
    double z_jump = det_step(&d, 7, 17, &ex);
    assert_true(z_jump > 10.0);
    det_close(&d);
}

static void test_robust(void **unused)
{
    (void)unused;
    struct mend_scorer_conf c;
    mend_scorer_conf_defaults(&c);
    c.robust_window = 8;
    struct det r;
    det_open(&r, &mend_detector_robust, &c);
    double ex;
    /* Window 10 12 10 12 10 12 1000 10: median 11, MAD 1, sigma 1.4826. */
    static const double v[] = {10, 12, 10, 12, 10, 12, 1000, 10};
    for (size_t i = 0; i < 8; i++)
        det_step(&r, (int64_t)i, v[i], NULL);
    double z = det_step(&r, 8, 14, &ex);
    assert_near(ex, 11.0, 0);
    assert_near(z, 3.0 / 1.482602218505602, 1e-3); /* the 1000 does not move it */
    /* The window is bounded: after 8 more normal values the outlier is gone. */
    for (size_t i = 0; i < 8; i++)
        det_step(&r, (int64_t)(9 + i), i & 1 ? 12.0 : 10.0, NULL);
    assert_true(det_step(&r, 20, 1000, NULL) > 100.0);
    det_close(&r);
}

/* A daily sine, 5-minute samples, small deterministic noise. */
static double daily(int64_t t_s)
{
    double ph = (double)(t_s % 86400) / 86400.0;
    double noise = 0.02 * sin((double)t_s * 0.731);
    return 10.0 + 5.0 * sin(2.0 * M_PI * ph) + noise;
}

static void run_seasonal(struct det *s)
{
    for (int64_t k = 0; k < 8 * 288; k++) /* 8 days */
        det_step(s, k * 300 * NS_PER_S, daily(k * 300), NULL);
}

static void check_seasonal_profile(struct det *s)
{
    int64_t base = 8 * 86400;
    /* 6 h is the daily peak (15); 18 h the trough (5). */
    int64_t peak = base + 6 * 3600, trough = base + 18 * 3600;
    double ex, z_usual, z_off;
    z_usual = det_step(s, peak * NS_PER_S, 15.0, &ex);
    assert_near(ex, 15.0, 0.3);
    z_off = det_step(s, trough * NS_PER_S, 15.0, &ex);
    assert_near(ex, 5.0, 0.3);
    assert_true(z_usual < 3.0);
    assert_true(z_off > 10.0);
}

static void test_seasonal_configured(void **unused)
{
    (void)unused;
    struct mend_scorer_conf c;
    mend_scorer_conf_defaults(&c);
    char err[128];
    assert_int_equal(mend_scorer_conf_set(&c, "season_period", "1d", err, sizeof err), MEND_OK);
    assert_int_equal(c.season_period_s, 86400);
    struct det s;
    det_open(&s, &mend_detector_seasonal, &c);
    run_seasonal(&s);
    check_seasonal_profile(&s);
    det_close(&s);
}

static void test_seasonal_detected(void **unused)
{
    (void)unused;
    struct mend_scorer_conf c;
    mend_scorer_conf_defaults(&c);
    c.probation = 3 * 288; /* three days to detect the period in */
    struct det s;
    det_open(&s, &mend_detector_seasonal, &c);
    double ex;
    /* While detecting, the detector has no opinion. */
    assert_near(det_step(&s, 0, 10.0, &ex), 0.0, 0);
    assert_near(ex, 10.0, 0);
    det_close(&s);
    det_open(&s, &mend_detector_seasonal, &c);
    run_seasonal(&s);
    check_seasonal_profile(&s);
    det_close(&s);

    /* Noise has no period: the detector stays silent rather than guess. */
    det_open(&s, &mend_detector_seasonal, &c);
    uint64_t lcg = 12345;
    for (int64_t k = 0; k < 4 * 288; k++) {
        lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
        det_step(&s, k * 300 * NS_PER_S, (double)(lcg >> 40) / 16777216.0, NULL);
    }
    assert_near(det_step(&s, 5 * 86400 * NS_PER_S, 1e6, NULL), 0.0, 0);
    /* It dropped its profile (seasonal is on by default, so a series without
     * a period must not pay for one), and that state still saves and loads
     * into a fresh blob, which then stays silent too. */
    struct mend_wbuf w;
    mend_wbuf_init(&w);
    assert_int_equal(s.ops->save(s.st, &s.c, &w), MEND_OK);
    struct det t;
    det_open(&t, &mend_detector_seasonal, &c);
    struct mend_rbuf r;
    mend_rbuf_init(&r, w.data, w.len);
    assert_int_equal(t.ops->load(t.st, &t.c, &r), MEND_OK);
    assert_int_equal(r.off, w.len);
    assert_near(det_step(&t, 6 * 86400 * NS_PER_S, 1e6, NULL), 0.0, 0);
    /* A state with a period loads even into a blob that has dropped its
     * profile (load allocates what the saved state needs), and then scores
     * exactly like the original. */
    struct det p;
    det_open(&p, &mend_detector_seasonal, &c);
    run_seasonal(&p);
    struct mend_wbuf wp;
    mend_wbuf_init(&wp);
    assert_int_equal(p.ops->save(p.st, &p.c, &wp), MEND_OK);
    mend_rbuf_init(&r, wp.data, wp.len);
    assert_int_equal(s.ops->load(s.st, &s.c, &r), MEND_OK);
    assert_int_equal(r.off, wp.len);
    double ep, es;
    for (int k = 0; k < 50; k++) {
        int64_t tk = (7 * 86400 + k * 1800) * NS_PER_S;
        double x = 10.0 + (double)(k % 5);
        assert_near(det_step(&s, tk, x, &es), det_step(&p, tk, x, &ep), 0);
        assert_near(es, ep, 0);
    }
    mend_wbuf_fini(&wp);
    mend_wbuf_fini(&w);
    det_close(&p);
    det_close(&t);
    det_close(&s);
}

/* The short look needs P samples to span two hours (two cycles of the
 * shortest calendar period): a 10-second series gives it up at its second
 * sample and buffers nothing; a 5-minute one keeps looking. The 10-second
 * series has no opinion then, but is not silent for good: the long look
 * (2-hour means) may still find a day or a week. Noise has neither, and
 * after the long look's two weeks the detector is silent. */
/* Whether the values may be taken as exchangeable (the scorer's range
 * channel judges a new extreme from the top of everything seen only then):
 * not while the seasonal detector has a period, or may still find one. A
 * 10-second series gives up the short look at once, and the long look
 * (2-hour means) rules out a day after two days; a 5-minute series' short
 * look spans two days and rules it out itself; a daily cycle stays
 * structured. */
static void test_seasonal_structured(void **unused)
{
    (void)unused;
    struct mend_scorer_conf c;
    mend_scorer_conf_defaults(&c);
    struct det fast, slow, cyc;
    det_open(&fast, &mend_detector_seasonal, &c);
    det_open(&slow, &mend_detector_seasonal, &c);
    det_open(&cyc, &mend_detector_seasonal, &c);
    assert_non_null(fast.ops->structured);
    uint64_t lcg = 11;
    int fast_day1 = -1, fast_day3 = -1;
    for (int64_t k = 0; k < 3 * 8640; k++) { /* 3 days of 10-second noise */
        lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
        int64_t t = k * 10 * NS_PER_S;
        det_step(&fast, t, (double)(lcg >> 40) / 16777216.0, NULL);
        if (k == 8640)
            fast_day1 = fast.ops->structured(fast.st, t);
    }
    fast_day3 = fast.ops->structured(fast.st, 3 * 86400 * NS_PER_S);
    assert_int_equal(fast_day1, 1);
    assert_int_equal(fast_day3, 0);
    int slow_first = -1, cyc_any0 = 0;
    for (int64_t k = 0; k < 5 * 288; k++) { /* 5 days of 5-minute data */
        lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
        int64_t t = k * 300 * NS_PER_S;
        double u = (double)(lcg >> 40) / 16777216.0;
        det_step(&slow, t, u, NULL);
        det_step(&cyc, t, 10.0 * sin(2.0 * M_PI * (double)k / 288.0) + u, NULL);
        if (k == 1)
            slow_first = slow.ops->structured(slow.st, t);
        if (k > 1 && !cyc.ops->structured(cyc.st, t))
            cyc_any0 = 1;
    }
    assert_int_equal(slow_first, 1);
    assert_int_equal(slow.ops->structured(slow.st, 5 * 86400 * NS_PER_S), 0);
    assert_int_equal(cyc_any0, 0);
    assert_null(mend_detector_ewma.structured);
    det_close(&fast);
    det_close(&slow);
    det_close(&cyc);
}

static void test_seasonal_gate(void **unused)
{
    (void)unused;
    struct mend_scorer_conf c;
    mend_scorer_conf_defaults(&c);
    c.probation = 600;
    struct det fast, slow;
    det_open(&fast, &mend_detector_seasonal, &c);
    det_open(&slow, &mend_detector_seasonal, &c);
    assert_non_null(fast.ops->silent);
    assert_non_null(fast.ops->settled);
    det_step(&fast, 0, 1.0, NULL);
    det_step(&slow, 0, 1.0, NULL);
    assert_false(fast.ops->silent(fast.st, 0));
    det_step(&fast, 10 * NS_PER_S, 1.0, NULL);
    det_step(&slow, 300 * NS_PER_S, 1.0, NULL);
    /* the fast one waits (skipped by the scorer) until its first hour */
    assert_true(fast.ops->silent(fast.st, 20 * NS_PER_S));
    assert_false(fast.ops->silent(fast.st, 3700 * NS_PER_S));
    assert_false(fast.ops->settled(fast.st, 10 * NS_PER_S));
    assert_false(slow.ops->silent(slow.st, 600 * NS_PER_S));
    uint64_t lcg = 5;
    for (int64_t k = 2; k < 16 * 8640; k++) { /* 16 days of 10-second noise */
        lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
        det_step(&fast, k * 10 * NS_PER_S, (double)(lcg >> 40) / 16777216.0, NULL);
    }
    assert_true(fast.ops->silent(fast.st, 16 * 86400 * NS_PER_S));
    det_close(&fast);
    det_close(&slow);
}

/* Weekdays busy from 8 to 18 h, weekends quiet; the epoch was a Thursday. */
static double weekly(int64_t t_s, int holiday)
{
    int64_t day = t_s / 86400, hour = (t_s % 86400) / 3600;
    int dow = (int)((day + 3) % 7); /* 0 = Monday */
    int workday = dow < 5 && !holiday;
    double noise = 0.5 * sin((double)t_s * 0.001731);
    return 20.0 + (workday ? 10.0 : 0.0) + (workday && hour >= 8 && hour < 18 ? 60.0 : 0.0) + noise;
}

/* A weekly cycle is found on hourly and on 5-minute data (the short look
 * sees only a day or nothing; the long look's two weeks show the week),
 * and the profile then knows a Saturday from a Wednesday. */
static void test_seasonal_weekly(void **unused)
{
    (void)unused;
    static const int64_t step_s[] = {3600, 300};
    for (int k = 0; k < 2; k++) {
        struct mend_scorer_conf c;
        mend_scorer_conf_defaults(&c);
        struct det s;
        det_open(&s, &mend_detector_seasonal, &c);
        int64_t t0 = 4 * 86400; /* a Monday */
        int64_t t;
        for (t = t0; t < t0 + 28 * 86400; t += step_s[k])
            det_step(&s, t * NS_PER_S, weekly(t, 0), NULL);
        assert_true(s.ops->settled(s.st, t * NS_PER_S));
        /* Wednesday of week 5 at noon: busy is usual; Saturday noon: not. */
        int64_t wed = t0 + 28 * 86400 + 2 * 86400 + 12 * 3600;
        int64_t sat = t0 + 28 * 86400 + 5 * 86400 + 12 * 3600;
        double ex;
        double z_usual = det_step(&s, wed * NS_PER_S, 90.0, &ex);
        assert_near(ex, 90.0, 3.0);
        double z_sat = det_step(&s, sat * NS_PER_S, 90.0, &ex);
        assert_near(ex, 20.0, 3.0);
        print_message("weekly (%llds steps): z usual %.2f, z busy Saturday %.1f\n",
                      (long long)step_s[k], z_usual, z_sat);
        assert_true(z_usual < 3.0);
        assert_true(z_sat > 10.0);
        det_close(&s);
    }
}

/* A daily cycle on 1-minute data: P = 600 samples span 10 hours, too short
 * for the short look; the long look finds the day after two days. */
static void test_seasonal_daily_long(void **unused)
{
    (void)unused;
    struct mend_scorer_conf c;
    mend_scorer_conf_defaults(&c);
    struct det s;
    det_open(&s, &mend_detector_seasonal, &c);
    int64_t t;
    for (t = 0; t < 2 * 86400 + 7200; t += 60)
        det_step(&s, t * NS_PER_S, daily(t), NULL);
    /* found, but no opinion until its residuals have covered a day */
    assert_false(s.ops->settled(s.st, t * NS_PER_S));
    for (; t < 4 * 86400; t += 60) /* a bin is judged from its third visit */
        det_step(&s, t * NS_PER_S, daily(t), NULL);
    assert_true(s.ops->settled(s.st, t * NS_PER_S));
    double ex;
    det_step(&s, (4 * 86400 + 6 * 3600) * NS_PER_S, 15.0, &ex);
    assert_near(ex, 15.0, 0.5);
    double z = det_step(&s, (4 * 86400 + 18 * 3600) * NS_PER_S, 15.0, &ex);
    assert_near(ex, 5.0, 0.5);
    assert_true(z > 10.0);
    det_close(&s);
}

/* The scorer with its defaults on hourly data with a weekly cycle: a
 * holiday (a Wednesday as quiet as a Sunday, every value within the range
 * seen) is an event; the five normal weeks around it are not. */
static void test_holiday_event(void **unused)
{
    (void)unused;
    struct mend_scorer_conf c;
    mend_scorer_conf_defaults(&c);
    void *st = calloc(1, mend_scorer_state_size(&c));
    assert_non_null(st);
    assert_int_equal(mend_scorer_init(st, &c), MEND_OK);
    int64_t t0 = 4 * 86400, hol = t0 + 35 * 86400 + 2 * 86400; /* Wednesday, week 6 */
    int events = 0, on_holiday = 0;
    for (int64_t t = t0; t < t0 + 42 * 86400; t += 3600) {
        int is_hol = t >= hol && t < hol + 86400;
        int ev;
        mend_scorer_step(st, &c, t * NS_PER_S, weekly(t, is_hol), &ev);
        events += ev;
        on_holiday += ev && is_hol;
    }
    print_message("holiday: %d events, %d on the holiday\n", events, on_holiday);
    assert_true(on_holiday >= 1);
    assert_int_equal(events, on_holiday);
    mend_scorer_fini(st, &c);
    free(st);
}

static void test_tail_log10(void **unused)
{
    (void)unused;
    /* Within 0.3% of the tail probability: 0.0013 in log10. */
    assert_near(mend_tail_log10(0.0), log10(2.0), 0.0013);
    /* Q(1) = 0.158655, Q(3.090232) = 1e-3, Q(4.264891) = 1e-5, Q(-1) = 0.841345,
     * Q(38) = 2.885e-316 (erfc has underflowed there). */
    assert_near(mend_tail_log10(1.0), -log10(0.158655254), 0.0013);
    assert_near(mend_tail_log10(3.090232306), 3.0, 0.0013);
    assert_near(mend_tail_log10(4.264890794), 5.0, 0.0013);
    assert_near(mend_tail_log10(-1.0), -log10(0.841344746), 0.0013);
    assert_near(mend_tail_log10(38.0), 315.5401, 0.0013);
    double prev = 0.0;
    for (double z = -50; z < 1e4; z = z < 100 ? z + 0.5 : z * 2) {
        double e = mend_tail_log10(z);
        assert_true(e >= 0.0 && isfinite(e));
        assert_true(e >= prev - 1e-12); /* monotone */
        prev = e;
    }
    assert_near(mend_tail_log10(NAN), 0.0, 0);
    /* and everywhere in between, against GSL's Gaussian tail */
    for (double z = -5.0; z < 37.0; z += 0.01)
        assert_near(mend_tail_log10(z), -log10(gsl_cdf_ugaussian_Q(z)), 0.0013);
}

static void test_likelihood(void **unused)
{
    (void)unused;
    struct mend_likelihood l = {0};
    uint64_t n = 0;
    double ev = 0;
    /* A detector that is always mildly surprised (u alternating 1 and 1.5)... */
    for (int i = 0; i < 1000; i++)
        ev = mend_likelihood_step(&l, ++n, i & 1 ? 1.5 : 1.0, 1.0, 0.01, 0.01);
    assert_true(ev < 1.0);
    assert_near(l.mean, 1.25, 0.01);
    assert_near(sqrt(l.var), 0.25, 0.01);
    /* ... judges u = 3 (7 deviations) as extreme: Q(7) ~ 1.3e-12. */
    ev = mend_likelihood_step(&l, ++n, 3.0, 1.0, 0.01, 0.01);
    assert_near(ev, -log10(1.279812543885835e-12), 0.5);
    /* If u = 3 becomes the norm, it stops being surprising. */
    for (int i = 0; i < 1000; i++)
        ev = mend_likelihood_step(&l, ++n, 3.0, 1.0, 0.01, 0.01);
    assert_true(ev < 1.0);
    /* The short average keeps a single spike in view for a few samples. */
    struct mend_likelihood a = {0}, b = {0};
    double ea = 0, eb = 0;
    for (uint64_t i = 1; i <= 500; i++) {
        ea = mend_likelihood_step(&a, i, i & 1 ? 1.5 : 1.0, 1.0, 0.01, 0.01);
        eb = mend_likelihood_step(&b, i, i & 1 ? 1.5 : 1.0, 0.5, 0.01, 0.01);
    }
    ea = mend_likelihood_step(&a, 501, 3.0, 1.0, 0.01, 0.01);
    eb = mend_likelihood_step(&b, 501, 3.0, 0.5, 0.01, 0.01);
    assert_true(ea > 5.0);
    assert_true(eb > 5.0);
    ea = mend_likelihood_step(&a, 502, 1.0, 1.0, 0.01, 0.01);
    eb = mend_likelihood_step(&b, 502, 1.0, 0.5, 0.01, 0.01);
    assert_true(ea < 0.5);
    assert_true(eb > ea + 1.0);
    /* The floor keeps a perfectly regular history from making a wiggle
     * infinitely surprising: 0.1 above a constant, floor 0.25 -> z 0.4. */
    struct mend_likelihood f = {0};
    for (uint64_t i = 1; i <= 100; i++)
        mend_likelihood_step(&f, i, 1.0, 1.0, 0.01, 0.25);
    ev = mend_likelihood_step(&f, 101, 1.1, 1.0, 0.01, 0.25);
    assert_near(ev, mend_tail_log10(0.4), 1e-9);
    assert_near(ev, -log10(0.344578258), 0.0013); /* Q(0.4) */
}

/* mend_likelihood_learn (the scorer's step for a detector still in warm-up)
 * must leave the state bit for bit where mend_likelihood_step leaves it, so
 * that skipping the judgement never changes a later score. */
static void test_likelihood_learn_same(void **unused)
{
    (void)unused;
    struct mend_likelihood a = {0}, b = {0};
    uint64_t seed = 88172645463325252ULL;
    for (uint64_t n = 1; n <= 5000; n++) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        /* heavy-tailed surprises, with a few exact zeros */
        double u = (double)(seed >> 11) / 9007199254740992.0;
        u = n % 97 == 0 ? 0.0 : log(1.0 + u / (1.0 - u + 1e-9));
        double aw = 1.0 / (4.0 * 600.0);
        (void)mend_likelihood_step(&a, n, u, 0.5, aw, 0.25);
        if (n < 2500)
            mend_likelihood_learn(&b, n, u, 0.5, aw);
        else
            (void)mend_likelihood_step(&b, n, u, 0.5, aw, 0.25);
        assert_memory_equal(&a.avg, &b.avg, sizeof a.avg);
        assert_memory_equal(&a.mean, &b.mean, sizeof a.mean);
        assert_memory_equal(&a.var, &b.var, sizeof a.var);
    }
    assert_true(a.var > 0.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_welford),
        cmocka_unit_test(test_ewstat),
        cmocka_unit_test(test_median_mad),
        cmocka_unit_test(test_det_z),
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_gauss_and_ewma),
        cmocka_unit_test(test_ewma_gap),
        cmocka_unit_test(test_drift),
        cmocka_unit_test(test_diff),
        cmocka_unit_test(test_robust),
        cmocka_unit_test(test_seasonal_configured),
        cmocka_unit_test(test_seasonal_detected),
        cmocka_unit_test(test_seasonal_gate),
        cmocka_unit_test(test_seasonal_weekly),
        cmocka_unit_test(test_seasonal_daily_long),
        cmocka_unit_test(test_holiday_event),
        cmocka_unit_test(test_seasonal_structured),
        cmocka_unit_test(test_tail_log10),
        cmocka_unit_test(test_likelihood),
        cmocka_unit_test(test_likelihood_learn_same),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
