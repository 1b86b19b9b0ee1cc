/* test_trial.c -- what a first trial of mend ran into, replayed end to end
 * through the `mend` binary (MEND_BIN) on the fixtures in tests/fixtures/trial/
 * (see the README there): a host whose clock runs a day ahead, a host two
 * minutes behind, absence incidents that stay open while a series is missing
 * and close when it reports again, and incident lines that carry every event. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define FIX "tests/fixtures/trial/"

static const char *bin = "bin/mend";

/* Runs `bin ARGS` and returns its stdout and stderr (malloc'ed, NUL-ended). */
static void mend(char **out, char **err, const char *args)
{
    char tmpl[] = "/tmp/mend-trial-XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    close(fd);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s 2>%s", bin, args, tmpl);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, n = 0;
    *out = malloc(cap);
    assert_non_null(*out);
    size_t got;
    while ((got = fread(*out + n, 1, cap - n - 1, p)) > 0) {
        n += got;
        if (n + 1 == cap) {
            cap *= 2;
            *out = realloc(*out, cap);
            assert_non_null(*out);
        }
    }
    (*out)[n] = '\0';
    assert_int_equal(pclose(p), 0);
    FILE *f = fopen(tmpl, "r");
    assert_non_null(f);
    *err = calloc(1, 1 << 16);
    assert_non_null(*err);
    size_t en = fread(*err, 1, (1 << 16) - 1, f);
    (*err)[en] = '\0';
    fclose(f);
    unlink(tmpl);
}

static int count(const char *s, const char *what)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, what)); p++)
        n++;
    return n;
}

/* Host c's clock runs a day ahead: nobody is reported absent, c's samples
 * are refused, and the run says so. */
static void test_day_ahead(void **state)
{
    (void)state;
    char *out, *err;
    mend(&out, &err, "replay " FIX "day_ahead.lp");
    assert_int_equal(count(out, "\"kind\":\"absence\""), 0);
    assert_int_equal(count(out, "host=c"), 0);
    assert_non_null(strstr(err, "360 samples refused as more than input.max_ahead"));
    free(out);
    free(err);
}

/* Host b's clock runs two minutes behind, both report every 100 ms: b is
 * not absent while it reports. */
static void test_two_minutes_behind(void **state)
{
    (void)state;
    char *out, *err;
    mend(&out, &err, "replay " FIX "behind.lp");
    assert_int_equal(count(out, "\"kind\":\"absence\""), 0);
    assert_non_null(strstr(err, "6000 samples, 2 series"));
    assert_non_null(strstr(err, " 0 absences"));
    free(out);
    free(err);
}

/* db-1's disk collector stops for good in the demo recording: its absence
 * incident stays open to the end. A series that comes back closes it. */
static void test_absence_stays_open(void **state)
{
    (void)state;
    char *out, *err;
    mend(&out, &err, "replay --config data/demo.yaml --table data/demo.lp");
    const char *row = strstr(out, "[absent] disk,host=db-1");
    assert_non_null(row);
    /* the table row of that incident is not resolved */
    const char *line = row;
    while (line > out && line[-1] != '\n')
        line--;
    const char *st = strstr(line, " update ") ? strstr(line, " update ") : strstr(line, " open ");
    assert_non_null(st);
    assert_true(st < row);
    assert_non_null(strstr(out, "\"state\":\"missing\""));
    assert_non_null(strstr(out, "\"last_seen\":\"2023-11-16T13:59:00Z\""));
    free(out);
    free(err);
    /* a silence, then the series back: a "back" update, then a resolve */
    mend(&out, &err, "replay " FIX "gap.lp");
    const char *back = strstr(out, "\"kind\":\"back\"");
    assert_non_null(back);
    assert_non_null(strstr(out, "\"state\":\"back\""));
    /* the incident resolves after it */
    const char *inc = back;
    while (inc > out && inc[-1] != '\n')
        inc--;
    const char *id = strstr(inc, "\"incident\":");
    assert_non_null(id);
    char want[64];
    snprintf(want, sizeof want, "{\"type\":\"resolve\",\"incident\":%ld,", strtol(id + 11, NULL, 10));
    const char *res = strstr(back, want);
    assert_non_null(res);
    free(out);
    free(err);
}

int main(void)
{
    const char *b = getenv("MEND_BIN");
    if (b && *b)
        bin = b;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_day_ahead),
        cmocka_unit_test(test_two_minutes_behind),
        cmocka_unit_test(test_absence_stays_open),
    };
    return cmocka_run_group_tests_name("trial", tests, NULL, NULL);
}
