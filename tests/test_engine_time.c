/* test_engine_time.c -- event time done right: one far-future sample does
 * not move the clock for everyone, a host whose clock lags is not called
 * absent, a real gap in a recording is crossed without losing samples,
 * jittered members of an entity still share rows, and extreme timestamps
 * neither overflow nor crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <gsl/gsl_errno.h>

#include "engine_harness.h"

/* Three hosts, three series each, one sample a minute; a spike on a's
 * first series at step 300. extra: a line dated 2200 at step 200. */
static void fleet(struct load *l, int steps, int extra)
{
    uint64_t x = 7;
    char key[64], ent[8];
    for (int k = 0; k < steps; k++) {
        for (int h = 0; h < 3; h++) {
            snprintf(ent, sizeof ent, "%c", 'a' + h);
            for (int f = 0; f < 3; f++) {
                snprintf(key, sizeof key, "m,host=%s f%d", ent, f);
                double v = 10 * (f + 1) + h_noise(&x) + (h == 0 && f == 0 && k == 300 ? 30 : 0);
                load_add(l, key, ent, (int64_t)k * 60 * SEC, v);
            }
        }
        if (extra && k == 200)
            load_add(l, "m,host=b f1", "b", (int64_t)7258118400LL * SEC, 1.0); /* 2200-01-01 */
    }
}

static void test_far_future_sample_refused(void **state)
{
    (void)state;
    struct mend_engine_conf c;
    mend_engine_conf_defaults(&c);
    struct load clean = {0}, dirty = {0};
    fleet(&clean, 600, 0);
    fleet(&dirty, 600, 1);
    struct out a = {0}, b = {0};
    struct mend_engine *ea = h_make(&a, &c), *eb = h_make(&b, &c);
    assert_int_equal(load_feed(ea, &clean, 0, clean.n), MEND_OK);
    assert_int_equal(load_feed(eb, &dirty, 0, dirty.n), MEND_OK);
    struct mend_engine_stats sa, sb;
    mend_engine_stats(ea, &sa);
    mend_engine_stats(eb, &sb);
    assert_int_equal(sb.ahead_refused, 1);
    assert_int_equal(sb.clock_jumps, 0);
    assert_int_equal(sb.watermark, sa.watermark);
    assert_int_equal(sb.absences, 0);
    /* the spike is still found and its incident resolves in time: the
     * output is exactly that of the clean run */
    assert_true(sa.anomalies >= 1);
    assert_true(a.resolves >= 1);
    assert_string_equal(a.inc, b.inc);
    assert_string_equal(a.sc, b.sc);
    mend_engine_free(ea);
    mend_engine_free(eb);
    out_free(&a);
    out_free(&b);
    free(clean.p);
    free(dirty.p);
}

/* Host b's clock runs two minutes behind a's; both report every 100 ms. */
static void test_lagging_host_not_absent(void **state)
{
    (void)state;
    struct mend_engine_conf c;
    mend_engine_conf_defaults(&c);
    struct load l = {0};
    uint64_t x = 3;
    for (int k = 0; k < 6000; k++) {
        int64_t t = (int64_t)k * SEC / 10 + 1000 * SEC;
        load_add(&l, "cpu,host=a v", "a", t, 5 + h_noise(&x));
        load_add(&l, "cpu,host=b v", "b", t - 120 * SEC, 5 + h_noise(&x));
    }
    struct out o = {0};
    struct mend_engine *e = h_make(&o, &c);
    assert_int_equal(load_feed(e, &l, 0, l.n), MEND_OK);
    struct mend_engine_stats st;
    mend_engine_stats(e, &st);
    assert_int_equal(st.scored, 12000);
    assert_int_equal(st.absences, 0);
    assert_int_equal(o.absences, 0);
    /* and when b really stops, it is noticed */
    for (int k = 6000; k < 9000; k++)
        load_add(&l, "cpu,host=a v", "a", (int64_t)k * SEC / 10 + 1000 * SEC, 5 + h_noise(&x));
    assert_int_equal(load_feed(e, &l, 12000, l.n), MEND_OK);
    mend_engine_stats(e, &st);
    assert_int_equal(st.absences, 1);
    assert_non_null(strstr(o.inc, "\"key\":\"cpu,host=b v\",\"kind\":\"absence\""));
    mend_engine_free(e);
    out_free(&o);
    free(l.p);
}

/* A recording with a three-hour gap in everything: the clock crosses it
 * once the samples after the gap confirm each other, and none is lost. */
static void test_gap_crossed(void **state)
{
    (void)state;
    struct mend_engine_conf c;
    mend_engine_conf_defaults(&c);
    for (int hosts = 1; hosts <= 2; hosts++) {
        struct load l = {0};
        uint64_t x = 5;
        for (int k = 0; k < 400; k++) {
            int64_t t = (int64_t)k * 60 * SEC + (k >= 200 ? 3 * 3600 * SEC : 0);
            for (int h = 0; h < hosts; h++)
                for (int f = 0; f < 2; f++) {
                    char key[32], ent[4] = {(char)('a' + h), 0};
                    snprintf(key, sizeof key, "m,host=%s f%d", ent, f);
                    load_add(&l, key, ent, t, 3 + h_noise(&x));
                }
        }
        struct out o = {0};
        struct mend_engine *e = h_make(&o, &c);
        assert_int_equal(load_feed(e, &l, 0, l.n), MEND_OK);
        struct mend_engine_stats st;
        mend_engine_stats(e, &st);
        assert_int_equal(st.clock_jumps, 1);
        assert_int_equal(st.ahead_refused, 0);
        assert_int_equal(st.scored, l.n);
        assert_int_equal(st.watermark, l.p[l.n - 1].t);
        mend_engine_free(e);
        out_free(&o);
        free(l.p);
    }
}

/* Two collector inputs report a host's series a millisecond apart: the
 * entity's rows still hold all members, and the multivariate events are
 * those of the aligned feed. */
static void jitter_load(struct load *l, int64_t jitter)
{
    uint64_t x = 11;
    for (int k = 0; k < 1500; k++) {
        int64_t t = (int64_t)k * 10 * SEC;
        double base = h_noise(&x) * 4;
        double a = 50 + base + h_noise(&x) * 0.2, b = 2 * (50 + base) + h_noise(&x) * 0.2;
        if (k >= 1200 && k < 1205)
            b = 2 * (50 - base) + 5; /* the two decouple, each within its range */
        load_add(l, "m,host=h a", "h", t, a);
        load_add(l, "m,host=h b", "h", t + jitter, b);
        load_add(l, "m,host=h c", "h", t + 2 * jitter, 7 + h_noise(&x));
    }
}

static void test_jittered_rows(void **state)
{
    (void)state;
    struct mend_engine_conf c;
    mend_engine_conf_defaults(&c);
    struct load al = {0}, jl = {0};
    jitter_load(&al, 0);
    jitter_load(&jl, SEC / 1000);
    struct out ao = {0}, jo = {0};
    struct mend_engine *ea = h_make(&ao, &c), *ej = h_make(&jo, &c);
    assert_int_equal(load_feed(ea, &al, 0, al.n), MEND_OK);
    assert_int_equal(load_feed(ej, &jl, 0, jl.n), MEND_OK);
    struct mend_engine_stats sa, sj;
    mend_engine_stats(ea, &sa);
    mend_engine_stats(ej, &sj);
    assert_true(sa.multivariate >= 1);
    assert_int_equal(sj.multivariate, sa.multivariate);
    assert_true(sj.sparse_rows <= sa.sparse_rows + 2); /* rows before the intervals are known */
    assert_true(ao.mv > 0);
    assert_int_equal(jo.mv, ao.mv);
    mend_engine_free(ea);
    mend_engine_free(ej);
    out_free(&ao);
    out_free(&jo);
    free(al.p);
    free(jl.p);
}

/* Timestamps at the ends of the int64 range: nothing overflows (the ASan
 * build aborts on signed overflow), and the clock guard holds. */
static void test_extreme_times(void **state)
{
    (void)state;
    struct mend_engine_conf c;
    mend_engine_conf_defaults(&c);
    c.lateness_ns = INT64_MAX;
    struct out o = {0};
    struct mend_engine *e = h_make(&o, &c);
    int64_t ts[] = {INT64_MIN + 1, INT64_MIN + 2, -5 * SEC, 0, INT64_MAX - 3, INT64_MAX - 2, INT64_MAX,
                    INT64_MAX, 1000 * SEC, INT64_MIN};
    for (int rep = 0; rep < 3; rep++)
        for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
            struct mend_point p = {.key = i % 2 ? "x" : "y", .key_len = 1, .entity = "h", .entity_len = 1,
                                   .time_ns = ts[i], .has_time = 1, .value = (double)i};
            assert_int_equal(mend_engine_point(e, &p), MEND_OK);
        }
    mend_engine_advance(e, INT64_MAX);
    struct mend_wbuf w;
    mend_wbuf_init(&w);
    assert_int_equal(mend_engine_save(e, &w), MEND_OK);
    struct out o2 = {0};
    struct mend_engine *e2 = h_make(&o2, &c);
    struct mend_rbuf r;
    mend_rbuf_init(&r, w.data, w.len);
    assert_int_equal(mend_engine_load(e2, &r), MEND_OK);
    mend_engine_free(e2);
    mend_wbuf_fini(&w);
    mend_engine_free(e);
    out_free(&o);
    out_free(&o2);
}

int main(void)
{
    gsl_set_error_handler_off();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_far_future_sample_refused),
        cmocka_unit_test(test_lagging_host_not_absent),
        cmocka_unit_test(test_gap_crossed),
        cmocka_unit_test(test_jittered_rows),
        cmocka_unit_test(test_extreme_times),
    };
    return cmocka_run_group_tests_name("engine_time", tests, NULL, NULL);
}
