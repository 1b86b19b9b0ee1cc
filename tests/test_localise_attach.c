/* test_localise_attach.c -- the localiser attached to the engine: a stretch
 * of an ASD server (tests/fixtures/localise/asd-omi1.lp, MIT, see
 * asd-omi1.NOTICE) is replayed through `mend replay`; every incident
 * open/update line must carry a ranking, the replay must be byte-identical
 * when repeated, and each line's ranking must agree with `mend localise`
 * run offline on the same window (the fixture's rows, the same reference
 * rows, the same symptoms and onsets) -- same series in the same order with
 * the same scores. Also the annotator hook itself and the config section. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "mend/config.h"
#include "mend/engine.h"
#include "mend/json.h"
#include "mend/localise.h"
#include "mend/incident.h"
#include "mend/series.h"

#define FIX "tests/fixtures/localise/asd-omi1.lp"
#define NM 19
#define MAXR 400

struct fixture {
    uint32_t n;
    int64_t t[MAXR];
    double v[MAXR][NM];
};

static const char *bin_path(void)
{
    const char *b = getenv("MEND_BIN");
    return b ? b : "./bin/mend";
}

/* The fixture's rows: "asd,host=omi-1 m1=V,...,m19=V TS". */
static void load_fixture(struct fixture *f)
{
    FILE *fp = fopen(FIX, "r");
    assert_non_null(fp);
    char line[2048];
    f->n = 0;
    while (fgets(line, sizeof line, fp)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        assert_true(f->n < MAXR);
        char *p = strchr(line, ' ');
        assert_non_null(p);
        for (int m = 0; m < NM; m++) {
            p = strchr(p, '=');
            assert_non_null(p);
            f->v[f->n][m] = strtod(p + 1, &p);
        }
        f->t[f->n] = strtoll(p, NULL, 10);
        f->n++;
    }
    fclose(fp);
}

static int row_of(const struct fixture *f, int64_t t)
{
    for (uint32_t r = 0; r < f->n; r++)
        if (f->t[r] == t)
            return (int)r;
    return -1;
}

/* The integer after "key": at or after p (and before end). */
static int64_t jint(const char *p, const char *end, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *q = strstr(p, pat);
    assert_non_null(q);
    assert_true(q < end);
    return strtoll(q + strlen(pat), NULL, 10);
}

/* Metric number of a key "asd,host=omi-1 mK" (1-based), 0 if none. */
static int metric_of(const char *key)
{
    const char *sp = strstr(key, "omi-1 m");
    return sp ? atoi(sp + 7) : 0;
}

static int sh(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Checks one incident line's ranking against `mend localise`; returns 1 when
 * compared. */
static int check_line(const struct fixture *f, const char *line, const char *dir)
{
    const char *loc = strstr(line, "\"localise\":{");
    assert_non_null(loc); /* every open/update carries one */
    const char *end = line + strlen(line);
    assert_null(strstr(loc, "\"error\""));
    int64_t start = jint(loc, end, "start_ns"), step = jint(loc, end, "step_ns");
    int64_t slots = jint(loc, end, "slots"), ref = jint(loc, end, "reference");
    int64_t samples = jint(loc, end, "samples");
    assert_int_equal(step, 300000000000LL);
    assert_int_equal(jint(loc, end, "candidates"), NM);
    int r0 = row_of(f, start);
    assert_true(r0 >= 0);
    assert_true(ref >= 2 && ref <= r0);
    assert_true(slots >= 1 && r0 + slots <= (int64_t)f->n);
    /* the change's own round may still be arriving: the cells the engine did
     * not have yet are the last columns of the last row */
    int64_t missing = slots * NM - samples;
    assert_true(missing >= 0 && missing < NM);

    /* the offline table: the reference rows, then the window */
    char csv[512], cmd[4096];
    snprintf(csv, sizeof csv, "%s/win.csv", dir);
    FILE *o = fopen(csv, "w");
    assert_non_null(o);
    fputs("timestamp", o);
    for (int m = 1; m <= NM; m++)
        fprintf(o, ",m%d", m);
    fputc('\n', o);
    int a = r0 - (int)ref, b = r0 + (int)slots - 1;
    for (int r = a; r <= b; r++) {
        fprintf(o, "%" PRId64, f->t[r]);
        for (int m = 0; m < NM; m++) {
            if (r == b && m >= NM - missing)
                fputs(",", o);
            else /* the rings hold floats */
                fprintf(o, ",%.9g", (double)(float)f->v[r][m]);
        }
        fputc('\n', o);
    }
    fclose(o);
    int len = snprintf(cmd, sizeof cmd, "%s localise --input %s --window %" PRId64 ":%d --top 5",
                       bin_path(), csv, ref, b - a);
    /* the symptoms: the score signals, in the line's order, with their onsets */
    const char *sig = strstr(line, "\"signals\":[");
    assert_non_null(sig);
    for (const char *k = strstr(sig, "{\"key\":\""); k && k < loc; k = strstr(k + 1, "{\"key\":\"")) {
        int m = metric_of(k);
        const char *kind = strstr(k, "\"kind\":\"");
        if (!m || strncmp(kind + 8, "score", 5))
            continue;
        int orow = row_of(f, jint(k, loc, "first_ns"));
        assert_true(orow >= a);
        len += snprintf(cmd + len, sizeof cmd - (size_t)len, " --symptom m%d --onset %d", m,
                        orow - a);
    }
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    const char *it = strstr(loc, "\"series\":[");
    assert_non_null(it);
    char out[1024];
    int ranked = 0;
    for (const char *k = strstr(it, "{\"key\":\""); k; k = strstr(k + 1, "{\"key\":\"")) {
        const char *sc = strstr(k, "\"score\":");
        if (!sc || strstr(loc, "\"components\"") < k)
            break;
        assert_non_null(fgets(out, sizeof out, p));
        unsigned rank;
        char col[64];
        double score;
        assert_int_equal(sscanf(out, "%u\t%63[^\t]\t%lf", &rank, col, &score), 3);
        char want[16];
        snprintf(want, sizeof want, "m%d", metric_of(k));
        if (strcmp(col, want) || fabs(score - strtod(sc + 8, NULL)) > 2e-6) {
            fprintf(stderr, "disagree at rank %u: engine %s %.9g, offline %s %.9g\n  %s\n", rank,
                    want, strtod(sc + 8, NULL), col, score, cmd);
            fail();
        }
        ranked++;
    }
    assert_int_equal(ranked, 5);
    assert_int_equal(pclose(p), 0);
    return 1;
}

static void test_replay_agrees_with_offline(void **state)
{
    (void)state;
    static struct fixture f;
    load_fixture(&f);
    assert_true(f.n > 300);
    char dir[] = "/tmp/mend-loc-attach.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cmd[2048], path[600];
    snprintf(path, sizeof path, "%s/c.yaml", dir);
    FILE *c = fopen(path, "w");
    assert_non_null(c);
    fputs("input:\n  entity_tag: host\nincidents:\n  resolve_after: 2h\n", c);
    fclose(c);
    for (int k = 0; k < 2; k++) {
        snprintf(cmd, sizeof cmd,
                 "%s replay --quiet --config %s/c.yaml --incidents %s/inc%d.jsonl " FIX
                 " >/dev/null 2>&1",
                 bin_path(), dir, dir, k);
        assert_int_equal(sh(cmd), 0);
    }
    snprintf(cmd, sizeof cmd, "cmp -s %s/inc0.jsonl %s/inc1.jsonl", dir, dir);
    assert_int_equal(sh(cmd), 0); /* replay is byte-identical, ranking included */

    snprintf(path, sizeof path, "%s/inc0.jsonl", dir);
    FILE *in = fopen(path, "r");
    assert_non_null(in);
    static char line[1 << 16];
    int compared = 0, long_window = 0, in_segment = 0;
    while (fgets(line, sizeof line, in)) {
        if (strncmp(line, "{\"type\":\"resolve\"", 17) == 0) {
            assert_null(strstr(line, "\"localise\""));
            continue;
        }
        compared += check_line(&f, line, dir);
        const char *loc = strstr(line, "\"localise\":{");
        long_window |= jint(loc, line + strlen(line), "slots") >= 20;
        /* the labelled segment 2758-2772 (fixture rows 300..314) */
        int r = row_of(&f, jint(loc, line + strlen(line), "start_ns"));
        in_segment |= r >= 280 && r <= 314;
    }
    fclose(in);
    assert_true(compared >= 4);
    assert_true(long_window);
    assert_true(in_segment);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(sh(cmd), 0);
}

/* The section exists, parses its scope, and refuses nonsense. */
static void test_config_section(void **state)
{
    (void)state;
    struct mend_config cfg;
    char err[256];
    mend_config_defaults(&cfg);
    assert_int_equal(cfg.engine.localise.enabled, 1);
    assert_int_equal(cfg.engine.localise.scope, MEND_LOCALISE_SCOPE_ENTITY);
    assert_int_equal(mend_config_set(&cfg, "localise.scope", "all", err, sizeof err), 0);
    assert_int_equal(cfg.engine.localise.scope, MEND_LOCALISE_SCOPE_ALL);
    assert_int_equal(mend_config_set(&cfg, "localise.window", "0", err, sizeof err), MEND_EINVAL);
    assert_int_equal(mend_config_set(&cfg, "localise.scope", "nearby", err, sizeof err),
                     MEND_EINVAL);
    assert_int_equal(mend_config_set(&cfg, "localise.enabled", "off", err, sizeof err), 0);
    assert_int_equal(cfg.engine.localise.enabled, 0);
}

/* Through the engine API: a fault in one of two hosts, scope all, names
 * the faulty series first and its host as the top component; with the
 * localiser off the line has no ranking. */
struct lines {
    char last[1 << 14];
    int n;
};

static void on_line(void *ctx, const char *status, const struct mend_incident *inc,
                    const char *json, size_t len)
{
    struct lines *l = ctx;
    (void)inc;
    if (!strcmp(status, "resolve"))
        return;
    size_t k = len < sizeof l->last - 1 ? len : sizeof l->last - 1;
    memcpy(l->last, json, k);
    l->last[k] = '\0';
    l->n++;
}

static void run_hosts(int enabled, struct lines *l)
{
    struct mend_engine_conf c;
    mend_engine_conf_defaults(&c);
    c.series.hash_seed = 7;
    c.mvg_enabled = 0;
    c.absence_enabled = 0;
    c.incidents.group_by_entity = 0;
    c.localise.enabled = enabled;
    c.localise.scope = MEND_LOCALISE_SCOPE_ALL;
    c.localise.top = 3;
    struct mend_incident_out out = {on_line, l};
    struct mend_engine *e;
    assert_int_equal(mend_engine_new(&c, &out, NULL, &e), 0);
    const char *keys[4] = {"cpu,host=a v", "lat,host=a v", "cpu,host=b v", "lat,host=b v"};
    const char *hosts[4] = {"a", "a", "b", "b"};
    uint64_t x = 12345;
    for (int t = 0; t < 400; t++) {
        for (int k = 0; k < 4; k++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            double noise = (double)(x >> 11) / 9007199254740992.0 - 0.5;
            double v = 10 + noise;
            if (t >= 380 && k == 2)
                v += 8 + 0.2 * (t - 380); /* host b's cpu runs away ... */
            if (t >= 382 && k == 3)
                v += 6;                    /* ... and its latency follows */
            struct mend_point p = {.key = keys[k], .key_len = strlen(keys[k]),
                                   .entity = hosts[k], .entity_len = 1,
                                   .time_ns = (int64_t)t * 60000000000LL, .has_time = 1, .value = v};
            assert_int_equal(mend_engine_point(e, &p), 0);
        }
    }
    mend_engine_free(e);
}

static void test_engine_names_the_runaway_host(void **state)
{
    (void)state;
    static struct lines l;
    memset(&l, 0, sizeof l);
    run_hosts(1, &l);
    assert_true(l.n >= 1);
    const char *loc = strstr(l.last, "\"localise\":{\"scope\":\"all\"");
    assert_non_null(loc);
    const char *s = strstr(loc, "\"series\":[{\"key\":\"");
    assert_non_null(s);
    assert_int_equal(strncmp(s + 18, "cpu,host=b v\"", 13), 0);
    assert_non_null(strstr(loc, "\"components\":[{\"component\":\"b\""));
    assert_non_null(strstr(loc, "\"candidates\":4"));
    memset(&l, 0, sizeof l);
    run_hosts(0, &l);
    assert_true(l.n >= 1);
    assert_null(strstr(l.last, "\"localise\""));
}

/* Reuse of identical rankings, on the attachment itself with a real
 * registry: four series of one host, one of which jumps; an incident whose
 * window (8 slots) is full but for one sample still to come. The same input again -- a later change that
 * added no sample in scope -- copies the earlier ranking (counted in
 * reused), byte for byte what ranking afresh writes (an attachment with
 * reuse off, and one that never saw it, agree); the late sample changes
 * the input, which is ranked again. */
/* Whether needle occurs in the buffer's bytes. */
static int has(const struct mend_wbuf *w, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= w->len; i++)
        if (!memcmp(w->data + i, needle, n))
            return 1;
    return 0;
}

static void annotate_into(struct mend_localise_attach *a, const struct mend_incident *inc,
                          int64_t now, struct mend_wbuf *w)
{
    w->len = 0;
    mend_localise_attach_annotate(a, "update", inc, now, w);
    assert_false(w->failed);
    assert_true(w->len > 0);
    assert_false(has(w, "\"error\""));
}

static void test_reuse_identical_input(void **state)
{
    (void)state;
    const int64_t MIN = 60000000000LL;
    struct mend_series_conf sc;
    mend_series_conf_defaults(&sc);
    sc.hash_seed = 3;
    struct mend_registry *reg;
    assert_int_equal(mend_registry_new(&sc, 0, &reg), 0);
    struct mend_series *ser[4];
    char key[4][32];
    uint64_t x = 99;
    for (int k = 0; k < 4; k++) {
        snprintf(key[k], sizeof key[k], "m,host=a k%d", k);
        assert_int_equal(mend_registry_get(reg, key[k], strlen(key[k]), "a", 1, &ser[k], NULL), 0);
        ser[k]->interval = MIN;
    }
    for (int t = 0; t < 300; t++)
        for (int k = 0; k < 4; k++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            double v = 10 + (double)(x >> 11) / 9007199254740992.0;
            if (k == 1 && t >= 280)
                v += 5 + 0.1 * (t - 280);
            if (k == 2 && t == 283)
                continue; /* arrives late, below */
            assert_int_equal(mend_series_push(reg, ser[k], t * MIN, v), 0);
        }
    struct mend_incident_signal sig = {.series_id = ser[1]->id, .kind = MEND_ANOM_SCORE,
                                       .key = key[1], .first_t = 280 * MIN, .last_t = 281 * MIN,
                                       .start_t = 280 * MIN, .events = 2};
    struct mend_incident inc = {.id = 1, .entity_id = ser[1]->entity, .start_t = 280 * MIN,
                                .last_t = 281 * MIN, .n_signals = 1, .cap_signals = 1,
                                .events = 2, .max_score = 1, .signals = &sig};
    inc.entity = (char *)"a";
    struct mend_localise_attach_conf c;
    mend_localise_attach_conf_defaults(&c);
    assert_int_equal(c.reuse, 1);
    c.window = 8;
    struct mend_localise_attach *on, *off, *fresh;
    assert_int_equal(mend_localise_attach_new(&c, reg, sc.ring_cap, &on), 0);
    assert_int_equal(mend_localise_attach_new(&c, reg, sc.ring_cap, &fresh), 0);
    c.reuse = 0;
    assert_int_equal(mend_localise_attach_new(&c, reg, sc.ring_cap, &off), 0);
    c.reuse = 2;
    struct mend_localise_attach *bad;
    assert_int_equal(mend_localise_attach_new(&c, reg, sc.ring_cap, &bad), MEND_EINVAL);

    struct mend_wbuf w1, w2, w3;
    mend_wbuf_init(&w1);
    mend_wbuf_init(&w2);
    mend_wbuf_init(&w3);
    struct mend_localise_attach_stats st;
    annotate_into(on, &inc, 290 * MIN, &w1); /* 11 slots past the start: the window is full */
    assert_true(has(&w1, "\"slots\":8,"));
    assert_true(has(&w1, "\"samples\":31}"));
    assert_true(has(&w1, "{\"key\":\"m,host=a k1\",\"component\":\"a\""));
    mend_localise_attach_stats(on, &st);
    assert_true(st.runs == 1 && st.reused == 0);
    annotate_into(on, &inc, 299 * MIN, &w2); /* later, nothing new in the window */
    mend_localise_attach_stats(on, &st);
    assert_true(st.runs == 2 && st.reused == 1);
    assert_int_equal(w2.len, w1.len);
    assert_memory_equal(w2.data, w1.data, w1.len);
    annotate_into(off, &inc, 299 * MIN, &w3); /* ranked afresh: the same bytes */
    mend_localise_attach_stats(off, &st);
    assert_true(st.runs == 1 && st.reused == 0);
    assert_int_equal(w3.len, w1.len);
    assert_memory_equal(w3.data, w1.data, w1.len);
    annotate_into(off, &inc, 299 * MIN, &w3);
    mend_localise_attach_stats(off, &st);
    assert_true(st.runs == 2 && st.reused == 0); /* off never reuses */

    /* a late sample inside the window: a new input, ranked again */
    assert_int_equal(mend_series_push(reg, ser[2], 283 * MIN, 30.0), 0);
    annotate_into(on, &inc, 299 * MIN, &w2);
    mend_localise_attach_stats(on, &st);
    assert_true(st.runs == 3 && st.reused == 1);
    assert_true(has(&w2, "\"samples\":32}"));
    annotate_into(fresh, &inc, 299 * MIN, &w3);
    assert_int_equal(w3.len, w2.len);
    assert_memory_equal(w3.data, w2.data, w2.len);
    /* and that ranking is the one reused next */
    annotate_into(on, &inc, 299 * MIN, &w1);
    mend_localise_attach_stats(on, &st);
    assert_true(st.runs == 4 && st.reused == 2);
    assert_int_equal(w1.len, w2.len);
    assert_memory_equal(w1.data, w2.data, w2.len);

    mend_wbuf_fini(&w1);
    mend_wbuf_fini(&w2);
    mend_wbuf_fini(&w3);
    mend_localise_attach_free(on);
    mend_localise_attach_free(off);
    mend_localise_attach_free(fresh);
    mend_registry_free(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_section),
        cmocka_unit_test(test_engine_names_the_runaway_host),
        cmocka_unit_test(test_replay_agrees_with_offline),
        cmocka_unit_test(test_reuse_identical_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
