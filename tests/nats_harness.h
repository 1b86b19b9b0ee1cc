/* nats_harness.h -- real nats-server processes for the cluster tests: start
 * one with JetStream on loopback in a temporary directory, connect, create
 * the stream, publish a recording, ask a consumer how far it got, kill it.
 * Header-only (static functions) so each test binary stays one file. */
#ifndef MEND_TEST_NATS_HARNESS_H
#define MEND_TEST_NATS_HARNESS_H

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

static __attribute__((unused)) double nh_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A loopback port that was free a moment ago. */
static __attribute__((unused)) int nh_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = 0};
    socklen_t l = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || getsockname(fd, (struct sockaddr *)&a, &l) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

/* Runs a shell command; its exit status, or -1 when it did not exit. */
static __attribute__((unused, format(printf, 1, 2))) int run(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A whole file, NUL-terminated (malloc'ed; NULL when unreadable). */
static __attribute__((unused)) char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    if (b)
        b[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return b;
}

/* Every process spawned, killed at exit: a failed test (cmocka jumps out
 * of it) must not leave servers and engines running after the run. */
static pid_t nh_pids[256];
static int nh_npids;

static void nh_kill_all(void)
{
    /* only children not reaped yet: a reaped pid may belong to anyone now */
    for (int i = 0; i < nh_npids; i++)
        if (nh_pids[i] > 0 && waitpid(nh_pids[i], NULL, WNOHANG) == 0) {
            kill(nh_pids[i], SIGKILL);
            waitpid(nh_pids[i], NULL, 0);
        }
}

/* Spawns argv with stdout/stderr to log (NULL: /dev/null). */
static __attribute__((unused)) pid_t nh_spawn(char *const argv[], const char *log)
{
    if (nh_npids == 0)
        atexit(nh_kill_all);
    pid_t pid = fork();
    if (pid > 0 && nh_npids < (int)(sizeof nh_pids / sizeof nh_pids[0]))
        nh_pids[nh_npids++] = pid;
    if (pid == 0) {
        int fd = open(log ? log : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* nats-server -js on 127.0.0.1:port, store under dir. */
static __attribute__((unused)) pid_t nh_server(int port, const char *dir)
{
    char p[16];
    snprintf(p, sizeof p, "%d", port);
    char *argv[] = {"nats-server", "-js", "-a", "127.0.0.1", "-p", p, "-sd", (char *)dir, NULL};
    return nh_spawn(argv, NULL);
}

/* Connects (retrying while the server starts, up to 5 s). */
static natsConnection *nh_connect(int port)
{
    char url[64];
    snprintf(url, sizeof url, "nats://127.0.0.1:%d", port);
    double until = nh_now() + 5;
    natsConnection *nc = NULL;
    while (natsConnection_ConnectTo(&nc, url) != NATS_OK) {
        if (nh_now() > until)
            return NULL;
        nats_Sleep(50);
    }
    return nc;
}

static __attribute__((unused)) int nh_stream(jsCtx *js, const char *name, const char *subjects, int replicas)
{
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    sc.Name = name;
    const char *subs[1] = {subjects};
    sc.Subjects = subs;
    sc.SubjectsLen = 1;
    sc.Replicas = replicas;
    jsStreamInfo *si = NULL;
    jsErrCode je = 0;
    natsStatus s = js_AddStream(&si, js, &sc, NULL, &je);
    jsStreamInfo_Destroy(si);
    return s == NATS_OK ? 0 : -1;
}

/* Publishes buf's lines in messages of per_msg whole lines to subject;
 * returns the number of messages or -1. */
static __attribute__((unused)) int nh_publish_lines(jsCtx *js, const char *subject, const char *buf, size_t len, int per_msg)
{
    int msgs = 0;
    size_t start = 0, i = 0;
    int lines = 0;
    for (; i < len; i++) {
        if (buf[i] != '\n')
            continue;
        if (++lines < per_msg && i + 1 < len)
            continue;
        if (js_Publish(NULL, js, subject, buf + start, (int)(i + 1 - start), NULL, NULL) != NATS_OK)
            return -1;
        msgs++;
        start = i + 1;
        lines = 0;
    }
    return msgs;
}

/* The consumer's pending + unacknowledged counts; -1 when it does not exist yet. */
static __attribute__((unused)) int nh_consumer(jsCtx *js, const char *stream, const char *durable, uint64_t *pending, int64_t *ack_pending,
                       uint64_t *delivered)
{
    jsConsumerInfo *ci = NULL;
    jsErrCode je = 0;
    if (js_GetConsumerInfo(&ci, js, stream, durable, NULL, &je) != NATS_OK || !ci)
        return -1;
    *pending = ci->NumPending;
    *ack_pending = ci->NumAckPending;
    if (delivered)
        *delivered = ci->Delivered.Stream;
    jsConsumerInfo_Destroy(ci);
    return 0;
}

static __attribute__((unused)) int nh_stop(pid_t pid, int sig)
{
    int st = 0;
    if (pid <= 0)
        return -1;
    kill(pid, sig);
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return st;
}

/* ---- a TCP proxy in front of a server, for a server that is slow to
 * answer new connections while old ones go on: the first pass_first
 * connections are forwarded at once, later ones are accepted and held
 * (nothing read or sent: the client waits for the server's INFO) until
 * nh_proxy_release, which forwards the held ones and every later one.
 * One thread, poll(); at most NH_PROXY_CONNS connections (more are closed). */
#define NH_PROXY_CONNS 64

struct nh_proxy {
    int lfd, port, up_port, pass_first, accepted;
    int released, stop; /* __atomic */
    pthread_t th;
    struct {
        int c, u; /* client and upstream fds; u < 0 while held */
    } conn[NH_PROXY_CONNS];
    int n;
};

static int nh_proxy_upstream(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                            .sin_port = htons((uint16_t)port)};
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
        return fd;
    if (fd >= 0)
        close(fd);
    return -1;
}

static void nh_proxy_drop(struct nh_proxy *x, int i)
{
    close(x->conn[i].c);
    if (x->conn[i].u >= 0)
        close(x->conn[i].u);
    x->conn[i] = x->conn[--x->n];
}

/* Copies what is readable on from to to; -1 on EOF or error. */
static int nh_proxy_pump(int from, int to)
{
    char buf[65536];
    ssize_t r = read(from, buf, sizeof buf);
    if (r <= 0)
        return -1;
    for (ssize_t o = 0; o < r;) {
        ssize_t w = write(to, buf + o, (size_t)(r - o));
        if (w <= 0)
            return -1;
        o += w;
    }
    return 0;
}

static void *nh_proxy_main(void *arg)
{
    struct nh_proxy *x = arg;
    while (!__atomic_load_n(&x->stop, __ATOMIC_ACQUIRE)) {
        int rel = __atomic_load_n(&x->released, __ATOMIC_ACQUIRE);
        for (int i = 0; rel && i < x->n; i++)
            if (x->conn[i].u < 0 && (x->conn[i].u = nh_proxy_upstream(x->up_port)) < 0)
                nh_proxy_drop(x, i--);
        struct pollfd pf[1 + 2 * NH_PROXY_CONNS];
        int np = 0;
        pf[np++] = (struct pollfd){.fd = x->lfd, .events = POLLIN};
        for (int i = 0; i < x->n; i++)
            if (x->conn[i].u >= 0) {
                pf[np++] = (struct pollfd){.fd = x->conn[i].c, .events = POLLIN};
                pf[np++] = (struct pollfd){.fd = x->conn[i].u, .events = POLLIN};
            }
        if (poll(pf, (nfds_t)np, 50) <= 0)
            continue;
        if (pf[0].revents & POLLIN) {
            int c = accept(x->lfd, NULL, NULL);
            if (c >= 0 && x->n == NH_PROXY_CONNS) {
                close(c);
            } else if (c >= 0) {
                int u = -1;
                if (x->accepted++ < x->pass_first || rel)
                    u = nh_proxy_upstream(x->up_port);
                x->conn[x->n].c = c;
                x->conn[x->n].u = u;
                x->n++;
                if (u < 0 && (x->accepted <= x->pass_first || rel))
                    nh_proxy_drop(x, x->n - 1); /* upstream refused: so does the proxy */
            }
        }
        /* the pairs polled, in the order they were put in pf (none was
         * added or dropped since, except a new one at the end: not polled) */
        for (int i = 0, k = 1; i < x->n && k < np; i++) {
            if (x->conn[i].u < 0)
                continue;
            short rc = pf[k].revents, ru = pf[k + 1].revents;
            k += 2;
            if (((rc & (POLLIN | POLLHUP | POLLERR)) && nh_proxy_pump(x->conn[i].c, x->conn[i].u) < 0) ||
                ((ru & (POLLIN | POLLHUP | POLLERR)) && nh_proxy_pump(x->conn[i].u, x->conn[i].c) < 0)) {
                nh_proxy_drop(x, i);
                break; /* indices moved: the rest wait for the next poll */
            }
        }
    }
    for (int i = x->n - 1; i >= 0; i--)
        nh_proxy_drop(x, i);
    return NULL;
}

/* Listens on a free loopback port (x->port) in front of up_port. 0 or -1. */
static __attribute__((unused)) int nh_proxy_start(struct nh_proxy *x, int up_port, int pass_first)
{
    memset(x, 0, sizeof *x);
    x->up_port = up_port;
    x->pass_first = pass_first;
    x->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = 0};
    socklen_t l = sizeof a;
    if (x->lfd < 0 || bind(x->lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(x->lfd, 64) < 0 ||
        getsockname(x->lfd, (struct sockaddr *)&a, &l) < 0 || pthread_create(&x->th, NULL, nh_proxy_main, x)) {
        if (x->lfd >= 0)
            close(x->lfd);
        return -1;
    }
    x->port = ntohs(a.sin_port);
    return 0;
}

static __attribute__((unused)) void nh_proxy_release(struct nh_proxy *x)
{
    __atomic_store_n(&x->released, 1, __ATOMIC_RELEASE);
}

static __attribute__((unused)) void nh_proxy_stop(struct nh_proxy *x)
{
    __atomic_store_n(&x->stop, 1, __ATOMIC_RELEASE);
    pthread_join(x->th, NULL);
    close(x->lfd);
}

#endif
