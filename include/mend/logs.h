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

#endif
