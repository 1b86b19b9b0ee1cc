/* test_config.c -- YAML configuration: defaults, every section, errors that
 * name file:line:col and the key, durations, --set style keys; the config
 * maps: their defaults agree with the modules' *_conf_defaults(), and the
 * machinery for nested maps, lists of mappings and dicts works (on a
 * scrape-targets map defined here, as the collectors will need). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mend/config.h"
#include "mend/confmap.h"
#include "mend/engine.h"
#include "mend/incident.h"
#include "mend/mvgauss.h"
#include "mend/scorer.h"
#include "mend/series.h"

#define SEC 1000000000LL

static struct mend_config cfg;

static void test_defaults(void **state)
{
    (void)state;
    mend_config_defaults(&cfg);
    assert_string_equal(cfg.ingest.entity_tag, "host");
    assert_int_equal(cfg.engine.series.max_series, 1000000);
    assert_int_equal(cfg.engine.series.ring_cap, 512);
    assert_string_equal(cfg.incidents_output, "-");
    assert_int_equal(cfg.n_listen, 0);
    assert_int_equal(cfg.checkpoint_path[0], '\0');
}

static void test_full_file(void **state)
{
    (void)state;
    char err[512] = "";
    mend_config_defaults(&cfg);
    int rc = mend_config_load(&cfg, "tests/fixtures/config/full.yaml", err, sizeof err);
    if (rc)
        fail_msg("%s", err);
    assert_int_equal(cfg.n_listen, 2);
    assert_string_equal(cfg.listen[1], "udp://127.0.0.1:8094");
    assert_string_equal(cfg.format, "lp");
    assert_int_equal(cfg.ingest.precision_ns, 1000000);
    assert_string_equal(cfg.ingest.entity_tag, "service");
    assert_int_equal(cfg.engine.lateness_ns, 30 * SEC);
    assert_int_equal(cfg.engine.series.max_series, 5000);
    assert_int_equal(cfg.engine.series.ring_cap, 256);
    assert_float_equal(cfg.engine.scorer.threshold, 0.75, 1e-12);
    assert_int_equal(cfg.engine.mvg_enabled, 0);
    assert_float_equal(cfg.engine.absence_factor, 3, 0);
    assert_int_equal(cfg.engine.absence_min_ns, 120 * SEC);
    assert_string_equal(cfg.incidents_output, "/tmp/incidents.jsonl");
    assert_int_equal(cfg.engine.incidents.resolve_after_ns, 900 * SEC);
    assert_string_equal(cfg.checkpoint_path, "/tmp/mend.ckpt");
    assert_int_equal(cfg.checkpoint_interval_ns, 3600 * SEC);
}

static void expect_error(const char *path, const char *want1, const char *want2)
{
    char err[512] = "";
    mend_config_defaults(&cfg);
    assert_int_not_equal(mend_config_load(&cfg, path, err, sizeof err), MEND_OK);
    if (!strstr(err, want1) || (want2 && !strstr(err, want2)))
        fail_msg("error '%s' lacks '%s' / '%s'", err, want1, want2 ? want2 : "");
}

static void test_errors_name_the_place(void **state)
{
    (void)state;
    expect_error("tests/fixtures/config/bad_value.yaml", "bad_value.yaml:4:9:", "series.ring");
    expect_error("tests/fixtures/config/unknown_key.yaml", "unknown_key.yaml:3:11:", "input.colour");
    expect_error("tests/fixtures/config/bad_yaml.yaml", "bad_yaml.yaml:", "YAML");
    expect_error("tests/fixtures/config/missing.yaml", "missing.yaml", "cannot open");
    char err[256];
    mend_config_defaults(&cfg);
    assert_int_equal(mend_config_load_buf(&cfg, "x", "- a\n- b\n", 8, err, sizeof err), MEND_EINVAL);
    assert_non_null(strstr(err, "mapping of sections"));
    /* an empty file is fine: all defaults */
    assert_int_equal(mend_config_load_buf(&cfg, "x", "", 0, err, sizeof err), MEND_OK);
}

static void test_set_and_bounds(void **state)
{
    (void)state;
    char err[256];
    mend_config_defaults(&cfg);
    assert_int_equal(mend_config_set(&cfg, "absence.enabled", "off", err, sizeof err), MEND_OK);
    assert_int_equal(cfg.engine.absence_enabled, 0);
    assert_int_equal(mend_config_set(&cfg, "series.ring", "1", err, sizeof err), MEND_EINVAL);
    assert_non_null(strstr(err, "[2, 65536]"));
    assert_int_equal(mend_config_set(&cfg, "series.ring", "2.5", err, sizeof err), MEND_EINVAL);
    assert_int_equal(mend_config_set(&cfg, "input.precision", "minutes", err, sizeof err), MEND_EINVAL);
    assert_int_equal(mend_config_set(&cfg, "input.format", "xml", err, sizeof err), MEND_EINVAL);
    assert_int_equal(mend_config_set(&cfg, "input.listen", "x:1", err, sizeof err), MEND_EINVAL);
    assert_int_equal(mend_config_set(&cfg, "input.entity_tag", "", err, sizeof err), MEND_OK);
    assert_null(cfg.ingest.entity_tag);
    assert_int_equal(mend_config_set(&cfg, "detect.no_such_option", "1", err, sizeof err), MEND_EINVAL);
    assert_int_equal(mend_config_set(&cfg, "nosection", "1", err, sizeof err), MEND_EINVAL);
    assert_non_null(strstr(err, "unknown option"));
}

/* input.entity_tag takes a list (tried in order); a list where one value
 * is expected is an error naming the key, never a silent "no entity". */
static void test_entity_tag_list(void **state)
{
    (void)state;
    char err[512] = "";
    const char *y = "input:\n  entity_tag: [host, instance]\ncounters:\n  patterns: [\"net bytes_*\", \"app *\"]\n";
    mend_config_defaults(&cfg);
    if (mend_config_load_buf(&cfg, "t.yaml", y, strlen(y), err, sizeof err))
        fail_msg("%s", err);
    assert_string_equal(cfg.ingest.entity_tag, "host,instance");
    assert_string_equal(cfg.engine.rates.patterns, "net bytes_*,app *");
    assert_int_equal(mend_config_set(&cfg, "input.entity_tag", "service,host", err, sizeof err), MEND_OK);
    assert_string_equal(cfg.ingest.entity_tag, "service,host");
    const char *bad[] = {"host,", ",host", "a b", "a,,b", "1,2,3,4,5,6,7,8,9", "[host,instance]", "[host]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(mend_config_set(&cfg, "input.entity_tag", bad[i], err, sizeof err), MEND_EINVAL);
        assert_non_null(strstr(err, "input.entity_tag"));
    }
    assert_string_equal(cfg.ingest.entity_tag, "service,host");
    /* a list for a key that takes one value */
    const char *y2 = "input:\n  format: [lp, prom]\n";
    assert_int_equal(mend_config_load_buf(&cfg, "t.yaml", y2, strlen(y2), err, sizeof err), MEND_EINVAL);
    assert_non_null(strstr(err, "t.yaml:2:"));
    assert_non_null(strstr(err, "input.format"));
    const char *y3 = "input:\n  entity_tag: [host, [a]]\n";
    assert_int_equal(mend_config_load_buf(&cfg, "t.yaml", y3, strlen(y3), err, sizeof err), MEND_EINVAL);
    assert_non_null(strstr(err, "input.entity_tag"));
}

/* The real scrape section (scrape.h), as the README shows it. */
static void test_scrape_section(void **state)
{
    (void)state;
    char err[512] = "";
    const char *y = "scrape:\n  interval: 30s\n  timeout: 5s\n  file: /etc/mend/targets.yml\n"
                    "  targets:\n    - url: http://127.0.0.1:9100/metrics\n      job: node\n"
                    "      labels: {rack: r1, dc: eu}\n    - url: https://db:9187/metrics\n      interval: 1m\n"
                    "      timeout: 1m\n";
    mend_config_defaults(&cfg);
    assert_int_equal(cfg.scrape.interval_ns, 15 * SEC);
    assert_int_equal(cfg.scrape.sample_limit, 100000);
    if (mend_config_load_buf(&cfg, "s.yaml", y, strlen(y), err, sizeof err))
        fail_msg("%s", err);
    assert_int_equal(cfg.scrape.n_targets, 2);
    assert_string_equal(cfg.scrape.targets[0].job, "node");
    assert_int_equal(cfg.scrape.targets[0].n_labels, 2);
    assert_string_equal(cfg.scrape.targets[0].labels[1].key, "dc");
    assert_int_equal(cfg.scrape.targets[1].interval_ns, 60 * SEC);
    assert_int_equal(cfg.scrape.interval_ns, 30 * SEC);
    assert_string_equal(cfg.scrape.file, "/etc/mend/targets.yml");
    assert_int_equal(mend_config_set(&cfg, "scrape.targets.2.url", "http://c:1/m", err, sizeof err), MEND_OK);
    assert_int_equal(cfg.scrape.n_targets, 3);
    /* a timeout longer than the interval is refused (the map's check) */
    const char *bad = "scrape:\n  interval: 1s\n  timeout: 2s\n";
    mend_config_defaults(&cfg);
    assert_int_equal(mend_config_load_buf(&cfg, "s.yaml", bad, strlen(bad), err, sizeof err), MEND_EINVAL);
    assert_non_null(strstr(err, "scrape.timeout"));
}

static void test_durations(void **state)
{
    (void)state;
    int64_t ns;
    assert_int_equal(mend_parse_duration("250ms", &ns), MEND_OK);
    assert_int_equal(ns, 250000000);
    /* issue 10: a bare number is refused (which unit?); a bare 0 is zero in any */
    assert_int_equal(mend_parse_duration("10", &ns), MEND_EINVAL);
    assert_int_equal(mend_parse_duration("0", &ns), MEND_OK);
    assert_int_equal(ns, 0);
    assert_int_equal(mend_parse_duration("10s", &ns), MEND_OK);
    assert_int_equal(ns, 10 * SEC);
    assert_int_equal(mend_parse_duration("1.5m", &ns), MEND_OK);
    assert_int_equal(ns, 90 * SEC);
    assert_int_equal(mend_parse_duration("2d", &ns), MEND_OK);
    assert_int_equal(ns, 2 * 86400 * SEC);
    assert_int_equal(mend_parse_duration("5 m", &ns), MEND_EINVAL);
    assert_int_equal(mend_parse_duration("-1s", &ns), MEND_EINVAL);
    assert_int_equal(mend_parse_duration("m", &ns), MEND_EINVAL);
    assert_int_not_equal(mend_parse_duration("1e12d", &ns), MEND_OK);
}

/* Issue 10: the message for a bare number says a unit is needed, from a
 * file (with the place) and from --set alike. */
static void test_duration_needs_unit_message(void **state)
{
    (void)state;

    char err[512];
    mend_config_defaults(&cfg);
    assert_int_equal(mend_config_set(&cfg, "incidents.resolve_after", "600", err, sizeof err), MEND_EINVAL);
    assert_non_null(strstr(err, "needs a unit"));
    const char *y = "checkpoint:\n  interval: 30\n";
    assert_int_equal(mend_config_load_buf(&cfg, "c.yaml", y, strlen(y), err, sizeof err), MEND_EINVAL);
    assert_non_null(strstr(err, "c.yaml:2:"));
    assert_non_null(strstr(err, "checkpoint.interval"));
    assert_non_null(strstr(err, "needs a unit"));
    y = "checkpoint:\n  interval: 30s\n";
    assert_int_equal(mend_config_load_buf(&cfg, "c.yaml", y, strlen(y), err, sizeof err), MEND_OK);
    assert_int_equal(cfg.checkpoint_interval_ns, 30 * SEC);
}

/* Issue 10: a section or key given twice is an error naming both places,
 * not "the last one wins". */
static void test_duplicates_refused(void **state)
{
    (void)state;

    char err[512];
    mend_config_defaults(&cfg);
    const char *y = "detect:\n  threshold: 0.6\ninput:\n  format: lp\ndetect:\n  threshold: 0.7\n";
    assert_int_equal(mend_config_load_buf(&cfg, "d.yaml", y, strlen(y), err, sizeof err), MEND_EINVAL);
    assert_non_null(strstr(err, "d.yaml:5:"));
    assert_non_null(strstr(err, "section 'detect' given twice (first at line 1)"));
    mend_config_defaults(&cfg);
    y = "input:\n  format: lp\n  entity_tag: host\n  format: csv\n";
    assert_int_equal(mend_config_load_buf(&cfg, "d.yaml", y, strlen(y), err, sizeof err), MEND_EINVAL);
    assert_non_null(strstr(err, "d.yaml:4:"));
    assert_non_null(strstr(err, "option 'input.format' given twice (first at line 2)"));
    /* the same key in two different sections is not a duplicate */
    mend_config_defaults(&cfg);
    y = "absence:\n  enabled: true\nmultivariate:\n  enabled: false\n";
    assert_int_equal(mend_config_load_buf(&cfg, "d.yaml", y, strlen(y), err, sizeof err), MEND_OK);
}

static void test_docs_print(void **state)
{
    (void)state;
    char buf[32768];
    FILE *f = fmemopen(buf, sizeof buf, "w");
    mend_config_print_docs(f);
    fclose(f);
    buf[sizeof buf - 1] = '\0';
    assert_non_null(strstr(buf, "series.ring"));
    assert_non_null(strstr(buf, "512"));
    assert_non_null(strstr(buf, "incidents.resolve_after"));
    assert_non_null(strstr(buf, "10m"));
    assert_non_null(strstr(buf, "detect.threshold"));
}

/* The maps' default texts give exactly what the modules' defaults functions
 * set: for the whole configuration and for each module's map alone. */
static void test_map_defaults_match_modules(void **state)
{
    (void)state;
    char err[512] = "";
    mend_config_defaults(&cfg);
    if (mend_conf_defaults_match(mend_config_map(), &cfg, NULL, err, sizeof err))
        fail_msg("%s", err);
    struct mend_series_conf sc;
    mend_series_conf_defaults(&sc);
    assert_int_equal(mend_conf_defaults_match(&mend_series_conf_map, &sc, "series", err, sizeof err), 0);
    struct mend_mvg_conf mc;
    mend_mvg_conf_defaults(&mc);
    assert_int_equal(mend_conf_defaults_match(&mend_mvg_conf_map, &mc, "multivariate", err, sizeof err), 0);
    struct mend_incident_conf ic;
    mend_incident_conf_defaults(&ic);
    assert_int_equal(mend_conf_defaults_match(&mend_incident_conf_map, &ic, "incidents", err, sizeof err), 0);
    struct mend_scorer_conf dc;
    mend_scorer_conf_defaults(&dc);
    assert_int_equal(mend_conf_defaults_match(&mend_scorer_conf_map, &dc, "detect", err, sizeof err), 0);
    struct mend_engine_conf ec;
    mend_engine_conf_defaults(&ec);
    assert_int_equal(mend_conf_defaults_match(&mend_engine_mv_conf_map, &ec, "multivariate", err, sizeof err), 0);
    /* and a drift is caught, naming the option */
    sc.ring_cap = 100;
    assert_int_equal(mend_conf_defaults_match(&mend_series_conf_map, &sc, "series", err, sizeof err),
                     MEND_EINVAL);
    assert_non_null(strstr(err, "series.ring"));
    assert_non_null(strstr(err, "'512'"));
}

static void test_set_leaves_config_unchanged_on_error(void **state)
{
    (void)state;
    char err[256];
    struct mend_config before;
    mend_config_defaults(&cfg);
    before = cfg;
    const char *bad[][2] = {
        {"series.ring", "lots"},        {"detect.threshold", "2"},   {"input.lateness", "5 m"},
        {"multivariate.warmup", "1.5"}, {"absence.min", "-1s"},      {"input.precision", "h"},
        {"incidents.max_open", "0"},    {"input.max_line", "1e300"}, {"detect.quiet", "nan"},
        {"input", "x"},                 {"series.ring.x", "1"},      {"checkpoint.interval", "inf"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (mend_config_set(&cfg, bad[i][0], bad[i][1], err, sizeof err) == MEND_OK)
            fail_msg("%s=%s accepted", bad[i][0], bad[i][1]);
        assert_non_null(strstr(err, bad[i][0]));
        assert_memory_equal(&cfg, &before, sizeof cfg);
    }
    /* the messages say what is accepted */
    mend_config_set(&cfg, "input.precision", "h", err, sizeof err);
    assert_non_null(strstr(err, "one of ns, us, ms, s"));
    mend_config_set(&cfg, "detect.threshold", "2", err, sizeof err);
    assert_non_null(strstr(err, "0.01..1"));
    /* a uint64 field is written whole (multivariate.warmup is uint64_t) */
    cfg.engine.mvg.warmup = UINT64_MAX;
    assert_int_equal(mend_config_set(&cfg, "multivariate.warmup", "1e9", err, sizeof err), MEND_OK);
    assert_int_equal(cfg.engine.mvg.warmup, 1000000000ULL);
    /* lists: --set appends, up to the cap */
    for (int i = 0; i < MEND_CONFIG_MAX_LISTEN; i++)
        assert_int_equal(mend_config_set(&cfg, "input.listen", "tcp://127.0.0.1:1", err, sizeof err), MEND_OK);
    assert_int_equal(mend_config_set(&cfg, "input.listen", "tcp://127.0.0.1:1", err, sizeof err), MEND_ECAP);
    assert_int_equal(cfg.n_listen, MEND_CONFIG_MAX_LISTEN);
}

/* Defect 14 (last point): input.max_key reaches the series registry, so a
 * key the parser accepts is not silently refused afterwards. */
static void test_max_key_reaches_registry(void **state)
{
    (void)state;
    char err[256];
    mend_config_defaults(&cfg);
    assert_int_equal(cfg.engine.series.max_key, cfg.ingest.max_key);
    assert_int_equal(mend_config_set(&cfg, "input.max_key", "4096", err, sizeof err), MEND_OK);
    assert_int_equal(cfg.engine.series.max_key, 4096);
    assert_int_equal(mend_config_load_buf(&cfg, "x", "input: {max_key: 3000}\n", 23, err, sizeof err), MEND_OK);
    assert_int_equal(cfg.engine.series.max_key, 3000);

    struct mend_engine *e;
    assert_int_equal(mend_engine_new(&cfg.engine, NULL, NULL, &e), MEND_OK);
    static char key[2500];
    memset(key, 'k', sizeof key);
    struct mend_point p = {.key = key, .key_len = sizeof key, .time_ns = 1000000000, .has_time = 1, .value = 1};
    assert_int_equal(mend_engine_point(e, &p), MEND_OK);
    struct mend_engine_stats st;
    mend_engine_stats(e, &st);
    assert_int_equal(st.series, 1);
    assert_int_equal(st.refused_series, 0);
    mend_engine_free(e);
}

static void test_durations_need_no_strtod(void **state)
{
    (void)state;
    int64_t ns;
    assert_int_equal(mend_conf_parse_duration("1e3ms", &ns), MEND_OK);
    assert_int_equal(ns, SEC);
    assert_int_equal(mend_conf_parse_duration("0.5h", &ns), MEND_OK);
    assert_int_equal(ns, 1800 * SEC);
    assert_int_equal(mend_conf_parse_duration("inf", &ns), MEND_EINVAL);
    assert_int_equal(mend_conf_parse_duration("nan", &ns), MEND_EINVAL);
    assert_int_equal(mend_conf_parse_duration("0x10s", &ns), MEND_EINVAL);
    assert_int_equal(mend_conf_parse_duration(" 1s", &ns), MEND_EINVAL);
    assert_int_equal(mend_conf_parse_duration("1,5s", &ns), MEND_EINVAL);
    assert_int_equal(mend_conf_parse_duration("", &ns), MEND_EINVAL);
    assert_int_equal(mend_conf_parse_duration("10y", &ns), MEND_EINVAL);
}

/* ---- a list of mappings: scrape targets, as collectors will have ---------- */

#define MAX_TARGETS 4
#define MAX_LABELS 3

struct target {
    char url[128];
    int64_t interval_ns;
    uint32_t timeout_ms;
    struct mend_conf_pair labels[MAX_LABELS];
    size_t n_labels;
};

struct scrape_conf {
    int enabled;
    struct target targets[MAX_TARGETS];
    size_t n_targets;
    struct {
        uint32_t retries;
        double backoff;
    } retry;
};

static int check_target(const void *conf, char *err, size_t errlen)
{
    const struct target *t = conf;
    if (!t->url[0]) {
        snprintf(err, errlen, "scrape.targets: every target needs a url");
        return MEND_EINVAL;
    }
    return MEND_OK;
}

#define TOFF(f) offsetof(struct target, f)
static const struct mend_conf_entry target_entries[] = {
    {.key = "url", .type = MEND_CT_STR, .off = TOFF(url), .size = 128, .def = "", .help = "where to scrape"},
    {.key = "interval", .type = MEND_CT_DUR, .off = TOFF(interval_ns), .min = 1, .max = 3600, .def = "15s",
     .help = "time between scrapes"},
    {.key = "timeout_ms", .type = MEND_CT_U32, .off = TOFF(timeout_ms), .min = 1, .max = 60000, .def = "5000",
     .help = "give up after"},
    {.key = "labels", .type = MEND_CT_DICT, .off = TOFF(labels), .size = sizeof(struct mend_conf_pair),
     .count_off = TOFF(n_labels), .max_items = MAX_LABELS, .def = "", .help = "labels added to every series"},
};
static const struct mend_conf_map target_map = {
    .name = "target", .entries = target_entries, .n = 4, .struct_size = sizeof(struct target),
    .check = check_target,
};

#define SOFF(f) offsetof(struct scrape_conf, f)
static const struct mend_conf_entry retry_entries[] = {
    {.key = "retries", .type = MEND_CT_U32, .off = 0, .min = 0, .max = 10, .def = "3", .help = "tries"},
    {.key = "backoff", .type = MEND_CT_F64, .off = sizeof(uint32_t) + 4, .min = 1, .max = 10, .def = "2",
     .help = "factor"},
};
static const struct mend_conf_map retry_map = {
    .name = "retry", .entries = retry_entries, .n = 2, .struct_size = sizeof(((struct scrape_conf *)0)->retry),
};
static const struct mend_conf_entry scrape_entries[] = {
    {.key = "enabled", .type = MEND_CT_BOOL, .off = SOFF(enabled), .def = "false", .help = "scrape at all"},
    {.key = "targets", .type = MEND_CT_LIST, .off = SOFF(targets), .size = sizeof(struct target),
     .sub = &target_map, .count_off = SOFF(n_targets), .max_items = MAX_TARGETS, .def = "",
     .help = "what to scrape, a list of mappings"},
    {.key = "retry", .type = MEND_CT_MAP, .off = SOFF(retry), .sub = &retry_map},
};
static const struct mend_conf_map scrape_map = {
    .name = "scrape", .entries = scrape_entries, .n = 3, .struct_size = sizeof(struct scrape_conf),
};
static const struct mend_conf_entry root_entries[] = {
    {.key = "scrape", .type = MEND_CT_MAP, .off = 0, .sub = &scrape_map},
};
static const struct mend_conf_map root_map = {
    .name = "", .entries = root_entries, .n = 1, .struct_size = sizeof(struct scrape_conf),
};

static int load_scrape(struct scrape_conf *sc, const char *yaml, char *err, size_t errlen)
{
    char e0[256];
    assert_int_equal(mend_conf_defaults(&root_map, sc, e0, sizeof e0), MEND_OK);
    return mend_conf_load_yaml(&root_map, sc, "scrape.yaml", yaml, strlen(yaml), err, errlen);
}

static void test_list_of_mappings(void **state)
{
    (void)state;
    assert_int_equal(retry_entries[1].off, offsetof(struct scrape_conf, retry.backoff) - SOFF(retry));
    static struct scrape_conf sc;
    char err[512] = "";
    const char *yaml = "scrape:\n"
                       "  enabled: yes\n"
                       "  targets:\n"
                       "    - url: http://a:9100/metrics\n"
                       "      labels: {rack: r1, zone: eu}\n"
                       "    - {url: http://b:9100/metrics, interval: 1m}\n"
                       "  retry: {retries: 5}\n";
    if (load_scrape(&sc, yaml, err, sizeof err))
        fail_msg("%s", err);
    assert_int_equal(sc.enabled, 1);
    assert_int_equal(sc.n_targets, 2);
    assert_string_equal(sc.targets[0].url, "http://a:9100/metrics");
    assert_int_equal(sc.targets[0].interval_ns, 15 * SEC);     /* element default */
    assert_int_equal(sc.targets[0].timeout_ms, 5000);
    assert_int_equal(sc.targets[0].n_labels, 2);
    assert_string_equal(sc.targets[0].labels[1].key, "zone");
    assert_string_equal(sc.targets[0].labels[1].value, "eu");
    assert_string_equal(sc.targets[1].url, "http://b:9100/metrics");
    assert_int_equal(sc.targets[1].interval_ns, 60 * SEC);
    assert_int_equal(sc.targets[1].n_labels, 0);
    assert_int_equal(sc.retry.retries, 5);
    assert_float_equal(sc.retry.backoff, 2, 0);

    /* --set style paths: change an element, append one, set a label */
    assert_int_equal(mend_conf_set(&root_map, &sc, NULL, "scrape.targets.1.timeout_ms", "250", err, sizeof err), 0);
    assert_int_equal(sc.targets[1].timeout_ms, 250);
    assert_int_equal(mend_conf_set(&root_map, &sc, NULL, "scrape.targets.2.url", "http://c/", err, sizeof err), 0);
    assert_int_equal(sc.n_targets, 3);
    assert_int_equal(sc.targets[2].interval_ns, 15 * SEC);
    assert_int_equal(mend_conf_set(&root_map, &sc, NULL, "scrape.targets.2.labels.dc", "x", err, sizeof err), 0);
    assert_int_equal(mend_conf_set(&root_map, &sc, NULL, "scrape.targets.2.labels.dc", "y", err, sizeof err), 0);
    assert_int_equal(sc.targets[2].n_labels, 1);
    assert_string_equal(sc.targets[2].labels[0].value, "y");
    assert_int_equal(mend_conf_set(&root_map, &sc, NULL, "scrape.retry.backoff", "1.5", err, sizeof err), 0);
    assert_float_equal(sc.retry.backoff, 1.5, 0);
    /* refused: index past the end, bad value inside an element (list unchanged) */
    assert_int_equal(mend_conf_set(&root_map, &sc, NULL, "scrape.targets.5.url", "x", err, sizeof err), MEND_EINVAL);
    assert_non_null(strstr(err, "N in 0..3"));
    assert_int_equal(mend_conf_set(&root_map, &sc, NULL, "scrape.targets.3.interval", "2h", err, sizeof err),
                     MEND_EINVAL);
    assert_non_null(strstr(err, "scrape.targets.3.interval"));
    assert_int_equal(sc.n_targets, 3);
    assert_int_equal(mend_conf_set(&root_map, &sc, NULL, "scrape.targets.0.colour", "x", err, sizeof err), MEND_EINVAL);
    assert_non_null(strstr(err, "unknown option 'scrape.targets.0.colour'"));
    assert_int_equal(mend_conf_set(&root_map, &sc, NULL, "scrape.targets", "x", err, sizeof err), MEND_EINVAL);
    assert_int_equal(mend_conf_set(&root_map, &sc, NULL, "scrape.targets.3.url", "d", err, sizeof err), 0);
    assert_int_equal(mend_conf_set(&root_map, &sc, NULL, "scrape.targets.4.url", "e", err, sizeof err), MEND_ECAP);

    /* the documentation lists the element's options with their defaults */
    char buf[8192];
    FILE *f = fmemopen(buf, sizeof buf, "w");
    mend_conf_defaults(&root_map, &sc, NULL, 0);
    mend_conf_print(f, &root_map, &sc, NULL);
    fclose(f);
    buf[sizeof buf - 1] = '\0';
    assert_non_null(strstr(buf, "  scrape.targets               [] (none)\n"));
    assert_non_null(strstr(buf, "  scrape.targets[].interval    15s\n"));
    assert_non_null(strstr(buf, "  scrape.targets[].labels      {} (none)\n"));
    assert_non_null(strstr(buf, "  scrape.retry.backoff         2\n"));
}

static void expect_scrape_error(const char *yaml, int code, const char *where, const char *what)
{
    static struct scrape_conf sc;
    char err[512] = "";
    assert_int_equal(load_scrape(&sc, yaml, err, sizeof err), code);
    if (!strstr(err, where) || !strstr(err, what))
        fail_msg("error '%s' lacks '%s' / '%s'", err, where, what);
}

static void test_list_of_mappings_errors(void **state)
{
    (void)state;
    expect_scrape_error("scrape:\n  targets:\n    - url: a\n      intervall: 5s\n", MEND_EINVAL,
                        "scrape.yaml:4:18:", "unknown option 'scrape.targets[0].intervall'");
    expect_scrape_error("scrape:\n  targets:\n    - url: a\n    - url: b\n      timeout_ms: 0\n", MEND_EINVAL,
                        "scrape.yaml:5:19:", "scrape.targets[1].timeout_ms: '0' is not a whole number in [1, 60000]");
    expect_scrape_error("scrape:\n  targets: [a, b]\n", MEND_EINVAL, "scrape.yaml:2:13:",
                        "scrape.targets: expected a list of mappings");
    expect_scrape_error("scrape:\n  targets: [{url: a}, {url: b}, {url: c}, {url: d}, {url: e}]\n", MEND_ECAP,
                        "scrape.yaml:2:53:", "at most 4");
    expect_scrape_error("scrape:\n  targets:\n    - labels: {a: 1, b: 2, c: 3, d: 4}\n", MEND_ECAP,
                        "scrape.yaml:3:37:", "at most 3");
    expect_scrape_error("scrape:\n  targets:\n    - labels: {a: [1]}\n", MEND_EINVAL, "scrape.yaml:3:19:",
                        "scrape.targets[0].labels.a: expected a plain value");
    expect_scrape_error("scrape:\n  retry: 5\n", MEND_EINVAL, "scrape.yaml:2:10:",
                        "scrape.retry: expected a mapping of options");
    expect_scrape_error("scrape:\n  enabled: [1]\n", MEND_EINVAL, "scrape.yaml:2:12:",
                        "scrape.enabled: expected a value");
    expect_scrape_error("scrape:\n  targets:\n    - {interval: 5s}\n", MEND_EINVAL, "scrape.yaml:",
                        "every target needs a url");
    expect_scrape_error("a: &x 1\nscrape: *x\n", MEND_EINVAL, "scrape.yaml:1:", "unknown option 'a'");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),       cmocka_unit_test(test_full_file),
        cmocka_unit_test(test_errors_name_the_place), cmocka_unit_test(test_set_and_bounds),
        cmocka_unit_test(test_durations),      cmocka_unit_test(test_docs_print),
        cmocka_unit_test(test_duration_needs_unit_message),
        cmocka_unit_test(test_duplicates_refused),
        cmocka_unit_test(test_map_defaults_match_modules),
        cmocka_unit_test(test_set_leaves_config_unchanged_on_error),
        cmocka_unit_test(test_max_key_reaches_registry),
        cmocka_unit_test(test_durations_need_no_strtod),
        cmocka_unit_test(test_list_of_mappings),
        cmocka_unit_test(test_entity_tag_list),
        cmocka_unit_test(test_scrape_section),
        cmocka_unit_test(test_list_of_mappings_errors),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
