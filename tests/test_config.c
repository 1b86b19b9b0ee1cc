/* test_config.c -- YAML configuration: defaults, every section, errors that
 * name file:line:col and the key, durations, --set style keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mend/config.h"

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
    assert_int_equal(mend_config_set(&cfg, "input.listen", "http://x:1", err, sizeof err), MEND_EINVAL);
    assert_int_equal(mend_config_set(&cfg, "input.entity_tag", "", err, sizeof err), MEND_OK);
    assert_null(cfg.ingest.entity_tag);
    assert_int_equal(mend_config_set(&cfg, "detect.no_such_option", "1", err, sizeof err), MEND_EINVAL);
    assert_int_equal(mend_config_set(&cfg, "nosection", "1", err, sizeof err), MEND_EINVAL);
    assert_non_null(strstr(err, "unknown option"));
}

static void test_durations(void **state)
{
    (void)state;
    int64_t ns;
    assert_int_equal(mend_parse_duration("250ms", &ns), MEND_OK);
    assert_int_equal(ns, 250000000);
    assert_int_equal(mend_parse_duration("10", &ns), MEND_OK);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),       cmocka_unit_test(test_full_file),
        cmocka_unit_test(test_errors_name_the_place), cmocka_unit_test(test_set_and_bounds),
        cmocka_unit_test(test_durations),      cmocka_unit_test(test_docs_print),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
