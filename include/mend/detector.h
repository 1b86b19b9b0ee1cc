/* detector.h -- the ops table behind mend's univariate detectors.
 *
 * A detector keeps a baseline of one series in a caller-owned blob and, for
 * each sample, first scores the sample against what it has learnt so far and
 * then learns it (so a score never depends on the sample itself or on later
 * samples). Its score is a surprise in standard units: |z| >= 0, where about
 * 3 is unusual and 0 means "as expected". The scorer (scorer.h) fuses the
 * detectors it is configured with; a new detector is one more ops table in
 * mend_detectors(), and the scoring loop does not change.
 *
 * Blobs are zeroed by the caller before init and aligned for double/int64_t.
 * Detectors read their parameters from the scorer configuration, which must
 * outlive the blob. */
#ifndef MEND_DETECTOR_H
#define MEND_DETECTOR_H

#include <stddef.h>
#include <stdint.h>

#include "mend/common.h"
#include "mend/scorer.h"

/* Largest surprise a detector reports; keeps sums and squares finite. */
#define MEND_DET_ZMAX 1e6

struct mend_detector_ops {
    const char *name; /* as written in the "detectors" option */
    unsigned bit;     /* MEND_DET_* */
    /* Bytes of blob this detector needs under configuration c. */
    size_t (*state_size)(const struct mend_scorer_conf *c);
    /* Prepares a zeroed blob; may allocate (returns MEND_ENOMEM then). */
    int (*init)(void *st, const struct mend_scorer_conf *c);
    /* Frees what init allocated; accepts a zeroed blob. May be NULL. */
    void (*fini)(void *st, const struct mend_scorer_conf *c);
    /* Scores x (finite) at event time t_ns against the baseline, then learns
     * it. Returns the surprise |z| in [0, MEND_DET_ZMAX]; *expected gets the
     * baseline's expected value (x itself while the detector has nothing to
     * compare with, which also yields surprise 0). No allocation. */
    double (*step)(void *st, const struct mend_scorer_conf *c, int64_t t_ns, double x,
                   double *expected);
    /* Appends the state; returns MEND_ENOMEM when w has failed. */
    int (*save)(const void *st, const struct mend_scorer_conf *c, struct mend_wbuf *w);
    /* Restores into an initialised blob; MEND_ECORRUPT on short or invalid
     * data (the caller then re-initialises the blob). */
    int (*load)(void *st, const struct mend_scorer_conf *c, struct mend_rbuf *r);
    /* 1 when the detector has no opinion on a sample at event time t_ns and
     * nothing to learn from it (the seasonal detector after finding no
     * period, for good; or, for a fast series, until its first hour, when
     * the long look starts): the scorer then skips its step and its
     * calibration. May be NULL (never silent). */
    int (*silent)(const void *st, int64_t t_ns);
    /* 1 while the detector has an opinion on the sample at event time t_ns
     * (the seasonal detector: once it has a period). Before that its
     * surprise (0) is not fed to the likelihood layer, whose estimate then
     * starts with the first real opinion, and whose evidence counts once
     * it has judged `warmup` of them. May be NULL (an opinion from the
     * first sample). */
    int (*settled)(const void *st, int64_t t_ns);
    /* 1 while the detector sees, or may still find, structure that makes
     * the series' values not exchangeable (the seasonal detector: a
     * period, or a look for one that has not yet covered two days); 0 once
     * it has looked and found none. The scorer's range channel takes the
     * values as exchangeable only when no detector says 1. May be NULL
     * (the detector has no say). */
    int (*structured)(const void *st, int64_t t_ns);
};

/* The built-in detectors, in the order the scorer runs them; static storage,
 * *n set to the count. */
const struct mend_detector_ops *const *mend_detectors(size_t *n);

/* The built-in tables, one per file. */
extern const struct mend_detector_ops mend_detector_gauss;    /* Welford, all history */
extern const struct mend_detector_ops mend_detector_ewma;     /* EW mean/variance */
extern const struct mend_detector_ops mend_detector_diff;     /* EW model of first differences */
extern const struct mend_detector_ops mend_detector_drift;    /* slow departures from the past level */
extern const struct mend_detector_ops mend_detector_robust;   /* median/MAD of a window */
extern const struct mend_detector_ops mend_detector_seasonal; /* per-phase profile */

/* ---- helpers shared by detectors and tests ---------------------------- */

/* Welford accumulator: exact running mean and variance of everything added. */
struct mend_welford {
    double n, mean, m2;
};
void mend_welford_add(struct mend_welford *w, double x);
/* Sample variance (n-1 denominator); 0 with fewer than two samples. */
double mend_welford_var(const struct mend_welford *w);

/* Exponentially weighted mean and variance with weight alpha on the newest
 * sample (West's incremental form). Starts from the first sample; while
 * fewer than 1/alpha samples have arrived, alpha is raised to 1/n so that
 * the early estimate is a plain average rather than biased to the first. */
struct mend_ewstat {
    double n, mean, var;
};
void mend_ewstat_add(struct mend_ewstat *e, double alpha, double x);

/* Median and MAD (median absolute deviation, unscaled) of v[0..n-1], n <= 1024;
 * v is left reordered. Returns MEND_EINVAL for n == 0 or n > 1024. */
int mend_median_mad(double *v, size_t n, double *median, double *mad);

/* The surprise of x against mean and variance, floored so that a constant
 * series does not divide by zero: |x - mean| / sqrt(var + floor), capped at
 * MEND_DET_ZMAX. The floor is (1e-3 * scale)^2 plus a tiny absolute term;
 * scale is the series' level (|mean| for a level model, the last value for a
 * model of differences). */
double mend_det_z(double x, double mean, double var, double scale);

#endif
