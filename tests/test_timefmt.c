/* test_timefmt.c -- the one timestamp parser (timefmt.h): offsets, the
 * documented range 1678..2261 refused beyond without overflow (UBSan runs
 * this), the strict epoch grammar, and `mend eval`'s loaders, which now
 * read time through it (issue 5, defect 5: eval refused what score wrote). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mend/common.h"
#include "mend/eval.h"
#include "mend/timefmt.h"

#define T2024 (INT64_C(1704067200) * 1000000000)   /* 2024-01-01T00:00:00Z */

static int64_t any(const char *s, int want_rc)
{
    int64_t ns = 42;
    int rc = mend_time_parse_any(s, strlen(s), &ns);
    if (rc != want_rc)
        fail_msg("'%s': rc %d want %d", s, rc, want_rc);
    return ns;
}

static void test_offsets(void **state)
{
    (void)state;
    assert_true(any("2024-01-01T00:00:00+00:00", 0) == T2024);
    assert_true(any("2024-01-01T00:00:00-00:00", 0) == T2024);
    assert_true(any("2024-01-01T00:00:00Z", 0) == T2024);
    assert_true(any("2024-01-01T05:30:00+05:30", 0) == T2024);
    assert_true(any("2024-01-01T05:30:00+0530", 0) == T2024);
    assert_true(any("2024-01-01T05:00:00+05", 0) == T2024);
    assert_true(any("2023-12-31T19:00:00-05:00", 0) == T2024);
    assert_true(any("2024-01-01 00:00:00.5+00:00", 0) == T2024 + 500000000);
    any("2024-01-01T00:00:00+24:00", MEND_EPARSE);
    any("2024-01-01T00:00:00+00:", MEND_EPARSE);
}

static void test_range(void **state)
{
    (void)state;
    assert_true(any("2261-12-31T23:59:59.999999999Z", 0) == MEND_TIME_MAX_NS);
    assert_true(any("1678-01-01T00:00:00Z", 0) == MEND_TIME_MIN_NS);
    /* past the range, past int64, and far past it: an error each time */
    static const char *out[] = {
        "2262-01-01", "2262-04-11T23:47:16.854775807Z", "2262-04-12", "2300-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999999Z", "1677-12-31T23:59:59Z", "0000-01-01", "1000-06-15",
        "2261-12-31T23:00:00-01:00", "1678-01-01T00:00:00+00:01",
        /* epoch numbers in every unit */
        "9214646400", "-9214560001", "9214646400000", "9214646400000000", "9214646400000000000",
        "9223372036854775807", "-9223372036854775808", "99999999999999999999", "1e400", "-1e19",
        "9.3e18",
    };
    for (size_t i = 0; i < sizeof out / sizeof out[0]; i++)
        any(out[i], MEND_ERANGE);
    assert_true(any("9214646399.999999999", 0) == MEND_TIME_MAX_NS);
    assert_true(any("-9214560000", 0) == MEND_TIME_MIN_NS);
}

static void test_epoch_grammar(void **state)
{
    (void)state;
    assert_true(any("1704067200", 0) == T2024);
    assert_true(any("1704067200.25", 0) == T2024 + 250000000);
    assert_true(any("1704067200000", 0) == T2024);         /* ms */
    assert_true(any("-1.5", 0) == -1500000000);
    assert_true(any("1.7040672e9", 0) == T2024);
    static const char *bad[] = {"12.", ".5", "-.5", ".", "+", "-", "1.2.3", "1e", "0x10", "1,5",
                                "12 34", "nan", "inf"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        any(bad[i], MEND_EPARSE);
}

/* ---- mend eval ---------------------------------------------------------- */

static void test_eval_parse_time(void **state)
{
    (void)state;
    int64_t ns;
    assert_int_equal(mend_eval_parse_time("2024-01-01T00:00:00+00:00", 25, &ns), 0);
    assert_true(ns == T2024);
    assert_int_equal(mend_eval_parse_time("2024-01-01T01:00:00+01:00", 25, &ns), 0);
    assert_true(ns == T2024);
    /* eval.h: anything unusable is MEND_EPARSE, out of range included */
    assert_int_equal(mend_eval_parse_time("2262-04-12T00:00:00Z", 20, &ns), MEND_EPARSE);
    assert_int_equal(mend_eval_parse_time("2300-01-01", 10, &ns), MEND_EPARSE);
    assert_int_equal(mend_eval_parse_time("9999-12-31T23:59:59Z", 20, &ns), MEND_EPARSE);
}

static char *write_tmp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/mend-timefmt-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
    return path;
}

static void test_eval_loads_what_score_writes(void **state)
{
    (void)state;
    /* `mend score` echoes the timestamps it was given; these are rows it
     * accepts, so eval must read them back */
    char *path = write_tmp("timestamp,value,anomaly_score\n"
                           "2024-01-01T00:00:00+00:00,1,0.000000\n"
                           "2024-01-01T02:00:00+01:00,2,0.250000\n"
                           "2024-01-01T00:00:00.5-01:00,3,0.500000\n");
    struct mend_eval_series s;
    char err[256] = "";
    int rc = mend_eval_series_load(path, &s, err, sizeof err);
    unlink(path);
    if (rc)
        fail_msg("%s", err);
    assert_int_equal(s.n, 3);
    assert_true(s.time_ns[0] == T2024);
    assert_true(s.time_ns[1] == T2024 + INT64_C(3600000000000));
    assert_true(s.time_ns[2] == T2024 + INT64_C(3600500000000));
    assert_true(s.score[2] == 0.5);
    mend_eval_series_fini(&s);

    /* windows with offsets, and a year past 2261 is a clear error */
    path = write_tmp("file,window_start,window_end\n"
                     "a.csv,2024-01-01T00:00:00+00:00,2024-01-01T03:00:00+02:00\n");
    struct mend_eval_labels l;
    rc = mend_eval_labels_load(path, &l, err, sizeof err);
    unlink(path);
    if (rc)
        fail_msg("%s", err);
    assert_int_equal(l.n, 1);
    assert_true(l.v[0].win.start_ns == T2024);
    assert_true(l.v[0].win.end_ns == T2024 + INT64_C(3600000000000));
    mend_eval_labels_fini(&l);

    path = write_tmp("timestamp,value,anomaly_score\n2024-01-01T00:00:00Z,1,0\n2300-01-01T00:00:00Z,1,0\n");
    rc = mend_eval_series_load(path, &s, err, sizeof err);
    unlink(path);
    assert_int_equal(rc, MEND_EPARSE);
    assert_non_null(strstr(err, ":3:1: bad timestamp '2300-01-01T00:00:00Z'"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_offsets),
        cmocka_unit_test(test_range),
        cmocka_unit_test(test_epoch_grammar),
        cmocka_unit_test(test_eval_parse_time),
        cmocka_unit_test(test_eval_loads_what_score_writes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
