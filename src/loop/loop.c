/* loop.c -- the event loop (see loop.h). src/loop/ holds what waits: this
 * file is all of it, one epoll set, a timer array, a signalfd and an eventfd.
 *
 * Fds are kept in an array indexed by fd (as ae.c does), grown on demand up
 * to MEND_LOOP_MAX_FDS. Timers are an unsorted array scanned for the next due
 * one: a daemon has a handful (checkpoint, silence, one per listener), and a
 * scan keeps deletion from callbacks trivial. Signals arrive through a
 * signalfd, wake-ups through an eventfd; both sit in the epoll set with fd
 * callbacks of their own, so a turn has one wait and one dispatch loop. */
#include "mend/loop.h"
#include "mend/common.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOOP_EVENTS 256 /* epoll events taken per turn */

struct loop_fd {
    int (*cb)(struct mend_loop *l, int fd, unsigned events, void *ctx);
    void *ctx;
    unsigned events; /* 0 = not registered */
};

struct loop_timer {
    uint64_t id; /* 0 = deleted, compacted away after the timer pass */
    int64_t when, period;
    int (*cb)(struct mend_loop *l, uint64_t id, void *ctx);
    void *ctx;
};

struct loop_sig {
    int sig;
    int was_blocked; /* restore the caller's mask at free */
    int (*cb)(struct mend_loop *l, int sig, void *ctx);
    void *ctx;
};

struct mend_loop {
    enum mend_clock clock;
    int64_t event_now;
    int epfd, efd, sfd;
    struct loop_fd *fds;
    size_t cap_fds;
    struct loop_timer *timers;
    size_t n_timers, cap_timers;
    uint64_t next_timer_id;
    struct loop_sig sigs[MEND_LOOP_MAX_SIGNALS];
    size_t n_sigs;
    sigset_t sigmask;
    int (*wake_cb)(struct mend_loop *l, void *ctx);
    void *wake_ctx;
    atomic_int wake_pending; /* set by mend_loop_wake, cleared by the loop */
    int stop;
};

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t mend_loop_now(const struct mend_loop *l)
{
    if (l->clock == MEND_CLOCK_MONOTONIC)
        return clock_ns(CLOCK_MONOTONIC);
    if (l->clock == MEND_CLOCK_REALTIME)
        return clock_ns(CLOCK_REALTIME);
    return l->event_now;
}

int mend_loop_set_time(struct mend_loop *l, int64_t t)
{
    if (l->clock != MEND_CLOCK_EVENT)
        return MEND_EINVAL;
    if (t > l->event_now)
        l->event_now = t;
    return MEND_OK;
}

static int ep_add(struct mend_loop *l, int fd, unsigned events, int op)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = ((events & MEND_LOOP_READ) ? EPOLLIN : 0u) | ((events & MEND_LOOP_WRITE) ? EPOLLOUT : 0u);
    ev.data.fd = fd;
    return epoll_ctl(l->epfd, op, fd, &ev);
}

static int on_wake_fd(struct mend_loop *l, int fd, unsigned events, void *ctx)
{
    uint64_t v;
    (void)events;
    (void)ctx;
    /* clear the flag before the callback: a wake during it is not lost */
    atomic_store(&l->wake_pending, 0);
    while (read(fd, &v, sizeof v) > 0) {
    }
    return l->wake_cb ? l->wake_cb(l, l->wake_ctx) : MEND_OK;
}

int mend_loop_new(enum mend_clock clock, struct mend_loop **out)
{
    struct mend_loop *l;
    int rc = MEND_EIO;
    if (!out || (clock != MEND_CLOCK_EVENT && clock != MEND_CLOCK_MONOTONIC && clock != MEND_CLOCK_REALTIME))
        return MEND_EINVAL;
    *out = NULL;
    l = calloc(1, sizeof *l);
    if (!l)
        return MEND_ENOMEM;
    l->clock = clock;
    l->event_now = INT64_MIN;
    l->efd = l->sfd = -1;
    l->next_timer_id = 1;
    atomic_init(&l->wake_pending, 0);
    sigemptyset(&l->sigmask);
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0)
        goto fail;
    l->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->efd < 0)
        goto fail;
    rc = mend_loop_add_fd(l, l->efd, MEND_LOOP_READ, on_wake_fd, NULL);
    if (rc < 0)
        goto fail;
    *out = l;
    return MEND_OK;
fail:
    mend_loop_free(l);
    return rc;
}

void mend_loop_free(struct mend_loop *l)
{
    if (!l)
        return;
    if (l->sfd >= 0) {
        /* take what arrived so unblocking below does not act on it */
        struct signalfd_siginfo si;
        sigset_t restore;
        while (read(l->sfd, &si, sizeof si) == (ssize_t)sizeof si) {
        }
        sigemptyset(&restore);
        for (size_t i = 0; i < l->n_sigs; i++)
            if (!l->sigs[i].was_blocked)
                sigaddset(&restore, l->sigs[i].sig);
        pthread_sigmask(SIG_UNBLOCK, &restore, NULL);
        close(l->sfd);
    }
    if (l->efd >= 0)
        close(l->efd);
    if (l->epfd >= 0)
        close(l->epfd);
    free(l->fds);
    free(l->timers);
    free(l);
}

/* ---- fds ------------------------------------------------------------------ */

int mend_loop_add_fd(struct mend_loop *l, int fd, unsigned events,
                     int (*cb)(struct mend_loop *l, int fd, unsigned events, void *ctx), void *ctx)
{
    struct stat st;
    if (!l || fd < 0 || !cb || !(events & (MEND_LOOP_READ | MEND_LOOP_WRITE)))
        return MEND_EINVAL;
    if (fd >= MEND_LOOP_MAX_FDS)
        return MEND_ECAP;
    if (fstat(fd, &st) < 0 || S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))
        return MEND_EINVAL;
    if ((size_t)fd >= l->cap_fds) {
        size_t cap = l->cap_fds ? l->cap_fds : 64;
        while (cap <= (size_t)fd)
            cap *= 2;
        if (cap > MEND_LOOP_MAX_FDS)
            cap = MEND_LOOP_MAX_FDS;
        struct loop_fd *p = realloc(l->fds, cap * sizeof *p);
        if (!p)
            return MEND_ENOMEM;
        memset(p + l->cap_fds, 0, (cap - l->cap_fds) * sizeof *p);
        l->fds = p;
        l->cap_fds = cap;
    }
    if (l->fds[fd].events)
        return MEND_EINVAL;
    if (ep_add(l, fd, events, EPOLL_CTL_ADD) < 0)
        return errno == ENOMEM ? MEND_ENOMEM : errno == EPERM ? MEND_EINVAL : MEND_EIO;
    l->fds[fd].cb = cb;
    l->fds[fd].ctx = ctx;
    l->fds[fd].events = events;
    return MEND_OK;
}

int mend_loop_del_fd(struct mend_loop *l, int fd)
{
    if (!l || fd < 0 || (size_t)fd >= l->cap_fds || !l->fds[fd].events)
        return MEND_ENOTFOUND;
    /* fails only when fd was closed already, which removed it from the set */
    (void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
    memset(&l->fds[fd], 0, sizeof l->fds[fd]);
    return MEND_OK;
}

/* ---- timers --------------------------------------------------------------- */

int mend_loop_timer_add(struct mend_loop *l, int64_t when_ns, int64_t period_ns,
                        int (*cb)(struct mend_loop *l, uint64_t id, void *ctx), void *ctx, uint64_t *id)
{
    if (!l || !cb || period_ns < 0)
        return MEND_EINVAL;
    if (l->n_timers >= MEND_LOOP_MAX_TIMERS)
        return MEND_ECAP;
    if (l->n_timers == l->cap_timers) {
        size_t cap = l->cap_timers ? l->cap_timers * 2 : 8;
        struct loop_timer *p = realloc(l->timers, cap * sizeof *p);
        if (!p)
            return MEND_ENOMEM;
        l->timers = p;
        l->cap_timers = cap;
    }
    struct loop_timer *t = &l->timers[l->n_timers++];
    t->id = l->next_timer_id++;
    t->when = when_ns;
    t->period = period_ns;
    t->cb = cb;
    t->ctx = ctx;
    if (id)
        *id = t->id;
    return MEND_OK;
}

int mend_loop_timer_del(struct mend_loop *l, uint64_t id)
{
    if (!l || !id)
        return MEND_ENOTFOUND;
    for (size_t i = 0; i < l->n_timers; i++)
        if (l->timers[i].id == id) {
            l->timers[i].id = 0;
            return MEND_OK;
        }
    return MEND_ENOTFOUND;
}

/* Index of the live timer due first in (when, id) order among ids <= max_id,
 * or SIZE_MAX. */
static size_t next_timer(const struct mend_loop *l, uint64_t max_id)
{
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < l->n_timers; i++) {
        const struct loop_timer *t = &l->timers[i];
        if (!t->id || t->id > max_id)
            continue;
        if (best == SIZE_MAX || t->when < l->timers[best].when ||
            (t->when == l->timers[best].when && t->id < l->timers[best].id))
            best = i;
    }
    return best;
}

int mend_loop_timer_due(const struct mend_loop *l)
{
    size_t i = next_timer(l, UINT64_MAX);
    return i != SIZE_MAX && l->timers[i].when <= mend_loop_now(l);
}

static int64_t add_sat(int64_t a, int64_t b)
{
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

/* Runs every timer due now that existed when the pass began. */
static int run_timers(struct mend_loop *l, int *ran)
{
    uint64_t max_id = l->next_timer_id - 1;
    int rc = MEND_OK;
    int64_t now = mend_loop_now(l);
    for (;;) {
        size_t i = next_timer(l, max_id);
        if (i == SIZE_MAX || l->timers[i].when > now)
            break;
        struct loop_timer t = l->timers[i];
        if (t.period > 0) {
            int64_t next = add_sat(t.when, t.period);
            l->timers[i].when = next <= now ? add_sat(now, t.period) : next;
            if (l->timers[i].when == INT64_MAX)
                l->timers[i].id = 0; /* would never come round again */
        } else {
            l->timers[i].id = 0;
        }
        /* a periodic timer rescheduled into this pass must not run twice:
         * it is skipped because its when is now > now, unless period made it
         * == now, which add_sat(now, period > 0) excludes */
        (*ran)++;
        rc = t.cb(l, t.id, t.ctx);
        if (rc < 0)
            break;
    }
    size_t j = 0;
    for (size_t i = 0; i < l->n_timers; i++)
        if (l->timers[i].id)
            l->timers[j++] = l->timers[i];
    l->n_timers = j;
    return rc;
}

/* ---- signals and wake-ups ------------------------------------------------- */

static int on_signal_fd(struct mend_loop *l, int fd, unsigned events, void *ctx)
{
    struct signalfd_siginfo si;
    (void)events;
    (void)ctx;
    while (read(fd, &si, sizeof si) == (ssize_t)sizeof si) {
        for (size_t i = 0; i < l->n_sigs; i++)
            if (l->sigs[i].sig == (int)si.ssi_signo) {
                int rc = l->sigs[i].cb(l, l->sigs[i].sig, l->sigs[i].ctx);
                if (rc < 0)
                    return rc;
            }
    }
    return MEND_OK;
}

int mend_loop_signal(struct mend_loop *l, int sig, int (*cb)(struct mend_loop *l, int sig, void *ctx), void *ctx)
{
    sigset_t one, old;
    int fd, rc;
    if (!l || !cb || sig <= 0 || sig == SIGKILL || sig == SIGSTOP)
        return MEND_EINVAL;
    if (sigismember(&l->sigmask, sig) == 1)
        return MEND_EINVAL;
    if (l->n_sigs >= MEND_LOOP_MAX_SIGNALS)
        return MEND_ECAP;
    sigemptyset(&one);
    if (sigaddset(&one, sig) < 0)
        return MEND_EINVAL;
    if (pthread_sigmask(SIG_BLOCK, &one, &old) != 0)
        return MEND_EIO;
    sigaddset(&l->sigmask, sig);
    fd = signalfd(l->sfd, &l->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) {
        sigdelset(&l->sigmask, sig);
        if (!sigismember(&old, sig))
            pthread_sigmask(SIG_UNBLOCK, &one, NULL);
        return MEND_EIO;
    }
    if (l->sfd < 0) {
        l->sfd = fd;
        rc = mend_loop_add_fd(l, fd, MEND_LOOP_READ, on_signal_fd, NULL);
        if (rc < 0) {
            close(fd);
            l->sfd = -1;
            sigdelset(&l->sigmask, sig);
            if (!sigismember(&old, sig))
                pthread_sigmask(SIG_UNBLOCK, &one, NULL);
            return rc;
        }
    }
    struct loop_sig *s = &l->sigs[l->n_sigs++];
    s->sig = sig;
    s->was_blocked = sigismember(&old, sig) == 1;
    s->cb = cb;
    s->ctx = ctx;
    return MEND_OK;
}

int mend_loop_on_wake(struct mend_loop *l, int (*cb)(struct mend_loop *l, void *ctx), void *ctx)
{
    if (!l)
        return MEND_EINVAL;
    l->wake_cb = cb;
    l->wake_ctx = ctx;
    return MEND_OK;
}

void mend_loop_wake(struct mend_loop *l)
{
    uint64_t one = 1;
    /* one write per batch of wakes: the flag is cleared by the loop */
    if (atomic_exchange(&l->wake_pending, 1))
        return;
    /* EAGAIN only when the counter is saturated: the loop wakes anyway */
    if (write(l->efd, &one, sizeof one) < 0) {
    }
}

/* ---- turns ---------------------------------------------------------------- */

static int wait_ms(const struct mend_loop *l, int timeout_ms)
{
    if (l->clock == MEND_CLOCK_EVENT) /* event timers never wake a wait */
        return mend_loop_timer_due(l) ? 0 : timeout_ms;
    size_t i = next_timer(l, UINT64_MAX);
    if (i == SIZE_MAX)
        return timeout_ms;
    int64_t d = l->timers[i].when - mend_loop_now(l);
    if (d <= 0)
        return 0;
    int64_t ms = (d + 999999) / 1000000;
    if (ms > INT_MAX)
        ms = INT_MAX;
    return timeout_ms < 0 || ms < timeout_ms ? (int)ms : timeout_ms;
}

int mend_loop_wait_fd(struct mend_loop *l, int fd, int timeout_ms)
{
    struct pollfd pf[2];
    if (!l || fd < 0)
        return MEND_EINVAL;
    pf[0].fd = fd;
    pf[0].events = POLLIN;
    pf[1].fd = l->epfd; /* an epoll fd is readable when its set has events */
    pf[1].events = POLLIN;
    pf[0].revents = pf[1].revents = 0;
    int n = poll(pf, 2, wait_ms(l, timeout_ms));
    if (n < 0)
        return errno == EINTR ? 0 : MEND_EIO;
    if (pf[1].revents)
        return 0;
    return pf[0].revents ? 1 : 0;
}

int mend_loop_run_once(struct mend_loop *l, int timeout_ms)
{
    struct epoll_event evs[LOOP_EVENTS];
    int n, ran = 0, rc;
    if (!l)
        return MEND_EINVAL;
    n = epoll_wait(l->epfd, evs, LOOP_EVENTS, wait_ms(l, timeout_ms));
    if (n < 0) {
        if (errno != EINTR)
            return MEND_EIO;
        n = 0;
    }
    for (int i = 0; i < n; i++) {
        int fd = evs[i].data.fd;
        if ((size_t)fd >= l->cap_fds || !l->fds[fd].events)
            continue; /* deleted by an earlier callback of this turn */
        unsigned ev = 0;
        if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))
            ev |= MEND_LOOP_READ;
        if (evs[i].events & EPOLLOUT)
            ev |= MEND_LOOP_WRITE;
        ev &= l->fds[fd].events | MEND_LOOP_READ;
        ran++;
        rc = l->fds[fd].cb(l, fd, ev, l->fds[fd].ctx);
        if (rc < 0)
            return rc;
    }
    rc = run_timers(l, &ran);
    return rc < 0 ? rc : ran;
}

int mend_loop_run(struct mend_loop *l)
{
    if (!l)
        return MEND_EINVAL;
    l->stop = 0;
    while (!l->stop) {
        int rc = mend_loop_run_once(l, -1);
        if (rc < 0)
            return rc;
    }
    return MEND_OK;
}

void mend_loop_stop(struct mend_loop *l)
{
    if (l)
        l->stop = 1;
}

int mend_loop_stopped(const struct mend_loop *l)
{
    return l ? l->stop : 1;
}
