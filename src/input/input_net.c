/* input_net.c -- socket helpers of the tcp and udp kinds: "HOST:PORT"
 * parsing, binding the first address that works, and peer names. */
#include "input_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SRC_HOST_MAX 255 /* longest host name in a spec */

int mend_net_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -1;
    fl = fcntl(fd, F_GETFD);
    if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
        return -1;
    return 0;
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
            mend_set_err(err, errlen, "%s: missing ']' after IPv6 address", spec);
            return MEND_EINVAL;
        }
        if (he[1] != ':') {
            mend_set_err(err, errlen, "%s: missing port (expected [ADDR]:PORT)", spec);
            return MEND_EINVAL;
        }
        ps = he + 2;
    } else {
        hs = rest;
        he = strrchr(rest, ':');
        if (!he) {
            mend_set_err(err, errlen, "%s: missing port (expected HOST:PORT)", spec);
            return MEND_EINVAL;
        }
        if (memchr(hs, ':', (size_t)(he - hs))) {
            mend_set_err(err, errlen, "%s: IPv6 addresses need brackets: [ADDR]:PORT", spec);
            return MEND_EINVAL;
        }
        ps = he + 1;
    }
    hl = (size_t)(he - hs);
    if (hl > SRC_HOST_MAX) {
        mend_set_err(err, errlen, "%s: host name longer than %d bytes", spec, SRC_HOST_MAX);
        return MEND_EINVAL;
    }
    if (*ps == '\0') {
        mend_set_err(err, errlen, "%s: missing port", spec);
        return MEND_EINVAL;
    }
    if (mend_parse_u64(ps, strlen(ps), &p) < 0 || p > 65535) {
        mend_set_err(err, errlen, "%s: bad port '%s' (expected 0-65535)", spec, ps);
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
        if (mend_net_nonblock(fd) < 0) {
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

int mend_net_listen(const char *spec, int udp, int *bport, char *err, size_t errlen)
{
    char host[SRC_HOST_MAX + 1], portstr[8];
    int port, rc, fd, eno = 0;
    const char *what = "socket";

    rc = split_hostport(spec, spec + 6, host, &port, err, errlen);
    if (rc < 0)
        return rc;
    snprintf(portstr, sizeof portstr, "%d", port);
    /* An empty host means every address: a dual-stack "::" socket when the
     * host has IPv6, else 0.0.0.0 (the resolver's order would pick one
     * family arbitrarily). */
    fd = bind_first(host, portstr, udp, host[0] ? AF_UNSPEC : AF_INET6, &what, &eno);
    if (fd < 0 && !host[0])
        fd = bind_first(host, portstr, udp, AF_INET, &what, &eno);
    if (fd == -2) {
        mend_set_err(err, errlen, "%s: cannot resolve '%s': %s", spec, host, gai_strerror(eno));
        return MEND_EINVAL;
    }
    if (fd < 0) {
        mend_set_err(err, errlen, "%s: %s: %s", spec, what, strerror(eno));
        return MEND_EIO;
    }
    *bport = bound_port(fd);
    return fd;
}

void mend_net_peer(char *out, size_t outlen, const char *proto, const struct sockaddr *sa, socklen_t sl)
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

