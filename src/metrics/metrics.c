/* metrics.c -- /metrics and /healthz over a small HTTP/1.1 server on the
 * event loop (see metrics.h).
 *
 * Why our own server and not libevent's evhttp: the loop (loop.h) already
 * owns every fd and timer of `mend run`, and what is served is two GET
 * paths answered from memory in one write; a second event loop would need
 * its own thread and locks around every counter it reads. The server
 * therefore does only this: accept, read one request (capped), answer,
 * close -- every step non-blocking, every connection under a deadline.
 *
 * The exposition is built at each scrape by the registered collectors, so
 * a counter is read where it is counted and nothing is copied between
 * scrapes. */
#define _GNU_SOURCE /* accept4 */
#include "mend/metrics.h"
#include "mend/common.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_FAMILIES 512           /* families in one exposition */
#define FAMILY_NAME_MAX 128
#define LAG_PERIOD_NS 250000000LL  /* the lag probe's period */

struct mend_metrics_out {
    char *buf;
    size_t len, cap;
    int failed;                    /* MEND_ECAP / MEND_ENOMEM once, sticky */
    char (*names)[FAMILY_NAME_MAX];/* families started, for the repeat check */
    size_t n_names;
    int in_family;
};

struct conn {
    int fd;
    char *in;                      /* request bytes, max_request */
    size_t in_len;
    char *out;                     /* the response */
    size_t out_len, out_off;
    uint64_t timer;                /* the exchange's deadline */
    int writing;
};

struct mend_metrics_server {
    struct mend_metrics_conf conf;
    struct mend_loop *loop;
    int lfd, port;
    struct conn *conns;            /* max_conns slots; fd -1 = free */
    size_t n_conns;
    struct {
        mend_metrics_collect_fn fn;
        void *ctx;
    } coll[MEND_METRICS_MAX_COLLECTORS];
    size_t n_coll;
    /* the loop's lag: how late the probe timer ran */
    uint64_t lag_timer;
    int64_t lag_due;
    double lag_last, lag_max;
    /* its own counters */
    uint64_t requests, rejected, timeouts, bad_requests, too_large, failed_renders;
};

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- the exposition writer -------------------------------------------------- */

static void out_put(struct mend_metrics_out *o, const char *s, size_t n)
{
    if (o->failed)
        return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < o->len + n + 1)
            cap *= 2;
        if (cap > MEND_METRICS_MAX_BODY) {
            o->failed = MEND_ECAP;
            return;
        }
        char *b = realloc(o->buf, cap);
        if (!b) {
            o->failed = MEND_ENOMEM;
            return;
        }
        o->buf = b;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void out_str(struct mend_metrics_out *o, const char *s)
{
    out_put(o, s, strlen(s));
}

static int valid_name(const char *s, int label)
{
    if (!s || !*s || strlen(s) >= FAMILY_NAME_MAX)
        return 0;
    for (const char *p = s; *p; p++) {
        int alpha = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' || (!label && *p == ':');
        if (!alpha && !(p > s && *p >= '0' && *p <= '9'))
            return 0;
    }
    return 1;
}

int mend_metrics_family(struct mend_metrics_out *o, const char *name, enum mend_metric_type type,
                        const char *help)
{
    if (!valid_name(name, 0))
        return MEND_EINVAL;
    for (size_t i = 0; i < o->n_names; i++)
        if (!strcmp(o->names[i], name))
            return MEND_EINVAL;
    if (o->n_names == MAX_FAMILIES)
        return MEND_ECAP;
    snprintf(o->names[o->n_names++], FAMILY_NAME_MAX, "%s", name);
    out_str(o, "# HELP ");
    out_str(o, name);
    out_put(o, " ", 1);
    /* HELP text escapes only \ and newline */
    for (const char *p = help ? help : ""; *p; p++) {
        if (*p == '\\')
            out_put(o, "\\\\", 2);
        else if (*p == '\n')
            out_put(o, "\\n", 2);
        else
            out_put(o, p, 1);
    }
    out_str(o, "\n# TYPE ");
    out_str(o, name);
    out_str(o, type == MEND_METRIC_COUNTER ? " counter\n" : " gauge\n");
    o->in_family = 1;
    return o->failed;
}

int mend_metrics_sample(struct mend_metrics_out *o, const char *const *labels, double value)
{
    if (!o->in_family)
        return MEND_EINVAL;
    out_str(o, o->names[o->n_names - 1]);
    if (labels && labels[0]) {
        out_put(o, "{", 1);
        for (size_t i = 0; labels[i] && labels[i + 1]; i += 2) {
            if (!valid_name(labels[i], 1))
                return MEND_EINVAL;
            if (i)
                out_put(o, ",", 1);
            out_str(o, labels[i]);
            out_put(o, "=\"", 2);
            for (const char *p = labels[i + 1]; *p; p++) {
                if (*p == '\\')
                    out_put(o, "\\\\", 2);
                else if (*p == '"')
                    out_put(o, "\\\"", 2);
                else if (*p == '\n')
                    out_put(o, "\\n", 2);
                else
                    out_put(o, p, 1);
            }
            out_put(o, "\"", 1);
        }
        out_put(o, "}", 1);
    }
    char num[64];
    if (isnan(value))
        snprintf(num, sizeof num, " NaN\n");
    else if (isinf(value))
        snprintf(num, sizeof num, value > 0 ? " +Inf\n" : " -Inf\n");
    else if (value == floor(value) && fabs(value) < 9007199254740992.0)
        snprintf(num, sizeof num, " %.0f\n", value); /* counts exactly, not 1.2e+06 */
    else
        snprintf(num, sizeof num, " %.17g\n", value);
    out_str(o, num);
    return o->failed;
}

/* ---- the server's own families ---------------------------------------------- */

static int own_collect(void *ctx, struct mend_metrics_out *o)
{
    struct mend_metrics_server *s = ctx;
    static const struct {
        const char *name, *help;
        size_t off;
    } counters[] = {
        {"mend_http_requests_total", "HTTP requests answered by the metrics server",
         offsetof(struct mend_metrics_server, requests)},
        {"mend_http_rejected_total", "HTTP connections closed at once: metrics.max_conns reached",
         offsetof(struct mend_metrics_server, rejected)},
        {"mend_http_timeouts_total", "HTTP connections closed at metrics.timeout",
         offsetof(struct mend_metrics_server, timeouts)},
        {"mend_http_bad_requests_total", "HTTP requests refused: malformed, not GET/HEAD, or over metrics.max_request",
         offsetof(struct mend_metrics_server, bad_requests)},
    };
    int rc = mend_metrics_family(o, "mend_loop_lag_seconds", MEND_METRIC_GAUGE,
                                 "how late the event loop ran its last probe timer (250ms period)");
    if (!rc)
        rc = mend_metrics_sample(o, NULL, s->lag_last);
    if (!rc)
        rc = mend_metrics_family(o, "mend_loop_lag_max_seconds", MEND_METRIC_GAUGE,
                                 "the largest loop lag seen since start");
    if (!rc)
        rc = mend_metrics_sample(o, NULL, s->lag_max);
    for (size_t i = 0; i < sizeof counters / sizeof counters[0] && !rc; i++) {
        rc = mend_metrics_family(o, counters[i].name, MEND_METRIC_COUNTER, counters[i].help);
        if (!rc)
            rc = mend_metrics_sample(o, NULL, (double)*(const uint64_t *)(const void *)((const char *)s + counters[i].off));
    }
    return rc;
}

int mend_metrics_render(struct mend_metrics_server *s, char **body, size_t *len)
{
    struct mend_metrics_out o;
    memset(&o, 0, sizeof o);
    *body = NULL;
    *len = 0;
    if (!(o.names = malloc(MAX_FAMILIES * sizeof *o.names)))
        return MEND_ENOMEM;
    int rc = MEND_OK;
    for (size_t i = 0; i < s->n_coll && rc == MEND_OK; i++)
        rc = s->coll[i].fn(s->coll[i].ctx, &o);
    if (rc == MEND_OK)
        rc = own_collect(s, &o);
    if (rc == MEND_OK && o.failed)
        rc = o.failed;
    free(o.names);
    if (rc != MEND_OK) {
        free(o.buf);
        return rc;
    }
    if (!o.buf) {
        o.buf = malloc(1);
        if (!o.buf)
            return MEND_ENOMEM;
        o.buf[0] = '\0';
    }
    *body = o.buf;
    *len = o.len;
    return MEND_OK;
}

int mend_metrics_register(struct mend_metrics_server *s, mend_metrics_collect_fn fn, void *ctx)
{
    if (s->n_coll == MEND_METRICS_MAX_COLLECTORS)
        return MEND_ECAP;
    s->coll[s->n_coll].fn = fn;
    s->coll[s->n_coll].ctx = ctx;
    s->n_coll++;
    return MEND_OK;
}

/* ---- addresses -------------------------------------------------------------- */

/* Splits HOST:PORT ([v6]:PORT, :PORT) into host (may be "") and port. */
static int split_addr(const char *a, char *host, size_t hostlen, char *port, size_t portlen)
{
    const char *colon;
    if (a[0] == '[') {
        const char *close = strchr(a, ']');
        if (!close || close[1] != ':')
            return MEND_EINVAL;
        if ((size_t)(close - a - 1) >= hostlen)
            return MEND_EINVAL;
        memcpy(host, a + 1, (size_t)(close - a - 1));
        host[close - a - 1] = '\0';
        colon = close + 1;
    } else {
        colon = strrchr(a, ':');
        if (!colon || (size_t)(colon - a) >= hostlen || memchr(a, ':', (size_t)(colon - a)))
            return MEND_EINVAL;
        memcpy(host, a, (size_t)(colon - a));
        host[colon - a] = '\0';
    }
    const char *p = colon + 1;
    size_t n = strlen(p);
    if (n == 0 || n >= portlen || n > 5)
        return MEND_EINVAL;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return MEND_EINVAL;
        v = v * 10 + (p[i] - '0');
    }
    if (v > 65535)
        return MEND_EINVAL;
    memcpy(port, p, n + 1);
    return MEND_OK;
}

int mend_metrics_listen_check(const char *listen, char *err, size_t errlen)
{
    char host[256], port[8];
    if (!listen[0] || split_addr(listen, host, sizeof host, port, sizeof port) == MEND_OK)
        return MEND_OK;
    snprintf(err, errlen, "metrics.listen: '%s' is not HOST:PORT (like 127.0.0.1:9108, [::1]:9108 or :9108)",
             listen);
    return MEND_EINVAL;
}

/* ---- connections ------------------------------------------------------------ */

static void conn_close(struct mend_metrics_server *s, struct conn *c)
{
    if (c->fd < 0)
        return;
    mend_loop_del_fd(s->loop, c->fd);
    if (c->timer)
        mend_loop_timer_del(s->loop, c->timer);
    close(c->fd);
    free(c->in);
    free(c->out);
    memset(c, 0, sizeof *c);
    c->fd = -1;
    s->n_conns--;
}

static struct conn *conn_of(struct mend_metrics_server *s, int fd)
{
    for (uint32_t i = 0; i < s->conf.max_conns; i++)
        if (s->conns[i].fd == fd)
            return &s->conns[i];
    return NULL;
}

static int on_conn_timeout(struct mend_loop *l, uint64_t id, void *ctx)
{
    struct mend_metrics_server *s = ctx;
    (void)l;
    for (uint32_t i = 0; i < s->conf.max_conns; i++) {
        if (s->conns[i].fd >= 0 && s->conns[i].timer == id) {
            s->conns[i].timer = 0; /* a one-shot timer is gone once run */
            s->timeouts++;
            conn_close(s, &s->conns[i]);
            break;
        }
    }
    return MEND_OK;
}

static int on_conn(struct mend_loop *l, int fd, unsigned events, void *ctx);

/* Writes what the socket takes; on a short write waits for WRITE. */
static void conn_flush(struct mend_metrics_server *s, struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->writing) {
                c->writing = 1;
                mend_loop_del_fd(s->loop, c->fd);
                if (mend_loop_add_fd(s->loop, c->fd, MEND_LOOP_WRITE, on_conn, s) != MEND_OK)
                    conn_close(s, c);
            }
            return;
        }
        break; /* the peer went away */
    }
    shutdown(c->fd, SHUT_WR);
    conn_close(s, c);
}

static void respond(struct mend_metrics_server *s, struct conn *c, int code, const char *reason,
                    const char *ctype, const char *body, size_t blen, int head_only)
{
    char hdr[256];
    int h = snprintf(hdr, sizeof hdr,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                     code, reason, ctype, blen);
    size_t total = (size_t)h + (head_only ? 0 : blen);
    c->out = malloc(total);
    if (!c->out) {
        conn_close(s, c);
        return;
    }
    memcpy(c->out, hdr, (size_t)h);
    if (!head_only)
        memcpy(c->out + h, body, blen);
    c->out_len = total;
    c->out_off = 0;
    conn_flush(s, c);
}

#define TEXT "text/plain; charset=utf-8"

/* A whole request head is in c->in: answer it. */
static void serve(struct mend_metrics_server *s, struct conn *c)
{
    char method[8], path[256];
    const char *sp1 = memchr(c->in, ' ', c->in_len);
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', c->in_len - (size_t)(sp1 + 1 - c->in)) : NULL;
    if (!sp1 || !sp2 || (size_t)(sp1 - c->in) >= sizeof method || (size_t)(sp2 - sp1 - 1) >= sizeof path ||
        strncmp(sp2 + 1, "HTTP/1.", 7)) {
        s->bad_requests++;
        respond(s, c, 400, "Bad Request", TEXT, "bad request\n", 12, 0);
        return;
    }
    memcpy(method, c->in, (size_t)(sp1 - c->in));
    method[sp1 - c->in] = '\0';
    memcpy(path, sp1 + 1, (size_t)(sp2 - sp1 - 1));
    path[sp2 - sp1 - 1] = '\0';
    char *q = strchr(path, '?');
    if (q)
        *q = '\0';
    int head = !strcmp(method, "HEAD");
    if (!head && strcmp(method, "GET")) {
        s->bad_requests++;
        respond(s, c, 405, "Method Not Allowed", TEXT, "GET or HEAD only\n", 17, 0);
        return;
    }
    s->requests++;
    if (!strcmp(path, "/metrics")) {
        char *body;
        size_t len;
        int rc = mend_metrics_render(s, &body, &len);
        if (rc != MEND_OK) {
            s->failed_renders++;
            char msg[128];
            int n = snprintf(msg, sizeof msg, "cannot build the metrics: %s\n", mend_strerror(rc));
            respond(s, c, 500, "Internal Server Error", TEXT, msg, (size_t)n, head);
            return;
        }
        respond(s, c, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", body, len, head);
        free(body);
    } else if (!strcmp(path, "/healthz")) {
        /* answered from the loop's own turn: an answer means it turns */
        respond(s, c, 200, "OK", TEXT, "ok\n", 3, head);
    } else if (!strcmp(path, "/")) {
        static const char idx[] = "mend: /metrics (Prometheus text format), /healthz\n";
        respond(s, c, 200, "OK", TEXT, idx, sizeof idx - 1, head);
    } else {
        respond(s, c, 404, "Not Found", TEXT, "not found: try /metrics or /healthz\n", 36, head);
    }
}

static int on_conn(struct mend_loop *l, int fd, unsigned events, void *ctx)
{
    struct mend_metrics_server *s = ctx;
    (void)l;
    (void)events;
    struct conn *c = conn_of(s, fd);
    if (!c)
        return MEND_OK;
    if (c->writing) {
        conn_flush(s, c);
        return MEND_OK;
    }
    for (;;) {
        if (c->in_len == s->conf.max_request) {
            s->bad_requests++;
            respond(s, c, 431, "Request Header Fields Too Large", TEXT, "request too large\n", 18, 0);
            return MEND_OK;
        }
        ssize_t n = recv(fd, c->in + c->in_len, s->conf.max_request - c->in_len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return MEND_OK;
        if (n <= 0) {
            conn_close(s, c);
            return MEND_OK;
        }
        size_t from = c->in_len > 3 ? c->in_len - 3 : 0;
        c->in_len += (size_t)n;
        /* the head ends at an empty line (CRLF CRLF; bare LF LF from hand-typed requests) */
        for (size_t i = from; i + 1 < c->in_len; i++) {
            if ((c->in[i] == '\n' && c->in[i + 1] == '\n') ||
                (i + 3 < c->in_len && !memcmp(c->in + i, "\r\n\r\n", 4))) {
                serve(s, c);
                return MEND_OK;
            }
        }
    }
}

static int on_accept(struct mend_loop *l, int fd, unsigned events, void *ctx)
{
    struct mend_metrics_server *s = ctx;
    (void)events;
    for (int burst = 0; burst < 64; burst++) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0)
            return MEND_OK; /* EAGAIN, or out of fds: the listener stays, the next try may work */
        struct conn *c = s->n_conns < s->conf.max_conns ? conn_of(s, -1) : NULL;
        if (!c || cfd >= MEND_LOOP_MAX_FDS) {
            s->rejected++;
            close(cfd);
            continue;
        }
        c->fd = cfd;
        s->n_conns++;
        if (!(c->in = malloc(s->conf.max_request)) ||
            mend_loop_timer_add(l, mend_loop_now(l) + s->conf.timeout_ns, 0, on_conn_timeout, s, &c->timer) !=
                MEND_OK ||
            mend_loop_add_fd(l, cfd, MEND_LOOP_READ, on_conn, s) != MEND_OK) {
            s->rejected++;
            conn_close(s, c);
        }
    }
    return MEND_OK;
}

/* The lag probe: a one-shot timer re-armed each time; how late it runs is
 * how long the loop was busy elsewhere (a slow parse, a blocking write). */
static int on_lag(struct mend_loop *l, uint64_t id, void *ctx)
{
    struct mend_metrics_server *s = ctx;
    (void)id;
    int64_t now = mono_ns();
    double lag = now > s->lag_due ? (double)(now - s->lag_due) * 1e-9 : 0.0;
    s->lag_last = lag;
    if (lag > s->lag_max)
        s->lag_max = lag;
    s->lag_due = now + LAG_PERIOD_NS;
    return mend_loop_timer_add(l, mend_loop_now(l) + LAG_PERIOD_NS, 0, on_lag, s, &s->lag_timer);
}

/* ---- lifecycle -------------------------------------------------------------- */

void mend_metrics_conf_defaults(struct mend_metrics_conf *c)
{
    memset(c, 0, sizeof *c);
    c->max_conns = 16;
    c->max_request = 8192;
    c->timeout_ns = 5000000000LL;
}

static int bind_listen(struct mend_metrics_server *s, char *err, size_t errlen)
{
    char host[256], port[8];
    if (split_addr(s->conf.listen, host, sizeof host, port, sizeof port) != MEND_OK)
        return mend_metrics_listen_check(s->conf.listen, err, errlen);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int g = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (g != 0) {
        snprintf(err, errlen, "metrics.listen %s: %s", s->conf.listen, gai_strerror(g));
        return MEND_EIO;
    }
    int rc = MEND_EIO, saved = 0;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, 64) != 0) {
            saved = errno;
            close(fd);
            continue;
        }
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
            s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                     : ((struct sockaddr_in *)&ss)->sin_port);
        s->lfd = fd;
        rc = MEND_OK;
        break;
    }
    freeaddrinfo(res);
    if (rc != MEND_OK)
        snprintf(err, errlen, "metrics.listen %s: cannot listen: %s", s->conf.listen, strerror(saved));
    return rc;
}

int mend_metrics_server_new(const struct mend_metrics_conf *c, struct mend_loop *loop,
                            struct mend_metrics_server **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!c || c->max_conns == 0 || c->max_request < 64 || c->timeout_ns <= 0)
        return MEND_EINVAL;
    struct mend_metrics_server *s = calloc(1, sizeof *s);
    if (!s)
        return MEND_ENOMEM;
    s->conf = *c;
    s->loop = loop;
    s->lfd = -1;
    if (!(s->conns = calloc(c->max_conns, sizeof *s->conns))) {
        free(s);
        return MEND_ENOMEM;
    }
    for (uint32_t i = 0; i < c->max_conns; i++)
        s->conns[i].fd = -1;
    int rc = MEND_OK;
    if (c->listen[0]) {
        if ((rc = bind_listen(s, err, errlen)) == MEND_OK &&
            (rc = mend_loop_add_fd(loop, s->lfd, MEND_LOOP_READ, on_accept, s)) != MEND_OK)
            snprintf(err, errlen, "metrics.listen %s: %s", c->listen, mend_strerror(rc));
        if (rc == MEND_OK) {
            s->lag_due = mono_ns() + LAG_PERIOD_NS;
            rc = mend_loop_timer_add(loop, mend_loop_now(loop) + LAG_PERIOD_NS, 0, on_lag, s, &s->lag_timer);
        }
    }
    if (rc != MEND_OK) {
        mend_metrics_server_free(s);
        return rc;
    }
    *out = s;
    return MEND_OK;
}

void mend_metrics_server_free(struct mend_metrics_server *s)
{
    if (!s)
        return;
    for (uint32_t i = 0; i < s->conf.max_conns; i++)
        conn_close(s, &s->conns[i]);
    if (s->lfd >= 0) {
        mend_loop_del_fd(s->loop, s->lfd);
        close(s->lfd);
    }
    if (s->lag_timer)
        mend_loop_timer_del(s->loop, s->lag_timer);
    free(s->conns);
    free(s);
}

int mend_metrics_server_port(const struct mend_metrics_server *s)
{
    return s ? s->port : 0;
}
