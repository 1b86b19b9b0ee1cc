/* test_numfmt.c -- mend_fmt_g17 / mend_fmt_f6 / mend_fmt_i64 write exactly
 * what snprintf writes for "%.17g", "%.6f" and PRId64: on random bit
 * patterns, on log-uniform magnitudes across and beyond the exact path's
 * range, on decimals as collectors send them, next to powers of ten (where
 * the exponent guess is off by one and rounding carries), and on exact ties
 * (which must round half to even). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <float.h>
#include <math.h>
#include <inttypes.h>

#include <cmocka.h>

#include "mend/numfmt.h"

/* xorshift64*: reproducible inputs */
static uint64_t rnd(uint64_t *st)
{
    uint64_t x = *st;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *st = x;
    return x * 0x2545f4914f6cdd1dULL;
}

static double unit(uint64_t *st) { return (double)(rnd(st) >> 11) * 0x1.0p-53; }

static unsigned long checked;

static void same(double v)
{
    char want[400], got[MEND_FMT_F6_MAX];
    int wl = snprintf(want, sizeof want, "%.17g", v);
    size_t gl = mend_fmt_g17(got, v);
    if ((size_t)wl != gl || strcmp(want, got)) {
        fprintf(stderr, "%%.17g of %a: want '%s' got '%s'\n", v, want, got);
        fail();
    }
    wl = snprintf(want, sizeof want, "%.6f", v);
    gl = mend_fmt_f6(got, v);
    if ((size_t)wl != gl || strcmp(want, got)) {
        fprintf(stderr, "%%.6f of %a: want '%s' got '%s'\n", v, want, got);
        fail();
    }
    checked++;
}

static void both_signs(double v)
{
    same(v);
    same(-v);
}

static void test_special(void **state)
{
    (void)state;
    both_signs(0.0);
    both_signs(INFINITY);
    same(NAN);
    both_signs(DBL_MIN);
    both_signs(DBL_MAX);
    both_signs(DBL_TRUE_MIN);
    both_signs(DBL_EPSILON);
    both_signs(1.0);
    both_signs(0.1);
    both_signs(61.62);
    both_signs(1e-6);
    both_signs(1e-7);
    both_signs(1e16);
    both_signs(1e17);
    both_signs(9e9);
    both_signs(5e-7);
    both_signs(4.9999999999999998e-07);
    both_signs(0.5e-6);
}

static void test_random_bits(void **state)
{
    (void)state;
    uint64_t st = 0x9E3779B97F4A7C15ULL;
    for (int i = 0; i < 100000; i++) {
        uint64_t b = rnd(&st);
        double v;
        memcpy(&v, &b, sizeof v);
        same(v);
    }
}

static void test_magnitudes(void **state)
{
    (void)state;
    uint64_t st = 42;
    /* log-uniform over 1e-9 .. 1e19: across the exact path and past it */
    for (int i = 0; i < 150000; i++)
        both_signs(pow(10.0, -9.0 + 28.0 * unit(&st)));
    /* around every power of ten the exact path covers, a few ulps either way */
    for (int p = -8; p <= 18; p++) {
        double v = pow(10.0, p);
        double lo = v, hi = v;
        for (int k = 0; k < 64; k++) {
            both_signs(lo);
            both_signs(hi);
            lo = nextafter(lo, 0.0);
            hi = nextafter(hi, INFINITY);
        }
        /* values that round up to the next power of ten at 17 digits */
        both_signs(v * (1.0 - 1e-17));
        both_signs(v - v * 4e-17);
    }
}

static void test_decimals(void **state)
{
    (void)state;
    uint64_t st = 7;
    for (int i = 0; i < 80000; i++) {
        int64_t k = (int64_t)(rnd(&st) % 2000000000u) - 1000000000;
        both_signs((double)k / 100.0);
        both_signs((double)k / 1000000.0);
        both_signs((double)k);
        both_signs((double)(k % 1000) / 1000.0);
    }
    /* scores: [0, 1] */
    for (int i = 0; i < 50000; i++)
        same(unit(&st));
}

static void test_ties(void **state)
{
    (void)state;
    uint64_t st = 99;
    /* %.6f ties: odd multiples of 2^-7 .. 2^-20 have a 5 just past the
     * sixth decimal (or exact digits beyond it) */
    for (int i = 0; i < 50000; i++) {
        int sh = 7 + (int)(rnd(&st) % 14);
        double v = ldexp((double)(2 * (rnd(&st) % 100000) + 1), -sh);
        both_signs(v);
    }
    for (int j = 0; j < 256; j++)
        both_signs((double)j / 128.0);
    /* %.17g ties: 16 integer digits and a quarter (exact below 2^51) */
    for (int i = 0; i < 50000; i++) {
        double n = (double)((1ULL << 50) + rnd(&st) % (1ULL << 50));
        both_signs(n + 0.25);
        both_signs(n + 0.75);
        both_signs(n + 0.5);
    }
}

static void test_i64(void **state)
{
    (void)state;
    static const int64_t fixed[] = {0, 1, -1, 9, 10, -10, INT64_MAX, INT64_MIN, 1700000000000000000LL};
    char want[32], got[32];
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        snprintf(want, sizeof want, "%" PRId64, fixed[i]);
        assert_int_equal(mend_fmt_i64(got, fixed[i]), strlen(want));
        assert_string_equal(got, want);
    }
    uint64_t st = 5;
    for (int i = 0; i < 100000; i++) {
        int64_t v = (int64_t)rnd(&st) >> (rnd(&st) % 64);
        snprintf(want, sizeof want, "%" PRId64, v);
        assert_int_equal(mend_fmt_i64(got, v), strlen(want));
        assert_string_equal(got, want);
    }
}

static void test_count(void **state)
{
    (void)state;
    /* the cases above ran (a guard against a loop that stopped early) */
    assert_true(checked > 1000000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_special),   cmocka_unit_test(test_random_bits), cmocka_unit_test(test_magnitudes),
        cmocka_unit_test(test_decimals),  cmocka_unit_test(test_ties),        cmocka_unit_test(test_i64),
        cmocka_unit_test(test_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
