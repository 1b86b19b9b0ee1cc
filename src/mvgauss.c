/* mvgauss.c -- online multivariate Gaussian with shrinkage and a periodically
 * refreshed Cholesky factor (contract in mvgauss.h).
 *
 * Matrices are dim x dim row-major double arrays of which only the lower
 * triangle (j <= i) is maintained: GSL's Cholesky and triangular solves read
 * only that half, and it halves the update cost. Every buffer is allocated in
 * mend_mvg_new so that score/learn never touch the heap. */
#include "mend/mvgauss.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_blas.h>
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_vector.h>

#define SAVE_TAG 0x3147564du /* "MVG1" little-endian */
#define SAVE_VERSION 1u
/* Inputs beyond this are nonsense for a metric and would overflow the
 * fourth moments kept for the shrinkage estimate. */
#define MAX_ABS 1e75
#define JITTER_TRIES 6

enum { FAC_NONE = 0, FAC_OK = 1, FAC_FAILED = 2 };

struct mend_mvg {
    struct mend_mvg_conf conf;
    size_t dim;
    double alpha;          /* EW weight from the half-life; 0 = no forgetting */
    uint64_t n;            /* samples learnt */
    uint32_t since_refit;  /* samples learnt since the factor was computed */
    uint32_t fac_state;    /* FAC_* */
    double lambda;         /* shrinkage used by fac */
    double jitter;         /* diagonal jitter used by fac */
    double *mean;          /* dim */
    double *cov;           /* dim*dim, lower triangle: EW covariance C */
    double *q;             /* dim*dim, strict lower: EW second moment of the
                              per-sample cross products, for Var(C_ij) */
    double *fac;           /* dim*dim, lower: Cholesky factor of S */
    double *work;          /* dim*dim, allocated on the first row with a hole:
                              factor of a marginal (missing values),
                              cached for its pattern of observed dimensions
                              because rows with the same hole tend to repeat */
    size_t *widx;          /* dim: observed dimensions of the cached marginal */
    size_t wk;             /* their count; 0 = no cache */
    uint32_t wstate;       /* FAC_OK or FAC_FAILED for that pattern */
    uint32_t wage;         /* samples learnt since the marginal was factored */
    double *r;             /* dim: residual */
    double *z;             /* dim: solves */
    size_t *idx;           /* dim: observed dimensions */
};

void mend_mvg_conf_defaults(struct mend_mvg_conf *c)
{
    c->max_dim = MEND_MVG_MAX_DIM_DEFAULT;
    c->half_life = 1000.0;
    c->warmup = 100;
    c->refit_every = 32;
    c->shrinkage = -1.0;
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
    return MEND_OK;
}

void mend_mvg_free(struct mend_mvg *m)
{
    if (!m)
        return;
    free(m->mean);
    free(m->cov);
    free(m->q);
    free(m->fac);
    free(m->work);
    free(m->r);
    free(m->z);
    free(m->idx);
    free(m->widx);
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
    struct mend_mvg *m = calloc(1, sizeof *m);
    if (!m)
        return MEND_ENOMEM;
    m->conf = *c;
    m->dim = dim;
    m->alpha = isinf(c->half_life) ? 0.0 : -expm1(-M_LN2 / c->half_life);
    size_t dd = dim * dim; /* dim <= MEND_MVG_MAX_DIM_LIMIT: no overflow */
    m->mean = calloc(dim, sizeof *m->mean);
    m->cov = calloc(dd, sizeof *m->cov);
    m->q = calloc(dd, sizeof *m->q);
    m->fac = calloc(dd, sizeof *m->fac);
    m->r = calloc(dim, sizeof *m->r);
    m->z = calloc(dim, sizeof *m->z);
    m->idx = calloc(dim, sizeof *m->idx);
    m->widx = calloc(dim, sizeof *m->widx);
    if (!m->mean || !m->cov || !m->q || !m->fac || !m->r || !m->z || !m->idx ||
        !m->widx) {
        mend_mvg_free(m);
        return MEND_ENOMEM;
    }
    *out = m;
    return MEND_OK;
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
    double num = 0.0, den = 0.0;
    for (size_t i = 1; i < d; i++) {
        for (size_t j = 0; j < i; j++) {
            double c = m->cov[i * d + j];
            double v = m->q[i * d + j] - c * c;
            if (v > 0.0)
                num += v;
            den += c * c;
        }
    }
    if (!(den > 0.0))
        return 0.0; /* no off-diagonal mass: nothing to shrink */
    double l = num / (neff * den);
    if (!(l >= 0.0))
        return 1.0;
    return l > 1.0 ? 1.0 : l;
}

/* Builds the shrunk covariance over the k dimensions in idx into out (row
 * stride d, lower triangle) and factors it in place, adding jitter to the
 * diagonal while the factorisation fails. Returns MEND_OK or MEND_ERANGE. */
static int factor_into(const struct mend_mvg *m, double *out, const size_t *idx, size_t k,
                       double lambda, double *jitter_used)
{
    size_t d = m->dim;
    double base = 0.0;
    for (size_t a = 0; a < k; a++)
        base += m->cov[idx[a] * d + idx[a]];
    base /= (double)k;
    if (!(base > 0.0) || !isfinite(base))
        base = 1.0;
    gsl_matrix_view v = gsl_matrix_view_array_with_tda(out, k, k, d);
    for (int t = 0; t < JITTER_TRIES; t++) {
        double jit = t == 0 ? 0.0 : base * pow(10.0, -12.0 + 2.0 * t);
        for (size_t a = 0; a < k; a++) {
            size_t i = idx[a];
            for (size_t b = 0; b < a; b++) {
                size_t j = idx[b];
                size_t ii = i > j ? i : j, jj = i > j ? j : i;
                out[a * d + b] = (1.0 - lambda) * m->cov[ii * d + jj];
            }
            out[a * d + a] = m->cov[i * d + i] + jit;
        }
        if (gsl_linalg_cholesky_decomp1(&v.matrix) != GSL_SUCCESS)
            continue;
        int ok = 1;
        for (size_t a = 0; a < k && ok; a++) {
            double p = out[a * d + a];
            ok = p > 0.0 && isfinite(p);
        }
        if (ok) {
            *jitter_used = jit;
            return MEND_OK;
        }
    }
    return MEND_ERANGE;
}

static int refit(struct mend_mvg *m)
{
    for (size_t i = 0; i < m->dim; i++)
        m->idx[i] = i;
    m->since_refit = 0;
    m->lambda = shrink_lambda(m);
    int rc = factor_into(m, m->fac, m->idx, m->dim, m->lambda, &m->jitter);
    m->fac_state = rc == MEND_OK ? FAC_OK : FAC_FAILED;
    return rc;
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

/* Mahalanobis distance of r[0..k) under the factor L (row stride d); fills
 * share[0..k) with r_a (S^-1 r)_a when share is not NULL. Uses m->z. */
static double mahalanobis(struct mend_mvg *m, double *L, size_t k, const double *r,
                          double *share)
{
    size_t d = m->dim;
    gsl_matrix_view lv = gsl_matrix_view_array_with_tda(L, k, k, d);
    gsl_vector_view zv = gsl_vector_view_array(m->z, k);
    memcpy(m->z, r, k * sizeof *m->z);
    gsl_blas_dtrsv(CblasLower, CblasNoTrans, CblasNonUnit, &lv.matrix, &zv.vector);
    double d2 = 0.0;
    for (size_t a = 0; a < k; a++)
        d2 += m->z[a] * m->z[a];
    if (share) {
        gsl_blas_dtrsv(CblasLower, CblasTrans, CblasNonUnit, &lv.matrix, &zv.vector);
        for (size_t a = 0; a < k; a++)
            share[a] = r[a] * m->z[a];
    }
    return d2;
}

int mend_mvg_score(struct mend_mvg *m, const double *x, double *score, double *d2,
                   double *contrib)
{
    if (!m || !x)
        return MEND_EINVAL;
    size_t d = m->dim, k;
    put_zero(d, score, d2, contrib);
    if (check_input(x, d, &k) != MEND_OK)
        return MEND_ERANGE;
    if (m->n < warmup_of(m) || k == 0)
        return MEND_OK;

    double dist;
    if (k == d) {
        if (m->fac_state == FAC_NONE || m->since_refit >= m->conf.refit_every)
            refit(m);
        if (m->fac_state != FAC_OK)
            return MEND_ERANGE;
        for (size_t i = 0; i < d; i++)
            m->r[i] = x[i] - m->mean[i];
        dist = mahalanobis(m, m->fac, d, m->r, contrib);
    } else {
        /* Marginal over the observed dimensions: the sub-matrix of S. */
        k = 0;
        for (size_t i = 0; i < d; i++) {
            if (!isnan(x[i])) {
                m->idx[k] = i;
                m->r[k] = x[i] - m->mean[i];
                k++;
            }
        }
        int cached = m->wk == k && m->wage < m->conf.refit_every &&
                     memcmp(m->widx, m->idx, k * sizeof *m->idx) == 0;
        if (!cached) {
            /* the marginal's matrix is only needed once a row has a hole */
            if (!m->work && !(m->work = calloc(m->dim * m->dim, sizeof *m->work)))
                return MEND_ENOMEM;
            double lambda = m->fac_state == FAC_OK && m->since_refit < m->conf.refit_every
                                ? m->lambda
                                : shrink_lambda(m);
            double jit;
            int frc = factor_into(m, m->work, m->idx, k, lambda, &jit);
            memcpy(m->widx, m->idx, k * sizeof *m->idx);
            m->wk = k;
            m->wage = 0;
            m->wstate = frc == MEND_OK ? FAC_OK : FAC_FAILED;
        }
        if (m->wstate != FAC_OK)
            return MEND_ERANGE;
        /* contrib doubles as scratch for the k shares before scattering. */
        dist = mahalanobis(m, m->work, k, m->r, contrib);
        if (contrib) {
            for (size_t a = k; a-- > 0;) {
                double s = contrib[a];
                contrib[a] = 0.0;
                contrib[m->idx[a]] = s;
            }
        }
    }

    double p;
    if (!(dist < DBL_MAX)) { /* overflow or NaN from a degenerate factor */
        dist = DBL_MAX;
        p = 1.0;
        for (size_t i = 0; contrib && i < d; i++) {
            if (isnan(contrib[i]))
                contrib[i] = 0.0;
            else if (isinf(contrib[i]))
                contrib[i] = contrib[i] > 0 ? DBL_MAX : -DBL_MAX;
        }
    } else {
        p = gsl_cdf_chisq_P(dist, (double)k);
        if (!(p >= 0.0))
            p = 0.0;
        else if (p > 1.0)
            p = 1.0;
    }
    if (score)
        *score = p;
    if (d2)
        *d2 = dist;
    return MEND_OK;
}

int mend_mvg_learn(struct mend_mvg *m, const double *x)
{
    if (!m || !x)
        return MEND_EINVAL;
    size_t d = m->dim, k;
    if (check_input(x, d, &k) != MEND_OK)
        return MEND_ERANGE;
    m->n++;
    double a = 1.0 / (double)m->n;
    if (m->alpha > a)
        a = m->alpha;
    double keep = 1.0 - a;
    for (size_t i = 0; i < d; i++) {
        m->r[i] = isnan(x[i]) ? 0.0 : x[i] - m->mean[i];
        m->mean[i] += a * m->r[i];
    }
    /* C <- (1-a)(C + a r r') written as (1-a) C + a w with w = (1-a) r r'. */
    for (size_t i = 0; i < d; i++) {
        double *crow = m->cov + i * d, *qrow = m->q + i * d;
        double ri = keep * m->r[i];
        for (size_t j = 0; j < i; j++) {
            double w = ri * m->r[j];
            crow[j] = keep * crow[j] + a * w;
            qrow[j] = keep * qrow[j] + a * w * w;
        }
        crow[i] = keep * crow[i] + a * ri * m->r[i];
    }
    if (m->since_refit < UINT32_MAX)
        m->since_refit++;
    if (m->wage < UINT32_MAX)
        m->wage++;
    return MEND_OK;
}

int mend_mvg_step(struct mend_mvg *m, const double *x, double *score, double *d2,
                  double *contrib)
{
    int rc = mend_mvg_score(m, x, score, d2, contrib);
    if (rc != MEND_OK && rc != MEND_ERANGE)
        return rc;
    int lrc = mend_mvg_learn(m, x);
    return lrc != MEND_OK ? lrc : rc;
}

/* The lower triangle of the n x n matrix at a with row stride ld. */
static void save_lower(struct mend_wbuf *w, const double *a, size_t n, size_t ld, int strict)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < (strict ? i : i + 1); j++)
            mend_wbuf_f64(w, a[i * ld + j]);
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
    for (size_t i = 0; i < d; i++)
        mend_wbuf_f64(w, m->mean[i]);
    save_lower(w, m->cov, d, d, 0);
    save_lower(w, m->q, d, d, 1);
    if (m->fac_state == FAC_OK)
        save_lower(w, m->fac, d, d, 0);
    /* The cached marginal factor too, or a restored model would refactor
     * earlier than the original and drift from it in the last bits. */
    mend_wbuf_u32(w, (uint32_t)m->wk);
    mend_wbuf_u32(w, m->wstate);
    mend_wbuf_u32(w, m->wage);
    for (size_t a = 0; a < m->wk; a++)
        mend_wbuf_u32(w, (uint32_t)m->widx[a]);
    if (m->wk > 0 && m->wstate == FAC_OK)
        save_lower(w, m->work, m->wk, d, 0);
    return w->failed ? MEND_ENOMEM : MEND_OK;
}

/* Reads a lower triangle; every value must be finite. */
static int load_lower(struct mend_rbuf *r, double *a, size_t n, size_t ld, int strict)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < (strict ? i : i + 1); j++) {
            double v = mend_rbuf_f64(r);
            if (!isfinite(v))
                return MEND_ECORRUPT;
            a[i * ld + j] = v;
        }
    }
    return r->failed ? MEND_ECORRUPT : MEND_OK;
}

int mend_mvg_load(struct mend_rbuf *r, const struct mend_mvg_conf *c, struct mend_mvg **out)
{
    if (!r || !out)
        return MEND_EINVAL;
    uint32_t tag = mend_rbuf_u32(r);
    uint32_t ver = mend_rbuf_u32(r);
    if (r->failed || tag != SAVE_TAG)
        return MEND_ECORRUPT;
    if (ver != SAVE_VERSION)
        return MEND_EVERSION;
    uint64_t d64 = mend_rbuf_u64(r);
    if (r->failed || d64 < 1)
        return MEND_ECORRUPT;
    if (d64 > MEND_MVG_MAX_DIM_LIMIT)
        return MEND_ECAP;
    /* The stored body must fit before anything is allocated for it. */
    size_t d = (size_t)d64;
    size_t need = 8 + 4 + 4 + 8 + 8 + 8 * (d + d * (d + 1) / 2 + d * (d - 1) / 2);
    if (r->len - r->off < need)
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
    for (size_t i = 0; i < d; i++) {
        m->mean[i] = mend_rbuf_f64(r);
        if (!isfinite(m->mean[i]))
            goto fail;
    }
    if (load_lower(r, m->cov, d, d, 0) != MEND_OK || load_lower(r, m->q, d, d, 1) != MEND_OK)
        goto fail;
    for (size_t i = 0; i < d; i++)
        if (m->cov[i * d + i] < 0.0)
            goto fail;
    if (m->fac_state == FAC_OK) {
        if (load_lower(r, m->fac, d, d, 0) != MEND_OK)
            goto fail;
        for (size_t i = 0; i < d; i++)
            if (!(m->fac[i * d + i] > 0.0))
                goto fail;
    }
    uint32_t wk = mend_rbuf_u32(r);
    m->wstate = mend_rbuf_u32(r);
    m->wage = mend_rbuf_u32(r);
    if (r->failed || wk > d || (wk > 0 && m->wstate != FAC_OK && m->wstate != FAC_FAILED))
        goto fail;
    m->wk = wk;
    for (size_t a = 0; a < m->wk; a++) {
        uint32_t v = mend_rbuf_u32(r);
        if (v >= d || (a > 0 && v <= m->widx[a - 1]))
            goto fail;
        m->widx[a] = v;
    }
    if (m->wk > 0 && m->wstate == FAC_OK) {
        if (!m->work && !(m->work = calloc(d * d, sizeof *m->work)))
            goto fail;
        if (load_lower(r, m->work, m->wk, d, 0) != MEND_OK)
            goto fail;
        for (size_t a = 0; a < m->wk; a++)
            if (!(m->work[a * d + a] > 0.0))
                goto fail;
    }
    if (r->failed)
        goto fail;
    *out = m;
    return MEND_OK;
fail:
    mend_mvg_free(m);
    return rc;
}
