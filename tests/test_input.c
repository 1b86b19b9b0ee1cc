/* test_input.c -- the input set against real files, pipes and loopback
 * sockets (127.0.0.1 / ::1, port 0 only), driven by a real event loop. A
 * recorder host keeps every sample as "key time value" text and every error,
 * so each test checks exact order. Covers: files live (in add order) and
 * merged by event time, pipes, TCP (truncated last line, idle timeout,
 * eviction at the cap, EMFILE back-off in a child with a low RLIMIT_NOFILE),
 * UDP (one stream per listener, datagrams end lines), a test-double kind
 * plugged in through mend_inputs_register, feed errors, bad specs, caps.
 * alarm() bounds the whole binary; every wait is a bounded loop. */
#include "mend/common.h"
#include "mend/input.h"
#include "mend/loop.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REC_BYTES (8u << 20)

struct rec {
    char *out;          /* "key time value\n" per sample */
    size_t len;
    size_t points;
    size_t errors;
    char last_error[512];
    char first_error[512];
    int ret;            /* point() returns this once, then 0 */
};

static int rec_point(void *ctx, const struct mend_point *p)
{
    struct rec *r = ctx;
    int k;
    r->points++;
    k = snprintf(r->out + r->len, REC_BYTES - r->len, "%.*s %" PRId64 "%s %g\n", (int)p->key_len, p->key,
                 p->time_ns, p->has_time ? "" : "?", p->value);
    assert_true(k > 0 && r->len + (size_t)k < REC_BYTES);
    r->len += (size_t)k;
    if (r->ret) {
        k = r->ret;
        r->ret = 0;
        return k;
    }
    return 0;
}

static void rec_error(void *ctx, const char *stream, uint64_t nth, uint64_t line, uint32_t col, const char *why)
{
    struct rec *r = ctx;
    r->errors++;
    snprintf(r->last_error, sizeof r->last_error, "%s:%" PRIu64 ":%u: %s (#%" PRIu64 ")", stream, line, col, why,
             nth);
    if (r->errors == 1)
        memcpy(r->first_error, r->last_error, sizeof r->first_error);
}

struct fx {
    struct rec r;
    struct mend_loop *loop;
    struct mend_inputs *s;
    struct mend_input_conf conf;
};

static void fx_init(struct fx *f, enum mend_clock clock, int merge)
{
    memset(f, 0, sizeof *f);
    f->r.out = malloc(REC_BYTES);
    assert_non_null(f->r.out);
    f->r.out[0] = '\0';
    mend_input_conf_defaults(&f->conf);
    f->conf.merge = merge;
    assert_int_equal(mend_loop_new(clock, &f->loop), 0);
}

static void fx_start(struct fx *f)
{
    struct mend_input_host h = {rec_point, rec_error, &f->r};
    assert_int_equal(mend_inputs_new(&f->conf, f->loop, &h, &f->s), 0);
}

static void fx_fini(struct fx *f)
{
    mend_inputs_free(f->s);
    mend_loop_free(f->loop);
    free(f->r.out);
}

/* Steps and turns the loop until done() or about 2 s. */
static void drive(struct fx *f, int (*done)(struct fx *), int wait_ms)
{
    for (int i = 0; i < 400; i++) {
        if (done(f))
            return;
        assert_true(mend_inputs_step(f->s, 4096) >= 0);
        assert_true(mend_loop_run_once(f->loop, mend_inputs_pending(f->s) ? 0 : wait_ms) >= 0);
    }
    fail_msg("condition not reached");
}

static int all_done(struct fx *f) { return mend_inputs_done(f->s); }

static char *tmpfile_with(const char *data, size_t len, const char *ext)
{
    char tmpl[64];
    snprintf(tmpl, sizeof tmpl, "/tmp/mend_test_input_XXXXXX%s", ext);
    int fd = mkstemps(tmpl, (int)strlen(ext));
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
    return strdup(tmpl);
}

static int tcp_client(int family, int port)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    int fd = socket(family, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    memset(&ss, 0, sizeof ss);
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sl = sizeof *a;
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        a->sin6_addr = in6addr_loopback;
        sl = sizeof *a;
    }
    assert_int_equal(connect(fd, (struct sockaddr *)&ss, sl), 0);
    return fd;
}

static void send_all(int fd, const char *str)
{
    assert_int_equal(send(fd, str, strlen(str), 0), (ssize_t)strlen(str));
}

/* ---- files ----------------------------------------------------------------- */

/* A file larger than two read chunks arrives whole and in order, live. */
static void test_file_live_large(void **state)
{
    struct fx f;
    size_t n = 120000, len = 0;
    char *data = malloc(n * 40), *path;
    (void)state;
    assert_non_null(data);
    for (size_t i = 0; i < n; i++)
        len += (size_t)sprintf(data + len, "m,host=h%zu v=%zu %zu\n", i % 7, i, i + 1);
    assert_true(len > (2u << 20));
    path = tmpfile_with(data, len, ".lp");
    fx_init(&f, MEND_CLOCK_MONOTONIC, 0);
    fx_start(&f);
    assert_int_equal(mend_inputs_add(f.s, path, NULL, 0), 0);
    assert_int_equal(mend_inputs_pending(f.s), 1);
    drive(&f, all_done, 10);
    assert_int_equal(f.r.points, n);
    assert_int_equal(f.r.errors, 0);
    assert_non_null(strstr(f.r.out, "m,host=h0 v 1 0\nm,host=h1 v 2 1\n"));
    struct mend_inputs_stats st;
    mend_inputs_stats(f.s, &st);
    assert_int_equal(st.bytes, len);
    assert_int_equal(st.streams, 1);
    fx_fini(&f);
    unlink(path);
    free(path);
    free(data);
}

static const char FILE_A[] = "a v=1 10\na v=2 20\na v=3 30\na v=4 40"; /* no final newline */
static const char FILE_B[] = "b v=1 5\nb v=2 20\nb x=1,y=2 35\n";

/* Live reads files like cat; replay merges them by time, ties to the input
 * added first, and a file's last line needs no newline. */
static void test_files_live_vs_merge(void **state)
{
    char *a = tmpfile_with(FILE_A, strlen(FILE_A), ".lp"), *b = tmpfile_with(FILE_B, strlen(FILE_B), ".lp");
    char *e = tmpfile_with("", 0, ".lp");
    struct fx f;
    (void)state;
    fx_init(&f, MEND_CLOCK_MONOTONIC, 0);
    fx_start(&f);
    assert_int_equal(mend_inputs_add(f.s, a, NULL, 0), 0);
    assert_int_equal(mend_inputs_add(f.s, e, NULL, 0), 0);
    assert_int_equal(mend_inputs_add(f.s, b, NULL, 0), 0);
    drive(&f, all_done, 10);
    assert_string_equal(f.r.out, "a v 10 1\na v 20 2\na v 30 3\na v 40 4\n"
                                 "b v 5 1\nb v 20 2\nb x 35 1\nb y 35 2\n");
    fx_fini(&f);

    fx_init(&f, MEND_CLOCK_EVENT, 1);
    fx_start(&f);
    assert_int_equal(mend_inputs_add(f.s, a, NULL, 0), 0);
    assert_int_equal(mend_inputs_add(f.s, e, NULL, 0), 0);
    assert_int_equal(mend_inputs_add(f.s, b, NULL, 0), 0);
    drive(&f, all_done, 0);
    assert_string_equal(f.r.out, "b v 5 1\na v 10 1\na v 20 2\nb v 20 2\na v 30 3\n"
                                 "b x 35 1\nb y 35 2\na v 40 4\n");
    fx_fini(&f);
    unlink(a), unlink(b), unlink(e);
    free(a), free(b), free(e);
}

/* A recording split per host merges back into the whole file's order, the
 * fast path included (one file runs on alone after the others end). */
static void test_merge_split_equals_whole(void **state)
{
    static char whole[1 << 20], part[3][1 << 19];
    size_t lw = 0, lp[3] = {0, 0, 0};
    struct fx f;
    char *pw, *pp[3];
    (void)state;
    for (int t = 1; t <= 3000; t++)
        for (int h = 0; h < 3; h++) {
            if (h == 1 && t > 1000 && t < 1500)
                continue; /* host 1 is silent for a while */
            if (h == 2 && t > 2000)
                continue; /* host 2 stops: host 0 and 1 run on, then 0 alone */
            if (h == 1 && t > 2500)
                continue;
            char line[96];
            int k = snprintf(line, sizeof line, "cpu,host=h%d u=%d,s=%d %d000\n", h, t * (h + 1) % 97, t % 13, t);
            memcpy(whole + lw, line, (size_t)k);
            lw += (size_t)k;
            memcpy(part[h] + lp[h], line, (size_t)k);
            lp[h] += (size_t)k;
        }
    pw = tmpfile_with(whole, lw, ".lp");
    for (int h = 0; h < 3; h++)
        pp[h] = tmpfile_with(part[h], lp[h], ".lp");

    fx_init(&f, MEND_CLOCK_EVENT, 1);
    fx_start(&f);
    assert_int_equal(mend_inputs_add(f.s, pw, NULL, 0), 0);
    drive(&f, all_done, 0);
    char *want = strdup(f.r.out);
    size_t npts = f.r.points;
    fx_fini(&f);

    fx_init(&f, MEND_CLOCK_EVENT, 1);
    fx_start(&f);
    for (int h = 0; h < 3; h++)
        assert_int_equal(mend_inputs_add(f.s, pp[h], NULL, 0), 0);
    drive(&f, all_done, 0);
    assert_int_equal(f.r.points, npts);
    assert_string_equal(f.r.out, want);
    fx_fini(&f);
    free(want);
    unlink(pw);
    free(pw);
    for (int h = 0; h < 3; h++) {
        unlink(pp[h]);
        free(pp[h]);
    }
}

static void test_pipe_live_and_merge(void **state)
{
    struct fx f;
    int p[2];
    (void)state;
    assert_int_equal(pipe(p), 0);
    fx_init(&f, MEND_CLOCK_MONOTONIC, 0);
    fx_start(&f);
    assert_int_equal(mend_inputs_add_fd(f.s, p[0], "-", 1, NULL, 0), 0);
    /* a pipe is the loop's: no step work, and an empty turn times out */
    assert_int_equal(mend_inputs_pending(f.s), 0);
    assert_int_equal(mend_inputs_step(f.s, 10), 0);
    assert_int_equal(mend_loop_run_once(f.loop, 20), 0);
    assert_int_equal(write(p[1], "m v=1 1\nm v=", 12), 12);
    assert_int_equal(mend_loop_run_once(f.loop, 1000), 1);
    assert_string_equal(f.r.out, "m v 1 1\n");
    assert_int_equal(write(p[1], "2 2", 3), 3);
    close(p[1]);
    drive(&f, all_done, 100);
    /* the end of a pipe ends its last line */
    assert_string_equal(f.r.out, "m v 1 1\nm v 2 2\n");
    fx_fini(&f);

    /* merging: the pipe is read on demand, waiting a bounded time so that
     * the loop can take signals; the borrowed fd stays open */
    assert_int_equal(pipe(p), 0);
    fx_init(&f, MEND_CLOCK_EVENT, 1);
    fx_start(&f);
    assert_int_equal(mend_inputs_add_fd(f.s, p[0], "borrowed", 0, NULL, 0), 0);
    assert_int_equal(mend_inputs_step(f.s, 10), 0); /* nothing yet: back within the wait */
    assert_int_equal(f.r.points, 0);
    assert_int_equal(write(p[1], "m v=3 3\n", 8), 8);
    close(p[1]);
    drive(&f, all_done, 0);
    assert_string_equal(f.r.out, "m v 3 3\n");
    fx_fini(&f);
    assert_int_equal(close(p[0]), 0); /* still ours, still open */
}

/* ---- TCP ------------------------------------------------------------------- */

static int conns_at_least(struct fx *f, size_t n)
{
    struct mend_inputs_stats st;
    mend_inputs_stats(f->s, &st);
    return st.open_conns >= n;
}

static size_t want_n;
static int conns_reach(struct fx *f) { return conns_at_least(f, want_n); }
static int conns_zero(struct fx *f)
{
    struct mend_inputs_stats st;
    mend_inputs_stats(f->s, &st);
    return st.open_conns == 0;
}
static size_t want_points;
static int points_reach(struct fx *f) { return f->r.points >= want_points; }

/* Two clients interleave; a line cut off by a disconnect is counted as
 * truncated and not ingested (it was parsed as if complete before). */
static void test_tcp_lines_and_truncation(void **state)
{
    struct fx f;
    struct mend_inputs_stats st;
    int port = 0, c1, c2;
    (void)state;
    fx_init(&f, MEND_CLOCK_MONOTONIC, 0);
    fx_start(&f);
    assert_int_equal(mend_inputs_add(f.s, "tcp://127.0.0.1:0", NULL, 0), 0);
    assert_int_equal(mend_inputs_port(f.s, 0, &port), 0);
    assert_true(port > 0);
    c1 = tcp_client(AF_INET, port);
    c2 = tcp_client(AF_INET, port);
    want_n = 2;
    drive(&f, conns_reach, 50);
    send_all(c1, "a v=1 1\n");
    send_all(c2, "b v=1 1\n");
    send_all(c1, "a v=2 2");
    send_all(c2, "b v=2 2\n");
    want_points = 3;
    drive(&f, points_reach, 50);
    close(c1);
    close(c2);
    drive(&f, conns_zero, 50);
    assert_int_equal(mend_inputs_done(f.s), 0); /* a listener never ends */
    assert_int_equal(f.r.points, 3);
    assert_null(strstr(f.r.out, "a v 2 2"));
    mend_inputs_stats(f.s, &st);
    assert_int_equal(st.truncated, 1);
    assert_int_equal(st.streams, 2);
    assert_int_equal(st.bytes, 31);
    assert_int_equal(f.r.errors, 1);
    assert_true(strncmp(f.r.last_error, "tcp:127.0.0.1:", 14) == 0);
    assert_non_null(strstr(f.r.last_error, "truncated"));
    /* a listener cannot be replayed */
    struct fx g;
    char err[128];
    fx_init(&g, MEND_CLOCK_EVENT, 1);
    fx_start(&g);
    assert_int_equal(mend_inputs_add(g.s, "tcp://127.0.0.1:0", err, sizeof err), MEND_EINVAL);
    assert_non_null(strstr(err, "live only"));
    fx_fini(&g);
    fx_fini(&f);
}

static void test_tcp_ipv6_loopback(void **state)
{
    struct fx f;
    int port = 0, c, probe;
    char err[256];
    (void)state;
    fx_init(&f, MEND_CLOCK_MONOTONIC, 0);
    fx_start(&f);
    probe = socket(AF_INET6, SOCK_STREAM, 0);
    if (probe < 0 || mend_inputs_add(f.s, "tcp://[::1]:0", err, sizeof err) != 0) {
        if (probe >= 0)
            close(probe);
        fx_fini(&f);
        skip(); /* IPv6 disabled on this host */
    }
    close(probe);
    assert_int_equal(mend_inputs_port(f.s, 0, &port), 0);
    c = tcp_client(AF_INET6, port);
    send_all(c, "x v=1 1\nx v=");
    close(c);
    want_points = 1;
    drive(&f, points_reach, 50);
    drive(&f, conns_zero, 50);
    assert_string_equal(f.r.out, "x v 1 1\n");
    assert_true(strncmp(f.r.last_error, "tcp:[::1]:", 10) == 0);
    fx_fini(&f);
}

static int idle_closed(struct fx *f)
{
    struct mend_inputs_stats st;
    mend_inputs_stats(f->s, &st);
    return st.idle_closed >= 1;
}

/* A connection that never finishes a line is closed after the idle timeout. */
static void test_tcp_idle_timeout(void **state)
{
    struct fx f;
    struct mend_inputs_stats st;
    int port = 0, c;
    char b;
    (void)state;
    fx_init(&f, MEND_CLOCK_MONOTONIC, 0);
    f.conf.idle_timeout_ns = 80 * 1000000LL;
    fx_start(&f);
    assert_int_equal(mend_inputs_add(f.s, "tcp://127.0.0.1:0", NULL, 0), 0);
    assert_int_equal(mend_inputs_port(f.s, 0, &port), 0);
    c = tcp_client(AF_INET, port);
    send_all(c, "m v=1");
    drive(&f, idle_closed, 50);
    assert_true(recv(c, &b, 1, 0) <= 0); /* the client sees its end */
    mend_inputs_stats(f.s, &st);
    assert_int_equal(st.open_conns, 0);
    assert_int_equal(st.truncated, 1);
    assert_int_equal(f.r.points, 0);
    close(c);
    fx_fini(&f);
}

/* At the cap, idle clients that never finish a line cannot lock others
 * out: the least recently active is closed for the newcomer. */
static void test_tcp_cap_evicts_oldest(void **state)
{
    enum { CAP = 8 };
    struct fx f;
    struct mend_inputs_stats st;
    int port = 0, c[CAP + 1];
    char b;
    (void)state;
    fx_init(&f, MEND_CLOCK_MONOTONIC, 0);
    f.conf.max_conns = CAP;
    fx_start(&f);
    assert_int_equal(mend_inputs_add(f.s, "tcp://127.0.0.1:0", NULL, 0), 0);
    assert_int_equal(mend_inputs_port(f.s, 0, &port), 0);
    for (int i = 0; i < CAP; i++) {
        c[i] = tcp_client(AF_INET, port);
        send_all(c[i], "stuck v=1"); /* never finished */
        want_n = (size_t)i + 1;
        drive(&f, conns_reach, 50);
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL); /* distinct activity times */
    }
    /* wake the others up: c[0] is now the least recently active... */
    for (int i = 1; i < CAP; i++)
        send_all(c[i], "0");
    struct timespec ts = {0, 20000000};
    nanosleep(&ts, NULL);
    drive(&f, conns_reach, 10);
    for (int k = 0; k < 5; k++)
        assert_true(mend_loop_run_once(f.loop, 10) >= 0);
    c[CAP] = tcp_client(AF_INET, port);
    send_all(c[CAP], "fresh v=7 7\n");
    want_points = 1;
    drive(&f, points_reach, 50);
    assert_string_equal(f.r.out, "fresh v 7 7\n");
    mend_inputs_stats(f.s, &st);
    assert_int_equal(st.evicted, 1);
    assert_int_equal(st.open_conns, CAP);
    assert_int_equal(st.truncated, 1);
    assert_true(recv(c[0], &b, 1, 0) <= 0); /* ...and was the one closed */
    assert_int_equal(recv(c[1], &b, 1, MSG_DONTWAIT), -1);
    assert_int_equal(errno, EAGAIN);
    /* shutdown ends the rest: their unfinished lines are truncated too */
    assert_int_equal(mend_inputs_shutdown(f.s), 0);
    assert_int_equal(mend_inputs_done(f.s), 1);
    mend_inputs_stats(f.s, &st);
    assert_int_equal(st.truncated, CAP);
    assert_int_equal(st.open_conns, 0);
    for (int i = 0; i <= CAP; i++)
        close(c[i]);
    fx_fini(&f);
}

static int64_t cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
           ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The child of test_tcp_emfile_backs_off; exit code = what failed. */
static int emfile_child(void)
{
    struct fx f;
    struct mend_inputs_stats st;
    int port = 0, c, probe;
    struct rlimit rl, low;
    fx_init(&f, MEND_CLOCK_MONOTONIC, 0);
    f.conf.accept_pause_ns = 100 * 1000000LL;
    fx_start(&f);
    if (mend_inputs_add(f.s, "tcp://127.0.0.1:0", NULL, 0) || mend_inputs_port(f.s, 0, &port))
        return 10;
    c = tcp_client(AF_INET, port);
    probe = dup(0); /* the lowest free fd: the limit goes just below it */
    close(probe);
    getrlimit(RLIMIT_NOFILE, &rl);
    low = rl;
    low.rlim_cur = (rlim_t)probe;
    if (setrlimit(RLIMIT_NOFILE, &low))
        return 11;
    send_all(c, "late v=1 1\n");
    /* half a second with a connection pending and no fd to take it */
    int64_t t0 = mono_ns(), c0 = cpu_ns();
    int turns = 0;
    while (mono_ns() - t0 < 500000000LL) {
        if (mend_loop_run_once(f.loop, 50) < 0)
            return 12;
        turns++;
    }
    int64_t cpu = cpu_ns() - c0;
    mend_inputs_stats(f.s, &st);
    if (st.accept_paused < 2)
        return 13; /* it did hit EMFILE, repeatedly, and paused each time */
    if (st.errors > 10 || turns > 200)
        return 14; /* not a spin: a few tries per second */
    if (cpu > 200000000LL)
        return 15;
    /* fds again: the pending connection is taken and read */
    if (setrlimit(RLIMIT_NOFILE, &rl))
        return 16;
    for (int i = 0; i < 100 && f.r.points == 0; i++)
        if (mend_loop_run_once(f.loop, 50) < 0)
            return 17;
    if (strcmp(f.r.out, "late v 1 1\n"))
        return 18;
    close(c);
    fx_fini(&f);
    return 0;
}

static void test_tcp_emfile_backs_off(void **state)
{
    (void)state;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(emfile_child());
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* ---- UDP ------------------------------------------------------------------- */

static int udp_datagrams(struct fx *f)
{
    struct mend_inputs_stats st;
    mend_inputs_stats(f->s, &st);
    return st.datagrams >= 4;
}

/* One stream (one parser) for the listener, not one per datagram; each
 * datagram still ends its last line. */
static void test_udp_one_parser_per_listener(void **state)
{
    static const char *msgs[4] = {"m v=1 1\n", "m v=2 2\nm v=3 3\n", "m v=4 4", "m v=5 5\n"};
    struct fx f;
    struct mend_inputs_stats st;
    struct sockaddr_in to;
    int port = 0, c;
    (void)state;
    fx_init(&f, MEND_CLOCK_MONOTONIC, 0);
    fx_start(&f);
    assert_int_equal(mend_inputs_add(f.s, "tcp://127.0.0.1:0", NULL, 0), 0);
    assert_int_equal(mend_inputs_add(f.s, "udp://127.0.0.1:0", NULL, 0), 0);
    assert_int_equal(mend_inputs_port(f.s, 1, &port), 0);
    assert_int_equal(mend_inputs_port(f.s, 2, &port), MEND_ENOTFOUND);
    assert_int_equal(mend_inputs_port(f.s, 1, &port), 0);
    c = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(c >= 0);
    memset(&to, 0, sizeof to);
    to.sin_family = AF_INET;
    to.sin_port = htons((uint16_t)port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < 4; i++)
        assert_int_equal(sendto(c, msgs[i], strlen(msgs[i]), 0, (struct sockaddr *)&to, sizeof to),
                         (ssize_t)strlen(msgs[i]));
    drive(&f, udp_datagrams, 50);
    assert_string_equal(f.r.out, "m v 1 1\nm v 2 2\nm v 3 3\nm v 4 4\nm v 5 5\n");
    assert_int_equal(f.r.errors, 0);
    mend_inputs_stats(f.s, &st);
    assert_int_equal(st.datagrams, 4);
    assert_int_equal(st.streams, 1);
    assert_int_equal(st.truncated, 0);
    close(c);
    fx_fini(&f);
}

/* ---- a kind of the test's own ------------------------------------------------
 * "fake://N" gives N samples at times 15, 25, ...: live, one per period of
 * its timer; merged, through peek_time. It is registered like any future
 * kind; nothing in the loop or the set knows it. */

struct fake {
    int n, i;
    struct mend_stream *st;
};

static int fake_claims(const char *spec) { return !strncmp(spec, "fake://", 7); }

static int fake_emit(struct fake *k)
{
    char line[64];
    if (k->i >= k->n)
        return mend_stream_end(k->st, 0);
    int len = snprintf(line, sizeof line, "fake v=%d %d\n", k->i, 15 + 10 * k->i);
    k->i++;
    return mend_stream_data(k->st, line, (size_t)len);
}

static int fake_open(struct mend_input *in, const char *spec, char *err, size_t errlen)
{
    struct fake *k = calloc(1, sizeof *k);
    int rc;
    (void)err;
    (void)errlen;
    assert_non_null(k);
    k->n = atoi(spec + 7);
    if ((rc = mend_stream_open(in, "fake", MEND_STREAM_LP | MEND_STREAM_EOF_ENDS_LINE, &k->st)) < 0 ||
        (!mend_input_merging(in) && (rc = mend_input_every(in, 10)) < 0)) {
        mend_stream_free(k->st);
        free(k);
        return rc;
    }
    mend_input_set_priv(in, k);
    return 0;
}

static int fake_on_fd(struct mend_input *in, int fd, unsigned ev)
{
    (void)in, (void)fd, (void)ev;
    fail_msg("the fake has no fd");
    return 0;
}

static int fake_on_timer(struct mend_input *in, int64_t now)
{
    struct fake *k = mend_input_priv(in);
    (void)now;
    int rc = fake_emit(k);
    if (k->i >= k->n)
        mend_input_ended(in);
    return rc;
}

static int fake_more(void *ctx) { return fake_emit(ctx); }

static int fake_peek(struct mend_input *in, int64_t *t)
{
    struct fake *k = mend_input_priv(in);
    return mend_stream_peek(k->st, fake_more, k, t);
}

static void fake_close(struct mend_input *in)
{
    struct fake *k = mend_input_priv(in);
    mend_stream_free(k->st);
    free(k);
}

static const struct mend_input_ops fake_ops = {"fake", fake_claims, fake_open, fake_on_fd, fake_on_timer,
                                               fake_peek, fake_close, NULL, NULL};

static void test_double_kind_plugs_in(void **state)
{
    char *a = tmpfile_with(FILE_A, strlen(FILE_A), ".lp");
    struct fx f;
    (void)state;
    /* merged with a file by event time */
    fx_init(&f, MEND_CLOCK_EVENT, 1);
    fx_start(&f);
    assert_int_equal(mend_inputs_add(f.s, "fake://3", NULL, 0), MEND_EINVAL); /* not registered yet */
    assert_int_equal(mend_inputs_register(f.s, &fake_ops), 0);
    assert_int_equal(mend_inputs_add(f.s, a, NULL, 0), 0);
    assert_int_equal(mend_inputs_add(f.s, "fake://3", NULL, 0), 0);
    drive(&f, all_done, 0);
    assert_string_equal(f.r.out, "a v 10 1\nfake v 15 0\na v 20 2\nfake v 25 1\na v 30 3\nfake v 35 2\na v 40 4\n");
    fx_fini(&f);
    /* live, on its timer: the loop's event clock moves, samples come */
    fx_init(&f, MEND_CLOCK_EVENT, 0);
    assert_int_equal(mend_loop_set_time(f.loop, 0), 0);
    fx_start(&f);
    assert_int_equal(mend_inputs_register(f.s, &fake_ops), 0);
    assert_int_equal(mend_inputs_add(f.s, "fake://2", NULL, 0), 0);
    assert_int_equal(mend_loop_run_once(f.loop, 0), 0);
    assert_int_equal(f.r.points, 0);
    mend_loop_set_time(f.loop, 10);
    assert_int_equal(mend_loop_run_once(f.loop, 0), 1);
    assert_string_equal(f.r.out, "fake v 15 0\n");
    mend_loop_set_time(f.loop, 20);
    assert_int_equal(mend_loop_run_once(f.loop, 0), 1);
    assert_int_equal(mend_inputs_done(f.s), 1);
    assert_string_equal(f.r.out, "fake v 15 0\nfake v 25 1\n");
    fx_fini(&f);
    unlink(a);
    free(a);
}

/* ---- errors ----------------------------------------------------------------- */

/* A host code other than ENOMEM loses the rest of that chunk: counted and
 * reported, not ignored; ENOMEM stops the step. */
static void test_feed_errors_counted(void **state)
{
    char *a = tmpfile_with("m v=1 1\nm v=2 2\n", 16, ".lp");
    char *u = tmpfile_with("hello world\n", 12, ".txt");
    struct fx f;
    struct mend_inputs_stats st;
    (void)state;
    fx_init(&f, MEND_CLOCK_MONOTONIC, 0);
    fx_start(&f);
    f.r.ret = MEND_ECAP;
    assert_int_equal(mend_inputs_add(f.s, a, NULL, 0), 0);
    drive(&f, all_done, 0);
    mend_inputs_stats(f.s, &st);
    assert_int_equal(st.feed_failed, 1);
    assert_int_equal(f.r.errors, 1);
    assert_non_null(strstr(f.r.last_error, "samples dropped"));
    assert_true(strstr(f.r.last_error, a) == f.r.last_error);
    fx_fini(&f);

    fx_init(&f, MEND_CLOCK_EVENT, 1);
    fx_start(&f);
    f.r.ret = MEND_ENOMEM;
    assert_int_equal(mend_inputs_add(f.s, a, NULL, 0), 0);
    assert_int_equal(mend_inputs_step(f.s, 100), MEND_ENOMEM);
    fx_fini(&f);

    /* an input whose format cannot be told is said once and read as line
     * protocol: its bad lines are reported and counted, the input goes on
     * to its end (issue 10: garbage on stdin is counted as malformed) */
    fx_init(&f, MEND_CLOCK_EVENT, 1);
    fx_start(&f);
    assert_int_equal(mend_inputs_add(f.s, u, NULL, 0), 0);
    while (!mend_inputs_done(f.s))
        assert_true(mend_inputs_step(f.s, 100) >= 0);
    assert_int_equal(f.r.errors, 2);
    assert_non_null(strstr(f.r.first_error, "--format"));
    fx_fini(&f);
    unlink(a), unlink(u);
    free(a), free(u);
}

static void expect_add_error(const char *spec, int code, const char *needle)
{
    struct fx f;
    char err[256] = "";
    fx_init(&f, MEND_CLOCK_MONOTONIC, 0);
    fx_start(&f);
    assert_int_equal(mend_inputs_add(f.s, spec, err, sizeof err), code);
    if (!strstr(err, needle))
        fail_msg("spec '%s': error '%s' lacks '%s'", spec, err, needle);
    if (!strstr(err, spec))
        fail_msg("spec '%s': error '%s' does not name it", spec, err);
    assert_int_equal(mend_inputs_done(f.s), 1);
    fx_fini(&f);
}

static void test_bad_specs(void **state)
{
    struct fx f;
    char big[5000], err[64];
    (void)state;
    expect_add_error("tcp://nohost:", MEND_EINVAL, "missing port");
    expect_add_error("tcp://nohost", MEND_EINVAL, "missing port");
    expect_add_error("udp://:99999", MEND_EINVAL, "bad port");
    expect_add_error("udp://127.0.0.1:12ab", MEND_EINVAL, "bad port");
    expect_add_error("tcp://::1:5", MEND_EINVAL, "brackets");
    expect_add_error("tcp://[::1", MEND_EINVAL, "']'");
    expect_add_error("tcp://[::1]", MEND_EINVAL, "missing port");
    expect_add_error("ftp://127.0.0.1:1", MEND_EINVAL, "no input kind takes this (kinds: tcp, udp, file)");
    expect_add_error("tests/fixtures/no-such-file.lp", MEND_EIO, "No such file");
    expect_add_error("tests", MEND_EINVAL, "directory");
    expect_add_error("", MEND_EINVAL, "");
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    fx_init(&f, MEND_CLOCK_MONOTONIC, 0);
    fx_start(&f);
    assert_int_equal(mend_inputs_add(f.s, big, err, sizeof err), MEND_EIO);
    assert_true(strlen(err) < sizeof err); /* truncated, never overflowed */
    assert_int_equal(mend_inputs_add_fd(f.s, -1, "x", 0, err, sizeof err), MEND_EINVAL);
    assert_int_equal(mend_inputs_port(f.s, 0, &(int){0}), MEND_ENOTFOUND);
    fx_fini(&f);
    mend_inputs_free(NULL);
    assert_int_equal(mend_inputs_new(NULL, NULL, NULL, NULL), MEND_EINVAL);
}

static void test_input_cap(void **state)
{
    struct fx f;
    int p[2], i, rc = 0;
    char err[128];
    (void)state;
    assert_int_equal(pipe(p), 0);
    fx_init(&f, MEND_CLOCK_EVENT, 1); /* merging: the same fd may be added again */
    fx_start(&f);
    for (i = 0; i <= MEND_INPUTS_MAX; i++) {
        rc = mend_inputs_add_fd(f.s, p[0], "p", 0, err, sizeof err);
        if (rc != 0)
            break;
    }
    assert_int_equal(i, MEND_INPUTS_MAX);
    assert_int_equal(rc, MEND_ECAP);
    fx_fini(&f);
    close(p[0]);
    close(p[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_live_large),
        cmocka_unit_test(test_files_live_vs_merge),
        cmocka_unit_test(test_merge_split_equals_whole),
        cmocka_unit_test(test_pipe_live_and_merge),
        cmocka_unit_test(test_tcp_lines_and_truncation),
        cmocka_unit_test(test_tcp_ipv6_loopback),
        cmocka_unit_test(test_tcp_idle_timeout),
        cmocka_unit_test(test_tcp_cap_evicts_oldest),
        cmocka_unit_test(test_tcp_emfile_backs_off),
        cmocka_unit_test(test_udp_one_parser_per_listener),
        cmocka_unit_test(test_double_kind_plugs_in),
        cmocka_unit_test(test_feed_errors_counted),
        cmocka_unit_test(test_bad_specs),
        cmocka_unit_test(test_input_cap),
    };
    signal(SIGPIPE, SIG_IGN);
    alarm(30); /* a hang is a failure, not a stuck build */
    return cmocka_run_group_tests_name("input", tests, NULL, NULL);
}
