/* engine_internal.h -- what engine.c (the loop) and engine_state.c (save
 * and load) share: the engine struct and its per-entity state. */
#ifndef MEND_ENGINE_INTERNAL_H
#define MEND_ENGINE_INTERNAL_H

#include "mend/engine.h"
#include "mend/model.h"

#define NO_TIME INT64_MIN
#define VACANT UINT32_MAX         /* an entity row position whose series was evicted */
#define SERIES_READY 0x1          /* mend_series.flags: the scorer state is initialised */
#define SERIES_ABSENT 0x2         /* ... an absence event is out for it */
#define SERIES_GAUGE 0x4          /* ... decided a gauge: no rate to compute (engine_rate.c) */
#define HOLD_MAX 256              /* samples held while the clock guard decides */
#define HOLD_BYTES (256u << 10)   /* their keys and entity names */

/* One entity model instance (kind k of the engine) and its training. */
struct ent_model {
    void *m;                      /* the live model, NULL before the first */
    void *scratch;
    uint32_t dim;                 /* dimension of m */
    uint8_t in_event;             /* an event is out; re-arm once the tail recovers */
    double *buf;                  /* training window: train_rows x bdim, a ring */
    uint32_t bdim, buf_n, buf_head;
    uint32_t since_train;         /* rows collected since the last submit */
    struct mend_train_job *job;   /* a training under way */
    int64_t live_at;              /* event time at which job's model goes live */
};

/* Per-entity state behind mend_entity.user. */
struct ent_state {
    uint32_t dim;                 /* members with a row position */
    uint32_t cap;
    uint32_t *members;            /* series id per position, VACANT once evicted */
    double *row;                  /* the row being assembled; NaN = not yet seen */
    double *contrib;              /* per-dimension contributions of the last score */
    int64_t row_t;                /* event time the row started */
    int64_t min_iv;               /* shortest member interval: the bucket is a quarter of it */
    uint32_t row_filled;
    uint64_t rows;
    /* The entity whose row closed right after this one's last time (a
     * hint, NULL = none): while this row fills, its models are asked for
     * ahead of their row (ent_prefetch). ent_states live as long as the
     * engine, so the pointer never dangles. */
    struct ent_state *next;
    uint32_t next_id;             /* its entity id */
    uint32_t pf;                  /* prefetch step of next + 1; 0 = none due */
    struct ent_model mod[];       /* one per model kind */
};

struct held_point {
    size_t key_off, key_len, ent_off, ent_len;
    int has_entity;
    int64_t t;
    double value;
    int kind;                     /* mend_point.kind */
};

/* Per-series counter state (engine_rate.c): only counters and series
 * being probed have one, in a pool; every series id has a word saying
 * which (RATE_IX_*), so a fleet of gauges costs 4 bytes a series. */
enum { RATE_UNDECIDED = 0, RATE_GAUGE, RATE_COUNTER, RATE_PROBE };
#define RATE_IX_UNDECIDED 0u      /* rate_ix: no sample decided it yet */
#define RATE_IX_GAUGE 1u          /* ... a gauge; n >= 2: rate_pool[n - 2] */
struct rate_series {
    double last_v;                /* the last raw value of a counter (or probe) */
    int64_t last_t;               /* ... and its event time; NO_TIME = none yet */
    uint8_t mode;                 /* RATE_COUNTER or RATE_PROBE; RATE_UNDECIDED = free */
    uint8_t pad[3];
    uint32_t probe_n, probe_up;   /* RATE_PROBE: samples seen, rises among them */
    uint32_t next_free;           /* a free entry: the next free one + 1, 0 = end */
};

#define RATE_MAX_PATTERNS 64      /* bits of a uint64_t (pat_by_first) */
struct rate_pattern {
    const char *m, *f;            /* into the engine's copy of the conf */
    size_t ml, fl;
    int has_field;
    uint8_t m_lit, f_lit;         /* no '*' in the measurement / field: glob is a plain compare */
};

struct mend_engine {
    struct mend_engine_conf conf;
    struct mend_score_out score_out;
    int has_scores;
    struct mend_registry *reg;
    struct mend_incidents *inc;
    struct mend_localise_attach *loc; /* annotates incident lines; NULL = off */
    size_t blob_size;
    int64_t watermark;            /* set through engine_watermark_set() only */
    int64_t ahead_lim;            /* watermark + max_ahead (saturated); INT64_MAX before any */
    int64_t next_tick;
    int64_t next_absence;         /* event time of the next scan for silent series */
    int64_t next_evict;           /* ... and for idle ones */
    struct mend_engine_stats st;
    size_t ent_bytes;
    struct mend_series *prev;     /* the last series seen, for the successor hint */
    struct ent_state *last_closed; /* the entity row closed last, for ent_state.next */
    int64_t *seen_w;              /* per series id: the watermark at its last sample */
    size_t seen_cap;
    struct mend_model_kind kinds[MEND_ENGINE_MAX_MODELS];
    uint32_t n_kinds;
    struct mend_trainer *trainer; /* started by the first kind with a train op */
    struct held_point *held;      /* the clock guard's held run */
    char *held_keys;
    uint32_t n_held;
    size_t held_bytes;
    uint32_t *rate_ix;            /* per series id: RATE_IX_* (engine_rate.c) */
    size_t rate_cap;
    struct rate_series *rate_pool; /* states of counters and probes */
    uint32_t rate_pool_n, rate_pool_cap; /* entries in use or freed, room */
    uint32_t rate_free;           /* first free entry + 1, 0 = none */
    struct rate_pattern pat[RATE_MAX_PATTERNS];
    uint32_t n_pat;
    /* bit j of pat_by_first[c]: pattern j may match a measurement whose
     * first byte is c (its own first byte is c or '*'); pat_star: those
     * that may match an empty one (a leading '*') */
    uint64_t pat_by_first[256];
    uint64_t pat_star;
    /* Why the last restore refused the checkpoint as written under another
     * configuration, naming the option ("" = not that); read by restore's
     * message so the user knows which setting to put back. */
    char restore_why[192];
    struct mend_engine_section extra[MEND_ENGINE_MAX_SECTIONS]; /* mend_engine_add_section */
    uint32_t n_extra;
};

int64_t engine_sat_add(int64_t a, int64_t b);
int64_t engine_sat_sub(int64_t a, int64_t b);

#if defined(__GNUC__)
#define ENGINE_COLD __attribute__((noinline, cold))
#define ENGINE_NOINLINE __attribute__((noinline))
#else
#define ENGINE_COLD
#define ENGINE_NOINLINE
#endif

/* The watermark moves (or is restored) here only, so that the clock
 * guard's bound follows it: mend_engine_point's fast path compares a
 * sample's time with ahead_lim alone. */
static inline void engine_watermark_set(struct mend_engine *e, int64_t w)
{
    e->watermark = w;
    e->ahead_lim = w == NO_TIME ? INT64_MAX : engine_sat_add(w, e->conf.max_ahead_ns);
}
int engine_ent_add_member(struct mend_engine *e, struct ent_state *es, struct mend_series *s);
void engine_model_clear(struct mend_engine *e, uint32_t k, struct ent_model *em);
void engine_ent_free(struct mend_engine *e, struct ent_state *es);
/* Makes room for series id in seen_w. MEND_OK or MEND_ENOMEM. */
int engine_seen_reserve(struct mend_engine *e, uint32_t id);
/* Adds p (time t) to the clock guard's held run: MEND_OK, MEND_ECAP when
 * the hold is full, MEND_ENOMEM. */
int engine_hold(struct mend_engine *e, const struct mend_point *p, int64_t t);

/* engine_rate.c. Parses conf.rates.patterns (MEND_EINVAL when bad). */
int engine_rate_init(struct mend_engine *e);
/* Series s (created: new now) gets sample p at accepted time t: *v is set
 * to what is scored -- the raw value of a gauge, the rate of a counter.
 * Returns 1 to score *v, 0 when the sample gives nothing to score (a
 * counter's first sample, a reset, a repeated time), MEND_ENOMEM. */
int engine_rate_apply(struct mend_engine *e, struct mend_series *s, int created, const struct mend_point *p,
                      int64_t t, double *v);
/* The series id is gone (evicted). */
void engine_rate_forget(struct mend_engine *e, uint32_t id);
/* The RATE checkpoint section. */
int engine_rate_save(const struct mend_engine *e, struct mend_wbuf *w);
int engine_rate_load(struct mend_engine *e, struct mend_rbuf *r);

#endif
