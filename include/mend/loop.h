/* loop.h -- mend's event loop: file descriptors, timers, signals and a
 * thread-safe wake-up, on one thread, in the style of Redis's ae.c.
 *
 * One struct mend_loop drives everything that waits: readiness of fds
 * (epoll(7)), timers, POSIX signals (signalfd(2): the signals are blocked in
 * the calling thread and read as data, so no handler and no global state) and
 * wake-ups from worker threads (an eventfd). Callbacks always run on the loop
 * thread, one at a time, from mend_loop_run_once().
 *
 * Timers run on the loop's clock, chosen at creation:
 *   MEND_CLOCK_MONOTONIC / MEND_CLOCK_REALTIME  the system clocks (`mend run`);
 *       a sleeping turn wakes for the next timer.
 *   MEND_CLOCK_EVENT  event time: it moves only when the owner calls
 *       mend_loop_set_time() (`mend replay` moves it as samples' time moves);
 *       timers never shorten a wait, they run at the first turn after the
 *       clock reached them. Two runs over the same data fire the same timers
 *       in the same order: due timers run in (due time, id) order.
 *
 * Callbacks return 0 or a negative MEND_E* code; a negative code ends the
 * turn and is returned by mend_loop_run_once() / mend_loop_run().
 * Caps: fds below MEND_LOOP_MAX_FDS, MEND_LOOP_MAX_TIMERS timers,
 * MEND_LOOP_MAX_SIGNALS signals. */
#ifndef MEND_LOOP_H
#define MEND_LOOP_H

#include <stdint.h>

#define MEND_LOOP_READ 1u
#define MEND_LOOP_WRITE 2u
#define MEND_LOOP_MAX_FDS 65536
#define MEND_LOOP_MAX_TIMERS 4096
#define MEND_LOOP_MAX_SIGNALS 16

enum mend_clock { MEND_CLOCK_EVENT, MEND_CLOCK_MONOTONIC, MEND_CLOCK_REALTIME };

struct mend_loop;

/* Returns 0, MEND_ENOMEM or MEND_EIO (epoll/eventfd failed). The event clock
 * starts at INT64_MIN (no time yet). */
int mend_loop_new(enum mend_clock clock, struct mend_loop **out);
/* Accepts NULL. Closes the loop's own fds (never the registered ones),
 * discards signals that arrived but were not dispatched, and unblocks the
 * signals it blocked. */
void mend_loop_free(struct mend_loop *l);

/* Calls cb(l, fd, events, ctx) when fd is ready for events (READ and/or
 * WRITE; hang-up and error count as READ so the reader sees EOF). The fd is
 * borrowed: the caller closes it after mend_loop_del_fd. Returns 0,
 * MEND_EINVAL (bad fd, already added, or a regular file: epoll cannot wait
 * on those -- read them directly), MEND_ECAP (fd >= MEND_LOOP_MAX_FDS),
 * MEND_ENOMEM or MEND_EIO. */
int mend_loop_add_fd(struct mend_loop *l, int fd, unsigned events,
                     int (*cb)(struct mend_loop *l, int fd, unsigned events, void *ctx), void *ctx);
/* Safe from inside any callback, for any fd (a pending event of a deleted fd
 * is not delivered). Returns 0 or MEND_ENOTFOUND. */
int mend_loop_del_fd(struct mend_loop *l, int fd);

/* A timer due at when_ns on the loop clock, then every period_ns (0 = once;
 * periods missed while the clock jumped are coalesced into one call).
 * *id (may be NULL) names it for mend_loop_timer_del; ids are never 0 and
 * never reused. A timer added by a callback runs at the next turn at the
 * earliest. Returns 0, MEND_EINVAL (period < 0), MEND_ECAP or MEND_ENOMEM. */
int mend_loop_timer_add(struct mend_loop *l, int64_t when_ns, int64_t period_ns,
                        int (*cb)(struct mend_loop *l, uint64_t id, void *ctx), void *ctx,
                        uint64_t *id);
/* Safe from inside any callback, its own timer included. Returns 0 or
 * MEND_ENOTFOUND. */
int mend_loop_timer_del(struct mend_loop *l, uint64_t id);

/* The loop clock in ns (event clock: the last mend_loop_set_time). */
int64_t mend_loop_now(const struct mend_loop *l);
/* Event clock only: moves time on to t (never back: an older t is ignored).
 * Due timers run at the next turn, not here, so the caller may be deep in a
 * data path. Returns 0, or MEND_EINVAL on a system clock. */
int mend_loop_set_time(struct mend_loop *l, int64_t t);
/* 1 when a timer is due now (the owner of an event clock then turns the
 * loop without waiting). */
int mend_loop_timer_due(const struct mend_loop *l);

/* Routes signal sig to cb(l, sig, ctx) on the loop thread. The signal is
 * blocked in the calling thread: call this before starting threads (they
 * inherit the mask), else the signal may go to a thread that kills the
 * process. Returns 0, MEND_EINVAL (bad or already routed), MEND_ECAP or
 * MEND_EIO. */
int mend_loop_signal(struct mend_loop *l, int sig, int (*cb)(struct mend_loop *l, int sig, void *ctx),
                     void *ctx);

/* The callback run on the loop thread after mend_loop_wake (one call for any
 * number of wakes since the last; NULL = none). Returns 0. */
int mend_loop_on_wake(struct mend_loop *l, int (*cb)(struct mend_loop *l, void *ctx), void *ctx);
/* From any thread (and from signal handlers): makes the loop run the wake
 * callback at its next turn, interrupting a wait. Never blocks. */
void mend_loop_wake(struct mend_loop *l);

/* For an owner that must wait on one fd outside the loop's turns (a replay
 * reading a pipe on demand) yet react to signals: waits up to timeout_ms
 * (negative: no limit) until fd (not registered) is readable or the loop
 * has work (a registered fd, a signal, a wake-up). Returns 1 when fd is
 * readable, 0 when the loop has work or the time ran out, MEND_EIO on
 * failure. Nothing is dispatched: turn the loop after a 0. */
int mend_loop_wait_fd(struct mend_loop *l, int fd, int timeout_ms);

/* One turn: waits up to timeout_ms (negative: until something happens; a
 * due or nearer system-clock timer shortens the wait) for fds, signals and
 * wake-ups, dispatches them, then runs the due timers. Returns the number of
 * callbacks run (>= 0), the first negative code a callback returned, or
 * MEND_EIO when epoll_wait fails (EINTR is not a failure). */
int mend_loop_run_once(struct mend_loop *l, int timeout_ms);
/* Turns until mend_loop_stop; returns 0 or the first negative code. */
int mend_loop_run(struct mend_loop *l);
/* Ends mend_loop_run after the current turn; callable from callbacks. */
void mend_loop_stop(struct mend_loop *l);
int mend_loop_stopped(const struct mend_loop *l);

#endif
