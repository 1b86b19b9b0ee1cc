/* test_engine.c -- the detection loop end to end in-process: anomaly and
 * absence events become incidents, late samples, caps, the multivariate
 * model, and a run stopped half-way and resumed from its saved state giving
 * exactly the scores and incidents of an uninterrupted run. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <gsl/gsl_errno.h>

#include "mend/engine.h"

#define SEC 1000000000LL

struct out {
    char *inc;      /* all incident lines, newline-separated */
    size_t inc_len, inc_cap;
    double *scores;
    size_t n_scores, cap_scores;
    int opens, resolves, absence_seen, mv_seen;
};

static void append(struct out *o, const char *s, size_t n)
{
    if (o->inc_len + n + 2 > o->inc_cap) {
        o->inc_cap = (o->inc_len + n + 2) * 2;
        o->inc = realloc(o->inc, o->inc_cap);
        assert_non_null(o->inc);
    }
    memcpy(o->inc + o->inc_len, s, n);
    o->inc_len += n;
    o->inc[o->inc_len++] = '\n';
    o->inc[o->inc_len] = '\0';
}

static void on_inc(void *ctx, const char *status, const struct mend_incident *inc, const char *json, size_t len)
{
    struct out *o = ctx;
    append(o, json, len);
    o->opens += !strcmp(status, "open");
    o->resolves += !strcmp(status, "resolve");
    for (uint32_t i = 0; i < inc->n_signals; i++) {
        o->absence_seen |= inc->signals[i].kind == MEND_ANOM_ABSENCE;
        o->mv_seen |= inc->signals[i].kind == MEND_ANOM_MULTIVARIATE;
    }
}

static void on_score(void *ctx, const struct mend_series *s, int64_t t, double v, double score)
{
    (void)s;
    (void)t;
    (void)v;
    struct out *o = ctx;
    if (o->n_scores == o->cap_scores) {
        o->cap_scores = o->cap_scores ? o->cap_scores * 2 : 1024;
        o->scores = realloc(o->scores, o->cap_scores * sizeof *o->scores);
        assert_non_null(o->scores);
    }
    o->scores[o->n_scores++] = score;
}

static void out_free(struct out *o)
{
    free(o->inc);
    free(o->scores);
    memset(o, 0, sizeof *o);
}

/* A deterministic workload: two hosts, three series each, 1-minute steps;
 * a spike on a's cpu at step 1500, b's disk goes silent at step 1800, and
 * from step 1300 to 1310 a's two correlated series decouple. */
static void feed(struct mend_engine *e, int from, int to)
{
    uint64_t x = 42;
    for (int k = 0; k < to; k++) {
        for (int h = 0; h < 2; h++) {
            const char *ent = h ? "b" : "a";
            for (int f = 0; f < 3; f++) {
                x = x * 6364136223846793005ULL + 1442695040888963407ULL;
                double noise = ((double)(x >> 11) / 9007199254740992.0 - 0.5);
                double base = 50 + 10 * sin(k / 50.0);
                double v = f == 0 ? base + noise : f == 1 ? 2 * base + noise : 10 + noise;
                if (h == 0 && f == 0 && k == 1500)
                    v += 40;
                if (h == 0 && f == 1 && k >= 1300 && k < 1310)
                    v = 2 * (100 - base) + noise; /* breaks f0/f1 correlation, each within range */
                if (h == 1 && f == 2 && k >= 1800)
                    continue;
                if (k < from)
                    continue;
                char key[64];
                snprintf(key, sizeof key, "m,host=%s f%d", ent, f);
                struct mend_point p = {.key = key, .key_len = strlen(key), .entity = ent, .entity_len = 1,
                                       .time_ns = (int64_t)k * 60 * SEC, .has_time = 1, .value = v};
                assert_int_equal(mend_engine_point(e, &p), MEND_OK);
            }
        }
    }
}

static struct mend_engine *make(struct out *o, const struct mend_engine_conf *c)
{
    struct mend_incident_out io = {on_inc, o};
    struct mend_score_out so = {on_score, o};
    struct mend_engine *e;
    assert_int_equal(mend_engine_new(c, &io, &so, &e), MEND_OK);
    return e;
}

static void test_events_and_incidents(void **state)
{
    (void)state;
    struct mend_engine_conf c;
    mend_engine_conf_defaults(&c);
    struct out o = {0};
    struct mend_engine *e = make(&o, &c);
    feed(e, 0, 2000);
    struct mend_engine_stats st;
    mend_engine_stats(e, &st);
    assert_int_equal(st.series, 6);
    assert_int_equal(st.entities, 2);
    assert_int_equal(st.points, 2000 * 6 - 200);
    assert_int_equal(st.scored, st.points);
    assert_int_equal(o.n_scores, st.points);
    for (size_t i = 0; i < o.n_scores; i++)
        assert_true(o.scores[i] >= 0 && o.scores[i] <= 1);
    assert_true(st.anomalies >= 1);
    assert_int_equal(st.absences, 1);
    assert_true(o.absence_seen);
    assert_true(st.multivariate >= 1);
    assert_true(o.mv_seen);
    /* the spike is reported on the right series */
    assert_non_null(strstr(o.inc, "\"key\":\"m,host=a f0\""));
    assert_non_null(strstr(o.inc, "\"key\":\"m,host=b f2\",\"kind\":\"absence\""));
    assert_true(o.opens >= 2);
    assert_true(o.resolves >= 1);
    mend_engine_free(e);
    out_free(&o);
}

static void test_resume_equals_uninterrupted(void **state)
{
    (void)state;
    struct mend_engine_conf c;
    mend_engine_conf_defaults(&c);
    struct out full = {0}, part = {0};
    struct mend_engine *e = make(&full, &c);
    feed(e, 0, 2000);
    mend_engine_free(e);

    /* stop at step 1400 (mid-way, the multivariate models warm and an
     * incident open), save, load into a fresh engine, finish */
    e = make(&part, &c);
    feed(e, 0, 1400);
    struct mend_wbuf w;
    mend_wbuf_init(&w);
    assert_int_equal(mend_engine_save(e, &w), MEND_OK);
    mend_engine_free(e);
    e = make(&part, &c);
    struct mend_rbuf r;
    mend_rbuf_init(&r, w.data, w.len);
    assert_int_equal(mend_engine_load(e, &r), MEND_OK);
    feed(e, 1400, 2000);
    mend_engine_free(e);

    assert_int_equal(part.n_scores, full.n_scores);
    assert_memory_equal(part.scores, full.scores, full.n_scores * sizeof *full.scores);
    assert_string_equal(part.inc, full.inc);

    /* damaged state is refused, never half-loaded into a usable engine */
    struct out o = {0};
    for (size_t cut = 1; cut < w.len; cut += w.len / 13 + 1) {
        e = make(&o, &c);
        mend_rbuf_init(&r, w.data, cut);
        assert_int_not_equal(mend_engine_load(e, &r), MEND_OK);
        mend_engine_free(e);
    }
    /* a different configuration is refused */
    struct mend_engine_conf c2 = c;
    c2.series.ring_cap = 64;
    e = make(&o, &c2);
    mend_rbuf_init(&r, w.data, w.len);
    assert_int_equal(mend_engine_load(e, &r), MEND_EVERSION);
    mend_engine_free(e);
    mend_wbuf_fini(&w);
    out_free(&full);
    out_free(&part);
    out_free(&o);
}

static void test_checkpoint_file(void **state)
{
    (void)state;
    struct mend_engine_conf c;
    mend_engine_conf_defaults(&c);
    char dir[] = "/tmp/mend-test-engine-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], err[512];
    snprintf(path, sizeof path, "%s/state.ckpt", dir);
    struct out o = {0};
    struct mend_engine *e = make(&o, &c);
    assert_int_equal(mend_engine_restore(e, path, err, sizeof err), MEND_ENOTFOUND);
    feed(e, 0, 300);
    assert_int_equal(mend_engine_checkpoint(e, path, err, sizeof err), MEND_OK);
    mend_engine_free(e);
    e = make(&o, &c);
    assert_int_equal(mend_engine_restore(e, path, err, sizeof err), MEND_OK);
    struct mend_engine_stats st;
    mend_engine_stats(e, &st);
    assert_int_equal(st.series, 6);
    assert_int_equal(st.points, 1800);
    mend_engine_free(e);
    /* flip one byte in the middle: refused with a message naming the file */
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, 100, SEEK_SET);
    int ch = fgetc(f);
    fseek(f, 100, SEEK_SET);
    fputc(ch ^ 0x40, f);
    fclose(f);
    e = make(&o, &c);
    assert_int_equal(mend_engine_restore(e, path, err, sizeof err), MEND_ECORRUPT);
    assert_non_null(strstr(err, path));
    mend_engine_free(e);
    unlink(path);
    rmdir(dir);
    out_free(&o);
}

static void test_late_and_caps(void **state)
{
    (void)state;
    struct mend_engine_conf c;
    mend_engine_conf_defaults(&c);
    c.series.max_series = 2;
    c.lateness_ns = 5 * SEC;
    struct out o = {0};
    struct mend_engine *e = make(&o, &c);
    struct mend_point p = {.key = "a", .key_len = 1, .time_ns = 100 * SEC, .has_time = 1, .value = 1};
    assert_int_equal(mend_engine_point(e, &p), MEND_OK);
    p.time_ns = 97 * SEC; /* within lateness: scored */
    assert_int_equal(mend_engine_point(e, &p), MEND_OK);
    p.time_ns = 90 * SEC; /* too late: dropped */
    assert_int_equal(mend_engine_point(e, &p), MEND_OK);
    p.key = "b";
    p.time_ns = 101 * SEC;
    assert_int_equal(mend_engine_point(e, &p), MEND_OK);
    p.key = "c"; /* over the series cap: refused */
    assert_int_equal(mend_engine_point(e, &p), MEND_OK);
    p.key = "a";
    p.has_time = 0; /* no timestamp: takes the watermark */
    assert_int_equal(mend_engine_point(e, &p), MEND_OK);
    struct mend_engine_stats st;
    mend_engine_stats(e, &st);
    assert_int_equal(st.points, 6);
    assert_int_equal(st.scored, 4);
    assert_int_equal(st.late_dropped, 1);
    assert_int_equal(st.refused_series, 1);
    assert_int_equal(st.no_time, 1);
    assert_int_equal(st.series, 2);
    assert_int_equal(mend_registry_find(mend_engine_registry(e), "a", 1)->last_t, 101 * SEC);
    mend_engine_free(e);
    out_free(&o);
}

/* Members that never report at the same time give rows of holes: they are
 * skipped and counted rather than each costing a fresh factorisation. */
static void test_sparse_rows_skipped(void **state)
{
    (void)state;
    struct mend_engine_conf c;
    mend_engine_conf_defaults(&c);
    struct out o = {0};
    struct mend_engine *e = make(&o, &c);
    char key[32];
    for (int k = 0; k < 400; k++) {
        int f = k % 4; /* one member per timestamp */
        snprintf(key, sizeof key, "m,host=h f%d", f);
        struct mend_point p = {.key = key, .key_len = strlen(key), .entity = "h", .entity_len = 1,
                               .time_ns = (int64_t)k * SEC, .has_time = 1, .value = (double)(k % 7)};
        assert_int_equal(mend_engine_point(e, &p), MEND_OK);
    }
    struct mend_engine_stats st;
    mend_engine_stats(e, &st);
    /* rows close from the second timestamp on; the first 3 close before all 4
     * members joined (1 of 1, 2, 3 filled -> dim < 2 or half filled) */
    assert_true(st.sparse_rows >= 390);
    assert_int_equal(st.multivariate, 0);
    mend_engine_free(e);
    out_free(&o);
}

int main(void)
{
    gsl_set_error_handler_off();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_events_and_incidents),
        cmocka_unit_test(test_resume_equals_uninterrupted),
        cmocka_unit_test(test_checkpoint_file),
        cmocka_unit_test(test_late_and_caps),
        cmocka_unit_test(test_sparse_rows_skipped),
    };
    return cmocka_run_group_tests_name("engine", tests, NULL, NULL);
}
