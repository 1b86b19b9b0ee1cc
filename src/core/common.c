/* common.c -- error names, serialisation buffers, hashing and strict number
 * parsing shared by every module. Depends on nothing but libc (and
 * pthread_once for the C locale the float parser uses). */
/* strtod_l is a GNU extension (newlocale and locale_t are POSIX 2008). */
#define _GNU_SOURCE
#include "mend/common.h"

#include <stdarg.h>
#include <stdio.h>

#include <errno.h>
#include <locale.h>
#include <pthread.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void mend_set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

const char *mend_strerror(int code)
{
    switch (code) {
    case MEND_OK: return "success";
    case MEND_EINVAL: return "invalid argument";
    case MEND_ENOMEM: return "out of memory";
    case MEND_EPARSE: return "malformed input";
    case MEND_ECAP: return "limit reached";
    case MEND_EIO: return "input/output error";
    case MEND_ECORRUPT: return "corrupt data (checksum or structure mismatch)";
    case MEND_EVERSION: return "unsupported or foreign version";
    case MEND_ERANGE: return "value out of range";
    case MEND_ENOTFOUND: return "not found";
    case MEND_ELATE: return "sample too late";
    case MEND_EAGAIN: return "try again";
    default: return "unknown error";
    }
}

void mend_wbuf_init(struct mend_wbuf *w)
{
    memset(w, 0, sizeof *w);
}

void mend_wbuf_init_flush(struct mend_wbuf *w, size_t threshold,
                          int (*flush)(void *ctx, const unsigned char *p, size_t n), void *ctx)
{
    memset(w, 0, sizeof *w);
    w->flush = flush;
    w->flush_ctx = ctx;
    w->flush_at = threshold ? threshold : 1;
}

void mend_wbuf_fini(struct mend_wbuf *w)
{
    free(w->data);
    memset(w, 0, sizeof *w);
}

static void wbuf_emit(struct mend_wbuf *w, const void *p, size_t n)
{
    if (!w->failed && n && w->flush(w->flush_ctx, p, n) != MEND_OK)
        w->failed = 1;
}

int mend_wbuf_flush(struct mend_wbuf *w)
{
    if (!w->failed && w->flush && w->len) {
        wbuf_emit(w, w->data, w->len);
        w->len = 0;
    }
    return w->failed ? MEND_ENOMEM : MEND_OK;
}

void mend_wbuf_bytes(struct mend_wbuf *w, const void *p, size_t n)
{
    if (w->failed)
        return;
    if (w->flush && w->len + n > w->flush_at) {
        /* Keep order: what is buffered goes first; a write that alone
         * passes the threshold is not copied at all. */
        if (w->len) {
            wbuf_emit(w, w->data, w->len);
            w->len = 0;
        }
        if (n > w->flush_at) {
            wbuf_emit(w, p, n);
            return;
        }
    }
    if (n > SIZE_MAX / 2 - w->len) {
        w->failed = 1;
        return;
    }
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->len + n)
            cap *= 2;
        unsigned char *d = realloc(w->data, cap);
        if (!d) {
            w->failed = 1;
            return;
        }
        w->data = d;
        w->cap = cap;
    }
    if (n)
        memcpy(w->data + w->len, p, n);
    w->len += n;
}

static void put_le(struct mend_wbuf *w, uint64_t v, int n)
{
    unsigned char b[8];
    for (int i = 0; i < n; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    mend_wbuf_bytes(w, b, (size_t)n);
}

void mend_wbuf_u8(struct mend_wbuf *w, uint8_t v) { put_le(w, v, 1); }
void mend_wbuf_u32(struct mend_wbuf *w, uint32_t v) { put_le(w, v, 4); }
void mend_wbuf_u64(struct mend_wbuf *w, uint64_t v) { put_le(w, v, 8); }
void mend_wbuf_i64(struct mend_wbuf *w, int64_t v) { put_le(w, (uint64_t)v, 8); }

void mend_wbuf_f64(struct mend_wbuf *w, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    put_le(w, u, 8);
}

void mend_wbuf_f32(struct mend_wbuf *w, float v)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    put_le(w, u, 4);
}

void mend_rbuf_init(struct mend_rbuf *r, const void *p, size_t len)
{
    memset(r, 0, sizeof *r);
    r->p = p;
    r->len = len;
}

void mend_rbuf_init_refill(struct mend_rbuf *r, uint64_t total,
                           int (*refill)(void *ctx, struct mend_rbuf *r), void *ctx)
{
    memset(r, 0, sizeof *r);
    r->refill = refill;
    r->refill_ctx = ctx;
    r->rest = total;
}

uint64_t mend_rbuf_remaining(const struct mend_rbuf *r)
{
    return r->failed ? 0 : (uint64_t)(r->len - r->off) + r->rest;
}

int mend_rbuf_bytes(struct mend_rbuf *r, void *out, size_t n)
{
    unsigned char *o = out;
    size_t done = 0;
    while (!r->failed && done < n) {
        size_t avail = r->len - r->off;
        if (avail == 0) {
            /* A refill that brings nothing would loop: treat it as the end. */
            if (!r->refill || r->refill(r->refill_ctx, r) != MEND_OK || r->off >= r->len) {
                r->failed = 1;
                break;
            }
            continue;
        }
        size_t take = n - done < avail ? n - done : avail;
        if (o)
            memcpy(o + done, r->p + r->off, take);
        r->off += take;
        done += take;
    }
    if (r->failed) {
        if (o && n)
            memset(o, 0, n);
        return MEND_ECORRUPT;
    }
    return MEND_OK;
}

static uint64_t get_le(struct mend_rbuf *r, int n)
{
    unsigned char b[8];
    if (mend_rbuf_bytes(r, b, (size_t)n) != MEND_OK)
        return 0;
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

uint8_t mend_rbuf_u8(struct mend_rbuf *r) { return (uint8_t)get_le(r, 1); }
uint32_t mend_rbuf_u32(struct mend_rbuf *r) { return (uint32_t)get_le(r, 4); }
uint64_t mend_rbuf_u64(struct mend_rbuf *r) { return get_le(r, 8); }
int64_t mend_rbuf_i64(struct mend_rbuf *r) { return (int64_t)get_le(r, 8); }

double mend_rbuf_f64(struct mend_rbuf *r)
{
    uint64_t u = get_le(r, 8);
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

float mend_rbuf_f32(struct mend_rbuf *r)
{
    uint32_t u = (uint32_t)get_le(r, 4);
    float v;
    memcpy(&v, &u, sizeof v);
    return v;
}

uint64_t mend_hash(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

int mend_parse_u64(const char *s, size_t len, uint64_t *out)
{
    if (len == 0)
        return MEND_EPARSE;
    /* Leading zeros carry no value ("00018446744073709551615" is a valid
     * u64, as InfluxDB reads it): skip them before the length cap, which
     * then bounds the significant digits only. */
    size_t i = 0;
    while (i < len && s[i] == '0')
        i++;
    if (len - i > 20) {
        for (size_t k = i; k < len; k++)
            if (s[k] < '0' || s[k] > '9')
                return MEND_EPARSE;
        return MEND_ERANGE;
    }
    uint64_t v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return MEND_EPARSE;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return MEND_ERANGE;
        v = v * 10 + d;
    }
    *out = v;
    return MEND_OK;
}

int mend_parse_i64(const char *s, size_t len, int64_t *out)
{
    int neg = 0;
    if (len && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        s++;
        len--;
    }
    uint64_t u;
    int rc = mend_parse_u64(s, len, &u);
    if (rc)
        return rc;
    if (neg) {
        if (u > (uint64_t)INT64_MAX + 1)
            return MEND_ERANGE;
        *out = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
    } else {
        if (u > (uint64_t)INT64_MAX)
            return MEND_ERANGE;
        *out = (int64_t)u;
    }
    return MEND_OK;
}

/* The "C" locale, made once per process and never freed (it is immutable
 * and shared by every thread, so this is a cache, not state). strtod reads
 * the decimal point from LC_NUMERIC, which a library must not depend on:
 * under de_DE "1.5" would stop at the '.', so every conversion here goes
 * through strtod_l with this locale instead. */
#define MEND_PARSE_F64_MAX 512   /* longer text is refused, not truncated */

static locale_t c_numeric;
static pthread_once_t c_numeric_once = PTHREAD_ONCE_INIT;

static void c_numeric_init(void)
{
    c_numeric = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

int mend_parse_f64(const char *s, size_t len, int allow_nonfinite, double *out)
{
    char tmp[MEND_PARSE_F64_MAX + 1];
    if (len == 0 || len > MEND_PARSE_F64_MAX)
        return MEND_EPARSE;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        /* strtod would accept hex floats and leading blanks: refuse both */
        if (c == 'x' || c == 'X' || c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
            c == '\v' || c == '\f')
            return MEND_EPARSE;
    }
    pthread_once(&c_numeric_once, c_numeric_init);
    if (c_numeric == (locale_t)0)
        return MEND_ENOMEM;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    char *end;
    errno = 0;
    double v = strtod_l(tmp, &end, c_numeric);
    if (end != tmp + len)
        return MEND_EPARSE;
    if (!isfinite(v)) {
        if (!allow_nonfinite || (errno == ERANGE && isinf(v)))
            return isnan(v) || isinf(v) ? MEND_ERANGE : MEND_EPARSE;
    }
    *out = v;
    return MEND_OK;
}
