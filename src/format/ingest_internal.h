/* ingest_internal.h -- what the generic parser (ingest.c) and the built-in
 * formats (ingest_lp.c, ingest_prom.c, ingest_csv.c) share beyond the
 * public plug-in interface of format.h. Not installed; nothing outside
 * src/format should include it.
 *
 * The generic struct mend_parser holds only what every format needs (the
 * framing carry buffer, counters, options); each format keeps its own state
 * struct, allocated once in its init and sized from the caps in
 * mend_ingest_opts, so parsing a line never allocates. */
#ifndef MEND_INGEST_INTERNAL_H
#define MEND_INGEST_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mend/common.h"
#include "mend/format.h"
#include "mend/ingest.h"
#include "mend/timefmt.h"

#define MEND_INGEST_MAX_FIELDS 1024  /* LP fields per line */

struct mend_parser {
    const struct mend_format_ops *ops;
    void *state;          /* the format's own, from ops->init */
    struct mend_ingest_opts o;
    struct mend_parse_stats st;
    uint64_t line_no;
    int64_t default_time;
    int has_default_time;

    char *pend;           /* partial record carried between feeds, max_line + 1 */
    size_t pend_len;
    int skipping;         /* inside an overlong line: drop bytes until LF */
    int open_rec;         /* the carried record continues past an LF (ops->record_open) */
    size_t scan_pos;      /* record_open's resume point inside the record */
    unsigned scan_mode;   /* record_open's own state */
    int may_continue;     /* ops->line may answer MEND_EAGAIN for this record */
};

/* A tag or label: LP and Prometheus share the sort. */
struct mend_ingest_tag {
    const char *k, *v;    /* borrowed from the line (LP) or the unescape buffer (prom) */
    size_t kl, vl;
    uint32_t col;         /* 1-based column of the key, for error messages */
};

/* Sort tags by key in byte order unless already sorted (*was_sorted says
 * which); returns the index of a duplicate key (the one further right on
 * the line) or -1. */
long mend_ingest_sort_tags(struct mend_ingest_tag *t, size_t n, int *was_sorted);

/* Strict decimal float: [+-]digits[.digits][(e|E)[+-]digits] (".5" and
 * "5." allowed). Exact fast path for <= 15 significant digits and small
 * exponents, the locale-free mend_parse_f64 otherwise; both give the
 * correctly rounded result. Returns 0, MEND_EPARSE (grammar) or
 * MEND_ERANGE (overflow to Inf). */
int mend_ingest_number(const char *s, size_t n, double *out);

/* mend_format_emit for the built-in formats, inlined into their per-field
 * loops (one call less per point on the hot path). */
static inline int mend_ingest_emit(struct mend_parser *p, const struct mend_sink *sink,
                                   const struct mend_point *pt)
{
    p->st.points++;
    if (!sink || !sink->point)
        return MEND_OK;
    int rc = sink->point(sink->ctx, pt);
    return rc < 0 ? rc : MEND_OK;
}

/* An event time in ns is inside the documented range (timefmt.h). */
static inline int mend_ingest_time_ok(int64_t t)
{
    return t >= MEND_TIME_MIN_NS && t <= MEND_TIME_MAX_NS;
}

/* The first non-blank, non-comment line of a stream head (CR removed,
 * leading blanks skipped), looking at 16 lines at most. 1 with the line in s and n, or 0. */
int mend_ingest_first_line(const char *head, size_t len, const char **s, size_t *n);

/* The entity tags: ingest opts' entity_tag is a comma list of tag/label
 * names tried in order ("host,instance": a sample's entity is its host tag,
 * else its instance label). Borrows the opts' string. */
#define MEND_INGEST_MAX_ETAGS 8
struct mend_ingest_etags {
    const char *n[MEND_INGEST_MAX_ETAGS];
    size_t l[MEND_INGEST_MAX_ETAGS];
    size_t count;
};
void mend_ingest_etags_init(struct mend_ingest_etags *et, const char *list);
/* The rank (0 = first) of tag name k in the list, or -1. */
static inline int mend_ingest_etag_rank(const struct mend_ingest_etags *et, const char *k, size_t kl)
{
    for (size_t i = 0; i < et->count; i++) {
        /* names are a few bytes: a byte loop, not a call to memcmp */
        if (et->l[i] != kl)
            continue;
        size_t j = 0;
        while (j < kl && et->n[i][j] == k[j])
            j++;
        if (j == kl)
            return (int)i;
    }
    return -1;
}

extern const struct mend_format_ops mend_format_lp;
extern const struct mend_format_ops mend_format_prom;
extern const struct mend_format_ops mend_format_csv;
extern const struct mend_format_ops mend_format_csvlong; /* timestamp,tags...,metric,value */
extern const struct mend_format_ops mend_format_syslog; /* fmt_logs.c */
extern const struct mend_format_ops mend_format_json;
extern const struct mend_format_ops mend_format_text;

#endif
