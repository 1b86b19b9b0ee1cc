/* test_model_ocsvm.c -- the one-class SVM as the engine's entity model
 * (src/model/model_ocsvm.c): the ops on their own (shell, train, score
 * against the library, history carried at go-live, save/load), then in the
 * engine (background training deterministic, restored mid-training equals
 * uninterrupted, retraining under concurrent ingest -- `make tsan` runs this
 * binary), the configuration path (the `ocsvm:` section, a model directory
 * that does not match or is damaged), and the CLI (a replay with background
 * training twice gives the same bytes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <libsvm/svm.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine_harness.h"
#include "mend/config.h"
#include "mend/confmap.h"
#include "mend/model.h"
#include "mend/ocsvm.h"

static const char *mend_bin(void)
{
    const char *b = getenv("MEND_BIN");
    return b && *b ? b : "bin/mend";
}

/* Rows of three series: b follows a, c is noise. From row `fault` on, b
 * leaves a (each still within its usual range) for `len` rows. */
static void rows_make(double *rows, size_t n, uint64_t seed, size_t fault, size_t len)
{
    uint64_t x = seed;
    for (size_t k = 0; k < n; k++) {
        double a = 10 + 3 * sin((double)k / 15.0) + 0.2 * h_noise(&x);
        double b = 2 * a + 0.2 * h_noise(&x);
        if (k >= fault && k < fault + len)
            b = 2 * (20 - a); /* mirrored: in range, out of relation */
        rows[k * 3] = a;
        rows[k * 3 + 1] = b;
        rows[k * 3 + 2] = 5 + h_noise(&x);
    }
}

static void conf_small(struct mend_ocsvm_engine_conf *c)
{
    mend_ocsvm_engine_conf_defaults(c);
    c->enabled = 1;
    c->train_rows = 200;
    c->retrain_every = 150;
    c->train_delay_ns = 600 * SEC;
    c->threshold = 1e-4;
}

/* ---- the ops alone ---------------------------------------------------------- */

/* A shell keeps history and cannot judge; a trained instance scores exactly
 * what the library gives for the same features; the history carried from
 * the shell makes its first score the one a model that saw every row gives;
 * the fault scores far out; save/load gives the same instance. */
static void test_ops(void **state)
{
    (void)state;
    const struct mend_model_ops *ops = &mend_model_ocsvm;
    struct mend_ocsvm_engine_conf c;
    conf_small(&c);
    enum { N = 400 };
    double *rows = malloc(N * 3 * sizeof *rows);
    assert_non_null(rows);
    rows_make(rows, N, 7, 350, 20);

    void *shell = NULL, *sc = NULL, *m = NULL;
    assert_int_equal(ops->create(&c, 3, &shell), MEND_OK);
    assert_int_equal(ops->scratch_new(&c, 3, &sc), MEND_OK);
    assert_int_equal(ops->trained(shell), 0);
    double score = -1, contrib[3];
    assert_int_equal(ops->score(shell, rows, sc, &score, contrib), MEND_ERANGE);
    assert_true(score == 0.0);
    /* train on rows 0..199 (what the engine would collect) */
    assert_int_equal(ops->train(&c, 3, rows, 200, &m), MEND_OK);
    assert_int_equal(ops->trained(m), 1);
    assert_int_equal(ops->dim(m), 3);
    /* the shell sees rows 0..249, then hands its history over */
    for (size_t k = 0; k < 250; k++)
        assert_int_equal(ops->learn(shell, rows + k * 3, sc), MEND_OK);
    assert_int_equal(ops->carry(m, shell), MEND_OK);
    ops->destroy(shell);

    /* reference: the library over an extractor that saw rows 0..249 */
    const char *names[3] = {"m0", "m1", "m2"};
    struct mend_ocsvm_conf lc;
    mend_ocsvm_conf_defaults(&lc);
    struct mend_ocsvm_spec spec;
    assert_int_equal(mend_ocsvm_spec_init(&spec, names, 3, &lc), MEND_OK);
    struct mend_ocsvm_feat *f;
    assert_int_equal(mend_ocsvm_feat_new(&spec, &f), MEND_OK);
    double x[6];
    for (size_t k = 0; k < 250; k++)
        mend_ocsvm_feat_push(f, rows + k * 3, x);
    /* the instance's model: save it and read the library record back */
    struct mend_wbuf w;
    mend_wbuf_init(&w);
    assert_int_equal(ops->save(m, &w), MEND_OK);
    void *m2 = NULL;
    struct mend_rbuf r;
    mend_rbuf_init(&r, w.data, w.len);
    assert_int_equal(ops->load(&c, 3, &r, &m2), MEND_OK);
    assert_int_equal(mend_rbuf_remaining(&r), 0);
    /* find the library model inside the record: tag, version, dim, n,
     * state, has_pos (4+4+4+4+1+1 bytes), then mend_ocsvm_save */
    mend_rbuf_init(&r, w.data + 18, w.len - 18);
    struct mend_ocsvm *lib;
    assert_int_equal(mend_ocsvm_load(&r, &lib), MEND_OK);
    double *ws = malloc(mend_ocsvm_scratch_len(lib) * sizeof *ws);
    assert_non_null(ws);
    double max_normal = 0, max_fault = 0;
    for (size_t k = 250; k < N; k++) {
        double s1, s2, dec;
        assert_int_equal(ops->score(m, rows + k * 3, sc, &s1, contrib), MEND_OK);
        assert_int_equal(ops->score(m2, rows + k * 3, sc, &s2, NULL), MEND_OK);
        assert_true(s1 == s2); /* restored: the same to the bit */
        assert_int_equal(mend_ocsvm_feat_push(f, rows + k * 3, x), 1);
        assert_int_equal(mend_ocsvm_score(lib, x, ws, &dec, NULL), MEND_OK);
        assert_true(s1 == 1.0 - mend_ocsvm_tail(lib, dec));
        assert_true(s1 >= 0 && s1 <= 1);
        if (k >= 350 && k < 370) {
            max_fault = fmax(max_fault, s1);
            if (k == 355) /* b broke away from a: b names the row */
                assert_true(contrib[1] > contrib[2]);
        } else if (k != 370) { /* 370: b jumps back, its difference is a fault too */
            max_normal = fmax(max_normal, s1);
        }
        assert_int_equal(ops->learn(m, rows + k * 3, sc), MEND_OK);
        assert_int_equal(ops->learn(m2, rows + k * 3, sc), MEND_OK);
    }
    assert_true(1.0 - max_fault < 1e-6);    /* far beyond anything normal */
    assert_true(1.0 - max_normal > 1e-4);   /* normal rows stay under the default threshold */
    /* damaged records are refused, never half-loaded */
    for (size_t cut = 0; cut < w.len; cut += 97) {
        void *bad = NULL;
        mend_rbuf_init(&r, w.data, cut);
        assert_int_not_equal(ops->load(&c, 3, &r, &bad), MEND_OK);
        assert_null(bad);
    }
    w.data[0] ^= 1;
    void *bad = NULL;
    mend_rbuf_init(&r, w.data, w.len);
    assert_int_equal(ops->load(&c, 3, &r, &bad), MEND_ECORRUPT);
    mend_rbuf_init(&r, w.data, w.len);
    w.data[0] ^= 1;
    assert_int_equal(ops->load(&c, 4, &r, &bad), MEND_ECORRUPT); /* another dimension */
    free(ws);
    mend_ocsvm_free(lib);
    mend_wbuf_fini(&w);
    mend_ocsvm_feat_free(f);
    mend_ocsvm_spec_fini(&spec);
    ops->destroy(m);
    ops->destroy(m2);
    ops->scratch_free(sc);
    /* too few vectors to train: an error, no model */
    void *none = NULL;
    assert_int_not_equal(ops->train(&c, 3, rows, 2, &none), MEND_OK);
    assert_null(none);
    free(rows);
}

/* Hold-back: every 4th vector to the end, both parts in order; the
 * recalibration spreads the held-back rows' tails over (0,1] and refuses
 * fewer than two. */
static void test_hold_back(void **state)
{
    (void)state;
    double X[20];
    for (int i = 0; i < 20; i++)
        X[i] = i / 2; /* vector i is (i, i) */
    assert_int_equal(mend_ocsvm_hold_back(X, 10, 2, 4), 8);
    const double want[10] = {0, 1, 2, 4, 5, 6, 8, 9, 3, 7};
    for (int i = 0; i < 10; i++) {
        assert_true(X[2 * i] == want[i]);
        assert_true(X[2 * i + 1] == want[i]);
    }
    assert_int_equal(mend_ocsvm_hold_back(X, 10, 2, 1), 10);

    enum { N = 400 };
    double *rows = malloc(N * 3 * sizeof *rows), *F = malloc(N * 6 * sizeof *F);
    assert_non_null(rows);
    assert_non_null(F);
    rows_make(rows, N, 3, SIZE_MAX, 0);
    const char *names[3] = {"a", "b", "c"};
    struct mend_ocsvm_conf lc;
    mend_ocsvm_conf_defaults(&lc);
    struct mend_ocsvm_spec spec;
    assert_int_equal(mend_ocsvm_spec_init(&spec, names, 3, &lc), MEND_OK);
    struct mend_ocsvm_feat *f;
    assert_int_equal(mend_ocsvm_feat_new(&spec, &f), MEND_OK);
    size_t nx = 0;
    for (size_t k = 0; k < N; k++)
        nx += (size_t)mend_ocsvm_feat_push(f, rows + k * 3, F + nx * 6);
    size_t nt = mend_ocsvm_hold_back(F, nx, 6, 4);
    assert_int_equal(nx - nt, nx / 4);
    struct mend_ocsvm *m;
    char err[256];
    assert_int_equal(mend_ocsvm_train(&lc, &spec, F, nt, 0, 0, "t", NULL, NULL, &m, NULL, err,
                                      sizeof err),
                     MEND_OK);
    assert_int_equal(mend_ocsvm_recalibrate(m, F, 1), MEND_EINVAL);
    assert_int_equal(mend_ocsvm_recalibrate(m, F + nt * 6, nx - nt), MEND_OK);
    /* on the held-back rows the tail is roughly uniform: a tenth below 0.1 */
    double *ws = malloc(mend_ocsvm_scratch_len(m) * sizeof *ws);
    assert_non_null(ws);
    size_t low = 0;
    for (size_t i = nt; i < nx; i++) {
        double dec;
        assert_int_equal(mend_ocsvm_score(m, F + i * 6, ws, &dec, NULL), MEND_OK);
        double p = mend_ocsvm_tail(m, dec);
        assert_true(p > 1e-4 && p <= 1.0);
        low += p < 0.1;
    }
    assert_true(low >= (nx - nt) / 20 && low <= (nx - nt) / 5);
    free(ws);
    mend_ocsvm_free(m);
    mend_ocsvm_feat_free(f);
    mend_ocsvm_spec_fini(&spec);
    free(rows);
    free(F);
}

/* ---- in the engine -------------------------------------------------------- */

static struct mend_ocsvm_engine_conf g_conf;

static void add_ocsvm(struct mend_engine *e)
{
    struct mend_model_kind k;
    char err[256];
    assert_int_equal(mend_ocsvm_kind_init(&g_conf, &k, err, sizeof err), MEND_OK);
    assert_int_equal(mend_engine_add_model(e, &k), MEND_OK);
}

/* Entities h0..h(ne-1), three series each, one row a minute; h0's b breaks
 * away from a at row fault. */
static void workload(struct load *l, int ne, int rows_n, int fault)
{
    double *all = malloc((size_t)ne * (size_t)rows_n * 3 * sizeof *all);
    assert_non_null(all);
    for (int h = 0; h < ne; h++)
        rows_make(all + (size_t)h * (size_t)rows_n * 3, (size_t)rows_n, (uint64_t)(11 + h),
                  h == 0 ? (size_t)fault : SIZE_MAX, 15);
    for (int k = 0; k < rows_n; k++)
        for (int h = 0; h < ne; h++)
            for (int f = 0; f < 3; f++) {
                char key[48], ent[16];
                snprintf(ent, sizeof ent, "h%d", h);
                snprintf(key, sizeof key, "m,host=h%d %c", h, "abc"[f]);
                load_add(l, key, ent, (int64_t)k * 60 * SEC + f * SEC,
                         all[((size_t)h * (size_t)rows_n + (size_t)k) * 3 + (size_t)f]);
            }
    free(all);
}

static void conf_engine(struct mend_engine_conf *c)
{
    mend_engine_conf_defaults(c);
    c->mvg_enabled = 0; /* the SVM alone: its events are what is compared */
}

static void check_resume(const struct mend_engine_conf *c, const struct load *l, size_t cut)
{
    struct out full = {0}, part = {0};
    struct mend_engine *e = h_make(&full, c);
    add_ocsvm(e);
    assert_int_equal(load_feed(e, l, 0, l->n), MEND_OK);
    mend_engine_advance(e, l->p[l->n - 1].t + 3600 * SEC);
    mend_engine_free(e);

    e = h_make(&part, c);
    add_ocsvm(e);
    assert_int_equal(load_feed(e, l, 0, cut), MEND_OK);
    struct mend_wbuf w;
    mend_wbuf_init(&w);
    assert_int_equal(mend_engine_save(e, &w), MEND_OK);
    mend_engine_free(e);
    e = h_make(&part, c);
    add_ocsvm(e);
    struct mend_rbuf r;
    mend_rbuf_init(&r, w.data, w.len);
    assert_int_equal(mend_engine_load(e, &r), MEND_OK);
    assert_int_equal(load_feed(e, l, cut, l->n), MEND_OK);
    mend_engine_advance(e, l->p[l->n - 1].t + 3600 * SEC);
    mend_engine_free(e);
    mend_wbuf_fini(&w);
    if (!full.inc || !part.inc || strcmp(full.inc, part.inc))
        fail_msg("incidents differ after a restore at %zu of %zu:\n full: %.300s\n part: %.300s",
                 cut, l->n, full.inc ? full.inc : "", part.inc ? part.inc : "");
    assert_true(full.sc && part.sc && !strcmp(full.sc, part.sc));
    out_free(&full);
    out_free(&part);
    mend_ocsvm_kind_fini(&g_conf);
}

/* Trained in the background on each entity's first rows, retrained on its
 * normal rows, live at a defined event time: the fault is caught and named,
 * two runs write the same bytes, and a restore at any point -- also with a
 * training under way -- continues exactly as if never interrupted. */
static void test_engine_background(void **state)
{
    (void)state;
    struct mend_engine_conf c;
    conf_engine(&c);
    conf_small(&g_conf);
    struct load l = {0};
    workload(&l, 2, 700, 600);
    struct out a = {0}, b = {0};
    struct mend_engine *ea = h_make(&a, &c), *eb = h_make(&b, &c);
    add_ocsvm(ea);
    add_ocsvm(eb);
    assert_int_equal(load_feed(ea, &l, 0, l.n), MEND_OK);
    assert_int_equal(load_feed(eb, &l, 0, l.n), MEND_OK);
    struct mend_engine_stats st;
    mend_engine_stats(ea, &st);
    /* per entity: first training at row 200, retrainings every 150 normal rows */
    assert_true(st.models_trained >= 6);
    assert_non_null(a.inc);
    assert_non_null(strstr(a.inc, "h0 (ocsvm, top: m,host=h0 b)"));
    /* the first model goes live at row 200 + 10 min: nothing before */
    assert_int_equal(a.opens >= 1, 1);
    assert_string_equal(a.inc, b.inc);
    assert_string_equal(a.sc, b.sc);
    mend_engine_free(ea);
    mend_engine_free(eb);
    out_free(&a);
    out_free(&b);
    mend_ocsvm_kind_fini(&g_conf);
    /* rows 200 and 350 are trainings under way (live 10 minutes = 10 rows
     * later): cut there and elsewhere */
    size_t per_row = 2 * 3;
    size_t cuts[] = {100 * per_row, 203 * per_row + 1, 355 * per_row, 520 * per_row + 4,
                     605 * per_row};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++)
        check_resume(&c, &l, cuts[i]);
    free(l.p);
}

/* Many entities retraining often while ingest goes on: the loop thread
 * scores and learns, the trainer fits, models change hands at go-live. Run
 * under ThreadSanitizer by `make tsan`; the output must not depend on the
 * worker's pace. */
static void test_engine_concurrent_retrain(void **state)
{
    (void)state;
    struct mend_engine_conf c;
    conf_engine(&c);
    c.mvg_enabled = 1; /* both kinds, as the pipeline runs them */
    conf_small(&g_conf);
    g_conf.train_rows = 100;
    g_conf.retrain_every = 32;
    g_conf.train_delay_ns = 20 * 60 * SEC; /* trainings overlap with ingest */
    struct load l = {0};
    workload(&l, 8, 400, 300);
    struct out a = {0}, b = {0};
    struct mend_engine *ea = h_make(&a, &c), *eb = h_make(&b, &c);
    add_ocsvm(ea);
    add_ocsvm(eb);
    /* interleave the two engines so two sets of jobs share the CPU */
    for (size_t i = 0; i < l.n; i += 500) {
        assert_int_equal(load_feed(ea, &l, i, i + 500), MEND_OK);
        assert_int_equal(load_feed(eb, &l, i, i + 500), MEND_OK);
    }
    struct mend_engine_stats st;
    mend_engine_stats(ea, &st);
    assert_true(st.models_trained >= 8 * 6);
    assert_string_equal(a.inc, b.inc);
    assert_string_equal(a.sc, b.sc);
    mend_engine_free(ea);
    mend_engine_free(eb);
    out_free(&a);
    out_free(&b);
    mend_ocsvm_kind_fini(&g_conf);
    free(l.p);
}

/* ---- configuration -------------------------------------------------------- */

static void test_config(void **state)
{
    (void)state;
    char err[512];
    struct mend_config *cfg = malloc(sizeof *cfg);
    assert_non_null(cfg);
    mend_config_defaults(cfg);
    struct mend_ocsvm_engine_conf d;
    mend_ocsvm_engine_conf_defaults(&d);
    if (mend_conf_defaults_match(&mend_ocsvm_conf_map, &d, "ocsvm", err, sizeof err))
        fail_msg("%s", err);
    assert_int_equal(cfg->engine.ocsvm.enabled, d.enabled);
    const char *yaml = "ocsvm:\n  enabled: true\n  threshold: 1e-6\n  train_rows: 500\n"
                       "  retrain_every: 0\n  train_delay: 2m\n  lags: 2\n  diffs: false\n"
                       "  missing: skip\n  nu: 0.05\n  gamma: 0.5\n  max_train: 300\n"
                       "  select: true\n  tol: 0.01\n  seed: 9\n  model: models/x\n";
    assert_int_equal(mend_config_load_buf(cfg, "t.yaml", yaml, strlen(yaml), err, sizeof err),
                     MEND_OK);
    const struct mend_ocsvm_engine_conf *o = &cfg->engine.ocsvm;
    assert_int_equal(o->enabled, 1);
    assert_true(o->threshold == 1e-6);
    assert_int_equal(o->train_rows, 500);
    assert_int_equal(o->retrain_every, 0);
    assert_true(o->train_delay_ns == 120 * SEC);
    assert_int_equal(o->lib.lags, 2);
    assert_int_equal(o->lib.diffs, 0);
    assert_int_equal(o->lib.missing, MEND_OCSVM_MISSING_SKIP);
    assert_true(o->lib.nu == 0.05 && o->lib.gamma == 0.5 && o->lib.tol == 0.01);
    assert_int_equal(o->lib.max_train, 300);
    assert_int_equal(o->lib.select, 1);
    assert_int_equal(o->lib.seed, 9);
    assert_string_equal(o->model_dir, "models/x");
    /* bad values name the key */
    assert_int_equal(mend_config_set(cfg, "ocsvm.nu", "2", err, sizeof err), MEND_EINVAL);
    assert_non_null(strstr(err, "ocsvm.nu"));
    assert_int_equal(mend_config_set(cfg, "ocsvm.missing", "drop", err, sizeof err), MEND_EINVAL);
    assert_non_null(strstr(err, "ocsvm.missing"));
    assert_int_equal(mend_config_set(cfg, "ocsvm.lags", "17", err, sizeof err), MEND_EINVAL);
    assert_int_equal(mend_config_set(cfg, "ocsvm.diffs", "maybe", err, sizeof err), MEND_EINVAL);
    assert_non_null(strstr(err, "ocsvm.diffs"));
    free(cfg);
}

/* A model directory through the configuration path: the committed demo
 * model loads with the default features and is bound to the entity that has
 * its series; other features are refused naming the difference; a damaged
 * file or a missing directory is refused naming the file. */
static void test_model_dir(void **state)
{
    (void)state;
    char err[512] = "";
    struct mend_ocsvm_engine_conf c;
    struct mend_model_kind k;
    mend_ocsvm_engine_conf_defaults(&c);
    c.enabled = 1;
    snprintf(c.model_dir, sizeof c.model_dir, "models/demo-web-2");
    assert_int_equal(mend_ocsvm_kind_init(&c, &k, err, sizeof err), MEND_OK);
    assert_non_null(c.pretrained);
    assert_ptr_equal(k.ops, &mend_model_ocsvm);
    /* bound by series names, whatever the row order; fixed (not retrained) */
    const char *keys[7] = {"mem,host=web-2 used_percent", "cpu,host=web-2 usage_user",
                           "other", "http,host=web-2 latency_ms", "cpu,host=web-2 usage_idle",
                           "http,host=web-2 requests", "cpu,host=web-2 usage_system"};
    size_t lens[7];
    for (int i = 0; i < 7; i++)
        lens[i] = strlen(keys[i]);
    void *m = NULL;
    assert_int_equal(mend_model_ocsvm.create_named(&c, "web-2", 5, keys, lens, 7, &m), MEND_OK);
    assert_int_equal(mend_model_ocsvm.trained(m), 2);
    assert_int_equal(mend_model_ocsvm.dim(m), 7);
    mend_model_ocsvm.destroy(m);
    /* another entity: a shell, trained online */
    keys[0] = "mem,host=web-1 used_percent";
    assert_int_equal(mend_model_ocsvm.create_named(&c, "web-1", 5, keys, lens, 7, &m), MEND_OK);
    assert_int_equal(mend_model_ocsvm.trained(m), 0);
    mend_model_ocsvm.destroy(m);
    mend_ocsvm_kind_fini(&c);
    assert_null(c.pretrained);

    c.lib.lags = 2;
    assert_int_equal(mend_ocsvm_kind_init(&c, &k, err, sizeof err), MEND_EINVAL);
    assert_non_null(strstr(err, "models/demo-web-2"));
    assert_non_null(strstr(err, "lags"));
    assert_null(c.pretrained);
    c.lib.lags = 0;
    snprintf(c.model_dir, sizeof c.model_dir, "tests/fixtures/ocsvm/corrupt");
    assert_int_equal(mend_ocsvm_kind_init(&c, &k, err, sizeof err), MEND_ECORRUPT);
    assert_non_null(strstr(err, "tests/fixtures/ocsvm/corrupt/model.bin"));
    snprintf(c.model_dir, sizeof c.model_dir, "tests/fixtures/ocsvm/none");
    assert_int_equal(mend_ocsvm_kind_init(&c, &k, err, sizeof err), MEND_EIO);
    assert_non_null(strstr(err, "tests/fixtures/ocsvm/none"));
}

/* ---- the CLI ------------------------------------------------------------------ */

static char *run_capture(const char *cmd, int *status)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (len + 1 == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    buf[len] = '\0';
    *status = pclose(p);
    return buf;
}

/* `mend replay` of the demo recording with the SVM trained and retrained in
 * the background, twice: the same incident bytes; and the configuration
 * errors of a model directory reach the user with exit code and message. */
static void test_cli(void **state)
{
    (void)state;
    char cmd[1024];
    const char *set = "--set ocsvm.enabled=true --set ocsvm.train_rows=300 "
                      "--set ocsvm.retrain_every=200 --set ocsvm.threshold=1e-3 --quiet";
    snprintf(cmd, sizeof cmd, "'%s' replay --config data/demo.yaml %s --incidents - data/demo.lp",
             mend_bin(), set);
    int s1, s2;
    char *a = run_capture(cmd, &s1), *b = run_capture(cmd, &s2);
    assert_int_equal(s1, 0);
    assert_int_equal(s2, 0);
    assert_true(strlen(a) > 1000);
    assert_non_null(strstr(a, "(ocsvm, top: "));
    assert_string_equal(a, b);
    free(a);
    free(b);
    /* mismatch: usage error (2) naming the difference */
    snprintf(cmd, sizeof cmd,
             "'%s' replay --set ocsvm.enabled=true --set ocsvm.lags=1 --set ocsvm.model=models/demo-web-2 "
             "--quiet data/demo.lp 2>&1 >/dev/null",
             mend_bin());
    a = run_capture(cmd, &s1);
    assert_true(WIFEXITED(s1) && WEXITSTATUS(s1) == 2);
    assert_non_null(strstr(a, "does not match"));
    free(a);
    /* damaged: runtime error (1) naming the file */
    snprintf(cmd, sizeof cmd,
             "'%s' replay --set ocsvm.enabled=true --set ocsvm.model=tests/fixtures/ocsvm/corrupt "
             "--quiet data/demo.lp 2>&1 >/dev/null",
             mend_bin());
    a = run_capture(cmd, &s1);
    assert_true(WIFEXITED(s1) && WEXITSTATUS(s1) == 1);
    assert_non_null(strstr(a, "corrupt/model.bin"));
    free(a);
}

static void quiet(const char *s)
{
    (void)s;
}

int main(void)
{
    svm_set_print_string_function(quiet); /* once, before any thread trains */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ops),
        cmocka_unit_test(test_hold_back),
        cmocka_unit_test(test_engine_background),
        cmocka_unit_test(test_engine_concurrent_retrain),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_model_dir),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests_name("model_ocsvm", tests, NULL, NULL);
}
