/* ingest_lp.c -- InfluxDB line protocol, the "lp" format plug-in: one
 * record (a line, or more when a string field holds an LF) at a time.
 *
 *   measurement[,tag=val...] field=val[,field=val...] [timestamp]
 *
 * The whole line is validated before any point is emitted, so a line is
 * either taken whole or rejected whole (as InfluxDB does). Names stay in
 * their escaped form: the canonical key is measurement + tags sorted by key
 * + ' ' + field key, which for the usual already-sorted Telegraf line is
 * simply a copy of the line's prefix.
 *
 * Escapes follow InfluxDB's own tokeniser, which differs by section: in the
 * measurement, tag keys and tag values a separator (',' ' ', and '=' in
 * tags) is escaped when the byte just before it is a backslash, so
 * `regions=\\ east` is one value, a literal backslash and an escaped space;
 * in field keys a backslash takes the next byte with it.
 *
 * Names (measurement, tag keys and values, field keys) must be valid UTF-8
 * without control characters; both reference parsers refuse the rest.
 *
 * Field values: float (1, -1.5, 1e3), integer 12i, unsigned 12u (leading
 * zeros allowed), boolean (t/T/true/True/TRUE/f/F/false/False/FALSE -> 1/0)
 * and string "..." (skipped, counted; it may hold an LF, see record_open).
 * NaN and Inf are not line protocol; with keep_nonfinite they are read
 * ("nan", "inf", "+inf", "-inf", "infinity", any case) and a float that
 * overflows becomes +-Inf, else both are line errors. Each numeric field
 * becomes one point. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ingest_internal.h"

struct mend_ingest_field {
    const char *k;
    size_t kl;
    double v;
};

/* One parser's LP state: scratch sized from the caps at init. */
struct lp_state {
    char *key;                        /* canonical key, max_key + 1 bytes */
    struct mend_ingest_tag *tags;     /* max_tags (+1 spare) */
    struct mend_ingest_field *fields; /* MEND_INGEST_MAX_FIELDS */
    struct mend_ingest_etags et;      /* entity tags, in order of preference */
};

/* Byte classes for the name scanner: one table load per byte instead of
 * four compares, which is most of the time spent on a typical line. NP
 * marks bytes outside printable ASCII: the scanners OR it into a sticky
 * flag as they go, so the name check below costs nothing on the usual
 * all-ASCII line. */
#define SEP 1   /* ',' ' ' and '\\' end (or escape) any name */
#define EQ 2    /* '=' ends tag and field keys and tag values */
#define NP 4    /* control byte, DEL or non-ASCII: names need the full check */
#define NP8 NP, NP, NP, NP, NP, NP, NP, NP
#define NP32 NP8, NP8, NP8, NP8
static const unsigned char lp_class[256] = {
    NP32, [','] = SEP, [' '] = SEP, ['\\'] = SEP, ['='] = EQ, [0x7F] = NP,
    [0x80] = NP32, NP32, NP32, NP32,
};

#if defined(__SSE2__)
#include <emmintrin.h>
#define HAVE_SPECIAL16 1
#endif

/* Sticky "some name byte may be outside printable ASCII": a vector OR-ed
 * across the 16-byte blocks (two instructions a block, no branch) and a
 * scalar for the bytes looked at one by one. */
struct np_acc {
#ifdef HAVE_SPECIAL16
    __m128i v;
#endif
    unsigned s;
};

static inline void np_init(struct np_acc *a)
{
#ifdef HAVE_SPECIAL16
    a->v = _mm_setzero_si128();
#endif
    a->s = 0;
}

static inline int np_any(const struct np_acc *a)
{
#ifdef HAVE_SPECIAL16
    if (_mm_movemask_epi8(a->v))
        return 1;
#endif
    return (a->s & NP) != 0;
}

#ifdef HAVE_SPECIAL16
/* Bit i set when c[i] is ',' or ' ' (or '\\' when want_bs, '=' when
 * want_eq), for the 16 bytes at c. Bytes outside 0x20..0x7E are noted in
 * a: adding 1 maps exactly them (and only them) below 0x21 as signed. */
static inline unsigned special16(const char *c, int want_bs, int want_eq, struct np_acc *a)
{
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)c);
    __m128i m = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(',')),
                             _mm_cmpeq_epi8(v, _mm_set1_epi8(' ')));
    if (want_bs)
        m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')));
    if (want_eq)
        m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('=')));
    a->v = _mm_or_si128(a->v, _mm_cmplt_epi8(_mm_add_epi8(v, _mm_set1_epi8(1)),
                                             _mm_set1_epi8(0x21)));
    return (unsigned)_mm_movemask_epi8(m);
}
#endif

/* First byte at or after c that is ',' or ' ' (or '\\' / '=' as asked);
 * end when there is none. Sixteen bytes at a time while that many remain,
 * which also spares the branch mispredicted at the end of each short token
 * by a byte loop. Bytes looked at (possibly a few past the result) are
 * noted in a when they are not printable ASCII. */
static inline const char *find_special(const char *c, const char *end, int want_bs, int want_eq,
                                       struct np_acc *a)
{
#ifdef HAVE_SPECIAL16
    while (end - c >= 16) {
        unsigned bits = special16(c, want_bs, want_eq, a);
        if (bits)
            return c + __builtin_ctz(bits);
        c += 16;
    }
#endif
    const unsigned char mask = (unsigned char)(SEP | (want_eq ? EQ : 0));
    while (c < end) {
        unsigned char k = lp_class[(unsigned char)*c];
        a->s |= k;
        if ((k & mask) && (want_bs || *c != '\\'))
            return c;
        c++;
    }
    return c;
}

/* Measurement, tag key or tag value: up to a ',' or ' ' (and '=' when
 * stop_eq) whose previous byte is not a backslash; returns the end.
 * start[-1] must be readable and not a backslash (the ',' or '=' before a
 * tag token; the measurement is scanned from its second byte). */
static inline const char *scan_tagish(const char *start, const char *end, int stop_eq,
                                      struct np_acc *a)
{
    const char *c = start;
    for (;;) {
        c = find_special(c, end, 0, stop_eq, a);
        if (c == end || c[-1] != '\\')
            return c;
        c++;
    }
}

/* Field key: up to an unescaped ',' ' ' or '='; a backslash takes the next
 * byte with it. */
static inline const char *scan_field_key(const char *c, const char *end, struct np_acc *a)
{
    for (;;) {
        c = find_special(c, end, 1, 1, a);
        if (c == end || *c != '\\')
            return c;
        if (end - c >= 2) {
            a->s |= lp_class[(unsigned char)c[1]];   /* the escaped byte is part of the name */
            c += 2;
        } else {
            c++;
        }
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

/* NaN/Inf spelled out, as Prometheus and CSV accept them. */
static int nonfinite_word(const char *s, size_t n, double *v)
{
    int neg = 0;
    if (n && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        s++;
        n--;
    }
    if (n == 3 && !strncasecmp(s, "nan", 3)) {
        *v = NAN;
        return 1;
    }
    if ((n == 3 && !strncasecmp(s, "inf", 3)) || (n == 8 && !strncasecmp(s, "infinity", 8))) {
        *v = neg ? -INFINITY : INFINITY;
        return 1;
    }
    return 0;
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
    if (rc && nonfinite_word(s, n, v))
        return p->o.keep_nonfinite ? NULL : "non-finite field value (NaN/Inf) rejected";
    if (rc)
        return "bad field value";
    return NULL;
}

/* Tag keys are short and usually differ in their first byte: a byte loop
 * beats a call to memcmp here, which showed in the profile. */
static int tag_cmp(const struct mend_ingest_tag *a, const struct mend_ingest_tag *b)
{
    size_t n = a->kl < b->kl ? a->kl : b->kl;
    for (size_t i = 0; i < n; i++) {
        if (a->k[i] != b->k[i])
            return (unsigned char)a->k[i] < (unsigned char)b->k[i] ? -1 : 1;
    }
    return a->kl < b->kl ? -1 : a->kl > b->kl;
}

/* memcpy for the few bytes of a field key, inline: two overlapping words
 * for up to 16 bytes (a call per point showed in the profile). */
static inline void copy_short(char *dst, const char *src, size_t n)
{
    if (n >= 8 && n <= 16) {
        uint64_t a, b;
        memcpy(&a, src, 8);
        memcpy(&b, src + n - 8, 8);
        memcpy(dst, &a, 8);
        memcpy(dst + n - 8, &b, 8);
    } else if (n >= 4 && n < 8) {
        uint32_t a, b;
        memcpy(&a, src, 4);
        memcpy(&b, src + n - 4, 4);
        memcpy(dst, &a, 4);
        memcpy(dst + n - 4, &b, 4);
    } else if (n < 4) {
        for (size_t i = 0; i < n; i++)
            dst[i] = src[i];
    } else {
        memcpy(dst, src, n);
    }
}

static inline int bytes_eq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
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

/* A line error, unless the line is the start of a record that goes on past
 * its LF (an open string field): then the framer is asked for the rest.
 * Checked on the error path only, so good lines never pay for it. */
#define FAIL(col_, why_)                                              \
    do {                                                              \
        if (p->may_continue && memchr(s, '"', n) &&                   \
            lp_open_from_start(s, n))                                 \
            return MEND_EAGAIN;                                       \
        mend_format_error(p, sink, (size_t)(col_), (why_));           \
        return MEND_OK;                                               \
    } while (0)

/* record_open's modes: where in the record the scan stands. */
enum { LP_KEY = 0, LP_FKEY, LP_FVAL, LP_STR, LP_DONE };

/* The resumable record scan (format.h): tokenises like lp_line (escapes
 * per section, strings only as field values) and says whether the text
 * ends inside a string field. Comment lines and the measurement/tag part
 * never hold a string, so a quote there is an ordinary byte. */
static int lp_record_open(const char *s, size_t n, size_t *pos, unsigned *mode)
{
    size_t i = *pos;
    unsigned m = *mode;
    if (m == LP_KEY && i == 0) {
        while (i < n && (s[i] == ' ' || s[i] == '\t'))
            i++;
        if (i < n && s[i] == '#')
            m = LP_DONE;
    }
    while (i < n && m != LP_DONE) {
        char c = s[i];
        switch (m) {
        case LP_KEY:   /* measurement and tags: separators escaped by the byte before */
            if (c == ' ' && !(i > 0 && s[i - 1] == '\\')) {
                while (i < n && s[i] == ' ')
                    i++;
                m = LP_FKEY;
                continue;
            }
            i++;
            break;
        case LP_FKEY:
            if (c == '\\') {
                i += 2;
            } else if (c == '=') {
                i++;
                if (i < n && s[i] == '"') {
                    i++;
                    m = LP_STR;
                } else {
                    m = LP_FVAL;
                }
            } else if (c == ' ') {
                m = LP_DONE;
            } else {
                i++;
            }
            break;
        case LP_FVAL:
            if (c == ',') {
                i++;
                m = LP_FKEY;
            } else if (c == ' ') {
                m = LP_DONE;
            } else {
                i++;
            }
            break;
        case LP_STR:
            if (c == '\\') {
                i += 2;
            } else if (c == '"') {
                i++;
                m = LP_FVAL;   /* then ',' or ' ' or an error for lp_line */
            } else {
                i++;
            }
            break;
        }
    }
    *pos = i > n ? n : i;
    *mode = m;
    return m == LP_STR;
}

static int lp_open_from_start(const char *s, size_t n)
{
    size_t pos = 0;
    unsigned mode = 0;
    return lp_record_open(s, n, &pos, &mode);
}

static int lp_line(struct mend_parser *p, void *state, const char *s, size_t n,
                   const struct mend_sink *sink)
{
    struct lp_state *ls = state;
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
    struct np_acc np;
    np_init(&np);
    const char *m = c;
    if (*m == ',')
        FAIL(COL(m), "missing measurement");
    c = scan_tagish(c + 1, end, 0, &np);
    np.s |= lp_class[(unsigned char)*m];
    const char *m_end = c;
    const char *ent = NULL;
    size_t ent_len = 0, ntags = 0;
    int ent_rank = INT32_MAX;
    /* tag keys whose first bytes rise strictly are sorted without
     * duplicates (tag_cmp orders by unsigned bytes): the usual line skips
     * mend_ingest_sort_tags */
    int first_rise = 1;
    unsigned prev_first = 0;

    /* tag set */
    while (c < end && *c == ',') {
        c++;
        const char *k = c;
        c = scan_tagish(c, end, 1, &np);
        if (c == k)
            FAIL(COL(k), "empty tag key");
        if (c == end || *c != '=')
            FAIL(COL(c), "tag without '='");
        const char *v = ++c;
        c = scan_tagish(c, end, 1, &np);
        if (c == v)
            FAIL(COL(v), "empty tag value");
        if (c < end && *c == '=')
            FAIL(COL(c), "unescaped '=' in tag value");
        if (ntags >= p->o.max_tags)
            FAIL(COL(k), "too many tags (max_tags)");
        struct mend_ingest_tag *t = &ls->tags[ntags++];
        first_rise &= (unsigned char)*k > prev_first || ntags == 1;
        prev_first = (unsigned char)*k;
        t->k = k;
        t->kl = (size_t)(v - 1 - k);
        t->v = v;
        t->vl = (size_t)(c - v);
        t->col = (uint32_t)COL(k);
        if (ls->et.count && ent_rank) { /* rank 0 found: no later tag can beat it */
            int r = mend_ingest_etag_rank(&ls->et, k, t->kl);
            if (r >= 0 && r < ent_rank) {
                ent_rank = r;
                ent = v;
                ent_len = t->vl;
            }
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
        c = scan_field_key(c, end, &np);
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
            c = find_special(c, end, 0, 0, &np);
            if (c == v)
                FAIL(COL(v), "missing field value");
            if (nfields >= MEND_INGEST_MAX_FIELDS)
                FAIL(COL(k), "too many fields on one line");
            struct mend_ingest_field *f = &ls->fields[nfields];
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
    const char *fields_end = c;

    /* timestamp */
    struct mend_point pt;
    pt.kind = MEND_POINT_GAUGE; /* LP says nothing: counters.patterns decide (engine) */
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
        if (!mend_ingest_time_ok(ts))
            FAIL(COL(t), "timestamp outside years 1678..2261");
        while (c < end && *c == ' ')
            c++;
        if (c < end)
            FAIL(COL(c), "unexpected text after timestamp");
        pt.time_ns = ts;
        pt.has_time = 1;
    }

    /* Names must be UTF-8 without control characters. The scanners saw
     * nothing outside printable ASCII on the usual line; only otherwise are
     * the names checked one by one (string values may hold anything). */
    if (np_any(&np)) {
        size_t bad;
        if (!mend_format_name_ok(m, (size_t)(prefix_end - m), &bad))
            FAIL((size_t)COL(m) + bad, "control character or invalid UTF-8 in measurement or tag");
        for (size_t i = 0; i < nfields; i++) {
            const struct mend_ingest_field *f = &ls->fields[i];
            if (!mend_format_name_ok(f->k, f->kl, &bad))
                FAIL((size_t)COL(f->k) + bad, "control character or invalid UTF-8 in field key");
        }
        /* keys of string fields are names too: rescan the field set */
        const char *q = prefix_end;
        while (q < fields_end && *q == ' ')
            q++;
        while (q < fields_end) {
            const char *k = q;
            q = scan_field_key(q, fields_end, &np);
            if (!mend_format_name_ok(k, (size_t)(q - k), &bad))
                FAIL((size_t)COL(k) + bad, "control character or invalid UTF-8 in field key");
            if (q < fields_end)
                q++;   /* '=' */
            if (q < fields_end && *q == '"') {
                q++;
                while (q < fields_end && *q != '"')
                    q += (*q == '\\' && fields_end - q >= 2) ? 2 : 1;
                q++;
            } else {
                q = find_special(q, fields_end, 0, 0, &np);
            }
            if (q < fields_end)
                q++;   /* ',' */
        }
    }

    /* canonical key prefix: measurement + sorted tags */
    int was_sorted = 1;
    long dup = first_rise ? -1 : mend_ingest_sort_tags(ls->tags, ntags, &was_sorted);
    if (dup >= 0)
        FAIL(ls->tags[dup].col, "duplicate tag key");
    size_t klen = (size_t)(prefix_end - m);
    if (nfields && klen + 1 + max_fkl > p->o.max_key)
        FAIL(klen > p->o.max_key ? 1 : COL(max_fk), "series key longer than max_key");
    p->st.strings_skipped += nstrings;
    if (!nfields)
        return MEND_OK;   /* only string fields: nothing to score */
    char *key = ls->key;
    if (was_sorted) {
        /* the line's own prefix already is the canonical form */
        memcpy(key, m, klen);
    } else {
        klen = (size_t)(m_end - m);
        memcpy(key, m, klen);
        for (size_t i = 0; i < ntags; i++) {
            const struct mend_ingest_tag *t = &ls->tags[i];
            key[klen++] = ',';
            memcpy(key + klen, t->k, t->kl);
            klen += t->kl;
            key[klen++] = '=';
            memcpy(key + klen, t->v, t->vl);
            klen += t->vl;
        }
    }
    pt.key = key;
    pt.entity = ent;
    pt.entity_len = ent ? ent_len : 0;
    for (size_t i = 0; i < nfields; i++) {
        const struct mend_ingest_field *f = &ls->fields[i];
        key[klen] = ' ';
        copy_short(key + klen + 1, f->k, f->kl);
        pt.key_len = klen + 1 + f->kl;
        pt.value = f->v;
        int rc = mend_ingest_emit(p, sink, &pt);
        if (rc < 0)
            return rc;
    }
    return MEND_OK;
#undef COL
}

static int lp_init(struct mend_parser *p, const struct mend_ingest_opts *o, void **state)
{
    (void)p;
    struct lp_state *ls = calloc(1, sizeof *ls);
    if (!ls)
        return MEND_ENOMEM;
    ls->key = malloc(o->max_key + 1);
    ls->tags = malloc((o->max_tags + 1) * sizeof *ls->tags);
    ls->fields = malloc(MEND_INGEST_MAX_FIELDS * sizeof *ls->fields);
    mend_ingest_etags_init(&ls->et, o->entity_tag);
    if (!ls->key || !ls->tags || !ls->fields) {
        free(ls->key);
        free(ls->tags);
        free(ls->fields);
        free(ls);
        return MEND_ENOMEM;
    }
    *state = ls;
    return MEND_OK;
}

static void lp_fini(void *state)
{
    struct lp_state *ls = state;
    if (!ls)
        return;
    free(ls->key);
    free(ls->tags);
    free(ls->fields);
    free(ls);
}

/* Line protocol has "key=" after the first unescaped space. */
static int lp_guess(const char *head, size_t len)
{
    const char *s;
    size_t n;
    if (!mend_ingest_first_line(head, len, &s, &n))
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\') {
            i++;
            continue;
        }
        if (s[i] == ' ')
            return memchr(s + i, '=', n - i) != NULL;
    }
    return 0;
}

static const char *const lp_aliases[] = {"line", "influx", NULL};
static const char *const lp_exts[] = {"lp", "line", "influx", NULL};

const struct mend_format_ops mend_format_lp = {
    .name = "lp",
    .aliases = lp_aliases,
    .exts = lp_exts,
    .init = lp_init,
    .line = lp_line,
    .flush = NULL,
    .guess = lp_guess,
    .record_open = lp_record_open,
    .fini = lp_fini,
};
