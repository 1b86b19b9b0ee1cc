/* test_ingest_prom.c -- Prometheus text exposition 0.0.4: comments, labels
 * and their escapes, canonical keys with sorted, LP-escaped labels,
 * NaN/Inf handling, millisecond timestamps and the default scrape time,
 * errors with line:col, caps, splits at every offset and a node_exporter
 * style fixture. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mend/ingest.h"

#include "ingest_collect.h"

static char *run_full(const char *text, size_t len, const struct mend_ingest_opts *o,
                      struct mend_parse_stats *st, int64_t deftime, size_t a, size_t b)
{
    static struct collect c;
    memset(&c, 0, sizeof c);
    struct mend_parser *p;
    assert_int_equal(mend_parser_new(MEND_FMT_PROM, o, &p), 0);
    if (deftime)
        mend_parser_set_default_time(p, deftime);
    struct mend_sink sink = {collect_point, on_error, &c};
    assert_int_equal(mend_parser_feed(p, text, a, &sink), 0);
    assert_int_equal(mend_parser_feed(p, text + a, b - a, &sink), 0);
    assert_int_equal(mend_parser_feed(p, text + b, len - b, &sink), 0);
    assert_int_equal(mend_parser_finish(p, &sink), 0);
    if (st)
        mend_parser_stats(p, st);
    mend_parser_free(p);
    return c.buf;
}

static char *run_opts(const char *text, const struct mend_ingest_opts *o, struct mend_parse_stats *st)
{
    size_t n = strlen(text);
    return run_full(text, n, o, st, 0, n, n);
}

static char *run(const char *text)
{
    return run_opts(text, NULL, NULL);
}

static void test_basic_and_comments(void **state)
{
    (void)state;
    struct mend_parse_stats st;
    const char *in =
        "# HELP http_requests_total The total number of HTTP requests.\n"
        "# TYPE http_requests_total counter\n"
        "http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n"
        "http_requests_total{method=\"post\",code=\"400\"}    3 1395066363000\n"
        "\n"
        "# Minimalistic line:\n"
        "metric_without_timestamp_and_labels 12.47\n";
    assert_string_equal(run_opts(in, NULL, &st),
                        "http_requests_total,code=200,method=post|-|1395066363000000000|1027\n"
                        "http_requests_total,code=400,method=post|-|1395066363000000000|3\n"
                        "metric_without_timestamp_and_labels|-|notime|12.470000000000001\n");
    assert_int_equal(st.comments, 3);
    assert_int_equal(st.lines, 7);
    assert_int_equal(st.points, 3);
    assert_int_equal(st.errors, 0);
}

static void test_label_escapes(void **state)
{
    (void)state;
    /* \\ \" \n are unescaped; then , = and space get LP tag escaping */
    const char *in =
        "msdos_file_access_time_seconds{path=\"C:\\\\DIR\\\\FILE.TXT\",error=\"Cannot find file:\\n\\\"FILE.TXT\\\"\"} 1.458255915e9\n"
        "m{a=\"x,y=z w\"} 1\n";
    assert_string_equal(run(in),
                        "msdos_file_access_time_seconds,error=Cannot\\ find\\ file:\n\"FILE.TXT\","
                        "path=C:\\DIR\\FILE.TXT|-|notime|1458255915\n"
                        "m,a=x\\,y\\=z\\ w|-|notime|1\n");
}

static void test_whitespace_trailing_comma_empty(void **state)
{
    (void)state;
    /* blanks inside the braces, a trailing comma, an empty label (= absent),
     * tabs between value and timestamp, empty braces */
    assert_string_equal(run("m{ b = \"2\" , a=\"1\", } 5\t\t7\nn{} 1\no{x=\"\",y=\"q\"} 2\n"),
                        "m,a=1,b=2|-|7000000|5\nn|-|notime|1\no,y=q|-|notime|2\n");
}

static void test_entity_and_default_time(void **state)
{
    (void)state;
    struct mend_ingest_opts o;
    mend_ingest_opts_defaults(&o);
    o.entity_tag = "instance";
    const char *in = "up{job=\"node\",instance=\"10.0.0.1:9100\"} 1\nup{job=\"x\"} 0 1000\n";
    size_t n = strlen(in);
    assert_string_equal(run_full(in, n, &o, NULL, 1700000000000000000LL, n, n),
                        "up,instance=10.0.0.1:9100,job=node|10.0.0.1:9100|1700000000000000000|1\n"
                        "up,job=x|-|1000000000|0\n");
    /* the default entity tag is "host" */
    assert_string_equal(run("m{host=\"a b\"} 1\n"), "m,host=a\\ b|a b|notime|1\n");
}

/* "key entity kind" per point. */
static int kind_point(void *ctx, const struct mend_point *p)
{
    char *b = ctx;
    size_t l = strlen(b);
    snprintf(b + l, 4096 - l, "%.*s %.*s %c\n", (int)p->key_len, p->key, p->entity ? (int)p->entity_len : 1,
             p->entity ? p->entity : "-", p->kind == MEND_POINT_COUNTER ? 'C' : 'G');
    return 0;
}

static const char *kinds_of(const char *in, const char *etag)
{
    static char b[4096];
    b[0] = '\0';
    struct mend_ingest_opts o;
    mend_ingest_opts_defaults(&o);
    o.entity_tag = etag;
    struct mend_parser *p;
    assert_int_equal(mend_parser_new(MEND_FMT_PROM, &o, &p), MEND_OK);
    struct mend_sink k = {kind_point, NULL, b};
    assert_int_equal(mend_parser_feed(p, in, strlen(in), &k), MEND_OK);
    mend_parser_free(p);
    return b;
}

/* The TYPE line carries to the samples (counters become rates in the engine). */
static void test_kinds(void **state)
{
    (void)state;
    assert_string_equal(kinds_of("# HELP node_cpu_seconds_total Seconds.\n"
                                 "# TYPE node_cpu_seconds_total counter\n"
                                 "node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 10\n"
                                 "# TYPE node_load1 gauge\n"
                                 "node_load1 0.5\n"
                                 "# TYPE rpc histogram\n"
                                 "rpc_bucket{le=\"0.1\"} 3\nrpc_sum 1.5\nrpc_count 4\n"
                                 "# TYPE lat summary\n"
                                 "lat{quantile=\"0.5\"} 0.2\nlat_sum 9\nlat_count 30\n"
                                 "# TYPE reqs counter\n"
                                 "reqs_total 7\nreqs_created 1.7e9\n"
                                 "# TYPE odd_total gauge\n"
                                 "odd_total 3\n"
                                 "untyped_total 5\nplain 1\n",
                                 "host"),
                        "node_cpu_seconds_total,cpu=0,mode=idle - C\n"
                        "node_load1 - G\n"
                        "rpc_bucket,le=0.1 - C\nrpc_sum - C\nrpc_count - C\n"
                        "lat,quantile=0.5 - G\nlat_sum - C\nlat_count - C\n"
                        "reqs_total - C\nreqs_created - G\n"
                        "odd_total - G\n"
                        "untyped_total - C\nplain - G\n");
}

/* input.entity_tag as a list: the first name a sample carries wins,
 * whatever the label order. */
static void test_entity_list(void **state)
{
    (void)state;
    assert_string_equal(kinds_of("up{instance=\"i:1\",host=\"h\"} 1\nup{instance=\"i:2\"} 1\nup{job=\"j\"} 1\n",
                                 "host,instance"),
                        "up,host=h,instance=i:1 h G\nup,instance=i:2 i:2 G\nup,job=j - G\n");
    assert_string_equal(kinds_of("up{instance=\"i:1\",host=\"h\"} 1\n", "instance,host"),
                        "up,host=h,instance=i:1 i:1 G\n");
}

static void test_nonfinite(void **state)
{
    (void)state;
    struct mend_parse_stats st;
    const char *in = "a NaN\nb +Inf\nc -Inf\nd 1\nbucket{le=\"+Inf\"} 4\n";
    assert_string_equal(run_opts(in, NULL, &st),
                        "E 1:3 non-finite sample value (NaN/Inf) rejected\n"
                        "E 2:3 non-finite sample value (NaN/Inf) rejected\n"
                        "E 3:3 non-finite sample value (NaN/Inf) rejected\n"
                        "d|-|notime|1\n"
                        "bucket,le=+Inf|-|notime|4\n");
    assert_int_equal(st.errors, 3);
    struct mend_ingest_opts o;
    mend_ingest_opts_defaults(&o);
    o.keep_nonfinite = 1;
    assert_string_equal(run_opts(in, &o, &st),
                        "a|-|notime|nan\nb|-|notime|inf\nc|-|notime|-inf\nd|-|notime|1\n"
                        "bucket,le=+Inf|-|notime|4\n");
    assert_int_equal(st.errors, 0);
}

static void test_errors(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"9abc 1", "E 1:1 bad metric name\n"},
        {"a-b 1", "E 1:2 bad character in metric name\n"},
        {"m", "E 1:2 missing sample value\n"},
        {"m{a=\"1\"}", "E 1:9 missing sample value\n"},
        {"m{1a=\"1\"} 1", "E 1:3 bad label name\n"},
        {"m{a:b=\"1\"} 1", "E 1:4 expected '=' after label name\n"},
        {"m{a} 1", "E 1:4 expected '=' after label name\n"},
        {"m{a=1} 1", "E 1:5 expected '\"' to open label value\n"},
        {"m{a=\"1} 1", "E 1:3 unterminated label value\n"},
        {"m{a=\"\\t\"} 1", "E 1:6 bad escape in label value (\\\\ \\\" \\n only)\n"},
        {"m{a=\"1\" b=\"2\"} 1", "E 1:9 expected ',' or '}' in label set\n"},
        {"m{a=\"1\",a=\"2\"} 1", "E 1:9 duplicate label name\n"},
        {"m{a=\"1\"", "E 1:8 expected ',' or '}' in label set\n"},
        {"m abc", "E 1:3 bad sample value\n"},
        {"m 1e999", "E 1:3 sample value out of range\n"},
        {"m 1 17x", "E 1:5 bad timestamp\n"},
        {"m 1 9300000000000000", "E 1:5 timestamp overflows int64 nanoseconds\n"},
        {"m 1 2 3", "E 1:7 unexpected text after timestamp\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct mend_parse_stats st;
        const char *got = run_opts(cases[i].in, NULL, &st);
        if (strcmp(got, cases[i].want))
            fail_msg("case %zu '%s': got '%s' want '%s'", i, cases[i].in, got, cases[i].want);
        assert_int_equal(st.errors, 1);
        assert_int_equal(st.points, 0);
    }
}

static void test_caps(void **state)
{
    (void)state;
    struct mend_ingest_opts o;
    mend_ingest_opts_defaults(&o);
    o.max_tags = 2;
    assert_string_equal(run_opts("m{a=\"1\",b=\"2\"} 1\nm{a=\"1\",b=\"2\",c=\"3\"} 1\n", &o, NULL),
                        "m,a=1,b=2|-|notime|1\nE 2:15 too many labels (max_tags)\n");
    mend_ingest_opts_defaults(&o);
    o.max_key = 9;   /* "m,a=x\,yz" is 9 bytes once escaped */
    assert_string_equal(run_opts("m{a=\"x,yz\"} 1\nm{a=\"x,yzw\"} 1\nlongmetricname 1\n", &o, NULL),
                        "m,a=x\\,yz|-|notime|1\nE 2:3 series key longer than max_key\n"
                        "E 3:1 series key longer than max_key\n");
    mend_ingest_opts_defaults(&o);
    o.max_line = 8;
    struct mend_parse_stats st;
    assert_string_equal(run_opts("abc 1234\nabc 12345\nx 1\n", &o, &st),
                        "abc|-|notime|1234\nE 2:9 line longer than max_line\nx|-|notime|1\n");
    assert_int_equal(st.overlong, 1);
}

static void test_split_every_offset(void **state)
{
    (void)state;
    const char *in =
        "# HELP x y\r\nx{a=\"1\\\"\",b=\"2\"} 1 100\r\nbad{ 1\n\nyy 2.5\nz{q=\"v\"} NaN\nlast 3";
    size_t n = strlen(in);
    char *want = strdup(run_full(in, n, NULL, NULL, 0, n, n));
    assert_non_null(strstr(want, "last|-|notime|3"));
    for (size_t a = 0; a <= n; a++)
        for (size_t b = a; b <= n; b += 5) {
            const char *got = run_full(in, n, NULL, NULL, 0, a, b);
            if (strcmp(got, want))
                fail_msg("split %zu/%zu:\n%s\nwant\n%s", a, b, got, want);
        }
    free(want);
}

static void test_fixture(void **state)
{
    (void)state;
    FILE *fp = fopen("tests/fixtures/ingest/node_exporter.prom", "rb");
    assert_non_null(fp);
    static char data[16384];
    size_t n = fread(data, 1, sizeof data - 1, fp);
    fclose(fp);
    data[n] = '\0';
    enum mend_format f;
    assert_int_equal(mend_format_guess(NULL, data, n, &f), 0);
    assert_int_equal(f, MEND_FMT_PROM);
    struct mend_parse_stats st;
    const char *got = run_full(data, n, NULL, &st, 1700000000000000000LL, n, n);
    assert_int_equal(st.lines, 33);
    assert_int_equal(st.comments, 15);
    assert_int_equal(st.points, 17);
    assert_int_equal(st.errors, 1);   /* the summary's NaN quantile */
    assert_non_null(strstr(got, "node_cpu_seconds_total,cpu=0,mode=idle|-|1700000000000000000|123456.78\n"));
    assert_non_null(strstr(got, "node_memory_MemAvailable_bytes|-|1700000000000000000|6166519808\n"));
    assert_non_null(strstr(got, "http_request_duration_seconds_bucket,le=+Inf|-|1700000000000000000|144320\n"));
    assert_non_null(strstr(got, "go_gc_duration_seconds,quantile=1|-|1700000000123000000|0.001\n"));
    assert_non_null(strstr(got, "E 30:39 non-finite sample value (NaN/Inf) rejected\n"));
    assert_non_null(strstr(got, ",version=#1\\ SMP\\ PREEMPT_DYNAMIC\\ Debian\\ 6.1.55-1\\ (2023-09-29)|"));
}

/* ---- conformance with the text exposition format 0.0.4, case by case ---
 * Written from the format's specification: tokens separated by blanks or
 * tabs, '#' lines (HELP, TYPE and others) ignored, label values escaped
 * with \\ \" \n only, a trailing comma in the label set, float values
 * including NaN/+Inf/-Inf, an optional int64 millisecond timestamp. */
static void test_conformance(void **state)
{
    (void)state;
    struct mend_ingest_opts o;
    mend_ingest_opts_defaults(&o);
    o.keep_nonfinite = 1;
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"metric_without_timestamp_and_labels 12.47", "metric_without_timestamp_and_labels|-|notime|12.470000000000001\n"},
        {"http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000",
         "http_requests_total,code=200,method=post|-|1395066363000000000|1027\n"},
        {"something_weird{problem=\"division by zero\"} +Inf -3982045",
         "something_weird,problem=division\\ by\\ zero|-|-3982045000000|inf\n"},
        {"msdos_file_access_time_seconds{path=\"C:\\\\DIR\\\\FILE.TXT\"} 1.458255915e9",
         "msdos_file_access_time_seconds,path=C:\\DIR\\FILE.TXT|-|notime|1458255915\n"},
        {"m{a=\"say \\\"hi\\\"\"} 1", "m,a=say\\ \"hi\"|-|notime|1\n"},
        {"rpc_duration_seconds{quantile=\"0.5\"} 4773", "rpc_duration_seconds,quantile=0.5|-|notime|4773\n"},
        {"http_request_duration_seconds_bucket{le=\"+Inf\"} 144320",
         "http_request_duration_seconds_bucket,le=+Inf|-|notime|144320\n"},
        {"m{a=\"1\",} 1", "m,a=1|-|notime|1\n"},
        {"m{} 1", "m|-|notime|1\n"},
        {"\t m \t{ a = \"1\" , b=\"2\" }\t 3 \t 4 ", "m,a=1,b=2|-|4000000|3\n"},
        {"m NaN", "m|-|notime|nan\n"},
        {"m -Inf", "m|-|notime|-inf\n"},
        {"m 1e3", "m|-|notime|1000\n"},
        {"m -0.5 -1", "m|-|-1000000|-0.5\n"},
        {"a:b:c_d 1", "a:b:c_d|-|notime|1\n"},
        {"_m{_l=\"x\"} 1", "_m,_l=x|-|notime|1\n"},
        {"# HELP m some text with \\\\ and \\n", ""},
        {"# TYPE m counter", ""},
        {"# any other comment", ""},
        /* label values are UTF-8, written raw; the only newline is \n */
        {"m{a=\"w\xc3\xa8\"} 1", "m,a=w\xc3\xa8|-|notime|1\n"},
        {"m{a=\"x\\ny\"} 1", "m,a=x\ny|-|notime|1\n"},
        /* refused */
        {"m{__name__=\"other\"} 1", "E 1:3 label name __name__ is reserved\n"},
        {"m{a=\"1\",__name__=\"m\"} 1", "E 1:9 label name __name__ is reserved\n"},
        {"m{a=\"x\x01y\"} 1", "E 1:7 control character in label value\n"},
        {"m{a=\"x\ty\"} 1", "E 1:7 control character in label value\n"},
        {"m{a=\"x\x7f\"} 1", "E 1:7 control character in label value\n"},
        {"m{a=\"x\xffy\"} 1", "E 1:7 invalid UTF-8 in label value\n"},
        {"m{a=\"\\\\x\xc3\"} 1", "E 1:9 invalid UTF-8 in label value\n"},
        {"m{a=\"\xc2\x80\"} 1", "E 1:6 invalid UTF-8 in label value\n"},
        {"m\x01 1", "E 1:2 bad character in metric name\n"},
        {"m\xc3\xa8 1", "E 1:2 bad character in metric name\n"},
        {"\xc3\xa8m 1", "E 1:1 bad metric name\n"},
        {"m{l\xc3\xa8=\"1\"} 1", "E 1:4 expected '=' after label name\n"},
        {"m{a=\"1\"} 1 1.5", "E 1:12 bad timestamp\n"},
        {"m 1 9214646400000", "E 1:5 timestamp outside years 1678..2261\n"},
        {"m 1 -9214560000001", "E 1:5 timestamp outside years 1678..2261\n"},
        {"m 1 9214646399999", "m|-|9214646399999000000|1\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct mend_parse_stats st;
        const char *got = run_opts(cases[i].in, &o, &st);
        if (strcmp(got, cases[i].want))
            fail_msg("case %zu '%s': got '%s' want '%s'", i, cases[i].in, got, cases[i].want);
        if (cases[i].want[0] == 'E')
            assert_int_equal(st.errors, 1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_and_comments),
        cmocka_unit_test(test_label_escapes),
        cmocka_unit_test(test_whitespace_trailing_comma_empty),
        cmocka_unit_test(test_entity_and_default_time),
        cmocka_unit_test(test_nonfinite),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_split_every_offset),
        cmocka_unit_test(test_fixture),
        cmocka_unit_test(test_conformance),
        cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_entity_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
