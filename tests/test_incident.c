/* test_incident.c -- grouping of anomaly events into incidents, JSON lines,
 * resolution in event time, caps, save/load, and loads of crafted
 * checkpoint sections (each id checked against the counts it refers to).
 * Every line emitted here is also checked as JSON by jansson. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <unistd.h>

#include "incident_capture.h"
#include "mend/incident.h"
#include "mend/output.h"

#define SEC 1000000000LL

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
                        "\"series\":{\"name\":\"cpu\",\"labels\":{\"host\":\"a\"},\"field\":\"usage\"},"
                        "\"first\":\"1970-01-01T00:16:40Z\",\"first_ns\":1000000000000,"
                        "\"start\":\"1970-01-01T00:16:40Z\",\"start_ns\":1000000000000,\"score\":0.9,"
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
    /* the same signal firing again, even with a lower score, is a line of
     * its own: the event's time and signal, and the signal's new start */
    struct mend_anomaly a2 = ev(0, 1, "cpu,host=a usage", "a", 1050 * SEC, 0.5);
    assert_int_equal(mend_incidents_add(s, &a2), MEND_OK);
    assert_int_equal(cap.n, 4);
    assert_string_equal(cap.status[3], "update");
    assert_non_null(strstr(cap.lines[3], "\"event\":{\"key\":\"cpu,host=a usage\",\"kind\":\"score\","
                                         "\"time\":\"1970-01-01T00:17:30Z\""));
    assert_non_null(strstr(cap.lines[3], "\"first_ns\":1000000000000,\"start\":\"1970-01-01T00:17:30Z\""));
    assert_non_null(strstr(cap.lines[3], "\"score\":0.9,")); /* the signal keeps its highest */

    /* not yet quiet for 60 s */
    mend_incidents_advance(s, 1100 * SEC);
    assert_int_equal(cap.n, 4);
    mend_incidents_advance(s, 1101 * SEC);
    /* incident 2 (last event 1040) resolves first; 1 (last 1050) not yet */
    assert_int_equal(cap.n, 5);
    assert_string_equal(cap.status[4], "resolve");
    assert_non_null(strstr(cap.lines[4], "\"incident\":2"));
    mend_incidents_advance(s, 1111 * SEC);
    assert_int_equal(cap.n, 6);
    assert_non_null(strstr(cap.lines[5], "\"incident\":1"));
    assert_non_null(strstr(cap.lines[5], "\"events\":3"));
    struct mend_incident_stats st;
    mend_incidents_stats(s, &st);
    assert_int_equal(st.opened, 2);
    assert_int_equal(st.resolved, 2);
    assert_int_equal(st.open_now, 0);
    /* a new event for entity 1 after resolution opens incident 3 */
    struct mend_anomaly a3 = ev(0, 1, "cpu,host=a usage", "a", 2000 * SEC, 0.9);
    assert_int_equal(mend_incidents_add(s, &a3), MEND_OK);
    assert_non_null(strstr(cap.lines[6], "\"incident\":3"));
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
    assert_int_equal(mend_incidents_add(s, &d), MEND_OK); /* third signal: dropped, counted, said */
    assert_int_equal(cap.n, 3);
    assert_non_null(strstr(cap.lines[1], "\"entity\":\"\""));
    assert_non_null(strstr(cap.lines[2], "\"signals_dropped\":1"));
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

/* ---- crafted checkpoint sections -------------------------------------------
 * One incident as the file holds it; the fields a crafted file would lie
 * about are all here. */
struct cinc {
    uint64_t id;
    uint32_t entity_id;
    uint32_t n_signals;     /* claimed */
    uint32_t written;       /* signals actually present */
    uint32_t series_id;
    uint32_t kind;
    uint32_t key_len;       /* claimed length of the first signal's key */
};

static void craft(struct mend_wbuf *w, uint64_t next_id, uint32_t n_open, const struct cinc *incs, size_t n)
{
    mend_wbuf_init(w);
    mend_wbuf_u32(w, 2); /* section version */
    mend_wbuf_u64(w, next_id);
    for (int i = 0; i < 4; i++)
        mend_wbuf_u64(w, 7); /* opened, updated, resolved, refused */
    mend_wbuf_u32(w, n_open);
    for (size_t i = 0; i < n; i++) {
        const struct cinc *c = &incs[i];
        mend_wbuf_u64(w, c->id);
        mend_wbuf_u32(w, c->entity_id);
        mend_wbuf_u32(w, 1);
        mend_wbuf_bytes(w, "a", 1);
        mend_wbuf_i64(w, 10 * SEC);
        mend_wbuf_i64(w, 11 * SEC);
        mend_wbuf_u32(w, 0);
        mend_wbuf_u32(w, 2);
        mend_wbuf_f64(w, 0.9);
        mend_wbuf_u32(w, c->n_signals);
        for (uint32_t k = 0; k < c->written; k++) {
            mend_wbuf_u32(w, c->series_id);
            mend_wbuf_u32(w, c->kind);
            mend_wbuf_u32(w, k == 0 ? c->key_len : 1);
            mend_wbuf_bytes(w, "x", 1);
            mend_wbuf_i64(w, 10 * SEC);
            mend_wbuf_i64(w, 11 * SEC);
            mend_wbuf_f64(w, 0.9);
            mend_wbuf_f64(w, 1.0);
            mend_wbuf_f64(w, NAN);
            mend_wbuf_u32(w, 1);
            mend_wbuf_i64(w, 10 * SEC); /* run start */
            mend_wbuf_i64(w, 0);        /* absence: last seen, interval, back */
            mend_wbuf_i64(w, 0);
            mend_wbuf_i64(w, 0);
            mend_wbuf_u8(w, 0);
        }
    }
}

static int load_crafted(struct mend_incidents *s, uint64_t next_id, uint32_t n_open, const struct cinc *incs,
                        size_t n, uint32_t n_entities, uint32_t n_series)
{
    struct mend_wbuf w;
    craft(&w, next_id, n_open, incs, n);
    assert_false(w.failed);
    struct mend_rbuf r;
    mend_rbuf_init(&r, w.data, w.len);
    int rc = mend_incidents_load(s, &r, n_entities, n_series);
    if (rc == MEND_OK)
        assert_int_equal(r.off, w.len);
    mend_wbuf_fini(&w);
    return rc;
}

static void test_load_crafted(void **state)
{
    (void)state;
    alarm(20); /* a hang is a failure, not a stuck test run */
    struct capture cap = {0};
    struct mend_incident_conf c;
    mend_incident_conf_defaults(&c);
    c.max_signals = 4;
    c.max_open = 8;
    struct mend_incident_out out = {cap_emit, &cap};
    struct mend_incidents *s;
    assert_int_equal(mend_incidents_new(&c, &out, &s), MEND_OK);
    /* a state to keep: one open incident of entity 2 */
    struct mend_anomaly a = ev(0, 2, "kept", "b", 10 * SEC, 0.8);
    assert_int_equal(mend_incidents_add(s, &a), MEND_OK);

    const struct cinc good = {.id = 3, .entity_id = 1, .n_signals = 1, .written = 1, .series_id = 0,
                              .kind = MEND_ANOM_SCORE, .key_len = 1};
    struct cinc x;
    /* the defect: these ids used to loop for ever / allocate 8 GiB */
    x = good, x.entity_id = 0x80000000u;
    assert_int_equal(load_crafted(s, 9, 1, &x, 1, 3, 2), MEND_ECORRUPT);
    x = good, x.entity_id = 0x40000000u;
    assert_int_equal(load_crafted(s, 9, 1, &x, 1, 3, 2), MEND_ECORRUPT);
    x = good, x.entity_id = UINT32_MAX;
    assert_int_equal(load_crafted(s, 9, 1, &x, 1, 3, 2), MEND_ECORRUPT);
    /* the boundary: ids below the entity count load, the count itself does not */
    x = good, x.entity_id = 3;
    assert_int_equal(load_crafted(s, 9, 1, &x, 1, 3, 2), MEND_ECORRUPT);
    /* signals per incident above max_signals, however many bytes follow */
    x = good, x.n_signals = 5, x.written = 5;
    assert_int_equal(load_crafted(s, 9, 1, &x, 1, 3, 2), MEND_ECORRUPT);
    x = good, x.n_signals = UINT32_MAX;
    assert_int_equal(load_crafted(s, 9, 1, &x, 1, 3, 2), MEND_ECORRUPT);
    /* open incidents above max_open */
    assert_int_equal(load_crafted(s, 9, 9, &good, 1, 3, 2), MEND_ECORRUPT);
    assert_int_equal(load_crafted(s, 9, UINT32_MAX, &good, 1, 3, 2), MEND_ECORRUPT);
    /* series ids: below n_series, or UINT32_MAX for an entity-level signal */
    x = good, x.series_id = 2;
    assert_int_equal(load_crafted(s, 9, 1, &x, 1, 3, 2), MEND_ECORRUPT);
    x = good, x.series_id = 0x7fffffffu;
    assert_int_equal(load_crafted(s, 9, 1, &x, 1, 3, 2), MEND_ECORRUPT);
    /* an unknown signal kind */
    x = good, x.kind = 3;
    assert_int_equal(load_crafted(s, 9, 1, &x, 1, 3, 2), MEND_ECORRUPT);
    /* key lengths beyond the buffer or the cap */
    x = good, x.key_len = UINT32_MAX;
    assert_int_equal(load_crafted(s, 9, 1, &x, 1, 3, 2), MEND_ECORRUPT);
    x = good, x.key_len = MEND_INCIDENT_MAX_STR + 1;
    assert_int_equal(load_crafted(s, 9, 1, &x, 1, 3, 2), MEND_ECORRUPT);
    /* two open incidents for one scope, ids out of order or not below next_id */
    struct cinc two[2] = {good, good};
    two[1].id = 4;
    assert_int_equal(load_crafted(s, 9, 2, two, 2, 3, 2), MEND_ECORRUPT);
    two[1].entity_id = 2;
    two[1].id = 3;
    assert_int_equal(load_crafted(s, 9, 2, two, 2, 3, 2), MEND_ECORRUPT);
    two[1].id = 9;
    assert_int_equal(load_crafted(s, 9, 2, two, 2, 3, 2), MEND_ECORRUPT);
    assert_int_equal(load_crafted(s, 0, 1, &good, 1, 3, 2), MEND_ECORRUPT);
    /* a claimed count with nothing behind it */
    assert_int_equal(load_crafted(s, 9, 3, two, 2, 3, 2), MEND_ECORRUPT);
    /* a foreign section version (2 and 3 are read) */
    uint32_t v2 = 99;
    struct mend_rbuf r;
    unsigned char vb[4];
    memcpy(vb, &v2, 4);
    mend_rbuf_init(&r, vb, 4);
    assert_int_equal(mend_incidents_load(s, &r, 3, 2), MEND_EVERSION);

    /* none of that touched the state: the kept incident is still there */
    struct mend_incident_stats st;
    mend_incidents_stats(s, &st);
    assert_int_equal(st.open_now, 1);
    assert_int_equal(st.opened, 1);
    mend_incidents_advance(s, 10000 * SEC);
    assert_string_equal(cap.status[cap.n - 1], "resolve");
    assert_non_null(strstr(cap.lines[cap.n - 1], "\"key\":\"kept\""));

    /* and the well-formed ones load: an entity-level signal, entity n-1 */
    two[1].id = 5;
    two[1].series_id = UINT32_MAX;
    two[1].kind = MEND_ANOM_MULTIVARIATE;
    assert_int_equal(load_crafted(s, 9, 2, two, 2, 3, 2), MEND_OK);
    mend_incidents_stats(s, &st);
    assert_int_equal(st.open_now, 2);
    assert_int_equal(st.opened, 7);
    /* the loaded incidents take events and resolve like any other */
    struct mend_anomaly b = ev(1, 2, "y", "b", 12 * SEC, 0.95);
    int n0 = cap.n;
    assert_int_equal(mend_incidents_add(s, &b), MEND_OK);
    assert_int_equal(cap.n, n0 + 1);
    assert_string_equal(cap.status[n0], "update");
    assert_non_null(strstr(cap.lines[n0], "\"incident\":5"));
    struct mend_anomaly d = ev(1, 1, "z", "a", 12 * SEC, 0.5);
    assert_int_equal(mend_incidents_add(s, &d), MEND_OK);
    assert_non_null(strstr(cap.lines[n0 + 1], "\"incident\":3"));
    /* the next new incident continues from next_id */
    struct mend_anomaly e = ev(1, 0, "w", NULL, 12 * SEC, 0.5);
    assert_int_equal(mend_incidents_add(s, &e), MEND_OK);
    assert_non_null(strstr(cap.lines[n0 + 2], "\"incident\":9"));
    mend_incidents_free(s);
    alarm(0);
}

/* Timestamps at the ends of int64: no overflow in the quiet-time arithmetic
 * (the ASan build aborts on signed overflow), and the lines stay JSON. */
static void test_extreme_times(void **state)
{
    (void)state;
    struct capture cap = {0};
    struct mend_incident_conf c;
    mend_incident_conf_defaults(&c);
    struct mend_incident_out out = {cap_emit, &cap};
    struct mend_incidents *s;
    assert_int_equal(mend_incidents_new(&c, &out, &s), MEND_OK);
    struct mend_anomaly a = ev(0, 1, "x", "a", INT64_MIN, 0.9);
    assert_int_equal(mend_incidents_add(s, &a), MEND_OK);
    mend_incidents_advance(s, INT64_MIN);
    assert_int_equal(cap.n, 1);
    /* from the far past to the far future: the old one resolves first */
    struct mend_anomaly b = ev(0, 1, "x", "a", INT64_MAX, 0.9);
    assert_int_equal(mend_incidents_add(s, &b), MEND_OK);
    assert_int_equal(cap.n, 3);
    assert_string_equal(cap.status[1], "resolve");
    assert_string_equal(cap.status[2], "open");
    /* time going back to the far past resolves nothing */
    mend_incidents_advance(s, INT64_MIN);
    assert_int_equal(cap.n, 3);
    struct mend_incident_stats st;
    mend_incidents_stats(s, &st);
    assert_int_equal(st.open_now, 1);
    mend_incidents_free(s);
}

/* The original callback and a set of outputs both receive every change. */
static int count_incident(void *inst, const char *status, const struct mend_incident *inc, const char *json,
                          size_t len)
{
    (void)status;
    (void)inc;
    struct capture *c = inst;
    cap_emit(c, status, inc, json, len);
    return MEND_OK;
}

static int capture_open(const void *conf, void **inst, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    *inst = (void *)(uintptr_t)conf;
    return MEND_OK;
}

static void test_callback_and_outputs(void **state)
{
    (void)state;
    static const struct mend_output_ops capture_ops = {
        .name = "capture", .open = capture_open, .incident = count_incident};
    struct capture c1 = {0}, c2 = {0};
    struct mend_outputs_conf oc;
    mend_outputs_conf_defaults(&oc);
    struct mend_outputs *outs;
    assert_int_equal(mend_outputs_new(&oc, NULL, &outs), MEND_OK);
    char err[128];
    assert_int_equal(mend_outputs_add(outs, &capture_ops, &c2, NULL, err, sizeof err), MEND_OK);
    struct mend_incident_conf c;
    mend_incident_conf_defaults(&c);
    struct mend_incident_out out = {cap_emit, &c1};
    struct mend_incidents *s;
    assert_int_equal(mend_incidents_new(&c, &out, &s), MEND_OK);
    mend_incidents_set_outputs(s, outs);
    struct mend_anomaly a = ev(0, 1, "x", "a", 10 * SEC, 0.9), b = ev(1, 1, "y", "a", 11 * SEC, 0.95);
    mend_incidents_add(s, &a);
    mend_incidents_add(s, &b);
    mend_incidents_set_outputs(s, NULL);
    mend_incidents_advance(s, 10000 * SEC);
    assert_int_equal(c1.n, 3);
    assert_int_equal(c2.n, 2);
    for (int i = 0; i < 2; i++)
        assert_string_equal(c1.lines[i], c2.lines[i]);
    mend_incidents_free(s);
    mend_outputs_free(outs);
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

/* An absence incident stays open while its series is missing, says when
 * the series is back (or gone), and only then resolves; absence signals
 * carry the last-seen time and the usual interval. */
static void test_absence_lifecycle(void **state)
{
    (void)state;
    struct capture cap = {0};
    struct mend_incident_conf c;
    mend_incident_conf_defaults(&c);
    c.resolve_after_ns = 60 * SEC;
    struct mend_incident_out out = {cap_emit, &cap};
    struct mend_incidents *s;
    assert_int_equal(mend_incidents_new(&c, &out, &s), MEND_OK);
    struct mend_anomaly a = ev(4, 1, "disk,host=db-1,path=/var used", "db-1", 1000 * SEC, 1.0);
    a.kind = MEND_ANOM_ABSENCE;
    a.value = NAN;
    a.last_seen_ns = 940 * SEC;
    a.interval_ns = 10 * SEC;
    assert_int_equal(mend_incidents_add(s, &a), MEND_OK);
    assert_non_null(strstr(cap.lines[0], "\"last_seen\":\"1970-01-01T00:15:40Z\""));
    assert_non_null(strstr(cap.lines[0], "\"interval_s\":10,\"state\":\"missing\""));
    assert_non_null(strstr(cap.lines[0], "\"series\":{\"name\":\"disk\",\"labels\":{\"host\":\"db-1\","
                                         "\"path\":\"/var\"},\"field\":\"used\"}"));
    /* quiet for an hour: still open, the series is still missing */
    mend_incidents_advance(s, 4600 * SEC);
    assert_int_equal(cap.n, 1);
    /* a new event of that entity joins the incident held open */
    struct mend_anomaly b = ev(5, 1, "cpu,host=db-1 usage", "db-1", 4700 * SEC, 0.8);
    assert_int_equal(mend_incidents_add(s, &b), MEND_OK);
    assert_int_equal(cap.n, 2);
    assert_non_null(strstr(cap.lines[1], "\"incident\":1,"));
    /* back: said, and then the incident can resolve */
    mend_incidents_series_back(s, 4, 4710 * SEC, 1);
    assert_int_equal(cap.n, 3);
    assert_non_null(strstr(cap.lines[2], "\"event\":{\"key\":\"disk,host=db-1,path=/var used\",\"kind\":\"back\""));
    assert_non_null(strstr(cap.lines[2], "\"state\":\"back\",\"back\":\"1970-01-01T01:18:30Z\""));
    mend_incidents_series_back(s, 4, 4720 * SEC, 1); /* once only */
    assert_int_equal(cap.n, 3);
    mend_incidents_advance(s, 4700 * SEC + 61 * SEC);
    assert_int_equal(cap.n, 4);
    assert_string_equal(cap.status[3], "resolve");
    /* evicted as gone: said so explicitly */
    a.t_ns = 5000 * SEC;
    assert_int_equal(mend_incidents_add(s, &a), MEND_OK);
    mend_incidents_series_back(s, 4, 6000 * SEC, 0);
    assert_non_null(strstr(cap.lines[5], "\"kind\":\"gone\""));
    assert_non_null(strstr(cap.lines[5], "\"state\":\"gone\",\"gone\":"));
    mend_incidents_advance(s, 6000 * SEC);
    assert_string_equal(cap.status[6], "resolve");
    mend_incidents_free(s);
}

/* Series as maps: line protocol escapes, Prometheus keys, and keys of no
 * known shape (a CSV column) as a name only. */
static void test_series_map(void **state)
{
    (void)state;
    struct capture cap = {0};
    struct mend_incident_conf c;
    mend_incident_conf_defaults(&c);
    c.group_by_entity = 0;
    struct mend_incident_out out = {cap_emit, &cap};
    struct mend_incidents *s;
    assert_int_equal(mend_incidents_new(&c, &out, &s), MEND_OK);
    const char *keys[] = {"weather\\ report,loc=us\\,west,k\\=x=a\\ b temp\\ c",
                          "node_cpu_seconds_total,cpu=0,mode=idle", "latency ms", "a,b c,d",
                          "cpu,host usage"};
    const char *want[] = {
        "\"series\":{\"name\":\"weather report\",\"labels\":{\"loc\":\"us,west\",\"k=x\":\"a b\"},\"field\":\"temp c\"}",
        "\"series\":{\"name\":\"node_cpu_seconds_total\",\"labels\":{\"cpu\":\"0\",\"mode\":\"idle\"}}",
        "\"series\":{\"name\":\"latency\",\"labels\":{},\"field\":\"ms\"}",
        "\"series\":{\"name\":\"a,b c,d\"}",
        "\"series\":{\"name\":\"cpu,host usage\"}"};
    for (int i = 0; i < 5; i++) {
        struct mend_anomaly a = ev((uint32_t)i, 0, keys[i], NULL, (10 + i) * SEC, 0.9);
        assert_int_equal(mend_incidents_add(s, &a), MEND_OK);
        if (!strstr(cap.lines[cap.n - 1], want[i]))
            fail_msg("key %s: want %s in %s", keys[i], want[i], cap.lines[cap.n - 1]);
    }
    mend_incidents_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_absence_lifecycle),
        cmocka_unit_test(test_series_map),
        cmocka_unit_test(test_group_update_resolve),
        cmocka_unit_test(test_caps_and_global_scope),
        cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_load_crafted),
        cmocka_unit_test(test_extreme_times),
        cmocka_unit_test(test_callback_and_outputs),
        cmocka_unit_test(test_time_format),
    };
    return cmocka_run_group_tests_name("incident", tests, NULL, NULL);
}
