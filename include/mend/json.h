/* json.h -- the JSON value writers every mend output shares (incident lines
 * today; audit logs and actions later).
 *
 * Two promises make any line built from these writers valid JSON whatever
 * the input bytes are:
 *  - strings: bytes that are not well-formed UTF-8 never reach the output.
 *    Each maximal ill-formed subsequence (overlong forms, UTF-16 surrogates,
 *    code points above U+10FFFF, truncated sequences, stray continuation
 *    bytes: Unicode 15, section 3.9, "U+FFFD substitution of maximal
 *    subparts") becomes one U+FFFD. Control characters (U+0000..U+001F and
 *    DEL) are written as \u00XX, '"' and '\' are escaped, everything else
 *    passes through unchanged.
 *  - numbers: the shortest decimal that reads back (strtod, round to
 *    nearest) as the very same double, always with '.' as the decimal point
 *    whatever LC_NUMERIC says; NaN and the infinities become null.
 *
 * The writers append to a mend_wbuf and, like it, fail only by setting its
 * sticky `failed` flag (out of memory); callers check it once per line. */
#ifndef MEND_JSON_H
#define MEND_JSON_H

#include <stddef.h>

#include "mend/common.h"

/* Room mend_json_fmt_f64 needs, terminator included. */
#define MEND_JSON_NUM_MAX 32

/* Formats v as described above into buf (len >= MEND_JSON_NUM_MAX; less
 * gives "" and 0). Returns the length written, without the terminator.
 * Values with a decimal exponent in [-6, 15] are written plainly
 * ("0.000001", "123456.789", "1000000000000000"), others in exponent form
 * ("1e-7", "5e-324", "1.7976931348623157e308"); integral values carry no
 * fraction ("100"), except negative zero, written "-0.0" so readers that
 * map "-0" to an integer keep the sign. */
size_t mend_json_fmt_f64(double v, char *buf, size_t len);

/* Appends v as a JSON number (or null). */
void mend_json_num(struct mend_wbuf *w, double v);

/* Appends (p, n) as a quoted JSON string; p need not be NUL-terminated and
 * may hold any bytes. */
void mend_json_str(struct mend_wbuf *w, const char *p, size_t n);

/* Appends the NUL-terminated s verbatim: for keys, punctuation and other
 * text the caller knows is already valid JSON. */
void mend_json_raw(struct mend_wbuf *w, const char *s);

#endif
