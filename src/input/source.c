/* source.c -- input sources: regular files, stdin/fds, TCP and UDP
 * listeners, multiplexed with poll(2) on one thread (see source.h).
 *
 * Inputs added by the caller live in one array in add order, so "the next
 * regular file" and "the idx-th listener" are positional; accepted TCP
 * connections live in a second array that is compacted after each poll. One
 * 1 MiB buffer serves every read: callbacks borrow it only for the duration
 * of a call, so it never needs to be per stream. */
#include "mend/source.h"
#include "mend/common.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

enum src_kind {
    SRC_FILE,  /* regular file: always readable, so read in order, not polled */
    SRC_FD,    /* pipe, tty, socket handed in: read when poll(2) says so */
    SRC_TCP,   /* listening stream socket */
    SRC_UDP    /* bound datagram socket */
};

#define SRC_ACCEPT_BURST 64   /* accepts per listener per poll: bounded work */
#define SRC_DGRAM_BURST 64    /* datagrams per socket per poll */
#define SRC_HOST_MAX 255      /* longest host name in a spec */
#define SRC_NAME_MAX 4096     /* longest path/name kept as a peer name */
#define SRC_PEER_MAX 80       /* "tcp:[" + INET6_ADDRSTRLEN + "]:65535" fits */

struct src_input {
    enum src_kind kind;
    int fd;           /* -1 once the input has ended or was shut down */
    int owned;        /* close fd when done (0 for stdin and borrowed fds) */
    int opened;       /* open() delivered; close() owed */
    uint64_t stream;
    int port;         /* listeners: the bound port */
    char *name;       /* path, "-", or the listener spec */
};

struct src_conn {
    int fd;           /* -1 once closed; compacted away after the poll */
    uint64_t stream;
};

struct mend_sources {
    struct src_input *in;
    size_t n_in, cap_in;
    struct src_conn *conn;
    size_t n_conn, cap_conn;
    size_t max_conns;
    struct pollfd *pfd;
    size_t cap_pfd;
    char *buf;                       /* MEND_SOURCES_FILE_CHUNK bytes */
    uint64_t next_stream;
    struct mend_sources_stats st;
    char last_error[256];
};

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int mend_sources_new(struct mend_sources **out)
{
    struct mend_sources *s;
    if (!out)
        return MEND_EINVAL;
    *out = NULL;
    s = calloc(1, sizeof *s);
    if (!s)
        return MEND_ENOMEM;
    s->buf = malloc(MEND_SOURCES_FILE_CHUNK);
    if (!s->buf) {
        free(s);
        return MEND_ENOMEM;
    }
    s->max_conns = MEND_SOURCES_DEFAULT_MAX_CONNS;
    s->next_stream = 1;
    *out = s;
    return MEND_OK;
}

void mend_sources_free(struct mend_sources *s)
{
    size_t i;
    if (!s)
        return;
    for (i = 0; i < s->n_in; i++) {
        if (s->in[i].fd >= 0 && s->in[i].owned)
            close(s->in[i].fd);
        free(s->in[i].name);
    }
    for (i = 0; i < s->n_conn; i++)
        if (s->conn[i].fd >= 0)
            close(s->conn[i].fd);
    free(s->in);
    free(s->conn);
    free(s->pfd);
    free(s->buf);
    free(s);
}

int mend_sources_set_max_conns(struct mend_sources *s, size_t max_conns)
{
    if (!s || max_conns == 0 || max_conns > (size_t)INT_MAX)
        return MEND_EINVAL;
    s->max_conns = max_conns;
    return MEND_OK;
}

static int set_nonblock_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -1;
    fl = fcntl(fd, F_GETFD);
    if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
        return -1;
    return 0;
}

/* Appends an input, taking ownership of name (freed on failure too). */
static int push_input(struct mend_sources *s, enum src_kind kind, int fd, int owned,
                      int port, char *name)
{
    struct src_input *in;
    if (s->n_in >= MEND_SOURCES_MAX_INPUTS) {
        free(name);
        return MEND_ECAP;
    }
    if (s->n_in == s->cap_in) {
        size_t cap = s->cap_in ? s->cap_in * 2 : 8;
        struct src_input *p = realloc(s->in, cap * sizeof *p);
        if (!p) {
            free(name);
            return MEND_ENOMEM;
        }
        s->in = p;
        s->cap_in = cap;
    }
    in = &s->in[s->n_in++];
    memset(in, 0, sizeof *in);
    in->kind = kind;
    in->fd = fd;
    in->owned = owned;
    in->port = port;
    in->name = name;
    return MEND_OK;
}

static char *dup_name(const char *name)
{
    size_t n = strnlen(name, SRC_NAME_MAX + 1);
    char *p;
    if (n > SRC_NAME_MAX)
        return NULL;
    p = malloc(n + 1);
    if (p) {
        memcpy(p, name, n);
        p[n] = '\0';
    }
    return p;
}

int mend_sources_add_fd(struct mend_sources *s, int fd, const char *name, int owned,
                        char *err, size_t errlen)
{
    struct stat st;
    char *copy;
    int rc;
    if (!s || fd < 0 || !name) {
        seterr(err, errlen, "%s: invalid fd", name ? name : "(null)");
        return MEND_EINVAL;
    }
    if (strnlen(name, SRC_NAME_MAX + 1) > SRC_NAME_MAX) {
        seterr(err, errlen, "input name longer than %d bytes", SRC_NAME_MAX);
        return MEND_EINVAL;
    }
    if (fstat(fd, &st) < 0) {
        seterr(err, errlen, "%s: %s", name, strerror(errno));
        return MEND_EIO;
    }
    if (S_ISDIR(st.st_mode)) {
        seterr(err, errlen, "%s: is a directory", name);
        return MEND_EINVAL;
    }
    if (s->n_in >= MEND_SOURCES_MAX_INPUTS) {
        seterr(err, errlen, "%s: more than %d inputs", name, MEND_SOURCES_MAX_INPUTS);
        return MEND_ECAP;
    }
    copy = dup_name(name);
    if (!copy) {
        seterr(err, errlen, "%s: out of memory", name);
        return MEND_ENOMEM;
    }
    if (S_ISREG(st.st_mode)) /* a replay reads it once, front to back */
        (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    rc = push_input(s, S_ISREG(st.st_mode) ? SRC_FILE : SRC_FD, fd, owned, 0, copy);
    if (rc < 0)
        seterr(err, errlen, "%s: %s", name, mend_strerror(rc));
    return rc;
}

/* Splits "HOST:PORT" / "[V6]:PORT" / ":PORT" into host (empty = wildcard) and
 * port. Returns 0 or MEND_EINVAL with err filled. */
static int split_hostport(const char *spec, const char *rest, char *host, int *port,
                          char *err, size_t errlen)
{
    const char *hs, *he, *ps;
    uint64_t p;
    size_t hl;
    if (rest[0] == '[') {
        hs = rest + 1;
        he = strchr(hs, ']');
        if (!he) {
            seterr(err, errlen, "%s: missing ']' after IPv6 address", spec);
            return MEND_EINVAL;
        }
        if (he[1] != ':') {
            seterr(err, errlen, "%s: missing port (expected [ADDR]:PORT)", spec);
            return MEND_EINVAL;
        }
        ps = he + 2;
    } else {
        hs = rest;
        he = strrchr(rest, ':');
        if (!he) {
            seterr(err, errlen, "%s: missing port (expected HOST:PORT)", spec);
            return MEND_EINVAL;
        }
        if (memchr(hs, ':', (size_t)(he - hs))) {
            seterr(err, errlen, "%s: IPv6 addresses need brackets: [ADDR]:PORT", spec);
            return MEND_EINVAL;
        }
        ps = he + 1;
    }
    hl = (size_t)(he - hs);
    if (hl > SRC_HOST_MAX) {
        seterr(err, errlen, "%s: host name longer than %d bytes", spec, SRC_HOST_MAX);
        return MEND_EINVAL;
    }
    if (*ps == '\0') {
        seterr(err, errlen, "%s: missing port", spec);
        return MEND_EINVAL;
    }
    if (mend_parse_u64(ps, strlen(ps), &p) < 0 || p > 65535) {
        seterr(err, errlen, "%s: bad port '%s' (expected 0-65535)", spec, ps);
        return MEND_EINVAL;
    }
    memcpy(host, hs, hl);
    host[hl] = '\0';
    *port = (int)p;
    return MEND_OK;
}

static int bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

/* Binds (and for TCP listens on) the first address of host:port in family
 * that works. On failure returns -1 with *what naming the failed step and
 * *eno its errno, or -2 with *eno a getaddrinfo code. */
static int bind_first(const char *host, const char *portstr, int udp, int family,
                      const char **what, int *eno)
{
    struct addrinfo hints, *res = NULL, *ai;
    int fd = -1, rc;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = family;
    hints.ai_socktype = udp ? SOCK_DGRAM : SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    rc = getaddrinfo(host[0] ? host : NULL, portstr, &hints, &res);
    if (rc != 0) {
        *eno = rc;
        return -2;
    }
    *what = "socket";
    *eno = EAFNOSUPPORT;
    /* The first address that binds wins: "localhost" listens on one family,
     * and port 0 then names one port. */
    for (ai = res; ai; ai = ai->ai_next) {
        int one = 1, zero = 0, rcvbuf = 4 << 20;
        *what = "socket";
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
            *eno = errno;
            continue;
        }
        if (!udp)
            (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        else /* bursts of datagrams must not overflow the default buffer */
            (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        if (!host[0] && ai->ai_family == AF_INET6) /* "::" takes IPv4 too */
            (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
        if (set_nonblock_cloexec(fd) < 0) {
            *what = "fcntl";
        } else if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
            *what = "bind";
        } else if (!udp && listen(fd, SOMAXCONN) < 0) {
            *what = "listen";
        } else {
            break;
        }
        *eno = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

static int add_listener(struct mend_sources *s, const char *spec, int udp,
                        char *err, size_t errlen)
{
    char host[SRC_HOST_MAX + 1], portstr[8];
    int port, rc, fd, eno = 0;
    const char *what = "socket";
    char *name;

    rc = split_hostport(spec, spec + 6, host, &port, err, errlen);
    if (rc < 0)
        return rc;
    if (s->n_in >= MEND_SOURCES_MAX_INPUTS) {
        seterr(err, errlen, "%s: more than %d inputs", spec, MEND_SOURCES_MAX_INPUTS);
        return MEND_ECAP;
    }
    snprintf(portstr, sizeof portstr, "%d", port);
    /* An empty host means every address: a dual-stack "::" socket when the
     * host has IPv6, else 0.0.0.0 (the resolver's order would pick one
     * family arbitrarily). */
    fd = bind_first(host, portstr, udp, host[0] ? AF_UNSPEC : AF_INET6, &what, &eno);
    if (fd < 0 && !host[0])
        fd = bind_first(host, portstr, udp, AF_INET, &what, &eno);
    if (fd == -2) {
        seterr(err, errlen, "%s: cannot resolve '%s': %s", spec, host, gai_strerror(eno));
        return MEND_EINVAL;
    }
    if (fd < 0) {
        seterr(err, errlen, "%s: %s: %s", spec, what, strerror(eno));
        return MEND_EIO;
    }
    name = dup_name(spec);
    if (!name) {
        close(fd);
        seterr(err, errlen, "%s: out of memory", spec);
        return MEND_ENOMEM;
    }
    rc = push_input(s, udp ? SRC_UDP : SRC_TCP, fd, 1, bound_port(fd), name);
    if (rc < 0) {
        close(fd);
        seterr(err, errlen, "%s: %s", spec, mend_strerror(rc));
    }
    return rc;
}

int mend_sources_add(struct mend_sources *s, const char *spec, char *err, size_t errlen)
{
    int fd, rc;
    if (err && errlen)
        err[0] = '\0';
    if (!s || !spec || !*spec) {
        seterr(err, errlen, "empty input spec");
        return MEND_EINVAL;
    }
    if (strncmp(spec, "tcp://", 6) == 0)
        return add_listener(s, spec, 0, err, errlen);
    if (strncmp(spec, "udp://", 6) == 0)
        return add_listener(s, spec, 1, err, errlen);
    if (strcmp(spec, "-") == 0)
        return mend_sources_add_fd(s, STDIN_FILENO, "-", 0, err, errlen);
    if (strstr(spec, "://")) {
        seterr(err, errlen, "%s: unknown scheme (expected a path, -, tcp:// or udp://)", spec);
        return MEND_EINVAL;
    }
    fd = open(spec, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        seterr(err, errlen, "%s: %s", spec, strerror(errno));
        return MEND_EIO;
    }
    rc = mend_sources_add_fd(s, fd, spec, 1, err, errlen);
    if (rc < 0)
        close(fd);
    return rc;
}

/* ---- polling ------------------------------------------------------------ */

static void note_error(struct mend_sources *s, const char *who, const char *what, int e)
{
    s->st.errors++;
    snprintf(s->last_error, sizeof s->last_error, "%s: %s: %s", who, what, strerror(e));
}

static int open_stream(struct mend_sources *s, const struct mend_source_events *ev,
                       const char *peer, uint64_t *stream)
{
    *stream = s->next_stream++;
    s->st.streams++;
    return ev->open(ev->ctx, *stream, peer);
}

static void end_input(struct mend_sources *s, struct src_input *in,
                      const struct mend_source_events *ev)
{
    (void)s;
    if (in->opened && ev)
        ev->close(ev->ctx, in->stream);
    in->opened = 0;
    if (in->fd >= 0 && in->owned)
        close(in->fd);
    in->fd = -1;
}

/* Delivers open for an input stream the first time it is read from. */
static int ensure_open(struct mend_sources *s, struct src_input *in,
                       const struct mend_source_events *ev)
{
    int rc;
    if (in->opened)
        return MEND_OK;
    rc = open_stream(s, ev, in->name, &in->stream);
    if (rc < 0) {
        end_input(s, in, NULL); /* the receiver refused it: drop silently */
        return rc;
    }
    in->opened = 1;
    return MEND_OK;
}

/* One read from a file or fd input; adds to *total. */
static int read_input(struct mend_sources *s, struct src_input *in,
                      const struct mend_source_events *ev, uint64_t *total)
{
    size_t chunk = in->kind == SRC_FILE ? MEND_SOURCES_FILE_CHUNK : MEND_SOURCES_SOCK_CHUNK;
    ssize_t n;
    int rc = ensure_open(s, in, ev);
    if (rc < 0)
        return rc;
    n = read(in->fd, s->buf, chunk);
    if (n > 0) {
        s->st.bytes += (uint64_t)n;
        *total += (uint64_t)n;
        return ev->data(ev->ctx, in->stream, s->buf, (size_t)n);
    }
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return MEND_OK;
    if (n < 0)
        note_error(s, in->name, "read", errno);
    end_input(s, in, ev);
    return MEND_OK;
}

static void format_peer(char *out, size_t outlen, const char *proto,
                        const struct sockaddr *sa, socklen_t sl)
{
    char h[NI_MAXHOST], p[NI_MAXSERV];
    if (getnameinfo(sa, sl, h, sizeof h, p, sizeof p, NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(out, outlen, "%s:?", proto);
        return;
    }
    if (sa->sa_family == AF_INET6)
        snprintf(out, outlen, "%s:[%.63s]:%.7s", proto, h, p);
    else
        snprintf(out, outlen, "%s:%.63s:%.7s", proto, h, p);
}

static int push_conn(struct mend_sources *s, int fd, uint64_t stream)
{
    if (s->n_conn == s->cap_conn) {
        size_t cap = s->cap_conn ? s->cap_conn * 2 : 16;
        struct src_conn *p;
        if (cap > s->max_conns)
            cap = s->max_conns;
        if (cap <= s->n_conn)
            return MEND_ECAP;
        p = realloc(s->conn, cap * sizeof *p);
        if (!p)
            return MEND_ENOMEM;
        s->conn = p;
        s->cap_conn = cap;
    }
    s->conn[s->n_conn].fd = fd;
    s->conn[s->n_conn].stream = stream;
    s->n_conn++;
    return MEND_OK;
}

static int accept_conns(struct mend_sources *s, struct src_input *in,
                        const struct mend_source_events *ev)
{
    int k;
    for (k = 0; k < SRC_ACCEPT_BURST; k++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        char peer[SRC_PEER_MAX];
        uint64_t stream;
        int fd = accept(in->fd, (struct sockaddr *)&ss, &sl), rc;
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                note_error(s, in->name, "accept", errno);
            return MEND_OK;
        }
        if (s->n_conn >= s->max_conns) { /* over the cap: tell the peer at once */
            close(fd);
            s->st.refused++;
            continue;
        }
        if (set_nonblock_cloexec(fd) < 0) {
            note_error(s, in->name, "fcntl", errno);
            close(fd);
            continue;
        }
        rc = push_conn(s, fd, 0);
        if (rc < 0) {
            close(fd);
            return rc;
        }
        format_peer(peer, sizeof peer, "tcp", (struct sockaddr *)&ss, sl);
        rc = open_stream(s, ev, peer, &stream);
        if (rc < 0) {
            close(fd);
            s->conn[s->n_conn - 1].fd = -1; /* dropped; compacted later */
            return rc;
        }
        s->conn[s->n_conn - 1].stream = stream;
    }
    return MEND_OK;
}

static int read_conn(struct mend_sources *s, struct src_conn *c,
                     const struct mend_source_events *ev, uint64_t *total)
{
    ssize_t n = read(c->fd, s->buf, MEND_SOURCES_SOCK_CHUNK);
    if (n > 0) {
        s->st.bytes += (uint64_t)n;
        *total += (uint64_t)n;
        return ev->data(ev->ctx, c->stream, s->buf, (size_t)n);
    }
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return MEND_OK;
    if (n < 0) {
        char who[32];
        snprintf(who, sizeof who, "tcp stream %llu", (unsigned long long)c->stream);
        note_error(s, who, "read", errno);
    }
    ev->close(ev->ctx, c->stream);
    close(c->fd);
    c->fd = -1;
    return MEND_OK;
}

static int recv_dgrams(struct mend_sources *s, struct src_input *in,
                       const struct mend_source_events *ev, uint64_t *total)
{
    int k;
    for (k = 0; k < SRC_DGRAM_BURST; k++) {
        struct sockaddr_storage ss;
        struct iovec iov;
        struct msghdr mh;
        char peer[SRC_PEER_MAX];
        uint64_t stream;
        ssize_t n;
        int rc;
        iov.iov_base = s->buf;
        iov.iov_len = MEND_SOURCES_SOCK_CHUNK;
        memset(&mh, 0, sizeof mh);
        mh.msg_name = &ss;
        mh.msg_namelen = sizeof ss;
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        n = recvmsg(in->fd, &mh, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                note_error(s, in->name, "recvmsg", errno);
            return MEND_OK;
        }
        s->st.datagrams++;
        if (mh.msg_flags & MSG_TRUNC) { /* a cut line would parse as garbage */
            note_error(s, in->name, "datagram over 64 KiB dropped", EMSGSIZE);
            continue;
        }
        format_peer(peer, sizeof peer, "udp", (struct sockaddr *)&ss, mh.msg_namelen);
        rc = open_stream(s, ev, peer, &stream);
        if (rc < 0)
            return rc;
        if (n > 0) {
            s->st.bytes += (uint64_t)n;
            *total += (uint64_t)n;
            rc = ev->data(ev->ctx, stream, s->buf, (size_t)n);
        }
        ev->close(ev->ctx, stream);
        if (rc < 0)
            return rc;
    }
    return MEND_OK;
}

static void compact_conns(struct mend_sources *s)
{
    size_t i, j = 0;
    for (i = 0; i < s->n_conn; i++)
        if (s->conn[i].fd >= 0)
            s->conn[j++] = s->conn[i];
    s->n_conn = j;
}

int mend_sources_poll(struct mend_sources *s, int timeout_ms, const struct mend_source_events *ev)
{
    struct src_input *file = NULL;
    uint64_t total = 0;
    size_t i, npfd, nconn;
    int rc = MEND_OK, n;

    if (!s || !ev || !ev->open || !ev->data || !ev->close)
        return MEND_EINVAL;

    /* Slot i of pfd is input i, slot n_in + j is connection j; poll(2) skips
     * negative fds, so files and ended inputs just sit there as -1. */
    nconn = s->n_conn;
    npfd = s->n_in + nconn;
    if (npfd > s->cap_pfd) {
        struct pollfd *p = realloc(s->pfd, npfd * sizeof *p);
        if (!p)
            return MEND_ENOMEM;
        s->pfd = p;
        s->cap_pfd = npfd;
    }
    for (i = 0; i < s->n_in; i++) {
        struct src_input *in = &s->in[i];
        s->pfd[i].fd = in->kind == SRC_FILE ? -1 : in->fd;
        s->pfd[i].events = POLLIN;
        s->pfd[i].revents = 0;
        if (in->kind == SRC_FILE && in->fd >= 0 && !file)
            file = in;
    }
    for (i = 0; i < nconn; i++) {
        s->pfd[s->n_in + i].fd = s->conn[i].fd;
        s->pfd[s->n_in + i].events = POLLIN;
        s->pfd[s->n_in + i].revents = 0;
    }

    if (file) /* a file always has bytes: never sleep while one is pending */
        timeout_ms = 0;
    n = npfd ? poll(s->pfd, (nfds_t)npfd, timeout_ms) : 0;
    if (n < 0) {
        if (errno == EINTR)
            return 0;
        note_error(s, "sources", "poll", errno);
        return MEND_EIO;
    }

    if (file) {
        rc = read_input(s, file, ev, &total);
        if (rc < 0)
            goto out;
    }
    for (i = 0; i < s->n_in && n > 0; i++) {
        struct src_input *in = &s->in[i];
        short re = s->pfd[i].revents;
        if (!re || in->fd < 0)
            continue;
        if (re & POLLNVAL) { /* closed behind our back: it cannot recover */
            note_error(s, in->name, "poll", EBADF);
            in->owned = 0;
            end_input(s, in, ev);
            continue;
        }
        if (in->kind == SRC_FD)
            rc = read_input(s, in, ev, &total);
        else if (in->kind == SRC_TCP)
            rc = accept_conns(s, in, ev);
        else if (in->kind == SRC_UDP)
            rc = recv_dgrams(s, in, ev, &total);
        if (rc < 0)
            goto out;
    }
    for (i = 0; i < nconn && n > 0; i++) {
        struct src_conn *c = &s->conn[i];
        if (!s->pfd[s->n_in + i].revents || c->fd < 0)
            continue;
        rc = read_conn(s, c, ev, &total);
        if (rc < 0)
            goto out;
    }
out:
    compact_conns(s);
    s->st.open_conns = s->n_conn;
    if (rc < 0)
        return rc;
    return total > (uint64_t)INT_MAX ? INT_MAX : (int)total;
}

int mend_sources_done(const struct mend_sources *s)
{
    size_t i;
    if (!s)
        return 1;
    for (i = 0; i < s->n_in; i++)
        if (s->in[i].fd >= 0)
            return 0;
    return s->n_conn == 0;
}

void mend_sources_shutdown(struct mend_sources *s, const struct mend_source_events *ev)
{
    size_t i;
    if (!s)
        return;
    if (ev && (!ev->close))
        ev = NULL;
    for (i = 0; i < s->n_in; i++)
        end_input(s, &s->in[i], ev);
    for (i = 0; i < s->n_conn; i++) {
        if (s->conn[i].fd < 0)
            continue;
        if (ev)
            ev->close(ev->ctx, s->conn[i].stream);
        close(s->conn[i].fd);
    }
    s->n_conn = 0;
    s->st.open_conns = 0;
}

int mend_sources_port(const struct mend_sources *s, size_t idx, int *port)
{
    size_t i, k = 0;
    if (!s || !port)
        return MEND_EINVAL;
    for (i = 0; i < s->n_in; i++) {
        if (s->in[i].kind != SRC_TCP && s->in[i].kind != SRC_UDP)
            continue;
        if (k++ == idx) {
            *port = s->in[i].port;
            return MEND_OK;
        }
    }
    return MEND_ENOTFOUND;
}

void mend_sources_stats(const struct mend_sources *s, struct mend_sources_stats *out)
{
    if (!out)
        return;
    if (!s) {
        memset(out, 0, sizeof *out);
        return;
    }
    *out = s->st;
    out->open_conns = s->n_conn;
}

const char *mend_sources_last_error(const struct mend_sources *s)
{
    return s ? s->last_error : "";
}
