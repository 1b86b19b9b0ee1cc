/* scorer.h -- turns one series' samples into an anomaly score in [0,1] and
 * anomaly events.
 *
 * A scorer runs the configured univariate detectors (detector.h) plus a
 * running-range channel, judges each detector's surprise against how
 * unusual this series has recently been (an anomaly-likelihood layer), the
 * range channel by the tail probability of a record, fuses them, lifts the
 * fused evidence to this series' own tail where the detectors are too timid
 * for its noise (peaks over a threshold), and applies event logic: k-of-n
 * debounce, then report the first point of a run and stay quiet for a while
 * unless the evidence gets much stronger. The threshold is a tail
 * probability (0.5 = 1e-5) and holds as a rate of events per sample on
 * stationary noise. Everything is causal: a sample's score depends only on
 * earlier samples, and time is the samples' own event time, never the wall
 * clock.
 *
 * The per-series state is a caller-owned blob (the engine keeps one per
 * series); the scorer never keeps global state, so any number of series can
 * share one configuration. The default configuration needs a small fixed
 * blob (mend_scorer_state_size()) plus the seasonal detector's heap: a
 * buffer of min(P, 4096) floats while its short look detects the period
 * (freed after P samples), 180 x 2 floats of 2-hour buckets for its long
 * look from a series' first hour until a fortnight has been seen, and a
 * profile of 3 doubles per bin (7 x season_bins bins for a weekly period)
 * once a period is known. Without "seasonal" in detectors a state needs no
 * heap. */
#ifndef MEND_SCORER_H
#define MEND_SCORER_H

#include <stddef.h>
#include <stdint.h>

#include "mend/common.h"

/* Detector selection bits for mend_scorer_conf.detectors. */
enum {
    MEND_DET_GAUSS = 1u << 0,    /* Welford mean/variance over everything seen */
    MEND_DET_EWMA = 1u << 1,     /* exponentially weighted mean/variance */
    MEND_DET_ROBUST = 1u << 2,   /* median/MAD over a bounded recent window */
    MEND_DET_SEASONAL = 1u << 3, /* time-of-day / day-of-week profile */
    MEND_DET_RANGE = 1u << 4,    /* value beyond the running min/max */
    MEND_DET_DIFF = 1u << 5,     /* EW model of first differences (jumps, spikes) */
    MEND_DET_DRIFT = 1u << 6     /* short average against a long-memory baseline */
};

/* Caps on the options (mend_scorer_conf_set rejects values outside them). */
#define MEND_SCORER_MAX_PROBATION 100000u
#define MEND_SCORER_MAX_DEBOUNCE 64u
#define MEND_SCORER_MAX_ROBUST_WINDOW 1024u
#define MEND_SCORER_MAX_SEASON_BINS 2016u /* one week at 5-minute bins */

struct mend_scorer_conf {
    unsigned detectors;     /* MEND_DET_* bits; key "detectors", a comma list
                               of gauss,ewma,diff,robust,seasonal,range */
    uint32_t probation;     /* P, in samples: the learning length the
                               detectors' time constants are tied to
                               (key "probation") */
    double range_margin;    /* a value beyond the running min/max by less than
                               this fraction of the running range is never an
                               event on its own; beyond it, the range channel's
                               evidence is the record's tail probability
                               (key "range_margin") */
    double threshold;       /* a sample whose score is >= threshold counts as
                               anomalous for the debounce (key "threshold") */
    uint32_t debounce_k;    /* an event needs k of the last n samples ... */
    uint32_t debounce_n;    /* ... anomalous (keys "debounce_k", "debounce_n") */
    double quiet;           /* after an event, stay quiet for quiet*P samples
                               while the run lasts: once the evidence is back
                               to ordinary (a 2% tail) the run is over and
                               the next crossing is a new event (key "quiet") */
    double rearm;           /* during the quiet period a new event needs its
                               evidence (tail probability) this many times
                               stronger than the last event's (key "rearm") */
    uint32_t lik_short;     /* likelihood: length of the short moving average of
                               raw scores, in samples (key "likelihood_short") */
    uint32_t robust_window; /* robust detector: samples kept for median/MAD
                               (key "robust_window") */
    int64_t season_period_s; /* seasonal detector: period in seconds; 0 =
                                detect it from the first P samples
                                (key "season_period") */
    uint32_t season_bins;   /* seasonal detector: bins per period
                               (key "season_bins") */
    uint32_t warmup;        /* no event before this many samples (key
                               "warmup"); shorter than P because the range
                               and the likelihood settle long before the
                               slow time constants do */
};

/* Fills c with the defaults (the configuration the NAB figures are for). */
void mend_scorer_conf_defaults(struct mend_scorer_conf *c);

/* Sets one option from text (the YAML loader passes `detect:` keys through
 * this). Validates the value; on error writes a message naming the key and
 * the accepted range into err (always NUL-terminated when errlen > 0) and
 * returns MEND_EINVAL (unknown keys too). c is unchanged on error. */
int mend_scorer_conf_set(struct mend_scorer_conf *c, const char *key, const char *value,
                         char *err, size_t errlen);

/* Checks a whole configuration (e.g. debounce_k <= debounce_n, at least one
 * detector); same error contract as mend_scorer_conf_set. */
int mend_scorer_conf_check(const struct mend_scorer_conf *c, char *err, size_t errlen);

struct mend_conf_doc {
    const char *key;
    const char *def;  /* default, as text */
    const char *help;
};

/* The documented options, for --help and the README; static storage, *n set
 * to the count. */
const struct mend_conf_doc *mend_scorer_conf_docs(size_t *n);

/* Bytes of caller-owned per-series state for configuration c (the engine
 * keeps one blob per series). The blob must be zeroed before init and
 * aligned for double/int64_t; the default configuration needs <= 512 bytes. */
size_t mend_scorer_state_size(const struct mend_scorer_conf *c);

/* Prepares a zeroed blob. May allocate (the seasonal profile): returns
 * MEND_ENOMEM then, MEND_EINVAL for a configuration that fails
 * mend_scorer_conf_check. c must be the same configuration for every later
 * call on this state and must outlive it. */
int mend_scorer_init(void *state, const struct mend_scorer_conf *c);

/* Frees anything init allocated; the blob may be zeroed and reused. Accepts a
 * zeroed (never initialised) blob. */
void mend_scorer_fini(void *state, const struct mend_scorer_conf *c);

/* Scores one sample, in event-time order (non-decreasing t_ns; the engine
 * drops late samples before they get here). Returns the anomaly score in
 * [0,1], after the event logic: during the quiet period that follows an event,
 * while the run goes on (the evidence has not been back to ordinary), the
 * score is held at 0.9 x threshold (anything above that is capped there)
 * unless the evidence is rearm times stronger, so thresholding the returned
 * score anywhere in [0.9, 1] x threshold gives one alarm per run. A run that
 * has ended frees the next crossing to be an event at once.
 * *event (may be NULL) is set to 1 when this sample starts an anomaly event,
 * else 0. A non-finite x is ignored (score 0, no state change). No
 * allocation. */
double mend_scorer_step(void *state, const struct mend_scorer_conf *c, int64_t t_ns, double x,
                        int *event);

/* What the last step saw, for explanations and the localiser. */
struct mend_scorer_detail {
    double raw;        /* largest detector surprise |z| before calibration */
    double likelihood; /* calibrated score in [0,1] before the event logic */
    double expected;   /* the baseline's expected value for the last sample */
    unsigned fired;    /* MEND_DET_* bits whose own score crossed threshold */
    uint64_t n;        /* samples seen */
};
void mend_scorer_detail(const void *state, const struct mend_scorer_conf *c,
                        struct mend_scorer_detail *d);

/* The run in progress after the last step, for a caller that watches a
 * series more closely than its alarms (an open incident it belongs to:
 * incident.h's excursions). A run starts at the first sample whose evidence
 * leaves the ordinary level (a 2% tail) after having been back to it, and
 * ends where the evidence is back below it -- the run the event logic
 * allows one alarm. Evidence is -log10 of a tail probability: the score is
 * evidence / 10 (capped at 1), so the alarm threshold t is evidence 10 t. */
struct mend_scorer_run {
    int64_t start_ns; /* event time of the run's first sample */
    double peak;      /* the run's peak evidence, the last step included */
    double before;    /* its peak before the last step; -1 when the last step started it */
};
/* Returns 1 and fills r when the last step raised the peak of the run in
 * progress (started it, or went above its earlier peak), past the warm-up;
 * else 0 and r is untouched. So "before < L <= peak" holds on exactly one
 * step per run for any level L: at most one report per run. A step with a
 * non-finite value raises nothing. Reads only; never changes a score. */
int mend_scorer_run(const void *state, const struct mend_scorer_conf *c, struct mend_scorer_run *r);

/* Appends the state to w (versioned, little-endian). Returns w's failure as
 * MEND_ENOMEM. */
int mend_scorer_save(const void *state, const struct mend_scorer_conf *c, struct mend_wbuf *w);

/* Restores a state saved with the same configuration into an initialised
 * blob. Returns MEND_ECORRUPT on short or invalid data and MEND_EVERSION on a
 * foreign version; on error the state is reset to freshly initialised, never
 * half-loaded. */
int mend_scorer_load(void *state, const struct mend_scorer_conf *c, struct mend_rbuf *r);

#endif
