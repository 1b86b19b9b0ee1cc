/* test_metrics.c -- the exposition writer (HELP/TYPE, label escaping,
 * names checked, a family never twice, numbers exact) and the small HTTP
 * server on a real loop and real sockets: /metrics, /healthz, 404, 405,
 * HEAD, a request over max_request (431), the connection cap, the
 * exchange timeout, a collector's error (500), the loop-lag gauge. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mend/common.h"
#include "mend/loop.h"
#include "mend/metrics.h"

static int collect_demo(void *ctx, struct mend_metrics_out *o)
{
    (void)ctx;
    const char *lab[] = {"input", "a\"b\\c\nd", NULL};
    int rc = mend_metrics_family(o, "demo_total", MEND_METRIC_COUNTER, "a help\nwith \\ in it");
    assert_int_equal(rc, MEND_OK);
    assert_int_equal(mend_metrics_sample(o, lab, 12345678901.0), MEND_OK);
    assert_int_equal(mend_metrics_family(o, "demo_ratio", MEND_METRIC_GAUGE, "a fraction"), MEND_OK);
    assert_int_equal(mend_metrics_sample(o, NULL, 0.25), MEND_OK);
    assert_int_equal(mend_metrics_sample(o, NULL, NAN), MEND_OK);
    /* refused: a repeated family, bad metric and label names */
    assert_int_equal(mend_metrics_family(o, "demo_total", MEND_METRIC_COUNTER, "again"), MEND_EINVAL);
    assert_int_equal(mend_metrics_family(o, "9bad", MEND_METRIC_GAUGE, "x"), MEND_EINVAL);
    assert_int_equal(mend_metrics_family(o, "bad-name", MEND_METRIC_GAUGE, "x"), MEND_EINVAL);
    return MEND_OK;
}

static int collect_fails(void *ctx, struct mend_metrics_out *o)
{
    (void)ctx;
    (void)o;
    return MEND_EIO;
}

static void test_exposition(void **state)
{
    (void)state;
    struct mend_metrics_conf c;
    mend_metrics_conf_defaults(&c);
    struct mend_metrics_server *s;
    char err[256];
    assert_int_equal(mend_metrics_server_new(&c, NULL, &s, err, sizeof err), MEND_OK);
    assert_int_equal(mend_metrics_register(s, collect_demo, NULL), MEND_OK);
    char *body;
    size_t len;
    assert_int_equal(mend_metrics_render(s, &body, &len), MEND_OK);
    assert_int_equal(strlen(body), len);
    assert_non_null(strstr(body, "# HELP demo_total a help\\nwith \\\\ in it\n# TYPE demo_total counter\n"
                                 "demo_total{input=\"a\\\"b\\\\c\\nd\"} 12345678901\n"));
    assert_non_null(strstr(body, "# TYPE demo_ratio gauge\ndemo_ratio 0.25\ndemo_ratio NaN\n"));
    assert_non_null(strstr(body, "# TYPE mend_loop_lag_seconds gauge\n"));
    free(body);
    /* a collector's error fails the render */
    assert_int_equal(mend_metrics_register(s, collect_fails, NULL), MEND_OK);
    assert_int_equal(mend_metrics_render(s, &body, &len), MEND_EIO);
    for (int i = 2; i < MEND_METRICS_MAX_COLLECTORS; i++)
        assert_int_equal(mend_metrics_register(s, collect_demo, NULL), MEND_OK);
    assert_int_equal(mend_metrics_register(s, collect_demo, NULL), MEND_ECAP);
    mend_metrics_server_free(s);

    assert_int_equal(mend_metrics_listen_check("127.0.0.1:9108", err, sizeof err), MEND_OK);
    assert_int_equal(mend_metrics_listen_check("[::1]:9108", err, sizeof err), MEND_OK);
    assert_int_equal(mend_metrics_listen_check(":9108", err, sizeof err), MEND_OK);
    assert_int_equal(mend_metrics_listen_check("9108", err, sizeof err), MEND_EINVAL);
    assert_non_null(strstr(err, "HOST:PORT"));
    assert_int_equal(mend_metrics_listen_check("host:99999", err, sizeof err), MEND_EINVAL);
    assert_int_equal(mend_metrics_listen_check("a:b:1", err, sizeof err), MEND_EINVAL);
}

/* ---- the server over real sockets ------------------------------------------- */

struct srv {
    struct mend_loop *loop;
    struct mend_metrics_server *s;
    int port;
};

static void srv_start(struct srv *v, uint32_t max_conns, int64_t timeout_ns, size_t max_request)
{
    struct mend_metrics_conf c;
    mend_metrics_conf_defaults(&c);
    snprintf(c.listen, sizeof c.listen, "127.0.0.1:0");
    c.max_conns = max_conns;
    c.timeout_ns = timeout_ns;
    c.max_request = max_request;
    char err[256];
    assert_int_equal(mend_loop_new(MEND_CLOCK_MONOTONIC, &v->loop), MEND_OK);
    assert_int_equal(mend_metrics_server_new(&c, v->loop, &v->s, err, sizeof err), MEND_OK);
    assert_int_equal(mend_metrics_register(v->s, collect_demo, NULL), MEND_OK);
    v->port = mend_metrics_server_port(v->s);
    assert_true(v->port > 0);
}

static void srv_stop(struct srv *v)
{
    mend_metrics_server_free(v->s);
    mend_loop_free(v->loop);
}

static int client(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

/* Turns the loop until fd has the whole response (the server closes) or
 * about a second passed; returns the bytes read. */
static size_t exchange(struct srv *v, int fd, const char *req, char *out, size_t cap)
{
    if (req)
        assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    size_t got = 0;
    for (int i = 0; i < 200; i++) {
        assert_true(mend_loop_run_once(v->loop, 5) >= 0);
        for (;;) {
            ssize_t n = read(fd, out + got, cap - 1 - got);
            if (n > 0) {
                got += (size_t)n;
                continue;
            }
            if (n == 0) {
                out[got] = '\0';
                return got;
            }
            break; /* EAGAIN */
        }
    }
    out[got] = '\0';
    return got;
}

static void test_http(void **state)
{
    (void)state;
    struct srv v;
    srv_start(&v, 4, 5000000000LL, 512);
    static char buf[1 << 16];
    int fd = client(v.port);
    exchange(&v, fd, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", buf, sizeof buf);
    close(fd);
    assert_non_null(strstr(buf, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(buf, "Content-Type: text/plain; version=0.0.4"));
    assert_non_null(strstr(buf, "\r\n\r\n# HELP demo_total"));
    char *cl = strstr(buf, "Content-Length: ");
    assert_non_null(cl);
    assert_int_equal((size_t)atol(cl + 16), strlen(strstr(buf, "\r\n\r\n") + 4));

    fd = client(v.port);
    exchange(&v, fd, "GET /healthz HTTP/1.0\r\n\r\n", buf, sizeof buf);
    close(fd);
    assert_non_null(strstr(buf, "200 OK"));
    assert_non_null(strstr(buf, "\r\n\r\nok\n"));

    fd = client(v.port);
    exchange(&v, fd, "HEAD /metrics HTTP/1.1\r\n\r\n", buf, sizeof buf);
    close(fd);
    assert_non_null(strstr(buf, "200 OK"));
    assert_null(strstr(buf, "# HELP")); /* no body */

    fd = client(v.port);
    exchange(&v, fd, "GET /nope?x=1 HTTP/1.1\r\n\r\n", buf, sizeof buf);
    close(fd);
    assert_non_null(strstr(buf, "HTTP/1.1 404"));

    fd = client(v.port);
    exchange(&v, fd, "POST /metrics HTTP/1.1\r\n\r\n", buf, sizeof buf);
    close(fd);
    assert_non_null(strstr(buf, "HTTP/1.1 405"));

    fd = client(v.port);
    exchange(&v, fd, "garbage\r\n\r\n", buf, sizeof buf);
    close(fd);
    assert_non_null(strstr(buf, "HTTP/1.1 400"));

    /* a head that never ends within max_request (512) */
    char big[700];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
    fd = client(v.port);
    exchange(&v, fd, big, buf, sizeof buf);
    close(fd);
    assert_non_null(strstr(buf, "HTTP/1.1 431"));

    /* the counters count */
    char *body;
    size_t len;
    assert_int_equal(mend_metrics_render(v.s, &body, &len), MEND_OK);
    assert_non_null(strstr(body, "\nmend_http_requests_total 4\n"));
    assert_non_null(strstr(body, "\nmend_http_bad_requests_total 3\n"));
    free(body);
    srv_stop(&v);
}

/* max_conns at once: the next is closed at once and counted; a silent
 * connection is closed at the timeout and counted. */
static void test_caps_and_timeout(void **state)
{
    (void)state;
    struct srv v;
    srv_start(&v, 1, 100000000LL, 8192);
    static char buf[4096];
    int a = client(v.port);
    for (int i = 0; i < 5; i++)
        mend_loop_run_once(v.loop, 5); /* a is accepted and held (it says nothing) */
    int b = client(v.port);
    size_t n = exchange(&v, b, NULL, buf, sizeof buf); /* closed without an answer */
    assert_int_equal(n, 0);
    close(b);
    /* a is closed at the 100 ms timeout */
    n = exchange(&v, a, NULL, buf, sizeof buf);
    assert_int_equal(n, 0);
    close(a);
    char *body;
    size_t len;
    assert_int_equal(mend_metrics_render(v.s, &body, &len), MEND_OK);
    assert_non_null(strstr(body, "\nmend_http_rejected_total 1\n"));
    assert_non_null(strstr(body, "\nmend_http_timeouts_total 1\n"));
    free(body);
    /* after both, a new connection is served */
    a = client(v.port);
    exchange(&v, a, "GET /healthz HTTP/1.1\r\n\r\n", buf, sizeof buf);
    close(a);
    assert_non_null(strstr(buf, "200 OK"));
    srv_stop(&v);
}

/* The lag gauge measures how late the loop ran its probe: a turn blocked
 * for 300 ms shows up. */
static void test_loop_lag(void **state)
{
    (void)state;
    struct srv v;
    srv_start(&v, 4, 5000000000LL, 8192);
    struct timespec ts = {0, 600000000};
    nanosleep(&ts, NULL); /* the loop is "busy" past the probe's due time */
    for (int i = 0; i < 3; i++)
        mend_loop_run_once(v.loop, 10);
    char *body;
    size_t len;
    assert_int_equal(mend_metrics_render(v.s, &body, &len), MEND_OK);
    char *p = strstr(body, "\nmend_loop_lag_max_seconds ");
    assert_non_null(p);
    double lag = atof(p + strlen("\nmend_loop_lag_max_seconds "));
    assert_true(lag >= 0.3);
    assert_true(lag < 5);
    free(body);
    srv_stop(&v);
}

static void test_bind_errors(void **state)
{
    (void)state;
    struct srv v;
    srv_start(&v, 4, 5000000000LL, 8192);
    struct mend_metrics_conf c;
    mend_metrics_conf_defaults(&c);
    snprintf(c.listen, sizeof c.listen, "127.0.0.1:%d", v.port); /* taken */
    struct mend_metrics_server *s2;
    char err[256];
    assert_int_equal(mend_metrics_server_new(&c, v.loop, &s2, err, sizeof err), MEND_EIO);
    assert_non_null(strstr(err, "cannot listen"));
    snprintf(c.listen, sizeof c.listen, "nonsense");
    assert_int_equal(mend_metrics_server_new(&c, v.loop, &s2, err, sizeof err), MEND_EINVAL);
    srv_stop(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exposition),
        cmocka_unit_test(test_http),
        cmocka_unit_test(test_caps_and_timeout),
        cmocka_unit_test(test_loop_lag),
        cmocka_unit_test(test_bind_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
