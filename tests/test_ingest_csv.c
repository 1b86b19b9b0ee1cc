/* test_ingest_csv.c -- CSV with a header (time column or row numbers,
 * quoted cells, empty and bad cells, header problems, caps, splits at every
 * offset, a NAB-style fixture) and the timefmt parsers it relies on
 * (ISO-8601 with offsets and fractions, epoch numbers by magnitude, the
 * int64 nanosecond range). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mend/ingest.h"
#include "mend/timefmt.h"

#include "ingest_collect.h"

static int csv_point(void *ctx, const struct mend_point *p)
{
    struct collect *c = ctx;
    assert_null(p->entity);
    assert_int_equal(p->has_time, 1);
    out(c, "%.*s|%lld|%.17g\n", (int)p->key_len, p->key, (long long)p->time_ns, p->value);
    return 0;
}

static char *run_full(const char *text, size_t len, const struct mend_ingest_opts *o,
                      struct mend_parse_stats *st, size_t a, size_t b)
{
    static struct collect c;
    memset(&c, 0, sizeof c);
    struct mend_parser *p;
    assert_int_equal(mend_parser_new(MEND_FMT_CSV, o, &p), 0);
    struct mend_sink sink = {csv_point, on_error, &c};
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
    return run_full(text, n, o, st, n, n);
}

static char *run(const char *text)
{
    return run_opts(text, NULL, NULL);
}

/* ---- timefmt ------------------------------------------------------------ */

static int64_t iso(const char *s, int want_rc)
{
    int64_t ns = 42;
    int rc = mend_time_parse_iso8601(s, strlen(s), &ns);
    if (rc != want_rc)
        fail_msg("'%s': rc %d want %d", s, rc, want_rc);
    return ns;
}

static int64_t epoch(const char *s, int want_rc)
{
    int64_t ns = 42;
    int rc = mend_time_parse_epoch(s, strlen(s), &ns);
    if (rc != want_rc)
        fail_msg("'%s': rc %d want %d", s, rc, want_rc);
    return ns;
}

static void test_iso8601(void **state)
{
    (void)state;
    /* 2014-04-10 is day 16170 since 1970-01-01: 16170*86400 = 1397088000 */
    const int64_t t0715 = (1397088000LL + 7 * 3600 + 15 * 60) * 1000000000LL;
    assert_int_equal(iso("2014-04-10 07:15:00", 0), t0715);
    assert_int_equal(iso("2014-04-10T07:15:00Z", 0), t0715);
    assert_int_equal(iso("2014-04-10t07:15:00z", 0), t0715);
    assert_int_equal(iso("2014-04-10 07:15:00.000000", 0), t0715);
    assert_int_equal(iso("2014-04-10T07:15", 0), t0715);
    assert_int_equal(iso("  2014-04-10T07:15:00Z ", 0), t0715);
    assert_int_equal(iso("2014-04-10T09:15:00+02:00", 0), t0715);
    assert_int_equal(iso("2014-04-10T09:45:00+0230", 0), t0715);
    assert_int_equal(iso("2014-04-10T09:15:00+02", 0), t0715);
    assert_int_equal(iso("2014-04-10T02:15:00-05:00", 0), t0715);
    assert_int_equal(iso("2014-04-10T07:15:00.5", 0), t0715 + 500000000);
    assert_int_equal(iso("2014-04-10T07:15:00,25Z", 0), t0715 + 250000000);
    assert_int_equal(iso("2014-04-10T07:15:00.123456789999Z", 0), t0715 + 123456789);
    assert_int_equal(iso("2014-04-10T09:15:00.001+02:00", 0), t0715 + 1000000);
    assert_int_equal(iso("2014-04-10", 0), 1397088000LL * 1000000000LL);
    assert_int_equal(iso("1970-01-01T00:00:00Z", 0), 0);
    assert_int_equal(iso("1969-12-31T23:59:59.5Z", 0), -500000000LL);
    assert_int_equal(iso("2000-02-29 12:00:00", 0), 951825600LL * 1000000000LL);
    assert_int_equal(iso("2016-12-31T23:59:60Z", 0), 1483228800LL * 1000000000LL);
    /* the edges of the accepted range (timefmt.h: years 1678..2261), and
     * of int64 nanoseconds beyond it, which are refused, never wrapped */
    assert_int_equal(iso("2261-12-31T23:59:59.999999999Z", 0), MEND_TIME_MAX_NS);
    iso("2262-01-01T00:00:00Z", MEND_ERANGE);
    assert_int_equal(iso("1678-01-01T00:00:00Z", 0), MEND_TIME_MIN_NS);
    iso("1677-12-31T23:59:59.999999999Z", MEND_ERANGE);
    iso("2262-04-11T23:47:16.854775807Z", MEND_ERANGE);
    iso("2262-04-11T23:47:16.854775808Z", MEND_ERANGE);
    iso("1677-09-21T00:12:43.145224191Z", MEND_ERANGE);
    iso("9999-12-31", MEND_ERANGE);
    iso("2261-12-31T23:59:59-01:00", MEND_ERANGE);   /* the offset pushes it past */

    static const char *bad[] = {
        "", "2014", "2014-04", "2014-4-10", "2014-04-10X07:15", "2014-13-01", "2014-00-10",
        "2014-04-31", "2001-02-29", "1900-02-29", "2014-04-10 24:00:00", "2014-04-10 07:60",
        "2014-04-10 07:15:61", "2014-04-10T07:15:00.", "2014-04-10T07:15:00+25:00",
        "2014-04-10T07:15:00+02:61", "2014-04-10T07:15:00 junk", "2014-04-10T07", "14-04-10",
        "2014-04-10T07:15:00ZZ", "2014/04/10",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        iso(bad[i], MEND_EPARSE);
    /* no NUL needed: only len bytes are read */
    int64_t ns;
    assert_int_equal(mend_time_parse_iso8601("2014-04-10T07:15:00Zgarbage", 20, &ns), 0);
    assert_int_equal(ns, t0715);
}

static void test_epoch(void **state)
{
    (void)state;
    assert_int_equal(epoch("1397088000", 0), 1397088000000000000LL);
    assert_int_equal(epoch("1397088000.5", 0), 1397088000500000000LL);
    assert_int_equal(epoch("1397088000.1234567891", 0), 1397088000123456789LL);
    assert_int_equal(epoch("1397088000123", 0), 1397088000123000000LL);       /* ms */
    assert_int_equal(epoch("1397088000123.5", 0), 1397088000123500000LL);
    assert_int_equal(epoch("1397088000123456", 0), 1397088000123456000LL);    /* us */
    assert_int_equal(epoch("1397088000123456789", 0), 1397088000123456789LL); /* ns */
    assert_int_equal(epoch("0", 0), 0);
    assert_int_equal(epoch("-1.5", 0), -1500000000LL);
    assert_int_equal(epoch("99999999999", MEND_ERANGE), 42);   /* seconds, overflows ns */
    assert_int_equal(epoch("100000000000", 0), 100000000000000000LL);        /* 1e11: ms */
    assert_int_equal(epoch("9000000000000", 0), 9000000000000000000LL);      /* ms */
    epoch("99999999999999", MEND_ERANGE);                                      /* ms, overflows */
    assert_int_equal(epoch("100000000000000", 0), 100000000000000000LL);     /* 1e14: us */
    assert_int_equal(epoch("100000000000000000", 0), 100000000000000000LL);  /* 1e17: ns */
    assert_int_equal(epoch("1.397088e9", 0), 1397088000000000000LL);
    epoch("99999999999999999999", MEND_ERANGE);
    epoch("", MEND_EPARSE);
    epoch("abc", MEND_EPARSE);
    epoch("12:30", MEND_EPARSE);
    epoch(".", MEND_EPARSE);
    epoch("1e", MEND_EPARSE);
    int64_t ns;
    assert_int_equal(mend_time_parse_any("2014-04-10", 10, &ns), 0);
    assert_int_equal(ns, 1397088000LL * 1000000000LL);
    assert_int_equal(mend_time_parse_any(" 1397088000 ", 12, &ns), 0);
    assert_int_equal(ns, 1397088000LL * 1000000000LL);
}

/* ---- CSV ---------------------------------------------------------------- */

static void test_nab_fixture(void **state)
{
    (void)state;
    FILE *fp = fopen("tests/fixtures/ingest/nab_machine_temp.csv", "rb");
    assert_non_null(fp);
    static char data[4096];
    size_t n = fread(data, 1, sizeof data - 1, fp);
    fclose(fp);
    data[n] = '\0';
    enum mend_format f;
    assert_int_equal(mend_format_guess(NULL, data, n, &f), 0);
    assert_int_equal(f, MEND_FMT_CSV);
    struct mend_parse_stats st;
    assert_string_equal(run_opts(data, NULL, &st),
                        "value|1397088000000000000|20\n"
                        "value|1397088300000000000|20.5\n"
                        "value|1397088600000000000|21.25\n"
                        "value|1397089200000000000|19.75\n"
                        "E 7:21 bad number in column 'value'\n"
                        "value|1397089800000000000|85\n"
                        "value|1397090100000000000|20.125\n");
    assert_int_equal(st.lines, 9);
    assert_int_equal(st.points, 6);
    assert_int_equal(st.errors, 1);
}

static void test_row_numbers(void **state)
{
    (void)state;
    assert_string_equal(run("a,b\n1,2\n3,\n,x\n\n-4.5e1,  7  \n"),
                        "a|1|1\nb|1|2\na|2|3\nE 4:2 bad number in column 'b'\na|4|-45\nb|4|7\n");
}

static void test_quotes_and_trimming(void **state)
{
    (void)state;
    assert_string_equal(run("\"time\", \"cpu, total\" ,\"say \"\"hi\"\"\",  plain  \n"
                            "2014-04-10T07:15:00Z,\"1.5\", 2 ,3\n"),
                        "cpu, total|1397114100000000000|1.5\n"
                        "say \"hi\"|1397114100000000000|2\n"
                        "plain|1397114100000000000|3\n");
    /* TIME and Timestamp are time columns too; offsets apply */
    assert_string_equal(run("TimeStamp,v\n2014-04-10T09:15:00+02:00,1\n"), "v|1397114100000000000|1\n");
    assert_string_equal(run("TIME,v\n1397114100000,1\n"), "v|1397114100000000000|1\n");
    /* a UTF-8 byte order mark does not hide the time column */
    assert_string_equal(run("\xEF\xBB\xBF" "timestamp,v\n2014-04-10T07:15:00Z,1\n"),
                        "v|1397114100000000000|1\n");
    assert_string_equal(run("\xEF\xBB\xBF" "a,,b\n1,2,3\n"),
                        "E 1:6 empty column name; column ignored\na|1|1\nb|1|3\n");
    /* "time" elsewhere than the first column is a value column */
    assert_string_equal(run("v,time\n1,2\n"), "v|1|1\ntime|1|2\n");
}

static void test_header_only_and_blank(void **state)
{
    (void)state;
    struct mend_parse_stats st;
    assert_string_equal(run_opts("timestamp,value\n", NULL, &st), "");
    assert_int_equal(st.errors, 0);
    assert_int_equal(st.points, 0);
    assert_string_equal(run_opts("timestamp,value", NULL, &st), "");
    assert_int_equal(st.lines, 1);
    assert_string_equal(run_opts("", NULL, &st), "");
    assert_int_equal(st.lines, 0);
    assert_string_equal(run("time\n2014-04-10\n"), "");
    /* CRLF and leading blank lines: the header is the first non-blank line */
    assert_string_equal(run("\r\n  \r\na,b\r\n\r\n1,2\r\n"), "a|1|1\nb|1|2\n");
}

static void test_bad_cells(void **state)
{
    (void)state;
    struct mend_parse_stats st;
    /* each bad cell is reported, the good cells of the row are kept */
    assert_string_equal(run_opts("time,a,b,c\n"
                                 "2014-04-10,1,x,3\n"
                                 "nope,1,2,3\n"
                                 ",4,5,6\n"
                                 "2014-04-10,1.2.3,\"7\",0x10\n"
                                 "2014-04-10,1,2,3,4\n"
                                 "2014-04-10,1,2,3,\n"
                                 "2014-04-10,1,\"2\n"
                                 "2014-04-10,\"1\"x,2\n",
                                 NULL, &st),
                        "a|1397088000000000000|1\n"
                        "E 2:14 bad number in column 'b'\n"
                        "c|1397088000000000000|3\n"
                        "E 3:1 bad time in column 'time'; row skipped\n"
                        "E 4:1 bad time in column 'time'; row skipped\n"
                        "E 5:12 bad number in column 'a'\n"
                        "b|1397088000000000000|7\n"
                        "E 5:22 bad number in column 'c'\n"
                        "a|1397088000000000000|1\nb|1397088000000000000|2\nc|1397088000000000000|3\n"
                        "E 6:18 more cells than header columns\n"
                        "a|1397088000000000000|1\nb|1397088000000000000|2\nc|1397088000000000000|3\n"
                        "a|1397088000000000000|1\n"
                        "E 8:14 malformed quoted cell in column 'b'\n"
                        "E 9:15 malformed quoted cell in column 'a'\n");
    assert_int_equal(st.errors, 8);
    assert_int_equal(st.points, 10);
}

static void test_header_problems(void **state)
{
    (void)state;
    assert_string_equal(run("a,,b\n1,2,3\n"), "E 1:3 empty column name; column ignored\na|1|1\nb|1|3\n");
    assert_string_equal(run("a,b,a\n1,2,3\n"),
                        "E 1:5 duplicate name in column 'a'; column ignored\na|1|1\nb|1|2\n");
    struct mend_ingest_opts o;
    mend_ingest_opts_defaults(&o);
    o.max_key = 3;
    assert_string_equal(run_opts("abc,abcd\n1,2\n", &o, NULL),
                        "E 1:5 column name longer than max_key; column ignored\nabc|1|1\n");
}

static void test_nonfinite(void **state)
{
    (void)state;
    assert_string_equal(run("a\nNaN\ninf\n1e999\n1\n"),
                        "E 2:1 non-finite or out-of-range value in column 'a'\n"
                        "E 3:1 non-finite or out-of-range value in column 'a'\n"
                        "E 4:1 non-finite or out-of-range value in column 'a'\n"
                        "a|4|1\n");
    struct mend_ingest_opts o;
    mend_ingest_opts_defaults(&o);
    o.keep_nonfinite = 1;
    assert_string_equal(run_opts("a\nNaN\n-Infinity\n1e999\n1\n", &o, NULL),
                        "a|1|nan\na|2|-inf\na|3|inf\na|4|1\n");
}

static void test_column_cap(void **state)
{
    (void)state;
    static char text[16384];
    size_t len = 0;
    for (int i = 0; i < 1030; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, "%sc%d", i ? "," : "", i);
    text[len++] = '\n';
    for (int i = 0; i < 1030; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, "%s%d", i ? "," : "", i);
    text[len++] = '\n';
    text[len] = '\0';
    struct mend_parse_stats st;
    char *got = run_opts(text, NULL, &st);
    assert_int_equal(st.points, MEND_INGEST_MAX_COLUMNS);
    assert_int_equal(st.errors, 2);
    /* header column 1025 ("c1024") starts after 10 + 90*2 + 900*3 + 24*4 ... bytes */
    char want[128];
    snprintf(want, sizeof want, "E 1:%zu too many columns (cap 1024); the rest are ignored\n",
             (size_t)(strstr(text, ",c1024,") - text) + 2);
    assert_non_null(strstr(got, want));
    assert_non_null(strstr(got, "c1023|1|1023\n"));
    assert_null(strstr(got, "c1024|"));
    assert_non_null(strstr(got, "more cells than header columns"));
}

static void test_overlong(void **state)
{
    (void)state;
    struct mend_ingest_opts o;
    mend_ingest_opts_defaults(&o);
    o.max_line = 6;
    struct mend_parse_stats st;
    assert_string_equal(run_opts("a,b\n1,2\n1234,5678\n3,4\n", &o, &st),
                        "a|1|1\nb|1|2\nE 3:7 line longer than max_line\na|2|3\nb|2|4\n");
    assert_int_equal(st.overlong, 1);
}

static void test_split_every_offset(void **state)
{
    (void)state;
    const char *in = "\r\ntime,\"x,y\",z\r\n2014-04-10T07:15:00.25+01:00,1,2\r\nbad,1,2\n"
                     "1397114100,\"3\",\n\n1397114100123,x,5";
    size_t n = strlen(in);
    char *want = strdup(run_full(in, n, NULL, NULL, n, n));
    assert_non_null(strstr(want, "z|1397114100123000000|5"));
    assert_non_null(strstr(want, "x,y|1397110500250000000|1"));
    for (size_t a = 0; a <= n; a++)
        for (size_t b = a; b <= n; b += 3) {
            const char *got = run_full(in, n, NULL, NULL, a, b);
            if (strcmp(got, want))
                fail_msg("split %zu/%zu:\n%s\nwant\n%s", a, b, got, want);
        }
    free(want);
}

/* Issue 10: a first line of numbers is data, not a header: said once with
 * how to fix it, and every row after it is refused (counted), never read
 * as columns named "1" and "2". A header of names is still a header. */
static void test_no_header(void **state)
{
    (void)state;
    assert_string_equal(run("1,2\n3,4\n"),
                        "E 1:1 CSV without a header: the first line is data, not column names; add a header line "
                        "such as timestamp,cpu,mem (see --help for the CSV shapes)\n"
                        "E 2:1 row skipped: the CSV has no usable header (see line 1)\n");
    const char *got = run("2024-01-01T00:00:00Z,5.5\n2024-01-01T00:00:01Z,6\n");
    assert_non_null(strstr(got, "E 1:1 CSV without a header"));
    assert_null(strstr(got, "|")); /* no samples */
    /* names that merely contain digits are names */
    assert_string_equal(run("t1,cpu2\n1,2\n"), "t1|1|1\ncpu2|1|2\n");
}

static char *run_long(const char *text, const char *entity_tag)
{
    static struct collect c;
    memset(&c, 0, sizeof c);
    struct mend_ingest_opts o;
    mend_ingest_opts_defaults(&o);
    o.entity_tag = entity_tag;
    struct mend_parser *p;
    enum mend_format f;
    assert_int_equal(mend_format_parse("csvlong", &f), 0);
    assert_int_equal(f, MEND_FMT_CSV_LONG);
    assert_int_equal(mend_parser_new(f, &o, &p), 0);
    struct mend_sink sink = {collect_point, on_error, &c};
    assert_int_equal(mend_parser_feed(p, text, strlen(text), &sink), 0);
    assert_int_equal(mend_parser_finish(p, &sink), 0);
    mend_parser_free(p);
    return c.buf;
}

/* Issue 10: the long shape timestamp,TAG...,metric,value: one sample per
 * row, key METRIC,TAG=VALUE,... (empty tags left out), the entity from the
 * entity tag column; a header of another shape is refused; never guessed. */
static void test_long_format(void **state)
{
    (void)state;
    assert_string_equal(run_long("timestamp,host,dc,metric,value\n"
                                 "1700000000,a,eu,cpu,1.5\n"
                                 "1700000001,b,,mem,2\n"
                                 "1700000002,a,eu,cpu,\n"
                                 "1700000003,a,eu,cpu,x\n"
                                 "1700000004,a,eu,,1\n",
                                 "host"),
                        "cpu,host=a,dc=eu|a|1700000000000000000|1.5\n"
                        "mem,host=b|b|1700000001000000000|2\n"
                        "E 5:21 bad number in column 'value'\n"
                        "E 6:17 empty metric name in column 'metric'; row skipped\n");
    assert_string_equal(run_long("time,name,value\n1,up,1\n", NULL), "up|-|1000000000|1\n");
    const char *got = run_long("timestamp,cpu,mem\n1,2,3\n", "host");
    assert_non_null(strstr(got, "E 1:1 long CSV needs the header timestamp,TAG...,metric,value"));
    assert_non_null(strstr(got, "E 2:1 row skipped"));
    enum mend_format f;
    assert_int_equal(mend_format_guess("x.csv", "timestamp,host,metric,value\n", 28, &f), 0);
    assert_int_equal(f, MEND_FMT_CSV);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iso8601),
        cmocka_unit_test(test_epoch),
        cmocka_unit_test(test_nab_fixture),
        cmocka_unit_test(test_row_numbers),
        cmocka_unit_test(test_quotes_and_trimming),
        cmocka_unit_test(test_header_only_and_blank),
        cmocka_unit_test(test_bad_cells),
        cmocka_unit_test(test_header_problems),
        cmocka_unit_test(test_nonfinite),
        cmocka_unit_test(test_column_cap),
        cmocka_unit_test(test_overlong),
        cmocka_unit_test(test_split_every_offset),
        cmocka_unit_test(test_no_header),
        cmocka_unit_test(test_long_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
