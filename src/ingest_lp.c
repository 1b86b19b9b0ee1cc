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

/* Scan a name up to an unescaped ',' or ' ' (and '=' when stop_eq);
 * returns the end. */
static const char *scan_name(const char *c, const char *end, int stop_eq)
{
    const unsigned char mask = stop_eq ? SEP | EQ : SEP;
    while (c < end) {
        if (!(lp_class[(unsigned char)*c] & mask)) {
            c++;
            continue;
        }
        if (*c != '\\')
            break;
        c += (end - c >= 2) ? 2 : 1;
    }
    return c;
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

/* Parse one field value token (not a string). Returns NULL or a reason. */
static const char *field_value(const struct mend_parser *p, const char *s, size_t n, double *v)
{
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
            while (c < end && *c != ',' && *c != ' ')
                c++;
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
        while (c < end && *c != ' ')
            c++;
        int64_t ts;
        int rc = mend_parse_i64(t, (size_t)(c - t), &ts);
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
