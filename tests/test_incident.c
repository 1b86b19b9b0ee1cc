/* test_incident.c -- grouping of anomaly events into incidents, JSON lines,
 * resolution in event time, caps, and save/load. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mend/incident.h"

#define SEC 1000000000LL

struct capture {
    char lines[32][2048];
    char status[32][8];
    int n;
};

static void cap_emit(void *ctx, const char *status, const struct mend_incident *inc, const char *json, size_t len)
{
    (void)inc;
    struct capture *c = ctx;
    assert_true(c->n < 32);
    assert_true(len < sizeof c->lines[0]);
    memcpy(c->lines[c->n], json, len);
    c->lines[c->n][len] = '\0';
    snprintf(c->status[c->n], sizeof c->status[0], "%s", status);
    c->n++;
}

static struct mend_anomaly ev(uint32_t sid, uint32_t ent, const char *key, const char *entity, int64_t t, double score)
{
    struct mend_anomaly a = {
        .kind = MEND_ANOM_SCORE, .series_id = sid, .entity_id = ent, .key = key, .key_len = strlen(key),
        .entity = entity, .entity_len = entity ? strlen(entity) : 0, .t_ns = t, .score = score, .value = 1.5,
        .expected = NAN};
    return a;
}

static void test_group_update_resolve(void **state)
{
    (void)state;
    struct capture cap = {0};
    struct mend_incident_conf c;
    mend_incident_conf_defaults(&c);
    c.resolve_after_ns = 60 * SEC;
    struct mend_incident_out out = {cap_emit, &cap};
    struct mend_incidents *s;
    assert_int_equal(mend_incidents_new(&c, &out, &s), MEND_OK);

    struct mend_anomaly a = ev(0, 1, "cpu,host=a usage", "a", 1000 * SEC, 0.9);
    assert_int_equal(mend_incidents_add(s, &a), MEND_OK);
    assert_int_equal(cap.n, 1);
    assert_string_equal(cap.status[0], "open");
    assert_string_equal(cap.lines[0],
                        "{\"type\":\"open\",\"incident\":1,\"entity\":\"a\",\"time\":\"1970-01-01T00:16:40Z\","
                        "\"time_ns\":1000000000000,\"start\":\"1970-01-01T00:16:40Z\",\"start_ns\":1000000000000,"
                        "\"last\":\"1970-01-01T00:16:40Z\",\"last_ns\":1000000000000,\"max_score\":0.9,\"events\":1,"
                        "\"signals_dropped\":0,\"signals\":[{\"key\":\"cpu,host=a usage\",\"kind\":\"score\","
                        "\"first\":\"1970-01-01T00:16:40Z\",\"first_ns\":1000000000000,\"score\":0.9,"
                        "\"value\":1.5,\"expected\":null,\"events\":1}]}");
    /* another signal of the same entity within resolve_after joins it */
    struct mend_anomaly b = ev(1, 1, "mem,host=a \"used\"", "a", 1030 * SEC, 0.95);
    assert_int_equal(mend_incidents_add(s, &b), MEND_OK);
    assert_int_equal(cap.n, 2);
    assert_string_equal(cap.status[1], "update");
    assert_non_null(strstr(cap.lines[1], "\"key\":\"mem,host=a \\\"used\\\"\""));
    assert_non_null(strstr(cap.lines[1], "\"max_score\":0.95"));
    /* another entity opens its own incident */
    struct mend_anomaly d = ev(2, 2, "cpu,host=b usage", "b", 1040 * SEC, 0.8);
    assert_int_equal(mend_incidents_add(s, &d), MEND_OK);
    assert_string_equal(cap.status[2], "open");
    assert_non_null(strstr(cap.lines[2], "\"incident\":2"));
    /* the same signal firing again with a lower score changes nothing visible */
    struct mend_anomaly a2 = ev(0, 1, "cpu,host=a usage", "a", 1050 * SEC, 0.5);
    assert_int_equal(mend_incidents_add(s, &a2), MEND_OK);
    assert_int_equal(cap.n, 3);

    /* not yet quiet for 60 s */
    mend_incidents_advance(s, 1100 * SEC);
    assert_int_equal(cap.n, 3);
    mend_incidents_advance(s, 1101 * SEC);
    /* incident 2 (last event 1040) resolves first; 1 (last 1050) not yet */
    assert_int_equal(cap.n, 4);
    assert_string_equal(cap.status[3], "resolve");
    assert_non_null(strstr(cap.lines[3], "\"incident\":2"));
    mend_incidents_advance(s, 1111 * SEC);
    assert_int_equal(cap.n, 5);
    assert_non_null(strstr(cap.lines[4], "\"incident\":1"));
    assert_non_null(strstr(cap.lines[4], "\"events\":3"));
    struct mend_incident_stats st;
    mend_incidents_stats(s, &st);
    assert_int_equal(st.opened, 2);
    assert_int_equal(st.resolved, 2);
    assert_int_equal(st.open_now, 0);
    /* a new event for entity 1 after resolution opens incident 3 */
    struct mend_anomaly a3 = ev(0, 1, "cpu,host=a usage", "a", 2000 * SEC, 0.9);
    assert_int_equal(mend_incidents_add(s, &a3), MEND_OK);
    assert_non_null(strstr(cap.lines[5], "\"incident\":3"));
    mend_incidents_free(s);
}

static void test_caps_and_global_scope(void **state)
{
    (void)state;
    struct capture cap = {0};
    struct mend_incident_conf c;
    mend_incident_conf_defaults(&c);
    c.max_signals = 2;
    c.max_open = 1;
    c.group_by_entity = 0;
    struct mend_incident_out out = {cap_emit, &cap};
    struct mend_incidents *s;
    assert_int_equal(mend_incidents_new(&c, &out, &s), MEND_OK);
    struct mend_anomaly a = ev(0, 1, "x", "a", 10 * SEC, 0.9), b = ev(1, 2, "y", "b", 11 * SEC, 0.9),
                        d = ev(2, 3, "z", "c", 12 * SEC, 0.9);
    assert_int_equal(mend_incidents_add(s, &a), MEND_OK);
    assert_int_equal(mend_incidents_add(s, &b), MEND_OK); /* same global incident */
    assert_int_equal(mend_incidents_add(s, &d), MEND_OK); /* third signal: dropped, counted */
    assert_int_equal(cap.n, 2);
    assert_non_null(strstr(cap.lines[1], "\"entity\":\"\""));
    mend_incidents_advance(s, 13 * SEC);
    struct mend_incident_stats st;
    mend_incidents_stats(s, &st);
    assert_int_equal(st.open_now, 1);
    mend_incidents_free(s);

    /* the open-incident cap refuses and counts */
    c.group_by_entity = 1;
    cap.n = 0;
    assert_int_equal(mend_incidents_new(&c, &out, &s), MEND_OK);
    assert_int_equal(mend_incidents_add(s, &a), MEND_OK);
    assert_int_equal(mend_incidents_add(s, &b), MEND_ECAP);
    mend_incidents_stats(s, &st);
    assert_int_equal(st.refused, 1);
    mend_incidents_free(s);
}

static void test_save_load(void **state)
{
    (void)state;
    struct capture c1 = {0}, c2 = {0};
    struct mend_incident_conf c;
    mend_incident_conf_defaults(&c);
    struct mend_incident_out o1 = {cap_emit, &c1}, o2 = {cap_emit, &c2};
    struct mend_incidents *s, *t;
    assert_int_equal(mend_incidents_new(&c, &o1, &s), MEND_OK);
    assert_int_equal(mend_incidents_new(&c, &o2, &t), MEND_OK);
    struct mend_anomaly a = ev(0, 1, "x", "a", 10 * SEC, 0.9), b = ev(1, 1, "y", "a", 11 * SEC, 0.7);
    mend_incidents_add(s, &a);
    mend_incidents_add(s, &b);
    struct mend_wbuf w;
    mend_wbuf_init(&w);
    assert_int_equal(mend_incidents_save(s, &w), MEND_OK);
    struct mend_rbuf r;
    mend_rbuf_init(&r, w.data, w.len);
    assert_int_equal(mend_incidents_load(t, &r, 2, 2), MEND_OK);
    assert_int_equal(r.off, w.len);
    /* both resolve identically */
    mend_incidents_advance(s, 10000 * SEC);
    mend_incidents_advance(t, 10000 * SEC);
    assert_int_equal(c2.n, 1);
    assert_string_equal(c1.lines[c1.n - 1], c2.lines[0]);
    /* truncated state is refused */
    for (size_t cut = 0; cut < w.len; cut += 7) {
        mend_rbuf_init(&r, w.data, cut);
        assert_int_not_equal(mend_incidents_load(t, &r, 2, 2), MEND_OK);
    }
    mend_wbuf_fini(&w);
    mend_incidents_free(s);
    mend_incidents_free(t);
}

static void test_time_format(void **state)
{
    (void)state;
    char b[64];
    assert_string_equal(mend_time_format(1397114100LL * SEC, b, sizeof b), "2014-04-10T07:15:00Z");
    assert_string_equal(mend_time_format(1397114100LL * SEC + 250000000, b, sizeof b), "2014-04-10T07:15:00.250Z");
    assert_string_equal(mend_time_format(1397114100LL * SEC + 1, b, sizeof b), "2014-04-10T07:15:00.000000001Z");
    assert_string_equal(mend_time_format(-1, b, sizeof b), "1969-12-31T23:59:59.999999999Z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_update_resolve),
        cmocka_unit_test(test_caps_and_global_scope),
        cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_time_format),
    };
    return cmocka_run_group_tests_name("incident", tests, NULL, NULL);
}
