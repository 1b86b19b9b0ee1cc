/* test_loop.c -- the event loop with real fds (pipes), timers on the event
 * clock and on the monotonic clock, real signals (raise) and a wake-up from
 * a second thread. Every wait is bounded; alarm() bounds the binary. */
#include "mend/common.h"
#include "mend/loop.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct log {
    char s[256];
    size_t n;
    int calls;
    int ret; /* returned by callbacks */
    pthread_t thread;
    struct mend_loop *loop;
    uint64_t victim; /* a timer to delete from a callback */
};

static void logf_(struct log *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(struct log *g, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(g->s + g->n, sizeof g->s - g->n, fmt, ap);
    va_end(ap);
    if (k > 0 && g->n + (size_t)k < sizeof g->s)
        g->n += (size_t)k;
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int fd_cb(struct mend_loop *l, int fd, unsigned events, void *ctx)
{
    struct log *g = ctx;
    char b[16];
    (void)l;
    g->calls++;
    logf_(g, "r%u,", events);
    assert_true(read(fd, b, sizeof b) > 0);
    return g->ret;
}

static void test_fds(void **state)
{
    struct mend_loop *l;
    struct log g;
    int p[2];
    (void)state;
    memset(&g, 0, sizeof g);
    assert_int_equal(mend_loop_new(MEND_CLOCK_MONOTONIC, &l), 0);
    assert_int_equal(pipe(p), 0);
    assert_int_equal(mend_loop_add_fd(l, p[0], MEND_LOOP_READ, fd_cb, &g), 0);
    assert_int_equal(mend_loop_add_fd(l, p[0], MEND_LOOP_READ, fd_cb, &g), MEND_EINVAL);
    /* nothing ready: the turn times out and runs nothing */
    assert_int_equal(mend_loop_run_once(l, 10), 0);
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(mend_loop_run_once(l, 1000), 1);
    assert_int_equal(g.calls, 1);
    assert_string_equal(g.s, "r1,");
    /* a callback's error ends the turn and comes back */
    g.ret = MEND_ECAP;
    assert_int_equal(write(p[1], "y", 1), 1);
    assert_int_equal(mend_loop_run_once(l, 1000), MEND_ECAP);
    /* deleted: no more calls */
    assert_int_equal(mend_loop_del_fd(l, p[0]), 0);
    assert_int_equal(mend_loop_del_fd(l, p[0]), MEND_ENOTFOUND);
    assert_int_equal(write(p[1], "z", 1), 1);
    assert_int_equal(mend_loop_run_once(l, 10), 0);
    assert_int_equal(g.calls, 2);
    /* a regular file has no readiness: refused, to be read directly */
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(mend_loop_add_fd(l, fileno(f), MEND_LOOP_READ, fd_cb, &g), MEND_EINVAL);
    fclose(f);
    assert_int_equal(mend_loop_add_fd(l, -1, MEND_LOOP_READ, fd_cb, &g), MEND_EINVAL);
    close(p[0]);
    close(p[1]);
    mend_loop_free(l);
}

static int timer_cb(struct mend_loop *l, uint64_t id, void *ctx)
{
    struct log *g = ctx;
    g->calls++;
    logf_(g, "%llu@%lld,", (unsigned long long)id, (long long)mend_loop_now(l));
    if (g->victim && g->victim != id) {
        assert_int_equal(mend_loop_timer_del(l, g->victim), 0);
        g->victim = 0;
    }
    return MEND_OK;
}

/* Event time: timers fire only when the owner moves time, in (due, id)
 * order, periodic ones coalesce a jump, and never make a wait return. */
static void test_timers_event_clock(void **state)
{
    struct mend_loop *l;
    struct log g;
    uint64_t a, b, c, per, gone;
    (void)state;
    memset(&g, 0, sizeof g);
    assert_int_equal(mend_loop_new(MEND_CLOCK_EVENT, &l), 0);
    assert_int_equal(mend_loop_now(l), INT64_MIN);
    assert_int_equal(mend_loop_timer_add(l, 200, 0, timer_cb, &g, &b), 0);
    assert_int_equal(mend_loop_timer_add(l, 100, 0, timer_cb, &g, &a), 0);
    assert_int_equal(mend_loop_timer_add(l, 200, 0, timer_cb, &g, &c), 0);
    assert_int_equal(mend_loop_timer_add(l, 50, 50, timer_cb, &g, &per), 0);
    assert_int_equal(mend_loop_timer_add(l, 300, 0, timer_cb, &g, &gone), 0);
    assert_int_equal(mend_loop_timer_add(l, 0, -1, timer_cb, &g, NULL), MEND_EINVAL);
    /* no time yet: nothing due, and a long wait is not shortened by timers
     * on event time -- so use a short one */
    assert_int_equal(mend_loop_timer_due(l), 0);
    assert_int_equal(mend_loop_run_once(l, 0), 0);
    assert_int_equal(mend_loop_set_time(l, 120), 0);
    assert_int_equal(mend_loop_timer_due(l), 1);
    assert_int_equal(g.calls, 0); /* set_time runs nothing itself */
    assert_int_equal(mend_loop_run_once(l, -1), 2); /* due timers: no wait */
    char want[128];
    snprintf(want, sizeof want, "%llu@120,%llu@120,", (unsigned long long)per, (unsigned long long)a);
    assert_string_equal(g.s, want);
    /* time never goes back */
    assert_int_equal(mend_loop_set_time(l, 10), 0);
    assert_int_equal(mend_loop_now(l), 120);
    /* a jump over several periods gives one call; equal due times go by id;
     * a callback deletes a timer not yet run */
    g.n = 0;
    g.s[0] = '\0';
    g.victim = gone;
    assert_int_equal(mend_loop_set_time(l, 1000), 0);
    assert_int_equal(mend_loop_run_once(l, 0), 3);
    snprintf(want, sizeof want, "%llu@1000,%llu@1000,%llu@1000,", (unsigned long long)per, (unsigned long long)b,
             (unsigned long long)c);
    assert_string_equal(g.s, want);
    assert_int_equal(mend_loop_timer_del(l, gone), MEND_ENOTFOUND);
    assert_int_equal(mend_loop_timer_del(l, per), 0);
    assert_int_equal(mend_loop_set_time(l, 5000), 0);
    assert_int_equal(mend_loop_run_once(l, 0), 0);
    mend_loop_free(l);
    /* the system clocks refuse set_time */
    assert_int_equal(mend_loop_new(MEND_CLOCK_REALTIME, &l), 0);
    assert_int_equal(mend_loop_set_time(l, 5), MEND_EINVAL);
    mend_loop_free(l);
}

/* The monotonic clock: a sleeping turn wakes for its timer. */
static void test_timers_monotonic_clock(void **state)
{
    struct mend_loop *l;
    struct log g;
    (void)state;
    memset(&g, 0, sizeof g);
    assert_int_equal(mend_loop_new(MEND_CLOCK_MONOTONIC, &l), 0);
    int64_t t0 = mono_ns();
    assert_true(mend_loop_now(l) >= t0 - 1000000);
    assert_int_equal(mend_loop_timer_add(l, mend_loop_now(l) + 30000000, 10000000, timer_cb, &g, NULL), 0);
    /* -1 would wait for ever without the timer */
    while (g.calls < 3)
        assert_true(mend_loop_run_once(l, -1) >= 0);
    int64_t dt = mono_ns() - t0;
    assert_true(dt >= 50000000);  /* 30 ms, then two periods of 10 ms */
    assert_true(dt < 2000000000); /* and not much later */
    mend_loop_free(l);
}

static int sig_cb(struct mend_loop *l, int sig, void *ctx)
{
    struct log *g = ctx;
    g->calls++;
    logf_(g, "s%d,", sig);
    mend_loop_stop(l);
    return MEND_OK;
}

static void test_signals(void **state)
{
    struct mend_loop *l;
    struct log g;
    sigset_t cur;
    (void)state;
    memset(&g, 0, sizeof g);
    assert_int_equal(mend_loop_new(MEND_CLOCK_MONOTONIC, &l), 0);
    assert_int_equal(mend_loop_signal(l, SIGUSR1, sig_cb, &g), 0);
    assert_int_equal(mend_loop_signal(l, SIGUSR1, sig_cb, &g), MEND_EINVAL);
    assert_int_equal(mend_loop_signal(l, SIGKILL, sig_cb, &g), MEND_EINVAL);
    assert_int_equal(mend_loop_signal(l, SIGUSR2, sig_cb, &g), 0);
    /* delivered as data: the process is not killed, the callback runs on
     * this thread from the loop */
    assert_int_equal(raise(SIGUSR1), 0);
    assert_int_equal(raise(SIGUSR2), 0);
    assert_int_equal(mend_loop_run(l), 0);
    assert_true(mend_loop_stopped(l));
    while (g.calls < 2)
        assert_true(mend_loop_run_once(l, 1000) >= 0);
    char want[32];
    snprintf(want, sizeof want, "s%d,s%d,", SIGUSR1, SIGUSR2);
    assert_string_equal(g.s, want);
    /* waiting on an fd outside a turn: a signal ends the wait */
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(mend_loop_wait_fd(l, p[0], 10), 0); /* timed out */
    assert_int_equal(raise(SIGUSR2), 0);
    int64_t t0 = mono_ns();
    assert_int_equal(mend_loop_wait_fd(l, p[0], 5000), 0);
    assert_true(mono_ns() - t0 < 2000000000);
    assert_int_equal(mend_loop_run_once(l, 0), 1); /* and the turn takes it */
    assert_int_equal(g.calls, 3);
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(mend_loop_wait_fd(l, p[0], 5000), 1);
    close(p[0]);
    close(p[1]);
    /* a signal that arrived but was never dispatched does not act at free */
    assert_int_equal(raise(SIGUSR1), 0);
    mend_loop_free(l);
    /* and the mask is as it was: unblocked again */
    assert_int_equal(pthread_sigmask(SIG_BLOCK, NULL, &cur), 0);
    assert_int_equal(sigismember(&cur, SIGUSR1), 0);
    assert_int_equal(sigismember(&cur, SIGUSR2), 0);
}

static int wake_cb(struct mend_loop *l, void *ctx)
{
    struct log *g = ctx;
    (void)l;
    g->calls++;
    g->thread = pthread_self();
    return MEND_OK;
}

static void *waker(void *arg)
{
    struct log *g = arg;
    struct timespec ts = {0, 20000000};
    nanosleep(&ts, NULL);
    mend_loop_wake(g->loop);
    return NULL;
}

static void test_wake_from_thread(void **state)
{
    struct mend_loop *l;
    struct log g;
    pthread_t th;
    (void)state;
    memset(&g, 0, sizeof g);
    assert_int_equal(mend_loop_new(MEND_CLOCK_MONOTONIC, &l), 0);
    g.loop = l;
    assert_int_equal(mend_loop_on_wake(l, wake_cb, &g), 0);
    /* many wakes before a turn: one call */
    mend_loop_wake(l);
    mend_loop_wake(l);
    mend_loop_wake(l);
    assert_int_equal(mend_loop_run_once(l, 1000), 1);
    assert_int_equal(g.calls, 1);
    assert_int_equal(mend_loop_run_once(l, 0), 0);
    /* a worker thread interrupts an endless wait; the callback runs here */
    assert_int_equal(pthread_create(&th, NULL, waker, &g), 0);
    int64_t t0 = mono_ns();
    assert_int_equal(mend_loop_run_once(l, -1), 1);
    assert_true(mono_ns() - t0 < 2000000000);
    assert_int_equal(g.calls, 2);
    assert_true(pthread_equal(g.thread, pthread_self()));
    assert_int_equal(pthread_join(th, NULL), 0);
    mend_loop_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fds),
        cmocka_unit_test(test_timers_event_clock),
        cmocka_unit_test(test_timers_monotonic_clock),
        cmocka_unit_test(test_signals),
        cmocka_unit_test(test_wake_from_thread),
    };
    alarm(20);
    return cmocka_run_group_tests_name("loop", tests, NULL, NULL);
}
