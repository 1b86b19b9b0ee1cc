/* ocsvm.h -- one-class SVM entity model: feature extraction over an entity's
 * series, training with libsvm (ONE_CLASS, RBF kernel), calibrated scoring
 * with a kernel loop of our own, and serialisation (checkpoint buffers and
 * model directories).
 *
 * Features. A model is defined over a feature spec: the ordered series of one
 * entity and, per series, the current value, optionally the first difference
 * (x_t - x_{t-1}) and optionally `lags` lagged values (x_{t-1} .. x_{t-lags}).
 * The feature vector of a row is laid out series-major: for each series
 * value, [diff], [lag1 .. lagL]. Features are standardised with the mean and
 * spread learnt in training (the scaler travels with the model).
 * A missing member (NaN in the row) is imputed with that series' last seen
 * value and counted, or the row is skipped and counted (spec.missing). A row
 * before every series has been seen once, or before the history window is
 * full, yields no feature vector.
 *
 * Training is a pure function of its inputs: it returns a fresh model and
 * touches no shared state except libsvm's print hook, which the program sets
 * once in main() (svm_set_print_string_function) before any thread starts.
 * libsvm 3.24's svm_train for ONE_CLASS keeps everything it needs on the heap
 * of the call (kernel cache, solver); its only writable global is that print
 * hook (the shared library's .data and .bss are 32 and 24 bytes), it calls
 * rand() only for cross-validation and probability models and setlocale()
 * only in svm_save_model/svm_load_model, none of which mend uses. So training
 * may run on worker threads, several at once, while other threads score
 * older models (tests/test_ocsvm.c does both, `make tsan` checks it).
 *
 * Scoring: decision value f(x) = sum_i coef_i exp(-gamma |x - sv_i|^2) - rho
 * (libsvm's sign: positive inside the learnt support, negative outside),
 * evaluated by a loop over one contiguous support-vector matrix. The anomaly
 * value a = -f is mapped to a tail probability p = P(a_train >= a) through
 * quantiles of the training decision values, with an exponential tail fitted
 * to the top 1% beyond the last quantile, and then to
 *     score = min(1, -log10(p) / 10),
 * the same scale as the univariate scorer (0.5 = a 1e-5 tail). The training
 * data therefore spread over [0, ~log10(n)/10] with P(score >= s) = 10^(-10 s),
 * and mend_ocsvm_rank() gives the plain rank in [0,1] (uniform on training).
 * Scoring is const, allocation-free and lock-free: scratch comes from the
 * caller.
 *
 * Errors: 0 or a negative MEND_E* code; functions that can fail for reasons a
 * user must read also fill err (always NUL-terminated when errlen > 0). */
#ifndef MEND_OCSVM_H
#define MEND_OCSVM_H

#include <stddef.h>
#include <stdint.h>

#include "mend/common.h"

/* Caps. */
#define MEND_OCSVM_MAX_SERIES 256       /* series per model */
#define MEND_OCSVM_MAX_NAME 1024        /* bytes of one series name */
#define MEND_OCSVM_MAX_LAGS 16          /* lagged values per series */
#define MEND_OCSVM_MAX_TRAIN 100000     /* hard cap on conf.max_train */
#define MEND_OCSVM_QUANTILES 1001       /* calibration quantiles kept */
#define MEND_OCSVM_MAX_VERSION 32       /* bytes of the mend version string */

enum { MEND_OCSVM_MISSING_IMPUTE = 0, MEND_OCSVM_MISSING_SKIP = 1 };

/* The configurable part of a feature spec (the series come from the data).
 * Configuration keys in comments, for the section `ocsvm:`. */
struct mend_ocsvm_conf {
    uint32_t diffs;      /* 0/1: first difference per series ("diffs", default 1) */
    uint32_t lags;       /* lagged values per series, 0..16 ("lags", default 0) */
    int missing;         /* MEND_OCSVM_MISSING_* ("missing": impute|skip, default impute) */
    double nu;           /* libsvm nu in (0,1] ("nu", default 0.01) */
    double gamma;        /* RBF gamma; <= 0 = median-distance heuristic
                            1/median |x_i - x_j|^2 on the standardised features
                            ("gamma", default 0) */
    uint32_t max_train;  /* training vectors kept (evenly subsampled beyond it),
                            bounds training time ("max_train", default 4000,
                            at most MEND_OCSVM_MAX_TRAIN) */
    int select;          /* 1: choose nu and gamma by validation on held-back
                            normal data ("select", default 0) */
    double tol;          /* libsvm stopping tolerance ("tol", default 1e-3) */
    uint64_t seed;       /* subsampling seed (deterministic; "seed", default 1) */
};

void mend_ocsvm_conf_defaults(struct mend_ocsvm_conf *c);

/* Sets one option from text (key without the "ocsvm." prefix). Returns
 * MEND_EINVAL with a message naming the key and what is accepted; c is
 * unchanged on error. */
int mend_ocsvm_conf_set(struct mend_ocsvm_conf *c, const char *key, const char *value,
                        char *err, size_t errlen);

/* Checks a whole configuration; same contract as _set. */
int mend_ocsvm_conf_check(const struct mend_ocsvm_conf *c, char *err, size_t errlen);

/* A feature spec: the series (owned copies of their names) plus the
 * configurable part. */
struct mend_ocsvm_spec {
    uint32_t n_series;
    char **names;        /* n_series NUL-terminated names, owned */
    uint32_t diffs, lags;
    int missing;
};

/* Builds a spec of n series (names borrowed, copied) with c's feature options.
 * MEND_EINVAL (n = 0, an empty name), MEND_ECAP (n or a name above the caps)
 * or MEND_ENOMEM. */
int mend_ocsvm_spec_init(struct mend_ocsvm_spec *s, const char *const *names, size_t n,
                         const struct mend_ocsvm_conf *c);
void mend_ocsvm_spec_fini(struct mend_ocsvm_spec *s);
/* Features per row: n_series * (1 + diffs + lags). */
size_t mend_ocsvm_spec_dim(const struct mend_ocsvm_spec *s);
/* 0 when equal; else MEND_EINVAL and err says the first difference. */
int mend_ocsvm_spec_compare(const struct mend_ocsvm_spec *have, const struct mend_ocsvm_spec *want,
                            char *err, size_t errlen);

/* ---- feature extraction (one per entity, not thread-safe) ------------- */
struct mend_ocsvm_feat;

/* Creates an extractor for spec (copied). MEND_ENOMEM/MEND_EINVAL. */
int mend_ocsvm_feat_new(const struct mend_ocsvm_spec *spec, struct mend_ocsvm_feat **out);
void mend_ocsvm_feat_free(struct mend_ocsvm_feat *f);

/* Pushes one row (n_series values, NaN = missing) and writes the raw
 * (unstandardised) feature vector to out (spec dim entries). Returns 1 when
 * out holds a vector, 0 when the row gives none (warming up, skipped for a
 * missing member, or every value missing), MEND_ERANGE for an infinite value
 * (the row is skipped and counted). No allocation. */
int mend_ocsvm_feat_push(struct mend_ocsvm_feat *f, const double *row, double *out);

/* The vector push would write for row, without changing f: cur is n_series
 * doubles of scratch. Same return as push (1, 0, MEND_ERANGE); const, no
 * allocation (scoring reads the history, learning pushes the row). */
int mend_ocsvm_feat_peek(const struct mend_ocsvm_feat *f, const double *row, double *cur,
                         double *out);

/* Copies from's history into to (same window), series i of to taking
 * series map[i] of from (UINT32_MAX: none; to then warms up again). So a
 * retrained model that goes live continues the feature history exactly.
 * MEND_EINVAL when the windows or the map do not fit. */
int mend_ocsvm_feat_carry(struct mend_ocsvm_feat *to, const struct mend_ocsvm_feat *from,
                          const uint32_t *map);

struct mend_ocsvm_feat_stats {
    uint64_t rows, vectors, imputed, skipped, warming;
};
void mend_ocsvm_feat_stats(const struct mend_ocsvm_feat *f, struct mend_ocsvm_feat_stats *st);

/* Appends the extractor's state (history, last values, counters; not the
 * spec) to w, for checkpoints. MEND_ENOMEM when w failed. */
int mend_ocsvm_feat_save(const struct mend_ocsvm_feat *f, struct mend_wbuf *w);

/* Restores a state saved by an extractor of the same spec into f (created by
 * mend_ocsvm_feat_new). MEND_ECORRUPT (short data, another shape, non-finite
 * history) or MEND_EVERSION; on error f is reset to fresh, never half-loaded. */
int mend_ocsvm_feat_load(struct mend_ocsvm_feat *f, struct mend_rbuf *r);

/* ---- models ------------------------------------------------------------ */
struct mend_ocsvm;

/* What training reports back. */
struct mend_ocsvm_train_info {
    size_t n_in, n_used;   /* vectors given, vectors after the cap */
    double nu, gamma;      /* as chosen */
    uint32_t n_sv;
    double holdout_reject; /* validation only: held-back rejection rate, else -1 */
};

/* Progress for a terminal: phase text and fraction done in [0,1]. Called from
 * the training thread. */
typedef void (*mend_ocsvm_progress_fn)(void *ctx, const char *phase, double frac);

/* Trains a model on X (n rows of spec dim raw features, row-major, borrowed)
 * with configuration c (nu, gamma, max_train, select, tol, seed) and spec
 * (copied into the model). t_first/t_last: event-time span of the training
 * data (ns), recorded in the metadata; version: mend version string (copied,
 * truncated to MEND_OCSVM_MAX_VERSION - 1). progress may be NULL; info may be
 * NULL. Pure: returns a fresh model in *out that the caller owns.
 * MEND_EINVAL (bad conf, n < 2, non-finite input), MEND_ENOMEM, MEND_ERANGE
 * (libsvm produced no usable model), with a message in err. */
int mend_ocsvm_train(const struct mend_ocsvm_conf *c, const struct mend_ocsvm_spec *spec,
                     const double *X, size_t n, int64_t t_first, int64_t t_last,
                     const char *version, mend_ocsvm_progress_fn progress, void *pctx,
                     struct mend_ocsvm **out, struct mend_ocsvm_train_info *info, char *err,
                     size_t errlen);

void mend_ocsvm_free(struct mend_ocsvm *m);

const struct mend_ocsvm_spec *mend_ocsvm_spec(const struct mend_ocsvm *m);
size_t mend_ocsvm_dim(const struct mend_ocsvm *m);
size_t mend_ocsvm_n_sv(const struct mend_ocsvm *m);
double mend_ocsvm_gamma(const struct mend_ocsvm *m);
double mend_ocsvm_rho(const struct mend_ocsvm *m);
/* The standardised support vectors (n_sv x dim, row-major) and their
 * coefficients, borrowed from m. */
const double *mend_ocsvm_sv(const struct mend_ocsvm *m);
const double *mend_ocsvm_coef(const struct mend_ocsvm *m);
/* Training span and version recorded in the model. */
void mend_ocsvm_span(const struct mend_ocsvm *m, int64_t *t_first, int64_t *t_last,
                     uint64_t *n_train);
const char *mend_ocsvm_version(const struct mend_ocsvm *m);

/* Doubles of scratch mend_ocsvm_score needs (dim + n_sv). */
size_t mend_ocsvm_scratch_len(const struct mend_ocsvm *m);

/* z = the model's standardisation of the raw feature vector x (dim each). */
void mend_ocsvm_standardise(const struct mend_ocsvm *m, const double *x, double *z);

/* Decision value of an already standardised vector z (dim entries). */
double mend_ocsvm_decision_z(const struct mend_ocsvm *m, const double *z, double *scratch);

/* Scores one raw feature vector x (dim entries, from mend_ocsvm_feat_push):
 * standardises it into scratch, evaluates the decision value (*decision, may
 * be NULL) and the calibrated score in [0,1] (*score, may be NULL). scratch:
 * mend_ocsvm_scratch_len(m) doubles. MEND_ERANGE for non-finite input
 * (outputs 0). const, no allocation, no lock. */
int mend_ocsvm_score(const struct mend_ocsvm *m, const double *x, double *scratch,
                     double *decision, double *score);

/* Held-back calibration. In-sample decision values pile up on the margin
 * (f = 0 for every support vector), so a tail fitted to them is far too
 * thin: a new row just outside the support looks like a 1e-9 event. A
 * model meant for alarms on a threshold (the engine, `mend train`) is
 * calibrated instead on vectors it did not train on.
 * mend_ocsvm_hold_back reorders X (n x dim) so that every `every`-th vector
 * moves to the end, keeping order, and returns how many stay in front (train
 * on those). Without memory for the move it returns n (nothing held back).
 * mend_ocsvm_recalibrate refits m's calibration to the nh held-back raw
 * vectors H, the tail's scale being the larger of the mean excesses over
 * the 99th and the 90th percentile (see ocsvm.c). MEND_EINVAL (nh < 2, a
 * non-finite vector), MEND_ENOMEM; m is unchanged on error. */
size_t mend_ocsvm_hold_back(double *X, size_t n, size_t dim, size_t every);
int mend_ocsvm_recalibrate(struct mend_ocsvm *m, const double *H, size_t nh);

/* Calibration of a decision value: tail probability P(a_train >= -f), the
 * score -log10(p)/10 in [0,1], and the rank 1 - p in [0,1]. */
double mend_ocsvm_tail(const struct mend_ocsvm *m, double decision);
double mend_ocsvm_calibrate(const struct mend_ocsvm *m, double decision);
double mend_ocsvm_rank(const struct mend_ocsvm *m, double decision);

/* ---- a generic empirical calibration (also used for other channels) ---- */
/* Quantiles of a sample of "anomaly values" (larger = more anomalous) plus an
 * exponential tail over the top 1%: tail(a) = P(A >= a). */
struct mend_calib {
    uint32_t nq;                        /* quantiles kept (2..MEND_OCSVM_QUANTILES) */
    uint64_t n;                         /* sample size */
    double q[MEND_OCSVM_QUANTILES];     /* q[i] = quantile i/(nq-1), ascending */
    double tail_from, tail_scale;       /* 99th percentile, mean excess beyond it */
};
/* Fits c to v (n values, reordered in place). MEND_EINVAL for n < 2 or a
 * non-finite value. */
int mend_calib_fit(struct mend_calib *c, double *v, size_t n);
double mend_calib_tail(const struct mend_calib *c, double a);
/* min(1, -log10(tail)/10). */
double mend_calib_score(const struct mend_calib *c, double a);

/* ---- serialisation ------------------------------------------------------ */
/* Appends the whole model (spec, scaler, support vectors, calibration,
 * metadata) to w, versioned and little-endian. MEND_ENOMEM when w failed. */
int mend_ocsvm_save(const struct mend_ocsvm *m, struct mend_wbuf *w);

/* Reads a model written by mend_ocsvm_save. Every count is checked against
 * the caps and the bytes left before anything is allocated. MEND_ECORRUPT
 * (short or inconsistent data), MEND_EVERSION (unknown record version),
 * MEND_ENOMEM. *out set only on success. */
int mend_ocsvm_load(struct mend_rbuf *r, struct mend_ocsvm **out);

/* Writes models/NAME-style directory dir (created if missing): `model.bin`
 * (magic, format version, length, SHA-256, then the mend_ocsvm_save record)
 * and `meta.txt` (human-readable metadata: version, spec, scaler,
 * calibration, training span, nu/gamma, the model file's SHA-256). Files are
 * written to temporaries and renamed. entity may be NULL. MEND_EIO with err. */
int mend_ocsvm_write_dir(const struct mend_ocsvm *m, const char *dir, const char *entity,
                         char *err, size_t errlen);

/* Reads a directory written by mend_ocsvm_write_dir. When want is not NULL
 * the model's feature spec must equal it: otherwise MEND_EINVAL with err
 * naming the file and the first difference. A damaged or inconsistent file:
 * MEND_ECORRUPT (or MEND_EVERSION) with err naming the file and what is
 * wrong; a missing file: MEND_EIO. */
int mend_ocsvm_read_dir(const char *dir, const struct mend_ocsvm_spec *want,
                        struct mend_ocsvm **out, char *err, size_t errlen);

/* ---- the entity model (model.h): mend_model_ocsvm ---------------------
 *
 * One instance per entity. The instance keeps the feature extractor (the
 * history the diffs and lags need), updated by learn on every row, so a
 * checkpoint restores it exactly; score peeks at it (const). Before its
 * first training an instance is a shell that only keeps history (score
 * returns MEND_ERANGE: the row cannot be judged, the engine collects it for
 * training). Training (model.h train op, on the engine's trainer thread)
 * builds the features from the collected rows (oldest first) with a fresh
 * extractor and fits mend_ocsvm_train; at go-live the carry op hands the
 * old instance's history to the new one. Score = 1 - the calibrated tail
 * probability of the decision value (mend_ocsvm_tail): the engine raises an
 * event when the tail is at or below the threshold. contrib per row member:
 * the sum of its squared standardised features.
 *
 * A model directory (model_dir, `mend train`) gives a fixed model: an
 * entity whose series keys include every series of its feature spec uses
 * it (its series are picked by name, whatever their order in the entity's
 * row) and is never retrained; other entities train online. */
#define MEND_OCSVM_MAX_DIR 1024

struct mend_ocsvm_engine_conf {
    int enabled;                /* ocsvm.enabled (default false) */
    double threshold;           /* ocsvm.threshold: tail probability (default 1e-5) */
    uint32_t train_rows;        /* ocsvm.train_rows: rows per (re)training (default 1440) */
    uint32_t retrain_every;     /* ocsvm.retrain_every: normal rows between retrainings
                                   (default 1440; 0 = train once) */
    int64_t train_delay_ns;     /* ocsvm.train_delay: event time from the last training row
                                   to go-live (default 5m) */
    char model_dir[MEND_OCSVM_MAX_DIR]; /* ocsvm.model: a models/NAME directory; "" = none */
    struct mend_ocsvm_conf lib; /* ocsvm.diffs, lags, missing, nu, gamma, max_train, select,
                                   tol, seed */
    struct mend_ocsvm *pretrained; /* not an option: loaded by mend_ocsvm_kind_init, owned */
};

void mend_ocsvm_engine_conf_defaults(struct mend_ocsvm_engine_conf *c);

/* The `ocsvm:` section's config map (confmap.h) over the struct above. */
struct mend_conf_map;
extern const struct mend_conf_map mend_ocsvm_conf_map;

/* The entity-model ops (model.h); conf is a struct mend_ocsvm_engine_conf. */
struct mend_model_ops;
extern const struct mend_model_ops mend_model_ocsvm;

/* Checks c, loads c->model_dir (if set) into c->pretrained, refusing a model
 * whose feature options (diffs, lags, missing) differ from c's, and fills
 * kind for mend_engine_add_model (kind->conf = c: c must outlive the
 * engine). MEND_EINVAL (bad configuration, spec mismatch), MEND_ECORRUPT /
 * MEND_EVERSION (damaged model), MEND_EIO (missing files), with err naming
 * the option or the file. Call only from the main thread (file I/O). */
struct mend_model_kind;
int mend_ocsvm_kind_init(struct mend_ocsvm_engine_conf *c, struct mend_model_kind *kind,
                         char *err, size_t errlen);
/* Frees c->pretrained (after the engine is gone); accepts NULL. */
void mend_ocsvm_kind_fini(struct mend_ocsvm_engine_conf *c);

#endif
