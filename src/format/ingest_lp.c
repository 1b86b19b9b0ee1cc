/* ingest_lp.c -- InfluxDB line protocol, one line at a time.
 *
 *   measurement[,tag=val...] field=val[,field=val...] [timestamp]
 *
 * The whole line is validated before any point is emitted, so a line is
 * either taken whole or rejected whole (as InfluxDB does). Names stay in
 * their escaped form: the canonical key is measurement + tags sorted by key
 * + ' ' + field key, which for the usual already-sorted Telegraf line is
 * simply a copy of the line's prefix. A backslash always takes the next
 * byte with it while scanning, which is how InfluxDB tokenises too.
 *
 * Field values: float (1, -1.5, 1e3), integer 12i, unsigned 12u, boolean
 * (t/T/true/True/TRUE/f/F/false/False/FALSE -> 1/0) and string "..."
 * (skipped, counted). Each numeric field becomes one point. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ingest_internal.h"

/* Byte classes for the name scanner: one table load per byte instead of
 * four compares, which is most of the time spent on a typical line. */
#define SEP 1   /* ',' ' ' and '\\' end (or escape) any name */
#define EQ 2    /* '=' ends tag and field keys and tag values */
static const unsigned char lp_class[256] = {
    [','] = SEP, [' '] = SEP, ['\\'] = SEP, ['='] = EQ,
};

#if defined(__SSE2__)
#include <emmintrin.h>

/* Bit i set when c[i] is ',' or ' ' (or '\\' when want_bs, '=' when
 * want_eq), for the 16 bytes at c. */
static inline unsigned special16(const char *c, int want_bs, int want_eq)
{
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)c);
    __m128i m = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(',')),
                             _mm_cmpeq_epi8(v, _mm_set1_epi8(' ')));
    if (want_bs)
        m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')));
    if (want_eq)
        m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('=')));
    return (unsigned)_mm_movemask_epi8(m);
}
#define HAVE_SPECIAL16 1
#endif

/* First byte at or after c that is ',' or ' ' (or '\\' / '=' as asked);
 * end when there is none. Sixteen bytes at a time while that many remain,
 * which also spares the branch mispredicted at the end of each short token
 * by a byte loop. */
static inline const char *find_special(const char *c, const char *end, int want_bs, int want_eq)
{
#ifdef HAVE_SPECIAL16
    while (end - c >= 16) {
        unsigned bits = special16(c, want_bs, want_eq);
        if (bits)
            return c + __builtin_ctz(bits);
        c += 16;
    }
#endif
    const unsigned char mask = (unsigned char)(SEP | (want_eq ? EQ : 0));
    while (c < end) {
        unsigned char k = lp_class[(unsigned char)*c];
        if ((k & mask) && (want_bs || *c != '\\'))
            return c;
        c++;
    }
    return c;
}

/* Scan a name up to an unescaped ',' or ' ' (and '=' when stop_eq);
 * returns the end. */
static inline const char *scan_name(const char *c, const char *end, int stop_eq)
{
    for (;;) {
        c = find_special(c, end, 1, stop_eq);
        if (c == end || *c != '\\')
            return c;
        c += (end - c >= 2) ? 2 : 1;
    }
}

static int is_bool(const char *s, size_t n, double *v)
{
    switch (n) {
    case 1:
        if (s[0] == 't' || s[0] == 'T') {
            *v = 1;
            return 1;
        }
        if (s[0] == 'f' || s[0] == 'F') {
            *v = 0;
            return 1;
        }
        return 0;
    case 4:
        if (!memcmp(s, "true", 4) || !memcmp(s, "True", 4) || !memcmp(s, "TRUE", 4)) {
            *v = 1;
            return 1;
        }
        return 0;
    case 5:
        if (!memcmp(s, "false", 5) || !memcmp(s, "False", 5) || !memcmp(s, "FALSE", 5)) {
            *v = 0;
            return 1;
        }
        return 0;
    default:
        return 0;
    }
}

static const double pow10_small[16] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
};

/* The usual metric value, [-]digits[.digits] with at most 15 digits in all:
 * the digits form an exact double and so does the power of ten, so one
 * division rounds exactly like strtod (and mend_ingest_number). Returns 0
 * when the token is something else, for the general parser to judge. */
static inline int plain_decimal(const char *s, size_t n, double *v)
{
    size_t i = s[0] == '-';
    uint64_t mant = 0;
    size_t start = i;
    while (i < n && (unsigned)(s[i] - '0') < 10)
        mant = mant * 10 + (unsigned)(s[i++] - '0');
    size_t nint = i - start, nfrac = 0;
    if (i < n && s[i] == '.') {
        size_t f = ++i;
        while (i < n && (unsigned)(s[i] - '0') < 10)
            mant = mant * 10 + (unsigned)(s[i++] - '0');
        nfrac = i - f;
    }
    if (i != n || nint + nfrac == 0 || nint + nfrac > 15)
        return 0;
    double x = (double)mant / pow10_small[nfrac];
    *v = s[0] == '-' ? -x : x;
    return 1;
}

/* Eight ASCII digits at s (little-endian load) as a number, or -1 when
 * they are not all digits. */
static inline int64_t eight_digits(const char *s)
{
    uint64_t v;
    memcpy(&v, s, 8);
    /* every byte 0x30..0x39: high nibble 3, and adding 6 stays below 0x40 */
    if ((v & 0xF0F0F0F0F0F0F0F0u) != 0x3030303030303030u ||
        ((v + 0x0606060606060606u) & 0xF0F0F0F0F0F0F0F0u) != 0x3030303030303030u)
        return -1;
    v -= 0x3030303030303030u;
    v = v * 10 + (v >> 8); /* pairs of digits in the even bytes */
    v = (((v & 0x000000FF000000FFu) * (100 + (1000000ull << 32))) +
         (((v >> 16) & 0x000000FF000000FFu) * (1 + (10000ull << 32)))) >> 32;
    return (int64_t)v;
}

/* The usual timestamp: 1 to 19 digits up to end or a blank, no sign, within
 * int64. Returns the end of the token, or NULL for the general parser. */
static inline const char *plain_timestamp(const char *s, const char *end, int64_t *out)
{
    uint64_t v = 0;
    const char *c = s;
    while (end - c >= 8) {
        int64_t e = eight_digits(c);
        if (e < 0)
            break;
        v = v * 100000000u + (uint64_t)e;
        c += 8;
        if (c - s > 16)
            return NULL; /* 24 digits: far beyond int64 */
    }
    while (c < end && (unsigned)(*c - '0') < 10) {
        v = v * 10 + (unsigned)(*c - '0');
        c++;
    }
    size_t nd = (size_t)(c - s);
    if (nd == 0 || nd > 19 || (c < end && *c != ' ') || v > (uint64_t)INT64_MAX)
        return NULL;
    *out = (int64_t)v;
    return c;
}

/* Parse one field value token (not a string). Returns NULL or a reason. */
static const char *field_value(const struct mend_parser *p, const char *s, size_t n, double *v)
{
    if (plain_decimal(s, n, v))
        return NULL;
    char last = s[n - 1];
    if (last == 'i') {
        int64_t i;
        int rc = mend_parse_i64(s, n - 1, &i);
        if (rc == MEND_ERANGE)
            return "integer field out of range";
        if (rc)
            return "bad integer field value";
        *v = (double)i;
        return NULL;
    }
    if (last == 'u') {
        uint64_t u;
        int rc = mend_parse_u64(s, n - 1, &u);
        if (rc == MEND_ERANGE)
            return "unsigned field out of range";
        if (rc)
            return "bad unsigned field value";
        *v = (double)u;
        return NULL;
    }
    if (is_bool(s, n, v))
        return NULL;
    int rc = mend_ingest_number(s, n, v);
    if (rc == MEND_ERANGE) {
        if (!p->o.keep_nonfinite)
            return "float field out of range";
        *v = s[0] == '-' ? -INFINITY : INFINITY;
        return NULL;
    }
    if (rc)
        return "bad field value";
    return NULL;
}

static int tag_cmp(const struct mend_ingest_tag *a, const struct mend_ingest_tag *b)
{
    size_t n = a->kl < b->kl ? a->kl : b->kl;
    int c = memcmp(a->k, b->k, n);
    if (c)
        return c;
    return a->kl < b->kl ? -1 : a->kl > b->kl;
}

long mend_ingest_sort_tags(struct mend_ingest_tag *t, size_t n, int *was_sorted)
{
    size_t i;
    for (i = 1; i < n; i++) {
        if (tag_cmp(&t[i - 1], &t[i]) >= 0)
            break;
    }
    *was_sorted = i >= n;
    if (i >= n)
        return -1;   /* the common case: already sorted, no duplicates */
    /* Insertion sort: n is capped (max_tags) and usually tiny. */
    for (i = 1; i < n; i++) {
        struct mend_ingest_tag x = t[i];
        size_t j = i;
        while (j > 0 && tag_cmp(&t[j - 1], &x) > 0) {
            t[j] = t[j - 1];
            j--;
        }
        t[j] = x;
    }
    for (i = 1; i < n; i++) {
        if (tag_cmp(&t[i - 1], &t[i]) == 0)
            return t[i - 1].col > t[i].col ? (long)(i - 1) : (long)i;
    }
    return -1;
}

#define FAIL(col_, why_)                                   \
    do {                                                   \
        mend_ingest_error(p, sink, (size_t)(col_), (why_)); \
        return MEND_OK;                                    \
    } while (0)

int mend_ingest_lp_line(struct mend_parser *p, const char *s, size_t n,
                        const struct mend_sink *sink)
{
    const char *end = s + n, *c = s;
    while (c < end && (*c == ' ' || *c == '\t'))
        c++;
    if (c == end)
        return MEND_OK;   /* blank line */
    if (*c == '#') {
        p->st.comments++;
        return MEND_OK;
    }
#define COL(ptr) ((ptr) - s + 1)

    /* measurement */
    const char *m = c;
    c = scan_name(c, end, 0);
    if (c == m)
        FAIL(COL(m), "missing measurement");
    const char *m_end = c;
    const char *ent = NULL;
    size_t ent_len = 0, ntags = 0;
    const char *etag = p->o.entity_tag;
    size_t etag_len = etag ? strlen(etag) : 0;

    /* tag set */
    while (c < end && *c == ',') {
        c++;
        const char *k = c;
        c = scan_name(c, end, 1);
        if (c == k)
            FAIL(COL(k), "empty tag key");
        if (c == end || *c != '=')
            FAIL(COL(c), "tag without '='");
        const char *v = ++c;
        c = scan_name(c, end, 1);
        if (c == v)
            FAIL(COL(v), "empty tag value");
        if (c < end && *c == '=')
            FAIL(COL(c), "unescaped '=' in tag value");
        if (ntags >= p->o.max_tags)
            FAIL(COL(k), "too many tags (max_tags)");
        struct mend_ingest_tag *t = &p->tags[ntags++];
        t->k = k;
        t->kl = (size_t)(v - 1 - k);
        t->v = v;
        t->vl = (size_t)(c - v);
        t->col = (uint32_t)COL(k);
        if (etag && t->kl == etag_len && !memcmp(k, etag, etag_len)) {
            ent = v;
            ent_len = t->vl;
        }
    }
    const char *prefix_end = c;
    if (c == end)
        FAIL(COL(c), "missing field set");
    if (*c != ' ')
        FAIL(COL(c), "unexpected character after measurement/tags");
    while (c < end && *c == ' ')
        c++;
    if (c == end)
        FAIL(COL(c), "missing field set");

    /* field set */
    size_t nfields = 0, nstrings = 0, max_fkl = 0;
    const char *max_fk = c;
    for (;;) {
        const char *k = c;
        c = scan_name(c, end, 1);
        if (c == k)
            FAIL(COL(k), "empty field key");
        if (c == end || *c != '=')
            FAIL(COL(c), "field without '='");
        const char *v = ++c;
        if (c < end && *c == '"') {
            c++;
            while (c < end && *c != '"')
                c += (*c == '\\' && end - c >= 2) ? 2 : 1;
            if (c >= end)
                FAIL(COL(v), "unterminated string field");
            c++;
            nstrings++;
        } else {
            c = find_special(c, end, 0, 0);
            if (c == v)
                FAIL(COL(v), "missing field value");
            if (nfields >= MEND_INGEST_MAX_FIELDS)
                FAIL(COL(k), "too many fields on one line");
            struct mend_ingest_field *f = &p->fields[nfields];
            const char *why = field_value(p, v, (size_t)(c - v), &f->v);
            if (why)
                FAIL(COL(v), why);
            f->k = k;
            f->kl = (size_t)(v - 1 - k);
            if (f->kl > max_fkl) {
                max_fkl = f->kl;
                max_fk = k;
            }
            nfields++;
        }
        if (c == end || *c == ' ')
            break;
        if (*c != ',')
            FAIL(COL(c), "expected ',' or ' ' after field value");
        c++;
    }

    /* timestamp */
    struct mend_point pt;
    pt.has_time = 0;
    pt.time_ns = 0;
    while (c < end && *c == ' ')
        c++;
    if (c < end) {
        const char *t = c;
        int64_t ts;
        int rc;
        c = plain_timestamp(t, end, &ts);
        if (c) {
            rc = MEND_OK;
        } else {
            c = t;
            while (c < end && *c != ' ')
                c++;
            rc = mend_parse_i64(t, (size_t)(c - t), &ts);
        }
        if (rc == MEND_ERANGE)
            FAIL(COL(t), "timestamp out of range");
        if (rc)
            FAIL(COL(t), "bad timestamp");
        int64_t prec = p->o.precision_ns;
        if (prec != 1) {
            if (ts > INT64_MAX / prec || ts < INT64_MIN / prec)
                FAIL(COL(t), "timestamp overflows int64 nanoseconds");
            ts *= prec;
        }
        while (c < end && *c == ' ')
            c++;
        if (c < end)
            FAIL(COL(c), "unexpected text after timestamp");
        pt.time_ns = ts;
        pt.has_time = 1;
    }

    /* canonical key prefix: measurement + sorted tags */
    int was_sorted;
    long dup = mend_ingest_sort_tags(p->tags, ntags, &was_sorted);
    if (dup >= 0)
        FAIL(p->tags[dup].col, "duplicate tag key");
    size_t klen = (size_t)(prefix_end - m);
    if (nfields && klen + 1 + max_fkl > p->o.max_key)
        FAIL(klen > p->o.max_key ? 1 : COL(max_fk), "series key longer than max_key");
    p->st.strings_skipped += nstrings;
    if (!nfields)
        return MEND_OK;   /* only string fields: nothing to score */
    if (was_sorted) {
        /* the line's own prefix already is the canonical form */
        memcpy(p->key, m, klen);
    } else {
        klen = (size_t)(m_end - m);
        memcpy(p->key, m, klen);
        for (size_t i = 0; i < ntags; i++) {
            const struct mend_ingest_tag *t = &p->tags[i];
            p->key[klen++] = ',';
            memcpy(p->key + klen, t->k, t->kl);
            klen += t->kl;
            p->key[klen++] = '=';
            memcpy(p->key + klen, t->v, t->vl);
            klen += t->vl;
        }
    }
    pt.key = p->key;
    pt.entity = ent;
    pt.entity_len = ent ? ent_len : 0;
    for (size_t i = 0; i < nfields; i++) {
        const struct mend_ingest_field *f = &p->fields[i];
        p->key[klen] = ' ';
        memcpy(p->key + klen + 1, f->k, f->kl);
        pt.key_len = klen + 1 + f->kl;
        pt.value = f->v;
        int rc = mend_ingest_emit(p, sink, &pt);
        if (rc < 0)
            return rc;
    }
    return MEND_OK;
#undef COL
}
