/* engine.h -- the detection pipeline for one shard of signals.
 *
 *   point -> series registry -> scorer (per series) -> anomaly events
 *         -> entity rows (time buckets) -> entity models (ops tables, model.h)
 *         -> events
 *   event time -> absence checks, idle-series eviction, incident resolution
 *   events -> incidents -> outputs
 *
 * Everything is driven by the samples' own timestamps: the engine keeps a
 * watermark (the newest event time seen) and never reads the wall clock, so
 * a live run and the replay of its recording give the same output. One
 * source cannot drag the clock: a sample more than max_ahead past the
 * watermark is held, and refused (counted) unless enough samples in a row
 * confirm that the whole input moved on (a gap in a recording). Silence is
 * judged per series against the watermark at its last report, so a host
 * whose clock lags the others is not called absent while it reports.
 * The struct mend_engine owns all state; there is no global state. */
#ifndef MEND_ENGINE_H
#define MEND_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "mend/common.h"
#include "mend/incident.h"
#include "mend/localise.h"
#include "mend/model.h"
#include "mend/mvgauss.h"
#include "mend/ocsvm.h"
#include "mend/scorer.h"
#include "mend/series.h"

/* Counters (engine_rate.c). A cumulative counter is scored as its
 * per-second rate: (v - v_prev) / (t - t_prev), from its second sample on.
 * A drop is a reset (the process behind it restarted): that sample gives
 * no rate, is counted (rate_resets) and starts the counter afresh, so a
 * restart is never an anomaly. A series is a counter when
 *   - a sample says so (mend_point.kind: Prometheus `# TYPE x counter`,
 *     `_total`, histogram `_bucket`/`_sum`/`_count`, summary `_sum`/`_count`),
 *   - or its key matches one of patterns: a comma list of
 *     "MEASUREMENT FIELD" globs (`*` matches any run) for line-protocol keys
 *     ("net bytes_*"), or "NAME" globs for keys without a field part
 *     (Prometheus, CSV headers),
 *   - or, with detect_monotonic, its first monotonic_after samples never
 *     fell and rose at least half the time: it is then a counter from
 *     there on, and its scorer starts again on rates.
 * The kind is decided at a series' first sample (or at monotonic_after);
 * the last raw value and time live per series and are checkpointed. */
#define MEND_RATE_PATTERNS_MAX 4096
struct mend_rate_conf {
    int enabled;                        /* default 1 */
    char patterns[MEND_RATE_PATTERNS_MAX]; /* default: Telegraf's counters (engine_rate.c) */
    int detect_monotonic;               /* default 0 */
    uint32_t monotonic_after;           /* samples, default 30 */
};
extern const char mend_rate_default_patterns[];

struct mend_engine_conf {
    struct mend_series_conf series;
    struct mend_scorer_conf scorer;
    struct mend_incident_conf incidents;
    struct mend_mvg_conf mvg;
    int mvg_enabled;           /* multivariate model per entity, default 1 */
    double mvg_threshold;      /* chi-square tail: event when 1-CDF <= this, default 1e-6 */
    int absence_enabled;       /* default 1 */
    double absence_factor;     /* silent for factor x the usual interval, default 5 */
    int64_t absence_min_ns;    /* ... and at least this long, default 60 s */
    int64_t lateness_ns;       /* accept samples this much older than the
                                  series' newest (scored as if at the newest);
                                  older ones are dropped and counted; default 0 */
    int64_t tick_ns;           /* how often (event time) absence and incident
                                  resolution are checked, default 10 s */
    int64_t max_ahead_ns;      /* a sample further than this past the watermark
                                  does not move it (held, then refused unless
                                  confirmed); default 1 h */
    struct mend_ocsvm_engine_conf ocsvm; /* the `ocsvm:` section; the engine does not
                                  read it: whoever builds the engine adds the
                                  kind (mend_ocsvm_kind_init, then
                                  mend_engine_add_model), as the pipeline does */
    struct mend_rate_conf rates; /* counters.* (see above) */
    struct mend_localise_attach_conf localise; /* suspects in every incident line
                                  (localise.h); enabled by default */
};
void mend_engine_conf_defaults(struct mend_engine_conf *c);

/* Per-sample score output (optional): key, event time, value, score. */
struct mend_score_out {
    void (*emit)(void *ctx, const struct mend_series *s, int64_t t_ns, double value,
                 double score);
    void *ctx;
};

struct mend_engine_stats {
    uint64_t points, scored, late_dropped, refused_series, anomalies, absences,
        multivariate, no_time,
        sparse_rows,           /* entity rows skipped: fewer than half the members reported */
        ahead_refused,         /* samples too far past the watermark, refused (or held right now) */
        clock_jumps,           /* times the watermark jumped a gap, confirmed */
        evicted,               /* idle series evicted */
        init_failed,           /* samples dropped: a new series' scorer could not start */
        models_trained,        /* trained entity models that went live */
        events_refused,        /* events no incident could take (incident cap) */
        rate_first,            /* counter samples that gave no rate: a counter's first */
        rate_resets,           /* ... a counter that fell (a restart) */
        rate_same_time,        /* ... a counter sample at its previous one's time */
        monotonic_found;       /* series found to be counters by detect_monotonic */
    uint32_t counters;         /* live series scored as rates */
    uint32_t series, entities;
    int64_t watermark;
    size_t memory;             /* registry + detector blobs + rings */
};

struct mend_engine;

/* conf is copied. incidents and scores (either may be NULL) are borrowed and
 * must outlive the engine. When conf->mvg_enabled, the multivariate Gaussian
 * is the first entity model. */
int mend_engine_new(const struct mend_engine_conf *conf, const struct mend_incident_out *incidents,
                    const struct mend_score_out *scores, struct mend_engine **out);
void mend_engine_free(struct mend_engine *e);

/* Adds an entity model kind (model.h); kind is copied, kind->conf borrowed
 * (must outlive the engine). Only before the first point. A kind with a
 * train op starts the engine's trainer thread. Returns MEND_OK, MEND_EINVAL
 * (points already seen, or a bad kind), MEND_ECAP (more than
 * MEND_ENGINE_MAX_MODELS kinds) or MEND_ENOMEM / MEND_EIO. */
#define MEND_ENGINE_MAX_MODELS 8
int mend_engine_add_model(struct mend_engine *e, const struct mend_model_kind *kind);

/* Takes one parsed point. A point without a timestamp gets the watermark
 * (the newest event time seen). Returns 0; late or refused points are
 * counted, not errors. MEND_ENOMEM on allocation failure. */
int mend_engine_point(struct mend_engine *e, const struct mend_point *p);

/* A struct mend_sink whose point() feeds this engine; error() is left to the
 * caller (set it after this call). */
void mend_engine_sink(struct mend_engine *e, struct mend_sink *sink);

/* Moves event time on without a sample (e.g. the daemon's clock while input
 * is silent), running absence checks and incident resolution. */
void mend_engine_advance(struct mend_engine *e, int64_t now_ns);

void mend_engine_stats(const struct mend_engine *e, struct mend_engine_stats *st);
struct mend_registry *mend_engine_registry(struct mend_engine *e);
/* The engine's incident set (for mend_incidents_set_annotator). */
struct mend_incidents *mend_engine_incidents(struct mend_engine *e);

/* Whole engine state for checkpoints: save appends to w; load restores into
 * a fresh engine built with the same configuration (refused with
 * MEND_EVERSION when the data was written by another version, or the
 * configuration differs in a way the state depends on; MEND_ECORRUPT when
 * the data is bad -- the engine must then be discarded). Everything read is
 * checked against the counts it refers to. */
int mend_engine_save(const struct mend_engine *e, struct mend_wbuf *w);
int mend_engine_load(struct mend_engine *e, struct mend_rbuf *r);

/* Checkpoint files (state.h): one section per part of the engine, streamed
 * to the file, so a checkpoint of the full series cap needs no more memory
 * than a section buffer. _checkpoint writes in this thread; _checkpoint_bg
 * forks and writes from the child (the parent keeps ingesting; reap *bg
 * with mend_state_bg_reap). _restore first removes temporary files a killed
 * writer left at path, then loads into a fresh engine; MEND_ENOTFOUND when
 * there is no file. err names the file and the problem. */
struct mend_state_bg;
int mend_engine_checkpoint(const struct mend_engine *e, const char *path, char *err, size_t errlen);
int mend_engine_checkpoint_bg(const struct mend_engine *e, const char *path, struct mend_state_bg **bg,
                              char *err, size_t errlen);
int mend_engine_restore(struct mend_engine *e, const char *path, char *err, size_t errlen);

/* The incident grouper's counters (open now, opened, resolved, ...), for
 * /metrics. */
struct mend_incident_stats;
void mend_engine_incident_stats(const struct mend_engine *e, struct mend_incident_stats *st);
/* A checkpoint section owned outside the engine (the log miner of
 * logsig.h): checkpoint files carry it after the engine's own sections,
 * under its tag (not one of the engine's, never 0) and version; restore
 * hands it to load when present. A file without it leaves that state as
 * it is (fresh), and a section of the file that no one registered is
 * skipped. A version mismatch is MEND_EVERSION, load's errors are the
 * restore's. ctx is borrowed (must outlive the engine); save runs in the
 * forked writer too (the state as at the fork). Not part of
 * mend_engine_save/load. Returns 0, MEND_EINVAL (bad tag, taken twice) or
 * MEND_ECAP (more than MEND_ENGINE_MAX_SECTIONS). */
#define MEND_ENGINE_MAX_SECTIONS 4
struct mend_engine_section {
    uint32_t tag, version;
    int (*save)(const void *ctx, struct mend_wbuf *w);
    int (*load)(void *ctx, struct mend_rbuf *r);
    void *ctx;
};
int mend_engine_add_section(struct mend_engine *e, const struct mend_engine_section *sec);

#endif
