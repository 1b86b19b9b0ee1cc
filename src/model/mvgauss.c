/* mvgauss.c -- online multivariate Gaussian with shrinkage and a periodically
 * refreshed Cholesky factor (contract in mvgauss.h).
 *
 * Storage: the covariance and the Cholesky factors are symmetric/triangular,
 * so only their lower triangles are kept, packed row by row (element (i, j),
 * j <= i, at i (i + 1) / 2 + j). Rows are then contiguous, which is what the
 * row-oriented Cholesky and the forward solve want, and a model of dimension
 * d costs d (d + 1) doubles for both instead of 2 d^2. What a model
 * learns from its first row (header, mean, covariance, and the last values
 * of a model of changes) is one allocation made by mend_mvg_new; the
 * shrunk covariance and its factor, which nothing reads before the model is
 * warm, are a second one made at the first refit (the warm-up of a gated
 * pair then costs about half), and a scratch allocates the factor of a
 * marginal when a row first has a hole. After that, score/learn never
 * touch the heap. A refit that cannot allocate leaves the model unfitted
 * (it learns on and tries again at the next row): nothing is judged on a
 * factor that does not exist.
 *
 * Shrinkage intensity: sum_{i<j} Var(C_ij) / sum_{i<j} C_ij^2 with
 * Var(C_ij) = (E[w_ij^2] - C_ij^2) / n_eff, w_ij the per-sample cross
 * products. C_ij is an exponentially weighted mean of w_ij whose weights sum
 * to one, and E[w_ij^2] is the same weighted mean of w_ij^2, so each
 * E[w_ij^2] - C_ij^2 is >= 0 (Jensen) and the sum over i < j only needs the
 * weighted mean of sum_{i<j} w_ij^2: one scalar, updated in O(d) per sample
 * (sum_{i<j} r_i^2 r_j^2 = sum_i r_i^2 (r_0^2 + ... + r_{i-1}^2), all terms
 * non-negative), instead of a d x d fourth-moment matrix updated in O(d^2). */
#include "mend/mvgauss.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cdf.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define SAVE_TAG 0x3147564du /* "MVG1" little-endian */
#define SAVE_VERSION 4u      /* 2: packed triangles, scalar fourth moment;
                                3: refit S kept, no marginal cache (still
                                loads, with an empty tail calibration);
                                4: tail calibration (pot_*) at the end */
/* Inputs beyond this are nonsense for a metric and would overflow the
 * fourth moments kept for the shrinkage estimate. */
#define MAX_ABS 1e75
#define JITTER_TRIES 6

/* Tail calibration (mend_mvg_score_cal_ro), peaks over a threshold on the
 * evidence e = -log10 P(chi^2_k > d^2) as the per-series scorer does it:
 * runs above POT_Y0 = log10(50), the 2% level of SPOT, are counted, and
 * their peak excess over it averaged; the prior is POT_PRIOR runs at the
 * nominal rate POT_P with the nominal mean excess 1/ln 10 decades. Each
 * learnt excess is capped at POT_CAP times the current mean excess
 * (winsorised), so that one wild fault adds a bounded amount to the scale
 * while a tail that is really heavier still raises it run after run; the
 * mean of the capped excesses of an exponential is (1 - e^-POT_CAP) times
 * its mean, which the estimate divides out. */
#define POT_Y0 1.6989700043360187
#define POT_P 0.02
#define POT_PRIOR 10.0
#define POT_CAP 3.0
enum { FAC_NONE = 0, FAC_OK = 1, FAC_FAILED = 2 };

/* Peaks-over-threshold state of one evidence stream. */
struct pot {
    double n;    /* rows judged */
    double hits; /* runs of e above POT_Y0 */
    double ex;   /* sum of their capped peak excesses (decades) */
    double run;  /* capped peak excess of the run in progress, -1 outside */
};

struct mend_mvg {
    struct mend_mvg_conf conf;
    size_t dim;
    double alpha;          /* EW weight from the half-life; 0 = no forgetting */
    double dep_level;      /* departure_level() when the half-life is finite
                              (then a constant of the configuration) */
    uint64_t n;            /* samples learnt */
    uint64_t gen;          /* refits so far: names the factor a scratch cached from */
    uint32_t since_refit;  /* samples learnt since the factor was computed */
    uint32_t fac_state;    /* FAC_* */
    double lambda;         /* shrinkage used by fac */
    double jitter;         /* diagonal jitter used by fac */
    double q4;             /* EW mean of sum_{i<j} w_ij^2, for sum Var(C_ij) */
    /* Tail calibration of the evidence (POT_* above): forgotten with the
     * half-life, counted only on rows judged (warm, factor usable). */
    struct pot pot;
    struct pot gpot;       /* conf.changes == 2: of the gated evidence */
    struct mend_mvg *chg;  /* conf.changes == 2: the model of the changes
                              that gates the calibrated score (owned) */
    uint32_t departed;     /* conf.changes == 2: a departure is in progress
                              (entered as a level and a change, lasts while
                              the level stays out) */
    double *mean;          /* dim */
    double *cov;           /* packed lower triangle: EW covariance C */
    double *shr;           /* packed: the shrunk S of the last refit, kept so
                              the factor of any marginal is a pure function
                              of the model (scratch caches are then only a
                              speed-up, never state); NULL before the first
                              refit (fac_state FAC_NONE), owned */
    double *fac;           /* packed lower triangle: Cholesky factor of S;
                              in the allocation of shr, after it */
    double *last;          /* dim: last value seen per dimension (NaN = none
                              yet); only when conf.changes == 1, else NULL */
    struct mend_mvg_scratch *own; /* for the non-const convenience calls */
    double mem[];          /* mean, cov, last */
};

/* Caller-owned working memory of a const score: residuals, solves and the
 * cached factor of the last marginal (pattern of observed dimensions). */
struct mend_mvg_scratch {
    size_t dim;
    double *r, *z;         /* dim */
    double *y;             /* dim: the row as the model sees it (changes) */
    /* the last gated judgement (gated_evidence): of row kept_x by model
     * kept_m (NULL = none) when it had learnt kept_n rows, its changes
     * model kept_cn */
    const struct mend_mvg *kept_m;
    uint64_t kept_n, kept_cn;
    double kept_el, kept_ec;
    int kept_rc;
    double *kept_x;        /* dim */
    uint32_t *idx;         /* dim: observed dimensions */
    double *work;          /* packed tri(dim): factor of the cached marginal;
                              allocated on the first marginal (owned) */
    uint32_t *widx;        /* its observed dimensions */
    size_t wk;             /* their count; 0 = no cache */
    uint64_t wgen;         /* model generation it was factored from */
    uint32_t wstate;       /* FAC_OK or FAC_FAILED */
    double mem[];
};

/* Entries of a packed lower triangle of order k. */
static size_t tri(size_t k) { return k * (k + 1) / 2; }

void mend_mvg_conf_defaults(struct mend_mvg_conf *c)
{
    c->max_dim = MEND_MVG_MAX_DIM_DEFAULT;
    c->half_life = 1000.0;
    c->warmup = 100;
    c->refit_every = 32;
    c->shrinkage = -1.0;
    c->changes = 2;
}

int mend_mvg_conf_check(const struct mend_mvg_conf *c)
{
    if (!c || c->max_dim < 1 || c->max_dim > MEND_MVG_MAX_DIM_LIMIT)
        return MEND_EINVAL;
    if (!(c->half_life > 0.0)) /* also refuses NaN */
        return MEND_EINVAL;
    if (c->refit_every < 1)
        return MEND_EINVAL;
    if (isnan(c->shrinkage) || c->shrinkage > 1.0)
        return MEND_EINVAL;
    if (c->changes < 0 || c->changes > 2)
        return MEND_EINVAL;
    return MEND_OK;
}

void mend_mvg_free(struct mend_mvg *m)
{
    if (!m)
        return;
    mend_mvg_scratch_free(m->own);
    mend_mvg_free(m->chg);
    free(m->shr);
    free(m);
}

int mend_mvg_new(size_t dim, const struct mend_mvg_conf *c, struct mend_mvg **out)
{
    struct mend_mvg_conf def;
    if (!c) {
        mend_mvg_conf_defaults(&def);
        c = &def;
    }
    if (!out || mend_mvg_conf_check(c) != MEND_OK || dim < 1)
        return MEND_EINVAL;
    if (dim > c->max_dim)
        return MEND_ECAP;
    /* dim <= MEND_MVG_MAX_DIM_LIMIT: no overflow */
    size_t nd = dim + tri(dim) + (c->changes == 1 ? dim : 0);
    struct mend_mvg *m = calloc(1, sizeof *m + nd * sizeof(double));
    if (!m)
        return MEND_ENOMEM;
    m->conf = *c;
    m->dim = dim;
    m->alpha = isinf(c->half_life) ? 0.0 : -expm1(-M_LN2 / c->half_life);
    m->dep_level = isinf(c->half_life) ? 0.0 : log10(1.0 + c->half_life / M_LN2);
    m->mean = m->mem;
    m->cov = m->mean + dim;
    if (c->changes == 1) {
        m->last = m->cov + tri(dim);
        for (size_t i = 0; i < dim; i++)
            m->last[i] = NAN;
    }
    m->pot.run = -1.0;
    m->gpot.run = -1.0;
    if (c->changes == 2) {
        struct mend_mvg_conf cc = *c;
        cc.changes = 1;
        if (mend_mvg_new(dim, &cc, &m->chg) != MEND_OK) {
            free(m);
            return MEND_ENOMEM;
        }
        /* the two share a scratch: their factor generations must differ */
        m->chg->gen = (uint64_t)1 << 62;
    }
    *out = m;
    return MEND_OK;
}

/* The scratch without the marginal's factor. */
static size_t scratch_base(size_t dim)
{
    return sizeof(struct mend_mvg_scratch) + 4 * dim * sizeof(double) + 2 * dim * sizeof(uint32_t);
}

size_t mend_mvg_scratch_size(size_t dim)
{
    return scratch_base(dim) + tri(dim) * sizeof(double);
}

int mend_mvg_scratch_new(size_t dim, struct mend_mvg_scratch **out)
{
    if (!out || dim < 1 || dim > MEND_MVG_MAX_DIM_LIMIT)
        return MEND_EINVAL;
    struct mend_mvg_scratch *w = calloc(1, scratch_base(dim));
    if (!w)
        return MEND_ENOMEM;
    w->dim = dim;
    w->r = w->mem;
    w->z = w->r + dim;
    w->y = w->z + dim;
    w->kept_x = w->y + dim;
    w->idx = (uint32_t *)(void *)(w->kept_x + dim);
    w->widx = w->idx + dim;
    *out = w;
    return MEND_OK;
}

void mend_mvg_scratch_free(struct mend_mvg_scratch *w)
{
    if (w)
        free(w->work);
    free(w);
}

size_t mend_mvg_dim(const struct mend_mvg *m) { return m->dim; }
uint64_t mend_mvg_count(const struct mend_mvg *m) { return m->n; }
double mend_mvg_lambda(const struct mend_mvg *m) { return m->fac_state == FAC_OK ? m->lambda : 0.0; }

static uint64_t warmup_of(const struct mend_mvg *m)
{
    return m->conf.warmup < 2 ? 2 : m->conf.warmup;
}

/* Shrinkage intensity: configured, or estimated as
 * sum Var(C_ij) / sum C_ij^2 over i != j with Var(C_ij) = Var(w_ij) / n_eff. */
static double shrink_lambda(const struct mend_mvg *m)
{
    if (m->conf.shrinkage >= 0.0)
        return m->conf.shrinkage;
    size_t d = m->dim;
    double neff = (double)m->n;
    if (m->alpha > 0.0) {
        double cap = (2.0 - m->alpha) / m->alpha;
        if (cap < neff)
            neff = cap;
    }
    if (neff < 2.0)
        return 1.0;
    double den = 0.0;
    for (size_t i = 1; i < d; i++) {
        const double *row = m->cov + tri(i);
        for (size_t j = 0; j < i; j++)
            den += row[j] * row[j];
    }
    if (!(den > 0.0))
        return 0.0; /* no off-diagonal mass: nothing to shrink */
    double num = m->q4 - den;
    if (!(num > 0.0))
        num = 0.0;
    double l = num / (neff * den);
    if (!(l >= 0.0))
        return 1.0;
    return l > 1.0 ? 1.0 : l;
}

/* In-place Cholesky of the packed k x k matrix a (row-oriented: both rows of
 * each dot product are contiguous). Returns 0, or -1 when a pivot is not
 * positive and finite (the matrix is not usable as it is). */
static int cholesky_packed(double *a, size_t k)
{
    for (size_t i = 0; i < k; i++) {
        double *ri = a + tri(i);
        for (size_t j = 0; j < i; j++) {
            const double *rj = a + tri(j);
            double s = ri[j];
            for (size_t t = 0; t < j; t++)
                s -= ri[t] * rj[t];
            ri[j] = s / rj[j];
        }
        double s = ri[i];
        for (size_t t = 0; t < i; t++)
            s -= ri[t] * ri[t];
        if (!(s > 0.0) || !isfinite(s))
            return -1;
        ri[i] = sqrt(s);
    }
    return 0;
}

/* Builds the shrunk covariance of the whole model into m->shr. */
static void build_shrunk(struct mend_mvg *m, double lambda)
{
    size_t d = m->dim;
    for (size_t i = 0; i < d; i++) {
        const double *crow = m->cov + tri(i);
        double *srow = m->shr + tri(i);
        for (size_t j = 0; j < i; j++)
            srow[j] = (1.0 - lambda) * crow[j];
        srow[i] = crow[i];
    }
}

/* Copies the sub-matrix of the packed S over the k dimensions in idx into
 * out (packed) and factors it in place, adding jitter to the diagonal while
 * the factorisation fails. Returns MEND_OK or MEND_ERANGE. */
static int factor_into(const double *S, double *out, const uint32_t *idx, size_t k,
                       double *jitter_used)
{
    double base = 0.0;
    for (size_t a = 0; a < k; a++)
        base += S[tri(idx[a]) + idx[a]];
    base /= (double)k;
    if (!(base > 0.0) || !isfinite(base))
        base = 1.0;
    for (int t = 0; t < JITTER_TRIES; t++) {
        double jit = t == 0 ? 0.0 : base * pow(10.0, -12.0 + 2.0 * t);
        for (size_t a = 0; a < k; a++) {
            size_t i = idx[a]; /* idx is increasing: idx[b] < i for b < a */
            const double *srow = S + tri(i);
            double *orow = out + tri(a);
            for (size_t b = 0; b < a; b++)
                orow[b] = srow[idx[b]];
            orow[a] = srow[i] + jit;
        }
        if (cholesky_packed(out, k) == 0) {
            *jitter_used = jit;
            return MEND_OK;
        }
    }
    return MEND_ERANGE;
}

/* A new factor from the statistics so far. Done by learning, when the
 * factor is due, so that scoring never writes to the model. */
static void refit(struct mend_mvg *m)
{
    if (!m->shr) {
        /* the first: S and its factor get their room (a failure leaves
         * the model unfitted, FAC_NONE, and is tried again next row) */
        m->shr = malloc(2 * tri(m->dim) * sizeof(double));
        if (!m->shr)
            return;
        m->fac = m->shr + tri(m->dim);
    }
    m->since_refit = 0;
    m->gen++;
    m->lambda = shrink_lambda(m);
    build_shrunk(m, m->lambda);
    if (m->dim > MEND_MVG_MAX_DIM_LIMIT)
        return;
    uint32_t idx[MEND_MVG_MAX_DIM_LIMIT];
    for (size_t i = 0; i < m->dim; i++)
        idx[i] = (uint32_t)i;
    int rc = factor_into(m->shr, m->fac, idx, m->dim, &m->jitter);
    m->fac_state = rc == MEND_OK ? FAC_OK : FAC_FAILED;
}

static int check_input(const double *x, size_t d, size_t *observed)
{
    size_t k = 0;
    for (size_t i = 0; i < d; i++) {
        if (isnan(x[i]))
            continue;
        if (!(fabs(x[i]) <= MAX_ABS))
            return MEND_ERANGE;
        k++;
    }
    *observed = k;
    return MEND_OK;
}

static void put_zero(size_t d, double *score, double *d2, double *contrib)
{
    if (score)
        *score = 0.0;
    if (d2)
        *d2 = 0.0;
    if (contrib)
        memset(contrib, 0, d * sizeof *contrib);
}

/* Mahalanobis distance of r[0..k) under the packed factor L; fills
 * share[0..k) with r_a (S^-1 r)_a when share is not NULL. z: k doubles of scratch. */
static double mahalanobis(double *z, const double *L, size_t k, const double *r,
                          double *share)
{
    /* forward: L z = r */
    for (size_t i = 0; i < k; i++) {
        const double *row = L + tri(i);
        double s = r[i];
        for (size_t t = 0; t < i; t++)
            s -= row[t] * z[t];
        z[i] = s / row[i];
    }
    double d2 = 0.0;
    for (size_t a = 0; a < k; a++)
        d2 += z[a] * z[a];
    if (share) {
        /* backward: L' y = z, column by column so rows stay contiguous */
        for (size_t i = k; i-- > 0;) {
            const double *row = L + tri(i);
            double y = z[i] / row[i];
            z[i] = y;
            for (size_t t = 0; t < i; t++)
                z[t] -= row[t] * y;
        }
        for (size_t a = 0; a < k; a++)
            share[a] = r[a] * z[a];
    }
    return d2;
}

/* The Mahalanobis distance of x (passed check_input with k observed
 * dimensions) under the model: *kobs is the number of dimensions judged, 0
 * when the row is not judged (warm-up, no factor yet, nothing observed).
 * A distance that overflowed is DBL_MAX with contrib made finite. contrib
 * (NULL or dim entries) must be zero on entry. */
static int distance_checked(const struct mend_mvg *m, const double *x, size_t k,
                            struct mend_mvg_scratch *w, double *contrib, double *dist_out,
                            size_t *kobs)
{
    size_t d = m->dim;
    *kobs = 0;
    *dist_out = 0.0;
    if (m->n < warmup_of(m) || k == 0)
        return MEND_OK;
    if (m->fac_state == FAC_NONE)
        return MEND_OK; /* warm (e.g. restored from an old state) but never refitted */

    double dist;
    if (k == d) {
        if (m->fac_state != FAC_OK)
            return MEND_ERANGE;
        for (size_t i = 0; i < d; i++)
            w->r[i] = x[i] - m->mean[i];
        dist = mahalanobis(w->z, m->fac, d, w->r, contrib);
    } else {
        /* Marginal over the observed dimensions: the sub-matrix of S. */
        k = 0;
        for (size_t i = 0; i < d; i++) {
            if (!isnan(x[i])) {
                w->idx[k] = (uint32_t)i;
                w->r[k] = x[i] - m->mean[i];
                k++;
            }
        }
        int cached = w->wk == k && w->wgen == m->gen &&
                     memcmp(w->widx, w->idx, k * sizeof *w->idx) == 0;
        if (!cached && !w->work) {
            /* the first marginal this scratch factors */
            w->work = malloc(tri(w->dim) * sizeof(double));
            if (!w->work)
                return MEND_ENOMEM;
        }
        if (!cached) {
            double jit;
            int frc = factor_into(m->shr, w->work, w->idx, k, &jit);
            memcpy(w->widx, w->idx, k * sizeof *w->idx);
            w->wk = k;
            w->wgen = m->gen;
            w->wstate = frc == MEND_OK ? FAC_OK : FAC_FAILED;
        }
        if (w->wstate != FAC_OK)
            return MEND_ERANGE;
        /* contrib doubles as scratch for the k shares before scattering. */
        dist = mahalanobis(w->z, w->work, k, w->r, contrib);
        if (contrib) {
            for (size_t a = k; a-- > 0;) {
                double s = contrib[a];
                contrib[a] = 0.0;
                contrib[w->idx[a]] = s;
            }
        }
    }
    if (!(dist < DBL_MAX)) { /* overflow or NaN from a degenerate factor */
        dist = DBL_MAX;
        for (size_t i = 0; contrib && i < d; i++) {
            if (isnan(contrib[i]))
                contrib[i] = 0.0;
            else if (isinf(contrib[i]))
                contrib[i] = contrib[i] > 0 ? DBL_MAX : -DBL_MAX;
        }
    }
    *dist_out = dist;
    *kobs = k;
    return MEND_OK;
}

/* P(chi^2_k <= dist), clamped to [0, 1]. */
static double chisq_score(double dist, size_t k)
{
    if (!(dist < DBL_MAX))
        return 1.0;
    double p = gsl_cdf_chisq_P(dist, (double)k);
    if (!(p >= 0.0))
        return 0.0;
    return p > 1.0 ? 1.0 : p;
}

/* The evidence -log10 P(chi^2_k > dist). Where the tail underflows (d^2 in
 * the thousands, a wild fault), its leading asymptotic term
 * Q(s, y) ~ y^(s-1) e^-y / Gamma(s), s = k/2, y = d^2/2, keeps it finite
 * and increasing, so a calibration can still scale it. */
static double chisq_evidence(double dist, size_t k)
{
    double q = gsl_cdf_chisq_Q(dist, (double)k);
    if (q > 1e-300)
        return -log10(q);
    double s = 0.5 * (double)k, y = 0.5 * dist;
    double lnq = (s - 1.0) * log(y) - y - lgamma(s);
    double e = -lnq / M_LN10;
    return e > 300.0 ? e : 300.0; /* where the exact tail left off */
}

/* Mean excess over POT_Y0 of the runs seen (decades): the capped excesses'
 * mean with the capping bias divided out, and the nominal 1/ln 10 as a prior
 * of POT_PRIOR runs. */
static double pot_mean(const struct pot *p)
{
    const double kept = -expm1(-POT_CAP); /* E[min(Y, cap m)] / m, Y exponential */
    return (p->ex / kept + POT_PRIOR / M_LN10) / (p->hits + POT_PRIOR);
}

/* Evidence e against a stream's own tail: below POT_Y0 it stands as it is;
 * above, the rate of runs beyond POT_Y0 replaces the nominal 2% and the
 * excess is measured in units of the runs' own mean excess. Under the
 * fitted exponential tail, P(out >= t) = 10^-t for t above -log10(rate). */
static double pot_cal(const struct pot *p, double e)
{
    if (!(e > POT_Y0))
        return e;
    double r = (p->hits + POT_PRIOR) / (p->n + POT_PRIOR / POT_P);
    return -log10(r) + (e - POT_Y0) / (pot_mean(p) * M_LN10);
}

static double pot_calibrate(const struct mend_mvg *m, double e) { return pot_cal(&m->pot, e); }

/* Learns the evidence e of a judged row into p, forgetting with weight
 * alpha. A run's peak counts once (declustering: a fault that lasts is one
 * run, as it is one event). */
static void pot_learn(struct pot *p, double alpha, double e)
{
    double cap = POT_CAP * pot_mean(p);
    double keep = 1.0 - alpha;
    p->n = keep * p->n + 1.0;
    p->hits *= keep;
    p->ex *= keep;
    if (e > POT_Y0) {
        double y = e - POT_Y0;
        if (!(y <= cap))
            y = cap; /* also an infinite e */
        if (p->run < 0.0) {
            p->hits += 1.0;
            p->ex += y;
            p->run = y;
        } else if (y > p->run) {
            p->ex += y - p->run;
            p->run = y;
        }
    } else {
        p->run = -1.0;
    }
}

/* mend_mvg_score once x has passed check_input with k observed dimensions;
 * cal: calibrated against the model's own tail. *e_out (may be NULL) gets
 * the raw evidence of a judged row, NAN for a row not judged. */
static int score_checked(const struct mend_mvg *m, const double *x, size_t k,
                         struct mend_mvg_scratch *w, int cal, double *score, double *d2,
                         double *contrib, double *e_out)
{
    put_zero(m->dim, score, d2, contrib);
    if (e_out)
        *e_out = NAN;
    double dist;
    size_t kobs;
    int rc = distance_checked(m, x, k, w, contrib, &dist, &kobs);
    if (rc != MEND_OK || kobs == 0)
        return rc;
    if (!score && !cal && e_out) {
        /* evidence only: one tail, no CDF */
        *e_out = chisq_evidence(dist, kobs);
        if (d2)
            *d2 = dist;
        return MEND_OK;
    }
    double p = chisq_score(dist, kobs);
    if (cal || e_out) {
        /* the exact tail is only needed where the calibration acts; the
         * evidence reported is always the one from the tail, the same bits
         * as the evidence-only path above */
        double e = e_out || p > 1.0 - POT_P ? chisq_evidence(dist, kobs) : -log10(1.0 - p);
        if (e_out)
            *e_out = e;
        if (cal && e > POT_Y0) {
            double out = pot_calibrate(m, e);
            p = out < INFINITY ? -expm1(-out * M_LN10) : 1.0;
        }
    }
    if (score)
        *score = p;
    if (d2)
        *d2 = dist;
    return MEND_OK;
}

/* The row as the model sees it: x itself, or with conf.changes each
 * dimension's change since its last value seen (into y), with *k the
 * dimensions then observed. x has passed check_input. */
static const double *seen_row(const struct mend_mvg *m, const double *x, double *y, size_t *k)
{
    if (m->conf.changes != 1)
        return x;
    size_t n = 0;
    for (size_t i = 0; i < m->dim; i++) {
        y[i] = x[i] - m->last[i]; /* NaN when either is */
        if (!isnan(y[i]))
            n++;
    }
    *k = n;
    return y;
}

/* Raw evidence of x (passed check_input, k observed) under m alone: NAN for
 * a row m does not judge. */
static int raw_evidence(const struct mend_mvg *m, const double *x, size_t k,
                        struct mend_mvg_scratch *w, double *contrib, double *d2, double *e_raw)
{
    x = seen_row(m, x, w->y, &k);
    int rc = score_checked(m, x, k, w, 0, NULL, d2, contrib, e_raw);
    if (rc != MEND_OK)
        *e_raw = NAN;
    return rc;
}

/* Calibrated evidence from a raw one (0 for a row not judged). */
static double cal_of(const struct mend_mvg *m, double e_raw)
{
    return isnan(e_raw) ? 0.0 : pot_calibrate(m, e_raw);
}

/* The level at which a departure begins (conf.changes == 2): rarer than
 * once in the model's memory (its mean lifetime, half_life / ln 2 rows, or
 * every row so far when it never forgets). */
static double departure_level(const struct mend_mvg *m)
{
    if (!isinf(m->conf.half_life))
        return m->dep_level; /* the same expression, evaluated once by mend_mvg_new */
    return log10(1.0 + (double)m->n);
}

/* Whether m judges rows at all yet: warm and fitted. A row m does not
 * judge has no evidence (NAN), whatever its values. */
static int judges(const struct mend_mvg *m)
{
    return m->n >= warmup_of(m) && m->fac_state != FAC_NONE;
}

/* Both raw evidences of a gated model. The pair is kept in the scratch with
 * the row and the two models' counts, so that learning the row right after
 * scoring it (what the engine does) does not judge it again: the same
 * inputs give the same bits, so this is only a speed-up. While neither
 * model judges (the warm-up), both are NAN with nothing computed, as
 * raw_evidence would find them. */
static int gated_evidence(const struct mend_mvg *m, const double *x, size_t k,
                          struct mend_mvg_scratch *w, double *contrib, double *d2,
                          double *e_lev, double *e_chg, int use_kept)
{
    size_t d = m->dim;
    if (!judges(m) && !judges(m->chg)) {
        put_zero(d, NULL, d2, contrib);
        *e_lev = *e_chg = NAN;
        return MEND_OK;
    }
    if (use_kept && w->kept_m == m && w->kept_n == m->n && w->kept_cn == m->chg->n &&
        memcmp(w->kept_x, x, d * sizeof *x) == 0) {
        *e_lev = w->kept_el;
        *e_chg = w->kept_ec;
        return w->kept_rc;
    }
    int rc = raw_evidence(m, x, k, w, contrib, d2, e_lev);
    if (raw_evidence(m->chg, x, k, w, NULL, NULL, e_chg) != MEND_OK)
        *e_chg = NAN;
    w->kept_m = m;
    w->kept_n = m->n;
    w->kept_cn = m->chg->n;
    w->kept_el = *e_lev;
    w->kept_ec = *e_chg;
    w->kept_rc = rc;
    memcpy(w->kept_x, x, d * sizeof *x);
    return rc;
}

int mend_mvg_score_ro(const struct mend_mvg *m, const double *x, struct mend_mvg_scratch *w,
                      double *score, double *d2, double *contrib)
{
    if (!m || !x || !w || w->dim < m->dim)
        return MEND_EINVAL;
    size_t k;
    if (check_input(x, m->dim, &k) != MEND_OK) {
        put_zero(m->dim, score, d2, contrib);
        return MEND_ERANGE;
    }
    x = seen_row(m, x, w->y, &k);
    return score_checked(m, x, k, w, 0, score, d2, contrib, NULL);
}

int mend_mvg_score_cal_ro(const struct mend_mvg *m, const double *x,
                          struct mend_mvg_scratch *w, double *score, double *d2,
                          double *contrib)
{
    if (!m || !x || !w || w->dim < m->dim)
        return MEND_EINVAL;
    size_t k;
    if (check_input(x, m->dim, &k) != MEND_OK) {
        put_zero(m->dim, score, d2, contrib);
        return MEND_ERANGE;
    }
    if (!m->chg) {
        x = seen_row(m, x, w->y, &k);
        return score_checked(m, x, k, w, 1, score, d2, contrib, NULL);
    }
    /* gated: a row is as far out as it is both as a level and as a change,
     * except during a departure, which lasts as long as the level is out */
    double el, ec;
    int rc = gated_evidence(m, x, k, w, contrib, d2, &el, &ec, 0);
    el = cal_of(m, el);
    ec = cal_of(m->chg, ec);
    double e = pot_cal(&m->gpot, m->departed || el < ec ? el : ec);
    if (score)
        *score = rc == MEND_OK && e > 0.0 ? (e < INFINITY ? -expm1(-e * M_LN10) : 1.0) : 0.0;
    return rc;
}

double mend_mvg_calibrated(const struct mend_mvg *m, double e)
{
    return pot_calibrate(m, e);
}

static int own_scratch(struct mend_mvg *m)
{
    if (!m->own && mend_mvg_scratch_new(m->dim, &m->own) != MEND_OK)
        return MEND_ENOMEM;
    return MEND_OK;
}

int mend_mvg_score(struct mend_mvg *m, const double *x, double *score, double *d2,
                   double *contrib)
{
    if (!m || !x)
        return MEND_EINVAL;
    if (own_scratch(m) != MEND_OK)
        return MEND_ENOMEM;
    return mend_mvg_score_ro(m, x, m->own, score, d2, contrib);
}

/* Prefetch helpers are forced inline: GCC's pure-const analysis takes a
 * static function that only prefetches for one without effects and drops
 * its calls (seen with GCC 12: mend_mvg_prefetch lost its statistics). */
#if defined(__GNUC__)
#define PF_INLINE static inline __attribute__((always_inline))
#else
#define PF_INLINE static inline
#endif

/* Prefetch (for writing) every line of [p, p + bytes). */
PF_INLINE void prefetch_range(const void *p, size_t bytes)
{
#if defined(__GNUC__)
    /* one address in each 64-byte step, and the last byte: every line */
    const char *c = p;
    for (size_t off = 0; off < bytes; off += 64)
        __builtin_prefetch(c + off, 1);
    __builtin_prefetch(c + bytes - 1, 1);
#else
    (void)p;
    (void)bytes;
#endif
}

/* The statistics of m a row touches (m's header is in cache). */
PF_INLINE void prefetch_stats(const struct mend_mvg *m)
{
    size_t d = m->dim;
    prefetch_range(m->mean, (d + tri(d)) * sizeof(double)); /* mean, cov: learnt every row */
    if (m->fac_state == FAC_OK)
        prefetch_range(m->fac, tri(d) * sizeof(double)); /* read by every score */
    if (m->conf.changes == 1)
        prefetch_range(m->last, d * sizeof(double));
}

int mend_mvg_prefetch(const struct mend_mvg *m, const struct mend_mvg_scratch *w, unsigned step)
{
    if (!m)
        return 0;
    switch (step) {
    case 0:
        prefetch_range(m, sizeof *m);
        return 1;
    case 1:
        prefetch_stats(m);
        if (w) /* the header, and r, z, y, kept_x (w->dim >= m->dim) */
            prefetch_range(w, sizeof *w + 4 * m->dim * sizeof(double));
        if (!m->chg)
            return 0;
        prefetch_range(m->chg, sizeof *m->chg);
        return 1;
    case 2:
        if (m->chg)
            prefetch_stats(m->chg);
        return 0;
    default:
        return 0;
    }
}

/* mend_mvg_learn once x has passed check_input. r: dim doubles of scratch. */
static void learn_checked(struct mend_mvg *m, const double *x, double *r)
{
    size_t d = m->dim;
    m->n++;
    double a = 1.0 / (double)m->n;
    if (m->alpha > a)
        a = m->alpha;
    double keep = 1.0 - a;
    double *mean = m->mean;
    /* s4 = sum_{i<j} (r_i r_j)^2 as sum_i r_i^2 (r_0^2 + ... + r_{i-1}^2) */
    double s4 = 0.0, below = 0.0;
    for (size_t i = 0; i < d; i++) {
        double ri = isnan(x[i]) ? 0.0 : x[i] - mean[i];
        r[i] = ri;
        mean[i] += a * ri;
        double r2 = ri * ri;
        s4 += r2 * below;
        below += r2;
    }
    /* C <- (1-a)(C + a r r') written as (1-a) C + a w with w = (1-a) r r';
     * the packed lower triangle is one contiguous run, row after row. */
    double *c = m->cov;
    for (size_t i = 0; i < d; i++) {
        double ri = keep * r[i];
        size_t j = 0;
#ifdef __SSE2__
        /* Two at a time: the same multiplies and adds in the same order
         * per element (no fused multiply-add on plain SSE2), so the
         * covariance is bit for bit the scalar loop's, for about half
         * the instructions; a row need not be 16-byte aligned. */
        const __m128d vk = _mm_set1_pd(keep), va = _mm_set1_pd(a), vr = _mm_set1_pd(ri);
        for (; j + 2 <= i + 1; j += 2) {
            __m128d cj = _mm_loadu_pd(c + j), rj = _mm_loadu_pd(r + j);
            _mm_storeu_pd(c + j, _mm_add_pd(_mm_mul_pd(vk, cj), _mm_mul_pd(va, _mm_mul_pd(vr, rj))));
        }
#endif
        for (; j <= i; j++)
            c[j] = keep * c[j] + a * (ri * r[j]);
        c += i + 1;
    }
    /* the w_ij carry the factor keep too: sum w_ij^2 = keep^2 s4 */
    m->q4 = keep * m->q4 + a * (keep * keep * s4);
    if (m->since_refit < UINT32_MAX)
        m->since_refit++;
    /* the factor the next score needs: first once warm, then every
     * refit_every rows (scoring only reads it) */
    if (m->n >= warmup_of(m) && (m->fac_state == FAC_NONE || m->since_refit >= m->conf.refit_every))
        refit(m);
}

/* Learns x (passed check_input, k observed) and, when the model judges
 * rows, the row's evidence into the tail calibration: e is that evidence
 * from a score against the model as it is now, or NAN to compute it here.
 * A row the model could not judge (warm-up, unusable factor) teaches the
 * calibration nothing. */
static void learn_judged(struct mend_mvg *m, const double *x, size_t k,
                         struct mend_mvg_scratch *w, double e)
{
    if (m->chg) {
        double el, ec;
        int rc = gated_evidence(m, x, k, w, NULL, NULL, &el, &ec, 1);
        w->kept_m = NULL; /* the models change now */
        if (rc == MEND_OK) {
            double cl = cal_of(m, el), cc = cal_of(m->chg, ec);
            /* the gated evidence has a tail of its own (the two are not
             * independent: iid rows make it lighter, a wandering level
             * heavier): calibrated as the plain ones are */
            pot_learn(&m->gpot, m->alpha, m->departed || cl < cc ? cl : cc);
            if (m->departed)
                m->departed = cl > POT_Y0;
            else
                m->departed = (cl < cc ? cl : cc) >= departure_level(m);
        }
        learn_judged(m->chg, x, k, w, ec);
        e = el;
    }
    const double *v = seen_row(m, x, w->y, &k);
    if (m->conf.changes != 1 || k > 0) {
        if (isnan(e) && judges(m) && score_checked(m, v, k, w, 0, NULL, NULL, NULL, &e) != MEND_OK)
            e = NAN;
        learn_checked(m, v, w->r);
        if (!isnan(e))
            pot_learn(&m->pot, m->alpha, e);
    }
    if (m->conf.changes == 1)
        for (size_t i = 0; i < m->dim; i++)
            if (!isnan(x[i]))
                m->last[i] = x[i];
}

int mend_mvg_learn_ro(struct mend_mvg *m, const double *x, struct mend_mvg_scratch *w)
{
    if (!m || !x || !w || w->dim < m->dim)
        return MEND_EINVAL;
    size_t k;
    if (check_input(x, m->dim, &k) != MEND_OK)
        return MEND_ERANGE;
    learn_judged(m, x, k, w, NAN);
    return MEND_OK;
}

int mend_mvg_learn(struct mend_mvg *m, const double *x)
{
    if (!m || !x)
        return MEND_EINVAL;
    if (own_scratch(m) != MEND_OK)
        return MEND_ENOMEM;
    return mend_mvg_learn_ro(m, x, m->own);
}

int mend_mvg_step(struct mend_mvg *m, const double *x, double *score, double *d2,
                  double *contrib)
{
    if (!m || !x)
        return MEND_EINVAL;
    if (own_scratch(m) != MEND_OK)
        return MEND_ENOMEM;
    size_t k;
    if (check_input(x, m->dim, &k) != MEND_OK) {
        put_zero(m->dim, score, d2, contrib);
        return MEND_ERANGE; /* nothing learnt */
    }
    double e;
    size_t ks = k;
    const double *v = seen_row(m, x, m->own->y, &ks);
    int rc = score_checked(m, v, ks, m->own, 0, score, d2, contrib, &e);
    if (rc != MEND_OK && rc != MEND_ERANGE)
        return rc;
    learn_judged(m, x, k, m->own, rc == MEND_OK ? e : NAN);
    return rc;
}

static void save_f64s(struct mend_wbuf *w, const double *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        mend_wbuf_f64(w, a[i]);
}

static void save_pot(struct mend_wbuf *w, const struct pot *p)
{
    mend_wbuf_f64(w, p->n);
    mend_wbuf_f64(w, p->hits);
    mend_wbuf_f64(w, p->ex);
    mend_wbuf_f64(w, p->run);
}

int mend_mvg_save(const struct mend_mvg *m, struct mend_wbuf *w)
{
    if (!m || !w)
        return MEND_EINVAL;
    size_t d = m->dim;
    mend_wbuf_u32(w, SAVE_TAG);
    mend_wbuf_u32(w, SAVE_VERSION);
    mend_wbuf_u64(w, (uint64_t)d);
    mend_wbuf_u64(w, m->n);
    mend_wbuf_u32(w, m->since_refit);
    mend_wbuf_u32(w, m->fac_state);
    mend_wbuf_f64(w, m->lambda);
    mend_wbuf_f64(w, m->jitter);
    save_f64s(w, m->mean, d);
    save_f64s(w, m->cov, tri(d));
    mend_wbuf_f64(w, m->q4);
    mend_wbuf_u64(w, m->gen);
    if (m->fac_state != FAC_NONE)
        save_f64s(w, m->shr, tri(d));
    if (m->fac_state == FAC_OK)
        save_f64s(w, m->fac, tri(d));
    save_pot(w, &m->pot);
    /* the kind of rows the statistics describe, and the last values */
    mend_wbuf_u32(w, (uint32_t)m->conf.changes);
    if (m->conf.changes == 1)
        save_f64s(w, m->last, d);
    if (m->chg) {
        mend_wbuf_u32(w, m->departed);
        save_pot(w, &m->gpot);
        int rc = mend_mvg_save(m->chg, w);
        if (rc != MEND_OK)
            return rc;
    }
    return w->failed ? MEND_ENOMEM : MEND_OK;
}

/* Reads n doubles; every value must be finite. */
static int load_f64s(struct mend_rbuf *r, double *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        a[i] = mend_rbuf_f64(r);
        if (!isfinite(a[i]))
            return MEND_ECORRUPT;
    }
    return r->failed ? MEND_ECORRUPT : MEND_OK;
}

/* The diagonal of a packed factor of order k must be positive. */
static int factor_ok(const double *L, size_t k)
{
    for (size_t a = 0; a < k; a++)
        if (!(L[tri(a) + a] > 0.0))
            return 0;
    return 1;
}

/* Reads a peaks-over-threshold state; refuses one that cannot be. */
static int load_pot(struct mend_rbuf *r, struct pot *p)
{
    if (load_f64s(r, &p->n, 1) != MEND_OK || load_f64s(r, &p->hits, 1) != MEND_OK ||
        load_f64s(r, &p->ex, 1) != MEND_OK || load_f64s(r, &p->run, 1) != MEND_OK)
        return MEND_ECORRUPT;
    if (!(p->n >= 0.0) || !(p->hits >= 0.0) || !(p->hits <= p->n + 1.0) || !(p->ex >= 0.0) ||
        !(p->run >= -1.0))
        return MEND_ECORRUPT;
    return MEND_OK;
}

/* Forgets what was learnt (statistics, factor, calibration), keeping the
 * last values seen: the model warms up again from the next row. */
static void reset_learnt(struct mend_mvg *m)
{
    size_t d = m->dim;
    m->n = 0;
    m->gen++;
    m->since_refit = 0;
    m->fac_state = FAC_NONE;
    m->lambda = 0.0;
    m->jitter = 0.0;
    m->q4 = 0.0;
    memset(m->mean, 0, (d + tri(d)) * sizeof(double));
    free(m->shr); /* unfitted again */
    m->shr = m->fac = NULL;
    m->pot.n = m->pot.hits = m->pot.ex = 0.0;
    m->pot.run = -1.0;
    m->gpot = m->pot;
    m->departed = 0;
}

int mend_mvg_load(struct mend_rbuf *r, const struct mend_mvg_conf *c, struct mend_mvg **out)
{
    if (!r || !out)
        return MEND_EINVAL;
    uint32_t tag = mend_rbuf_u32(r);
    uint32_t ver = mend_rbuf_u32(r);
    if (r->failed || tag != SAVE_TAG)
        return MEND_ECORRUPT;
    if (ver != SAVE_VERSION && ver != 3u)
        return MEND_EVERSION;
    uint64_t d64 = mend_rbuf_u64(r);
    if (r->failed || d64 < 1)
        return MEND_ECORRUPT;
    if (d64 > MEND_MVG_MAX_DIM_LIMIT)
        return MEND_ECAP;
    /* The stored body must fit before anything is allocated for it. */
    size_t d = (size_t)d64;
    size_t need = 8 + 4 + 4 + 8 + 8 + 8 * (d + tri(d) + 1);
    if (mend_rbuf_remaining(r) < need)
        return MEND_ECORRUPT;
    struct mend_mvg *m = NULL;
    int rc = mend_mvg_new(d, c, &m);
    if (rc != MEND_OK)
        return rc;
    rc = MEND_ECORRUPT;
    m->n = mend_rbuf_u64(r);
    m->since_refit = mend_rbuf_u32(r);
    m->fac_state = mend_rbuf_u32(r);
    m->lambda = mend_rbuf_f64(r);
    m->jitter = mend_rbuf_f64(r);
    if (r->failed || m->fac_state > FAC_FAILED || !(m->lambda >= 0.0 && m->lambda <= 1.0) ||
        !(m->jitter >= 0.0) || !isfinite(m->jitter))
        goto fail;
    if (load_f64s(r, m->mean, d) != MEND_OK || load_f64s(r, m->cov, tri(d)) != MEND_OK ||
        load_f64s(r, &m->q4, 1) != MEND_OK || m->q4 < 0.0)
        goto fail;
    for (size_t i = 0; i < d; i++)
        if (m->cov[tri(i) + i] < 0.0)
            goto fail;
    m->gen = mend_rbuf_u64(r);
    if (m->fac_state != FAC_NONE) {
        m->shr = malloc(2 * tri(d) * sizeof(double));
        if (!m->shr) {
            rc = MEND_ENOMEM;
            goto fail;
        }
        m->fac = m->shr + tri(d);
        if (load_f64s(r, m->shr, tri(d)) != MEND_OK)
            goto fail;
    }
    if (m->fac_state == FAC_OK &&
        (load_f64s(r, m->fac, tri(d)) != MEND_OK || !factor_ok(m->fac, d)))
        goto fail;
    if (ver >= 4u) {
        /* version 3 had no calibration: it starts from the prior */
        if (load_pot(r, &m->pot) != MEND_OK)
            goto fail;
        uint32_t changes = mend_rbuf_u32(r);
        if (r->failed || changes > 2)
            goto fail;
        for (size_t i = 0; changes == 1 && i < d; i++) {
            double v = mend_rbuf_f64(r); /* kept by a model of changes only */
            if (isinf(v))
                goto fail;
            if (m->last)
                m->last[i] = v;
        }
        if (r->failed)
            goto fail;
        if (changes == 2) {
            uint32_t dep = mend_rbuf_u32(r);
            struct pot gp;
            if (load_pot(r, &gp) != MEND_OK)
                goto fail;
            struct mend_mvg_conf cc;
            if (c)
                cc = *c;
            else
                mend_mvg_conf_defaults(&cc);
            cc.changes = 1;
            struct mend_mvg *child = NULL;
            if (r->failed || dep > 1)
                goto fail;
            int crc = mend_mvg_load(r, &cc, &child);
            if (crc != MEND_OK) {
                rc = crc;
                goto fail;
            }
            if (mend_mvg_dim(child) != d) {
                mend_mvg_free(child);
                goto fail;
            }
            if (m->chg) { /* configured gated too: it goes on */
                mend_mvg_free(m->chg);
                m->chg = child;
                m->departed = dep;
                m->gpot = gp;
            } else {
                mend_mvg_free(child);
            }
        }
        /* levels cannot seed a model of changes, nor back */
        if ((changes == 1) != (m->conf.changes == 1))
            reset_learnt(m);
    } else if (m->conf.changes == 1) {
        reset_learnt(m); /* version 3 only knew levels */
    }
    if (r->failed)
        goto fail;
    *out = m;
    return MEND_OK;
fail:
    mend_mvg_free(m);
    return rc;
}
