/* ingest_csv.c -- CSV with a header line, the "csv" (wide) and "csvlong"
 * (long) format plug-ins, one line at a time.
 *
 * The first non-blank line is the header. When its first column is named
 * "timestamp" or "time" (any case) that column holds the time (ISO-8601 or
 * an epoch number, see timefmt.h); otherwise every column is a value column
 * and the data row number (1 = first data row) stands in for the time.
 * Each value column is one series whose key is the trimmed, unquoted header
 * text. Unlike LP, CSV cells are independent: an empty cell is a missing
 * value (skipped silently) and a bad cell is reported by line:col and column
 * name while the row's other cells are still emitted. Quoted cells ("a,b",
 * "say ""hi""") are accepted; a quote cannot span lines.
 *
 * A header is required: a first line made only of numbers (and a time) is
 * data, and is reported as "no header" rather than read as column names
 * called "1" and "2"; every row after it is reported too (counted).
 *
 * The long shape ("csvlong", `--format csvlong`) has one sample per row:
 *   timestamp,TAG...,metric,value
 * The header's first column is time/timestamp, the last two are metric (or
 * name) and value, and the columns between are tags: the series key is
 * "METRIC,TAG=VALUE,..." (tags in header order, empty ones left out), and
 * the tag named like input.entity_tag names the entity. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ingest_internal.h"
#include "mend/timefmt.h"

struct mend_csv_col {
    size_t off, len;      /* name inside names */
    int skip;             /* header cell was empty/duplicate: ignore cells */
};

/* One parser's CSV state: the header, sized from the caps at init. */
struct csv_state {
    int have_header;
    int no_header;        /* the first line was data: every row is refused */
    int long_fmt;         /* csvlong: timestamp,tags...,metric,value */
    int entity_col;       /* long: the tag column naming the entity, -1 = none */
    char *key;            /* long: the key being built, max_key bytes */
    struct cell *cells;   /* long: one row's cells, MEND_INGEST_MAX_COLUMNS */
    int time_col;         /* first column is the time */
    size_t ncols;
    uint64_t row;
    char *names;          /* header names, max_line bytes */
    struct mend_csv_col *cols;  /* MEND_INGEST_MAX_COLUMNS */
    char errbuf[256];     /* formatted reasons, valid during sink->error */
};

struct cell {
    const char *s;     /* content (without quotes) */
    size_t n;
    const char *at;    /* first byte of the cell, for the column number */
    int quoted_pairs;  /* content has "" that must be collapsed */
};

/* Splits the next cell off [*c, end). Returns 1 with a cell, 0 at end of
 * line, -1 on a malformed quote (*bad names the offending byte). */
static int next_cell(const char **c, const char *end, int *first, struct cell *out,
                     const char **bad)
{
    const char *x = *c;
    if (!*first) {
        if (x >= end)
            return 0;
        x++;   /* the ',' that ended the previous cell */
    }
    *first = 0;
    while (x < end && (*x == ' ' || *x == '\t'))
        x++;
    out->at = x;
    out->quoted_pairs = 0;
    if (x < end && *x == '"') {
        const char *q = ++x;
        for (;;) {
            if (x >= end) {
                *bad = out->at;
                return -1;
            }
            if (*x == '"') {
                if (x + 1 < end && x[1] == '"') {
                    out->quoted_pairs = 1;
                    x += 2;
                    continue;
                }
                break;
            }
            x++;
        }
        out->s = q;
        out->n = (size_t)(x - q);
        x++;
        while (x < end && (*x == ' ' || *x == '\t'))
            x++;
        if (x < end && *x != ',') {
            *bad = x;
            return -1;
        }
    } else {
        const char *b = x;
        while (x < end && *x != ',')
            x++;
        const char *e = x;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        out->s = b;
        out->n = (size_t)(e - b);
    }
    *c = x;
    return 1;
}

/* "what in column 'name'then": names the column so a report on a wide
 * file is readable without counting commas. */
static void colname_error(struct mend_parser *p, struct csv_state *cs,
                          const struct mend_sink *sink, size_t col, const char *what, size_t j,
                          const char *then)
{
    const struct mend_csv_col *cc = &cs->cols[j];
    int nl = cc->len > 80 ? 80 : (int)cc->len;
    snprintf(cs->errbuf, sizeof cs->errbuf, "%s in column '%.*s'%s%s", what, nl,
             cs->names + cc->off, cc->len > 80 ? "..." : "", then);
    mend_format_error(p, sink, col, cs->errbuf);
}

/* s starts after any byte order mark; skipped counts those bytes so the
 * columns reported still count from the start of the line. */
static int parse_header(struct mend_parser *p, struct csv_state *cs, const char *s,
                        const char *end, const struct mend_sink *sink, size_t skipped)
{
    s -= skipped;
    const char *c = s + skipped;
    int first = 1, r;
    struct cell cl;
    const char *bad = NULL;
    size_t off = 0;
    cs->ncols = 0;
    cs->time_col = 0;
    cs->have_header = 1;
    while ((r = next_cell(&c, end, &first, &cl, &bad)) == 1) {
        size_t j = cs->ncols;
        if (j >= MEND_INGEST_MAX_COLUMNS) {
            mend_format_error(p, sink, (size_t)(cl.at - s + 1),
                              "too many columns (cap 1024); the rest are ignored");
            return MEND_OK;
        }
        struct mend_csv_col *cc = &cs->cols[j];
        cc->off = off;
        cc->skip = 0;
        /* copy, collapsing "" to " */
        for (size_t i = 0; i < cl.n; i++) {
            cs->names[off++] = cl.s[i];
            if (cl.quoted_pairs && cl.s[i] == '"')
                i++;
        }
        cc->len = off - cc->off;
        cs->ncols++;
        if (j == 0 && ((cc->len == 4 && !strncasecmp(cs->names, "time", 4)) ||
                       (cc->len == 9 && !strncasecmp(cs->names, "timestamp", 9)))) {
            cs->time_col = 1;
            continue;
        }
        if (!cc->len) {
            cc->skip = 1;
            mend_format_error(p, sink, (size_t)(cl.at - s + 1),
                              "empty column name; column ignored");
            continue;
        }
        if (cc->len > p->o.max_key) {
            cc->skip = 1;
            mend_format_error(p, sink, (size_t)(cl.at - s + 1),
                              "column name longer than max_key; column ignored");
            continue;
        }
        for (size_t k = 0; k < j; k++) {
            if (cs->cols[k].len == cc->len &&
                !memcmp(cs->names + cs->cols[k].off, cs->names + cc->off, cc->len)) {
                cc->skip = 1;
                colname_error(p, cs, sink, (size_t)(cl.at - s + 1), "duplicate name", j,
                              "; column ignored");
                break;
            }
        }
    }
    if (r < 0)
        mend_format_error(p, sink, (size_t)(bad - s + 1), "malformed quoted header cell");
    /* A header of numbers is a file without one: its first data row. */
    size_t numeric = 0, named = 0;
    for (size_t j = 0; j < cs->ncols; j++) {
        const struct mend_csv_col *cc = &cs->cols[j];
        double v;
        int64_t t;
        if (!cc->len)
            continue;
        named++;
        if (mend_ingest_number(cs->names + cc->off, cc->len, &v) == MEND_OK ||
            (j == 0 && mend_time_parse_any(cs->names + cc->off, cc->len, &t) == MEND_OK))
            numeric++;
    }
    if (named && numeric == named) {
        cs->no_header = 1;
        mend_format_error(p, sink, 1,
                          "CSV without a header: the first line is data, not column names; "
                          "add a header line such as timestamp,cpu,mem (see --help for the CSV shapes)");
        return MEND_OK;
    }
    if (cs->long_fmt) {
        const struct mend_csv_col *last = &cs->cols[cs->ncols > 0 ? cs->ncols - 1 : 0],
                                  *met = &cs->cols[cs->ncols > 1 ? cs->ncols - 2 : 0];
        if (cs->ncols < 3 || !cs->time_col || last->len != 5 || strncasecmp(cs->names + last->off, "value", 5) ||
            !((met->len == 6 && !strncasecmp(cs->names + met->off, "metric", 6)) ||
              (met->len == 4 && !strncasecmp(cs->names + met->off, "name", 4)))) {
            cs->no_header = 1;
            mend_format_error(p, sink, 1,
                              "long CSV needs the header timestamp,TAG...,metric,value "
                              "(time first, metric or name, then value last)");
            return MEND_OK;
        }
        cs->entity_col = -1;
        const char *et = p->o.entity_tag;
        for (size_t j = 1; et && j + 2 < cs->ncols; j++)
            if (cs->cols[j].len == strlen(et) && !memcmp(cs->names + cs->cols[j].off, et, cs->cols[j].len))
                cs->entity_col = (int)j;
    }
    return MEND_OK;
}

static int nonfinite_word(const char *s, size_t n, double *v);

/* One row of the long shape: time, tags, metric, value -> one sample. */
static int long_row(struct mend_parser *p, struct csv_state *cs, const char *s, const char *end,
                    const struct mend_sink *sink)
{
    struct mend_point pt;
    memset(&pt, 0, sizeof pt);
    pt.has_time = 1;
    const char *c = s, *bad = NULL;
    int first = 1, r;
    struct cell cl, *cells = cs->cells;
    size_t j = 0;
    while ((r = next_cell(&c, end, &first, &cl, &bad)) == 1) {
        if (j >= cs->ncols) {
            if (cl.n) {
                mend_format_error(p, sink, (size_t)(cl.at - s + 1), "more cells than header columns");
                return MEND_OK;
            }
            continue;
        }
        cells[j++] = cl;
    }
    if (r < 0) {
        mend_format_error(p, sink, (size_t)(bad - s + 1), "malformed quoted cell");
        return MEND_OK;
    }
    if (j < cs->ncols) {
        mend_format_error(p, sink, (size_t)(c - s + 1), "fewer cells than header columns; row skipped");
        return MEND_OK;
    }
    int rc = cells[0].n && !cells[0].quoted_pairs ? mend_time_parse_any(cells[0].s, cells[0].n, &pt.time_ns)
                                                   : MEND_EPARSE;
    if (rc) {
        colname_error(p, cs, sink, (size_t)(cells[0].at - s + 1), "bad time", 0, "; row skipped");
        return MEND_OK;
    }
    const struct cell *m = &cells[cs->ncols - 2], *v = &cells[cs->ncols - 1];
    if (!m->n) {
        colname_error(p, cs, sink, (size_t)(m->at - s + 1), "empty metric name", cs->ncols - 2, "; row skipped");
        return MEND_OK;
    }
    if (!v->n)
        return MEND_OK; /* a missing value, as in the wide shape */
    rc = v->quoted_pairs ? MEND_EPARSE : mend_ingest_number(v->s, v->n, &pt.value);
    if (rc == MEND_EPARSE && nonfinite_word(v->s, v->n, &pt.value))
        rc = MEND_ERANGE;
    if (rc == MEND_ERANGE && !p->o.keep_nonfinite) {
        colname_error(p, cs, sink, (size_t)(v->at - s + 1), "non-finite or out-of-range value", cs->ncols - 1, "");
        return MEND_OK;
    }
    if (rc == MEND_EPARSE) {
        colname_error(p, cs, sink, (size_t)(v->at - s + 1), "bad number", cs->ncols - 1, "");
        return MEND_OK;
    }
    /* key: METRIC,TAG=VALUE,... within max_key */
    size_t k = 0, cap = p->o.max_key;
    int over = m->n > cap;
    if (!over) {
        memcpy(cs->key, m->s, m->n);
        k = m->n;
    }
    for (size_t t = 1; t + 2 < cs->ncols && !over; t++) {
        const struct mend_csv_col *cc = &cs->cols[t];
        if (!cells[t].n || cc->skip)
            continue;
        if (k + 2 + cc->len + cells[t].n > cap) {
            over = 1;
            break;
        }
        cs->key[k++] = ',';
        memcpy(cs->key + k, cs->names + cc->off, cc->len);
        k += cc->len;
        cs->key[k++] = '=';
        memcpy(cs->key + k, cells[t].s, cells[t].n);
        k += cells[t].n;
    }
    if (over) {
        mend_format_error(p, sink, 1, "series key longer than max_key; row skipped");
        return MEND_OK;
    }
    pt.key = cs->key;
    pt.key_len = k;
    if (cs->entity_col > 0 && cells[cs->entity_col].n) {
        pt.entity = cells[cs->entity_col].s;
        pt.entity_len = cells[cs->entity_col].n;
    }
    return mend_format_emit(p, sink, &pt);
}

static int nonfinite_word(const char *s, size_t n, double *v)
{
    if ((n == 3 && !strncasecmp(s, "nan", 3)) || (n == 4 && !strncasecmp(s, "-nan", 4))) {
        *v = NAN;
        return 1;
    }
    if ((n == 3 && !strncasecmp(s, "inf", 3)) || (n == 4 && !strncasecmp(s, "+inf", 4)) ||
        (n == 8 && !strncasecmp(s, "infinity", 8))) {
        *v = INFINITY;
        return 1;
    }
    if ((n == 4 && !strncasecmp(s, "-inf", 4)) || (n == 9 && !strncasecmp(s, "-infinity", 9))) {
        *v = -INFINITY;
        return 1;
    }
    return 0;
}

static int csv_line(struct mend_parser *p, void *state, const char *s, size_t n,
                    const struct mend_sink *sink)
{
    struct csv_state *cs = state;
    const char *end = s + n, *c = s;
    while (c < end && (*c == ' ' || *c == '\t'))
        c++;
    if (c == end)
        return MEND_OK;   /* blank lines are neither header nor rows */
    if (!cs->have_header) {
        /* spreadsheets often start the file with a UTF-8 byte order mark,
         * which would otherwise hide a "timestamp" first column */
        const char *h = (n >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3)) ? s + 3 : s;
        return parse_header(p, cs, h, end, sink, (size_t)(h - s));
    }
    if (cs->no_header) {
        mend_format_error(p, sink, 1, "row skipped: the CSV has no usable header (see line 1)");
        return MEND_OK;
    }
    if (cs->long_fmt)
        return long_row(p, cs, s, end, sink);

    struct mend_point pt;
    pt.kind = MEND_POINT_GAUGE;
    pt.entity = NULL;
    pt.entity_len = 0;
    pt.has_time = 1;
    pt.time_ns = (int64_t)++cs->row;
    c = s;
    int first = 1, r;
    struct cell cl;
    const char *bad = NULL;
    size_t j = 0;
    while ((r = next_cell(&c, end, &first, &cl, &bad)) == 1) {
        size_t col = (size_t)(cl.at - s + 1);
        if (j >= cs->ncols) {
            /* a trailing comma is harmless; real extra data is reported
             * once for the row */
            if (cl.n) {
                mend_format_error(p, sink, col, "more cells than header columns");
                return MEND_OK;
            }
            j++;
            continue;
        }
        if (j == 0 && cs->time_col) {
            int rc = cl.n && !cl.quoted_pairs ? mend_time_parse_any(cl.s, cl.n, &pt.time_ns)
                                              : MEND_EPARSE;
            if (rc) {
                colname_error(p, cs, sink, col, rc == MEND_ERANGE ? "time out of range" : "bad time",
                              0, "; row skipped");
                return MEND_OK;
            }
            j++;
            continue;
        }
        const struct mend_csv_col *cc = &cs->cols[j++];
        if (cc->skip || !cl.n)
            continue;
        int rc = cl.quoted_pairs ? MEND_EPARSE : mend_ingest_number(cl.s, cl.n, &pt.value);
        if (rc == MEND_EPARSE && nonfinite_word(cl.s, cl.n, &pt.value))
            rc = MEND_ERANGE;
        else if (rc == MEND_ERANGE)
            pt.value = cl.s[0] == '-' ? -INFINITY : INFINITY;
        if (rc == MEND_ERANGE && !p->o.keep_nonfinite) {
            colname_error(p, cs, sink, col, "non-finite or out-of-range value", j - 1, "");
            continue;
        }
        if (rc == MEND_EPARSE) {
            colname_error(p, cs, sink, col, "bad number", j - 1, "");
            continue;
        }
        pt.key = cs->names + cc->off;
        pt.key_len = cc->len;
        rc = mend_format_emit(p, sink, &pt);
        if (rc < 0)
            return rc;
    }
    if (r < 0) {
        if (j < cs->ncols)
            colname_error(p, cs, sink, (size_t)(bad - s + 1), "malformed quoted cell", j, "");
        else
            mend_format_error(p, sink, (size_t)(bad - s + 1), "malformed quoted cell");
    }
    return MEND_OK;
}

static int csv_init(struct mend_parser *p, const struct mend_ingest_opts *o, void **state)
{
    (void)p;
    struct csv_state *cs = calloc(1, sizeof *cs);
    if (!cs)
        return MEND_ENOMEM;
    cs->names = malloc(o->max_line + 1);
    cs->cols = malloc(MEND_INGEST_MAX_COLUMNS * sizeof *cs->cols);
    cs->key = malloc(o->max_key + 1);
    cs->cells = malloc(MEND_INGEST_MAX_COLUMNS * sizeof *cs->cells);
    if (!cs->names || !cs->cols || !cs->key || !cs->cells) {
        free(cs->names);
        free(cs->cols);
        free(cs->key);
        free(cs->cells);
        free(cs);
        return MEND_ENOMEM;
    }
    *state = cs;
    return MEND_OK;
}

static int csvlong_init(struct mend_parser *p, const struct mend_ingest_opts *o, void **state)
{
    int rc = csv_init(p, o, state);
    if (rc == MEND_OK)
        ((struct csv_state *)*state)->long_fmt = 1;
    return rc;
}

static void csv_fini(void *state)
{
    struct csv_state *cs = state;
    if (!cs)
        return;
    free(cs->names);
    free(cs->cols);
    free(cs->key);
    free(cs->cells);
    free(cs);
}

/* A CSV header: commas and no '=', or a lone column name ("value"). */
static int csv_guess(const char *head, size_t len)
{
    const char *s;
    size_t n;
    if (!mend_ingest_first_line(head, len, &s, &n))
        return 0;
    return !memchr(s, '=', n) &&
           (memchr(s, ',', n) || (!memchr(s, ' ', n) && !memchr(s, '{', n)));
}

static const char *const csv_exts[] = {"csv", NULL};

const struct mend_format_ops mend_format_csv = {
    .name = "csv",
    .aliases = NULL,
    .exts = csv_exts,
    .init = csv_init,
    .line = csv_line,
    .flush = NULL,
    .guess = csv_guess,
    .record_open = NULL,
    .fini = csv_fini,
};

/* The long shape is never guessed: its header looks like any CSV's, and
 * reading a wide file as long (or the reverse) gives wrong series. */
const struct mend_format_ops mend_format_csvlong = {
    .name = "csvlong",
    .aliases = NULL, /* input.format holds 7 characters: "csvlong" only */
    .exts = NULL,
    .init = csvlong_init,
    .line = csv_line,
    .flush = NULL,
    .guess = NULL,
    .record_open = NULL,
    .fini = csv_fini,
};
