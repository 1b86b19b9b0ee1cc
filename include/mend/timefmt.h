/* timefmt.h -- timestamp text to nanoseconds since the Unix epoch.
 *
 * The one timestamp parser of mend: the CSV format, `mend score` and
 * `mend eval` read time through it, so what one accepts the others do too.
 * The parsers work over (s, len) without needing a NUL, and never consult
 * the locale or the process time zone. */
#ifndef MEND_TIMEFMT_H
#define MEND_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

/* The event times mend accepts, everywhere: 1678-01-01T00:00:00Z to
 * 2261-12-31T23:59:59.999999999Z. int64 nanoseconds reach from 1677-09-21
 * to 2262-04-11; keeping whole years a little inside those ends leaves room
 * for the engine's lateness and interval arithmetic near the edges, and no
 * real recording is dated outside it. Anything outside is MEND_ERANGE here
 * and a line error in the parsers of ingest.h. */
#define MEND_TIME_MIN_NS (-INT64_C(9214560000000000000))
#define MEND_TIME_MAX_NS INT64_C(9214646399999999999)

/* ISO-8601 / RFC 3339 date-time: "YYYY-MM-DD", then optionally 'T', 't' or
 * one space and "hh:mm[:ss[.fraction]]", then optionally "Z"/"z" or an
 * offset "+hh:mm", "+hhmm", "+hh". No zone means UTC. The fraction may have
 * any number of digits; digits past nanoseconds are truncated. Leading and
 * trailing blanks are ignored. Returns 0, MEND_EPARSE on malformed text or
 * out-of-range fields (month 13, 25:00, Feb 30), MEND_ERANGE when the
 * result lies outside [MEND_TIME_MIN_NS, MEND_TIME_MAX_NS]. */
int mend_time_parse_iso8601(const char *s, size_t len, int64_t *ns);

/* Epoch number: integer or decimal ("1396000000", "1396000000.25"; a '.'
 * needs digits on both sides), or exponent form ("1.396e9"), unit judged by
 * magnitude of the integer part: < 1e11 seconds, < 1e14 milliseconds,
 * < 1e17 microseconds, else nanoseconds. A fraction scales with the unit.
 * Negative values are accepted (seconds before 1970). Returns 0,
 * MEND_EPARSE or MEND_ERANGE (outside [MEND_TIME_MIN_NS, MEND_TIME_MAX_NS]). */
int mend_time_parse_epoch(const char *s, size_t len, int64_t *ns);

/* Either of the above: ISO-8601 when the (trimmed) text has a '-' at index
 * 4, as in "2014-04-10", else an epoch number. */
int mend_time_parse_any(const char *s, size_t len, int64_t *ns);

#endif
