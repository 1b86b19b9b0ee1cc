/* logs.h -- reading log messages: a bounded line splitter over a file
 * descriptor. The template miner itself is in template.h.
 *
 * Memory is bounded by the longest line accepted: a longer line is cut to
 * max_line bytes (its tail skipped up to the next newline) and flagged, so a
 * stream without newlines cannot grow the buffer. */
#ifndef MEND_LOGS_H
#define MEND_LOGS_H

#include <stddef.h>
#include <stdint.h>

#include "mend/common.h"

struct mend_loglines {
    char *buf;
    size_t cap, start, end;
    size_t max_line;
    int eof, skipping;
    uint64_t lines;      /* lines returned */
    uint64_t long_lines; /* lines cut at max_line */
};

/* max_line >= 1. Returns 0 or MEND_EINVAL / MEND_ENOMEM. */
int mend_loglines_init(struct mend_loglines *l, size_t max_line);
void mend_loglines_fini(struct mend_loglines *l);

/* The next line read from fd, without its "\n" (or "\r\n"); *line is
 * borrowed until the next call. A last line without a newline counts. *cut
 * is set to 1 when the line was longer than max_line and cut. Returns 1 with
 * a line, 0 at the end of input, or MEND_EIO (errno kept). */
int mend_loglines_next(struct mend_loglines *l, int fd, const char **line, size_t *len, int *cut);

/* ---- syslog framing (RFC 6587) -------------------------------------------
 * Syslog over a stream socket comes either octet-counted ("LEN SP MSG",
 * LEN in decimal, no terminator) or newline-delimited. A framer decides per
 * connection from its first byte that is not a blank or line end: a digit
 * means octet counting, anything else newline framing. Its output is
 * newline-delimited records for the ordinary line parser: octet-counted
 * messages come out with their own CR and LF bytes turned into spaces and
 * one LF appended, newline-framed bytes unchanged. In datagram mode (UDP,
 * one message per datagram) each feed is one whole message: trailing LF,
 * CR and NUL bytes are dropped and inner CR/LF become spaces, with no LF
 * appended (the caller ends the record). A length field that is not 1 to
 * 8 digits then a space is a framing error (counted in bad): the connection
 * falls back to newline framing, and the bytes read so far go out as text
 * (so the parser reports them). No allocation; the state is a few words. */
struct mend_syslog_frame {
    int mode;            /* 0 undecided, 1 octet counting, 2 newline */
    int dgram;           /* 1: one message per feed */
    size_t want;         /* octet counting: message bytes still to come; 0 = reading LEN */
    char len_buf[9];     /* the LEN digits read so far */
    size_t len_n;
    uint64_t frames;     /* octet-counted messages completed */
    uint64_t bad;        /* framing errors */
};
void mend_syslog_frame_init(struct mend_syslog_frame *f, int dgram);
/* Frames buf[0, len) and hands the records' bytes to out in order (any
 * number of calls, borrowed bytes). Returns 0 or out's first negative
 * code (the rest of buf is then dropped). */
int mend_syslog_frame_feed(struct mend_syslog_frame *f, const char *buf, size_t len,
                           int (*out)(void *ctx, const char *p, size_t n), void *ctx);

#endif
