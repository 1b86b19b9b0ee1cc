/* mvgauss.h -- multivariate Gaussian detector for one entity group (e.g. all
 * fields of one host), scoring each d-dimensional sample by its Mahalanobis
 * distance under a mean and covariance learnt online.
 *
 * Learning: exponentially weighted mean and covariance with a half-life in
 * samples (during the first samples the weight is 1/n, so the estimate is the
 * plain sample mean/covariance until the forgetting takes over). Scoring uses
 * the covariance shrunk toward its diagonal,
 *     S = (1 - lambda) C + lambda diag(C),
 * with lambda fixed by configuration or, when shrinkage < 0, estimated from
 * the data Ledoit-Wolf style (Schafer-Strimmer "target D"): lambda = sum of
 * the estimated variances of the off-diagonal entries over the sum of their
 * squares, clamped to [0, 1]. Shrinkage is what makes collinear signals
 * (a singular C) usable.
 *
 * Score: d^2 = (x - mu)' S^-1 (x - mu) via the Cholesky factor of S, and
 * score = P(chi^2_k <= d^2), the chi-square CDF with k = number of observed
 * dimensions, so 0.999 means "further out than 99.9% of normal samples".
 * The factor is recomputed only every refit_every samples (the mean is always
 * current), which keeps a step O(d^2). Refits happen while learning, so
 * scoring only reads the model: mend_mvg_score_ro takes a const model and a
 * caller-owned scratch (one per thread or per caller) and takes no lock; it
 * allocates only once per scratch, the room for a marginal's factor when
 * the first row with a missing dimension comes. The shrunk covariance and
 * its factor are allocated by the first refit (a model in warm-up holds
 * only its mean and covariance). A factor that fails (not positive
 * definite) is retried with growing jitter on the diagonal; if that fails too
 * the step returns MEND_ERANGE and the model still learns.
 *
 * Missing values: a NaN in x marks a missing dimension. Scoring uses the
 * marginal over the observed dimensions (the sub-matrix of the S of the last
 * refit), with k degrees of freedom; missing dimensions get a contribution
 * of 0. The marginal's factor (O(k^3)) is cached in the scratch for the last
 * pattern of missing dimensions and the refit it came from, so a recurring
 * hole costs no more than a complete row, and a cached and a fresh factor
 * are the same bits. Learning imputes the current mean for missing
 * dimensions (their deviation counts as 0), so a dimension that is often
 * missing has its variance somewhat understated. Infinite values are
 * rejected (MEND_ERANGE) and not learnt.
 *
 * Tail calibration: real metrics wander (a bounded random walk, a level
 * that drifts), so their distances are far heavier-tailed than the chi-square
 * of iid Gaussian rows says, and the chi-square tail alone raises events on
 * a few percent of rows. Each model therefore also learns its own tail, by
 * peaks over a threshold (SPOT, Siffer et al. 2017) on the evidence
 * e = -log10 P(chi^2_k > d^2) of every row it judges (scored against the
 * model before the row is learnt): the rate of runs of e above log10(50)
 * (2% nominal) and their mean peak excess, forgotten with the half-life,
 * with a prior of 10 runs at the nominal values. mend_mvg_score_cal_ro
 * reports e rescaled to that tail, so a threshold on 1 - score holds its
 * false-alarm rate per row on the data the model has seen; on iid Gaussian
 * rows the calibration stays near the identity. The plain score (and d2)
 * are unchanged by it.
 *
 * Changes (conf.changes = 1): the model sees, per dimension, the change
 * from the last value seen of it to this row's (missing when either is),
 * rather than the level. Metrics that wander like random walks have levels
 * whose distance from any mean keeps growing, but changes that are nearly
 * iid; a spike, a step or a row that breaks the correlation of its
 * dimensions is a change as far out as it is a level, at its onset. The
 * last values are state (saved with the model); a row with no dimension
 * observed as a change (the first one) only sets them.
 *
 * Gated (conf.changes = 2, the default): the model is the levels model
 * (score, d2 and contrib are the levels'), and keeps a second model of the
 * changes beside it. Its calibrated score is the smaller of the two
 * calibrated evidences, so a row counts as far out when it is both a level
 * and a change that far out (a wandering level alone is not; a spike, a
 * step's onset or a row that breaks the correlation is), and that smaller
 * evidence is calibrated once more against its own tail the same way (the
 * two are not independent: on iid rows the gate alone would be ten times
 * too strict). Once a row is out as both by more
 * than once in the model's memory (-log10 tail >= log10(1 + half_life /
 * ln 2)), a departure is in progress and the calibrated score follows the
 * level alone until the level's calibrated evidence falls back to 2%, so a
 * fault that lasts (a level held far out, however noisy) stays one event.
 *
 * A model is written only by learn/step/load; any number of readers may score
 * it with their own scratch while nobody writes. The convenience calls
 * without _ro allocate a scratch inside the model on first use. */
#ifndef MEND_MVGAUSS_H
#define MEND_MVGAUSS_H

#include <stddef.h>
#include <stdint.h>

#include "mend/common.h"

#define MEND_MVG_MAX_DIM_DEFAULT 64
#define MEND_MVG_MAX_DIM_LIMIT 1024 /* hard cap on max_dim itself */

struct mend_mvg_conf {
    size_t max_dim;        /* cap on dim (default 64, at most MEND_MVG_MAX_DIM_LIMIT) */
    double half_life;      /* samples after which a sample's weight halves;
                              > 0, may be INFINITY (no forgetting). Default 1000 */
    uint64_t warmup;       /* samples learnt before scoring starts (default 100;
                              values below 2 act as 2) */
    uint32_t refit_every;  /* recompute the Cholesky factor every N samples
                              (default 32, >= 1) */
    double shrinkage;      /* < 0: estimate from data (default); else fixed
                              lambda in [0, 1] */
    int changes;           /* 0: model the rows as they are (levels);
                              1: model each row's change since the last value
                              seen of each dimension; 2 (default): levels,
                              gated by a second model of the changes (see
                              "Changes" above) */
};

struct mend_mvg;

/* Fills c with the defaults above. */
void mend_mvg_conf_defaults(struct mend_mvg_conf *c);

/* Checks a configuration: MEND_OK or MEND_EINVAL. */
int mend_mvg_conf_check(const struct mend_mvg_conf *c);

/* Creates a model of dim dimensions (1 <= dim <= c->max_dim); c is copied
 * (NULL = defaults). Returns MEND_EINVAL, MEND_ECAP (dim above max_dim) or
 * MEND_ENOMEM; *out is set only on success and the caller owns it. */
int mend_mvg_new(size_t dim, const struct mend_mvg_conf *c, struct mend_mvg **out);

/* Frees m; accepts NULL. */
void mend_mvg_free(struct mend_mvg *m);

size_t mend_mvg_dim(const struct mend_mvg *m);

/* Samples learnt so far (including ones with missing values). */
uint64_t mend_mvg_count(const struct mend_mvg *m);

/* The shrinkage intensity used by the current factor (0 before the first
 * factorisation). */
double mend_mvg_lambda(const struct mend_mvg *m);

/* Scores x (dim entries, borrowed; NaN = missing) against the model learnt so
 * far, without learning it. *score in [0, 1], *d2 >= 0 (both 0 during
 * warm-up or when every dimension is missing). contrib, when not NULL,
 * receives dim entries: each dimension's share of d^2, c_i = r_i (S^-1 r)_i
 * with r = x - mu, which sum to d^2; a share can be slightly negative when a
 * dimension's deviation is explained by its correlation with others. score,
 * d2 may be NULL. Uses (and on first use allocates) the model's own scratch.
 * Returns MEND_OK, MEND_ERANGE (infinite input, or covariance not usable even
 * with jitter: outputs are then 0), MEND_ENOMEM (the scratch could not get
 * room for the factor of its first marginal: outputs 0, nothing cached) or
 * MEND_EINVAL. */
int mend_mvg_score(struct mend_mvg *m, const double *x, double *score, double *d2,
                   double *contrib);

/* As mend_mvg_score_ro, but *score is calibrated against this model's own
 * tail (see above): 1 - score is the rate, per row and per run of far-out
 * rows, at which rows like the ones learnt reach this far. For changes 0
 * and 1 equal to the plain score where that is at most 0.98; gated (2) as
 * described under "Gated". d2 and contrib are the plain ones. */
struct mend_mvg_scratch;
int mend_mvg_score_cal_ro(const struct mend_mvg *m, const double *x,
                          struct mend_mvg_scratch *w, double *score, double *d2,
                          double *contrib);

/* The calibration itself: evidence e (-log10 of a chi-square tail) as this
 * model's tail rescales it; e itself at or below log10(50). */
double mend_mvg_calibrated(const struct mend_mvg *m, double e);

/* Working memory for the const calls, sized for models of up to dim
 * dimensions. _size is the most it takes: the factor of a marginal (a row
 * with a missing dimension) is allocated when the first such row is
 * scored. _new returns MEND_EINVAL or MEND_ENOMEM; _free accepts NULL. */
struct mend_mvg_scratch;
size_t mend_mvg_scratch_size(size_t dim);
int mend_mvg_scratch_new(size_t dim, struct mend_mvg_scratch **out);
void mend_mvg_scratch_free(struct mend_mvg_scratch *w);
/* mend_mvg_score on a const model with the caller's scratch (w must be sized
 * for at least the model's dimension, else MEND_EINVAL). */
int mend_mvg_score_ro(const struct mend_mvg *m, const double *x, struct mend_mvg_scratch *w,
                      double *score, double *d2, double *contrib);
/* mend_mvg_learn with the caller's scratch. Learning a row the model
 * judges (warm, factor usable) also scores it against the model before the
 * row is learnt, for the tail calibration. */
int mend_mvg_learn_ro(struct mend_mvg *m, const double *x, struct mend_mvg_scratch *w);
/* Learns x (NaN = missing, imputed with the mean). MEND_ERANGE for infinite
 * input (nothing learnt). */
int mend_mvg_learn(struct mend_mvg *m, const double *x);

/* Score against the model so far, then learn: mend_mvg_score followed by
 * mend_mvg_learn. The sample is learnt even when scoring returned
 * MEND_ERANGE for a non-usable covariance (returned code is still
 * MEND_ERANGE so the caller can count it). */
int mend_mvg_step(struct mend_mvg *m, const double *x, double *score, double *d2,
                  double *contrib);

/* Asks the memory system for the parts of m (and of w, which may be NULL)
 * that the next score and learn will touch, one level of pointers per
 * step: step 0 the model's header, 1 its statistics and factor, w, and
 * the header of its changes model when gated, 2 that model's statistics.
 * Returns nonzero while a further step has something to fetch. Only
 * prefetch instructions beyond what earlier steps fetched: nothing is
 * changed, so a call never alters a result. */
int mend_mvg_prefetch(const struct mend_mvg *m, const struct mend_mvg_scratch *w, unsigned step);

/* Appends m's state (not its configuration) to w. Returns MEND_ENOMEM if w
 * has failed. */
int mend_mvg_save(const struct mend_mvg *m, struct mend_wbuf *w);

/* Reads a model written by mend_mvg_save from r and creates it with
 * configuration c (NULL = defaults). A model saved and loaded with the same
 * configuration continues with bit-identical scores. Records of version 3
 * (before the tail calibration) load with an empty calibration. Returns MEND_ECORRUPT
 * (truncated or inconsistent data), MEND_EVERSION (unknown record version),
 * MEND_ECAP (dim above c->max_dim), MEND_EINVAL or MEND_ENOMEM. */
int mend_mvg_load(struct mend_rbuf *r, const struct mend_mvg_conf *c, struct mend_mvg **out);

#endif
