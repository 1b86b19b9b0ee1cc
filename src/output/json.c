/* json.c -- JSON string and number writers shared by the outputs (see
 * json.h). Strings are checked against the well-formed UTF-8 byte table of
 * the Unicode standard (Table 3-7) so nothing ill-formed passes; numbers
 * are the shortest round-tripping decimal, made with snprintf/strtod in the
 * C locale and then laid out by hand. */
#include "mend/json.h"

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
    char e[64];
    shortest_exp(v, e, sizeof e);
    /* take the digits and the exponent apart; whatever sits between the
     * first digit and the next digit is the decimal point, in any locale */
    char dig[24];
    int nd = 0, neg = 0, ex = 0, exneg = 0;
    const char *p = e;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    for (; *p && *p != 'e' && *p != 'E'; p++)
        if (*p >= '0' && *p <= '9' && nd < (int)sizeof dig)
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
