/* in_tcp.c -- the "tcp" input kind: a listener ("tcp://HOST:PORT") and the
 * connections it accepts, each one stream of line protocol named
 * "tcp:PEER" ("syslog+tcp://HOST:PORT": syslog, RFC 6587 framing told per
 * connection, see logs.h). Live only (no peek_time): a socket cannot be replayed.
 *
 * Defences, all counted in the set's stats:
 *   - at conf.max_conns the least recently active connection is closed for
 *     the newcomer (evicted), so idle or stuck clients cannot lock the others
 *     out; a periodic scan closes connections silent for
 *     conf.idle_timeout_ns;
 *   - when accept(2) fails for lack of fds (EMFILE, ENFILE, ENOBUFS, ENOMEM)
 *     the listener leaves the loop for conf.accept_pause_ns instead of being
 *     reported ready again at once (which spun a core at 100%);
 *   - a connection that ends in the middle of a line does not finish it: the
 *     stream counts the line as truncated and drops it. */
#include "input_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TCP_ACCEPT_BURST 64 /* accepts per readiness: bounded work per turn */

struct tcp_conn {
    int fd;
    struct mend_stream *st;
    int64_t last; /* loop time of the last bytes (or the accept) */
};

struct tcp_in {
    int lfd;
    int listening;        /* lfd is in the loop */
    int64_t paused_until; /* loop time to take lfd back after EMFILE */
    struct tcp_conn *conns;
    size_t n, cap;
    int32_t *slot;        /* conn index by fd, -1 = none */
    size_t cap_slot;
    char spec[300];
    unsigned flags;       /* stream flags: line protocol, or syslog ("syslog+tcp://") */
};

static int tcp_claims(const char *spec)
{
    return !strncmp(spec, "tcp://", 6) || !strncmp(spec, "syslog+tcp://", 13);
}

static void conn_drop(struct mend_input *in, struct tcp_in *t, size_t i, int *rc)
{
    struct tcp_conn *c = &t->conns[i];
    int r = mend_stream_end(c->st, 1);
    if (rc && *rc == MEND_OK)
        *rc = r;
    mend_stream_free(c->st);
    mend_input_unwatch(in, c->fd);
    close(c->fd);
    t->slot[c->fd] = -1;
    mend_input_stats(in)->open_conns--;
    t->conns[i] = t->conns[--t->n];
    if (i < t->n)
        t->slot[t->conns[i].fd] = (int32_t)i;
}

static int slot_grow(struct tcp_in *t, int fd)
{
    if ((size_t)fd < t->cap_slot)
        return MEND_OK;
    if (fd >= MEND_LOOP_MAX_FDS)
        return MEND_ECAP;
    size_t cap = t->cap_slot ? t->cap_slot : 64;
    while (cap <= (size_t)fd)
        cap *= 2;
    int32_t *p = realloc(t->slot, cap * sizeof *p);
    if (!p)
        return MEND_ENOMEM;
    for (size_t i = t->cap_slot; i < cap; i++)
        p[i] = -1;
    t->slot = p;
    t->cap_slot = cap;
    return MEND_OK;
}

static int conn_add(struct mend_input *in, struct tcp_in *t, int fd, const char *peer)
{
    const struct mend_input_conf *conf = mend_input_conf(in);
    int rc = MEND_OK;
    if (t->n >= conf->max_conns) {
        /* the cap: make room by closing the least recently active one */
        size_t old = 0;
        for (size_t i = 1; i < t->n; i++)
            if (t->conns[i].last < t->conns[old].last)
                old = i;
        conn_drop(in, t, old, &rc);
        mend_input_stats(in)->evicted++;
        if (rc < 0)
            return rc;
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        if (cap > conf->max_conns)
            cap = conf->max_conns;
        struct tcp_conn *p = realloc(t->conns, cap * sizeof *p);
        if (!p)
            return MEND_ENOMEM;
        t->conns = p;
        t->cap = cap;
    }
    if ((rc = slot_grow(t, fd)) < 0)
        return rc;
    struct tcp_conn *c = &t->conns[t->n];
    c->fd = fd;
    c->last = mend_loop_now(mend_input_loop(in));
    if ((rc = mend_stream_open(in, peer, t->flags, &c->st)) < 0)
        return rc;
    if ((rc = mend_input_watch(in, fd)) < 0) {
        mend_stream_free(c->st);
        return rc;
    }
    t->slot[fd] = (int32_t)t->n++;
    mend_input_stats(in)->open_conns++;
    return MEND_OK;
}

static int tcp_accept(struct mend_input *in, struct tcp_in *t)
{
    for (int k = 0; k < TCP_ACCEPT_BURST; k++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        char peer[MEND_NET_PEER_MAX];
        int fd = accept(t->lfd, (struct sockaddr *)&ss, &sl), rc;
        if (fd < 0) {
            int e = errno;
            if (e == EINTR || e == ECONNABORTED)
                continue;
            if (e == EAGAIN || e == EWOULDBLOCK)
                return MEND_OK;
            mend_input_error(in, t->spec, "accept", e);
            if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
                /* the pending connection stays pending, so the listener stays
                 * ready: leave the loop for a while instead of spinning */
                const struct mend_input_conf *conf = mend_input_conf(in);
                int64_t now = mend_loop_now(mend_input_loop(in));
                mend_input_unwatch(in, t->lfd);
                t->listening = 0;
                t->paused_until = now > INT64_MAX - conf->accept_pause_ns ? INT64_MAX : now + conf->accept_pause_ns;
                mend_input_stats(in)->accept_paused++;
            }
            return MEND_OK;
        }
        if (mend_net_nonblock(fd) < 0) {
            mend_input_error(in, t->spec, "fcntl", errno);
            close(fd);
            continue;
        }
        mend_net_peer(peer, sizeof peer, "tcp", (struct sockaddr *)&ss, sl);
        rc = conn_add(in, t, fd, peer);
        if (rc == MEND_ENOMEM) {
            close(fd);
            return rc;
        }
        if (rc < 0) { /* no stream slot or fd too high: tell the peer at once */
            close(fd);
            mend_input_stats(in)->refused++;
        }
    }
    return MEND_OK;
}

static int tcp_read(struct mend_input *in, struct tcp_in *t, size_t i)
{
    struct tcp_conn *c = &t->conns[i];
    char *buf = mend_input_buf(in, NULL);
    ssize_t n = read(c->fd, buf, MEND_INPUTS_SOCK_CHUNK);
    int rc = MEND_OK;
    if (n > 0) {
        mend_input_stats(in)->bytes += (uint64_t)n;
        c->last = mend_loop_now(mend_input_loop(in));
        return mend_stream_data(c->st, buf, (size_t)n);
    }
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return MEND_OK;
    if (n < 0)
        mend_input_error(in, mend_stream_name(c->st), "read", errno);
    conn_drop(in, t, i, &rc);
    return rc;
}

static int tcp_on_fd(struct mend_input *in, int fd, unsigned events)
{
    struct tcp_in *t = mend_input_priv(in);
    (void)events;
    if (fd == t->lfd)
        return tcp_accept(in, t);
    if (fd < 0 || (size_t)fd >= t->cap_slot || t->slot[fd] < 0)
        return MEND_OK;
    return tcp_read(in, t, (size_t)t->slot[fd]);
}

static int tcp_on_timer(struct mend_input *in, int64_t now)
{
    struct tcp_in *t = mend_input_priv(in);
    const struct mend_input_conf *conf = mend_input_conf(in);
    int rc = MEND_OK;
    if (!t->listening && t->lfd >= 0 && now >= t->paused_until) {
        if (mend_input_watch(in, t->lfd) == MEND_OK)
            t->listening = 1;
    }
    if (conf->idle_timeout_ns > 0) {
        for (size_t i = t->n; i-- > 0;) {
            if (now - t->conns[i].last < conf->idle_timeout_ns)
                continue;
            conn_drop(in, t, i, &rc);
            mend_input_stats(in)->idle_closed++;
        }
    }
    return rc;
}

static void tcp_close(struct mend_input *in)
{
    struct tcp_in *t = mend_input_priv(in);
    if (!t)
        return;
    while (t->n)
        conn_drop(in, t, t->n - 1, NULL);
    if (t->lfd >= 0) {
        if (t->listening)
            mend_input_unwatch(in, t->lfd);
        close(t->lfd);
    }
    free(t->conns);
    free(t->slot);
    free(t);
    mend_input_set_priv(in, NULL);
    mend_input_ended(in);
}

static int tcp_open(struct mend_input *in, const char *spec, char *err, size_t errlen)
{
    const struct mend_input_conf *conf = mend_input_conf(in);
    struct tcp_in *t = calloc(1, sizeof *t);
    int port = 0, rc;
    if (!t)
        return MEND_ENOMEM;
    snprintf(t->spec, sizeof t->spec, "%s", spec);
    t->flags = MEND_STREAM_LP;
    if (!strncmp(spec, "syslog+", 7)) {
        t->flags = MEND_STREAM_SYSLOG;
        spec += 7;
    }
    t->lfd = mend_net_listen(spec, 0, &port, err, errlen);
    if (t->lfd < 0) {
        rc = t->lfd;
        free(t);
        return rc;
    }
    /* the scan: often enough to take the listener back soon after a pause
     * and to close idle connections within an eighth of their timeout */
    int64_t period = 1000000000LL;
    if (conf->accept_pause_ns > 0 && conf->accept_pause_ns < period)
        period = conf->accept_pause_ns;
    if (conf->idle_timeout_ns > 0 && conf->idle_timeout_ns / 8 < period)
        period = conf->idle_timeout_ns / 8;
    if (period < 1000000)
        period = 1000000;
    rc = mend_input_watch(in, t->lfd);
    if (rc == MEND_OK)
        rc = mend_input_every(in, period);
    if (rc < 0) {
        mend_input_unwatch(in, t->lfd);
        close(t->lfd);
        free(t);
        snprintf(err, errlen, "%s: %s", spec, mend_strerror(rc));
        return rc;
    }
    t->listening = 1;
    mend_input_set_port(in, port);
    mend_input_set_priv(in, t);
    return MEND_OK;
}

const struct mend_input_ops mend_input_tcp_ops = {
    .kind = "tcp",
    .claims = tcp_claims,
    .open = tcp_open,
    .on_fd = tcp_on_fd,
    .on_timer = tcp_on_timer,
    .peek_time = NULL,
    .close = tcp_close,
};
