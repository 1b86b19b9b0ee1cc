/* format.h -- the format plug-in interface: how a wire format (line
 * protocol, Prometheus text, CSV, and later log templates) plugs into the
 * generic parser of ingest.h.
 *
 * A format is one `static const struct mend_format_ops` (the type, shared)
 * plus a state it allocates in init (the instance, one per parser). The
 * generic parser owns everything that is the same for every format: line
 * framing (LF or CRLF, across arbitrary feed boundaries), the bounded carry
 * of a partial line, the overlong-line error, line numbers and counters.
 * A format only ever sees one complete record at a time, without its line
 * terminator, and reports through mend_format_emit / mend_format_error.
 *
 * Built-in formats are found by name with mend_format_lookup ("lp",
 * "prom", "csv" and their aliases); any other ops table, for example one
 * defined inside a test, is used with mend_parser_new_ops, and nothing
 * else has to change. */
#ifndef MEND_FORMAT_H
#define MEND_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "mend/common.h"
#include "mend/ingest.h"

struct mend_format_ops {
    const char *name;               /* canonical name, e.g. "lp" */
    const char *const *aliases;     /* other accepted names, NULL-terminated; may be NULL */
    const char *const *exts;        /* file name extensions without the dot; may be NULL */

    /* Allocate the per-parser state from the (already defaulted and
     * checked) options; *state may stay NULL. Return 0 or MEND_ENOMEM /
     * MEND_EINVAL; on error nothing is left to free. */
    int (*init)(struct mend_parser *p, const struct mend_ingest_opts *o, void **state);

    /* One record without its terminator (a trailing CR already removed),
     * at most max_line bytes, borrowed for the call. Deliver points with
     * mend_format_emit and errors with mend_format_error. Return 0, a
     * negative code from the sink (stops the feed), or MEND_EAGAIN when the
     * LF that ended this text lies inside the record (a quoted string
     * spanning lines): then nothing may have been emitted or reported, and
     * the framer calls record_open to find the real end. Only when
     * mend_format_may_continue(p) says so (the format has record_open and
     * the input has not ended) may line return MEND_EAGAIN; otherwise it
     * reports the unterminated quote itself. */
    int (*line)(struct mend_parser *p, void *state, const char *s, size_t n,
                const struct mend_sink *sink);

    /* Emit what a time-driven format holds (for example a log template's
     * per-interval counts) as of now_ns. May be NULL. */
    int (*flush)(struct mend_parser *p, void *state, int64_t now_ns, const struct mend_sink *sink);

    /* Does the head of a stream (its first bytes, not NUL-terminated) look
     * like this format? 1 yes, 0 no. Formats are asked in registry order
     * (prom, lp, csv) and the first yes wins. May be NULL (never guessed). */
    int (*guess)(const char *head, size_t len);

    /* Resumable scan used only after line returned MEND_EAGAIN: scans
     * s[*pos, n), keeping its position in *pos and its own small state in
     * *mode (both 0 at the start of a record), and returns 1 when the text
     * so far ends inside the record (the next LF belongs to it), 0 when it
     * is complete. Linear over the record whatever the number of LFs. */
    int (*record_open)(const char *s, size_t n, size_t *pos, unsigned *mode);

    /* Free the state from init (may be NULL). */
    void (*fini)(void *state);
};

/* Built-in format by name or alias (case-insensitive); NULL when unknown. */
const struct mend_format_ops *mend_format_lookup(const char *name);

/* The built-in ops behind an enum value; NULL for an invalid value. */
const struct mend_format_ops *mend_format_ops_of(enum mend_format f);

/* A parser driven by any ops table. ops must outlive the parser (normally
 * it is static); o as for mend_parser_new. Returns 0, MEND_EINVAL (bad
 * options, or ops without name or line), MEND_ENOMEM, or init's code. */
int mend_parser_new_ops(const struct mend_format_ops *ops, const struct mend_ingest_opts *o,
                        struct mend_parser **out);

/* ---- services for format implementations ------------------------------ */

/* Report an error on the current record at 1-based column col and count it. */
void mend_format_error(struct mend_parser *p, const struct mend_sink *sink, size_t col,
                       const char *reason);

/* Hand one point to the sink and count it. Returns the sink's code (< 0
 * stops the feed) or 0. */
int mend_format_emit(struct mend_parser *p, const struct mend_sink *sink,
                     const struct mend_point *pt);

/* The parser's effective options (defaults filled in). */
const struct mend_ingest_opts *mend_format_opts(const struct mend_parser *p);

/* The counters, for format-specific ones (comments, strings_skipped). */
struct mend_parse_stats *mend_format_stats(struct mend_parser *p);

/* The scrape time set with mend_parser_set_default_time: 1 and *t_ns when
 * set, else 0. */
int mend_format_default_time(const struct mend_parser *p, int64_t *t_ns);

/* 1-based number of the record being parsed. */
uint64_t mend_format_line_no(const struct mend_parser *p);

/* 1 when ops->line may answer MEND_EAGAIN for the record it is parsing. */
int mend_format_may_continue(const struct mend_parser *p);

/* 1 when s[0, n) is valid UTF-8 without control characters (C0, DEL, C1)
 * and without U+FFFD, the rule both reference parsers apply to names;
 * else 0 with *bad the offset of the first offending byte. */
int mend_format_name_ok(const char *s, size_t n, size_t *bad);

#endif
