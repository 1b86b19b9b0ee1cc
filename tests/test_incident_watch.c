/* test_incident_watch.c -- an open incident watches its signals more closely
 * than the alarm threshold (excursions, incident.h): the second of two
 * identical spikes (tests/fixtures/trial/two_spikes.lp), which scores under
 * the threshold because the scorer learnt from the first, is an update line
 * of its own, through the incident set, the engine (also across a save and
 * restore at every point around the spikes) and the `mend` binary; a noisy
 * member of a long open incident gives a bounded number of them; and the
 * excursion state survives a checkpoint. Every line is checked as JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "engine_harness.h"
#include "incident_capture.h"
#include "mend/incident.h"

#define FIX "tests/fixtures/trial/"
#define T0 1700000000LL /* two_spikes.lp: first sample; spikes at +3600 s and +4000 s */

static const char *bin = "bin/mend";

/* ---- the incident set alone ------------------------------------------------ */

static struct mend_anomaly ev(uint32_t sid, uint32_t ent, const char *key, int64_t t, double score)
{
    struct mend_anomaly a = {.kind = MEND_ANOM_SCORE, .series_id = sid, .entity_id = ent, .key = key,
                             .key_len = strlen(key), .entity = "a", .entity_len = 1, .t_ns = t,
                             .score = score, .value = 2.5, .expected = 1.0};
    return a;
}

static void test_excursion_rules(void **state)
{
    (void)state;
    struct capture cap = {0};
    struct mend_incident_conf c;
    mend_incident_conf_defaults(&c);
    assert_true(c.watch_tail == 1e-3 && c.max_excursions == 16);
    c.resolve_after_ns = 600 * SEC;
    c.max_excursions = 2;
    struct mend_incident_out out = {cap_emit, &cap};
    struct mend_incidents *s;
    assert_int_equal(mend_incidents_new(&c, &out, &s), MEND_OK);

    /* no open incident: an excursion opens nothing */
    struct mend_anomaly x = ev(0, 1, "cpu,host=a usage", 100 * SEC, 0.41);
    assert_int_equal(mend_incidents_excursion(s, &x, 100 * SEC, -1.0, 4.1), MEND_OK);
    assert_int_equal(cap.n, 0);

    struct mend_anomaly a = ev(0, 1, "cpu,host=a usage", 1000 * SEC, 1.0);
    assert_int_equal(mend_incidents_add(s, &a), MEND_OK);
    assert_int_equal(cap.n, 1);
    /* a series of the entity that is no member: nothing */
    struct mend_anomaly other = ev(5, 1, "mem,host=a used", 1010 * SEC, 0.41);
    assert_int_equal(mend_incidents_excursion(s, &other, 1010 * SEC, -1.0, 4.1), MEND_OK);
    /* a rise that stays under the watch level (evidence 3), or was past it already */
    x = ev(0, 1, "cpu,host=a usage", 1020 * SEC, 0.29);
    assert_int_equal(mend_incidents_excursion(s, &x, 1020 * SEC, -1.0, 2.9), MEND_OK);
    assert_int_equal(mend_incidents_excursion(s, &x, 1020 * SEC, 3.2, 3.5), MEND_OK);
    assert_int_equal(cap.n, 1);

    /* the run that reaches it: one update line, marked, with the run's start */
    x = ev(0, 1, "cpu,host=a usage", 1400 * SEC, 0.41);
    assert_int_equal(mend_incidents_excursion(s, &x, 1390 * SEC, 2.5, 4.1), MEND_OK);
    assert_int_equal(cap.n, 2);
    assert_string_equal(cap.status[1], "update");
    assert_non_null(strstr(cap.lines[1], "\"event\":{\"key\":\"cpu,host=a usage\",\"kind\":\"excursion\","
                                         "\"time\":\"1970-01-01T00:23:20Z\",\"time_ns\":1400000000000,"
                                         "\"start\":\"1970-01-01T00:23:10Z\",\"start_ns\":1390000000000,"
                                         "\"score\":0.41}"));
    /* not an event: the incident's last and events stay, the signal shows
     * its new start and value, keeps its score and events */
    assert_non_null(strstr(cap.lines[1], "\"last_ns\":1000000000000,"));
    assert_non_null(strstr(cap.lines[1], "\"events\":1,\"signals_dropped\":0,\"excursions\":1,"));
    assert_non_null(strstr(cap.lines[1], "\"start_ns\":1390000000000,\"score\":1,\"value\":2.5,"
                                         "\"expected\":1,\"events\":1}"));
    struct mend_incident_stats st;
    mend_incidents_stats(s, &st);
    assert_int_equal(st.excursions, 1);
    assert_int_equal(st.updated, 1);

    /* the cap: a second one is written, a third is counted */
    assert_int_equal(mend_incidents_excursion(s, &x, 1410 * SEC, -1.0, 3.0), MEND_OK);
    assert_int_equal(mend_incidents_excursion(s, &x, 1420 * SEC, -1.0, 3.0), MEND_ECAP);
    assert_int_equal(cap.n, 3);
    mend_incidents_stats(s, &st);
    assert_int_equal(st.excursions, 2);
    assert_int_equal(st.excursions_dropped, 1);
    /* an event after that says so too */
    struct mend_anomaly a2 = ev(0, 1, "cpu,host=a usage", 1500 * SEC, 0.6);
    assert_int_equal(mend_incidents_add(s, &a2), MEND_OK);
    assert_int_equal(cap.n, 4);
    assert_non_null(strstr(cap.lines[3], "\"excursions\":2,\"excursions_dropped\":1,"));

    /* excursions never hold an incident open: quiet since the last event
     * (1500 s) for resolve_after, it takes none and resolves */
    mend_incident_conf_defaults(&c);
    mend_incidents_free(s);
    c.resolve_after_ns = 600 * SEC;
    memset(&cap, 0, sizeof cap);
    assert_int_equal(mend_incidents_new(&c, &out, &s), MEND_OK);
    assert_int_equal(mend_incidents_add(s, &a2), MEND_OK);
    x = ev(0, 1, "cpu,host=a usage", 2101 * SEC, 0.41);
    assert_int_equal(mend_incidents_excursion(s, &x, 2101 * SEC, -1.0, 4.1), MEND_OK);
    assert_int_equal(cap.n, 1);
    x.t_ns = 2000 * SEC;
    assert_int_equal(mend_incidents_excursion(s, &x, 2000 * SEC, -1.0, 4.1), MEND_OK);
    assert_int_equal(cap.n, 2);
    mend_incidents_advance(s, 2101 * SEC);
    assert_int_equal(cap.n, 3);
    assert_string_equal(cap.status[2], "resolve");
    assert_non_null(strstr(cap.lines[2], "\"last_ns\":1500000000000,"));
    mend_incidents_free(s);

    /* watch_tail 0: no excursions at all */
    c.watch_tail = 0.0;
    memset(&cap, 0, sizeof cap);
    assert_int_equal(mend_incidents_new(&c, &out, &s), MEND_OK);
    assert_int_equal(mend_incidents_add(s, &a2), MEND_OK);
    x.t_ns = 1600 * SEC;
    assert_int_equal(mend_incidents_excursion(s, &x, 1600 * SEC, -1.0, 10.0), MEND_OK);
    assert_int_equal(cap.n, 1);
    mend_incidents_free(s);
    c.watch_tail = 1.0;
    assert_int_equal(mend_incidents_new(&c, &out, &s), MEND_EINVAL);
}

/* The excursion counts survive a checkpoint (the cap goes on where it
 * was), and a section written by version 2 (no excursions) still loads. */
static void test_excursion_save_load(void **state)
{
    (void)state;
    struct capture c1 = {0}, c2 = {0};
    struct mend_incident_conf c;
    mend_incident_conf_defaults(&c);
    c.max_excursions = 2;
    struct mend_incident_out o1 = {cap_emit, &c1}, o2 = {cap_emit, &c2};
    struct mend_incidents *s, *t;
    assert_int_equal(mend_incidents_new(&c, &o1, &s), MEND_OK);
    assert_int_equal(mend_incidents_new(&c, &o2, &t), MEND_OK);
    struct mend_anomaly a = ev(0, 1, "x", 10 * SEC, 0.9), x = ev(0, 1, "x", 20 * SEC, 0.35);
    assert_int_equal(mend_incidents_add(s, &a), MEND_OK);
    assert_int_equal(mend_incidents_excursion(s, &x, 19 * SEC, -1.0, 3.5), MEND_OK);
    struct mend_wbuf w;
    mend_wbuf_init(&w);
    assert_int_equal(mend_incidents_save(s, &w), MEND_OK);
    struct mend_rbuf r;
    mend_rbuf_init(&r, w.data, w.len);
    assert_int_equal(mend_incidents_load(t, &r, 2, 1), MEND_OK);
    assert_int_equal(r.off, w.len);
    struct mend_incident_stats st;
    mend_incidents_stats(t, &st);
    assert_int_equal(st.excursions, 1);
    /* both go on identically: one more, then the cap */
    x.t_ns = 30 * SEC;
    assert_int_equal(mend_incidents_excursion(s, &x, 30 * SEC, -1.0, 3.5), MEND_OK);
    assert_int_equal(mend_incidents_excursion(t, &x, 30 * SEC, -1.0, 3.5), MEND_OK);
    assert_string_equal(c1.lines[c1.n - 1], c2.lines[c2.n - 1]);
    assert_int_equal(mend_incidents_excursion(t, &x, 40 * SEC, -1.0, 3.5), MEND_ECAP);
    /* every truncation is refused */
    for (size_t cut = 0; cut < w.len; cut += 5) {
        mend_rbuf_init(&r, w.data, cut);
        assert_int_not_equal(mend_incidents_load(t, &r, 2, 1), MEND_OK);
    }
    /* version 2: the same incident without the two excursion counts (after
     * the four stats: 4 + 8 + 32 bytes) and the incident's two (after its
     * max_score) */
    struct mend_wbuf v2;
    mend_wbuf_init(&v2);
    mend_wbuf_u32(&v2, 2);
    mend_wbuf_bytes(&v2, w.data + 4, 8 + 32);
    size_t inc_at = 4 + 8 + 32 + 16 + 4; /* + excursion stats, n_open */
    mend_wbuf_bytes(&v2, w.data + 4 + 8 + 32 + 16, 4);
    /* id 8, entity_id 4, entity (4 + 1), start 8, last 8, dropped 4, events 4, max 8 */
    size_t head = 8 + 4 + 5 + 8 + 8 + 4 + 4 + 8;
    mend_wbuf_bytes(&v2, w.data + inc_at, head);
    mend_wbuf_bytes(&v2, w.data + inc_at + head + 8, w.len - inc_at - head - 8);
    assert_false(v2.failed);
    struct mend_incidents *u;
    struct capture c3 = {0};
    struct mend_incident_out o3 = {cap_emit, &c3};
    assert_int_equal(mend_incidents_new(&c, &o3, &u), MEND_OK);
    mend_rbuf_init(&r, v2.data, v2.len);
    assert_int_equal(mend_incidents_load(u, &r, 2, 1), MEND_OK);
    assert_int_equal(r.off, v2.len);
    mend_incidents_advance(u, 10000 * SEC);
    assert_int_equal(c3.n, 1);
    assert_non_null(strstr(c3.lines[0], "\"type\":\"resolve\",\"incident\":1,"));
    assert_null(strstr(c3.lines[0], "excursions"));
    assert_non_null(strstr(c3.lines[0], "\"start_ns\":19000000000,")); /* the signal's start */
    mend_wbuf_fini(&v2);
    mend_wbuf_fini(&w);
    mend_incidents_free(s);
    mend_incidents_free(t);
    mend_incidents_free(u);
}

/* ---- the engine ------------------------------------------------------------ */

/* two_spikes.lp as a workload: `cpu,host=a usage_user=V T` lines. */
static void load_fixture(struct load *l, const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[256];
    while (fgets(line, sizeof line, f)) {
        double v;
        long long t;
        assert_int_equal(sscanf(line, "cpu,host=a usage_user=%lf %lld", &v, &t), 2);
        load_add(l, "cpu,host=a usage_user", "a", (int64_t)t, v);
    }
    fclose(f);
}

static int count(const char *s, const char *what)
{
    int n = 0;
    for (const char *p = s; p && (p = strstr(p, what)); p++)
        n++;
    return n;
}

/* Runs l whole, and again with a save and load after cut samples: the same
 * incident lines and scores. */
static void same_after_restore(const struct mend_engine_conf *c, const struct load *l, size_t cut)
{
    struct out full = {0}, part = {0};
    struct mend_engine *e = h_make(&full, c);
    assert_int_equal(load_feed(e, l, 0, l->n), MEND_OK);
    mend_engine_advance(e, l->p[l->n - 1].t + 3600 * SEC);
    mend_engine_free(e);
    e = h_make(&part, c);
    assert_int_equal(load_feed(e, l, 0, cut), MEND_OK);
    struct mend_wbuf w;
    mend_wbuf_init(&w);
    assert_int_equal(mend_engine_save(e, &w), MEND_OK);
    mend_engine_free(e);
    e = h_make(&part, c);
    struct mend_rbuf r;
    mend_rbuf_init(&r, w.data, w.len);
    assert_int_equal(mend_engine_load(e, &r), MEND_OK);
    assert_int_equal(load_feed(e, l, cut, l->n), MEND_OK);
    mend_engine_advance(e, l->p[l->n - 1].t + 3600 * SEC);
    mend_engine_free(e);
    mend_wbuf_fini(&w);
    assert_non_null(full.inc);
    assert_non_null(part.inc);
    if (strcmp(full.inc, part.inc))
        fail_msg("incidents differ after a restore at %zu:\n full: %s\n part: %s", cut, full.inc, part.inc);
    assert_string_equal(full.sc, part.sc);
    out_free(&full);
    out_free(&part);
}

static void test_two_spikes_engine(void **state)
{
    (void)state;
    struct load l = {0};
    load_fixture(&l, FIX "two_spikes.lp");
    assert_int_equal(l.n, 720);
    struct mend_engine_conf c;
    mend_engine_conf_defaults(&c);
    struct out o = {0};
    struct mend_engine *e = h_make(&o, &c);
    /* the incident resolves inside the file; no advance past its end, where
     * the series would be reported absent */
    assert_int_equal(load_feed(e, &l, 0, l.n), MEND_OK);
    struct mend_engine_stats st;
    mend_engine_stats(e, &st);
    mend_engine_free(e);
    /* open at the first spike, the second as an excursion at its own time
     * (not an anomaly), then the resolve, ten minutes after the first */
    assert_int_equal(st.anomalies, 1);
    assert_int_equal(count(o.inc, "{\"type\":\"open\""), 1);
    assert_int_equal(count(o.inc, "{\"type\":\"resolve\""), 1);
    assert_int_equal(count(o.inc, "\n"), 3);
    assert_non_null(strstr(o.inc, "{\"type\":\"open\",\"incident\":1,\"entity\":\"a\","
                                  "\"time\":\"2023-11-14T23:13:20Z\",\"time_ns\":1700003600000000000,"));
    const char *u = strstr(o.inc, "{\"type\":\"update\",\"incident\":1,\"entity\":\"a\","
                                  "\"time\":\"2023-11-14T23:20:00Z\",\"time_ns\":1700004000000000000,");
    assert_non_null(u);
    assert_non_null(strstr(u, "\"event\":{\"key\":\"cpu,host=a usage_user\",\"kind\":\"excursion\","
                              "\"time\":\"2023-11-14T23:20:00Z\",\"time_ns\":1700004000000000000,"
                              "\"start\":\"2023-11-14T23:20:00Z\",\"start_ns\":1700004000000000000,"
                              "\"score\":0.41"));
    assert_int_equal(count(o.inc, "\"excursions\":1,"), 2); /* the update and the resolve */
    out_free(&o);

    /* saved and restored anywhere around the spikes: the same lines */
    static const size_t cuts[] = {200, 360, 361, 362, 399, 400, 401, 405, 500};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++)
        same_after_restore(&c, &l, cuts[i]);

    /* incidents.watch_tail = 0: the stream as before excursions */
    c.incidents.watch_tail = 0.0;
    e = h_make(&o, &c);
    assert_int_equal(load_feed(e, &l, 0, l.n), MEND_OK);
    mend_engine_free(e);
    assert_int_equal(count(o.inc, "\n"), 2);
    assert_int_equal(count(o.inc, "excursion"), 0);
    out_free(&o);
    free(l.p);
}

/* Standard Laplace noise, heavy enough that sub-threshold runs are common. */
static double laplace(uint64_t *x)
{
    double u = h_noise(x);
    if (u == -0.5)
        u = 0.0;
    return u < 0 ? log(1.0 + 2.0 * u) : -log(1.0 - 2.0 * u);
}

/* A noisy series that an early spike made a member of an incident held
 * open for two days: excursions, one per run at most (distinct starts),
 * never an anomaly; with the default cap no more than 16 lines, the rest
 * counted. A noisy series of the same entity that never fired shows in
 * none. The noise's rate of excursions is printed. */
static void test_noise_bounded(void **state)
{
    (void)state;
    struct load l = {0};
    uint64_t seed = 7;
    for (int i = 0; i < 17280; i++) { /* two days at 10 s */
        int64_t t = (T0 + 10LL * i) * SEC;
        load_add(&l, "disk,host=n busy", "n", t, 50.0 + 2.0 * laplace(&seed) + (i == 300 ? 200.0 : 0.0));
        load_add(&l, "net,host=n rx", "n", t, 10.0 + laplace(&seed));
    }
    struct mend_engine_conf c;
    mend_engine_conf_defaults(&c);
    c.incidents.resolve_after_ns = 3 * 86400 * SEC;
    c.localise.enabled = 0; /* lines stay short: the excursions are what is looked at */
    int uncapped = 0;
    for (int pass = 0; pass < 2; pass++) {
        c.incidents.max_excursions = pass ? 16 : 1000000;
        struct out o = {0};
        struct mend_engine *e = h_make(&o, &c);
        assert_int_equal(load_feed(e, &l, 0, l.n), MEND_OK);
        struct mend_engine_stats st;
        mend_engine_stats(e, &st);
        struct mend_incident_stats is;
        mend_incidents_stats(mend_engine_incidents(e), &is);
        mend_engine_free(e);
        int lines = count(o.inc, "\"kind\":\"excursion\"");
        print_message("cap %u: anomalies=%llu excursions=%d dropped=%llu\n", c.incidents.max_excursions,
                      (unsigned long long)st.anomalies, lines, (unsigned long long)is.excursions_dropped);
        assert_int_equal(count(o.inc, "{\"type\":\"open\""), 1);
        assert_int_equal((uint64_t)lines, is.excursions);
        assert_int_equal(count(o.inc, "\"event\":{\"key\":\"net,host=n rx\""), 0);
        /* every excursion is its own run: no start twice */
        const char *p = o.inc;
        int64_t starts[4096];
        int ns = 0;
        while ((p = strstr(p, "\"kind\":\"excursion\","))) {
            const char *q = strstr(p, "\"start_ns\":");
            assert_non_null(q);
            int64_t sv = strtoll(q + 11, NULL, 10);
            for (int k = 0; k < ns; k++)
                assert_true(starts[k] != sv);
            assert_true(ns < 4096);
            starts[ns++] = sv;
            p = q;
        }
        if (pass == 0) {
            /* uncapped: about what a 1e-3 tail gives on 17,000 samples
             * (Laplace noise is where the scorer's tail is exact), more
             * than the cap, so that the cap is tested below */
            assert_true(is.excursions_dropped == 0);
            assert_true(lines > 16 && lines <= 60);
            uncapped = lines;
        } else {
            assert_int_equal(lines, 16);
            assert_int_equal(is.excursions_dropped, (uint64_t)(uncapped - 16));
        }
        out_free(&o);
    }
    free(l.p);
}

/* ---- the binary ------------------------------------------------------------ */

static void test_two_spikes_cli(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s replay --incidents - " FIX "two_spikes.lp 2>/dev/null", bin);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    static char out[1 << 16];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    assert_int_equal(pclose(p), 0);
    assert_int_equal(count(out, "\n"), 3);
    const char *open = strstr(out, "{\"type\":\"open\"");
    const char *upd = strstr(out, "\n{\"type\":\"update\",\"incident\":1,\"entity\":\"a\","
                                  "\"time\":\"2023-11-14T23:20:00Z\",\"time_ns\":1700004000000000000,");
    const char *res = strstr(out, "\n{\"type\":\"resolve\"");
    assert_true(open == out && upd && res && upd < res);
    assert_non_null(strstr(upd, "\"kind\":\"excursion\""));
    json_error_t e;
    json_t *j = json_loadb(upd + 1, (size_t)(res - upd - 1), 0, &e);
    assert_non_null(j);
    json_t *evj = json_object_get(j, "event");
    assert_string_equal(json_string_value(json_object_get(evj, "kind")), "excursion");
    assert_true(json_real_value(json_object_get(evj, "score")) < 0.5);
    assert_true(json_real_value(json_object_get(evj, "score")) >= 0.3);
    json_decref(j);
}

int main(void)
{
    const char *b = getenv("MEND_BIN");
    if (b && *b)
        bin = b;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_excursion_rules),
        cmocka_unit_test(test_excursion_save_load),
        cmocka_unit_test(test_two_spikes_engine),
        cmocka_unit_test(test_noise_bounded),
        cmocka_unit_test(test_two_spikes_cli),
    };
    return cmocka_run_group_tests_name("incident_watch", tests, NULL, NULL);
}
