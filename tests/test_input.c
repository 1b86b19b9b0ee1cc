/* test_source.c -- input sources against real files, pipes and loopback
 * sockets (127.0.0.1 / ::1, port 0 only). A recorder keeps every event per
 * stream so each test can check exact bytes, peers and open/close pairing.
 * alarm() bounds the whole binary; every wait is a bounded poll loop. */
#include "mend/common.h"
#include "mend/source.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define REC_MAX 16
#define REC_BYTES (4u << 20)

struct rec_stream {
    uint64_t id;
    char peer[128];
    char *bytes;
    size_t len;
    int closed;
    int data_calls;
};

struct rec {
    struct rec_stream st[REC_MAX];
    size_t n;
    size_t closes;
    int fail_data;          /* data() returns this when non-zero */
    char order[64];         /* 'o' / 'c' per event, to check sequencing */
    size_t norder;
};

static struct rec_stream *rec_find(struct rec *r, uint64_t id)
{
    size_t i;
    for (i = 0; i < r->n; i++)
        if (r->st[i].id == id)
            return &r->st[i];
    return NULL;
}

static int rec_open(void *ctx, uint64_t stream, const char *peer)
{
    struct rec *r = ctx;
    struct rec_stream *s;
    assert_null(rec_find(r, stream));
    assert_true(r->n < REC_MAX);
    s = &r->st[r->n++];
    memset(s, 0, sizeof *s);
    s->id = stream;
    snprintf(s->peer, sizeof s->peer, "%s", peer);
    s->bytes = malloc(REC_BYTES);
    assert_non_null(s->bytes);
    if (r->norder < sizeof r->order)
        r->order[r->norder++] = 'o';
    return 0;
}

static int rec_data(void *ctx, uint64_t stream, const char *buf, size_t len)
{
    struct rec *r = ctx;
    struct rec_stream *s = rec_find(r, stream);
    assert_non_null(s);
    assert_false(s->closed);
    assert_true(len > 0);
    assert_true(s->len + len <= REC_BYTES);
    memcpy(s->bytes + s->len, buf, len);
    s->len += len;
    s->data_calls++;
    return r->fail_data;
}

static void rec_close(void *ctx, uint64_t stream)
{
    struct rec *r = ctx;
    struct rec_stream *s = rec_find(r, stream);
    assert_non_null(s);
    assert_false(s->closed);
    s->closed = 1;
    r->closes++;
    if (r->norder < sizeof r->order)
        r->order[r->norder++] = 'c';
}

static void rec_free(struct rec *r)
{
    size_t i;
    for (i = 0; i < r->n; i++)
        free(r->st[i].bytes);
    free(r);
}

static struct rec *rec_new(struct mend_source_events *ev)
{
    struct rec *r = calloc(1, sizeof *r);
    assert_non_null(r);
    ev->open = rec_open;
    ev->data = rec_data;
    ev->close = rec_close;
    ev->ctx = r;
    return r;
}

/* Polls until cond(r) holds or ~2 s pass; fails the test on timeout. */
static void poll_until(struct mend_sources *s, const struct mend_source_events *ev,
                       int (*cond)(const struct rec *, size_t), size_t arg)
{
    int i;
    for (i = 0; i < 200; i++) {
        if (cond(ev->ctx, arg))
            return;
        assert_true(mend_sources_poll(s, 10, ev) >= 0);
    }
    fail_msg("condition not reached within 200 polls");
}

static int has_opens(const struct rec *r, size_t n) { return r->n >= n; }
static int has_closes(const struct rec *r, size_t n) { return r->closes >= n; }

static char *tmpfile_with(const char *data, size_t len)
{
    static const char tmpl[] = "/tmp/mend_test_source_XXXXXX";
    char *path = malloc(sizeof tmpl);
    FILE *f;
    int fd;
    assert_non_null(path);
    memcpy(path, tmpl, sizeof tmpl);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    f = fdopen(fd, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    return path;
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

/* ---- files and fds ------------------------------------------------------ */

static void test_file_chunks_exact(void **state)
{
    size_t len = (5u << 20) / 2 + 17, i, total = 0;
    char *data = malloc(len), *path;
    struct mend_source_events ev;
    struct rec *r = rec_new(&ev);
    struct mend_sources *s;
    struct mend_sources_stats st;
    char err[256];
    uint32_t x = 12345;
    (void)state;
    assert_non_null(data);
    for (i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        data[i] = (char)(x >> 24);
    }
    path = tmpfile_with(data, len);
    assert_int_equal(mend_sources_new(&s), 0);
    assert_int_equal(mend_sources_add(s, path, err, sizeof err), 0);
    assert_int_equal(mend_sources_done(s), 0);
    for (i = 0; i < 10 && !mend_sources_done(s); i++) {
        int n = mend_sources_poll(s, 1000, &ev);
        assert_true(n >= 0);
        total += (size_t)n;
    }
    assert_int_equal(mend_sources_done(s), 1);
    assert_int_equal(total, len);
    assert_int_equal(r->n, 1);
    assert_string_equal(r->st[0].peer, path);
    assert_int_equal(r->st[0].len, len);
    assert_memory_equal(r->st[0].bytes, data, len);
    assert_int_equal(r->st[0].data_calls, 3);    /* 1 MiB + 1 MiB + rest */
    assert_true(r->st[0].closed);
    mend_sources_stats(s, &st);
    assert_int_equal(st.bytes, len);
    assert_int_equal(st.streams, 1);
    assert_int_equal(st.errors, 0);
    mend_sources_free(s);
    unlink(path);
    free(path);
    free(data);
    rec_free(r);
}

static void test_files_in_order_and_empty(void **state)
{
    char *a = tmpfile_with("a1\na2", 5), *b = tmpfile_with("", 0);
    char *c = tmpfile_with("c1\n", 3);
    struct mend_source_events ev;
    struct rec *r = rec_new(&ev);
    struct mend_sources *s;
    int i;
    (void)state;
    assert_int_equal(mend_sources_new(&s), 0);
    assert_int_equal(mend_sources_add(s, a, NULL, 0), 0);
    assert_int_equal(mend_sources_add(s, b, NULL, 0), 0);
    assert_int_equal(mend_sources_add(s, c, NULL, 0), 0);
    for (i = 0; i < 20 && !mend_sources_done(s); i++)
        assert_true(mend_sources_poll(s, 1000, &ev) >= 0);
    assert_int_equal(mend_sources_done(s), 1);
    assert_int_equal(r->n, 3);
    /* like cat: each file ends before the next begins */
    assert_memory_equal(r->order, "ocococ", 6);
    assert_string_equal(r->st[0].peer, a);
    assert_memory_equal(r->st[0].bytes, "a1\na2", 5);
    assert_int_equal(r->st[1].len, 0);
    assert_int_equal(r->st[2].len, 3);
    assert_true(r->st[0].id != r->st[1].id && r->st[1].id != r->st[2].id);
    mend_sources_free(s);
    unlink(a), unlink(b), unlink(c);
    free(a), free(b), free(c);
    rec_free(r);
}

static void test_pipe_like_stdin(void **state)
{
    struct mend_source_events ev;
    struct rec *r = rec_new(&ev);
    struct mend_sources *s;
    int p[2], i;
    (void)state;
    assert_int_equal(pipe(p), 0);
    assert_int_equal(mend_sources_new(&s), 0);
    assert_int_equal(mend_sources_add_fd(s, p[0], "-", 1, NULL, 0), 0);
    /* nothing written yet: poll times out without blocking forever */
    assert_int_equal(mend_sources_poll(s, 20, &ev), 0);
    assert_int_equal(write(p[1], "abc\n", 4), 4);
    assert_int_equal(mend_sources_poll(s, 1000, &ev), 4);
    assert_int_equal(r->n, 1);
    assert_string_equal(r->st[0].peer, "-");
    assert_int_equal(write(p[1], "def", 3), 3);
    close(p[1]);
    for (i = 0; i < 10 && !mend_sources_done(s); i++)
        assert_true(mend_sources_poll(s, 1000, &ev) >= 0);
    assert_int_equal(mend_sources_done(s), 1);
    assert_int_equal(r->st[0].len, 7);
    assert_memory_equal(r->st[0].bytes, "abc\ndef", 7);
    assert_true(r->st[0].closed);
    mend_sources_free(s);
    rec_free(r);
}

static void test_borrowed_fd_not_closed(void **state)
{
    struct mend_source_events ev;
    struct rec *r = rec_new(&ev);
    struct mend_sources *s;
    int p[2], i;
    (void)state;
    assert_int_equal(pipe(p), 0);
    assert_int_equal(mend_sources_new(&s), 0);
    assert_int_equal(mend_sources_add_fd(s, p[0], "borrowed", 0, NULL, 0), 0);
    close(p[1]);
    for (i = 0; i < 10 && !mend_sources_done(s); i++)
        assert_true(mend_sources_poll(s, 1000, &ev) >= 0);
    assert_int_equal(mend_sources_done(s), 1);
    assert_int_equal(r->closes, 1);
    mend_sources_free(s);
    assert_int_equal(close(p[0]), 0); /* still ours, still open */
    rec_free(r);
}

/* ---- sockets ------------------------------------------------------------ */

static void test_tcp_two_clients_interleaved(void **state)
{
    struct mend_source_events ev;
    struct rec *r = rec_new(&ev);
    struct mend_sources *s;
    struct mend_sources_stats st;
    struct rec_stream *s1, *s2;
    int port = 0, c1, c2;
    char err[256];
    (void)state;
    assert_int_equal(mend_sources_new(&s), 0);
    assert_int_equal(mend_sources_add(s, "tcp://127.0.0.1:0", err, sizeof err), 0);
    assert_int_equal(mend_sources_port(s, 0, &port), 0);
    assert_true(port > 0);
    c1 = tcp_client(AF_INET, port);
    poll_until(s, &ev, has_opens, 1);
    c2 = tcp_client(AF_INET, port);
    poll_until(s, &ev, has_opens, 2);
    s1 = &r->st[0];
    s2 = &r->st[1];
    assert_true(strncmp(s1->peer, "tcp:127.0.0.1:", 14) == 0);
    assert_true(strncmp(s2->peer, "tcp:127.0.0.1:", 14) == 0);
    assert_string_not_equal(s1->peer, s2->peer);

    send_all(c1, "a1\n");
    send_all(c2, "b1\n");
    send_all(c1, "a2 partial");
    send_all(c2, "b2\n");
    while (s1->len < 13 || s2->len < 6)
        assert_true(mend_sources_poll(s, 1000, &ev) > 0);
    assert_int_equal(mend_sources_done(s), 0); /* a listener never ends */
    close(c1);
    poll_until(s, &ev, has_closes, 1);
    assert_true(s1->closed);
    assert_false(s2->closed);
    close(c2);
    poll_until(s, &ev, has_closes, 2);
    assert_int_equal(s1->len, 13);
    assert_memory_equal(s1->bytes, "a1\na2 partial", 13);
    assert_int_equal(s2->len, 6);
    assert_memory_equal(s2->bytes, "b1\nb2\n", 6);
    mend_sources_stats(s, &st);
    assert_int_equal(st.streams, 2);
    assert_int_equal(st.bytes, 19);
    assert_int_equal(st.open_conns, 0);
    assert_int_equal(st.refused, 0);
    mend_sources_free(s);
    rec_free(r);
}

static void test_tcp_ipv6_loopback(void **state)
{
    struct mend_source_events ev;
    struct rec *r = rec_new(&ev);
    struct mend_sources *s;
    int port = 0, c, probe;
    char err[256];
    (void)state;
    probe = socket(AF_INET6, SOCK_STREAM, 0);
    assert_int_equal(mend_sources_new(&s), 0);
    if (probe < 0 || mend_sources_add(s, "tcp://[::1]:0", err, sizeof err) != 0) {
        if (probe >= 0)
            close(probe);
        mend_sources_free(s);
        rec_free(r);
        skip(); /* IPv6 disabled on this host */
    }
    close(probe);
    assert_int_equal(mend_sources_port(s, 0, &port), 0);
    c = tcp_client(AF_INET6, port);
    send_all(c, "x 1\n");
    close(c);
    poll_until(s, &ev, has_closes, 1);
    assert_true(strncmp(r->st[0].peer, "tcp:[::1]:", 10) == 0);
    assert_memory_equal(r->st[0].bytes, "x 1\n", 4);
    mend_sources_free(s);
    rec_free(r);
}

static void test_udp_datagrams_are_streams(void **state)
{
    static const char *msgs[3] = { "m v=1 1\n", "m v=2 2\nm v=3 3\n", "no newline" };
    struct mend_source_events ev;
    struct rec *r = rec_new(&ev);
    struct mend_sources *s;
    struct mend_sources_stats st;
    struct sockaddr_in to;
    int port = 0, c, i;
    (void)state;
    assert_int_equal(mend_sources_new(&s), 0);
    assert_int_equal(mend_sources_add(s, "tcp://127.0.0.1:0", NULL, 0), 0);
    assert_int_equal(mend_sources_add(s, "udp://127.0.0.1:0", NULL, 0), 0);
    assert_int_equal(mend_sources_port(s, 1, &port), 0);
    assert_true(port > 0);
    assert_int_equal(mend_sources_port(s, 2, &port), MEND_ENOTFOUND);
    assert_int_equal(mend_sources_port(s, 1, &port), 0);
    c = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(c >= 0);
    memset(&to, 0, sizeof to);
    to.sin_family = AF_INET;
    to.sin_port = htons((uint16_t)port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (i = 0; i < 3; i++)
        assert_int_equal(sendto(c, msgs[i], strlen(msgs[i]), 0, (struct sockaddr *)&to,
                                sizeof to), (ssize_t)strlen(msgs[i]));
    poll_until(s, &ev, has_closes, 3);
    assert_int_equal(r->n, 3);
    assert_memory_equal(r->order, "ocococ", 6);
    for (i = 0; i < 3; i++) {
        assert_true(strncmp(r->st[i].peer, "udp:127.0.0.1:", 14) == 0);
        assert_int_equal(r->st[i].len, strlen(msgs[i]));
        assert_memory_equal(r->st[i].bytes, msgs[i], strlen(msgs[i]));
        assert_int_equal(r->st[i].data_calls, 1);
    }
    mend_sources_stats(s, &st);
    assert_int_equal(st.datagrams, 3);
    assert_int_equal(st.streams, 3);
    close(c);
    mend_sources_free(s);
    rec_free(r);
}

static void test_tcp_connection_cap(void **state)
{
    struct mend_source_events ev;
    struct rec *r = rec_new(&ev);
    struct mend_sources *s;
    struct mend_sources_stats st;
    int port = 0, c[3], i;
    char b;
    (void)state;
    assert_int_equal(mend_sources_new(&s), 0);
    assert_int_equal(mend_sources_set_max_conns(s, 0), MEND_EINVAL);
    assert_int_equal(mend_sources_set_max_conns(s, 2), 0);
    assert_int_equal(mend_sources_add(s, "tcp://127.0.0.1:0", NULL, 0), 0);
    assert_int_equal(mend_sources_port(s, 0, &port), 0);
    for (i = 0; i < 3; i++)
        c[i] = tcp_client(AF_INET, port);
    for (i = 0; i < 200; i++) {
        mend_sources_stats(s, &st);
        if (st.refused + st.open_conns >= 3)
            break;
        assert_true(mend_sources_poll(s, 10, &ev) >= 0);
    }
    mend_sources_stats(s, &st);
    assert_int_equal(st.open_conns, 2);
    assert_int_equal(st.refused, 1);
    assert_int_equal(r->n, 2);
    /* the refused client sees its connection end: EOF or reset */
    assert_true(recv(c[2], &b, 1, 0) <= 0);
    /* shutdown closes the accepted ones and delivers their close events */
    mend_sources_shutdown(s, &ev);
    assert_int_equal(r->closes, 2);
    assert_int_equal(mend_sources_done(s), 1);
    for (i = 0; i < 3; i++)
        close(c[i]);
    mend_sources_free(s);
    rec_free(r);
}

static void test_callback_error_aborts_poll(void **state)
{
    char *a = tmpfile_with("x 1\n", 4);
    struct mend_source_events ev;
    struct rec *r = rec_new(&ev);
    struct mend_sources *s;
    (void)state;
    r->fail_data = MEND_ECAP;
    assert_int_equal(mend_sources_new(&s), 0);
    assert_int_equal(mend_sources_add(s, a, NULL, 0), 0);
    assert_int_equal(mend_sources_poll(s, 0, &ev), MEND_ECAP);
    ev.close = NULL;
    assert_int_equal(mend_sources_poll(s, 0, &ev), MEND_EINVAL);
    mend_sources_free(s);
    unlink(a);
    free(a);
    rec_free(r);
}

/* ---- bad input ---------------------------------------------------------- */

static void expect_add_error(const char *spec, int code, const char *needle)
{
    struct mend_sources *s;
    char err[256] = "";
    assert_int_equal(mend_sources_new(&s), 0);
    assert_int_equal(mend_sources_add(s, spec, err, sizeof err), code);
    if (!strstr(err, needle))
        fail_msg("spec '%s': error '%s' lacks '%s'", spec, err, needle);
    if (!strstr(err, spec))
        fail_msg("spec '%s': error '%s' does not name it", spec, err);
    assert_int_equal(mend_sources_done(s), 1);
    mend_sources_free(s);
}

static void test_bad_specs(void **state)
{
    struct mend_sources *s;
    char big[5000], err[64];
    (void)state;
    expect_add_error("tcp://nohost:", MEND_EINVAL, "missing port");
    expect_add_error("tcp://nohost", MEND_EINVAL, "missing port");
    expect_add_error("udp://:99999", MEND_EINVAL, "bad port");
    expect_add_error("udp://127.0.0.1:12ab", MEND_EINVAL, "bad port");
    expect_add_error("tcp://::1:5", MEND_EINVAL, "brackets");
    expect_add_error("tcp://[::1", MEND_EINVAL, "']'");
    expect_add_error("tcp://[::1]", MEND_EINVAL, "missing port");
    expect_add_error("ftp://127.0.0.1:1", MEND_EINVAL, "unknown scheme");
    expect_add_error("tests/fixtures/no-such-file.lp", MEND_EIO, "No such file");
    expect_add_error("tests", MEND_EINVAL, "directory");
    expect_add_error("", MEND_EINVAL, "");
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(mend_sources_new(&s), 0);
    assert_int_equal(mend_sources_add(s, big, err, sizeof err), MEND_EIO);
    assert_true(strlen(err) < sizeof err); /* truncated, never overflowed */
    assert_int_equal(mend_sources_add_fd(s, -1, "x", 0, err, sizeof err), MEND_EINVAL);
    assert_int_equal(mend_sources_port(s, 0, &(int){0}), MEND_ENOTFOUND);
    mend_sources_free(s);
    mend_sources_free(NULL);
    assert_int_equal(mend_sources_new(NULL), MEND_EINVAL);
}

static void test_input_cap(void **state)
{
    struct mend_sources *s;
    int p[2], i, rc = 0;
    char err[128];
    (void)state;
    assert_int_equal(pipe(p), 0);
    assert_int_equal(mend_sources_new(&s), 0);
    for (i = 0; i <= MEND_SOURCES_MAX_INPUTS; i++) {
        rc = mend_sources_add_fd(s, p[0], "p", 0, err, sizeof err);
        if (rc != 0)
            break;
    }
    assert_int_equal(i, MEND_SOURCES_MAX_INPUTS);
    assert_int_equal(rc, MEND_ECAP);
    mend_sources_free(s);
    close(p[0]);
    close(p[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_chunks_exact),
        cmocka_unit_test(test_files_in_order_and_empty),
        cmocka_unit_test(test_pipe_like_stdin),
        cmocka_unit_test(test_borrowed_fd_not_closed),
        cmocka_unit_test(test_tcp_two_clients_interleaved),
        cmocka_unit_test(test_tcp_ipv6_loopback),
        cmocka_unit_test(test_udp_datagrams_are_streams),
        cmocka_unit_test(test_tcp_connection_cap),
        cmocka_unit_test(test_callback_error_aborts_poll),
        cmocka_unit_test(test_bad_specs),
        cmocka_unit_test(test_input_cap),
    };
    signal(SIGPIPE, SIG_IGN);
    alarm(20); /* a hang is a failure, not a stuck build */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
