/* numfmt.c -- printf's "%.17g", "%.6f" and "%" PRId64 without printf (see
 * numfmt.h for why).
 *
 * A finite double is m * 2^e with m < 2^53. Its decimal digits at a given
 * position are round(m * 10^k * 2^e): for 10^k up to 10^22 (exact in 74
 * bits) the product m * 10^k fits an unsigned 128-bit integer, and a shift
 * by -e (under 128) with the bits shifted out compared against one half
 * gives the correctly rounded integer, ties to even -- what glibc prints in
 * the default rounding mode. Outside the range where that holds (tiny or
 * huge magnitudes, Inf, NaN) snprintf does the work. tests/test_numfmt.c
 * checks every path against snprintf on millions of values, ties included. */
#include "mend/numfmt.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#if defined(__SIZEOF_INT128__)
__extension__ typedef unsigned __int128 u128;
#define HAVE_U128 1
#endif

size_t mend_fmt_i64(char *buf, int64_t v)
{
    char tmp[24];
    size_t n = 0;
    /* the magnitude in unsigned arithmetic: INT64_MIN has no positive twin */
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    size_t len = 0;
    if (v < 0)
        buf[len++] = '-';
    while (n)
        buf[len++] = tmp[--n];
    buf[len] = '\0';
    return len;
}

#ifdef HAVE_U128
static const uint64_t pow10_u64[20] = {
    1ULL,
    10ULL,
    100ULL,
    1000ULL,
    10000ULL,
    100000ULL,
    1000000ULL,
    10000000ULL,
    100000000ULL,
    1000000000ULL,
    10000000000ULL,
    100000000000ULL,
    1000000000000ULL,
    10000000000000ULL,
    100000000000000ULL,
    1000000000000000ULL,
    10000000000000000ULL,
    100000000000000000ULL,
    1000000000000000000ULL,
    10000000000000000000ULL,
};

/* 10^k for k in 0..22, exactly. */
static u128 pow10_u128(int k)
{
    if (k < 20)
        return pow10_u64[k];
    return (u128)pow10_u64[19] * pow10_u64[k - 19];
}

/* |v| as m * 2^e, m < 2^53 an integer (v finite, nonzero). */
static void decompose(double v, uint64_t *m, int *e)
{
    int ex;
    double f = frexp(fabs(v), &ex); /* [0.5, 1) */
    *m = (uint64_t)ldexp(f, 53);    /* exact: 53 bits */
    *e = ex - 53;
}

/* round(m * 10^k * 2^e), ties to even, when it is known to fit 64 bits;
 * k in 0..22, e in -127..10. *trunc gets the value before rounding. */
static uint64_t scaled(uint64_t m, int k, int e, uint64_t *trunc)
{
    u128 p = (u128)m * pow10_u128(k);
    if (e >= 0) {
        p <<= e;
        *trunc = p >> 64 ? UINT64_MAX : (uint64_t)p;
        return *trunc;
    }
    int s = -e;
    u128 q = p >> s;
    u128 rem = p - (q << s);
    u128 half = (u128)1 << (s - 1);
    if (q >> 64) { /* past 64 bits: the caller's exponent guess was low */
        *trunc = UINT64_MAX;
        return UINT64_MAX;
    }
    *trunc = (uint64_t)q;
    if (rem > half || (rem == half && (q & 1)))
        q++;
    return (uint64_t)q;
}
#endif

size_t mend_fmt_g17(char *buf, double v)
{
#ifdef HAVE_U128
    if (v == 0.0) {
        size_t n = 0;
        if (signbit(v))
            buf[n++] = '-';
        buf[n++] = '0';
        buf[n] = '\0';
        return n;
    }
    double a = fabs(v);
    /* the exact path: decimal exponents -6..16, where 10^(16 - E) has at
     * most 22 digits and the shift stays under 128 bits */
    if (isfinite(v) && a >= 1e-6 && a < 1e16) {
        uint64_t m;
        int e;
        decompose(v, &m, &e);
        int x = (int)floor(log10(a)); /* may be off by one near a power of ten */
        uint64_t q = 0, t = 0;
        int ok = 0;
        for (int tries = 0; tries < 3; tries++) {
            int k = 16 - x;
            if (k < 0 || k > 22)
                break;
            q = scaled(m, k, e, &t);
            if (t >= pow10_u64[17]) {
                x++;
            } else if (t < pow10_u64[16]) {
                x--;
            } else {
                ok = 1;
                break;
            }
        }
        if (ok) {
            if (q == pow10_u64[17]) { /* rounded up to the next power of ten */
                q = pow10_u64[16];
                x++;
            }
            char d[17];
            for (int i = 16; i >= 0; i--) {
                d[i] = (char)('0' + q % 10);
                q /= 10;
            }
            int nd = 17; /* significant digits once trailing zeros go (%g) */
            while (nd > 1 && d[nd - 1] == '0')
                nd--;
            size_t n = 0;
            if (v < 0)
                buf[n++] = '-';
            if (x < -4) { /* exponent style: d.ddde-0X */
                buf[n++] = d[0];
                if (nd > 1) {
                    buf[n++] = '.';
                    memcpy(buf + n, d + 1, (size_t)nd - 1);
                    n += (size_t)nd - 1;
                }
                int ax = -x;
                buf[n++] = 'e';
                buf[n++] = '-';
                buf[n++] = (char)('0' + ax / 10);
                buf[n++] = (char)('0' + ax % 10);
            } else if (x >= 0) { /* x + 1 integer digits, x <= 16 */
                memcpy(buf + n, d, (size_t)x + 1);
                n += (size_t)x + 1;
                if (nd > x + 1) {
                    buf[n++] = '.';
                    memcpy(buf + n, d + x + 1, (size_t)(nd - x - 1));
                    n += (size_t)(nd - x - 1);
                }
            } else { /* 0.000ddd */
                buf[n++] = '0';
                buf[n++] = '.';
                for (int i = 0; i < -x - 1; i++)
                    buf[n++] = '0';
                memcpy(buf + n, d, (size_t)nd);
                n += (size_t)nd;
            }
            buf[n] = '\0';
            return n;
        }
    }
#endif
    int r = snprintf(buf, MEND_FMT_G17_MAX, "%.17g", v);
    return r < 0 ? 0 : (size_t)r;
}

size_t mend_fmt_f6(char *buf, double v)
{
#ifdef HAVE_U128
    /* the exact path: v * 10^6 below 2^53, so the rounded integer and its
     * pre-image fit 64 bits; anything smaller rounds to 0 or to a few
     * millionths, still exactly (the shift may reach 127) */
    double a = fabs(v);
    if (isfinite(v) && a < 9e9) {
        uint64_t q = 0, t;
        if (a != 0.0) {
            uint64_t m;
            int e;
            decompose(v, &m, &e);
            if (e >= -127)
                q = scaled(m, 6, e, &t);
            /* else: below 2^-74, far under half a millionth: 0 */
        }
        size_t n = 0;
        if (signbit(v)) /* printf keeps the sign of what rounds to zero */
            buf[n++] = '-';
        n += mend_fmt_i64(buf + n, (int64_t)(q / 1000000u));
        uint32_t f = (uint32_t)(q % 1000000u);
        buf[n++] = '.';
        for (int i = 5; i >= 0; i--) {
            buf[n + (size_t)i] = (char)('0' + f % 10);
            f /= 10;
        }
        n += 6;
        buf[n] = '\0';
        return n;
    }
#endif
    int r = snprintf(buf, MEND_FMT_F6_MAX, "%.6f", v);
    return r < 0 ? 0 : (size_t)r;
}
