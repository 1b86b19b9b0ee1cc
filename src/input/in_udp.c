/* in_udp.c -- the "udp" input kind: a bound datagram socket
 * ("udp://HOST:PORT") speaking line protocol, or syslog with one message per
 * datagram ("syslog+udp://HOST:PORT", RFC 5426). Live only.
 *
 * One stream, hence one parser, per listener: a parser costs ~94 KB at the
 * default caps, far too much to create and free per datagram. A datagram
 * still ends its last line (mend_stream_record_end), so a datagram without
 * a final newline is complete and cannot join the next sender's bytes. A
 * datagram over 64 KiB arrives cut and is dropped whole (counted). */
#include "input_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define UDP_BURST 64 /* datagrams per readiness: bounded work per turn */

struct udp_in {
    int fd;
    struct mend_stream *st;
    char spec[300];
};

static int udp_claims(const char *spec)
{
    return !strncmp(spec, "udp://", 6) || !strncmp(spec, "syslog+udp://", 13);
}

static int udp_on_fd(struct mend_input *in, int fd, unsigned events)
{
    struct udp_in *u = mend_input_priv(in);
    char *buf = mend_input_buf(in, NULL);
    (void)fd;
    (void)events;
    for (int k = 0; k < UDP_BURST; k++) {
        struct iovec iov = {buf, MEND_INPUTS_SOCK_CHUNK};
        struct msghdr mh;
        memset(&mh, 0, sizeof mh);
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        ssize_t n = recvmsg(u->fd, &mh, MSG_DONTWAIT);
        int rc;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                mend_input_error(in, u->spec, "recvmsg", errno);
            return MEND_OK;
        }
        mend_input_stats(in)->datagrams++;
        if (mh.msg_flags & MSG_TRUNC) { /* a cut line would parse as garbage */
            mend_input_error(in, u->spec, "datagram over 64 KiB dropped", EMSGSIZE);
            continue;
        }
        if (n == 0)
            continue;
        mend_input_stats(in)->bytes += (uint64_t)n;
        if ((rc = mend_stream_data(u->st, buf, (size_t)n)) < 0)
            return rc;
        if ((rc = mend_stream_record_end(u->st)) < 0)
            return rc;
    }
    return MEND_OK;
}

static void udp_close(struct mend_input *in)
{
    struct udp_in *u = mend_input_priv(in);
    if (!u)
        return;
    mend_stream_free(u->st);
    mend_input_unwatch(in, u->fd);
    close(u->fd);
    free(u);
    mend_input_set_priv(in, NULL);
    mend_input_ended(in);
}

static int udp_open(struct mend_input *in, const char *spec, char *err, size_t errlen)
{
    struct udp_in *u = calloc(1, sizeof *u);
    int port = 0, rc;
    if (!u)
        return MEND_ENOMEM;
    snprintf(u->spec, sizeof u->spec, "%s", spec);
    unsigned flags = MEND_STREAM_LP;
    if (!strncmp(spec, "syslog+", 7)) { /* syslog, one message per datagram */
        flags = MEND_STREAM_SYSLOG | MEND_STREAM_DGRAM;
        spec += 7;
    }
    u->fd = mend_net_listen(spec, 1, &port, err, errlen);
    if (u->fd < 0) {
        rc = u->fd;
        free(u);
        return rc;
    }
    rc = mend_stream_open(in, u->spec, flags, &u->st);
    if (rc == MEND_OK && (rc = mend_input_watch(in, u->fd)) < 0)
        mend_stream_free(u->st);
    if (rc < 0) {
        close(u->fd);
        free(u);
        snprintf(err, errlen, "%s: %s", spec, mend_strerror(rc));
        return rc;
    }
    mend_input_set_port(in, port);
    mend_input_set_priv(in, u);
    return MEND_OK;
}

const struct mend_input_ops mend_input_udp_ops = {
    .kind = "udp",
    .claims = udp_claims,
    .open = udp_open,
    .on_fd = udp_on_fd,
    .on_timer = NULL,
    .peek_time = NULL,
    .close = udp_close,
};
