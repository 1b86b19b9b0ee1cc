/* numfmt.h -- doubles and integers as text, byte for byte what printf
 * writes, without printf: its exact decimal conversion of a double is a
 * multi-precision division, and the per-sample scores CSV (`--scores`)
 * spent most of a replay there.
 *
 * mend_fmt_g17 writes what "%.17g" writes and mend_fmt_f6 what "%.6f"
 * writes, in the C locale (a '.' for the point), rounding the exact binary
 * value half to even as glibc does. Values in the usual range are
 * converted with 128-bit integer arithmetic, exactly; the rest (very large
 * or small magnitudes, Inf, NaN) are handed to snprintf, so every double
 * gives printf's bytes. No state, no allocation, thread-safe. */
#ifndef MEND_NUMFMT_H
#define MEND_NUMFMT_H

#include <stddef.h>
#include <stdint.h>

/* Room for any mend_fmt_g17 result and its NUL ("-1.2345678901234567e-308"). */
#define MEND_FMT_G17_MAX 32
/* Room for any mend_fmt_f6 result and its NUL (-DBL_MAX has 309 integer digits). */
#define MEND_FMT_F6_MAX 320

/* "%.17g" of v into buf (MEND_FMT_G17_MAX bytes), NUL-terminated; returns
 * the length. */
size_t mend_fmt_g17(char *buf, double v);
/* "%.6f" of v into buf (MEND_FMT_F6_MAX bytes), NUL-terminated; returns the
 * length. */
size_t mend_fmt_f6(char *buf, double v);
/* "%" PRId64 of v into buf (21 bytes at least), NUL-terminated; returns the
 * length. */
size_t mend_fmt_i64(char *buf, int64_t v);

#endif
