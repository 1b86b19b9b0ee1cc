/* scorer.c -- the per-series scoring loop: run the configured detectors,
 * calibrate each one's surprise with the anomaly-likelihood layer, add the
 * running-range channel, and turn the strongest evidence into a score in
 * [0,1] and events (k-of-n debounce, then one alarm per run: a quiet period
 * that only much stronger evidence breaks).
 *
 * The state is one caller-owned blob per series: a fixed header followed by,
 * for each enabled detector, its likelihood state and its own blob. The
 * header records where each detector lives, so a step walks a short array
 * instead of recomputing the layout. */
#include "mend/scorer.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mend/confmap.h"
#include "mend/detector.h"
#include "mend/likelihood.h"

/* Evidence (-log10 tail probability) that maps to score 1; score = evidence
 * / EVIDENCE_FULL, so the default threshold 0.5 means a one in 10^5
 * surprise for this series. Fixed, so that scores mean the same everywhere. */
#define EVIDENCE_FULL 10.0
/* Lower bound of the long deviation of a detector's surprise (in log1p(z)
 * units):
 * a perfectly regular series must still see a clear departure before it
 * counts as evidence. */
#define LIK_SD_FLOOR 0.25
#define MAX_DET 8
/* The range channel's top of the distribution: TOP_M gaps per side, so
 * k = TOP_M + 1 order statistics (see range_evidence()). */
#define TOP_M 5
/* Geary's ratio (mean absolute deviation / standard deviation) halfway
 * between an exponential tail's (Laplace: 1/sqrt 2 = 0.707) and a Gaussian's
 * (sqrt(2/pi) = 0.798): at or above it the tail is taken as lighter than
 * exponential (see range_evidence()). */
#define GEARY_LIGHT 0.7526
/* Where the event logic holds a score it does not report (the rest of a
 * run, a new extreme inside the range margin): a tenth below the threshold,
 * so that thresholding the output anywhere near the threshold counts one
 * alarm per event; a hold just under it (0.999) let a threshold a hair
 * lower count every held point as an alarm again (NAB dev 67.9 -> 69.0). */
#define HOLD_FRAC 0.9

/* Peaks over threshold on the fused evidence (recalibrate()): the level
 * log10(50) is a 2% tail, SPOT's usual 98% level; the prior counts as
 * POT_PRIOR runs above it. */
#define POT_Y0 1.6989700043360187
#define POT_P 0.02
#define POT_PRIOR 10.0


#define STATE_MAGIC 0x3143534du /* "MSC1" */
#define STATE_VERSION 6u /* 6: the range channel's tops (lsq, ntop, offsets, gaps); 5: the run in
                             progress (run_t, run_peak); 4 and 5 still load */

static const struct mend_detector_ops *const registry[] = {
    &mend_detector_ewma, &mend_detector_diff,     &mend_detector_gauss,
    &mend_detector_robust, &mend_detector_seasonal, &mend_detector_drift,
};
#define NREG (sizeof registry / sizeof registry[0])
_Static_assert(NREG <= 255, "struct hdr keeps registry indices in bytes");

const struct mend_detector_ops *const *mend_detectors(size_t *n)
{
    *n = NREG;
    return registry;
}

struct hdr {
    uint64_t n;          /* samples seen */
    uint64_t bits;       /* debounce history: bit i = sample n-i anomalous */
    uint64_t last_event; /* n of the last event, 0 = none yet */
    double last_strength; /* evidence of the last event */
    double min, max;      /* running range */
    double lmean, lmad;   /* EW level and mean absolute deviation around it
                             (memory P): the scale of the range channel */
    double lprev, ldmad;
    double lexc;          /* EW mean excess of |x - level| beyond 2 MADs: the
                             scale of the series' own tail */  /* last value; EW mean absolute first difference */
    /* Tail recalibration of the fused evidence (peaks over a threshold):
     * exponentially forgotten sums of samples, of runs that start above
     * POT_Y0, and of their first excess over it; see recalibrate(). */
    double pot_hits, pot_ex;
    double pot_run; /* peak excess of the run in progress, -1 outside one */
    double raw, lik, expected; /* last step, for mend_scorer_detail */
    /* The run in progress as mend_scorer_run() reports it: the final
     * evidence at or above POT_Y0 since it was last below (the same run the
     * event logic ends). Bookkeeping for watchers; no score reads it. */
    int64_t run_t;   /* event time of the run's first sample */
    double run_peak; /* its peak evidence so far, -1 outside a run */
    double run_prev; /* run_peak before the last step: not saved, since it
                        is only read right after a step (load sets it to
                        run_peak, so nothing is reported twice) */
    double lsq;           /* EW mean squared deviation around lmean (memory P) */
    /* The top and bottom of everything the series has shown since its
     * warm-up: over those ntop samples, gaps below their max (gap_hi,
     * ascending) and above their min of the next TOP_M order statistics,
     * and how far the running max and min (which count the warm-up) lie
     * beyond their max and min. A restore from an older version starts
     * them afresh. */
    float gap_hi[TOP_M], gap_lo[TOP_M];
    float top_dhi, top_dlo;
    uint32_t ntop;
    uint32_t fired;
    uint32_t ndet;
    uint8_t reg[MAX_DET];  /* registry index of each enabled detector (NREG
                              is small): bytes, so that the run fields fit
                              in the 512 bytes a default state promises */
    uint32_t off[MAX_DET]; /* blob offset of its likelihood + detector state */
};

static size_t align8(size_t n)
{
    return (n + 7u) & ~(size_t)7u;
}

/* ---- configuration ------------------------------------------------------ */

void mend_scorer_conf_defaults(struct mend_scorer_conf *c)
{
    memset(c, 0, sizeof *c);
    c->detectors = MEND_DET_EWMA | MEND_DET_RANGE | MEND_DET_SEASONAL;
    c->probation = 600;
    c->range_margin = 0.05;
    c->threshold = 0.5;
    c->debounce_k = 1;
    c->debounce_n = 1;
    c->quiet = 0.2;
    c->rearm = 2.0;
    c->lik_short = 3;
    c->robust_window = 64;
    c->season_period_s = 0;
    c->season_bins = 48;
    c->warmup = 150;
}

static int fail(char *err, size_t errlen, const char *key, const char *value, const char *why)
{
    if (err && errlen)
        snprintf(err, errlen, "detect.%s: '%s' %s", key, value ? value : "", why);
    return MEND_EINVAL;
}

/* The options themselves (names, types, bounds, defaults, help) are the
 * config map in detect_conf.c; setting goes through it. */
int mend_scorer_conf_set(struct mend_scorer_conf *c, const char *key, const char *value,
                         char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!c || !key || !value)
        return fail(err, errlen, key ? key : "?", value, "missing key or value");
    return mend_conf_set(&mend_scorer_conf_map, c, "detect", key, value, err, errlen);
}

/* Formats the offending value only when a check fails: init checks the
 * configuration of every new series, and snprintf would cost more than the
 * series' first hundred steps. */
#define FAIL_U(key, fmt, val, why)                                                                \
    do {                                                                                          \
        snprintf(v, sizeof v, fmt, val);                                                          \
        return fail(err, errlen, key, v, why);                                                    \
    } while (0)

int mend_scorer_conf_check(const struct mend_scorer_conf *c, char *err, size_t errlen)
{
    /* The value is formatted only for the message: every new series checks
     * its configuration, so the passing path must not print. */
    char v[32];
    if (err && errlen)
        err[0] = '\0';
    if (!c)
        return fail(err, errlen, "?", "", "no configuration");
    const unsigned known = MEND_DET_GAUSS | MEND_DET_EWMA | MEND_DET_ROBUST | MEND_DET_SEASONAL |
                           MEND_DET_RANGE | MEND_DET_DIFF | MEND_DET_DRIFT;
    if (!c->detectors || (c->detectors & ~known))
        FAIL_U("detectors", "0x%x", c->detectors, "must name at least one known detector");
    if (c->probation < 2 || c->probation > MEND_SCORER_MAX_PROBATION)
        FAIL_U("probation", "%u", c->probation, "must be in 2..100000");
    if (c->debounce_k < 1 || c->debounce_n > MEND_SCORER_MAX_DEBOUNCE ||
        c->debounce_k > c->debounce_n) {
        snprintf(v, sizeof v, "%u/%u", c->debounce_k, c->debounce_n);
        return fail(err, errlen, "debounce_k", v, "needs 1 <= debounce_k <= debounce_n <= 64");
    }
    if (!(c->threshold >= 0.01 && c->threshold <= 1.0) ||
        !(c->range_margin >= 0.0 && c->range_margin <= 10.0) ||
        !(c->quiet >= 0.0 && c->quiet <= 100.0) || !(c->rearm >= 1.0 && c->rearm <= 1e6))
        return fail(err, errlen, "threshold", "", "or range_margin, quiet, rearm out of range");
    if (c->lik_short < 1 || c->lik_short > 1000)
        FAIL_U("likelihood_short", "%u", c->lik_short, "must be in 1..1000");
    if (c->robust_window < 3 || c->robust_window > MEND_SCORER_MAX_ROBUST_WINDOW)
        FAIL_U("robust_window", "%u", c->robust_window, "must be in 3..1024");
    if (c->warmup > MEND_SCORER_MAX_PROBATION)
        FAIL_U("warmup", "%u", c->warmup, "must be in 0..100000");
    if (c->season_bins < 2 || c->season_bins > MEND_SCORER_MAX_SEASON_BINS)
        FAIL_U("season_bins", "%u", c->season_bins, "must be in 2..2016");
    if (c->season_period_s < 0 || c->season_period_s > 366 * 86400)
        FAIL_U("season_period", "%lld", (long long)c->season_period_s, "must be in 0..366d");
    return MEND_OK;
}
#undef FAIL_U

/* ---- state layout ------------------------------------------------------- */

size_t mend_scorer_state_size(const struct mend_scorer_conf *c)
{
    size_t n = align8(sizeof(struct hdr));
    for (size_t i = 0; i < NREG; i++)
        if (c->detectors & registry[i]->bit)
            n += align8(sizeof(struct mend_likelihood)) + align8(registry[i]->state_size(c));
    return n;
}

static struct mend_likelihood *lik_at(void *state, uint32_t off)
{
    return (struct mend_likelihood *)((unsigned char *)state + off);
}

static void *det_at(void *state, uint32_t off)
{
    return (unsigned char *)state + off + align8(sizeof(struct mend_likelihood));
}

static void reset(void *state, const struct mend_scorer_conf *c);

int mend_scorer_init(void *state, const struct mend_scorer_conf *c)
{
    struct hdr *h = state;
    if (mend_scorer_conf_check(c, NULL, 0))
        return MEND_EINVAL;
    /* the whole blob, likelihoods included: a blob initialised again (a
     * series restarted on rates, a slot reused) must not keep their counts */
    memset(h, 0, mend_scorer_state_size(c));
    size_t off = align8(sizeof(struct hdr));
    for (uint32_t i = 0; i < NREG; i++) {
        if (!(c->detectors & registry[i]->bit))
            continue;
        h->reg[h->ndet] = (uint8_t)i;
        h->off[h->ndet] = (uint32_t)off;
        int rc = registry[i]->init(det_at(state, (uint32_t)off), c);
        if (rc) {
            /* Only the detectors before this one hold resources. */
            for (uint32_t j = 0; j < h->ndet; j++)
                if (registry[h->reg[j]]->fini)
                    registry[h->reg[j]]->fini(det_at(state, h->off[j]), c);
            memset(h, 0, sizeof *h);
            return rc;
        }
        h->ndet++;
        off += align8(sizeof(struct mend_likelihood)) + align8(registry[i]->state_size(c));
    }
    h->min = INFINITY;
    h->max = -INFINITY;
    h->pot_run = -1.0;
    h->run_peak = h->run_prev = -1.0;
    return MEND_OK;
}

void mend_scorer_fini(void *state, const struct mend_scorer_conf *c)
{
    struct hdr *h = state;
    if (!h)
        return;
    for (uint32_t j = 0; j < h->ndet && j < MAX_DET; j++)
        if (registry[h->reg[j]]->fini)
            registry[h->reg[j]]->fini(det_at(state, h->off[j]), c);
    h->ndet = 0;
}

static void reset(void *state, const struct mend_scorer_conf *c)
{
    mend_scorer_fini(state, c);
    memset(state, 0, mend_scorer_state_size(c));
    (void)mend_scorer_init(state, c);
}

/* ---- the step ------------------------------------------------------------ */

/* Evidence of the range channel, as a tail probability so that it shares
 * the false-alarm budget with the other channels. Of n+1 exchangeable
 * samples the last is a new extreme on a given side with chance 1/(n+1)
 * (two sides: 2/(n+1)). How far beyond the old extreme it lands is the
 * tail's business: the excess over a high level is taken as exponential
 * (peaks over a threshold), with the scale b the series shows in its own
 * tail: the mean excess of |x - level| beyond 2 mean absolute deviations.
 * That is exact for Laplace noise (its excess over any level has mean b)
 * and conservative for lighter tails, whose excesses shrink further out. b
 * is also at most the mean absolute deviation itself, and at most the mean
 * absolute first difference / 1.5: a smooth series cannot land far past its
 * extreme in one step unless it jumps (for iid Laplace noise E|x[t]-x[t-1]|
 * = 1.5 b, so the bounds agree there and the budget holds). So
 *     evidence = log10((n+1)/2) + beyond / (b ln 10).
 * Below range_margin of the running range a new extreme is never an event
 * on its own.
 *
 * That scale is taken from the bulk (2 MADs out), where a light tail is
 * still wide: on Gaussian noise the mean excess there is twice the spacing
 * of the extremes, and the channel spent a tenth of its budget. So a second
 * judgement joins it (the larger evidence counts): the value's excess r
 * over the k-th largest value seen since the warm-up (k = TOP_M + 1)
 * against the excesses S of the k-1 above it. Of n exchangeable samples
 * the new one is beyond the k-th largest with chance k/n; for an
 * exponential tail the k excesses over it are then iid, so r / (r + S) is
 * Beta(1, k-1) and
 *     P = (k/n) (1 + r/S)^-(k-1)   (two sides: 2k/n),
 * a tail probability that holds whatever the scale, with nothing fitted
 * (the X(k) reference matters: judged from the max, the chance of a new
 * max depends on the top spacing, and the rate came out 1.8x). A lighter
 * tail only makes it conservative. It judges only where its premises
 * hold, so that the two never spend the budget twice:
 *   - a tail lighter than exponential: Geary's ratio MAD/SD at least
 *     GEARY_LIGHT (heavier tails keep the first judgement alone, which is
 *     exact for them; both together spent up to 2x on Laplace noise);
 *   - no sign of dependence between neighbours: for independent samples
 *     E|x[t] - x[t-1]| >= E|x - mean| (Jensen), so a mean step smaller than
 *     the mean deviation says the series wanders (a random walk's records
 *     would otherwise be an alarm each: 12x the events);
 *   - no structure a detector sees or still looks for (a period: the
 *     first day of a daily cycle is no sample of its days). */
static double top_evidence(const struct hdr *h, double x, double beyond)
{
    if (h->ntop <= TOP_M)
        return 0.0;
    const float *g = x > h->max ? h->gap_hi : h->gap_lo;
    double s = 0.0;
    for (uint32_t i = 0; i + 1 < TOP_M; i++)
        s += g[i];
    double gk = g[TOP_M - 1];
    s = gk * TOP_M - s; /* the k-1 excesses over X(k) */
    if (!(s > 0.0))
        return 0.0;
    double r = beyond + (double)(x > h->max ? h->top_dhi : h->top_dlo) + gk;
    return log10((double)h->ntop / (2.0 * (TOP_M + 1))) + TOP_M * log10(1.0 + r / s);
}

/* Whether the series' values may be taken as exchangeable: not while a
 * detector sees, or may still find, structure (a period). Asked only for a
 * new extreme. */
static int exchangeable(void *state, int64_t t_ns)
{
    const struct hdr *h = state;
    for (uint32_t j = 0; j < h->ndet; j++) {
        const struct mend_detector_ops *ops = registry[h->reg[j]];
        if (ops->structured && ops->structured(det_at(state, h->off[j]), t_ns))
            return 0;
    }
    return 1;
}

static double range_evidence(void *state, const struct mend_scorer_conf *c, int64_t t_ns, double x)
{
    const struct hdr *h = state;
    if (!(h->max >= h->min))
        return 0.0;
    double span = h->max - h->min;
    double beyond = x > h->max ? x - h->max : (x < h->min ? h->min - x : 0.0);
    if (beyond <= 0.0)
        return 0.0;
    double b = h->ldmad / 1.5 < h->lmad ? h->ldmad / 1.5 : h->lmad;
    if (h->lexc > 0.0 && h->lexc < b)
        b = h->lexc;
    if (span <= 0.0 || b <= 0.0)
        return EVIDENCE_FULL; /* a constant series just moved */
    double ev = log10(((double)h->n + 1.0) * 0.5) + beyond / (b * M_LN10);
    if (beyond < c->range_margin * span && ev >= c->threshold * EVIDENCE_FULL)
        ev = c->threshold * EVIDENCE_FULL * HOLD_FRAC;
    if (h->ldmad >= h->lmad && h->lmad * h->lmad >= GEARY_LIGHT * GEARY_LIGHT * h->lsq &&
        exchangeable(state, t_ns)) {
        double et = top_evidence(h, x, beyond);
        if (et > ev)
            ev = et;
    }
    return ev < EVIDENCE_FULL ? ev : EVIDENCE_FULL;
}

/* Learns x into one side's gaps; d = x - that side's extreme, signed so
 * that d > 0 is a new extreme (which shifts every gap by d). */
static void top_learn(float *g, uint32_t have, double d)
{
    uint32_t k = have < TOP_M ? have : TOP_M;
    if (d > 0.0) {
        for (uint32_t i = k < TOP_M ? k : TOP_M - 1; i > 0; i--)
            g[i] = (float)(g[i - 1] + d);
        g[0] = (float)d;
        return;
    }
    float v = (float)-d;
    if (k == TOP_M && v >= g[TOP_M - 1])
        return; /* below the top k: the usual sample stops here */
    uint32_t i = k < TOP_M ? k : TOP_M - 1;
    for (; i > 0 && g[i - 1] > v; i--)
        g[i] = g[i - 1];
    g[i] = v;
}

/* Learns x into the tops (before the running range takes it). */
static void top_step(struct hdr *h, double x)
{
    double tmax = h->max - (double)h->top_dhi, tmin = h->min + (double)h->top_dlo;
    if (h->ntop == 0) {
        tmax = tmin = x;
    } else {
        if (h->ntop <= TOP_M || x > tmax - (double)h->gap_hi[TOP_M - 1])
            top_learn(h->gap_hi, h->ntop - 1, x - tmax);
        if (h->ntop <= TOP_M || x < tmin + (double)h->gap_lo[TOP_M - 1])
            top_learn(h->gap_lo, h->ntop - 1, tmin - x);
        if (x > tmax)
            tmax = x;
        if (x < tmin)
            tmin = x;
    }
    /* the running range after x */
    h->top_dhi = (float)((x > h->max ? x : h->max) - tmax);
    h->top_dlo = (float)(tmin - (x < h->min ? x : h->min));
    if (h->ntop < UINT32_MAX)
        h->ntop++;
}

/* Recalibrates the fused evidence e against this series' own tail (peaks
 * over a threshold, as in Siffer et al.'s SPOT). On a calibrated series e
 * exceeds POT_Y0 = log10(50) in 2% of samples and the excess beyond it is
 * exponential with mean 1/ln 10. Here the runs of e above POT_Y0 happen at
 * an estimated rate r per sample (a run counts once, with its peak: events
 * are runs, not points) and their peak excess has mean m, so an exponential
 * tail puts the chance of e at r exp(-(e - y0)/m) and the evidence at
 *     -log10 r + (e - y0) / (m ln 10).
 * The estimates forget with memory 16P and start from the nominal tail with
 * POT_PRIOR runs' worth of weight, so a young series is taken at its word.
 * Below POT_Y0 e is returned unchanged. Judges e before learning it; with
 * judge 0 (the caller will not read the result) it only learns e, and
 * returns e, which spares a pow and a log10 on every step above POT_Y0
 * that the range channel decides. */
static double recalibrate(struct hdr *h, double a_long, double e, int judge)
{
    /* Below POT_Y0 the evidence is left as it is (no division or log to
     * pay on the bulk of samples): the budget is spent in the tail. */
    double out = e;
    const double a = 0.25 * a_long; /* memory 16P */
    if (judge && e > POT_Y0) {
        const double k0 = POT_PRIOR, m0 = 1.0 / M_LN10;
        /* the forgotten count of earlier samples, sum of (1-a)^k */
        double n = (1.0 - pow(1.0 - a, (double)(h->n - 1))) / a;
        double hits = h->pot_hits + k0;
        double r = hits / (n + k0 / POT_P);
        double m = (h->pot_ex + k0 * m0) / hits;
        out = -log10(r) + (e - POT_Y0) / (m * M_LN10);
    }
    h->pot_hits *= 1.0 - a;
    h->pot_ex *= 1.0 - a;
    if (e > POT_Y0) {
        double y = e - POT_Y0;
        if (h->pot_run < 0.0) { /* a new run: its first sample is its peak so far */
            h->pot_hits += 1.0;
            h->pot_ex += y;
            h->pot_run = y;
        } else if (y > h->pot_run) { /* the run's peak rises */
            h->pot_ex += y - h->pot_run;
            h->pot_run = y;
        }
    } else {
        h->pot_run = -1.0;
    }
    return out;
}

double mend_scorer_step(void *state, const struct mend_scorer_conf *c, int64_t t_ns, double x,
                        int *event)
{
    struct hdr *h = state;
    if (event)
        *event = 0;
    if (!isfinite(x)) {
        /* no state change, but the previous step's rise is old news: a
         * watcher asking now must not be told about it again */
        h->run_prev = h->run_peak;
        return 0.0;
    }
    h->n++;
    const double a_short = 2.0 / ((double)c->lik_short + 1.0);
    /* The likelihood remembers 4P: long enough that a spike recurring every
     * few hundred samples stays "normal" (NAB dev: 58.3 -> 61.1). */
    const double a_long = 1.0 / (4.0 * (double)c->probation);
    const double at_threshold = c->threshold * EVIDENCE_FULL;
    double best = 0.0, zmax = 0.0, expected = x;
    uint32_t fired = 0;

    for (uint32_t j = 0; j < h->ndet; j++) {
        const struct mend_detector_ops *ops = registry[h->reg[j]];
        if (ops->silent && ops->silent(det_at(state, h->off[j]), t_ns))
            continue; /* no opinion, nothing to learn: skip step and calibration */
        double ex;
        double z = ops->step(det_at(state, h->off[j]), c, t_ns, x, &ex);
        /* log(1+z) tames the heavy tails real metrics give z, so that one
         * wild spike does not blow up the long variance for a whole P (log1p
         * would be three times slower for precision we do not need). */
        /* Warm-up per detector: a detector without an opinion yet (the
         * seasonal one while it looks for its period) does not teach its
         * likelihood that surprise is always 0, and the likelihood's
         * evidence counts once it has judged `warmup` real surprises. */
        struct mend_likelihood *l = lik_at(state, h->off[j]);
        if (ops->settled && !ops->settled(det_at(state, h->off[j]), t_ns))
            continue;
        if (l->n < UINT32_MAX)
            l->n++;
        double ev = 0.0;
        if (l->n <= c->warmup) /* learnt, not judged: no evidence counts yet */
            mend_likelihood_learn(l, l->n, log(1.0 + z), a_short, a_long);
        else
            ev = mend_likelihood_step(l, l->n, log(1.0 + z), a_short, a_long, LIK_SD_FLOOR);
        /* Tail calibration by counting: the Gaussian fit claims a crossing
         * of the threshold happens once in 10^threshold samples, so the
         * long memory (4P samples) should hold about E = 4P * 10^-thr of
         * them. A series that has crossed `seen` times there (a spike
         * every few hundred samples) has shown its tail is heavier than
         * the fit says by (E + seen) / E: the evidence drops by the log of
         * that (NAB dev 61.6 -> 63.8). How far beyond the threshold a
         * crossing lands is judged the same way (peaks over a threshold):
         * the fit says the excess is exponential with mean 1/ln 10 decades;
         * crossings that went further (the same spike every day) show a
         * longer tail, with mean m estimated from their own excesses and
         * POT_PRIOR crossings' worth of the nominal one, and the excess is
         * scaled down by m ln 10 (only ever down; NAB dev 69.0 -> 70.2,
         * the daily 3 a.m. spikes of 24ae8d no longer alarm every day).
         * That scale describes how far separate rare surprises go, so it
         * judges a run's first crossing; the rest of a run (the previous
         * opinion crossed too) is the same anomaly growing, and a fault
         * that worsens must still be able to rearm. A first crossing is
         * never discounted. Counts and sums decay lazily, only when a
         * crossing needs them, so the bulk of steps pay nothing here. */
        if (ev >= at_threshold) {
            double decay = pow(1.0 - a_long, (double)(l->n - l->hit_n));
            double seen = (double)l->hits * decay;
            double exc = (double)l->exc * decay;
            double y = ev - at_threshold;
            l->hits = (float)(seen + 1.0);
            l->exc = (float)(exc + y);
            int in_run = l->hit_n == l->n - 1;
            l->hit_n = l->n;
            if (seen > 0.0) {
                double m = (exc + POT_PRIOR / M_LN10) / (seen + POT_PRIOR);
                ev = at_threshold -
                     log10(1.0 + seen / (4.0 * (double)c->probation * pow(10.0, -at_threshold))) +
                     (!in_run && m * M_LN10 > 1.0 ? y / (m * M_LN10) : y);
            }
        }
        if (j == 0)
            expected = ex;
        if (z > zmax)
            zmax = z;
        if (ev >= at_threshold)
            fired |= ops->bit;
        if (ev > best)
            best = ev;
    }
    const double det_best = best;
    if (c->detectors & MEND_DET_RANGE) {
        double ev = range_evidence(state, c, t_ns, x);
        if (ev >= at_threshold)
            fired |= MEND_DET_RANGE;
        if (ev > best)
            best = ev;
        /* The tops start after the warm-up: no event comes earlier, and a
         * young series would pay for an insertion on most samples. Then
         * the usual sample is inside both: two compares. */
        if (h->n > c->warmup)
            top_step(h, x);
        if (x < h->min)
            h->min = x;
        if (x > h->max)
            h->max = x;
        /* mean absolute deviation around an EW level, memory P */
        double a = h->n < c->probation ? 1.0 / (double)h->n : 4.0 * a_long;
        double dev = fabs(x - h->lmean);
        h->lsq += a * (dev * dev - h->lsq);
        h->lmean += a * (x - h->lmean);
        double yex = dev - 2.0 * h->lmad;
        if (yex > 0.0)
            h->lexc += (a * 20.0 < 1.0 ? a * 20.0 : 1.0) * (yex - h->lexc);
        h->lmad += a * (dev - h->lmad);
        if (h->n > 1)
            h->ldmad += a * (fabs(x - h->lprev) - h->ldmad);
        h->lprev = x;
    }
    /* The fused evidence against this series' own tail (recalibrate()):
     * only ever raised, so that a series whose detectors are too timid for
     * its noise gets closer to its false-alarm budget; a series that
     * crosses too often is already discounted per detector. The tail is
     * fitted to the fused evidence, but only evidence the detectors carry
     * is lifted: the range channel's is a record probability already, and
     * lifting it with the detectors' (light) tail slope spent the budget
     * several times over on long series (3x at 100,000 Gaussian samples). */
    double recal = recalibrate(h, a_long, best, det_best >= best);
    if (recal > best && det_best >= best)
        best = recal;
    double score = best / EVIDENCE_FULL;
    if (score > 1.0)
        score = 1.0;
    h->raw = zmax;
    h->lik = score;
    h->expected = expected;
    h->fired = fired;
    /* The run in progress, for mend_scorer_run(): it starts where the
     * evidence leaves the ordinary level and ends where it is back below
     * it, exactly as the event logic below ends a run. */
    h->run_prev = h->run_peak;
    if (best < POT_Y0) {
        h->run_peak = -1.0;
    } else if (h->run_peak < 0.0) {
        h->run_t = t_ns;
        h->run_peak = best;
    } else if (best > h->run_peak) {
        h->run_peak = best;
    }

    /* Event logic: k of the last n anomalous, past the probation, and either
     * outside the quiet period of the last event or much stronger than it.
     * The quiet period keeps one run to one alarm; a run is over once the
     * evidence is back to ordinary (below the 2% tail, POT_Y0), and what
     * crosses after that is a new run with an event of its own, however
     * soon (NAB dev 70.2 -> 70.4). */
    if (h->last_event && best < POT_Y0)
        h->last_event = 0;
    int anomalous = score >= c->threshold;
    uint64_t mask = c->debounce_n >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << c->debounce_n) - 1);
    h->bits = ((h->bits << 1) | (uint64_t)anomalous) & mask;
    int fire = 0;
    if (anomalous && h->n > c->warmup &&
        (uint32_t)__builtin_popcountll(h->bits) >= c->debounce_k) {
        uint64_t quiet_n = (uint64_t)(c->quiet * (double)c->probation);
        if (!h->last_event || h->n - h->last_event > quiet_n || best >= c->rearm * h->last_strength)
            fire = 1;
    }
    if (fire) {
        h->last_event = h->n;
        h->last_strength = best;
        if (event)
            *event = 1;
        return score;
    }
    /* Held below the threshold, so that thresholding the output gives one
     * alarm per event while the level stays visible: an anomalous sample
     * that is no event, and, inside the quiet period, any sample above the
     * hold (a run wobbling just under the threshold is still the same
     * run). Outside a quiet period a score below the threshold is what it
     * is. */
    double cap = c->threshold * HOLD_FRAC;
    if (score < cap)
        return score;
    if (score >= c->threshold)
        return cap;
    uint64_t quiet_n = (uint64_t)(c->quiet * (double)c->probation);
    return h->last_event && h->n - h->last_event <= quiet_n ? cap : score;
}

void mend_scorer_detail(const void *state, const struct mend_scorer_conf *c,
                        struct mend_scorer_detail *d)
{
    const struct hdr *h = state;
    (void)c;
    d->raw = h->raw;
    d->likelihood = h->lik;
    d->expected = h->expected;
    d->fired = h->fired;
    d->n = h->n;
}

int mend_scorer_run(const void *state, const struct mend_scorer_conf *c, struct mend_scorer_run *r)
{
    const struct hdr *h = state;
    /* before warm-up no evidence is an event, and none is a rise either */
    if (h->n <= c->warmup || !(h->run_peak > h->run_prev))
        return 0;
    r->start_ns = h->run_t;
    r->peak = h->run_peak;
    r->before = h->run_prev;
    return 1;
}

/* ---- checkpoints ---------------------------------------------------------- */

/* Ties a saved state to the options that shape it, so a state is never loaded
 * under a layout it was not made for. */
static uint64_t conf_fingerprint(const struct mend_scorer_conf *c)
{
    uint64_t v[5] = {c->detectors, c->probation, c->robust_window, c->season_bins,
                     (uint64_t)c->season_period_s};
    return mend_hash(MEND_HASH_SEED, v, sizeof v);
}

int mend_scorer_save(const void *state, const struct mend_scorer_conf *c, struct mend_wbuf *w)
{
    const struct hdr *h = state;
    mend_wbuf_u32(w, STATE_MAGIC);
    mend_wbuf_u32(w, STATE_VERSION);
    mend_wbuf_u64(w, conf_fingerprint(c));
    mend_wbuf_u64(w, h->n);
    mend_wbuf_u64(w, h->bits);
    mend_wbuf_u64(w, h->last_event);
    mend_wbuf_f64(w, h->last_strength);
    mend_wbuf_f64(w, h->min);
    mend_wbuf_f64(w, h->max);
    mend_wbuf_f64(w, h->raw);
    mend_wbuf_f64(w, h->lik);
    mend_wbuf_f64(w, h->expected);
    mend_wbuf_u32(w, h->fired);
    mend_wbuf_f64(w, h->lmean);
    mend_wbuf_f64(w, h->lmad);
    mend_wbuf_f64(w, h->lprev);
    mend_wbuf_f64(w, h->ldmad);
    mend_wbuf_f64(w, h->lexc);
    mend_wbuf_f64(w, h->pot_hits);
    mend_wbuf_f64(w, h->pot_ex);
    mend_wbuf_f64(w, h->pot_run);
    mend_wbuf_i64(w, h->run_t);
    mend_wbuf_f64(w, h->run_peak);
    mend_wbuf_f64(w, h->lsq);
    mend_wbuf_u32(w, h->ntop);
    mend_wbuf_f32(w, h->top_dhi);
    mend_wbuf_f32(w, h->top_dlo);
    for (uint32_t i = 0; i < TOP_M; i++) {
        mend_wbuf_f32(w, h->gap_hi[i]);
        mend_wbuf_f32(w, h->gap_lo[i]);
    }
    mend_wbuf_u32(w, h->ndet);
    for (uint32_t j = 0; j < h->ndet; j++) {
        const struct mend_likelihood *l = lik_at((void *)(uintptr_t)state, h->off[j]);
        mend_wbuf_f64(w, l->avg);
        mend_wbuf_f64(w, l->mean);
        mend_wbuf_f64(w, l->var);
        mend_wbuf_f64(w, l->hits);
        mend_wbuf_f64(w, l->exc);
        mend_wbuf_u32(w, l->n);
        mend_wbuf_u32(w, l->hit_n);
        int rc = registry[h->reg[j]]->save(det_at((void *)(uintptr_t)state, h->off[j]), c, w);
        if (rc)
            return rc;
    }
    return w->failed ? MEND_ENOMEM : MEND_OK;
}

static int load_body(struct hdr *h, void *state, const struct mend_scorer_conf *c,
                     struct mend_rbuf *r, uint32_t version)
{
    if (mend_rbuf_u64(r) != conf_fingerprint(c))
        return MEND_ECORRUPT;
    h->n = mend_rbuf_u64(r);
    h->bits = mend_rbuf_u64(r);
    h->last_event = mend_rbuf_u64(r);
    h->last_strength = mend_rbuf_f64(r);
    h->min = mend_rbuf_f64(r);
    h->max = mend_rbuf_f64(r);
    h->raw = mend_rbuf_f64(r);
    h->lik = mend_rbuf_f64(r);
    h->expected = mend_rbuf_f64(r);
    h->fired = mend_rbuf_u32(r);
    h->lmean = mend_rbuf_f64(r);
    h->lmad = mend_rbuf_f64(r);
    h->lprev = mend_rbuf_f64(r);
    h->ldmad = mend_rbuf_f64(r);
    h->lexc = mend_rbuf_f64(r);
    h->pot_hits = mend_rbuf_f64(r);
    h->pot_ex = mend_rbuf_f64(r);
    h->pot_run = mend_rbuf_f64(r);
    if (version >= 5) {
        h->run_t = mend_rbuf_i64(r);
        h->run_peak = mend_rbuf_f64(r);
    } else {
        /* version 4 kept no run: the one in progress, if any, is taken as
         * starting at its next sample (a watcher may hear of it once more) */
        h->run_t = 0;
        h->run_peak = -1.0;
    }
    if (version >= 6) {
        h->lsq = mend_rbuf_f64(r);
        h->ntop = mend_rbuf_u32(r);
        h->top_dhi = mend_rbuf_f32(r);
        h->top_dlo = mend_rbuf_f32(r);
        if (!(h->top_dhi >= 0.0f) || !(h->top_dlo >= 0.0f) || !isfinite(h->top_dhi) ||
            !isfinite(h->top_dlo))
            return MEND_ECORRUPT;
        for (uint32_t i = 0; i < TOP_M; i++) {
            h->gap_hi[i] = mend_rbuf_f32(r);
            h->gap_lo[i] = mend_rbuf_f32(r);
            /* finite, and ascending where known (ntop - 1 gaps are), or the
             * evidence would be nonsense */
            if (!(h->gap_hi[i] >= 0.0f) || !(h->gap_lo[i] >= 0.0f) || !isfinite(h->gap_hi[i]) ||
                !isfinite(h->gap_lo[i]) ||
                (i > 0 && i + 1 < h->ntop &&
                 (h->gap_hi[i] < h->gap_hi[i - 1] || h->gap_lo[i] < h->gap_lo[i - 1])))
                return MEND_ECORRUPT;
        }
        if (!(h->lsq >= 0) || !isfinite(h->lsq) || h->ntop > h->n)
            return MEND_ECORRUPT;
    } else {
        /* Versions 4 and 5 kept no top: it starts afresh, over the samples
         * from here on (ntop counts them), and the tail is taken as
         * exponential (SD = sqrt 2 MAD, Geary's ratio 0.707) until the
         * squared deviation has been learnt. */
        h->lsq = 2.0 * h->lmad * h->lmad;
        h->ntop = 0;
        h->top_dhi = h->top_dlo = 0.0f;
        memset(h->gap_hi, 0, sizeof h->gap_hi);
        memset(h->gap_lo, 0, sizeof h->gap_lo);
    }
    h->run_prev = h->run_peak;
    if (!(h->run_peak == -1.0 || (h->run_peak >= POT_Y0 && isfinite(h->run_peak))))
        return MEND_ECORRUPT;
    if (!isfinite(h->lmean) || !(h->lmad >= 0) || !isfinite(h->lmad) || !isfinite(h->lprev) ||
        !(h->ldmad >= 0) || !isfinite(h->ldmad) || !(h->lexc >= 0) || !isfinite(h->lexc) ||
        !(h->pot_hits >= 0) || !isfinite(h->pot_hits) ||
        !(h->pot_ex >= 0) || !isfinite(h->pot_ex) || !(h->pot_run >= -1.0) || !isfinite(h->pot_run))
        return MEND_ECORRUPT;
    uint32_t ndet = mend_rbuf_u32(r);
    if (r->failed || ndet != h->ndet || h->last_event > h->n || !isfinite(h->last_strength) ||
        isnan(h->min) || isnan(h->max) || !isfinite(h->raw) || !isfinite(h->lik) ||
        !isfinite(h->expected))
        return MEND_ECORRUPT;
    for (uint32_t j = 0; j < h->ndet; j++) {
        struct mend_likelihood *l = lik_at(state, h->off[j]);
        l->avg = mend_rbuf_f64(r);
        l->mean = mend_rbuf_f64(r);
        l->var = mend_rbuf_f64(r);
        double hits = mend_rbuf_f64(r), exc = mend_rbuf_f64(r);
        l->n = mend_rbuf_u32(r);
        l->hit_n = mend_rbuf_u32(r);
        if (!(l->n <= h->n) || !(l->hit_n <= l->n) || !(exc >= 0) || !(exc <= FLT_MAX) ||
            !(hits >= 0) || !(hits <= FLT_MAX))
            return MEND_ECORRUPT;
        l->hits = (float)hits;
        l->exc = (float)exc;
        if (r->failed || !isfinite(l->avg) || !isfinite(l->mean) || !(l->var >= 0) ||
            !isfinite(l->var))
            return MEND_ECORRUPT;
        if (registry[h->reg[j]]->load(det_at(state, h->off[j]), c, r))
            return MEND_ECORRUPT;
    }
    return MEND_OK;
}

int mend_scorer_load(void *state, const struct mend_scorer_conf *c, struct mend_rbuf *r)
{
    struct hdr *h = state;
    uint32_t magic = mend_rbuf_u32(r);
    uint32_t version = mend_rbuf_u32(r);
    if (r->failed || magic != STATE_MAGIC) {
        reset(state, c);
        return MEND_ECORRUPT;
    }
    if (version != STATE_VERSION && version != 4u && version != 5u) {
        reset(state, c);
        return MEND_EVERSION;
    }
    int rc = load_body(h, state, c, r, version);
    if (rc)
        reset(state, c);
    return rc;
}
