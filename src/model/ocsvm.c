/* ocsvm.c -- one-class SVM entity model: configuration, feature spec and
 * extraction, training through libsvm, calibration, and the scoring kernel
 * (contract in ocsvm.h; the checkpoint record and model directories are in
 * ocsvm_io.c).
 *
 * libsvm is used for training only. Its model is copied at once into one
 * contiguous allocation (scaler, support-vector matrix, coefficients) and
 * freed, so scoring walks plain arrays instead of libsvm's linked nodes, and
 * nothing of libsvm's (file I/O, locale changes) is needed after training. */
#include "mend/ocsvm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libsvm/svm.h>

#include "ocsvm_internal.h"

#define MEDIAN_PAIRS 4000u   /* pairs sampled for the median-distance heuristic */
#define CALIB_MAX 50000u     /* training vectors used for the calibration */
#define SVM_CACHE_MB 64.0    /* libsvm kernel cache per training */
#define HOLDOUT_EVERY 5u     /* validation: every 5th vector is held back */

/* ---- configuration ------------------------------------------------------ */

void mend_ocsvm_conf_defaults(struct mend_ocsvm_conf *c)
{
    memset(c, 0, sizeof *c);
    c->diffs = 1;
    c->lags = 0;
    c->missing = MEND_OCSVM_MISSING_IMPUTE;
    c->nu = 0.01;
    c->gamma = 0.0;
    c->max_train = 4000;
    c->select = 0;
    c->tol = 1e-3;
    c->seed = 1;
}

int mend_ocsvm_conf_check(const struct mend_ocsvm_conf *c, char *err, size_t errlen)
{
    if (c->diffs > 1) {
        mend_set_err(err, errlen, "ocsvm.diffs: 0 or 1");
        return MEND_EINVAL;
    }
    if (c->lags > MEND_OCSVM_MAX_LAGS) {
        mend_set_err(err, errlen, "ocsvm.lags: 0..%d", MEND_OCSVM_MAX_LAGS);
        return MEND_EINVAL;
    }
    if (c->missing != MEND_OCSVM_MISSING_IMPUTE && c->missing != MEND_OCSVM_MISSING_SKIP) {
        mend_set_err(err, errlen, "ocsvm.missing: impute or skip");
        return MEND_EINVAL;
    }
    if (!(c->nu > 0.0 && c->nu <= 1.0)) {
        mend_set_err(err, errlen, "ocsvm.nu: in (0, 1]");
        return MEND_EINVAL;
    }
    if (!(c->gamma >= 0.0 && c->gamma < 1e12)) {
        mend_set_err(err, errlen, "ocsvm.gamma: 0 (median heuristic) or a positive number");
        return MEND_EINVAL;
    }
    if (c->max_train < 2 || c->max_train > MEND_OCSVM_MAX_TRAIN) {
        mend_set_err(err, errlen, "ocsvm.max_train: 2..%d", MEND_OCSVM_MAX_TRAIN);
        return MEND_EINVAL;
    }
    if (c->select != 0 && c->select != 1) {
        mend_set_err(err, errlen, "ocsvm.select: true or false");
        return MEND_EINVAL;
    }
    if (!(c->tol >= 1e-9 && c->tol <= 1.0)) {
        mend_set_err(err, errlen, "ocsvm.tol: 1e-9..1");
        return MEND_EINVAL;
    }
    return MEND_OK;
}

static int parse_bool(const char *v, int *out)
{
    if (!strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes") || !strcmp(v, "on"))
        *out = 1;
    else if (!strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "no") || !strcmp(v, "off"))
        *out = 0;
    else
        return MEND_EINVAL;
    return MEND_OK;
}

int mend_ocsvm_conf_set(struct mend_ocsvm_conf *c, const char *key, const char *value,
                        char *err, size_t errlen)
{
    struct mend_ocsvm_conf t = *c;
    size_t vl = strlen(value);
    uint64_t u;
    double d;
    int ok = 1;

    if (!strcmp(key, "diffs")) {
        int b;
        ok = parse_bool(value, &b) == MEND_OK;
        t.diffs = (uint32_t)b;
    } else if (!strcmp(key, "lags")) {
        ok = mend_parse_u64(value, vl, &u) == MEND_OK && u <= MEND_OCSVM_MAX_LAGS;
        t.lags = (uint32_t)u;
    } else if (!strcmp(key, "missing")) {
        if (!strcmp(value, "impute"))
            t.missing = MEND_OCSVM_MISSING_IMPUTE;
        else if (!strcmp(value, "skip"))
            t.missing = MEND_OCSVM_MISSING_SKIP;
        else
            ok = 0;
    } else if (!strcmp(key, "nu")) {
        ok = mend_parse_f64(value, vl, 0, &d) == MEND_OK;
        t.nu = d;
    } else if (!strcmp(key, "gamma")) {
        ok = mend_parse_f64(value, vl, 0, &d) == MEND_OK;
        t.gamma = d;
    } else if (!strcmp(key, "max_train")) {
        ok = mend_parse_u64(value, vl, &u) == MEND_OK && u <= MEND_OCSVM_MAX_TRAIN;
        t.max_train = (uint32_t)u;
    } else if (!strcmp(key, "select")) {
        ok = parse_bool(value, &t.select) == MEND_OK;
    } else if (!strcmp(key, "tol")) {
        ok = mend_parse_f64(value, vl, 0, &d) == MEND_OK;
        t.tol = d;
    } else if (!strcmp(key, "seed")) {
        ok = mend_parse_u64(value, vl, &u) == MEND_OK;
        t.seed = u;
    } else {
        mend_set_err(err, errlen,
                "ocsvm.%s: unknown option (diffs, lags, missing, nu, gamma, max_train, select, "
                "tol, seed)",
                key);
        return MEND_EINVAL;
    }
    if (!ok) {
        mend_set_err(err, errlen, "ocsvm.%s: bad value '%s'", key, value);
        return MEND_EINVAL;
    }
    int rc = mend_ocsvm_conf_check(&t, err, errlen);
    if (rc)
        return rc;
    *c = t;
    return MEND_OK;
}

/* ---- feature spec ------------------------------------------------------- */

void mend_ocsvm_spec_fini(struct mend_ocsvm_spec *s)
{
    if (!s)
        return;
    if (s->names)
        for (uint32_t i = 0; i < s->n_series; i++)
            free(s->names[i]);
    free(s->names);
    memset(s, 0, sizeof *s);
}

int mend_ocsvm_spec_build(struct mend_ocsvm_spec *s, const char *const *names, const size_t *lens,
                          size_t n, uint32_t diffs, uint32_t lags, int missing)
{
    memset(s, 0, sizeof *s);
    if (n == 0 || diffs > 1 || lags > MEND_OCSVM_MAX_LAGS ||
        (missing != MEND_OCSVM_MISSING_IMPUTE && missing != MEND_OCSVM_MISSING_SKIP))
        return MEND_EINVAL;
    if (n > MEND_OCSVM_MAX_SERIES)
        return MEND_ECAP;
    for (size_t i = 0; i < n; i++) {
        size_t l = lens ? lens[i] : strlen(names[i]);
        if (l == 0 || memchr(names[i], '\n', l) || memchr(names[i], '\r', l) ||
            memchr(names[i], '\0', l))
            return MEND_EINVAL;
        if (l > MEND_OCSVM_MAX_NAME)
            return MEND_ECAP;
    }
    s->names = calloc(n, sizeof *s->names);
    if (!s->names)
        return MEND_ENOMEM;
    s->n_series = (uint32_t)n;
    for (size_t i = 0; i < n; i++) {
        size_t l = lens ? lens[i] : strlen(names[i]);
        s->names[i] = malloc(l + 1);
        if (!s->names[i]) {
            mend_ocsvm_spec_fini(s);
            return MEND_ENOMEM;
        }
        memcpy(s->names[i], names[i], l);
        s->names[i][l] = '\0';
    }
    s->diffs = diffs;
    s->lags = lags;
    s->missing = missing;
    return MEND_OK;
}

int mend_ocsvm_spec_init(struct mend_ocsvm_spec *s, const char *const *names, size_t n,
                         const struct mend_ocsvm_conf *c)
{
    return mend_ocsvm_spec_build(s, names, NULL, n, c->diffs, c->lags, c->missing);
}

int mend_ocsvm_spec_copy(struct mend_ocsvm_spec *dst, const struct mend_ocsvm_spec *src)
{
    return mend_ocsvm_spec_build(dst, (const char *const *)src->names, NULL, src->n_series,
                                 src->diffs, src->lags, src->missing);
}

size_t mend_ocsvm_spec_dim(const struct mend_ocsvm_spec *s)
{
    return (size_t)s->n_series * (1u + s->diffs + s->lags);
}

static const char *missing_name(int m)
{
    return m == MEND_OCSVM_MISSING_SKIP ? "skip" : "impute";
}

int mend_ocsvm_spec_compare(const struct mend_ocsvm_spec *have, const struct mend_ocsvm_spec *want,
                            char *err, size_t errlen)
{
    if (have->diffs != want->diffs) {
        mend_set_err(err, errlen, "diffs is %u in the model, %u configured", have->diffs, want->diffs);
        return MEND_EINVAL;
    }
    if (have->lags != want->lags) {
        mend_set_err(err, errlen, "lags is %u in the model, %u configured", have->lags, want->lags);
        return MEND_EINVAL;
    }
    if (have->missing != want->missing) {
        mend_set_err(err, errlen, "missing is %s in the model, %s configured",
                missing_name(have->missing), missing_name(want->missing));
        return MEND_EINVAL;
    }
    if (have->n_series != want->n_series) {
        mend_set_err(err, errlen, "the model has %u series, the data %u", have->n_series,
                want->n_series);
        return MEND_EINVAL;
    }
    for (uint32_t i = 0; i < have->n_series; i++)
        if (strcmp(have->names[i], want->names[i])) {
            mend_set_err(err, errlen, "series %u is '%.200s' in the model, '%.200s' in the data",
                    i + 1, have->names[i], want->names[i]);
            return MEND_EINVAL;
        }
    return MEND_OK;
}

/* ---- feature extraction ------------------------------------------------- */

struct mend_ocsvm_feat {
    struct mend_ocsvm_spec spec;
    uint32_t n, win;          /* series; history rows kept (max(diffs, lags)) */
    uint32_t filled, head;    /* history rows held; next slot */
    double *last;             /* n: last seen value per series (NaN = never) */
    double *hist;             /* win x n ring of past (imputed) rows */
    double *cur;              /* n: the row being pushed, after imputation */
    struct mend_ocsvm_feat_stats st;
};

int mend_ocsvm_feat_new(const struct mend_ocsvm_spec *spec, struct mend_ocsvm_feat **out)
{
    struct mend_ocsvm_feat *f = calloc(1, sizeof *f);
    if (!f)
        return MEND_ENOMEM;
    int rc = mend_ocsvm_spec_copy(&f->spec, spec);
    if (rc) {
        free(f);
        return rc;
    }
    f->n = spec->n_series;
    f->win = spec->lags > spec->diffs ? spec->lags : spec->diffs;
    size_t cnt = (size_t)f->n * (2u + f->win);
    f->last = malloc(cnt * sizeof(double));
    if (!f->last) {
        mend_ocsvm_feat_free(f);
        return MEND_ENOMEM;
    }
    f->cur = f->last + f->n;
    f->hist = f->cur + f->n;
    for (uint32_t i = 0; i < f->n; i++)
        f->last[i] = NAN;
    *out = f;
    return MEND_OK;
}

void mend_ocsvm_feat_free(struct mend_ocsvm_feat *f)
{
    if (!f)
        return;
    mend_ocsvm_spec_fini(&f->spec);
    free(f->last);
    free(f);
}

/* History row k steps back (1 = previous row). */
static const double *hist_row(const struct mend_ocsvm_feat *f, uint32_t k)
{
    uint32_t slot = (f->head + f->win - k) % f->win;
    return f->hist + (size_t)slot * f->n;
}

int mend_ocsvm_feat_push(struct mend_ocsvm_feat *f, const double *row, double *out)
{
    uint32_t n = f->n, missing = 0, seen = 0;
    f->st.rows++;
    for (uint32_t i = 0; i < n; i++) {
        if (isinf(row[i])) {
            f->st.skipped++;
            return MEND_ERANGE;
        }
        if (isnan(row[i]))
            missing++;
    }
    if (missing == n) {
        f->st.skipped++;
        return 0;
    }
    if (missing && f->spec.missing == MEND_OCSVM_MISSING_SKIP) {
        f->st.skipped++;
        return 0;
    }
    for (uint32_t i = 0; i < n; i++) {
        double v = row[i];
        if (isnan(v))
            v = f->last[i]; /* NaN still when never seen */
        else
            f->last[i] = v;
        f->cur[i] = v;
        seen += isnan(v) ? 0u : 1u;
    }
    if (seen < n) {
        /* A member never seen yet has nothing to impute from. */
        f->st.warming++;
        return 0;
    }
    if (missing)
        f->st.imputed += missing;
    int ready = f->filled >= f->win;
    if (ready) {
        size_t k = 0;
        for (uint32_t i = 0; i < n; i++) {
            double v = f->cur[i];
            out[k++] = v;
            if (f->spec.diffs)
                out[k++] = v - hist_row(f, 1)[i];
            for (uint32_t l = 1; l <= f->spec.lags; l++)
                out[k++] = hist_row(f, l)[i];
        }
        f->st.vectors++;
    } else {
        f->st.warming++;
    }
    if (f->win) {
        memcpy(f->hist + (size_t)f->head * n, f->cur, n * sizeof(double));
        f->head = (f->head + 1) % f->win;
        if (f->filled < f->win)
            f->filled++;
    }
    return ready;
}

int mend_ocsvm_feat_peek(const struct mend_ocsvm_feat *f, const double *row, double *cur,
                         double *out)
{
    /* push without the state change: the same checks and the same vector,
     * so a row scored by peek and then pushed gives what push alone gives */
    uint32_t n = f->n, missing = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (isinf(row[i]))
            return MEND_ERANGE;
        if (isnan(row[i]))
            missing++;
    }
    if (missing == n || (missing && f->spec.missing == MEND_OCSVM_MISSING_SKIP))
        return 0;
    for (uint32_t i = 0; i < n; i++) {
        cur[i] = isnan(row[i]) ? f->last[i] : row[i];
        if (isnan(cur[i]))
            return 0;
    }
    if (f->filled < f->win)
        return 0;
    size_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        out[k++] = cur[i];
        if (f->spec.diffs)
            out[k++] = cur[i] - hist_row(f, 1)[i];
        for (uint32_t l = 1; l <= f->spec.lags; l++)
            out[k++] = hist_row(f, l)[i];
    }
    return 1;
}

int mend_ocsvm_feat_carry(struct mend_ocsvm_feat *to, const struct mend_ocsvm_feat *from,
                          const uint32_t *map)
{
    if (to->win != from->win)
        return MEND_EINVAL;
    for (uint32_t i = 0; i < to->n; i++)
        if (map[i] != UINT32_MAX && map[i] >= from->n)
            return MEND_EINVAL;
    /* the ring is rewritten oldest first from slot 0, so both layouts agree
     * whatever from's head was */
    for (uint32_t i = 0; i < to->n; i++) {
        uint32_t j = map[i];
        to->last[i] = j == UINT32_MAX ? NAN : from->last[j];
        for (uint32_t k = 0; k < to->win; k++) {
            double v = NAN;
            if (j != UINT32_MAX && k < from->filled)
                v = hist_row(from, from->filled - k)[j];
            to->hist[(size_t)k * to->n + i] = v;
        }
    }
    to->filled = from->filled;
    to->head = to->win ? from->filled % to->win : 0;
    to->st = from->st;
    /* a series the old layout lacks has no history: start warming again */
    for (uint32_t i = 0; i < to->n; i++)
        if (map[i] == UINT32_MAX)
            to->filled = 0;
    return MEND_OK;
}

void mend_ocsvm_feat_stats(const struct mend_ocsvm_feat *f, struct mend_ocsvm_feat_stats *st)
{
    *st = f->st;
}

#define FEAT_TAG 0x3146434fu /* "OCF1" little-endian */
#define FEAT_VERSION 1u

int mend_ocsvm_feat_save(const struct mend_ocsvm_feat *f, struct mend_wbuf *w)
{
    mend_wbuf_u32(w, FEAT_TAG);
    mend_wbuf_u32(w, FEAT_VERSION);
    mend_wbuf_u32(w, f->n);
    mend_wbuf_u32(w, f->win);
    mend_wbuf_u32(w, f->filled);
    mend_wbuf_u32(w, f->head);
    for (size_t i = 0; i < (size_t)f->n * (1u + f->win); i++) /* last, then the ring */
        mend_wbuf_f64(w, i < f->n ? f->last[i] : f->hist[i - f->n]);
    mend_wbuf_u64(w, f->st.rows);
    mend_wbuf_u64(w, f->st.vectors);
    mend_wbuf_u64(w, f->st.imputed);
    mend_wbuf_u64(w, f->st.skipped);
    mend_wbuf_u64(w, f->st.warming);
    return w->failed ? MEND_ENOMEM : MEND_OK;
}

static void feat_reset(struct mend_ocsvm_feat *f)
{
    for (uint32_t i = 0; i < f->n; i++)
        f->last[i] = NAN;
    f->filled = f->head = 0;
    memset(&f->st, 0, sizeof f->st);
}

int mend_ocsvm_feat_load(struct mend_ocsvm_feat *f, struct mend_rbuf *r)
{
    int rc = MEND_ECORRUPT;
    if (mend_rbuf_u32(r) != FEAT_TAG || r->failed)
        goto bad;
    if (mend_rbuf_u32(r) != FEAT_VERSION) {
        rc = r->failed ? MEND_ECORRUPT : MEND_EVERSION;
        goto bad;
    }
    uint32_t n = mend_rbuf_u32(r), win = mend_rbuf_u32(r);
    uint32_t filled = mend_rbuf_u32(r), head = mend_rbuf_u32(r);
    if (r->failed || n != f->n || win != f->win || filled > win || (win && head >= win) ||
        (!win && head))
        goto bad;
    for (size_t i = 0; i < (size_t)n * (1u + win); i++) {
        double v = mend_rbuf_f64(r);
        if (i < n) {
            if (isinf(v)) /* NaN: never seen */
                goto bad;
            f->last[i] = v;
        } else {
            if (isinf(v))
                goto bad;
            f->hist[i - n] = v;
        }
    }
    f->filled = filled;
    f->head = head;
    f->st.rows = mend_rbuf_u64(r);
    f->st.vectors = mend_rbuf_u64(r);
    f->st.imputed = mend_rbuf_u64(r);
    f->st.skipped = mend_rbuf_u64(r);
    f->st.warming = mend_rbuf_u64(r);
    if (r->failed)
        goto bad;
    return MEND_OK;
bad:
    feat_reset(f);
    return rc;
}

/* ---- calibration -------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int mend_calib_fit(struct mend_calib *c, double *v, size_t n)
{
    if (n < 2)
        return MEND_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return MEND_EINVAL;
    qsort(v, n, sizeof *v, cmp_double);
    memset(c, 0, sizeof *c);
    c->nq = MEND_OCSVM_QUANTILES;
    c->n = n;
    for (uint32_t i = 0; i < c->nq; i++) {
        double pos = (double)i / (c->nq - 1) * (double)(n - 1);
        size_t lo = (size_t)pos;
        double fr = pos - (double)lo;
        c->q[i] = lo + 1 < n ? v[lo] + fr * (v[lo + 1] - v[lo]) : v[n - 1];
    }
    /* Exponential tail over the top 1% (peaks over threshold with the
     * maximum-likelihood scale of an exponential: the mean excess). */
    double pos = 0.99 * (double)(n - 1);
    size_t lo = (size_t)pos;
    c->tail_from = lo + 1 < n ? v[lo] + (pos - (double)lo) * (v[lo + 1] - v[lo]) : v[n - 1];
    double sum = 0.0;
    size_t k = 0;
    for (size_t i = lo; i < n; i++)
        if (v[i] > c->tail_from) {
            sum += v[i] - c->tail_from;
            k++;
        }
    double floor_scale = 1e-9 * (1.0 + fabs(c->tail_from));
    c->tail_scale = k ? sum / (double)k : floor_scale;
    if (!(c->tail_scale > floor_scale))
        c->tail_scale = floor_scale;
    return MEND_OK;
}

double mend_calib_tail(const struct mend_calib *c, double a)
{
    if (isnan(a))
        return 1.0;
    if (a > c->tail_from)
        return 0.01 * exp(-(a - c->tail_from) / c->tail_scale);
    if (a <= c->q[0])
        return 1.0;
    /* first quantile >= a */
    uint32_t lo = 0, hi = c->nq - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (c->q[mid] >= a)
            hi = mid;
        else
            lo = mid + 1;
    }
    double span = c->q[lo] - c->q[lo - 1];
    double fr = span > 0 ? (a - c->q[lo - 1]) / span : 1.0;
    double rank = ((double)(lo - 1) + fr) / (double)(c->nq - 1);
    double p = 1.0 - rank;
    return p < 0.01 ? 0.01 : p; /* the body ends where the tail starts */
}

double mend_calib_score(const struct mend_calib *c, double a)
{
    double p = mend_calib_tail(c, a);
    if (!(p > 1e-300))
        return 1.0;
    double s = -log10(p) / 10.0;
    return s < 0 ? 0.0 : s > 1 ? 1.0 : s;
}

/* ---- models ------------------------------------------------------------- */

int mend_ocsvm_alloc(struct mend_ocsvm **out, size_t dim, size_t n_sv)
{
    struct mend_ocsvm *m = calloc(1, sizeof *m);
    if (!m)
        return MEND_ENOMEM;
    if (dim == 0 || n_sv == 0 || n_sv > MEND_OCSVM_MAX_TRAIN || dim > SIZE_MAX / 16 / n_sv) {
        free(m);
        return MEND_EINVAL;
    }
    size_t cnt = 2 * dim + 2 * n_sv * dim + n_sv;
    m->mem = malloc(cnt * sizeof(double));
    if (!m->mem) {
        free(m);
        return MEND_ENOMEM;
    }
    m->dim = dim;
    m->n_sv = n_sv;
    m->mean = m->mem;
    m->inv_sd = m->mean + dim;
    m->sv = m->inv_sd + dim;
    m->coef = m->sv + n_sv * dim;
    m->svt = m->coef + n_sv;
    *out = m;
    return MEND_OK;
}

void mend_ocsvm_free(struct mend_ocsvm *m)
{
    if (!m)
        return;
    mend_ocsvm_spec_fini(&m->spec);
    free(m->mem);
    free(m);
}

const struct mend_ocsvm_spec *mend_ocsvm_spec(const struct mend_ocsvm *m) { return &m->spec; }
size_t mend_ocsvm_dim(const struct mend_ocsvm *m) { return m->dim; }
size_t mend_ocsvm_n_sv(const struct mend_ocsvm *m) { return m->n_sv; }
double mend_ocsvm_gamma(const struct mend_ocsvm *m) { return m->gamma; }
double mend_ocsvm_rho(const struct mend_ocsvm *m) { return m->rho; }
const double *mend_ocsvm_sv(const struct mend_ocsvm *m) { return m->sv; }
const double *mend_ocsvm_coef(const struct mend_ocsvm *m) { return m->coef; }
const char *mend_ocsvm_version(const struct mend_ocsvm *m) { return m->version; }

void mend_ocsvm_span(const struct mend_ocsvm *m, int64_t *t_first, int64_t *t_last,
                     uint64_t *n_train)
{
    if (t_first)
        *t_first = m->t_first;
    if (t_last)
        *t_last = m->t_last;
    if (n_train)
        *n_train = m->n_train;
}

size_t mend_ocsvm_scratch_len(const struct mend_ocsvm *m) { return m->dim + m->n_sv; }

void mend_ocsvm_transpose(struct mend_ocsvm *m)
{
    for (size_t s = 0; s < m->n_sv; s++)
        for (size_t j = 0; j < m->dim; j++)
            m->svt[j * m->n_sv + s] = m->sv[s * m->dim + j];
}

/* Squared distances from z to every support vector, sweeping the
 * feature-major copy: the inner loop runs over support vectors with
 * independent accumulators (a row-major sweep chains every add of one
 * distance) and, the pointers being restrict, compiles to packed SIMD. Four
 * support vectors per step so that even -O2's cheap vectoriser (which will
 * not add a remainder loop of its own) packs them. */
static void sq_dists(double *restrict d2, const double *restrict svt, const double *restrict z,
                     size_t dim, size_t nsv)
{
    size_t s4 = nsv & ~(size_t)3;
    for (size_t s = 0; s < nsv; s++)
        d2[s] = 0.0;
    for (size_t j = 0; j < dim; j++) {
        const double zj = z[j];
        const double *restrict col = svt + j * nsv;
        size_t s = 0;
        for (; s < s4; s += 4) {
            double t0 = zj - col[s], t1 = zj - col[s + 1];
            double t2 = zj - col[s + 2], t3 = zj - col[s + 3];
            d2[s] += t0 * t0;
            d2[s + 1] += t1 * t1;
            d2[s + 2] += t2 * t2;
            d2[s + 3] += t3 * t3;
        }
        for (; s < nsv; s++) {
            double t = zj - col[s];
            d2[s] += t * t;
        }
    }
}

/* The hot loop: the distance pass, then one pass of exp (kept apart so the
 * distance pass has no call in it). Each distance is summed over features in
 * order, exactly as a per-vector loop would, so the result does not depend on
 * the layout. */
double mend_ocsvm_decision_z(const struct mend_ocsvm *m, const double *z, double *scratch)
{
    const size_t nsv = m->n_sv;
    double *d2 = scratch;
    sq_dists(d2, m->svt, z, m->dim, nsv);
    const double g = m->gamma;
    const double *coef = m->coef;
    double sum = 0.0;
    for (size_t s = 0; s < nsv; s++)
        sum += coef[s] * exp(-g * d2[s]);
    return sum - m->rho;
}

void mend_ocsvm_standardise(const struct mend_ocsvm *m, const double *x, double *z)
{
    for (size_t j = 0; j < m->dim; j++)
        z[j] = (x[j] - m->mean[j]) * m->inv_sd[j];
}

int mend_ocsvm_score(const struct mend_ocsvm *m, const double *x, double *scratch,
                     double *decision, double *score)
{
    double *z = scratch;
    for (size_t j = 0; j < m->dim; j++) {
        if (!isfinite(x[j])) {
            if (decision)
                *decision = 0.0;
            if (score)
                *score = 0.0;
            return MEND_ERANGE;
        }
        z[j] = (x[j] - m->mean[j]) * m->inv_sd[j];
    }
    double f = mend_ocsvm_decision_z(m, z, scratch + m->dim);
    if (decision)
        *decision = f;
    if (score)
        *score = mend_calib_score(&m->calib, -f);
    return MEND_OK;
}

size_t mend_ocsvm_hold_back(double *X, size_t n, size_t dim, size_t every)
{
    if (every < 2)
        return n;
    double *tmp = malloc((n / every + 1) * dim * sizeof *tmp);
    if (!tmp)
        return n;
    size_t nt = 0, nh = 0;
    for (size_t i = 0; i < n; i++) {
        if (i % every == every - 1)
            memcpy(tmp + nh++ * dim, X + i * dim, dim * sizeof *X);
        else if (nt++ != i)
            memmove(X + (nt - 1) * dim, X + i * dim, dim * sizeof *X);
    }
    memcpy(X + nt * dim, tmp, nh * dim * sizeof *X);
    free(tmp);
    return nt;
}

int mend_ocsvm_recalibrate(struct mend_ocsvm *m, const double *H, size_t nh)
{
    if (nh < 2)
        return MEND_EINVAL;
    double *w = malloc((mend_ocsvm_scratch_len(m) + nh) * sizeof *w);
    if (!w)
        return MEND_ENOMEM;
    double *a = w + mend_ocsvm_scratch_len(m);
    for (size_t i = 0; i < nh; i++) {
        double dec = 0.0;
        if (mend_ocsvm_score(m, H + i * m->dim, w, &dec, NULL) != MEND_OK) {
            free(w);
            return MEND_EINVAL;
        }
        a[i] = -dec;
    }
    struct mend_calib c;
    int rc = mend_calib_fit(&c, a, nh);
    if (rc == MEND_OK) {
        /* The exponential tail's scale from the top 1% rests on a handful
         * of values here (a few hundred held back). An exponential tail has
         * the same mean excess over any threshold inside it, so the excess
         * over the 90th percentile estimates the scale from ten times as
         * many; the larger of the two is kept (the heavier tail: fewer false
         * alarms). a is sorted by mend_calib_fit. */
        size_t lo = (size_t)(0.9 * (double)(nh - 1));
        double sum = 0.0;
        size_t k = 0;
        for (size_t i = lo + 1; i < nh; i++) {
            sum += a[i] - a[lo];
            k++;
        }
        if (k && sum / (double)k > c.tail_scale)
            c.tail_scale = sum / (double)k;
        m->calib = c;
    }
    free(w);
    return rc;
}

double mend_ocsvm_tail(const struct mend_ocsvm *m, double decision)
{
    return mend_calib_tail(&m->calib, -decision);
}

double mend_ocsvm_calibrate(const struct mend_ocsvm *m, double decision)
{
    return mend_calib_score(&m->calib, -decision);
}

double mend_ocsvm_rank(const struct mend_ocsvm *m, double decision)
{
    return 1.0 - mend_calib_tail(&m->calib, -decision);
}

/* ---- training ----------------------------------------------------------- */

/* xorshift64*: a small deterministic generator, state on the caller's stack. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 2685821657736338717ULL;
}

static size_t rng_below(uint64_t *s, size_t n)
{
    return (size_t)(rng_next(s) % (uint64_t)n);
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

struct fit {
    size_t dim;
    const double *Z;       /* standardised vectors, row-major */
    const size_t *idx;     /* rows of Z to train on */
    size_t n;
};

/* Runs libsvm on the selected rows and copies the result into m's arrays
 * (allocated here with the scaler copied from mean/inv_sd). */
static int fit_one(const struct fit *ft, double nu, double gamma, double tol,
                   const double *mean, const double *inv_sd, struct mend_ocsvm **out,
                   char *err, size_t errlen)
{
    size_t dim = ft->dim, n = ft->n;
    struct svm_node *nodes = malloc(n * (dim + 1) * sizeof *nodes);
    struct svm_node **rows = malloc(n * sizeof *rows);
    double *y = malloc(n * sizeof *y);
    int rc = MEND_OK;
    struct svm_model *sm = NULL;
    if (!nodes || !rows || !y) {
        rc = MEND_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const double *z = ft->Z + ft->idx[i] * dim;
        struct svm_node *r = nodes + i * (dim + 1);
        for (size_t j = 0; j < dim; j++) {
            r[j].index = (int)(j + 1);
            r[j].value = z[j];
        }
        r[dim].index = -1;
        r[dim].value = 0.0;
        rows[i] = r;
        y[i] = 1.0;
    }
    struct svm_problem prob = {.l = (int)n, .y = y, .x = rows};
    struct svm_parameter par;
    memset(&par, 0, sizeof par);
    par.svm_type = ONE_CLASS;
    par.kernel_type = RBF;
    par.gamma = gamma;
    par.nu = nu;
    par.cache_size = SVM_CACHE_MB;
    par.eps = tol;
    par.C = 1.0;
    par.shrinking = 1;
    par.probability = 0;
    const char *why = svm_check_parameter(&prob, &par);
    if (why) {
        mend_set_err(err, errlen, "libsvm refused the parameters: %s", why);
        rc = MEND_EINVAL;
        goto out;
    }
    sm = svm_train(&prob, &par);
    if (!sm || sm->l <= 0 || !sm->sv_coef || !sm->rho || !isfinite(sm->rho[0])) {
        mend_set_err(err, errlen, "libsvm produced no usable model");
        rc = MEND_ERANGE;
        goto out;
    }
    struct mend_ocsvm *m = NULL;
    rc = mend_ocsvm_alloc(&m, dim, (size_t)sm->l);
    if (rc)
        goto out;
    memcpy(m->mean, mean, dim * sizeof(double));
    memcpy(m->inv_sd, inv_sd, dim * sizeof(double));
    for (size_t s = 0; s < (size_t)sm->l; s++) {
        double *v = m->sv + s * dim;
        memset(v, 0, dim * sizeof(double));
        for (const struct svm_node *p = sm->SV[s]; p->index != -1; p++)
            if (p->index >= 1 && (size_t)p->index <= dim)
                v[p->index - 1] = p->value;
        m->coef[s] = sm->sv_coef[0][s];
    }
    mend_ocsvm_transpose(m);
    m->rho = sm->rho[0];
    m->gamma = gamma;
    m->nu = nu;
    *out = m;
out:
    if (sm)
        svm_free_and_destroy_model(&sm); /* SV rows point into nodes: free it after */
    free(nodes);
    free(rows);
    free(y);
    return rc;
}

/* Share of the rows idx[0..n) the model rejects (decision < 0). */
static double reject_rate(const struct mend_ocsvm *m, const double *Z, const size_t *idx, size_t n,
                          double *scratch)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += mend_ocsvm_decision_z(m, Z + idx[i] * m->dim, scratch) < 0.0;
    return n ? (double)bad / (double)n : 0.0;
}

int mend_ocsvm_train(const struct mend_ocsvm_conf *c, const struct mend_ocsvm_spec *spec,
                     const double *X, size_t n, int64_t t_first, int64_t t_last,
                     const char *version, mend_ocsvm_progress_fn progress, void *pctx,
                     struct mend_ocsvm **out, struct mend_ocsvm_train_info *info, char *err,
                     size_t errlen)
{
    int rc = mend_ocsvm_conf_check(c, err, errlen);
    if (rc)
        return rc;
    size_t dim = mend_ocsvm_spec_dim(spec);
    if (n < 2) {
        mend_set_err(err, errlen, "training needs at least 2 feature vectors, got %zu", n);
        return MEND_EINVAL;
    }
    if (dim == 0 || n > SIZE_MAX / sizeof(double) / dim) {
        mend_set_err(err, errlen, "bad feature dimension");
        return MEND_EINVAL;
    }
    for (size_t i = 0; i < n * dim; i++)
        if (!isfinite(X[i])) {
            mend_set_err(err, errlen, "training vector %zu has a non-finite feature", i / dim + 1);
            return MEND_EINVAL;
        }

    double *mean = calloc(2 * dim, sizeof(double));
    double *Z = malloc(n * dim * sizeof(double));
    size_t *idx = malloc(n * sizeof(size_t));
    size_t ncal = n < CALIB_MAX ? n : CALIB_MAX;
    double *work = malloc((ncal > MEDIAN_PAIRS ? ncal : MEDIAN_PAIRS) * sizeof(double));
    struct mend_ocsvm *m = NULL, *cand = NULL;
    double *scratch = NULL;
    if (!mean || !Z || !idx || !work) {
        rc = MEND_ENOMEM;
        goto out;
    }
    double *inv_sd = mean + dim;
    if (progress)
        progress(pctx, "scaling", 0.0);
    /* Scaler: mean and standard deviation of every feature over all of X
     * (two passes, for accuracy). A constant feature gets unit spread. */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < dim; j++)
            mean[j] += X[i * dim + j];
    for (size_t j = 0; j < dim; j++)
        mean[j] /= (double)n;
    for (size_t j = 0; j < dim; j++)
        inv_sd[j] = 0.0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < dim; j++) {
            double t = X[i * dim + j] - mean[j];
            inv_sd[j] += t * t;
        }
    for (size_t j = 0; j < dim; j++) {
        double sd = sqrt(inv_sd[j] / (double)(n - 1));
        inv_sd[j] = sd > 1e-12 * (1.0 + fabs(mean[j])) ? 1.0 / sd : 1.0;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < dim; j++)
            Z[i * dim + j] = (X[i * dim + j] - mean[j]) * inv_sd[j];

    /* The cap: a uniform random subset (partial Fisher-Yates), kept in time
     * order so the holdout below is spread over the span. */
    uint64_t seed = c->seed ? c->seed : 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    size_t used = n < c->max_train ? n : c->max_train;
    if (used < n) {
        for (size_t i = 0; i < used; i++) {
            size_t k = i + rng_below(&seed, n - i);
            size_t t = idx[i];
            idx[i] = idx[k];
            idx[k] = t;
        }
        qsort(idx, used, sizeof *idx, cmp_size);
    }

    /* gamma: 1 / median squared distance between random pairs of the used
     * vectors (the median heuristic; the kernel then neither saturates nor
     * flattens on typical pairs). */
    double gamma = c->gamma;
    if (!(gamma > 0)) {
        size_t np = MEDIAN_PAIRS;
        for (size_t p = 0; p < np; p++) {
            const double *a = Z + idx[rng_below(&seed, used)] * dim;
            const double *b = Z + idx[rng_below(&seed, used)] * dim;
            double d = 0.0;
            for (size_t j = 0; j < dim; j++)
                d += (a[j] - b[j]) * (a[j] - b[j]);
            work[p] = d;
        }
        qsort(work, np, sizeof *work, cmp_double);
        double med = work[np / 2];
        gamma = med > 0 ? 1.0 / med : 1.0 / (double)dim;
    }
    double nu = c->nu;
    double holdout = -1.0;

    if (c->select && used >= 10 * HOLDOUT_EVERY) {
        /* Validation: hold back every 5th used vector. For each gamma from the
         * tightest down, train on the rest and measure how much held-back
         * normal data is rejected; a model that generalises rejects about a
         * nu share. Keep the tightest gamma within a binomial 3-sigma band of
         * nu (tight boundaries find more; loose ones only miss). */
        static const double factors[] = {8.0, 4.0, 2.0, 1.0, 0.5, 0.25};
        size_t nf = sizeof factors / sizeof factors[0];
        size_t nh = used / HOLDOUT_EVERY, nt = used - nh;
        size_t *tidx = malloc(used * sizeof *tidx);
        if (!tidx) {
            rc = MEND_ENOMEM;
            goto out;
        }
        size_t *hidx = tidx + nt;
        for (size_t i = 0, a = 0, b = 0; i < used; i++) {
            if (i % HOLDOUT_EVERY == HOLDOUT_EVERY - 1 && b < nh)
                hidx[b++] = idx[i];
            else if (a < nt)
                tidx[a++] = idx[i];
        }
        double band = nu + 3.0 * sqrt(nu * (1.0 - nu) / (double)nh);
        double chosen = gamma * factors[nf - 1];
        for (size_t f = 0; f < nf; f++) {
            double g = gamma * factors[f];
            if (progress)
                progress(pctx, "validating gamma", (double)f / (double)(nf + 1));
            struct fit ft = {dim, Z, tidx, nt};
            rc = fit_one(&ft, nu, g, c->tol, mean, inv_sd, &cand, err, errlen);
            if (rc) {
                free(tidx);
                goto out;
            }
            free(scratch);
            scratch = malloc(mend_ocsvm_scratch_len(cand) * sizeof(double));
            if (!scratch) {
                free(tidx);
                rc = MEND_ENOMEM;
                goto out;
            }
            double r = reject_rate(cand, Z, hidx, nh, scratch);
            mend_ocsvm_free(cand);
            cand = NULL;
            if (r <= band) {
                chosen = g;
                holdout = r;
                break;
            }
            holdout = r;
        }
        free(tidx);
        gamma = chosen;
    }

    if (progress)
        progress(pctx, "training", c->select ? 0.85 : 0.1);
    struct fit ft = {dim, Z, idx, used};
    rc = fit_one(&ft, nu, gamma, c->tol, mean, inv_sd, &m, err, errlen);
    if (rc)
        goto out;
    rc = mend_ocsvm_spec_copy(&m->spec, spec);
    if (rc)
        goto out;
    if (m->spec.n_series && mend_ocsvm_spec_dim(&m->spec) != dim) {
        rc = MEND_EINVAL;
        goto out;
    }

    /* Calibration on the decision values of the training vectors (all of
     * them, up to CALIB_MAX evenly spaced). */
    if (progress)
        progress(pctx, "calibrating", 0.95);
    free(scratch);
    scratch = malloc(mend_ocsvm_scratch_len(m) * sizeof(double));
    if (!scratch) {
        rc = MEND_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < ncal; i++) {
        size_t r = (size_t)((double)i * (double)n / (double)ncal);
        work[i] = -mend_ocsvm_decision_z(m, Z + r * dim, scratch);
    }
    rc = mend_calib_fit(&m->calib, work, ncal);
    if (rc) {
        mend_set_err(err, errlen, "calibration failed (non-finite decision values)");
        rc = MEND_ERANGE;
        goto out;
    }
    m->t_first = t_first;
    m->t_last = t_last;
    m->n_train = n;
    snprintf(m->version, sizeof m->version, "%s", version ? version : "");
    if (info) {
        info->n_in = n;
        info->n_used = used;
        info->nu = nu;
        info->gamma = gamma;
        info->n_sv = (uint32_t)m->n_sv;
        info->holdout_reject = holdout;
    }
    if (progress)
        progress(pctx, "done", 1.0);
    *out = m;
    m = NULL;
out:
    if (rc == MEND_ENOMEM)
        mend_set_err(err, errlen, "out of memory while training");
    mend_ocsvm_free(m);
    mend_ocsvm_free(cand);
    free(scratch);
    free(mean);
    free(Z);
    free(idx);
    free(work);
    return rc;
}
