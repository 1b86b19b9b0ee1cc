/* ingest_internal.h -- the parser object shared by the line splitter
 * (ingest.c) and the three per-format line parsers (ingest_lp.c,
 * ingest_prom.c, ingest_csv.c). Not installed; nothing outside ingest*.c
 * should include it.
 *
 * Every buffer here is allocated once in mend_parser_new and sized from the
 * caps in mend_ingest_opts, so parsing a line never allocates. */
#ifndef MEND_INGEST_INTERNAL_H
#define MEND_INGEST_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "mend/common.h"
#include "mend/ingest.h"

#define MEND_INGEST_MAX_FIELDS 1024  /* LP fields per line */

struct mend_ingest_tag {
    const char *k, *v;    /* borrowed from the line (LP) or ubuf (prom) */
    size_t kl, vl;
    uint32_t col;         /* 1-based column of the key, for error messages */
};

struct mend_ingest_field {
    const char *k;
    size_t kl;
    double v;
};

struct mend_csv_col {
    size_t off, len;      /* name inside csv_names */
    int skip;             /* header cell was empty/duplicate: ignore cells */
};

struct mend_parser {
    enum mend_format fmt;
    struct mend_ingest_opts o;
    struct mend_parse_stats st;
    uint64_t line_no;
    int64_t default_time;
    int has_default_time;

    char *pend;           /* partial line carried between feeds, max_line + 1 */
    size_t pend_len;
    int skipping;         /* inside an overlong line: drop bytes until LF */

    char *key;            /* canonical key scratch, max_key bytes */
    struct mend_ingest_tag *tags;     /* max_tags (+1 spare) */
    struct mend_ingest_field *fields; /* LP only */
    char *ubuf;           /* prom: unescaped label values, max_line bytes */

    /* CSV */
    int csv_have_header;
    int csv_time_col;     /* first column is the time */
    size_t csv_ncols;
    uint64_t csv_row;
    char *csv_names;      /* header names, max_line bytes */
    struct mend_csv_col *cols;

    char errbuf[256];     /* formatted reasons, valid during sink->error */
};

/* Report an error on the current line at 1-based column col; counts it. */
void mend_ingest_error(struct mend_parser *p, const struct mend_sink *sink,
                       size_t col, const char *reason);

/* Hand one point to the sink; counts it. Returns the sink's code. */
int mend_ingest_emit(struct mend_parser *p, const struct mend_sink *sink,
                     const struct mend_point *pt);

/* Strict decimal float: [+-]digits[.digits][(e|E)[+-]digits] (".5" and
 * "5." allowed). Exact fast path for <= 15 significant digits and small
 * exponents, strtod otherwise; both give the correctly rounded result.
 * Returns 0, MEND_EPARSE (grammar) or MEND_ERANGE (overflow to Inf). */
int mend_ingest_number(const char *s, size_t n, double *out);

/* One complete line without its terminator (CR already stripped); the
 * line counter already names it. Return 0 or a negative code from
 * sink->point. */
int mend_ingest_lp_line(struct mend_parser *p, const char *s, size_t n,
                        const struct mend_sink *sink);
int mend_ingest_prom_line(struct mend_parser *p, const char *s, size_t n,
                          const struct mend_sink *sink);
int mend_ingest_csv_line(struct mend_parser *p, const char *s, size_t n,
                         const struct mend_sink *sink);

/* Sort tags by key in byte order unless already sorted (*was_sorted says
 * which); returns the index of a duplicate key (the one further right on
 * the line) or -1. */
long mend_ingest_sort_tags(struct mend_ingest_tag *t, size_t n, int *was_sorted);

#endif
