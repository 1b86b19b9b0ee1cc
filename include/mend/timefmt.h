/* timefmt.h -- timestamp text to nanoseconds since the Unix epoch.
 *
 * Used by the CSV parser and by anything else that reads human timestamps
 * (config, CLI ranges). Both parsers work over (s, len) without needing a
 * NUL, and never consult the locale or the process time zone. */
#ifndef MEND_TIMEFMT_H
#define MEND_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

/* ISO-8601 / RFC 3339 date-time: "YYYY-MM-DD", then optionally 'T', 't' or
 * one space and "hh:mm[:ss[.fraction]]", then optionally "Z"/"z" or an
 * offset "+hh:mm", "+hhmm", "+hh". No zone means UTC. The fraction may have
 * any number of digits; digits past nanoseconds are truncated. Leading and
 * trailing blanks are ignored. Returns 0, MEND_EPARSE on malformed text or
 * out-of-range fields (month 13, 25:00, Feb 30), MEND_ERANGE when the
 * result does not fit in int64 ns (years before 1678 or after 2262). */
int mend_time_parse_iso8601(const char *s, size_t len, int64_t *ns);

/* Epoch number: integer or decimal ("1396000000", "1396000000.25"), unit
 * judged by magnitude of the integer part: < 1e11 seconds, < 1e14
 * milliseconds, < 1e17 microseconds, else nanoseconds. A fraction scales
 * with the unit. Negative values are accepted (seconds before 1970).
 * Returns 0, MEND_EPARSE or MEND_ERANGE (overflow). */
int mend_time_parse_epoch(const char *s, size_t len, int64_t *ns);

/* Either of the above: ISO-8601 when the (trimmed) text has a '-' at index
 * 4, as in "2014-04-10", else an epoch number. */
int mend_time_parse_any(const char *s, size_t len, int64_t *ns);

#endif
