/* ingest_prom.c -- Prometheus text exposition format 0.0.4, the "prom"
 * format plug-in, one line at a time.
 *
 *   metric_name[{label="value",...}] value [timestamp_ms]
 *
 * "# HELP", "# TYPE" and any other '#' line are comments (counted). Label
 * values are unescaped (\\ \" \n) into a parser-owned buffer, sorted by
 * label name and written into the key with line-protocol tag escaping, so a
 * Prometheus key reads like an LP key without a field part:
 * "http_requests_total,code=200,method=post". A label with an empty value
 * is the same as no label in Prometheus, so it is left out of the key.
 * Histogram and summary series (_bucket{le=...}, _sum, _count) are ordinary
 * series here.
 *
 * Kinds. "# TYPE name counter|gauge|histogram|summary|untyped" names the
 * family the following samples belong to, and each sample carries its kind
 * to the engine (mend_point.kind), which turns counters into rates: a
 * counter's `name` and `name_total` (OpenMetrics family names), a
 * histogram's `_bucket`, `_sum` and `_count`, and a summary's `_sum` and
 * `_count` are counters; a summary's quantiles and everything typed gauge
 * or untyped are gauges. A sample of no declared family whose name ends in
 * `_total` is a counter (the naming convention). Only the last TYPE line is
 * remembered (families are contiguous in the format).
 *
 * As in Prometheus's text parser, `__name__` is a reserved label name, not
 * an ordinary label: a line that sets it is refused. Label values must be
 * valid UTF-8 and hold no raw control character (the `\n` escape is the
 * way to write a newline). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ingest_internal.h"

/* One parser's Prometheus state: scratch sized from the caps at init. */
struct prom_state {
    char *key;                     /* canonical key, max_key + 1 bytes */
    struct mend_ingest_tag *tags;  /* max_tags (+1 spare) */
    char *ubuf;                    /* unescaped label values, max_line + 1 bytes */
    struct mend_ingest_etags et;
    char *fam;                     /* family of the last "# TYPE" line, max_key + 1 bytes */
    size_t fam_len;
    int fam_type;                  /* enum fam_type */
};

enum fam_type { FAM_UNTYPED, FAM_COUNTER, FAM_GAUGE, FAM_HISTOGRAM, FAM_SUMMARY };

static int ends_with(const char *s, size_t n, const char *suf)
{
    size_t l = strlen(suf);
    return n >= l && !memcmp(s + n - l, suf, l);
}

/* "# TYPE name type": remember the family; anything else is a comment. */
static void prom_comment(struct prom_state *ps, size_t max_key, const char *c, const char *end)
{
    c++;
    while (c < end && (*c == ' ' || *c == '\t'))
        c++;
    if (end - c < 5 || memcmp(c, "TYPE", 4) || (c[4] != ' ' && c[4] != '\t'))
        return;
    c += 4;
    while (c < end && (*c == ' ' || *c == '\t'))
        c++;
    const char *name = c;
    while (c < end && *c != ' ' && *c != '\t')
        c++;
    size_t nl = (size_t)(c - name);
    while (c < end && (*c == ' ' || *c == '\t'))
        c++;
    const char *ty = c;
    while (c < end && *c != ' ' && *c != '\t')
        c++;
    size_t tl = (size_t)(c - ty);
    static const struct { const char *n; int t; } types[] = {
        {"counter", FAM_COUNTER}, {"gauge", FAM_GAUGE}, {"histogram", FAM_HISTOGRAM},
        {"summary", FAM_SUMMARY}, {"untyped", FAM_UNTYPED}, {"unknown", FAM_UNTYPED}};
    ps->fam_len = 0;
    if (!nl || nl > max_key)
        return;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (tl == strlen(types[i].n) && !memcmp(ty, types[i].n, tl)) {
            memcpy(ps->fam, name, nl);
            ps->fam_len = nl;
            ps->fam_type = types[i].t;
        }
}

/* The kind of sample `name` given the last TYPE line (see the top). */
static int sample_kind(const struct prom_state *ps, const char *name, size_t n)
{
    if (ps->fam_len && n >= ps->fam_len && !memcmp(name, ps->fam, ps->fam_len)) {
        const char *suf = name + ps->fam_len;
        size_t sl = n - ps->fam_len;
#define IS(lit) (sl == sizeof lit - 1 && !memcmp(suf, lit, sl))
        switch (ps->fam_type) {
        case FAM_COUNTER:
            if (IS("") || IS("_total"))
                return MEND_POINT_COUNTER;
            break;
        case FAM_HISTOGRAM:
            if (IS("_bucket") || IS("_sum") || IS("_count"))
                return MEND_POINT_COUNTER;
            break;
        case FAM_SUMMARY:
            if (IS("_sum") || IS("_count"))
                return MEND_POINT_COUNTER;
            if (IS(""))
                return MEND_POINT_GAUGE;
            break;
        default:
            if (IS(""))
                return MEND_POINT_GAUGE; /* declared gauge or untyped: as declared */
        }
#undef IS
    }
    return ends_with(name, n, "_total") ? MEND_POINT_COUNTER : MEND_POINT_GAUGE;
}

#define FAIL(col_, why_)                                    \
    do {                                                    \
        mend_format_error(p, sink, (size_t)(col_), (why_)); \
        return MEND_OK;                                     \
    } while (0)

static int name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}

static int name_char(char c)
{
    return name_start(c) || (c >= '0' && c <= '9');
}

static const char *skip_blank(const char *c, const char *end)
{
    while (c < end && (*c == ' ' || *c == '\t'))
        c++;
    return c;
}

/* Appends v with LP tag escaping; returns the new length or SIZE_MAX when
 * the key would pass cap. */
static size_t put_escaped(char *key, size_t klen, size_t cap, const char *v, size_t vl)
{
    for (size_t i = 0; i < vl; i++) {
        char ch = v[i];
        if (ch == ',' || ch == '=' || ch == ' ') {
            if (klen + 2 > cap)
                return SIZE_MAX;
            key[klen++] = '\\';
        } else if (klen + 1 > cap) {
            return SIZE_MAX;
        }
        key[klen++] = ch;
    }
    return klen;
}

static int prom_line(struct mend_parser *p, void *state, const char *s, size_t n,
                     const struct mend_sink *sink)
{
    struct prom_state *ps = state;
    const char *end = s + n, *c = skip_blank(s, s + n);
    if (c == end)
        return MEND_OK;
    if (*c == '#') {
        p->st.comments++;
        prom_comment(ps, p->o.max_key, c, end);
        return MEND_OK;
    }
#define COL(ptr) ((ptr) - s + 1)
    const char *name = c;
    if (!name_start(*c))
        FAIL(COL(c), "bad metric name");
    while (c < end && name_char(*c))
        c++;
    size_t name_len = (size_t)(c - name);
    const char *after_name = c;
    c = skip_blank(c, end);

    size_t nl = 0, uoff = 0;
    const char *ent = NULL;
    size_t ent_len = 0;
    int ent_rank = INT32_MAX;
    if (c < end && *c == '{') {
        c++;
        for (;;) {
            c = skip_blank(c, end);
            if (c < end && *c == '}')
                break;
            const char *ln = c;
            if (c == end || !(name_start(*c) && *c != ':'))
                FAIL(COL(c), "bad label name");
            while (c < end && name_char(*c) && *c != ':')
                c++;
            size_t ln_len = (size_t)(c - ln);
            if (ln_len == 8 && !memcmp(ln, "__name__", 8))
                FAIL(COL(ln), "label name __name__ is reserved");
            c = skip_blank(c, end);
            if (c == end || *c != '=')
                FAIL(COL(c), "expected '=' after label name");
            c = skip_blank(c + 1, end);
            if (c == end || *c != '"')
                FAIL(COL(c), "expected '\"' to open label value");
            c++;
            const char *vstart = c;
            char *u = ps->ubuf + uoff;
            size_t ul = 0;
            for (;;) {
                if (c == end)
                    FAIL(COL(ln), "unterminated label value");
                char ch = *c;
                if (ch == '"')
                    break;
                if (ch == '\\') {
                    if (c + 1 == end)
                        FAIL(COL(c), "unterminated label value");
                    char e = c[1];
                    if (e == '\\' || e == '"')
                        u[ul++] = e;
                    else if (e == 'n')
                        u[ul++] = '\n';
                    else
                        FAIL(COL(c), "bad escape in label value (\\\\ \\\" \\n only)");
                    c += 2;
                    continue;
                }
                if ((unsigned char)ch < 0x20 || ch == 0x7F)
                    FAIL(COL(c), "control character in label value");
                u[ul++] = ch;
                c++;
            }
            /* raw control bytes are refused above and escapes are ASCII,
             * so checking the raw text finds exactly the bad UTF-8, at
             * its own column */
            size_t bad;
            if (!mend_format_name_ok(vstart, (size_t)(c - vstart), &bad))
                FAIL((size_t)COL(vstart) + bad, "invalid UTF-8 in label value");
            c++;   /* closing quote */
            if (ul) {
                if (nl >= p->o.max_tags)
                    FAIL(COL(ln), "too many labels (max_tags)");
                struct mend_ingest_tag *t = &ps->tags[nl++];
                t->k = ln;
                t->kl = ln_len;
                t->v = u;
                t->vl = ul;
                t->col = (uint32_t)COL(ln);
                uoff += ul;
                int r = ps->et.count ? mend_ingest_etag_rank(&ps->et, ln, ln_len) : -1;
                if (r >= 0 && r < ent_rank) {
                    ent_rank = r;
                    ent = u;
                    ent_len = ul;
                }
            }
            c = skip_blank(c, end);
            if (c < end && *c == ',') {
                c++;
                continue;
            }
            if (c < end && *c == '}')
                break;
            FAIL(COL(c), "expected ',' or '}' in label set");
        }
        c = skip_blank(c + 1, end);
    } else if (c == after_name && c < end) {
        FAIL(COL(c), "bad character in metric name");
    }

    /* value */
    const char *v = c;
    while (c < end && *c != ' ' && *c != '\t')
        c++;
    size_t vl = (size_t)(c - v);
    if (!vl)
        FAIL(COL(v), "missing sample value");
    struct mend_point pt;
    pt.kind = sample_kind(ps, name, name_len);
    int nonfinite = 1;
    if (vl == 3 && !strncasecmp(v, "nan", 3))
        pt.value = NAN;
    else if ((vl == 4 && (!strncasecmp(v, "+inf", 4))) || (vl == 3 && !strncasecmp(v, "inf", 3)))
        pt.value = INFINITY;
    else if (vl == 4 && !strncasecmp(v, "-inf", 4))
        pt.value = -INFINITY;
    else {
        nonfinite = 0;
        int rc = mend_ingest_number(v, vl, &pt.value);
        if (rc == MEND_ERANGE)
            FAIL(COL(v), "sample value out of range");
        if (rc)
            FAIL(COL(v), "bad sample value");
    }
    if (nonfinite && !p->o.keep_nonfinite)
        FAIL(COL(v), "non-finite sample value (NaN/Inf) rejected");

    /* optional timestamp in ms */
    c = skip_blank(c, end);
    pt.has_time = p->has_default_time;
    pt.time_ns = p->has_default_time ? p->default_time : 0;
    if (c < end) {
        const char *t = c;
        while (c < end && *c != ' ' && *c != '\t')
            c++;
        int64_t ms;
        int rc = mend_parse_i64(t, (size_t)(c - t), &ms);
        if (rc == MEND_ERANGE)
            FAIL(COL(t), "timestamp out of range");
        if (rc)
            FAIL(COL(t), "bad timestamp");
        if (ms > INT64_MAX / 1000000 || ms < INT64_MIN / 1000000)
            FAIL(COL(t), "timestamp overflows int64 nanoseconds");
        if (!mend_ingest_time_ok(ms * 1000000))
            FAIL(COL(t), "timestamp outside years 1678..2261");
        c = skip_blank(c, end);
        if (c < end)
            FAIL(COL(c), "unexpected text after timestamp");
        pt.time_ns = ms * 1000000;
        pt.has_time = 1;
    }

    /* canonical key */
    int was_sorted;
    long dup = mend_ingest_sort_tags(ps->tags, nl, &was_sorted);
    if (dup >= 0)
        FAIL(ps->tags[dup].col, "duplicate label name");
    size_t cap = p->o.max_key, klen = name_len;
    if (klen > cap)
        FAIL(COL(name), "series key longer than max_key");
    memcpy(ps->key, name, name_len);
    for (size_t i = 0; i < nl; i++) {
        const struct mend_ingest_tag *t = &ps->tags[i];
        if (klen + 2 + t->kl > cap)
            FAIL(t->col, "series key longer than max_key");
        ps->key[klen++] = ',';
        memcpy(ps->key + klen, t->k, t->kl);
        klen += t->kl;
        ps->key[klen++] = '=';
        klen = put_escaped(ps->key, klen, cap, t->v, t->vl);
        if (klen == SIZE_MAX)
            FAIL(t->col, "series key longer than max_key");
    }
    pt.key = ps->key;
    pt.key_len = klen;
    pt.entity = ent;
    pt.entity_len = ent ? ent_len : 0;
    return mend_format_emit(p, sink, &pt);
#undef COL
}

static int prom_init(struct mend_parser *p, const struct mend_ingest_opts *o, void **state)
{
    (void)p;
    struct prom_state *ps = calloc(1, sizeof *ps);
    if (!ps)
        return MEND_ENOMEM;
    ps->key = malloc(o->max_key + 1);
    ps->tags = malloc((o->max_tags + 1) * sizeof *ps->tags);
    ps->ubuf = malloc(o->max_line + 1);
    ps->fam = malloc(o->max_key + 1);
    mend_ingest_etags_init(&ps->et, o->entity_tag);
    if (!ps->key || !ps->tags || !ps->ubuf || !ps->fam) {
        free(ps->fam);
        free(ps->key);
        free(ps->tags);
        free(ps->ubuf);
        free(ps);
        return MEND_ENOMEM;
    }
    *state = ps;
    return MEND_OK;
}

static void prom_fini(void *state)
{
    struct prom_state *ps = state;
    if (!ps)
        return;
    free(ps->key);
    free(ps->tags);
    free(ps->ubuf);
    free(ps->fam);
    free(ps);
}

/* "# HELP" or "# TYPE" before the first sample, or a first sample that is
 * a bare metric name followed by '{' or by blanks and a value. */
static int prom_guess(const char *head, size_t len)
{
    size_t off = 0;
    for (int lines = 0; off < len && lines < 16; lines++) {
        const char *nl = memchr(head + off, '\n', len - off);
        size_t n = nl ? (size_t)(nl - (head + off)) : len - off;
        const char *s = head + off;
        off += n + 1;
        if (n && s[n - 1] == '\r')
            n--;
        while (n && (*s == ' ' || *s == '\t')) {
            s++;
            n--;
        }
        if (!n)
            continue;
        if (s[0] != '#')
            break;
        if (n >= 6 && (!memcmp(s, "# HELP", 6) || !memcmp(s, "# TYPE", 6)))
            return 1;
    }
    const char *s;
    size_t n;
    if (!mend_ingest_first_line(head, len, &s, &n) || !name_start(s[0]))
        return 0;
    size_t i = 0;
    while (i < n && name_char(s[i]))
        i++;
    if (i < n && s[i] == '{')
        return 1;
    if (i < n && (s[i] == ' ' || s[i] == '\t')) {
        size_t j = i;
        while (j < n && (s[j] == ' ' || s[j] == '\t'))
            j++;
        size_t k = j;
        while (k < n && s[k] != ' ' && s[k] != '\t')
            k++;
        double v;
        if (k > j && (mend_ingest_number(s + j, k - j, &v) == MEND_OK ||
                      !strncasecmp(s + j, "nan", k - j) || !strncasecmp(s + j, "+inf", k - j) ||
                      !strncasecmp(s + j, "-inf", k - j)))
            return 1;
    }
    return 0;
}

static const char *const prom_aliases[] = {"prometheus", NULL};
static const char *const prom_exts[] = {"prom", NULL};

const struct mend_format_ops mend_format_prom = {
    .name = "prom",
    .aliases = prom_aliases,
    .exts = prom_exts,
    .init = prom_init,
    .line = prom_line,
    .flush = NULL,
    .guess = prom_guess,
    .record_open = NULL,
    .fini = prom_fini,
};
