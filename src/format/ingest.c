/* ingest.c -- the parser object: option defaults, line splitting across
 * feeds, the caps on line length, the shared number parser and format
 * guessing. The per-format grammars live in ingest_lp.c, ingest_prom.c and
 * ingest_csv.c; this file only decides where lines start and end.
 *
 * Complete lines inside a fed buffer are parsed in place (no copy); only a
 * trailing partial line is copied into the parser's bounded carry buffer.
 * A line longer than max_line is reported once and its bytes are dropped
 * up to the next LF, whatever the feed boundaries, so splitting the input
 * differently never changes the output. */
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

void mend_ingest_opts_defaults(struct mend_ingest_opts *o)
{
    o->entity_tag = "host";
    o->max_line = DEF_MAX_LINE;
    o->max_tags = DEF_MAX_TAGS;
    o->max_key = DEF_MAX_KEY;
    o->precision_ns = 1;
    o->keep_nonfinite = 0;
}

int mend_parser_new(enum mend_format f, const struct mend_ingest_opts *o,
                    struct mend_parser **out)
{
    if (!out || (f != MEND_FMT_LP && f != MEND_FMT_PROM && f != MEND_FMT_CSV))
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
    p->fmt = f;
    p->o = opt;
    p->pend = malloc(opt.max_line + 1);
    p->key = malloc(opt.max_key + 1);
    p->tags = malloc((opt.max_tags + 1) * sizeof *p->tags);
    if (!p->pend || !p->key || !p->tags)
        goto fail;
    if (f == MEND_FMT_LP) {
        p->fields = malloc(MEND_INGEST_MAX_FIELDS * sizeof *p->fields);
        if (!p->fields)
            goto fail;
    } else if (f == MEND_FMT_PROM) {
        p->ubuf = malloc(opt.max_line + 1);
        if (!p->ubuf)
            goto fail;
    } else {
        p->csv_names = malloc(opt.max_line + 1);
        p->cols = malloc(MEND_INGEST_MAX_COLUMNS * sizeof *p->cols);
        if (!p->csv_names || !p->cols)
            goto fail;
    }
    *out = p;
    return MEND_OK;
fail:
    mend_parser_free(p);
    return MEND_ENOMEM;
}

void mend_parser_free(struct mend_parser *p)
{
    if (!p)
        return;
    free(p->pend);
    free(p->key);
    free(p->tags);
    free(p->fields);
    free(p->ubuf);
    free(p->csv_names);
    free(p->cols);
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

void mend_ingest_error(struct mend_parser *p, const struct mend_sink *sink,
                       size_t col, const char *reason)
{
    p->st.errors++;
    if (sink && sink->error)
        sink->error(sink->ctx, p->line_no, col > UINT32_MAX ? UINT32_MAX : (uint32_t)col,
                    reason);
}

int mend_ingest_emit(struct mend_parser *p, const struct mend_sink *sink,
                     const struct mend_point *pt)
{
    p->st.points++;
    if (!sink || !sink->point)
        return MEND_OK;
    int rc = sink->point(sink->ctx, pt);
    return rc < 0 ? rc : MEND_OK;
}

/* ---- numbers ------------------------------------------------------------ */

static const double pow10_exact[23] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* The slow path only ever sees text that already matched the grammar, so
 * strtod cannot wander into hex, inf or nan. */
static int number_slow(const char *s, size_t n, double *out)
{
    char tmp[512];
    if (n >= sizeof tmp)
        return MEND_EPARSE;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    errno = 0;
    char *end;
    double v = strtod(tmp, &end);
    if (end != tmp + n)
        return MEND_EPARSE;
    if (errno == ERANGE && (v > 1.0 || v < -1.0))
        return MEND_ERANGE;
    *out = v;
    return MEND_OK;
}

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
    return number_slow(s, n, out);
}

/* ---- line splitting ----------------------------------------------------- */

static int process_line(struct mend_parser *p, const char *s, size_t n,
                        const struct mend_sink *sink)
{
    p->line_no++;
    p->st.lines++;
    if (n && s[n - 1] == '\r')
        n--;
    if (n > p->o.max_line) {
        p->st.overlong++;
        mend_ingest_error(p, sink, p->o.max_line + 1, "line longer than max_line");
        return MEND_OK;
    }
    switch (p->fmt) {
    case MEND_FMT_LP:
        return mend_ingest_lp_line(p, s, n, sink);
    case MEND_FMT_PROM:
        return mend_ingest_prom_line(p, s, n, sink);
    case MEND_FMT_CSV:
        return mend_ingest_csv_line(p, s, n, sink);
    }
    return MEND_EINVAL;
}

/* The carry buffer holds max_line + 1 bytes so a line of exactly max_line
 * bytes still fits with its CR; one byte more proves the line overlong. */
static void start_overlong(struct mend_parser *p, const struct mend_sink *sink)
{
    p->line_no++;
    p->st.lines++;
    p->st.overlong++;
    mend_ingest_error(p, sink, p->o.max_line + 1, "line longer than max_line");
    p->pend_len = 0;
    p->skipping = 1;
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
        if (p->pend_len) {
            if (seg > cap - p->pend_len) {
                start_overlong(p, sink);
                continue;   /* the same segment is now skipped */
            }
            memcpy(p->pend + p->pend_len, buf + off, seg);
            p->pend_len += seg;
            if (!nl)
                return MEND_OK;
            size_t n = p->pend_len;
            p->pend_len = 0;
            off += seg + 1;
            int rc = process_line(p, p->pend, n, sink);
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
        off += seg + 1;
        int rc = process_line(p, nl - seg, seg, sink);
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
    if (!p->pend_len)
        return MEND_OK;
    size_t n = p->pend_len;
    p->pend_len = 0;
    return process_line(p, p->pend, n, sink);
}

/* ---- format names and guessing ------------------------------------------ */

const char *mend_format_name(enum mend_format f)
{
    switch (f) {
    case MEND_FMT_LP:
        return "lp";
    case MEND_FMT_PROM:
        return "prom";
    case MEND_FMT_CSV:
        return "csv";
    }
    return "?";
}

int mend_format_parse(const char *name, enum mend_format *out)
{
    if (!name)
        return MEND_EINVAL;
    if (!strcasecmp(name, "lp") || !strcasecmp(name, "line") ||
        !strcasecmp(name, "influx"))
        *out = MEND_FMT_LP;
    else if (!strcasecmp(name, "prom") || !strcasecmp(name, "prometheus"))
        *out = MEND_FMT_PROM;
    else if (!strcasecmp(name, "csv"))
        *out = MEND_FMT_CSV;
    else
        return MEND_EINVAL;
    return MEND_OK;
}

static int is_name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}

static int is_name_char(char c)
{
    return is_name_start(c) || (c >= '0' && c <= '9');
}

/* Classify one non-comment line: a Prometheus sample is a bare metric name
 * followed by '{' or blank and a value; line protocol has "key=" after the
 * first unescaped space; a CSV header has no '=' and either commas or no
 * blank at all (a single column). */
static int guess_line(const char *s, size_t n, enum mend_format *out)
{
    size_t i = 0;
    if (is_name_start(s[0])) {
        while (i < n && is_name_char(s[i]))
            i++;
        if (i < n && s[i] == '{') {
            *out = MEND_FMT_PROM;
            return MEND_OK;
        }
        if (i < n && (s[i] == ' ' || s[i] == '\t')) {
            size_t j = i;
            while (j < n && (s[j] == ' ' || s[j] == '\t'))
                j++;
            size_t k = j;
            while (k < n && s[k] != ' ' && s[k] != '\t')
                k++;
            double v;
            if (k > j && (mend_ingest_number(s + j, k - j, &v) == MEND_OK ||
                          !strncasecmp(s + j, "nan", k - j) ||
                          !strncasecmp(s + j, "+inf", k - j) ||
                          !strncasecmp(s + j, "-inf", k - j))) {
                *out = MEND_FMT_PROM;
                return MEND_OK;
            }
        }
    }
    const char *sp = NULL;
    for (i = 0; i < n; i++) {
        if (s[i] == '\\') {
            i++;
            continue;
        }
        if (s[i] == ' ') {
            sp = s + i;
            break;
        }
    }
    if (sp && memchr(sp, '=', (size_t)(s + n - sp))) {
        *out = MEND_FMT_LP;
        return MEND_OK;
    }
    /* a CSV header: commas and no '=', or a lone column name ("value") */
    if (!memchr(s, '=', n) &&
        (memchr(s, ',', n) || (!memchr(s, ' ', n) && !memchr(s, '{', n)))) {
        *out = MEND_FMT_CSV;
        return MEND_OK;
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
            if (!strcasecmp(dot, "lp") || !strcasecmp(dot, "line") ||
                !strcasecmp(dot, "influx")) {
                *out = MEND_FMT_LP;
                return MEND_OK;
            }
            if (!strcasecmp(dot, "prom")) {
                *out = MEND_FMT_PROM;
                return MEND_OK;
            }
            if (!strcasecmp(dot, "csv")) {
                *out = MEND_FMT_CSV;
                return MEND_OK;
            }
        }
    }
    if (!head)
        return MEND_ENOTFOUND;
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
        if (!n)
            continue;
        if (s[0] == '#') {
            if ((n >= 6 && !memcmp(s, "# HELP", 6)) || (n >= 6 && !memcmp(s, "# TYPE", 6))) {
                *out = MEND_FMT_PROM;
                return MEND_OK;
            }
            continue;
        }
        return guess_line(s, n, out);
    }
    return MEND_ENOTFOUND;
}
