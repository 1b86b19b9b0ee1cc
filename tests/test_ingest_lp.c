/* test_ingest_lp.c -- line protocol grammar, errors with line:col, line
 * splitting across feeds, caps, the exact number fast path, format names
 * and guessing. Each point is rendered to a text line so expectations read
 * like the input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mend/ingest.h"

#include "ingest_collect.h"

/* Parse text in one feed with the given options; return the rendering. */
static char *run_opts(const char *text, const struct mend_ingest_opts *o,
                      struct mend_parse_stats *st)
{
    static struct collect c;
    memset(&c, 0, sizeof c);
    struct mend_parser *p;
    assert_int_equal(mend_parser_new(MEND_FMT_LP, o, &p), 0);
    struct mend_sink sink = {collect_point, on_error, &c};
    assert_int_equal(mend_parser_feed(p, text, strlen(text), &sink), 0);
    assert_int_equal(mend_parser_finish(p, &sink), 0);
    if (st)
        mend_parser_stats(p, st);
    mend_parser_free(p);
    return c.buf;
}

static char *run(const char *text)
{
    return run_opts(text, NULL, NULL);
}

static void test_basic(void **state)
{
    (void)state;
    assert_string_equal(run("cpu,host=a,region=eu usage_idle=98.5,usage_user=1.25 1700000000000000000\n"),
                        "cpu,host=a,region=eu usage_idle|a|1700000000000000000|98.5\n"
                        "cpu,host=a,region=eu usage_user|a|1700000000000000000|1.25\n");
    /* no tags, no timestamp, no final newline */
    assert_string_equal(run("mem free=10"), "mem free|-|notime|10\n");
}

static void test_value_types(void **state)
{
    (void)state;
    struct mend_parse_stats st;
    const char *in =
        "m f1=1,f2=-1.5,f3=1e3,f4=12i,f5=-7i,f6=12u,f7=+2.5E-2,f8=.5,f9=5. 1\n"
        "m b1=t,b2=T,b3=true,b4=True,b5=TRUE,b6=f,b7=F,b8=false,b9=False,b10=FALSE 2\n";
    assert_string_equal(run_opts(in, NULL, &st),
                        "m f1|-|1|1\nm f2|-|1|-1.5\nm f3|-|1|1000\nm f4|-|1|12\n"
                        "m f5|-|1|-7\nm f6|-|1|12\nm f7|-|1|0.025000000000000001\n"
                        "m f8|-|1|0.5\nm f9|-|1|5\n"
                        "m b1|-|2|1\nm b2|-|2|1\nm b3|-|2|1\nm b4|-|2|1\nm b5|-|2|1\n"
                        "m b6|-|2|0\nm b7|-|2|0\nm b8|-|2|0\nm b9|-|2|0\nm b10|-|2|0\n");
    assert_int_equal(st.points, 19);
    assert_int_equal(st.lines, 2);
    assert_int_equal(st.errors, 0);
}

static void test_strings_skipped(void **state)
{
    (void)state;
    struct mend_parse_stats st;
    const char *in =
        "log,host=h msg=\"a \\\"quoted\\\" text, with = and spaces\\\\\",n=3i 5\n"
        "log only=\"x\"\n";
    assert_string_equal(run_opts(in, NULL, &st), "log,host=h n|h|5|3\n");
    assert_int_equal(st.strings_skipped, 2);
    assert_int_equal(st.points, 1);
    assert_int_equal(st.errors, 0);
}

static void test_escapes(void **state)
{
    (void)state;
    /* escaped comma and space in the measurement, \, \= \  in tags and
     * field keys; keys keep the escaped form */
    const char *in = "my\\ meas\\,x,t\\=k=v\\ 1\\,2,host=h\\ 1 f\\ k\\=y=2 10\n";
    assert_string_equal(run(in), "my\\ meas\\,x,host=h\\ 1,t\\=k=v\\ 1\\,2 f\\ k\\=y|h\\ 1|10|2\n");
}

static void test_tag_sorting(void **state)
{
    (void)state;
    assert_string_equal(run("cpu,zone=z,host=a,cpu=cpu0 v=1 1\n"),
                        "cpu,cpu=cpu0,host=a,zone=z v|a|1|1\n");
    /* byte order: uppercase before lowercase, prefix before longer key */
    assert_string_equal(run("m,ab=1,a=2,B=3 v=1 1\n"), "m,B=3,a=2,ab=1 v|-|1|1\n");
    /* already sorted stays byte-identical */
    assert_string_equal(run("m,a=1,b=2 v=1 1\n"), "m,a=1,b=2 v|-|1|1\n");
}

static void test_comments_blank_crlf(void **state)
{
    (void)state;
    struct mend_parse_stats st;
    const char *in = "# a comment\r\n\r\n   \ncpu v=1 1\r\nmem,host=x w=2i\r\n";
    assert_string_equal(run_opts(in, NULL, &st), "cpu v|-|1|1\nmem,host=x w|x|notime|2\n");
    assert_int_equal(st.comments, 1);
    assert_int_equal(st.lines, 5);
    assert_int_equal(st.errors, 0);
}

static void test_precision(void **state)
{
    (void)state;
    struct mend_ingest_opts o;
    mend_ingest_opts_defaults(&o);
    o.precision_ns = 1000000000;
    assert_string_equal(run_opts("m v=1 1700000000\n", &o, NULL), "m v|-|1700000000000000000|1\n");
    o.precision_ns = 1000000;
    assert_string_equal(run_opts("m v=1 -5\n", &o, NULL), "m v|-|-5000000|1\n");
    o.precision_ns = 1000000000;
    assert_string_equal(run_opts("m v=1 9300000000\n", &o, NULL),
                        "E 1:7 timestamp overflows int64 nanoseconds\n");
    o.precision_ns = 7;
    struct mend_parser *p;
    assert_int_equal(mend_parser_new(MEND_FMT_LP, &o, &p), MEND_EINVAL);
}

static void test_errors(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want;
    } cases[] = {
        {",t=1 v=1", "E 1:1 missing measurement\n"},
        {"m", "E 1:2 missing field set\n"},
        {"m ", "E 1:3 missing field set\n"},
        {"m,t=1", "E 1:6 missing field set\n"},
        {"m,=1 v=1", "E 1:3 empty tag key\n"},
        {"m,t v=1", "E 1:4 tag without '='\n"},
        {"m,t= v=1", "E 1:5 empty tag value\n"},
        {"m,t=a=b v=1", "E 1:6 unescaped '=' in tag value\n"},
        {"m,a=1,b=2,a=3 v=1", "E 1:11 duplicate tag key\n"},
        {"m =1", "E 1:3 empty field key\n"},
        {"m v", "E 1:4 field without '='\n"},
        {"m v=", "E 1:5 missing field value\n"},
        {"m v=1,", "E 1:7 empty field key\n"},
        {"m v=abc", "E 1:5 bad field value\n"},
        {"m v=1.2.3", "E 1:5 bad field value\n"},
        {"m v=nan", "E 1:5 non-finite field value (NaN/Inf) rejected\n"},
        {"m v=0x10", "E 1:5 bad field value\n"},
        {"m v=1e", "E 1:5 bad field value\n"},
        {"m v=12x", "E 1:5 bad field value\n"},
        {"m v=1.5i", "E 1:5 bad integer field value\n"},
        {"m v=-3u", "E 1:5 bad unsigned field value\n"},
        {"m v=9223372036854775808i", "E 1:5 integer field out of range\n"},
        {"m v=18446744073709551616u", "E 1:5 unsigned field out of range\n"},
        {"m v=1e400", "E 1:5 float field out of range\n"},
        {"m v=\"abc", "E 1:5 unterminated string field\n"},
        {"m v=\"a\"x", "E 1:8 expected ',' or ' ' after field value\n"},
        {"m v=1 12a", "E 1:7 bad timestamp\n"},
        {"m v=1 99999999999999999999", "E 1:7 timestamp out of range\n"},
        {"m v=1 1 2", "E 1:9 unexpected text after timestamp\n"},
        {"m v=1 9223372036854775808", "E 1:7 timestamp out of range\n"},
        {"m v=1 1234567812345678x", "E 1:7 bad timestamp\n"},
        {"m v=1 12345678123456781234", "E 1:7 timestamp out of range\n"},
        {"m v=1 -", "E 1:7 bad timestamp\n"},
        {"m v=-", "E 1:5 bad field value\n"},
        {"m v=-.", "E 1:5 bad field value\n"},
        {"m v=1.5.", "E 1:5 bad field value\n"},
        {"m\tv=1", "E 1:6 missing field set\n"},
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

static void test_error_line_numbers_and_recovery(void **state)
{
    (void)state;
    struct mend_parse_stats st;
    const char *in = "a v=1 1\nb v=oops 2\n\nc v=3 3\nd,x=1,x=2 v=4\ne v=5 5\n";
    assert_string_equal(run_opts(in, NULL, &st),
                        "a v|-|1|1\nE 2:5 bad field value\nc v|-|3|3\n"
                        "E 5:7 duplicate tag key\ne v|-|5|5\n");
    assert_int_equal(st.errors, 2);
    assert_int_equal(st.points, 3);
    /* a bad field rejects the whole line: nothing from it is emitted */
    assert_string_equal(run("m a=1,b=x,c=3 1\n"), "E 1:9 bad field value\n");
}

/* The fast paths (plain decimals, digit-only timestamps, 16-byte token
 * scans) at their edges give what the general parsers give. */
static void test_fast_path_edges(void **state)
{
    (void)state;
    /* the last nanosecond of 2261, the end of the accepted range */
    assert_string_equal(run("m v=123456789012345,w=1234567890123456,x=-0.5,y=5.,z=.25 "
                            "9214646399999999999\n"),
                        "m v|-|9214646399999999999|123456789012345\n"
                        "m w|-|9214646399999999999|1234567890123456\n"
                        "m x|-|9214646399999999999|-0.5\n"
                        "m y|-|9214646399999999999|5\n"
                        "m z|-|9214646399999999999|0.25\n");
    assert_string_equal(run("m v=0.1 12345678\nm v=-0 00000000000000000001\n"),
                        "m v|-|12345678|0.10000000000000001\nm v|-|1|-0\n");
    /* escapes straddling the 16-byte blocks of the scanner */
    assert_string_equal(run("abcdefghijklmno\\ p,tagkey_0123456=va\\,lue_0123456 f=1 1\n"),
                        "abcdefghijklmno\\ p,tagkey_0123456=va\\,lue_0123456 f|-|1|1\n");
}

static void test_nonfinite(void **state)
{
    (void)state;
    struct mend_ingest_opts o;
    mend_ingest_opts_defaults(&o);
    o.keep_nonfinite = 1;
    assert_string_equal(run_opts("m v=1e400,w=-1e999 1\n", &o, NULL),
                        "m v|-|1|inf\nm w|-|1|-inf\n");
}

static void test_entity(void **state)
{
    (void)state;
    struct mend_ingest_opts o;
    mend_ingest_opts_defaults(&o);
    o.entity_tag = "dc";
    assert_string_equal(run_opts("m,dc=x\\ y,host=h v=1 1\n", &o, NULL), "m,dc=x\\ y,host=h v|x\\ y|1|1\n");
    o.entity_tag = NULL;
    assert_string_equal(run_opts("m,host=h v=1 1\n", &o, NULL), "m,host=h v|-|1|1\n");
    /* a list, tried in order: host wins over instance wherever it stands */
    o.entity_tag = "host,instance";
    assert_string_equal(run_opts("m,instance=i,zz=1 v=1 1\nm,host=h,instance=i v=1 2\nm,a=b v=1 3\n", &o, NULL),
                        "m,instance=i,zz=1 v|i|1|1\nm,host=h,instance=i v|h|2|1\nm,a=b v|-|3|1\n");
}

static void test_caps(void **state)
{
    (void)state;
    struct mend_ingest_opts o;
    struct mend_parse_stats st;
    mend_ingest_opts_defaults(&o);
    o.max_tags = 2;
    assert_string_equal(run_opts("m,a=1,b=2 v=1 1\nm,a=1,b=2,c=3 v=1 1\n", &o, &st),
                        "m,a=1,b=2 v|-|1|1\nE 2:11 too many tags (max_tags)\n");
    mend_ingest_opts_defaults(&o);
    o.max_key = 12;   /* "m,a=1 abcdef" is exactly 12 */
    assert_string_equal(run_opts("m,a=1 abcdef=1 1\nm,a=1 abcdefg=1 1\nm,a=1234567890123 v=1\n", &o, NULL),
                        "m,a=1 abcdef|-|1|1\nE 2:7 series key longer than max_key\n"
                        "E 3:1 series key longer than max_key\n");
    /* a string-only line builds no key, so a tiny max_key is no error
     * (found by fuzzing: the key copy once overran the scratch buffer) */
    o.max_key = 4;
    assert_string_equal(run_opts("a_long_measurement,t=v s=\"x\"\n", &o, &st), "");
    assert_int_equal(st.strings_skipped, 1);
    assert_int_equal(st.errors, 0);
    mend_ingest_opts_defaults(&o);
    o.max_line = 10;
    /* 10 bytes fit (also with CR), 11 do not; the next line is intact */
    assert_string_equal(run_opts("m v=123456\nm v=1234567\r\nm v=1\nm v=12345\r\nm v=1234567", &o, &st),
                        "m v|-|notime|123456\nE 2:11 line longer than max_line\nm v|-|notime|1\n"
                        "m v|-|notime|12345\nE 5:11 line longer than max_line\n");
    assert_int_equal(st.overlong, 2);
    assert_int_equal(st.errors, 2);
    assert_int_equal(st.lines, 5);
}

/* Render input fed in pieces split at offsets a and b. */
static char *run_split(const char *text, size_t a, size_t b, const struct mend_ingest_opts *o)
{
    static struct collect c;
    memset(&c, 0, sizeof c);
    struct mend_parser *p;
    assert_int_equal(mend_parser_new(MEND_FMT_LP, o, &p), 0);
    struct mend_sink sink = {collect_point, on_error, &c};
    size_t n = strlen(text);
    size_t cut[4] = {0, a, b, n};
    for (int i = 0; i < 3; i++) {
        /* each piece in its own exact-size block so ASan sees any read
         * past the end of a feed */
        size_t len = cut[i + 1] - cut[i];
        char *piece = malloc(len ? len : 1);
        assert_non_null(piece);
        memcpy(piece, text + cut[i], len);
        assert_int_equal(mend_parser_feed(p, piece, len, &sink), 0);
        free(piece);
    }
    assert_int_equal(mend_parser_finish(p, &sink), 0);
    mend_parser_free(p);
    return c.buf;
}

static void test_split_every_offset(void **state)
{
    (void)state;
    const char *in =
        "# comment\r\ncpu,host=a,cpu=cpu0 usage=1.5,sys=2i 100\r\n\nbad line\n"
        "m,x=1 s=\"q \\\" ,=\",v=7u 200\nmem,host=b used=123456789 300\nlast v=t";
    struct mend_ingest_opts o;
    mend_ingest_opts_defaults(&o);
    o.max_line = 30;   /* makes two lines overlong: the cap must not depend on splits */
    char *want = strdup(run_opts(in, &o, NULL));
    assert_non_null(strstr(want, "line longer than max_line"));
    assert_non_null(strstr(want, "last v|-|notime|1"));
    size_t n = strlen(in);
    for (size_t a = 0; a <= n; a++) {
        for (size_t b = a; b <= n; b += 7) {
            const char *got = run_split(in, a, b, &o);
            if (strcmp(got, want))
                fail_msg("split %zu/%zu:\n%s\nwant\n%s", a, b, got, want);
        }
    }
    free(want);
}

static void test_sink_stop(void **state)
{
    (void)state;
    static struct collect c;
    memset(&c, 0, sizeof c);
    c.stop_after = 2;
    struct mend_parser *p;
    assert_int_equal(mend_parser_new(MEND_FMT_LP, NULL, &p), 0);
    struct mend_sink sink = {collect_point, on_error, &c};
    const char *in = "m a=1,b=2,c=3\nm d=4\n";
    assert_int_equal(mend_parser_feed(p, in, strlen(in), &sink), MEND_ECAP);
    assert_int_equal(c.npoints, 2);
    /* the rest of that buffer is gone; the parser takes new input */
    c.stop_after = 0;
    assert_int_equal(mend_parser_feed(p, "x v=9\n", 6, &sink), 0);
    assert_string_equal(c.buf, "m a|-|notime|1\nm b|-|notime|2\nx v|-|notime|9\n");
    mend_parser_free(p);
}

/* Compare the fast number path against strtod on many forms. */
static void test_number_exactness(void **state)
{
    (void)state;
    static const char *forms[] = {
        "0.1", "0.2", "0.3", "1.1", "2.675", "98.5", "123456789012345", "1234567890123456",
        "0.000123", "-0.0", "1e22", "1e23", "9007199254740993", "3.14159265358979",
        "1.7976931348623157e308", "4.9e-324", "2.2250738585072014e-308", "100000000000000000000000",
        "0.30000000000000004", "123.456e-5", "5e-20", "7.0e+10", "00012.5000",
    };
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        char line[128];
        snprintf(line, sizeof line, "m v=%s", forms[i]);
        char want[128];
        snprintf(want, sizeof want, "m v|-|notime|%.17g\n", strtod(forms[i], NULL));
        assert_string_equal(run(line), want);
    }
    /* pseudo-random decimals with up to 17 digits and exponents */
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 3000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        char num[64];
        int digits = (int)(x % 17) + 1;
        int e = (int)((x >> 20) % 60) - 30;
        int dot = (int)((x >> 40) % (unsigned)(digits + 1));
        unsigned long long mant = (x >> 5) % 100000000000000000ULL;
        char ds[32];
        snprintf(ds, sizeof ds, "%0*llu", digits, mant);
        ds[digits] = '\0';
        snprintf(num, sizeof num, "%.*s.%se%d", dot, ds, ds + dot, e);
        struct mend_parser *p;
        char line[96];
        snprintf(line, sizeof line, "m v=%s", num);
        char want[128];
        snprintf(want, sizeof want, "m v|-|notime|%.17g\n", strtod(num, NULL));
        const char *got = run(line);
        (void)p;
        if (strcmp(got, want))
            fail_msg("%s: got %s want %s", num, got, want);
    }
}

static void test_format_names_and_guess(void **state)
{
    (void)state;
    enum mend_format f;
    assert_string_equal(mend_format_name(MEND_FMT_LP), "lp");
    assert_string_equal(mend_format_name(MEND_FMT_PROM), "prom");
    assert_string_equal(mend_format_name(MEND_FMT_CSV), "csv");
    assert_int_equal(mend_format_parse("prom", &f), 0);
    assert_int_equal(f, MEND_FMT_PROM);
    assert_int_equal(mend_format_parse("lp", &f), 0);
    assert_int_equal(f, MEND_FMT_LP);
    assert_int_equal(mend_format_parse("csv", &f), 0);
    assert_int_equal(f, MEND_FMT_CSV);
    assert_int_equal(mend_format_parse("xml", &f), MEND_EINVAL);

    assert_int_equal(mend_format_guess("/x/y.lp", NULL, 0, &f), 0);
    assert_int_equal(f, MEND_FMT_LP);
    assert_int_equal(mend_format_guess("a.influx", NULL, 0, &f), 0);
    assert_int_equal(f, MEND_FMT_LP);
    assert_int_equal(mend_format_guess("a.line", NULL, 0, &f), 0);
    assert_int_equal(f, MEND_FMT_LP);
    assert_int_equal(mend_format_guess("scrape.prom", NULL, 0, &f), 0);
    assert_int_equal(f, MEND_FMT_PROM);
    assert_int_equal(mend_format_guess("data.CSV", NULL, 0, &f), 0);
    assert_int_equal(f, MEND_FMT_CSV);
    assert_int_equal(mend_format_guess("dir.lp/noext", NULL, 0, &f), MEND_ENOTFOUND);

    static const struct {
        const char *head;
        int rc;
        enum mend_format f;
    } heads[] = {
        {"cpu,host=a usage=1 1\n", 0, MEND_FMT_LP},
        {"# telegraf\n\nmem used=1i\n", 0, MEND_FMT_LP},
        {"# HELP x help\n# TYPE x counter\nx 1\n", 0, MEND_FMT_PROM},
        {"up{job=\"a\"} 1\n", 0, MEND_FMT_PROM},
        {"up 1 1700000000000\n", 0, MEND_FMT_PROM},
        {"timestamp,value\n2014-04-10 00:00:00,1\n", 0, MEND_FMT_CSV},
        {"a,b,c\r\n1,2,3\r\n", 0, MEND_FMT_CSV},
        {"value\n1.5\n", 0, MEND_FMT_CSV},
        {"hello world\n", MEND_ENOTFOUND, MEND_FMT_LP},
        {"a=b\n", MEND_ENOTFOUND, MEND_FMT_LP},
        {"", MEND_ENOTFOUND, MEND_FMT_LP},
    };
    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
        f = MEND_FMT_LP;
        int rc = mend_format_guess(NULL, heads[i].head, strlen(heads[i].head), &f);
        if (rc != heads[i].rc || (rc == 0 && f != heads[i].f))
            fail_msg("head %zu: rc %d fmt %d", i, rc, (int)f);
    }
    /* the extension wins over the content */
    assert_int_equal(mend_format_guess("x.csv", "cpu v=1\n", 8, &f), 0);
    assert_int_equal(f, MEND_FMT_CSV);
}

static void test_fixture(void **state)
{
    (void)state;
    FILE *fp = fopen("tests/fixtures/ingest/telegraf.lp", "rb");
    assert_non_null(fp);
    static char data[16384];
    size_t n = fread(data, 1, sizeof data, fp);
    fclose(fp);
    assert_true(n > 0 && n < sizeof data);
    data[n] = '\0';
    enum mend_format f;
    assert_int_equal(mend_format_guess(NULL, data, n, &f), 0);
    assert_int_equal(f, MEND_FMT_LP);
    struct mend_parse_stats st;
    const char *got = run_opts(data, NULL, &st);
    assert_int_equal(st.errors, 0);
    assert_int_equal(st.lines, 12);
    assert_int_equal(st.comments, 1);
    assert_int_equal(st.strings_skipped, 1);
    assert_int_equal(st.points, 49);
    assert_non_null(strstr(got, "cpu,cpu=cpu-total,host=web01 usage_idle|web01|1700000000000000000|97.400000000000006\n"));
    assert_non_null(strstr(got, "disk,device=sda1,fstype=ext4,host=web01,mode=rw,path=/ used_percent|web01|1700000000000000000|41.5\n"));
    assert_non_null(strstr(got, "system,host=web01 n_cpus|web01|1700000000000000000|8\n"));
}

/* ---- conformance with the line protocol reference, case by case ---------
 * Written from the InfluxDB line protocol reference (escaping rules per
 * element, field value types, timestamps) and how InfluxDB's own parser
 * reads the edge cases. Keys keep their escaped form, so the expected key
 * is the text of the line. */
static void test_conformance(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want;
    } cases[] = {
        /* a backslash right before a separator escapes it, even when it is
         * itself after a backslash: `\\ ` is a literal backslash and an
         * escaped space */
        {"cpu,regions=\\\\ east value=1.0", "cpu,regions=\\\\ east value|-|notime|1\n"},
        {"cpu,regions=eas\\\\ t value=1.0", "cpu,regions=eas\\\\ t value|-|notime|1\n"},
        {"cpu,regions=east\\\\  value=1.0", "cpu,regions=east\\\\  value|-|notime|1\n"},
        {"cpu,reg\\\\=ion=east value=1.0", "cpu,reg\\\\=ion=east value|-|notime|1\n"},
        {"cpu,regions=\\\\,\\,\\=east value=1.0", "cpu,regions=\\\\,\\,\\=east value|-|notime|1\n"},
        {"cpu\\\\ load v=1", "cpu\\\\ load v|-|notime|1\n"},
        /* escapes that are none: kept as written */
        {"cpu,regions=eas\\t value=1.0", "cpu,regions=eas\\t value|-|notime|1\n"},
        {"cpu \\a=1i", "cpu \\a|-|notime|1\n"},
        /* '=' is ordinary in a measurement, escaped in tags */
        {"cpu=load,region=east value=1.0", "cpu=load,region=east value|-|notime|1\n"},
        {"cpu\\=load,region=east value=1.0", "cpu\\=load,region=east value|-|notime|1\n"},
        {"cpu=load,equals\\=foo=tag\\=value value=1i",
         "cpu=load,equals\\=foo=tag\\=value value|-|notime|1\n"},
        {"cpu,\\ =east value=1.0", "cpu,\\ =east value|-|notime|1\n"},
        /* escapes in field keys */
        {"cpu,regions=east value\\,ms=1.0", "cpu,regions=east value\\,ms|-|notime|1\n"},
        {"cpu,regions=east value\\ ms=1.0", "cpu,regions=east value\\ ms|-|notime|1\n"},
        /* quotes outside field values are ordinary bytes */
        {"\"cpu\",host=serverA value=1.0 1", "\"cpu\",host=serverA value|serverA|1|1\n"},
        {"cpu,\"host\"=\"serverA\" value=1.0 1", "cpu,\"host\"=\"serverA\" value|-|1|1\n"},
        /* strings: escapes, separators and '=' inside, skipped */
        {"cpu a=\"foo \\\" bar\",v=1 1", "cpu v|-|1|1\n"},
        {"cpu str=\"foo\\\\\",str2=\"bar\",v=2 1", "cpu v|-|1|2\n"},
        {"cpu value=\"test\\\\\\\"\",v=3 1", "cpu v|-|1|3\n"},
        {"cpu str=\"foo=bar\",value=1.0 1000000000", "cpu value|-|1000000000|1\n"},
        {"cpu value=\"{Hello\\\"{,}\\\" World}\",v=1 1", "cpu v|-|1|1\n"},
        {"cpu value=\"w\xc3\xa8\",v=1 1", "cpu v|-|1|1\n"},
        /* numbers */
        {"cpu value=0009223372036854775807i", "cpu value|-|notime|9.2233720368547758e+18\n"},
        {"cpu value=-0009223372036854775808i", "cpu value|-|notime|-9.2233720368547758e+18\n"},
        {"cpu value=00018446744073709551615u", "cpu value|-|notime|1.8446744073709552e+19\n"},
        {"cpu value=0000u", "cpu value|-|notime|0\n"},
        {"cpu value=00001.5", "cpu value|-|notime|1.5\n"},
        {"cpu value=1.", "cpu value|-|notime|1\n"},
        {"cpu value=.1", "cpu value|-|notime|0.10000000000000001\n"},
        {"cpu value=6.632243e+06", "cpu value|-|notime|6632243\n"},
        {"cpu value=1.0E4", "cpu value|-|notime|10000\n"},
        {"cpu value=-1.0e-4", "cpu value|-|notime|-0.0001\n"},
        {"cpu value=--1u", "E 1:11 bad unsigned field value\n"},
        {"cpu value=.1a", "E 1:11 bad field value\n"},
        {"cpu value=0.-1", "E 1:11 bad field value\n"},
        {"cpu value=-", "E 1:11 bad field value\n"},
        {"cpu value=1.1.1", "E 1:11 bad field value\n"},
        {"cpu value=9ie10", "E 1:11 bad field value\n"},
        {"cpu value=9e10i", "E 1:11 bad integer field value\n"},
        {"cpu value=NaN 1000000000", "E 1:11 non-finite field value (NaN/Inf) rejected\n"},
        {"cpu value=nAn", "E 1:11 non-finite field value (NaN/Inf) rejected\n"},
        {"cpu value=a", "E 1:11 bad field value\n"},
        /* timestamps: blanks around them, sign, and what is refused */
        {"cpu    value=1.0 1257894000000000000", "cpu value|-|1257894000000000000|1\n"},
        {"cpu value=1.0     1257894000000000000   ", "cpu value|-|1257894000000000000|1\n"},
        {"cpu value=1 -1", "cpu value|-|-1|1\n"},
        {"cpu value=1 9223372036854775808", "E 1:13 timestamp out of range\n"},
        {"cpu value=1 -92233720368547758078", "E 1:13 timestamp out of range\n"},
        {"cpu value=1 -", "E 1:13 bad timestamp\n"},
        {"cpu value=1 -/", "E 1:13 bad timestamp\n"},
        {"cpu value=1 -1?", "E 1:13 bad timestamp\n"},
        {"cpu value=1 1-", "E 1:13 bad timestamp\n"},
        {"cpu value=1 9223372036854775807 12", "E 1:13 timestamp outside years 1678..2261\n"},
        {"a v=1 0\\", "E 1:7 bad timestamp\n"},
        /* mend's documented range: int64 reaches 1677-09-21, mend stops at
         * 1678-01-01 (InfluxDB would take these two) */
        {"cpu value=1 -9223372036854775806", "E 1:13 timestamp outside years 1678..2261\n"},
        {"cpu value=1 -9214560000000000001", "E 1:13 timestamp outside years 1678..2261\n"},
        {"cpu value=1 -9214560000000000000", "cpu value|-|-9214560000000000000|1\n"},
        /* duplicate tags, in any position */
        {"cpu,b=2,c=3,b=1 value=1i 1000000000", "E 1:13 duplicate tag key\n"},
        /* names must be UTF-8 without control characters */
        {"cp\x01u v=1", "E 1:3 control character or invalid UTF-8 in measurement or tag\n"},
        {"cpu,t=a\x7f v=1", "E 1:8 control character or invalid UTF-8 in measurement or tag\n"},
        {"cpu,t\x1b=a v=1", "E 1:6 control character or invalid UTF-8 in measurement or tag\n"},
        {"cpu,t=\xff v=1", "E 1:7 control character or invalid UTF-8 in measurement or tag\n"},
        {"cpu,t=\xc3 v=1", "E 1:7 control character or invalid UTF-8 in measurement or tag\n"},
        {"cpu,t=\xc2\x9b v=1", "E 1:7 control character or invalid UTF-8 in measurement or tag\n"},
        {"cpu v\x02=1", "E 1:6 control character or invalid UTF-8 in field key\n"},
        {"cpu v\\\x02=1", "E 1:7 control character or invalid UTF-8 in field key\n"},
        {"cpu s\xfe=\"x\",v=1", "E 1:6 control character or invalid UTF-8 in field key\n"},
        {"cpu,t=w\xc3\xa8 v=1", "cpu,t=w\xc3\xa8 v|-|notime|1\n"},
        {"m\xc3\xa9moire,h\xc3\xb4te=\xe2\x82\xac v\xc3\xa0=1 1", "m\xc3\xa9moire,h\xc3\xb4te=\xe2\x82\xac v\xc3\xa0|-|1|1\n"},
        /* string field values may hold anything, control bytes included */
        {"cpu s=\"a\x01\xff\",v=1 1", "cpu v|-|1|1\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = run(cases[i].in);
        if (strcmp(got, cases[i].want))
            fail_msg("case %zu '%s': got '%s' want '%s'", i, cases[i].in, got, cases[i].want);
    }
    /* all the booleans in one line */
    assert_string_equal(
        run("cpu true=true,t=t,T=T,TRUE=TRUE,True=True,false=false,f=f,F=F,FALSE=FALSE,"
            "False=False 1"),
        "cpu true|-|1|1\ncpu t|-|1|1\ncpu T|-|1|1\ncpu TRUE|-|1|1\ncpu True|-|1|1\n"
        "cpu false|-|1|0\ncpu f|-|1|0\ncpu F|-|1|0\ncpu FALSE|-|1|0\ncpu False|-|1|0\n");
    /* a quote in a tag value opens nothing: two lines, two points */
    assert_string_equal(run("baz,mytag=\"a x=1 1441103862125\nbaz,mytag=a z=1 1441103862126\n"),
                        "baz,mytag=\"a x|-|1441103862125|1\nbaz,mytag=a z|-|1441103862126|1\n");
}

/* A string field may hold an LF: the record goes on to the closing quote,
 * whatever the feed boundaries. */
static void test_string_with_newline(void **state)
{
    (void)state;
    const char *in = "cpu,host=serverA,region=us-east value=1.0,str=\"foo\nbar\" 1000000000\n"
                     "cpu s=\"a\n\nb\\\"\n\",x=2,t=\"c\nd\" 2\n"
                     "next v=3 3\n";
    const char *want = "cpu,host=serverA,region=us-east value|serverA|1000000000|1\n"
                       "cpu x|-|2|2\nnext v|-|3|3\n";
    size_t n = strlen(in);
    for (size_t a = 0; a <= n; a++) {
        for (size_t b = a; b <= n; b += 7) {
            static struct collect c;
            memset(&c, 0, sizeof c);
            struct mend_parser *p;
            assert_int_equal(mend_parser_new(MEND_FMT_LP, NULL, &p), 0);
            struct mend_sink sink = {collect_point, on_error, &c};
            assert_int_equal(mend_parser_feed(p, in, a, &sink), 0);
            assert_int_equal(mend_parser_feed(p, in + a, b - a, &sink), 0);
            assert_int_equal(mend_parser_feed(p, in + b, n - b, &sink), 0);
            assert_int_equal(mend_parser_finish(p, &sink), 0);
            struct mend_parse_stats st;
            mend_parser_stats(p, &st);
            mend_parser_free(p);
            if (strcmp(c.buf, want))
                fail_msg("split %zu/%zu: got '%s'", a, b, c.buf);
            assert_int_equal(st.lines, 3);
            assert_int_equal(st.strings_skipped, 3);
            assert_int_equal(st.errors, 0);
        }
    }
    /* the line numbers after a multi-line record count records */
    assert_string_equal(run("a s=\"x\ny\",v=1 1\nb v=oops\n"), "a v|-|1|1\nE 2:5 bad field value\n");
    /* never closed: one error at the end of input, the lines after the
     * quote are part of the record (as in InfluxDB) */
    struct mend_parse_stats st;
    assert_string_equal(run_opts("a v=1 1\nb s=\"open\nc v=2 2\n", NULL, &st),
                        "a v|-|1|1\nE 2:5 unterminated string field\n");
    assert_int_equal(st.errors, 1);
    /* an error before the string does not cut the record at the LF either */
    assert_string_equal(run("m a=x,s=\"1\nbar\",t=1 v=2\nn v=1 1\n"),
                        "E 1:5 bad field value\nn v|-|1|1\n");
    /* an open string that passes max_line is one overlong record */
    struct mend_ingest_opts o;
    mend_ingest_opts_defaults(&o);
    o.max_line = 32;
    assert_string_equal(run_opts("m s=\"aaaaaaaaaa\nbbbbbbbbbbbbbbbb\ncccccccccccc\" 1\nn v=1 1\n", &o, &st),
                        "E 1:33 line longer than max_line\nn v|-|1|1\n");
    assert_int_equal(st.overlong, 1);
}

/* Many LFs in one string: each is looked at once, not the record again
 * for every LF (which would be quadratic). */
static void test_string_many_newlines_linear(void **state)
{
    (void)state;
    size_t nlf = 60000;
    char *in = malloc(nlf + 64);
    assert_non_null(in);
    size_t n = (size_t)sprintf(in, "m s=\"");
    memset(in + n, '\n', nlf);
    n += nlf;
    n += (size_t)sprintf(in + n, "\",v=1 1\n");
    struct mend_ingest_opts o;
    mend_ingest_opts_defaults(&o);
    o.max_line = 1 << 20;
    struct mend_parse_stats st;
    struct collect *c = calloc(1, sizeof *c);
    assert_non_null(c);
    struct mend_parser *p;
    assert_int_equal(mend_parser_new(MEND_FMT_LP, &o, &p), 0);
    struct mend_sink sink = {collect_point, on_error, c};
    /* fed in small pieces, as a socket would */
    for (size_t off = 0; off < n; off += 100)
        assert_int_equal(mend_parser_feed(p, in + off, n - off < 100 ? n - off : 100, &sink), 0);
    assert_int_equal(mend_parser_finish(p, &sink), 0);
    mend_parser_stats(p, &st);
    mend_parser_free(p);
    assert_string_equal(c->buf, "m v|-|1|1\n");
    assert_int_equal(st.lines, 1);
    free(c);
    free(in);
}

/* input.keep_nonfinite works for line protocol: NaN/Inf words and floats
 * that overflow are kept when asked, refused (and counted) otherwise. */
static void test_keep_nonfinite(void **state)
{
    (void)state;
    struct mend_ingest_opts o;
    mend_ingest_opts_defaults(&o);
    struct mend_parse_stats st;
    const char *in = "m a=NaN,b=inf,c=-Inf,d=+infinity,e=1e999 1\n";
    assert_string_equal(run_opts(in, &o, &st),
                        "E 1:5 non-finite field value (NaN/Inf) rejected\n");
    assert_int_equal(st.errors, 1);
    assert_int_equal(st.points, 0);
    o.keep_nonfinite = 1;
    assert_string_equal(run_opts(in, &o, &st),
                        "m a|-|1|nan\nm b|-|1|inf\nm c|-|1|-inf\nm d|-|1|inf\nm e|-|1|inf\n");
    assert_int_equal(st.errors, 0);
    /* still not numbers: */
    assert_string_equal(run_opts("m a=nanx,b=in 1\n", &o, NULL), "E 1:5 bad field value\n");
}

/* Timestamps are bounded at parse time: beyond int64 after the precision
 * multiply, or outside years 1678..2261, is a line error at the
 * timestamp's column, counted, never an overflow (UBSan runs this). */
static void test_timestamp_bounds(void **state)
{
    (void)state;
    struct mend_ingest_opts o;
    mend_ingest_opts_defaults(&o);
    struct mend_parse_stats st;
#define OVF "E 1:7 timestamp overflows int64 nanoseconds\n"
#define OUT "E 1:7 timestamp outside years 1678..2261\n"
    static const struct {
        int64_t prec;
        const char *ts, *want;
    } cases[] = {
        {1, "9223372036854775807", OUT},
        {1, "-9223372036854775808", OUT},
        {1000, "9223372036854775807", OVF},
        {1000000000, "-9223372036854775808", OVF},
        {1000, "9223372036854775", OUT},        /* fits int64 ns, year 2262 */
        {1000, "-9223372036854775", OUT},       /* year 1677 */
        {1000000, "9223372036854775", OVF},
        {1000000000, "9223372036854775", OVF},
        {1, "9223372036854775", "m v|-|9223372036854775|1\n"},
        {1000000000, "9214646400", OUT},        /* 2262-01-01 */
        {1000000000, "9214646399", "m v|-|9214646399000000000|1\n"},
        {1000000000, "7258118400", "m v|-|7258118400000000000|1\n"},   /* 2200 */
        {1000000000, "-9214560000", "m v|-|-9214560000000000000|1\n"}, /* 1678 */
        {1000000000, "-9214560001", OUT},
        {1000000, "9214646399999", "m v|-|9214646399999000000|1\n"},
        {1000000, "9214646400000", OUT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char line[64];
        o.precision_ns = cases[i].prec;
        snprintf(line, sizeof line, "m v=1 %s\n", cases[i].ts);
        const char *got = run_opts(line, &o, &st);
        if (strcmp(got, cases[i].want))
            fail_msg("case %zu '%s': got '%s' want '%s'", i, line, got, cases[i].want);
        assert_int_equal(st.errors + st.points, 1);
    }
#undef OVF
#undef OUT
    o.precision_ns = 1;
    assert_string_equal(run_opts("m v=1 9214646399999999999\nm v=1 9214646400000000000\n", &o, NULL),
                        "m v|-|9214646399999999999|1\nE 2:7 timestamp outside years 1678..2261\n");
}

/* Random input of LP-ish bytes (quotes, escapes, LFs, CRs, UTF-8 and
 * control bytes) gives the same points, errors and counters whatever the
 * feed boundaries, with and without records spanning lines and overlong
 * ones; ASan/UBSan check the framing's buffers on the way. */
static void feed_all(const char *in, size_t n, uint32_t seed, const struct mend_ingest_opts *o,
                     struct collect *c, struct mend_parse_stats *st)
{
    memset(c, 0, sizeof *c);
    struct mend_parser *p;
    assert_int_equal(mend_parser_new(MEND_FMT_LP, o, &p), 0);
    struct mend_sink sink = {collect_point, on_error, c};
    size_t off = 0;
    while (off < n) {
        size_t k = n - off;
        if (seed) {
            seed = seed * 1103515245u + 12345u;
            k = 1 + (seed >> 16) % 23;
            if (k > n - off)
                k = n - off;
        }
        assert_int_equal(mend_parser_feed(p, in + off, k, &sink), 0);
        off += k;
    }
    assert_int_equal(mend_parser_finish(p, &sink), 0);
    mend_parser_stats(p, st);
    mend_parser_free(p);
}

static void test_random_split_invariance(void **state)
{
    (void)state;
    static const char alpha[] = "m,t=a b=1\"\\\n\r x=2 3 s=\"\xc3\xa8\x01";
    struct collect *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    assert_non_null(a);
    assert_non_null(b);
    char in[600];
    uint32_t r = 12345;
    struct mend_ingest_opts o;
    mend_ingest_opts_defaults(&o);
    uint64_t points = 0, errors = 0, overlong = 0;
    for (int round = 0; round < 300; round++) {
        size_t n = 0;
        while (n < sizeof in) {
            r = r * 1664525u + 1013904223u;
            /* mostly well-formed lines, with random bytes mixed in */
            if ((r >> 28) < 9 && n + 40 < sizeof in) {
                n += (size_t)snprintf(in + n, sizeof in - n, "m,t=a%u v=%u,s=\"q%s\" %u\n",
                                      (r >> 8) & 7, (r >> 12) & 15, (r >> 20) & 1 ? "\n" : "",
                                      (r >> 4) & 31);
            } else {
                in[n++] = alpha[(r >> 16) % (sizeof alpha - 1)];
            }
        }
        o.max_line = round % 3 == 0 ? 24 : 65536;
        struct mend_parse_stats sa, sb;
        feed_all(in, n, 0, &o, a, &sa);
        feed_all(in, n, r | 1, &o, b, &sb);
        if (strcmp(a->buf, b->buf))
            fail_msg("round %d: whole '%s' split '%s'", round, a->buf, b->buf);
        assert_true(sa.lines == sb.lines && sa.points == sb.points && sa.errors == sb.errors &&
                    sa.overlong == sb.overlong && sa.strings_skipped == sb.strings_skipped);
        points += sa.points;
        errors += sa.errors;
        overlong += sa.overlong;
    }
    /* the input really exercised every path */
    assert_true(points > 1000 && errors > 100 && overlong > 10);
    free(a);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_value_types),
        cmocka_unit_test(test_strings_skipped),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_tag_sorting),
        cmocka_unit_test(test_comments_blank_crlf),
        cmocka_unit_test(test_precision),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_error_line_numbers_and_recovery),
        cmocka_unit_test(test_fast_path_edges),
        cmocka_unit_test(test_nonfinite),
        cmocka_unit_test(test_entity),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_split_every_offset),
        cmocka_unit_test(test_sink_stop),
        cmocka_unit_test(test_number_exactness),
        cmocka_unit_test(test_format_names_and_guess),
        cmocka_unit_test(test_fixture),
        cmocka_unit_test(test_conformance),
        cmocka_unit_test(test_string_with_newline),
        cmocka_unit_test(test_string_many_newlines_linear),
        cmocka_unit_test(test_keep_nonfinite),
        cmocka_unit_test(test_timestamp_bounds),
        cmocka_unit_test(test_random_split_invariance),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
