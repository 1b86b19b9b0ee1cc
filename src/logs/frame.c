/* frame.c -- syslog framing over stream and datagram sockets, RFC 6587
 * (see include/mend/logs.h). Octet-counted messages are copied out in
 * pieces between their CR/LF bytes, so a message that spans any number of
 * reads costs no buffer beyond the caller's. */
#include <string.h>

#include "mend/logs.h"

void mend_syslog_frame_init(struct mend_syslog_frame *f, int dgram)
{
    memset(f, 0, sizeof *f);
    f->dgram = dgram;
}

/* buf[0, n) with every CR and LF given out as a space. */
static int out_flat(const char *buf, size_t n, int (*out)(void *, const char *, size_t), void *ctx)
{
    size_t b = 0;
    for (size_t i = 0; i < n; i++) {
        if (buf[i] != '\n' && buf[i] != '\r')
            continue;
        int rc;
        if (i > b && (rc = out(ctx, buf + b, i - b)) < 0)
            return rc;
        if ((rc = out(ctx, " ", 1)) < 0)
            return rc;
        b = i + 1;
    }
    return n > b ? out(ctx, buf + b, n - b) : 0;
}

int mend_syslog_frame_feed(struct mend_syslog_frame *f, const char *buf, size_t len,
                           int (*out)(void *ctx, const char *p, size_t n), void *ctx)
{
    if (f->dgram) {
        while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == '\0'))
            len--;
        return out_flat(buf, len, out, ctx);
    }
    size_t i = 0;
    while (i < len) {
        if (f->mode == 2)
            return out(ctx, buf + i, len - i);
        if (f->mode == 0) {
            char c = buf[i];
            if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
                i++;
                continue;
            }
            f->mode = c >= '0' && c <= '9' ? 1 : 2;
            continue;
        }
        if (f->want) { /* inside an octet-counted message */
            size_t take = len - i < f->want ? len - i : f->want;
            int rc = out_flat(buf + i, take, out, ctx);
            if (rc < 0)
                return rc;
            i += take;
            f->want -= take;
            if (!f->want) {
                f->frames++;
                if ((rc = out(ctx, "\n", 1)) < 0)
                    return rc;
            }
            continue;
        }
        char c = buf[i];
        if (f->len_n == 0 && (c == '\n' || c == '\r' || c == ' ')) {
            i++; /* some senders end frames with a newline as well */
            continue;
        }
        if (c >= '0' && c <= '9' && f->len_n < 8 && !(f->len_n == 0 && c == '0')) {
            f->len_buf[f->len_n++] = c;
            i++;
            continue;
        }
        if (c == ' ' && f->len_n > 0) {
            size_t v = 0;
            for (size_t k = 0; k < f->len_n; k++)
                v = v * 10 + (size_t)(f->len_buf[k] - '0');
            f->len_n = 0;
            f->want = v;
            i++;
            continue;
        }
        /* not a length: newline framing from here on, the digits as text */
        f->bad++;
        f->mode = 2;
        if (f->len_n) {
            int rc = out(ctx, f->len_buf, f->len_n);
            f->len_n = 0;
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}
