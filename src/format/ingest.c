/* ingest.c -- the generic parser that drives every format plug-in
 * (format.h): option defaults, the registry of built-in formats, record
 * framing across feeds, the caps on record length, the shared number
 * parser and format guessing. The grammars live in the formats
 * (ingest_lp.c, ingest_prom.c, ingest_csv.c); this file only decides where
 * records start and end and calls ops->line once per record.
 *
 * Complete records inside a fed buffer are parsed in place (no copy); only
 * a trailing partial record is copied into the parser's bounded carry
 * buffer. A record longer than max_line is reported once and its bytes are
 * dropped up to the next LF, whatever the feed boundaries, so splitting the
 * input differently never changes the output.
 *
 * A record normally ends at the first LF. A format whose records may hold
 * an LF inside quotes (an LP string field) answers MEND_EAGAIN from line
 * when the text it got ends inside such a quote; only then does the framer
 * use the format's resumable record_open scan to find the real end, so the
 * common path pays nothing for it and a record with many LFs is still
 * scanned once. */
#include "mend/ingest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ingest_internal.h"

#define DEF_MAX_LINE 65536
#define DEF_MAX_TAGS 64
#define DEF_MAX_KEY 1024
#define CAP_MAX_LINE ((size_t)1 << 30)   /* refuse absurd caps outright */
#define CAP_MAX_TAGS 65536
#define CAP_MAX_KEY ((size_t)1 << 20)

/* Registry, in guessing order: the log formats whose first bytes cannot be
 * metrics ("<PRI>", "{...}", a syslog time and tag), then Prometheus (its sample lines also
 * look like a CSV header), then line protocol, then CSV. The enum values
 * of ingest.h index by_enum. */
static const struct mend_format_ops *const registry[] = {
    &mend_format_syslog, &mend_format_json, /* "<PRI>" / "{...}": never metrics */
    &mend_format_prom, &mend_format_lp, &mend_format_csv, &mend_format_csvlong, &mend_format_text,
};
static const struct mend_format_ops *const by_enum[] = {
    [MEND_FMT_LP] = &mend_format_lp, [MEND_FMT_PROM] = &mend_format_prom,
    [MEND_FMT_CSV] = &mend_format_csv, [MEND_FMT_CSV_LONG] = &mend_format_csvlong,
    [MEND_FMT_SYSLOG] = &mend_format_syslog, [MEND_FMT_JSON] = &mend_format_json,
    [MEND_FMT_TEXT] = &mend_format_text,
};
#define NREG (sizeof registry / sizeof registry[0])

void mend_ingest_opts_defaults(struct mend_ingest_opts *o)
{
    o->entity_tag = "host";
    o->max_line = DEF_MAX_LINE;
    o->max_tags = DEF_MAX_TAGS;
    o->max_key = DEF_MAX_KEY;
    o->precision_ns = 1;
    o->keep_nonfinite = 0;
    o->logs = NULL;
}

void mend_ingest_etags_init(struct mend_ingest_etags *et, const char *list)
{
    et->count = 0;
    if (!list)
        return;
    for (const char *c = list; *c && et->count < MEND_INGEST_MAX_ETAGS;) {
        while (*c == ',' || *c == ' ')
            c++;
        const char *b = c;
        while (*c && *c != ',')
            c++;
        size_t l = (size_t)(c - b);
        while (l && b[l - 1] == ' ')
            l--;
        if (l) {
            et->n[et->count] = b;
            et->l[et->count++] = l;
        }
    }
}

const struct mend_format_ops *mend_format_ops_of(enum mend_format f)
{
    if ((unsigned)f >= sizeof by_enum / sizeof by_enum[0])
        return NULL;
    return by_enum[f];
}

static int ops_has_name(const struct mend_format_ops *ops, const char *name)
{
    if (!strcasecmp(ops->name, name))
        return 1;
    for (const char *const *a = ops->aliases; a && *a; a++)
        if (!strcasecmp(*a, name))
            return 1;
    return 0;
}

const struct mend_format_ops *mend_format_lookup(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < NREG; i++)
        if (ops_has_name(registry[i], name))
            return registry[i];
    return NULL;
}

int mend_parser_new_ops(const struct mend_format_ops *ops, const struct mend_ingest_opts *o,
                        struct mend_parser **out)
{
    if (!out || !ops || !ops->name || !ops->line)
        return MEND_EINVAL;
    struct mend_ingest_opts opt;
    if (o)
        opt = *o;
    else
        mend_ingest_opts_defaults(&opt);
    if (!opt.max_line)
        opt.max_line = DEF_MAX_LINE;
    if (!opt.max_tags)
        opt.max_tags = DEF_MAX_TAGS;
    if (!opt.max_key)
        opt.max_key = DEF_MAX_KEY;
    if (!opt.precision_ns)
        opt.precision_ns = 1;
    if (opt.max_line > CAP_MAX_LINE || opt.max_tags > CAP_MAX_TAGS ||
        opt.max_key > CAP_MAX_KEY)
        return MEND_EINVAL;
    if (opt.precision_ns != 1 && opt.precision_ns != 1000 &&
        opt.precision_ns != 1000000 && opt.precision_ns != 1000000000)
        return MEND_EINVAL;

    struct mend_parser *p = calloc(1, sizeof *p);
    if (!p)
        return MEND_ENOMEM;
    p->ops = ops;
    p->o = opt;
    p->may_continue = ops->record_open != NULL;
    p->pend = malloc(opt.max_line + 1);
    if (!p->pend) {
        free(p);
        return MEND_ENOMEM;
    }
    if (ops->init) {
        int rc = ops->init(p, &p->o, &p->state);
        if (rc < 0) {
            free(p->pend);
            free(p);
            return rc;
        }
    }
    *out = p;
    return MEND_OK;
}

int mend_parser_new(enum mend_format f, const struct mend_ingest_opts *o,
                    struct mend_parser **out)
{
    const struct mend_format_ops *ops = mend_format_ops_of(f);
    if (!ops)
        return MEND_EINVAL;
    return mend_parser_new_ops(ops, o, out);
}

void mend_parser_free(struct mend_parser *p)
{
    if (!p)
        return;
    if (p->ops->fini)
        p->ops->fini(p->state);
    free(p->pend);
    free(p);
}

void mend_parser_stats(const struct mend_parser *p, struct mend_parse_stats *out)
{
    *out = p->st;
}

void mend_parser_set_default_time(struct mend_parser *p, int64_t t_ns)
{
    p->default_time = t_ns;
    p->has_default_time = 1;
}

int mend_parser_flush(struct mend_parser *p, int64_t now_ns, const struct mend_sink *sink)
{
    if (!p->ops->flush)
        return MEND_OK;
    return p->ops->flush(p, p->state, now_ns, sink);
}

/* ---- services for formats ------------------------------------------------ */

void mend_format_error(struct mend_parser *p, const struct mend_sink *sink, size_t col,
                       const char *reason)
{
    p->st.errors++;
    if (sink && sink->error)
        sink->error(sink->ctx, p->line_no, col > UINT32_MAX ? UINT32_MAX : (uint32_t)col,
                    reason);
}

int mend_format_emit(struct mend_parser *p, const struct mend_sink *sink,
                     const struct mend_point *pt)
{
    p->st.points++;
    if (!sink || !sink->point)
        return MEND_OK;
    int rc = sink->point(sink->ctx, pt);
    return rc < 0 ? rc : MEND_OK;
}

const struct mend_ingest_opts *mend_format_opts(const struct mend_parser *p)
{
    return &p->o;
}

struct mend_parse_stats *mend_format_stats(struct mend_parser *p)
{
    return &p->st;
}

int mend_format_default_time(const struct mend_parser *p, int64_t *t_ns)
{
    if (!p->has_default_time)
        return 0;
    *t_ns = p->default_time;
    return 1;
}

uint64_t mend_format_line_no(const struct mend_parser *p)
{
    return p->line_no;
}

int mend_format_may_continue(const struct mend_parser *p)
{
    return p->may_continue;
}

/* Length of the UTF-8 sequence at s[0, n) when it is well formed (shortest
 * form, no surrogates, at most U+10FFFF), else 0; *cp gets the code point. */
static size_t utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t v, min;
    if (c < 0xC2)
        return 0;   /* continuation byte, or an overlong 2-byte lead */
    if (c < 0xE0) {
        len = 2;
        v = c & 0x1Fu;
        min = 0x80;
    } else if (c < 0xF0) {
        len = 3;
        v = c & 0x0Fu;
        min = 0x800;
    } else if (c < 0xF5) {
        len = 4;
        v = c & 0x07u;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3Fu);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

int mend_format_name_ok(const char *s, size_t n, size_t *bad)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned char c = u[i];
        if (c >= 0x20 && c < 0x7F) {
            i++;
            continue;
        }
        uint32_t cp;
        size_t l = c < 0x80 ? 0 : utf8_seq(u + i, n - i, &cp);
        /* C0 and DEL fail above (l == 0); C1 controls and U+FFFD (what a
         * decoder substitutes for bad bytes) are refused like them */
        if (!l || (cp >= 0x80 && cp <= 0x9F) || cp == 0xFFFD) {
            *bad = i;
            return 0;
        }
        i += l;
    }
    return 1;
}

/* ---- numbers ------------------------------------------------------------ */

static const double pow10_exact[23] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

int mend_ingest_number(const char *s, size_t n, double *out)
{
    size_t i = 0;
    int neg = 0;
    if (i < n && (s[i] == '+' || s[i] == '-')) {
        neg = s[i] == '-';
        i++;
    }
    uint64_t mant = 0;
    int nd = 0, digits = 0, truncated = 0;
    long exp10 = 0;
    while (i < n && (unsigned)(s[i] - '0') < 10) {
        unsigned d = (unsigned)(s[i] - '0');
        digits++;
        if (mant == 0 && d == 0) {
            /* leading zero: not significant */
        } else if (nd < 19) {
            mant = mant * 10 + d;
            nd++;
        } else {
            exp10++;
            truncated = 1;
        }
        i++;
    }
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && (unsigned)(s[i] - '0') < 10) {
            unsigned d = (unsigned)(s[i] - '0');
            digits++;
            if (mant == 0 && d == 0) {
                exp10--;
            } else if (nd < 19) {
                mant = mant * 10 + d;
                nd++;
                exp10--;
            } else {
                truncated = 1;
            }
            i++;
        }
    }
    if (!digits)
        return MEND_EPARSE;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        int eneg = 0;
        if (i < n && (s[i] == '+' || s[i] == '-')) {
            eneg = s[i] == '-';
            i++;
        }
        if (i >= n || (unsigned)(s[i] - '0') >= 10)
            return MEND_EPARSE;
        long e = 0;
        while (i < n && (unsigned)(s[i] - '0') < 10) {
            if (e < 100000)   /* beyond any double: keep it from overflowing */
                e = e * 10 + (s[i] - '0');
            i++;
        }
        exp10 += eneg ? -e : e;
    }
    if (i != n)
        return MEND_EPARSE;
    if (mant == 0) {
        *out = neg ? -0.0 : 0.0;
        return MEND_OK;
    }
    /* Clinger's fast path: mantissa and power of ten are both exact
     * doubles, so one IEEE multiply/divide rounds exactly like strtod. */
    if (!truncated && nd <= 15 && exp10 >= -22 && exp10 <= 22) {
        double v = (double)mant;
        v = exp10 < 0 ? v / pow10_exact[-exp10] : v * pow10_exact[exp10];
        *out = neg ? -v : v;
        return MEND_OK;
    }
    /* The slow path only ever sees text that already matched the grammar,
     * so it cannot wander into hex, inf or nan; mend_parse_f64 reads it in
     * the C locale whatever LC_NUMERIC is. */
    int rc = mend_parse_f64(s, n, 0, out);
    return rc == MEND_ENOMEM ? MEND_EPARSE : rc;
}

/* ---- record framing ----------------------------------------------------- */

static void overlong(struct mend_parser *p, const struct mend_sink *sink)
{
    p->st.overlong++;
    mend_format_error(p, sink, p->o.max_line + 1, "line longer than max_line");
}

/* Parse one record. With allow_cont, MEND_EAGAIN (the format says the LF
 * after the text is inside the record) is passed up with the counters left
 * as they were; without it (end of input, or the record_open scan already
 * found the end) the record is reported as ending inside a quote. */
static int process_line(struct mend_parser *p, const char *s, size_t n,
                        const struct mend_sink *sink, int allow_cont)
{
    p->line_no++;
    p->st.lines++;
    if (n && s[n - 1] == '\r')
        n--;
    if (n > p->o.max_line) {
        overlong(p, sink);
        return MEND_OK;
    }
    /* may_continue is 1 for formats with record_open from _new on; it is
     * only lowered around the rare calls that may not continue */
    int rc;
    if (allow_cont) {
        rc = p->ops->line(p, p->state, s, n, sink);
    } else {
        int saved = p->may_continue;
        p->may_continue = 0;
        rc = p->ops->line(p, p->state, s, n, sink);
        p->may_continue = saved;
    }
    if (rc != MEND_EAGAIN)
        return rc;
    if (allow_cont && p->may_continue) {
        p->line_no--;
        p->st.lines--;
        return rc;
    }
    mend_format_error(p, sink, n + 1, "record ends inside a quoted string");
    return MEND_OK;
}

/* The carry buffer holds max_line + 1 bytes so a line of exactly max_line
 * bytes still fits with its CR; one byte more proves the line overlong. */
static void start_overlong(struct mend_parser *p, const struct mend_sink *sink)
{
    p->line_no++;
    p->st.lines++;
    overlong(p, sink);
    p->pend_len = 0;
    p->open_rec = 0;
    p->skipping = 1;
}

/* Start the resumable scan over a record the format called open; 1 when
 * the scan agrees it continues past the LF. */
static int begin_open(struct mend_parser *p, const char *s, size_t n)
{
    p->scan_pos = 0;
    p->scan_mode = 0;
    return p->ops->record_open(s, n, &p->scan_pos, &p->scan_mode);
}

/* The carried record reached an LF: parse it, or, when it continues past
 * the LF, keep it (*cont = 1, the caller appends the LF). */
static int close_pending(struct mend_parser *p, const struct mend_sink *sink, int *cont)
{
    *cont = 0;
    size_t n = p->pend_len;
    int rc;
    if (p->open_rec) {
        if (p->ops->record_open(p->pend, n, &p->scan_pos, &p->scan_mode)) {
            *cont = 1;
            return MEND_OK;
        }
        rc = process_line(p, p->pend, n, sink, 0);
    } else {
        rc = process_line(p, p->pend, n, sink, 1);
        if (rc == MEND_EAGAIN) {
            if (begin_open(p, p->pend, n)) {
                p->open_rec = 1;
                *cont = 1;
                return MEND_OK;
            }
            rc = process_line(p, p->pend, n, sink, 0);   /* scan disagrees: report */
        }
    }
    p->pend_len = 0;
    p->open_rec = 0;
    return rc;
}

int mend_parser_feed(struct mend_parser *p, const char *buf, size_t len,
                     const struct mend_sink *sink)
{
    size_t off = 0;
    const size_t cap = p->o.max_line + 1;
    while (off < len) {
        const char *nl = memchr(buf + off, '\n', len - off);
        size_t seg = nl ? (size_t)(nl - (buf + off)) : len - off;
        if (p->skipping) {
            if (!nl)
                return MEND_OK;
            p->skipping = 0;
            off += seg + 1;
            continue;
        }
        if (p->pend_len || p->open_rec) {
            if (seg > cap - p->pend_len) {
                start_overlong(p, sink);
                continue;   /* the same segment is now skipped */
            }
            memcpy(p->pend + p->pend_len, buf + off, seg);
            p->pend_len += seg;
            if (!nl)
                return MEND_OK;
            off += seg + 1;
            int cont, rc = close_pending(p, sink, &cont);
            if (cont) {
                if (p->pend_len >= cap) {
                    start_overlong(p, sink);
                    p->skipping = 0;   /* the LF just consumed ended it */
                } else {
                    p->pend[p->pend_len++] = '\n';
                }
                continue;
            }
            if (rc < 0)
                return rc;
            continue;
        }
        if (!nl) {
            if (seg > cap) {
                start_overlong(p, sink);
                return MEND_OK;
            }
            memcpy(p->pend, buf + off, seg);
            p->pend_len = seg;
            return MEND_OK;
        }
        const char *s = buf + off;
        off += seg + 1;
        int rc = process_line(p, s, seg, sink, 1);
        if (rc == MEND_EAGAIN) {
            /* rare: the record goes on past this LF; carry it, and from
             * here on the resumable scan finds its end */
            if (!begin_open(p, s, seg)) {
                rc = process_line(p, s, seg, sink, 0);
            } else if (seg + 1 > cap) {
                start_overlong(p, sink);
                p->skipping = 0;
                continue;
            } else {
                memcpy(p->pend, s, seg);
                p->pend[seg] = '\n';
                p->pend_len = seg + 1;
                p->open_rec = 1;
                continue;
            }
        }
        if (rc < 0)
            return rc;
    }
    return MEND_OK;
}

int mend_parser_finish(struct mend_parser *p, const struct mend_sink *sink)
{
    if (p->skipping) {
        p->skipping = 0;
        return MEND_OK;
    }
    if (!p->pend_len && !p->open_rec)
        return MEND_OK;
    size_t n = p->pend_len;
    p->pend_len = 0;
    p->open_rec = 0;
    return process_line(p, p->pend, n, sink, 0);
}

/* ---- format names and guessing ------------------------------------------ */

const char *mend_format_name(enum mend_format f)
{
    const struct mend_format_ops *ops = mend_format_ops_of(f);
    return ops ? ops->name : "?";
}

int mend_format_parse(const char *name, enum mend_format *out)
{
    const struct mend_format_ops *ops = mend_format_lookup(name);
    if (!ops)
        return MEND_EINVAL;
    for (size_t i = 0; i < sizeof by_enum / sizeof by_enum[0]; i++) {
        if (by_enum[i] == ops) {
            *out = (enum mend_format)i;
            return MEND_OK;
        }
    }
    return MEND_EINVAL;
}

int mend_ingest_first_line(const char *head, size_t len, const char **out, size_t *outn)
{
    size_t off = 0;
    /* Look at the first few lines only: enough to get past comments. */
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
        if (!n || s[0] == '#')
            continue;
        *out = s;
        *outn = n;
        return 1;
    }
    return 0;
}

static int enum_of(const struct mend_format_ops *ops, enum mend_format *out)
{
    for (size_t i = 0; i < sizeof by_enum / sizeof by_enum[0]; i++) {
        if (by_enum[i] == ops) {
            *out = (enum mend_format)i;
            return MEND_OK;
        }
    }
    return MEND_ENOTFOUND;
}

int mend_format_guess(const char *path, const char *head, size_t len,
                      enum mend_format *out)
{
    if (!out)
        return MEND_EINVAL;
    if (path) {
        const char *dot = strrchr(path, '.');
        const char *slash = strrchr(path, '/');
        if (dot && (!slash || dot > slash)) {
            dot++;
            for (size_t i = 0; i < NREG; i++)
                for (const char *const *e = registry[i]->exts; e && *e; e++)
                    if (!strcasecmp(dot, *e))
                        return enum_of(registry[i], out);
        }
    }
    if (!head)
        return MEND_ENOTFOUND;
    /* A recording may open with comment lines (line protocol allows them):
     * judge the first line that is not one, but leave Prometheus's own
     * "# HELP" / "# TYPE" lines to the Prometheus guess. */
    while (len > 0 && head[0] == '#' && !(len >= 7 && (!memcmp(head, "# HELP ", 7) || !memcmp(head, "# TYPE ", 7)))) {
        const char *nl = memchr(head, '\n', len);
        if (!nl || nl + 1 == head + len) /* nothing but comments seen: line protocol's */
            return enum_of(&mend_format_lp, out);
        len -= (size_t)(nl + 1 - head);
        head = nl + 1;
    }
    for (size_t i = 0; i < NREG; i++)
        if (registry[i]->guess && registry[i]->guess(head, len))
            return enum_of(registry[i], out);
    return MEND_ENOTFOUND;
}
