/* test_engine_state.c -- state that is never lost: save and restore after
 * every kind of state change (a property test over random workloads:
 * restore, continue, compare with an uninterrupted run), a membership
 * change after a model exists (defect: the next start refused the file),
 * idle-series eviction, a pluggable entity model trained on a worker thread
 * that goes live at a defined event time, and a series whose scorer cannot
 * start. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <gsl/gsl_errno.h>

#include "engine_harness.h"
#include "mend/model.h"

/* Runs l whole, and again split at cut with a save/load in between; the two
 * must write the same bytes. */
static void check_resume(const struct mend_engine_conf *c, const struct load *l, size_t cut,
                         void (*setup)(struct mend_engine *))
{
    struct out full = {0}, part = {0};
    struct mend_engine *e = h_make(&full, c);
    if (setup)
        setup(e);
    assert_int_equal(load_feed(e, l, 0, l->n), MEND_OK);
    mend_engine_advance(e, l->p[l->n - 1].t + 3600 * SEC);
    mend_engine_free(e);

    e = h_make(&part, c);
    if (setup)
        setup(e);
    assert_int_equal(load_feed(e, l, 0, cut), MEND_OK);
    struct mend_wbuf w;
    mend_wbuf_init(&w);
    assert_int_equal(mend_engine_save(e, &w), MEND_OK);
    mend_engine_free(e);
    e = h_make(&part, c);
    if (setup)
        setup(e);
    struct mend_rbuf r;
    mend_rbuf_init(&r, w.data, w.len);
    assert_int_equal(mend_engine_load(e, &r), MEND_OK);
    assert_int_equal(load_feed(e, l, cut, l->n), MEND_OK);
    mend_engine_advance(e, l->p[l->n - 1].t + 3600 * SEC);
    mend_engine_free(e);
    mend_wbuf_fini(&w);
    if (full.inc_len != part.inc_len || (full.inc && strcmp(full.inc, part.inc))) {
        size_t i = 0;
        while (full.inc && part.inc && full.inc[i] && full.inc[i] == part.inc[i])
            i++;
        size_t b = i > 200 ? i - 200 : 0;
        fail_msg("incidents differ after a restore at %zu of %zu (byte %zu):\n full: %.400s\n part: %.400s",
                 cut, l->n, i, full.inc ? full.inc + b : "", part.inc ? part.inc + b : "");
    }
    if (full.sc_len != part.sc_len || (full.sc && strcmp(full.sc, part.sc)))
        fail_msg("scores differ after a restore at %zu of %zu", cut, l->n);
    out_free(&full);
    out_free(&part);
}

/* The four lines of the defect report, then saved and restored. */
static void test_membership_change_restores(void **state)
{
    (void)state;
    struct mend_engine_conf c;
    mend_engine_conf_defaults(&c);
    struct load l = {0};
    load_add(&l, "m,host=a x", "a", 1 * SEC, 1);
    load_add(&l, "m,host=a y", "a", 1 * SEC, 1);
    load_add(&l, "m,host=a x", "a", 2 * SEC, 2);
    load_add(&l, "m,host=a z", "a", 2 * SEC, 1);
    for (size_t cut = 1; cut <= l.n; cut++)
        check_resume(&c, &l, cut, NULL);
    /* and with more rows after it, the models past warm-up */
    uint64_t x = 1;
    for (int k = 3; k < 400; k++) {
        load_add(&l, "m,host=a x", "a", k * SEC, 1 + h_noise(&x));
        load_add(&l, "m,host=a y", "a", k * SEC, 1 + h_noise(&x));
        load_add(&l, "m,host=a z", "a", k * SEC, 1 + h_noise(&x));
        if (k > 150)
            load_add(&l, "m,host=a late", "a", k * SEC, h_noise(&x)); /* joins after warm-up */
    }
    for (size_t cut = 5; cut < l.n; cut += 97)
        check_resume(&c, &l, cut, NULL);
    free(l.p);
}

/* Random workloads: hosts and series that come and go, gaps, a far-future
 * line, late samples, spikes, entity membership growing, idle series
 * evicted; restored at random points. */
static void random_load(struct load *l, uint64_t seed)
{
    uint64_t x = seed * 2654435761u + 1;
    int hosts = 1 + (int)((h_noise(&x) + 0.5) * 3);
    int steps = 300 + (int)((h_noise(&x) + 0.5) * 300);
    int64_t t = 1700000000LL * SEC;
    for (int k = 0; k < steps; k++) {
        double r = h_noise(&x) + 0.5;
        t += r < 0.02 ? 2 * 3600 * SEC : 30 * SEC; /* now and then a gap */
        for (int h = 0; h < hosts; h++) {
            char ent[4] = {(char)('a' + h), 0};
            int nser = 2 + (h + k / 100) % 4; /* members join as time goes on */
            for (int f = 0; f < nser; f++) {
                if (h == 1 && f == 0 && k > steps / 2)
                    continue; /* goes silent: absence, then eviction */
                char key[32];
                snprintf(key, sizeof key, "m,host=%s f%d", ent, f);
                double v = 10 * f + h_noise(&x) + ((h_noise(&x) + 0.5) < 0.01 ? 25 : 0);
                int64_t ts = t + (int64_t)(h_noise(&x) * 0.002 * SEC); /* jitter */
                if ((h_noise(&x) + 0.5) < 0.01)
                    ts -= 45 * SEC; /* late */
                load_add(l, key, (h_noise(&x) + 0.5) < 0.02 ? NULL : ent, ts, v);
            }
        }
        if ((h_noise(&x) + 0.5) < 0.005)
            load_add(l, "m,host=a f0", "a", t + 400LL * 86400 * SEC, 1); /* far future */
        /* counters (engine_rate.c): one matched by counters.patterns, with
         * a reset now and then; one declared (Prometheus TYPE); one
         * monotonic that the detector (on for odd seeds) finds */
        for (int h = 0; h < hosts; h++) {
            char ent[4] = {(char)('a' + h), 0}, key[48];
            snprintf(key, sizeof key, "net,host=%s bytes_recv", ent);
            double base = (h_noise(&x) + 0.5) < 0.01 ? 0 : 1000.0 * k;
            load_add(l, key, ent, t, base + 100 * h_noise(&x));
            snprintf(key, sizeof key, "req_total,host=%s", ent);
            load_add_counter(l, key, ent, t + SEC / 1000, 5.0 * k + (h_noise(&x) + 0.5));
            snprintf(key, sizeof key, "mono,host=%s up", ent);
            load_add(l, key, ent, t, (double)k * 3 + (h_noise(&x) + 0.5));
        }
        if (k % 97 == 3) {
            char key[32];
            snprintf(key, sizeof key, "churn,pod=p%d v", k); /* a label that churns */
            load_add(l, key, "a", t, 1);
        }
    }
}

static void test_restore_property(void **state)
{
    (void)state;
    struct mend_engine_conf c;
    mend_engine_conf_defaults(&c);
    c.series.idle_evict_ns = 2 * 3600 * SEC;
    c.series.ring_cap = 64;
    for (uint64_t seed = 1; seed <= 12; seed++) {
        struct load l = {0};
        c.rates.detect_monotonic = (int)(seed & 1);
        c.rates.monotonic_after = 20;
        random_load(&l, seed);
        uint64_t x = seed;
        for (int i = 0; i < 3; i++) {
            size_t cut = 1 + (size_t)((h_noise(&x) + 0.5) * (double)(l.n - 1));
            check_resume(&c, &l, cut, NULL);
        }
        free(l.p);
    }
}

static void test_eviction(void **state)
{
    (void)state;
    struct mend_engine_conf c;
    mend_engine_conf_defaults(&c);
    c.series.idle_evict_ns = 3600 * SEC;
    struct load l = {0};
    uint64_t x = 9;
    char key[32];
    for (int k = 0; k < 400; k++) {
        load_add(&l, "m,host=a keep", "a", k * 60 * SEC, 1 + h_noise(&x));
        snprintf(key, sizeof key, "pod,name=p%d v", k / 100); /* a new pod every 100 min */
        load_add(&l, key, "a", k * 60 * SEC, 2 + h_noise(&x));
    }
    struct out o = {0};
    struct mend_engine *e = h_make(&o, &c);
    assert_int_equal(load_feed(e, &l, 0, l.n), MEND_OK);
    struct mend_engine_stats st;
    mend_engine_stats(e, &st);
    /* pods 0, 1 and 2 went idle for more than an hour and were evicted;
     * their ids were reused, so the registry never grew past 3 slots */
    assert_int_equal(st.evicted, 3);
    assert_true(st.series <= 3);
    struct mend_registry *reg = mend_engine_registry(e);
    assert_null(mend_registry_find(reg, "pod,name=p0 v", 13));
    assert_non_null(mend_registry_find(reg, "pod,name=p3 v", 13));
    mend_engine_free(e);
    out_free(&o);
    for (size_t cut = 50; cut < l.n; cut += 111)
        check_resume(&c, &l, cut, NULL);
    free(l.p);
}

/* ---- a test double entity model, trained on the worker -------------------
 * It learns each dimension's mean and spread in training and scores the
 * largest |z| of a row; training takes a while, so the engine really waits
 * for it at go-live. */
struct fake {
    size_t dim;
    double mean[8], sd[8];
};
static int fake_trained;

static int fake_train(const void *conf, size_t dim, const double *rows, size_t n, void **out)
{
    (void)conf;
    if (dim > 8)
        return MEND_ECAP;
    struct fake *f = calloc(1, sizeof *f);
    if (!f)
        return MEND_ENOMEM;
    f->dim = dim;
    for (size_t d = 0; d < dim; d++) {
        double s = 0, s2 = 0, k = 0;
        for (size_t i = 0; i < n; i++) {
            double v = rows[i * dim + d];
            if (isnan(v))
                continue;
            s += v;
            s2 += v * v;
            k++;
        }
        f->mean[d] = k ? s / k : 0;
        f->sd[d] = k > 1 ? sqrt(fmax(s2 / k - f->mean[d] * f->mean[d], 1e-12)) : 1;
    }
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    __atomic_add_fetch(&fake_trained, 1, __ATOMIC_SEQ_CST);
    *out = f;
    return MEND_OK;
}

static int fake_score(const void *m, const double *row, void *scratch, double *score, double *contrib)
{
    (void)scratch;
    const struct fake *f = m;
    double zmax = 0;
    for (size_t d = 0; d < f->dim; d++) {
        double z = isnan(row[d]) ? 0 : fabs(row[d] - f->mean[d]) / f->sd[d];
        if (contrib)
            contrib[d] = z;
        zmax = fmax(zmax, z);
    }
    *score = erf(zmax / sqrt(2.0));
    return MEND_OK;
}

static int fake_save(const void *m, struct mend_wbuf *w)
{
    const struct fake *f = m;
    mend_wbuf_u32(w, (uint32_t)f->dim);
    for (size_t d = 0; d < f->dim; d++) {
        mend_wbuf_f64(w, f->mean[d]);
        mend_wbuf_f64(w, f->sd[d]);
    }
    return w->failed ? MEND_ENOMEM : MEND_OK;
}

static int fake_load(const void *conf, size_t dim, struct mend_rbuf *r, void **out)
{
    (void)conf;
    uint32_t d = mend_rbuf_u32(r);
    if (r->failed || d != dim || d > 8)
        return MEND_ECORRUPT;
    struct fake *f = calloc(1, sizeof *f);
    if (!f)
        return MEND_ENOMEM;
    f->dim = d;
    for (size_t i = 0; i < d; i++) {
        f->mean[i] = mend_rbuf_f64(r);
        f->sd[i] = mend_rbuf_f64(r);
    }
    if (r->failed) {
        free(f);
        return MEND_ECORRUPT;
    }
    *out = f;
    return MEND_OK;
}

static void fake_destroy(void *m) { free(m); }
static size_t fake_dim(const void *m) { return ((const struct fake *)m)->dim; }

static const struct mend_model_ops fake_ops = {
    .name = "fake",
    .score = fake_score,
    .train = fake_train,
    .save = fake_save,
    .load = fake_load,
    .destroy = fake_destroy,
    .dim = fake_dim,
};

static void add_fake(struct mend_engine *e)
{
    struct mend_model_kind k = {.ops = &fake_ops, .threshold = 1e-6, .train_rows = 60,
                                .retrain_every = 100, .train_delay_ns = 600 * SEC};
    assert_int_equal(mend_engine_add_model(e, &k), MEND_OK);
}

static void model_load(struct load *l)
{
    uint64_t x = 21;
    for (int k = 0; k < 700; k++) {
        for (int f = 0; f < 3; f++) {
            char key[32];
            snprintf(key, sizeof key, "m,host=h f%d", f);
            double v = 10 * (f + 1) + h_noise(&x) + (k == 500 && f == 2 ? 40 : 0);
            load_add(l, key, "h", (int64_t)k * 60 * SEC, v);
        }
    }
}

static void test_pluggable_model(void **state)
{
    (void)state;
    struct mend_engine_conf c;
    mend_engine_conf_defaults(&c);
    c.mvg_enabled = 0; /* only the test double */
    struct load l = {0};
    model_load(&l);
    struct out a = {0}, b = {0};
    struct mend_engine *ea = h_make(&a, &c), *eb = h_make(&b, &c);
    add_fake(ea);
    add_fake(eb);
    fake_trained = 0;
    assert_int_equal(load_feed(ea, &l, 0, l.n), MEND_OK);
    assert_int_equal(load_feed(eb, &l, 0, l.n), MEND_OK);
    struct mend_engine_stats st;
    mend_engine_stats(ea, &st);
    /* trained on rows 1..60, live 10 minutes later; retrained every 100
     * normal rows after that */
    assert_true(st.models_trained >= 5);
    assert_true(fake_trained >= 10);
    assert_true(st.multivariate >= 1);
    assert_non_null(strstr(a.inc, "(fake, top: m,host=h f2)"));
    /* a second run, with the worker's timing whatever it was, writes the
     * same bytes */
    assert_string_equal(a.inc, b.inc);
    mend_engine_free(ea);
    mend_engine_free(eb);
    out_free(&a);
    out_free(&b);
    /* restored mid-training (a job under way) it goes live at the same time */
    for (size_t cut = 150; cut < l.n; cut += 173)
        check_resume(&c, &l, cut, add_fake);
    /* the kind must be added before any point */
    struct out o = {0};
    struct mend_engine *e = h_make(&o, &c);
    assert_int_equal(load_feed(e, &l, 0, 3), MEND_OK);
    struct mend_model_kind k = {.ops = &fake_ops, .threshold = 1e-6, .train_rows = 60};
    assert_int_equal(mend_engine_add_model(e, &k), MEND_EINVAL);
    mend_engine_free(e);
    out_free(&o);
    free(l.p);
}

/* A series whose scorer cannot start (out of memory) is not scored on a
 * zeroed state: the sample is dropped and counted, and the next one starts
 * it properly. Run in a child whose address space is capped. */
static void test_scorer_init_failure(void **state)
{
    (void)state;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    /* a capped address space and the sanitizers' shadow memory do not mix */
    skip();
#endif
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct mend_engine_conf c;
        mend_engine_conf_defaults(&c);
        c.mvg_enabled = 0;
        char err[256];
        if (mend_scorer_conf_set(&c.scorer, "season_period", "1d", err, sizeof err) != MEND_OK ||
            mend_scorer_conf_set(&c.scorer, "season_bins", "2016", err, sizeof err) != MEND_OK)
            _exit(10);
        struct out o = {0};
        struct mend_engine *e = h_make(&o, &c);
        struct rlimit old, lim;
        getrlimit(RLIMIT_AS, &old);
        /* leave no room for one more seasonal profile (48 KiB each) */
        char key[32];
        int failed_at = -1;
        FILE *f = fopen("/proc/self/statm", "r");
        unsigned long pages = 0;
        if (!f || fscanf(f, "%lu", &pages) != 1)
            _exit(11);
        fclose(f);
        lim.rlim_cur = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + (1u << 20);
        lim.rlim_max = old.rlim_max;
        if (setrlimit(RLIMIT_AS, &lim) != 0)
            _exit(12);
        struct mend_engine_stats st;
        for (int i = 0; i < 100000 && failed_at < 0; i++) {
            snprintf(key, sizeof key, "s%d", i);
            struct mend_point p = {.key = key, .key_len = strlen(key), .time_ns = SEC, .has_time = 1,
                                   .value = 1};
            if (mend_engine_point(e, &p) != MEND_OK)
                _exit(13); /* out of memory must not be an error of the engine here */
            mend_engine_stats(e, &st);
            if (st.init_failed)
                failed_at = i;
        }
        if (failed_at < 0)
            _exit(14);
        setrlimit(RLIMIT_AS, &old);
        /* the same series again: started properly, no false anomaly */
        snprintf(key, sizeof key, "s%d", failed_at);
        for (int k = 2; k < 50; k++) {
            struct mend_point p = {.key = key, .key_len = strlen(key), .time_ns = k * SEC, .has_time = 1,
                                   .value = 1};
            if (mend_engine_point(e, &p) != MEND_OK)
                _exit(15);
        }
        mend_engine_stats(e, &st);
        if (st.anomalies != 0 || st.init_failed != 1)
            _exit(16);
        struct mend_series *s = mend_registry_find(mend_engine_registry(e), key, strlen(key));
        if (!s || s->n != 48)
            _exit(17);
        mend_engine_free(e);
        out_free(&o);
        _exit(0);
    }
    int status;
    alarm(60); /* a hang fails the test rather than the run */
    assert_int_equal(waitpid(pid, &status, 0), pid);
    alarm(0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* A checkpoint of 1,000,000 series (the default series cap) is written and
 * restored whole: the state is streamed, never held in memory at once. A
 * lean configuration keeps it to a few hundred MB and a few seconds. */
static void test_checkpoint_million(void **state)
{
    (void)state;
    struct mend_engine_conf c;
    mend_engine_conf_defaults(&c);
    c.mvg_enabled = 0;
    c.series.ring_cap = 2;
    char err[512];
    assert_int_equal(mend_scorer_conf_set(&c.scorer, "detectors", "ewma", err, sizeof err), MEND_OK);
    struct out o = {0};
    struct mend_engine *e = h_make(&o, &c);
    char key[32], ent[16];
    const uint32_t n = 1000000;
    for (uint32_t i = 0; i < n; i++) {
        int kl = snprintf(key, sizeof key, "m,host=h%u v%u", i / 100, i % 100);
        int el = snprintf(ent, sizeof ent, "h%u", i / 100);
        struct mend_point p = {.key = key, .key_len = (size_t)kl, .entity = ent, .entity_len = (size_t)el,
                               .time_ns = 1000 * SEC + i, .has_time = 1, .value = (double)(i % 1000)};
        assert_int_equal(mend_engine_point(e, &p), MEND_OK);
    }
    char dir[] = "/tmp/mend-test-million-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/state.ckpt", dir);
    assert_int_equal(mend_engine_checkpoint(e, path, err, sizeof err), MEND_OK);
    struct mend_engine_stats a, b;
    mend_engine_stats(e, &a);
    mend_engine_free(e);
    e = h_make(&o, &c);
    assert_int_equal(mend_engine_restore(e, path, err, sizeof err), MEND_OK);
    mend_engine_stats(e, &b);
    assert_int_equal(b.series, n);
    assert_int_equal(a.series, n);
    assert_int_equal(b.points, a.points);
    assert_int_equal(b.entities, n / 100);
    struct mend_series *s = mend_registry_find(mend_engine_registry(e), "m,host=h9999 v99", 16);
    assert_non_null(s);
    assert_int_equal(s->id, n - 1);
    assert_int_equal(s->last_t, 1000 * SEC + n - 1);
    float v;
    int64_t t;
    assert_int_equal(mend_series_recent(s, &v, &t, 1), 1);
    assert_true(v == 999.0f);
    assert_int_equal(t, 1000 * SEC + n - 1);
    mend_engine_free(e);
    unlink(path);
    rmdir(dir);
    out_free(&o);
}

int main(void)
{
    gsl_set_error_handler_off();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_membership_change_restores),
        cmocka_unit_test(test_restore_property),
        cmocka_unit_test(test_eviction),
        cmocka_unit_test(test_pluggable_model),
        cmocka_unit_test(test_scorer_init_failure),
        cmocka_unit_test(test_checkpoint_million),
    };
    return cmocka_run_group_tests_name("engine_state", tests, NULL, NULL);
}
