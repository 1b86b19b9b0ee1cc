/* detector_gauss.c -- the Gaussian family of univariate detectors: Welford
 * mean/variance over all history, exponentially weighted mean/variance of
 * the level, and an exponentially weighted model of first differences (a
 * one-step "same as last time" prediction, which sees spikes and jumps on
 * smooth and slowly varying series that a level model misses).
 *
 * A fourth, drift, compares a short average of the level with a long-memory
 * baseline of the series' own past, so that a departure too gradual for the
 * level model (which follows it) still shows.
 *
 * All keep a few doubles per series and never allocate. Exponential time
 * constants are tied to the probation length P, so that one setting fits
 * short and long series alike, and they count time, not samples: a sample
 * after a gap of k usual intervals weighs as k samples would (the level may
 * have moved meanwhile), a burst of samples as little as the time it
 * covers. */
#include "mend/detector.h"

#include <math.h>
#include <string.h>

void mend_welford_add(struct mend_welford *w, double x)
{
    w->n += 1.0;
    double d = x - w->mean;
    w->mean += d / w->n;
    w->m2 += d * (x - w->mean);
}

double mend_welford_var(const struct mend_welford *w)
{
    return w->n < 2.0 ? 0.0 : w->m2 / (w->n - 1.0);
}

void mend_ewstat_add(struct mend_ewstat *e, double alpha, double x)
{
    if (e->n < 1e15)
        e->n += 1.0;
    /* Until 1/alpha samples have arrived a plain average is the better
     * estimate; afterwards the weight settles at alpha. */
    double a = e->n * alpha < 1.0 ? 1.0 / e->n : alpha;
    double d = x - e->mean;
    double inc = a * d;
    e->mean += inc;
    e->var = (1.0 - a) * (e->var + d * inc);
}

double mend_det_z(double x, double mean, double var, double scale)
{
    double floor = 1e-3 * scale;
    double z = fabs(x - mean) / sqrt(var + floor * floor + 1e-30);
    return z < MEND_DET_ZMAX ? z : MEND_DET_ZMAX; /* also maps NaN to ZMAX */
}

/* The exponential weight of the level and difference models: one probation
 * length is the memory, so a lasting shift is absorbed after about P samples. */
static double ew_alpha(const struct mend_scorer_conf *c)
{
    return 1.0 / (double)(c->probation > 1 ? c->probation : 1);
}

/* ---- pace: weights by elapsed time -------------------------------------- */

/* The series' usual interval, learnt from the samples' event times. */
struct pace {
    double last_t, dt; /* dt = 0 until two samples have been seen */
    double seen;       /* 1 once last_t holds a time */
};

/* The weight of a sample that arrives at t_ns, for a model whose weight per
 * usual interval is alpha: 1 - (1 - alpha)^(elapsed / usual). Costs a pow
 * only off the usual pace (beyond 1.5x either way). The usual interval
 * follows the pace slowly, and a gap stretches it at most 4x per sample so
 * that gaps do not teach it. */
static inline double pace_weight(struct pace *p, int64_t t_ns, double alpha)
{
    double t = (double)t_ns, w = alpha;
    if (p->seen != 0.0) {
        double dt = t - p->last_t;
        if (dt > 0.0) {
            if (dt == p->dt) {
                /* the usual pace: the usual weight, nothing to learn */
            } else if (p->dt > 0.0) {
                if (dt > 1.5 * p->dt || dt < 0.67 * p->dt) {
                    double r = dt / p->dt;
                    w = 1.0 - pow(1.0 - alpha, r < 1e6 ? r : 1e6);
                }
                p->dt += 0.05 * ((dt < 4.0 * p->dt ? dt : 4.0 * p->dt) - p->dt);
            } else {
                p->dt = dt;
            }
        }
    }
    p->last_t = t;
    p->seen = 1.0;
    return w;
}

static int pace_load(struct pace *p, const double *v)
{
    if (!(v[1] >= 0.0) || (v[2] != 0.0 && v[2] != 1.0))
        return MEND_ECORRUPT;
    p->last_t = v[0];
    p->dt = v[1];
    p->seen = v[2];
    return MEND_OK;
}

/* ---- gauss: Welford over everything ------------------------------------ */

static size_t gauss_size(const struct mend_scorer_conf *c)
{
    (void)c;
    return sizeof(struct mend_welford);
}

static int gauss_init(void *st, const struct mend_scorer_conf *c)
{
    (void)c;
    memset(st, 0, sizeof(struct mend_welford));
    return MEND_OK;
}

static double gauss_step(void *st, const struct mend_scorer_conf *c, int64_t t_ns, double x,
                         double *expected)
{
    struct mend_welford *w = st;
    (void)c;
    (void)t_ns;
    double z = 0.0;
    *expected = w->n >= 1.0 ? w->mean : x;
    if (w->n >= 2.0)
        z = mend_det_z(x, w->mean, mend_welford_var(w), w->mean);
    mend_welford_add(w, x);
    return z;
}

static int f64s_save(const double *v, size_t n, struct mend_wbuf *w)
{
    for (size_t i = 0; i < n; i++)
        mend_wbuf_f64(w, v[i]);
    return w->failed ? MEND_ENOMEM : MEND_OK;
}

/* Reads n doubles that must be finite; variances and counts must also be
 * non-negative, which the callers check where it matters. */
static int f64s_load(double *v, size_t n, struct mend_rbuf *r)
{
    for (size_t i = 0; i < n; i++) {
        v[i] = mend_rbuf_f64(r);
        if (r->failed || !isfinite(v[i]))
            return MEND_ECORRUPT;
    }
    return MEND_OK;
}

static int gauss_save(const void *st, const struct mend_scorer_conf *c, struct mend_wbuf *w)
{
    const struct mend_welford *g = st;
    (void)c;
    double v[3] = {g->n, g->mean, g->m2};
    return f64s_save(v, 3, w);
}

static int gauss_load(void *st, const struct mend_scorer_conf *c, struct mend_rbuf *r)
{
    struct mend_welford *g = st;
    double v[3];
    (void)c;
    if (f64s_load(v, 3, r) || v[0] < 0 || v[2] < 0)
        return MEND_ECORRUPT;
    g->n = v[0];
    g->mean = v[1];
    g->m2 = v[2];
    return MEND_OK;
}

const struct mend_detector_ops mend_detector_gauss = {
    "gauss", MEND_DET_GAUSS, gauss_size, gauss_init, NULL, gauss_step, gauss_save, gauss_load, NULL, NULL, NULL,
};

/* ---- ewma: exponentially weighted level -------------------------------- */

struct ewma_state {
    struct mend_ewstat e;
    struct pace p;
};

static size_t ewma_size(const struct mend_scorer_conf *c)
{
    (void)c;
    return sizeof(struct ewma_state);
}

static int ewma_init(void *st, const struct mend_scorer_conf *c)
{
    (void)c;
    memset(st, 0, sizeof(struct ewma_state));
    return MEND_OK;
}

static double ewma_step(void *st, const struct mend_scorer_conf *c, int64_t t_ns, double x,
                        double *expected)
{
    struct ewma_state *s = st;
    struct mend_ewstat *e = &s->e;
    double z = 0.0;
    *expected = e->n >= 1.0 ? e->mean : x;
    if (e->n >= 2.0)
        z = mend_det_z(x, e->mean, e->var, e->mean);
    mend_ewstat_add(e, pace_weight(&s->p, t_ns, ew_alpha(c)), x);
    return z;
}

static int ewstat_save(const struct mend_ewstat *e, struct mend_wbuf *w)
{
    double v[3] = {e->n, e->mean, e->var};
    return f64s_save(v, 3, w);
}

static int ewstat_load(struct mend_ewstat *e, struct mend_rbuf *r)
{
    double v[3];
    if (f64s_load(v, 3, r) || v[0] < 0 || v[2] < 0)
        return MEND_ECORRUPT;
    e->n = v[0];
    e->mean = v[1];
    e->var = v[2];
    return MEND_OK;
}

static int ewma_save(const void *st, const struct mend_scorer_conf *c, struct mend_wbuf *w)
{
    const struct ewma_state *s = st;
    (void)c;
    int rc = ewstat_save(&s->e, w);
    double v[3] = {s->p.last_t, s->p.dt, s->p.seen};
    return rc ? rc : f64s_save(v, 3, w);
}

static int ewma_load(void *st, const struct mend_scorer_conf *c, struct mend_rbuf *r)
{
    struct ewma_state *s = st;
    double v[3];
    (void)c;
    if (ewstat_load(&s->e, r) || f64s_load(v, 3, r))
        return MEND_ECORRUPT;
    return pace_load(&s->p, v);
}

const struct mend_detector_ops mend_detector_ewma = {
    "ewma", MEND_DET_EWMA, ewma_size, ewma_init, NULL, ewma_step, ewma_save, ewma_load, NULL, NULL, NULL,
};

/* ---- drift: a short average against a long-memory baseline -------------- */

/* The short average remembers P/4 of time, the baseline 8P: a level that
 * creeps by a tenth of its spread per P, which the level model (memory P)
 * follows without a murmur, has moved the short average away from the
 * baseline by several baseline deviations within a few P. The surprise is
 * |short - baseline| / baseline deviation: on stationary noise the short
 * average wobbles by about sd/sqrt(P/2), so the detector stays near 0
 * there, and its likelihood layer calibrates it like the others. It has an
 * opinion once the baseline has seen P of time. */
struct drift_state {
    struct mend_ewstat base;
    double shortm, n;
    double ready; /* 1 once n has reached P */
    struct pace p;
};

static size_t drift_size(const struct mend_scorer_conf *c)
{
    (void)c;
    return sizeof(struct drift_state);
}

static int drift_init(void *st, const struct mend_scorer_conf *c)
{
    (void)c;
    memset(st, 0, sizeof(struct drift_state));
    return MEND_OK;
}

static double drift_step(void *st, const struct mend_scorer_conf *c, int64_t t_ns, double x,
                         double *expected)
{
    struct drift_state *s = st;
    double a = ew_alpha(c);
    double w = pace_weight(&s->p, t_ns, a);
    /* the weight of a P/4 and an 8P memory over the same elapsed time */
    double ws = 1.0 - pow(1.0 - w, 4.0), wl = w / 8.0;
    double z = 0.0;
    *expected = s->base.n >= 1.0 ? s->base.mean : x;
    s->shortm = s->n >= 1.0 ? s->shortm + (ws > 1.0 / (s->n + 1.0) ? ws : 1.0 / (s->n + 1.0)) *
                                              (x - s->shortm)
                            : x;
    if (s->n >= (double)c->probation) {
        z = mend_det_z(s->shortm, s->base.mean, s->base.var, s->base.mean);
        s->ready = 1.0;
    }
    mend_ewstat_add(&s->base, wl, x);
    if (s->n < 1e15)
        s->n += 1.0;
    return z;
}

/* An opinion once the baseline has seen P samples: until then its
 * likelihood is not taught that drift is always 0. */
static int drift_settled(const void *st, int64_t t_ns)
{
    (void)t_ns;
    return ((const struct drift_state *)st)->ready != 0.0;
}

static int drift_save(const void *st, const struct mend_scorer_conf *c, struct mend_wbuf *w)
{
    const struct drift_state *s = st;
    (void)c;
    int rc = ewstat_save(&s->base, w);
    double v[6] = {s->shortm, s->n, s->ready, s->p.last_t, s->p.dt, s->p.seen};
    return rc ? rc : f64s_save(v, 6, w);
}

static int drift_load(void *st, const struct mend_scorer_conf *c, struct mend_rbuf *r)
{
    struct drift_state *s = st;
    double v[6];
    (void)c;
    if (ewstat_load(&s->base, r) || f64s_load(v, 6, r) || !(v[1] >= 0.0) ||
        (v[2] != 0.0 && v[2] != 1.0))
        return MEND_ECORRUPT;
    s->shortm = v[0];
    s->n = v[1];
    s->ready = v[2];
    return pace_load(&s->p, v + 3);
}

const struct mend_detector_ops mend_detector_drift = {
    "drift", MEND_DET_DRIFT, drift_size, drift_init, NULL, drift_step, drift_save, drift_load, NULL,
    drift_settled, NULL,
};

/* ---- diff: exponentially weighted model of x[t] - x[t-1] --------------- */

struct diff_state {
    struct mend_ewstat d;
    double prev;
    double has_prev; /* a double keeps the blob a plain array of doubles */
};

static size_t diff_size(const struct mend_scorer_conf *c)
{
    (void)c;
    return sizeof(struct diff_state);
}

static int diff_init(void *st, const struct mend_scorer_conf *c)
{
    (void)c;
    memset(st, 0, sizeof(struct diff_state));
    return MEND_OK;
}

static double diff_step(void *st, const struct mend_scorer_conf *c, int64_t t_ns, double x,
                        double *expected)
{
    struct diff_state *s = st;
    (void)t_ns;
    double z = 0.0;
    *expected = x;
    if (s->has_prev != 0.0) {
        double d = x - s->prev;
        *expected = s->prev + s->d.mean;
        if (s->d.n >= 2.0)
            z = mend_det_z(d, s->d.mean, s->d.var, s->prev);
        mend_ewstat_add(&s->d, ew_alpha(c), d);
    }
    s->prev = x;
    s->has_prev = 1.0;
    return z;
}

static int diff_save(const void *st, const struct mend_scorer_conf *c, struct mend_wbuf *w)
{
    const struct diff_state *s = st;
    (void)c;
    int rc = ewstat_save(&s->d, w);
    double v[2] = {s->prev, s->has_prev};
    return rc ? rc : f64s_save(v, 2, w);
}

static int diff_load(void *st, const struct mend_scorer_conf *c, struct mend_rbuf *r)
{
    struct diff_state *s = st;
    double v[2];
    (void)c;
    if (ewstat_load(&s->d, r) || f64s_load(v, 2, r) || (v[1] != 0.0 && v[1] != 1.0))
        return MEND_ECORRUPT;
    s->prev = v[0];
    s->has_prev = v[1];
    return MEND_OK;
}

const struct mend_detector_ops mend_detector_diff = {
    "diff", MEND_DET_DIFF, diff_size, diff_init, NULL, diff_step, diff_save, diff_load, NULL, NULL, NULL,
};
