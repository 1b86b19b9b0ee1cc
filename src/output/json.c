/* json.c -- JSON string and number writers shared by the outputs (see
 * json.h). Strings are checked against the well-formed UTF-8 byte table of
 * the Unicode standard (Table 3-7) so nothing ill-formed passes; numbers
 * are the shortest round-tripping decimal, made with snprintf/strtod in the
 * C locale and then laid out by hand (one snprintf for 17 digits, the
 * shorter candidates rounded from those and checked by exact arithmetic
 * where that is exact; see shortest_fast). */
#include "mend/json.h"

#include <float.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- numbers --------------------------------------------------------------
 * snprintf and strtod follow LC_NUMERIC (a ',' in de_DE). The C locale is
 * made once per process and switched to for the calling thread only
 * (uselocale), so another thread calling setlocale (libsvm does, around its
 * model files) cannot change our digits halfway. It is immutable once made
 * and never freed: the one process-wide object here. Should newlocale fail,
 * the digits are still read back in whatever locale is current -- snprintf
 * and strtod then agree with each other -- and the decimal point is
 * rewritten below, so the output stays correct either way. */
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale = (locale_t)0;

static void c_locale_make(void)
{
    c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

static int round_trips(double v, int prec, char *e, size_t elen)
{
    snprintf(e, elen, "%.*e", prec - 1, v);
    return strtod(e, NULL) == v;
}

/* Writes "[-]d.ddde[+-]xx" (or the locale's variant) with the fewest
 * significant digits that read back as v. If p digits read back, so do p+1
 * (the nearest (p+1)-digit number is at least as near as the p-digit one),
 * so a binary search over 1..17 finds the fewest in about four tries; 17
 * always read back (DBL_DECIMAL_DIG). */
static void shortest_exp(double v, char *e, size_t elen)
{
    pthread_once(&c_locale_once, c_locale_make);
    locale_t old = c_locale ? uselocale(c_locale) : (locale_t)0;
    int lo = 1, hi = 17;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (round_trips(v, mid, e, elen))
            hi = mid;
        else
            lo = mid + 1;
    }
    snprintf(e, elen, "%.*e", lo - 1, v);
    if (old)
        uselocale(old);
}

/* ---- the fast path -------------------------------------------------------
 * shortest_exp costs about nine snprintf/strtod calls a number (~1.5 us),
 * and the incident lines carry many numbers. shortest_fast gives the very
 * same digits -- it runs the same binary search over the same question,
 * "does v, correctly rounded to p significant digits, read back as v?" --
 * from one snprintf of 17 digits:
 *  - rounding: D17 = v correctly rounded to 17 digits. For p <= 16 the
 *    p-digit rounding point M (the half-way decimal, p + 1 digits) is a
 *    17-digit number, and rounding is monotone, so D17 < M means v < M and
 *    D17 > M means v > M: the p-digit rounding of D17 is that of v. Only
 *    D17 == M (digits p+1..17 are "50...0") leaves the side unknown (and the
 *    tie rule to printf): that number takes the slow path whole.
 *  - reading back: a candidate m * 10^k with m <= 2^53 and |k| <= 22 is
 *    one correctly rounded IEEE multiply or divide of two exact doubles
 *    (Clinger's fast path, the one strtod takes itself), so comparing that
 *    with v is exactly strtod's answer; other candidates go to strtod.
 * Signs are symmetric under both roundings (to nearest, ties to even), so
 * the work is on |v|. */
#define FAST_DIGITS 17

static const double pow10_exact[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Rounds the 17 digits of d17 (value d.ddd * 10^ex) to p digits into out;
 * returns the exponent of the result, or -9999 (no exponent a double has) when
 * the half-way case leaves the rounding open. */
static int round_digits(const char *d17, int ex, int p, char *out)
{
    memcpy(out, d17, (size_t)p);
    if (p >= FAST_DIGITS)
        return ex;
    int up;
    if (d17[p] != '5')
        up = d17[p] > '5';
    else {
        up = -1;
        for (int i = p + 1; i < FAST_DIGITS; i++)
            if (d17[i] != '0') {
                up = 1;
                break;
            }
        if (up < 0)
            return -9999;
    }
    if (up) {
        int i = p - 1;
        while (i >= 0 && out[i] == '9')
            out[i--] = '0';
        if (i >= 0)
            out[i]++;
        else {                               /* 9.99 -> 10.0: one more place */
            out[0] = '1';
            ex++;
        }
    }
    return ex;
}

/* Does the decimal dig[0..p) * 10^(ex - p + 1) read back as a (> 0)? */
static int reads_back(double a, const char *dig, int p, int ex)
{
    int k = ex - (p - 1);
#if FLT_EVAL_METHOD == 0
    if (p <= 16 && k >= -22 && k <= 22) {
        uint64_t m = 0;
        for (int i = 0; i < p; i++)
            m = m * 10 + (uint64_t)(dig[i] - '0');
        if (m <= ((uint64_t)1 << 53)) {
            double dm = (double)m;
            double r = k >= 0 ? dm * pow10_exact[k] : dm / pow10_exact[-k];
            return r == a;
        }
    }
#endif
    char s[40];
    memcpy(s, dig, (size_t)p);
    snprintf(s + p, sizeof s - (size_t)p, "e%d", k);
    return strtod(s, NULL) == a;
}

/* v correctly rounded to 17 significant digits (ties to even, as printf
 * does in the default rounding mode) by exact integer arithmetic, for
 * 1e-11 <= a < 1e17 (where 5^s fits 64 bits and the product 128): a =
 * m * 2^e, so a * 10^s = m * 5^s * 2^(e+s), whose integral part and
 * remainder are read off a 128-bit product. The digits go to d17, the
 * decimal exponent to *ex; returns -1 outside that range (the caller then
 * asks snprintf). */
__extension__ typedef unsigned __int128 u128;

static int digits17(double a, char *d17, int *ex)
{
    if (!(a >= 1e-11 && a < 1e17))
        return -1;
    int be;
    double fr = frexp(a, &be);               /* a = fr * 2^be, fr in [0.5, 1) */
    uint64_t m = (uint64_t)ldexp(fr, 53);    /* exact: 53 bits */
    int e = be - 53;
    int e10 = (int)floor(log10(a));
    for (int tries = 0; tries < 3; tries++) {
        int s = FAST_DIGITS - 1 - e10;       /* a * 10^s in [1e16, 1e17) */
        if (s < 0 || s > 27)
            return -1;
        uint64_t p5 = 1;
        for (int i = 0; i < s; i++)
            p5 *= 5;
        u128 n = (u128)m * p5;               /* < 2^53 * 5^27 < 2^116 */
        int sh = e + s;
        u128 q, r = 0, half = 0;
        if (sh >= 0) {
            if (sh > 11)                      /* 116 + 11 bits still fit */
                return -1;
            q = n << sh;
        } else {
            if (-sh >= 127)
                return -1;
            q = n >> -sh;
            r = n & ((((u128)1) << -sh) - 1);
            half = ((u128)1) << (-sh - 1);
        }
        const u128 lo = (u128)10000000000000000ULL, hi = (u128)100000000000000000ULL;
        if (q < lo) {
            e10--;
            continue;
        }
        if (q >= hi) {
            e10++;
            continue;
        }
        uint64_t d = (uint64_t)q;
        if (r > half || (r == half && half && (d & 1)))
            d++;
        if (d >= 100000000000000000ULL) {   /* 9.99..95 -> 10.0: one more place */
            d /= 10;
            e10++;
        }
        for (int i = FAST_DIGITS - 1; i >= 0; i--) {
            d17[i] = (char)('0' + d % 10);
            d /= 10;
        }
        *ex = e10;
        return 0;
    }
    return -1;
}

/* The same 17 digits from snprintf, for the rest of the range. */
static int digits17_printf(double a, char *d17, int *ex)
{
    char e[64];
    snprintf(e, sizeof e, "%.*e", FAST_DIGITS - 1, a);
    int n = 0, x = 0, xneg = 0;
    const char *p = e;
    for (; *p && *p != 'e' && *p != 'E'; p++)
        if (*p >= '0' && *p <= '9' && n < FAST_DIGITS)
            d17[n++] = *p;
    if (n != FAST_DIGITS || !*p)
        return -1;
    p++;
    if (*p == '-' || *p == '+')
        xneg = *p++ == '-';
    for (; *p >= '0' && *p <= '9'; p++)
        x = x * 10 + (*p - '0');
    *ex = xneg ? -x : x;
    return 0;
}

/* The shortest digits of a (finite, > 0) into dig (no trailing zeros) and
 * the decimal exponent; returns 0, or -1 when the slow path must decide. */
static int shortest_fast(double a, char *dig, int *nd, int *ex)
{
    char d17[FAST_DIGITS], cand[FAST_DIGITS + 1];
    int x = 0;
    if (digits17(a, d17, &x) != 0 && digits17_printf(a, d17, &x) != 0)
        return -1;
    /* the same search as shortest_exp, probe for probe */
    int lo = 1, hi = FAST_DIGITS;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        int cx = round_digits(d17, x, mid, cand);
        if (cx == -9999)
            return -1;
        if (reads_back(a, cand, mid, cx))
            hi = mid;
        else
            lo = mid + 1;
    }
    int cx = round_digits(d17, x, lo, cand);
    if (cx == -9999)
        return -1;
    while (lo > 1 && cand[lo - 1] == '0')
        lo--;
    memcpy(dig, cand, (size_t)lo);
    *nd = lo;
    *ex = cx;
    return 0;
}

/* The slow path's digits: shortest_exp's string taken apart. */
static void shortest_slow(double v, char *dig, int *ndp, int *exp_out)
{
    char e[64];
    shortest_exp(v, e, sizeof e);
    /* take the digits and the exponent apart; whatever sits between the
     * first digit and the next digit is the decimal point, in any locale */
    int nd = 0, ex = 0, exneg = 0;
    const char *p = e;
    if (*p == '-')
        p++;
    for (; *p && *p != 'e' && *p != 'E'; p++)
        if (*p >= '0' && *p <= '9' && nd < 24)
            dig[nd++] = *p;
    if (*p) {
        p++;
        if (*p == '-' || *p == '+')
            exneg = *p++ == '-';
        for (; *p >= '0' && *p <= '9'; p++)
            ex = ex * 10 + (*p - '0'); /* at most 3 digits for a double */
    }
    if (exneg)
        ex = -ex;
    while (nd > 1 && dig[nd - 1] == '0')
        nd--;
    if (nd == 0) {
        dig[0] = '0';
        nd = 1;
    }
    *ndp = nd;
    *exp_out = ex;
}

size_t mend_json_fmt_f64(double v, char *buf, size_t len)
{
    if (len < MEND_JSON_NUM_MAX) {
        if (len)
            buf[0] = '\0';
        return 0;
    }
    const char *lit = NULL;
    if (!isfinite(v))
        lit = "null";
    else if (v == 0)
        lit = signbit(v) ? "-0.0" : "0";
    if (lit) {
        size_t n = strlen(lit);
        memcpy(buf, lit, n + 1);
        return n;
    }
    char dig[24];
    int nd = 0, ex = 0, neg = signbit(v) != 0;
    pthread_once(&c_locale_once, c_locale_make);
    locale_t old = c_locale ? uselocale(c_locale) : (locale_t)0;
    int rc = shortest_fast(fabs(v), dig, &nd, &ex);
    if (old)
        uselocale(old);
    if (rc != 0)
        shortest_slow(v, dig, &nd, &ex);

    size_t o = 0;
    if (neg)
        buf[o++] = '-';
    if (ex >= -6 && ex <= 15) {
        if (ex >= nd - 1) {                 /* integral: digits then zeros */
            for (int i = 0; i < nd; i++)
                buf[o++] = dig[i];
            for (int i = 0; i < ex - (nd - 1); i++)
                buf[o++] = '0';
        } else if (ex >= 0) {               /* point inside the digits */
            for (int i = 0; i < nd; i++) {
                buf[o++] = dig[i];
                if (i == ex)
                    buf[o++] = '.';
            }
        } else {                            /* 0.000ddd */
            buf[o++] = '0';
            buf[o++] = '.';
            for (int i = 0; i < -ex - 1; i++)
                buf[o++] = '0';
            for (int i = 0; i < nd; i++)
                buf[o++] = dig[i];
        }
    } else {
        buf[o++] = dig[0];
        if (nd > 1) {
            buf[o++] = '.';
            for (int i = 1; i < nd; i++)
                buf[o++] = dig[i];
        }
        o += (size_t)snprintf(buf + o, len - o, "e%d", ex);
    }
    buf[o] = '\0';
    return o;
}

void mend_json_num(struct mend_wbuf *w, double v)
{
    char b[MEND_JSON_NUM_MAX];
    size_t n = mend_json_fmt_f64(v, b, sizeof b);
    mend_wbuf_bytes(w, b, n);
}

void mend_json_raw(struct mend_wbuf *w, const char *s)
{
    mend_wbuf_bytes(w, s, strlen(s));
}

/* ---- strings ------------------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at p (n bytes left), or 0 when
 * it is ill-formed; *skip then says how many bytes form the maximal
 * ill-formed subpart to replace with one U+FFFD. Ranges from Table 3-7. */
static size_t utf8_seq(const unsigned char *p, size_t n, size_t *skip)
{
    unsigned char c = p[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the 2nd byte */
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        need = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        if (c == 0xe0)
            lo = 0xa0;                       /* no overlong 3-byte forms */
        else if (c == 0xed)
            hi = 0x9f;                       /* no UTF-16 surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        if (c == 0xf0)
            lo = 0x90;                       /* no overlong 4-byte forms */
        else if (c == 0xf4)
            hi = 0x8f;                       /* nothing above U+10FFFF */
    } else {
        *skip = 1;                           /* C0, C1 (overlong), F5..FF, stray 80..BF */
        return 0;
    }
    for (size_t i = 1; i < need; i++) {
        if (i >= n || p[i] < (i == 1 ? lo : 0x80) || p[i] > (i == 1 ? hi : 0xbf)) {
            *skip = i;                       /* the valid prefix is one subpart */
            return 0;
        }
    }
    return need;
}

void mend_json_str(struct mend_wbuf *w, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    mend_wbuf_u8(w, '"');
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        /* copy runs of plain printable ASCII in one go */
        while (run < n && p[run] >= 0x20 && p[run] < 0x7f && p[run] != '"' && p[run] != '\\')
            run++;
        if (run > i) {
            mend_wbuf_bytes(w, p + i, run - i);
            i = run;
            continue;
        }
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            mend_wbuf_bytes(w, esc, 2);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            mend_wbuf_bytes(w, esc, 6);
            i++;
        } else {
            size_t skip = 1, len = utf8_seq(p + i, n - i, &skip);
            if (len) {
                mend_wbuf_bytes(w, p + i, len);
                i += len;
            } else {
                mend_wbuf_bytes(w, "\xef\xbf\xbd", 3); /* U+FFFD */
                i += skip;
            }
        }
    }
    mend_wbuf_u8(w, '"');
}
