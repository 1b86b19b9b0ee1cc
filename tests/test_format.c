/* test_format.c -- the format plug-in interface (format.h) and the generic
 * parts every format shares: a test double format defined here plugs in
 * through mend_parser_new_ops with nothing else changed, and shows that the
 * framing (LF/CRLF across any feed split, the overlong-line error, records
 * that continue past an LF), flush, the registry and guessing are generic.
 * Also the locale-free number parser and the name check of format.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mend/format.h"
#include "mend/ingest.h"

#include "ingest_collect.h"

/* ---- the test double: "kv" -------------------------------------------
 * One record is `name value`, emitted with the record number as time. A
 * value in braces may span lines: `name {1` LF `2}` is one record whose
 * value is the digits read (12). `!` as a record emits nothing but counts
 * as a comment. flush emits one point "kv_count" with the number of points
 * since the last flush, stamped with the flush time: a format that emits
 * per interval. */
struct kv_state {
    int inits;
    uint64_t since_flush;
    char name[64];
};

static int kv_live;   /* states alive, to check fini runs */

static int kv_init(struct mend_parser *p, const struct mend_ingest_opts *o, void **state)
{
    (void)p;
    assert_non_null(o);
    assert_true(o->max_line > 0);   /* defaults are filled in before init */
    struct kv_state *st = calloc(1, sizeof *st);
    if (!st)
        return MEND_ENOMEM;
    st->inits = 1;
    kv_live++;
    *state = st;
    return MEND_OK;
}

static void kv_fini(void *state)
{
    if (state)
        kv_live--;
    free(state);
}

/* Scan state for record_open: 0 outside braces, 1 inside. */
static int kv_record_open(const char *s, size_t n, size_t *pos, unsigned *mode)
{
    for (size_t i = *pos; i < n; i++) {
        if (s[i] == '{')
            *mode = 1;
        else if (s[i] == '}')
            *mode = 0;
    }
    *pos = n;
    return *mode == 1;
}

static int kv_line(struct mend_parser *p, void *state, const char *s, size_t n,
                   const struct mend_sink *sink)
{
    struct kv_state *st = state;
    if (n == 1 && s[0] == '!') {
        mend_format_stats(p)->comments++;
        return MEND_OK;
    }
    const char *sp = memchr(s, ' ', n);
    if (!sp || sp == s || (size_t)(sp - s) >= sizeof st->name) {
        mend_format_error(p, sink, 1, "kv: expected 'name value'");
        return MEND_OK;
    }
    size_t nl = (size_t)(sp - s);
    memcpy(st->name, s, nl);
    const char *v = sp + 1, *end = s + n;
    double x = 0;
    if (v < end && *v == '{') {
        const char *close = memchr(v, '}', (size_t)(end - v));
        if (!close) {
            if (mend_format_may_continue(p))
                return MEND_EAGAIN;
            mend_format_error(p, sink, (size_t)(v - s + 1), "kv: unclosed brace");
            return MEND_OK;
        }
        for (const char *c = v + 1; c < close; c++)
            if (*c >= '0' && *c <= '9')
                x = x * 10 + (*c - '0');
    } else if (mend_parse_f64(v, (size_t)(end - v), 0, &x) != MEND_OK) {
        mend_format_error(p, sink, (size_t)(v - s + 1), "kv: bad value");
        return MEND_OK;
    }
    struct mend_point pt = {
        .key = st->name, .key_len = nl, .entity = NULL, .entity_len = 0,
        .time_ns = (int64_t)mend_format_line_no(p), .has_time = 1, .value = x,
    };
    st->since_flush++;
    return mend_format_emit(p, sink, &pt);
}

static int kv_flush(struct mend_parser *p, void *state, int64_t now_ns,
                    const struct mend_sink *sink)
{
    struct kv_state *st = state;
    struct mend_point pt = {
        .key = "kv_count", .key_len = 8, .time_ns = now_ns, .has_time = 1,
        .value = (double)st->since_flush,
    };
    st->since_flush = 0;
    return mend_format_emit(p, sink, &pt);
}

static int kv_guess(const char *head, size_t len)
{
    return len >= 3 && !memcmp(head, "kv:", 3);
}

static const struct mend_format_ops kv_ops = {
    .name = "kv",
    .init = kv_init,
    .line = kv_line,
    .flush = kv_flush,
    .guess = kv_guess,
    .record_open = kv_record_open,
    .fini = kv_fini,
};

/* Feed text in pieces of `step` bytes (0: one feed), then finish. */
static char *run_kv(const struct mend_format_ops *ops, const char *text, size_t step,
                    const struct mend_ingest_opts *o, struct mend_parse_stats *st)
{
    static struct collect c;
    memset(&c, 0, sizeof c);
    struct mend_parser *p;
    assert_int_equal(mend_parser_new_ops(ops, o, &p), 0);
    struct mend_sink sink = {collect_point, on_error, &c};
    size_t len = strlen(text);
    if (!step)
        step = len ? len : 1;
    for (size_t off = 0; off < len; off += step)
        assert_int_equal(mend_parser_feed(p, text + off, len - off < step ? len - off : step, &sink),
                         0);
    assert_int_equal(mend_parser_finish(p, &sink), 0);
    if (st)
        mend_parser_stats(p, st);
    mend_parser_free(p);
    return c.buf;
}

static void test_fake_format_plugs_in(void **state)
{
    (void)state;
    struct mend_parse_stats st;
    kv_live = 0;
    const char *in = "a 1\r\n!\nbad\nb 2.5\nc {1\n2\n3}\nd 4";
    const char *want = "a|-|1|1\nE 3:1 kv: expected 'name value'\nb|-|4|2.5\nc|-|5|123\nd|-|6|4\n";
    /* the framing is the generic one: every split gives the same output */
    for (size_t step = 0; step <= strlen(in); step++) {
        const char *got = run_kv(&kv_ops, in, step, NULL, &st);
        if (strcmp(got, want))
            fail_msg("step %zu: got '%s'", step, got);
        assert_int_equal(st.lines, 6);
        assert_int_equal(st.comments, 1);
        assert_int_equal(st.points, 4);
        assert_int_equal(st.errors, 1);
    }
    assert_int_equal(kv_live, 0);   /* fini ran for every parser */
}

static void test_fake_format_open_record_at_end_and_overlong(void **state)
{
    (void)state;
    struct mend_parse_stats st;
    /* a brace never closed: the format reports it when the input ends */
    assert_string_equal(run_kv(&kv_ops, "a 1\nb {1\n2", 0, NULL, &st),
                        "a|-|1|1\nE 2:3 kv: unclosed brace\n");
    /* a record that continues past max_line is overlong, counted once, and
     * parsing resumes at the next line */
    struct mend_ingest_opts o;
    mend_ingest_opts_defaults(&o);
    o.max_line = 16;
    for (size_t step = 0; step <= 40; step += 3) {
        const char *got = run_kv(&kv_ops, "x {1\n2222222222\n33333333333}\ny 7\n", step, &o, &st);
        if (!strstr(got, "line longer than max_line") || !strstr(got, "y|-|"))
            fail_msg("step %zu: got '%s'", step, got);
        assert_int_equal(st.overlong, 1);
    }
}

static void test_flush(void **state)
{
    (void)state;
    static struct collect c;
    memset(&c, 0, sizeof c);
    struct mend_sink sink = {collect_point, on_error, &c};
    struct mend_parser *p;
    assert_int_equal(mend_parser_new_ops(&kv_ops, NULL, &p), 0);
    const char *in = "a 1\nb 2\n";
    assert_int_equal(mend_parser_feed(p, in, strlen(in), &sink), 0);
    assert_int_equal(mend_parser_flush(p, 60000000000, &sink), 0);
    assert_int_equal(mend_parser_flush(p, 120000000000, &sink), 0);
    mend_parser_free(p);
    assert_string_equal(c.buf, "a|-|1|1\nb|-|2|2\nkv_count|-|60000000000|2\nkv_count|-|120000000000|0\n");
    /* built-in formats have no flush: a no-op returning 0 */
    assert_int_equal(mend_parser_new(MEND_FMT_LP, NULL, &p), 0);
    assert_int_equal(mend_parser_flush(p, 1, &sink), 0);
    mend_parser_free(p);
}

static int failing_init(struct mend_parser *p, const struct mend_ingest_opts *o, void **state)
{
    (void)p;
    (void)o;
    (void)state;
    return MEND_ENOMEM;
}

static int eagain_line(struct mend_parser *p, void *state, const char *s, size_t n,
                       const struct mend_sink *sink)
{
    (void)p;
    (void)state;
    (void)s;
    (void)n;
    (void)sink;
    return MEND_EAGAIN;
}

static void test_bad_ops(void **state)
{
    (void)state;
    struct mend_parser *p = NULL;
    struct mend_format_ops ops = kv_ops;
    ops.line = NULL;
    assert_int_equal(mend_parser_new_ops(&ops, NULL, &p), MEND_EINVAL);
    assert_int_equal(mend_parser_new_ops(NULL, NULL, &p), MEND_EINVAL);
    ops = kv_ops;
    ops.init = failing_init;
    assert_int_equal(mend_parser_new_ops(&ops, NULL, &p), MEND_ENOMEM);
    assert_null(p);
    /* a format without record_open that still answers MEND_EAGAIN gets an
     * error, not a loop */
    struct mend_format_ops bad = {.name = "bad", .line = eagain_line};
    struct mend_parse_stats st;
    assert_string_equal(run_kv(&bad, "x\ny\n", 0, NULL, &st),
                        "E 1:2 record ends inside a quoted string\n"
                        "E 2:2 record ends inside a quoted string\n");
    assert_int_equal(st.errors, 2);
}

static void test_registry(void **state)
{
    (void)state;
    assert_ptr_equal(mend_format_lookup("lp"), mend_format_ops_of(MEND_FMT_LP));
    assert_ptr_equal(mend_format_lookup("INFLUX"), mend_format_ops_of(MEND_FMT_LP));
    assert_ptr_equal(mend_format_lookup("prometheus"), mend_format_ops_of(MEND_FMT_PROM));
    assert_ptr_equal(mend_format_lookup("csv"), mend_format_ops_of(MEND_FMT_CSV));
    assert_null(mend_format_lookup("kv"));
    assert_null(mend_format_lookup(NULL));
    assert_null(mend_format_ops_of((enum mend_format)7));
    assert_string_equal(mend_format_ops_of(MEND_FMT_PROM)->name, "prom");
    /* the enum API is a thin layer over the registry */
    enum mend_format f;
    assert_int_equal(mend_format_parse("line", &f), 0);
    assert_int_equal(f, MEND_FMT_LP);
    assert_string_equal(mend_format_name(MEND_FMT_CSV), "csv");
    /* every built-in works through mend_parser_new_ops too */
    static struct collect c;
    memset(&c, 0, sizeof c);
    struct mend_sink sink = {collect_point, on_error, &c};
    struct mend_parser *p;
    assert_int_equal(mend_parser_new_ops(mend_format_lookup("prom"), NULL, &p), 0);
    assert_int_equal(mend_parser_feed(p, "up 1 1000\n", 10, &sink), 0);
    mend_parser_free(p);
    assert_string_equal(c.buf, "up|-|1000000000|1\n");
    /* the fake format's guess is its own business; the registry's guess
     * still answers for the built-ins */
    assert_true(kv_guess("kv: x", 5));
    assert_int_equal(mend_format_guess(NULL, "up 1\n", 5, &f), 0);
    /* leading comment lines are skipped; comments alone read as line protocol;
     * Prometheus's own comment lines still say Prometheus */
    assert_int_equal(mend_format_guess(NULL, "# recording\na,b,c\n1,2,3\n", 24, &f), 0);
    assert_int_equal(f, MEND_FMT_CSV);
    assert_int_equal(mend_format_guess(NULL, "# recording\n", 12, &f), 0);
    assert_int_equal(f, MEND_FMT_LP);
    assert_int_equal(mend_format_guess(NULL, "# TYPE up gauge\nup 1\n", 21, &f), 0);
    assert_int_equal(f, MEND_FMT_PROM);
    assert_int_equal(f, MEND_FMT_PROM);
}

/* ---- names ------------------------------------------------------------- */

static void test_name_ok(void **state)
{
    (void)state;
    size_t bad = 99;
    assert_true(mend_format_name_ok("cpu", 3, &bad));
    assert_true(mend_format_name_ok("", 0, &bad));
    assert_true(mend_format_name_ok("w\xc3\xa8 \xe2\x82\xac \xf0\x9f\x98\x80", 12, &bad)); /* è € emoji */
    static const struct {
        const char *s;
        size_t n, bad;
    } no[] = {
        {"a\tb", 3, 1},              /* C0 */
        {"a\x7f", 2, 1},             /* DEL */
        {"ab\x00", 3, 2},            /* NUL */
        {"a\xc2\x85", 3, 1},         /* C1 control U+0085 */
        {"a\xc3", 2, 1},             /* truncated */
        {"a\xc0\xaf", 3, 1},         /* overlong '/' */
        {"a\xe0\x80\xaf", 4, 1},     /* overlong 3-byte */
        {"a\xed\xa0\x80", 4, 1},     /* surrogate */
        {"a\xf4\x90\x80\x80", 5, 1}, /* > U+10FFFF */
        {"a\xef\xbf\xbd", 4, 1},     /* U+FFFD */
        {"a\x80", 2, 1},             /* lone continuation */
        {"ab\xff", 3, 2},
    };
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        bad = 99;
        if (mend_format_name_ok(no[i].s, no[i].n, &bad) || bad != no[i].bad)
            fail_msg("case %zu: accepted or bad=%zu", i, bad);
    }
}

/* ---- numbers ----------------------------------------------------------- */

/* Keeps the values only: printing them would itself depend on the locale. */
struct values {
    double v[8];
    int n;
};

static int value_point(void *ctx, const struct mend_point *p)
{
    struct values *vs = ctx;
    if (vs->n < 8)
        vs->v[vs->n++] = p->value;
    return 0;
}

static void value_error(void *ctx, uint64_t line, uint32_t col, const char *reason)
{
    (void)ctx;
    fail_msg("unexpected error %llu:%u %s", (unsigned long long)line, (unsigned)col, reason);
}

static void check_numbers(void)
{
    double v;
    assert_int_equal(mend_parse_f64("1.5", 3, 0, &v), 0);
    assert_true(v == 1.5);
    assert_int_equal(mend_parse_f64("-2.25e3", 7, 0, &v), 0);
    assert_true(v == -2250.0);
    assert_int_equal(mend_parse_f64("1,5", 3, 0, &v), MEND_EPARSE);
    assert_int_equal(mend_parse_f64("0x10", 4, 0, &v), MEND_EPARSE);
    assert_int_equal(mend_parse_f64(" 1", 2, 0, &v), MEND_EPARSE);
    assert_int_equal(mend_parse_f64("nan", 3, 0, &v), MEND_ERANGE);
    assert_int_equal(mend_parse_f64("nan", 3, 1, &v), 0);
    assert_true(isnan(v));
    assert_int_equal(mend_parse_f64("1e999", 5, 1, &v), MEND_ERANGE);
    /* the slow path of the ingest number parser (more than 15 digits, big
     * exponents) and the CSV cells */
    struct values vs = {{0}, 0};
    struct mend_sink sink = {value_point, value_error, &vs};
    struct mend_parser *p;
    assert_int_equal(mend_parser_new(MEND_FMT_LP, NULL, &p), 0);
    const char *in = "m v=3.14159265358979323846,w=1.5e300,x=2.5 1\n";
    assert_int_equal(mend_parser_feed(p, in, strlen(in), &sink), 0);
    mend_parser_free(p);
    assert_int_equal(vs.n, 3);
    assert_true(vs.v[0] == 3.141592653589793);
    assert_true(vs.v[1] == 1.5e300);
    assert_true(vs.v[2] == 2.5);
    vs.n = 0;
    assert_int_equal(mend_parser_new(MEND_FMT_CSV, NULL, &p), 0);
    in = "a,b\n1.25,2.000000000000000000001\n";
    assert_int_equal(mend_parser_feed(p, in, strlen(in), &sink), 0);
    mend_parser_free(p);
    assert_int_equal(vs.n, 2);
    assert_true(vs.v[0] == 1.25);
    assert_true(vs.v[1] == 2.0);
}

static void test_numbers_c_locale(void **state)
{
    (void)state;
    check_numbers();
    int64_t i;
    uint64_t u;
    /* leading zeros do not count against the 20-digit cap */
    assert_int_equal(mend_parse_i64("0009223372036854775807", 22, &i), 0);
    assert_true(i == INT64_MAX);
    assert_int_equal(mend_parse_i64("-0009223372036854775808", 23, &i), 0);
    assert_true(i == INT64_MIN);
    assert_int_equal(mend_parse_u64("00018446744073709551615", 23, &u), 0);
    assert_true(u == UINT64_MAX);
    assert_int_equal(mend_parse_u64("0000000000000000000000000000", 28, &u), 0);
    assert_true(u == 0);
    assert_int_equal(mend_parse_u64("000018446744073709551616", 24, &u), MEND_ERANGE);
    assert_int_equal(mend_parse_u64("123456789012345678901", 21, &u), MEND_ERANGE);
    assert_int_equal(mend_parse_u64("12345678901234567890x", 21, &u), MEND_EPARSE);
    assert_int_equal(mend_parse_u64("0000x", 5, &u), MEND_EPARSE);
}

/* Builds a locale whose decimal point is ',' under dir (LC_NUMERIC only,
 * a few ms with localedef). Returns 0, or -1 when localedef is missing. */
static int make_comma_locale(const char *dir)
{
    char src[512], cmd[1200];
    snprintf(src, sizeof src, "%s/comma.src", dir);
    FILE *f = fopen(src, "w");
    if (!f)
        return -1;
    fputs("comment_char %\nescape_char /\nLC_NUMERIC\ndecimal_point \",\"\n"
          "thousands_sep \".\"\ngrouping 3;3\nEND LC_NUMERIC\n", f);
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "localedef -c -i %s -f ANSI_X3.4-1968 %s/xx_COMMA >/dev/null 2>&1; "
             "test -f %s/xx_COMMA/LC_NUMERIC", src, dir, dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* The locale directory lives in the test's state so the teardown removes
 * it even when an assertion fails half way. */
static int locale_setup(void **state)
{
    static char dir[] = "/tmp/mend-locale-XXXXXX";
    strcpy(dir, "/tmp/mend-locale-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    *state = dir;
    return 0;
}

static int locale_teardown(void **state)
{
    setlocale(LC_NUMERIC, "C");
    unsetenv("LOCPATH");
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", (const char *)*state);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_numbers_comma_locale(void **state)
{
    const char *dir = *state;
    if (make_comma_locale(dir) != 0) {
        fprintf(stderr, "no localedef: the comma-decimal locale cannot be made; skipped\n");
        skip();
    }
    setenv("LOCPATH", dir, 1);
    const char *got = setlocale(LC_NUMERIC, "xx_COMMA");
    assert_non_null(got);
    /* the process now reads "1,5" as 1.5 with plain strtod ... */
    assert_true(strtod("1,5", NULL) == 1.5);
    assert_true(strtod("1.5", NULL) == 1.0);
    /* ... and mend still reads text the one way */
    check_numbers();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fake_format_plugs_in),
        cmocka_unit_test(test_fake_format_open_record_at_end_and_overlong),
        cmocka_unit_test(test_flush),
        cmocka_unit_test(test_bad_ops),
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_name_ok),
        cmocka_unit_test(test_numbers_c_locale),
        cmocka_unit_test_setup_teardown(test_numbers_comma_locale, locale_setup, locale_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
