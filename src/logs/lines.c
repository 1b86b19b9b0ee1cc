/* lines.c -- the bounded line splitter of logs.h: one read(2) buffer, lines
 * handed out in place, over-long lines cut rather than buffered. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mend/logs.h"

#define LINES_MIN_BUF (1u << 20) /* fewer, larger reads */

int mend_loglines_init(struct mend_loglines *l, size_t max_line)
{
    memset(l, 0, sizeof *l);
    if (max_line == 0 || max_line > ((size_t)1 << 30))
        return MEND_EINVAL;
    l->max_line = max_line;
    l->cap = max_line + 1 > LINES_MIN_BUF ? max_line + 1 : LINES_MIN_BUF;
    l->buf = malloc(l->cap);
    return l->buf ? MEND_OK : MEND_ENOMEM;
}

void mend_loglines_fini(struct mend_loglines *l)
{
    free(l->buf);
    memset(l, 0, sizeof *l);
}

int mend_loglines_next(struct mend_loglines *l, int fd, const char **line, size_t *len, int *cut)
{
    *cut = 0;
    for (;;) {
        char *s = l->buf + l->start;
        size_t avail = l->end - l->start;
        char *nl = memchr(s, '\n', avail);
        if (nl) {
            size_t n = (size_t)(nl - s);
            l->start += n + 1;
            if (l->skipping) { /* the tail of a line already handed out cut */
                l->skipping = 0;
                continue;
            }
            if (n > l->max_line) {
                n = l->max_line;
                *cut = 1;
                l->long_lines++;
            } else if (n && s[n - 1] == '\r') {
                n--;
            }
            *line = s;
            *len = n;
            l->lines++;
            return 1;
        }
        if (l->skipping) {
            l->start = l->end = 0;
        } else if (avail > l->max_line) {
            *line = s;
            *len = l->max_line;
            *cut = 1;
            l->long_lines++;
            l->lines++;
            l->skipping = 1;
            l->start = l->end; /* the rest, up to the newline, is dropped */
            return 1;
        } else if (l->eof) {
            if (!avail)
                return 0;
            l->start = l->end;
            *line = s;
            *len = avail;
            l->lines++;
            return 1;
        }
        if (l->eof) /* skipping to a newline that never came */
            return 0;
        /* compact, then fill */
        if (l->start) {
            memmove(l->buf, l->buf + l->start, l->end - l->start);
            l->end -= l->start;
            l->start = 0;
        }
        ssize_t got;
        do
            got = read(fd, l->buf + l->end, l->cap - l->end);
        while (got < 0 && errno == EINTR);
        if (got < 0)
            return MEND_EIO;
        if (got == 0)
            l->eof = 1;
        else
            l->end += (size_t)got;
    }
}
