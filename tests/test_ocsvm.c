/* test_ocsvm.c -- one-class SVM model: configuration, feature extraction
 * (layout, missing values), training (the nu property, the cap, validation),
 * calibration (training ranks uniform on [0,1], scores on the tail scale),
 * bit-identical save/load through checkpoint records and model directories,
 * clear refusals of mismatched and damaged models (also every truncation of
 * a record), training on a worker thread while the main thread scores the
 * live model (run under ThreadSanitizer by `make tsan`), and the two
 * commands, `mend score --train` and `mend train`, end to end ($MEND_BIN). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libsvm/svm.h>

#include "mend/common.h"
#include "mend/ocsvm.h"

#define FIX "tests/fixtures/ocsvm"

/* Deterministic normal deviates (xorshift + Box-Muller). */
struct rng {
    uint64_t s;
};
static double unif(struct rng *r)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return ((double)(r->s >> 11) + 0.5) / 9007199254740992.0;
}
static double gauss(struct rng *r)
{
    return sqrt(-2.0 * log(unif(r))) * cos(6.283185307179586 * unif(r));
}

/* n rows of 3 correlated series with a slow cycle: the "normal" entity. */
static double *make_rows(size_t n, uint64_t seed)
{
    struct rng r = {seed};
    double *v = malloc(n * 3 * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        double base = sin((double)i / 30.0);
        v[i * 3] = 10 + base + 0.1 * gauss(&r);
        v[i * 3 + 1] = 5 + 0.8 * base + 0.1 * gauss(&r);
        v[i * 3 + 2] = 1 + 0.2 * gauss(&r);
    }
    return v;
}

static const char *const NAMES[] = {"cpu,host=a usage", "mem,host=a used", "net,host=a err"};

/* Rows -> feature matrix through the extractor; returns the vector count. */
static size_t features(const struct mend_ocsvm_spec *spec, const double *rows, size_t n,
                       double **X)
{
    struct mend_ocsvm_feat *f = NULL;
    size_t dim = mend_ocsvm_spec_dim(spec), nx = 0;
    assert_int_equal(mend_ocsvm_feat_new(spec, &f), MEND_OK);
    *X = malloc(n * dim * sizeof **X);
    for (size_t i = 0; i < n; i++)
        if (mend_ocsvm_feat_push(f, rows + i * spec->n_series, *X + nx * dim) == 1)
            nx++;
    mend_ocsvm_feat_free(f);
    return nx;
}

static struct mend_ocsvm *train(const struct mend_ocsvm_conf *c, size_t n, uint64_t seed,
                                struct mend_ocsvm_train_info *info, double **Xout, size_t *nxout)
{
    struct mend_ocsvm_spec spec;
    char err[256] = "";
    double *rows = make_rows(n, seed), *X;
    struct mend_ocsvm *m = NULL;
    assert_int_equal(mend_ocsvm_spec_init(&spec, NAMES, 3, c), MEND_OK);
    size_t nx = features(&spec, rows, n, &X);
    int rc = mend_ocsvm_train(c, &spec, X, nx, 1000, 2000, "test", NULL, NULL, &m, info, err,
                              sizeof err);
    if (rc)
        print_error("train: %s\n", err);
    assert_int_equal(rc, MEND_OK);
    mend_ocsvm_spec_fini(&spec);
    free(rows);
    if (Xout) {
        *Xout = X;
        *nxout = nx;
    } else {
        free(X);
    }
    return m;
}

static double decision(const struct mend_ocsvm *m, const double *x)
{
    double *scratch = malloc(mend_ocsvm_scratch_len(m) * sizeof *scratch), d = NAN;
    assert_int_equal(mend_ocsvm_score(m, x, scratch, &d, NULL), MEND_OK);
    free(scratch);
    return d;
}

static void test_conf(void **state)
{
    (void)state;
    struct mend_ocsvm_conf c;
    char err[256];
    mend_ocsvm_conf_defaults(&c);
    assert_int_equal(mend_ocsvm_conf_check(&c, err, sizeof err), MEND_OK);
    assert_int_equal(c.diffs, 1);
    assert_int_equal(mend_ocsvm_conf_set(&c, "lags", "3", err, sizeof err), MEND_OK);
    assert_int_equal(c.lags, 3);
    assert_int_equal(mend_ocsvm_conf_set(&c, "lags", "17", err, sizeof err), MEND_EINVAL);
    assert_non_null(strstr(err, "ocsvm.lags"));
    assert_int_equal(c.lags, 3); /* unchanged on error */
    assert_int_equal(mend_ocsvm_conf_set(&c, "nu", "0", err, sizeof err), MEND_EINVAL);
    assert_int_equal(mend_ocsvm_conf_set(&c, "nu", "nan", err, sizeof err), MEND_EINVAL);
    assert_int_equal(mend_ocsvm_conf_set(&c, "missing", "skip", err, sizeof err), MEND_OK);
    assert_int_equal(c.missing, MEND_OCSVM_MISSING_SKIP);
    assert_int_equal(mend_ocsvm_conf_set(&c, "max_train", "100001", err, sizeof err),
                     MEND_EINVAL);
    assert_int_equal(mend_ocsvm_conf_set(&c, "select", "yes", err, sizeof err), MEND_OK);
    assert_int_equal(mend_ocsvm_conf_set(&c, "bogus", "1", err, sizeof err), MEND_EINVAL);
    assert_non_null(strstr(err, "unknown"));
}

static void test_features(void **state)
{
    (void)state;
    struct mend_ocsvm_conf c;
    struct mend_ocsvm_spec spec;
    struct mend_ocsvm_feat *f = NULL;
    struct mend_ocsvm_feat_stats st;
    double out[8];
    mend_ocsvm_conf_defaults(&c);
    c.diffs = 1;
    c.lags = 2;
    const char *names[] = {"a", "b"};
    assert_int_equal(mend_ocsvm_spec_init(&spec, names, 2, &c), MEND_OK);
    assert_int_equal(mend_ocsvm_spec_dim(&spec), 8);
    assert_int_equal(mend_ocsvm_feat_new(&spec, &f), MEND_OK);
    double r1[] = {1, 10}, r2[] = {2, 20}, r3[] = {4, NAN}, r4[] = {INFINITY, 1};
    assert_int_equal(mend_ocsvm_feat_push(f, r1, out), 0); /* history not full */
    assert_int_equal(mend_ocsvm_feat_push(f, r2, out), 0);
    assert_int_equal(mend_ocsvm_feat_push(f, r3, out), 1);
    /* a: value, diff, lag1, lag2; then b (imputed with its last value 20) */
    double want[] = {4, 2, 2, 1, 20, 0, 20, 10};
    for (int i = 0; i < 8; i++)
        assert_true(out[i] == want[i]);
    assert_int_equal(mend_ocsvm_feat_push(f, r4, out), MEND_ERANGE);
    mend_ocsvm_feat_stats(f, &st);
    assert_int_equal(st.rows, 4);
    assert_int_equal(st.vectors, 1);
    assert_int_equal(st.imputed, 1);
    assert_int_equal(st.skipped, 1);
    assert_int_equal(st.warming, 2);
    mend_ocsvm_feat_free(f);
    mend_ocsvm_spec_fini(&spec);

    /* skip mode: a row with a hole gives nothing, and is counted */
    c.missing = MEND_OCSVM_MISSING_SKIP;
    c.lags = 0;
    assert_int_equal(mend_ocsvm_spec_init(&spec, names, 2, &c), MEND_OK);
    assert_int_equal(mend_ocsvm_feat_new(&spec, &f), MEND_OK);
    assert_int_equal(mend_ocsvm_feat_push(f, r1, out), 0);
    assert_int_equal(mend_ocsvm_feat_push(f, r3, out), 0);
    assert_int_equal(mend_ocsvm_feat_push(f, r2, out), 1);
    assert_true(out[0] == 2 && out[1] == 1 && out[2] == 20 && out[3] == 10);
    mend_ocsvm_feat_stats(f, &st);
    assert_int_equal(st.skipped, 1);
    assert_int_equal(st.imputed, 0);
    mend_ocsvm_feat_free(f);
    mend_ocsvm_spec_fini(&spec);

    /* caps and bad names */
    const char *bad[] = {"a", "x\ny"};
    assert_int_equal(mend_ocsvm_spec_init(&spec, bad, 2, &c), MEND_EINVAL);
    assert_int_equal(mend_ocsvm_spec_init(&spec, names, 0, &c), MEND_EINVAL);
}

/* An extractor saved mid-stream and restored into a fresh one continues with
 * the same vectors; a damaged record leaves a fresh extractor. */
static void test_features_save_load(void **state)
{
    (void)state;
    struct mend_ocsvm_conf c;
    struct mend_ocsvm_spec spec;
    struct mend_ocsvm_feat *a = NULL, *b = NULL;
    struct mend_wbuf w;
    struct mend_rbuf r;
    double oa[12], ob[12]; /* 3 series x (value, diff, 2 lags) */
    mend_ocsvm_conf_defaults(&c);
    c.lags = 2;
    assert_int_equal(mend_ocsvm_spec_init(&spec, NAMES, 3, &c), MEND_OK);
    double *rows = make_rows(20, 4);
    rows[3 * 5 + 1] = NAN;
    assert_int_equal(mend_ocsvm_feat_new(&spec, &a), MEND_OK);
    assert_int_equal(mend_ocsvm_feat_new(&spec, &b), MEND_OK);
    for (int i = 0; i < 7; i++)
        mend_ocsvm_feat_push(a, rows + 3 * i, oa);
    mend_wbuf_init(&w);
    assert_int_equal(mend_ocsvm_feat_save(a, &w), MEND_OK);
    mend_rbuf_init(&r, w.data, w.len);
    assert_int_equal(mend_ocsvm_feat_load(b, &r), MEND_OK);
    for (int i = 7; i < 20; i++) {
        int ra = mend_ocsvm_feat_push(a, rows + 3 * i, oa);
        assert_int_equal(ra, 1);
        assert_int_equal(mend_ocsvm_feat_push(b, rows + 3 * i, ob), ra);
        assert_memory_equal(oa, ob, sizeof oa);
    }
    struct mend_ocsvm_feat_stats sa, sb;
    mend_ocsvm_feat_stats(a, &sa);
    mend_ocsvm_feat_stats(b, &sb);
    assert_memory_equal(&sa, &sb, sizeof sa);
    assert_int_equal(sa.imputed, 1);
    mend_rbuf_init(&r, w.data, w.len - 1);
    assert_int_equal(mend_ocsvm_feat_load(b, &r), MEND_ECORRUPT);
    mend_ocsvm_feat_stats(b, &sb);
    assert_int_equal(sb.rows, 0);
    assert_int_equal(mend_ocsvm_feat_push(b, rows, ob), 0); /* fresh: warming up again */
    mend_wbuf_fini(&w);
    free(rows);
    mend_ocsvm_feat_free(a);
    mend_ocsvm_feat_free(b);
    mend_ocsvm_spec_fini(&spec);
}

/* The nu property of a one-class SVM: the share of training vectors outside
 * the boundary is at most about nu, the share of support vectors at least
 * nu; and a far point is judged worse than every training point. */
static void test_train_and_score(void **state)
{
    (void)state;
    struct mend_ocsvm_conf c;
    struct mend_ocsvm_train_info info;
    double *X;
    size_t nx;
    mend_ocsvm_conf_defaults(&c);
    c.nu = 0.05;
    struct mend_ocsvm *m = train(&c, 1500, 7, &info, &X, &nx);
    size_t dim = mend_ocsvm_dim(m);
    assert_int_equal(dim, 6);
    assert_int_equal(info.n_in, nx);
    assert_int_equal(info.n_used, nx);
    assert_true(info.gamma > 0);
    assert_true((double)info.n_sv >= c.nu * (double)nx - 1);
    size_t out = 0;
    double worst = INFINITY;
    for (size_t i = 0; i < nx; i++) {
        double d = decision(m, X + i * dim);
        out += d < 0;
        worst = d < worst ? d : worst;
    }
    assert_true((double)out <= (c.nu + 0.02) * (double)nx);
    double far[6] = {14, 0, 14, 9, 0, 9};
    double scratch[4096], d, s;
    assert_true(mend_ocsvm_scratch_len(m) <= 4096);
    assert_int_equal(mend_ocsvm_score(m, far, scratch, &d, &s), MEND_OK);
    assert_true(d < worst);
    assert_true(s > 0.5 && s <= 1.0);
    double nan6[6] = {NAN, 0, 0, 0, 0, 0};
    assert_int_equal(mend_ocsvm_score(m, nan6, scratch, &d, &s), MEND_ERANGE);
    assert_true(s == 0.0);

    /* too little data, non-finite data: clear errors */
    struct mend_ocsvm_spec spec;
    struct mend_ocsvm *bad = NULL;
    char err[256] = "";
    assert_int_equal(mend_ocsvm_spec_init(&spec, NAMES, 3, &c), MEND_OK);
    assert_int_equal(mend_ocsvm_train(&c, &spec, X, 1, 0, 0, "t", NULL, NULL, &bad, NULL, err,
                                      sizeof err),
                     MEND_EINVAL);
    assert_non_null(strstr(err, "at least 2"));
    X[7] = NAN;
    assert_int_equal(mend_ocsvm_train(&c, &spec, X, nx, 0, 0, "t", NULL, NULL, &bad, NULL, err,
                                      sizeof err),
                     MEND_EINVAL);
    assert_non_null(strstr(err, "vector 2"));
    assert_null(bad);
    mend_ocsvm_spec_fini(&spec);
    free(X);
    mend_ocsvm_free(m);
}

/* The cap bounds what libsvm sees; validation picks a gamma and reports the
 * held-back rejection rate. */
static void test_cap_and_select(void **state)
{
    (void)state;
    struct mend_ocsvm_conf c;
    struct mend_ocsvm_train_info info;
    mend_ocsvm_conf_defaults(&c);
    c.max_train = 300;
    struct mend_ocsvm *m = train(&c, 2000, 3, &info, NULL, NULL);
    assert_int_equal(info.n_in, 1999);
    assert_int_equal(info.n_used, 300);
    assert_true(mend_ocsvm_n_sv(m) <= 300);
    assert_true(info.holdout_reject < 0);
    uint64_t n_train;
    mend_ocsvm_span(m, NULL, NULL, &n_train);
    assert_int_equal(n_train, 1999);
    mend_ocsvm_free(m);

    c.select = 1;
    c.max_train = 1000;
    c.nu = 0.05;
    m = train(&c, 1200, 3, &info, NULL, NULL);
    assert_true(info.holdout_reject >= 0 && info.holdout_reject <= 1);
    assert_true(info.gamma > 0);
    assert_true(mend_ocsvm_gamma(m) == info.gamma);
    mend_ocsvm_free(m);
}

/* Training ranks are uniform over [0,1]; scores follow the tail scale
 * P(score >= s) = 10^(-10 s) on the training data. */
static void test_calibration(void **state)
{
    (void)state;
    struct mend_ocsvm_conf c;
    double *X;
    size_t nx;
    mend_ocsvm_conf_defaults(&c);
    c.nu = 0.05;
    struct mend_ocsvm *m = train(&c, 4000, 11, NULL, &X, &nx);
    size_t dim = mend_ocsvm_dim(m);
    size_t dec[10] = {0}, ge1 = 0, ge2 = 0;
    double lo = 1, hi = 0;
    for (size_t i = 0; i < nx; i++) {
        double d = decision(m, X + i * dim);
        double r = mend_ocsvm_rank(m, d), s = mend_ocsvm_calibrate(m, d);
        assert_true(r >= 0 && r <= 1 && s >= 0 && s <= 1);
        dec[r >= 1 ? 9 : (size_t)(r * 10)]++;
        ge1 += s >= 0.1;
        ge2 += s >= 0.2;
        lo = r < lo ? r : lo;
        hi = r > hi ? r : hi;
    }
    for (int k = 0; k < 10; k++) /* each decile holds about 10% */
        assert_true(fabs((double)dec[k] / (double)nx - 0.1) < 0.03);
    assert_true(lo < 0.01 && hi > 0.99);
    assert_true(fabs((double)ge1 / (double)nx - 0.1) < 0.03);
    assert_true(fabs((double)ge2 / (double)nx - 0.01) < 0.008);
    /* monotone: a lower decision value is never calibrated lower */
    double prev = -1;
    for (double d = 1.0; d > -5.0; d -= 0.01) {
        double s = mend_ocsvm_calibrate(m, d);
        assert_true(s >= prev);
        prev = s;
    }
    assert_true(mend_ocsvm_calibrate(m, -1e6) == 1.0);
    assert_true(mend_ocsvm_calibrate(m, 1e6) == 0.0);
    free(X);
    mend_ocsvm_free(m);
}

static void assert_same_model(const struct mend_ocsvm *a, const struct mend_ocsvm *b,
                              const double *X, size_t nx)
{
    size_t dim = mend_ocsvm_dim(a);
    assert_int_equal(mend_ocsvm_dim(b), dim);
    assert_int_equal(mend_ocsvm_n_sv(b), mend_ocsvm_n_sv(a));
    double sa[4096], sb[4096];
    for (size_t i = 0; i < nx; i++) {
        double da, db, ca, cb;
        mend_ocsvm_score(a, X + i * dim, sa, &da, &ca);
        mend_ocsvm_score(b, X + i * dim, sb, &db, &cb);
        assert_memory_equal(&da, &db, sizeof da); /* bit-identical */
        assert_memory_equal(&ca, &cb, sizeof ca);
    }
}

static void test_save_load(void **state)
{
    (void)state;
    struct mend_ocsvm_conf c;
    double *X;
    size_t nx;
    mend_ocsvm_conf_defaults(&c);
    c.lags = 1;
    struct mend_ocsvm *m = train(&c, 800, 5, NULL, &X, &nx), *back = NULL;
    struct mend_wbuf w;
    struct mend_rbuf r;
    mend_wbuf_init(&w);
    assert_int_equal(mend_ocsvm_save(m, &w), MEND_OK);
    mend_rbuf_init(&r, w.data, w.len);
    assert_int_equal(mend_ocsvm_load(&r, &back), MEND_OK);
    assert_int_equal(r.off, w.len);
    assert_same_model(m, back, X, nx);
    assert_string_equal(mend_ocsvm_version(back), "test");
    int64_t t0, t1;
    mend_ocsvm_span(back, &t0, &t1, NULL);
    assert_true(t0 == 1000 && t1 == 2000);
    assert_string_equal(mend_ocsvm_spec(back)->names[1], NAMES[1]);
    mend_ocsvm_free(back);

    /* Every truncation, and a byte flipped at many places, is refused or
     * loads a valid model: never a crash, a hang or a half-loaded model. */
    for (size_t len = 0; len < w.len; len += 1 + len / 64) {
        back = NULL;
        mend_rbuf_init(&r, w.data, len);
        assert_int_not_equal(mend_ocsvm_load(&r, &back), MEND_OK);
        assert_null(back);
    }
    unsigned char *copy = malloc(w.len);
    for (size_t at = 0; at < w.len; at += 7) {
        memcpy(copy, w.data, w.len);
        copy[at] ^= 0xff;
        back = NULL;
        mend_rbuf_init(&r, copy, w.len);
        if (mend_ocsvm_load(&r, &back) == MEND_OK) {
            double s[4096], d;
            assert_int_equal(mend_ocsvm_score(back, X, s, &d, NULL), MEND_OK);
            mend_ocsvm_free(back);
        } else {
            assert_null(back);
        }
    }
    /* a foreign version */
    memcpy(copy, w.data, w.len);
    copy[4] = 9;
    mend_rbuf_init(&r, copy, w.len);
    assert_int_equal(mend_ocsvm_load(&r, &back), MEND_EVERSION);
    free(copy);
    mend_wbuf_fini(&w);
    free(X);
    mend_ocsvm_free(m);
}

static char tmpdir[64];

static int setup_tmp(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mend-ocsvm-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmp(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void flip_byte(const char *path, long at)
{
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, at, at < 0 ? SEEK_END : SEEK_SET);
    int ch = fgetc(f);
    fseek(f, -1, SEEK_CUR);
    fputc(ch ^ 0x5a, f);
    fclose(f);
}

static void copy_file(const char *from, const char *to)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", from, to);
    assert_int_equal(system(cmd), 0);
}

static void test_model_dir(void **state)
{
    (void)state;
    struct mend_ocsvm_conf c;
    struct mend_ocsvm_spec want;
    double *X;
    size_t nx;
    char dir[128], bin[160], meta[160], err[512];
    mend_ocsvm_conf_defaults(&c);
    struct mend_ocsvm *m = train(&c, 600, 9, NULL, &X, &nx), *back = NULL;
    snprintf(dir, sizeof dir, "%s/web-1", tmpdir);
    snprintf(bin, sizeof bin, "%s/model.bin", dir);
    snprintf(meta, sizeof meta, "%s/meta.txt", dir);
    assert_int_equal(mend_ocsvm_write_dir(m, dir, "web-1", err, sizeof err), MEND_OK);

    /* round trip, checked against the configured spec */
    assert_int_equal(mend_ocsvm_spec_init(&want, NAMES, 3, &c), MEND_OK);
    assert_int_equal(mend_ocsvm_read_dir(dir, &want, &back, err, sizeof err), MEND_OK);
    assert_same_model(m, back, X, nx);
    mend_ocsvm_free(back);
    mend_ocsvm_spec_fini(&want);

    /* mismatch: other lags, other series */
    c.lags = 2;
    assert_int_equal(mend_ocsvm_spec_init(&want, NAMES, 3, &c), MEND_OK);
    back = NULL;
    assert_int_equal(mend_ocsvm_read_dir(dir, &want, &back, err, sizeof err), MEND_EINVAL);
    assert_null(back);
    assert_non_null(strstr(err, "does not match the configuration"));
    assert_non_null(strstr(err, "lags is 0 in the model, 2 configured"));
    assert_non_null(strstr(err, "meta.txt"));
    mend_ocsvm_spec_fini(&want);
    c.lags = 0;
    const char *other[] = {"cpu,host=a usage", "mem,host=a used", "disk,host=a io"};
    assert_int_equal(mend_ocsvm_spec_init(&want, other, 3, &c), MEND_OK);
    assert_int_equal(mend_ocsvm_read_dir(dir, &want, &back, err, sizeof err), MEND_EINVAL);
    assert_non_null(strstr(err, "series 3 is 'net,host=a err' in the model"));
    mend_ocsvm_spec_fini(&want);

    /* damage: a flipped byte in the payload, a truncated file, a meta file
     * from another model, a missing file */
    char keep[200];
    snprintf(keep, sizeof keep, "%s/keep.bin", tmpdir);
    copy_file(bin, keep);
    flip_byte(bin, -100);
    assert_int_equal(mend_ocsvm_read_dir(dir, NULL, &back, err, sizeof err), MEND_ECORRUPT);
    assert_non_null(strstr(err, "checksum mismatch"));
    assert_null(back);
    copy_file(keep, bin);
    assert_int_equal(truncate(bin, 1000), 0);
    assert_int_equal(mend_ocsvm_read_dir(dir, NULL, &back, err, sizeof err), MEND_ECORRUPT);
    assert_non_null(strstr(err, "truncated"));
    assert_int_equal(truncate(bin, 10), 0);
    assert_int_equal(mend_ocsvm_read_dir(dir, NULL, &back, err, sizeof err), MEND_ECORRUPT);
    assert_non_null(strstr(err, "not a mend model file"));
    copy_file(keep, bin);
    assert_int_equal(mend_ocsvm_read_dir(dir, NULL, &back, err, sizeof err), MEND_OK);
    mend_ocsvm_free(back);
    back = NULL;
    char keepm[200];
    snprintf(keepm, sizeof keepm, "%s/keep.txt", tmpdir);
    copy_file(meta, keepm);
    FILE *f = fopen(meta, "a");
    fputs("series 4\n", f); /* later line wins: now disagrees with series_name lines */
    fclose(f);
    assert_int_equal(mend_ocsvm_read_dir(dir, NULL, &back, err, sizeof err), MEND_ECORRUPT);
    assert_non_null(strstr(err, "4 series announced"));
    copy_file(keepm, meta);
    f = fopen(meta, "a");
    fputs("model_sha256 0000000000000000000000000000000000000000000000000000000000000000\n", f);
    fclose(f);
    assert_int_equal(mend_ocsvm_read_dir(dir, NULL, &back, err, sizeof err), MEND_ECORRUPT);
    assert_non_null(strstr(err, "model_sha256 does not match"));
    copy_file(keepm, meta);
    unlink(bin);
    assert_int_equal(mend_ocsvm_read_dir(dir, NULL, &back, err, sizeof err), MEND_EIO);
    assert_non_null(strstr(err, "model.bin: cannot open"));
    assert_null(back);
    free(X);
    mend_ocsvm_free(m);
}

/* A model committed under tests/fixtures (written by `mend train` from
 * fixture data) still reads: the format stays readable. */
static void test_fixture_model(void **state)
{
    (void)state;
    struct mend_ocsvm *m = NULL;
    char err[512] = "";
    int rc = mend_ocsvm_read_dir(FIX "/model", NULL, &m, err, sizeof err);
    if (rc)
        print_error("%s\n", err);
    assert_int_equal(rc, MEND_OK);
    const struct mend_ocsvm_spec *s = mend_ocsvm_spec(m);
    assert_int_equal(s->n_series, 3);
    assert_string_equal(s->names[0], "a");
    double x[6] = {0.5, 0, 0.5, 0, 0.5, 0}, scratch[4096], d, sc;
    assert_true(mend_ocsvm_scratch_len(m) <= 4096);
    assert_int_equal(mend_ocsvm_score(m, x, scratch, &d, &sc), MEND_OK);
    assert_true(isfinite(d) && sc >= 0 && sc <= 1);
    mend_ocsvm_free(m);
    rc = mend_ocsvm_read_dir(FIX "/corrupt", NULL, &m, err, sizeof err);
    assert_int_equal(rc, MEND_ECORRUPT);
    assert_non_null(strstr(err, "checksum mismatch"));
}

/* Background training: a worker thread trains a fresh model (a pure
 * function of its inputs) while the main thread keeps scoring the live one;
 * the new model is published with a release store and picked up with an
 * acquire load. ThreadSanitizer (`make tsan`) checks there is no race, and
 * the model trained on the worker equals one trained on the main thread. */
struct job {
    const struct mend_ocsvm_conf *conf;
    const struct mend_ocsvm_spec *spec;
    const double *X;
    size_t n;
    _Atomic(struct mend_ocsvm *) out;
    atomic_int done; /* set after out, also when training failed */
    int rc;
};

static void *worker(void *arg)
{
    struct job *j = arg;
    struct mend_ocsvm *m = NULL;
    char err[256];
    j->rc = mend_ocsvm_train(j->conf, j->spec, j->X, j->n, 0, 1, "bg", NULL, NULL, &m, NULL, err,
                             sizeof err);
    atomic_store_explicit(&j->out, m, memory_order_release);
    atomic_store_explicit(&j->done, 1, memory_order_release);
    return NULL;
}

static void test_background_training(void **state)
{
    (void)state;
    struct mend_ocsvm_conf c;
    struct mend_ocsvm_spec spec;
    mend_ocsvm_conf_defaults(&c);
    c.nu = 0.05;
    double *X, *Xnew[2];
    size_t nx, nnew[2];
    struct mend_ocsvm *live = train(&c, 1000, 21, NULL, &X, &nx);
    assert_int_equal(mend_ocsvm_spec_init(&spec, NAMES, 3, &c), MEND_OK);
    /* Two workers train at once (two entities retraining together), on
     * different data, while the main thread scores the live model. */
    struct job j[2];
    pthread_t th[2];
    for (int k = 0; k < 2; k++) {
        double *rows = make_rows(1500, 22 + (uint64_t)k);
        nnew[k] = features(&spec, rows, 1500, &Xnew[k]);
        free(rows);
        j[k] = (struct job){&c, &spec, Xnew[k], nnew[k], NULL, 0, -1};
    }
    for (int k = 0; k < 2; k++)
        assert_int_equal(pthread_create(&th[k], NULL, worker, &j[k]), 0);
    size_t dim = mend_ocsvm_dim(live), scored = 0;
    double scratch[4096], first = NAN;
    while (!atomic_load_explicit(&j[0].done, memory_order_acquire) ||
           !atomic_load_explicit(&j[1].done, memory_order_acquire)) {
        double d;
        assert_int_equal(mend_ocsvm_score(live, X + (scored % nx) * dim, scratch, &d, NULL),
                         MEND_OK);
        if (scored == 0)
            first = d;
        else if (scored % nx == 0)
            assert_memory_equal(&d, &first, sizeof d); /* the live model never changes */
        scored++;
    }
    for (int k = 0; k < 2; k++) {
        assert_int_equal(pthread_join(th[k], NULL), 0); /* rc is read only after the join */
        assert_int_equal(j[k].rc, MEND_OK);
    }
    assert_true(scored > 0);
    /* switch over to the first worker's model: the old one is freed only
     * after the swap */
    struct mend_ocsvm *old = live;
    live = atomic_load_explicit(&j[0].out, memory_order_acquire);
    assert_non_null(live);
    mend_ocsvm_free(old);

    /* each concurrent result equals the same training run alone */
    for (int k = 0; k < 2; k++) {
        struct mend_ocsvm *same = NULL, *got = k ? atomic_load(&j[1].out) : live;
        char err[256];
        assert_int_equal(mend_ocsvm_train(&c, &spec, Xnew[k], nnew[k], 0, 1, "bg", NULL, NULL,
                                          &same, NULL, err, sizeof err),
                         MEND_OK);
        assert_same_model(got, same, Xnew[k], nnew[k]);
        mend_ocsvm_free(same);
        free(Xnew[k]);
    }
    mend_ocsvm_free(atomic_load(&j[1].out));
    mend_ocsvm_free(live);
    mend_ocsvm_spec_fini(&spec);
    free(X);
}

static const char *mend_bin(void)
{
    const char *b = getenv("MEND_BIN");
    return b && *b ? b : "bin/mend";
}

/* `mend score --train` end to end: one output row per test row with the
 * documented header, every score in [0,1], and the row where series b breaks
 * its relation with a (each value within its usual range) is where the fused
 * score peaks. */
static void test_cli_score_train(void **state)
{
    (void)state;
    char cmd[512], line[256];
    snprintf(cmd, sizeof cmd, "'%s' score --train %s/train.csv %s/test.csv 2>/dev/null",
             mend_bin(), FIX, FIX);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(line, sizeof line, p));
    assert_string_equal(line, "timestamp,anomaly_score,gauss,ocsvm\n");
    int rows = 0, peak = -1;
    double best = -1;
    while (fgets(line, sizeof line, p)) {
        long t;
        double f, g, o;
        assert_int_equal(sscanf(line, "%ld,%lf,%lf,%lf", &t, &f, &g, &o), 4);
        assert_int_equal(t, rows);
        assert_true(f >= 0 && f <= 1 && g >= 0 && g <= 1 && o >= 0 && o <= 1);
        assert_true(fabs(f - 0.5 * (g + o)) < 2e-6);
        if (f > best) {
            best = f;
            peak = rows;
        }
        rows++;
    }
    assert_int_equal(pclose(p), 0);
    assert_int_equal(rows, 40);
    assert_true(peak >= 20 && peak <= 22);
    assert_true(best > 0.3);

    /* columns that differ between TRAIN and TEST are refused, naming them */
    snprintf(cmd, sizeof cmd, "'%s' score --train %s/train.csv %s/README.md 2>&1 >/dev/null",
             mend_bin(), FIX, FIX);
    p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(line, sizeof line, p));
    assert_non_null(strstr(line, "README.md"));
    assert_int_not_equal(pclose(p), 0);
}

/* `mend train` writes a directory, the same bytes every time, that reads
 * back with the spec of the data; the committed demo model reads with its
 * own spec. */
static void test_cli_train(void **state)
{
    (void)state;
    char cmd[1024], dir[128], err[512];
    snprintf(dir, sizeof dir, "%s/m", tmpdir);
    snprintf(cmd, sizeof cmd, "'%s' train --no-progress --out %s %s/train.csv 2>/dev/null",
             mend_bin(), dir, FIX);
    assert_int_equal(system(cmd), 0);
    /* deterministic: a second run writes the same bytes */
    snprintf(cmd, sizeof cmd,
             "'%s' train --no-progress --out %s2 %s/train.csv 2>/dev/null && "
             "cmp -s %s/model.bin %s2/model.bin && cmp -s %s/meta.txt %s2/meta.txt",
             mend_bin(), dir, FIX, dir, dir, dir, dir);
    assert_int_equal(system(cmd), 0);
    struct mend_ocsvm_conf c;
    struct mend_ocsvm_spec want;
    struct mend_ocsvm *m = NULL;
    mend_ocsvm_conf_defaults(&c);
    const char *abc[] = {"a", "b", "c"};
    assert_int_equal(mend_ocsvm_spec_init(&want, abc, 3, &c), MEND_OK);
    assert_int_equal(mend_ocsvm_read_dir(dir, &want, &m, err, sizeof err), MEND_OK);
    mend_ocsvm_free(m);
    m = NULL;
    mend_ocsvm_spec_fini(&want);
    assert_int_equal(mend_ocsvm_read_dir("models/demo-web-2", NULL, &m, err, sizeof err),
                     MEND_OK);
    assert_int_equal(mend_ocsvm_spec(m)->n_series, 6);
    assert_string_equal(mend_ocsvm_spec(m)->names[3], "http,host=web-2 latency_ms");
    mend_ocsvm_free(m);
    /* several entities and no --entity: a usage error naming them */
    snprintf(cmd, sizeof cmd, "'%s' train --out %s/x data/demo.lp 2>/dev/null", mend_bin(),
             tmpdir);
    assert_int_not_equal(system(cmd), 0);
}

static void quiet(const char *s)
{
    (void)s;
}

int main(void)
{
    svm_set_print_string_function(quiet); /* libsvm prints by default */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conf),
        cmocka_unit_test(test_features),
        cmocka_unit_test(test_features_save_load),
        cmocka_unit_test(test_train_and_score),
        cmocka_unit_test(test_cap_and_select),
        cmocka_unit_test(test_calibration),
        cmocka_unit_test(test_save_load),
        cmocka_unit_test_setup_teardown(test_model_dir, setup_tmp, teardown_tmp),
        cmocka_unit_test(test_fixture_model),
        cmocka_unit_test(test_background_training),
        cmocka_unit_test(test_cli_score_train),
        cmocka_unit_test_setup_teardown(test_cli_train, setup_tmp, teardown_tmp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
