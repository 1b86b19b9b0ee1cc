/* ingest.h -- wire-format parsers: InfluxDB line protocol, Prometheus text
 * exposition 0.0.4 and CSV with a header, turned into mend_point samples.
 *
 * A parser is a small stateful object fed arbitrary byte chunks (a socket
 * read, a file block, a UDP datagram). It splits them into lines (LF or
 * CRLF), keeps a bounded trailing partial line between feeds, parses each
 * complete line and hands every numeric sample to a mend_sink. Nothing is
 * allocated per line: the canonical series key is built in a scratch buffer
 * owned by the parser and lent to sink->point for the duration of the call.
 *
 * Canonical keys (what the engine uses to name a series):
 *   lp    measurement[,tag=val...] field   tags sorted by key (byte order),
 *         everything in its escaped line-protocol form, one space before the
 *         field key: "cpu,host=a,region=eu usage_idle".
 *   prom  name[,label=val...]              labels sorted, values unescaped
 *         then re-escaped with LP tag escaping (`,` `=` ` ` get a backslash),
 *         no field part: "node_cpu_seconds_total,cpu=0,mode=idle".
 *   csv   the column header text, trimmed and unquoted.
 *
 * Kinds (mend_point.kind): the Prometheus parser marks counters from the
 * last "# TYPE" line (counter; histogram _bucket/_sum/_count; summary
 * _sum/_count) or, without one, a `_total` name; everything else, and every
 * LP and CSV point, is a gauge -- the engine matches counters.patterns
 * against LP keys itself (engine.h).
 *
 * Errors on a line are reported through sink->error with a 1-based line
 * and column and a short reason; the rest of that line is skipped (CSV: the
 * bad cell only) and parsing continues.
 *
 * Every timestamp a parser delivers lies in [MEND_TIME_MIN_NS,
 * MEND_TIME_MAX_NS] (years 1678..2261, see timefmt.h); anything else,
 * including a value that overflows int64 after the precision multiply, is
 * a line error at the timestamp's column.
 *
 * Numbers are read the same whatever LC_NUMERIC says.
 *
 * The formats themselves are plug-ins (format.h: an ops table and a state
 * per parser); the enum below names the built-in ones, and format.h's
 * mend_parser_new_ops takes any other. */
#ifndef MEND_INGEST_H
#define MEND_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "mend/common.h"

enum mend_format { MEND_FMT_LP, MEND_FMT_PROM, MEND_FMT_CSV, MEND_FMT_CSV_LONG /* "csvlong": never guessed */,
                   MEND_FMT_SYSLOG, MEND_FMT_JSON, MEND_FMT_TEXT /* log formats, fmt_logs.c */ };

struct mend_logsig;

struct mend_ingest_opts {
    const char *entity_tag;   /* tag/label whose value names the entity (default "host"); NULL = none.
                                 A comma list ("host,instance") is tried in order: the first
                                 name the sample carries wins (at most 8 names) */
    size_t max_line;          /* default 65536 bytes; longer lines are an error (counted), not truncated into garbage */
    size_t max_tags;          /* default 64 tags/labels per line */
    size_t max_key;           /* default 1024 bytes per canonical series key */
    int64_t precision_ns;     /* line protocol timestamp unit in ns: 1 (ns, default), 1000 (us), 1000000 (ms), 1000000000 (s) */
    int keep_nonfinite;       /* 0 (default): NaN/±Inf values (and LP/CSV values that overflow
                                 a double) are rejected with an error and counted; 1: kept */
    struct mend_logsig *logs; /* log formats: the shared log-signal context (logsig.h),
                                 borrowed, must outlive the parser; NULL = each parser
                                 makes its own with the defaults */
};

/* Caps that are not in mend_ingest_opts (kept out to preserve its layout). */
#define MEND_INGEST_MAX_COLUMNS 1024   /* CSV columns per header; more are reported and ignored */
/* LP field values per line are capped at 1024 (an error beyond that). */

void mend_ingest_opts_defaults(struct mend_ingest_opts *o);

struct mend_parser;

/* opts is copied (entity_tag string must outlive the parser); o may be NULL
 * for defaults. Zero caps in o are replaced by the defaults; precision_ns
 * must be 1, 1000, 1000000 or 1000000000 (else MEND_EINVAL). */
int mend_parser_new(enum mend_format f, const struct mend_ingest_opts *o, struct mend_parser **out);
void mend_parser_free(struct mend_parser *p);

/* Feed any number of bytes: every complete line (LF or CRLF) is parsed and
 * its points are passed to sink->point; a trailing partial line is kept
 * (bounded by max_line) until the next feed or finish. Errors go to
 * sink->error(ctx, line, col, reason) and are counted; parsing goes on with
 * the next line. Returns 0, or the first negative code returned by sink->point
 * (which stops the feed). buf is borrowed; sink->error may be NULL.
 * When the sink stops a feed, the points of that line not yet delivered and
 * the rest of buf are dropped and no partial line is kept; the parser stays
 * usable for the next feed.
 * LP lines are taken whole or rejected whole; a CSV row keeps its good
 * cells when another cell is bad. */
int mend_parser_feed(struct mend_parser *p, const char *buf, size_t len, const struct mend_sink *sink);

/* End of stream (or end of a UDP datagram): parse a kept partial line. A
 * record still open at the end (an LP string field never closed) is an
 * error. */
int mend_parser_finish(struct mend_parser *p, const struct mend_sink *sink);

/* Let a format that emits per interval (format.h: flush) deliver what it
 * holds as of now_ns (event time in replay, the clock in run). 0 when the
 * format has no flush; else its result. */
int mend_parser_flush(struct mend_parser *p, int64_t now_ns, const struct mend_sink *sink);

/* lines: every line seen, blank and comment lines included; points:
 * delivered to sink->point; errors: calls to sink->error (an overlong line
 * counts in both errors and overlong); strings_skipped: LP string fields;
 * comments: '#' lines of LP and Prometheus. */
struct mend_parse_stats { uint64_t lines, points, errors, strings_skipped, overlong, comments; };
void mend_parser_stats(const struct mend_parser *p, struct mend_parse_stats *out);

/* For Prometheus samples without a timestamp: the time to stamp them with (the scrape time).
 * Such samples then carry has_time = 1. LP lines without a timestamp keep
 * has_time = 0 whatever is set here. */
void mend_parser_set_default_time(struct mend_parser *p, int64_t t_ns);

/* Guess from a path's extension (.lp .line .influx -> LP, .prom -> PROM, .csv -> CSV), else from the first bytes; MEND_ENOTFOUND when unsure. path may be NULL. */
int mend_format_guess(const char *path, const char *head, size_t len, enum mend_format *out);
const char *mend_format_name(enum mend_format f);           /* "lp", "prom", "csv" */
int mend_format_parse(const char *name, enum mend_format *out); /* inverse, MEND_EINVAL on unknown */

#endif
