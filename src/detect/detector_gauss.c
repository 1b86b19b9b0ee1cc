/* detector_gauss.c -- the Gaussian family of univariate detectors: Welford
 * mean/variance over all history, exponentially weighted mean/variance of
 * the level, and an exponentially weighted model of first differences (a
 * one-step "same as last time" prediction, which sees spikes and jumps on
 * smooth and slowly varying series that a level model misses).
 *
 * All three keep a few doubles per series and never allocate. Exponential
 * time constants are tied to the probation length P, so that one setting fits
 * short and long series alike. */
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
    "gauss", MEND_DET_GAUSS, gauss_size, gauss_init, NULL, gauss_step, gauss_save, gauss_load, NULL, NULL,
};

/* ---- ewma: exponentially weighted level -------------------------------- */

static size_t ewma_size(const struct mend_scorer_conf *c)
{
    (void)c;
    return sizeof(struct mend_ewstat);
}

static int ewma_init(void *st, const struct mend_scorer_conf *c)
{
    (void)c;
    memset(st, 0, sizeof(struct mend_ewstat));
    return MEND_OK;
}

static double ewma_step(void *st, const struct mend_scorer_conf *c, int64_t t_ns, double x,
                        double *expected)
{
    struct mend_ewstat *e = st;
    (void)t_ns;
    double z = 0.0;
    *expected = e->n >= 1.0 ? e->mean : x;
    if (e->n >= 2.0)
        z = mend_det_z(x, e->mean, e->var, e->mean);
    mend_ewstat_add(e, ew_alpha(c), x);
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
    (void)c;
    return ewstat_save(st, w);
}

static int ewma_load(void *st, const struct mend_scorer_conf *c, struct mend_rbuf *r)
{
    (void)c;
    return ewstat_load(st, r);
}

const struct mend_detector_ops mend_detector_ewma = {
    "ewma", MEND_DET_EWMA, ewma_size, ewma_init, NULL, ewma_step, ewma_save, ewma_load, NULL, NULL,
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
    "diff", MEND_DET_DIFF, diff_size, diff_init, NULL, diff_step, diff_save, diff_load, NULL, NULL,
};
